/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Manifests: Kubernetes objects as YAML or JSON in, validated and
 * normalized model objects (conjflow/model.h) out, and back to JSON/YAML
 * for display.  Applies the API server's defaulting and validation, so an
 * object accepted here is one the API server would accept.
 *
 * Uses jansson and libyaml: never include this header in code that links
 * libopenvswitch (conjflowd).
 *
 * Errors name the object, the field path and the reason, e.g.
 *   "networkpolicy x/allow-web: spec.ingress[0].ports[1].endPort: 70 is
 *    less than port 80"
 * and, for files, where it is: "policies.yaml: document 2: ...".
 */
#ifndef CONJFLOW_MANIFEST_H
#define CONJFLOW_MANIFEST_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "conjflow/model.h"

struct cf_ds;

/* How strict parsing is. */
enum cf_manifest_mode {
    CF_MANIFEST_STRICT,         /* Unknown fields are errors (conjflowctl,
                                 * like kubectl --validate=strict). */
    CF_MANIFEST_LENIENT,        /* Unknown fields are ignored (objects read
                                 * from the Kubernetes API, which carry
                                 * status, managedFields...). */
};

/* A growable array of objects (owned). */
struct cf_object_list {
    struct cf_object **objs;
    size_t n;
    size_t allocated;
};
void cf_object_list_init(struct cf_object_list *);
void cf_object_list_destroy(struct cf_object_list *);  /* Frees objects. */
void cf_object_list_push(struct cf_object_list *, struct cf_object *);

/* Parses 'len' bytes of 'text': one or more YAML documents or JSON values,
 * each an object or a "kind: List" of objects.  'source' names the input in
 * error messages ("-" for standard input, or a file name).  Appends the
 * objects to 'out' in order.  On error appends nothing and returns a
 * malloc'd message (all errors found, one per line); else NULL.  Each
 * object's 'manifest' is the object as given, as compact JSON.  An object
 * given twice (same kind, namespace and name) in one call is an error. */
char *cf_manifest_parse(const char *text, size_t len, const char *source,
                        enum cf_manifest_mode, struct cf_object_list *out);

/* Converts one Kubernetes object 'obj' (already-parsed JSON, e.g. from the
 * API server) into a validated, normalized model object in '*objp' (owned by
 * the caller; its 'manifest' is 'obj' as compact JSON with sorted keys).
 * 'where' (may be NULL) starts every error message, e.g. "x.yaml: document
 * 2".  Returns NULL on success, else a malloc'd message with every error
 * found, one per line (and '*objp' is NULL). */
char *cf_manifest_object_from_json(const json_t *obj, const char *where,
                                   enum cf_manifest_mode,
                                   struct cf_object **objp);

/* Parses each path of 'paths': a file, a directory (its *.yaml, *.yml and
 * *.json files, sorted by name, not recursive) or "-" (standard input).
 * All or nothing, like cf_manifest_parse(). */
char *cf_manifest_parse_paths(char *const *paths, size_t n_paths,
                              enum cf_manifest_mode,
                              struct cf_object_list *out);

/* Appends 'objs' as JSON: a single object as itself, several as a
 * "kind: List" (always a List if 'as_list'). Pretty-printed. */
void cf_manifest_format_json(struct cf_object *const *objs, size_t n,
                             bool as_list, struct cf_ds *out);
/* The same as YAML. */
void cf_manifest_format_yaml(struct cf_object *const *objs, size_t n,
                             bool as_list, struct cf_ds *out);

#endif /* conjflow/manifest.h */
