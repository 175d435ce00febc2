#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# bench-conjflowd.sh: how fast conjflowd programs OVS ("make bench"; root).
#
# One private OVS (tests/lib/harness.sh), conjflowd, a store written with
# conjflowctl.  Prints:
#
#   (a) 5,000 allow rules (500 policies of 10 ingress rules) over 500 pods
#       in 10 namespaces, all 500 pods bound to ports of one node's bridge
#       (internal ports with external_ids:iface-id): time from the start of
#       "conjflowctl apply" of the policies to every flow installed, and
#       the number of flows;
#   (b) one pod added to, then removed from, namespace ns0, whose pods
#       ~1,500 rules select as peers (3 rules of each policy also allow
#       every pod of ns0, a "monitoring" namespace): its IP enters and leaves
#       the rules' address sets; time from the start of the apply to flows
#       installed (median of several rounds), and how much of it is
#       conjflowctl's own run; then the same with vswitchd restarted with
#       --enable-dummy=override, so that the 500 ports are dummies instead
#       of taps that its main loop polls on every wakeup (see below);
#   (c) 100 nodes (100 bridges on one vswitchd): one policy change that
#       reaches all of them: p50 and p99 of the time to all in sync, over
#       20 changes;
#   (d) conjflowd's resident set size after (a)/(b), and after (c).
#
# For (a) it also prints how long "ovs-ofctl add-flows --bundle" takes to
# install the same flows: the part of the time that is vswitchd's own.
#
# "Installed" means conjflowd's bundle was committed (and the datapath
# purged) on every node: a Python helper, connected to conjflowd's unixctl
# socket before the clock starts, sends "sync/wait" right after conjflowctl
# returns, and conjflowd answers once every node is in sync (starting an
# ovs-appctl would add milliseconds; polling would compete for the CPU).
# conjflowd's own change-to-sync time (which starts when it sees the store
# change) is printed too.
#
# Environment: CF_BUILDDIR, CF_SRCDIR (default: the current directory and
# this script's parent), BENCH_SCALE=small for a quick run (1/10 sizes),
# BENCH_PERF=FILE to also record a profile of conjflowd (perf record)
# through 10 more rounds of (b).

CF_BUILDDIR=${CF_BUILDDIR:-$PWD}
CF_SRCDIR=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
export CF_BUILDDIR CF_SRCDIR
. "$CF_SRCDIR/tests/lib/harness.sh" || exit 99
cf_init
cf_conjflow_init conjflowd conjflowctl
command -v python3 >/dev/null || cf_skip "python3 is not installed"

NS=10 PODS=50 POLS=50 RULES=10 NODES=100 CHANGES=20 B_ROUNDS=21
if [ "${BENCH_SCALE:-}" = small ]; then
    NS=10 PODS=5 POLS=5 RULES=10 NODES=10 CHANGES=5 B_ROUNDS=3
fi

M=$CF_TMPDIR/manifests
mkdir -p "$M"
CF_CONJFLOWD_TIMEOUT=30        # a large change may keep conjflowd busy

rss_kb() {
    sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' \
        "/proc/$CF_CONJFLOWD_PID/status"
}

# timed_split apply|delete FILE: runs conjflowctl on FILE, then waits until
# conjflowd reports every node in sync; prints the milliseconds from the
# start of conjflowctl to in sync, and those conjflowctl itself took (see
# the file comment for how).
timed_split() {
    python3 - "$CF_CONJFLOWD_CTL" "$CONJFLOWCTL" --db "$CF_CONJFLOW_DB" \
        "$1" -f "$2" <<'EOF'
import json, socket, subprocess, sys, time
ctl, cmd = sys.argv[1], sys.argv[2:]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(ctl)
decoder = json.JSONDecoder()
buf, n = "", 0
def call(method):
    global buf, n
    n += 1
    sock.sendall(json.dumps({"method": method, "params": [],
                             "id": n}).encode())
    while True:
        try:
            obj, end = decoder.raw_decode(buf)
        except ValueError:
            data = sock.recv(65536)
            if not data:
                sys.exit("conjflowd closed the connection")
            buf += data.decode()
            continue
        buf = buf[end:].lstrip()
        if obj.get("id") == n:
            if obj.get("error"):
                sys.exit("%s: %s" % (method, obj["error"]))
            return obj["result"]
t0 = time.monotonic()
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
t1 = time.monotonic()
# One "sync/wait": conjflowd answers once every node is in sync with the
# store as it is now (no polling that would compete for the CPU).
if "synced=yes" not in call("sync/wait"):
    sys.exit("not in sync")
t2 = time.monotonic()
print("%.1f %.1f" % ((t2 - t0) * 1000, (t1 - t0) * 1000))
EOF
}

# timed apply|delete FILE: like timed_split; prints only the total.
timed() {
    local total ctl
    read -r total ctl <<<"$(timed_split "$@")" && [ -n "$ctl" ] || return 1
    echo "$total"
}

# breakdown: where conjflowd spent the last change on node n1.
breakdown() {
    cf_conjflowd_appctl status | awk '
        /^store:/ { for (i = 1; i <= NF; i++) if ($i == "in") load = $(i + 1) }
        /^node n1:/ { n1 = 1; next }
        /^node / { n1 = 0 }
        n1 && /compiled:/ { c = $5; v = $9 }
        n1 && /bundles:/ { b = $(NF - 1) }
        END { printf "    conjflowd on n1: store load %s ms, compile %s ms, " \
                     "conversion %s ms, last bundle %s ms\n", load, c, v, b }'
}

# The workload generator (see the file comment).
python3 - "$M" "$NS" "$PODS" "$POLS" "$RULES" <<'EOF'
import sys
out, nns, ppn, polpn, rpp = sys.argv[1], *map(int, sys.argv[2:6])
def pod(f, k, i, node="n1"):
    f.write("---\napiVersion: v1\nkind: Pod\n"
            "metadata: {namespace: ns%d, name: p%d, labels: {app: a%d}}\n"
            "spec: {nodeName: %s}\nstatus: {podIP: 10.%d.%d.%d}\n"
            % (k, i, i % 10, node, 100 + k, i // 200, i % 200 + 1))
with open(out + "/cluster.yaml", "w") as f:
    for k in range(nns):
        f.write("---\napiVersion: v1\nkind: Namespace\n"
                "metadata: {name: ns%d, labels: {team: t%d}}\n" % (k, k))
    for k in range(nns):
        for i in range(ppn):
            pod(f, k, i)
with open(out + "/policies.yaml", "w") as f:
    for k in range(nns):
        for j in range(polpn):
            f.write("---\napiVersion: networking.k8s.io/v1\n"
                    "kind: NetworkPolicy\n"
                    "metadata: {namespace: ns%d, name: pol%d}\nspec:\n"
                    "  podSelector: {matchLabels: {app: a%d}}\n"
                    "  policyTypes: [Ingress]\n  ingress:\n" % (k, j, j % 10))
            for r in range(rpp):
                f.write("  - from:\n"
                        "    - podSelector: {matchLabels: {app: a%d}}\n"
                        "      namespaceSelector: {matchLabels: {team: t%d}}\n"
                        % ((j + r) % 10, (k + r) % nns))
                if r < 3:
                    # Also every pod of ns0 (a "monitoring" namespace).
                    f.write("    - namespaceSelector: "
                            "{matchLabels: {team: t0}}\n")
                f.write("    ports:\n    - {protocol: TCP, port: %d}\n"
                        % (8000 + (j * rpp + r) % 1000))
# (b): one more pod in ns0 with label a0 (a peer of every rule that
# selects app=a0 pods of namespace t0).
with open(out + "/extra-pod.yaml", "w") as f:
    pod(f, 0, ppn + 100)
n = sum(1 for k in range(nns) for j in range(polpn) for r in range(rpp)
        if r < 3 or ((j + r) % 10 == 0 and (k + r) % nns == 0))
with open(out + "/extra-pod.rules", "w") as f:
    f.write("%d\n" % n)
EOF

cf_ovs_node_add ovs1 n1 br-int || cf_fail "cannot start node n1"
n_pods=$((NS * PODS))
args=()
for ((k = 0; k < NS; k++)); do
    for ((i = 0; i < PODS; i++)); do
        p=p$k-$i
        args+=(-- add-port br-int "$p" -- set Interface "$p" type=internal
               "external_ids:iface-id=ns$k/p$i")
    done
done
cf_vsctl ovs1 "${args[@]}" || cf_fail "cannot add $n_pods ports"
cf_node_manifest n1 >"$M/nodes.yaml" || cf_fail
cf_conjflow_apply "$M/nodes.yaml" "$M/cluster.yaml" || cf_fail
cf_conjflowd_start || cf_fail "conjflowd did not start"
cf_wait_until 60 eval "cf_conjflowd_appctl status | grep -q ' $n_pods pods'" \
    || { cf_conjflowd_appctl status
         cf_fail "conjflowd did not bind $n_pods ports"; }
cf_conjflowd_wait_synced 60 || cf_fail

n_rules=$((NS * POLS * RULES))
ms=$(timed apply "$M/policies.yaml") || cf_fail
flows=$(cf_ofctl n1 dump-flows --no-stats | grep -c cookie=)
echo "(a) $n_rules allow rules, $n_pods pods in $NS namespaces, $n_pods bound ports:"
echo "    apply to flows installed: $ms ms (conjflowd:" \
     "$(cf_conjflowd_sync_field ms) ms after seeing the change), $flows flows"
breakdown
echo "    OVN on this machine: 6,000-10,600 ms, 69,026 flows"
# What vswitchd alone needs for the same flows: delete them and add them
# back with ovs-ofctl in one bundle (conjflowd's view stays right: the
# flows end up exactly as they were).
cf_ofctl n1 dump-flows --no-stats | grep cookie= >"$CF_TMPDIR/flows-a.txt"
cf_ofctl n1 del-flows cookie=0xcf00000000000000/0xff00000000000000 || cf_fail
t0=$(cf__now_ms)
cf_ofctl n1 add-flows --bundle "$CF_TMPDIR/flows-a.txt" || cf_fail
echo "    for comparison, ovs-ofctl add-flows --bundle of the same flows:" \
     "$(( $(cf__now_ms) - t0 )) ms"

# (b) is short and noisy on a shared machine: B_ROUNDS adds and removes,
# medians printed.
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
    END { print v[int((NR + 1) / 2)] }'; }
# p90: the 90th percentile.
p90() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
    END { i = int(NR * 0.9 + 0.999); print v[i < 1 ? 1 : i] }'; }
# run_b: B_ROUNDS adds and removes of the extra pod; prints the medians.
run_b() {
    local add_t=() add_c=() add_i=() del_t=() del_c=() del_i=() t c i
    for ((i = 0; i < B_ROUNDS; i++)); do
        read -r t c <<<"$(timed_split apply "$M/extra-pod.yaml")" \
            && [ -n "$c" ] || cf_fail
        add_t+=("$t") add_c+=("$c") add_i+=("$(cf_conjflowd_sync_field ms)")
        read -r t c <<<"$(timed_split delete "$M/extra-pod.yaml")" \
            && [ -n "$c" ] || cf_fail
        del_t+=("$t") del_c+=("$c") del_i+=("$(cf_conjflowd_sync_field ms)")
    done
    echo "    add: $(median "${add_t[@]}") ms" \
         "(p90 $(p90 "${add_t[@]}"); conjflowd: $(median "${add_i[@]}") ms)," \
         "remove: $(median "${del_t[@]}") ms" \
         "(p90 $(p90 "${del_t[@]}"); conjflowd: $(median "${del_i[@]}") ms)"
    echo "    of which conjflowctl itself: add $(median "${add_c[@]}") ms," \
         "remove $(median "${del_c[@]}") ms"
    breakdown
}
n_b=$(cat "$M/extra-pod.rules")
echo "(b) one pod IP added to / removed from the peers of $n_b rules" \
     "(median of $B_ROUNDS):"
echo "  - the $n_pods ports as internal ports, which on this userspace" \
     "datapath are taps that vswitchd polls on every wakeup:"
run_b
# (b) again with vswitchd's tap ports replaced by dummy ones: the same
# ports, bridges and flows, but vswitchd's main loop no longer polls 500
# taps on each wakeup (about 0.45 ms here, several times per change: an
# artifact of internal ports on a userspace datapath; a kernel datapath
# node has no such cost).  conjflowd reprograms the restarted vswitchd.
cf_vswitchd_restart ovs1 --enable-dummy=override || cf_fail
cf_conjflowd_wait_synced 60 || cf_fail
echo "  - the same with vswitchd --enable-dummy=override (the ports are" \
     "dummies that cost its main loop nothing, as on a kernel datapath):"
run_b
cf_vswitchd_restart ovs1 || cf_fail
cf_conjflowd_wait_synced 60 || cf_fail
echo "    OVN on this machine: 180-350 ms / 900-11,000 ms"
echo "(d) conjflowd RSS with $flows flows: $(( $(rss_kb) / 1024 )) MB"
if [ -n "${BENCH_PERF:-}" ]; then
    # Profile conjflowd through 10 more rounds of (b) into $BENCH_PERF.
    perf record -F 2000 --call-graph=dwarf -p "$CF_CONJFLOWD_PID" -o "$BENCH_PERF" \
        >/dev/null 2>&1 &
    perf_pid=$!
    for ((i = 0; i < 10; i++)); do
        timed apply "$M/extra-pod.yaml" >/dev/null || cf_fail
        timed delete "$M/extra-pod.yaml" >/dev/null || cf_fail
    done
    kill -INT "$perf_pid"
    wait "$perf_pid"
fi

# (c): NODES bridges on the same vswitchd, each a node with one pod; the
# policies of (a) are gone.
cf_conjflow_delete "$M/policies.yaml" || cf_fail
cf_conjflowd_wait_synced 60 || cf_fail
cf_conjflowd_stop -t 10
for ((n = 2; n <= NODES; n++)); do
    cf_node_add ovs1 "n$n" "br$n" >/dev/null || cf_fail
done
python3 - "$M" "$NODES" "$(cf_ovs_db ovs1)" <<'EOF'
import sys
out, nodes, db = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with open(out + "/nodes-c.yaml", "w") as f:
    for n in range(2, nodes + 1):
        f.write("---\napiVersion: conjflow.io/v1alpha1\nkind: Node\n"
                "metadata: {name: n%d}\n"
                "spec: {ovsdb: \"%s\", bridge: br%d}\n" % (n, db, n))
        f.write("---\napiVersion: v1\nkind: Pod\n"
                "metadata: {namespace: ns1, name: c%d, labels: {app: a1}}\n"
                "spec: {nodeName: n%d}\nstatus: {podIP: 10.200.%d.%d}\n"
                % (n, n, n // 200, n % 200 + 1))
for v in range(2):
    with open(out + "/policy-c%d.yaml" % v, "w") as f:
        f.write("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                "metadata: {namespace: ns1, name: every-node}\nspec:\n"
                "  podSelector: {matchLabels: {app: a1}}\n"
                "  policyTypes: [Ingress]\n  ingress:\n"
                "  - from: [{podSelector: {matchLabels: {app: a2}}}]\n"
                "    ports: [{protocol: TCP, port: %d}]\n" % (9000 + v))
EOF
args=()
for ((n = 2; n <= NODES; n++)); do
    args+=(-- add-port "br$n" "c$n" -- set Interface "c$n" type=internal
           "external_ids:iface-id=ns1/c$n")
done
cf_vsctl ovs1 "${args[@]}" || cf_fail
cf_conjflow_apply "$M/nodes-c.yaml" || cf_fail
cf_conjflowd_start || cf_fail
cf_conjflowd_wait_synced 120 || cf_fail
cf_wait_until 60 eval "[ \$(cf_conjflowd_appctl status \
                          | grep -c '^node .*: in sync') = $NODES ]" \
    || { cf_conjflowd_appctl status | grep '^node' | grep -v 'in sync' | head
         cf_fail "not every node in sync"; }
cf_conjflowd_wait_synced 60 || cf_fail
times=()
for ((i = 0; i < CHANGES; i++)); do
    t=$(timed apply "$M/policy-c$((i % 2)).yaml") || cf_fail
    times+=("$t")
done
read -r p50 p99 <<<"$(printf '%s\n' "${times[@]}" | sort -n | awk '
    { v[NR] = $1 }
    END { i50 = int((NR + 1) / 2); i99 = int(NR * 0.99 + 0.999);
          if (i99 < 1) i99 = 1; print v[i50], v[i99] }')"
echo "(c) $NODES nodes (bridges on one vswitchd), one policy change reaching all, $CHANGES changes:"
echo "    p50 $p50 ms, p99 $p99 ms (apply to every node in sync)"
echo "(d) conjflowd RSS with $NODES nodes: $(( $(rss_kb) / 1024 )) MB"
