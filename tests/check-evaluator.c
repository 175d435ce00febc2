/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of the reference evaluator (controller/evaluator.c): each
 * test states one rule of NetworkPolicy v1 semantics and checks the
 * verdicts it implies, including the explanation text of explain.
 */
#include "conjflow-config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-builder.h"
#include "conjflow/cfutil.h"
#include "conjflow/evaluator.h"

/* The cluster of every test: namespaces x (team=a) and y (team=b), pods
 * x/a (app=a), x/b (app=b), y/a (app=a), y/b (app=b) on nodes n1/n2, and
 * host-network pod y/h on n1. */
static void
base(struct cf_cluster *cl)
{
    cf_cluster_init(cl);
    tb_node(cl, "n1", 1, "192.168.0.1");
    tb_node(cl, "n2", 2, "192.168.0.2");
    tb_ns(cl, "x", "team=a");
    tb_ns(cl, "y", "team=b");
    tb_pod(cl, "x", "a", "n1", "10.0.0.1", "app=a", "http:80/TCP");
    tb_pod(cl, "x", "b", "n2", "10.0.0.2", "app=b", "http:8080/TCP");
    tb_pod(cl, "y", "a", "n1", "10.0.1.1", "app=a", "http:80/UDP");
    tb_pod(cl, "y", "b", "n2", "10.0.1.2", "app=b", "");
    struct cf_pod *h = tb_pod(cl, "y", "h", "n1", "192.168.0.1", "app=a",
                              "http:80/TCP");
    h->host_network = true;
}

/* The verdict from pod 'from' to pod 'to' ("ns/name") on 'port'/'proto'. */
static bool
ok(const struct cf_cluster *cl, const char *from, const char *to,
   uint16_t port, enum cf_proto proto)
{
    char ns1[8], ns2[8];
    const char *n1 = strchr(from, '/') + 1, *n2 = strchr(to, '/') + 1;
    snprintf(ns1, sizeof ns1, "%.*s", (int) (n1 - from - 1), from);
    snprintf(ns2, sizeof ns2, "%.*s", (int) (n2 - to - 1), to);
    const struct cf_pod *src = cf_cluster_find_pod(cl, ns1, n1);
    const struct cf_pod *dst = cf_cluster_find_pod(cl, ns2, n2);
    ck_assert(src && dst);
    return cf_eval_pods(cl, src, dst, port, proto, NULL, NULL);
}

START_TEST(test_not_isolated)
{
    struct cf_cluster cl;
    base(&cl);
    cf_cluster_sort(&cl);
    ck_assert(ok(&cl, "x/a", "y/b", 1234, CF_PROTO_UDP));
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_policy_types)
{
    struct cf_cluster cl;
    base(&cl);
    /* Egress-only isolation of x/a: ingress to it stays open. */
    tb_policy(&cl, "x", "eg", "app=a", false, true);
    cf_cluster_assign_ids(&cl);
    ck_assert(ok(&cl, "y/b", "x/a", 80, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "x/a", "y/b", 80, CF_PROTO_TCP));
    /* A policy selects pods of its own namespace only. */
    ck_assert(!ok(&cl, "x/a", "x/b", 80, CF_PROTO_TCP));
    ck_assert(ok(&cl, "y/a", "x/b", 80, CF_PROTO_TCP));
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_and_vs_or_peers)
{
    struct cf_cluster cl;
    base(&cl);
    /* One peer with both selectors: app=a pods in team=b namespaces. */
    struct cf_policy *p = tb_policy(&cl, "x", "and", "app=b", true, false);
    tb_peer_sel(tb_rule(p, false), "team=b", "app=a");
    cf_cluster_assign_ids(&cl);
    ck_assert(ok(&cl, "y/a", "x/b", 80, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "x/a", "x/b", 80, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "y/b", "x/b", 80, CF_PROTO_TCP));
    cf_cluster_destroy(&cl);

    /* Two peers: team=b namespaces OR app=a pods of the policy's ns. */
    base(&cl);
    p = tb_policy(&cl, "x", "or", "app=b", true, false);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, "team=b", NULL);
    tb_peer_sel(r, NULL, "app=a");
    cf_cluster_assign_ids(&cl);
    ck_assert(ok(&cl, "y/a", "x/b", 80, CF_PROTO_TCP));
    ck_assert(ok(&cl, "x/a", "x/b", 80, CF_PROTO_TCP));
    ck_assert(ok(&cl, "y/b", "x/b", 80, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "x/b", "x/b", 80, CF_PROTO_TCP));
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_ipblock_except)
{
    struct cf_cluster cl;
    base(&cl);
    struct cf_policy *p = tb_policy(&cl, "x", "blk", "app=a", true, false);
    const char *except[] = { "10.0.1.2/32" };
    tb_peer_ipblock(tb_rule(p, false), "10.0.1.0/24", except, 1);
    cf_cluster_assign_ids(&cl);
    ck_assert(ok(&cl, "y/a", "x/a", 80, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "y/b", "x/a", 80, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "x/b", "x/a", 80, CF_PROTO_TCP));

    /* Addresses outside the cluster. */
    struct cf_addr addr;
    ck_assert(!cf_addr_parse("10.0.1.77", &addr));
    const struct cf_pod *xa = cf_cluster_find_pod(&cl, "x", "a");
    ck_assert(cf_eval_addr(&cl, NULL, xa, &addr, 80, CF_PROTO_TCP, NULL,
                           NULL));
    ck_assert(!cf_addr_parse("10.0.2.77", &addr));
    ck_assert(!cf_eval_addr(&cl, NULL, xa, &addr, 80, CF_PROTO_TCP, NULL,
                            NULL));
    /* x/a's egress is not isolated: it reaches anything. */
    ck_assert(cf_eval_addr(&cl, xa, NULL, &addr, 80, CF_PROTO_TCP, NULL,
                           NULL));
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_ports)
{
    struct cf_cluster cl;
    base(&cl);
    struct cf_policy *p = tb_policy(&cl, "x", "ports", "", true, true);
    struct cf_rule *r = tb_rule(p, false);
    tb_port_number(r, CF_PROTO_TCP, 1000, 1010);
    tb_port_all(r, CF_PROTO_UDP);
    /* Egress by name: resolved against the destination pod. */
    r = tb_rule(p, true);
    tb_port_name(r, CF_PROTO_TCP, "http");
    cf_cluster_assign_ids(&cl);
    ck_assert(ok(&cl, "y/b", "x/a", 1005, CF_PROTO_TCP));
    ck_assert(ok(&cl, "y/b", "x/a", 1010, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "y/b", "x/a", 1011, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "y/b", "x/a", 1005, CF_PROTO_SCTP));
    ck_assert(ok(&cl, "y/b", "x/a", 4242, CF_PROTO_UDP));
    /* x/a -> x/b: x/b's http is 8080 (and x/b's ingress allows 1000-1010
     * TCP only, so 8080 is denied there). */
    ck_assert(!ok(&cl, "x/a", "y/a", 80, CF_PROTO_TCP));   /* UDP http. */
    ck_assert(ok(&cl, "x/b", "y/h", 80, CF_PROTO_TCP) == false);
    struct cf_eval_verdict v;
    const struct cf_pod *xa = cf_cluster_find_pod(&cl, "x", "a");
    const struct cf_pod *xb = cf_cluster_find_pod(&cl, "x", "b");
    cf_eval_pods(&cl, xa, xb, 8080, CF_PROTO_TCP, &v, NULL);
    ck_assert(v.egress.isolated && v.egress.allowed);
    ck_assert(v.ingress.isolated && !v.ingress.allowed);
    cf_eval_pods(&cl, xa, xb, 80, CF_PROTO_TCP, &v, NULL);
    ck_assert(!v.egress.allowed);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_host_network_and_node)
{
    struct cf_cluster cl;
    base(&cl);
    /* Everything in y is isolated both ways, allowing nothing. */
    tb_policy(&cl, "y", "deny", "", true, true);
    cf_cluster_assign_ids(&cl);
    /* y/h (host network) is not selected: it is not isolated. */
    ck_assert(ok(&cl, "x/b", "y/h", 80, CF_PROTO_TCP));
    /* y/a may still talk to its node n1 (192.168.0.1 = y/h's address)
     * and hear from it. */
    ck_assert(ok(&cl, "y/a", "y/h", 80, CF_PROTO_TCP));
    ck_assert(ok(&cl, "y/h", "y/a", 80, CF_PROTO_TCP));
    /* y/b is on n2: n1's address is not its node's. */
    ck_assert(!ok(&cl, "y/h", "y/b", 80, CF_PROTO_TCP));

    struct cf_eval_verdict v;
    const struct cf_pod *ya = cf_cluster_find_pod(&cl, "y", "a");
    const struct cf_pod *yh = cf_cluster_find_pod(&cl, "y", "h");
    cf_eval_pods(&cl, yh, ya, 80, CF_PROTO_TCP, &v, NULL);
    ck_assert(v.ingress.by_node && v.ingress.isolated);
    cf_cluster_destroy(&cl);

    /* A podSelector never selects a host-network peer. */
    base(&cl);
    struct cf_policy *p = tb_policy(&cl, "x", "from-a", "app=b", true,
                                    false);
    tb_peer_sel(tb_rule(p, false), "", "app=a");
    cf_cluster_assign_ids(&cl);
    ck_assert(ok(&cl, "y/a", "x/b", 80, CF_PROTO_TCP));
    ck_assert(!ok(&cl, "y/h", "x/b", 80, CF_PROTO_TCP));
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_union_and_why)
{
    struct cf_cluster cl;
    base(&cl);
    struct cf_policy *p = tb_policy(&cl, "x", "one", "app=a", true, false);
    tb_port_number(tb_rule(p, false), CF_PROTO_TCP, 80, 0);
    p = tb_policy(&cl, "x", "two", "", true, false);
    tb_rule(p, false);
    tb_port_number(tb_rule(p, false), CF_PROTO_TCP, 81, 0);
    p = tb_policy(&cl, "x", "three", "app=b", true, false);
    cf_cluster_assign_ids(&cl);

    const struct cf_pod *yb = cf_cluster_find_pod(&cl, "y", "b");
    const struct cf_pod *xa = cf_cluster_find_pod(&cl, "x", "a");
    struct cf_ds why = CF_DS_INIT;
    struct cf_eval_verdict v;
    ck_assert(cf_eval_pods(&cl, yb, xa, 81, CF_PROTO_TCP, &v, &why));
    ck_assert_ptr_nonnull(v.ingress.policy);
    ck_assert_str_eq(v.ingress.policy->name, "two");
    ck_assert_uint_eq(v.ingress.rule, 0);
    ck_assert_msg(strstr(cf_ds_cstr(&why), "networkpolicy x/one"), "%s",
                  cf_ds_cstr(&why));
    ck_assert(strstr(cf_ds_cstr(&why), "allowed by networkpolicy x/two "
                     "ingress rule 0"));
    cf_ds_clear(&why);
    /* x/b is isolated by "two" and "three"; "two" allows everything. */
    ck_assert(ok(&cl, "y/b", "x/b", 9, CF_PROTO_UDP));
    cf_cluster_destroy(&cl);

    base(&cl);
    tb_policy(&cl, "x", "deny", "", true, false);
    cf_cluster_assign_ids(&cl);
    yb = cf_cluster_find_pod(&cl, "y", "b");
    xa = cf_cluster_find_pod(&cl, "x", "a");
    ck_assert(!cf_eval_pods(&cl, yb, xa, 80, CF_PROTO_TCP, &v, &why));
    ck_assert(strstr(cf_ds_cstr(&why), "denied: no rule allows y/b"));
    ck_assert(strstr(cf_ds_cstr(&why), "verdict: denied"));
    cf_ds_destroy(&why);
    cf_cluster_destroy(&cl);
}
END_TEST

static Suite *
evaluator_suite(void)
{
    Suite *s = suite_create("evaluator");
    TCase *tc = tcase_create("evaluator");
    tcase_add_test(tc, test_not_isolated);
    tcase_add_test(tc, test_policy_types);
    tcase_add_test(tc, test_and_vs_or_peers);
    tcase_add_test(tc, test_ipblock_except);
    tcase_add_test(tc, test_ports);
    tcase_add_test(tc, test_host_network_and_node);
    tcase_add_test(tc, test_union_and_why);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(evaluator_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
