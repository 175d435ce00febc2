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

/* Creates a compiler over 'cluster' (indexes selectors, address sets). */
struct cf_compiler *cf_compiler_create(const struct cf_cluster *cluster);
void cf_compiler_destroy(struct cf_compiler *);

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

#endif /* conjflow/compiler.h */
