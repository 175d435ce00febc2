/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of the pure part of conjflowd's conntrack sweep
 * (controller/ctsweep.c): the parser of "dpctl/dump-conntrack" output (on
 * lines as Open vSwitch 3.1 prints them, with and without -m/-s), the
 * tuple it writes for "dpctl/flush-conntrack", and the verdict on entries
 * against a cluster (allowed, denied, marked; pods, node addresses, other
 * addresses, ICMP).  The sweep's I/O is tested by
 * tests/system-ctsweep.sh on real OVS.
 */
#include "conjflow-config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-builder.h"
#include "conjflow/cflow.h"
#include "conjflow/cfutil.h"
#include "conjflow/model.h"
#include "controller/ctsweep.h"

/* Parses 'line', which must be a relevant entry, into '*e'. */
static void
parse_ok(const char *line, struct ctsweep_entry *e)
{
    bool relevant;
    char *error = ctsweep_parse_line(line, e, &relevant);
    ck_assert_msg(!error, "%s: %s", line, error ? error : "");
    ck_assert_msg(relevant, "%s: not relevant", line);
}

/* Returns 'addr' formatted (in a static buffer). */
static const char *
addr_str(const struct cf_addr *addr)
{
    static char buf[64];
    struct cf_ds ds;
    cf_ds_init(&ds);
    cf_addr_format(addr, &ds);
    snprintf(buf, sizeof buf, "%s", cf_ds_cstr(&ds));
    cf_ds_destroy(&ds);
    return buf;
}

/* One parser test: a line and what it must give. */
struct parse_case {
    const char *line;           /* As vswitchd prints it. */
    uint8_t proto;              /* Expected fields... */
    const char *src, *dst;
    uint16_t sport, dport;      /* TCP/UDP. */
    uint16_t icmp_id;           /* ICMP. */
    uint8_t icmp_type, icmp_code;
    uint16_t zone;              /* 0 when not printed. */
    uint32_t mark;              /* 0 when not printed. */
};

START_TEST(test_parse_udp_tcp_icmp)
{
    static const struct parse_case cases[] = {
        {"udp,orig=(src=10.1.0.1,dst=10.1.0.2,sport=49967,dport=80),"
         "reply=(src=10.1.0.2,dst=10.1.0.1,sport=80,dport=49967),"
         "zone=7,mark=1",
         17, "10.1.0.1", "10.1.0.2", 49967, 80, 0, 0, 0, 7, 1},
        {"tcp,orig=(src=10.1.0.1,dst=10.1.0.2,sport=49250,dport=80),"
         "reply=(src=10.1.0.2,dst=10.1.0.1,sport=80,dport=49250),"
         "zone=65535,protoinfo=(state=TIME_WAIT)",
         6, "10.1.0.1", "10.1.0.2", 49250, 80, 0, 0, 0, 65535, 0},
        {"icmp,orig=(src=10.1.0.1,dst=10.1.0.2,id=7636,type=8,code=0),"
         "reply=(src=10.1.0.2,dst=10.1.0.1,id=7636,type=0,code=0),"
         "zone=3,mark=4294967295",
         1, "10.1.0.1", "10.1.0.2", 0, 0, 7636, 8, 0, 3, 4294967295u},
        {"udp,orig=(src=1.2.3.4,dst=5.6.7.8,sport=1,dport=2),"
         "reply=(src=5.6.7.8,dst=1.2.3.4,sport=2,dport=1)",
         17, "1.2.3.4", "5.6.7.8", 1, 2, 0, 0, 0, 0, 0},
        /* -m -s: counters in the tuples, timestamps, id, status,
         * timeout, labels: all skipped. */
        {"udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=5000,dport=53,"
         "packets=3,bytes=120),reply=(src=10.0.0.2,dst=10.0.0.1,"
         "sport=53,dport=5000,packets=1,bytes=40),"
         "start=2026-11-27T01:09:50.308,id=12,zone=2,"
         "status=SEEN_REPLY|CONFIRMED,timeout=29,mark=16,"
         "labels=0x00000000000000000000000000000001",
         17, "10.0.0.1", "10.0.0.2", 5000, 53, 0, 0, 0, 2, 16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct parse_case *c = &cases[i];
        struct ctsweep_entry e;
        parse_ok(c->line, &e);
        ck_assert_int_eq(e.proto, c->proto);
        ck_assert_str_eq(addr_str(&e.src), c->src);
        ck_assert_str_eq(addr_str(&e.dst), c->dst);
        ck_assert_int_eq(e.sport, c->sport);
        ck_assert_int_eq(e.dport, c->dport);
        ck_assert_int_eq(e.icmp_id, c->icmp_id);
        ck_assert_int_eq(e.icmp_type, c->icmp_type);
        ck_assert_int_eq(e.icmp_code, c->icmp_code);
        ck_assert_int_eq(e.zone, c->zone);
        ck_assert_uint_eq(e.mark, c->mark);
    }
}
END_TEST

START_TEST(test_parse_not_ours)
{
    /* Well formed, but not IPv4 TCP/UDP/ICMP: left alone, no error. */
    static const char *lines[] = {
        "udp,orig=(src=fd00::1,dst=fd00::2,sport=1,dport=2),"
        "reply=(src=fd00::2,dst=fd00::1,sport=2,dport=1),zone=1",
        "icmpv6,orig=(src=fd00::1,dst=fd00::2,id=1,type=128,code=0),"
        "reply=(src=fd00::2,dst=fd00::1,id=1,type=129,code=0),zone=1",
        "sctp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1),zone=1,"
        "protoinfo=(state=ESTABLISHED)",
        "47,orig=(src=10.0.0.1,dst=10.0.0.2,sport=0,dport=0),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=0,dport=0),zone=1",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        struct ctsweep_entry e;
        bool relevant = true;
        char *error = ctsweep_parse_line(lines[i], &e, &relevant);
        ck_assert_msg(!error, "%s: %s", lines[i], error ? error : "");
        ck_assert_msg(!relevant, "%s: taken as ours", lines[i]);
    }
}
END_TEST

START_TEST(test_parse_errors)
{
    static const char *lines[] = {
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2)",  /* reply */
        "udp,reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1)",  /* orig */
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2,"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1)",     /* '(' */
        "udp,orig=src=10.0.0.1),reply=()",                      /* ')' */
        "udp,orig=(src=10.0.0.300,dst=10.0.0.2,sport=1,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1)",     /* addr */
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=70000,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1)",     /* port */
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1)",     /* dport */
        "icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=1,type=8),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,id=1,type=0,code=0)",  /* code */
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1),zone=x",
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1),mark=0x1",
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1),zone=65536",
        "ovs-vswitchd: datapath not found (No such device)",
        "proto=udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1)",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        struct ctsweep_entry e;
        bool relevant;
        char *error = ctsweep_parse_line(lines[i], &e, &relevant);
        ck_assert_msg(error != NULL, "accepted: %s", lines[i]);
        free(error);
    }
}
END_TEST

START_TEST(test_parse_dump)
{
    const char *text =
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1),zone=5\n"
        "\n"
        "udp,orig=(src=fd00::1,dst=fd00::2,sport=1,dport=2),"
        "reply=(src=fd00::2,dst=fd00::1,sport=2,dport=1),zone=5\n"
        "icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=9,type=8,code=0),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,id=9,type=0,code=0),zone=5\r\n";
    struct ctsweep_entry *entries;
    size_t n, n_other;
    char *error = ctsweep_parse_dump(text, &entries, &n, &n_other);
    ck_assert_msg(!error, "%s", error ? error : "");
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(n_other, 1);
    ck_assert_int_eq(entries[0].proto, 17);
    ck_assert_int_eq(entries[1].proto, 1);
    ck_assert_int_eq(entries[1].icmp_id, 9);
    free(entries);

    /* Empty: no entries, no error. */
    error = ctsweep_parse_dump("", &entries, &n, NULL);
    ck_assert_msg(!error, "%s", error ? error : "");
    ck_assert_uint_eq(n, 0);
    free(entries);

    /* One bad line spoils the dump (the sweep flushes nothing) and is
     * named. */
    const char *bad =
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
        "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1),zone=5\n"
        "udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2)\n";
    error = ctsweep_parse_dump(bad, &entries, &n, NULL);
    ck_assert(error != NULL);
    ck_assert_msg(strstr(error, "line 2") != NULL, "%s", error);
    ck_assert(entries == NULL);
    ck_assert_uint_eq(n, 0);
    free(error);
}
END_TEST

/* Formats the flush tuple of 'line'. */
static char *
tuple_of(const char *line)
{
    struct ctsweep_entry e;
    parse_ok(line, &e);
    struct cf_ds ds;
    cf_ds_init(&ds);
    ctsweep_format_tuple(&e, &ds);
    return cf_ds_steal(&ds);
}

START_TEST(test_format_tuple)
{
    char *s = tuple_of("udp,orig=(src=10.1.0.1,dst=10.1.0.2,sport=6001,"
                       "dport=5000),reply=(src=10.1.0.2,dst=10.1.0.1,"
                       "sport=5000,dport=6001),zone=2");
    ck_assert_str_eq(s, "ct_nw_src=10.1.0.1,ct_nw_dst=10.1.0.2,"
                     "ct_nw_proto=17,ct_tp_src=6001,ct_tp_dst=5000");
    free(s);
    s = tuple_of("icmp,orig=(src=10.1.0.1,dst=10.1.0.2,id=7636,type=8,"
                 "code=0),reply=(src=10.1.0.2,dst=10.1.0.1,id=7636,type=0,"
                 "code=0),zone=2");
    ck_assert_str_eq(s, "ct_nw_src=10.1.0.1,ct_nw_dst=10.1.0.2,"
                     "ct_nw_proto=1,icmp_id=7636,icmp_type=8,icmp_code=0");
    free(s);
}
END_TEST

/* The cluster of the verdict tests (sorted, ids assigned): node left
 * (192.168.0.1) with shop/a (client), shop/b (server), shop/h (host
 * network); node right (192.168.0.2) with ops/c.  shop/b admits shop/a on
 * UDP 53 and 172.16.0.0/12 on any port and protocol; ops/c is
 * egress-isolated and may reach shop/b only, on UDP 53. */
static void
build_cluster(struct cf_cluster *cl)
{
    cf_cluster_init(cl);
    tb_node(cl, "left", 7, "192.168.0.1");
    tb_node(cl, "right", 9, "192.168.0.2");
    tb_ns(cl, "shop", "team=shop");
    tb_ns(cl, "ops", "team=ops");
    tb_pod(cl, "shop", "a", "left", "10.0.0.1", "app=client", NULL);
    tb_pod(cl, "shop", "b", "left", "10.0.0.2", "app=server", NULL);
    struct cf_pod *h = tb_pod(cl, "shop", "h", "left", "192.168.0.1",
                              "app=server", NULL);
    h->host_network = true;
    tb_pod(cl, "ops", "c", "right", "10.0.0.3", "app=other", NULL);

    struct cf_policy *p = tb_policy(cl, "shop", "server", "app=server", true,
                                    false);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, NULL, "app=client");
    tb_port_number(r, CF_PROTO_UDP, 53, 0);
    r = tb_rule(p, false);
    tb_peer_ipblock(r, "172.16.0.0/12", NULL, 0);

    p = tb_policy(cl, "ops", "c-out", "app=other", false, true);
    r = tb_rule(p, true);
    tb_peer_sel(r, "team=shop", "app=server");
    tb_port_number(r, CF_PROTO_UDP, 53, 0);

    cf_cluster_sort(cl);
    cf_cluster_assign_ids(cl);
}

/* One verdict test: an entry and what the sweep must say about it. */
struct judge_case {
    uint8_t proto;              /* 1, 6 or 17. */
    const char *src, *dst;      /* Original direction. */
    uint16_t dport;             /* Destination port (not for ICMP). */
    uint32_t mark;              /* ct_mark. */
    enum ctsweep_verdict want;  /* Expected verdict. */
    const char *why;            /* What the case shows. */
};

START_TEST(test_judge)
{
    static const struct judge_case cases[] = {
        {17, "10.0.0.1", "10.0.0.2", 53, 0, CTSWEEP_ALLOWED, "rule port"},
        {17, "10.0.0.1", "10.0.0.2", 54, 0, CTSWEEP_DENIED, "other port"},
        {17, "10.0.0.1", "10.0.0.2", 54, 1, CTSWEEP_MARKED,
         "marked denied: left alone"},
        {17, "10.0.0.1", "10.0.0.2", 53, 0x11, CTSWEEP_MARKED,
         "marked, with other bits"},
        {17, "10.0.0.1", "10.0.0.2", 54, 0x10, CTSWEEP_DENIED,
         "other mark bits are not the denied bit"},
        {6, "10.0.0.1", "10.0.0.2", 53, 0, CTSWEEP_DENIED,
         "TCP 53 is not UDP 53"},
        {1, "10.0.0.1", "10.0.0.2", 0, 0, CTSWEEP_DENIED,
         "ICMP: a rule with ports does not allow it"},
        {1, "172.16.5.5", "10.0.0.2", 0, 0, CTSWEEP_ALLOWED,
         "ICMP: a rule without ports does"},
        {17, "10.0.0.2", "10.0.0.1", 9, 0, CTSWEEP_ALLOWED,
         "shop/a is not isolated"},
        {17, "192.168.0.1", "10.0.0.2", 9, 0, CTSWEEP_ALLOWED,
         "the pod's own node (also shop/h's address, host network)"},
        {17, "192.168.0.2", "10.0.0.2", 9, 0, CTSWEEP_DENIED,
         "another node"},
        {17, "172.31.255.1", "10.0.0.2", 7, 0, CTSWEEP_ALLOWED,
         "ipBlock peer"},
        {17, "8.8.8.8", "10.0.0.2", 7, 0, CTSWEEP_DENIED,
         "outside the ipBlock"},
        {17, "8.8.8.8", "1.1.1.1", 7, 0, CTSWEEP_ALLOWED,
         "no pod on either end"},
        {17, "192.168.0.1", "8.8.8.8", 7, 0, CTSWEEP_ALLOWED,
         "node to outside"},
        {17, "10.0.0.3", "10.0.0.2", 53, 0, CTSWEEP_DENIED,
         "ops/c's egress allows, shop/b's ingress does not"},
        {17, "10.0.0.3", "8.8.8.8", 53, 0, CTSWEEP_DENIED,
         "ops/c's egress: not to outside"},
        {17, "10.0.0.3", "10.0.0.1", 53, 0, CTSWEEP_DENIED,
         "ops/c's egress: not to shop/a"},
        {17, "10.0.0.3", "192.168.0.2", 9, 0, CTSWEEP_ALLOWED,
         "ops/c's egress: its own node"},
    };
    struct cf_cluster cl;
    build_cluster(&cl);
    struct ctsweep_index index;
    ctsweep_index_init(&index, &cl);

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct judge_case *c = &cases[i];
        struct ctsweep_entry e;
        memset(&e, 0, sizeof e);
        e.proto = c->proto;
        char *error = cf_addr_parse(c->src, &e.src);
        ck_assert(!error);
        error = cf_addr_parse(c->dst, &e.dst);
        ck_assert(!error);
        e.sport = 40000;
        e.dport = c->dport;
        e.icmp_type = 8;
        e.mark = c->mark;
        enum ctsweep_verdict v = ctsweep_judge(&cl, &index, &e, NULL, NULL);
        ck_assert_msg(v == c->want, "case %zu (%s): verdict %d, want %d",
                      i, c->why, (int) v, (int) c->want);
    }

    /* The ends' pods. */
    struct ctsweep_entry e;
    parse_ok("udp,orig=(src=10.0.0.3,dst=10.0.0.1,sport=1,dport=2),"
             "reply=(src=10.0.0.1,dst=10.0.0.3,sport=2,dport=1),zone=2", &e);
    const struct cf_pod *src, *dst;
    ck_assert_int_eq(ctsweep_judge(&cl, &index, &e, &src, &dst),
                     CTSWEEP_DENIED);
    ck_assert(src && !strcmp(src->name, "c") && !strcmp(src->node, "right"));
    ck_assert(dst && !strcmp(dst->name, "a") && !strcmp(dst->node, "left"));
    /* A host-network pod is not found by its (node's) address. */
    struct cf_addr node_addr;
    char *error = cf_addr_parse("192.168.0.1", &node_addr);
    ck_assert(!error);
    ck_assert(ctsweep_index_find(&index, &node_addr) == NULL);

    ctsweep_index_destroy(&index);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_flushable)
{
    struct ctsweep_entry e;
    parse_ok("udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
             "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1)", &e);
    ck_assert(ctsweep_flushable(&e));
    parse_ok("icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=1,type=8,code=0),"
             "reply=(src=10.0.0.2,dst=10.0.0.1,id=1,type=0,code=0)", &e);
    ck_assert(ctsweep_flushable(&e));
    /* TCP: never (it could not resume). */
    parse_ok("tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1,dport=2),"
             "reply=(src=10.0.0.2,dst=10.0.0.1,sport=2,dport=1),"
             "protoinfo=(state=ESTABLISHED)", &e);
    ck_assert(!ctsweep_flushable(&e));
}
END_TEST

int
main(void)
{
    Suite *suite = suite_create("ctsweep");
    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_parse_udp_tcp_icmp);
    tcase_add_test(parse, test_parse_not_ours);
    tcase_add_test(parse, test_parse_errors);
    tcase_add_test(parse, test_parse_dump);
    tcase_add_test(parse, test_format_tuple);
    suite_add_tcase(suite, parse);
    TCase *judge = tcase_create("judge");
    tcase_add_test(judge, test_judge);
    tcase_add_test(judge, test_flushable);
    suite_add_tcase(suite, judge);

    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int n_failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
