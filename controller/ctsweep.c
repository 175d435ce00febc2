/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The pure part of conjflowd's conntrack sweep (see controller/ctsweep.h):
 * the parser of "dpctl/dump-conntrack" lines, the verdict on an entry
 * (the reference evaluator on the current cluster) and the tuple that
 * flushes exactly that entry.
 *
 * A line, as Open vSwitch 3.1 prints it (lib/ct-dpif.c), non-verbose:
 *
 *   PROTO,orig=(TUPLE),reply=(TUPLE)[,zone=N][,mark=N][,labels=0x..]
 *        [,protoinfo=(...)][,helper=...]
 *
 * PROTO is "tcp", "udp", "icmp", "icmpv6", "sctp", ... or a number; TUPLE
 * is "src=A,dst=B" then ",sport=N,dport=N", or for ICMP
 * ",id=N,type=N,code=N" (with --statistics also ",packets=N,bytes=N").
 * The parser reads the top-level comma-separated fields (parentheses
 * nest), takes PROTO, the original tuple, zone and mark, and skips every
 * other field, so that fields added by later OVS versions or by -m/-s do
 * not break it.
 */
#include "conjflow-config.h"

#include "controller/ctsweep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cflow.h"
#include "conjflow/cfutil.h"
#include "conjflow/evaluator.h"

/* IP protocol numbers (no <netinet/in.h> names needed). */
#define CTSWEEP_ICMP 1
#define CTSWEEP_TCP 6
#define CTSWEEP_UDP 17

/* One pod address in a struct ctsweep_index. */
struct ctsweep_pod_ip {
    uint32_t ip;                /* IPv4 address, host order. */
    size_t order;               /* The pod's index in the cluster. */
    const struct cf_pod *pod;   /* The pod. */
};

/* A "key=value" or "key=(...)" field: pointers into the line. */
struct field {
    const char *key;            /* The key (not NUL-terminated). */
    size_t key_len;             /* Its length. */
    const char *value;          /* The value, without parentheses. */
    size_t value_len;           /* Its length. */
};

/* Reads the next top-level field of 's' (up to a comma outside
 * parentheses, or the end) at '*posp', advancing '*posp' past it and its
 * comma.  A value in parentheses is returned without them.  Returns false
 * at the end of 's'; returns true and sets '*errorp' (malloc'd) for
 * unbalanced parentheses. */
static bool
next_field(const char *s, size_t *posp, struct field *f, char **errorp)
{
    size_t pos = *posp;
    *errorp = NULL;
    if (!s[pos]) {
        return false;
    }
    size_t start = pos;
    int depth = 0;
    for (; s[pos] && (depth || s[pos] != ','); pos++) {
        if (s[pos] == '(') {
            depth++;
        } else if (s[pos] == ')') {
            if (!depth) {
                *errorp = cf_xasprintf("unbalanced ')' at column %zu",
                                       pos + 1);
                return true;
            }
            depth--;
        }
    }
    if (depth) {
        *errorp = cf_xstrdup("unbalanced '('");
        return true;
    }
    size_t end = pos;
    *posp = s[pos] ? pos + 1 : pos;

    const char *eq = memchr(s + start, '=', end - start);
    f->key = s + start;
    if (!eq) {
        f->key_len = end - start;
        f->value = s + end;
        f->value_len = 0;
        return true;
    }
    f->key_len = eq - (s + start);
    f->value = eq + 1;
    f->value_len = s + end - f->value;
    if (f->value_len >= 2 && f->value[0] == '('
        && f->value[f->value_len - 1] == ')') {
        f->value++;
        f->value_len -= 2;
    }
    return true;
}

/* True if the key of 'f' is 'key'. */
static bool
key_is(const struct field *f, const char *key)
{
    return f->key_len == strlen(key) && !memcmp(f->key, key, f->key_len);
}

/* Parses the decimal value of 'f' into '*valuep', at most 'max'.  Returns
 * NULL or a malloc'd error. */
static char *
parse_uint(const struct field *f, unsigned long long max,
           unsigned long long *valuep)
{
    char buf[24];
    if (!f->value_len || f->value_len >= sizeof buf) {
        return cf_xasprintf("%.*s: \"%.*s\" is not a number",
                            (int) f->key_len, f->key, (int) f->value_len,
                            f->value);
    }
    memcpy(buf, f->value, f->value_len);
    buf[f->value_len] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end || errno || buf[0] < '0' || buf[0] > '9' || v > max) {
        return cf_xasprintf("%.*s: \"%s\" is not a number up to %llu",
                            (int) f->key_len, f->key, buf, max);
    }
    *valuep = v;
    return NULL;
}

/* Parses the address value of 'f' into '*addr' (IPv4 or IPv6).  Returns
 * NULL or a malloc'd error. */
static char *
parse_addr(const struct field *f, struct cf_addr *addr)
{
    char buf[64];
    if (f->value_len >= sizeof buf) {
        return cf_xasprintf("%.*s: address too long", (int) f->key_len,
                            f->key);
    }
    memcpy(buf, f->value, f->value_len);
    buf[f->value_len] = '\0';
    char *error = cf_addr_parse(buf, addr);
    if (error) {
        char *e = cf_xasprintf("%.*s: %s", (int) f->key_len, f->key, error);
        free(error);
        return e;
    }
    return NULL;
}

/* The numeric fields of a tuple: TCP/UDP ports, or ICMP id, type and code.
 * Each is required for its kind of protocol, and only for it. */
enum tuple_num {
    TN_SPORT, TN_DPORT, TN_ID, TN_TYPE, TN_CODE, TN_N
};
static const struct {
    const char *key;            /* Field name in the dump. */
    bool icmp;                  /* ICMP's (else TCP's and UDP's). */
    unsigned long long max;     /* Largest value. */
} tuple_nums[TN_N] = {
    [TN_SPORT] = {"sport", false, UINT16_MAX},
    [TN_DPORT] = {"dport", false, UINT16_MAX},
    [TN_ID] = {"id", true, UINT16_MAX},
    [TN_TYPE] = {"type", true, UINT8_MAX},
    [TN_CODE] = {"code", true, UINT8_MAX},
};

/* Parses the original tuple 'text' (of length 'len', without parentheses)
 * of an entry of protocol e->proto into 'e'.  Returns NULL or a malloc'd
 * error. */
static char *
parse_tuple(const char *text, size_t len, struct ctsweep_entry *e)
{
    char *copy = cf_xmemdup0(text, len);
    bool icmp = e->proto == CTSWEEP_ICMP;
    bool have_src = false, have_dst = false, have[TN_N] = { false };
    unsigned long long v[TN_N] = { 0 };
    char *error = NULL;
    size_t pos = 0;
    struct field f;
    while (!error && next_field(copy, &pos, &f, &error) && !error) {
        if (key_is(&f, "src") || key_is(&f, "dst")) {
            bool src = key_is(&f, "src");
            error = parse_addr(&f, src ? &e->src : &e->dst);
            *(src ? &have_src : &have_dst) = true;
            continue;
        }
        for (int i = 0; i < TN_N; i++) {
            if (tuple_nums[i].icmp == icmp && key_is(&f, tuple_nums[i].key)) {
                error = parse_uint(&f, tuple_nums[i].max, &v[i]);
                have[i] = true;
                break;
            }
        }
        /* Anything else (packets=, bytes=) is not needed. */
    }
    for (int i = 0; !error && i < TN_N; i++) {
        if (tuple_nums[i].icmp == icmp && !have[i]) {
            error = cf_xasprintf("orig: no %s", tuple_nums[i].key);
        }
    }
    if (!error && (!have_src || !have_dst)) {
        error = cf_xstrdup("orig: no src or dst");
    } else if (!error && (e->src.family != 4 || e->dst.family != 4)) {
        error = cf_xstrdup("orig: src and dst of different families");
    }
    e->sport = v[TN_SPORT];
    e->dport = v[TN_DPORT];
    e->icmp_id = v[TN_ID];
    e->icmp_type = v[TN_TYPE];
    e->icmp_code = v[TN_CODE];
    free(copy);
    return error;
}

/* Maps a protocol field of a dump line to its number: 0 for one the sweep
 * leaves alone (IPv6 ICMP, SCTP, ...), -1 if unreadable. */
static int
parse_proto(const struct field *f)
{
    static const struct {
        const char *name;
        int proto;
    } names[] = {
        {"tcp", CTSWEEP_TCP}, {"udp", CTSWEEP_UDP}, {"icmp", CTSWEEP_ICMP},
        {"icmpv6", 0}, {"sctp", 0}, {"udplite", 0}, {"dccp", 0},
        {"igmp", 0},
    };
    if (f->value_len) {
        return -1;              /* "x=y" where the protocol should be. */
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (key_is(f, names[i].name)) {
            return names[i].proto;
        }
    }
    unsigned long long v;
    struct field number = { "proto", 5, f->key, f->key_len };
    char *error = parse_uint(&number, UINT8_MAX, &v);
    if (error) {
        free(error);
        return -1;
    }
    return 0;                   /* A number: never TCP, UDP or ICMP. */
}

/* See ctsweep.h. */
char *
ctsweep_parse_line(const char *line, struct ctsweep_entry *e,
                   bool *relevantp)
{
    memset(e, 0, sizeof *e);
    *relevantp = false;

    size_t pos = 0;
    struct field f;
    char *error;
    if (!next_field(line, &pos, &f, &error)) {
        return cf_xstrdup("empty line");
    }
    if (error) {
        return error;
    }
    int proto = parse_proto(&f);
    if (proto < 0) {
        return cf_xasprintf("\"%.*s\" is not a protocol", (int) f.key_len,
                            f.key);
    }
    e->proto = proto;

    bool have_orig = false, have_reply = false;
    bool ipv6 = false;
    while (next_field(line, &pos, &f, &error)) {
        if (error) {
            return error;
        }
        unsigned long long v = 0;
        if (key_is(&f, "orig")) {
            if (have_orig) {
                return cf_xstrdup("orig twice");
            }
            have_orig = true;
            /* An IPv6 tuple has ':' in its addresses: not ours. */
            ipv6 = memchr(f.value, ':', f.value_len) != NULL;
            if (proto && !ipv6) {
                error = parse_tuple(f.value, f.value_len, e);
            }
        } else if (key_is(&f, "reply")) {
            have_reply = true;
        } else if (key_is(&f, "zone")) {
            error = parse_uint(&f, UINT16_MAX, &v);
            e->zone = v;
        } else if (key_is(&f, "mark")) {
            error = parse_uint(&f, UINT32_MAX, &v);
            e->mark = v;
        }
        if (error) {
            return error;
        }
    }
    if (!have_orig || !have_reply) {
        return cf_xstrdup("no orig=(...) or reply=(...)");
    }
    *relevantp = proto != 0 && !ipv6;
    return NULL;
}

/* See ctsweep.h. */
char *
ctsweep_parse_dump(const char *text, struct ctsweep_entry **entriesp,
                   size_t *np, size_t *n_otherp)
{
    struct ctsweep_entry *entries = NULL;
    size_t n = 0, allocated = 0, n_other = 0, lineno = 0;

    *entriesp = NULL;
    *np = 0;
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t) (nl - text) : strlen(text);
        lineno++;
        char *line = cf_xmemdup0(text, len);
        text += len + (nl != NULL);

        /* Trailing blanks (a carriage return) do not matter. */
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\r'
                       || line[len - 1] == '\t')) {
            line[--len] = '\0';
        }
        if (!len) {
            free(line);
            continue;
        }
        struct ctsweep_entry e;
        bool relevant;
        char *error = ctsweep_parse_line(line, &e, &relevant);
        if (error) {
            char *msg = cf_xasprintf("line %zu (%.80s): %s", lineno, line,
                                     error);
            free(error);
            free(line);
            free(entries);
            return msg;
        }
        free(line);
        if (!relevant) {
            n_other++;
            continue;
        }
        if (n >= allocated) {
            entries = cf_x2nrealloc(entries, &allocated, sizeof *entries);
        }
        entries[n++] = e;
    }
    *entriesp = entries;
    *np = n;
    if (n_otherp) {
        *n_otherp = n_other;
    }
    return NULL;
}

/* See ctsweep.h. */
void
ctsweep_format_tuple(const struct ctsweep_entry *e, struct cf_ds *ds)
{
    cf_ds_put_cstr(ds, "ct_nw_src=");
    cf_addr_format(&e->src, ds);
    cf_ds_put_cstr(ds, ",ct_nw_dst=");
    cf_addr_format(&e->dst, ds);
    cf_ds_put_format(ds, ",ct_nw_proto=%u", e->proto);
    if (e->proto == CTSWEEP_ICMP) {
        cf_ds_put_format(ds, ",icmp_id=%u,icmp_type=%u,icmp_code=%u",
                         e->icmp_id, e->icmp_type, e->icmp_code);
    } else {
        cf_ds_put_format(ds, ",ct_tp_src=%u,ct_tp_dst=%u", e->sport,
                         e->dport);
    }
}

/* qsort() comparison of two struct ctsweep_pod_ip: by address, then by
 * cluster order. */
static int
pod_ip_compare(const void *a_, const void *b_)
{
    const struct ctsweep_pod_ip *a = a_, *b = b_;
    if (a->ip != b->ip) {
        return a->ip < b->ip ? -1 : 1;
    }
    return a->order < b->order ? -1 : a->order > b->order;
}

/* See ctsweep.h. */
void
ctsweep_index_init(struct ctsweep_index *index,
                   const struct cf_cluster *cluster)
{
    size_t n = 0;
    for (size_t i = 0; i < cluster->n_pods; i++) {
        n += cluster->pods[i]->n_ips;
    }
    index->ips = cf_xcalloc(n ? n : 1, sizeof *index->ips);
    index->n = 0;
    for (size_t i = 0; i < cluster->n_pods; i++) {
        const struct cf_pod *pod = cluster->pods[i];
        for (size_t j = 0; !pod->host_network && j < pod->n_ips; j++) {
            if (pod->ips[j].family == 4) {
                struct ctsweep_pod_ip *pi = &index->ips[index->n++];
                pi->ip = cf_addr_ipv4(&pod->ips[j]);
                pi->order = i;
                pi->pod = pod;
            }
        }
    }
    qsort(index->ips, index->n, sizeof *index->ips, pod_ip_compare);
}

/* See ctsweep.h. */
void
ctsweep_index_destroy(struct ctsweep_index *index)
{
    if (index) {
        free(index->ips);
        index->ips = NULL;
        index->n = 0;
    }
}

/* See ctsweep.h. */
const struct cf_pod *
ctsweep_index_find(const struct ctsweep_index *index,
                   const struct cf_addr *addr)
{
    if (addr->family != 4) {
        return NULL;
    }
    uint32_t ip = cf_addr_ipv4(addr);
    size_t lo = 0, hi = index->n;
    while (lo < hi) {           /* The first element >= 'ip'. */
        size_t mid = lo + (hi - lo) / 2;
        if (index->ips[mid].ip < ip) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < index->n && index->ips[lo].ip == ip ? index->ips[lo].pod
                                                    : NULL;
}

/* See ctsweep.h. */
bool
ctsweep_flushable(const struct ctsweep_entry *e)
{
    return e->proto == CTSWEEP_UDP || e->proto == CTSWEEP_ICMP;
}

/* See ctsweep.h. */
enum ctsweep_verdict
ctsweep_judge(const struct cf_cluster *cluster,
              const struct ctsweep_index *index,
              const struct ctsweep_entry *e, const struct cf_pod **srcp,
              const struct cf_pod **dstp)
{
    const struct cf_pod *src = ctsweep_index_find(index, &e->src);
    const struct cf_pod *dst = ctsweep_index_find(index, &e->dst);
    if (srcp) {
        *srcp = src;
    }
    if (dstp) {
        *dstp = dst;
    }
    if (e->mark & CFLOW_CT_MARK_DENIED) {
        return CTSWEEP_MARKED;
    }
    if (!src && !dst) {
        /* No pod on either end: no policy applies. */
        return CTSWEEP_ALLOWED;
    }
    /* ICMP has no port: only rules without ports (any protocol) allow it,
     * as in the pipeline.  The evaluator compares a rule port's protocol
     * with 'proto', which no port has for ICMP. */
    enum cf_proto proto = (enum cf_proto) e->proto;
    uint16_t port = e->proto == CTSWEEP_ICMP ? 0 : e->dport;
    bool allowed = (dst
                    ? cf_eval_addr(cluster, NULL, dst, &e->src, port, proto,
                                   NULL, NULL)
                    : cf_eval_addr(cluster, src, NULL, &e->dst, port, proto,
                                   NULL, NULL));
    return allowed ? CTSWEEP_ALLOWED : CTSWEEP_DENIED;
}
