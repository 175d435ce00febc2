# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# conformance.py: the corpus side of the NetworkPolicy conformance runner
# (tests/conformance/run).  "run" builds the cluster (private OVS, two
# nodes, one network namespace per pod, servers) with tests/lib/harness.sh
# and starts conjflowd; this program does the rest, in Python 3 with the
# standard library only:
#
#   help   prints the runner's help;
#   plan   reads the corpus, checks it and the options, and prints what
#          the topology needs (the model's pods, the (port, protocol) pairs
#          to serve);
#   run    for each selected case: resets the store to the model (no
#          policies, the model's labels), applies each step's actions with
#          conjflowctl (one "apply" and at most one "delete" per step: the
#          difference between the objects the store holds and those the
#          step asks for), waits until conjflowd reports the store's
#          sequence number in sync (polling "ovs-appctl sync", no sleeps),
#          probes every pair of pods for every probe of the step at once
#          (one cf-netprobe per source pod, all sources in parallel) and
#          compares with the expected matrices.  A failing probe prints the
#          expected and the actual matrix side by side, differing cells
#          marked.  The last line is "N passed, N failed" (cases).
#
# The corpus format is tests/data/conformance-cases.json's (see the
# runner's help).  Exit status of "run": 0 every case passed, 1 some
# failed, 99 the runner could not work (bad corpus, conjflowctl or conjflowd
# failing, a probe that could not run).

import copy
import ipaddress
import json
import os
import re
import subprocess
import sys
import time

HELP = """\
usage: tests/conformance/run [OPTIONS]

Runs a NetworkPolicy conformance corpus on real traffic: a private Open
vSwitch with two nodes (two netdev bridges linked by patch ports), one
network namespace per pod of the model spread over both nodes (so that
same-node and cross-node pairs are both exercised), TCP, UDP and SCTP
servers in every pod (cf-netprobe), the model's Namespaces, Pods and the
Nodes written to a SQLite store with conjflowctl, and conjflowd
programming both bridges.  For each case: reset (delete every policy,
restore the model's labels), then for each step apply its actions with
conjflowctl, wait until conjflowd has the store's sequence number in sync,
probe every pair of pods for every probe of the step (in parallel) and
compare with the expected matrix.  Needs root.

Options:
  --corpus FILE      the corpus (default: tests/data/conformance-cases.json)
  --case ID          run only case ID (repeatable; default: every case)
  --ignore-diagonal  do not probe a pod to itself (see below)
  --cold-datapath    before each step's probes, empty the datapath's flow
                     cache (revalidator/purge) instead of waiting for
                     vswitchd to revalidate it: checks the OpenFlow tables
                     alone (see below)
  --hairpin          route each pod's traffic to its own IP out through
                     the bridge (harness.sh's cf_pod_hairpin; see below)
  --list             list the corpus's case ids and exit
  -v, --verbose      print what each step applies and how long it waits
  -h, --help         this help

The diagonal (a pod to itself).  The corpus states it with strict
semantics: a policy that isolates a pod also blocks the pod's traffic to
its own IP unless a rule allows it.  On real traffic that cannot be
enforced by any datapath: a packet from a pod to its own IP never leaves
the pod's network namespace (the kernel delivers it over loopback), so it
never reaches OVS; such a probe always connects.  Upstream's e2e suite
ignores the diagonal for the same kind of reason (hairpin traffic is often
masqueraded).  By default the runner checks it anyway, as the corpus
states it, and a case that fails only on the diagonal says so
("diagonal only"); --ignore-diagonal leaves those cells out (shown as
"-"), which is how the test suite runs it.  --hairpin makes the pods
send that traffic through OVS instead (policy routing in the pod, see
cf_pod_hairpin in tests/lib/harness.sh), where the policies judge it:
conjflow's forward table sends a pod's packets to its own IP back out of
the port they came in on (NORMAL never does), after the same egress and
ingress checks as any other packet.  With --hairpin the diagonal is
checked as strictly as the corpus states it; the test suite runs so.

Waiting for enforcement: after each step the runner polls "ovs-appctl
sync" until conjflowd has the store's sequence number in sync (every
bridge acknowledged its bundle), then waits for two revalidation passes of
vswitchd (revalidator/wait): the userspace datapath forwards with cached
megaflows until its revalidators have translated them again.  With
--cold-datapath it empties that cache instead.  When a probe fails, the
runner probes again at once and once more after emptying the cache, and
says how many cells still differ each time: a difference that disappears
with an empty cache is a stale datapath flow, not a wrong OpenFlow table.

Output: one line per case ("ok", or "FAIL" followed by one line per
failing probe naming the cells that differ and, unless they are all on the
diagonal, the expected and actual matrices side by side: rows = from,
columns = to, "." connected, "X" blocked, "*" marking a cell that
differs), then "N passed, N failed".  CF_KEEP=1 keeps the temporary directory (store,
conjflowd and OVS logs, what failed probes saved); CF_VERBOSE=1 traces
the harness; CF_CONF_ON_FAIL=CMD runs "CMD DIR VSWITCHD_CTL CONJFLOWD_CTL"
when a probe fails, while everything still runs (for debugging).

Corpus format (any file in this format works): {"model": {"namespaces":
[{"name", "labels"}], "pods": [{"namespace", "name", "labels"}],
"pod_order": ["ns/pod", ...]}, "cases": [{"id", "served": {"ports",
"protocols"}, "steps": [{"actions": [...], "probes": [{"port",
"protocol", "expected": {"default", "exceptions", "matrix"}}]}]}]}.
Actions: create_policy, update_policy (policy), delete_policy (namespace,
name), delete_all_policies (namespaces), add_namespace_labels,
set_namespace_labels (namespace, labels), add_pod_labels, set_pod_labels
(namespace, pod, labels).  ipBlock templates {{hostcidr:NS/POD}},
{{cidr4:NS/POD}} and {{ip:NS/POD}} are filled from the pods' real IPs.
Beyond the shared format, objects can come and go: delete_pod (namespace,
pod), create_pod (namespace, pod, labels, optional port_names:
{"PORT/PROTO": NAME} renaming that pod's container ports, e.g.
{"81/TCP": "web"}), delete_namespace (namespace: with its pods and
policies, as the API server does), create_namespace (namespace, labels).
Only pods and namespaces of the model can be created (their network
namespaces stay in place while they are deleted); a probe leaves out
("-") every cell from or to a pod the store does not hold at that step.
The next case starts again from the whole model.
"""

PROTOCOLS = ("TCP", "UDP", "SCTP")
TEMPLATE_RE = re.compile(r"\{\{([a-z0-9]+):([^}]*)\}\}")
PORT_KEY_RE = re.compile(r"^[0-9]+/(TCP|UDP|SCTP)$")
SYNC_TIMEOUT = 60.0             # Seconds to wait for conjflowd.
PROBE_TIMEOUT_MS = 1000         # The corpus's 1 s probe timeout.


class CorpusError(Exception):
    """A corpus or an option that makes no sense: the message says what
    and where."""


class RunError(Exception):
    """Something the runner needs failed (conjflowctl, conjflowd, a probe
    that could not run): the message says what."""


# ---------------------------------------------------------------------
# Options and the corpus.

def parse_options(argv):
    """Parses the runner's options 'argv' (a list of strings) into a dict
    with keys corpus, cases (list of ids), ignore_diagonal, cold_datapath,
    hairpin, list, verbose, help.  Raises CorpusError on a bad option."""
    opts = {"corpus": None, "cases": [], "ignore_diagonal": False,
            "cold_datapath": False, "hairpin": False, "list": False,
            "verbose": False, "help": False}
    i = 0
    while i < len(argv):
        arg = argv[i]
        value = None
        if arg.startswith("--") and "=" in arg:
            arg, value = arg.split("=", 1)
        if arg in ("--corpus", "--case"):
            if value is None:
                i += 1
                if i >= len(argv):
                    raise CorpusError("%s needs an argument" % arg)
                value = argv[i]
            if arg == "--corpus":
                opts["corpus"] = value
            else:
                opts["cases"].append(value)
        elif value is not None:
            raise CorpusError("%s takes no argument" % arg)
        elif arg == "--ignore-diagonal":
            opts["ignore_diagonal"] = True
        elif arg == "--cold-datapath":
            opts["cold_datapath"] = True
        elif arg == "--hairpin":
            opts["hairpin"] = True
        elif arg == "--list":
            opts["list"] = True
        elif arg in ("-v", "--verbose"):
            opts["verbose"] = True
        elif arg in ("-h", "--help"):
            opts["help"] = True
        else:
            raise CorpusError("unknown option %s (see --help)" % arg)
        i += 1
    return opts


def default_corpus():
    """Returns the path of the corpus shipped with the sources."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "data", "conformance-cases.json")


def expect(cond, where, msg):
    """Raises CorpusError("WHERE: MSG") unless 'cond' holds."""
    if not cond:
        raise CorpusError("%s: %s" % (where, msg))


def check_labels(labels, where):
    """Checks that 'labels' (at 'where') is an object of strings."""
    expect(isinstance(labels, dict)
           and all(isinstance(k, str) and isinstance(v, str)
                   for k, v in labels.items()),
           where, "labels must be an object of strings")


def load_corpus(path):
    """Reads and checks the corpus at 'path'.  Returns the parsed JSON
    (a dict).  Raises CorpusError saying what is wrong and where."""
    try:
        with open(path) as f:
            corpus = json.load(f)
    except (OSError, ValueError) as e:
        raise CorpusError("%s: %s" % (path, e))
    expect(isinstance(corpus, dict), path, "not a JSON object")
    model = corpus.get("model")
    expect(isinstance(model, dict), path, "no \"model\" object")
    namespaces = model.get("namespaces")
    expect(isinstance(namespaces, list) and namespaces, path + ": model",
           "\"namespaces\" must be a non-empty list")
    ns_names = set()
    for i, ns in enumerate(namespaces):
        where = "%s: model.namespaces[%d]" % (path, i)
        expect(isinstance(ns, dict) and isinstance(ns.get("name"), str),
               where, "needs a \"name\"")
        check_labels(ns.get("labels", {}), where)
        ns_names.add(ns["name"])
    pods = model.get("pods")
    expect(isinstance(pods, list) and pods, path + ": model",
           "\"pods\" must be a non-empty list")
    pod_keys = set()
    for i, pod in enumerate(pods):
        where = "%s: model.pods[%d]" % (path, i)
        expect(isinstance(pod, dict) and isinstance(pod.get("name"), str)
               and isinstance(pod.get("namespace"), str),
               where, "needs \"namespace\" and \"name\"")
        expect(pod["namespace"] in ns_names, where,
               "namespace %s is not in model.namespaces" % pod["namespace"])
        check_labels(pod.get("labels", {}), where)
        pod_keys.add(pod["namespace"] + "/" + pod["name"])
    order = model.get("pod_order")
    expect(isinstance(order, list) and sorted(order) == sorted(pod_keys),
           path + ": model.pod_order", "must list every pod once")
    n = len(order)

    cases = corpus.get("cases")
    expect(isinstance(cases, list), path, "no \"cases\" list")
    ids = set()
    for ci, case in enumerate(cases):
        where = "%s: cases[%d]" % (path, ci)
        expect(isinstance(case, dict) and isinstance(case.get("id"), str),
               where, "needs an \"id\"")
        where = "%s: case %s" % (path, case["id"])
        expect(case["id"] not in ids, where, "duplicate id")
        ids.add(case["id"])
        served = case.get("served", model.get("default_served"))
        expect(isinstance(served, dict)
               and all(isinstance(p, int) and 0 < p < 65536
                       for p in served.get("ports", []))
               and all(p in PROTOCOLS for p in served.get("protocols", [])),
               where + ": served", "needs \"ports\" (1..65535) and "
               "\"protocols\" (TCP, UDP, SCTP)")
        steps = case.get("steps")
        expect(isinstance(steps, list) and steps, where,
               "\"steps\" must be a non-empty list")
        for si, step in enumerate(steps):
            swhere = "%s: steps[%d]" % (where, si)
            expect(isinstance(step, dict)
                   and isinstance(step.get("actions", []), list)
                   and isinstance(step.get("probes", []), list),
                   swhere, "needs \"actions\" and \"probes\" lists")
            for ai, action in enumerate(step.get("actions", [])):
                check_action(action, "%s.actions[%d]" % (swhere, ai),
                             ns_names, pod_keys)
            for pi, probe in enumerate(step.get("probes", [])):
                check_probe(probe, "%s.probes[%d]" % (swhere, pi), order,
                            served)
    return corpus


def check_action(action, where, ns_names, pod_keys):
    """Checks one step action (at 'where') against the model's namespace
    names and pod keys ("ns/name")."""
    expect(isinstance(action, dict), where, "not an object")
    op = action.get("op")
    if op in ("create_policy", "update_policy"):
        pol = action.get("policy")
        expect(isinstance(pol, dict)
               and isinstance(pol.get("metadata"), dict)
               and isinstance(pol["metadata"].get("name"), str)
               and pol["metadata"].get("namespace") in ns_names,
               where, "policy needs metadata.name and a metadata.namespace "
               "of the model")
    elif op == "delete_policy":
        expect(action.get("namespace") in ns_names
               and isinstance(action.get("name"), str),
               where, "needs \"namespace\" (of the model) and \"name\"")
    elif op == "delete_all_policies":
        expect(isinstance(action.get("namespaces"), list)
               and all(ns in ns_names for ns in action["namespaces"]),
               where, "\"namespaces\" must list namespaces of the model")
    elif op in ("add_namespace_labels", "set_namespace_labels"):
        expect(action.get("namespace") in ns_names, where,
               "needs a \"namespace\" of the model")
        check_labels(action.get("labels"), where)
    elif op in ("add_pod_labels", "set_pod_labels", "create_pod"):
        expect("%s/%s" % (action.get("namespace"), action.get("pod"))
               in pod_keys, where, "needs \"namespace\" and \"pod\" of "
               "the model")
        check_labels(action.get("labels"), where)
        names = action.get("port_names", {})
        expect(op == "create_pod" or "port_names" not in action, where,
               "only create_pod takes \"port_names\"")
        expect(isinstance(names, dict)
               and all(isinstance(k, str) and PORT_KEY_RE.match(k)
                       and isinstance(v, str) and v
                       for k, v in names.items()),
               where, "\"port_names\" must map \"PORT/PROTO\" (e.g. "
               "\"81/TCP\") to a name")
    elif op == "delete_pod":
        expect("%s/%s" % (action.get("namespace"), action.get("pod"))
               in pod_keys, where, "needs \"namespace\" and \"pod\" of "
               "the model")
    elif op in ("create_namespace", "delete_namespace"):
        expect(action.get("namespace") in ns_names, where,
               "needs a \"namespace\" of the model")
        if op == "create_namespace":
            check_labels(action.get("labels", {}), where)
    else:
        raise CorpusError("%s: unknown op %r" % (where, op))


def check_probe(probe, where, order, served):
    """Checks one probe (at 'where'): its port and protocol, and that its
    matrix has one row and one column per pod of 'order' and agrees with
    its default and exceptions."""
    n = len(order)
    expect(isinstance(probe, dict) and isinstance(probe.get("port"), int)
           and probe.get("protocol") in PROTOCOLS, where,
           "needs \"port\" and \"protocol\" (TCP, UDP, SCTP)")
    exp = probe.get("expected")
    expect(isinstance(exp, dict), where, "needs \"expected\"")
    matrix = exp.get("matrix")
    expect(isinstance(matrix, list) and len(matrix) == n
           and all(isinstance(r, str) and len(r) == n
                   and set(r) <= {".", "X"} for r in matrix),
           where + ".expected.matrix",
           "needs %d rows of %d '.' or 'X'" % (n, n))
    if "default" in exp:
        index = {p: i for i, p in enumerate(order)}
        want = [[exp["default"]] * n for _ in range(n)]
        for pair in exp.get("exceptions", []):
            expect(isinstance(pair, list) and len(pair) == 2
                   and pair[0] in index and pair[1] in index,
                   where + ".expected.exceptions", "bad pair %r" % (pair,))
            i, j = index[pair[0]], index[pair[1]]
            want[i][j] = not exp["default"]
        for i in range(n):
            for j in range(n):
                expect(want[i][j] == (matrix[i][j] == "."),
                       where + ".expected",
                       "matrix and default/exceptions disagree on %s -> %s"
                       % (order[i], order[j]))
    expect(probe["port"] in served.get("ports", [])
           and probe["protocol"] in served.get("protocols", []), where,
           "probes %d/%s, which the case does not serve"
           % (probe["port"], probe["protocol"]))


def select_cases(corpus, ids):
    """Returns the cases of 'corpus' named in 'ids' (all if empty), in
    corpus order.  Raises CorpusError for an unknown id."""
    cases = corpus["cases"]
    if not ids:
        return cases
    known = {c["id"] for c in cases}
    for i in ids:
        if i not in known:
            raise CorpusError("--case %s: no such case in the corpus" % i)
    wanted = set(ids)
    return [c for c in cases if c["id"] in wanted]


def served_pairs(corpus, case):
    """Returns the (port, protocol) pairs 'case' serves, ports outer,
    protocols inner (the corpus's container order)."""
    served = case.get("served", corpus["model"].get("default_served"))
    return [(p, t) for p in served["ports"] for t in served["protocols"]]


# ---------------------------------------------------------------------
# "plan": what the topology needs.

def cmd_plan(argv):
    """Prints "pod NS/NAME" per model pod (in pod_order) and one "serve"
    line with every PROTO:PORT a selected case serves.  Returns the exit
    status."""
    opts = parse_options(argv)
    corpus = load_corpus(opts["corpus"] or default_corpus())
    if opts["list"]:
        for case in corpus["cases"]:
            print("list %s" % case["id"])
        return 0
    cases = select_cases(corpus, opts["cases"])
    for pod in corpus["model"]["pod_order"]:
        print("pod %s" % pod)
    specs = []
    for case in cases:
        for port, proto in served_pairs(corpus, case):
            spec = "%s:%d" % (proto.lower(), port)
            if spec not in specs:
                specs.append(spec)
    print("serve %s" % " ".join(specs))
    return 0


# ---------------------------------------------------------------------
# The cluster: objects, the store, conjflowd.

class Cluster:
    """The store's objects as the runner wrote them, and the tools that
    write and watch them.  Objects are keyed by (kind, namespace, name);
    'applied' maps each key to the manifest (a dict) the store holds."""

    def __init__(self, corpus, env, verbose, cold_datapath=False):
        """'corpus' is the checked corpus; 'env' the runner's environment
        (dict: CONJFLOWCTL, CF_CONF_DB, CF_CONF_CTL (conjflowd's unixctl
        socket), CF_CONF_VSWITCHD (vswitchd's), CF_NETPROBE, CF_CONF_PODS,
        CF_CONF_TMP); 'verbose' prints each step's work; 'cold_datapath'
        empties the datapath flow cache after each step rather than waiting
        for its revalidation."""
        self.model = corpus["model"]
        self.corpus = corpus
        self.ctl = env["CONJFLOWCTL"]
        self.db = env["CF_CONF_DB"]
        self.unixctl = env["CF_CONF_CTL"]
        self.netprobe = env["CF_NETPROBE"]
        self.tmp = env["CF_CONF_TMP"]
        self.vswitchd = env["CF_CONF_VSWITCHD"]
        self.verbose = verbose
        self.cold_datapath = cold_datapath
        self.applied = {}       # key -> manifest in the store
        self.n_files = 0        # manifests written so far (file names)
        self.pods = {}          # "ns/name" -> {"ip", "netns", "node"}
        with open(env["CF_CONF_PODS"]) as f:
            for line in f:
                key, ip, netns, node = line.split()
                self.pods[key] = {"ip": ip, "netns": netns, "node": node}
        self.order = self.model["pod_order"]
        for key in self.order:
            if key not in self.pods:
                raise RunError("the topology has no pod %s" % key)

    # Objects.

    def base_labels(self):
        """Returns the model's labels: (namespace name -> labels, pod key
        -> labels), fresh copies."""
        ns = {n["name"]: dict(n.get("labels", {}))
              for n in self.model["namespaces"]}
        for name, labels in ns.items():
            labels["kubernetes.io/metadata.name"] = name
        pods = {"%s/%s" % (p["namespace"], p["name"]):
                dict(p.get("labels", {})) for p in self.model["pods"]}
        return ns, pods

    def namespace_manifest(self, name, labels):
        """Returns the Namespace manifest of 'name' with 'labels'."""
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": labels}}

    def pod_manifest(self, key, labels, served, port_names=None):
        """Returns the Pod manifest of pod 'key' ("ns/name") with 'labels',
        its node and IP, and one container per (port, protocol) of
        'served', each with its port named serve-<port>-<proto>, or
        port_names["<port>/<PROTO>"] where 'port_names' (a dict, may be
        None) has that key."""
        ns, name = key.split("/", 1)
        pod = self.pods[key]
        port_names = port_names or {}
        containers = [{"name": "cont-%d-%s" % (port, proto.lower()),
                       "image": "cf-netprobe",
                       "ports": [{"name": port_names.get(
                                      "%d/%s" % (port, proto),
                                      "serve-%d-%s" % (port, proto.lower())),
                                  "containerPort": port,
                                  "protocol": proto}]}
                      for port, proto in served]
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"namespace": ns, "name": name,
                             "labels": labels},
                "spec": {"nodeName": pod["node"],
                         "containers": containers},
                "status": {"podIP": pod["ip"],
                           "podIPs": [{"ip": pod["ip"]}]}}

    def fill_templates(self, obj, where):
        """Returns a copy of 'obj' (a policy manifest) with every ipBlock
        template filled from the pods' IPs: {{hostcidr:NS/POD}} (IP/32),
        {{cidr4:NS/POD}} (the /4 network holding the IP), {{ip:NS/POD}}
        (the IP).  Raises CorpusError naming 'where' for an unknown
        template or pod."""
        def fill(m):
            kind, pod = m.group(1), m.group(2)
            if pod not in self.pods:
                raise CorpusError("%s: template %s names no pod of the model"
                                  % (where, m.group(0)))
            ip = self.pods[pod]["ip"]
            if kind == "hostcidr":
                return ip + "/32"
            if kind == "cidr4":
                return str(ipaddress.ip_network(ip + "/4", strict=False))
            if kind == "ip":
                return ip
            raise CorpusError("%s: unknown template %s" % (where, m.group(0)))

        def walk(o):
            if isinstance(o, dict):
                return {k: walk(v) for k, v in o.items()}
            if isinstance(o, list):
                return [walk(v) for v in o]
            if isinstance(o, str):
                return TEMPLATE_RE.sub(fill, o)
            return o
        return walk(obj)

    # conjflowctl.

    def conjflowctl(self, *args, stdin=None):
        """Runs conjflowctl --db DB ARGS (feeding 'stdin', a string, if
        given).  Returns its stdout; raises RunError if it fails."""
        cmd = [self.ctl, "--db", self.db] + list(args)
        r = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        if r.returncode != 0:
            raise RunError("%s failed (status %d): %s"
                           % (" ".join(args), r.returncode,
                              r.stderr.strip()))
        return r.stdout

    def write_list(self, manifests):
        """Writes 'manifests' (a list of dicts) as one JSON List into a new
        file of the temporary directory; returns its path (kept for
        debugging with CF_KEEP=1)."""
        self.n_files += 1
        path = os.path.join(self.tmp, "step-%04d.json" % self.n_files)
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List",
                       "items": manifests}, f, indent=1)
        return path

    def converge(self, desired):
        """Makes the store hold exactly 'desired' (key -> manifest): one
        "apply" of every new or changed object (in the order of
        'desired': namespaces before their pods and policies), one
        "delete" of every object no longer wanted (policies, pods,
        namespaces; conjflowctl deletes namespaces last).  Returns (keys
        applied, keys deleted)."""
        changed = [k for k, m in desired.items()
                   if self.applied.get(k) != m]
        gone = [k for k in self.applied if k not in desired]
        if changed:
            self.conjflowctl("apply", "-f", self.write_list(
                [desired[k] for k in changed]))
            for k in changed:
                self.applied[k] = copy.deepcopy(desired[k])
        if gone:
            self.conjflowctl("delete", "-f", self.write_list(
                [self.applied[k] for k in gone]))
            for k in gone:
                del self.applied[k]
        return changed, gone

    # conjflowd.

    def sync_state(self):
        """Returns conjflowd's "sync" reply as a dict (seq, synced, ...),
        or None if conjflowd did not answer."""
        r = subprocess.run(["ovs-appctl", "--timeout=10", "-t",
                            self.unixctl, "sync"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True)
        if r.returncode != 0:
            return None
        return dict(w.split("=", 1) for w in r.stdout.split() if "=" in w)

    def wait_datapath(self):
        """Waits until vswitchd's datapath flow cache reflects the OpenFlow
        tables.  conjflowd is in sync once each bridge acknowledged its
        bundle, but the userspace datapath keeps forwarding with the
        megaflows it cached until its revalidator threads have translated
        them again (tens of milliseconds here): a probe sent at once can
        still take an old path.  "revalidator/wait" returns after the end
        of the next revalidation dump; that dump may have started before
        the change, so the second one is the first that surely started
        after it.  (Open vSwitch's own tests wait the same way.)  Raises
        RunError if vswitchd does not answer."""
        for _ in range(2):
            r = subprocess.run(["ovs-appctl", "--timeout=30", "-t",
                                self.vswitchd, "revalidator/wait"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               universal_newlines=True)
            if r.returncode != 0:
                raise RunError("ovs-appctl revalidator/wait failed: %s"
                               % r.stderr.strip())

    def purge_datapath(self):
        """Deletes every flow of the datapath's cache ("revalidator/purge"):
        the next packets are translated afresh from the OpenFlow tables.
        Used by --cold-datapath and to diagnose a failure."""
        subprocess.run(["ovs-appctl", "--timeout=30", "-t", self.vswitchd,
                        "revalidator/purge"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def wait_enforced(self):
        """Waits until conjflowd reports every node in sync at the store's
        sequence number or later (polling every 10 ms, at most
        SYNC_TIMEOUT s), then until the datapath has revalidated its flows
        (wait_datapath()).  Returns the seconds waited; raises RunError on
        timeout."""
        seq = int(self.conjflowctl("seq").strip())
        start = time.monotonic()
        deadline = start + SYNC_TIMEOUT
        last = None
        while True:
            last = self.sync_state()
            if (last and int(last.get("seq", -1)) >= seq
                    and last.get("synced") == "yes"):
                if self.cold_datapath:
                    self.purge_datapath()
                else:
                    self.wait_datapath()
                return time.monotonic() - start
            if time.monotonic() > deadline:
                raise RunError("conjflowd not in sync with store seq %d "
                               "after %.0f s (last reply: %s)"
                               % (seq, SYNC_TIMEOUT, last))
            # The poll interval of this deadline-bounded poll (as in
            # cf_wait_until).
            time.sleep(0.01)

    # Diagnostics.

    def snapshot(self, name):
        """Saves what helps to explain a failed probe into directory
        'name' of the temporary directory (kept with CF_KEEP=1): the
        datapath's flows and conntrack entries, and for each node the
        flows conjflowd desires and believes installed.  Returns the
        directory."""
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        cmds = {"dp-flows": [self.vswitchd, "dpctl/dump-flows", "-m"],
                "conntrack": [self.vswitchd, "dpctl/dump-conntrack"],
                "upcall-show": [self.vswitchd, "upcall/show"],
                "coverage": [self.vswitchd, "coverage/show"]}
        for node in sorted({p["node"] for p in self.pods.values()}):
            cmds["desired-" + node] = [self.unixctl, "flows/desired", node]
            cmds["installed-" + node] = [self.unixctl, "flows/installed",
                                         node]
        for fname, (target, *args) in cmds.items():
            with open(os.path.join(d, fname), "w") as f:
                subprocess.run(["ovs-appctl", "--timeout=10", "-t", target]
                               + args, stdout=f, stderr=subprocess.STDOUT)
        hook = os.environ.get("CF_CONF_ON_FAIL")
        if hook:
            # A debugging hook: runs with the directory, vswitchd's and
            # conjflowd's control sockets, while everything still runs.
            subprocess.run([hook, d, self.vswitchd, self.unixctl])
        return d

    # Probes.

    def probe(self, probes, ignore_diagonal, present=None):
        """Probes every pod to every pod (not itself if 'ignore_diagonal')
        for each of 'probes' (the step's probe objects), all at once: one
        cf-netprobe per source pod, every source in parallel.  'present'
        (a set of pod keys, None for all) leaves out the cells from or to
        other pods (pods the store does not hold).  Returns one matrix per
        probe: a list of rows (lists) of True (connected), False (blocked)
        or None (not probed)."""
        n = len(self.order)
        result = [[[None] * n for _ in range(n)] for _ in probes]
        procs = []
        for i, src in enumerate(self.order):
            if present is not None and src not in present:
                continue
            cells, targets = [], []
            for pi, p in enumerate(probes):
                for j, dst in enumerate(self.order):
                    if ignore_diagonal and i == j:
                        continue
                    if present is not None and dst not in present:
                        continue
                    cells.append((pi, j))
                    targets.append("%s:%s:%d" % (p["protocol"].lower(),
                                                 self.pods[dst]["ip"],
                                                 p["port"]))
            if not targets:
                continue
            cmd = ["ip", "netns", "exec", self.pods[src]["netns"],
                   self.netprobe, "probe", "--timeout-ms",
                   str(PROBE_TIMEOUT_MS)] + targets
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE,
                                    universal_newlines=True)
            procs.append((i, src, cells, targets, proc))
        errors = []
        for i, src, cells, targets, proc in procs:
            out, err = proc.communicate()
            lines = out.splitlines()
            if proc.returncode != 0 or len(lines) != len(targets):
                errors.append("cf-netprobe in %s: status %d, %d lines for "
                              "%d targets: %s" % (src, proc.returncode,
                                                  len(lines), len(targets),
                                                  err.strip()))
                continue
            for (pi, j), target, line in zip(cells, targets, lines):
                words = line.split()
                if (len(words) < 2 or words[0] != target
                        or words[1] not in ("connected", "blocked")):
                    errors.append("cf-netprobe in %s: unexpected line %r "
                                  "for %s" % (src, line, target))
                    break
                result[pi][i][j] = words[1] == "connected"
        if errors:
            raise RunError("; ".join(errors))
        return result


# ---------------------------------------------------------------------
# Steps and cases.

def apply_action(action, state, where):
    """Applies one step 'action' to 'state' (dict: policies (ns, name) ->
    manifest, ns_labels (name -> labels, the namespaces that exist),
    pod_labels (key -> labels, the pods that exist), port_names (key ->
    the pod's port renames, see create_pod)), the objects the step
    wants.  Raises CorpusError for an action the state does not allow
    (deleting what does not exist, creating what does)."""
    op = action["op"]
    # Objects deleted by an earlier delete_pod / delete_namespace.
    if (action.get("namespace") not in state["ns_labels"]
            and op not in ("create_namespace", "delete_namespace",
                           "delete_all_policies", "create_policy",
                           "update_policy")):
        raise CorpusError("%s: %s: namespace %s does not exist (deleted)"
                          % (where, op, action.get("namespace")))
    if (op in ("add_pod_labels", "set_pod_labels")
            and "%s/%s" % (action["namespace"], action["pod"])
            not in state["pod_labels"]):
        raise CorpusError("%s: %s: pod %s/%s does not exist (deleted)"
                          % (where, op, action["namespace"], action["pod"]))
    if op in ("create_policy", "update_policy"):
        md = action["policy"]["metadata"]
        if md["namespace"] not in state["ns_labels"]:
            raise CorpusError("%s: %s: namespace %s does not exist "
                              "(deleted)" % (where, op, md["namespace"]))
        state["policies"][(md["namespace"], md["name"])] = action["policy"]
    elif op == "delete_policy":
        key = (action["namespace"], action["name"])
        if key not in state["policies"]:
            raise CorpusError("%s: delete_policy %s/%s: no such policy"
                              % (where, key[0], key[1]))
        del state["policies"][key]
    elif op == "delete_all_policies":
        for key in list(state["policies"]):
            if key[0] in action["namespaces"]:
                del state["policies"][key]
    elif op == "add_namespace_labels":
        state["ns_labels"][action["namespace"]].update(action["labels"])
    elif op == "set_namespace_labels":
        name = action["namespace"]
        labels = dict(action["labels"])
        labels["kubernetes.io/metadata.name"] = name
        state["ns_labels"][name] = labels
    elif op == "add_pod_labels":
        key = "%s/%s" % (action["namespace"], action["pod"])
        state["pod_labels"][key].update(action["labels"])
    elif op == "set_pod_labels":
        key = "%s/%s" % (action["namespace"], action["pod"])
        state["pod_labels"][key] = dict(action["labels"])
    elif op == "delete_pod":
        key = "%s/%s" % (action["namespace"], action["pod"])
        if key not in state["pod_labels"]:
            raise CorpusError("%s: delete_pod %s: no such pod" % (where, key))
        del state["pod_labels"][key]
        state["port_names"].pop(key, None)
    elif op == "create_pod":
        key = "%s/%s" % (action["namespace"], action["pod"])
        if key in state["pod_labels"]:
            raise CorpusError("%s: create_pod %s: the pod exists"
                              % (where, key))
        if action["namespace"] not in state["ns_labels"]:
            raise CorpusError("%s: create_pod %s: no namespace %s"
                              % (where, key, action["namespace"]))
        state["pod_labels"][key] = dict(action["labels"])
        state["port_names"][key] = dict(action.get("port_names", {}))
    elif op == "delete_namespace":
        name = action["namespace"]
        if name not in state["ns_labels"]:
            raise CorpusError("%s: delete_namespace %s: no such namespace"
                              % (where, name))
        del state["ns_labels"][name]
        for key in [k for k in state["pod_labels"]
                    if k.split("/", 1)[0] == name]:
            del state["pod_labels"][key]
            state["port_names"].pop(key, None)
        for key in [k for k in state["policies"] if k[0] == name]:
            del state["policies"][key]
    elif op == "create_namespace":
        name = action["namespace"]
        if name in state["ns_labels"]:
            raise CorpusError("%s: create_namespace %s: the namespace "
                              "exists" % (where, name))
        labels = dict(action.get("labels", {}))
        labels["kubernetes.io/metadata.name"] = name
        state["ns_labels"][name] = labels


def desired_objects(cluster, state, served, where):
    """Returns the manifests (key -> dict) the store must hold for 'state'
    (see apply_action) with pods serving 'served'."""
    desired = {}
    for name, labels in state["ns_labels"].items():
        desired[("Namespace", "", name)] = cluster.namespace_manifest(
            name, labels)
    for key, labels in state["pod_labels"].items():
        ns, name = key.split("/", 1)
        desired[("Pod", ns, name)] = cluster.pod_manifest(
            key, labels, served, state.get("port_names", {}).get(key))
    for (ns, name), pol in state["policies"].items():
        desired[("NetworkPolicy", ns, name)] = cluster.fill_templates(
            pol, "%s: policy %s/%s" % (where, ns, name))
    return desired


def glyph(v):
    """Returns the matrix glyph of a verdict: "." connected, "X" blocked,
    "-" not probed."""
    return "-" if v is None else ("." if v else "X")


def format_matrices(order, want, got, ignore_diagonal):
    """Returns the lines that show the expected matrix 'want' (list of
    strings) and the actual one 'got' (list of rows of True/False/None)
    side by side, rows = from, columns = to, "*" after each actual cell
    that differs."""
    width = max(len(p) for p in order)
    cell = max(width, 2) + 1
    head = "%-*s" % (width, "") + "".join("%*s" % (cell, p) for p in order)
    block = len(head) - width
    lines = ["    %-*s%-*s  |  %s" % (width, "", block, "expected",
                                     "actual (* differs)"),
             "    %s  |  %s" % (head, head[width:])]
    for i, src in enumerate(order):
        left = "".join("%*s" % (cell, "-" if got[i][j] is None
                                else want[i][j])
                       for j in range(len(order)))
        right = ""
        for j in range(len(order)):
            g = glyph(got[i][j])
            mark = "*" if (got[i][j] is not None
                           and g != want[i][j]) else " "
            right += "%*s%s" % (cell - 1, g, mark)
        lines.append("    %-*s%s  |  %s" % (width, src, left, right))
    return lines


def run_case(cluster, case, state_base, opts, out):
    """Runs 'case' on 'cluster'.  'state_base' is the model's state (see
    apply_action); 'out' a function that prints a line.  Returns (passed,
    report lines, diagonal_only, seconds waiting, cells probed)."""
    ignore_diag = opts["ignore_diagonal"]
    served = served_pairs(cluster.corpus, case)
    state = copy.deepcopy(state_base)
    report = []
    passed = True
    only_diag = True
    waited = 0.0
    cells = 0
    order = cluster.order
    for si, step in enumerate(case["steps"]):
        where = "case %s step %d" % (case["id"], si + 1)
        for action in step.get("actions", []):
            apply_action(action, state, where)
        changed, gone = cluster.converge(
            desired_objects(cluster, state, served, where))
        w = cluster.wait_enforced()
        waited += w
        if opts["verbose"]:
            out("  step %d: applied %s; deleted %s; in sync after %.3f s"
                % (si + 1,
                   ", ".join("%s %s" % (k[0].lower(),
                                        "/".join(x for x in k[1:] if x))
                             for k in changed) or "nothing",
                   ", ".join("%s %s" % (k[0].lower(),
                                        "/".join(x for x in k[1:] if x))
                             for k in gone) or "nothing", w))
        probes = step.get("probes", [])
        if not probes:
            continue
        present = set(state["pod_labels"])
        if present == set(order):
            present = None
        t0 = time.monotonic()
        results = cluster.probe(probes, ignore_diag, present)
        if opts["verbose"]:
            out("  step %d: %d probes x %d pairs in %.3f s"
                % (si + 1, len(probes), len(order) * len(order),
                   time.monotonic() - t0))
        for p, got in zip(probes, results):
            want = p["expected"]["matrix"]
            diffs = []
            for i in range(len(order)):
                for j in range(len(order)):
                    if got[i][j] is None:
                        continue
                    cells += 1
                    if glyph(got[i][j]) != want[i][j]:
                        diffs.append((i, j))
            if not diffs:
                continue
            passed = False
            extra = []
            if not all(i == j for i, j in diffs):
                where_dir = cluster.snapshot("fail-%s-step%d-%d%s"
                                             % (case["id"], si + 1,
                                                p["port"],
                                                p["protocol"].lower()))
                again = cluster.probe([p], ignore_diag, present)[0]
                still = sum(1 for i, j in diffs
                            if glyph(again[i][j]) != want[i][j])
                # Then without the datapath's cached flows: tells a wrong
                # OpenFlow table from a datapath flow left stale.
                cluster.purge_datapath()
                third = cluster.probe([p], ignore_diag, present)[0]
                purged = sum(1 for i, j in diffs
                             if glyph(third[i][j]) != want[i][j])
                extra.append("    (probed again at once: %d of the %d "
                             "cells still differ; again after emptying "
                             "the datapath flow cache: %d; flows and "
                             "conntrack saved in %s)"
                             % (still, len(diffs), purged, where_dir))
            if any(i != j for i, j in diffs):
                only_diag = False
            report.append("  step %d, %d/%s: %d cell%s differ%s: %s"
                          % (si + 1, p["port"], p["protocol"], len(diffs),
                             "" if len(diffs) == 1 else "s",
                             "" if len(diffs) != 1 else "s",
                             ", ".join("%s -> %s expected %s"
                                       % (order[i], order[j],
                                          "connected" if want[i][j] == "."
                                          else "blocked")
                                       for i, j in diffs[:4])
                             + (", ..." if len(diffs) > 4 else "")))
            if any(i != j for i, j in diffs):
                report.extend(format_matrices(order, want, got,
                                              ignore_diag))
            report.extend(extra)
    return passed, report, (not passed and only_diag), waited, cells


def cmd_run(argv):
    """Runs the selected cases on the cluster the runner built (see
    Cluster for the environment).  Returns the exit status."""
    opts = parse_options(argv)
    corpus = load_corpus(opts["corpus"] or default_corpus())
    cases = select_cases(corpus, opts["cases"])

    def out(line):
        print(line, flush=True)

    cluster = Cluster(corpus, os.environ, opts["verbose"],
                      opts["cold_datapath"])
    ns_labels, pod_labels = cluster.base_labels()
    base = {"policies": {}, "ns_labels": ns_labels,
            "pod_labels": pod_labels, "port_names": {}}
    t_start = time.monotonic()

    # The model, and a first check with no policy: every pod reaches every
    # pod on every served pair (the topology and conjflowd work).
    first_served = served_pairs(corpus, cases[0]) if cases else []
    cluster.converge(desired_objects(cluster, base, first_served, "model"))
    cluster.wait_enforced()
    if cases:
        pre = [{"port": port, "protocol": proto} for port, proto in
               first_served]
        results = cluster.probe(pre, True)
        for p, got in zip(pre, results):
            bad = [(cluster.order[i], cluster.order[j])
                   for i, row in enumerate(got)
                   for j, v in enumerate(row) if v is False]
            if bad:
                raise RunError("without any policy, %d/%s is blocked for "
                               "%s: the topology or conjflowd is broken"
                               % (p["port"], p["protocol"],
                                  ", ".join("%s -> %s" % b
                                            for b in bad[:6])))
    out("# %d case%s, %s; model of %d pods on nodes %s; datapath %s; "
        "diagonal %s"
        % (len(cases), "" if len(cases) == 1 else "s",
           os.path.basename(opts["corpus"] or default_corpus()),
           len(cluster.order),
           ", ".join(sorted({p["node"] for p in cluster.pods.values()})),
           "flow cache emptied after each step (--cold-datapath)"
           if opts["cold_datapath"] else "revalidated after each step",
           "ignored (--ignore-diagonal)" if opts["ignore_diagonal"] else
           "checked through the bridge (--hairpin)" if opts["hairpin"] else
           "checked (pod-to-self traffic is loopback and never reaches "
           "OVS: cases that expect it blocked fail \"diagonal only\"; "
           "see --help)"))

    n_pass = n_fail = n_diag = 0
    total_cells = 0
    total_wait = 0.0
    for k, case in enumerate(cases, 1):
        t0 = time.monotonic()
        passed, report, diag_only, waited, cells = run_case(
            cluster, case, base, opts, out)
        total_cells += cells
        total_wait += waited
        dt = time.monotonic() - t0
        if passed:
            n_pass += 1
            out("ok %d %s (%.1f s)" % (k, case["id"], dt))
        else:
            n_fail += 1
            n_diag += diag_only
            out("FAIL %d %s (%.1f s)%s" % (k, case["id"], dt,
                                           " diagonal only: pod-to-self "
                                           "traffic never reaches OVS"
                                           if diag_only else ""))
            for line in report:
                out(line)
    elapsed = time.monotonic() - t_start
    out("# %d probes (cells) checked in %.1f s, %.1f s of it waiting for "
        "conjflowd%s" % (total_cells, elapsed, total_wait,
                         "; %d failed case%s differ%s on the diagonal only"
                         % (n_diag, "" if n_diag == 1 else "s",
                            "s" if n_diag == 1 else "")
                         if n_diag else ""))
    out("%d passed, %d failed" % (n_pass, n_fail))
    return 0 if n_fail == 0 else 1


def main(argv):
    """Dispatches "help", "plan" and "run".  Returns the exit status."""
    if len(argv) < 2 or argv[1] not in ("help", "plan", "run"):
        sys.stderr.write("usage: conformance.py help|plan|run [OPTIONS]\n")
        return 99
    try:
        if argv[1] == "help":
            sys.stdout.write(HELP)
            return 0
        if argv[1] == "plan":
            return cmd_plan(argv[2:])
        return cmd_run(argv[2:])
    except CorpusError as e:
        sys.stderr.write("conformance: %s\n" % e)
        return 2
    except RunError as e:
        sys.stderr.write("conformance: error: %s\n" % e)
        return 99


if __name__ == "__main__":
    sys.exit(main(sys.argv))
