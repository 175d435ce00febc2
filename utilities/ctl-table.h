/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowctl's table output for "get", in kubectl's style: a header row of
 * upper-case column names, columns separated by three spaces, "<none>" for
 * empty values.
 */
#ifndef CONJFLOW_CTL_TABLE_H
#define CONJFLOW_CTL_TABLE_H 1

#include <stdbool.h>
#include <stddef.h>

#include "conjflow/model.h"

struct cf_ds;

/* Appends a table of the 'n' objects of 'objs' (all of 'kind') to 'out'.
 * 'with_ns' adds a NAMESPACE column first (get -A); 'wide' adds the
 * columns of "-o wide". */
void ctl_table_format(enum cf_kind kind, struct cf_object *const *objs,
                      size_t n, bool with_ns, bool wide, struct cf_ds *out);

/* Sets the store's "realization" meta text (not copied; NULL for none)
 * that the REALIZED column of wide networkpolicies tables shows (R/N:
 * realized on R of the N nodes where the policy applies; "-" unknown). */
void ctl_table_set_realization(const char *text);

#endif /* utilities/ctl-table.h */
