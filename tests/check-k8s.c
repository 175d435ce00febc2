/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Tests of conjflow-k8s (k8s/).  Unit tests: the JSON stream splitter,
 * base64, kubeconfig (one file, and several merged as kubectl does) and
 * in-cluster configuration, Node conversion.
 * System tests: the real conjflow-k8s against the test API server
 * (tests/k8s-apiserver.py: TLS, bearer tokens, chunked watch streams,
 * bookmarks, 410 Gone), with the real store: initial sync of 10,000 pods,
 * every event type, a connection dropped mid-event, a stalled stream, a
 * 410 relist (and one that changes nothing), invalid objects, an auth
 * failure, resume after a restart, client certificates, ovs-appctl,
 * --detach --monitor, and the watch health rows in the store.
 */
#include "conjflow-config.h"

#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conjflow/cfutil.h"
#include "conjflow/k8s.h"
#include "conjflow/store.h"
#include "k8s-harness.h"

/* ---- Splitter ----------------------------------------------------------- */

static const char stream[] =
    "{\"type\":\"ADDED\",\"object\":{\"a\":\"} { [ \\\" \\\\\"}}\n"
    "{\"type\":\"BOOKMARK\",\"object\":{\"b\":[1,{\"c\":2}]}}\n"
    "\n  {\"type\":\"DELETED\",\"object\":{}}";

/* Feeds 'stream' in pieces of 'step' bytes and checks the three values
 * come out intact. */
static void
check_split(size_t step)
{
    struct cf_json_splitter s;
    cf_json_splitter_init(&s);
    size_t len = strlen(stream);
    int n = 0;
    const char *types[] = { "ADDED", "BOOKMARK", "DELETED" };
    for (size_t off = 0; off < len; off += step) {
        cf_json_splitter_feed(&s, stream + off, CF_MIN(step, len - off));
        const char *v;
        size_t vlen;
        while ((v = cf_json_splitter_next(&s, &vlen))) {
            json_error_t err;
            json_t *j = json_loadb(v, vlen, 0, &err);
            ck_assert_msg(j != NULL, "step %zu: value %d: %s", step, n,
                          err.text);
            ck_assert_int_lt(n, 3);
            ck_assert_str_eq(json_string_value(json_object_get(j, "type")),
                             types[n]);
            if (n == 0) {
                ck_assert_str_eq(json_string_value(json_object_get(
                    json_object_get(j, "object"), "a")), "} { [ \" \\");
            }
            json_decref(j);
            n++;
        }
    }
    ck_assert(!s.error);
    ck_assert_int_eq(n, 3);
    ck_assert_uint_eq(cf_json_splitter_pending(&s), 0);
    cf_json_splitter_destroy(&s);
}

START_TEST(test_splitter_pieces)
{
    for (size_t step = 1; step <= strlen(stream); step++) {
        check_split(step);
    }
}
END_TEST

START_TEST(test_splitter_partial_and_garbage)
{
    struct cf_json_splitter s;
    size_t len;
    cf_json_splitter_init(&s);
    cf_json_splitter_feed(&s, "{\"a\":\"x", 7);
    ck_assert(cf_json_splitter_next(&s, &len) == NULL);
    ck_assert_uint_eq(cf_json_splitter_pending(&s), 7);
    cf_json_splitter_reset(&s);
    ck_assert_uint_eq(cf_json_splitter_pending(&s), 0);
    cf_json_splitter_feed(&s, "  x{}", 5);
    ck_assert(cf_json_splitter_next(&s, &len) == NULL);
    ck_assert(s.error);
    cf_json_splitter_destroy(&s);
}
END_TEST

/* ---- base64 and configuration ------------------------------------------- */

START_TEST(test_base64)
{
    char *out;
    size_t len;
    ck_assert(cf_base64_decode("aGVsbG8gd29ybGQ=", 16, &out, &len));
    ck_assert_uint_eq(len, 11);
    ck_assert_str_eq(out, "hello world");
    free(out);
    ck_assert(cf_base64_decode("aGVs\nbG8=", 9, &out, &len));
    ck_assert_str_eq(out, "hello");
    free(out);
    ck_assert(!cf_base64_decode("aGV*bG8=", 8, &out, &len));
    ck_assert(!cf_base64_decode("aGVsbG8=x", 9, &out, &len));
}
END_TEST

static char *
make_tmpdir(void)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = cf_xasprintf("%s/cf-k8s-unit-XXXXXX", tmp ? tmp : "/tmp");
    ck_assert(mkdtemp(dir) != NULL);
    return dir;
}

static void
write_file(const char *name, const char *text)
{
    FILE *f = fopen(name, "w");
    ck_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static void
remove_tree(const char *dir)
{
    char *cmd = cf_xasprintf("rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
}

static const char kubeconfig[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "current-context: prod\n"
    "clusters:\n"
    "- name: c1\n"
    "  cluster:\n"
    "    server: https://10.0.0.1:6443/\n"
    "    certificate-authority-data: aGVsbG8=\n"
    "- name: c2\n"
    "  cluster:\n"
    "    server: https://k8s.example:443\n"
    "    certificate-authority: certs/ca.pem\n"
    "- name: c3\n"
    "  cluster:\n"
    "    server: https://insecure:443\n"
    "    insecure-skip-tls-verify: true\n"
    "users:\n"
    "- name: u1\n"
    "  user:\n"
    "    token: s3cr3t\n"
    "- name: u2\n"
    "  user:\n"
    "    tokenFile: tok\n"
    "    client-certificate: certs/c.pem\n"
    "    client-key-data: a2V5\n"
    "- name: u3\n"
    "  user:\n"
    "    exec:\n"
    "      command: aws\n"
    "contexts:\n"
    "- name: prod\n"
    "  context: {cluster: c1, user: u1}\n"
    "- name: dev\n"
    "  context: {cluster: c2, user: u2}\n"
    "- name: bad\n"
    "  context: {cluster: c3, user: u1}\n"
    "- name: execuser\n"
    "  context: {cluster: c1, user: u3}\n"
    "- name: nouser\n"
    "  context: {cluster: c1, user: nobody}\n";

START_TEST(test_kubeconfig)
{
    char *dir = make_tmpdir();
    char *file = cf_xasprintf("%s/config", dir);
    char *certs = cf_xasprintf("%s/certs", dir);
    ck_assert_int_eq(mkdir(certs, 0755), 0);
    char *ca = cf_xasprintf("%s/certs/ca.pem", dir);
    char *cert = cf_xasprintf("%s/certs/c.pem", dir);
    char *tok = cf_xasprintf("%s/tok", dir);
    write_file(file, kubeconfig);
    write_file(ca, "ca");
    write_file(cert, "cert");
    write_file(tok, "from-file\n");

    /* The current context: inline CA and token; the trailing '/' goes. */
    struct cf_k8s_config *c;
    char *error = cf_k8s_config_load(file, NULL, &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://10.0.0.1:6443");
    ck_assert_uint_eq(c->ca.len, 5);
    ck_assert_str_eq(c->ca.data, "hello");
    ck_assert_str_eq(c->token, "s3cr3t");
    ck_assert(strstr(c->source, "context prod"));
    char *token;
    ck_assert(!cf_k8s_config_token(c, &token));
    ck_assert_str_eq(token, "s3cr3t");
    free(token);
    cf_k8s_config_destroy(c);

    /* A named context: files relative to the kubeconfig, a token file,
     * a client certificate and key. */
    error = cf_k8s_config_load(file, "dev", &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->ca.file, ca);
    ck_assert_str_eq(c->cert.file, cert);
    ck_assert_str_eq(c->key.data, "key");
    ck_assert_str_eq(c->token_file, tok);
    ck_assert(!cf_k8s_config_token(c, &token));
    ck_assert_str_eq(token, "from-file");
    free(token);
    cf_k8s_config_destroy(c);

    /* Refusals name the problem (and for an unknown context, the file),
     * never the token: each context, and a part of its error. */
    static const char *const refusals[][2] = {
        { "bad", "insecure-skip-tls-verify" },
        { "execuser", "exec" },
        { "nouser", "user \"nobody\" not found" },
        { "nosuch", "context \"nosuch\" not found" },
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(refusals); i++) {
        error = cf_k8s_config_load(file, refusals[i][0], &c);
        ck_assert_msg(error && strstr(error, refusals[i][1]),
                      "context %s: %s", refusals[i][0], error);
        ck_assert_msg(!strstr(error, "s3cr3t"), "%s", error);
        free(error);
    }
    error = cf_k8s_config_load(file, "nosuch", &c);
    ck_assert_msg(error && strstr(error, file), "%s", error);
    free(error);
    error = cf_k8s_config_parse("a: [", 4, "x.yaml", NULL, &c);
    ck_assert(error && strstr(error, "x.yaml"));
    free(error);

    /* KUBECONFIG: the first file that exists. */
    char *env = cf_xasprintf("%s/none:%s", dir, file);
    setenv("KUBECONFIG", env, 1);
    error = cf_k8s_config_load(NULL, NULL, &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://10.0.0.1:6443");
    cf_k8s_config_destroy(c);
    unsetenv("KUBECONFIG");
    free(env);

    remove_tree(dir);
    free(dir);
    free(file);
    free(certs);
    free(ca);
    free(cert);
    free(tok);
}
END_TEST

START_TEST(test_kubeconfig_merge)
{
    /* KUBECONFIG with several files, merged as kubectl merges them: the
     * first file to name a context, cluster or user wins; current-context
     * from the first file that sets one; relative paths relative to the
     * file that holds them; missing and empty files are skipped. */
    char *dir = make_tmpdir();
    char *dir_a = cf_xasprintf("%s/a", dir);
    char *dir_b = cf_xasprintf("%s/b", dir);
    ck_assert_int_eq(mkdir(dir_a, 0755), 0);
    ck_assert_int_eq(mkdir(dir_b, 0755), 0);
    char *file_a = cf_xasprintf("%s/config", dir_a);
    char *file_b = cf_xasprintf("%s/config", dir_b);
    char *file_c = cf_xasprintf("%s/users-only", dir);
    char *file_e = cf_xasprintf("%s/empty", dir);
    char *ca_a = cf_xasprintf("%s/ca.pem", dir_a);
    char *ca_b = cf_xasprintf("%s/ca.pem", dir_b);
    char *tok_b = cf_xasprintf("%s/tok", dir_b);
    write_file(file_a,
               "apiVersion: v1\n"
               "kind: Config\n"
               "current-context: a-ctx\n"
               "clusters:\n"
               "- name: shared\n"
               "  cluster: {server: 'https://first:6443', "
               "certificate-authority: ca.pem}\n"
               "users:\n"
               "- name: ua\n"
               "  user: {token: tok-a}\n"
               "contexts:\n"
               "- name: a-ctx\n"
               "  context: {cluster: shared, user: ua}\n");
    write_file(file_b,
               "apiVersion: v1\n"
               "kind: Config\n"
               "current-context: b-ctx\n"
               "clusters:\n"
               "- name: shared\n"
               "  cluster: {server: 'https://second:6443', "
               "certificate-authority: ca.pem}\n"
               "- name: bonly\n"
               "  cluster: {server: 'https://bonly:6443', "
               "certificate-authority: ca.pem}\n"
               "users:\n"
               "- name: ua\n"
               "  user: {token: tok-b-ua}\n"
               "- name: ub\n"
               "  user: {tokenFile: tok}\n"
               "contexts:\n"
               "- name: a-ctx\n"
               "  context: {cluster: shared, user: ub}\n"
               "- name: b-ctx\n"
               "  context: {cluster: bonly, user: ub}\n"
               "- name: cross\n"
               "  context: {cluster: bonly, user: ua}\n");
    write_file(file_c,
               "apiVersion: v1\n"
               "kind: Config\n"
               "users:\n"
               "- name: uc\n"
               "  user: {token: tok-c}\n");
    write_file(file_e, "");
    write_file(ca_a, "ca a");
    write_file(ca_b, "ca b");
    write_file(tok_b, "from-b\n");

    /* A first: A's current-context and A's entries win. */
    char *env = cf_xasprintf("%s/none:%s:%s:%s:%s", dir, file_e, file_c,
                             file_a, file_b);
    setenv("KUBECONFIG", env, 1);
    struct cf_k8s_config *c;
    char *error = cf_k8s_config_load(NULL, NULL, &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://first:6443");
    ck_assert_str_eq(c->ca.file, ca_a);
    ck_assert_str_eq(c->token, "tok-a");
    ck_assert_msg(strstr(c->source, file_a) && strstr(c->source, file_b)
                  && strstr(c->source, "context a-ctx"), "%s", c->source);
    cf_k8s_config_destroy(c);

    /* A context only B has, with B's cluster and user, B's paths. */
    error = cf_k8s_config_load(NULL, "b-ctx", &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://bonly:6443");
    ck_assert_str_eq(c->ca.file, ca_b);
    ck_assert(!c->token);
    ck_assert_str_eq(c->token_file, tok_b);
    char *token;
    ck_assert(!cf_k8s_config_token(c, &token));
    ck_assert_str_eq(token, "from-b");
    free(token);
    cf_k8s_config_destroy(c);

    /* A context of B naming a user both define: A's user wins. */
    error = cf_k8s_config_load(NULL, "cross", &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://bonly:6443");
    ck_assert_str_eq(c->token, "tok-a");
    cf_k8s_config_destroy(c);

    /* Not found in any file: the message names them all. */
    error = cf_k8s_config_load(NULL, "nosuch", &c);
    ck_assert(error && strstr(error, "context \"nosuch\" not found"));
    ck_assert_msg(strstr(error, file_a) && strstr(error, file_b), "%s",
                  error);
    free(error);
    free(env);

    /* B first: B's current-context; and a-ctx is now B's. */
    env = cf_xasprintf("%s:%s", file_b, file_a);
    setenv("KUBECONFIG", env, 1);
    error = cf_k8s_config_load(NULL, NULL, &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://bonly:6443");
    ck_assert(strstr(c->source, "context b-ctx"));
    cf_k8s_config_destroy(c);
    error = cf_k8s_config_load(NULL, "a-ctx", &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://second:6443");
    ck_assert_str_eq(c->token_file, tok_b);
    cf_k8s_config_destroy(c);
    free(env);

    /* Only files without a current-context: a clear error. */
    env = cf_xasprintf("%s:%s", file_e, file_c);
    setenv("KUBECONFIG", env, 1);
    error = cf_k8s_config_load(NULL, NULL, &c);
    ck_assert_msg(error && strstr(error, "no current-context"), "%s", error);
    free(error);
    free(env);

    /* A file that is not YAML spoils the merge, and is named. */
    char *file_bad = cf_xasprintf("%s/bad", dir);
    write_file(file_bad, "a: [");
    env = cf_xasprintf("%s:%s", file_a, file_bad);
    setenv("KUBECONFIG", env, 1);
    error = cf_k8s_config_load(NULL, NULL, &c);
    ck_assert_msg(error && strstr(error, file_bad), "%s", error);
    free(error);
    free(env);
    unsetenv("KUBECONFIG");

    remove_tree(dir);
    free(file_bad);
    free(dir);
    free(dir_a);
    free(dir_b);
    free(file_a);
    free(file_b);
    free(file_c);
    free(file_e);
    free(ca_a);
    free(ca_b);
    free(tok_b);
}
END_TEST

START_TEST(test_in_cluster)
{
    char *dir = make_tmpdir();
    char *tok = cf_xasprintf("%s/token", dir);
    char *ca = cf_xasprintf("%s/ca.crt", dir);
    struct cf_k8s_config *c;

    unsetenv("KUBERNETES_SERVICE_HOST");
    char *error = cf_k8s_config_in_cluster(dir, &c);
    ck_assert(error && strstr(error, "KUBERNETES_SERVICE_HOST"));
    free(error);

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    error = cf_k8s_config_in_cluster(dir, &c);
    ck_assert(error && strstr(error, "token"));
    free(error);

    write_file(tok, "sa-token\n");
    write_file(ca, "ca");
    error = cf_k8s_config_in_cluster(dir, &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://10.96.0.1:443");
    ck_assert_str_eq(c->ca.file, ca);
    char *token;
    ck_assert(!cf_k8s_config_token(c, &token));
    ck_assert_str_eq(token, "sa-token");
    free(token);
    /* Rotated tokens are picked up. */
    write_file(tok, "rotated");
    ck_assert(!cf_k8s_config_token(c, &token));
    ck_assert_str_eq(token, "rotated");
    free(token);
    cf_k8s_config_destroy(c);

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    error = cf_k8s_config_in_cluster(dir, &c);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(c->server, "https://[fd00::1]:443");
    cf_k8s_config_destroy(c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");

    remove_tree(dir);
    free(dir);
    free(tok);
    free(ca);
}
END_TEST

/* ---- Nodes -------------------------------------------------------------- */

static char *
node_from_text(const char *text, const struct cf_k8s_node_options *opts,
               struct cf_object **objp)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    ck_assert_msg(j != NULL, "%s", err.text);
    char *error = cf_k8s_object_from_json(CF_KIND_NODE, j, opts, objp);
    json_decref(j);
    return error;
}

START_TEST(test_node_conversion)
{
    struct cf_k8s_node_options opts = { "ssl:{InternalIP}:6640", NULL };
    struct cf_object *o;

    /* Template, default bridge, addresses (Hostname ignored). */
    char *error = node_from_text(
        "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},\"status\":"
        "{\"addresses\":[{\"type\":\"Hostname\",\"address\":\"n1\"},"
        "{\"type\":\"InternalIP\",\"address\":\"192.168.0.5\"},"
        "{\"type\":\"ExternalIP\",\"address\":\"fd00::5\"}]}}", &opts, &o);
    ck_assert_msg(!error, "%s", error);
    ck_assert_int_eq(o->kind, CF_KIND_NODE);
    ck_assert_str_eq(o->node->name, "n1");
    ck_assert_str_eq(o->node->ovsdb, "ssl:192.168.0.5:6640");
    ck_assert_str_eq(o->node->bridge, "br-int");
    ck_assert_uint_eq(o->node->n_addrs, 2);
    ck_assert_int_eq(o->node->addrs[0].family, 4);
    ck_assert_int_eq(o->node->addrs[1].family, 6);
    ck_assert(strstr(o->manifest, "\"ovsdb\":\"ssl:192.168.0.5:6640\""));
    cf_object_destroy(o);

    /* Annotations win over the template and the default bridge. */
    error = node_from_text(
        "{\"metadata\":{\"name\":\"n2\",\"annotations\":{"
        "\"conjflow.io/ovsdb\":\"unix:/run/n2/db.sock\","
        "\"conjflow.io/bridge\":\"br-pods\"}}}", &opts, &o);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(o->node->ovsdb, "unix:/run/n2/db.sock");
    ck_assert_str_eq(o->node->bridge, "br-pods");
    ck_assert_uint_eq(o->node->n_addrs, 0);
    cf_object_destroy(o);

    /* IPv6 in the template gets brackets. */
    opts.ovsdb_template = "tcp:{InternalIP}:6640";
    error = node_from_text(
        "{\"metadata\":{\"name\":\"n3\"},\"status\":{\"addresses\":["
        "{\"type\":\"InternalIP\",\"address\":\"fd00::3\"}]}}", &opts, &o);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(o->node->ovsdb, "tcp:[fd00::3]:6640");
    cf_object_destroy(o);

    /* Errors name the node and the field: each Node, and a part of its
     * error. */
    static const char *const bad[][2] = {
        { "{\"metadata\":{\"name\":\"n4\"}}",
          "node n4: status.addresses: no InternalIP" },
        { "{\"metadata\":{\"name\":\"n5\",\"annotations\":{"
          "\"conjflow.io/ovsdb\":\"bogus\"}}}",
          "node n5: metadata.annotations[conjflow.io/ovsdb]" },
        { "{\"metadata\":{\"name\":\"n6\"},\"status\":{\"addresses\":["
          "{\"type\":\"InternalIP\",\"address\":\"300.1.1.1\"}]}}",
          "node n6: status.addresses[0]" },
        { "{\"metadata\":{\"name\":\"Bad_Name\"}}", "metadata.name" },
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(bad); i++) {
        error = node_from_text(bad[i][0], &opts, &o);
        ck_assert_msg(error && strstr(error, bad[i][1]), "%s: %s", bad[i][0],
                      error);
        ck_assert(o == NULL);
        free(error);
    }
}
END_TEST

/* ---- System tests ------------------------------------------------------- */

static const char *const fast_server[] = { "--bookmark-interval", "0.2",
                                           NULL };

/* Applies one object (JSON text) on the server. */
static void
apply(struct k8s_env *env, const char *json)
{
    free(k8s_ctl(env, "/test/apply", json));
}

static void
delete(struct k8s_env *env, const char *resource, const char *ns,
       const char *name)
{
    char *body = (ns
                  ? cf_xasprintf("{\"resource\":\"%s\",\"namespace\":\"%s\","
                                 "\"name\":\"%s\"}", resource, ns, name)
                  : cf_xasprintf("{\"resource\":\"%s\",\"name\":\"%s\"}",
                                 resource, name));
    free(k8s_ctl(env, "/test/delete", body));
    free(body);
}

static void
apply_namespace(struct k8s_env *env, const char *name)
{
    char *json = cf_xasprintf("{\"kind\":\"Namespace\",\"metadata\":"
                              "{\"name\":\"%s\"}}", name);
    apply(env, json);
    free(json);
}

static void
apply_pod(struct k8s_env *env, const char *ns, const char *name,
          const char *app, const char *ip)
{
    char *json = cf_xasprintf(
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":"
        "\"%s\",\"labels\":{\"app\":\"%s\"}},\"spec\":{\"nodeName\":"
        "\"node-1\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]},"
        "\"status\":{\"podIP\":\"%s\",\"podIPs\":[{\"ip\":\"%s\"}]}}",
        name, ns, app, ip, ip);
    apply(env, json);
    free(json);
}

static bool
wait_ref(struct k8s_env *env, enum cf_kind kind, const char *ns,
         const char *name, bool present)
{
    struct k8s_ref_cond c = { kind, ns, name, present };
    return k8s_wait(k8s_cond_ref, env, &c, 20000);
}

static bool
wait_count(struct k8s_env *env, enum cf_kind kind, size_t n)
{
    struct k8s_count_cond c = { kind, n };
    return k8s_wait(k8s_cond_count, env, &c, 60000);
}

/* True once every resource's resourceVersion is in the store's meta
 * table (the daemon has synced). */
static bool
cond_synced(struct k8s_env *env, const void *aux)
{
    (void) aux;
    for (int i = 0; i < CF_K8S_N_RESOURCES; i++) {
        char *key = cf_k8s_meta_key(i);
        char *value = k8s_store_meta(env, key);
        free(key);
        if (!value) {
            return false;
        }
        free(value);
    }
    return true;
}

/* Starts conjflow-k8s on 'env' with 'args' (see k8s_daemon_start()) and
 * waits until it has synced every resource. */
static void
daemon_start_synced(struct k8s_env *env, const char *const *args)
{
    k8s_daemon_start(env, args);
    ck_assert_msg(k8s_wait(cond_synced, env, NULL, 60000),
                  "conjflow-k8s did not sync");
}

/* Stops conjflow-k8s, asserting that it exits with status 0, and destroys
 * 'env'. */
static void
daemon_stop_env_destroy(struct k8s_env *env)
{
    ck_assert_int_eq(k8s_daemon_stop(env), 0);
    k8s_env_destroy(env);
}

/* True if the daemon's status has 'aux' in it. */
static bool
cond_status_has(struct k8s_env *env, const void *aux)
{
    char *status = k8s_appctl(env, "status");
    bool found = status && strstr(status, aux);
    free(status);
    return found;
}

/* A server counter and a threshold, for cond_stat_gt(). */
struct stat_cond {
    const char *path;
    long long value;
};

static bool
cond_stat_gt(struct k8s_env *env, const void *aux)
{
    const struct stat_cond *c = aux;
    return k8s_server_stat(env, c->path) > c->value;
}

/* Waits until the server counter 'path' exceeds 'value'. */
static bool
wait_stat_gt(struct k8s_env *env, const char *path, long long value)
{
    struct stat_cond c = { path, value };
    return k8s_wait(cond_stat_gt, env, &c, 20000);
}

static const char *
pod_label(const struct cf_object *o, const char *key)
{
    return cf_labels_get(&o->pod->labels, key);
}

/* True if pod b/web of the store has label app=db. */
static bool
cond_web_is_db(struct k8s_env *env, const void *aux)
{
    (void) aux;
    struct cf_object *o = k8s_store_get(env, CF_KIND_POD, "b", "web");
    bool done = o && !strcmp(pod_label(o, "app"), "db");
    cf_object_destroy(o);
    return done;
}

/* True if the nodes watch's stored resourceVersion is at least
 * '*(const long long *) rv'. */
static bool
cond_nodes_rv_ge(struct k8s_env *env, const void *rv)
{
    char *now = k8s_store_meta(env, "k8s/nodes/resourceVersion");
    bool done = now && atoll(now) >= *(const long long *) rv;
    free(now);
    return done;
}

START_TEST(test_initial_sync_10k)
{
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "big");
    free(k8s_ctl(&env, "/test/generate",
                 "{\"namespace\":\"big\",\"count\":10000}"));
    daemon_start_synced(&env, NULL);
    ck_assert_uint_eq(k8s_store_count(&env, CF_KIND_POD), 10000);
    ck_assert_uint_eq(k8s_store_count(&env, CF_KIND_NAMESPACE), 1);
    /* 10000 pods in pages of 500: 20 LIST requests. */
    ck_assert_int_eq(k8s_server_stat(&env, "lists.pods"), 20);

    struct cf_object *o = k8s_store_get(&env, CF_KIND_POD, "big",
                                        "pod-9999");
    ck_assert(o != NULL);
    ck_assert_str_eq(pod_label(o, "index"), "9999");
    ck_assert_uint_eq(o->pod->n_ips, 1);
    ck_assert_uint_eq(cf_addr_ipv4(&o->pod->ips[0]), 0x0a00270f);
    ck_assert_str_eq(o->pod->node, "node-1");
    cf_object_destroy(o);

    char *status = k8s_appctl(&env, "status");
    ck_assert(status != NULL);
    ck_assert_msg(strstr(status, "pods: synced, watching"), "%s", status);
    free(status);
    daemon_stop_env_destroy(&env);
}
END_TEST

START_TEST(test_events)
{
    struct k8s_env env;
    k8s_env_init(&env, fast_server);
    apply_namespace(&env, "a");
    daemon_start_synced(&env, NULL);

    /* ADDED, for every resource. */
    apply_namespace(&env, "b");
    apply_pod(&env, "b", "web", "web", "10.1.0.1");
    apply(&env, "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"deny\","
          "\"namespace\":\"b\"},\"spec\":{\"podSelector\":{},"
          "\"ingress\":[{\"ports\":[{\"port\":80}]}]}}");
    apply(&env, "{\"kind\":\"Node\",\"metadata\":{\"name\":\"node-1\"},"
          "\"status\":{\"addresses\":[{\"type\":\"InternalIP\","
          "\"address\":\"192.168.0.1\"}]}}");
    ck_assert(wait_ref(&env, CF_KIND_NAMESPACE, NULL, "b", true));
    ck_assert(wait_ref(&env, CF_KIND_POD, "b", "web", true));
    ck_assert(wait_ref(&env, CF_KIND_POLICY, "b", "deny", true));
    ck_assert(wait_ref(&env, CF_KIND_NODE, NULL, "node-1", true));
    struct cf_object *o = k8s_store_get(&env, CF_KIND_NODE, NULL, "node-1");
    ck_assert_str_eq(o->node->ovsdb, "ssl:192.168.0.1:6640");
    cf_object_destroy(o);
    o = k8s_store_get(&env, CF_KIND_POLICY, "b", "deny");
    ck_assert(o->policy->ingress);
    ck_assert_uint_eq(o->policy->n_ingress, 1);
    ck_assert_int_eq(o->policy->ingress_rules[0].ports[0].port, 80);
    cf_object_destroy(o);

    /* MODIFIED. */
    apply_pod(&env, "b", "web", "db", "10.1.0.1");
    ck_assert_msg(k8s_wait(cond_web_is_db, &env, NULL, 20000),
                  "MODIFIED not applied");

    /* DELETED, including a namespace that takes its pods along. */
    delete(&env, "networkpolicies", "b", "deny");
    ck_assert(wait_ref(&env, CF_KIND_POLICY, "b", "deny", false));
    delete(&env, "namespaces", NULL, "b");
    ck_assert(wait_ref(&env, CF_KIND_NAMESPACE, NULL, "b", false));
    ck_assert(wait_ref(&env, CF_KIND_POD, "b", "web", false));

    /* BOOKMARK: the nodes watch sees no event, yet its stored
     * resourceVersion follows the server's. */
    char *before = k8s_store_meta(&env, "k8s/nodes/resourceVersion");
    apply_pod(&env, "a", "p", "x", "10.1.0.2");
    long long rv = k8s_server_stat(&env, "resourceVersion");
    ck_assert_msg(k8s_wait(cond_nodes_rv_ge, &env, &rv, 20000),
                  "no bookmark arrived");
    free(before);

    /* A namespace and a pod in it at once: the pod is never lost, even if
     * its event overtakes the namespace's. */
    for (int i = 0; i < 20; i++) {
        char ns[16], pod[16];
        snprintf(ns, sizeof ns, "race%d", i);
        snprintf(pod, sizeof pod, "p%d", i);
        apply_namespace(&env, ns);
        apply_pod(&env, ns, pod, "x", "10.2.0.1");
    }
    for (int i = 0; i < 20; i++) {
        char ns[16], pod[16];
        snprintf(ns, sizeof ns, "race%d", i);
        snprintf(pod, sizeof pod, "p%d", i);
        ck_assert_msg(wait_ref(&env, CF_KIND_POD, ns, pod, true),
                      "pod %s/%s lost", ns, pod);
    }
    /* Everything came through the watches: one LIST each. */
    ck_assert_int_eq(k8s_server_stat(&env, "lists.pods"), 1);
    ck_assert_int_eq(k8s_server_stat(&env, "lists.namespaces"), 1);

    daemon_stop_env_destroy(&env);
}
END_TEST

START_TEST(test_split_events)
{
    /* Events arriving in awkward pieces (inside strings, between braces)
     * are put back together. */
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    daemon_start_synced(&env, NULL);
    free(k8s_ctl(&env, "/test/split", "{\"split\":true}"));
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        apply_pod(&env, "a", name, "x", "10.3.0.1");
    }
    ck_assert(wait_count(&env, CF_KIND_POD, 50));
    ck_assert_int_eq(k8s_server_stat(&env, "watches.pods"), 1);
    daemon_stop_env_destroy(&env);
}
END_TEST

START_TEST(test_dropped_connection)
{
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    apply_pod(&env, "a", "before", "x", "10.1.0.1");
    daemon_start_synced(&env, NULL);
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "before", true));

    /* Every watch is cut in the middle of an event; changes made while
     * they are down arrive after the reconnection, from the last
     * resourceVersion (a WATCH, not a new LIST). */
    for (int round = 0; round < 3; round++) {
        long long watches = k8s_server_stat(&env, "watches.pods");
        free(k8s_ctl(&env, "/test/drop", NULL));
        char name[16];
        snprintf(name, sizeof name, "after%d", round);
        apply_pod(&env, "a", name, "x", "10.1.0.2");
        ck_assert(wait_ref(&env, CF_KIND_POD, "a", name, true));
        ck_assert(wait_stat_gt(&env, "watches.pods", watches));
    }
    delete(&env, "pods", "a", "before");
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "before", false));
    ck_assert_int_eq(k8s_server_stat(&env, "lists.pods"), 1);
    ck_assert(k8s_wait(cond_status_has, &env,
                       "watch connection lost", 5000));

    daemon_stop_env_destroy(&env);
}
END_TEST

START_TEST(test_stalled_stream)
{
    struct k8s_env env;
    k8s_env_init(&env, fast_server);
    apply_namespace(&env, "a");
    const char *const args[] = { "--stall-timeout=1", NULL };
    daemon_start_synced(&env, args);

    /* No data, not even bookmarks: the watches are reconnected. */
    long long watches = k8s_server_stat(&env, "watches.pods");
    free(k8s_ctl(&env, "/test/stall", "{\"stall\":true}"));
    ck_assert(k8s_wait(cond_status_has, &env, "watch stalled", 10000));
    ck_assert(wait_stat_gt(&env, "watches.pods", watches));
    free(k8s_ctl(&env, "/test/stall", "{\"stall\":false}"));
    apply_pod(&env, "a", "late", "x", "10.1.0.3");
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "late", true));
    ck_assert_int_eq(k8s_server_stat(&env, "lists.pods"), 1);

    daemon_stop_env_destroy(&env);
}
END_TEST

/* Makes every watch miss changes that the server then forgets: the next
 * WATCH gets 410 Gone. */
static void
stall_change_compact_drop(struct k8s_env *env,
                          void (*change)(struct k8s_env *))
{
    free(k8s_ctl(env, "/test/stall", "{\"stall\":true}"));
    change(env);
    free(k8s_ctl(env, "/test/compact", NULL));
    free(k8s_ctl(env, "/test/drop", NULL));
    free(k8s_ctl(env, "/test/stall", "{\"stall\":false}"));
}

static void
change_pods(struct k8s_env *env)
{
    apply_pod(env, "a", "new", "x", "10.1.0.9");
    delete(env, "pods", "a", "old");
}

static void
change_pods2(struct k8s_env *env)
{
    apply_pod(env, "a", "new2", "x", "10.1.0.10");
    delete(env, "pods", "a", "keep");
}

static void
change_nothing(struct k8s_env *env)
{
    /* Changes that cancel out: resourceVersions move, content doesn't. */
    apply_pod(env, "a", "tmp", "x", "10.1.0.8");
    delete(env, "pods", "a", "tmp");
}

static bool
cond_pod_lists(struct k8s_env *env, const void *n)
{
    return k8s_server_stat(env, "lists.pods") >= *(const long long *) n;
}

START_TEST(test_gone_relist)
{
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    apply_pod(&env, "a", "old", "x", "10.1.0.1");
    apply_pod(&env, "a", "keep", "x", "10.1.0.2");
    daemon_start_synced(&env, NULL);
    ck_assert(wait_count(&env, CF_KIND_POD, 2));

    /* 410: the daemon relists and the store follows. */
    stall_change_compact_drop(&env, change_pods);
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "new", true));
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "old", false));
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "keep", true));
    ck_assert_int_eq(k8s_server_stat(&env, "lists.pods"), 2);
    ck_assert_int_ge(k8s_server_stat(&env, "gone"), 1);
    ck_assert(k8s_wait(cond_status_has, &env, "410 relists 1", 5000));

    /* A relist that changes nothing writes nothing. */
    uint64_t seq = k8s_store_seq(&env);
    stall_change_compact_drop(&env, change_nothing);
    long long three = 3;
    ck_assert(k8s_wait(cond_pod_lists, &env, &three, 20000));
    ck_assert(k8s_wait(cond_status_has, &env, "410 relists 2", 5000));
    ck_assert_uint_eq(k8s_store_seq(&env), seq);
    ck_assert_uint_eq(k8s_store_count(&env, CF_KIND_POD), 2);

    /* 410 as the HTTP status of the WATCH (not an ERROR event). */
    free(k8s_ctl(&env, "/test/mode", "{\"gone_http\":true}"));
    long long gone = k8s_server_stat(&env, "gone");
    stall_change_compact_drop(&env, change_pods2);
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "new2", true));
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "keep", false));
    ck_assert_int_gt(k8s_server_stat(&env, "gone"), gone);
    ck_assert(k8s_wait(cond_status_has, &env, "410 relists 3", 5000));

    daemon_stop_env_destroy(&env);
}
END_TEST

START_TEST(test_list_continue_expired)
{
    /* The server forgets the snapshot in the middle of a paginated LIST:
     * the continue token gets 410 and the LIST starts over. */
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    free(k8s_ctl(&env, "/test/generate",
                 "{\"namespace\":\"a\",\"count\":1200}"));
    free(k8s_ctl(&env, "/test/mode", "{\"compact_after_page\":true}"));
    daemon_start_synced(&env, NULL);
    ck_assert_uint_eq(k8s_store_count(&env, CF_KIND_POD), 1200);
    /* Namespaces: one page.  Pods: page 1 (then compaction), the
     * continue request (410), then 3 pages. */
    ck_assert_int_eq(k8s_server_stat(&env, "lists.pods"), 5);
    ck_assert_int_ge(k8s_server_stat(&env, "gone"), 1);
    ck_assert(k8s_wait(cond_status_has, &env, "pods: synced", 5000));
    ck_assert(k8s_wait(cond_status_has, &env, "continue parameter is too "
                       "old", 5000));
    daemon_stop_env_destroy(&env);
}
END_TEST

START_TEST(test_bad_objects)
{
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    /* Invalid in the initial LIST: a bad pod IP. */
    apply_pod(&env, "a", "badip", "x", "10.1.0.300");
    apply_pod(&env, "a", "good1", "x", "10.1.0.1");
    daemon_start_synced(&env, NULL);
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "good1", true));
    ck_assert(!k8s_store_get(&env, CF_KIND_POD, "a", "badip"));

    /* Invalid in a watch burst, between valid objects. */
    apply_pod(&env, "a", "good2", "x", "10.1.0.2");
    apply(&env, "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":"
          "\"bad-range\",\"namespace\":\"a\"},\"spec\":{\"podSelector\":{},"
          "\"ingress\":[{\"ports\":[{\"port\":80,\"endPort\":70}]}]}}");
    apply(&env, "{\"kind\":\"Node\",\"metadata\":{\"name\":\"nonode\"}}");
    apply_pod(&env, "a", "good3", "x", "10.1.0.3");
    apply(&env, "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":"
          "\"fine\",\"namespace\":\"a\"},\"spec\":{\"podSelector\":{}}}");
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "good3", true));
    ck_assert(wait_ref(&env, CF_KIND_POLICY, "a", "fine", true));
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "good2", true));
    ck_assert(!k8s_store_get(&env, CF_KIND_NODE, NULL, "nonode"));
    /* A NetworkPolicy conjflow cannot enforce as written fails closed:
     * stored with its podSelector and policyTypes and no rules. */
    struct cf_object *bad = k8s_store_get(&env, CF_KIND_POLICY, "a",
                                          "bad-range");
    ck_assert(bad && bad->policy->ingress && !bad->policy->egress);
    ck_assert_uint_eq(bad->policy->n_ingress, 0);
    /* It says why, for "conjflowctl get -o yaml". */
    ck_assert_msg(strstr(bad->manifest, "conjflow.io/fail-closed")
                  && strstr(bad->manifest, "endPort"), "%s", bad->manifest);
    cf_object_destroy(bad);

    /* More rules than conjflow supports, and a podSelector that can't be
     * read: every pod of the namespace isolated, both ways. */
    struct cf_ds big = CF_DS_INIT;
    cf_ds_put_cstr(&big, "{\"kind\":\"NetworkPolicy\",\"metadata\":"
                   "{\"name\":\"huge\",\"namespace\":\"a\"},\"spec\":"
                   "{\"podSelector\":{\"matchExpressions\":[{\"key\":"
                   "\"app\",\"operator\":\"Near\"}]},\"egress\":[{}],"
                   "\"ingress\":[");
    for (int i = 0; i <= CF_MAX_RULES; i++) {
        cf_ds_put_format(&big, "%s{\"ports\":[{\"port\":%d}]}",
                         i ? "," : "", 1000 + i);
    }
    cf_ds_put_cstr(&big, "]}}");
    apply(&env, cf_ds_cstr(&big));
    cf_ds_destroy(&big);
    ck_assert(wait_ref(&env, CF_KIND_POLICY, "a", "huge", true));
    bad = k8s_store_get(&env, CF_KIND_POLICY, "a", "huge");
    ck_assert(bad && bad->policy->ingress && bad->policy->egress);
    ck_assert_uint_eq(bad->policy->n_ingress + bad->policy->n_egress, 0);
    ck_assert_uint_eq(bad->policy->pod_sel.n_reqs, 0);
    cf_object_destroy(bad);

    /* An invalid update keeps the last good version. */
    apply_pod(&env, "a", "good1", "changed", "10.1.0.999");
    apply_pod(&env, "a", "marker", "x", "10.1.0.4");
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "marker", true));
    struct cf_object *o = k8s_store_get(&env, CF_KIND_POD, "a", "good1");
    ck_assert(o && !strcmp(pod_label(o, "app"), "x"));
    cf_object_destroy(o);

    /* Logged with the object's name and the field. */
    char *log = k8s_read_file(env.log);
    ck_assert(log != NULL);
    ck_assert_msg(strstr(log, "pod a/badip") && strstr(log, "podIP"),
                  "%s", log);
    ck_assert_msg(strstr(log, "networkpolicy a/bad-range")
                  && strstr(log, "endPort"), "%s", log);
    ck_assert_msg(strstr(log, "cannot enforce as written"), "%s", log);
    ck_assert_msg(strstr(log, "node nonode: status.addresses"), "%s", log);
    ck_assert(!strstr(log, "conjflow-test-token"));
    free(log);
    ck_assert(k8s_wait(cond_status_has, &env, "invalid 2", 5000));

    daemon_stop_env_destroy(&env);
}
END_TEST

START_TEST(test_auth_failure)
{
    const char *const server_args[] = { "--token", "the-right-token", NULL };
    struct k8s_env env;
    k8s_env_init(&env, server_args);

    /* A kubeconfig with the wrong token. */
    char *kc = cf_xasprintf("%s/kubeconfig", env.dir);
    char *text = k8s_read_file(kc);
    char *p = strstr(text, "token: the-right-token");
    ck_assert(p != NULL);
    memcpy(p, "token: the-wrong-token", strlen("token: the-wrong-token"));
    char *bad = cf_xasprintf("%s/bad-kubeconfig", env.dir);
    write_file(bad, text);
    free(text);

    char *kc_arg = cf_xasprintf("--kubeconfig=%s", bad);
    char *db_arg = cf_xasprintf("--db=%s", env.db);
    char *out;
    const char *const args[] = { kc_arg, db_arg, "--no-config", NULL };
    int status = k8s_daemon_run(&env, args, &out);
    ck_assert_int_eq(status, 1);
    ck_assert_msg(strstr(out, "401 Unauthorized") && strstr(out, bad),
                  "%s", out);
    ck_assert(!strstr(out, "the-wrong-token"));
    free(out);

    /* The same with --detach: the command that starts it fails. */
    char *pid_arg = cf_xasprintf("--pidfile=%s/k8s.pid", env.dir);
    const char *const dargs[] = { kc_arg, db_arg, "--no-config", "--detach",
                                  "--monitor", pid_arg, NULL };
    status = k8s_daemon_run(&env, dargs, &out);
    ck_assert_int_eq(status, 1);
    ck_assert_msg(strstr(out, "401 Unauthorized"), "%s", out);
    free(out);

    /* A kubeconfig that names a missing context. */
    const char *const cargs[] = { kc_arg, "--context=nope", db_arg,
                                  "--no-config", NULL };
    status = k8s_daemon_run(&env, cargs, &out);
    ck_assert_int_eq(status, 1);
    ck_assert_msg(strstr(out, "context \"nope\" not found"), "%s", out);
    free(out);

    /* And the right one works. */
    const char *const gargs[] = { "--exit-after-sync", NULL };
    free(kc_arg);
    kc_arg = cf_xasprintf("--kubeconfig=%s", kc);
    const char *const okargs[] = { kc_arg, db_arg, "--no-config",
                                   gargs[0], NULL };
    status = k8s_daemon_run(&env, okargs, &out);
    ck_assert_msg(status == 0, "%s", out);
    free(out);

    free(kc);
    free(bad);
    free(kc_arg);
    free(db_arg);
    free(pid_arg);
    k8s_env_destroy(&env);
}
END_TEST

START_TEST(test_resume_after_restart)
{
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    apply_pod(&env, "a", "p1", "x", "10.1.0.1");
    daemon_start_synced(&env, NULL);
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "p1", true));
    ck_assert_int_eq(k8s_daemon_stop(&env), 0);

    /* Changes while it is down arrive through a WATCH from the stored
     * resourceVersion: no new LIST. */
    apply_pod(&env, "a", "p2", "x", "10.1.0.2");
    delete(&env, "pods", "a", "p1");
    k8s_daemon_start(&env, NULL);
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "p2", true));
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "p1", false));
    ck_assert_int_eq(k8s_server_stat(&env, "lists.pods"), 1);
    ck_assert_int_eq(k8s_server_stat(&env, "lists.namespaces"), 1);
    ck_assert_int_eq(k8s_daemon_stop(&env), 0);

    /* Stored resourceVersions the server has forgotten: 410, relist. */
    apply_pod(&env, "a", "p3", "x", "10.1.0.3");
    free(k8s_ctl(&env, "/test/compact", NULL));
    k8s_daemon_start(&env, NULL);
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "p3", true));
    ck_assert_int_eq(k8s_server_stat(&env, "lists.pods"), 2);
    ck_assert_uint_eq(k8s_store_count(&env, CF_KIND_POD), 2);
    daemon_stop_env_destroy(&env);
}
END_TEST

START_TEST(test_client_certificate)
{
    /* No token at all: the client certificate authenticates. */
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    char *kc = cf_xasprintf("%s/cert-kubeconfig", env.dir);
    char *text = cf_xasprintf(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: t\n  cluster:\n    server: https://127.0.0.1:%d\n"
        "    certificate-authority: ca.crt\n"
        "users:\n- name: u\n  user:\n    client-certificate: client.crt\n"
        "    client-key: client.key\n"
        "contexts:\n- name: c\n  context: {cluster: t, user: u}\n",
        env.port);
    write_file(kc, text);
    char *kc_arg = cf_xasprintf("--kubeconfig=%s", kc);
    char *db_arg = cf_xasprintf("--db=%s", env.db);
    const char *const args[] = { kc_arg, db_arg, "--no-config",
                                 "--exit-after-sync", NULL };
    char *out;
    int status = k8s_daemon_run(&env, args, &out);
    ck_assert_msg(status == 0, "%s", out);
    ck_assert(wait_ref(&env, CF_KIND_NAMESPACE, NULL, "a", true));
    free(out);

    /* A server certificate from another CA is refused. */
    char *other = cf_xasprintf("%s/other", env.dir);
    char *cmd = cf_xasprintf(
        "mkdir -p %s && openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
        "-subj /CN=other -keyout %s/k -out %s/ca.crt >/dev/null 2>&1",
        other, other, other);
    ck_assert_int_eq(system(cmd), 0);
    free(text);
    text = cf_xasprintf(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters:\n- name: t\n  cluster:\n    server: https://127.0.0.1:%d\n"
        "    certificate-authority: other/ca.crt\n"
        "users:\n- name: u\n  user:\n    token: conjflow-test-token\n"
        "contexts:\n- name: c\n  context: {cluster: t, user: u}\n",
        env.port);
    write_file(kc, text);
    status = k8s_daemon_run(&env, args, &out);
    ck_assert_int_eq(status, 1);
    ck_assert_msg(strstr(out, "certificate"), "%s", out);
    free(out);

    free(cmd);
    free(other);
    free(text);
    free(kc);
    free(kc_arg);
    free(db_arg);
    k8s_env_destroy(&env);
}
END_TEST

START_TEST(test_appctl_detach_monitor)
{
    /* The OVS conventions: ovs-appctl -t conjflow-k8s finds the daemon
     * through <rundir>/conjflow-k8s.pid; --monitor restarts it after a
     * crash. */
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    char *kc_arg = cf_xasprintf("--kubeconfig=%s/kubeconfig", env.dir);
    char *db_arg = cf_xasprintf("--db=%s", env.db);
    char *log_arg = cf_xasprintf("--log-file=%s", env.log);
    const char *const args[] = { kc_arg, db_arg, log_arg, "--no-config",
                                 "--pidfile", "--detach", "--monitor",
                                 "--no-chdir", NULL };
    char *out;
    int status = k8s_daemon_run(&env, args, &out);
    ck_assert_msg(status == 0, "%s", out);
    free(out);

    char *pidfile = cf_xasprintf("%s/conjflow-k8s.pid", env.dir);
    char *text = k8s_read_file(pidfile);
    ck_assert(text != NULL);
    pid_t pid = atoi(text);
    free(text);
    ck_assert_int_gt(pid, 0);
    char *cmd = cf_xasprintf("OVS_RUNDIR='%s' ovs-appctl -t conjflow-k8s "
                             "status", env.dir);
    long long deadline = cf_time_msec() + 20000;
    for (;;) {
        FILE *p = popen(cmd, "r");
        char buf[8192];
        size_t n = fread(buf, 1, sizeof buf - 1, p);
        buf[n] = '\0';
        int rc = pclose(p);
        if (!rc && strstr(buf, "namespaces: synced")
            && strstr(buf, "pods: synced")) {
            break;
        }
        ck_assert_msg(cf_time_msec() < deadline, "status: %s", buf);
        usleep(20000);
    }

    /* A crash: the monitor starts a new daemon, which resumes.  SIGABRT
     * (a failed assertion) rather than SIGSEGV: under AddressSanitizer,
     * whose handler turns a SIGSEGV into exit status 1, which is not a
     * crash to the monitor. */
    kill(pid, SIGABRT);
    pid_t new_pid = 0;
    deadline = cf_time_msec() + 20000;
    while (!new_pid || new_pid == pid) {
        ck_assert_msg(cf_time_msec() < deadline, "not restarted");
        usleep(20000);
        text = k8s_read_file(pidfile);
        new_pid = text ? atoi(text) : 0;
        free(text);
    }
    apply_pod(&env, "a", "after-crash", "x", "10.1.0.1");
    ck_assert(wait_ref(&env, CF_KIND_POD, "a", "after-crash", true));

    /* ovs-appctl exit ends it (and the monitor). */
    char *exit_cmd = cf_xasprintf("OVS_RUNDIR='%s' ovs-appctl -t "
                                  "conjflow-k8s exit", env.dir);
    ck_assert_int_eq(system(exit_cmd), 0);
    deadline = cf_time_msec() + 10000;
    while (kill(new_pid, 0) == 0) {
        ck_assert_msg(cf_time_msec() < deadline, "did not exit");
        usleep(10000);
    }
    ck_assert(access(pidfile, F_OK) != 0);

    free(exit_cmd);
    free(cmd);
    free(pidfile);
    free(kc_arg);
    free(db_arg);
    free(log_arg);
    k8s_env_destroy(&env);
}
END_TEST

/* ---- Watch health in the store ------------------------------------------ */

/* The value of field 'name' in health row 'row' (see conjflow/k8s.h), as a
 * malloc'd string, or NULL if the row has no such field.  "error" takes
 * the rest of the line. */
static char *
health_field(const char *row, const char *name)
{
    size_t len = strlen(name);
    const char *p = row;
    while (p && *p) {
        if (!strncmp(p, name, len) && p[len] == '=') {
            const char *v = p + len + 1;
            return cf_xmemdup0(v, !strcmp(name, "error") ? strlen(v)
                                                         : strcspn(v, " "));
        }
        if (!strncmp(p, "error=", 6)) {
            return NULL;        /* The rest is the error text. */
        }
        p = strchr(p, ' ');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

/* The value of field 'name' of 'resource''s health row in the store, as a
 * malloc'd string, or NULL if there is no row or no such field. */
static char *
health_get(struct k8s_env *env, const char *resource, const char *name)
{
    char *key = cf_xasprintf(CF_K8S_HEALTH_PREFIX "%s", resource);
    char *row = k8s_store_meta(env, key);
    char *value = row ? health_field(row, name) : NULL;
    free(row);
    free(key);
    return value;
}

/* The numeric field 'name' of 'resource''s health row, or -1 if there is
 * no row or no such field. */
static long long
health_num(struct k8s_env *env, const char *resource, const char *name)
{
    char *value = health_get(env, resource, name);
    long long n = value ? atoll(value) : -1;
    free(value);
    return n;
}

/* A health row field and what it must be at least, for cond_health(). */
struct health_cond {
    const char *resource;       /* "pods"... */
    const char *field;          /* "events"... */
    long long min;              /* Smallest value accepted. */
};

static bool
cond_health(struct k8s_env *env, const void *aux)
{
    const struct health_cond *c = aux;
    return health_num(env, c->resource, c->field) >= c->min;
}

static bool
wait_health(struct k8s_env *env, const char *resource, const char *field,
            long long min)
{
    struct health_cond c = { resource, field, min };
    return k8s_wait(cond_health, env, &c, 20000);
}

/* True if 'resource''s health row has 'field' equal to 'value'. */
static bool
health_is(struct k8s_env *env, const char *resource, const char *field,
          const char *value)
{
    char *v = health_get(env, resource, field);
    bool eq = v && !strcmp(v, value);
    free(v);
    return eq;
}

static bool
cond_pods_watching(struct k8s_env *env, const void *aux)
{
    (void) aux;
    return (health_is(env, "pods", "synced", "1")
            && health_is(env, "pods", "state", "watching"));
}

START_TEST(test_health_rows)
{
    /* conjflow-k8s keeps a health row per resource in the store's meta
     * table (for conjflowd's metrics and conjflowctl status). */
    struct k8s_env env;
    k8s_env_init(&env, NULL);
    apply_namespace(&env, "a");
    apply_pod(&env, "a", "p0", "x", "10.1.0.1");
    daemon_start_synced(&env, NULL);

    /* Synced after the initial LIST, for every resource. */
    static const char *const resources[] = { "namespaces", "nodes", "pods",
                                             "networkpolicies" };
    for (size_t i = 0; i < CF_ARRAY_SIZE(resources); i++) {
        ck_assert_msg(wait_health(&env, resources[i], "synced", 1),
                      "%s: no synced health row", resources[i]);
        ck_assert_int_eq(health_num(&env, resources[i], "lists"), 1);
        ck_assert_int_gt(health_num(&env, resources[i], "last_event"), 0);
        ck_assert_int_gt(health_num(&env, resources[i], "updated"), 0);
        ck_assert_int_eq(health_num(&env, resources[i], "errors"), 0);
    }
    ck_assert(k8s_wait(cond_pods_watching, &env, NULL, 20000));
    ck_assert(health_is(&env, "pods", "error", ""));

    /* Events: the counter grows, the resourceVersion follows. */
    long long events = health_num(&env, "pods", "events");
    long long updated = health_num(&env, "pods", "updated");
    ck_assert_int_ge(events, 0);
    for (int i = 1; i <= 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        apply_pod(&env, "a", name, "x", "10.1.0.2");
    }
    ck_assert_msg(wait_health(&env, "pods", "events", events + 3),
                  "pods: events did not grow from %lld", events);
    ck_assert_int_gt(health_num(&env, "pods", "updated"), updated);
    ck_assert(wait_health(&env, "pods", "rv",
                          k8s_server_stat(&env, "resourceVersion")));

    /* A dropped watch: an error, at once, and a reconnection. */
    free(k8s_ctl(&env, "/test/drop", NULL));
    ck_assert(wait_health(&env, "pods", "errors", 1));
    ck_assert(wait_health(&env, "pods", "reconnects", 1));
    ck_assert(wait_health(&env, "pods", "last_error_time", 1));
    char *row = k8s_store_meta(&env, CF_K8S_HEALTH_PREFIX "pods");
    char *error = health_field(row, "error");
    ck_assert_msg(error && strstr(error, "watch connection lost"), "%s", row);
    free(error);
    free(row);
    ck_assert(k8s_wait(cond_pods_watching, &env, NULL, 20000));

    /* A clean exit says so. */
    ck_assert_int_eq(k8s_daemon_stop(&env), 0);
    ck_assert(health_is(&env, "pods", "state", "stopped"));
    ck_assert(health_is(&env, "pods", "synced", "0"));
    k8s_env_destroy(&env);
}
END_TEST

static Suite *
k8s_suite(void)
{
    Suite *s = suite_create("k8s");

    TCase *tc = tcase_create("unit");
    tcase_add_test(tc, test_splitter_pieces);
    tcase_add_test(tc, test_splitter_partial_and_garbage);
    tcase_add_test(tc, test_base64);
    tcase_add_test(tc, test_kubeconfig);
    tcase_add_test(tc, test_kubeconfig_merge);
    tcase_add_test(tc, test_in_cluster);
    tcase_add_test(tc, test_node_conversion);
    suite_add_tcase(s, tc);

    tc = tcase_create("system");
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_initial_sync_10k);
    tcase_add_test(tc, test_events);
    tcase_add_test(tc, test_split_events);
    tcase_add_test(tc, test_dropped_connection);
    tcase_add_test(tc, test_stalled_stream);
    tcase_add_test(tc, test_gone_relist);
    tcase_add_test(tc, test_list_continue_expired);
    tcase_add_test(tc, test_bad_objects);
    tcase_add_test(tc, test_auth_failure);
    tcase_add_test(tc, test_resume_after_restart);
    tcase_add_test(tc, test_client_certificate);
    tcase_add_test(tc, test_appctl_detach_monitor);
    suite_add_tcase(s, tc);

    tc = tcase_create("health");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_health_rows);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(k8s_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
