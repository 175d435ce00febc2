/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The compiler's benchmark ("make bench"): compile time, peak memory and
 * flow counts for generated clusters.  Each scenario runs in a child
 * process so that its peak RSS (getrusage() of the child) is its own.
 *
 * Scenarios:
 *   - 1k, 10k, 100k pods with as many policies: namespaces of 4 pods
 *     (app=a0..a3) and 4 policies each (see gen_shape());
 *   - target 1: 10k pods, 10k policies, 100 nodes: under 1 s on one core;
 *   - target 2: 100k pods, 75k policies, 25k namespaces (1,000 nodes):
 *     under 10 s and 1 GB;
 *   - the OVN-comparable shape: 5,000 allow rules over 500 pods in 10
 *     namespaces, all bound on one node (OVN: 69,026 flows in 6-10.6 s on
 *     this machine, see NOTES-ovs.md);
 *   - flows per rule against the additive bound |peers| + |pods| + |ports|
 *     + 1, for rules of several sizes;
 *   - 5,000 rules sharing one peer (conjunction spreading over bands);
 *   - the incremental path: one policy's contribution to one node
 *     recomputed, and the node's flows merged again;
 *   - the node cache (cf_compiler_node_flows_cached()) on the shape of
 *     conjflowd's benchmark (b): one pod IP added to and removed from the
 *     peers of ~1,500 rules of 500 policies, against a full compile.
 *
 * "compile" is cf_compiler_create() plus every node's
 * cf_compiler_node_flows() (flows sorted, then freed node by node);
 * generating the cluster is not timed but is part of the peak RSS.
 * Usage: bench-compiler [--quick | --node-cache] (--quick skips the 100k
 * scenarios, --node-cache runs only the node cache scenario, in this
 * process, for profiling).
 */
#include "conjflow-config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster-builder.h"
#include "conjflow/cfutil.h"
#include "conjflow/compiler.h"

/* Adds 'n_nodes' nodes "node<i>" with addresses 172.16.x.y. */
static void
gen_nodes(struct cf_cluster *cl, int n_nodes)
{
    for (int i = 0; i < n_nodes; i++) {
        char name[32], addr[32];
        snprintf(name, sizeof name, "node%04d", i);
        snprintf(addr, sizeof addr, "172.16.%d.%d", i / 250, 1 + i % 250);
        tb_node(cl, name, i + 1, addr);
    }
}

/* Formats the address of pod 'i' (10.0.0.0/8, skipping .0). */
static void
pod_ip(int i, char buf[32])
{
    snprintf(buf, 32, "10.%d.%d.%d", (i / 62500) % 250, (i / 250) % 250,
             1 + i % 250);
}

/* The main shape: 'n_pods' pods in namespaces of 4 (app=a0..a3, team
 * label = namespace % 1000), scattered over 'n_nodes' nodes, and
 * 'per_ns' (3 or 4) policies per namespace:
 *   p0 selects every pod, ingress from every pod of the namespace;
 *   p1 selects app=a0, ingress from app=a1 on TCP 80;
 *   p2 selects app=a1, egress to app=a0 on TCP 80 and to 10.96.0.0/12
 *      except 10.100.0.0/16 on UDP and TCP 53 (DNS);
 *   p3 selects app=a2, ingress from app=a3 in namespaces of the same team
 *      on TCP 8080-8090, and from named port "http". */
static void
gen_shape(struct cf_cluster *cl, int n_pods, int per_ns, int n_nodes)
{
    int n_ns = n_pods / 4;
    char name[64], ns[32], node[32], ip[32], labels[64];

    cf_cluster_init(cl);
    gen_nodes(cl, n_nodes);
    for (int i = 0; i < n_ns; i++) {
        snprintf(ns, sizeof ns, "ns%05d", i);
        snprintf(labels, sizeof labels, "team=t%d", i % 1000);
        tb_ns(cl, ns, labels);
    }
    for (int i = 0; i < n_pods; i++) {
        snprintf(ns, sizeof ns, "ns%05d", i / 4);
        snprintf(name, sizeof name, "pod%d", i % 4);
        snprintf(node, sizeof node, "node%04d",
                 (int) (((uint64_t) i * 7919) % n_nodes));
        snprintf(labels, sizeof labels, "app=a%d", i % 4);
        pod_ip(i, ip);
        tb_pod(cl, ns, name, node, ip, labels, "http:8080/TCP");
    }
    for (int i = 0; i < n_ns; i++) {
        snprintf(ns, sizeof ns, "ns%05d", i);
        struct cf_policy *p = tb_policy(cl, ns, "p0", "", true, false);
        tb_peer_sel(tb_rule(p, false), NULL, "");

        p = tb_policy(cl, ns, "p1", "app=a0", true, false);
        struct cf_rule *r = tb_rule(p, false);
        tb_peer_sel(r, NULL, "app=a1");
        tb_port_number(r, CF_PROTO_TCP, 80, 0);

        p = tb_policy(cl, ns, "p2", "app=a1", false, true);
        r = tb_rule(p, true);
        tb_peer_sel(r, NULL, "app=a0");
        tb_port_number(r, CF_PROTO_TCP, 80, 0);
        r = tb_rule(p, true);
        const char *except[] = { "10.100.0.0/16" };
        tb_peer_ipblock(r, "10.96.0.0/12", except, 1);
        tb_port_number(r, CF_PROTO_UDP, 53, 0);
        tb_port_number(r, CF_PROTO_TCP, 53, 0);

        if (per_ns > 3) {
            p = tb_policy(cl, ns, "p3", "app=a2", true, false);
            r = tb_rule(p, false);
            snprintf(labels, sizeof labels, "team=t%d", i % 1000);
            tb_peer_sel(r, labels, "app=a3");
            tb_port_number(r, CF_PROTO_TCP, 8080, 8090);
            tb_port_name(r, CF_PROTO_TCP, "http");
        }
    }
    cf_cluster_assign_ids(cl);
}

/* The OVN-comparable shape: 500 pods in 10 namespaces on one node, 5,000
 * policies of one ingress rule each. */
static void
gen_ovn(struct cf_cluster *cl)
{
    char name[64], ns[32], ip[32], labels[64];
    cf_cluster_init(cl);
    gen_nodes(cl, 1);
    for (int i = 0; i < 10; i++) {
        snprintf(ns, sizeof ns, "ns%d", i);
        snprintf(labels, sizeof labels, "team=t%d", i % 3);
        tb_ns(cl, ns, labels);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(ns, sizeof ns, "ns%d", i % 10);
        snprintf(name, sizeof name, "pod%d", i);
        snprintf(labels, sizeof labels, "app=app%d", i % 25);
        pod_ip(i, ip);
        tb_pod(cl, ns, name, "node0000", ip, labels, "");
    }
    for (int k = 0; k < 5000; k++) {
        snprintf(ns, sizeof ns, "ns%d", k % 10);
        snprintf(name, sizeof name, "allow%d", k);
        snprintf(labels, sizeof labels, "app=app%d", k % 25);
        struct cf_policy *p = tb_policy(cl, ns, name, labels, true, false);
        struct cf_rule *r = tb_rule(p, false);
        snprintf(labels, sizeof labels, "app=app%d", (k * 7 + 3) % 25);
        if (k % 2) {
            tb_peer_sel(r, NULL, labels);
        } else {
            char team[32];
            snprintf(team, sizeof team, "team=t%d", k % 3);
            tb_peer_sel(r, team, labels);
        }
        tb_port_number(r, CF_PROTO_TCP, 1000 + k % 100, 0);
    }
    cf_cluster_assign_ids(cl);
}

/* Fills 'ports[i]' for every node i of 'cl' like tb_node_ports(), in one
 * pass over the pods. */
static void
node_ports_all(const struct cf_cluster *cl, struct cf_node_ports *ports)
{
    for (size_t i = 0; i < cl->n_nodes; i++) {
        cf_node_ports_init(&ports[i]);
        ports[i].uplinks = cf_xmalloc(sizeof *ports[i].uplinks);
        ports[i].uplinks[0] = 100;
        ports[i].n_uplinks = 1;
    }
    size_t *allocated = cf_xcalloc(cl->n_nodes, sizeof *allocated);
    for (size_t i = 0; i < cl->n_pods; i++) {
        const struct cf_pod *pod = cl->pods[i];
        if (!pod->node || pod->host_network) {
            continue;
        }
        /* Binary search of the (sorted) nodes by name. */
        size_t lo = 0, hi = cl->n_nodes;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(cl->nodes[mid]->name, pod->node) < 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (lo >= cl->n_nodes || strcmp(cl->nodes[lo]->name, pod->node)) {
            continue;
        }
        size_t n = lo;
        struct cf_node_ports *p = &ports[n];
        if (p->n_bindings >= allocated[n]) {
            p->bindings = cf_x2nrealloc(p->bindings, &allocated[n],
                                        sizeof *p->bindings);
        }
        struct cf_binding *b = &p->bindings[p->n_bindings];
        memset(b, 0, sizeof *b);
        b->pod = cf_xasprintf("%s/%s", pod->ns, pod->name);
        b->ofport = ++p->n_bindings;
        b->has_mac = true;
        b->mac[0] = 0x02;
        if (pod->n_ips) {
            memcpy(&b->mac[2], pod->ips[0].bytes, 4);
        }
    }
    free(allocated);
}

/* Compiles every node of 'cl'; prints one result line for 'label'. */
static void
compile_all(const char *label, struct cf_cluster *cl)
{
    /* The bridges' ports are an input (conjflowd reads them from OVSDB):
     * built before the clock starts. */
    struct cf_node_ports *ports = cf_xcalloc(cl->n_nodes, sizeof *ports);
    node_ports_all(cl, ports);

    long long start = cf_time_nsec();
    struct cf_compiler *c = cf_compiler_create(cl);
    long long created = cf_time_nsec();
    size_t flows = 0, max_flows = 0;
    for (size_t i = 0; i < cl->n_nodes; i++) {
        struct cflow_set set;
        cflow_set_init(&set);
        char *error = cf_compiler_node_flows(c, cl->nodes[i], &ports[i],
                                             &set);
        if (error) {
            fprintf(stderr, "%s\n", error);
            exit(1);
        }
        flows += set.n;
        max_flows = CF_MAX(max_flows, set.n);
        cflow_set_destroy(&set);
    }
    long long end = cf_time_nsec();
    cf_compiler_destroy(c);
    for (size_t i = 0; i < cl->n_nodes; i++) {
        cf_node_ports_destroy(&ports[i]);
    }
    free(ports);
    printf("%-34s %7zu %8zu %5zu %8.3f %8.3f %10zu %8zu",
           label, cl->n_pods, cl->n_policies, cl->n_nodes,
           (created - start) / 1e9, (end - start) / 1e9, flows, max_flows);
    fflush(stdout);
}

/* Runs 'fn' in a child process and appends its peak RSS to its line. */
static void
run_child(void (*fn)(void *), void *aux)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (!pid) {
        fn(aux);
        fflush(stdout);
        _exit(0);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status)
        || WEXITSTATUS(status)) {
        fprintf(stderr, "scenario failed\n");
        exit(1);
    }
    printf(" %8.1f\n", ru.ru_maxrss / 1024.0);
}

/* A shape scenario. */
struct shape {
    const char *label;
    int pods, per_ns, nodes;
};

static void
run_shape(void *aux)
{
    const struct shape *s = aux;
    struct cf_cluster cl;
    gen_shape(&cl, s->pods, s->per_ns, s->nodes);
    compile_all(s->label, &cl);
    cf_cluster_destroy(&cl);
}

static void
run_ovn(void *aux)
{
    struct cf_cluster cl;
    (void) aux;
    gen_ovn(&cl);
    compile_all("OVN shape: 5k rules/500 pods/10 ns", &cl);
    cf_cluster_destroy(&cl);
}

/* 5,000 single-rule policies sharing one peer pod, on one node. */
static void
run_shared_peer(void *aux)
{
    struct cf_cluster cl;
    char name[32], ip[32], labels[32];
    (void) aux;
    cf_cluster_init(&cl);
    gen_nodes(&cl, 1);
    tb_ns(&cl, "ns", "");
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "pod%d", i);
        snprintf(labels, sizeof labels, "app=a%d", i);
        pod_ip(i, ip);
        tb_pod(&cl, "ns", name, "node0000", ip, labels, "");
    }
    for (int k = 0; k < 5000; k++) {
        snprintf(name, sizeof name, "pol%d", k);
        snprintf(labels, sizeof labels, "app=a%d", 1 + k % 99);
        struct cf_policy *p = tb_policy(&cl, "ns", name, labels, true,
                                        false);
        struct cf_rule *r = tb_rule(p, false);
        tb_peer_sel(r, NULL, "app=a0");
        tb_port_number(r, CF_PROTO_TCP, 1 + k, 0);
    }
    cf_cluster_assign_ids(&cl);
    compile_all("5k rules sharing one peer", &cl);
    cf_cluster_destroy(&cl);
}

/* The incremental path on the 10k shape: one node's contributions are
 * kept; one policy's contribution is recomputed and the node merged
 * again.  Prints the average times. */
static void
run_incremental(void *aux)
{
    struct cf_cluster cl;
    (void) aux;
    gen_shape(&cl, 10000, 4, 100);
    struct cf_compiler *c = cf_compiler_create(&cl);
    const struct cf_node *node = cl.nodes[0];
    struct cf_node_ports ports;
    tb_node_ports(&cl, node, &ports);
    struct cf_policy_flows **pfs = cf_xcalloc(cl.n_policies, sizeof *pfs);
    size_t *used = cf_xcalloc(cl.n_policies, sizeof *used);
    size_t n_used = 0;
    for (size_t i = 0; i < cl.n_policies; i++) {
        pfs[i] = cf_compiler_policy_flows(c, cl.policies[i], node, &ports);
        if (pfs[i]) {
            used[n_used++] = i;
        }
    }
    long long t_contrib = 0, t_merge = 0;
    size_t n_flows = 0;
    int rounds = 200;
    for (int k = 0; k < rounds; k++) {
        size_t i = used[k % n_used];
        long long t0 = cf_time_nsec();
        cf_policy_flows_destroy(pfs[i]);
        pfs[i] = cf_compiler_policy_flows(c, cl.policies[i], node, &ports);
        long long t1 = cf_time_nsec();
        struct cflow_set set;
        cflow_set_init(&set);
        char *error = cf_compiler_merge(c, node, &ports, pfs,
                                        cl.n_policies, &set);
        cf_assert(!error);
        long long t2 = cf_time_nsec();
        t_contrib += t1 - t0;
        t_merge += t2 - t1;
        n_flows = set.n;
        cflow_set_destroy(&set);
    }
    printf("incremental, 10k shape, node with %zu policies and %zu flows: "
           "one policy recomputed %.1f us, node merged %.1f us",
           n_used, n_flows, t_contrib / 1e3 / rounds,
           t_merge / 1e3 / rounds);
    for (size_t i = 0; i < cl.n_policies; i++) {
        cf_policy_flows_destroy(pfs[i]);
    }
    free(pfs);
    free(used);
    cf_node_ports_destroy(&ports);
    cf_compiler_destroy(c);
    cf_cluster_destroy(&cl);
}

/* conjflowd's benchmark (a)/(b) shape (tests/bench-conjflowd.sh): 10
 * namespaces (team=t<k>) of 50 pods (app=a<i % 10>) on one node, 50
 * policies per namespace of 10 ingress rules each, 3 of which also allow
 * every pod of ns0; with 'extra', one more pod in ns0 (not bound). */
static void
gen_bench_b(struct cf_cluster *cl, bool extra)
{
    char a[64], b[64], c[64], l[32];
    cf_cluster_init(cl);
    tb_node(cl, "n1", 1, "172.16.0.1");
    for (int k = 0; k < 10; k++) {
        snprintf(a, sizeof a, "ns%d", k);
        snprintf(b, sizeof b, "team=t%d", k);
        tb_ns(cl, a, b);
    }
    for (int k = 0; k < 10; k++) {
        for (int i = 0; i < 50 + (extra && !k); i++) {
            int ii = i < 50 ? i : 150;
            snprintf(a, sizeof a, "ns%d", k);
            snprintf(b, sizeof b, "p%d", ii);
            snprintf(c, sizeof c, "10.%d.%d.%d", 100 + k, ii / 200,
                     ii % 200 + 1);
            snprintf(l, sizeof l, "app=a%d", ii % 10);
            tb_pod(cl, a, b, i < 50 ? "n1" : "elsewhere", c, l, "");
        }
    }
    for (int k = 0; k < 10; k++) {
        for (int j = 0; j < 50; j++) {
            snprintf(a, sizeof a, "ns%d", k);
            snprintf(b, sizeof b, "pol%d", j);
            snprintf(c, sizeof c, "app=a%d", j % 10);
            struct cf_policy *p = tb_policy(cl, a, b, c, true, false);
            for (int r = 0; r < 10; r++) {
                struct cf_rule *rule = tb_rule(p, false);
                snprintf(b, sizeof b, "team=t%d", (k + r) % 10);
                snprintf(c, sizeof c, "app=a%d", (j + r) % 10);
                tb_peer_sel(rule, b, c);
                if (r < 3) {
                    tb_peer_sel(rule, "team=t0", NULL);
                }
                tb_port_number(rule, CF_PROTO_TCP, 8000 + (j * 10 + r) % 1000,
                               0);
            }
        }
    }
    cf_cluster_sort(cl);
    cf_cluster_assign_ids(cl);
}

/* The node cache on benchmark (b)'s shape: the pod comes and goes; each
 * round builds a compiler over the new cluster (as conjflowd does) and
 * compiles the node in full and through the cache.  Prints the averages
 * (the first, cold, cached round excluded), then the average through the
 * cache of up to 20 more rounds, each after a 50 ms pause. */
static void
run_node_cache(void *aux)
{
    struct cf_cluster cls[2];
    (void) aux;
    gen_bench_b(&cls[0], false);
    gen_bench_b(&cls[1], true);
    struct cf_node_ports ports;
    tb_node_ports(&cls[0], cls[0].nodes[0], &ports);
    struct cf_node_cache *cache = cf_node_cache_create();
    long long t_full = 0, t_cached = 0;
    size_t n_flows = 0, n_delta = 0;
    const char *n_rounds = getenv("CF_BENCH_ROUNDS");
    int rounds = n_rounds ? atoi(n_rounds) : 20;
    /* CF_BENCH_CACHED_ONLY: skip the full compiles (for profiling). */
    bool only_cached = getenv("CF_BENCH_CACHED_ONLY") != NULL;
    for (int k = 0; k <= rounds; k++) {
        const struct cf_cluster *cl = &cls[k % 2];
        struct cf_compiler *c = cf_compiler_create(cl);
        /* As conjflowd: the policies are the same in both clusters. */
        cf_compiler_set_generation(c, k + 1, k > 0);
        struct cflow_set set;
        cflow_set_init(&set);
        long long t0 = cf_time_nsec();
        char *error = (only_cached ? NULL
                       : cf_compiler_node_flows(c, cl->nodes[0], &ports,
                                                &set));
        cf_assert(!error);
        long long t1 = cf_time_nsec();
        n_flows = set.n;
        cflow_set_destroy(&set);
        /* As conjflowd: only the difference. */
        error = cf_compiler_node_flows_cached(c, cl->nodes[0], &ports, cache,
                                              k ? NULL : &set);
        cf_assert(!error);
        long long t2 = cf_time_nsec();
        const struct cflow_set *removed, *added;
        if (k) {
            cf_assert(cf_node_cache_get_delta(cache, &removed, &added));
            n_delta = removed->n + added->n;
            t_full += t1 - t0;
            t_cached += t2 - t1;
        }
        cflow_set_destroy(&set);
        cf_compiler_destroy(c);
    }
    /* The same through the cache after 50 ms pauses, as a lone change
     * in conjflowd: on a shared host, what other tenants evicted from the
     * caches in the meantime makes this slower, the more memory the change
     * touches. */
    int n_paused = rounds < 20 ? rounds : 20;
    long long t_paused = 0;
    for (int k = rounds + 1; k <= rounds + n_paused; k++) {
        const struct cf_cluster *cl = &cls[k % 2];
        struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
        nanosleep(&pause, NULL);
        struct cf_compiler *c = cf_compiler_create(cl);
        cf_compiler_set_generation(c, k + 1, true);
        long long t0 = cf_time_nsec();
        char *error = cf_compiler_node_flows_cached(c, cl->nodes[0], &ports,
                                                    cache, NULL);
        cf_assert(!error);
        t_paused += cf_time_nsec() - t0;
        cf_compiler_destroy(c);
    }
    printf("node cache, conjflowd (b) shape, %zu flows: one pod IP in/out "
           "of 1535 rules' peers:\n  full compile %.1f ms, through the "
           "cache %.1f ms (%zu flows changed), %.1f ms after 50 ms pauses",
           n_flows, t_full / 1e6 / rounds, t_cached / 1e6 / rounds,
           n_delta, n_paused ? t_paused / 1e6 / n_paused : 0.0);
    cf_node_cache_destroy(cache);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cls[0]);
    cf_cluster_destroy(&cls[1]);
}

/* Prints flows per rule against the additive bound for a rule with
 * 'n_peers' peer pods, 'n_local' selected pods and 'n_ports' ports. */
static void
flows_per_rule(int n_peers, int n_local, int n_ports)
{
    struct cf_cluster cl;
    char name[32], ip[32];
    cf_cluster_init(&cl);
    gen_nodes(&cl, 1);
    tb_ns(&cl, "ns", "");
    for (int i = 0; i < n_peers + n_local; i++) {
        snprintf(name, sizeof name, "pod%d", i);
        pod_ip(i, ip);
        tb_pod(&cl, "ns", name, i < n_peers ? "elsewhere" : "node0000", ip,
               i < n_peers ? "role=peer" : "role=local", "");
    }
    struct cf_policy *p = tb_policy(&cl, "ns", "rule", "role=local", true,
                                    false);
    struct cf_rule *r = tb_rule(p, false);
    tb_peer_sel(r, NULL, "role=peer");
    for (int i = 0; i < n_ports; i++) {
        tb_port_number(r, CF_PROTO_TCP, 1000 + 2 * i, 0);
    }
    cf_cluster_assign_ids(&cl);

    struct cf_compiler *c = cf_compiler_create(&cl);
    struct cf_node_ports ports;
    struct cflow_set set;
    tb_node_ports(&cl, cl.nodes[0], &ports);
    cflow_set_init(&set);
    char *error = cf_compiler_node_flows(c, cl.nodes[0], &ports, &set);
    cf_assert(!error);
    size_t n = 0;
    for (size_t i = 0; i < set.n; i++) {
        uint64_t ck = set.flows[i].cookie;
        unsigned kind = ck & 0xffff;
        if (((ck >> 32) & 0xffffff) == cl.policies[0]->id
            && (kind == CFLOW_KIND_ALLOW || kind == CFLOW_KIND_CLAUSE)) {
            n++;
        }
    }
    printf("  peers %5d  pods %4d  ports %3d: %6zu flows, bound %6d "
           "(product would be %d)\n", n_peers, n_local, n_ports, n,
           n_peers + n_local + n_ports + 1, n_peers * n_local * n_ports);
    cflow_set_destroy(&set);
    cf_node_ports_destroy(&ports);
    cf_compiler_destroy(c);
    cf_cluster_destroy(&cl);
}

int
main(int argc, char *argv[])
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    if (argc > 1 && !strcmp(argv[1], "--node-cache")) {
        /* Only the node cache scenario (for profiling). */
        run_node_cache(NULL);
        printf("\n");
        return 0;
    }
    static const struct shape shapes[] = {
        { "1k pods, 1k policies, 10 nodes", 1000, 4, 10 },
        { "10k pods, 10k policies, 100 nodes", 10000, 4, 100 },
        { "100k pods, 100k policies, 1k nodes", 100000, 4, 1000 },
        { "TARGET 10k pods/10k pol/100 nodes", 10000, 4, 100 },
        { "TARGET 100k pods/75k pol/25k ns", 100000, 3, 1000 },
    };

    printf("conjflow compiler benchmark (one core; compile = create + "
           "every node)\n");
    printf("%-34s %7s %8s %5s %8s %8s %10s %8s %8s\n", "scenario", "pods",
           "policies", "nodes", "create_s", "total_s", "flows", "max/node",
           "peak_MB");
    for (size_t i = 0; i < CF_ARRAY_SIZE(shapes); i++) {
        if (quick && shapes[i].pods > 10000) {
            continue;
        }
        run_child(run_shape, (void *) &shapes[i]);
    }
    run_child(run_ovn, NULL);
    run_child(run_shared_peer, NULL);
    run_child(run_incremental, NULL);
    run_child(run_node_cache, NULL);
    printf("targets: 10k/10k/100 nodes < 1 s; 100k/75k/25k ns < 10 s and "
           "< 1024 MB\n");
    printf("OVN on this machine, 5k rules/500 pods/10 ns: 69,026 flows in "
           "6-10.6 s\n");

    printf("flows per rule (allow + clause flows) vs the additive bound "
           "|peers|+|pods|+|ports|+1:\n");
    flows_per_rule(10, 5, 3);
    flows_per_rule(100, 20, 5);
    flows_per_rule(1000, 50, 10);
    flows_per_rule(5000, 100, 20);
    flows_per_rule(50, 1, 1);
    return 0;
}
