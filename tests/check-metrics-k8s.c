/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of cf_metrics_put_k8s() (controller/observe.c): the watch
 * health rows that conjflow-k8s writes to the store's meta table (format
 * in conjflow/k8s.h) become Prometheus text that parses (a small
 * validator of the text exposition format below: HELP and TYPE once per
 * family and before its samples, metric and label names, quoted label
 * values, numeric values), with the right values; rows that are absent
 * or not health rows give no samples; a store that conjflow-k8s never
 * wrote gives nothing at all.
 */
#include <config.h>

#include <check.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "controller/observe.h"
#include "conjflow/k8s.h"
#include "conjflow/store.h"
#include "openvswitch/dynamic-string.h"
#include "timeval.h"
#include "util.h"

/* ---- A Prometheus text validator ---------------------------------------- */

/* One sample: "name{labels}" and its value. */
struct sample {
    char *series;               /* Name and labels as written. */
    double value;               /* Value. */
};

/* What the validator collected. */
struct exposition {
    struct sample *samples;     /* Samples in order. */
    size_t n_samples;
    char **types;               /* "name type" of each TYPE line. */
    size_t n_types;
};

/* True if 'name' ('len' bytes) is a valid metric name. */
static bool
valid_name(const char *name, size_t len)
{
    if (!len || isdigit((unsigned char) name[0])) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isalnum((unsigned char) name[i]) && name[i] != '_'
            && name[i] != ':') {
            return false;
        }
    }
    return true;
}

/* Parses exposition text 'text' into '*e'.  Fails the test, naming the
 * line, if it is not valid text format 0.0.4 (in the subset conjflow
 * writes: no timestamps, no escapes in label values). */
static void
parse_exposition(const char *text, struct exposition *e)
{
    memset(e, 0, sizeof *e);
    char *family = NULL;        /* Family of the last TYPE line. */
    const char *line = text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        ck_assert_msg(eol != NULL, "last line not terminated: %s", line);
        char *l = xmemdup0(line, eol - line);
        if (!strncmp(l, "# HELP ", 7) || !strncmp(l, "# TYPE ", 7)) {
            const char *name = l + 7;
            size_t len = strcspn(name, " ");
            ck_assert_msg(valid_name(name, len) && name[len] == ' ',
                          "bad name: %s", l);
            if (l[2] == 'T') {
                const char *type = name + len + 1;
                ck_assert_msg(!strcmp(type, "counter")
                              || !strcmp(type, "gauge")
                              || !strcmp(type, "histogram"),
                              "bad type: %s", l);
                char *nt = xasprintf("%.*s", (int) len, name);
                for (size_t i = 0; i < e->n_types; i++) {
                    ck_assert_msg(strncmp(e->types[i], nt, len)
                                  || e->types[i][len] != ' ',
                                  "TYPE twice: %s", l);
                }
                free(family);
                family = nt;
                e->types = xrealloc(e->types,
                                    (e->n_types + 1) * sizeof *e->types);
                e->types[e->n_types++] = xstrdup(l + 7);
            }
        } else {
            ck_assert_msg(l[0] != '#' && l[0] != '\0', "bad line: %s", l);
            size_t len = strcspn(l, "{ ");
            ck_assert_msg(valid_name(l, len), "bad metric name: %s", l);
            ck_assert_msg(family && !strncmp(l, family, strlen(family))
                          && len == strlen(family),
                          "sample outside its family: %s", l);
            const char *p = l + len;
            if (*p == '{') {
                p++;
                while (*p != '}') {
                    size_t n = strcspn(p, "=");
                    ck_assert_msg(valid_name(p, n) && p[n] == '='
                                  && p[n + 1] == '"', "bad label: %s", l);
                    p += n + 2;
                    const char *q = strchr(p, '"');
                    ck_assert_msg(q != NULL, "unterminated label: %s", l);
                    p = q + 1;
                    if (*p == ',') {
                        p++;
                    } else {
                        ck_assert_msg(*p == '}', "bad labels: %s", l);
                    }
                }
                p++;
            }
            ck_assert_msg(*p == ' ', "no value: %s", l);
            char *end;
            double value = strtod(p + 1, &end);
            ck_assert_msg(end != p + 1 && *end == '\0', "bad value: %s", l);
            e->samples = xrealloc(e->samples, (e->n_samples + 1)
                                  * sizeof *e->samples);
            e->samples[e->n_samples].series = xmemdup0(l, p - l);
            e->samples[e->n_samples++].value = value;
        }
        free(l);
        line = eol + 1;
    }
    free(family);
}

static void
exposition_destroy(struct exposition *e)
{
    for (size_t i = 0; i < e->n_samples; i++) {
        free(e->samples[i].series);
    }
    free(e->samples);
    for (size_t i = 0; i < e->n_types; i++) {
        free(e->types[i]);
    }
    free(e->types);
}

/* The value of 'series', or NAN if there is no such sample. */
static double
value_of(const struct exposition *e, const char *series)
{
    for (size_t i = 0; i < e->n_samples; i++) {
        if (!strcmp(e->samples[i].series, series)) {
            return e->samples[i].value;
        }
    }
    return NAN;
}

/* ---- Tests ------------------------------------------------------------- */

static char tmpdir[256];        /* Private directory of a test. */
static char db[300];            /* Its store. */

static void
setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/check-metrics-k8s.XXXXXX",
             base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(db, sizeof db, "%s/conjflow.db", tmpdir);
}

static void
teardown(void)
{
    static const char *const suffixes[] = { "", "-wal", "-shm",
                                            "-journal" };
    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        char *path = xasprintf("%s%s", db, suffixes[i]);
        unlink(path);
        free(path);
    }
    rmdir(tmpdir);
}

static struct cf_store *
open_store(void)
{
    struct cf_store *store;
    char *error = cf_store_open(db, CF_STORE_READ_WRITE, &store);
    ck_assert_msg(!error, "%s", error);
    return store;
}

static void
set_meta(struct cf_store *store, const char *key, const char *value)
{
    char *error = cf_store_meta_set(store, key, value);
    ck_assert_msg(!error, "%s", error);
}

START_TEST(test_no_rows)
{
    /* A store that conjflow-k8s never wrote: no k8s metrics at all. */
    struct cf_store *store = open_store();
    set_meta(store, "realization", "x/y id=1 seq=1 nodes=0 realized=0\n");
    struct ds s = DS_EMPTY_INITIALIZER;
    cf_metrics_put_k8s(store, &s);
    ck_assert_str_eq(ds_cstr(&s), "");
    ds_destroy(&s);
    cf_store_close(store);
}
END_TEST

START_TEST(test_rows)
{
    struct cf_store *store = open_store();
    long long int now = time_wall_msec();
    char *pods = xasprintf(
        "synced=1 state=watching rv=1234 events=42 lists=1 watches=3 "
        "reconnects=2 relists=1 invalid=5 errors=7 last_event=%lld "
        "last_error_time=%lld updated=%lld future=9 error=watch connection "
        "lost (Failure when receiving data: a=b): resuming from "
        "resourceVersion 1200", now - 5000, now - 60000, now - 2000);
    set_meta(store, CF_K8S_HEALTH_PREFIX "pods", pods);
    /* Listing for the first time: no event yet, not synced. */
    char *policies = xasprintf(
        "synced=0 state=listing rv=- events=0 lists=0 watches=0 "
        "reconnects=0 relists=0 invalid=0 errors=0 last_event=0 "
        "last_error_time=0 updated=%lld error=", now);
    set_meta(store, CF_K8S_HEALTH_PREFIX "networkpolicies", policies);
    /* Not a health row: ignored. */
    set_meta(store, CF_K8S_HEALTH_PREFIX "nodes", "hello world");

    struct ds s = DS_EMPTY_INITIALIZER;
    cf_metrics_put_k8s(store, &s);
    struct exposition e;
    parse_exposition(ds_cstr(&s), &e);

    /* Every family is typed, counters end in _total. */
    ck_assert_uint_eq(e.n_types, 8);
    for (size_t i = 0; i < e.n_types; i++) {
        const char *type = strchr(e.types[i], ' ') + 1;
        ck_assert_msg(!strncmp(e.types[i], "conjflow_k8s_watch_", 19),
                      "%s", e.types[i]);
        if (!strcmp(type, "counter")) {
            ck_assert_msg(strstr(e.types[i], "_total "), "%s", e.types[i]);
        }
    }

#define V(SERIES) value_of(&e, SERIES)
    ck_assert(V("conjflow_k8s_watch_synced{resource=\"pods\"}") == 1);
    ck_assert(V("conjflow_k8s_watch_synced{resource=\"networkpolicies\"}")
              == 0);
    ck_assert(V("conjflow_k8s_watch_events_total{resource=\"pods\"}") == 42);
    ck_assert(V("conjflow_k8s_watch_errors_total{resource=\"pods\"}") == 7);
    ck_assert(V("conjflow_k8s_watch_reconnects_total{resource=\"pods\"}")
              == 2);
    ck_assert(V("conjflow_k8s_watch_relists_total{resource=\"pods\"}")
              == 1);
    ck_assert(V("conjflow_k8s_watch_invalid_objects_total"
                "{resource=\"pods\"}") == 5);
    double age = V("conjflow_k8s_watch_last_event_age_seconds"
                   "{resource=\"pods\"}");
    ck_assert_msg(age >= 5 && age < 60, "last event age %g", age);
    age = V("conjflow_k8s_watch_report_age_seconds{resource=\"pods\"}");
    ck_assert_msg(age >= 2 && age < 60, "report age %g", age);
    /* No event yet: no age sample; rows absent or foreign: no samples. */
    ck_assert(isnan(V("conjflow_k8s_watch_last_event_age_seconds"
                      "{resource=\"networkpolicies\"}")));
    ck_assert(isnan(V("conjflow_k8s_watch_synced{resource=\"nodes\"}")));
    ck_assert(isnan(V("conjflow_k8s_watch_synced"
                      "{resource=\"namespaces\"}")));
#undef V
    /* 8 families x 2 resources, minus the policies' last event age. */
    ck_assert_uint_eq(e.n_samples, 15);

    exposition_destroy(&e);
    ds_destroy(&s);
    free(pods);
    free(policies);
    cf_store_close(store);
}
END_TEST

static Suite *
metrics_k8s_suite(void)
{
    Suite *s = suite_create("metrics-k8s");
    TCase *tc = tcase_create("metrics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_no_rows);
    tcase_add_test(tc, test_rows);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(metrics_k8s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
