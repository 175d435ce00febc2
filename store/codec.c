/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The store's record codec (see codec.h for the format).  Encoding appends
 * to a cf_ds; decoding reads through a bounds-checked cursor that records
 * the first problem and turns every later read into a no-op, so the decode
 * functions read straight through and check for an error once at the end.
 * Arrays are allocated zeroed with their final count before their elements
 * are read, so a half-decoded object is always safe to destroy.
 */
#include "conjflow-config.h"

#include "codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"

/* ---- Encoding ----------------------------------------------------------- */

/* Appends 'v' to 'out' as an unsigned LEB128 varint. */
static void
put_varint(struct cf_ds *out, uint64_t v)
{
    char buf[10];
    size_t n = 0;

    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        buf[n++] = (char) (v ? byte | 0x80 : byte);
    } while (v);
    cf_ds_put_buf(out, buf, n);
}

/* Appends one byte 'v' to 'out'. */
static void
put_u8(struct cf_ds *out, uint8_t v)
{
    char c = (char) v;
    cf_ds_put_buf(out, &c, 1);
}

/* Appends the non-null string 's' to 'out'. */
static void
put_str(struct cf_ds *out, const char *s)
{
    size_t len = strlen(s);
    put_varint(out, len);
    cf_ds_put_buf(out, s, len);
}

/* Appends the string 's', which may be NULL, to 'out'. */
static void
put_optstr(struct cf_ds *out, const char *s)
{
    if (!s) {
        put_varint(out, 0);
    } else {
        size_t len = strlen(s);
        put_varint(out, len + 1);
        cf_ds_put_buf(out, s, len);
    }
}

/* Appends label set 'labels' to 'out'. */
static void
put_labels(struct cf_ds *out, const struct cf_labels *labels)
{
    put_varint(out, labels->n);
    for (size_t i = 0; i < labels->n; i++) {
        put_str(out, labels->items[i].key);
        put_str(out, labels->items[i].value ? labels->items[i].value : "");
    }
}

/* Appends selector 'sel' to 'out'. */
static void
put_selector(struct cf_ds *out, const struct cf_selector *sel)
{
    put_varint(out, sel->n_reqs);
    for (size_t i = 0; i < sel->n_reqs; i++) {
        const struct cf_sel_req *req = &sel->reqs[i];
        put_str(out, req->key);
        put_u8(out, (uint8_t) req->op);
        put_varint(out, req->n_values);
        for (size_t j = 0; j < req->n_values; j++) {
            put_str(out, req->values[j]);
        }
    }
}

/* Appends address 'addr' to 'out'. */
static void
put_addr(struct cf_ds *out, const struct cf_addr *addr)
{
    put_u8(out, addr->family);
    cf_ds_put_buf(out, (const char *) addr->bytes,
                  addr->family == 4 ? 4 : 16);
}

/* Appends CIDR 'cidr' to 'out'. */
static void
put_cidr(struct cf_ds *out, const struct cf_cidr *cidr)
{
    put_addr(out, &cidr->addr);
    put_u8(out, cidr->plen);
}

/* Appends rule 'rule' to 'out'. */
static void
put_rule(struct cf_ds *out, const struct cf_rule *rule)
{
    put_varint(out, rule->n_peers);
    for (size_t i = 0; i < rule->n_peers; i++) {
        const struct cf_peer *peer = &rule->peers[i];
        put_u8(out, (peer->has_pod_sel ? 1 : 0) | (peer->has_ns_sel ? 2 : 0)
                    | (peer->has_ipblock ? 4 : 0));
        if (peer->has_pod_sel) {
            put_selector(out, &peer->pod_sel);
        }
        if (peer->has_ns_sel) {
            put_selector(out, &peer->ns_sel);
        }
        if (peer->has_ipblock) {
            put_cidr(out, &peer->ipblock.cidr);
            put_varint(out, peer->ipblock.n_except);
            for (size_t j = 0; j < peer->ipblock.n_except; j++) {
                put_cidr(out, &peer->ipblock.except[j]);
            }
        }
    }
    put_varint(out, rule->n_ports);
    for (size_t i = 0; i < rule->n_ports; i++) {
        const struct cf_port *port = &rule->ports[i];
        put_varint(out, port->proto);
        put_u8(out, (uint8_t) port->kind);
        put_varint(out, port->port);
        put_varint(out, port->end_port);
        put_optstr(out, port->kind == CF_PORT_NAME ? port->name : NULL);
    }
}

void
cf_codec_encode(const struct cf_object *obj, struct cf_ds *out)
{
    put_u8(out, CF_CODEC_VERSION);
    put_u8(out, (uint8_t) obj->kind);

    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        put_str(out, obj->ns->name);
        put_labels(out, &obj->ns->labels);
        break;

    case CF_KIND_POD: {
        const struct cf_pod *pod = obj->pod;
        put_str(out, pod->ns);
        put_str(out, pod->name);
        put_optstr(out, pod->node);
        put_labels(out, &pod->labels);
        put_varint(out, pod->n_ips);
        for (size_t i = 0; i < pod->n_ips; i++) {
            put_addr(out, &pod->ips[i]);
        }
        put_varint(out, pod->n_ports);
        for (size_t i = 0; i < pod->n_ports; i++) {
            put_optstr(out, pod->ports[i].name);
            put_varint(out, pod->ports[i].port);
            put_varint(out, pod->ports[i].proto);
        }
        put_u8(out, pod->host_network);
        break;
    }

    case CF_KIND_POLICY: {
        const struct cf_policy *policy = obj->policy;
        put_str(out, policy->ns);
        put_str(out, policy->name);
        put_selector(out, &policy->pod_sel);
        put_u8(out, (policy->ingress ? 1 : 0) | (policy->egress ? 2 : 0)
                    | (policy->log ? 4 : 0));
        put_varint(out, policy->n_ingress);
        for (size_t i = 0; i < policy->n_ingress; i++) {
            put_rule(out, &policy->ingress_rules[i]);
        }
        put_varint(out, policy->n_egress);
        for (size_t i = 0; i < policy->n_egress; i++) {
            put_rule(out, &policy->egress_rules[i]);
        }
        break;
    }

    case CF_KIND_NODE: {
        const struct cf_node *node = obj->node;
        put_str(out, node->name);
        put_optstr(out, node->ovsdb);
        put_optstr(out, node->bridge);
        put_varint(out, node->n_addrs);
        for (size_t i = 0; i < node->n_addrs; i++) {
            put_addr(out, &node->addrs[i]);
        }
        break;
    }
    }
}

/* ---- Decoding ----------------------------------------------------------- */

/* A bounds-checked read cursor. */
struct reader {
    const uint8_t *p;           /* Next byte to read. */
    const uint8_t *end;         /* One past the last byte. */
    const char *error;          /* First problem found (static string), or
                                 * NULL. */
};

/* Records 'error' in 'r' unless an earlier one is there; later reads then
 * return zeros. */
static void
fail(struct reader *r, const char *error)
{
    if (!r->error) {
        r->error = error;
    }
    r->p = r->end;
}

/* Reads one byte. */
static uint8_t
get_u8(struct reader *r)
{
    if (r->p >= r->end) {
        fail(r, "truncated");
        return 0;
    }
    return *r->p++;
}

/* Reads a varint. */
static uint64_t
get_varint(struct reader *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            fail(r, "truncated");
            return 0;
        }
        uint8_t byte = *r->p++;
        v |= (uint64_t) (byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            return v;
        }
    }
    fail(r, "varint too long");
    return 0;
}

/* Reads a varint that must be at most 'max'. */
static uint64_t
get_bounded(struct reader *r, uint64_t max)
{
    uint64_t v = get_varint(r);
    if (v > max) {
        fail(r, "value out of range");
        return 0;
    }
    return v;
}

/* Reads an element count: each element takes at least one byte, so a
 * count larger than the bytes left is corrupt (and never allocated). */
static size_t
get_count(struct reader *r)
{
    return get_bounded(r, r->end - r->p);
}

/* Reads 'len' raw bytes into a new null-terminated string. */
static char *
get_bytes(struct reader *r, uint64_t len)
{
    if (len > (uint64_t) (r->end - r->p)) {
        fail(r, "truncated string");
        return NULL;
    }
    char *s = cf_xmemdup0((const char *) r->p, len);
    r->p += len;
    return s;
}

/* Reads a non-null string (NULL only on error). */
static char *
get_str(struct reader *r)
{
    return get_bytes(r, get_varint(r));
}

/* Reads a string that may be NULL. */
static char *
get_optstr(struct reader *r)
{
    uint64_t len = get_varint(r);
    return len ? get_bytes(r, len - 1) : NULL;
}

/* Reads a label set into zeroed 'labels'. */
static void
get_labels(struct reader *r, struct cf_labels *labels)
{
    size_t n = get_count(r);
    labels->items = cf_xcalloc(n, sizeof *labels->items);
    labels->n = n;
    for (size_t i = 0; i < n; i++) {
        labels->items[i].key = get_str(r);
        labels->items[i].value = get_str(r);
    }
}

/* Reads a selector into zeroed 'sel'. */
static void
get_selector(struct reader *r, struct cf_selector *sel)
{
    size_t n = get_count(r);
    sel->reqs = cf_xcalloc(n, sizeof *sel->reqs);
    sel->n_reqs = n;
    for (size_t i = 0; i < n; i++) {
        struct cf_sel_req *req = &sel->reqs[i];
        req->key = get_str(r);
        uint64_t op = get_bounded(r, CF_SEL_DOES_NOT_EXIST);
        req->op = (enum cf_sel_op) op;
        size_t n_values = get_count(r);
        req->values = cf_xcalloc(n_values, sizeof *req->values);
        req->n_values = n_values;
        for (size_t j = 0; j < n_values; j++) {
            req->values[j] = get_str(r);
        }
    }
}

/* Reads an address into 'addr'. */
static void
get_addr(struct reader *r, struct cf_addr *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->family = get_u8(r);
    size_t n = addr->family == 4 ? 4 : addr->family == 6 ? 16 : 0;
    if (!n) {
        fail(r, "bad address family");
        return;
    }
    if ((size_t) (r->end - r->p) < n) {
        fail(r, "truncated address");
        return;
    }
    memcpy(addr->bytes, r->p, n);
    r->p += n;
}

/* Reads a CIDR into 'cidr'. */
static void
get_cidr(struct reader *r, struct cf_cidr *cidr)
{
    get_addr(r, &cidr->addr);
    cidr->plen = get_u8(r);
    if (cidr->plen > (cidr->addr.family == 4 ? 32 : 128)) {
        fail(r, "bad prefix length");
    }
}

/* Reads a protocol number. */
static enum cf_proto
get_proto(struct reader *r)
{
    uint64_t v = get_varint(r);
    if (v != CF_PROTO_TCP && v != CF_PROTO_UDP && v != CF_PROTO_SCTP) {
        fail(r, "bad protocol");
        return CF_PROTO_TCP;
    }
    return (enum cf_proto) v;
}

/* Reads a rule into zeroed 'rule'. */
static void
get_rule(struct reader *r, struct cf_rule *rule)
{
    size_t n_peers = get_count(r);
    rule->peers = cf_xcalloc(n_peers, sizeof *rule->peers);
    rule->n_peers = n_peers;
    for (size_t i = 0; i < n_peers; i++) {
        struct cf_peer *peer = &rule->peers[i];
        uint8_t flags = get_u8(r);
        if (flags & ~7) {
            fail(r, "bad peer flags");
        }
        peer->has_pod_sel = flags & 1;
        peer->has_ns_sel = (flags & 2) != 0;
        peer->has_ipblock = (flags & 4) != 0;
        if (peer->has_pod_sel) {
            get_selector(r, &peer->pod_sel);
        }
        if (peer->has_ns_sel) {
            get_selector(r, &peer->ns_sel);
        }
        if (peer->has_ipblock) {
            get_cidr(r, &peer->ipblock.cidr);
            size_t n_except = get_count(r);
            peer->ipblock.except = cf_xcalloc(n_except,
                                              sizeof *peer->ipblock.except);
            peer->ipblock.n_except = n_except;
            for (size_t j = 0; j < n_except; j++) {
                get_cidr(r, &peer->ipblock.except[j]);
            }
        }
    }

    size_t n_ports = get_count(r);
    rule->ports = cf_xcalloc(n_ports, sizeof *rule->ports);
    rule->n_ports = n_ports;
    for (size_t i = 0; i < n_ports; i++) {
        struct cf_port *port = &rule->ports[i];
        port->proto = get_proto(r);
        uint64_t kind = get_bounded(r, CF_PORT_NAME);
        port->kind = (enum cf_port_kind) kind;
        port->port = get_bounded(r, UINT16_MAX);
        port->end_port = get_bounded(r, UINT16_MAX);
        port->name = get_optstr(r);
    }
}

/* Reads an array of 'n' rules (count first) into '*rulesp' and '*np'. */
static void
get_rules(struct reader *r, struct cf_rule **rulesp, size_t *np)
{
    size_t n = get_count(r);
    *rulesp = cf_xcalloc(n, sizeof **rulesp);
    *np = n;
    for (size_t i = 0; i < n; i++) {
        get_rule(r, &(*rulesp)[i]);
    }
}

char *
cf_codec_decode(enum cf_kind kind, const void *data, size_t len,
                struct cf_object **objp)
{
    struct reader r = { data, (const uint8_t *) data + len, NULL };
    struct cf_object *obj = cf_xzalloc(sizeof *obj);
    obj->kind = kind;
    *objp = NULL;

    uint8_t version = get_u8(&r);
    uint8_t rec_kind = get_u8(&r);
    if (r.error) {
        free(obj);
        return cf_xstrdup("empty record");
    }
    if (version != CF_CODEC_VERSION) {
        free(obj);
        return cf_xasprintf("record version %u is not %u", version,
                            CF_CODEC_VERSION);
    }
    if (rec_kind != kind) {
        free(obj);
        return cf_xasprintf("record of kind %u where kind %u was expected",
                            rec_kind, (unsigned) kind);
    }

    switch (kind) {
    case CF_KIND_NAMESPACE: {
        struct cf_namespace *ns = obj->ns = cf_xzalloc(sizeof *ns);
        ns->name = get_str(&r);
        get_labels(&r, &ns->labels);
        break;
    }

    case CF_KIND_POD: {
        struct cf_pod *pod = obj->pod = cf_xzalloc(sizeof *pod);
        pod->ns = get_str(&r);
        pod->name = get_str(&r);
        pod->node = get_optstr(&r);
        get_labels(&r, &pod->labels);
        size_t n_ips = get_count(&r);
        pod->ips = cf_xcalloc(n_ips, sizeof *pod->ips);
        pod->n_ips = n_ips;
        for (size_t i = 0; i < n_ips; i++) {
            get_addr(&r, &pod->ips[i]);
        }
        size_t n_ports = get_count(&r);
        pod->ports = cf_xcalloc(n_ports, sizeof *pod->ports);
        pod->n_ports = n_ports;
        for (size_t i = 0; i < n_ports; i++) {
            pod->ports[i].name = get_optstr(&r);
            pod->ports[i].port = get_bounded(&r, UINT16_MAX);
            pod->ports[i].proto = get_proto(&r);
        }
        pod->host_network = get_bounded(&r, 1);
        break;
    }

    case CF_KIND_POLICY: {
        struct cf_policy *policy = obj->policy = cf_xzalloc(sizeof *policy);
        policy->ns = get_str(&r);
        policy->name = get_str(&r);
        get_selector(&r, &policy->pod_sel);
        uint8_t flags = get_u8(&r);
        if (flags & ~7) {
            fail(&r, "bad policy flags");
        }
        policy->ingress = flags & 1;
        policy->egress = (flags & 2) != 0;
        policy->log = (flags & 4) != 0;
        get_rules(&r, &policy->ingress_rules, &policy->n_ingress);
        get_rules(&r, &policy->egress_rules, &policy->n_egress);
        break;
    }

    case CF_KIND_NODE: {
        struct cf_node *node = obj->node = cf_xzalloc(sizeof *node);
        node->name = get_str(&r);
        node->ovsdb = get_optstr(&r);
        node->bridge = get_optstr(&r);
        size_t n_addrs = get_count(&r);
        node->addrs = cf_xcalloc(n_addrs, sizeof *node->addrs);
        node->n_addrs = n_addrs;
        for (size_t i = 0; i < n_addrs; i++) {
            get_addr(&r, &node->addrs[i]);
        }
        break;
    }

    default:
        free(obj);
        return cf_xasprintf("unknown kind %u", (unsigned) kind);
    }

    if (!r.error && r.p != r.end) {
        r.error = "trailing bytes";
    }
    if (r.error) {
        char *error = cf_xasprintf("corrupt %s record: %s",
                                   cf_kind_name(kind), r.error);
        cf_object_destroy(obj);
        return error;
    }
    *objp = obj;
    return NULL;
}
