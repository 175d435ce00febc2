/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Configuration files for conjflow's programs.  Every command-line option
 * of a program can also be set in a file (by default
 * /etc/conjflow/<program>.conf), so that a systemd unit runs just
 * "conjflowd --config /etc/conjflow/conjflowd.conf" and operators change
 * the file, never the unit.
 *
 * The format, one setting per line:
 *
 *     # A comment.  Blank lines are ignored.
 *     db = /var/lib/conjflow/conjflow.db
 *     verbose = vconn:info          # a comment after a value
 *     verbose = rconn:warn          # an option may repeat
 *     monitor                       # an option that takes no value
 *     remote = "tcp:10.0.0.1:6640"  # quotes keep '#' and blanks: \" \\ \t
 *
 * A name is the long option without its leading "--".  Each setting
 * becomes one argument, "--name=value" or "--name", and the settings are
 * inserted, in file order, between argv[0] and the real command-line
 * arguments.  getopt_long() then sees the file first and the command line
 * last, so for an option that takes one value the command line wins.
 * "config" and "no-config" cannot be set in a file.
 *
 * Usage in a main(), after set_program_name() and (in OVS daemons)
 * ovs_cmdl_proctitle_init() have seen the real argv, before parsing:
 *
 *     char *error = cf_config_apply("conjflowd", long_options,
 *                                   &argc, &argv);
 *     if (error) {
 *         ovs_fatal(0, "%s", error);
 *     }
 *
 * cf_config_apply() handles "--config FILE", "--config=FILE" and
 * "--no-config" itself and removes them from the vector, so the program's
 * option table needs no entry for them (only its --help text mentions
 * them).
 *
 * Ownership: on success the functions replace '*argvp' with a new,
 * null-terminated vector in which every string is newly allocated.  The
 * old vector is left alone (it is usually main()'s).  A program keeps the
 * new vector for its lifetime, as it would main()'s argv;
 * cf_config_free_argv() frees one (tests use it).  On error '*argcp' and
 * '*argvp' are unchanged and the functions return a malloc'd message,
 * "FILE:LINE: what is wrong", that the caller frees.
 *
 * Pure C (uses conjflow/cfutil.h): link controller/libcfconfig.la with
 * controller/libcfmodel.la.
 */
#ifndef CONJFLOW_CFCONFIG_H
#define CONJFLOW_CFCONFIG_H 1

#include <stdbool.h>

struct option;

/* Reads the configuration file 'path' and inserts its settings between
 * (*argvp)[0] and (*argvp)[1], updating '*argcp'.  If 'path' does not exist
 * and 'must_exist' is false, the new vector is a copy of the old one; any
 * other failure to read it is an error.  Returns NULL on success or a
 * malloc'd error message (see the file comment for ownership). */
char *cf_config_load_argv(const char *path, bool must_exist,
                          int *argcp, char ***argvp);

/* Like cf_config_load_argv(), and also checks each setting against
 * 'options', a getopt_long() table ending in an all-zero entry: the name
 * must be one of its long options, spelled out in full, and must have a
 * value if the option requires an argument and none if it takes none.
 * 'options' may be NULL to check nothing. */
char *cf_config_load_argv_checked(const char *path, bool must_exist,
                                  const struct option *options,
                                  int *argcp, char ***argvp);

/* Returns the default configuration file of 'program' (for example
 * "/etc/conjflow/conjflowd.conf", under the configured sysconfdir), in a
 * malloc'd string the caller frees. */
char *cf_config_default_path(const char *program);

/* Handles a program's configuration file in one call.  Looks in '*argvp'
 * (up to a "--" argument) for "--config FILE" or "--config=FILE" (the last
 * one counts; FILE must then exist) and for "--no-config" (no file is
 * read), removes those arguments, and loads FILE or, if neither was given,
 * cf_config_default_path(program) if it exists.  'options', if nonnull, is
 * the program's getopt_long() table, used to check the file's settings and
 * to skip the values of options that take one while scanning.  Returns
 * NULL on success or a malloc'd error message. */
char *cf_config_apply(const char *program, const struct option *options,
                      int *argcp, char ***argvp);

/* Frees a vector of 'argc' strings made by the functions above. */
void cf_config_free_argv(int argc, char **argv);

#endif /* conjflow/cfconfig.h */
