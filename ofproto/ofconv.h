/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * OpenFlow flows in libopenvswitch's representation, for conjflowd.
 *
 * The compiler describes desired flows with conjflow's own struct cflow
 * (conjflow/cflow.h).  conjflowd compares them with what a switch reports
 * in a flow dump, so both sides must be in one representation: a struct
 * cf_ofl holds one flow as the switch would report it (a flow built from a
 * cflow and the same flow read back from the switch compare equal).  A
 * struct cf_ofl_table indexes flows by their OpenFlow identity (table,
 * priority, match).
 *
 * Memory: a flow keeps its actions only in their OpenFlow 1.5 encoding,
 * in an immutable byte string (struct cf_blob) interned in one pool for
 * the whole process.  Flows with the same actions share one string: a
 * desired flow and its installed copy, a flow and its clones, and the
 * clause flows of one address set, on every node, which carry the same
 * hundreds of conjunction() actions.  Matches are interned the same way
 * (a desired flow and its installed copy share one).  Only one thread may
 * use these functions (the pools are not locked).
 *
 * Everything here speaks OpenFlow 1.5 (CF_OFP_PROTOCOL): conjflowd accepts
 * no other version, because it needs bundles and OXM for everything.
 */
#ifndef CONJFLOW_OFPROTO_OFCONV_H
#define CONJFLOW_OFPROTO_OFCONV_H 1

#include <stdbool.h>
#include <stdint.h>

#include "openvswitch/hmap.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/types.h"

struct cflow;
struct ds;
struct ofpact;
struct ofpbuf;
struct ofputil_flow_stats;

#define CF_OFP_VERSION OFP15_VERSION
#define CF_OFP_PROTOCOL OFPUTIL_P_OF15_OXM

/* An immutable byte string, interned in a pool: a pool holds at most one
 * string with given bytes, so two strings of one pool are equal exactly if
 * their pointers are.  Reference counted; the last cf_blob_unref() frees
 * it. */
struct cf_blob {
    struct hmap_node hmap_node; /* In 'pool->blobs', by hash of 'data'. */
    struct cf_blob_pool *pool;  /* The pool it is interned in. */
    unsigned int n_refs;        /* References (cf_blob_intern(),
                                 * cf_blob_ref()). */
    uint32_t len;               /* Length of 'data' in bytes. */
    uint8_t data[];             /* The bytes. */
};

/* A set of interned strings. */
struct cf_blob_pool {
    struct hmap blobs;          /* Contains "struct cf_blob"s. */
    size_t n_bytes;             /* Sum of their 'len's. */
};

#define CF_BLOB_POOL_INITIALIZER(POOL) \
    { HMAP_INITIALIZER(&(POOL)->blobs), 0 }

/* Returns a reference to the string of 'pool' with the 'len' bytes at
 * 'data', interning a copy if the pool has none.  The caller owns the
 * reference (cf_blob_unref()). */
const struct cf_blob *cf_blob_intern(struct cf_blob_pool *pool,
                                     const void *data, size_t len);
/* Returns a new reference to 'blob' (not NULL). */
const struct cf_blob *cf_blob_ref(const struct cf_blob *blob);
/* Drops a reference to 'blob' (NULL is fine); the last one frees it. */
void cf_blob_unref(const struct cf_blob *blob);
/* True if 'blob' holds the 'len' bytes at 'data'. */
bool cf_blob_equals(const struct cf_blob *blob, const void *data,
                    size_t len);
/* Number of strings in 'pool', and the bytes they hold. */
size_t cf_blob_pool_count(const struct cf_blob_pool *);
size_t cf_blob_pool_bytes(const struct cf_blob_pool *);

/* The pools of the flows' actions and matches (struct cf_ofl's 'actions'
 * and 'match_blob'). */
struct cf_blob_pool *cf_ofl_actions_pool(void);
struct cf_blob_pool *cf_ofl_matches_pool(void);

/* One OpenFlow flow. */
struct cf_ofl {
    struct hmap_node hmap_node; /* In a cf_ofl_table, by cf_ofl_key_hash(). */
    uint8_t table_id;           /* OpenFlow table. */
    uint16_t priority;          /* Priority. */
    uint32_t key_hash;          /* cf_ofl_key_hash(), computed once. */
    ovs_be64 cookie;            /* Cookie. */
    struct minimatch match;     /* Match, as decoded from OpenFlow: points
                                 * into 'match_blob' (read only, never
                                 * minimatch_destroy()ed). */
    const struct cf_blob *match_blob;   /* The bytes of 'match' (one
                                         * reference, interned in
                                         * cf_ofl_matches_pool()). */
    const struct cf_blob *actions;  /* The actions encoded as OpenFlow 1.5
                                     * instructions, as a flow_mod and a
                                     * flow dump carry them (one reference,
                                     * in cf_ofl_actions_pool()): compared
                                     * instead of decoded ofpacts, whose
                                     * padding bytes are not always zeroed
                                     * by libopenvswitch; decoded only to
                                     * print the flow. */
};

/* Converts 'flow' into a new cf_ofl in '*oflp'.  Returns NULL on success or
 * a malloc'd message saying which flow could not be expressed (then
 * '*oflp' is NULL). */
char *cf_ofl_from_cflow(const struct cflow *flow, struct cf_ofl **oflp);
/* Returns a new cf_ofl with a copy of the flow in 'fs' (a flow stats
 * reply). */
struct cf_ofl *cf_ofl_from_stats(const struct ofputil_flow_stats *fs);
/* Returns a copy of 'ofl' (that shares its actions and match). */
struct cf_ofl *cf_ofl_clone(const struct cf_ofl *ofl);
void cf_ofl_destroy(struct cf_ofl *);   /* NULL is fine. */

/* Hash and equality of a flow's OpenFlow identity (table, priority,
 * match). */
uint32_t cf_ofl_key_hash(const struct cf_ofl *);
bool cf_ofl_key_equal(const struct cf_ofl *, const struct cf_ofl *);
/* True if 'a' and 'b' have the same identity, cookie and actions. */
bool cf_ofl_equal(const struct cf_ofl *a, const struct cf_ofl *b);
/* Decodes the actions of 'ofl' into 'ofpacts' (appended).  Returns 0 or an
 * OpenFlow error (not expected: they were encoded from ofpacts). */
enum ofperr cf_ofl_get_ofpacts(const struct cf_ofl *ofl,
                               struct ofpbuf *ofpacts);

/* Appends 'ofl' in ovs-ofctl syntax (tables by number). */
void cf_ofl_format(const struct cf_ofl *, struct ds *);

/* Returns a flow_mod for 'ofl' with 'command' (OFPFC_ADD or
 * OFPFC_DELETE_STRICT), encoded for CF_OFP_PROTOCOL.  The caller owns the
 * buffer. */
struct ofpbuf *cf_ofl_encode(const struct cf_ofl *ofl, uint16_t command);

/* Appends to 'packed' a compact encoding of the actions of 'flow': only
 * the members that cflow_equal() compares, so two flows' action lists
 * are equal by cflow_equal() exactly if their encodings are equal byte for
 * byte.  (conjflowd's cache of desired flows keeps this instead of a copy
 * of the flow's struct cflow_action array, about 4 times smaller.)
 * Returns false, and appends nothing useful, if an action has an unknown
 * type (cflow_equal() finds such a flow equal to none). */
bool cf_cflow_pack_actions(const struct cflow *flow, struct ofpbuf *packed);

/* A set of flows, indexed by identity; owns its flows. */
struct cf_ofl_table {
    struct hmap flows;          /* Contains "struct cf_ofl"s. */
};

void cf_ofl_table_init(struct cf_ofl_table *);
void cf_ofl_table_destroy(struct cf_ofl_table *);   /* Frees the flows. */
void cf_ofl_table_clear(struct cf_ofl_table *);
/* Moves the contents of 'src' into 'dst' (whose old flows are freed);
 * 'src' ends up empty. */
void cf_ofl_table_swap(struct cf_ofl_table *dst, struct cf_ofl_table *src);
size_t cf_ofl_table_count(const struct cf_ofl_table *);
/* The flow in 'table' with the identity of 'key', or NULL. */
struct cf_ofl *cf_ofl_table_find(const struct cf_ofl_table *table,
                                 const struct cf_ofl *key);
/* Inserts 'ofl' (taking ownership).  If a flow with the same identity is
 * there, it is replaced and freed. */
void cf_ofl_table_replace(struct cf_ofl_table *, struct cf_ofl *ofl);
/* Removes and frees the flow with the identity of 'key', if any. */
void cf_ofl_table_delete(struct cf_ofl_table *, const struct cf_ofl *key);
/* Appends every flow, one per line, sorted (table, priority descending,
 * text), so output is deterministic. */
void cf_ofl_table_format(const struct cf_ofl_table *, struct ds *);

#endif /* ofproto/ofconv.h */
