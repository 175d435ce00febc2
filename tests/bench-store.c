/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Benchmark of the store ("make bench"): one apply of a large cluster
 * (default 25,000 namespaces, 100,000 pods, 75,000 policies; target under
 * 10 s), the same apply again (all unchanged), a full load, and the change
 * feed's read latency: reading the whole feed, and the time from a small
 * commit by one connection to a poll by another returning it.
 *
 * Usage: bench-store [PODS [POLICIES [NAMESPACES]]].  Works in a temporary
 * directory ($TMPDIR or /tmp) that it removes.
 */
#include "conjflow-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conjflow/cfutil.h"
#include "conjflow/model.h"
#include "conjflow/store.h"

/* Exits with 'error' if it is nonnull. */
static void
check(char *error, const char *what)
{
    if (error) {
        fprintf(stderr, "bench-store: %s: %s\n", what, error);
        exit(1);
    }
}

/* Sets 'sel' to "key in (value)". */
static void
sel_in(struct cf_selector *sel, const char *key, const char *value)
{
    sel->reqs = cf_xzalloc(sizeof *sel->reqs);
    sel->n_reqs = 1;
    sel->reqs[0].key = cf_xstrdup(key);
    sel->reqs[0].op = CF_SEL_IN;
    sel->reqs[0].values = cf_xzalloc(sizeof *sel->reqs[0].values);
    sel->reqs[0].values[0] = cf_xstrdup(value);
    sel->reqs[0].n_values = 1;
}

/* Namespace ns<i>, labelled team=a or team=b. */
static struct cf_object *
make_ns(unsigned i)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_NAMESPACE;
    obj->ns = cf_xzalloc(sizeof *obj->ns);
    obj->ns->name = cf_xasprintf("ns%u", i);
    cf_labels_set(&obj->ns->labels, "kubernetes.io/metadata.name",
                  obj->ns->name);
    cf_labels_set(&obj->ns->labels, "team", i % 2 ? "a" : "b");
    obj->manifest = cf_xasprintf("{\"apiVersion\":\"v1\",\"kind\":"
                                 "\"Namespace\",\"metadata\":{\"name\":"
                                 "\"ns%u\"}}", i);
    return obj;
}

/* Pod pod<i> in namespace ns<i % n_ns>, its port 8080 + 'version'. */
static struct cf_object *
make_pod(unsigned i, unsigned n_ns, unsigned version)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_POD;
    struct cf_pod *pod = obj->pod = cf_xzalloc(sizeof *pod);
    pod->ns = cf_xasprintf("ns%u", i % n_ns);
    pod->name = cf_xasprintf("pod%u", i);
    pod->node = cf_xasprintf("node%u", i % 100);
    char app[32];
    snprintf(app, sizeof app, "app%u", i % 50);
    cf_labels_set(&pod->labels, "app", app);
    cf_labels_set(&pod->labels, "tier", i % 3 ? "web" : "db");
    pod->n_ips = 1;
    pod->ips = cf_xzalloc(sizeof *pod->ips);
    pod->ips[0].family = 4;
    pod->ips[0].bytes[0] = 10;
    pod->ips[0].bytes[1] = i >> 16;
    pod->ips[0].bytes[2] = i >> 8;
    pod->ips[0].bytes[3] = i;
    pod->n_ports = 1;
    pod->ports = cf_xzalloc(sizeof *pod->ports);
    pod->ports[0].name = cf_xstrdup("http");
    pod->ports[0].port = 8080 + version;
    pod->ports[0].proto = CF_PROTO_TCP;
    obj->manifest = cf_xasprintf(
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":"
        "\"pod%u\",\"namespace\":\"ns%u\",\"labels\":{\"app\":\"%s\"}},"
        "\"spec\":{\"nodeName\":\"node%u\",\"containers\":[{\"name\":\"c\","
        "\"ports\":[{\"name\":\"http\",\"containerPort\":%u}]}]}}",
        i, i % n_ns, app, i % 100, 8080 + version);
    return obj;
}

/* Policy allow-<i>: one ingress rule with two peers and two ports. */
static struct cf_object *
make_policy(unsigned i, unsigned n_ns)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_POLICY;
    struct cf_policy *p = obj->policy = cf_xzalloc(sizeof *p);
    char app[32], from[32];
    snprintf(app, sizeof app, "app%u", i % 50);
    snprintf(from, sizeof from, "app%u", (i + 1) % 50);
    p->ns = cf_xasprintf("ns%u", i % n_ns);
    p->name = cf_xasprintf("allow-%u", i);
    sel_in(&p->pod_sel, "app", app);
    p->ingress = true;
    p->n_ingress = 1;
    p->ingress_rules = cf_xzalloc(sizeof *p->ingress_rules);
    struct cf_rule *r = &p->ingress_rules[0];
    r->n_peers = 2;
    r->peers = cf_xcalloc(2, sizeof *r->peers);
    r->peers[0].has_pod_sel = true;
    sel_in(&r->peers[0].pod_sel, "app", from);
    r->peers[1].has_ns_sel = true;
    sel_in(&r->peers[1].ns_sel, "team", "a");
    r->n_ports = 2;
    r->ports = cf_xcalloc(2, sizeof *r->ports);
    r->ports[0].proto = CF_PROTO_TCP;
    r->ports[0].kind = CF_PORT_NUMBER;
    r->ports[0].port = 80;
    r->ports[0].end_port = 90;
    r->ports[1].proto = CF_PROTO_TCP;
    r->ports[1].kind = CF_PORT_NAME;
    r->ports[1].name = cf_xstrdup("http");
    obj->manifest = cf_xasprintf(
        "{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\","
        "\"metadata\":{\"name\":\"allow-%u\",\"namespace\":\"ns%u\"},"
        "\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"%s\"}},"
        "\"ingress\":[{\"from\":[{\"podSelector\":{\"matchLabels\":"
        "{\"app\":\"%s\"}}},{\"namespaceSelector\":{\"matchLabels\":"
        "{\"team\":\"a\"}}}],\"ports\":[{\"port\":80,\"endPort\":90},"
        "{\"port\":\"http\"}]}]}}", i, i % n_ns, app, from);
    return obj;
}

/* Peak resident set size in MB. */
static double
max_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* Removes the store files under 'dir' and 'dir'. */
static void
cleanup(const char *dir, const char *path)
{
    static const char *const suffixes[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < CF_ARRAY_SIZE(suffixes); i++) {
        char *p = cf_xasprintf("%s%s", path, suffixes[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
}

/* Runs the benchmark; returns 0 unless something failed. */
int
main(int argc, char *argv[])
{
    unsigned n_pods = argc > 1 ? atoi(argv[1]) : 100000;
    unsigned n_policies = argc > 2 ? atoi(argv[2]) : 75000;
    unsigned n_ns = argc > 3 ? atoi(argv[3]) : 25000;
    if (!n_ns) {
        n_ns = 1;
    }

    const char *base = getenv("TMPDIR");
    char dir[256];
    snprintf(dir, sizeof dir, "%s/bench-store.XXXXXX",
             base && base[0] ? base : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench-store: mkdtemp");
        return 1;
    }
    char *path = cf_xasprintf("%s/bench.db", dir);

    size_t n = n_ns + n_pods + n_policies;
    struct cf_object **objs = cf_xcalloc(n, sizeof *objs);
    enum cf_store_result *results = cf_xcalloc(n, sizeof *results);
    size_t k = 0;
    for (unsigned i = 0; i < n_ns; i++) {
        objs[k++] = make_ns(i);
    }
    for (unsigned i = 0; i < n_pods; i++) {
        objs[k++] = make_pod(i, n_ns, 0);
    }
    for (unsigned i = 0; i < n_policies; i++) {
        objs[k++] = make_policy(i, n_ns);
    }

    struct cf_store *store;
    check(cf_store_open(path, CF_STORE_READ_WRITE, &store), "open");

    printf("store: %u namespaces, %u pods, %u policies "
           "(WAL, synced at every write)\n", n_ns, n_pods, n_policies);

    long long t0 = cf_time_nsec();
    uint64_t seq;
    check(cf_store_apply(store, objs, n, false, results, &seq), "apply");
    long long t1 = cf_time_nsec();
    printf("  apply, all created (one transaction): %8.3f s  "
           "(%.0f objects/s; target < 10 s)\n", (t1 - t0) / 1e9,
           n / ((t1 - t0) / 1e9));

    check(cf_store_apply(store, objs, n, false, results, &seq), "reapply");
    long long t2 = cf_time_nsec();
    printf("  apply again, all unchanged:           %8.3f s\n",
           (t2 - t1) / 1e9);

    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    check(cf_store_load(store, &cluster, &seq), "load");
    long long t3 = cf_time_nsec();
    printf("  load the whole cluster:               %8.3f s\n",
           (t3 - t2) / 1e9);
    if (cluster.n_pods != n_pods || cluster.n_policies != n_policies) {
        fprintf(stderr, "bench-store: loaded %zu pods, %zu policies\n",
                cluster.n_pods, cluster.n_policies);
        return 1;
    }
    cf_cluster_destroy(&cluster);

    /* The whole feed after 0, in pages of 10,000 rows. */
    struct cf_store *reader;
    check(cf_store_open(path, CF_STORE_READ_ONLY, &reader), "open reader");
    uint64_t after = 0;
    size_t n_rows = 0;
    long long t4 = cf_time_nsec();
    for (;;) {
        struct cf_change *changes;
        size_t nc;
        uint64_t last;
        bool too_old;
        check(cf_store_changes(reader, after, 10000, &changes, &nc, &last,
                               &too_old), "changes");
        for (size_t i = 0; i < nc; i++) {
            cf_change_destroy(&changes[i]);
        }
        free(changes);
        n_rows += nc;
        if (!nc) {
            break;
        }
        after = last;
    }
    long long t5 = cf_time_nsec();
    printf("  read the whole change feed:           %8.3f s  "
           "(%zu rows, %.2f us/row)\n", (t5 - t4) / 1e9, n_rows,
           (t5 - t4) / 1e3 / (n_rows ? n_rows : 1));

    /* Small commits (one pod each) by the writer; after each, the reader's
     * poll: data_version, then the changes after its last seq. */
    const int rounds = 200;
    long long commit_ns = 0, poll_ns = 0, idle_ns = 0;
    for (int r = 0; r < rounds; r++) {
        struct cf_object *pod = make_pod(r, n_ns, 1 + r);
        enum cf_store_result result;
        long long a = cf_time_nsec();
        check(cf_store_apply(store, &pod, 1, false, &result, &seq),
              "small apply");
        long long b = cf_time_nsec();
        int64_t dv;
        check(cf_store_data_version(reader, &dv), "data_version");
        struct cf_change *changes;
        size_t nc;
        uint64_t last;
        bool too_old;
        check(cf_store_changes(reader, after, 0, &changes, &nc, &last,
                               &too_old), "changes");
        long long c = cf_time_nsec();
        if (nc != 1 || last != seq || too_old) {
            fprintf(stderr, "bench-store: poll saw %zu changes\n", nc);
            return 1;
        }
        cf_change_destroy(&changes[0]);
        free(changes);
        after = last;
        /* An idle poll: nothing new. */
        check(cf_store_changes(reader, after, 0, &changes, &nc, &last,
                               &too_old), "changes");
        long long d = cf_time_nsec();
        free(changes);
        commit_ns += b - a;
        poll_ns += c - b;
        idle_ns += d - c;
        cf_object_destroy(pod);
    }
    printf("  one-pod commit (fsync'd):             %8.3f ms average\n",
           commit_ns / 1e6 / rounds);
    printf("  change feed poll after it:            %8.1f us average "
           "(data_version + changes, 1 row)\n", poll_ns / 1e3 / rounds);
    printf("  change feed poll, nothing new:        %8.1f us average\n",
           idle_ns / 1e3 / rounds);
    printf("  peak RSS:                             %8.0f MB\n",
           max_rss_mb());

    cf_store_close(reader);
    cf_store_close(store);
    for (size_t i = 0; i < n; i++) {
        cf_object_destroy(objs[i]);
    }
    free(objs);
    free(results);
    cleanup(dir, path);
    free(path);
    return 0;
}
