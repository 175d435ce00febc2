/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * OVS-compatible unixctl server (see k8s/cfunixctl.h).  Requests arrive as
 * JSON values back to back on a stream (no framing), so each connection
 * cuts its input with a cf_json_splitter.  Replies are small and written
 * with blocking writes.
 */
#include "conjflow-config.h"

#include "k8s/cfunixctl.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conjflow/cfutil.h"
#include "conjflow/k8s.h"
#include "k8s/cfdaemon.h"
#include "k8s/cflog.h"

CF_LOG_DEFINE_THIS_MODULE(unixctl);

/* A registered command. */
struct command {
    char *name;                 /* e.g. "status". */
    char *usage;                /* Parameters, for list-commands. */
    int min_args, max_args;     /* Allowed number of parameters. */
    cf_unixctl_cb *cb;          /* Handler. */
    void *aux;                  /* Its argument. */
};
static struct command *commands;
static size_t n_commands, allocated_commands;

#define MAX_CONNS 16

/* One client connection. */
struct conn {
    int fd;                     /* Socket, or -1 if unused. */
    struct cf_json_splitter in; /* Buffered input. */
};

struct cf_unixctl_server {
    int fd;                     /* Listening socket. */
    char *path;                 /* Its path. */
    struct conn conns[MAX_CONNS];  /* Clients. */
};

/* Registers a command (see k8s/cfunixctl.h). */
void
cf_unixctl_register(const char *name, const char *usage, int min_args,
                    int max_args, cf_unixctl_cb *cb, void *aux)
{
    if (n_commands >= allocated_commands) {
        commands = cf_x2nrealloc(commands, &allocated_commands,
                                 sizeof *commands);
    }
    commands[n_commands++] = (struct command) {
        cf_xstrdup(name), cf_xstrdup(usage), min_args, max_args, cb, aux };
}

/* "list-commands". */
static char *
list_commands(int argc, const char *argv[], void *aux, bool *is_error)
{
    (void) argc;
    (void) argv;
    (void) aux;
    (void) is_error;
    struct cf_ds out = CF_DS_INIT;
    cf_ds_put_cstr(&out, "The available commands are:\n");
    for (size_t i = 0; i < n_commands; i++) {
        cf_ds_put_format(&out, "  %-23s %s\n", commands[i].name,
                         commands[i].usage);
    }
    return cf_ds_steal(&out);
}

/* Listens on the control socket (see k8s/cfunixctl.h). */
char *
cf_unixctl_server_create(const char *path, const char *program,
                         struct cf_unixctl_server **serverp)
{
    *serverp = NULL;
    static bool registered;
    if (!registered) {
        registered = true;
        cf_unixctl_register("list-commands", "", 0, 0, list_commands, NULL);
    }

    char *p = (path ? cf_xstrdup(path)
               : cf_xasprintf("%s/%s.%ld.ctl", cf_daemon_rundir(), program,
                              (long) getpid()));
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (strlen(p) >= sizeof sun.sun_path) {
        char *error = cf_xasprintf("%s: control socket path too long", p);
        free(p);
        return error;
    }
    strcpy(sun.sun_path, p);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        free(p);
        return cf_xasprintf("socket: %s", strerror(errno));
    }
    unlink(p);
    if (bind(fd, (struct sockaddr *) &sun, sizeof sun) || listen(fd, 10)) {
        char *error = cf_xasprintf("%s: could not listen (%s)", p,
                                   strerror(errno));
        close(fd);
        free(p);
        return error;
    }
    struct cf_unixctl_server *s = cf_xzalloc(sizeof *s);
    s->fd = fd;
    s->path = p;
    for (int i = 0; i < MAX_CONNS; i++) {
        s->conns[i].fd = -1;
        cf_json_splitter_init(&s->conns[i].in);
    }
    *serverp = s;
    return NULL;
}

static void
conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    cf_json_splitter_reset(&c->in);
}

/* Stops listening and unlinks the socket; accepts NULL. */
void
cf_unixctl_server_destroy(struct cf_unixctl_server *s)
{
    if (s) {
        for (int i = 0; i < MAX_CONNS; i++) {
            conn_close(&s->conns[i]);
            cf_json_splitter_destroy(&s->conns[i].in);
        }
        close(s->fd);
        unlink(s->path);
        free(s->path);
        free(s);
    }
}

const char *
cf_unixctl_server_path(const struct cf_unixctl_server *s)
{
    return s->path;
}

/* The descriptors to poll (see k8s/cfunixctl.h). */
size_t
cf_unixctl_server_fds(const struct cf_unixctl_server *s, int *fds,
                      size_t max)
{
    size_t n = 0;
    if (n < max) {
        fds[n++] = s->fd;
    }
    for (int i = 0; i < MAX_CONNS && n < max; i++) {
        if (s->conns[i].fd >= 0) {
            fds[n++] = s->conns[i].fd;
        }
    }
    return n;
}

/* Writes all of 'data' to 'fd' (a blocking write on a non-blocking socket:
 * waits with short sleeps; replies are small). */
static bool
write_all(int fd, const char *data, size_t len)
{
    long long deadline = cf_time_msec() + 5000;
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)
                   && cf_time_msec() < deadline) {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        } else {
            return false;
        }
    }
    return true;
}

/* Answers one request 'text' on 'c'.  Returns false to close. */
static bool
handle_request(struct conn *c, const char *text, size_t len)
{
    json_t *req = json_loadb(text, len, 0, NULL);
    const char *method = json_string_value(json_object_get(req, "method"));
    json_t *params = json_object_get(req, "params");
    json_t *id = json_object_get(req, "id");
    if (!method || !json_is_array(params) || !id) {
        json_decref(req);
        return false;
    }

    char *reply_text = NULL;
    bool is_error = false;
    const struct command *cmd = NULL;
    for (size_t i = 0; i < n_commands; i++) {
        if (!strcmp(commands[i].name, method)) {
            cmd = &commands[i];
        }
    }
    int argc = json_array_size(params);
    if (!cmd) {
        reply_text = cf_xasprintf("\"%s\" is not a valid command (use "
                                  "list-commands to see a list of valid "
                                  "commands)", method);
        is_error = true;
    } else if (argc < cmd->min_args || argc > cmd->max_args) {
        reply_text = cf_xasprintf("\"%s\" command takes %d to %d arguments",
                                  method, cmd->min_args, cmd->max_args);
        is_error = true;
    } else {
        const char **argv = cf_xcalloc(argc + 1, sizeof *argv);
        for (int i = 0; i < argc; i++) {
            argv[i] = json_string_value(json_array_get(params, i));
            if (!argv[i]) {
                argv[i] = "";
            }
        }
        reply_text = cmd->cb(argc, argv, cmd->aux, &is_error);
        free(argv);
    }

    json_t *reply = json_pack("{s:O, s:s?, s:s?}", "id", id,
                              "result", is_error ? NULL : reply_text,
                              "error", is_error ? reply_text : NULL);
    if (!is_error) {
        json_object_set_new(reply, "error", json_null());
    } else {
        json_object_set_new(reply, "result", json_null());
    }
    char *out = json_dumps(reply, JSON_COMPACT);
    bool ok = out && write_all(c->fd, out, strlen(out));
    free(out);
    free(reply_text);
    json_decref(reply);
    json_decref(req);
    return ok;
}

/* Accepts and answers (see k8s/cfunixctl.h). */
void
cf_unixctl_server_run(struct cf_unixctl_server *s)
{
    for (;;) {
        int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            break;
        }
        int i;
        for (i = 0; i < MAX_CONNS && s->conns[i].fd >= 0; i++) {
            continue;
        }
        if (i == MAX_CONNS) {
            close(fd);          /* Too many clients. */
            continue;
        }
        s->conns[i].fd = fd;
    }
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        while (c->fd >= 0) {
            char buf[4096];
            ssize_t n = read(c->fd, buf, sizeof buf);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                break;
            } else if (n <= 0) {
                conn_close(c);
                break;
            }
            cf_json_splitter_feed(&c->in, buf, n);
            const char *text;
            size_t len;
            while (c->fd >= 0 && (text = cf_json_splitter_next(&c->in,
                                                               &len))) {
                if (!handle_request(c, text, len)) {
                    conn_close(c);
                }
            }
            if (c->fd >= 0 && c->in.error) {
                conn_close(c);
            }
        }
    }
}
