/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The store's SQLite schema and its forward migrations (private to store/).
 * The schema version lives in SQLite's user_version, the file's owner in
 * its application_id ("CFLW").  See schema.c for the tables.
 */
#ifndef CONJFLOW_STORE_SCHEMA_H
#define CONJFLOW_STORE_SCHEMA_H 1

#include <stdbool.h>

struct sqlite3;

/* The schema version this code creates and reads. */
#define CF_STORE_SCHEMA_VERSION 2
/* SQLite application_id of a conjflow store: "CFLW". */
#define CF_STORE_APPLICATION_ID 0x43464c57

/* Brings the schema of 'db' (the file 'path', for messages) to
 * CF_STORE_SCHEMA_VERSION: creates it in an empty file, migrates an older
 * one forward, refuses a newer one or a file that is not a conjflow store.
 * With 'read_only', only checks that the schema is current.  Must be
 * called outside any transaction: checks in a read transaction of its own
 * and takes the write lock only to create or migrate (checking again
 * under it).  Returns NULL or a malloc'd error message. */
char *cf_store_schema_prepare(struct sqlite3 *db, const char *path,
                              bool read_only);

#endif /* store/schema.h */
