/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowd's observability (libopenvswitch side, used by conjflowd only):
 * the audit log, per-rule statistics and the Prometheus endpoint.
 *
 * Audit log (conjflowd --audit-log=FILE).  One line per packet that the
 * datapath sent up through an audit flow (see CFLOW_A_CONTROLLER in
 * conjflow/cflow.h), appended and flushed at once:
 *
 *   TIME node=NODE verdict=allow|deny direction=DIRS proto=PROTO
 *       src=IP[:PORT] dst=IP[:PORT] from=NS/POD|- to=NS/POD|-
 *       policy=NS/NAME[,NS/NAME...]|- rule=RULE[,RULE...]
 *
 * (one line; fields in this order, separated by one space, values without
 * spaces).  TIME is UTC, ISO 8601 with milliseconds.  "deny" lines come
 * from isolation drops (conjflowd --log-all-denies): DIRS is "ingress" or
 * "egress", 'policy' lists every policy isolating the pod in that
 * direction and 'rule' is "isolation".  "allow" lines come from new
 * connections that a rule of a policy with the annotation conjflow.io/log:
 * "true" allowed: DIRS is "egress", "ingress" or "egress,ingress", and
 * 'policy' and 'rule' list, in that order, the policy and rule
 * ("ingress[0]", "egress[2]") that allowed each direction on this node.
 * One line is one packet: a connection attempt is one +new packet, so a
 * TCP SYN that is retransmitted may log again (UDP: one line per packet
 * of a denied flow).  The datapath meter caps the rate per node.
 *
 * Statistics: the counters of a node's allow flows (conj_id= and plain:
 * packets and bytes per policy rule), conn_count flows (new connections
 * per policy rule, see cflow.h: connections conntrack saw as +new; SCTP
 * associations are not counted) and isolation drop flows (per pod and
 * direction), in the text form documented at cf_stats_format().  Packets
 * and bytes are those of the original direction (the allow flows see
 * every such packet of a connection, not only the first).
 */
#ifndef CONJFLOW_CONTROLLER_OBSERVE_H
#define CONJFLOW_CONTROLLER_OBSERVE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_cluster;
struct cf_flow_counter;
struct cf_store;
struct ds;
struct ofputil_packet_in;

/* ---- Audit log ---------------------------------------------------------- */

struct cf_audit;

/* Opens (appends to) the audit log at 'path'.  Returns NULL and sets
 * '*auditp', or returns a malloc'd error. */
char *cf_audit_open(const char *path, struct cf_audit **auditp);
void cf_audit_close(struct cf_audit *);
/* Writes the line for packet-in 'pin' from node 'node', explained with
 * 'cluster'.  Packet-ins that are not audit packets are ignored. */
void cf_audit_packet_in(struct cf_audit *, const struct cf_cluster *,
                        const char *node,
                        const struct ofputil_packet_in *pin);
/* Lines written so far. */
uint64_t cf_audit_n_lines(const struct cf_audit *);
/* Reopens the file (after log rotation).  Returns NULL or a malloc'd
 * error (then the old file stays in use). */
char *cf_audit_reopen(struct cf_audit *);

/* ---- Statistics --------------------------------------------------------- */

/* Appends node 'node''s statistics, from the 'n' counters in 'counters'
 * received at wall time 'when' (ms), with names from 'cluster':
 *
 *   node=NODE time=MS
 *   allow policy=NS/NAME id=ID rule=DIR[i] packets=N bytes=N connections=N
 *   deny direction=DIR pod=NS/POD ip=IP packets=N bytes=N
 *
 * one "allow" line per rule with installed allow or conn_count flows
 * (connections: the rule's conn_count hits), one "deny" line
 * per isolation drop flow; sorted.  A policy no longer in the cluster is
 * named "-/-"; an address that is no pod's, pod "-".  This text is what
 * "ovs-appctl -t conjflowd stats" prints and what conjflowd stores under
 * the meta key "stats/NODE" for "conjflowctl stats". */
void cf_stats_format(const struct cf_cluster *cluster, const char *node,
                     const struct cf_flow_counter *counters, size_t n,
                     long long int when, struct ds *out);

/* Looks up the pod with IPv4 'ip' (host order) in 'cluster' and appends
 * "NS/NAME", or "-". */
void cf_observe_put_pod(const struct cf_cluster *, uint32_t ip,
                        struct ds *out);

/* ---- Kubernetes watch health -------------------------------------------- */

/* Appends Prometheus text (exposition format 0.0.4, HELP and TYPE lines
 * included) for the watch health that conjflow-k8s keeps in 'store''s meta
 * table (keys "k8s/watch/<resource>", format in conjflow/k8s.h), one
 * sample per resource with a row:
 *
 *   conjflow_k8s_watch_synced{resource}            listed and followed (0/1)
 *   conjflow_k8s_watch_events_total{resource}      watch events received
 *   conjflow_k8s_watch_errors_total{resource}      errors
 *   conjflow_k8s_watch_reconnects_total{resource}  broken watches resumed
 *   conjflow_k8s_watch_relists_total{resource}     relists after 410 Gone
 *   conjflow_k8s_watch_invalid_objects_total{resource}  objects skipped
 *   conjflow_k8s_watch_last_event_age_seconds{resource}  since the last
 *                                                  event or LIST (if any)
 *   conjflow_k8s_watch_report_age_seconds{resource}  since conjflow-k8s
 *                                                  last updated the row
 *
 * resource is "namespaces", "nodes", "pods" or "networkpolicies".  The
 * counters are conjflow-k8s's since it started (they reset when it
 * restarts).  Appends nothing if conjflow-k8s never wrote a row (a store
 * fed only by conjflowctl).  A row that cannot be read is skipped (logged,
 * rate-limited). */
void cf_metrics_put_k8s(struct cf_store *, struct ds *out);

#endif /* controller/observe.h */
