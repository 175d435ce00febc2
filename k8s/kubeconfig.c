/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Where the Kubernetes API server is and how to authenticate to it: a
 * kubeconfig file, or several merged as kubectl merges $KUBECONFIG
 * (parsed with libyaml, the fields kubectl uses for the current or a named
 * context), or a pod's service account (in-cluster).
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

/* One kubeconfig file of a merged set (KUBECONFIG=a:b:c), parsed. */
struct kc_file {
    const char *name;           /* File name: messages, relative paths. */
    yaml_document_t doc;        /* Its YAML document. */
    bool has_doc;               /* 'doc' was loaded (must be deleted). */
    yaml_node_t *root;          /* Its top-level mapping, or NULL (an
                                 * empty file). */
};

/* Parses 'text' ('len' bytes) of file 'name' into 'f'.  An empty document
 * is accepted if 'allow_empty' (kubectl skips empty files in KUBECONFIG).
 * Returns NULL or a malloc'd error. */
static char *
kc_file_parse(struct kc_file *f, const char *name, const char *text,
              size_t len, bool allow_empty)
{
    memset(f, 0, sizeof *f);
    f->name = name;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *) text, len);
    if (!yaml_parser_load(&parser, &f->doc)) {
        char *error = cf_xasprintf("%s:%zu: not valid YAML (%s)", name,
                                   parser.problem_mark.line + 1,
                                   parser.problem ? parser.problem : "?");
        yaml_parser_delete(&parser);
        return error;
    }
    yaml_parser_delete(&parser);
    f->has_doc = true;
    yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    if (root && root->type == YAML_MAPPING_NODE) {
        f->root = root;
    } else if (root || !allow_empty) {
        return cf_xasprintf("%s: not a kubeconfig (no mapping at the top)",
                            name);
    }
    return NULL;
}

/* Frees what 'f' owns (not its name). */
static void
kc_file_destroy(struct kc_file *f)
{
    if (f->has_doc) {
        yaml_document_delete(&f->doc);
        f->has_doc = false;
    }
}

/* Looks up the entry named 'name' of list 'list_key' ("clusters") the way
 * kubectl merges files: the first of the 'n' 'files' that defines that
 * name wins.  Returns the entry's 'field' ("cluster") and sets '*filep' to
 * its file, or returns NULL. */
static yaml_node_t *
kc_named(struct kc_file *files, size_t n, const char *list_key,
         const char *name, const char *field, struct kc_file **filep)
{
    for (size_t i = 0; i < n; i++) {
        if (files[i].root) {
            yaml_node_t *node = ynamed(&files[i].doc, list_key, name, field);
            if (node) {
                *filep = &files[i];
                return node;
            }
        }
    }
    return NULL;
}

/* Builds the configuration of context 'context_name' (NULL: the
 * current-context of the first file that sets one) from the merged 'n'
 * 'files'; 'all' names them all in messages.  Relative paths are
 * relative to the file that holds them. */
static char *
kc_config(struct kc_file *files, size_t n, const char *all,
          const char *context_name, struct cf_k8s_config **configp)
{
    *configp = NULL;
    if (!context_name) {
        for (size_t i = 0; i < n && !context_name; i++) {
            context_name = ymap_str(&files[i].doc, files[i].root,
                                    "current-context");
        }
        if (!context_name) {
            return cf_xasprintf("%s: no current-context (use --context)",
                                all);
        }
    }
    struct kc_file *cf, *clf, *uf;
    yaml_node_t *context = kc_named(files, n, "contexts", context_name,
                                    "context", &cf);
    if (!context) {
        return cf_xasprintf("%s: context \"%s\" not found", all,
                            context_name);
    }
    const char *cluster_name = ymap_str(&cf->doc, context, "cluster");
    const char *user_name = ymap_str(&cf->doc, context, "user");
    if (!cluster_name) {
        return cf_xasprintf("%s: context \"%s\" names no cluster",
                            cf->name, context_name);
    }
    yaml_node_t *cluster = kc_named(files, n, "clusters", cluster_name,
                                    "cluster", &clf);
    if (!cluster) {
        return cf_xasprintf("%s: cluster \"%s\" not found", all,
                            cluster_name);
    }

    struct cf_k8s_config *config = cf_xzalloc(sizeof *config);
    char *error = NULL;
    config->source = cf_xasprintf("kubeconfig %s, context %s", all,
                                  context_name);
    config->server = cf_xstrdup(ymap_str(&clf->doc, cluster, "server"));
    error = check_server(config, config->source);
    if (error) {
        goto out;
    }
    const char *insecure = ymap_str(&clf->doc, cluster,
                                    "insecure-skip-tls-verify");
    if (insecure && !strcmp(insecure, "true")) {
        error = cf_xasprintf("%s: cluster \"%s\": insecure-skip-tls-verify "
                             "is not supported (conjflow-k8s always "
                             "verifies the API server's certificate)",
                             clf->name, cluster_name);
        goto out;
    }
    char *where = cf_xasprintf("clusters[%s].cluster", cluster_name);
    error = get_blob(&clf->doc, cluster, "certificate-authority",
                     "certificate-authority-data", clf->name, where,
                     &config->ca);
    free(where);
    if (error) {
        goto out;
    }

    if (user_name) {
        yaml_node_t *user = kc_named(files, n, "users", user_name, "user",
                                     &uf);
        if (!user) {
            error = cf_xasprintf("%s: user \"%s\" not found", all,
                                 user_name);
            goto out;
        }
        if (ymap_get(&uf->doc, user, "exec")
            || ymap_get(&uf->doc, user, "auth-provider")) {
            error = cf_xasprintf("%s: user \"%s\": exec and auth-provider "
                                 "credentials are not supported (use a "
                                 "token, a tokenFile or a client "
                                 "certificate)", uf->name, user_name);
            goto out;
        }
        config->token = cf_xstrdup(ymap_str(&uf->doc, user, "token"));
        const char *token_file = ymap_str(&uf->doc, user, "tokenFile");
        if (token_file && !config->token) {
            config->token_file = resolve_path(token_file, uf->name);
        }
        where = cf_xasprintf("users[%s].user", user_name);
        error = get_blob(&uf->doc, user, "client-certificate",
                         "client-certificate-data", uf->name, where,
                         &config->cert);
        if (!error) {
            error = get_blob(&uf->doc, user, "client-key", "client-key-data",
                             uf->name, where, &config->key);
        }
        if (!error
            && (config->cert.file || config->cert.data)
               != (config->key.file || config->key.data)) {
            error = cf_xasprintf("%s: %s: a client certificate needs a "
                                 "client key and vice versa", uf->name,
                                 where);
        }
        free(where);
    }

out:
    if (error) {
        cf_k8s_config_destroy(config);
        return error;
    }
    *configp = config;
    return NULL;
}

/* Parses a kubeconfig (see conjflow/k8s.h). */
char *
cf_k8s_config_parse(const char *text, size_t len, const char *file_name,
                    const char *context_name, struct cf_k8s_config **configp)
{
    *configp = NULL;
    struct kc_file f;
    char *error = kc_file_parse(&f, file_name, text, len, false);
    if (!error) {
        error = kc_config(&f, 1, file_name, context_name, configp);
    }
    kc_file_destroy(&f);
    return error;
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

/* Loads the kubeconfig files 'names' ('n' of them, which exist) and
 * merges them the way kubectl does (see conjflow/k8s.h). */
static char *
load_files(char **names, size_t n, const char *context,
           struct cf_k8s_config **configp)
{
    struct kc_file *files = cf_xcalloc(n, sizeof *files);
    struct cf_ds all = CF_DS_INIT;
    char *error = NULL;
    size_t n_files = 0;
    for (size_t i = 0; i < n && !error; i++) {
        char *text;
        size_t len;
        error = read_file(names[i], &text, &len);
        if (!error) {
            error = kc_file_parse(&files[n_files++], names[i], text, len,
                                  n > 1);
            free(text);
        }
        cf_ds_put_format(&all, "%s%s", i ? ":" : "", names[i]);
    }
    if (!error) {
        error = kc_config(files, n_files, cf_ds_cstr(&all), context,
                          configp);
    }
    for (size_t i = 0; i < n_files; i++) {
        kc_file_destroy(&files[i]);
    }
    free(files);
    cf_ds_destroy(&all);
    return error;
}

/* Loads the configuration the way kubectl finds it (see conjflow/k8s.h). */
char *
cf_k8s_config_load(const char *kubeconfig, const char *context,
                   struct cf_k8s_config **configp)
{
    *configp = NULL;
    if (kubeconfig) {
        char *name = (char *) kubeconfig;
        return load_files(&name, 1, context, configp);
    }

    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        /* Every file that exists, merged; missing ones are skipped, as
         * kubectl does. */
        char *copy = cf_xstrdup(env);
        char **names = NULL;
        size_t n = 0, allocated = 0;
        char *save = NULL;
        for (char *f = strtok_r(copy, ":", &save); f;
             f = strtok_r(NULL, ":", &save)) {
            struct stat st;
            bool seen = false;
            for (size_t i = 0; i < n && !seen; i++) {
                seen = !strcmp(names[i], f);
            }
            if (!seen && !stat(f, &st)) {
                if (n >= allocated) {
                    names = cf_x2nrealloc(names, &allocated, sizeof *names);
                }
                names[n++] = f;
            }
        }
        char *error = (n ? load_files(names, n, context, configp)
                       : cf_xasprintf("KUBECONFIG=%s: no such file", env));
        free(names);
        free(copy);
        return error;
    }

    const char *home = getenv("HOME");
    if (home && *home) {
        char *file = cf_xasprintf("%s/.kube/config", home);
        struct stat st;
        if (!stat(file, &st)) {
            char *error = load_files(&file, 1, context, configp);
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
