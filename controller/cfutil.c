/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Allocation, growable strings, hashes and clocks for conjflow's pure C
 * modules (see conjflow/cfutil.h).
 */
#include "conjflow-config.h"

#include "conjflow/cfutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
cf_assert_failure(const char *file, int line, const char *cond)
{
    fprintf(stderr, "%s:%d: assertion %s failed\n", file, line, cond);
    abort();
}

static void CF_NORETURN
out_of_memory(void)
{
    fputs("conjflow: virtual memory exhausted\n", stderr);
    abort();
}

void *
cf_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        out_of_memory();
    }
    return p;
}

void *
cf_xzalloc(size_t size)
{
    return cf_xcalloc(1, size);
}

void *
cf_xcalloc(size_t n, size_t size)
{
    void *p = n && size ? calloc(n, size) : malloc(1);
    if (!p) {
        out_of_memory();
    }
    if (!n || !size) {
        *(char *) p = 0;
    }
    return p;
}

void *
cf_xrealloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p) {
        out_of_memory();
    }
    return p;
}

char *
cf_xmemdup0(const char *s, size_t n)
{
    char *p = cf_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
cf_xstrdup(const char *s)
{
    return s ? cf_xmemdup0(s, strlen(s)) : NULL;
}

char *
cf_xvasprintf(const char *format, va_list args)
{
    va_list args2;
    va_copy(args2, args);
    int needed = vsnprintf(NULL, 0, format, args);
    char *s = cf_xmalloc(needed + 1);
    vsnprintf(s, needed + 1, format, args2);
    va_end(args2);
    return s;
}

char *
cf_xasprintf(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *s = cf_xvasprintf(format, args);
    va_end(args);
    return s;
}

void *
cf_x2nrealloc(void *array, size_t *allocated, size_t elem_size)
{
    size_t n = *allocated ? *allocated * 2 : 4;
    *allocated = n;
    return cf_xrealloc(array, n * elem_size);
}

/* Growable strings. */

void
cf_ds_init(struct cf_ds *ds)
{
    ds->s = NULL;
    ds->len = 0;
    ds->allocated = 0;
}

void
cf_ds_destroy(struct cf_ds *ds)
{
    free(ds->s);
    cf_ds_init(ds);
}

void
cf_ds_clear(struct cf_ds *ds)
{
    ds->len = 0;
    if (ds->s) {
        ds->s[0] = '\0';
    }
}

static char *
ds_reserve(struct cf_ds *ds, size_t more)
{
    if (ds->len + more > ds->allocated || !ds->s) {
        size_t want = ds->len + more;
        size_t n = ds->allocated ? ds->allocated : 16;
        while (n < want) {
            n *= 2;
        }
        ds->s = cf_xrealloc(ds->s, n + 1);
        ds->allocated = n;
    }
    return ds->s + ds->len;
}

void
cf_ds_put_buf(struct cf_ds *ds, const char *buf, size_t n)
{
    char *p = ds_reserve(ds, n);
    memcpy(p, buf, n);
    ds->len += n;
    ds->s[ds->len] = '\0';
}

void
cf_ds_put_cstr(struct cf_ds *ds, const char *s)
{
    cf_ds_put_buf(ds, s, strlen(s));
}

void
cf_ds_put_char(struct cf_ds *ds, char c)
{
    cf_ds_put_buf(ds, &c, 1);
}

void
cf_ds_put_joined(struct cf_ds *ds, const char *a, char sep, const char *b)
{
    cf_ds_put_cstr(ds, a);
    cf_ds_put_char(ds, sep);
    cf_ds_put_cstr(ds, b);
}

void
cf_ds_put_vformat(struct cf_ds *ds, const char *format, va_list args)
{
    va_list args2;
    va_copy(args2, args);
    size_t avail = ds->s ? ds->allocated - ds->len : 0;
    int needed = vsnprintf(ds->s ? ds->s + ds->len : NULL,
                           ds->s ? avail + 1 : 0, format, args);
    if (needed > 0 && (!ds->s || (size_t) needed > avail)) {
        ds_reserve(ds, needed);
        vsnprintf(ds->s + ds->len, needed + 1, format, args2);
    }
    if (needed > 0) {
        ds->len += needed;
    }
    va_end(args2);
}

void
cf_ds_put_format(struct cf_ds *ds, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    cf_ds_put_vformat(ds, format, args);
    va_end(args);
}

const char *
cf_ds_cstr(const struct cf_ds *ds)
{
    return ds->s ? ds->s : "";
}

char *
cf_ds_steal(struct cf_ds *ds)
{
    char *s = ds->s ? ds->s : cf_xstrdup("");
    cf_ds_init(ds);
    return s;
}

void
cf_ds_chomp(struct cf_ds *ds, char c)
{
    if (ds->len > 0 && ds->s[ds->len - 1] == c) {
        ds->s[--ds->len] = '\0';
    }
}

/* Chained hash tables. */

/* A node of a table for cf_hash_rechain(): its 'next' pointer first. */
struct rechain_node {
    struct rechain_node *next;
};

void *
cf_hash_rechain(void *buckets_, size_t mask, size_t new_mask,
                size_t hash_ofs)
{
    struct rechain_node **buckets = buckets_;
    struct rechain_node **new = cf_xcalloc(new_mask + 1, sizeof *new);
    for (size_t i = 0; buckets && i <= mask; i++) {
        for (struct rechain_node *node = buckets[i], *next; node;
             node = next) {
            uint32_t hash;
            memcpy(&hash, (const char *) node + hash_ofs, sizeof hash);
            next = node->next;
            node->next = new[hash & new_mask];
            new[hash & new_mask] = node;
        }
    }
    free(buckets);
    return new;
}

/* Hashes: FNV-1a. */

uint32_t
cf_hash_bytes(const void *p_, size_t n, uint32_t basis)
{
    const unsigned char *p = p_;
    uint32_t h = 2166136261u ^ basis;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

uint32_t
cf_hash_string(const char *s, uint32_t basis)
{
    return cf_hash_bytes(s, strlen(s), basis);
}

uint32_t
cf_hash_u32(uint32_t x, uint32_t basis)
{
    /* A finalizer (murmur3's) mixes better than FNV for small ints. */
    x ^= basis * 0x9e3779b9u;
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

long long
cf_time_nsec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long
cf_time_msec(void)
{
    return cf_time_nsec() / 1000000;
}

size_t
cf_bsearch_pos(const void *base, size_t n, size_t size, const void *key,
               int (*cmp)(const void *elem, const void *key), bool *found)
{
    const char *b = base;
    size_t lo = 0, hi = n;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp(b + mid * size, key);
        if (!c) {
            *found = true;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}
