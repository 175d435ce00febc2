/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of the store (store/): the record codec, the schema and its
 * migration from version 1, apply/delete/replace and their results, ids,
 * validation (a rejected batch leaves the file's content identical), the
 * change feed and its trimming, bindings and meta, query plans (no
 * statement but the full lists reads a whole table), opening a store
 * while another connection writes; and, with real processes on a real
 * file, two writers and a reader at once, and kill -9 in the middle of a
 * large apply.
 *
 * Each test works in a fresh temporary directory ($TMPDIR or /tmp).
 */
#include "conjflow-config.h"

#include <check.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "conjflow/cfutil.h"
#include "conjflow/model.h"
#include "conjflow/store.h"
#include "store-private.h"

#ifndef CF_TEST_SRCDIR
#define CF_TEST_SRCDIR "."
#endif

/* ---- Fixtures and object builders --------------------------------------- */

static char tmpdir[256];        /* This test's directory. */
static char dbpath[300];        /* tmpdir/test.db */

/* Creates the test's temporary directory. */
static void
setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/check-store.XXXXXX",
             base && base[0] ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(dbpath, sizeof dbpath, "%s/test.db", tmpdir);
}

/* Removes the test's directory and the store files in it. */
static void
teardown(void)
{
    static const char *const suffixes[] = { "", "-wal", "-shm",
                                            "-journal" };
    for (size_t i = 0; i < CF_ARRAY_SIZE(suffixes); i++) {
        char *p = cf_xasprintf("%s%s", dbpath, suffixes[i]);
        unlink(p);
        free(p);
    }
    char *p = cf_xasprintf("%s/other.db", tmpdir);
    unlink(p);
    free(p);
    rmdir(tmpdir);
}

/* Fails the test with 'error' if it is nonnull. */
#define ck_ok(EXPR)                                                     \
    do {                                                                \
        char *error_ = (EXPR);                                          \
        ck_assert_msg(!error_, "%s: %s", #EXPR, error_ ? error_ : "");  \
    } while (0)

/* Opens the test store read-write. */
static struct cf_store *
open_store(void)
{
    struct cf_store *store;
    ck_ok(cf_store_open(dbpath, CF_STORE_READ_WRITE, &store));
    return store;
}

/* A namespace 'name' with its kubernetes.io/metadata.name label. */
static struct cf_object *
make_ns(const char *name)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_NAMESPACE;
    obj->ns = cf_xzalloc(sizeof *obj->ns);
    obj->ns->name = cf_xstrdup(name);
    cf_labels_set(&obj->ns->labels, "kubernetes.io/metadata.name", name);
    obj->manifest = cf_xasprintf("{\"kind\":\"Namespace\",\"metadata\":"
                                 "{\"name\":\"%s\"}}", name);
    return obj;
}

/* Pod ns/name labelled app=<app> on node1, IP 10.<ip>, port http 8080. */
static struct cf_object *
make_pod(const char *ns, const char *name, const char *app, unsigned ip)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_POD;
    struct cf_pod *pod = obj->pod = cf_xzalloc(sizeof *pod);
    pod->ns = cf_xstrdup(ns);
    pod->name = cf_xstrdup(name);
    pod->node = cf_xstrdup("node1");
    cf_labels_set(&pod->labels, "app", app);
    pod->ips = cf_xzalloc(sizeof *pod->ips);
    pod->n_ips = 1;
    pod->ips[0].family = 4;
    pod->ips[0].bytes[0] = 10;
    pod->ips[0].bytes[1] = ip >> 16;
    pod->ips[0].bytes[2] = ip >> 8;
    pod->ips[0].bytes[3] = ip;
    pod->ports = cf_xzalloc(sizeof *pod->ports);
    pod->n_ports = 1;
    pod->ports[0].name = cf_xstrdup("http");
    pod->ports[0].port = 8080;
    pod->ports[0].proto = CF_PROTO_TCP;
    obj->manifest = cf_xasprintf("{\"kind\":\"Pod\",\"metadata\":"
                                 "{\"namespace\":\"%s\",\"name\":\"%s\"}}",
                                 ns, name);
    return obj;
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

/* A policy selecting app=<app>, allowing ingress from app=<from> on TCP
 * 'port' and from 10.0.0.0/8 except 10.1.0.0/16 on the named port http,
 * and egress anywhere on UDP 53..60. */
static struct cf_object *
make_policy(const char *ns, const char *name, const char *app,
            const char *from, uint16_t port)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_POLICY;
    struct cf_policy *p = obj->policy = cf_xzalloc(sizeof *p);
    p->ns = cf_xstrdup(ns);
    p->name = cf_xstrdup(name);
    sel_in(&p->pod_sel, "app", app);
    p->ingress = p->egress = true;

    p->n_ingress = 2;
    p->ingress_rules = cf_xcalloc(2, sizeof *p->ingress_rules);
    struct cf_rule *r = &p->ingress_rules[0];
    r->n_peers = 1;
    r->peers = cf_xzalloc(sizeof *r->peers);
    r->peers[0].has_pod_sel = true;
    sel_in(&r->peers[0].pod_sel, "app", from);
    r->peers[0].has_ns_sel = true;      /* Empty: every namespace. */
    r->n_ports = 1;
    r->ports = cf_xzalloc(sizeof *r->ports);
    r->ports[0].proto = CF_PROTO_TCP;
    r->ports[0].kind = CF_PORT_NUMBER;
    r->ports[0].port = r->ports[0].end_port = port;

    r = &p->ingress_rules[1];
    r->n_peers = 1;
    r->peers = cf_xzalloc(sizeof *r->peers);
    r->peers[0].has_ipblock = true;
    ck_ok(cf_cidr_parse("10.0.0.0/8", &r->peers[0].ipblock.cidr));
    r->peers[0].ipblock.n_except = 1;
    r->peers[0].ipblock.except = cf_xzalloc(sizeof (struct cf_cidr));
    ck_ok(cf_cidr_parse("10.1.0.0/16", &r->peers[0].ipblock.except[0]));
    r->n_ports = 1;
    r->ports = cf_xzalloc(sizeof *r->ports);
    r->ports[0].proto = CF_PROTO_TCP;
    r->ports[0].kind = CF_PORT_NAME;
    r->ports[0].name = cf_xstrdup("http");

    p->n_egress = 1;
    p->egress_rules = cf_xcalloc(1, sizeof *p->egress_rules);
    r = &p->egress_rules[0];
    r->n_ports = 1;
    r->ports = cf_xzalloc(sizeof *r->ports);
    r->ports[0].proto = CF_PROTO_UDP;
    r->ports[0].kind = CF_PORT_NUMBER;
    r->ports[0].port = 53;
    r->ports[0].end_port = 60;
    obj->manifest = cf_xasprintf("{\"kind\":\"NetworkPolicy\",\"metadata\":"
                                 "{\"namespace\":\"%s\",\"name\":\"%s\"}}",
                                 ns, name);
    return obj;
}

/* Node 'name' with an OVSDB remote, br-int and address fd00::1. */
static struct cf_object *
make_node(const char *name)
{
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = CF_KIND_NODE;
    struct cf_node *node = obj->node = cf_xzalloc(sizeof *node);
    node->name = cf_xstrdup(name);
    node->ovsdb = cf_xasprintf("unix:/run/%s/db.sock", name);
    node->bridge = cf_xstrdup("br-int");
    node->n_addrs = 1;
    node->addrs = cf_xzalloc(sizeof *node->addrs);
    ck_ok(cf_addr_parse("fd00::1", &node->addrs[0]));
    return obj;
}

/* A batch of objects being built. */
struct batch {
    struct cf_object *objs[64];
    size_t n;
    enum cf_store_result results[64];
};

/* Appends 'obj' (taking ownership) to 'b'. */
static void
batch_add(struct batch *b, struct cf_object *obj)
{
    ck_assert_uint_lt(b->n, CF_ARRAY_SIZE(b->objs));
    b->objs[b->n++] = obj;
}

/* Frees the objects of 'b' and empties it. */
static void
batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        cf_object_destroy(b->objs[i]);
    }
    b->n = 0;
}

/* Applies 'b' and returns the error (NULL on success). */
static char *
batch_apply(struct cf_store *store, struct batch *b, bool dry_run,
            uint64_t *seqp)
{
    return cf_store_apply(store, b->objs, b->n, dry_run, b->results, seqp);
}

/* A text dump of every table of the store at 'path' (a fresh connection),
 * for comparing whole contents. */
static char *
dump_store(const char *path)
{
    static const char *const queries[] = {
        "SELECT * FROM meta ORDER BY key",
        "SELECT * FROM namespaces ORDER BY name",
        "SELECT * FROM pods ORDER BY ns, name",
        "SELECT * FROM policies ORDER BY ns, name",
        "SELECT * FROM nodes ORDER BY name",
        "SELECT * FROM changes ORDER BY rowid",
        "SELECT * FROM bindings ORDER BY node, pod",
        "SELECT * FROM node_ports ORDER BY node, kind, ofport",
    };
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    struct cf_ds ds = CF_DS_INIT;
    for (size_t i = 0; i < CF_ARRAY_SIZE(queries); i++) {
        sqlite3_stmt *stmt;
        ck_assert_int_eq(sqlite3_prepare_v2(db, queries[i], -1, &stmt, NULL),
                         SQLITE_OK);
        cf_ds_put_format(&ds, "%s\n", queries[i]);
        while (sqlite3_step(stmt) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(stmt); c++) {
                const unsigned char *blob = sqlite3_column_blob(stmt, c);
                int len = sqlite3_column_bytes(stmt, c);
                cf_ds_put_char(&ds, '|');
                for (int k = 0; k < len; k++) {
                    cf_ds_put_format(&ds, "%02x", blob[k]);
                }
            }
            cf_ds_put_char(&ds, '\n');
        }
        sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return cf_ds_steal(&ds);
}

/* Runs 'sql' on the file at 'path' with a plain SQLite connection. */
static void
raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_close(db);
}

/* The single integer result of 'sql' on 'path'. */
static long long
raw_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    long long v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

/* The single text result of 'sql' on 'path' (malloc'd). */
static char *
raw_text(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(stmt), SQLITE_ROW);
    char *v = cf_xstrdup((const char *) sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return v;
}

/* ---- Codec -------------------------------------------------------------- */

/* Encodes 'obj', decodes it, encodes again: the records must be equal and
 * every truncation of the record must be reported, not crash. */
static void
check_roundtrip(struct cf_object *obj)
{
    struct cf_ds a = CF_DS_INIT, b = CF_DS_INIT;
    cf_codec_encode(obj, &a);
    struct cf_object *copy;
    ck_ok(cf_codec_decode(obj->kind, a.s, a.len, &copy));
    cf_codec_encode(copy, &b);
    ck_assert_uint_eq(a.len, b.len);
    ck_assert(!memcmp(a.s, b.s, a.len));
    ck_assert_str_eq(cf_object_name(copy), cf_object_name(obj));
    cf_object_destroy(copy);

    for (size_t len = 0; len < a.len; len++) {
        char *error = cf_codec_decode(obj->kind, a.s, len, &copy);
        ck_assert_msg(error != NULL, "truncation at %zu accepted", len);
        ck_assert_ptr_null(copy);
        free(error);
    }
    /* Trailing garbage and a wrong kind are errors too. */
    cf_ds_put_char(&a, 'x');
    char *error = cf_codec_decode(obj->kind, a.s, a.len, &copy);
    ck_assert_ptr_nonnull(error);
    free(error);
    error = cf_codec_decode(obj->kind == CF_KIND_POD ? CF_KIND_NODE
                            : CF_KIND_POD, a.s, a.len - 1, &copy);
    ck_assert_ptr_nonnull(error);
    free(error);
    cf_ds_destroy(&a);
    cf_ds_destroy(&b);
}

START_TEST(test_codec_roundtrip)
{
    struct cf_object *objs[] = {
        make_ns("x"), make_pod("x", "web", "web", 5),
        make_policy("x", "allow-web", "web", "client", 80),
        make_node("n1"),
    };
    objs[1]->pod->host_network = true;
    objs[3]->node->bridge = (free(objs[3]->node->bridge), NULL);
    for (size_t i = 0; i < CF_ARRAY_SIZE(objs); i++) {
        check_roundtrip(objs[i]);
    }

    /* The decoded policy has the same contents. */
    struct cf_ds rec = CF_DS_INIT;
    cf_codec_encode(objs[2], &rec);
    struct cf_object *copy;
    ck_ok(cf_codec_decode(CF_KIND_POLICY, rec.s, rec.len, &copy));
    const struct cf_policy *p = copy->policy;
    ck_assert(p->ingress && p->egress && !p->log);
    ck_assert_uint_eq(p->n_ingress, 2);
    ck_assert_uint_eq(p->ingress_rules[1].peers[0].ipblock.n_except, 1);
    ck_assert_uint_eq(p->ingress_rules[1].peers[0].ipblock.except[0].plen,
                      16);
    ck_assert_str_eq(p->ingress_rules[1].ports[0].name, "http");
    ck_assert_uint_eq(p->egress_rules[0].ports[0].end_port, 60);
    ck_assert(cf_selector_equal(&p->pod_sel, &objs[2]->policy->pod_sel));
    ck_assert(p->ingress_rules[0].peers[0].has_ns_sel);
    ck_assert_uint_eq(p->ingress_rules[0].peers[0].ns_sel.n_reqs, 0);
    cf_object_destroy(copy);
    cf_ds_destroy(&rec);

    /* Ids are not part of the record. */
    struct cf_ds r1 = CF_DS_INIT, r2 = CF_DS_INIT;
    cf_codec_encode(objs[2], &r1);
    objs[2]->policy->id = 77;
    cf_codec_encode(objs[2], &r2);
    ck_assert(r1.len == r2.len && !memcmp(r1.s, r2.s, r1.len));
    cf_ds_destroy(&r1);
    cf_ds_destroy(&r2);

    for (size_t i = 0; i < CF_ARRAY_SIZE(objs); i++) {
        cf_object_destroy(objs[i]);
    }
}
END_TEST

/* ---- Opening and the schema --------------------------------------------- */

START_TEST(test_open_and_schema)
{
    struct cf_store *store;
    char *error;

    /* Read-only on a missing file fails and creates nothing. */
    error = cf_store_open(dbpath, CF_STORE_READ_ONLY, &store);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, dbpath));
    ck_assert_ptr_null(store);
    free(error);
    ck_assert_int_ne(access(dbpath, F_OK), 0);

    /* Read-write creates it, in WAL mode, at the current version. */
    store = open_store();
    uint64_t seq = 99;
    ck_ok(cf_store_seq(store, &seq));
    ck_assert_uint_eq(seq, 0);
    cf_store_close(store);
    char *jm = raw_text(dbpath, "PRAGMA journal_mode");
    ck_assert_str_eq(jm, "wal");
    free(jm);
    ck_assert_int_eq(raw_int(dbpath, "PRAGMA user_version"), 2);

    /* Now read-only works, and refuses writes. */
    ck_ok(cf_store_open(dbpath, CF_STORE_READ_ONLY, &store));
    struct batch b = { .n = 0 };
    batch_add(&b, make_ns("x"));
    error = batch_apply(store, &b, false, &seq);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, "read-only"));
    free(error);
    batch_clear(&b);
    cf_store_close(store);

    /* A newer schema is refused with a clear message. */
    raw_exec(dbpath, "PRAGMA user_version = 3");
    error = cf_store_open(dbpath, CF_STORE_READ_WRITE, &store);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, "newer") && strstr(error, "version 3"),
                  "%s", error);
    free(error);
    ck_assert_int_eq(raw_int(dbpath, "PRAGMA user_version"), 3);

    /* Another program's SQLite file is refused. */
    char *other = cf_xasprintf("%s/other.db", tmpdir);
    raw_exec(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    error = cf_store_open(other, CF_STORE_READ_WRITE, &store);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, "not a conjflow store"));
    free(error);
    free(other);

    /* The path: explicit, then $CONJFLOW_DB, then the default. */
    ck_assert_str_eq(cf_store_path("/x.db"), "/x.db");
    setenv(CF_STORE_ENV, "/env.db", 1);
    ck_assert_str_eq(cf_store_path(NULL), "/env.db");
    unsetenv(CF_STORE_ENV);
    ck_assert_str_eq(cf_store_path(NULL), CF_STORE_DEFAULT_PATH);
}
END_TEST

/* A version 1 store made by the v1 schema script migrates to version 2,
 * keeping its objects, feed and bindings. */
START_TEST(test_migrate_v1)
{
    char *script_path = cf_xasprintf("%s/tests/data/store-v1.sql",
                                     CF_TEST_SRCDIR);
    FILE *f = fopen(script_path, "r");
    ck_assert_msg(f != NULL, "%s", script_path);
    struct cf_ds script = CF_DS_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        cf_ds_put_buf(&script, buf, n);
    }
    fclose(f);
    free(script_path);

    /* Build the v1 file, with records written by this codec. */
    raw_exec(dbpath, cf_ds_cstr(&script));
    cf_ds_destroy(&script);
    ck_assert_int_eq(raw_int(dbpath, "PRAGMA user_version"), 1);
    struct cf_object *objs[] = {
        make_ns("x"), make_pod("x", "web", "web", 5),
        make_policy("x", "allow-web", "web", "client", 80),
    };
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
    static const char *const inserts[] = {
        "INSERT INTO namespaces VALUES ('x', ?1, NULL)",
        "INSERT INTO pods VALUES ('x', 'web', ?1, NULL)",
        "INSERT INTO policies VALUES ('x', 'allow-web', 7, ?1, NULL)",
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(objs); i++) {
        struct cf_ds rec = CF_DS_INIT;
        sqlite3_stmt *stmt;
        cf_codec_encode(objs[i], &rec);
        ck_assert_int_eq(sqlite3_prepare_v2(db, inserts[i], -1, &stmt,
                                            NULL), SQLITE_OK);
        sqlite3_bind_blob(stmt, 1, rec.s, rec.len, SQLITE_TRANSIENT);
        ck_assert_int_eq(sqlite3_step(stmt), SQLITE_DONE);
        sqlite3_finalize(stmt);
        cf_ds_destroy(&rec);
    }
    sqlite3_close(db);

    /* A read-only open refuses to migrate. */
    struct cf_store *store;
    char *error = cf_store_open(dbpath, CF_STORE_READ_ONLY, &store);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, "older"));
    free(error);

    store = open_store();
    ck_assert_int_eq(raw_int(dbpath, "PRAGMA user_version"), 2);
    uint64_t seq;
    ck_ok(cf_store_seq(store, &seq));
    ck_assert_uint_eq(seq, 3);

    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    ck_ok(cf_store_load(store, &cluster, &seq));
    ck_assert_uint_eq(cluster.n_namespaces, 1);
    ck_assert_uint_eq(cluster.n_pods, 1);
    ck_assert_uint_eq(cluster.n_policies, 1);
    ck_assert_uint_eq(cluster.policies[0]->id, 7);
    cf_cluster_destroy(&cluster);

    /* The old binding has no MAC; new bindings can have one. */
    struct cf_node_ports ports;
    cf_node_ports_init(&ports);
    ck_ok(cf_store_get_bindings(store, "node1", &ports));
    ck_assert_uint_eq(ports.n_bindings, 1);
    ck_assert_str_eq(ports.bindings[0].pod, "x/web");
    ck_assert_uint_eq(ports.bindings[0].ofport, 3);
    ck_assert(!ports.bindings[0].has_mac);
    ports.bindings[0].has_mac = true;
    memcpy(ports.bindings[0].mac, "\x02\x00\x00\x00\x00\x05", 6);
    ports.uplinks = cf_xmalloc(sizeof *ports.uplinks);
    ports.uplinks[0] = 1;
    ports.n_uplinks = 1;
    ck_ok(cf_store_set_bindings(store, "node1", &ports));
    cf_node_ports_destroy(&ports);
    cf_node_ports_init(&ports);
    ck_ok(cf_store_get_bindings(store, "node1", &ports));
    ck_assert(ports.bindings[0].has_mac);
    ck_assert_uint_eq(ports.n_uplinks, 1);
    cf_node_ports_destroy(&ports);

    /* The feed kept its rows; new writes continue after them, and a new
     * policy gets the next id. */
    struct cf_change *changes;
    size_t n_changes;
    uint64_t last;
    bool too_old;
    ck_ok(cf_store_changes(store, 0, 0, &changes, &n_changes, &last,
                           &too_old));
    ck_assert(!too_old);
    ck_assert_uint_eq(n_changes, 3);
    ck_assert_uint_eq(last, 3);
    for (size_t i = 0; i < n_changes; i++) {
        cf_change_destroy(&changes[i]);
    }
    free(changes);
    struct batch b = { .n = 0 };
    batch_add(&b, make_policy("x", "second", "web", "db", 5432));
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_uint_eq(seq, 4);
    ck_assert_uint_eq(b.objs[0]->policy->id, 8);
    batch_clear(&b);
    cf_store_close(store);

    for (size_t i = 0; i < CF_ARRAY_SIZE(objs); i++) {
        cf_object_destroy(objs[i]);
    }
}
END_TEST

/* ---- Apply, delete, get ------------------------------------------------- */

START_TEST(test_apply_results_and_ids)
{
    struct cf_store *store = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq = 0;

    batch_add(&b, make_ns("x"));
    batch_add(&b, make_pod("x", "web", "web", 1));
    batch_add(&b, make_policy("x", "b", "web", "client", 80));
    batch_add(&b, make_policy("x", "a", "web", "client", 81));
    batch_add(&b, make_node("n1"));
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_uint_eq(seq, 1);
    for (size_t i = 0; i < b.n; i++) {
        ck_assert_int_eq(b.results[i], CF_STORE_CREATED);
    }
    ck_assert_uint_eq(b.objs[2]->policy->id, 1);
    ck_assert_uint_eq(b.objs[3]->policy->id, 2);
    ck_assert_uint_eq(b.objs[4]->node->id, 1);
    batch_clear(&b);

    /* The same again: unchanged, no new sequence number, nothing in the
     * file changes. */
    char *before = dump_store(dbpath);
    batch_add(&b, make_ns("x"));
    batch_add(&b, make_policy("x", "b", "web", "client", 80));
    seq = 12345;
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_uint_eq(seq, 12345);
    ck_assert_int_eq(b.results[0], CF_STORE_UNCHANGED);
    ck_assert_int_eq(b.results[1], CF_STORE_UNCHANGED);
    ck_assert_uint_eq(b.objs[1]->policy->id, 1);
    char *after = dump_store(dbpath);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    batch_clear(&b);

    /* A changed policy is configured and keeps its id; a new one gets the
     * next id. */
    batch_add(&b, make_policy("x", "b", "web", "client", 8080));
    batch_add(&b, make_policy("x", "c", "web", "client", 80));
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_uint_eq(seq, 2);
    ck_assert_int_eq(b.results[0], CF_STORE_CONFIGURED);
    ck_assert_int_eq(b.results[1], CF_STORE_CREATED);
    ck_assert_uint_eq(b.objs[0]->policy->id, 1);
    ck_assert_uint_eq(b.objs[1]->policy->id, 3);
    batch_clear(&b);

    /* Only the manifest changed: configured, but no feed entry. */
    batch_add(&b, make_ns("x"));
    free(b.objs[0]->manifest);
    b.objs[0]->manifest = cf_xstrdup("{\"kind\":\"Namespace\","
                                     "\"metadata\":{\"name\":\"x\","
                                     "\"annotations\":{\"a\":\"b\"}}}");
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_int_eq(b.results[0], CF_STORE_CONFIGURED);
    ck_assert_uint_eq(seq, 2);
    batch_clear(&b);

    /* get and list give the objects back with ids and manifests. */
    struct cf_objref ref = { CF_KIND_POLICY, "x", "b" };
    struct cf_object *obj;
    ck_ok(cf_store_get(store, &ref, &obj));
    ck_assert_ptr_nonnull(obj);
    ck_assert_uint_eq(obj->policy->id, 1);
    ck_assert_uint_eq(obj->policy->ingress_rules[0].ports[0].port, 8080);
    ck_assert_ptr_nonnull(strstr(obj->manifest, "NetworkPolicy"));
    cf_object_destroy(obj);
    ref.name = "nope";
    ck_ok(cf_store_get(store, &ref, &obj));
    ck_assert_ptr_null(obj);
    ref = (struct cf_objref) { CF_KIND_NAMESPACE, NULL, "x" };
    ck_ok(cf_store_get(store, &ref, &obj));
    ck_assert_ptr_nonnull(strstr(obj->manifest, "annotations"));
    cf_object_destroy(obj);

    struct cf_object **objs;
    size_t n;
    ck_ok(cf_store_list(store, CF_KIND_POLICY, "x", &objs, &n));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(objs[0]->policy->name, "a");
    ck_assert_str_eq(objs[1]->policy->name, "b");
    ck_assert_str_eq(objs[2]->policy->name, "c");
    ck_assert_uint_eq(objs[0]->policy->id, 2);
    for (size_t i = 0; i < n; i++) {
        cf_object_destroy(objs[i]);
    }
    free(objs);
    ck_ok(cf_store_list(store, CF_KIND_POLICY, "y", &objs, &n));
    ck_assert_uint_eq(n, 0);
    free(objs);
    ck_ok(cf_store_list(store, CF_KIND_NODE, NULL, &objs, &n));
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(objs[0]->node->id, 1);
    cf_object_destroy(objs[0]);
    free(objs);

    /* Dry run: results, but nothing written and no ids handed out. */
    before = dump_store(dbpath);
    batch_add(&b, make_ns("y"));
    batch_add(&b, make_policy("y", "p", "web", "client", 80));
    batch_add(&b, make_policy("x", "a", "web", "client", 81));
    ck_ok(batch_apply(store, &b, true, &seq));
    ck_assert_int_eq(b.results[0], CF_STORE_CREATED);
    ck_assert_int_eq(b.results[1], CF_STORE_CREATED);
    ck_assert_int_eq(b.results[2], CF_STORE_UNCHANGED);
    ck_assert_uint_eq(b.objs[1]->policy->id, 0);
    ck_assert_uint_eq(seq, 2);
    after = dump_store(dbpath);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);
    batch_clear(&b);

    cf_store_close(store);
}
END_TEST

/* An invalid object, or a pod in a namespace that does not exist, rejects
 * the whole batch: the message names the object and the field, and the
 * file's content is identical (and no other connection sees a commit). */
START_TEST(test_rejected_batch)
{
    struct cf_store *store = open_store();
    struct cf_store *watcher = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq = 0;

    batch_add(&b, make_ns("x"));
    batch_add(&b, make_pod("x", "web", "web", 1));
    ck_ok(batch_apply(store, &b, false, &seq));
    batch_clear(&b);

    char *before = dump_store(dbpath);
    int64_t dv_before, dv_after;
    ck_ok(cf_store_data_version(watcher, &dv_before));

    /* Structurally invalid: the error names object and field; both
     * invalid objects are reported. */
    batch_add(&b, make_pod("x", "new", "new", 2));
    batch_add(&b, make_policy("x", "bad", "web", "client", 80));
    b.objs[1]->policy->ingress_rules[0].ports[0].end_port = 70;
    batch_add(&b, make_pod("x", "", "x", 3));
    char *error = batch_apply(store, &b, false, &seq);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, "networkpolicy x/bad: "
                         "spec.ingress[0].ports[0]: endPort 70 is less "
                         "than port 80") != NULL, "%s", error);
    ck_assert_msg(strstr(error, "pod x/<no name>: metadata.name: must not "
                         "be empty") != NULL, "%s", error);
    free(error);
    batch_clear(&b);

    /* Valid objects, but the last one's namespace does not exist: the
     * first ones are not written either. */
    batch_add(&b, make_pod("x", "new", "new", 2));
    batch_add(&b, make_ns("y"));
    batch_add(&b, make_pod("z", "lost", "web", 4));
    error = batch_apply(store, &b, false, &seq);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(!strcmp(error, "pod z/lost: metadata.namespace: "
                          "namespace \"z\" not found"), "%s", error);
    free(error);
    batch_clear(&b);

    /* An ipBlock except outside its cidr. */
    batch_add(&b, make_policy("x", "bad2", "web", "client", 80));
    ck_ok(cf_cidr_parse("192.168.0.0/16",
                        &b.objs[0]->policy->ingress_rules[1].peers[0]
                        .ipblock.except[0]));
    error = batch_apply(store, &b, false, &seq);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, "spec.ingress[1].from[0].ipBlock.except[0]")
                  != NULL, "%s", error);
    free(error);
    batch_clear(&b);

    char *after = dump_store(dbpath);
    ck_assert_str_eq(before, after);
    ck_ok(cf_store_data_version(watcher, &dv_after));
    ck_assert_int_eq(dv_before, dv_after);
    free(before);
    free(after);
    ck_ok(cf_store_seq(store, &seq));
    ck_assert_uint_eq(seq, 1);

    /* A namespace created earlier in the same batch is fine. */
    batch_add(&b, make_ns("z"));
    batch_add(&b, make_pod("z", "found", "web", 4));
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_uint_eq(seq, 2);
    batch_clear(&b);

    cf_store_close(watcher);
    cf_store_close(store);
}
END_TEST

/* Frees 'n' changes. */
static void
free_changes(struct cf_change *changes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cf_change_destroy(&changes[i]);
    }
    free(changes);
}

START_TEST(test_delete_and_feed)
{
    struct cf_store *store = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq = 0;

    batch_add(&b, make_ns("x"));
    batch_add(&b, make_ns("y"));
    batch_add(&b, make_pod("x", "web", "web", 1));
    batch_add(&b, make_pod("x", "db", "db", 2));
    batch_add(&b, make_pod("y", "web", "web", 3));
    batch_add(&b, make_policy("x", "p", "web", "client", 80));
    ck_ok(batch_apply(store, &b, false, &seq));      /* seq 1 */
    batch_clear(&b);

    /* Deleting namespace x deletes its pods and policy too. */
    struct cf_objref refs[] = {
        { CF_KIND_NAMESPACE, NULL, "x" },
        { CF_KIND_POD, "y", "nope" },
    };
    enum cf_store_result results[2];
    char *before = dump_store(dbpath);
    ck_ok(cf_store_delete(store, refs, 2, true, results, &seq));
    ck_assert_int_eq(results[0], CF_STORE_DELETED);
    ck_assert_int_eq(results[1], CF_STORE_NOT_FOUND);
    char *after = dump_store(dbpath);
    ck_assert_str_eq(before, after);            /* Dry run. */
    free(before);
    free(after);

    ck_ok(cf_store_delete(store, refs, 2, false, results, &seq));
    ck_assert_int_eq(results[0], CF_STORE_DELETED);
    ck_assert_int_eq(results[1], CF_STORE_NOT_FOUND);
    ck_assert_uint_eq(seq, 2);

    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    ck_ok(cf_store_load(store, &cluster, &seq));
    ck_assert_uint_eq(seq, 2);
    ck_assert_uint_eq(cluster.n_namespaces, 1);
    ck_assert_uint_eq(cluster.n_pods, 1);
    ck_assert_str_eq(cluster.pods[0]->ns, "y");
    ck_assert_uint_eq(cluster.n_policies, 0);
    cf_cluster_destroy(&cluster);

    /* Deleting what is not there changes nothing. */
    ck_ok(cf_store_delete(store, refs, 1, false, results, &seq));
    ck_assert_int_eq(results[0], CF_STORE_NOT_FOUND);
    ck_assert_uint_eq(seq, 2);

    /* A reference without a namespace is an error. */
    struct cf_objref bad = { CF_KIND_POD, NULL, "web" };
    char *error = cf_store_delete(store, &bad, 1, false, results, &seq);
    ck_assert_ptr_nonnull(error);
    free(error);

    /* The feed: 6 creations at 1, then 4 deletions at 2. */
    struct cf_change *changes;
    size_t n;
    uint64_t last;
    bool too_old;
    ck_ok(cf_store_changes(store, 0, 0, &changes, &n, &last, &too_old));
    ck_assert(!too_old);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(last, 2);
    ck_assert_uint_eq(changes[0].seq, 1);
    ck_assert_int_eq(changes[0].ref.kind, CF_KIND_NAMESPACE);
    ck_assert_str_eq(changes[0].ref.name, "x");
    ck_assert_ptr_null(changes[0].ref.ns);
    ck_assert(!changes[0].deleted);
    ck_assert_str_eq(changes[3].ref.ns, "x");
    ck_assert_str_eq(changes[3].ref.name, "db");
    for (size_t i = 6; i < 10; i++) {
        ck_assert_uint_eq(changes[i].seq, 2);
        ck_assert(changes[i].deleted);
    }
    free_changes(changes, n);

    /* Limits stop at commit boundaries: max 8 gives commit 1 only; max 3
     * gives all of commit 1 (a commit is never split). */
    ck_ok(cf_store_changes(store, 0, 8, &changes, &n, &last, &too_old));
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(last, 1);
    free_changes(changes, n);
    ck_ok(cf_store_changes(store, 0, 3, &changes, &n, &last, &too_old));
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(last, 1);
    free_changes(changes, n);
    ck_ok(cf_store_changes(store, 1, 0, &changes, &n, &last, &too_old));
    ck_assert_uint_eq(n, 4);
    ck_assert_uint_eq(last, 2);
    free_changes(changes, n);
    ck_ok(cf_store_changes(store, 2, 0, &changes, &n, &last, &too_old));
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(last, 2);
    ck_assert(!too_old);
    free_changes(changes, n);

    /* A sequence number from the future (another store) is too old. */
    ck_ok(cf_store_changes(store, 5, 0, &changes, &n, &last, &too_old));
    ck_assert(too_old);
    ck_assert_uint_eq(last, 2);
    free_changes(changes, n);

    /* Trimming: keep 5 rows.  The next commit trims whole commits. */
    ck_ok(cf_store_meta_set(store, "feed_keep", "5"));
    batch_add(&b, make_pod("y", "p1", "web", 10));
    ck_ok(batch_apply(store, &b, false, &seq));      /* seq 3 */
    batch_clear(&b);
    ck_ok(cf_store_changes(store, 0, 0, &changes, &n, &last, &too_old));
    ck_assert(too_old);
    free_changes(changes, n);
    ck_ok(cf_store_changes(store, 1, 0, &changes, &n, &last, &too_old));
    ck_assert(!too_old);
    ck_assert_uint_eq(n, 5);
    free_changes(changes, n);
    ck_assert_int_eq(raw_int(dbpath, "SELECT count(*) FROM changes"), 5);

    cf_store_close(store);
}
END_TEST

START_TEST(test_replace_kind)
{
    struct cf_store *store = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq = 0;

    batch_add(&b, make_ns("x"));
    batch_add(&b, make_pod("x", "a", "web", 1));
    batch_add(&b, make_pod("x", "b", "web", 2));
    ck_ok(batch_apply(store, &b, false, &seq));
    batch_clear(&b);

    /* A relist with b changed, a gone and c new. */
    batch_add(&b, make_pod("x", "b", "db", 2));
    batch_add(&b, make_pod("x", "c", "web", 3));
    ck_ok(cf_store_replace_kind(store, CF_KIND_POD, b.objs, b.n, &seq));
    ck_assert_uint_eq(seq, 2);

    /* The same relist again writes nothing. */
    char *before = dump_store(dbpath);
    ck_ok(cf_store_replace_kind(store, CF_KIND_POD, b.objs, b.n, &seq));
    ck_assert_uint_eq(seq, 2);
    char *after = dump_store(dbpath);
    ck_assert_str_eq(before, after);
    free(before);
    free(after);

    /* A mixed kind is refused. */
    batch_add(&b, make_ns("q"));
    char *error = cf_store_replace_kind(store, CF_KIND_POD, b.objs, b.n,
                                        &seq);
    ck_assert_ptr_nonnull(error);
    free(error);
    batch_clear(&b);

    struct cf_change *changes;
    size_t n;
    uint64_t last;
    bool too_old;
    ck_ok(cf_store_changes(store, 1, 0, &changes, &n, &last, &too_old));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(changes[0].ref.name, "a");
    ck_assert(changes[0].deleted);
    ck_assert_str_eq(changes[1].ref.name, "b");
    ck_assert(!changes[1].deleted);
    ck_assert_str_eq(changes[2].ref.name, "c");
    free_changes(changes, n);

    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    ck_ok(cf_store_load(store, &cluster, &seq));
    ck_assert_uint_eq(cluster.n_pods, 2);
    ck_assert_str_eq(cf_labels_get(&cluster.pods[0]->labels, "app"), "db");
    cf_cluster_destroy(&cluster);
    cf_store_close(store);
}
END_TEST

/* Node ids run 1..65535; once they are all taken, the lowest free one is
 * reused, and with none free the batch is rejected. */
START_TEST(test_node_ids_exhausted)
{
    struct cf_store *store = open_store();
    size_t n = 65535;
    struct cf_object **objs = cf_xcalloc(n, sizeof *objs);
    enum cf_store_result *results = cf_xcalloc(n, sizeof *results);
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%05zu", i);
        objs[i] = make_node(name);
    }
    uint64_t seq;
    ck_ok(cf_store_apply(store, objs, n, false, results, &seq));
    ck_assert_uint_eq(objs[0]->node->id, 1);
    ck_assert_uint_eq(objs[n - 1]->node->id, 65535);

    struct cf_objref refs[] = {
        { CF_KIND_NODE, NULL, "n00100" },       /* id 101 */
        { CF_KIND_NODE, NULL, "n00009" },       /* id 10 */
    };
    ck_ok(cf_store_delete(store, refs, 2, false, results, &seq));

    struct cf_object *more[] = { make_node("new1"), make_node("new2"),
                                 make_node("new3") };
    char *error = cf_store_apply(store, more, 3, false, results, &seq);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, "node new3: id: all 65535 node ids are in "
                         "use") != NULL, "%s", error);
    free(error);
    ck_ok(cf_store_apply(store, more, 2, false, results, &seq));
    ck_assert_uint_eq(more[0]->node->id, 10);
    ck_assert_uint_eq(more[1]->node->id, 101);

    for (size_t i = 0; i < CF_ARRAY_SIZE(more); i++) {
        cf_object_destroy(more[i]);
    }
    for (size_t i = 0; i < n; i++) {
        cf_object_destroy(objs[i]);
    }
    free(objs);
    free(results);
    cf_store_close(store);
}
END_TEST

START_TEST(test_bindings_and_meta)
{
    struct cf_store *store = open_store();
    struct cf_store *watcher = open_store();

    struct cf_node_ports ports;
    cf_node_ports_init(&ports);
    ck_ok(cf_node_ports_parse("x/web 5 02:00:00:00:00:05\n"
                              "x/db 4\n"
                              "uplink 1\n", "test", &ports));
    ck_ok(cf_store_set_bindings(store, "node1", &ports));

    struct cf_node_ports got;
    cf_node_ports_init(&got);
    ck_ok(cf_store_get_bindings(watcher, "node1", &got));
    ck_assert_uint_eq(got.n_bindings, 2);
    ck_assert_str_eq(got.bindings[0].pod, "x/db");
    ck_assert(!got.bindings[0].has_mac);
    ck_assert_str_eq(got.bindings[1].pod, "x/web");
    ck_assert_uint_eq(got.bindings[1].ofport, 5);
    ck_assert(got.bindings[1].has_mac);
    ck_assert_uint_eq(got.bindings[1].mac[5], 5);
    ck_assert_uint_eq(got.n_uplinks, 1);
    ck_assert_uint_eq(got.uplinks[0], 1);
    cf_node_ports_destroy(&got);

    /* Other nodes are separate; the same bindings again write nothing;
     * bindings are not in the change feed. */
    cf_node_ports_init(&got);
    ck_ok(cf_store_get_bindings(watcher, "node2", &got));
    ck_assert_uint_eq(got.n_bindings, 0);
    cf_node_ports_destroy(&got);
    int64_t v1, v2;
    ck_ok(cf_store_data_version(watcher, &v1));
    ck_ok(cf_store_set_bindings(store, "node1", &ports));
    ck_ok(cf_store_data_version(watcher, &v2));
    ck_assert_int_eq(v1, v2);
    uint64_t seq;
    ck_ok(cf_store_seq(store, &seq));
    ck_assert_uint_eq(seq, 0);
    cf_node_ports_destroy(&ports);

    /* Replacing drops what is gone. */
    cf_node_ports_init(&ports);
    ck_ok(cf_store_set_bindings(store, "node1", &ports));
    ck_ok(cf_store_data_version(watcher, &v2));
    ck_assert_int_ne(v1, v2);
    cf_node_ports_init(&got);
    ck_ok(cf_store_get_bindings(watcher, "node1", &got));
    ck_assert_uint_eq(got.n_bindings + got.n_uplinks, 0);
    cf_node_ports_destroy(&got);

    /* Meta. */
    char *value;
    ck_ok(cf_store_meta_get(store, "k8s.pods.rv", &value));
    ck_assert_ptr_null(value);
    ck_ok(cf_store_meta_set(store, "k8s.pods.rv", "12345"));
    ck_ok(cf_store_meta_get(watcher, "k8s.pods.rv", &value));
    ck_assert_str_eq(value, "12345");
    free(value);
    ck_ok(cf_store_meta_set(store, "k8s.pods.rv", NULL));
    ck_ok(cf_store_meta_get(watcher, "k8s.pods.rv", &value));
    ck_assert_ptr_null(value);
    char *error = cf_store_meta_set(store, "seq", "100");
    ck_assert_ptr_nonnull(error);
    free(error);
    ck_ok(cf_store_seq(store, &seq));
    ck_assert_uint_eq(seq, 0);

    cf_store_close(watcher);
    cf_store_close(store);
}
END_TEST

/* ---- Several processes -------------------------------------------------- */

#define WRITER_BATCHES 40
#define WRITER_BATCH_SIZE 25

/* A writer process: applies WRITER_BATCHES batches of pods named
 * "<tag>-<batch>-<i>" in namespace x, each batch also touching the shared
 * pod "x/shared".  Exits 0 if every apply succeeded. */
static int
writer_main(const char *tag)
{
    struct cf_store *store;
    char *error = cf_store_open(dbpath, CF_STORE_READ_WRITE, &store);
    if (error) {
        fprintf(stderr, "writer %s: %s\n", tag, error);
        return 1;
    }
    for (int batch = 0; batch < WRITER_BATCHES; batch++) {
        struct cf_object *objs[WRITER_BATCH_SIZE + 1];
        enum cf_store_result results[WRITER_BATCH_SIZE + 1];
        for (int i = 0; i < WRITER_BATCH_SIZE; i++) {
            char name[64];
            snprintf(name, sizeof name, "%s-%d-%d", tag, batch, i);
            objs[i] = make_pod("x", name, tag, batch * 100 + i);
        }
        char app[64];
        snprintf(app, sizeof app, "%s-%d", tag, batch);
        objs[WRITER_BATCH_SIZE] = make_pod("x", "shared", app, 1);
        uint64_t seq;
        error = cf_store_apply(store, objs, WRITER_BATCH_SIZE + 1, false,
                               results, &seq);
        for (int i = 0; i <= WRITER_BATCH_SIZE; i++) {
            cf_object_destroy(objs[i]);
        }
        if (error) {
            fprintf(stderr, "writer %s: %s\n", tag, error);
            return 1;
        }
    }
    cf_store_close(store);
    return 0;
}

/* A reader process: follows the change feed until it has seen every pod
 * the writers create (or a deadline passes), checking that sequence
 * numbers only grow and that a snapshot loaded at seq S agrees with the
 * feed.  Exits 0 if all is well. */
static int
reader_main(void)
{
    struct cf_store *store;
    char *error = cf_store_open(dbpath, CF_STORE_READ_ONLY, &store);
    if (error) {
        fprintf(stderr, "reader: %s\n", error);
        return 1;
    }
    size_t want = 2 * WRITER_BATCHES * WRITER_BATCH_SIZE;
    size_t created = 0;
    uint64_t after = 0;
    long long deadline = cf_time_msec() + 60000;
    while (created < want) {
        if (cf_time_msec() > deadline) {
            fprintf(stderr, "reader: saw %zu of %zu pods\n", created, want);
            return 1;
        }
        struct cf_change *changes;
        size_t n;
        uint64_t last;
        bool too_old;
        error = cf_store_changes(store, after, 50, &changes, &n, &last,
                                 &too_old);
        if (error || too_old) {
            fprintf(stderr, "reader: %s\n", error ? error : "too old");
            return 1;
        }
        for (size_t i = 0; i < n; i++) {
            if (changes[i].seq <= after || changes[i].seq > last
                || (i && changes[i].seq < changes[i - 1].seq)) {
                fprintf(stderr, "reader: seq %llu out of order\n",
                        (unsigned long long) changes[i].seq);
                return 1;
            }
            if (changes[i].ref.kind == CF_KIND_POD
                && strcmp(changes[i].ref.name, "shared")) {
                created++;
            }
        }
        if (!n && last == after) {
            /* Nothing new yet: a snapshot load must agree on the seq. */
            struct cf_cluster c;
            uint64_t seq;
            cf_cluster_init(&c);
            if ((error = cf_store_load(store, &c, &seq))) {
                fprintf(stderr, "reader: %s\n", error);
                return 1;
            }
            cf_cluster_destroy(&c);
            if (seq < after) {
                fprintf(stderr, "reader: load went backwards\n");
                return 1;
            }
        }
        free_changes(changes, n);
        after = last;
    }
    /* Every pod but the shared one was counted once. */
    cf_store_close(store);
    if (created != want) {
        fprintf(stderr, "reader: counted %zu pods, not %zu\n", created,
                want);
        return 1;
    }
    return 0;
}

/* Forks a child running 'fn(arg)' and returns its pid. */
static pid_t
spawn(int (*fn)(const char *), const char *arg)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (!pid) {
        _exit(fn(arg));
    }
    return pid;
}

/* Adapter for reader_main(). */
static int
reader_adapter(const char *arg)
{
    (void) arg;
    return reader_main();
}

START_TEST(test_two_writers_and_a_reader)
{
    struct cf_store *store = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq;
    batch_add(&b, make_ns("x"));
    ck_ok(batch_apply(store, &b, false, &seq));
    batch_clear(&b);

    pid_t pids[3];
    pids[0] = spawn(reader_adapter, NULL);
    pids[1] = spawn(writer_main, "a");
    pids[2] = spawn(writer_main, "b");
    for (int i = 0; i < 3; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d failed (status %d)", i, status);
    }

    /* Every batch is there, each one commit. */
    struct cf_cluster c;
    cf_cluster_init(&c);
    ck_ok(cf_store_load(store, &c, &seq));
    ck_assert_uint_eq(c.n_pods, 2 * WRITER_BATCHES * WRITER_BATCH_SIZE + 1);
    cf_cluster_destroy(&c);
    ck_assert_uint_eq(seq, 1 + 2 * WRITER_BATCHES);
    ck_assert_int_eq(raw_int(dbpath, "SELECT count(DISTINCT seq) "
                             "FROM changes"), 1 + 2 * WRITER_BATCHES);
    char *ok = raw_text(dbpath, "PRAGMA integrity_check");
    ck_assert_str_eq(ok, "ok");
    free(ok);
    cf_store_close(store);
}
END_TEST

#define KILL_BATCH 20000

/* The child of the kill test: signals 'fd' just before applying a batch
 * of KILL_BATCH pods, then applies it. */
static void
big_apply_child(int fd)
{
    struct cf_store *store;
    char *error = cf_store_open(dbpath, CF_STORE_READ_WRITE, &store);
    if (error) {
        _exit(2);
    }
    struct cf_object **objs = cf_xcalloc(KILL_BATCH, sizeof *objs);
    enum cf_store_result *results = cf_xcalloc(KILL_BATCH, sizeof *results);
    for (size_t i = 0; i < KILL_BATCH; i++) {
        char name[32];
        snprintf(name, sizeof name, "big-%zu", i);
        objs[i] = make_pod("x", name, "big", i);
    }
    if (write(fd, "g", 1) != 1) {
        _exit(2);
    }
    uint64_t seq;
    error = cf_store_apply(store, objs, KILL_BATCH, false, results, &seq);
    _exit(error ? 2 : 0);
}

/* Busy-waits until 'msec' milliseconds have passed since 'start' or
 * child 'pid' has exited; returns true if it exited. */
static bool
wait_or_exit(pid_t pid, long long start, long long msec, int *status)
{
    while (cf_time_msec() - start < msec) {
        if (waitpid(pid, status, WNOHANG) == pid) {
            return true;
        }
    }
    return false;
}

START_TEST(test_kill_during_apply)
{
    struct cf_store *store = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq;
    batch_add(&b, make_ns("x"));
    batch_add(&b, make_pod("x", "keep", "keep", 1));
    ck_ok(batch_apply(store, &b, false, &seq));
    batch_clear(&b);
    cf_store_close(store);

    /* Kill the applying child at increasing delays; every time the file
     * must be intact and hold the state entirely before or entirely after
     * the batch.  Delete the batch again whenever it got through. */
    int n_before = 0, n_after = 0;
    for (int round = 0; round < 12; round++) {
        int fds[2];
        ck_assert_int_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (!pid) {
            close(fds[0]);
            big_apply_child(fds[1]);
        }
        close(fds[1]);
        char c;
        ck_assert_int_eq(read(fds[0], &c, 1), 1);
        close(fds[0]);
        long long start = cf_time_msec();
        int status;
        if (!wait_or_exit(pid, start, 5 + round * 20, &status)) {
            kill(pid, SIGKILL);
            ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        }

        char *ok = raw_text(dbpath, "PRAGMA integrity_check");
        ck_assert_str_eq(ok, "ok");
        free(ok);
        store = open_store();
        struct cf_cluster cl;
        uint64_t seq_now;
        cf_cluster_init(&cl);
        ck_ok(cf_store_load(store, &cl, &seq_now));
        size_t n_pods = cl.n_pods;
        cf_cluster_destroy(&cl);
        char *sql = cf_xasprintf("SELECT count(*) FROM changes WHERE seq > "
                                 "%llu", (unsigned long long) seq);
        long long feed = raw_int(dbpath, sql);
        free(sql);
        if (n_pods == 1) {
            /* Entirely before: no commit, no feed rows. */
            n_before++;
            ck_assert_uint_eq(seq_now, seq);
            ck_assert_int_eq(feed, 0);
        } else {
            /* Entirely after: one commit with every pod. */
            ck_assert_uint_eq(n_pods, 1 + KILL_BATCH);
            ck_assert_uint_eq(seq_now, seq + 1);
            ck_assert_int_eq(feed, KILL_BATCH);
            n_after++;
            /* Undo it for the next round (the namespace's pods go, then
             * x/keep comes back). */
            struct cf_objref ref = { CF_KIND_NAMESPACE, NULL, "x" };
            enum cf_store_result r;
            ck_ok(cf_store_delete(store, &ref, 1, false, &r, &seq));
            batch_add(&b, make_ns("x"));
            batch_add(&b, make_pod("x", "keep", "keep", 1));
            ck_ok(batch_apply(store, &b, false, &seq));
            batch_clear(&b);
        }
        cf_store_close(store);
    }
    /* The kills did land in the middle of applies. */
    ck_assert_int_gt(n_before, 0);
    printf("kill -9 during apply: %d rounds before, %d after\n", n_before,
           n_after);
}
END_TEST

/* ---- Costs that must not grow with the store ---------------------------- */

/* True if SQLite's plan for 'sql' on 'db' reads a whole table or index
 * ("SCAN t", but not "SCAN CONSTANT ROW").  Stores the plan in '*planp'
 * (malloc'd), for messages. */
static bool
plan_scans(sqlite3 *db, const char *sql, char **planp)
{
    char *eqp = cf_xasprintf("EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *stmt;
    ck_assert_msg(sqlite3_prepare_v2(db, eqp, -1, &stmt, NULL) == SQLITE_OK,
                  "%s: %s", sql, sqlite3_errmsg(db));
    struct cf_ds plan = CF_DS_INIT;
    bool scans = false;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const char *detail = (const char *) sqlite3_column_text(stmt, 3);
        cf_ds_put_format(&plan, "%s; ", detail ? detail : "");
        if (detail && !strncmp(detail, "SCAN ", 5)
            && strcmp(detail, "SCAN CONSTANT ROW")) {
            scans = true;
        }
    }
    sqlite3_finalize(stmt);
    free(eqp);
    *planp = cf_ds_steal(&plan);
    return scans;
}

/* Every statement the store runs finds its rows through an index, except
 * the full lists and the free-id search: in particular nothing that every
 * commit runs (the change feed's bounds for trimming, meta, lookups) reads
 * a whole table, so an apply costs the same with a full change feed
 * (100,000 rows by default) as with an empty one. */
START_TEST(test_statements_use_indexes)
{
    struct cf_store *store = open_store();
    cf_store_close(store);

    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY,
                                     NULL), SQLITE_OK);
    /* The check itself can fail: min() and max() together, without
     * subqueries, scan the feed. */
    char *plan;
    ck_assert(plan_scans(db, "SELECT min(rowid), max(rowid) FROM changes",
                         &plan));
    free(plan);

    size_t n_checked = 0, n_may_scan = 0;
    for (size_t i = 0; i < cf_store__n_statements(); i++) {
        bool may_scan;
        const char *sql = cf_store__statement_sql(i, &may_scan);
        if (!sql) {
            continue;
        }
        bool scans = plan_scans(db, sql, &plan);
        ck_assert_msg(!scans || may_scan, "%s: plan %s", sql, plan);
        free(plan);
        n_checked++;
        n_may_scan += may_scan;
    }
    ck_assert_uint_ge(n_checked, 40);
    ck_assert_uint_eq(n_may_scan, 6);   /* 4 lists, 2 free-id searches. */
    sqlite3_close(db);
}
END_TEST

/* Trimming keeps whole commits, and the store's own meta rows ('seq',
 * 'feed_floor'), normally updated in place, are recreated if missing. */
START_TEST(test_trim_and_meta_rows)
{
    struct cf_store *store = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq = 0;

    ck_ok(cf_store_meta_set(store, "feed_keep", "10"));
    batch_add(&b, make_ns("x"));
    for (unsigned i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%u", i);
        batch_add(&b, make_pod("x", name, "web", i + 1));
    }
    ck_ok(batch_apply(store, &b, false, &seq));      /* seq 1: 21 rows. */
    batch_clear(&b);
    ck_assert_uint_eq(seq, 1);
    /* Commit 1 is not split although it holds more than 10 rows. */
    ck_assert_int_eq(raw_int(dbpath, "SELECT count(*) FROM changes"), 21);

    /* Ten one-row commits (seq 2..11): the last one pushes commit 1 out
     * whole. */
    for (unsigned i = 0; i < 10; i++) {
        char name[16];
        snprintf(name, sizeof name, "q%u", i);
        batch_add(&b, make_pod("x", name, "db", 100 + i));
        ck_ok(batch_apply(store, &b, false, &seq));
        batch_clear(&b);
        ck_assert_int_eq(raw_int(dbpath, "SELECT count(*) FROM changes"),
                         i < 9 ? 22 + i : 10);
    }
    ck_assert_uint_eq(seq, 11);
    ck_assert_int_eq(raw_int(dbpath, "SELECT value FROM meta "
                             "WHERE key = 'feed_floor'"), 1);
    ck_assert_int_eq(raw_int(dbpath, "SELECT value FROM meta "
                             "WHERE key = 'seq'"), 11);

    /* Without its 'feed_floor' row, the next trim inserts it again. */
    raw_exec(dbpath, "DELETE FROM meta WHERE key = 'feed_floor'");
    batch_add(&b, make_pod("x", "r", "db", 200));
    ck_ok(batch_apply(store, &b, false, &seq));      /* seq 12 */
    batch_clear(&b);
    ck_assert_int_eq(raw_int(dbpath, "SELECT value FROM meta "
                             "WHERE key = 'feed_floor'"), 2);
    ck_assert_int_eq(raw_int(dbpath, "SELECT count(*) FROM changes"), 10);

    struct cf_change *changes;
    size_t n;
    uint64_t last;
    bool too_old;
    ck_ok(cf_store_changes(store, 1, 0, &changes, &n, &last, &too_old));
    ck_assert(too_old);
    free_changes(changes, n);
    ck_ok(cf_store_changes(store, 2, 0, &changes, &n, &last, &too_old));
    ck_assert(!too_old);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_eq(changes[0].seq, 3);
    ck_assert_uint_eq(last, 12);
    free_changes(changes, n);
    cf_store_close(store);
}
END_TEST


/* ---- Durability: a VFS that counts syncs of the WAL --------------------- */

static sqlite3_vfs *real_vfs;   /* The default VFS, wrapped. */
static int n_wal_syncs;         /* Syncs of WAL files so far. */

/* A file of the counting VFS: ours, then the real VFS's. */
struct count_file {
    sqlite3_file base;          /* Our methods. */
    sqlite3_file *real;         /* The real file (right after us). */
    bool wal;                   /* Opened as a WAL. */
};

#define REAL(F) (((struct count_file *) (F))->real)

static int
cf_close(sqlite3_file *f)
{
    return REAL(f)->pMethods->xClose(REAL(f));
}

static int
cf_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 ofs)
{
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, ofs);
}

static int
cf_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 ofs)
{
    return REAL(f)->pMethods->xWrite(REAL(f), buf, n, ofs);
}

static int
cf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int
cf_sync(sqlite3_file *f, int flags)
{
    if (((struct count_file *) f)->wal) {
        n_wal_syncs++;
    }
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int
cf_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int
cf_lock(sqlite3_file *f, int lock)
{
    return REAL(f)->pMethods->xLock(REAL(f), lock);
}

static int
cf_unlock(sqlite3_file *f, int lock)
{
    return REAL(f)->pMethods->xUnlock(REAL(f), lock);
}

static int
cf_check_reserved(sqlite3_file *f, int *out)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int
cf_file_control(sqlite3_file *f, int op, void *arg)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int
cf_sector_size(sqlite3_file *f)
{
    return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int
cf_device_characteristics(sqlite3_file *f)
{
    return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int
cf_shm_map(sqlite3_file *f, int pg, int size, int extend, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, size, extend, p);
}

static int
cf_shm_lock(sqlite3_file *f, int ofs, int n, int flags)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), ofs, n, flags);
}

static void
cf_shm_barrier(sqlite3_file *f)
{
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int
cf_shm_unmap(sqlite3_file *f, int delete)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), delete);
}

static const sqlite3_io_methods count_io = {
    .iVersion = 2,
    .xClose = cf_close, .xRead = cf_read, .xWrite = cf_write,
    .xTruncate = cf_truncate, .xSync = cf_sync, .xFileSize = cf_file_size,
    .xLock = cf_lock, .xUnlock = cf_unlock,
    .xCheckReservedLock = cf_check_reserved,
    .xFileControl = cf_file_control, .xSectorSize = cf_sector_size,
    .xDeviceCharacteristics = cf_device_characteristics,
    .xShmMap = cf_shm_map, .xShmLock = cf_shm_lock,
    .xShmBarrier = cf_shm_barrier, .xShmUnmap = cf_shm_unmap,
};

static int
count_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
           int *out_flags)
{
    struct count_file *cf = (struct count_file *) f;
    cf->real = (sqlite3_file *) (cf + 1);
    cf->wal = (flags & SQLITE_OPEN_WAL) != 0;
    int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
    f->pMethods = rc == SQLITE_OK ? &count_io : NULL;
    (void) vfs;
    return rc;
}

/* Every committed write syncs the store's WAL before it returns (the store
 * commits with synchronous=NORMAL and syncs by itself: store.c's
 * wal_sync()); a write that changes nothing, or a dry run, needs none. */
START_TEST(test_writes_sync_the_wal)
{
    static sqlite3_vfs count_vfs;
    real_vfs = sqlite3_vfs_find(NULL);
    ck_assert_ptr_nonnull(real_vfs);
    count_vfs = *real_vfs;
    count_vfs.zName = "cf-count";
    count_vfs.szOsFile = sizeof(struct count_file) + real_vfs->szOsFile;
    count_vfs.xOpen = count_open;
    count_vfs.pNext = NULL;
    ck_assert_int_eq(sqlite3_vfs_register(&count_vfs, 1), SQLITE_OK);

    struct cf_store *store = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq = 0;
    int n;

    batch_add(&b, make_ns("x"));
    n = n_wal_syncs;
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_int_gt(n_wal_syncs, n);           /* Written: synced. */

    n = n_wal_syncs;
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_int_eq(n_wal_syncs, n);           /* Unchanged: nothing. */
    batch_clear(&b);

    batch_add(&b, make_ns("y"));
    ck_ok(batch_apply(store, &b, true, &seq));
    ck_assert_int_eq(n_wal_syncs, n);           /* Dry run: nothing. */
    ck_ok(batch_apply(store, &b, false, &seq));
    ck_assert_int_gt(n_wal_syncs, n);
    batch_clear(&b);

    n = n_wal_syncs;
    ck_ok(cf_store_meta_set(store, "k", "v"));
    ck_assert_int_gt(n_wal_syncs, n);           /* Any other write too. */

    cf_store_close(store);
    ck_assert_int_eq(sqlite3_vfs_unregister(&count_vfs), SQLITE_OK);
}
END_TEST

/* Opening a store does not wait for another process's write transaction:
 * checking a current schema only reads. */
START_TEST(test_open_during_write)
{
    struct cf_store *store = open_store();
    struct batch b = { .n = 0 };
    uint64_t seq = 0;
    batch_add(&b, make_ns("x"));
    ck_ok(batch_apply(store, &b, false, &seq));
    batch_clear(&b);
    cf_store_close(store);

    /* Another connection holds the write lock with a write pending. */
    sqlite3 *writer;
    ck_assert_int_eq(sqlite3_open(dbpath, &writer), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(writer, "BEGIN IMMEDIATE; "
                                  "INSERT INTO meta (key, value) "
                                  "VALUES ('pending', 1)", NULL, NULL, NULL),
                     SQLITE_OK);

    enum cf_store_mode modes[] = { CF_STORE_READ_WRITE, CF_STORE_READ_ONLY };
    for (size_t i = 0; i < CF_ARRAY_SIZE(modes); i++) {
        ck_ok(cf_store_open(dbpath, modes[i], &store));
        uint64_t now = 0;
        ck_ok(cf_store_seq(store, &now));
        ck_assert_uint_eq(now, seq);
        char *value;
        ck_ok(cf_store_meta_get(store, "pending", &value));
        ck_assert_ptr_null(value);              /* Not committed. */
        cf_store_close(store);
    }

    ck_assert_int_eq(sqlite3_exec(writer, "ROLLBACK", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(writer);
}
END_TEST

/* ---- Suite -------------------------------------------------------------- */

/* The store's test suite. */
static Suite *
store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_codec_roundtrip);
    tcase_add_test(tc, test_open_and_schema);
    tcase_add_test(tc, test_migrate_v1);
    tcase_add_test(tc, test_apply_results_and_ids);
    tcase_add_test(tc, test_rejected_batch);
    tcase_add_test(tc, test_delete_and_feed);
    tcase_add_test(tc, test_statements_use_indexes);
    tcase_add_test(tc, test_trim_and_meta_rows);
    tcase_add_test(tc, test_open_during_write);
    tcase_add_test(tc, test_writes_sync_the_wal);
    tcase_add_test(tc, test_replace_kind);
    tcase_add_test(tc, test_node_ids_exhausted);
    tcase_add_test(tc, test_bindings_and_meta);
    tcase_add_test(tc, test_two_writers_and_a_reader);
    tcase_add_test(tc, test_kill_during_apply);
    suite_add_tcase(s, tc);
    return s;
}

/* Runs the suite; exits non-zero if a test failed. */
int
main(void)
{
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
