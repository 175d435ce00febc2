/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowd: the conjflow controller daemon.  It follows the store (the
 * SQLite file that conjflowctl and conjflow-k8s write), compiles every
 * node's NetworkPolicy flows, and keeps each node's OVS bridge programmed
 * through one OVSDB and one OpenFlow session per node (ofproto/switch.c).
 *
 * Main loop (run/wait/poll, as in Open vSwitch's daemons):
 *   1. the store: if its SQLite data_version moved, read the sequence
 *      number; if that moved, read the change feed, fetch only the changed
 *      objects (or reload everything after many changes) and mark the
 *      nodes that the changes touch for recompilation;
 *   2. the node set: a switch per Node object (recreated if its OVSDB
 *      remote or bridge changes);
 *   3. each switch runs; a node whose ports changed is recompiled and its
 *      bindings are recorded in the store;
 *   4. each node marked for recompilation whose ports are known gets its
 *      desired flows (the compiler merges again only the flows of the
 *      policies whose contribution changed, through the node's cache);
 *      the switch sends the difference in one bundle.
 * "recompute" and --check-incremental show that this is exactly what a
 * full recomputation gives.
 * A node that cannot be reached only shows up in the status; the others
 * go on.
 *
 * This file has main(), the store loading and the node compilation;
 * conjflowd-observe.c the observability (audit log, statistics,
 * realization status), conjflowd-metrics.c the Prometheus endpoint and
 * conjflowd-ctsweep.c the conntrack sweep (the conntrack entries of
 * connections a change revoked are flushed).
 * conjflowd.h declares the state they share.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/inotify.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#endif

#include "command-line.h"
#include "conjflow/cfconfig.h"
#include "conjflow/cflow.h"
#include "conjflow/compiler.h"
#include "conjflow/model.h"
#include "conjflow/store.h"
#include "controller/conjflowd.h"
#include "coverage.h"
#include "daemon.h"
#include "dirs.h"
#include "fatal-signal.h"
#include "memory.h"
#include "ofproto/switch.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "simap.h"
#include "stream-ssl.h"
#include "stream.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(conjflowd);

COVERAGE_DEFINE(conjflowd_reload);
COVERAGE_DEFINE(conjflowd_compile);
COVERAGE_DEFINE(conjflowd_load_changes);

/* Command-line settings (conjflowd.h declares those that
 * conjflowd-observe.c reads). */
static const char *db_path;             /* --db. */
static char *unixctl_path;              /* --unixctl. */
static int poll_interval = 10;          /* --poll-interval, ms. */
static bool check_incremental;          /* --check-incremental. */
const char *audit_log_path;             /* --audit-log. */
static bool log_all_denies;             /* --log-all-denies. */
int stats_interval = 10000;             /* --stats-interval, ms. */
const char *metrics_address;            /* --metrics-address. */
static char **config_argv;              /* The command line with the
                                         * configuration file's settings
                                         * (option values point into it). */
static int config_argc;                 /* Number of 'config_argv'. */

static unixctl_cb_func conjflowd_exit;
static unixctl_cb_func conjflowd_status;
static unixctl_cb_func conjflowd_sync;
static unixctl_cb_func conjflowd_sync_wait;
static void sync_waiters_run(struct daemon_state *);
static void sync_waiters_wait(const struct daemon_state *);
static unixctl_cb_func conjflowd_flows_desired;
static unixctl_cb_func conjflowd_flows_installed;
static unixctl_cb_func conjflowd_recompute;

static void parse_options(int argc, char *argv[]);
OVS_NO_RETURN static void usage(void);

/* Records 'error' (taking ownership) as the last store error. */
void
set_store_error(struct daemon_state *d, char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 10);
    VLOG_WARN_RL(&rl, "store %s: %s", db_path, error);
    free(d->store_error);
    d->store_error = error;
}

/* ---- Store wakeups -------------------------------------------------------
 *
 * conjflowd looks at the store's data_version (a cheap query) on every
 * pass of its main loop, and wakes up for that at least every
 * --poll-interval ms.  On Linux it also wakes up as soon as a file of the
 * store (the database, its WAL or rollback journal) is written, or closed
 * after writing, in the store's directory (inotify), so that a change is
 * seen at once instead of up to --poll-interval later.  A write can come
 * before the commit is visible (SQLite writes and syncs the WAL, then
 * updates the WAL index in shared memory, which inotify does not see), so
 * after a write conjflowd also looks every millisecond for
 * STORE_RECHECK_MS.  Without inotify (or if the watch fails) only the
 * polling remains. */
#define STORE_RECHECK_MS 50

/* Starts watching the directory of the store at 'path'. */
static void
store_watch_init(struct store_watch *w, const char *path)
{
    w->fd = -1;
    w->recheck_until = 0;
    const char *slash = strrchr(path, '/');
    w->base = xstrdup(slash ? slash + 1 : path);
#ifdef __linux__
    char *dir = (slash ? xmemdup0(path, slash == path ? 1 : slash - path)
                 : xstrdup("."));
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd >= 0
        && inotify_add_watch(w->fd, dir, (IN_MODIFY | IN_CLOSE_WRITE
                                          | IN_CREATE | IN_MOVED_TO)) < 0) {
        VLOG_INFO("%s: cannot watch for store writes (%s): polling every "
                  "%d ms", dir, ovs_strerror(errno), poll_interval);
        close(w->fd);
        w->fd = -1;
    }
    free(dir);
#endif
}

/* Stops watching. */
static void
store_watch_destroy(struct store_watch *w)
{
    if (w->fd >= 0) {
        close(w->fd);
    }
    free(w->base);
}

/* True if 'name' is the store file of 'w' or its WAL or journal. */
static bool OVS_UNUSED
store_watch_is_store_file(const struct store_watch *w, const char *name)
{
    size_t len = strlen(w->base);
    return (!strncmp(name, w->base, len)
            && (!name[len] || !strcmp(&name[len], "-wal")
                || !strcmp(&name[len], "-journal")));
}

/* Reads the pending events of 'w'; after a write of the store, looks every
 * millisecond for a while. */
static void
store_watch_run(struct store_watch *w)
{
#ifdef __linux__
    if (w->fd < 0) {
        return;
    }
    for (;;) {
        char buf[4096]
            __attribute__((aligned(__alignof__(struct inotify_event))));
        ssize_t n = read(w->fd, buf, sizeof buf);
        if (n <= 0) {
            break;
        }
        for (char *p = buf; p < buf + n; ) {
            const struct inotify_event *ev = ALIGNED_CAST(
                const struct inotify_event *, p);
            if (ev->len && store_watch_is_store_file(w, ev->name)) {
                w->recheck_until = time_msec() + STORE_RECHECK_MS;
            }
            p += sizeof *ev + ev->len;
        }
    }
#else
    (void) w;
#endif
}

/* Arranges for poll_block() to wake up on a store write, and every
 * millisecond while rechecking. */
static void
store_watch_wait(const struct store_watch *w)
{
    if (w->fd >= 0) {
        poll_fd_wait(w->fd, POLLIN);
    }
    if (time_msec() < w->recheck_until) {
        poll_timer_wait(1);
    }
}

/* ---- Which nodes a change touches --------------------------------------
 *
 * A node's flows depend on: the Node object (and, through node-address
 * allowances, every Node), its bound ports, the Pods bound to it or
 * scheduled on it, the policies that select those pods, and the pods that
 * those policies' rules select as peers (their IPs and named ports), in the
 * namespaces they select.  So:
 *   - a Namespace or Node change touches every node;
 *   - a policy change touches the nodes of the pods the old or the new
 *     policy selects;
 *   - a pod change touches the pod's old and new node, the nodes where it
 *     is bound, and the nodes of every policy (old or new) that has a rule
 *     whose peers may include the old or the new pod, or whose named ports
 *     may resolve against it (cf_policy_may_select_peer(): an egress rule
 *     with named ports resolves them against the pods inside its ipBlocks,
 *     so a pod whose address moves into or out of a block counts).
 * --check-incremental verifies this against a full recompilation. */

/* Marks node 'name' for recompilation. */
static void
mark_node(struct daemon_state *d, const char *name)
{
    struct node_ctx *n = name ? shash_find_data(&d->nodes, name) : NULL;
    if (n && !n->dirty) {
        n->dirty = true;
        d->n_affected++;
    }
}

/* Marks every node. */
static void
mark_all(struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        mark_node(d, ((struct node_ctx *) sn->data)->name);
    }
}

/* True if every node is already marked: nothing more to find. */
static bool
all_marked(const struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        if (!((const struct node_ctx *) sn->data)->dirty) {
            return false;
        }
    }
    return true;
}

/* Marks the nodes of the pods of 'c' that 'p' selects. */
static void
mark_policy_nodes(struct daemon_state *d, const struct cf_cluster *c,
                  const struct cf_policy *p)
{
    if (all_marked(d)) {
        return;
    }
    for (size_t i = 0; i < c->n_pods; i++) {
        const struct cf_pod *pod = c->pods[i];
        if (pod->node && !strcmp(pod->ns, p->ns)
            && cf_selector_matches(&p->pod_sel, &pod->labels)) {
            mark_node(d, pod->node);
        }
    }
    /* Pods bound to a node's bridge but scheduled elsewhere (or not in the
     * store): their node too. */
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        const struct cf_node_ports *ports = cf_switch_get_ports(n->sw);
        size_t len = strlen(p->ns);
        for (size_t i = 0; i < ports->n_bindings && !n->dirty; i++) {
            const char *b = ports->bindings[i].pod;
            if (!strncmp(b, p->ns, len) && b[len] == '/') {
                mark_node(d, n->name);
            }
        }
    }
}

/* Marks the nodes touched by a change of 'pod' (a version of it in
 * cluster 'c'). */
static void
mark_pod(struct daemon_state *d, const struct cf_cluster *c,
         const struct cf_pod *pod)
{
    mark_node(d, pod->node);
    for (size_t i = 0; i < c->n_policies && !all_marked(d); i++) {
        const struct cf_policy *p = c->policies[i];
        if (cf_policy_may_select_peer(c, p, pod)) {
            mark_policy_nodes(d, c, p);
        }
    }
}

/* Marks the nodes touched by 'change', between clusters 'old' and 'new'. */
static void
mark_change(struct daemon_state *d, const struct cf_cluster *old,
            const struct cf_cluster *new, const struct cf_change *change)
{
    const struct cf_objref *ref = &change->ref;
    switch (ref->kind) {
    case CF_KIND_NAMESPACE:
    case CF_KIND_NODE:
        mark_all(d);
        break;
    case CF_KIND_POLICY: {
        const struct cf_policy *a = cf_cluster_find_policy(old, ref->ns,
                                                           ref->name);
        const struct cf_policy *b = cf_cluster_find_policy(new, ref->ns,
                                                           ref->name);
        if (a) {
            mark_policy_nodes(d, old, a);
        }
        if (b) {
            mark_policy_nodes(d, new, b);
        }
        break;
    }
    case CF_KIND_POD: {
        const struct cf_pod *a = cf_cluster_find_pod(old, ref->ns,
                                                     ref->name);
        const struct cf_pod *b = cf_cluster_find_pod(new, ref->ns,
                                                     ref->name);
        if (a) {
            mark_pod(d, old, a);
            mark_pod(d, new, a);
        }
        if (b) {
            mark_pod(d, old, b);
            mark_pod(d, new, b);
        }
        /* Where the pod is bound. */
        char *key = xasprintf("%s/%s", ref->ns, ref->name);
        struct shash_node *sn;
        SHASH_FOR_EACH (sn, &d->nodes) {
            struct node_ctx *n = sn->data;
            const struct cf_node_ports *ports = cf_switch_get_ports(n->sw);
            for (size_t i = 0; i < ports->n_bindings; i++) {
                if (!strcmp(ports->bindings[i].pod, key)) {
                    mark_node(d, n->name);
                }
            }
        }
        free(key);
        break;
    }
    default:
        mark_all(d);
        break;
    }
}

/* --check-incremental: compiles every node that the last change did not
 * mark and checks that its flows did not change.  A difference is a bug in
 * mark_change(): it is logged as an error and the node is recompiled. */
static void
check_untouched_nodes(struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        const struct cf_node *node = cf_cluster_find_node(&d->cluster,
                                                          n->name);
        if (n->dirty || !node || !cf_switch_ports_known(n->sw)) {
            continue;
        }
        struct cflow_set flows;
        cflow_set_init(&flows);
        char *error = cf_compiler_node_flows(d->compiler, node,
                                             cf_switch_get_ports(n->sw),
                                             &flows);
        bool same = !error && flows.n == n->last.n;
        for (size_t i = 0; same && i < flows.n; i++) {
            same = cflow_equal(&flows.flows[i], &n->last.flows[i]);
        }
        if (!same) {
            VLOG_ERR("node %s: the change feed did not mark it, but its "
                     "flows changed (incremental bug): recompiling", n->name);
            n->dirty = true;
        }
        free(error);
        cflow_set_destroy(&flows);
    }
}

/* ---- Loading only what changed ------------------------------------------
 *
 * A change of a few objects does not reload the whole store: the new
 * cluster shares the unchanged objects of the old one and fetches each
 * changed object again (cf_store_get()).  More changes than
 * MAX_INCREMENTAL_CHANGES, a change feed that is too old, or any error
 * reload everything.  --check-incremental also loads the whole store and
 * checks that every node compiles to the same flows from both. */
#define MAX_INCREMENTAL_CHANGES 256

/* True if 'a' and 'b' name the same object. */
static bool
objref_equal(const struct cf_objref *a, const struct cf_objref *b)
{
    return (a->kind == b->kind && !strcmp(a->name, b->name)
            && (a->ns && b->ns ? !strcmp(a->ns, b->ns) : a->ns == b->ns));
}

/* Removes pointer 'p' from array 'array' of '*n' elements (keeping the
 * order).  Returns true if it was there. */
static bool
remove_ptr(void **array, size_t *n, const void *p)
{
    for (size_t i = 0; i < *n; i++) {
        if (array[i] == p) {
            memmove(&array[i], &array[i + 1], (*n - i - 1) * sizeof *array);
            (*n)--;
            return true;
        }
    }
    return false;
}

/* Copies the pointer array 'src' of 'n' elements into '*dstp' (the objects
 * stay shared). */
static void
copy_ptrs(void ***dstp, size_t *n_dst, size_t *allocated, void *const *src,
          size_t n)
{
    *dstp = xcalloc(n ? n : 1, sizeof *src);
    if (n) {
        memcpy(*dstp, src, n * sizeof *src);
    }
    *n_dst = n;
    *allocated = n ? n : 1;
}

/* Builds in 'new' (initialized, empty) cluster 'old' with the 'n' changes
 * in 'changes' applied: 'new' shares the unchanged objects of 'old'; each
 * changed object is fetched from 'store' again; the versions in 'old' of
 * changed objects move to 'gone' (initialized, empty), which owns them.
 * 'new' owns the fetched objects only: free its arrays with
 * cluster_free_arrays() once 'old' is gone.  Returns NULL, or a malloc'd
 * error and then changes nothing. */
static char *
cluster_apply_changes(struct cf_store *store, const struct cf_cluster *old,
                      const struct cf_change *changes, size_t n,
                      struct cf_cluster *new, struct cf_cluster *gone)
{
    /* Fetch first: nothing below can fail. */
    struct cf_object **objs = xcalloc(n ? n : 1, sizeof *objs);
    for (size_t i = 0; i < n; i++) {
        const struct cf_objref *ref = &changes[i].ref;
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) {
            dup = objref_equal(&changes[j].ref, ref);
        }
        if ((unsigned) ref->kind >= CF_N_KINDS) {
            for (size_t j = 0; j < i; j++) {
                cf_object_destroy(objs[j]);
            }
            free(objs);
            return xasprintf("change %"PRIu64": unknown kind %d",
                             changes[i].seq, (int) ref->kind);
        }
        if (dup) {
            continue;
        }
        char *error = cf_store_get(store, ref, &objs[i]);
        if (error) {
            for (size_t j = 0; j < i; j++) {
                cf_object_destroy(objs[j]);
            }
            free(objs);
            return error;
        }
    }

    copy_ptrs((void ***) &new->namespaces, &new->n_namespaces,
              &new->allocated_namespaces, (void *const *) old->namespaces,
              old->n_namespaces);
    copy_ptrs((void ***) &new->pods, &new->n_pods, &new->allocated_pods,
              (void *const *) old->pods, old->n_pods);
    copy_ptrs((void ***) &new->policies, &new->n_policies,
              &new->allocated_policies, (void *const *) old->policies,
              old->n_policies);
    copy_ptrs((void ***) &new->nodes, &new->n_nodes,
              &new->allocated_nodes, (void *const *) old->nodes,
              old->n_nodes);
    for (size_t i = 0; i < n; i++) {
        const struct cf_objref *ref = &changes[i].ref;
        struct cf_object o;
        memset(&o, 0, sizeof o);
        o.kind = ref->kind;
        switch (ref->kind) {
        case CF_KIND_NAMESPACE:
            o.ns = CONST_CAST(struct cf_namespace *,
                              cf_cluster_find_namespace(old, ref->name));
            if (o.ns && remove_ptr((void **) new->namespaces,
                                   &new->n_namespaces, o.ns)) {
                cf_cluster_add(gone, xmemdup(&o, sizeof o));
            }
            break;
        case CF_KIND_POD:
            o.pod = CONST_CAST(struct cf_pod *,
                               cf_cluster_find_pod(old, ref->ns, ref->name));
            if (o.pod && remove_ptr((void **) new->pods, &new->n_pods,
                                    o.pod)) {
                cf_cluster_add(gone, xmemdup(&o, sizeof o));
            }
            break;
        case CF_KIND_POLICY:
            o.policy = CONST_CAST(struct cf_policy *,
                                  cf_cluster_find_policy(old, ref->ns,
                                                         ref->name));
            if (o.policy && remove_ptr((void **) new->policies,
                                       &new->n_policies, o.policy)) {
                cf_cluster_add(gone, xmemdup(&o, sizeof o));
            }
            break;
        case CF_KIND_NODE:
            o.node = CONST_CAST(struct cf_node *,
                                cf_cluster_find_node(old, ref->name));
            if (o.node && remove_ptr((void **) new->nodes, &new->n_nodes,
                                     o.node)) {
                cf_cluster_add(gone, xmemdup(&o, sizeof o));
            }
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (objs[i]) {
            cf_cluster_add(new, objs[i]);
        }
    }
    free(objs);
    cf_cluster_sort(new);
    return NULL;
}

/* Frees the arrays of 'c' but not its objects (shared with another
 * cluster), and empties it. */
static void
cluster_free_arrays(struct cf_cluster *c)
{
    free(c->namespaces);
    free(c->pods);
    free(c->policies);
    free(c->nodes);
    cf_cluster_init(c);
}

/* Frees what the last load replaced (see struct daemon_state), if not
 * done yet. */
static void
retire_old(struct daemon_state *d)
{
    cf_compiler_destroy(d->old_compiler);
    d->old_compiler = NULL;
    if (d->old_shared) {
        cluster_free_arrays(&d->old_cluster);
    } else {
        cf_cluster_destroy(&d->old_cluster);
        cf_cluster_init(&d->old_cluster);
    }
    d->old_shared = false;
    cf_cluster_destroy(&d->old_gone);
    cf_cluster_init(&d->old_gone);
}

/* --check-incremental: loads the whole store and checks that every node
 * with known ports compiles to the same flows from it as from the cluster
 * that the change feed built.  A difference is logged as an error and
 * the whole store replaces the cluster (every node is recompiled). */
static void
check_incremental_load(struct daemon_state *d)
{
    struct cf_cluster full;
    uint64_t seq;
    cf_cluster_init(&full);
    char *error = cf_store_load(d->store, &full, &seq);
    if (error || seq != d->seq) {
        /* Failed, or a newer commit: the next change is checked. */
        free(error);
        cf_cluster_destroy(&full);
        return;
    }
    struct cf_compiler *compiler = cf_compiler_create(&full);
    cf_compiler_set_log_denies(compiler, log_all_denies);
    bool same = (full.n_namespaces == d->cluster.n_namespaces
                 && full.n_pods == d->cluster.n_pods
                 && full.n_policies == d->cluster.n_policies
                 && full.n_nodes == d->cluster.n_nodes);
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        const struct cf_node *a = cf_cluster_find_node(&d->cluster,
                                                       n->name);
        const struct cf_node *b = cf_cluster_find_node(&full, n->name);
        if (!same || !cf_switch_ports_known(n->sw)) {
            continue;
        }
        if (!a != !b) {
            same = false;
            break;
        } else if (!a) {
            continue;
        }
        const struct cf_node_ports *ports = cf_switch_get_ports(n->sw);
        struct cflow_set fa, fb;
        cflow_set_init(&fa);
        cflow_set_init(&fb);
        char *ea = cf_compiler_node_flows(d->compiler, a, ports, &fa);
        char *eb = cf_compiler_node_flows(compiler, b, ports, &fb);
        same = !ea == !eb && fa.n == fb.n;
        for (size_t i = 0; same && i < fa.n; i++) {
            same = cflow_equal(&fa.flows[i], &fb.flows[i]);
        }
        free(ea);
        free(eb);
        cflow_set_destroy(&fa);
        cflow_set_destroy(&fb);
    }
    if (same) {
        cf_compiler_destroy(compiler);
        cf_cluster_destroy(&full);
        return;
    }
    VLOG_ERR("store seq %"PRIu64": the cluster built from the change feed "
             "differs from the store (incremental bug): reloading",
             d->seq);
    retire_old(d);              /* It may share objects with 'cluster'. */
    cf_compiler_destroy(d->compiler);
    cf_cluster_destroy(&d->cluster);
    d->cluster = full;
    d->compiler = compiler;
    mark_all(d);
}

/* Reloads the cluster from the store if it changed (or if 'force').
 * Returns true if it was reloaded. */
static bool
store_run(struct daemon_state *d, bool force)
{
    int64_t version;
    char *error = cf_store_data_version(d->store, &version);
    if (error) {
        set_store_error(d, error);
        return false;
    }
    if (!force && d->loaded && d->have_version
        && version == d->data_version) {
        return false;
    }
    d->data_version = version;
    d->have_version = true;

    uint64_t seq;
    error = cf_store_seq(d->store, &seq);
    if (error) {
        set_store_error(d, error);
        return false;
    }
    if (!force && d->loaded && seq == d->seq) {
        return false;
    }

    long long int start = time_msec();
    long long int start_us = time_usec();
    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    /* Which nodes the change touches: from the change feed, comparing the
     * objects before and after.  Everything, if we can't tell.  A few
     * changes are loaded by themselves (see cluster_apply_changes()). */
    bool all = force || !d->loaded;
    bool incremental = false;
    struct cf_cluster gone;     /* Old versions of changed objects. */
    cf_cluster_init(&gone);
    struct cf_change *changes = NULL;
    size_t n_changes = 0;
    uint64_t last = 0;
    if (!all) {
        bool too_old;
        error = cf_store_changes(d->store, d->seq, 0, &changes, &n_changes,
                                 &last, &too_old);
        if (error) {
            VLOG_WARN("store %s: reading the change feed: %s (recompiling "
                      "every node)", db_path, error);
            free(error);
            all = true;
        } else if (too_old || last < seq) {
            all = true;
        } else if (n_changes <= MAX_INCREMENTAL_CHANGES) {
            error = cluster_apply_changes(d->store, &d->cluster, changes,
                                          n_changes, &cluster, &gone);
            if (error) {
                VLOG_WARN("store %s: %s (reloading everything)", db_path,
                          error);
                free(error);
            } else {
                incremental = true;
                seq = last;
            }
        }
    }
    if (!incremental) {
        error = cf_store_load(d->store, &cluster, &seq);
        if (error) {
            for (size_t i = 0; i < n_changes; i++) {
                cf_change_destroy(&changes[i]);
            }
            free(changes);
            cf_cluster_destroy(&cluster);
            set_store_error(d, error);
            return false;
        }
        if (seq != last) {
            all = true;
        }
    }
    d->n_affected = 0;
    if (all) {
        mark_all(d);
    } else {
        for (size_t i = 0; i < n_changes; i++) {
            mark_change(d, &d->cluster, &cluster, &changes[i]);
        }
    }

    /* The compiler keeps pointers into the cluster: replace both.  After an
     * incremental load the old cluster shares its objects with the new
     * one, except those in 'gone'.  The old ones are freed later
     * (retire_old()). */
    retire_old(d);
    d->old_compiler = d->compiler;
    d->old_cluster = d->cluster;
    d->old_shared = incremental;
    d->old_gone = gone;
    d->cluster = cluster;
    d->compiler = cf_compiler_create(&d->cluster);
    cf_compiler_set_log_denies(d->compiler, log_all_denies);
    /* After an incremental load, only the policies in the change feed
     * differ from the last compiler's: the node caches need not compare
     * the others. */
    cf_compiler_set_generation(d->compiler, ++d->compiler_gen, incremental);
    for (size_t i = 0; incremental && i < n_changes; i++) {
        if (changes[i].ref.kind == CF_KIND_POLICY) {
            cf_compiler_note_policy_change(d->compiler, changes[i].ref.ns,
                                           changes[i].ref.name);
        }
    }
    for (size_t i = 0; i < n_changes; i++) {
        cf_change_destroy(&changes[i]);
    }
    free(changes);
    d->seq = seq;
    if (check_incremental) {
        if (incremental) {
            check_incremental_load(d);
        }
        check_untouched_nodes(d);
    }
    d->loaded = true;
    d->load_us = time_usec() - start_us;
    if (!d->change_start || d->last_sync_ms >= 0) {
        d->change_start = start;
    }
    d->last_sync_ms = -1;
    free(d->store_error);
    d->store_error = NULL;
    COVERAGE_INC(conjflowd_reload);
    if (incremental) {
        COVERAGE_INC(conjflowd_load_changes);
    }
    VLOG_INFO("store seq %"PRIu64": %"PRIuSIZE" namespaces, %"PRIuSIZE
              " pods, %"PRIuSIZE" policies, %"PRIuSIZE" nodes (%lld ms, %s)",
              seq, d->cluster.n_namespaces, d->cluster.n_pods,
              d->cluster.n_policies, d->cluster.n_nodes, d->load_us / 1000,
              incremental ? "changed objects only" : "whole store");
    return true;
}

/* Frees 'n' and its switch (the switch's flows stay).  Accepts NULL. */
static void
node_ctx_destroy(struct node_ctx *n)
{
    if (n) {
        cf_switch_destroy(n->sw);
        ctsweep_destroy(n->ctsweep);
        cflow_set_destroy(&n->last);
        cf_node_cache_destroy(n->cache);
        free(n->name);
        free(n);
    }
}

/* Makes the set of switches follow the cluster's nodes. */
static void
nodes_sync(struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH_SAFE (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        const struct cf_node *node = cf_cluster_find_node(&d->cluster,
                                                          n->name);
        const char *bridge = node && node->bridge ? node->bridge : "br-int";
        if (!node || !node->ovsdb
            || strcmp(node->ovsdb, cf_switch_get_ovsdb(n->sw))
            || strcmp(bridge, cf_switch_get_bridge(n->sw))) {
            VLOG_INFO("node %s: %s", n->name,
                      node ? "reconfigured" : "removed (its flows stay)");
            shash_delete(&d->nodes, sn);
            node_ctx_destroy(n);
        }
    }
    for (size_t i = 0; i < d->cluster.n_nodes; i++) {
        const struct cf_node *node = d->cluster.nodes[i];
        if (!node->ovsdb || shash_find(&d->nodes, node->name)) {
            continue;
        }
        struct node_ctx *n = xzalloc(sizeof *n);
        n->name = xstrdup(node->name);
        n->sw = cf_switch_create(node->name, node->ovsdb,
                                 node->bridge ? node->bridge : "br-int");
        n->ports_seqno = cf_switch_get_ports_seqno(n->sw);
        cflow_set_init(&n->last);
        n->dirty = true;
        shash_add(&d->nodes, n->name, n);
        observe_node_created(d, n);
        VLOG_INFO("node %s: OVSDB %s, bridge %s", node->name, node->ovsdb,
                  node->bridge ? node->bridge : "br-int");
    }
}

/* Compiles node 'n' and hands its flows to its switch. */
static void
node_compile(struct daemon_state *d, struct node_ctx *n)
{
    const struct cf_node *node = cf_cluster_find_node(&d->cluster, n->name);
    if (!node || !d->compiler) {
        return;
    }
    long long int start = time_usec();
    struct cflow_set flows;
    cflow_set_init(&flows);
    /* Only the flows that the changed policies touch are merged again
     * (the compiler falls back to a full merge by itself), and when the
     * switch has the cache's previous table, only the difference goes to
     * the switch. */
    if (!n->cache) {
        n->cache = cf_node_cache_create();
    }
    const struct cf_node_ports *ports = cf_switch_get_ports(n->sw);
    const struct cflow_set *removed = NULL, *added = NULL;
    bool synced = n->cache_synced;
    bool delta = false;
    char *error;
    n->cache_synced = false;
    if (synced && !check_incremental) {
        error = cf_compiler_node_flows_cached(d->compiler, node, ports,
                                              n->cache, NULL);
        delta = !error && cf_node_cache_get_delta(n->cache, &removed,
                                                  &added);
        if (!error && !delta) {
            error = cf_compiler_node_flows_cached(d->compiler, node, ports,
                                                  n->cache, &flows);
        }
    } else {
        error = cf_compiler_node_flows_cached(d->compiler, node, ports,
                                              n->cache, &flows);
        delta = synced && !error && cf_node_cache_get_delta(n->cache,
                                                            &removed,
                                                            &added);
    }
    if (check_incremental && !error) {
        /* Check against a full compilation. */
        struct cflow_set full;
        cflow_set_init(&full);
        char *full_error = cf_compiler_node_flows(d->compiler, node, ports,
                                                  &full);
        bool same = !full_error && full.n == flows.n;
        for (size_t i = 0; same && i < full.n; i++) {
            same = cflow_equal(&full.flows[i], &flows.flows[i]);
        }
        if (!same) {
            VLOG_ERR("node %s: the incremental merge differs from a full "
                     "compilation (incremental bug): using the full one",
                     n->name);
            cf_node_cache_clear(n->cache);
            cflow_set_destroy(&flows);
            flows = full;
            error = full_error;
            delta = false;
        } else {
            cflow_set_destroy(&full);
            free(full_error);
        }
    }
    bool failed = error != NULL;
    if (error) {
        /* Fail closed: the last good flows stay. */
        cf_switch_set_error(n->sw, error);
        free(error);
    } else {
        long long int mid = time_usec();
        n->compile_us = mid - start;
        if (delta) {
            error = cf_switch_update_desired(n->sw, removed, added);
            if (!error && check_incremental
                && cf_switch_n_desired(n->sw) != flows.n) {
                VLOG_ERR("node %s: %"PRIuSIZE" desired flows after the "
                         "difference, %"PRIuSIZE" compiled (incremental "
                         "bug)", n->name, cf_switch_n_desired(n->sw),
                         flows.n);
                error = xstrdup("wrong count");
            }
            if (error) {
                VLOG_WARN("node %s: %s: setting every desired flow",
                          n->name, error);
                free(error);
                delta = false;
                if (!flows.n) {
                    error = cf_compiler_node_flows_cached(d->compiler, node,
                                                          ports, n->cache,
                                                          &flows);
                    free(error);
                }
            }
        }
        if (delta) {
            n->n_flows = cf_switch_n_desired(n->sw);
            n->cache_synced = true;
        } else {
            error = cf_switch_set_desired(n->sw, &flows);
            n->cache_synced = !error;
            free(error);        /* Recorded in the switch's status. */
            n->n_flows = flows.n;
        }
        n->convert_us = time_usec() - mid;
    }
    if (check_incremental && !failed) {
        cflow_set_destroy(&n->last);
        n->last = flows;
    } else {
        cflow_set_destroy(&flows);
    }
    n->dirty = false;
    COVERAGE_INC(conjflowd_compile);
}

/* Runs every switch and compiles the nodes that need it. */
static void
nodes_run(struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        cf_switch_run(n->sw);
        if (!cf_switch_ports_known(n->sw)) {
            continue;
        }
        unsigned int seqno = cf_switch_get_ports_seqno(n->sw);
        if (seqno != n->ports_seqno) {
            n->ports_seqno = seqno;
            n->dirty = true;
            char *error = cf_store_set_bindings(d->store, n->name,
                                                cf_switch_get_ports(n->sw));
            if (error) {
                set_store_error(d, error);
            }
        }
        if (n->dirty) {
            node_compile(d, n);
            cf_switch_run(n->sw);
        }
    }
}

/* True if every node with known ports is in sync. */
static bool
all_synced(const struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        const struct node_ctx *n = sn->data;
        if (n->dirty || !cf_switch_is_synced(n->sw)) {
            return false;
        }
    }
    return true;
}

/* Arranges for poll_block() to wake up when a switch needs attention or a
 * node is waiting to be compiled. */
static void
nodes_wait(struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        cf_switch_wait(n->sw);
        if (n->dirty && cf_switch_ports_known(n->sw)) {
            poll_immediate_wake();
        }
    }
}

/* How long every node must stay in sync before trim_run() (ms). */
#define TRIM_DELAY_MS 1000

/* Gives the memory that a change freed back to the system, once every
 * node has stayed in sync for TRIM_DELAY_MS (a compilation frees much of
 * what it used, and glibc's malloc keeps it otherwise: the RSS would stay
 * at the peak of the largest change). */
static void
trim_run(struct daemon_state *d)
{
    if (!d->trim_at || time_msec() < d->trim_at) {
        return;
    }
    if (!all_synced(d)) {
        d->trim_at = time_msec() + TRIM_DELAY_MS;
        return;
    }
    d->trim_at = 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Starts the daemon (see the file comment) and runs its main loop until
 * "exit". */
int
main(int argc, char *argv[])
{
    struct daemon_state d;
    memset(&d, 0, sizeof d);
    cf_cluster_init(&d.cluster);
    cf_cluster_init(&d.old_cluster);
    cf_cluster_init(&d.old_gone);
    shash_init(&d.nodes);
    d.last_sync_ms = -1;

    set_program_name(argv[0]);
    ovs_cmdl_proctitle_init(argc, argv);
    fatal_ignore_sigpipe();
    parse_options(argc, argv);

    daemonize_start(false);

    struct unixctl_server *unixctl;
    int retval = unixctl_server_create(unixctl_path, &unixctl);
    if (retval) {
        ovs_fatal(retval, "could not create the control socket");
    }
    unixctl_command_register("exit", "", 0, 0, conjflowd_exit, &d);
    unixctl_command_register("status", "", 0, 0, conjflowd_status, &d);
    unixctl_command_register("sync", "", 0, 0, conjflowd_sync, &d);
    unixctl_command_register("sync/wait", "[TIMEOUT_MS]", 0, 1,
                             conjflowd_sync_wait, &d);
    unixctl_command_register("flows/desired", "NODE", 1, 1,
                             conjflowd_flows_desired, &d);
    unixctl_command_register("flows/installed", "NODE", 1, 1,
                             conjflowd_flows_installed, &d);
    unixctl_command_register("recompute", "", 0, 0, conjflowd_recompute,
                             &d);

    char *error = cf_store_open(db_path, CF_STORE_READ_WRITE, &d.store);
    if (error) {
        ovs_fatal(0, "%s", error);
    }
    error = cf_store_data_version(d.store, &d.data_version);
    if (error) {
        ovs_fatal(0, "%s", error);
    }
    VLOG_INFO("store %s opened", db_path);
    store_watch_init(&d.watch, db_path);
    observe_init(&d);

    daemonize_complete();

    while (!d.exiting) {
        memory_run();
        if (memory_should_report()) {
            struct simap usage = SIMAP_INITIALIZER(&usage);
            size_t n_flows = 0;
            struct shash_node *sn;
            SHASH_FOR_EACH (sn, &d.nodes) {
                struct node_ctx *n = sn->data;
                n_flows += cf_switch_n_desired(n->sw);
            }
            simap_increase(&usage, "nodes", shash_count(&d.nodes));
            simap_increase(&usage, "flows", n_flows);
            simap_increase(&usage, "pods", d.cluster.n_pods);
            simap_increase(&usage, "policies", d.cluster.n_policies);
            cf_switch_get_memory_usage(&usage);
            memory_report(&usage);
            simap_destroy(&usage);
        }

        store_watch_run(&d.watch);
        if (store_run(&d, false)) {
            nodes_sync(&d);
        }
        nodes_run(&d);
        retire_old(&d);         /* The bundles are on their way. */
        ctsweep_run(&d);
        if (d.last_sync_ms < 0 && d.loaded && all_synced(&d)) {
            d.last_sync_ms = time_msec() - d.change_start;
            d.trim_at = time_msec() + TRIM_DELAY_MS;
            VLOG_INFO("store seq %"PRIu64" in sync on %"PRIuSIZE" nodes "
                      "(%lld ms after the change was seen)", d.seq,
                      shash_count(&d.nodes), d.last_sync_ms);
        }
        /* "sync/wait" is answered before observe_run() writes the store:
         * that write waits for a disk sync. */
        sync_waiters_run(&d);
        observe_run(&d);
        unixctl_server_run(unixctl);

        trim_run(&d);

        memory_wait();
        if (d.trim_at) {
            poll_timer_wait_until(d.trim_at);
        }
        nodes_wait(&d);
        ctsweep_wait(&d);
        observe_wait(&d);
        sync_waiters_wait(&d);
        unixctl_server_wait(unixctl);
        store_watch_wait(&d.watch);
        poll_timer_wait(poll_interval);
        if (d.exiting) {
            poll_immediate_wake();
        }
        poll_block();
    }

    struct shash_node *sn;
    SHASH_FOR_EACH_SAFE (sn, &d.nodes) {
        node_ctx_destroy(sn->data);
        shash_delete(&d.nodes, sn);
    }
    shash_destroy(&d.nodes);
    observe_destroy(&d);
    free(d.waiters);            /* Their connections go with the server. */
    retire_old(&d);
    cf_compiler_destroy(d.compiler);
    cf_cluster_destroy(&d.cluster);
    cf_store_close(d.store);
    store_watch_destroy(&d.watch);
    free(d.store_error);
    unixctl_server_destroy(unixctl);
    cf_config_free_argv(config_argc, config_argv);
    return 0;
}

/* ---- unixctl ------------------------------------------------------------ */

/* "exit": leaves the main loop; the flows stay on the switches. */
static void
conjflowd_exit(struct unixctl_conn *conn, int argc OVS_UNUSED,
               const char *argv[] OVS_UNUSED, void *d_)
{
    struct daemon_state *d = d_;
    d->exiting = true;
    unixctl_command_reply(conn, NULL);
}

/* "status": the store and every node's state (see conjflowd(8)). */
static void
conjflowd_status(struct unixctl_conn *conn, int argc OVS_UNUSED,
                 const char *argv[] OVS_UNUSED, void *d_)
{
    struct daemon_state *d = d_;
    struct ds s = DS_EMPTY_INITIALIZER;
    ds_put_format(&s, "store: %s, seq %"PRIu64" (%s), loaded in %.1f ms\n",
                  db_path, d->seq, d->loaded ? "loaded" : "not loaded",
                  d->load_us / 1000.0);
    if (d->store_error) {
        ds_put_format(&s, "  last error: %s\n", d->store_error);
    }
    ds_put_format(&s, "cluster: %"PRIuSIZE" namespaces, %"PRIuSIZE" pods, "
                  "%"PRIuSIZE" policies, %"PRIuSIZE" nodes; the last change "
                  "recompiled %"PRIuSIZE" nodes\n",
                  d->cluster.n_namespaces, d->cluster.n_pods,
                  d->cluster.n_policies, d->cluster.n_nodes,
                  d->n_affected);
    if (d->last_sync_ms >= 0) {
        ds_put_format(&s, "sync: all nodes in sync, last change took "
                      "%lld ms\n", d->last_sync_ms);
    } else {
        ds_put_cstr(&s, "sync: pending\n");
    }

    const struct shash_node **nodes = shash_sort(&d->nodes);
    for (size_t i = 0; i < shash_count(&d->nodes); i++) {
        const struct node_ctx *n = nodes[i]->data;
        cf_switch_format_status(n->sw, &s);
        struct cf_node_cache_stats cs;
        memset(&cs, 0, sizeof cs);
        if (n->cache) {
            cf_node_cache_get_stats(n->cache, &cs);
        }
        ds_put_format(&s, "  compiled: %"PRIuSIZE" flows in %.1f ms, "
                      "converted in %.1f ms, merged %"PRIu64" times "
                      "incrementally, %"PRIu64" in full; rules reused "
                      "%"PRIu64", patched %"PRIu64"; %"PRIu64" distinct "
                      "peer sets (clause 1s)\n", n->n_flows,
                      n->compile_us / 1000.0, n->convert_us / 1000.0,
                      cs.n_updates, cs.n_fallbacks + cs.n_full,
                      cs.n_rules_reused, cs.n_rules_patched, cs.n_blocks);
        ctsweep_format_status(n, &s);
    }
    free(nodes);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* Appends the answer of "sync" to 's': the store sequence conjflowd has
 * loaded, whether every node is in sync with it, the last change's
 * change-to-sync time, and flow_mod and bundle totals. */
static void
format_sync(const struct daemon_state *d, struct ds *s)
{
    uint64_t n_flow_mods = 0, n_bundles = 0;
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        const struct node_ctx *n = sn->data;
        n_flow_mods += cf_switch_n_flow_mods(n->sw);
        n_bundles += cf_switch_n_bundles(n->sw);
    }
    ds_put_format(s, "seq=%"PRIu64" synced=%s ms=%lld flow_mods=%"PRIu64
                  " bundles=%"PRIu64"\n", d->seq,
                  d->loaded && all_synced(d) ? "yes" : "no",
                  d->last_sync_ms, n_flow_mods, n_bundles);
}

/* "sync": one line, "seq=N synced=yes|no ...", for scripts and
 * benchmarks.  Looks at the store first, so "synced=yes" means in sync with
 * everything committed before the command. */
static void
conjflowd_sync(struct unixctl_conn *conn, int argc OVS_UNUSED,
               const char *argv[] OVS_UNUSED, void *d_)
{
    struct daemon_state *d = d_;
    if (store_run(d, false)) {
        nodes_sync(d);
    }
    struct ds s = DS_EMPTY_INITIALIZER;
    format_sync(d, &s);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* "sync/wait [TIMEOUT_MS]": answers as "sync" once every node is in sync
 * with the store as it is now (at once if it already is), or with an error
 * after TIMEOUT_MS (default 30000).  For scripts: "conjflowctl apply -f x
 * && ovs-appctl -t conjflowd sync/wait" returns when x is enforced. */
static void
conjflowd_sync_wait(struct unixctl_conn *conn, int argc,
                    const char *argv[], void *d_)
{
    struct daemon_state *d = d_;
    long long int timeout = 30000;
    if (argc > 1) {
        char *end;
        timeout = strtoll(argv[1], &end, 10);
        if (*end || timeout < 0) {
            unixctl_command_reply_error(conn, "TIMEOUT_MS must be a "
                                        "number of milliseconds");
            return;
        }
    }
    uint64_t seq;
    char *error = cf_store_seq(d->store, &seq);
    if (error) {
        unixctl_command_reply_error(conn, error);
        free(error);
        return;
    }
    if (store_run(d, false)) {
        nodes_sync(d);
    }
    if (d->n_waiters >= d->allocated_waiters) {
        d->waiters = x2nrealloc(d->waiters, &d->allocated_waiters,
                                sizeof *d->waiters);
    }
    struct sync_waiter *w = &d->waiters[d->n_waiters++];
    w->conn = conn;
    w->seq = seq;
    w->deadline = time_msec() + timeout;
    sync_waiters_run(d);
}

/* Answers the "sync/wait" commands whose wait is over: every node in sync
 * and the conntrack sweeps that follow a revoking change done. */
static void
sync_waiters_run(struct daemon_state *d)
{
    if (!d->n_waiters) {
        return;
    }
    bool synced = d->loaded && all_synced(d) && ctsweep_settled(d);
    size_t n = 0;
    for (size_t i = 0; i < d->n_waiters; i++) {
        struct sync_waiter *w = &d->waiters[i];
        if (synced && d->seq >= w->seq) {
            struct ds s = DS_EMPTY_INITIALIZER;
            format_sync(d, &s);
            unixctl_command_reply(w->conn, ds_cstr(&s));
            ds_destroy(&s);
        } else if (time_msec() >= w->deadline) {
            struct ds s = DS_EMPTY_INITIALIZER;
            ds_put_format(&s, "not in sync with store seq %"PRIu64" in "
                          "time: ", w->seq);
            format_sync(d, &s);
            ds_chomp(&s, '\n');
            ds_put_cstr(&s, " (see \"status\")");
            unixctl_command_reply_error(w->conn, ds_cstr(&s));
            ds_destroy(&s);
        } else {
            d->waiters[n++] = *w;
        }
    }
    d->n_waiters = n;
}

/* Arranges for poll_block() to wake up at the next "sync/wait" deadline
 * (being in sync wakes it up through the switches). */
static void
sync_waiters_wait(const struct daemon_state *d)
{
    for (size_t i = 0; i < d->n_waiters; i++) {
        poll_timer_wait_until(d->waiters[i].deadline);
    }
}

/* Finds the node named 'name' or replies with an error. */
struct node_ctx *
find_node(struct daemon_state *d, struct unixctl_conn *conn,
          const char *name)
{
    struct node_ctx *n = shash_find_data(&d->nodes, name);
    if (!n) {
        char *msg = xasprintf("%s: no such node", name);
        unixctl_command_reply_error(conn, msg);
        free(msg);
    }
    return n;
}

/* "flows/desired NODE": NODE's desired flows, sorted. */
static void
conjflowd_flows_desired(struct unixctl_conn *conn, int argc OVS_UNUSED,
                        const char *argv[], void *d_)
{
    struct node_ctx *n = find_node(d_, conn, argv[1]);
    if (n) {
        struct ds s = DS_EMPTY_INITIALIZER;
        cf_switch_format_desired(n->sw, &s);
        unixctl_command_reply(conn, ds_cstr(&s));
        ds_destroy(&s);
    }
}

/* "flows/installed NODE": the flows conjflowd believes NODE has. */
static void
conjflowd_flows_installed(struct unixctl_conn *conn, int argc OVS_UNUSED,
                          const char *argv[], void *d_)
{
    struct node_ctx *n = find_node(d_, conn, argv[1]);
    if (n) {
        struct ds s = DS_EMPTY_INITIALIZER;
        cf_switch_format_installed(n->sw, &s);
        unixctl_command_reply(conn, ds_cstr(&s));
        ds_destroy(&s);
    }
}

/* "recompute": reloads the whole store, compiles every node from scratch
 * and reads every switch's flows again.  Unchanged state sends nothing. */
static void
conjflowd_recompute(struct unixctl_conn *conn, int argc OVS_UNUSED,
                    const char *argv[] OVS_UNUSED, void *d_)
{
    struct daemon_state *d = d_;
    store_run(d, true);
    nodes_sync(d);
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        if (cf_switch_ports_known(n->sw)) {
            cf_node_cache_clear(n->cache);      /* From scratch. */
            n->cache_synced = false;
            node_compile(d, n);
        }
        cf_switch_reconcile(n->sw);
    }
    unixctl_command_reply(conn, NULL);
}

/* ---- Options ------------------------------------------------------------ */

/* Parses the command line (after the configuration file's settings, see
 * conjflow/cfconfig.h) and sets the globals above. */
static void
parse_options(int argc, char *argv[])
{
    enum {
        OPT_DB = UCHAR_MAX + 1,
        OPT_UNIXCTL,
        OPT_POLL_INTERVAL,
        OPT_OPENFLOW_PORT,
        OPT_BOOTSTRAP_CA_CERT,
        OPT_CHECK_INCREMENTAL,
        OPT_AUDIT_LOG,
        OPT_LOG_ALL_DENIES,
        OPT_AUDIT_RATE,
        OPT_STATS_INTERVAL,
        OPT_METRICS_ADDRESS,
        OPT_NO_DATAPATH_PURGE,
        OPT_NO_CONNTRACK_SWEEP,
        VLOG_OPTION_ENUMS,
        DAEMON_OPTION_ENUMS,
        SSL_OPTION_ENUMS,
    };
    static const struct option long_options[] = {
        {"db", required_argument, NULL, OPT_DB},
        {"unixctl", required_argument, NULL, OPT_UNIXCTL},
        {"poll-interval", required_argument, NULL, OPT_POLL_INTERVAL},
        {"openflow-port", required_argument, NULL, OPT_OPENFLOW_PORT},
        {"check-incremental", no_argument, NULL, OPT_CHECK_INCREMENTAL},
        {"audit-log", required_argument, NULL, OPT_AUDIT_LOG},
        {"log-all-denies", no_argument, NULL, OPT_LOG_ALL_DENIES},
        {"audit-rate", required_argument, NULL, OPT_AUDIT_RATE},
        {"stats-interval", required_argument, NULL, OPT_STATS_INTERVAL},
        {"metrics-address", required_argument, NULL, OPT_METRICS_ADDRESS},
        {"no-datapath-purge", no_argument, NULL, OPT_NO_DATAPATH_PURGE},
        {"no-conntrack-sweep", no_argument, NULL, OPT_NO_CONNTRACK_SWEEP},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        VLOG_LONG_OPTIONS,
        DAEMON_LONG_OPTIONS,
        STREAM_SSL_LONG_OPTIONS,
        {"bootstrap-ca-cert", required_argument, NULL,
         OPT_BOOTSTRAP_CA_CERT},
        {NULL, 0, NULL, 0},
    };

    /* The vector with the configuration file's settings lives as long as
     * the program: the option values point into it. */
    char *error = cf_config_apply("conjflowd", long_options, &argc, &argv);
    if (error) {
        ovs_fatal(0, "%s", error);
    }
    config_argv = argv;
    config_argc = argc;

    char *short_options = ovs_cmdl_long_options_to_short_options(long_options);
    for (;;) {
        int c = getopt_long(argc, argv, short_options, long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_DB:
            db_path = optarg;
            break;
        case OPT_UNIXCTL:
            unixctl_path = optarg;
            break;
        case OPT_POLL_INTERVAL:
            poll_interval = atoi(optarg);
            if (poll_interval < 1 || poll_interval > 60000) {
                ovs_fatal(0, "--poll-interval: %s is not between 1 and "
                          "60000 ms", optarg);
            }
            break;
        case OPT_OPENFLOW_PORT: {
            int port = atoi(optarg);
            if (port < 1 || port > 65535) {
                ovs_fatal(0, "--openflow-port: %s is not a port", optarg);
            }
            cf_switch_set_openflow_port(port);
            break;
        }
        case OPT_CHECK_INCREMENTAL:
            check_incremental = true;
            break;
        case OPT_AUDIT_LOG:
            audit_log_path = optarg;
            break;
        case OPT_LOG_ALL_DENIES:
            log_all_denies = true;
            break;
        case OPT_NO_DATAPATH_PURGE:
            /* See ofproto/switch.c, "Datapath cache purge". */
            cf_switch_set_datapath_purge(false);
            break;
        case OPT_NO_CONNTRACK_SWEEP:
            /* See conjflowd-ctsweep.c. */
            ctsweep_enabled = false;
            break;
        case OPT_AUDIT_RATE: {
            unsigned int rate, burst;
            int n = sscanf(optarg, "%u/%u", &rate, &burst);
            if (n < 1 || !rate || (n == 2 && !burst)) {
                ovs_fatal(0, "--audit-rate: \"%s\" is not RATE or "
                          "RATE/BURST (packets per second, packets)",
                          optarg);
            }
            cf_switch_set_audit_meter(rate, n == 2 ? burst : 2 * rate);
            break;
        }
        case OPT_STATS_INTERVAL:
            stats_interval = atoi(optarg);
            if (stats_interval < 100 || stats_interval > 3600000) {
                ovs_fatal(0, "--stats-interval: %s is not between 100 and "
                          "3600000 ms", optarg);
            }
            break;
        case OPT_METRICS_ADDRESS:
            metrics_address = optarg;
            break;
        case 'h':
            usage();
        case 'V':
            ovs_print_version(0, 0);
            printf("conjflowd (conjflow) %s\n", "0.1.0");
            exit(EXIT_SUCCESS);
        VLOG_OPTION_HANDLERS
        DAEMON_OPTION_HANDLERS
        STREAM_SSL_OPTION_HANDLERS
        case OPT_BOOTSTRAP_CA_CERT:
            stream_ssl_set_ca_cert_file(optarg, true);
            break;
        case '?':
            exit(EXIT_FAILURE);
        default:
            abort();
        }
    }
    free(short_options);
    if (optind != argc) {
        ovs_fatal(0, "%s: unexpected argument (see --help)", argv[optind]);
    }
    db_path = cf_store_path(db_path);
}

/* Prints --help and exits. */
static void
usage(void)
{
    printf("%s: the conjflow controller: programs NetworkPolicy on every "
           "node's Open vSwitch\n"
           "usage: %s [OPTIONS]\n"
           "\nOptions:\n"
           "  --db=PATH               store (default $%s or %s)\n"
           "  --poll-interval=MS      how often to look for store changes "
           "(default 10;\n"
           "                          on Linux a write to the store also "
           "wakes conjflowd)\n"
           "  --openflow-port=PORT    OpenFlow listener port on nodes "
           "reached by tcp:/ssl:\n"
           "                          (default 6653)\n"
           "  --check-incremental     also compile untouched nodes and "
           "check their flows\n"
           "                          did not change (for tests)\n"
           "  --audit-log=FILE        append the audit log to FILE\n"
           "  --log-all-denies        log every connection isolation "
           "denies\n"
           "  --no-datapath-purge     don't empty vswitchd's datapath "
           "flow cache after\n"
           "                          each change (see conjflowd(8))\n"
           "  --no-conntrack-sweep    don't flush the conntrack entries of "
           "connections a\n"
           "                          change revoked (see conjflowd(8))\n"
           "  --audit-rate=R[/B]      audit packets per second (and burst) "
           "per node\n"
           "                          (default 100/200)\n"
           "  --stats-interval=MS     how often to store flow statistics "
           "(default 10000)\n"
           "  --metrics-address=IP:PORT  serve Prometheus metrics over "
           "HTTP\n"
           "  --unixctl=SOCKET        control socket (default "
           "<rundir>/conjflowd.<pid>.ctl)\n"
           "  --config=FILE           read options from FILE (default "
           "/etc/conjflow/conjflowd.conf\n"
           "                          if it exists); --no-config reads "
           "none\n"
           "  -h, --help              display this help message\n"
           "  -V, --version           display version information\n",
           program_name, program_name, CF_STORE_ENV, CF_STORE_DEFAULT_PATH);
    daemon_usage();
    vlog_usage();
    stream_usage("OVSDB and OpenFlow", true, false, true);
    exit(EXIT_SUCCESS);
}
