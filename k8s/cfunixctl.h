/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * A control socket that speaks OVS's unixctl protocol, so that
 * "ovs-appctl -t conjflow-k8s COMMAND" works without libopenvswitch:
 * JSON-RPC 1.0 over a Unix stream socket, requests
 * {"method":"status","params":[...],"id":N}, replies
 * {"result":"text","error":null,"id":N} (or "error":"text").  By default
 * the socket is <rundir>/<program>.<pid>.ctl, which ovs-appctl finds
 * through the pidfile <rundir>/<program>.pid.
 *
 * Usage: cf_unixctl_register() the commands, cf_unixctl_server_create(),
 * then in the main loop poll the descriptors cf_unixctl_server_fds() gives
 * and call cf_unixctl_server_run().  "list-commands" is built in.
 */
#ifndef CONJFLOW_K8S_CFUNIXCTL_H
#define CONJFLOW_K8S_CFUNIXCTL_H 1

#include <stdbool.h>
#include <stddef.h>

/* A command handler: 'argv' holds the 'argc' parameters (strings).
 * Returns a malloc'd reply text and sets '*is_error' to make it an error
 * reply. */
typedef char *cf_unixctl_cb(int argc, const char *argv[], void *aux,
                            bool *is_error);

/* Registers 'name' with 'usage' (shown by list-commands), between
 * 'min_args' and 'max_args' parameters. */
void cf_unixctl_register(const char *name, const char *usage, int min_args,
                         int max_args, cf_unixctl_cb *, void *aux);

struct cf_unixctl_server;

/* Listens on 'path' (NULL: <rundir>/<program>.<pid>.ctl).  Returns NULL or
 * a malloc'd error. */
char *cf_unixctl_server_create(const char *path, const char *program,
                               struct cf_unixctl_server **);
void cf_unixctl_server_destroy(struct cf_unixctl_server *);  /* Unlinks. */
/* Puts up to 'max' descriptors to poll for input into 'fds'; returns how
 * many. */
size_t cf_unixctl_server_fds(const struct cf_unixctl_server *, int *fds,
                             size_t max);
/* Accepts connections and answers complete requests; never blocks. */
void cf_unixctl_server_run(struct cf_unixctl_server *);
/* The socket's path. */
const char *cf_unixctl_server_path(const struct cf_unixctl_server *);

#endif /* k8s/cfunixctl.h */
