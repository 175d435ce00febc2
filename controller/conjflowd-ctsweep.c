/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowd's conntrack sweep: after a change that may have revoked what
 * allowed a live connection, remove that connection's conntrack entry, so
 * that the server side of a revoked connection stops too, without waiting
 * for the client's next packet (which is what marks it denied in the
 * pipeline, see include/conjflow/cflow.h, "Cross-node state").
 *
 * When a node's switch commits a bundle that may revoke (it removed or
 * replaced flows, or added denying ones: cf_switch_n_revoking_bundles())
 * and nothing newer is on its way to it, conjflowd asks the node's
 * ovs-vswitchd, over its control socket (next to the unix: OVSDB socket,
 * as for the datapath purge), for "dpctl/dump-conntrack zone=<node id>"
 * (the zone the pipeline's ct() uses).  The sweep does not wait for the
 * switch's datapath purge after the bundle (ofproto/switch.c): it sends a
 * "revalidator/purge" of its own just before the dump, on the same
 * session, which vswitchd answers in order.  So no stale datapath flow
 * can create an entry after the dump (and escape the sweep), and the purge
 * and the sweep take one round trip to vswitchd instead of two (it
 * matters for how fast a change is in sync: "sync/wait" waits for both).
 * It judges every entry not yet marked denied
 * against the current cluster with the reference evaluator (controller/
 * ctsweep.c) and flushes each one that policy now denies with
 * "dpctl/flush-conntrack zone=N <original tuple>" on the same session.
 * An entry policy allows is never flushed.  Only UDP and ICMP entries are
 * swept: a flushed TCP connection is dead for good (the userspace
 * conntrack does not pick one up mid-stream, so it could not resume if
 * policy allowed it again), and a revoked TCP connection stops anyway
 * within a round trip, when the client ACKs the server's next segment and
 * so marks it denied; a UDP stream from the server gets no such packet
 * from its client (see ctsweep_flushable()).
 *
 * Why the control socket and not NXT_CT_FLUSH on the OpenFlow session:
 * the dump has to go over the control socket anyway (OpenFlow has no
 * conntrack dump), the flush then rides on the same session with one reply
 * per entry (so each is counted, and an entry already gone is told apart),
 * and everything stays in this file instead of in the switch's OpenFlow
 * state machine.  Both end in the same ct_dpif_flush() in vswitchd.
 *
 * A connection lives in the zone of every node it crosses: the source
 * pod's and the destination pod's.  A change may recompile only one of
 * them (a revoked ingress is compiled on the destination's node only),
 * while the other's entry would still pass the server's packets as
 * replies.  So a sweep that flushes an entry also asks the nodes of the
 * entry's pods for a sweep; those sweeps do not ask further (one hop is
 * all a connection has), so sweeps never chase each other.
 *
 * Per node: at most one sweep runs (dump, then the flushes); a change
 * while it runs asks for another after it.  Everything is asynchronous
 * (JSON-RPC on a non-blocking stream), so a sweep never blocks the main
 * loop or another node.  On any error (no control socket, vswitchd gone,
 * an unreadable dump, a timeout) the sweep logs (rate-limited), counts the
 * error in the status and flushes nothing more (fail closed, harmless: the
 * revoked connection's server side then lasts until its client's next
 * packet or its conntrack timeout, as without the sweep), and another
 * sweep follows after a backoff (1 s, doubling up to 30 s).  tcp:/ssl:
 * nodes have no known control socket: said once in the log and in the
 * status.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "conjflow/model.h"
#include "controller/conjflowd.h"
#include "controller/ctsweep.h"
#include "coverage.h"
#include "hash.h"
#include "jsonrpc.h"
#include "ofproto/switch.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/json.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "stream.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(conjflowd_ctsweep);

COVERAGE_DEFINE(conjflowd_ctsweep);
COVERAGE_DEFINE(conjflowd_ctsweep_flush);
COVERAGE_DEFINE(conjflowd_ctsweep_error);

/* --no-conntrack-sweep clears it. */
bool ctsweep_enabled = true;

/* How long a whole sweep (dump and flushes) may take, in ms. */
#define CTSWEEP_TIMEOUT_MS 10000

/* After a failed sweep, the next one starts after a backoff that doubles
 * from CTSWEEP_RETRY_MIN_MS to CTSWEEP_RETRY_MAX_MS (a success resets it):
 * a revoked connection must not outlive a passing vswitchd hiccup. */
#define CTSWEEP_RETRY_MIN_MS 1000
#define CTSWEEP_RETRY_MAX_MS 30000

/* Entries judged per pass of the main loop, and flushes in flight at most:
 * a sweep of a big zone takes several passes instead of holding up the
 * main loop (about 3 us per entry judged, 18 us per entry flushed). */
#define CTSWEEP_CHUNK 2000
#define CTSWEEP_MAX_PENDING 1000

/* A sweep's state:
 *
 *     IDLE --(wanted, node committed)--> DUMPING (dump request sent)
 *     DUMPING --(dump reply parsed)--> JUDGING
 *     JUDGING: each pass judges up to CTSWEEP_CHUNK entries and sends a
 *              flush for each denied one, while fewer than
 *              CTSWEEP_MAX_PENDING flushes are unanswered
 *     JUDGING --(every entry judged, every flush answered)--> IDLE
 *     DUMPING, JUDGING --(error, timeout)--> IDLE (counted, logged)
 *
 * Entries are judged against the cluster of the pass that judges them
 * (the cluster may change between passes; verdicts remembered from an
 * older one are forgotten).
 */
enum ctsweep_state {
    CTSWEEP_IDLE,
    CTSWEEP_DUMPING,
    CTSWEEP_JUDGING,
};

/* One node's sweeps. */
struct ctsweep {
    /* Scheduling. */
    uint64_t revoking_seen;     /* cf_switch_n_revoking_bundles() last
                                 * acted on. */
    bool wanted;                /* A sweep must start (after the one
                                 * running). */
    bool wanted_spread;         /* ... and may ask the nodes of the pods of
                                 * flushed entries to sweep too. */
    bool unavailable;           /* The OVSDB remote is not unix: (said once
                                 * in the log). */
    long long int retry_at;     /* No sweep starts before (ms). */
    int retry_ms;               /* Current backoff (0: none). */

    /* The running sweep. */
    enum ctsweep_state state;   /* See above. */
    bool spread;                /* It may ask other nodes to sweep. */
    struct jsonrpc *rpc;        /* Session to vswitchd, or NULL. */
    struct json *purge_id;      /* Id of the purge request sent before
                                 * the dump, until answered (owned). */
    struct json *dump_id;       /* Id of the dump request (owned). */
    uint16_t zone;              /* The zone it dumps. */
    size_t n_pending;           /* Flushes not answered yet. */
    struct ctsweep_entry *entries;  /* The dump's entries (owned). */
    size_t n_entries;           /* Number of 'entries'. */
    size_t next;                /* The first entry not judged yet. */
    size_t n_denied;            /* Entries policy denies (flushes sent). */
    struct hmap memo;           /* struct verdict_memo, for 'memo_seq'. */
    uint64_t memo_seq;          /* Store seq of the cluster of 'memo'. */
    long long int start;        /* When it started (ms). */
    long long int deadline;     /* When it gives up (ms). */

    /* Totals, for the status. */
    uint64_t n_sweeps;          /* Sweeps completed. */
    uint64_t n_checked;         /* Entries judged (not marked denied). */
    uint64_t n_flushed;         /* Entries flushed. */
    uint64_t n_gone;            /* Entries gone before their flush. */
    uint64_t n_errors;          /* Failed sweeps and flushes. */
    long long int last_ms;      /* Duration of the last completed sweep. */
    size_t last_entries;        /* Entries of its dump. */
    char *last_error;           /* Last error, or NULL. */
};

/* A verdict already given in this sweep: connections of one client to one
 * service differ only in the source port. */
struct verdict_memo {
    struct hmap_node hmap_node; /* In a sweep's memo, by memo_hash(). */
    uint32_t src, dst;          /* IPv4 addresses (host order). */
    uint16_t port;              /* Destination port (0: ICMP). */
    uint8_t proto;              /* IP protocol. */
    enum ctsweep_verdict verdict;   /* What ctsweep_judge() said. */
};

static void sweep_judge(struct daemon_state *, struct node_ctx *);

/* Returns the sweep state of 'n', creating it on first use. */
static struct ctsweep *
get_sweep(struct node_ctx *n)
{
    if (!n->ctsweep) {
        n->ctsweep = xzalloc(sizeof *n->ctsweep);
        hmap_init(&n->ctsweep->memo);
    }
    return n->ctsweep;
}

/* Forgets the verdicts remembered by 'cs'. */
static void
memo_clear(struct ctsweep *cs)
{
    struct verdict_memo *m;
    HMAP_FOR_EACH_POP (m, hmap_node, &cs->memo) {
        free(m);
    }
}

/* Closes the session of 'cs' and forgets the running sweep. */
static void
sweep_close(struct ctsweep *cs)
{
    jsonrpc_close(cs->rpc);
    cs->rpc = NULL;
    json_destroy(cs->purge_id);
    cs->purge_id = NULL;
    json_destroy(cs->dump_id);
    cs->dump_id = NULL;
    cs->state = CTSWEEP_IDLE;
    cs->n_pending = 0;
    free(cs->entries);
    cs->entries = NULL;
    cs->n_entries = cs->next = 0;
    memo_clear(cs);
}

/* Frees 'cs' (closing its session).  Accepts NULL. */
void
ctsweep_destroy(struct ctsweep *cs)
{
    if (cs) {
        sweep_close(cs);
        hmap_destroy(&cs->memo);
        free(cs->last_error);
        free(cs);
    }
}

/* Records error 'error' (not taken) of the sweep of node 'n': logged
 * (rate-limited) at 'level', counted, shown in the status.  Ends the
 * running sweep, if any. */
static void
sweep_fail(struct node_ctx *n, enum vlog_level level, const char *error)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
    struct ctsweep *cs = n->ctsweep;
    VLOG_RL(&rl, level, "node %s: conntrack sweep failed, nothing more "
            "flushed (a revoked connection's replies may pass until its "
            "client sends again): %s", n->name, error);
    free(cs->last_error);
    cs->last_error = xstrdup(error);
    cs->n_errors++;
    COVERAGE_INC(conjflowd_ctsweep_error);

    /* Again after a backoff. */
    cs->wanted = true;
    cs->wanted_spread |= cs->spread;
    cs->retry_ms = (cs->retry_ms
                    ? MIN(2 * cs->retry_ms, CTSWEEP_RETRY_MAX_MS)
                    : CTSWEEP_RETRY_MIN_MS);
    cs->retry_at = time_msec() + cs->retry_ms;
    sweep_close(cs);
}

/* A failure that needs an operator (a dump conjflowd cannot read, vswitchd
 * answering with errors or not at all): a warning. */
static void
sweep_error(struct node_ctx *n, const char *error)
{
    sweep_fail(n, VLL_WARN, error);
}

/* vswitchd cannot be reached or went away (it restarts): not a warning,
 * since its next flows bring another sweep (and a restarted userspace
 * datapath has an empty conntrack). */
static void
sweep_lost(struct node_ctx *n, const char *error)
{
    sweep_fail(n, VLL_INFO, error);
}

/* The sweep of 'n' is over: counts it. */
static void
sweep_done(struct node_ctx *n)
{
    struct ctsweep *cs = n->ctsweep;
    cs->n_sweeps++;
    cs->last_ms = time_msec() - cs->start;
    cs->last_entries = cs->n_entries;
    cs->retry_ms = 0;
    COVERAGE_INC(conjflowd_ctsweep);
    if (cs->n_denied) {
        VLOG_INFO("node %s: conntrack sweep of zone %"PRIu16": %"PRIuSIZE
                  " entries, %"PRIuSIZE" denied by policy now and flushed, "
                  "in %lld ms", n->name, cs->zone, cs->n_entries,
                  cs->n_denied, cs->last_ms);
    } else {
        VLOG_DBG("node %s: conntrack sweep of zone %"PRIu16": %"PRIuSIZE
                 " entries, none to flush, in %lld ms", n->name, cs->zone,
                 cs->n_entries, cs->last_ms);
    }
    sweep_close(cs);
}

/* Sends request 'method' with 'params' (taken) on the session of the
 * sweep of 'n' and stores its id in '*idp'.  On failure, ends the sweep
 * and returns false. */
static bool
sweep_send(struct node_ctx *n, const char *method, struct json *params,
           struct json **idp)
{
    struct jsonrpc_msg *request = jsonrpc_create_request(method, params,
                                                         NULL);
    *idp = json_clone(request->id);
    int retval = jsonrpc_send(n->ctsweep->rpc, request);
    if (retval) {
        char *error = xasprintf("sending %s: %s", method,
                                ovs_strerror(retval));
        sweep_lost(n, error);
        free(error);
        return false;
    }
    return true;
}

/* Starts a sweep of node 'n': sends the dump request to its vswitchd. */
static void
sweep_start(struct daemon_state *d, struct node_ctx *n)
{
    struct ctsweep *cs = n->ctsweep;
    cs->wanted = false;
    cs->spread = cs->wanted_spread;
    cs->wanted_spread = false;

    const char *ovsdb = cf_switch_get_ovsdb(n->sw);
    if (strncmp(ovsdb, "unix:", 5)) {
        if (!cs->unavailable) {
            cs->unavailable = true;
            VLOG_WARN("node %s: OVSDB remote %s is not unix:, so vswitchd's "
                      "control socket is unknown: its conntrack is not "
                      "swept after changes (a revoked connection's replies "
                      "pass until its client sends again)", n->name, ovsdb);
        }
        return;
    }
    const struct cf_node *node = cf_cluster_find_node(&d->cluster, n->name);
    if (!node || !node->id || node->id > UINT16_MAX) {
        sweep_error(n, "the node has no conntrack zone (id) in the store");
        return;
    }

    char *path;
    char *error = cf_switch_get_vswitchd_ctl(n->sw, &path);
    if (error) {
        sweep_lost(n, error);
        free(error);
        return;
    }
    char *target = xasprintf("unix:%s", path);
    struct stream *stream;
    int retval = stream_open(target, &stream, DSCP_DEFAULT);
    free(target);
    if (retval) {
        error = xasprintf("%s: %s", path, ovs_strerror(retval));
        sweep_lost(n, error);
        free(error);
        free(path);
        return;
    }
    free(path);

    cs->zone = node->id;
    cs->rpc = jsonrpc_open(stream);
    cs->start = time_msec();
    cs->deadline = cs->start + CTSWEEP_TIMEOUT_MS;
    cs->n_denied = cs->n_pending = 0;
    cs->state = CTSWEEP_DUMPING;
    if (cf_switch_get_datapath_purge()
        && !sweep_send(n, "revalidator/purge", json_array_create_empty(),
                       &cs->purge_id)) {
        return;
    }
    sweep_send(n, "dpctl/dump-conntrack", json_array_create_1(
                   json_string_create_nocopy(xasprintf("zone=%"PRIu16,
                                                       cs->zone))),
               &cs->dump_id);
}

/* Hash of the memo key of 'e'. */
static uint32_t
memo_hash(uint32_t src, uint32_t dst, uint16_t port, uint8_t proto)
{
    uint32_t hash = hash_int(src, 0);
    hash = hash_int(dst, hash);
    return hash_int(((uint32_t) port << 8) | proto, hash);
}

/* Asks node 'name' (if conjflowd manages it and it is not 'self') for a
 * sweep that does not spread further. */
static void
ask_peer(struct daemon_state *d, const struct node_ctx *self,
         const char *name)
{
    if (!name || !strcmp(name, self->name)) {
        return;
    }
    struct node_ctx *peer = shash_find_data(&d->nodes, name);
    if (peer) {
        get_sweep(peer)->wanted = true;
    }
}

/* Parses the dump 'text' of node 'n' and starts judging its entries.  On
 * a parse error flushes nothing. */
static void
sweep_parse(struct daemon_state *d, struct node_ctx *n, const char *text)
{
    struct ctsweep *cs = n->ctsweep;
    char *error = ctsweep_parse_dump(text, &cs->entries, &cs->n_entries,
                                     NULL);
    if (error) {
        char *msg = xasprintf("dpctl/dump-conntrack output: %s", error);
        sweep_error(n, msg);
        free(msg);
        free(error);
        return;
    }
    json_destroy(cs->dump_id);
    cs->dump_id = NULL;
    cs->next = 0;
    cs->state = CTSWEEP_JUDGING;
    sweep_judge(d, n);
}

/* True if the running sweep of 'cs' may judge more entries now. */
static bool
may_judge(const struct ctsweep *cs)
{
    return (cs->state == CTSWEEP_JUDGING && cs->next < cs->n_entries
            && cs->n_pending < CTSWEEP_MAX_PENDING);
}

/* Judges up to CTSWEEP_CHUNK more entries of the sweep of node 'n' against
 * the current cluster and sends a flush for each one that policy denies;
 * ends the sweep when every entry is judged and every flush answered. */
static void
sweep_judge(struct daemon_state *d, struct node_ctx *n)
{
    struct ctsweep *cs = n->ctsweep;
    if (!may_judge(cs)) {
        goto out;
    }
    if (cs->memo_seq != d->seq) {
        /* Verdicts on an older cluster don't count. */
        memo_clear(cs);
        cs->memo_seq = d->seq;
    }

    /* Pods are looked up in the cluster of this pass (the next one may
     * have another). */
    struct ctsweep_index index;
    ctsweep_index_init(&index, &d->cluster);
    struct cf_ds tuple;
    cf_ds_init(&tuple);
    size_t end = MIN(cs->n_entries, cs->next + CTSWEEP_CHUNK);
    for (; cs->next < end && cs->n_pending < CTSWEEP_MAX_PENDING;
         cs->next++) {
        const struct ctsweep_entry *e = &cs->entries[cs->next];
        if (e->zone != cs->zone || e->mark & CFLOW_CT_MARK_DENIED
            || !ctsweep_flushable(e)) {
            /* Not asked for; its replies drop already; or TCP, which the
             * pipeline's mark stops (see ctsweep_flushable()). */
            continue;
        }
        cs->n_checked++;

        uint32_t src = cf_addr_ipv4(&e->src), dst = cf_addr_ipv4(&e->dst);
        uint16_t port = e->proto == 1 ? 0 : e->dport;
        uint32_t hash = memo_hash(src, dst, port, e->proto);
        struct verdict_memo *m;
        enum ctsweep_verdict verdict = CTSWEEP_ALLOWED;
        bool found = false;
        HMAP_FOR_EACH_WITH_HASH (m, hmap_node, hash, &cs->memo) {
            if (m->src == src && m->dst == dst && m->port == port
                && m->proto == e->proto) {
                verdict = m->verdict;
                found = true;
                break;
            }
        }
        if (!found) {
            verdict = ctsweep_judge(&d->cluster, &index, e, NULL, NULL);
            m = xmalloc(sizeof *m);
            m->src = src;
            m->dst = dst;
            m->port = port;
            m->proto = e->proto;
            m->verdict = verdict;
            hmap_insert(&cs->memo, &m->hmap_node, hash);
        }
        if (verdict != CTSWEEP_DENIED) {
            continue;
        }

        cf_ds_clear(&tuple);
        ctsweep_format_tuple(e, &tuple);
        VLOG_DBG("node %s: flushing zone=%"PRIu16" %s (policy denies it "
                 "now)", n->name, cs->zone, cf_ds_cstr(&tuple));
        struct json *params = json_array_create_2(
            json_string_create_nocopy(xasprintf("zone=%"PRIu16, cs->zone)),
            json_string_create(cf_ds_cstr(&tuple)));
        struct jsonrpc_msg *request
            = jsonrpc_create_request("dpctl/flush-conntrack", params, NULL);
        int retval = jsonrpc_send(cs->rpc, request);
        if (retval) {
            char *msg = xasprintf("sending dpctl/flush-conntrack: %s",
                                  ovs_strerror(retval));
            sweep_lost(n, msg);
            free(msg);
            break;
        }
        cs->n_pending++;
        cs->n_denied++;
        if (cs->spread) {
            const struct cf_pod *src_pod = ctsweep_index_find(&index,
                                                              &e->src);
            const struct cf_pod *dst_pod = ctsweep_index_find(&index,
                                                              &e->dst);
            ask_peer(d, n, src_pod ? src_pod->node : NULL);
            ask_peer(d, n, dst_pod ? dst_pod->node : NULL);
        }
    }
    cf_ds_destroy(&tuple);
    ctsweep_index_destroy(&index);

out:
    if (cs->state == CTSWEEP_JUDGING && cs->next >= cs->n_entries
        && !cs->n_pending) {
        sweep_done(n);
    }
}

/* Handles message 'msg' received by the running sweep of 'n'. */
static void
sweep_receive(struct daemon_state *d, struct node_ctx *n,
              const struct jsonrpc_msg *msg)
{
    struct ctsweep *cs = n->ctsweep;
    if (cs->purge_id && msg->id && json_equal(msg->id, cs->purge_id)) {
        /* vswitchd purged (or failed to: the switch's own purge says so in
         * the status) before it dumps. */
        json_destroy(cs->purge_id);
        cs->purge_id = NULL;
        return;
    }
    if (cs->state == CTSWEEP_DUMPING) {
        if (msg->type == JSONRPC_REPLY && json_equal(msg->id, cs->dump_id)
            && msg->result && msg->result->type == JSON_STRING) {
            sweep_parse(d, n, json_string(msg->result));
        } else {
            const struct json *why = msg->error ? msg->error : msg->result;
            char *s = why ? json_to_string(why, 0)
                          : xstrdup(jsonrpc_msg_type_to_string(msg->type));
            char *error = xasprintf("dpctl/dump-conntrack zone=%"PRIu16": "
                                    "%s", cs->zone, s);
            sweep_error(n, error);
            free(error);
            free(s);
        }
        return;
    }

    /* A flush's answer (they come in order, one per request). */
    if (!cs->n_pending || (msg->type != JSONRPC_REPLY
                           && (msg->type != JSONRPC_ERROR || !msg->error))) {
        sweep_error(n, "unexpected message from vswitchd");
        return;
    }
    cs->n_pending--;
    if (msg->type == JSONRPC_REPLY) {
        cs->n_flushed++;
        COVERAGE_INC(conjflowd_ctsweep_flush);
    } else {
        char *s = json_to_string(msg->error, 0);
        if (strstr(s, ovs_strerror(ENOENT))) {
            /* Gone since the dump (timed out, or closed). */
            cs->n_gone++;
        } else {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
            VLOG_WARN_RL(&rl, "node %s: dpctl/flush-conntrack: %s",
                         n->name, s);
            free(cs->last_error);
            cs->last_error = xasprintf("dpctl/flush-conntrack: %s", s);
            cs->n_errors++;
            COVERAGE_INC(conjflowd_ctsweep_error);
        }
        free(s);
    }
    sweep_judge(d, n);
}

/* Advances the running sweep of 'n', if any. */
static void
sweep_advance(struct daemon_state *d, struct node_ctx *n)
{
    struct ctsweep *cs = n->ctsweep;
    /* A few messages per pass at most, so that many flush answers never
     * hold up the main loop. */
    for (int i = 0; i < 100 && cs->state != CTSWEEP_IDLE; i++) {
        jsonrpc_run(cs->rpc);
        struct jsonrpc_msg *msg;
        int retval = jsonrpc_recv(cs->rpc, &msg);
        if (!retval) {
            sweep_receive(d, n, msg);
            jsonrpc_msg_destroy(msg);
        } else if (retval != EAGAIN) {
            sweep_lost(n, retval == EOF ? "vswitchd closed the connection"
                       : ovs_strerror(retval));
        } else {
            if (time_msec() >= cs->deadline) {
                sweep_error(n, "no complete answer from vswitchd within "
                            "10 s");
            }
            break;
        }
    }
    if (cs->state == CTSWEEP_JUDGING) {
        sweep_judge(d, n);      /* The next chunk, if any. */
    }
}

/* See conjflowd.h. */
void
ctsweep_run(struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        struct ctsweep *cs = get_sweep(n);
        uint64_t revoking = cf_switch_n_revoking_bundles(n->sw);
        if (revoking != cs->revoking_seen) {
            cs->revoking_seen = revoking;
            cs->wanted = cs->wanted_spread = true;
        }
        if (!ctsweep_enabled) {
            cs->wanted = cs->wanted_spread = false;
            continue;
        }
        if (cs->state != CTSWEEP_IDLE) {
            sweep_advance(d, n);
        }
    }
    /* Start sweeps after every running one advanced: a sweep that just
     * flushed may have asked other nodes for one. */
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        struct ctsweep *cs = n->ctsweep;
        if (ctsweep_enabled && cs && cs->state == CTSWEEP_IDLE && cs->wanted
            && time_msec() >= cs->retry_at && !n->dirty
            && cf_switch_is_committed(n->sw)) {
            sweep_start(d, n);
            if (cs->state != CTSWEEP_IDLE) {
                sweep_advance(d, n);
            }
        }
    }
}

/* See conjflowd.h. */
bool
ctsweep_settled(const struct daemon_state *d)
{
    if (!ctsweep_enabled) {
        return true;
    }
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        const struct node_ctx *n = sn->data;
        const struct ctsweep *cs = n->ctsweep;
        if (cs && !cs->unavailable
            && (cs->state != CTSWEEP_IDLE
                || (cs->wanted && !cs->retry_ms))) {
            return false;
        }
    }
    return true;
}

/* See conjflowd.h. */
void
ctsweep_wait(struct daemon_state *d)
{
    struct shash_node *sn;
    SHASH_FOR_EACH (sn, &d->nodes) {
        struct node_ctx *n = sn->data;
        struct ctsweep *cs = n->ctsweep;
        if (!cs) {
            continue;
        }
        if (cs->state != CTSWEEP_IDLE) {
            jsonrpc_wait(cs->rpc);
            jsonrpc_recv_wait(cs->rpc);
            poll_timer_wait_until(cs->deadline);
            if (may_judge(cs)) {
                poll_immediate_wake();
            }
        } else if (ctsweep_enabled && cs->wanted && !n->dirty
                   && cf_switch_is_committed(n->sw)) {
            poll_timer_wait_until(cs->retry_at);
        }
    }
}

/* See conjflowd.h. */
void
ctsweep_format_status(const struct node_ctx *n, struct ds *s)
{
    const struct ctsweep *cs = n->ctsweep;
    static const struct ctsweep zero;
    if (!cs) {
        cs = &zero;
    }
    ds_put_format(s, "  conntrack sweeps: %"PRIu64", entries checked: "
                  "%"PRIu64", flushed: %"PRIu64", errors: %"PRIu64,
                  cs->n_sweeps, cs->n_checked, cs->n_flushed, cs->n_errors);
    if (!ctsweep_enabled) {
        ds_put_cstr(s, " (disabled)");
    } else if (cs->unavailable) {
        ds_put_cstr(s, " (unavailable: the OVSDB remote is not unix:)");
    } else if (cs->state != CTSWEEP_IDLE) {
        ds_put_cstr(s, " (one running)");
    } else if (cs->wanted) {
        ds_put_cstr(s, cs->retry_ms ? " (one pending, after a failure)"
                    : " (one pending)");
    }
    if (cs->n_sweeps) {
        ds_put_format(s, "; last: %"PRIuSIZE" entries in %lld ms",
                      cs->last_entries, cs->last_ms);
    }
    if (cs->n_gone) {
        ds_put_format(s, "; gone before their flush: %"PRIu64, cs->n_gone);
    }
    if (cs->last_error) {
        ds_put_format(s, "; last error: %s", cs->last_error);
    }
    ds_put_char(s, '\n');
}
