/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Desired OpenFlow flows, in conjflow's own small structs (no OVS types).
 *
 * The compiler produces these; conjflowctl prints them in ovs-ofctl syntax
 * (cflow_format()); conjflowd turns them into OpenFlow flow_mods with
 * libopenvswitch (ofproto/); the test interpreter (controller/interp.c) runs
 * packets through them.  A flow is identified by (table, priority, match);
 * two flows with the same key are the same OpenFlow flow.
 *
 * The pipeline (one set of tables per node's bridge):
 *
 *   0 classify          anti-spoofing: a pod port may send only its own MAC
 *                       and IP (ARP included); uplinks and LOCAL pass;
 *                       everything else drops.  Sets reg0 bit 0 for
 *                       traffic from a local pod.  Validated ARP goes
 *                       straight to forward.
 *   1 conntrack         ip: ct(zone=<node id>, table=ct_state); sctp (see
 *                       below): resubmit(,sctp_reply), goto ct_state; other
 *                       ethertypes (IPv6...) drop: conjflow is IPv4-only
 *                       and fails closed.
 *   2 ct_state          +inv drops; +est+rpl and +rel of a connection
 *                       whose ct_mark has CFLOW_CT_MARK_DENIED drop; other
 *                       +est+rpl and +rel go to forward (replies); +new
 *                       and +est-rpl are checked against policy
 *                       (established connections are revalidated, so a
 *                       revoked connection stops at once): to egress_rules
 *                       when reg0 bit 0 is set, else to ingress_rules.
 *                       SCTP with reg0 bit 6 set (a learned reply of a
 *                       denied association) drops; with reg0 bit 1 set (a
 *                       learned reply) it goes to forward.
 *   3 egress_rules      rules of policies isolating the source pod; an
 *                       allowed packet goes to ingress_rules.
 *   4 egress_isolation  denies traffic of egress-isolated local pods that
 *                       no rule allowed (sets reg0 bit 5, goes to commit,
 *                       which drops it); the rest goes to ingress_rules.
 *   5 ingress_rules     rules of policies isolating the destination pod; an
 *                       allowed packet goes to commit.
 *   6 ingress_isolation denies traffic to ingress-isolated local pods that
 *                       no rule allowed (reg0 bit 5, on to commit); the
 *                       rest goes to commit.
 *   7 commit            Denied packets (reg0 bit 5) never get past it:
 *                       SCTP from an uplink learns a "denied reply" flow
 *                       (CFLOW_A_LEARN_SCTP_DENY) and drops; a +est-rpl
 *                       packet of a connection not yet marked denied is
 *                       committed with CFLOW_CT_MARK_DENIED and drops; a
 *                       +new packet from an uplink likewise; any other
 *                       denied packet just drops.  Allowed packets:
 *                       ct(commit) for +new, clearing the denied mark; an
 *                       +est-rpl packet of a connection marked denied is
 *                       committed with the mark cleared (policy allows it
 *                       again); for SCTP, learn() a reply flow into
 *                       sctp_reply.  A +new packet first counts its
 *                       connection: resubmit(,conn_count) (ingress pass),
 *                       set reg0 bit 4, resubmit(,conn_count) (egress
 *                       pass), then ct(commit).
 *   8 forward           NORMAL.
 *   9 sctp_reply        learned flows only: the reverse 4-tuple of each
 *                       allowed SCTP association sets reg0 bit 1; of each
 *                       SCTP packet from an uplink that policy denied,
 *                       reg0 bit 6.
 *  10 conn_count        per-rule connection counters, reached only by the
 *                       two resubmits of commit's +new flows: per rule part
 *                       present on the node, one flow "reg0=0/0x10,
 *                       reg2=<ingress conj id>" or "reg0=0x10/0x10,
 *                       reg1=<egress conj id>" (cookie kind
 *                       CFLOW_KIND_CONN, no actions); a miss does nothing.
 *                       Their n_packets is the number of new connections
 *                       the rule allowed on this node, counted once per
 *                       direction (a connection between two isolated pods
 *                       counts for the egress and for the ingress rule).
 *                       Actions-free and only reached after the verdict, so
 *                       they change no verdict.  SCTP skips conntrack and
 *                       OpenFlow cannot match an INIT chunk, so SCTP
 *                       associations are not counted (their packets are,
 *                       by the allow flows).
 *
 * Why SCTP is different: the userspace datapath's conntrack keys SCTP by
 * addresses only (no ports), so A->B:80 would make an unrelated B->A:81 look
 * like a reply.  SCTP therefore skips conntrack: every packet in the
 * original direction is checked against policy, and replies are recognized
 * by flows learned from allowed packets.
 *
 * Cross-node state: egress is enforced on the source pod's node, ingress
 * on the destination pod's node, each with its own conntrack zone.  A
 * connection that the source's node allowed is committed there, so
 * packets on its reverse 5-tuple pass that node as replies, without the
 * source pod's ingress policy.  So the node whose verdict is "deny"
 * remembers it: the connection is committed in its zone with
 * CFLOW_CT_MARK_DENIED, and its replies and related packets drop there.
 * A denied +new packet is remembered only when it came from an uplink (the
 * only case where another node may hold an allowed entry); a denied
 * +est-rpl packet (a revoked connection) always, so a revoked connection's
 * replies stop too.  A connection that policy allows again is committed
 * with the mark cleared by its next original-direction packet.  SCTP gets
 * the same from learned flows (a denied packet from an uplink learns a
 * "denied reply" flow that replaces, and is replaced by, the "reply" flow
 * of an allowed packet with the same 4-tuple; SCTP cannot tell a revoked
 * association from a new one, so denied SCTP packets of local pods are
 * not remembered).  The cost: while the denied entry lives, a new
 * connection on exactly the reverse 5-tuple (same addresses and both
 * ports) is dropped even if policy allows it (fail closed).  The limits
 * are in ARCHITECTURE.md ("Known limitations").
 *
 * Registers: reg0 bit 0 = from a local pod, bit 1 = SCTP reply, bit 2 = from
 * the node itself (LOCAL: only then do the node's addresses get the node
 * allowance in ingress_rules), bit 3 = allowed by a rule of a policy with
 * audit logging on (annotation conjflow.io/log: "true"; commit then sends
 * the +new packet to conjflowd, see CFLOW_A_CONTROLLER); reg1 = the
 * conjunction id (or 0) that allowed egress, reg2 = the one that allowed
 * ingress (for observability and conn_count); reg0 bit 4 = conn_count's
 * egress pass (set in commit between the two resubmits); reg0 bit 5 =
 * denied by an isolation table (CFLOW_REG0_DENIED); reg0 bit 6 = the reply
 * of a denied SCTP association (CFLOW_REG0_SCTP_DENIED).  ct_mark bit 0 =
 * a connection that policy denied on this node (CFLOW_CT_MARK_DENIED).
 *
 * Cookies (64 bits) tell which policy and rule a flow serves:
 *
 *   bits 63..56  0xcf          conjflow's flows
 *   bits 55..32  policy id     0 for pipeline ("infrastructure") flows
 *   bits 31..28  direction     1 ingress, 2 egress, 0 none
 *   bits 27..16  rule index    within its direction
 *   bits 15..0   flow kind     CFLOW_KIND_*
 *
 * so "ovs-ofctl dump-flows br-int cookie=0xcf00002a10030000/-1" lists
 * rule 3 of ingress of policy 42 ... with mask 0xffffffffffff0000.
 */
#ifndef CONJFLOW_CFLOW_H
#define CONJFLOW_CFLOW_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_ds;

enum cflow_table {
    CFLOW_T_CLASSIFY = 0,
    CFLOW_T_CONNTRACK = 1,
    CFLOW_T_CT_STATE = 2,
    CFLOW_T_EGRESS_RULES = 3,
    CFLOW_T_EGRESS_ISOLATION = 4,
    CFLOW_T_INGRESS_RULES = 5,
    CFLOW_T_INGRESS_ISOLATION = 6,
    CFLOW_T_COMMIT = 7,
    CFLOW_T_FORWARD = 8,
    CFLOW_T_SCTP_REPLY = 9,
    CFLOW_T_CONN_COUNT = 10,
};
#define CFLOW_N_TABLES 11
/* "classify", "conntrack", ... (the names conjflowd gives the tables). */
const char *cflow_table_name(enum cflow_table);

#define CFLOW_COOKIE_TAG 0xcfULL
#define CFLOW_COOKIE_TAG_MASK 0xff00000000000000ULL
enum cflow_dir {
    CFLOW_DIR_NONE = 0,
    CFLOW_DIR_INGRESS = 1,
    CFLOW_DIR_EGRESS = 2,
};
enum cflow_kind {
    CFLOW_KIND_PIPELINE = 1,    /* Fixed pipeline flow. */
    CFLOW_KIND_POD = 2,         /* Per-pod flow (classify, isolation). */
    CFLOW_KIND_ALLOW = 3,       /* A rule's allow (conj_id= or plain). */
    CFLOW_KIND_CLAUSE = 4,      /* A conjunction clause flow. */
    CFLOW_KIND_NODE = 5,        /* Node-address allowance. */
    CFLOW_KIND_LEARNED = 6,     /* Flows learned in sctp_reply (conjflowd
                                 * leaves these out of its diff). */
    CFLOW_KIND_CONN = 7,        /* A rule's connection counter
                                 * (conn_count). */
    CFLOW_KIND_LEARNED_DENY = 8,    /* Flows learned in sctp_reply for the
                                     * replies of denied SCTP packets
                                     * (idle timeout: out of conjflowd's
                                     * diff; unlike CFLOW_KIND_LEARNED, a
                                     * policy change does not wipe them:
                                     * they allow nothing). */
};
static inline uint64_t
cflow_cookie(uint32_t policy_id, enum cflow_dir dir, unsigned rule,
             enum cflow_kind kind)
{
    return (CFLOW_COOKIE_TAG << 56) | ((uint64_t) (policy_id & 0xffffff) << 32)
           | ((uint64_t) (dir & 0xf) << 28) | ((uint64_t) (rule & 0xfff) << 16)
           | (uint64_t) (kind & 0xffff);
}

/* The cookie of the flows that a learn() action in a flow with 'cookie'
 * creates: the same policy, direction and rule, kind CFLOW_KIND_LEARNED, so
 * that conjflowd can delete every learned flow (and only those) by cookie
 * (CFLOW_LEARNED_COOKIE_MASK). */
static inline uint64_t
cflow_learned_cookie(uint64_t cookie)
{
    return (cookie & ~0xffffULL) | CFLOW_KIND_LEARNED;
}
#define CFLOW_LEARNED_COOKIE_MASK (CFLOW_COOKIE_TAG_MASK | 0xffffULL)

/* The cookie of the flows that a CFLOW_A_LEARN_SCTP_DENY action in a flow
 * with 'cookie' creates: kind CFLOW_KIND_LEARNED_DENY. */
static inline uint64_t
cflow_learned_deny_cookie(uint64_t cookie)
{
    return (cookie & ~0xffffULL) | CFLOW_KIND_LEARNED_DENY;
}

/* The OpenFlow port number of the bridge's LOCAL port (printed as
 * "in_port=LOCAL"). */
#define CFLOW_PORT_LOCAL 0xfffe

/* Which fields of a match are set. */
enum cflow_field {
    CFLOW_F_IN_PORT = 1 << 0,
    CFLOW_F_DL_SRC = 1 << 1,
    CFLOW_F_DL_TYPE = 1 << 2,   /* 0x0800 ip, 0x0806 arp, 0x86dd ipv6. */
    CFLOW_F_NW_PROTO = 1 << 3,
    CFLOW_F_NW_SRC = 1 << 4,
    CFLOW_F_NW_DST = 1 << 5,
    CFLOW_F_TP_DST = 1 << 6,
    CFLOW_F_ARP_SPA = 1 << 7,
    CFLOW_F_ARP_SHA = 1 << 8,
    CFLOW_F_REG0 = 1 << 9,
    CFLOW_F_CT_STATE = 1 << 10,
    CFLOW_F_CONJ_ID = 1 << 11,
    CFLOW_F_REG1 = 1 << 12,     /* Exact. */
    CFLOW_F_REG2 = 1 << 13,     /* Exact. */
    CFLOW_F_CT_MARK = 1 << 14,  /* ct_mark/ct_mark_mask. */
};

/* conntrack state bits, as in OpenFlow's ct_state. */
#define CFLOW_CS_NEW 0x01
#define CFLOW_CS_EST 0x02
#define CFLOW_CS_REL 0x04
#define CFLOW_CS_RPL 0x08
#define CFLOW_CS_INV 0x10
#define CFLOW_CS_TRK 0x20

/* A match.  Addresses and ports in host byte order; masks are bitmasks
 * (all-ones for an exact match). */
struct cflow_match {
    uint32_t fields;            /* CFLOW_F_* bits that are set. */
    uint32_t in_port;
    uint8_t dl_src[6];
    uint16_t dl_type;
    uint8_t nw_proto;           /* 6, 17, 132 (implies dl_type ip). */
    uint32_t nw_src, nw_src_mask;
    uint32_t nw_dst, nw_dst_mask;
    uint16_t tp_dst, tp_dst_mask;
    uint32_t arp_spa;
    uint8_t arp_sha[6];
    uint32_t reg0, reg0_mask;
    uint8_t ct_state, ct_state_mask;
    uint32_t conj_id;
    uint32_t reg1, reg2;        /* Exact matches on reg1, reg2. */
    uint32_t ct_mark, ct_mark_mask;  /* The connection's conntrack mark. */
};

/* ct_mark bit of a connection that policy denied on this node (see
 * "Cross-node state" above): its replies and related packets drop. */
#define CFLOW_CT_MARK_DENIED 0x1

/* reg0 bits with names (the others are described above). */
#define CFLOW_REG0_DENIED 0x20          /* Bit 5: an isolation table denied
                                         * the packet (commit drops it). */
#define CFLOW_REG0_SCTP_DENIED 0x40     /* Bit 6: an SCTP reply of a denied
                                         * association (sctp_reply). */
/* reg0 bits that are clear only for traffic from an uplink (bit 0: from a
 * local pod, bit 2: from LOCAL). */
#define CFLOW_REG0_SOURCE_MASK 0x05

enum cflow_action_type {
    CFLOW_A_CONJUNCTION,        /* conjunction(id, clause/n_clauses). */
    CFLOW_A_GOTO,               /* goto_table:table. */
    CFLOW_A_CT,                 /* ct(table=table, zone=zone). */
    CFLOW_A_CT_COMMIT,          /* ct(commit, zone=zone), and with a
                                 * nonzero 'mask'
                                 * exec(set_field:value/mask->ct_mark):
                                 * sets the connection's mark. */
    CFLOW_A_LOAD_REG,           /* set reg[reg] bits 'value' under
                                 * 'mask' (load/set_field). */
    CFLOW_A_NORMAL,             /* NORMAL. */
    CFLOW_A_RESUBMIT,           /* resubmit(,table). */
    CFLOW_A_LEARN_SCTP_REPLY,   /* learn(table=table, idle_timeout=
                                 * 'value', cookie=<the flow's cookie>,
                                 * priority=100, the reverse SCTP 4-tuple,
                                 * load:1->reg0[1]). */
    CFLOW_A_DROP,               /* drop (no other action allowed). */
    CFLOW_A_IN_PORT,            /* output:in_port, for a pod's traffic to
                                 * its own IP (hairpin), which NORMAL
                                 * would not send back where it came
                                 * from. */
    CFLOW_A_CONTROLLER,         /* controller(userdata=cf.00.00.<value>,
                                 * meter_id=<id>): a copy of the packet to
                                 * conjflowd for the audit log, rate
                                 * limited in the datapath by meter 'id'
                                 * (the meter applies to the copy only,
                                 * never to forwarding).  Forwarding-wise a
                                 * no-op; a flow whose only action is this
                                 * one drops the packet. */
    CFLOW_A_LEARN_SCTP_DENY,    /* Like CFLOW_A_LEARN_SCTP_REPLY, but the
                                 * learned flow loads 1->reg0[6] (a reply
                                 * of a denied association) and carries
                                 * cflow_learned_deny_cookie() of the
                                 * flow's cookie.  The two learned flows
                                 * have the same match and priority, so
                                 * each replaces the other. */
};

/* Audit log (CFLOW_A_CONTROLLER 'value', the last byte of its userdata):
 * what the packet sent to conjflowd is. */
enum cflow_audit {
    CFLOW_AUDIT_ALLOW = 1,      /* A new connection allowed by a rule of a
                                 * logged policy (reg1/reg2 tell which). */
    CFLOW_AUDIT_DENY = 2,       /* A packet dropped by isolation (the
                                 * flow's cookie tells the direction). */
};
/* The OpenFlow meter (one per bridge) that limits audit packets, and its
 * default rate. */
#define CFLOW_AUDIT_METER_ID 207
#define CFLOW_AUDIT_RATE 100            /* Packets per second. */
#define CFLOW_AUDIT_BURST 200           /* Packets. */

struct cflow_action {
    enum cflow_action_type type;
    uint32_t id;                /* CONJUNCTION: conjunction id. */
    uint8_t clause;             /* CONJUNCTION: 1-based clause. */
    uint8_t n_clauses;          /* CONJUNCTION: number of clauses. */
    uint8_t table;              /* GOTO, CT, RESUBMIT, LEARN: table. */
    uint16_t zone;              /* CT, CT_COMMIT: conntrack zone. */
    uint8_t reg;                /* LOAD_REG: register number. */
    uint32_t value, mask;       /* LOAD_REG: value and mask; CT_COMMIT:
                                 * ct_mark value and mask (mask 0: the
                                 * mark is left alone); LEARN:
                                 * 'value' is the idle timeout (s);
                                 * CONTROLLER: 'value' is the enum
                                 * cflow_audit, 'id' the meter id. */
};

/* One flow. */
struct cflow {
    uint8_t table;              /* enum cflow_table. */
    uint16_t priority;
    uint64_t cookie;
    struct cflow_match match;
    struct cflow_action *actions;  /* Owned array. */
    size_t n_actions;
    size_t allocated_actions;
};

/* A set of flows, e.g. a node's desired table. */
struct cflow_set {
    struct cflow *flows;        /* Owned array. */
    size_t n;
    size_t allocated;
};

/* The most conjunction() actions conjflow puts on one flow (OVS rejects
 * about 4,100). */
#define CFLOW_MAX_CONJUNCTIONS 2000

void cflow_set_init(struct cflow_set *);
void cflow_set_destroy(struct cflow_set *);     /* Frees contents. */
void cflow_set_clear(struct cflow_set *);
/* Appends a new flow (zeroed match, no actions) and returns it. */
struct cflow *cflow_set_add(struct cflow_set *, uint8_t table,
                            uint16_t priority, uint64_t cookie);
void cflow_add_action(struct cflow *, const struct cflow_action *);
/* Sorts by (table, priority descending, match) so output is
 * deterministic. */
void cflow_set_sort(struct cflow_set *);

/* Compares two matches field by field (only the fields that are set): a
 * total order, negative, zero or positive like strcmp(). */
int cflow_match_compare(const struct cflow_match *, const struct cflow_match *);
/* Compares two flows' keys (table, priority, match) for sorting: tables
 * ascending, priorities descending. */
int cflow_key_compare(const struct cflow *, const struct cflow *);
/* True if 'a' and 'b' are identical (key, cookie and actions). */
bool cflow_equal(const struct cflow *a, const struct cflow *b);
uint32_t cflow_key_hash(const struct cflow *, uint32_t basis);

/* Appends 'flow' in ovs-ofctl add-flow syntax, e.g.
 * "table=5, priority=1000, cookie=0xcf..., ip,nw_dst=10.0.0.5
 *  actions=conjunction(42,1/3)"
 * with tables by number, so it loads into any bridge. */
void cflow_format(const struct cflow *, struct cf_ds *);
void cflow_format_match(const struct cflow_match *, struct cf_ds *);
void cflow_format_actions(const struct cflow *, struct cf_ds *);

#endif /* conjflow/cflow.h */
