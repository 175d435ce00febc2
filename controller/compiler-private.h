/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Internals shared by the compiler's source files (not a public API):
 * a string-keyed hash map, index vectors, the label index and memoized
 * selector results (compiler-index.c), the compiler struct itself
 * (compiler.c), and what compiler.c and the node cache (compiler-cache.c)
 * share: policy contributions, merging helpers and the cache's hooks.
 *
 * Scaling: selectors are evaluated through a label index (key=value and
 * key, for pods and for namespaces) that narrows candidates to the pods
 * carrying the most selective "In"/"Exists" requirement's labels, and their
 * results are memoized by canonical selector text and scope, because many
 * policies share selectors ("app=web" in every namespace, empty
 * namespaceSelectors...).  A rule's peer address set is computed once and
 * shared by every node that needs it.
 */
#ifndef CONJFLOW_COMPILER_PRIVATE_H
#define CONJFLOW_COMPILER_PRIVATE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conjflow/cflow.h"
#include "conjflow/cfutil.h"
#include "conjflow/model.h"

/* ---- Vectors ----------------------------------------------------------- */

/* A growable array of 32-bit values (indices, addresses). */
struct u32_vec {
    uint32_t *v;                /* Owned array. */
    size_t n;                   /* Number of values. */
    size_t allocated;           /* Allocated elements. */
};

void u32_vec_push(struct u32_vec *, uint32_t);
void u32_vec_destroy(struct u32_vec *);
/* Sorts ascending and removes duplicates. */
void u32_vec_sort_unique(struct u32_vec *);
/* True if sorted 'vec' contains 'x' (binary search). */
bool u32_vec_contains(const struct u32_vec *vec, uint32_t x);

/* An IPv4 CIDR in host byte order. */
struct cidr4 {
    uint32_t addr;              /* Network address, host bits clear. */
    uint8_t plen;               /* Prefix length 0..32. */
};

/* Returns the netmask of prefix length 'plen'. */
static inline uint32_t
cidr4_mask(unsigned plen)
{
    return plen ? UINT32_MAX << (32 - plen) : 0;
}

/* A growable array of CIDRs. */
struct cidr4_vec {
    struct cidr4 *v;            /* Owned array. */
    size_t n;                   /* Number of CIDRs. */
    size_t allocated;           /* Allocated elements. */
};

void cidr4_vec_push(struct cidr4_vec *, uint32_t addr, unsigned plen);
void cidr4_vec_destroy(struct cidr4_vec *);
/* Sorts and drops every CIDR covered by another one, so the result is the
 * same address set as a sorted list of disjoint blocks. */
void cidr4_vec_normalize(struct cidr4_vec *);
/* Appends the CIDR difference 'block' minus each of 'except' (IPv4 only;
 * IPv6 excepts are ignored) to 'out', as a minimal list of blocks. */
void cidr4_difference(const struct cidr4 *block, const struct cf_cidr *except,
                      size_t n_except, struct cidr4_vec *out);

/* ---- String map -------------------------------------------------------- */

/* One entry of a struct cf_smap. */
struct cf_smap_node {
    struct cf_smap_node *next;     /* Next in the bucket. */
    uint32_t hash;              /* Hash of 'key'. */
    char *key;                  /* The key (stored after the node, in
                                 * the same allocation). */
    void *data;                 /* Caller's value (not owned). */
};

/* A hash map from strings to pointers. */
struct cf_smap {
    struct cf_smap_node **buckets; /* Owned array of 'mask + 1' buckets. */
    size_t mask;                /* Number of buckets minus one. */
    size_t n;                   /* Number of entries. */
};

void cf_smap_init(struct cf_smap *);
/* Frees the nodes and keys; calls 'free_data' on each value if nonnull. */
void cf_smap_destroy(struct cf_smap *, void (*free_data)(void *));
/* Returns the value of 'key' or NULL. */
void *cf_smap_get(const struct cf_smap *, const char *key);
/* Returns a pointer to the value slot of 'key', creating it (NULL) if
 * absent. */
void **cf_smap_slot(struct cf_smap *, const char *key);

/* Removes every entry whose value 'keep(value, aux)' rejects, calling
 * 'free_data' on its value if nonnull. */
void cf_smap_sweep(struct cf_smap *, bool (*keep)(void *data, void *aux),
                   void *aux, void (*free_data)(void *));

/* ---- Label index -------------------------------------------------------- */

/* Maps "key\1value" and "key\2" to the sorted indices of the label sets
 * that carry them. */
struct label_index {
    struct cf_smap map;            /* Values are struct u32_vec *. */
};

void label_index_init(struct label_index *);
void label_index_destroy(struct label_index *);
/* Adds label set 'labels' under index 'idx' (call in ascending 'idx'). */
void label_index_add(struct label_index *, const struct cf_labels *labels,
                     uint32_t idx);
/* If some requirement of 'sel' narrows the candidates ("In" or "Exists"),
 * stores in 'cands' the sorted indices that may match (a superset of the
 * matches) and returns true; returns false if every index may match.
 * 'limit': when the best candidate list is longer than 'limit', returns
 * false (scanning is cheaper). */
bool label_index_candidates(const struct label_index *,
                            const struct cf_selector *sel, size_t limit,
                            struct u32_vec *cands);

/* ---- The compiler ------------------------------------------------------- */

/* A range [start, end) of indices into the cluster's pods. */
struct pod_range {
    uint32_t start;             /* First pod of the namespace. */
    uint32_t end;               /* One past the last. */
};

/* A chunk of a compiler's arena (see compiler_arena_zalloc()). */
struct arena_chunk {
    struct arena_chunk *next;   /* The previous chunk. */
    size_t used;                /* Bytes of 'data' handed out. */
    size_t size;                /* Bytes in 'data'. */
    void *data[];               /* The memory (pointer-aligned). */
};

/* What the compiler caches about one rule. */
struct rule_cache {
    bool have_peers;            /* 'peer_pods' and 'peer_keys' are set. */
    const struct u32_vec **peer_pods;  /* Per peer: the pods it selects
                                        * (memo), or NULL for an ipBlock
                                        * (array in the compiler's
                                        * arena). */
    const char **peer_keys;     /* Per peer: its memo key (owned by the
                                 * compiler) or NULL (array in the
                                 * arena). */
    bool have_addrs;            /* 'addrs' is computed. */
    const struct cidr4_vec *addrs;  /* Peer address set (if n_peers > 0;
                                     * memo, not owned). */
    bool have_named_pods;       /* 'named_pods' is computed. */
    struct u32_vec named_pods;  /* Peer pods a named port resolves
                                 * against (egress), sorted. */
};

/* What the compiler caches about one policy. */
struct policy_cache {
    const struct u32_vec *selected;  /* Selected pods (memo, not owned). */
    struct rule_cache *ingress;      /* Owned, one per ingress rule, or
                                      * NULL until needed. */
    struct rule_cache *egress;       /* Same for egress rules. */
    size_t n_ingress;           /* The policy's ingress rules... */
    size_t n_egress;            /* ...and egress rules. */
};

/* An IPv4 address and the pod that has it (for ipBlock lookups). */
struct ip_pod {
    uint32_t ip;                /* Host order. */
    uint32_t pod;               /* Pod index. */
};

struct cf_compiler {
    const struct cf_cluster *cluster;  /* Not owned. */
    uint32_t *pod_ip;           /* Per pod: first IPv4 address (host order)
                                 * or 0 if it has none. */
    struct ip_pod *ip_pods;     /* Non-host-network pods with an IPv4
                                 * address, sorted by address. */
    size_t n_ip_pods;
    struct label_index pod_index;   /* Over cluster->pods. */
    struct label_index ns_index;    /* Over cluster->namespaces. */
    struct cf_smap ns_pods;        /* Namespace name -> struct pod_range *. */
    struct cf_smap ns_sel_memo;    /* Selector text -> struct u32_vec * of
                                 * namespace indices. */
    struct cf_smap pod_sel_memo;   /* "ns\3selector" -> struct u32_vec * of
                                 * pod indices. */
    struct cf_smap peer_memo;      /* Canonical peer text -> struct u32_vec *
                                 * of pod indices. */
    struct cf_smap addrs_memo;     /* A rule's peers' canonical texts ->
                                 * struct cidr4_vec *, its address set. */
    struct policy_cache *policies;  /* One per cluster->policies. */
    uint32_t *pod_pol_start;    /* Per pod, and one more: where its
                                 * policies start in 'pod_pol'. */
    uint32_t *pod_pol;          /* Per pod, from 'pod_pol_start[pod]' to
                                 * 'pod_pol_start[pod + 1]': indices of the
                                 * policies selecting it, ascending. */
    size_t n_policies;          /* cluster->n_policies at creation. */
    size_t n_pods;              /* cluster->n_pods at creation. */
    struct cf_ds scratch;       /* Scratch string for memo keys. */
    struct arena_chunk *arena;  /* Memory for the rule caches' small
                                 * arrays, freed with the compiler. */
    bool log_denies;            /* Isolation drops go to conjflowd's audit
                                 * log (cf_compiler_set_log_denies()). */
    uint64_t gen;               /* Generation, or 0 (see compiler.h). */
    bool follows;               /* Only 'changed' policies differ from
                                 * generation 'gen' - 1. */
    struct cf_smap changed;     /* "ns/name" of the policies that changed
                                 * since generation 'gen' - 1 (values
                                 * unused). */
};

/* Returns the sorted indices of the non-host-network pods in namespace
 * 'ns' that 'sel' selects (memoized; owned by 'c'). */
const struct u32_vec *compiler_select_pods(struct cf_compiler *c,
                                           const char *ns,
                                           const struct cf_selector *sel);
/* Returns the sorted indices of the namespaces 'sel' selects (memoized). */
const struct u32_vec *compiler_select_namespaces(
    struct cf_compiler *c, const struct cf_selector *sel);
/* Returns the sorted pod indices that 'peer' (a selector peer, not an
 * ipBlock) of a policy in namespace 'policy_ns' selects (memoized). */
const struct u32_vec *compiler_peer_pods(struct cf_compiler *c,
                                         const char *policy_ns,
                                         const struct cf_peer *peer);
/* Like compiler_peer_pods(), and if 'keyp' is nonnull stores in '*keyp'
 * the peer's canonical text (the memo key: the same for the same selection
 * in any compiler; owned by 'c'). */
const struct u32_vec *compiler_peer_pods_key(struct cf_compiler *c,
                                             const char *policy_ns,
                                             const struct cf_peer *peer,
                                             const char **keyp);
/* Like compiler_peer_pods_key() for a peer whose canonical text 'key' the
 * caller already knows (it must be the text compiler_peer_pods_key() gives
 * for 'peer' of a policy in 'policy_ns'). */
const struct u32_vec *compiler_peer_pods_by_key(struct cf_compiler *c,
                                                const char *policy_ns,
                                                const struct cf_peer *peer,
                                                const char *key,
                                                const char **keyp);
/* Returns the index of the pod named 'key' ("ns/name") in the cluster of
 * 'c', plus one, or 0 if there is none (a binary search: the cluster is
 * sorted). */
uint32_t compiler_find_pod(const struct cf_compiler *c, const char *key);
/* Builds the indexes of 'c' over its cluster. */
void compiler_index_build(struct cf_compiler *c);
/* Frees what compiler_index_build() built. */
void compiler_index_destroy(struct cf_compiler *c);

/* ---- Contributions and merging (compiler.c, compiler-cache.c) -------- */

struct cf_node_cache;
struct peer_rec;

/* Priorities (see compiler.c's file comment). */
enum {
    PRIO_NODE = 30000,          /* Node-address allowance. */
    PRIO_PLAIN = 20000,         /* Single-dimension rule flows. */
    PRIO_BAND = 1000,           /* Band 0 of conjunctions. */
    PRIO_ISOLATION = 100,       /* Per-pod drop in the isolation tables. */
};
#define N_BANDS_INITIAL 1
#define N_BANDS_MAX 16384       /* PRIO_BAND + N_BANDS_MAX < PRIO_PLAIN. */

/* A clause entry of a conjunction, compactly (12 bytes; a struct
 * cflow_match is 84 and a node cache keeps every entry of every rule): an
 * IPv4 prefix on the source or the destination address, and/or a
 * protocol, with or without a tp_dst value/mask, in its clause.  These are
 * all the entries the compiler makes (match_ip() and match_port()). */
struct conj_entry {
    uint32_t addr;              /* With CE_SRC or CE_DST: the address... */
    uint16_t tp_dst;            /* With CE_TP: tp_dst value... */
    uint16_t tp_dst_mask;       /* ...and mask. */
    uint8_t plen;               /* ...and prefix length (1..32). */
    uint8_t flags;              /* CE_* bits. */
    uint8_t proto;              /* With CE_PROTO: the IP protocol. */
    uint8_t clause;             /* 1-based clause. */
};
enum {
    CE_SRC = 1 << 0,            /* nw_src. */
    CE_DST = 1 << 1,            /* nw_dst. */
    CE_PROTO = 1 << 2,          /* nw_proto. */
    CE_TP = 1 << 3,             /* tp_dst (with CE_PROTO). */
};
/* The match of entry 'e' (every other field zero). */
void compiler_entry_match(const struct conj_entry *e, struct cflow_match *);
/* Makes 'e' the entry of 'match' in 'clause'.  'match' must be one the
 * compiler makes for clause entries (an assertion fails otherwise). */
void compiler_entry_from_match(const struct cflow_match *match,
                               uint8_t clause, struct conj_entry *e);
/* Compares entries by clause, then match (the order the compiler lays
 * them out in: compiler_match_qsort_compare() on their matches). */
int compiler_entry_compare(const struct conj_entry *,
                           const struct conj_entry *);
/* Returns the position in the 'n' sorted entries 'e' where 'key' is or
 * would go, and sets '*found'. */
size_t compiler_entry_bsearch(const struct conj_entry *e, size_t n,
                              const struct conj_entry *key, bool *found);

/* The entries of clause 1 of a conjunction (a rule's peer addresses, or
 * its local pods), sorted: immutable and reference counted.  Compiling
 * for a node cache, equal ones are one block, shared by every conjunction
 * of the node that has them (see "Shared clause 1" in
 * compiler-cache.c). */
struct conj_block {
    struct conj_block *next;    /* In its table's bucket. */
    struct conj_blocks *owner;  /* Its table, or NULL (not shared). */
    uint32_t hash;              /* Of the entries. */
    uint32_t ref;               /* References. */
    size_t n;                   /* Number of entries (at least one). */
    struct conj_entry e[];      /* The entries. */
};

/* A patch of a clause-1 block made in this compilation (see
 * conj_blocks_patch()). */
struct block_patch {
    struct conj_block *old;     /* The block patched (referenced)... */
    struct conj_block *new;     /* ...and the result (referenced). */
    uint32_t ip[4];             /* The patch's addresses... */
    uint8_t add;                /* ...whether each is added (bits)... */
    uint8_t n;                  /* ...and how many. */
};

/* The shared clause-1 blocks of a node cache, and the patches made in the
 * compilation under way. */
struct conj_blocks {
    struct conj_block **buckets;    /* Owned array of 'mask + 1'. */
    size_t mask;
    size_t n;                   /* Blocks in the table. */
    struct block_patch *patches;    /* Open addressing: 'patch_mask + 1'
                                     * slots (NULL 'old': free). */
    size_t patch_mask;
    size_t n_patches;
    uint64_t n_made;            /* Blocks made by patches so far. */
};

void conj_blocks_init(struct conj_blocks *);
/* Forgets the patches; the blocks still referenced leave the table (and
 * are freed with their last reference). */
void conj_blocks_destroy(struct conj_blocks *);
/* Forgets the patches of the compilation that ends. */
void conj_blocks_end(struct conj_blocks *);
/* Returns a reference to a block with the 'n' entries 'e' (n > 0): the
 * table's, if 'blocks' is nonnull and has one, else a new one (put in the
 * table if 'blocks' is nonnull). */
struct conj_block *conj_block_make(struct conj_blocks *blocks,
                                   const struct conj_entry *e, size_t n);
/* Releases a reference to 'b' (NULL: nothing). */
void conj_block_unref(struct conj_block *b);
/* Returns 'b' with one more reference. */
static inline struct conj_block *
conj_block_ref(struct conj_block *b)
{
    b->ref++;
    return b;
}
/* True if this compilation already patched 'old' by the 'n' addresses 'ip'
 * (bit k of 'add': the k-th is added, else removed). */
bool conj_blocks_have_patch(const struct conj_blocks *blocks,
                            const struct conj_block *old,
                            const uint32_t ip[], uint8_t add, size_t n);
/* Returns a reference to 'old' patched by the 'n' addresses 'ip' (as for
 * conj_blocks_have_patch()), whose clause-1 entries in table 'table' are
 * compiler_peer_match()'s: the same block for the same patch of the same
 * block within a compilation.  Each address added must not be in 'old',
 * each removed must be. */
struct conj_block *conj_blocks_patch(struct conj_blocks *blocks,
                                     struct conj_block *old, uint8_t table,
                                     const uint32_t ip[], uint8_t add,
                                     size_t n);

/* A conjunction of one rule part, before merging. */
struct pf_conj {
    uint32_t id;                /* Conjunction id. */
    uint8_t table;              /* Rule table. */
    uint8_t next_table;         /* Where an allowed packet goes. */
    uint8_t reg;                /* Register that records 'id'. */
    uint8_t n_clauses;          /* Number of clauses (2 or 3). */
    uint64_t cookie;            /* The rule's cookie (CFLOW_KIND_ALLOW). */
    bool log;                   /* The policy has audit logging on. */
    /* Its clause entries, in (clause, match) order: those of clause 1 in
     * 'c1' (a reference, kept also while 'lent'), the others in 'rest'. */
    struct conj_block *c1;
    struct conj_entry *rest;    /* Owned unless 'lent'. */
    size_t n_rest;
    bool lent;                  /* A later contribution of the policy reuses
                                 * this conjunction and owns 'rest' (see
                                 * "Reuse of rules" in compiler.c). */
    /* A conjunction patched from the last contribution's (see "Reuse of
     * rules" in compiler.c) took that one's 'rest' over (it is 'lent'),
     * whose clause 1 was 'patch_base' (only compared, never followed: the
     * lent conjunction keeps it alive), and added to clause 1 the peer
     * address entries (compiler_peer_match()) of the 'patch_ip' whose bit
     * in 'patch_add' is set and removed the others.  NULL 'patch_base'
     * otherwise. */
    const struct conj_block *patch_base;
    uint32_t patch_ip[4];
    uint8_t patch_add;
    uint8_t n_patch;
};

/* The number of clause entries of 'c'. */
static inline size_t
pf_conj_n(const struct pf_conj *c)
{
    return c->c1->n + c->n_rest;
}

/* Clause entry 'i' of 'c'. */
static inline const struct conj_entry *
pf_conj_entry(const struct pf_conj *c, size_t i)
{
    return i < c->c1->n ? &c->c1->e[i] : &c->rest[i - c->c1->n];
}

/* A rule of a policy that patch_policy_in_place() looks at (compiler.c),
 * so that it need not read the policy's rules again. */
struct pf_rule_ref {
    uint32_t key_ofs;           /* Its first peer among the policy's. */
    uint32_t n_peers;           /* Its number of peers. */
    uint16_t rule;              /* Its index among the direction's rules. */
    bool ingress;               /* Its direction. */
};

/* One policy's contribution to one node (see compiler.h). */
struct cf_policy_flows {
    const struct cf_policy *policy;  /* The policy (in the cluster). */
    struct cflow_set flows;     /* Plain and isolation flows, final. */
    struct u32_vec ranks;       /* Per flow: merge rank (conj id). */
    struct pf_conj *conjs;      /* Conjunctions (owned). */
    size_t n_conjs;
    size_t allocated_conjs;
    struct u32_vec local_ips;   /* IPv4 addresses of the local pods it was
                                 * compiled for, in order. */
    struct cf_policy *snapshot; /* Owned copy of the policy as compiled,
                                 * kept by a node cache for reuse (else
                                 * NULL). */
    char **peer_keys;           /* With 'snapshot': per peer of every rule
                                 * (ingress rules, then egress), the peer's
                                 * memo key (owned), or NULL (an ipBlock or
                                 * not known). */
    size_t n_peer_keys;
    struct peer_rec **peer_recs;    /* With 'peer_keys': per peer, the node
                                     * cache's record of its selection, or
                                     * NULL if not known yet (owned array
                                     * of 'n_peer_keys'; the records are
                                     * the cache's).  Valid only while the
                                     * cache's record epoch is
                                     * 'recs_epoch'. */
    uint64_t recs_epoch;
    struct peer_rec **uniq_recs;    /* With 'peer_recs': the distinct
                                     * records of the rules that
                                     * patch_policy_in_place() looks at
                                     * (owned array), or NULL if not
                                     * known.  Valid with 'peer_recs'. */
    size_t n_uniq_recs;
    size_t n_uniq_rules;        /* The number of those rules. */
    bool log_denies;            /* Compiled with the compiler's log_denies
                                 * (see cf_compiler_set_log_denies()). */
    uint64_t merge_gen;         /* The node cache update that put it in
                                 * the cache (see mc_update()). */
    struct pf_rule_ref *looked; /* The rules patch_policy_in_place() looks
                                 * at (owned), if 'have_looked'. */
    size_t n_looked;
    bool have_looked;
    bool named_ports;           /* With 'have_looked': a rule has a named
                                 * port. */
    bool in_place;              /* Patched in place for the compilation
                                 * under way: it is both the node cache's
                                 * last contribution and the new one, and
                                 * its conjunctions' 'n_patch' say what
                                 * changed (see "Reuse of rules" in
                                 * compiler.c). */
};

/* A pod bound on the node being compiled. */
struct local_pod {
    uint32_t pod;               /* Index into the cluster's pods. */
    uint32_t ip;                /* Its IPv4 address (host order). */
    const struct cf_binding *binding;  /* Its port. */
};

/* Fills in 'rc' the pods and memo keys of the selector peers of 'rule' of
 * policy 'p', once. */
void compiler_rule_peers_get(struct cf_compiler *c, const struct cf_policy *p,
                             const struct cf_rule *rule, struct rule_cache *rc,
                             char *const *known_keys);
/* Collects in 'locals' the pods bound on the node ('ports'): known, not
 * host-network, with an IPv4 address. */
void compiler_collect_locals(struct cf_compiler *c,
                             const struct cf_node_ports *ports,
                             struct local_pod **locals, size_t *n_locals);
/* qsort() comparison of matches: the order of cflow_key_compare() on
 * flows that differ only in their matches (fields present, then each
 * present field in cflow.c's order), without building flows. */
int compiler_match_qsort_compare(const void *a_, const void *b_);
/* Returns a hash of match 'm' with 'basis': matches that
 * compiler_match_qsort_compare() finds equal hash equally (only present
 * fields count). */
uint32_t compiler_match_hash(const struct cflow_match *m, uint32_t basis);
/* Sets 'm' to the clause entry of peer address 'ip' (a /32) in rule table
 * 'table': the source address in ingress_rules, the destination in
 * egress_rules. */
void compiler_peer_match(struct cflow_match *m, uint8_t table, uint32_t ip);
/* Appends to merged clause flow 'f' (which has only conjunction() actions)
 * the conjunction() actions of one member of its key: those of whole flow
 * 'flow', or, if 'flow' is NULL, conjunction('id', 'clause'/'n_clauses');
 * one equal to the last action of 'f' is skipped (members come in rank
 * order, so duplicates are adjacent). */
void compiler_merge_conjunctions(struct cflow *f, const struct cflow *flow,
                                 uint32_t id, uint8_t clause,
                                 uint8_t n_clauses);
/* Returns the band of conjunction 'id' among 'n_bands'. */
unsigned compiler_conj_band(uint32_t id, unsigned n_bands);
/* Chooses the number of bands for each rule table ('n_bands', indexed by
 * table) so that no merged clause flow carries more than
 * CFLOW_MAX_CONJUNCTIONS conjunctions. */
void compiler_choose_bands(struct cf_policy_flows *const *pfs, size_t n_pfs,
                           unsigned n_bands[CFLOW_N_TABLES]);
/* Appends to 'set' the fixed pipeline flows and the per-port classify
 * flows of 'node' with 'ports' and local pods 'locals'. */
void compiler_add_pipeline(const struct cf_node *node,
                           const struct cf_node_ports *ports,
                           const struct local_pod *locals, size_t n_locals,
                           struct cflow_set *set);
/* Appends to 'set' the conj_id flow of 'conj' at 'prio' and returns it. */
struct cflow *compiler_add_conj_id_flow(const struct pf_conj *conj,
                                        uint16_t prio,
                                        struct cflow_set *set);
/* True if every action of 'flow' is a conjunction() (a clause flow). */
bool compiler_is_clause_flow(const struct cflow *flow);
/* Returns an error if 'node' or a policy of the 'n_pfs' contributions in
 * 'pfs' has no valid id, else NULL. */
char *compiler_merge_check(const struct cf_node *node,
                           struct cf_policy_flows *const *pfs, size_t n_pfs);
/* Groups the local pods of the node with 'ports' by the policies selecting
 * them and compiles each policy's contribution: stores in '*pfsp' an array
 * of '*n_pfsp' contributions (none NULL), in policy order.  The caller
 * frees each one and the array.  With 'cache', compiles for it (see
 * compile_policy_cached() in compiler.c). */
void compiler_node_contributions(struct cf_compiler *c,
                                 const struct cf_node_ports *ports,
                                 struct cf_node_cache *cache,
                                 struct cf_policy_flows ***pfsp,
                                 size_t *n_pfsp);

/* ---- Node cache hooks (compiler-cache.c) ------------------------------- */

/* Returns the last contribution in 'cache' of the policy named 'key'
 * ("ns/name"), or NULL. */
struct cf_policy_flows *compiler_cache_get_pf(struct cf_node_cache *cache,
                                              const char *key);
/* Counts a reused rule in the statistics of 'cache'. */
void compiler_cache_count_reuse(struct cf_node_cache *cache);
/* Starts a compilation for 'cache'. */
void compiler_cache_begin(struct cf_node_cache *cache);
/* Ends a compilation for 'cache': forgets the peer selections that it did
 * not use (no contribution it kept can depend on them). */
void compiler_cache_end(struct cf_node_cache *cache);
/* Refreshes the records in 'cache' of the selector peers of 'rule' of
 * policy 'p' (whose rule cache is 'rc') with what compiler 'c' selects, and
 * returns true if each selects the same addresses as at the cache's last
 * compilation that used it (see "Reuse of rules" in compiler.c).
 * 'recs', if nonnull, is the contribution's record pointers for the rule's
 * peers (see struct cf_policy_flows): when each is known and was already
 * refreshed in this compilation, they answer without any lookup (and
 * 'rc' is left alone); otherwise the records are looked up and refreshed
 * and 'recs' filled in. */
bool compiler_cache_peers_unchanged(struct cf_node_cache *cache,
                                    struct cf_compiler *c,
                                    const struct cf_policy *p,
                                    const struct cf_rule *rule,
                                    struct rule_cache *rc,
                                    char *const *known_keys,
                                    struct peer_rec **recs);
/* If 'recs' (as for compiler_cache_peers_unchanged()) holds a record for
 * each selector peer of 'rule' (which has 'n_peers' peers), each refreshed
 * in this compilation, stores in '*unchanged' whether they all select what
 * they did and returns true; otherwise returns false.  'rule' is looked at
 * only for a peer without a record. */
bool compiler_cache_recs_known(const struct cf_node_cache *cache,
                               const struct cf_rule *rule, size_t n_peers,
                               struct peer_rec *const *recs,
                               bool *unchanged);
/* True if each of the 'n' records 'recs' was refreshed in this compilation
 * and selects what it did at the last one. */
bool compiler_cache_recs_unchanged(const struct cf_node_cache *cache,
                                   struct peer_rec *const *recs, size_t n);
/* Returns the table of shared clause-1 blocks of 'cache'. */
struct conj_blocks *compiler_cache_blocks(struct cf_node_cache *cache);
/* Returns the record epoch of 'cache': it changes whenever the cache frees
 * a peer record, which invalidates every record pointer taken before. */
uint64_t compiler_cache_rec_epoch(const struct cf_node_cache *cache);
/* Like compiler_cache_peer_sets() for the record 'rec' (NULL: returns
 * false). */
bool compiler_cache_rec_sets(const struct cf_node_cache *cache,
                             const struct peer_rec *rec,
                             const struct u32_vec **prevp,
                             const struct u32_vec **nowp,
                             const struct u32_vec **deltap);
/* Finds the record in 'cache' of the peer selection with memo key 'key',
 * refreshed by compiler_cache_peers_unchanged() in this compilation, and
 * stores in '*prevp' the addresses it selected at the last compilation, in
 * '*nowp' those it selects now (both sorted, unique, without 0) and in
 * '*deltap' those in only one of them.  Returns false if there is no such
 * record or it can't tell what it selected before. */
bool compiler_cache_peer_sets(struct cf_node_cache *cache, const char *key,
                              const struct u32_vec **prevp,
                              const struct u32_vec **nowp,
                              const struct u32_vec **deltap);
/* Counts a patched rule in the statistics of 'cache'. */
void compiler_cache_count_patch(struct cf_node_cache *cache);
/* Returns the generation of the compiler that last compiled for 'cache'
 * (0: none or unknown). */
uint64_t compiler_cache_last_gen(const struct cf_node_cache *cache);

#endif /* compiler-private.h */
