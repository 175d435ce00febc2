/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflowctl: conjflow's command line, with kubectl's habits.  It applies,
 * deletes and lists manifests in the store (apply, delete, get), and
 * inspects policies (compile, explain, matrix) either on the store's state
 * or, with -f, on manifest files alone, without any store.
 *
 * It links the store, the manifest parser (jansson, libyaml) and the
 * compiler, never libopenvswitch (see tests/check-link-rule.sh).
 *
 * Every command validates all its input before it changes anything: a bad
 * manifest, an unknown name or a bad option gives a message on stderr, a
 * non-zero exit status and an unchanged store.  Exit status: 0 success, 1
 * error (explain: 0 allowed, 1 denied, 2 error).
 */
#include "conjflow-config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "conjflow/cflow.h"
#include "conjflow/cfutil.h"
#include "conjflow/compiler.h"
#include "conjflow/evaluator.h"
#include "conjflow/manifest.h"
#include "conjflow/model.h"
#include "conjflow/store.h"
#include "ctl-observe.h"
#include "ctl-table.h"

/* The namespace of namespaced objects when -n is not given. */
#define DEFAULT_NAMESPACE "default"

/* Command line options, as bits of 'struct ctx''s 'seen'. */
enum opt {
    OPT_DB = 1 << 0,
    OPT_FILE = 1 << 1,
    OPT_DRY_RUN = 1 << 2,
    OPT_NAMESPACE = 1 << 3,
    OPT_ALL_NAMESPACES = 1 << 4,
    OPT_OUTPUT = 1 << 5,
    OPT_NODE = 1 << 6,
    OPT_PORT_MAP = 1 << 7,
    OPT_PORT = 1 << 8,
    OPT_VSWITCHD_CTL = 1 << 9,
    OPT_WAIT = 1 << 10,
    OPT_CONJFLOWD_CTL = 1 << 11,
};

/* Everything the command line says. */
struct ctx {
    const char *db;             /* --db, or NULL for the default. */
    char **files;               /* -f, in order (pointers into argv). */
    size_t n_files;
    bool dry_run;               /* --dry-run. */
    const char *ns;             /* -n, or NULL. */
    bool all_namespaces;        /* -A. */
    const char *output;         /* -o, or NULL. */
    const char *node;           /* --node. */
    const char *port_map;       /* --port-map. */
    const char *port;           /* --port. */
    const char *vswitchd_ctl;   /* --vswitchd-ctl. */
    bool wait;                  /* --wait. */
    long long wait_ms;          /* --wait=MS (default 30000). */
    const char *conjflowd_ctl;  /* --conjflowd-ctl, or NULL. */
    unsigned seen;              /* OPT_* bits given. */
    char **args;                /* Positional arguments after the
                                 * command. */
    size_t n_args;
    const char *command;        /* The command name. */
};

/* The exit status of errors (2 for explain). */
static int error_status = 1;

/* Prints "conjflowctl: <message>" on stderr and exits with the error
 * status. */
static void CF_NORETURN CF_PRINTF(1, 2)
fatal(const char *format, ...)
{
    va_list args;
    fflush(stdout);
    fputs("conjflowctl: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
    exit(error_status);
}

/* Exits with 'error' (freed) if it is nonnull.  Multi-line errors are
 * printed one per line. */
static void
check(char *error)
{
    if (error) {
        fflush(stdout);
        fprintf(stderr, "conjflowctl: %s\n", error);
        free(error);
        exit(error_status);
    }
}

/* Prints the help text on stdout. */
static void
usage(void)
{
    printf("\
conjflowctl: control conjflow (Kubernetes NetworkPolicy on Open vSwitch)\n\
usage: conjflowctl [--db PATH] COMMAND [OPTIONS] [ARGS]\n\
\n\
Store commands (the store is --db PATH, else $%s, else %s):\n\
  apply -f FILE|DIR|- [-f ...] [--dry-run]   create or update objects\n\
  delete -f FILE|DIR|- [...] [--dry-run]      delete the files' objects\n\
  delete KIND NAME... [-n NS] [--dry-run]     delete objects by name\n\
    --wait[=MS]                    then wait (default 30000 ms) until\n\
                                   conjflowd enforces it on every node\n\
    --conjflowd-ctl SOCKET         its control socket (default $%s,\n\
                                   else %s,\n\
                                   else as ovs-appctl -t conjflowd)\n\
  get KIND [NAME] [-n NS | -A] [-o wide|json|yaml]\n\
                                   list networkpolicies, pods, namespaces,\n\
                                   nodes\n\
\n\
Policy inspection (on the store, or on the files given with -f):\n\
  compile --node NODE [-f FILE...] [--port-map FILE]\n\
                                   NODE's flows in ovs-ofctl syntax\n\
  explain [-f FILE...] FROM TO PORT[/PROTO]\n\
                                   is FROM (ns/pod) allowed to reach TO?\n\
                                   exit 0 allowed, 1 denied, 2 error\n\
  matrix [-f FILE...] --port PORT[/PROTO] [-o json]\n\
                                   allowed ('.') and blocked ('X') pairs\n\
  seq                              the store's last sequence number (0 if\n\
                                   there is no store yet)\n\
\n\
Observability (with conjflowd running):\n\
  status                           store seq, policies realized, and the\n\
                                   Kubernetes watches' health\n\
  stats [NODE]                     packets, bytes, connections per policy\n\
                                   rule; drops per isolated pod (stored by\n\
                                   conjflowd)\n\
  trace NODE FROM TO PORT[/PROTO] [--vswitchd-ctl SOCKET]\n\
                                   ofproto/trace a new connection through\n\
                                   NODE's bridge, explained in policy terms\n\
                                   next to explain's verdict; exit 0 agree,\n\
                                   1 disagree (a bug), 2 error\n\
\n\
Other options:\n\
  -h, --help                       this help\n\
  --version                        print the version\n\
See conjflowctl(8).\n", CF_STORE_ENV, CF_STORE_DEFAULT_PATH,
           CTL_CONJFLOWD_CTL_ENV, CTL_CONJFLOWD_CTL_DEFAULT);
}

/* Parses the command line into 'c'. */
static void
parse_options(int argc, char *argv[], struct ctx *c)
{
    enum {
        OPT_L_DB = 256, OPT_L_DRY_RUN, OPT_L_NODE, OPT_L_PORT_MAP,
        OPT_L_PORT, OPT_L_VERSION, OPT_L_VSWITCHD_CTL, OPT_L_WAIT,
        OPT_L_CONJFLOWD_CTL,
    };
    static const struct option long_options[] = {
        { "db", required_argument, NULL, OPT_L_DB },
        { "filename", required_argument, NULL, 'f' },
        { "dry-run", optional_argument, NULL, OPT_L_DRY_RUN },
        { "namespace", required_argument, NULL, 'n' },
        { "all-namespaces", no_argument, NULL, 'A' },
        { "output", required_argument, NULL, 'o' },
        { "node", required_argument, NULL, OPT_L_NODE },
        { "port-map", required_argument, NULL, OPT_L_PORT_MAP },
        { "port", required_argument, NULL, OPT_L_PORT },
        { "vswitchd-ctl", required_argument, NULL, OPT_L_VSWITCHD_CTL },
        { "wait", optional_argument, NULL, OPT_L_WAIT },
        { "conjflowd-ctl", required_argument, NULL, OPT_L_CONJFLOWD_CTL },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_L_VERSION },
        { NULL, 0, NULL, 0 },
    };

    memset(c, 0, sizeof *c);
    c->files = cf_xcalloc(argc, sizeof *c->files);
    opterr = 0;
    for (;;) {
        int option_index = 0;
        int ch = getopt_long(argc, argv, "+f:n:Ao:h", long_options,
                             &option_index);
        if (ch == -1) {
            if (optind < argc && !c->command) {
                /* The command; options may follow it. */
                c->command = argv[optind++];
                continue;
            }
            if (optind < argc) {
                c->args = cf_xrealloc(c->args, (c->n_args + 1)
                                      * sizeof *c->args);
                c->args[c->n_args++] = argv[optind++];
                continue;
            }
            break;
        }
        switch (ch) {
        case OPT_L_DB:
            c->db = optarg;
            c->seen |= OPT_DB;
            break;
        case 'f':
            c->files[c->n_files++] = optarg;
            c->seen |= OPT_FILE;
            break;
        case OPT_L_DRY_RUN:
            if (!optarg || !strcmp(optarg, "client")
                || !strcmp(optarg, "server")) {
                c->dry_run = true;
            } else if (!strcmp(optarg, "none")) {
                c->dry_run = false;
            } else {
                fatal("--dry-run=%s: use client, server or none", optarg);
            }
            c->seen |= OPT_DRY_RUN;
            break;
        case 'n':
            c->ns = optarg;
            c->seen |= OPT_NAMESPACE;
            break;
        case 'A':
            c->all_namespaces = true;
            c->seen |= OPT_ALL_NAMESPACES;
            break;
        case 'o':
            c->output = optarg;
            c->seen |= OPT_OUTPUT;
            break;
        case OPT_L_NODE:
            c->node = optarg;
            c->seen |= OPT_NODE;
            break;
        case OPT_L_PORT_MAP:
            c->port_map = optarg;
            c->seen |= OPT_PORT_MAP;
            break;
        case OPT_L_PORT:
            c->port = optarg;
            c->seen |= OPT_PORT;
            break;
        case OPT_L_VSWITCHD_CTL:
            c->vswitchd_ctl = optarg;
            c->seen |= OPT_VSWITCHD_CTL;
            break;
        case OPT_L_WAIT: {
            c->wait = true;
            c->wait_ms = 30000;
            if (optarg) {
                char *end;
                c->wait_ms = strtoll(optarg, &end, 10);
                if (*end || c->wait_ms < 0) {
                    fatal("--wait=%s: give the milliseconds to wait",
                          optarg);
                }
            }
            c->seen |= OPT_WAIT;
            break;
        }
        case OPT_L_CONJFLOWD_CTL:
            c->conjflowd_ctl = optarg;
            c->seen |= OPT_CONJFLOWD_CTL;
            break;
        case 'h':
            usage();
            exit(0);
        case OPT_L_VERSION:
            printf("conjflowctl (conjflow) %s\n", PACKAGE_VERSION);
            exit(0);
        case '?':
        default:
            if (optopt >= 256 || (optopt && strchr("fno", optopt))) {
                fatal("option %s needs an argument", argv[optind - 1]);
            }
            if (optopt) {
                fatal("unknown option -%c (see conjflowctl --help)",
                      optopt);
            }
            fatal("unknown option %s (see conjflowctl --help)",
                  argv[optind - 1]);
        }
    }
}

/* Fails if 'c' has options outside 'allowed' (OPT_* bits). */
static void
allow_options(const struct ctx *c, unsigned allowed)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        { OPT_FILE, "-f" }, { OPT_DRY_RUN, "--dry-run" },
        { OPT_NAMESPACE, "-n" }, { OPT_ALL_NAMESPACES, "-A" },
        { OPT_OUTPUT, "-o" }, { OPT_NODE, "--node" },
        { OPT_PORT_MAP, "--port-map" }, { OPT_PORT, "--port" },
        { OPT_VSWITCHD_CTL, "--vswitchd-ctl" }, { OPT_WAIT, "--wait" },
        { OPT_CONJFLOWD_CTL, "--conjflowd-ctl" },
    };
    unsigned extra = c->seen & ~(allowed | OPT_DB);
    for (size_t i = 0; i < CF_ARRAY_SIZE(names); i++) {
        if (extra & names[i].bit) {
            fatal("%s: option %s does not apply to this command",
                  c->command, names[i].name);
        }
    }
}

/* ---- Loading objects ---------------------------------------------------- */

/* Parses the -f paths of 'c' into 'list' (strict), or exits. */
static void
parse_files(const struct ctx *c, struct cf_object_list *list)
{
    cf_object_list_init(list);
    check(cf_manifest_parse_paths(c->files, c->n_files, CF_MANIFEST_STRICT,
                                  list));
}

/* Opens the store of 'c' read-only, or returns NULL if there is no store
 * file yet (an empty cluster). */
static struct cf_store *
open_store_read(const struct ctx *c)
{
    const char *path = cf_store_path(c->db);
    if (access(path, F_OK) && errno == ENOENT) {
        return NULL;
    }
    struct cf_store *store;
    check(cf_store_open(path, CF_STORE_READ_ONLY, &store));
    return store;
}

/* Opens the store of 'c' read-write (creating it if needed). */
static struct cf_store *
open_store_write(const struct ctx *c)
{
    struct cf_store *store;
    check(cf_store_open(c->db, CF_STORE_READ_WRITE, &store));
    return store;
}

/* Fills 'cluster' (initialized) from the -f files, with ids assigned, or
 * from the store.  Sorted either way. */
static void
load_cluster(const struct ctx *c, struct cf_cluster *cluster)
{
    if (c->n_files) {
        struct cf_object_list list;
        parse_files(c, &list);
        for (size_t i = 0; i < list.n; i++) {
            cf_cluster_add(cluster, list.objs[i]);
        }
        list.n = 0;
        cf_object_list_destroy(&list);
        cf_cluster_sort(cluster);
        cf_cluster_assign_ids(cluster);
    } else {
        struct cf_store *store = open_store_read(c);
        if (store) {
            uint64_t seq;
            check(cf_store_load(store, cluster, &seq));
            cf_store_close(store);
        }
    }
}

/* ---- apply, delete ------------------------------------------------------ */

/* Prints "networkpolicy x/allow-web created" for 'obj'. */
static void
print_result(const struct cf_object *obj, enum cf_store_result result,
             bool dry_run)
{
    struct cf_ds ds = CF_DS_INIT;
    cf_object_describe(obj, &ds);
    printf("%s %s%s\n", cf_ds_cstr(&ds), cf_store_result_name(result),
           dry_run ? " (dry run)" : "");
    cf_ds_destroy(&ds);
}

/* With --wait (and not a dry run), waits until conjflowd has the store as
 * it is now on every node and says so; returns the exit status (1 if that
 * did not happen in time: the store has the change, the switches may not
 * yet). */
static int
wait_enforced(const struct ctx *c)
{
    if (!c->wait || c->dry_run) {
        return 0;
    }
    char *ctl = ctl_find_conjflowd_ctl(c->conjflowd_ctl);
    char *answer;
    char *error = ctl_wait_enforced(ctl, c->wait_ms, &answer);
    free(ctl);
    if (error) {
        fflush(stdout);
        fprintf(stderr, "conjflowctl: the store has the change, but it was "
                "not confirmed enforced: %s\n", error);
        free(error);
        return 1;
    }
    unsigned long long seq = 0;
    sscanf(answer, "seq=%llu", &seq);
    printf("enforced on every node (store seq %llu)\n", seq);
    free(answer);
    return 0;
}

/* apply -f ...: creates or updates the files' objects in one transaction.
 * Returns the exit status. */
static int
cmd_apply(struct ctx *c)
{
    allow_options(c, OPT_FILE | OPT_DRY_RUN | OPT_WAIT | OPT_CONJFLOWD_CTL);
    if (!c->n_files) {
        fatal("apply: give the manifests with -f FILE|DIR|-");
    }
    if (c->n_args) {
        fatal("apply: unexpected argument \"%s\"", c->args[0]);
    }
    struct cf_object_list list;
    parse_files(c, &list);
    if (!list.n) {
        fatal("apply: no objects found in the files given");
    }

    struct cf_store *store = open_store_write(c);
    enum cf_store_result *results = cf_xcalloc(list.n, sizeof *results);
    uint64_t seq;
    check(cf_store_apply(store, list.objs, list.n, c->dry_run, results,
                         &seq));
    for (size_t i = 0; i < list.n; i++) {
        print_result(list.objs[i], results[i], c->dry_run);
    }
    free(results);
    cf_store_close(store);
    cf_object_list_destroy(&list);
    return wait_enforced(c);
}

/* Deletes the 'n' objects of 'refs' and prints what happened; objects not
 * found are reported on stderr.  Returns the exit status. */
static int
delete_refs(const struct ctx *c, const struct cf_objref *refs, size_t n)
{
    /* Namespaces last, so that a file's pods and policies are reported
     * deleted rather than gone with their namespace. */
    struct cf_objref *order = cf_xcalloc(n, sizeof *order);
    size_t *where = cf_xcalloc(n, sizeof *where);
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if ((refs[i].kind == CF_KIND_NAMESPACE) == (pass == 1)) {
                where[k] = i;
                order[k++] = refs[i];
            }
        }
    }

    struct cf_store *store = open_store_write(c);
    enum cf_store_result *ordered = cf_xcalloc(n, sizeof *ordered);
    enum cf_store_result *results = cf_xcalloc(n, sizeof *results);
    uint64_t seq;
    check(cf_store_delete(store, order, n, c->dry_run, ordered, &seq));
    for (size_t i = 0; i < n; i++) {
        results[where[i]] = ordered[i];
    }
    free(order);
    free(where);
    free(ordered);
    int status = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cf_objref *ref = &refs[i];
        const char *ns = cf_kind_namespaced(ref->kind) ? ref->ns : NULL;
        if (results[i] == CF_STORE_DELETED) {
            printf("%s %s%s%s deleted%s\n", cf_kind_name(ref->kind),
                   ns ? ns : "", ns ? "/" : "", ref->name,
                   c->dry_run ? " (dry run)" : "");
        } else {
            fflush(stdout);
            fprintf(stderr, "conjflowctl: %s %s%s%s not found\n",
                    cf_kind_name(ref->kind), ns ? ns : "", ns ? "/" : "",
                    ref->name);
            status = 1;
        }
    }
    free(results);
    cf_store_close(store);
    return status;
}

/* delete -f ... | delete KIND NAME...: deletes objects in one transaction.
 * Returns the exit status. */
static int
cmd_delete(struct ctx *c)
{
    int status;
    if (c->n_files) {
        allow_options(c, OPT_FILE | OPT_DRY_RUN | OPT_WAIT
                      | OPT_CONJFLOWD_CTL);
        if (c->n_args) {
            fatal("delete: give either -f or KIND NAME..., not both");
        }
        struct cf_object_list list;
        parse_files(c, &list);
        struct cf_objref *refs = cf_xcalloc(list.n, sizeof *refs);
        for (size_t i = 0; i < list.n; i++) {
            refs[i].kind = list.objs[i]->kind;
            refs[i].ns = (char *) cf_object_ns(list.objs[i]);
            refs[i].name = (char *) cf_object_name(list.objs[i]);
        }
        status = delete_refs(c, refs, list.n);
        free(refs);
        cf_object_list_destroy(&list);
    } else {
        allow_options(c, OPT_NAMESPACE | OPT_DRY_RUN | OPT_WAIT
                      | OPT_CONJFLOWD_CTL);
        enum cf_kind kind;
        if (c->n_args < 2) {
            fatal("delete: give -f FILE, or KIND NAME... (e.g. delete "
                  "networkpolicy allow-web -n x)");
        }
        if (!cf_kind_parse(c->args[0], &kind)) {
            fatal("delete: unknown kind \"%s\" (networkpolicy, pod, "
                  "namespace or node)", c->args[0]);
        }
        if (!cf_kind_namespaced(kind) && c->ns) {
            fatal("delete: a %s has no namespace (drop -n)",
                  cf_kind_name(kind));
        }
        size_t n = c->n_args - 1;
        struct cf_objref *refs = cf_xcalloc(n, sizeof *refs);
        for (size_t i = 0; i < n; i++) {
            refs[i].kind = kind;
            refs[i].ns = (char *) (cf_kind_namespaced(kind)
                                   ? (c->ns ? c->ns : DEFAULT_NAMESPACE)
                                   : NULL);
            refs[i].name = c->args[i + 1];
        }
        status = delete_refs(c, refs, n);
        free(refs);
    }
    int wait_status = wait_enforced(c);
    return status ? status : wait_status;
}

/* ---- get ---------------------------------------------------------------- */

/* get KIND [NAME]: prints objects as a table, JSON or YAML.  Returns the
 * exit status. */
static int
cmd_get(struct ctx *c)
{
    allow_options(c, OPT_NAMESPACE | OPT_ALL_NAMESPACES | OPT_OUTPUT);
    if (c->n_args < 1 || c->n_args > 2) {
        fatal("get: give a kind and optionally a name (e.g. get "
              "networkpolicies -n x)");
    }
    enum cf_kind kind;
    if (!cf_kind_parse(c->args[0], &kind)) {
        fatal("get: unknown kind \"%s\" (networkpolicies, pods, namespaces "
              "or nodes)", c->args[0]);
    }
    const char *output = c->output ? c->output : "";
    bool wide = !strcmp(output, "wide");
    bool json = !strcmp(output, "json");
    bool yaml = !strcmp(output, "yaml");
    if (c->output && !wide && !json && !yaml) {
        fatal("get: -o %s: use wide, json or yaml", c->output);
    }
    if (c->ns && c->all_namespaces) {
        fatal("get: give -n or -A, not both");
    }
    bool namespaced = cf_kind_namespaced(kind);
    const char *ns = (!namespaced || c->all_namespaces ? NULL
                      : c->ns ? c->ns : DEFAULT_NAMESPACE);
    const char *name = c->n_args == 2 ? c->args[1] : NULL;
    if (name && c->all_namespaces) {
        fatal("get: a name cannot be combined with -A");
    }

    struct cf_store *store = open_store_read(c);
    struct cf_object **objs = NULL;
    size_t n = 0;
    if (name) {
        struct cf_objref ref = { kind, (char *) ns, (char *) name };
        struct cf_object *obj = NULL;
        if (store) {
            check(cf_store_get(store, &ref, &obj));
        }
        if (!obj) {
            fatal("%s %s%s%s not found", cf_kind_name(kind), ns ? ns : "",
                  ns ? "/" : "", name);
        }
        objs = cf_xmalloc(sizeof *objs);
        objs[n++] = obj;
    } else if (store) {
        check(cf_store_list(store, kind, ns, &objs, &n));
    }
    char *realization = NULL;
    if (store && wide && kind == CF_KIND_POLICY) {
        check(cf_store_meta_get(store, "realization", &realization));
    }
    ctl_table_set_realization(realization);
    cf_store_close(store);

    if (json || yaml) {
        struct cf_ds out = CF_DS_INIT;
        if (json) {
            cf_manifest_format_json(objs, n, !name, &out);
        } else {
            cf_manifest_format_yaml(objs, n, !name, &out);
        }
        fputs(cf_ds_cstr(&out), stdout);
        cf_ds_destroy(&out);
    } else if (!n) {
        if (ns) {
            fprintf(stderr, "No resources found in %s namespace.\n", ns);
        } else {
            fprintf(stderr, "No resources found\n");
        }
    } else {
        struct cf_ds out = CF_DS_INIT;
        ctl_table_format(kind, objs, n, !ns && namespaced, wide, &out);
        fputs(cf_ds_cstr(&out), stdout);
        cf_ds_destroy(&out);
    }
    for (size_t i = 0; i < n; i++) {
        cf_object_destroy(objs[i]);
    }
    free(objs);
    ctl_table_set_realization(NULL);
    free(realization);
    return 0;
}

/* ---- compile ------------------------------------------------------------ */

/* Reads the whole file 'path' ("-" for stdin) into a new string. */
static char *
read_file(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        fatal("%s: %s", path, strerror(errno));
    }
    struct cf_ds ds = CF_DS_INIT;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        cf_ds_put_buf(&ds, buf, n);
    }
    if (ferror(f)) {
        fatal("%s: read error", path);
    }
    if (f != stdin) {
        fclose(f);
    }
    return cf_ds_steal(&ds);
}

/* compile --node NODE: prints the node's flows in ovs-ofctl syntax.
 * Returns the exit status. */
static int
cmd_compile(struct ctx *c)
{
    allow_options(c, OPT_FILE | OPT_NODE | OPT_PORT_MAP);
    if (!c->node) {
        fatal("compile: give the node with --node NODE");
    }
    if (c->n_args) {
        fatal("compile: unexpected argument \"%s\"", c->args[0]);
    }
    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    load_cluster(c, &cluster);
    const struct cf_node *node = cf_cluster_find_node(&cluster, c->node);
    if (!node) {
        fatal("compile: node %s not found (%s)", c->node,
              c->n_files ? "in the files given" : "in the store");
    }

    struct cf_node_ports ports;
    cf_node_ports_init(&ports);
    if (c->port_map) {
        char *text = read_file(c->port_map);
        check(cf_node_ports_parse(text, c->port_map, &ports));
        free(text);
    } else if (!c->n_files) {
        struct cf_store *store = open_store_read(c);
        if (store) {
            check(cf_store_get_bindings(store, c->node, &ports));
            cf_store_close(store);
        }
    }

    struct cf_compiler *compiler = cf_compiler_create(&cluster);
    struct cflow_set flows;
    cflow_set_init(&flows);
    check(cf_compiler_node_flows(compiler, node, &ports, &flows));
    struct cf_ds line = CF_DS_INIT;
    for (size_t i = 0; i < flows.n; i++) {
        cf_ds_clear(&line);
        cflow_format(&flows.flows[i], &line);
        puts(cf_ds_cstr(&line));
    }
    cf_ds_destroy(&line);
    cflow_set_destroy(&flows);
    cf_compiler_destroy(compiler);
    cf_node_ports_destroy(&ports);
    cf_cluster_destroy(&cluster);
    return 0;
}

/* ---- explain, matrix ---------------------------------------------------- */

/* Parses "PORT" or "PORT/PROTO" (protocol in any case, default TCP). */
static void
parse_port_proto(const char *s, uint16_t *port, enum cf_proto *proto)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (!isdigit((unsigned char) s[0]) || errno || v < 1 || v > 65535
        || (*end && *end != '/')) {
        fatal("\"%s\": expected PORT or PORT/PROTO, e.g. 80/TCP (port "
              "1..65535)", s);
    }
    *port = v;
    *proto = CF_PROTO_TCP;
    if (*end == '/') {
        char upper[8];
        size_t i;
        for (i = 0; end[1 + i] && i < sizeof upper - 1; i++) {
            upper[i] = toupper((unsigned char) end[1 + i]);
        }
        upper[i] = '\0';
        if (end[1 + i] || !cf_proto_parse(upper, proto)) {
            fatal("\"%s\": unknown protocol \"%s\" (TCP, UDP or SCTP)", s,
                  end + 1);
        }
    }
}

/* Finds pod "ns/name" in 'cluster', or exits. */
static const struct cf_pod *
find_pod(const struct cf_cluster *cluster, const char *ref)
{
    const char *slash = strchr(ref, '/');
    if (!slash || slash == ref || !slash[1]) {
        fatal("\"%s\": name pods as NAMESPACE/NAME", ref);
    }
    char *ns = cf_xmemdup0(ref, slash - ref);
    const struct cf_pod *pod = cf_cluster_find_pod(cluster, ns, slash + 1);
    free(ns);
    if (!pod) {
        fatal("pod %s not found", ref);
    }
    return pod;
}

/* explain FROM TO PORT[/PROTO]: prints the evaluator's verdict and its
 * reasons.  Returns 0 if allowed, 1 if denied (errors exit with 2). */
static int
cmd_explain(struct ctx *c)
{
    error_status = 2;
    allow_options(c, OPT_FILE);
    if (c->n_args != 3) {
        fatal("explain: give FROM TO PORT[/PROTO], e.g. explain x/client "
              "x/web 80/TCP");
    }
    uint16_t port;
    enum cf_proto proto;
    parse_port_proto(c->args[2], &port, &proto);
    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    load_cluster(c, &cluster);
    const struct cf_pod *src = find_pod(&cluster, c->args[0]);
    const struct cf_pod *dst = find_pod(&cluster, c->args[1]);

    struct cf_eval_verdict verdict;
    struct cf_ds why = CF_DS_INIT;
    bool allowed = cf_eval_pods(&cluster, src, dst, port, proto, &verdict,
                                &why);
    printf("%s: %s/%s -> %s/%s on %u/%s\n", allowed ? "allowed" : "denied",
           src->ns, src->name, dst->ns, dst->name, port,
           cf_proto_name(proto));
    if (why.len) {
        cf_ds_chomp(&why, '\n');
        printf("%s\n", cf_ds_cstr(&why));
    }
    cf_ds_destroy(&why);
    cf_cluster_destroy(&cluster);
    return allowed ? 0 : 1;
}

/* matrix --port PORT[/PROTO]: prints the allowed/blocked table of every
 * pair of pods.  Returns the exit status. */
static int
cmd_matrix(struct ctx *c)
{
    allow_options(c, OPT_FILE | OPT_PORT | OPT_OUTPUT);
    if (!c->port) {
        fatal("matrix: give the port with --port PORT[/PROTO]");
    }
    if (c->n_args) {
        fatal("matrix: unexpected argument \"%s\"", c->args[0]);
    }
    bool json = c->output && !strcmp(c->output, "json");
    if (c->output && !json) {
        fatal("matrix: -o %s: only -o json is supported", c->output);
    }
    uint16_t port;
    enum cf_proto proto;
    parse_port_proto(c->port, &port, &proto);
    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    load_cluster(c, &cluster);

    size_t n = cluster.n_pods;
    char **rows = cf_xcalloc(n, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        rows[i] = cf_xmalloc(n + 1);
        for (size_t j = 0; j < n; j++) {
            struct cf_eval_verdict verdict;
            rows[i][j] = (cf_eval_pods(&cluster, cluster.pods[i],
                                       cluster.pods[j], port, proto,
                                       &verdict, NULL) ? '.' : 'X');
        }
        rows[i][n] = '\0';
    }

    if (json) {
        json_t *pods = json_array(), *matrix = json_array();
        for (size_t i = 0; i < n; i++) {
            char *name = cf_xasprintf("%s/%s", cluster.pods[i]->ns,
                                      cluster.pods[i]->name);
            json_array_append_new(pods, json_string(name));
            json_array_append_new(matrix, json_string(rows[i]));
            free(name);
        }
        json_t *top = json_object();
        json_object_set_new(top, "pods", pods);
        json_object_set_new(top, "matrix", matrix);
        char *s = json_dumps(top, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(s);
        free(s);
        json_decref(top);
    } else {
        size_t width = 0;
        for (size_t i = 0; i < n; i++) {
            width = CF_MAX(width, strlen(cluster.pods[i]->ns) + 1
                           + strlen(cluster.pods[i]->name));
        }
        printf("# %u/%s: rows from, columns to; '.' allowed, "
               "'X' blocked\n", port, cf_proto_name(proto));
        for (size_t i = 0; i < n; i++) {
            printf("# %3zu %s/%s\n", i, cluster.pods[i]->ns,
                   cluster.pods[i]->name);
        }
        for (size_t i = 0; i < n; i++) {
            char *name = cf_xasprintf("%s/%s", cluster.pods[i]->ns,
                                      cluster.pods[i]->name);
            printf("%-*s  %s\n", (int) width, name, rows[i]);
            free(name);
        }
    }
    for (size_t i = 0; i < n; i++) {
        free(rows[i]);
    }
    free(rows);
    cf_cluster_destroy(&cluster);
    return 0;
}

/* ---- seq ---------------------------------------------------------------- */

/* seq: prints the sequence number of the store's last commit (0 when there
 * is no store file yet), e.g. for a script that waits until conjflowd has
 * caught up with what it applied.  Returns the exit status. */
static int
cmd_seq(struct ctx *c)
{
    allow_options(c, 0);
    if (c->n_args) {
        fatal("seq: unexpected argument \"%s\"", c->args[0]);
    }
    uint64_t seq = 0;
    struct cf_store *store = open_store_read(c);
    if (store) {
        check(cf_store_seq(store, &seq));
        cf_store_close(store);
    }
    printf("%"PRIu64"\n", seq);
    return 0;
}

/* ---- stats, trace (ctl-observe.c) --------------------------------------- */

/* stats [NODE]: the per-rule counters conjflowd stored.  Returns the exit
 * status. */
static int
cmd_stats(struct ctx *c)
{
    allow_options(c, 0);
    if (c->n_args > 1) {
        fatal("stats: give at most a node name");
    }
    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    load_cluster(c, &cluster);
    struct cf_store *store = open_store_read(c);
    int status = ctl_stats(store, &cluster, c->n_args ? c->args[0] : NULL);
    cf_store_close(store);
    cf_cluster_destroy(&cluster);
    return status;
}

/* status: the store's sequence number, realization and Kubernetes watch
 * health (see ctl_status()).  Returns the exit status. */
static int
cmd_status(struct ctx *c)
{
    allow_options(c, 0);
    if (c->n_args) {
        fatal("status: unexpected argument \"%s\"", c->args[0]);
    }
    struct cf_store *store = open_store_read(c);
    int status = ctl_status(store);
    cf_store_close(store);
    return status;
}

/* trace NODE FROM TO PORT[/PROTO]: see ctl_trace().  Returns the exit
 * status (0 agree, 1 disagree, 2 error). */
static int
cmd_trace(struct ctx *c)
{
    error_status = 2;
    allow_options(c, OPT_VSWITCHD_CTL);
    if (c->n_args != 4) {
        fatal("trace: give NODE FROM TO PORT[/PROTO], e.g. trace n1 x/a "
              "x/b 80/TCP");
    }
    uint16_t port;
    enum cf_proto proto;
    parse_port_proto(c->args[3], &port, &proto);
    struct cf_cluster cluster;
    cf_cluster_init(&cluster);
    load_cluster(c, &cluster);
    struct cf_store *store = open_store_read(c);
    int status = ctl_trace(store, &cluster, c->args[0], c->args[1],
                           c->args[2], port, proto, c->vswitchd_ctl);
    cf_store_close(store);
    cf_cluster_destroy(&cluster);
    return status;
}

/* ---- main --------------------------------------------------------------- */

/* Seeds jansson's hash function (its defense against colliding keys) from
 * getrandom(): the same kernel source jansson would read, without opening
 * /dev/urandom, which costs a run of conjflowctl measurable time.  Must run
 * before any other jansson call; if getrandom() fails, jansson seeds
 * itself as usual. */
static void
seed_jansson(void)
{
    size_t seed = 0;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) == sizeof seed
        && seed) {
        json_object_seed(seed);
    }
}

/* Parses the command line and runs the command; returns its exit
 * status. */
int
main(int argc, char *argv[])
{
    static const struct {
        const char *name;
        int (*run)(struct ctx *);
    } commands[] = {
        { "apply", cmd_apply }, { "delete", cmd_delete },
        { "get", cmd_get }, { "compile", cmd_compile },
        { "explain", cmd_explain }, { "matrix", cmd_matrix },
        { "seq", cmd_seq }, { "stats", cmd_stats },
        { "status", cmd_status }, { "trace", cmd_trace },
    };

    seed_jansson();
    struct ctx c;
    parse_options(argc, argv, &c);
    if (!c.command) {
        fatal("no command given (apply, delete, get, compile, explain, "
              "matrix, seq; see conjflowctl --help)");
    }
    for (size_t i = 0; i < CF_ARRAY_SIZE(commands); i++) {
        if (!strcmp(c.command, commands[i].name)) {
            int status = commands[i].run(&c);
            free(c.files);
            free(c.args);
            return status;
        }
    }
    fatal("unknown command \"%s\" (see conjflowctl --help)", c.command);
}
