/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The NetworkPolicy compiler (conjflow/compiler.h): a sorted cluster in, one
 * node's desired flows out, in the pipeline that conjflow/cflow.h draws.
 *
 * How a rule becomes flows.  A rule is the product of dimensions:
 *
 *   peers   the remote addresses: selected pods' IPs as /32s and ipBlock
 *           CIDRs minus their excepts (a CIDR difference), normalized;
 *   local   the pods bound on this node that the policy selects;
 *   ports   tp_dst value/mask matches (the minimal prefix decomposition of
 *           each port range) with nw_proto, or nw_proto alone for a
 *           protocol-only port.
 *
 * A dimension that is "all" (no 'from'/'to', no 'ports') is omitted; local
 * never is.  One remaining dimension gives plain flows; two or more give a
 * conjunction with one clause per dimension, in the order peers, local,
 * ports.  Named ports resolve per destination pod, so they form a second
 * conjunction (part 1): ingress merges local and port into one dimension of
 * (local pod IP, resolved number, protocol) entries; egress merges peers and
 * port into (peer pod IP, resolved number, protocol) entries, where the
 * peer pods are the selected pods, or the pods whose IP lies in an ipBlock
 * (outside its excepts), or every pod for an absent 'to'.  A name that does
 * not resolve gives no entry.  Host-network pods are never selected by pod
 * selectors and named ports never resolve against them (their address is
 * their node's).
 *
 * Conjunction ids: cf_conj_id(policy id, direction, rule, part) = id << 8 |
 * egress << 7 | rule << 1 | part, stable across recompiles.
 *
 * Priorities in egress_rules and ingress_rules (highest first):
 *   PRIO_NODE      the node's own addresses, always allowed;
 *   PRIO_PLAIN     single-dimension rule flows;
 *   PRIO_BAND + b  conjunction clause flows and conj_id flows of band b;
 *   0              miss: on to the isolation table.
 * Plain flows and clause flows never share a priority (the same match at
 * the same priority would be the same OpenFlow flow).  A conjunction's band
 * is cf_hash_u32(conj_id) % n_bands, with n_bands = 16 doubled while any
 * merged clause flow would carry more than CFLOW_MAX_CONJUNCTIONS
 * conjunction() actions; n_bands is chosen per (node, table), so it depends
 * only on the input.  All clauses of a conjunction and its conj_id flow sit
 * at its band's priority.
 *
 * Merging: clause flows with the same (table, priority, match) are one flow
 * with every conjunction() action, sorted by conjunction id; the merged
 * flow carries the cookie of its lowest conjunction id's rule (a rule's
 * conj_id flow always carries the rule's own cookie).  Identical plain
 * flows of several rules keep the one with the lowest conjunction id.
 *
 * Isolation: a local pod selected by some policy with Ingress (Egress) in
 * its policyTypes gets a drop flow in ingress_isolation (egress_isolation).
 * A bound port whose pod is unknown, host-network or without an IPv4
 * address gets no flow in classify, so its traffic drops there.
 */
#include "conjflow-config.h"

#include "conjflow/compiler.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "compiler-private.h"
#include "conjflow/cfutil.h"

/* Priorities (see the file comment). */
enum {
    PRIO_NODE = 30000,          /* Node-address allowance. */
    PRIO_PLAIN = 20000,         /* Single-dimension rule flows. */
    PRIO_BAND = 1000,           /* Band 0 of conjunctions. */
    PRIO_ISOLATION = 100,       /* Per-pod drop in the isolation tables. */
};
#define N_BANDS_INITIAL 16
#define N_BANDS_MAX 16384       /* PRIO_BAND + N_BANDS_MAX < PRIO_PLAIN. */

/* Idle timeout of learned SCTP reply flows, in seconds. */
#define SCTP_REPLY_IDLE_TIMEOUT 120

/* A conjunction of one rule part, before merging. */
struct pf_conj {
    uint32_t id;                /* Conjunction id. */
    uint8_t table;              /* Rule table. */
    uint8_t next_table;         /* Where an allowed packet goes. */
    uint8_t reg;                /* Register that records 'id'. */
    uint8_t n_clauses;          /* Number of clauses (2 or 3). */
    uint64_t cookie;            /* The rule's cookie (CFLOW_KIND_ALLOW). */
    struct cflow_match *matches;  /* Clause entries (owned). */
    uint8_t *clauses;           /* Per entry: its 1-based clause. */
    size_t n;                   /* Number of entries. */
    size_t allocated;           /* Allocated entries. */
};

/* One policy's contribution to one node (see compiler.h). */
struct cf_policy_flows {
    const struct cf_policy *policy;  /* The policy (in the cluster). */
    struct cflow_set flows;     /* Plain and isolation flows, final. */
    struct u32_vec ranks;       /* Per flow: merge rank (conj id). */
    struct pf_conj *conjs;      /* Conjunctions (owned). */
    size_t n_conjs;
    size_t allocated_conjs;
};

/* A pod bound on the node being compiled. */
struct local_pod {
    uint32_t pod;               /* Index into the cluster's pods. */
    uint32_t ip;                /* Its IPv4 address (host order). */
    const struct cf_binding *binding;  /* Its port. */
};

/* A dimension of a rule: alternative partial matches. */
struct dim {
    struct cflow_match *m;      /* Owned array. */
    size_t n;
    size_t allocated;
};

uint32_t
cf_conj_id(uint32_t policy_id, int dir, unsigned rule, unsigned part)
{
    return ((policy_id & 0xffffff) << 8
            | (uint32_t) (dir == CFLOW_DIR_EGRESS) << 7
            | (rule & 0x3f) << 1 | (part & 1));
}

/* ---- Creation ----------------------------------------------------------- */

/* Creates a compiler over 'cluster' (see compiler.h).  Builds the label
 * indexes, evaluates every policy's podSelector and records, per pod, the
 * policies that select it. */
struct cf_compiler *
cf_compiler_create(const struct cf_cluster *cluster)
{
    struct cf_compiler *c = cf_xzalloc(sizeof *c);
    c->cluster = cluster;
    compiler_index_build(c);

    size_t np = cluster->n_policies;
    c->policies = cf_xcalloc(np ? np : 1, sizeof *c->policies);
    c->pod_policies = cf_xcalloc(cluster->n_pods ? cluster->n_pods : 1,
                                 sizeof *c->pod_policies);
    for (uint32_t i = 0; i < np; i++) {
        const struct cf_policy *p = cluster->policies[i];
        const struct u32_vec *sel = compiler_select_pods(c, p->ns,
                                                         &p->pod_sel);
        c->policies[i].selected = sel;
        for (size_t j = 0; j < sel->n; j++) {
            u32_vec_push(&c->pod_policies[sel->v[j]], i);
        }
    }
    return c;
}

/* Frees the caches of 'n' rules in 'rules'. */
static void
rule_caches_destroy(struct rule_cache *rules, size_t n)
{
    for (size_t i = 0; rules && i < n; i++) {
        cidr4_vec_destroy(&rules[i].addrs);
        u32_vec_destroy(&rules[i].named_pods);
    }
    free(rules);
}

/* Frees 'c' (not the cluster).  Accepts NULL. */
void
cf_compiler_destroy(struct cf_compiler *c)
{
    if (!c) {
        return;
    }
    const struct cf_cluster *cl = c->cluster;
    for (size_t i = 0; i < cl->n_policies; i++) {
        rule_caches_destroy(c->policies[i].ingress,
                            cl->policies[i]->n_ingress);
        rule_caches_destroy(c->policies[i].egress,
                            cl->policies[i]->n_egress);
    }
    free(c->policies);
    for (size_t i = 0; i < cl->n_pods; i++) {
        u32_vec_destroy(&c->pod_policies[i]);
    }
    free(c->pod_policies);
    compiler_index_destroy(c);
    free(c);
}

/* ---- Rule caches ------------------------------------------------------- */

/* Returns the cache of rule 'r' in direction 'dir' of policy 'pi'. */
static struct rule_cache *
rule_cache_get(struct cf_compiler *c, size_t pi, enum cflow_dir dir,
               size_t r)
{
    const struct cf_policy *p = c->cluster->policies[pi];
    struct policy_cache *pc = &c->policies[pi];
    struct rule_cache **rules = dir == CFLOW_DIR_INGRESS ? &pc->ingress
                                                          : &pc->egress;
    if (!*rules) {
        size_t n = dir == CFLOW_DIR_INGRESS ? p->n_ingress : p->n_egress;
        *rules = cf_xcalloc(n ? n : 1, sizeof **rules);
    }
    return &(*rules)[r];
}

/* Returns the peer address set of 'rule' of policy 'p' (normalized CIDRs),
 * computing it into 'rc' once. */
static const struct cidr4_vec *
rule_peer_addrs(struct cf_compiler *c, const struct cf_policy *p,
                const struct cf_rule *rule, struct rule_cache *rc)
{
    if (rc->have_addrs) {
        return &rc->addrs;
    }
    rc->have_addrs = true;
    for (size_t i = 0; i < rule->n_peers; i++) {
        const struct cf_peer *peer = &rule->peers[i];
        if (peer->has_ipblock) {
            const struct cf_ipblock *b = &peer->ipblock;
            if (b->cidr.addr.family != 4) {
                continue;       /* conjflow enforces IPv4 only. */
            }
            struct cidr4 block;
            block.plen = b->cidr.plen;
            block.addr = cf_addr_ipv4(&b->cidr.addr) & cidr4_mask(block.plen);
            cidr4_difference(&block, b->except, b->n_except, &rc->addrs);
        } else {
            const struct u32_vec *pods = compiler_peer_pods(c, p->ns, peer);
            for (size_t j = 0; j < pods->n; j++) {
                uint32_t ip = c->pod_ip[pods->v[j]];
                if (ip) {
                    cidr4_vec_push(&rc->addrs, ip, 32);
                }
            }
        }
    }
    cidr4_vec_normalize(&rc->addrs);
    return &rc->addrs;
}

/* True if IPv4 'ip' lies in 'block' (IPv4) and outside its excepts. */
static bool
ipblock_contains(const struct cf_ipblock *block, uint32_t ip)
{
    if (block->cidr.addr.family != 4
        || (ip & cidr4_mask(block->cidr.plen))
           != (cf_addr_ipv4(&block->cidr.addr)
               & cidr4_mask(block->cidr.plen))) {
        return false;
    }
    for (size_t i = 0; i < block->n_except; i++) {
        const struct cf_cidr *ex = &block->except[i];
        if (ex->addr.family == 4
            && (ip & cidr4_mask(ex->plen))
               == (cf_addr_ipv4(&ex->addr) & cidr4_mask(ex->plen))) {
            return false;
        }
    }
    return true;
}

/* Returns the pods that an egress rule's named ports resolve against:
 * every non-host-network pod with an address if the rule has no peers,
 * else the selected pods and the pods whose address lies in an ipBlock. */
static const struct u32_vec *
rule_named_pods(struct cf_compiler *c, const struct cf_policy *p,
                const struct cf_rule *rule, struct rule_cache *rc)
{
    if (rc->have_named_pods) {
        return &rc->named_pods;
    }
    rc->have_named_pods = true;
    struct u32_vec *out = &rc->named_pods;
    if (!rule->n_peers) {
        for (size_t i = 0; i < c->n_ip_pods; i++) {
            u32_vec_push(out, c->ip_pods[i].pod);
        }
    }
    for (size_t i = 0; i < rule->n_peers; i++) {
        const struct cf_peer *peer = &rule->peers[i];
        if (peer->has_ipblock) {
            const struct cf_ipblock *b = &peer->ipblock;
            if (b->cidr.addr.family != 4) {
                continue;
            }
            uint32_t mask = cidr4_mask(b->cidr.plen);
            uint32_t lo = cf_addr_ipv4(&b->cidr.addr) & mask;
            /* Binary search the first pod address >= lo. */
            size_t l = 0, h = c->n_ip_pods;
            while (l < h) {
                size_t mid = l + (h - l) / 2;
                if (c->ip_pods[mid].ip < lo) {
                    l = mid + 1;
                } else {
                    h = mid;
                }
            }
            for (; l < c->n_ip_pods && (c->ip_pods[l].ip & mask) == lo; l++) {
                if (ipblock_contains(b, c->ip_pods[l].ip)) {
                    u32_vec_push(out, c->ip_pods[l].pod);
                }
            }
        } else {
            const struct u32_vec *pods = compiler_peer_pods(c, p->ns, peer);
            for (size_t j = 0; j < pods->n; j++) {
                if (c->pod_ip[pods->v[j]]) {
                    u32_vec_push(out, pods->v[j]);
                }
            }
        }
    }
    u32_vec_sort_unique(out);
    return out;
}

/* ---- Dimensions and matches -------------------------------------------- */

/* Appends an empty match to 'd' and returns it. */
static struct cflow_match *
dim_add(struct dim *d)
{
    if (d->n >= d->allocated) {
        d->m = cf_x2nrealloc(d->m, &d->allocated, sizeof *d->m);
    }
    struct cflow_match *m = &d->m[d->n++];
    memset(m, 0, sizeof *m);
    return m;
}

/* Frees 'd''s matches. */
static void
dim_destroy(struct dim *d)
{
    free(d->m);
    memset(d, 0, sizeof *d);
}

/* Sets 'm' to match IPv4 source ('src') or destination 'addr'/'plen'.  A
 * /0 sets no address field (as OVS normalizes it: "ip"). */
static void
match_ip(struct cflow_match *m, bool src, uint32_t addr, unsigned plen)
{
    m->fields |= CFLOW_F_DL_TYPE;
    m->dl_type = 0x0800;
    if (!plen) {
        return;
    } else if (src) {
        m->fields |= CFLOW_F_NW_SRC;
        m->nw_src = addr & cidr4_mask(plen);
        m->nw_src_mask = cidr4_mask(plen);
    } else {
        m->fields |= CFLOW_F_NW_DST;
        m->nw_dst = addr & cidr4_mask(plen);
        m->nw_dst_mask = cidr4_mask(plen);
    }
}

/* Sets 'm' to match protocol 'proto' and, if 'mask' is nonzero, tp_dst
 * 'value'/'mask'. */
static void
match_port(struct cflow_match *m, enum cf_proto proto, uint16_t value,
           uint16_t mask)
{
    m->fields |= CFLOW_F_DL_TYPE | CFLOW_F_NW_PROTO;
    m->dl_type = 0x0800;
    m->nw_proto = proto;
    if (mask) {
        m->fields |= CFLOW_F_TP_DST;
        m->tp_dst = value & mask;
        m->tp_dst_mask = mask;
    }
}

/* Appends to 'd' the minimal set of value/mask matches on tp_dst (with
 * 'proto') that covers exactly the ports 'lo'..'hi'. */
static void
dim_add_port_range(struct dim *d, enum cf_proto proto, uint32_t lo,
                   uint32_t hi)
{
    while (lo <= hi) {
        /* The largest aligned block starting at 'lo' within 'hi'. */
        unsigned bits = 0;
        while (bits < 16 && !(lo & (1u << bits))
               && lo + (2u << bits) - 1 <= hi) {
            bits++;
        }
        match_port(dim_add(d), proto, lo,
                   (uint16_t) (0xffffu << bits));
        lo += 1u << bits;
    }
}

/* qsort() comparison of matches (through a flow key compare). */
static int
match_qsort_compare(const void *a_, const void *b_)
{
    struct cflow a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.match = *(const struct cflow_match *) a_;
    b.match = *(const struct cflow_match *) b_;
    return cflow_key_compare(&a, &b);
}

/* Sorts 'd' and removes duplicate matches. */
static void
dim_sort_unique(struct dim *d)
{
    if (d->n < 2) {
        return;
    }
    qsort(d->m, d->n, sizeof *d->m, match_qsort_compare);
    size_t n = 1;
    for (size_t i = 1; i < d->n; i++) {
        if (match_qsort_compare(&d->m[n - 1], &d->m[i])) {
            d->m[n++] = d->m[i];
        }
    }
    d->n = n;
}

/* ---- Contributions ------------------------------------------------------ */

/* Creates an empty contribution of 'policy'. */
static struct cf_policy_flows *
policy_flows_create(const struct cf_policy *policy)
{
    struct cf_policy_flows *pf = cf_xzalloc(sizeof *pf);
    pf->policy = policy;
    cflow_set_init(&pf->flows);
    return pf;
}

/* Frees 'pf' and everything it owns.  Accepts NULL. */
void
cf_policy_flows_destroy(struct cf_policy_flows *pf)
{
    if (!pf) {
        return;
    }
    cflow_set_destroy(&pf->flows);
    u32_vec_destroy(&pf->ranks);
    for (size_t i = 0; i < pf->n_conjs; i++) {
        free(pf->conjs[i].matches);
        free(pf->conjs[i].clauses);
    }
    free(pf->conjs);
    free(pf);
}

/* Returns the number of flows 'pf' contributes before merging: plain and
 * isolation flows, and each conjunction's clause entries and conj_id
 * flow. */
size_t
cf_policy_flows_count(const struct cf_policy_flows *pf)
{
    size_t n = pf->flows.n;
    for (size_t i = 0; i < pf->n_conjs; i++) {
        n += pf->conjs[i].n + 1;
    }
    return n;
}

/* Adds a flow to 'pf' with merge rank 'rank' and returns it. */
static struct cflow *
pf_add_flow(struct cf_policy_flows *pf, uint8_t table, uint16_t priority,
            uint64_t cookie, uint32_t rank)
{
    u32_vec_push(&pf->ranks, rank);
    return cflow_set_add(&pf->flows, table, priority, cookie);
}

/* Adds to 'flow' the actions of an allowed packet: record 'id' in register
 * 'reg', go to 'next_table'. */
static void
add_allow_actions(struct cflow *flow, uint8_t reg, uint32_t id,
                  uint8_t next_table)
{
    struct cflow_action a;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_LOAD_REG;
    a.reg = reg;
    a.value = id;
    a.mask = UINT32_MAX;
    cflow_add_action(flow, &a);
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_GOTO;
    a.table = next_table;
    cflow_add_action(flow, &a);
}

/* Emits the flows of one rule part with conjunction id 'id' whose
 * non-omitted dimensions are the 'n_dims' in 'dims' (in clause order):
 * nothing if a dimension is empty, plain flows for one dimension, a
 * conjunction for more. */
static void
emit_rule_part(struct cf_policy_flows *pf, enum cflow_dir dir, unsigned rule,
               uint32_t id, struct dim *dims, size_t n_dims)
{
    const struct cf_policy *p = pf->policy;
    uint8_t table = (dir == CFLOW_DIR_INGRESS ? CFLOW_T_INGRESS_RULES
                     : CFLOW_T_EGRESS_RULES);
    uint8_t next = (dir == CFLOW_DIR_INGRESS ? CFLOW_T_COMMIT
                    : CFLOW_T_INGRESS_RULES);
    uint8_t reg = dir == CFLOW_DIR_INGRESS ? 2 : 1;
    uint64_t cookie = cflow_cookie(p->id, dir, rule, CFLOW_KIND_ALLOW);

    for (size_t i = 0; i < n_dims; i++) {
        dim_sort_unique(&dims[i]);
        if (!dims[i].n) {
            return;
        }
    }
    if (n_dims == 1) {
        for (size_t i = 0; i < dims[0].n; i++) {
            struct cflow *f = pf_add_flow(pf, table, PRIO_PLAIN, cookie, id);
            f->match = dims[0].m[i];
            add_allow_actions(f, reg, id, next);
        }
        return;
    }

    if (pf->n_conjs >= pf->allocated_conjs) {
        pf->conjs = cf_x2nrealloc(pf->conjs, &pf->allocated_conjs,
                                  sizeof *pf->conjs);
    }
    struct pf_conj *conj = &pf->conjs[pf->n_conjs++];
    memset(conj, 0, sizeof *conj);
    conj->id = id;
    conj->table = table;
    conj->next_table = next;
    conj->reg = reg;
    conj->n_clauses = n_dims;
    conj->cookie = cookie;
    for (size_t i = 0; i < n_dims; i++) {
        conj->n += dims[i].n;
    }
    conj->allocated = conj->n;
    conj->matches = cf_xcalloc(conj->n, sizeof *conj->matches);
    conj->clauses = cf_xcalloc(conj->n, sizeof *conj->clauses);
    size_t k = 0;
    for (size_t i = 0; i < n_dims; i++) {
        for (size_t j = 0; j < dims[i].n; j++) {
            conj->matches[k] = dims[i].m[j];
            conj->clauses[k] = i + 1;
            k++;
        }
    }
}

/* Compiles rule 'r' of direction 'dir' of policy 'pi' for the policy's
 * selected pods bound on this node ('locals'), into 'pf'. */
static void
compile_rule(struct cf_compiler *c, size_t pi, enum cflow_dir dir,
             size_t r, const struct local_pod *locals, size_t n_locals,
             struct cf_policy_flows *pf)
{
    const struct cf_policy *p = c->cluster->policies[pi];
    const struct cf_rule *rule = (dir == CFLOW_DIR_INGRESS
                                  ? &p->ingress_rules[r]
                                  : &p->egress_rules[r]);
    struct rule_cache *rc = rule_cache_get(c, pi, dir, r);
    bool ingress = dir == CFLOW_DIR_INGRESS;
    struct dim dims[3];
    size_t n_dims = 0;

    memset(dims, 0, sizeof dims);

    /* Part 0: numbered and protocol-only ports (or every port). */
    bool has_named = false, has_unnamed = false;
    struct dim ports;
    memset(&ports, 0, sizeof ports);
    for (size_t i = 0; i < rule->n_ports; i++) {
        const struct cf_port *port = &rule->ports[i];
        switch (port->kind) {
        case CF_PORT_ALL:
            match_port(dim_add(&ports), port->proto, 0, 0);
            has_unnamed = true;
            break;
        case CF_PORT_NUMBER:
            dim_add_port_range(&ports, port->proto, port->port,
                               CF_MAX(port->port, port->end_port));
            has_unnamed = true;
            break;
        case CF_PORT_NAME:
            has_named = true;
            break;
        }
    }

    if (!rule->n_ports || has_unnamed) {
        if (rule->n_peers) {
            const struct cidr4_vec *addrs = rule_peer_addrs(c, p, rule, rc);
            for (size_t i = 0; i < addrs->n; i++) {
                match_ip(dim_add(&dims[n_dims]), ingress, addrs->v[i].addr,
                         addrs->v[i].plen);
            }
            n_dims++;
        }
        for (size_t i = 0; i < n_locals; i++) {
            match_ip(dim_add(&dims[n_dims]), !ingress, locals[i].ip, 32);
        }
        n_dims++;
        if (rule->n_ports) {
            dims[n_dims++] = ports;
            memset(&ports, 0, sizeof ports);
        }
        emit_rule_part(pf, dir, r, cf_conj_id(p->id, dir, r, 0), dims,
                       n_dims);
        for (size_t i = 0; i < n_dims; i++) {
            dim_destroy(&dims[i]);
        }
        n_dims = 0;
    }
    dim_destroy(&ports);

    /* Part 1: named ports, resolved against the destination pod. */
    if (!has_named) {
        return;
    }
    if (ingress) {
        if (rule->n_peers) {
            const struct cidr4_vec *addrs = rule_peer_addrs(c, p, rule, rc);
            for (size_t i = 0; i < addrs->n; i++) {
                match_ip(dim_add(&dims[n_dims]), true, addrs->v[i].addr,
                         addrs->v[i].plen);
            }
            n_dims++;
        }
        struct dim *lp = &dims[n_dims++];
        for (size_t i = 0; i < n_locals; i++) {
            const struct cf_pod *pod = c->cluster->pods[locals[i].pod];
            for (size_t j = 0; j < rule->n_ports; j++) {
                const struct cf_port *port = &rule->ports[j];
                if (port->kind != CF_PORT_NAME) {
                    continue;
                }
                uint16_t num = cf_pod_resolve_port(pod, port->name,
                                                   port->proto);
                if (num) {
                    struct cflow_match *m = dim_add(lp);
                    match_ip(m, false, locals[i].ip, 32);
                    match_port(m, port->proto, num, 0xffff);
                }
            }
        }
    } else {
        struct dim *local = &dims[n_dims++];
        for (size_t i = 0; i < n_locals; i++) {
            match_ip(dim_add(local), true, locals[i].ip, 32);
        }
        struct dim *pp = &dims[n_dims++];
        const struct u32_vec *pods = rule_named_pods(c, p, rule, rc);
        for (size_t i = 0; i < pods->n; i++) {
            const struct cf_pod *pod = c->cluster->pods[pods->v[i]];
            if (pod->host_network) {
                continue;
            }
            for (size_t j = 0; j < rule->n_ports; j++) {
                const struct cf_port *port = &rule->ports[j];
                if (port->kind != CF_PORT_NAME) {
                    continue;
                }
                uint16_t num = cf_pod_resolve_port(pod, port->name,
                                                   port->proto);
                if (num) {
                    struct cflow_match *m = dim_add(pp);
                    match_ip(m, false, c->pod_ip[pods->v[i]], 32);
                    match_port(m, port->proto, num, 0xffff);
                }
            }
        }
    }
    emit_rule_part(pf, dir, r, cf_conj_id(p->id, dir, r, 1), dims, n_dims);
    for (size_t i = 0; i < n_dims; i++) {
        dim_destroy(&dims[i]);
    }
}

/* Compiles policy 'pi' for its selected pods bound on the node, 'locals'
 * (nonempty), and returns the contribution. */
static struct cf_policy_flows *
compile_policy(struct cf_compiler *c, size_t pi,
               const struct local_pod *locals, size_t n_locals)
{
    const struct cf_policy *p = c->cluster->policies[pi];
    struct cf_policy_flows *pf = policy_flows_create(p);
    static const struct cflow_action drop = { .type = CFLOW_A_DROP };

    for (int d = 0; d < 2; d++) {
        enum cflow_dir dir = d ? CFLOW_DIR_EGRESS : CFLOW_DIR_INGRESS;
        if (!(dir == CFLOW_DIR_INGRESS ? p->ingress : p->egress)) {
            continue;
        }
        /* Isolation: the infrastructure cookie of the direction, so that
         * the drop flows of every policy isolating a pod are identical. */
        for (size_t i = 0; i < n_locals; i++) {
            struct cflow *f = pf_add_flow(
                pf, (dir == CFLOW_DIR_INGRESS ? CFLOW_T_INGRESS_ISOLATION
                     : CFLOW_T_EGRESS_ISOLATION),
                PRIO_ISOLATION, cflow_cookie(0, dir, 0, CFLOW_KIND_POD), 0);
            match_ip(&f->match, dir == CFLOW_DIR_EGRESS, locals[i].ip, 32);
            cflow_add_action(f, &drop);
        }
        size_t n_rules = dir == CFLOW_DIR_INGRESS ? p->n_ingress
                                                   : p->n_egress;
        for (size_t r = 0; r < n_rules && r < CF_MAX_RULES; r++) {
            compile_rule(c, pi, dir, r, locals, n_locals, pf);
        }
    }
    return pf;
}

/* Collects in 'locals' the pods bound on the node ('ports'): known, not
 * host-network, with an IPv4 address. */
static void
collect_locals(struct cf_compiler *c, const struct cf_node_ports *ports,
               struct local_pod **locals, size_t *n_locals)
{
    *locals = cf_xcalloc(ports->n_bindings ? ports->n_bindings : 1,
                         sizeof **locals);
    *n_locals = 0;
    for (size_t i = 0; i < ports->n_bindings; i++) {
        const struct cf_binding *b = &ports->bindings[i];
        void *data = cf_smap_get(&c->pod_by_name, b->pod);
        uintptr_t idx = (uintptr_t) data;
        if (!idx) {
            continue;
        }
        uint32_t pod = idx - 1;
        if (c->cluster->pods[pod]->host_network || !c->pod_ip[pod]) {
            continue;
        }
        struct local_pod *lp = &(*locals)[(*n_locals)++];
        lp->pod = pod;
        lp->ip = c->pod_ip[pod];
        lp->binding = b;
    }
}

/* Returns the index of 'policy' in the compiler's (sorted) cluster, or
 * SIZE_MAX: a binary search by (namespace, name), then a scan of equal
 * names in case the cluster holds duplicates. */
static size_t
policy_index(const struct cf_compiler *c, const struct cf_policy *policy)
{
    const struct cf_cluster *cl = c->cluster;
    size_t lo = 0, hi = cl->n_policies;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cf_policy *p = cl->policies[mid];
        int cmp = strcmp(p->ns, policy->ns);
        if (!cmp) {
            cmp = strcmp(p->name, policy->name);
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    for (size_t i = lo; i < cl->n_policies; i++) {
        if (cl->policies[i] == policy) {
            return i;
        }
        if (strcmp(cl->policies[i]->ns, policy->ns)
            || strcmp(cl->policies[i]->name, policy->name)) {
            break;
        }
    }
    for (size_t i = 0; i < cl->n_policies; i++) {
        if (cl->policies[i] == policy) {
            return i;           /* Unsorted cluster: still correct. */
        }
    }
    return SIZE_MAX;
}

/* See compiler.h. */
struct cf_policy_flows *
cf_compiler_policy_flows(struct cf_compiler *c, const struct cf_policy *policy,
                         const struct cf_node *node,
                         const struct cf_node_ports *ports)
{
    size_t pi = policy_index(c, policy);
    if (pi == SIZE_MAX) {
        return NULL;
    }
    (void) node;
    struct local_pod *locals;
    size_t n_locals;
    collect_locals(c, ports, &locals, &n_locals);
    size_t n = 0;
    for (size_t i = 0; i < n_locals; i++) {
        if (u32_vec_contains(c->policies[pi].selected, locals[i].pod)) {
            locals[n++] = locals[i];
        }
    }
    struct cf_policy_flows *pf = n ? compile_policy(c, pi, locals, n) : NULL;
    free(locals);
    return pf;
}

/* ---- Merging ------------------------------------------------------------ */

/* A flow to merge: a pointer and its merge rank. */
struct pending {
    const struct cflow *flow;   /* Not owned. */
    uint32_t rank;              /* Lower ranks come first among equal keys. */
};

/* qsort() comparison of struct pending: key, then rank. */
static int
pending_compare(const void *a_, const void *b_)
{
    const struct pending *a = a_;
    const struct pending *b = b_;
    int cmp = cflow_key_compare(a->flow, b->flow);
    if (cmp) {
        return cmp;
    }
    return a->rank < b->rank ? -1 : a->rank > b->rank;
}

/* One clause entry of some conjunction, for choosing bands. */
struct clause_ref {
    const struct cflow_match *match;  /* Not owned. */
    uint8_t table;              /* Rule table. */
    uint32_t id;                /* Conjunction id. */
};

/* qsort() comparison of struct clause_ref: table, match, id. */
static int
clause_ref_compare(const void *a_, const void *b_)
{
    const struct clause_ref *a = a_;
    const struct clause_ref *b = b_;
    if (a->table != b->table) {
        return a->table < b->table ? -1 : 1;
    }
    int cmp = match_qsort_compare(a->match, b->match);
    if (cmp) {
        return cmp;
    }
    return a->id < b->id ? -1 : a->id > b->id;
}

/* Returns the band of conjunction 'id' among 'n_bands'. */
static unsigned
conj_band(uint32_t id, unsigned n_bands)
{
    return cf_hash_u32(id, 0) % n_bands;
}

/* Chooses the number of bands for each rule table ('n_bands', indexed by
 * table) so that no merged clause flow carries more than
 * CFLOW_MAX_CONJUNCTIONS conjunctions. */
static void
choose_bands(struct cf_policy_flows *const *pfs, size_t n_pfs,
             unsigned n_bands[CFLOW_N_TABLES])
{
    struct clause_ref *refs = NULL;
    size_t n = 0, allocated = 0;

    for (size_t t = 0; t < CFLOW_N_TABLES; t++) {
        n_bands[t] = N_BANDS_INITIAL;
    }
    for (size_t i = 0; i < n_pfs; i++) {
        for (size_t j = 0; pfs[i] && j < pfs[i]->n_conjs; j++) {
            const struct pf_conj *conj = &pfs[i]->conjs[j];
            for (size_t k = 0; k < conj->n; k++) {
                if (n >= allocated) {
                    refs = cf_x2nrealloc(refs, &allocated, sizeof *refs);
                }
                refs[n].match = &conj->matches[k];
                refs[n].table = conj->table;
                refs[n].id = conj->id;
                n++;
            }
        }
    }
    if (n <= CFLOW_MAX_CONJUNCTIONS) {
        free(refs);
        return;
    }
    qsort(refs, n, sizeof *refs, clause_ref_compare);

    unsigned *counts = NULL;
    for (size_t start = 0; start < n; ) {
        size_t end = start + 1;
        while (end < n && refs[end].table == refs[start].table
               && !match_qsort_compare(refs[end].match, refs[start].match)) {
            end++;
        }
        if (end - start > CFLOW_MAX_CONJUNCTIONS) {
            uint8_t t = refs[start].table;
            for (;;) {
                unsigned nb = n_bands[t];
                counts = cf_xrealloc(counts, nb * sizeof *counts);
                memset(counts, 0, nb * sizeof *counts);
                bool over = false;
                for (size_t i = start; i < end; i++) {
                    if (++counts[conj_band(refs[i].id, nb)]
                        > CFLOW_MAX_CONJUNCTIONS) {
                        over = true;
                        break;
                    }
                }
                if (!over || nb >= N_BANDS_MAX) {
                    break;
                }
                n_bands[t] = nb * 2;
            }
        }
        start = end;
    }
    free(counts);
    free(refs);
}

/* Appends to 'set' the fixed pipeline flows and the per-port classify
 * flows of 'node' with 'ports' and local pods 'locals'. */
static void
add_pipeline(const struct cf_node *node, const struct cf_node_ports *ports,
             const struct local_pod *locals, size_t n_locals,
             struct cflow_set *set)
{
    uint64_t infra = cflow_cookie(0, CFLOW_DIR_NONE, 0, CFLOW_KIND_PIPELINE);
    uint64_t pod_cookie = cflow_cookie(0, CFLOW_DIR_NONE, 0, CFLOW_KIND_POD);
    uint64_t node_cookie = cflow_cookie(0, CFLOW_DIR_NONE, 0,
                                        CFLOW_KIND_NODE);
    struct cflow_action a;
    struct cflow *f;

#define ACTION(TYPE, ...)                                       \
    do {                                                        \
        memset(&a, 0, sizeof a);                                \
        a.type = TYPE;                                          \
        __VA_ARGS__;                                            \
        cflow_add_action(f, &a);                                \
    } while (0)
#define GOTO(T) ACTION(CFLOW_A_GOTO, a.table = (T))

    /* classify: pods may send their own MAC and IP only. */
    for (size_t i = 0; i < n_locals; i++) {
        const struct cf_binding *b = locals[i].binding;
        f = cflow_set_add(set, CFLOW_T_CLASSIFY, 100, pod_cookie);
        f->match.fields = CFLOW_F_IN_PORT | CFLOW_F_DL_TYPE | CFLOW_F_NW_SRC;
        f->match.in_port = b->ofport;
        f->match.dl_type = 0x0800;
        f->match.nw_src = locals[i].ip;
        f->match.nw_src_mask = UINT32_MAX;
        if (b->has_mac) {
            f->match.fields |= CFLOW_F_DL_SRC;
            memcpy(f->match.dl_src, b->mac, 6);
        }
        ACTION(CFLOW_A_LOAD_REG, a.reg = 0; a.value = 1; a.mask = 1);
        GOTO(CFLOW_T_CONNTRACK);

        f = cflow_set_add(set, CFLOW_T_CLASSIFY, 100, pod_cookie);
        f->match.fields = CFLOW_F_IN_PORT | CFLOW_F_DL_TYPE | CFLOW_F_ARP_SPA;
        f->match.in_port = b->ofport;
        f->match.dl_type = 0x0806;
        f->match.arp_spa = locals[i].ip;
        if (b->has_mac) {
            f->match.fields |= CFLOW_F_DL_SRC | CFLOW_F_ARP_SHA;
            memcpy(f->match.dl_src, b->mac, 6);
            memcpy(f->match.arp_sha, b->mac, 6);
        }
        GOTO(CFLOW_T_FORWARD);
    }
    /* Uplinks and LOCAL pass. */
    for (size_t i = 0; i <= ports->n_uplinks; i++) {
        uint32_t port = i < ports->n_uplinks ? ports->uplinks[i]
                                             : CFLOW_PORT_LOCAL;
        f = cflow_set_add(set, CFLOW_T_CLASSIFY, 90, infra);
        f->match.fields = CFLOW_F_IN_PORT | CFLOW_F_DL_TYPE;
        f->match.in_port = port;
        f->match.dl_type = 0x0806;
        GOTO(CFLOW_T_FORWARD);
        f = cflow_set_add(set, CFLOW_T_CLASSIFY, 80, infra);
        f->match.fields = CFLOW_F_IN_PORT;
        f->match.in_port = port;
        if (port == CFLOW_PORT_LOCAL) {
            /* Only the node itself may claim the node's addresses. */
            ACTION(CFLOW_A_LOAD_REG, a.reg = 0; a.value = 4; a.mask = 4);
        }
        GOTO(CFLOW_T_CONNTRACK);
    }
    f = cflow_set_add(set, CFLOW_T_CLASSIFY, 0, infra);
    ACTION(CFLOW_A_DROP, (void) 0);

    /* conntrack: SCTP skips it (see cflow.h); other IPv4 is tracked in
     * the node's zone; anything else drops. */
    f = cflow_set_add(set, CFLOW_T_CONNTRACK, 100, infra);
    match_port(&f->match, CF_PROTO_SCTP, 0, 0);
    ACTION(CFLOW_A_RESUBMIT, a.table = CFLOW_T_SCTP_REPLY);
    GOTO(CFLOW_T_CT_STATE);
    f = cflow_set_add(set, CFLOW_T_CONNTRACK, 90, infra);
    f->match.fields = CFLOW_F_DL_TYPE;
    f->match.dl_type = 0x0800;
    ACTION(CFLOW_A_CT, a.table = CFLOW_T_CT_STATE; a.zone = node->id);
    f = cflow_set_add(set, CFLOW_T_CONNTRACK, 0, infra);
    ACTION(CFLOW_A_DROP, (void) 0);

    /* ct_state. */
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 300, infra);
    match_port(&f->match, CF_PROTO_SCTP, 0, 0);
    f->match.fields |= CFLOW_F_REG0;
    f->match.reg0 = 2;
    f->match.reg0_mask = 2;
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 290, infra);
    match_port(&f->match, CF_PROTO_SCTP, 0, 0);
    f->match.fields |= CFLOW_F_REG0;
    f->match.reg0 = 1;
    f->match.reg0_mask = 1;
    GOTO(CFLOW_T_EGRESS_RULES);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 280, infra);
    match_port(&f->match, CF_PROTO_SCTP, 0, 0);
    GOTO(CFLOW_T_INGRESS_RULES);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 200, infra);
    f->match.fields = CFLOW_F_CT_STATE;
    f->match.ct_state = CFLOW_CS_INV | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_INV | CFLOW_CS_TRK;
    ACTION(CFLOW_A_DROP, (void) 0);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 190, infra);
    f->match.fields = CFLOW_F_CT_STATE;
    f->match.ct_state = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 180, infra);
    f->match.fields = CFLOW_F_CT_STATE;
    f->match.ct_state = CFLOW_CS_REL | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_REL | CFLOW_CS_TRK;
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 100, infra);
    f->match.fields = CFLOW_F_REG0;
    f->match.reg0 = 1;
    f->match.reg0_mask = 1;
    GOTO(CFLOW_T_EGRESS_RULES);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 0, infra);
    GOTO(CFLOW_T_INGRESS_RULES);

    /* Rule tables: node addresses first, misses last. */
    for (size_t i = 0; i < node->n_addrs; i++) {
        if (node->addrs[i].family != 4) {
            continue;
        }
        uint32_t ip = cf_addr_ipv4(&node->addrs[i]);
        f = cflow_set_add(set, CFLOW_T_EGRESS_RULES, PRIO_NODE, node_cookie);
        match_ip(&f->match, false, ip, 32);
        GOTO(CFLOW_T_INGRESS_RULES);
        f = cflow_set_add(set, CFLOW_T_INGRESS_RULES, PRIO_NODE,
                          node_cookie);
        match_ip(&f->match, true, ip, 32);
        f->match.fields |= CFLOW_F_REG0;
        f->match.reg0 = 4;
        f->match.reg0_mask = 4;
        GOTO(CFLOW_T_COMMIT);
    }
    f = cflow_set_add(set, CFLOW_T_EGRESS_RULES, 0, infra);
    GOTO(CFLOW_T_EGRESS_ISOLATION);
    f = cflow_set_add(set, CFLOW_T_EGRESS_ISOLATION, 0, infra);
    GOTO(CFLOW_T_INGRESS_RULES);
    f = cflow_set_add(set, CFLOW_T_INGRESS_RULES, 0, infra);
    GOTO(CFLOW_T_INGRESS_ISOLATION);
    f = cflow_set_add(set, CFLOW_T_INGRESS_ISOLATION, 0, infra);
    GOTO(CFLOW_T_COMMIT);

    /* commit: learn SCTP replies; commit new connections. */
    f = cflow_set_add(set, CFLOW_T_COMMIT, 110, infra);
    match_port(&f->match, CF_PROTO_SCTP, 0, 0);
    ACTION(CFLOW_A_LEARN_SCTP_REPLY, a.table = CFLOW_T_SCTP_REPLY;
           a.value = SCTP_REPLY_IDLE_TIMEOUT);
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_COMMIT, 100, infra);
    f->match.fields = CFLOW_F_DL_TYPE | CFLOW_F_CT_STATE;
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_NEW | CFLOW_CS_TRK;
    ACTION(CFLOW_A_CT_COMMIT, a.zone = node->id);
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_COMMIT, 0, infra);
    GOTO(CFLOW_T_FORWARD);

    /* forward. */
    f = cflow_set_add(set, CFLOW_T_FORWARD, 0, infra);
    ACTION(CFLOW_A_NORMAL, (void) 0);
#undef GOTO
#undef ACTION
}

/* Appends to 'set' the clause flows and conj_id flows of every conjunction
 * in 'pfs', at their bands' priorities. */
static void
add_conjunctions(struct cf_policy_flows *const *pfs, size_t n_pfs,
                 const unsigned n_bands[CFLOW_N_TABLES],
                 struct cflow_set *set, struct u32_vec *ranks)
{
    for (size_t i = 0; i < n_pfs; i++) {
        for (size_t j = 0; pfs[i] && j < pfs[i]->n_conjs; j++) {
            const struct pf_conj *conj = &pfs[i]->conjs[j];
            uint16_t prio = PRIO_BAND + conj_band(conj->id,
                                                  n_bands[conj->table]);
            uint64_t clause_cookie = ((conj->cookie & ~0xffffULL)
                                      | CFLOW_KIND_CLAUSE);
            for (size_t k = 0; k < conj->n; k++) {
                struct cflow *f = cflow_set_add(set, conj->table, prio,
                                                clause_cookie);
                f->match = conj->matches[k];
                struct cflow_action a;
                memset(&a, 0, sizeof a);
                a.type = CFLOW_A_CONJUNCTION;
                a.id = conj->id;
                a.clause = conj->clauses[k];
                a.n_clauses = conj->n_clauses;
                cflow_add_action(f, &a);
                u32_vec_push(ranks, conj->id);
            }
            struct cflow *f = cflow_set_add(set, conj->table, prio,
                                            conj->cookie);
            f->match.fields = CFLOW_F_CONJ_ID;
            f->match.conj_id = conj->id;
            add_allow_actions(f, conj->reg, conj->id, conj->next_table);
            u32_vec_push(ranks, conj->id);
        }
    }
}

/* True if every action of 'flow' is a conjunction() (a clause flow). */
static bool
is_clause_flow(const struct cflow *flow)
{
    return flow->n_actions && flow->actions[0].type == CFLOW_A_CONJUNCTION;
}

/* See compiler.h. */
char *
cf_compiler_merge(struct cf_compiler *c, const struct cf_node *node,
                  const struct cf_node_ports *ports,
                  struct cf_policy_flows *const *pfs, size_t n_pfs,
                  struct cflow_set *out)
{
    if (!node->id || node->id > 65535) {
        return cf_xasprintf("node %s: no valid id (%"PRIu32"): conntrack "
                            "zones need ids 1..65535", node->name, node->id);
    }
    for (size_t i = 0; i < n_pfs; i++) {
        const struct cf_policy *p = pfs[i] ? pfs[i]->policy : NULL;
        if (p && (!p->id || p->id > CF_MAX_POLICY_ID)) {
            return cf_xasprintf("networkpolicy %s/%s: no valid id "
                                "(%"PRIu32")", p->ns, p->name, p->id);
        }
    }

    struct local_pod *locals;
    size_t n_locals;
    collect_locals(c, ports, &locals, &n_locals);

    struct cflow_set extra;
    struct u32_vec extra_ranks = { NULL, 0, 0 };
    cflow_set_init(&extra);
    add_pipeline(node, ports, locals, n_locals, &extra);
    free(locals);
    while (extra_ranks.n < extra.n) {
        u32_vec_push(&extra_ranks, 0);
    }
    unsigned n_bands[CFLOW_N_TABLES];
    choose_bands(pfs, n_pfs, n_bands);
    add_conjunctions(pfs, n_pfs, n_bands, &extra, &extra_ranks);

    size_t n = extra.n;
    for (size_t i = 0; i < n_pfs; i++) {
        n += pfs[i] ? pfs[i]->flows.n : 0;
    }
    struct pending *pend = cf_xcalloc(n ? n : 1, sizeof *pend);
    size_t k = 0;
    for (size_t i = 0; i < extra.n; i++) {
        pend[k].flow = &extra.flows[i];
        pend[k].rank = extra_ranks.v[i];
        k++;
    }
    for (size_t i = 0; i < n_pfs; i++) {
        for (size_t j = 0; pfs[i] && j < pfs[i]->flows.n; j++) {
            pend[k].flow = &pfs[i]->flows.flows[j];
            pend[k].rank = pfs[i]->ranks.v[j];
            k++;
        }
    }
    qsort(pend, n, sizeof *pend, pending_compare);

    for (size_t start = 0; start < n; ) {
        size_t end = start + 1;
        while (end < n && !cflow_key_compare(pend[end].flow,
                                             pend[start].flow)) {
            end++;
        }
        const struct cflow *first = pend[start].flow;
        struct cflow *f = cflow_set_add(out, first->table, first->priority,
                                        first->cookie);
        f->match = first->match;
        if (is_clause_flow(first)) {
            const struct cflow_action *last = NULL;
            for (size_t i = start; i < end; i++) {
                const struct cflow *g = pend[i].flow;
                for (size_t j = 0; j < g->n_actions; j++) {
                    const struct cflow_action *a = &g->actions[j];
                    if (a->type != CFLOW_A_CONJUNCTION
                        || (last && last->id == a->id
                            && last->clause == a->clause)) {
                        continue;
                    }
                    cflow_add_action(f, a);
                    last = a;
                }
            }
        } else {
            for (size_t j = 0; j < first->n_actions; j++) {
                cflow_add_action(f, &first->actions[j]);
            }
        }
        start = end;
    }
    free(pend);
    cflow_set_destroy(&extra);
    u32_vec_destroy(&extra_ranks);
    return NULL;
}

/* qsort() comparison of (policy index, local index) pairs. */
static int
pair_compare(const void *a_, const void *b_)
{
    const uint32_t *a = a_;
    const uint32_t *b = b_;
    if (a[0] != b[0]) {
        return a[0] < b[0] ? -1 : 1;
    }
    return a[1] < b[1] ? -1 : a[1] > b[1];
}

/* See compiler.h.  Groups the node's local pods by the policies selecting
 * them, compiles each policy's contribution, and merges. */
char *
cf_compiler_node_flows(struct cf_compiler *c, const struct cf_node *node,
                       const struct cf_node_ports *ports,
                       struct cflow_set *out)
{
    struct local_pod *locals;
    size_t n_locals;
    collect_locals(c, ports, &locals, &n_locals);

    /* (policy, local) pairs, sorted by policy. */
    uint32_t (*pairs)[2] = NULL;
    size_t n_pairs = 0, allocated_pairs = 0;
    for (size_t i = 0; i < n_locals; i++) {
        const struct u32_vec *pols = &c->pod_policies[locals[i].pod];
        for (size_t j = 0; j < pols->n; j++) {
            if (n_pairs >= allocated_pairs) {
                pairs = cf_x2nrealloc(pairs, &allocated_pairs,
                                      sizeof *pairs);
            }
            pairs[n_pairs][0] = pols->v[j];
            pairs[n_pairs][1] = i;
            n_pairs++;
        }
    }
    if (n_pairs > 1) {
        qsort(pairs, n_pairs, sizeof *pairs, pair_compare);
    }

    struct cf_policy_flows **pfs = cf_xcalloc(n_pairs ? n_pairs : 1,
                                              sizeof *pfs);
    size_t n_pfs = 0;
    struct local_pod *sel = cf_xcalloc(n_locals ? n_locals : 1,
                                       sizeof *sel);
    for (size_t start = 0; start < n_pairs; ) {
        size_t end = start;
        size_t n_sel = 0;
        while (end < n_pairs && pairs[end][0] == pairs[start][0]) {
            if (!n_sel || sel[n_sel - 1].pod != locals[pairs[end][1]].pod) {
                sel[n_sel++] = locals[pairs[end][1]];
            }
            end++;
        }
        pfs[n_pfs++] = compile_policy(c, pairs[start][0], sel, n_sel);
        start = end;
    }
    free(sel);
    free(pairs);
    free(locals);

    size_t old_n = out->n;
    char *error = cf_compiler_merge(c, node, ports, pfs, n_pfs, out);
    if (error) {
        while (out->n > old_n) {
            free(out->flows[--out->n].actions);
        }
    }
    for (size_t i = 0; i < n_pfs; i++) {
        cf_policy_flows_destroy(pfs[i]);
    }
    free(pfs);
    return error;
}
