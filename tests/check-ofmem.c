/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of how conjflowd's OpenFlow side saves memory per flow
 * (ofproto/ofconv.c, ofproto/switch.c "Memory"): interned, reference
 * counted strings (struct cf_blob); flows that share their actions and
 * matches (a conversion, a clone, a flow read back from a dump: see also
 * tests/check-ofconv.c); flow_mods built from
 * the kept instruction bytes, identical to what libopenvswitch's encoder
 * makes of the decoded actions; the packed actions of the desired flow
 * cache, equal exactly when cflow_equal() says so; and a switch's desired
 * flows set and updated through the cache, with every reference given back
 * when the switches go.  No switch is connected (the system tests run real
 * OVS).
 */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-builder.h"
#include "conjflow/cflow.h"
#include "conjflow/compiler.h"
#include "conjflow/model.h"
#include "ofproto/ofconv.h"
#include "ofproto/switch.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "simap.h"
#include "util.h"

/* The value of 'name' in cf_switch_get_memory_usage(). */
static unsigned int
usage_of(const char *name)
{
    struct simap usage = SIMAP_INITIALIZER(&usage);
    cf_switch_get_memory_usage(&usage);
    unsigned int value = simap_get(&usage, name);
    simap_destroy(&usage);
    return value;
}

START_TEST(test_blob_pool)
{
    struct cf_blob_pool pool = CF_BLOB_POOL_INITIALIZER(&pool);
    const struct cf_blob *a = cf_blob_intern(&pool, "abc", 3);
    const struct cf_blob *b = cf_blob_intern(&pool, "abc", 3);
    const struct cf_blob *c = cf_blob_intern(&pool, "abd", 3);
    const struct cf_blob *d = cf_blob_intern(&pool, "ab", 2);
    const struct cf_blob *e = cf_blob_intern(&pool, "", 0);
    ck_assert_ptr_eq(a, b);                 /* Same bytes: one string. */
    ck_assert_ptr_ne(a, c);
    ck_assert_ptr_ne(a, d);                 /* A prefix is another. */
    ck_assert_uint_eq(a->n_refs, 2);
    ck_assert_uint_eq(cf_blob_pool_count(&pool), 4);
    ck_assert_uint_eq(cf_blob_pool_bytes(&pool), 3 + 3 + 2 + 0);
    ck_assert(cf_blob_equals(a, "abc", 3));
    ck_assert(!cf_blob_equals(a, "abd", 3));
    ck_assert(!cf_blob_equals(a, "ab", 2));
    ck_assert(cf_blob_equals(e, "", 0));

    ck_assert_ptr_eq(cf_blob_ref(c), c);
    ck_assert_uint_eq(c->n_refs, 2);
    cf_blob_unref(c);
    cf_blob_unref(c);                       /* The last: freed. */
    ck_assert_uint_eq(cf_blob_pool_count(&pool), 3);
    ck_assert_uint_eq(cf_blob_pool_bytes(&pool), 3 + 2);
    cf_blob_unref(a);
    ck_assert_uint_eq(cf_blob_pool_count(&pool), 3);   /* 'b' holds it. */
    ck_assert(cf_blob_equals(b, "abc", 3));
    /* Interned again after being freed: a new string, equal bytes. */
    const struct cf_blob *c2 = cf_blob_intern(&pool, "abd", 3);
    ck_assert(cf_blob_equals(c2, "abd", 3));
    ck_assert_uint_eq(c2->n_refs, 1);
    cf_blob_unref(b);
    cf_blob_unref(c2);
    cf_blob_unref(d);
    cf_blob_unref(e);
    cf_blob_unref(NULL);
    ck_assert_uint_eq(cf_blob_pool_count(&pool), 0);
    ck_assert_uint_eq(cf_blob_pool_bytes(&pool), 0);
    hmap_destroy(&pool.blobs);
}
END_TEST

/* Builds a cluster whose clause flows carry many conjunction() actions:
 * 'n_pols' policies in namespace "x" select app=web pods and allow, in 3
 * rules each, the pods of namespace "mon" (every policy), of "y" and of
 * the policy's own namespace, on a few ports.  Two nodes, pods on both. */
static void
build_cluster(struct cf_cluster *cl, int n_pols)
{
    cf_cluster_init(cl);
    tb_node(cl, "n1", 1, "192.168.0.1");
    tb_node(cl, "n2", 2, "192.168.0.2");
    tb_ns(cl, "x", "team=x");
    tb_ns(cl, "y", "team=y");
    tb_ns(cl, "mon", "team=mon");
    for (int i = 0; i < 8; i++) {
        char name[32], ip[32];
        const char *ns = i % 3 == 0 ? "x" : i % 3 == 1 ? "y" : "mon";
        snprintf(name, sizeof name, "p%d", i);
        snprintf(ip, sizeof ip, "10.1.0.%d", i + 1);
        tb_pod(cl, ns, name, i % 2 ? "n2" : "n1", ip,
               i % 3 == 0 ? "app=web" : "app=client", "http:80/TCP");
    }
    for (int i = 0; i < n_pols; i++) {
        char name[32];
        snprintf(name, sizeof name, "pol%d", i);
        struct cf_policy *p = tb_policy(cl, "x", name, "app=web", true,
                                        false);
        struct cf_rule *r = tb_rule(p, false);
        tb_peer_sel(r, "team=mon", NULL);
        tb_port_number(r, CF_PROTO_TCP, 1000 + i, 1000 + i);
        r = tb_rule(p, false);
        tb_peer_sel(r, "team=y", "app=client");
        tb_port_number(r, CF_PROTO_TCP, 2000 + i, 2000 + i);
        r = tb_rule(p, false);
        tb_peer_sel(r, NULL, "");
        tb_port_name(r, CF_PROTO_TCP, "http");
        tb_port_number(r, CF_PROTO_UDP, 53, 53);
    }
    cf_cluster_sort(cl);
    cf_cluster_assign_ids(cl);
}

/* Compiles node 'i' of 'cl' into 'flows' (initialized here). */
static void
compile_node(struct cf_cluster *cl, size_t i, struct cflow_set *flows)
{
    struct cf_compiler *compiler = cf_compiler_create(cl);
    struct cf_node_ports ports;
    cf_node_ports_init(&ports);
    tb_node_ports(cl, cl->nodes[i], &ports);
    cflow_set_init(flows);
    char *error = cf_compiler_node_flows(compiler, cl->nodes[i], &ports,
                                         flows);
    ck_assert_msg(!error, "%s", error);
    ck_assert_uint_gt(flows->n, 10);
    cf_node_ports_destroy(&ports);
    cf_compiler_destroy(compiler);
}

/* Converts 'f', which must convert. */
static struct cf_ofl *
convert(const struct cflow *f)
{
    struct cf_ofl *ofl;
    char *error = cf_ofl_from_cflow(f, &ofl);
    ck_assert_msg(!error, "%s", error);
    return ofl;
}

/* The number of conjunction() actions of 'f'. */
static size_t
n_conjunctions(const struct cflow *f)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_actions; i++) {
        n += f->actions[i].type == CFLOW_A_CONJUNCTION;
    }
    return n;
}

/* Asserts that 'msg' and 'ref' are the same OpenFlow message apart from
 * their xids, and frees both. */
static void
assert_same_msg(struct ofpbuf *msg, struct ofpbuf *ref, const char *what)
{
    ck_assert_uint_eq(msg->size, ref->size);
    ((struct ofp_header *) msg->data)->xid = 0;
    ((struct ofp_header *) ref->data)->xid = 0;
    ck_assert_msg(!memcmp(msg->data, ref->data, msg->size),
                  "flow_mod differs from the encoder's: %s", what);
    ofpbuf_delete(msg);
    ofpbuf_delete(ref);
}

START_TEST(test_encode_matches_encoder)
{
    struct cf_cluster cl;
    build_cluster(&cl, 40);
    size_t max_conj = 0;
    for (size_t i = 0; i < cl.n_nodes; i++) {
        struct cflow_set flows;
        compile_node(&cl, i, &flows);
        for (size_t j = 0; j < flows.n; j++) {
            max_conj = MAX(max_conj, n_conjunctions(&flows.flows[j]));
            struct cf_ofl *ofl = convert(&flows.flows[j]);
            struct ds s = DS_EMPTY_INITIALIZER;
            cf_ofl_format(ofl, &s);

            /* What cf_ofl_encode() sent before it kept only the
             * instruction bytes: libopenvswitch's encoding of the decoded
             * actions. */
            struct ofpbuf ofpacts;
            ofpbuf_init(&ofpacts, 64);
            ck_assert_int_eq(cf_ofl_get_ofpacts(ofl, &ofpacts), 0);
            struct ofputil_flow_mod fm;
            memset(&fm, 0, sizeof fm);
            fm.match = ofl->match;
            fm.priority = ofl->priority;
            fm.table_id = ofl->table_id;
            fm.command = OFPFC_ADD;
            fm.buffer_id = UINT32_MAX;
            fm.out_port = OFPP_ANY;
            fm.out_group = OFPG_ANY;
            fm.new_cookie = ofl->cookie;
            fm.ofpacts = ofpacts.data;
            fm.ofpacts_len = ofpacts.size;
            assert_same_msg(cf_ofl_encode(ofl, OFPFC_ADD),
                            ofputil_encode_flow_mod(&fm, CF_OFP_PROTOCOL),
                            ds_cstr(&s));
            fm.command = OFPFC_DELETE_STRICT;
            fm.new_cookie = OVS_BE64_MAX;
            fm.ofpacts = NULL;
            fm.ofpacts_len = 0;
            assert_same_msg(cf_ofl_encode(ofl, OFPFC_DELETE_STRICT),
                            ofputil_encode_flow_mod(&fm, CF_OFP_PROTOCOL),
                            ds_cstr(&s));
            ofpbuf_uninit(&ofpacts);
            ds_destroy(&s);
            cf_ofl_destroy(ofl);
        }
        cflow_set_destroy(&flows);
    }
    /* The workload did give flows with many actions. */
    ck_assert_uint_ge(max_conj, 40);
    ck_assert_uint_eq(cf_blob_pool_count(cf_ofl_actions_pool()), 0);
    ck_assert_uint_eq(cf_blob_pool_count(cf_ofl_matches_pool()), 0);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_ofl_sharing)
{
    struct cf_cluster cl;
    build_cluster(&cl, 30);
    struct cflow_set flows;
    compile_node(&cl, 0, &flows);
    struct cf_blob_pool *pool = cf_ofl_actions_pool();
    ck_assert_uint_eq(cf_blob_pool_count(pool), 0);

    struct cf_ofl_table t1, t2;
    cf_ofl_table_init(&t1);
    cf_ofl_table_init(&t2);
    size_t n_conj_flows = 0;
    for (size_t j = 0; j < flows.n; j++) {
        struct cf_ofl *ofl = convert(&flows.flows[j]);
        n_conj_flows += n_conjunctions(&flows.flows[j]) >= 30;
        cf_ofl_table_replace(&t1, ofl);
    }
    /* Clause flows of one address set carry the same actions: fewer
     * distinct action lists than flows. */
    ck_assert_uint_ge(n_conj_flows, 2);
    size_t n_blobs = cf_blob_pool_count(pool);
    size_t n_bytes = cf_blob_pool_bytes(pool);
    ck_assert_uint_lt(n_blobs, flows.n);
    /* Flows in other tables or at other priorities may share a match. */
    struct cf_blob_pool *matches = cf_ofl_matches_pool();
    size_t n_matches = cf_blob_pool_count(matches);
    ck_assert_uint_le(n_matches, flows.n);
    ck_assert_uint_gt(n_matches, flows.n / 2);

    /* A second conversion, and clones, share them all. */
    for (size_t j = 0; j < flows.n; j++) {
        struct cf_ofl *ofl = convert(&flows.flows[j]);
        struct cf_ofl *other = cf_ofl_table_find(&t1, ofl);
        ck_assert_ptr_nonnull(other);
        ck_assert_ptr_eq(ofl->actions, other->actions);
        ck_assert_ptr_eq(ofl->match_blob, other->match_blob);
        ck_assert(cf_ofl_equal(ofl, other));
        struct cf_ofl *clone = cf_ofl_clone(ofl);
        ck_assert_ptr_eq(clone->actions, ofl->actions);
        ck_assert_ptr_eq(clone->match_blob, ofl->match_blob);
        ck_assert(minimatch_equal(&clone->match, &other->match));
        ck_assert(cf_ofl_equal(clone, ofl));
        cf_ofl_destroy(ofl);
        cf_ofl_table_replace(&t2, clone);
    }
    ck_assert_uint_eq(cf_blob_pool_count(pool), n_blobs);
    ck_assert_uint_eq(cf_blob_pool_bytes(pool), n_bytes);
    ck_assert_uint_eq(cf_blob_pool_count(matches), n_matches);

    /* Flows of 't2' outlive those of 't1' and still print the same. */
    struct ds s1 = DS_EMPTY_INITIALIZER;
    struct ds s2 = DS_EMPTY_INITIALIZER;
    cf_ofl_table_format(&t1, &s1);
    cf_ofl_table_destroy(&t1);
    ck_assert_uint_eq(cf_blob_pool_count(pool), n_blobs);
    cf_ofl_table_format(&t2, &s2);
    ck_assert_str_eq(ds_cstr(&s1), ds_cstr(&s2));
    ck_assert(strstr(ds_cstr(&s2), "conjunction("));
    cf_ofl_table_destroy(&t2);
    ck_assert_uint_eq(cf_blob_pool_count(pool), 0);
    ck_assert_uint_eq(cf_blob_pool_bytes(pool), 0);
    ck_assert_uint_eq(cf_blob_pool_count(matches), 0);
    ck_assert_uint_eq(cf_blob_pool_bytes(matches), 0);
    ds_destroy(&s1);
    ds_destroy(&s2);
    cflow_set_destroy(&flows);
    cf_cluster_destroy(&cl);
}
END_TEST

/* Returns true if 'a' and 'b' pack to the same bytes. */
static bool
packs_equal(const struct cflow *a, const struct cflow *b)
{
    struct ofpbuf pa, pb;
    ofpbuf_init(&pa, 0);
    ofpbuf_init(&pb, 0);
    ck_assert(cf_cflow_pack_actions(a, &pa));
    ck_assert(cf_cflow_pack_actions(b, &pb));
    bool equal = (pa.size == pb.size
                  && (!pa.size || !memcmp(pa.data, pb.data, pa.size)));
    ofpbuf_uninit(&pa);
    ofpbuf_uninit(&pb);
    return equal;
}

/* The action types cflow.h defines. */
static const enum cflow_action_type action_types[] = {
    CFLOW_A_CONJUNCTION, CFLOW_A_GOTO, CFLOW_A_CT, CFLOW_A_CT_COMMIT,
    CFLOW_A_LOAD_REG, CFLOW_A_NORMAL, CFLOW_A_RESUBMIT,
    CFLOW_A_LEARN_SCTP_REPLY, CFLOW_A_LEARN_SCTP_DENY, CFLOW_A_DROP,
    CFLOW_A_IN_PORT, CFLOW_A_CONTROLLER,
};

/* Sets member 'k' (0..7) of 'a' to 'v'. */
static void
set_member(struct cflow_action *a, int k, uint32_t v)
{
    switch (k) {
    case 0: a->id = v; break;
    case 1: a->clause = v; break;
    case 2: a->n_clauses = v; break;
    case 3: a->table = v; break;
    case 4: a->zone = v; break;
    case 5: a->reg = v; break;
    case 6: a->value = v; break;
    case 7: a->mask = v; break;
    default: OVS_NOT_REACHED();
    }
}

START_TEST(test_pack_equal_iff_cflow_equal)
{
    /* Every action type against every type, with each member changed in
     * turn (members a type ignores too, and CT_COMMIT value bits outside
     * its mask), alone and after a common action: packed equality must be
     * cflow_equal(). */
    static const uint32_t values[] = { 0, 1, 2, 0xff, 0x100, 0xf0f0 };
    size_t n_equal = 0, n_differ = 0;
    for (size_t t = 0; t < ARRAY_SIZE(action_types); t++) {
        for (int k = 0; k < 8; k++) {
            for (size_t v = 0; v < ARRAY_SIZE(values); v++) {
                for (size_t u = 0; u < ARRAY_SIZE(action_types); u++) {
                    struct cflow a, b;
                    memset(&a, 0, sizeof a);
                    memset(&b, 0, sizeof b);
                    struct cflow_action x, y;
                    memset(&x, 0, sizeof x);
                    x.type = action_types[t];
                    x.id = 7;
                    x.clause = 1;
                    x.n_clauses = 2;
                    x.table = 3;
                    x.zone = 4;
                    x.reg = 1;
                    x.value = 0xf00f;
                    x.mask = 0x00ff;
                    y = x;
                    y.type = action_types[u];
                    set_member(&y, k, values[v]);
                    struct cflow_action common = x;
                    common.type = CFLOW_A_GOTO;
                    for (int lead = 0; lead < 2; lead++) {
                        if (lead) {
                            cflow_add_action(&a, &common);
                            cflow_add_action(&b, &common);
                        }
                        cflow_add_action(&a, &x);
                        cflow_add_action(&b, &y);
                        bool eq = cflow_equal(&a, &b);
                        ck_assert_msg(packs_equal(&a, &b) == eq,
                                      "types %d/%d member %d value %#x: "
                                      "cflow_equal %d", x.type, y.type, k,
                                      values[v], eq);
                        n_equal += eq;
                        n_differ += !eq;
                        free(a.actions);
                        free(b.actions);
                        memset(&a, 0, sizeof a);
                        memset(&b, 0, sizeof b);
                    }
                }
            }
        }
    }
    ck_assert_uint_gt(n_equal, 100);
    ck_assert_uint_gt(n_differ, 100);

    /* One action more is another list; an unknown type does not pack. */
    struct cflow a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    struct cflow_action x;
    memset(&x, 0, sizeof x);
    x.type = CFLOW_A_DROP;
    cflow_add_action(&a, &x);
    ck_assert(!packs_equal(&a, &b));
    x.type = 200;
    cflow_add_action(&b, &x);
    struct ofpbuf p;
    ofpbuf_init(&p, 0);
    ck_assert(!cf_cflow_pack_actions(&b, &p));
    ofpbuf_uninit(&p);
    free(a.actions);
    free(b.actions);

    /* Every pair of compiled flows' action lists. */
    struct cf_cluster cl;
    build_cluster(&cl, 10);
    struct cflow_set flows;
    compile_node(&cl, 0, &flows);
    for (size_t i = 0; i < flows.n; i++) {
        for (size_t j = 0; j < flows.n; j++) {
            struct cflow fa = flows.flows[i], fb = flows.flows[j];
            /* Same key and cookie: only the actions are compared. */
            fb.table = fa.table;
            fb.priority = fa.priority;
            fb.cookie = fa.cookie;
            fb.match = fa.match;
            ck_assert(packs_equal(&fa, &fb) == cflow_equal(&fa, &fb));
        }
    }
    cflow_set_destroy(&flows);
    cf_cluster_destroy(&cl);
}
END_TEST

/* Returns 'sw''s desired flows in ovs-ofctl syntax, malloc'd. */
static char *
desired_text(const struct cf_switch *sw)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    cf_switch_format_desired(sw, &s);
    return ds_steal_cstr(&s);
}

/* Appends a copy of 'f' to 'set'. */
static void
set_add_copy(struct cflow_set *set, const struct cflow *f)
{
    struct cflow *c = cflow_set_add(set, f->table, f->priority, f->cookie);
    c->match = f->match;
    for (size_t i = 0; i < f->n_actions; i++) {
        cflow_add_action(c, &f->actions[i]);
    }
}

START_TEST(test_switch_desired_cache)
{
    struct cf_cluster cl;
    build_cluster(&cl, 30);
    struct cflow_set flows;
    compile_node(&cl, 0, &flows);

    /* Nothing connects: the OVSDB socket does not exist, and the switch
     * is never run. */
    struct cf_switch *sw1 = cf_switch_create("n1", "unix:ofmem-none.sock",
                                             "br1");
    struct cf_switch *sw2 = cf_switch_create("n2", "unix:ofmem-none.sock",
                                             "br2");
    ck_assert_ptr_null(cf_switch_set_desired(sw1, &flows));
    ck_assert_uint_eq(cf_switch_n_desired(sw1), flows.n);
    unsigned int n_ofl = usage_of("ofl-actions");
    unsigned int n_matches = usage_of("ofl-matches");
    ck_assert_uint_gt(n_matches, 0);
    unsigned int ofl_bytes = usage_of("ofl-action-bytes");
    unsigned int n_cache = usage_of("cache-actions");
    unsigned int cache_bytes = usage_of("cache-action-bytes");
    ck_assert_uint_gt(n_ofl, 0);
    ck_assert_uint_lt(n_cache, flows.n);    /* Shared within a node... */
    char *text1 = desired_text(sw1);

    /* ...and across nodes: the same flows on a second switch add no
     * action list. */
    ck_assert_ptr_null(cf_switch_set_desired(sw2, &flows));
    ck_assert_uint_eq(usage_of("ofl-actions"), n_ofl);
    ck_assert_uint_eq(usage_of("ofl-action-bytes"), ofl_bytes);
    ck_assert_uint_eq(usage_of("ofl-matches"), n_matches);
    ck_assert_uint_eq(usage_of("cache-actions"), n_cache);
    ck_assert_uint_eq(usage_of("cache-action-bytes"), cache_bytes);
    char *text2 = desired_text(sw2);
    ck_assert_str_eq(text1, text2);
    free(text2);

    /* The same flows again: all found in the cache. */
    ck_assert_ptr_null(cf_switch_set_desired(sw1, &flows));
    text2 = desired_text(sw1);
    ck_assert_str_eq(text1, text2);
    free(text2);

    /* An update: remove the first flow with conjunctions, add it back
     * with one conjunction less, which a flow with the same key but
     * other actions must replace. */
    size_t k = 0;
    while (k < flows.n && n_conjunctions(&flows.flows[k]) < 2) {
        k++;
    }
    ck_assert_uint_lt(k, flows.n);
    struct cflow_set removed, added, result;
    cflow_set_init(&removed);
    cflow_set_init(&added);
    cflow_set_init(&result);
    set_add_copy(&removed, &flows.flows[k]);
    set_add_copy(&added, &flows.flows[k]);
    added.flows[0].n_actions--;
    for (size_t i = 0; i < flows.n; i++) {
        set_add_copy(&result, i == k ? &added.flows[0] : &flows.flows[i]);
    }
    ck_assert_ptr_null(cf_switch_update_desired(sw1, &removed, &added));
    struct cf_switch *sw3 = cf_switch_create("n3", "unix:ofmem-none.sock",
                                             "br3");
    ck_assert_ptr_null(cf_switch_set_desired(sw3, &result));
    char *text3 = desired_text(sw3);
    text2 = desired_text(sw1);
    ck_assert_str_eq(text2, text3);
    ck_assert_str_ne(text1, text2);
    free(text2);
    free(text3);

    /* Removing the original again fails (it is no longer desired, though
     * a flow with its key is) and changes nothing. */
    char *error = cf_switch_update_desired(sw1, &removed, &added);
    ck_assert_ptr_nonnull(error);
    free(error);
    /* Removing the changed flow and adding the original gives back the
     * first flows. */
    ck_assert_ptr_null(cf_switch_update_desired(sw1, &added, &removed));
    text2 = desired_text(sw1);
    ck_assert_str_eq(text1, text2);
    free(text2);

    /* A flow that cannot be converted, after a changed one (converted and
     * then dropped): an error, and the desired flows and the pools stay
     * as they were. */
    struct cflow_set bad;
    cflow_set_init(&bad);
    for (size_t i = 0; i < flows.n; i++) {
        set_add_copy(&bad, i == k ? &added.flows[0] : &flows.flows[i]);
    }
    ck_assert_uint_lt(k, bad.n - 1);
    /* (The switch, never connected, still holds the updated flow in its
     * "touched" set: count from here.) */
    n_ofl = usage_of("ofl-actions");
    n_cache = usage_of("cache-actions");
    struct cflow_action x;
    memset(&x, 0, sizeof x);
    x.type = CFLOW_A_LOAD_REG;
    x.reg = 200;                            /* No such register. */
    x.mask = 1;
    cflow_add_action(&bad.flows[bad.n - 1], &x);
    error = cf_switch_set_desired(sw1, &bad);
    ck_assert_ptr_nonnull(error);
    free(error);
    text2 = desired_text(sw1);
    ck_assert_str_eq(text1, text2);
    free(text2);
    ck_assert_uint_eq(usage_of("ofl-actions"), n_ofl);
    ck_assert_uint_eq(usage_of("cache-actions"), n_cache);

    /* Every reference goes with the switches. */
    cf_switch_destroy(sw1);
    cf_switch_destroy(sw2);
    cf_switch_destroy(sw3);
    ck_assert_uint_eq(usage_of("ofl-actions"), 0);
    ck_assert_uint_eq(usage_of("ofl-action-bytes"), 0);
    ck_assert_uint_eq(usage_of("ofl-matches"), 0);
    ck_assert_uint_eq(usage_of("ofl-match-bytes"), 0);
    ck_assert_uint_eq(usage_of("cache-actions"), 0);
    ck_assert_uint_eq(usage_of("cache-action-bytes"), 0);
    free(text1);
    cflow_set_destroy(&bad);
    cflow_set_destroy(&removed);
    cflow_set_destroy(&added);
    cflow_set_destroy(&result);
    cflow_set_destroy(&flows);
    cf_cluster_destroy(&cl);
}
END_TEST

/* The suite. */
static Suite *
ofmem_suite(void)
{
    Suite *s = suite_create("ofmem");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_blob_pool);
    tcase_add_test(tc, test_encode_matches_encoder);
    tcase_add_test(tc, test_ofl_sharing);
    tcase_add_test(tc, test_pack_equal_iff_cflow_equal);
    tcase_add_test(tc, test_switch_desired_cache);
    suite_add_tcase(s, tc);
    return s;
}

int
main(int argc OVS_UNUSED, char *argv[])
{
    set_program_name(argv[0]);
    vlog_set_levels(NULL, VLF_CONSOLE, VLL_OFF);
    SRunner *sr = srunner_create(ofmem_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
