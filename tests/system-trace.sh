#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-trace.sh: conjflow's compiled flows in real OVS give the reference
# evaluator's verdicts, under "ovs-appctl ofproto/trace".
#
# One private OVS (tests/lib/harness.sh) with the conformance model's two
# nodes (node-1, node-2: netdev bridges linked by patch ports) and a port
# for each pod: the nine pods of the 3x3 model, two more for the
# hand-written scenarios (namespace w) and one port no manifest knows.
# tests/trace/trace.py then, for each scenario (a sample of the
# conformance corpus's cases, hand-written policies covering ipBlock with
# except, endPort, named ports, SCTP, egress with ingress, and the
# repository's sample policies):
#   - compiles each node's flows (conjflowctl compile --node N --port-map)
#     and loads them with "ovs-ofctl --bundle replace-flows";
#   - traces a sample of (from, to, port/proto) as the source pod sends it
#     (in_port, dl_src, nw_src, ...) with conntrack saying trk,new, and
#     checks that the packet reaches the destination pod's port exactly
#     when "conjflowctl explain" allows it (cross-node pairs: the trace
#     follows the patch port into the destination node's bridge; the
#     destination node alone, the packet arriving on its uplink, must
#     give explain's ingress verdict);
#   - traces established packets (revalidated against policy), replies
#     and related packets (always pass), invalid ones (dropped), SCTP
#     replies before and after the allowed packet's learned reply flow,
#     spoofed IP, MAC and ARP, IPv6, a port no pod is bound to (all
#     dropped), and the node's own address reaching its pods;
#   - sends real UDP packets between pods on different nodes: a packet the
#     destination's node drops must not let the destination answer (nor
#     open the way for the sender's next packets), as on one node;
#   - checks explain against the corpus's expected matrices, that both
#     verdicts are well represented, and (self-check) that removing the
#     isolation drop flows makes denied traces disagree.
# It prints each disagreement with the trace command that shows it, and a
# final "N passed, N failed".  TRACE_SEED, TRACE_SAMPLE, TRACE_CASES,
# TRACE_VERBOSE: see tests/trace/trace.py.
#
# Exit status: 0 pass, 1 fail, 77 skip (not root / OVS missing), 99 error.

srcdir=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
. "$srcdir/tests/lib/harness.sh"
cf_init
cf_conjflow_init conjflowctl
command -v python3 >/dev/null || { echo "system-trace: needs python3" >&2
                                   exit 99; }
trace_py=$srcdir/tests/trace/trace.py
dir=$CF_TMPDIR/trace
mkdir -p "$dir" || exit 99
start=$(cf__now_ms)

# The pods: "POD NODE IP MAC" lines.
python3 "$trace_py" plan --dir "$dir" --conjflowctl "$CONJFLOWCTL" \
    --srcdir "$srcdir" >"$dir/pods" || cf_fail "trace.py plan failed"

cf_ovs_start o1 || cf_fail "cf_ovs_start"
nodes=$(awk '{ print $2 }' "$dir/pods" | sort -u)
for node in $nodes; do
    cf_node_add o1 "$node" || cf_fail "cf_node_add $node"
done
set -- $nodes
[ $# = 2 ] || cf_fail "expected 2 nodes in the model, got: $nodes"
cf_link "$1" "$2" || cf_fail "cf_link $1 $2"
while read -r pod node ip mac; do
    cf_pod_add "$node" "$pod" "$ip/24" "$mac" || cf_fail "cf_pod_add $pod"
done <"$dir/pods"

# What trace.py needs (see its top): sockets, bridges, uplinks (the patch
# ports cf_link made), and each pod's port and namespace.
ovsdir=$(cf_ovs_dir o1)
{
    echo "appctl $ovsdir/ovs-vswitchd.ctl"
    for pair in "$1 $2" "$2 $1"; do
        set -- $pair
        br=$(cf_node_bridge "$1")
        echo "node $1 $br $ovsdir/$br.mgmt patch-$1-to-$2"
    done
    while read -r pod node ip mac; do
        echo "pod $pod $node $(cf_pod_port "$pod") $mac $ip" \
             "$(cf_pod_netns "$pod")"
    done <"$dir/pods"
} >"$dir/topology"
cf_log "topology ready in $(( $(cf__now_ms) - start )) ms"

python3 "$trace_py" run --dir "$dir" --conjflowctl "$CONJFLOWCTL" \
    --srcdir "$srcdir" --topology "$dir/topology" --jobs 2
status=$?
cf_log "done in $(( $(cf__now_ms) - start )) ms"
case $status in
0|1) exit $status ;;
*) exit 99 ;;
esac
