/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * One node's switch, as conjflowd manages it: an OVSDB session that
 * configures the node's bridge and reads its ports, and an OpenFlow session
 * that keeps the bridge's flows equal to the desired ones.
 *
 * Usage (a run/wait main loop):
 *
 *     struct cf_switch *sw = cf_switch_create("node1", "unix:/x/db.sock",
 *                                             "br-int");
 *     for (;;) {
 *         cf_switch_run(sw);
 *         if (cf_switch_get_ports_seqno(sw) != last) {
 *             ...compile with cf_switch_get_ports(sw)...
 *             cf_switch_set_desired(sw, &flows);
 *         }
 *         cf_switch_wait(sw);
 *         poll_block();
 *     }
 *
 * OVSDB: the bridge gets fail_mode=secure, protocols OpenFlow13-15, names
 * for conjflow's tables, and one Controller: a passive listener
 * ("punix:<dir>/<bridge>.conjflow" next to the database socket for unix:
 * remotes, "ptcp:<port>:<host>" for tcp:, "pssl:" for ssl:) that conjflowd
 * connects to.  A passive listener is an OpenFlow "service", not a
 * "controller", so adding it never makes vswitchd flush the bridge's flows.
 * conjflowd programs nothing until vswitchd has applied this configuration
 * (it waits for Open_vSwitch cur_cfg to reach next_cfg).
 *
 * OpenFlow (1.5 only): on every connection, conjflowd dumps the flows
 * whose cookie carries conjflow's tag (learned SCTP reply flows excluded)
 * and then sends only the difference to the desired flows, in one atomic,
 * ordered bundle per change.  A failed bundle changes nothing on the
 * switch; it is reported in the status and retried (dump and diff again)
 * with exponential backoff.  Nothing is sent before the first desired
 * flows are set, so a switch is never wiped by a daemon that just started.
 */
#ifndef CONJFLOW_OFPROTO_SWITCH_H
#define CONJFLOW_OFPROTO_SWITCH_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_node_ports;
struct cflow_set;
struct ds;
struct ofputil_packet_in;
struct simap;

struct cf_switch;

/* Global options (set before creating switches). */
/* TCP port of the OpenFlow listener for tcp:/ssl: OVSDB remotes. */
void cf_switch_set_openflow_port(int port);
/* Enables (the default) or disables asking the node's vswitchd to empty its
 * datapath flow cache ("revalidator/purge") after each committed bundle,
 * before the switch counts as in sync (see switch.c, "Datapath cache
 * purge": works around stale megaflows in Open vSwitch 3.1's userspace
 * datapath; needs a unix: OVSDB remote next to vswitchd's control
 * socket). */
void cf_switch_set_datapath_purge(bool enable);
bool cf_switch_get_datapath_purge(void);

/* Creates the switch of node 'name' whose OVSDB is at 'ovsdb' and whose
 * bridge is 'bridge'.  Copies the strings.  Connects in the background. */
struct cf_switch *cf_switch_create(const char *name, const char *ovsdb,
                                   const char *bridge);
void cf_switch_destroy(struct cf_switch *);

const char *cf_switch_get_name(const struct cf_switch *);
const char *cf_switch_get_ovsdb(const struct cf_switch *);
const char *cf_switch_get_bridge(const struct cf_switch *);

void cf_switch_run(struct cf_switch *);
void cf_switch_wait(struct cf_switch *);

/* True once the bridge has been found and its ports read. */
bool cf_switch_ports_known(const struct cf_switch *);
/* Increments whenever the bridge's pod ports, uplinks or other ports
 * change. */
unsigned int cf_switch_get_ports_seqno(const struct cf_switch *);
/* The bridge's ports, owned by the switch, valid until the next
 * cf_switch_run(). */
const struct cf_node_ports *cf_switch_get_ports(const struct cf_switch *);

/* Sets the desired flows to 'flows' (not taken).  Returns NULL on success,
 * or a malloc'd error if some flow cannot be expressed in OpenFlow (then
 * the previous desired flows stay). */
char *cf_switch_set_desired(struct cf_switch *, const struct cflow_set *);
/* Changes the desired flows (set before with cf_switch_set_desired()) by
 * taking out the flows in 'removed' and putting in those in 'added' (not
 * taken), so that a small change costs little.  Returns NULL, or a
 * malloc'd error (a flow to remove is not desired, a flow cannot be
 * expressed in OpenFlow, two flows would have one identity), and then the
 * desired flows stay as they were: call cf_switch_set_desired(). */
char *cf_switch_update_desired(struct cf_switch *,
                               const struct cflow_set *removed,
                               const struct cflow_set *added);
/* Records an error that kept conjflowd from computing the desired flows
 * (shown in the status). */
void cf_switch_set_error(struct cf_switch *, const char *error);
/* Forgets what is installed: dumps the flows again and resends the
 * difference. */
void cf_switch_reconcile(struct cf_switch *);

/* True if the switch is connected and its installed flows equal the
 * desired ones (no bundle in flight). */
bool cf_switch_is_synced(const struct cf_switch *);
/* True if the switch is connected and has committed the desired flows: as
 * cf_switch_is_synced(), except that the datapath purge after the last
 * bundle may still be running. */
bool cf_switch_is_committed(const struct cf_switch *);
/* True if a change is on its way to the connected switch: flows to send,
 * a bundle in flight, or a datapath purge to do or waited for. */
bool cf_switch_in_flight(const struct cf_switch *);
/* Number of flow_mods sent so far, and of bundles committed. */
uint64_t cf_switch_n_flow_mods(const struct cf_switch *);
uint64_t cf_switch_n_bundles(const struct cf_switch *);
/* Number of committed bundles that may have revoked an allowed connection:
 * those that removed or replaced flows, or added flows to a table where a
 * flow denies (isolation, ct_state, commit).  Bundles that only add
 * allowing flows do not count.  conjflowd sweeps the node's conntrack
 * zone when it moves (controller/conjflowd-ctsweep.c). */
uint64_t cf_switch_n_revoking_bundles(const struct cf_switch *);
/* Finds the control socket of the ovs-vswitchd serving the switch (only
 * for a unix: OVSDB remote, see switch.c "Datapath cache purge").
 * Returns NULL and sets '*pathp' (malloc'd), or returns a malloc'd
 * error. */
char *cf_switch_get_vswitchd_ctl(const struct cf_switch *, char **pathp);
/* Number of desired and installed flows. */
size_t cf_switch_n_desired(const struct cf_switch *);
size_t cf_switch_n_installed(const struct cf_switch *);

/* Appends one status block (several lines) for the switch. */
void cf_switch_format_status(const struct cf_switch *, struct ds *);
/* Appends the desired, or installed, flows in ovs-ofctl syntax, sorted. */
void cf_switch_format_desired(const struct cf_switch *, struct ds *);
void cf_switch_format_installed(const struct cf_switch *, struct ds *);

/* ---- Observability (audit log, per-rule statistics) --------------------
 *
 * On every OpenFlow connection conjflowd also (before dumping flows):
 *   - adds the audit meter CFLOW_AUDIT_METER_ID (packets per second, drop
 *     band) that CFLOW_A_CONTROLLER actions refer to, so it exists before
 *     any flow uses it ("meter exists" errors are expected and ignored);
 *   - asks for packet-ins in the NXT_PACKET_IN2 format (it carries the
 *     controller action's userdata and the registers) and sets
 *     miss_send_len, without which a passive ("service") connection gets
 *     no packet-ins at all. */

/* Sets the audit meter's rate and burst (packets) for switches that
 * connect afterwards. */
void cf_switch_set_audit_meter(unsigned int rate, unsigned int burst);

/* Called for each packet-in from the switch with conjflow's cookie tag;
 * 'pin' (and what it points to) is valid only during the call. */
typedef void cf_switch_packet_in_func(struct cf_switch *,
                                      const struct ofputil_packet_in *pin,
                                      void *aux);
void cf_switch_set_packet_in_cb(struct cf_switch *,
                                cf_switch_packet_in_func *, void *aux);

/* The counters of one of conjflow's flows (from a flow stats dump). */
struct cf_flow_counter {
    uint64_t cookie;            /* The flow's cookie (cflow.h layout). */
    uint8_t table;              /* Its table. */
    uint16_t priority;          /* Its priority. */
    uint32_t nw_src, nw_dst;    /* Exact IPv4 matches (host order), or 0. */
    uint64_t n_packets;         /* Packets that hit it. */
    uint64_t n_bytes;           /* Bytes that hit it. */
};

/* Sends a flow stats request for conjflow's flows unless one is pending.
 * Returns false if the switch is not connected (nothing sent). */
bool cf_switch_request_stats(struct cf_switch *);
/* The counters of the last complete dump, in '*countersp' (owned by the
 * switch, valid until the next cf_switch_run()) and '*np', and when they
 * were received (wall ms, 0 if never) in '*whenp'.  Returns a number that
 * increases with every completed dump (0: none yet). */
unsigned int cf_switch_get_stats(const struct cf_switch *,
                                 const struct cf_flow_counter **countersp,
                                 size_t *np, long long int *whenp);
/* True if the OpenFlow connection is up. */
bool cf_switch_is_connected(const struct cf_switch *);
/* Duration of the last committed bundle (us), and bundles that failed. */
long long int cf_switch_last_bundle_us(const struct cf_switch *);
uint64_t cf_switch_n_failed(const struct cf_switch *);

/* Adds to 'usage' what the desired and installed flows of all switches
 * hold in the pools that they share (see switch.c, "Memory"), for
 * memory/show: "ofl-actions" and "ofl-action-bytes", the distinct action
 * lists of the OpenFlow flows and their bytes; "ofl-matches" and
 * "ofl-match-bytes", the same for their matches; "cache-actions" and
 * "cache-action-bytes", the same for the desired flow caches' packed
 * compiler actions. */
void cf_switch_get_memory_usage(struct simap *usage);

#endif /* ofproto/switch.h */
