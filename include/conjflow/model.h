/*
 * Copyright (c) 2026 The conjflow authors.
 * Licensed under the Apache License, Version 2.0 (see LICENSE).
 *
 * The cluster model: validated, normalized Namespaces, Pods,
 * NetworkPolicies (networking.k8s.io/v1) and conjflow Nodes, in plain C.
 *
 * Every source of objects (manifests through manifest/, the Kubernetes API
 * through k8s/) produces these structs; the store (store/) persists them and
 * hands them back; the compiler (controller/) and the reference evaluator
 * read them.  Nothing here depends on OVS, jansson or SQLite.
 *
 * Normal form (the parser establishes it, everything else relies on it):
 *   - labels are sorted by key, keys unique;
 *   - a selector's matchLabels {k: v} becomes a requirement "k In (v)"; the
 *     requirements are sorted (key, op, values) and their values sorted and
 *     unique; an empty selector (no requirements) matches everything;
 *   - a policy's policyTypes are explicit (API server defaulting applied);
 *   - a port without a protocol is TCP; an absent port matches every port
 *     of its protocol (CF_PORT_ALL); a numeric port without endPort has
 *     end_port == port;
 *   - an absent or empty 'from'/'to' is n_peers == 0 (every peer); an
 *     absent or empty 'ports' is n_ports == 0 (every port and protocol);
 *   - CIDRs have their host bits cleared.
 *
 * Ownership: every struct here owns everything it points to.  Heap objects
 * are freed with their _destroy() function, which accepts NULL.
 */
#ifndef CONJFLOW_MODEL_H
#define CONJFLOW_MODEL_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_ds;

/* ---- Addresses ---------------------------------------------------------- */

/* An IPv4 or IPv6 address. */
struct cf_addr {
    uint8_t family;             /* 4 or 6. */
    uint8_t bytes[16];          /* Network order; IPv4 uses bytes[0..3],
                                 * the rest is zero. */
};

/* A CIDR block, host bits cleared. */
struct cf_cidr {
    struct cf_addr addr;        /* Network address. */
    uint8_t plen;               /* Prefix length, 0..32 or 0..128. */
};

/* Parses 'str' ("10.1.2.3", "fd00::1").  Returns NULL on success, else a
 * malloc'd message saying what is wrong (the caller frees it). */
char *cf_addr_parse(const char *str, struct cf_addr *);
/* Parses 'str' ("10.0.0.0/8"); host bits set in 'str' are cleared, as the
 * API server accepts them.  A bare address is not a CIDR.  Returns NULL on
 * success or a malloc'd error message. */
char *cf_cidr_parse(const char *str, struct cf_cidr *);
void cf_addr_format(const struct cf_addr *, struct cf_ds *);
void cf_cidr_format(const struct cf_cidr *, struct cf_ds *);
/* The IPv4 address of 'addr' in host byte order ('addr' must be IPv4). */
uint32_t cf_addr_ipv4(const struct cf_addr *addr);
bool cf_cidr_contains(const struct cf_cidr *, const struct cf_addr *);
/* True if 'inner' lies entirely within 'outer' (same family). */
bool cf_cidr_within(const struct cf_cidr *inner, const struct cf_cidr *outer);
int cf_addr_compare(const struct cf_addr *, const struct cf_addr *);
int cf_cidr_compare(const struct cf_cidr *, const struct cf_cidr *);

/* ---- Labels and selectors ---------------------------------------------- */

struct cf_label {
    char *key;                  /* e.g. "app" or "kubernetes.io/name". */
    char *value;                /* May be "". */
};

/* A label set, sorted by key, keys unique. */
struct cf_labels {
    struct cf_label *items;     /* Owned array of 'n' labels. */
    size_t n;                   /* Number of labels. */
};

void cf_labels_destroy(struct cf_labels *);     /* Frees the contents. */
void cf_labels_clone(struct cf_labels *dst, const struct cf_labels *src);
/* Adds or replaces 'key' (keeps the set sorted).  Copies the strings. */
void cf_labels_set(struct cf_labels *, const char *key, const char *value);
void cf_labels_sort(struct cf_labels *);
/* The value of 'key', or NULL if 'key' is absent. */
const char *cf_labels_get(const struct cf_labels *, const char *key);
bool cf_labels_equal(const struct cf_labels *, const struct cf_labels *);

enum cf_sel_op {
    CF_SEL_IN,                  /* key's value is one of 'values'. */
    CF_SEL_NOT_IN,              /* key absent or its value not in 'values'. */
    CF_SEL_EXISTS,              /* key present. */
    CF_SEL_DOES_NOT_EXIST,      /* key absent. */
};

/* One requirement of a label selector. */
struct cf_sel_req {
    char *key;                  /* Label key. */
    enum cf_sel_op op;          /* Operator. */
    char **values;              /* Sorted, unique; empty for (Does)Exist(s). */
    size_t n_values;            /* Number of 'values'. */
};

/* A label selector: the AND of its requirements.  No requirement matches
 * every label set. */
struct cf_selector {
    struct cf_sel_req *reqs;    /* Owned array, sorted (key, op, values). */
    size_t n_reqs;              /* Number of requirements. */
};

void cf_selector_destroy(struct cf_selector *);  /* Frees the contents. */
void cf_selector_clone(struct cf_selector *dst, const struct cf_selector *);
bool cf_selector_matches(const struct cf_selector *, const struct cf_labels *);
bool cf_selector_equal(const struct cf_selector *, const struct cf_selector *);
int cf_selector_compare(const struct cf_selector *,
                        const struct cf_selector *);
/* Puts the requirements in normal form (sorted, values sorted, unique). */
void cf_selector_normalize(struct cf_selector *);
/* Appends a canonical text form, e.g. "app in (db,web),!tier", that is
 * equal for equal selectors. */
void cf_selector_format(const struct cf_selector *, struct cf_ds *);

/* ---- Objects ------------------------------------------------------------ */

enum cf_proto {
    CF_PROTO_TCP = 6,
    CF_PROTO_UDP = 17,
    CF_PROTO_SCTP = 132,
};
const char *cf_proto_name(enum cf_proto);       /* "TCP", "UDP", "SCTP". */
/* Parses "TCP", "UDP" or "SCTP" (exact case, as the API).  Returns false
 * for anything else. */
bool cf_proto_parse(const char *, enum cf_proto *);

/* A Namespace. */
struct cf_namespace {
    char *name;                 /* metadata.name. */
    struct cf_labels labels;    /* Includes kubernetes.io/metadata.name. */
};

/* A container port of a pod, for resolving named ports. */
struct cf_container_port {
    char *name;                 /* IANA_SVC_NAME, or NULL if unnamed. */
    uint16_t port;              /* containerPort, 1..65535. */
    enum cf_proto proto;        /* Protocol (default TCP). */
};

/* A Pod. */
struct cf_pod {
    char *ns;                   /* metadata.namespace. */
    char *name;                 /* metadata.name. */
    char *node;                 /* spec.nodeName, or NULL if unscheduled. */
    struct cf_labels labels;    /* metadata.labels. */
    struct cf_addr *ips;        /* status.podIPs (or podIP), may be 0. */
    size_t n_ips;
    struct cf_container_port *ports;  /* All containers' ports. */
    size_t n_ports;
    bool host_network;          /* spec.hostNetwork: never selected. */
};

/* An ipBlock peer. */
struct cf_ipblock {
    struct cf_cidr cidr;        /* The block. */
    struct cf_cidr *except;     /* Sub-blocks excluded, each within 'cidr'. */
    size_t n_except;
};

/* One peer of a rule: pods (by selectors) or an ipBlock. */
struct cf_peer {
    bool has_pod_sel;           /* podSelector present. */
    struct cf_selector pod_sel;
    bool has_ns_sel;            /* namespaceSelector present. */
    struct cf_selector ns_sel;
    bool has_ipblock;           /* ipBlock present (then no selectors). */
    struct cf_ipblock ipblock;
};

enum cf_port_kind {
    CF_PORT_ALL,                /* Every port of 'proto'. */
    CF_PORT_NUMBER,             /* port..end_port. */
    CF_PORT_NAME,               /* Named container port, resolved per pod. */
};

/* One entry of a rule's 'ports'. */
struct cf_port {
    enum cf_proto proto;        /* Protocol (default TCP). */
    enum cf_port_kind kind;
    uint16_t port;              /* CF_PORT_NUMBER: first port. */
    uint16_t end_port;          /* CF_PORT_NUMBER: last port (>= port). */
    char *name;                 /* CF_PORT_NAME: the port name. */
};

/* One ingress or egress rule. */
struct cf_rule {
    struct cf_peer *peers;      /* from/to; n_peers == 0: every peer. */
    size_t n_peers;
    struct cf_port *ports;      /* n_ports == 0: every port and protocol. */
    size_t n_ports;
};

/* A NetworkPolicy. */
struct cf_policy {
    uint32_t id;                /* Stable id, 1..2^24-1 (store-assigned;
                                 * 0 = not assigned yet).  Goes into
                                 * cookies and conjunction ids. */
    char *ns;                   /* metadata.namespace. */
    char *name;                 /* metadata.name. */
    struct cf_selector pod_sel; /* spec.podSelector. */
    bool ingress;               /* policyTypes has Ingress. */
    bool egress;                /* policyTypes has Egress. */
    struct cf_rule *ingress_rules;
    size_t n_ingress;
    struct cf_rule *egress_rules;
    size_t n_egress;
    bool log;                   /* Annotation conjflow.io/log: "true". */
};

/* The most rules per direction of one policy (conjunction ids have room for
 * this many); the parser rejects more. */
#define CF_MAX_RULES 64
/* The largest policy id. */
#define CF_MAX_POLICY_ID ((1u << 24) - 1)

/* A conjflow Node (apiVersion conjflow.io/v1alpha1, kind Node). */
struct cf_node {
    uint32_t id;                /* Stable id, 1..65535 (store-assigned; 0 =
                                 * not assigned): the node's conntrack
                                 * zone. */
    char *name;                 /* metadata.name. */
    char *ovsdb;                /* spec.ovsdb, e.g. "unix:/run/.../db.sock",
                                 * "tcp:10.0.0.5:6640", "ssl:...". */
    char *bridge;               /* spec.bridge, default "br-int". */
    struct cf_addr *addrs;      /* spec.addresses: the node's own IPs. */
    size_t n_addrs;
};

void cf_namespace_destroy(struct cf_namespace *);
void cf_pod_destroy(struct cf_pod *);
void cf_policy_destroy(struct cf_policy *);
void cf_node_destroy(struct cf_node *);
struct cf_namespace *cf_namespace_clone(const struct cf_namespace *);
struct cf_pod *cf_pod_clone(const struct cf_pod *);
struct cf_policy *cf_policy_clone(const struct cf_policy *);
struct cf_node *cf_node_clone(const struct cf_node *);
void cf_rule_destroy(struct cf_rule *);        /* Frees the contents. */
void cf_peer_destroy(struct cf_peer *);        /* Frees the contents. */

/* Finds the port named 'name' with protocol 'proto' among 'pod''s container
 * ports.  Returns its number, or 0 if there is none. */
uint16_t cf_pod_resolve_port(const struct cf_pod *pod, const char *name,
                             enum cf_proto proto);

/* ---- Tagged objects ----------------------------------------------------- */

enum cf_kind {
    CF_KIND_NAMESPACE,
    CF_KIND_POD,
    CF_KIND_POLICY,
    CF_KIND_NODE,
};
#define CF_N_KINDS 4

/* "namespace", "pod", "networkpolicy", "node" (as conjflowctl prints). */
const char *cf_kind_name(enum cf_kind);
/* Parses a kind the way kubectl does: "networkpolicy", "networkpolicies",
 * "netpol", "pod", "pods", "po", "namespace", "ns", "node", "no"... */
bool cf_kind_parse(const char *, enum cf_kind *);
/* True for kinds that live in a namespace. */
bool cf_kind_namespaced(enum cf_kind);

/* One object of any kind, with the manifest it came from. */
struct cf_object {
    enum cf_kind kind;
    union {
        struct cf_namespace *ns;
        struct cf_pod *pod;
        struct cf_policy *policy;
        struct cf_node *node;
    };
    char *manifest;             /* The object as applied, compact JSON
                                 * (NULL if unknown). */
};

/* A reference to an object: kind, namespace (NULL if cluster-scoped),
 * name. */
struct cf_objref {
    enum cf_kind kind;
    char *ns;
    char *name;
};

/* Frees 'obj', its model struct and its manifest.  Accepts NULL. */
void cf_object_destroy(struct cf_object *obj);
struct cf_object *cf_object_clone(const struct cf_object *);
/* 'obj''s namespace (NULL for cluster-scoped kinds) and name. */
const char *cf_object_ns(const struct cf_object *);
const char *cf_object_name(const struct cf_object *);
/* Appends "networkpolicy x/allow-web" or "namespace x". */
void cf_object_describe(const struct cf_object *, struct cf_ds *);

/* ---- A whole cluster ---------------------------------------------------- */

/* Every object of a cluster, in arrays sorted by (namespace, name) once
 * cf_cluster_sort() has run.  The cluster owns its objects. */
struct cf_cluster {
    struct cf_namespace **namespaces;
    size_t n_namespaces, allocated_namespaces;
    struct cf_pod **pods;
    size_t n_pods, allocated_pods;
    struct cf_policy **policies;
    size_t n_policies, allocated_policies;
    struct cf_node **nodes;
    size_t n_nodes, allocated_nodes;
};

void cf_cluster_init(struct cf_cluster *);
void cf_cluster_destroy(struct cf_cluster *);   /* Frees every object. */
/* Adds the model struct of 'obj' (taking ownership of it; 'obj' itself and
 * its manifest are freed).  Does not check for duplicates. */
void cf_cluster_add(struct cf_cluster *, struct cf_object *obj);
/* Sorts every array by (namespace, name).  Required before lookups. */
void cf_cluster_sort(struct cf_cluster *);
/* Gives every policy and node whose id is 0 an id, in sorted order after
 * the largest id in use: deterministic for a given cluster.  For clusters
 * that do not come from a store (conjflowctl -f). */
void cf_cluster_assign_ids(struct cf_cluster *);
const struct cf_namespace *cf_cluster_find_namespace(
    const struct cf_cluster *, const char *name);
const struct cf_pod *cf_cluster_find_pod(const struct cf_cluster *,
                                         const char *ns, const char *name);
const struct cf_policy *cf_cluster_find_policy(const struct cf_cluster *,
                                               const char *ns,
                                               const char *name);
const struct cf_node *cf_cluster_find_node(const struct cf_cluster *,
                                           const char *name);

/* ---- Pod-to-port bindings ----------------------------------------------- */

/* A pod bound to an OVS port on a node's bridge, found through the
 * Interface's external_ids:iface-id="<namespace>/<pod>". */
struct cf_binding {
    char *pod;                  /* "<namespace>/<pod>". */
    uint32_t ofport;            /* OpenFlow port number. */
    bool has_mac;               /* 'mac' is known. */
    uint8_t mac[6];             /* The pod's MAC (attached-mac, or the
                                 * interface's). */
};

/* The ports of one node's bridge that the compiler needs to know. */
struct cf_node_ports {
    struct cf_binding *bindings;  /* Pod ports, sorted by 'pod'. */
    size_t n_bindings;
    uint32_t *uplinks;          /* Ports to other nodes or the outside
                                 * (patch, tunnel, or external_ids:
                                 * conjflow-uplink=true), sorted. */
    size_t n_uplinks;
    uint32_t *unknown;          /* Other ports (their traffic is dropped),
                                 * sorted. */
    size_t n_unknown;
};

void cf_node_ports_init(struct cf_node_ports *);
void cf_node_ports_destroy(struct cf_node_ports *);  /* Frees contents. */
/* Makes 'dst' (uninitialized) a copy of 'src'. */
void cf_node_ports_clone(struct cf_node_ports *dst,
                         const struct cf_node_ports *src);
/* True if 'a' and 'b' hold the same ports (bindings, MACs, uplinks,
 * others). */
bool cf_node_ports_equal(const struct cf_node_ports *a,
                         const struct cf_node_ports *b);
/* Parses a port map: lines "<namespace>/<pod> <ofport> [<mac>]", "uplink
 * <ofport>", blank lines and '#' comments.  Returns NULL or a malloc'd
 * error naming the line. */
char *cf_node_ports_parse(const char *text, const char *file_name,
                          struct cf_node_ports *);

#endif /* conjflow/model.h */
