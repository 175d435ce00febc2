/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The cluster model (see conjflow/model.h): IP addresses and CIDRs, label
 * sets and selectors in normal form, the object structs with their
 * destructors and clones, tagged objects, a whole cluster with sorted
 * lookups and deterministic id assignment, and the pod-to-port bindings of a
 * node with the parser of conjflowctl's port-map files.  Pure C: no OVS,
 * jansson or SQLite.
 */
#include "conjflow-config.h"

#include "conjflow/model.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conjflow/cfutil.h"

/* ---- Addresses ---------------------------------------------------------- */

/* Parses 'str' as an IPv4 or IPv6 address into '*addr'.  Returns NULL on
 * success, else a malloc'd message. */
char *
cf_addr_parse(const char *str, struct cf_addr *addr)
{
    memset(addr, 0, sizeof *addr);
    if (!str || !*str) {
        return cf_xstrdup("empty IP address");
    }
    if (strchr(str, ':')) {
        if (inet_pton(AF_INET6, str, addr->bytes) == 1) {
            addr->family = 6;
            return NULL;
        }
    } else if (inet_pton(AF_INET, str, addr->bytes) == 1) {
        addr->family = 4;
        return NULL;
    }
    memset(addr, 0, sizeof *addr);
    return cf_xasprintf("\"%s\" is not a valid IP address", str);
}

/* Clears the bits of 'addr' beyond the first 'plen'. */
static void
addr_mask(struct cf_addr *addr, unsigned int plen)
{
    unsigned int n_bytes = addr->family == 4 ? 4 : 16;
    for (unsigned int i = 0; i < n_bytes; i++) {
        unsigned int bit = i * 8;
        if (bit >= plen) {
            addr->bytes[i] = 0;
        } else if (plen - bit < 8) {
            addr->bytes[i] &= (uint8_t) (0xff << (8 - (plen - bit)));
        }
    }
}

/* Parses 'str' ("10.0.0.0/8") into '*cidr', clearing host bits.  Returns
 * NULL on success, else a malloc'd message. */
char *
cf_cidr_parse(const char *str, struct cf_cidr *cidr)
{
    memset(cidr, 0, sizeof *cidr);
    if (!str) {
        return cf_xstrdup("empty CIDR");
    }
    const char *slash = strchr(str, '/');
    if (!slash) {
        return cf_xasprintf("\"%s\" is not a valid CIDR (no prefix length)",
                            str);
    }

    char *ip = cf_xmemdup0(str, slash - str);
    char *error = cf_addr_parse(ip, &cidr->addr);
    free(ip);
    if (error) {
        free(error);
        memset(cidr, 0, sizeof *cidr);
        return cf_xasprintf("\"%s\" is not a valid CIDR", str);
    }

    const char *p = slash + 1;
    unsigned int max = cidr->addr.family == 4 ? 32 : 128;
    unsigned int plen = 0;
    size_t n_digits = strspn(p, "0123456789");
    if (!n_digits || p[n_digits] || n_digits > 3
        || (n_digits > 1 && p[0] == '0')) {
        memset(cidr, 0, sizeof *cidr);
        return cf_xasprintf("\"%s\" is not a valid CIDR (bad prefix length)",
                            str);
    }
    plen = atoi(p);
    if (plen > max) {
        memset(cidr, 0, sizeof *cidr);
        return cf_xasprintf("\"%s\" is not a valid CIDR (prefix length %u "
                            "exceeds %u)", str, plen, max);
    }
    cidr->plen = plen;
    addr_mask(&cidr->addr, plen);
    return NULL;
}

/* Appends 'addr' in its usual text form to 'ds'. */
void
cf_addr_format(const struct cf_addr *addr, struct cf_ds *ds)
{
    char buf[INET6_ADDRSTRLEN];
    if (addr->family == 4) {
        inet_ntop(AF_INET, addr->bytes, buf, sizeof buf);
    } else if (addr->family == 6) {
        inet_ntop(AF_INET6, addr->bytes, buf, sizeof buf);
    } else {
        strcpy(buf, "<invalid>");
    }
    cf_ds_put_cstr(ds, buf);
}

/* Appends 'cidr' as "ADDR/PLEN" to 'ds'. */
void
cf_cidr_format(const struct cf_cidr *cidr, struct cf_ds *ds)
{
    cf_addr_format(&cidr->addr, ds);
    cf_ds_put_format(ds, "/%u", (unsigned int) cidr->plen);
}

/* Returns IPv4 'addr' in host byte order. */
uint32_t
cf_addr_ipv4(const struct cf_addr *addr)
{
    cf_assert(addr->family == 4);
    return ((uint32_t) addr->bytes[0] << 24 | (uint32_t) addr->bytes[1] << 16
            | (uint32_t) addr->bytes[2] << 8 | addr->bytes[3]);
}

/* True if the first 'plen' bits of 'a' and 'b' are equal. */
static bool
prefix_equal(const uint8_t *a, const uint8_t *b, unsigned int plen)
{
    unsigned int full = plen / 8, rest = plen % 8;
    if (memcmp(a, b, full)) {
        return false;
    }
    if (rest) {
        uint8_t mask = (uint8_t) (0xff << (8 - rest));
        return (a[full] & mask) == (b[full] & mask);
    }
    return true;
}

/* True if 'addr' lies within 'cidr' (same family). */
bool
cf_cidr_contains(const struct cf_cidr *cidr, const struct cf_addr *addr)
{
    return (cidr->addr.family == addr->family
            && prefix_equal(cidr->addr.bytes, addr->bytes, cidr->plen));
}

/* True if 'inner' lies entirely within 'outer' (same family). */
bool
cf_cidr_within(const struct cf_cidr *inner, const struct cf_cidr *outer)
{
    return (inner->plen >= outer->plen
            && cf_cidr_contains(outer, &inner->addr));
}

/* Orders addresses: IPv4 before IPv6, then numerically. */
int
cf_addr_compare(const struct cf_addr *a, const struct cf_addr *b)
{
    if (a->family != b->family) {
        return a->family < b->family ? -1 : 1;
    }
    return memcmp(a->bytes, b->bytes, sizeof a->bytes);
}

/* Orders CIDRs by address, then prefix length. */
int
cf_cidr_compare(const struct cf_cidr *a, const struct cf_cidr *b)
{
    int cmp = cf_addr_compare(&a->addr, &b->addr);
    if (cmp) {
        return cmp;
    }
    return a->plen < b->plen ? -1 : a->plen > b->plen;
}

/* ---- Labels ------------------------------------------------------------- */

/* Frees the contents of 'labels' and leaves it empty.  Accepts NULL. */
void
cf_labels_destroy(struct cf_labels *labels)
{
    if (!labels) {
        return;
    }
    for (size_t i = 0; i < labels->n; i++) {
        free(labels->items[i].key);
        free(labels->items[i].value);
    }
    free(labels->items);
    labels->items = NULL;
    labels->n = 0;
}

/* Initializes 'dst' as a deep copy of 'src'. */
void
cf_labels_clone(struct cf_labels *dst, const struct cf_labels *src)
{
    dst->n = src->n;
    dst->items = cf_xcalloc(src->n, sizeof *dst->items);
    for (size_t i = 0; i < src->n; i++) {
        dst->items[i].key = cf_xstrdup(src->items[i].key);
        dst->items[i].value = cf_xstrdup(src->items[i].value);
    }
}

/* cf_bsearch_pos() comparison of a label with a key. */
static int
label_key_compare(const void *label_, const void *key)
{
    const struct cf_label *label = label_;
    return strcmp(label->key, key);
}

/* Binary search for 'key' in sorted 'labels'.  Returns its index if found
 * (and sets '*found'), else the index at which it would be inserted. */
static size_t
labels_search(const struct cf_labels *labels, const char *key, bool *found)
{
    return cf_bsearch_pos(labels->items, labels->n, sizeof *labels->items,
                          key, label_key_compare, found);
}

/* Sets 'key' to 'value' in 'labels', replacing an existing value; copies
 * both strings and keeps the set sorted. */
void
cf_labels_set(struct cf_labels *labels, const char *key, const char *value)
{
    bool found;
    size_t idx = labels_search(labels, key, &found);
    if (found) {
        free(labels->items[idx].value);
        labels->items[idx].value = cf_xstrdup(value);
        return;
    }
    labels->items = cf_xrealloc(labels->items,
                                (labels->n + 1) * sizeof *labels->items);
    memmove(&labels->items[idx + 1], &labels->items[idx],
            (labels->n - idx) * sizeof *labels->items);
    labels->items[idx].key = cf_xstrdup(key);
    labels->items[idx].value = cf_xstrdup(value);
    labels->n++;
}

static int
compare_labels(const void *a_, const void *b_)
{
    const struct cf_label *a = a_;
    const struct cf_label *b = b_;
    return strcmp(a->key, b->key);
}

/* Sorts 'labels' by key.  If a key appears several times, the last
 * occurrence wins and the others are freed. */
void
cf_labels_sort(struct cf_labels *labels)
{
    /* Make the sort stable by sorting on (key, original index), so that "the
     * last one wins" is well defined. */
    size_t n = labels->n;
    if (n < 2) {
        return;
    }
    size_t *order = cf_xcalloc(n, sizeof *order);
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    /* Insertion sort on indexes: label sets are small. */
    for (size_t i = 1; i < n; i++) {
        size_t cur = order[i];
        size_t j = i;
        while (j > 0 && compare_labels(&labels->items[order[j - 1]],
                                       &labels->items[cur]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = cur;
    }
    struct cf_label *items = cf_xcalloc(n, sizeof *items);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct cf_label *l = &labels->items[order[i]];
        if (k && !strcmp(items[k - 1].key, l->key)) {
            free(items[k - 1].key);
            free(items[k - 1].value);
            k--;
        }
        items[k++] = *l;
    }
    free(order);
    free(labels->items);
    labels->items = items;
    labels->n = k;
}

/* Returns the value of 'key' in 'labels', or NULL if absent. */
const char *
cf_labels_get(const struct cf_labels *labels, const char *key)
{
    bool found;
    size_t idx = labels_search(labels, key, &found);
    return found ? labels->items[idx].value : NULL;
}

/* True if 'a' and 'b' hold the same keys and values. */
bool
cf_labels_equal(const struct cf_labels *a, const struct cf_labels *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->items[i].key, b->items[i].key)
            || strcmp(a->items[i].value, b->items[i].value)) {
            return false;
        }
    }
    return true;
}

/* ---- Selectors ---------------------------------------------------------- */

/* Frees the contents of 'req'. */
static void
sel_req_destroy(struct cf_sel_req *req)
{
    free(req->key);
    for (size_t i = 0; i < req->n_values; i++) {
        free(req->values[i]);
    }
    free(req->values);
}

/* Initializes 'dst' as a deep copy of 'src'. */
static void
sel_req_clone(struct cf_sel_req *dst, const struct cf_sel_req *src)
{
    dst->key = cf_xstrdup(src->key);
    dst->op = src->op;
    dst->n_values = src->n_values;
    dst->values = cf_xcalloc(src->n_values, sizeof *dst->values);
    for (size_t i = 0; i < src->n_values; i++) {
        dst->values[i] = cf_xstrdup(src->values[i]);
    }
}

/* Frees the contents of 'sel' and leaves it empty.  Accepts NULL. */
void
cf_selector_destroy(struct cf_selector *sel)
{
    if (!sel) {
        return;
    }
    for (size_t i = 0; i < sel->n_reqs; i++) {
        sel_req_destroy(&sel->reqs[i]);
    }
    free(sel->reqs);
    sel->reqs = NULL;
    sel->n_reqs = 0;
}

/* Initializes 'dst' as a deep copy of 'src'. */
void
cf_selector_clone(struct cf_selector *dst, const struct cf_selector *src)
{
    dst->n_reqs = src->n_reqs;
    dst->reqs = cf_xcalloc(src->n_reqs, sizeof *dst->reqs);
    for (size_t i = 0; i < src->n_reqs; i++) {
        sel_req_clone(&dst->reqs[i], &src->reqs[i]);
    }
}

/* True if sorted 'values' contain 'value'. */
static bool
values_contain(char **values, size_t n, const char *value)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(values[mid], value);
        if (!cmp) {
            return true;
        } else if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

/* True if 'labels' satisfy every requirement of 'sel' (normal form). */
bool
cf_selector_matches(const struct cf_selector *sel,
                    const struct cf_labels *labels)
{
    for (size_t i = 0; i < sel->n_reqs; i++) {
        const struct cf_sel_req *req = &sel->reqs[i];
        const char *value = cf_labels_get(labels, req->key);
        bool ok;
        switch (req->op) {
        case CF_SEL_IN:
            ok = value && values_contain(req->values, req->n_values, value);
            break;
        case CF_SEL_NOT_IN:
            ok = !value || !values_contain(req->values, req->n_values, value);
            break;
        case CF_SEL_EXISTS:
            ok = value != NULL;
            break;
        case CF_SEL_DOES_NOT_EXIST:
            ok = value == NULL;
            break;
        default:
            ok = false;
            break;
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Orders requirements by key, operator, then values (lexicographically). */
static int
sel_req_compare(const struct cf_sel_req *a, const struct cf_sel_req *b)
{
    int cmp = strcmp(a->key, b->key);
    if (cmp) {
        return cmp;
    }
    if (a->op != b->op) {
        return a->op < b->op ? -1 : 1;
    }
    for (size_t i = 0; i < a->n_values && i < b->n_values; i++) {
        cmp = strcmp(a->values[i], b->values[i]);
        if (cmp) {
            return cmp;
        }
    }
    return (a->n_values < b->n_values ? -1
            : a->n_values > b->n_values);
}

static int
sel_req_compare_qsort(const void *a, const void *b)
{
    return sel_req_compare(a, b);
}

/* Orders selectors (normal form) requirement by requirement. */
int
cf_selector_compare(const struct cf_selector *a, const struct cf_selector *b)
{
    for (size_t i = 0; i < a->n_reqs && i < b->n_reqs; i++) {
        int cmp = sel_req_compare(&a->reqs[i], &b->reqs[i]);
        if (cmp) {
            return cmp;
        }
    }
    return a->n_reqs < b->n_reqs ? -1 : a->n_reqs > b->n_reqs;
}

/* True if 'a' and 'b' (normal form) are the same selector. */
bool
cf_selector_equal(const struct cf_selector *a, const struct cf_selector *b)
{
    return !cf_selector_compare(a, b);
}

static int
compare_strings(const void *a_, const void *b_)
{
    const char *const *a = a_;
    const char *const *b = b_;
    return strcmp(*a, *b);
}

/* Puts 'sel' in normal form: each requirement's values sorted and unique,
 * the requirements sorted, exact duplicates removed. */
void
cf_selector_normalize(struct cf_selector *sel)
{
    for (size_t i = 0; i < sel->n_reqs; i++) {
        struct cf_sel_req *req = &sel->reqs[i];
        if (req->n_values > 1) {
            qsort(req->values, req->n_values, sizeof *req->values,
                  compare_strings);
            size_t k = 1;
            for (size_t j = 1; j < req->n_values; j++) {
                if (!strcmp(req->values[j], req->values[k - 1])) {
                    free(req->values[j]);
                } else {
                    req->values[k++] = req->values[j];
                }
            }
            req->n_values = k;
        }
    }
    if (sel->n_reqs > 1) {
        qsort(sel->reqs, sel->n_reqs, sizeof *sel->reqs,
              sel_req_compare_qsort);
        size_t k = 1;
        for (size_t i = 1; i < sel->n_reqs; i++) {
            if (!sel_req_compare(&sel->reqs[i], &sel->reqs[k - 1])) {
                sel_req_destroy(&sel->reqs[i]);
            } else {
                sel->reqs[k++] = sel->reqs[i];
            }
        }
        sel->n_reqs = k;
    }
}

/* Appends 'req''s values as "(a,b)" to 'ds'. */
static void
format_values(const struct cf_sel_req *req, struct cf_ds *ds)
{
    cf_ds_put_char(ds, '(');
    for (size_t i = 0; i < req->n_values; i++) {
        if (i) {
            cf_ds_put_char(ds, ',');
        }
        cf_ds_put_cstr(ds, req->values[i]);
    }
    cf_ds_put_char(ds, ')');
}

/* Appends the canonical text form of 'sel' to 'ds', in the syntax of
 * Kubernetes label selectors: "app=web", "app in (db,web)", "tier notin
 * (x)", "tier", "!tier", separated by commas.  The empty selector appends
 * nothing. */
void
cf_selector_format(const struct cf_selector *sel, struct cf_ds *ds)
{
    for (size_t i = 0; i < sel->n_reqs; i++) {
        const struct cf_sel_req *req = &sel->reqs[i];
        if (i) {
            cf_ds_put_char(ds, ',');
        }
        switch (req->op) {
        case CF_SEL_IN:
            if (req->n_values == 1) {
                cf_ds_put_joined(ds, req->key, '=', req->values[0]);
            } else {
                cf_ds_put_cstr(ds, req->key);
                cf_ds_put_cstr(ds, " in ");
                format_values(req, ds);
            }
            break;
        case CF_SEL_NOT_IN:
            cf_ds_put_cstr(ds, req->key);
            cf_ds_put_cstr(ds, " notin ");
            format_values(req, ds);
            break;
        case CF_SEL_EXISTS:
            cf_ds_put_cstr(ds, req->key);
            break;
        case CF_SEL_DOES_NOT_EXIST:
            cf_ds_put_char(ds, '!');
            cf_ds_put_cstr(ds, req->key);
            break;
        default:
            cf_ds_put_cstr(ds, "<invalid>");
            break;
        }
    }
}

/* ---- Protocols ---------------------------------------------------------- */

/* Returns "TCP", "UDP" or "SCTP". */
const char *
cf_proto_name(enum cf_proto proto)
{
    switch (proto) {
    case CF_PROTO_TCP:
        return "TCP";
    case CF_PROTO_UDP:
        return "UDP";
    case CF_PROTO_SCTP:
        return "SCTP";
    default:
        return "<invalid>";
    }
}

/* Parses "TCP", "UDP" or "SCTP" into '*proto'.  Returns false otherwise. */
bool
cf_proto_parse(const char *s, enum cf_proto *proto)
{
    if (!strcmp(s, "TCP")) {
        *proto = CF_PROTO_TCP;
    } else if (!strcmp(s, "UDP")) {
        *proto = CF_PROTO_UDP;
    } else if (!strcmp(s, "SCTP")) {
        *proto = CF_PROTO_SCTP;
    } else {
        return false;
    }
    return true;
}

/* ---- Objects ------------------------------------------------------------ */

/* Frees 'ns' and everything it owns.  Accepts NULL. */
void
cf_namespace_destroy(struct cf_namespace *ns)
{
    if (ns) {
        free(ns->name);
        cf_labels_destroy(&ns->labels);
        free(ns);
    }
}

/* Frees 'pod' and everything it owns.  Accepts NULL. */
void
cf_pod_destroy(struct cf_pod *pod)
{
    if (pod) {
        free(pod->ns);
        free(pod->name);
        free(pod->node);
        cf_labels_destroy(&pod->labels);
        free(pod->ips);
        for (size_t i = 0; i < pod->n_ports; i++) {
            free(pod->ports[i].name);
        }
        free(pod->ports);
        free(pod);
    }
}

/* Frees the contents of 'peer'.  Accepts NULL. */
void
cf_peer_destroy(struct cf_peer *peer)
{
    if (peer) {
        cf_selector_destroy(&peer->pod_sel);
        cf_selector_destroy(&peer->ns_sel);
        free(peer->ipblock.except);
        peer->ipblock.except = NULL;
        peer->ipblock.n_except = 0;
    }
}

/* Frees the contents of 'rule'.  Accepts NULL. */
void
cf_rule_destroy(struct cf_rule *rule)
{
    if (rule) {
        for (size_t i = 0; i < rule->n_peers; i++) {
            cf_peer_destroy(&rule->peers[i]);
        }
        free(rule->peers);
        for (size_t i = 0; i < rule->n_ports; i++) {
            free(rule->ports[i].name);
        }
        free(rule->ports);
        rule->peers = NULL;
        rule->n_peers = 0;
        rule->ports = NULL;
        rule->n_ports = 0;
    }
}

/* Frees 'policy' and everything it owns.  Accepts NULL. */
void
cf_policy_destroy(struct cf_policy *policy)
{
    if (policy) {
        free(policy->ns);
        free(policy->name);
        cf_selector_destroy(&policy->pod_sel);
        for (size_t i = 0; i < policy->n_ingress; i++) {
            cf_rule_destroy(&policy->ingress_rules[i]);
        }
        free(policy->ingress_rules);
        for (size_t i = 0; i < policy->n_egress; i++) {
            cf_rule_destroy(&policy->egress_rules[i]);
        }
        free(policy->egress_rules);
        free(policy);
    }
}

/* Frees 'node' and everything it owns.  Accepts NULL. */
void
cf_node_destroy(struct cf_node *node)
{
    if (node) {
        free(node->name);
        free(node->ovsdb);
        free(node->bridge);
        free(node->addrs);
        free(node);
    }
}

/* Returns a malloc'd copy of the 'n' elements of 'size' bytes at 'p'. */
static void *
memdup(const void *p, size_t n, size_t size)
{
    void *q = cf_xcalloc(n, size);
    if (n) {
        memcpy(q, p, n * size);
    }
    return q;
}

/* Returns a deep copy of 'ns' (the caller owns it). */
struct cf_namespace *
cf_namespace_clone(const struct cf_namespace *ns)
{
    struct cf_namespace *copy = cf_xzalloc(sizeof *copy);
    copy->name = cf_xstrdup(ns->name);
    cf_labels_clone(&copy->labels, &ns->labels);
    return copy;
}

/* Returns a deep copy of 'pod' (the caller owns it). */
struct cf_pod *
cf_pod_clone(const struct cf_pod *pod)
{
    struct cf_pod *copy = cf_xzalloc(sizeof *copy);
    copy->ns = cf_xstrdup(pod->ns);
    copy->name = cf_xstrdup(pod->name);
    copy->node = cf_xstrdup(pod->node);
    cf_labels_clone(&copy->labels, &pod->labels);
    copy->ips = memdup(pod->ips, pod->n_ips, sizeof *pod->ips);
    copy->n_ips = pod->n_ips;
    copy->ports = memdup(pod->ports, pod->n_ports, sizeof *pod->ports);
    copy->n_ports = pod->n_ports;
    for (size_t i = 0; i < pod->n_ports; i++) {
        copy->ports[i].name = cf_xstrdup(pod->ports[i].name);
    }
    copy->host_network = pod->host_network;
    return copy;
}

/* Initializes 'dst' as a deep copy of 'src'. */
static void
peer_clone(struct cf_peer *dst, const struct cf_peer *src)
{
    *dst = *src;
    cf_selector_clone(&dst->pod_sel, &src->pod_sel);
    cf_selector_clone(&dst->ns_sel, &src->ns_sel);
    dst->ipblock.except = memdup(src->ipblock.except, src->ipblock.n_except,
                                 sizeof *src->ipblock.except);
}

/* Returns a malloc'd deep copy of the 'n' rules at 'src'. */
static struct cf_rule *
rules_clone(const struct cf_rule *src, size_t n)
{
    struct cf_rule *dst = cf_xcalloc(n, sizeof *dst);
    for (size_t i = 0; i < n; i++) {
        const struct cf_rule *s = &src[i];
        struct cf_rule *d = &dst[i];
        d->n_peers = s->n_peers;
        d->peers = cf_xcalloc(s->n_peers, sizeof *d->peers);
        for (size_t j = 0; j < s->n_peers; j++) {
            peer_clone(&d->peers[j], &s->peers[j]);
        }
        d->n_ports = s->n_ports;
        d->ports = memdup(s->ports, s->n_ports, sizeof *s->ports);
        for (size_t j = 0; j < s->n_ports; j++) {
            d->ports[j].name = cf_xstrdup(s->ports[j].name);
        }
    }
    return dst;
}

/* Returns a deep copy of 'policy' (the caller owns it). */
struct cf_policy *
cf_policy_clone(const struct cf_policy *policy)
{
    struct cf_policy *copy = cf_xzalloc(sizeof *copy);
    *copy = *policy;
    copy->ns = cf_xstrdup(policy->ns);
    copy->name = cf_xstrdup(policy->name);
    cf_selector_clone(&copy->pod_sel, &policy->pod_sel);
    copy->ingress_rules = rules_clone(policy->ingress_rules,
                                      policy->n_ingress);
    copy->egress_rules = rules_clone(policy->egress_rules, policy->n_egress);
    return copy;
}

/* Returns a deep copy of 'node' (the caller owns it). */
struct cf_node *
cf_node_clone(const struct cf_node *node)
{
    struct cf_node *copy = cf_xzalloc(sizeof *copy);
    copy->id = node->id;
    copy->name = cf_xstrdup(node->name);
    copy->ovsdb = cf_xstrdup(node->ovsdb);
    copy->bridge = cf_xstrdup(node->bridge);
    copy->addrs = memdup(node->addrs, node->n_addrs, sizeof *node->addrs);
    copy->n_addrs = node->n_addrs;
    return copy;
}

/* Returns the number of 'pod''s container port named 'name' with protocol
 * 'proto', or 0 if there is none. */
uint16_t
cf_pod_resolve_port(const struct cf_pod *pod, const char *name,
                    enum cf_proto proto)
{
    for (size_t i = 0; i < pod->n_ports; i++) {
        const struct cf_container_port *p = &pod->ports[i];
        if (p->name && p->proto == proto && !strcmp(p->name, name)) {
            return p->port;
        }
    }
    return 0;
}

/* ---- Kinds and tagged objects ------------------------------------------- */

/* Returns the lowercase name of 'kind' as conjflowctl prints it. */
const char *
cf_kind_name(enum cf_kind kind)
{
    switch (kind) {
    case CF_KIND_NAMESPACE:
        return "namespace";
    case CF_KIND_POD:
        return "pod";
    case CF_KIND_POLICY:
        return "networkpolicy";
    case CF_KIND_NODE:
        return "node";
    default:
        return "<invalid>";
    }
}

/* Parses 's' as kubectl does (singular, plural or short name, any case)
 * into '*kind'.  Returns false if 's' names no kind. */
bool
cf_kind_parse(const char *s, enum cf_kind *kind)
{
    static const struct {
        const char *name;
        enum cf_kind kind;
    } names[] = {
        { "namespace", CF_KIND_NAMESPACE },
        { "namespaces", CF_KIND_NAMESPACE },
        { "ns", CF_KIND_NAMESPACE },
        { "pod", CF_KIND_POD },
        { "pods", CF_KIND_POD },
        { "po", CF_KIND_POD },
        { "networkpolicy", CF_KIND_POLICY },
        { "networkpolicies", CF_KIND_POLICY },
        { "netpol", CF_KIND_POLICY },
        { "networkpolicy.networking.k8s.io", CF_KIND_POLICY },
        { "networkpolicies.networking.k8s.io", CF_KIND_POLICY },
        { "node", CF_KIND_NODE },
        { "nodes", CF_KIND_NODE },
        { "no", CF_KIND_NODE },
        { "node.conjflow.io", CF_KIND_NODE },
        { "nodes.conjflow.io", CF_KIND_NODE },
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(names); i++) {
        if (!strcasecmp(s, names[i].name)) {
            *kind = names[i].kind;
            return true;
        }
    }
    return false;
}

/* True for kinds that live in a namespace (pods and policies). */
bool
cf_kind_namespaced(enum cf_kind kind)
{
    return kind == CF_KIND_POD || kind == CF_KIND_POLICY;
}

/* Frees 'obj', its model struct and its manifest.  Accepts NULL. */
void
cf_object_destroy(struct cf_object *obj)
{
    if (!obj) {
        return;
    }
    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        cf_namespace_destroy(obj->ns);
        break;
    case CF_KIND_POD:
        cf_pod_destroy(obj->pod);
        break;
    case CF_KIND_POLICY:
        cf_policy_destroy(obj->policy);
        break;
    case CF_KIND_NODE:
        cf_node_destroy(obj->node);
        break;
    default:
        break;
    }
    free(obj->manifest);
    free(obj);
}

/* Returns a deep copy of 'obj' (model struct and manifest). */
struct cf_object *
cf_object_clone(const struct cf_object *obj)
{
    struct cf_object *copy = cf_xzalloc(sizeof *copy);
    copy->kind = obj->kind;
    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        copy->ns = obj->ns ? cf_namespace_clone(obj->ns) : NULL;
        break;
    case CF_KIND_POD:
        copy->pod = obj->pod ? cf_pod_clone(obj->pod) : NULL;
        break;
    case CF_KIND_POLICY:
        copy->policy = obj->policy ? cf_policy_clone(obj->policy) : NULL;
        break;
    case CF_KIND_NODE:
        copy->node = obj->node ? cf_node_clone(obj->node) : NULL;
        break;
    default:
        break;
    }
    copy->manifest = cf_xstrdup(obj->manifest);
    return copy;
}

/* Returns 'obj''s namespace, or NULL for cluster-scoped kinds. */
const char *
cf_object_ns(const struct cf_object *obj)
{
    switch (obj->kind) {
    case CF_KIND_POD:
        return obj->pod->ns;
    case CF_KIND_POLICY:
        return obj->policy->ns;
    case CF_KIND_NAMESPACE:
    case CF_KIND_NODE:
    default:
        return NULL;
    }
}

/* Returns 'obj''s name. */
const char *
cf_object_name(const struct cf_object *obj)
{
    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        return obj->ns->name;
    case CF_KIND_POD:
        return obj->pod->name;
    case CF_KIND_POLICY:
        return obj->policy->name;
    case CF_KIND_NODE:
        return obj->node->name;
    default:
        return NULL;
    }
}

/* Appends "KIND NS/NAME" or "KIND NAME" for 'obj' to 'ds'. */
void
cf_object_describe(const struct cf_object *obj, struct cf_ds *ds)
{
    const char *ns = cf_object_ns(obj);
    cf_ds_put_format(ds, "%s ", cf_kind_name(obj->kind));
    if (ns) {
        cf_ds_put_format(ds, "%s/", ns);
    }
    cf_ds_put_cstr(ds, cf_object_name(obj));
}

/* ---- Clusters ----------------------------------------------------------- */

/* Initializes 'c' as an empty cluster. */
void
cf_cluster_init(struct cf_cluster *c)
{
    memset(c, 0, sizeof *c);
}

/* Frees every object of 'c' and leaves it empty. */
void
cf_cluster_destroy(struct cf_cluster *c)
{
    for (size_t i = 0; i < c->n_namespaces; i++) {
        cf_namespace_destroy(c->namespaces[i]);
    }
    for (size_t i = 0; i < c->n_pods; i++) {
        cf_pod_destroy(c->pods[i]);
    }
    for (size_t i = 0; i < c->n_policies; i++) {
        cf_policy_destroy(c->policies[i]);
    }
    for (size_t i = 0; i < c->n_nodes; i++) {
        cf_node_destroy(c->nodes[i]);
    }
    free(c->namespaces);
    free(c->pods);
    free(c->policies);
    free(c->nodes);
    cf_cluster_init(c);
}

/* Appends 'p' to the pointer array '*array' of '*n' elements. */
static void
push_ptr(void ***array, size_t *n, size_t *allocated, void *p)
{
    if (*n >= *allocated) {
        *array = cf_x2nrealloc(*array, allocated, sizeof **array);
    }
    (*array)[(*n)++] = p;
}

/* Adds the model struct of 'obj' to 'c', which takes ownership of it;
 * 'obj' and its manifest are freed. */
void
cf_cluster_add(struct cf_cluster *c, struct cf_object *obj)
{
    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        push_ptr((void ***) &c->namespaces, &c->n_namespaces,
                 &c->allocated_namespaces, obj->ns);
        break;
    case CF_KIND_POD:
        push_ptr((void ***) &c->pods, &c->n_pods, &c->allocated_pods,
                 obj->pod);
        break;
    case CF_KIND_POLICY:
        push_ptr((void ***) &c->policies, &c->n_policies,
                 &c->allocated_policies, obj->policy);
        break;
    case CF_KIND_NODE:
        push_ptr((void ***) &c->nodes, &c->n_nodes, &c->allocated_nodes,
                 obj->node);
        break;
    default:
        cf_assert(false);
    }
    free(obj->manifest);
    free(obj);
}

/* Compares (ns_a, name_a) with (ns_b, name_b); a NULL namespace sorts
 * first. */
static int
compare_ns_name(const char *ns_a, const char *name_a,
                const char *ns_b, const char *name_b)
{
    if (ns_a != ns_b) {
        if (!ns_a || !ns_b) {
            return ns_a ? 1 : -1;
        }
        int cmp = strcmp(ns_a, ns_b);
        if (cmp) {
            return cmp;
        }
    }
    return strcmp(name_a, name_b);
}

static int
compare_namespaces(const void *a_, const void *b_)
{
    const struct cf_namespace *const *a = a_;
    const struct cf_namespace *const *b = b_;
    return strcmp((*a)->name, (*b)->name);
}

static int
compare_pods(const void *a_, const void *b_)
{
    const struct cf_pod *const *a = a_;
    const struct cf_pod *const *b = b_;
    return compare_ns_name((*a)->ns, (*a)->name, (*b)->ns, (*b)->name);
}

static int
compare_policies(const void *a_, const void *b_)
{
    const struct cf_policy *const *a = a_;
    const struct cf_policy *const *b = b_;
    return compare_ns_name((*a)->ns, (*a)->name, (*b)->ns, (*b)->name);
}

static int
compare_nodes(const void *a_, const void *b_)
{
    const struct cf_node *const *a = a_;
    const struct cf_node *const *b = b_;
    return strcmp((*a)->name, (*b)->name);
}

/* Sorts the 'n' pointers in 'v' with qsort() comparison 'cmp'.  A
 * cluster is usually sorted but for a few objects appended at the end (a
 * change loaded by itself): those are inserted in place, by binary search,
 * instead of sorting everything again. */
static void
sort_ptrs(void **v, size_t n, int (*cmp)(const void *, const void *))
{
    size_t k = 1;               /* Length of the sorted prefix. */
    while (k < n && cmp(&v[k - 1], &v[k]) <= 0) {
        k++;
    }
    if (k >= n) {
        return;
    }
    if (n - k > 8) {
        qsort(v, n, sizeof *v, cmp);
        return;
    }
    for (size_t i = k; i < n; i++) {
        void *x = v[i];
        size_t lo = 0, hi = i;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cmp(&v[mid], &x) <= 0) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        memmove(&v[lo + 1], &v[lo], (i - lo) * sizeof *v);
        v[lo] = x;
    }
}

/* Sorts every array of 'c' by (namespace, name). */
void
cf_cluster_sort(struct cf_cluster *c)
{
    sort_ptrs((void **) c->namespaces, c->n_namespaces, compare_namespaces);
    sort_ptrs((void **) c->pods, c->n_pods, compare_pods);
    sort_ptrs((void **) c->policies, c->n_policies, compare_policies);
    sort_ptrs((void **) c->nodes, c->n_nodes, compare_nodes);
}

/* Gives every policy and node of 'c' whose id is 0 an id, in (namespace,
 * name) order, after the largest id already in use.  Sorts 'c'. */
void
cf_cluster_assign_ids(struct cf_cluster *c)
{
    cf_cluster_sort(c);

    uint32_t max = 0;
    for (size_t i = 0; i < c->n_policies; i++) {
        max = CF_MAX(max, c->policies[i]->id);
    }
    for (size_t i = 0; i < c->n_policies; i++) {
        if (!c->policies[i]->id) {
            cf_assert(max < CF_MAX_POLICY_ID);
            c->policies[i]->id = ++max;
        }
    }

    max = 0;
    for (size_t i = 0; i < c->n_nodes; i++) {
        max = CF_MAX(max, c->nodes[i]->id);
    }
    for (size_t i = 0; i < c->n_nodes; i++) {
        if (!c->nodes[i]->id) {
            cf_assert(max < 65535);
            c->nodes[i]->id = ++max;
        }
    }
}

/* Returns the namespace named 'name' in sorted 'c', or NULL. */
const struct cf_namespace *
cf_cluster_find_namespace(const struct cf_cluster *c, const char *name)
{
    size_t lo = 0, hi = c->n_namespaces;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->namespaces[mid]->name, name);
        if (!cmp) {
            return c->namespaces[mid];
        } else if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Returns the pod 'ns'/'name' in sorted 'c', or NULL. */
const struct cf_pod *
cf_cluster_find_pod(const struct cf_cluster *c, const char *ns,
                    const char *name)
{
    size_t lo = 0, hi = c->n_pods;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cf_pod *pod = c->pods[mid];
        int cmp = compare_ns_name(pod->ns, pod->name, ns, name);
        if (!cmp) {
            return pod;
        } else if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Returns the policy 'ns'/'name' in sorted 'c', or NULL. */
const struct cf_policy *
cf_cluster_find_policy(const struct cf_cluster *c, const char *ns,
                       const char *name)
{
    size_t lo = 0, hi = c->n_policies;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct cf_policy *p = c->policies[mid];
        int cmp = compare_ns_name(p->ns, p->name, ns, name);
        if (!cmp) {
            return p;
        } else if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Returns the node named 'name' in sorted 'c', or NULL. */
const struct cf_node *
cf_cluster_find_node(const struct cf_cluster *c, const char *name)
{
    size_t lo = 0, hi = c->n_nodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->nodes[mid]->name, name);
        if (!cmp) {
            return c->nodes[mid];
        } else if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* ---- Node ports --------------------------------------------------------- */

/* Initializes 'np' as empty. */
void
cf_node_ports_init(struct cf_node_ports *np)
{
    memset(np, 0, sizeof *np);
}

/* Frees the contents of 'np' and leaves it empty.  Accepts NULL. */
void
cf_node_ports_destroy(struct cf_node_ports *np)
{
    if (!np) {
        return;
    }
    for (size_t i = 0; i < np->n_bindings; i++) {
        free(np->bindings[i].pod);
    }
    free(np->bindings);
    free(np->uplinks);
    free(np->unknown);
    cf_node_ports_init(np);
}

void
cf_node_ports_clone(struct cf_node_ports *dst,
                    const struct cf_node_ports *src)
{
    cf_node_ports_init(dst);
    dst->n_bindings = src->n_bindings;
    dst->bindings = memdup(src->bindings, src->n_bindings,
                           sizeof *src->bindings);
    for (size_t i = 0; i < src->n_bindings; i++) {
        dst->bindings[i].pod = cf_xstrdup(src->bindings[i].pod);
    }
    dst->n_uplinks = src->n_uplinks;
    dst->uplinks = memdup(src->uplinks, src->n_uplinks, sizeof *src->uplinks);
    dst->n_unknown = src->n_unknown;
    dst->unknown = memdup(src->unknown, src->n_unknown, sizeof *src->unknown);
}

bool
cf_node_ports_equal(const struct cf_node_ports *a,
                    const struct cf_node_ports *b)
{
    if (a->n_bindings != b->n_bindings || a->n_uplinks != b->n_uplinks
        || a->n_unknown != b->n_unknown) {
        return false;
    }
    for (size_t i = 0; i < a->n_bindings; i++) {
        const struct cf_binding *x = &a->bindings[i];
        const struct cf_binding *y = &b->bindings[i];
        if (strcmp(x->pod, y->pod) || x->ofport != y->ofport
            || x->has_mac != y->has_mac
            || (x->has_mac && memcmp(x->mac, y->mac, 6))) {
            return false;
        }
    }
    return ((!a->n_uplinks
             || !memcmp(a->uplinks, b->uplinks,
                        a->n_uplinks * sizeof *a->uplinks))
            && (!a->n_unknown
                || !memcmp(a->unknown, b->unknown,
                           a->n_unknown * sizeof *a->unknown)));
}

static int
compare_bindings(const void *a_, const void *b_)
{
    const struct cf_binding *a = a_;
    const struct cf_binding *b = b_;
    return strcmp(a->pod, b->pod);
}

static int
compare_u32(const void *a_, const void *b_)
{
    const uint32_t *a = a_;
    const uint32_t *b = b_;
    return *a < *b ? -1 : *a > *b;
}

/* Parses 's' as an OpenFlow port number 1..65279 into '*ofport'. */
static bool
parse_ofport(const char *s, uint32_t *ofport)
{
    size_t n = strspn(s, "0123456789");
    if (!n || s[n] || n > 5 || s[0] == '0') {
        return false;
    }
    unsigned long v = strtoul(s, NULL, 10);
    if (v < 1 || v > 0xfeff) {
        return false;
    }
    *ofport = v;
    return true;
}

/* Parses 's' as a MAC "aa:bb:cc:dd:ee:ff" into 'mac'. */
static bool
parse_mac(const char *s, uint8_t mac[6])
{
    for (int i = 0; i < 6; i++) {
        if (!isxdigit((unsigned char) s[0])
            || !isxdigit((unsigned char) s[1])
            || s[2] != (i < 5 ? ':' : '\0')) {
            return false;
        }
        char hex[3] = { s[0], s[1], '\0' };
        mac[i] = strtoul(hex, NULL, 16);
        s += 3;
    }
    return true;
}

/* Splits 'line' in place into at most 'max' whitespace-separated words,
 * storing them in 'words'.  Returns the number of words, or max + 1 if
 * there were more. */
static size_t
split_words(char *line, char **words, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r", &save); w;
         w = strtok_r(NULL, " \t\r", &save)) {
        if (n >= max) {
            return max + 1;
        }
        words[n++] = w;
    }
    return n;
}

/* Parses one line 'line' (modified in place) of a port map into 'np'.
 * Returns NULL or a malloc'd message (without location). */
static char *
node_ports_parse_line(char *line, struct cf_node_ports *np,
                      size_t *alloc_bindings, size_t *alloc_uplinks)
{
    char *hash = strchr(line, '#');
    if (hash) {
        *hash = '\0';
    }
    char *words[3];
    size_t n = split_words(line, words, 3);
    if (!n) {
        return NULL;
    }
    if (n > 3) {
        return cf_xstrdup("too many fields (expected \"<namespace>/<pod> "
                          "<ofport> [<mac>]\" or \"uplink <ofport>\")");
    }

    uint32_t ofport;
    if (!strcmp(words[0], "uplink")) {
        if (n != 2) {
            return cf_xstrdup("expected \"uplink <ofport>\"");
        }
        if (!parse_ofport(words[1], &ofport)) {
            return cf_xasprintf("\"%s\" is not a valid OpenFlow port "
                                "number (1..65279)", words[1]);
        }
        if (np->n_uplinks >= *alloc_uplinks) {
            np->uplinks = cf_x2nrealloc(np->uplinks, alloc_uplinks,
                                        sizeof *np->uplinks);
        }
        np->uplinks[np->n_uplinks++] = ofport;
        return NULL;
    }

    const char *slash = strchr(words[0], '/');
    if (!slash || slash == words[0] || !slash[1] || strchr(slash + 1, '/')) {
        return cf_xasprintf("\"%s\" is not \"<namespace>/<pod>\"", words[0]);
    }
    if (n < 2) {
        return cf_xasprintf("missing OpenFlow port number after \"%s\"",
                            words[0]);
    }
    if (!parse_ofport(words[1], &ofport)) {
        return cf_xasprintf("\"%s\" is not a valid OpenFlow port number "
                            "(1..65279)", words[1]);
    }
    struct cf_binding b = { .ofport = ofport };
    if (n == 3) {
        if (!parse_mac(words[2], b.mac)) {
            return cf_xasprintf("\"%s\" is not a valid MAC address "
                                "(expected xx:xx:xx:xx:xx:xx)", words[2]);
        }
        b.has_mac = true;
    }
    b.pod = cf_xstrdup(words[0]);
    if (np->n_bindings >= *alloc_bindings) {
        np->bindings = cf_x2nrealloc(np->bindings, alloc_bindings,
                                     sizeof *np->bindings);
    }
    np->bindings[np->n_bindings++] = b;
    return NULL;
}

/* Checks 'np' (sorted) for a pod bound twice or an OpenFlow port used
 * twice.  Returns NULL or a malloc'd message. */
static char *
node_ports_check(const struct cf_node_ports *np)
{
    for (size_t i = 1; i < np->n_bindings; i++) {
        if (!strcmp(np->bindings[i].pod, np->bindings[i - 1].pod)) {
            return cf_xasprintf("pod %s is listed twice",
                                np->bindings[i].pod);
        }
    }
    size_t n = np->n_bindings + np->n_uplinks;
    uint32_t *all = cf_xcalloc(n, sizeof *all);
    for (size_t i = 0; i < np->n_bindings; i++) {
        all[i] = np->bindings[i].ofport;
    }
    for (size_t i = 0; i < np->n_uplinks; i++) {
        all[np->n_bindings + i] = np->uplinks[i];
    }
    if (n) {
        qsort(all, n, sizeof *all, compare_u32);
    }
    char *error = NULL;
    for (size_t i = 1; i < n; i++) {
        if (all[i] == all[i - 1]) {
            error = cf_xasprintf("OpenFlow port %"PRIu32" is listed twice",
                                 all[i]);
            break;
        }
    }
    free(all);
    return error;
}

/* Parses the port map 'text' (lines "<namespace>/<pod> <ofport> [<mac>]",
 * "uplink <ofport>", blank lines, '#' comments) into 'np', which must be
 * initialized and is replaced on success.  'file_name' names the input in
 * messages.  Returns NULL, or a malloc'd message naming the line (and then
 * 'np' is unchanged). */
char *
cf_node_ports_parse(const char *text, const char *file_name,
                    struct cf_node_ports *np)
{
    struct cf_node_ports new;
    size_t alloc_bindings = 0, alloc_uplinks = 0;
    char *error = NULL;

    cf_node_ports_init(&new);
    const char *p = text;
    for (int line_no = 1; *p; line_no++) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t) (eol - p) : strlen(p);
        char *line = cf_xmemdup0(p, len);
        char *msg = node_ports_parse_line(line, &new, &alloc_bindings,
                                          &alloc_uplinks);
        free(line);
        if (msg) {
            error = cf_xasprintf("%s: line %d: %s", file_name, line_no, msg);
            free(msg);
            break;
        }
        p += len + (eol ? 1 : 0);
    }
    if (!error) {
        if (new.n_bindings) {
            qsort(new.bindings, new.n_bindings, sizeof *new.bindings,
                  compare_bindings);
        }
        if (new.n_uplinks) {
            qsort(new.uplinks, new.n_uplinks, sizeof *new.uplinks,
                  compare_u32);
        }
        char *msg = node_ports_check(&new);
        if (msg) {
            error = cf_xasprintf("%s: %s", file_name, msg);
            free(msg);
        }
    }
    if (error) {
        cf_node_ports_destroy(&new);
        return error;
    }
    cf_node_ports_destroy(np);
    *np = new;
    return NULL;
}
