/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowd's private header: the state that the daemon's source files
 * share.  conjflowd.c has main(), the store loading and the node
 * compilation and owns the one struct daemon_state; conjflowd-observe.c
 * keeps the observability state in it (audit log, statistics, realization
 * status, the "stats" and "audit/reopen" commands); conjflowd-metrics.c
 * the Prometheus endpoint; conjflowd-ctsweep.c the conntrack sweep.
 * Everything runs in the main loop (one thread):
 * main() calls observe_init() once the store is open, observe_run() and
 * observe_wait() on every pass, and observe_destroy() before exiting;
 * observe_*() call metrics_*() in turn.  Only conjflowd's files include
 * this header.
 */
#ifndef CONJFLOW_CONTROLLER_CONJFLOWD_H
#define CONJFLOW_CONTROLLER_CONJFLOWD_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conjflow/cflow.h"
#include "conjflow/model.h"
#include "openvswitch/shash.h"

struct cf_audit;
struct cf_node_cache;
struct cf_store;
struct cf_switch;
struct ctsweep;
struct ds;
struct metrics;
struct stats_req;
struct unixctl_conn;

/* Command-line settings that conjflowd-observe.c reads (set by
 * conjflowd.c's parse_options()). */
extern const char *audit_log_path;      /* --audit-log. */
extern int stats_interval;              /* --stats-interval, ms. */
extern const char *metrics_address;     /* --metrics-address. */

/* One node conjflowd manages. */
struct node_ctx {
    char *name;                 /* Node name (key in 'nodes'). */
    struct cf_switch *sw;       /* Its switch. */
    unsigned int ports_seqno;   /* Switch ports seqno last compiled. */
    bool dirty;                 /* Must be compiled again. */
    long long int compile_us;   /* Duration of the last compilation. */
    long long int convert_us;   /* Duration of the last conversion to
                                 * OpenFlow (cf_switch_set_desired()). */
    size_t n_flows;             /* Flows of the last compilation. */
    struct cflow_set last;      /* Flows of the last compilation (for
                                 * --check-incremental). */
    struct cf_node_cache *cache;    /* The node's merged flows, kept between
                                     * compilations (NULL until the first). */
    bool cache_synced;          /* The switch's desired flows are the
                                 * cache's table: a difference will do. */
    unsigned int stats_stored;  /* Switch stats seqno last stored. */
    unsigned int stats_wanted;  /* Stats seqno a "stats" command waits
                                 * for (0: none). */
    uint64_t synced_seq;        /* Store seq at which the node was last
                                 * in sync (0: never). */
    struct ctsweep *ctsweep;    /* Its conntrack sweeps
                                 * (conjflowd-ctsweep.c), or NULL. */
};

/* Wakeups on store writes (see "Store wakeups"). */
struct store_watch {
    int fd;                     /* inotify descriptor, or -1: polling only. */
    char *base;                 /* The store file's name in its directory. */
    long long int recheck_until;    /* Until then, look every millisecond
                                     * (a write was seen). */
};

/* The daemon's state. */
struct daemon_state {
    struct cf_store *store;     /* The store. */
    int64_t data_version;       /* SQLite data_version last seen. */
    bool have_version;          /* 'data_version' is valid. */
    uint64_t seq;               /* Store sequence of 'cluster'. */
    bool loaded;                /* 'cluster' has been loaded. */
    struct cf_cluster cluster;  /* The cluster as of 'seq'. */
    struct cf_compiler *compiler;   /* Compiler over 'cluster'. */
    uint64_t compiler_gen;      /* Its generation (cf_compiler_set_generation):
                                 * one more per load. */
    /* What the last load replaced, freed once the nodes' bundles are sent
     * (retire_old()), so that freeing it overlaps with vswitchd's work
     * instead of delaying the change. */
    struct cf_compiler *old_compiler;   /* The old compiler, or NULL. */
    struct cf_cluster old_cluster;  /* The old cluster: only its arrays if
                                     * 'old_shared', else everything. */
    bool old_shared;            /* 'old_cluster' shares its objects with
                                 * 'cluster' (an incremental load). */
    struct cf_cluster old_gone; /* Old versions of changed objects. */
    struct shash nodes;         /* Node name -> struct node_ctx. */
    char *store_error;          /* Last store error, or NULL. */
    long long int load_us;      /* Duration of the last reload. */
    long long int change_start; /* When the last change was seen (ms). */
    long long int last_sync_ms; /* Change-to-sync time of the last change,
                                 * or -1 while pending. */
    long long int trim_at;      /* When to return freed memory to the
                                 * system (trim_run()), or 0. */
    size_t n_affected;          /* Nodes the last change recompiled. */
    bool exiting;               /* "exit" was requested. */
    struct observe *obs;        /* Audit log, statistics, metrics. */
    struct store_watch watch;   /* Wakeups on store writes. */
    struct sync_waiter *waiters;    /* Pending "sync/wait" commands. */
    size_t n_waiters, allocated_waiters;
};

/* A "sync/wait" command waiting until every node is in sync with the
 * store as it was when the command came. */
struct sync_waiter {
    struct unixctl_conn *conn;  /* Where the answer goes. */
    uint64_t seq;               /* Store sequence to be in sync with. */
    long long int deadline;     /* Gives up then (ms). */
};

/* Observability state of the daemon (conjflowd-observe.c; conjflowd-metrics.c
 * reads 'audit', 'n_packet_ins' and 'metrics'). */
struct observe {
    struct cf_audit *audit;     /* The audit log, or NULL. */
    uint64_t n_packet_ins;      /* Audit packet-ins received. */
    long long int next_stats;   /* When to dump statistics next (ms). */
    struct stats_req *reqs;     /* Pending "stats" commands. */
    size_t n_reqs, allocated_reqs;
    struct shash policy_seq;    /* "ns/name" -> uint64_t * (seq of the
                                 * policy's last change). */
    uint64_t feed_seq;          /* Change feed read up to here. */
    bool feed_read;             /* 'policy_seq' has been initialized. */
    char *realization;          /* Last "realization" text stored. */
    bool realization_stale;     /* Sync state, seq or ports changed. */
    unsigned int ports_sig;     /* Sum of the nodes' ports seqnos. */
    long long int writes_held;  /* Since when the store writes below wait
                                 * for a change to reach the switches (ms),
                                 * or 0 (see observe_run()). */
    long long int next_realization;  /* Not recomputed before (ms): at
                                      * most twice a second, as it looks
                                      * at every policy and binding. */
    struct metrics *metrics;    /* Prometheus endpoint, or NULL. */
};

/* conjflowd.c (comments at the definitions). */
void set_store_error(struct daemon_state *, char *error);
struct node_ctx *find_node(struct daemon_state *, struct unixctl_conn *,
                           const char *name);

/* conjflowd-observe.c. */
void observe_init(struct daemon_state *);
void observe_run(struct daemon_state *);
void observe_wait(struct daemon_state *);
void observe_destroy(struct daemon_state *);
void observe_node_created(struct daemon_state *, struct node_ctx *);

/* conjflowd-ctsweep.c: after a change that may revoke, removes the
 * conntrack entries of connections that policy no longer allows.  main()
 * calls ctsweep_run() after nodes_run() and ctsweep_wait() on every pass;
 * node_ctx_destroy() calls ctsweep_destroy(). */
extern bool ctsweep_enabled;            /* --no-conntrack-sweep clears it. */
void ctsweep_run(struct daemon_state *);
/* True unless some node's sweep runs, or is wanted and will start once its
 * node is in sync ("sync/wait" waits for those; a sweep that failed and
 * waits for its retry does not count, nor do nodes that can't be swept). */
bool ctsweep_settled(const struct daemon_state *);
void ctsweep_wait(struct daemon_state *);
void ctsweep_destroy(struct ctsweep *);
/* Appends the node's "conntrack sweeps: ..." status line to 's'. */
void ctsweep_format_status(const struct node_ctx *, struct ds *s);

/* conjflowd-metrics.c. */
void metrics_create(struct daemon_state *, const char *address);
void metrics_run(struct daemon_state *);
void metrics_wait(struct daemon_state *);
void metrics_destroy(struct metrics *);

#endif /* controller/conjflowd.h */
