/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Differential test: the flow interpreter (controller/interp.c) running
 * the compiler's flows must agree with the reference evaluator
 * (controller/evaluator.c) on every pod pair and a sample of ports, on
 * thousands of randomized clusters.  The clusters are generated from seeds
 * (reproducible: CF_DIFF_SEED=N runs that one cluster, CF_DIFF_N=N sets how
 * many): 2-3 nodes with addresses, 2-3 namespaces with labels, pods with
 * labels and named container ports (some host-network, some without
 * policy), policies with every kind of peer (pod/namespace selectors with
 * all operators, ipBlocks with excepts) and port (numbered, endPort
 * ranges, named, protocol-only) over TCP, UDP and SCTP.
 *
 * The conformance corpus (tests/data/conformance-cases.json, a copy of the
 * shared corpus; CF_CONFORMANCE_CASES=FILE reads another file in the same
 * format) is run too: every step of every case, every probe, every cell of
 * the expected matrix, against both the evaluator and the flows.  The
 * policies are parsed with the manifest library.
 *
 * Every fourth cluster also checks that the incremental API (one
 * contribution per (policy, node), then cf_compiler_merge()) gives exactly
 * the flows of a full compile, and every sixteenth that compiling twice
 * gives identical output.
 *
 * The node cache (cf_compiler_node_flows_cached()) is checked against full
 * compiles through sequences of changes, see test_node_cache().
 *
 * Besides the first packet of a connection, each case checks that an
 * established connection in the original direction is revalidated (same
 * verdict) and that replies of allowed connections pass.
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
#include "conjflow/evaluator.h"
#include "conjflow/interp.h"
#include "conjflow/manifest.h"

#include <jansson.h>

/* A small deterministic PRNG (xorshift64*). */
struct rng {
    uint64_t s;                 /* State, never 0. */
};

static uint32_t
rnd(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (uint32_t) ((r->s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* A random number in [0, n). */
static unsigned
rnd_n(struct rng *r, unsigned n)
{
    return rnd(r) % n;
}

static const char *const apps[] = { "web", "db", "api" };
static const enum cf_proto protos[] = {
    CF_PROTO_TCP, CF_PROTO_UDP, CF_PROTO_SCTP
};

/* A random pod selector. */
static void
gen_pod_sel(struct rng *r, struct cf_ds *ds)
{
    cf_ds_clear(ds);
    switch (rnd_n(r, 7)) {
    case 0:
        break;
    case 1:
    case 2:
        cf_ds_put_format(ds, "app=%s", apps[rnd_n(r, 3)]);
        break;
    case 3:
        cf_ds_put_format(ds, "app=%s|%s", apps[rnd_n(r, 3)],
                         apps[rnd_n(r, 3)]);
        break;
    case 4:
        cf_ds_put_format(ds, "app!=%s", apps[rnd_n(r, 3)]);
        break;
    case 5:
        cf_ds_put_cstr(ds, "tier");
        break;
    case 6:
        cf_ds_put_cstr(ds, "!tier");
        break;
    }
    if (!rnd_n(r, 4)) {
        cf_ds_put_format(ds, "%stier=%s", ds->len ? "," : "",
                         rnd_n(r, 2) ? "fe" : "be");
    }
}

/* A random namespace selector over 'n_ns' namespaces. */
static void
gen_ns_sel(struct rng *r, int n_ns, struct cf_ds *ds)
{
    cf_ds_clear(ds);
    switch (rnd_n(r, 6)) {
    case 0:
        break;
    case 1:
        cf_ds_put_format(ds, "team=%s", rnd_n(r, 2) ? "a" : "b");
        break;
    case 2:
        cf_ds_put_cstr(ds, "team!=a");
        break;
    case 3:
        cf_ds_put_cstr(ds, "env");
        break;
    case 4:
        cf_ds_put_cstr(ds, "!env");
        break;
    case 5:
        cf_ds_put_format(ds, "kubernetes.io/metadata.name=ns%u",
                         rnd_n(r, n_ns));
        break;
    }
}

/* Formats IPv4 'ip' (host order). */
static void
put_ip(struct cf_ds *ds, uint32_t ip)
{
    cf_ds_put_format(ds, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
                     (ip >> 8) & 0xff, ip & 0xff);
}

/* Generates a random rule into 'rule' for a cluster whose pods are
 * 'cl''s and namespaces number 'n_ns'. */
static void
gen_rule(struct rng *r, const struct cf_cluster *cl, int n_ns,
         struct cf_rule *rule)
{
    struct cf_ds a = CF_DS_INIT, b = CF_DS_INIT;
    unsigned n_peers = rnd_n(r, 4) == 0 ? 0 : 1 + rnd_n(r, 2);
    for (unsigned i = 0; i < n_peers; i++) {
        switch (rnd_n(r, 5)) {
        case 0:
            gen_pod_sel(r, &a);
            tb_peer_sel(rule, NULL, cf_ds_cstr(&a));
            break;
        case 1:
            gen_ns_sel(r, n_ns, &a);
            tb_peer_sel(rule, cf_ds_cstr(&a), NULL);
            break;
        case 2:
            gen_ns_sel(r, n_ns, &a);
            gen_pod_sel(r, &b);
            tb_peer_sel(rule, cf_ds_cstr(&a), cf_ds_cstr(&b));
            break;
        case 3:
        case 4: {
            /* An ipBlock around some pod's (or node's) address. */
            static const unsigned plens[] = { 0, 8, 16, 22, 24, 26, 28, 30,
                                              32 };
            const struct cf_pod *pod = cl->pods[rnd_n(r, cl->n_pods)];
            uint32_t ip = (pod->n_ips ? cf_addr_ipv4(&pod->ips[0])
                           : 0x0a000000);
            unsigned plen = plens[1 + rnd_n(r, 8)];
            if (!rnd_n(r, 20)) {
                plen = 0;
            }
            uint32_t mask = plen ? UINT32_MAX << (32 - plen) : 0;
            cf_ds_clear(&a);
            put_ip(&a, ip & mask);
            cf_ds_put_format(&a, "/%u", plen);
            unsigned n_except = plen < 32 ? rnd_n(r, 3) : 0;
            char *except[2];
            for (unsigned j = 0; j < n_except; j++) {
                /* Within the block: often around another pod. */
                const struct cf_pod *o = cl->pods[rnd_n(r, cl->n_pods)];
                uint32_t eip = (o->n_ips ? cf_addr_ipv4(&o->ips[0])
                                : rnd(r));
                if ((eip & mask) != (ip & mask)) {
                    eip = (ip & mask) | (rnd(r) & ~mask);
                }
                unsigned eplen = plen + 1 + rnd_n(r, 32 - plen);
                uint32_t emask = UINT32_MAX << (32 - eplen);
                cf_ds_clear(&b);
                put_ip(&b, eip & emask);
                cf_ds_put_format(&b, "/%u", eplen);
                except[j] = cf_ds_steal(&b);
            }
            tb_peer_ipblock(rule, cf_ds_cstr(&a),
                            (const char *const *) except, n_except);
            for (unsigned j = 0; j < n_except; j++) {
                free(except[j]);
            }
            break;
        }
        }
    }
    unsigned n_ports = rnd_n(r, 3) == 0 ? 0 : 1 + rnd_n(r, 2);
    static const uint16_t numbers[] = { 80, 81, 53, 8080, 9000 };
    static const char *const names[] = { "http", "dns", "sc", "nope" };
    for (unsigned i = 0; i < n_ports; i++) {
        enum cf_proto proto = protos[rnd_n(r, 3)];
        switch (rnd_n(r, 6)) {
        case 0:
        case 1: {
            uint16_t port = numbers[rnd_n(r, 5)];
            tb_port_number(rule, proto, port,
                           rnd_n(r, 3) ? port : port + rnd_n(r, 200));
            break;
        }
        case 2:
        case 3:
            tb_port_name(rule, proto, names[rnd_n(r, 4)]);
            break;
        case 4:
            tb_port_all(rule, proto);
            break;
        case 5:
            tb_port_number(rule, proto, 1 + rnd_n(r, 100),
                           rnd_n(r, 2) ? 0 : 65535);
            break;
        }
    }
    cf_ds_destroy(&a);
    cf_ds_destroy(&b);
}

/* Generates the random cluster of 'seed' into 'cl' (sorted, ids
 * assigned). */
static void
gen_cluster(uint64_t seed, struct cf_cluster *cl)
{
    struct rng r = { seed * 0x9E3779B97F4A7C15ULL + 1 };
    struct cf_ds a = CF_DS_INIT, b = CF_DS_INIT;

    cf_cluster_init(cl);
    int n_nodes = 2 + rnd_n(&r, 2);
    for (int i = 0; i < n_nodes; i++) {
        char name[16], addr[32];
        snprintf(name, sizeof name, "n%d", i);
        snprintf(addr, sizeof addr, "192.168.0.%d", i + 1);
        tb_node(cl, name, 0, addr);
    }
    int n_ns = 2 + rnd_n(&r, 2);
    for (int i = 0; i < n_ns; i++) {
        char name[16];
        snprintf(name, sizeof name, "ns%d", i);
        cf_ds_clear(&a);
        if (rnd_n(&r, 3)) {
            cf_ds_put_format(&a, "team=%s", rnd_n(&r, 2) ? "a" : "b");
        }
        if (!rnd_n(&r, 2)) {
            cf_ds_put_format(&a, "%senv=prod", a.len ? "," : "");
        }
        tb_ns(cl, name, cf_ds_cstr(&a));
    }
    /* Every tenth cluster is larger, so that more rules share clause
     * flows and priority bands. */
    bool large = seed % 10 == 0;
    int n_pods = large ? 12 + rnd_n(&r, 10) : 4 + rnd_n(&r, 6);
    for (int i = 0; i < n_pods; i++) {
        char ns[16], name[16], node[16], ip[32];
        snprintf(ns, sizeof ns, "ns%u", rnd_n(&r, n_ns));
        snprintf(name, sizeof name, "p%d", i);
        int nd = rnd_n(&r, n_nodes);
        snprintf(node, sizeof node, "n%d", nd);
        bool host = !rnd_n(&r, 10);
        if (host) {
            snprintf(ip, sizeof ip, "192.168.0.%d", nd + 1);
        } else {
            snprintf(ip, sizeof ip, "10.0.%u.%d", rnd_n(&r, 4), 10 + i);
        }
        cf_ds_clear(&a);
        if (rnd_n(&r, 5)) {
            cf_ds_put_format(&a, "app=%s", apps[rnd_n(&r, 3)]);
        }
        if (rnd_n(&r, 2)) {
            cf_ds_put_format(&a, "%stier=%s", a.len ? "," : "",
                             rnd_n(&r, 2) ? "fe" : "be");
        }
        cf_ds_clear(&b);
        cf_ds_put_cstr(&b, rnd_n(&r, 2) ? "http:80/TCP" : "http:8080/TCP");
        if (rnd_n(&r, 2)) {
            cf_ds_put_cstr(&b, ",dns:53/UDP");
        }
        if (rnd_n(&r, 2)) {
            cf_ds_put_cstr(&b, rnd_n(&r, 2) ? ",sc:9000/SCTP"
                                             : ",sc:80/SCTP");
        }
        if (rnd_n(&r, 3)) {
            cf_ds_put_cstr(&b, ",:81/TCP");
        }
        struct cf_pod *pod = tb_pod(cl, ns, name, node, ip, cf_ds_cstr(&a),
                                    cf_ds_cstr(&b));
        pod->host_network = host;
    }
    cf_cluster_sort(cl);

    int n_pol = large ? 5 + rnd_n(&r, 8) : 1 + rnd_n(&r, 4);
    for (int i = 0; i < n_pol; i++) {
        char ns[16], name[16];
        snprintf(ns, sizeof ns, "ns%u", rnd_n(&r, n_ns));
        snprintf(name, sizeof name, "pol%d", i);
        gen_pod_sel(&r, &a);
        unsigned types = 1 + rnd_n(&r, 3);
        struct cf_policy *p = tb_policy(cl, ns, name, cf_ds_cstr(&a),
                                        types & 1, types & 2);
        for (int d = 0; d < 2; d++) {
            bool enabled = d ? p->egress : p->ingress;
            if (!enabled && rnd_n(&r, 4)) {
                continue;
            }
            unsigned n_rules = rnd_n(&r, 3);
            for (unsigned k = 0; k < n_rules; k++) {
                gen_rule(&r, cl, n_ns, tb_rule(p, d));
            }
        }
    }
    cf_cluster_assign_ids(cl);
    cf_ds_destroy(&a);
    cf_ds_destroy(&b);
}

/* Reports a disagreement on 'seed' with everything needed to debug it. */
static void
report(uint64_t seed, const struct tb_world *w, const struct cf_pod *src,
       const struct cf_pod *dst, uint16_t port, enum cf_proto proto,
       const char *what, bool expected)
{
    struct cf_ds ds = CF_DS_INIT;
    cf_ds_put_format(&ds, "seed %"PRIu64": %s/%s -> %s/%s %u/%s (%s): "
                     "evaluator says %s, flows disagree\n", seed, src->ns,
                     src->name, dst->ns, dst->name, port,
                     cf_proto_name(proto), what,
                     expected ? "allowed" : "denied");
    cf_eval_pods(w->cluster, src, dst, port, proto, NULL, &ds);
    for (size_t i = 0; i < w->n; i++) {
        cf_ds_put_format(&ds, "--- node %s\n", w->cluster->nodes[i]->name);
        tb_format_flows(&w->flows[i], &ds);
    }
    fputs(cf_ds_cstr(&ds), stderr);
    cf_ds_destroy(&ds);
}

/* Runs the differential check on the cluster of 'seed'.  Returns the
 * number of disagreements; adds the number of checks to '*n_checks'. */
static int
check_seed(uint64_t seed, size_t *n_checks, size_t *n_allowed,
           size_t *n_merged)
{
    struct cf_cluster cl;
    struct tb_world w;
    int failures = 0;

    gen_cluster(seed, &cl);
    char *error = tb_world_build(&w, &cl);
    ck_assert_msg(!error, "seed %"PRIu64": %s", seed, error ? error : "");
    for (size_t i = 0; i < w.n; i++) {
        char *inv = tb_check_invariants(&w.flows[i]);
        ck_assert_msg(!inv, "seed %"PRIu64": node %zu: %s", seed, i,
                      inv ? inv : "");
        for (size_t k = 0; k < w.flows[i].n; k++) {
            const struct cflow *f = &w.flows[i].flows[k];
            *n_merged += (f->n_actions > 1
                          && f->actions[1].type == CFLOW_A_CONJUNCTION);
        }
    }

    struct rng r = { seed + 7 };
    struct {
        uint16_t port;
        enum cf_proto proto;
    } samples[12] = {
        { 80, CF_PROTO_TCP }, { 81, CF_PROTO_TCP }, { 8080, CF_PROTO_TCP },
        { 53, CF_PROTO_UDP }, { 80, CF_PROTO_UDP }, { 9000, CF_PROTO_SCTP },
        { 80, CF_PROTO_SCTP }, { 53, CF_PROTO_TCP }, { 0, 0 }, { 0, 0 },
        { 0, 0 }, { 0, 0 },
    };
    for (size_t i = 8; i < 12; i++) {
        samples[i].port = i < 10 ? 80 + rnd_n(&r, 200) : 1 + rnd_n(&r, 65535);
        samples[i].proto = protos[rnd_n(&r, 3)];
    }

    for (size_t i = 0; i < cl.n_pods && !failures; i++) {
        const struct cf_pod *src = cl.pods[i];
        for (size_t j = 0; j < cl.n_pods && !failures; j++) {
            const struct cf_pod *dst = cl.pods[j];
            for (size_t k = 0; k < CF_ARRAY_SIZE(samples); k++) {
                uint16_t port = samples[k].port;
                enum cf_proto proto = samples[k].proto;
                bool want = cf_eval_pods(&cl, src, dst, port, proto, NULL,
                                         NULL);
                bool got = tb_world_send(&w, src, dst, port, proto, 0,
                                         false);
                (*n_checks)++;
                *n_allowed += want;
                if (got != want) {
                    report(seed, &w, src, dst, port, proto, "new", want);
                    failures++;
                    break;
                }
                if (proto != CF_PROTO_SCTP) {
                    got = tb_world_send(&w, src, dst, port, proto,
                                        CFLOW_CS_EST, false);
                    if (got != want) {
                        report(seed, &w, src, dst, port, proto,
                               "established, original direction", want);
                        failures++;
                        break;
                    }
                }
                if (want) {
                    /* The reply (as conntrack or the learned SCTP flow
                     * sees it) passes, even against policy. */
                    got = tb_world_send(&w, dst, src, 40000, proto,
                                        CFLOW_CS_EST | CFLOW_CS_RPL,
                                        proto == CF_PROTO_SCTP);
                    if (!got && !(dst->host_network && src->host_network)) {
                        report(seed, &w, dst, src, 40000, proto, "reply",
                               true);
                        failures++;
                        break;
                    }
                }
            }
        }
    }

    if (seed % 4 == 0) {
        /* The incremental API: every policy's contribution computed on
         * its own, then merged, gives exactly the full compile. */
        struct cf_compiler *c = cf_compiler_create(&cl);
        for (size_t i = 0; i < w.n; i++) {
            struct cf_policy_flows **pfs = cf_xcalloc(cl.n_policies + 1,
                                                      sizeof *pfs);
            for (size_t k = 0; k < cl.n_policies; k++) {
                pfs[k] = cf_compiler_policy_flows(c, cl.policies[k],
                                                  cl.nodes[i], &w.ports[i]);
            }
            struct cflow_set merged;
            cflow_set_init(&merged);
            error = cf_compiler_merge(c, cl.nodes[i], &w.ports[i], pfs,
                                      cl.n_policies, &merged);
            ck_assert(!error);
            ck_assert_uint_eq(merged.n, w.flows[i].n);
            for (size_t k = 0; k < merged.n; k++) {
                ck_assert(cflow_equal(&merged.flows[k],
                                      &w.flows[i].flows[k]));
            }
            for (size_t k = 0; k < cl.n_policies; k++) {
                cf_policy_flows_destroy(pfs[k]);
            }
            free(pfs);
            cflow_set_destroy(&merged);
        }
        cf_compiler_destroy(c);
    }
    if (seed % 16 == 0) {
        /* Determinism: a second compile gives the same flows. */
        struct tb_world w2;
        error = tb_world_build(&w2, &cl);
        ck_assert(!error);
        for (size_t i = 0; i < w.n; i++) {
            ck_assert_uint_eq(w.flows[i].n, w2.flows[i].n);
            for (size_t k = 0; k < w.flows[i].n; k++) {
                ck_assert(cflow_equal(&w.flows[i].flows[k],
                                      &w2.flows[i].flows[k]));
            }
        }
        tb_world_destroy(&w2);
    }
    tb_world_destroy(&w);
    cf_cluster_destroy(&cl);
    return failures;
}

START_TEST(test_random_clusters)
{
    const char *one = getenv("CF_DIFF_SEED");
    const char *count = getenv("CF_DIFF_N");
    uint64_t first = one ? strtoull(one, NULL, 10) : 1;
    uint64_t n = one ? 1 : count ? strtoull(count, NULL, 10) : 4000;
    size_t n_checks = 0, n_allowed = 0, n_merged = 0;
    int failures = 0;
    for (uint64_t seed = first; seed < first + n && failures < 3; seed++) {
        failures += check_seed(seed, &n_checks, &n_allowed, &n_merged);
    }
    printf("differential: %"PRIu64" clusters (%zu clause flows shared by "
           "several conjunctions), %zu connections checked (%zu allowed), "
           "%d disagreements\n", n, n_merged, n_checks, n_allowed,
           failures);
    ck_assert_int_eq(failures, 0);
    ck_assert(n_checks > n * 50);
    /* Both verdicts are well represented. */
    ck_assert(n_allowed > n_checks / 10 && n_allowed < n_checks * 9 / 10);
}
END_TEST


/* ---- The conformance corpus --------------------------------------------- */

/* The corpus's fixed model, as it evolves through a case's steps. */
struct conf_model {
    char *ns_names[8];          /* Namespace names. */
    struct cf_labels ns_labels[8];
    size_t n_ns;
    char *pod_ns[32], *pod_names[32];   /* Pods in pod_order. */
    struct cf_labels pod_labels[32];
    size_t n_pods;
    struct cf_policy **policies;    /* Current policies (owned). */
    size_t n_policies;
    char *ports;                /* Container ports, tb_pod() syntax. */
};

/* Returns the IPv4 address text of pod 'i' of 'm' in 'buf'. */
static const char *
conf_pod_ip(size_t i, char buf[32])
{
    snprintf(buf, 32, "10.244.%zu.%zu", 1 + i / 3, 1 + i % 3);
    return buf;
}

/* Returns the index of pod "ns/name" in 'm', or SIZE_MAX. */
static size_t
conf_find_pod(const struct conf_model *m, const char *ref)
{
    for (size_t i = 0; i < m->n_pods; i++) {
        char *name = cf_xasprintf("%s/%s", m->pod_ns[i], m->pod_names[i]);
        bool eq = !strcmp(name, ref);
        free(name);
        if (eq) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Replaces the {{hostcidr:ns/pod}}, {{cidr4:ns/pod}} and {{ip:ns/pod}}
 * templates of 'text'.  Returns a malloc'd string. */
static char *
conf_fill_templates(const struct conf_model *m, const char *text)
{
    struct cf_ds out = CF_DS_INIT;
    while (*text) {
        const char *open = strstr(text, "{{");
        if (!open) {
            cf_ds_put_cstr(&out, text);
            break;
        }
        cf_ds_put_buf(&out, text, open - text);
        const char *close = strstr(open, "}}");
        ck_assert(close);
        char *inner = cf_xmemdup0(open + 2, close - open - 2);
        char *colon = strchr(inner, ':');
        ck_assert(colon);
        *colon = '\0';
        size_t pod = conf_find_pod(m, colon + 1);
        ck_assert_msg(pod != SIZE_MAX, "unknown pod %s", colon + 1);
        char ip[32];
        conf_pod_ip(pod, ip);
        if (!strcmp(inner, "hostcidr")) {
            cf_ds_put_format(&out, "%s/32", ip);
        } else if (!strcmp(inner, "cidr4")) {
            unsigned a = atoi(ip);
            cf_ds_put_format(&out, "%u.0.0.0/4", a & 0xf0);
        } else {
            ck_assert_str_eq(inner, "ip");
            cf_ds_put_cstr(&out, ip);
        }
        free(inner);
        text = close + 2;
    }
    return cf_ds_steal(&out);
}

/* Sets 'labels' from JSON object 'obj' (merging if 'merge'). */
static void
conf_set_labels(struct cf_labels *labels, json_t *obj, bool merge,
                const char *keep_key, const char *keep_value)
{
    if (!merge) {
        cf_labels_destroy(labels);
        memset(labels, 0, sizeof *labels);
        if (keep_key) {
            cf_labels_set(labels, keep_key, keep_value);
        }
    }
    const char *key;
    json_t *value;
    json_object_foreach (obj, key, value) {
        cf_labels_set(labels, key, json_string_value(value));
    }
}

/* Parses the policy manifest 'json' of case 'id' (templates filled in). */
static struct cf_policy *
conf_parse_policy(const struct conf_model *m, const char *id, json_t *json)
{
    char *raw = json_dumps(json, JSON_COMPACT);
    char *text = conf_fill_templates(m, raw);
    struct cf_object_list list;
    cf_object_list_init(&list);
    char *error = cf_manifest_parse(text, strlen(text), id,
                                    CF_MANIFEST_STRICT, &list);
    ck_assert_msg(!error, "%s: %s", id, error ? error : "");
    ck_assert_uint_eq(list.n, 1);
    ck_assert(list.objs[0]->kind == CF_KIND_POLICY);
    struct cf_policy *p = cf_policy_clone(list.objs[0]->policy);
    cf_object_list_destroy(&list);
    free(text);
    free(raw);
    return p;
}

/* Removes policy 'i' of 'm'. */
static void
conf_remove_policy(struct conf_model *m, size_t i)
{
    cf_policy_destroy(m->policies[i]);
    m->policies[i] = m->policies[--m->n_policies];
}

/* Applies action 'a' of case 'id' to 'm'. */
static void
conf_apply(struct conf_model *m, const char *id, json_t *a)
{
    const char *op = json_string_value(json_object_get(a, "op"));
    ck_assert(op);
    if (!strcmp(op, "create_policy") || !strcmp(op, "update_policy")) {
        struct cf_policy *p = conf_parse_policy(m, id,
                                                json_object_get(a, "policy"));
        for (size_t i = 0; i < m->n_policies; i++) {
            if (!strcmp(m->policies[i]->ns, p->ns)
                && !strcmp(m->policies[i]->name, p->name)) {
                conf_remove_policy(m, i);
                break;
            }
        }
        m->policies = cf_xrealloc(m->policies, (m->n_policies + 1)
                                  * sizeof *m->policies);
        m->policies[m->n_policies++] = p;
    } else if (!strcmp(op, "delete_policy")) {
        const char *ns = json_string_value(json_object_get(a, "namespace"));
        const char *name = json_string_value(json_object_get(a, "name"));
        for (size_t i = 0; i < m->n_policies; i++) {
            if (!strcmp(m->policies[i]->ns, ns)
                && !strcmp(m->policies[i]->name, name)) {
                conf_remove_policy(m, i);
                break;
            }
        }
    } else if (!strcmp(op, "delete_all_policies")) {
        json_t *nss = json_object_get(a, "namespaces");
        size_t k;
        json_t *ns;
        json_array_foreach (nss, k, ns) {
            for (size_t i = 0; i < m->n_policies; ) {
                if (!strcmp(m->policies[i]->ns, json_string_value(ns))) {
                    conf_remove_policy(m, i);
                } else {
                    i++;
                }
            }
        }
    } else if (strstr(op, "namespace_labels")) {
        const char *ns = json_string_value(json_object_get(a, "namespace"));
        for (size_t i = 0; i < m->n_ns; i++) {
            if (!strcmp(m->ns_names[i], ns)) {
                conf_set_labels(&m->ns_labels[i],
                                json_object_get(a, "labels"),
                                !strncmp(op, "add", 3),
                                "kubernetes.io/metadata.name", ns);
            }
        }
    } else if (strstr(op, "pod_labels")) {
        const char *ns = json_string_value(json_object_get(a, "namespace"));
        const char *pod = json_string_value(json_object_get(a, "pod"));
        for (size_t i = 0; i < m->n_pods; i++) {
            if (!strcmp(m->pod_ns[i], ns) && !strcmp(m->pod_names[i], pod)) {
                conf_set_labels(&m->pod_labels[i],
                                json_object_get(a, "labels"),
                                !strncmp(op, "add", 3), NULL, NULL);
            }
        }
    } else {
        ck_abort_msg("%s: unknown action %s", id, op);
    }
}

/* Builds the cluster of 'm' into 'cl': two nodes, pods alternating. */
static void
conf_build(const struct conf_model *m, struct cf_cluster *cl)
{
    cf_cluster_init(cl);
    tb_node(cl, "n1", 0, "192.168.0.1");
    tb_node(cl, "n2", 0, "192.168.0.2");
    for (size_t i = 0; i < m->n_ns; i++) {
        struct cf_namespace *ns = tb_ns(cl, m->ns_names[i], "");
        cf_labels_destroy(&ns->labels);
        cf_labels_clone(&ns->labels, &m->ns_labels[i]);
    }
    for (size_t i = 0; i < m->n_pods; i++) {
        char ip[32];
        struct cf_pod *pod = tb_pod(cl, m->pod_ns[i], m->pod_names[i],
                                    i % 2 ? "n2" : "n1", conf_pod_ip(i, ip),
                                    "", m->ports);
        cf_labels_destroy(&pod->labels);
        cf_labels_clone(&pod->labels, &m->pod_labels[i]);
    }
    for (size_t i = 0; i < m->n_policies; i++) {
        struct cf_object *obj = cf_xzalloc(sizeof *obj);
        obj->kind = CF_KIND_POLICY;
        obj->policy = cf_policy_clone(m->policies[i]);
        obj->policy->id = 0;
        cf_cluster_add(cl, obj);
    }
    cf_cluster_assign_ids(cl);
}

/* Runs every probe of 'step' of case 'id' on 'm'; adds the number of
 * cells checked to '*n_cells'.  Returns the number of wrong cells. */
static int
conf_probe(const struct conf_model *m, const char *id, size_t step_no,
           json_t *step, size_t *n_cells)
{
    struct cf_cluster cl;
    struct tb_world w;
    int wrong = 0;

    conf_build(m, &cl);
    char *error = tb_world_build(&w, &cl);
    ck_assert_msg(!error, "%s: %s", id, error ? error : "");
    for (size_t i = 0; i < w.n; i++) {
        char *inv = tb_check_invariants(&w.flows[i]);
        ck_assert_msg(!inv, "%s: %s", id, inv ? inv : "");
    }

    size_t k;
    json_t *probe;
    json_array_foreach (json_object_get(step, "probes"), k, probe) {
        uint16_t port = json_integer_value(json_object_get(probe, "port"));
        enum cf_proto proto;
        ck_assert(cf_proto_parse(json_string_value(
                                     json_object_get(probe, "protocol")),
                                 &proto));
        json_t *matrix = json_object_get(json_object_get(probe, "expected"),
                                         "matrix");
        for (size_t i = 0; i < m->n_pods; i++) {
            const char *row = json_string_value(json_array_get(matrix, i));
            const struct cf_pod *src = cf_cluster_find_pod(
                &cl, m->pod_ns[i], m->pod_names[i]);
            for (size_t j = 0; j < m->n_pods; j++) {
                const struct cf_pod *dst = cf_cluster_find_pod(
                    &cl, m->pod_ns[j], m->pod_names[j]);
                bool want = row[j] == '.';
                bool eval = cf_eval_pods(&cl, src, dst, port, proto, NULL,
                                         NULL);
                bool flows = tb_world_send(&w, src, dst, port, proto, 0,
                                           false);
                (*n_cells)++;
                if (eval != want || flows != want) {
                    fprintf(stderr, "%s step %zu: %s/%s -> %s/%s %u/%s: "
                            "expected %s, evaluator %s, flows %s\n", id,
                            step_no, src->ns, src->name, dst->ns,
                            dst->name, port, cf_proto_name(proto),
                            want ? "allowed" : "denied",
                            eval ? "allowed" : "denied",
                            flows ? "allowed" : "denied");
                    wrong++;
                }
            }
        }
    }
    tb_world_destroy(&w);
    cf_cluster_destroy(&cl);
    return wrong;
}

START_TEST(test_conformance_corpus)
{
    const char *path = getenv("CF_CONFORMANCE_CASES");
    char *owned = NULL;
    if (!path) {
        const char *srcdir = getenv("srcdir");
        owned = cf_xasprintf("%s/tests/data/conformance-cases.json",
                             srcdir ? srcdir : ".");
        path = owned;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root, "%s: %s", path, jerr.text);

    struct conf_model base;
    memset(&base, 0, sizeof base);
    json_t *model = json_object_get(root, "model");
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(model, "namespaces"), i, v) {
        base.ns_names[base.n_ns] = cf_xstrdup(
            json_string_value(json_object_get(v, "name")));
        conf_set_labels(&base.ns_labels[base.n_ns],
                        json_object_get(v, "labels"), false, NULL, NULL);
        base.n_ns++;
    }
    json_array_foreach (json_object_get(model, "pods"), i, v) {
        base.pod_ns[base.n_pods] = cf_xstrdup(
            json_string_value(json_object_get(v, "namespace")));
        base.pod_names[base.n_pods] = cf_xstrdup(
            json_string_value(json_object_get(v, "name")));
        conf_set_labels(&base.pod_labels[base.n_pods],
                        json_object_get(v, "labels"), false, NULL, NULL);
        base.n_pods++;
    }
    ck_assert_uint_eq(base.n_pods, 9);

    size_t n_cases = 0, n_steps = 0, n_cells = 0;
    int wrong = 0;
    json_t *kase;
    json_array_foreach (json_object_get(root, "cases"), i, kase) {
        const char *id = json_string_value(json_object_get(kase, "id"));
        struct conf_model m;
        m = base;
        for (size_t k = 0; k < m.n_ns; k++) {
            cf_labels_clone(&m.ns_labels[k], &base.ns_labels[k]);
        }
        for (size_t k = 0; k < m.n_pods; k++) {
            cf_labels_clone(&m.pod_labels[k], &base.pod_labels[k]);
        }
        m.policies = NULL;
        m.n_policies = 0;
        /* Container ports "serve-<port>-<proto>" for what is served. */
        struct cf_ds ports = CF_DS_INIT;
        json_t *served = json_object_get(kase, "served");
        size_t a, b;
        json_t *pv, *tv;
        json_array_foreach (json_object_get(served, "ports"), a, pv) {
            json_array_foreach (json_object_get(served, "protocols"), b,
                                tv) {
                const char *t = json_string_value(tv);
                char lower[8];
                size_t n = 0;
                for (; t[n] && n < 7; n++) {
                    lower[n] = t[n] | 0x20;
                }
                lower[n] = '\0';
                cf_ds_put_format(&ports, "%sserve-%d-%s:%d/%s",
                                 ports.len ? "," : "",
                                 (int) json_integer_value(pv), lower,
                                 (int) json_integer_value(pv), t);
            }
        }
        m.ports = cf_ds_steal(&ports);

        size_t s;
        json_t *step;
        json_array_foreach (json_object_get(kase, "steps"), s, step) {
            json_t *action;
            json_array_foreach (json_object_get(step, "actions"), a, action) {
                conf_apply(&m, id, action);
            }
            wrong += conf_probe(&m, id, s, step, &n_cells);
            n_steps++;
        }
        n_cases++;
        for (size_t k = 0; k < m.n_policies; k++) {
            cf_policy_destroy(m.policies[k]);
        }
        free(m.policies);
        for (size_t k = 0; k < m.n_ns; k++) {
            cf_labels_destroy(&m.ns_labels[k]);
        }
        for (size_t k = 0; k < m.n_pods; k++) {
            cf_labels_destroy(&m.pod_labels[k]);
        }
        free(m.ports);
    }
    printf("conformance: %zu cases, %zu steps, %zu cells, %d wrong\n",
           n_cases, n_steps, n_cells, wrong);
    ck_assert_int_eq(wrong, 0);
    ck_assert_uint_gt(n_cases, 0);

    for (size_t k = 0; k < base.n_ns; k++) {
        free(base.ns_names[k]);
        cf_labels_destroy(&base.ns_labels[k]);
    }
    for (size_t k = 0; k < base.n_pods; k++) {
        free(base.pod_ns[k]);
        free(base.pod_names[k]);
        cf_labels_destroy(&base.pod_labels[k]);
    }
    json_decref(root);
    free(owned);
}
END_TEST


/* ---- What a pod change touches --------------------------------------------
 *
 * conjflowd recompiles, after a change of a pod, only the nodes where the
 * pod is (before or after) and the nodes of the pods selected by the
 * policies for which cf_policy_may_select_peer() holds (for the old or the
 * new version of the pod, in the old or the new cluster).  Every node whose
 * flows a random pod change (address, labels, named ports, node, the pod
 * appearing or going) changes must be among them. */

/* Compiles every node of 'cl' into 'flows' (one set per node). */
static void
compile_nodes(const struct cf_cluster *cl, struct cflow_set *flows)
{
    struct cf_compiler *c = cf_compiler_create(cl);
    for (size_t i = 0; i < cl->n_nodes; i++) {
        struct cf_node_ports ports;
        tb_node_ports(cl, cl->nodes[i], &ports);
        cflow_set_init(&flows[i]);
        char *error = cf_compiler_node_flows(c, cl->nodes[i], &ports,
                                             &flows[i]);
        ck_assert_msg(!error, "%s", error);
        cf_node_ports_destroy(&ports);
    }
    cf_compiler_destroy(c);
}

/* True if a policy of 'cl' for which cf_policy_may_select_peer() holds
 * for 'pod' (NULL: none) selects a pod of 'cl' on node 'node'. */
static bool
marked_by_policies(const struct cf_cluster *cl, const struct cf_pod *pod,
                   const char *node)
{
    for (size_t i = 0; pod && i < cl->n_policies; i++) {
        const struct cf_policy *p = cl->policies[i];
        if (!cf_policy_may_select_peer(cl, p, pod)) {
            continue;
        }
        for (size_t j = 0; j < cl->n_pods; j++) {
            const struct cf_pod *q = cl->pods[j];
            if (q->node && !strcmp(q->node, node) && !strcmp(q->ns, p->ns)
                && cf_selector_matches(&p->pod_sel, &q->labels)) {
                return true;
            }
        }
    }
    return false;
}

/* Changes pod 'k' of 'cl' in the way 'how' (0..4) says. */
static void
mutate_pod(struct rng *r, struct cf_cluster *cl, size_t k, unsigned how)
{
    struct cf_pod *pod = cl->pods[k];
    char buf[32];
    switch (how) {
    case 0:
    case 1:
        /* A new address, often in the same /24 as another pod. */
        if (pod->n_ips && !pod->host_network) {
            snprintf(buf, sizeof buf, "10.0.%u.%u", rnd_n(r, 4),
                     how ? 10 + rnd_n(r, 30) : 1 + rnd_n(r, 254));
            ck_assert(!cf_addr_parse(buf, &pod->ips[0]));
        }
        break;
    case 2:
        cf_labels_set(&pod->labels, "app", apps[rnd_n(r, 3)]);
        break;
    case 3:
        for (size_t i = 0; i < pod->n_ports; i++) {
            if (pod->ports[i].name) {
                pod->ports[i].port = 80 + rnd_n(r, 3);
            }
        }
        break;
    case 4:
        free(pod->node);
        pod->node = cf_xasprintf("n%u", rnd_n(r, (unsigned) cl->n_nodes));
        break;
    }
}

START_TEST(test_pod_change_marks)
{
    const char *count = getenv("CF_DIFF_N");
    uint64_t n = count ? strtoull(count, NULL, 10) / 4 : 1000;
    size_t n_changed = 0, n_checked = 0;
    for (uint64_t seed = 1; seed <= n; seed++) {
        struct rng r = { seed * 104729 + 7 };
        struct cf_cluster a, b;
        gen_cluster(seed, &a);
        gen_cluster(seed, &b);
        if (!a.n_pods) {
            cf_cluster_destroy(&a);
            cf_cluster_destroy(&b);
            continue;
        }
        size_t k = rnd_n(&r, a.n_pods);
        unsigned how = rnd_n(&r, 7);
        if (how < 5) {
            mutate_pod(&r, &b, k, how);
        } else {
            /* The pod goes (5) or appears (6). */
            struct cf_cluster *cl = how == 5 ? &b : &a;
            cf_pod_destroy(cl->pods[k]);
            memmove(&cl->pods[k], &cl->pods[k + 1],
                    (cl->n_pods - k - 1) * sizeof *cl->pods);
            cl->n_pods--;
        }
        const struct cf_pod *pa = how == 6 ? NULL : a.pods[k];
        const struct cf_pod *pb = how == 5 ? NULL : b.pods[k];

        struct cflow_set *fa = cf_xcalloc(a.n_nodes, sizeof *fa);
        struct cflow_set *fb = cf_xcalloc(b.n_nodes, sizeof *fb);
        compile_nodes(&a, fa);
        compile_nodes(&b, fb);
        for (size_t i = 0; i < a.n_nodes; i++) {
            const char *node = a.nodes[i]->name;
            bool same = fa[i].n == fb[i].n;
            for (size_t j = 0; same && j < fa[i].n; j++) {
                same = cflow_equal(&fa[i].flows[j], &fb[i].flows[j]);
            }
            n_checked++;
            if (same) {
                continue;
            }
            n_changed++;
            bool marked = ((pa && pa->node && !strcmp(pa->node, node))
                           || (pb && pb->node && !strcmp(pb->node, node))
                           || marked_by_policies(&a, pa, node)
                           || marked_by_policies(&a, pb, node)
                           || marked_by_policies(&b, pa, node)
                           || marked_by_policies(&b, pb, node));
            ck_assert_msg(marked, "seed %"PRIu64": change %u of pod %s/%s "
                          "changes the flows of node %s, which it does "
                          "not mark", seed, how,
                          (pa ? pa : pb)->ns, (pa ? pa : pb)->name, node);
        }
        for (size_t i = 0; i < a.n_nodes; i++) {
            cflow_set_destroy(&fa[i]);
            cflow_set_destroy(&fb[i]);
        }
        free(fa);
        free(fb);
        cf_cluster_destroy(&a);
        cf_cluster_destroy(&b);
    }
    printf("pod changes: %"PRIu64" clusters, %zu nodes checked, %zu "
           "changed\n", n, n_checked, n_changed);
    ck_assert(n_changed > n / 4);
}
END_TEST

/* ---- The node cache ------------------------------------------------------
 *
 * cf_compiler_node_flows_cached() must give exactly cf_compiler_node_flows()
 * whatever happened before to its cache: random clusters one after the
 * other (a change of everything), the same cluster again, one policy or
 * one pod less, and back; and a node that needs more than the initial
 * priority bands and then fewer again. */

/* Checks that applying the difference that 'cache' recorded to 'prev'
 * (node i's previous table) gives 'now' (its table now).  Returns true if
 * there was a difference to check. */
static bool
check_delta(const struct cf_node_cache *cache, const struct cflow_set *prev,
            const struct cflow_set *now)
{
    const struct cflow_set *removed, *added;
    if (!cf_node_cache_get_delta(cache, &removed, &added)) {
        return false;
    }
    bool *gone = cf_xcalloc(prev->n + 1, sizeof *gone);
    for (size_t i = 0; i < removed->n; i++) {
        const struct cflow *f = &removed->flows[i];
        size_t lo = 0, hi = prev->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cflow_key_compare(&prev->flows[mid], f) < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        ck_assert_msg(lo < prev->n && cflow_equal(&prev->flows[lo], f)
                      && !gone[lo], "removed flow %zu not in the table", i);
        gone[lo] = true;
    }
    struct cflow_set result;
    cflow_set_init(&result);
    for (size_t pass = 0; pass < 2; pass++) {
        const struct cflow_set *from = pass ? added : prev;
        for (size_t i = 0; i < from->n; i++) {
            if (!pass && gone[i]) {
                continue;
            }
            const struct cflow *f = &from->flows[i];
            struct cflow *g = cflow_set_add(&result, f->table, f->priority,
                                            f->cookie);
            g->match = f->match;
            for (size_t k = 0; k < f->n_actions; k++) {
                cflow_add_action(g, &f->actions[k]);
            }
        }
    }
    cflow_set_sort(&result);
    ck_assert_uint_eq(result.n, now->n);
    for (size_t i = 0; i < now->n; i++) {
        ck_assert(cflow_equal(&result.flows[i], &now->flows[i]));
    }
    cflow_set_destroy(&result);
    free(gone);
    return true;
}

/* Compiles every node of 'cl' (up to 'n_caches') both ways, node i with
 * 'caches[i]', and checks that the flows are the same, and that the
 * difference the cache recorded turns 'prevs[i]' (node i's previous
 * table, replaced by the new one) into the new table.  Returns the number
 * of flows compared; counts the differences checked in '*n_deltas'. */
/* With a nonnull 'gen_hint', check_cached() numbers its compilers (see
 * cf_compiler_set_generation()). */
struct gen_hint {
    uint64_t gen;               /* The next compiler's generation. */
    bool follows;               /* Its cluster follows the last one's... */
    const struct cf_policy *changed[4];  /* ...with these policies changed. */
    size_t n_changed;
};
static struct gen_hint *gen_hint;

/* Compiles node 'i' of 'cl' with 'c' in full into 'full' and through
 * 'cache' into 'cached' (both initialized here).  Returns the index of the
 * first flow where they differ, 'full->n' if the cached table is shorter,
 * or SIZE_MAX if they are the same. */
static size_t
compile_both(struct cf_compiler *c, const struct cf_cluster *cl, size_t i,
             struct cf_node_cache *cache, struct cflow_set *full,
             struct cflow_set *cached)
{
    struct cf_node_ports ports;
    tb_node_ports(cl, cl->nodes[i], &ports);
    cflow_set_init(full);
    cflow_set_init(cached);
    char *e1 = cf_compiler_node_flows(c, cl->nodes[i], &ports, full);
    char *e2 = cf_compiler_node_flows_cached(c, cl->nodes[i], &ports, cache,
                                             cached);
    ck_assert_msg(!e1 && !e2, "%s / %s", e1 ? e1 : "-", e2 ? e2 : "-");
    cf_node_ports_destroy(&ports);
    for (size_t k = 0; k < full->n; k++) {
        if (k >= cached->n || !cflow_equal(&full->flows[k],
                                           &cached->flows[k])) {
            return k;
        }
    }
    return cached->n == full->n ? SIZE_MAX : full->n;
}

static size_t
check_cached(const struct cf_cluster *cl, struct cf_node_cache **caches,
             struct cflow_set *prevs, size_t n_caches, size_t *n_deltas)
{
    struct cf_compiler *c = cf_compiler_create(cl);
    if (gen_hint) {
        cf_compiler_set_generation(c, gen_hint->gen, gen_hint->follows);
        for (size_t i = 0; i < gen_hint->n_changed; i++) {
            cf_compiler_note_policy_change(c, gen_hint->changed[i]->ns,
                                           gen_hint->changed[i]->name);
        }
    }
    size_t n_flows = 0;
    for (size_t i = 0; i < cl->n_nodes && i < n_caches; i++) {
        struct cflow_set full, cached;
        size_t k = compile_both(c, cl, i, caches[i], &full, &cached);
        ck_assert_uint_eq(full.n, cached.n);
        if (k != SIZE_MAX) {
            struct cf_ds a = CF_DS_INIT, b = CF_DS_INIT;
            cflow_format(&full.flows[k], &a);
            cflow_format(&cached.flows[k], &b);
            ck_abort_msg("node %s flow %zu: full %s, cached %s",
                         cl->nodes[i]->name, k, cf_ds_cstr(&a),
                         cf_ds_cstr(&b));
        }
        n_flows += full.n;
        *n_deltas += check_delta(caches[i], &prevs[i], &full);
        cflow_set_destroy(&prevs[i]);
        prevs[i] = full;
        cflow_set_destroy(&cached);
    }
    cf_compiler_destroy(c);
    return n_flows;
}

START_TEST(test_node_cache)
{
    const char *count = getenv("CF_DIFF_N");
    uint64_t n = count ? strtoull(count, NULL, 10) : 4000;
    struct cf_node_cache *caches[4];
    struct cflow_set prevs[4];
    for (size_t i = 0; i < CF_ARRAY_SIZE(caches); i++) {
        caches[i] = cf_node_cache_create();
        cflow_set_init(&prevs[i]);
    }
    size_t n_flows = 0, n_deltas = 0;
    for (uint64_t seed = 1; seed <= n; seed++) {
        struct rng r = { seed * 7919 + 3 };
        struct cf_cluster cl;
        gen_cluster(seed, &cl);
        n_flows += check_cached(&cl, caches, prevs, CF_ARRAY_SIZE(caches),
                                &n_deltas);
        n_flows += check_cached(&cl, caches, prevs, CF_ARRAY_SIZE(caches),
                                &n_deltas);
        if (cl.n_policies) {
            size_t k = rnd_n(&r, cl.n_policies);
            cf_policy_destroy(cl.policies[k]);
            memmove(&cl.policies[k], &cl.policies[k + 1],
                    (cl.n_policies - k - 1) * sizeof *cl.policies);
            cl.n_policies--;
            n_flows += check_cached(&cl, caches, prevs, CF_ARRAY_SIZE(caches),
                                &n_deltas);
        }
        if (cl.n_pods) {
            size_t k = rnd_n(&r, cl.n_pods);
            cf_pod_destroy(cl.pods[k]);
            memmove(&cl.pods[k], &cl.pods[k + 1],
                    (cl.n_pods - k - 1) * sizeof *cl.pods);
            cl.n_pods--;
            n_flows += check_cached(&cl, caches, prevs, CF_ARRAY_SIZE(caches),
                                &n_deltas);
        }
        cf_cluster_destroy(&cl);
        gen_cluster(seed, &cl);
        n_flows += check_cached(&cl, caches, prevs, CF_ARRAY_SIZE(caches),
                                &n_deltas);
        cf_cluster_destroy(&cl);
    }
    uint64_t n_updates = 0;
    for (size_t i = 0; i < CF_ARRAY_SIZE(caches); i++) {
        /* Every compilation went through the cache: none gave up. */
        struct cf_node_cache_stats stats;
        cf_node_cache_get_stats(caches[i], &stats);
        ck_assert_uint_eq(stats.n_fallbacks, 0);
        ck_assert_uint_eq(stats.n_full, 0);
        n_updates += stats.n_updates;
        cf_node_cache_destroy(caches[i]);
        cflow_set_destroy(&prevs[i]);
    }
    printf("node cache: %"PRIu64" clusters, %"PRIu64" incremental merges, "
           "%zu differences applied, %zu flows compared\n", n, n_updates,
           n_deltas, n_flows);
    ck_assert(n_flows > n * 50);
    ck_assert(n_updates > n * 10);
    /* All but the first compilation of each cache give a difference. */
    ck_assert(n_deltas > n * 10);
}
END_TEST

/* Changes rule ports or the selector of policy 'k' of 'cl'. */
static void
mutate_policy(struct rng *r, struct cf_cluster *cl, size_t k)
{
    struct cf_policy *p = cl->policies[k];
    for (size_t i = 0; i < p->n_ingress + p->n_egress; i++) {
        struct cf_rule *rule = (i < p->n_ingress ? &p->ingress_rules[i]
                                : &p->egress_rules[i - p->n_ingress]);
        for (size_t j = 0; j < rule->n_ports; j++) {
            if (rule->ports[j].kind == CF_PORT_NUMBER && rnd_n(r, 2)) {
                rule->ports[j].port = rule->ports[j].end_port
                    = 1000 + rnd_n(r, 3);
                return;
            }
        }
    }
    p->log = !p->log;
}

/* Generations (cf_compiler_set_generation()): a cache trusts the policies
 * not named as changed.  Policies changed and named give exactly the full
 * compile; a change not named is trusted (the cache keeps the old copy), so
 * the generations are really used. */
START_TEST(test_node_cache_generations)
{
    struct cf_node_cache *caches[4];
    struct cflow_set prevs[4];
    for (size_t i = 0; i < CF_ARRAY_SIZE(caches); i++) {
        caches[i] = cf_node_cache_create();
        cflow_set_init(&prevs[i]);
    }
    struct gen_hint hint = { .gen = 1 };
    gen_hint = &hint;
    size_t n_flows = 0, n_deltas = 0, n_trusted = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        struct rng r = { seed * 4099 + 7 };
        struct cf_cluster a;
        gen_cluster(seed, &a);
        hint.follows = false;
        hint.n_changed = 0;
        n_flows += check_cached(&a, caches, prevs, CF_ARRAY_SIZE(caches),
                                &n_deltas);
        hint.gen++;
        if (a.n_policies) {
            /* A named change: exactly the full compile (check_cached()
             * asserts it). */
            struct cf_cluster b;
            gen_cluster(seed, &b);
            size_t k = rnd_n(&r, b.n_policies);
            mutate_policy(&r, &b, k);
            hint.follows = true;
            hint.changed[0] = b.policies[k];
            hint.n_changed = 1;
            n_flows += check_cached(&b, caches, prevs,
                                    CF_ARRAY_SIZE(caches), &n_deltas);
            hint.gen++;
            cf_cluster_destroy(&b);

            /* An unnamed change back to 'a': the caches keep their copy
             * of policy k, so some node may differ from a full compile. */
            struct cf_compiler *c = cf_compiler_create(&a);
            cf_compiler_set_generation(c, hint.gen, true);
            for (size_t i = 0; i < a.n_nodes && i < 4; i++) {
                struct cflow_set full, cached;
                n_trusted += compile_both(c, &a, i, caches[i], &full,
                                          &cached) != SIZE_MAX;
                cf_node_cache_clear(caches[i]);
                cflow_set_destroy(&prevs[i]);
                prevs[i] = full;
                cflow_set_destroy(&cached);
            }
            cf_compiler_destroy(c);
            hint.gen++;
        }
        cf_cluster_destroy(&a);
    }
    gen_hint = NULL;
    for (size_t i = 0; i < CF_ARRAY_SIZE(caches); i++) {
        cf_node_cache_destroy(caches[i]);
        cflow_set_destroy(&prevs[i]);
    }
    printf("node cache with generations: %zu flows compared, %zu unnamed "
           "changes trusted\n", n_flows, n_trusted);
    ck_assert(n_flows > 0);
    ck_assert(n_trusted > 0);
}
END_TEST

/* The node cache through small changes, as conjflowd sees them: one or two
 * pods or a policy change and change back, each compiled with a new
 * compiler (rules whose inputs did not change are reused, see "Reuse of
 * rules" in compiler.c), checked against full compiles. */
START_TEST(test_node_cache_reuse)
{
    const char *count = getenv("CF_DIFF_N");
    uint64_t n = count ? strtoull(count, NULL, 10) / 4 : 1000;
    struct cf_node_cache *caches[4];
    struct cflow_set prevs[4];
    for (size_t i = 0; i < CF_ARRAY_SIZE(caches); i++) {
        caches[i] = cf_node_cache_create();
        cflow_set_init(&prevs[i]);
    }
    size_t n_flows = 0, n_deltas = 0;
    for (uint64_t seed = 1; seed <= n; seed++) {
        struct rng r = { seed * 6151 + 11 };
        struct cf_cluster a;
        gen_cluster(seed, &a);
        n_flows += check_cached(&a, caches, prevs, CF_ARRAY_SIZE(caches),
                                &n_deltas);
        for (int step = 0; step < 6; step++) {
            struct cf_cluster b;
            gen_cluster(seed, &b);
            unsigned n_changes = 1 + rnd_n(&r, 2);
            for (unsigned i = 0; i < n_changes; i++) {
                if (b.n_policies && !rnd_n(&r, 4)) {
                    mutate_policy(&r, &b, rnd_n(&r, b.n_policies));
                } else if (b.n_pods) {
                    mutate_pod(&r, &b, rnd_n(&r, b.n_pods), rnd_n(&r, 5));
                }
            }
            n_flows += check_cached(&b, caches, prevs,
                                    CF_ARRAY_SIZE(caches), &n_deltas);
            cf_cluster_destroy(&b);
            if (rnd_n(&r, 2)) {
                n_flows += check_cached(&a, caches, prevs,
                                        CF_ARRAY_SIZE(caches), &n_deltas);
            }
        }
        cf_cluster_destroy(&a);
    }
    uint64_t n_reused = 0, n_patched = 0;
    for (size_t i = 0; i < CF_ARRAY_SIZE(caches); i++) {
        struct cf_node_cache_stats stats;
        cf_node_cache_get_stats(caches[i], &stats);
        n_reused += stats.n_rules_reused;
        n_patched += stats.n_rules_patched;
        cf_node_cache_destroy(caches[i]);
        cflow_set_destroy(&prevs[i]);
    }
    printf("node cache through small changes: %"PRIu64" clusters, %"PRIu64
           " rules reused, %"PRIu64" patched, %zu differences applied, "
           "%zu flows compared\n", n, n_reused, n_patched, n_deltas,
           n_flows);
    ck_assert(n_reused > n);
    ck_assert(n_patched > n / 4);
    ck_assert(n_deltas > n * 4);
}
END_TEST

/* A node "n0" with 20 pods "pod<i>" (app=a<i>) and a policy "pol<k>" for
 * each k of [0, 'n') whose bit k % 64 is set in 'mask', selecting
 * app=a<label_base + k % label_mod>, with one ingress rule that allows
 * peer app=a0 (and, with 'second_peer', app=a1 for odd k) on TCP port
 * 1 + k: the peers' clause flows are keys shared by many conjunctions. */
static void
gen_peer_policies(struct cf_cluster *cl, int n, uint64_t mask,
                  int label_base, int label_mod, bool second_peer)
{
    char name[32], ip[32], labels[32];
    cf_cluster_init(cl);
    tb_node(cl, "n0", 1, "192.168.0.1");
    tb_ns(cl, "ns", "");
    for (int i = 0; i < 20; i++) {
        snprintf(name, sizeof name, "pod%d", i);
        snprintf(labels, sizeof labels, "app=a%d", i);
        snprintf(ip, sizeof ip, "10.0.0.%d", 10 + i);
        tb_pod(cl, "ns", name, "n0", ip, labels, "");
    }
    for (int k = 0; k < n; k++) {
        if (!(mask >> (k % 64) & 1)) {
            continue;
        }
        snprintf(name, sizeof name, "pol%05d", k);
        snprintf(labels, sizeof labels, "app=a%d",
                 label_base + k % label_mod);
        struct cf_policy *p = tb_policy(cl, "ns", name, labels, true,
                                        false);
        struct cf_rule *r = tb_rule(p, false);
        tb_peer_sel(r, NULL, "app=a0");
        if (second_peer && k % 2) {
            tb_peer_sel(r, NULL, "app=a1");
        }
        tb_port_number(r, CF_PROTO_TCP, 1 + k, 0);
    }
    cf_cluster_sort(cl);
    cf_cluster_assign_ids(cl);
}

/* A node with 'n' single-rule policies whose rules all allow the same
 * peer pod on a different port each, so that the peer's clause flow is
 * shared by 'n' conjunctions. */
static void
gen_shared_peer(int n, struct cf_cluster *cl)
{
    gen_peer_policies(cl, n, UINT64_MAX, 1, 19, false);
}

START_TEST(test_node_cache_bands)
{
    /* 1,500 conjunctions share the peer's clause flow: one band does;
     * 3,000 and 2,900 need 2 (more than CFLOW_MAX_CONJUNCTIONS in a
     * band). */
    static const int sizes[] = { 1500, 3000, 3000, 2900, 1500, 1500 };
    struct cf_node_cache *cache = cf_node_cache_create();
    struct cflow_set prev;
    size_t n_deltas = 0;
    cflow_set_init(&prev);
    bool more_bands = false;
    for (size_t i = 0; i < CF_ARRAY_SIZE(sizes); i++) {
        struct cf_cluster cl;
        gen_shared_peer(sizes[i], &cl);
        check_cached(&cl, &cache, &prev, 1, &n_deltas);
        if (sizes[i] == 3000 && !more_bands) {
            /* Check that the test does what it says: some conjunction is
             * above band 0. */
            struct cf_compiler *c = cf_compiler_create(&cl);
            struct cf_node_ports ports;
            tb_node_ports(&cl, cl.nodes[0], &ports);
            struct cflow_set flows;
            cflow_set_init(&flows);
            char *error = cf_compiler_node_flows(c, cl.nodes[0], &ports,
                                                 &flows);
            ck_assert(!error);
            for (size_t k = 0; k < flows.n; k++) {
                const struct cflow *f = &flows.flows[k];
                if (f->table == CFLOW_T_INGRESS_RULES
                    && f->priority >= 1001 && f->priority < 20000) {
                    more_bands = true;
                }
            }
            cflow_set_destroy(&flows);
            cf_node_ports_destroy(&ports);
            cf_compiler_destroy(c);
        }
        cf_cluster_destroy(&cl);
    }
    /* 1,500 -> 3,000 gave up on the cache (more bands); the second 3,000
     * started it afresh with 2 bands, 2,900 updated it (still 2 bands:
     * a difference); 1,500 gave up again (one band does), and the last
     * 1,500 started afresh. */
    struct cf_node_cache_stats stats;
    cf_node_cache_get_stats(cache, &stats);
    ck_assert_uint_eq(stats.n_fallbacks, 2);
    ck_assert_uint_eq(stats.n_full, 0);
    ck_assert_uint_eq(stats.n_updates, 4);
    ck_assert_uint_eq(n_deltas, 1);     /* 3,000 -> 2,900 only. */
    cf_node_cache_destroy(cache);
    cflow_set_destroy(&prev);
    ck_assert(more_bands);
}
END_TEST

/* gen_peer_policies() with the policies of 'mask' and a second peer on
 * odd k: keys with hundreds of members. */
static void
gen_big_keys(int n, uint64_t mask, struct cf_cluster *cl)
{
    gen_peer_policies(cl, n, mask, 2, 18, true);
}

START_TEST(test_node_cache_big_keys)
{
    /* Each step adds and removes hundreds of members of the same big keys
     * in one update (the node cache's lazy insertions and removals), in
     * interleaved merge ranks. */
    static const uint64_t masks[] = {
        UINT64_MAX, 0x5555555555555555ULL, 0xaaaaaaaaaaaaaaaaULL,
        0x0f0f0f0f0f0f0f0fULL, 0xf0f0f0f0f0f0f0f0ULL, UINT64_MAX,
        0x3333333333333333ULL, 1, UINT64_MAX,
    };
    struct cf_node_cache *cache = cf_node_cache_create();
    struct cflow_set prev;
    size_t n_deltas = 0;
    cflow_set_init(&prev);
    for (size_t i = 0; i < CF_ARRAY_SIZE(masks); i++) {
        struct cf_cluster cl;
        gen_big_keys(640, masks[i], &cl);
        check_cached(&cl, &cache, &prev, 1, &n_deltas);
        /* The peer pod changes its IP: every rule's entry moves from one
         * big key to another. */
        ck_assert_str_eq(cl.pods[0]->name, "pod0");
        ck_assert(!cf_addr_parse("10.0.1.10", &cl.pods[0]->ips[0]));
        check_cached(&cl, &cache, &prev, 1, &n_deltas);
        cf_cluster_destroy(&cl);
    }
    struct cf_node_cache_stats stats;
    cf_node_cache_get_stats(cache, &stats);
    ck_assert_uint_eq(stats.n_full, 0);
    ck_assert_uint_eq(stats.n_fallbacks, 0);
    ck_assert_uint_ge(n_deltas, 2 * CF_ARRAY_SIZE(masks) - 2);
    cf_node_cache_destroy(cache);
    cflow_set_destroy(&prev);
}
END_TEST

START_TEST(test_node_cache_shared_clause1)
{
    /* 640 rules, whose clause 1 (their peers) is one of two: {pod0} or
     * {pod0, pod1}.  The cache keeps those two once, and when pod0's
     * address changes, patches each once for the 640 rules. */
    struct cf_cluster cl;
    gen_big_keys(640, UINT64_MAX, &cl);
    struct cf_node_cache *cache = cf_node_cache_create();
    struct cflow_set prev;
    size_t n_deltas = 0;
    cflow_set_init(&prev);
    check_cached(&cl, &cache, &prev, 1, &n_deltas);
    struct cf_node_cache_stats s0, s1, s2;
    cf_node_cache_get_stats(cache, &s0);
    ck_assert_uint_eq(s0.n_blocks, 2);
    ck_assert_uint_eq(s0.n_blocks_patched, 0);

    ck_assert_str_eq(cl.pods[0]->name, "pod0");
    ck_assert(!cf_addr_parse("10.0.1.10", &cl.pods[0]->ips[0]));
    check_cached(&cl, &cache, &prev, 1, &n_deltas);
    cf_node_cache_get_stats(cache, &s1);
    ck_assert_uint_eq(s1.n_rules_patched - s0.n_rules_patched, 640);
    ck_assert_uint_eq(s1.n_blocks_patched, 2);
    ck_assert_uint_eq(s1.n_blocks, 2);      /* The old ones are gone. */

    /* Back: the same patch of other blocks. */
    ck_assert(!cf_addr_parse("10.0.0.10", &cl.pods[0]->ips[0]));
    check_cached(&cl, &cache, &prev, 1, &n_deltas);
    cf_node_cache_get_stats(cache, &s2);
    ck_assert_uint_eq(s2.n_rules_patched - s1.n_rules_patched, 640);
    ck_assert_uint_eq(s2.n_blocks_patched, 4);
    ck_assert_uint_eq(s2.n_blocks, 2);
    ck_assert_uint_eq(s2.n_full + s2.n_fallbacks, 0);
    ck_assert_uint_ge(n_deltas, 2);

    cf_node_cache_destroy(cache);
    cflow_set_destroy(&prev);
    cf_cluster_destroy(&cl);
}
END_TEST

/* Compiles node 0 of 'cl' with 'ports' in full and through 'cache' and
 * checks that both give the same flows. */
static void
check_ports_both(const struct cf_cluster *cl,
                 const struct cf_node_ports *ports,
                 struct cf_node_cache *cache)
{
    struct cf_compiler *c = cf_compiler_create(cl);
    struct cflow_set full, cached;
    cflow_set_init(&full);
    cflow_set_init(&cached);
    ck_assert(!cf_compiler_node_flows(c, cl->nodes[0], ports, &full));
    ck_assert(!cf_compiler_node_flows_cached(c, cl->nodes[0], ports, cache,
                                             &cached));
    ck_assert_uint_eq(full.n, cached.n);
    for (size_t k = 0; k < full.n; k++) {
        ck_assert(cflow_equal(&full.flows[k], &cached.flows[k]));
    }
    cflow_set_destroy(&full);
    cflow_set_destroy(&cached);
    cf_compiler_destroy(c);
}

START_TEST(test_node_cache_pipeline)
{
    /* The cache makes the pipeline again only when the node, its ports or
     * its local pods changed: change each alone. */
    struct cf_cluster cl;
    gen_big_keys(64, UINT64_MAX, &cl);
    struct cf_node_cache *cache = cf_node_cache_create();
    struct cf_node_ports ports;
    tb_node_ports(&cl, cl.nodes[0], &ports);
    check_ports_both(&cl, &ports, cache);
    check_ports_both(&cl, &ports, cache);       /* Nothing changed. */

    ports.bindings[3].ofport = 77;              /* A port number. */
    check_ports_both(&cl, &ports, cache);
    ports.bindings[4].mac[5] ^= 1;              /* A MAC. */
    check_ports_both(&cl, &ports, cache);
    ports.uplinks[0] = 101;                     /* An uplink. */
    check_ports_both(&cl, &ports, cache);
    ck_assert(!cf_addr_parse("10.0.2.99", &cl.pods[5]->ips[0]));
    check_ports_both(&cl, &ports, cache);       /* A local pod's IP. */
    struct cf_node *node = cl.nodes[0];
    node->id++;                                 /* The zone. */
    check_ports_both(&cl, &ports, cache);
    ck_assert(!cf_addr_parse("192.168.0.2", &node->addrs[0]));
    check_ports_both(&cl, &ports, cache);       /* The node's address. */

    struct cf_node_cache_stats stats;
    cf_node_cache_get_stats(cache, &stats);
    ck_assert_uint_eq(stats.n_full + stats.n_fallbacks, 0);
    cf_node_ports_destroy(&ports);
    cf_node_cache_destroy(cache);
    cf_cluster_destroy(&cl);
}
END_TEST

static Suite *
differential_suite(void)
{
    Suite *s = suite_create("differential");
    TCase *tc = tcase_create("random");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_random_clusters);
    suite_add_tcase(s, tc);
    tc = tcase_create("node-cache");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_node_cache);
    tcase_add_test(tc, test_node_cache_bands);
    tcase_add_test(tc, test_node_cache_big_keys);
    tcase_add_test(tc, test_node_cache_shared_clause1);
    tcase_add_test(tc, test_node_cache_pipeline);
    tcase_add_test(tc, test_node_cache_generations);
    tcase_add_test(tc, test_pod_change_marks);
    tcase_add_test(tc, test_node_cache_reuse);
    suite_add_tcase(s, tc);
    tc = tcase_create("conformance");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_conformance_corpus);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(differential_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
