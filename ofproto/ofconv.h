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
 * Everything here speaks OpenFlow 1.5 (CF_OFP_PROTOCOL): conjflowd accepts
 * no other version, because it needs bundles and OXM for everything.
 */
#ifndef CONJFLOW_OFPROTO_OFCONV_H
#define CONJFLOW_OFPROTO_OFCONV_H 1

#include <stdbool.h>
#include <stdint.h>

#include "openvswitch/hmap.h"
#include "openvswitch/match.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/types.h"

struct cflow;
struct ds;
struct ofpact;
struct ofpbuf;
struct ofputil_flow_stats;

#define CF_OFP_VERSION OFP15_VERSION
#define CF_OFP_PROTOCOL OFPUTIL_P_OF15_OXM

/* One OpenFlow flow. */
struct cf_ofl {
    struct hmap_node hmap_node; /* In a cf_ofl_table, by cf_ofl_key_hash(). */
    uint8_t table_id;           /* OpenFlow table. */
    uint16_t priority;          /* Priority. */
    ovs_be64 cookie;            /* Cookie. */
    struct minimatch match;     /* Match, as decoded from OpenFlow. */
    struct ofpact *ofpacts;     /* Actions, as decoded from OpenFlow. */
    size_t ofpacts_len;         /* Length of 'ofpacts' in bytes. */
    void *wire;                 /* 'ofpacts' encoded as OpenFlow 1.5
                                 * instructions: compared instead of
                                 * 'ofpacts', whose padding bytes are not
                                 * always zeroed by libopenvswitch. */
    size_t wire_len;            /* Length of 'wire' in bytes. */
    uint32_t key_hash;          /* cf_ofl_key_hash(), computed once. */
};

/* Converts 'flow' into a new cf_ofl in '*oflp'.  Returns NULL on success or
 * a malloc'd message saying which flow could not be expressed (then
 * '*oflp' is NULL). */
char *cf_ofl_from_cflow(const struct cflow *flow, struct cf_ofl **oflp);
/* Returns a new cf_ofl with a copy of the flow in 'fs' (a flow stats
 * reply). */
struct cf_ofl *cf_ofl_from_stats(const struct ofputil_flow_stats *fs);
/* Returns a deep copy of 'ofl'. */
struct cf_ofl *cf_ofl_clone(const struct cf_ofl *ofl);
void cf_ofl_destroy(struct cf_ofl *);

/* Hash and equality of a flow's OpenFlow identity (table, priority,
 * match). */
uint32_t cf_ofl_key_hash(const struct cf_ofl *);
bool cf_ofl_key_equal(const struct cf_ofl *, const struct cf_ofl *);
/* True if 'a' and 'b' have the same identity, cookie and actions. */
bool cf_ofl_equal(const struct cf_ofl *a, const struct cf_ofl *b);

/* Appends 'ofl' in ovs-ofctl syntax (tables by number). */
void cf_ofl_format(const struct cf_ofl *, struct ds *);

/* Returns a flow_mod for 'ofl' with 'command' (OFPFC_ADD or
 * OFPFC_DELETE_STRICT), encoded for CF_OFP_PROTOCOL.  The caller owns the
 * buffer. */
struct ofpbuf *cf_ofl_encode(const struct cf_ofl *ofl, uint16_t command);

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
