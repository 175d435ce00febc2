/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The pure part of conjflowd's conntrack sweep (conjflowd-ctsweep.c has the
 * asynchronous part): reading the text of vswitchd's
 * "dpctl/dump-conntrack zone=N", judging each entry against the current
 * cluster with the reference evaluator, and writing the tuple that
 * "dpctl/flush-conntrack" takes to remove exactly one entry.  Pure C (the
 * model, the evaluator, cfutil.h), so the check tests run it without OVS.
 *
 * Usage: ctsweep_parse_dump() on the dump's text; ctsweep_index_init() once
 * per sweep over the cluster it judges with; ctsweep_judge() per entry;
 * ctsweep_format_tuple() for each entry to flush.
 */
#ifndef CONJFLOW_CONTROLLER_CTSWEEP_H
#define CONJFLOW_CONTROLLER_CTSWEEP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conjflow/model.h"

struct cf_ds;

/* One conntrack entry, as "dpctl/dump-conntrack" prints it: only IPv4 TCP,
 * UDP and ICMP entries (the only ones conjflow's pipeline commits). */
struct ctsweep_entry {
    uint8_t proto;              /* IP protocol: 1 (ICMP), 6 or 17. */
    struct cf_addr src;         /* Original direction's source. */
    struct cf_addr dst;         /* Original direction's destination. */
    uint16_t sport;             /* TCP/UDP: original source port. */
    uint16_t dport;             /* TCP/UDP: original destination port. */
    uint16_t icmp_id;           /* ICMP: the original direction's id. */
    uint8_t icmp_type;          /* ICMP: its type. */
    uint8_t icmp_code;          /* ICMP: its code. */
    uint16_t zone;              /* Conntrack zone (0 if not printed). */
    uint32_t mark;              /* ct_mark (0 if not printed). */
};

/* Parses one line of "dpctl/dump-conntrack" output into '*e'.  Sets
 * '*relevantp' to false, and leaves '*e' unspecified, for an entry that is
 * well formed but not an IPv4 TCP/UDP/ICMP one (IPv6, SCTP, other
 * protocols: conjflow never commits those, the sweep leaves them).
 * Returns NULL, or a malloc'd error naming what is wrong. */
char *ctsweep_parse_line(const char *line, struct ctsweep_entry *e,
                         bool *relevantp);

/* Parses the whole output 'text' (one entry per line; blank lines are
 * ignored) into a malloc'd array '*entriesp' of '*np' relevant entries
 * (free() it).  '*n_otherp', if nonnull, receives the number of well-formed
 * entries left out.  On any malformed line returns a malloc'd error
 * ("line 3: ...") and sets '*entriesp' to NULL and '*np' to 0: the caller
 * then flushes nothing. */
char *ctsweep_parse_dump(const char *text, struct ctsweep_entry **entriesp,
                         size_t *np, size_t *n_otherp);

/* Appends to 'ds' the original tuple of 'e' in the syntax of
 * "dpctl/flush-conntrack" and "ovs-ofctl ct-flush"
 * ("ct_nw_src=...,ct_nw_dst=...,ct_nw_proto=6,ct_tp_src=..,ct_tp_dst=..";
 * ICMP: "icmp_id=..,icmp_type=..,icmp_code=.."). */
void ctsweep_format_tuple(const struct ctsweep_entry *e, struct cf_ds *ds);

/* An index of a cluster's pods by IPv4 address (host-network pods left
 * out: their address is their node's). */
struct ctsweep_index {
    struct ctsweep_pod_ip *ips; /* Sorted by address, then cluster order. */
    size_t n;                   /* Number of 'ips'. */
};

/* Builds 'index' over sorted 'cluster' (which must outlive it). */
void ctsweep_index_init(struct ctsweep_index *index,
                        const struct cf_cluster *cluster);
void ctsweep_index_destroy(struct ctsweep_index *index);
/* Returns the (first, in cluster order) non-host-network pod with IPv4
 * address 'addr', or NULL. */
const struct cf_pod *ctsweep_index_find(const struct ctsweep_index *index,
                                        const struct cf_addr *addr);

/* What the sweep does with one entry. */
enum ctsweep_verdict {
    CTSWEEP_MARKED,             /* Already marked denied (ct_mark bit 0):
                                 * its replies drop; left alone. */
    CTSWEEP_ALLOWED,            /* Policy allows it now: left alone. */
    CTSWEEP_DENIED,             /* Policy denies it now: flush it. */
};

/* True if the sweep may flush 'e': UDP and ICMP entries only.  A TCP
 * entry is never flushed: Open vSwitch's userspace conntrack does not pick
 * up a connection mid-stream, so a flushed TCP connection is dead for good,
 * even if policy allows it again a moment later (a policy replaced in two
 * steps); and a revoked TCP connection stops anyway within about one round
 * trip, since the client's ACK of the server's next segment is an
 * original-direction packet that marks it denied.  A flushed UDP or ICMP
 * flow just starts again with its client's next packet, if policy allows
 * it then. */
bool ctsweep_flushable(const struct ctsweep_entry *e);

/* Judges entry 'e' against sorted 'cluster' (indexed by 'index'): the
 * connection from e->src to e->dst, protocol e->proto, destination port
 * e->dport (ICMP: no port, so only rules without ports allow it, as in
 * the pipeline).  An end that is no pod's address is judged as that
 * address (ipBlock peers; a pod's own node's addresses are always
 * allowed); a connection between two non-pod addresses is allowed.  Sets
 * '*srcp' and '*dstp' (if nonnull) to the pods of the two ends, or NULL. */
enum ctsweep_verdict ctsweep_judge(const struct cf_cluster *cluster,
                                   const struct ctsweep_index *index,
                                   const struct ctsweep_entry *e,
                                   const struct cf_pod **srcp,
                                   const struct cf_pod **dstp);

#endif /* controller/ctsweep.h */
