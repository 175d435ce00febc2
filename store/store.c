/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The store (conjflow/store.h): cluster state and its change feed in one
 * SQLite file.  schema.c owns the tables, codec.c the record format,
 * validate.c the checks every object passes before it is written.
 *
 * Durability and concurrency:
 *   - WAL journal, and every write syncs the WAL before it returns, so a
 *     write that returned survives kill -9 and power loss.  The sync comes
 *     right after the commit (synchronous=NORMAL, then an explicit sync of
 *     the WAL: wal_sync()) rather than inside it (synchronous=FULL, which
 *     syncs before the commit is visible): a reader (conjflowd) sees the
 *     change while the writer waits for the disk, instead of a disk sync
 *     later.  A change seen but lost to a power failure before its sync
 *     returned was never reported written; after a restart the store, and
 *     so every switch, is as before it.  A transaction that did not commit
 *     leaves no trace: readers see the state before it or after it, never
 *     a mix.
 *   - Every write is one "BEGIN IMMEDIATE" transaction: it takes the write
 *     lock up front, so it can never fail half way through because another
 *     writer got there first.  The busy timeout makes it wait for another
 *     writer; on top of that begin_write() retries SQLITE_BUSY until a
 *     deadline.
 *   - Reads that need a consistent view (load, changes) run in one read
 *     transaction; in WAL mode they never block writers nor wait for them.
 *
 * A write transaction, step by step (struct wtx):
 *
 *     validate every object (no I/O)  --invalid-->  error, nothing written
 *          |
 *     BEGIN IMMEDIATE; seq := meta.seq
 *          |
 *     for each object: encode, compare with the stored record:
 *          same record and manifest   -> unchanged, nothing written
 *          same record, new manifest  -> manifest updated, no feed row
 *          new or different record    -> row written, feed row at seq + 1
 *          |
 *     errors (e.g. missing namespace) or dry run -> ROLLBACK
 *     feed rows written -> meta.seq := seq + 1, trim the feed, COMMIT
 *
 * Change feed invariant: every sequence number s with feed_floor < s <= seq
 * has at least one row in 'changes' (rows in rowid order = commit order),
 * and no row has s <= feed_floor.  Trimming deletes whole commits from the
 * bottom and raises feed_floor.
 */
#include "conjflow-config.h"

#include "conjflow/store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codec.h"
#include "conjflow/cfutil.h"
#include "schema.h"
#include "store-private.h"
#include "validate.h"

/* How many change feed rows the store keeps by default (meta 'feed_keep'
 * overrides it). */
#define FEED_KEEP_DEFAULT 100000
/* How long a writer waits for the write lock, in milliseconds. */
#define BUSY_TIMEOUT_MS 10000
#define WRITE_DEADLINE_MS 60000

/* ---- Statements --------------------------------------------------------- */

/* Per-kind statements.  Parameters: ?1 namespace, ?2 name, ?3 id, ?4 data,
 * ?5 manifest.  Result columns of the lists: ns, name, id, data,
 * manifest. */
enum kind_op {
    K_SELECT,                   /* data, manifest, id of one object. */
    K_INSERT,
    K_UPDATE,                   /* data and manifest (id is kept). */
    K_DELETE,
    K_LIST,                     /* Every object, sorted. */
    K_LIST_NS,                  /* Objects of namespace ?1, sorted. */
    K_MAX_ID,                   /* Largest id in use (0 if none). */
    K_FREE_ID,                  /* Lowest id not in use. */
    K_N_OPS
};

#define LIST_COLS "data, manifest"
static const char *const kind_sql[CF_N_KINDS][K_N_OPS] = {
    [CF_KIND_NAMESPACE] = {
        [K_SELECT] = "SELECT data, manifest, NULL FROM namespaces "
                     "WHERE name = ?2",
        [K_INSERT] = "INSERT INTO namespaces (name, data, manifest) "
                     "VALUES (?2, ?4, ?5)",
        [K_UPDATE] = "UPDATE namespaces SET data = ?4, manifest = ?5 "
                     "WHERE name = ?2",
        [K_DELETE] = "DELETE FROM namespaces WHERE name = ?2",
        [K_LIST] = "SELECT NULL, name, NULL, " LIST_COLS " FROM namespaces "
                   "ORDER BY name",
    },
    [CF_KIND_POD] = {
        [K_SELECT] = "SELECT data, manifest, NULL FROM pods "
                     "WHERE ns = ?1 AND name = ?2",
        [K_INSERT] = "INSERT INTO pods (ns, name, data, manifest) "
                     "VALUES (?1, ?2, ?4, ?5)",
        [K_UPDATE] = "UPDATE pods SET data = ?4, manifest = ?5 "
                     "WHERE ns = ?1 AND name = ?2",
        [K_DELETE] = "DELETE FROM pods WHERE ns = ?1 AND name = ?2",
        [K_LIST] = "SELECT ns, name, NULL, " LIST_COLS " FROM pods "
                   "ORDER BY ns, name",
        [K_LIST_NS] = "SELECT ns, name, NULL, " LIST_COLS " FROM pods "
                      "WHERE ns = ?1 ORDER BY name",
    },
    [CF_KIND_POLICY] = {
        [K_SELECT] = "SELECT data, manifest, id FROM policies "
                     "WHERE ns = ?1 AND name = ?2",
        [K_INSERT] = "INSERT INTO policies (ns, name, id, data, manifest) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
        [K_UPDATE] = "UPDATE policies SET data = ?4, manifest = ?5 "
                     "WHERE ns = ?1 AND name = ?2",
        [K_DELETE] = "DELETE FROM policies WHERE ns = ?1 AND name = ?2",
        [K_LIST] = "SELECT ns, name, id, " LIST_COLS " FROM policies "
                   "ORDER BY ns, name",
        [K_LIST_NS] = "SELECT ns, name, id, " LIST_COLS " FROM policies "
                      "WHERE ns = ?1 ORDER BY name",
        [K_MAX_ID] = "SELECT coalesce(max(id), 0) FROM policies",
        [K_FREE_ID] = "SELECT CASE WHEN NOT EXISTS "
                      "(SELECT 1 FROM policies WHERE id = 1) THEN 1 "
                      "ELSE (SELECT min(a.id) + 1 FROM policies a WHERE "
                      "NOT EXISTS (SELECT 1 FROM policies b "
                      "WHERE b.id = a.id + 1)) END",
    },
    [CF_KIND_NODE] = {
        [K_SELECT] = "SELECT data, manifest, id FROM nodes WHERE name = ?2",
        [K_INSERT] = "INSERT INTO nodes (name, id, data, manifest) "
                     "VALUES (?2, ?3, ?4, ?5)",
        [K_UPDATE] = "UPDATE nodes SET data = ?4, manifest = ?5 "
                     "WHERE name = ?2",
        [K_DELETE] = "DELETE FROM nodes WHERE name = ?2",
        [K_LIST] = "SELECT NULL, name, id, " LIST_COLS " FROM nodes "
                   "ORDER BY name",
        [K_MAX_ID] = "SELECT coalesce(max(id), 0) FROM nodes",
        [K_FREE_ID] = "SELECT CASE WHEN NOT EXISTS "
                      "(SELECT 1 FROM nodes WHERE id = 1) THEN 1 "
                      "ELSE (SELECT min(a.id) + 1 FROM nodes a WHERE "
                      "NOT EXISTS (SELECT 1 FROM nodes b "
                      "WHERE b.id = a.id + 1)) END",
    },
};

/* Statements that are not per kind. */
enum {
    S_META_GET = CF_N_KINDS * K_N_OPS,  /* ?1 key -> value. */
    S_META_SET,                 /* ?1 key, ?2 value. */
    S_META_DEL,                 /* ?1 key. */
    S_FEED_ADD,                 /* ?1 seq, ?2 kind, ?3 ns, ?4 name, ?5
                                 * deleted. */
    S_FEED_AFTER,               /* ?1 after -> seq, kind, ns, name,
                                 * deleted (by seq through its index;
                                 * same order as rowid). */
    S_META_UPDATE,              /* ?1 key, ?2 value: changes an existing
                                 * key only (one page written, where
                                 * S_META_SET's REPLACE also rewrites the
                                 * key's index entry). */
    S_FEED_BOUNDS,              /* min(rowid), max(rowid). */
    S_FEED_SEQ_AT,              /* ?1 rowid -> seq of the first row at or
                                 * after it. */
    S_FEED_TRIM,                /* ?1 floor: deletes seq <= floor. */
    S_CASCADE_FEED_PODS,        /* ?1 seq, ?2 ns. */
    S_CASCADE_FEED_POLICIES,    /* ?1 seq, ?2 ns. */
    S_CASCADE_DEL_PODS,         /* ?1 unused, ?2 ns. */
    S_CASCADE_DEL_POLICIES,     /* ?1 unused, ?2 ns. */
    S_BIND_GET,                 /* ?1 node -> pod, ofport, mac. */
    S_BIND_DEL,                 /* ?1 node. */
    S_BIND_ADD,                 /* ?1 node, ?2 pod, ?3 ofport, ?4 mac. */
    S_NPORT_GET,                /* ?1 node, ?2 kind -> ofport. */
    S_NPORT_DEL,                /* ?1 node. */
    S_NPORT_ADD,                /* ?1 node, ?2 ofport, ?3 kind. */
    S_DATA_VERSION,
    N_STMTS
};

static const char *const other_sql[N_STMTS - S_META_GET] = {
    [S_META_GET - S_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [S_META_SET - S_META_GET] = "INSERT OR REPLACE INTO meta (key, value) "
                                "VALUES (?1, ?2)",
    [S_META_DEL - S_META_GET] = "DELETE FROM meta WHERE key = ?1",
    [S_FEED_ADD - S_META_GET] = "INSERT INTO changes "
                                "(seq, kind, ns, name, deleted) "
                                "VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_FEED_AFTER - S_META_GET] = "SELECT seq, kind, ns, name, deleted "
                                  "FROM changes WHERE seq > ?1 "
                                  "ORDER BY seq, rowid",
    [S_META_UPDATE - S_META_GET] = "UPDATE meta SET value = ?2 "
                                   "WHERE key = ?1",
    /* Two subqueries, each answered by one b-tree descent: "SELECT
     * min(rowid), max(rowid) FROM changes" would scan the whole feed
     * (SQLite only optimizes a lone min() or max()) at every commit. */
    [S_FEED_BOUNDS - S_META_GET] = "SELECT (SELECT min(rowid) FROM changes), "
                                   "(SELECT max(rowid) FROM changes)",
    [S_FEED_SEQ_AT - S_META_GET] = "SELECT seq FROM changes "
                                   "WHERE rowid >= ?1 "
                                   "ORDER BY rowid LIMIT 1",
    [S_FEED_TRIM - S_META_GET] = "DELETE FROM changes WHERE seq <= ?1",
    [S_CASCADE_FEED_PODS - S_META_GET] =
        "INSERT INTO changes (seq, kind, ns, name, deleted) "
        "SELECT ?1, 1, ns, name, 1 FROM pods WHERE ns = ?2 ORDER BY name",
    [S_CASCADE_FEED_POLICIES - S_META_GET] =
        "INSERT INTO changes (seq, kind, ns, name, deleted) "
        "SELECT ?1, 2, ns, name, 1 FROM policies WHERE ns = ?2 "
        "ORDER BY name",
    [S_CASCADE_DEL_PODS - S_META_GET] = "DELETE FROM pods WHERE ns = ?2",
    [S_CASCADE_DEL_POLICIES - S_META_GET] = "DELETE FROM policies "
                                            "WHERE ns = ?2",
    [S_BIND_GET - S_META_GET] = "SELECT pod, ofport, mac FROM bindings "
                                "WHERE node = ?1 ORDER BY pod",
    [S_BIND_DEL - S_META_GET] = "DELETE FROM bindings WHERE node = ?1",
    [S_BIND_ADD - S_META_GET] = "INSERT OR REPLACE INTO bindings "
                                "(node, pod, ofport, mac) "
                                "VALUES (?1, ?2, ?3, ?4)",
    [S_NPORT_GET - S_META_GET] = "SELECT ofport FROM node_ports "
                                 "WHERE node = ?1 AND kind = ?2 "
                                 "ORDER BY ofport",
    [S_NPORT_DEL - S_META_GET] = "DELETE FROM node_ports WHERE node = ?1",
    [S_NPORT_ADD - S_META_GET] = "INSERT OR IGNORE INTO node_ports "
                                 "(node, ofport, kind) VALUES (?1, ?2, ?3)",
    [S_DATA_VERSION - S_META_GET] = "PRAGMA data_version",
};

/* An open store. */
struct cf_store {
    sqlite3 *db;                /* The connection. */
    char *path;                 /* File name, for messages. */
    bool read_only;             /* Opened CF_STORE_READ_ONLY. */
    sqlite3_stmt *stmts[N_STMTS];  /* Prepared lazily, kept until close. */
};

/* A malloc'd message "PATH: WHAT: <SQLite's error>". */
static char *
sql_error(const struct cf_store *store, const char *what)
{
    return cf_xasprintf("%s: %s: %s", store->path, what,
                        sqlite3_errmsg(store->db));
}

/* Returns the prepared statement 'id' of 'store', reset and with no
 * bindings, in '*stmtp'.  Returns NULL or a malloc'd error. */
static char *
get_stmt(struct cf_store *store, int id, sqlite3_stmt **stmtp)
{
    sqlite3_stmt *stmt = store->stmts[id];
    if (!stmt) {
        const char *sql = (id < S_META_GET
                           ? kind_sql[id / K_N_OPS][id % K_N_OPS]
                           : other_sql[id - S_META_GET]);
        cf_assert(sql);
        if (sqlite3_prepare_v3(store->db, sql, -1,
                               SQLITE_PREPARE_PERSISTENT, &stmt, NULL)
            != SQLITE_OK) {
            *stmtp = NULL;
            return sql_error(store, "preparing a query");
        }
        store->stmts[id] = stmt;
    }
    *stmtp = stmt;
    return NULL;
}

size_t
cf_store__n_statements(void)
{
    return N_STMTS;
}

const char *
cf_store__statement_sql(size_t i, bool *may_scan)
{
    *may_scan = false;
    if (i >= N_STMTS) {
        return NULL;
    }
    if (i < S_META_GET) {
        enum kind_op op = i % K_N_OPS;
        *may_scan = op == K_LIST || op == K_FREE_ID;
        return kind_sql[i / K_N_OPS][op];
    }
    return other_sql[i - S_META_GET];
}

/* The per-kind statement 'op' for 'kind'. */
static char *
get_kind_stmt(struct cf_store *store, enum cf_kind kind, enum kind_op op,
              sqlite3_stmt **stmtp)
{
    return get_stmt(store, kind * K_N_OPS + op, stmtp);
}

/* Resets 'stmt' after use, so it holds no lock and no bound pointers. */
static void
done(sqlite3_stmt *stmt)
{
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
}

/* Binds the string 's' (NULL binds SQL NULL; 's' must outlive the step). */
static void
bind_str(sqlite3_stmt *stmt, int idx, const char *s)
{
    if (s) {
        sqlite3_bind_text(stmt, idx, s, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(stmt, idx);
    }
}

/* Runs 'stmt', which returns no rows, and resets it.  Returns NULL or a
 * malloc'd error naming 'what'. */
static char *
run(struct cf_store *store, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);
    char *error = rc == SQLITE_DONE ? NULL : sql_error(store, what);
    done(stmt);
    return error;
}

/* Runs the SQL text 'sql'. */
static char *
exec(struct cf_store *store, const char *sql, const char *what)
{
    return (sqlite3_exec(store->db, sql, NULL, NULL, NULL) == SQLITE_OK
            ? NULL : sql_error(store, what));
}

/* True if 'rc' says the database was locked by someone else. */
static bool
is_busy(int rc)
{
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/* Starts a write transaction, waiting (busy timeout, then retries with a
 * short pause) until 'WRITE_DEADLINE_MS' for other writers to finish. */
static char *
begin_write(struct cf_store *store)
{
    if (store->read_only) {
        return cf_xasprintf("%s: the store is open read-only",
                            store->path);
    }
    long long deadline = cf_time_msec() + WRITE_DEADLINE_MS;
    for (;;) {
        int rc = sqlite3_exec(store->db, "BEGIN IMMEDIATE", NULL, NULL,
                              NULL);
        if (rc == SQLITE_OK) {
            return NULL;
        }
        if (!is_busy(rc) || cf_time_msec() >= deadline) {
            return sql_error(store, "starting a write transaction");
        }
        struct timespec ts = { 0, 5 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

/* Starts a read transaction: the reads until commit_read() see one
 * snapshot. */
static char *
begin_read(struct cf_store *store)
{
    return exec(store, "BEGIN", "starting a read transaction");
}

/* Ends a read transaction. */
static void
end_read(struct cf_store *store)
{
    sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL);
}

/* Rolls back the current transaction, if any. */
static void
rollback(struct cf_store *store)
{
    if (!sqlite3_get_autocommit(store->db)) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    }
}

/* Reads meta integer 'key' into '*valuep' (0 if absent). */
static char *
meta_int(struct cf_store *store, const char *key, int64_t *valuep)
{
    sqlite3_stmt *stmt;
    char *error = get_stmt(store, S_META_GET, &stmt);
    if (error) {
        return error;
    }
    bind_str(stmt, 1, key);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *valuep = sqlite3_column_int64(stmt, 0);
    } else if (rc == SQLITE_DONE) {
        *valuep = 0;
    } else {
        error = sql_error(store, "reading the store's state");
    }
    done(stmt);
    return error;
}

/* Runs meta statement 'id' (S_META_UPDATE or S_META_SET) with 'key' and
 * integer 'value'. */
static char *
write_meta_int(struct cf_store *store, int id, const char *key,
               int64_t value)
{
    sqlite3_stmt *stmt;
    char *error = get_stmt(store, id, &stmt);
    if (error) {
        return error;
    }
    bind_str(stmt, 1, key);
    sqlite3_bind_int64(stmt, 2, value);
    return run(store, stmt, "writing the store's state");
}

/* Sets meta integer 'key' to 'value' (within a write transaction).  The
 * keys the store keeps ('seq', 'feed_floor') exist from the schema's
 * creation on, so this is normally an UPDATE of one row; a missing key is
 * inserted. */
static char *
set_meta_int(struct cf_store *store, const char *key, int64_t value)
{
    char *error = write_meta_int(store, S_META_UPDATE, key, value);
    if (error || sqlite3_changes(store->db) > 0) {
        return error;
    }
    return write_meta_int(store, S_META_SET, key, value);
}

/* ---- Opening and closing ------------------------------------------------ */

const char *
cf_store_path(const char *path)
{
    if (path) {
        return path;
    }
    const char *env = getenv(CF_STORE_ENV);
    return env && env[0] ? env : CF_STORE_DEFAULT_PATH;
}

/* Creates the directory that holds 'path' if it is missing (one level, as
 * for /var/lib/conjflow). */
static void
make_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char *dir = cf_xmemdup0(path, slash - path);
        struct stat st;
        if (stat(dir, &st) && errno == ENOENT) {
            mkdir(dir, 0750);
        }
        free(dir);
    }
}

char *
cf_store_open(const char *path_, enum cf_store_mode mode,
              struct cf_store **storep)
{
    const char *path = cf_store_path(path_);
    bool read_only = mode == CF_STORE_READ_ONLY;
    struct stat st;

    *storep = NULL;
    if (read_only && stat(path, &st)) {
        return cf_xasprintf("%s: cannot open the store: %s", path,
                            strerror(errno));
    }
    if (!read_only) {
        make_parent_dir(path);
    }

    struct cf_store *store = cf_xzalloc(sizeof *store);
    store->path = cf_xstrdup(path);
    store->read_only = read_only;

    int flags = (read_only ? SQLITE_OPEN_READONLY
                 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
                | SQLITE_OPEN_NOMUTEX;
    char *error = NULL;
    if (sqlite3_open_v2(path, &store->db, flags, NULL) != SQLITE_OK) {
        error = store->db
                ? sql_error(store, "cannot open the store")
                : cf_xasprintf("%s: cannot open the store: out of memory",
                               path);
        goto fail;
    }
    sqlite3_extended_result_codes(store->db, 1);
    sqlite3_busy_timeout(store->db, BUSY_TIMEOUT_MS);

    if (!read_only) {
        /* Switching to WAL needs a moment of exclusive access: retry while
         * another process holds the file. */
        long long deadline = cf_time_msec() + WRITE_DEADLINE_MS;
        for (;;) {
            sqlite3_stmt *stmt;
            int rc = sqlite3_prepare_v2(store->db, "PRAGMA journal_mode=WAL",
                                        -1, &stmt, NULL);
            if (rc == SQLITE_OK) {
                rc = sqlite3_step(stmt);
                if (rc == SQLITE_ROW) {
                    const char *jm = (const char *)
                                     sqlite3_column_text(stmt, 0);
                    if (!jm || strcmp(jm, "wal")) {
                        error = cf_xasprintf("%s: cannot switch the store to "
                                             "WAL mode (journal mode is %s)",
                                             path, jm ? jm : "unknown");
                    }
                    rc = SQLITE_OK;
                }
            }
            sqlite3_finalize(stmt);
            if (error) {
                goto fail;
            }
            if (rc == SQLITE_OK) {
                break;
            }
            if (!is_busy(rc) || cf_time_msec() >= deadline) {
                error = sql_error(store, "cannot open the store");
                goto fail;
            }
            struct timespec ts = { 0, 5 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    /* FULL: the WAL is synced at every commit (see the top of this
     * file).  The cache is large enough for big batches; the WAL is
     * truncated back to 64 MB after checkpoints. */
    error = exec(store, "PRAGMA synchronous=FULL; "
                 "PRAGMA cache_size=-65536; "
                 "PRAGMA journal_size_limit=67108864;",
                 "cannot configure the store");
    if (error) {
        goto fail;
    }

    error = cf_store_schema_prepare(store->db, path, read_only);
    if (error) {
        goto fail;
    }
    if (!read_only) {
        /* Writes sync the WAL themselves, after their commit (wal_sync()). */
        error = exec(store, "PRAGMA synchronous=NORMAL",
                     "cannot configure the store");
        if (error) {
            goto fail;
        }
    }
    *storep = store;
    return NULL;

fail:
    cf_store_close(store);
    return error;
}

void
cf_store_close(struct cf_store *store)
{
    if (store) {
        for (size_t i = 0; i < N_STMTS; i++) {
            sqlite3_finalize(store->stmts[i]);
        }
        sqlite3_close(store->db);
        free(store->path);
        free(store);
    }
}

const char *
cf_store_result_name(enum cf_store_result result)
{
    switch (result) {
    case CF_STORE_CREATED:
        return "created";
    case CF_STORE_CONFIGURED:
        return "configured";
    case CF_STORE_UNCHANGED:
        return "unchanged";
    case CF_STORE_DELETED:
        return "deleted";
    case CF_STORE_NOT_FOUND:
        return "not found";
    }
    return "unknown";
}

/* ---- Write transactions ------------------------------------------------- */

/* One write transaction in progress. */
struct wtx {
    struct cf_store *store;
    int64_t seq;                /* Last committed seq when it began. */
    bool feed_written;          /* Wrote a change feed row (at seq + 1). */
    bool written;               /* Wrote anything at all. */
    uint32_t next_id[CF_N_KINDS];  /* Next fresh id per kind, 0 = not read
                                    * yet. */
    struct cf_ds errors;        /* Validation errors, one per line. */
    struct cf_ds rec;           /* Scratch: the record being written. */
};

/* Begins write transaction 'tx' on 'store'. */
static char *
wtx_begin(struct wtx *tx, struct cf_store *store)
{
    memset(tx, 0, sizeof *tx);
    tx->store = store;
    cf_ds_init(&tx->errors);
    cf_ds_init(&tx->rec);
    char *error = begin_write(store);
    if (!error) {
        error = meta_int(store, "seq", &tx->seq);
        if (error) {
            rollback(store);
        }
    }
    return error;
}

/* Frees 'tx''s buffers. */
static void
wtx_destroy(struct wtx *tx)
{
    cf_ds_destroy(&tx->errors);
    cf_ds_destroy(&tx->rec);
}

/* Adds a change feed row for (kind, ns, name). */
static char *
wtx_feed(struct wtx *tx, enum cf_kind kind, const char *ns, const char *name,
         bool deleted)
{
    sqlite3_stmt *stmt;
    char *error = get_stmt(tx->store, S_FEED_ADD, &stmt);
    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, tx->seq + 1);
    sqlite3_bind_int(stmt, 2, kind);
    bind_str(stmt, 3, ns);
    bind_str(stmt, 4, name);
    sqlite3_bind_int(stmt, 5, deleted);
    tx->feed_written = tx->written = true;
    return run(tx->store, stmt, "writing the change feed");
}

/* Trims the change feed to about 'feed_keep' rows, whole commits only. */
static char *
wtx_trim(struct wtx *tx)
{
    struct cf_store *store = tx->store;
    int64_t keep, floor;
    char *error = meta_int(store, "feed_keep", &keep);
    if (!error) {
        error = meta_int(store, "feed_floor", &floor);
    }
    if (error) {
        return error;
    }
    if (keep <= 0) {
        keep = FEED_KEEP_DEFAULT;
    }

    sqlite3_stmt *stmt;
    if ((error = get_stmt(store, S_FEED_BOUNDS, &stmt))) {
        return error;
    }
    int64_t min_row = 0, max_row = 0;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        min_row = sqlite3_column_int64(stmt, 0);
        max_row = sqlite3_column_int64(stmt, 1);
    }
    done(stmt);
    if (max_row - min_row + 1 <= keep) {
        return NULL;
    }

    if ((error = get_stmt(store, S_FEED_SEQ_AT, &stmt))) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, max_row - keep + 1);
    int64_t boundary_seq = 0;
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        boundary_seq = sqlite3_column_int64(stmt, 0);
    }
    done(stmt);
    if (boundary_seq - 1 <= floor) {
        return NULL;
    }
    floor = boundary_seq - 1;

    if ((error = get_stmt(store, S_FEED_TRIM, &stmt))) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, floor);
    error = run(store, stmt, "trimming the change feed");
    return error ? error : set_meta_int(store, "feed_floor", floor);
}

/* Syncs the WAL of 'store' to disk: what a committed write does before it
 * returns (see the top of this file). */
static char *
wal_sync(struct cf_store *store)
{
    sqlite3_file *wal = NULL;
    int rc = sqlite3_file_control(store->db, "main",
                                  SQLITE_FCNTL_JOURNAL_POINTER, &wal);
    if (rc != SQLITE_OK || !wal || !wal->pMethods) {
        return cf_xasprintf("%s: the change is committed but may not be on "
                            "disk: cannot find the WAL to sync", store->path);
    }
    rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
    if (rc != SQLITE_OK) {
        return cf_xasprintf("%s: the change is committed but may not be on "
                            "disk: syncing the WAL failed (SQLite error %d)",
                            store->path, rc);
    }
    return NULL;
}

/* Ends 'tx': rolls back on validation errors or a dry run, else commits,
 * bumping the sequence number if the feed got rows (stored in '*seqp').
 * Returns NULL or a malloc'd error (the validation errors, if any). */
static char *
wtx_finish(struct wtx *tx, bool dry_run, uint64_t *seqp)
{
    struct cf_store *store = tx->store;
    char *error = NULL;

    if (tx->errors.len) {
        error = cf_ds_steal(&tx->errors);
    } else if (dry_run || !tx->written) {
        /* Nothing to keep. */
    } else {
        if (tx->feed_written) {
            error = set_meta_int(store, "seq", tx->seq + 1);
            if (!error) {
                error = wtx_trim(tx);
            }
        }
        if (!error && sqlite3_exec(store->db, "COMMIT", NULL, NULL, NULL)
                      != SQLITE_OK) {
            error = sql_error(store, "committing");
        } else if (!error) {
            error = wal_sync(store);
        }
        if (!error && tx->feed_written && seqp) {
            *seqp = tx->seq + 1;
        }
    }
    rollback(store);
    wtx_destroy(tx);
    return error;
}

/* Gives a new object of 'kind' (policy or node) an id: one more than the
 * largest in use, or once that reaches the limit, the lowest free one.
 * Sets '*idp' to 0 (and adds an error) if every id is taken. */
static char *
wtx_assign_id(struct wtx *tx, const struct cf_object *obj, uint32_t *idp)
{
    enum cf_kind kind = obj->kind;
    uint32_t limit = kind == CF_KIND_POLICY ? CF_MAX_POLICY_ID
                     : CF_MAX_NODE_ID;
    sqlite3_stmt *stmt;
    char *error;

    *idp = 0;
    if (!tx->next_id[kind]) {
        if ((error = get_kind_stmt(tx->store, kind, K_MAX_ID, &stmt))) {
            return error;
        }
        if (sqlite3_step(stmt) != SQLITE_ROW) {
            error = sql_error(tx->store, "reading ids");
        } else {
            tx->next_id[kind] = sqlite3_column_int64(stmt, 0) + 1;
        }
        done(stmt);
        if (error) {
            return error;
        }
    }
    if (tx->next_id[kind] <= limit) {
        *idp = tx->next_id[kind]++;
        return NULL;
    }

    if ((error = get_kind_stmt(tx->store, kind, K_FREE_ID, &stmt))) {
        return error;
    }
    int64_t id = 0;
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        error = sql_error(tx->store, "reading ids");
    } else {
        id = sqlite3_column_int64(stmt, 0);
    }
    done(stmt);
    if (error) {
        return error;
    }
    if (id < 1 || id > limit) {
        cf_store_error(&tx->errors, obj, "id", "all %u %s ids are in use",
                       limit, cf_kind_name(kind));
        return NULL;
    }
    *idp = id;
    return NULL;
}

/* Checks, within 'tx', that namespace 'ns' exists (or was created earlier
 * in the same transaction).  Sets '*exists'. */
static char *
wtx_namespace_exists(struct wtx *tx, const char *ns, bool *exists)
{
    sqlite3_stmt *stmt;
    char *error = get_kind_stmt(tx->store, CF_KIND_NAMESPACE, K_SELECT,
                                &stmt);
    if (error) {
        return error;
    }
    bind_str(stmt, 2, ns);
    int rc = sqlite3_step(stmt);
    *exists = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        error = sql_error(tx->store, "looking up a namespace");
    }
    done(stmt);
    return error;
}

/* Creates or updates 'obj' (already validated) within 'tx'.  With
 * 'check_ns', a namespaced object's namespace must exist.  Stores what
 * happened in '*result' and the object's id (policies and nodes) in
 * '*idp'. */
static char *
wtx_upsert(struct wtx *tx, const struct cf_object *obj, bool check_ns,
           enum cf_store_result *result, uint32_t *idp)
{
    struct cf_store *store = tx->store;
    enum cf_kind kind = obj->kind;
    const char *ns = cf_object_ns(obj);
    const char *name = cf_object_name(obj);
    sqlite3_stmt *stmt;
    char *error;

    cf_ds_clear(&tx->rec);
    cf_codec_encode(obj, &tx->rec);

    if ((error = get_kind_stmt(store, kind, K_SELECT, &stmt))) {
        return error;
    }
    bind_str(stmt, 1, ns);
    bind_str(stmt, 2, name);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const void *old = sqlite3_column_blob(stmt, 0);
        size_t old_len = sqlite3_column_bytes(stmt, 0);
        const char *old_manifest = (const char *) sqlite3_column_text(stmt,
                                                                      1);
        bool same_rec = (old_len == tx->rec.len
                         && !memcmp(old, tx->rec.s, old_len));
        bool same_manifest = (!old_manifest == !obj->manifest
                              && (!old_manifest
                                  || !strcmp(old_manifest, obj->manifest)));
        *idp = sqlite3_column_int64(stmt, 2);
        done(stmt);

        if (same_rec && same_manifest) {
            *result = CF_STORE_UNCHANGED;
            return NULL;
        }
        *result = CF_STORE_CONFIGURED;
        if ((error = get_kind_stmt(store, kind, K_UPDATE, &stmt))) {
            return error;
        }
        bind_str(stmt, 1, ns);
        bind_str(stmt, 2, name);
        sqlite3_bind_blob(stmt, 4, tx->rec.s, tx->rec.len, SQLITE_STATIC);
        bind_str(stmt, 5, obj->manifest);
        tx->written = true;
        error = run(store, stmt, "updating an object");
        if (!error && !same_rec) {
            error = wtx_feed(tx, kind, ns, name, false);
        }
        return error;
    } else if (rc != SQLITE_DONE) {
        error = sql_error(store, "reading an object");
        done(stmt);
        return error;
    }
    done(stmt);

    *result = CF_STORE_CREATED;
    if (check_ns && cf_kind_namespaced(kind)) {
        bool exists;
        if ((error = wtx_namespace_exists(tx, ns, &exists))) {
            return error;
        }
        if (!exists) {
            cf_store_error(&tx->errors, obj, "metadata.namespace",
                           "namespace \"%s\" not found", ns);
            return NULL;
        }
    }
    *idp = 0;
    if (kind == CF_KIND_POLICY || kind == CF_KIND_NODE) {
        if ((error = wtx_assign_id(tx, obj, idp)) || !*idp) {
            return error;
        }
    }

    if ((error = get_kind_stmt(store, kind, K_INSERT, &stmt))) {
        return error;
    }
    bind_str(stmt, 1, ns);
    bind_str(stmt, 2, name);
    sqlite3_bind_int64(stmt, 3, *idp);
    sqlite3_bind_blob(stmt, 4, tx->rec.s, tx->rec.len, SQLITE_STATIC);
    bind_str(stmt, 5, obj->manifest);
    tx->written = true;
    error = run(store, stmt, "inserting an object");
    return error ? error : wtx_feed(tx, kind, ns, name, false);
}

/* Deletes (kind, ns, name) within 'tx' (a namespace with its pods and
 * policies).  Sets '*found'. */
static char *
wtx_remove(struct wtx *tx, enum cf_kind kind, const char *ns,
           const char *name, bool *found)
{
    struct cf_store *store = tx->store;
    sqlite3_stmt *stmt;
    char *error;

    if (kind == CF_KIND_NAMESPACE) {
        static const int cascade[] = {
            S_CASCADE_FEED_PODS, S_CASCADE_DEL_PODS,
            S_CASCADE_FEED_POLICIES, S_CASCADE_DEL_POLICIES,
        };
        bool exists;
        if ((error = wtx_namespace_exists(tx, name, &exists))) {
            return error;
        }
        if (!exists) {
            *found = false;
            return NULL;
        }
        for (size_t i = 0; i < CF_ARRAY_SIZE(cascade); i++) {
            if ((error = get_stmt(store, cascade[i], &stmt))) {
                return error;
            }
            sqlite3_bind_int64(stmt, 1, tx->seq + 1);
            bind_str(stmt, 2, name);
            if ((error = run(store, stmt, "deleting a namespace's "
                             "objects"))) {
                return error;
            }
        }
    }

    if ((error = get_kind_stmt(store, kind, K_DELETE, &stmt))) {
        return error;
    }
    bind_str(stmt, 1, ns);
    bind_str(stmt, 2, name);
    if ((error = run(store, stmt, "deleting an object"))) {
        return error;
    }
    *found = sqlite3_changes(store->db) > 0;
    return *found ? wtx_feed(tx, kind, ns, name, true) : NULL;
}

/* Validates every object of 'objs' into 'errors'.  Returns true if all are
 * valid. */
static bool
validate_all(struct cf_object *const *objs, size_t n, struct cf_ds *errors)
{
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        if (!objs[i]) {
            if (errors->len) {
                cf_ds_put_char(errors, '\n');
            }
            cf_ds_put_format(errors, "object %zu: missing", i);
            ok = false;
        } else if (!cf_store_validate(objs[i], errors)) {
            ok = false;
        }
    }
    return ok;
}

char *
cf_store_apply(struct cf_store *store, struct cf_object *const *objs,
               size_t n, bool dry_run, enum cf_store_result *results,
               uint64_t *seqp)
{
    struct cf_ds errors = CF_DS_INIT;
    if (!validate_all(objs, n, &errors)) {
        return cf_ds_steal(&errors);
    }
    cf_ds_destroy(&errors);

    struct wtx tx;
    char *error = wtx_begin(&tx, store);
    if (error) {
        return error;
    }
    uint32_t *ids = cf_xcalloc(n, sizeof *ids);
    for (size_t i = 0; i < n && !error; i++) {
        error = wtx_upsert(&tx, objs[i], true, &results[i], &ids[i]);
    }
    bool ok = !error && !tx.errors.len;
    if (error) {
        rollback(store);
        wtx_destroy(&tx);
    } else {
        error = wtx_finish(&tx, dry_run, seqp);
        ok = !error;
    }
    if (ok && !dry_run) {
        for (size_t i = 0; i < n; i++) {
            if (objs[i]->kind == CF_KIND_POLICY) {
                objs[i]->policy->id = ids[i];
            } else if (objs[i]->kind == CF_KIND_NODE) {
                objs[i]->node->id = ids[i];
            }
        }
    }
    free(ids);
    return error;
}

char *
cf_store_delete(struct cf_store *store, const struct cf_objref *refs,
                size_t n, bool dry_run, enum cf_store_result *results,
                uint64_t *seqp)
{
    for (size_t i = 0; i < n; i++) {
        const struct cf_objref *ref = &refs[i];
        if ((unsigned) ref->kind >= CF_N_KINDS) {
            return cf_xasprintf("reference %zu: unknown kind %d", i,
                                (int) ref->kind);
        }
        if (!ref->name || !ref->name[0]) {
            return cf_xasprintf("%s: no name given",
                                cf_kind_name(ref->kind));
        }
        if (cf_kind_namespaced(ref->kind) && (!ref->ns || !ref->ns[0])) {
            return cf_xasprintf("%s %s: no namespace given",
                                cf_kind_name(ref->kind), ref->name);
        }
    }

    struct wtx tx;
    char *error = wtx_begin(&tx, store);
    if (error) {
        return error;
    }
    for (size_t i = 0; i < n && !error; i++) {
        const struct cf_objref *ref = &refs[i];
        bool found;
        error = wtx_remove(&tx, ref->kind,
                           cf_kind_namespaced(ref->kind) ? ref->ns : NULL,
                           ref->name, &found);
        results[i] = found ? CF_STORE_DELETED : CF_STORE_NOT_FOUND;
    }
    if (error) {
        rollback(store);
        wtx_destroy(&tx);
        return error;
    }
    return wtx_finish(&tx, dry_run, seqp);
}

/* A (namespace, name) key, for replace_kind(). */
struct key {
    const char *ns;             /* "" for cluster-scoped kinds. */
    const char *name;
};

/* qsort/bsearch comparison of two struct keys. */
static int
compare_keys(const void *a_, const void *b_)
{
    const struct key *a = a_, *b = b_;
    int c = strcmp(a->ns, b->ns);
    return c ? c : strcmp(a->name, b->name);
}

char *
cf_store_replace_kind(struct cf_store *store, enum cf_kind kind,
                      struct cf_object *const *objs, size_t n,
                      uint64_t *seqp)
{
    struct cf_ds errors = CF_DS_INIT;
    if (!validate_all(objs, n, &errors)) {
        return cf_ds_steal(&errors);
    }
    cf_ds_destroy(&errors);
    for (size_t i = 0; i < n; i++) {
        if (objs[i]->kind != kind) {
            return cf_xasprintf("replacing every %s: object %zu is a %s",
                                cf_kind_name(kind), i,
                                cf_kind_name(objs[i]->kind));
        }
    }

    struct key *keys = cf_xcalloc(n, sizeof *keys);
    for (size_t i = 0; i < n; i++) {
        const char *ns = cf_object_ns(objs[i]);
        keys[i].ns = ns ? ns : "";
        keys[i].name = cf_object_name(objs[i]);
    }
    qsort(keys, n, sizeof *keys, compare_keys);

    struct wtx tx;
    char *error = wtx_begin(&tx, store);
    if (error) {
        free(keys);
        return error;
    }

    /* The objects that are no longer listed. */
    struct cf_objref *gone = NULL;
    size_t n_gone = 0, allocated_gone = 0;
    sqlite3_stmt *stmt;
    if (!(error = get_kind_stmt(store, kind, K_LIST, &stmt))) {
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            const char *ns = (const char *) sqlite3_column_text(stmt, 0);
            const char *name = (const char *) sqlite3_column_text(stmt, 1);
            struct key k = { ns ? ns : "", name ? name : "" };
            if (!bsearch(&k, keys, n, sizeof *keys, compare_keys)) {
                if (n_gone >= allocated_gone) {
                    gone = cf_x2nrealloc(gone, &allocated_gone,
                                         sizeof *gone);
                }
                gone[n_gone].kind = kind;
                gone[n_gone].ns = cf_xstrdup(ns);
                gone[n_gone].name = cf_xstrdup(name);
                n_gone++;
            }
        }
        if (rc != SQLITE_DONE) {
            error = sql_error(store, "listing objects");
        }
        done(stmt);
    }
    for (size_t i = 0; i < n_gone && !error; i++) {
        bool found;
        error = wtx_remove(&tx, kind, gone[i].ns, gone[i].name, &found);
    }
    for (size_t i = 0; i < n && !error; i++) {
        enum cf_store_result result;
        uint32_t id;
        error = wtx_upsert(&tx, objs[i], false, &result, &id);
    }

    for (size_t i = 0; i < n_gone; i++) {
        free(gone[i].ns);
        free(gone[i].name);
    }
    free(gone);
    free(keys);
    if (error) {
        rollback(store);
        wtx_destroy(&tx);
        return error;
    }
    return wtx_finish(&tx, false, seqp);
}

/* ---- Reading ------------------------------------------------------------ */

/* Decodes the current row of list statement 'stmt' (ns, name, id, data,
 * manifest) into '*objp', with the manifest if 'with_manifest'. */
static char *
row_object(struct cf_store *store, enum cf_kind kind, sqlite3_stmt *stmt,
           bool with_manifest, struct cf_object **objp)
{
    const void *data = sqlite3_column_blob(stmt, 3);
    size_t len = sqlite3_column_bytes(stmt, 3);
    char *error = cf_codec_decode(kind, data, len, objp);
    if (error) {
        const char *ns = (const char *) sqlite3_column_text(stmt, 0);
        const char *name = (const char *) sqlite3_column_text(stmt, 1);
        char *e = cf_xasprintf("%s: %s %s%s%s: %s", store->path,
                               cf_kind_name(kind), ns ? ns : "",
                               ns ? "/" : "", name ? name : "", error);
        free(error);
        return e;
    }
    struct cf_object *obj = *objp;
    uint32_t id = sqlite3_column_int64(stmt, 2);
    if (kind == CF_KIND_POLICY) {
        obj->policy->id = id;
    } else if (kind == CF_KIND_NODE) {
        obj->node->id = id;
    }
    if (with_manifest) {
        obj->manifest = cf_xstrdup((const char *)
                                   sqlite3_column_text(stmt, 4));
    }
    return NULL;
}

char *
cf_store_load(struct cf_store *store, struct cf_cluster *cluster,
              uint64_t *seqp)
{
    char *error = begin_read(store);
    if (error) {
        return error;
    }
    int64_t seq = 0;
    error = meta_int(store, "seq", &seq);
    for (int kind = 0; kind < CF_N_KINDS && !error; kind++) {
        sqlite3_stmt *stmt;
        if ((error = get_kind_stmt(store, kind, K_LIST, &stmt))) {
            break;
        }
        int rc;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            struct cf_object *obj;
            if ((error = row_object(store, kind, stmt, false, &obj))) {
                break;
            }
            cf_cluster_add(cluster, obj);
        }
        if (!error && rc != SQLITE_DONE) {
            error = sql_error(store, "loading objects");
        }
        done(stmt);
    }
    end_read(store);
    if (!error) {
        cf_cluster_sort(cluster);
        *seqp = seq;
    }
    return error;
}

char *
cf_store_list(struct cf_store *store, enum cf_kind kind, const char *ns,
              struct cf_object ***objsp, size_t *np)
{
    struct cf_object **objs = NULL;
    size_t n = 0, allocated = 0;
    sqlite3_stmt *stmt;
    bool by_ns = ns && cf_kind_namespaced(kind);

    *objsp = NULL;
    *np = 0;
    if ((unsigned) kind >= CF_N_KINDS) {
        return cf_xasprintf("unknown kind %d", (int) kind);
    }
    char *error = get_kind_stmt(store, kind, by_ns ? K_LIST_NS : K_LIST,
                                &stmt);
    if (error) {
        return error;
    }
    if (by_ns) {
        bind_str(stmt, 1, ns);
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct cf_object *obj;
        if ((error = row_object(store, kind, stmt, true, &obj))) {
            break;
        }
        if (n >= allocated) {
            objs = cf_x2nrealloc(objs, &allocated, sizeof *objs);
        }
        objs[n++] = obj;
    }
    if (!error && rc != SQLITE_DONE) {
        error = sql_error(store, "listing objects");
    }
    done(stmt);
    if (error) {
        for (size_t i = 0; i < n; i++) {
            cf_object_destroy(objs[i]);
        }
        free(objs);
        return error;
    }
    *objsp = objs;
    *np = n;
    return NULL;
}

char *
cf_store_get(struct cf_store *store, const struct cf_objref *ref,
             struct cf_object **objp)
{
    *objp = NULL;
    if ((unsigned) ref->kind >= CF_N_KINDS) {
        return cf_xasprintf("unknown kind %d", (int) ref->kind);
    }
    sqlite3_stmt *stmt;
    char *error = get_kind_stmt(store, ref->kind, K_SELECT, &stmt);
    if (error) {
        return error;
    }
    bind_str(stmt, 1, cf_kind_namespaced(ref->kind) ? ref->ns : NULL);
    bind_str(stmt, 2, ref->name);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        error = cf_codec_decode(ref->kind, sqlite3_column_blob(stmt, 0),
                                sqlite3_column_bytes(stmt, 0), objp);
        if (!error) {
            struct cf_object *obj = *objp;
            const char *manifest = (const char *) sqlite3_column_text(stmt,
                                                                      1);
            obj->manifest = cf_xstrdup(manifest);
            uint32_t id = sqlite3_column_int64(stmt, 2);
            if (ref->kind == CF_KIND_POLICY) {
                obj->policy->id = id;
            } else if (ref->kind == CF_KIND_NODE) {
                obj->node->id = id;
            }
        } else {
            char *e = cf_xasprintf("%s: %s %s: %s", store->path,
                                   cf_kind_name(ref->kind), ref->name,
                                   error);
            free(error);
            error = e;
        }
    } else if (rc != SQLITE_DONE) {
        error = sql_error(store, "reading an object");
    }
    done(stmt);
    return error;
}

/* ---- The change feed ---------------------------------------------------- */

void
cf_change_destroy(struct cf_change *change)
{
    if (change) {
        free(change->ref.ns);
        free(change->ref.name);
    }
}

/* Reads the current row of S_FEED_AFTER into 'change'. */
static void
row_change(sqlite3_stmt *stmt, struct cf_change *change)
{
    change->seq = sqlite3_column_int64(stmt, 0);
    change->ref.kind = sqlite3_column_int(stmt, 1);
    change->ref.ns = cf_xstrdup((const char *) sqlite3_column_text(stmt, 2));
    change->ref.name = cf_xstrdup((const char *) sqlite3_column_text(stmt,
                                                                     3));
    change->deleted = sqlite3_column_int(stmt, 4) != 0;
}

char *
cf_store_changes(struct cf_store *store, uint64_t after, size_t max,
                 struct cf_change **changesp, size_t *np, uint64_t *lastp,
                 bool *too_old)
{
    struct cf_change *changes = NULL;
    size_t n = 0, allocated = 0;
    int64_t seq = 0, floor = 0;
    uint64_t last = after;

    *changesp = NULL;
    *np = 0;
    *too_old = false;

    char *error = begin_read(store);
    if (error) {
        return error;
    }
    if ((error = meta_int(store, "seq", &seq))
        || (error = meta_int(store, "feed_floor", &floor))) {
        goto out;
    }
    if (after < (uint64_t) floor || after > (uint64_t) seq) {
        /* Trimmed away, or a sequence from another store. */
        *too_old = true;
        last = seq;
        goto out;
    }

    sqlite3_stmt *stmt;
    if ((error = get_stmt(store, S_FEED_AFTER, &stmt))) {
        goto out;
    }
    sqlite3_bind_int64(stmt, 1, after);
    int rc;
    last = seq;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        uint64_t row_seq = sqlite3_column_int64(stmt, 0);
        if (max && n >= max) {
            /* Full.  Stop at a commit boundary: drop a partly returned
             * commit, unless it is the only one (then return it whole). */
            uint64_t tail = changes[n - 1].seq;
            if (row_seq != tail) {
                last = tail;
                break;
            }
            if (changes[0].seq != tail) {
                while (n && changes[n - 1].seq == tail) {
                    cf_change_destroy(&changes[--n]);
                }
                last = tail - 1;
                break;
            }
        }
        if (n >= allocated) {
            changes = cf_x2nrealloc(changes, &allocated, sizeof *changes);
        }
        row_change(stmt, &changes[n++]);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        error = sql_error(store, "reading the change feed");
    }
    done(stmt);

out:
    end_read(store);
    if (error) {
        for (size_t i = 0; i < n; i++) {
            cf_change_destroy(&changes[i]);
        }
        free(changes);
        return error;
    }
    *changesp = changes;
    *np = n;
    *lastp = last;
    return NULL;
}

char *
cf_store_seq(struct cf_store *store, uint64_t *seqp)
{
    int64_t seq = 0;
    char *error = meta_int(store, "seq", &seq);
    if (!error) {
        *seqp = seq;
    }
    return error;
}

/* ---- Bindings ----------------------------------------------------------- */

/* Reads the ports of 'node' of 'kind' (0 uplinks, 1 unknown). */
static char *
get_node_ports(struct cf_store *store, const char *node, int kind,
               uint32_t **portsp, size_t *np)
{
    sqlite3_stmt *stmt;
    char *error = get_stmt(store, S_NPORT_GET, &stmt);
    if (error) {
        return error;
    }
    size_t allocated = 0;
    bind_str(stmt, 1, node);
    sqlite3_bind_int(stmt, 2, kind);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (*np >= allocated) {
            *portsp = cf_x2nrealloc(*portsp, &allocated, sizeof **portsp);
        }
        (*portsp)[(*np)++] = sqlite3_column_int64(stmt, 0);
    }
    if (rc != SQLITE_DONE) {
        error = sql_error(store, "reading node ports");
    }
    done(stmt);
    return error;
}

/* Reads the bindings of 'node' into 'ports' without a transaction of its
 * own. */
static char *
get_bindings__(struct cf_store *store, const char *node,
               struct cf_node_ports *ports)
{
    sqlite3_stmt *stmt;
    char *error = get_stmt(store, S_BIND_GET, &stmt);
    if (error) {
        return error;
    }
    size_t allocated = 0;
    bind_str(stmt, 1, node);
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (ports->n_bindings >= allocated) {
            ports->bindings = cf_x2nrealloc(ports->bindings, &allocated,
                                            sizeof *ports->bindings);
        }
        struct cf_binding *b = &ports->bindings[ports->n_bindings++];
        memset(b, 0, sizeof *b);
        b->pod = cf_xstrdup((const char *) sqlite3_column_text(stmt, 0));
        b->ofport = sqlite3_column_int64(stmt, 1);
        if (sqlite3_column_type(stmt, 2) == SQLITE_BLOB
            && sqlite3_column_bytes(stmt, 2) == 6) {
            b->has_mac = true;
            memcpy(b->mac, sqlite3_column_blob(stmt, 2), 6);
        }
    }
    if (rc != SQLITE_DONE) {
        error = sql_error(store, "reading bindings");
    }
    done(stmt);
    if (!error) {
        error = get_node_ports(store, node, 0, &ports->uplinks,
                               &ports->n_uplinks);
    }
    if (!error) {
        error = get_node_ports(store, node, 1, &ports->unknown,
                               &ports->n_unknown);
    }
    return error;
}

char *
cf_store_get_bindings(struct cf_store *store, const char *node,
                      struct cf_node_ports *ports)
{
    char *error = begin_read(store);
    if (!error) {
        error = get_bindings__(store, node, ports);
        end_read(store);
    }
    return error;
}

/* True if 'a' and 'b' hold the same ports. */
static bool
node_ports_equal(const struct cf_node_ports *a, const struct cf_node_ports *b)
{
    if (a->n_bindings != b->n_bindings || a->n_uplinks != b->n_uplinks
        || a->n_unknown != b->n_unknown
        || (a->n_uplinks && memcmp(a->uplinks, b->uplinks,
                                   a->n_uplinks * sizeof *a->uplinks))
        || (a->n_unknown && memcmp(a->unknown, b->unknown,
                                   a->n_unknown * sizeof *a->unknown))) {
        return false;
    }
    for (size_t i = 0; i < a->n_bindings; i++) {
        const struct cf_binding *x = &a->bindings[i], *y = &b->bindings[i];
        if (strcmp(x->pod, y->pod) || x->ofport != y->ofport
            || x->has_mac != y->has_mac
            || (x->has_mac && memcmp(x->mac, y->mac, 6))) {
            return false;
        }
    }
    return true;
}

/* qsort comparison of uint32_t. */
static int
compare_u32(const void *a_, const void *b_)
{
    uint32_t a = *(const uint32_t *) a_, b = *(const uint32_t *) b_;
    return a < b ? -1 : a > b;
}

/* qsort comparison of bindings by pod. */
static int
compare_bindings(const void *a_, const void *b_)
{
    const struct cf_binding *a = a_, *b = b_;
    return strcmp(a->pod, b->pod);
}

/* Returns a malloc'd copy of the 'n' elements of 'size' bytes at 'src',
 * sorted with 'compare'.  The elements' pointers are shared, not copied. */
static void *
sorted_copy(const void *src, size_t n, size_t size,
            int (*compare)(const void *, const void *))
{
    void *copy = cf_xmalloc(n * size);
    if (n) {
        memcpy(copy, src, n * size);
        qsort(copy, n, size, compare);
    }
    return copy;
}

char *
cf_store_set_bindings(struct cf_store *store, const char *node,
                      const struct cf_node_ports *ports_)
{
    /* A sorted copy, to compare with what is stored. */
    struct cf_node_ports ports = *ports_;
    ports.bindings = sorted_copy(ports_->bindings, ports.n_bindings,
                                 sizeof *ports.bindings, compare_bindings);
    ports.uplinks = sorted_copy(ports_->uplinks, ports.n_uplinks,
                                sizeof *ports.uplinks, compare_u32);
    ports.unknown = sorted_copy(ports_->unknown, ports.n_unknown,
                                sizeof *ports.unknown, compare_u32);

    struct wtx tx;
    char *error = wtx_begin(&tx, store);
    if (error) {
        goto out;
    }
    struct cf_node_ports old;
    cf_node_ports_init(&old);
    error = get_bindings__(store, node, &old);
    bool same = !error && node_ports_equal(&old, &ports);
    cf_node_ports_destroy(&old);
    if (error || same) {
        rollback(store);
        wtx_destroy(&tx);
        goto out;
    }

    sqlite3_stmt *stmt;
    static const int dels[] = { S_BIND_DEL, S_NPORT_DEL };
    for (size_t i = 0; i < CF_ARRAY_SIZE(dels) && !error; i++) {
        if (!(error = get_stmt(store, dels[i], &stmt))) {
            bind_str(stmt, 1, node);
            error = run(store, stmt, "clearing bindings");
        }
    }
    for (size_t i = 0; i < ports.n_bindings && !error; i++) {
        const struct cf_binding *b = &ports.bindings[i];
        if (!(error = get_stmt(store, S_BIND_ADD, &stmt))) {
            bind_str(stmt, 1, node);
            bind_str(stmt, 2, b->pod);
            sqlite3_bind_int64(stmt, 3, b->ofport);
            if (b->has_mac) {
                sqlite3_bind_blob(stmt, 4, b->mac, 6, SQLITE_STATIC);
            }
            error = run(store, stmt, "writing bindings");
        }
    }
    for (int kind = 0; kind < 2 && !error; kind++) {
        const uint32_t *list = kind ? ports.unknown : ports.uplinks;
        size_t n = kind ? ports.n_unknown : ports.n_uplinks;
        for (size_t i = 0; i < n && !error; i++) {
            if (!(error = get_stmt(store, S_NPORT_ADD, &stmt))) {
                bind_str(stmt, 1, node);
                sqlite3_bind_int64(stmt, 2, list[i]);
                sqlite3_bind_int(stmt, 3, kind);
                error = run(store, stmt, "writing node ports");
            }
        }
    }
    tx.written = true;
    if (error) {
        rollback(store);
        wtx_destroy(&tx);
    } else {
        error = wtx_finish(&tx, false, NULL);
    }

out:
    free(ports.bindings);
    free(ports.uplinks);
    free(ports.unknown);
    return error;
}

/* ---- Meta --------------------------------------------------------------- */

char *
cf_store_meta_get(struct cf_store *store, const char *key, char **valuep)
{
    sqlite3_stmt *stmt;
    char *error = get_stmt(store, S_META_GET, &stmt);
    *valuep = NULL;
    if (error) {
        return error;
    }
    bind_str(stmt, 1, key);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(stmt, 0) != SQLITE_NULL) {
            *valuep = cf_xstrdup((const char *) sqlite3_column_text(stmt,
                                                                    0));
        }
    } else if (rc != SQLITE_DONE) {
        error = sql_error(store, "reading meta");
    }
    done(stmt);
    return error;
}

char *
cf_store_meta_set(struct cf_store *store, const char *key, const char *value)
{
    if (!strcmp(key, "seq") || !strcmp(key, "feed_floor")) {
        return cf_xasprintf("%s: meta key \"%s\" belongs to the store",
                            store->path, key);
    }
    struct wtx tx;
    char *error = wtx_begin(&tx, store);
    if (error) {
        return error;
    }
    sqlite3_stmt *stmt;
    if (!(error = get_stmt(store, value ? S_META_SET : S_META_DEL,
                           &stmt))) {
        bind_str(stmt, 1, key);
        if (value) {
            bind_str(stmt, 2, value);
        }
        error = run(store, stmt, "writing meta");
    }
    tx.written = true;
    if (error) {
        rollback(store);
        wtx_destroy(&tx);
        return error;
    }
    return wtx_finish(&tx, false, NULL);
}

char *
cf_store_data_version(struct cf_store *store, int64_t *versionp)
{
    sqlite3_stmt *stmt;
    char *error = get_stmt(store, S_DATA_VERSION, &stmt);
    if (error) {
        return error;
    }
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        *versionp = sqlite3_column_int64(stmt, 0);
    } else {
        error = sql_error(store, "reading data_version");
    }
    done(stmt);
    return error;
}
