#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# bench-scale.sh: conjflowd with many nodes that all hold many policies
# ("make bench"; root).  NODES bridges on one private vswitchd
# (tests/lib/harness.sh), each a node with PODS pods bound on internal
# ports (external_ids:iface-id), in NS namespaces; POLICIES policies, each
# selecting pods by one of 17 app labels (so every node holds nearly every
# policy) with 5 ingress rules (pod and namespace selectors, one TCP port)
# and 1 egress rule (a namespace selector).  Prints:
#
#   - the time from the start of "conjflowctl apply --wait" of the
#     policies to every node enforcing them, and the flows per node;
#   - one pod's label changed (it moves between the peers of many rules):
#     conjflowctl apply --wait to every node in sync, and conjflowd's own
#     change-to-sync time, a few rounds;
#   - conjflowd's resident set size: what the node caches and switches
#     hold for this many nodes x rules.
#
# Environment: CF_BUILDDIR, CF_SRCDIR (default: the current directory and
# this script's parent), BENCH_SCALE=small for a quick run (5 nodes, 200
# policies).

CF_BUILDDIR=${CF_BUILDDIR:-$PWD}
CF_SRCDIR=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
export CF_BUILDDIR CF_SRCDIR
. "$CF_SRCDIR/tests/lib/harness.sh" || exit 99
cf_init
cf_conjflow_init conjflowd conjflowctl
command -v python3 >/dev/null || cf_skip "python3 is not installed"

NODES=20 PODS=50 POLICIES=1000 NS=20 ROUNDS=5
if [ "${BENCH_SCALE:-}" = small ]; then
    NODES=5 PODS=20 POLICIES=200 NS=10 ROUNDS=3
fi
CF_CONJFLOWD_TIMEOUT=60         # the first compile of everything is long

M=$CF_TMPDIR/manifests
mkdir -p "$M"

cf_ovs_start ovs1 || cf_fail "cannot start OVS"
args=()
for ((n = 1; n <= NODES; n++)); do
    cf_node_add ovs1 "n$n" "br$n" >/dev/null || cf_fail
    for ((i = 0; i < PODS; i++)); do
        args+=(-- add-port "br$n" "q$n-$i"
               -- set Interface "q$n-$i" type=internal
               "external_ids:iface-id=ns$(( (n * PODS + i) % NS ))/p$n-$i")
    done
done
cf_vsctl ovs1 "${args[@]}" || cf_fail "cannot add the pods' ports"

# The workload (see the file comment).  relabel-a.yaml and relabel-b.yaml
# give pod p1-0 tier t1 and t2 in turn.
python3 - "$M" "$NODES" "$PODS" "$POLICIES" "$NS" "$(cf_ovs_db ovs1)" <<'EOF'
import sys
out, nodes, pods, pols, nns, db = (sys.argv[1], *map(int, sys.argv[2:6]),
                                   sys.argv[6])
def pod(f, n, i, tier):
    j = n * pods + i
    f.write("---\napiVersion: v1\nkind: Pod\n"
            "metadata: {namespace: ns%d, name: p%d-%d, "
            "labels: {app: a%d, tier: t%d}}\n"
            "spec: {nodeName: n%d}\nstatus: {podIP: 10.%d.%d.%d}\n"
            % (j % nns, n, i, j % 17, tier, n, 100 + n // 200, n % 200,
               i + 1))
with open(out + "/cluster.yaml", "w") as f:
    for n in range(1, nodes + 1):
        f.write("---\napiVersion: conjflow.io/v1alpha1\nkind: Node\n"
                "metadata: {name: n%d}\nspec: {ovsdb: \"%s\", bridge: br%d}\n"
                % (n, db, n))
    for k in range(nns):
        f.write("---\napiVersion: v1\nkind: Namespace\n"
                "metadata: {name: ns%d, labels: {team: t%d}}\n" % (k, k % 5))
    for n in range(1, nodes + 1):
        for i in range(pods):
            pod(f, n, i, (n * pods + i) % 3)
with open(out + "/policies.yaml", "w") as f:
    for q in range(pols):
        f.write("---\napiVersion: networking.k8s.io/v1\n"
                "kind: NetworkPolicy\n"
                "metadata: {namespace: ns%d, name: pol%d}\nspec:\n"
                "  podSelector: {matchLabels: {app: a%d}}\n"
                "  policyTypes: [Ingress, Egress]\n  ingress:\n"
                % (q % nns, q, q % 17))
        for r in range(5):
            f.write("  - from:\n"
                    "    - podSelector: {matchLabels: {tier: t%d}}\n"
                    "      namespaceSelector: {matchLabels: {team: t%d}}\n"
                    "    ports: [{protocol: TCP, port: %d}]\n"
                    % ((q + r) % 3, (q + r) % 5, 1000 + (q * 5 + r) % 2000))
        f.write("  egress:\n  - to:\n"
                "    - namespaceSelector: {matchLabels: {team: t%d}}\n"
                % (q % 5))
for v, tier in (("a", 1), ("b", 2)):
    with open(out + "/relabel-%s.yaml" % v, "w") as f:
        pod(f, 1, 0, tier)
EOF

cf_conjflow_apply "$M/cluster.yaml" || cf_fail "conjflowctl apply failed"
cf_conjflowd_start || cf_fail "conjflowd did not start"
cf_conjflowd_wait_synced 120 || cf_fail "conjflowd did not program the nodes"

# wait_apply FILE: conjflowctl apply --wait; prints the milliseconds.
wait_apply() {
    local t0 t1
    t0=$(cf__now_ms)
    cf_conjflowctl apply --wait=300000 --conjflowd-ctl "$CF_CONJFLOWD_CTL" \
        -f "$1" >/dev/null || return 1
    t1=$(cf__now_ms)
    echo $((t1 - t0))
}

ms=$(wait_apply "$M/policies.yaml") || cf_fail "the policies were not enforced"
flows=$(cf_ofctl n1 dump-flows --no-stats | grep -c cookie=)
echo "$NODES nodes x $PODS bound pods, $POLICIES policies of 6 rules (every node holds nearly all):"
echo "    apply --wait of the policies: $ms ms; $flows flows on n1"

times=() own=()
for ((i = 0; i < ROUNDS; i++)); do
    v=a
    [ $((i % 2)) = 0 ] || v=b
    ms=$(wait_apply "$M/relabel-$v.yaml") \
        || cf_fail "the relabel was not enforced"
    times+=("$ms") own+=("$(cf_conjflowd_sync_field ms)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
    END { print v[int((NR + 1) / 2)] }'; }
echo "    one pod relabelled (peer of many rules on every node), median of $ROUNDS:"
echo "    $(median "${times[@]}") ms with apply --wait (conjflowd: $(median "${own[@]}") ms)"
rss=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' \
      "/proc/$CF_CONJFLOWD_PID/status")
echo "    conjflowd RSS: $((rss / 1024)) MB ($((rss / 1024 / NODES)) MB per node)"
