/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The store: conjflow's cluster state in one SQLite file, and its change
 * feed.  Sources (conjflowctl, conjflow-k8s) write validated objects through
 * cf_store_apply() and cf_store_delete(); conjflowd reads snapshots
 * (cf_store_load()) and follows the change feed (cf_store_changes()).
 *
 * Every committed write bumps a sequence number; each changed object gets
 * a row in the change feed with that number.  A reader remembers the last
 * sequence it has seen and asks what changed after it, so a restarted
 * reader resumes where it stopped.
 *
 * Concurrency: any number of processes may open the same file; writes are
 * serialized by SQLite (WAL mode, busy timeout), readers never block
 * writers.  A struct cf_store is used by one thread.
 *
 * Errors: functions return NULL on success or a malloc'd message that says
 * what failed and where (the caller frees it).
 */
#ifndef CONJFLOW_STORE_H
#define CONJFLOW_STORE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conjflow/model.h"

struct cf_store;

/* The default database path, and the environment variable that overrides
 * it. */
#define CF_STORE_DEFAULT_PATH "/var/lib/conjflow/conjflow.db"
#define CF_STORE_ENV "CONJFLOW_DB"
/* 'path' if nonnull, else $CONJFLOW_DB if set, else the default. */
const char *cf_store_path(const char *path);

enum cf_store_mode {
    CF_STORE_READ_WRITE,        /* Creates the file and schema if needed. */
    CF_STORE_READ_ONLY,         /* The file must exist. */
};

/* Opens the store at 'path', creating or migrating its schema in
 * read-write mode.  A store with a newer schema than this program knows is
 * refused. */
char *cf_store_open(const char *path, enum cf_store_mode,
                    struct cf_store **storep);
void cf_store_close(struct cf_store *);

/* What apply or delete did (or would do, in a dry run) to one object. */
enum cf_store_result {
    CF_STORE_CREATED,
    CF_STORE_CONFIGURED,
    CF_STORE_UNCHANGED,
    CF_STORE_DELETED,
    CF_STORE_NOT_FOUND,
};
const char *cf_store_result_name(enum cf_store_result);  /* "created"... */

/* Creates or replaces the 'n' objects of 'objs' in one transaction: all or
 * nothing.  Each object is validated again before anything is written; an
 * invalid one rejects the whole batch.  Policies and nodes get their ids
 * here (an existing object keeps its id).  Fills results[i] for objs[i].
 * With 'dry_run', validates and fills 'results' but writes nothing.
 * Returns the sequence number of the commit in '*seqp' (unchanged if
 * nothing changed).  Does not take ownership of 'objs'. */
char *cf_store_apply(struct cf_store *, struct cf_object *const *objs,
                     size_t n, bool dry_run, enum cf_store_result *results,
                     uint64_t *seqp);

/* Deletes the 'n' objects named by 'refs' in one transaction.  Fills
 * results[i] (CF_STORE_DELETED or CF_STORE_NOT_FOUND).  Deleting a
 * namespace deletes its pods and policies, as the API server does. */
char *cf_store_delete(struct cf_store *, const struct cf_objref *refs,
                      size_t n, bool dry_run, enum cf_store_result *results,
                      uint64_t *seqp);

/* Replaces every object of 'kind' with 'objs' in one transaction (objects
 * not in 'objs' are deleted, unchanged ones are not written): for a relist
 * from the Kubernetes API.  A relist that changes nothing writes
 * nothing. */
char *cf_store_replace_kind(struct cf_store *, enum cf_kind kind,
                            struct cf_object *const *objs, size_t n,
                            uint64_t *seqp);

/* Loads every object into 'cluster' (initialized by the caller, left
 * sorted) as of one consistent snapshot, whose sequence number goes in
 * '*seqp'. */
char *cf_store_load(struct cf_store *, struct cf_cluster *cluster,
                    uint64_t *seqp);

/* Lists the objects of 'kind' (in namespace 'ns', or all if 'ns' is NULL),
 * sorted by (namespace, name), with their manifests. The caller frees each
 * object with cf_object_destroy() and the array with free(). */
char *cf_store_list(struct cf_store *, enum cf_kind kind, const char *ns,
                    struct cf_object ***objsp, size_t *np);

/* Fetches one object, or sets '*objp' to NULL if there is none. */
char *cf_store_get(struct cf_store *, const struct cf_objref *,
                   struct cf_object **objp);

/* One entry of the change feed. */
struct cf_change {
    uint64_t seq;               /* Sequence number of the commit. */
    struct cf_objref ref;       /* The object that changed. */
    bool deleted;               /* Deleted (else created or updated). */
};
void cf_change_destroy(struct cf_change *);  /* Frees the contents. */

/* The changes committed after 'after', oldest first, at most 'max' (0 for
 * no limit).  '*lastp' is the last sequence number covered.  If 'after' is
 * older than what the feed still keeps, sets '*too_old' (the reader must
 * reload the whole state with cf_store_load()). */
char *cf_store_changes(struct cf_store *, uint64_t after, size_t max,
                       struct cf_change **changesp, size_t *np,
                       uint64_t *lastp, bool *too_old);

/* The sequence number of the last commit. */
char *cf_store_seq(struct cf_store *, uint64_t *seqp);

/* Pod-to-port bindings that conjflowd discovered on 'node': replaces the
 * node's bindings with 'ports' (not part of the change feed). */
char *cf_store_set_bindings(struct cf_store *, const char *node,
                            const struct cf_node_ports *ports);
/* Reads them back into 'ports' (initialized by the caller). */
char *cf_store_get_bindings(struct cf_store *, const char *node,
                            struct cf_node_ports *ports);

/* Small persistent key/value state for the sources (e.g. conjflow-k8s's
 * resourceVersions) and the daemon.  '*valuep' is NULL if 'key' is
 * absent. */
char *cf_store_meta_get(struct cf_store *, const char *key, char **valuep);
char *cf_store_meta_set(struct cf_store *, const char *key,
                        const char *value);

/* The file descriptor-free way to wait for changes: the SQLite
 * data_version, which changes whenever another connection commits.
 * Cheap to poll. */
char *cf_store_data_version(struct cf_store *, int64_t *versionp);

#endif /* conjflow/store.h */
