/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Test helpers that build clusters in C and run packets through compiled
 * flows (see cluster-builder.h).
 */
#include "conjflow-config.h"

#include "cluster-builder.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "conjflow/compiler.h"
#include "conjflow/interp.h"

/* Splits 'text' at 'sep' into a NULL-terminated array of malloc'd
 * strings (empty items dropped). */
static char **
split(const char *text, char sep, size_t *n)
{
    char **items = NULL;
    size_t allocated = 0;
    *n = 0;
    while (text && *text) {
        const char *end = strchr(text, sep);
        size_t len = end ? (size_t) (end - text) : strlen(text);
        if (len) {
            if (*n + 1 >= allocated) {
                items = cf_x2nrealloc(items, &allocated, sizeof *items);
            }
            items[(*n)++] = cf_xmemdup0(text, len);
        }
        text += len + (end ? 1 : 0);
    }
    return items;
}

/* Frees what split() returned. */
static void
free_split(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i]);
    }
    free(items);
}

void
tb_labels(struct cf_labels *labels, const char *text)
{
    size_t n;
    char **items = split(text, ',', &n);
    memset(labels, 0, sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(items[i], '=');
        cf_assert(eq);
        *eq = '\0';
        cf_labels_set(labels, items[i], eq + 1);
    }
    free_split(items, n);
}

void
tb_selector(struct cf_selector *sel, const char *text)
{
    size_t n;
    char **items = split(text, ',', &n);
    memset(sel, 0, sizeof *sel);
    sel->reqs = cf_xcalloc(n ? n : 1, sizeof *sel->reqs);
    for (size_t i = 0; i < n; i++) {
        struct cf_sel_req *req = &sel->reqs[sel->n_reqs++];
        char *s = items[i];
        char *ne = strstr(s, "!=");
        char *eq = strchr(s, '=');
        const char *values = NULL;
        if (ne) {
            *ne = '\0';
            req->op = CF_SEL_NOT_IN;
            values = ne + 2;
        } else if (eq) {
            *eq = '\0';
            req->op = CF_SEL_IN;
            values = eq + 1;
        } else if (s[0] == '!') {
            s++;
            req->op = CF_SEL_DOES_NOT_EXIST;
        } else {
            req->op = CF_SEL_EXISTS;
        }
        req->key = cf_xstrdup(s);
        if (values) {
            size_t nv;
            char **v = split(values, '|', &nv);
            req->values = cf_xcalloc(nv ? nv : 1, sizeof *req->values);
            for (size_t j = 0; j < nv; j++) {
                req->values[j] = cf_xstrdup(v[j]);
            }
            req->n_values = nv;
            free_split(v, nv);
        }
    }
    free_split(items, n);
    cf_selector_normalize(sel);
}

/* Adds 'obj' of 'kind' with model struct 'data' to 'cl'. */
static void
add_object(struct cf_cluster *cl, enum cf_kind kind, void *data)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = kind;
    switch (kind) {
    case CF_KIND_NAMESPACE:
        obj->ns = data;
        break;
    case CF_KIND_POD:
        obj->pod = data;
        break;
    case CF_KIND_POLICY:
        obj->policy = data;
        break;
    case CF_KIND_NODE:
        obj->node = data;
        break;
    }
    cf_cluster_add(cl, obj);
}

struct cf_namespace *
tb_ns(struct cf_cluster *cl, const char *name, const char *labels)
{
    struct cf_namespace *ns = cf_xzalloc(sizeof *ns);
    ns->name = cf_xstrdup(name);
    tb_labels(&ns->labels, labels);
    cf_labels_set(&ns->labels, "kubernetes.io/metadata.name", name);
    add_object(cl, CF_KIND_NAMESPACE, ns);
    return ns;
}

struct cf_pod *
tb_pod(struct cf_cluster *cl, const char *ns, const char *name,
       const char *node, const char *ip, const char *labels,
       const char *ports)
{
    struct cf_pod *pod = cf_xzalloc(sizeof *pod);
    pod->ns = cf_xstrdup(ns);
    pod->name = cf_xstrdup(name);
    pod->node = cf_xstrdup(node);
    tb_labels(&pod->labels, labels);
    if (ip) {
        pod->ips = cf_xzalloc(sizeof *pod->ips);
        char *error = cf_addr_parse(ip, pod->ips);
        cf_assert(!error);
        pod->n_ips = 1;
    }
    size_t n;
    char **items = split(ports, ',', &n);
    pod->ports = cf_xcalloc(n ? n : 1, sizeof *pod->ports);
    for (size_t i = 0; i < n; i++) {
        struct cf_container_port *cp = &pod->ports[pod->n_ports++];
        char name_[64], proto[16];
        unsigned number;
        const char *s = items[i];
        const char *colon = strchr(s, ':');
        cf_assert(colon);
        snprintf(name_, sizeof name_, "%.*s", (int) (colon - s), s);
        cf_assert(sscanf(colon + 1, "%u/%15s", &number, proto) == 2);
        cp->name = name_[0] ? cf_xstrdup(name_) : NULL;
        cp->port = number;
        cf_assert(cf_proto_parse(proto, &cp->proto));
    }
    free_split(items, n);
    add_object(cl, CF_KIND_POD, pod);
    return pod;
}

struct cf_node *
tb_node(struct cf_cluster *cl, const char *name, uint32_t id,
        const char *addr)
{
    struct cf_node *node = cf_xzalloc(sizeof *node);
    node->id = id;
    node->name = cf_xstrdup(name);
    node->ovsdb = cf_xstrdup("unix:db.sock");
    node->bridge = cf_xstrdup("br-int");
    if (addr) {
        node->addrs = cf_xzalloc(sizeof *node->addrs);
        char *error = cf_addr_parse(addr, node->addrs);
        cf_assert(!error);
        node->n_addrs = 1;
    }
    add_object(cl, CF_KIND_NODE, node);
    return node;
}

struct cf_policy *
tb_policy(struct cf_cluster *cl, const char *ns, const char *name,
          const char *pod_sel, bool ingress, bool egress)
{
    struct cf_policy *p = cf_xzalloc(sizeof *p);
    p->ns = cf_xstrdup(ns);
    p->name = cf_xstrdup(name);
    tb_selector(&p->pod_sel, pod_sel);
    p->ingress = ingress;
    p->egress = egress;
    add_object(cl, CF_KIND_POLICY, p);
    return p;
}

struct cf_rule *
tb_rule(struct cf_policy *p, bool egress)
{
    struct cf_rule **rules = egress ? &p->egress_rules : &p->ingress_rules;
    size_t *n = egress ? &p->n_egress : &p->n_ingress;
    *rules = cf_xrealloc(*rules, (*n + 1) * sizeof **rules);
    struct cf_rule *rule = &(*rules)[(*n)++];
    memset(rule, 0, sizeof *rule);
    return rule;
}

/* Appends a zeroed peer to 'rule'. */
static struct cf_peer *
add_peer(struct cf_rule *rule)
{
    rule->peers = cf_xrealloc(rule->peers,
                              (rule->n_peers + 1) * sizeof *rule->peers);
    struct cf_peer *peer = &rule->peers[rule->n_peers++];
    memset(peer, 0, sizeof *peer);
    return peer;
}

void
tb_peer_sel(struct cf_rule *rule, const char *ns_sel, const char *pod_sel)
{
    struct cf_peer *peer = add_peer(rule);
    if (ns_sel) {
        peer->has_ns_sel = true;
        tb_selector(&peer->ns_sel, ns_sel);
    }
    if (pod_sel) {
        peer->has_pod_sel = true;
        tb_selector(&peer->pod_sel, pod_sel);
    }
}

void
tb_peer_ipblock(struct cf_rule *rule, const char *cidr,
                const char *const *except, size_t n_except)
{
    struct cf_peer *peer = add_peer(rule);
    peer->has_ipblock = true;
    char *error = cf_cidr_parse(cidr, &peer->ipblock.cidr);
    cf_assert(!error);
    peer->ipblock.except = cf_xcalloc(n_except ? n_except : 1,
                                      sizeof *peer->ipblock.except);
    for (size_t i = 0; i < n_except; i++) {
        error = cf_cidr_parse(except[i], &peer->ipblock.except[i]);
        cf_assert(!error);
    }
    peer->ipblock.n_except = n_except;
}

/* Appends a zeroed port to 'rule'. */
static struct cf_port *
add_port(struct cf_rule *rule, enum cf_proto proto, enum cf_port_kind kind)
{
    rule->ports = cf_xrealloc(rule->ports,
                              (rule->n_ports + 1) * sizeof *rule->ports);
    struct cf_port *port = &rule->ports[rule->n_ports++];
    memset(port, 0, sizeof *port);
    port->proto = proto;
    port->kind = kind;
    return port;
}

void
tb_port_number(struct cf_rule *rule, enum cf_proto proto, uint16_t port,
               uint16_t end_port)
{
    struct cf_port *p = add_port(rule, proto, CF_PORT_NUMBER);
    p->port = port;
    p->end_port = end_port ? end_port : port;
}

void
tb_port_name(struct cf_rule *rule, enum cf_proto proto, const char *name)
{
    add_port(rule, proto, CF_PORT_NAME)->name = cf_xstrdup(name);
}

void
tb_port_all(struct cf_rule *rule, enum cf_proto proto)
{
    add_port(rule, proto, CF_PORT_ALL);
}

void
tb_node_ports(const struct cf_cluster *cl, const struct cf_node *node,
              struct cf_node_ports *ports)
{
    cf_node_ports_init(ports);
    ports->bindings = cf_xcalloc(cl->n_pods ? cl->n_pods : 1,
                                 sizeof *ports->bindings);
    for (size_t i = 0; i < cl->n_pods; i++) {
        const struct cf_pod *pod = cl->pods[i];
        if (!pod->node || strcmp(pod->node, node->name)
            || pod->host_network) {
            continue;
        }
        struct cf_binding *b = &ports->bindings[ports->n_bindings];
        b->pod = cf_xasprintf("%s/%s", pod->ns, pod->name);
        b->ofport = ports->n_bindings + 1;
        b->has_mac = true;
        b->mac[0] = 0x02;
        b->mac[1] = 0x00;
        if (pod->n_ips) {
            memcpy(&b->mac[2], pod->ips[0].bytes, 4);
        } else {
            b->mac[5] = b->ofport;
        }
        ports->n_bindings++;
    }
    ports->uplinks = cf_xmalloc(sizeof *ports->uplinks);
    ports->uplinks[0] = 100;
    ports->n_uplinks = 1;
}

bool
tb_pod_port(const struct cf_node_ports *ports, const struct cf_pod *pod,
            uint32_t *ofport, uint8_t mac[6])
{
    char *name = cf_xasprintf("%s/%s", pod->ns, pod->name);
    bool found = false;
    for (size_t i = 0; i < ports->n_bindings; i++) {
        if (!strcmp(ports->bindings[i].pod, name)) {
            *ofport = ports->bindings[i].ofport;
            memcpy(mac, ports->bindings[i].mac, 6);
            found = true;
            break;
        }
    }
    free(name);
    return found;
}

char *
tb_check_invariants(const struct cflow_set *set)
{
    struct cf_ds err = CF_DS_INIT;
    for (size_t i = 1; i < set->n; i++) {
        if (!cflow_key_compare(&set->flows[i - 1], &set->flows[i])) {
            cf_ds_put_format(&err, "flows %zu and %zu have the same key\n",
                             i - 1, i);
        }
    }
    for (size_t i = 0; i < set->n; i++) {
        const struct cflow *f = &set->flows[i];
        size_t n_conj = 0;
        for (size_t j = 0; j < f->n_actions; j++) {
            const struct cflow_action *a = &f->actions[j];
            if (a->type != CFLOW_A_CONJUNCTION) {
                continue;
            }
            n_conj++;
            /* Its conj_id flow at the same priority. */
            bool found = false;
            for (size_t k = 0; k < set->n && !found; k++) {
                const struct cflow *g = &set->flows[k];
                found = (g->table == f->table
                         && (g->match.fields & CFLOW_F_CONJ_ID)
                         && g->match.conj_id == a->id
                         && g->priority == f->priority);
            }
            if (!found) {
                cf_ds_put_format(&err, "conjunction %"PRIu32" at priority "
                                 "%u has no conj_id flow there\n", a->id,
                                 f->priority);
            }
        }
        if (n_conj && n_conj != f->n_actions) {
            cf_ds_put_format(&err, "flow %zu mixes conjunction and other "
                             "actions\n", i);
        }
        if (n_conj > CFLOW_MAX_CONJUNCTIONS) {
            cf_ds_put_format(&err, "flow %zu has %zu conjunctions\n", i,
                             n_conj);
        }
        if (f->match.fields & CFLOW_F_CONJ_ID) {
            /* Every clause 1..n present at this priority. */
            uint64_t seen = 0;
            unsigned n_clauses = 0;
            for (size_t k = 0; k < set->n; k++) {
                const struct cflow *g = &set->flows[k];
                if (g->table != f->table) {
                    continue;
                }
                for (size_t j = 0; j < g->n_actions; j++) {
                    const struct cflow_action *a = &g->actions[j];
                    if (a->type == CFLOW_A_CONJUNCTION
                        && a->id == f->match.conj_id) {
                        if (g->priority != f->priority) {
                            cf_ds_put_format(&err, "conjunction %"PRIu32
                                             " spans priorities\n", a->id);
                        }
                        seen |= 1ULL << (a->clause - 1);
                        n_clauses = a->n_clauses;
                    }
                }
            }
            if (n_clauses < 2 || seen != (1ULL << n_clauses) - 1) {
                cf_ds_put_format(&err, "conjunction %"PRIu32" lacks "
                                 "clauses\n", f->match.conj_id);
            }
        }
    }
    /* Plain flows and clause flows never share a (table, priority). */
    for (size_t i = 0; i < set->n; i++) {
        const struct cflow *f = &set->flows[i];
        bool clause = f->n_actions
                      && f->actions[0].type == CFLOW_A_CONJUNCTION;
        if (clause || (f->match.fields & CFLOW_F_CONJ_ID)) {
            continue;
        }
        for (size_t k = 0; k < set->n; k++) {
            const struct cflow *g = &set->flows[k];
            if (g->table == f->table && g->priority == f->priority
                && g->n_actions
                && g->actions[0].type == CFLOW_A_CONJUNCTION) {
                cf_ds_put_format(&err, "plain flow %zu shares priority %u "
                                 "with clause flow %zu\n", i, f->priority,
                                 k);
                break;
            }
        }
    }
    return err.len ? cf_ds_steal(&err) : (cf_ds_destroy(&err), NULL);
}

void
tb_format_flows(const struct cflow_set *set, struct cf_ds *ds)
{
    for (size_t i = 0; i < set->n; i++) {
        cflow_format(&set->flows[i], ds);
        cf_ds_put_char(ds, '\n');
    }
}

char *
tb_world_build(struct tb_world *w, const struct cf_cluster *cl)
{
    memset(w, 0, sizeof *w);
    w->cluster = cl;
    w->n = cl->n_nodes;
    w->flows = cf_xcalloc(w->n ? w->n : 1, sizeof *w->flows);
    w->ports = cf_xcalloc(w->n ? w->n : 1, sizeof *w->ports);
    w->interps = cf_xcalloc(w->n ? w->n : 1, sizeof *w->interps);
    struct cf_compiler *c = cf_compiler_create(cl);
    char *error = NULL;
    for (size_t i = 0; i < w->n && !error; i++) {
        cflow_set_init(&w->flows[i]);
        tb_node_ports(cl, cl->nodes[i], &w->ports[i]);
        error = cf_compiler_node_flows(c, cl->nodes[i], &w->ports[i],
                                       &w->flows[i]);
        w->interps[i] = cf_interp_create(&w->flows[i]);
        w->n_flows += w->flows[i].n;
    }
    cf_compiler_destroy(c);
    return error;
}

void
tb_world_destroy(struct tb_world *w)
{
    for (size_t i = 0; i < w->n; i++) {
        cf_interp_destroy(w->interps[i]);
        cflow_set_destroy(&w->flows[i]);
        cf_node_ports_destroy(&w->ports[i]);
    }
    free(w->interps);
    free(w->flows);
    free(w->ports);
    memset(w, 0, sizeof *w);
}

/* Returns the index of the node named 'name' in 'w', or SIZE_MAX. */
static size_t
world_node(const struct tb_world *w, const char *name)
{
    for (size_t i = 0; name && i < w->n; i++) {
        if (!strcmp(w->cluster->nodes[i]->name, name)) {
            return i;
        }
    }
    return SIZE_MAX;
}

bool
tb_world_send(const struct tb_world *w, const struct cf_pod *src,
              const struct cf_pod *dst, uint16_t port, enum cf_proto proto,
              uint8_t ct_state, bool sctp_learned_reply)
{
    size_t sn = world_node(w, src->node);
    size_t dn = world_node(w, dst->node);
    struct cf_interp_packet pkt;
    struct cf_interp_result r;

    cf_assert(sn != SIZE_MAX && src->n_ips && dst->n_ips);
    memset(&pkt, 0, sizeof pkt);
    if (src->host_network) {
        pkt.in_port = CFLOW_PORT_LOCAL;
    } else {
        bool bound = tb_pod_port(&w->ports[sn], src, &pkt.in_port,
                                 pkt.dl_src);
        cf_assert(bound);
    }
    pkt.nw_src = cf_addr_ipv4(&src->ips[0]);
    pkt.nw_dst = cf_addr_ipv4(&dst->ips[0]);
    pkt.nw_proto = proto;
    pkt.tp_dst = port;
    pkt.ct_state = ct_state;
    pkt.sctp_learned_reply = sctp_learned_reply;

    cf_interp_result_init(&r);
    bool ok = cf_interp_run(w->interps[sn], &pkt, &r);
    if (ok && dn != SIZE_MAX && dn != sn) {
        pkt.in_port = 100;
        memset(pkt.dl_src, 0, 6);
        ok = cf_interp_run(w->interps[dn], &pkt, &r);
    }
    cf_interp_result_destroy(&r);
    return ok;
}
