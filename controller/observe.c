/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowd's audit log, per-rule statistics and the metrics of
 * conjflow-k8s's watch health (see observe.h for the formats).  Both explain what the datapath reports in policy terms: a
 * cookie or a conjunction id (cflow.h, compiler.h) names a policy, a
 * direction and a rule; an address names a pod.
 */
#include <config.h>

#include "controller/observe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conjflow/cflow.h"
#include "conjflow/k8s.h"
#include "conjflow/model.h"
#include "conjflow/store.h"
#include "dp-packet.h"
#include "flow.h"
#include "ofproto/switch.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/ofp-packet.h"
#include "openvswitch/shash.h"
#include "openvswitch/vlog.h"
#include "packets.h"
#include "timeval.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(cf_observe);

/* An open audit log. */
struct cf_audit {
    char *path;                 /* File name. */
    FILE *file;                 /* Open for appending. */
    uint64_t n_lines;           /* Lines written. */
};

/* Returns the policy of 'cluster' with id 'id', or NULL. */
static const struct cf_policy *
find_policy_by_id(const struct cf_cluster *cluster, uint32_t id)
{
    for (size_t i = 0; i < cluster->n_policies; i++) {
        if (cluster->policies[i]->id == id) {
            return cluster->policies[i];
        }
    }
    return NULL;
}

/* Returns the pod of 'cluster' with IPv4 address 'ip' (host order), or
 * NULL (host-network pods share their node's address: skipped). */
static const struct cf_pod *
find_pod_by_ip(const struct cf_cluster *cluster, uint32_t ip)
{
    for (size_t i = 0; i < cluster->n_pods; i++) {
        const struct cf_pod *pod = cluster->pods[i];
        for (size_t j = 0; j < pod->n_ips && !pod->host_network; j++) {
            if (pod->ips[j].family == 4
                && cf_addr_ipv4(&pod->ips[j]) == ip) {
                return pod;
            }
        }
    }
    return NULL;
}

void
cf_observe_put_pod(const struct cf_cluster *cluster, uint32_t ip,
                   struct ds *out)
{
    const struct cf_pod *pod = find_pod_by_ip(cluster, ip);
    if (pod) {
        ds_put_format(out, "%s/%s", pod->ns, pod->name);
    } else {
        ds_put_char(out, '-');
    }
}

/* Appends "NS/NAME" of the policy with id 'id', or "-/-". */
static void
put_policy(const struct cf_cluster *cluster, uint32_t id, struct ds *out)
{
    const struct cf_policy *p = find_policy_by_id(cluster, id);
    if (p) {
        ds_put_format(out, "%s/%s", p->ns, p->name);
    } else {
        ds_put_cstr(out, "-/-");
    }
}

/* ---- Audit log ---------------------------------------------------------- */

char *
cf_audit_open(const char *path, struct cf_audit **auditp)
{
    *auditp = NULL;
    FILE *file = fopen(path, "a");
    if (!file) {
        return xasprintf("audit log %s: cannot open for appending: %s",
                         path, ovs_strerror(errno));
    }
    struct cf_audit *audit = xzalloc(sizeof *audit);
    audit->path = xstrdup(path);
    audit->file = file;
    *auditp = audit;
    return NULL;
}

void
cf_audit_close(struct cf_audit *audit)
{
    if (audit) {
        fclose(audit->file);
        free(audit->path);
        free(audit);
    }
}

char *
cf_audit_reopen(struct cf_audit *audit)
{
    FILE *file = fopen(audit->path, "a");
    if (!file) {
        return xasprintf("audit log %s: cannot open for appending: %s",
                         audit->path, ovs_strerror(errno));
    }
    fclose(audit->file);
    audit->file = file;
    return NULL;
}

uint64_t
cf_audit_n_lines(const struct cf_audit *audit)
{
    return audit ? audit->n_lines : 0;
}

/* Appends the current wall time, UTC, "2026-01-02T03:04:05.678Z". */
static void
put_time(struct ds *s)
{
    long long int ms = time_wall_msec();
    time_t secs = ms / 1000;
    struct tm tm;
    char buf[32];
    gmtime_r(&secs, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    ds_put_format(s, "%s.%03lldZ", buf, ms % 1000);
}

/* Appends "IP" or "IP:PORT" (ports for TCP, UDP and SCTP). */
static void
put_endpoint(struct ds *s, ovs_be32 ip, ovs_be16 port, bool has_ports)
{
    ds_put_format(s, IP_FMT, IP_ARGS(ip));
    if (has_ports) {
        ds_put_format(s, ":%"PRIu16, ntohs(port));
    }
}

/* Appends to 'policies' and 'rules' the policy and rule that conjunction
 * id 'conj_id' (cf_conj_id()) stands for. */
static void
put_conj_rule(const struct cf_cluster *cluster, uint32_t conj_id,
              struct ds *policies, struct ds *rules)
{
    if (policies->length) {
        ds_put_char(policies, ',');
        ds_put_char(rules, ',');
    }
    put_policy(cluster, conj_id >> 8, policies);
    ds_put_format(rules, "%s[%"PRIu32"]",
                  (conj_id >> 7) & 1 ? "egress" : "ingress",
                  (conj_id >> 1) & 0x3f);
}

void
cf_audit_packet_in(struct cf_audit *audit, const struct cf_cluster *cluster,
                   const char *node, const struct ofputil_packet_in *pin)
{
    if (!audit || pin->userdata_len != 4 || pin->userdata[0] != 0xcf) {
        return;
    }
    uint8_t kind = pin->userdata[3];
    if (kind != CFLOW_AUDIT_ALLOW && kind != CFLOW_AUDIT_DENY) {
        return;
    }

    struct dp_packet packet;
    dp_packet_use_const(&packet, pin->packet, pin->packet_len);
    struct flow flow;
    flow_extract(&packet, &flow);
    if (flow.dl_type != htons(ETH_TYPE_IP)) {
        return;
    }
    bool has_ports = (flow.nw_proto == IPPROTO_TCP
                      || flow.nw_proto == IPPROTO_UDP
                      || flow.nw_proto == IPPROTO_SCTP);
    uint32_t src = ntohl(flow.nw_src);
    uint32_t dst = ntohl(flow.nw_dst);

    struct ds dirs = DS_EMPTY_INITIALIZER;
    struct ds policies = DS_EMPTY_INITIALIZER;
    struct ds rules = DS_EMPTY_INITIALIZER;
    if (kind == CFLOW_AUDIT_DENY) {
        unsigned dir = (ntohll(pin->cookie) >> 28) & 0xf;
        bool egress = dir == CFLOW_DIR_EGRESS;
        ds_put_cstr(&dirs, egress ? "egress" : "ingress");
        ds_put_cstr(&rules, "isolation");
        const struct cf_pod *pod = find_pod_by_ip(cluster,
                                                  egress ? src : dst);
        for (size_t i = 0; pod && i < cluster->n_policies; i++) {
            const struct cf_policy *p = cluster->policies[i];
            if ((egress ? p->egress : p->ingress) && !strcmp(p->ns, pod->ns)
                && cf_selector_matches(&p->pod_sel, &pod->labels)) {
                if (policies.length) {
                    ds_put_char(&policies, ',');
                }
                ds_put_format(&policies, "%s/%s", p->ns, p->name);
            }
        }
    } else {
        const struct flow *md = &pin->flow_metadata.flow;
        uint32_t egress_id = md->regs[1];
        uint32_t ingress_id = md->regs[2];
        if (egress_id) {
            ds_put_cstr(&dirs, "egress");
            put_conj_rule(cluster, egress_id, &policies, &rules);
        }
        if (ingress_id) {
            ds_put_format(&dirs, "%singress", dirs.length ? "," : "");
            put_conj_rule(cluster, ingress_id, &policies, &rules);
        }
    }

    struct ds line = DS_EMPTY_INITIALIZER;
    put_time(&line);
    ds_put_format(&line, " node=%s verdict=%s direction=%s proto=", node,
                  kind == CFLOW_AUDIT_DENY ? "deny" : "allow",
                  dirs.length ? ds_cstr(&dirs) : "-");
    switch (flow.nw_proto) {
    case IPPROTO_TCP:
        ds_put_cstr(&line, "tcp");
        break;
    case IPPROTO_UDP:
        ds_put_cstr(&line, "udp");
        break;
    case IPPROTO_SCTP:
        ds_put_cstr(&line, "sctp");
        break;
    case IPPROTO_ICMP:
        ds_put_cstr(&line, "icmp");
        break;
    default:
        ds_put_format(&line, "%u", flow.nw_proto);
        break;
    }
    ds_put_cstr(&line, " src=");
    put_endpoint(&line, flow.nw_src, flow.tp_src, has_ports);
    ds_put_cstr(&line, " dst=");
    put_endpoint(&line, flow.nw_dst, flow.tp_dst, has_ports);
    ds_put_cstr(&line, " from=");
    cf_observe_put_pod(cluster, src, &line);
    ds_put_cstr(&line, " to=");
    cf_observe_put_pod(cluster, dst, &line);
    ds_put_format(&line, " policy=%s rule=%s\n",
                  policies.length ? ds_cstr(&policies) : "-",
                  rules.length ? ds_cstr(&rules) : "-");

    if (fputs(ds_cstr(&line), audit->file) == EOF
        || fflush(audit->file)) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 10);
        VLOG_WARN_RL(&rl, "audit log %s: write failed: %s", audit->path,
                     ovs_strerror(errno));
    } else {
        audit->n_lines++;
    }
    ds_destroy(&line);
    ds_destroy(&dirs);
    ds_destroy(&policies);
    ds_destroy(&rules);
}

/* ---- Statistics --------------------------------------------------------- */

/* One output line of statistics, before sorting. */
struct stats_line {
    char *key;                  /* Sort key and text, before counters. */
    uint64_t n_packets;         /* Summed packets. */
    uint64_t n_bytes;           /* Summed bytes. */
    uint64_t n_conns;           /* Summed conn_count hits ("allow"). */
};

/* qsort() comparison of struct stats_line by key. */
static int
stats_line_compare(const void *a_, const void *b_)
{
    const struct stats_line *a = a_;
    const struct stats_line *b = b_;
    return strcmp(a->key, b->key);
}

void
cf_stats_format(const struct cf_cluster *cluster, const char *node,
                const struct cf_flow_counter *counters, size_t n,
                long long int when, struct ds *out)
{
    struct stats_line *lines = xcalloc(n ? n : 1, sizeof *lines);
    size_t n_lines = 0;
    struct shash by_key = SHASH_INITIALIZER(&by_key);  /* -> line index. */
    struct ds key = DS_EMPTY_INITIALIZER;

    for (size_t i = 0; i < n; i++) {
        const struct cf_flow_counter *c = &counters[i];
        unsigned kind = c->cookie & 0xffff;
        unsigned dir = (c->cookie >> 28) & 0xf;
        uint32_t policy_id = (c->cookie >> 32) & 0xffffff;
        unsigned rule = (c->cookie >> 16) & 0xfff;
        const char *dir_name = (dir == CFLOW_DIR_EGRESS ? "egress"
                                : dir == CFLOW_DIR_INGRESS ? "ingress"
                                : NULL);
        ds_clear(&key);
        bool conn = kind == CFLOW_KIND_CONN;
        if ((kind == CFLOW_KIND_ALLOW || conn) && policy_id && dir_name) {
            ds_put_cstr(&key, "allow policy=");
            put_policy(cluster, policy_id, &key);
            ds_put_format(&key, " id=%"PRIu32" rule=%s[%u]", policy_id,
                          dir_name, rule);
        } else if (kind == CFLOW_KIND_POD && !policy_id && dir_name
                   && (c->table == CFLOW_T_INGRESS_ISOLATION
                       || c->table == CFLOW_T_EGRESS_ISOLATION)) {
            uint32_t ip = dir == CFLOW_DIR_EGRESS ? c->nw_src : c->nw_dst;
            ds_put_format(&key, "deny direction=%s pod=", dir_name);
            cf_observe_put_pod(cluster, ip, &key);
            ds_put_format(&key, " ip=%"PRIu32".%"PRIu32".%"PRIu32
                          ".%"PRIu32, ip >> 24, (ip >> 16) & 0xff,
                          (ip >> 8) & 0xff, ip & 0xff);
        } else {
            continue;
        }
        /* Several flows of one rule (plain flows, conjunction parts): one
         * line. */
        struct stats_line *l;
        uintptr_t idx = (uintptr_t) shash_find_data(&by_key, ds_cstr(&key));
        if (idx) {
            l = &lines[idx - 1];
        } else {
            l = &lines[n_lines++];
            l->key = xstrdup(ds_cstr(&key));
            shash_add(&by_key, l->key, (void *) (uintptr_t) n_lines);
        }
        if (conn) {
            l->n_conns += c->n_packets;
        } else {
            l->n_packets += c->n_packets;
            l->n_bytes += c->n_bytes;
        }
    }
    shash_destroy(&by_key);
    qsort(lines, n_lines, sizeof *lines, stats_line_compare);

    ds_put_format(out, "node=%s time=%lld\n", node, when);
    for (size_t i = 0; i < n_lines; i++) {
        ds_put_format(out, "%s packets=%"PRIu64" bytes=%"PRIu64,
                      lines[i].key, lines[i].n_packets, lines[i].n_bytes);
        if (!strncmp(lines[i].key, "allow ", 6)) {
            ds_put_format(out, " connections=%"PRIu64, lines[i].n_conns);
        }
        ds_put_char(out, '\n');
        free(lines[i].key);
    }
    free(lines);
    ds_destroy(&key);
}

/* ---- Kubernetes watch health (metrics) ---------------------------------- */

/* The resources conjflow-k8s follows, in the order of its health rows
 * (the keys CF_K8S_HEALTH_PREFIX + name, see conjflow/k8s.h). */
static const char *const k8s_resources[] = {
    "namespaces", "nodes", "pods", "networkpolicies",
};

/* One health row, parsed. */
struct k8s_health {
    const char *resource;       /* "pods"... */
    bool synced;                /* synced=1. */
    uint64_t events;            /* events=N. */
    uint64_t errors;            /* errors=N. */
    uint64_t reconnects;        /* reconnects=N. */
    uint64_t relists;           /* relists=N (410 Gone). */
    uint64_t invalid;           /* invalid=N. */
    long long int last_event;   /* last_event=MS (0: never). */
    long long int updated;      /* updated=MS (0: unknown). */
};

/* Parses health row 'row' of 'resource' into '*h'.  Unknown fields are
 * ignored; the "error" field ends the row.  Returns false if 'row' is not
 * a health row (no "synced" field). */
static bool
k8s_health_parse(const char *resource, const char *row,
                 struct k8s_health *h)
{
    memset(h, 0, sizeof *h);
    h->resource = resource;
    bool has_synced = false;
    for (const char *p = row; p && *p; ) {
        size_t len = strcspn(p, " ");
        const char *eq = memchr(p, '=', len);
        if (eq) {
            size_t name_len = eq - p;
            const char *v = eq + 1;
            if (name_len == 5 && !strncmp(p, "error", 5)) {
                break;          /* The rest of the line is the error. */
            }
#define K8S_FIELD(NAME) (name_len == strlen(NAME) && !strncmp(p, NAME, \
                                                              name_len))
            if (K8S_FIELD("synced")) {
                has_synced = true;
                h->synced = *v == '1';
            } else if (K8S_FIELD("events")) {
                h->events = strtoull(v, NULL, 10);
            } else if (K8S_FIELD("errors")) {
                h->errors = strtoull(v, NULL, 10);
            } else if (K8S_FIELD("reconnects")) {
                h->reconnects = strtoull(v, NULL, 10);
            } else if (K8S_FIELD("relists")) {
                h->relists = strtoull(v, NULL, 10);
            } else if (K8S_FIELD("invalid")) {
                h->invalid = strtoull(v, NULL, 10);
            } else if (K8S_FIELD("last_event")) {
                h->last_event = strtoll(v, NULL, 10);
            } else if (K8S_FIELD("updated")) {
                h->updated = strtoll(v, NULL, 10);
            }
#undef K8S_FIELD
        }
        p += len;
        p += strspn(p, " ");
    }
    return has_synced;
}

void
cf_metrics_put_k8s(struct cf_store *store, struct ds *out)
{
    struct k8s_health rows[ARRAY_SIZE(k8s_resources)];
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(k8s_resources); i++) {
        char *key = xasprintf(CF_K8S_HEALTH_PREFIX "%s", k8s_resources[i]);
        char *value = NULL;
        char *error = cf_store_meta_get(store, key, &value);
        if (error) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 10);
            VLOG_WARN_RL(&rl, "metrics: reading %s: %s", key, error);
            free(error);
        } else if (value) {
            n += k8s_health_parse(k8s_resources[i], value, &rows[n]);
        }
        free(value);
        free(key);
    }
    if (!n) {
        return;                 /* conjflow-k8s never ran on this store. */
    }

    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } metrics[] = {
        { "conjflow_k8s_watch_synced", "gauge",
          "conjflow-k8s has the resource listed and follows its watch." },
        { "conjflow_k8s_watch_events_total", "counter",
          "Watch events received (bookmarks included) since conjflow-k8s "
          "started." },
        { "conjflow_k8s_watch_errors_total", "counter",
          "Errors (requests, streams) since conjflow-k8s started." },
        { "conjflow_k8s_watch_reconnects_total", "counter",
          "Watches broken (connection lost, stalled, error) and resumed." },
        { "conjflow_k8s_watch_relists_total", "counter",
          "Relists forced by 410 Gone." },
        { "conjflow_k8s_watch_invalid_objects_total", "counter",
          "API objects skipped as invalid." },
        { "conjflow_k8s_watch_last_event_age_seconds", "gauge",
          "Time since the last watch event or completed LIST." },
        { "conjflow_k8s_watch_report_age_seconds", "gauge",
          "Time since conjflow-k8s last updated this resource's health "
          "(written when it changes)." },
    };
    long long int now = time_wall_msec();
    for (size_t k = 0; k < ARRAY_SIZE(metrics); k++) {
        ds_put_format(out, "# HELP %s %s\n# TYPE %s %s\n", metrics[k].name,
                      metrics[k].help, metrics[k].name, metrics[k].type);
        for (size_t i = 0; i < n; i++) {
            const struct k8s_health *h = &rows[i];
            if ((k == 6 && !h->last_event) || (k == 7 && !h->updated)) {
                continue;       /* Never happened: no sample. */
            }
            ds_put_format(out, "%s{resource=\"%s\"} ", metrics[k].name,
                          h->resource);
            switch (k) {
            case 0:
                ds_put_format(out, "%d\n", h->synced);
                break;
            case 1:
                ds_put_format(out, "%"PRIu64"\n", h->events);
                break;
            case 2:
                ds_put_format(out, "%"PRIu64"\n", h->errors);
                break;
            case 3:
                ds_put_format(out, "%"PRIu64"\n", h->reconnects);
                break;
            case 4:
                ds_put_format(out, "%"PRIu64"\n", h->relists);
                break;
            case 5:
                ds_put_format(out, "%"PRIu64"\n", h->invalid);
                break;
            case 6:
                ds_put_format(out, "%.3f\n",
                              MAX(0, now - h->last_event) / 1000.0);
                break;
            default:
                ds_put_format(out, "%.3f\n",
                              MAX(0, now - h->updated) / 1000.0);
                break;
            }
        }
    }
}
