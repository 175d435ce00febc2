/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Kubernetes API objects into model objects.  Namespaces, Pods and
 * NetworkPolicies go through the manifest parser in lenient mode (it
 * applies the API server's defaulting and validation, and ignores status,
 * managedFields and the like).  A Kubernetes Node is not a conjflow Node:
 * this module builds the conjflow Node from it:
 *
 *   metadata.name                      -> name
 *   annotation conjflow.io/ovsdb       -> spec.ovsdb, else the template
 *                                         ("ssl:{InternalIP}:6640")
 *   annotation conjflow.io/bridge      -> spec.bridge, else "br-int"
 *   status.addresses (InternalIP,      -> spec.addresses
 *                     ExternalIP)
 */
#include "conjflow-config.h"

#include "conjflow/k8s.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "conjflow/manifest.h"

/* True if 'name' is a valid DNS subdomain (RFC 1123), as Kubernetes
 * requires of node names. */
static bool
is_dns_subdomain(const char *name)
{
    size_t len = strlen(name);
    if (!len || len > 253) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '.') {
            return false;
        }
        if (!alnum && (i == 0 || i == len - 1)) {
            return false;
        }
    }
    return true;
}

/* The address of type 'type' ("InternalIP") in the node's
 * status.addresses, or NULL. */
static const char *
node_address(const json_t *addresses, const char *type)
{
    size_t i;
    const json_t *a;
    json_array_foreach (addresses, i, a) {
        const char *t = json_string_value(json_object_get(a, "type"));
        const char *v = json_string_value(json_object_get(a, "address"));
        if (t && v && !strcmp(t, type)) {
            return v;
        }
    }
    return NULL;
}

/* Expands 'template' for node 'name'.  Returns NULL or a malloc'd error;
 * the result goes in '*ovsdbp'. */
static char *
expand_template(const char *template, const char *name,
                const json_t *addresses, char **ovsdbp)
{
    struct cf_ds out = CF_DS_INIT;
    const char *p = template;
    while (*p) {
        if (*p != '{') {
            cf_ds_put_char(&out, *p++);
            continue;
        }
        const char *end = strchr(p, '}');
        if (!end) {
            cf_ds_destroy(&out);
            return cf_xasprintf("ovsdb template \"%s\": unterminated {",
                                template);
        }
        char *var = cf_xmemdup0(p + 1, end - p - 1);
        const char *value;
        if (!strcmp(var, "Name")) {
            value = name;
        } else if (!strcmp(var, "InternalIP") || !strcmp(var, "ExternalIP")
                   || !strcmp(var, "Hostname")
                   || !strcmp(var, "InternalDNS")
                   || !strcmp(var, "ExternalDNS")) {
            value = node_address(addresses, var);
            if (!value) {
                char *error = cf_xasprintf(
                    "status.addresses: no %s address for the ovsdb "
                    "template \"%s\" (set the annotation conjflow.io/ovsdb "
                    "or change the template)", var, template);
                free(var);
                cf_ds_destroy(&out);
                return error;
            }
        } else {
            char *error = cf_xasprintf("ovsdb template \"%s\": unknown "
                                       "variable {%s}", template, var);
            free(var);
            cf_ds_destroy(&out);
            return error;
        }
        if (strchr(value, ':')) {
            cf_ds_put_format(&out, "[%s]", value);   /* IPv6. */
        } else {
            cf_ds_put_cstr(&out, value);
        }
        free(var);
        p = end + 1;
    }
    *ovsdbp = cf_ds_steal(&out);
    return NULL;
}

/* Checks the form of an OVSDB remote ("unix:PATH", "tcp:HOST:PORT",
 * "ssl:HOST:PORT"). */
static bool
ovsdb_remote_ok(const char *s)
{
    return ((!strncmp(s, "unix:", 5) && s[5])
            || ((!strncmp(s, "tcp:", 4) || !strncmp(s, "ssl:", 4))
                && strchr(s + 4, ':')));
}

/* Builds a conjflow Node from a Kubernetes Node (see the file comment). */
char *
cf_k8s_node_from_json(const json_t *obj,
                      const struct cf_k8s_node_options *opts,
                      struct cf_object **objp)
{
    *objp = NULL;
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    if (!name) {
        return cf_xstrdup("node: metadata.name: missing");
    }
    if (!is_dns_subdomain(name)) {
        return cf_xasprintf("node %s: metadata.name: not a valid DNS "
                            "subdomain name", name);
    }
    const json_t *ann = json_object_get(md, "annotations");
    const json_t *addresses = json_object_get(
        json_object_get(obj, "status"), "addresses");

    char *ovsdb = NULL;
    const char *ann_ovsdb = json_string_value(
        json_object_get(ann, "conjflow.io/ovsdb"));
    if (ann_ovsdb) {
        if (!ovsdb_remote_ok(ann_ovsdb)) {
            return cf_xasprintf("node %s: metadata.annotations"
                                "[conjflow.io/ovsdb]: \"%s\" is not an "
                                "OVSDB remote (unix:PATH, tcp:HOST:PORT or "
                                "ssl:HOST:PORT)", name, ann_ovsdb);
        }
        ovsdb = cf_xstrdup(ann_ovsdb);
    } else {
        const char *template = (opts && opts->ovsdb_template
                                ? opts->ovsdb_template
                                : CF_K8S_DEFAULT_OVSDB_TEMPLATE);
        char *error = expand_template(template, name, addresses, &ovsdb);
        if (error) {
            char *msg = cf_xasprintf("node %s: %s", name, error);
            free(error);
            return msg;
        }
        if (!ovsdb_remote_ok(ovsdb)) {
            char *msg = cf_xasprintf("node %s: ovsdb template gives \"%s\", "
                                     "not an OVSDB remote", name, ovsdb);
            free(ovsdb);
            return msg;
        }
    }

    const char *bridge = json_string_value(
        json_object_get(ann, "conjflow.io/bridge"));
    if (!bridge) {
        bridge = opts && opts->bridge ? opts->bridge : "br-int";
    }
    if (!*bridge || strlen(bridge) > 15 || strpbrk(bridge, " /\t")) {
        free(ovsdb);
        return cf_xasprintf("node %s: bridge \"%s\" is not a valid bridge "
                            "name", name, bridge);
    }

    struct cf_node *node = cf_xzalloc(sizeof *node);
    node->name = cf_xstrdup(name);
    node->ovsdb = ovsdb;
    node->bridge = cf_xstrdup(bridge);

    json_t *manifest_addrs = json_array();
    size_t i;
    const json_t *a;
    json_array_foreach (addresses, i, a) {
        const char *t = json_string_value(json_object_get(a, "type"));
        const char *v = json_string_value(json_object_get(a, "address"));
        if (!t || !v
            || (strcmp(t, "InternalIP") && strcmp(t, "ExternalIP"))) {
            continue;
        }
        struct cf_addr addr;
        char *error = cf_addr_parse(v, &addr);
        if (error) {
            char *msg = cf_xasprintf("node %s: status.addresses[%zu]."
                                     "address: %s", name, i, error);
            free(error);
            json_decref(manifest_addrs);
            cf_node_destroy(node);
            return msg;
        }
        bool dup = false;
        for (size_t j = 0; j < node->n_addrs; j++) {
            dup |= !cf_addr_compare(&node->addrs[j], &addr);
        }
        if (!dup) {
            node->addrs = cf_xrealloc(node->addrs, (node->n_addrs + 1)
                                      * sizeof *node->addrs);
            node->addrs[node->n_addrs++] = addr;
            json_array_append_new(manifest_addrs, json_string(v));
        }
    }

    json_t *manifest = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:o}}",
                                 "apiVersion", "conjflow.io/v1alpha1",
                                 "kind", "Node",
                                 "metadata", "name", name,
                                 "spec", "ovsdb", node->ovsdb,
                                 "bridge", node->bridge,
                                 "addresses", manifest_addrs);
    struct cf_object *o = cf_xzalloc(sizeof *o);
    o->kind = CF_KIND_NODE;
    o->node = node;
    o->manifest = json_dumps(manifest, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(manifest);
    *objp = o;
    return NULL;
}

/* Converts one API object of 'kind' (see conjflow/k8s.h). */
char *
cf_k8s_object_from_json(enum cf_kind kind, const json_t *obj,
                        const struct cf_k8s_node_options *opts,
                        struct cf_object **objp)
{
    *objp = NULL;
    if (kind == CF_KIND_NODE) {
        return cf_k8s_node_from_json(obj, opts, objp);
    }
    struct cf_object *o;
    char *error = cf_manifest_object_from_json(obj, NULL,
                                               CF_MANIFEST_LENIENT, &o);
    if (error) {
        return error;
    }
    if (o->kind != kind) {
        char *msg = cf_xasprintf("%s %s: expected a %s", cf_kind_name(o->kind),
                                 cf_object_name(o), cf_kind_name(kind));
        cf_object_destroy(o);
        return msg;
    }
    *objp = o;
    return NULL;
}

/* See conjflow/k8s.h. */
char *
cf_k8s_policy_fail_closed(const json_t *obj, const char *why,
                          struct cf_object **objp)
{
    *objp = NULL;
    const json_t *meta = json_object_get(obj, "metadata");
    const json_t *spec = json_object_get(obj, "spec");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    if (!name || !ns) {
        return cf_xstrdup("networkpolicy without metadata.name and "
                          "metadata.namespace: nothing to isolate");
    }

    /* policyTypes as given, else as the API server defaults them. */
    json_t *types = json_object_get(spec, "policyTypes");
    if (json_is_array(types) && json_array_size(types)) {
        types = json_deep_copy(types);
    } else {
        types = json_pack("[s]", "Ingress");
        if (json_object_get(spec, "egress")) {
            json_array_append_new(types, json_string("Egress"));
        }
    }

    char *error = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        /* First the policy's own podSelector, then every pod. */
        json_t *sel = json_object_get(spec, "podSelector");
        sel = attempt == 0 && json_is_object(sel) ? json_deep_copy(sel)
                                                  : json_object();
        json_t *annotations = json_object_get(meta, "annotations");
        annotations = (json_is_object(annotations)
                       ? json_deep_copy(annotations) : json_object());
        json_object_set_new(annotations, "conjflow.io/fail-closed",
                            json_string(why));
        json_t *policy = json_pack("{s:s, s:s, s:{s:s, s:s, s:o},"
                                   " s:{s:o, s:O}}",
                                   "apiVersion", "networking.k8s.io/v1",
                                   "kind", "NetworkPolicy",
                                   "metadata", "name", name,
                                   "namespace", ns,
                                   "annotations", annotations,
                                   "spec", "podSelector", sel,
                                   "policyTypes", types);
        free(error);
        error = cf_k8s_object_from_json(CF_KIND_POLICY, policy, NULL, objp);
        json_decref(policy);
        if (!error) {
            break;
        }
    }
    json_decref(types);
    return error;
}
