/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Internals of the store (store/store.c) that its unit tests inspect
 * (tests/check-store.c); nothing else uses them.
 */
#ifndef CONJFLOW_STORE_PRIVATE_H
#define CONJFLOW_STORE_PRIVATE_H 1

#include <stdbool.h>
#include <stddef.h>

/* The number of statement slots of a store: cf_store__statement_sql()
 * takes 0 to this minus 1. */
size_t cf_store__n_statements(void);

/* The SQL text of statement slot 'i' (a static string), or NULL if the slot
 * has no statement.  Sets '*may_scan' if the statement reads a whole table
 * by design (the full lists, the free-id search); every other statement
 * must find its rows through an index, so that a write costs the same in a
 * small store as in a large one. */
const char *cf_store__statement_sql(size_t i, bool *may_scan);

#endif /* store/store-private.h */
