/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowctl's observability commands (jansson side: never
 * libopenvswitch).  "stats" and "status" print what conjflowd and
 * conjflow-k8s stored in the store's meta table (see controller/observe.h,
 * controller/conjflowd-observe.c and conjflow/k8s.h: keys "stats/NODE",
 * "realization" and "k8s/watch/RESOURCE"); "trace" runs "ovs-appctl
 * ofproto/trace" on a node's bridge and explains the result in policy
 * terms next to the reference evaluator's verdict; "--wait" asks conjflowd
 * over its control socket ("sync/wait") when a change is enforced.
 */
#ifndef CONJFLOW_UTILITIES_CTL_OBSERVE_H
#define CONJFLOW_UTILITIES_CTL_OBSERVE_H 1

#include <stdint.h>

#include "conjflow/model.h"

struct cf_store;

/* Prints the latest per-rule statistics of every node of 'cluster' (or of
 * node 'node' if nonnull) from 'store' as a table.  Returns the exit
 * status (0, or 1 if 'node' is unknown). */
int ctl_stats(struct cf_store *store, const struct cf_cluster *cluster,
              const char *node);

/* Traces a new connection from pod 'from' to pod 'to' on 'port'/'proto'
 * through node 'node''s bridge (ofproto/trace over the vswitchd control
 * socket 'vswitchd_ctl', or the one found next to the node's unix: OVSDB
 * socket: "ovs-vswitchd.ctl", else "ovs-vswitchd.<pid>.ctl" from
 * "ovs-vswitchd.pid"), using the bindings conjflowd recorded in 'store',
 * and compares with the evaluator.  Prints both.  Returns 0 if they agree,
 * 1 if they disagree (a bug), 2 on error. */
int ctl_trace(struct cf_store *store, const struct cf_cluster *cluster,
              const char *node, const char *from, const char *to,
              uint16_t port, enum cf_proto proto, const char *vswitchd_ctl);

/* Prints a summary of 'store' (NULL: there is none yet): its sequence
 * number, how many policies conjflowd reports realized on every node they
 * apply to (meta "realization"), and the watch health conjflow-k8s keeps
 * (meta "k8s/watch/<resource>", see conjflow/k8s.h).  Returns the exit
 * status (0, or 1 if the store cannot be read). */
int ctl_status(struct cf_store *store);

/* The REALIZED cell of policy 'ns'/'name' from the "realization" meta
 * text 'realization' (may be NULL): "R/N", or "-" if unknown.  Returns a
 * malloc'd string. */
char *ctl_realized_cell(const char *realization, const char *ns,
                        const char *name);

/* The control socket of a conjflowd installed from the packages (its
 * "unixctl" in /etc/conjflow/conjflowd.conf). */
#define CTL_CONJFLOWD_CTL_DEFAULT "/run/conjflow/conjflowd.ctl"
/* The environment variable that overrides it. */
#define CTL_CONJFLOWD_CTL_ENV "CONJFLOWD_CTL"

/* Returns (malloc'd) conjflowd's control socket: 'given' if nonnull, else
 * $CONJFLOWD_CTL if set, else CTL_CONJFLOWD_CTL_DEFAULT if it exists, else
 * the one "ovs-appctl -t conjflowd" finds (conjflowd.PID.ctl in
 * $OVS_RUNDIR or /var/run/openvswitch, with PID from conjflowd.pid there),
 * else CTL_CONJFLOWD_CTL_DEFAULT. */
char *ctl_find_conjflowd_ctl(const char *given);

/* Asks the conjflowd listening on control socket 'ctl_path' ("sync/wait",
 * a JSON-RPC request as ovs-appctl sends it) to answer once every node is
 * in sync with the store as it is now, waiting at most 'timeout_ms'.
 * Returns NULL and stores conjflowd's answer ("seq=N synced=yes ...",
 * malloc'd) in '*answerp', or returns a malloc'd error. */
char *ctl_wait_enforced(const char *ctl_path, long long timeout_ms,
                        char **answerp);

#endif /* utilities/ctl-observe.h */
