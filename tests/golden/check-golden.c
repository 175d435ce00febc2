/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Golden tests of the compiler: small clusters built below go in, the
 * sorted flow text of one node (ovs-ofctl syntax) comes out and must equal
 * tests/golden/<name>.flows byte for byte.  The expected files are meant
 * to be read: each shows one feature of the compilation.
 *
 * After an intended change of the output, regenerate them with
 *   CF_GOLDEN_UPDATE=1 srcdir=.. tests/golden/check-golden
 * from the build directory, and review the diff.
 *
 * If ovs-ofctl is installed, the text must also parse with
 * "ovs-ofctl -O OpenFlow15 parse-flows" (the format conjflowctl prints and
 * "ovs-ofctl --bundle replace-flows" loads).
 */
#include "conjflow-config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../cluster-builder.h"
#include "conjflow/cfutil.h"
#include "conjflow/compiler.h"

/* Compiles node 'node' of 'cl' (sorted, ids assigned) and compares the
 * text with tests/golden/<name>.flows. */
static void
golden_compare(struct cf_cluster *cl, const char *node_name,
               const char *name)
{
    const struct cf_node *node = cf_cluster_find_node(cl, node_name);
    ck_assert(node);
    struct cf_compiler *c = cf_compiler_create(cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    tb_node_ports(cl, node, &ports);
    /* An unknown bound port: nothing but drop. */
    ports.bindings = cf_xrealloc(ports.bindings, (ports.n_bindings + 1)
                                 * sizeof *ports.bindings);
    memset(&ports.bindings[ports.n_bindings], 0, sizeof *ports.bindings);
    ports.bindings[ports.n_bindings].pod = cf_xstrdup("zz/gone");
    ports.bindings[ports.n_bindings].ofport = 99;
    ports.n_bindings++;

    cflow_set_init(&set);
    char *error = cf_compiler_node_flows(c, node, &ports, &set);
    ck_assert_msg(!error, "%s", error ? error : "");
    struct cf_ds text = CF_DS_INIT;
    tb_format_flows(&set, &text);

    const char *srcdir = getenv("srcdir");
    char *path = cf_xasprintf("%s/tests/golden/%s.flows",
                              srcdir ? srcdir : ".", name);
    if (getenv("CF_GOLDEN_UPDATE")) {
        FILE *f = fopen(path, "w");
        ck_assert_msg(f, "%s: cannot write", path);
        fputs(cf_ds_cstr(&text), f);
        fclose(f);
    }
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "%s: cannot read (set srcdir)", path);
    struct cf_ds expected = CF_DS_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        cf_ds_put_buf(&expected, buf, n);
    }
    fclose(f);
    if (strcmp(cf_ds_cstr(&expected), cf_ds_cstr(&text))) {
        fprintf(stderr, "--- %s differs; got:\n%s", path,
                cf_ds_cstr(&text));
    }
    ck_assert_str_eq(cf_ds_cstr(&expected), cf_ds_cstr(&text));

    /* Loadable by ovs-ofctl, where it is installed. */
    if (!system("ovs-ofctl --version >/dev/null 2>&1")) {
        char tmp[] = "golden-XXXXXX";
        int fd = mkstemp(tmp);
        ck_assert(fd >= 0);
        ck_assert(write(fd, text.s, text.len) == (ssize_t) text.len);
        close(fd);
        char *cmd = cf_xasprintf("ovs-ofctl -O OpenFlow15 parse-flows %s "
                                 ">/dev/null", tmp);
        int rc = system(cmd);
        unlink(tmp);
        free(cmd);
        ck_assert_msg(rc == 0, "%s: ovs-ofctl parse-flows failed", name);
    }

    free(path);
    cf_ds_destroy(&expected);
    cf_ds_destroy(&text);
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_compiler_destroy(c);
}

/* A namespace with two pods on node n1 and one on n2. */
static void
base_cluster(struct cf_cluster *cl)
{
    cf_cluster_init(cl);
    tb_node(cl, "n1", 1, "192.168.0.1");
    tb_node(cl, "n2", 2, "192.168.0.2");
    tb_ns(cl, "x", "team=a");
    tb_ns(cl, "y", "team=b");
    tb_pod(cl, "x", "web", "n1", "10.0.0.1", "app=web",
           "http:80/TCP,sc:9000/SCTP");
    tb_pod(cl, "x", "db", "n1", "10.0.0.2", "app=db", "");
    tb_pod(cl, "y", "client", "n2", "10.0.1.3", "app=client",
           "http:8080/TCP");
}

/* Default deny: isolation flows only (and the pipeline). */
START_TEST(test_default_deny)
{
    struct cf_cluster cl;
    base_cluster(&cl);
    tb_policy(&cl, "x", "deny-all", "", true, true);
    cf_cluster_assign_ids(&cl);
    golden_compare(&cl, "n1", "default-deny");
    cf_cluster_destroy(&cl);
}
END_TEST

/* A three-clause conjunction (peers x pods x port range), a named-port
 * conjunction, and an egress ipBlock with except and a named port. */
START_TEST(test_conjunctions)
{
    struct cf_cluster cl;
    base_cluster(&cl);
    struct cf_policy *p = tb_policy(&cl, "x", "web", "app=web", true, true);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, "", "app=client");
    tb_peer_sel(r, NULL, "app=db");
    tb_port_number(r, CF_PROTO_TCP, 80, 90);
    tb_port_name(r, CF_PROTO_SCTP, "sc");
    r = tb_rule(p, true);
    const char *except[] = { "10.0.1.0/24" };
    tb_peer_ipblock(r, "10.0.0.0/16", except, 1);
    tb_port_name(r, CF_PROTO_TCP, "http");
    cf_cluster_assign_ids(&cl);
    golden_compare(&cl, "n1", "conjunctions");
    cf_cluster_destroy(&cl);
}
END_TEST

/* Single-dimension rules give plain flows: ingress from anywhere on a
 * named port, egress to anything, ingress from all pods on all ports. */
START_TEST(test_plain)
{
    struct cf_cluster cl;
    base_cluster(&cl);
    struct cf_policy *p = tb_policy(&cl, "x", "open", "app=web", true, true);
    struct cf_rule *r = tb_rule(p, false);
    tb_port_name(r, CF_PROTO_TCP, "http");
    tb_rule(p, true);
    p = tb_policy(&cl, "x", "db", "app=db", true, false);
    tb_rule(p, false);
    cf_cluster_assign_ids(&cl);
    golden_compare(&cl, "n1", "plain");
    cf_cluster_destroy(&cl);
}
END_TEST

/* Two policies sharing a peer and a port: one clause flow carries both
 * conjunctions, with the cookie of the lower conjunction id's rule.  The
 * policy ids are chosen so that both conjunctions fall in one priority
 * band (ids 1 and 7: band 15 of 16).  A host-network pod gets no flows and
 * is not selected. */
START_TEST(test_shared_clauses)
{
    struct cf_cluster cl;
    base_cluster(&cl);
    struct cf_pod *h = tb_pod(&cl, "x", "agent", "n1", "192.168.0.1",
                              "app=web", "");
    h->host_network = true;
    for (int i = 0; i < 2; i++) {
        struct cf_policy *p = tb_policy(&cl, "x", i ? "b" : "a",
                                        i ? "app=db" : "app=web", true,
                                        false);
        p->id = i ? 7 : 1;
        struct cf_rule *r = tb_rule(p, false);
        tb_peer_sel(r, "team=b", NULL);
        tb_port_number(r, CF_PROTO_TCP, 443, 0);
        tb_port_all(r, CF_PROTO_UDP);
    }
    cf_cluster_assign_ids(&cl);
    golden_compare(&cl, "n1", "shared-clauses");
    cf_cluster_destroy(&cl);
}
END_TEST

static Suite *
golden_suite(void)
{
    Suite *s = suite_create("golden");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, test_default_deny);
    tcase_add_test(tc, test_conjunctions);
    tcase_add_test(tc, test_plain);
    tcase_add_test(tc, test_shared_clauses);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(golden_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
