/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Model to JSON: a Kubernetes-form JSON object built from a model object
 * alone, for objects that have no stored manifest.  Reading it back with
 * convert.c gives the same model (the tests check this).
 */
#include "conjflow-config.h"

#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "conjflow/manifest.h"
#include "manifest/manifest-private.h"

/* Returns the Kubernetes apiVersion of 'kind'. */
static const char *
kind_api_version(enum cf_kind kind)
{
    switch (kind) {
    case CF_KIND_POLICY:
        return "networking.k8s.io/v1";
    case CF_KIND_NODE:
        return "conjflow.io/v1alpha1";
    case CF_KIND_NAMESPACE:
    case CF_KIND_POD:
    default:
        return "v1";
    }
}

/* Returns the Kubernetes kind ("NetworkPolicy") of 'kind'. */
static const char *
kind_k8s_name(enum cf_kind kind)
{
    switch (kind) {
    case CF_KIND_NAMESPACE:
        return "Namespace";
    case CF_KIND_POD:
        return "Pod";
    case CF_KIND_POLICY:
        return "NetworkPolicy";
    case CF_KIND_NODE:
        return "Node";
    default:
        return "";
    }
}

/* Returns 'labels' as a new JSON object. */
static json_t *
labels_to_json(const struct cf_labels *labels)
{
    json_t *o = json_object();
    for (size_t i = 0; i < labels->n; i++) {
        json_object_set_new(o, labels->items[i].key,
                            json_string(labels->items[i].value));
    }
    return o;
}

/* Returns 'sel' as a new JSON label selector: single-value In requirements
 * as matchLabels, the rest as matchExpressions. */
static json_t *
selector_to_json(const struct cf_selector *sel)
{
    static const char *const ops[] = {
        [CF_SEL_IN] = "In", [CF_SEL_NOT_IN] = "NotIn",
        [CF_SEL_EXISTS] = "Exists", [CF_SEL_DOES_NOT_EXIST] = "DoesNotExist",
    };
    json_t *o = json_object();
    json_t *ml = json_object();
    json_t *me = json_array();
    for (size_t i = 0; i < sel->n_reqs; i++) {
        const struct cf_sel_req *r = &sel->reqs[i];
        if (r->op == CF_SEL_IN && r->n_values == 1
            && !json_object_get(ml, r->key)) {
            json_object_set_new(ml, r->key, json_string(r->values[0]));
            continue;
        }
        json_t *e = json_object();
        json_object_set_new(e, "key", json_string(r->key));
        json_object_set_new(e, "operator", json_string(ops[r->op]));
        if (r->n_values) {
            json_t *vs = json_array();
            for (size_t j = 0; j < r->n_values; j++) {
                json_array_append_new(vs, json_string(r->values[j]));
            }
            json_object_set_new(e, "values", vs);
        }
        json_array_append_new(me, e);
    }
    if (json_object_size(ml)) {
        json_object_set_new(o, "matchLabels", ml);
    } else {
        json_decref(ml);
    }
    if (json_array_size(me)) {
        json_object_set_new(o, "matchExpressions", me);
    } else {
        json_decref(me);
    }
    return o;
}

/* Returns 'cidr' as a new JSON string. */
static json_t *
cidr_to_json(const struct cf_cidr *cidr)
{
    struct cf_ds s = CF_DS_INIT;
    cf_cidr_format(cidr, &s);
    json_t *j = json_string(cf_ds_cstr(&s));
    cf_ds_destroy(&s);
    return j;
}

/* Returns 'addr' as a new JSON string. */
static json_t *
addr_to_json(const struct cf_addr *addr)
{
    struct cf_ds s = CF_DS_INIT;
    cf_addr_format(addr, &s);
    json_t *j = json_string(cf_ds_cstr(&s));
    cf_ds_destroy(&s);
    return j;
}

/* Returns the 'n' 'rules' as a new JSON array; 'peers_key' is "from" or
 * "to". */
static json_t *
rules_to_json(const struct cf_rule *rules, size_t n, const char *peers_key)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct cf_rule *r = &rules[i];
        json_t *rj = json_object();
        if (r->n_peers) {
            json_t *peers = json_array();
            for (size_t j = 0; j < r->n_peers; j++) {
                const struct cf_peer *p = &r->peers[j];
                json_t *pj = json_object();
                if (p->has_pod_sel) {
                    json_object_set_new(pj, "podSelector",
                                        selector_to_json(&p->pod_sel));
                }
                if (p->has_ns_sel) {
                    json_object_set_new(pj, "namespaceSelector",
                                        selector_to_json(&p->ns_sel));
                }
                if (p->has_ipblock) {
                    json_t *b = json_object();
                    json_object_set_new(b, "cidr",
                                        cidr_to_json(&p->ipblock.cidr));
                    if (p->ipblock.n_except) {
                        json_t *e = json_array();
                        for (size_t k = 0; k < p->ipblock.n_except; k++) {
                            json_array_append_new(
                                e, cidr_to_json(&p->ipblock.except[k]));
                        }
                        json_object_set_new(b, "except", e);
                    }
                    json_object_set_new(pj, "ipBlock", b);
                }
                json_array_append_new(peers, pj);
            }
            json_object_set_new(rj, peers_key, peers);
        }
        if (r->n_ports) {
            json_t *ports = json_array();
            for (size_t j = 0; j < r->n_ports; j++) {
                const struct cf_port *p = &r->ports[j];
                json_t *pj = json_object();
                json_object_set_new(pj, "protocol",
                                    json_string(cf_proto_name(p->proto)));
                if (p->kind == CF_PORT_NUMBER) {
                    json_object_set_new(pj, "port", json_integer(p->port));
                    if (p->end_port != p->port) {
                        json_object_set_new(pj, "endPort",
                                            json_integer(p->end_port));
                    }
                } else if (p->kind == CF_PORT_NAME) {
                    json_object_set_new(pj, "port", json_string(p->name));
                }
                json_array_append_new(ports, pj);
            }
            json_object_set_new(rj, "ports", ports);
        }
        json_array_append_new(a, rj);
    }
    return a;
}

/* Returns a new JSON object describing 'obj' in Kubernetes form, built from
 * its model struct. */
json_t *
cf_manifest_object_to_json(const struct cf_object *obj)
{
    json_t *o = json_object();
    json_t *meta = json_object();
    json_t *spec = json_object();
    json_object_set_new(o, "apiVersion",
                        json_string(kind_api_version(obj->kind)));
    json_object_set_new(o, "kind", json_string(kind_k8s_name(obj->kind)));
    json_object_set_new(meta, "name", json_string(cf_object_name(obj)));
    if (cf_object_ns(obj)) {
        json_object_set_new(meta, "namespace",
                            json_string(cf_object_ns(obj)));
    }

    switch (obj->kind) {
    case CF_KIND_NAMESPACE:
        if (obj->ns->labels.n) {
            json_object_set_new(meta, "labels",
                                labels_to_json(&obj->ns->labels));
        }
        break;
    case CF_KIND_POD: {
        const struct cf_pod *pod = obj->pod;
        if (pod->labels.n) {
            json_object_set_new(meta, "labels", labels_to_json(&pod->labels));
        }
        if (pod->node) {
            json_object_set_new(spec, "nodeName", json_string(pod->node));
        }
        if (pod->host_network) {
            json_object_set_new(spec, "hostNetwork", json_true());
        }
        json_t *ports = json_array();
        for (size_t i = 0; i < pod->n_ports; i++) {
            json_t *p = json_object();
            if (pod->ports[i].name) {
                json_object_set_new(p, "name",
                                    json_string(pod->ports[i].name));
            }
            json_object_set_new(p, "containerPort",
                                json_integer(pod->ports[i].port));
            json_object_set_new(p, "protocol",
                                json_string(cf_proto_name(
                                                pod->ports[i].proto)));
            json_array_append_new(ports, p);
        }
        json_t *ct = json_object();
        json_object_set_new(ct, "name", json_string("main"));
        if (json_array_size(ports)) {
            json_object_set_new(ct, "ports", ports);
        } else {
            json_decref(ports);
        }
        json_t *cts = json_array();
        json_array_append_new(cts, ct);
        json_object_set_new(spec, "containers", cts);
        if (pod->n_ips) {
            json_t *status = json_object();
            json_t *ips = json_array();
            json_object_set_new(status, "podIP", addr_to_json(&pod->ips[0]));
            for (size_t i = 0; i < pod->n_ips; i++) {
                json_t *e = json_object();
                json_object_set_new(e, "ip", addr_to_json(&pod->ips[i]));
                json_array_append_new(ips, e);
            }
            json_object_set_new(status, "podIPs", ips);
            json_object_set_new(o, "status", status);
        }
        break;
    }
    case CF_KIND_POLICY: {
        const struct cf_policy *p = obj->policy;
        if (p->log) {
            json_t *ann = json_object();
            json_object_set_new(ann, "conjflow.io/log", json_string("true"));
            json_object_set_new(meta, "annotations", ann);
        }
        json_object_set_new(spec, "podSelector",
                            selector_to_json(&p->pod_sel));
        json_t *types = json_array();
        if (p->ingress) {
            json_array_append_new(types, json_string("Ingress"));
        }
        if (p->egress) {
            json_array_append_new(types, json_string("Egress"));
        }
        json_object_set_new(spec, "policyTypes", types);
        if (p->ingress || p->n_ingress) {
            json_object_set_new(spec, "ingress",
                                rules_to_json(p->ingress_rules, p->n_ingress,
                                              "from"));
        }
        if (p->egress || p->n_egress) {
            json_object_set_new(spec, "egress",
                                rules_to_json(p->egress_rules, p->n_egress,
                                              "to"));
        }
        break;
    }
    case CF_KIND_NODE: {
        const struct cf_node *n = obj->node;
        json_object_set_new(spec, "ovsdb", json_string(n->ovsdb));
        json_object_set_new(spec, "bridge", json_string(n->bridge));
        if (n->n_addrs) {
            json_t *a = json_array();
            for (size_t i = 0; i < n->n_addrs; i++) {
                json_array_append_new(a, addr_to_json(&n->addrs[i]));
            }
            json_object_set_new(spec, "addresses", a);
        }
        break;
    }
    default:
        break;
    }
    json_object_set_new(o, "metadata", meta);
    if (obj->kind != CF_KIND_NAMESPACE) {
        json_object_set_new(o, "spec", spec);
    } else {
        json_decref(spec);
    }
    return o;
}
