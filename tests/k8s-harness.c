/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Test harness for conjflow-k8s: see tests/k8s-harness.h.
 */
#include "conjflow-config.h"

#include "k8s-harness.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conjflow/cfutil.h"
#include "conjflow/store.h"

#ifndef CF_TEST_SRCDIR
#define CF_TEST_SRCDIR "."
#endif

/* Processes to end at exit. */
static pid_t children[64];
static size_t n_children;
static bool atexit_done;

static void
fail(const char *format, ...) CF_PRINTF(1, 2);

/* Prints a message and exits: a harness failure fails the test. */
static void
fail(const char *format, ...)
{
    va_list args;
    va_start(args, format);
    fprintf(stderr, "k8s-harness: ");
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

/* The directory of the environment not yet destroyed, if any. */
static char *live_dir;

/* At exit (after a failed assertion, too): ends every child still running
 * and removes the directory of an environment that was not destroyed,
 * after showing the end of conjflow-k8s's log. */
static void
kill_children(void)
{
    for (size_t i = 0; i < n_children; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
    if (live_dir) {
        char *cmd = cf_xasprintf("tail -20 '%s/conjflow-k8s.log' >&2 "
                                 "2>/dev/null", live_dir);
        fprintf(stderr, "k8s-harness: end of %s/conjflow-k8s.log:\n",
                live_dir);
        int retval = system(cmd);
        free(cmd);
        if (!getenv("CF_TEST_KEEP")) {
            cmd = cf_xasprintf("rm -rf '%s'", live_dir);
            retval = system(cmd);
            free(cmd);
        }
        (void) retval;
    }
}

static void
track(pid_t pid)
{
    if (!atexit_done) {
        atexit(kill_children);
        atexit_done = true;
    }
    for (size_t i = 0; i < n_children; i++) {
        if (!children[i]) {
            children[i] = pid;
            return;
        }
    }
    if (n_children < CF_ARRAY_SIZE(children)) {
        children[n_children++] = pid;
    }
}

static void
untrack(pid_t pid)
{
    for (size_t i = 0; i < n_children; i++) {
        if (children[i] == pid) {
            children[i] = 0;
        }
    }
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Reads a whole file. */
char *
k8s_read_file(const char *name)
{
    FILE *f = fopen(name, "rb");
    if (!f) {
        return NULL;
    }
    struct cf_ds ds = CF_DS_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        cf_ds_put_buf(&ds, buf, n);
    }
    fclose(f);
    return cf_ds_steal(&ds);
}

/* Forks and execs 'argv'; stdout/stderr to 'out_file' if nonnull.  The
 * child dies with the test (PR_SET_PDEATHSIG). */
static pid_t
spawn(char *const *argv, const char *out_file)
{
    pid_t pid = fork();
    if (pid < 0) {
        fail("fork: %s", strerror(errno));
    } else if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (out_file) {
            int fd = open(out_file, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                close(fd);
            }
        }
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    track(pid);
    return pid;
}

/* Starts the API server (see tests/k8s-harness.h). */
void
k8s_env_init(struct k8s_env *env, const char *const *server_args)
{
    memset(env, 0, sizeof *env);
    const char *tmp = getenv("TMPDIR");
    char *template = cf_xasprintf("%s/cf-k8s-XXXXXX", tmp ? tmp : "/tmp");
    if (!mkdtemp(template)) {
        fail("mkdtemp: %s", strerror(errno));
    }
    env->dir = template;
    live_dir = env->dir;
    if (!atexit_done) {
        atexit(kill_children);
        atexit_done = true;
    }
    env->db = cf_xasprintf("%s/conjflow.db", env->dir);
    env->ctl = cf_xasprintf("%s/conjflow-k8s.ctl", env->dir);
    env->log = cf_xasprintf("%s/conjflow-k8s.log", env->dir);
    /* Default pidfiles and control sockets go into the directory too. */
    setenv("OVS_RUNDIR", env->dir, 1);

    const char *srcdir = getenv("CF_TEST_SRCDIR");
    char *script = cf_xasprintf("%s/tests/k8s-apiserver.py",
                                srcdir ? srcdir : CF_TEST_SRCDIR);
    const char *argv[32] = { "python3", script, "--dir", env->dir };
    size_t argc = 4;
    for (size_t i = 0; server_args && server_args[i] && argc < 30; i++) {
        argv[argc++] = server_args[i];
    }
    argv[argc] = NULL;
    char *out = cf_xasprintf("%s/apiserver.log", env->dir);
    env->server_pid = spawn((char *const *) argv, out);
    free(out);
    free(script);

    char *port_file = cf_xasprintf("%s/port", env->dir);
    long long deadline = cf_time_msec() + 30000;
    char *text;
    while (!(text = k8s_read_file(port_file))) {
        int status;
        if (waitpid(env->server_pid, &status, WNOHANG) == env->server_pid) {
            untrack(env->server_pid);
            fail("the API server exited (see %s/apiserver.log)", env->dir);
        }
        if (cf_time_msec() > deadline) {
            fail("the API server did not start");
        }
        sleep_ms(20);
    }
    env->port = atoi(text);
    free(text);
    free(port_file);
}

/* Stops everything and removes the directory. */
void
k8s_env_destroy(struct k8s_env *env)
{
    if (env->daemon_pid) {
        k8s_daemon_stop(env);
    }
    if (env->server_pid) {
        kill(env->server_pid, SIGTERM);
        waitpid(env->server_pid, NULL, 0);
        untrack(env->server_pid);
    }
    if (live_dir == env->dir) {
        live_dir = NULL;
    }
    if (!getenv("CF_TEST_KEEP")) {
        char *cmd = cf_xasprintf("rm -rf '%s'", env->dir);
        int retval = system(cmd);
        (void) retval;
        free(cmd);
    }
    free(env->dir);
    free(env->db);
    free(env->ctl);
    free(env->log);
}

/* The conjflow-k8s binary. */
static const char *
daemon_binary(void)
{
    const char *bin = getenv("CONJFLOW_K8S");
    return bin ? bin : "k8s/conjflow-k8s";
}

/* Builds conjflow-k8s's argument vector. */
static void
daemon_argv(struct k8s_env *env, const char *const *args, const char **argv,
            char **owned)
{
    size_t argc = 0;
    argv[argc++] = daemon_binary();
    owned[0] = cf_xasprintf("--kubeconfig=%s/kubeconfig", env->dir);
    owned[1] = cf_xasprintf("--db=%s", env->db);
    owned[2] = cf_xasprintf("--unixctl=%s", env->ctl);
    owned[3] = cf_xasprintf("--log-file=%s", env->log);
    for (int i = 0; i < 4; i++) {
        argv[argc++] = owned[i];
    }
    argv[argc++] = "--no-config";
    argv[argc++] = "--backoff-min=50";
    argv[argc++] = "--backoff-max=400";
    argv[argc++] = "--batch-msec=10";
    for (size_t i = 0; args && args[i] && argc < 60; i++) {
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
}

/* Starts conjflow-k8s (see tests/k8s-harness.h). */
pid_t
k8s_daemon_start(struct k8s_env *env, const char *const *args)
{
    const char *argv[64];
    char *owned[4];
    daemon_argv(env, args, argv, owned);
    char *out = cf_xasprintf("%s/conjflow-k8s.stderr", env->dir);
    env->daemon_pid = spawn((char *const *) argv, out);
    free(out);
    for (int i = 0; i < 4; i++) {
        free(owned[i]);
    }
    return env->daemon_pid;
}

/* Runs conjflow-k8s to completion (see tests/k8s-harness.h). */
int
k8s_daemon_run(struct k8s_env *env, const char *const *args, char **outp)
{
    const char *argv[64];
    size_t argc = 0;
    argv[argc++] = daemon_binary();
    for (size_t i = 0; args && args[i] && argc < 62; i++) {
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    char *out = cf_xasprintf("%s/run.out", env->dir);
    unlink(out);
    pid_t pid = spawn((char *const *) argv, out);
    int status;
    long long deadline = cf_time_msec() + 30000;
    while (waitpid(pid, &status, WNOHANG) != pid) {
        if (cf_time_msec() > deadline) {
            fail("conjflow-k8s did not exit within 30 s");
        }
        sleep_ms(10);
    }
    untrack(pid);
    if (outp) {
        *outp = k8s_read_file(out);
        if (!*outp) {
            *outp = cf_xstrdup("");
        }
    }
    free(out);
    return WIFEXITED(status) ? WEXITSTATUS(status)
           : 128 + WTERMSIG(status);
}

/* SIGTERM and wait (see tests/k8s-harness.h). */
int
k8s_daemon_stop(struct k8s_env *env)
{
    if (!env->daemon_pid) {
        return -1;
    }
    kill(env->daemon_pid, SIGTERM);
    int status;
    long long deadline = cf_time_msec() + 10000;
    while (waitpid(env->daemon_pid, &status, WNOHANG) != env->daemon_pid) {
        if (cf_time_msec() > deadline) {
            kill(env->daemon_pid, SIGKILL);
            waitpid(env->daemon_pid, &status, 0);
            break;
        }
        sleep_ms(5);
    }
    untrack(env->daemon_pid);
    env->daemon_pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status)
           : 128 + WTERMSIG(status);
}

static size_t
ds_write_cb(char *ptr, size_t size, size_t nmemb, void *ds)
{
    cf_ds_put_buf(ds, ptr, size * nmemb);
    return size * nmemb;
}

/* Sends a request to the server's control interface. */
static char *
http(struct k8s_env *env, const char *path, const char *body)
{
    static CURL *easy;
    if (!easy) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        easy = curl_easy_init();
    }
    curl_easy_reset(easy);
    char *url = cf_xasprintf("https://127.0.0.1:%d%s", env->port, path);
    char *ca = cf_xasprintf("%s/ca.crt", env->dir);
    struct cf_ds out = CF_DS_INIT;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_CAINFO, ca);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, ds_write_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 60L);
    if (body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body);
    }
    CURLcode result = curl_easy_perform(easy);
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (result != CURLE_OK || code != 200) {
        fail("%s: %s (HTTP %ld): %s", url, curl_easy_strerror(result), code,
             cf_ds_cstr(&out));
    }
    free(url);
    free(ca);
    return cf_ds_steal(&out);
}

char *
k8s_ctl(struct k8s_env *env, const char *path, const char *body)
{
    return http(env, path, body ? body : "");
}

/* A counter of /test/stats, by dotted path. */
long long
k8s_server_stat(struct k8s_env *env, const char *path)
{
    char *text = http(env, "/test/stats", NULL);
    json_t *stats = json_loads(text, 0, NULL);
    free(text);
    char *copy = cf_xstrdup(path);
    char *save = NULL;
    json_t *v = stats;
    for (char *p = strtok_r(copy, ".", &save); p;
         p = strtok_r(NULL, ".", &save)) {
        v = json_object_get(v, p);
    }
    long long value = json_integer_value(v);
    free(copy);
    json_decref(stats);
    return value;
}

/* Runs ovs-appctl against the daemon's control socket. */
char *
k8s_appctl(struct k8s_env *env, const char *cmd)
{
    char *line = cf_xasprintf("ovs-appctl -t '%s' %s 2>&1", env->ctl, cmd);
    FILE *p = popen(line, "r");
    free(line);
    if (!p) {
        return NULL;
    }
    struct cf_ds ds = CF_DS_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
        cf_ds_put_buf(&ds, buf, n);
    }
    int status = pclose(p);
    if (status) {
        cf_ds_destroy(&ds);
        return NULL;
    }
    return cf_ds_steal(&ds);
}

/* Opens the store read-only, or returns NULL if it does not exist yet. */
static struct cf_store *
open_store(struct k8s_env *env)
{
    struct stat st;
    if (stat(env->db, &st)) {
        return NULL;
    }
    struct cf_store *store;
    char *error = cf_store_open(env->db, CF_STORE_READ_ONLY, &store);
    if (error) {
        free(error);
        return NULL;
    }
    return store;
}

size_t
k8s_store_count(struct k8s_env *env, enum cf_kind kind)
{
    struct cf_store *store = open_store(env);
    if (!store) {
        return 0;
    }
    struct cf_object **objs;
    size_t n = 0;
    char *error = cf_store_list(store, kind, NULL, &objs, &n);
    if (error) {
        free(error);
        n = 0;
    } else {
        for (size_t i = 0; i < n; i++) {
            cf_object_destroy(objs[i]);
        }
        free(objs);
    }
    cf_store_close(store);
    return n;
}

struct cf_object *
k8s_store_get(struct k8s_env *env, enum cf_kind kind, const char *ns,
              const char *name)
{
    struct cf_store *store = open_store(env);
    if (!store) {
        return NULL;
    }
    struct cf_objref ref = { kind, (char *) ns, (char *) name };
    struct cf_object *obj = NULL;
    char *error = cf_store_get(store, &ref, &obj);
    free(error);
    cf_store_close(store);
    return obj;
}

char *
k8s_store_meta(struct k8s_env *env, const char *key)
{
    struct cf_store *store = open_store(env);
    if (!store) {
        return NULL;
    }
    char *value = NULL;
    char *error = cf_store_meta_get(store, key, &value);
    free(error);
    cf_store_close(store);
    return value;
}

uint64_t
k8s_store_seq(struct k8s_env *env)
{
    struct cf_store *store = open_store(env);
    uint64_t seq = 0;
    if (store) {
        free(cf_store_seq(store, &seq));
        cf_store_close(store);
    }
    return seq;
}

bool
k8s_wait(bool (*cond)(struct k8s_env *, const void *aux),
         struct k8s_env *env, const void *aux, int timeout_ms)
{
    long long deadline = cf_time_msec() + timeout_ms;
    for (;;) {
        if (cond(env, aux)) {
            return true;
        }
        if (cf_time_msec() > deadline) {
            return false;
        }
        sleep_ms(10);
    }
}

bool
k8s_cond_count(struct k8s_env *env, const void *aux)
{
    const struct k8s_count_cond *c = aux;
    return k8s_store_count(env, c->kind) == c->n;
}

bool
k8s_cond_ref(struct k8s_env *env, const void *aux)
{
    const struct k8s_ref_cond *c = aux;
    struct cf_object *obj = k8s_store_get(env, c->kind, c->ns, c->name);
    bool present = obj != NULL;
    cf_object_destroy(obj);
    return present == c->present;
}
