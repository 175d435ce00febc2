/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowd's observability, the daemon side (controller/observe.c formats
 * audit lines and statistics; conjflowd-metrics.c serves the Prometheus
 * endpoint): the audit log (packet-ins from audit flows, see
 * controller/observe.h), per-rule statistics (a flow stats dump of every
 * node every --stats-interval and on "stats"), realization status, and the
 * "stats" and "audit/reopen" commands.  What conjflowctl reads goes into
 * the store's meta table:
 *
 *   stats/NODE    cf_stats_format()'s text for NODE (latest dump);
 *   realization   one line per policy:
 *                 "NS/NAME id=ID seq=S nodes=N realized=R", where S is the
 *                 store seq of the policy's last change, N the nodes with a
 *                 pod bound to their bridge that the policy selects, and R
 *                 those of them in sync at a seq >= S.
 */
#include <config.h>

#include "controller/conjflowd.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/model.h"
#include "conjflow/store.h"
#include "controller/observe.h"
#include "ofproto/switch.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/shash.h"
#include "timeval.h"
#include "unixctl.h"
#include "util.h"

/* A "stats" command waiting for fresh counters. */
struct stats_req {
    struct unixctl_conn *conn;  /* Where to reply. */
    char *node;                 /* Only this node, or NULL for all. */
    long long int deadline;     /* Reply with what there is by then. */
};

static unixctl_cb_func conjflowd_stats;
static unixctl_cb_func conjflowd_audit_reopen;

/* Packet-in callback of every switch: the audit log. */
static void
packet_in_cb(struct cf_switch *sw, const struct ofputil_packet_in *pin,
             void *d_)
{
    struct daemon_state *d = d_;
    d->obs->n_packet_ins++;
    cf_audit_packet_in(d->obs->audit, &d->cluster, cf_switch_get_name(sw),
                       pin);
}

/* Sets up observability from the command-line options. */
void
observe_init(struct daemon_state *d)
{
    struct observe *obs = xzalloc(sizeof *obs);
    d->obs = obs;
    shash_init(&obs->policy_seq);
    if (audit_log_path) {
        char *error = cf_audit_open(audit_log_path, &obs->audit);
        if (error) {
            ovs_fatal(0, "%s", error);
        }
    }
    obs->next_stats = time_msec() + 1000;
    unixctl_command_register("stats", "[NODE]", 0, 1, conjflowd_stats, d);
    unixctl_command_register("audit/reopen", "", 0, 0,
                             conjflowd_audit_reopen, d);
    if (metrics_address) {
        metrics_create(d, metrics_address);
    }
}

/* A new node's switch: route its packet-ins to the audit log. */
void
observe_node_created(struct daemon_state *d, struct node_ctx *n)
{
    cf_switch_set_packet_in_cb(n->sw, packet_in_cb, d);
}

/* Frees the observability state. */
void
observe_destroy(struct daemon_state *d)
{
    struct observe *obs = d->obs;
    if (!obs) {
        return;
    }
    for (size_t i = 0; i < obs->n_reqs; i++) {
        unixctl_command_reply_error(obs->reqs[i].conn, "exiting");
        free(obs->reqs[i].node);
    }
    free(obs->reqs);
    shash_destroy_free_data(&obs->policy_seq);
    free(obs->realization);
    cf_audit_close(obs->audit);
    metrics_destroy(obs->metrics);
    free(obs);
    d->obs = NULL;
}

/* Appends the statistics of node 'n' (its last dump). */
static void
format_node_stats(const struct daemon_state *d, const struct node_ctx *n,
                  struct ds *s)
{
    const struct cf_flow_counter *counters;
    size_t n_counters;
    long long int when;
    cf_switch_get_stats(n->sw, &counters, &n_counters, &when);
    cf_stats_format(&d->cluster, n->name, counters, n_counters, when, s);
}

/* Replies to 'req' with the statistics it asked for. */
static void
stats_reply(struct daemon_state *d, struct stats_req *req)
{
    struct ds s = DS_EMPTY_INITIALIZER;
    const struct shash_node **nodes = shash_sort(&d->nodes);
    for (size_t i = 0; i < shash_count(&d->nodes); i++) {
        const struct node_ctx *n = nodes[i]->data;
        if (!req->node || !strcmp(req->node, n->name)) {
            format_node_stats(d, n, &s);
        }
    }
    free(nodes);
    unixctl_command_reply(req->conn, ds_cstr(&s));
    ds_destroy(&s);
}

/* True if every node 'req' is about has the counters it waits for. */
static bool
stats_req_done(const struct daemon_state *d, const struct stats_req *req)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        const struct node_ctx *n = sn->data;
        if (req->node && strcmp(req->node, n->name)) {
            continue;
        }
        const struct cf_flow_counter *counters;
        size_t n_counters;
        long long int when;
        unsigned int seqno = cf_switch_get_stats(n->sw, &counters,
                                                 &n_counters, &when);
        if (n->stats_wanted && seqno < n->stats_wanted) {
            return false;
        }
    }
    return true;
}

/* Asks every node (with 'only_synced', every node in sync: the periodic
 * dump stays out of the way of a large update) for its counters; a node
 * that is asked records the dump seqno that will answer. */
static void
request_all_stats(struct daemon_state *d, bool only_synced)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        if (only_synced && (n->dirty || !cf_switch_is_synced(n->sw))) {
            continue;
        }
        const struct cf_flow_counter *counters;
        size_t n_counters;
        long long int when;
        unsigned int seqno = cf_switch_get_stats(n->sw, &counters,
                                                 &n_counters, &when);
        if (cf_switch_request_stats(n->sw)) {
            if (n->stats_wanted <= seqno) {
                n->stats_wanted = seqno + 1;
            }
        } else {
            n->stats_wanted = 0;
        }
    }
}

/* Brings 'policy_seq' up to date with the change feed. */
static void
update_policy_seq(struct daemon_state *d)
{
    struct observe *obs = d->obs;
    if (obs->feed_read && obs->feed_seq == d->seq) {
        return;
    }
    bool reset = !obs->feed_read;
    if (!reset) {
        struct cf_change *changes = NULL;
        size_t n_changes = 0;
        uint64_t last;
        bool too_old;
        char *error = cf_store_changes(d->store, obs->feed_seq, 0,
                                       &changes, &n_changes, &last,
                                       &too_old);
        if (error || too_old) {
            free(error);
            reset = true;
        } else {
            for (size_t i = 0; i < n_changes; i++) {
                const struct cf_objref *ref = &changes[i].ref;
                if (ref->kind == CF_KIND_POLICY) {
                    char *key = xasprintf("%s/%s", ref->ns, ref->name);
                    uint64_t *seq = shash_find_data(&obs->policy_seq, key);
                    if (!seq) {
                        seq = xmalloc(sizeof *seq);
                        shash_add(&obs->policy_seq, key, seq);
                    }
                    *seq = changes[i].seq;
                    free(key);
                }
            }
        }
        for (size_t i = 0; i < n_changes; i++) {
            cf_change_destroy(&changes[i]);
        }
        free(changes);
    }
    if (reset) {
        /* Unknown history: count every policy as changed now. */
        shash_clear_free_data(&obs->policy_seq);
        for (size_t i = 0; i < d->cluster.n_policies; i++) {
            const struct cf_policy *p = d->cluster.policies[i];
            uint64_t *seq = xmalloc(sizeof *seq);
            *seq = d->seq;
            shash_add_nocopy(&obs->policy_seq,
                             xasprintf("%s/%s", p->ns, p->name), seq);
        }
    }
    obs->feed_seq = d->seq;
    obs->feed_read = true;
}

/* The pods of one namespace bound to some node's bridge, or scheduled on
 * one of the nodes (spec.nodeName). */
struct bound_pods {
    const struct cf_pod **pods; /* The pods. */
    size_t *nodes;              /* Per pod: index of its node. */
    size_t n, allocated;
};

/* Adds 'pod' (if nonnull and not host-network) on node index 'node' to
 * 'by_ns' (namespace -> struct bound_pods). */
static void
add_bound_pod(struct shash *by_ns, const struct cf_pod *pod, size_t node)
{
    if (!pod || pod->host_network) {
        return;
    }
    struct bound_pods *bp = shash_find_data(by_ns, pod->ns);
    if (!bp) {
        bp = xzalloc(sizeof *bp);
        shash_add(by_ns, pod->ns, bp);
    }
    if (bp->n >= bp->allocated) {
        bp->pods = x2nrealloc(bp->pods, &bp->allocated, sizeof *bp->pods);
        bp->nodes = xrealloc(bp->nodes, bp->allocated * sizeof *bp->nodes);
    }
    bp->pods[bp->n] = pod;
    bp->nodes[bp->n++] = node;
}

/* Recomputes the realization status and stores it if it changed. */
static void
update_realization(struct daemon_state *d)
{
    struct observe *obs = d->obs;
    if (!d->loaded) {
        return;
    }
    update_policy_seq(d);

    /* Bound and scheduled pods by namespace, with their nodes (a node
     * that cannot be reached counts through its scheduled pods). */
    const struct shash_node **nodes = shash_sort(&d->nodes);
    size_t n_nodes = shash_count(&d->nodes);
    struct shash by_ns = SHASH_INITIALIZER(&by_ns);
    struct shash node_index = SHASH_INITIALIZER(&node_index);
    for (size_t i = 0; i < n_nodes; i++) {
        const struct node_ctx *n = nodes[i]->data;
        shash_add(&node_index, n->name, (void *) (uintptr_t) (i + 1));
        if (!cf_switch_ports_known(n->sw)) {
            continue;
        }
        const struct cf_node_ports *ports = cf_switch_get_ports(n->sw);
        for (size_t j = 0; j < ports->n_bindings; j++) {
            const char *b = ports->bindings[j].pod;
            const char *slash = strchr(b, '/');
            if (!slash) {
                continue;
            }
            char *ns = xmemdup0(b, slash - b);
            add_bound_pod(&by_ns, cf_cluster_find_pod(&d->cluster, ns,
                                                      slash + 1), i);
            free(ns);
        }
    }
    for (size_t i = 0; i < d->cluster.n_pods; i++) {
        const struct cf_pod *pod = d->cluster.pods[i];
        uintptr_t idx = (pod->node
                         ? (uintptr_t) shash_find_data(&node_index,
                                                       pod->node)
                         : 0);
        if (idx) {
            add_bound_pod(&by_ns, pod, idx - 1);
        }
    }
    shash_destroy(&node_index);

    struct ds s = DS_EMPTY_INITIALIZER;
    bool *applies = xcalloc(n_nodes ? n_nodes : 1, sizeof *applies);
    for (size_t i = 0; i < d->cluster.n_policies; i++) {
        const struct cf_policy *p = d->cluster.policies[i];
        char *key = xasprintf("%s/%s", p->ns, p->name);
        uint64_t *seqp = shash_find_data(&obs->policy_seq, key);
        uint64_t seq = seqp ? *seqp : d->seq;
        memset(applies, 0, n_nodes * sizeof *applies);
        const struct bound_pods *bp = shash_find_data(&by_ns, p->ns);
        for (size_t j = 0; bp && j < bp->n; j++) {
            if (!applies[bp->nodes[j]]
                && cf_selector_matches(&p->pod_sel, &bp->pods[j]->labels)) {
                applies[bp->nodes[j]] = true;
            }
        }
        size_t n_applies = 0, n_realized = 0;
        for (size_t j = 0; j < n_nodes; j++) {
            const struct node_ctx *n = nodes[j]->data;
            if (applies[j]) {
                n_applies++;
                n_realized += n->synced_seq && n->synced_seq >= seq;
            }
        }
        ds_put_format(&s, "%s id=%"PRIu32" seq=%"PRIu64" nodes=%"PRIuSIZE
                      " realized=%"PRIuSIZE"\n", key, p->id, seq, n_applies,
                      n_realized);
        free(key);
    }
    free(applies);
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &by_ns) {
        struct bound_pods *bp = sn->data;
        free(bp->pods);
        free(bp->nodes);
    }
    shash_destroy_free_data(&by_ns);
    free(nodes);

    if (!obs->realization || strcmp(obs->realization, ds_cstr(&s))) {
        char *error = cf_store_meta_set(d->store, "realization",
                                        ds_cstr(&s));
        if (error) {
            set_store_error(d, error);
        } else {
            free(obs->realization);
            obs->realization = ds_steal_cstr(&s);
        }
    }
    ds_destroy(&s);
}

/* How long observe_run() may hold its store writes (ms). */
#define WRITES_HOLD_MS 1000

/* True if a node has a change to compile or on its way to its switch. */
static bool
changes_in_flight(const struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        const struct node_ctx *n = sn->data;
        if (n->dirty || cf_switch_in_flight(n->sw)) {
            return true;
        }
    }
    return false;
}

/* Runs observability: records which nodes are in sync, dumps statistics
 * when due, stores new counters, answers "stats" commands, serves
 * metrics. */
void
observe_run(struct daemon_state *d)
{
    struct observe *obs = d->obs;
    long long int now = time_msec();
    unsigned int ports_sig = shash_count(&d->nodes);

    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        if (d->loaded && !n->dirty && cf_switch_ports_known(n->sw)
            && cf_switch_is_synced(n->sw) && n->synced_seq != d->seq) {
            n->synced_seq = d->seq;
            obs->realization_stale = true;
        }
        ports_sig += cf_switch_get_ports_seqno(n->sw);
    }
    if (ports_sig != obs->ports_sig || obs->feed_seq != d->seq) {
        obs->ports_sig = ports_sig;
        obs->realization_stale = true;
    }
    /* Writing the store waits for a disk sync: not while a change is on
     * its way to a switch (it would delay that change), for at most
     * WRITES_HOLD_MS. */
    if (!changes_in_flight(d)) {
        obs->writes_held = 0;
    } else if (!obs->writes_held) {
        obs->writes_held = now;
    }
    bool may_write = (!obs->writes_held
                      || now >= obs->writes_held + WRITES_HOLD_MS);
    if (obs->realization_stale && now >= obs->next_realization
        && may_write) {
        update_realization(d);
        obs->realization_stale = false;
        obs->next_realization = now + 500;
    }

    if (now >= obs->next_stats) {
        request_all_stats(d, true);
        obs->next_stats = now + stats_interval;
    }
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        const struct cf_flow_counter *counters;
        size_t n_counters;
        long long int when;
        unsigned int seqno = cf_switch_get_stats(n->sw, &counters,
                                                 &n_counters, &when);
        if (seqno != n->stats_stored && may_write) {
            n->stats_stored = seqno;
            struct ds s = DS_EMPTY_INITIALIZER;
            cf_stats_format(&d->cluster, n->name, counters, n_counters, when,
                            &s);
            char *key = xasprintf("stats/%s", n->name);
            char *error = cf_store_meta_set(d->store, key, ds_cstr(&s));
            if (error) {
                set_store_error(d, error);
            }
            free(key);
            ds_destroy(&s);
        }
    }

    for (size_t i = 0; i < obs->n_reqs; ) {
        struct stats_req *req = &obs->reqs[i];
        if (now >= req->deadline || stats_req_done(d, req)) {
            stats_reply(d, req);
            free(req->node);
            obs->reqs[i] = obs->reqs[--obs->n_reqs];
        } else {
            i++;
        }
    }
    metrics_run(d);
}

/* Arranges to wake up for observability's timers. */
void
observe_wait(struct daemon_state *d)
{
    struct observe *obs = d->obs;
    poll_timer_wait_until(obs->next_stats);
    if (obs->writes_held
        && time_msec() < obs->writes_held + WRITES_HOLD_MS) {
        /* A pending write waits for the change to land (the switch's
         * replies wake us up) or for the hold to end, whichever is first:
         * not for 'next_realization', which may have passed. */
        poll_timer_wait_until(obs->writes_held + WRITES_HOLD_MS);
    } else if (obs->realization_stale) {
        poll_timer_wait_until(obs->next_realization);
    }
    for (size_t i = 0; i < obs->n_reqs; i++) {
        poll_timer_wait_until(obs->reqs[i].deadline);
    }
    metrics_wait(d);
}

/* "audit/reopen": reopens the audit log (for log rotation). */
static void
conjflowd_audit_reopen(struct unixctl_conn *conn, int argc OVS_UNUSED,
                       const char *argv[] OVS_UNUSED, void *d_)
{
    struct daemon_state *d = d_;
    if (!d->obs->audit) {
        unixctl_command_reply_error(conn, "no audit log (--audit-log)");
        return;
    }
    char *error = cf_audit_reopen(d->obs->audit);
    if (error) {
        unixctl_command_reply_error(conn, error);
        free(error);
    } else {
        unixctl_command_reply(conn, NULL);
    }
}

/* "stats [NODE]": dumps fresh counters from every node (or NODE) and
 * replies with cf_stats_format()'s text once they arrive (after at most 2
 * s, with the last counters of a node that did not answer). */
static void
conjflowd_stats(struct unixctl_conn *conn, int argc, const char *argv[],
                void *d_)
{
    struct daemon_state *d = d_;
    struct observe *obs = d->obs;
    if (argc > 1 && !find_node(d, conn, argv[1])) {
        return;
    }
    request_all_stats(d, false);
    if (obs->n_reqs >= obs->allocated_reqs) {
        obs->reqs = x2nrealloc(obs->reqs, &obs->allocated_reqs,
                               sizeof *obs->reqs);
    }
    struct stats_req *req = &obs->reqs[obs->n_reqs++];
    req->conn = conn;
    req->node = argc > 1 ? xstrdup(argv[1]) : NULL;
    req->deadline = time_msec() + 2000;
}
