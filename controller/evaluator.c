/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The reference evaluator (conjflow/evaluator.h): NetworkPolicy v1
 * semantics, written straight from the specification and deliberately
 * sharing nothing with the flow compiler beyond model.h's selector matching
 * and address functions.  It is slow and simple on purpose: for one
 * connection it walks every policy.
 *
 * The rules it implements, one by one:
 *   - A pod is isolated for a direction if some policy in its namespace
 *     selects it (podSelector) and lists that direction in policyTypes.
 *     Host-network pods are never selected.
 *   - An isolated direction allows a connection if some rule of that
 *     direction, of some policy selecting the pod, allows it: a rule allows
 *     it if some peer matches the other end (no peers: any end) and some
 *     port matches (no ports: any port and protocol).
 *   - A peer with podSelector and/or namespaceSelector matches a
 *     non-host-network pod: namespaceSelector against the labels of the
 *     pod's Namespace object (no object, no match), or, without one, the
 *     pod must be in the policy's namespace; podSelector against the pod's
 *     labels (absent: every pod).  An ipBlock peer matches an address in
 *     its CIDR and in none of its excepts (pods or not).
 *   - A port matches if the protocol is the same and: no port number (all
 *     ports), or port <= p <= endPort, or the port's name resolves, on the
 *     destination pod (not a host-network one: its address is its node's),
 *     to a container port with that name and protocol whose number is p.
 *   - A pod may always talk to and hear from its own node's addresses.
 *   - A connection is allowed if the source's egress and the destination's
 *     ingress both allow it (replies are then allowed too: stateful).
 */
#include "conjflow-config.h"

#include "conjflow/evaluator.h"

#include <string.h>

#include "conjflow/cfutil.h"

/* One end of a connection: a pod, or a bare address. */
struct end {
    const struct cf_pod *pod;   /* The pod, or NULL. */
    bool has_addr;              /* 'addr' is known. */
    struct cf_addr addr;        /* Its address. */
};

/* Returns the first IPv4 address of 'pod' (else its first address) in
 * '*addr'; false if it has none. */
static bool
pod_addr(const struct cf_pod *pod, struct cf_addr *addr)
{
    for (size_t i = 0; i < pod->n_ips; i++) {
        if (pod->ips[i].family == 4) {
            *addr = pod->ips[i];
            return true;
        }
    }
    if (pod->n_ips) {
        *addr = pod->ips[0];
        return true;
    }
    return false;
}

/* True if 'policy' selects 'pod'. */
static bool
policy_selects(const struct cf_policy *policy, const struct cf_pod *pod)
{
    return (!pod->host_network && !strcmp(policy->ns, pod->ns)
            && cf_selector_matches(&policy->pod_sel, &pod->labels));
}

/* True if 'peer' of a policy in namespace 'policy_ns' matches 'other'. */
static bool
peer_matches(const struct cf_cluster *cluster, const char *policy_ns,
             const struct cf_peer *peer, const struct end *other)
{
    if (peer->has_ipblock) {
        if (!other->has_addr
            || !cf_cidr_contains(&peer->ipblock.cidr, &other->addr)) {
            return false;
        }
        for (size_t i = 0; i < peer->ipblock.n_except; i++) {
            if (cf_cidr_contains(&peer->ipblock.except[i], &other->addr)) {
                return false;
            }
        }
        return true;
    }
    const struct cf_pod *pod = other->pod;
    if (!pod || pod->host_network) {
        return false;
    }
    if (peer->has_ns_sel) {
        const struct cf_namespace *ns = cf_cluster_find_namespace(cluster,
                                                                  pod->ns);
        if (!ns || !cf_selector_matches(&peer->ns_sel, &ns->labels)) {
            return false;
        }
    } else if (strcmp(pod->ns, policy_ns)) {
        return false;
    }
    return !peer->has_pod_sel || cf_selector_matches(&peer->pod_sel,
                                                     &pod->labels);
}

/* True if 'port' of a rule matches 'number'/'proto' towards destination
 * 'dst'. */
static bool
port_matches(const struct cf_port *port, uint16_t number,
             enum cf_proto proto, const struct end *dst)
{
    if (port->proto != proto) {
        return false;
    }
    switch (port->kind) {
    case CF_PORT_ALL:
        return true;
    case CF_PORT_NUMBER:
        return number >= port->port && number <= CF_MAX(port->port,
                                                        port->end_port);
    case CF_PORT_NAME:
        return (dst->pod && !dst->pod->host_network
                && cf_pod_resolve_port(dst->pod, port->name, proto) == number
                && number != 0);
    }
    return false;
}

/* True if 'rule' of a policy in 'policy_ns' allows a connection with
 * 'other' as the peer towards 'dst' on 'number'/'proto'. */
static bool
rule_allows(const struct cf_cluster *cluster, const char *policy_ns,
            const struct cf_rule *rule, const struct end *other,
            const struct end *dst, uint16_t number, enum cf_proto proto)
{
    bool peer_ok = rule->n_peers == 0;
    for (size_t i = 0; !peer_ok && i < rule->n_peers; i++) {
        peer_ok = peer_matches(cluster, policy_ns, &rule->peers[i], other);
    }
    if (!peer_ok) {
        return false;
    }
    if (!rule->n_ports) {
        return true;
    }
    for (size_t i = 0; i < rule->n_ports; i++) {
        if (port_matches(&rule->ports[i], number, proto, dst)) {
            return true;
        }
    }
    return false;
}

/* True if 'addr' is one of the addresses of the node 'pod' runs on. */
static bool
is_own_node_addr(const struct cf_cluster *cluster, const struct cf_pod *pod,
                 const struct end *other)
{
    if (!pod->node || !other->has_addr) {
        return false;
    }
    const struct cf_node *node = cf_cluster_find_node(cluster, pod->node);
    for (size_t i = 0; node && i < node->n_addrs; i++) {
        if (!cf_addr_compare(&node->addrs[i], &other->addr)) {
            return true;
        }
    }
    return false;
}

/* Appends "ns/name" of 'e' (or its address) to 'ds'. */
static void
put_end(struct cf_ds *ds, const struct end *e)
{
    if (e->pod) {
        cf_ds_put_format(ds, "%s/%s", e->pod->ns, e->pod->name);
    } else if (e->has_addr) {
        cf_addr_format(&e->addr, ds);
    } else {
        cf_ds_put_cstr(ds, "(unknown)");
    }
}

/* Evaluates one direction for pod 'self' ('egress' or ingress) with
 * 'other' as the peer and 'dst' the destination, into 'side'.  Appends an
 * explanation to 'why' if nonnull. */
static void
eval_side(const struct cf_cluster *cluster, bool egress,
          const struct end *self, const struct end *other,
          const struct end *dst, uint16_t number, enum cf_proto proto,
          struct cf_eval_side *side, struct cf_ds *why)
{
    const char *dirname = egress ? "egress" : "ingress";
    memset(side, 0, sizeof *side);

    if (!self->pod) {
        side->allowed = true;
        if (why) {
            cf_ds_put_format(why, "%s: ", dirname);
            put_end(why, self);
            cf_ds_put_cstr(why, " is not a pod: not isolated\n");
        }
        return;
    }

    const struct cf_pod *pod = self->pod;
    if (why) {
        cf_ds_put_format(why, "%s of %s/%s: ", dirname, pod->ns, pod->name);
    }
    size_t n_isolating = 0;
    for (size_t i = 0; i < cluster->n_policies; i++) {
        const struct cf_policy *p = cluster->policies[i];
        if (!(egress ? p->egress : p->ingress) || !policy_selects(p, pod)) {
            continue;
        }
        side->isolated = true;
        if (why) {
            cf_ds_put_format(why, "%s networkpolicy %s/%s",
                             n_isolating ? "," : "isolated by", p->ns,
                             p->name);
        }
        n_isolating++;
        if (side->allowed) {
            continue;
        }
        size_t n_rules = egress ? p->n_egress : p->n_ingress;
        const struct cf_rule *rules = egress ? p->egress_rules
                                             : p->ingress_rules;
        for (size_t r = 0; r < n_rules; r++) {
            if (rule_allows(cluster, p->ns, &rules[r], other, dst, number,
                            proto)) {
                side->allowed = true;
                side->policy = p;
                side->rule = r;
                break;
            }
        }
    }
    if (!side->isolated) {
        side->allowed = true;
        if (why) {
            cf_ds_put_cstr(why, "not isolated: allowed\n");
        }
        return;
    }
    if (why) {
        cf_ds_put_cstr(why, "; ");
    }
    if (side->allowed) {
        if (why) {
            cf_ds_put_format(why, "allowed by networkpolicy %s/%s %s rule "
                             "%u\n", side->policy->ns, side->policy->name,
                             dirname, side->rule);
        }
        return;
    }
    if (is_own_node_addr(cluster, pod, other)) {
        side->allowed = true;
        side->by_node = true;
        if (why) {
            cf_ds_put_cstr(why, "allowed: ");
            put_end(why, other);
            cf_ds_put_format(why, " is an address of the pod's node %s\n",
                             pod->node);
        }
        return;
    }
    if (why) {
        cf_ds_put_cstr(why, "denied: no rule allows ");
        put_end(why, other);
        cf_ds_put_format(why, " on %u/%s\n", number, cf_proto_name(proto));
    }
}

/* Evaluates the connection from 'src' to 'dst' (see evaluator.h). */
static bool
eval_ends(const struct cf_cluster *cluster, const struct end *src,
          const struct end *dst, uint16_t port, enum cf_proto proto,
          struct cf_eval_verdict *verdict, struct cf_ds *why)
{
    struct cf_eval_verdict v;
    eval_side(cluster, true, src, dst, dst, port, proto, &v.egress, why);
    eval_side(cluster, false, dst, src, dst, port, proto, &v.ingress, why);
    v.allowed = v.egress.allowed && v.ingress.allowed;
    if (why) {
        cf_ds_put_format(why, "verdict: %s\n",
                         v.allowed ? "allowed" : "denied");
    }
    if (verdict) {
        *verdict = v;
    }
    return v.allowed;
}

/* See evaluator.h. */
bool
cf_eval_pods(const struct cf_cluster *cluster, const struct cf_pod *src,
             const struct cf_pod *dst, uint16_t port, enum cf_proto proto,
             struct cf_eval_verdict *verdict, struct cf_ds *why)
{
    struct end s, d;
    memset(&s, 0, sizeof s);
    memset(&d, 0, sizeof d);
    s.pod = src;
    s.has_addr = pod_addr(src, &s.addr);
    d.pod = dst;
    d.has_addr = pod_addr(dst, &d.addr);
    return eval_ends(cluster, &s, &d, port, proto, verdict, why);
}

/* See evaluator.h.  An address that is a (non-host-network) pod's is
 * evaluated as that pod. */
bool
cf_eval_addr(const struct cf_cluster *cluster, const struct cf_pod *src,
             const struct cf_pod *dst, const struct cf_addr *addr,
             uint16_t port, enum cf_proto proto,
             struct cf_eval_verdict *verdict, struct cf_ds *why)
{
    struct end s, d;
    memset(&s, 0, sizeof s);
    memset(&d, 0, sizeof d);

    const struct cf_pod *owner = NULL;
    for (size_t i = 0; i < cluster->n_pods && !owner; i++) {
        const struct cf_pod *pod = cluster->pods[i];
        for (size_t j = 0; !pod->host_network && j < pod->n_ips; j++) {
            if (!cf_addr_compare(&pod->ips[j], addr)) {
                owner = pod;
                break;
            }
        }
    }
    struct end other;
    memset(&other, 0, sizeof other);
    other.pod = owner;
    other.has_addr = true;
    other.addr = *addr;

    if (src) {
        s.pod = src;
        s.has_addr = pod_addr(src, &s.addr);
        d = other;
    } else {
        s = other;
        if (dst) {
            d.pod = dst;
            d.has_addr = pod_addr(dst, &d.addr);
        }
    }
    return eval_ends(cluster, &s, &d, port, proto, verdict, why);
}
