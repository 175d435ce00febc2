/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Where the Kubernetes API server is and how to authenticate to it: a
 * kubeconfig file (parsed with libyaml, the fields kubectl uses for the
 * current or a named context) or a pod's service account (in-cluster).
 * See struct cf_k8s_config in conjflow/k8s.h.
 *
 * Secrets (the token, the client key) are never put in messages.
 */
#include "conjflow-config.h"

#include "conjflow/k8s.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "conjflow/cfutil.h"

#define CF_K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Reads the whole file 'name' into a malloc'd, null-terminated '*datap' of
 * '*lenp' bytes.  Returns NULL or a malloc'd error. */
static char *
read_file(const char *name, char **datap, size_t *lenp)
{
    FILE *f = fopen(name, "rb");
    if (!f) {
        return cf_xasprintf("%s: could not open (%s)", name,
                            strerror(errno));
    }
    struct cf_ds ds = CF_DS_INIT;
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        cf_ds_put_buf(&ds, buf, n);
    }
    bool failed = ferror(f);
    int error = errno;
    fclose(f);
    if (failed) {
        cf_ds_destroy(&ds);
        return cf_xasprintf("%s: read error (%s)", name, strerror(error));
    }
    *lenp = ds.len;
    *datap = cf_ds_steal(&ds);
    return NULL;
}

/* Decodes base64 (standard alphabet, '=' padding, whitespace ignored). */
bool
cf_base64_decode(const char *in, size_t len, char **outp, size_t *out_lenp)
{
    char *out = cf_xmalloc(len / 4 * 3 + 4);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    bool padding = false;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = in[i];
        int v;
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+' || c == '-') {
            v = 62;
        } else if (c == '/' || c == '_') {
            v = 63;
        } else if (c == '=') {
            padding = true;
            continue;
        } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        } else {
            free(out);
            return false;
        }
        if (padding) {
            free(out);
            return false;       /* Data after padding. */
        }
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (acc >> bits) & 0xff;
        }
    }
    if (bits >= 6) {
        free(out);
        return false;           /* A lone 6-bit group is no byte. */
    }
    out[n] = '\0';
    *outp = out;
    *out_lenp = n;
    return true;
}

/* ---- A little YAML document walking ---------------------------------- */

/* The value of 'key' in mapping 'node' of 'doc', or NULL. */
static yaml_node_t *
ymap_get(yaml_document_t *doc, yaml_node_t *node, const char *key)
{
    if (!node || node->type != YAML_MAPPING_NODE) {
        return NULL;
    }
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start;
         p < node->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE
            && !strcmp((const char *) k->data.scalar.value, key)) {
            return yaml_document_get_node(doc, p->value);
        }
    }
    return NULL;
}

/* The string value of 'node' if it is a non-empty scalar, else NULL. */
static const char *
yscalar(yaml_node_t *node)
{
    if (!node || node->type != YAML_SCALAR_NODE
        || !node->data.scalar.length) {
        return NULL;
    }
    return (const char *) node->data.scalar.value;
}

/* The string value of 'key' in mapping 'node', or NULL. */
static const char *
ymap_str(yaml_document_t *doc, yaml_node_t *node, const char *key)
{
    return yscalar(ymap_get(doc, node, key));
}

/* In the sequence under 'list_key' of the document's root ("clusters"),
 * finds the entry whose "name" is 'name' and returns its 'field'
 * ("cluster"), or NULL. */
static yaml_node_t *
ynamed(yaml_document_t *doc, const char *list_key, const char *name,
       const char *field)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    yaml_node_t *seq = ymap_get(doc, root, list_key);
    if (!seq || seq->type != YAML_SEQUENCE_NODE) {
        return NULL;
    }
    for (yaml_node_item_t *i = seq->data.sequence.items.start;
         i < seq->data.sequence.items.top; i++) {
        yaml_node_t *entry = yaml_document_get_node(doc, *i);
        const char *entry_name = ymap_str(doc, entry, "name");
        if (entry_name && !strcmp(entry_name, name)) {
            yaml_node_t *value = ymap_get(doc, entry, field);
            /* "user: {}" is a valid, empty user. */
            return value ? value : entry;
        }
    }
    return NULL;
}

/* Makes 'path' absolute relative to the directory of 'base_file'. */
static char *
resolve_path(const char *path, const char *base_file)
{
    if (path[0] == '/' || !base_file) {
        return cf_xstrdup(path);
    }
    const char *slash = strrchr(base_file, '/');
    if (!slash) {
        return cf_xstrdup(path);
    }
    return cf_xasprintf("%.*s/%s", (int) (slash - base_file), base_file,
                        path);
}

/* Fills 'blob' from the kubeconfig fields 'file_key' (a path) and
 * 'data_key' (base64) of 'node'.  Returns NULL or a malloc'd error. */
static char *
get_blob(yaml_document_t *doc, yaml_node_t *node, const char *file_key,
         const char *data_key, const char *file_name, const char *where,
         struct cf_k8s_blob *blob)
{
    const char *data = ymap_str(doc, node, data_key);
    const char *file = ymap_str(doc, node, file_key);
    if (data) {
        if (!cf_base64_decode(data, strlen(data), &blob->data,
                              &blob->len)) {
            return cf_xasprintf("%s: %s.%s: not valid base64", file_name,
                                where, data_key);
        }
    } else if (file) {
        blob->file = resolve_path(file, file_name);
        struct stat st;
        if (stat(blob->file, &st)) {
            return cf_xasprintf("%s: %s.%s: %s: %s", file_name, where,
                                file_key, blob->file, strerror(errno));
        }
    }
    return NULL;
}

static void
blob_destroy(struct cf_k8s_blob *blob)
{
    free(blob->file);
    free(blob->data);
}

/* Frees 'config' and everything it owns; accepts NULL. */
void
cf_k8s_config_destroy(struct cf_k8s_config *config)
{
    if (config) {
        free(config->server);
        blob_destroy(&config->ca);
        blob_destroy(&config->cert);
        blob_destroy(&config->key);
        if (config->token) {
            memset(config->token, 0, strlen(config->token));
            free(config->token);
        }
        free(config->token_file);
        free(config->source);
        free(config);
    }
}

/* Checks and normalizes the server URL of 'config'. */
static char *
check_server(struct cf_k8s_config *config, const char *where)
{
    if (!config->server) {
        return cf_xasprintf("%s: no server", where);
    }
    if (strncmp(config->server, "https://", 8)
        && strncmp(config->server, "http://", 7)) {
        return cf_xasprintf("%s: server %s: not an http:// or https:// URL",
                            where, config->server);
    }
    size_t len = strlen(config->server);
    while (len > 8 && config->server[len - 1] == '/') {
        config->server[--len] = '\0';
    }
    return NULL;
}

/* Parses a kubeconfig (see conjflow/k8s.h). */
char *
cf_k8s_config_parse(const char *text, size_t len, const char *file_name,
                    const char *context_name, struct cf_k8s_config **configp)
{
    *configp = NULL;

    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        char *error = cf_xasprintf("%s:%zu: not valid YAML (%s)", file_name,
                                   parser.problem_mark.line + 1,
                                   parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return error;
    }
    yaml_parser_delete(&parser);

    struct cf_k8s_config *config = cf_xzalloc(sizeof *config);
    char *error = NULL;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        error = cf_xasprintf("%s: not a kubeconfig (no mapping at the top)",
                             file_name);
        goto out;
    }
    if (!context_name) {
        context_name = ymap_str(&doc, root, "current-context");
        if (!context_name) {
            error = cf_xasprintf("%s: no current-context (use --context)",
                                 file_name);
            goto out;
        }
    }
    yaml_node_t *context = ynamed(&doc, "contexts", context_name,
                                  "context");
    if (!context) {
        error = cf_xasprintf("%s: context \"%s\" not found", file_name,
                             context_name);
        goto out;
    }
    const char *cluster_name = ymap_str(&doc, context, "cluster");
    const char *user_name = ymap_str(&doc, context, "user");
    if (!cluster_name) {
        error = cf_xasprintf("%s: context \"%s\" names no cluster",
                             file_name, context_name);
        goto out;
    }
    yaml_node_t *cluster = ynamed(&doc, "clusters", cluster_name, "cluster");
    if (!cluster) {
        error = cf_xasprintf("%s: cluster \"%s\" not found", file_name,
                             cluster_name);
        goto out;
    }

    config->source = cf_xasprintf("kubeconfig %s, context %s", file_name,
                                  context_name);
    config->server = cf_xstrdup(ymap_str(&doc, cluster, "server"));
    error = check_server(config, config->source);
    if (error) {
        goto out;
    }
    const char *insecure = ymap_str(&doc, cluster,
                                    "insecure-skip-tls-verify");
    if (insecure && !strcmp(insecure, "true")) {
        error = cf_xasprintf("%s: cluster \"%s\": insecure-skip-tls-verify "
                             "is not supported (conjflow-k8s always "
                             "verifies the API server's certificate)",
                             file_name, cluster_name);
        goto out;
    }
    char *where = cf_xasprintf("clusters[%s].cluster", cluster_name);
    error = get_blob(&doc, cluster, "certificate-authority",
                     "certificate-authority-data", file_name, where,
                     &config->ca);
    free(where);
    if (error) {
        goto out;
    }

    if (user_name) {
        yaml_node_t *user = ynamed(&doc, "users", user_name, "user");
        if (!user) {
            error = cf_xasprintf("%s: user \"%s\" not found", file_name,
                                 user_name);
            goto out;
        }
        if (ymap_get(&doc, user, "exec")
            || ymap_get(&doc, user, "auth-provider")) {
            error = cf_xasprintf("%s: user \"%s\": exec and auth-provider "
                                 "credentials are not supported (use a "
                                 "token, a tokenFile or a client "
                                 "certificate)", file_name, user_name);
            goto out;
        }
        config->token = cf_xstrdup(ymap_str(&doc, user, "token"));
        const char *token_file = ymap_str(&doc, user, "tokenFile");
        if (token_file && !config->token) {
            config->token_file = resolve_path(token_file, file_name);
        }
        where = cf_xasprintf("users[%s].user", user_name);
        error = get_blob(&doc, user, "client-certificate",
                         "client-certificate-data", file_name, where,
                         &config->cert);
        if (!error) {
            error = get_blob(&doc, user, "client-key", "client-key-data",
                             file_name, where, &config->key);
        }
        if (!error
            && (config->cert.file || config->cert.data)
               != (config->key.file || config->key.data)) {
            error = cf_xasprintf("%s: %s: a client certificate needs a "
                                 "client key and vice versa", file_name,
                                 where);
        }
        free(where);
        if (error) {
            goto out;
        }
    }

out:
    yaml_document_delete(&doc);
    if (error) {
        cf_k8s_config_destroy(config);
        return error;
    }
    *configp = config;
    return NULL;
}

/* The in-cluster configuration (see conjflow/k8s.h). */
char *
cf_k8s_config_in_cluster(const char *sa_dir, struct cf_k8s_config **configp)
{
    *configp = NULL;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    if (!host || !*host) {
        return cf_xstrdup("in-cluster configuration: "
                          "KUBERNETES_SERVICE_HOST is not set");
    }
    if (!sa_dir) {
        sa_dir = CF_K8S_SA_DIR;
    }

    struct cf_k8s_config *config = cf_xzalloc(sizeof *config);
    config->source = cf_xasprintf("in-cluster service account %s", sa_dir);
    config->server = (strchr(host, ':')
                      ? cf_xasprintf("https://[%s]:%s", host,
                                     port && *port ? port : "443")
                      : cf_xasprintf("https://%s:%s", host,
                                     port && *port ? port : "443"));
    config->token_file = cf_xasprintf("%s/token", sa_dir);
    config->ca.file = cf_xasprintf("%s/ca.crt", sa_dir);

    char *error = NULL;
    struct stat st;
    if (stat(config->token_file, &st)) {
        error = cf_xasprintf("%s: %s: %s", config->source,
                             config->token_file, strerror(errno));
    } else if (stat(config->ca.file, &st)) {
        error = cf_xasprintf("%s: %s: %s", config->source, config->ca.file,
                             strerror(errno));
    }
    if (error) {
        cf_k8s_config_destroy(config);
        return error;
    }
    *configp = config;
    return NULL;
}

/* Loads a kubeconfig file. */
static char *
load_file(const char *file_name, const char *context,
          struct cf_k8s_config **configp)
{
    char *text;
    size_t len;
    char *error = read_file(file_name, &text, &len);
    if (!error) {
        error = cf_k8s_config_parse(text, len, file_name, context, configp);
        free(text);
    }
    return error;
}

/* Loads the configuration the way kubectl finds it (see conjflow/k8s.h). */
char *
cf_k8s_config_load(const char *kubeconfig, const char *context,
                   struct cf_k8s_config **configp)
{
    *configp = NULL;
    if (kubeconfig) {
        return load_file(kubeconfig, context, configp);
    }

    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        char *copy = cf_xstrdup(env);
        char *save = NULL;
        for (char *f = strtok_r(copy, ":", &save); f;
             f = strtok_r(NULL, ":", &save)) {
            struct stat st;
            if (!stat(f, &st)) {
                char *error = load_file(f, context, configp);
                free(copy);
                return error;
            }
        }
        free(copy);
        return cf_xasprintf("KUBECONFIG=%s: no such file", env);
    }

    const char *home = getenv("HOME");
    if (home && *home) {
        char *file = cf_xasprintf("%s/.kube/config", home);
        struct stat st;
        if (!stat(file, &st)) {
            char *error = load_file(file, context, configp);
            free(file);
            return error;
        }
        free(file);
    }

    if (getenv("KUBERNETES_SERVICE_HOST")) {
        return cf_k8s_config_in_cluster(NULL, configp);
    }
    return cf_xstrdup("no Kubernetes configuration: use --kubeconfig, set "
                      "KUBECONFIG, create ~/.kube/config, or run in a pod "
                      "(KUBERNETES_SERVICE_HOST)");
}

/* The bearer token to use now (see conjflow/k8s.h). */
char *
cf_k8s_config_token(const struct cf_k8s_config *config, char **tokenp)
{
    *tokenp = NULL;
    if (config->token) {
        *tokenp = cf_xstrdup(config->token);
        return NULL;
    }
    if (config->token_file) {
        char *data;
        size_t len;
        char *error = read_file(config->token_file, &data, &len);
        if (error) {
            return error;
        }
        while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'
                       || data[len - 1] == ' ')) {
            data[--len] = '\0';
        }
        if (!len) {
            free(data);
            return cf_xasprintf("%s: empty token file", config->token_file);
        }
        *tokenp = data;
    }
    return NULL;
}
