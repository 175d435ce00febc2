#!/usr/bin/env python3
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
"""trace.py: the driver of tests/system-trace.sh (Python 3, stdlib only).

It checks that conjflow's compiled flows, loaded into real OVS bridges,
give the reference evaluator's verdict: for a sample of (from, to,
port/proto) it runs "ovs-appctl ofproto/trace" on the source pod's bridge
with the packet as the pod would send it, reads which datapath ports the
packet leaves by, and compares "it reaches the destination pod's port"
with "conjflowctl explain".  Cross-node pairs are traced in one go: the
nodes' bridges are linked by patch ports, which ofproto/trace follows into
the destination node's bridge (and its conntrack zone).

ofproto/trace takes the conntrack state as given (--ct-next), so a few
checks use real state instead: SCTP reply flows learned by a traced packet
with side effects (--generate), and real UDP packets between the pods'
network namespaces (the harness's veths), which go through the
datapath's conntrack.

Two steps, called by system-trace.sh:

  trace.py plan --dir DIR --conjflowctl PATH --srcdir SRCDIR
      reads the conformance model (through a scratch conjflowctl store in
      DIR), writes the cluster files the scenarios use into DIR and prints
      the pods to attach, one per line: "POD NODE IP MAC".

  trace.py run --dir DIR --conjflowctl PATH --srcdir SRCDIR --topology FILE
      for each scenario (a sample of the conformance corpus's cases and
      hand-written policies), compiles and loads each node's flows
      ("ovs-ofctl --bundle replace-flows"), runs the traces two at a time
      and prints each disagreement and a final "N passed, N failed".
      Exit status 0 if every trace agreed, 1 otherwise, 99 on an error.

The topology FILE (written by system-trace.sh) has lines
  appctl CTL-SOCKET
  node NODE BRIDGE MGMT-SOCKET UPLINK-PORT-NAME
  pod POD NODE PORT-NAME MAC IP NETNS

Environment: TRACE_SEED (default 1) picks the sample; TRACE_SAMPLE (default
60) is the number of (from, to, port/proto) per scenario; TRACE_CASES
(default 12) the number of corpus cases; TRACE_VERBOSE=1 prints every
trace.
"""

import argparse
import concurrent.futures
import copy
import json
import os
import random
import re
import subprocess
import sys
import time

MODEL_YAML = "tests/data/manifests/valid/conformance-model.yaml"
CORPUS = "tests/data/conformance-cases.json"
POLICIES_YAML = "tests/data/manifests/valid/policies.yaml"

# Ephemeral source ports, one range per kind of trace, so that the 4-tuple
# of an SCTP reply flow learned by one trace never matches another trace.
EPH_NEW = 40000
EPH_LEARN = 45000
EPH_NOREPLY = 50000


class Error(Exception):
    """A failure to run the test (not a disagreement)."""


def run(args, check=True):
    """Runs 'args' (a list), returns its CompletedProcess (text output).
    Raises Error naming the command if 'check' and it exits non-zero."""
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise Error("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                          (p.stderr or p.stdout).strip()))
    return p


def pod_mac(ip):
    """The MAC the harness gives a pod with IPv4 'ip': 0a:58:<ip in hex>."""
    return "0a:58:" + ":".join("%02x" % int(b) for b in ip.split("."))


def write_json(path, obj):
    """Writes 'obj' as JSON to 'path'."""
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")


def k8s_list(items):
    """A "kind: List" manifest holding 'items'."""
    return {"apiVersion": "v1", "kind": "List", "items": items}


# ---------------------------------------------------------------------------
# The cluster

def load_model(ctl, srcdir, d):
    """Reads the conformance model into a scratch store in directory 'd' and
    returns its objects as a list of manifests (namespaces, pods, nodes)."""
    db = os.path.join(d, "model.db")
    if os.path.exists(db):
        os.unlink(db)
    run([ctl, "--db", db, "apply", "-f", os.path.join(srcdir, MODEL_YAML)])
    items = []
    for kind in ("namespaces", "pods", "nodes"):
        args = [ctl, "--db", db, "get", kind] + \
            (["-A"] if kind == "pods" else []) + ["-o", "json"]
        items += json.loads(run(args).stdout)["items"]
    return items


def pod_manifest(ns, name, node, ip, labels, ports):
    """A Pod manifest; 'ports' is a list of (name, number, protocol)."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"namespace": ns, "name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{
            "name": "server", "image": "busybox",
            "ports": [{"name": n, "containerPort": p, "protocol": proto}
                      for n, p, proto in ports]}]},
        "status": {"podIP": ip, "podIPs": [{"ip": ip}]},
    }


def extra_cluster():
    """Namespace w and its pods, for the hand-written scenarios: their named
    ports resolve to other numbers than the model's (the same name gives a
    different port per destination pod)."""
    return [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": "w", "labels": {"ns": "w", "team": "blue"}}},
        pod_manifest("w", "d", "node-1", "10.244.0.20",
                     {"pod": "d", "app": "web"},
                     [("http", 8080, "TCP"), ("serve-80-tcp", 8080, "TCP"),
                      ("dns", 53, "UDP"), ("assoc", 9000, "SCTP")]),
        pod_manifest("w", "e", "node-2", "10.244.0.21",
                     {"pod": "e", "app": "db", "tier": "db"},
                     [("http", 8081, "TCP"), ("serve-80-tcp", 80, "TCP"),
                      ("dns", 5353, "UDP"), ("assoc", 9001, "SCTP")]),
    ]


# A port that no manifest knows (its traffic must be dropped).
ROGUE = ("w/rogue", "node-1", "10.244.0.30")


def pods_of(items):
    """{"ns/name": (node, ip)} of the Pod manifests in 'items'."""
    out = {}
    for it in items:
        if it["kind"] == "Pod":
            md = it["metadata"]
            out["%s/%s" % (md["namespace"], md["name"])] = (
                it["spec"]["nodeName"], it["status"]["podIP"])
    return out


def cmd_plan(a):
    """The "plan" step: writes model.json and extra.json into a.dir and
    prints the pods to attach."""
    os.makedirs(a.dir, exist_ok=True)
    model = load_model(a.conjflowctl, a.srcdir, a.dir)
    extra = extra_cluster()
    write_json(os.path.join(a.dir, "model.json"), k8s_list(model))
    write_json(os.path.join(a.dir, "extra.json"), k8s_list(extra))
    pods = pods_of(model + extra)
    pods[ROGUE[0]] = ROGUE[1:]
    for pod in sorted(pods):
        node, ip = pods[pod]
        print(pod, node, ip, pod_mac(ip))


# ---------------------------------------------------------------------------
# Scenarios

def policy(ns, name, spec):
    """A NetworkPolicy manifest."""
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"namespace": ns, "name": name}, "spec": spec}


def hand_written():
    """The hand-written scenarios: (id, policies, ports to probe, extras).
    extras may hold "always": (from, to, port, proto) tuples always traced
    (with every kind of trace), and "real": real UDP packets sent between
    pods in order, (from, from-port, to, to-port, expect), expect being
    "explain" (a new packet: as explain says), "allow" (a reply to an
    allowed packet) or "denied-reply" (a packet on the reverse 5-tuple of
    a denied one: never received)."""
    pp = lambda *l: [tuple(x) for x in l]
    return [
        ("ipblock-except", [
            policy("x", "from-block", {
                "podSelector": {},
                "ingress": [{"from": [{"ipBlock": {
                    "cidr": "10.244.0.0/24",
                    "except": ["10.244.0.4/30", "10.244.0.20/32"]}}]}]}),
            policy("y", "to-block", {
                "podSelector": {"matchLabels": {"pod": "a"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {
                    "cidr": "10.244.0.0/27", "except": ["10.244.0.8/29"]}}],
                    "ports": [{"protocol": "TCP", "port": 80},
                              {"protocol": "SCTP", "port": 81}]}]}),
        ], pp((80, "TCP"), (81, "TCP"), (80, "UDP"), (81, "SCTP")), {}),
        ("endport", [
            policy("z", "range-in", {
                "podSelector": {},
                "ingress": [{"from": [{"namespaceSelector": {}}],
                             "ports": [
                                 {"protocol": "TCP", "port": 79,
                                  "endPort": 81},
                                 {"protocol": "UDP", "port": 1000,
                                  "endPort": 2047},
                                 {"protocol": "SCTP", "port": 80,
                                  "endPort": 80}]}]}),
            policy("x", "range-out", {
                "podSelector": {"matchLabels": {"pod": "a"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": 8000,
                                       "endPort": 8100},
                                      {"protocol": "UDP", "port": 1500,
                                       "endPort": 1501}]}]}),
        ], pp((78, "TCP"), (79, "TCP"), (81, "TCP"), (82, "TCP"),
              (8080, "TCP"), (8101, "TCP"), (999, "UDP"), (1000, "UDP"),
              (1501, "UDP"), (2047, "UDP"), (2048, "UDP"), (80, "SCTP"),
              (81, "SCTP")), {}),
        ("named-ports", [
            policy("w", "named-in", {
                "podSelector": {},
                "ingress": [{"from": [{"namespaceSelector": {
                    "matchLabels": {"ns": "x"}}}],
                    "ports": [{"port": "http"}, {"port": "serve-80-tcp"},
                              {"protocol": "UDP", "port": "dns"},
                              {"protocol": "SCTP", "port": "assoc"}]}]}),
            policy("x", "named-81", {
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{"ports": [{"protocol": "UDP",
                                        "port": "serve-81-udp"},
                                       {"port": "serve-80-tcp"}]}]}),
        ], pp((80, "TCP"), (8080, "TCP"), (8081, "TCP"), (53, "UDP"),
              (5353, "UDP"), (81, "UDP"), (9000, "SCTP"), (9001, "SCTP")),
         {}),
        ("sctp", [
            policy("x", "sctp-out", {
                "podSelector": {"matchLabels": {"pod": "b"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"namespaceSelector": {
                    "matchLabels": {"ns": "y"}}}],
                    "ports": [{"protocol": "SCTP", "port": 80}]}]}),
            policy("y", "sctp-in", {
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{"from": [{"namespaceSelector": {
                    "matchLabels": {"ns": "x"}}}],
                    "ports": [{"protocol": "SCTP", "port": 81},
                              {"protocol": "SCTP", "port": 80}]}]}),
            policy("z", "sctp-only", {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"ports": [{"protocol": "SCTP"}]}],
                "egress": [{"ports": [{"protocol": "SCTP"}]}]}),
            # x/a (node-1) and y/c (node-2) may not receive from each
            # other; both may send.
            policy("y", "c-deny-in", {
                "podSelector": {"matchLabels": {"pod": "c"}},
                "policyTypes": ["Ingress"]}),
            policy("x", "a-in-from-x", {
                "podSelector": {"matchLabels": {"pod": "a"}},
                "ingress": [{"from": [{"podSelector": {}}]}]}),
        ], pp((80, "SCTP"), (81, "SCTP"), (9000, "SCTP"), (80, "TCP")), {
            # Cross-node state (ARCHITECTURE.md): a reply to an allowed
            # packet passes both nodes' conntrack (x/b's egress would deny
            # it as a new packet); a packet that the destination's node
            # drops has already been committed on the source's node, so
            # the destination pod answering on that exact 5-tuple would
            # pass there as a reply, but the destination's node remembers
            # the deny and drops it ("denied-reply": never received; y/c
            # -> x/a is denied by x/a's ingress as a new packet too).
            "real": [("x/a", 46002, "x/b", 80, "explain"),
                     ("x/b", 80, "x/a", 46002, "allow"),
                     ("x/a", 46003, "y/c", 80, "explain"),
                     ("y/c", 80, "x/a", 46003, "denied-reply")]}),
        ("egress-ingress", [
            policy("x", "both", {
                "podSelector": {"matchExpressions": [
                    {"key": "pod", "operator": "NotIn", "values": ["c"]}]},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [
                    {"podSelector": {"matchLabels": {"pod": "b"}},
                     "namespaceSelector": {"matchExpressions": [
                         {"key": "ns", "operator": "In",
                          "values": ["y", "z"]}]}},
                    {"podSelector": {"matchExpressions": [
                        {"key": "tier", "operator": "DoesNotExist"}]}}],
                    "ports": [{"protocol": "TCP", "port": 80}]}],
                "egress": [{"to": [{"namespaceSelector": {
                    "matchExpressions": [{"key": "ns", "operator": "Exists"}
                                         ]}}],
                    "ports": [{"protocol": "TCP", "port": 80},
                              {"protocol": "UDP", "port": 81}]}]}),
            policy("w", "deny-egress", {
                "podSelector": {"matchLabels": {"app": "db"}},
                "policyTypes": ["Egress"]}),
            policy("y", "deny-in", {"podSelector": {},
                                    "policyTypes": ["Ingress"]}),
            policy("y", "allow-b-from-w", {
                "podSelector": {"matchLabels": {"pod": "b"}},
                "ingress": [{"from": [{"namespaceSelector": {
                    "matchLabels": {"team": "blue"}}}]}]}),
        ], pp((80, "TCP"), (81, "TCP"), (81, "UDP"), (80, "SCTP")), {}),
    ]


def fill_templates(text, ips):
    """Fills the corpus's {{hostcidr:P}}, {{cidr4:P}} and {{ip:P}} ip
    templates in 'text' with the IPs of {pod: ip} 'ips'."""
    def sub(m):
        kind, pod = m.group(1), m.group(2)
        ip = ips[pod]
        if kind == "hostcidr":
            return ip + "/32"
        if kind == "cidr4":
            return "%d.0.0.0/4" % (int(ip.split(".")[0]) & 0xf0)
        return ip
    return re.sub(r"\{\{(hostcidr|cidr4|ip):([^}]+)\}\}", sub, text)


def corpus_final_state(case, model, ips):
    """Plays the steps of corpus 'case' on a copy of 'model' (a list of
    manifests).  Returns (cluster items, policies, probes of the last
    step), or None for an op it does not know."""
    items = copy.deepcopy(model)
    policies = {}
    probes = []
    for step in case["steps"]:
        for act in step.get("actions", []):
            op = act["op"]
            if op in ("create_policy", "update_policy"):
                p = json.loads(fill_templates(json.dumps(act["policy"]), ips))
                md = p["metadata"]
                policies[(md["namespace"], md["name"])] = p
            elif op == "delete_policy":
                policies.pop((act["namespace"], act["name"]), None)
            elif op == "set_namespace_labels":
                for it in items:
                    if (it["kind"] == "Namespace"
                            and it["metadata"]["name"] == act["namespace"]):
                        it["metadata"]["labels"] = dict(act["labels"])
            elif op == "set_pod_labels":
                for it in items:
                    md = it["metadata"]
                    if (it["kind"] == "Pod"
                            and md["namespace"] == act["namespace"]
                            and md["name"] == act["pod"]):
                        md["labels"] = dict(act["labels"])
            else:
                return None
        probes = step.get("probes", probes)
    return items, [policies[k] for k in sorted(policies)], probes


def scenarios(a, rng):
    """The scenarios: dicts with id, files (manifests, written into
    a.dir), pods ({pod: (node, ip)} of the cluster), ports ([(port,
    proto)]), expect ({(from, to, port, proto): bool} from the corpus,
    or {}) and, for hand-written ones, always and real (see
    hand_written())."""
    model = json.load(open(os.path.join(a.dir, "model.json")))["items"]
    extra = json.load(open(os.path.join(a.dir, "extra.json")))["items"]
    corpus = json.load(open(os.path.join(a.srcdir, CORPUS)))
    order = corpus["model"]["pod_order"]
    ips = {p: v[1] for p, v in pods_of(model).items()}
    out = []

    cases = list(corpus["cases"])
    n = int(os.environ.get("TRACE_CASES", "12"))
    picked = sorted(rng.sample(range(len(cases)), min(n, len(cases))))
    # Always include the multi-step cases (label changes, update, delete).
    picked = sorted(set(picked) | {i for i, c in enumerate(cases)
                                   if len(c["steps"]) > 1})
    for i in picked:
        case = cases[i]
        state = corpus_final_state(case, model, ips)
        if state is None:
            continue
        items, pols, probes = state
        d = os.path.join(a.dir, "s-" + case["id"])
        os.makedirs(d, exist_ok=True)
        files = []
        if items == model:
            files.append(os.path.join(a.srcdir, MODEL_YAML))
        else:
            files.append(os.path.join(d, "cluster.json"))
            write_json(files[-1], k8s_list(items))
        files.append(os.path.join(d, "policies.json"))
        write_json(files[-1], k8s_list(pols))
        expect = {}
        ports = []
        for pr in probes:
            port, proto = pr["port"], pr["protocol"]
            if not isinstance(port, int):
                continue
            ports.append((port, proto))
            for r, row in enumerate(pr["expected"]["matrix"]):
                for c, cell in enumerate(row):
                    expect[(order[r], order[c], port, proto)] = cell == "."
        out.append({"id": case["id"], "files": files,
                    "pods": pods_of(items), "ports": ports,
                    "expect": expect})

    for sid, pols, ports, extras in hand_written():
        d = os.path.join(a.dir, "s-" + sid)
        os.makedirs(d, exist_ok=True)
        pf = os.path.join(d, "policies.json")
        write_json(pf, k8s_list(pols))
        out.append({"id": sid,
                    "files": [os.path.join(a.srcdir, MODEL_YAML),
                              os.path.join(a.dir, "extra.json"), pf],
                    "pods": pods_of(model + extra), "ports": ports,
                    "expect": {}, "always": extras.get("always", []),
                    "real": extras.get("real", [])})

    # The repository's sample policies (every field of the API).
    out.append({"id": "policies.yaml",
                "files": [os.path.join(a.srcdir, MODEL_YAML),
                          os.path.join(a.srcdir, POLICIES_YAML)],
                "pods": pods_of(model),
                "ports": [(80, "TCP"), (81, "TCP"), (53, "UDP"),
                          (81, "UDP"), (80, "SCTP"), (81, "SCTP")],
                "expect": {}})
    return out


# ---------------------------------------------------------------------------
# Topology, flows, traces

class Topo:
    """What system-trace.sh built: the appctl socket, nodes (bridge,
    management socket, uplink), pods (node, port, MAC, IP) and, from
    dpif/show, each port's OpenFlow and datapath numbers."""

    def __init__(self, path):
        self.appctl = None
        self.nodes = {}     # node -> {"bridge", "mgmt", "uplink"}
        self.pods = {}      # pod -> {"node", "port", "mac", "ip"}
        for line in open(path):
            f = line.split()
            if not f:
                continue
            if f[0] == "appctl":
                self.appctl = f[1]
            elif f[0] == "node":
                self.nodes[f[1]] = {"bridge": f[2], "mgmt": f[3],
                                    "uplink": f[4]}
            elif f[0] == "pod":
                self.pods[f[1]] = {"node": f[2], "port": f[3], "mac": f[4],
                                   "ip": f[5], "netns": f[6]}
        # port name -> (ofport, dpport), per bridge.
        self.ports = {}
        br = None
        for line in self.appctl_cmd("dpif/show").splitlines():
            m = re.match(r"^  (\S+):$", line)
            if m:
                br = m.group(1)
                self.ports[br] = {}
                continue
            m = re.match(r"^    (\S+) (\d+)/(\d+|none):", line)
            if m and br:
                dp = None if m.group(3) == "none" else int(m.group(3))
                self.ports[br][m.group(1)] = (int(m.group(2)), dp)
        for node, n in self.nodes.items():
            b = self.ports.get(n["bridge"], {})
            n["uplink_ofport"] = b[n["uplink"]][0]
            n["local_dp"] = b[n["bridge"]][1]
        for pod, p in self.pods.items():
            p["ofport"], p["dp"] = self.ports[self.nodes[p["node"]]
                                              ["bridge"]][p["port"]]

    def appctl_cmd(self, *args):
        """Runs ovs-appctl on the vswitchd; returns its output."""
        return run(["ovs-appctl", "--timeout=10", "-t", self.appctl]
                   + list(args)).stdout

    def ofctl(self, node, cmd, *args, opts=()):
        """Runs "ovs-ofctl -O OpenFlow15 OPTS CMD BRIDGE ARGS" on 'node''s
        bridge; returns its output."""
        return run(["ovs-ofctl", "-O", "OpenFlow15", "--timeout=10"]
                   + list(opts) + [cmd, "unix:" + self.nodes[node]["mgmt"]]
                   + list(args)).stdout


def load_flows(a, topo, sc, mutate=None):
    """Compiles and loads scenario 'sc''s flows into every node's bridge,
    keeping only the flows for which 'mutate' (if given) is true.  Returns
    the number of flows loaded."""
    total = 0
    for node in sorted(topo.nodes):
        n = topo.nodes[node]
        pm = os.path.join(a.dir, "portmap-" + node)
        with open(pm, "w") as f:
            for pod in sorted(sc["pods"]):
                if sc["pods"][pod][0] == node:
                    p = topo.pods[pod]
                    f.write("%s %d %s\n" % (pod, p["ofport"], p["mac"]))
            f.write("uplink %d\n" % n["uplink_ofport"])
        args = [a.conjflowctl, "compile", "--node", node, "--port-map", pm]
        for fn in sc["files"]:
            args += ["-f", fn]
        flows = run(args).stdout
        if mutate:
            flows = "".join(l + "\n" for l in flows.splitlines()
                            if mutate(l))
        ff = os.path.join(a.dir, "flows-" + node)
        with open(ff, "w") as f:
            f.write(flows)
        topo.ofctl(node, "replace-flows", ff, opts=["--bundle"])
        want = len([l for l in flows.splitlines() if l.strip()])
        got = len([l for l in topo.ofctl(node, "dump-flows",
                                         opts=["--no-stats"]).splitlines()
                   if "actions=" in l])
        if want != got:
            raise Error("%s: %s: compiled %d flows, bridge has %d"
                        % (sc["id"], node, want, got))
        total += want
    return total


def dp_outputs(trace):
    """The datapath ports the traced packet is output to (every "Datapath
    actions:" line, recirculations included)."""
    outs = set()
    for line in trace.splitlines():
        if line.startswith("Datapath actions:"):
            for tok in re.split(r"[,()\s]+", line[len("Datapath actions:"):]):
                if tok.isdigit():
                    outs.add(int(tok))
    return outs


class Check:
    """One trace and what it must show.

    'expect' is "allow" (the destination port gets the packet), "deny"
    (it doesn't), "none" (no port gets it), "explain" (allow or deny as
    'conjflowctl explain' says for 'key' = (from, to, port, proto)),
    "ingress" (as explain says for the ingress side of 'key') or
    "learned" (an SCTP reply: allowed if 'key', the packet it answers,
    was allowed, else as explain says for 'key2', the reply itself)."""

    def __init__(self, sid, kind, bridge, flow, dst_dp, expect, key=None,
                 ct=("trk,new",), generate=False, phase=1, key2=None):
        self.sid, self.kind, self.bridge, self.flow = sid, kind, bridge, flow
        self.dst_dp, self.expect, self.key = dst_dp, expect, key
        self.key2 = key2        # "learned": the reply's own key.
        self.ct, self.generate, self.phase = ct, generate, phase
        self.want = None        # True = allowed, set before running.
        self.got = None
        self.trace = ""

    def describe(self):
        """A one-line description for messages."""
        k = ""
        if self.key2:
            k = " %s -> %s %d/%s, after %s -> %s %d/%s" % (self.key2
                                                          + self.key)
        elif self.key:
            k = " %s -> %s %d/%s" % self.key
        return "%s: %s%s (ct %s%s)" % (self.sid, self.kind, k,
                                       " ".join(self.ct),
                                       ", --generate" if self.generate
                                       else "")


def flow_text(topo, src, dst_ip, port, proto, sport, src_ip=None,
              src_mac=None, in_port=None):
    """The ofproto/trace flow of a packet pod 'src' sends to 'dst_ip'
    (arriving on 'src''s port, or on 'in_port')."""
    p = topo.pods[src]
    pr = proto.lower()
    return ("%s,in_port=%d,dl_src=%s,dl_dst=%s,nw_src=%s,nw_dst=%s,"
            "nw_ttl=64,%s_src=%d,%s_dst=%d"
            % (pr, in_port or p["ofport"], src_mac or p["mac"],
               pod_mac(dst_ip), src_ip or p["ip"], dst_ip, pr, sport, pr,
               port))


def make_checks(topo, sc, rng, sample, node_addr):
    """The checks of scenario 'sc': a sample of (from, to, port/proto)
    traced as new connections, some as established (original direction:
    revalidated against policy), replies, related and invalid packets,
    replies and related packets of a connection marked denied (ct_mark),
    SCTP replies (learned or not), and spoofing, unknown-port, ARP, IPv6
    and packets from each node's address 'node_addr' ({node: IP})."""
    sid = sc["id"]
    pods = sorted(sc["pods"])
    tuples = [(s, d, port, proto) for s in pods for d in pods if s != d
              for port, proto in sc["ports"]]
    tuples = rng.sample(tuples, min(sample, len(tuples)))
    always = [t for t in sc.get("always", []) if t not in tuples]
    tuples = always + tuples
    checks = []

    def br(pod):
        return topo.nodes[topo.pods[pod]["node"]]["bridge"]

    for i, (s, d, port, proto) in enumerate(tuples):
        dip, ddp = topo.pods[d]["ip"], topo.pods[d]["dp"]
        key = (s, d, port, proto)
        checks.append(Check(sid, "new", br(s),
                            flow_text(topo, s, dip, port, proto,
                                      EPH_NEW + i),
                            ddp, "explain", key))
        dnode = topo.pods[d]["node"]
        if topo.pods[s]["node"] != dnode:
            # The destination node alone enforces ingress: the packet as
            # it arrives on the uplink.
            checks.append(Check(sid, "dst-node", br(d),
                                flow_text(topo, s, dip, port, proto,
                                          EPH_NEW + i,
                                          in_port=topo.nodes[dnode]
                                          ["uplink_ofport"]),
                                ddp, "ingress", key))
        if i % 4 and i >= len(always):
            continue
        # Every fourth tuple: the other states of the pipeline.
        sip, sdp = topo.pods[s]["ip"], topo.pods[s]["dp"]
        if proto != "SCTP":
            checks.append(Check(sid, "established", br(s),
                                flow_text(topo, s, dip, port, proto,
                                          EPH_NEW + i),
                                ddp, "explain", key,
                                ct=("trk,est", "trk,est")))
            checks.append(Check(sid, "reply", br(d),
                                flow_text(topo, d, sip, EPH_NEW + i, proto,
                                          port),
                                sdp, "allow",
                                ct=("trk,est,rpl", "trk,est,rpl")))
            checks.append(Check(sid, "related", br(d),
                                flow_text(topo, d, sip, EPH_NEW + i, proto,
                                          port),
                                sdp, "allow", ct=("trk,rel", "trk,rel")))
            # Replies and related packets of a connection that a node
            # denied (ct_mark bit 0, see cflow.h) drop.
            for kind, ct in (("denied-reply", "trk,est,rpl"),
                             ("denied-related", "trk,rel")):
                checks.append(Check(sid, kind, br(d),
                                    flow_text(topo, d, sip, EPH_NEW + i,
                                              proto, port) + ",ct_mark=0x1",
                                    sdp, "deny", ct=(ct, ct)))
            checks.append(Check(sid, "invalid", br(s),
                                flow_text(topo, s, dip, port, proto,
                                          EPH_NEW + i),
                                ddp, "deny", ct=("trk,inv", "trk,inv")))
        else:
            # A reply with no learned flow is checked as a new packet
            # d -> s; after an allowed packet (with side effects) its
            # reply passes.
            checks.append(Check(sid, "sctp-unlearned-reply", br(d),
                                flow_text(topo, d, sip, EPH_NOREPLY + i,
                                          proto, port),
                                sdp, "explain",
                                (d, s, EPH_NOREPLY + i, proto)))
            checks.append(Check(sid, "sctp-learn", br(s),
                                flow_text(topo, s, dip, port, proto,
                                          EPH_LEARN + i),
                                ddp, "explain", key, generate=True))
            checks.append(Check(sid, "sctp-learned-reply", br(d),
                                flow_text(topo, d, sip, EPH_LEARN + i,
                                          proto, port),
                                sdp, "learned", key, phase=2,
                                key2=(d, s, EPH_LEARN + i, proto)))

    # Spoofing, unknown ports, ARP, IPv6, node addresses.
    for s in rng.sample(pods, min(3, len(pods))):
        d = rng.choice([p for p in pods if p != s])
        other = rng.choice([p for p in topo.pods if p not in (s, d)])
        p, q, o = topo.pods[s], topo.pods[d], topo.pods[other]
        checks.append(Check(sid, "spoofed-ip", br(s),
                            flow_text(topo, s, q["ip"], 80, "TCP", 40000,
                                      src_ip=o["ip"]),
                            q["dp"], "none"))
        checks.append(Check(sid, "spoofed-mac", br(s),
                            flow_text(topo, s, q["ip"], 80, "TCP", 40000,
                                      src_mac=o["mac"]),
                            q["dp"], "none"))
        checks.append(Check(sid, "arp", br(s),
                            "arp,in_port=%d,dl_src=%s,dl_dst=ff:ff:ff:ff:"
                            "ff:ff,arp_op=1,arp_spa=%s,arp_tpa=%s,arp_sha=%s"
                            % (p["ofport"], p["mac"], p["ip"], q["ip"],
                               p["mac"]),
                            q["dp"], "allow"))
        checks.append(Check(sid, "spoofed-arp", br(s),
                            "arp,in_port=%d,dl_src=%s,dl_dst=ff:ff:ff:ff:"
                            "ff:ff,arp_op=1,arp_spa=%s,arp_tpa=%s,arp_sha=%s"
                            % (p["ofport"], p["mac"], o["ip"], q["ip"],
                               p["mac"]),
                            q["dp"], "none"))
        checks.append(Check(sid, "ipv6", br(s),
                            "ipv6,in_port=%d,dl_src=%s,dl_dst=%s,"
                            "ipv6_src=fd00::1,ipv6_dst=fd00::2"
                            % (p["ofport"], p["mac"], q["mac"]),
                            q["dp"], "none"))
    for pod in sorted(topo.pods):
        if pod in sc["pods"]:
            continue
        # Bound to a port but unknown to the cluster (or not a pod at all).
        d = rng.choice(pods)
        q = topo.pods[d]
        checks.append(Check(sid, "unknown-port", br(pod),
                            flow_text(topo, pod, q["ip"], 80, "TCP",
                                      40000),
                            q["dp"], "none"))
    # The node's own addresses reach its pods (kubelet probes).
    for node, n in sorted(topo.nodes.items()):
        if node not in node_addr:
            continue
        local = [p for p in pods if sc["pods"][p][0] == node]
        for d in rng.sample(local, min(2, len(local))):
            q = topo.pods[d]
            checks.append(Check(sid, "from-node", n["bridge"],
                                "tcp,in_port=LOCAL,dl_src=02:00:00:00:00:01,"
                                "dl_dst=%s,nw_src=%s,nw_dst=%s,nw_ttl=64,"
                                "tcp_src=40000,tcp_dst=80"
                                % (q["mac"], node_addr[node], q["ip"]),
                                q["dp"], "allow"))
    return checks


def explain(a, sc, key):
    """conjflowctl explain's verdicts for 'key' in scenario 'sc': (the
    verdict, the ingress side's verdict), True meaning allowed."""
    s, d, port, proto = key
    args = [a.conjflowctl, "explain"]
    for fn in sc["files"]:
        args += ["-f", fn]
    p = run(args + [s, d, "%d/%s" % (port, proto)], check=False)
    if p.returncode not in (0, 1):
        raise Error("explain %s: %s" % (key, p.stderr.strip()))
    ingress = egress = None
    for line in p.stdout.splitlines():
        for side in ("ingress", "egress"):
            if not line.startswith(side + " of "):
                continue
            if "; denied:" in line:
                v = False
            elif "; allowed by " in line or ": not isolated: allowed" in line:
                v = True
            else:
                continue
            if side == "ingress":
                ingress = v
            else:
                egress = v
    if ingress is None:
        raise Error("explain %s: no ingress verdict in: %s"
                    % (key, p.stdout.strip()))
    if p.returncode == 0 and not ingress:
        raise Error("explain %s: allowed but ingress denied" % (key,))
    return p.returncode == 0, ingress, egress


def run_trace(topo, c):
    """Runs check 'c''s trace and records what happened."""
    args = ["ofproto/trace"]
    for ct in c.ct:
        args += ["--ct-next", ct]
    args += [c.bridge, c.flow]
    if c.generate:
        args.append("--generate")
    c.trace = topo.appctl_cmd(*args)
    outs = dp_outputs(c.trace)
    if c.expect == "none":
        c.got = bool(outs)
    else:
        c.got = c.dst_dp in outs


# Real packets: a UDP receiver and sender run in the pods' namespaces.
UDP_RECV = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(float(sys.argv[2]))
print("ready", flush=True)
try:
    data, addr = s.recvfrom(100)
    print("received %s:%d" % addr)
except socket.timeout:
    print("timeout")
"""
UDP_SEND = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.sendto(b"conjflow", (sys.argv[2], int(sys.argv[3])))
"""


def run_real(topo, r):
    """Sends one real UDP packet (from, from-port, to, to-port) between
    pods and returns True if the destination received it (within 2 s)."""
    src, sport, dst, dport = r[:4]
    p, q = topo.pods[src], topo.pods[dst]
    rx = subprocess.Popen(["ip", "netns", "exec", q["netns"], "python3",
                           "-c", UDP_RECV, str(dport), "2.0"],
                          stdout=subprocess.PIPE, text=True)
    try:
        if rx.stdout.readline().strip() != "ready":
            raise Error("UDP receiver in %s did not start" % dst)
        run(["ip", "netns", "exec", p["netns"], "python3", "-c", UDP_SEND,
             str(sport), q["ip"], str(dport)])
        out = rx.communicate(timeout=10)[0].strip()
    finally:
        if rx.poll() is None:
            rx.kill()
            rx.wait()
    return out == "received %s:%d" % (p["ip"], sport)


def cmd_run(a):
    """The "run" step.  Returns the exit status."""
    seed = int(os.environ.get("TRACE_SEED", "1"))
    sample = int(os.environ.get("TRACE_SAMPLE", "60"))
    verbose = os.environ.get("TRACE_VERBOSE")
    rng = random.Random(seed)
    topo = Topo(a.topology)
    scs = scenarios(a, rng)
    # node -> its first address (from the model's Node objects).
    node_addr = {}
    for it in json.load(open(os.path.join(a.dir, "model.json")))["items"]:
        if it["kind"] == "Node" and it["spec"].get("addresses"):
            node_addr[it["metadata"]["name"]] = it["spec"]["addresses"][0]
    print("trace: seed %d, %d scenarios, %d pods on %d nodes"
          % (seed, len(scs), len(topo.pods), len(topo.nodes)))
    passed = failed = 0
    corpus_checked = corpus_wrong = 0
    n_want = {True: 0, False: 0}    # Policy verdicts traced.
    n_learned = 0           # SCTP replies that pass by a learned flow only.
    n_closed = 0            # SCTP replies the cross-node gap let pass.
    n_real_closed = 0       # Real UDP packets it let pass.
    last = {}               # Scenario id -> its checks.
    kinds = {}
    t0 = time.time()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs)
    for sc in scs:
        n_flows = load_flows(a, topo, sc)
        checks = make_checks(topo, sc, rng, sample, node_addr)
        reals = sc.get("real", [])
        keys = sorted({c.key for c in checks
                       if c.expect in ("explain", "ingress")}
                      | {(r[0], r[2], r[3], "UDP") for r in reals}
                      | {k for c in checks if c.expect == "learned"
                         for k in (c.key, c.key2)})
        verdicts = dict(zip(keys, pool.map(lambda k: explain(a, sc, k),
                                           keys)))
        for c in checks:
            if c.expect == "learned":
                # Cross-node state (ARCHITECTURE.md): when the original
                # packet crossed nodes and only the destination's ingress
                # dropped it, the source's node has learned the reply flow,
                # but the destination's node learned a "denied reply" flow
                # for the same 4-tuple, so the reply drops there, even one
                # that policy would allow as a new packet (fail closed).
                s_, d_ = c.key[0], c.key[1]
                denied_cross = (
                    topo.pods[s_]["node"] != topo.pods[d_]["node"]
                    and verdicts[c.key][2] and not verdicts[c.key][1])
                c.want = verdicts[c.key][0] or (verdicts[c.key2][0]
                                                and not denied_cross)
                if denied_cross and verdicts[c.key2][2]:
                    # It passed before (the replier's node let it out).
                    n_closed += 1
            elif c.expect == "explain":
                c.want = verdicts[c.key][0]
            elif c.expect == "ingress":
                c.want = verdicts[c.key][1]
            else:
                c.want = c.expect == "allow"
            if c.expect in ("explain", "learned"):
                n_want[c.want] += 1
            if (c.expect == "learned" and verdicts[c.key][0]
                    and not verdicts[c.key2][0]):
                n_learned += 1  # Only the learned flow lets it pass.
        # The evaluator against the corpus's own expectations.
        for k in keys:
            if k in sc["expect"]:
                corpus_checked += 1
                if sc["expect"][k] != verdicts[k][0]:
                    corpus_wrong += 1
                    print("FAIL corpus %s: explain says %s for %s -> %s "
                          "%d/%s, the corpus says %s"
                          % (sc["id"], verdicts[k][0], *k,
                             sc["expect"][k]))
        for phase in (1, 2):
            batch = [c for c in checks if c.phase == phase]
            list(pool.map(lambda c: run_trace(topo, c), batch))
        sc_fail = 0
        for c in checks:
            ok = c.got == c.want
            kinds.setdefault(c.kind, [0, 0])[0 if ok else 1] += 1
            if ok:
                passed += 1
                if verbose:
                    print("ok %s" % c.describe())
            else:
                failed += 1
                sc_fail += 1
                print("FAIL %s: expected %s, datapath %s"
                      % (c.describe(),
                         "forwarded" if c.want else "dropped",
                         "forwarded" if c.got else "dropped"))
                print("  ovs-appctl ofproto/trace %s%s '%s'%s"
                      % ("".join("--ct-next %s " % x for x in c.ct),
                         c.bridge, c.flow,
                         " --generate" if c.generate else ""))
                if verbose:
                    print(c.trace)
        # Real packets, in order (each may leave conntrack state).
        for r in reals:
            if r[4] == "denied-reply":
                # Meaningful only if both the attempt and this packet as a
                # new one are denied.
                attempt = (r[2], r[0], r[1], "UDP")
                if (verdicts.get(attempt, (True,))[0]
                        or verdicts[(r[0], r[2], r[3], "UDP")][0]):
                    raise Error("%s: %s is not a reply to a denied attempt"
                                % (sc["id"], r))
                n_real_closed += 1
            want = (r[4] == "allow"
                    or (r[4] == "explain"
                        and verdicts[(r[0], r[2], r[3], "UDP")][0]))
            got = run_real(topo, r)
            ok = got == want
            kinds.setdefault("real-udp", [0, 0])[0 if ok else 1] += 1
            if ok:
                passed += 1
            else:
                failed += 1
                sc_fail += 1
                print("FAIL %s: real UDP %s:%d -> %s:%d (%s): expected %s,"
                      " %s" % (sc["id"], r[0], r[1], r[2], r[3],
                               {"explain": "new", "allow": "reply"}.get(
                                   r[4], r[4]),
                               "received" if want else "not received",
                               "received" if got else "not received"))
        print("scenario %s: %d flows, %d traces, %d real packets, %d failed"
              % (sc["id"], n_flows, len(checks), len(reals), sc_fail))
        last[sc["id"]] = checks

    # Sanity: both verdicts are well represented, and learned SCTP reply
    # flows were needed at least once.
    n = n_want[True] + n_want[False]
    print("policy verdicts traced: %d allowed, %d denied; %d SCTP replies"
          " passed by a learned flow only" % (n_want[True], n_want[False],
                                              n_learned))
    print("cross-node gap: %d SCTP replies and %d real UDP packets that it "
          "let pass are now dropped" % (n_closed, n_real_closed))
    for what, bad in (("allowed verdicts are under 10%",
                       n_want[True] < n / 10),
                      ("denied verdicts are under 10%",
                       n_want[False] < n / 10),
                      ("no SCTP reply depended on a learned flow",
                       n_learned == 0),
                      ("no trace checked the closed cross-node gap",
                       n_closed + n_real_closed == 0)):
        if bad:
            failed += 1
            print("FAIL sanity: %s" % what)
        else:
            passed += 1

    # The checker itself: without the isolation tables' deny flows, traces
    # that policy denies must now disagree.
    sc = max(scs, key=lambda x: sum(1 for c in last[x["id"]]
                                    if c.kind == "new" and not c.want))
    load_flows(a, topo, sc, mutate=lambda l: not re.match(
        r"table=(4|6), priority=100,.*actions=(controller\(.*\),)?"
        r"set_field:0x20/0x20->reg0,goto_table:7$", l))
    redo = [copy.copy(c) for c in last[sc["id"]] if c.kind == "new"]
    list(pool.map(lambda c: run_trace(topo, c), redo))
    n_denied = sum(1 for c in redo if not c.want)
    n_caught = sum(1 for c in redo if c.got != c.want)
    print("self-check: scenario %s without its isolation drop flows: %d of"
          " %d denied traces now forwarded" % (sc["id"], n_caught, n_denied))
    if n_caught == 0:
        failed += 1
        print("FAIL self-check: removing the isolation flows changed no "
              "trace's verdict")
    else:
        passed += 1
    pool.shutdown()
    print("trace kinds: " + ", ".join("%s %d/%d" % (k, v[0], v[0] + v[1])
                                      for k, v in sorted(kinds.items())))
    print("explain vs corpus: %d checked, %d disagree" % (corpus_checked,
                                                         corpus_wrong))
    print("time: %.1f s" % (time.time() - t0))
    failed += corpus_wrong
    passed += corpus_checked - corpus_wrong
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("step", choices=["plan", "run"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--conjflowctl", required=True)
    ap.add_argument("--srcdir", required=True)
    ap.add_argument("--topology")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    try:
        if a.step == "plan":
            cmd_plan(a)
            return 0
        if not a.topology:
            ap.error("run needs --topology")
        return cmd_run(a)
    except Error as e:
        print("trace.py: error: %s" % e, file=sys.stderr)
        return 99


if __name__ == "__main__":
    sys.exit(main())
