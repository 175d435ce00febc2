/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Tables for "conjflowctl get" (see ctl-table.h).  The cells are built
 * first, as strings, then laid out with each column as wide as its widest
 * cell.
 *
 * Columns:
 *   namespaces       NAME LABELS(wide)
 *   pods             [NAMESPACE] NAME NODE IP  + PORTS LABELS (wide)
 *   networkpolicies  [NAMESPACE] NAME POD-SELECTOR POLICY-TYPES
 *                    + ID INGRESS-RULES EGRESS-RULES (wide)
 *   nodes            NAME ID BRIDGE OVSDB  + ADDRESSES (wide)
 */
#include "conjflow-config.h"

#include "ctl-table.h"

#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "ctl-observe.h"

/* A table being built: its cells, row after row. */
struct table {
    char **cells;               /* Row-major, malloc'd strings. */
    size_t n_cells;             /* Cells so far. */
    size_t allocated;           /* Cells allocated. */
};

/* Appends cell 's' (copied; NULL or "" becomes "<none>") to 't'. */
static void
cell(struct table *t, const char *s)
{
    if (t->n_cells >= t->allocated) {
        t->cells = cf_x2nrealloc(t->cells, &t->allocated, sizeof *t->cells);
    }
    t->cells[t->n_cells++] = cf_xstrdup(s && s[0] ? s : "<none>");
}

/* Appends the cell in 'ds' (and clears 'ds'). */
static void
cell_ds(struct table *t, struct cf_ds *ds)
{
    cell(t, cf_ds_cstr(ds));
    cf_ds_clear(ds);
}

/* The "realization" meta text for the REALIZED column of wide
 * networkpolicies (ctl_table_set_realization()), or NULL. */
static const char *realization;

void
ctl_table_set_realization(const char *text)
{
    realization = text;
}

/* Appends "key=value,..." for 'labels' to 'ds'. */
static void
format_labels(const struct cf_labels *labels, struct cf_ds *ds)
{
    for (size_t i = 0; i < labels->n; i++) {
        cf_ds_put_format(ds, "%s%s=%s", i ? "," : "", labels->items[i].key,
                         labels->items[i].value);
    }
}

/* Appends the addresses 'addrs' separated by commas to 'ds'. */
static void
format_addrs(const struct cf_addr *addrs, size_t n, struct cf_ds *ds)
{
    for (size_t i = 0; i < n; i++) {
        if (i) {
            cf_ds_put_char(ds, ',');
        }
        cf_addr_format(&addrs[i], ds);
    }
}

/* Appends the row of 'obj' to 't'. */
static void
add_row(struct table *t, const struct cf_object *obj, bool with_ns,
        bool wide)
{
    struct cf_ds ds = CF_DS_INIT;

    if (with_ns) {
        cell(t, cf_object_ns(obj));
    }
    cell(t, cf_object_name(obj));
    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        if (wide) {
            format_labels(&obj->ns->labels, &ds);
            cell_ds(t, &ds);
        }
        break;

    case CF_KIND_POD: {
        const struct cf_pod *pod = obj->pod;
        cell(t, pod->host_network ? "<host network>" : pod->node);
        format_addrs(pod->ips, pod->n_ips, &ds);
        cell_ds(t, &ds);
        if (wide) {
            for (size_t i = 0; i < pod->n_ports; i++) {
                const struct cf_container_port *p = &pod->ports[i];
                cf_ds_put_format(&ds, "%s%s%s%u/%s", i ? "," : "",
                                 p->name ? p->name : "",
                                 p->name ? ":" : "", p->port,
                                 cf_proto_name(p->proto));
            }
            cell_ds(t, &ds);
            format_labels(&pod->labels, &ds);
            cell_ds(t, &ds);
        }
        break;
    }

    case CF_KIND_POLICY: {
        const struct cf_policy *p = obj->policy;
        cf_selector_format(&p->pod_sel, &ds);
        cell_ds(t, &ds);
        cf_ds_put_format(&ds, "%s%s%s", p->ingress ? "Ingress" : "",
                         p->ingress && p->egress ? "," : "",
                         p->egress ? "Egress" : "");
        cell_ds(t, &ds);
        if (wide) {
            cf_ds_put_format(&ds, "%u", p->id);
            cell_ds(t, &ds);
            cf_ds_put_format(&ds, "%zu", p->n_ingress);
            cell_ds(t, &ds);
            cf_ds_put_format(&ds, "%zu", p->n_egress);
            cell_ds(t, &ds);
            char *r = ctl_realized_cell(realization, p->ns, p->name);
            cell(t, r);
            free(r);
        }
        break;
    }

    case CF_KIND_NODE: {
        const struct cf_node *node = obj->node;
        cf_ds_put_format(&ds, "%u", node->id);
        cell_ds(t, &ds);
        cell(t, node->bridge ? node->bridge : "br-int");
        cell(t, node->ovsdb);
        if (wide) {
            format_addrs(node->addrs, node->n_addrs, &ds);
            cell_ds(t, &ds);
        }
        break;
    }
    }
    cf_ds_destroy(&ds);
}

/* Appends the header cells for 'kind' to 't' and returns their number. */
static size_t
add_header(struct table *t, enum cf_kind kind, bool with_ns, bool wide)
{
    static const char *const headers[CF_N_KINDS][2][7] = {
        [CF_KIND_NAMESPACE] = { { "NAME" }, { "NAME", "LABELS" } },
        [CF_KIND_POD] = { { "NAME", "NODE", "IP" },
                          { "NAME", "NODE", "IP", "PORTS", "LABELS" } },
        [CF_KIND_POLICY] = { { "NAME", "POD-SELECTOR", "POLICY-TYPES" },
                             { "NAME", "POD-SELECTOR", "POLICY-TYPES", "ID",
                               "INGRESS-RULES", "EGRESS-RULES",
                               "REALIZED" } },
        [CF_KIND_NODE] = { { "NAME", "ID", "BRIDGE", "OVSDB" },
                           { "NAME", "ID", "BRIDGE", "OVSDB",
                             "ADDRESSES" } },
    };
    size_t n = 0;
    if (with_ns) {
        cell(t, "NAMESPACE");
        n++;
    }
    const char *const *h = headers[kind][wide];
    for (size_t i = 0; i < 7 && h[i]; i++) {
        cell(t, h[i]);
        n++;
    }
    return n;
}

void
ctl_table_format(enum cf_kind kind, struct cf_object *const *objs, size_t n,
                 bool with_ns, bool wide, struct cf_ds *out)
{
    struct table t = { NULL, 0, 0 };
    size_t n_cols = add_header(&t, kind, with_ns, wide);
    for (size_t i = 0; i < n; i++) {
        add_row(&t, objs[i], with_ns, wide);
    }
    size_t n_cells = t.n_cells;
    cf_assert(n_cells % n_cols == 0);

    size_t *widths = cf_xcalloc(n_cols, sizeof *widths);
    for (size_t i = 0; i < n_cells; i++) {
        widths[i % n_cols] = CF_MAX(widths[i % n_cols],
                                    strlen(t.cells[i]));
    }
    for (size_t i = 0; i < n_cells; i++) {
        size_t col = i % n_cols;
        if (col == n_cols - 1) {
            cf_ds_put_format(out, "%s\n", t.cells[i]);
        } else {
            cf_ds_put_format(out, "%-*s   ", (int) widths[col], t.cells[i]);
        }
        free(t.cells[i]);
    }
    free(widths);
    free(t.cells);
}
