/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The one converter from a Kubernetes object, as a jansson value, to a
 * validated, normalized model object (conjflow/model.h), whatever the
 * object came from (a YAML or JSON manifest, the Kubernetes API).  It
 * applies the API server's defaulting (policyTypes, protocol TCP, the
 * namespace's kubernetes.io/metadata.name label, metadata.namespace
 * "default") and its validation (names, label keys and values, selector
 * operators, CIDRs, ports and port names, endPort, peers), plus conjflow's
 * own limits (CF_MAX_RULES).
 *
 * Errors are collected, not stopped at: every error of an object is
 * reported, one per line, each naming the object, the field path and the
 * reason.  In strict mode unknown fields are errors; the Pod's spec, its
 * containers and its status are open (their schemas are large and conjflow
 * reads only a few fields of them), so their other fields are ignored in
 * both modes.
 */
#include "conjflow-config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "conjflow/manifest.h"
#include "manifest/manifest-private.h"

/* The state of one conversion. */
struct conv {
    enum cf_manifest_mode mode; /* Strict or lenient. */
    struct cf_ds errors;        /* Errors so far, separated by '\n'. */
    char *prefix;               /* "where: networkpolicy x/y", owned. */
    struct cf_ds path;          /* Field path of the value being read. */
};

/* Reports an error about the value at the current path of 'c'. */
static void CF_PRINTF(2, 3)
conv_error(struct conv *c, const char *format, ...)
{
    if (c->errors.len) {
        cf_ds_put_char(&c->errors, '\n');
    }
    cf_ds_put_cstr(&c->errors, c->prefix);
    if (c->path.len) {
        cf_ds_put_format(&c->errors, ": %s", c->path.s);
    }
    cf_ds_put_cstr(&c->errors, ": ");
    va_list args;
    va_start(args, format);
    cf_ds_put_vformat(&c->errors, format, args);
    va_end(args);
}

/* True if 'key' can appear after a '.' in a path without quoting. */
static bool
is_simple_key(const char *key)
{
    if (!*key) {
        return false;
    }
    for (const char *p = key; *p; p++) {
        if (!(isalnum((unsigned char) *p) || *p == '_' || *p == '-')) {
            return false;
        }
    }
    return true;
}

/* Appends member 'key' to the path of 'c'.  Returns the previous length of
 * the path, for path_pop(). */
static size_t
path_key(struct conv *c, const char *key)
{
    size_t old = c->path.len;
    if (is_simple_key(key)) {
        if (old) {
            cf_ds_put_char(&c->path, '.');
        }
        cf_ds_put_cstr(&c->path, key);
    } else {
        cf_ds_put_format(&c->path, "[\"%s\"]", key);
    }
    return old;
}

/* Appends array index 'i' to the path of 'c'.  Returns the previous
 * length. */
static size_t
path_index(struct conv *c, size_t i)
{
    size_t old = c->path.len;
    cf_ds_put_format(&c->path, "[%zu]", i);
    return old;
}

/* Restores the path of 'c' to length 'old'. */
static void
path_pop(struct conv *c, size_t old)
{
    c->path.len = old;
    if (c->path.s) {
        c->path.s[old] = '\0';
    }
}

/* Returns a phrase for the type of 'v' ("a string", "an object"...). */
static const char *
json_type_phrase(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a floating-point number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "an unknown value";
    }
}

/* Returns member 'key' of object 'obj', or NULL if it is absent or null
 * (the API treats null as absent). */
static json_t *
member(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

static int
compare_cstrs(const void *a_, const void *b_)
{
    const char *const *a = a_;
    const char *const *b = b_;
    return strcmp(*a, *b);
}

/* In strict mode, reports every member of 'obj' whose name is not in the
 * NULL-terminated 'known', in sorted order. */
static void
check_fields(struct conv *c, const json_t *obj, const char *const *known)
{
    if (c->mode != CF_MANIFEST_STRICT) {
        return;
    }
    size_t n = json_object_size(obj), k = 0;
    const char **unknown = cf_xcalloc(n, sizeof *unknown);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) obj, key, value) {
        bool found = false;
        for (const char *const *p = known; *p; p++) {
            if (!strcmp(*p, key)) {
                found = true;
                break;
            }
        }
        if (!found) {
            unknown[k++] = key;
        }
    }
    if (k) {
        qsort(unknown, k, sizeof *unknown, compare_cstrs);
    }
    for (size_t i = 0; i < k; i++) {
        size_t old = path_key(c, unknown[i]);
        conv_error(c, "unknown field");
        path_pop(c, old);
    }
    free(unknown);
}

/* Checks that 'v' (at the current path) is an object.  Reports an error
 * and returns false otherwise. */
static bool
expect_object(struct conv *c, const json_t *v)
{
    if (!json_is_object(v)) {
        conv_error(c, "expected an object, got %s", json_type_phrase(v));
        return false;
    }
    return true;
}

/* Checks that 'v' (at the current path) is an array. */
static bool
expect_array(struct conv *c, const json_t *v)
{
    if (!json_is_array(v)) {
        conv_error(c, "expected an array, got %s", json_type_phrase(v));
        return false;
    }
    return true;
}

/* Reads optional string member 'key' of 'obj' into '*s' (not copied).
 * Returns false if it is absent or has the wrong type (reported). */
static bool
get_string(struct conv *c, const json_t *obj, const char *key,
           const char **s)
{
    const json_t *v = member(obj, key);
    *s = NULL;
    if (!v) {
        return false;
    }
    if (!json_is_string(v)) {
        size_t old = path_key(c, key);
        conv_error(c, "expected a string, got %s", json_type_phrase(v));
        path_pop(c, old);
        return false;
    }
    *s = json_string_value(v);
    return true;
}

/* Reads optional boolean member 'key' of 'obj' into '*b' (false if
 * absent). */
static void
get_bool(struct conv *c, const json_t *obj, const char *key, bool *b)
{
    const json_t *v = member(obj, key);
    *b = false;
    if (v) {
        if (json_is_boolean(v)) {
            *b = json_is_true(v);
        } else {
            size_t old = path_key(c, key);
            conv_error(c, "expected a boolean, got %s", json_type_phrase(v));
            path_pop(c, old);
        }
    }
}

/* ---- Name and label syntax ---------------------------------------------- */

/* True if 'c' is a lowercase letter or a digit. */
static bool
is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* True if 'c' is an ASCII letter or digit. */
static bool
is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9');
}

/* Checks that the 'n' bytes at 's' are an RFC 1123 label: lowercase
 * alphanumerics and '-', starting and ending with an alphanumeric. */
static bool
is_dns_label_n(const char *s, size_t n)
{
    if (!n || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-') {
            return false;
        }
    }
    return true;
}

/* Returns NULL if 's' is a valid RFC 1123 label of at most 63 characters,
 * else a malloc'd reason. */
static char *
check_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n > 63) {
        return cf_xasprintf("\"%s\" is longer than 63 characters", s);
    }
    if (!is_dns_label_n(s, n)) {
        return cf_xasprintf("\"%s\" is not a valid RFC 1123 label (lower "
                            "case alphanumeric characters or '-', starting "
                            "and ending with an alphanumeric character)", s);
    }
    return NULL;
}

/* Returns NULL if 's' is a valid RFC 1123 subdomain of at most 253
 * characters, else a malloc'd reason. */
static char *
check_dns_subdomain(const char *s)
{
    size_t n = strlen(s);
    if (n > 253) {
        return cf_xasprintf("\"%s\" is longer than 253 characters", s);
    }
    bool ok = n > 0;
    for (const char *p = s; ok; ) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t) (dot - p) : strlen(p);
        ok = is_dns_label_n(p, len);
        if (!dot) {
            break;
        }
        p = dot + 1;
    }
    if (!ok) {
        return cf_xasprintf("\"%s\" is not a valid RFC 1123 subdomain "
                            "(lower case alphanumeric characters, '-' or "
                            "'.', starting and ending with an alphanumeric "
                            "character)", s);
    }
    return NULL;
}

/* True if the 'n' bytes at 's' consist of [A-Za-z0-9._-] and start and end
 * with an alphanumeric (the syntax of label names and values). */
static bool
is_label_token(const char *s, size_t n)
{
    if (!n || !is_alnum(s[0]) || !is_alnum(s[n - 1])) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') {
            return false;
        }
    }
    return true;
}

/* Returns NULL if 'key' is a valid qualified name (label or annotation
 * key): an optional DNS subdomain prefix and '/', then a name of at most
 * 63 characters.  Else a malloc'd reason. */
static char *
check_qualified_name(const char *key)
{
    const char *slash = strchr(key, '/');
    const char *name = slash ? slash + 1 : key;
    if (slash) {
        char *prefix = cf_xmemdup0(key, slash - key);
        char *error = !*prefix ? cf_xstrdup("prefix part must not be empty")
                      : check_dns_subdomain(prefix);
        free(prefix);
        if (error) {
            char *msg = cf_xasprintf("\"%s\" is not a valid key: prefix: %s",
                                     key, error);
            free(error);
            return msg;
        }
    }
    size_t n = strlen(name);
    if (!n) {
        return cf_xasprintf("\"%s\" is not a valid key: the name part must "
                            "not be empty", key);
    }
    if (n > 63) {
        return cf_xasprintf("\"%s\" is not a valid key: the name part is "
                            "longer than 63 characters", key);
    }
    if (!is_label_token(name, n)) {
        return cf_xasprintf("\"%s\" is not a valid key: the name part must "
                            "consist of alphanumeric characters, '-', '_' or "
                            "'.', and start and end with an alphanumeric "
                            "character", key);
    }
    return NULL;
}

/* Returns NULL if 'value' is a valid label value, else a malloc'd
 * reason. */
static char *
check_label_value(const char *value)
{
    size_t n = strlen(value);
    if (n > 63) {
        return cf_xasprintf("\"%s\" is not a valid label value: longer than "
                            "63 characters", value);
    }
    if (n && !is_label_token(value, n)) {
        return cf_xasprintf("\"%s\" is not a valid label value: it must "
                            "consist of alphanumeric characters, '-', '_' or "
                            "'.', and start and end with an alphanumeric "
                            "character", value);
    }
    return NULL;
}

/* Returns NULL if 'name' is a valid IANA_SVC_NAME (a port name), else a
 * malloc'd reason. */
static char *
check_port_name(const char *name)
{
    size_t n = strlen(name);
    const char *prefix = "is not a valid port name";
    if (!n || n > 15) {
        return cf_xasprintf("\"%s\" %s: it must be 1 to 15 characters long",
                            name, prefix);
    }
    bool letter = false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (ch >= 'a' && ch <= 'z') {
            letter = true;
        } else if (!(ch >= '0' && ch <= '9') && ch != '-') {
            return cf_xasprintf("\"%s\" %s: only lower case letters, digits "
                                "and '-' are allowed", name, prefix);
        }
    }
    if (name[0] == '-' || name[n - 1] == '-') {
        return cf_xasprintf("\"%s\" %s: it must not begin or end with '-'",
                            name, prefix);
    }
    if (strstr(name, "--")) {
        return cf_xasprintf("\"%s\" %s: it must not contain \"--\"",
                            name, prefix);
    }
    if (!letter) {
        return cf_xasprintf("\"%s\" %s: it must contain at least one letter",
                            name, prefix);
    }
    return NULL;
}

/* Reports 'error' (a malloc'd reason, freed here) at the current path, if
 * not NULL.  Returns true if there was an error. */
static bool
report(struct conv *c, char *error)
{
    if (error) {
        conv_error(c, "%s", error);
        free(error);
        return true;
    }
    return false;
}

/* ---- Metadata ----------------------------------------------------------- */

static const char *const meta_fields[] = {
    "name", "generateName", "namespace", "selfLink", "uid",
    "resourceVersion", "generation", "creationTimestamp",
    "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields", NULL,
};

/* Reads the string-to-string map member 'key' of 'meta' (labels or
 * annotations) into 'out', validating keys, and values if 'label_values'.
 * Returns false on error (reported). */
static bool
parse_string_map(struct conv *c, const json_t *meta, const char *key,
                 bool label_values, struct cf_labels *out)
{
    const json_t *map = member(meta, key);
    if (!map) {
        return true;
    }
    size_t old = path_key(c, key);
    bool ok = expect_object(c, map);
    if (ok) {
        const char *k;
        json_t *v;
        json_object_foreach ((json_t *) map, k, v) {
            size_t old2 = path_key(c, k);
            if (!json_is_string(v)) {
                conv_error(c, "expected a string, got %s",
                           json_type_phrase(v));
                ok = false;
            } else if (report(c, check_qualified_name(k))
                       || (label_values
                           && report(c,
                                     check_label_value(json_string_value(v)))))
            {
                ok = false;
            } else {
                cf_labels_set(out, k, json_string_value(v));
            }
            path_pop(c, old2);
        }
    }
    path_pop(c, old);
    return ok;
}

/* What parse_meta() found. */
struct meta {
    const char *name;           /* metadata.name (not copied). */
    const char *ns;             /* metadata.namespace, or NULL. */
    struct cf_labels labels;    /* metadata.labels. */
    struct cf_labels annotations;  /* metadata.annotations. */
};

/* Reads and validates the 'metadata' member of 'obj' for an object of
 * 'kind' into 'm' (which the caller must free with meta_destroy()).
 * 'subdomain' selects the syntax of the name (RFC 1123 subdomain or
 * label). */
static void
parse_meta(struct conv *c, const json_t *obj, enum cf_kind kind,
           bool subdomain, struct meta *m)
{
    memset(m, 0, sizeof *m);
    const json_t *meta = member(obj, "metadata");
    size_t old = path_key(c, "metadata");
    if (!meta) {
        conv_error(c, "required");
        path_pop(c, old);
        return;
    }
    if (!expect_object(c, meta)) {
        path_pop(c, old);
        return;
    }
    check_fields(c, meta, meta_fields);

    if (get_string(c, meta, "name", &m->name)) {
        size_t old2 = path_key(c, "name");
        report(c, (subdomain ? check_dns_subdomain(m->name)
                   : check_dns_label(m->name)));
        path_pop(c, old2);
    } else if (!member(meta, "name")) {
        size_t old2 = path_key(c, "name");
        conv_error(c, "required%s", (member(meta, "generateName")
                                     ? " (generateName is not supported)"
                                     : ""));
        path_pop(c, old2);
    }

    if (get_string(c, meta, "namespace", &m->ns)) {
        size_t old2 = path_key(c, "namespace");
        if (!cf_kind_namespaced(kind)) {
            if (c->mode == CF_MANIFEST_STRICT) {
                conv_error(c, "not allowed: a %s is not namespaced",
                           cf_kind_name(kind));
            }
            m->ns = NULL;
        } else {
            report(c, check_dns_label(m->ns));
        }
        path_pop(c, old2);
    }

    parse_string_map(c, meta, "labels", true, &m->labels);
    parse_string_map(c, meta, "annotations", false, &m->annotations);
    path_pop(c, old);
}

/* Frees the contents of 'm'. */
static void
meta_destroy(struct meta *m)
{
    cf_labels_destroy(&m->labels);
    cf_labels_destroy(&m->annotations);
}

/* Moves 'm''s labels into 'labels'. */
static void
meta_take_labels(struct meta *m, struct cf_labels *labels)
{
    *labels = m->labels;
    m->labels.items = NULL;
    m->labels.n = 0;
}

/* ---- Selectors ---------------------------------------------------------- */

/* Appends a requirement to 'sel'; takes ownership of 'values'. */
static void
selector_add(struct cf_selector *sel, const char *key, enum cf_sel_op op,
             char **values, size_t n_values)
{
    sel->reqs = cf_xrealloc(sel->reqs, (sel->n_reqs + 1) * sizeof *sel->reqs);
    struct cf_sel_req *req = &sel->reqs[sel->n_reqs++];
    req->key = cf_xstrdup(key);
    req->op = op;
    req->values = values;
    req->n_values = n_values;
}

/* Parses one matchExpressions entry 'e' into 'sel'. */
static void
parse_expression(struct conv *c, const json_t *e, struct cf_selector *sel)
{
    static const char *const fields[] = { "key", "operator", "values", NULL };
    if (!expect_object(c, e)) {
        return;
    }
    check_fields(c, e, fields);

    const char *key, *op_name;
    bool ok = true;
    if (!get_string(c, e, "key", &key)) {
        if (!member(e, "key")) {
            size_t old = path_key(c, "key");
            conv_error(c, "required");
            path_pop(c, old);
        }
        ok = false;
    } else {
        size_t old = path_key(c, "key");
        ok = !report(c, check_qualified_name(key));
        path_pop(c, old);
    }

    enum cf_sel_op op = CF_SEL_IN;
    if (!get_string(c, e, "operator", &op_name)) {
        if (!member(e, "operator")) {
            size_t old = path_key(c, "operator");
            conv_error(c, "required");
            path_pop(c, old);
        }
        ok = false;
    } else if (!strcmp(op_name, "In")) {
        op = CF_SEL_IN;
    } else if (!strcmp(op_name, "NotIn")) {
        op = CF_SEL_NOT_IN;
    } else if (!strcmp(op_name, "Exists")) {
        op = CF_SEL_EXISTS;
    } else if (!strcmp(op_name, "DoesNotExist")) {
        op = CF_SEL_DOES_NOT_EXIST;
    } else {
        size_t old = path_key(c, "operator");
        conv_error(c, "\"%s\" is not a valid operator (expected In, NotIn, "
                   "Exists or DoesNotExist)", op_name);
        path_pop(c, old);
        return;
    }

    const json_t *values = member(e, "values");
    size_t n = 0;
    char **strs = NULL;
    size_t old = path_key(c, "values");
    if (values && !expect_array(c, values)) {
        ok = false;
    } else if (values) {
        n = json_array_size(values);
        strs = cf_xcalloc(n, sizeof *strs);
        for (size_t i = 0; i < n; i++) {
            const json_t *v = json_array_get(values, i);
            size_t old2 = path_index(c, i);
            if (!json_is_string(v)) {
                conv_error(c, "expected a string, got %s",
                           json_type_phrase(v));
                ok = false;
            } else if (report(c, check_label_value(json_string_value(v)))) {
                ok = false;
            }
            strs[i] = cf_xstrdup(json_is_string(v) ? json_string_value(v)
                                 : "");
            path_pop(c, old2);
        }
    }
    if (op_name && (op == CF_SEL_IN || op == CF_SEL_NOT_IN) && !n) {
        conv_error(c, "must be specified and non-empty when operator is %s",
                   op_name);
        ok = false;
    } else if (op_name && (op == CF_SEL_EXISTS || op == CF_SEL_DOES_NOT_EXIST)
               && n) {
        conv_error(c, "must be empty when operator is %s", op_name);
        ok = false;
    }
    path_pop(c, old);

    if (ok) {
        selector_add(sel, key, op, strs, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            free(strs[i]);
        }
        free(strs);
    }
}

/* Parses the label selector 'v' (at the current path) into 'sel' (which
 * must be empty) and normalizes it. */
static void
parse_selector(struct conv *c, const json_t *v, struct cf_selector *sel)
{
    static const char *const fields[] = {
        "matchLabels", "matchExpressions", NULL
    };
    if (!expect_object(c, v)) {
        return;
    }
    check_fields(c, v, fields);

    struct cf_labels ml = { NULL, 0 };
    parse_string_map(c, v, "matchLabels", true, &ml);
    for (size_t i = 0; i < ml.n; i++) {
        char **values = cf_xmalloc(sizeof *values);
        values[0] = cf_xstrdup(ml.items[i].value);
        selector_add(sel, ml.items[i].key, CF_SEL_IN, values, 1);
    }
    cf_labels_destroy(&ml);

    const json_t *exprs = member(v, "matchExpressions");
    if (exprs) {
        size_t old = path_key(c, "matchExpressions");
        if (expect_array(c, exprs)) {
            for (size_t i = 0; i < json_array_size(exprs); i++) {
                size_t old2 = path_index(c, i);
                parse_expression(c, json_array_get(exprs, i), sel);
                path_pop(c, old2);
            }
        }
        path_pop(c, old);
    }
    cf_selector_normalize(sel);
}

/* ---- NetworkPolicy ------------------------------------------------------ */

/* Parses CIDR string member 'key' of 'obj' into '*cidr'.  Returns false on
 * error (reported). */
static bool
parse_cidr_value(struct conv *c, const json_t *v, struct cf_cidr *cidr)
{
    if (!json_is_string(v)) {
        conv_error(c, "expected a string, got %s", json_type_phrase(v));
        return false;
    }
    return !report(c, cf_cidr_parse(json_string_value(v), cidr));
}

/* Parses ipBlock 'v' into 'b'.  Returns false on error. */
static bool
parse_ipblock(struct conv *c, const json_t *v, struct cf_ipblock *b)
{
    static const char *const fields[] = { "cidr", "except", NULL };
    if (!expect_object(c, v)) {
        return false;
    }
    check_fields(c, v, fields);

    const json_t *cidr = member(v, "cidr");
    size_t old = path_key(c, "cidr");
    bool ok = true;
    if (!cidr) {
        conv_error(c, "required");
        ok = false;
    } else {
        ok = parse_cidr_value(c, cidr, &b->cidr);
    }
    bool cidr_ok = ok;
    path_pop(c, old);

    const json_t *except = member(v, "except");
    if (except) {
        old = path_key(c, "except");
        if (expect_array(c, except)) {
            size_t n = json_array_size(except);
            b->except = cf_xcalloc(n, sizeof *b->except);
            for (size_t i = 0; i < n; i++) {
                size_t old2 = path_index(c, i);
                struct cf_cidr *e = &b->except[b->n_except];
                const json_t *ev = json_array_get(except, i);
                if (!parse_cidr_value(c, ev, e)) {
                    ok = false;
                } else if (cidr_ok
                           && (e->addr.family != b->cidr.addr.family
                               || !cf_cidr_within(e, &b->cidr)
                               || e->plen == b->cidr.plen)) {
                    struct cf_ds s = CF_DS_INIT;
                    cf_cidr_format(&b->cidr, &s);
                    conv_error(c, "\"%s\" is not a strict subset of cidr %s",
                               json_string_value(ev), cf_ds_cstr(&s));
                    cf_ds_destroy(&s);
                    ok = false;
                } else {
                    b->n_except++;
                }
                path_pop(c, old2);
            }
        } else {
            ok = false;
        }
        path_pop(c, old);
    }
    return ok;
}

/* Parses one peer 'v' of a rule's from/to into 'peer'. */
static bool
parse_peer(struct conv *c, const json_t *v, struct cf_peer *peer)
{
    static const char *const fields[] = {
        "podSelector", "namespaceSelector", "ipBlock", NULL
    };
    if (!expect_object(c, v)) {
        return false;
    }
    check_fields(c, v, fields);
    size_t n_errors = c->errors.len;

    const json_t *ps = member(v, "podSelector");
    const json_t *ns = member(v, "namespaceSelector");
    const json_t *ib = member(v, "ipBlock");
    if (ps) {
        size_t old = path_key(c, "podSelector");
        peer->has_pod_sel = true;
        parse_selector(c, ps, &peer->pod_sel);
        path_pop(c, old);
    }
    if (ns) {
        size_t old = path_key(c, "namespaceSelector");
        peer->has_ns_sel = true;
        parse_selector(c, ns, &peer->ns_sel);
        path_pop(c, old);
    }
    if (ib) {
        size_t old = path_key(c, "ipBlock");
        peer->has_ipblock = true;
        parse_ipblock(c, ib, &peer->ipblock);
        path_pop(c, old);
    }
    if (!ps && !ns && !ib) {
        conv_error(c, "must specify a podSelector, a namespaceSelector or "
                   "an ipBlock");
    } else if (ib && (ps || ns)) {
        conv_error(c, "may not specify both ipBlock and another peer");
    }
    return c->errors.len == n_errors;
}

/* Parses one entry 'v' of a rule's ports into 'port'. */
static bool
parse_port(struct conv *c, const json_t *v, struct cf_port *port)
{
    static const char *const fields[] = {
        "protocol", "port", "endPort", NULL
    };
    if (!expect_object(c, v)) {
        return false;
    }
    check_fields(c, v, fields);
    size_t n_errors = c->errors.len;

    const char *proto;
    port->proto = CF_PROTO_TCP;
    if (get_string(c, v, "protocol", &proto)
        && !cf_proto_parse(proto, &port->proto)) {
        size_t old = path_key(c, "protocol");
        conv_error(c, "\"%s\" is not a supported protocol (expected TCP, "
                   "UDP or SCTP)", proto);
        path_pop(c, old);
    }

    const json_t *pv = member(v, "port");
    const json_t *ev = member(v, "endPort");
    port->kind = CF_PORT_ALL;
    if (pv) {
        size_t old = path_key(c, "port");
        if (json_is_integer(pv)) {
            json_int_t n = json_integer_value(pv);
            if (n < 1 || n > 65535) {
                conv_error(c, "%lld is not between 1 and 65535",
                           (long long) n);
            } else {
                port->kind = CF_PORT_NUMBER;
                port->port = port->end_port = n;
            }
        } else if (json_is_string(pv)) {
            if (!report(c, check_port_name(json_string_value(pv)))) {
                port->kind = CF_PORT_NAME;
                port->name = cf_xstrdup(json_string_value(pv));
            }
        } else {
            conv_error(c, "expected an integer or a port name, got %s",
                       json_type_phrase(pv));
        }
        path_pop(c, old);
    }
    if (ev) {
        size_t old = path_key(c, "endPort");
        if (!json_is_integer(ev)) {
            conv_error(c, "expected an integer, got %s",
                       json_type_phrase(ev));
        } else {
            json_int_t n = json_integer_value(ev);
            if (!pv) {
                conv_error(c, "may not be specified when port is not "
                           "specified");
            } else if (json_is_string(pv)) {
                conv_error(c, "may not be specified when port is "
                           "non-numeric");
            } else if (n < 1 || n > 65535) {
                conv_error(c, "%lld is not between 1 and 65535",
                           (long long) n);
            } else if (port->kind == CF_PORT_NUMBER && n < port->port) {
                conv_error(c, "%lld is less than port %u", (long long) n,
                           (unsigned int) port->port);
            } else if (port->kind == CF_PORT_NUMBER) {
                port->end_port = n;
            }
        }
        path_pop(c, old);
    }
    return c->errors.len == n_errors;
}

/* Parses the rules array member 'key' ("ingress" or "egress") of 'spec';
 * 'peers_key' is "from" or "to".  Stores them in '*rulesp', '*n_rulesp'. */
static void
parse_rules(struct conv *c, const json_t *spec, const char *key,
            const char *peers_key, struct cf_rule **rulesp,
            size_t *n_rulesp)
{
    const json_t *rules = member(spec, key);
    *rulesp = NULL;
    *n_rulesp = 0;
    if (!rules) {
        return;
    }
    size_t old = path_key(c, key);
    if (!expect_array(c, rules)) {
        path_pop(c, old);
        return;
    }
    size_t n = json_array_size(rules);
    if (n > CF_MAX_RULES) {
        conv_error(c, "%zu rules exceed conjflow's limit of %d rules per "
                   "direction", n, CF_MAX_RULES);
        path_pop(c, old);
        return;
    }
    *rulesp = cf_xcalloc(n, sizeof **rulesp);
    *n_rulesp = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *r = json_array_get(rules, i);
        struct cf_rule *rule = &(*rulesp)[i];
        size_t old2 = path_index(c, i);
        const char *const fields[] = { peers_key, "ports", NULL };
        if (!expect_object(c, r)) {
            path_pop(c, old2);
            continue;
        }
        check_fields(c, r, fields);

        const json_t *peers = member(r, peers_key);
        if (peers) {
            size_t old3 = path_key(c, peers_key);
            if (expect_array(c, peers)) {
                size_t np = json_array_size(peers);
                rule->peers = cf_xcalloc(np, sizeof *rule->peers);
                rule->n_peers = np;
                for (size_t j = 0; j < np; j++) {
                    size_t old4 = path_index(c, j);
                    parse_peer(c, json_array_get(peers, j), &rule->peers[j]);
                    path_pop(c, old4);
                }
            }
            path_pop(c, old3);
        }

        const json_t *ports = member(r, "ports");
        if (ports) {
            size_t old3 = path_key(c, "ports");
            if (expect_array(c, ports)) {
                size_t np = json_array_size(ports);
                rule->ports = cf_xcalloc(np, sizeof *rule->ports);
                rule->n_ports = np;
                for (size_t j = 0; j < np; j++) {
                    size_t old4 = path_index(c, j);
                    parse_port(c, json_array_get(ports, j), &rule->ports[j]);
                    path_pop(c, old4);
                }
            }
            path_pop(c, old3);
        }
        path_pop(c, old2);
    }
    path_pop(c, old);
}

/* Converts NetworkPolicy 'obj' into a new policy. */
static struct cf_policy *
parse_policy(struct conv *c, const json_t *obj)
{
    static const char *const top_fields[] = {
        "apiVersion", "kind", "metadata", "spec", "status", NULL
    };
    static const char *const spec_fields[] = {
        "podSelector", "policyTypes", "ingress", "egress", NULL
    };
    struct cf_policy *p = cf_xzalloc(sizeof *p);
    struct meta m;

    check_fields(c, obj, top_fields);
    parse_meta(c, obj, CF_KIND_POLICY, true, &m);
    p->name = cf_xstrdup(m.name ? m.name : "");
    p->ns = cf_xstrdup(m.ns ? m.ns : "default");

    const char *log = cf_labels_get(&m.annotations, "conjflow.io/log");
    if (log) {
        size_t old = path_key(c, "metadata");
        size_t old2 = path_key(c, "annotations");
        size_t old3 = path_key(c, "conjflow.io/log");
        if (!strcmp(log, "true")) {
            p->log = true;
        } else if (strcmp(log, "false")) {
            conv_error(c, "\"%s\" is not \"true\" or \"false\"", log);
        }
        path_pop(c, old3);
        path_pop(c, old2);
        path_pop(c, old);
    }
    meta_destroy(&m);

    const json_t *spec = member(obj, "spec");
    size_t old = path_key(c, "spec");
    if (!spec) {
        conv_error(c, "required");
        path_pop(c, old);
        return p;
    }
    if (!expect_object(c, spec)) {
        path_pop(c, old);
        return p;
    }
    check_fields(c, spec, spec_fields);

    const json_t *ps = member(spec, "podSelector");
    if (ps) {
        size_t old2 = path_key(c, "podSelector");
        parse_selector(c, ps, &p->pod_sel);
        path_pop(c, old2);
    }

    parse_rules(c, spec, "ingress", "from", &p->ingress_rules, &p->n_ingress);
    parse_rules(c, spec, "egress", "to", &p->egress_rules, &p->n_egress);

    const json_t *types = member(spec, "policyTypes");
    size_t n_types = 0;
    if (types) {
        size_t old2 = path_key(c, "policyTypes");
        if (expect_array(c, types)) {
            n_types = json_array_size(types);
            if (n_types > 2) {
                conv_error(c, "may not specify more than two policyTypes");
            }
            for (size_t i = 0; i < n_types; i++) {
                const json_t *t = json_array_get(types, i);
                size_t old3 = path_index(c, i);
                if (!json_is_string(t)) {
                    conv_error(c, "expected a string, got %s",
                               json_type_phrase(t));
                } else if (!strcmp(json_string_value(t), "Ingress")) {
                    p->ingress = true;
                } else if (!strcmp(json_string_value(t), "Egress")) {
                    p->egress = true;
                } else {
                    conv_error(c, "\"%s\" is not a valid policy type "
                               "(expected Ingress or Egress)",
                               json_string_value(t));
                }
                path_pop(c, old3);
            }
        }
        path_pop(c, old2);
    }
    if (!n_types) {
        /* The API server's defaulting. */
        p->ingress = true;
        p->egress = p->n_egress > 0;
    }
    path_pop(c, old);
    return p;
}

/* ---- Namespace, Pod, Node ----------------------------------------------- */

/* Converts Namespace 'obj' into a new namespace. */
static struct cf_namespace *
parse_namespace(struct conv *c, const json_t *obj)
{
    static const char *const top_fields[] = {
        "apiVersion", "kind", "metadata", "spec", "status", NULL
    };
    static const char *const spec_fields[] = { "finalizers", NULL };
    struct cf_namespace *ns = cf_xzalloc(sizeof *ns);
    struct meta m;

    check_fields(c, obj, top_fields);
    parse_meta(c, obj, CF_KIND_NAMESPACE, false, &m);
    ns->name = cf_xstrdup(m.name ? m.name : "");
    meta_take_labels(&m, &ns->labels);
    meta_destroy(&m);
    /* The API server sets this label, overriding any given value. */
    cf_labels_set(&ns->labels, "kubernetes.io/metadata.name", ns->name);

    const json_t *spec = member(obj, "spec");
    if (spec) {
        size_t old = path_key(c, "spec");
        if (expect_object(c, spec)) {
            check_fields(c, spec, spec_fields);
        }
        path_pop(c, old);
    }
    return ns;
}

static int
compare_addrs(const void *a, const void *b)
{
    return cf_addr_compare(a, b);
}

/* Parses the container ports of 'containers' into 'pod'. */
static void
parse_containers(struct conv *c, const json_t *containers, struct cf_pod *pod)
{
    static const char *const port_fields[] = {
        "name", "containerPort", "protocol", "hostPort", "hostIP", NULL
    };
    size_t allocated = 0;
    for (size_t i = 0; i < json_array_size(containers); i++) {
        const json_t *ct = json_array_get(containers, i);
        size_t old = path_index(c, i);
        if (!expect_object(c, ct)) {
            path_pop(c, old);
            continue;
        }
        const json_t *ports = member(ct, "ports");
        size_t old2 = path_key(c, "ports");
        if (ports && expect_array(c, ports)) {
            for (size_t j = 0; j < json_array_size(ports); j++) {
                const json_t *pv = json_array_get(ports, j);
                size_t old3 = path_index(c, j);
                if (!expect_object(c, pv)) {
                    path_pop(c, old3);
                    continue;
                }
                check_fields(c, pv, port_fields);
                struct cf_container_port cp = { .proto = CF_PROTO_TCP };
                bool ok = true;

                const char *name, *proto;
                if (get_string(c, pv, "name", &name)) {
                    size_t old4 = path_key(c, "name");
                    if (report(c, check_port_name(name))) {
                        ok = false;
                    }
                    path_pop(c, old4);
                } else if (member(pv, "name")) {
                    ok = false;
                }
                if (get_string(c, pv, "protocol", &proto)
                    && !cf_proto_parse(proto, &cp.proto)) {
                    size_t old4 = path_key(c, "protocol");
                    conv_error(c, "\"%s\" is not a supported protocol "
                               "(expected TCP, UDP or SCTP)", proto);
                    path_pop(c, old4);
                    ok = false;
                }
                const json_t *num = member(pv, "containerPort");
                size_t old4 = path_key(c, "containerPort");
                if (!num) {
                    conv_error(c, "required");
                    ok = false;
                } else if (!json_is_integer(num)) {
                    conv_error(c, "expected an integer, got %s",
                               json_type_phrase(num));
                    ok = false;
                } else if (json_integer_value(num) < 1
                           || json_integer_value(num) > 65535) {
                    conv_error(c, "%lld is not between 1 and 65535",
                               (long long) json_integer_value(num));
                    ok = false;
                } else {
                    cp.port = json_integer_value(num);
                }
                path_pop(c, old4);

                if (ok) {
                    if (pod->n_ports >= allocated) {
                        pod->ports = cf_x2nrealloc(pod->ports, &allocated,
                                                   sizeof *pod->ports);
                    }
                    cp.name = cf_xstrdup(name);
                    pod->ports[pod->n_ports++] = cp;
                }
                path_pop(c, old3);
            }
        }
        path_pop(c, old2);
        path_pop(c, old);
    }
}

/* Parses 'pod''s status.podIP and status.podIPs from 'status'. */
static void
parse_pod_status(struct conv *c, const json_t *status, struct cf_pod *pod)
{
    const char *ip;
    struct cf_addr first;
    bool has_first = false;
    if (get_string(c, status, "podIP", &ip)) {
        size_t old = path_key(c, "podIP");
        has_first = !report(c, cf_addr_parse(ip, &first));
        path_pop(c, old);
    }

    const json_t *ips = member(status, "podIPs");
    if (ips) {
        size_t old = path_key(c, "podIPs");
        if (expect_array(c, ips)) {
            size_t n = json_array_size(ips);
            pod->ips = cf_xcalloc(n, sizeof *pod->ips);
            for (size_t i = 0; i < n; i++) {
                const json_t *e = json_array_get(ips, i);
                size_t old2 = path_index(c, i);
                static const char *const fields[] = { "ip", NULL };
                const char *s;
                bool is_obj = expect_object(c, e);
                if (is_obj) {
                    check_fields(c, e, fields);
                }
                if (!is_obj) {
                    /* Reported. */
                } else if (get_string(c, e, "ip", &s)) {
                    size_t old3 = path_key(c, "ip");
                    struct cf_addr *a = &pod->ips[pod->n_ips];
                    if (!report(c, cf_addr_parse(s, a))) {
                        if (!i && has_first && cf_addr_compare(a, &first)) {
                            conv_error(c, "\"%s\" does not match "
                                       "status.podIP \"%s\"", s, ip);
                        }
                        pod->n_ips++;
                    }
                    path_pop(c, old3);
                } else if (!member(e, "ip")) {
                    size_t old3 = path_key(c, "ip");
                    conv_error(c, "required");
                    path_pop(c, old3);
                }
                path_pop(c, old2);
            }
        }
        path_pop(c, old);
    }
    if (!pod->n_ips && has_first) {
        free(pod->ips);
        pod->ips = cf_xmalloc(sizeof *pod->ips);
        pod->ips[0] = first;
        pod->n_ips = 1;
    }
    /* Sort, drop duplicates. */
    if (pod->n_ips > 1) {
        qsort(pod->ips, pod->n_ips, sizeof *pod->ips, compare_addrs);
        size_t k = 1;
        for (size_t i = 1; i < pod->n_ips; i++) {
            if (cf_addr_compare(&pod->ips[i], &pod->ips[k - 1])) {
                pod->ips[k++] = pod->ips[i];
            }
        }
        pod->n_ips = k;
    }
}

/* Converts Pod 'obj' into a new pod. */
static struct cf_pod *
parse_pod(struct conv *c, const json_t *obj)
{
    static const char *const top_fields[] = {
        "apiVersion", "kind", "metadata", "spec", "status", NULL
    };
    struct cf_pod *pod = cf_xzalloc(sizeof *pod);
    struct meta m;

    check_fields(c, obj, top_fields);
    parse_meta(c, obj, CF_KIND_POD, true, &m);
    pod->name = cf_xstrdup(m.name ? m.name : "");
    pod->ns = cf_xstrdup(m.ns ? m.ns : "default");
    meta_take_labels(&m, &pod->labels);
    meta_destroy(&m);

    /* The Pod spec is open: conjflow reads a few of its many fields. */
    const json_t *spec = member(obj, "spec");
    size_t old = path_key(c, "spec");
    if (spec && expect_object(c, spec)) {
        const char *node;
        if (get_string(c, spec, "nodeName", &node)) {
            size_t old2 = path_key(c, "nodeName");
            if (!report(c, check_dns_subdomain(node))) {
                pod->node = cf_xstrdup(node);
            }
            path_pop(c, old2);
        }
        get_bool(c, spec, "hostNetwork", &pod->host_network);

        const json_t *containers = member(spec, "containers");
        if (containers) {
            size_t old2 = path_key(c, "containers");
            if (expect_array(c, containers)) {
                parse_containers(c, containers, pod);
            }
            path_pop(c, old2);
        }
    }
    path_pop(c, old);

    const json_t *status = member(obj, "status");
    old = path_key(c, "status");
    if (status && expect_object(c, status)) {
        parse_pod_status(c, status, pod);
    }
    path_pop(c, old);
    return pod;
}

/* Returns NULL if 'remote' is an OVSDB remote conjflowd can connect to
 * ("unix:PATH", "tcp:HOST[:PORT]", "ssl:HOST[:PORT]"), else a malloc'd
 * reason. */
static char *
check_ovsdb_remote(const char *remote)
{
    const char *rest = NULL;
    if (!strncmp(remote, "unix:", 5)) {
        return remote[5] ? NULL
               : cf_xasprintf("\"%s\" has an empty socket path", remote);
    } else if (!strncmp(remote, "tcp:", 4)) {
        rest = remote + 4;
    } else if (!strncmp(remote, "ssl:", 4)) {
        rest = remote + 4;
    } else {
        return cf_xasprintf("\"%s\" is not a valid OVSDB remote (expected "
                            "unix:PATH, tcp:HOST[:PORT] or ssl:HOST[:PORT])",
                            remote);
    }

    const char *port = NULL;
    char *host;
    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (!close || (close[1] && close[1] != ':')) {
            return cf_xasprintf("\"%s\" has a malformed [IPv6] address",
                                remote);
        }
        host = cf_xmemdup0(rest + 1, close - rest - 1);
        port = close[1] ? close + 2 : NULL;
        struct cf_addr a;
        char *error = cf_addr_parse(host, &a);
        free(host);
        if (error) {
            char *msg = cf_xasprintf("\"%s\": %s", remote, error);
            free(error);
            return msg;
        }
    } else {
        const char *colon = strchr(rest, ':');
        if (colon && strchr(colon + 1, ':')) {
            return cf_xasprintf("\"%s\": write IPv6 addresses in brackets "
                                "([addr]:port)", remote);
        }
        size_t n = colon ? (size_t) (colon - rest) : strlen(rest);
        if (!n) {
            return cf_xasprintf("\"%s\" has an empty host", remote);
        }
        for (size_t i = 0; i < n; i++) {
            if (!is_alnum(rest[i]) && rest[i] != '.' && rest[i] != '-') {
                return cf_xasprintf("\"%s\" has an invalid host", remote);
            }
        }
        port = colon ? colon + 1 : NULL;
    }
    if (port) {
        size_t n = strspn(port, "0123456789");
        if (!n || port[n] || n > 5 || atoi(port) < 1 || atoi(port) > 65535) {
            return cf_xasprintf("\"%s\" has an invalid port", remote);
        }
    }
    return NULL;
}

/* Returns NULL if 'name' is a valid OVS bridge name, else a malloc'd
 * reason. */
static char *
check_bridge_name(const char *name)
{
    size_t n = strlen(name);
    if (!n || n > 15) {
        return cf_xasprintf("\"%s\" is not a valid bridge name: it must be "
                            "1 to 15 characters long", name);
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(name[i]) && !strchr("-_.", name[i])) {
            return cf_xasprintf("\"%s\" is not a valid bridge name: only "
                                "letters, digits, '-', '_' and '.' are "
                                "allowed", name);
        }
    }
    return NULL;
}

/* Converts conjflow Node 'obj' into a new node. */
static struct cf_node *
parse_node(struct conv *c, const json_t *obj)
{
    static const char *const top_fields[] = {
        "apiVersion", "kind", "metadata", "spec", NULL
    };
    static const char *const spec_fields[] = {
        "ovsdb", "bridge", "addresses", NULL
    };
    struct cf_node *node = cf_xzalloc(sizeof *node);
    struct meta m;

    check_fields(c, obj, top_fields);
    parse_meta(c, obj, CF_KIND_NODE, true, &m);
    node->name = cf_xstrdup(m.name ? m.name : "");
    meta_destroy(&m);

    const json_t *spec = member(obj, "spec");
    size_t old = path_key(c, "spec");
    if (!spec) {
        conv_error(c, "required");
    } else if (expect_object(c, spec)) {
        check_fields(c, spec, spec_fields);

        const char *s;
        if (get_string(c, spec, "ovsdb", &s)) {
            size_t old2 = path_key(c, "ovsdb");
            if (!report(c, check_ovsdb_remote(s))) {
                node->ovsdb = cf_xstrdup(s);
            }
            path_pop(c, old2);
        } else if (!member(spec, "ovsdb")) {
            size_t old2 = path_key(c, "ovsdb");
            conv_error(c, "required");
            path_pop(c, old2);
        }

        if (get_string(c, spec, "bridge", &s)) {
            size_t old2 = path_key(c, "bridge");
            if (!report(c, check_bridge_name(s))) {
                node->bridge = cf_xstrdup(s);
            }
            path_pop(c, old2);
        }

        const json_t *addrs = member(spec, "addresses");
        if (addrs) {
            size_t old2 = path_key(c, "addresses");
            if (expect_array(c, addrs)) {
                size_t n = json_array_size(addrs);
                node->addrs = cf_xcalloc(n, sizeof *node->addrs);
                for (size_t i = 0; i < n; i++) {
                    const json_t *a = json_array_get(addrs, i);
                    size_t old3 = path_index(c, i);
                    if (!json_is_string(a)) {
                        conv_error(c, "expected a string, got %s",
                                   json_type_phrase(a));
                    } else if (!report(c,
                                       cf_addr_parse(json_string_value(a),
                                               &node->addrs[node->n_addrs]))) {
                        node->n_addrs++;
                    }
                    path_pop(c, old3);
                }
                if (node->n_addrs > 1) {
                    qsort(node->addrs, node->n_addrs, sizeof *node->addrs,
                          compare_addrs);
                    size_t k = 1;
                    for (size_t i = 1; i < node->n_addrs; i++) {
                        if (cf_addr_compare(&node->addrs[i],
                                            &node->addrs[k - 1])) {
                            node->addrs[k++] = node->addrs[i];
                        }
                    }
                    node->n_addrs = k;
                }
            }
            path_pop(c, old2);
        }
    }
    path_pop(c, old);
    if (!node->bridge) {
        node->bridge = cf_xstrdup("br-int");
    }
    if (!node->ovsdb) {
        node->ovsdb = cf_xstrdup("");
    }
    return node;
}

/* ---- Entry point -------------------------------------------------------- */

/* The kinds conjflow reads: Kubernetes kind and apiVersion. */
static const struct {
    const char *kind;           /* "NetworkPolicy". */
    const char *api_version;    /* "networking.k8s.io/v1". */
    enum cf_kind cf_kind;
} kinds[] = {
    { "Namespace", "v1", CF_KIND_NAMESPACE },
    { "Pod", "v1", CF_KIND_POD },
    { "NetworkPolicy", "networking.k8s.io/v1", CF_KIND_POLICY },
    { "Node", "conjflow.io/v1alpha1", CF_KIND_NODE },
};

/* Converts the Kubernetes object 'obj' into a validated, normalized model
 * object in '*objp' (owned by the caller), whose 'manifest' is 'obj' as
 * compact JSON with sorted keys.  'where' (may be NULL) starts every error
 * message, e.g. "policies.yaml: document 2".  Returns NULL on success,
 * else a malloc'd message with every error found, one per line, and sets
 * '*objp' to NULL. */
char *
cf_manifest_object_from_json(const json_t *obj, const char *where,
                             enum cf_manifest_mode mode,
                             struct cf_object **objp)
{
    *objp = NULL;
    const char *w = where ? where : "";
    const char *sep = where ? ": " : "";
    if (!json_is_object(obj)) {
        return cf_xasprintf("%s%sexpected an object, got %s", w, sep,
                            json_type_phrase(obj));
    }

    const json_t *kind_v = member(obj, "kind");
    const json_t *api_v = member(obj, "apiVersion");
    if (!kind_v || !json_is_string(kind_v)) {
        return cf_xasprintf("%s%skind: %s", w, sep,
                            kind_v ? "expected a string" : "required");
    }
    const char *kind_s = json_string_value(kind_v);
    size_t k;
    for (k = 0; k < CF_ARRAY_SIZE(kinds); k++) {
        if (!strcmp(kinds[k].kind, kind_s)) {
            break;
        }
    }
    if (k >= CF_ARRAY_SIZE(kinds)) {
        return cf_xasprintf("%s%skind: \"%s\" is not supported (conjflow "
                            "reads Namespace, Pod, NetworkPolicy and "
                            "conjflow.io/v1alpha1 Node)", w, sep, kind_s);
    }
    enum cf_kind kind = kinds[k].cf_kind;

    /* The object's description, for messages. */
    const json_t *meta = member(obj, "metadata");
    const json_t *name_v = meta ? member(meta, "name") : NULL;
    const json_t *ns_v = meta ? member(meta, "namespace") : NULL;
    struct cf_ds desc = CF_DS_INIT;
    cf_ds_put_format(&desc, "%s%s%s ", w, sep, cf_kind_name(kind));
    if (cf_kind_namespaced(kind)) {
        cf_ds_put_format(&desc, "%s/", (json_is_string(ns_v)
                                        ? json_string_value(ns_v)
                                        : "default"));
    }
    cf_ds_put_cstr(&desc, (json_is_string(name_v) ? json_string_value(name_v)
                           : "<unnamed>"));

    struct conv c = { .mode = mode, .prefix = cf_ds_steal(&desc) };
    cf_ds_init(&c.errors);
    cf_ds_init(&c.path);

    if (!api_v || !json_is_string(api_v)) {
        path_key(&c, "apiVersion");
        conv_error(&c, "%s", api_v ? "expected a string" : "required");
        path_pop(&c, 0);
    } else if (strcmp(json_string_value(api_v), kinds[k].api_version)) {
        path_key(&c, "apiVersion");
        conv_error(&c, "\"%s\" is not supported for kind %s (expected %s)",
                   json_string_value(api_v), kind_s, kinds[k].api_version);
        path_pop(&c, 0);
    }

    struct cf_object *o = cf_xzalloc(sizeof *o);
    o->kind = kind;
    switch (kind) {
    case CF_KIND_NAMESPACE:
        o->ns = parse_namespace(&c, obj);
        break;
    case CF_KIND_POD:
        o->pod = parse_pod(&c, obj);
        break;
    case CF_KIND_POLICY:
        o->policy = parse_policy(&c, obj);
        break;
    case CF_KIND_NODE:
        o->node = parse_node(&c, obj);
        break;
    default:
        cf_assert(false);
    }

    free(c.prefix);
    cf_ds_destroy(&c.path);
    if (c.errors.len) {
        cf_object_destroy(o);
        return cf_ds_steal(&c.errors);
    }
    o->manifest = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    cf_assert(o->manifest != NULL);
    *objp = o;
    return NULL;
}
