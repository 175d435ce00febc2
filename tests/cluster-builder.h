/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Test helpers: build clusters in C, compactly, for the compiler,
 * evaluator, differential, golden tests and the compiler benchmark, and
 * check compiled flows against the evaluator with the interpreter.
 *
 * Selectors are written as text: comma-separated requirements "k=v"
 * (In (v)), "k=v|w" (In), "k!=v|w" (NotIn), "k" (Exists), "!k"
 * (DoesNotExist); "" is the empty selector.  Labels: "k=v,k2=v2".
 * Container ports: "name:80/TCP,:81/UDP" (empty name: unnamed).
 */
#ifndef TESTS_CLUSTER_BUILDER_H
#define TESTS_CLUSTER_BUILDER_H 1

#include <stdbool.h>
#include <stdint.h>

#include "conjflow/cflow.h"
#include "conjflow/model.h"

struct cf_ds;

void tb_labels(struct cf_labels *, const char *text);
void tb_selector(struct cf_selector *, const char *text);

struct cf_namespace *tb_ns(struct cf_cluster *, const char *name,
                           const char *labels);
/* 'ip' may be NULL (no address); 'node' may be NULL (unscheduled). */
struct cf_pod *tb_pod(struct cf_cluster *, const char *ns, const char *name,
                      const char *node, const char *ip, const char *labels,
                      const char *ports);
struct cf_node *tb_node(struct cf_cluster *, const char *name, uint32_t id,
                        const char *addr);
struct cf_policy *tb_policy(struct cf_cluster *, const char *ns,
                            const char *name, const char *pod_sel,
                            bool ingress, bool egress);
/* Appends a rule to 'p' ('egress' or ingress) and returns it. */
struct cf_rule *tb_rule(struct cf_policy *p, bool egress);
/* Appends a selector peer; NULL leaves a selector absent. */
void tb_peer_sel(struct cf_rule *, const char *ns_sel, const char *pod_sel);
/* Appends an ipBlock peer with 'n_except' except CIDRs in 'except'. */
void tb_peer_ipblock(struct cf_rule *, const char *cidr,
                     const char *const *except, size_t n_except);
void tb_port_number(struct cf_rule *, enum cf_proto, uint16_t port,
                    uint16_t end_port);
void tb_port_name(struct cf_rule *, enum cf_proto, const char *name);
void tb_port_all(struct cf_rule *, enum cf_proto);

/* Fills 'ports' with a binding for every pod scheduled on 'node' that is
 * not host-network (ofport = 1 + its index among them, MAC
 * 02:00:<ip bytes>), and uplink 100. */
void tb_node_ports(const struct cf_cluster *, const struct cf_node *,
                   struct cf_node_ports *ports);

/* The (ofport, MAC) a pod got from tb_node_ports(); false if unbound. */
bool tb_pod_port(const struct cf_node_ports *, const struct cf_pod *,
                 uint32_t *ofport, uint8_t mac[6]);

/* Checks structural invariants of a node's flows: no two flows with the
 * same key, no flow with more than CFLOW_MAX_CONJUNCTIONS conjunctions,
 * every conjunction has a conj_id flow and every clause 1..n at the
 * conj_id flow's priority, plain flows and clause flows never share a
 * priority in a table.  Returns NULL or a malloc'd description. */
char *tb_check_invariants(const struct cflow_set *);

/* Every node of a cluster compiled, with an interpreter per node. */
struct tb_world {
    const struct cf_cluster *cluster;  /* Not owned. */
    size_t n;                   /* Number of nodes (cluster->n_nodes). */
    struct cflow_set *flows;    /* Per node: its flows. */
    struct cf_node_ports *ports;  /* Per node: tb_node_ports(). */
    struct cf_interp **interps;   /* Per node: over 'flows'. */
    size_t n_flows;             /* Total flows. */
};

/* Compiles every node of sorted 'cluster' (ids assigned).  Returns NULL or
 * a malloc'd error. */
char *tb_world_build(struct tb_world *, const struct cf_cluster *cluster);
void tb_world_destroy(struct tb_world *);
/* Runs a new connection's first packet from 'src' to 'dst' through the
 * source node, then (if the destination is on another node) the
 * destination node.  True if it is delivered.  'ct_state' as in
 * struct cf_interp_packet. */
bool tb_world_send(const struct tb_world *, const struct cf_pod *src,
                   const struct cf_pod *dst, uint16_t port,
                   enum cf_proto proto, uint8_t ct_state,
                   bool sctp_learned_reply);

/* Formats 'set' one flow per line. */
void tb_format_flows(const struct cflow_set *, struct cf_ds *);

#endif
