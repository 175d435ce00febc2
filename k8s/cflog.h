/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Logging for conjflow-k8s, in OVS's log format so that operators read it
 * the way they read ovs-vswitchd.log:
 *
 *     2026-11-26T22:30:00.123Z|00042|k8s_watch|INFO|pods: synced, 10000 ...
 *
 * The program cannot use OVS's vlog (it must not link libopenvswitch), so
 * this is a small equivalent: one level for everything (-v sets DBG),
 * output to stderr and, with a log file, to the file (reopened on
 * "vlog/reopen").  Each source file names its module once with
 * CF_LOG_DEFINE_THIS_MODULE(name) and logs with CF_ERR(), CF_WARN(),
 * CF_INFO(), CF_DBG().  Messages driven by outside input use the _RL
 * variants with a struct cf_log_rl (at most a burst per minute, then a
 * count of what was suppressed).
 */
#ifndef CONJFLOW_K8S_CFLOG_H
#define CONJFLOW_K8S_CFLOG_H 1

#include <stdbool.h>

#include "conjflow/cfutil.h"

enum cf_log_level {
    CF_LOG_OFF,
    CF_LOG_ERR,
    CF_LOG_WARN,
    CF_LOG_INFO,
    CF_LOG_DBG,
};

/* A rate limit: at most 'burst' messages per 60 s. */
struct cf_log_rl {
    int burst;                  /* Messages allowed per window. */
    long long window_start;     /* Start of the current window (ms). */
    int count;                  /* Messages logged in this window. */
    int suppressed;             /* Messages dropped in this window. */
};
#define CF_LOG_RL_INIT(BURST) { BURST, 0, 0, 0 }

#define CF_LOG_DEFINE_THIS_MODULE(NAME) \
    static const char *const cf_log_this_module __attribute__((unused)) \
        = #NAME

void cf_log(const char *module, enum cf_log_level, const char *format, ...)
    CF_PRINTF(3, 4);
void cf_log_rl(struct cf_log_rl *, const char *module, enum cf_log_level,
               const char *format, ...) CF_PRINTF(4, 5);
/* True if messages at 'level' are written anywhere. */
bool cf_log_enabled(enum cf_log_level level);

#define CF_ERR(...) cf_log(cf_log_this_module, CF_LOG_ERR, __VA_ARGS__)
#define CF_WARN(...) cf_log(cf_log_this_module, CF_LOG_WARN, __VA_ARGS__)
#define CF_INFO(...) cf_log(cf_log_this_module, CF_LOG_INFO, __VA_ARGS__)
#define CF_DBG(...) cf_log(cf_log_this_module, CF_LOG_DBG, __VA_ARGS__)
#define CF_WARN_RL(RL, ...) \
    cf_log_rl(RL, cf_log_this_module, CF_LOG_WARN, __VA_ARGS__)
#define CF_INFO_RL(RL, ...) \
    cf_log_rl(RL, cf_log_this_module, CF_LOG_INFO, __VA_ARGS__)

/* True if messages at 'level' go to stderr. */
bool cf_log_console_enabled(enum cf_log_level level);
/* Sets the most verbose level written to stderr and to the log file. */
void cf_log_set_levels(enum cf_log_level console, enum cf_log_level file);
/* Applies an OVS-style spec ("dbg", "console:off", "file:dbg",
 * "module:console:warn").  Returns NULL or a malloc'd error. */
char *cf_log_set_spec(const char *spec);
/* Parses "dbg", "info", "warn", "err", "off" (also "emer"). */
bool cf_log_level_parse(const char *, enum cf_log_level *);
const char *cf_log_level_name(enum cf_log_level);

/* Opens 'file_name' (appending) as the log file, or reopens the current one
 * if 'file_name' is NULL.  Returns NULL or a malloc'd error. */
char *cf_log_set_file(const char *file_name);
/* The log file's name, or NULL. */
const char *cf_log_file_name(void);
/* Stops writing to stderr (after --detach). */
void cf_log_disable_console(void);
/* The program name used in messages written to stderr. */
void cf_log_set_program_name(const char *);

#endif /* k8s/cflog.h */
