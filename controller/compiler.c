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
 * is cf_hash_u32(conj_id) % n_bands, with n_bands = 1 doubled while any
 * merged clause flow would carry more than CFLOW_MAX_CONJUNCTIONS
 * conjunction() actions; n_bands is chosen per (node, table), so it depends
 * only on the input.  All clauses of a conjunction and its conj_id flow sit
 * at its band's priority.  One band is the usual case: every rule's clause
 * on the same address, pod or port is then one flow (5,000 rules over 500
 * pods: 13.5k flows, against 31k with 16 bands), and vswitchd installs
 * fewer, longer flows much faster.
 *
 * Merging: clause flows with the same (table, priority, match) are one flow
 * with every conjunction() action, sorted by conjunction id; the merged
 * flow carries the cookie of its lowest conjunction id's rule (a rule's
 * conj_id flow always carries the rule's own cookie).  Identical plain
 * flows of several rules keep the one with the lowest conjunction id.
 *
 * Isolation: a local pod selected by some policy with Ingress (Egress) in
 * its policyTypes gets a deny flow in ingress_isolation (egress_isolation):
 * it sets reg0 bit 5 and goes to commit, whose pipeline flows drop the
 * packet and remember the verdict in conntrack where another node may hold
 * the connection as allowed (cflow.h, "Cross-node state").
 * A bound port whose pod is unknown, host-network or without an IPv4
 * address gets no flow in classify, so its traffic drops there.
 *
 * A node cache (cf_compiler_node_flows_cached()) merges incrementally
 * instead: see compiler-cache.c.
 */
#include "conjflow-config.h"

#include "conjflow/compiler.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "compiler-private.h"
#include "conjflow/cfutil.h"

/* Idle timeout of learned SCTP reply flows, in seconds. */
#define SCTP_REPLY_IDLE_TIMEOUT 120

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
    c->n_policies = np;
    c->n_pods = cluster->n_pods;
    /* Per pod, the policies selecting it: counted, then filled in policy
     * order (two arrays for all pods, not one vector each). */
    uint32_t *start = cf_xcalloc(cluster->n_pods + 1, sizeof *start);
    size_t total = 0;
    for (uint32_t i = 0; i < np; i++) {
        const struct cf_policy *p = cluster->policies[i];
        const struct u32_vec *sel = compiler_select_pods(c, p->ns,
                                                         &p->pod_sel);
        c->policies[i].selected = sel;
        c->policies[i].n_ingress = p->n_ingress;
        c->policies[i].n_egress = p->n_egress;
        for (size_t j = 0; j < sel->n; j++) {
            start[sel->v[j] + 1]++;
        }
        total += sel->n;
    }
    for (size_t k = 0; k < cluster->n_pods; k++) {
        start[k + 1] += start[k];
    }
    uint32_t *next = cf_xmalloc((cluster->n_pods + 1) * sizeof *next);
    memcpy(next, start, (cluster->n_pods + 1) * sizeof *next);
    c->pod_pol = cf_xmalloc((total ? total : 1) * sizeof *c->pod_pol);
    for (uint32_t i = 0; i < np; i++) {
        const struct u32_vec *sel = c->policies[i].selected;
        for (size_t j = 0; j < sel->n; j++) {
            c->pod_pol[next[sel->v[j]]++] = i;
        }
    }
    free(next);
    c->pod_pol_start = start;
    return c;
}

/* Frees the caches of 'n' rules in 'rules'. */
static void
rule_caches_destroy(struct rule_cache *rules, size_t n)
{
    for (size_t i = 0; rules && i < n; i++) {
        u32_vec_destroy(&rules[i].named_pods);
    }
    free(rules);
}

/* Frees 'c' (not the cluster, which it does not read: the cluster may be
 * gone or changed already).  Accepts NULL. */
void
cf_compiler_destroy(struct cf_compiler *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < c->n_policies; i++) {
        rule_caches_destroy(c->policies[i].ingress,
                            c->policies[i].n_ingress);
        rule_caches_destroy(c->policies[i].egress,
                            c->policies[i].n_egress);
    }
    free(c->policies);
    free(c->pod_pol_start);
    free(c->pod_pol);
    while (c->arena) {
        struct arena_chunk *next = c->arena->next;
        free(c->arena);
        c->arena = next;
    }
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

/* Returns 'size' zeroed bytes, pointer-aligned, from the arena of 'c'
 * (freed with 'c'). */
static void *
compiler_arena_zalloc(struct cf_compiler *c, size_t size)
{
    size = (size + sizeof (void *) - 1) & ~(sizeof (void *) - 1);
    struct arena_chunk *chunk = c->arena;
    if (!chunk || chunk->size - chunk->used < size) {
        size_t data_size = CF_MAX(size, 65536 - sizeof *chunk);
        chunk = cf_xzalloc(sizeof *chunk + data_size);
        chunk->size = data_size;
        chunk->next = c->arena;
        c->arena = chunk;
    }
    void *p = (char *) chunk->data + chunk->used;
    chunk->used += size;
    return p;
}

/* Fills in 'rc' the pods and memo keys of the selector peers of 'rule' of
 * policy 'p', once. */
void
compiler_rule_peers_get(struct cf_compiler *c, const struct cf_policy *p,
                        const struct cf_rule *rule, struct rule_cache *rc,
                        char *const *known_keys)
{
    if (rc->have_peers) {
        return;
    }
    rc->have_peers = true;
    size_t n = rule->n_peers ? rule->n_peers : 1;
    void **both = compiler_arena_zalloc(c, 2 * n * sizeof *both);
    rc->peer_pods = (const struct u32_vec **) both;
    rc->peer_keys = (const char **) (both + n);
    for (size_t i = 0; i < rule->n_peers; i++) {
        const struct cf_peer *peer = &rule->peers[i];
        if (peer->has_ipblock) {
            continue;
        }
        rc->peer_pods[i] = (known_keys && known_keys[i]
                            ? compiler_peer_pods_by_key(c, p->ns, peer,
                                                        known_keys[i],
                                                        &rc->peer_keys[i])
                            : compiler_peer_pods_key(c, p->ns, peer,
                                                     &rc->peer_keys[i]));
    }
}

/* Returns the peer address set of 'rule' of policy 'p' (normalized CIDRs),
 * computing it once per distinct list of peers (rules with the same peers
 * share it). */
static const struct cidr4_vec *
rule_peer_addrs(struct cf_compiler *c, const struct cf_policy *p,
                const struct cf_rule *rule, struct rule_cache *rc)
{
    if (rc->have_addrs) {
        return rc->addrs;
    }
    rc->have_addrs = true;
    compiler_rule_peers_get(c, p, rule, rc, NULL);

    /* The memo key: each peer's canonical text, or an ipBlock's CIDRs. */
    struct cf_ds *key = &c->scratch;
    cf_ds_clear(key);
    size_t n_addrs = 0;
    for (size_t i = 0; i < rule->n_peers; i++) {
        const struct cf_peer *peer = &rule->peers[i];
        if (peer->has_ipblock) {
            const struct cf_ipblock *b = &peer->ipblock;
            cf_ds_put_format(key, "B%u/%u", (unsigned) b->cidr.addr.family,
                             (unsigned) b->cidr.plen);
            for (size_t j = 0; j < 16; j++) {
                cf_ds_put_format(key, "%02x", b->cidr.addr.bytes[j]);
            }
            for (size_t k = 0; k < b->n_except; k++) {
                const struct cf_cidr *ex = &b->except[k];
                cf_ds_put_format(key, "-%u/%u", (unsigned) ex->addr.family,
                                 (unsigned) ex->plen);
                for (size_t j = 0; j < 16; j++) {
                    cf_ds_put_format(key, "%02x", ex->addr.bytes[j]);
                }
            }
            n_addrs += 1 + b->n_except;
        } else {
            cf_ds_put_char(key, 'S');
            cf_ds_put_cstr(key, rc->peer_keys[i]);
            n_addrs += rc->peer_pods[i]->n;
        }
        cf_ds_put_char(key, '\4');
    }
    struct cidr4_vec **slot = (struct cidr4_vec **) cf_smap_slot(
        &c->addrs_memo, cf_ds_cstr(key));
    if (*slot) {
        rc->addrs = *slot;
        return rc->addrs;
    }
    struct cidr4_vec *addrs = cf_xzalloc(sizeof *addrs);
    *slot = addrs;
    rc->addrs = addrs;
    addrs->allocated = n_addrs ? n_addrs : 1;
    addrs->v = cf_xmalloc(addrs->allocated * sizeof *addrs->v);
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
            cidr4_difference(&block, b->except, b->n_except, addrs);
        } else {
            const struct u32_vec *pods = rc->peer_pods[i];
            for (size_t j = 0; j < pods->n; j++) {
                uint32_t ip = c->pod_ip[pods->v[j]];
                if (ip) {
                    cidr4_vec_push(addrs, ip, 32);
                }
            }
        }
    }
    cidr4_vec_normalize(addrs);
    return addrs;
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

/* Makes room in 'd' for 'n' more matches. */
static void
dim_reserve(struct dim *d, size_t n)
{
    if (d->n + n > d->allocated) {
        d->allocated = d->n + n;
        d->m = cf_xrealloc(d->m, (d->allocated ? d->allocated : 1)
                           * sizeof *d->m);
    }
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

/* See compiler-private.h. */
void
compiler_peer_match(struct cflow_match *m, uint8_t table, uint32_t ip)
{
    memset(m, 0, sizeof *m);
    match_ip(m, table == CFLOW_T_INGRESS_RULES, ip, 32);
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

/* qsort() comparison of matches: cflow_match_compare(), the order
 * cflow_key_compare() gives flows that differ only in their matches. */
int
compiler_match_qsort_compare(const void *a, const void *b)
{
    return cflow_match_compare(a, b);
}

/* Sorts 'd' and removes duplicate matches. */
static void
dim_sort_unique(struct dim *d)
{
    if (d->n < 2) {
        return;
    }
    /* Often already sorted and unique (addresses come normalized). */
    size_t sorted = 1;
    while (sorted < d->n
           && compiler_match_qsort_compare(&d->m[sorted - 1],
                                           &d->m[sorted]) < 0) {
        sorted++;
    }
    if (sorted == d->n) {
        return;
    }
    qsort(d->m, d->n, sizeof *d->m, compiler_match_qsort_compare);
    size_t n = 1;
    for (size_t i = 1; i < d->n; i++) {
        if (compiler_match_qsort_compare(&d->m[n - 1], &d->m[i])) {
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
        if (!pf->conjs[i].lent) {
            free(pf->conjs[i].rest);
        }
        conj_block_unref(pf->conjs[i].c1);
    }
    free(pf->conjs);
    u32_vec_destroy(&pf->local_ips);
    for (size_t i = 0; i < pf->n_peer_keys; i++) {
        free(pf->peer_keys[i]);
    }
    free(pf->peer_keys);
    free(pf->peer_recs);
    free(pf->uniq_recs);
    free(pf->looked);
    if (pf->snapshot) {
        cf_policy_destroy(pf->snapshot);
    }
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
        n += pf_conj_n(&pf->conjs[i]) + 1;
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

/* Adds to 'flow' (an allow flow of a policy with audit logging on) the
 * mark that makes commit send new connections to conjflowd: reg0 bit 3
 * (see cflow.h).  Must come before the allow actions (goto is last). */
static void
add_log_mark(struct cflow *flow)
{
    struct cflow_action a;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_LOAD_REG;
    a.reg = 0;
    a.value = 8;
    a.mask = 8;
    cflow_add_action(flow, &a);
}

/* See compiler.h. */
void
cf_compiler_set_log_denies(struct cf_compiler *c, bool log_denies)
{
    c->log_denies = log_denies;
}

/* See compiler.h. */
void
cf_compiler_set_generation(struct cf_compiler *c, uint64_t gen, bool follows)
{
    c->gen = gen;
    c->follows = follows;
}

/* See compiler.h. */
void
cf_compiler_note_policy_change(struct cf_compiler *c, const char *ns,
                               const char *name)
{
    cf_ds_clear(&c->scratch);
    cf_ds_put_joined(&c->scratch, ns, '/', name);
    *cf_smap_slot(&c->changed, cf_ds_cstr(&c->scratch)) = c;
}

/* Emits the flows of one rule part with conjunction id 'id' whose
 * non-omitted dimensions are the 'n_dims' in 'dims' (in clause order):
 * nothing if a dimension is empty, plain flows for one dimension, a
 * conjunction for more (whose clause 1 is shared through 'blocks', if
 * nonnull). */
static void
emit_rule_part(struct cf_policy_flows *pf, enum cflow_dir dir, unsigned rule,
               uint32_t id, struct dim *dims, size_t n_dims,
               struct conj_blocks *blocks)
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
            if (p->log) {
                add_log_mark(f);
            }
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
    conj->log = p->log;
    struct conj_entry *c1 = cf_xcalloc(dims[0].n, sizeof *c1);
    for (size_t j = 0; j < dims[0].n; j++) {
        compiler_entry_from_match(&dims[0].m[j], 1, &c1[j]);
    }
    conj->c1 = conj_block_make(blocks, c1, dims[0].n);
    free(c1);
    for (size_t i = 1; i < n_dims; i++) {
        conj->n_rest += dims[i].n;
    }
    conj->rest = cf_xcalloc(conj->n_rest ? conj->n_rest : 1,
                            sizeof *conj->rest);
    size_t k = 0;
    for (size_t i = 1; i < n_dims; i++) {
        for (size_t j = 0; j < dims[i].n; j++) {
            compiler_entry_from_match(&dims[i].m[j], i + 1,
                                      &conj->rest[k++]);
        }
    }
}

/* See compiler-private.h. */
void
compiler_entry_match(const struct conj_entry *e, struct cflow_match *m)
{
    memset(m, 0, sizeof *m);
    if (e->flags & (CE_SRC | CE_DST)) {
        match_ip(m, e->flags & CE_SRC, e->addr, e->plen);
    }
    if (e->flags & CE_PROTO) {
        match_port(m, e->proto, e->tp_dst,
                   e->flags & CE_TP ? e->tp_dst_mask : 0);
    }
    if (!e->flags) {
        match_ip(m, false, 0, 0);      /* "ip": a /0 peer. */
    }
}

/* See compiler-private.h. */
void
compiler_entry_from_match(const struct cflow_match *m, uint8_t clause,
                          struct conj_entry *e)
{
    memset(e, 0, sizeof *e);
    e->clause = clause;
    uint32_t rest = m->fields & ~(CFLOW_F_DL_TYPE | CFLOW_F_NW_SRC
                                  | CFLOW_F_NW_DST | CFLOW_F_NW_PROTO
                                  | CFLOW_F_TP_DST);
    cf_assert(!rest && m->dl_type == 0x0800
              && (m->fields & CFLOW_F_DL_TYPE)
              && !((m->fields & CFLOW_F_NW_SRC)
                   && (m->fields & CFLOW_F_NW_DST)));
    if (m->fields & (CFLOW_F_NW_SRC | CFLOW_F_NW_DST)) {
        bool src = m->fields & CFLOW_F_NW_SRC;
        uint32_t mask = src ? m->nw_src_mask : m->nw_dst_mask;
        e->flags |= src ? CE_SRC : CE_DST;
        e->addr = src ? m->nw_src : m->nw_dst;
        e->plen = 32 - __builtin_ctz(mask);
        cf_assert(mask && cidr4_mask(e->plen) == mask);
    }
    if (m->fields & CFLOW_F_NW_PROTO) {
        e->flags |= CE_PROTO;
        e->proto = m->nw_proto;
        if (m->fields & CFLOW_F_TP_DST) {
            e->flags |= CE_TP;
            e->tp_dst = m->tp_dst;
            e->tp_dst_mask = m->tp_dst_mask;
        }
    } else {
        cf_assert(!(m->fields & CFLOW_F_TP_DST));
    }
}

/* Returns the CFLOW_F_* fields of the match of entry 'e'. */
static uint32_t
entry_fields(const struct conj_entry *e)
{
    return (CFLOW_F_DL_TYPE
            | (e->flags & CE_SRC ? CFLOW_F_NW_SRC : 0)
            | (e->flags & CE_DST ? CFLOW_F_NW_DST : 0)
            | (e->flags & CE_PROTO ? CFLOW_F_NW_PROTO : 0)
            | (e->flags & CE_TP ? CFLOW_F_TP_DST : 0));
}

/* See compiler-private.h. */
int
compiler_entry_compare(const struct conj_entry *a, const struct conj_entry *b)
{
    if (a->clause != b->clause) {
        return a->clause < b->clause ? -1 : 1;
    }
    /* cflow_match_compare() on the entries' matches, without building
     * them: the fields present, then nw_proto, nw_src and its mask, nw_dst
     * and its mask, tp_dst and its mask. */
    uint32_t fa = entry_fields(a), fb = entry_fields(b);
    if (fa != fb) {
        return fa < fb ? -1 : 1;
    }
    if ((a->flags & CE_PROTO) && a->proto != b->proto) {
        return a->proto < b->proto ? -1 : 1;
    }
    if (a->flags & (CE_SRC | CE_DST)) {
        if (a->addr != b->addr) {
            return a->addr < b->addr ? -1 : 1;
        }
        if (a->plen != b->plen) {
            return a->plen < b->plen ? -1 : 1;   /* Longer: larger mask. */
        }
    }
    if (a->flags & CE_TP) {
        if (a->tp_dst != b->tp_dst) {
            return a->tp_dst < b->tp_dst ? -1 : 1;
        }
        if (a->tp_dst_mask != b->tp_dst_mask) {
            return a->tp_dst_mask < b->tp_dst_mask ? -1 : 1;
        }
    }
    return 0;
}

/* ---- Reuse of rules -----------------------------------------------------
 *
 * Compiling for a node cache, a rule's conjunction from the policy's last
 * contribution to the node is reused instead of being built again when
 * nothing it is made of can have changed:
 *   - the policy is equal to the copy kept with the last contribution
 *     (rules, id, logging: cookies, conjunction ids, ports, ipBlocks);
 *   - the local pods are the same addresses in the same order;
 *   - the rule has no named port (those resolve against pods' ports);
 *   - each selector peer selects pods with the same addresses, in the same
 *     order, as at the cache's last compilation: the cache keeps, per peer
 *     selection (its memo key), the addresses it gave then, and every
 *     compilation refreshes the selections of every rule it compiles, so a
 *     contribution kept in the cache was made with the recorded addresses.
 * The rule's address set is a function of those addresses and its
 * ipBlocks, so its flows are the same.  A reused conjunction's entries move
 * to the new contribution (the old one is marked 'lent'), and the merge
 * skips comparing them.
 *
 * When only the selections changed, by a few addresses (a pod came, went,
 * or changed its IP or labels), and every peer of the rule is a selector,
 * the rule's conjunction is patched instead (patch_conj()): the cache
 * keeps each selection's addresses of the last compilation as well, an
 * address is in the rule's set iff some peer selects it, so the addresses
 * that enter or leave the set are known, and the last conjunction with
 * those peer entries added or removed is exactly what compiling the rule
 * again gives.  The merge then updates just those entries. */

/* How compile_policy() may reuse a last contribution. */
struct reuse {
    struct cf_node_cache *cache;    /* The node cache (peer records). */
    struct cf_policy_flows *old;    /* The policy's last contribution, if
                                     * its policy and local pods are the
                                     * same, else NULL. */
    char *const *peer_keys;     /* The peers' memo keys, if the policy is
                                 * the same as last time (see struct
                                 * cf_policy_flows), else NULL. */
    size_t n_peer_keys;
    struct peer_rec **peer_recs;    /* With 'peer_keys', the cache's
                                     * records of those peers, valid (see
                                     * struct cf_policy_flows), or NULL. */
};

/* Returns the record pointers in 'ru' of the 'n' peers from the 'ofs'th
 * (see struct reuse), or NULL. */
static struct peer_rec **
reuse_recs(const struct reuse *ru, size_t ofs, size_t n)
{
    return (ru->peer_recs && ofs + n <= ru->n_peer_keys
            ? &ru->peer_recs[ofs] : NULL);
}

/* Moves the conjunction 'id' of 'old' to 'pf' if 'old' has it; if it has
 * not, the rule part gave nothing and gives nothing again.  Returns false
 * (nothing done) if the conjunction was already lent. */
static bool
reuse_conj(struct cf_policy_flows *pf, struct cf_policy_flows *old,
           uint32_t id)
{
    for (size_t i = 0; i < old->n_conjs; i++) {
        struct pf_conj *oc = &old->conjs[i];
        if (oc->id != id) {
            continue;
        }
        if (oc->lent) {
            return false;
        }
        if (pf->n_conjs >= pf->allocated_conjs) {
            pf->conjs = cf_x2nrealloc(pf->conjs, &pf->allocated_conjs,
                                      sizeof *pf->conjs);
        }
        pf->conjs[pf->n_conjs++] = *oc;
        pf->conjs[pf->n_conjs - 1].patch_base = NULL;
        conj_block_ref(oc->c1);
        oc->lent = true;
        return true;
    }
    return true;
}

/* cf_bsearch_pos() comparison of entries. */
static int
entry_bsearch_compare(const void *a, const void *b)
{
    return compiler_entry_compare(a, b);
}

/* See compiler-private.h. */
size_t
compiler_entry_bsearch(const struct conj_entry *e, size_t n,
                       const struct conj_entry *key, bool *found)
{
    return cf_bsearch_pos(e, n, sizeof *e, key, entry_bsearch_compare,
                          found);
}

/* Sets 'e' to the clause-1 entry of peer address 'ip' (a /32): the source
 * address in an ingress rule, the destination in an egress rule. */
static void
peer_entry(bool ingress, uint32_t ip, struct conj_entry *e)
{
    struct cflow_match m;
    memset(&m, 0, sizeof m);
    match_ip(&m, ingress, ip, 32);
    compiler_entry_from_match(&m, 1, e);
}

/* A patch planned for one conjunction: the peer addresses that enter or
 * leave a rule's address set (see plan_patch()). */
struct conj_patch {
    struct pf_conj *oc;         /* The last contribution's conjunction. */
    uint32_t ip[4];             /* The addresses... */
    uint8_t add;                /* ...and whether each enters the set (bit
                                 * k: 'ip[k]'). */
    size_t n;                   /* 0: the set is the same. */
};

/* Plans the patch of rule part 0 (conjunction 'id', no named ports) of a
 * rule whose selector peers changed: when every peer is a selector and the
 * cache knows what each selected at the last compilation, the rule's
 * address set changed only by the addresses that some peer gained or lost
 * (an address is in the set iff some peer selects a pod with it), so the
 * last conjunction with those few peer entries added or removed is what
 * compiling it again would give.  'recs' (or NULL) are the contribution's
 * records of the rule's peers; 'rc' may be NULL if they hold every
 * selector peer's.  Fills in '*pp' and returns true, or returns false if
 * the rule must be compiled in full.  Changes nothing. */
static bool
plan_patch(const struct reuse *ru, const struct cf_rule *rule,
           size_t n_peers, const struct rule_cache *rc,
           struct peer_rec *const *recs, bool ingress, uint32_t id,
           struct conj_patch *pp)
{
    enum { MAX_PEERS = 8 };
    const struct u32_vec *prev[MAX_PEERS], *now[MAX_PEERS], *delta;
    if (n_peers > MAX_PEERS) {
        return false;
    }
    uint32_t cand[CF_ARRAY_SIZE(pp->ip)];
    size_t n_cand = 0;
    for (size_t i = 0; i < n_peers; i++) {
        /* A record is a selector peer's: the rule's peers (cold memory)
         * need not be looked at then. */
        if (!(recs && recs[i]) && rule->peers[i].has_ipblock) {
            return false;
        }
        bool known = (recs && recs[i]
                      ? compiler_cache_rec_sets(ru->cache, recs[i], &prev[i],
                                                &now[i], &delta)
                      : (rc && rc->have_peers
                         && compiler_cache_peer_sets(ru->cache,
                                                     rc->peer_keys[i],
                                                     &prev[i], &now[i],
                                                     &delta)));
        if (!known) {
            return false;
        }
        for (size_t j = 0; j < delta->n; j++) {
            size_t k = 0;
            while (k < n_cand && cand[k] != delta->v[j]) {
                k++;
            }
            if (k == n_cand) {
                if (n_cand >= CF_ARRAY_SIZE(cand)) {
                    return false;   /* A bigger change: compile it. */
                }
                cand[n_cand++] = delta->v[j];
            }
        }
    }

    pp->oc = NULL;
    for (size_t i = 0; i < ru->old->n_conjs; i++) {
        if (ru->old->conjs[i].id == id) {
            pp->oc = &ru->old->conjs[i];
            break;
        }
    }
    const struct pf_conj *oc = pp->oc;
    if (!oc || oc->lent || oc->n_clauses < 2) {
        return false;
    }
    /* The addresses that enter or leave the set. */
    size_t n1_new = oc->c1->n;
    pp->n = 0;
    pp->add = 0;
    for (size_t k = 0; k < n_cand; k++) {
        bool was = false, is = false;
        for (size_t i = 0; i < n_peers; i++) {
            was = was || u32_vec_contains(prev[i], cand[k]);
            is = is || u32_vec_contains(now[i], cand[k]);
        }
        if (was != is) {
            n1_new += is ? 1 : -1;
            pp->add |= is << pp->n;
            pp->ip[pp->n++] = cand[k];
        }
    }
    /* Each checked against the last compilation's entries, unless this
     * compilation already patched the same clause 1 the same way (see
     * "Shared clause 1" in compiler-cache.c). */
    if (pp->n && !conj_blocks_have_patch(compiler_cache_blocks(ru->cache),
                                         oc->c1, pp->ip, pp->add, pp->n)) {
        for (size_t k = 0; k < pp->n; k++) {
            struct conj_entry e;
            peer_entry(ingress, pp->ip[k], &e);
            bool found;
            compiler_entry_bsearch(oc->c1->e, oc->c1->n, &e, &found);
            if (found == ((pp->add >> k) & 1)) {
                return false;   /* Not what the last compilation made. */
            }
        }
    }
    return n1_new > 0;          /* Else the rule gives nothing now. */
}

/* Applies patch 'pp' (planned on the conjunction whose clause 1 'conj' now
 * has) to 'conj': replaces 'conj''s clause 1 with a reference to the
 * patched one (the caller keeps the reference to the old one, if it had
 * one) and records the patch in 'conj''s 'patch_ip', 'patch_add' and
 * 'n_patch'. */
static void
apply_patch(struct pf_conj *conj, const struct conj_patch *pp,
            struct conj_blocks *blocks)
{
    conj->n_patch = pp->n;
    conj->patch_add = pp->add;
    memcpy(conj->patch_ip, pp->ip, pp->n * sizeof *pp->ip);
    conj->c1 = conj_blocks_patch(blocks, conj->c1, conj->table,
                                 conj->patch_ip, conj->patch_add, pp->n);
}

/* Patches rule part 0 (conjunction 'id', no named ports) of a rule whose
 * selector peers changed (see plan_patch()) into 'pf': the last
 * conjunction's entries move to 'pf' with the patch applied (the old
 * contribution keeps only its pointer, for the merge to recognize the
 * patch), or, if the address set did not change, the last conjunction is
 * reused.  Returns false (nothing done) to have the rule compiled in
 * full. */
static bool
patch_conj(struct cf_policy_flows *pf, const struct reuse *ru,
           const struct cf_rule *rule, const struct rule_cache *rc,
           struct peer_rec *const *recs, bool ingress, uint32_t id)
{
    struct conj_patch pp;
    if (!plan_patch(ru, rule, rule->n_peers, rc, recs, ingress, id, &pp)) {
        return false;
    }
    if (!pp.n) {
        return reuse_conj(pf, ru->old, id);
    }
    if (pf->n_conjs >= pf->allocated_conjs) {
        pf->conjs = cf_x2nrealloc(pf->conjs, &pf->allocated_conjs,
                                  sizeof *pf->conjs);
    }
    struct pf_conj *conj = &pf->conjs[pf->n_conjs++];
    *conj = *pp.oc;             /* The old one keeps its clause 1. */
    pp.oc->lent = true;
    conj->patch_base = pp.oc->c1;
    apply_patch(conj, &pp, compiler_cache_blocks(ru->cache));
    compiler_cache_count_patch(ru->cache);
    return true;
}

/* Records in 'pf' the distinct peer records of the 'n_looked' rules that
 * patch_policy_in_place() just looked at (each has a record for each of
 * its selector peers now; the other rules have none). */
static void
remember_uniq_recs(struct cf_policy_flows *pf, size_t n_looked)
{
    size_t n = 0;
    pf->uniq_recs = cf_xcalloc(pf->n_peer_keys ? pf->n_peer_keys : 1,
                               sizeof *pf->uniq_recs);
    for (size_t i = 0; i < pf->n_peer_keys; i++) {
        struct peer_rec *rec = pf->peer_recs[i];
        size_t j = 0;
        while (rec && j < n && pf->uniq_recs[j] != rec) {
            j++;
        }
        if (rec && j == n) {
            pf->uniq_recs[n++] = rec;
        }
    }
    pf->n_uniq_recs = n;
    pf->n_uniq_rules = n_looked;
}

/* Records in 'pf', once, the rules of its policy 'p' that
 * patch_policy_in_place() looks at (those with peers, in a direction the
 * policy has, numbered below CF_MAX_RULES) and whether a rule has a named
 * port: a patch then reads neither the policy's rules nor their ports
 * (cold memory, 500 policies for one pod's change). */
static void
pf_look_rules(struct cf_policy_flows *pf, const struct cf_policy *p)
{
    if (pf->have_looked) {
        return;
    }
    pf->have_looked = true;
    size_t n_rules = p->n_ingress + p->n_egress;
    pf->looked = cf_xcalloc(n_rules ? n_rules : 1, sizeof *pf->looked);
    size_t key_ofs = 0;         /* Peers of the rules before. */
    for (size_t i = 0; i < n_rules; i++) {
        bool ingress = i < p->n_ingress;
        size_t r = ingress ? i : i - p->n_ingress;
        const struct cf_rule *rule = (ingress ? &p->ingress_rules[r]
                                      : &p->egress_rules[r]);
        size_t ofs = key_ofs;
        key_ofs += rule->n_peers;
        for (size_t j = 0; j < rule->n_ports; j++) {
            pf->named_ports |= rule->ports[j].kind == CF_PORT_NAME;
        }
        if (!rule->n_peers || !(ingress ? p->ingress : p->egress)
            || r >= CF_MAX_RULES) {
            continue;           /* Made of the policy and local pods. */
        }
        struct pf_rule_ref *lr = &pf->looked[pf->n_looked++];
        lr->key_ofs = ofs;
        lr->n_peers = rule->n_peers;
        lr->rule = r;
        lr->ingress = ingress;
    }
}

/* Updates 'ru->old', the node cache's last contribution of policy 'pi',
 * in place, when nothing of it can change but some rules' peer addresses:
 * the policy is the one compiled then (the caller checked it and the local
 * pods), no rule has a named port, and every rule whose peers changed can
 * be patched (plan_patch()).  Returns the updated contribution (the same
 * object, marked 'in_place'), or NULL (nothing changed) to have the
 * policy compiled as usual. */
static struct cf_policy_flows *
patch_policy_in_place(struct cf_compiler *c, size_t pi, const struct reuse *ru)
{
    const struct cf_policy *p = c->cluster->policies[pi];
    struct cf_policy_flows *old = ru->old;
    if (old->log_denies != c->log_denies || old->in_place) {
        return NULL;
    }
    if (old->uniq_recs
        && compiler_cache_recs_unchanged(ru->cache, old->uniq_recs,
                                         old->n_uniq_recs)) {
        /* Every record that its rules use says "unchanged": the loop
         * below would reuse each of them. */
        for (size_t i = 0; i < old->n_uniq_rules; i++) {
            compiler_cache_count_reuse(ru->cache);
        }
        old->policy = p;
        old->in_place = true;
        return old;
    }
    pf_look_rules(old, p);
    if (old->named_ports) {
        return NULL;            /* Named ports resolve against pods. */
    }
    size_t n_looked = old->n_looked;
    struct conj_patch plans_buf[16];
    struct conj_patch *plans = (n_looked <= CF_ARRAY_SIZE(plans_buf)
                                ? plans_buf
                                : cf_xcalloc(n_looked, sizeof *plans));
    size_t n_plans = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < n_looked; i++) {
        const struct pf_rule_ref *lr = &old->looked[i];
        bool ingress = lr->ingress;
        size_t r = lr->rule;
        /* Only its address: its memory is read only if needed. */
        const struct cf_rule *rule = (ingress ? &p->ingress_rules[r]
                                      : &p->egress_rules[r]);
        enum cflow_dir dir = ingress ? CFLOW_DIR_INGRESS : CFLOW_DIR_EGRESS;
        struct peer_rec **recs = reuse_recs(ru, lr->key_ofs, lr->n_peers);
        struct rule_cache *rc = NULL;   /* Not needed if 'recs' tell. */
        bool unchanged;
        if (!compiler_cache_recs_known(ru->cache, rule, lr->n_peers, recs,
                                       &unchanged)) {
            rc = rule_cache_get(c, pi, dir, r);
            char *const *keys = (ru->peer_keys
                                 && lr->key_ofs + lr->n_peers
                                    <= ru->n_peer_keys
                                 ? &ru->peer_keys[lr->key_ofs] : NULL);
            unchanged = compiler_cache_peers_unchanged(ru->cache, c, p, rule,
                                                       rc, keys, recs);
        }
        if (unchanged) {
            compiler_cache_count_reuse(ru->cache);
            continue;
        }
        ok = plan_patch(ru, rule, lr->n_peers, rc, recs, ingress,
                        cf_conj_id(p->id, dir, r, 0), &plans[n_plans]);
        n_plans += ok && plans[n_plans].n;
    }
    if (ok) {
        for (size_t i = 0; i < n_plans; i++) {
            struct conj_block *c1 = plans[i].oc->c1;
            apply_patch(plans[i].oc, &plans[i],
                        compiler_cache_blocks(ru->cache));
            conj_block_unref(c1);
            compiler_cache_count_patch(ru->cache);
        }
        old->policy = p;
        old->in_place = true;
        if (!old->uniq_recs && ru->peer_recs) {
            remember_uniq_recs(old, n_looked);
        }
    }
    if (plans != plans_buf) {
        free(plans);
    }
    return ok ? old : NULL;
}

/* Compiles rule 'r' of direction 'dir' of policy 'pi' for the policy's
 * selected pods bound on this node ('locals'), into 'pf'.  With 'ru'
 * (compiling for a node cache), refreshes the cache's records of the
 * rule's peer selections and reuses the last conjunction when it can (see
 * "Reuse of rules"). */
static void
compile_rule(struct cf_compiler *c, size_t pi, enum cflow_dir dir,
             size_t r, const struct local_pod *locals, size_t n_locals,
             const struct reuse *ru, size_t key_ofs,
             struct cf_policy_flows *pf)
{
    const struct cf_policy *p = c->cluster->policies[pi];
    const struct cf_rule *rule = (dir == CFLOW_DIR_INGRESS
                                  ? &p->ingress_rules[r]
                                  : &p->egress_rules[r]);
    struct rule_cache *rc = rule_cache_get(c, pi, dir, r);
    bool ingress = dir == CFLOW_DIR_INGRESS;
    struct conj_blocks *blocks = ru ? compiler_cache_blocks(ru->cache) : NULL;
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

    if (ru && rule->n_peers) {
        char *const *keys = (ru->peer_keys
                             && key_ofs + rule->n_peers <= ru->n_peer_keys
                             ? &ru->peer_keys[key_ofs] : NULL);
        struct peer_rec **recs = reuse_recs(ru, key_ofs, rule->n_peers);
        bool unchanged = compiler_cache_peers_unchanged(ru->cache, c, p,
                                                        rule, rc, keys, recs);
        if (unchanged && ru->old && !has_named
            && reuse_conj(pf, ru->old, cf_conj_id(p->id, dir, r, 0))) {
            compiler_cache_count_reuse(ru->cache);
            dim_destroy(&ports);
            return;
        }
        if (!unchanged && ru->old && !has_named
            && patch_conj(pf, ru, rule, rc, recs, ingress,
                          cf_conj_id(p->id, dir, r, 0))) {
            dim_destroy(&ports);
            return;
        }
    }

    if (!rule->n_ports || has_unnamed) {
        if (rule->n_peers) {
            const struct cidr4_vec *addrs = rule_peer_addrs(c, p, rule, rc);
            dim_reserve(&dims[n_dims], addrs->n);
            for (size_t i = 0; i < addrs->n; i++) {
                match_ip(dim_add(&dims[n_dims]), ingress, addrs->v[i].addr,
                         addrs->v[i].plen);
            }
            n_dims++;
        }
        dim_reserve(&dims[n_dims], n_locals);
        for (size_t i = 0; i < n_locals; i++) {
            match_ip(dim_add(&dims[n_dims]), !ingress, locals[i].ip, 32);
        }
        n_dims++;
        if (rule->n_ports) {
            dims[n_dims++] = ports;
            memset(&ports, 0, sizeof ports);
        }
        emit_rule_part(pf, dir, r, cf_conj_id(p->id, dir, r, 0), dims,
                       n_dims, blocks);
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
    emit_rule_part(pf, dir, r, cf_conj_id(p->id, dir, r, 1), dims, n_dims,
                   blocks);
    for (size_t i = 0; i < n_dims; i++) {
        dim_destroy(&dims[i]);
    }
}

/* qsort() comparison of uint64_t. */
static int
u64_compare(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *) a_;
    uint64_t b = *(const uint64_t *) b_;
    return a < b ? -1 : a > b;
}

/* Adds to 'pf' one conn_count flow (see cflow.h) per rule part that has
 * allow flows in 'pf' (a conjunction or plain flows), in conjunction id
 * order: ingress parts match reg2, egress parts reg1, each in its pass
 * (reg0 bit 4).  The cookie is the rule's, of kind CFLOW_KIND_CONN. */
static void
add_conn_counters(struct cf_policy_flows *pf)
{
    /* Per part: conj id << 32 | index of a flow or conj giving its
     * cookie, with bit 31 set for a conjunction. */
    size_t n = 0, allocated = pf->n_conjs + 4;
    uint64_t *parts = cf_xmalloc(allocated * sizeof *parts);

    for (size_t i = 0; i < pf->n_conjs; i++) {
        parts[n++] = (uint64_t) pf->conjs[i].id << 32 | 0x80000000u | i;
    }
    size_t n_flows = pf->flows.n;
    for (size_t i = 0; i < n_flows; i++) {
        const struct cflow *f = &pf->flows.flows[i];
        if ((f->cookie & 0xffff) != CFLOW_KIND_ALLOW) {
            continue;
        }
        uint32_t id = pf->ranks.v[i];
        bool seen = false;
        for (size_t j = 0; j < n && !seen; j++) {
            seen = parts[j] >> 32 == id;
        }
        if (!seen) {
            if (n >= allocated) {
                parts = cf_x2nrealloc(parts, &allocated, sizeof *parts);
            }
            parts[n++] = (uint64_t) id << 32 | i;
        }
    }
    qsort(parts, n, sizeof *parts, u64_compare);

    for (size_t i = 0; i < n; i++) {
        uint32_t id = parts[i] >> 32;
        uint32_t idx = parts[i] & 0x7fffffff;
        uint64_t cookie = (parts[i] & 0x80000000u
                           ? pf->conjs[idx].cookie
                           : pf->flows.flows[idx].cookie);
        bool ingress = ((cookie >> 28) & 0xf) == CFLOW_DIR_INGRESS;
        struct cflow *f = pf_add_flow(pf, CFLOW_T_CONN_COUNT, 100,
                                      (cookie & ~0xffffULL)
                                      | CFLOW_KIND_CONN, id);
        f->match.fields = CFLOW_F_REG0;
        f->match.reg0 = ingress ? 0 : 16;
        f->match.reg0_mask = 16;
        if (ingress) {
            f->match.fields |= CFLOW_F_REG2;
            f->match.reg2 = id;
        } else {
            f->match.fields |= CFLOW_F_REG1;
            f->match.reg1 = id;
        }
    }
    free(parts);
}

/* Compiles policy 'pi' for its selected pods bound on the node, 'locals'
 * (nonempty), and returns the contribution.  'ru' is NULL, or says what
 * may be reused (compiling for a node cache). */
static struct cf_policy_flows *
compile_policy(struct cf_compiler *c, size_t pi,
               const struct local_pod *locals, size_t n_locals,
               const struct reuse *ru)
{
    const struct cf_policy *p = c->cluster->policies[pi];
    struct cf_policy_flows *pf = policy_flows_create(p);
    pf->log_denies = c->log_denies;
    pf->local_ips.allocated = n_locals ? n_locals : 1;
    pf->local_ips.v = cf_xmalloc(pf->local_ips.allocated
                                 * sizeof *pf->local_ips.v);
    for (size_t i = 0; i < n_locals; i++) {
        u32_vec_push(&pf->local_ips, locals[i].ip);
    }
    /* Room for a conjunction per rule (two with named ports: then it
     * grows). */
    pf->allocated_conjs = p->n_ingress + p->n_egress;
    pf->conjs = (pf->allocated_conjs
                 ? cf_xmalloc(pf->allocated_conjs * sizeof *pf->conjs)
                 : NULL);
    /* A deny: reg0 bit 5, then commit, which drops the packet (and
     * remembers the verdict, see compiler_add_pipeline()).  With every
     * deny logged, a metered copy goes to conjflowd first. */
    static const struct cflow_action log_deny = {
        .type = CFLOW_A_CONTROLLER,
        .value = CFLOW_AUDIT_DENY,
        .id = CFLOW_AUDIT_METER_ID,
    };
    static const struct cflow_action mark_denied = {
        .type = CFLOW_A_LOAD_REG,
        .reg = 0,
        .value = CFLOW_REG0_DENIED,
        .mask = CFLOW_REG0_DENIED,
    };
    static const struct cflow_action to_commit = {
        .type = CFLOW_A_GOTO,
        .table = CFLOW_T_COMMIT,
    };

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
            if (c->log_denies) {
                cflow_add_action(f, &log_deny);
            }
            cflow_add_action(f, &mark_denied);
            cflow_add_action(f, &to_commit);
        }
        size_t n_rules = dir == CFLOW_DIR_INGRESS ? p->n_ingress
                                                   : p->n_egress;
        size_t key_ofs = 0;     /* Peers of the rules before 'r'. */
        for (size_t r = 0; r < (d ? p->n_ingress : 0); r++) {
            key_ofs += p->ingress_rules[r].n_peers;
        }
        for (size_t r = 0; r < n_rules && r < CF_MAX_RULES; r++) {
            compile_rule(c, pi, dir, r, locals, n_locals, ru, key_ofs, pf);
            key_ofs += (dir == CFLOW_DIR_INGRESS ? p->ingress_rules[r]
                        : p->egress_rules[r]).n_peers;
        }
    }
    add_conn_counters(pf);
    return pf;
}

/* Collects in 'locals' the pods bound on the node ('ports'): known, not
 * host-network, with an IPv4 address. */
void
compiler_collect_locals(struct cf_compiler *c,
                        const struct cf_node_ports *ports,
                        struct local_pod **locals, size_t *n_locals)
{
    *locals = cf_xcalloc(ports->n_bindings ? ports->n_bindings : 1,
                         sizeof **locals);
    *n_locals = 0;
    for (size_t i = 0; i < ports->n_bindings; i++) {
        const struct cf_binding *b = &ports->bindings[i];
        uint32_t idx = compiler_find_pod(c, b->pod);
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
    compiler_collect_locals(c, ports, &locals, &n_locals);
    size_t n = 0;
    for (size_t i = 0; i < n_locals; i++) {
        if (u32_vec_contains(c->policies[pi].selected, locals[i].pod)) {
            locals[n++] = locals[i];
        }
    }
    struct cf_policy_flows *pf = (n ? compile_policy(c, pi, locals, n, NULL)
                                  : NULL);
    free(locals);
    return pf;
}

/* ---- Merging ------------------------------------------------------------ */

/* A flow to merge, with its merge rank: a whole flow, or a clause entry
 * of a conjunction (the clause flow it stands for is not built: merging
 * only needs its key, cookie and conjunction() action). */
struct pending {
    uint8_t table;              /* Key: table, */
    uint16_t priority;          /* priority */
    const struct cflow_match *match;    /* and match (not owned). */
    uint32_t rank;              /* Lower ranks come first among equal keys. */
    const struct cflow *flow;   /* The flow (not owned), or NULL: */
    const struct pf_conj *conj; /* Clause entry 'entry' of 'conj'. */
    size_t entry;
};

/* Sets 'p' to whole flow 'flow' with merge rank 'rank'. */
static void
pending_set_flow(struct pending *p, const struct cflow *flow, uint32_t rank)
{
    p->table = flow->table;
    p->priority = flow->priority;
    p->match = &flow->match;
    p->rank = rank;
    p->flow = flow;
    p->conj = NULL;
    p->entry = 0;
}

/* Sets 'p' to clause entry 'entry' of 'conj', at 'priority', whose match
 * is made in '*match' (which must outlive 'p'). */
static void
pending_set_clause(struct pending *p, const struct pf_conj *conj,
                   size_t entry, uint16_t priority, struct cflow_match *match)
{
    compiler_entry_match(pf_conj_entry(conj, entry), match);
    p->table = conj->table;
    p->priority = priority;
    p->match = match;
    p->rank = conj->id;
    p->flow = NULL;
    p->conj = conj;
    p->entry = entry;
}

/* Compares the keys of 'a' and 'b' as cflow_key_compare() does. */
static int
pending_key_compare(const struct pending *a, const struct pending *b)
{
    if (a->table != b->table) {
        return a->table < b->table ? -1 : 1;
    }
    if (a->priority != b->priority) {
        return a->priority > b->priority ? -1 : 1;
    }
    return compiler_match_qsort_compare(a->match, b->match);
}

/* qsort() comparison of struct pending with equal keys: by rank.  (Flows
 * with equal keys and ranks are identical: their order does not
 * matter.) */
static int
pending_rank_compare(const void *a_, const void *b_)
{
    const struct pending *a = a_;
    const struct pending *b = b_;
    return a->rank < b->rank ? -1 : a->rank > b->rank;
}

/* See compiler-private.h. */
void
compiler_merge_conjunctions(struct cflow *f, const struct cflow *flow,
                            uint32_t id, uint8_t clause, uint8_t n_clauses)
{
    struct cflow_action tmp;
    const struct cflow_action *actions = &tmp;
    size_t n_actions = 1;
    if (flow) {
        actions = flow->actions;
        n_actions = flow->n_actions;
    } else {
        memset(&tmp, 0, sizeof tmp);
        tmp.type = CFLOW_A_CONJUNCTION;
        tmp.id = id;
        tmp.clause = clause;
        tmp.n_clauses = n_clauses;
    }
    for (size_t j = 0; j < n_actions; j++) {
        const struct cflow_action *a = &actions[j];
        const struct cflow_action *last = (f->n_actions
                                           ? &f->actions[f->n_actions - 1]
                                           : NULL);
        if (a->type == CFLOW_A_CONJUNCTION
            && !(last && last->id == a->id && last->clause == a->clause)) {
            cflow_add_action(f, a);
        }
    }
}

/* Returns a hash of match 'm' with 'basis': matches that
 * compiler_match_qsort_compare() finds equal hash equally (only present
 * fields count). */
uint32_t
compiler_match_hash(const struct cflow_match *m, uint32_t basis)
{
    uint32_t f = m->fields;
    uint32_t h = cf_hash_u32(f, basis);
    if (f & CFLOW_F_CONJ_ID) {
        h = cf_hash_u32(m->conj_id, h);
    }
    if (f & CFLOW_F_IN_PORT) {
        h = cf_hash_u32(m->in_port, h);
    }
    if (f & (CFLOW_F_DL_TYPE | CFLOW_F_NW_PROTO)) {
        h = cf_hash_u32((f & CFLOW_F_DL_TYPE ? m->dl_type : 0) << 8
                        | (f & CFLOW_F_NW_PROTO ? m->nw_proto : 0), h);
    }
    if (f & CFLOW_F_NW_SRC) {
        h = cf_hash_u32(m->nw_src, cf_hash_u32(m->nw_src_mask, h));
    }
    if (f & CFLOW_F_NW_DST) {
        h = cf_hash_u32(m->nw_dst, cf_hash_u32(m->nw_dst_mask, h));
    }
    if (f & CFLOW_F_TP_DST) {
        h = cf_hash_u32((uint32_t) m->tp_dst << 16 | m->tp_dst_mask, h);
    }
    if (f & CFLOW_F_ARP_SPA) {
        h = cf_hash_u32(m->arp_spa, h);
    }
    if (f & CFLOW_F_REG0) {
        h = cf_hash_u32(m->reg0, cf_hash_u32(m->reg0_mask, h));
    }
    if (f & (CFLOW_F_REG1 | CFLOW_F_REG2)) {
        h = cf_hash_u32(f & CFLOW_F_REG1 ? m->reg1 : 0,
                        cf_hash_u32(f & CFLOW_F_REG2 ? m->reg2 : 0, h));
    }
    if (f & CFLOW_F_CT_STATE) {
        h = cf_hash_u32((uint32_t) m->ct_state << 8 | m->ct_state_mask, h);
    }
    if (f & CFLOW_F_DL_SRC) {
        h = cf_hash_bytes(m->dl_src, sizeof m->dl_src, h);
    }
    if (f & CFLOW_F_ARP_SHA) {
        h = cf_hash_bytes(m->arp_sha, sizeof m->arp_sha, h);
    }
    return h;
}

/* Items grouped by equality (see group_items()). */
struct groups {
    size_t n;                   /* Number of groups. */
    size_t *start;              /* Owned, n + 1 offsets into 'members':
                                 * group g is members[start[g]] up to
                                 * members[start[g + 1]]. */
    uint32_t *members;          /* Owned: item indices, grouped, each group
                                 * in ascending item order. */
};

/* Groups 'n' items with hashes 'hashes' so that items 'i' and 'j' share a
 * group exactly when 'equal(aux, i, j)' (which must imply equal hashes).
 * Groups are numbered in the order of their first item.  This replaces
 * sorting everything to find equal keys: only the groups need sorting
 * afterwards.  The caller frees 'g' with groups_destroy(). */
static void
group_items(size_t n, const uint32_t *hashes,
            bool (*equal)(const void *aux, size_t i, size_t j),
            const void *aux, struct groups *g)
{
    size_t mask = 15;
    while (mask < 2 * n) {
        mask = mask * 2 + 1;
    }
    /* Open addressing: a slot holds 1 + the first item of a group. */
    uint32_t *slots = cf_xcalloc(mask + 1, sizeof *slots);
    uint32_t *group = cf_xcalloc(n ? n : 1, sizeof *group);
    size_t n_groups = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t s = hashes[i] & mask; ; s = (s + 1) & mask) {
            uint32_t k = slots[s];
            if (!k) {
                slots[s] = i + 1;
                group[i] = n_groups++;
                break;
            }
            if (hashes[k - 1] == hashes[i] && equal(aux, k - 1, i)) {
                group[i] = group[k - 1];
                break;
            }
        }
    }
    free(slots);

    /* Counting sort of the items by group. */
    g->n = n_groups;
    g->start = cf_xcalloc(n_groups + 1, sizeof *g->start);
    g->members = cf_xcalloc(n ? n : 1, sizeof *g->members);
    for (size_t i = 0; i < n; i++) {
        g->start[group[i] + 1]++;
    }
    for (size_t i = 0; i < n_groups; i++) {
        g->start[i + 1] += g->start[i];
    }
    size_t *fill = cf_xmalloc((n_groups + 1) * sizeof *fill);
    memcpy(fill, g->start, (n_groups + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++) {
        g->members[fill[group[i]]++] = i;
    }
    free(fill);
    free(group);
}

/* Frees what group_items() stored in 'g'. */
static void
groups_destroy(struct groups *g)
{
    free(g->start);
    free(g->members);
}

/* One clause entry of some conjunction, for choosing bands. */
struct clause_ref {
    const struct conj_entry *entry;  /* Not owned. */
    uint8_t table;              /* Rule table. */
    uint32_t id;                /* Conjunction id. */
};

/* Returns a copy of 'e' without its clause: entries are canonical, so two
 * of them have the same match iff these are the same bytes. */
static struct conj_entry
entry_without_clause(const struct conj_entry *e)
{
    struct conj_entry copy = *e;
    copy.clause = 0;
    return copy;
}

/* group_items() equality of clause_refs 'i' and 'j' in array 'refs_':
 * same table and match. */
static bool
clause_ref_equal(const void *refs_, size_t i, size_t j)
{
    const struct clause_ref *refs = refs_;
    struct conj_entry a = entry_without_clause(refs[i].entry);
    struct conj_entry b = entry_without_clause(refs[j].entry);
    return refs[i].table == refs[j].table && !memcmp(&a, &b, sizeof a);
}

/* Returns the band of conjunction 'id' among 'n_bands'. */
unsigned
compiler_conj_band(uint32_t id, unsigned n_bands)
{
    return cf_hash_u32(id, 0) % n_bands;
}

/* Chooses the number of bands for each rule table ('n_bands', indexed by
 * table) so that no merged clause flow carries more than
 * CFLOW_MAX_CONJUNCTIONS conjunctions. */
void
compiler_choose_bands(struct cf_policy_flows *const *pfs, size_t n_pfs,
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
            for (size_t k = 0; k < pf_conj_n(conj); k++) {
                if (n >= allocated) {
                    refs = cf_x2nrealloc(refs, &allocated, sizeof *refs);
                }
                refs[n].entry = pf_conj_entry(conj, k);
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
    uint32_t *hashes = cf_xcalloc(n, sizeof *hashes);
    for (size_t i = 0; i < n; i++) {
        struct conj_entry e = entry_without_clause(refs[i].entry);
        hashes[i] = cf_hash_bytes(&e, sizeof e, refs[i].table);
    }
    struct groups g;
    group_items(n, hashes, clause_ref_equal, refs, &g);
    free(hashes);

    /* Doubling the bands splits each band in two, so the number a group
     * needs does not depend on the order of the groups. */
    unsigned *counts = NULL;
    for (size_t gi = 0; gi < g.n; gi++) {
        size_t start = g.start[gi], end = g.start[gi + 1];
        if (end - start > CFLOW_MAX_CONJUNCTIONS) {
            uint8_t t = refs[g.members[start]].table;
            for (;;) {
                unsigned nb = n_bands[t];
                counts = cf_xrealloc(counts, nb * sizeof *counts);
                memset(counts, 0, nb * sizeof *counts);
                bool over = false;
                for (size_t i = start; i < end; i++) {
                    uint32_t id = refs[g.members[i]].id;
                    if (++counts[compiler_conj_band(id, nb)]
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
    }
    groups_destroy(&g);
    free(counts);
    free(refs);
}

/* Appends to 'set' the fixed pipeline flows and the per-port classify
 * flows of 'node' with 'ports' and local pods 'locals'. */
void
compiler_add_pipeline(const struct cf_node *node,
                      const struct cf_node_ports *ports,
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
    /* A new connection's counters (see cflow.h): conn_count's ingress
     * pass, reg0 bit 4, its egress pass. */
#define COUNT_CONN()                                                    \
    do {                                                                \
        ACTION(CFLOW_A_RESUBMIT, a.table = CFLOW_T_CONN_COUNT);         \
        ACTION(CFLOW_A_LOAD_REG, a.reg = 0; a.value = 16; a.mask = 16); \
        ACTION(CFLOW_A_RESUBMIT, a.table = CFLOW_T_CONN_COUNT);         \
    } while (0)

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

    /* ct_state.  SCTP: a learned reply of a denied association drops, of
     * an allowed one forwards; the rest is checked against policy. */
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 310, infra);
    match_port(&f->match, CF_PROTO_SCTP, 0, 0);
    f->match.fields |= CFLOW_F_REG0;
    f->match.reg0 = CFLOW_REG0_SCTP_DENIED;
    f->match.reg0_mask = CFLOW_REG0_SCTP_DENIED;
    ACTION(CFLOW_A_DROP, (void) 0);
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
    /* Replies and related packets pass, unless their connection was
     * denied on this node (cflow.h, "Cross-node state"). */
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 195, infra);
    f->match.fields = CFLOW_F_CT_STATE | CFLOW_F_CT_MARK;
    f->match.ct_state = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_mark = CFLOW_CT_MARK_DENIED;
    f->match.ct_mark_mask = CFLOW_CT_MARK_DENIED;
    ACTION(CFLOW_A_DROP, (void) 0);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 190, infra);
    f->match.fields = CFLOW_F_CT_STATE;
    f->match.ct_state = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_CT_STATE, 185, infra);
    f->match.fields = CFLOW_F_CT_STATE | CFLOW_F_CT_MARK;
    f->match.ct_state = CFLOW_CS_REL | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_REL | CFLOW_CS_TRK;
    f->match.ct_mark = CFLOW_CT_MARK_DENIED;
    f->match.ct_mark_mask = CFLOW_CT_MARK_DENIED;
    ACTION(CFLOW_A_DROP, (void) 0);
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

    /* commit, denied packets (reg0 bit 5: the isolation tables' verdict):
     * none gets past priority 200.  Where another node may hold the
     * connection as allowed, the verdict is remembered so that its replies
     * drop here (cflow.h, "Cross-node state"): SCTP from an uplink learns
     * a "denied reply" flow; a revoked established connection (+est-rpl,
     * not yet marked) and a new one from an uplink are committed with the
     * denied mark.  Denied new connections of local pods and of the node
     * itself are not committed: no other node saw them. */
    f = cflow_set_add(set, CFLOW_T_COMMIT, 230, infra);
    match_port(&f->match, CF_PROTO_SCTP, 0, 0);
    f->match.fields |= CFLOW_F_REG0;
    f->match.reg0 = CFLOW_REG0_DENIED;
    f->match.reg0_mask = CFLOW_REG0_DENIED | CFLOW_REG0_SOURCE_MASK;
    ACTION(CFLOW_A_LEARN_SCTP_DENY, a.table = CFLOW_T_SCTP_REPLY;
           a.value = SCTP_REPLY_IDLE_TIMEOUT);
    f = cflow_set_add(set, CFLOW_T_COMMIT, 220, infra);
    f->match.fields = (CFLOW_F_DL_TYPE | CFLOW_F_CT_STATE | CFLOW_F_CT_MARK
                       | CFLOW_F_REG0);
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_EST | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_mark = 0;
    f->match.ct_mark_mask = CFLOW_CT_MARK_DENIED;
    f->match.reg0 = CFLOW_REG0_DENIED;
    f->match.reg0_mask = CFLOW_REG0_DENIED;
    ACTION(CFLOW_A_CT_COMMIT, a.zone = node->id;
           a.value = CFLOW_CT_MARK_DENIED; a.mask = CFLOW_CT_MARK_DENIED);
    f = cflow_set_add(set, CFLOW_T_COMMIT, 210, infra);
    f->match.fields = CFLOW_F_DL_TYPE | CFLOW_F_CT_STATE | CFLOW_F_REG0;
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.reg0 = CFLOW_REG0_DENIED;
    f->match.reg0_mask = CFLOW_REG0_DENIED | CFLOW_REG0_SOURCE_MASK;
    ACTION(CFLOW_A_CT_COMMIT, a.zone = node->id;
           a.value = CFLOW_CT_MARK_DENIED; a.mask = CFLOW_CT_MARK_DENIED);
    f = cflow_set_add(set, CFLOW_T_COMMIT, 200, infra);
    f->match.fields = CFLOW_F_REG0;
    f->match.reg0 = CFLOW_REG0_DENIED;
    f->match.reg0_mask = CFLOW_REG0_DENIED;
    ACTION(CFLOW_A_DROP, (void) 0);

    /* commit, allowed packets: learn SCTP replies; commit new connections
     * (clearing a denied mark that an earlier packet on the same 5-tuple
     * left); an established connection marked denied that policy allows
     * again is committed with the mark cleared, so its replies pass. */
    f = cflow_set_add(set, CFLOW_T_COMMIT, 110, infra);
    match_port(&f->match, CF_PROTO_SCTP, 0, 0);
    ACTION(CFLOW_A_LEARN_SCTP_REPLY, a.table = CFLOW_T_SCTP_REPLY;
           a.value = SCTP_REPLY_IDLE_TIMEOUT);
    GOTO(CFLOW_T_FORWARD);
    /* Audit log: new connections that a logged policy allowed (reg0 bit
     * 3) are committed as below and also sent, metered, to conjflowd. */
    f = cflow_set_add(set, CFLOW_T_COMMIT, 105, infra);
    f->match.fields = CFLOW_F_DL_TYPE | CFLOW_F_CT_STATE | CFLOW_F_REG0;
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.reg0 = 8;
    f->match.reg0_mask = 8;
    ACTION(CFLOW_A_CONTROLLER, a.value = CFLOW_AUDIT_ALLOW;
           a.id = CFLOW_AUDIT_METER_ID);
    COUNT_CONN();
    ACTION(CFLOW_A_CT_COMMIT, a.zone = node->id;
           a.value = 0; a.mask = CFLOW_CT_MARK_DENIED);
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_COMMIT, 100, infra);
    f->match.fields = CFLOW_F_DL_TYPE | CFLOW_F_CT_STATE;
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_NEW | CFLOW_CS_TRK;
    COUNT_CONN();
    ACTION(CFLOW_A_CT_COMMIT, a.zone = node->id;
           a.value = 0; a.mask = CFLOW_CT_MARK_DENIED);
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_COMMIT, 90, infra);
    f->match.fields = CFLOW_F_DL_TYPE | CFLOW_F_CT_STATE | CFLOW_F_CT_MARK;
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_EST | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_mark = CFLOW_CT_MARK_DENIED;
    f->match.ct_mark_mask = CFLOW_CT_MARK_DENIED;
    ACTION(CFLOW_A_CT_COMMIT, a.zone = node->id;
           a.value = 0; a.mask = CFLOW_CT_MARK_DENIED);
    GOTO(CFLOW_T_FORWARD);
    f = cflow_set_add(set, CFLOW_T_COMMIT, 0, infra);
    GOTO(CFLOW_T_FORWARD);

    /* conn_count: the rules' counters come with the policies (see
     * add_conn_counters()); a miss counts nothing. */
    f = cflow_set_add(set, CFLOW_T_CONN_COUNT, 0, infra);

    /* forward: a pod's traffic to its own IP goes back out of its port
     * (hairpin: NORMAL never sends a frame back where it came from); the
     * rest is switched normally. */
    for (size_t i = 0; i < n_locals; i++) {
        f = cflow_set_add(set, CFLOW_T_FORWARD, 100, pod_cookie);
        f->match.fields = CFLOW_F_IN_PORT | CFLOW_F_DL_TYPE | CFLOW_F_NW_DST;
        f->match.in_port = locals[i].binding->ofport;
        f->match.dl_type = 0x0800;
        f->match.nw_dst = locals[i].ip;
        f->match.nw_dst_mask = UINT32_MAX;
        ACTION(CFLOW_A_IN_PORT, (void) 0);
    }
    f = cflow_set_add(set, CFLOW_T_FORWARD, 0, infra);
    ACTION(CFLOW_A_NORMAL, (void) 0);
#undef COUNT_CONN
#undef GOTO
#undef ACTION
}

/* Appends to 'set' the conj_id flow of 'conj' at 'prio' and returns it. */
struct cflow *
compiler_add_conj_id_flow(const struct pf_conj *conj, uint16_t prio,
                          struct cflow_set *set)
{
    struct cflow *f = cflow_set_add(set, conj->table, prio, conj->cookie);
    f->match.fields = CFLOW_F_CONJ_ID;
    f->match.conj_id = conj->id;
    if (conj->log) {
        add_log_mark(f);
    }
    add_allow_actions(f, conj->reg, conj->id, conj->next_table);
    return f;
}

/* Appends to 'set' the conj_id flows of every conjunction in 'pfs', at
 * their bands' priorities (the clause flows go to the merge directly as
 * clause entries, see struct pending). */
static void
add_conjunctions(struct cf_policy_flows *const *pfs, size_t n_pfs,
                 const unsigned n_bands[CFLOW_N_TABLES],
                 struct cflow_set *set, struct u32_vec *ranks)
{
    for (size_t i = 0; i < n_pfs; i++) {
        for (size_t j = 0; pfs[i] && j < pfs[i]->n_conjs; j++) {
            const struct pf_conj *conj = &pfs[i]->conjs[j];
            uint16_t prio = PRIO_BAND + compiler_conj_band(
                conj->id, n_bands[conj->table]);
            compiler_add_conj_id_flow(conj, prio, set);
            u32_vec_push(ranks, conj->id);
        }
    }
}

/* True if every action of 'flow' is a conjunction() (a clause flow). */
bool
compiler_is_clause_flow(const struct cflow *flow)
{
    return flow->n_actions && flow->actions[0].type == CFLOW_A_CONJUNCTION;
}

/* Returns the cookie of the flow that 'p' stands for. */
static uint64_t
pending_cookie(const struct pending *p)
{
    return (p->flow ? p->flow->cookie
            : (p->conj->cookie & ~0xffffULL) | CFLOW_KIND_CLAUSE);
}

/* Appends to 'out' the one flow that the 'n' pending flows in 'grp' (same
 * key, ascending rank) merge into: the first one's cookie and match, and
 * for clause flows every distinct conjunction() action in rank order, else
 * the first one's actions. */
static void
emit_merged(const struct pending *grp, size_t n, struct cflow_set *out)
{
    const struct pending *first = &grp[0];
    struct cflow *f = cflow_set_add(out, first->table, first->priority,
                                    pending_cookie(first));
    f->match = *first->match;
    if (!first->flow || compiler_is_clause_flow(first->flow)) {
        for (size_t i = 0; i < n; i++) {
            const struct pending *p = &grp[i];
            compiler_merge_conjunctions(
                f, p->flow, p->conj ? p->conj->id : 0,
                p->conj ? pf_conj_entry(p->conj, p->entry)->clause : 0,
                p->conj ? p->conj->n_clauses : 0);
        }
    } else {
        for (size_t j = 0; j < first->flow->n_actions; j++) {
            cflow_add_action(f, &first->flow->actions[j]);
        }
    }
}

/* group_items() equality of pending flows 'i' and 'j' of array 'pend_':
 * same key. */
static bool
pending_key_equal(const void *pend_, size_t i, size_t j)
{
    const struct pending *pend = pend_;
    return !pending_key_compare(&pend[i], &pend[j]);
}

/* A group of pending flows with the same key, for sorting groups. */
struct pending_group {
    const struct pending *first;    /* Its first flow (not owned). */
    uint32_t group;             /* Group number. */
};

/* qsort() comparison of struct pending_group: by key (unique). */
static int
pending_group_compare(const void *a_, const void *b_)
{
    const struct pending_group *a = a_;
    const struct pending_group *b = b_;
    return pending_key_compare(a->first, b->first);
}

/* Merges the 'n' flows in 'pend' into 'out' in key order: flows with
 * equal keys become one (emit_merged()), taken in ascending rank.  The
 * same result as sorting 'pend' by (key, rank), but only the distinct keys
 * are sorted: the flows are grouped by key through a hash table first. */
static void
merge_pending(struct pending *pend, size_t n, struct cflow_set *out)
{
    uint32_t *hashes = cf_xcalloc(n ? n : 1, sizeof *hashes);
    for (size_t i = 0; i < n; i++) {
        hashes[i] = compiler_match_hash(pend[i].match,
                                        (pend[i].table
                                         | (uint32_t) pend[i].priority << 8));
    }
    struct groups g;
    group_items(n, hashes, pending_key_equal, pend, &g);
    free(hashes);

    struct pending_group *order = cf_xcalloc(g.n ? g.n : 1, sizeof *order);
    for (size_t i = 0; i < g.n; i++) {
        order[i].first = &pend[g.members[g.start[i]]];
        order[i].group = i;
    }
    qsort(order, g.n, sizeof *order, pending_group_compare);

    struct pending *grp = NULL;
    size_t allocated = 0;
    for (size_t i = 0; i < g.n; i++) {
        uint32_t gi = order[i].group;
        size_t m = g.start[gi + 1] - g.start[gi];
        if (m > allocated) {
            allocated = m;
            free(grp);
            grp = cf_xcalloc(allocated, sizeof *grp);
        }
        for (size_t j = 0; j < m; j++) {
            grp[j] = pend[g.members[g.start[gi] + j]];
        }
        bool sorted = true;
        for (size_t j = 1; sorted && j < m; j++) {
            sorted = grp[j - 1].rank <= grp[j].rank;
        }
        if (!sorted) {
            qsort(grp, m, sizeof *grp, pending_rank_compare);
        }
        emit_merged(grp, m, out);
    }
    free(grp);
    free(order);
    groups_destroy(&g);
}

/* Returns an error if 'node' or a policy of the 'n_pfs' contributions in
 * 'pfs' has no valid id, else NULL. */
char *
compiler_merge_check(const struct cf_node *node,
                     struct cf_policy_flows *const *pfs, size_t n_pfs)
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
    return NULL;
}

/* See compiler.h. */
char *
cf_compiler_merge(struct cf_compiler *c, const struct cf_node *node,
                  const struct cf_node_ports *ports,
                  struct cf_policy_flows *const *pfs, size_t n_pfs,
                  struct cflow_set *out)
{
    char *error = compiler_merge_check(node, pfs, n_pfs);
    if (error) {
        return error;
    }

    struct local_pod *locals;
    size_t n_locals;
    compiler_collect_locals(c, ports, &locals, &n_locals);

    struct cflow_set extra;
    struct u32_vec extra_ranks = { NULL, 0, 0 };
    cflow_set_init(&extra);
    compiler_add_pipeline(node, ports, locals, n_locals, &extra);
    free(locals);
    while (extra_ranks.n < extra.n) {
        u32_vec_push(&extra_ranks, 0);
    }
    unsigned n_bands[CFLOW_N_TABLES];
    compiler_choose_bands(pfs, n_pfs, n_bands);
    add_conjunctions(pfs, n_pfs, n_bands, &extra, &extra_ranks);

    size_t n = extra.n;
    for (size_t i = 0; i < n_pfs; i++) {
        n += pfs[i] ? pfs[i]->flows.n : 0;
        for (size_t j = 0; pfs[i] && j < pfs[i]->n_conjs; j++) {
            n += pf_conj_n(&pfs[i]->conjs[j]);
        }
    }
    struct pending *pend = cf_xcalloc(n ? n : 1, sizeof *pend);
    struct cflow_match *matches = cf_xcalloc(n ? n : 1, sizeof *matches);
    size_t k = 0;
    for (size_t i = 0; i < extra.n; i++) {
        pending_set_flow(&pend[k++], &extra.flows[i], extra_ranks.v[i]);
    }
    for (size_t i = 0; i < n_pfs; i++) {
        for (size_t j = 0; pfs[i] && j < pfs[i]->flows.n; j++) {
            pending_set_flow(&pend[k++], &pfs[i]->flows.flows[j],
                             pfs[i]->ranks.v[j]);
        }
        for (size_t j = 0; pfs[i] && j < pfs[i]->n_conjs; j++) {
            const struct pf_conj *conj = &pfs[i]->conjs[j];
            uint16_t prio = PRIO_BAND + compiler_conj_band(
                conj->id, n_bands[conj->table]);
            for (size_t e = 0; e < pf_conj_n(conj); e++) {
                pending_set_clause(&pend[k], conj, e, prio, &matches[k]);
                k++;
            }
        }
    }
    merge_pending(pend, n, out);
    free(pend);
    free(matches);
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

/* True if CIDRs 'a' and 'b' are the same. */
static bool
cidr_equal(const struct cf_cidr *a, const struct cf_cidr *b)
{
    return (a->plen == b->plen && a->addr.family == b->addr.family
            && !memcmp(a->addr.bytes, b->addr.bytes, sizeof a->addr.bytes));
}

/* True if strings 'a' and 'b' (either may be NULL) are the same. */
static bool
nullable_str_equal(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

/* True if peers 'a' and 'b' are the same. */
static bool
peer_equal(const struct cf_peer *a, const struct cf_peer *b)
{
    if (a->has_pod_sel != b->has_pod_sel || a->has_ns_sel != b->has_ns_sel
        || a->has_ipblock != b->has_ipblock
        || (a->has_pod_sel && !cf_selector_equal(&a->pod_sel, &b->pod_sel))
        || (a->has_ns_sel && !cf_selector_equal(&a->ns_sel, &b->ns_sel))) {
        return false;
    }
    if (a->has_ipblock) {
        const struct cf_ipblock *x = &a->ipblock, *y = &b->ipblock;
        if (!cidr_equal(&x->cidr, &y->cidr) || x->n_except != y->n_except) {
            return false;
        }
        for (size_t i = 0; i < x->n_except; i++) {
            if (!cidr_equal(&x->except[i], &y->except[i])) {
                return false;
            }
        }
    }
    return true;
}

/* True if the 'n' rules of 'a' and of 'b' are the same. */
static bool
rules_equal(const struct cf_rule *a, const struct cf_rule *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].n_peers != b[i].n_peers || a[i].n_ports != b[i].n_ports) {
            return false;
        }
        for (size_t j = 0; j < a[i].n_peers; j++) {
            if (!peer_equal(&a[i].peers[j], &b[i].peers[j])) {
                return false;
            }
        }
        for (size_t j = 0; j < a[i].n_ports; j++) {
            const struct cf_port *x = &a[i].ports[j], *y = &b[i].ports[j];
            if (x->proto != y->proto || x->kind != y->kind
                || x->port != y->port || x->end_port != y->end_port
                || !nullable_str_equal(x->name, y->name)) {
                return false;
            }
        }
    }
    return true;
}

/* True if policies 'a' and 'b' are the same (everything the compiler
 * reads of them). */
static bool
policy_equal(const struct cf_policy *a, const struct cf_policy *b)
{
    return (a->id == b->id && a->ingress == b->ingress
            && a->egress == b->egress && a->log == b->log
            && a->n_ingress == b->n_ingress && a->n_egress == b->n_egress
            && !strcmp(a->ns, b->ns) && !strcmp(a->name, b->name)
            && cf_selector_equal(&a->pod_sel, &b->pod_sel)
            && rules_equal(a->ingress_rules, b->ingress_rules, a->n_ingress)
            && rules_equal(a->egress_rules, b->egress_rules, a->n_egress));
}

/* True if 'pf' was compiled for local pods with the addresses of the
 * 'n' in 'locals', in the same order. */
static bool
locals_equal(const struct cf_policy_flows *pf,
             const struct local_pod *locals, size_t n)
{
    if (pf->local_ips.n != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (pf->local_ips.v[i] != locals[i].ip) {
            return false;
        }
    }
    return true;
}

/* Compiles policy 'pi' for the local pods 'sel', for 'cache' if nonnull:
 * then reuses what it can of the policy's last contribution in the cache
 * (see "Reuse of rules") and keeps a copy of the policy with the new
 * contribution. */
static struct cf_policy_flows *
compile_policy_cached(struct cf_compiler *c, size_t pi,
                      const struct local_pod *sel, size_t n_sel,
                      struct cf_node_cache *cache, struct cf_ds *key)
{
    if (!cache) {
        return compile_policy(c, pi, sel, n_sel, NULL);
    }
    const struct cf_policy *p = c->cluster->policies[pi];
    cf_ds_clear(key);
    cf_ds_put_joined(key, p->ns, '/', p->name);
    struct cf_policy_flows *old = compiler_cache_get_pf(cache,
                                                        cf_ds_cstr(key));
    /* Equal to the copy kept with the last contribution: known from the
     * generations (see compiler.h), else compared. */
    uint64_t last = compiler_cache_last_gen(cache);
    bool known_same = (old && c->gen && last
                       && (last == c->gen
                           || (c->follows && last + 1 == c->gen
                               && !cf_smap_get(&c->changed,
                                               cf_ds_cstr(key)))));
    bool same = (old && old->snapshot
                 && (known_same || policy_equal(old->snapshot, p)));
    uint64_t epoch = compiler_cache_rec_epoch(cache);
    if (same && old->peer_recs && old->recs_epoch != epoch) {
        /* The cache freed records since these were taken. */
        memset(old->peer_recs, 0, old->n_peer_keys * sizeof *old->peer_recs);
        old->recs_epoch = epoch;
        free(old->uniq_recs);
        old->uniq_recs = NULL;
    }
    struct reuse ru = {
        .cache = cache,
        .old = same && locals_equal(old, sel, n_sel) ? old : NULL,
        .peer_keys = same ? old->peer_keys : NULL,
        .n_peer_keys = same ? old->n_peer_keys : 0,
        .peer_recs = same ? old->peer_recs : NULL,
    };
    if (ru.old) {
        struct cf_policy_flows *pf = patch_policy_in_place(c, pi, &ru);
        if (pf) {
            return pf;
        }
    }
    struct cf_policy_flows *pf = compile_policy(c, pi, sel, n_sel, &ru);
    if (same) {
        pf->snapshot = old->snapshot;
        old->snapshot = NULL;
        pf->peer_keys = old->peer_keys;
        pf->n_peer_keys = old->n_peer_keys;
        pf->peer_recs = old->peer_recs;
        pf->recs_epoch = old->recs_epoch;
        pf->uniq_recs = old->uniq_recs;
        pf->n_uniq_recs = old->n_uniq_recs;
        pf->n_uniq_rules = old->n_uniq_rules;
        old->uniq_recs = NULL;
        old->peer_keys = NULL;
        old->n_peer_keys = 0;
        old->peer_recs = NULL;
        return pf;
    }
    pf->snapshot = cf_policy_clone(p);
    /* The peers' memo keys, as far as the rules were compiled. */
    size_t n = 0;
    for (size_t r = 0; r < p->n_ingress; r++) {
        n += p->ingress_rules[r].n_peers;
    }
    for (size_t r = 0; r < p->n_egress; r++) {
        n += p->egress_rules[r].n_peers;
    }
    pf->peer_keys = cf_xcalloc(n ? n : 1, sizeof *pf->peer_keys);
    pf->n_peer_keys = n;
    pf->peer_recs = cf_xcalloc(n ? n : 1, sizeof *pf->peer_recs);
    pf->recs_epoch = epoch;
    size_t k = 0;
    for (int d = 0; d < 2; d++) {
        enum cflow_dir dir = d ? CFLOW_DIR_EGRESS : CFLOW_DIR_INGRESS;
        size_t n_rules = d ? p->n_egress : p->n_ingress;
        for (size_t r = 0; r < n_rules; r++) {
            const struct cf_rule *rule = (d ? &p->egress_rules[r]
                                          : &p->ingress_rules[r]);
            const struct rule_cache *rc = (r < CF_MAX_RULES
                                           ? rule_cache_get(c, pi, dir, r)
                                           : NULL);
            for (size_t i = 0; i < rule->n_peers; i++, k++) {
                if (rc && rc->have_peers && rc->peer_keys[i]) {
                    pf->peer_keys[k] = cf_xstrdup(rc->peer_keys[i]);
                }
            }
        }
    }
    return pf;
}

/* Groups the local pods of the node with 'ports' by the policies selecting
 * them and compiles each policy's contribution: stores in '*pfsp' an array
 * of '*n_pfsp' contributions (none NULL), in policy order.  The caller
 * frees each one and the array.  With 'cache', compiles for it (see
 * compile_policy_cached()). */
void
compiler_node_contributions(struct cf_compiler *c,
                            const struct cf_node_ports *ports,
                            struct cf_node_cache *cache,
                            struct cf_policy_flows ***pfsp, size_t *n_pfsp)
{
    struct local_pod *locals;
    size_t n_locals;
    compiler_collect_locals(c, ports, &locals, &n_locals);

    /* (policy, local) pairs, sorted by policy. */
    size_t n_pairs = 0;
    for (size_t i = 0; i < n_locals; i++) {
        uint32_t pod = locals[i].pod;
        n_pairs += c->pod_pol_start[pod + 1] - c->pod_pol_start[pod];
    }
    uint32_t (*pairs)[2] = cf_xmalloc((n_pairs ? n_pairs : 1)
                                      * sizeof *pairs);
    n_pairs = 0;
    for (size_t i = 0; i < n_locals; i++) {
        uint32_t pod = locals[i].pod;
        for (uint32_t j = c->pod_pol_start[pod];
             j < c->pod_pol_start[pod + 1]; j++) {
            pairs[n_pairs][0] = c->pod_pol[j];
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
    struct cf_ds key = CF_DS_INIT;
    if (cache) {
        compiler_cache_begin(cache);
    }
    for (size_t start = 0; start < n_pairs; ) {
        size_t end = start;
        size_t n_sel = 0;
        while (end < n_pairs && pairs[end][0] == pairs[start][0]) {
            if (!n_sel || sel[n_sel - 1].pod != locals[pairs[end][1]].pod) {
                sel[n_sel++] = locals[pairs[end][1]];
            }
            end++;
        }
        pfs[n_pfs++] = compile_policy_cached(c, pairs[start][0], sel, n_sel,
                                             cache, &key);
        start = end;
    }
    if (cache) {
        compiler_cache_end(cache);
    }
    cf_ds_destroy(&key);
    free(sel);
    free(pairs);
    free(locals);
    *pfsp = pfs;
    *n_pfsp = n_pfs;
}

/* See compiler.h.  Groups the node's local pods by the policies selecting
 * them, compiles each policy's contribution, and merges. */
char *
cf_compiler_node_flows(struct cf_compiler *c, const struct cf_node *node,
                       const struct cf_node_ports *ports,
                       struct cflow_set *out)
{
    struct cf_policy_flows **pfs;
    size_t n_pfs;
    compiler_node_contributions(c, ports, NULL, &pfs, &n_pfs);

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
