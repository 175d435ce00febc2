/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowctl's observability commands (see ctl-observe.h): "stats" reads
 * the counters conjflowd stores, "trace" asks the node's ovs-vswitchd what
 * its flows do with a packet ("ovs-appctl ofproto/trace", run as a child
 * process: conjflowctl never links libopenvswitch) and holds the answer to
 * the reference evaluator's.
 */
#include "conjflow-config.h"

#include "ctl-observe.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conjflow/cflow.h"
#include "conjflow/cfutil.h"
#include "conjflow/evaluator.h"
#include "conjflow/store.h"

/* Prints 'error' (taken) prefixed with "conjflowctl: " on stderr. */
static void
print_error(char *error)
{
    fprintf(stderr, "conjflowctl: %s\n", error);
    free(error);
}

/* Returns the value of field 'name' ("name=value") in line 'line' as a
 * malloc'd string, or NULL. */
static char *
field(const char *line, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = line; (p = strstr(p, name)); p++) {
        if ((p == line || p[-1] == ' ') && p[len] == '=') {
            const char *v = p + len + 1;
            return cf_xmemdup0(v, strcspn(v, " \n"));
        }
    }
    return NULL;
}

/* ---- stats -------------------------------------------------------------- */

/* Appends the rows of node 'node''s stored statistics 'text' to 'rows' (a
 * tab-separated table) and a comment on their age to 'notes'. */
static void
stats_rows(const char *node, const char *text, struct cf_ds *rows,
           struct cf_ds *notes)
{
    char *copy = cf_xstrdup(text);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *packets = field(line, "packets");
        char *bytes = field(line, "bytes");
        char *conns = field(line, "connections");
        if (!strncmp(line, "node=", 5)) {
            char *t = field(line, "time");
            long long int ms = t ? atoll(t) : 0;
            if (ms > 0) {
                time_t secs = ms / 1000;
                struct tm tm;
                char buf[32];
                gmtime_r(&secs, &tm);
                strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
                cf_ds_put_format(notes, "# %s: counters of %s (%lld s "
                                 "ago)\n", node, buf,
                                 (long long int) (time(NULL) - secs));
            } else {
                cf_ds_put_format(notes, "# %s: no counters yet\n", node);
            }
            free(t);
        } else if (!strncmp(line, "allow ", 6)) {
            char *policy = field(line, "policy");
            char *rule = field(line, "rule");
            cf_ds_put_format(rows, "%s\t%s\t%s\t%s\t%s\t%s\n", node,
                             policy ? policy : "-", rule ? rule : "-",
                             packets ? packets : "0", bytes ? bytes : "0",
                             conns ? conns : "-");
            free(policy);
            free(rule);
        } else if (!strncmp(line, "deny ", 5)) {
            char *dir = field(line, "direction");
            char *pod = field(line, "pod");
            char *ip = field(line, "ip");
            cf_ds_put_format(rows, "%s\t(isolation)\t%s:%s\t%s\t%s\t-\n",
                             node, dir ? dir : "-",
                             pod && strcmp(pod, "-") ? pod : ip ? ip : "-",
                             packets ? packets : "0", bytes ? bytes : "0");
            free(dir);
            free(pod);
            free(ip);
        }
        free(packets);
        free(bytes);
        free(conns);
    }
    free(copy);
}

/* Prints the tab-separated table 'rows' (with a header) in aligned
 * columns. */
static void
print_table(const char *header, const char *rows)
{
    enum { N_COLS = 6 };
    size_t widths[N_COLS] = { 0 };
    struct cf_ds all = CF_DS_INIT;
    cf_ds_put_format(&all, "%s\n%s", header, rows);
    char *text = cf_xstrdup(cf_ds_cstr(&all));
    for (int pass = 0; pass < 2; pass++) {
        char *copy = cf_xstrdup(text);
        char *save = NULL;
        for (char *line = strtok_r(copy, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
            char *save2 = NULL;
            int col = 0;
            for (char *cell = strtok_r(line, "\t", &save2);
                 cell && col < N_COLS;
                 cell = strtok_r(NULL, "\t", &save2), col++) {
                if (!pass) {
                    widths[col] = CF_MAX(widths[col], strlen(cell));
                } else if (col == N_COLS - 1) {
                    printf("%s", cell);
                } else {
                    printf("%-*s   ", (int) widths[col], cell);
                }
            }
            if (pass) {
                putchar('\n');
            }
        }
        free(copy);
    }
    free(text);
    cf_ds_destroy(&all);
}

int
ctl_stats(struct cf_store *store, const struct cf_cluster *cluster,
          const char *node)
{
    if (node && !cf_cluster_find_node(cluster, node)) {
        print_error(cf_xasprintf("stats: node %s not found", node));
        return 1;
    }
    struct cf_ds rows = CF_DS_INIT;
    struct cf_ds notes = CF_DS_INIT;
    for (size_t i = 0; i < cluster->n_nodes; i++) {
        const char *name = cluster->nodes[i]->name;
        if (node && strcmp(node, name)) {
            continue;
        }
        char *key = cf_xasprintf("stats/%s", name);
        char *text = NULL;
        char *error = store ? cf_store_meta_get(store, key, &text) : NULL;
        if (error) {
            print_error(error);
        } else if (text) {
            stats_rows(name, text, &rows, &notes);
        } else {
            cf_ds_put_format(&notes, "# %s: no counters stored yet (the "
                             "node was not reached, or conjflowd is not "
                             "running)\n", name);
        }
        free(text);
        free(key);
    }
    fputs(cf_ds_cstr(&notes), stdout);
    print_table("NODE\tPOLICY\tRULE\tPACKETS\tBYTES\tCONNECTIONS",
                cf_ds_cstr(&rows));
    cf_ds_destroy(&rows);
    cf_ds_destroy(&notes);
    return 0;
}

char *
ctl_realized_cell(const char *realization, const char *ns, const char *name)
{
    char *prefix = cf_xasprintf("%s/%s ", ns, name);
    size_t len = strlen(prefix);
    char *cell = NULL;
    for (const char *line = realization; line && *line; ) {
        if (!strncmp(line, prefix, len)) {
            char *eol = cf_xmemdup0(line, strcspn(line, "\n"));
            char *nodes = field(eol, "nodes");
            char *realized = field(eol, "realized");
            if (nodes && realized) {
                cell = cf_xasprintf("%s/%s", realized, nodes);
            }
            free(nodes);
            free(realized);
            free(eol);
            break;
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    free(prefix);
    return cell ? cell : cf_xstrdup("-");
}

/* ---- trace -------------------------------------------------------------- */

/* Runs 'argv' (a NULL-terminated vector, searched in $PATH) and returns
 * its standard output (malloc'd) in '*outp'.  Returns NULL or a malloc'd
 * error (the program could not run, or exited non-zero: its output is in
 * the error). */
static char *
run_capture(char *const argv[], char **outp)
{
    *outp = NULL;
    int fds[2];
    if (pipe(fds)) {
        return cf_xasprintf("pipe: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return cf_xasprintf("fork: %s", strerror(errno));
    }
    if (!pid) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    struct cf_ds out = CF_DS_INIT;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0) {
            break;
        }
        cf_ds_put_buf(&out, buf, n);
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        continue;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        char *error = cf_xasprintf("%s failed: %s", argv[0],
                                   cf_ds_cstr(&out));
        cf_ds_destroy(&out);
        return error;
    }
    *outp = cf_xstrdup(cf_ds_cstr(&out));
    cf_ds_destroy(&out);
    return NULL;
}

/* Returns the pid in OVS-style pidfile 'path', or 0 if there is none. */
static long
read_pidfile(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1 || pid < 0) {
            pid = 0;
        }
        fclose(f);
    }
    return pid;
}

/* Finds the control socket of the ovs-vswitchd that serves OVSDB remote
 * 'ovsdb' (see ctl-observe.h).  Returns NULL and sets '*pathp' (malloc'd),
 * or returns an error. */
static char *
find_vswitchd_ctl(const char *ovsdb, char **pathp)
{
    *pathp = NULL;
    if (!ovsdb || strncmp(ovsdb, "unix:", 5)) {
        return cf_xasprintf("OVSDB remote %s is not unix:: give the "
                            "vswitchd control socket with --vswitchd-ctl",
                            ovsdb ? ovsdb : "(none)");
    }
    char *copy = cf_xstrdup(ovsdb + 5);
    char *dir = cf_xstrdup(dirname(copy));
    free(copy);
    struct stat st;
    char *path = cf_xasprintf("%s/ovs-vswitchd.ctl", dir);
    if (!stat(path, &st)) {
        free(dir);
        *pathp = path;
        return NULL;
    }
    free(path);
    char *pidfile = cf_xasprintf("%s/ovs-vswitchd.pid", dir);
    long pid = read_pidfile(pidfile);
    char *error = NULL;
    if (pid > 0) {
        *pathp = cf_xasprintf("%s/ovs-vswitchd.%ld.ctl", dir, pid);
    } else {
        error = cf_xasprintf("no %s/ovs-vswitchd.ctl and no pid in %s: "
                             "give the vswitchd control socket with "
                             "--vswitchd-ctl", dir, pidfile);
    }
    free(pidfile);
    free(dir);
    return error;
}

/* Returns the binding of pod 'ref' ("ns/name") in 'ports', or NULL. */
static const struct cf_binding *
find_binding(const struct cf_node_ports *ports, const char *ref)
{
    for (size_t i = 0; i < ports->n_bindings; i++) {
        if (!strcmp(ports->bindings[i].pod, ref)) {
            return &ports->bindings[i];
        }
    }
    return NULL;
}

/* Returns the first IPv4 address of 'pod' (host order), or 0. */
static uint32_t
pod_ipv4(const struct cf_pod *pod)
{
    for (size_t i = 0; i < pod->n_ips; i++) {
        if (pod->ips[i].family == 4) {
            return cf_addr_ipv4(&pod->ips[i]);
        }
    }
    return 0;
}

/* Appends IPv4 'ip' (host order). */
static void
put_ip(struct cf_ds *ds, uint32_t ip)
{
    cf_ds_put_format(ds, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff,
                     (ip >> 8) & 0xff, ip & 0xff);
}

/* Appends MAC 'mac', or 'dflt' if 'b' has none. */
static void
put_mac(struct cf_ds *ds, const struct cf_binding *b, const char *dflt)
{
    if (b && b->has_mac) {
        cf_ds_put_format(ds, "%02x:%02x:%02x:%02x:%02x:%02x", b->mac[0],
                         b->mac[1], b->mac[2], b->mac[3], b->mac[4],
                         b->mac[5]);
    } else {
        cf_ds_put_cstr(ds, dflt);
    }
}

/* Returns the policy of 'cluster' with id 'id', or NULL. */
static const struct cf_policy *
policy_by_id(const struct cf_cluster *cluster, uint32_t id)
{
    for (size_t i = 0; i < cluster->n_policies; i++) {
        if (cluster->policies[i]->id == id) {
            return cluster->policies[i];
        }
    }
    return NULL;
}

/* Appends what a flow with 'cookie' in 'table' is, in policy terms. */
static void
explain_cookie(const struct cf_cluster *cluster, unsigned table,
               uint64_t cookie, struct cf_ds *ds)
{
    uint32_t policy_id = (cookie >> 32) & 0xffffff;
    unsigned dir = (cookie >> 28) & 0xf;
    unsigned rule = (cookie >> 16) & 0xfff;
    unsigned kind = cookie & 0xffff;
    const char *dir_name = (dir == CFLOW_DIR_INGRESS ? "ingress"
                            : dir == CFLOW_DIR_EGRESS ? "egress" : "");
    if ((cookie >> 56) != CFLOW_COOKIE_TAG) {
        cf_ds_put_cstr(ds, "not a conjflow flow");
    } else if (kind == CFLOW_KIND_ALLOW || kind == CFLOW_KIND_CLAUSE) {
        const struct cf_policy *p = policy_by_id(cluster, policy_id);
        cf_ds_put_format(ds, "allowed by networkpolicy %s%s%s %s[%u]",
                         p ? p->ns : "?", p ? "/" : "",
                         p ? p->name : "(unknown id)", dir_name, rule);
    } else if (kind == CFLOW_KIND_POD
               && (table == CFLOW_T_INGRESS_ISOLATION
                   || table == CFLOW_T_EGRESS_ISOLATION)) {
        cf_ds_put_format(ds, "dropped: the pod is %s-isolated and no rule "
                         "allowed it", dir_name);
    } else if (kind == CFLOW_KIND_CONN) {
        const struct cf_policy *p = policy_by_id(cluster, policy_id);
        cf_ds_put_format(ds, "new connection counted for networkpolicy "
                         "%s%s%s %s[%u]", p ? p->ns : "?", p ? "/" : "",
                         p ? p->name : "(unknown id)", dir_name, rule);
    } else if (kind == CFLOW_KIND_NODE) {
        cf_ds_put_cstr(ds, "the node's own address (always allowed)");
    } else if (kind == CFLOW_KIND_POD) {
        cf_ds_put_cstr(ds, "pod port (anti-spoofing passed)");
    } else {
        cf_ds_put_cstr(ds, "pipeline");
    }
}

int
ctl_trace(struct cf_store *store, const struct cf_cluster *cluster,
          const char *node_name, const char *from, const char *to,
          uint16_t port, enum cf_proto proto, const char *vswitchd_ctl)
{
    const struct cf_node *node = cf_cluster_find_node(cluster, node_name);
    const struct cf_pod *src = NULL, *dst = NULL;
    for (size_t i = 0; i < cluster->n_pods; i++) {
        const struct cf_pod *p = cluster->pods[i];
        char *ref = cf_xasprintf("%s/%s", p->ns, p->name);
        if (!strcmp(ref, from)) {
            src = p;
        }
        if (!strcmp(ref, to)) {
            dst = p;
        }
        free(ref);
    }
    if (!node || !src || !dst) {
        print_error(cf_xasprintf("trace: %s %s not found",
                                 !node ? "node" : "pod",
                                 !node ? node_name : !src ? from : to));
        return 2;
    }
    uint32_t src_ip = pod_ipv4(src), dst_ip = pod_ipv4(dst);
    if (!src_ip || !dst_ip) {
        print_error(cf_xasprintf("trace: pod %s has no IPv4 address",
                                 !src_ip ? from : to));
        return 2;
    }
    if (!store) {
        print_error(cf_xstrdup("trace: there is no store"));
        return 2;
    }
    struct cf_node_ports ports;
    cf_node_ports_init(&ports);
    char *error = cf_store_get_bindings(store, node->name, &ports);
    if (error) {
        print_error(error);
        cf_node_ports_destroy(&ports);
        return 2;
    }
    const struct cf_binding *sb = find_binding(&ports, from);
    const struct cf_binding *db = find_binding(&ports, to);
    if (!sb && !db) {
        print_error(cf_xasprintf("trace: neither %s nor %s is bound to "
                                 "node %s's bridge (per conjflowd's "
                                 "bindings in the store)", from, to,
                                 node->name));
        cf_node_ports_destroy(&ports);
        return 2;
    }
    if (!sb && !ports.n_uplinks) {
        print_error(cf_xasprintf("trace: %s is not on node %s, which has "
                                 "no uplink for it to arrive on", from,
                                 node->name));
        cf_node_ports_destroy(&ports);
        return 2;
    }

    char *ctl_path = NULL;
    if (vswitchd_ctl) {
        ctl_path = cf_xstrdup(vswitchd_ctl);
    } else if ((error = find_vswitchd_ctl(node->ovsdb, &ctl_path))) {
        print_error(error);
        cf_node_ports_destroy(&ports);
        return 2;
    }

    const char *pname = (proto == CF_PROTO_UDP ? "udp"
                         : proto == CF_PROTO_SCTP ? "sctp" : "tcp");
    struct cf_ds flow = CF_DS_INIT;
    cf_ds_put_format(&flow, "%s,in_port=%"PRIu32",dl_src=", pname,
                     sb ? sb->ofport : ports.uplinks[0]);
    put_mac(&flow, sb, "02:cf:00:00:00:01");
    cf_ds_put_cstr(&flow, ",dl_dst=");
    put_mac(&flow, db, "02:cf:00:00:00:02");
    cf_ds_put_cstr(&flow, ",nw_src=");
    put_ip(&flow, src_ip);
    cf_ds_put_cstr(&flow, ",nw_dst=");
    put_ip(&flow, dst_ip);
    cf_ds_put_format(&flow, ",nw_ttl=64,%s_src=40000,%s_dst=%u", pname,
                     pname, port);
    const char *bridge = node->bridge ? node->bridge : "br-int";
    char *argv[] = {
        (char *) "ovs-appctl", (char *) "-t", ctl_path,
        (char *) "ofproto/trace", (char *) "--ct-next", (char *) "trk,new",
        (char *) bridge, (char *) cf_ds_cstr(&flow), NULL,
    };
    printf("trace: ovs-appctl -t %s ofproto/trace --ct-next trk,new %s "
           "'%s'\n", ctl_path, bridge, cf_ds_cstr(&flow));
    char *out = NULL;
    error = run_capture(argv, &out);
    free(ctl_path);
    cf_ds_destroy(&flow);
    cf_node_ports_destroy(&ports);
    if (error) {
        print_error(error);
        return 2;
    }

    /* The flows the packet hit: " N. match, priority P, cookie 0x...". */
    bool forwarded = false;
    uint64_t deciding = 0;
    unsigned deciding_table = 0;
    bool have_deciding = false;
    printf("flows (%s):\n", node->name);
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *p = line + strspn(line, " ");
        char *end;
        unsigned long table = strtoul(p, &end, 10);
        if (end == p || end[0] != '.' || end[1] != ' ') {
            continue;
        }
        const char *c = strstr(end, "cookie 0x");
        uint64_t cookie = c ? strtoull(c + 7, NULL, 16) : 0;
        struct cf_ds what = CF_DS_INIT;
        explain_cookie(cluster, table, cookie, &what);
        printf("  %2lu %-17s cookie 0x%016"PRIx64"  %s\n", table,
               cflow_table_name(table), cookie, cf_ds_cstr(&what));
        cf_ds_destroy(&what);
        unsigned kind = cookie & 0xffff;
        if (kind == CFLOW_KIND_ALLOW || kind == CFLOW_KIND_NODE
            || (kind == CFLOW_KIND_POD
                && (table == CFLOW_T_INGRESS_ISOLATION
                    || table == CFLOW_T_EGRESS_ISOLATION))) {
            deciding = cookie;
            deciding_table = table;
            have_deciding = true;
        }
        if (table == CFLOW_T_FORWARD) {
            forwarded = true;
        }
    }
    free(out);

    /* What this node enforces: egress if the source is local, ingress if
     * the destination is. */
    struct cf_eval_verdict verdict;
    struct cf_ds why = CF_DS_INIT;
    cf_eval_pods(cluster, src, dst, port, proto, &verdict, &why);
    bool expect = ((!sb || verdict.egress.allowed)
                   && (!db || verdict.ingress.allowed));
    const char *scope = (sb && db ? "" : sb ? " (egress only: the "
                         "destination is on another node)"
                         : " (ingress only: the source is on another "
                         "node)");
    printf("trace:   %s", forwarded ? "allowed" : "denied");
    if (have_deciding) {
        struct cf_ds what = CF_DS_INIT;
        explain_cookie(cluster, deciding_table, deciding, &what);
        printf(" (%s: %s)", cflow_table_name(deciding_table),
               cf_ds_cstr(&what));
        cf_ds_destroy(&what);
    }
    printf("\nexplain: %s%s\n", expect ? "allowed" : "denied", scope);
    if (why.len) {
        cf_ds_chomp(&why, '\n');
        printf("%s\n", cf_ds_cstr(&why));
    }
    cf_ds_destroy(&why);
    if (expect != forwarded) {
        printf("BUG: the flows on node %s and the reference evaluator "
               "disagree\n", node->name);
        return 1;
    }
    printf("agree\n");
    return 0;
}

/* ---- status ------------------------------------------------------------- */

/* Appends "N s ago" for wall-clock time 'ms' (milliseconds) to 'out', or
 * "-" if 'ms' is 0. */
static void
put_ago(struct cf_ds *out, long long int ms)
{
    if (ms <= 0) {
        cf_ds_put_char(out, '-');
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long int now = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
        cf_ds_put_format(out, "%llds ago",
                         (long long int) CF_MAX(0, now - ms) / 1000);
    }
}

/* Prints what conjflowd reported in the "realization" meta text
 * 'realization' (one line per policy, "NS/NAME ... nodes=N realized=R"). */
static void
status_realization(const char *realization)
{
    if (!realization) {
        printf("realization: not reported (conjflowd has not run on this "
               "store)\n");
        return;
    }
    size_t n = 0, n_realized = 0;
    struct cf_ds lagging = CF_DS_INIT;
    char *copy = cf_xstrdup(realization);
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *nodes = field(line, "nodes");
        char *realized = field(line, "realized");
        if (nodes && realized) {
            n++;
            if (!strcmp(nodes, realized)) {
                n_realized++;
            } else {
                cf_ds_put_format(&lagging, "  %.*s: realized on %s of %s "
                                 "nodes\n", (int) strcspn(line, " "), line,
                                 realized, nodes);
            }
        }
        free(nodes);
        free(realized);
    }
    printf("realization: %zu of %zu policies realized on every node they "
           "apply to\n%s", n_realized, n, cf_ds_cstr(&lagging));
    free(copy);
    cf_ds_destroy(&lagging);
}

/* Prints the watch health rows conjflow-k8s keeps in 'store' (format in
 * conjflow/k8s.h). */
static void
status_k8s(struct cf_store *store)
{
    static const char *const resources[] = {
        "namespaces", "nodes", "pods", "networkpolicies",
    };
    struct cf_ds rows = CF_DS_INIT;
    struct cf_ds errors = CF_DS_INIT;
    for (size_t i = 0; i < CF_ARRAY_SIZE(resources); i++) {
        char *key = cf_xasprintf("k8s/watch/%s", resources[i]);
        char *text = NULL;
        char *error = store ? cf_store_meta_get(store, key, &text) : NULL;
        free(key);
        if (error) {
            print_error(error);
            continue;
        } else if (!text) {
            continue;
        }
        /* The error text is the rest of the row: cut it off first. */
        char *err = strstr(text, " error=");
        if (!strncmp(text, "error=", 6)) {
            err = text;
        }
        const char *err_text = "";
        if (err) {
            *err = '\0';
            err_text = err + (err == text ? 6 : 7);
        }
        static const char *const names[] = {
            "synced", "state", "rv", "events", "errors", "reconnects",
            "relists",
        };
        cf_ds_put_format(&rows, "%-15s ", resources[i]);
        for (size_t j = 0; j < CF_ARRAY_SIZE(names); j++) {
            char *v = field(text, names[j]);
            const char *s = !v ? "?" : j ? v : !strcmp(v, "1") ? "yes" : "no";
            cf_ds_put_format(&rows, "%-*s ", j == 1 ? 9 : j == 2 ? 11 : 7,
                             s);
            free(v);
        }
        char *last_event = field(text, "last_event");
        char *updated = field(text, "updated");
        struct cf_ds ago = CF_DS_INIT;
        put_ago(&ago, last_event ? atoll(last_event) : 0);
        cf_ds_put_format(&rows, "%-11s ", cf_ds_cstr(&ago));
        cf_ds_clear(&ago);
        put_ago(&ago, updated ? atoll(updated) : 0);
        cf_ds_put_format(&rows, "%s\n", cf_ds_cstr(&ago));
        cf_ds_destroy(&ago);
        free(last_event);
        free(updated);
        if (*err_text) {
            cf_ds_put_format(&errors, "  %s: last error: %s\n",
                             resources[i], err_text);
        }
        free(text);
    }
    if (!rows.len) {
        printf("kubernetes: no watch reported (conjflow-k8s has not run on "
               "this store)\n");
    } else {
        printf("kubernetes watches (conjflow-k8s):\n"
               "%-15s %-7s %-9s %-11s %-7s %-7s %-7s %-7s %-11s %s\n%s%s",
               "RESOURCE", "SYNCED", "STATE", "RV", "EVENTS", "ERRORS",
               "RECONN", "RELISTS", "LAST-EVENT", "UPDATED",
               cf_ds_cstr(&rows), cf_ds_cstr(&errors));
    }
    cf_ds_destroy(&rows);
    cf_ds_destroy(&errors);
}

int
ctl_status(struct cf_store *store)
{
    uint64_t seq = 0;
    char *realization = NULL;
    if (store) {
        char *error = cf_store_seq(store, &seq);
        if (!error) {
            error = cf_store_meta_get(store, "realization", &realization);
        }
        if (error) {
            print_error(error);
            return 1;
        }
    }
    printf("store: %s, seq %"PRIu64"\n", store ? "open" : "none yet", seq);
    status_realization(realization);
    status_k8s(store);
    free(realization);
    return 0;
}

/* ---- --wait ------------------------------------------------------------- */

/* See ctl-observe.h. */
char *
ctl_find_conjflowd_ctl(const char *given)
{
    if (given) {
        return cf_xstrdup(given);
    }
    const char *env = getenv(CTL_CONJFLOWD_CTL_ENV);
    if (env && *env) {
        return cf_xstrdup(env);
    }
    struct stat st;
    if (!stat(CTL_CONJFLOWD_CTL_DEFAULT, &st)) {
        return cf_xstrdup(CTL_CONJFLOWD_CTL_DEFAULT);
    }
    const char *rundir = getenv("OVS_RUNDIR");
    if (!rundir || !*rundir) {
        rundir = "/var/run/openvswitch";
    }
    char *pidfile = cf_xasprintf("%s/conjflowd.pid", rundir);
    long pid = read_pidfile(pidfile);
    free(pidfile);
    return (pid > 0 ? cf_xasprintf("%s/conjflowd.%ld.ctl", rundir, pid)
            : cf_xstrdup(CTL_CONJFLOWD_CTL_DEFAULT));
}

/* See ctl-observe.h. */
char *
ctl_wait_enforced(const char *ctl_path, long long timeout_ms, char **answerp)
{
    *answerp = NULL;
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (strlen(ctl_path) >= sizeof sun.sun_path) {
        return cf_xasprintf("%s: control socket path too long", ctl_path);
    }
    strcpy(sun.sun_path, ctl_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return cf_xasprintf("socket: %s", strerror(errno));
    }
    if (connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        char *error = cf_xasprintf("cannot reach conjflowd at %s: %s (give "
                                   "its control socket with "
                                   "--conjflowd-ctl)", ctl_path,
                                   strerror(errno));
        close(fd);
        return error;
    }

    char *request = cf_xasprintf("{\"method\":\"sync/wait\",\"params\":"
                                 "[\"%lld\"],\"id\":0}", timeout_ms);
    size_t len = strlen(request), sent = 0;
    char *error = NULL;
    while (sent < len && !error) {
        ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR) {
            error = cf_xasprintf("%s: %s", ctl_path, strerror(errno));
        } else if (n > 0) {
            sent += n;
        }
    }
    free(request);

    /* The answer: one JSON object.  conjflowd gives up itself after
     * 'timeout_ms'; allow it a few seconds more to say so. */
    long long deadline = cf_time_msec() + timeout_ms + 5000;
    struct cf_ds buf = CF_DS_INIT;
    json_t *reply = NULL;
    while (!error && !reply) {
        long long left = deadline - cf_time_msec();
        if (left <= 0) {
            error = cf_xasprintf("%s: no answer from conjflowd", ctl_path);
            break;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int retval = poll(&pfd, 1, left > 1000 ? 1000 : (int) left);
        if (retval < 0 && errno != EINTR) {
            error = cf_xasprintf("poll: %s", strerror(errno));
        } else if (retval > 0) {
            char chunk[4096];
            ssize_t n = recv(fd, chunk, sizeof chunk, 0);
            if (n < 0 && errno != EINTR) {
                error = cf_xasprintf("%s: %s", ctl_path, strerror(errno));
            } else if (!n) {
                error = cf_xasprintf("%s: conjflowd closed the connection",
                                     ctl_path);
            } else if (n > 0) {
                cf_ds_put_buf(&buf, chunk, n);
                json_error_t jerr;
                reply = json_loads(cf_ds_cstr(&buf),
                                   JSON_DISABLE_EOF_CHECK, &jerr);
            }
        }
    }
    close(fd);
    cf_ds_destroy(&buf);
    if (error) {
        json_decref(reply);
        return error;
    }

    json_t *err = json_object_get(reply, "error");
    json_t *result = json_object_get(reply, "result");
    if (err && !json_is_null(err)) {
        const char *text = json_is_string(err) ? json_string_value(err) : "";
        error = cf_xasprintf("conjflowd: %s", text);
    } else if (json_is_string(result)) {
        *answerp = cf_xstrdup(json_string_value(result));
    } else {
        error = cf_xasprintf("%s: unexpected answer to sync/wait", ctl_path);
    }
    json_decref(reply);
    return error;
}
