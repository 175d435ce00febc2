/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The compiler's node cache (struct cf_node_cache in conjflow/compiler.h):
 * incremental merging for cf_compiler_node_flows_cached(), and the per-node
 * records that let compiler.c reuse a rule's last flows ("Reuse of rules"
 * in compiler.c).
 *
 * compiler.c compiles each policy's contribution to a node (struct
 * cf_policy_flows) and merges contributions in full (cf_compiler_merge());
 * this file keeps a node's merged table between compilations and updates
 * only the keys where a policy's new contribution differs from its last
 * one.  It builds on compiler.c's internals (the contribution structs, the
 * pipeline, bands, clause and conj_id flows) through compiler-private.h,
 * and gives compiler.c the cache's per-compilation hooks
 * (compiler_cache_begin(), compiler_cache_end(), compiler_cache_get_pf(),
 * compiler_cache_peers_unchanged(), compiler_cache_count_reuse()).  Its
 * output is always exactly cf_compiler_node_flows()'s: anything it does not
 * handle falls back to a full merge (see below).
 */
#include "conjflow-config.h"

#include "conjflow/compiler.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "compiler-private.h"
#include "conjflow/cfutil.h"

/* ---- Incremental merging ------------------------------------------------
 *
 * A struct cf_node_cache keeps one node's merged flow table as a hash map
 * from flow key (table, priority, match) to what is merged into that key
 * (whole flows and conjunction clause entries, each with its merge rank,
 * kept in rank order), the merged flow of every key, the keys in output
 * order, and each policy's last contribution.  The next compilation
 * compares each policy's new contribution with its last one and updates
 * only the keys where they differ: for a conjunction whose address set
 * gained one address, one clause entry.  Only those keys' flows are made
 * again and only new keys are sorted.
 *
 * Bands: a fresh cache takes the number of bands of each rule table that
 * compiler_choose_bands() gives (usually one), and keeps it while that is
 * still what compiler_choose_bands() would give: the smallest power of two
 * with at most CFLOW_MAX_CONJUNCTIONS clause entries in every key.  Each
 * update checks the keys it touched: none may carry more (else more bands
 * are needed), and with n > 1 bands, halving must still be impossible:
 * the cache counts, per table, the pairs of keys (same match, bands b and
 * b + n/2) that could not be one key at n/2 bands, and only pairs with a
 * touched key can change.  When the bands must change, or on any
 * unexpected state, the cache is emptied and the node merged in full with
 * cf_compiler_merge(), and the next compilation starts the cache afresh,
 * so the output is always exactly cf_compiler_node_flows()'s. */

/* ---- Shared clause 1 ----------------------------------------------------
 *
 * A node cache keeps, for each rule, its conjunction's clause entries.
 * Clause 1 is the big one (a rule's peer addresses: every pod of the
 * namespaces it selects), and rules share it: every rule of a namespace's
 * policies that allows "the monitoring namespace" has the same one.  So a
 * clause 1 is a struct conj_block, and compiling for a node cache, equal
 * ones are the same block (the cache's table of blocks finds them by
 * hash), shared by reference.
 *
 * When a pod comes or goes, every rule with it among its peers is patched
 * (see "Reuse of rules" in compiler.c): its clause 1 gains or loses the
 * pod's address.  The table remembers each patch of the compilation under
 * way (the block patched, the addresses, whether each is added) with its
 * result, so that the rules sharing a block make the new block once, and
 * each of the others only takes a reference: the patch of 1,500 rules
 * touches each rule's conjunction, not each rule's entries.  Equal results
 * of different blocks are one block too (the table finds them). */

void
conj_blocks_init(struct conj_blocks *t)
{
    memset(t, 0, sizeof *t);
}

void
conj_blocks_destroy(struct conj_blocks *t)
{
    conj_blocks_end(t);
    for (size_t i = 0; t->buckets && i <= t->mask; i++) {
        for (struct conj_block *b = t->buckets[i]; b; b = b->next) {
            b->owner = NULL;
        }
    }
    free(t->buckets);
    free(t->patches);
    conj_blocks_init(t);
}

void
conj_blocks_end(struct conj_blocks *t)
{
    for (size_t i = 0; t->n_patches && i <= t->patch_mask; i++) {
        struct block_patch *bp = &t->patches[i];
        if (bp->old) {
            conj_block_unref(bp->old);
            conj_block_unref(bp->new);
            bp->old = bp->new = NULL;
        }
    }
    t->n_patches = 0;
}

/* Hash of the 'n' entries 'e'. */
static uint32_t
block_hash(const struct conj_entry *e, size_t n)
{
    return cf_hash_bytes(e, n * sizeof *e, n);
}

/* Doubles the buckets of 't'. */
static void
blocks_expand(struct conj_blocks *t)
{
    size_t mask = t->buckets ? t->mask * 2 + 1 : 63;
    t->buckets = cf_hash_rechain(t->buckets, t->mask, mask,
                                 offsetof(struct conj_block, hash));
    t->mask = mask;
}

struct conj_block *
conj_block_make(struct conj_blocks *t, const struct conj_entry *e, size_t n)
{
    uint32_t hash = block_hash(e, n);
    if (t && t->buckets) {
        for (struct conj_block *b = t->buckets[hash & t->mask]; b;
             b = b->next) {
            if (b->hash == hash && b->n == n
                && !memcmp(b->e, e, n * sizeof *e)) {
                return conj_block_ref(b);
            }
        }
    }
    struct conj_block *b = cf_xmalloc(sizeof *b + n * sizeof *e);
    b->owner = t;
    b->hash = hash;
    b->ref = 1;
    b->n = n;
    memcpy(b->e, e, n * sizeof *e);
    b->next = NULL;
    if (t) {
        if (!t->buckets || t->n > 2 * (t->mask + 1)) {
            blocks_expand(t);
        }
        b->next = t->buckets[hash & t->mask];
        t->buckets[hash & t->mask] = b;
        t->n++;
    }
    return b;
}

void
conj_block_unref(struct conj_block *b)
{
    if (!b || --b->ref) {
        return;
    }
    struct conj_blocks *t = b->owner;
    if (t) {
        struct conj_block **p = &t->buckets[b->hash & t->mask];
        while (*p != b) {
            p = &(*p)->next;
        }
        *p = b->next;
        t->n--;
    }
    free(b);
}

/* Hash of a patch of block 'old'. */
static uint32_t
patch_hash(const struct conj_block *old, const uint32_t ip[], uint8_t add,
           size_t n)
{
    uint32_t hash = cf_hash_bytes(&old, sizeof old, add | n << 8);
    return cf_hash_bytes(ip, n * sizeof *ip, hash);
}

/* Returns the slot of 't' for the patch (see conj_blocks_have_patch()):
 * where it is, or the free slot where it would go; NULL if 't' has no
 * slots. */
static struct block_patch *
patch_slot(const struct conj_blocks *t, const struct conj_block *old,
           const uint32_t ip[], uint8_t add, size_t n)
{
    if (!t->patches) {
        return NULL;
    }
    for (size_t i = patch_hash(old, ip, add, n); ; i++) {
        struct block_patch *bp = &t->patches[i & t->patch_mask];
        if (!bp->old || (bp->old == old && bp->add == add && bp->n == n
                         && !memcmp(bp->ip, ip, n * sizeof *ip))) {
            return bp;
        }
    }
}

bool
conj_blocks_have_patch(const struct conj_blocks *t,
                       const struct conj_block *old, const uint32_t ip[],
                       uint8_t add, size_t n)
{
    const struct block_patch *bp = t ? patch_slot(t, old, ip, add, n) : NULL;
    return bp && bp->old;
}

/* Grows the patch slots of 't' (keeping its patches). */
static void
patches_expand(struct conj_blocks *t)
{
    struct block_patch *old_slots = t->patches;
    size_t old_mask = t->patch_mask;
    t->patch_mask = old_slots ? old_mask * 2 + 1 : 63;
    t->patches = cf_xcalloc(t->patch_mask + 1, sizeof *t->patches);
    for (size_t i = 0; old_slots && i <= old_mask; i++) {
        struct block_patch *bp = &old_slots[i];
        if (bp->old) {
            *patch_slot(t, bp->old, bp->ip, bp->add, bp->n) = *bp;
        }
    }
    free(old_slots);
}

struct conj_block *
conj_blocks_patch(struct conj_blocks *t, struct conj_block *old,
                  uint8_t table, const uint32_t ip[], uint8_t add, size_t n)
{
    struct block_patch *bp = t ? patch_slot(t, old, ip, add, n) : NULL;
    if (bp && bp->old) {
        return conj_block_ref(bp->new);
    }

    size_t n_new = old->n;
    struct conj_entry *e = cf_xmalloc((old->n + n) * sizeof *e);
    memcpy(e, old->e, old->n * sizeof *e);
    for (size_t k = 0; k < n; k++) {
        struct cflow_match m;
        struct conj_entry x;
        compiler_peer_match(&m, table, ip[k]);
        compiler_entry_from_match(&m, 1, &x);
        bool found;
        size_t pos = compiler_entry_bsearch(e, n_new, &x, &found);
        if ((add >> k) & 1) {
            cf_assert(!found);
            memmove(&e[pos + 1], &e[pos], (n_new - pos) * sizeof *e);
            e[pos] = x;
            n_new++;
        } else {
            cf_assert(found);
            memmove(&e[pos], &e[pos + 1], (n_new - pos - 1) * sizeof *e);
            n_new--;
        }
    }
    struct conj_block *b = conj_block_make(t, e, n_new);
    free(e);
    if (t) {
        t->n_made++;
        if (2 * (t->n_patches + 1) > t->patch_mask + 1 || !t->patches) {
            patches_expand(t);
        }
        bp = patch_slot(t, old, ip, add, n);
        bp->old = conj_block_ref(old);
        bp->new = conj_block_ref(b);
        memcpy(bp->ip, ip, n * sizeof *ip);
        bp->add = add;
        bp->n = n;
        t->n_patches++;
    }
    return b;
}

/* One flow merged into a key (16 bytes: a node keeps one per clause entry
 * of every rule). */
struct mmember {
    uint32_t rank;              /* Merge rank: for a clause entry, its
                                 * conjunction id. */
    uint8_t clause;             /* A clause entry's clause */
    uint8_t n_clauses;          /* and number of clauses. */
    bool dead;                  /* Removed, not yet compacted away (see
                                 * mgroup_remove()); 'flow' is NULL. */
    struct cflow *flow;         /* Owned copy of a whole flow, or NULL for
                                 * a clause entry. */
};

/* Returns the cookie of the clause flow that clause entry 'm' stands for:
 * its rule's, of kind CFLOW_KIND_CLAUSE (the rule is in the conjunction id,
 * see cf_conj_id()). */
static uint64_t
mmember_clause_cookie(const struct mmember *m)
{
    uint32_t id = m->rank;
    return cflow_cookie(id >> 8, (id & 0x80 ? CFLOW_DIR_EGRESS
                                  : CFLOW_DIR_INGRESS),
                        (id >> 1) & 0x3f, CFLOW_KIND_CLAUSE);
}

/* A key of the merged table and what is merged into it. */
struct mgroup {
    struct mgroup *next;        /* Next in the hash bucket. */
    uint32_t hash;              /* Hash of the key. */
    struct mmember *members;    /* Owned, ascending rank (stable: in
                                 * insertion order within a rank), but
                                 * see 'n_ordered'. */
    size_t n_members;
    size_t allocated_members;
    size_t n_ordered;           /* Between updates, 'n_members'.  In an
                                 * update of a big key, the members past
                                 * the first 'n_ordered' are insertions
                                 * not yet merged in (in insertion
                                 * order), and 'n_dead' of the first are
                                 * removed ones (see mgroup_normalize()):
                                 * a thousand rules gaining one address
                                 * cost one merge, not a thousand
                                 * memmove()s. */
    size_t n_dead;
    size_t n_entries;           /* Clause entries among 'members'. */
    struct cflow flow;          /* The merged flow (owns its actions):
                                 * its table, priority and match are the
                                 * key (set at creation); its cookie and
                                 * actions are valid unless 'dirty'. */
    bool dirty;                 /* In the cache's 'touched' list. */
    bool sorted;                /* In the cache's 'sorted' array. */
    bool over;                  /* With n > 1 bands in its table and a band
                                 * b < n/2: this key and its match's key in
                                 * band b + n/2 carry more than
                                 * CFLOW_MAX_CONJUNCTIONS entries together
                                 * (counted in the cache's 'n_over'). */
};

/* See compiler.h. */
struct cf_node_cache {
    bool valid;                 /* The state below is a node's table. */
    struct mgroup **buckets;    /* Owned array of 'mask + 1' buckets. */
    size_t mask;                /* Number of buckets minus one. */
    size_t n_groups;            /* Number of keys. */
    struct mgroup **sorted;     /* Every key in output order (owned array
                                 * of pointers into the map). */
    size_t n_sorted;
    size_t allocated_sorted;
    struct mgroup **touched;    /* Keys changed by the current update. */
    size_t n_touched;
    size_t allocated_touched;
    struct cf_smap pfs;         /* "ns/name" -> struct cf_policy_flows *:
                                 * each policy's last contribution (owned;
                                 * its 'policy' pointer is stale). */
    struct conj_blocks blocks;  /* Clause 1 of the contributions' and
                                 * 'pfs'' conjunctions (see "Shared clause
                                 * 1"). */
    struct cf_smap peer_recs;   /* Peer selection (memo key) -> struct
                                 * peer_rec * (owned), see "Reuse of
                                 * rules". */
    uint64_t gen;               /* Compilations for this cache so far. */
    uint64_t merge_gen;         /* Updates of 'pfs' so far. */
    uint64_t rec_epoch;         /* Changes whenever a record of
                                 * 'peer_recs' is freed: a contribution's
                                 * record pointers are valid while it is
                                 * the one they were taken in. */
    struct cflow_set pipeline;  /* The last pipeline flows... */
    struct cf_node *pl_node;    /* ...made for this node (a copy)... */
    struct cf_node_ports pl_ports;  /* ...these ports... */
    struct u32_vec pl_locals;   /* ...and local pods: per local pod, its
                                 * address and binding index. */
    struct cf_node_cache_stats stats;   /* Kept by cf_node_cache_clear(). */
    uint64_t compiler_gen;      /* Generation of the compiler that made
                                 * 'pfs' (0: unknown; see compiler.h). */
    unsigned n_bands[CFLOW_N_TABLES];   /* Bands of each table. */
    size_t n_over[CFLOW_N_TABLES];  /* Keys with 'over' set, per table. */
    bool delta_valid;           /* 'removed' and 'added' are the last
                                 * compilation's difference. */
    struct cflow_set removed;   /* Flows the last update took out. */
    struct cflow_set added;     /* Flows the last update put in. */
};

/* See compiler.h. */
struct cf_node_cache *
cf_node_cache_create(void)
{
    struct cf_node_cache *cache = cf_xzalloc(sizeof *cache);
    conj_blocks_init(&cache->blocks);
    cf_smap_init(&cache->pfs);
    cf_smap_init(&cache->peer_recs);
    cflow_set_init(&cache->pipeline);
    cflow_set_init(&cache->removed);
    cflow_set_init(&cache->added);
    return cache;
}

/* Frees 'g' and what it owns. */
static void
mgroup_destroy(struct mgroup *g)
{
    for (size_t i = 0; i < g->n_members; i++) {
        if (g->members[i].flow) {
            free(g->members[i].flow->actions);
            free(g->members[i].flow);
        }
    }
    free(g->members);
    free(g->flow.actions);
    free(g);
}

/* cf_smap_destroy() callback for the contributions. */
static void
pf_free(void *pf)
{
    cf_policy_flows_destroy(pf);
}

/* What a node cache recorded of one peer selection. */
struct peer_rec {
    struct u32_vec ips;         /* The selected pods' IPv4 addresses (0 for
                                 * none), in pod order, at compilation
                                 * 'gen'. */
    uint64_t gen;               /* The last compilation that used it. */
    bool changed;               /* 'ips' changed at 'gen' (or the record
                                 * was new then). */
    bool have_prev;             /* 'changed', and the record existed at the
                                 * compilation before 'gen': 'prev' and
                                 * 'delta' are valid. */
    struct u32_vec set;         /* 'ips' without 0, sorted, unique. */
    struct u32_vec prev;        /* 'set' at the compilation before 'gen'. */
    struct u32_vec delta;       /* The addresses in one of 'set' and 'prev'
                                 * only, sorted. */
};

/* cf_smap_destroy() callback for the peer records. */
static void
peer_rec_free(void *rec_)
{
    struct peer_rec *rec = rec_;
    if (rec) {
        u32_vec_destroy(&rec->ips);
        u32_vec_destroy(&rec->set);
        u32_vec_destroy(&rec->prev);
        u32_vec_destroy(&rec->delta);
        free(rec);
    }
}

/* Returns the last contribution in 'cache' of the policy named 'key'
 * ("ns/name"), or NULL. */
struct cf_policy_flows *
compiler_cache_get_pf(struct cf_node_cache *cache, const char *key)
{
    return cf_smap_get(&cache->pfs, key);
}

/* Counts a reused rule in the statistics of 'cache'. */
void
compiler_cache_count_reuse(struct cf_node_cache *cache)
{
    cache->stats.n_rules_reused++;
}

/* Counts a patched rule in the statistics of 'cache'. */
void
compiler_cache_count_patch(struct cf_node_cache *cache)
{
    cache->stats.n_rules_patched++;
}

/* Returns the generation of the compiler that last compiled for 'cache'
 * (0: none or unknown). */
uint64_t
compiler_cache_last_gen(const struct cf_node_cache *cache)
{
    return cache->compiler_gen;
}

/* Starts a compilation for 'cache'. */
void
compiler_cache_begin(struct cf_node_cache *cache)
{
    cache->gen++;
}

/* What compiler_cache_end() sweeps with. */
struct rec_sweep {
    uint64_t gen;               /* The compilation that ends. */
    size_t n_freed;             /* Records it did not use. */
};

/* cf_smap_sweep() callback: keeps the records used by compilation
 * 'sweep->gen' and counts the others. */
static bool
peer_rec_current(void *rec_, void *sweep_)
{
    const struct peer_rec *rec = rec_;
    struct rec_sweep *sweep = sweep_;
    if (rec->gen == sweep->gen) {
        return true;
    }
    sweep->n_freed++;
    return false;
}

/* Ends a compilation for 'cache': forgets the peer selections that it did
 * not use (no contribution it kept can depend on them). */
void
compiler_cache_end(struct cf_node_cache *cache)
{
    struct rec_sweep sweep = { .gen = cache->gen };
    cf_smap_sweep(&cache->peer_recs, peer_rec_current, &sweep,
                  peer_rec_free);
    conj_blocks_end(&cache->blocks);
    if (sweep.n_freed) {
        cache->rec_epoch++;
    }
}

/* See compiler-private.h. */
struct conj_blocks *
compiler_cache_blocks(struct cf_node_cache *cache)
{
    return &cache->blocks;
}

/* See compiler-private.h. */
uint64_t
compiler_cache_rec_epoch(const struct cf_node_cache *cache)
{
    return cache->rec_epoch;
}

/* After 'rec->ips' changed: moves 'rec->set' to 'rec->prev' and makes
 * 'rec->set' and 'rec->delta' anew.  'prev_valid' says whether the old
 * set is the one of the compilation just before (else no delta). */
static void
peer_rec_update_sets(struct peer_rec *rec, bool prev_valid)
{
    struct u32_vec tmp = rec->prev;
    rec->prev = rec->set;
    rec->set = tmp;
    rec->set.n = 0;
    for (size_t j = 0; j < rec->ips.n; j++) {
        if (rec->ips.v[j]) {
            u32_vec_push(&rec->set, rec->ips.v[j]);
        }
    }
    u32_vec_sort_unique(&rec->set);

    rec->delta.n = 0;
    rec->have_prev = prev_valid;
    if (!prev_valid) {
        return;
    }
    const struct u32_vec *a = &rec->prev, *b = &rec->set;
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        if (j >= b->n || (i < a->n && a->v[i] < b->v[j])) {
            u32_vec_push(&rec->delta, a->v[i++]);
        } else if (i >= a->n || b->v[j] < a->v[i]) {
            u32_vec_push(&rec->delta, b->v[j++]);
        } else {
            i++;
            j++;
        }
    }
}

/* Finds the record in 'cache' of the peer selection with memo key 'key',
 * refreshed by compiler_cache_peers_unchanged() in this compilation, and
 * stores in '*prevp' the addresses it selected at the last compilation, in
 * '*nowp' those it selects now (both sorted, unique, without 0) and in
 * '*deltap' those in only one of them.  Returns false if there is no such
 * record or it can't tell what it selected before. */
bool
compiler_cache_peer_sets(struct cf_node_cache *cache, const char *key,
                         const struct u32_vec **prevp,
                         const struct u32_vec **nowp,
                         const struct u32_vec **deltap)
{
    const struct peer_rec *rec = key ? cf_smap_get(&cache->peer_recs, key)
                                     : NULL;
    return compiler_cache_rec_sets(cache, rec, prevp, nowp, deltap);
}

/* See compiler-private.h. */
bool
compiler_cache_rec_sets(const struct cf_node_cache *cache,
                        const struct peer_rec *rec,
                        const struct u32_vec **prevp,
                        const struct u32_vec **nowp,
                        const struct u32_vec **deltap)
{
    static const struct u32_vec empty;
    if (!rec || rec->gen != cache->gen || (rec->changed && !rec->have_prev)) {
        return false;
    }
    *nowp = &rec->set;
    *prevp = rec->changed ? &rec->prev : &rec->set;
    *deltap = rec->changed ? &rec->delta : &empty;
    return true;
}

/* See compiler-private.h. */
bool
compiler_cache_recs_unchanged(const struct cf_node_cache *cache,
                              struct peer_rec *const *recs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (recs[i]->gen != cache->gen || recs[i]->changed) {
            return false;
        }
    }
    return true;
}

/* See compiler-private.h. */
bool
compiler_cache_recs_known(const struct cf_node_cache *cache,
                          const struct cf_rule *rule, size_t n_peers,
                          struct peer_rec *const *recs, bool *unchanged)
{
    *unchanged = true;
    if (!recs) {
        return false;
    }
    for (size_t i = 0; i < n_peers; i++) {
        /* Only selector peers have records: the rule's peers are looked at
         * only for a peer without one. */
        if (!recs[i]) {
            if (rule->peers[i].has_ipblock) {
                continue;
            }
            return false;
        }
        if (recs[i]->gen != cache->gen) {
            return false;
        }
        *unchanged = *unchanged && !recs[i]->changed;
    }
    return true;
}

/* See compiler-private.h. */
bool
compiler_cache_peers_unchanged(struct cf_node_cache *cache,
                               struct cf_compiler *c,
                               const struct cf_policy *p,
                               const struct cf_rule *rule,
                               struct rule_cache *rc, char *const *known_keys,
                               struct peer_rec **recs)
{
    bool unchanged;
    if (compiler_cache_recs_known(cache, rule, rule->n_peers, recs,
                                  &unchanged)) {
        return unchanged;
    }
    unchanged = true;
    compiler_rule_peers_get(c, p, rule, rc, known_keys);
    for (size_t i = 0; i < rule->n_peers; i++) {
        if (rule->peers[i].has_ipblock) {
            continue;
        }
        const struct u32_vec *pods = rc->peer_pods[i];
        struct peer_rec **slot = (struct peer_rec **)
            cf_smap_slot(&cache->peer_recs, rc->peer_keys[i]);
        bool fresh = !*slot;
        if (fresh) {
            *slot = cf_xzalloc(sizeof **slot);
        }
        struct peer_rec *rec = *slot;
        if (fresh || rec->gen != cache->gen) {
            bool same = !fresh && rec->ips.n == pods->n;
            for (size_t j = 0; same && j < pods->n; j++) {
                same = rec->ips.v[j] == c->pod_ip[pods->v[j]];
            }
            if (!same) {
                rec->ips.n = 0;
                for (size_t j = 0; j < pods->n; j++) {
                    u32_vec_push(&rec->ips, c->pod_ip[pods->v[j]]);
                }
                peer_rec_update_sets(rec, !fresh
                                     && rec->gen + 1 == cache->gen);
            }
            rec->changed = !same;
            rec->have_prev = rec->have_prev && !same;
            rec->gen = cache->gen;
        }
        if (recs) {
            recs[i] = rec;
        }
        unchanged = unchanged && !rec->changed;
    }
    return unchanged;
}

/* See compiler.h. */
void
cf_node_cache_clear(struct cf_node_cache *cache)
{
    if (!cache) {
        return;
    }
    conj_blocks_end(&cache->blocks);
    for (size_t i = 0; cache->buckets && i <= cache->mask; i++) {
        for (struct mgroup *g = cache->buckets[i], *next; g; g = next) {
            next = g->next;
            mgroup_destroy(g);
        }
    }
    free(cache->buckets);
    free(cache->sorted);
    free(cache->touched);
    cf_smap_destroy(&cache->pfs, pf_free);
    cf_smap_destroy(&cache->peer_recs, peer_rec_free);
    cflow_set_destroy(&cache->pipeline);
    if (cache->pl_node) {
        cf_node_destroy(cache->pl_node);
    }
    cf_node_ports_destroy(&cache->pl_ports);
    u32_vec_destroy(&cache->pl_locals);
    cflow_set_destroy(&cache->removed);
    cflow_set_destroy(&cache->added);
    struct cf_node_cache_stats stats = cache->stats;
    uint64_t rec_epoch = cache->rec_epoch;
    /* The blocks stay: contributions made for the cache but not (yet) in
     * it may refer to them. */
    struct conj_blocks blocks = cache->blocks;
    memset(cache, 0, sizeof *cache);
    cache->blocks = blocks;
    cache->rec_epoch = rec_epoch + 1;   /* The records are gone. */
    cf_smap_init(&cache->pfs);
    cf_smap_init(&cache->peer_recs);
    cflow_set_init(&cache->pipeline);
    cflow_set_init(&cache->removed);
    cflow_set_init(&cache->added);
    cache->stats = stats;
}

/* See compiler.h. */
bool
cf_node_cache_get_delta(const struct cf_node_cache *cache,
                        const struct cflow_set **removed,
                        const struct cflow_set **added)
{
    *removed = &cache->removed;
    *added = &cache->added;
    return cache->delta_valid;
}

/* See compiler.h. */
void
cf_node_cache_get_stats(const struct cf_node_cache *cache,
                        struct cf_node_cache_stats *stats)
{
    *stats = cache->stats;
    stats->n_blocks = cache->blocks.n;
    stats->n_blocks_patched = cache->blocks.n_made;
}

/* See compiler.h. */
void
cf_node_cache_destroy(struct cf_node_cache *cache)
{
    if (cache) {
        cf_node_cache_clear(cache);
        cf_smap_destroy(&cache->pfs, NULL);
        cf_smap_destroy(&cache->peer_recs, NULL);
        conj_blocks_destroy(&cache->blocks);
        free(cache);
    }
}

/* Compares the keys of 'a' and 'b' as cflow_key_compare() does. */
static int
mgroup_key_compare(const struct mgroup *a, const struct mgroup *b)
{
    const struct cflow *x = &a->flow, *y = &b->flow;
    if (x->table != y->table) {
        return x->table < y->table ? -1 : 1;
    }
    if (x->priority != y->priority) {
        return x->priority > y->priority ? -1 : 1;
    }
    return compiler_match_qsort_compare(&x->match, &y->match);
}

/* qsort() comparison of struct mgroup pointers by key. */
static int
mgroup_ptr_compare(const void *a_, const void *b_)
{
    const struct mgroup *const *a = a_;
    const struct mgroup *const *b = b_;
    return mgroup_key_compare(*a, *b);
}

/* Returns the group of key ('table', 'priority', 'match') in 'cache', or
 * NULL if there is none. */
static struct mgroup *
mgroup_find(const struct cf_node_cache *cache, uint8_t table,
            uint16_t priority, const struct cflow_match *match)
{
    uint32_t hash = compiler_match_hash(match,
                                        table | (uint32_t) priority << 8);
    for (struct mgroup *g = (cache->buckets
                             ? cache->buckets[hash & cache->mask] : NULL);
         g; g = g->next) {
        if (g->hash == hash && g->flow.table == table
            && g->flow.priority == priority
            && !compiler_match_qsort_compare(&g->flow.match, match)) {
            return g;
        }
    }
    return NULL;
}

/* Returns the group of key ('table', 'priority', 'match') in 'cache',
 * creating it (empty) if 'create', else NULL if there is none.  A group
 * returned is in the touched list. */
static struct mgroup *
mgroup_get(struct cf_node_cache *cache, uint8_t table, uint16_t priority,
           const struct cflow_match *match, bool create)
{
    uint32_t hash = compiler_match_hash(match,
                                        table | (uint32_t) priority << 8);
    struct mgroup *g = NULL;
    if (cache->buckets) {
        for (g = cache->buckets[hash & cache->mask]; g; g = g->next) {
            if (g->hash == hash && g->flow.table == table
                && g->flow.priority == priority
                && !compiler_match_qsort_compare(&g->flow.match, match)) {
                break;
            }
        }
    }
    if (!g) {
        if (!create) {
            return NULL;
        }
        if (cache->n_groups >= (cache->buckets ? cache->mask + 1 : 0)) {
            size_t mask = cache->buckets ? cache->mask * 2 + 1 : 1023;
            cache->buckets = cf_hash_rechain(cache->buckets, cache->mask,
                                             mask,
                                             offsetof(struct mgroup, hash));
            cache->mask = mask;
        }
        g = cf_xzalloc(sizeof *g);
        g->hash = hash;
        g->flow.table = table;
        g->flow.priority = priority;
        g->flow.match = *match;
        g->next = cache->buckets[hash & cache->mask];
        cache->buckets[hash & cache->mask] = g;
        cache->n_groups++;
    }
    if (!g->dirty) {
        g->dirty = true;
        if (cache->n_touched >= cache->allocated_touched) {
            cache->touched = cf_x2nrealloc(cache->touched,
                                           &cache->allocated_touched,
                                           sizeof *cache->touched);
        }
        cache->touched[cache->n_touched++] = g;
    }
    return g;
}

/* Keys with more members than this take insertions and removals lazily
 * (see struct mgroup). */
#define MGROUP_LAZY_MIN 64

/* Sorts the 'n' members in 'm' by rank, stably, using 'tmp' (room for
 * 'n'). */
static void
mmembers_sort(struct mmember *m, size_t n, struct mmember *tmp)
{
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = CF_MIN(lo + width, n), hi = CF_MIN(lo + 2 * width, n);
            size_t i = lo, j = mid, k = lo;
            while (i < mid || j < hi) {
                tmp[k++] = (j >= hi || (i < mid && m[i].rank <= m[j].rank)
                            ? m[i++] : m[j++]);
            }
        }
        memcpy(m, tmp, n * sizeof *m);
    }
}

/* Makes the members of 'g' one array in order again: drops the dead ones
 * and merges the pending insertions in after the members of lower or
 * equal rank (as inserting them one by one would). */
static void
mgroup_normalize(struct mgroup *g)
{
    if (g->n_ordered == g->n_members && !g->n_dead) {
        return;
    }
    size_t n_old = 0;
    for (size_t i = 0; i < g->n_ordered; i++) {
        if (!g->members[i].dead) {
            g->members[n_old++] = g->members[i];
        }
    }
    size_t n_new = g->n_members - g->n_ordered;
    struct mmember *buf = cf_xmalloc((n_old + 2 * n_new + 1) * sizeof *buf);
    struct mmember *new = buf + n_old + n_new;
    memcpy(new, &g->members[g->n_ordered], n_new * sizeof *new);
    mmembers_sort(new, n_new, buf);
    size_t i = 0, j = 0, k = 0;
    while (i < n_old || j < n_new) {
        buf[k++] = (j >= n_new || (i < n_old
                                   && g->members[i].rank <= new[j].rank)
                    ? g->members[i++] : new[j++]);
    }
    memcpy(g->members, buf, k * sizeof *buf);
    free(buf);
    g->n_members = g->n_ordered = k;
    g->n_dead = 0;
}

/* Inserts 'm' into 'g' after the members of lower or equal rank (at once
 * or, in a big key, lazily: see struct mgroup). */
static void
mgroup_insert(struct mgroup *g, const struct mmember *m)
{
    if (g->n_members >= g->allocated_members) {
        g->members = cf_x2nrealloc(g->members, &g->allocated_members,
                                   sizeof *g->members);
    }
    if (g->n_ordered < g->n_members || g->n_members >= MGROUP_LAZY_MIN) {
        g->members[g->n_members++] = *m;    /* Merged in later. */
        if (!m->flow) {
            g->n_entries++;
        }
        return;
    }
    size_t lo = 0, hi = g->n_members;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->members[mid].rank <= m->rank) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    memmove(&g->members[lo + 1], &g->members[lo],
            (g->n_members - lo) * sizeof *g->members);
    g->members[lo] = *m;
    g->n_members++;
    g->n_ordered++;
    if (!m->flow) {
        g->n_entries++;
    }
}

/* True if member 'm' (live) is whole flow 'flow' (if nonnull) of rank
 * 'rank', or else clause entry ('conj_id', 'clause'). */
static bool
mmember_is(const struct mmember *m, uint32_t rank, const struct cflow *flow,
           uint32_t conj_id, uint8_t clause)
{
    return (!m->dead && m->rank == rank
            && (flow ? m->flow && cflow_equal(m->flow, flow)
                : !m->flow && m->rank == conj_id && m->clause == clause));
}

/* Removes from 'g' a member of rank 'rank' that is whole flow 'flow' (if
 * nonnull) or clause entry ('conj_id', 'clause').  Returns false if there
 * is none. */
static bool
mgroup_remove(struct mgroup *g, uint32_t rank, const struct cflow *flow,
              uint32_t conj_id, uint8_t clause)
{
    /* Among the ordered members of that rank.  (An update removes a
     * contribution's old members before it adds the new ones, so a
     * member is never inserted and removed in one update; if it were,
     * the false return would make the caller merge the node in full.) */
    size_t lo = 0, hi = g->n_ordered;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->members[mid].rank < rank) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    size_t i = lo;
    while (i < g->n_ordered && g->members[i].rank == rank
           && !mmember_is(&g->members[i], rank, flow, conj_id, clause)) {
        i++;
    }
    if (i >= g->n_ordered || g->members[i].rank != rank) {
        return false;
    }

    struct mmember *m = &g->members[i];
    if (m->flow) {
        free(m->flow->actions);
        free(m->flow);
        m->flow = NULL;
    } else {
        g->n_entries--;
    }
    if (g->n_members >= MGROUP_LAZY_MIN) {
        m->dead = true;         /* Compacted by mgroup_normalize(). */
        g->n_dead++;
        return true;
    }
    memmove(m, m + 1, (g->n_members - i - 1) * sizeof *m);
    g->n_members--;
    g->n_ordered--;
    return true;
}

/* Adds (if 'add') or removes whole flow 'flow' of merge rank 'rank'.
 * Returns false if a flow to remove is not there. */
static bool
mc_flow(struct cf_node_cache *cache, const struct cflow *flow,
        uint32_t rank, bool add)
{
    struct mgroup *g = mgroup_get(cache, flow->table, flow->priority,
                                  &flow->match, add);
    if (!add) {
        return g && mgroup_remove(g, rank, flow, 0, 0);
    }
    struct mmember m;
    memset(&m, 0, sizeof m);
    m.rank = rank;
    m.flow = cf_xmalloc(sizeof *m.flow);
    *m.flow = *flow;
    m.flow->actions = cf_xmalloc((flow->n_actions ? flow->n_actions : 1)
                                 * sizeof *flow->actions);
    if (flow->n_actions) {
        memcpy(m.flow->actions, flow->actions,
               flow->n_actions * sizeof *flow->actions);
    }
    m.flow->allocated_actions = flow->n_actions;
    mgroup_insert(g, &m);
    return true;
}

/* Priority of the flows of conjunction 'conj' (the cache's bands). */
static uint16_t
mc_conj_priority(const struct cf_node_cache *cache,
                 const struct pf_conj *conj)
{
    return PRIO_BAND + compiler_conj_band(conj->id,
                                          cache->n_bands[conj->table]);
}

/* Adds (if 'add') or removes the clause entry of 'conj' that is 'match' in
 * clause 'clause'.  Returns false if an entry to remove is not there. */
static bool
mc_entry_match(struct cf_node_cache *cache, const struct pf_conj *conj,
               const struct cflow_match *match, uint8_t clause, bool add)
{
    struct mgroup *g = mgroup_get(cache, conj->table,
                                  mc_conj_priority(cache, conj),
                                  match, add);
    if (!add) {
        return g && mgroup_remove(g, conj->id, NULL, conj->id, clause);
    }
    struct mmember m;
    memset(&m, 0, sizeof m);
    m.rank = conj->id;
    m.clause = clause;
    m.n_clauses = conj->n_clauses;
    mgroup_insert(g, &m);
    return true;
}

/* Adds or removes the peer entries that 'conj''s patch ('patch_ip',
 * 'patch_add', 'n_patch') added to or removed from its clause 1.  Returns
 * false if an entry to remove is not there. */
static bool
mc_conj_patch(struct cf_node_cache *cache, const struct pf_conj *conj)
{
    for (size_t k = 0; k < conj->n_patch; k++) {
        struct cflow_match m;
        compiler_peer_match(&m, conj->table, conj->patch_ip[k]);
        if (!mc_entry_match(cache, conj, &m, 1,
                            (conj->patch_add >> k) & 1)) {
            return false;
        }
    }
    return true;
}

/* Adds (if 'add') or removes clause entry 'e' of 'conj'.  Returns false if
 * an entry to remove is not there. */
static bool
mc_entry(struct cf_node_cache *cache, const struct pf_conj *conj, size_t e,
         bool add)
{
    struct cflow_match m;
    const struct conj_entry *x = pf_conj_entry(conj, e);
    compiler_entry_match(x, &m);
    return mc_entry_match(cache, conj, &m, x->clause, add);
}

/* Adds or removes every flow of 'conj': its clause entries and its conj_id
 * flow.  Returns false on an inconsistency. */
static bool
mc_conj(struct cf_node_cache *cache, const struct pf_conj *conj, bool add)
{
    bool ok = true;
    for (size_t e = 0; e < pf_conj_n(conj) && ok; e++) {
        ok = mc_entry(cache, conj, e, add);
    }
    struct cflow_set set;
    cflow_set_init(&set);
    const struct cflow *f = compiler_add_conj_id_flow(
        conj, mc_conj_priority(cache, conj), &set);
    ok = ok && mc_flow(cache, f, conj->id, add);
    cflow_set_destroy(&set);
    return ok;
}

/* Compares clause entry 'i' of 'a' with entry 'j' of 'b': by clause, then
 * match (the order emit_rule_part() lays entries out in). */
static int
entry_compare(const struct pf_conj *a, size_t i, const struct pf_conj *b,
              size_t j)
{
    return compiler_entry_compare(pf_conj_entry(a, i), pf_conj_entry(b, j));
}

/* Updates 'cache' from conjunction 'old' to 'new' (same id).  When their
 * clause flows and conj_id flows agree, only the clause entries that
 * differ change.  Returns false on an inconsistency. */
static bool
mc_conj_update(struct cf_node_cache *cache, const struct pf_conj *old,
               const struct pf_conj *new)
{
    if (new->patch_base && new->patch_base == old->c1 && old->lent) {
        /* Patched from 'old' (see "Reuse of rules" in compiler.c), which
         * gave it its entries: only the patch's peer entries change. */
        return mc_conj_patch(cache, new);
    }
    if (old->lent && old->c1 == new->c1 && old->rest == new->rest
        && old->n_rest == new->n_rest) {
        return true;            /* Reused as it was. */
    }
    struct cflow_set set;
    cflow_set_init(&set);
    uint16_t prio = mc_conj_priority(cache, new);
    compiler_add_conj_id_flow(old, prio, &set);
    compiler_add_conj_id_flow(new, prio, &set);
    bool same = (cflow_equal(&set.flows[0], &set.flows[1])
                 && old->cookie == new->cookie
                 && old->n_clauses == new->n_clauses
                 && old->table == new->table);
    cflow_set_destroy(&set);
    if (!same) {
        return mc_conj(cache, old, false) && mc_conj(cache, new, true);
    }

    if ((old->c1 == new->c1
         || (old->c1->n == new->c1->n
             && !memcmp(old->c1->e, new->c1->e,
                        new->c1->n * sizeof *new->c1->e)))
        && old->n_rest == new->n_rest
        && !memcmp(old->rest, new->rest, new->n_rest * sizeof *new->rest)) {
        return true;            /* Unchanged (the usual case). */
    }

    /* A merge walk: entries are laid out in (clause, match) order, so this
     * finds the few that differ.  (Were they not, the walk would still
     * remove every old entry it does not pair with an equal new one and
     * add every new one it does not pair: correct, only slower.) */
    size_t i = 0, j = 0, n_old = pf_conj_n(old), n_new = pf_conj_n(new);
    while (i < n_old || j < n_new) {
        int cmp = (i >= n_old ? 1 : j >= n_new ? -1
                   : entry_compare(old, i, new, j));
        if (!cmp) {
            i++;
            j++;
        } else if (cmp < 0) {
            if (!mc_entry(cache, old, i++, false)) {
                return false;
            }
        } else if (!mc_entry(cache, new, j++, true)) {
            return false;
        }
    }
    return true;
}

/* True if the whole flows of 'a' and 'b' (and their ranks) are the
 * same. */
static bool
pf_flows_equal(const struct cf_policy_flows *a,
               const struct cf_policy_flows *b)
{
    if (a->flows.n != b->flows.n) {
        return false;
    }
    for (size_t i = 0; i < a->flows.n; i++) {
        if (a->ranks.v[i] != b->ranks.v[i]
            || !cflow_equal(&a->flows.flows[i], &b->flows.flows[i])) {
            return false;
        }
    }
    return true;
}

/* Updates 'cache' from a policy's contribution 'old' to 'new' (either may
 * be NULL).  Returns false on an inconsistency. */
static bool
mc_policy_update(struct cf_node_cache *cache,
                 const struct cf_policy_flows *old,
                 struct cf_policy_flows *new)
{
    if (old == new) {
        /* Patched in place (see "Reuse of rules" in compiler.c): only the
         * patched conjunctions' peer entries change. */
        bool ok = true;
        for (size_t i = 0; i < new->n_conjs; i++) {
            struct pf_conj *conj = &new->conjs[i];
            ok = ok && mc_conj_patch(cache, conj);
            conj->n_patch = 0;
        }
        new->in_place = false;
        return ok;
    }
    if (!old || !new || !pf_flows_equal(old, new)) {
        for (size_t i = 0; old && i < old->flows.n; i++) {
            if (!mc_flow(cache, &old->flows.flows[i], old->ranks.v[i],
                         false)) {
                return false;
            }
        }
        for (size_t i = 0; new && i < new->flows.n; i++) {
            mc_flow(cache, &new->flows.flows[i], new->ranks.v[i], true);
        }
    }
    /* Conjunctions by id: the same id in both is an update (a reused or
     * patched conjunction must be paired with the one it came from, whose
     * entries it took), the others go or come. */
    size_t n_old = old ? old->n_conjs : 0;
    bool *paired = cf_xcalloc(n_old + 1, sizeof *paired);
    bool ok = true;
    size_t hint = 0;
    for (size_t i = 0; ok && new && i < new->n_conjs; i++) {
        const struct pf_conj *nc = &new->conjs[i];
        size_t j = hint < n_old && old->conjs[hint].id == nc->id ? hint : 0;
        while (j < n_old && old->conjs[j].id != nc->id) {
            j++;
        }
        if (j < n_old && !paired[j]) {
            paired[j] = true;
            hint = j + 1;
            ok = mc_conj_update(cache, &old->conjs[j], nc);
        } else {
            ok = !nc->patch_base && mc_conj(cache, nc, true);
        }
    }
    for (size_t j = 0; ok && j < n_old; j++) {
        if (!paired[j]) {
            ok = !old->conjs[j].lent && mc_conj(cache, &old->conjs[j], false);
        }
    }
    free(paired);
    return ok;
}

/* Makes the merged flow of 'g' from its members (as emit_merged() does). */
static void
mgroup_emit(struct mgroup *g)
{
    const struct mmember *first = &g->members[0];
    struct cflow *f = &g->flow;
    f->n_actions = 0;
    f->cookie = (first->flow ? first->flow->cookie
                 : mmember_clause_cookie(first));
    if (first->flow && !compiler_is_clause_flow(first->flow)) {
        for (size_t j = 0; j < first->flow->n_actions; j++) {
            cflow_add_action(f, &first->flow->actions[j]);
        }
        return;
    }
    for (size_t i = 0; i < g->n_members; i++) {
        const struct mmember *m = &g->members[i];
        compiler_merge_conjunctions(f, m->flow, m->rank, m->clause,
                                    m->n_clauses);
    }
}

/* Unlinks 'g' from the hash map of 'cache' (it is still allocated). */
static void
mgroup_unlink(struct cf_node_cache *cache, struct mgroup *g)
{
    struct mgroup **p = &cache->buckets[g->hash & cache->mask];
    while (*p != g) {
        p = &(*p)->next;
    }
    *p = g->next;
    cache->n_groups--;
}

/* Appends a copy of 'flow' to 'set'. */
static void
mc_copy_flow(const struct cflow *flow, struct cflow_set *set)
{
    struct cflow *f = cflow_set_add(set, flow->table, flow->priority,
                                    flow->cookie);
    f->match = flow->match;
    f->actions = cf_xmalloc((flow->n_actions ? flow->n_actions : 1)
                            * sizeof *f->actions);
    if (flow->n_actions) {
        memcpy(f->actions, flow->actions,
               flow->n_actions * sizeof *f->actions);
    }
    f->n_actions = f->allocated_actions = flow->n_actions;
}

/* Updates the 'over' pairs of the touched keys of tables with more than one
 * band (see "Bands" above) and returns true if every such table still
 * needs its number of bands (some pair could not be one key with half as
 * many). */
static bool
mc_check_bands(struct cf_node_cache *cache)
{
    for (size_t i = 0; i < cache->n_touched; i++) {
        const struct mgroup *g = cache->touched[i];
        unsigned n = cache->n_bands[g->flow.table];
        if (n < 2 || g->flow.priority < PRIO_BAND
            || g->flow.priority >= PRIO_BAND + n) {
            continue;
        }
        unsigned low = (g->flow.priority - PRIO_BAND) % (n / 2);
        struct mgroup *lo = mgroup_find(cache, g->flow.table, PRIO_BAND + low,
                                        &g->flow.match);
        const struct mgroup *hi = mgroup_find(cache, g->flow.table,
                                              PRIO_BAND + low + n / 2,
                                              &g->flow.match);
        size_t sum = (lo ? lo->n_entries : 0) + (hi ? hi->n_entries : 0);
        bool over = sum > CFLOW_MAX_CONJUNCTIONS;
        if (lo && lo->over != over) {
            lo->over = over;
            if (over) {
                cache->n_over[g->flow.table]++;
            } else {
                cache->n_over[g->flow.table]--;
            }
        }
        /* Without 'lo', 'hi' alone is the pair: over only if 'hi' is,
         * which mc_finish() refuses anyway. */
    }
    for (size_t t = 0; t < CFLOW_N_TABLES; t++) {
        if (cache->n_bands[t] > 1 && !cache->n_over[t]) {
            return false;       /* Fewer bands would do now. */
        }
    }
    return true;
}

/* When at most this many keys come or go, mc_finish() finds each one's
 * place in the cache's key order by binary search, instead of merging the
 * whole order (which looks at every key: thousands of cache misses when
 * one pod's address changes). */
#define MC_FEW_KEYS 16

/* mc_finish() with few keys: takes the emptied keys of the touched list
 * out of the key order of 'cache' and puts the 'n_added' new keys 'added'
 * (sorted) in. */
static void
mc_sorted_patch(struct cf_node_cache *cache, struct mgroup **added,
                size_t n_added)
{
    for (size_t t = 0; t < cache->n_touched; t++) {
        struct mgroup *g = cache->touched[t];
        if (g && !g->n_members && g->sorted) {
            bool found;
            size_t pos = cf_bsearch_pos(cache->sorted, cache->n_sorted,
                                        sizeof *cache->sorted, &g,
                                        mgroup_ptr_compare, &found);
            cf_assert(found && cache->sorted[pos] == g);
            memmove(&cache->sorted[pos], &cache->sorted[pos + 1],
                    (cache->n_sorted - pos - 1) * sizeof *cache->sorted);
            cache->n_sorted--;
        }
    }
    if (cache->n_sorted + n_added >= cache->allocated_sorted) {
        cache->allocated_sorted = (cache->n_sorted + n_added) * 2 + 16;
        cache->sorted = cf_xrealloc(cache->sorted, cache->allocated_sorted
                                    * sizeof *cache->sorted);
    }
    for (size_t j = 0; j < n_added; j++) {
        bool found;
        size_t pos = cf_bsearch_pos(cache->sorted, cache->n_sorted,
                                    sizeof *cache->sorted, &added[j],
                                    mgroup_ptr_compare, &found);
        cf_assert(!found);
        memmove(&cache->sorted[pos + 1], &cache->sorted[pos],
                (cache->n_sorted - pos) * sizeof *cache->sorted);
        cache->sorted[pos] = added[j];
        cache->n_sorted++;
        added[j]->sorted = true;
    }
}

/* Finishes an update: drops empty keys, makes the touched keys' flows
 * again, records in the cache's 'removed' and 'added' the flows that
 * changed, and puts new keys in order.  Returns false if a key carries
 * more than CFLOW_MAX_CONJUNCTIONS conjunctions (the node needs more
 * bands). */
static bool
mc_finish(struct cf_node_cache *cache)
{
    for (size_t i = 0; i < cache->n_touched; i++) {
        mgroup_normalize(cache->touched[i]);
    }
    bool ok = mc_check_bands(cache);
    struct mgroup **added = cf_xcalloc(cache->n_touched + 1, sizeof *added);
    size_t n_added = 0, n_removed = 0;
    for (size_t i = 0; i < cache->n_touched; i++) {
        struct mgroup *g = cache->touched[i];
        g->dirty = false;
        if (!g->n_members) {
            mgroup_unlink(cache, g);
            if (g->sorted) {
                mc_copy_flow(&g->flow, &cache->removed);
                n_removed++;
            } else {
                mgroup_destroy(g);
                cache->touched[i] = NULL;
            }
            continue;
        }
        if (g->n_entries > CFLOW_MAX_CONJUNCTIONS) {
            ok = false;
        }
        struct cflow old = g->flow;
        g->flow.actions = NULL;         /* 'old' keeps them. */
        g->flow.n_actions = g->flow.allocated_actions = 0;
        mgroup_emit(g);
        if (!g->sorted) {
            added[n_added++] = g;
            mc_copy_flow(&g->flow, &cache->added);
        } else if (!cflow_equal(&old, &g->flow)) {
            mc_copy_flow(&old, &cache->removed);
            mc_copy_flow(&g->flow, &cache->added);
        }
        free(old.actions);
    }
    if (n_added > 1) {
        qsort(added, n_added, sizeof *added, mgroup_ptr_compare);
    }

    if (n_added + n_removed <= MC_FEW_KEYS) {
        mc_sorted_patch(cache, added, n_added);
    } else {
        /* Merge the old order (without the empty keys) with the new
         * keys. */
        size_t n = cache->n_sorted - n_removed + n_added;
        struct mgroup **sorted = cf_xcalloc(n + 1, sizeof *sorted);
        size_t i = 0, j = 0, k = 0;
        while (i < cache->n_sorted || j < n_added) {
            if (i < cache->n_sorted && !cache->sorted[i]->n_members) {
                i++;            /* Emptied: freed below. */
            } else if (j >= n_added
                       || (i < cache->n_sorted
                           && mgroup_key_compare(cache->sorted[i],
                                                 added[j]) < 0)) {
                sorted[k++] = cache->sorted[i++];
            } else {
                added[j]->sorted = true;
                sorted[k++] = added[j++];
            }
        }
        free(cache->sorted);
        cache->sorted = sorted;
        cache->n_sorted = k;
        cache->allocated_sorted = n + 1;
    }
    free(added);

    for (size_t t = 0; t < cache->n_touched; t++) {
        struct mgroup *g = cache->touched[t];
        if (g && !g->n_members) {
            mgroup_destroy(g);
        }
    }
    cache->n_touched = 0;
    return ok;
}

/* True if the nodes 'a' and 'b' are the same. */
static bool
node_equal(const struct cf_node *a, const struct cf_node *b)
{
    return (a->id == b->id && !strcmp(a->name, b->name)
            && !strcmp(a->ovsdb, b->ovsdb) && !strcmp(a->bridge, b->bridge)
            && a->n_addrs == b->n_addrs
            && !memcmp(a->addrs, b->addrs, a->n_addrs * sizeof *a->addrs));
}

/* True if the pipeline in 'cache' was made for 'node' with 'ports' and
 * the 'n_locals' local pods 'locals' (compiler_add_pipeline() reads
 * nothing else). */
static bool
pipeline_inputs_same(const struct cf_node_cache *cache,
                     const struct cf_node *node,
                     const struct cf_node_ports *ports,
                     const struct local_pod *locals, size_t n_locals)
{
    if (!cache->pl_node || !node_equal(cache->pl_node, node)
        || cache->pl_locals.n != 2 * n_locals) {
        return false;
    }
    for (size_t i = 0; i < n_locals; i++) {
        if (cache->pl_locals.v[2 * i] != locals[i].ip
            || (cache->pl_locals.v[2 * i + 1]
                != locals[i].binding - ports->bindings)) {
            return false;
        }
    }
    return cf_node_ports_equal(&cache->pl_ports, ports);
}

/* Records in 'cache' what its pipeline was made of (see
 * pipeline_inputs_same()). */
static void
pipeline_inputs_record(struct cf_node_cache *cache,
                       const struct cf_node *node,
                       const struct cf_node_ports *ports,
                       const struct local_pod *locals, size_t n_locals)
{
    if (cache->pl_node) {
        cf_node_destroy(cache->pl_node);
    }
    cache->pl_node = cf_node_clone(node);
    cf_node_ports_destroy(&cache->pl_ports);
    cf_node_ports_clone(&cache->pl_ports, ports);
    cache->pl_locals.n = 0;
    for (size_t i = 0; i < n_locals; i++) {
        u32_vec_push(&cache->pl_locals, locals[i].ip);
        u32_vec_push(&cache->pl_locals, locals[i].binding - ports->bindings);
    }
}

/* Empties 'set', one of the cache's delta sets.  A big delta (the first
 * compilation's is every flow) leaves a big array behind: let it go rather
 * than keep it for small ones. */
static void
delta_set_reset(struct cflow_set *set)
{
    if (set->allocated > 64 && set->allocated > 4 * set->n) {
        cflow_set_destroy(set);
    } else {
        cflow_set_clear(set);
    }
}

/* What pf_taken() sweeps with. */
struct gone_pfs {
    struct cf_node_cache *cache;
    uint64_t gen;               /* The update under way. */
    bool ok;                    /* No inconsistency so far. */
};

/* cf_smap_sweep() callback for the cache's contributions: keeps those that
 * update 'gone->gen' took, and takes the flows of the others (policies
 * that no longer contribute) out of the cache. */
static bool
pf_taken(void *pf_, void *gone_)
{
    struct cf_policy_flows *pf = pf_;
    struct gone_pfs *gone = gone_;
    if (pf && pf->merge_gen == gone->gen) {
        return true;
    }
    if (pf && gone->ok) {
        gone->ok = mc_policy_update(gone->cache, pf, NULL);
    }
    return false;
}

/* Updates 'cache' to 'node''s table with 'ports' and contributions 'pfs'
 * (taking ownership of them).  Returns false on an inconsistency or when
 * the cache can't be used (then the caller clears it). */
static bool
mc_update(struct cf_compiler *c, struct cf_node_cache *cache,
          const struct cf_node *node, const struct cf_node_ports *ports,
          struct cf_policy_flows **pfs, size_t n_pfs)
{
    delta_set_reset(&cache->removed);
    delta_set_reset(&cache->added);

    /* The pipeline: made again only if what it is made of changed. */
    struct local_pod *locals;
    size_t n_locals;
    compiler_collect_locals(c, ports, &locals, &n_locals);
    bool ok = true;
    if (!pipeline_inputs_same(cache, node, ports, locals, n_locals)) {
        struct cflow_set pipeline;
        cflow_set_init(&pipeline);
        compiler_add_pipeline(node, ports, locals, n_locals, &pipeline);
        bool same = pipeline.n == cache->pipeline.n;
        for (size_t i = 0; same && i < pipeline.n; i++) {
            same = cflow_equal(&pipeline.flows[i],
                               &cache->pipeline.flows[i]);
        }
        if (!same) {
            for (size_t i = 0; ok && i < cache->pipeline.n; i++) {
                ok = mc_flow(cache, &cache->pipeline.flows[i], 0, false);
            }
            for (size_t i = 0; ok && i < pipeline.n; i++) {
                mc_flow(cache, &pipeline.flows[i], 0, true);
            }
        }
        cflow_set_destroy(&cache->pipeline);
        cache->pipeline = pipeline;
        pipeline_inputs_record(cache, node, ports, locals, n_locals);
    }
    free(locals);

    /* The policies, by name: each new contribution takes its policy's
     * entry of 'pfs' (the last contribution, merged from), and the entries
     * no contribution took afterward are policies that no longer
     * contribute. */
    uint64_t gen = ++cache->merge_gen;
    size_t n_taken = 0;
    struct cf_ds key;
    cf_ds_init(&key);
    for (size_t i = 0; i < n_pfs; i++) {
        const struct cf_policy *p = pfs[i]->policy;
        cf_ds_clear(&key);
        cf_ds_put_joined(&key, p->ns, '/', p->name);
        struct cf_policy_flows **slot = (struct cf_policy_flows **)
            cf_smap_slot(&cache->pfs, cf_ds_cstr(&key));
        struct cf_policy_flows *old = *slot;
        if (old && old->merge_gen == gen) {
            ok = false;         /* Two policies with one name. */
            cf_policy_flows_destroy(pfs[i]);
            continue;
        }
        /* 'old' is 'pfs[i]' itself if it was patched in place. */
        if (ok) {
            ok = mc_policy_update(cache, old, pfs[i]);
        } else if (pfs[i]->in_place) {
            pfs[i]->in_place = false;
        }
        if (old != pfs[i]) {
            cf_policy_flows_destroy(old);
        }
        *slot = pfs[i];
        pfs[i]->merge_gen = gen;
        n_taken++;
    }
    cf_ds_destroy(&key);
    if (cache->pfs.n > n_taken) {
        struct gone_pfs gone = { .cache = cache, .gen = gen, .ok = ok };
        cf_smap_sweep(&cache->pfs, pf_taken, &gone, pf_free);
        ok = gone.ok;
    }
    return mc_finish(cache) && ok;
}

/* Takes the contributions among the 'n_pfs' in 'pfs' that were patched in
 * place (so they are also the cache's last ones) out of the cache's last
 * contributions, so that 'pfs' alone owns them: before the cache is
 * emptied without merging them. */
static void
mc_detach_in_place(struct cf_node_cache *cache,
                   struct cf_policy_flows **pfs, size_t n_pfs)
{
    struct cf_ds key = CF_DS_INIT;
    for (size_t i = 0; i < n_pfs; i++) {
        if (pfs[i]->in_place) {
            pfs[i]->in_place = false;
            cf_ds_clear(&key);
            cf_ds_put_joined(&key, pfs[i]->policy->ns, '/',
                             pfs[i]->policy->name);
            if (cf_smap_get(&cache->pfs, cf_ds_cstr(&key)) == pfs[i]) {
                *cf_smap_slot(&cache->pfs, cf_ds_cstr(&key)) = NULL;
            }
        }
    }
    cf_ds_destroy(&key);
}

/* See compiler.h. */
char *
cf_compiler_node_flows_cached(struct cf_compiler *c,
                              const struct cf_node *node,
                              const struct cf_node_ports *ports,
                              struct cf_node_cache *cache,
                              struct cflow_set *out)
{
    struct cf_policy_flows **pfs;
    size_t n_pfs;
    compiler_node_contributions(c, ports, cache, &pfs, &n_pfs);

    char *error = compiler_merge_check(node, pfs, n_pfs);
    bool use = !error;
    bool had = cache->valid;
    if (!use || !cache->valid) {
        mc_detach_in_place(cache, pfs, n_pfs);
    }
    cache->delta_valid = false;
    if (use && !cache->valid) {
        /* A fresh start: only with the initial bands everywhere.  The
         * peer records are this compilation's: keep them. */
        unsigned n_bands[CFLOW_N_TABLES];
        compiler_choose_bands(pfs, n_pfs, n_bands);
        struct cf_smap recs = cache->peer_recs;
        uint64_t gen = cache->gen;
        cf_smap_init(&cache->peer_recs);
        cf_node_cache_clear(cache);
        cf_smap_destroy(&cache->peer_recs, NULL);
        cache->peer_recs = recs;
        cache->gen = gen;
        memcpy(cache->n_bands, n_bands, sizeof cache->n_bands);
    }
    if (use) {
        cache->valid = true;
        if (mc_update(c, cache, node, ports, pfs, n_pfs)) {
            cache->stats.n_updates++;
            cache->compiler_gen = c->gen;
            cache->delta_valid = had;
            free(pfs);
            for (size_t i = 0; out && i < cache->n_sorted; i++) {
                mc_copy_flow(&cache->sorted[i]->flow, out);
            }
            return NULL;
        }
        /* The cache owns the contributions now: compute them again. */
        cache->stats.n_fallbacks++;
        free(pfs);
        cf_node_cache_clear(cache);
        return out ? cf_compiler_node_flows(c, node, ports, out) : NULL;
    }

    cf_node_cache_clear(cache);
    if (!error && out) {
        cache->stats.n_full++;
        error = cf_compiler_merge(c, node, ports, pfs, n_pfs, out);
    }
    for (size_t i = 0; i < n_pfs; i++) {
        cf_policy_flows_destroy(pfs[i]);
    }
    free(pfs);
    return error;
}
