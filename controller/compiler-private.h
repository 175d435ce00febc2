/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Internals shared by the compiler's source files (not a public API):
 * a string-keyed hash map, index vectors, the label index and memoized
 * selector results (compiler-index.c), and the compiler struct itself
 * (compiler.c).
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
    char *key;                  /* Owned key. */
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
    struct cf_smap pod_by_name;    /* "ns/name" -> pod index + 1 (as ptr). */
    struct cf_smap ns_sel_memo;    /* Selector text -> struct u32_vec * of
                                 * namespace indices. */
    struct cf_smap pod_sel_memo;   /* "ns\3selector" -> struct u32_vec * of
                                 * pod indices. */
    struct cf_smap peer_memo;      /* Canonical peer text -> struct u32_vec *
                                 * of pod indices. */
    struct cf_smap addrs_memo;     /* A rule's peers' canonical texts ->
                                 * struct cidr4_vec *, its address set. */
    struct policy_cache *policies;  /* One per cluster->policies. */
    struct u32_vec *pod_policies;   /* Per pod: indices of the policies
                                     * selecting it, ascending. */
    struct cf_ds scratch;       /* Scratch string for memo keys. */
    struct arena_chunk *arena;  /* Memory for the rule caches' small
                                 * arrays, freed with the compiler. */
    bool log_denies;            /* Isolation drops go to conjflowd's audit
                                 * log (cf_compiler_set_log_denies()). */
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
/* Builds the indexes of 'c' over its cluster. */
void compiler_index_build(struct cf_compiler *c);
/* Frees what compiler_index_build() built. */
void compiler_index_destroy(struct cf_compiler *c);

#endif /* compiler-private.h */
