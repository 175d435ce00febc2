/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Test harness for conjflow-k8s (tests/check-k8s.c, tests/bench-k8s.c):
 * starts the test API server (tests/k8s-apiserver.py, TLS + token) in a
 * private directory, drives it through its /test/ control interface,
 * starts and stops conjflow-k8s against it, and reads the store the way
 * conjflowd would.  $OVS_RUNDIR is set to the directory (default pidfiles
 * and control sockets go there).  Every process started is ended by PID
 * at exit, even when a check assertion fails (atexit).
 *
 * Paths: the server script is found under $CF_TEST_SRCDIR (or the
 * compiled-in srcdir), conjflow-k8s as $CONJFLOW_K8S or k8s/conjflow-k8s
 * in the build directory.
 */
#ifndef CONJFLOW_TESTS_K8S_HARNESS_H
#define CONJFLOW_TESTS_K8S_HARNESS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conjflow/model.h"

/* One test environment. */
struct k8s_env {
    char *dir;                  /* Private directory (removed at the end). */
    pid_t server_pid;           /* The API server. */
    int port;                   /* Its port. */
    char *db;                   /* Store file. */
    char *ctl;                  /* conjflow-k8s's control socket. */
    char *log;                  /* conjflow-k8s's log file. */
    pid_t daemon_pid;           /* conjflow-k8s, or 0. */
};

/* Starts the API server with 'server_args' (NULL-terminated, may be
 * NULL) in a new directory. */
void k8s_env_init(struct k8s_env *, const char *const *server_args);
/* Stops everything and removes the directory. */
void k8s_env_destroy(struct k8s_env *);

/* Starts conjflow-k8s with the environment's kubeconfig, store, log file
 * and control socket, short backoffs, and 'args' (NULL-terminated). */
pid_t k8s_daemon_start(struct k8s_env *, const char *const *args);
/* Runs conjflow-k8s with exactly 'args' and waits for it: its exit status
 * (or 128+signal), its stderr in '*outp' (caller frees). */
int k8s_daemon_run(struct k8s_env *, const char *const *args, char **outp);
/* SIGTERM and wait.  Returns the exit status. */
int k8s_daemon_stop(struct k8s_env *);

/* POSTs 'body' to the server's control 'path' ("/test/apply").  Returns
 * the response body (the caller frees it); aborts on failure. */
char *k8s_ctl(struct k8s_env *, const char *path, const char *body);
/* The value at 'path' in the server's /test/stats (e.g. "lists.pods"). */
long long k8s_server_stat(struct k8s_env *, const char *path);
/* "ovs-appctl -t <ctl> <cmd>" output (the caller frees it), NULL if it
 * failed. */
char *k8s_appctl(struct k8s_env *, const char *cmd);

/* Store reads (each opens the store read-only). */
size_t k8s_store_count(struct k8s_env *, enum cf_kind);
struct cf_object *k8s_store_get(struct k8s_env *, enum cf_kind,
                                const char *ns, const char *name);
char *k8s_store_meta(struct k8s_env *, const char *key);
uint64_t k8s_store_seq(struct k8s_env *);

/* Polls 'cond' every few ms until it holds or 'timeout_ms' passes.
 * Returns whether it held. */
bool k8s_wait(bool (*cond)(struct k8s_env *, const void *aux),
              struct k8s_env *, const void *aux, int timeout_ms);

/* Conditions for k8s_wait(). */
struct k8s_count_cond {
    enum cf_kind kind;
    size_t n;
};
bool k8s_cond_count(struct k8s_env *, const void *count_cond);
struct k8s_ref_cond {
    enum cf_kind kind;
    const char *ns, *name;
    bool present;
};
bool k8s_cond_ref(struct k8s_env *, const void *ref_cond);

/* Reads a whole file (NULL if absent; the caller frees it). */
char *k8s_read_file(const char *name);

#endif /* tests/k8s-harness.h */
