/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Desired flows (conjflow/cflow.h): flow sets, their canonical order, and
 * their text form in ovs-ofctl syntax.  The compiler builds flow sets, the
 * daemon turns them into OpenFlow, conjflowctl prints them and the test
 * interpreter runs packets through them.  The text form is loadable with
 * "ovs-ofctl -O OpenFlow15 --bundle replace-flows BRIDGE FILE": tables by
 * number, cookies in hex, matches and actions in ovs-ofctl's own words.
 */
#include "conjflow-config.h"

#include "conjflow/cflow.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"

/* Names of the tables, indexed by enum cflow_table. */
static const char *const table_names[CFLOW_N_TABLES] = {
    "classify", "conntrack", "ct_state", "egress_rules", "egress_isolation",
    "ingress_rules", "ingress_isolation", "commit", "forward", "sctp_reply",
    "conn_count",
};

/* Returns the name of 'table' ("classify", ...), or "unknown" for a number
 * outside the pipeline. */
const char *
cflow_table_name(enum cflow_table table)
{
    return (unsigned) table < CFLOW_N_TABLES ? table_names[table] : "unknown";
}

/* Initializes 'set' empty. */
void
cflow_set_init(struct cflow_set *set)
{
    set->flows = NULL;
    set->n = 0;
    set->allocated = 0;
}

/* Frees the actions of every flow of 'set' and empties it, keeping the
 * array. */
void
cflow_set_clear(struct cflow_set *set)
{
    for (size_t i = 0; i < set->n; i++) {
        free(set->flows[i].actions);
    }
    set->n = 0;
}

/* Frees everything 'set' owns; 'set' is then empty (and may be reused). */
void
cflow_set_destroy(struct cflow_set *set)
{
    if (set) {
        cflow_set_clear(set);
        free(set->flows);
        cflow_set_init(set);
    }
}

/* Appends a flow in 'table' at 'priority' with 'cookie', an empty match and
 * no actions, and returns it.  The pointer is valid until the next call
 * that adds to 'set'. */
struct cflow *
cflow_set_add(struct cflow_set *set, uint8_t table, uint16_t priority,
              uint64_t cookie)
{
    if (set->n >= set->allocated) {
        set->flows = cf_x2nrealloc(set->flows, &set->allocated,
                                   sizeof *set->flows);
    }
    struct cflow *flow = &set->flows[set->n++];
    memset(flow, 0, sizeof *flow);
    flow->table = table;
    flow->priority = priority;
    flow->cookie = cookie;
    return flow;
}

/* Appends a copy of 'action' to 'flow''s actions. */
void
cflow_add_action(struct cflow *flow, const struct cflow_action *action)
{
    if (flow->n_actions >= flow->allocated_actions) {
        flow->actions = cf_x2nrealloc(flow->actions,
                                      &flow->allocated_actions,
                                      sizeof *flow->actions);
    }
    flow->actions[flow->n_actions++] = *action;
}

/* Three-way comparison of unsigned values 'a' and 'b'. */
static int
cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

/* Compares matches 'a' and 'b' field by field (only fields that are set),
 * for a total order on matches.  Returns negative, zero or positive like
 * strcmp(). */
int
cflow_match_compare(const struct cflow_match *a, const struct cflow_match *b)
{
    int c;

    if ((c = cmp_u64(a->fields, b->fields))) {
        return c;
    }
    uint32_t f = a->fields;
#define CMP(FIELD, MEMBER)                                      \
    if ((f & (FIELD)) && (c = cmp_u64(a->MEMBER, b->MEMBER))) { \
        return c;                                               \
    }
    CMP(CFLOW_F_CONJ_ID, conj_id);
    CMP(CFLOW_F_IN_PORT, in_port);
    CMP(CFLOW_F_DL_TYPE, dl_type);
    CMP(CFLOW_F_NW_PROTO, nw_proto);
    CMP(CFLOW_F_NW_SRC, nw_src);
    CMP(CFLOW_F_NW_SRC, nw_src_mask);
    CMP(CFLOW_F_NW_DST, nw_dst);
    CMP(CFLOW_F_NW_DST, nw_dst_mask);
    CMP(CFLOW_F_TP_DST, tp_dst);
    CMP(CFLOW_F_TP_DST, tp_dst_mask);
    CMP(CFLOW_F_ARP_SPA, arp_spa);
    CMP(CFLOW_F_REG0, reg0);
    CMP(CFLOW_F_REG0, reg0_mask);
    CMP(CFLOW_F_REG1, reg1);
    CMP(CFLOW_F_REG2, reg2);
    CMP(CFLOW_F_CT_STATE, ct_state);
    CMP(CFLOW_F_CT_STATE, ct_state_mask);
    CMP(CFLOW_F_CT_MARK, ct_mark);
    CMP(CFLOW_F_CT_MARK, ct_mark_mask);
#undef CMP
    if ((f & CFLOW_F_DL_SRC)
        && (c = memcmp(a->dl_src, b->dl_src, sizeof a->dl_src))) {
        return c;
    }
    if ((f & CFLOW_F_ARP_SHA)
        && (c = memcmp(a->arp_sha, b->arp_sha, sizeof a->arp_sha))) {
        return c;
    }
    return 0;
}

/* Compares the keys (table, priority, match) of 'a' and 'b': tables
 * ascending, then priorities descending, then matches in a fixed total
 * order.  Returns negative, zero or positive like strcmp(). */
int
cflow_key_compare(const struct cflow *a, const struct cflow *b)
{
    if (a->table != b->table) {
        return a->table < b->table ? -1 : 1;
    }
    if (a->priority != b->priority) {
        return a->priority > b->priority ? -1 : 1;
    }
    return cflow_match_compare(&a->match, &b->match);
}

/* qsort() adapter for cflow_key_compare(). */
static int
flow_qsort_compare(const void *a_, const void *b_)
{
    const struct cflow *a = a_;
    const struct cflow *b = b_;
    int c = cflow_key_compare(a, b);
    return c ? c : cmp_u64(a->cookie, b->cookie);
}

/* Sorts 'set' by key (cflow_key_compare()), then cookie, so that equal
 * inputs print equally. */
void
cflow_set_sort(struct cflow_set *set)
{
    if (set->n > 1) {
        qsort(set->flows, set->n, sizeof *set->flows, flow_qsort_compare);
    }
}

/* True if actions 'a' and 'b' are the same (only the members that their
 * type uses are compared). */
static bool
action_equal(const struct cflow_action *a, const struct cflow_action *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case CFLOW_A_CONJUNCTION:
        return (a->id == b->id && a->clause == b->clause
                && a->n_clauses == b->n_clauses);
    case CFLOW_A_GOTO:
    case CFLOW_A_RESUBMIT:
        return a->table == b->table;
    case CFLOW_A_CT:
        return a->table == b->table && a->zone == b->zone;
    case CFLOW_A_CT_COMMIT:
        return (a->zone == b->zone && a->mask == b->mask
                && (a->value & a->mask) == (b->value & b->mask));
    case CFLOW_A_LOAD_REG:
        return (a->reg == b->reg && a->value == b->value
                && a->mask == b->mask);
    case CFLOW_A_LEARN_SCTP_REPLY:
    case CFLOW_A_LEARN_SCTP_DENY:
        return a->table == b->table && a->value == b->value;
    case CFLOW_A_CONTROLLER:
        return a->id == b->id && a->value == b->value;
    case CFLOW_A_NORMAL:
    case CFLOW_A_DROP:
    case CFLOW_A_IN_PORT:
        return true;
    }
    return false;
}

/* True if 'a' and 'b' have the same key, cookie and actions (in the same
 * order). */
bool
cflow_equal(const struct cflow *a, const struct cflow *b)
{
    if (cflow_key_compare(a, b) || a->cookie != b->cookie
        || a->n_actions != b->n_actions) {
        return false;
    }
    for (size_t i = 0; i < a->n_actions; i++) {
        if (!action_equal(&a->actions[i], &b->actions[i])) {
            return false;
        }
    }
    return true;
}

/* Returns a hash of 'flow''s key (table, priority, match) with 'basis';
 * flows whose keys compare equal hash equally. */
uint32_t
cflow_key_hash(const struct cflow *flow, uint32_t basis)
{
    const struct cflow_match *m = &flow->match;
    uint32_t h = cf_hash_u32(flow->table | (uint32_t) flow->priority << 8,
                             basis);
    uint32_t f = m->fields;
    h = cf_hash_u32(f, h);
    if (f & CFLOW_F_CONJ_ID) {
        h = cf_hash_u32(m->conj_id, h);
    }
    if (f & CFLOW_F_IN_PORT) {
        h = cf_hash_u32(m->in_port, h);
    }
    if (f & CFLOW_F_DL_TYPE) {
        h = cf_hash_u32(m->dl_type, h);
    }
    if (f & CFLOW_F_NW_PROTO) {
        h = cf_hash_u32(m->nw_proto, h);
    }
    if (f & CFLOW_F_NW_SRC) {
        h = cf_hash_u32(m->nw_src ^ m->nw_src_mask * 31, h);
    }
    if (f & CFLOW_F_NW_DST) {
        h = cf_hash_u32(m->nw_dst ^ m->nw_dst_mask * 31, h);
    }
    if (f & CFLOW_F_TP_DST) {
        h = cf_hash_u32((uint32_t) m->tp_dst << 16 | m->tp_dst_mask, h);
    }
    if (f & CFLOW_F_ARP_SPA) {
        h = cf_hash_u32(m->arp_spa, h);
    }
    if (f & CFLOW_F_REG0) {
        h = cf_hash_u32(m->reg0 ^ m->reg0_mask * 31, h);
    }
    if (f & CFLOW_F_REG1) {
        h = cf_hash_u32(m->reg1, h);
    }
    if (f & CFLOW_F_REG2) {
        h = cf_hash_u32(m->reg2 * 31, h);
    }
    if (f & CFLOW_F_CT_STATE) {
        h = cf_hash_u32((uint32_t) m->ct_state << 8 | m->ct_state_mask, h);
    }
    if (f & CFLOW_F_CT_MARK) {
        h = cf_hash_u32(m->ct_mark ^ m->ct_mark_mask * 31, h);
    }
    if (f & CFLOW_F_DL_SRC) {
        h = cf_hash_bytes(m->dl_src, sizeof m->dl_src, h);
    }
    if (f & CFLOW_F_ARP_SHA) {
        h = cf_hash_bytes(m->arp_sha, sizeof m->arp_sha, h);
    }
    return h;
}

/* ---- Text form ---------------------------------------------------------- */

/* Appends ",' unless 'ds' is at the start of a match ('*first'). */
static void
put_sep(struct cf_ds *ds, bool *first)
{
    if (!*first) {
        cf_ds_put_char(ds, ',');
    }
    *first = false;
}

/* Appends IPv4 address 'ip' (host order) in dotted quad. */
static void
put_ip(struct cf_ds *ds, uint32_t ip)
{
    cf_ds_put_format(ds, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
                     (ip >> 8) & 0xff, ip & 0xff);
}

/* Appends "ip[/plen]" or "ip/mask" for a masked IPv4 match. */
static void
put_ip_masked(struct cf_ds *ds, uint32_t ip, uint32_t mask)
{
    put_ip(ds, ip & mask);
    if (mask != UINT32_MAX) {
        uint32_t inv = ~mask;
        if ((inv & (inv + 1)) == 0) {
            /* A prefix mask. */
            int plen = 0;
            for (uint32_t m = mask; m & 0x80000000u; m <<= 1) {
                plen++;
            }
            cf_ds_put_format(ds, "/%d", plen);
        } else {
            cf_ds_put_char(ds, '/');
            put_ip(ds, mask);
        }
    }
}

/* Appends Ethernet address 'mac'. */
static void
put_mac(struct cf_ds *ds, const uint8_t mac[6])
{
    cf_ds_put_format(ds, "%02x:%02x:%02x:%02x:%02x:%02x",
                     mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* Appends "NAME=0xVALUE", or "NAME=0xVALUE/0xMASK" for a partial 'mask',
 * to 'ds'. */
static void
put_u32_masked(struct cf_ds *ds, const char *name, uint32_t value,
               uint32_t mask)
{
    if (mask == UINT32_MAX) {
        cf_ds_put_format(ds, "%s=0x%"PRIx32, name, value);
    } else {
        cf_ds_put_format(ds, "%s=0x%"PRIx32"/0x%"PRIx32, name,
                         value & mask, mask);
    }
}

/* Appends 'match' in ovs-ofctl syntax ("ip,nw_src=10.0.0.1,tp_dst=80"),
 * nothing for an empty match.  A match on IP fields without an explicit
 * dl_type gets "ip" (the compiler always sets it; this keeps the text
 * loadable regardless). */
void
cflow_format_match(const struct cflow_match *m, struct cf_ds *ds)
{
    uint32_t f = m->fields;
    bool first = true;

    if (f & CFLOW_F_CONJ_ID) {
        put_sep(ds, &first);
        cf_ds_put_format(ds, "conj_id=%"PRIu32, m->conj_id);
    }
    if (f & CFLOW_F_IN_PORT) {
        put_sep(ds, &first);
        if (m->in_port == CFLOW_PORT_LOCAL) {
            cf_ds_put_cstr(ds, "in_port=LOCAL");
        } else {
            cf_ds_put_format(ds, "in_port=%"PRIu32, m->in_port);
        }
    }
    if (f & CFLOW_F_DL_SRC) {
        put_sep(ds, &first);
        cf_ds_put_cstr(ds, "dl_src=");
        put_mac(ds, m->dl_src);
    }

    bool ip_fields = (f & (CFLOW_F_NW_PROTO | CFLOW_F_NW_SRC | CFLOW_F_NW_DST
                           | CFLOW_F_TP_DST)) != 0;
    uint16_t dl_type = (f & CFLOW_F_DL_TYPE ? m->dl_type
                        : ip_fields ? 0x0800 : 0);
    bool proto_named = false;
    if (dl_type) {
        put_sep(ds, &first);
        if (dl_type == 0x0800 && (f & CFLOW_F_NW_PROTO)
            && (m->nw_proto == 6 || m->nw_proto == 17
                || m->nw_proto == 132)) {
            cf_ds_put_cstr(ds, (m->nw_proto == 6 ? "tcp"
                                : m->nw_proto == 17 ? "udp" : "sctp"));
            proto_named = true;
        } else if (dl_type == 0x0800) {
            cf_ds_put_cstr(ds, "ip");
        } else if (dl_type == 0x0806) {
            cf_ds_put_cstr(ds, "arp");
        } else if (dl_type == 0x86dd) {
            cf_ds_put_cstr(ds, "ipv6");
        } else {
            cf_ds_put_format(ds, "dl_type=0x%04"PRIx16, dl_type);
        }
    }
    if ((f & CFLOW_F_NW_PROTO) && !proto_named) {
        put_sep(ds, &first);
        cf_ds_put_format(ds, "nw_proto=%u", m->nw_proto);
    }
    if (f & CFLOW_F_NW_SRC) {
        put_sep(ds, &first);
        cf_ds_put_cstr(ds, "nw_src=");
        put_ip_masked(ds, m->nw_src, m->nw_src_mask);
    }
    if (f & CFLOW_F_NW_DST) {
        put_sep(ds, &first);
        cf_ds_put_cstr(ds, "nw_dst=");
        put_ip_masked(ds, m->nw_dst, m->nw_dst_mask);
    }
    if (f & CFLOW_F_TP_DST) {
        put_sep(ds, &first);
        if (m->tp_dst_mask == 0xffff) {
            cf_ds_put_format(ds, "tp_dst=%u", m->tp_dst);
        } else {
            cf_ds_put_format(ds, "tp_dst=0x%x/0x%x",
                             (unsigned) (m->tp_dst & m->tp_dst_mask),
                             (unsigned) m->tp_dst_mask);
        }
    }
    if (f & CFLOW_F_ARP_SPA) {
        put_sep(ds, &first);
        cf_ds_put_cstr(ds, "arp_spa=");
        put_ip(ds, m->arp_spa);
    }
    if (f & CFLOW_F_ARP_SHA) {
        put_sep(ds, &first);
        cf_ds_put_cstr(ds, "arp_sha=");
        put_mac(ds, m->arp_sha);
    }
    if (f & CFLOW_F_REG0) {
        put_sep(ds, &first);
        put_u32_masked(ds, "reg0", m->reg0, m->reg0_mask);
    }
    if (f & CFLOW_F_REG1) {
        put_sep(ds, &first);
        cf_ds_put_format(ds, "reg1=0x%"PRIx32, m->reg1);
    }
    if (f & CFLOW_F_REG2) {
        put_sep(ds, &first);
        cf_ds_put_format(ds, "reg2=0x%"PRIx32, m->reg2);
    }
    if (f & CFLOW_F_CT_STATE) {
        static const struct {
            uint8_t bit;
            const char *name;
        } bits[] = {
            { CFLOW_CS_NEW, "new" }, { CFLOW_CS_EST, "est" },
            { CFLOW_CS_REL, "rel" }, { CFLOW_CS_RPL, "rpl" },
            { CFLOW_CS_INV, "inv" }, { CFLOW_CS_TRK, "trk" },
        };
        put_sep(ds, &first);
        cf_ds_put_cstr(ds, "ct_state=");
        for (size_t i = 0; i < CF_ARRAY_SIZE(bits); i++) {
            if (m->ct_state_mask & bits[i].bit) {
                cf_ds_put_char(ds, m->ct_state & bits[i].bit ? '+' : '-');
                cf_ds_put_cstr(ds, bits[i].name);
            }
        }
    }
    if (f & CFLOW_F_CT_MARK) {
        put_sep(ds, &first);
        put_u32_masked(ds, "ct_mark", m->ct_mark, m->ct_mark_mask);
    }
}

/* Appends 'flow''s actions in ovs-ofctl syntax ("goto_table:5",
 * "conjunction(42,1/3),conjunction(43,1/2)"), "drop" if there are none.
 * Learned SCTP flows carry cflow_learned_cookie() (replies) or
 * cflow_learned_deny_cookie() (denied replies) of 'flow''s cookie. */
void
cflow_format_actions(const struct cflow *flow, struct cf_ds *ds)
{
    if (!flow->n_actions) {
        cf_ds_put_cstr(ds, "drop");
        return;
    }
    for (size_t i = 0; i < flow->n_actions; i++) {
        const struct cflow_action *a = &flow->actions[i];
        if (i) {
            cf_ds_put_char(ds, ',');
        }
        switch (a->type) {
        case CFLOW_A_CONJUNCTION:
            cf_ds_put_format(ds, "conjunction(%"PRIu32",%u/%u)", a->id,
                             a->clause, a->n_clauses);
            break;
        case CFLOW_A_GOTO:
            cf_ds_put_format(ds, "goto_table:%u", a->table);
            break;
        case CFLOW_A_CT:
            cf_ds_put_format(ds, "ct(table=%u,zone=%u)", a->table, a->zone);
            break;
        case CFLOW_A_CT_COMMIT:
            cf_ds_put_format(ds, "ct(commit,zone=%u", a->zone);
            if (a->mask) {
                cf_ds_put_format(ds, ",exec(set_field:0x%"PRIx32"/0x%"PRIx32
                                 "->ct_mark)", a->value & a->mask, a->mask);
            }
            cf_ds_put_char(ds, ')');
            break;
        case CFLOW_A_LOAD_REG:
            if (a->mask == UINT32_MAX) {
                cf_ds_put_format(ds, "set_field:0x%"PRIx32"->reg%u",
                                 a->value, a->reg);
            } else {
                cf_ds_put_format(ds, "set_field:0x%"PRIx32"/0x%"PRIx32
                                 "->reg%u", a->value & a->mask, a->mask,
                                 a->reg);
            }
            break;
        case CFLOW_A_NORMAL:
            cf_ds_put_cstr(ds, "NORMAL");
            break;
        case CFLOW_A_IN_PORT:
            cf_ds_put_cstr(ds, "in_port");
            break;
        case CFLOW_A_RESUBMIT:
            cf_ds_put_format(ds, "resubmit(,%u)", a->table);
            break;
        case CFLOW_A_LEARN_SCTP_REPLY:
        case CFLOW_A_LEARN_SCTP_DENY: {
            bool deny = a->type == CFLOW_A_LEARN_SCTP_DENY;
            cf_ds_put_format(ds, "learn(table=%u,idle_timeout=%"PRIu32
                             ",priority=100,cookie=0x%"PRIx64
                             ",eth_type=0x800,nw_proto=132"
                             ",NXM_OF_IP_SRC[]=NXM_OF_IP_DST[]"
                             ",NXM_OF_IP_DST[]=NXM_OF_IP_SRC[]"
                             ",OXM_OF_SCTP_SRC[]=OXM_OF_SCTP_DST[]"
                             ",OXM_OF_SCTP_DST[]=OXM_OF_SCTP_SRC[]"
                             ",load:0x1->NXM_NX_REG0[%d])",
                             a->table, a->value,
                             (deny ? cflow_learned_deny_cookie(flow->cookie)
                              : cflow_learned_cookie(flow->cookie)),
                             deny ? 6 : 1);
            break;
        }
        case CFLOW_A_DROP:
            cf_ds_put_cstr(ds, "drop");
            break;
        case CFLOW_A_CONTROLLER:
            cf_ds_put_format(ds, "controller(userdata=cf.00.00.%02"PRIx32
                             ",meter_id=%"PRIu32")", a->value & 0xff,
                             a->id);
            break;
        }
    }
}

/* Appends 'flow' as one line of "ovs-ofctl add-flows" input (no newline):
 * "table=5, priority=1000, cookie=0xcf..., ip,nw_dst=10.0.0.5
 * actions=conjunction(42,1/3)". */
void
cflow_format(const struct cflow *flow, struct cf_ds *ds)
{
    cf_ds_put_format(ds, "table=%u, priority=%u, cookie=0x%016"PRIx64,
                     flow->table, flow->priority, flow->cookie);
    size_t len = ds->len;
    cf_ds_put_cstr(ds, ", ");
    size_t before = ds->len;
    cflow_format_match(&flow->match, ds);
    if (ds->len == before) {
        ds->len = len;
        ds->s[len] = '\0';
    }
    cf_ds_put_cstr(ds, " actions=");
    cflow_format_actions(flow, ds);
}
