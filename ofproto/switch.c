/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * One node's switch: the OVSDB session that configures the bridge and reads
 * its ports, and the OpenFlow session that keeps the bridge's flows equal
 * to the desired ones (see switch.h for the contract).
 *
 * Configuration state (OVSDB):
 *
 *     CFG_SYNCING --(IDL has the bridge)--> CFG_CHECK
 *     CFG_CHECK --(config right)--> CFG_DONE
 *     CFG_CHECK --(config wrong)--> CFG_TXN --(committed)--> CFG_APPLYING
 *     CFG_APPLYING --(cur_cfg >= our next_cfg)--> CFG_DONE
 *     any --(IDL change)--> CFG_CHECK (CFG_DONE stays if nothing changed)
 *
 * OpenFlow state (only advances while the configuration is CFG_DONE):
 *
 *     OFS_DISCONNECTED --(connected)--> OFS_DUMPING (flow stats request)
 *     OFS_DUMPING --(last reply)--> OFS_IDLE ('installed' is now known)
 *     OFS_IDLE --(desired != installed)--> OFS_BUNDLING (open, adds,
 *                                                      barrier)
 *     OFS_IDLE --(one flow_mod differs)--> OFS_COMMITTING (open, add,
 *                                          commit: no barrier needed)
 *     OFS_BUNDLING --(barrier reply, no error)--> OFS_COMMITTING (commit)
 *     OFS_BUNDLING --(an error)--> discard; OFS_DUMPING after a backoff
 *     OFS_COMMITTING --(commit reply)--> OFS_IDLE ('installed' updated,
 *                                     datapath purge requested: see
 *                                     "Datapath cache purge")
 *     OFS_COMMITTING --(error, or the reply after the flow_mod's error)-->
 *                    OFS_DUMPING after a backoff
 *     any --(connection lost, or new config applied)--> OFS_DISCONNECTED
 *
 * The desired flows are kept in libopenvswitch's form (struct cf_ofl); a
 * cache keyed by the compiler's struct cflow avoids converting unchanged
 * flows again.
 *
 * Memory.  A flow's actions can be thousands of conjunction() actions, and
 * the clause flows of one address set carry the same ones, on every node.
 * So no action list is stored twice: a struct cf_ofl keeps its actions
 * (and its match) as interned bytes (ofconv.h), which the desired flow, its
 * installed copy after a committed bundle or a dump, the bundle's copy and
 * the 'touched' copy all share; the cache keeps, instead of a copy of the
 * compiler's struct cflow, its key and cookie and its actions packed by
 * cf_cflow_pack_actions(), interned as well ('packed_actions_pool').
 * Equality stays exact: the cache compares key, cookie and packed bytes,
 * never only a hash.
 */
#include <config.h>

#include "ofproto/switch.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "byte-order.h"
#include "conjflow/cflow.h"
#include "conjflow/model.h"
#include "coverage.h"
#include "hash.h"
#include "jsonrpc.h"
#include "ofproto/ofconv.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/hmap.h"
#include "openvswitch/json.h"
#include "openvswitch/ofp-actions.h"
#include "openvswitch/ofp-bundle.h"
#include "openvswitch/ofp-errors.h"
#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-meter.h"
#include "openvswitch/ofp-msgs.h"
#include "openvswitch/ofp-packet.h"
#include "openvswitch/ofp-switch.h"
#include "openvswitch/ofp-util.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/poll-loop.h"
#include "openvswitch/rconn.h"
#include "openvswitch/vconn.h"
#include "openvswitch/vlog.h"
#include "ovsdb-idl.h"
#include "packets.h"
#include "simap.h"
#include "smap.h"
#include "stream.h"
#include "timeval.h"
#include "util.h"
#include "vswitch-idl.h"

VLOG_DEFINE_THIS_MODULE(cf_switch);

COVERAGE_DEFINE(cf_switch_bundle_commit);
COVERAGE_DEFINE(cf_switch_bundle_fail);
COVERAGE_DEFINE(cf_switch_commit_at_once);
COVERAGE_DEFINE(cf_switch_flow_mod);
COVERAGE_DEFINE(cf_switch_dump);
COVERAGE_DEFINE(cf_switch_config_txn);
COVERAGE_DEFINE(cf_switch_dp_purge);
COVERAGE_DEFINE(cf_switch_dp_purge_fail);

static int openflow_port = 6653;
static unsigned int audit_rate = CFLOW_AUDIT_RATE;    /* Meter, pkt/s. */
static unsigned int audit_burst = CFLOW_AUDIT_BURST;  /* Meter burst. */
static bool datapath_purge = true;  /* Purge after bundles (see below). */
struct purger;

/* How long vswitchd may take to answer "revalidator/purge", in ms. */
#define PURGE_TIMEOUT_MS 5000

/* One OVSDB session, shared by the switches whose nodes have the same OVSDB
 * remote (several bridges of one vswitchd, as in tests and benchmarks):
 * one replica of the database instead of one per bridge.  Each switch keeps
 * its own IDL seqno and its own transactions (a transaction is committed
 * as soon as it is built, so several can be in flight on one IDL). */
struct shared_idl {
    struct hmap_node hmap_node; /* In 'shared_idls', by remote. */
    char *remote;               /* OVSDB remote. */
    struct ovsdb_idl *idl;      /* The session. */
    int refcount;               /* Switches using it. */
};
static struct hmap shared_idls = HMAP_INITIALIZER(&shared_idls);

/* Returns the session to 'remote', creating it if needed (with the
 * columns conjflowd reads and writes). */
static struct shared_idl *
shared_idl_get(const char *remote)
{
    struct shared_idl *db;
    uint32_t hash = hash_string(remote, 0);
    HMAP_FOR_EACH_WITH_HASH (db, hmap_node, hash, &shared_idls) {
        if (!strcmp(db->remote, remote)) {
            db->refcount++;
            return db;
        }
    }
    db = xzalloc(sizeof *db);
    db->remote = xstrdup(remote);
    db->refcount = 1;
    struct ovsdb_idl *idl = ovsdb_idl_create(remote, &ovsrec_idl_class,
                                             false, true);
    ovsdb_idl_add_column(idl, &ovsrec_open_vswitch_col_next_cfg);
    ovsdb_idl_add_column(idl, &ovsrec_open_vswitch_col_cur_cfg);
    ovsdb_idl_add_column(idl, &ovsrec_open_vswitch_col_bridges);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_name);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_controller);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_fail_mode);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_protocols);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_flow_tables);
    ovsdb_idl_add_column(idl, &ovsrec_bridge_col_ports);
    ovsdb_idl_add_column(idl, &ovsrec_port_col_name);
    ovsdb_idl_add_column(idl, &ovsrec_port_col_interfaces);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_name);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_type);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_ofport);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_external_ids);
    ovsdb_idl_add_column(idl, &ovsrec_interface_col_mac_in_use);
    ovsdb_idl_add_column(idl, &ovsrec_controller_col_target);
    ovsdb_idl_add_column(idl, &ovsrec_flow_table_col_name);
    db->idl = idl;
    hmap_insert(&shared_idls, &db->hmap_node, hash);
    return db;
}

/* Releases a reference to 'db', destroying it with the last one. */
static void
shared_idl_put(struct shared_idl *db)
{
    if (db && !--db->refcount) {
        hmap_remove(&shared_idls, &db->hmap_node);
        ovsdb_idl_destroy(db->idl);
        free(db->remote);
        free(db);
    }
}

/* Backoff after a failed bundle or dump, in ms. */
#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000

enum cfg_state {
    CFG_SYNCING,                /* Waiting for the database contents. */
    CFG_CHECK,                  /* Must compare the bridge's config. */
    CFG_TXN,                    /* A transaction is in flight. */
    CFG_APPLYING,               /* Committed; waiting for vswitchd. */
    CFG_DONE,                   /* The bridge is configured. */
};

enum of_state {
    OFS_DISCONNECTED,           /* No usable OpenFlow connection yet. */
    OFS_DUMPING,                /* Flow stats request sent. */
    OFS_IDLE,                   /* 'installed' known, no request pending. */
    OFS_BUNDLING,               /* Bundle filled, barrier sent. */
    OFS_COMMITTING,             /* Commit sent. */
};

/* One change of a bundle. */
struct bundle_op {
    struct cf_ofl *ofl;         /* The flow (owned). */
    bool add;                   /* Add (or replace), else delete strict. */
};

/* A desired flow and its conversion, cached by the compiler's cflow.  It
 * keeps what cflow_equal() compares, compactly: the flow's key (table,
 * priority, match), cookie and packed actions (see "Memory" above). */
struct desired_entry {
    struct hmap_node hmap_node; /* In 'desired_cache', by cflow_key_hash()
                                 * of the flow (kept in 'hmap_node.hash'
                                 * while out of the map). */
    uint8_t table;              /* The flow's table. */
    uint16_t priority;          /* Its priority. */
    bool is_new;                /* Converted by the current
                                 * cf_switch_set_desired() call. */
    uint64_t cookie;            /* Its cookie. */
    struct cflow_match match;   /* Its match. */
    const struct cf_blob *actions;  /* Its actions, packed by
                                     * cf_cflow_pack_actions() (a reference
                                     * in 'packed_actions_pool'). */
    struct cf_ofl *ofl;         /* Its conversion (owned). */
};

/* The packed actions of every switch's desired flows. */
static struct cf_blob_pool packed_actions_pool
    = CF_BLOB_POOL_INITIALIZER(&packed_actions_pool);

struct cf_switch {
    char *name;                 /* Node name. */
    char *ovsdb;                /* OVSDB remote. */
    char *bridge;               /* Bridge name. */
    char *of_listen;            /* Controller target we configure. */
    char *of_connect;           /* Where we connect, or NULL if unknown. */

    /* OVSDB. */
    struct shared_idl *db;      /* Session to the node's ovsdb-server. */
    struct ovsdb_idl *idl;      /* db->idl. */
    unsigned int idl_seqno;     /* IDL seqno last examined. */
    enum cfg_state cfg_state;   /* See the state diagram above. */
    struct ovsdb_idl_txn *txn;  /* In-flight configuration transaction. */
    int64_t wanted_cfg;         /* next_cfg our transaction set. */
    bool bridge_found;          /* The bridge exists. */

    /* Ports. */
    bool ports_known;           /* 'ports' reflects the bridge. */
    struct cf_node_ports ports; /* Pod ports, uplinks, others. */
    unsigned int ports_seqno;   /* Incremented on every change. */

    /* OpenFlow. */
    struct rconn *rconn;        /* Connection to the bridge. */
    unsigned int conn_seqno;    /* rconn connection seqno last seen. */
    enum of_state of_state;     /* See the state diagram above. */
    ovs_be32 dump_xid;          /* xid of the flow stats request. */
    struct cf_ofl_table dumped; /* Flows received in the current dump. */
    struct cf_ofl_table installed;  /* What the switch has (our flows). */
    uint32_t bundle_id;         /* Id of the last bundle. */
    uint32_t xid_lo, xid_hi;    /* xids of the current bundle's messages. */
    ovs_be32 barrier_xid;       /* xid of the bundle's barrier. */
    ovs_be32 commit_xid;        /* xid of the commit request. */
    bool bundle_failed;         /* An error arrived for the bundle. */
    char *bundle_error;         /* The first such error, or NULL. */
    struct bundle_op *ops;      /* The bundle's changes. */
    size_t n_ops, allocated_ops;
    long long int retry_at;     /* Don't dump again before this (ms). */
    int retry_ms;               /* Current backoff. */
    long long int bundle_start; /* When the bundle was sent (us). */

    /* Desired flows. */
    bool desired_valid;         /* set_desired() has been called. */
    struct cf_ofl_table desired;    /* Desired flows, indexed by identity
                                     * (borrowed from 'desired_cache': never
                                     * freed through this table). */
    struct hmap desired_cache;  /* "struct desired_entry"s. */
    bool dirty;                 /* desired or installed changed. */
    bool full_diff;             /* The next diff must compare everything
                                 * (after a dump); else only 'touched'. */
    struct cf_ofl_table touched;    /* Identities of desired flows added,
                                     * changed or removed since the last
                                     * diff (owned copies). */

    /* Status. */
    char *last_error;           /* Last error, or NULL. */
    long long int last_error_time;  /* When (wall ms). */
    char *compile_error;        /* Error computing desired flows. */
    long long int last_sync;    /* When installed last became desired
                                 * (wall ms), or 0. */
    long long int last_bundle_us;   /* Duration of the last bundle. */
    uint64_t n_flow_mods;       /* flow_mods sent (in committed or failed
                                 * bundles). */
    uint64_t n_bundles;         /* Bundles committed. */
    uint64_t n_failed;          /* Bundles that failed. */
    bool bundle_may_revoke;     /* The bundle in flight removes or replaces
                                 * flows, or adds denying ones. */
    uint64_t n_revoking;        /* Committed bundles that did (see
                                 * cf_switch_n_revoking_bundles()). */

    /* Observability. */
    ovs_be32 meter_xid;         /* xid of the audit meter_mod (its "meter
                                 * exists" error is expected). */
    cf_switch_packet_in_func *pin_cb;   /* Packet-in callback, or NULL. */
    void *pin_aux;              /* Its 'aux'. */
    ovs_be32 stats_xid;         /* xid of the pending stats request. */
    bool stats_pending;         /* A stats request is in flight. */
    struct cf_flow_counter *stats;      /* Last complete dump (owned). */
    size_t n_stats, allocated_stats;
    struct cf_flow_counter *stats_new;  /* Dump being received (owned). */
    size_t n_stats_new, allocated_stats_new;
    unsigned int stats_seqno;   /* Completed dumps. */
    long long int stats_time;   /* When the last dump completed (wall ms). */

    /* Datapath cache purge (see "Datapath cache purge" below). */
    bool purge_needed;          /* A bundle was committed since the last
                                 * purge was asked for. */
    struct purger *purger;      /* The node's vswitchd's purges, or NULL
                                 * (not known yet). */
    bool purge_waiting;         /* Waiting for 'purger' to finish purge
                                 * number 'purge_ticket'. */
    uint64_t purge_ticket;      /* The first purge that started after the
                                 * last committed bundle. */
    bool purge_unavailable;     /* The OVSDB remote is not unix:, so
                                 * vswitchd's control socket is unknown:
                                 * no purges (said once in the log). */
    uint64_t n_purges;          /* Purges vswitchd acknowledged. */
    uint64_t n_purge_failed;    /* Purges that failed. */
    char *purge_error;          /* Why the last purge failed, or NULL. */
};

static void switch_set_error(struct cf_switch *, const char *format, ...)
    OVS_PRINTF_FORMAT(2, 3);
static void of_restart(struct cf_switch *);
static void purger_put(struct purger *);
static void of_setup_observe(struct cf_switch *);
static void of_handle_packet_in(struct cf_switch *,
                                const struct ofp_header *);
static void of_handle_stats_reply(struct cf_switch *, struct ofpbuf *);

void
cf_switch_set_openflow_port(int port)
{
    openflow_port = port;
}

/* Derives from the OVSDB remote 'ovsdb' the passive OpenFlow target to
 * configure on 'bridge' ('*listenp') and the target to connect to
 * ('*connectp').  Returns false if 'ovsdb' has a form we can't use. */
static bool
openflow_targets(const char *ovsdb, const char *bridge, char **listenp,
                 char **connectp)
{
    *listenp = *connectp = NULL;
    if (!strncmp(ovsdb, "unix:", 5)) {
        char *copy = xstrdup(ovsdb + 5);
        const char *dir = dirname(copy);
        *listenp = xasprintf("punix:%s/%s.conjflow", dir, bridge);
        *connectp = xasprintf("unix:%s/%s.conjflow", dir, bridge);
        free(copy);
        return true;
    }
    bool tcp = !strncmp(ovsdb, "tcp:", 4);
    bool ssl = !strncmp(ovsdb, "ssl:", 4);
    if (tcp || ssl) {
        const char *host = ovsdb + 4;
        const char *colon = strrchr(host, ':');
        int len = colon ? colon - host : strlen(host);
        *listenp = xasprintf("%s:%d:%.*s", tcp ? "ptcp" : "pssl",
                             openflow_port, len, host);
        *connectp = xasprintf("%s:%.*s:%d", tcp ? "tcp" : "ssl",
                              len, host, openflow_port);
        return true;
    }
    return false;
}

struct cf_switch *
cf_switch_create(const char *name, const char *ovsdb, const char *bridge)
{
    struct cf_switch *sw = xzalloc(sizeof *sw);
    sw->name = xstrdup(name);
    sw->ovsdb = xstrdup(ovsdb);
    sw->bridge = xstrdup(bridge);
    cf_node_ports_init(&sw->ports);
    cf_ofl_table_init(&sw->dumped);
    cf_ofl_table_init(&sw->installed);
    cf_ofl_table_init(&sw->desired);
    cf_ofl_table_init(&sw->touched);
    sw->full_diff = true;
    hmap_init(&sw->desired_cache);
    sw->retry_ms = RETRY_MIN_MS;

    sw->db = shared_idl_get(ovsdb);
    sw->idl = sw->db->idl;
    sw->idl_seqno = ovsdb_idl_get_seqno(sw->idl);
    sw->cfg_state = CFG_SYNCING;

    /* Connects once the bridge is configured (ovsdb_run()), so that the
     * listener exists. */
    sw->rconn = rconn_create(5, 8, 0, 1u << CF_OFP_VERSION);
    if (!openflow_targets(ovsdb, bridge, &sw->of_listen, &sw->of_connect)) {
        switch_set_error(sw, "OVSDB remote \"%s\": cannot derive an "
                         "OpenFlow target (use unix:, tcp: or ssl:)", ovsdb);
    }
    sw->of_state = OFS_DISCONNECTED;
    sw->conn_seqno = rconn_get_connection_seqno(sw->rconn);
    return sw;
}

/* Frees the operations of the current bundle. */
static void
clear_ops(struct cf_switch *sw)
{
    for (size_t i = 0; i < sw->n_ops; i++) {
        cf_ofl_destroy(sw->ops[i].ofl);
    }
    sw->n_ops = 0;
}

/* Frees desired flow cache entry 'e' and its conversion. */
static void
desired_entry_destroy(struct desired_entry *e)
{
    cf_blob_unref(e->actions);
    cf_ofl_destroy(e->ofl);
    free(e);
}

/* Frees the desired flow cache. */
static void
clear_desired_cache(struct hmap *cache)
{
    struct desired_entry *e;
    HMAP_FOR_EACH_POP (e, hmap_node, cache) {
        desired_entry_destroy(e);
    }
}

void
cf_switch_destroy(struct cf_switch *sw)
{
    if (!sw) {
        return;
    }
    if (sw->txn) {
        ovsdb_idl_txn_destroy(sw->txn);
    }
    shared_idl_put(sw->db);
    rconn_destroy(sw->rconn);
    purger_put(sw->purger);
    free(sw->purge_error);
    clear_ops(sw);
    free(sw->ops);
    cf_ofl_table_destroy(&sw->dumped);
    cf_ofl_table_destroy(&sw->installed);
    hmap_destroy(&sw->desired.flows);   /* Borrowed from the cache. */
    cf_ofl_table_destroy(&sw->touched);
    clear_desired_cache(&sw->desired_cache);
    hmap_destroy(&sw->desired_cache);
    cf_node_ports_destroy(&sw->ports);
    free(sw->last_error);
    free(sw->bundle_error);
    free(sw->compile_error);
    free(sw->stats);
    free(sw->stats_new);
    free(sw->of_listen);
    free(sw->of_connect);
    free(sw->name);
    free(sw->ovsdb);
    free(sw->bridge);
    free(sw);
}

const char *
cf_switch_get_name(const struct cf_switch *sw)
{
    return sw->name;
}

const char *
cf_switch_get_ovsdb(const struct cf_switch *sw)
{
    return sw->ovsdb;
}

const char *
cf_switch_get_bridge(const struct cf_switch *sw)
{
    return sw->bridge;
}

/* Records an error for the status and logs it (rate-limited). */
static void
switch_set_error(struct cf_switch *sw, const char *format, ...)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
    va_list args;
    va_start(args, format);
    char *msg = xvasprintf(format, args);
    va_end(args);
    VLOG_WARN_RL(&rl, "%s: %s", sw->name, msg);
    free(sw->last_error);
    sw->last_error = msg;
    sw->last_error_time = time_wall_msec();
}

/* ---- OVSDB: configuration and ports ------------------------------------ */

/* Returns the row of the switch's bridge, or NULL if there is none. */
static const struct ovsrec_bridge *
find_bridge(const struct cf_switch *sw)
{
    const struct ovsrec_bridge *br;
    OVSREC_BRIDGE_FOR_EACH (br, sw->idl) {
        if (!strcmp(br->name, sw->bridge)) {
            return br;
        }
    }
    return NULL;
}

static const char *const protocols[] = {
    "OpenFlow13", "OpenFlow14", "OpenFlow15",
};

/* True if 'br' is configured the way conjflow wants. */
static bool
bridge_config_ok(const struct cf_switch *sw, const struct ovsrec_bridge *br)
{
    if (br->n_controller != 1
        || strcmp(br->controller[0]->target, sw->of_listen)) {
        return false;
    }
    if (!br->fail_mode || strcmp(br->fail_mode, "secure")) {
        return false;
    }
    if (br->n_protocols != ARRAY_SIZE(protocols)) {
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(protocols); i++) {
        bool found = false;
        for (size_t j = 0; j < br->n_protocols; j++) {
            found = found || !strcmp(br->protocols[j], protocols[i]);
        }
        if (!found) {
            return false;
        }
    }
    for (int t = 0; t < CFLOW_N_TABLES; t++) {
        bool found = false;
        for (size_t j = 0; j < br->n_flow_tables; j++) {
            if (br->key_flow_tables[j] == t) {
                const struct ovsrec_flow_table *ft = br->value_flow_tables[j];
                found = ft->name && !strcmp(ft->name, cflow_table_name(t));
            }
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* Starts a transaction that configures 'br'. */
static void
bridge_configure(struct cf_switch *sw, const struct ovsrec_bridge *br)
{
    const struct ovsrec_open_vswitch *ovs
        = ovsrec_open_vswitch_first(sw->idl);
    struct ovsdb_idl_txn *txn = ovsdb_idl_txn_create(sw->idl);
    ovsdb_idl_txn_add_comment(txn, "conjflowd: configure bridge %s",
                              sw->bridge);

    struct ovsrec_controller *ctrl = ovsrec_controller_insert(txn);
    ovsrec_controller_set_target(ctrl, sw->of_listen);
    ovsrec_bridge_set_controller(br, &ctrl, 1);
    ovsrec_bridge_set_fail_mode(br, "secure");
    ovsrec_bridge_set_protocols(br, (const char **) protocols,
                                ARRAY_SIZE(protocols));

    /* Keep table entries for tables conjflow doesn't use. */
    int64_t keys[256];
    struct ovsrec_flow_table *values[256];
    size_t n = 0;
    for (size_t j = 0; j < br->n_flow_tables && n < 256; j++) {
        if (br->key_flow_tables[j] >= CFLOW_N_TABLES) {
            keys[n] = br->key_flow_tables[j];
            values[n++] = br->value_flow_tables[j];
        }
    }
    for (int t = 0; t < CFLOW_N_TABLES; t++) {
        struct ovsrec_flow_table *ft = ovsrec_flow_table_insert(txn);
        ovsrec_flow_table_set_name(ft, cflow_table_name(t));
        keys[n] = t;
        values[n++] = ft;
    }
    ovsrec_bridge_set_flow_tables(br, keys, values, n);

    if (ovs) {
        ovsdb_idl_txn_increment(txn, &ovs->header_,
                                &ovsrec_open_vswitch_col_next_cfg, false);
    }
    sw->txn = txn;
    sw->cfg_state = CFG_TXN;
    /* Sends it; ovsdb_run() collects the outcome. */
    ovsdb_idl_txn_commit(txn);
    COVERAGE_INC(cf_switch_config_txn);
    VLOG_INFO("%s: configuring bridge %s (controller %s, fail_mode=secure)",
              sw->name, sw->bridge, sw->of_listen);
}

/* An interface type that connects the bridge to other nodes. */
static bool
is_uplink_type(const char *type)
{
    static const char *const types[] = {
        "patch", "geneve", "vxlan", "gre", "stt", "erspan", "ip6gre",
        "ip6erspan", "gtpu", "bareudp", "srv6",
    };
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        if (!strcmp(type, types[i])) {
            return true;
        }
    }
    return false;
}

/* qsort() comparison of bindings by pod. */
static int
binding_compare(const void *a_, const void *b_)
{
    const struct cf_binding *a = a_;
    const struct cf_binding *b = b_;
    int c = strcmp(a->pod, b->pod);
    return c ? c : (a->ofport < b->ofport ? -1 : a->ofport > b->ofport);
}

/* qsort() comparison of port numbers. */
static int
u32_compare(const void *a_, const void *b_)
{
    const uint32_t *a = a_;
    const uint32_t *b = b_;
    return *a < *b ? -1 : *a > *b;
}

/* Appends 'ofport' to 'array'. */
static void
add_port(uint32_t **array, size_t *n, size_t *allocated, uint32_t ofport)
{
    if (*n >= *allocated) {
        *array = x2nrealloc(*array, allocated, sizeof **array);
    }
    (*array)[(*n)++] = ofport;
}

/* Reads the ports of 'br' into 'sw->ports'. */
static void
read_ports(struct cf_switch *sw, const struct ovsrec_bridge *br)
{
    struct cf_node_ports p;
    size_t alloc_b = 0, alloc_u = 0, alloc_x = 0;
    cf_node_ports_init(&p);

    for (size_t i = 0; i < br->n_ports; i++) {
        const struct ovsrec_port *port = br->ports[i];
        for (size_t j = 0; j < port->n_interfaces; j++) {
            const struct ovsrec_interface *iface = port->interfaces[j];
            if (!iface->n_ofport || iface->ofport[0] <= 0
                || iface->ofport[0] >= 0xff00) {
                continue;       /* Not attached yet, failed, or LOCAL. */
            }
            uint32_t ofport = iface->ofport[0];
            const char *iface_id = smap_get(&iface->external_ids,
                                            "iface-id");
            if (is_uplink_type(iface->type)
                || smap_get_bool(&iface->external_ids, "conjflow-uplink",
                                 false)) {
                add_port(&p.uplinks, &p.n_uplinks, &alloc_u, ofport);
            } else if (iface_id && strchr(iface_id, '/')
                       && iface_id[0] != '/'
                       && strchr(iface_id, '/')[1]) {
                if (p.n_bindings >= alloc_b) {
                    p.bindings = x2nrealloc(p.bindings, &alloc_b,
                                            sizeof *p.bindings);
                }
                struct cf_binding *b = &p.bindings[p.n_bindings++];
                memset(b, 0, sizeof *b);
                b->pod = xstrdup(iface_id);
                b->ofport = ofport;
                const char *mac = smap_get(&iface->external_ids,
                                           "attached-mac");
                if (!mac) {
                    mac = iface->mac_in_use;
                }
                struct eth_addr ea;
                if (mac && eth_addr_from_string(mac, &ea)) {
                    b->has_mac = true;
                    memcpy(b->mac, ea.ea, 6);
                }
            } else {
                add_port(&p.unknown, &p.n_unknown, &alloc_x, ofport);
            }
        }
    }
    if (p.n_bindings > 1) {
        qsort(p.bindings, p.n_bindings, sizeof *p.bindings,
              binding_compare);
    }
    /* Two ports claiming one pod: the lowest port number wins, the other
     * is treated as unknown (dropped). */
    size_t n = 0;
    for (size_t i = 0; i < p.n_bindings; i++) {
        if (n && !strcmp(p.bindings[n - 1].pod, p.bindings[i].pod)) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
            VLOG_WARN_RL(&rl, "%s: ports %"PRIu32" and %"PRIu32" both "
                         "claim pod %s; ignoring port %"PRIu32, sw->name,
                         p.bindings[n - 1].ofport, p.bindings[i].ofport,
                         p.bindings[i].pod, p.bindings[i].ofport);
            add_port(&p.unknown, &p.n_unknown, &alloc_x,
                     p.bindings[i].ofport);
            free(p.bindings[i].pod);
        } else {
            p.bindings[n++] = p.bindings[i];
        }
    }
    p.n_bindings = n;
    if (p.n_uplinks > 1) {
        qsort(p.uplinks, p.n_uplinks, sizeof *p.uplinks, u32_compare);
    }
    if (p.n_unknown > 1) {
        qsort(p.unknown, p.n_unknown, sizeof *p.unknown, u32_compare);
    }

    if (!sw->ports_known || !cf_node_ports_equal(&p, &sw->ports)) {
        cf_node_ports_destroy(&sw->ports);
        sw->ports = p;
        sw->ports_known = true;
        sw->ports_seqno++;
        VLOG_INFO("%s: bridge %s has %"PRIuSIZE" pod ports, %"PRIuSIZE
                  " uplinks, %"PRIuSIZE" other ports", sw->name, sw->bridge,
                  p.n_bindings, p.n_uplinks, p.n_unknown);
    } else {
        cf_node_ports_destroy(&p);
    }
}

/* Runs the OVSDB side. */
static void
ovsdb_run(struct cf_switch *sw)
{
    ovsdb_idl_run(sw->idl);

    if (sw->txn) {
        enum ovsdb_idl_txn_status status = ovsdb_idl_txn_commit(sw->txn);
        switch (status) {
        case TXN_INCOMPLETE:
            break;
        case TXN_SUCCESS:
        case TXN_UNCHANGED:
            sw->wanted_cfg = ovsdb_idl_txn_get_increment_new_value(sw->txn);
            ovsdb_idl_txn_destroy(sw->txn);
            sw->txn = NULL;
            sw->cfg_state = CFG_APPLYING;
            break;
        case TXN_TRY_AGAIN:
        case TXN_ABORTED:
        case TXN_NOT_LOCKED:
        case TXN_ERROR:
        case TXN_UNCOMMITTED:
        default:
            if (status != TXN_TRY_AGAIN) {
                switch_set_error(sw, "OVSDB transaction on bridge %s: %s",
                                 sw->bridge,
                                 ovsdb_idl_txn_status_to_string(status));
            }
            ovsdb_idl_txn_destroy(sw->txn);
            sw->txn = NULL;
            sw->cfg_state = CFG_CHECK;
            break;
        }
    }

    if (!ovsdb_idl_has_ever_connected(sw->idl)) {
        return;
    }
    unsigned int seqno = ovsdb_idl_get_seqno(sw->idl);
    bool changed = seqno != sw->idl_seqno;
    sw->idl_seqno = seqno;
    if (sw->cfg_state == CFG_SYNCING) {
        changed = true;
        sw->cfg_state = CFG_CHECK;
    }
    if (!changed && sw->cfg_state != CFG_CHECK) {
        return;
    }

    const struct ovsrec_bridge *br = find_bridge(sw);
    if (!br) {
        if (sw->bridge_found || !sw->last_error) {
            switch_set_error(sw, "bridge %s not found in %s", sw->bridge,
                             sw->ovsdb);
        }
        sw->bridge_found = false;
        if (sw->cfg_state != CFG_TXN) {
            sw->cfg_state = CFG_CHECK;
        }
        return;
    }
    sw->bridge_found = true;
    read_ports(sw, br);

    if (sw->cfg_state == CFG_TXN) {
        return;
    }
    if (!sw->of_listen) {
        return;
    }
    if (!bridge_config_ok(sw, br)) {
        if (sw->cfg_state == CFG_DONE) {
            VLOG_INFO("%s: bridge %s configuration changed behind our back",
                      sw->name, sw->bridge);
        }
        bridge_configure(sw, br);
        /* vswitchd may flush the flows when it applies this (fail_mode
         * change): read them again afterwards. */
        of_restart(sw);
        return;
    }
    if (sw->cfg_state == CFG_APPLYING) {
        const struct ovsrec_open_vswitch *ovs
            = ovsrec_open_vswitch_first(sw->idl);
        if (ovs && ovs->cur_cfg < sw->wanted_cfg) {
            return;             /* vswitchd has not applied it yet. */
        }
    }
    if (sw->cfg_state != CFG_DONE) {
        VLOG_INFO("%s: bridge %s configured", sw->name, sw->bridge);
        if (!rconn_is_connected(sw->rconn)) {
            /* The listener exists now (first time, or again after a
             * reconfiguration): connect without waiting out a backoff. */
            rconn_connect(sw->rconn, sw->of_connect, sw->name);
        }
    }
    sw->cfg_state = CFG_DONE;
}

/* ---- OpenFlow ----------------------------------------------------------- */

/* Sends 'msg' on the OpenFlow connection. */
static void
of_send(struct cf_switch *sw, struct ofpbuf *msg)
{
    rconn_send(sw->rconn, msg, NULL);
}

/* Forgets the in-flight state; dumps again when possible. */
static void
of_restart(struct cf_switch *sw)
{
    sw->of_state = OFS_DISCONNECTED;
    clear_ops(sw);
    cf_ofl_table_clear(&sw->dumped);
    sw->dirty = true;
    sw->full_diff = true;
}

void
cf_switch_reconcile(struct cf_switch *sw)
{
    if (sw->of_state == OFS_IDLE) {
        sw->of_state = OFS_DISCONNECTED;
    }
    sw->dirty = true;
}

/* Schedules a retry after a failure. */
static void
of_backoff(struct cf_switch *sw)
{
    of_restart(sw);
    sw->retry_at = time_msec() + sw->retry_ms;
    sw->retry_ms = MIN(sw->retry_ms * 2, RETRY_MAX_MS);
}

/* Sends a flow stats request for conjflow's flows. */
static void
of_start_dump(struct cf_switch *sw)
{
    struct ofputil_flow_stats_request fsr;
    memset(&fsr, 0, sizeof fsr);
    fsr.aggregate = false;
    match_init_catchall(&fsr.match);
    fsr.cookie = htonll(CFLOW_COOKIE_TAG << 56);
    fsr.cookie_mask = htonll(CFLOW_COOKIE_TAG_MASK);
    fsr.out_port = OFPP_ANY;
    fsr.out_group = OFPG_ANY;
    fsr.table_id = 0xff;
    struct ofpbuf *msg = ofputil_encode_flow_stats_request(&fsr,
                                                           CF_OFP_PROTOCOL);
    sw->dump_xid = ((struct ofp_header *) msg->data)->xid;
    cf_ofl_table_clear(&sw->dumped);
    of_send(sw, msg);
    sw->of_state = OFS_DUMPING;
    COVERAGE_INC(cf_switch_dump);
}

/* Processes one flow stats reply. */
static void
of_handle_dump_reply(struct cf_switch *sw, struct ofpbuf *msg)
{
    const struct ofp_header *oh = msg->data;
    bool more = ofpmp_more(oh);
    struct ofpbuf b = ofpbuf_const_initializer(msg->data, msg->size);
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    for (;;) {
        struct ofputil_flow_stats fs;
        int retval = ofputil_decode_flow_stats_reply(&fs, &b, false,
                                                     &ofpacts);
        if (retval) {
            if (retval != EOF) {
                switch_set_error(sw, "bad flow stats reply: %s",
                                 ofperr_to_string(retval));
                ofpbuf_uninit(&ofpacts);
                of_backoff(sw);
                return;
            }
            break;
        }
        /* Learned flows (idle timeout set, or kind LEARNED) are the
         * datapath's business, not part of the diff. */
        uint64_t cookie = ntohll(fs.cookie);
        if (fs.idle_timeout || fs.hard_timeout
            || (cookie & 0xffff) == CFLOW_KIND_LEARNED) {
            continue;
        }
        cf_ofl_table_replace(&sw->dumped, cf_ofl_from_stats(&fs));
    }
    ofpbuf_uninit(&ofpacts);
    if (!more) {
        cf_ofl_table_swap(&sw->installed, &sw->dumped);
        sw->of_state = OFS_IDLE;
        sw->dirty = true;
        sw->full_diff = true;
        VLOG_INFO("%s: %"PRIuSIZE" conjflow flows installed on %s",
                  sw->name, cf_ofl_table_count(&sw->installed), sw->bridge);
    }
}

/* Appends an operation to the current bundle. */
static void
add_op(struct cf_switch *sw, const struct cf_ofl *ofl, bool add)
{
    if (sw->n_ops >= sw->allocated_ops) {
        sw->ops = x2nrealloc(sw->ops, &sw->allocated_ops, sizeof *sw->ops);
    }
    sw->ops[sw->n_ops].ofl = cf_ofl_clone(ofl);
    sw->ops[sw->n_ops].add = add;
    sw->n_ops++;
}

/* Adds to 'sw->ops' what makes the installed flow with the identity of
 * 'key' equal to the desired one.  Returns true if that removes or
 * replaces an installed flow. */
static bool
diff_one(struct cf_switch *sw, const struct cf_ofl *key)
{
    const struct cf_ofl *d = cf_ofl_table_find(&sw->desired, key);
    const struct cf_ofl *i = cf_ofl_table_find(&sw->installed, key);
    if (d) {
        if (!i || !cf_ofl_equal(i, d)) {
            add_op(sw, d, true);
            return i != NULL;
        }
    } else if (i) {
        add_op(sw, i, false);
        return true;
    }
    return false;
}

/* True if some flow that 'sw->ops' adds is in a table where an added flow
 * can deny what was allowed before: the isolation tables (a pod becomes
 * isolated), and ct_state and commit (the pipeline itself).  Added flows
 * elsewhere only allow more (rule tables: allow and clause flows) or do
 * not judge at all. */
static bool
ops_add_deny(const struct cf_switch *sw)
{
    for (size_t i = 0; i < sw->n_ops; i++) {
        const struct bundle_op *op = &sw->ops[i];
        if (op->add) {
            switch (op->ofl->table_id) {
            case CFLOW_T_CT_STATE:
            case CFLOW_T_EGRESS_ISOLATION:
            case CFLOW_T_INGRESS_ISOLATION:
            case CFLOW_T_COMMIT:
                return true;
            default:
                break;
            }
        }
    }
    return false;
}

/* Computes the difference between desired and installed into 'sw->ops':
 * everything after a dump, else only the flows touched since the last
 * diff.  Sets '*wipe_learnedp' if some installed flow goes or changes.
 * Returns the number of changes. */
static size_t
compute_diff(struct cf_switch *sw, bool *wipe_learnedp)
{
    const struct cf_ofl *ofl;
    size_t n_removals = 0;

    clear_ops(sw);
    if (sw->full_diff) {
        HMAP_FOR_EACH (ofl, hmap_node, &sw->installed.flows) {
            if (!cf_ofl_table_find(&sw->desired, ofl)) {
                add_op(sw, ofl, false);
                n_removals++;
            }
        }
        HMAP_FOR_EACH (ofl, hmap_node, &sw->desired.flows) {
            n_removals += diff_one(sw, ofl);
        }
        sw->full_diff = false;
    } else {
        HMAP_FOR_EACH (ofl, hmap_node, &sw->touched.flows) {
            n_removals += diff_one(sw, ofl);
        }
    }
    cf_ofl_table_clear(&sw->touched);
    /* A change that removes or replaces flows may revoke an allow: learned
     * SCTP replies go too (they are learned again from allowed packets). */
    *wipe_learnedp = n_removals > 0;
    sw->bundle_may_revoke = n_removals > 0 || ops_add_deny(sw);
    return sw->n_ops;
}

/* Wraps 'msg' in a bundle add message and sends it. */
static void
send_bundle_add(struct cf_switch *sw, struct ofpbuf *msg, uint16_t flags)
{
    ofpmsg_update_length(msg);
    struct ofputil_bundle_add_msg bam = {
        .bundle_id = sw->bundle_id,
        .flags = flags,
        .msg = msg->data,
    };
    struct ofpbuf *add = ofputil_encode_bundle_add(CF_OFP_VERSION, &bam);
    uint32_t xid = ntohl(((struct ofp_header *) add->data)->xid);
    if (sw->xid_lo == 0 && sw->xid_hi == 0) {
        sw->xid_lo = xid;
    }
    sw->xid_lo = MIN(sw->xid_lo, xid);
    sw->xid_hi = MAX(sw->xid_hi, xid);
    ofpbuf_delete(msg);
    of_send(sw, add);
}

static ovs_be32 send_bundle_ctrl(struct cf_switch *, uint16_t type);

/* If desired and installed differ, sends the difference as one bundle. */
static void
of_maybe_send_bundle(struct cf_switch *sw)
{
    if (!sw->dirty || !sw->desired_valid) {
        return;
    }
    sw->dirty = false;
    bool wipe_learned;
    if (!compute_diff(sw, &wipe_learned)) {
        if (!sw->last_sync) {
            sw->last_sync = time_wall_msec();
        }
        sw->retry_ms = RETRY_MIN_MS;
        return;
    }

    uint16_t flags = OFPBF_ATOMIC | OFPBF_ORDERED;
    struct ofputil_bundle_ctrl_msg bc = {
        .bundle_id = ++sw->bundle_id,
        .type = OFPBCT_OPEN_REQUEST,
        .flags = flags,
    };
    sw->xid_lo = sw->xid_hi = 0;
    sw->bundle_failed = false;
    free(sw->bundle_error);
    sw->bundle_error = NULL;
    sw->bundle_start = time_usec();
    struct ofpbuf *open = ofputil_encode_bundle_ctrl_request(CF_OFP_VERSION,
                                                             &bc);
    uint32_t open_xid = ntohl(((struct ofp_header *) open->data)->xid);
    of_send(sw, open);
    sw->xid_lo = sw->xid_hi = open_xid;

    if (wipe_learned) {
        struct ofputil_flow_mod fm;
        memset(&fm, 0, sizeof fm);
        struct match match;
        match_init_catchall(&match);
        minimatch_init(&fm.match, &match);
        fm.priority = 0;
        /* Only the learned flows (by their cookie's kind): the desired
         * flows of the table stay. */
        fm.cookie = htonll(CFLOW_COOKIE_TAG << 56 | CFLOW_KIND_LEARNED);
        fm.cookie_mask = htonll(CFLOW_LEARNED_COOKIE_MASK);
        fm.new_cookie = OVS_BE64_MAX;
        fm.table_id = CFLOW_T_SCTP_REPLY;
        fm.command = OFPFC_DELETE;
        fm.buffer_id = UINT32_MAX;
        fm.out_port = OFPP_ANY;
        fm.out_group = OFPG_ANY;
        send_bundle_add(sw, ofputil_encode_flow_mod(&fm, CF_OFP_PROTOCOL),
                        flags);
        minimatch_destroy(&fm.match);
    }
    /* Deletions first, then additions. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sw->n_ops; i++) {
            const struct bundle_op *op = &sw->ops[i];
            if (op->add == (pass == 1)) {
                if (VLOG_IS_DBG_ENABLED()) {
                    struct ds d = DS_EMPTY_INITIALIZER;
                    cf_ofl_format(op->ofl, &d);
                    VLOG_DBG("%s: bundle %"PRIu32": %s %s", sw->name,
                             sw->bundle_id, op->add ? "add" : "delete",
                             ds_cstr(&d));
                    ds_destroy(&d);
                }
                send_bundle_add(sw, cf_ofl_encode(op->ofl, op->add
                                                  ? OFPFC_ADD
                                                  : OFPFC_DELETE_STRICT),
                                flags);
            }
        }
    }
    if (sw->n_ops + wipe_learned == 1) {
        /* One flow_mod: the bundle cannot be applied in part, so the
         * commit need not wait for the barrier that tells whether every
         * flow_mod was accepted.  If vswitchd rejects the flow_mod, its
         * error comes before the commit's reply (one connection, in
         * order), the bundle it commits is empty, and the reply is taken
         * for the failure it is (see OFPTYPE_BUNDLE_CONTROL below).  This
         * saves a wakeup of vswitchd, the most common change's. */
        sw->commit_xid = send_bundle_ctrl(sw, OFPBCT_COMMIT_REQUEST);
        sw->of_state = OFS_COMMITTING;
        COVERAGE_INC(cf_switch_commit_at_once);
        VLOG_DBG("%s: bundle %"PRIu32": one flow_mod, committed without a "
                 "barrier", sw->name, sw->bundle_id);
    } else {
        struct ofpbuf *barrier
            = ofputil_encode_barrier_request(CF_OFP_VERSION);
        sw->barrier_xid = ((struct ofp_header *) barrier->data)->xid;
        of_send(sw, barrier);
        sw->of_state = OFS_BUNDLING;
    }
    sw->n_flow_mods += sw->n_ops;
    COVERAGE_ADD(cf_switch_flow_mod, sw->n_ops);
    VLOG_DBG("%s: bundle %"PRIu32" with %"PRIuSIZE" flow_mods sent",
             sw->name, sw->bundle_id, sw->n_ops);
}

/* Sends a bundle control request of 'type' for the current bundle and
 * returns its xid. */
static ovs_be32
send_bundle_ctrl(struct cf_switch *sw, uint16_t type)
{
    struct ofputil_bundle_ctrl_msg bc = {
        .bundle_id = sw->bundle_id,
        .type = type,
        .flags = OFPBF_ATOMIC | OFPBF_ORDERED,
    };
    struct ofpbuf *msg = ofputil_encode_bundle_ctrl_request(CF_OFP_VERSION,
                                                            &bc);
    ovs_be32 xid = ((struct ofp_header *) msg->data)->xid;
    of_send(sw, msg);
    return xid;
}

/* The bundle failed: nothing of it is installed. */
static void
bundle_failed(struct cf_switch *sw, const char *why)
{
    switch_set_error(sw, "bundle %"PRIu32" (%"PRIuSIZE" flow_mods) failed, "
                     "nothing changed, will retry: %s", sw->bundle_id,
                     sw->n_ops, why);
    sw->n_failed++;
    COVERAGE_INC(cf_switch_bundle_fail);
    of_backoff(sw);
}

/* The bundle was committed: the switch now has the desired flows. */
static void
bundle_committed(struct cf_switch *sw)
{
    for (size_t i = 0; i < sw->n_ops; i++) {
        struct bundle_op *op = &sw->ops[i];
        if (op->add) {
            cf_ofl_table_replace(&sw->installed, op->ofl);
        } else {
            cf_ofl_table_delete(&sw->installed, op->ofl);
            cf_ofl_destroy(op->ofl);
        }
        op->ofl = NULL;
    }
    sw->n_ops = 0;
    sw->n_bundles++;
    if (sw->bundle_may_revoke) {
        sw->n_revoking++;
    }
    sw->last_sync = time_wall_msec();
    sw->last_bundle_us = time_usec() - sw->bundle_start;
    sw->retry_ms = RETRY_MIN_MS;
    sw->of_state = OFS_IDLE;
    sw->purge_needed = datapath_purge;
    COVERAGE_INC(cf_switch_bundle_commit);
    VLOG_DBG("%s: bundle %"PRIu32" committed in %.1f ms", sw->name,
             sw->bundle_id, sw->last_bundle_us / 1000.0);
}

/* Processes one message from the switch. */
static void
of_handle_msg(struct cf_switch *sw, struct ofpbuf *msg)
{
    const struct ofp_header *oh = msg->data;
    enum ofptype type;
    if (ofptype_decode(&type, oh)) {
        return;
    }

    switch (type) {
    case OFPTYPE_ECHO_REQUEST:
        of_send(sw, ofputil_encode_echo_reply(oh));
        break;

    case OFPTYPE_FLOW_STATS_REPLY:
        if (sw->of_state == OFS_DUMPING && oh->xid == sw->dump_xid) {
            of_handle_dump_reply(sw, msg);
        } else if (sw->stats_pending && oh->xid == sw->stats_xid) {
            of_handle_stats_reply(sw, msg);
        }
        break;

    case OFPTYPE_PACKET_IN:     /* Also NXT_PACKET_IN2. */
        of_handle_packet_in(sw, oh);
        break;

    case OFPTYPE_ERROR: {
        enum ofperr error = ofperr_decode_msg(oh, NULL);
        uint32_t xid = ntohl(oh->xid);
        if (oh->xid == sw->meter_xid) {
            if (error != OFPERR_OFPMMFC_METER_EXISTS) {
                switch_set_error(sw, "adding the audit meter failed: %s",
                                 ofperr_to_string(error));
            }
        } else if (sw->stats_pending && oh->xid == sw->stats_xid) {
            sw->stats_pending = false;
            switch_set_error(sw, "flow statistics request failed: %s",
                             ofperr_to_string(error));
        } else if (sw->of_state == OFS_DUMPING && oh->xid == sw->dump_xid) {
            switch_set_error(sw, "flow dump failed: %s",
                             ofperr_to_string(error));
            of_backoff(sw);
        } else if ((sw->of_state == OFS_BUNDLING
                    || sw->of_state == OFS_COMMITTING)
                   && xid >= sw->xid_lo && xid <= sw->xid_hi) {
            /* One of the bundle's flow_mods: rejected when added
             * (BUNDLING) or when the bundle was applied (COMMITTING). */
            if (!sw->bundle_error) {
                sw->bundle_error = xstrdup(ofperr_to_string(error));
            }
            sw->bundle_failed = true;
        } else if (sw->of_state == OFS_COMMITTING
                   && oh->xid == sw->commit_xid) {
            char *why = xasprintf("%s%s%s%s", ofperr_to_string(error),
                                  sw->bundle_error ? " (" : "",
                                  sw->bundle_error ? sw->bundle_error : "",
                                  sw->bundle_error ? ")" : "");
            bundle_failed(sw, why);
            free(why);
        } else {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
            VLOG_WARN_RL(&rl, "%s: OpenFlow error: %s", sw->name,
                         ofperr_to_string(error));
        }
        break;
    }

    case OFPTYPE_BARRIER_REPLY:
        if (sw->of_state == OFS_BUNDLING && oh->xid == sw->barrier_xid) {
            if (sw->bundle_failed) {
                send_bundle_ctrl(sw, OFPBCT_DISCARD_REQUEST);
                bundle_failed(sw, sw->bundle_error ? sw->bundle_error
                              : "a flow_mod was rejected");
            } else {
                sw->commit_xid = send_bundle_ctrl(sw, OFPBCT_COMMIT_REQUEST);
                sw->of_state = OFS_COMMITTING;
            }
        }
        break;

    case OFPTYPE_BUNDLE_CONTROL:
        if (sw->of_state == OFS_COMMITTING && oh->xid == sw->commit_xid) {
            struct ofputil_bundle_ctrl_msg bc;
            if (!ofputil_decode_bundle_ctrl(oh, &bc)
                && bc.type == OFPBCT_COMMIT_REPLY
                && bc.bundle_id == sw->bundle_id) {
                if (sw->bundle_failed) {
                    /* Its only flow_mod was rejected: an empty bundle was
                     * committed (see of_maybe_send_bundle()). */
                    bundle_failed(sw, sw->bundle_error ? sw->bundle_error
                                  : "a flow_mod was rejected");
                } else {
                    bundle_committed(sw);
                }
            } else {
                bundle_failed(sw, "unexpected bundle control reply");
            }
        }
        break;

    default:
        break;
    }
}

/* On a new connection: adds the audit meter, and asks for packet-ins (see
 * switch.h).  Sent before anything else, so the meter exists before any
 * flow that uses it. */
static void
of_setup_observe(struct cf_switch *sw)
{
    struct ofputil_meter_band band = {
        .type = OFPMBT13_DROP,
        .rate = audit_rate,
        .burst_size = audit_burst,
    };
    struct ofputil_meter_mod mm = {
        .command = OFPMC13_ADD,
        .meter = {
            .meter_id = CFLOW_AUDIT_METER_ID,
            .flags = OFPMF13_PKTPS | OFPMF13_BURST,
            .n_bands = 1,
            .bands = &band,
        },
    };
    struct ofpbuf *msg = ofputil_encode_meter_mod(CF_OFP_VERSION, &mm);
    sw->meter_xid = ((struct ofp_header *) msg->data)->xid;
    of_send(sw, msg);

    of_send(sw, ofputil_encode_set_packet_in_format(
                CF_OFP_VERSION, OFPUTIL_PACKET_IN_NXT2));
    struct ofputil_switch_config config = {
        .frag = OFPUTIL_FRAG_NORMAL,
        .invalid_ttl_to_controller = -1,
        .miss_send_len = UINT16_MAX,
    };
    of_send(sw, ofputil_encode_set_config(&config, CF_OFP_VERSION));
    sw->stats_pending = false;
}

/* Processes a packet-in: hands it to the callback if it comes from one of
 * conjflow's flows. */
static void
of_handle_packet_in(struct cf_switch *sw, const struct ofp_header *oh)
{
    struct ofputil_packet_in pin;
    size_t total_len;
    uint32_t buffer_id;
    enum ofperr error = ofputil_decode_packet_in(oh, true, NULL, NULL, &pin,
                                                 &total_len, &buffer_id,
                                                 NULL);
    if (error) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
        VLOG_WARN_RL(&rl, "%s: bad packet-in: %s", sw->name,
                     ofperr_to_string(error));
        return;
    }
    if ((ntohll(pin.cookie) & CFLOW_COOKIE_TAG_MASK)
        == CFLOW_COOKIE_TAG << 56 && sw->pin_cb) {
        sw->pin_cb(sw, &pin, sw->pin_aux);
    }
}

/* Processes one flow stats reply to a statistics request. */
static void
of_handle_stats_reply(struct cf_switch *sw, struct ofpbuf *msg)
{
    const struct ofp_header *oh = msg->data;
    struct ofpbuf b = ofpbuf_const_initializer(msg->data, msg->size);
    uint64_t stub[1024 / 8];
    struct ofpbuf ofpacts = OFPBUF_STUB_INITIALIZER(stub);
    for (;;) {
        struct ofputil_flow_stats fs;
        if (ofputil_decode_flow_stats_reply(&fs, &b, false, &ofpacts)) {
            break;
        }
        if (sw->n_stats_new >= sw->allocated_stats_new) {
            sw->stats_new = x2nrealloc(sw->stats_new,
                                       &sw->allocated_stats_new,
                                       sizeof *sw->stats_new);
        }
        struct cf_flow_counter *c = &sw->stats_new[sw->n_stats_new++];
        c->cookie = ntohll(fs.cookie);
        c->table = fs.table_id;
        c->priority = fs.priority;
        c->nw_src = (fs.match.wc.masks.nw_src == OVS_BE32_MAX
                     ? ntohl(fs.match.flow.nw_src) : 0);
        c->nw_dst = (fs.match.wc.masks.nw_dst == OVS_BE32_MAX
                     ? ntohl(fs.match.flow.nw_dst) : 0);
        c->n_packets = fs.packet_count;
        c->n_bytes = fs.byte_count;
    }
    ofpbuf_uninit(&ofpacts);
    if (!ofpmp_more(oh)) {
        /* Swap the buffers, each with its own capacity. */
        struct cf_flow_counter *tmp = sw->stats;
        size_t tmp_allocated = sw->allocated_stats;
        sw->stats = sw->stats_new;
        sw->n_stats = sw->n_stats_new;
        sw->allocated_stats = sw->allocated_stats_new;
        sw->stats_new = tmp;
        sw->allocated_stats_new = tmp_allocated;
        sw->n_stats_new = 0;
        sw->stats_pending = false;
        sw->stats_seqno++;
        sw->stats_time = time_wall_msec();
    }
}

/* Runs the OpenFlow side. */
static void
of_run(struct cf_switch *sw)
{
    rconn_run(sw->rconn);

    unsigned int seqno = rconn_get_connection_seqno(sw->rconn);
    if (seqno != sw->conn_seqno) {
        sw->conn_seqno = seqno;
        of_restart(sw);
        if (rconn_is_connected(sw->rconn)) {
            VLOG_INFO("%s: OpenFlow connected to %s", sw->name,
                      sw->of_connect);
            of_setup_observe(sw);
        }
    }
    if (!rconn_is_connected(sw->rconn)) {
        if (sw->of_state != OFS_DISCONNECTED) {
            of_restart(sw);
        }
        return;
    }

    for (int i = 0; i < 500; i++) {
        struct ofpbuf *msg = rconn_recv(sw->rconn);
        if (!msg) {
            break;
        }
        of_handle_msg(sw, msg);
        ofpbuf_delete(msg);
    }

    if (sw->of_state == OFS_DISCONNECTED && sw->cfg_state == CFG_DONE
        && time_msec() >= sw->retry_at) {
        of_start_dump(sw);
    }
    if (sw->of_state == OFS_IDLE && sw->cfg_state == CFG_DONE) {
        of_maybe_send_bundle(sw);
    }
}

/* ---- Datapath cache purge ----------------------------------------------
 *
 * Open vSwitch 3.1's userspace datapath can keep forwarding with a stale
 * megaflow after the OpenFlow tables changed, revalidation notwithstanding:
 * when two megaflows of different masks overlap (an old one, and one
 * installed since under the new tables whose wider mask covers the old
 * one's key), the revalidator's "modify the actions of this flow" request
 * reaches dpif-netdev's flow_put_on_pmd(), which looks the flow up by its
 * key, not by its ufid, and so may modify the other megaflow.  The
 * revalidator then believes the old megaflow has the new actions and never
 * looks at it again: it keeps, e.g., committing and forwarding connections
 * that a policy forbids now.  Only deleting the datapath flows helps.
 *
 * So after every committed bundle (a bundle may forbid something by
 * removing or changing flows as well as by adding a drop), the switch asks
 * the node's vswitchd, over its unixctl control socket (found next to the
 * unix: OVSDB socket), to "revalidator/purge": every datapath flow is
 * deleted and the next packets are translated from the new tables.  The
 * request is asynchronous (JSON-RPC on a non-blocking stream); the switch
 * counts as in sync only once vswitchd acknowledged it (or it failed: then
 * the status says why). */

/* Enables or disables the purge after committed bundles (default on). */
void
cf_switch_set_datapath_purge(bool enable)
{
    datapath_purge = enable;
}

bool
cf_switch_get_datapath_purge(void)
{
    return datapath_purge;
}

/* Finds the control socket of the ovs-vswitchd that serves OVSDB remote
 * 'ovsdb' ("unix:DIR/db.sock": DIR/ovs-vswitchd.ctl, else
 * DIR/ovs-vswitchd.PID.ctl with the PID from DIR/ovs-vswitchd.pid, as
 * vswitchd names it).  Returns NULL and sets '*pathp' (malloc'd), or
 * returns a malloc'd error. */
static char *
find_vswitchd_ctl(const char *ovsdb, char **pathp)
{
    *pathp = NULL;
    if (strncmp(ovsdb, "unix:", 5)) {
        return xasprintf("OVSDB remote %s is not unix:, so vswitchd's "
                         "control socket is unknown", ovsdb);
    }
    char *copy = xstrdup(ovsdb + 5);
    char *dir = xstrdup(dirname(copy));
    free(copy);

    char *path = xasprintf("%s/ovs-vswitchd.ctl", dir);
    struct stat st;
    if (!stat(path, &st)) {
        free(dir);
        *pathp = path;
        return NULL;
    }
    free(path);

    char *pidfile = xasprintf("%s/ovs-vswitchd.pid", dir);
    FILE *f = fopen(pidfile, "r");
    long int pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) {
            pid = 0;
        }
        fclose(f);
    }
    char *error = NULL;
    if (pid > 0) {
        *pathp = xasprintf("%s/ovs-vswitchd.%ld.ctl", dir, pid);
    } else {
        error = xasprintf("no %s/ovs-vswitchd.ctl and no pid in %s", dir,
                          pidfile);
    }
    free(pidfile);
    free(dir);
    return error;
}

/* The purges of one vswitchd (one control socket), shared by the switches
 * of every bridge it runs: one purge deletes the flows of its whole
 * datapath, so when many nodes' bundles commit at once (100 bridges of one
 * vswitchd in the benchmarks), at most two purges run instead of one per
 * bridge.  A switch whose bundle committed waits for the first purge that
 * starts after that: purges are numbered, one at a time is in flight. */
struct purger {
    struct hmap_node hmap_node; /* In 'purgers', by path. */
    char *path;                 /* vswitchd's control socket. */
    int refcount;               /* Switches using it. */
    struct jsonrpc *rpc;        /* Session while a purge is in flight, or
                                 * NULL. */
    struct json *id;            /* Id of the request in flight (owned). */
    long long int deadline;     /* Give up on the reply then (ms). */
    bool pending;               /* Some switch waits for a purge that has not
                                 * started yet. */
    uint64_t n_started;         /* Number of the last purge started. */
    uint64_t n_done;            /* Number of the last purge finished. */
    char *error;                /* Why that one failed, or NULL. */
};
static struct hmap purgers = HMAP_INITIALIZER(&purgers);

/* Returns the purger of control socket 'path', creating it if needed. */
static struct purger *
purger_get(const char *path)
{
    struct purger *p;
    uint32_t hash = hash_string(path, 0);
    HMAP_FOR_EACH_WITH_HASH (p, hmap_node, hash, &purgers) {
        if (!strcmp(p->path, path)) {
            p->refcount++;
            return p;
        }
    }
    p = xzalloc(sizeof *p);
    p->path = xstrdup(path);
    p->refcount = 1;
    hmap_insert(&purgers, &p->hmap_node, hash);
    return p;
}

/* Releases a reference to 'p', destroying it with the last one.  Accepts
 * NULL. */
static void
purger_put(struct purger *p)
{
    if (p && !--p->refcount) {
        hmap_remove(&purgers, &p->hmap_node);
        jsonrpc_close(p->rpc);
        json_destroy(p->id);
        free(p->error);
        free(p->path);
        free(p);
    }
}

/* Ends the purge in flight on 'p'; 'error' (not taken) says why it failed,
 * or is NULL if vswitchd acknowledged it. */
static void
purger_finish(struct purger *p, const char *error)
{
    jsonrpc_close(p->rpc);
    p->rpc = NULL;
    json_destroy(p->id);
    p->id = NULL;
    p->n_done = p->n_started;
    free(p->error);
    p->error = error ? xstrdup(error) : NULL;
}

/* Sends "revalidator/purge" to 'p''s vswitchd. */
static void
purger_start(struct purger *p)
{
    p->pending = false;
    p->n_started++;

    char *target = xasprintf("unix:%s", p->path);
    struct stream *stream;
    int retval = stream_open(target, &stream, DSCP_DEFAULT);
    free(target);
    if (retval) {
        char *error = xasprintf("%s: %s", p->path, ovs_strerror(retval));
        purger_finish(p, error);
        free(error);
        return;
    }
    p->rpc = jsonrpc_open(stream);
    struct jsonrpc_msg *request
        = jsonrpc_create_request("revalidator/purge",
                                 json_array_create_empty(), NULL);
    p->id = json_clone(request->id);
    p->deadline = time_msec() + PURGE_TIMEOUT_MS;
    retval = jsonrpc_send(p->rpc, request);
    if (retval) {
        char *error = xasprintf("%s: %s", p->path, ovs_strerror(retval));
        purger_finish(p, error);
        free(error);
    }
}

/* Advances 'p': receives the answer of the purge in flight, or starts one
 * if a switch waits for it.  Idempotent within a poll loop iteration. */
static void
purger_run(struct purger *p)
{
    if (p->rpc) {
        jsonrpc_run(p->rpc);
        struct jsonrpc_msg *msg;
        int retval = jsonrpc_recv(p->rpc, &msg);
        if (!retval) {
            if (msg->type == JSONRPC_REPLY && json_equal(msg->id, p->id)) {
                purger_finish(p, NULL);
            } else {
                char *s = json_to_string(msg->error ? msg->error
                                         : msg->result, 0);
                char *error = xasprintf("unexpected reply to "
                                        "revalidator/purge: %s", s);
                purger_finish(p, error);
                free(error);
                free(s);
            }
            jsonrpc_msg_destroy(msg);
        } else if (retval != EAGAIN) {
            purger_finish(p, retval == EOF ? "vswitchd closed the connection"
                          : ovs_strerror(retval));
        } else if (time_msec() >= p->deadline) {
            purger_finish(p, "no reply to revalidator/purge within 5 s");
        }
    }
    if (!p->rpc && p->pending) {
        purger_start(p);
    }
}

/* Records the end of the purge 'sw' waited for; 'error' (not taken) says
 * why it failed, or is NULL if vswitchd acknowledged it. */
static void
purge_done(struct cf_switch *sw, const char *error)
{
    sw->purge_waiting = false;
    if (error) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
        VLOG_WARN_RL(&rl, "%s: datapath flow cache purge failed (stale "
                     "datapath flows may outlive the last change until "
                     "revalidated): %s", sw->name, error);
        free(sw->purge_error);
        sw->purge_error = xstrdup(error);
        sw->n_purge_failed++;
        COVERAGE_INC(cf_switch_dp_purge_fail);
    } else {
        sw->n_purges++;
        COVERAGE_INC(cf_switch_dp_purge);
        VLOG_DBG("%s: datapath flow cache purged", sw->name);
    }
}

/* Asks for a purge that starts after the bundle just committed. */
static void
purge_request(struct cf_switch *sw)
{
    sw->purge_needed = false;
    if (strncmp(sw->ovsdb, "unix:", 5)) {
        /* Not an error of this bundle: a property of the node.  Said once,
         * and shown in the status. */
        if (!sw->purge_unavailable) {
            sw->purge_unavailable = true;
            VLOG_WARN("%s: OVSDB remote %s is not unix:, so vswitchd's "
                      "control socket is unknown: its datapath flow cache "
                      "is not purged after changes (a stale datapath flow "
                      "of Open vSwitch 3.1's userspace datapath may outlive "
                      "a change until revalidated)", sw->name, sw->ovsdb);
        }
        return;
    }

    char *path;
    char *error = find_vswitchd_ctl(sw->ovsdb, &path);
    if (error) {
        purge_done(sw, error);
        free(error);
        return;
    }
    if (!sw->purger || strcmp(sw->purger->path, path)) {
        /* vswitchd restarted under another pid, or the first purge. */
        purger_put(sw->purger);
        sw->purger = purger_get(path);
    }
    free(path);
    sw->purge_ticket = sw->purger->n_started + 1;
    sw->purger->pending = true;
    sw->purge_waiting = true;
}

/* Advances the purge of 'sw': asks for one if needed, notices its end. */
static void
purge_run(struct cf_switch *sw)
{
    if (sw->purge_needed) {
        purge_request(sw);
    }
    if (sw->purge_waiting) {
        purger_run(sw->purger);
        if (sw->purger->n_done >= sw->purge_ticket) {
            purge_done(sw, sw->purger->error);
        }
    }
}

/* Arranges for the poll loop to wake up for the purge. */
static void
purge_wait(struct cf_switch *sw)
{
    if (sw->purge_needed) {
        poll_immediate_wake();
    } else if (sw->purge_waiting) {
        struct purger *p = sw->purger;
        if (p->rpc) {
            jsonrpc_wait(p->rpc);
            jsonrpc_recv_wait(p->rpc);
            poll_timer_wait_until(p->deadline);
        } else if (p->pending || p->n_done >= sw->purge_ticket) {
            poll_immediate_wake();
        }
    }
}

void
cf_switch_run(struct cf_switch *sw)
{
    ovsdb_run(sw);
    of_run(sw);
    purge_run(sw);
}

void
cf_switch_wait(struct cf_switch *sw)
{
    ovsdb_idl_wait(sw->idl);
    if (sw->txn) {
        ovsdb_idl_txn_wait(sw->txn);
    }
    rconn_run_wait(sw->rconn);
    rconn_recv_wait(sw->rconn);
    if (sw->of_state == OFS_DISCONNECTED && sw->retry_at) {
        poll_timer_wait_until(sw->retry_at);
    }
    if (sw->of_state == OFS_IDLE && sw->dirty) {
        poll_immediate_wake();
    }
    purge_wait(sw);
}

/* ---- Desired flows ------------------------------------------------------ */

/* Packs the actions of 'flow' into 'packed' (cleared first) with
 * cf_cflow_pack_actions().  Returns false if that fails (an unknown
 * action: no entry matches, and the conversion will report it). */
static bool
pack_flow(const struct cflow *flow, struct ofpbuf *packed)
{
    ofpbuf_clear(packed);
    return cf_cflow_pack_actions(flow, packed);
}

/* True if cache entry 'e' is 'flow' (by cflow_equal()), whose actions
 * pack_flow() put in 'packed' ('packed_ok' is what it returned). */
static bool
desired_entry_is(const struct desired_entry *e, const struct cflow *flow,
                 const struct ofpbuf *packed, bool packed_ok)
{
    return (packed_ok
            && e->table == flow->table
            && e->priority == flow->priority
            && e->cookie == flow->cookie
            && !cflow_match_compare(&e->match, &flow->match)
            && cf_blob_equals(e->actions, packed->data, packed->size));
}

/* Returns a new cache entry for 'flow', whose actions pack_flow() put in
 * 'packed', and its conversion 'ofl' (taken).  Its 'hmap_node.hash' is
 * 'hash'. */
static struct desired_entry *
desired_entry_create(const struct cflow *flow, const struct ofpbuf *packed,
                     struct cf_ofl *ofl, uint32_t hash)
{
    struct desired_entry *e = xzalloc(sizeof *e);
    e->hmap_node.hash = hash;
    e->table = flow->table;
    e->priority = flow->priority;
    e->cookie = flow->cookie;
    e->match = flow->match;
    e->actions = cf_blob_intern(&packed_actions_pool, packed->data,
                                packed->size);
    e->ofl = ofl;
    return e;
}

/* Records that the desired flow with the identity of 'ofl' was added,
 * changed or removed. */
static void
touch(struct cf_switch *sw, const struct cf_ofl *ofl)
{
    if (!cf_ofl_table_find(&sw->touched, ofl)) {
        cf_ofl_table_replace(&sw->touched, cf_ofl_clone(ofl));
    }
}

char *
cf_switch_set_desired(struct cf_switch *sw, const struct cflow_set *flows)
{
    /* Pass 1: find or convert every flow.  Unchanged flows come from the
     * cache, so a small change converts little. */
    struct hmap new_cache = HMAP_INITIALIZER(&new_cache);
    char *error = NULL;
    uint64_t stub[4096 / 8];
    struct ofpbuf packed = OFPBUF_STUB_INITIALIZER(stub);
    for (size_t i = 0; i < flows->n; i++) {
        const struct cflow *flow = &flows->flows[i];
        uint32_t hash = cflow_key_hash(flow, 0);
        bool packed_ok = pack_flow(flow, &packed);
        struct desired_entry *e = NULL, *old;
        HMAP_FOR_EACH_WITH_HASH (old, hmap_node, hash, &sw->desired_cache) {
            if (desired_entry_is(old, flow, &packed, packed_ok)) {
                e = old;
                break;
            }
        }
        if (e) {
            hmap_remove(&sw->desired_cache, &e->hmap_node);
        } else {
            struct cf_ofl *ofl;
            error = cf_ofl_from_cflow(flow, &ofl);
            if (error) {
                break;
            }
            ovs_assert(packed_ok);  /* Converted: all actions are known. */
            e = desired_entry_create(flow, &packed, ofl, hash);
            e->is_new = true;
        }
        hmap_insert(&new_cache, &e->hmap_node, hash);
    }
    ofpbuf_uninit(&packed);
    if (error) {
        /* Keep everything as it was: the entries go back to the cache
         * (the desired table still points to some of their flows); those
         * just made had never been in it. */
        struct desired_entry *e;
        HMAP_FOR_EACH_POP (e, hmap_node, &new_cache) {
            if (e->is_new) {
                desired_entry_destroy(e);
            } else {
                hmap_insert(&sw->desired_cache, &e->hmap_node,
                            e->hmap_node.hash);
            }
        }
        hmap_destroy(&new_cache);
        cf_switch_set_error(sw, error);
        return error;
    }

    /* Pass 2: index the new desired flows by OpenFlow identity.  The table
     * borrows the entries' flows. */
    hmap_clear(&sw->desired.flows);
    struct desired_entry *e;
    HMAP_FOR_EACH (e, hmap_node, &new_cache) {
        if (cf_ofl_table_find(&sw->desired, e->ofl)) {
            static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
            VLOG_ERR_RL(&rl, "%s: two desired flows with the same table "
                        "(%u), priority (%u) and match: keeping one",
                        sw->name, e->table, e->priority);
            continue;
        }
        hmap_insert(&sw->desired.flows, &e->ofl->hmap_node,
                    cf_ofl_key_hash(e->ofl));
    }
    /* Touched: the flows converted now, and the flows no longer desired
     * (the entries left in the old cache). */
    HMAP_FOR_EACH (e, hmap_node, &new_cache) {
        if (e->is_new) {
            e->is_new = false;
            touch(sw, e->ofl);
        }
    }
    HMAP_FOR_EACH (e, hmap_node, &sw->desired_cache) {
        touch(sw, e->ofl);
    }
    clear_desired_cache(&sw->desired_cache);    /* Entries not reused. */
    hmap_swap(&sw->desired_cache, &new_cache);
    hmap_destroy(&new_cache);

    sw->desired_valid = true;
    sw->dirty = true;
    free(sw->compile_error);
    sw->compile_error = NULL;
    return NULL;
}

/* Finds the entry of 'sw''s desired cache that is 'flow', or NULL.
 * 'packed' is a scratch buffer. */
static struct desired_entry *
find_desired_entry(const struct cf_switch *sw, const struct cflow *flow,
                   struct ofpbuf *packed)
{
    bool packed_ok = pack_flow(flow, packed);
    struct desired_entry *e;
    HMAP_FOR_EACH_WITH_HASH (e, hmap_node, cflow_key_hash(flow, 0),
                             &sw->desired_cache) {
        if (desired_entry_is(e, flow, packed, packed_ok)) {
            return e;
        }
    }
    return NULL;
}

char *
cf_switch_update_desired(struct cf_switch *sw, const struct cflow_set *removed,
                         const struct cflow_set *added)
{
    if (!sw->desired_valid) {
        return xasprintf("%s: no desired flows to update", sw->name);
    }

    /* Check and convert first: on error nothing changes. */
    struct desired_entry **gone = xcalloc(removed->n + 1, sizeof *gone);
    struct desired_entry **news = xcalloc(added->n + 1, sizeof *news);
    char *error = NULL;
    uint64_t stub[4096 / 8];
    struct ofpbuf packed = OFPBUF_STUB_INITIALIZER(stub);
    for (size_t i = 0; i < removed->n && !error; i++) {
        gone[i] = find_desired_entry(sw, &removed->flows[i], &packed);
        if (!gone[i]
            || cf_ofl_table_find(&sw->desired, gone[i]->ofl)
               != gone[i]->ofl) {
            error = xasprintf("%s: a flow to remove is not desired",
                              sw->name);
        }
    }
    size_t n_news = 0;
    for (size_t i = 0; i < added->n && !error; i++) {
        const struct cflow *flow = &added->flows[i];
        struct cf_ofl *ofl;
        error = cf_ofl_from_cflow(flow, &ofl);
        if (!error) {
            ovs_assert(pack_flow(flow, &packed));
            news[n_news++] = desired_entry_create(flow, &packed, ofl,
                                                  cflow_key_hash(flow, 0));
        }
    }
    ofpbuf_uninit(&packed);

    /* Take the removed flows out, then put the added ones in, unless one
     * has the identity of a flow that stays (then undo). */
    if (!error) {
        for (size_t i = 0; i < removed->n; i++) {
            hmap_remove(&sw->desired.flows, &gone[i]->ofl->hmap_node);
            hmap_remove(&sw->desired_cache, &gone[i]->hmap_node);
        }
        size_t n_in = 0;
        for (; n_in < n_news; n_in++) {
            struct desired_entry *e = news[n_in];
            if (cf_ofl_table_find(&sw->desired, e->ofl)) {
                error = xasprintf("%s: two desired flows with the same "
                                  "table (%u), priority (%u) and match",
                                  sw->name, e->table, e->priority);
                break;
            }
            hmap_insert(&sw->desired.flows, &e->ofl->hmap_node,
                        cf_ofl_key_hash(e->ofl));
            hmap_insert(&sw->desired_cache, &e->hmap_node,
                        e->hmap_node.hash);
        }
        if (error) {
            while (n_in > 0) {
                struct desired_entry *e = news[--n_in];
                hmap_remove(&sw->desired.flows, &e->ofl->hmap_node);
                hmap_remove(&sw->desired_cache, &e->hmap_node);
            }
            for (size_t i = 0; i < removed->n; i++) {
                hmap_insert(&sw->desired.flows, &gone[i]->ofl->hmap_node,
                            cf_ofl_key_hash(gone[i]->ofl));
                hmap_insert(&sw->desired_cache, &gone[i]->hmap_node,
                            gone[i]->hmap_node.hash);
            }
        }
    }
    if (error) {
        for (size_t i = 0; i < n_news; i++) {
            desired_entry_destroy(news[i]);
        }
        free(news);
        free(gone);
        return error;
    }

    for (size_t i = 0; i < removed->n; i++) {
        touch(sw, gone[i]->ofl);
        desired_entry_destroy(gone[i]);
    }
    for (size_t i = 0; i < n_news; i++) {
        touch(sw, news[i]->ofl);
    }
    free(news);
    free(gone);
    sw->dirty = true;
    free(sw->compile_error);
    sw->compile_error = NULL;
    return NULL;
}

void
cf_switch_set_error(struct cf_switch *sw, const char *error)
{
    free(sw->compile_error);
    sw->compile_error = error ? xstrdup(error) : NULL;
    if (error) {
        switch_set_error(sw, "%s", error);
    }
}

/* ---- Introspection ------------------------------------------------------ */

bool
cf_switch_ports_known(const struct cf_switch *sw)
{
    return sw->ports_known;
}

unsigned int
cf_switch_get_ports_seqno(const struct cf_switch *sw)
{
    return sw->ports_seqno;
}

const struct cf_node_ports *
cf_switch_get_ports(const struct cf_switch *sw)
{
    return &sw->ports;
}

bool
cf_switch_is_synced(const struct cf_switch *sw)
{
    return (sw->of_state == OFS_IDLE && !sw->dirty && sw->desired_valid
            && rconn_is_connected(sw->rconn)
            && !sw->purge_needed && !sw->purge_waiting);
}

bool
cf_switch_is_committed(const struct cf_switch *sw)
{
    return (sw->of_state == OFS_IDLE && !sw->dirty && sw->desired_valid
            && rconn_is_connected(sw->rconn));
}

bool
cf_switch_in_flight(const struct cf_switch *sw)
{
    return (rconn_is_connected(sw->rconn)
            && (sw->dirty || sw->of_state == OFS_BUNDLING
                || sw->of_state == OFS_COMMITTING
                || sw->purge_needed || sw->purge_waiting));
}

uint64_t
cf_switch_n_flow_mods(const struct cf_switch *sw)
{
    return sw->n_flow_mods;
}

uint64_t
cf_switch_n_bundles(const struct cf_switch *sw)
{
    return sw->n_bundles;
}

uint64_t
cf_switch_n_revoking_bundles(const struct cf_switch *sw)
{
    return sw->n_revoking;
}

char *
cf_switch_get_vswitchd_ctl(const struct cf_switch *sw, char **pathp)
{
    return find_vswitchd_ctl(sw->ovsdb, pathp);
}

size_t
cf_switch_n_desired(const struct cf_switch *sw)
{
    return cf_ofl_table_count(&sw->desired);
}

size_t
cf_switch_n_installed(const struct cf_switch *sw)
{
    return cf_ofl_table_count(&sw->installed);
}

void
cf_switch_get_memory_usage(struct simap *usage)
{
    const struct cf_blob_pool *ofl = cf_ofl_actions_pool();
    simap_increase(usage, "ofl-actions", cf_blob_pool_count(ofl));
    simap_increase(usage, "ofl-action-bytes", cf_blob_pool_bytes(ofl));
    const struct cf_blob_pool *matches = cf_ofl_matches_pool();
    simap_increase(usage, "ofl-matches", cf_blob_pool_count(matches));
    simap_increase(usage, "ofl-match-bytes", cf_blob_pool_bytes(matches));
    simap_increase(usage, "cache-actions",
                   cf_blob_pool_count(&packed_actions_pool));
    simap_increase(usage, "cache-action-bytes",
                   cf_blob_pool_bytes(&packed_actions_pool));
}

/* The name of configuration state 's', for the status. */
static const char *
cfg_state_name(enum cfg_state s)
{
    switch (s) {
    case CFG_SYNCING: return "syncing";
    case CFG_CHECK: return "checking";
    case CFG_TXN: return "configuring";
    case CFG_APPLYING: return "applying";
    case CFG_DONE: return "configured";
    }
    return "?";
}

/* The name of OpenFlow state 's', for the status. */
static const char *
of_state_name(enum of_state s)
{
    switch (s) {
    case OFS_DISCONNECTED: return "disconnected";
    case OFS_DUMPING: return "dumping";
    case OFS_IDLE: return "idle";
    case OFS_BUNDLING: return "bundling";
    case OFS_COMMITTING: return "committing";
    }
    return "?";
}

/* Number of flows that differ between desired and installed. */
static size_t
count_pending(const struct cf_switch *sw)
{
    size_t n = 0;
    const struct cf_ofl *ofl;
    HMAP_FOR_EACH (ofl, hmap_node, &sw->installed.flows) {
        n += !cf_ofl_table_find(&sw->desired, ofl);
    }
    HMAP_FOR_EACH (ofl, hmap_node, &sw->desired.flows) {
        const struct cf_ofl *inst = cf_ofl_table_find(&sw->installed, ofl);
        n += !inst || !cf_ofl_equal(inst, ofl);
    }
    return n;
}

/* Appends wall-clock time 'ms' or "never". */
static void
put_time(struct ds *s, long long int ms)
{
    if (ms) {
        ds_put_strftime_msec(s, "%Y-%m-%dT%H:%M:%S.###Z", ms, true);
    } else {
        ds_put_cstr(s, "never");
    }
}

void
cf_switch_format_status(const struct cf_switch *sw, struct ds *s)
{
    bool of_up = rconn_is_connected(sw->rconn);
    ds_put_format(s, "node %s: %s\n", sw->name,
                  cf_switch_is_synced(sw) ? "in sync"
                  : !of_up || !ovsdb_idl_is_connected(sw->idl)
                  ? "disconnected" : "pending");
    int idl_error = ovsdb_idl_get_last_error(sw->idl);
    ds_put_format(s, "  ovsdb: %s (%s%s%s), bridge %s: %s\n", sw->ovsdb,
                  ovsdb_idl_is_connected(sw->idl) ? "connected"
                  : "not connected",
                  !ovsdb_idl_is_connected(sw->idl) && idl_error ? ": " : "",
                  !ovsdb_idl_is_connected(sw->idl) && idl_error
                  ? ovs_retval_to_string(idl_error) : "",
                  sw->bridge,
                  !sw->bridge_found ? "not found"
                  : cfg_state_name(sw->cfg_state));
    ds_put_format(s, "  openflow: %s (%s, %s)\n",
                  sw->of_connect ? sw->of_connect : "none",
                  of_up ? "connected" : "not connected",
                  of_state_name(sw->of_state));
    ds_put_format(s, "  ports: %"PRIuSIZE" pods, %"PRIuSIZE" uplinks, "
                  "%"PRIuSIZE" other\n", sw->ports.n_bindings,
                  sw->ports.n_uplinks, sw->ports.n_unknown);
    ds_put_format(s, "  flows: %"PRIuSIZE" desired, %"PRIuSIZE" installed, "
                  "%"PRIuSIZE" pending\n", cf_ofl_table_count(&sw->desired),
                  cf_ofl_table_count(&sw->installed),
                  sw->desired_valid && sw->of_state != OFS_DISCONNECTED
                  && sw->of_state != OFS_DUMPING ? count_pending(sw) : 0);
    ds_put_format(s, "  bundles: %"PRIu64" committed, %"PRIu64" failed, "
                  "%"PRIu64" flow_mods sent, last took %.1f ms\n",
                  sw->n_bundles, sw->n_failed, sw->n_flow_mods,
                  sw->last_bundle_us / 1000.0);
    ds_put_format(s, "  datapath purges: %"PRIu64" done, %"PRIu64" errors%s"
                  "%s%s\n", sw->n_purges, sw->n_purge_failed,
                  !datapath_purge ? " (disabled)"
                  : sw->purge_unavailable ? " (unavailable: the OVSDB "
                                            "remote is not unix:)"
                  : sw->purge_waiting || sw->purge_needed ? " (one pending)"
                  : "",
                  sw->purge_error ? ", last error: " : "",
                  sw->purge_error ? sw->purge_error : "");
    ds_put_cstr(s, "  last sync: ");
    put_time(s, sw->last_sync);
    ds_put_char(s, '\n');
    if (sw->last_error) {
        ds_put_cstr(s, "  last error: ");
        put_time(s, sw->last_error_time);
        ds_put_format(s, " %s\n", sw->last_error);
    }
}

void
cf_switch_format_desired(const struct cf_switch *sw, struct ds *s)
{
    cf_ofl_table_format(&sw->desired, s);
}

void
cf_switch_format_installed(const struct cf_switch *sw, struct ds *s)
{
    cf_ofl_table_format(&sw->installed, s);
}

/* ---- Observability ------------------------------------------------------ */

void
cf_switch_set_audit_meter(unsigned int rate, unsigned int burst)
{
    audit_rate = rate;
    audit_burst = burst;
}

void
cf_switch_set_packet_in_cb(struct cf_switch *sw,
                           cf_switch_packet_in_func *cb, void *aux)
{
    sw->pin_cb = cb;
    sw->pin_aux = aux;
}

bool
cf_switch_request_stats(struct cf_switch *sw)
{
    if (!rconn_is_connected(sw->rconn) || sw->cfg_state != CFG_DONE) {
        return false;
    }
    if (sw->stats_pending) {
        return true;
    }
    struct ofputil_flow_stats_request fsr;
    memset(&fsr, 0, sizeof fsr);
    match_init_catchall(&fsr.match);
    fsr.cookie = htonll(CFLOW_COOKIE_TAG << 56);
    fsr.cookie_mask = htonll(CFLOW_COOKIE_TAG_MASK);
    fsr.out_port = OFPP_ANY;
    fsr.out_group = OFPG_ANY;
    fsr.table_id = 0xff;
    struct ofpbuf *msg = ofputil_encode_flow_stats_request(&fsr,
                                                           CF_OFP_PROTOCOL);
    sw->stats_xid = ((struct ofp_header *) msg->data)->xid;
    sw->n_stats_new = 0;
    sw->stats_pending = true;
    of_send(sw, msg);
    return true;
}

unsigned int
cf_switch_get_stats(const struct cf_switch *sw,
                    const struct cf_flow_counter **countersp, size_t *np,
                    long long int *whenp)
{
    *countersp = sw->stats;
    *np = sw->n_stats;
    *whenp = sw->stats_time;
    return sw->stats_seqno;
}

bool
cf_switch_is_connected(const struct cf_switch *sw)
{
    return rconn_is_connected(sw->rconn);
}

long long int
cf_switch_last_bundle_us(const struct cf_switch *sw)
{
    return sw->last_bundle_us;
}

uint64_t
cf_switch_n_failed(const struct cf_switch *sw)
{
    return sw->n_failed;
}
