/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of controller/cfconfig.c: configuration files turned into
 * command-line arguments.  Each test writes real files into a private
 * temporary directory, loads them, and checks the resulting vector, the
 * errors (with file and line) and, through getopt_long(), that the
 * command line wins over the file.
 */
#include "conjflow-config.h"

#include <check.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conjflow/cfconfig.h"
#include "conjflow/cfutil.h"

/* The private directory of the running test, removed by teardown(). */
static char tmpdir[256];

/* Number of files written into 'tmpdir' by write_file(). */
static int n_files;

/* A getopt_long() table like a daemon's. */
static const struct option test_options[] = {
    {"db", required_argument, NULL, 'd'},
    {"pidfile", optional_argument, NULL, 'p'},
    {"detach", no_argument, NULL, 'D'},
    {"verbose", optional_argument, NULL, 'v'},
    {"remote", required_argument, NULL, 'r'},
    {NULL, 0, NULL, 0},
};

/* Creates the private directory. */
static void
setup(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/check-cfconfig.XXXXXX",
             base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    n_files = 0;
}

/* Removes the files written by the test and the private directory. */
static void
teardown(void)
{
    for (int i = 0; i < n_files; i++) {
        char *path = cf_xasprintf("%s/f%d.conf", tmpdir, i);
        unlink(path);
        free(path);
    }
    rmdir(tmpdir);
}

/* Writes 'contents' into a new file in the private directory and returns
 * its malloc'd path. */
static char *
write_file(const char *contents, size_t len)
{
    char *path = cf_xasprintf("%s/f%d.conf", tmpdir, n_files++);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(contents, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

#define WRITE(S) write_file(S, strlen(S))

/* Checks that 'argc'/'argv' are exactly the 'n' strings in 'expected' and
 * that argv[argc] is NULL. */
static void
check_argv(int argc, char **argv, const char *const *expected, int n)
{
    ck_assert_int_eq(argc, n);
    for (int i = 0; i < n; i++) {
        ck_assert_str_eq(argv[i], expected[i]);
    }
    ck_assert_ptr_null(argv[argc]);
}

/* Loads 'contents' unchecked, expects success, and compares the result of
 * inserting it before the arguments "prog", "--db=cli". */
static void
check_load(const char *contents, const char *const *expected, int n)
{
    char *path = WRITE(contents);
    char *args[] = { "prog", "--db=cli", NULL };
    int argc = 2;
    char **argv = args;
    char *error = cf_config_load_argv(path, true, &argc, &argv);
    ck_assert_msg(!error, "unexpected error: %s", error);
    check_argv(argc, argv, expected, n);
    ck_assert_ptr_ne(argv, args);
    cf_config_free_argv(argc, argv);
    free(path);
}

/* Loads 'contents' checked against test_options and expects an error equal
 * to "FILE:" followed by 'expected'; checks that the vector is unchanged. */
static void
check_error(const char *contents, const char *expected)
{
    char *path = WRITE(contents);
    char *args[] = { "prog", "--detach", NULL };
    int argc = 2;
    char **argv = args;
    char *error = cf_config_load_argv_checked(path, true, test_options,
                                              &argc, &argv);
    ck_assert_ptr_nonnull(error);
    char *want = cf_xasprintf("%s:%s", path, expected);
    ck_assert_str_eq(error, want);
    ck_assert_int_eq(argc, 2);
    ck_assert_ptr_eq(argv, args);
    free(want);
    free(error);
    free(path);
}

START_TEST(test_settings_before_command_line)
{
    static const char *const expected[] = {
        "prog", "--db=/var/lib/x.db", "--detach", "--verbose=vconn:info",
        "--db=cli",
    };
    check_load("db = /var/lib/x.db\ndetach\nverbose=vconn:info\n",
               expected, CF_ARRAY_SIZE(expected));
}
END_TEST

START_TEST(test_comments_blanks_whitespace)
{
    static const char *const expected[] = {
        "prog", "--db=a b", "--remote=x#y", "--detach", "--pidfile=p",
        "--db=cli",
    };
    check_load("# leading comment\n"
               "\n"
               "   \t\n"
               "  db   =   a b   # trailing comment\n"
               "remote = x#y\n"
               "\tdetach # flag with comment\r\n"
               "pidfile=p",                 /* No final newline. */
               expected, CF_ARRAY_SIZE(expected));
}
END_TEST

START_TEST(test_quoted_values)
{
    static const char *const expected[] = {
        "prog", "--remote= has # and \"q\" and \\ ", "--db=", "--pidfile=\t",
        "--db=cli",
    };
    check_load("remote = \" has # and \\\"q\\\" and \\\\ \"  # c\n"
               "db = \"\"\n"
               "pidfile = \"\\t\"\n",
               expected, CF_ARRAY_SIZE(expected));
}
END_TEST

START_TEST(test_empty_file)
{
    static const char *const expected[] = { "prog", "--db=cli" };
    check_load("", expected, CF_ARRAY_SIZE(expected));
    check_load("# only a comment\n\n", expected, CF_ARRAY_SIZE(expected));
}
END_TEST

START_TEST(test_syntax_errors)
{
    check_error("db = x\n--db = y\n",
                "2: option names are written without the leading \"--\" "
                "(write \"db = FILE\", not \"--db = FILE\")");
    check_error("\n\n= x\n", "3: expected an option name, found '='");
    check_error("db /x\n", "1: option 'db': expected '=' or the end of the "
                "line after the option name");
    check_error("db =   # nothing\n", "1: option 'db': missing value after "
                "'=' (write db = \"\" for an empty value)");
    check_error("db = \"abc\n", "1: unterminated quoted value");
    check_error("db = \"a\" b\n", "1: option 'db': unexpected text after "
                "the quoted value");
    check_error("db = \"a\\qb\"\n", "1: unknown escape \\q in quoted value "
                "(use \\\", \\\\, \\t or \\n)");
    check_error("config = /etc/x\n", "1: option 'config' cannot be set in "
                "a configuration file");
    check_error("no-config\n", "1: option 'no-config' cannot be set in a "
                "configuration file");
}
END_TEST

START_TEST(test_option_table_errors)
{
    check_error("detach\nfrobnicate = 1\n", "2: unknown option 'frobnicate'");
    check_error("d = x\n", "1: unknown option 'd'");        /* No prefixes. */
    check_error("db\n", "1: option 'db' requires a value (write db = VALUE)");
    check_error("detach = yes\n", "1: option 'detach' takes no value (write "
                "just \"detach\" on the line)");
}
END_TEST

START_TEST(test_null_byte)
{
    char *path = write_file("db = a\0b\n", 9);
    char *args[] = { "prog", NULL };
    int argc = 1;
    char **argv = args;
    char *error = cf_config_load_argv(path, true, &argc, &argv);
    char *want = cf_xasprintf("%s:1: line contains a null byte", path);
    ck_assert_str_eq(error, want);
    ck_assert_ptr_eq(argv, args);
    free(want);
    free(error);
    free(path);
}
END_TEST

START_TEST(test_missing_file)
{
    char *path = cf_xasprintf("%s/absent.conf", tmpdir);
    char *args[] = { "prog", "--detach", NULL };
    int argc = 2;
    char **argv = args;

    /* Optional: a copy of the vector. */
    char *error = cf_config_load_argv(path, false, &argc, &argv);
    ck_assert_ptr_null(error);
    ck_assert_ptr_ne(argv, args);
    static const char *const expected[] = { "prog", "--detach" };
    check_argv(argc, argv, expected, 2);
    cf_config_free_argv(argc, argv);

    /* Required: an error naming the file. */
    argc = 2;
    argv = args;
    error = cf_config_load_argv(path, true, &argc, &argv);
    char *want = cf_xasprintf("%s: cannot open configuration file "
                              "(No such file or directory)", path);
    ck_assert_str_eq(error, want);
    ck_assert_ptr_eq(argv, args);
    free(want);
    free(error);

    /* A directory is an error even when the file is optional. */
    error = cf_config_load_argv(tmpdir, false, &argc, &argv);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, tmpdir) == error, "%s", error);
    ck_assert_ptr_eq(argv, args);
    free(error);
    free(path);
}
END_TEST

/* Parses 'argc'/'argv' with getopt_long() and test_options and returns, in
 * '*db' and '*n_verbose', the last --db value and the number of
 * --verbose options. */
static void
parse_options(int argc, char **argv, const char **db, int *n_verbose)
{
    *db = NULL;
    *n_verbose = 0;
    optind = 0;                 /* Full reinitialization (GNU). */
    for (;;) {
        int c = getopt_long(argc, argv, "", test_options, NULL);
        if (c == -1) {
            break;
        }
        ck_assert_int_ne(c, '?');
        if (c == 'd') {
            *db = optarg;
        } else if (c == 'v') {
            (*n_verbose)++;
        }
    }
}

START_TEST(test_command_line_wins)
{
    char *path = WRITE("db = from-file\nverbose = a\ndetach\n");
    char *args[] = { "prog", "--verbose=b", "--db", "from-cli", NULL };
    int argc = 4;
    char **argv = args;
    char *error = cf_config_load_argv_checked(path, true, test_options,
                                              &argc, &argv);
    ck_assert_ptr_null(error);
    const char *db;
    int n_verbose;
    parse_options(argc, argv, &db, &n_verbose);
    ck_assert_str_eq(db, "from-cli");
    ck_assert_int_eq(n_verbose, 2);
    cf_config_free_argv(argc, argv);

    /* Without the command-line --db, the file's value is used. */
    char *args2[] = { "prog", NULL };
    argc = 1;
    argv = args2;
    error = cf_config_load_argv_checked(path, true, test_options,
                                        &argc, &argv);
    ck_assert_ptr_null(error);
    parse_options(argc, argv, &db, &n_verbose);
    ck_assert_str_eq(db, "from-file");
    ck_assert_int_eq(n_verbose, 1);
    cf_config_free_argv(argc, argv);
    free(path);
}
END_TEST

START_TEST(test_apply_config_option)
{
    char *path = WRITE("db = f\n");
    char *path2 = WRITE("db = g\ndetach\n");

    /* "--config FILE" (separate), removed from the vector; the value of a
     * required-argument option is not mistaken for --config. */
    char *args[] = { "prog", "--remote", "--config", "--config", path,
                     "x", NULL };
    int argc = 6;
    char **argv = args;
    char *error = cf_config_apply("check-cfconfig", test_options,
                                  &argc, &argv);
    ck_assert_msg(!error, "%s", error);
    static const char *const expected[] = {
        "prog", "--db=f", "--remote", "--config", "x",
    };
    check_argv(argc, argv, expected, CF_ARRAY_SIZE(expected));
    cf_config_free_argv(argc, argv);

    /* "--config=FILE", the last one counts; arguments after "--" are left
     * alone. */
    char *opt1 = cf_xasprintf("--config=%s", path);
    char *opt2 = cf_xasprintf("--config=%s", path2);
    char *args2[] = { "prog", opt1, "--db=c", opt2, "--", "--no-config",
                      NULL };
    argc = 6;
    argv = args2;
    error = cf_config_apply("check-cfconfig", test_options, &argc, &argv);
    ck_assert_msg(!error, "%s", error);
    static const char *const expected2[] = {
        "prog", "--db=g", "--detach", "--db=c", "--", "--no-config",
    };
    check_argv(argc, argv, expected2, CF_ARRAY_SIZE(expected2));
    cf_config_free_argv(argc, argv);

    /* "--no-config": nothing is read. */
    char *args3[] = { "prog", opt1, "--no-config", NULL };
    argc = 3;
    argv = args3;
    error = cf_config_apply("check-cfconfig", test_options, &argc, &argv);
    ck_assert_ptr_null(error);
    check_argv(argc, argv, expected, 1);
    cf_config_free_argv(argc, argv);

    free(opt1);
    free(opt2);
    free(path);
    free(path2);
}
END_TEST

START_TEST(test_apply_errors)
{
    /* An explicit file must exist. */
    char *missing = cf_xasprintf("%s/missing.conf", tmpdir);
    char *args[] = { "prog", "--config", missing, NULL };
    int argc = 3;
    char **argv = args;
    char *error = cf_config_apply("check-cfconfig", test_options,
                                  &argc, &argv);
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, missing) && strstr(error, "cannot open"),
                  "%s", error);
    ck_assert_ptr_eq(argv, args);
    ck_assert_int_eq(argc, 3);
    free(error);

    /* "--config" without a file name. */
    char *args2[] = { "prog", "--config", NULL };
    argc = 2;
    argv = args2;
    error = cf_config_apply("check-cfconfig", NULL, &argc, &argv);
    ck_assert_str_eq(error, "option '--config' requires an argument");
    free(error);
    char *args3[] = { "prog", "--config=", NULL };
    argv = args3;
    error = cf_config_apply("check-cfconfig", NULL, &argc, &argv);
    ck_assert_str_eq(error, "option '--config' requires a file name");
    free(error);

    /* The file's errors are checked against the table. */
    char *path = WRITE("bogus\n");
    char *args4[] = { "prog", "--config", path, NULL };
    argc = 3;
    argv = args4;
    error = cf_config_apply("check-cfconfig", test_options, &argc, &argv);
    char *want = cf_xasprintf("%s:1: unknown option 'bogus'", path);
    ck_assert_str_eq(error, want);
    free(want);
    free(error);
    free(path);
    free(missing);
}
END_TEST

START_TEST(test_apply_default_path)
{
    char *def = cf_config_default_path("conjflowd");
    size_t len = strlen(def);
    const char *suffix = "/conjflow/conjflowd.conf";
    ck_assert_uint_gt(len, strlen(suffix));
    ck_assert_str_eq(def + len - strlen(suffix), suffix);
    ck_assert_int_eq(def[0], '/');
    free(def);

    /* A program without a default file runs with its own arguments. */
    char *args[] = { "prog", "--detach", NULL };
    int argc = 2;
    char **argv = args;
    char *error = cf_config_apply("check-cfconfig-no-such-program",
                                  test_options, &argc, &argv);
    ck_assert_ptr_null(error);
    static const char *const expected[] = { "prog", "--detach" };
    check_argv(argc, argv, expected, 2);
    cf_config_free_argv(argc, argv);
}
END_TEST

/* The suite of controller/cfconfig.c. */
static Suite *
cfconfig_suite(void)
{
    Suite *s = suite_create("cfconfig");
    TCase *tc = tcase_create("cfconfig");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_settings_before_command_line);
    tcase_add_test(tc, test_comments_blanks_whitespace);
    tcase_add_test(tc, test_quoted_values);
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_syntax_errors);
    tcase_add_test(tc, test_option_table_errors);
    tcase_add_test(tc, test_null_byte);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_command_line_wins);
    tcase_add_test(tc, test_apply_config_option);
    tcase_add_test(tc, test_apply_errors);
    tcase_add_test(tc, test_apply_default_path);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(cfconfig_suite());
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
