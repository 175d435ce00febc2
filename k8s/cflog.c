/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * conjflow-k8s's logging (see k8s/cflog.h): OVS's log line format to
 * stderr and an optional log file, with rate limits.
 */
#include "conjflow-config.h"

#include "k8s/cflog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum cf_log_level console_level = CF_LOG_INFO;
static enum cf_log_level file_level = CF_LOG_INFO;
static bool console_enabled = true;
static int log_fd = -1;                 /* The log file, or -1. */
static char *log_file_name;             /* Its name, or NULL. */
static unsigned int msg_num;            /* Sequence number of messages. */

static const char *level_names[] = {
    [CF_LOG_OFF] = "OFF",
    [CF_LOG_ERR] = "ERR",
    [CF_LOG_WARN] = "WARN",
    [CF_LOG_INFO] = "INFO",
    [CF_LOG_DBG] = "DBG",
};

/* Returns the upper-case name of 'level' ("INFO"). */
const char *
cf_log_level_name(enum cf_log_level level)
{
    return level <= CF_LOG_DBG ? level_names[level] : "?";
}

/* Parses a level name as OVS's vlog/set accepts it, into '*levelp'.
 * Returns false if 's' is not one. */
bool
cf_log_level_parse(const char *s, enum cf_log_level *levelp)
{
    static const struct {
        const char *name;
        enum cf_log_level level;
    } names[] = {
        { "off", CF_LOG_OFF }, { "emer", CF_LOG_ERR }, { "err", CF_LOG_ERR },
        { "warn", CF_LOG_WARN }, { "info", CF_LOG_INFO },
        { "dbg", CF_LOG_DBG }, { "debug", CF_LOG_DBG },
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(names); i++) {
        if (!strcasecmp(s, names[i].name)) {
            *levelp = names[i].level;
            return true;
        }
    }
    return false;
}

/* Sets the levels written to stderr and to the log file. */
void
cf_log_set_levels(enum cf_log_level console, enum cf_log_level file)
{
    console_level = console;
    file_level = file;
}

/* Applies an OVS-style verbosity spec: "LEVEL", "DEST:LEVEL" or
 * "MODULE:DEST:LEVEL" ("console:off", "file:dbg", "any:any:info", or
 * "" for dbg everywhere).  DEST is console, file, syslog or any; modules
 * are accepted but the level applies to all.  Returns NULL or a malloc'd
 * error. */
char *
cf_log_set_spec(const char *spec)
{
    bool console = true, file = true;
    bool have_level = false;
    enum cf_log_level level = CF_LOG_DBG;
    char *copy = cf_xstrdup(spec);
    char *save = NULL;
    for (char *w = strtok_r(copy, ":", &save); w;
         w = strtok_r(NULL, ":", &save)) {
        if (!strcmp(w, "console")) {
            file = false;
        } else if (!strcmp(w, "file")) {
            console = false;
        } else if (!strcmp(w, "syslog")) {
            console = file = false;
        } else if (cf_log_level_parse(w, &level)) {
            have_level = true;
        } else if (strcmp(w, "any")) {
            /* A module name: one level for all modules here. */
        }
    }
    free(copy);
    if (*spec && !have_level && (console && file)) {
        return cf_xasprintf("\"%s\": no log level (dbg, info, warn, err, "
                            "off)", spec);
    }
    if (console) {
        console_level = level;
    }
    if (file) {
        file_level = level;
    }
    return NULL;
}

/* True if a message at 'level' would be written somewhere. */
bool
cf_log_enabled(enum cf_log_level level)
{
    return (console_enabled && level <= console_level)
           || (log_fd >= 0 && level <= file_level);
}

/* True if a message at 'level' would be written to stderr. */
bool
cf_log_console_enabled(enum cf_log_level level)
{
    return console_enabled && level <= console_level;
}

/* Stops logging to stderr (a detached daemon's stderr is /dev/null). */
void
cf_log_disable_console(void)
{
    console_enabled = false;
}

/* Kept for symmetry with OVS's set_program_name(); messages carry the
 * module name, not the program's. */
void
cf_log_set_program_name(const char *name)
{
    (void) name;
}

/* Opens 'file_name' for appending as the log file (NULL: reopens the
 * current one, for log rotation).  Returns NULL or a malloc'd error. */
char *
cf_log_set_file(const char *file_name)
{
    if (!file_name) {
        if (!log_file_name) {
            return NULL;
        }
        file_name = log_file_name;
    }
    char *abs_name = NULL;
    if (file_name[0] != '/') {
        /* Absolute, so that "vlog/reopen" works after chdir("/"). */
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd)) {
            abs_name = cf_xasprintf("%s/%s", cwd, file_name);
            file_name = abs_name;
        }
    }
    int fd = open(file_name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0660);
    if (fd < 0) {
        char *error = cf_xasprintf("%s: could not open log file (%s)",
                                   file_name, strerror(errno));
        free(abs_name);
        return error;
    }
    if (log_fd >= 0) {
        close(log_fd);
    }
    log_fd = fd;
    if (file_name != log_file_name) {
        free(log_file_name);
        log_file_name = cf_xstrdup(file_name);
    }
    free(abs_name);
    return NULL;
}

/* The log file's name, or NULL if there is none. */
const char *
cf_log_file_name(void)
{
    return log_file_name;
}

/* Formats and writes one message. */
static void
cf_log_valist(const char *module, enum cf_log_level level,
              const char *format, va_list args)
{
    bool to_console = console_enabled && level <= console_level;
    bool to_file = log_fd >= 0 && level <= file_level;
    if (!to_console && !to_file) {
        return;
    }

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[64];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    struct cf_ds line = CF_DS_INIT;
    cf_ds_put_format(&line, "%s.%03dZ|%05u|%s|%s|", stamp,
                     (int) (tv.tv_usec / 1000), ++msg_num, module,
                     cf_log_level_name(level));
    cf_ds_put_vformat(&line, format, args);
    cf_ds_put_char(&line, '\n');
    if (to_console) {
        ssize_t retval = write(STDERR_FILENO, line.s, line.len);
        (void) retval;
    }
    if (to_file) {
        ssize_t retval = write(log_fd, line.s, line.len);
        (void) retval;
    }
    cf_ds_destroy(&line);
}

/* Logs a message at 'level' for 'module'. */
void
cf_log(const char *module, enum cf_log_level level, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    cf_log_valist(module, level, format, args);
    va_end(args);
}

/* Logs a message unless 'rl' has let through its burst in the last
 * minute; the first message of the next window says how many were
 * dropped. */
void
cf_log_rl(struct cf_log_rl *rl, const char *module, enum cf_log_level level,
          const char *format, ...)
{
    long long now = cf_time_msec();
    if (!rl->window_start || now - rl->window_start >= 60 * 1000) {
        if (rl->suppressed) {
            cf_log(module, level, "Dropped %d log messages in last %lld "
                   "seconds due to excessive rate", rl->suppressed,
                   (now - rl->window_start) / 1000);
        }
        rl->window_start = now;
        rl->count = 0;
        rl->suppressed = 0;
    }
    if (rl->count >= rl->burst) {
        rl->suppressed++;
        return;
    }
    rl->count++;

    va_list args;
    va_start(args, format);
    cf_log_valist(module, level, format, args);
    va_end(args);
}
