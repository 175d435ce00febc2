/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of the flow structs (controller/cflow.c: text form, order,
 * equality) and of the flow interpreter (controller/interp.c) on
 * hand-written tables: priorities, conjunctions (including a partially
 * matched higher-priority conjunction falling through to a lower one),
 * goto, resubmit, registers and conntrack state.
 */
#include "conjflow-config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cflow.h"
#include "conjflow/cfutil.h"
#include "conjflow/interp.h"

START_TEST(test_format)
{
    struct cflow_set set;
    cflow_set_init(&set);
    struct cflow *f = cflow_set_add(&set, 5, 1000, 0xcf00002a10030004ULL);
    f->match.fields = (CFLOW_F_DL_TYPE | CFLOW_F_NW_PROTO | CFLOW_F_NW_DST
                       | CFLOW_F_TP_DST);
    f->match.dl_type = 0x0800;
    f->match.nw_proto = 6;
    f->match.nw_dst = 0x0a000000;
    f->match.nw_dst_mask = 0xffffff00;
    f->match.tp_dst = 0x50;
    f->match.tp_dst_mask = 0xfff8;
    struct cflow_action a;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_CONJUNCTION;
    a.id = 42;
    a.clause = 1;
    a.n_clauses = 3;
    cflow_add_action(f, &a);
    a.id = 43;
    a.n_clauses = 2;
    cflow_add_action(f, &a);
    struct cf_ds ds = CF_DS_INIT;
    cflow_format(f, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds),
                     "table=5, priority=1000, cookie=0xcf00002a10030004, "
                     "tcp,nw_dst=10.0.0.0/24,tp_dst=0x50/0xfff8 "
                     "actions=conjunction(42,1/3),conjunction(43,1/2)");

    f = cflow_set_add(&set, 0, 100, 0xcf00000000000002ULL);
    f->match.fields = (CFLOW_F_IN_PORT | CFLOW_F_DL_TYPE | CFLOW_F_REG0
                       | CFLOW_F_CT_STATE);
    f->match.in_port = CFLOW_PORT_LOCAL;
    f->match.dl_type = 0x0806;
    f->match.reg0 = 1;
    f->match.reg0_mask = 3;
    f->match.ct_state = CFLOW_CS_TRK | CFLOW_CS_NEW;
    f->match.ct_state_mask = CFLOW_CS_TRK | CFLOW_CS_NEW | CFLOW_CS_EST;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_LOAD_REG;
    a.reg = 1;
    a.value = 0x2a;
    a.mask = UINT32_MAX;
    cflow_add_action(f, &a);
    a.type = CFLOW_A_CT;
    a.table = 2;
    a.zone = 7;
    cflow_add_action(f, &a);
    cf_ds_clear(&ds);
    cflow_format(f, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds),
                     "table=0, priority=100, cookie=0xcf00000000000002, "
                     "in_port=LOCAL,arp,reg0=0x1/0x3,ct_state=+new-est+trk "
                     "actions=set_field:0x2a->reg1,ct(table=2,zone=7)");

    /* Sorting: table ascending, priority descending. */
    cflow_set_add(&set, 0, 0, 1);
    cflow_set_add(&set, 0, 200, 1);
    cflow_set_sort(&set);
    ck_assert_uint_eq(set.flows[0].table, 0);
    ck_assert_uint_eq(set.flows[0].priority, 200);
    ck_assert_uint_eq(set.flows[1].priority, 100);
    ck_assert_uint_eq(set.flows[2].priority, 0);
    ck_assert_uint_eq(set.flows[3].table, 5);
    ck_assert(cflow_key_hash(&set.flows[1], 0)
              != cflow_key_hash(&set.flows[2], 0));
    ck_assert(cflow_equal(&set.flows[1], &set.flows[1]));
    ck_assert(!cflow_equal(&set.flows[1], &set.flows[2]));
    cf_ds_destroy(&ds);
    cflow_set_destroy(&set);
}
END_TEST

/* Adds a flow in 'table' at 'prio' matching nw_src 'src' (if nonzero),
 * tp_dst 'port' (if nonzero), and returns it. */
static struct cflow *
add(struct cflow_set *set, uint8_t table, uint16_t prio, uint32_t src,
    uint16_t port)
{
    struct cflow *f = cflow_set_add(set, table, prio, 1);
    f->match.fields = CFLOW_F_DL_TYPE;
    f->match.dl_type = 0x0800;
    if (src) {
        f->match.fields |= CFLOW_F_NW_SRC;
        f->match.nw_src = src;
        f->match.nw_src_mask = UINT32_MAX;
    }
    if (port) {
        f->match.fields |= CFLOW_F_NW_PROTO | CFLOW_F_TP_DST;
        f->match.nw_proto = 6;
        f->match.tp_dst = port;
        f->match.tp_dst_mask = 0xffff;
    }
    return f;
}

/* Adds action 'type' with 'table' / conjunction parameters to 'f'. */
static void
act(struct cflow *f, enum cflow_action_type type, uint8_t table,
    uint32_t id, uint8_t clause, uint8_t n_clauses)
{
    struct cflow_action a;
    memset(&a, 0, sizeof a);
    a.type = type;
    a.table = table;
    a.id = id;
    a.clause = clause;
    a.n_clauses = n_clauses;
    if (type == CFLOW_A_LOAD_REG) {
        a.reg = 1;
        a.value = id;
        a.mask = UINT32_MAX;
    }
    cflow_add_action(f, &a);
}

START_TEST(test_interp_conjunctions)
{
    struct cflow_set set;
    cflow_set_init(&set);
    /* Table 0: conjunction 7 at priority 200 (src 1, port 80), conjunction
     * 8 at priority 100 (src 1, dst any via port 81 or 82), miss. */
    act(add(&set, 0, 200, 1, 0), CFLOW_A_CONJUNCTION, 0, 7, 1, 2);
    act(add(&set, 0, 200, 0, 80), CFLOW_A_CONJUNCTION, 0, 7, 2, 2);
    struct cflow *f = cflow_set_add(&set, 0, 200, 1);
    f->match.fields = CFLOW_F_CONJ_ID;
    f->match.conj_id = 7;
    act(f, CFLOW_A_LOAD_REG, 0, 7, 0, 0);
    act(f, CFLOW_A_GOTO, 1, 0, 0, 0);
    act(add(&set, 0, 100, 1, 0), CFLOW_A_CONJUNCTION, 0, 8, 1, 2);
    f = add(&set, 0, 100, 0, 81);
    act(f, CFLOW_A_CONJUNCTION, 0, 8, 2, 2);
    f = cflow_set_add(&set, 0, 100, 1);
    f->match.fields = CFLOW_F_CONJ_ID;
    f->match.conj_id = 8;
    act(f, CFLOW_A_LOAD_REG, 0, 8, 0, 0);
    act(f, CFLOW_A_GOTO, 1, 0, 0, 0);
    /* A plain flow for port 82 at 150 beats nothing else; table 1:
     * resubmit to 2, then NORMAL; table 2 empty (a miss continues). */
    f = add(&set, 0, 150, 0, 82);
    act(f, CFLOW_A_LOAD_REG, 0, 99, 0, 0);
    act(f, CFLOW_A_GOTO, 1, 0, 0, 0);
    f = cflow_set_add(&set, 1, 0, 1);
    act(f, CFLOW_A_RESUBMIT, 2, 0, 0, 0);
    act(f, CFLOW_A_NORMAL, 0, 0, 0, 0);
    cflow_set_sort(&set);

    struct cf_interp *in = cf_interp_create(&set);
    struct cf_interp_result r;
    struct cf_interp_packet pkt;
    cf_interp_result_init(&r);
    memset(&pkt, 0, sizeof pkt);
    pkt.nw_src = 1;
    pkt.nw_proto = 6;

    pkt.tp_dst = 80;
    ck_assert(cf_interp_run(in, &pkt, &r));
    ck_assert_uint_eq(r.regs[1], 7);
    /* Conjunction 7 matches only its first clause: falls through to 8. */
    pkt.tp_dst = 81;
    ck_assert(cf_interp_run(in, &pkt, &r));
    ck_assert_uint_eq(r.regs[1], 8);
    pkt.tp_dst = 82;
    ck_assert(cf_interp_run(in, &pkt, &r));
    ck_assert_uint_eq(r.regs[1], 99);
    ck_assert_uint_eq(r.n_hits, 2);
    pkt.tp_dst = 83;
    ck_assert(!cf_interp_run(in, &pkt, &r));
    ck_assert_uint_eq(r.n_hits, 0);
    pkt.nw_src = 2;
    pkt.tp_dst = 80;
    ck_assert(!cf_interp_run(in, &pkt, &r));
    cf_interp_result_destroy(&r);
    cf_interp_destroy(in);
    cflow_set_destroy(&set);
}
END_TEST

START_TEST(test_interp_ct_state)
{
    struct cflow_set set;
    cflow_set_init(&set);
    struct cflow *f = cflow_set_add(&set, 0, 0, 1);
    struct cflow_action a;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_CT;
    a.table = 1;
    a.zone = 3;
    cflow_add_action(f, &a);
    f = cflow_set_add(&set, 1, 10, 1);
    f->match.fields = CFLOW_F_CT_STATE;
    f->match.ct_state = CFLOW_CS_NEW | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_NEW | CFLOW_CS_TRK;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_CT_COMMIT;
    cflow_add_action(f, &a);
    a.type = CFLOW_A_NORMAL;
    cflow_add_action(f, &a);
    f = cflow_set_add(&set, 1, 0, 1);
    a.type = CFLOW_A_DROP;
    cflow_add_action(f, &a);

    struct cf_interp *in = cf_interp_create(&set);
    struct cf_interp_result r;
    struct cf_interp_packet pkt;
    cf_interp_result_init(&r);
    memset(&pkt, 0, sizeof pkt);
    ck_assert(cf_interp_run(in, &pkt, &r));       /* 0 means +new. */
    ck_assert(r.committed);
    pkt.ct_state = CFLOW_CS_EST;
    ck_assert(!cf_interp_run(in, &pkt, &r));
    ck_assert(!r.committed);
    cf_interp_result_destroy(&r);
    cf_interp_destroy(in);
    cflow_set_destroy(&set);
}
END_TEST

/* The denied mark (cflow.h, "Cross-node state"): a ct_mark match, ct(commit)
 * setting or clearing the mark, the "denied reply" learn action. */
START_TEST(test_format_ct_mark)
{
    struct cflow_set set;
    cflow_set_init(&set);
    struct cflow *f = cflow_set_add(&set, 2, 195, 0xcf00000000000001ULL);
    f->match.fields = CFLOW_F_CT_STATE | CFLOW_F_CT_MARK;
    f->match.ct_state = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_state_mask = CFLOW_CS_EST | CFLOW_CS_RPL | CFLOW_CS_TRK;
    f->match.ct_mark = CFLOW_CT_MARK_DENIED;
    f->match.ct_mark_mask = CFLOW_CT_MARK_DENIED;
    struct cflow_action a;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_DROP;
    cflow_add_action(f, &a);
    struct cf_ds ds = CF_DS_INIT;
    cflow_format(f, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds),
                     "table=2, priority=195, cookie=0xcf00000000000001, "
                     "ct_state=+est+rpl+trk,ct_mark=0x1/0x1 actions=drop");

    /* An exact mark; commits that set, clear or leave the mark. */
    f = cflow_set_add(&set, 7, 220, 0xcf00000000000001ULL);
    f->match.fields = CFLOW_F_CT_MARK;
    f->match.ct_mark = 5;
    f->match.ct_mark_mask = UINT32_MAX;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_CT_COMMIT;
    a.zone = 3;
    a.value = CFLOW_CT_MARK_DENIED;
    a.mask = CFLOW_CT_MARK_DENIED;
    cflow_add_action(f, &a);
    a.value = 0;
    cflow_add_action(f, &a);
    a.mask = 0;
    a.value = 7;            /* Ignored without a mask. */
    cflow_add_action(f, &a);
    cf_ds_clear(&ds);
    cflow_format(f, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds),
                     "table=7, priority=220, cookie=0xcf00000000000001, "
                     "ct_mark=0x5 actions=ct(commit,zone=3,exec(set_field:"
                     "0x1/0x1->ct_mark)),ct(commit,zone=3,exec(set_field:"
                     "0x0/0x1->ct_mark)),ct(commit,zone=3)");

    /* The mark is part of the key and of the actions' identity. */
    struct cflow *g = cflow_set_add(&set, 7, 220, 0xcf00000000000001ULL);
    f = &set.flows[1];
    g->match = f->match;
    ck_assert_int_eq(cflow_key_compare(f, g), 0);
    ck_assert_uint_eq(cflow_key_hash(f, 0), cflow_key_hash(g, 0));
    g->match.ct_mark = 4;
    ck_assert_int_ne(cflow_key_compare(f, g), 0);
    g->match.ct_mark = 5;
    for (size_t i = 0; i < f->n_actions; i++) {
        cflow_add_action(g, &f->actions[i]);
    }
    ck_assert(cflow_equal(f, g));
    g->actions[1].mask = 3;
    ck_assert(!cflow_equal(f, g));
    g->actions[1].mask = CFLOW_CT_MARK_DENIED;
    g->actions[0].value = 0;
    ck_assert(!cflow_equal(f, g));
    g->actions[0].value = CFLOW_CT_MARK_DENIED;
    g->actions[2].value = 9;    /* No mask: the value does not count. */
    ck_assert(cflow_equal(f, g));

    /* The "denied reply" learn: reg0 bit 6, kind LEARNED_DENY. */
    f = cflow_set_add(&set, 7, 230, cflow_cookie(0, CFLOW_DIR_NONE, 0,
                                                 CFLOW_KIND_PIPELINE));
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_LEARN_SCTP_DENY;
    a.table = 9;
    a.value = 120;
    cflow_add_action(f, &a);
    cf_ds_clear(&ds);
    cflow_format_actions(f, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds),
                     "learn(table=9,idle_timeout=120,priority=100,"
                     "cookie=0xcf00000000000008,eth_type=0x800,nw_proto=132,"
                     "NXM_OF_IP_SRC[]=NXM_OF_IP_DST[],"
                     "NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],"
                     "OXM_OF_SCTP_SRC[]=OXM_OF_SCTP_DST[],"
                     "OXM_OF_SCTP_DST[]=OXM_OF_SCTP_SRC[],"
                     "load:0x1->NXM_NX_REG0[6])");
    ck_assert_uint_eq(cflow_learned_deny_cookie(0xcf00002a10030003ULL),
                      0xcf00002a10030008ULL);
    cf_ds_destroy(&ds);
    cflow_set_destroy(&set);
}
END_TEST

/* The interpreter's ct_mark: matched after ct() (0 before), changed by
 * ct(commit) with a mask; the learned "denied reply" flow sets reg0 bit
 * 6. */
START_TEST(test_interp_ct_mark)
{
    struct cflow_set set;
    cflow_set_init(&set);
    struct cflow_action a;
    /* Table 0: a mark before ct() never matches; then ct(table=1). */
    struct cflow *f = cflow_set_add(&set, 0, 10, 1);
    f->match.fields = CFLOW_F_CT_MARK;
    f->match.ct_mark = 1;
    f->match.ct_mark_mask = 1;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_DROP;
    cflow_add_action(f, &a);
    f = cflow_set_add(&set, 0, 0, 1);
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_CT;
    a.table = 1;
    cflow_add_action(f, &a);
    /* Table 1: marked: commit clearing the mark, then NORMAL; unmarked:
     * commit setting it, drop. */
    f = cflow_set_add(&set, 1, 10, 1);
    f->match.fields = CFLOW_F_CT_MARK;
    f->match.ct_mark = 1;
    f->match.ct_mark_mask = 1;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_CT_COMMIT;
    a.mask = 1;
    cflow_add_action(f, &a);
    a.type = CFLOW_A_NORMAL;
    cflow_add_action(f, &a);
    f = cflow_set_add(&set, 1, 0, 1);
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_CT_COMMIT;
    a.value = 1;
    a.mask = 1;
    cflow_add_action(f, &a);
    struct cf_interp *in = cf_interp_create(&set);
    struct cf_interp_result r;
    struct cf_interp_packet pkt;
    cf_interp_result_init(&r);
    memset(&pkt, 0, sizeof pkt);
    pkt.nw_proto = 17;
    ck_assert(!cf_interp_run(in, &pkt, &r));
    ck_assert(r.committed);
    ck_assert_uint_eq(r.ct_mark, 1);
    pkt.ct_mark = 3;
    ck_assert(cf_interp_run(in, &pkt, &r));
    ck_assert(r.committed);
    ck_assert_uint_eq(r.ct_mark, 2);
    cf_interp_destroy(in);

    cflow_set_destroy(&set);

    /* sctp_reply: the learned "denied reply" bit, for SCTP only.  Table
     * 0: resubmit(,sctp_reply), goto 1; table 1: bit 6 drops, the rest
     * NORMAL. */
    cflow_set_init(&set);
    f = cflow_set_add(&set, 0, 0, 1);
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_RESUBMIT;
    a.table = CFLOW_T_SCTP_REPLY;
    cflow_add_action(f, &a);
    a.type = CFLOW_A_GOTO;
    a.table = 1;
    cflow_add_action(f, &a);
    f = cflow_set_add(&set, 1, 10, 1);
    f->match.fields = CFLOW_F_REG0;
    f->match.reg0 = CFLOW_REG0_SCTP_DENIED;
    f->match.reg0_mask = CFLOW_REG0_SCTP_DENIED;
    memset(&a, 0, sizeof a);
    a.type = CFLOW_A_DROP;
    cflow_add_action(f, &a);
    f = cflow_set_add(&set, 1, 0, 1);
    a.type = CFLOW_A_NORMAL;
    cflow_add_action(f, &a);
    in = cf_interp_create(&set);
    memset(&pkt, 0, sizeof pkt);
    pkt.nw_proto = 132;
    ck_assert(cf_interp_run(in, &pkt, &r));
    pkt.sctp_learned_deny = true;
    ck_assert(!cf_interp_run(in, &pkt, &r));
    ck_assert_uint_eq(r.regs[0], CFLOW_REG0_SCTP_DENIED);
    pkt.nw_proto = 6;
    ck_assert(cf_interp_run(in, &pkt, &r));
    cf_interp_destroy(in);
    cf_interp_result_destroy(&r);
    cflow_set_destroy(&set);
}
END_TEST

static Suite *
cflow_suite(void)
{
    Suite *s = suite_create("cflow");
    TCase *tc = tcase_create("cflow");
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_interp_conjunctions);
    tcase_add_test(tc, test_interp_ct_state);
    tcase_add_test(tc, test_format_ct_mark);
    tcase_add_test(tc, test_interp_ct_mark);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(cflow_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
