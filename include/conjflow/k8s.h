/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflow-k8s's library (k8s/libcfk8s.la): follows a Kubernetes API
 * server and keeps the store equal to it.
 *
 *   - struct cf_k8s_config: where the API server is and how to talk to it,
 *     from a kubeconfig file or from a pod's service account (in-cluster).
 *   - struct cf_json_splitter: cuts a byte stream (a watch response, read
 *     in whatever pieces the network delivers) into JSON values.
 *   - cf_k8s_object_from_json(): one API object into a model object;
 *     Kubernetes Nodes become conjflow Nodes.
 *   - struct cf_k8s: the list/watch engine for namespaces, pods,
 *     networkpolicies and nodes, all four concurrently in one thread (one
 *     libcurl multi handle), writing to the store in batches.
 *
 * Usage: cf_k8s_config_load(), cf_store_open(), cf_k8s_create(),
 * cf_k8s_probe() (fails if the API server cannot be reached or rejects
 * the credentials), then call cf_k8s_run() in a loop.
 * cf_k8s_status() describes each resource for "ovs-appctl status".
 *
 * Uses libcurl, jansson and libyaml: never link with libopenvswitch.
 * Errors are malloc'd messages the caller frees, NULL meaning success.
 */
#ifndef CONJFLOW_K8S_H
#define CONJFLOW_K8S_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conjflow/model.h"

struct cf_ds;
struct cf_store;
struct json_t;

/* ---- Configuration ------------------------------------------------------ */

/* A blob of bytes or a file name: one of the two is set, or neither. */
struct cf_k8s_blob {
    char *file;                 /* File name (absolute), or NULL. */
    char *data;                 /* Contents (decoded), or NULL. */
    size_t len;                 /* Length of 'data'. */
};

/* How to reach and authenticate to the API server.  TLS is always
 * verified (insecure-skip-tls-verify is refused). */
struct cf_k8s_config {
    char *server;               /* "https://host:port", no trailing '/'. */
    struct cf_k8s_blob ca;      /* CA bundle (PEM); neither: system CAs. */
    struct cf_k8s_blob cert;    /* Client certificate (PEM), optional. */
    struct cf_k8s_blob key;     /* Client key (PEM), with 'cert'. */
    char *token;                /* Bearer token, or NULL.  Never logged. */
    char *token_file;           /* File holding the token (re-read on every
                                 * connection, since bound service-account
                                 * tokens rotate), or NULL. */
    char *source;               /* Where it came from, for messages:
                                 * "kubeconfig FILE, context C" or
                                 * "in-cluster service account". */
};

/* Loads the configuration.  With 'kubeconfig' nonnull, reads that file.
 * Otherwise the files of $KUBECONFIG (a ':'-separated list) that exist,
 * merged as kubectl merges them (contexts, clusters and users by name:
 * the first file to define a name wins; current-context from the first
 * file that sets one; relative paths relative to the file that holds
 * them; missing and empty files skipped), else ~/.kube/config if it
 * exists, else the in-cluster configuration if $KUBERNETES_SERVICE_HOST is
 * set.  'context' selects a context (NULL: the current-context). */
char *cf_k8s_config_load(const char *kubeconfig, const char *context,
                         struct cf_k8s_config **configp);
/* Parses kubeconfig YAML 'text' ('len' bytes).  'file_name' names it in
 * messages and relative paths in it are relative to its directory. */
char *cf_k8s_config_parse(const char *text, size_t len,
                          const char *file_name, const char *context,
                          struct cf_k8s_config **configp);
/* The in-cluster configuration: the API server from
 * $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT, token and CA from
 * 'sa_dir' (NULL: /var/run/secrets/kubernetes.io/serviceaccount). */
char *cf_k8s_config_in_cluster(const char *sa_dir,
                               struct cf_k8s_config **configp);
void cf_k8s_config_destroy(struct cf_k8s_config *);
/* The bearer token to send now (from 'token_file' if set), or NULL in
 * '*tokenp' for none.  The caller frees it. */
char *cf_k8s_config_token(const struct cf_k8s_config *, char **tokenp);

/* Decodes base64 'in' ('len' bytes, whitespace ignored) into a malloc'd
 * buffer '*outp' of '*out_lenp' bytes (null-terminated too).  Returns
 * false if 'in' is not valid base64. */
bool cf_base64_decode(const char *in, size_t len, char **outp,
                      size_t *out_lenp);

/* ---- Splitting a stream into JSON values -------------------------------- */

/* Cuts a byte stream into top-level JSON objects (or arrays), however the
 * bytes arrive: a value may span many pieces, a piece may hold many values.
 * Whitespace between values (the API server's newlines) is skipped.
 *
 *     cf_json_splitter_feed(&s, data, n);
 *     while ((value = cf_json_splitter_next(&s, &len))) ...
 */
struct cf_json_splitter {
    char *buf;                  /* Bytes not yet returned. */
    size_t len;                 /* Bytes in 'buf'. */
    size_t allocated;           /* Bytes allocated for 'buf'. */
    size_t start;               /* Start of the current value in 'buf'. */
    size_t pos;                 /* Next byte to scan. */
    int depth;                  /* Nesting depth at 'pos'. */
    bool in_string;             /* 'pos' is inside a string. */
    bool escape;                /* The previous byte was a backslash. */
    bool error;                 /* Garbage between values: see _next(). */
};
void cf_json_splitter_init(struct cf_json_splitter *);
void cf_json_splitter_destroy(struct cf_json_splitter *);
/* Clears any partial value (after a reconnection). */
void cf_json_splitter_reset(struct cf_json_splitter *);
void cf_json_splitter_feed(struct cf_json_splitter *, const char *, size_t);
/* Returns the next complete value ('*lenp' bytes, valid until the next
 * call) or NULL if none is complete yet.  Sets 's->error' (and returns
 * NULL) if something other than whitespace, '{' or '[' starts a value. */
const char *cf_json_splitter_next(struct cf_json_splitter *, size_t *lenp);
/* Bytes buffered in an incomplete value. */
size_t cf_json_splitter_pending(const struct cf_json_splitter *);

/* ---- Objects ----------------------------------------------------------- */

/* How Kubernetes Nodes become conjflow Nodes. */
struct cf_k8s_node_options {
    const char *ovsdb_template; /* e.g. "ssl:{InternalIP}:6640", used
                                 * without a conjflow.io/ovsdb annotation;
                                 * {InternalIP}, {ExternalIP}, {Hostname},
                                 * {Name} are replaced (IPv6 in []). */
    const char *bridge;         /* Without a conjflow.io/bridge annotation
                                 * (NULL: "br-int"). */
};
#define CF_K8S_DEFAULT_OVSDB_TEMPLATE "ssl:{InternalIP}:6640"

/* Converts one object of 'kind' from the API (JSON) into a validated model
 * object.  Namespaces, Pods and NetworkPolicies go through the manifest
 * parser (lenient: status and other fields are ignored); Nodes are built
 * here from annotations, 'opts' and status.addresses.  Returns NULL or a
 * malloc'd message naming the object and the field. */
char *cf_k8s_object_from_json(enum cf_kind, const struct json_t *,
                              const struct cf_k8s_node_options *opts,
                              struct cf_object **objp);
/* A NetworkPolicy the API server serves but cf_k8s_object_from_json()
 * rejects (e.g. more rules than conjflow supports) must not leave the pods
 * it selects open: this makes of API object 'obj' a policy with its name,
 * namespace, podSelector (every pod of the namespace if that cannot be
 * read either) and policyTypes (as the API server defaults them), its
 * annotations plus "conjflow.io/fail-closed": 'why', and no rules, which
 * isolates those pods with nothing allowed: fail closed.  Returns NULL or
 * a malloc'd message if not even that can be made. */
char *cf_k8s_policy_fail_closed(const struct json_t *obj, const char *why,
                                struct cf_object **objp);
char *cf_k8s_node_from_json(const struct json_t *,
                            const struct cf_k8s_node_options *opts,
                            struct cf_object **objp);

/* ---- The list/watch engine --------------------------------------------- */

/* Tuning; cf_k8s_options_init() sets the defaults. */
struct cf_k8s_options {
    struct cf_k8s_node_options node;  /* Node conversion. */
    int page_size;              /* LIST limit (500). */
    int stall_timeout_ms;       /* No byte, not even a bookmark, for this
                                 * long: the watch is reconnected (60000). */
    int watch_timeout_s;        /* timeoutSeconds asked of the server
                                 * (randomized up to 2x; 300). */
    int batch_ms;               /* Events are collected at most this long
                                 * before one store transaction, less if
                                 * they stop coming for 3 ms (50). */
    int batch_max;              /* ...or until this many (1000). */
    int backoff_min_ms;         /* First retry delay after an error (500). */
    int backoff_max_ms;         /* Largest retry delay (30000). */
    int connect_timeout_ms;     /* TCP+TLS connect timeout (10000). */
    bool resume;                /* Resume from the store's
                                 * resourceVersions (true). */
};
void cf_k8s_options_init(struct cf_k8s_options *);

/* The resources followed, in the order they are written. */
enum cf_k8s_resource {
    CF_K8S_NAMESPACES,
    CF_K8S_NODES,
    CF_K8S_PODS,
    CF_K8S_POLICIES,
};
#define CF_K8S_N_RESOURCES 4
/* "namespaces", "nodes", "pods", "networkpolicies". */
const char *cf_k8s_resource_name(enum cf_k8s_resource);
/* The store meta key holding a resource's resourceVersion:
 * "k8s/<resource>/resourceVersion". */
char *cf_k8s_meta_key(enum cf_k8s_resource);

/* Watch health in the store's meta table, for conjflowd's metrics and
 * "conjflowctl status" (which cannot ask conjflow-k8s): the key
 * "k8s/watch/<resource>" of each resource holds one line of space-separated
 * NAME=VALUE fields, in this order:
 *
 *   synced=0|1 state=STATE rv=RV events=N lists=N watches=N reconnects=N
 *   relists=N invalid=N errors=N last_event=MS last_error_time=MS
 *   updated=MS error=TEXT
 *
 * STATE is "waiting", "listing", "watching", or "stopped" (conjflow-k8s
 * exited; then synced=0).  RV is the last resourceVersion seen ("-":
 * none).  The counters are those of struct cf_k8s_stats ('relists' is
 * relists_410) since conjflow-k8s started.  MS are wall-clock times in
 * milliseconds since the Unix epoch (0: never): 'last_event' is the last
 * watch event (bookmarks included) or completed LIST, 'updated' when the
 * row was written.  'error' is the last error (newlines made spaces), and
 * comes last: its value is the rest of the line, empty if none.  Readers
 * ignore fields they do not know.  A row is written at once when its
 * resource becomes synced or meets an error, otherwise at most once a
 * second and only when it changed; and once more, "stopped", at exit. */
#define CF_K8S_HEALTH_PREFIX "k8s/watch/"
/* "k8s/watch/<resource>" (the caller frees it). */
char *cf_k8s_health_key(enum cf_k8s_resource);

struct cf_k8s;

/* Creates the engine; takes ownership of 'config', not of 'store' (which
 * must outlive it). */
struct cf_k8s *cf_k8s_create(struct cf_k8s_config *config,
                             struct cf_store *store,
                             const struct cf_k8s_options *);
void cf_k8s_destroy(struct cf_k8s *);

/* One blocking request to the API server (GET /api) to check the address,
 * TLS and credentials at start-up.  Returns NULL or a message such as
 * "https://10.0.0.1:6443: 401 Unauthorized: the API server rejected the
 * credentials (kubeconfig ~/.kube/config, context prod)". */
char *cf_k8s_probe(struct cf_k8s *);

/* Starts following (reads the stored resourceVersions, starts the first
 * requests).  Call once, before cf_k8s_run(). */
void cf_k8s_start(struct cf_k8s *);

/* A file descriptor the caller wants cf_k8s_run() to wait for too. */
struct cf_k8s_waitfd {
    int fd;                     /* The descriptor. */
    short events;               /* POLLIN, POLLOUT. */
    short revents;              /* Set on return. */
};

/* Does all the work that is ready: network I/O, events, store writes,
 * timers.  Waits at most 'max_wait_ms' for something to do, or until one
 * of 'fds' is ready.  Returns NULL or an error that stops the engine (a
 * store that cannot be written). */
char *cf_k8s_run(struct cf_k8s *, struct cf_k8s_waitfd *fds, size_t n_fds,
                 int max_wait_ms);

/* True once every resource is synced (listed, or resumed). */
bool cf_k8s_synced(const struct cf_k8s *);
/* Appends a description of every resource: synced or not, its
 * resourceVersion, events seen, last error. */
void cf_k8s_status(const struct cf_k8s *, struct cf_ds *);

/* Counters of one resource, for tests and benchmarks. */
struct cf_k8s_stats {
    bool synced;                /* Listed or resumed, and watching. */
    uint64_t events;            /* Watch events seen (all types). */
    uint64_t lists;             /* Complete LISTs. */
    uint64_t watches;           /* WATCH requests started. */
    uint64_t invalid;           /* Objects skipped as invalid. */
    uint64_t relists_410;       /* Relists forced by 410 Gone. */
    uint64_t errors;            /* Errors (each one also "last error"). */
    uint64_t reconnects;        /* Watches broken (connection lost,
                                 * stalled, error) and resumed. */
};
void cf_k8s_get_stats(const struct cf_k8s *, enum cf_k8s_resource,
                      struct cf_k8s_stats *);

#endif /* conjflow/k8s.h */
