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
 *      number; if that moved, reload the cluster and mark every node for
 *      recompilation (a full recompute per change: simple and exactly
 *      what the compiler's contract guarantees);
 *   2. the node set: a switch per Node object (recreated if its OVSDB
 *      remote or bridge changes);
 *   3. each switch runs; a node whose ports changed is recompiled and its
 *      bindings are recorded in the store;
 *   4. each node marked for recompilation whose ports are known gets its
 *      desired flows; the switch sends the difference in one bundle.
 * A node that cannot be reached only shows up in the status; the others
 * go on.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "command-line.h"
#include "conjflow/cfconfig.h"
#include "conjflow/cflow.h"
#include "conjflow/compiler.h"
#include "conjflow/model.h"
#include "conjflow/store.h"
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

/* Command-line settings. */
static const char *db_path;             /* --db. */
static char *unixctl_path;              /* --unixctl. */
static int poll_interval = 10;          /* --poll-interval, ms. */
static bool check_incremental;          /* --check-incremental. */
static char **config_argv;              /* The command line with the
                                         * configuration file's settings
                                         * (option values point into it). */
static int config_argc;                 /* Number of 'config_argv'. */

/* One node conjflowd manages. */
struct node_ctx {
    char *name;                 /* Node name (key in 'nodes'). */
    struct cf_switch *sw;       /* Its switch. */
    unsigned int ports_seqno;   /* Switch ports seqno last compiled. */
    bool dirty;                 /* Must be compiled again. */
    long long int compile_ms;   /* Duration of the last compilation. */
    long long int convert_ms;   /* Duration of the last conversion to
                                 * OpenFlow (cf_switch_set_desired()). */
    size_t n_flows;             /* Flows of the last compilation. */
    struct cflow_set last;      /* Flows of the last compilation (for
                                 * --check-incremental). */
};

/* The daemon's state. */
struct daemon_state {
    struct cf_store *store;     /* The store. */
    int64_t data_version;       /* SQLite data_version last seen. */
    bool have_version;          /* 'data_version' is valid. */
    uint64_t seq;               /* Store sequence of 'cluster'. */
    bool loaded;                /* 'cluster' has been loaded. */
    struct cf_cluster cluster;  /* The cluster as of 'seq'. */
    struct cf_compiler *compiler;   /* Compiler over 'cluster'. */
    struct shash nodes;         /* Node name -> struct node_ctx. */
    char *store_error;          /* Last store error, or NULL. */
    long long int load_ms;      /* Duration of the last reload. */
    long long int change_start; /* When the last change was seen (ms). */
    long long int last_sync_ms; /* Change-to-sync time of the last change,
                                 * or -1 while pending. */
    size_t n_affected;          /* Nodes the last change recompiled. */
    bool exiting;               /* "exit" was requested. */
};

static unixctl_cb_func conjflowd_exit;
static unixctl_cb_func conjflowd_status;
static unixctl_cb_func conjflowd_sync;
static unixctl_cb_func conjflowd_flows_desired;
static unixctl_cb_func conjflowd_flows_installed;
static unixctl_cb_func conjflowd_recompute;

static void parse_options(int argc, char *argv[]);
OVS_NO_RETURN static void usage(void);

/* Records 'error' (taking ownership) as the last store error. */
static void
set_store_error(struct daemon_state *d, char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 10);
    VLOG_WARN_RL(&rl, "store %s: %s", db_path, error);
    free(d->store_error);
    d->store_error = error;
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
 *     whose peers may include the old or the new pod.
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

/* Marks the nodes of the pods of 'c' that 'p' selects. */
static void
mark_policy_nodes(struct daemon_state *d, const struct cf_cluster *c,
                  const struct cf_policy *p)
{
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

/* True if rule 'r' of 'p' may select 'pod' of cluster 'c' as a peer. */
static bool
rule_may_select(const struct cf_cluster *c, const struct cf_policy *p,
                const struct cf_rule *r, const struct cf_pod *pod)
{
    if (!r->n_peers) {
        /* Every peer: only named ports resolve against pods. */
        for (size_t i = 0; i < r->n_ports; i++) {
            if (r->ports[i].kind == CF_PORT_NAME) {
                return true;
            }
        }
        return false;
    }
    for (size_t i = 0; i < r->n_peers; i++) {
        const struct cf_peer *peer = &r->peers[i];
        if (peer->has_ipblock) {
            continue;
        }
        bool ns_ok;
        if (peer->has_ns_sel) {
            const struct cf_namespace *ns
                = cf_cluster_find_namespace(c, pod->ns);
            ns_ok = ns && cf_selector_matches(&peer->ns_sel, &ns->labels);
        } else {
            ns_ok = !strcmp(pod->ns, p->ns);
        }
        if (ns_ok && (!peer->has_pod_sel
                      || cf_selector_matches(&peer->pod_sel,
                                             &pod->labels))) {
            return true;
        }
    }
    return false;
}

/* True if some rule of 'p' may select 'pod' as a peer. */
static bool
policy_may_select_peer(const struct cf_cluster *c, const struct cf_policy *p,
                       const struct cf_pod *pod)
{
    for (size_t i = 0; i < p->n_ingress; i++) {
        if (rule_may_select(c, p, &p->ingress_rules[i], pod)) {
            return true;
        }
    }
    for (size_t i = 0; i < p->n_egress; i++) {
        if (rule_may_select(c, p, &p->egress_rules[i], pod)) {
            return true;
        }
    }
    return false;
}

/* Marks the nodes touched by a change of 'pod' (a version of it in
 * cluster 'c'). */
static void
mark_pod(struct daemon_state *d, const struct cf_cluster *c,
         const struct cf_pod *pod)
{
    mark_node(d, pod->node);
    for (size_t i = 0; i < c->n_policies; i++) {
        const struct cf_policy *p = c->policies[i];
        if (policy_may_select_peer(c, p, pod)) {
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
    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    error = cf_store_load(d->store, &cluster, &seq);
    if (error) {
        cf_cluster_destroy(&cluster);
        set_store_error(d, error);
        return false;
    }
    /* Which nodes the change touches: from the change feed, comparing the
     * objects before and after.  Everything, if we can't tell. */
    bool all = force || !d->loaded;
    struct cf_change *changes = NULL;
    size_t n_changes = 0;
    if (!all) {
        uint64_t last;
        bool too_old;
        error = cf_store_changes(d->store, d->seq, 0, &changes, &n_changes,
                                 &last, &too_old);
        if (error) {
            VLOG_WARN("store %s: reading the change feed: %s (recompiling "
                      "every node)", db_path, error);
            free(error);
            all = true;
        } else if (too_old || last != seq) {
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
    for (size_t i = 0; i < n_changes; i++) {
        cf_change_destroy(&changes[i]);
    }
    free(changes);

    /* The compiler keeps pointers into the cluster: replace both. */
    cf_compiler_destroy(d->compiler);
    cf_cluster_destroy(&d->cluster);
    d->cluster = cluster;
    d->compiler = cf_compiler_create(&d->cluster);
    if (check_incremental) {
        check_untouched_nodes(d);
    }
    d->seq = seq;
    d->loaded = true;
    d->load_ms = time_msec() - start;
    if (!d->change_start || d->last_sync_ms >= 0) {
        d->change_start = start;
    }
    d->last_sync_ms = -1;
    free(d->store_error);
    d->store_error = NULL;
    COVERAGE_INC(conjflowd_reload);
    VLOG_INFO("store seq %"PRIu64": %"PRIuSIZE" namespaces, %"PRIuSIZE
              " pods, %"PRIuSIZE" policies, %"PRIuSIZE" nodes (%lld ms)",
              seq, d->cluster.n_namespaces, d->cluster.n_pods,
              d->cluster.n_policies, d->cluster.n_nodes, d->load_ms);
    return true;
}

/* Frees 'n' and its switch (the switch's flows stay).  Accepts NULL. */
static void
node_ctx_destroy(struct node_ctx *n)
{
    if (n) {
        cf_switch_destroy(n->sw);
        cflow_set_destroy(&n->last);
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
    long long int start = time_msec();
    struct cflow_set flows;
    cflow_set_init(&flows);
    char *error = cf_compiler_node_flows(d->compiler, node,
                                         cf_switch_get_ports(n->sw), &flows);
    bool failed = error != NULL;
    if (error) {
        /* Fail closed: the last good flows stay. */
        cf_switch_set_error(n->sw, error);
        free(error);
    } else {
        long long int mid = time_msec();
        n->compile_ms = mid - start;
        error = cf_switch_set_desired(n->sw, &flows);
        free(error);            /* Recorded in the switch's status. */
        n->n_flows = flows.n;
        n->convert_ms = time_msec() - mid;
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

/* Starts the daemon (see the file comment) and runs its main loop until
 * "exit". */
int
main(int argc, char *argv[])
{
    struct daemon_state d;
    memset(&d, 0, sizeof d);
    cf_cluster_init(&d.cluster);
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
            memory_report(&usage);
            simap_destroy(&usage);
        }

        if (store_run(&d, false)) {
            nodes_sync(&d);
        }
        nodes_run(&d);
        if (d.last_sync_ms < 0 && d.loaded && all_synced(&d)) {
            d.last_sync_ms = time_msec() - d.change_start;
            VLOG_INFO("store seq %"PRIu64" in sync on %"PRIuSIZE" nodes "
                      "(%lld ms after the change was seen)", d.seq,
                      shash_count(&d.nodes), d.last_sync_ms);
        }
        unixctl_server_run(unixctl);

        memory_wait();
        nodes_wait(&d);
        unixctl_server_wait(unixctl);
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
    cf_compiler_destroy(d.compiler);
    cf_cluster_destroy(&d.cluster);
    cf_store_close(d.store);
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
    ds_put_format(&s, "store: %s, seq %"PRIu64" (%s), loaded in %lld ms\n",
                  db_path, d->seq, d->loaded ? "loaded" : "not loaded",
                  d->load_ms);
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
        ds_put_format(&s, "  compiled: %"PRIuSIZE" flows in %lld ms, "
                      "converted in %lld ms\n", n->n_flows, n->compile_ms,
                      n->convert_ms);
    }
    free(nodes);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
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
    uint64_t n_flow_mods = 0, n_bundles = 0;
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        const struct node_ctx *n = sn->data;
        n_flow_mods += cf_switch_n_flow_mods(n->sw);
        n_bundles += cf_switch_n_bundles(n->sw);
    }
    ds_put_format(&s, "seq=%"PRIu64" synced=%s ms=%lld flow_mods=%"PRIu64
                  " bundles=%"PRIu64"\n", d->seq,
                  d->loaded && all_synced(d) ? "yes" : "no",
                  d->last_sync_ms, n_flow_mods, n_bundles);
    unixctl_command_reply(conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* Finds the node named 'name' or replies with an error. */
static struct node_ctx *
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
           "(default 10)\n"
           "  --openflow-port=PORT    OpenFlow listener port on nodes "
           "reached by tcp:/ssl:\n"
           "                          (default 6653)\n"
           "  --check-incremental     also compile untouched nodes and "
           "check their flows\n"
           "                          did not change (for tests)\n"
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
