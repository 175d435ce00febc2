/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The NetworkPolicy compiler: a cluster model in, one node's desired
 * OpenFlow flows out (conjflow/cflow.h describes the pipeline, cookies and
 * conjunction ids).  Pure C, no OVS types.
 *
 * Usage: build a compiler over a sorted cluster whose policies and nodes
 * have ids (cf_cluster_sort(), and cf_cluster_assign_ids() for clusters that
 * do not come from the store), then ask it for each node's flows.  The
 * compiler keeps pointers into the cluster: the cluster must outlive it and
 * stay unchanged while it lives.
 *
 * Output is deterministic: the same cluster and ports give the same flows,
 * in the same order, with the same cookies and conjunction ids.
 */
#ifndef CONJFLOW_COMPILER_H
#define CONJFLOW_COMPILER_H 1

#include "conjflow/cflow.h"
#include "conjflow/model.h"

struct cf_compiler;

/* Creates a compiler over 'cluster' (indexes selectors, address sets).
 * 'cluster' must be sorted (cf_cluster_sort(); cf_store_load() gives a
 * sorted one). */
struct cf_compiler *cf_compiler_create(const struct cf_cluster *cluster);
/* Frees a compiler.  It does not read the cluster: that may be freed or
 * changed first.  Accepts NULL. */
void cf_compiler_destroy(struct cf_compiler *);

/* Audit log: with 'log_denies', every isolation drop flow sends the
 * dropped packet (metered) to the controller instead of only dropping it
 * (see CFLOW_A_CONTROLLER in cflow.h).  Default off. */
void cf_compiler_set_log_denies(struct cf_compiler *, bool log_denies);

/* Generations, for node caches (optional).  A caller that makes a compiler
 * for each version of its cluster may number them: 'gen' (nonzero) is this
 * compiler's number, and 'follows' says that its cluster differs from that
 * of compiler 'gen' - 1 only in the policies passed to
 * cf_compiler_note_policy_change() (the others are equal: shared objects
 * or copies).  A node cache last compiled by compiler 'gen' - 1, or by this
 * one, then takes every other policy as unchanged without comparing it
 * with its copy.  Without a generation, every policy is compared. */
void cf_compiler_set_generation(struct cf_compiler *, uint64_t gen,
                                bool follows);
void cf_compiler_note_policy_change(struct cf_compiler *, const char *ns,
                                    const char *name);

/* Appends to 'out' the complete desired flow table of 'node' whose bridge
 * has 'ports', sorted (cflow_set_sort()).  Returns NULL on success or a
 * malloc'd error message (then 'out' is unchanged). */
char *cf_compiler_node_flows(struct cf_compiler *, const struct cf_node *node,
                             const struct cf_node_ports *ports,
                             struct cflow_set *out);

/* Conjunction id of (policy 'policy_id', 'dir', rule 'rule', 'part'), where
 * 'part' 0 is the rule's numbered ports and 1 its named ports. */
uint32_t cf_conj_id(uint32_t policy_id, int dir, unsigned rule,
                    unsigned part);

/* ---- Incremental use ----------------------------------------------------
 *
 * A node's flows are the fixed pipeline plus, for each policy selecting a
 * pod bound on the node, that policy's contribution, merged: clause flows
 * with the same (table, priority, match) become one flow carrying several
 * conjunction() actions, and conjunctions are spread over priority bands so
 * that no flow carries more than CFLOW_MAX_CONJUNCTIONS of them.  A daemon
 * can keep each (policy, node) contribution, recompute only the ones a
 * change touches, and merge again; cf_compiler_node_flows() is exactly
 * cf_compiler_policy_flows() for every policy followed by
 * cf_compiler_merge(). */
struct cf_policy_flows;

/* Computes 'policy''s contribution to 'node' (whose bridge has 'ports'):
 * its isolation flows, plain rule flows and conjunctions, before merging.
 * 'policy' must belong to the compiler's cluster.  Returns NULL if the
 * policy selects no pod bound on the node.  The caller frees the result
 * with cf_policy_flows_destroy(). */
struct cf_policy_flows *cf_compiler_policy_flows(
    struct cf_compiler *, const struct cf_policy *policy,
    const struct cf_node *node, const struct cf_node_ports *ports);
void cf_policy_flows_destroy(struct cf_policy_flows *);
/* Number of flows 'pf' contributes before merging (for statistics). */
size_t cf_policy_flows_count(const struct cf_policy_flows *pf);

/* Merges the pipeline of 'node' (with 'ports') and the 'n' contributions
 * in 'pfs' (NULL entries are skipped) into 'out', appended in sorted order.
 * Returns NULL or a malloc'd error message ('out' then unchanged). */
char *cf_compiler_merge(struct cf_compiler *, const struct cf_node *node,
                        const struct cf_node_ports *ports,
                        struct cf_policy_flows *const *pfs, size_t n,
                        struct cflow_set *out);

/* ---- Incremental merging -------------------------------------------------
 *
 * A node cache keeps one node's merged flow table between compilations
 * (keyed by flow key, with each policy's last contribution), so that a
 * compilation after a small change merges again only the flows that the
 * changed contributions touch instead of the whole node.
 * cf_compiler_node_flows_cached() gives exactly what
 * cf_compiler_node_flows() gives, with any compiler (a new compiler over
 * a changed cluster included), and falls back to a full merge (emptying
 * the cache) whenever the cache can't be used.  The cache holds no
 * pointers into the cluster or the compiler. */
struct cf_node_cache;

struct cf_node_cache *cf_node_cache_create(void);
/* Empties 'cache': the next compilation merges in full. Accepts NULL. */
void cf_node_cache_clear(struct cf_node_cache *cache);
void cf_node_cache_destroy(struct cf_node_cache *cache);  /* Accepts NULL. */

/* After a successful cf_compiler_node_flows_cached(): if it updated a
 * cache that held the node's previous table (not a fresh start, not a full
 * merge), points '*removed' and '*added' to the flows that left the table
 * and the flows that entered it (a changed flow is in both), owned by the
 * cache until its next use, and returns true; else returns false.  A
 * caller that keeps the previous table can apply the difference instead of
 * comparing whole tables. */
bool cf_node_cache_get_delta(const struct cf_node_cache *,
                             const struct cflow_set **removed,
                             const struct cflow_set **added);

/* What a cache did (for status and tests). */
struct cf_node_cache_stats {
    uint64_t n_updates;         /* Compilations that updated the cache. */
    uint64_t n_fallbacks;       /* Updates abandoned for a full merge
                                 * (the number of bands must change, or
                                 * an inconsistency). */
    uint64_t n_full;            /* Full merges without the cache (the
                                 * contributions could not be merged). */
    uint64_t n_rules_reused;    /* Rule conjunctions taken from the last
                                 * contribution instead of compiled again
                                 * (nothing they are made of changed). */
    uint64_t n_rules_patched;   /* Rule conjunctions made from the last one
                                 * by adding or removing the few peer
                                 * addresses that changed. */
    uint64_t n_blocks;          /* Distinct clause 1s (a rule's peers)
                                 * that the cached conjunctions share
                                 * now. */
    uint64_t n_blocks_patched;  /* Clause 1s made by those patches: one
                                 * per distinct clause 1 and patch, however
                                 * many rules share it. */
};
void cf_node_cache_get_stats(const struct cf_node_cache *,
                             struct cf_node_cache_stats *);

/* Like cf_compiler_node_flows(), and updates 'cache', which must have been
 * used only for 'node'.  'out' may be NULL when the caller only wants the
 * difference (cf_node_cache_get_delta()); if that returns false, the
 * caller must call again with 'out'. */
char *cf_compiler_node_flows_cached(struct cf_compiler *,
                                    const struct cf_node *node,
                                    const struct cf_node_ports *ports,
                                    struct cf_node_cache *cache,
                                    struct cflow_set *out);

/* ---- What a pod change touches --------------------------------------
 *
 * True if a change of 'pod' (this version of it, in 'cluster') may change
 * 'policy''s contribution to the nodes of the pods it selects through the
 * policy's rules: the pod may be a peer that a selector picks, or a pod
 * against which an egress rule's named ports resolve (a selected peer, a
 * pod whose address lies in an ipBlock, or any pod for a rule without
 * peers).  A superset: false means the policy's flows cannot depend on the
 * pod as a peer.  (The nodes where the pod itself is, or is bound, are the
 * caller's to mark.) */
bool cf_policy_may_select_peer(const struct cf_cluster *cluster,
                               const struct cf_policy *policy,
                               const struct cf_pod *pod);

#endif /* conjflow/compiler.h */
