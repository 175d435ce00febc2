/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Validation of objects before the store writes them (private to store/;
 * see validate.c for what is checked).
 */
#ifndef CONJFLOW_STORE_VALIDATE_H
#define CONJFLOW_STORE_VALIDATE_H 1

#include <stdbool.h>

#include "conjflow/cfutil.h"
#include "conjflow/model.h"

/* The largest node id (a conntrack zone). */
#define CF_MAX_NODE_ID 65535

/* Checks 'obj' against the model's invariants, appending one line per
 * problem ("pod x/web: metadata.name: must not be empty") to 'errors'
 * (lines separated by new-lines).  Returns true if 'obj' is valid. */
bool cf_store_validate(const struct cf_object *obj, struct cf_ds *errors);

/* Appends "networkpolicy x/allow-web" for 'obj' to 'ds', even for an
 * invalid object (missing names print as "<no name>"). */
void cf_store_describe(const struct cf_object *obj, struct cf_ds *ds);

/* Appends the line "OBJECT: FIELD: <message>" to 'errors'. */
void cf_store_error(struct cf_ds *errors, const struct cf_object *obj,
                    const char *field, const char *format, ...)
    CF_PRINTF(4, 5);

#endif /* store/validate.h */
