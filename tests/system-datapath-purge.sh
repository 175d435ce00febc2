#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-datapath-purge.sh: conjflowd's datapath flow cache purge, the
# workaround for Open vSwitch 3.1's stale megaflows (ofproto/switch.c,
# "Datapath cache purge"; ARCHITECTURE.md, "Known limitations"), on real
# OVS (root).
#
# Part A, OVS alone (a private vswitchd with dummy ports and a dummy
# datapath, packets injected with netdev-dummy/receive): the deterministic
# reproduction of the bug.  Under tables T1 (10.0.0.1 may reach p2, the
# rest is dropped) a packet from 10.1.0.5 makes a drop megaflow Z with a
# /16 source mask and one from 10.0.0.1 a /32 megaflow B that outputs to
# p2.  T2 forbids 10.0.0.1; with the revalidators paused, a packet from
# 10.0.0.7 is translated under T2 into a drop megaflow A that has Z's mask
# and covers B's key.  After the revalidators ran, the test prints whether
# this OVS still has the bug (B keeps "actions:p2" and forwards forbidden
# packets: informational, the test doesn't fail if OVS got fixed), then
# asserts what conjflow relies on: "revalidator/purge" leaves no datapath
# flow, and a forbidden packet is then dropped (its new megaflow says drop,
# p2's transmit counter does not move) while an allowed one still passes.
#
# Part B, conjflowd on a node with pods in network namespaces
# (tests/lib/harness.sh) and real TCP/UDP traffic (tests/cf-netprobe):
#   1. after start-up, and after each policy change that produces a bundle
#      (a policy that allows two clients, one that narrows it to one, its
#      deletion), the node's "datapath purges" count grows, with 0 errors,
#      and no datapath flow cached by the allowed traffic just before the
#      change survives it;
#   2. the connection the narrowed policy forbids is refused although the
#      datapath had cached flows from that very client just before;
#   3. conjflowd restarted with --no-datapath-purge commits bundles but
#      purges nothing, and its status says purging is disabled.
#
# Part C, the bug in conjflow's own pipeline: a second node n2 with pods
# x/s and x/g, linked to n1 by a veth, so that their packets share n1's
# uplink in_port.  A policy change from "x/s may reach x/a:80" to "x/g
# may" while n1's revalidators are paused, plus one packet from x/s to
# x/a's IP with a wrong destination MAC, makes revalidation modify the
# wrong megaflow (details below).  Without the purge the test reports
# whether n1's datapath keeps a megaflow that forwards x/s's new
# connections (informational); with it, it asserts that none is left and
# that x/s is refused while x/g connects.
#
# Exit status: 0 pass, 1 fail, 77 skip (not root / OVS missing), 99 error.

. "${CF_SRCDIR:-$(dirname "$0")/..}/tests/lib/harness.sh" || exit 99
cf_init
cf_conjflow_init conjflowd conjflowctl

n_ok=0
# ok MSG: reports a passed step.
ok() {
    n_ok=$((n_ok + 1))
    echo "ok $n_ok - $*"
}

# info MSG: reports something the test observes but does not judge.
info() {
    echo "# $*"
}

# ---------------------------------------------------------------------
# Part A: the stale megaflow, OVS alone.

cf_ovs_start dp || cf_fail "cannot start the dummy OVS"
cf_vswitchd_restart dp --enable-dummy=override -vfile:dpif_netdev:dbg \
    || cf_fail "cannot restart vswitchd with dummy ports"
DP_DIR=$(cf_ovs_dir dp)
cf_vsctl dp set Open_vSwitch . other_config:emc-insert-inv-prob=1 \
    -- add-br br0 \
    -- set Bridge br0 datapath_type=dummy fail_mode=secure \
       protocols=OpenFlow13,OpenFlow14,OpenFlow15 \
    -- add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1 \
    -- add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2 \
    || cf_fail "cannot make bridge br0 with dummy ports"

# ofctl CMD ARGS...: ovs-ofctl on br0.
ofctl() {
    local cmd=$1; shift
    ovs-ofctl -O OpenFlow15 --timeout=10 "$cmd" "unix:$DP_DIR/br0.mgmt" "$@"
}

# pkt SRC: a TCP SYN from SRC to 10.0.0.9:80, as it arrives on p1.
pkt() {
    echo "in_port(1),eth(src=50:54:00:00:00:01,dst=50:54:00:00:00:09),eth_type(0x0800),ipv4(src=$1,dst=10.0.0.9,proto=6,tos=0,ttl=64,frag=no),tcp(src=1234,dst=80),tcp_flags(syn)"
}

# dp_packets: prints how many packets the datapath has looked up so far
# (hits + misses).
dp_packets() {
    cf_appctl dp dpctl/show | awk '/lookups:/ {
        for (i = 2; i <= NF; i++) { split($i, kv, ":"); if (kv[1] != "lost") n += kv[2] }
        print n }'
}

# send SRC N: injects N packets from SRC into p1 and waits (5 s) until
# the datapath has processed them (netdev-dummy/receive only queues them).
DP_SENT=0
send() {
    local i
    for ((i = 0; i < $2; i++)); do
        cf_appctl dp netdev-dummy/receive p1 "$(pkt "$1")" >/dev/null || return 1
    done
    DP_SENT=$((DP_SENT + $2))
    cf_wait_until 5 eval '[ "$(dp_packets)" -ge '"$DP_SENT"' ]'
}

# tx_p2: prints p2's transmitted packet count (read from the netdev).
tx_p2() {
    ofctl dump-ports p2 | sed -n 's/.*tx pkts=\([0-9]*\).*/\1/p'
}

# dp_flows: prints the datapath flows, one per line.
dp_flows() {
    cf_appctl dp dpctl/dump-flows -m
}

# dp_flow_of SRC: prints the datapath flow(s) whose key has exactly source
# SRC (with or without a mask).
dp_flow_of() {
    dp_flows | grep -F "ipv4(src=$1" | grep -E "src=$1[,/]"
}

# revalidate N [OVS]: waits for N rounds of revalidation in OVS instance
# OVS (default dp).
revalidate() {
    local i
    for ((i = 0; i < $1; i++)); do
        cf_appctl "${2:-dp}" revalidator/wait || return 1
    done
}

cf_log "A. the stale megaflow of the userspace datapath, OVS alone"
info "$(ovs-vswitchd --version | head -1)"
ofctl add-flow "priority=100,ip,nw_src=10.0.0.1,actions=output:2" || cf_fail
ofctl add-flow "priority=0,actions=drop" || cf_fail
send 10.1.0.5 1 || cf_fail "packet Z not processed"
send 10.0.0.1 1 || cf_fail "packet B not processed"
revalidate 2 || cf_fail
[ "$(tx_p2)" = 1 ] || cf_fail "T1: the packet from 10.0.0.1 was not forwarded to p2 (tx $(tx_p2))"
dp_flow_of 10.0.0.1 | grep -q 'actions:p2' \
    || { dp_flows >&2; cf_fail "T1: no megaflow for 10.0.0.1 that outputs to p2"; }
ok "T1: 10.0.0.1 forwarded to p2 (p2 tx 1) through megaflow B, 10.1.0.5 dropped"

cf_appctl dp revalidator/pause || cf_fail
ofctl add-flow "priority=100,ip,nw_src=10.1.0.0/16,actions=output:2" || cf_fail
ofctl del-flows --strict "priority=100,ip,nw_src=10.0.0.1" || cf_fail
send 10.0.0.7 1 || cf_fail "packet A not processed"
[ "$(dp_flows | grep -c ufid:)" = 3 ] \
    || info "expected 3 megaflows (Z, B, A) before revalidation, got:" \
            "$(dp_flows | grep -c ufid:)"
cf_appctl dp revalidator/resume || cf_fail
revalidate 4 || cf_fail
cf_appctl dp ofproto/trace br0 \
    "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.9,tp_src=1234,tp_dst=80" \
    | grep -qx 'Datapath actions: drop' \
    || cf_fail "T2: ofproto/trace does not say the packet from 10.0.0.1 is dropped"
ok "T2 (10.0.0.1 forbidden) installed; ofproto/trace says drop"

b_before=$(dp_flow_of 10.0.0.1 | sed -n 's/.*\(actions:[^,]*\).*/\1/p')
tx0=$(tx_p2)
send 10.0.0.1 3 || cf_fail "3 packets from 10.0.0.1 not processed"
tx1=$(tx_p2)
if [ "$tx1" != "$tx0" ]; then
    info "this OVS HAS the stale-megaflow bug: after 4 revalidations B still" \
         "says $b_before, and $((tx1 - tx0)) of 3 packets T2 forbids" \
         "reached p2 (tx $tx0 -> $tx1)"
    grep -q 'flow_mod: .*src=10.0.0.1,.*old_actions:drop' \
        "$DP_DIR/ovs-vswitchd.log" \
        && info "dpif_netdev's log: B's modification went to another megaflow"
else
    info "this OVS does not show the stale-megaflow bug: B says" \
         "${b_before:-nothing (deleted)}, the 3 forbidden packets were dropped"
fi

cf_appctl dp revalidator/purge || cf_fail "revalidator/purge failed"
left=$(dp_flows | grep -c ufid:)
[ "$left" = 0 ] || { dp_flows >&2; cf_fail "$left datapath flows left after revalidator/purge"; }
ok "revalidator/purge deleted every datapath flow"
tx2=$(tx_p2)
send 10.0.0.1 3 || cf_fail "packets from 10.0.0.1 not processed after the purge"
[ "$(tx_p2)" = "$tx2" ] \
    || cf_fail "after revalidator/purge, packets T2 forbids still reach p2 (tx $tx2 -> $(tx_p2))"
f=$(dp_flow_of 10.0.0.1)
echo "$f" | grep -q 'actions:drop' \
    || { dp_flows >&2; cf_fail "after revalidator/purge, 10.0.0.1's megaflow is not a drop: $f"; }
ok "after revalidator/purge: 3 packets from 10.0.0.1 dropped (p2 tx stays $tx2), megaflow says drop"
send 10.1.0.5 1 || cf_fail
[ "$(tx_p2)" = $((tx2 + 1)) ] \
    || cf_fail "after revalidator/purge, 10.1.0.5 (allowed by T2) not forwarded"
ok "after revalidator/purge: 10.1.0.5 (allowed by T2) forwarded (p2 tx $((tx2 + 1)))"
cf_ovs_stop dp

# ---------------------------------------------------------------------
# Part B: conjflowd purges after each bundle.

# cfd_start [OPTION...]: starts conjflowd with its switch log at debug
# level, and OPTIONs.
cfd_start() {
    cf_conjflowd_start -vfile:cf_switch:dbg "$@"
}

# On failure: conjflowd's view and log (before the harness stops it).
PASSED=
cf_on_exit eval '[ -n "$PASSED" ] || cf_conjflowd_diagnose 30'

# purge_line: prints node n1's "datapath purges:" status line.
purge_line() {
    cf_conjflowd_node_status n1 | sed -n 's/^  datapath purges: //p'
}

# purges_done, purge_errors, bundles: the counts of node n1's status.
purges_done() {
    purge_line | sed -n 's/^\([0-9]*\) done.*/\1/p'
}
purge_errors() {
    purge_line | sed -n 's/^[0-9]* done, \([0-9]*\) errors.*/\1/p'
}
bundles() {
    cf_conjflowd_node_status n1 \
        | sed -n 's/^  bundles: \([0-9]*\) committed.*/\1/p'
}

# wait_purged N: waits (10 s) until node n1 reports more than N purges and
# conjflowd is in sync; fails if a purge failed or one is still pending.
wait_purged() {
    cf_wait_until 10 eval '[ "$(purges_done)" -gt '"$1"' ] 2>/dev/null' \
        || { cf_conjflowd_appctl status >&2; return 1; }
    cf_conjflowd_wait_synced || return 1
    [ "$(purge_errors)" = 0 ] \
        || { echo "purge errors: $(purge_line)" >&2; return 1; }
    case $(purge_line) in
    *pending*|*disabled*|*error:*)
        echo "unexpected purge status: $(purge_line)" >&2; return 1 ;;
    esac
}

# ufids_of IP: prints "UFID PACKETS" for the datapath flows of OVS ovs1
# whose key has IPv4 source or destination IP.
ufids_of() {
    cf_appctl ovs1 dpctl/dump-flows -m \
        | grep -E "ipv4\((src|[^)]*dst)=$1[,/)]" \
        | sed -n 's/^\(ufid:[0-9a-f-]*\).* packets:\([0-9]*\).*/\1 \2/p' \
        | sort
}

# surviving FILE: prints how many flows of FILE ("UFID PACKETS" lines)
# ovs1's datapath still has.  A ufid is a hash of the flow's key, so a late
# packet of the same connection after a purge makes a flow with the same
# ufid again: such a flow starts counting from 0, so only a flow with at
# least the packets it had before counts as having survived.
surviving() {
    cf_appctl ovs1 dpctl/dump-flows -m \
        | sed -n 's/^\(ufid:[0-9a-f-]*\).* packets:\([0-9]*\).*/\1 \2/p' \
        | sort | join - "$1" | awk '$2 >= $3' | wc -l
}

cf_log "B. conjflowd purges the datapath flow cache after each bundle"
cf_ovs_node_add ovs1 n1 br-int || cf_fail "cannot start node n1"
cf_pod_add n1 x/a 10.1.0.1/16 || cf_fail
cf_pod_add n1 x/b 10.1.0.2/16 || cf_fail
cf_pod_add n1 x/c 10.1.0.3/16 || cf_fail
cf_serve x/a tcp:80 udp:80 || cf_fail

M=$CF_TMPDIR/manifests
mkdir -p "$M"
{ cf_node_manifest n1 && cf_namespace_manifest x \
  && cf_pod_manifest x/a app=web && cf_pod_manifest x/b app=client tier=gold \
  && cf_pod_manifest x/c app=client; } >"$M/cluster.yaml" || cf_fail
# Both clients may reach web on port 80 (TCP and UDP).
cat >"$M/policy.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 80}, {protocol: UDP, port: 80}]
EOF
# The same policy, narrowed to the gold client: x/c is forbidden now.
cat >"$M/policy-narrow.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client, tier: gold}}}]
    ports: [{protocol: TCP, port: 80}, {protocol: UDP, port: 80}]
EOF

cf_conjflow_apply "$M/cluster.yaml" || cf_fail "conjflowctl apply failed"
cfd_start || cf_fail "conjflowd did not start"
wait_purged 0 || cf_fail "no datapath purge after conjflowd's first bundle"
b0=$(bundles)
[ "${b0:-0}" -ge 1 ] || cf_fail "no bundle committed at start-up"
ok "start-up: $b0 bundle(s), datapath purges: $(purge_line)"

# change NAME apply|delete FILE: applies or deletes FILE after traffic from
# both clients cached datapath flows, then checks that the purge count grew with
# no error and that none of x/c's cached flows survived.
change() {
    local what=$1 p0 cached n
    # Revalidators paused: OVS's purge skips a datapath flow that a
    # revalidator holds at that instant, so a running revalidation could
    # let one flow outlive the purge by chance (and without the purge,
    # paused revalidators change nothing: every flow would survive).
    cf_appctl ovs1 revalidator/pause >/dev/null \
        || cf_fail "$what: revalidator/pause failed"
    ufids_of 10.1.0.3 >"$CF_TMPDIR/cached"
    cached=$(wc -l <"$CF_TMPDIR/cached")
    [ "$cached" -gt 0 ] \
        || { cf_appctl ovs1 dpctl/dump-flows >&2; cf_fail "$what: no datapath flow of x/c's traffic is cached before the change"; }
    p0=$(purges_done)
    "cf_conjflow_$2" "$3" || cf_fail "$what: conjflowctl $2 failed"
    wait_purged "$p0" || cf_fail "$what: the datapath purge count did not grow past $p0"
    n=$(surviving "$CF_TMPDIR/cached")
    cf_appctl ovs1 revalidator/resume >/dev/null \
        || cf_fail "$what: revalidator/resume failed"
    [ "$n" = 0 ] \
        || cf_fail "$what: $n of $cached cached datapath flows of x/c survived the change"
    ok "$what: purges $p0 -> $(purges_done), 0 errors; none of $cached cached flows of x/c's traffic survived"
}

cf_check_probes <<'EOF' || cf_fail "no policy: x/b and x/c do not reach x/a"
x/b tcp:x/a:80 connected
x/c tcp:x/a:80 connected
x/c udp:x/a:80 connected
EOF
change "policy web (both clients)" apply "$M/policy.yaml"
cf_check_probes <<'EOF' || cf_fail "policy web: clients do not reach x/a"
x/b tcp:x/a:80 connected
x/c tcp:x/a:80 connected
x/c udp:x/a:80 connected
EOF
ok "policy web: x/b and x/c reach x/a:80 (TCP, UDP), caching datapath flows"

change "policy web narrowed to x/b" apply "$M/policy-narrow.yaml"
cf_check_probes <<'EOF' || cf_fail "narrowed policy web: x/c is not refused"
x/c tcp:x/a:80 blocked
x/c udp:x/a:80 blocked
x/b tcp:x/a:80 connected
x/b udp:x/a:80 connected
EOF
ok "narrowed policy: x/c refused (TCP, UDP) right after its allowed traffic; x/b still connects"

# Make x/c's traffic cached again (the policy's deletion opens x/a).
cf_check_probes <<'EOF' || cf_fail "narrowed policy web: x/c is not refused"
x/c tcp:x/a:80 blocked
x/b tcp:x/a:80 connected
EOF
change "policy web deleted" delete "$M/policy-narrow.yaml"
cf_neigh_flush x/c x/a
cf_check_probes <<'EOF' || cf_fail "policy deleted: x/c does not reach x/a"
x/c tcp:x/a:80 connected
x/c udp:x/a:80 connected
EOF
ok "policy deleted: x/c reaches x/a again"

cf_log "B3. conjflowd --no-datapath-purge"
cf_conjflowd_stop || cf_fail "conjflowd did not stop"
cfd_start --no-datapath-purge || cf_fail "conjflowd --no-datapath-purge did not start"
cf_conjflowd_wait_synced || cf_fail "conjflowd --no-datapath-purge not in sync"
line=$(purge_line)
[ "$line" = "0 done, 0 errors (disabled)" ] \
    || cf_fail "--no-datapath-purge: status says \"datapath purges: $line\""
ok "--no-datapath-purge: status says \"datapath purges: $line\""
cf_check_probes <<'EOF' || cf_fail "x/c does not reach x/a"
x/c tcp:x/a:80 connected
x/c udp:x/a:80 connected
EOF
ufids_of 10.1.0.3 >"$CF_TMPDIR/cached"
b0=$(bundles)
cf_conjflow_apply "$M/policy-narrow.yaml" || cf_fail
cf_wait_until 10 eval '[ "$(bundles)" -gt '"$b0"' ]' \
    || cf_fail "--no-datapath-purge: no bundle for the narrowed policy"
cf_conjflowd_wait_synced || cf_fail "--no-datapath-purge: not in sync"
line=$(purge_line)
[ "$line" = "0 done, 0 errors (disabled)" ] \
    || cf_fail "--no-datapath-purge: after bundle(s), \"datapath purges: $line\""
ok "--no-datapath-purge: bundles $b0 -> $(bundles), datapath purges: $line"
info "without the purge, $(surviving "$CF_TMPDIR/cached") of" \
     "$(wc -l <"$CF_TMPDIR/cached") cached flows of x/c's traffic outlived" \
     "the change (revalidated in place)"
if cf_expect blocked x/c tcp:x/a:80 udp:x/a:80 2>/dev/null; then
    info "without the purge, x/c is refused too (no stale megaflow this time)"
else
    info "without the purge, x/c still reaches x/a: a stale megaflow"
fi

# ---------------------------------------------------------------------
# Part C: the stale megaflow in conjflow's own pipeline.

cf_log "C. the stale megaflow in conjflow's pipeline, across an uplink"
# x/s (silver) and x/g (gold) on a second node n2, linked to n1 by a veth:
# their packets reach n1 all on one in_port (the uplink), and in n1's
# datapath a megaflow without Ethernet fields (a drop) can cover the key
# of one with them (an allow).  T1 lets x/s reach x/a:80, T2 lets x/g
# instead; with T2's flow table, x/s's packet to x/a:80 (a megaflow
# matching its source exactly, as x/g's address differs from x/s's in the
# last bit only) with a wrong destination MAC makes a drop megaflow A
# without Ethernet fields that covers the allowing megaflow B that x/s's
# connection made under T1, in a datapath classifier subtable created
# before B's (by x/s's packet to x/a:81 under T1).  Revalidation then
# modifies A instead of B: B keeps allowing.
cf_conjflow_delete "$M/policy-narrow.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail "not in sync after deleting policy web"
cf_ovs_node_add ovs2 n2 br-int || cf_fail "cannot start node n2"
cf_link n1 n2 || cf_fail
cf_pod_add n2 x/s 10.1.0.5/16 || cf_fail
cf_pod_add n2 x/g 10.1.0.4/16 || cf_fail
{ cf_node_manifest n2 && cf_pod_manifest x/s app=silver \
  && cf_pod_manifest x/g app=gold; } >"$M/n2.yaml" || cf_fail
for v in silver gold; do
    cat >"$M/policy-$v.yaml" <<EOF2
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: $v}}}]
    ports: [{protocol: TCP, port: 80}]
EOF2
done
cf_conjflow_apply "$M/n2.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail "n2 not in sync"

# allow_flows: prints n1's datapath flows for x/s's new TCP connections to
# x/a:80 that forward (an output port after the ct action).
allow_flows() {
    cf_appctl ovs1 dpctl/dump-flows \
        | grep -F 'ct_state(+new' | grep -E 'ipv4\(src=10\.1\.0\.5[,/]' \
        | grep -F 'tcp(dst=80)' | grep -E 'actions:(.*\),)?[0-9]+$'
}

# stale_scenario on|off: the scenario above; with the purge ("on") asserts
# that no allowing megaflow of x/s's survives T2 and that x/s is refused;
# without it, reports what it sees.
stale_scenario() {
    local mode=$1 b0 p0 amac
    cf_conjflow_apply "$M/policy-silver.yaml" || cf_fail
    cf_conjflowd_wait_synced || cf_fail "T1 not in sync"
    cf_appctl ovs1 revalidator/purge || cf_fail  # every run starts alike
    cf_expect blocked x/s tcp:x/a:81 || cf_fail "T1: x/s reaches x/a:81"
    cf_expect connected x/s tcp:x/a:80 || cf_fail "T1: x/s does not reach x/a:80"
    revalidate 2 ovs1 || cf_fail
    allow_flows | grep -q . \
        || { cf_appctl ovs1 dpctl/dump-flows >&2; cf_fail "T1: no megaflow of n1 forwards x/s's new connections to x/a:80"; }
    b0=$(bundles); p0=$(purges_done)
    cf_appctl ovs1 revalidator/pause || cf_fail
    cf_conjflow_apply "$M/policy-gold.yaml" || cf_fail
    cf_wait_until 10 eval '[ "$(bundles)" -gt '"$b0"' ] && cf_conjflowd_synced' \
        || cf_fail "T2: no bundle on n1"
    if [ "$mode" = on ]; then
        [ "$(purges_done)" -gt "$p0" ] && [ "$(purge_errors)" = 0 ] \
            || cf_fail "T2: no datapath purge on n1: $(purge_line)"
    fi
    amac=$(cf_pod_mac x/a)
    cf_pod_exec x/s ip neigh replace 10.1.0.1 lladdr 02:00:00:00:00:99 \
        dev eth0 nud permanent || cf_fail
    cf_probe -t 300 x/s tcp:x/a:80 >/dev/null || cf_fail
    cf_pod_exec x/s ip neigh replace 10.1.0.1 lladdr "$amac" dev eth0 \
        nud permanent || cf_fail
    cf_appctl ovs1 revalidator/resume || cf_fail
    revalidate 4 ovs1 || cf_fail
    if [ "$mode" = off ]; then
        if allow_flows | grep -q .; then
            info "without the purge, conjflow's pipeline HAS a stale" \
                 "megaflow: after T2 and 4 revalidations n1 still forwards" \
                 "x/s's new connections to x/a:80 ($(allow_flows | sed 's/.*actions:/actions:/' | head -1))"
        else
            info "without the purge, no stale megaflow in conjflow's pipeline"
        fi
        if cf_expect blocked x/s tcp:x/a:80 2>/dev/null; then
            info "(x/s's new connections are still refused: the covering" \
                 "drop megaflow is found first; only exact-match cache hits" \
                 "reach the stale one)"
        else
            info "x/s still reaches x/a:80 without the purge"
        fi
        return 0
    fi
    if allow_flows | grep -q .; then
        allow_flows >&2
        cf_fail "T2: a megaflow still forwards x/s's new connections to x/a:80 despite the purge"
    fi
    ok "stale-megaflow scenario in conjflow's pipeline: with the purge no megaflow forwards x/s (revoked) any more"
    cf_check_probes <<'EOF2' || cf_fail "T2: x/s not refused or x/g not allowed"
x/s tcp:x/a:80 blocked
x/g tcp:x/a:80 connected
EOF2
    ok "T2 with the purge: x/s refused, x/g connects"
}

stale_scenario off
cf_conjflowd_stop || cf_fail "conjflowd did not stop"
cfd_start || cf_fail "conjflowd did not start"
cf_conjflowd_wait_synced || cf_fail "conjflowd not in sync after its restart"
stale_scenario on

cf_conjflowd_check_log 'terminating with signal 15' \
    || cf_fail "unexpected warnings in conjflowd's log"
ok "no warning in conjflowd's log"
PASSED=1
cf_log "PASS ($n_ok checks)"
