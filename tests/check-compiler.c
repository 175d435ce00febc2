/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of the NetworkPolicy compiler (controller/compiler*.c): the
 * conjunction id and cookie layout, port ranges as minimal value/mask
 * matches (checked exhaustively over all 65,536 ports), ipBlock except as
 * a CIDR difference (checked exhaustively over the block), conjunction
 * spreading over priority bands when more rules share a clause than one
 * flow may carry (5,000 and 40,000 rules sharing one peer), anti-spoofing,
 * isolation, node addresses, SCTP replies, errors, and stability of ids
 * across recompiles.  Packets are run with the interpreter.  (The flow
 * structs and their text form: tests/check-cflow.c.)
 */
#include "conjflow-config.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster-builder.h"
#include "conjflow/cfutil.h"
#include "conjflow/compiler.h"
#include "conjflow/interp.h"
#include "controller/compiler-private.h"

/* Compiles node 'node_name' of 'cl' into 'set' (initialized here), with
 * tb_node_ports() into 'ports'. */
static void
compile_node(const struct cf_cluster *cl, const char *node_name,
             struct cf_node_ports *ports, struct cflow_set *set)
{
    const struct cf_node *node = cf_cluster_find_node(cl, node_name);
    ck_assert(node);
    struct cf_compiler *c = cf_compiler_create(cl);
    tb_node_ports(cl, node, ports);
    cflow_set_init(set);
    char *error = cf_compiler_node_flows(c, node, ports, set);
    ck_assert_msg(!error, "%s", error ? error : "");
    cf_compiler_destroy(c);
}

/* Counts flows of 'set' in 'table' whose cookie has 'kind' and belongs to
 * policy 'policy_id'. */
static size_t
count_flows(const struct cflow_set *set, int table, uint32_t policy_id,
            enum cflow_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct cflow *f = &set->flows[i];
        if ((table < 0 || f->table == table)
            && ((f->cookie >> 32) & 0xffffff) == policy_id
            && (f->cookie & 0xffff) == kind) {
            n++;
        }
    }
    return n;
}

START_TEST(test_conj_id_and_cookie)
{
    ck_assert_uint_eq(cf_conj_id(42, CFLOW_DIR_INGRESS, 3, 0),
                      42u << 8 | 3 << 1);
    ck_assert_uint_eq(cf_conj_id(42, CFLOW_DIR_EGRESS, 63, 1),
                      42u << 8 | 0x80 | 63 << 1 | 1);
    ck_assert_uint_eq(cf_conj_id(CF_MAX_POLICY_ID, CFLOW_DIR_EGRESS, 0, 0),
                      0xffffff80u);
    ck_assert(cflow_cookie(42, CFLOW_DIR_INGRESS, 3, CFLOW_KIND_ALLOW)
              == 0xcf00002a10030003ULL);
    ck_assert_str_eq(cflow_table_name(CFLOW_T_EGRESS_RULES), "egress_rules");
    ck_assert_str_eq(cflow_table_name(CFLOW_T_SCTP_REPLY), "sctp_reply");
}
END_TEST

/* Builds a one-node cluster with local pod "x/srv" (10.0.0.1, app=srv) and
 * a remote pod "x/cli" (10.0.1.1) on node n2, and policy "p" selecting
 * srv for ingress. */
static struct cf_policy *
simple_cluster(struct cf_cluster *cl)
{
    cf_cluster_init(cl);
    tb_node(cl, "n1", 1, "192.168.0.1");
    tb_node(cl, "n2", 2, "192.168.0.2");
    tb_ns(cl, "x", "");
    tb_pod(cl, "x", "srv", "n1", "10.0.0.1", "app=srv",
           "http:8080/TCP,sc:7/SCTP");
    tb_pod(cl, "x", "cli", "n2", "10.0.1.1", "app=cli", "");
    return tb_policy(cl, "x", "p", "app=srv", true, false);
}

/* Checks that the tp_dst clause matches of 'set' cover exactly lo..hi and
 * are at most the minimal count for such a range. */
static void
check_range(uint16_t lo, uint16_t hi)
{
    struct cf_cluster cl;
    struct cf_policy *p = simple_cluster(&cl);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, NULL, "app=cli");
    tb_port_number(r, CF_PROTO_UDP, lo, hi);
    cf_cluster_assign_ids(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);

    size_t n = 0;
    static bool covered[65536];
    memset(covered, 0, sizeof covered);
    for (size_t i = 0; i < set.n; i++) {
        const struct cflow_match *m = &set.flows[i].match;
        if (!(m->fields & CFLOW_F_TP_DST)) {
            continue;
        }
        ck_assert_uint_eq(m->nw_proto, CF_PROTO_UDP);
        n++;
        for (uint32_t port = 0; port < 65536; port++) {
            if ((port & m->tp_dst_mask) == m->tp_dst) {
                ck_assert_msg(!covered[port], "port %u twice", port);
                covered[port] = true;
            }
        }
    }
    for (uint32_t port = 0; port < 65536; port++) {
        ck_assert_msg(covered[port] == (port >= lo && port <= hi),
                      "range %u-%u: port %u", lo, hi, port);
    }
    /* A range needs at most 2 * 16 - 2 prefixes. */
    ck_assert_uint_le(n, 30);
    if (lo == hi) {
        ck_assert_uint_eq(n, 1);
    }
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}

START_TEST(test_port_ranges)
{
    check_range(80, 80);
    check_range(80, 90);
    check_range(1, 65535);
    check_range(1024, 2047);
    check_range(32768, 65535);
    check_range(65535, 65535);
    uint32_t x = 12345;
    for (int i = 0; i < 20; i++) {
        x = x * 1103515245 + 12345;
        uint16_t a = 1 + (x >> 8) % 65535;
        x = x * 1103515245 + 12345;
        uint16_t b = 1 + (x >> 8) % 65535;
        check_range(CF_MIN(a, b), CF_MAX(a, b));
    }
}
END_TEST

/* Checks that ipBlock 'cidr' minus 'except' gives peer matches covering
 * exactly that set (every address of the /16 around it), with 'n_blocks'
 * blocks. */
static void
check_except(const char *cidr, const char *const *except, size_t n_except,
             size_t n_blocks)
{
    struct cf_cluster cl;
    struct cf_policy *p = simple_cluster(&cl);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_ipblock(r, cidr, except, n_except);
    tb_port_number(r, CF_PROTO_TCP, 80, 0);
    cf_cluster_assign_ids(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);

    struct cf_cidr block;
    ck_assert(!cf_cidr_parse(cidr, &block));
    struct cf_cidr ex[4];
    for (size_t i = 0; i < n_except; i++) {
        ck_assert(!cf_cidr_parse(except[i], &ex[i]));
    }
    size_t n = 0;
    for (size_t i = 0; i < set.n; i++) {
        const struct cflow *f = &set.flows[i];
        if (f->table == CFLOW_T_INGRESS_RULES
            && (f->match.fields & CFLOW_F_NW_SRC)
            && (f->cookie & 0xffff) == CFLOW_KIND_CLAUSE) {
            n++;
        }
    }
    ck_assert_uint_eq(n, n_blocks);
    /* Every address of the enclosing /16 (or the block if smaller). */
    uint32_t base = cf_addr_ipv4(&block.addr) & 0xffff0000;
    for (uint32_t i = 0; i < 65536; i++) {
        struct cf_addr a;
        uint32_t ip = base | i;
        memset(&a, 0, sizeof a);
        a.family = 4;
        a.bytes[0] = ip >> 24;
        a.bytes[1] = ip >> 16;
        a.bytes[2] = ip >> 8;
        a.bytes[3] = ip;
        bool want = cf_cidr_contains(&block, &a);
        for (size_t k = 0; k < n_except; k++) {
            want = want && !cf_cidr_contains(&ex[k], &a);
        }
        bool got = false;
        for (size_t k = 0; k < set.n && !got; k++) {
            const struct cflow *f = &set.flows[k];
            got = (f->table == CFLOW_T_INGRESS_RULES
                   && (f->match.fields & CFLOW_F_NW_SRC)
                   && (f->cookie & 0xffff) == CFLOW_KIND_CLAUSE
                   && (ip & f->match.nw_src_mask) == f->match.nw_src);
        }
        ck_assert_msg(got == want, "%s: address 0x%08"PRIx32, cidr, ip);
    }
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}

START_TEST(test_ipblock_except)
{
    const char *one[] = { "10.1.128.0/17" };
    check_except("10.1.0.0/16", one, 1, 1);
    const char *two[] = { "10.1.2.0/24", "10.1.200.7/32" };
    /* /16 minus a /24 in one /17 half: 7 blocks in that half; minus a /32
     * in the other half: 15 blocks there. */
    check_except("10.1.0.0/16", two, 2, 22);
    const char *nested[] = { "10.1.0.0/16", "10.1.5.0/24" };
    check_except("10.0.0.0/8", nested, 2, 8);
    check_except("10.1.2.0/24", NULL, 0, 1);
    const char *all[] = { "10.1.2.0/24" };
    check_except("10.1.2.0/24", all, 1, 0);
}
END_TEST

/* 'n_rules' single-rule policies all allowing ingress from pod "peer" on
 * TCP 80 to one of 100 local pods: every policy's peer clause and port
 * clause is the same match.  Checks that no flow carries more than
 * CFLOW_MAX_CONJUNCTIONS, that a sample of rules still works, and returns
 * the number of distinct clause priorities. */
static size_t
shared_peer(int n_rules)
{
    struct cf_cluster cl;
    char name[32], ip[32], labels[32];
    cf_cluster_init(&cl);
    tb_node(&cl, "n1", 1, "192.168.0.1");
    tb_ns(&cl, "x", "");
    tb_pod(&cl, "x", "peer", "n1", "10.9.0.1", "app=peer", "");
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "pod%d", i);
        snprintf(ip, sizeof ip, "10.0.%d.%d", i / 200, 1 + i % 200);
        snprintf(labels, sizeof labels, "app=a%d", i);
        tb_pod(&cl, "x", name, "n1", ip, labels, "");
    }
    for (int k = 0; k < n_rules; k++) {
        snprintf(name, sizeof name, "pol%05d", k);
        snprintf(labels, sizeof labels, "app=a%d", k % 100);
        struct cf_policy *p = tb_policy(&cl, "x", name, labels, true, false);
        struct cf_rule *r = tb_rule(p, false);
        tb_peer_sel(r, NULL, "app=peer");
        tb_port_number(r, CF_PROTO_TCP, 80, 0);
    }
    cf_cluster_assign_ids(&cl);

    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);
    size_t max = 0, total = 0;
    uint16_t prios[65536 / 16];
    size_t n_prios = 0;
    for (size_t i = 0; i < set.n; i++) {
        const struct cflow *f = &set.flows[i];
        size_t n = 0;
        for (size_t j = 0; j < f->n_actions; j++) {
            n += f->actions[j].type == CFLOW_A_CONJUNCTION;
        }
        max = CF_MAX(max, n);
        total += n;
        if (n && (!n_prios || prios[n_prios - 1] != f->priority)) {
            prios[n_prios++] = f->priority;
        }
    }
    ck_assert_uint_le(max, CFLOW_MAX_CONJUNCTIONS);
    /* Each conjunction: peer, local pod and port clause. */
    ck_assert_uint_eq(total, 3 * (size_t) n_rules);

    /* The peer reaches a sample of the local pods on 80, not on 81. */
    struct cf_interp *in = cf_interp_create(&set);
    struct cf_interp_result r;
    cf_interp_result_init(&r);
    uint32_t ofport;
    uint8_t mac[6];
    const struct cf_pod *peer = cf_cluster_find_pod(&cl, "x", "peer");
    ck_assert(tb_pod_port(&ports, peer, &ofport, mac));
    for (int i = 0; i < 100; i += 7) {
        snprintf(name, sizeof name, "pod%d", i);
        const struct cf_pod *dst = cf_cluster_find_pod(&cl, "x", name);
        struct cf_interp_packet pkt;
        memset(&pkt, 0, sizeof pkt);
        pkt.in_port = ofport;
        memcpy(pkt.dl_src, mac, 6);
        pkt.nw_src = cf_addr_ipv4(&peer->ips[0]);
        pkt.nw_dst = cf_addr_ipv4(&dst->ips[0]);
        pkt.nw_proto = 6;
        pkt.tp_dst = 80;
        ck_assert(cf_interp_run(in, &pkt, &r));
        /* reg2 holds the conjunction id of one of the pod's rules. */
        ck_assert_uint_eq(((r.regs[2] >> 8) - 1) % 100, (uint32_t) i);
        pkt.tp_dst = 81;
        ck_assert(!cf_interp_run(in, &pkt, &r));
    }
    cf_interp_result_destroy(&r);
    cf_interp_destroy(in);
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
    return n_prios;
}

START_TEST(test_shared_peer_5000)
{
    size_t n_prios = shared_peer(5000);
    ck_assert_uint_le(n_prios, 16);
}
END_TEST

START_TEST(test_shared_peer_40000)
{
    /* 40,000 > 16 bands x 2,000: more than 16 bands. */
    size_t n_prios = shared_peer(40000);
    ck_assert_uint_gt(n_prios, 16);
}
END_TEST

/* Runs a packet from pod 'src' (bound on 'ports') with source 'nw_src',
 * MAC 'mac' (NULL: its own) to 'nw_dst':'port'/TCP. */
static bool
send_from(const struct cflow_set *set, const struct cf_node_ports *ports,
          const struct cf_pod *src, uint32_t nw_src, const uint8_t *mac,
          uint32_t nw_dst, uint16_t port, bool arp)
{
    struct cf_interp *in = cf_interp_create(set);
    struct cf_interp_result r;
    struct cf_interp_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    ck_assert(tb_pod_port(ports, src, &pkt.in_port, pkt.dl_src));
    if (mac) {
        memcpy(pkt.dl_src, mac, 6);
    }
    pkt.arp = arp;
    pkt.nw_src = nw_src;
    pkt.nw_dst = nw_dst;
    pkt.nw_proto = 6;
    pkt.tp_dst = port;
    cf_interp_result_init(&r);
    bool ok = cf_interp_run(in, &pkt, &r);
    cf_interp_result_destroy(&r);
    cf_interp_destroy(in);
    return ok;
}

START_TEST(test_anti_spoofing)
{
    struct cf_cluster cl;
    cf_cluster_init(&cl);
    tb_node(&cl, "n1", 1, "192.168.0.1");
    tb_ns(&cl, "x", "");
    const struct cf_pod *a = tb_pod(&cl, "x", "a", "n1", "10.0.0.1", "", "");
    tb_pod(&cl, "x", "b", "n1", "10.0.0.2", "", "");
    cf_cluster_assign_ids(&cl);
    a = cf_cluster_find_pod(&cl, "x", "a");
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);

    const uint8_t other_mac[6] = { 2, 0, 0, 0, 0, 0x77 };
    ck_assert(send_from(&set, &ports, a, 0x0a000001, NULL, 0x0a000002, 80,
                        false));
    ck_assert(!send_from(&set, &ports, a, 0x0a000003, NULL, 0x0a000002, 80,
                         false));
    ck_assert(!send_from(&set, &ports, a, 0x0a000001, other_mac, 0x0a000002,
                         80, false));
    ck_assert(send_from(&set, &ports, a, 0x0a000001, NULL, 0x0a000002, 0,
                        true));
    ck_assert(!send_from(&set, &ports, a, 0x0a000002, NULL, 0x0a000002, 0,
                         true));
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_unknown_port_drops)
{
    struct cf_cluster cl;
    cf_cluster_init(&cl);
    tb_node(&cl, "n1", 1, "192.168.0.1");
    tb_ns(&cl, "x", "");
    tb_pod(&cl, "x", "a", "n1", "10.0.0.1", "", "");
    struct cf_pod *h = tb_pod(&cl, "x", "h", "n1", NULL, "", "");
    (void) h;
    cf_cluster_assign_ids(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);
    /* x/h has no address: bound, but no classify flow for its port. */
    uint32_t ofport;
    uint8_t mac[6];
    ck_assert(tb_pod_port(&ports, cf_cluster_find_pod(&cl, "x", "h"),
                          &ofport, mac));
    for (size_t i = 0; i < set.n; i++) {
        const struct cflow_match *m = &set.flows[i].match;
        ck_assert(!(m->fields & CFLOW_F_IN_PORT) || m->in_port != ofport);
    }
    ck_assert(!send_from(&set, &ports, cf_cluster_find_pod(&cl, "x", "h"),
                         0x0a000005, NULL, 0x0a000001, 80, false));
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_isolation_and_node)
{
    struct cf_cluster cl;
    cf_cluster_init(&cl);
    tb_node(&cl, "n1", 1, "192.168.0.1");
    tb_ns(&cl, "x", "");
    tb_pod(&cl, "x", "a", "n1", "10.0.0.1", "app=a", "");
    tb_pod(&cl, "x", "b", "n1", "10.0.0.2", "app=b", "");
    tb_policy(&cl, "x", "in", "app=a", true, false);
    tb_policy(&cl, "x", "eg", "app=b", false, true);
    cf_cluster_assign_ids(&cl);
    const struct cf_pod *a = cf_cluster_find_pod(&cl, "x", "a");
    const struct cf_pod *b = cf_cluster_find_pod(&cl, "x", "b");
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);

    ck_assert_uint_eq(count_flows(&set, CFLOW_T_INGRESS_ISOLATION, 0,
                                  CFLOW_KIND_POD), 1);
    ck_assert_uint_eq(count_flows(&set, CFLOW_T_EGRESS_ISOLATION, 0,
                                  CFLOW_KIND_POD), 1);
    /* a is ingress-isolated (b -> a denied), b egress-isolated. */
    ck_assert(!send_from(&set, &ports, b, 0x0a000002, NULL, 0x0a000001, 80,
                         false));
    ck_assert(send_from(&set, &ports, a, 0x0a000001, NULL, 0x0a000003, 80,
                        false));
    ck_assert(!send_from(&set, &ports, b, 0x0a000002, NULL, 0x0a000003, 80,
                         false));
    /* ... but b reaches its node's address. */
    ck_assert(send_from(&set, &ports, b, 0x0a000002, NULL, 0xc0a80001, 22,
                        false));

    /* The node (from LOCAL) reaches a. */
    struct cf_interp *in = cf_interp_create(&set);
    struct cf_interp_result r;
    struct cf_interp_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.in_port = CFLOW_PORT_LOCAL;
    pkt.nw_src = 0xc0a80001;
    pkt.nw_dst = 0x0a000001;
    pkt.nw_proto = 6;
    pkt.tp_dst = 80;
    cf_interp_result_init(&r);
    ck_assert(cf_interp_run(in, &pkt, &r));
    ck_assert(r.committed);
    /* Another address from an uplink does not. */
    pkt.in_port = 100;
    pkt.nw_src = 0xc0a80002;
    ck_assert(!cf_interp_run(in, &pkt, &r));
    /* Replies pass conntrack's +est+rpl. */
    pkt.ct_state = CFLOW_CS_EST | CFLOW_CS_RPL;
    ck_assert(cf_interp_run(in, &pkt, &r));
    ck_assert(!r.committed);
    /* Invalid packets drop. */
    pkt.ct_state = CFLOW_CS_INV;
    ck_assert(!cf_interp_run(in, &pkt, &r));
    cf_interp_result_destroy(&r);
    cf_interp_destroy(in);
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}
END_TEST

/* A packet for cross_run(): where it comes from and its conntrack state. */
struct cross_pkt {
    uint32_t in_port;           /* 100 (the uplink) or a pod's port. */
    const uint8_t *mac;         /* Source MAC, or NULL. */
    uint32_t src, dst;
    uint8_t proto;
    uint16_t port;
    uint8_t ct_state;           /* 0: +new. */
    uint32_t ct_mark;
    bool learned_deny;          /* A learned "denied reply" flow. */
};

/* Runs 'x' through 'set' into 'r'; returns true if it is forwarded. */
static bool
cross_run(const struct cflow_set *set, const struct cross_pkt *x,
          struct cf_interp_result *r)
{
    struct cf_interp *in = cf_interp_create(set);
    struct cf_interp_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.in_port = x->in_port;
    if (x->mac) {
        memcpy(pkt.dl_src, x->mac, 6);
    }
    pkt.nw_src = x->src;
    pkt.nw_dst = x->dst;
    pkt.nw_proto = x->proto;
    pkt.tp_dst = x->port;
    pkt.ct_state = x->ct_state;
    pkt.ct_mark = x->ct_mark;
    pkt.sctp_learned_deny = x->learned_deny;
    bool ok = cf_interp_run(in, &pkt, r);
    cf_interp_destroy(in);
    return ok;
}

/* Cross-node state (cflow.h): the node whose verdict is "deny" remembers
 * it (ct_mark denied, or a learned SCTP "denied reply" flow) where another
 * node may hold the connection as allowed, drops the replies of what it
 * remembers, and forgets it once policy allows the connection again. */
START_TEST(test_crossnode_denied)
{
    struct cf_cluster cl;
    /* x/srv (n1) ingress-isolated by p, without a rule (yet). */
    struct cf_policy *p = simple_cluster(&cl);
    tb_pod(&cl, "x", "loc", "n1", "10.0.0.3", "app=loc", "");
    cf_cluster_assign_ids(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);
    uint32_t srv_port, loc_port;
    uint8_t srv_mac[6], loc_mac[6];
    ck_assert(tb_pod_port(&ports, cf_cluster_find_pod(&cl, "x", "srv"),
                          &srv_port, srv_mac));
    ck_assert(tb_pod_port(&ports, cf_cluster_find_pod(&cl, "x", "loc"),
                          &loc_port, loc_mac));
    struct cf_interp_result r;
    cf_interp_result_init(&r);

    /* The isolation flows deny by reg0 bit 5 and commit; none drops by
     * itself (their actions changed, not their number). */
    size_t n_iso = 0;
    for (size_t i = 0; i < set.n; i++) {
        const struct cflow *f = &set.flows[i];
        if (f->table == CFLOW_T_INGRESS_ISOLATION && f->priority) {
            n_iso++;
            ck_assert_uint_eq(f->n_actions, 2);
            ck_assert_int_eq(f->actions[0].type, CFLOW_A_LOAD_REG);
            ck_assert_uint_eq(f->actions[0].value, CFLOW_REG0_DENIED);
            ck_assert_int_eq(f->actions[1].type, CFLOW_A_GOTO);
            ck_assert_uint_eq(f->actions[1].table, CFLOW_T_COMMIT);
        }
    }
    ck_assert_uint_eq(n_iso, 1);

    /* x/cli (n2, via the uplink) -> x/srv:80: dropped, and committed with
     * the denied mark (n2 has committed it as allowed). */
    struct cross_pkt in = { .in_port = 100, .src = 0x0a000101,
                            .dst = 0x0a000001, .proto = 6, .port = 80 };
    ck_assert(!cross_run(&set, &in, &r));
    ck_assert(r.committed);
    ck_assert_uint_eq(r.ct_mark, CFLOW_CT_MARK_DENIED);
    ck_assert_uint_eq(r.regs[0] & CFLOW_REG0_DENIED, CFLOW_REG0_DENIED);
    /* UDP too; ICMP too (any tracked protocol). */
    in.proto = 17;
    ck_assert(!cross_run(&set, &in, &r));
    ck_assert_uint_eq(r.ct_mark, CFLOW_CT_MARK_DENIED);
    in.proto = 1;
    in.port = 0;
    ck_assert(!cross_run(&set, &in, &r));
    ck_assert_uint_eq(r.ct_mark, CFLOW_CT_MARK_DENIED);
    in.proto = 6;
    in.port = 80;
    /* An established connection that policy now denies (revoked): marked
     * once, then just dropped. */
    in.ct_state = CFLOW_CS_EST;
    ck_assert(!cross_run(&set, &in, &r));
    ck_assert(r.committed);
    ck_assert_uint_eq(r.ct_mark, CFLOW_CT_MARK_DENIED);
    in.ct_mark = CFLOW_CT_MARK_DENIED;
    ck_assert(!cross_run(&set, &in, &r));
    ck_assert(!r.committed);

    /* x/srv's replies (and related packets) of a denied connection drop;
     * of another connection they pass. */
    struct cross_pkt out = { .in_port = srv_port, .mac = srv_mac,
                             .src = 0x0a000001, .dst = 0x0a000101,
                             .proto = 6, .port = 40000,
                             .ct_state = CFLOW_CS_EST | CFLOW_CS_RPL,
                             .ct_mark = CFLOW_CT_MARK_DENIED };
    ck_assert(!cross_run(&set, &out, &r));
    ck_assert(!r.committed);
    out.ct_state = CFLOW_CS_REL;
    ck_assert(!cross_run(&set, &out, &r));
    out.ct_state = CFLOW_CS_REL | CFLOW_CS_RPL;
    ck_assert(!cross_run(&set, &out, &r));
    out.ct_mark = 0;
    ck_assert(cross_run(&set, &out, &r));
    out.ct_state = CFLOW_CS_EST | CFLOW_CS_RPL;
    ck_assert(cross_run(&set, &out, &r));
    ck_assert(!r.committed);

    /* A denied new connection from a local pod or from the node itself
     * is not committed (no other node saw it). */
    struct cross_pkt local = { .in_port = loc_port, .mac = loc_mac,
                               .src = 0x0a000003, .dst = 0x0a000001,
                               .proto = 6, .port = 80 };
    ck_assert(!cross_run(&set, &local, &r));
    ck_assert(!r.committed);
    ck_assert_uint_eq(r.regs[0] & CFLOW_REG0_DENIED, CFLOW_REG0_DENIED);
    local.in_port = CFLOW_PORT_LOCAL;
    local.mac = NULL;
    local.src = 0xc0a80009;
    ck_assert(!cross_run(&set, &local, &r));
    ck_assert(!r.committed);
    /* ... but a revoked established one of a local pod is marked. */
    local.in_port = loc_port;
    local.mac = loc_mac;
    local.src = 0x0a000003;
    local.ct_state = CFLOW_CS_EST;
    ck_assert(!cross_run(&set, &local, &r));
    ck_assert(r.committed);
    ck_assert_uint_eq(r.ct_mark, CFLOW_CT_MARK_DENIED);

    /* SCTP (no conntrack): from the uplink, a denied packet learns a
     * "denied reply" flow; from a local pod it does not. */
    in.proto = CF_PROTO_SCTP;
    in.port = 7;
    in.ct_state = 0;
    in.ct_mark = 0;
    ck_assert(!cross_run(&set, &in, &r));
    ck_assert(r.learned_deny);
    ck_assert(!r.learned);
    ck_assert(!r.committed);
    local.proto = CF_PROTO_SCTP;
    local.port = 7;
    local.ct_state = 0;
    ck_assert(!cross_run(&set, &local, &r));
    ck_assert(!r.learned_deny);
    /* x/srv's SCTP to x/cli passes (not egress-isolated), but not as the
     * reply of a denied association. */
    out.proto = CF_PROTO_SCTP;
    out.ct_state = 0;
    ck_assert(cross_run(&set, &out, &r));
    out.learned_deny = true;
    ck_assert(!cross_run(&set, &out, &r));
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);

    /* Policy now allows x/cli: the next original-direction packet of a
     * connection marked denied passes and clears the mark; a new one is
     * committed with the mark cleared; the SCTP packet learns a reply. */
    struct cf_rule *rule = tb_rule(p, false);
    tb_peer_sel(rule, NULL, "app=cli");
    cf_cluster_assign_ids(&cl);
    compile_node(&cl, "n1", &ports, &set);
    in.proto = 6;
    in.port = 80;
    in.ct_state = CFLOW_CS_EST;
    in.ct_mark = CFLOW_CT_MARK_DENIED;
    ck_assert(cross_run(&set, &in, &r));
    ck_assert(r.committed);
    ck_assert_uint_eq(r.ct_mark, 0);
    in.ct_mark = 0;
    ck_assert(cross_run(&set, &in, &r));
    ck_assert(!r.committed);        /* No commit per packet. */
    in.ct_state = 0;
    in.ct_mark = CFLOW_CT_MARK_DENIED;
    ck_assert(cross_run(&set, &in, &r));
    ck_assert(r.committed);
    ck_assert_uint_eq(r.ct_mark, 0);
    in.proto = CF_PROTO_SCTP;
    in.port = 7;
    in.ct_state = 0;
    in.ct_mark = 0;
    ck_assert(cross_run(&set, &in, &r));
    ck_assert(r.learned);
    ck_assert(!r.learned_deny);
    cf_interp_result_destroy(&r);
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_sctp_replies)
{
    struct cf_cluster cl;
    struct cf_policy *p = simple_cluster(&cl);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, NULL, "app=cli");
    tb_port_name(r, CF_PROTO_SCTP, "sc");
    /* cli is egress-isolated too: srv may not open to cli. */
    tb_policy(&cl, "x", "cli", "app=cli", true, true);
    cf_cluster_assign_ids(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);
    struct cf_interp *in = cf_interp_create(&set);
    struct cf_interp_result res;
    struct cf_interp_packet pkt;
    cf_interp_result_init(&res);

    /* cli (on n2, via the uplink) -> srv:7/SCTP: allowed, learned. */
    memset(&pkt, 0, sizeof pkt);
    pkt.in_port = 100;
    pkt.nw_src = 0x0a000101;
    pkt.nw_dst = 0x0a000001;
    pkt.nw_proto = 132;
    pkt.tp_dst = 7;
    ck_assert(cf_interp_run(in, &pkt, &res));
    ck_assert(res.learned);
    ck_assert_uint_eq(res.regs[2], cf_conj_id(p->id, CFLOW_DIR_INGRESS, 0,
                                              1));
    pkt.tp_dst = 8;
    ck_assert(!cf_interp_run(in, &pkt, &res));

    /* The reply srv -> cli passes only as a learned reply (conntrack
     * state does not matter for SCTP). */
    uint32_t ofport;
    uint8_t mac[6];
    ck_assert(tb_pod_port(&ports, cf_cluster_find_pod(&cl, "x", "srv"),
                          &ofport, mac));
    memset(&pkt, 0, sizeof pkt);
    pkt.in_port = ofport;
    memcpy(pkt.dl_src, mac, 6);
    pkt.nw_src = 0x0a000001;
    pkt.nw_dst = 0x0a000101;
    pkt.nw_proto = 132;
    pkt.tp_dst = 40000;
    pkt.ct_state = CFLOW_CS_EST | CFLOW_CS_RPL;
    /* Egress from srv is not isolated, so it leaves n1 ... */
    ck_assert(cf_interp_run(in, &pkt, &res));
    cf_interp_result_destroy(&res);
    cf_interp_destroy(in);
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);

    /* ... and on n2, cli's node, only the learned flow lets it in. */
    compile_node(&cl, "n2", &ports, &set);
    in = cf_interp_create(&set);
    cf_interp_result_init(&res);
    pkt.in_port = 100;
    memset(pkt.dl_src, 0, 6);
    ck_assert(!cf_interp_run(in, &pkt, &res));
    pkt.sctp_learned_reply = true;
    ck_assert(cf_interp_run(in, &pkt, &res));
    cf_interp_result_destroy(&res);
    cf_interp_destroy(in);
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_cookies_find_rules)
{
    struct cf_cluster cl;
    struct cf_policy *p = simple_cluster(&cl);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, NULL, "app=cli");
    tb_port_number(r, CF_PROTO_TCP, 80, 0);
    tb_port_number(r, CF_PROTO_TCP, 443, 0);
    r = tb_rule(p, false);
    tb_port_number(r, CF_PROTO_TCP, 22, 0);
    p->id = 42;
    cf_cluster_assign_ids(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);

    /* Rule 0: peer, pod, 2 ports, conj_id flow, conn_count flow: 6 flows
     * under its cookie prefix (dump-flows
     * cookie=0xcf00002a10000000/0xffffffffffff0000). */
    size_t rule0 = 0, rule1 = 0;
    uint64_t mask = 0xffffffffffff0000ULL;
    for (size_t i = 0; i < set.n; i++) {
        uint64_t c = set.flows[i].cookie & mask;
        rule0 += c == cflow_cookie(42, CFLOW_DIR_INGRESS, 0, 0);
        rule1 += c == cflow_cookie(42, CFLOW_DIR_INGRESS, 1, 0);
    }
    ck_assert_uint_eq(rule0, 6);
    /* Rule 1 (no peers): pod x port conjunction, conn_count; its pod
     * clause flow is rule 0's (same match, same band: one flow with both
     * conjunction() actions, under the lower conjunction id's cookie), so
     * 3 flows. */
    ck_assert_uint_eq(rule1, 3);
    ck_assert_uint_eq(count_flows(&set, -1, 42, CFLOW_KIND_ALLOW), 2);
    /* One connection counter per rule, in conn_count, matching the
     * rule's conjunction id in reg2 (ingress) during the ingress pass. */
    ck_assert_uint_eq(count_flows(&set, CFLOW_T_CONN_COUNT, 42,
                                  CFLOW_KIND_CONN), 2);
    for (size_t i = 0; i < set.n; i++) {
        const struct cflow *f = &set.flows[i];
        if ((f->cookie & 0xffff) == CFLOW_KIND_CONN) {
            unsigned rule = (f->cookie >> 16) & 0xfff;
            ck_assert_uint_eq(f->table, CFLOW_T_CONN_COUNT);
            ck_assert_uint_eq(f->match.fields,
                              CFLOW_F_REG0 | CFLOW_F_REG2);
            ck_assert_uint_eq(f->match.reg2,
                              cf_conj_id(42, CFLOW_DIR_INGRESS, rule, 0));
            ck_assert_uint_eq(f->match.reg0_mask, 0x10);
            ck_assert_uint_eq(f->match.reg0, 0);
            ck_assert_uint_eq(f->n_actions, 0);
        }
    }
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}
END_TEST

/* Runs a TCP packet from 'src' to 'dst':'port' with conntrack state
 * 'ct_state' (0: +new) through 'set' and returns whether it was forwarded;
 * counts in '*n_conn' the conn_count hits whose cookie is 'cookie' (kind
 * CONN), and returns in '*other' the other conn_count hits. */
static bool
conn_hits(const struct cflow_set *set, const struct cf_node_ports *ports,
          const struct cf_pod *src, const struct cf_pod *dst, uint16_t port,
          uint8_t ct_state, const uint64_t cookies[2], size_t n_conn[2],
          size_t *other)
{
    struct cf_interp *in = cf_interp_create(set);
    struct cf_interp_result r;
    struct cf_interp_packet pkt;
    memset(&pkt, 0, sizeof pkt);
    ck_assert(tb_pod_port(ports, src, &pkt.in_port, pkt.dl_src));
    pkt.nw_src = cf_addr_ipv4(&src->ips[0]);
    pkt.nw_dst = cf_addr_ipv4(&dst->ips[0]);
    pkt.nw_proto = 6;
    pkt.tp_dst = port;
    pkt.ct_state = ct_state;
    cf_interp_result_init(&r);
    bool ok = cf_interp_run(in, &pkt, &r);
    n_conn[0] = n_conn[1] = *other = 0;
    for (size_t i = 0; i < r.n_hits; i++) {
        const struct cflow *f = &set->flows[r.hits[i]];
        if ((f->cookie & 0xffff) != CFLOW_KIND_CONN) {
            continue;
        }
        ck_assert_uint_eq(f->table, CFLOW_T_CONN_COUNT);
        if (f->cookie == cookies[0]) {
            n_conn[0]++;
        } else if (f->cookie == cookies[1]) {
            n_conn[1]++;
        } else {
            (*other)++;
        }
    }
    cf_interp_result_destroy(&r);
    cf_interp_destroy(in);
    return ok;
}

START_TEST(test_conn_count)
{
    /* a -> b on one node: a's egress rule and b's ingress rule each count
     * a new connection once; established packets and denied ones count
     * nothing; the verdicts are the same as without the counters. */
    struct cf_cluster cl;
    cf_cluster_init(&cl);
    tb_node(&cl, "n1", 1, "192.168.0.1");
    tb_ns(&cl, "x", "");
    tb_pod(&cl, "x", "a", "n1", "10.0.0.1", "app=a", "");
    tb_pod(&cl, "x", "b", "n1", "10.0.0.2", "app=b", "");
    struct cf_policy *pe = tb_policy(&cl, "x", "pe", "app=a", false, true);
    struct cf_rule *r = tb_rule(pe, true);
    tb_port_number(r, CF_PROTO_TCP, 53, 0);     /* Egress rule 0. */
    r = tb_rule(pe, true);
    tb_peer_sel(r, NULL, "app=b");
    tb_port_number(r, CF_PROTO_TCP, 80, 0);     /* Egress rule 1. */
    struct cf_policy *pi = tb_policy(&cl, "x", "pi", "app=b", true, false);
    r = tb_rule(pi, false);
    tb_peer_sel(r, NULL, "app=a");
    tb_port_number(r, CF_PROTO_TCP, 80, 0);
    tb_port_number(r, CF_PROTO_TCP, 81, 0);
    pe->id = 7;
    pi->id = 9;
    cf_cluster_assign_ids(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    compile_node(&cl, "n1", &ports, &set);
    const struct cf_pod *a = cf_cluster_find_pod(&cl, "x", "a");
    const struct cf_pod *b = cf_cluster_find_pod(&cl, "x", "b");

    /* One counter per rule: egress 0 and 1 of pe, ingress 0 of pi. */
    ck_assert_uint_eq(count_flows(&set, CFLOW_T_CONN_COUNT, 7,
                                  CFLOW_KIND_CONN), 2);
    ck_assert_uint_eq(count_flows(&set, CFLOW_T_CONN_COUNT, 9,
                                  CFLOW_KIND_CONN), 1);
    const uint64_t cookies[2] = {
        cflow_cookie(7, CFLOW_DIR_EGRESS, 1, CFLOW_KIND_CONN),
        cflow_cookie(9, CFLOW_DIR_INGRESS, 0, CFLOW_KIND_CONN),
    };
    size_t n[2], other;
    ck_assert(conn_hits(&set, &ports, a, b, 80, 0, cookies, n, &other));
    ck_assert_uint_eq(n[0], 1);
    ck_assert_uint_eq(n[1], 1);
    ck_assert_uint_eq(other, 0);
    ck_assert(conn_hits(&set, &ports, a, b, 80, CFLOW_CS_EST, cookies, n,
                        &other));
    ck_assert_uint_eq(n[0] + n[1] + other, 0);
    /* Egress allows 81 nowhere: denied, nothing counted. */
    ck_assert(!conn_hits(&set, &ports, a, b, 81, 0, cookies, n, &other));
    ck_assert_uint_eq(n[0] + n[1] + other, 0);
    /* b -> a: no rule involved (a is not ingress-isolated, b not
     * egress-isolated): allowed, nothing counted. */
    ck_assert(conn_hits(&set, &ports, b, a, 80, 0, cookies, n, &other));
    ck_assert_uint_eq(n[0] + n[1] + other, 0);
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_stable_across_changes)
{
    /* Adding an unrelated policy leaves every flow of the first one
     * unchanged (ids come from the input, not from compile order). */
    struct cf_cluster cl;
    struct cf_policy *p = simple_cluster(&cl);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, NULL, "app=cli");
    tb_port_number(r, CF_PROTO_TCP, 80, 0);
    p->id = 5;
    cf_cluster_assign_ids(&cl);
    struct cf_node_ports ports;
    struct cflow_set before, after;
    compile_node(&cl, "n1", &ports, &before);
    cf_node_ports_destroy(&ports);

    struct cf_policy *q = tb_policy(&cl, "x", "other", "app=cli", false,
                                    true);
    tb_peer_sel(tb_rule(q, true), NULL, "app=srv");
    q->id = 9;
    cf_cluster_sort(&cl);
    compile_node(&cl, "n1", &ports, &after);
    ck_assert_uint_eq(before.n, after.n);    /* q selects no pod on n1. */
    for (size_t i = 0; i < before.n; i++) {
        ck_assert(cflow_equal(&before.flows[i], &after.flows[i]));
    }
    cflow_set_destroy(&before);
    cflow_set_destroy(&after);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cl);
}
END_TEST

START_TEST(test_errors)
{
    struct cf_cluster cl;
    simple_cluster(&cl);
    struct cf_node *bad = tb_node(&cl, "n3", 0, NULL);
    cf_cluster_sort(&cl);
    struct cf_compiler *c = cf_compiler_create(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    tb_node_ports(&cl, bad, &ports);
    cflow_set_init(&set);
    char *error = cf_compiler_node_flows(c, bad, &ports, &set);
    ck_assert(error);
    ck_assert(strstr(error, "n3"));
    ck_assert_uint_eq(set.n, 0);
    free(error);
    cf_node_ports_destroy(&ports);

    /* A policy without an id selecting a pod on n1. */
    const struct cf_node *n1 = cf_cluster_find_node(&cl, "n1");
    tb_node_ports(&cl, n1, &ports);
    error = cf_compiler_node_flows(c, n1, &ports, &set);
    ck_assert(error);
    ck_assert_msg(strstr(error, "networkpolicy x/p"), "%s", error);
    ck_assert_uint_eq(set.n, 0);
    free(error);
    cf_node_ports_destroy(&ports);
    cflow_set_destroy(&set);
    cf_compiler_destroy(c);
    cf_cluster_destroy(&cl);
}
END_TEST


/* compiler_entry_compare() orders clause entries exactly as
 * cflow_match_compare() orders their matches (the node cache's sorted
 * entries and the full compile's sorted matches must agree), on random
 * entries of every shape the compiler makes. */
START_TEST(test_entry_compare)
{
    uint32_t seed = 12345;
    struct conj_entry e[400];
    for (size_t i = 0; i < CF_ARRAY_SIZE(e); i++) {
        struct cflow_match m;
        memset(&m, 0, sizeof m);
        m.fields = CFLOW_F_DL_TYPE;
        m.dl_type = 0x0800;
        seed = seed * 1103515245 + 12345;
        unsigned shape = seed >> 16;
        seed = seed * 1103515245 + 12345;
        uint32_t addr = (seed >> 8) % 4 ? 0x0a000000 | (seed % 64) : seed;
        unsigned plen = (shape & 1 ? 32 : 8 + shape % 25);
        uint32_t mask = UINT32_MAX << (32 - plen);
        switch (shape % 5) {
        case 0:
            m.fields |= CFLOW_F_NW_SRC;
            m.nw_src = addr & mask;
            m.nw_src_mask = mask;
            break;
        case 1:
            m.fields |= CFLOW_F_NW_DST;
            m.nw_dst = addr & mask;
            m.nw_dst_mask = mask;
            break;
        case 2:
            m.fields |= CFLOW_F_NW_PROTO;
            m.nw_proto = (shape & 2 ? 6 : 17);
            break;
        case 3:
            m.fields |= CFLOW_F_NW_PROTO | CFLOW_F_TP_DST;
            m.nw_proto = (shape & 2 ? 6 : 132);
            m.tp_dst_mask = (shape & 4 ? 0xffff : 0xfff0);
            m.tp_dst = (80 + (seed >> 20) % 40) & m.tp_dst_mask;
            break;
        default:
            break;              /* "ip": a /0 peer. */
        }
        compiler_entry_from_match(&m, 1 + (shape >> 8) % 2, &e[i]);
    }
    for (size_t i = 0; i < CF_ARRAY_SIZE(e); i++) {
        for (size_t j = 0; j < CF_ARRAY_SIZE(e); j++) {
            struct cflow_match a, b;
            compiler_entry_match(&e[i], &a);
            compiler_entry_match(&e[j], &b);
            int want = (e[i].clause != e[j].clause
                        ? (e[i].clause < e[j].clause ? -1 : 1)
                        : cflow_match_compare(&a, &b));
            int got = compiler_entry_compare(&e[i], &e[j]);
            ck_assert_msg((want > 0) - (want < 0) == (got > 0) - (got < 0),
                          "entries %zu and %zu: %d, want %d", i, j, got,
                          want);
        }
    }
}
END_TEST


static Suite *
compiler_suite(void)
{
    Suite *s = suite_create("compiler");
    TCase *tc = tcase_create("compiler");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conj_id_and_cookie);
    tcase_add_test(tc, test_entry_compare);
    tcase_add_test(tc, test_port_ranges);
    tcase_add_test(tc, test_ipblock_except);
    tcase_add_test(tc, test_shared_peer_5000);
    tcase_add_test(tc, test_shared_peer_40000);
    tcase_add_test(tc, test_anti_spoofing);
    tcase_add_test(tc, test_unknown_port_drops);
    tcase_add_test(tc, test_isolation_and_node);
    tcase_add_test(tc, test_sctp_replies);
    tcase_add_test(tc, test_crossnode_denied);
    tcase_add_test(tc, test_cookies_find_rules);
    tcase_add_test(tc, test_conn_count);
    tcase_add_test(tc, test_stable_across_changes);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(compiler_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
