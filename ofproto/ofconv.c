/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Conversion of conjflow's flows (struct cflow) into libopenvswitch's
 * representation (struct cf_ofl), and flow tables indexed by OpenFlow
 * identity, for conjflowd's diff between desired and installed flows.
 *
 * A cflow becomes a struct match (match_set_*, with the prerequisites and
 * packet type that OXM decoding would add) and ofpacts.  The actions are
 * encoded as OpenFlow 1.5 instructions and decoded again, which validates
 * them the way the switch will; flows are compared by their match and by
 * those instruction bytes, so a flow built here and the same flow read back
 * from the switch compare equal (tests/check-ofconv.c checks it for every
 * flow the compiler emits).
 */
#include <config.h>

#include "ofproto/ofconv.h"

#include <stdlib.h>
#include <string.h>

#include "byte-order.h"
#include "conjflow/cflow.h"
#include "flow.h"
#include "hash.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/match.h"
#include "openvswitch/meta-flow.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cf_ofconv);

static uint32_t ofl_compute_key_hash(const struct cf_ofl *);

/* Sets 'match' from conjflow's 'm', adding the prerequisites OpenFlow
 * wants (an IP field implies dl_type=ip, an ARP field dl_type=arp). */
static void
cflow_match_to_match(const struct cflow_match *m, struct match *match)
{
    match_init_catchall(match);
    if (m->fields & CFLOW_F_IN_PORT) {
        match_set_in_port(match, u16_to_ofp(m->in_port));
    }
    if (m->fields & CFLOW_F_DL_SRC) {
        struct eth_addr ea;
        memcpy(ea.ea, m->dl_src, ETH_ADDR_LEN);
        match_set_dl_src(match, ea);
    }
    if (m->fields & CFLOW_F_DL_TYPE) {
        match_set_dl_type(match, htons(m->dl_type));
    } else if (m->fields & (CFLOW_F_NW_PROTO | CFLOW_F_NW_SRC
                            | CFLOW_F_NW_DST | CFLOW_F_TP_DST)) {
        match_set_dl_type(match, htons(ETH_TYPE_IP));
    } else if (m->fields & (CFLOW_F_ARP_SPA | CFLOW_F_ARP_SHA)) {
        match_set_dl_type(match, htons(ETH_TYPE_ARP));
    }
    if (m->fields & CFLOW_F_NW_PROTO) {
        match_set_nw_proto(match, m->nw_proto);
    }
    if (m->fields & CFLOW_F_NW_SRC) {
        match_set_nw_src_masked(match, htonl(m->nw_src),
                                htonl(m->nw_src_mask));
    }
    if (m->fields & CFLOW_F_NW_DST) {
        match_set_nw_dst_masked(match, htonl(m->nw_dst),
                                htonl(m->nw_dst_mask));
    }
    if (m->fields & CFLOW_F_TP_DST) {
        match_set_tp_dst_masked(match, htons(m->tp_dst),
                                htons(m->tp_dst_mask));
    }
    if (m->fields & CFLOW_F_ARP_SPA) {
        match_set_nw_src(match, htonl(m->arp_spa));
    }
    if (m->fields & CFLOW_F_ARP_SHA) {
        struct eth_addr ea;
        memcpy(ea.ea, m->arp_sha, ETH_ADDR_LEN);
        match_set_arp_sha(match, ea);
    }
    if (m->fields & CFLOW_F_REG0) {
        match_set_reg_masked(match, 0, m->reg0, m->reg0_mask);
    }
    if (m->fields & CFLOW_F_REG1) {
        match_set_reg(match, 1, m->reg1);
    }
    if (m->fields & CFLOW_F_REG2) {
        match_set_reg(match, 2, m->reg2);
    }
    if (m->fields & CFLOW_F_CT_STATE) {
        match_set_ct_state_masked(match, m->ct_state, m->ct_state_mask);
    }
    if (m->fields & CFLOW_F_CT_MARK) {
        match_set_ct_mark_masked(match, m->ct_mark, m->ct_mark_mask);
    }
    if (m->fields & CFLOW_F_CONJ_ID) {
        match_set_conj_id(match, m->conj_id);
    }
    /* As OXM decoding does: a match on Ethernet fields is for Ethernet
     * packets. */
    match_set_default_packet_type(match);
}

/* Appends the learn() action of cflow.h's CFLOW_A_LEARN_SCTP_REPLY (or
 * CFLOW_A_LEARN_SCTP_DENY) to 'ofpacts': the learned flow matches the
 * reverse SCTP 4-tuple of the packet and sets reg0 bit 1 (bit 6).  Returns
 * NULL or a malloc'd error. */
static char *
put_learn_sctp_reply(const struct cflow *flow, const struct cflow_action *a,
                     struct ofpbuf *ofpacts)
{
    char *s = xasprintf("learn(table=%u,idle_timeout=%"PRIu32","
                        "priority=100,cookie=%#"PRIx64","
                        "eth_type=0x800,nw_proto=132,"
                        "NXM_OF_IP_SRC[]=NXM_OF_IP_DST[],"
                        "NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],"
                        "OXM_OF_SCTP_SRC[]=OXM_OF_SCTP_DST[],"
                        "OXM_OF_SCTP_DST[]=OXM_OF_SCTP_SRC[],"
                        "load:1->NXM_NX_REG0[%d])",
                        a->table, a->value,
                        (a->type == CFLOW_A_LEARN_SCTP_DENY
                         ? cflow_learned_deny_cookie(flow->cookie)
                         : cflow_learned_cookie(flow->cookie)),
                        a->type == CFLOW_A_LEARN_SCTP_DENY ? 6 : 1);
    uint64_t stub[1024 / 8];
    struct ofpbuf learn = OFPBUF_STUB_INITIALIZER(stub);
    enum ofputil_protocol usable_protocols;
    struct ofpact_parse_params pp = {
        .ofpacts = &learn,
        .usable_protocols = &usable_protocols,
    };
    char *error = ofpacts_parse_actions(s, &pp);
    if (!error) {
        ofpbuf_put(ofpacts, learn.data, learn.size);
    }
    ofpbuf_uninit(&learn);
    free(s);
    return error;
}

/* Appends the actions of 'flow' to 'ofpacts'.  Returns NULL or a malloc'd
 * error. */
static char *
cflow_actions_to_ofpacts(const struct cflow *flow, struct ofpbuf *ofpacts)
{
    for (size_t i = 0; i < flow->n_actions; i++) {
        const struct cflow_action *a = &flow->actions[i];
        switch (a->type) {
        case CFLOW_A_CONJUNCTION: {
            struct ofpact_conjunction *c = ofpact_put_CONJUNCTION(ofpacts);
            if (a->clause < 1 || a->clause > a->n_clauses) {
                return xasprintf("conjunction(%"PRIu32",%u/%u): bad clause",
                                 a->id, a->clause, a->n_clauses);
            }
            c->id = a->id;
            c->clause = a->clause - 1;
            c->n_clauses = a->n_clauses;
            break;
        }
        case CFLOW_A_GOTO:
            ofpact_put_GOTO_TABLE(ofpacts)->table_id = a->table;
            break;
        case CFLOW_A_CT:
        case CFLOW_A_CT_COMMIT: {
            struct ofpact_conntrack *ct = ofpact_put_CT(ofpacts);
            ct->zone_imm = a->zone;
            ct->zone_src.field = NULL;
            if (a->type == CFLOW_A_CT) {
                ct->flags = 0;
                ct->recirc_table = a->table;
            } else {
                ct->flags = NX_CT_F_COMMIT;
                ct->recirc_table = NX_CT_RECIRC_NONE;
            }
            ct->alg = 0;
            if (a->type == CFLOW_A_CT_COMMIT && a->mask) {
                /* exec(set_field:value/mask->ct_mark), nested in ct():
                 * the set_field follows the ct action in 'ofpacts', which
                 * it may move, and ofpact_finish_CT() covers both. */
                size_t ct_ofs = (char *) ct - (char *) ofpacts->data;
                union mf_value value, mask;
                memset(&value, 0, sizeof value);
                memset(&mask, 0, sizeof mask);
                value.be32 = htonl(a->value & a->mask);
                mask.be32 = htonl(a->mask);
                ofpact_put_set_field(ofpacts, mf_from_id(MFF_CT_MARK),
                                     &value, &mask);
                ct = ofpbuf_at_assert(ofpacts, ct_ofs, sizeof *ct);
                ofpacts->header = ct;
            }
            ofpact_finish_CT(ofpacts, &ct);
            break;
        }
        case CFLOW_A_LOAD_REG: {
            if (a->reg >= FLOW_N_REGS) {
                return xasprintf("load to reg%u: no such register", a->reg);
            }
            union mf_value value, mask;
            memset(&value, 0, sizeof value);
            memset(&mask, 0, sizeof mask);
            value.be32 = htonl(a->value);
            mask.be32 = htonl(a->mask);
            ofpact_put_set_field(ofpacts, mf_from_id(MFF_REG0 + a->reg),
                                 &value, &mask);
            break;
        }
        case CFLOW_A_NORMAL: {
            struct ofpact_output *out = ofpact_put_OUTPUT(ofpacts);
            out->port = OFPP_NORMAL;
            out->max_len = 0;
            break;
        }
        case CFLOW_A_IN_PORT: {
            struct ofpact_output *out = ofpact_put_OUTPUT(ofpacts);
            out->port = OFPP_IN_PORT;
            out->max_len = 0;
            break;
        }
        case CFLOW_A_RESUBMIT: {
            struct ofpact_resubmit *r = ofpact_put_RESUBMIT(ofpacts);
            r->in_port = OFPP_IN_PORT;
            r->table_id = a->table;
            break;
        }
        case CFLOW_A_LEARN_SCTP_REPLY:
        case CFLOW_A_LEARN_SCTP_DENY: {
            char *error = put_learn_sctp_reply(flow, a, ofpacts);
            if (error) {
                return error;
            }
            break;
        }
        case CFLOW_A_DROP:
            break;
        case CFLOW_A_CONTROLLER: {
            /* Metered in the datapath: OVS puts the meter and the
             * userspace action in a clone, so forwarding is unaffected. */
            struct ofpact_controller *oc = ofpact_put_CONTROLLER(ofpacts);
            oc->max_len = UINT16_MAX;
            oc->controller_id = 0;
            oc->reason = OFPR_ACTION;
            oc->pause = false;
            oc->meter_id = a->id;
            const uint8_t userdata[4] = { 0xcf, 0, 0, a->value & 0xff };
            ofpbuf_put(ofpacts, userdata, sizeof userdata);
            oc = ofpacts->header;
            oc->userdata_len = sizeof userdata;
            ofpact_finish_CONTROLLER(ofpacts, &oc);
            break;
        }
        default:
            return xasprintf("unknown action type %d", (int) a->type);
        }
    }
    return NULL;
}

/* Fills the fields of 'fm' that every flow_mod conjflowd sends shares. */
static void
flow_mod_init(struct ofputil_flow_mod *fm, uint8_t table_id,
              uint16_t priority, uint16_t command)
{
    memset(fm, 0, sizeof *fm);
    fm->priority = priority;
    fm->table_id = table_id;
    fm->command = command;
    fm->buffer_id = UINT32_MAX;
    fm->out_port = OFPP_ANY;
    fm->out_group = OFPG_ANY;
    fm->new_cookie = OVS_BE64_MAX;
}

/* Sets 'ofl->wire' from 'ofl->ofpacts'. */
static void
ofl_set_wire(struct cf_ofl *ofl)
{
    struct ofpbuf b;
    ofpbuf_init(&b, 64);
    ofpacts_put_openflow_instructions(ofl->ofpacts, ofl->ofpacts_len, &b,
                                      CF_OFP_VERSION);
    ofl->wire_len = b.size;
    ofl->wire = ofpbuf_steal_data(&b);
}

char *
cf_ofl_from_cflow(const struct cflow *flow, struct cf_ofl **oflp)
{
    *oflp = NULL;

    struct match match;
    cflow_match_to_match(&flow->match, &match);

    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    char *error = cflow_actions_to_ofpacts(flow, &ofpacts);
    if (error) {
        goto out;
    }

    /* The actions as the switch receives them (OpenFlow 1.5 instructions),
     * decoded again: this validates them the way the switch will (e.g. a
     * conjunction() with another action is rejected), and the decoded
     * form, like 'wire', is what a flow dump gives back.  The match needs
     * no round trip: match_set_*() produce what OXM decoding produces
     * (tests/check-ofconv.c checks this for every compiled flow). */
    struct ofpbuf wire;
    ofpbuf_init(&wire, ofpacts.size + 64);
    ofpacts_put_openflow_instructions(ofpacts.data, ofpacts.size, &wire,
                                      CF_OFP_VERSION);
    size_t wire_len = wire.size;
    struct ofpbuf pull = ofpbuf_const_initializer(wire.data, wire.size);
    uint64_t stub2[1024 / 8];
    struct ofpbuf decoded = OFPBUF_STUB_INITIALIZER(stub2);
    enum ofperr err = ofpacts_pull_openflow_instructions(&pull, wire_len,
                                                         CF_OFP_VERSION,
                                                         NULL, NULL,
                                                         &decoded);
    if (!err) {
        struct ofpact_check_params cp = {
            .match = &match,
            .max_ports = OFPP_MAX,
            .table_id = flow->table,
            .n_tables = 255,
        };
        err = ofpacts_check_consistency(decoded.data, decoded.size,
                                        CF_OFP_PROTOCOL, &cp);
    }
    if (err) {
        error = xasprintf("%s", ofperr_to_string(err));
        ofpbuf_uninit(&decoded);
        ofpbuf_uninit(&wire);
        goto out;
    }

    struct cf_ofl *ofl = xzalloc(sizeof *ofl);
    ofl->table_id = flow->table;
    ofl->priority = flow->priority;
    ofl->cookie = htonll(flow->cookie);
    minimatch_init(&ofl->match, &match);
    ofl->ofpacts = xmemdup(decoded.data, decoded.size);
    ofl->ofpacts_len = decoded.size;
    ofl->wire_len = wire_len;
    ofl->wire = ofpbuf_steal_data(&wire);
    ofl->key_hash = ofl_compute_key_hash(ofl);
    ofpbuf_uninit(&decoded);
    *oflp = ofl;

out:
    ofpbuf_uninit(&ofpacts);
    if (error) {
        char *msg_ = xasprintf("flow table=%u, priority=%u, cookie=%#"PRIx64
                               ": %s", flow->table, flow->priority,
                               flow->cookie, error);
        free(error);
        error = msg_;
    }
    return error;
}

struct cf_ofl *
cf_ofl_from_stats(const struct ofputil_flow_stats *fs)
{
    struct cf_ofl *ofl = xzalloc(sizeof *ofl);
    ofl->table_id = fs->table_id;
    ofl->priority = fs->priority;
    ofl->cookie = fs->cookie;
    minimatch_init(&ofl->match, &fs->match);
    ofl->ofpacts = xmemdup(fs->ofpacts, fs->ofpacts_len);
    ofl->ofpacts_len = fs->ofpacts_len;
    ofl_set_wire(ofl);
    ofl->key_hash = ofl_compute_key_hash(ofl);
    return ofl;
}

struct cf_ofl *
cf_ofl_clone(const struct cf_ofl *ofl)
{
    struct cf_ofl *c = xzalloc(sizeof *c);
    c->table_id = ofl->table_id;
    c->priority = ofl->priority;
    c->cookie = ofl->cookie;
    minimatch_clone(&c->match, &ofl->match);
    c->ofpacts = xmemdup(ofl->ofpacts, ofl->ofpacts_len);
    c->ofpacts_len = ofl->ofpacts_len;
    c->wire = xmemdup(ofl->wire, ofl->wire_len);
    c->wire_len = ofl->wire_len;
    c->key_hash = ofl->key_hash;
    return c;
}

void
cf_ofl_destroy(struct cf_ofl *ofl)
{
    if (ofl) {
        minimatch_destroy(&ofl->match);
        free(ofl->ofpacts);
        free(ofl->wire);
        free(ofl);
    }
}

/* Computes the hash of 'ofl''s identity. */
static uint32_t
ofl_compute_key_hash(const struct cf_ofl *ofl)
{
    return minimatch_hash(&ofl->match,
                          hash_2words(ofl->table_id, ofl->priority));
}

uint32_t
cf_ofl_key_hash(const struct cf_ofl *ofl)
{
    return ofl->key_hash;
}

bool
cf_ofl_key_equal(const struct cf_ofl *a, const struct cf_ofl *b)
{
    return (a->key_hash == b->key_hash
            && a->table_id == b->table_id
            && a->priority == b->priority
            && minimatch_equal(&a->match, &b->match));
}

bool
cf_ofl_equal(const struct cf_ofl *a, const struct cf_ofl *b)
{
    return (cf_ofl_key_equal(a, b)
            && a->cookie == b->cookie
            && a->wire_len == b->wire_len
            && !memcmp(a->wire, b->wire, a->wire_len));
}

void
cf_ofl_format(const struct cf_ofl *ofl, struct ds *s)
{
    ds_put_format(s, "table=%u, priority=%u, cookie=%#"PRIx64", ",
                  ofl->table_id, ofl->priority, ntohll(ofl->cookie));
    size_t len = s->length;
    minimatch_format(&ofl->match, NULL, NULL, s, OFP_DEFAULT_PRIORITY);
    if (s->length == len) {
        ds_put_cstr(s, "<any>");
    }
    ds_put_cstr(s, " actions=");
    if (ofl->ofpacts_len) {
        struct ofpact_format_params fp = { .s = s };
        ofpacts_format(ofl->ofpacts, ofl->ofpacts_len, &fp);
    } else {
        ds_put_cstr(s, "drop");
    }
}

struct ofpbuf *
cf_ofl_encode(const struct cf_ofl *ofl, uint16_t command)
{
    struct ofputil_flow_mod fm;
    flow_mod_init(&fm, ofl->table_id, ofl->priority, command);
    fm.match = ofl->match;      /* Shallow: only read by the encoder. */
    if (command == OFPFC_ADD) {
        fm.new_cookie = ofl->cookie;
        fm.ofpacts = ofl->ofpacts;
        fm.ofpacts_len = ofl->ofpacts_len;
    }
    return ofputil_encode_flow_mod(&fm, CF_OFP_PROTOCOL);
}

/* ---- Tables -------------------------------------------------------------- */

void
cf_ofl_table_init(struct cf_ofl_table *t)
{
    hmap_init(&t->flows);
}

void
cf_ofl_table_clear(struct cf_ofl_table *t)
{
    struct cf_ofl *ofl;
    HMAP_FOR_EACH_POP (ofl, hmap_node, &t->flows) {
        cf_ofl_destroy(ofl);
    }
}

void
cf_ofl_table_destroy(struct cf_ofl_table *t)
{
    if (t) {
        cf_ofl_table_clear(t);
        hmap_destroy(&t->flows);
    }
}

void
cf_ofl_table_swap(struct cf_ofl_table *dst, struct cf_ofl_table *src)
{
    cf_ofl_table_clear(dst);
    hmap_swap(&dst->flows, &src->flows);
}

size_t
cf_ofl_table_count(const struct cf_ofl_table *t)
{
    return hmap_count(&t->flows);
}

struct cf_ofl *
cf_ofl_table_find(const struct cf_ofl_table *t, const struct cf_ofl *key)
{
    struct cf_ofl *ofl;
    HMAP_FOR_EACH_WITH_HASH (ofl, hmap_node, cf_ofl_key_hash(key),
                             &t->flows) {
        if (cf_ofl_key_equal(ofl, key)) {
            return ofl;
        }
    }
    return NULL;
}

void
cf_ofl_table_replace(struct cf_ofl_table *t, struct cf_ofl *ofl)
{
    struct cf_ofl *old = cf_ofl_table_find(t, ofl);
    if (old) {
        hmap_remove(&t->flows, &old->hmap_node);
        cf_ofl_destroy(old);
    }
    hmap_insert(&t->flows, &ofl->hmap_node, cf_ofl_key_hash(ofl));
}

void
cf_ofl_table_delete(struct cf_ofl_table *t, const struct cf_ofl *key)
{
    struct cf_ofl *old = cf_ofl_table_find(t, key);
    if (old) {
        hmap_remove(&t->flows, &old->hmap_node);
        cf_ofl_destroy(old);
    }
}

/* A formatted flow, for sorting. */
struct ofl_line {
    uint8_t table_id;           /* Table. */
    uint16_t priority;          /* Priority. */
    char *text;                 /* Formatted flow (owned). */
};

/* qsort() comparison of struct ofl_line: table, priority descending,
 * text. */
static int
ofl_line_compare(const void *a_, const void *b_)
{
    const struct ofl_line *a = a_;
    const struct ofl_line *b = b_;
    if (a->table_id != b->table_id) {
        return a->table_id < b->table_id ? -1 : 1;
    }
    if (a->priority != b->priority) {
        return a->priority > b->priority ? -1 : 1;
    }
    return strcmp(a->text, b->text);
}

void
cf_ofl_table_format(const struct cf_ofl_table *t, struct ds *s)
{
    size_t n = hmap_count(&t->flows);
    struct ofl_line *lines = xmalloc((n ? n : 1) * sizeof *lines);
    size_t i = 0;
    const struct cf_ofl *ofl;
    HMAP_FOR_EACH (ofl, hmap_node, &t->flows) {
        struct ds text = DS_EMPTY_INITIALIZER;
        cf_ofl_format(ofl, &text);
        lines[i].table_id = ofl->table_id;
        lines[i].priority = ofl->priority;
        lines[i].text = ds_steal_cstr(&text);
        i++;
    }
    qsort(lines, n, sizeof *lines, ofl_line_compare);
    for (i = 0; i < n; i++) {
        ds_put_format(s, "%s\n", lines[i].text);
        free(lines[i].text);
    }
    free(lines);
}
