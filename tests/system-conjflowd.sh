#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-conjflowd.sh: conjflowd end to end on real Open vSwitch (root).
#
# Two nodes, each on its own private OVS (ovsdb-server + userspace
# vswitchd, tests/lib/harness.sh), linked by a veth; four pods in network
# namespaces; objects written to a SQLite store with conjflowctl; conjflowd
# programs both bridges.  Checked with real TCP, UDP and SCTP traffic:
#
#   1. without policies every pod reaches every pod; a pod port with no Pod
#      object is isolated (the bridge never opens by default);
#   2. a NetworkPolicy gives exactly the expected matrix, both nodes;
#   3. a policy update that revokes a live TCP connection cuts it within
#      about a second, while an unaffected live connection survives;
#   4. "recompute" yields exactly the same flows and sends nothing;
#   5. a conjflowd restart with unchanged state sends no flow_mod (its own
#      counter, identical flows, and OVS's flow durations that keep running);
#   6. a pod sending with another pod's IP, or MAC, is dropped;
#   7. a restarted ovs-vswitchd is reprogrammed;
#   8. deleting the policy opens the pods again;
#   9. kill -9 of conjflowd during a large update leaves each switch with
#      entirely old or entirely new flows, and the restarted daemon
#      converges;
#  10. a node whose OVSDB cannot be reached holds up no other node and is
#      shown as disconnected;
#  11. a bundle that the switch rejects (a full table) changes nothing, is
#      reported in the status, and is retried until it succeeds.
#
# conjflowd is started, asked and stopped with the harness's cf_conjflowd_*
# functions; kept here: a long-lived TCP client (python3) for item 3.

. "${CF_SRCDIR:-$(dirname "$0")/..}/tests/lib/harness.sh" || exit 99
cf_init
cf_conjflow_init conjflowd conjflowctl
command -v python3 >/dev/null || cf_skip "python3 is not installed"


# cfd_start: starts conjflowd, checking its incremental merges.
cfd_start() {
    cf_conjflowd_start --check-incremental -vfile:cf_switch:dbg
}

# On failure: conjflowd's view and log (before the harness stops it).
PASSED=
cf_on_exit eval '[ -n "$PASSED" ] || cf_conjflowd_diagnose 40'

# no_stats NODE: NODE's flows without statistics, sorted, without the SCTP
# reply flows the switch learns by itself (they have an idle timeout).
no_stats() {
    cf_ofctl "$1" dump-flows --no-stats | grep -v '^OFPST\|idle_timeout=' \
        | sort
}

# evaluator_probes PORT/PROTO DST...: prints "SRC PROTO:DST:PORT VERDICT"
# lines (for cf_check_probes) for every pod SRC of the store and every DST
# given (the pods that serve PORT/PROTO), SRC != DST, VERDICT being what the
# reference evaluator ("conjflowctl matrix") says.
evaluator_probes() {
    local pp=$1; shift
    cf_conjflowctl matrix --port "$pp" | awk \
        -v port="${pp%/*}" -v proto="$(echo "${pp#*/}" | tr A-Z a-z)" \
        -v dsts="$*" '
        BEGIN { n = split(dsts, d, " "); for (i = 1; i <= n; i++) want[d[i]] = 1 }
        /^#   [0-9]+ / { pod[$2 + 1] = $3; next }
        /^#/ { next }
        NF == 2 {
            for (j = 1; j <= length($2); j++) {
                dst = pod[j]
                if (dst == $1 || !(dst in want)) continue
                v = substr($2, j, 1) == "." ? "connected" : "blocked"
                print $1, proto ":" dst ":" port, v
            }
        }'
}

# check_evaluator: probes every served port between every pair of pods and
# compares with the reference evaluator's verdicts.
check_evaluator() {
    local lines
    lines=$({ evaluator_probes 80/TCP x/a z/c $EXTRA_TCP80
              evaluator_probes 80/UDP x/a z/c
              evaluator_probes 80/SCTP x/a z/c
              evaluator_probes 53/UDP x/a; }) || return 1
    [ -n "$lines" ] || { echo "no evaluator verdicts" >&2; return 1; }
    cf_log "checking $(echo "$lines" | wc -l) probes against the evaluator"
    echo "$lines" | cf_check_probes
}
EXTRA_TCP80=

# min_duration NODE: the smallest "duration" (seconds) of NODE's flows.
min_duration() {
    cf_ofctl "$1" dump-flows | sed -n 's/.*duration=\([0-9.]*\)s.*/\1/p' \
        | sort -g | head -1
}

# ---------------------------------------------------------------------
# Long-lived TCP connections (item 3).

# live_start POD TARGET_IP PORT FILE: opens a TCP connection from POD that
# exchanges a byte with the echo server every 100 ms and keeps FILE at
# "alive N" (N exchanges so far) until an exchange fails ("dead N").
live_start() {
    local ns
    ns=$(cf_pod_netns "$1") || return 1
    ip netns exec "$ns" python3 -c '
import socket, sys, time
ip, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def put(s):
    with open(path + ".tmp", "w") as f:
        f.write(s + "\n")
    import os; os.rename(path + ".tmp", path)
n = 0
try:
    s = socket.create_connection((ip, port), timeout=2)
    s.settimeout(0.5)
    while True:
        s.sendall(b"x")
        if not s.recv(16):
            break
        n += 1
        put("alive %d" % n)
        time.sleep(0.1)
except Exception:
    pass
put("dead %d" % n)
' "$2" "$3" "$4" </dev/null >/dev/null 2>&1 &
    cf__track_pid $! "long-lived client in $ns"
}

# live_count FILE: prints N of FILE ("alive N" or "dead N").
live_count() {
    cut -d' ' -f2 "$1" 2>/dev/null
}

# live_is STATE FILE [MIN]: true if FILE says STATE with at least MIN
# exchanges.
live_is() {
    local s
    s=$(cat "$2" 2>/dev/null) || return 1
    [ "${s% *}" = "$1" ] && [ "${s#* }" -ge "${3:-0}" ]
}

# ---------------------------------------------------------------------
# The cluster.

cf_ovs_node_add ovs1 n1 br-int || cf_fail "cannot start node n1"
cf_ovs_node_add ovs2 n2 br-int || cf_fail "cannot start node n2"
cf_link n1 n2 || cf_fail
cf_pod_add n1 x/a 10.1.0.1/16 || cf_fail
cf_pod_add n1 x/b 10.1.0.2/16 || cf_fail
cf_pod_add n2 z/c 10.1.0.3/16 || cf_fail
cf_pod_add n2 z/d 10.1.0.4/16 || cf_fail
cf_serve x/a 80 udp:53 || cf_fail
cf_serve z/c 80 || cf_fail

M=$CF_TMPDIR/manifests
mkdir -p "$M"
{ cf_node_manifest n1 && cf_node_manifest n2; } >"$M/nodes.yaml" || cf_fail
{ cf_namespace_manifest x team=x && cf_namespace_manifest z team=z \
  && cf_pod_manifest x/a app=web && cf_pod_manifest x/b app=client \
  && cf_pod_manifest z/c app=client && cf_pod_manifest z/d app=other; } \
    >"$M/pods.yaml" || cf_fail
# x/e's Pod object, for the port added (isolated) in item 1.
cf_pod_manifest --node n1 --ip 10.1.0.5 x/e app=late >"$M/pod-e.yaml"
# Clients from any namespace may reach web on TCP 80 and UDP 53.
cat >"$M/policy.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
      namespaceSelector: {}
    ports:
    - {protocol: TCP, port: 80}
    - {protocol: UDP, port: 53}
EOF
# The same, but only clients of namespace x.
cat >"$M/policy-narrow.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports:
    - {protocol: TCP, port: 80}
    - {protocol: UDP, port: 53}
EOF

cf_conjflow_apply "$M/nodes.yaml" "$M/pods.yaml" \
    || cf_fail "conjflowctl apply failed"
cfd_start || cf_fail "conjflowd did not start"
cf_conjflowd_wait_synced || cf_fail "conjflowd did not program the nodes"
for n in n1 n2; do
    cf_vsctl "$(cf_node_ovs $n)" get Bridge br-int fail_mode | grep -q secure \
        || cf_fail "$n: bridge not fail_mode=secure"
done

# ---------------------------------------------------------------------
cf_log "1. no policy: open; a port without a Pod object: isolated"
cf_check_probes <<'EOF' || cf_fail "matrix without policies"
x/b tcp:x/a:80 connected
x/b udp:x/a:53 connected
x/b sctp:x/a:80 connected
z/c tcp:x/a:80 connected
z/d tcp:x/a:80 connected
z/d sctp:x/a:80 connected
x/a tcp:z/c:80 connected
z/d tcp:z/c:80 connected
EOF
cf_pod_add n1 x/e 10.1.0.5/16 || cf_fail
cf_serve x/e tcp:80 || cf_fail
cf_wait_until 10 eval 'cf_conjflowd_appctl status | grep -q "3 pods"' \
    || cf_fail "conjflowd did not see pod x/e's port"
cf_conjflowd_wait_synced || cf_fail
cf_check_probes <<'EOF' || cf_fail "a port without a Pod object is not isolated"
x/e tcp:x/a:80 blocked
x/a tcp:x/e:80 blocked
x/b tcp:x/a:80 connected
EOF
cf_conjflow_apply "$M/pod-e.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail
# The isolated phase left failed ARP entries behind; don't wait them out.
cf_pod_exec x/e ip neigh flush all
cf_pod_exec x/a ip neigh flush all
cf_check_probes <<'EOF' || cf_fail "pod x/e not open once known"
x/e tcp:x/a:80 connected
x/a tcp:x/e:80 connected
EOF

# ---------------------------------------------------------------------
cf_log "2. policy: the evaluator's matrix, and a few verdicts by hand"
EXTRA_TCP80=x/e
check_evaluator || cf_fail "probes differ from the evaluator without policies"
cf_conjflow_apply "$M/policy.yaml" || cf_fail
# "sync/wait" answers once every node has the store as it is now: the
# probes below run right after it, without waiting any further.
out=$(cf_conjflowd_appctl sync/wait 10000) \
    || cf_fail "sync/wait after the policy: $out"
seq=$(cf_conjflowctl seq) || cf_fail
case $out in
*"seq=$seq synced=yes"*) ;;
*) cf_fail "sync/wait answered \"$out\", the store is at seq $seq" ;;
esac
# x/web selects pods of n1 only: n2 is not recompiled (--check-incremental
# makes conjflowd verify that n2's flows indeed stay the same).
cf_conjflowd_appctl status | grep -q 'the last change recompiled 1 nodes' \
    || cf_fail "a policy of n1's pods recompiled other nodes"
check_evaluator || cf_fail "probes differ from the evaluator with policy x/web"
cf_check_probes <<'EOF' || cf_fail "matrix with policy x/web"
x/b tcp:x/a:80 connected
x/b udp:x/a:53 connected
x/b sctp:x/a:80 blocked
z/c tcp:x/a:80 connected
z/c udp:x/a:53 connected
z/c sctp:x/a:80 blocked
z/d tcp:x/a:80 blocked
z/d udp:x/a:53 blocked
z/d sctp:x/a:80 blocked
x/e tcp:x/a:80 blocked
x/a tcp:z/c:80 connected
x/a sctp:z/c:80 connected
z/d tcp:z/c:80 connected
x/e tcp:z/c:80 connected
EOF

# ---------------------------------------------------------------------
cf_log "3. a revoked live connection dies, an unaffected one survives"
live_start x/b 10.1.0.1 80 "$CF_TMPDIR/live-b"
live_start z/c 10.1.0.1 80 "$CF_TMPDIR/live-c"
cf_wait_until 5 live_is alive "$CF_TMPDIR/live-b" 3 || cf_fail "live b"
cf_wait_until 5 live_is alive "$CF_TMPDIR/live-c" 3 || cf_fail "live c"
cf_conjflow_apply "$M/policy-narrow.yaml" || cf_fail
t0=$(cf__now_ms)
cf_wait_until 5 live_is dead "$CF_TMPDIR/live-c" \
    || cf_fail "revoked connection z/c -> x/a:80 still alive"
t1=$(cf__now_ms)
cf_log "revoked connection died $((t1 - t0)) ms after the apply" \
       "(the client gives up after a 500 ms silence)"
nb=$(live_count "$CF_TMPDIR/live-b")
cf_wait_until 5 live_is alive "$CF_TMPDIR/live-b" $((nb + 5)) \
    || cf_fail "unaffected connection x/b -> x/a:80 died"
cf_conjflowd_wait_synced || cf_fail
check_evaluator || cf_fail "probes differ from the evaluator (narrowed x/web)"
cf_check_probes <<'EOF' || cf_fail "matrix with narrowed policy x/web"
x/b tcp:x/a:80 connected
z/c tcp:x/a:80 blocked
z/d tcp:x/a:80 blocked
EOF

# ---------------------------------------------------------------------
cf_log "4. recompute gives the same flows and sends nothing"
for n in n1 n2; do
    cf_conjflowd_appctl flows/desired $n >"$CF_TMPDIR/desired-$n.1"
done
mods=$(cf_conjflowd_sync_field flow_mods)
cf_conjflowd_appctl recompute || cf_fail "recompute failed"
cf_conjflowd_wait_synced || cf_fail
for n in n1 n2; do
    cf_conjflowd_appctl flows/desired $n >"$CF_TMPDIR/desired-$n.2"
    cmp -s "$CF_TMPDIR/desired-$n.1" "$CF_TMPDIR/desired-$n.2" \
        || cf_fail "$n: recompute changed the desired flows"
    cf_conjflowd_appctl flows/installed $n | cmp -s - "$CF_TMPDIR/desired-$n.2" \
        || cf_fail "$n: installed flows differ from the desired ones"
done
[ "$(cf_conjflowd_sync_field flow_mods)" = "$mods" ] \
    || cf_fail "recompute sent flow_mods ($mods before," \
               "$(cf_conjflowd_sync_field flow_mods) after)"

# ---------------------------------------------------------------------
cf_log "5. a conjflowd restart sends no flow_mod"
for n in n1 n2; do no_stats $n >"$CF_TMPDIR/flows-$n.1"; done
t0=$(cf__now_ms)
cf_conjflowd_stop || cf_fail "conjflowd did not stop"
cfd_start || cf_fail "conjflowd did not restart"
cf_conjflowd_wait_synced || cf_fail
[ "$(cf_conjflowd_sync_field flow_mods)" = 0 ] \
    || cf_fail "restarted conjflowd sent" \
               "$(cf_conjflowd_sync_field flow_mods) flow_mods"
elapsed=$(( $(cf__now_ms) - t0 ))
for n in n1 n2; do
    no_stats $n | cmp -s - "$CF_TMPDIR/flows-$n.1" \
        || cf_fail "$n: flows changed across a conjflowd restart"
    d=$(min_duration $n)
    awk -v d="$d" -v e="$elapsed" 'BEGIN { exit !(d * 1000 >= e) }' \
        || cf_fail "$n: a flow is ${d}s old, younger than the restart (${elapsed} ms)"
done

# ---------------------------------------------------------------------
cf_log "6. spoofed IP or MAC is dropped"
# Static neighbor entries on both ends, so that only the IP (or Ethernet)
# source decides: if conjflow let the spoofed packets through, these
# connections would succeed.
cmac=$(cf_pod_mac z/c); dmac=$(cf_pod_mac z/d); bmac=$(cf_pod_mac x/b)
cf_pod_exec z/d ip neigh replace 10.1.0.3 lladdr "$cmac" dev eth0 \
    nud permanent || cf_fail
cf_pod_exec z/c ip neigh replace 10.1.0.99 lladdr "$dmac" dev eth0 \
    nud permanent || cf_fail
cf_pod_exec z/d ip addr del 10.1.0.4/16 dev eth0 || cf_fail
cf_pod_exec z/d ip addr add 10.1.0.99/16 dev eth0 || cf_fail
cf_pod_exec z/d ip route replace default dev eth0 || cf_fail
cf_expect blocked z/d tcp:z/c:80 udp:z/c:80 \
    || cf_fail "z/d sending from 10.1.0.99 (not its IP) got through"
cf_pod_exec z/d ip addr del 10.1.0.99/16 dev eth0 || cf_fail
cf_pod_exec z/d ip addr add 10.1.0.4/16 dev eth0 || cf_fail
cf_pod_exec z/d ip route replace default dev eth0 || cf_fail
cf_expect connected z/d tcp:z/c:80 || cf_fail "z/d -> z/c:80 (own IP)"
cf_pod_exec z/c ip neigh replace 10.1.0.4 lladdr "$bmac" dev eth0 \
    nud permanent || cf_fail
cf_pod_exec z/d ip link set eth0 address "$bmac" || cf_fail
cf_expect blocked z/d tcp:z/c:80 udp:z/c:80 \
    || cf_fail "z/d sending with x/b's MAC got through"
cf_pod_exec z/d ip link set eth0 address "$dmac" || cf_fail
cf_pod_exec z/c ip neigh replace 10.1.0.4 lladdr "$dmac" dev eth0 || cf_fail
cf_expect connected z/d tcp:z/c:80 || cf_fail "z/d -> z/c:80 (own MAC)"

# ---------------------------------------------------------------------
cf_log "7. a restarted vswitchd is reprogrammed"
before=$(no_stats n1 | wc -l)
cf_vswitchd_restart ovs1 || cf_fail "cannot restart vswitchd"
cf_wait_until 15 eval '[ "$(no_stats n1 | wc -l)" = "$before" ]' \
    || cf_fail "n1 not reprogrammed after a vswitchd restart"
cf_conjflowd_wait_synced || cf_fail
no_stats n1 | cmp -s - "$CF_TMPDIR/flows-n1.1" \
    || cf_fail "n1: flows differ after the vswitchd restart"
cf_check_probes <<'EOF' || cf_fail "matrix after the vswitchd restart"
x/b tcp:x/a:80 connected
z/c tcp:x/a:80 blocked
z/d tcp:x/a:80 blocked
x/a tcp:z/c:80 connected
EOF

# ---------------------------------------------------------------------
cf_log "8. deleting the policy opens the pods"
# conjflowctl --wait returns once conjflowd enforces the change (the
# probes below follow at once); without a reachable conjflowd it says so
# and fails, the change being in the store.
out=$(cf_conjflowctl delete --wait --conjflowd-ctl "$CF_TMPDIR/nowhere.ctl" \
      -f "$M/policy-narrow.yaml" --dry-run 2>&1) \
    || cf_fail "delete --dry-run --wait waited: $out"
out=$(CONJFLOWD_CTL=$CF_TMPDIR/nowhere.ctl cf_conjflowctl apply --wait=100 \
      -f "$M/policy-narrow.yaml" 2>&1) \
    && cf_fail "apply --wait without conjflowd succeeded: $out"
case $out in
*"not confirmed enforced"*"cannot reach conjflowd at $CF_TMPDIR/nowhere.ctl"*) ;;
*) cf_fail "apply --wait without conjflowd: \"$out\"" ;;
esac
out=$(cf_conjflowctl delete --wait --conjflowd-ctl "$CF_CONJFLOWD_CTL" \
      -f "$M/policy-narrow.yaml") || cf_fail "delete --wait: $out"
case $out in
*"deleted"*"enforced on every node (store seq $(cf_conjflowctl seq))"*) ;;
*) cf_fail "delete --wait said \"$out\"" ;;
esac
check_evaluator || cf_fail "probes differ from the evaluator (policy deleted)"
cf_check_probes <<'EOF' || cf_fail "matrix after deleting the policy"
z/c tcp:x/a:80 connected
z/d tcp:x/a:80 connected
z/d sctp:x/a:80 connected
EOF

# ---------------------------------------------------------------------
cf_log "9. kill -9 during a large update: each switch has old or new flows"
python3 - "$M/big.yaml" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1500):
        f.write("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                "metadata: {namespace: x, name: big%d}\nspec:\n"
                "  podSelector: {matchLabels: {app: web}}\n  ingress:\n"
                "  - from: [{podSelector: {matchLabels: {app: client}}}]\n"
                "    ports: [{protocol: TCP, port: %d}]\n" % (i, 10000 + i))
EOF
for n in n1 n2; do no_stats $n >"$CF_TMPDIR/old-$n"; done
cf_conjflow_apply "$M/big.yaml" || cf_fail
killed=
for ((i = 0; i < 2000; i++)); do
    if cf_conjflowd_appctl status 2>/dev/null \
           | grep -q '(connected, \(bundling\|committing\))'; then
        killed=yes
        break
    fi
done
cf_conjflowd_stop KILL || cf_fail "conjflowd did not die of SIGKILL"
[ -n "$killed" ] \
    || cf_log "note: the update finished before conjflowd could be" \
              "killed in it"
for n in n1 n2; do no_stats $n >"$CF_TMPDIR/mid-$n"; done
cfd_start || cf_fail "conjflowd did not restart after kill -9"
cf_conjflowd_wait_synced || cf_fail "conjflowd did not converge after kill -9"
for n in n1 n2; do
    no_stats $n >"$CF_TMPDIR/new-$n"
    if cmp -s "$CF_TMPDIR/mid-$n" "$CF_TMPDIR/old-$n"; then
        cf_log "$n: old flows after kill -9 ($(wc -l <"$CF_TMPDIR/old-$n"))"
    elif cmp -s "$CF_TMPDIR/mid-$n" "$CF_TMPDIR/new-$n"; then
        cf_log "$n: new flows after kill -9 ($(wc -l <"$CF_TMPDIR/new-$n"))"
    else
        cf_fail "$n: a mix of old and new flows after kill -9"
    fi
    cf_conjflowd_converged $n \
        || cf_fail "$n: not converged after the restart"
done
[ "$(wc -l <"$CF_TMPDIR/new-n1")" -gt 1000 ] || cf_fail "big update too small"
cf_conjflow_delete "$M/big.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail
check_evaluator || cf_fail "probes differ from the evaluator (after kill -9)"

# ---------------------------------------------------------------------
cf_log "10. an unreachable node holds up no other node"
cf_node_manifest n3 "unix:$CF_TMPDIR/nowhere/db.sock" br-int \
    >"$M/node-n3.yaml" || cf_fail
cf_conjflow_apply "$M/node-n3.yaml" || cf_fail
cf_conjflow_apply "$M/policy.yaml" || cf_fail
node_state() { cf_conjflowd_node_status "$1" | sed -n "s/^node $1: //p"; }
cf_wait_until 10 eval '[ "$(node_state n1)" = "in sync" ] &&
                       [ "$(node_state n2)" = "in sync" ]' \
    || cf_fail "n1 and n2 not in sync while n3 is unreachable"
[ "$(node_state n3)" = disconnected ] || cf_fail "n3: $(node_state n3)"
cf_conjflowd_appctl status | grep -A1 '^node n3' | grep -q 'not connected' \
    || cf_fail "status does not say n3 is not connected"
cf_conjflowd_synced && cf_fail "\"sync\" says synced with n3 unreachable"
out=$(cf_conjflowd_appctl sync/wait 300 2>&1) \
    && cf_fail "sync/wait answered with n3 unreachable: $out"
case $out in
*"not in sync with store seq"*) ;;
*) cf_fail "sync/wait with n3 unreachable: \"$out\"" ;;
esac
check_evaluator || cf_fail "probes differ from the evaluator (n3 unreachable)"
cf_conjflow_delete "$M/node-n3.yaml" || cf_fail
cf_conjflow_delete "$M/policy.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail "not in sync once n3 is gone"

# ---------------------------------------------------------------------
cf_log "11. a bundle the switch rejects changes nothing and is retried"
# Table 5 (ingress_rules) of n1 may hold only a few more flows than now.
ft=$(cf_vsctl ovs1 get Bridge br-int flow_tables:5) || cf_fail
n5=$(cf_ofctl n1 dump-flows table=5 | grep -c cookie=)
cf_vsctl ovs1 set Flow_Table "$ft" flow_limit=$((n5 + 2)) \
    overflow_policy=refuse || cf_fail
no_stats n1 >"$CF_TMPDIR/before-n1"
# n1_failed: the number of failed bundles n1's status reports.
n1_failed() {
    cf_conjflowd_node_status n1 | sed -n 's/.* \([0-9]*\) failed.*/\1/p'
}
failed_before=$(n1_failed)
cf_conjflow_apply "$M/big.yaml" || cf_fail
cf_wait_until 10 eval '[ "$(n1_failed)" -gt "$failed_before" ]' \
    || { cf_conjflowd_appctl status >&2; cf_fail "no failed bundle reported on n1"; }
cf_conjflowd_node_status n1 | grep -q 'last error: .*failed, nothing changed' \
    || { cf_conjflowd_appctl status >&2; cf_fail "the failure is not shown in the status"; }
no_stats n1 | cmp -s - "$CF_TMPDIR/before-n1" \
    || cf_fail "a rejected bundle changed n1's flows"
cf_conjflowd_synced && cf_fail "\"sync\" says synced although n1 rejected the update"
cf_vsctl ovs1 clear Flow_Table "$ft" flow_limit overflow_policy || cf_fail
cf_conjflowd_wait_synced 40 || cf_fail "no retry after the limit went away"
cf_conjflowd_converged n1 \
    || cf_fail "n1: not converged after the retry"
cf_conjflow_delete "$M/big.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail
# A bundle of one flow_mod is committed without waiting for a barrier
# (nothing of it can be applied in part): rejected, it changes nothing
# either.  A new client pod on n2, a peer of x/web: one more clause flow
# on n1, which table 5 refuses.
cf_conjflow_apply "$M/policy.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail
n5=$(cf_ofctl n1 dump-flows table=5 | grep -c cookie=)
cf_vsctl ovs1 set Flow_Table "$ft" flow_limit="$n5" overflow_policy=refuse \
    || cf_fail
no_stats n1 >"$CF_TMPDIR/before-n1"
failed_before=$(n1_failed)
cf_pod_manifest --node n2 --ip 10.1.0.6 z/f app=client >"$M/pod-f.yaml" \
    || cf_fail
cf_conjflow_apply "$M/pod-f.yaml" || cf_fail
cf_wait_until 10 eval '[ "$(n1_failed)" -gt "$failed_before" ]' \
    || { cf_conjflowd_appctl status >&2
         cf_fail "no failed one-flow bundle on n1"; }
one_failed='last error: .*bundle [0-9]* (1 flow_mods) failed, nothing changed'
cf_conjflowd_node_status n1 | grep -q "$one_failed" \
    || { cf_conjflowd_appctl status >&2
         cf_fail "n1: not a one-flow_mod failure"; }
grep -q 'n1: bundle [0-9]*: one flow_mod, committed without a barrier' \
    "$CF_CONJFLOWD_LOG" || cf_fail "no bundle was committed without a barrier"
no_stats n1 | cmp -s - "$CF_TMPDIR/before-n1" \
    || cf_fail "a rejected one-flow bundle changed n1's flows"
cf_vsctl ovs1 clear Flow_Table "$ft" flow_limit overflow_policy || cf_fail
cf_conjflowd_wait_synced 40 || cf_fail "no retry of the one-flow bundle"
[ "$(cf_ofctl n1 dump-flows table=5 | grep -c cookie=)" = $((n5 + 1)) ] \
    || cf_fail "n1: not one more flow in table 5 after the retry"
cf_conjflowd_converged n1 || cf_fail "n1: not converged after the retry"
cf_conjflow_delete "$M/pod-f.yaml" "$M/policy.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail

ignore='connection failed\|Connection refused\|connection dropped\|No such file'
ignore+='\|terminating with signal 15\|failed, nothing changed, will retry'
cf_conjflowd_check_log "$ignore" || cf_fail "unexpected warnings in conjflowd's log"
PASSED=1
cf_log "PASS"
