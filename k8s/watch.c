/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The list/watch engine: keeps the store equal to the API server for
 * namespaces, nodes, pods and networkpolicies.  All four run concurrently
 * in one thread on one libcurl multi handle.  Each resource is a small
 * state machine:
 *
 *            start (no stored resourceVersion)      start (stored RV)
 *                      |                                   |
 *                      v                                   v
 *   +-------> IDLE --timer--> LISTING --last page--> WATCHING <---+
 *   |          ^   (need_list)  |  (pages: limit,      |  |       |
 *   |          |                |   continue)          |  |       |
 *   |          +---error--------+                      |  +-------+
 *   |          +---dropped / stalled / error-----------+  server closed
 *   |          |   (backoff with jitter, then WATCH from    (timeoutSeconds):
 *   |          |    the last RV seen)                       watch again
 *   +-- 410 Gone (HTTP status or ERROR event): need_list, relist
 *
 * LIST pages are buffered and parsed whole; a WATCH response streams
 * through a cf_json_splitter as it arrives (libcurl's write callback), one
 * event per JSON value.  Events become operations in a batch (create or
 * replace an object, delete one, or, for a completed LIST, replace a whole
 * kind); the batch is written to the store when it is 'batch_ms' old, when
 * no event came for BATCH_QUIET_MS (the burst is over), or when it holds
 * 'batch_max' operations: consecutive object operations are merged
 * per object and written in one cf_store_apply() and one
 * cf_store_delete(), a LIST through cf_store_replace_kind() (which writes
 * nothing if nothing changed).  After the batch, each resource's last
 * resourceVersion goes to the store's meta table, so a restarted
 * conjflow-k8s resumes watching from there (or relists on 410).
 *
 * Each resource's health (synced, state, resourceVersion, counters, last
 * event, last error) also goes to the meta table, under
 * "k8s/watch/<resource>" in the line format documented in conjflow/k8s.h,
 * for conjflowd's metrics and "conjflowctl status": at once when a
 * resource becomes synced or meets an error, otherwise at most once per
 * RV_PERSIST_MS, and only when the row changed.
 *
 * An object the parser rejects is logged (rate-limited) with its name and
 * the failing field and skipped: the store keeps its previous version.
 * Except a NetworkPolicy: leaving it out (or its previous version in)
 * could leave pods open that it isolates, so it is stored without rules
 * instead (cf_k8s_policy_fail_closed()): its pods isolated, nothing
 * allowed, until a version conjflow can enforce comes.
 * If the store rejects a whole batch, its objects are retried one by one
 * so that one bad object never blocks the others.
 */
#include "conjflow-config.h"

#include "conjflow/k8s.h"

#include <curl/curl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conjflow/cfutil.h"
#include "conjflow/store.h"
#include "k8s/cflog.h"

CF_LOG_DEFINE_THIS_MODULE(k8s_watch);

/* A batch is written once no event came for this long (or when it is
 * 'batch_ms' old, whichever is first). */
#define BATCH_QUIET_MS 3

/* Resource versions are written to the store at most this often (and
 * after every LIST, and at exit). */
#define RV_PERSIST_MS 1000

static struct cf_log_rl invalid_rl = CF_LOG_RL_INIT(20);
static struct cf_log_rl error_rl = CF_LOG_RL_INIT(20);

/* The resources, in the order their batches are written. */
static const struct resource_def {
    const char *name;           /* Resource name in URLs. */
    const char *path;           /* Cluster-wide collection path. */
    enum cf_kind kind;          /* Model kind. */
    bool needs_namespaces;      /* First LIST waits for namespaces. */
} defs[CF_K8S_N_RESOURCES] = {
    [CF_K8S_NAMESPACES] = { "namespaces", "/api/v1/namespaces",
                            CF_KIND_NAMESPACE, false },
    [CF_K8S_NODES] = { "nodes", "/api/v1/nodes", CF_KIND_NODE, false },
    [CF_K8S_PODS] = { "pods", "/api/v1/pods", CF_KIND_POD, true },
    [CF_K8S_POLICIES] = { "networkpolicies",
                          "/apis/networking.k8s.io/v1/networkpolicies",
                          CF_KIND_POLICY, true },
};

enum res_state {
    RS_IDLE,                    /* Waiting for 'next_attempt'. */
    RS_LISTING,                 /* A LIST page request is running. */
    RS_WATCHING,                /* A WATCH stream is open. */
};

/* State names, in "status" and in health rows. */
static const char *const state_names[] = {
    [RS_IDLE] = "waiting", [RS_LISTING] = "listing",
    [RS_WATCHING] = "watching",
};

/* One resource being followed. */
struct resource {
    struct cf_k8s *k8s;         /* Owner. */
    enum cf_k8s_resource id;    /* Which one. */
    const struct resource_def *def;  /* Its constants. */
    enum res_state state;       /* See the diagram above. */
    CURL *easy;                 /* The running request, or NULL. */
    struct curl_slist *headers; /* Its request headers. */
    long long next_attempt;     /* RS_IDLE: when to start (msec). */
    bool need_list;             /* The next request is a LIST. */
    int backoff_ms;             /* Delay before the next retry. */

    char *rv;                   /* Last resourceVersion seen, or NULL. */
    char *stored_rv;            /* Last one written to the store meta. */
    char *stored_health;        /* Last health row written (without its
                                 * "updated" time), or NULL. */
    long long last_event_time;  /* Last watch event or completed LIST
                                 * (wall clock msec, 0: none yet). */
    bool synced;                /* Store holds a complete LIST (or was
                                 * resumed) and changes are followed. */
    bool synced_once;           /* 'synced' was ever true. */

    /* LIST in progress. */
    char *list_continue;        /* Continue token of the next page. */
    char *list_rv;              /* resourceVersion of the first page. */
    struct cf_object **list_objs;  /* Objects listed so far. */
    size_t n_list_objs, allocated_list_objs;
    struct cf_objref *list_invalid;  /* Objects listed but invalid. */
    size_t n_list_invalid, allocated_list_invalid;
    long long list_started;     /* When the LIST's first page started. */

    /* Response of the running request. */
    long http_status;           /* 0 until known. */
    struct cf_ds body;          /* Body of a LIST or of an error. */
    struct cf_json_splitter splitter;  /* WATCH stream. */
    long long last_data;        /* Last byte received (msec). */
    bool watch_progress;        /* This WATCH delivered an event. */
    bool gone;                  /* 410: relist. */
    char *stream_error;         /* Why the stream was aborted, or NULL. */
    char errbuf[CURL_ERROR_SIZE];  /* libcurl's error details. */

    /* Status. */
    char *last_error;           /* Last error, or NULL. */
    long long last_error_time;  /* When (wall clock msec). */
    struct cf_k8s_stats stats;  /* Counters. */
};

enum op_type {
    OP_UPSERT,                  /* Create or replace 'obj'. */
    OP_DELETE,                  /* Delete 'ref'. */
    OP_REPLACE,                 /* Replace the whole kind (a LIST). */
};

/* One operation of a batch. */
struct op {
    enum op_type type;
    enum cf_k8s_resource res;   /* Resource it came from. */
    struct cf_object *obj;      /* OP_UPSERT: owned. */
    struct cf_objref ref;       /* OP_DELETE (and the key of an upsert). */
    struct cf_object **objs;    /* OP_REPLACE: owned objects. */
    size_t n_objs;
    struct cf_objref *invalid;  /* OP_REPLACE: invalid objects (kept). */
    size_t n_invalid;
};

/* The engine. */
struct cf_k8s {
    struct cf_k8s_config *config;   /* Owned. */
    struct cf_store *store;         /* Not owned. */
    struct cf_k8s_options opts;     /* Tuning. */
    CURLM *multi;                   /* All transfers. */
    struct resource res[CF_K8S_N_RESOURCES];

    struct op *ops;                 /* The batch, in arrival order. */
    size_t n_ops, allocated_ops;
    long long batch_deadline;       /* Flush by then (0: empty batch). */
    long long batch_start;          /* First event of the batch (or 0). */
    struct op *deferred;            /* Upserts refused because their
                                     * namespace is not in the store yet
                                     * (its event is still on its way):
                                     * retried at each flush. */
    size_t n_deferred, allocated_deferred;
    bool rv_dirty;                  /* A resourceVersion is not stored. */
    long long rv_persist_time;      /* Store RVs again no sooner. */
    bool health_dirty;              /* A health row may have changed. */
    bool health_urgent;             /* ...and must be written at once (a
                                     * resource synced or failed). */
    long long health_persist_time;  /* Store health rows again no sooner
                                     * (unless urgent). */
    char *fatal;                    /* A store write failed: stop. */
    uint64_t flushes;               /* Batches written. */
    bool started;                   /* cf_k8s_start() was called. */
};

/* Sets the default options. */
void
cf_k8s_options_init(struct cf_k8s_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->node.ovsdb_template = CF_K8S_DEFAULT_OVSDB_TEMPLATE;
    opts->node.bridge = "br-int";
    opts->page_size = 500;
    opts->stall_timeout_ms = 60 * 1000;
    opts->watch_timeout_s = 300;
    opts->batch_ms = 50;
    opts->batch_max = 1000;
    opts->backoff_min_ms = 500;
    opts->backoff_max_ms = 30 * 1000;
    opts->connect_timeout_ms = 10 * 1000;
    opts->resume = true;
}

const char *
cf_k8s_resource_name(enum cf_k8s_resource r)
{
    return r < CF_K8S_N_RESOURCES ? defs[r].name : "?";
}

/* The meta key of 'r' (the caller frees it). */
char *
cf_k8s_meta_key(enum cf_k8s_resource r)
{
    return cf_xasprintf("k8s/%s/resourceVersion", cf_k8s_resource_name(r));
}

/* The meta key of 'r''s health row (the caller frees it). */
char *
cf_k8s_health_key(enum cf_k8s_resource r)
{
    return cf_xasprintf(CF_K8S_HEALTH_PREFIX "%s", cf_k8s_resource_name(r));
}

/* Wall-clock milliseconds, for "last error" times. */
static long long
wall_msec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Notes that a health row changed; 'urgent' to write it at once. */
static void
health_changed(struct cf_k8s *k8s, bool urgent)
{
    k8s->health_dirty = true;
    k8s->health_urgent |= urgent;
}

/* Records 'error' (taking ownership) as 'r''s last error and logs it. */
static void
set_error(struct resource *r, char *error)
{
    cf_log_rl(&error_rl, "k8s_watch", CF_LOG_WARN, "%s: %s", r->def->name,
              error);
    free(r->last_error);
    r->last_error = error;
    r->last_error_time = wall_msec();
    r->stats.errors++;
    health_changed(r->k8s, true);
}

/* ---- Requests ----------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *aux);

/* Applies the TLS and authentication settings of 'config' to 'easy' and
 * builds the request headers into '*headersp'.  Returns NULL or an error
 * (a token file that cannot be read). */
static char *
setup_easy(const struct cf_k8s_config *config,
           const struct cf_k8s_options *opts, CURL *easy,
           struct curl_slist **headersp)
{
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     (long) opts->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "conjflow-k8s/" PACKAGE_VERSION);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    /* With HTTP/2 the four watches share one connection. */
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    if (config->ca.file) {
        curl_easy_setopt(easy, CURLOPT_CAINFO, config->ca.file);
    } else if (config->ca.data) {
        struct curl_blob blob = { config->ca.data, config->ca.len,
                                  CURL_BLOB_COPY };
        curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (config->cert.file) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, config->cert.file);
    } else if (config->cert.data) {
        struct curl_blob blob = { config->cert.data, config->cert.len,
                                  CURL_BLOB_COPY };
        curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &blob);
        curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
    }
    if (config->key.file) {
        curl_easy_setopt(easy, CURLOPT_SSLKEY, config->key.file);
    } else if (config->key.data) {
        struct curl_blob blob = { config->key.data, config->key.len,
                                  CURL_BLOB_COPY };
        curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &blob);
        curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }

    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Accept: application/json");
    char *token;
    char *error = cf_k8s_config_token(config, &token);
    if (error) {
        curl_slist_free_all(headers);
        return error;
    }
    if (token) {
        char *h = cf_xasprintf("Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, h);
        memset(h, 0, strlen(h));
        free(h);
        memset(token, 0, strlen(token));
        free(token);
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    *headersp = headers;
    return NULL;
}

/* The 'message' of a Status object in 'body', or of the HTTP status. */
static char *
status_message(const char *body, size_t len, long http_status)
{
    json_t *status = json_loadb(body, len, 0, NULL);
    const char *message = json_string_value(json_object_get(status,
                                                            "message"));
    const char *reason = json_string_value(json_object_get(status,
                                                           "reason"));
    char *s = cf_xasprintf("HTTP %ld%s%s%s%s", http_status,
                           reason ? " " : "", reason ? reason : "",
                           message ? ": " : "", message ? message : "");
    json_decref(status);
    return s;
}

/* Frees 'r''s finished request. */
static void
end_request(struct resource *r)
{
    if (r->easy) {
        curl_multi_remove_handle(r->k8s->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    cf_ds_clear(&r->body);
    cf_json_splitter_reset(&r->splitter);
    free(r->stream_error);
    r->stream_error = NULL;
}

/* Goes idle until after a backoff delay with jitter (half to all of the
 * current delay, which then doubles up to the maximum). */
static void
retry_later(struct resource *r)
{
    const struct cf_k8s_options *o = &r->k8s->opts;
    int base = CF_MAX(r->backoff_ms, o->backoff_min_ms);
    int delay = base / 2 + (int) (random() % (base / 2 + 1));
    r->backoff_ms = CF_MIN(base * 2, o->backoff_max_ms);
    if (r->state == RS_WATCHING) {
        r->stats.reconnects++;  /* A broken watch, resumed after the delay. */
    }
    r->state = RS_IDLE;
    r->next_attempt = cf_time_msec() + delay;
    CF_DBG("%s: retrying in %d ms", r->def->name, delay);
}

/* Frees the objects of a LIST in progress. */
static void
clear_list(struct resource *r)
{
    for (size_t i = 0; i < r->n_list_objs; i++) {
        cf_object_destroy(r->list_objs[i]);
    }
    free(r->list_objs);
    r->list_objs = NULL;
    r->n_list_objs = r->allocated_list_objs = 0;
    for (size_t i = 0; i < r->n_list_invalid; i++) {
        free(r->list_invalid[i].ns);
        free(r->list_invalid[i].name);
    }
    free(r->list_invalid);
    r->list_invalid = NULL;
    r->n_list_invalid = r->allocated_list_invalid = 0;
    free(r->list_continue);
    r->list_continue = NULL;
    free(r->list_rv);
    r->list_rv = NULL;
}

/* Starts 'r''s next request: a LIST page or a WATCH. */
static void
start_request(struct resource *r)
{
    struct cf_k8s *k8s = r->k8s;
    bool list = r->need_list || !r->rv;
    struct cf_ds url = CF_DS_INIT;
    cf_ds_put_format(&url, "%s%s?", k8s->config->server, r->def->path);
    if (list) {
        if (!r->list_continue) {
            clear_list(r);
            r->list_started = cf_time_msec();
        }
        cf_ds_put_format(&url, "limit=%d", k8s->opts.page_size);
        if (r->list_continue) {
            char *esc = curl_easy_escape(NULL, r->list_continue, 0);
            cf_ds_put_format(&url, "&continue=%s", esc);
            curl_free(esc);
        }
    } else {
        char *esc = curl_easy_escape(NULL, r->rv, 0);
        int t = k8s->opts.watch_timeout_s;
        t += t > 1 ? (int) (random() % t) : 0;
        cf_ds_put_format(&url, "watch=1&allowWatchBookmarks=true"
                         "&resourceVersion=%s&timeoutSeconds=%d", esc, t);
        curl_free(esc);
    }

    CURL *easy = curl_easy_init();
    char *error = setup_easy(k8s->config, &k8s->opts, easy, &r->headers);
    if (error) {
        curl_easy_cleanup(easy);
        set_error(r, error);
        cf_ds_destroy(&url);
        retry_later(r);
        return;
    }
    curl_easy_setopt(easy, CURLOPT_URL, cf_ds_cstr(&url));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, r);
    r->errbuf[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, r->errbuf);
    if (list) {
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 120L * 1000);
    }
    CF_DBG("%s: %s %s", r->def->name, list ? "LIST" : "WATCH",
           cf_ds_cstr(&url) + strlen(k8s->config->server));
    cf_ds_destroy(&url);

    r->easy = easy;
    r->http_status = 0;
    r->gone = false;
    r->watch_progress = false;
    r->last_data = cf_time_msec();
    r->state = list ? RS_LISTING : RS_WATCHING;
    health_changed(k8s, false);
    if (!list) {
        r->stats.watches++;
    }
    curl_multi_add_handle(k8s->multi, easy);
}

/* ---- The batch ---------------------------------------------------------- */

/* Arms the flush deadline for something new in the batch: the batch is
 * written 'batch_ms' after its first event, or sooner, once the events
 * stop coming for BATCH_QUIET_MS (a burst is over: no need to wait). */
static void
batch_arm(struct cf_k8s *k8s)
{
    long long now = cf_time_msec();
    if (!k8s->batch_start) {
        k8s->batch_start = now;
    }
    k8s->batch_deadline = CF_MIN(k8s->batch_start + k8s->opts.batch_ms,
                                 now + CF_MIN(BATCH_QUIET_MS,
                                              k8s->opts.batch_ms));
}

/* Appends 'op' to the batch and arms the flush deadline. */
static void
batch_push(struct cf_k8s *k8s, const struct op *op)
{
    if (k8s->n_ops >= k8s->allocated_ops) {
        k8s->ops = cf_x2nrealloc(k8s->ops, &k8s->allocated_ops,
                                 sizeof *k8s->ops);
    }
    k8s->ops[k8s->n_ops++] = *op;
    batch_arm(k8s);
}

/* Fills 'ref' from the metadata of API object 'obj' of resource 'def'.
 * Returns false if it has no name. */
static bool
ref_from_json(const struct resource_def *def, const json_t *obj,
              struct cf_objref *ref)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const char *ns = json_string_value(json_object_get(md, "namespace"));
    if (!name) {
        return false;
    }
    ref->kind = def->kind;
    ref->name = cf_xstrdup(name);
    ref->ns = cf_kind_namespaced(def->kind) ? cf_xstrdup(ns ? ns : "")
                                             : NULL;
    return true;
}

/* Converts API object 'obj' of 'r'.  Logs and returns NULL if invalid. */
static struct cf_object *
convert(struct resource *r, json_t *obj)
{
    json_object_del(json_object_get(obj, "metadata"), "managedFields");
    struct cf_object *o;
    char *error = cf_k8s_object_from_json(r->def->kind, obj,
                                          &r->k8s->opts.node, &o);
    if (error && r->def->kind == CF_KIND_POLICY) {
        /* Fail closed: its pods isolated, nothing allowed. */
        char *error2 = cf_k8s_policy_fail_closed(obj, error, &o);
        if (!error2) {
            r->stats.invalid++;
            cf_log_rl(&invalid_rl, "k8s_watch", CF_LOG_WARN,
                      "%s: cannot enforce as written (%s): stored without "
                      "rules, so the pods it selects are isolated with "
                      "nothing allowed until it is fixed", r->def->name,
                      error);
            free(error);
            return o;
        }
        free(error2);
    }
    if (error) {
        r->stats.invalid++;
        cf_log_rl(&invalid_rl, "k8s_watch", CF_LOG_WARN,
                  "%s: skipping invalid object: %s", r->def->name, error);
        free(error);
        return NULL;
    }
    return o;
}

/* Updates 'r''s last seen resourceVersion from 'obj''s metadata. */
static void
note_rv(struct resource *r, const json_t *obj)
{
    const char *rv = json_string_value(json_object_get(
                         json_object_get(obj, "metadata"),
                         "resourceVersion"));
    if (rv && *rv && (!r->rv || strcmp(rv, r->rv))) {
        free(r->rv);
        r->rv = cf_xstrdup(rv);
        r->k8s->rv_dirty = true;
        batch_arm(r->k8s);
    }
}

/* Handles one watch event (a JSON value 'text' of 'len' bytes).  Returns
 * false to abort the stream (410 or another ERROR event, or garbage). */
static bool
handle_event(struct resource *r, const char *text, size_t len)
{
    json_error_t jerror;
    json_t *event = json_loadb(text, len, 0, &jerror);
    if (!event) {
        r->stream_error = cf_xasprintf("watch: event is not valid JSON "
                                       "(%s)", jerror.text);
        return false;
    }
    const char *type = json_string_value(json_object_get(event, "type"));
    json_t *obj = json_object_get(event, "object");
    bool ok = true;
    r->stats.events++;
    r->last_event_time = wall_msec();
    health_changed(r->k8s, false);
    if (!type || !json_is_object(obj)) {
        r->stream_error = cf_xstrdup("watch: event without type or "
                                     "object");
        ok = false;
    } else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
        struct cf_object *o = convert(r, obj);
        if (o) {
            struct op op = { .type = OP_UPSERT, .res = r->id, .obj = o };
            op.ref.kind = o->kind;
            op.ref.ns = cf_xstrdup(cf_object_ns(o));
            op.ref.name = cf_xstrdup(cf_object_name(o));
            batch_push(r->k8s, &op);
        }
        note_rv(r, obj);
    } else if (!strcmp(type, "DELETED")) {
        struct op op = { .type = OP_DELETE, .res = r->id };
        if (ref_from_json(r->def, obj, &op.ref)) {
            batch_push(r->k8s, &op);
        }
        note_rv(r, obj);
    } else if (!strcmp(type, "BOOKMARK")) {
        note_rv(r, obj);
    } else if (!strcmp(type, "ERROR")) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        const char *message = json_string_value(json_object_get(obj,
                                                                "message"));
        if (code == 410) {
            r->gone = true;
            r->stream_error = cf_xasprintf("watch: 410 Gone (%s): relisting",
                                           message ? message : "expired");
        } else {
            r->stream_error = cf_xasprintf("watch: ERROR event %lld: %s",
                                           (long long) code,
                                           message ? message : "?");
        }
        ok = false;
    } else {
        r->stream_error = cf_xasprintf("watch: unknown event type %s",
                                       type);
        ok = false;
    }
    if (ok) {
        r->watch_progress = true;
        r->backoff_ms = 0;
    }
    json_decref(event);
    return ok;
}

/* libcurl's write callback: buffers LIST bodies and error bodies, feeds
 * WATCH streams to the splitter and handles each complete event. */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *aux)
{
    struct resource *r = aux;
    size_t n = size * nmemb;
    r->last_data = cf_time_msec();
    if (!r->http_status) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
    }
    if (r->state != RS_WATCHING || r->http_status != 200) {
        cf_ds_put_buf(&r->body, ptr, n);
        return n;
    }

    cf_json_splitter_feed(&r->splitter, ptr, n);
    const char *value;
    size_t len;
    while ((value = cf_json_splitter_next(&r->splitter, &len))) {
        if (!handle_event(r, value, len)) {
            return 0;           /* Aborts the transfer. */
        }
    }
    if (r->splitter.error) {
        r->stream_error = cf_xstrdup("watch: stream is not a sequence of "
                                     "JSON objects");
        return 0;
    }
    return n;
}

/* Handles a completed LIST page. */
static void
list_page_done(struct resource *r, CURLcode result, const char *errbuf)
{
    struct cf_k8s *k8s = r->k8s;
    if (result != CURLE_OK) {
        set_error(r, cf_xasprintf("LIST: %s%s%s", curl_easy_strerror(result),
                                  *errbuf ? ": " : "", errbuf));
        end_request(r);
        clear_list(r);
        retry_later(r);
        return;
    }
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
    if (r->http_status != 200) {
        char *msg = status_message(r->body.s, r->body.len, r->http_status);
        bool gone = r->http_status == 410;
        set_error(r, cf_xasprintf("LIST: %s%s", msg,
                                  gone ? " (restarting the list)" : ""));
        free(msg);
        end_request(r);
        clear_list(r);          /* After 410, from the first page. */
        retry_later(r);
        return;
    }

    json_error_t jerror;
    json_t *list = json_loadb(r->body.s ? r->body.s : "", r->body.len, 0,
                              &jerror);
    end_request(r);
    json_t *items = json_object_get(list, "items");
    const json_t *md = json_object_get(list, "metadata");
    const char *rv = json_string_value(json_object_get(md,
                                                       "resourceVersion"));
    if (!list || !json_is_array(items) || !rv) {
        set_error(r, cf_xasprintf("LIST: the response is not a List (%s)",
                                  list ? "no items or resourceVersion"
                                       : jerror.text));
        json_decref(list);
        clear_list(r);
        retry_later(r);
        return;
    }

    size_t i;
    json_t *item;
    json_array_foreach (items, i, item) {
        struct cf_object *o = convert(r, item);
        if (o) {
            if (r->n_list_objs >= r->allocated_list_objs) {
                r->list_objs = cf_x2nrealloc(r->list_objs,
                                             &r->allocated_list_objs,
                                             sizeof *r->list_objs);
            }
            r->list_objs[r->n_list_objs++] = o;
        } else {
            struct cf_objref ref;
            if (ref_from_json(r->def, item, &ref)) {
                if (r->n_list_invalid >= r->allocated_list_invalid) {
                    r->list_invalid = cf_x2nrealloc(
                        r->list_invalid, &r->allocated_list_invalid,
                        sizeof *r->list_invalid);
                }
                r->list_invalid[r->n_list_invalid++] = ref;
            }
        }
    }
    if (!r->list_rv) {
        r->list_rv = cf_xstrdup(rv);
    }
    const char *cont = json_string_value(json_object_get(md, "continue"));
    free(r->list_continue);
    r->list_continue = cont && *cont ? cf_xstrdup(cont) : NULL;
    json_decref(list);
    if (r->list_continue) {
        start_request(r);       /* Next page. */
        return;
    }

    /* The LIST is complete: replace the kind, then watch from its RV. */
    struct op op = { .type = OP_REPLACE, .res = r->id,
                     .objs = r->list_objs, .n_objs = r->n_list_objs,
                     .invalid = r->list_invalid,
                     .n_invalid = r->n_list_invalid };
    r->list_objs = NULL;
    r->n_list_objs = r->allocated_list_objs = 0;
    r->list_invalid = NULL;
    r->n_list_invalid = r->allocated_list_invalid = 0;
    batch_push(k8s, &op);
    k8s->batch_deadline = cf_time_msec();      /* Write it at once. */
    free(r->rv);
    r->rv = r->list_rv;
    r->list_rv = NULL;
    k8s->rv_dirty = true;
    r->stats.lists++;
    r->last_event_time = wall_msec();
    health_changed(k8s, false);
    r->need_list = false;
    r->backoff_ms = 0;
    CF_INFO("%s: listed %zu objects (%zu invalid) at resourceVersion %s "
            "in %lld ms", r->def->name, op.n_objs, op.n_invalid, r->rv,
            cf_time_msec() - r->list_started);
    start_request(r);           /* The WATCH. */
}

/* Handles the end of a WATCH stream. */
static void
watch_done(struct resource *r, CURLcode result, const char *errbuf)
{
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_status);
    if (r->gone || r->http_status == 410) {
        if (!r->stream_error) {
            r->stream_error = cf_xstrdup("watch: 410 Gone: relisting");
        }
        set_error(r, r->stream_error);
        r->stream_error = NULL;
        r->stats.relists_410++;
        r->need_list = true;
        end_request(r);
        r->state = RS_IDLE;
        r->next_attempt = cf_time_msec();
        return;
    }
    if (r->stream_error) {
        set_error(r, r->stream_error);
        r->stream_error = NULL;
        end_request(r);
        retry_later(r);
        return;
    }
    if (r->http_status && r->http_status != 200) {
        char *msg = status_message(r->body.s, r->body.len, r->http_status);
        set_error(r, cf_xasprintf("WATCH: %s", msg));
        free(msg);
        end_request(r);
        retry_later(r);
        return;
    }
    if (result != CURLE_OK) {
        set_error(r, cf_xasprintf("watch connection lost (%s%s%s): "
                                  "resuming from resourceVersion %s",
                                  curl_easy_strerror(result),
                                  *errbuf ? ": " : "", errbuf,
                                  r->rv ? r->rv : "?"));
        end_request(r);
        retry_later(r);
        return;
    }
    /* The server ended the watch (timeoutSeconds): watch again at once,
     * unless it keeps doing so without delivering anything. */
    size_t pending = cf_json_splitter_pending(&r->splitter);
    bool progress = r->watch_progress;
    end_request(r);
    if (pending) {
        set_error(r, cf_xasprintf("watch stream ended inside an event "
                                  "(%zu bytes): resuming from "
                                  "resourceVersion %s", pending,
                                  r->rv ? r->rv : "?"));
        retry_later(r);
    } else if (progress) {
        r->state = RS_IDLE;
        r->next_attempt = cf_time_msec();
    } else {
        retry_later(r);
    }
}

/* ---- Writing the batch -------------------------------------------------- */

/* Order in which kinds are applied: namespaces before what lives in
 * them. */
static int
kind_rank(enum cf_kind kind)
{
    switch (kind) {
    case CF_KIND_NAMESPACE:
        return 0;
    case CF_KIND_NODE:
        return 1;
    case CF_KIND_POD:
        return 2;
    case CF_KIND_POLICY:
        return 3;
    }
    return 4;
}

static int
compare_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

/* Orders operations by (kind rank, namespace, name), then arrival. */
static int
compare_op_ptrs(const void *a_, const void *b_)
{
    const struct op *a = *(const struct op *const *) a_;
    const struct op *b = *(const struct op *const *) b_;
    int c = kind_rank(a->ref.kind) - kind_rank(b->ref.kind);
    if (!c) {
        c = compare_str(a->ref.ns, b->ref.ns);
    }
    if (!c) {
        c = compare_str(a->ref.name, b->ref.name);
    }
    return c ? c : (a < b ? -1 : a > b);
}

/* Frees what 'op' owns. */
static void
op_destroy(struct op *op)
{
    cf_object_destroy(op->obj);
    free(op->ref.ns);
    free(op->ref.name);
    for (size_t i = 0; i < op->n_objs; i++) {
        cf_object_destroy(op->objs[i]);
    }
    free(op->objs);
    for (size_t i = 0; i < op->n_invalid; i++) {
        free(op->invalid[i].ns);
        free(op->invalid[i].name);
    }
    free(op->invalid);
}

/* True if namespace 'ns' is in the store. */
static bool
namespace_stored(struct cf_k8s *k8s, const char *ns)
{
    struct cf_objref ref = { CF_KIND_NAMESPACE, NULL, (char *) ns };
    struct cf_object *obj = NULL;
    char *error = cf_store_get(k8s->store, &ref, &obj);
    free(error);
    bool found = obj != NULL;
    cf_object_destroy(obj);
    return found;
}

/* Writes the objects of upserts 'ops' one at a time after the store
 * refused them as a batch.  An object whose namespace is not stored yet is
 * deferred (taken from its op); others the store refuses are logged and
 * skipped. */
static void
apply_one_by_one(struct cf_k8s *k8s, struct op **ops, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct cf_object *obj = ops[i]->obj;
        enum cf_store_result result;
        uint64_t seq;
        char *error = cf_store_apply(k8s->store, &obj, 1, false, &result,
                                     &seq);
        if (!error) {
            continue;
        }
        const char *ns = cf_object_ns(obj);
        if (ns && !namespace_stored(k8s, ns)) {
            CF_DBG("%s %s/%s: namespace not stored yet: deferred",
                   cf_kind_name(obj->kind), ns, cf_object_name(obj));
            if (k8s->n_deferred >= k8s->allocated_deferred) {
                k8s->deferred = cf_x2nrealloc(k8s->deferred,
                                              &k8s->allocated_deferred,
                                              sizeof *k8s->deferred);
            }
            struct op *d = &k8s->deferred[k8s->n_deferred++];
            *d = *ops[i];
            d->ref.ns = cf_xstrdup(ops[i]->ref.ns);
            d->ref.name = cf_xstrdup(ops[i]->ref.name);
            ops[i]->obj = NULL;
        } else {
            struct cf_ds d = CF_DS_INIT;
            cf_object_describe(obj, &d);
            cf_log_rl(&invalid_rl, "k8s_watch", CF_LOG_WARN,
                      "%s: not written: %s", cf_ds_cstr(&d), error);
            cf_ds_destroy(&d);
        }
        free(error);
    }
}

/* Forgets deferred upserts of 'kind' (a LIST replaced them) or, if 'ns' is
 * nonnull, those in namespace 'ns' (it was deleted). */
static void
drop_deferred(struct cf_k8s *k8s, enum cf_kind kind, const char *ns)
{
    size_t n = 0;
    for (size_t i = 0; i < k8s->n_deferred; i++) {
        struct op *d = &k8s->deferred[i];
        if (ns ? !compare_str(d->ref.ns, ns) : d->ref.kind == kind) {
            op_destroy(d);
        } else {
            k8s->deferred[n++] = *d;
        }
    }
    k8s->n_deferred = n;
}

/* Writes operations ops[start..end) (upserts and deletes only), merged
 * per object: the last operation on an object wins. */
static void
flush_objects(struct cf_k8s *k8s, size_t start, size_t end)
{
    size_t n = end - start;
    struct op **sorted = cf_xmalloc(n * sizeof *sorted);
    for (size_t i = 0; i < n; i++) {
        sorted[i] = &k8s->ops[start + i];
    }
    qsort(sorted, n, sizeof *sorted, compare_op_ptrs);

    struct cf_object **objs = cf_xmalloc(n * sizeof *objs);
    struct op **obj_ops = cf_xmalloc(n * sizeof *obj_ops);
    struct cf_objref *refs = cf_xmalloc(n * sizeof *refs);
    size_t n_objs = 0, n_refs = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && !compare_str(sorted[i]->ref.ns, sorted[i + 1]->ref.ns)
            && !compare_str(sorted[i]->ref.name, sorted[i + 1]->ref.name)
            && sorted[i]->ref.kind == sorted[i + 1]->ref.kind) {
            continue;           /* A later operation on the same object. */
        }
        if (sorted[i]->type == OP_UPSERT) {
            obj_ops[n_objs] = sorted[i];
            objs[n_objs++] = sorted[i]->obj;
        } else {
            refs[n_refs++] = sorted[i]->ref;
            if (sorted[i]->ref.kind == CF_KIND_NAMESPACE) {
                drop_deferred(k8s, CF_KIND_NAMESPACE, sorted[i]->ref.name);
            }
        }
    }

    uint64_t seq;
    if (n_objs) {
        enum cf_store_result *results = cf_xmalloc(n_objs * sizeof *results);
        char *error = cf_store_apply(k8s->store, objs, n_objs, false,
                                     results, &seq);
        if (error) {
            CF_DBG("batch of %zu objects refused (%s): writing them one "
                   "by one", n_objs, error);
            free(error);
            apply_one_by_one(k8s, obj_ops, n_objs);
        }
        free(results);
    }
    if (n_refs) {
        enum cf_store_result *results = cf_xmalloc(n_refs * sizeof *results);
        char *error = cf_store_delete(k8s->store, refs, n_refs, false,
                                      results, &seq);
        if (error) {
            cf_log_rl(&error_rl, "k8s_watch", CF_LOG_WARN,
                      "deleting %zu objects: %s", n_refs, error);
            free(error);
        }
        free(results);
    }
    free(objs);
    free(obj_ops);
    free(refs);
    free(sorted);
}

/* Writes a completed LIST: replaces the kind, keeping the stored version
 * of objects that were listed but are invalid. */
static char *
flush_replace(struct cf_k8s *k8s, struct op *op)
{
    struct resource *r = &k8s->res[op->res];
    for (size_t i = 0; i < op->n_invalid; i++) {
        struct cf_object *old;
        char *error = cf_store_get(k8s->store, &op->invalid[i], &old);
        if (error) {
            return error;
        }
        if (old) {
            op->objs = cf_xrealloc(op->objs,
                                   (op->n_objs + 1) * sizeof *op->objs);
            op->objs[op->n_objs++] = old;
        }
    }
    uint64_t seq = 0;
    char *error = cf_store_replace_kind(k8s->store, r->def->kind, op->objs,
                                        op->n_objs, &seq);
    if (error) {
        /* One object the store refuses must not block the others: write
         * the valid ones individually and replace with those. */
        CF_DBG("%s: replace refused (%s): checking objects one by one",
               r->def->name, error);
        free(error);
        size_t n_ok = 0;
        for (size_t i = 0; i < op->n_objs; i++) {
            enum cf_store_result result;
            char *e = cf_store_apply(k8s->store, &op->objs[i], 1, true,
                                     &result, &seq);
            if (e) {
                struct cf_ds d = CF_DS_INIT;
                cf_object_describe(op->objs[i], &d);
                cf_log_rl(&invalid_rl, "k8s_watch", CF_LOG_WARN,
                          "%s: not written: %s", cf_ds_cstr(&d), e);
                cf_ds_destroy(&d);
                free(e);
                cf_object_destroy(op->objs[i]);
            } else {
                op->objs[n_ok++] = op->objs[i];
            }
        }
        op->n_objs = n_ok;
        error = cf_store_replace_kind(k8s->store, r->def->kind, op->objs,
                                      op->n_objs, &seq);
        if (error) {
            return error;
        }
    }
    if (!r->synced) {
        CF_INFO("%s: synced", r->def->name);
        health_changed(k8s, true);
    }
    r->synced = r->synced_once = true;
    return NULL;
}

/* Writes each resource's last resourceVersion to the store's meta table,
 * once the store holds the state it stands for. */
static void
persist_rvs(struct cf_k8s *k8s)
{
    k8s->rv_dirty = false;
    for (int r_id = 0; r_id < CF_K8S_N_RESOURCES; r_id++) {
        struct resource *r = &k8s->res[r_id];
        if (!r->synced || !r->rv
            || (r->stored_rv && !strcmp(r->rv, r->stored_rv))) {
            continue;
        }
        char *key = cf_k8s_meta_key(r_id);
        char *error = cf_store_meta_set(k8s->store, key, r->rv);
        free(key);
        if (error) {
            k8s->fatal = error;
            break;
        }
        free(r->stored_rv);
        r->stored_rv = cf_xstrdup(r->rv);
    }
}

/* Appends 'r''s health row (the format is in conjflow/k8s.h) to 'out',
 * with state "stopped" if 'stopped', and with the "updated" field
 * 'updated' (wall clock msec) unless it is 0. */
static void
format_health(const struct resource *r, bool stopped, long long updated,
              struct cf_ds *out)
{
    cf_ds_put_format(out, "synced=%d state=%s rv=%s events=%llu lists=%llu "
                     "watches=%llu reconnects=%llu relists=%llu "
                     "invalid=%llu errors=%llu last_event=%lld "
                     "last_error_time=%lld",
                     r->synced && !stopped,
                     stopped ? "stopped" : state_names[r->state],
                     r->rv && *r->rv ? r->rv : "-",
                     (unsigned long long) r->stats.events,
                     (unsigned long long) r->stats.lists,
                     (unsigned long long) r->stats.watches,
                     (unsigned long long) r->stats.reconnects,
                     (unsigned long long) r->stats.relists_410,
                     (unsigned long long) r->stats.invalid,
                     (unsigned long long) r->stats.errors,
                     r->last_event_time,
                     r->last_error ? r->last_error_time : 0);
    if (updated) {
        cf_ds_put_format(out, " updated=%lld", updated);
    }
    cf_ds_put_cstr(out, " error=");
    for (const char *p = r->last_error; p && *p; p++) {
        cf_ds_put_char(out, *p == '\n' || *p == '\r' ? ' ' : *p);
    }
}

/* Writes the health row of every resource whose row changed since it was
 * last written ('stopped': the engine is going away, rows say so). */
static void
persist_health(struct cf_k8s *k8s, bool stopped)
{
    long long now = wall_msec();
    k8s->health_dirty = k8s->health_urgent = false;
    for (int r_id = 0; r_id < CF_K8S_N_RESOURCES; r_id++) {
        struct resource *r = &k8s->res[r_id];
        struct cf_ds row = CF_DS_INIT;
        format_health(r, stopped, 0, &row);
        if (r->stored_health && !strcmp(r->stored_health, cf_ds_cstr(&row))) {
            cf_ds_destroy(&row);
            continue;
        }
        struct cf_ds full = CF_DS_INIT;
        format_health(r, stopped, now, &full);
        char *key = cf_k8s_health_key(r_id);
        char *error = cf_store_meta_set(k8s->store, key, cf_ds_cstr(&full));
        free(key);
        cf_ds_destroy(&full);
        if (error) {
            cf_ds_destroy(&row);
            k8s->fatal = error;
            break;
        }
        free(r->stored_health);
        r->stored_health = cf_ds_steal(&row);
    }
}

/* Writes the batch and then, if 'force_rv' or RV_PERSIST_MS have passed
 * since the last time, the resourceVersions.  (Storing a resourceVersion
 * costs a commit, an fsync; one that lags behind the objects is safe: a
 * restart replays a few events.) */
static void
flush(struct cf_k8s *k8s, bool force_rv)
{
    if (k8s->n_deferred) {
        /* Retry deferred upserts first: later operations win over them. */
        size_t n = k8s->n_deferred + k8s->n_ops;
        struct op *ops = cf_xmalloc(n * sizeof *ops);
        memcpy(ops, k8s->deferred, k8s->n_deferred * sizeof *ops);
        memcpy(ops + k8s->n_deferred, k8s->ops, k8s->n_ops * sizeof *ops);
        free(k8s->ops);
        k8s->ops = ops;
        k8s->n_ops = k8s->allocated_ops = n;
        k8s->n_deferred = 0;
    }

    size_t i = 0;
    while (i < k8s->n_ops && !k8s->fatal) {
        if (k8s->ops[i].type == OP_REPLACE) {
            drop_deferred(k8s, k8s->res[k8s->ops[i].res].def->kind, NULL);
            k8s->fatal = flush_replace(k8s, &k8s->ops[i]);
            force_rv = true;
            i++;
        } else {
            size_t j = i;
            while (j < k8s->n_ops && k8s->ops[j].type != OP_REPLACE) {
                j++;
            }
            flush_objects(k8s, i, j);
            i = j;
        }
    }
    for (i = 0; i < k8s->n_ops; i++) {
        op_destroy(&k8s->ops[i]);
    }
    k8s->n_ops = 0;
    k8s->batch_deadline = 0;
    k8s->batch_start = 0;
    k8s->flushes++;

    long long now = cf_time_msec();
    if (k8s->rv_dirty && !k8s->fatal
        && (force_rv || now >= k8s->rv_persist_time)) {
        persist_rvs(k8s);
        k8s->rv_persist_time = now + RV_PERSIST_MS;
    }
}

/* ---- The engine ------------------------------------------------------- */

/* Creates the engine (see conjflow/k8s.h). */
struct cf_k8s *
cf_k8s_create(struct cf_k8s_config *config, struct cf_store *store,
              const struct cf_k8s_options *opts)
{
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = true;
    }

    struct cf_k8s *k8s = cf_xzalloc(sizeof *k8s);
    k8s->config = config;
    k8s->store = store;
    k8s->opts = *opts;
    k8s->multi = curl_multi_init();
    for (int i = 0; i < CF_K8S_N_RESOURCES; i++) {
        struct resource *r = &k8s->res[i];
        r->k8s = k8s;
        r->id = i;
        r->def = &defs[i];
        r->state = RS_IDLE;
        r->need_list = true;
        cf_ds_init(&r->body);
        cf_json_splitter_init(&r->splitter);
    }
    return k8s;
}

/* Frees the engine, abandoning unwritten events; accepts NULL. */
void
cf_k8s_destroy(struct cf_k8s *k8s)
{
    if (!k8s) {
        return;
    }
    if (!k8s->fatal && (k8s->n_ops || k8s->n_deferred || k8s->rv_dirty)) {
        flush(k8s, true);       /* What was received is not lost. */
    }
    if (!k8s->fatal && k8s->started) {
        persist_health(k8s, true);
    }
    for (int i = 0; i < CF_K8S_N_RESOURCES; i++) {
        struct resource *r = &k8s->res[i];
        end_request(r);
        clear_list(r);
        cf_ds_destroy(&r->body);
        cf_json_splitter_destroy(&r->splitter);
        free(r->rv);
        free(r->stored_rv);
        free(r->stored_health);
        free(r->last_error);
    }
    for (size_t i = 0; i < k8s->n_ops; i++) {
        op_destroy(&k8s->ops[i]);
    }
    free(k8s->ops);
    for (size_t i = 0; i < k8s->n_deferred; i++) {
        op_destroy(&k8s->deferred[i]);
    }
    free(k8s->deferred);
    free(k8s->fatal);
    curl_multi_cleanup(k8s->multi);
    cf_k8s_config_destroy(k8s->config);
    free(k8s);
}

/* Checks that the API server answers and accepts the credentials. */
char *
cf_k8s_probe(struct cf_k8s *k8s)
{
    const struct cf_k8s_config *config = k8s->config;
    CURL *easy = curl_easy_init();
    struct curl_slist *headers = NULL;
    char *error = setup_easy(config, &k8s->opts, easy, &headers);
    if (error) {
        curl_easy_cleanup(easy);
        return error;
    }
    char *url = cf_xasprintf("%s/api", config->server);
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     (long) k8s->opts.connect_timeout_ms * 2);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
    struct resource probe;
    memset(&probe, 0, sizeof probe);
    probe.state = RS_LISTING;
    probe.easy = easy;
    cf_ds_init(&probe.body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &probe);

    CURLcode result = curl_easy_perform(easy);
    long http = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http);
    if (result != CURLE_OK) {
        error = cf_xasprintf("%s: %s%s%s (%s)", config->server,
                             curl_easy_strerror(result),
                             *errbuf ? ": " : "", errbuf, config->source);
    } else if (http == 401) {
        error = cf_xasprintf("%s: 401 Unauthorized: the API server rejected "
                             "the credentials (%s)", config->server,
                             config->source);
    } else if (http != 200) {
        char *msg = status_message(probe.body.s, probe.body.len, http);
        error = cf_xasprintf("%s: %s (%s)", config->server, msg,
                             config->source);
        free(msg);
    }
    cf_ds_destroy(&probe.body);
    free(url);
    curl_slist_free_all(headers);
    curl_easy_cleanup(easy);
    return error;
}

/* Reads the stored resourceVersions and schedules the first requests. */
void
cf_k8s_start(struct cf_k8s *k8s)
{
    long long now = cf_time_msec();
    k8s->started = true;
    health_changed(k8s, true);  /* Replace a previous run's rows. */
    for (int i = 0; i < CF_K8S_N_RESOURCES; i++) {
        struct resource *r = &k8s->res[i];
        r->state = RS_IDLE;
        r->next_attempt = now;
        if (!k8s->opts.resume) {
            continue;
        }
        char *key = cf_k8s_meta_key(i);
        char *value = NULL;
        char *error = cf_store_meta_get(k8s->store, key, &value);
        free(key);
        if (error) {
            set_error(r, error);
        } else if (value && *value) {
            CF_INFO("%s: resuming from stored resourceVersion %s",
                    r->def->name, value);
            r->rv = value;
            r->stored_rv = cf_xstrdup(value);
            r->need_list = false;
            r->synced = r->synced_once = true;
            value = NULL;
        }
        free(value);
    }
}

/* Starts the requests whose time has come; returns the next timer. */
static long long
run_timers(struct cf_k8s *k8s, long long now)
{
    long long next = LLONG_MAX;
    for (int i = 0; i < CF_K8S_N_RESOURCES; i++) {
        struct resource *r = &k8s->res[i];
        if (r->state == RS_IDLE) {
            bool wait_ns = (r->def->needs_namespaces && !r->synced_once
                            && !k8s->res[CF_K8S_NAMESPACES].synced_once);
            if (wait_ns) {
                continue;       /* Started once namespaces have synced. */
            }
            if (now >= r->next_attempt) {
                start_request(r);
            } else {
                next = CF_MIN(next, r->next_attempt);
            }
        } else if (r->state == RS_WATCHING) {
            long long stall = r->last_data + k8s->opts.stall_timeout_ms;
            if (now >= stall) {
                set_error(r, cf_xasprintf("watch stalled (no data, not even "
                                          "a bookmark, for %d ms): "
                                          "reconnecting",
                                          k8s->opts.stall_timeout_ms));
                end_request(r);
                retry_later(r);
                next = CF_MIN(next, r->next_attempt);
            } else {
                next = CF_MIN(next, stall);
            }
        }
    }
    if (k8s->batch_deadline) {
        next = CF_MIN(next, k8s->batch_deadline);
    }
    if (k8s->rv_dirty) {
        next = CF_MIN(next, k8s->rv_persist_time);
    }
    if (k8s->health_dirty) {
        next = CF_MIN(next, (k8s->health_urgent ? now
                             : k8s->health_persist_time));
    }
    return next;
}

/* Does the work that is ready (see conjflow/k8s.h). */
char *
cf_k8s_run(struct cf_k8s *k8s, struct cf_k8s_waitfd *fds, size_t n_fds,
           int max_wait_ms)
{
    if (k8s->fatal) {
        return cf_xstrdup(k8s->fatal);
    }
    long long now = cf_time_msec();
    long long next = run_timers(k8s, now);
    long long wait = next == LLONG_MAX ? max_wait_ms : next - now;
    wait = CF_MAX(0, CF_MIN(wait, max_wait_ms));

    struct curl_waitfd *extra = cf_xcalloc(n_fds ? n_fds : 1, sizeof *extra);
    for (size_t i = 0; i < n_fds; i++) {
        extra[i].fd = fds[i].fd;
        extra[i].events = ((fds[i].events & POLLIN ? CURL_WAIT_POLLIN : 0)
                           | (fds[i].events & POLLOUT ? CURL_WAIT_POLLOUT
                                                      : 0));
    }
    curl_multi_poll(k8s->multi, extra, n_fds, (int) wait, NULL);
    for (size_t i = 0; i < n_fds; i++) {
        fds[i].revents = ((extra[i].revents & CURL_WAIT_POLLIN ? POLLIN : 0)
                          | (extra[i].revents & CURL_WAIT_POLLOUT ? POLLOUT
                                                                  : 0));
    }
    free(extra);

    int running;
    curl_multi_perform(k8s->multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(k8s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        struct resource *r;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &r);
        CURLcode result = msg->data.result;
        char errbuf[CURL_ERROR_SIZE];
        memcpy(errbuf, r->errbuf, sizeof errbuf);
        errbuf[sizeof errbuf - 1] = '\0';
        if (r->state == RS_LISTING) {
            list_page_done(r, result, errbuf);
        } else {
            watch_done(r, result, errbuf);
        }
    }

    now = cf_time_msec();
    if (k8s->n_ops >= (size_t) k8s->opts.batch_max
        || (k8s->batch_deadline && now >= k8s->batch_deadline)) {
        flush(k8s, false);
    }
    if (k8s->rv_dirty && !k8s->fatal && now >= k8s->rv_persist_time) {
        persist_rvs(k8s);
        k8s->rv_persist_time = now + RV_PERSIST_MS;
    }
    if (k8s->health_dirty && !k8s->fatal
        && (k8s->health_urgent || now >= k8s->health_persist_time)) {
        persist_health(k8s, false);
        k8s->health_persist_time = now + RV_PERSIST_MS;
    }
    run_timers(k8s, now);
    return k8s->fatal ? cf_xstrdup(k8s->fatal) : NULL;
}

/* True once every resource is synced. */
bool
cf_k8s_synced(const struct cf_k8s *k8s)
{
    for (int i = 0; i < CF_K8S_N_RESOURCES; i++) {
        if (!k8s->res[i].synced) {
            return false;
        }
    }
    return true;
}

/* Copies the counters of 'id' into '*stats'. */
void
cf_k8s_get_stats(const struct cf_k8s *k8s, enum cf_k8s_resource id,
                 struct cf_k8s_stats *stats)
{
    *stats = k8s->res[id].stats;
    stats->synced = k8s->res[id].synced;
}

/* Describes the engine for "ovs-appctl status". */
void
cf_k8s_status(const struct cf_k8s *k8s, struct cf_ds *out)
{
    cf_ds_put_format(out, "API server: %s (%s)\n", k8s->config->server,
                     k8s->config->source);
    cf_ds_put_format(out, "batches written: %llu, objects waiting for "
                     "their namespace: %zu\n",
                     (unsigned long long) k8s->flushes, k8s->n_deferred);
    for (int i = 0; i < CF_K8S_N_RESOURCES; i++) {
        const struct resource *r = &k8s->res[i];
        cf_ds_put_format(out, "%s: %s, %s, resourceVersion %s, events %llu, "
                         "lists %llu, watches %llu, invalid %llu, "
                         "410 relists %llu\n", r->def->name,
                         r->synced ? "synced" : "not synced",
                         state_names[r->state], r->rv ? r->rv : "none",
                         (unsigned long long) r->stats.events,
                         (unsigned long long) r->stats.lists,
                         (unsigned long long) r->stats.watches,
                         (unsigned long long) r->stats.invalid,
                         (unsigned long long) r->stats.relists_410);
        cf_ds_put_format(out, "  errors %llu, watch reconnects %llu, ",
                         (unsigned long long) r->stats.errors,
                         (unsigned long long) r->stats.reconnects);
        if (r->last_event_time) {
            cf_ds_put_format(out, "last event or list %.1f s ago\n",
                             (wall_msec() - r->last_event_time) / 1000.0);
        } else {
            cf_ds_put_cstr(out, "no event or list yet\n");
        }
        if (r->last_error) {
            time_t t = r->last_error_time / 1000;
            struct tm tm;
            char stamp[32];
            gmtime_r(&t, &tm);
            strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
            cf_ds_put_format(out, "  last error (%s): %s\n", stamp,
                             r->last_error);
        } else {
            cf_ds_put_cstr(out, "  last error: none\n");
        }
    }
}
