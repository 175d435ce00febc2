/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The compiler's indexes (see compiler-private.h): vectors, CIDR sets and
 * differences, a string hash map, the label index, and memoized selector
 * evaluation for pods, namespaces and peers.
 */
#include "conjflow-config.h"

#include "compiler-private.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "conjflow/compiler.h"

/* ---- Vectors ----------------------------------------------------------- */

/* Appends 'x' to 'vec'. */
void
u32_vec_push(struct u32_vec *vec, uint32_t x)
{
    if (vec->n >= vec->allocated) {
        vec->v = cf_x2nrealloc(vec->v, &vec->allocated, sizeof *vec->v);
    }
    vec->v[vec->n++] = x;
}

/* Frees 'vec''s array and empties it. */
void
u32_vec_destroy(struct u32_vec *vec)
{
    free(vec->v);
    memset(vec, 0, sizeof *vec);
}

/* qsort() comparison of uint32_t values. */
static int
u32_compare(const void *a_, const void *b_)
{
    uint32_t a = *(const uint32_t *) a_;
    uint32_t b = *(const uint32_t *) b_;
    return a < b ? -1 : a > b;
}

/* Sorts 'vec' ascending and removes duplicates (skips the sort if 'vec' is
 * already ascending). */
void
u32_vec_sort_unique(struct u32_vec *vec)
{
    bool sorted = true;
    for (size_t i = 1; i < vec->n; i++) {
        if (vec->v[i - 1] >= vec->v[i]) {
            sorted = false;
            break;
        }
    }
    if (sorted) {
        return;
    }
    qsort(vec->v, vec->n, sizeof *vec->v, u32_compare);
    size_t n = 0;
    for (size_t i = 0; i < vec->n; i++) {
        if (!n || vec->v[n - 1] != vec->v[i]) {
            vec->v[n++] = vec->v[i];
        }
    }
    vec->n = n;
}

/* True if sorted 'vec' contains 'x'. */
bool
u32_vec_contains(const struct u32_vec *vec, uint32_t x)
{
    size_t lo = 0, hi = vec->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (vec->v[mid] < x) {
            lo = mid + 1;
        } else if (vec->v[mid] > x) {
            hi = mid;
        } else {
            return true;
        }
    }
    return false;
}

/* Appends 'addr'/'plen' to 'vec' (clearing host bits). */
void
cidr4_vec_push(struct cidr4_vec *vec, uint32_t addr, unsigned plen)
{
    if (vec->n >= vec->allocated) {
        vec->v = cf_x2nrealloc(vec->v, &vec->allocated, sizeof *vec->v);
    }
    vec->v[vec->n].addr = addr & cidr4_mask(plen);
    vec->v[vec->n].plen = plen;
    vec->n++;
}

/* Frees 'vec''s array and empties it. */
void
cidr4_vec_destroy(struct cidr4_vec *vec)
{
    free(vec->v);
    memset(vec, 0, sizeof *vec);
}

/* qsort() comparison of CIDRs: address, then shorter prefix first. */
static int
cidr4_compare(const void *a_, const void *b_)
{
    const struct cidr4 *a = a_;
    const struct cidr4 *b = b_;
    if (a->addr != b->addr) {
        return a->addr < b->addr ? -1 : 1;
    }
    return a->plen < b->plen ? -1 : a->plen > b->plen;
}

/* True if 'inner' lies within 'outer'. */
static bool
cidr4_within(const struct cidr4 *inner, const struct cidr4 *outer)
{
    return (inner->plen >= outer->plen
            && (inner->addr & cidr4_mask(outer->plen)) == outer->addr);
}

/* Sorts 'vec' and removes every block that lies within another.  Because
 * CIDR blocks either nest or are disjoint, after sorting by (address,
 * prefix length) a block is covered iff it lies within the last block
 * kept. */
void
cidr4_vec_normalize(struct cidr4_vec *vec)
{
    if (vec->n < 2) {
        return;
    }
    qsort(vec->v, vec->n, sizeof *vec->v, cidr4_compare);
    size_t n = 0;
    for (size_t i = 0; i < vec->n; i++) {
        if (!n || !cidr4_within(&vec->v[i], &vec->v[n - 1])) {
            vec->v[n++] = vec->v[i];
        }
    }
    vec->n = n;
}

/* Recursive helper of cidr4_difference(): appends 'block' minus the
 * IPv4 blocks among 'except' to 'out'.  A block that no except overlaps is
 * kept whole, one inside an except is dropped, any other is split in two
 * halves. */
static void
cidr4_difference__(uint32_t addr, unsigned plen, const struct cidr4 *except,
                   size_t n_except, struct cidr4_vec *out)
{
    struct cidr4 block = { addr, plen };
    bool overlap = false;
    for (size_t i = 0; i < n_except; i++) {
        if (cidr4_within(&block, &except[i])) {
            return;
        }
        if (cidr4_within(&except[i], &block)) {
            overlap = true;
        }
    }
    if (!overlap) {
        cidr4_vec_push(out, addr, plen);
        return;
    }
    /* plen < 32 here: a /32 that overlaps an except lies within it. */
    uint32_t half = 1u << (31 - plen);
    cidr4_difference__(addr, plen + 1, except, n_except, out);
    cidr4_difference__(addr | half, plen + 1, except, n_except, out);
}

/* Appends 'block' minus 'except' (IPv4 entries) to 'out', as the minimal
 * list of CIDR blocks (the split only follows the except blocks, so the
 * result has at most 32 blocks per except). */
void
cidr4_difference(const struct cidr4 *block, const struct cf_cidr *except,
                 size_t n_except, struct cidr4_vec *out)
{
    struct cidr4 *ex = cf_xcalloc(n_except ? n_except : 1, sizeof *ex);
    size_t n = 0;
    for (size_t i = 0; i < n_except; i++) {
        if (except[i].addr.family == 4) {
            ex[n].addr = (cf_addr_ipv4(&except[i].addr)
                          & cidr4_mask(except[i].plen));
            ex[n].plen = except[i].plen;
            n++;
        }
    }
    cidr4_difference__(block->addr, block->plen, ex, n, out);
    free(ex);
}

/* ---- String map -------------------------------------------------------- */

/* Initializes 'map' empty. */
void
cf_smap_init(struct cf_smap *map)
{
    map->mask = 15;
    map->buckets = cf_xcalloc(map->mask + 1, sizeof *map->buckets);
    map->n = 0;
}

/* Frees 'map''s nodes and keys, calling 'free_data' (if nonnull) on each
 * value. */
void
cf_smap_destroy(struct cf_smap *map, void (*free_data)(void *))
{
    if (!map->buckets) {
        return;
    }
    for (size_t i = 0; i <= map->mask; i++) {
        struct cf_smap_node *node, *next;
        for (node = map->buckets[i]; node; node = next) {
            next = node->next;
            if (free_data) {
                free_data(node->data);
            }
            free(node);
        }
    }
    free(map->buckets);
    map->buckets = NULL;
    map->n = 0;
}

/* Returns the node of 'key' (with hash 'hash') or NULL. */
static struct cf_smap_node *
cf_smap_find(const struct cf_smap *map, const char *key, uint32_t hash)
{
    for (struct cf_smap_node *node = map->buckets[hash & map->mask]; node;
         node = node->next) {
        if (node->hash == hash && !strcmp(node->key, key)) {
            return node;
        }
    }
    return NULL;
}

/* Returns the value of 'key' in 'map', or NULL if absent. */
void *
cf_smap_get(const struct cf_smap *map, const char *key)
{
    struct cf_smap_node *node = cf_smap_find(map, key, cf_hash_string(key, 0));
    return node ? node->data : NULL;
}

/* Doubles the number of buckets of 'map'. */
static void
cf_smap_expand(struct cf_smap *map)
{
    size_t new_mask = map->mask * 2 + 1;
    map->buckets = cf_hash_rechain(map->buckets, map->mask, new_mask,
                                   offsetof(struct cf_smap_node, hash));
    map->mask = new_mask;
}

/* Returns the value slot of 'key' in 'map', adding 'key' with a NULL value
 * if it is absent. */
void **
cf_smap_slot(struct cf_smap *map, const char *key)
{
    uint32_t hash = cf_hash_string(key, 0);
    struct cf_smap_node *node = cf_smap_find(map, key, hash);
    if (!node) {
        if (map->n >= map->mask) {
            cf_smap_expand(map);
        }
        /* One allocation for the node and its key. */
        size_t len = strlen(key);
        node = cf_xmalloc(sizeof *node + len + 1);
        node->hash = hash;
        node->key = memcpy(node + 1, key, len + 1);
        node->data = NULL;
        node->next = map->buckets[hash & map->mask];
        map->buckets[hash & map->mask] = node;
        map->n++;
    }
    return &node->data;
}

/* See compiler-private.h. */
void
cf_smap_sweep(struct cf_smap *map, bool (*keep)(void *data, void *aux),
              void *aux, void (*free_data)(void *))
{
    for (size_t b = 0; map->buckets && b <= map->mask; b++) {
        struct cf_smap_node **p = &map->buckets[b];
        while (*p) {
            struct cf_smap_node *node = *p;
            if (keep(node->data, aux)) {
                p = &node->next;
                continue;
            }
            *p = node->next;
            if (free_data) {
                free_data(node->data);
            }
            free(node);
            map->n--;
        }
    }
}

/* ---- Label index -------------------------------------------------------- */

/* Frees a struct cidr4_vec allocated on the heap. */
static void
free_cidr4_vec(void *vec_)
{
    struct cidr4_vec *vec = vec_;
    if (vec) {
        cidr4_vec_destroy(vec);
        free(vec);
    }
}

/* Frees a struct u32_vec allocated on the heap. */
static void
free_u32_vec(void *vec_)
{
    struct u32_vec *vec = vec_;
    if (vec) {
        u32_vec_destroy(vec);
        free(vec);
    }
}

/* Initializes 'ix' empty. */
void
label_index_init(struct label_index *ix)
{
    cf_smap_init(&ix->map);
}

/* Frees 'ix''s contents. */
void
label_index_destroy(struct label_index *ix)
{
    cf_smap_destroy(&ix->map, free_u32_vec);
}

/* Adds 'idx' to the list of 'key' (with 'value', or key presence if
 * 'value' is NULL) in 'ix', using 'ds' as scratch. */
static void
label_index_add__(struct label_index *ix, struct cf_ds *ds, const char *key,
                  const char *value, uint32_t idx)
{
    cf_ds_clear(ds);
    cf_ds_put_cstr(ds, key);
    if (value) {
        cf_ds_put_char(ds, '\1');
        cf_ds_put_cstr(ds, value);
    } else {
        cf_ds_put_char(ds, '\2');
    }
    struct u32_vec **slot = (struct u32_vec **) cf_smap_slot(&ix->map,
                                                          cf_ds_cstr(ds));
    if (!*slot) {
        *slot = cf_xzalloc(sizeof **slot);
    }
    u32_vec_push(*slot, idx);
}

/* Indexes label set 'labels' as index 'idx'. */
void
label_index_add(struct label_index *ix, const struct cf_labels *labels,
                uint32_t idx)
{
    struct cf_ds ds = CF_DS_INIT;
    for (size_t i = 0; i < labels->n; i++) {
        label_index_add__(ix, &ds, labels->items[i].key,
                          labels->items[i].value, idx);
        label_index_add__(ix, &ds, labels->items[i].key, NULL, idx);
    }
    cf_ds_destroy(&ds);
}

/* Returns the list of 'key'='value' (or 'key' presence if 'value' is NULL)
 * in 'ix', or NULL if no label set has it. */
static const struct u32_vec *
label_index_get(const struct label_index *ix, struct cf_ds *ds,
                const char *key, const char *value)
{
    cf_ds_clear(ds);
    cf_ds_put_cstr(ds, key);
    if (value) {
        cf_ds_put_char(ds, '\1');
        cf_ds_put_cstr(ds, value);
    } else {
        cf_ds_put_char(ds, '\2');
    }
    return cf_smap_get(&ix->map, cf_ds_cstr(ds));
}

/* See compiler-private.h. */
bool
label_index_candidates(const struct label_index *ix,
                       const struct cf_selector *sel, size_t limit,
                       struct u32_vec *cands)
{
    struct cf_ds ds = CF_DS_INIT;
    const struct cf_sel_req *best = NULL;
    size_t best_n = SIZE_MAX;

    for (size_t i = 0; i < sel->n_reqs; i++) {
        const struct cf_sel_req *req = &sel->reqs[i];
        size_t n = 0;
        if (req->op == CF_SEL_IN) {
            for (size_t j = 0; j < req->n_values; j++) {
                const struct u32_vec *l = label_index_get(ix, &ds, req->key,
                                                          req->values[j]);
                n += l ? l->n : 0;
            }
        } else if (req->op == CF_SEL_EXISTS) {
            const struct u32_vec *l = label_index_get(ix, &ds, req->key,
                                                      NULL);
            n = l ? l->n : 0;
        } else {
            continue;
        }
        if (n < best_n) {
            best_n = n;
            best = req;
        }
    }
    if (!best || best_n > limit) {
        cf_ds_destroy(&ds);
        return false;
    }

    cands->n = 0;
    if (best->op == CF_SEL_IN) {
        for (size_t j = 0; j < best->n_values; j++) {
            const struct u32_vec *l = label_index_get(ix, &ds, best->key,
                                                      best->values[j]);
            for (size_t k = 0; l && k < l->n; k++) {
                u32_vec_push(cands, l->v[k]);
            }
        }
    } else {
        const struct u32_vec *l = label_index_get(ix, &ds, best->key, NULL);
        for (size_t k = 0; l && k < l->n; k++) {
            u32_vec_push(cands, l->v[k]);
        }
    }
    u32_vec_sort_unique(cands);
    cf_ds_destroy(&ds);
    return true;
}

/* ---- Selector evaluation ------------------------------------------------ */

/* See compiler-private.h. */
const struct u32_vec *
compiler_select_pods(struct cf_compiler *c, const char *ns,
                     const struct cf_selector *sel)
{
    struct cf_ds *key = &c->scratch;
    cf_ds_clear(key);
    cf_ds_put_cstr(key, ns);
    cf_ds_put_char(key, '\3');
    cf_selector_format(sel, key);

    struct u32_vec **slot = (struct u32_vec **) cf_smap_slot(&c->pod_sel_memo,
                                                          cf_ds_cstr(key));
    if (*slot) {
        return *slot;
    }
    struct u32_vec *result = cf_xzalloc(sizeof *result);
    *slot = result;

    const struct pod_range *range = cf_smap_get(&c->ns_pods, ns);
    if (!range) {
        return result;
    }
    const struct cf_cluster *cl = c->cluster;
    size_t span = range->end - range->start;
    struct u32_vec cands = { NULL, 0, 0 };
    if (label_index_candidates(&c->pod_index, sel, span, &cands)) {
        for (size_t i = 0; i < cands.n; i++) {
            uint32_t p = cands.v[i];
            if (p >= range->start && p < range->end
                && !cl->pods[p]->host_network
                && cf_selector_matches(sel, &cl->pods[p]->labels)) {
                u32_vec_push(result, p);
            }
        }
    } else {
        for (uint32_t p = range->start; p < range->end; p++) {
            if (!cl->pods[p]->host_network
                && cf_selector_matches(sel, &cl->pods[p]->labels)) {
                u32_vec_push(result, p);
            }
        }
    }
    u32_vec_destroy(&cands);
    return result;
}

/* See compiler-private.h. */
const struct u32_vec *
compiler_select_namespaces(struct cf_compiler *c,
                           const struct cf_selector *sel)
{
    struct cf_ds *key = &c->scratch;
    cf_ds_clear(key);
    cf_selector_format(sel, key);

    struct u32_vec **slot = (struct u32_vec **) cf_smap_slot(&c->ns_sel_memo,
                                                          cf_ds_cstr(key));
    if (*slot) {
        return *slot;
    }
    struct u32_vec *result = cf_xzalloc(sizeof *result);
    *slot = result;

    const struct cf_cluster *cl = c->cluster;
    struct u32_vec cands = { NULL, 0, 0 };
    if (label_index_candidates(&c->ns_index, sel, cl->n_namespaces,
                               &cands)) {
        for (size_t i = 0; i < cands.n; i++) {
            if (cf_selector_matches(sel,
                                    &cl->namespaces[cands.v[i]]->labels)) {
                u32_vec_push(result, cands.v[i]);
            }
        }
    } else {
        for (uint32_t i = 0; i < cl->n_namespaces; i++) {
            if (cf_selector_matches(sel, &cl->namespaces[i]->labels)) {
                u32_vec_push(result, i);
            }
        }
    }
    u32_vec_destroy(&cands);
    return result;
}

/* See compiler-private.h.  Semantics (NetworkPolicyPeer): podSelector
 * alone selects pods in the policy's namespace; namespaceSelector alone
 * every pod of the selected namespaces; both, the pods the podSelector
 * selects in the selected namespaces.  Only existing Namespace objects are
 * matched by a namespaceSelector. */
const struct u32_vec *
compiler_peer_pods(struct cf_compiler *c, const char *policy_ns,
                   const struct cf_peer *peer)
{
    return compiler_peer_pods_key(c, policy_ns, peer, NULL);
}

/* See compiler-private.h. */
const struct u32_vec *
compiler_peer_pods_key(struct cf_compiler *c, const char *policy_ns,
                       const struct cf_peer *peer, const char **keyp)
{
    static const struct cf_selector everything = { NULL, 0 };
    const struct cf_selector *pod_sel = (peer->has_pod_sel ? &peer->pod_sel
                                         : &everything);
    struct cf_ds key = CF_DS_INIT;
    if (peer->has_ns_sel) {
        cf_ds_put_cstr(&key, "N");
        cf_selector_format(&peer->ns_sel, &key);
    } else {
        cf_ds_put_cstr(&key, "O");
        cf_ds_put_cstr(&key, policy_ns);
    }
    cf_ds_put_char(&key, '\3');
    cf_selector_format(pod_sel, &key);
    const struct u32_vec *pods = compiler_peer_pods_by_key(
        c, policy_ns, peer, cf_ds_cstr(&key), keyp);
    cf_ds_destroy(&key);
    return pods;
}

/* See compiler-private.h. */
const struct u32_vec *
compiler_peer_pods_by_key(struct cf_compiler *c, const char *policy_ns,
                          const struct cf_peer *peer, const char *key,
                          const char **keyp)
{
    static const struct cf_selector everything = { NULL, 0 };
    const struct cf_selector *pod_sel = (peer->has_pod_sel ? &peer->pod_sel
                                         : &everything);
    void **vslot = cf_smap_slot(&c->peer_memo, key);
    struct u32_vec **slot = (struct u32_vec **) vslot;
    if (keyp) {
        /* The slot is the 'data' member of the map's node. */
        const void *base = ((const char *) vslot
                            - offsetof(struct cf_smap_node, data));
        const struct cf_smap_node *node = base;
        *keyp = node->key;
    }
    if (*slot) {
        return *slot;
    }
    struct u32_vec *result = cf_xzalloc(sizeof *result);
    *slot = result;

    if (!peer->has_ns_sel) {
        const struct u32_vec *pods = compiler_select_pods(c, policy_ns,
                                                          pod_sel);
        for (size_t i = 0; i < pods->n; i++) {
            u32_vec_push(result, pods->v[i]);
        }
        return result;
    }
    const struct u32_vec *nss = compiler_select_namespaces(c, &peer->ns_sel);
    for (size_t i = 0; i < nss->n; i++) {
        const char *ns = c->cluster->namespaces[nss->v[i]]->name;
        const struct u32_vec *pods = compiler_select_pods(c, ns, pod_sel);
        for (size_t j = 0; j < pods->n; j++) {
            u32_vec_push(result, pods->v[j]);
        }
    }
    u32_vec_sort_unique(result);
    return result;
}

/* ---- Building and freeing ----------------------------------------------- */

/* qsort() comparison of struct ip_pod by address, then pod. */
static int
ip_pod_compare(const void *a_, const void *b_)
{
    const struct ip_pod *a = a_;
    const struct ip_pod *b = b_;
    if (a->ip != b->ip) {
        return a->ip < b->ip ? -1 : 1;
    }
    return a->pod < b->pod ? -1 : a->pod > b->pod;
}

/* See compiler-private.h. */
void
compiler_index_build(struct cf_compiler *c)
{
    const struct cf_cluster *cl = c->cluster;

    label_index_init(&c->pod_index);
    label_index_init(&c->ns_index);
    cf_smap_init(&c->ns_pods);
    cf_smap_init(&c->ns_sel_memo);
    cf_smap_init(&c->pod_sel_memo);
    cf_smap_init(&c->peer_memo);
    cf_smap_init(&c->addrs_memo);
    cf_smap_init(&c->changed);
    cf_ds_init(&c->scratch);

    c->pod_ip = cf_xcalloc(cl->n_pods ? cl->n_pods : 1, sizeof *c->pod_ip);
    c->ip_pods = cf_xcalloc(cl->n_pods ? cl->n_pods : 1, sizeof *c->ip_pods);
    c->n_ip_pods = 0;
    for (uint32_t i = 0; i < cl->n_pods; i++) {
        const struct cf_pod *pod = cl->pods[i];
        for (size_t j = 0; j < pod->n_ips; j++) {
            if (pod->ips[j].family == 4) {
                c->pod_ip[i] = cf_addr_ipv4(&pod->ips[j]);
                break;
            }
        }
        if (c->pod_ip[i] && !pod->host_network) {
            c->ip_pods[c->n_ip_pods].ip = c->pod_ip[i];
            c->ip_pods[c->n_ip_pods].pod = i;
            c->n_ip_pods++;
        }
        label_index_add(&c->pod_index, &pod->labels, i);

        /* Pods are sorted by namespace (see cf_compiler_create()), so a
         * namespace's pods are contiguous. */
        struct pod_range **range = (struct pod_range **) cf_smap_slot(
            &c->ns_pods, pod->ns);
        if (!*range) {
            *range = cf_xmalloc(sizeof **range);
            (*range)->start = i;
        }
        (*range)->end = i + 1;
    }
    qsort(c->ip_pods, c->n_ip_pods, sizeof *c->ip_pods, ip_pod_compare);
    for (uint32_t i = 0; i < cl->n_namespaces; i++) {
        label_index_add(&c->ns_index, &cl->namespaces[i]->labels, i);
    }
}

/* See compiler-private.h. */
uint32_t
compiler_find_pod(const struct cf_compiler *c, const char *key)
{
    const char *slash = strchr(key, '/');
    if (!slash) {
        return 0;
    }
    size_t ns_len = slash - key;
    const char *name = slash + 1;
    const struct cf_cluster *cl = c->cluster;
    size_t lo = 0, hi = cl->n_pods;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cf_pod *pod = cl->pods[mid];
        int cmp = strncmp(pod->ns, key, ns_len);
        if (!cmp && pod->ns[ns_len]) {
            cmp = 1;            /* 'pod->ns' is longer. */
        }
        if (!cmp) {
            cmp = strcmp(pod->name, name);
        }
        if (!cmp) {
            return mid + 1;
        } else if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return 0;
}

/* See compiler-private.h. */
void
compiler_index_destroy(struct cf_compiler *c)
{
    label_index_destroy(&c->pod_index);
    label_index_destroy(&c->ns_index);
    cf_smap_destroy(&c->ns_pods, free);
    cf_smap_destroy(&c->changed, NULL);
    cf_smap_destroy(&c->ns_sel_memo, free_u32_vec);
    cf_smap_destroy(&c->pod_sel_memo, free_u32_vec);
    cf_smap_destroy(&c->peer_memo, free_u32_vec);
    cf_smap_destroy(&c->addrs_memo, free_cidr4_vec);
    cf_ds_destroy(&c->scratch);
    free(c->pod_ip);
    free(c->ip_pods);
}

/* ---- What a pod change touches ------------------------------------------ */

/* True if 'pod' has an IPv4 address in 'block' outside its
 * excepts. */
static bool
pod_in_ipblock(const struct cf_pod *pod, const struct cf_ipblock *block)
{
    if (block->cidr.addr.family != 4) {
        return false;
    }
    uint32_t mask = cidr4_mask(block->cidr.plen);
    uint32_t net = cf_addr_ipv4(&block->cidr.addr) & mask;
    for (size_t i = 0; i < pod->n_ips; i++) {
        if (pod->ips[i].family != 4) {
            continue;
        }
        uint32_t ip = cf_addr_ipv4(&pod->ips[i]);
        if ((ip & mask) != net) {
            continue;
        }
        bool excepted = false;
        for (size_t j = 0; j < block->n_except && !excepted; j++) {
            const struct cf_cidr *ex = &block->except[j];
            uint32_t emask = cidr4_mask(ex->plen);
            excepted = (ex->addr.family == 4
                        && (ip & emask) == (cf_addr_ipv4(&ex->addr) & emask));
        }
        if (!excepted) {
            return true;
        }
    }
    return false;
}

/* True if rule 'r' of policy 'p' in 'cluster' ('egress' tells its
 * direction) may depend on 'pod' as a peer (see
 * cf_policy_may_select_peer()). */
static bool
rule_may_select(const struct cf_cluster *cluster, const struct cf_policy *p,
                const struct cf_rule *r, bool egress,
                const struct cf_pod *pod)
{
    bool named = false;
    for (size_t i = 0; i < r->n_ports && !named; i++) {
        named = r->ports[i].kind == CF_PORT_NAME;
    }
    if (!r->n_peers) {
        /* Every peer: only named ports resolve against pods. */
        return named;
    }
    for (size_t i = 0; i < r->n_peers; i++) {
        const struct cf_peer *peer = &r->peers[i];
        if (peer->has_ipblock) {
            /* The addresses are pure CIDRs, but an egress rule's named
             * ports resolve against the pods inside the block. */
            if (egress && named && pod_in_ipblock(pod, &peer->ipblock)) {
                return true;
            }
            continue;
        }
        bool ns_ok;
        if (peer->has_ns_sel) {
            const struct cf_namespace *ns
                = cf_cluster_find_namespace(cluster, pod->ns);
            ns_ok = ns && cf_selector_matches(&peer->ns_sel, &ns->labels);
        } else {
            ns_ok = !strcmp(pod->ns, p->ns);
        }
        if (ns_ok && (!peer->has_pod_sel
                      || cf_selector_matches(&peer->pod_sel,
                                             &pod->labels))) {
            return true;
        }
    }
    return false;
}

/* See compiler.h. */
bool
cf_policy_may_select_peer(const struct cf_cluster *cluster,
                          const struct cf_policy *policy,
                          const struct cf_pod *pod)
{
    for (size_t i = 0; i < policy->n_ingress; i++) {
        if (rule_may_select(cluster, policy, &policy->ingress_rules[i],
                            false, pod)) {
            return true;
        }
    }
    for (size_t i = 0; i < policy->n_egress; i++) {
        if (rule_may_select(cluster, policy, &policy->egress_rules[i],
                            true, pod)) {
            return true;
        }
    }
    return false;
}
