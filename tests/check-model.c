/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of the cluster model (controller/model.c): addresses and
 * CIDRs, labels, selectors (matching, normal form, ordering, text form),
 * object destroy/clone, kinds, tagged objects, clusters (sorting, lookups,
 * id assignment) and port maps.
 */
#include "conjflow-config.h"

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "conjflow/model.h"

/* A parse/format round trip: text 'in' formats back as 'out'. */
struct roundtrip {
    const char *in;             /* Text to parse. */
    const char *out;            /* Its expected text form. */
};

/* Parses 'str' as a CIDR into '*c' if 'c' is nonnull, otherwise as an
 * address into '*a', asserting that it parses. */
static void
parse(const char *str, struct cf_addr *a, struct cf_cidr *c)
{
    char *error = c ? cf_cidr_parse(str, c) : cf_addr_parse(str, a);
    ck_assert_msg(!error, "%s: %s", str, error);
}

/* Asserts that 'rt->in' parses as an address (or, if 'cidr', as a CIDR)
 * whose text form is 'rt->out'. */
static void
check_roundtrip(const struct roundtrip *rt, bool cidr)
{
    struct cf_ds ds = CF_DS_INIT;
    struct cf_addr a;
    struct cf_cidr c;
    parse(rt->in, &a, cidr ? &c : NULL);
    if (cidr) {
        cf_cidr_format(&c, &ds);
    } else {
        cf_addr_format(&a, &ds);
    }
    ck_assert_msg(!strcmp(cf_ds_cstr(&ds), rt->out),
                  "%s: formatted as \"%s\", expected \"%s\"", rt->in,
                  cf_ds_cstr(&ds), rt->out);
    cf_ds_destroy(&ds);
}

/* Asserts that 'str' fails to parse as a CIDR with a message containing
 * 'part'. */
static void
check_bad_cidr(const char *str, const char *part)
{
    struct cf_cidr cidr;
    char *error = cf_cidr_parse(str, &cidr);
    ck_assert_msg(error != NULL, "%s parsed", str);
    ck_assert_msg(strstr(error, part), "%s: \"%s\" lacks \"%s\"", str, error,
                  part);
    free(error);
}

START_TEST(test_addr_parse_format)
{
    static const struct roundtrip good[] = {
        { "10.1.2.3", "10.1.2.3" },
        { "fd00:0:0::1", "fd00::1" },
        { "::ffff:1.2.3.4", "::ffff:1.2.3.4" },
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(good); i++) {
        check_roundtrip(&good[i], false);
    }

    struct cf_addr addr;
    ck_assert_int_eq(cf_addr_parse("10.1.2.3", &addr) == NULL, 1);
    ck_assert_int_eq(addr.family, 4);
    ck_assert_uint_eq(cf_addr_ipv4(&addr), 0x0a010203);
    for (int i = 4; i < 16; i++) {
        ck_assert_int_eq(addr.bytes[i], 0);
    }

    const char *bad[] = { "", "10.1.2", "10.1.2.256", "1.2.3.4/8", "fd00::g",
                          "host", "10.0.0.1 ", ":::" };
    for (size_t i = 0; i < CF_ARRAY_SIZE(bad); i++) {
        char *error = cf_addr_parse(bad[i], &addr);
        ck_assert_msg(error != NULL, "\"%s\" parsed", bad[i]);
        free(error);
    }
    char *error = cf_addr_parse("10.1.2.256", &addr);
    ck_assert_str_eq(error, "\"10.1.2.256\" is not a valid IP address");
    free(error);
}
END_TEST

START_TEST(test_cidr_parse_format)
{
    static const struct roundtrip good[] = {
        { "10.0.0.0/8", "10.0.0.0/8" },
        { "10.1.2.3/8", "10.0.0.0/8" },         /* Host bits cleared. */
        { "192.168.7.255/23", "192.168.6.0/23" },
        { "0.0.0.0/0", "0.0.0.0/0" },
        { "1.2.3.4/32", "1.2.3.4/32" },
        { "fd00::1:2/64", "fd00::/64" },
        { "fd00:ffff::/17", "fd00:8000::/17" },
        { "::/0", "::/0" },
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(good); i++) {
        check_roundtrip(&good[i], true);
    }

    /* Each bad CIDR, and a part of its error message. */
    static const char *const bad[][2] = {
        { "10.0.0.1", "no prefix length" },
        { "10.0.0.0/33", "exceeds 32" },
        { "fd00::/129", "exceeds 128" },
        { "10.0.0.0/", "bad prefix length" },
        { "10.0.0.0/08", "bad prefix length" },
        { "10.0.0.0/-1", "bad prefix length" },
        { "10.0.0.0/8x", "bad prefix length" },
        { "10.0.0/8", "not a valid CIDR" },
        { "x/8", "not a valid CIDR" },
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(bad); i++) {
        check_bad_cidr(bad[i][0], bad[i][1]);
    }
}
END_TEST

/* Returns -1, 0 or 1 for a negative, zero or positive 'cmp'. */
static int
sign(int cmp)
{
    return (cmp > 0) - (cmp < 0);
}

START_TEST(test_cidr_contains_within_compare)
{
    /* Each relation between 'a' and 'b' and what it must give: for
     * CONTAINS (CIDR 'a' contains address 'b') and WITHIN (CIDR 'a' lies
     * within CIDR 'b') 1 or 0, for CIDR_CMP and ADDR_CMP the sign of
     * cf_cidr_compare(a, b) or cf_addr_compare(a, b). */
    enum relation { CONTAINS, WITHIN, CIDR_CMP, ADDR_CMP };
    static const char *const names[] = {
        [CONTAINS] = "contains", [WITHIN] = "within",
        [CIDR_CMP] = "cidr_compare", [ADDR_CMP] = "addr_compare",
    };
    static const struct {
        enum relation rel;
        const char *a, *b;
        int expect;
    } cases[] = {
        { CONTAINS, "10.0.0.0/8", "10.200.3.4", 1 },
        { CONTAINS, "10.0.0.0/8", "11.0.0.1", 0 },
        { CONTAINS, "10.1.0.0/16", "10.200.3.4", 0 },
        { CONTAINS, "fd00::/8", "fd12::1", 1 },
        { CONTAINS, "fd00::/8", "10.200.3.4", 0 },
        { CONTAINS, "0.0.0.0/0", "fd12::1", 0 },
        { CONTAINS, "0.0.0.0/0", "11.0.0.1", 1 },

        { WITHIN, "10.1.0.0/16", "10.0.0.0/8", 1 },
        { WITHIN, "10.0.0.0/8", "10.1.0.0/16", 0 },
        { WITHIN, "10.0.0.0/8", "10.0.0.0/8", 1 },
        { WITHIN, "11.0.0.0/8", "10.0.0.0/8", 0 },
        { WITHIN, "11.0.0.0/8", "0.0.0.0/0", 1 },
        { WITHIN, "fd00::/8", "0.0.0.0/0", 0 },
        /* Odd prefix lengths. */
        { WITHIN, "192.168.7.0/24", "192.168.6.0/23", 1 },
        { WITHIN, "192.168.8.0/25", "192.168.6.0/23", 0 },

        { CIDR_CMP, "10.0.0.0/8", "10.1.0.0/16", -1 },
        { CIDR_CMP, "11.0.0.0/8", "10.1.0.0/16", 1 },
        { CIDR_CMP, "11.0.0.0/8", "fd00::/8", -1 },     /* IPv4 first. */
        { CIDR_CMP, "0.0.0.0/0", "10.0.0.0/8", -1 },
        { CIDR_CMP, "10.0.0.0/8", "10.0.0.0/8", 0 },
        { CIDR_CMP, "10.0.0.0/8", "10.0.0.0/16", -1 },
        { ADDR_CMP, "10.200.3.4", "11.0.0.1", -1 },
        { ADDR_CMP, "fd12::1", "11.0.0.1", 1 },
        { ADDR_CMP, "10.200.3.4", "10.200.3.4", 0 },
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(cases); i++) {
        const char *a = cases[i].a, *b = cases[i].b;
        struct cf_cidr ca, cb;
        struct cf_addr aa, ab;
        int got;
        switch (cases[i].rel) {
        case CONTAINS:
            parse(a, NULL, &ca);
            parse(b, &ab, NULL);
            got = cf_cidr_contains(&ca, &ab);
            break;
        case WITHIN:
            parse(a, NULL, &ca);
            parse(b, NULL, &cb);
            got = cf_cidr_within(&ca, &cb);
            break;
        case CIDR_CMP:
            parse(a, NULL, &ca);
            parse(b, NULL, &cb);
            got = sign(cf_cidr_compare(&ca, &cb));
            break;
        case ADDR_CMP:
        default:
            parse(a, &aa, NULL);
            parse(b, &ab, NULL);
            got = sign(cf_addr_compare(&aa, &ab));
            break;
        }
        ck_assert_msg(got == cases[i].expect, "%s(%s, %s) gave %d, not %d",
                      names[cases[i].rel], a, b, got, cases[i].expect);
    }
}
END_TEST

START_TEST(test_labels)
{
    struct cf_labels l = { NULL, 0 };
    cf_labels_set(&l, "tier", "web");
    cf_labels_set(&l, "app", "x");
    cf_labels_set(&l, "zone", "");
    cf_labels_set(&l, "kubernetes.io/name", "n");
    cf_labels_set(&l, "app", "y");          /* Replaces. */
    ck_assert_uint_eq(l.n, 4);
    ck_assert_str_eq(l.items[0].key, "app");
    ck_assert_str_eq(l.items[1].key, "kubernetes.io/name");
    ck_assert_str_eq(l.items[2].key, "tier");
    ck_assert_str_eq(l.items[3].key, "zone");
    ck_assert_str_eq(cf_labels_get(&l, "app"), "y");
    ck_assert_str_eq(cf_labels_get(&l, "zone"), "");
    ck_assert_ptr_null(cf_labels_get(&l, "nope"));

    struct cf_labels copy;
    cf_labels_clone(&copy, &l);
    ck_assert(cf_labels_equal(&copy, &l));
    cf_labels_set(&copy, "tier", "db");
    ck_assert(!cf_labels_equal(&copy, &l));
    ck_assert_str_eq(cf_labels_get(&l, "tier"), "web");
    cf_labels_destroy(&copy);

    /* Unsorted input with a duplicate: sorted, the last one wins. */
    struct cf_labels u;
    u.n = 4;
    u.items = cf_xcalloc(4, sizeof *u.items);
    const char *kv[][2] = { { "b", "1" }, { "a", "2" }, { "b", "3" },
                            { "c", "4" } };
    for (int i = 0; i < 4; i++) {
        u.items[i].key = cf_xstrdup(kv[i][0]);
        u.items[i].value = cf_xstrdup(kv[i][1]);
    }
    cf_labels_sort(&u);
    ck_assert_uint_eq(u.n, 3);
    ck_assert_str_eq(u.items[0].key, "a");
    ck_assert_str_eq(u.items[1].key, "b");
    ck_assert_str_eq(u.items[1].value, "3");
    ck_assert_str_eq(u.items[2].key, "c");
    cf_labels_destroy(&u);
    cf_labels_destroy(&l);
    ck_assert_uint_eq(l.n, 0);
    cf_labels_destroy(NULL);
}
END_TEST

/* Adds a requirement to 'sel' (not normalized); 'values' ends with NULL. */
static void
sel_add(struct cf_selector *sel, const char *key, enum cf_sel_op op, ...)
{
    sel->reqs = cf_xrealloc(sel->reqs, (sel->n_reqs + 1) * sizeof *sel->reqs);
    struct cf_sel_req *req = &sel->reqs[sel->n_reqs++];
    memset(req, 0, sizeof *req);
    req->key = cf_xstrdup(key);
    req->op = op;
    va_list args;
    va_start(args, op);
    const char *v;
    while ((v = va_arg(args, const char *)) != NULL) {
        req->values = cf_xrealloc(req->values,
                                  (req->n_values + 1) * sizeof *req->values);
        req->values[req->n_values++] = cf_xstrdup(v);
    }
    va_end(args);
}

/* Returns the text form of 'sel', malloc'd. */
static char *
sel_text(const struct cf_selector *sel)
{
    struct cf_ds ds = CF_DS_INIT;
    cf_selector_format(sel, &ds);
    return cf_ds_steal(&ds);
}

START_TEST(test_selector_match)
{
    struct cf_labels web = { NULL, 0 }, db = { NULL, 0 }, none = { NULL, 0 };
    cf_labels_set(&web, "app", "web");
    cf_labels_set(&web, "tier", "front");
    cf_labels_set(&db, "app", "db");

    struct cf_selector all = { NULL, 0 };
    ck_assert(cf_selector_matches(&all, &web));
    ck_assert(cf_selector_matches(&all, &none));

    struct cf_selector in = { NULL, 0 };
    sel_add(&in, "app", CF_SEL_IN, "web", "api", NULL);
    cf_selector_normalize(&in);
    ck_assert(cf_selector_matches(&in, &web));
    ck_assert(!cf_selector_matches(&in, &db));
    ck_assert(!cf_selector_matches(&in, &none));

    struct cf_selector notin = { NULL, 0 };
    sel_add(&notin, "app", CF_SEL_NOT_IN, "web", NULL);
    cf_selector_normalize(&notin);
    ck_assert(!cf_selector_matches(&notin, &web));
    ck_assert(cf_selector_matches(&notin, &db));
    ck_assert(cf_selector_matches(&notin, &none));  /* Absent key. */

    struct cf_selector exists = { NULL, 0 };
    sel_add(&exists, "tier", CF_SEL_EXISTS, NULL);
    ck_assert(cf_selector_matches(&exists, &web));
    ck_assert(!cf_selector_matches(&exists, &db));

    struct cf_selector dne = { NULL, 0 };
    sel_add(&dne, "tier", CF_SEL_DOES_NOT_EXIST, NULL);
    ck_assert(!cf_selector_matches(&dne, &web));
    ck_assert(cf_selector_matches(&dne, &db));
    ck_assert(cf_selector_matches(&dne, &none));

    /* AND of requirements. */
    struct cf_selector both = { NULL, 0 };
    sel_add(&both, "tier", CF_SEL_EXISTS, NULL);
    sel_add(&both, "app", CF_SEL_IN, "db", NULL);
    cf_selector_normalize(&both);
    ck_assert(!cf_selector_matches(&both, &web));
    ck_assert(!cf_selector_matches(&both, &db));
    cf_labels_set(&db, "tier", "back");
    ck_assert(cf_selector_matches(&both, &db));

    /* Empty value. */
    struct cf_labels empty = { NULL, 0 };
    cf_labels_set(&empty, "app", "");
    struct cf_selector in_empty = { NULL, 0 };
    sel_add(&in_empty, "app", CF_SEL_IN, "", NULL);
    ck_assert(cf_selector_matches(&in_empty, &empty));
    ck_assert(!cf_selector_matches(&in_empty, &none));

    cf_selector_destroy(&in_empty);
    cf_labels_destroy(&empty);
    cf_selector_destroy(&both);
    cf_selector_destroy(&dne);
    cf_selector_destroy(&exists);
    cf_selector_destroy(&notin);
    cf_selector_destroy(&in);
    cf_labels_destroy(&web);
    cf_labels_destroy(&db);
    cf_selector_destroy(NULL);
}
END_TEST

START_TEST(test_selector_normalize_compare_format)
{
    struct cf_selector a = { NULL, 0 }, b = { NULL, 0 };
    sel_add(&a, "tier", CF_SEL_DOES_NOT_EXIST, NULL);
    sel_add(&a, "app", CF_SEL_IN, "web", "db", "web", NULL);
    sel_add(&a, "app", CF_SEL_EXISTS, NULL);
    sel_add(&a, "env", CF_SEL_NOT_IN, "prod", NULL);
    sel_add(&a, "tier", CF_SEL_DOES_NOT_EXIST, NULL);   /* Duplicate. */
    cf_selector_normalize(&a);

    sel_add(&b, "env", CF_SEL_NOT_IN, "prod", NULL);
    sel_add(&b, "app", CF_SEL_EXISTS, NULL);
    sel_add(&b, "tier", CF_SEL_DOES_NOT_EXIST, NULL);
    sel_add(&b, "app", CF_SEL_IN, "db", "web", NULL);
    cf_selector_normalize(&b);

    ck_assert_uint_eq(a.n_reqs, 4);
    ck_assert_str_eq(a.reqs[0].key, "app");
    ck_assert_int_eq(a.reqs[0].op, CF_SEL_IN);
    ck_assert_uint_eq(a.reqs[0].n_values, 2);
    ck_assert_str_eq(a.reqs[0].values[0], "db");
    ck_assert_str_eq(a.reqs[0].values[1], "web");
    ck_assert_int_eq(a.reqs[1].op, CF_SEL_EXISTS);
    ck_assert(cf_selector_equal(&a, &b));
    ck_assert_int_eq(cf_selector_compare(&a, &b), 0);

    char *text = sel_text(&a);
    ck_assert_str_eq(text, "app in (db,web),app,env notin (prod),!tier");
    free(text);

    struct cf_selector c;
    cf_selector_clone(&c, &a);
    ck_assert(cf_selector_equal(&a, &c));
    free(c.reqs[0].values[1]);
    c.reqs[0].values[1] = cf_xstrdup("x");
    ck_assert(!cf_selector_equal(&a, &c));
    ck_assert_int_lt(cf_selector_compare(&a, &c), 0);
    ck_assert_int_gt(cf_selector_compare(&c, &a), 0);

    struct cf_selector empty = { NULL, 0 }, one = { NULL, 0 };
    sel_add(&one, "app", CF_SEL_IN, "web", NULL);
    ck_assert_int_lt(cf_selector_compare(&empty, &one), 0);
    ck_assert(!cf_selector_equal(&empty, &one));
    text = sel_text(&one);
    ck_assert_str_eq(text, "app=web");
    free(text);
    text = sel_text(&empty);
    ck_assert_str_eq(text, "");
    free(text);

    cf_selector_destroy(&one);
    cf_selector_destroy(&c);
    cf_selector_destroy(&a);
    cf_selector_destroy(&b);
}
END_TEST

START_TEST(test_proto_kind)
{
    enum cf_proto p;
    ck_assert(cf_proto_parse("TCP", &p) && p == CF_PROTO_TCP);
    ck_assert(cf_proto_parse("UDP", &p) && p == CF_PROTO_UDP);
    ck_assert(cf_proto_parse("SCTP", &p) && p == CF_PROTO_SCTP);
    ck_assert(!cf_proto_parse("tcp", &p));
    ck_assert(!cf_proto_parse("ICMP", &p));
    ck_assert_str_eq(cf_proto_name(CF_PROTO_SCTP), "SCTP");
    ck_assert_str_eq(cf_proto_name(CF_PROTO_UDP), "UDP");

    enum cf_kind k;
    ck_assert(cf_kind_parse("netpol", &k) && k == CF_KIND_POLICY);
    ck_assert(cf_kind_parse("NetworkPolicies", &k) && k == CF_KIND_POLICY);
    ck_assert(cf_kind_parse("po", &k) && k == CF_KIND_POD);
    ck_assert(cf_kind_parse("ns", &k) && k == CF_KIND_NAMESPACE);
    ck_assert(cf_kind_parse("nodes", &k) && k == CF_KIND_NODE);
    ck_assert(!cf_kind_parse("service", &k));
    ck_assert_str_eq(cf_kind_name(CF_KIND_POLICY), "networkpolicy");
    ck_assert_str_eq(cf_kind_name(CF_KIND_NAMESPACE), "namespace");
    ck_assert(cf_kind_namespaced(CF_KIND_POD));
    ck_assert(cf_kind_namespaced(CF_KIND_POLICY));
    ck_assert(!cf_kind_namespaced(CF_KIND_NODE));
    ck_assert(!cf_kind_namespaced(CF_KIND_NAMESPACE));
}
END_TEST

/* Returns a new pod 'ns'/'name' with two container ports. */
static struct cf_pod *
make_pod(const char *ns, const char *name)
{
    struct cf_pod *pod = cf_xzalloc(sizeof *pod);
    pod->ns = cf_xstrdup(ns);
    pod->name = cf_xstrdup(name);
    pod->node = cf_xstrdup("n1");
    cf_labels_set(&pod->labels, "app", name);
    pod->n_ips = 1;
    pod->ips = cf_xcalloc(1, sizeof *pod->ips);
    ck_assert_ptr_null(cf_addr_parse("10.0.0.5", &pod->ips[0]));
    pod->n_ports = 2;
    pod->ports = cf_xcalloc(2, sizeof *pod->ports);
    pod->ports[0].name = cf_xstrdup("http");
    pod->ports[0].port = 8080;
    pod->ports[0].proto = CF_PROTO_TCP;
    pod->ports[1].name = cf_xstrdup("dns");
    pod->ports[1].port = 53;
    pod->ports[1].proto = CF_PROTO_UDP;
    return pod;
}

/* Returns a new policy 'ns'/'name' with one ingress rule that has an
 * ipBlock peer, a selector peer and a named and a numeric port. */
static struct cf_policy *
make_policy(const char *ns, const char *name, uint32_t id)
{
    struct cf_policy *p = cf_xzalloc(sizeof *p);
    p->id = id;
    p->ns = cf_xstrdup(ns);
    p->name = cf_xstrdup(name);
    sel_add(&p->pod_sel, "app", CF_SEL_IN, "web", NULL);
    p->ingress = true;
    p->n_ingress = 1;
    p->ingress_rules = cf_xcalloc(1, sizeof *p->ingress_rules);
    struct cf_rule *r = &p->ingress_rules[0];
    r->n_peers = 2;
    r->peers = cf_xcalloc(2, sizeof *r->peers);
    r->peers[0].has_ipblock = true;
    ck_assert_ptr_null(cf_cidr_parse("10.0.0.0/8",
                                     &r->peers[0].ipblock.cidr));
    r->peers[0].ipblock.n_except = 1;
    r->peers[0].ipblock.except = cf_xcalloc(1, sizeof(struct cf_cidr));
    ck_assert_ptr_null(cf_cidr_parse("10.1.0.0/16",
                                     &r->peers[0].ipblock.except[0]));
    r->peers[1].has_pod_sel = true;
    sel_add(&r->peers[1].pod_sel, "role", CF_SEL_EXISTS, NULL);
    r->peers[1].has_ns_sel = true;
    r->n_ports = 2;
    r->ports = cf_xcalloc(2, sizeof *r->ports);
    r->ports[0].proto = CF_PROTO_TCP;
    r->ports[0].kind = CF_PORT_NAME;
    r->ports[0].name = cf_xstrdup("http");
    r->ports[1].proto = CF_PROTO_UDP;
    r->ports[1].kind = CF_PORT_NUMBER;
    r->ports[1].port = 1000;
    r->ports[1].end_port = 2000;
    p->egress = true;
    p->n_egress = 1;
    p->egress_rules = cf_xcalloc(1, sizeof *p->egress_rules);
    return p;
}

/* Returns a new node 'name'. */
static struct cf_node *
make_node(const char *name, uint32_t id)
{
    struct cf_node *n = cf_xzalloc(sizeof *n);
    n->id = id;
    n->name = cf_xstrdup(name);
    n->ovsdb = cf_xstrdup("unix:/run/openvswitch/db.sock");
    n->bridge = cf_xstrdup("br-int");
    n->n_addrs = 1;
    n->addrs = cf_xcalloc(1, sizeof *n->addrs);
    ck_assert_ptr_null(cf_addr_parse("192.168.0.1", &n->addrs[0]));
    return n;
}

/* Returns a new namespace 'name'. */
static struct cf_namespace *
make_namespace(const char *name)
{
    struct cf_namespace *ns = cf_xzalloc(sizeof *ns);
    ns->name = cf_xstrdup(name);
    cf_labels_set(&ns->labels, "kubernetes.io/metadata.name", name);
    return ns;
}

START_TEST(test_objects_clone)
{
    struct cf_pod *pod = make_pod("x", "a");
    struct cf_pod *pod2 = cf_pod_clone(pod);
    ck_assert_ptr_ne(pod2->name, pod->name);
    ck_assert_str_eq(pod2->name, "a");
    ck_assert_str_eq(pod2->node, "n1");
    ck_assert(cf_labels_equal(&pod->labels, &pod2->labels));
    ck_assert_int_eq(cf_addr_compare(&pod->ips[0], &pod2->ips[0]), 0);
    ck_assert_uint_eq(cf_pod_resolve_port(pod2, "http", CF_PROTO_TCP), 8080);
    ck_assert_uint_eq(cf_pod_resolve_port(pod2, "dns", CF_PROTO_UDP), 53);
    ck_assert_uint_eq(cf_pod_resolve_port(pod2, "dns", CF_PROTO_TCP), 0);
    ck_assert_uint_eq(cf_pod_resolve_port(pod2, "nope", CF_PROTO_TCP), 0);
    cf_pod_destroy(pod);
    ck_assert_str_eq(pod2->ports[0].name, "http");
    cf_pod_destroy(pod2);

    struct cf_policy *p = make_policy("x", "allow", 7);
    struct cf_policy *p2 = cf_policy_clone(p);
    cf_policy_destroy(p);
    ck_assert_uint_eq(p2->id, 7);
    ck_assert(p2->ingress && p2->egress);
    ck_assert_uint_eq(p2->n_ingress, 1);
    ck_assert_uint_eq(p2->n_egress, 1);
    const struct cf_rule *r = &p2->ingress_rules[0];
    ck_assert_uint_eq(r->n_peers, 2);
    ck_assert(r->peers[0].has_ipblock);
    ck_assert_uint_eq(r->peers[0].ipblock.n_except, 1);
    ck_assert_uint_eq(r->peers[0].ipblock.except[0].plen, 16);
    ck_assert(r->peers[1].has_pod_sel && r->peers[1].has_ns_sel);
    ck_assert_str_eq(r->peers[1].pod_sel.reqs[0].key, "role");
    ck_assert_str_eq(r->ports[0].name, "http");
    ck_assert_uint_eq(r->ports[1].end_port, 2000);
    ck_assert_str_eq(p2->pod_sel.reqs[0].values[0], "web");
    cf_policy_destroy(p2);

    struct cf_node *n = make_node("n1", 3);
    struct cf_node *n2 = cf_node_clone(n);
    cf_node_destroy(n);
    ck_assert_str_eq(n2->bridge, "br-int");
    ck_assert_uint_eq(n2->id, 3);
    ck_assert_uint_eq(cf_addr_ipv4(&n2->addrs[0]), 0xc0a80001);
    cf_node_destroy(n2);

    struct cf_namespace *ns = make_namespace("x");
    struct cf_namespace *ns2 = cf_namespace_clone(ns);
    cf_namespace_destroy(ns);
    ck_assert_str_eq(cf_labels_get(&ns2->labels,
                                   "kubernetes.io/metadata.name"), "x");
    cf_namespace_destroy(ns2);

    cf_pod_destroy(NULL);
    cf_policy_destroy(NULL);
    cf_node_destroy(NULL);
    cf_namespace_destroy(NULL);
    cf_rule_destroy(NULL);
    cf_peer_destroy(NULL);
}
END_TEST

START_TEST(test_object_helpers)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_POLICY;
    obj->policy = make_policy("x", "allow-web", 0);
    obj->manifest = cf_xstrdup("{\"kind\":\"NetworkPolicy\"}");

    struct cf_object *copy = cf_object_clone(obj);
    cf_object_destroy(obj);
    ck_assert_str_eq(cf_object_ns(copy), "x");
    ck_assert_str_eq(cf_object_name(copy), "allow-web");
    ck_assert_str_eq(copy->manifest, "{\"kind\":\"NetworkPolicy\"}");
    struct cf_ds ds = CF_DS_INIT;
    cf_object_describe(copy, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds), "networkpolicy x/allow-web");
    cf_object_destroy(copy);

    obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_NAMESPACE;
    obj->ns = make_namespace("prod");
    ck_assert_ptr_null(cf_object_ns(obj));
    cf_ds_clear(&ds);
    cf_object_describe(obj, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds), "namespace prod");
    copy = cf_object_clone(obj);
    ck_assert_ptr_null(copy->manifest);
    cf_object_destroy(copy);
    cf_object_destroy(obj);

    obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_NODE;
    obj->node = make_node("n2", 0);
    cf_ds_clear(&ds);
    cf_object_describe(obj, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds), "node n2");
    cf_object_destroy(obj);

    obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_POD;
    obj->pod = make_pod("y", "p");
    cf_ds_clear(&ds);
    cf_object_describe(obj, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds), "pod y/p");
    cf_object_destroy(obj);
    cf_object_destroy(NULL);
    cf_ds_destroy(&ds);
}
END_TEST

/* Wraps a model struct into a new cf_object of 'kind'. */
static struct cf_object *
wrap(enum cf_kind kind, void *p)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = kind;
    switch (kind) {
    case CF_KIND_NAMESPACE:
        obj->ns = p;
        break;
    case CF_KIND_POD:
        obj->pod = p;
        break;
    case CF_KIND_POLICY:
        obj->policy = p;
        break;
    case CF_KIND_NODE:
        obj->node = p;
        break;
    default:
        break;
    }
    obj->manifest = cf_xstrdup("{}");
    return obj;
}

/* A sorted cluster with a few objects appended (a change loaded by itself)
 * is sorted by inserting them, and so is one with many. */
START_TEST(test_cluster_sort_appended)
{
    for (int n_new = 0; n_new <= 12; n_new += 3) {
        struct cf_cluster c;
        cf_cluster_init(&c);
        char name[32];
        for (int i = 0; i < 40; i++) {
            snprintf(name, sizeof name, "ns%02d", 2 * i + 1);
            cf_cluster_add(&c, wrap(CF_KIND_NAMESPACE,
                                    make_namespace(name)));
        }
        cf_cluster_sort(&c);
        for (int i = 0; i < n_new; i++) {
            /* Near the start, in the middle and further on. */
            int k = 2 * (i / 3) + (i % 3 == 0 ? 0 : i % 3 == 1 ? 60 : 30);
            snprintf(name, sizeof name, "ns%02d", k);
            cf_cluster_add(&c, wrap(CF_KIND_NAMESPACE,
                                    make_namespace(name)));
        }
        cf_cluster_sort(&c);
        ck_assert_uint_eq(c.n_namespaces, 40 + n_new);
        for (size_t i = 1; i < c.n_namespaces; i++) {
            ck_assert_int_lt(strcmp(c.namespaces[i - 1]->name,
                                    c.namespaces[i]->name), 0);
        }
        cf_cluster_destroy(&c);
    }
}
END_TEST

START_TEST(test_cluster)
{
    struct cf_cluster c;
    cf_cluster_init(&c);
    /* Many objects, added in a scrambled order. */
    char name[32];
    for (int i = 0; i < 50; i++) {
        int k = (i * 37) % 50;
        snprintf(name, sizeof name, "ns%02d", k);
        cf_cluster_add(&c, wrap(CF_KIND_NAMESPACE, make_namespace(name)));
        snprintf(name, sizeof name, "pod%02d", k);
        cf_cluster_add(&c, wrap(CF_KIND_POD,
                                make_pod(k % 2 ? "b" : "a", name)));
        snprintf(name, sizeof name, "pol%02d", k);
        cf_cluster_add(&c, wrap(CF_KIND_POLICY,
                                make_policy(k % 3 ? "b" : "a", name,
                                            k == 10 ? 100 : 0)));
        snprintf(name, sizeof name, "node%02d", k);
        cf_cluster_add(&c, wrap(CF_KIND_NODE,
                                make_node(name, k == 5 ? 9 : 0)));
    }
    ck_assert_uint_eq(c.n_namespaces, 50);
    ck_assert_uint_eq(c.n_pods, 50);
    ck_assert_uint_eq(c.n_policies, 50);
    ck_assert_uint_eq(c.n_nodes, 50);

    cf_cluster_sort(&c);
    for (size_t i = 1; i < 50; i++) {
        ck_assert_int_lt(strcmp(c.namespaces[i - 1]->name,
                                c.namespaces[i]->name), 0);
        int cmp = strcmp(c.pods[i - 1]->ns, c.pods[i]->ns);
        ck_assert(cmp < 0 || (!cmp && strcmp(c.pods[i - 1]->name,
                                             c.pods[i]->name) < 0));
    }
    ck_assert_str_eq(c.pods[0]->ns, "a");
    ck_assert_str_eq(c.pods[0]->name, "pod00");
    ck_assert_str_eq(c.pods[25]->ns, "b");
    ck_assert_str_eq(c.pods[25]->name, "pod01");

    ck_assert_ptr_nonnull(cf_cluster_find_namespace(&c, "ns17"));
    ck_assert_ptr_null(cf_cluster_find_namespace(&c, "ns50"));
    const struct cf_pod *pod = cf_cluster_find_pod(&c, "b", "pod17");
    ck_assert_ptr_nonnull(pod);
    ck_assert_str_eq(pod->name, "pod17");
    ck_assert_ptr_null(cf_cluster_find_pod(&c, "a", "pod17"));
    ck_assert_ptr_nonnull(cf_cluster_find_policy(&c, "a", "pol03"));
    ck_assert_ptr_null(cf_cluster_find_policy(&c, "b", "pol03"));
    ck_assert_ptr_nonnull(cf_cluster_find_node(&c, "node49"));
    ck_assert_ptr_null(cf_cluster_find_node(&c, "node"));
    for (size_t i = 0; i < 50; i++) {
        ck_assert_ptr_eq(cf_cluster_find_pod(&c, c.pods[i]->ns,
                                             c.pods[i]->name), c.pods[i]);
    }

    cf_cluster_assign_ids(&c);
    /* Policies: the one with id 100 keeps it; the others get 101.. in
     * (namespace, name) order. */
    uint32_t expect = 101;
    for (size_t i = 0; i < c.n_policies; i++) {
        if (!strcmp(c.policies[i]->name, "pol10")) {
            ck_assert_uint_eq(c.policies[i]->id, 100);
        } else {
            ck_assert_uint_eq(c.policies[i]->id, expect++);
        }
    }
    ck_assert_uint_eq(expect, 150);
    expect = 10;
    for (size_t i = 0; i < c.n_nodes; i++) {
        if (!strcmp(c.nodes[i]->name, "node05")) {
            ck_assert_uint_eq(c.nodes[i]->id, 9);
        } else {
            ck_assert_uint_eq(c.nodes[i]->id, expect++);
        }
    }
    /* Idempotent. */
    cf_cluster_assign_ids(&c);
    ck_assert_uint_eq(cf_cluster_find_policy(&c, "a", "pol00")->id, 101);

    cf_cluster_destroy(&c);
    ck_assert_uint_eq(c.n_pods, 0);

    /* An empty cluster. */
    cf_cluster_init(&c);
    cf_cluster_sort(&c);
    cf_cluster_assign_ids(&c);
    ck_assert_ptr_null(cf_cluster_find_pod(&c, "a", "b"));
    cf_cluster_destroy(&c);
}
END_TEST

/* Parses port map 'text' and asserts that it fails with exactly 'msg'. */
static void
check_bad_port_map(const char *text, const char *msg)
{
    struct cf_node_ports np;
    cf_node_ports_init(&np);
    char *error = cf_node_ports_parse(text, "map.txt", &np);
    ck_assert_msg(error != NULL, "\"%s\" parsed", text);
    ck_assert_str_eq(error, msg);
    ck_assert_uint_eq(np.n_bindings, 0);
    free(error);
    cf_node_ports_destroy(&np);
}

START_TEST(test_node_ports)
{
    struct cf_node_ports np;
    cf_node_ports_init(&np);
    char *error = cf_node_ports_parse(
        "# pods of node n1\n"
        "x/web 5 aa:bb:cc:dd:ee:0F\n"
        "\n"
        "   x/db\t3   # the database\n"
        "uplink 7\n"
        "uplink 1\n"
        "a/z 65279", "map.txt", &np);
    ck_assert_msg(!error, "%s", error);
    ck_assert_uint_eq(np.n_bindings, 3);
    ck_assert_str_eq(np.bindings[0].pod, "a/z");
    ck_assert_uint_eq(np.bindings[0].ofport, 65279);
    ck_assert_str_eq(np.bindings[1].pod, "x/db");
    ck_assert_uint_eq(np.bindings[1].ofport, 3);
    ck_assert(!np.bindings[1].has_mac);
    ck_assert_str_eq(np.bindings[2].pod, "x/web");
    ck_assert(np.bindings[2].has_mac);
    ck_assert_uint_eq(np.bindings[2].mac[0], 0xaa);
    ck_assert_uint_eq(np.bindings[2].mac[5], 0x0f);
    ck_assert_uint_eq(np.n_uplinks, 2);
    ck_assert_uint_eq(np.uplinks[0], 1);
    ck_assert_uint_eq(np.uplinks[1], 7);
    ck_assert_uint_eq(np.n_unknown, 0);

    /* A failed parse leaves the previous contents. */
    error = cf_node_ports_parse("x/a 0\n", "m", &np);
    ck_assert_ptr_nonnull(error);
    free(error);
    ck_assert_uint_eq(np.n_bindings, 3);
    cf_node_ports_destroy(&np);
    ck_assert_uint_eq(np.n_bindings, 0);

    check_bad_port_map("x/a 1\nx/b\n",
                       "map.txt: line 2: missing OpenFlow port number "
                       "after \"x/b\"");
    check_bad_port_map("\n\nxa 1\n",
                       "map.txt: line 3: \"xa\" is not "
                       "\"<namespace>/<pod>\"");
    check_bad_port_map("x/a 0\n", "map.txt: line 1: \"0\" is not a valid "
                       "OpenFlow port number (1..65279)");
    check_bad_port_map("x/a 65280\n", "map.txt: line 1: \"65280\" is not a "
                       "valid OpenFlow port number (1..65279)");
    check_bad_port_map("x/a 1x\n", "map.txt: line 1: \"1x\" is not a valid "
                       "OpenFlow port number (1..65279)");
    check_bad_port_map("x/a 1 aa:bb\n", "map.txt: line 1: \"aa:bb\" is not "
                       "a valid MAC address (expected xx:xx:xx:xx:xx:xx)");
    check_bad_port_map("x/a 1 aa:bb:cc:dd:ee:ff extra\n",
                       "map.txt: line 1: too many fields (expected "
                       "\"<namespace>/<pod> <ofport> [<mac>]\" or "
                       "\"uplink <ofport>\")");
    check_bad_port_map("uplink\n",
                       "map.txt: line 1: expected \"uplink <ofport>\"");
    check_bad_port_map("x/a 1\nx/a 2\n", "map.txt: pod x/a is listed twice");
    check_bad_port_map("x/a 1\nuplink 1\n",
                       "map.txt: OpenFlow port 1 is listed twice");
    check_bad_port_map("/a 1\n", "map.txt: line 1: \"/a\" is not "
                       "\"<namespace>/<pod>\"");

    /* Empty input. */
    cf_node_ports_init(&np);
    ck_assert_ptr_null(cf_node_ports_parse("", "m", &np));
    ck_assert_uint_eq(np.n_bindings + np.n_uplinks, 0);
    cf_node_ports_destroy(&np);
}
END_TEST

static Suite *
model_suite(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_addr_parse_format);
    tcase_add_test(tc, test_cidr_parse_format);
    tcase_add_test(tc, test_cidr_contains_within_compare);
    tcase_add_test(tc, test_labels);
    tcase_add_test(tc, test_selector_match);
    tcase_add_test(tc, test_selector_normalize_compare_format);
    tcase_add_test(tc, test_proto_kind);
    tcase_add_test(tc, test_objects_clone);
    tcase_add_test(tc, test_object_helpers);
    tcase_add_test(tc, test_cluster);
    tcase_add_test(tc, test_cluster_sort_appended);
    tcase_add_test(tc, test_node_ports);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(model_suite());
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
