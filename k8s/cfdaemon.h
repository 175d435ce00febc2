/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * OVS's daemon conventions for conjflow-k8s, which cannot use OVS's
 * daemon library (it must not link libopenvswitch): --pidfile, --detach,
 * --monitor, --no-chdir, and OVS's run directory ($OVS_RUNDIR, else
 * /var/run/openvswitch) so that "ovs-appctl -t conjflow-k8s" finds the
 * control socket.
 *
 * Usage, in main() after parsing options:
 *
 *     cf_daemon_start();        forks for --detach and --monitor; returns
 *                               in the process that does the work
 *     ... start-up (may fail: exit(1) makes the detaching parent fail) ...
 *     cf_daemon_ready();        pidfile written, the parent exits 0,
 *                               stdio goes to /dev/null
 */
#ifndef CONJFLOW_K8S_CFDAEMON_H
#define CONJFLOW_K8S_CFDAEMON_H 1

#include <stdbool.h>

/* Settings; set them before cf_daemon_start(). */
struct cf_daemon_options {
    char *pidfile;              /* Pidfile path or NULL. */
    bool detach;                /* --detach. */
    bool monitor;               /* --monitor. */
    bool chdir;                 /* chdir("/") when detaching (default). */
};
extern struct cf_daemon_options cf_daemon;

/* $OVS_RUNDIR or /var/run/openvswitch. */
const char *cf_daemon_rundir(void);
/* The default pidfile of 'program': <rundir>/<program>.pid (malloc'd). */
char *cf_daemon_default_pidfile(const char *program);

/* Forks as --detach and --monitor ask; returns in the worker process. */
void cf_daemon_start(void);
/* Start-up succeeded: writes the pidfile (exits with a message if another
 * process holds it) and lets a detaching parent exit 0. */
void cf_daemon_ready(void);
/* Removes the pidfile (call at exit). */
void cf_daemon_cleanup(void);

#endif /* k8s/cfdaemon.h */
