/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Cuts a byte stream into JSON values (see struct cf_json_splitter in
 * conjflow/k8s.h).  A Kubernetes watch response is a sequence of JSON
 * objects, one per line, but the network hands them over in arbitrary
 * pieces: a piece may end inside a string or an escape.  The splitter
 * tracks only what it needs to find where a value ends (nesting depth,
 * whether it is inside a string, whether the last byte was a backslash),
 * scanning each byte once, and leaves parsing to jansson.
 *
 *   between values --'{' or '['--> in value (depth 1)
 *   in value: '"' toggles in_string; in a string '\' escapes one byte;
 *             outside strings '{' '[' deepen, '}' ']' return; depth 0
 *             ends the value.
 */
#include "conjflow-config.h"

#include "conjflow/k8s.h"

#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"

void
cf_json_splitter_init(struct cf_json_splitter *s)
{
    memset(s, 0, sizeof *s);
}

void
cf_json_splitter_destroy(struct cf_json_splitter *s)
{
    free(s->buf);
    memset(s, 0, sizeof *s);
}

/* Forgets everything buffered. */
void
cf_json_splitter_reset(struct cf_json_splitter *s)
{
    s->len = s->start = s->pos = 0;
    s->depth = 0;
    s->in_string = s->escape = s->error = false;
}

/* Appends 'n' bytes of 'data'. */
void
cf_json_splitter_feed(struct cf_json_splitter *s, const char *data, size_t n)
{
    if (s->start && s->start == s->pos && s->depth == 0) {
        /* Everything before 'start' was returned: drop it. */
        s->len = s->pos = s->start = 0;
    } else if (s->start > 65536 && s->start * 2 > s->len) {
        memmove(s->buf, s->buf + s->start, s->len - s->start);
        s->len -= s->start;
        s->pos -= s->start;
        s->start = 0;
    }
    if (s->len + n + 1 > s->allocated) {
        s->allocated = CF_MAX(s->len + n + 1, s->allocated * 2);
        s->buf = cf_xrealloc(s->buf, s->allocated);
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

/* Returns the next complete value, or NULL (see conjflow/k8s.h). */
const char *
cf_json_splitter_next(struct cf_json_splitter *s, size_t *lenp)
{
    while (s->pos < s->len) {
        char c = s->buf[s->pos++];
        if (s->depth == 0) {
            if (c == '{' || c == '[') {
                s->start = s->pos - 1;
                s->depth = 1;
            } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                s->start = s->pos;
            } else {
                s->error = true;
                s->start = s->pos;
                return NULL;
            }
        } else if (s->in_string) {
            if (s->escape) {
                s->escape = false;
            } else if (c == '\\') {
                s->escape = true;
            } else if (c == '"') {
                s->in_string = false;
            }
        } else if (c == '"') {
            s->in_string = true;
        } else if (c == '{' || c == '[') {
            s->depth++;
        } else if (c == '}' || c == ']') {
            if (--s->depth == 0) {
                const char *value = s->buf + s->start;
                *lenp = s->pos - s->start;
                s->start = s->pos;
                return value;
            }
        }
    }
    return NULL;
}

/* Bytes of an incomplete value held. */
size_t
cf_json_splitter_pending(const struct cf_json_splitter *s)
{
    return s->len - s->start;
}
