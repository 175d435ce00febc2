/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of the compiler's audit-log flows (conjflow/cflow.h,
 * CFLOW_A_CONTROLLER): a policy with conjflow.io/log: "true" marks its
 * allow flows (reg0 bit 3) so that commit sends exactly its new
 * connections to conjflowd, and cf_compiler_set_log_denies() turns every
 * isolation drop into a metered controller() that still drops.  Logging
 * never changes a verdict: every pair of pods, several ports and
 * protocols, is checked against the reference evaluator with logging on
 * and off, and the flows with and without it differ only in those
 * actions.
 */
#include "conjflow-config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-builder.h"
#include "conjflow/cflow.h"
#include "conjflow/cfutil.h"
#include "conjflow/compiler.h"
#include "conjflow/evaluator.h"
#include "conjflow/interp.h"

/* Builds the test cluster into 'cl' (sorted, ids assigned): namespaces x
 * and y, two nodes, four pods; x/web (logged) lets clients of x reach web
 * on TCP 80; y/db (not logged) isolates y's pods for ingress and egress,
 * letting clients of any namespace in on any port and y's pods out to x's
 * web on TCP 80 and to y's db on any port. */
static void
build_cluster(struct cf_cluster *cl, bool log_web, bool log_db)
{
    cf_cluster_init(cl);
    tb_ns(cl, "x", "team=x");
    tb_ns(cl, "y", "team=y");
    tb_node(cl, "n1", 1, "192.168.0.1");
    tb_node(cl, "n2", 2, "192.168.0.2");
    tb_pod(cl, "x", "a", "n1", "10.0.0.1", "app=client", NULL);
    tb_pod(cl, "x", "b", "n1", "10.0.0.2", "app=web", NULL);
    tb_pod(cl, "y", "c", "n2", "10.0.0.3", "app=db", NULL);
    tb_pod(cl, "y", "d", "n2", "10.0.0.4", "app=client", NULL);

    struct cf_policy *p = tb_policy(cl, "x", "web", "app=web", true, false);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, NULL, "app=client");
    tb_port_number(r, CF_PROTO_TCP, 80, 0);
    p->log = log_web;

    p = tb_policy(cl, "y", "db", "", true, true);
    r = tb_rule(p, false);
    tb_peer_sel(r, "", "app=client");
    r = tb_rule(p, true);
    tb_peer_sel(r, "team=x", "app=web");
    tb_port_number(r, CF_PROTO_TCP, 80, 0);
    r = tb_rule(p, true);
    tb_peer_sel(r, NULL, "app=db");
    p->log = log_db;

    cf_cluster_sort(cl);
    cf_cluster_assign_ids(cl);
}

/* Compiles node 'node_idx' of 'cl' with 'log_denies' into 'flows' (and
 * its ports into 'ports'). */
static void
compile_node(const struct cf_cluster *cl, size_t node_idx, bool log_denies,
             struct cflow_set *flows, struct cf_node_ports *ports)
{
    struct cf_compiler *c = cf_compiler_create(cl);
    cf_compiler_set_log_denies(c, log_denies);
    cflow_set_init(flows);
    cf_node_ports_init(ports);
    tb_node_ports(cl, cl->nodes[node_idx], ports);
    char *error = cf_compiler_node_flows(c, cl->nodes[node_idx], ports,
                                         flows);
    ck_assert_msg(!error, "%s", error ? error : "");
    cf_compiler_destroy(c);
}

/* Returns the controller() action of 'f', or NULL. */
static const struct cflow_action *
controller_action(const struct cflow *f)
{
    for (size_t i = 0; i < f->n_actions; i++) {
        if (f->actions[i].type == CFLOW_A_CONTROLLER) {
            return &f->actions[i];
        }
    }
    return NULL;
}

/* Runs a new connection's first packet from 'src' to 'dst' on a node whose
 * flows are 'flows' (both pods bound there, per 'ports').  Returns whether
 * it is forwarded; '*auditp' is the enum cflow_audit of the controller()
 * action it hit (0 if none). */
static bool
run_local(const struct cflow_set *flows, const struct cf_node_ports *ports,
          const struct cf_pod *src, const struct cf_pod *dst, uint16_t port,
          enum cf_proto proto, int *auditp)
{
    struct cf_interp_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    ck_assert(tb_pod_port(ports, src, &pkt.in_port, pkt.dl_src));
    pkt.nw_src = cf_addr_ipv4(&src->ips[0]);
    pkt.nw_dst = cf_addr_ipv4(&dst->ips[0]);
    pkt.nw_proto = proto;
    pkt.tp_dst = port;
    struct cf_interp *in = cf_interp_create(flows);
    struct cf_interp_result r;
    cf_interp_result_init(&r);
    bool fwd = cf_interp_run(in, &pkt, &r);
    *auditp = 0;
    for (size_t i = 0; i < r.n_hits; i++) {
        const struct cflow_action *a = controller_action(
            &flows->flows[r.hits[i]]);
        if (a) {
            ck_assert_int_eq(a->id, CFLOW_AUDIT_METER_ID);
            *auditp = a->value;
        }
    }
    cf_interp_result_destroy(&r);
    cf_interp_destroy(in);
    return fwd;
}

/* Logging on any policy never changes a verdict, through one node or two:
 * the flows agree with the evaluator. */
START_TEST(test_verdicts_unchanged)
{
    static const uint16_t ports[] = { 80, 81 };
    static const enum cf_proto protos[] = { CF_PROTO_TCP, CF_PROTO_UDP,
                                            CF_PROTO_SCTP };
    for (int variant = 0; variant < 4; variant++) {
        struct cf_cluster cl;
        build_cluster(&cl, variant & 1, variant & 2);
        struct tb_world w;
        char *error = tb_world_build(&w, &cl);
        ck_assert_msg(!error, "%s", error ? error : "");
        size_t n_allowed = 0, n_checks = 0;
        for (size_t i = 0; i < cl.n_pods; i++) {
            for (size_t j = 0; j < cl.n_pods; j++) {
                if (i == j) {
                    continue;
                }
                for (size_t k = 0; k < CF_ARRAY_SIZE(ports); k++) {
                    for (size_t m = 0; m < CF_ARRAY_SIZE(protos); m++) {
                        struct cf_eval_verdict v;
                        bool want = cf_eval_pods(&cl, cl.pods[i],
                                                 cl.pods[j], ports[k],
                                                 protos[m], &v, NULL);
                        bool got = tb_world_send(&w, cl.pods[i], cl.pods[j],
                                                 ports[k], protos[m], 0,
                                                 false);
                        ck_assert_msg(got == want, "variant %d: %s/%s -> "
                                      "%s/%s %u/%d: flows %d, evaluator %d",
                                      variant, cl.pods[i]->ns,
                                      cl.pods[i]->name, cl.pods[j]->ns,
                                      cl.pods[j]->name, ports[k],
                                      protos[m], got, want);
                        n_allowed += want;
                        n_checks++;
                    }
                }
            }
        }
        /* Both verdicts are represented. */
        ck_assert_uint_gt(n_allowed, 0);
        ck_assert_uint_lt(n_allowed, n_checks);
        tb_world_destroy(&w);
        cf_cluster_destroy(&cl);
    }
}
END_TEST

/* Exactly the new connections a logged policy's rule allows reach the
 * audit log; other allows do not; denies only with log_denies. */
START_TEST(test_audit_marks)
{
    struct cf_cluster cl;
    build_cluster(&cl, true, false);
    const struct cf_pod *a = cf_cluster_find_pod(&cl, "x", "a");
    const struct cf_pod *b = cf_cluster_find_pod(&cl, "x", "b");
    const struct cf_pod *c = cf_cluster_find_pod(&cl, "y", "c");
    const struct cf_pod *d = cf_cluster_find_pod(&cl, "y", "d");
    size_t n1 = strcmp(cl.nodes[0]->name, "n1") ? 1 : 0;

    for (int log_denies = 0; log_denies < 2; log_denies++) {
        struct cflow_set f1, f2;
        struct cf_node_ports p1, p2;
        compile_node(&cl, n1, log_denies, &f1, &p1);
        compile_node(&cl, !n1, log_denies, &f2, &p2);
        int audit;

        /* x/web (logged) allows x/a -> x/b on TCP 80. */
        ck_assert(run_local(&f1, &p1, a, b, 80, CF_PROTO_TCP, &audit));
        ck_assert_int_eq(audit, CFLOW_AUDIT_ALLOW);
        /* Not on UDP 80: x/b is isolated, a deny. */
        ck_assert(!run_local(&f1, &p1, a, b, 80, CF_PROTO_UDP, &audit));
        ck_assert_int_eq(audit, log_denies ? CFLOW_AUDIT_DENY : 0);
        /* x/b -> x/a: nothing isolates it, nothing logs. */
        ck_assert(run_local(&f1, &p1, b, a, 80, CF_PROTO_TCP, &audit));
        ck_assert_int_eq(audit, 0);
        /* y/db (not logged) allows y/d -> y/c: no audit. */
        ck_assert(run_local(&f2, &p2, d, c, 81, CF_PROTO_UDP, &audit));
        ck_assert_int_eq(audit, 0);
        /* y/c -> y/d: y/db's egress allows only x's web: an egress deny. */
        ck_assert(!run_local(&f2, &p2, c, d, 80, CF_PROTO_TCP, &audit));
        ck_assert_int_eq(audit, log_denies ? CFLOW_AUDIT_DENY : 0);

        /* The flows with and without log_denies differ only in the
         * isolation drops' actions. */
        struct cflow_set g1;
        struct cf_node_ports q1;
        compile_node(&cl, n1, !log_denies, &g1, &q1);
        ck_assert_uint_eq(f1.n, g1.n);
        size_t n_diff = 0;
        for (size_t i = 0; i < f1.n; i++) {
            const struct cflow *x = &f1.flows[i], *y = &g1.flows[i];
            ck_assert_int_eq(cflow_key_compare(x, y), 0);
            if (!cflow_equal(x, y)) {
                n_diff++;
                ck_assert(x->table == CFLOW_T_INGRESS_ISOLATION
                          || x->table == CFLOW_T_EGRESS_ISOLATION);
                const struct cflow *on = log_denies ? x : y;
                const struct cflow *off = log_denies ? y : x;
                /* The audit copy, then the deny (reg0 bit 5, commit). */
                ck_assert_uint_eq(on->n_actions, off->n_actions + 1);
                ck_assert_int_eq(on->actions[0].type, CFLOW_A_CONTROLLER);
                ck_assert_int_eq(on->actions[0].value, CFLOW_AUDIT_DENY);
            }
        }
        ck_assert_uint_eq(n_diff, 1);   /* x/b's ingress isolation. */

        /* The text form is ovs-ofctl's. */
        struct cf_ds s = CF_DS_INIT;
        tb_format_flows(log_denies ? &f1 : &g1, &s);
        ck_assert_ptr_nonnull(strstr(cf_ds_cstr(&s),
                                     "actions=controller(userdata=cf.00.00"
                                     ".02,meter_id=207)"));
        ck_assert_ptr_nonnull(strstr(cf_ds_cstr(&s),
                                     "actions=controller(userdata=cf.00.00"
                                     ".01,meter_id=207),resubmit(,10),"
                                     "set_field:0x10/0x10->reg0,"
                                     "resubmit(,10),ct(commit,"));
        cf_ds_destroy(&s);

        cflow_set_destroy(&f1);
        cflow_set_destroy(&f2);
        cflow_set_destroy(&g1);
        cf_node_ports_destroy(&p1);
        cf_node_ports_destroy(&p2);
        cf_node_ports_destroy(&q1);
    }
    cf_cluster_destroy(&cl);
}
END_TEST

/* Returns the suite. */
static Suite *
observe_suite(void)
{
    Suite *s = suite_create("observe");
    TCase *tc = tcase_create("audit");
    tcase_add_test(tc, test_verdicts_unchanged);
    tcase_add_test(tc, test_audit_marks);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(observe_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
