/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The reference evaluator: NetworkPolicy v1 semantics written straight from
 * the specification, independent of the flow compiler.  conjflowctl's
 * explain and matrix use it, and the tests hold the compiled flows to it.
 *
 * It answers: may a new connection from pod 'src' to pod 'dst' on
 * (port, protocol) be made?  That is: 'src' is not egress-isolated or some
 * egress rule of a policy selecting it allows 'dst' on that port, and
 * 'dst' is not ingress-isolated or some ingress rule of a policy selecting
 * it allows 'src'.  Named ports resolve against the destination pod.
 * Traffic between a pod and its own node's addresses is always allowed.
 * Host-network pods are never selected by pod selectors.
 *
 * The cluster must be sorted (cf_cluster_sort()).
 */
#ifndef CONJFLOW_EVALUATOR_H
#define CONJFLOW_EVALUATOR_H 1

#include <stdbool.h>
#include <stdint.h>

#include "conjflow/model.h"

struct cf_ds;

/* Why a direction was allowed or denied. */
struct cf_eval_side {
    bool isolated;              /* Some policy selects the pod for this
                                 * direction. */
    bool allowed;               /* The direction allows the connection. */
    const struct cf_policy *policy;  /* If allowed by a rule: its policy. */
    unsigned rule;              /* ... and the rule's index. */
    bool by_node;               /* Allowed as traffic to/from the pod's own
                                 * node. */
};

/* The verdict on one connection. */
struct cf_eval_verdict {
    bool allowed;               /* egress.allowed && ingress.allowed. */
    struct cf_eval_side egress;   /* The source pod's egress side. */
    struct cf_eval_side ingress;  /* The destination pod's ingress side. */
};

/* Evaluates a connection from 'src' to 'dst' on 'port'/'proto'.  If 'why'
 * is nonnull, appends a human explanation: which policies isolate each
 * side, and which rule (policy, direction, index) allows it, or that none
 * does. Returns verdict->allowed. */
bool cf_eval_pods(const struct cf_cluster *, const struct cf_pod *src,
                  const struct cf_pod *dst, uint16_t port,
                  enum cf_proto proto, struct cf_eval_verdict *verdict,
                  struct cf_ds *why);

/* Evaluates traffic from a pod to an arbitrary address (egress only
 * matters unless 'addr' is a pod's) or from an address to a pod.  'src' or
 * 'dst' may be NULL, with 'addr' giving the other end's address. */
bool cf_eval_addr(const struct cf_cluster *, const struct cf_pod *src,
                  const struct cf_pod *dst, const struct cf_addr *addr,
                  uint16_t port, enum cf_proto proto,
                  struct cf_eval_verdict *verdict, struct cf_ds *why);

#endif /* conjflow/evaluator.h */
