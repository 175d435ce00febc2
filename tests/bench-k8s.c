/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflow-k8s's numbers ("make bench"), against the test API server over
 * TLS with a token, into a real store file:
 *
 *   - initial sync: N pods (default 20000, $BENCH_K8S_PODS) listed in
 *     pages of 500, converted, validated and written; objects/s, from
 *     process start to exit (--exit-after-sync), TLS and start-up included;
 *   - relist of the same N pods into a store that already holds them
 *     (nothing written);
 *   - event-to-store latency: a pod created on the server (the control
 *     request returns once the server has published the event) until a
 *     reader of the store sees it; 200 samples, one at a time, default
 *     batching (50 ms at most, 3 ms of quiet); median, p90, p99, max.
 */
#include "conjflow-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conjflow/cfutil.h"
#include "conjflow/k8s.h"
#include "conjflow/store.h"
#include "k8s-harness.h"

static int
compare_ll(const void *a_, const void *b_)
{
    long long a = *(const long long *) a_, b = *(const long long *) b_;
    return a < b ? -1 : a > b;
}

/* CPU seconds used by the children waited for so far. */
static double
children_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec
            + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

/* Runs conjflow-k8s until synced; returns the elapsed seconds and its CPU
 * seconds in '*cpup'. */
static double
timed_sync(struct k8s_env *env, const char *extra, double *cpup)
{
    double cpu0 = children_cpu();
    char *kc = cf_xasprintf("--kubeconfig=%s/kubeconfig", env->dir);
    char *db = cf_xasprintf("--db=%s", env->db);
    const char *const args[] = { kc, db, "--no-config", "--exit-after-sync",
                                 extra, NULL };
    long long start = cf_time_nsec();
    char *out;
    int status = k8s_daemon_run(env, args, &out);
    double secs = (cf_time_nsec() - start) / 1e9;
    *cpup = children_cpu() - cpu0;
    if (status) {
        fprintf(stderr, "bench-k8s: conjflow-k8s failed (%d): %s\n", status,
                out);
        exit(1);
    }
    free(out);
    free(kc);
    free(db);
    return secs;
}

int
main(void)
{
    const char *env_pods = getenv("BENCH_K8S_PODS");
    int n_pods = env_pods ? atoi(env_pods) : 20000;
    if (n_pods <= 0) {
        n_pods = 20000;
    }

    struct k8s_env env;
    k8s_env_init(&env, NULL);
    free(k8s_ctl(&env, "/test/apply",
                 "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"b\"}}"));
    char *gen = cf_xasprintf("{\"namespace\":\"b\",\"count\":%d}", n_pods);
    free(k8s_ctl(&env, "/test/generate", gen));
    free(gen);

    double cpu;
    double secs = timed_sync(&env, NULL, &cpu);
    size_t n = k8s_store_count(&env, CF_KIND_POD);
    if (n != (size_t) n_pods) {
        fprintf(stderr, "bench-k8s: store has %zu pods, expected %d\n", n,
                n_pods);
        exit(1);
    }
    printf("k8s initial sync: %d pods in %.2f s: %.0f objects/s "
           "(TLS, LIST pages of 500, validation, one store transaction)\n"
           "  conjflow-k8s CPU %.2f s: %.0f objects per CPU second (the "
           "rest is the\n  Python test server)\n",
           n_pods, secs, n_pods / secs, cpu, n_pods / cpu);

    uint64_t seq = k8s_store_seq(&env);
    secs = timed_sync(&env, "--no-resume", &cpu);
    printf("k8s relist, nothing changed: %d pods in %.2f s: %.0f objects/s, "
           "CPU %.2f s (store sequence %s)\n", n_pods, secs, n_pods / secs,
           cpu, k8s_store_seq(&env) == seq ? "unchanged" : "CHANGED");

    /* Latency, with the default batching. */
    const char *const args[] = { "--batch-msec=50", NULL };
    k8s_daemon_start(&env, args);
    struct cf_store *store = NULL;
    long long deadline = cf_time_msec() + 30000;
    for (;;) {
        char *rv = k8s_store_meta(&env, "k8s/pods/resourceVersion");
        char *rv2 = k8s_store_meta(&env, "k8s/networkpolicies/"
                                   "resourceVersion");
        bool ready = rv && rv2;
        free(rv);
        free(rv2);
        if (ready) {
            break;
        }
        if (cf_time_msec() > deadline) {
            fprintf(stderr, "bench-k8s: conjflow-k8s did not start\n");
            exit(1);
        }
        usleep(10000);
    }
    /* The running daemon may still be setting up its watches: wait until
     * the server has seen a watch of every resource. */
    static const char *const watched[] = {
        "watches.namespaces", "watches.pods", "watches.networkpolicies",
        "watches.nodes",
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(watched); i++) {
        while (k8s_server_stat(&env, watched[i]) < 1) {
            if (cf_time_msec() > deadline) {
                fprintf(stderr, "bench-k8s: conjflow-k8s started no %s\n",
                        watched[i]);
                exit(1);
            }
            usleep(10000);
        }
    }
    char *error = cf_store_open(env.db, CF_STORE_READ_ONLY, &store);
    if (error) {
        fprintf(stderr, "bench-k8s: %s\n", error);
        exit(1);
    }

    enum { N_SAMPLES = 200 };
    long long samples[N_SAMPLES];
    long long posts[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++) {
        char name[32];
        snprintf(name, sizeof name, "lat-%d", i);
        char *body = cf_xasprintf(
            "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
            "\"b\",\"labels\":{\"app\":\"lat\"}},\"spec\":{\"containers\":"
            "[{\"name\":\"c\",\"image\":\"x\"}]},\"status\":{\"podIP\":"
            "\"10.200.0.1\"}}", name);
        struct cf_objref ref = { CF_KIND_POD, "b", name };
        long long start = cf_time_nsec();
        free(k8s_ctl(&env, "/test/apply", body));
        posts[i] = cf_time_nsec() - start;
        free(body);
        for (;;) {
            struct cf_object *obj = NULL;
            free(cf_store_get(store, &ref, &obj));
            if (obj) {
                cf_object_destroy(obj);
                break;
            }
            if (cf_time_nsec() - start > 10 * 1000000000LL) {
                fprintf(stderr, "bench-k8s: %s never reached the store\n",
                        name);
                exit(1);
            }
            usleep(200);
        }
        samples[i] = cf_time_nsec() - start;
    }
    qsort(samples, N_SAMPLES, sizeof *samples, compare_ll);
    qsort(posts, N_SAMPLES, sizeof *posts, compare_ll);
    printf("k8s event-to-store latency (%d pods, one at a time): median "
           "%.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n", N_SAMPLES,
           samples[N_SAMPLES / 2] / 1e6, samples[N_SAMPLES * 9 / 10] / 1e6,
           samples[N_SAMPLES * 99 / 100] / 1e6,
           samples[N_SAMPLES - 1] / 1e6);
    printf("  (of which the test server's create request: median %.1f ms)\n",
           posts[N_SAMPLES / 2] / 1e6);

    /* A burst: 1000 pods created at once, until all are in the store. */
    long long start = cf_time_nsec();
    free(k8s_ctl(&env, "/test/generate",
                 "{\"namespace\":\"b\",\"count\":1000,\"prefix\":\"burst\"}"));
    struct cf_objref last = { CF_KIND_POD, "b", "burst-999" };
    for (;;) {
        struct cf_object *obj = NULL;
        free(cf_store_get(store, &last, &obj));
        if (obj) {
            cf_object_destroy(obj);
            break;
        }
        if (cf_time_nsec() - start > 60 * 1000000000LL) {
            fprintf(stderr, "bench-k8s: the burst never reached the "
                    "store\n");
            exit(1);
        }
        usleep(500);
    }
    double burst = (cf_time_nsec() - start) / 1e9;
    printf("k8s burst: 1000 pod events, server to store, in %.2f s: %.0f "
           "events/s (server included)\n", burst, 1000 / burst);

    cf_store_close(store);
    k8s_daemon_stop(&env);
    k8s_env_destroy(&env);
    return 0;
}
