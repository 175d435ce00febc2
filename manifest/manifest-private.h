/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Internals shared by the files of manifest/: the YAML reader and writer
 * (yaml.c, between libyaml and jansson values) and the model-to-JSON
 * converter (export.c) used when an object has no stored manifest.
 */
#ifndef MANIFEST_MANIFEST_PRIVATE_H
#define MANIFEST_MANIFEST_PRIVATE_H 1

#include <jansson.h>
#include <stddef.h>

#include "conjflow/model.h"

struct cf_ds;

/* Reads the YAML stream of 'len' bytes at 'text' into '*docsp', a new JSON
 * array with one value per document (an empty document gives null).
 * Plain scalars are resolved the YAML 1.1 way (null, booleans, integers,
 * floats), quoted ones stay strings; aliases are rejected.  'source' names
 * the input in messages (may be NULL).  Returns NULL on success, else a
 * malloc'd message (and '*docsp' is NULL). */
char *cf_yaml_load(const char *text, size_t len, const char *source,
                   json_t **docsp);

/* Appends 'value' to 'out' as block-style YAML (ending in a new-line).
 * Strings that would read back as something else are double-quoted. */
void cf_yaml_emit(const json_t *value, struct cf_ds *out);

/* Returns a new JSON object (the caller owns the reference) that describes
 * 'obj' in Kubernetes form, built from the model struct alone (for objects
 * whose 'manifest' is NULL). */
json_t *cf_manifest_object_to_json(const struct cf_object *obj);

#endif /* manifest/manifest-private.h */
