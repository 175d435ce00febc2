/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowd's Prometheus endpoint (--metrics-address), run from
 * conjflowd-observe.c's observe_run() and observe_wait().
 *
 * A small HTTP/1.1 server (OVS streams, in the main loop): "GET /metrics"
 * returns the text exposition format 0.0.4, anything else 404; every
 * response closes the connection.  Metrics:
 *
 *   conjflow_store_seq                    store seq conjflowd has loaded
 *   conjflow_change_feed_lag              commits in the store not loaded
 *                                         yet
 *   conjflow_nodes                        nodes managed
 *   conjflow_node_connected{node}         OpenFlow connection up (0/1)
 *   conjflow_node_synced{node}            installed == desired (0/1)
 *   conjflow_node_flows_desired{node}     desired flows
 *   conjflow_node_flows_installed{node}   installed flows
 *   conjflow_node_bundle_seconds{node}    duration of the last bundle
 *   conjflow_node_bundles_total{node}     bundles committed
 *   conjflow_node_bundles_failed_total{node}  bundles that failed
 *   conjflow_node_flow_mods_total{node}   flow_mods sent
 *   conjflow_realization_seconds          histogram: store change seen ->
 *                                         installed on every node
 *   conjflow_audit_packets_total          audit packet-ins received
 *   conjflow_audit_lines_total            audit log lines written
 *   conjflow_k8s_watch_*{resource}        conjflow-k8s's watch health, from
 *                                         the store (cf_metrics_put_k8s())
 */
#include <config.h>

#include "controller/conjflowd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/store.h"
#include "controller/observe.h"
#include "ofproto/switch.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "stream.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(conjflowd_metrics);

/* Upper bounds of the realization histogram's buckets, in seconds. */
static const double realization_buckets[] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};
#define N_REALIZATION_BUCKETS ARRAY_SIZE(realization_buckets)

/* One HTTP connection. */
struct metrics_conn {
    struct stream *stream;      /* The connection. */
    struct ds in;               /* Request received so far. */
    struct ds out;              /* Response (once the request is in). */
    size_t sent;                /* Bytes of 'out' sent. */
    bool responding;            /* 'out' is the response. */
    long long int deadline;     /* Closed if not done by then (ms). */
};

/* The metrics endpoint. */
struct metrics {
    struct pstream *listener;   /* Listening socket. */
    struct metrics_conn *conns; /* Open connections. */
    size_t n_conns, allocated_conns;
    uint64_t buckets[N_REALIZATION_BUCKETS];  /* Cumulative counts. */
    uint64_t count;             /* Observations. */
    double sum;                 /* Their sum (s). */
    uint64_t observed_seq;      /* Store seq last observed. */
};

/* Opens the listener at 'address' ("IP:PORT", or an OVS passive stream
 * name such as "ptcp:9474:127.0.0.1"); exits on failure. */
void
metrics_create(struct daemon_state *d, const char *address)
{
    char *name;
    if (strchr(address, ':') && !strncmp(address, "ptcp:", 5)) {
        name = xstrdup(address);
    } else {
        const char *colon = strrchr(address, ':');
        if (!colon || !colon[1]) {
            ovs_fatal(0, "--metrics-address: \"%s\" is not IP:PORT",
                      address);
        }
        name = xasprintf("ptcp:%s:%.*s", colon + 1, (int) (colon - address),
                         address);
    }
    struct metrics *m = xzalloc(sizeof *m);
    int error = pstream_open(name, &m->listener, 0);
    if (error) {
        ovs_fatal(error, "--metrics-address: cannot listen on %s", name);
    }
    VLOG_INFO("metrics on http://%s/metrics", address);
    free(name);
    d->obs->metrics = m;
}

/* Frees 'm' and closes its connections.  Accepts NULL. */
void
metrics_destroy(struct metrics *m)
{
    if (!m) {
        return;
    }
    for (size_t i = 0; i < m->n_conns; i++) {
        stream_close(m->conns[i].stream);
        ds_destroy(&m->conns[i].in);
        ds_destroy(&m->conns[i].out);
    }
    free(m->conns);
    pstream_close(m->listener);
    free(m);
}

/* Records one realization latency of 'ms' milliseconds. */
static void
metrics_observe_realization(struct daemon_state *d, long long int ms)
{
    struct metrics *m = d->obs->metrics;
    if (!m) {
        return;
    }
    double secs = ms / 1000.0;
    for (size_t i = 0; i < N_REALIZATION_BUCKETS; i++) {
        if (secs <= realization_buckets[i]) {
            m->buckets[i]++;
        }
    }
    m->count++;
    m->sum += secs;
}

/* Appends the HELP and TYPE lines of metric 'name'. */
static void
put_metric_header(struct ds *s, const char *name, const char *type,
                  const char *help)
{
    ds_put_format(s, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends the metrics text (exposition format 0.0.4). */
static void
metrics_format(struct daemon_state *d, struct ds *s)
{
    struct metrics *m = d->obs->metrics;
    uint64_t store_seq = d->seq;
    char *error = cf_store_seq(d->store, &store_seq);
    free(error);

    put_metric_header(s, "conjflow_store_seq", "gauge",
                      "Store sequence number conjflowd has loaded.");
    ds_put_format(s, "conjflow_store_seq %"PRIu64"\n", d->seq);
    put_metric_header(s, "conjflow_change_feed_lag", "gauge",
                      "Store commits not loaded by conjflowd yet.");
    ds_put_format(s, "conjflow_change_feed_lag %"PRIu64"\n",
                  store_seq > d->seq ? store_seq - d->seq : 0);
    put_metric_header(s, "conjflow_nodes", "gauge",
                      "Nodes conjflowd manages.");
    ds_put_format(s, "conjflow_nodes %"PRIuSIZE"\n", shash_count(&d->nodes));

    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } node_metrics[] = {
        { "conjflow_node_connected", "gauge",
          "OpenFlow connection to the node's bridge is up." },
        { "conjflow_node_synced", "gauge",
          "Installed flows equal the desired flows." },
        { "conjflow_node_flows_desired", "gauge", "Desired flows." },
        { "conjflow_node_flows_installed", "gauge", "Installed flows." },
        { "conjflow_node_bundle_seconds", "gauge",
          "Duration of the last committed bundle." },
        { "conjflow_node_bundles_total", "counter", "Bundles committed." },
        { "conjflow_node_bundles_failed_total", "counter",
          "Bundles that failed." },
        { "conjflow_node_flow_mods_total", "counter", "Flow mods sent." },
    };
    const struct shash_node **nodes = shash_sort(&d->nodes);
    size_t n_nodes = shash_count(&d->nodes);
    for (size_t k = 0; k < ARRAY_SIZE(node_metrics); k++) {
        put_metric_header(s, node_metrics[k].name, node_metrics[k].type,
                          node_metrics[k].help);
        for (size_t i = 0; i < n_nodes; i++) {
            const struct node_ctx *n = nodes[i]->data;
            const struct cf_switch *sw = n->sw;
            ds_put_format(s, "%s{node=\"%s\"} ", node_metrics[k].name,
                          n->name);
            switch (k) {
            case 0:
                ds_put_format(s, "%d\n", cf_switch_is_connected(sw));
                break;
            case 1:
                ds_put_format(s, "%d\n",
                              !n->dirty && cf_switch_is_synced(sw));
                break;
            case 2:
                ds_put_format(s, "%"PRIuSIZE"\n", cf_switch_n_desired(sw));
                break;
            case 3:
                ds_put_format(s, "%"PRIuSIZE"\n",
                              cf_switch_n_installed(sw));
                break;
            case 4:
                ds_put_format(s, "%.3f\n",
                              cf_switch_last_bundle_us(sw) / 1e6);
                break;
            case 5:
                ds_put_format(s, "%"PRIu64"\n", cf_switch_n_bundles(sw));
                break;
            case 6:
                ds_put_format(s, "%"PRIu64"\n", cf_switch_n_failed(sw));
                break;
            default:
                ds_put_format(s, "%"PRIu64"\n", cf_switch_n_flow_mods(sw));
                break;
            }
        }
    }
    free(nodes);

    put_metric_header(s, "conjflow_realization_seconds", "histogram",
                      "Time from a store change seen to its flows "
                      "installed on every node.");
    for (size_t i = 0; i < N_REALIZATION_BUCKETS; i++) {
        ds_put_format(s, "conjflow_realization_seconds_bucket{le=\"%g\"} "
                      "%"PRIu64"\n", realization_buckets[i], m->buckets[i]);
    }
    ds_put_format(s, "conjflow_realization_seconds_bucket{le=\"+Inf\"} "
                  "%"PRIu64"\n", m->count);
    ds_put_format(s, "conjflow_realization_seconds_sum %.3f\n", m->sum);
    ds_put_format(s, "conjflow_realization_seconds_count %"PRIu64"\n",
                  m->count);

    put_metric_header(s, "conjflow_audit_packets_total", "counter",
                      "Audit packets received from the datapath.");
    ds_put_format(s, "conjflow_audit_packets_total %"PRIu64"\n",
                  d->obs->n_packet_ins);
    put_metric_header(s, "conjflow_audit_lines_total", "counter",
                      "Audit log lines written.");
    ds_put_format(s, "conjflow_audit_lines_total %"PRIu64"\n",
                  cf_audit_n_lines(d->obs->audit));

    /* conjflow-k8s's watch health, from the rows it keeps in the store. */
    cf_metrics_put_k8s(d->store, s);
}

/* Prepares the response of 'c' to its complete request. */
static void
metrics_respond(struct daemon_state *d, struct metrics_conn *c)
{
    const char *req = ds_cstr(&c->in);
    struct ds body = DS_EMPTY_INITIALIZER;
    const char *status;
    const char *type;
    if (!strncmp(req, "GET /metrics ", 13)
        || !strncmp(req, "GET /metrics?", 13)) {
        status = "200 OK";
        type = "text/plain; version=0.0.4; charset=utf-8";
        metrics_format(d, &body);
    } else if (!strncmp(req, "GET ", 4)) {
        status = "404 Not Found";
        type = "text/plain; charset=utf-8";
        ds_put_cstr(&body, "not found: try /metrics\n");
    } else {
        status = "405 Method Not Allowed";
        type = "text/plain; charset=utf-8";
        ds_put_cstr(&body, "only GET\n");
    }
    ds_put_format(&c->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
                  "Content-Length: %"PRIuSIZE"\r\nConnection: close\r\n\r\n",
                  status, type, body.length);
    ds_put_buffer(&c->out, body.string, body.length);
    ds_destroy(&body);
    c->responding = true;
}

/* Runs connection 'c'.  Returns false when it is done (to be closed). */
static bool
metrics_conn_run(struct daemon_state *d, struct metrics_conn *c)
{
    stream_run(c->stream);
    if (time_msec() >= c->deadline) {
        return false;
    }
    if (!c->responding) {
        char buf[1024];
        int n = stream_recv(c->stream, buf, sizeof buf);
        if (n == -EAGAIN) {
            return true;
        } else if (n <= 0 || c->in.length + n > 16384) {
            return false;
        }
        ds_put_buffer(&c->in, buf, n);
        if (!strstr(ds_cstr(&c->in), "\r\n\r\n")
            && !strstr(ds_cstr(&c->in), "\n\n")) {
            return true;
        }
        metrics_respond(d, c);
    }
    while (c->sent < c->out.length) {
        int n = stream_send(c->stream, c->out.string + c->sent,
                            c->out.length - c->sent);
        if (n == -EAGAIN) {
            return true;
        } else if (n < 0) {
            return false;
        }
        c->sent += n;
    }
    return false;
}

/* Accepts connections and serves them; records realization latency. */
void
metrics_run(struct daemon_state *d)
{
    struct metrics *m = d->obs->metrics;
    if (!m) {
        return;
    }
    if (d->last_sync_ms >= 0 && d->loaded && m->observed_seq != d->seq) {
        m->observed_seq = d->seq;
        metrics_observe_realization(d, d->last_sync_ms);
    }
    for (int i = 0; i < 10 && m->n_conns < 64; i++) {
        struct stream *stream;
        int error = pstream_accept(m->listener, &stream);
        if (error) {
            break;
        }
        if (m->n_conns >= m->allocated_conns) {
            m->conns = x2nrealloc(m->conns, &m->allocated_conns,
                                  sizeof *m->conns);
        }
        struct metrics_conn *c = &m->conns[m->n_conns++];
        memset(c, 0, sizeof *c);
        c->stream = stream;
        ds_init(&c->in);
        ds_init(&c->out);
        c->deadline = time_msec() + 10000;
    }
    for (size_t i = 0; i < m->n_conns; ) {
        struct metrics_conn *c = &m->conns[i];
        if (metrics_conn_run(d, c)) {
            i++;
        } else {
            stream_close(c->stream);
            ds_destroy(&c->in);
            ds_destroy(&c->out);
            m->conns[i] = m->conns[--m->n_conns];
        }
    }
}

/* Arranges to wake up for the metrics endpoint. */
void
metrics_wait(struct daemon_state *d)
{
    struct metrics *m = d->obs->metrics;
    if (!m) {
        return;
    }
    pstream_wait(m->listener);
    for (size_t i = 0; i < m->n_conns; i++) {
        struct metrics_conn *c = &m->conns[i];
        stream_run_wait(c->stream);
        if (c->responding) {
            stream_send_wait(c->stream);
        } else {
            stream_recv_wait(c->stream);
        }
        poll_timer_wait_until(c->deadline);
    }
}
