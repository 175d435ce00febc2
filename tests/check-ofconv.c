/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of ofproto/ofconv.c, conjflowd's conversion of compiled flows
 * (struct cflow) into libopenvswitch's representation (struct cf_ofl):
 * every action type and match field in ovs-ofctl syntax, errors, identity
 * and equality, flow tables, and the property conjflowd's diff relies on:
 * a flow sent in a flow_mod and read back from a flow stats reply compares
 * equal to the desired one, for every flow the compiler emits for a varied
 * cluster.  No switch is needed (the system tests run real OVS).
 */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-builder.h"
#include "conjflow/cflow.h"
#include "conjflow/compiler.h"
#include "conjflow/model.h"
#include "ofproto/ofconv.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/list.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vlog.h"
#include "util.h"

/* Appends an action of 'type' with the given fields to 'f'. */
static void
act(struct cflow *f, enum cflow_action_type type, uint32_t id,
    uint8_t clause, uint8_t n_clauses, uint8_t table, uint16_t zone,
    uint8_t reg, uint32_t value, uint32_t mask)
{
    struct cflow_action a;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.id = id;
    a.clause = clause;
    a.n_clauses = n_clauses;
    a.table = table;
    a.zone = zone;
    a.reg = reg;
    a.value = value;
    a.mask = mask;
    cflow_add_action(f, &a);
}

/* Converts 'f' (which must convert) and returns it in ovs-ofctl syntax,
 * malloc'd. */
static char *
convert_format(const struct cflow *f)
{
    struct cf_ofl *ofl;
    char *error = cf_ofl_from_cflow(f, &ofl);
    ck_assert_msg(!error, "conversion failed: %s", error);
    struct ds s = DS_EMPTY_INITIALIZER;
    cf_ofl_format(ofl, &s);
    cf_ofl_destroy(ofl);
    return ds_steal_cstr(&s);
}

/* Asserts that 'f' converts to 'expected'. */
static void
check_format(const struct cflow *f, const char *expected)
{
    char *s = convert_format(f);
    ck_assert_msg(!strcmp(s, expected), "got\n  %s\nexpected\n  %s", s,
                  expected);
    free(s);
}

START_TEST(test_match_fields)
{
    struct cflow_set set;
    cflow_set_init(&set);
    struct cflow *f = cflow_set_add(&set, 0, 100,
                                    cflow_cookie(0, 0, 0, CFLOW_KIND_POD));
    f->match.fields = CFLOW_F_IN_PORT | CFLOW_F_DL_SRC | CFLOW_F_DL_TYPE
                      | CFLOW_F_NW_SRC;
    f->match.in_port = 3;
    memcpy(f->match.dl_src, "\x0a\x58\x0a\x01\x00\x01", 6);
    f->match.dl_type = 0x0800;
    f->match.nw_src = 0x0a010001;
    f->match.nw_src_mask = 0xffffffff;
    act(f, CFLOW_A_LOAD_REG, 0, 0, 0, 0, 0, 0, 1, 1);
    act(f, CFLOW_A_GOTO, 0, 0, 0, 1, 0, 0, 0, 0);
    check_format(f, "table=0, priority=100, cookie=0xcf00000000000002, "
                 "ip,in_port=3,dl_src=0a:58:0a:01:00:01,nw_src=10.1.0.1 "
                 "actions=set_field:0x1/0x1->reg0,goto_table:1");

    /* ARP anti-spoofing: arp_spa and arp_sha imply dl_type=arp. */
    f = cflow_set_add(&set, 0, 90, cflow_cookie(0, 0, 0, CFLOW_KIND_POD));
    f->match.fields = CFLOW_F_IN_PORT | CFLOW_F_ARP_SPA | CFLOW_F_ARP_SHA;
    f->match.in_port = CFLOW_PORT_LOCAL;
    f->match.arp_spa = 0x0a010001;
    memcpy(f->match.arp_sha, "\x0a\x58\x0a\x01\x00\x01", 6);
    act(f, CFLOW_A_GOTO, 0, 0, 0, 8, 0, 0, 0, 0);
    check_format(f, "table=0, priority=90, cookie=0xcf00000000000002, "
                 "arp,in_port=LOCAL,arp_spa=10.1.0.1,"
                 "arp_sha=0a:58:0a:01:00:01 actions=goto_table:8");

    /* A masked destination, a port range bit mask: nw_proto implies ip. */
    f = cflow_set_add(&set, 5, 1000, cflow_cookie(42, CFLOW_DIR_INGRESS, 3,
                                                  CFLOW_KIND_CLAUSE));
    f->match.fields = CFLOW_F_NW_PROTO | CFLOW_F_NW_DST | CFLOW_F_TP_DST;
    f->match.nw_proto = 17;
    f->match.nw_dst = 0x0a000000;
    f->match.nw_dst_mask = 0xff000000;
    f->match.tp_dst = 0x1000;
    f->match.tp_dst_mask = 0xf000;
    act(f, CFLOW_A_CONJUNCTION, 7, 1, 3, 0, 0, 0, 0, 0);
    act(f, CFLOW_A_CONJUNCTION, 8, 3, 3, 0, 0, 0, 0, 0);
    check_format(f, "table=5, priority=1000, cookie=0xcf00002a10030004, "
                 "udp,nw_dst=10.0.0.0/8,tp_dst=0x1000/0xf000 "
                 "actions=conjunction(7,1/3),conjunction(8,3/3)");

    /* ct_state and reg0 masks; conj_id. */
    f = cflow_set_add(&set, 2, 100, cflow_cookie(0, 0, 0,
                                                 CFLOW_KIND_PIPELINE));
    f->match.fields = CFLOW_F_CT_STATE | CFLOW_F_REG0;
    f->match.ct_state = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_NEW | CFLOW_CS_TRK | CFLOW_CS_INV;
    f->match.reg0 = 1;
    f->match.reg0_mask = 1;
    act(f, CFLOW_A_GOTO, 0, 0, 0, 3, 0, 0, 0, 0);
    check_format(f, "table=2, priority=100, cookie=0xcf00000000000001, "
                 "ct_state=+new-inv+trk,reg0=0x1/0x1 actions=goto_table:3");

    f = cflow_set_add(&set, 5, 1000, cflow_cookie(42, CFLOW_DIR_INGRESS, 3,
                                                  CFLOW_KIND_ALLOW));
    f->match.fields = CFLOW_F_CONJ_ID;
    f->match.conj_id = 7;
    act(f, CFLOW_A_LOAD_REG, 0, 0, 0, 0, 0, 2, 7, 0xffffffff);
    act(f, CFLOW_A_GOTO, 0, 0, 0, 7, 0, 0, 0, 0);
    check_format(f, "table=5, priority=1000, cookie=0xcf00002a10030003, "
                 "conj_id=7 actions=set_field:0x7->reg2,goto_table:7");

    /* conn_count: reg1 and reg2 exact, no actions. */
    f = cflow_set_add(&set, CFLOW_T_CONN_COUNT, 100,
                      cflow_cookie(42, CFLOW_DIR_EGRESS, 3,
                                   CFLOW_KIND_CONN));
    f->match.fields = CFLOW_F_REG0 | CFLOW_F_REG1;
    f->match.reg0 = 0x10;
    f->match.reg0_mask = 0x10;
    f->match.reg1 = 0x2a86;
    check_format(f, "table=10, priority=100, cookie=0xcf00002a20030007, "
                 "reg0=0x10/0x10,reg1=0x2a86 actions=drop");
    f = cflow_set_add(&set, CFLOW_T_CONN_COUNT, 100,
                      cflow_cookie(42, CFLOW_DIR_INGRESS, 3,
                                   CFLOW_KIND_CONN));
    f->match.fields = CFLOW_F_REG0 | CFLOW_F_REG2;
    f->match.reg0 = 0;
    f->match.reg0_mask = 0x10;
    f->match.reg2 = 0x2a06;
    check_format(f, "table=10, priority=100, cookie=0xcf00002a10030007, "
                 "reg0=0/0x10,reg2=0x2a06 actions=drop");
    cflow_set_destroy(&set);
}
END_TEST

START_TEST(test_actions)
{
    struct cflow_set set;
    cflow_set_init(&set);
    uint64_t cookie = cflow_cookie(0, 0, 0, CFLOW_KIND_PIPELINE);

    struct cflow *f = cflow_set_add(&set, 1, 90, cookie);
    f->match.fields = CFLOW_F_DL_TYPE;
    f->match.dl_type = 0x0800;
    act(f, CFLOW_A_CT, 0, 0, 0, 2, 5, 0, 0, 0);
    check_format(f, "table=1, priority=90, cookie=0xcf00000000000001, ip "
                 "actions=ct(table=2,zone=5)");

    f = cflow_set_add(&set, 7, 100, cookie);
    f->match.fields = CFLOW_F_CT_STATE | CFLOW_F_DL_TYPE;
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_NEW | CFLOW_CS_TRK;
    act(f, CFLOW_A_CT_COMMIT, 0, 0, 0, 0, 5, 0, 0, 0);
    act(f, CFLOW_A_GOTO, 0, 0, 0, 8, 0, 0, 0, 0);
    check_format(f, "table=7, priority=100, cookie=0xcf00000000000001, "
                 "ct_state=+new+trk,ip actions=ct(commit,zone=5),"
                 "goto_table:8");

    /* ct(commit) needs an IP match, as the switch says. */
    f = cflow_set_add(&set, 7, 99, cookie);
    act(f, CFLOW_A_CT_COMMIT, 0, 0, 0, 0, 5, 0, 0, 0);
    struct cf_ofl *ofl;
    char *error = cf_ofl_from_cflow(f, &ofl);
    ck_assert_msg(error && strstr(error, "MATCH_INCONSISTENT"), "%s", error);
    free(error);

    f = cflow_set_add(&set, 1, 100, cookie);
    f->match.fields = CFLOW_F_NW_PROTO;
    f->match.nw_proto = 132;
    act(f, CFLOW_A_RESUBMIT, 0, 0, 0, 9, 0, 0, 0, 0);
    act(f, CFLOW_A_GOTO, 0, 0, 0, 2, 0, 0, 0, 0);
    check_format(f, "table=1, priority=100, cookie=0xcf00000000000001, sctp "
                 "actions=resubmit(,9),goto_table:2");

    f = cflow_set_add(&set, 7, 110, cookie);
    f->match.fields = CFLOW_F_NW_PROTO;
    f->match.nw_proto = 132;
    act(f, CFLOW_A_LEARN_SCTP_REPLY, 0, 0, 0, 9, 0, 0, 120, 0);
    act(f, CFLOW_A_GOTO, 0, 0, 0, 8, 0, 0, 0, 0);
    check_format(f, "table=7, priority=110, cookie=0xcf00000000000001, sctp "
                 "actions=learn(table=9,idle_timeout=120,priority=100,"
                 "cookie=0xcf00000000000006,eth_type=0x800,nw_proto=132,"
                 "NXM_OF_IP_SRC[]=NXM_OF_IP_DST[],"
                 "NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],"
                 "OXM_OF_SCTP_SRC[]=OXM_OF_SCTP_DST[],"
                 "OXM_OF_SCTP_DST[]=OXM_OF_SCTP_SRC[],"
                 "load:0x1->NXM_NX_REG0[1]),goto_table:8");

    f = cflow_set_add(&set, 8, 0, cookie);
    act(f, CFLOW_A_NORMAL, 0, 0, 0, 0, 0, 0, 0, 0);
    check_format(f, "table=8, priority=0, cookie=0xcf00000000000001, <any> "
                 "actions=NORMAL");

    f = cflow_set_add(&set, 0, 0, cookie);
    act(f, CFLOW_A_DROP, 0, 0, 0, 0, 0, 0, 0, 0);
    check_format(f, "table=0, priority=0, cookie=0xcf00000000000001, <any> "
                 "actions=drop");
    cflow_set_destroy(&set);
}
END_TEST

/* The denied mark (cflow.h, "Cross-node state"): ct_mark matches, ct(commit)
 * with a nested set_field of ct_mark (after other actions, so the nesting
 * must not depend on the ct action being first), and the "denied reply"
 * learn, as OVS reads them. */
START_TEST(test_crossnode_actions)
{
    struct cflow_set set;
    cflow_set_init(&set);
    uint64_t cookie = cflow_cookie(0, 0, 0, CFLOW_KIND_PIPELINE);

    struct cflow *f = cflow_set_add(&set, 2, 195, cookie);
    f->match.fields = CFLOW_F_CT_STATE | CFLOW_F_CT_MARK;
    f->match.ct_state = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_mark = CFLOW_CT_MARK_DENIED;
    f->match.ct_mark_mask = CFLOW_CT_MARK_DENIED;
    act(f, CFLOW_A_DROP, 0, 0, 0, 0, 0, 0, 0, 0);
    check_format(f, "table=2, priority=195, cookie=0xcf00000000000001, "
                 "ct_state=+est+rpl+trk,ct_mark=0x1/0x1 actions=drop");

    f = cflow_set_add(&set, 7, 220, cookie);
    f->match.fields = (CFLOW_F_DL_TYPE | CFLOW_F_CT_STATE | CFLOW_F_CT_MARK
                       | CFLOW_F_REG0);
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_EST | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_mark = 0;
    f->match.ct_mark_mask = CFLOW_CT_MARK_DENIED;
    f->match.reg0 = CFLOW_REG0_DENIED;
    f->match.reg0_mask = CFLOW_REG0_DENIED;
    act(f, CFLOW_A_CT_COMMIT, 0, 0, 0, 0, 5, 0, CFLOW_CT_MARK_DENIED,
        CFLOW_CT_MARK_DENIED);
    check_format(f, "table=7, priority=220, cookie=0xcf00000000000001, "
                 "ct_state=+est-rpl+trk,ct_mark=0/0x1,ip,reg0=0x20/0x20 "
                 "actions=ct(commit,zone=5,exec(set_field:0x1/0x1->"
                 "ct_mark))");

    /* Clearing the mark, after other actions, then more actions. */
    f = cflow_set_add(&set, 7, 100, cookie);
    f->match.fields = CFLOW_F_CT_STATE | CFLOW_F_DL_TYPE;
    f->match.dl_type = 0x0800;
    f->match.ct_state = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_NEW | CFLOW_CS_TRK;
    act(f, CFLOW_A_RESUBMIT, 0, 0, 0, 10, 0, 0, 0, 0);
    act(f, CFLOW_A_LOAD_REG, 0, 0, 0, 0, 0, 0, 16, 16);
    act(f, CFLOW_A_CT_COMMIT, 0, 0, 0, 0, 5, 0, 0, CFLOW_CT_MARK_DENIED);
    act(f, CFLOW_A_GOTO, 0, 0, 0, 8, 0, 0, 0, 0);
    check_format(f, "table=7, priority=100, cookie=0xcf00000000000001, "
                 "ct_state=+new+trk,ip actions=resubmit(,10),"
                 "set_field:0x10/0x10->reg0,ct(commit,zone=5,"
                 "exec(set_field:0/0x1->ct_mark)),goto_table:8");

    /* Only a commit sets the mark: ct(table=...) ignores value/mask. */
    f = cflow_set_add(&set, 1, 90, cookie);
    f->match.fields = CFLOW_F_DL_TYPE;
    f->match.dl_type = 0x0800;
    act(f, CFLOW_A_CT, 0, 0, 0, 2, 5, 0, 1, 1);
    check_format(f, "table=1, priority=90, cookie=0xcf00000000000001, ip "
                 "actions=ct(table=2,zone=5)");

    f = cflow_set_add(&set, 7, 230, cookie);
    f->match.fields = CFLOW_F_NW_PROTO | CFLOW_F_REG0;
    f->match.nw_proto = 132;
    f->match.reg0 = CFLOW_REG0_DENIED;
    f->match.reg0_mask = CFLOW_REG0_DENIED | CFLOW_REG0_SOURCE_MASK;
    act(f, CFLOW_A_LEARN_SCTP_DENY, 0, 0, 0, 9, 0, 0, 120, 0);
    check_format(f, "table=7, priority=230, cookie=0xcf00000000000001, "
                 "sctp,reg0=0x20/0x25 "
                 "actions=learn(table=9,idle_timeout=120,priority=100,"
                 "cookie=0xcf00000000000008,eth_type=0x800,nw_proto=132,"
                 "NXM_OF_IP_SRC[]=NXM_OF_IP_DST[],"
                 "NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],"
                 "OXM_OF_SCTP_SRC[]=OXM_OF_SCTP_DST[],"
                 "OXM_OF_SCTP_DST[]=OXM_OF_SCTP_SRC[],"
                 "load:0x1->NXM_NX_REG0[6])");
    cflow_set_destroy(&set);
}
END_TEST

START_TEST(test_errors)
{
    struct cflow_set set;
    cflow_set_init(&set);
    struct cflow *f = cflow_set_add(&set, 5, 10, cflow_cookie(3, 1, 0, 4));
    act(f, CFLOW_A_CONJUNCTION, 9, 4, 3, 0, 0, 0, 0, 0);
    struct cf_ofl *ofl;
    char *error = cf_ofl_from_cflow(f, &ofl);
    ck_assert_ptr_null(ofl);
    ck_assert_msg(error && strstr(error, "table=5, priority=10")
                  && strstr(error, "conjunction(9,4/3)"), "%s", error);
    free(error);

    /* A conjunction with a second action is rejected as the switch would
     * reject it. */
    f = cflow_set_add(&set, 5, 11, cflow_cookie(3, 1, 0, 4));
    act(f, CFLOW_A_CONJUNCTION, 9, 1, 2, 0, 0, 0, 0, 0);
    act(f, CFLOW_A_GOTO, 0, 0, 0, 7, 0, 0, 0, 0);
    error = cf_ofl_from_cflow(f, &ofl);
    ck_assert_msg(error != NULL, "conjunction with goto_table accepted");
    ck_assert_ptr_null(ofl);
    free(error);

    f = cflow_set_add(&set, 0, 12, cflow_cookie(0, 0, 0, 1));
    act(f, CFLOW_A_LOAD_REG, 0, 0, 0, 0, 0, 200, 1, 1);
    error = cf_ofl_from_cflow(f, &ofl);
    ck_assert_msg(error && strstr(error, "reg200"), "%s", error);
    free(error);
    cflow_set_destroy(&set);
}
END_TEST

/* Converts 'f', which must convert. */
static struct cf_ofl *
convert(const struct cflow *f)
{
    struct cf_ofl *ofl;
    char *error = cf_ofl_from_cflow(f, &ofl);
    ck_assert_msg(!error, "%s", error);
    return ofl;
}

START_TEST(test_identity_and_table)
{
    struct cflow_set set;
    cflow_set_init(&set);
    struct cflow *a = cflow_set_add(&set, 5, 100, cflow_cookie(1, 1, 0, 3));
    a->match.fields = CFLOW_F_NW_PROTO | CFLOW_F_TP_DST;
    a->match.nw_proto = 6;
    a->match.tp_dst = 80;
    a->match.tp_dst_mask = 0xffff;
    act(a, CFLOW_A_GOTO, 0, 0, 0, 7, 0, 0, 0, 0);
    struct cflow *b = cflow_set_add(&set, 5, 100, cflow_cookie(1, 1, 0, 3));
    b->match = set.flows[0].match;
    act(b, CFLOW_A_GOTO, 0, 0, 0, 6, 0, 0, 0, 0);   /* Other action. */
    struct cflow *c = cflow_set_add(&set, 5, 100, cflow_cookie(2, 1, 0, 3));
    c->match = set.flows[0].match;                  /* Other cookie. */
    act(c, CFLOW_A_GOTO, 0, 0, 0, 7, 0, 0, 0, 0);
    struct cflow *d = cflow_set_add(&set, 5, 99, cflow_cookie(1, 1, 0, 3));
    d->match = set.flows[0].match;                  /* Other priority. */
    act(d, CFLOW_A_GOTO, 0, 0, 0, 7, 0, 0, 0, 0);

    struct cf_ofl *oa = convert(&set.flows[0]);
    struct cf_ofl *oa2 = convert(&set.flows[0]);
    struct cf_ofl *ob = convert(&set.flows[1]);
    struct cf_ofl *oc = convert(&set.flows[2]);
    struct cf_ofl *od = convert(&set.flows[3]);
    ck_assert(cf_ofl_equal(oa, oa2));
    ck_assert(cf_ofl_key_equal(oa, ob) && !cf_ofl_equal(oa, ob));
    ck_assert(cf_ofl_key_equal(oa, oc) && !cf_ofl_equal(oa, oc));
    ck_assert(!cf_ofl_key_equal(oa, od));
    ck_assert_uint_eq(cf_ofl_key_hash(oa), cf_ofl_key_hash(ob));

    struct cf_ofl *clone = cf_ofl_clone(ob);
    ck_assert(cf_ofl_equal(clone, ob));
    cf_ofl_destroy(clone);

    struct cf_ofl_table t;
    cf_ofl_table_init(&t);
    cf_ofl_table_replace(&t, oa);
    cf_ofl_table_replace(&t, od);
    cf_ofl_table_replace(&t, ob);           /* Replaces 'oa' (same key). */
    ck_assert_uint_eq(cf_ofl_table_count(&t), 2);
    ck_assert(cf_ofl_table_find(&t, oa2) == ob);
    struct ds s = DS_EMPTY_INITIALIZER;
    cf_ofl_table_format(&t, &s);
    ck_assert_str_eq(ds_cstr(&s),
                     "table=5, priority=100, cookie=0xcf00000110000003, "
                     "tcp,tp_dst=80 actions=goto_table:6\n"
                     "table=5, priority=99, cookie=0xcf00000110000003, "
                     "tcp,tp_dst=80 actions=goto_table:7\n");
    ds_destroy(&s);
    cf_ofl_table_delete(&t, oa2);
    ck_assert_uint_eq(cf_ofl_table_count(&t), 1);
    ck_assert_ptr_null(cf_ofl_table_find(&t, oa2));

    struct cf_ofl_table t2;
    cf_ofl_table_init(&t2);
    cf_ofl_table_swap(&t2, &t);
    ck_assert_uint_eq(cf_ofl_table_count(&t), 0);
    ck_assert_uint_eq(cf_ofl_table_count(&t2), 1);
    cf_ofl_table_destroy(&t);
    cf_ofl_table_destroy(&t2);
    cf_ofl_destroy(oa2);
    cf_ofl_destroy(oc);
    cflow_set_destroy(&set);
}
END_TEST

/* Builds a cluster with every kind of rule the compiler handles: numbered,
 * ranged, named and "all" ports over TCP, UDP and SCTP, pod, namespace and
 * ipBlock peers (with excepts), ingress and egress, two nodes. */
static void
build_cluster(struct cf_cluster *cl)
{
    cf_cluster_init(cl);
    tb_node(cl, "n1", 1, "192.168.0.1");
    tb_node(cl, "n2", 2, "192.168.0.2");
    tb_ns(cl, "x", "team=x");
    tb_ns(cl, "y", "team=y");
    tb_pod(cl, "x", "a", "n1", "10.1.0.1", "app=web",
           "http:80/TCP,dns:53/UDP,s:9000/SCTP");
    tb_pod(cl, "x", "b", "n1", "10.1.0.2", "app=client", "");
    tb_pod(cl, "y", "c", "n2", "10.1.0.3", "app=client", "http:8080/TCP");
    tb_pod(cl, "y", "d", "n2", "10.1.0.4", "app=db", "");

    struct cf_policy *p = tb_policy(cl, "x", "web", "app=web", true, true);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, NULL, "app=client");
    tb_peer_sel(r, "team=y", "app=client");
    tb_port_number(r, CF_PROTO_TCP, 80, 80);
    tb_port_number(r, CF_PROTO_UDP, 1000, 1100);
    tb_port_name(r, CF_PROTO_TCP, "http");
    tb_port_all(r, CF_PROTO_SCTP);
    r = tb_rule(p, false);
    static const char *const except[] = { "10.9.1.0/24" };
    tb_peer_ipblock(r, "10.9.0.0/16", except, 1);
    r = tb_rule(p, true);
    tb_peer_sel(r, "team=y", "app=db");
    tb_port_number(r, CF_PROTO_TCP, 5432, 5432);
    tb_port_name(r, CF_PROTO_TCP, "http");

    p = tb_policy(cl, "y", "deny-all", "", true, true);
    p = tb_policy(cl, "y", "db", "app=db", true, false);
    r = tb_rule(p, false);
    tb_peer_sel(r, "", "");
    tb_port_number(r, CF_PROTO_SCTP, 9000, 9000);
    cf_cluster_sort(cl);
    cf_cluster_assign_ids(cl);
}

/* Returns what a switch would report in a flow stats reply for 'ofl' (as
 * the switch would have installed it from cf_ofl_encode()'s flow_mod). */
static struct cf_ofl *
dump_roundtrip(const struct cf_ofl *ofl)
{
    /* The flow_mod the switch receives... */
    struct ofpbuf *msg = cf_ofl_encode(ofl, OFPFC_ADD);
    struct ofputil_flow_mod fm;
    struct ofpbuf fm_ofpacts;
    ofpbuf_init(&fm_ofpacts, 64);
    enum ofperr err = ofputil_decode_flow_mod(&fm, msg->data,
                                              CF_OFP_PROTOCOL, NULL, NULL,
                                              &fm_ofpacts, OFPP_MAX, 255);
    ck_assert_msg(!err, "switch would reject: %s", ofperr_to_string(err));
    ofpbuf_delete(msg);

    /* ...and the flow stats reply it sends back. */
    struct ofputil_flow_stats_request fsr;
    memset(&fsr, 0, sizeof fsr);
    match_init_catchall(&fsr.match);
    fsr.table_id = 0xff;
    fsr.out_port = OFPP_ANY;
    fsr.out_group = OFPG_ANY;
    struct ofpbuf *request = ofputil_encode_flow_stats_request(
        &fsr, CF_OFP_PROTOCOL);
    struct ovs_list replies;
    ofpmp_init(&replies, request->data);
    ofpbuf_delete(request);

    struct ofputil_flow_stats fs;
    memset(&fs, 0, sizeof fs);
    minimatch_expand(&fm.match, &fs.match);
    fs.cookie = fm.new_cookie;
    fs.table_id = fm.table_id;
    fs.priority = fm.priority;
    fs.idle_age = fs.hard_age = -1;
    fs.ofpacts = fm.ofpacts;
    fs.ofpacts_len = fm.ofpacts_len;
    ofputil_append_flow_stats_reply(&fs, &replies, NULL);
    minimatch_destroy(&fm.match);

    struct ofpbuf *reply_buf = ofpbuf_from_list(ovs_list_front(&replies));
    ofpmsg_update_length(reply_buf);
    struct ofpbuf reply_copy = ofpbuf_const_initializer(reply_buf->data,
                                                        reply_buf->size);
    struct ofpbuf *reply = &reply_copy;
    struct ofputil_flow_stats back;
    struct ofpbuf ofpacts;
    ofpbuf_init(&ofpacts, 64);
    int retval = ofputil_decode_flow_stats_reply(&back, reply, false,
                                                 &ofpacts);
    ck_assert_int_eq(retval, 0);
    struct cf_ofl *result = cf_ofl_from_stats(&back);
    ofpbuf_uninit(&ofpacts);
    ofpbuf_uninit(&fm_ofpacts);
    ofpbuf_list_delete(&replies);
    return result;
}

START_TEST(test_compiled_flows_roundtrip)
{
    struct cf_cluster cl;
    build_cluster(&cl);
    struct cf_compiler *compiler = cf_compiler_create(&cl);
    size_t total = 0;
    for (size_t i = 0; i < cl.n_nodes; i++) {
        struct cf_node_ports ports;
        cf_node_ports_init(&ports);
        tb_node_ports(&cl, cl.nodes[i], &ports);
        struct cflow_set flows;
        cflow_set_init(&flows);
        char *error = cf_compiler_node_flows(compiler, cl.nodes[i], &ports,
                                             &flows);
        ck_assert_msg(!error, "%s", error);
        ck_assert_uint_gt(flows.n, 10);

        struct cf_ofl_table t;
        cf_ofl_table_init(&t);
        for (size_t j = 0; j < flows.n; j++) {
            struct cf_ofl *ofl = convert(&flows.flows[j]);
            struct cf_ofl *back = dump_roundtrip(ofl);
            if (!cf_ofl_equal(ofl, back)) {
                struct ds a = DS_EMPTY_INITIALIZER;
                struct ds b = DS_EMPTY_INITIALIZER;
                cf_ofl_format(ofl, &a);
                cf_ofl_format(back, &b);
                struct match ma, mb;
                minimatch_expand(&ofl->match, &ma);
                minimatch_expand(&back->match, &mb);
                char *sa = match_to_string(&ma, NULL, 0);
                char *sb = match_to_string(&mb, NULL, 0);
                fprintf(stderr, "key_equal=%d wire=%d\n%s\n%s\n",
                        cf_ofl_key_equal(ofl, back),
                        ofl->actions == back->actions,
                        sa, sb);
                for (size_t k = 0; k < sizeof ma.wc.masks; k++) {
                    if (((uint8_t *) &ma.wc.masks)[k]
                        != ((uint8_t *) &mb.wc.masks)[k]
                        || ((uint8_t *) &ma.flow)[k]
                        != ((uint8_t *) &mb.flow)[k]) {
                        fprintf(stderr, "byte %zu: mask %02x/%02x flow "
                                "%02x/%02x\n", k,
                                ((uint8_t *) &ma.wc.masks)[k],
                                ((uint8_t *) &mb.wc.masks)[k],
                                ((uint8_t *) &ma.flow)[k],
                                ((uint8_t *) &mb.flow)[k]);
                    }
                }
                ck_abort_msg("dumped flow differs:\n  %s\n  %s",
                             ds_cstr(&a), ds_cstr(&b));
            }
            /* The dumped flow prints as the desired one (both decode
             * their actions from the same interned bytes). */
            struct ds fa = DS_EMPTY_INITIALIZER;
            struct ds fb = DS_EMPTY_INITIALIZER;
            cf_ofl_format(ofl, &fa);
            cf_ofl_format(back, &fb);
            ck_assert_str_eq(ds_cstr(&fa), ds_cstr(&fb));
            ck_assert_ptr_eq(ofl->actions, back->actions);
            ds_destroy(&fa);
            ds_destroy(&fb);
            /* Distinct compiled flows are distinct OpenFlow flows. */
            ck_assert_msg(!cf_ofl_table_find(&t, ofl),
                          "two compiled flows with one OpenFlow identity");
            cf_ofl_table_replace(&t, ofl);
            cf_ofl_destroy(back);
        }
        total += flows.n;
        cf_ofl_table_destroy(&t);
        cflow_set_destroy(&flows);
        cf_node_ports_destroy(&ports);
    }
    ck_assert_uint_gt(total, 20);
    cf_compiler_destroy(compiler);
    cf_cluster_destroy(&cl);
}
END_TEST

/* The suite. */
static Suite *
ofconv_suite(void)
{
    Suite *s = suite_create("ofconv");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_match_fields);
    tcase_add_test(tc, test_actions);
    tcase_add_test(tc, test_crossnode_actions);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_identity_and_table);
    tcase_add_test(tc, test_compiled_flows_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}

int
main(int argc OVS_UNUSED, char *argv[])
{
    set_program_name(argv[0]);
    /* Some tests make libopenvswitch reject flows on purpose: keep its
     * warnings off the test output (the tests check the errors). */
    vlog_set_levels(NULL, VLF_CONSOLE, VLL_OFF);
    SRunner *sr = srunner_create(ofconv_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
