/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflow-k8s: follows a Kubernetes API server (namespaces, pods,
 * networkpolicies, nodes) and keeps conjflow's store equal to it.  The
 * work is in k8s/watch.c; this file is the daemon around it: options (and
 * the configuration file), start-up checks, OVS's daemon conventions, the
 * unixctl commands and the main loop.
 */
#include "conjflow-config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conjflow/cfconfig.h"
#include "conjflow/cfutil.h"
#include "conjflow/k8s.h"
#include "conjflow/store.h"
#include "k8s/cfdaemon.h"
#include "k8s/cflog.h"
#include "k8s/cfunixctl.h"

CF_LOG_DEFINE_THIS_MODULE(conjflow_k8s);

#define PROGRAM "conjflow-k8s"

static volatile sig_atomic_t exiting;  /* A signal asked us to exit. */
static int signal_pipe[2] = { -1, -1 }; /* Wakes the main loop. */
static bool exit_requested;           /* "ovs-appctl exit". */

/* Options not kept in struct cf_k8s_options. */
struct settings {
    const char *kubeconfig;     /* --kubeconfig. */
    const char *context;        /* --context. */
    const char *db;             /* --db. */
    const char *unixctl;        /* --unixctl. */
    char *log_file;             /* --log-file (owned). */
    bool exit_after_sync;       /* --exit-after-sync. */
};

static void
usage(void)
{
    printf("%s: follows a Kubernetes API server into conjflow's store\n"
           "usage: %s [OPTIONS]\n"
           "\nKubernetes:\n"
           "  --kubeconfig=FILE       kubeconfig (default: $KUBECONFIG, "
           "~/.kube/config,\n"
           "                          then the in-cluster service account)\n"
           "  --context=NAME          kubeconfig context (default: current)\n"
           "  --ovsdb-template=T      OVSDB remote of nodes without the\n"
           "                          conjflow.io/ovsdb annotation (default "
           "%s)\n"
           "  --bridge=BRIDGE         bridge of nodes without the "
           "conjflow.io/bridge\n"
           "                          annotation (default br-int)\n"
           "  --page-size=N           LIST page size (default 500)\n"
           "  --stall-timeout=SECS    reconnect a watch silent this long "
           "(default 60)\n"
           "  --watch-timeout=SECS    timeoutSeconds of watches (default "
           "300)\n"
           "  --batch-msec=MS         collect events this long per store "
           "write (50)\n"
           "  --batch-max=N           or this many events (1000)\n"
           "  --backoff-min=MS        first retry delay (500)\n"
           "  --backoff-max=MS        largest retry delay (30000)\n"
           "  --no-resume             relist at start instead of resuming "
           "from the\n"
           "                          resourceVersions kept in the store\n"
           "  --exit-after-sync       exit once every resource is synced\n"
           "\nStore:\n"
           "  --db=FILE               store (default $%s or %s)\n"
           "\nDaemon:\n"
           "  --config=FILE           configuration file (default "
           "/etc/conjflow/%s.conf)\n"
           "  --no-config             read no configuration file\n"
           "  --pidfile[=FILE]        create pidfile (default "
           "<rundir>/%s.pid)\n"
           "  --detach                run in the background\n"
           "  --no-chdir              do not chdir to / when detaching\n"
           "  --monitor               restart the daemon if it crashes\n"
           "  --log-file[=FILE]       also log to FILE (default "
           "<logdir>/%s.log)\n"
           "  --unixctl=SOCKET        control socket (default "
           "<rundir>/%s.<pid>.ctl)\n"
           "  -v, --verbose[=SPEC]    log level, OVS style: dbg (without "
           "SPEC),\n"
           "                          info, console:off, file:dbg...\n"
           "  -h, --help              show this help and exit\n"
           "  -V, --version           show the version and exit\n"
           "<rundir> is $OVS_RUNDIR or /var/run/openvswitch; <logdir> is "
           "$OVS_LOGDIR or\n/var/log/openvswitch.\n",
           PROGRAM, PROGRAM, CF_K8S_DEFAULT_OVSDB_TEMPLATE, CF_STORE_ENV,
           CF_STORE_DEFAULT_PATH, PROGRAM, PROGRAM, PROGRAM, PROGRAM);
}

enum {
    OPT_KUBECONFIG = 256, OPT_CONTEXT, OPT_OVSDB_TEMPLATE, OPT_BRIDGE,
    OPT_PAGE_SIZE, OPT_STALL_TIMEOUT, OPT_WATCH_TIMEOUT, OPT_BATCH_MSEC,
    OPT_BATCH_MAX, OPT_BACKOFF_MIN, OPT_BACKOFF_MAX, OPT_NO_RESUME,
    OPT_EXIT_AFTER_SYNC, OPT_DB, OPT_PIDFILE, OPT_DETACH, OPT_NO_CHDIR,
    OPT_MONITOR, OPT_LOG_FILE, OPT_UNIXCTL,
};

static const struct option long_options[] = {
    { "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
    { "context", required_argument, NULL, OPT_CONTEXT },
    { "ovsdb-template", required_argument, NULL, OPT_OVSDB_TEMPLATE },
    { "bridge", required_argument, NULL, OPT_BRIDGE },
    { "page-size", required_argument, NULL, OPT_PAGE_SIZE },
    { "stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT },
    { "watch-timeout", required_argument, NULL, OPT_WATCH_TIMEOUT },
    { "batch-msec", required_argument, NULL, OPT_BATCH_MSEC },
    { "batch-max", required_argument, NULL, OPT_BATCH_MAX },
    { "backoff-min", required_argument, NULL, OPT_BACKOFF_MIN },
    { "backoff-max", required_argument, NULL, OPT_BACKOFF_MAX },
    { "no-resume", no_argument, NULL, OPT_NO_RESUME },
    { "exit-after-sync", no_argument, NULL, OPT_EXIT_AFTER_SYNC },
    { "db", required_argument, NULL, OPT_DB },
    { "pidfile", optional_argument, NULL, OPT_PIDFILE },
    { "detach", no_argument, NULL, OPT_DETACH },
    { "no-chdir", no_argument, NULL, OPT_NO_CHDIR },
    { "monitor", no_argument, NULL, OPT_MONITOR },
    { "log-file", optional_argument, NULL, OPT_LOG_FILE },
    { "unixctl", required_argument, NULL, OPT_UNIXCTL },
    { "verbose", optional_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

/* Parses a positive integer option or exits. */
static int
int_arg(const char *name, const char *s, int min, int max)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max) {
        fprintf(stderr, "%s: --%s: \"%s\" is not an integer between %d and "
                "%d\n", PROGRAM, name, s, min, max);
        exit(1);
    }
    return v;
}

/* Parses a duration in seconds (may have a fraction) into milliseconds. */
static int
secs_arg(const char *name, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || !(v > 0) || v > 86400) {
        fprintf(stderr, "%s: --%s: \"%s\" is not a number of seconds\n",
                PROGRAM, name, s);
        exit(1);
    }
    return (int) (v * 1000);
}

static void
parse_options(int argc, char *argv[], struct settings *set,
              struct cf_k8s_options *opts)
{
    for (;;) {
        int c = getopt_long(argc, argv, "v::hV", long_options, NULL);
        if (c == -1) {
            break;
        }
        switch (c) {
        case OPT_KUBECONFIG:
            set->kubeconfig = optarg;
            break;
        case OPT_CONTEXT:
            set->context = optarg;
            break;
        case OPT_OVSDB_TEMPLATE:
            opts->node.ovsdb_template = optarg;
            break;
        case OPT_BRIDGE:
            opts->node.bridge = optarg;
            break;
        case OPT_PAGE_SIZE:
            opts->page_size = int_arg("page-size", optarg, 1, 100000);
            break;
        case OPT_STALL_TIMEOUT:
            opts->stall_timeout_ms = secs_arg("stall-timeout", optarg);
            break;
        case OPT_WATCH_TIMEOUT:
            opts->watch_timeout_s = int_arg("watch-timeout", optarg, 1,
                                            86400);
            break;
        case OPT_BATCH_MSEC:
            opts->batch_ms = int_arg("batch-msec", optarg, 0, 60000);
            break;
        case OPT_BATCH_MAX:
            opts->batch_max = int_arg("batch-max", optarg, 1, 1000000);
            break;
        case OPT_BACKOFF_MIN:
            opts->backoff_min_ms = int_arg("backoff-min", optarg, 1,
                                           3600000);
            break;
        case OPT_BACKOFF_MAX:
            opts->backoff_max_ms = int_arg("backoff-max", optarg, 1,
                                           3600000);
            break;
        case OPT_NO_RESUME:
            opts->resume = false;
            break;
        case OPT_EXIT_AFTER_SYNC:
            set->exit_after_sync = true;
            break;
        case OPT_DB:
            set->db = optarg;
            break;
        case OPT_PIDFILE:
            free(cf_daemon.pidfile);
            cf_daemon.pidfile = (optarg ? cf_xstrdup(optarg)
                                 : cf_daemon_default_pidfile(PROGRAM));
            break;
        case OPT_DETACH:
            cf_daemon.detach = true;
            break;
        case OPT_NO_CHDIR:
            cf_daemon.chdir = false;
            break;
        case OPT_MONITOR:
            cf_daemon.monitor = true;
            break;
        case OPT_LOG_FILE:
            free(set->log_file);
            if (optarg) {
                set->log_file = cf_xstrdup(optarg);
            } else {
                const char *dir = getenv("OVS_LOGDIR");
                set->log_file = cf_xasprintf("%s/%s.log",
                                             dir && *dir
                                             ? dir : "/var/log/openvswitch",
                                             PROGRAM);
            }
            break;
        case OPT_UNIXCTL:
            set->unixctl = optarg;
            break;
        case 'v': {
            char *error = cf_log_set_spec(optarg ? optarg : "");
            if (error) {
                fprintf(stderr, "%s: -v: %s\n", PROGRAM, error);
                exit(1);
            }
            break;
        }
        case 'h':
            usage();
            exit(0);
        case 'V':
            printf("%s (conjflow) %s\n", PROGRAM, PACKAGE_VERSION);
            exit(0);
        default:
            fprintf(stderr, "Try '%s --help' for more information.\n",
                    PROGRAM);
            exit(1);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument \"%s\"\n", PROGRAM,
                argv[optind]);
        exit(1);
    }
    if (opts->backoff_max_ms < opts->backoff_min_ms) {
        opts->backoff_max_ms = opts->backoff_min_ms;
    }
}

/* ---- unixctl commands --------------------------------------------------- */

static char *
cmd_status(int argc, const char *argv[], void *k8s_, bool *is_error)
{
    (void) argc;
    (void) argv;
    (void) is_error;
    struct cf_ds out = CF_DS_INIT;
    cf_k8s_status(k8s_, &out);
    return cf_ds_steal(&out);
}

static char *
cmd_exit(int argc, const char *argv[], void *aux, bool *is_error)
{
    (void) argc;
    (void) argv;
    (void) aux;
    (void) is_error;
    exit_requested = true;
    return cf_xstrdup("");
}

static char *
cmd_version(int argc, const char *argv[], void *aux, bool *is_error)
{
    (void) argc;
    (void) argv;
    (void) aux;
    (void) is_error;
    return cf_xasprintf("%s (conjflow) %s\n", PROGRAM, PACKAGE_VERSION);
}

static char *
cmd_vlog_reopen(int argc, const char *argv[], void *aux, bool *is_error)
{
    (void) argc;
    (void) argv;
    (void) aux;
    char *error = cf_log_set_file(NULL);
    if (error) {
        *is_error = true;
        return error;
    }
    return cf_xstrdup("");
}

/* "vlog/set SPEC...": OVS-style specs ("dbg", "console:off",
 * "file:dbg"); one level for every module. */
static char *
cmd_vlog_set(int argc, const char *argv[], void *aux, bool *is_error)
{
    (void) aux;
    for (int i = 0; i < argc; i++) {
        char *error = cf_log_set_spec(argv[i]);
        if (error) {
            *is_error = true;
            return error;
        }
    }
    return cf_xstrdup("");
}

/* ---- Main -------------------------------------------------------------- */

/* Logs why start-up failed, also on stderr even if the console log is off
 * (the command that starts the daemon must say why it failed), and
 * exits 1. */
static void CF_NORETURN
startup_failure(const char *format, ...) CF_PRINTF(1, 2);

static void
startup_failure(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    char *msg = cf_xvasprintf(format, args);
    va_end(args);
    CF_ERR("%s", msg);
    if (!cf_log_console_enabled(CF_LOG_ERR)) {
        fprintf(stderr, "%s: %s\n", PROGRAM, msg);
    }
    free(msg);
    exit(1);
}

static void
signal_handler(int sig)
{
    (void) sig;
    exiting = 1;
    if (signal_pipe[1] >= 0) {
        char c = 0;
        ssize_t n = write(signal_pipe[1], &c, 1);
        (void) n;
    }
}

int
main(int argc, char *argv[])
{
    struct settings set = { NULL, NULL, NULL, NULL, NULL, false };
    struct cf_k8s_options opts;
    cf_k8s_options_init(&opts);

    char *config_error = cf_config_apply(PROGRAM, long_options, &argc,
                                         &argv);
    if (config_error) {
        fprintf(stderr, "%s: %s\n", PROGRAM, config_error);
        exit(1);
    }
    parse_options(argc, argv, &set, &opts);

    if (set.log_file) {
        char *error = cf_log_set_file(set.log_file);
        if (error) {
            fprintf(stderr, "%s: %s\n", PROGRAM, error);
            exit(1);
        }
    }

    /* Configuration problems are reported before forking, so that the
     * command that starts us fails. */
    struct cf_k8s_config *config;
    char *error = cf_k8s_config_load(set.kubeconfig, set.context, &config);
    if (error) {
        startup_failure("%s", error);
    }

    cf_daemon_start();

    struct cf_store *store;
    error = cf_store_open(cf_store_path(set.db), CF_STORE_READ_WRITE, &store);
    if (error) {
        startup_failure("%s", error);
    }
    struct cf_k8s *k8s = cf_k8s_create(config, store, &opts);
    error = cf_k8s_probe(k8s);
    if (error) {
        startup_failure("cannot start: %s", error);
    }

    if (pipe(signal_pipe)) {
        CF_ERR("pipe failed (%s)", strerror(errno));
        exit(1);
    }
    signal(SIGTERM, signal_handler);
    signal(SIGINT, signal_handler);
    signal(SIGHUP, signal_handler);

    cf_unixctl_register("status", "", 0, 0, cmd_status, k8s);
    cf_unixctl_register("exit", "", 0, 0, cmd_exit, NULL);
    cf_unixctl_register("version", "", 0, 0, cmd_version, NULL);
    cf_unixctl_register("vlog/reopen", "", 0, 0, cmd_vlog_reopen, NULL);
    cf_unixctl_register("vlog/set", "{spec | LEVEL}", 1, 8, cmd_vlog_set,
                        NULL);
    struct cf_unixctl_server *unixctl;
    error = cf_unixctl_server_create(set.unixctl, PROGRAM, &unixctl);
    if (error) {
        startup_failure("%s", error);
    }

    cf_daemon_ready();
    CF_INFO("%s %s started: API server %s (%s), store %s", PROGRAM,
            PACKAGE_VERSION, config->server, config->source,
            cf_store_path(set.db));
    cf_k8s_start(k8s);

    int status = 0;
    while (!exiting && !exit_requested) {
        int fds[20];
        size_t n = cf_unixctl_server_fds(unixctl, fds + 1,
                                         CF_ARRAY_SIZE(fds) - 1) + 1;
        fds[0] = signal_pipe[0];
        struct cf_k8s_waitfd wfds[CF_ARRAY_SIZE(fds)];
        for (size_t i = 0; i < n; i++) {
            wfds[i] = (struct cf_k8s_waitfd) { fds[i], POLLIN, 0 };
        }
        error = cf_k8s_run(k8s, wfds, n, 1000);
        if (error) {
            CF_ERR("stopping: %s", error);
            free(error);
            status = 1;
            break;
        }
        cf_unixctl_server_run(unixctl);
        if (set.exit_after_sync && cf_k8s_synced(k8s)) {
            CF_INFO("every resource is synced: exiting "
                    "(--exit-after-sync)");
            break;
        }
    }
    if (exiting) {
        CF_INFO("exiting on signal");
    }

    cf_unixctl_server_destroy(unixctl);
    cf_k8s_destroy(k8s);
    cf_store_close(store);
    cf_daemon_cleanup();
    cf_config_free_argv(argc, argv);
    free(set.log_file);
    return status;
}
