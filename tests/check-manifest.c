/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * Unit tests of manifests (manifest/): YAML and JSON in, every kind, the
 * API server's defaulting and validation (each invalid case checks its
 * message), strict and lenient modes, multi-document streams, Lists,
 * files, directories and standard input, printing as JSON and YAML and
 * reading that back to the same model, and every policy of the
 * NetworkPolicy conformance corpus (tests/data/conformance-cases.json,
 * found through $srcdir).
 */
#include "conjflow-config.h"

#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjflow/cfutil.h"
#include "conjflow/manifest.h"
#include "manifest/manifest-private.h"

/* Parses 'text' in 'mode' and asserts success.  Fills 'list' (initialized
 * here). */
static void
parse_ok_mode(const char *text, enum cf_manifest_mode mode,
              struct cf_object_list *list)
{
    cf_object_list_init(list);
    char *error = cf_manifest_parse(text, strlen(text), "t.yaml", mode, list);
    ck_assert_msg(!error, "unexpected error: %s", error);
}

/* Parses 'text' strictly and returns its only object (the caller destroys
 * it). */
static struct cf_object *
parse_one(const char *text)
{
    struct cf_object_list list;
    parse_ok_mode(text, CF_MANIFEST_STRICT, &list);
    ck_assert_uint_eq(list.n, 1);
    struct cf_object *obj = list.objs[0];
    free(list.objs);
    return obj;
}

/* Parses 'text' in 'mode' and asserts that it fails with exactly 'msg'. */
static void
check_error_mode(const char *text, enum cf_manifest_mode mode,
                 const char *msg)
{
    struct cf_object_list list;
    cf_object_list_init(&list);
    char *error = cf_manifest_parse(text, strlen(text), "t.yaml", mode,
                                    &list);
    ck_assert_msg(error != NULL, "parsed: %s", text);
    ck_assert_uint_eq(list.n, 0);
    ck_assert_str_eq(error, msg);
    free(error);
    cf_object_list_destroy(&list);
}

/* Parses 'text' strictly and asserts that it fails with exactly 'msg'. */
static void
check_error(const char *text, const char *msg)
{
    check_error_mode(text, CF_MANIFEST_STRICT, msg);
}

#define POLICY_HEAD                             \
    "apiVersion: networking.k8s.io/v1\n"        \
    "kind: NetworkPolicy\n"                     \
    "metadata:\n"                               \
    "  name: p\n"                               \
    "  namespace: x\n"

/* Checks that a policy with this 'spec' (YAML, indented by 2) fails with
 * "t.yaml: networkpolicy x/p: " followed by 'msg'. */
static void
check_policy_error(const char *spec, const char *msg)
{
    char *text = cf_xasprintf(POLICY_HEAD "spec:\n%s", spec);
    char *full = cf_xasprintf("t.yaml: networkpolicy x/p: %s", msg);
    check_error(text, full);
    free(full);
    free(text);
}

/* Returns the model of 'obj' as canonical JSON text (malloc'd). */
static char *
model_text(const struct cf_object *obj)
{
    json_t *j = cf_manifest_object_to_json(obj);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

/* Returns the text form of 'sel' (malloc'd). */
static char *
sel_text(const struct cf_selector *sel)
{
    struct cf_ds ds = CF_DS_INIT;
    cf_selector_format(sel, &ds);
    return cf_ds_steal(&ds);
}

/* Asserts that 'sel' formats as 'expected'. */
static void
check_sel(const struct cf_selector *sel, const char *expected)
{
    char *s = sel_text(sel);
    ck_assert_str_eq(s, expected);
    free(s);
}

/* Asserts that 'cidr' formats as 'expected'. */
static void
check_cidr(const struct cf_cidr *cidr, const char *expected)
{
    struct cf_ds ds = CF_DS_INIT;
    cf_cidr_format(cidr, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds), expected);
    cf_ds_destroy(&ds);
}

/* Asserts that 'addr' formats as 'expected'. */
static void
check_addr(const struct cf_addr *addr, const char *expected)
{
    struct cf_ds ds = CF_DS_INIT;
    cf_addr_format(addr, &ds);
    ck_assert_str_eq(cf_ds_cstr(&ds), expected);
    cf_ds_destroy(&ds);
}

static const char full_policy[] =
    "apiVersion: networking.k8s.io/v1\n"
    "kind: NetworkPolicy\n"
    "metadata:\n"
    "  name: allow-web\n"
    "  namespace: x\n"
    "  labels: {team: \"blue\"}\n"
    "  annotations:\n"
    "    conjflow.io/log: \"true\"\n"
    "spec:\n"
    "  podSelector:\n"
    "    matchLabels:\n"
    "      app: web\n"
    "    matchExpressions:\n"
    "    - {key: tier, operator: NotIn, values: [db, cache, db]}\n"
    "    - key: env\n"
    "      operator: Exists\n"
    "  policyTypes: [Ingress, Egress]\n"
    "  ingress:\n"
    "  - from:\n"
    "    - podSelector: {matchLabels: {role: client}}\n"
    "      namespaceSelector: {}\n"
    "    - namespaceSelector:\n"
    "        matchExpressions:\n"
    "        - {key: kubernetes.io/metadata.name, operator: In,"
    " values: [y, z]}\n"
    "    - ipBlock:\n"
    "        cidr: 10.1.2.3/8\n"
    "        except: [10.1.0.0/16, 10.2.3.0/24]\n"
    "    ports:\n"
    "    - port: 80\n"
    "    - protocol: UDP\n"
    "      port: 1000\n"
    "      endPort: 2000\n"
    "    - port: http\n"
    "      protocol: SCTP\n"
    "    - protocol: UDP\n"
    "  - {}\n"
    "  egress:\n"
    "  - to: []\n"
    "    ports: []\n"
    "  - to:\n"
    "    - ipBlock: {cidr: \"fd00::/8\", except: [\"fd00:1::/32\"]}\n";

START_TEST(test_policy_full)
{
    struct cf_object *obj = parse_one(full_policy);
    ck_assert_int_eq(obj->kind, CF_KIND_POLICY);
    const struct cf_policy *p = obj->policy;
    ck_assert_str_eq(p->ns, "x");
    ck_assert_str_eq(p->name, "allow-web");
    ck_assert_uint_eq(p->id, 0);
    ck_assert(p->log);
    ck_assert(p->ingress && p->egress);
    check_sel(&p->pod_sel, "app=web,env,tier notin (cache,db)");

    ck_assert_uint_eq(p->n_ingress, 2);
    const struct cf_rule *r = &p->ingress_rules[0];
    ck_assert_uint_eq(r->n_peers, 3);
    ck_assert(r->peers[0].has_pod_sel && r->peers[0].has_ns_sel);
    ck_assert(!r->peers[0].has_ipblock);
    check_sel(&r->peers[0].pod_sel, "role=client");
    ck_assert_uint_eq(r->peers[0].ns_sel.n_reqs, 0);
    ck_assert(!r->peers[1].has_pod_sel && r->peers[1].has_ns_sel);
    check_sel(&r->peers[1].ns_sel, "kubernetes.io/metadata.name in (y,z)");
    ck_assert(r->peers[2].has_ipblock);
    check_cidr(&r->peers[2].ipblock.cidr, "10.0.0.0/8");
    ck_assert_uint_eq(r->peers[2].ipblock.n_except, 2);
    check_cidr(&r->peers[2].ipblock.except[1], "10.2.3.0/24");

    ck_assert_uint_eq(r->n_ports, 4);
    ck_assert_int_eq(r->ports[0].proto, CF_PROTO_TCP);
    ck_assert_int_eq(r->ports[0].kind, CF_PORT_NUMBER);
    ck_assert_uint_eq(r->ports[0].port, 80);
    ck_assert_uint_eq(r->ports[0].end_port, 80);
    ck_assert_int_eq(r->ports[1].proto, CF_PROTO_UDP);
    ck_assert_uint_eq(r->ports[1].port, 1000);
    ck_assert_uint_eq(r->ports[1].end_port, 2000);
    ck_assert_int_eq(r->ports[2].kind, CF_PORT_NAME);
    ck_assert_int_eq(r->ports[2].proto, CF_PROTO_SCTP);
    ck_assert_str_eq(r->ports[2].name, "http");
    ck_assert_int_eq(r->ports[3].kind, CF_PORT_ALL);
    ck_assert_int_eq(r->ports[3].proto, CF_PROTO_UDP);

    /* "- {}": every peer, every port. */
    ck_assert_uint_eq(p->ingress_rules[1].n_peers, 0);
    ck_assert_uint_eq(p->ingress_rules[1].n_ports, 0);

    ck_assert_uint_eq(p->n_egress, 2);
    ck_assert_uint_eq(p->egress_rules[0].n_peers, 0);
    ck_assert_uint_eq(p->egress_rules[0].n_ports, 0);
    const struct cf_peer *v6 = &p->egress_rules[1].peers[0];
    check_cidr(&v6->ipblock.cidr, "fd00::/8");
    check_cidr(&v6->ipblock.except[0], "fd00:1::/32");

    /* The manifest is the object as given, compact, keys sorted. */
    ck_assert_ptr_nonnull(obj->manifest);
    ck_assert(!strncmp(obj->manifest, "{\"apiVersion\":\"networking.k8s.io"
                       "/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":",
                       60));
    ck_assert_ptr_nonnull(strstr(obj->manifest, "\"cidr\":\"10.1.2.3/8\""));
    cf_object_destroy(obj);
}
END_TEST

START_TEST(test_policy_defaulting)
{
    /* No policyTypes, no egress: Ingress only. */
    struct cf_object *obj = parse_one(POLICY_HEAD
                                      "spec:\n  podSelector: {}\n");
    ck_assert(obj->policy->ingress && !obj->policy->egress);
    ck_assert_uint_eq(obj->policy->n_ingress, 0);
    ck_assert(!obj->policy->log);
    ck_assert_uint_eq(obj->policy->pod_sel.n_reqs, 0);
    cf_object_destroy(obj);

    /* Egress rules: Ingress and Egress. */
    obj = parse_one(POLICY_HEAD "spec:\n  podSelector: {}\n"
                    "  egress:\n  - {}\n");
    ck_assert(obj->policy->ingress && obj->policy->egress);
    cf_object_destroy(obj);

    /* egress: [] is empty: Ingress only. */
    obj = parse_one(POLICY_HEAD "spec:\n  podSelector: {}\n  egress: []\n");
    ck_assert(obj->policy->ingress && !obj->policy->egress);
    cf_object_destroy(obj);

    /* Explicit Egress only; policyTypes: [] means default. */
    obj = parse_one(POLICY_HEAD "spec:\n  podSelector: {}\n"
                    "  policyTypes: [Egress]\n");
    ck_assert(!obj->policy->ingress && obj->policy->egress);
    cf_object_destroy(obj);
    obj = parse_one(POLICY_HEAD "spec:\n  policyTypes: []\n");
    ck_assert(obj->policy->ingress && !obj->policy->egress);
    cf_object_destroy(obj);

    /* No namespace: "default"; log "false". */
    obj = parse_one("apiVersion: networking.k8s.io/v1\n"
                    "kind: NetworkPolicy\n"
                    "metadata: {name: p, annotations: "
                    "{conjflow.io/log: \"false\"}}\n"
                    "spec: {}\n");
    ck_assert_str_eq(obj->policy->ns, "default");
    ck_assert(!obj->policy->log);
    cf_object_destroy(obj);

    /* null means absent. */
    obj = parse_one(POLICY_HEAD "spec:\n  podSelector: null\n"
                    "  ingress:\n  - from: null\n    ports: ~\n");
    ck_assert_uint_eq(obj->policy->n_ingress, 1);
    ck_assert_uint_eq(obj->policy->ingress_rules[0].n_peers, 0);
    cf_object_destroy(obj);

    /* Exactly CF_MAX_RULES rules are fine. */
    struct cf_ds ds = CF_DS_INIT;
    cf_ds_put_cstr(&ds, POLICY_HEAD "spec:\n  ingress:\n");
    for (int i = 0; i < CF_MAX_RULES; i++) {
        cf_ds_put_format(&ds, "  - ports: [{port: %d}]\n", i + 1);
    }
    obj = parse_one(cf_ds_cstr(&ds));
    ck_assert_uint_eq(obj->policy->n_ingress, CF_MAX_RULES);
    ck_assert_uint_eq(obj->policy->ingress_rules[CF_MAX_RULES - 1]
                      .ports[0].port, CF_MAX_RULES);
    cf_object_destroy(obj);
    cf_ds_put_cstr(&ds, "  - {}\n");
    check_error(cf_ds_cstr(&ds), "t.yaml: networkpolicy x/p: spec.ingress: "
                "65 rules exceed conjflow's limit of 64 rules per direction");
    cf_ds_destroy(&ds);
}
END_TEST

START_TEST(test_policy_errors)
{
    check_policy_error("  ingress:\n  - ports:\n    - port: 80\n"
                       "    - port: 80\n      endPort: 70\n",
                       "spec.ingress[0].ports[1].endPort: 70 is less than "
                       "port 80");
    check_policy_error("  egress:\n  - ports:\n    - port: http\n"
                       "      endPort: 90\n",
                       "spec.egress[0].ports[0].endPort: may not be "
                       "specified when port is non-numeric");
    check_policy_error("  egress:\n  - ports:\n    - endPort: 90\n",
                       "spec.egress[0].ports[0].endPort: may not be "
                       "specified when port is not specified");
    check_policy_error("  ingress:\n  - ports:\n    - port: 0\n",
                       "spec.ingress[0].ports[0].port: 0 is not between 1 "
                       "and 65535");
    check_policy_error("  ingress:\n  - ports:\n    - port: 65536\n",
                       "spec.ingress[0].ports[0].port: 65536 is not "
                       "between 1 and 65535");
    check_policy_error("  ingress:\n  - ports:\n    - port: 80\n"
                       "      endPort: 65536\n",
                       "spec.ingress[0].ports[0].endPort: 65536 is not "
                       "between 1 and 65535");
    check_policy_error("  ingress:\n  - ports:\n    - port: \"80\"\n",
                       "spec.ingress[0].ports[0].port: \"80\" is not a "
                       "valid port name: it must contain at least one "
                       "letter");
    check_policy_error("  ingress:\n  - ports:\n    - port: HTTP\n",
                       "spec.ingress[0].ports[0].port: \"HTTP\" is not a "
                       "valid port name: only lower case letters, digits "
                       "and '-' are allowed");
    check_policy_error("  ingress:\n  - ports:\n    - port: a--b\n",
                       "spec.ingress[0].ports[0].port: \"a--b\" is not a "
                       "valid port name: it must not contain \"--\"");
    check_policy_error("  ingress:\n  - ports:\n    - port: -ab\n",
                       "spec.ingress[0].ports[0].port: \"-ab\" is not a "
                       "valid port name: it must not begin or end with "
                       "'-'");
    check_policy_error("  ingress:\n  - ports:\n"
                       "    - port: abcdefghijklmnop\n",
                       "spec.ingress[0].ports[0].port: \"abcdefghijklmnop\""
                       " is not a valid port name: it must be 1 to 15 "
                       "characters long");
    check_policy_error("  ingress:\n  - ports:\n    - port: 80.5\n",
                       "spec.ingress[0].ports[0].port: expected an integer "
                       "or a port name, got a floating-point number");
    check_policy_error("  ingress:\n  - ports:\n    - protocol: ICMP\n",
                       "spec.ingress[0].ports[0].protocol: \"ICMP\" is not "
                       "a supported protocol (expected TCP, UDP or SCTP)");
    check_policy_error("  ingress:\n  - ports:\n    - protocol: tcp\n",
                       "spec.ingress[0].ports[0].protocol: \"tcp\" is not "
                       "a supported protocol (expected TCP, UDP or SCTP)");
    check_policy_error("  ingress:\n  - from:\n    - {}\n",
                       "spec.ingress[0].from[0]: must specify a "
                       "podSelector, a namespaceSelector or an ipBlock");
    check_policy_error("  egress:\n  - to:\n    - ipBlock: {cidr: "
                       "10.0.0.0/8}\n      podSelector: {}\n",
                       "spec.egress[0].to[0]: may not specify both ipBlock "
                       "and another peer");
    check_policy_error("  egress:\n  - to:\n    - ipBlock: {cidr: "
                       "10.0.0.0/8, except: [11.0.0.0/16]}\n",
                       "spec.egress[0].to[0].ipBlock.except[0]: "
                       "\"11.0.0.0/16\" is not a strict subset of cidr "
                       "10.0.0.0/8");
    check_policy_error("  egress:\n  - to:\n    - ipBlock: {cidr: "
                       "10.0.0.0/8, except: [10.0.0.0/8]}\n",
                       "spec.egress[0].to[0].ipBlock.except[0]: "
                       "\"10.0.0.0/8\" is not a strict subset of cidr "
                       "10.0.0.0/8");
    check_policy_error("  egress:\n  - to:\n    - ipBlock: {cidr: "
                       "10.0.0.0/8, except: [\"fd00::/16\"]}\n",
                       "spec.egress[0].to[0].ipBlock.except[0]: "
                       "\"fd00::/16\" is not a strict subset of cidr "
                       "10.0.0.0/8");
    check_policy_error("  egress:\n  - to:\n    - ipBlock: {cidr: "
                       "10.0.0.300/8}\n",
                       "spec.egress[0].to[0].ipBlock.cidr: "
                       "\"10.0.0.300/8\" is not a valid CIDR");
    check_policy_error("  egress:\n  - to:\n    - ipBlock: {cidr: "
                       "10.0.0.1}\n",
                       "spec.egress[0].to[0].ipBlock.cidr: \"10.0.0.1\" is "
                       "not a valid CIDR (no prefix length)");
    check_policy_error("  egress:\n  - to:\n    - ipBlock: {except: "
                       "[10.0.0.0/9]}\n",
                       "spec.egress[0].to[0].ipBlock.cidr: required");
    check_policy_error("  podSelector:\n    matchExpressions:\n"
                       "    - {key: app, operator: In}\n",
                       "spec.podSelector.matchExpressions[0].values: must "
                       "be specified and non-empty when operator is In");
    check_policy_error("  podSelector:\n    matchExpressions:\n"
                       "    - {key: app, operator: NotIn, values: []}\n",
                       "spec.podSelector.matchExpressions[0].values: must "
                       "be specified and non-empty when operator is NotIn");
    check_policy_error("  podSelector:\n    matchExpressions:\n"
                       "    - {key: app, operator: Exists, values: [a]}\n",
                       "spec.podSelector.matchExpressions[0].values: must "
                       "be empty when operator is Exists");
    check_policy_error("  podSelector:\n    matchExpressions:\n"
                       "    - {key: app, operator: Equals, values: [a]}\n",
                       "spec.podSelector.matchExpressions[0].operator: "
                       "\"Equals\" is not a valid operator (expected In, "
                       "NotIn, Exists or DoesNotExist)");
    check_policy_error("  podSelector:\n    matchExpressions:\n"
                       "    - {operator: Exists}\n",
                       "spec.podSelector.matchExpressions[0].key: "
                       "required");
    check_policy_error("  podSelector:\n    matchLabels: {\"a b\": x}\n",
                       "spec.podSelector.matchLabels[\"a b\"]: \"a b\" is "
                       "not a valid key: the name part must consist of "
                       "alphanumeric characters, '-', '_' or '.', and "
                       "start and end with an alphanumeric character");
    check_policy_error("  podSelector:\n    matchLabels: {app: -x}\n",
                       "spec.podSelector.matchLabels.app: \"-x\" is not a "
                       "valid label value: it must consist of alphanumeric "
                       "characters, '-', '_' or '.', and start and end "
                       "with an alphanumeric character");
    check_policy_error("  podSelector:\n    matchLabels: {app: true}\n",
                       "spec.podSelector.matchLabels.app: expected a "
                       "string, got a boolean");
    check_policy_error("  podSelector:\n    matchLabels: {app: 1}\n",
                       "spec.podSelector.matchLabels.app: expected a "
                       "string, got an integer");
    check_policy_error("  podSelector:\n    matchLabels: {Foo_/x: y}\n",
                       "spec.podSelector.matchLabels[\"Foo_/x\"]: \"Foo_/x\""
                       " is not a valid key: prefix: \"Foo_\" is not a "
                       "valid RFC 1123 subdomain (lower case alphanumeric "
                       "characters, '-' or '.', starting and ending with an "
                       "alphanumeric character)");
    check_policy_error("  policyTypes: [Ingress, Foo]\n",
                       "spec.policyTypes[1]: \"Foo\" is not a valid policy "
                       "type (expected Ingress or Egress)");
    check_policy_error("  podSelector: []\n",
                       "spec.podSelector: expected an object, got an "
                       "array");
    check_policy_error("  ingress: {}\n",
                       "spec.ingress: expected an array, got an object");
    check_policy_error("  foo: 1\n  ingress:\n  - bar: 2\n",
                       "spec.foo: unknown field\n"
                       "t.yaml: networkpolicy x/p: spec.ingress[0].bar: "
                       "unknown field");

    /* Several errors in one object, one per line, in document order. */
    check_policy_error("  ingress:\n  - ports:\n    - port: 0\n"
                       "    - protocol: X\n",
                       "spec.ingress[0].ports[0].port: 0 is not between 1 "
                       "and 65535\n"
                       "t.yaml: networkpolicy x/p: "
                       "spec.ingress[0].ports[1].protocol: \"X\" is not a "
                       "supported protocol (expected TCP, UDP or SCTP)");

    /* Annotation. */
    check_error("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                "metadata: {name: p, namespace: x, annotations: "
                "{conjflow.io/log: \"yes\"}}\nspec: {}\n",
                "t.yaml: networkpolicy x/p: "
                "metadata.annotations[\"conjflow.io/log\"]: \"yes\" is not "
                "\"true\" or \"false\"");
    check_error("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                "metadata: {name: p, namespace: x}\n",
                "t.yaml: networkpolicy x/p: spec: required");
}
END_TEST

START_TEST(test_metadata_errors)
{
    check_error("apiVersion: v1\nkind: Namespace\nmetadata: {name: Prod}\n",
                "t.yaml: namespace Prod: metadata.name: \"Prod\" is not a "
                "valid RFC 1123 label (lower case alphanumeric characters "
                "or '-', starting and ending with an alphanumeric "
                "character)");
    check_error("apiVersion: v1\nkind: Namespace\nmetadata: {name: a.b}\n",
                "t.yaml: namespace a.b: metadata.name: \"a.b\" is not a "
                "valid RFC 1123 label (lower case alphanumeric characters "
                "or '-', starting and ending with an alphanumeric "
                "character)");
    char *long_name = cf_xmalloc(65);
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    char *text = cf_xasprintf("apiVersion: v1\nkind: Namespace\n"
                              "metadata: {name: %s}\n", long_name);
    char *msg = cf_xasprintf("t.yaml: namespace %s: metadata.name: \"%s\" "
                             "is longer than 63 characters", long_name,
                             long_name);
    check_error(text, msg);
    free(text);
    free(msg);
    /* A pod name may be a subdomain, even a long one. */
    text = cf_xasprintf("apiVersion: v1\nkind: Pod\n"
                        "metadata: {name: %s.b-c, namespace: x}\n",
                        long_name);
    struct cf_object *obj = parse_one(text);
    ck_assert_uint_eq(strlen(obj->pod->name), 68);
    cf_object_destroy(obj);
    free(text);
    free(long_name);

    check_error("apiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\n",
                "t.yaml: pod x/<unnamed>: metadata.name: required");
    check_error("apiVersion: v1\nkind: Pod\n"
                "metadata: {generateName: a-, namespace: x}\n",
                "t.yaml: pod x/<unnamed>: metadata.name: required "
                "(generateName is not supported)");
    check_error("apiVersion: v1\nkind: Pod\n",
                "t.yaml: pod default/<unnamed>: metadata: required");
    check_error("apiVersion: v1\nkind: Pod\n"
                "metadata: {name: a, namespace: X_}\n",
                "t.yaml: pod X_/a: metadata.namespace: \"X_\" is not a "
                "valid RFC 1123 label (lower case alphanumeric characters "
                "or '-', starting and ending with an alphanumeric "
                "character)");
    check_error("apiVersion: v1\nkind: Pod\n"
                "metadata: {name: a, labels: {x: \"\"}, bogus: 1}\n",
                "t.yaml: pod default/a: metadata.bogus: unknown field");
    check_error("apiVersion: v1\nkind: Namespace\n"
                "metadata: {name: a, namespace: b}\n",
                "t.yaml: namespace a: metadata.namespace: not allowed: a "
                "namespace is not namespaced");
    check_error("kind: Namespace\nmetadata: {name: a}\n",
                "t.yaml: namespace a: apiVersion: required");
    check_error("apiVersion: v2\nkind: Namespace\nmetadata: {name: a}\n",
                "t.yaml: namespace a: apiVersion: \"v2\" is not supported "
                "for kind Namespace (expected v1)");
    check_error("apiVersion: v1\nkind: Node\nmetadata: {name: a}\n",
                "t.yaml: node a: apiVersion: \"v1\" is not supported for "
                "kind Node (expected conjflow.io/v1alpha1)\n"
                "t.yaml: node a: spec: required");
    check_error("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
                "t.yaml: kind: \"Service\" is not supported (conjflow "
                "reads Namespace, Pod, NetworkPolicy and "
                "conjflow.io/v1alpha1 Node)");
    check_error("apiVersion: v1\nmetadata: {name: a}\n",
                "t.yaml: kind: required");
    check_error("- a\n- b\n", "t.yaml: expected an object, got an array");
    check_error("apiVersion: v1\nkind: Namespace\n"
                "metadata: {name: a, labels: [x]}\n",
                "t.yaml: namespace a: metadata.labels: expected an object, "
                "got an array");
    check_error("apiVersion: v1\nkind: Namespace\n"
                "metadata: {name: a, annotations: {\"/x\": y}}\n",
                "t.yaml: namespace a: metadata.annotations[\"/x\"]: \"/x\" "
                "is not a valid key: prefix: prefix part must not be empty");
}
END_TEST

START_TEST(test_namespace)
{
    struct cf_object *obj = parse_one(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n"
        "  labels:\n    team: blue\n"
        "    kubernetes.io/metadata.name: wrong\n"
        "spec: {finalizers: [kubernetes]}\nstatus: {phase: Active}\n");
    ck_assert_int_eq(obj->kind, CF_KIND_NAMESPACE);
    ck_assert_str_eq(obj->ns->name, "prod");
    ck_assert_uint_eq(obj->ns->labels.n, 2);
    ck_assert_str_eq(cf_labels_get(&obj->ns->labels,
                                   "kubernetes.io/metadata.name"), "prod");
    ck_assert_str_eq(cf_labels_get(&obj->ns->labels, "team"), "blue");
    cf_object_destroy(obj);
}
END_TEST

START_TEST(test_pod)
{
    struct cf_object *obj = parse_one(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n"
        "  labels: {app: web, version: \"1.0\", empty: \"\"}\n"
        "spec:\n  nodeName: node-1\n  restartPolicy: Always\n"
        "  containers:\n  - name: a\n    image: nginx\n    ports:\n"
        "    - {name: http, containerPort: 8080}\n"
        "    - {name: dns, containerPort: 53, protocol: UDP}\n"
        "  - name: b\n    ports:\n    - containerPort: 9000\n"
        "      protocol: SCTP\n"
        "status:\n  phase: Running\n  podIP: 10.244.1.5\n"
        "  podIPs:\n  - ip: 10.244.1.5\n  - ip: \"fd00::5\"\n");
    const struct cf_pod *pod = obj->pod;
    ck_assert_str_eq(pod->ns, "default");
    ck_assert_str_eq(pod->name, "web-1");
    ck_assert_str_eq(pod->node, "node-1");
    ck_assert(!pod->host_network);
    ck_assert_uint_eq(pod->labels.n, 3);
    ck_assert_str_eq(cf_labels_get(&pod->labels, "version"), "1.0");
    ck_assert_str_eq(cf_labels_get(&pod->labels, "empty"), "");
    ck_assert_uint_eq(pod->n_ports, 3);
    ck_assert_uint_eq(cf_pod_resolve_port(pod, "http", CF_PROTO_TCP), 8080);
    ck_assert_uint_eq(cf_pod_resolve_port(pod, "dns", CF_PROTO_UDP), 53);
    ck_assert_ptr_null(pod->ports[2].name);
    ck_assert_int_eq(pod->ports[2].proto, CF_PROTO_SCTP);
    ck_assert_uint_eq(pod->n_ips, 2);
    check_addr(&pod->ips[0], "10.244.1.5");
    check_addr(&pod->ips[1], "fd00::5");
    cf_object_destroy(obj);

    /* podIP only, host network, unscheduled. */
    obj = parse_one("apiVersion: v1\nkind: Pod\n"
                    "metadata: {name: h, namespace: kube-system}\n"
                    "spec: {hostNetwork: true}\n"
                    "status: {podIP: 192.168.0.9}\n");
    ck_assert(obj->pod->host_network);
    ck_assert_ptr_null(obj->pod->node);
    ck_assert_uint_eq(obj->pod->n_ips, 1);
    check_addr(&obj->pod->ips[0], "192.168.0.9");
    cf_object_destroy(obj);

    check_error("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
                "spec:\n  containers:\n  - ports:\n"
                "    - {containerPort: 0, name: Http}\n"
                "    - {protocol: ICMP}\n",
                "t.yaml: pod default/a: spec.containers[0].ports[0].name: "
                "\"Http\" is not a valid port name: only lower case "
                "letters, digits and '-' are allowed\n"
                "t.yaml: pod default/a: "
                "spec.containers[0].ports[0].containerPort: 0 is not "
                "between 1 and 65535\n"
                "t.yaml: pod default/a: spec.containers[0].ports[1]."
                "protocol: \"ICMP\" is not a supported protocol (expected "
                "TCP, UDP or SCTP)\n"
                "t.yaml: pod default/a: spec.containers[0].ports[1]."
                "containerPort: required");
    check_error("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
                "status: {podIP: 10.0.0.1, podIPs: [{ip: 10.0.0.2}]}\n",
                "t.yaml: pod default/a: status.podIPs[0].ip: \"10.0.0.2\" "
                "does not match status.podIP \"10.0.0.1\"");
    check_error("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
                "status: {podIP: 10.0.0}\n",
                "t.yaml: pod default/a: status.podIP: \"10.0.0\" is not a "
                "valid IP address");
    check_error("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
                "spec: {hostNetwork: \"true\", nodeName: N1}\n",
                "t.yaml: pod default/a: spec.nodeName: \"N1\" is not a "
                "valid RFC 1123 subdomain (lower case alphanumeric "
                "characters, '-' or '.', starting and ending with an "
                "alphanumeric character)\n"
                "t.yaml: pod default/a: spec.hostNetwork: expected a "
                "boolean, got a string");
    check_error("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n"
                "oops: 1\n",
                "t.yaml: pod default/a: oops: unknown field");
}
END_TEST

START_TEST(test_node)
{
    struct cf_object *obj = parse_one(
        "apiVersion: conjflow.io/v1alpha1\nkind: Node\n"
        "metadata: {name: node-1}\n"
        "spec:\n  ovsdb: tcp:10.0.0.5:6640\n"
        "  addresses: [10.0.0.5, \"fd00::5\", 10.0.0.5]\n");
    const struct cf_node *n = obj->node;
    ck_assert_str_eq(n->name, "node-1");
    ck_assert_str_eq(n->ovsdb, "tcp:10.0.0.5:6640");
    ck_assert_str_eq(n->bridge, "br-int");
    ck_assert_uint_eq(n->id, 0);
    ck_assert_uint_eq(n->n_addrs, 2);
    check_addr(&n->addrs[0], "10.0.0.5");
    check_addr(&n->addrs[1], "fd00::5");
    cf_object_destroy(obj);

    const char *good[] = {
        "unix:/run/openvswitch/db.sock", "ssl:[fd00::1]:6640",
        "tcp:ovs.example.com", "ssl:10.1.1.1",
    };
    for (size_t i = 0; i < CF_ARRAY_SIZE(good); i++) {
        char *text = cf_xasprintf("apiVersion: conjflow.io/v1alpha1\n"
                                  "kind: Node\nmetadata: {name: n}\n"
                                  "spec: {ovsdb: \"%s\", bridge: br0}\n",
                                  good[i]);
        obj = parse_one(text);
        ck_assert_str_eq(obj->node->ovsdb, good[i]);
        ck_assert_str_eq(obj->node->bridge, "br0");
        cf_object_destroy(obj);
        free(text);
    }

    check_error("apiVersion: conjflow.io/v1alpha1\nkind: Node\n"
                "metadata: {name: n}\nspec: {bridge: br-int}\n",
                "t.yaml: node n: spec.ovsdb: required");
    check_error("apiVersion: conjflow.io/v1alpha1\nkind: Node\n"
                "metadata: {name: n}\n"
                "spec: {ovsdb: \"http://x\", addresses: [10.0.0.256], "
                "bridge: \"br int\", zone: 1}\n",
                "t.yaml: node n: spec.zone: unknown field\n"
                "t.yaml: node n: spec.ovsdb: \"http://x\" is not a valid "
                "OVSDB remote (expected unix:PATH, tcp:HOST[:PORT] or "
                "ssl:HOST[:PORT])\n"
                "t.yaml: node n: spec.bridge: \"br int\" is not a valid "
                "bridge name: only letters, digits, '-', '_' and '.' are "
                "allowed\n"
                "t.yaml: node n: spec.addresses[0]: \"10.0.0.256\" is not "
                "a valid IP address");
    check_error("apiVersion: conjflow.io/v1alpha1\nkind: Node\n"
                "metadata: {name: n}\nspec: {ovsdb: \"tcp:1.2.3.4:99999\"}\n",
                "t.yaml: node n: spec.ovsdb: \"tcp:1.2.3.4:99999\" has an "
                "invalid port");
}
END_TEST

START_TEST(test_lenient)
{
    static const char text[] =
        "{\"apiVersion\": \"networking.k8s.io/v1\", \"kind\": "
        "\"NetworkPolicy\", \"metadata\": {\"name\": \"p\", \"namespace\": "
        "\"x\", \"managedFields\": [], \"resourceVersion\": \"5\", "
        "\"future\": 1}, \"spec\": {\"podSelector\": {}, \"newField\": {}},"
        " \"status\": {}}";
    struct cf_object_list list;
    parse_ok_mode(text, CF_MANIFEST_LENIENT, &list);
    ck_assert_uint_eq(list.n, 1);
    cf_object_list_destroy(&list);
    check_error(text, "t.yaml: networkpolicy x/p: metadata.future: unknown "
                "field\nt.yaml: networkpolicy x/p: spec.newField: unknown "
                "field");

    /* cf_manifest_object_from_json() directly, as conjflow-k8s uses it. */
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    ck_assert_ptr_nonnull(j);
    struct cf_object *obj;
    char *error = cf_manifest_object_from_json(j, NULL, CF_MANIFEST_LENIENT,
                                               &obj);
    ck_assert_msg(!error, "%s", error);
    ck_assert_str_eq(obj->policy->name, "p");
    cf_object_destroy(obj);
    error = cf_manifest_object_from_json(j, "watch", CF_MANIFEST_STRICT,
                                         &obj);
    ck_assert_ptr_null(obj);
    ck_assert_str_eq(error, "watch: networkpolicy x/p: metadata.future: "
                     "unknown field\nwatch: networkpolicy x/p: "
                     "spec.newField: unknown field");
    free(error);
    json_decref(j);

    /* Errors other than unknown fields stay errors. */
    check_error_mode(POLICY_HEAD "spec: {policyTypes: [X]}\n",
                     CF_MANIFEST_LENIENT,
                     "t.yaml: networkpolicy x/p: spec.policyTypes[0]: \"X\" "
                     "is not a valid policy type (expected Ingress or "
                     "Egress)");
}
END_TEST

START_TEST(test_streams)
{
    /* Multi-document YAML with empty documents and a List. */
    struct cf_object_list list;
    parse_ok_mode("---\n"
                  "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
                  "---\n"
                  "---\n"
                  "# just a comment\n"
                  "---\n"
                  "apiVersion: v1\nkind: List\nitems:\n"
                  "- apiVersion: v1\n  kind: Namespace\n"
                  "  metadata: {name: b}\n"
                  "- apiVersion: v1\n  kind: Pod\n"
                  "  metadata: {name: p, namespace: b}\n"
                  "...\n",
                  CF_MANIFEST_STRICT, &list);
    ck_assert_uint_eq(list.n, 3);
    ck_assert_str_eq(cf_object_name(list.objs[0]), "a");
    ck_assert_str_eq(cf_object_name(list.objs[1]), "b");
    ck_assert_str_eq(cf_object_name(list.objs[2]), "p");
    cf_object_list_destroy(&list);

    /* Several JSON values; an API list whose items lack kind. */
    parse_ok_mode("{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
                  "\"metadata\":{\"name\":\"a\"}}\n"
                  "{\"apiVersion\":\"v1\",\"kind\":\"PodList\","
                  "\"metadata\":{\"resourceVersion\":\"9\"},\"items\":["
                  "{\"metadata\":{\"name\":\"p\",\"namespace\":\"a\"}},"
                  "{\"metadata\":{\"name\":\"q\",\"namespace\":\"a\"}}]}"
                  "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[]}",
                  CF_MANIFEST_STRICT, &list);
    ck_assert_uint_eq(list.n, 3);
    ck_assert_int_eq(list.objs[1]->kind, CF_KIND_POD);
    ck_assert_str_eq(cf_object_name(list.objs[2]), "q");
    ck_assert_ptr_nonnull(strstr(list.objs[2]->manifest,
                                 "\"kind\":\"Pod\""));
    cf_object_list_destroy(&list);

    /* Errors name the document and the List item; all or nothing. */
    check_error("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
                "---\n"
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: B}\n"
                "---\n"
                "apiVersion: v1\nkind: List\nitems:\n"
                "- apiVersion: v1\n  kind: Namespace\n"
                "  metadata: {name: c}\n"
                "- apiVersion: v1\n  kind: Namespace\n"
                "  metadata: {name: -d}\n",
                "t.yaml: document 2: namespace B: metadata.name: \"B\" is "
                "not a valid RFC 1123 label (lower case alphanumeric "
                "characters or '-', starting and ending with an "
                "alphanumeric character)\n"
                "t.yaml: document 3: items[1]: namespace -d: metadata.name: "
                "\"-d\" is not a valid RFC 1123 label (lower case "
                "alphanumeric characters or '-', starting and ending with "
                "an alphanumeric character)");

    /* Duplicates. */
    check_error("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
                "---\n"
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"
                "---\n"
                "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
                "namespace a: defined more than once");

    /* Syntax errors. */
    check_error("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"
                " bad: [\n",
                "t.yaml: line 5, column 2: did not find expected key "
                "(while parsing a block mapping, line 1)");
    check_error("apiVersion: v1\nkind: Namespace\nmetadata:\n\tname: a\n",
                "t.yaml: line 4, column 1: found character that cannot "
                "start any token (tabs cannot indent YAML) (while scanning "
                "for the next token, line 4)");
    check_error("a: &x {b: 1}\nc: *x\n",
                "t.yaml: line 2, column 4: YAML aliases (*x) are not "
                "supported");
    check_error("a: 1\na: 2\n", "t.yaml: line 2, column 1: duplicate key "
                "\"a\"");
    check_error("a: .inf\n", "t.yaml: line 1, column 4: \".inf\" is not "
                "representable in JSON");
    check_error("{\"a\": 1}\n{\"b\": }\n",
                "t.yaml: line 2, column 7: unexpected token near '}'");
    check_error("{\"a\": 1, \"a\": 2}",
                "t.yaml: line 1, column 12: duplicate object key near "
                "'\"a\"'");
    check_error("apiVersion: v1\nkind: List\nitems: {}\n",
                "t.yaml: items: expected an array");

    /* Nothing at all is no object and no error. */
    parse_ok_mode("", CF_MANIFEST_STRICT, &list);
    ck_assert_uint_eq(list.n, 0);
    parse_ok_mode("# nothing\n---\n", CF_MANIFEST_STRICT, &list);
    ck_assert_uint_eq(list.n, 0);
}
END_TEST

START_TEST(test_yaml_scalars)
{
    static const char text[] =
        "a: 12\nb: -0x1F\nc: 010\nd: 1_000\ne: 1.5\nf: -2e3\ng: yes\n"
        "h: Off\ni: ~\nj: \"12\"\nk: '1.5'\nl: !!str true\nm: 10.0.0.1\n"
        "n: 1e\no:\np: 0b101\nt: y\nu: N\n\nq: 99999999999999999999\nr: .5\n"
        "s: |\n  line1\n  line2\n80: port\n";
    json_t *docs;
    char *error = cf_yaml_load(text, strlen(text), NULL, &docs);
    ck_assert_msg(!error, "%s", error);
    ck_assert_uint_eq(json_array_size(docs), 1);
    json_t *d = json_array_get(docs, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "a")), 12);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "b")), -31);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "c")), 8);
    ck_assert_int_eq(json_integer_value(json_object_get(d, "d")), 1000);
    ck_assert(json_real_value(json_object_get(d, "e")) == 1.5);
    ck_assert(json_real_value(json_object_get(d, "f")) == -2000.0);
    ck_assert(json_is_true(json_object_get(d, "g")));
    ck_assert(json_is_false(json_object_get(d, "h")));
    ck_assert(json_is_null(json_object_get(d, "i")));
    ck_assert_str_eq(json_string_value(json_object_get(d, "j")), "12");
    ck_assert_str_eq(json_string_value(json_object_get(d, "k")), "1.5");
    ck_assert_str_eq(json_string_value(json_object_get(d, "l")), "true");
    ck_assert_str_eq(json_string_value(json_object_get(d, "m")), "10.0.0.1");
    ck_assert_str_eq(json_string_value(json_object_get(d, "n")), "1e");
    ck_assert(json_is_null(json_object_get(d, "o")));
    ck_assert_int_eq(json_integer_value(json_object_get(d, "p")), 5);
    ck_assert(json_is_real(json_object_get(d, "q")));
    ck_assert(json_real_value(json_object_get(d, "r")) == 0.5);
    ck_assert_str_eq(json_string_value(json_object_get(d, "s")),
                     "line1\nline2\n");
    ck_assert_str_eq(json_string_value(json_object_get(d, "80")), "port");
    ck_assert_str_eq(json_string_value(json_object_get(d, "t")), "y");
    ck_assert_str_eq(json_string_value(json_object_get(d, "u")), "N");
    json_decref(docs);
}
END_TEST

START_TEST(test_yaml_emit)
{
    json_error_t jerr;
    json_t *v = json_loads(
        "{\"s\": [\"true\", \"no\", \"12\", \"1.5\", \"\", \"a b\", "
        "\"x: y\", \"-a\", \"#c\", \"null\", \"~\", \"plain\", "
        "\"kubernetes.io/name\", \"10.0.0.0/8\", \"fd00::1\", \"a\\nb\", "
        "\"0x1f\", \"y\", \"N\", \"\\u00e9t\\u00e9\", \"{a}\", \"*x\", "
        "\"@a\"], "
        "\"n\": [1, -2, 1.5, 1e300, true, false, null], "
        "\"e\": {}, \"ea\": [], \"o\": {\"k\": [{\"a\": 1, \"b\": [2]}, "
        "[3, [4]], {}]}}", 0, &jerr);
    ck_assert_ptr_nonnull(v);
    struct cf_ds out = CF_DS_INIT;
    cf_yaml_emit(v, &out);
    ck_assert_ptr_nonnull(strstr(cf_ds_cstr(&out), "- \"true\"\n"));
    ck_assert_ptr_nonnull(strstr(cf_ds_cstr(&out), "- plain\n"));
    ck_assert_ptr_nonnull(strstr(cf_ds_cstr(&out), "- \"N\"\n"));
    ck_assert_ptr_nonnull(strstr(cf_ds_cstr(&out), "- \"10.0.0.0/8\"\n"));
    ck_assert_ptr_nonnull(strstr(cf_ds_cstr(&out),
                                 "- kubernetes.io/name\n"));
    ck_assert_ptr_nonnull(strstr(cf_ds_cstr(&out), "e: {}\n"));

    /* Reading it back gives the same value. */
    json_t *docs;
    char *error = cf_yaml_load(out.s, out.len, NULL, &docs);
    ck_assert_msg(!error, "%s\n%s", error, out.s);
    ck_assert_msg(json_equal(json_array_get(docs, 0), v), "%s", out.s);
    json_decref(docs);
    json_decref(v);
    cf_ds_destroy(&out);
}
END_TEST

/* Asserts that printing 'list' as JSON and as YAML and reading each back
 * gives the same models. */
static void
check_round_trip(const struct cf_object_list *list)
{
    for (int yaml = 0; yaml < 2; yaml++) {
        struct cf_ds out = CF_DS_INIT;
        if (yaml) {
            cf_manifest_format_yaml(list->objs, list->n, false, &out);
        } else {
            cf_manifest_format_json(list->objs, list->n, false, &out);
        }
        struct cf_object_list back;
        cf_object_list_init(&back);
        char *error = cf_manifest_parse(out.s, out.len, "out",
                                        CF_MANIFEST_STRICT, &back);
        ck_assert_msg(!error, "%s\n%s", error, out.s);
        ck_assert_uint_eq(back.n, list->n);
        for (size_t i = 0; i < list->n; i++) {
            char *a = model_text(list->objs[i]);
            char *b = model_text(back.objs[i]);
            ck_assert_str_eq(a, b);
            ck_assert_str_eq(list->objs[i]->manifest, back.objs[i]->manifest);
            free(a);
            free(b);
        }
        cf_object_list_destroy(&back);
        cf_ds_destroy(&out);
    }
}

START_TEST(test_format_round_trip)
{
    struct cf_object_list list;
    char *text = cf_xasprintf(
        "%s---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"
        "  labels: {a: \"true\", b: \"12\", c: \"\"}\n"
        "---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\n"
        "spec:\n  containers:\n  - name: c\n    ports:\n"
        "    - {name: http, containerPort: 80}\n"
        "status: {podIP: \"10.0.0.1\"}\n"
        "---\n"
        "apiVersion: conjflow.io/v1alpha1\nkind: Node\n"
        "metadata: {name: n1}\nspec: {ovsdb: \"unix:/x.sock\", "
        "addresses: [\"fd00::1\"]}\n", full_policy);
    parse_ok_mode(text, CF_MANIFEST_STRICT, &list);
    free(text);
    ck_assert_uint_eq(list.n, 4);
    check_round_trip(&list);

    /* A single object prints as itself; as_list makes a List. */
    struct cf_ds out = CF_DS_INIT;
    cf_manifest_format_json(&list.objs[1], 1, false, &out);
    ck_assert(!strncmp(out.s, "{\n    \"apiVersion\": \"v1\",\n", 26));
    cf_ds_clear(&out);
    cf_manifest_format_json(&list.objs[1], 1, true, &out);
    ck_assert_ptr_nonnull(strstr(out.s, "\"kind\": \"List\""));
    cf_ds_clear(&out);
    cf_manifest_format_yaml(&list.objs[1], 1, false, &out);
    ck_assert_str_eq(out.s, "apiVersion: v1\nkind: Namespace\nmetadata:\n"
                     "  labels:\n    a: \"true\"\n    b: \"12\"\n"
                     "    c: \"\"\n  name: x\n");
    cf_ds_clear(&out);
    cf_manifest_format_yaml(list.objs, 2, false, &out);
    ck_assert(!strncmp(out.s, "apiVersion: v1\nitems:\n- apiVersion: "
                       "networking.k8s.io/v1\n  kind: NetworkPolicy\n", 67));
    cf_ds_destroy(&out);

    /* Without manifests, objects print from the model and read back the
     * same. */
    for (size_t i = 0; i < list.n; i++) {
        char *before = model_text(list.objs[i]);
        free(list.objs[i]->manifest);
        list.objs[i]->manifest = NULL;
        struct cf_ds o = CF_DS_INIT;
        cf_manifest_format_yaml(&list.objs[i], 1, false, &o);
        struct cf_object_list back;
        cf_object_list_init(&back);
        char *error = cf_manifest_parse(o.s, o.len, "o", CF_MANIFEST_STRICT,
                                        &back);
        ck_assert_msg(!error, "%s\n%s", error, o.s);
        char *after = model_text(back.objs[0]);
        ck_assert_str_eq(before, after);
        free(before);
        free(after);
        cf_object_list_destroy(&back);
        cf_ds_destroy(&o);
    }
    cf_object_list_destroy(&list);
}
END_TEST

/* Returns "$srcdir/tests/data/REL" (malloc'd). */
static char *
data_path(const char *rel)
{
    const char *srcdir = getenv("srcdir");
    return cf_xasprintf("%s/tests/data/%s", srcdir ? srcdir : ".", rel);
}

START_TEST(test_paths)
{
    char *dir = data_path("manifests/dir");
    char *bad = data_path("manifests/invalid/bad-policy.yaml");
    char *missing = data_path("manifests/none.yaml");
    struct cf_object_list list;
    cf_object_list_init(&list);

    char *paths[] = { dir };
    char *error = cf_manifest_parse_paths(paths, 1, CF_MANIFEST_STRICT,
                                          &list);
    ck_assert_msg(!error, "%s", error);
    ck_assert_uint_eq(list.n, 6);
    ck_assert_str_eq(cf_object_name(list.objs[0]), "x");
    ck_assert_str_eq(cf_object_name(list.objs[1]), "y");
    ck_assert_int_eq(list.objs[2]->kind, CF_KIND_POD);
    ck_assert_uint_eq(cf_pod_resolve_port(list.objs[2]->pod, "serve-80-tcp",
                                          CF_PROTO_TCP), 80);
    ck_assert_int_eq(list.objs[4]->kind, CF_KIND_POLICY);
    ck_assert(list.objs[4]->policy->log);
    ck_assert_int_eq(list.objs[5]->kind, CF_KIND_NODE);
    check_round_trip(&list);

    /* The same directory twice duplicates objects: an error, and 'list'
     * keeps what it had. */
    char *twice[] = { dir, dir };
    error = cf_manifest_parse_paths(twice, 2, CF_MANIFEST_STRICT, &list);
    ck_assert_ptr_nonnull(error);
    ck_assert_ptr_nonnull(strstr(error, "defined more than once"));
    free(error);
    ck_assert_uint_eq(list.n, 6);
    cf_object_list_destroy(&list);

    /* Errors of every path, all or nothing. */
    char *paths2[] = { dir, bad, missing };
    error = cf_manifest_parse_paths(paths2, 3, CF_MANIFEST_STRICT, &list);
    ck_assert_uint_eq(list.n, 0);
    char *expect = cf_xasprintf(
        "%s: document 2: networkpolicy x/allow-web: "
        "spec.ingress[0].ports[1].endPort: 70 is less than port 80\n"
        "%s: No such file or directory", bad, missing);
    ck_assert_str_eq(error, expect);
    free(expect);
    free(error);
    cf_object_list_destroy(&list);

    /* Standard input. */
    ck_assert_ptr_nonnull(freopen(bad, "r", stdin));
    char *paths3[] = { "-" };
    error = cf_manifest_parse_paths(paths3, 1, CF_MANIFEST_STRICT, &list);
    ck_assert_str_eq(error, "-: document 2: networkpolicy x/allow-web: "
                     "spec.ingress[0].ports[1].endPort: 70 is less than "
                     "port 80");
    free(error);
    cf_object_list_destroy(&list);

    free(dir);
    free(bad);
    free(missing);
}
END_TEST

/* Reads file 'path' into a new string; stores its length in '*lenp'. */
static char *
read_file(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    struct cf_ds ds = CF_DS_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        cf_ds_put_buf(&ds, buf, n);
    }
    fclose(f);
    *lenp = ds.len;
    return cf_ds_steal(&ds);
}

/* Returns the sorted names of the manifests (*.yaml, *.json) in
 * directory 'dir', as a NULL-terminated malloc'd array. */
static char **
list_manifests(const char *dir, size_t *np)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: cannot open", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if ((len > 5 && !strcmp(de->d_name + len - 5, ".yaml"))
            || (len > 5 && !strcmp(de->d_name + len - 5, ".json"))) {
            names = cf_xrealloc(names, (n + 2) * sizeof *names);
            names[n++] = cf_xstrdup(de->d_name);
            names[n] = NULL;
        }
    }
    closedir(d);
    for (size_t i = 0; i + 1 < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (strcmp(names[j], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[j];
                names[j] = t;
            }
        }
    }
    *np = n;
    return names;
}

START_TEST(test_sample_files)
{
    /* Every valid sample parses strictly and survives a round trip. */
    char *dir = data_path("manifests/valid");
    size_t n;
    char **names = list_manifests(dir, &n);
    ck_assert_uint_ge(n, 3);
    for (size_t i = 0; i < n; i++) {
        char *path = cf_xasprintf("%s/%s", dir, names[i]);
        size_t len;
        char *text = read_file(path, &len);
        struct cf_object_list list;
        cf_object_list_init(&list);
        char *error = cf_manifest_parse(text, len, names[i],
                                        CF_MANIFEST_STRICT, &list);
        ck_assert_msg(!error, "%s", error);
        ck_assert_uint_gt(list.n, 0);
        check_round_trip(&list);
        cf_object_list_destroy(&list);
        free(text);
        free(path);
        free(names[i]);
    }
    free(names);
    free(dir);

    /* Every invalid sample fails with exactly the messages of its .err
     * file. */
    dir = data_path("manifests/invalid");
    names = list_manifests(dir, &n);
    ck_assert_uint_ge(n, 10);
    for (size_t i = 0; i < n; i++) {
        char *path = cf_xasprintf("%s/%s", dir, names[i]);
        char *err_path = cf_xasprintf("%.*s.err",
                                      (int) (strrchr(path, '.') - path),
                                      path);
        size_t len, err_len;
        char *text = read_file(path, &len);
        char *expected = read_file(err_path, &err_len);
        if (err_len && expected[err_len - 1] == '\n') {
            expected[err_len - 1] = '\0';
        }
        struct cf_object_list list;
        cf_object_list_init(&list);
        char *error = cf_manifest_parse(text, len, names[i],
                                        CF_MANIFEST_STRICT, &list);
        ck_assert_msg(error != NULL, "%s parsed", names[i]);
        ck_assert_uint_eq(list.n, 0);
        ck_assert_str_eq(error, expected);
        free(error);
        cf_object_list_destroy(&list);
        free(expected);
        free(text);
        free(err_path);
        free(path);
        free(names[i]);
    }
    free(names);
    free(dir);
}
END_TEST

/* Replaces every string of 'v' that is an ipBlock template ("{{...}}")
 * with a fixed valid value. */
static void
fill_templates(json_t *v)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach (v, key, child) {
            if (json_is_string(child)
                && !strncmp(json_string_value(child), "{{", 2)) {
                const char *s = json_string_value(child);
                json_object_set_new(v, key, json_string(
                                        !strncmp(s, "{{cidr4:", 8)
                                        ? "0.0.0.0/4"
                                        : !strncmp(s, "{{ip:", 5)
                                        ? "10.244.1.7" : "10.244.1.7/32"));
            } else {
                fill_templates(child);
            }
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *child = json_array_get(v, i);
            if (json_is_string(child)
                && !strncmp(json_string_value(child), "{{", 2)) {
                json_array_set_new(v, i, json_string("10.244.1.0/24"));
            } else {
                fill_templates(child);
            }
        }
    }
}

START_TEST(test_conformance_policies)
{
    char *path = data_path("conformance-cases.json");
    json_error_t jerr;
    json_t *corpus = json_load_file(path, 0, &jerr);
    ck_assert_msg(corpus != NULL, "%s: %s", path, jerr.text);
    free(path);

    json_t *cases = json_object_get(corpus, "cases");
    size_t n_policies = 0, n_named = 0, n_endport = 0;
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        json_t *steps = json_object_get(c, "steps");
        for (size_t s = 0; s < json_array_size(steps); s++) {
            json_t *actions = json_object_get(json_array_get(steps, s),
                                              "actions");
            for (size_t a = 0; a < json_array_size(actions); a++) {
                json_t *policy = json_object_get(json_array_get(actions, a),
                                                 "policy");
                if (!policy) {
                    continue;
                }
                json_t *copy = json_deep_copy(policy);
                fill_templates(copy);
                char *text = json_dumps(copy, 0);
                struct cf_object_list list;
                cf_object_list_init(&list);
                char *error = cf_manifest_parse(
                    text, strlen(text),
                    json_string_value(json_object_get(c, "id")),
                    CF_MANIFEST_STRICT, &list);
                ck_assert_msg(!error, "%s", error);
                ck_assert_uint_eq(list.n, 1);
                const struct cf_policy *p = list.objs[0]->policy;
                for (size_t r = 0; r < p->n_ingress + p->n_egress; r++) {
                    const struct cf_rule *rule
                        = (r < p->n_ingress ? &p->ingress_rules[r]
                           : &p->egress_rules[r - p->n_ingress]);
                    for (size_t k = 0; k < rule->n_ports; k++) {
                        n_named += rule->ports[k].kind == CF_PORT_NAME;
                        n_endport += (rule->ports[k].kind == CF_PORT_NUMBER
                                      && rule->ports[k].end_port
                                         > rule->ports[k].port);
                    }
                }
                check_round_trip(&list);
                cf_object_list_destroy(&list);
                free(text);
                json_decref(copy);
                n_policies++;
            }
        }
    }
    json_decref(corpus);
    /* The corpus has well over a hundred policies, some with named ports
     * and some with port ranges. */
    ck_assert_uint_ge(n_policies, 100);
    ck_assert_uint_gt(n_named, 0);
    ck_assert_uint_gt(n_endport, 0);
    printf("conformance corpus: %zu policies parsed (%zu named ports, "
           "%zu port ranges)\n", n_policies, n_named, n_endport);
}
END_TEST

static Suite *
manifest_suite(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_policy_full);
    tcase_add_test(tc, test_policy_defaulting);
    tcase_add_test(tc, test_policy_errors);
    tcase_add_test(tc, test_metadata_errors);
    tcase_add_test(tc, test_namespace);
    tcase_add_test(tc, test_pod);
    tcase_add_test(tc, test_node);
    tcase_add_test(tc, test_lenient);
    tcase_add_test(tc, test_streams);
    tcase_add_test(tc, test_yaml_scalars);
    tcase_add_test(tc, test_yaml_emit);
    tcase_add_test(tc, test_format_round_trip);
    tcase_add_test(tc, test_paths);
    tcase_add_test(tc, test_sample_files);
    tcase_add_test(tc, test_conformance_policies);
    suite_add_tcase(s, tc);
    return s;
}

int
main(void)
{
    SRunner *sr = srunner_create(manifest_suite());
    srunner_run_all(sr, CK_NORMAL);
    int n_failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return n_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
