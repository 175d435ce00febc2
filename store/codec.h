/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The store's record codec: model objects (conjflow/model.h) to and from a
 * compact binary form, stored in the 'data' column of the store's object
 * tables.  Pure C: no jansson, no OVS, so conjflowd can link it.
 *
 * Format (all integers are unsigned LEB128 varints unless said otherwise):
 *   record   := version:u8 kind:u8 body
 *   string   := len body[len]                 (UTF-8, no NUL)
 *   optstr   := 0 (NULL) | len+1 body[len]
 *   labels   := n (key:string value:string)*n
 *   selector := n (key:string op:u8 nvalues value:string*nvalues)*n
 *   addr     := family:u8 bytes[4 or 16]
 *   cidr     := addr plen:u8
 *   namespace:= name labels
 *   pod      := ns name node:optstr labels nips addr*nips
 *               nports (name:optstr port proto)*nports hostNetwork:u8
 *   policy   := ns name podSelector flags:u8 (1 ingress, 2 egress, 4 log)
 *               ningress rule*ningress negress rule*negress
 *   rule     := npeers peer*npeers nports port*nports
 *   peer     := flags:u8 (1 podSel, 2 nsSel, 4 ipBlock) [podSel] [nsSel]
 *               [cidr nexcept cidr*nexcept]
 *   port     := proto kind:u8 port endPort name:optstr
 *   node     := name ovsdb:optstr bridge:optstr naddrs addr*naddrs
 *
 * Ids (policy and node) are not part of the record: the store keeps them
 * in their own column, so two records compare equal exactly when the
 * objects are equal apart from their ids.  The encoding is canonical for
 * objects in the model's normal form, so comparing records byte for byte
 * tells whether an object changed.
 */
#ifndef CONJFLOW_STORE_CODEC_H
#define CONJFLOW_STORE_CODEC_H 1

#include <stddef.h>

#include "conjflow/model.h"

struct cf_ds;

/* The version byte that starts every record this code writes. */
#define CF_CODEC_VERSION 1

/* Appends the record of 'obj' (its model struct; not the manifest, not the
 * id) to 'out', which may hold binary data afterwards (use out->len). */
void cf_codec_encode(const struct cf_object *obj, struct cf_ds *out);

/* Decodes the 'len' bytes at 'data' as a record of 'kind'.  On success
 * stores a new object (manifest NULL, ids 0) in '*objp' (the caller frees
 * it with cf_object_destroy()) and returns NULL; else stores NULL and
 * returns a malloc'd message saying what is wrong with the record. */
char *cf_codec_decode(enum cf_kind kind, const void *data, size_t len,
                      struct cf_object **objp);

#endif /* store/codec.h */
