/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * A small interpreter of compiled flow tables, for tests: it runs one
 * packet through one node's flows (conjflow/cflow.h) the way OVS would and
 * says whether the packet is forwarded (reaches NORMAL) or dropped, and
 * which flows it hit.
 *
 * Semantics implemented: priorities (highest first), masked matches,
 * conjunctive matches (a conjunction completes when a clause flow of each
 * of its clauses matches at one priority; a partially matched conjunction
 * at a higher priority falls through to lower priorities; a completed one
 * continues at its conj_id= flow), goto_table, resubmit, register loads,
 * ct(table=...) with the conntrack state given as input (+trk is added),
 * the connection's ct_mark as input (matched after ct(); ct(commit) with
 * exec(set_field->ct_mark) updates it in the result), and the sctp_reply
 * table's learned flows, given as input bits (the packet is the reply of
 * an allowed SCTP association: reg0 bit 1 is set when the pipeline
 * resubmits to sctp_reply; or of a denied one: reg0 bit 6).
 *
 * A packet between two nodes runs the source node's flows, then the
 * destination node's (arriving on an uplink).
 */
#ifndef CONJFLOW_INTERP_H
#define CONJFLOW_INTERP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conjflow/cflow.h"

struct cf_interp;

/* A packet (host byte order). */
struct cf_interp_packet {
    uint32_t in_port;           /* OpenFlow port it arrives on. */
    uint8_t dl_src[6];          /* Source MAC. */
    bool arp;                   /* ARP (then nw_src is the sender IP) rather
                                 * than IPv4. */
    uint32_t nw_src, nw_dst;    /* IPv4 addresses. */
    uint8_t nw_proto;           /* 6, 17, 132, or another IP protocol. */
    uint16_t tp_dst;            /* Destination port (TCP/UDP/SCTP). */
    uint8_t ct_state;           /* CFLOW_CS_* bits conntrack would give
                                 * (+trk is implied); 0 means +new. */
    bool sctp_learned_reply;    /* A learned flow in sctp_reply matches. */
    uint32_t ct_mark;           /* The connection's ct_mark (as conntrack
                                 * reports it after ct()). */
    bool sctp_learned_deny;     /* A learned "denied reply" flow in
                                 * sctp_reply matches (reg0 bit 6). */
};

/* What happened to a packet. */
struct cf_interp_result {
    bool forwarded;             /* Reached NORMAL. */
    bool committed;             /* Executed ct(commit). */
    bool learned;               /* Executed the SCTP learn action. */
    uint32_t regs[3];           /* reg0..reg2 at the end. */
    uint32_t ct_mark;           /* The connection's ct_mark at the end (the
                                 * packet's, changed by commits). */
    bool learned_deny;          /* Executed the SCTP "denied reply" learn
                                 * action. */
    size_t *hits;               /* Indices (into the set) of the flows that
                                 * matched, in order; owned. */
    size_t n_hits;
    size_t allocated_hits;
};

/* Creates an interpreter over 'flows' (kept by pointer: 'flows' must
 * outlive it and stay unchanged). */
struct cf_interp *cf_interp_create(const struct cflow_set *flows);
void cf_interp_destroy(struct cf_interp *);

void cf_interp_result_init(struct cf_interp_result *);
void cf_interp_result_destroy(struct cf_interp_result *);

/* Runs 'packet' through the flows from table 0 and fills 'result' (which
 * must be initialized; its previous contents are replaced).  Returns
 * result->forwarded. */
bool cf_interp_run(const struct cf_interp *, const struct cf_interp_packet *,
                   struct cf_interp_result *result);

#endif /* conjflow/interp.h */
