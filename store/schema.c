/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The store's schema, version by version, and the code that moves a file
 * forward from any older version to the current one.
 *
 * Version 2 (current):
 *   meta(key, value)            small key/value state; the store itself
 *                               keeps 'seq' (last committed sequence) and
 *                               'feed_floor' (changes with seq > floor are
 *                               all still in the feed), and reads
 *                               'feed_keep' (rows the feed keeps).
 *   namespaces(name, data, manifest)
 *   pods(ns, name, data, manifest)
 *   policies(ns, name, id, data, manifest)      id unique, stable
 *   nodes(name, id, data, manifest)             id unique: conntrack zone
 *   changes(seq, kind, ns, name, deleted)       the change feed, in rowid
 *                                               order
 *   bindings(node, pod, ofport, mac)            pod ports found on nodes
 *   node_ports(node, ofport, kind)              uplink (0) and unknown (1)
 *                                               ports of each node
 *   'data' is a codec.h record, 'manifest' the object as applied (JSON).
 *
 * Version 1 (conjflow before bindings carried MACs): the same without
 * bindings.mac and without node_ports.  Migration 1 -> 2 adds them.
 *
 * A migration runs inside one write transaction together with the
 * user_version bump, so a crash leaves the file at the old version or the
 * new one, never between.
 */
#include "conjflow-config.h"

#include "schema.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "conjflow/cfutil.h"

/* The current schema, created in an empty file. */
static const char schema_v2[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value);\n"
    "CREATE TABLE namespaces (\n"
    "    name TEXT PRIMARY KEY NOT NULL,\n"
    "    data BLOB NOT NULL,\n"
    "    manifest TEXT);\n"
    "CREATE TABLE pods (\n"
    "    ns TEXT NOT NULL,\n"
    "    name TEXT NOT NULL,\n"
    "    data BLOB NOT NULL,\n"
    "    manifest TEXT,\n"
    "    PRIMARY KEY (ns, name));\n"
    "CREATE TABLE policies (\n"
    "    ns TEXT NOT NULL,\n"
    "    name TEXT NOT NULL,\n"
    "    id INTEGER NOT NULL UNIQUE,\n"
    "    data BLOB NOT NULL,\n"
    "    manifest TEXT,\n"
    "    PRIMARY KEY (ns, name));\n"
    "CREATE TABLE nodes (\n"
    "    name TEXT PRIMARY KEY NOT NULL,\n"
    "    id INTEGER NOT NULL UNIQUE,\n"
    "    data BLOB NOT NULL,\n"
    "    manifest TEXT);\n"
    "CREATE TABLE changes (\n"
    "    rowid INTEGER PRIMARY KEY,\n"
    "    seq INTEGER NOT NULL,\n"
    "    kind INTEGER NOT NULL,\n"
    "    ns TEXT,\n"
    "    name TEXT NOT NULL,\n"
    "    deleted INTEGER NOT NULL);\n"
    "CREATE INDEX changes_seq ON changes (seq);\n"
    "CREATE TABLE bindings (\n"
    "    node TEXT NOT NULL,\n"
    "    pod TEXT NOT NULL,\n"
    "    ofport INTEGER NOT NULL,\n"
    "    mac BLOB,\n"
    "    PRIMARY KEY (node, pod));\n"
    "CREATE TABLE node_ports (\n"
    "    node TEXT NOT NULL,\n"
    "    ofport INTEGER NOT NULL,\n"
    "    kind INTEGER NOT NULL,\n"
    "    PRIMARY KEY (node, kind, ofport));\n"
    "INSERT INTO meta (key, value) VALUES ('seq', 0), ('feed_floor', 0);\n";

/* Migration from version 1 to 2. */
static const char migrate_1_to_2[] =
    "ALTER TABLE bindings ADD COLUMN mac BLOB;\n"
    "CREATE TABLE node_ports (\n"
    "    node TEXT NOT NULL,\n"
    "    ofport INTEGER NOT NULL,\n"
    "    kind INTEGER NOT NULL,\n"
    "    PRIMARY KEY (node, kind, ofport));\n";

/* migrations[v] takes a file from version v to v + 1. */
static const char *const migrations[CF_STORE_SCHEMA_VERSION] = {
    [1] = migrate_1_to_2,
};

/* Runs 'sql' on 'db'.  Returns NULL or a malloc'd error naming 'what' and
 * 'path'. */
static char *
exec_sql(sqlite3 *db, const char *path, const char *what, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char *error = cf_xasprintf("%s: %s: %s", path, what,
                                   msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return error;
    }
    return NULL;
}

/* Reads the integer result of 'sql' (a PRAGMA or a count) into '*valuep'.
 * Returns NULL or a malloc'd error. */
static char *
query_int(sqlite3 *db, const char *path, const char *sql, int64_t *valuep)
{
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        return cf_xasprintf("%s: %s: %s", path, sql, sqlite3_errmsg(db));
    }
    int rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW) {
        char *error = cf_xasprintf("%s: %s: %s", path, sql,
                                   sqlite3_errmsg(db));
        sqlite3_finalize(stmt);
        return error;
    }
    *valuep = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return NULL;
}

/* Checks the version and owner of 'db' and, unless 'read_only' or
 * 'check_only', creates or migrates the schema.  Sets '*current' if the
 * schema is (now) current.  With 'check_only', an older schema in a
 * read-write open is no error: '*current' stays false and the caller
 * migrates it under the write lock.  Runs inside the caller's
 * transaction. */
static char *
prepare__(sqlite3 *db, const char *path, bool read_only, bool check_only,
          bool *current)
{
    int64_t version, app_id, n_tables;
    char *error;

    *current = false;
    if ((error = query_int(db, path, "PRAGMA user_version", &version))
        || (error = query_int(db, path, "PRAGMA application_id", &app_id))
        || (error = query_int(db, path,
                              "SELECT count(*) FROM sqlite_master",
                              &n_tables))) {
        return error;
    }

    if (app_id != CF_STORE_APPLICATION_ID && (app_id != 0 || n_tables)) {
        return cf_xasprintf("%s: not a conjflow store (the file holds other "
                            "SQLite data)", path);
    }
    if (version > CF_STORE_SCHEMA_VERSION) {
        return cf_xasprintf("%s: the store has schema version %lld, newer "
                            "than this conjflow understands (version %d): "
                            "upgrade conjflow", path, (long long) version,
                            CF_STORE_SCHEMA_VERSION);
    }
    if (version == CF_STORE_SCHEMA_VERSION) {
        *current = true;
        return NULL;
    }
    if (read_only) {
        return cf_xasprintf("%s: the store has schema version %lld, older "
                            "than this conjflow's (version %d): open it "
                            "read-write once to migrate it", path,
                            (long long) version, CF_STORE_SCHEMA_VERSION);
    }
    if (check_only) {
        return NULL;
    }

    if (version == 0) {
        error = exec_sql(db, path, "creating the schema", schema_v2);
    } else {
        for (int64_t v = version; v < CF_STORE_SCHEMA_VERSION && !error;
             v++) {
            char what[128];
            snprintf(what, sizeof what, "migrating the schema from version "
                     "%lld to %lld", (long long) v, (long long) v + 1);
            error = exec_sql(db, path, what, migrations[v]);
        }
    }
    if (!error) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "PRAGMA application_id = %d; PRAGMA user_version = %d;",
                 CF_STORE_APPLICATION_ID, CF_STORE_SCHEMA_VERSION);
        error = exec_sql(db, path, "setting the schema version", sql);
        *current = !error;
    }
    return error;
}

/* Runs prepare__() in one transaction of its own ("BEGIN" or "BEGIN
 * IMMEDIATE" per 'begin'), committed if it succeeded. */
static char *
prepare_in_transaction(sqlite3 *db, const char *path, const char *begin,
                       bool read_only, bool check_only, bool *current)
{
    char *error = exec_sql(db, path, "starting a transaction", begin);
    if (error) {
        return error;
    }
    error = prepare__(db, path, read_only, check_only, current);
    if (!error) {
        error = exec_sql(db, path, "committing the schema", "COMMIT");
    }
    if (error) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return error;
}

char *
cf_store_schema_prepare(sqlite3 *db, const char *path, bool read_only)
{
    /* The usual case, a current schema, needs only a read transaction:
     * opening a store does not wait for another process's write.  A
     * schema to create or migrate is checked again under the write lock,
     * since another process may have done it in between. */
    bool current;
    char *error = prepare_in_transaction(db, path, "BEGIN", read_only, true,
                                         &current);
    if (!error && !current && !read_only) {
        error = prepare_in_transaction(db, path, "BEGIN IMMEDIATE", false,
                                       false, &current);
    }
    return error;
}
