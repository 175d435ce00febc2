/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The store's last line of defence: the invariants of the model's normal
 * form (conjflow/model.h) and the compiler's limits, checked on every
 * object before it is written, whatever source it came from.  The
 * manifest parser does the API server's full validation; this re-checks
 * what the model and the compiler rely on (names, sorted and unique labels
 * and selector values, operators and their values, CIDRs with cleared host
 * bits, except blocks inside their cidr, ports and ranges, protocols, rule
 * counts), so a buggy source can never store an object that would make the
 * compiler misbehave.  Messages name the object and the field.
 */
#include "conjflow-config.h"

#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"

/* Validation state for one object: its description and the errors so
 * far. */
struct vctx {
    struct cf_ds *errors;       /* All errors of the batch, one per line. */
    const char *what;           /* "pod x/web", for each message. */
    size_t n_errors;            /* Errors added for this batch. */
};

/* Appends "WHAT: FIELD: message" to the errors. */
static void CF_PRINTF(3, 4)
verror(struct vctx *v, const char *field, const char *format, ...)
{
    if (v->errors->len) {
        cf_ds_put_char(v->errors, '\n');
    }
    cf_ds_put_format(v->errors, "%s: %s: ", v->what, field);
    va_list args;
    va_start(args, format);
    cf_ds_put_vformat(v->errors, format, args);
    va_end(args);
    v->n_errors++;
}

/* Checks an object or label name. */
static void
check_name(struct vctx *v, const char *field, const char *name)
{
    if (!name || !name[0]) {
        verror(v, field, "must not be empty");
        return;
    }
    if (strlen(name) > 253) {
        verror(v, field, "longer than 253 characters");
    }
    for (const char *p = name; *p; p++) {
        if ((unsigned char) *p < 0x20 || *p == '/') {
            verror(v, field, "\"%s\" contains '/' or a control character",
                   name);
            break;
        }
    }
}

/* Checks that a label set is in normal form. */
static void
check_labels(struct vctx *v, const char *field,
             const struct cf_labels *labels)
{
    for (size_t i = 0; i < labels->n; i++) {
        const struct cf_label *l = &labels->items[i];
        if (!l->key || !l->key[0]) {
            verror(v, field, "empty label key");
        } else if (!l->value) {
            verror(v, field, "label %s has no value", l->key);
        } else if (i && labels->items[i - 1].key
                   && strcmp(labels->items[i - 1].key, l->key) >= 0) {
            verror(v, field, "labels not sorted or not unique at %s",
                   l->key);
        }
    }
}

/* Checks that a selector is in normal form. */
static void
check_selector(struct vctx *v, const char *field,
               const struct cf_selector *sel)
{
    for (size_t i = 0; i < sel->n_reqs; i++) {
        const struct cf_sel_req *req = &sel->reqs[i];
        char sub[256];
        snprintf(sub, sizeof sub, "%s[%zu]", field, i);
        if (!req->key || !req->key[0]) {
            verror(v, sub, "empty key");
            continue;
        }
        if (i && sel->reqs[i - 1].key
            && strcmp(sel->reqs[i - 1].key, req->key) > 0) {
            verror(v, sub, "requirements not sorted at %s", req->key);
        }
        switch (req->op) {
        case CF_SEL_IN:
        case CF_SEL_NOT_IN:
            if (!req->n_values) {
                verror(v, sub, "operator In/NotIn needs values");
            }
            for (size_t j = 0; j < req->n_values; j++) {
                if (!req->values[j]) {
                    verror(v, sub, "null value");
                } else if (j && req->values[j - 1]
                           && strcmp(req->values[j - 1], req->values[j])
                              >= 0) {
                    verror(v, sub, "values not sorted or not unique");
                }
            }
            break;
        case CF_SEL_EXISTS:
        case CF_SEL_DOES_NOT_EXIST:
            if (req->n_values) {
                verror(v, sub, "operator Exists/DoesNotExist takes no "
                       "values");
            }
            break;
        default:
            verror(v, sub, "unknown operator %d", (int) req->op);
        }
    }
}

/* Checks an address. */
static void
check_addr(struct vctx *v, const char *field, const struct cf_addr *addr)
{
    if (addr->family != 4 && addr->family != 6) {
        verror(v, field, "address family %u is neither 4 nor 6",
               addr->family);
    }
}

/* Checks a CIDR: family, prefix length and cleared host bits. */
static void
check_cidr(struct vctx *v, const char *field, const struct cf_cidr *cidr)
{
    check_addr(v, field, &cidr->addr);
    unsigned bits = cidr->addr.family == 4 ? 32 : 128;
    if (cidr->plen > bits) {
        verror(v, field, "prefix length %u is longer than %u", cidr->plen,
               bits);
        return;
    }
    for (unsigned b = cidr->plen; b < bits; b++) {
        if (cidr->addr.bytes[b / 8] & (0x80 >> (b % 8))) {
            verror(v, field, "host bits are set");
            break;
        }
    }
}

/* Checks a protocol. */
static bool
proto_ok(enum cf_proto proto)
{
    return proto == CF_PROTO_TCP || proto == CF_PROTO_UDP
           || proto == CF_PROTO_SCTP;
}

/* Checks the rules of one direction of a policy. */
static void
check_rules(struct vctx *v, const char *dir, const char *peers_name,
            const struct cf_rule *rules, size_t n)
{
    if (n > CF_MAX_RULES) {
        verror(v, dir, "%zu rules, more than the %d conjflow supports", n,
               CF_MAX_RULES);
    }
    for (size_t i = 0; i < n; i++) {
        const struct cf_rule *rule = &rules[i];
        char field[256];
        for (size_t j = 0; j < rule->n_peers; j++) {
            const struct cf_peer *peer = &rule->peers[j];
            snprintf(field, sizeof field, "%s[%zu].%s[%zu]", dir, i,
                     peers_name, j);
            if (peer->has_ipblock
                && (peer->has_pod_sel || peer->has_ns_sel)) {
                verror(v, field, "ipBlock may not be combined with "
                       "selectors");
            } else if (!peer->has_ipblock && !peer->has_pod_sel
                       && !peer->has_ns_sel) {
                verror(v, field, "must have podSelector, "
                       "namespaceSelector or ipBlock");
            }
            if (peer->has_pod_sel) {
                char sub[300];
                snprintf(sub, sizeof sub, "%s.podSelector", field);
                check_selector(v, sub, &peer->pod_sel);
            }
            if (peer->has_ns_sel) {
                char sub[300];
                snprintf(sub, sizeof sub, "%s.namespaceSelector", field);
                check_selector(v, sub, &peer->ns_sel);
            }
            if (peer->has_ipblock) {
                const struct cf_ipblock *b = &peer->ipblock;
                char sub[300];
                snprintf(sub, sizeof sub, "%s.ipBlock.cidr", field);
                check_cidr(v, sub, &b->cidr);
                for (size_t k = 0; k < b->n_except; k++) {
                    snprintf(sub, sizeof sub, "%s.ipBlock.except[%zu]",
                             field, k);
                    check_cidr(v, sub, &b->except[k]);
                    if (b->except[k].addr.family != b->cidr.addr.family
                        || !cf_cidr_within(&b->except[k], &b->cidr)
                        || b->except[k].plen <= b->cidr.plen) {
                        verror(v, sub, "not strictly within the cidr");
                    }
                }
            }
        }
        for (size_t j = 0; j < rule->n_ports; j++) {
            const struct cf_port *port = &rule->ports[j];
            snprintf(field, sizeof field, "%s[%zu].ports[%zu]", dir, i, j);
            if (!proto_ok(port->proto)) {
                verror(v, field, "unknown protocol %d", (int) port->proto);
            }
            switch (port->kind) {
            case CF_PORT_ALL:
                break;
            case CF_PORT_NUMBER:
                if (!port->port) {
                    verror(v, field, "port 0");
                } else if (port->end_port < port->port) {
                    verror(v, field, "endPort %u is less than port %u",
                           port->end_port, port->port);
                }
                break;
            case CF_PORT_NAME:
                if (!port->name || !port->name[0]) {
                    verror(v, field, "named port without a name");
                }
                break;
            default:
                verror(v, field, "unknown port kind %d", (int) port->kind);
            }
        }
    }
}

void
cf_store_describe(const struct cf_object *obj, struct cf_ds *ds)
{
    cf_ds_put_format(ds, "%s ", cf_kind_name(obj->kind));
    const char *ns = NULL, *name = NULL;
    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        name = obj->ns ? obj->ns->name : NULL;
        break;
    case CF_KIND_POD:
        ns = obj->pod ? obj->pod->ns : NULL;
        name = obj->pod ? obj->pod->name : NULL;
        break;
    case CF_KIND_POLICY:
        ns = obj->policy ? obj->policy->ns : NULL;
        name = obj->policy ? obj->policy->name : NULL;
        break;
    case CF_KIND_NODE:
        name = obj->node ? obj->node->name : NULL;
        break;
    }
    if (cf_kind_namespaced(obj->kind)) {
        cf_ds_put_format(ds, "%s/", ns && ns[0] ? ns : "<no namespace>");
    }
    cf_ds_put_cstr(ds, name && name[0] ? name : "<no name>");
}

bool
cf_store_validate(const struct cf_object *obj, struct cf_ds *errors)
{
    struct cf_ds what = CF_DS_INIT;
    cf_store_describe(obj, &what);
    struct vctx v = { errors, cf_ds_cstr(&what), 0 };

    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        if (!obj->ns) {
            verror(&v, "object", "missing");
            break;
        }
        check_name(&v, "metadata.name", obj->ns->name);
        check_labels(&v, "metadata.labels", &obj->ns->labels);
        break;

    case CF_KIND_POD: {
        const struct cf_pod *pod = obj->pod;
        if (!pod) {
            verror(&v, "object", "missing");
            break;
        }
        check_name(&v, "metadata.namespace", pod->ns);
        check_name(&v, "metadata.name", pod->name);
        if (pod->node && !pod->node[0]) {
            verror(&v, "spec.nodeName", "must not be empty if set");
        }
        check_labels(&v, "metadata.labels", &pod->labels);
        for (size_t i = 0; i < pod->n_ips; i++) {
            char field[64];
            snprintf(field, sizeof field, "status.podIPs[%zu]", i);
            check_addr(&v, field, &pod->ips[i]);
        }
        for (size_t i = 0; i < pod->n_ports; i++) {
            const struct cf_container_port *p = &pod->ports[i];
            char field[64];
            snprintf(field, sizeof field, "spec.containers.ports[%zu]", i);
            if (!p->port) {
                verror(&v, field, "containerPort 0");
            }
            if (!proto_ok(p->proto)) {
                verror(&v, field, "unknown protocol %d", (int) p->proto);
            }
            if (p->name && !p->name[0]) {
                verror(&v, field, "empty port name");
            }
        }
        break;
    }

    case CF_KIND_POLICY: {
        const struct cf_policy *p = obj->policy;
        if (!p) {
            verror(&v, "object", "missing");
            break;
        }
        check_name(&v, "metadata.namespace", p->ns);
        check_name(&v, "metadata.name", p->name);
        check_selector(&v, "spec.podSelector", &p->pod_sel);
        if (!p->ingress && !p->egress) {
            verror(&v, "spec.policyTypes", "neither Ingress nor Egress");
        }
        check_rules(&v, "spec.ingress", "from", p->ingress_rules,
                    p->n_ingress);
        check_rules(&v, "spec.egress", "to", p->egress_rules, p->n_egress);
        break;
    }

    case CF_KIND_NODE: {
        const struct cf_node *node = obj->node;
        if (!node) {
            verror(&v, "object", "missing");
            break;
        }
        check_name(&v, "metadata.name", node->name);
        if (node->ovsdb && !node->ovsdb[0]) {
            verror(&v, "spec.ovsdb", "must not be empty");
        }
        if (node->bridge && !node->bridge[0]) {
            verror(&v, "spec.bridge", "must not be empty");
        }
        for (size_t i = 0; i < node->n_addrs; i++) {
            char field[64];
            snprintf(field, sizeof field, "spec.addresses[%zu]", i);
            check_addr(&v, field, &node->addrs[i]);
        }
        break;
    }

    default:
        verror(&v, "kind", "unknown kind %d", (int) obj->kind);
    }
    cf_ds_destroy(&what);
    return !v.n_errors;
}

void
cf_store_error(struct cf_ds *errors, const struct cf_object *obj,
               const char *field, const char *format, ...)
{
    struct cf_ds what = CF_DS_INIT;
    cf_store_describe(obj, &what);
    if (errors->len) {
        cf_ds_put_char(errors, '\n');
    }
    cf_ds_put_format(errors, "%s: %s: ", cf_ds_cstr(&what), field);
    va_list args;
    va_start(args, format);
    cf_ds_put_vformat(errors, format, args);
    va_end(args);
    cf_ds_destroy(&what);
}
