/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Small utilities for conjflow's pure C code: allocation that aborts on
 * out-of-memory, a growable string, and a string hash.  The pure modules
 * (model, compiler, store, manifests) use these instead of libopenvswitch's,
 * because programs on the jansson side must not link libopenvswitch.  All
 * names carry the cf_ prefix so they never clash with OVS's in conjflowd,
 * which links both.
 */
#ifndef CONJFLOW_CFUTIL_H
#define CONJFLOW_CFUTIL_H 1

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_ARRAY_SIZE(A) (sizeof (A) / sizeof (A)[0])
#define CF_MIN(A, B) ((A) < (B) ? (A) : (B))
#define CF_MAX(A, B) ((A) > (B) ? (A) : (B))

#if defined(__GNUC__)
#define CF_PRINTF(FMT, ARG1) __attribute__((__format__(printf, FMT, ARG1)))
#define CF_NORETURN __attribute__((__noreturn__))
#else
#define CF_PRINTF(FMT, ARG1)
#define CF_NORETURN
#endif

/* Aborts with a message naming the failed condition, like ovs_assert(). */
#define cf_assert(COND)                                              \
    ((COND) ? (void) 0 : cf_assert_failure(__FILE__, __LINE__, #COND))
void cf_assert_failure(const char *file, int line, const char *cond)
    CF_NORETURN;

/* Allocation: these never return NULL; they abort on out-of-memory. */
void *cf_xmalloc(size_t size);
void *cf_xzalloc(size_t size);
void *cf_xcalloc(size_t n, size_t size);
void *cf_xrealloc(void *p, size_t size);
char *cf_xstrdup(const char *s);           /* NULL gives NULL. */
char *cf_xmemdup0(const char *s, size_t n);
char *cf_xasprintf(const char *format, ...) CF_PRINTF(1, 2);
char *cf_xvasprintf(const char *format, va_list) CF_PRINTF(1, 0);

/* Grows '*array' (of '*allocated' elements of 'elem_size' bytes) so that it
 * can hold at least 'n' elements. */
void *cf_x2nrealloc(void *array, size_t *allocated, size_t elem_size);

/* A growable, always null-terminated string.  Initialize with CF_DS_INIT or
 * cf_ds_init(); free with cf_ds_destroy(); cf_ds_steal() hands the buffer
 * to the caller (who frees it with free()). */
struct cf_ds {
    char *s;            /* Contents, null-terminated (NULL while empty). */
    size_t len;         /* Length, not counting the null. */
    size_t allocated;   /* Bytes allocated for 's', minus the null. */
};
#define CF_DS_INIT { NULL, 0, 0 }
void cf_ds_init(struct cf_ds *);
void cf_ds_destroy(struct cf_ds *);
void cf_ds_clear(struct cf_ds *);
void cf_ds_put_cstr(struct cf_ds *, const char *);
void cf_ds_put_buf(struct cf_ds *, const char *, size_t);
void cf_ds_put_char(struct cf_ds *, char);
/* Appends 'a', 'sep' and 'b' ("ns/name" keys: no printf on hot paths). */
void cf_ds_put_joined(struct cf_ds *, const char *a, char sep,
                      const char *b);
void cf_ds_put_format(struct cf_ds *, const char *, ...) CF_PRINTF(2, 3);
void cf_ds_put_vformat(struct cf_ds *, const char *, va_list)
    CF_PRINTF(2, 0);
const char *cf_ds_cstr(const struct cf_ds *);  /* Never NULL. */
char *cf_ds_steal(struct cf_ds *);             /* Never NULL. */
void cf_ds_chomp(struct cf_ds *, char c);      /* Removes one trailing 'c'. */

/* 32-bit hashes (FNV-1a), stable across runs and machines. */
uint32_t cf_hash_bytes(const void *, size_t, uint32_t basis);
uint32_t cf_hash_string(const char *, uint32_t basis);
uint32_t cf_hash_u32(uint32_t, uint32_t basis);

/* Chained hash tables whose nodes start with their 'next' pointer and keep
 * their 32-bit hash at offset 'hash_ofs': moves the nodes of 'buckets'
 * ('mask' + 1 buckets, or NULL for none) into 'new_mask' + 1 new buckets,
 * frees 'buckets' and returns the new ones. */
void *cf_hash_rechain(void *buckets, size_t mask, size_t new_mask,
                      size_t hash_ofs);

/* Binary search in the 'n' elements of 'size' bytes at 'base', sorted as
 * 'cmp' (called with an element and 'key') says.  Returns the index of an
 * element equal to 'key' and sets '*found' to true, or returns the index
 * at which 'key' would be inserted and sets '*found' to false. */
size_t cf_bsearch_pos(const void *base, size_t n, size_t size,
                      const void *key,
                      int (*cmp)(const void *elem, const void *key),
                      bool *found);

/* Monotonic time in milliseconds and in nanoseconds. */
long long cf_time_msec(void);
long long cf_time_nsec(void);

#endif /* conjflow/cfutil.h */
