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
 *
 * A flow keeps only the instruction bytes, interned (struct cf_blob): a
 * flow_mod is the encoded header and match followed by those bytes, and
 * the ofpacts are decoded again only to print a flow.  Its match is
 * interned too.  Interned bytes are equal exactly if their pointers are,
 * so comparing two flows compares pointers, not bytes.
 */
#include <config.h>

#include "ofproto/ofconv.h"

#include <stddef.h>
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
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cf_ofconv);

static uint32_t ofl_compute_key_hash(const struct cf_ofl *);

/* ---- Interned strings --------------------------------------------------- */

const struct cf_blob *
cf_blob_intern(struct cf_blob_pool *pool, const void *data, size_t len)
{
    ovs_assert(len <= UINT32_MAX);
    uint32_t hash = hash_bytes(data, len, 0);
    struct cf_blob *blob;
    HMAP_FOR_EACH_WITH_HASH (blob, hmap_node, hash, &pool->blobs) {
        if (cf_blob_equals(blob, data, len)) {
            blob->n_refs++;
            return blob;
        }
    }
    blob = xmalloc(sizeof *blob + len);
    blob->pool = pool;
    blob->n_refs = 1;
    blob->len = len;
    if (len) {
        memcpy(blob->data, data, len);
    }
    hmap_insert(&pool->blobs, &blob->hmap_node, hash);
    pool->n_bytes += len;
    return blob;
}

const struct cf_blob *
cf_blob_ref(const struct cf_blob *blob_)
{
    struct cf_blob *blob = CONST_CAST(struct cf_blob *, blob_);
    ovs_assert(blob->n_refs > 0);
    blob->n_refs++;
    return blob;
}

void
cf_blob_unref(const struct cf_blob *blob_)
{
    struct cf_blob *blob = CONST_CAST(struct cf_blob *, blob_);
    if (blob) {
        ovs_assert(blob->n_refs > 0);
        if (!--blob->n_refs) {
            hmap_remove(&blob->pool->blobs, &blob->hmap_node);
            blob->pool->n_bytes -= blob->len;
            free(blob);
        }
    }
}

bool
cf_blob_equals(const struct cf_blob *blob, const void *data, size_t len)
{
    return blob->len == len && (!len || !memcmp(blob->data, data, len));
}

size_t
cf_blob_pool_count(const struct cf_blob_pool *pool)
{
    return hmap_count(&pool->blobs);
}

size_t
cf_blob_pool_bytes(const struct cf_blob_pool *pool)
{
    return pool->n_bytes;
}

/* The actions of every struct cf_ofl. */
static struct cf_blob_pool actions_pool
    = CF_BLOB_POOL_INITIALIZER(&actions_pool);

struct cf_blob_pool *
cf_ofl_actions_pool(void)
{
    return &actions_pool;
}

/* The matches of every struct cf_ofl. */
static struct cf_blob_pool matches_pool
    = CF_BLOB_POOL_INITIALIZER(&matches_pool);

struct cf_blob_pool *
cf_ofl_matches_pool(void)
{
    return &matches_pool;
}

/* A match's miniflows are arrays of 64-bit words in a blob's 'data'. */
BUILD_ASSERT_DECL(offsetof(struct cf_blob, data) % 8 == 0);

/* Sets 'ofl->match' to 'match', in bytes shared with every equal match:
 * minimatch_init() puts a match's flow and mask, two miniflows with the
 * same map, in one block, whose bytes are canonical (the map has a bit
 * exactly for each nonzero word of the mask), so equal matches (by
 * minimatch_equal()) have equal blocks.  The block is interned in
 * 'matches_pool' ('ofl->match_blob' is the reference) and 'ofl->match'
 * points into it: read it, never minimatch_destroy() it.  (Tunnel metadata
 * allocations, which only name tunnel fields for printing, are dropped:
 * conjflow matches no tunnel field.) */
static void
ofl_set_match(struct cf_ofl *ofl, const struct match *match)
{
    struct minimatch mm;
    minimatch_init(&mm, match);
    size_t half = (sizeof *mm.flow
                   + MINIFLOW_VALUES_SIZE(miniflow_n_values(mm.flow)));
    ovs_assert((char *) mm.flows[1] == (char *) mm.flows[0] + half);
    const struct cf_blob *blob = cf_blob_intern(&matches_pool, mm.flows[0],
                                                2 * half);
    minimatch_destroy(&mm);
    ofl->match_blob = blob;
    ofl->match.flows[0] = CONST_CAST(struct miniflow *,
                                     ALIGNED_CAST(const struct miniflow *,
                                                  blob->data));
    ofl->match.flows[1] = CONST_CAST(struct miniflow *,
                                     ALIGNED_CAST(const struct miniflow *,
                                                  blob->data + half));
    ofl->match.tun_md = NULL;
}

/* ---- Packed cflow actions ----------------------------------------------- */

/* Appends 'x' to 'b' (host byte order: the encoding stays in memory). */
static void
pack_u32(struct ofpbuf *b, uint32_t x)
{
    ofpbuf_put(b, &x, sizeof x);
}

/* Appends 'x' to 'b'. */
static void
pack_u16(struct ofpbuf *b, uint16_t x)
{
    ofpbuf_put(b, &x, sizeof x);
}

/* Appends 'x' to 'b'. */
static void
pack_u8(struct ofpbuf *b, uint8_t x)
{
    ofpbuf_put(b, &x, 1);
}

bool
cf_cflow_pack_actions(const struct cflow *flow, struct ofpbuf *b)
{
    /* Each action is its type (one byte) and then a fixed number of bytes
     * for that type: the members that controller/cflow.c's action_equal()
     * compares, in the same form (CT_COMMIT's value under its mask).  So
     * the encoding decodes uniquely, and equal encodings mean equal
     * actions and vice versa. */
    for (size_t i = 0; i < flow->n_actions; i++) {
        const struct cflow_action *a = &flow->actions[i];
        if ((unsigned int) a->type > UINT8_MAX) {
            return false;
        }
        pack_u8(b, a->type);
        switch (a->type) {
        case CFLOW_A_CONJUNCTION:
            pack_u32(b, a->id);
            pack_u8(b, a->clause);
            pack_u8(b, a->n_clauses);
            break;
        case CFLOW_A_GOTO:
        case CFLOW_A_RESUBMIT:
            pack_u8(b, a->table);
            break;
        case CFLOW_A_CT:
            pack_u8(b, a->table);
            pack_u16(b, a->zone);
            break;
        case CFLOW_A_CT_COMMIT:
            pack_u16(b, a->zone);
            pack_u32(b, a->mask);
            pack_u32(b, a->value & a->mask);
            break;
        case CFLOW_A_LOAD_REG:
            pack_u8(b, a->reg);
            pack_u32(b, a->value);
            pack_u32(b, a->mask);
            break;
        case CFLOW_A_LEARN_SCTP_REPLY:
        case CFLOW_A_LEARN_SCTP_DENY:
            pack_u8(b, a->table);
            pack_u32(b, a->value);
            break;
        case CFLOW_A_CONTROLLER:
            pack_u32(b, a->id);
            pack_u32(b, a->value);
            break;
        case CFLOW_A_NORMAL:
        case CFLOW_A_DROP:
        case CFLOW_A_IN_PORT:
            break;
        default:
            return false;
        }
    }
    return true;
}

/* ---- Flows -------------------------------------------------------------- */

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
     * conjunction() with another action is rejected).  'wire' is what
     * the flow keeps: the flow_mod carries it and a flow dump gives it
     * back.  The match needs no round trip: match_set_*() produce what OXM
     * decoding produces (tests/check-ofconv.c checks both for every
     * compiled flow). */
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
    ofl_set_match(ofl, &match);
    ofl->actions = cf_blob_intern(&actions_pool, wire.data, wire_len);
    ofl->key_hash = ofl_compute_key_hash(ofl);
    ofpbuf_uninit(&decoded);
    ofpbuf_uninit(&wire);
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
    ofl_set_match(ofl, &fs->match);

    uint64_t stub[1024 / 8];
    struct ofpbuf wire = OFPBUF_STUB_INITIALIZER(stub);
    ofpacts_put_openflow_instructions(fs->ofpacts, fs->ofpacts_len, &wire,
                                      CF_OFP_VERSION);
    ofl->actions = cf_blob_intern(&actions_pool, wire.data, wire.size);
    ofpbuf_uninit(&wire);
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
    c->match = ofl->match;      /* Points into 'match_blob'. */
    c->match_blob = cf_blob_ref(ofl->match_blob);
    c->actions = cf_blob_ref(ofl->actions);
    c->key_hash = ofl->key_hash;
    return c;
}

void
cf_ofl_destroy(struct cf_ofl *ofl)
{
    if (ofl) {
        cf_blob_unref(ofl->match_blob);
        cf_blob_unref(ofl->actions);
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
            /* Interned: equal matches are one blob. */
            && a->match_blob == b->match_blob);
}

bool
cf_ofl_equal(const struct cf_ofl *a, const struct cf_ofl *b)
{
    return (cf_ofl_key_equal(a, b)
            && a->cookie == b->cookie
            /* Interned: equal bytes are one blob. */
            && a->actions == b->actions);
}

enum ofperr
cf_ofl_get_ofpacts(const struct cf_ofl *ofl, struct ofpbuf *ofpacts)
{
    struct ofpbuf b = ofpbuf_const_initializer(ofl->actions->data,
                                               ofl->actions->len);
    return ofpacts_pull_openflow_instructions(&b, b.size, CF_OFP_VERSION,
                                              NULL, NULL, ofpacts);
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
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    enum ofperr err = cf_ofl_get_ofpacts(ofl, &ofpacts);
    if (err) {
        ds_put_format(s, "<bad actions: %s>", ofperr_to_string(err));
    } else if (ofpacts.size) {
        struct ofpact_format_params fp = { .s = s };
        ofpacts_format(ofpacts.data, ofpacts.size, &fp);
    } else {
        ds_put_cstr(s, "drop");
    }
    ofpbuf_uninit(&ofpacts);
}

struct ofpbuf *
cf_ofl_encode(const struct cf_ofl *ofl, uint16_t command)
{
    struct ofputil_flow_mod fm;
    flow_mod_init(&fm, ofl->table_id, ofl->priority, command);
    fm.match = ofl->match;      /* Shallow: only read by the encoder. */
    if (command == OFPFC_ADD) {
        fm.new_cookie = ofl->cookie;
    }
    /* Encoded without actions, the message ends with the match, where the
     * encoder would have put the instructions: append them as they are
     * ('actions' is what the encoder makes of the decoded ofpacts;
     * tests/check-ofmem.c compares with the encoder's own output). */
    struct ofpbuf *msg = ofputil_encode_flow_mod(&fm, CF_OFP_PROTOCOL);
    if (command == OFPFC_ADD) {
        ofpbuf_put(msg, ofl->actions->data, ofl->actions->len);
        ofpmsg_update_length(msg);
    }
    return msg;
}

/* ---- Tables ------------------------------------------------------------- */

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
