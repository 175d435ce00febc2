/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * YAML for manifests: a reader that turns a YAML stream into jansson
 * values with libyaml's event parser, and a block-style writer from jansson
 * values.
 *
 * The reader resolves plain scalars as YAML 1.1 does (what kubectl's YAML
 * library does): null ("", "~", "null"), booleans ("true", "yes", "on"...
 * in their three cases, but not "y" and "n"), integers (decimal, 0x hex,
 * 0 octal, 0b binary, '_' separators) and floats; quoted and block
 * scalars stay strings, as does any scalar tagged !!str.  Mapping keys
 * become strings.
 * Aliases and complex keys are rejected, duplicate keys too (as kubectl's
 * strict decoding does).
 *
 * The writer quotes every string that a YAML reader could take for
 * something other than that string.
 */
#include "conjflow-config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "conjflow/cfutil.h"
#include "manifest/manifest-private.h"

/* ---- Scalar resolution -------------------------------------------------- */

/* True if 's' is one of the NULL-terminated 'words'. */
static bool
is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++) {
        if (!strcmp(s, *words)) {
            return true;
        }
    }
    return false;
}

static const char *const null_words[] = { "~", "null", "Null", "NULL", NULL };
/* YAML 1.1 also has "y" and "n"; like kubectl's YAML library, they are
 * left strings here (namespaces "y" and "n" are common). */
static const char *const true_words[] = {
    "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    NULL,
};
static const char *const false_words[] = {
    "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    NULL,
};

/* Copies 's' without '_' characters into a new string. */
static char *
strip_underscores(const char *s)
{
    char *copy = cf_xstrdup(s), *q = copy;
    for (const char *p = s; *p; p++) {
        if (*p != '_') {
            *q++ = *p;
        }
    }
    *q = '\0';
    return copy;
}

/* True if every character of 's' is in 'set' and 's' is not empty. */
static bool
all_in(const char *s, const char *set)
{
    return *s && strspn(s, set) == strlen(s);
}

/* Tries to read 's' as a YAML 1.1 integer.  Returns true and stores a new
 * JSON integer (or real, if it does not fit) in '*vp' if it is one. */
static bool
resolve_int(const char *s, json_t **vp)
{
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    int base;
    const char *digits;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        digits = p + 2;
        if (!all_in(digits, "0123456789abcdefABCDEF_")) {
            return false;
        }
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        digits = p + 2;
        if (!all_in(digits, "01_")) {
            return false;
        }
    } else if (p[0] == '0' && p[1] == 'o') {
        base = 8;
        digits = p + 2;
        if (!all_in(digits, "01234567_")) {
            return false;
        }
    } else if (p[0] == '0' && p[1]) {
        base = 8;
        digits = p + 1;
        if (!all_in(digits, "01234567_")) {
            return false;
        }
    } else {
        base = 10;
        digits = p;
        if (!all_in(digits, "0123456789_") || digits[0] == '_') {
            return false;
        }
    }
    char *clean = strip_underscores(digits);
    if (!*clean) {
        free(clean);
        return false;
    }
    errno = 0;
    unsigned long long u = strtoull(clean, NULL, base);
    bool overflow = (errno == ERANGE
                     || u > (unsigned long long) INT64_MAX + neg);
    if (overflow && base != 10) {
        free(clean);
        return false;           /* Left a string. */
    } else if (overflow) {
        double d = strtod(clean, NULL);
        *vp = json_real(neg ? -d : d);
    } else {
        *vp = json_integer(neg ? (json_int_t) (0 - u) : (json_int_t) u);
    }
    free(clean);
    return true;
}

/* Tries to read 's' as a YAML 1.1 float ("1.5", "-2e3", ".5", ".inf",
 * ".nan").  Returns true and sets '*vp' (NULL for infinities and NaN, which
 * JSON cannot hold) if it is one. */
static bool
resolve_float(const char *s, json_t **vp)
{
    const char *p = s;
    if (*p == '+' || *p == '-') {
        p++;
    }
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")
        || (p == s && (!strcmp(p, ".nan") || !strcmp(p, ".NaN")
                       || !strcmp(p, ".NAN")))) {
        *vp = NULL;
        return true;
    }
    /* [0-9][0-9_]* ('.' [0-9_]*)? ([eE][-+]?[0-9]+)?  or  '.' [0-9]+ ... */
    size_t n_int = strspn(p, "0123456789_");
    const char *q = p + n_int;
    size_t n_frac = 0;
    bool dot = false;
    if (*q == '.') {
        dot = true;
        q++;
        n_frac = strspn(q, "0123456789_");
        q += n_frac;
    }
    if (!n_int && !n_frac) {
        return false;
    }
    if (n_int && p[0] == '_') {
        return false;
    }
    bool exp = false;
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-') {
            q++;
        }
        size_t n_exp = strspn(q, "0123456789");
        if (!n_exp) {
            return false;
        }
        q += n_exp;
        exp = true;
    }
    if (*q || (!dot && !exp)) {
        return false;
    }
    char *clean = strip_underscores(s);
    double d = strtod(clean, NULL);
    free(clean);
    *vp = isfinite(d) ? json_real(d) : NULL;
    return true;
}

/* Resolves the plain scalar 's'.  Returns a new JSON value, or NULL if 's'
 * is a number JSON cannot represent. */
static json_t *
resolve_plain(const char *s, bool *unrepresentable)
{
    json_t *v;
    *unrepresentable = false;
    if (!*s || is_one_of(s, null_words)) {
        return json_null();
    } else if (is_one_of(s, true_words)) {
        return json_true();
    } else if (is_one_of(s, false_words)) {
        return json_false();
    } else if (resolve_int(s, &v)) {
        return v;
    } else if (resolve_float(s, &v)) {
        *unrepresentable = !v;
        return v;
    }
    return json_string(s);
}

/* ---- Reader ------------------------------------------------------------- */

/* One open collection while reading. */
struct frame {
    json_t *value;              /* The object or array (borrowed from its
                                 * parent, or the document root). */
    char *key;                  /* For an object: the key read, awaiting
                                 * its value; NULL if none. */
};

/* The state of one cf_yaml_load(). */
struct reader {
    struct frame *stack;        /* Open collections, innermost last. */
    size_t n, allocated;
    json_t *root;               /* The current document's value. */
    char *error;                /* First error, malloc'd. */
    const char *source;         /* Input name for messages, or NULL. */
};

/* Records an error at 'mark' (unless there is one already). */
static void CF_PRINTF(3, 4)
reader_error(struct reader *r, const yaml_mark_t *mark, const char *format,
             ...)
{
    if (r->error) {
        return;
    }
    struct cf_ds ds = CF_DS_INIT;
    if (r->source) {
        cf_ds_put_format(&ds, "%s: ", r->source);
    }
    cf_ds_put_format(&ds, "line %zu, column %zu: ", mark->line + 1,
                     mark->column + 1);
    va_list args;
    va_start(args, format);
    cf_ds_put_vformat(&ds, format, args);
    va_end(args);
    r->error = cf_ds_steal(&ds);
}

/* Adds 'v' (a new reference, stolen) at the current position: the root,
 * the next array element or the value of the pending key.  'is_key_ok'
 * says whether 'v' may become a key (scalars only); 'key_text' is the text
 * to use as a key. */
static void
reader_add(struct reader *r, json_t *v, const char *key_text,
           const yaml_mark_t *mark)
{
    if (!r->n) {
        json_decref(r->root);
        r->root = v;
        return;
    }
    struct frame *f = &r->stack[r->n - 1];
    if (json_is_array(f->value)) {
        json_array_append_new(f->value, v);
    } else if (!f->key) {
        if (!key_text) {
            reader_error(r, mark, "complex mapping keys are not supported");
        } else if (json_object_get(f->value, key_text)) {
            reader_error(r, mark, "duplicate key \"%s\"", key_text);
        } else {
            f->key = cf_xstrdup(key_text);
        }
        json_decref(v);
    } else {
        json_object_set_new(f->value, f->key, v);
        free(f->key);
        f->key = NULL;
    }
}

/* Opens collection 'v' (new reference): adds it and pushes it. */
static void
reader_push(struct reader *r, json_t *v, const yaml_mark_t *mark)
{
    json_incref(v);
    reader_add(r, v, NULL, mark);
    if (r->n >= r->allocated) {
        r->stack = cf_x2nrealloc(r->stack, &r->allocated, sizeof *r->stack);
    }
    r->stack[r->n].value = v;
    r->stack[r->n].key = NULL;
    r->n++;
    json_decref(v);
}

/* Handles a scalar event. */
static void
reader_scalar(struct reader *r, const yaml_event_t *ev)
{
    const char *text = (const char *) ev->data.scalar.value;
    const char *tag = (const char *) ev->data.scalar.tag;
    json_t *v;

    if (strlen(text) != ev->data.scalar.length) {
        reader_error(r, &ev->start_mark, "NUL character in scalar");
        return;
    }
    if (tag && !strcmp(tag, YAML_STR_TAG)) {
        v = json_string(text);
    } else if (tag && strcmp(tag, "!") && strcmp(tag, YAML_INT_TAG)
               && strcmp(tag, YAML_FLOAT_TAG) && strcmp(tag, YAML_BOOL_TAG)
               && strcmp(tag, YAML_NULL_TAG)) {
        reader_error(r, &ev->start_mark, "unsupported tag \"%s\"", tag);
        return;
    } else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE
               || (tag && strcmp(tag, "!"))) {
        bool bad;
        v = resolve_plain(text, &bad);
        if (bad) {
            reader_error(r, &ev->start_mark, "\"%s\" is not representable "
                         "in JSON", text);
            return;
        }
    } else {
        v = json_string(text);
    }
    if (!v) {
        reader_error(r, &ev->start_mark, "invalid UTF-8 in scalar");
        return;
    }
    reader_add(r, v, text, &ev->start_mark);
}

/* Reads the YAML stream 'text' of 'len' bytes into '*docsp', a new array
 * of the documents' values.  Returns NULL or a malloc'd error naming
 * 'source', the line and the column. */
char *
cf_yaml_load(const char *text, size_t len, const char *source,
             json_t **docsp)
{
    yaml_parser_t parser;
    struct reader r = { .source = source };
    json_t *docs = json_array();
    bool done = false;

    *docsp = NULL;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    while (!done && !r.error) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            struct cf_ds ds = CF_DS_INIT;
            if (source) {
                cf_ds_put_format(&ds, "%s: ", source);
            }
            cf_ds_put_format(&ds, "line %zu, column %zu: %s",
                             parser.problem_mark.line + 1,
                             parser.problem_mark.column + 1,
                             parser.problem ? parser.problem
                             : "YAML syntax error");
            if (parser.problem_mark.index < len
                && text[parser.problem_mark.index] == '\t') {
                cf_ds_put_cstr(&ds, " (tabs cannot indent YAML)");
            }
            if (parser.context) {
                cf_ds_put_format(&ds, " (%s, line %zu)", parser.context,
                                 parser.context_mark.line + 1);
            }
            r.error = cf_ds_steal(&ds);
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            json_decref(r.root);
            r.root = NULL;
            break;
        case YAML_DOCUMENT_END_EVENT:
            json_array_append_new(docs, r.root ? r.root : json_null());
            r.root = NULL;
            break;
        case YAML_ALIAS_EVENT:
            reader_error(&r, &ev.start_mark, "YAML aliases (*%s) are not "
                         "supported", (const char *) ev.data.alias.anchor);
            break;
        case YAML_SCALAR_EVENT:
            reader_scalar(&r, &ev);
            break;
        case YAML_SEQUENCE_START_EVENT:
            reader_push(&r, json_array(), &ev.start_mark);
            break;
        case YAML_MAPPING_START_EVENT:
            reader_push(&r, json_object(), &ev.start_mark);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            cf_assert(r.n > 0);
            r.n--;
            free(r.stack[r.n].key);
            break;
        case YAML_NO_EVENT:
        case YAML_STREAM_START_EVENT:
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);

    for (size_t i = 0; i < r.n; i++) {
        free(r.stack[i].key);
    }
    free(r.stack);
    json_decref(r.root);
    if (r.error) {
        json_decref(docs);
        return r.error;
    }
    *docsp = docs;
    return NULL;
}

/* ---- Writer ------------------------------------------------------------- */

/* True if 's' can be written as a plain scalar and read back as the same
 * string by any YAML 1.1 or 1.2 reader. */
static bool
is_plain_safe(const char *s)
{
    if (!*s) {
        return false;
    }
    char c0 = s[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z')
          || c0 == '/' || c0 == '_')) {
        return false;
    }
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                   || (c >= '0' && c <= '9') || c == '.' || c == '_'
                   || c == '/' || c == '-'
                   || (c == ':' && p[1] && p[1] != ' '));
        if (!ok) {
            return false;
        }
    }
    if (!s[1] && strchr("yYnN", s[0])) {
        return false;           /* Booleans to some YAML 1.1 readers. */
    }
    bool unused;
    json_t *v = resolve_plain(s, &unused);
    bool is_string = v && json_is_string(v);
    json_decref(v);
    return is_string;
}

/* Appends 's' as a YAML scalar: plain if safe, else double-quoted. */
static void
emit_string(const char *s, struct cf_ds *out)
{
    if (is_plain_safe(s)) {
        cf_ds_put_cstr(out, s);
        return;
    }
    json_t *j = json_string(s);
    char *q = json_dumps(j, JSON_ENCODE_ANY);
    cf_ds_put_cstr(out, q);
    free(q);
    json_decref(j);
}

/* Appends the scalar 'v' (not an object or non-empty array). */
static void
emit_scalar(const json_t *v, struct cf_ds *out)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        emit_string(json_string_value(v), out);
        break;
    case JSON_INTEGER:
        cf_ds_put_format(out, "%lld", (long long) json_integer_value(v));
        break;
    case JSON_REAL: {
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
        if (!strpbrk(buf, ".eEn")) {
            strcat(buf, ".0");
        }
        cf_ds_put_cstr(out, buf);
        break;
    }
    case JSON_TRUE:
        cf_ds_put_cstr(out, "true");
        break;
    case JSON_FALSE:
        cf_ds_put_cstr(out, "false");
        break;
    case JSON_NULL:
        cf_ds_put_cstr(out, "null");
        break;
    case JSON_OBJECT:
        cf_ds_put_cstr(out, "{}");
        break;
    case JSON_ARRAY:
        cf_ds_put_cstr(out, "[]");
        break;
    default:
        break;
    }
}

/* True if 'v' is written on lines of its own (a non-empty collection). */
static bool
is_block(const json_t *v)
{
    return ((json_is_object(v) && json_object_size(v))
            || (json_is_array(v) && json_array_size(v)));
}

static void emit_node(const json_t *v, int indent, bool inline_first,
                      struct cf_ds *out);

/* Appends 'indent' spaces. */
static void
put_indent(struct cf_ds *out, int indent)
{
    for (int i = 0; i < indent; i++) {
        cf_ds_put_char(out, ' ');
    }
}

/* Appends the mapping entries of object 'v', sorted by key, each at
 * 'indent', except that the first one continues the current line if
 * 'inline_first'. */
static void
emit_object(const json_t *v, int indent, bool inline_first,
            struct cf_ds *out)
{
    size_t n = json_object_size(v), k = 0;
    const char **keys = cf_xcalloc(n, sizeof *keys);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) v, key, value) {
        keys[k++] = key;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(keys[j], keys[i]) < 0) {
                const char *t = keys[i];
                keys[i] = keys[j];
                keys[j] = t;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *child = json_object_get(v, keys[i]);
        if (i || !inline_first) {
            put_indent(out, indent);
        }
        emit_string(keys[i], out);
        cf_ds_put_char(out, ':');
        if (json_is_object(child) && is_block(child)) {
            cf_ds_put_char(out, '\n');
            emit_node(child, indent + 2, false, out);
        } else if (json_is_array(child) && is_block(child)) {
            cf_ds_put_char(out, '\n');
            emit_node(child, indent, false, out);
        } else {
            cf_ds_put_char(out, ' ');
            emit_scalar(child, out);
            cf_ds_put_char(out, '\n');
        }
    }
    free(keys);
}

/* Appends the sequence entries of array 'v' at 'indent'. */
static void
emit_array(const json_t *v, int indent, bool inline_first, struct cf_ds *out)
{
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *child = json_array_get(v, i);
        if (i || !inline_first) {
            put_indent(out, indent);
        }
        cf_ds_put_cstr(out, "- ");
        if (is_block(child)) {
            emit_node(child, indent + 2, true, out);
        } else {
            emit_scalar(child, out);
            cf_ds_put_char(out, '\n');
        }
    }
}

/* Appends 'v' at 'indent'; see emit_object() for 'inline_first'. */
static void
emit_node(const json_t *v, int indent, bool inline_first, struct cf_ds *out)
{
    if (json_is_object(v) && is_block(v)) {
        emit_object(v, indent, inline_first, out);
    } else if (json_is_array(v) && is_block(v)) {
        emit_array(v, indent, inline_first, out);
    } else {
        emit_scalar(v, out);
        cf_ds_put_char(out, '\n');
    }
}

/* Appends 'value' to 'out' as block-style YAML. */
void
cf_yaml_emit(const json_t *value, struct cf_ds *out)
{
    emit_node(value, 0, false, out);
}
