/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Configuration files: turns "option = value" lines into command-line
 * arguments placed before the real ones (see conjflow/cfconfig.h for the
 * format and the ownership rules).  Pure C: no libopenvswitch, no jansson,
 * so all three programs can use it.
 */
#include "conjflow-config.h"

#include "conjflow/cfconfig.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"

#ifndef CF_SYSCONFDIR
#define CF_SYSCONFDIR "/etc"
#endif

/* A growable vector of malloc'd strings. */
struct cf_strvec {
    char **names;           /* Strings, each malloc'd. */
    size_t n;               /* Number of strings in 'names'. */
    size_t allocated;       /* Allocated elements of 'names'. */
};

/* Appends 's' (taking ownership) to 'v'. */
static void
strvec_push(struct cf_strvec *v, char *s)
{
    if (v->n >= v->allocated) {
        v->names = cf_x2nrealloc(v->names, &v->allocated,
                                 sizeof *v->names);
    }
    v->names[v->n++] = s;
}

/* Frees the strings of 'v' and its array. */
static void
strvec_destroy(struct cf_strvec *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->names[i]);
    }
    free(v->names);
    v->names = NULL;
    v->n = v->allocated = 0;
}

/* Returns true if 'c' is a blank (space, tab, carriage return). */
static bool
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Returns true if 'c' may appear in an option name. */
static bool
is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Returns the entry of 'options' whose long name is exactly 'name', or NULL
 * if there is none. */
static const struct option *
find_option(const struct option *options, const char *name)
{
    for (const struct option *o = options; o && o->name; o++) {
        if (!strcmp(o->name, name)) {
            return o;
        }
    }
    return NULL;
}

/* Parses a double-quoted value that starts at 's' (just after the opening
 * quote) into 'value'.  Stores in '*endp' the character after the closing
 * quote.  Returns NULL on success or a malloc'd message (without the
 * location, which the caller adds). */
static char *
parse_quoted(const char *s, struct cf_ds *value, const char **endp)
{
    for (;;) {
        char c = *s++;
        if (c == '\0') {
            return cf_xstrdup("unterminated quoted value");
        } else if (c == '"') {
            *endp = s;
            return NULL;
        } else if (c == '\\') {
            c = *s++;
            switch (c) {
            case '"':
            case '\\':
                cf_ds_put_char(value, c);
                break;
            case 't':
                cf_ds_put_char(value, '\t');
                break;
            case 'n':
                cf_ds_put_char(value, '\n');
                break;
            case '\0':
                return cf_xstrdup("unterminated quoted value");
            default:
                return cf_xasprintf("unknown escape \\%c in quoted value "
                                    "(use \\\", \\\\, \\t or \\n)", c);
            }
        } else {
            cf_ds_put_char(value, c);
        }
    }
}

/* Parses one line 'line' (without its newline) of a configuration file.
 * If the line holds a setting, appends "--name" or "--name=value" to
 * 'args'.  'options', if nonnull, is the program's getopt_long() table to
 * check the setting against.  Returns NULL on success or a malloc'd
 * message (without the location). */
static char *
parse_line(const char *line, const struct option *options,
           struct cf_strvec *args)
{
    const char *p = line;
    while (is_blank(*p)) {
        p++;
    }
    if (*p == '\0' || *p == '#') {
        return NULL;
    }

    if (p[0] == '-') {
        return cf_xstrdup("option names are written without the leading "
                          "\"--\" (write \"db = FILE\", not "
                          "\"--db = FILE\")");
    }
    const char *name_start = p;
    while (is_name_char(*p)) {
        p++;
    }
    if (p == name_start) {
        return cf_xasprintf("expected an option name, found '%c'", *p);
    }
    char *name = cf_xmemdup0(name_start, p - name_start);
    while (is_blank(*p)) {
        p++;
    }

    char *error = NULL;
    struct cf_ds value = CF_DS_INIT;
    bool has_value = false;
    if (*p == '=') {
        p++;
        while (is_blank(*p)) {
            p++;
        }
        has_value = true;
        if (*p == '"') {
            error = parse_quoted(p + 1, &value, &p);
            if (error) {
                goto exit;
            }
            while (is_blank(*p)) {
                p++;
            }
            if (*p != '\0' && *p != '#') {
                error = cf_xasprintf("option '%s': unexpected text after "
                                     "the quoted value", name);
                goto exit;
            }
        } else {
            /* An unquoted value ends at the end of the line or at a '#'
             * that starts it or follows a blank (so "a#b" is one value);
             * trailing blanks are not part of it. */
            const char *start = p;
            const char *end = p;
            for (; *p; p++) {
                if (*p == '#' && (p == start || is_blank(p[-1]))) {
                    break;
                }
                if (!is_blank(*p)) {
                    end = p + 1;
                }
            }
            if (end == start) {
                error = cf_xasprintf("option '%s': missing value after '=' "
                                     "(write %s = \"\" for an empty value)",
                                     name, name);
                goto exit;
            }
            cf_ds_put_buf(&value, start, end - start);
        }
    } else if (*p != '\0' && *p != '#') {
        error = cf_xasprintf("option '%s': expected '=' or the end of the "
                             "line after the option name", name);
        goto exit;
    }

    if (!strcmp(name, "config") || !strcmp(name, "no-config")) {
        error = cf_xasprintf("option '%s' cannot be set in a configuration "
                             "file", name);
        goto exit;
    }
    if (options) {
        const struct option *o = find_option(options, name);
        if (!o) {
            error = cf_xasprintf("unknown option '%s'", name);
            goto exit;
        } else if (o->has_arg == required_argument && !has_value) {
            error = cf_xasprintf("option '%s' requires a value "
                                 "(write %s = VALUE)", name, name);
            goto exit;
        } else if (o->has_arg == no_argument && has_value) {
            error = cf_xasprintf("option '%s' takes no value (write just "
                                 "\"%s\" on the line)", name, name);
            goto exit;
        }
    }

    strvec_push(args, (has_value
                       ? cf_xasprintf("--%s=%s", name, cf_ds_cstr(&value))
                       : cf_xasprintf("--%s", name)));

exit:
    cf_ds_destroy(&value);
    free(name);
    return error;
}

/* Reads the settings of configuration file 'path' into 'args'.  Succeeds
 * without reading anything if the file does not exist and 'must_exist' is
 * false.  Returns NULL on success or a malloc'd message
 * that names the file and, for syntax errors, the line. */
static char *
read_config(const char *path, bool must_exist,
            const struct option *options, struct cf_strvec *args)
{
    FILE *file = fopen(path, "r");
    if (!file) {
        if (errno == ENOENT && !must_exist) {
            return NULL;
        }
        return cf_xasprintf("%s: cannot open configuration file (%s)",
                            path, strerror(errno));
    }

    char *error = NULL;
    char *line = NULL;
    size_t line_size = 0;
    int line_number = 0;
    for (;;) {
        errno = 0;
        ssize_t len = getline(&line, &line_size, file);
        if (len < 0) {
            if (ferror(file)) {
                error = cf_xasprintf("%s: read error (%s)", path,
                                     strerror(errno ? errno : EIO));
            }
            break;
        }
        line_number++;
        if (len > 0 && line[len - 1] == '\n') {
            line[--len] = '\0';
        }
        if (strlen(line) != (size_t) len) {
            error = cf_xasprintf("%s:%d: line contains a null byte",
                                 path, line_number);
            break;
        }
        char *line_error = parse_line(line, options, args);
        if (line_error) {
            error = cf_xasprintf("%s:%d: %s", path, line_number, line_error);
            free(line_error);
            break;
        }
    }
    free(line);
    fclose(file);
    return error;
}

/* Builds the new vector: argv[0], the settings in 'settings', then argv[1]
 * through argv[argc - 1] except those marked in 'skip' (if nonnull).
 * Stores it in '*argcp' and '*argvp'. */
static void
build_argv(int argc, char **argv, const bool *skip,
           const struct cf_strvec *settings, int *argcp, char ***argvp)
{
    size_t n = 0;
    char **new_argv = cf_xcalloc(argc + settings->n + 1, sizeof *new_argv);
    if (argc > 0) {
        new_argv[n++] = cf_xstrdup(argv[0]);
    }
    for (size_t i = 0; i < settings->n; i++) {
        new_argv[n++] = cf_xstrdup(settings->names[i]);
    }
    for (int i = 1; i < argc; i++) {
        if (!skip || !skip[i]) {
            new_argv[n++] = cf_xstrdup(argv[i]);
        }
    }
    new_argv[n] = NULL;
    *argcp = n;
    *argvp = new_argv;
}

char *
cf_config_load_argv_checked(const char *path, bool must_exist,
                            const struct option *options,
                            int *argcp, char ***argvp)
{
    struct cf_strvec settings = { NULL, 0, 0 };
    char *error = read_config(path, must_exist, options, &settings);
    if (!error) {
        build_argv(*argcp, *argvp, NULL, &settings, argcp, argvp);
    }
    strvec_destroy(&settings);
    return error;
}

char *
cf_config_load_argv(const char *path, bool must_exist,
                    int *argcp, char ***argvp)
{
    return cf_config_load_argv_checked(path, must_exist, NULL, argcp, argvp);
}

char *
cf_config_default_path(const char *program)
{
    return cf_xasprintf("%s/conjflow/%s.conf", CF_SYSCONFDIR, program);
}

/* Returns true if 'arg' ("--name" without '=') names a long option in
 * 'options' that requires an argument, so that the next argument is its
 * value. */
static bool
takes_next_arg(const char *arg, const struct option *options)
{
    if (!options || strncmp(arg, "--", 2) || strchr(arg, '=')) {
        return false;
    }
    const struct option *o = find_option(options, arg + 2);
    return o && o->has_arg == required_argument;
}

char *
cf_config_apply(const char *program, const struct option *options,
                int *argcp, char ***argvp)
{
    int argc = *argcp;
    char **argv = *argvp;
    bool *skip = cf_xcalloc(argc + 1, sizeof *skip);
    const char *path = NULL;
    bool no_config = false;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--")) {
            break;
        } else if (!strcmp(arg, "--config")) {
            if (i + 1 >= argc) {
                free(skip);
                return cf_xstrdup("option '--config' requires an argument");
            }
            skip[i] = skip[i + 1] = true;
            path = argv[++i];
        } else if (!strncmp(arg, "--config=", 9)) {
            skip[i] = true;
            path = arg + 9;
        } else if (!strcmp(arg, "--no-config")) {
            skip[i] = true;
            no_config = true;
        } else if (takes_next_arg(arg, options)) {
            i++;
        }
    }
    if (path && !*path) {
        free(skip);
        return cf_xstrdup("option '--config' requires a file name");
    }

    struct cf_strvec settings = { NULL, 0, 0 };
    char *error = NULL;
    if (!no_config) {
        char *default_path = path ? NULL : cf_config_default_path(program);
        error = read_config(path ? path : default_path, path != NULL,
                            options, &settings);
        free(default_path);
    }
    if (!error) {
        build_argv(argc, argv, skip, &settings, argcp, argvp);
    }
    strvec_destroy(&settings);
    free(skip);
    return error;
}

void
cf_config_free_argv(int argc, char **argv)
{
    if (argv) {
        for (int i = 0; i < argc; i++) {
            free(argv[i]);
        }
        free(argv);
    }
}
