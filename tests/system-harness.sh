#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-harness.sh: the system test of the test harness itself
# (tests/lib/harness.sh and tests/cf-netprobe) on real OVS.
#
# Pods on one bridge, on two bridges linked by patch ports, and on two OVS
# instances linked by a veth, with servers on port 80 (TCP, UDP, SCTP):
#   1. with no flows (fail_mode=secure) nothing passes;
#   2. with a NORMAL flow everywhere every pod reaches every pod on port 80
#      over TCP, UDP and SCTP, and nothing reaches port 81 (no server);
#   3. with a drop flow on one bridge, exactly the pairs whose path crosses
#      it are blocked; with drop flows everywhere nothing passes; a pod
#      made to hairpin (cf_pod_hairpin) reaches itself only through its
#      bridge;
#   4. cf_wait_until polls and gives up at its deadline;
#   5. a run that succeeds, one that fails and one killed by SIGTERM each
#      leave nothing behind: no namespace, no process (not even one started
#      in a pod behind the harness's back), no temporary directory, no
#      device.
#
# Exit status: 0 pass, 1 fail, 77 skip (not root / OVS missing), 99 error.

. "${CF_SRCDIR:-$(dirname "$0")/..}/tests/lib/harness.sh"
cf_init

n_ok=0
# ok MSG: reports a passed step.
ok() {
    n_ok=$((n_ok + 1))
    echo "ok $n_ok - $*"
}

# expect_all VERDICT SRC... -- TARGET...: every SRC to every TARGET.
expect_lines() {
    local verdict=$1 src tgt; shift
    local -a srcs=()
    while [ "$1" != -- ]; do srcs+=("$1"); shift; done
    shift
    for src in "${srcs[@]}"; do
        for tgt in "$@"; do
            echo "$src $tgt $verdict"
        done
    done
}

# all_protos POD PORT: the three targets of POD:PORT.
all_protos() {
    echo "tcp:$1:$2 udp:$1:$2 sctp:$1:$2"
}

# set_flow NODE FLOW: replaces every flow of NODE with FLOW and makes the
# pods forget ARP failures from before.
set_flow() {
    cf_ofctl "$1" del-flows && cf_ofctl "$1" add-flow "$2" && cf_neigh_flush
}

# ---------------------------------------------------------------------
# Topology: o1 has n1 (x/a, x/b) and n2 (y/c), linked by patch ports, and
# n3 (y/d) linked to n2; o2 has n4 (z/e), linked to n3 by a veth.
#
#   x/a x/b      y/c          y/d            z/e
#     [n1]--patch--[n2]--patch--[n3]==veth==[n4]
#     \_________ o1 ______________/        \ o2 /

cf_ovs_start o1 || cf_fail "cf_ovs_start o1"
cf_ovs_start o2 || cf_fail "cf_ovs_start o2"
for n in n1 n2 n3; do cf_node_add o1 $n || cf_fail "cf_node_add $n"; done
cf_node_add o2 n4 || cf_fail "cf_node_add n4"
cf_link n1 n2 && cf_link n2 n3 && cf_link n3 n4 || cf_fail "cf_link"
cf_pod_add n1 x/a 10.11.0.1/16 || cf_fail "cf_pod_add x/a"
cf_pod_add n1 x/b 10.11.0.2/16 || cf_fail "cf_pod_add x/b"
cf_pod_add n2 y/c 10.11.0.3/16 || cf_fail "cf_pod_add y/c"
cf_pod_add n3 y/d 10.11.0.4/16 || cf_fail "cf_pod_add y/d"
cf_pod_add n4 z/e 10.11.0.5/16 || cf_fail "cf_pod_add z/e"
pods=(x/a x/b y/c y/d z/e)
for p in "${pods[@]}"; do
    cf_serve "$p" 80 || cf_fail "cf_serve $p"
done

# The harness set up what it promises.
[ "$(cf_vsctl o1 get Interface "$(cf_pod_port x/a)" external_ids:iface-id)" \
  = '"x/a"' ] || cf_fail "iface-id of x/a"
[ "$(cf_vsctl o1 get Bridge n1 fail_mode datapath_type)" \
  = "$(printf 'secure\nnetdev')" ] || cf_fail "n1 is not a secure netdev bridge"
[ "$(cf_vsctl o1 get Interface patch-n1-to-n2 external_ids:conjflow-uplink)" \
  = '"true"' ] || cf_fail "uplink mark on patch-n1-to-n2"
cf_pod_exec y/c ethtool -k eth0 | grep -q '^tx-checksumming: off' \
    || cf_fail "tx checksum offload still on in y/c"
ok "topology: 2 OVS instances, 4 nodes, 5 pods, servers"

# Every pod to every other pod, on port 80 (served) and 81 (not served).
targets80=(); targets81=()
for p in "${pods[@]}"; do
    targets80+=($(all_protos "$p" 80))
    targets81+=($(all_protos "$p" 81))
done

# pairs VERDICT81 VERDICT80_FN: lines for every ordered pair of distinct
# pods; VERDICT80_FN SRC DST prints the expected verdict on port 80.
pairs() {
    local fn=$1 src dst proto
    for src in "${pods[@]}"; do
        for dst in "${pods[@]}"; do
            [ "$src" != "$dst" ] || continue
            for proto in tcp udp sctp; do
                echo "$src $proto:$dst:80 $($fn "$src" "$dst")"
                echo "$src $proto:$dst:81 blocked"
            done
        done
    done
}
all_blocked() { echo blocked; }
all_connected() { echo connected; }
# Blocked if the path between the two pods crosses n3 (d and e are behind
# it; a, b and c are not).
behind_n3() {
    case $1$2 in
    *y/d*|*z/e*) echo blocked ;;
    *) echo connected ;;
    esac
}

# 1. No flows: a secure bridge forwards nothing.
pairs all_blocked | cf_check_probes || cf_fail "traffic passed without flows"
ok "no flows: all 120 probes blocked"

# 2. NORMAL everywhere.
for n in n1 n2 n3 n4; do
    set_flow $n 'priority=0,actions=NORMAL' || cf_fail "add-flow on $n"
done
cf_wait_until 10 eval 'pairs all_connected | cf_check_probes' \
    || cf_fail "NORMAL: not every pair connected"
ok "NORMAL: same bridge, patch-linked and veth-linked pods connect over TCP, UDP and SCTP; port 81 blocked"

# The matrix function gives the same, itself included.
matrix=$(cf_matrix "tcp:80 udp:80 sctp:80" "${pods[@]}") || cf_fail "cf_matrix"
[ "$(echo "$matrix" | wc -l)" = 75 ] || cf_fail "cf_matrix: $(echo "$matrix" | wc -l) lines, expected 75"
[ "$(echo "$matrix" | grep -c ' connected$')" = 75 ] \
    || cf_fail "cf_matrix: $(echo "$matrix" | grep -v ' connected$')"
[ "$(echo "$matrix" | head -1)" = "x/a tcp:x/a:80 connected" ] \
    || cf_fail "cf_matrix order: $(echo "$matrix" | head -1)"
ok "cf_matrix: 75 probes (5x5 pods x 3 protocols) connected"

# 3. Drop on n3 only, then everywhere.
set_flow n3 'priority=0,actions=drop' || cf_fail "drop on n3"
cf_wait_until 10 eval 'pairs behind_n3 | cf_check_probes' \
    || cf_fail "drop on n3: wrong verdicts"
ok "drop on n3: exactly the pairs through n3 blocked"
for n in n1 n2 n4; do
    set_flow $n 'priority=0,actions=drop' || cf_fail "drop on $n"
done
cf_wait_until 10 eval 'pairs all_blocked | cf_check_probes' \
    || cf_fail "drop everywhere: traffic passed"
ok "drop everywhere: all 120 probes blocked"

# 3b. Hairpin: x/a's traffic to itself goes through n1 once asked to, and
# needs a flow that sends it back out of its port.
cf_pod_hairpin x/a || cf_fail "cf_pod_hairpin x/a"
set_flow n1 'priority=0,actions=NORMAL' || cf_fail "NORMAL on n1"
self=$(all_protos x/a 80)
# hairpin_lines: x/a to itself blocked, x/b to x/a connected.
hairpin_lines() {
    local t
    for t in $self; do
        echo "x/a $t blocked"
        echo "x/b $t connected"
    done
}
cf_wait_until 10 eval 'hairpin_lines | cf_check_probes' \
    || cf_fail "hairpin: x/a reached itself without going through OVS"
ofport=$(cf_vsctl o1 get Interface "$(cf_pod_port x/a)" ofport)
cf_ofctl n1 add-flow \
    "priority=10,in_port=$ofport,dl_dst=$(cf_pod_mac x/a),actions=in_port" \
    || cf_fail "hairpin flow"
# shellcheck disable=SC2086
cf_wait_until 10 cf_expect connected x/a $self \
    || cf_fail "hairpin: x/a cannot reach itself through n1"
ok "hairpin: x/a to itself goes through n1 (blocked by NORMAL, connected with an in_port flow)"

# 4. cf_wait_until gives up at its deadline (and not much later).
t0=$(cf__now_ms)
if cf_wait_until 0.3 false 2>/dev/null; then cf_fail "cf_wait_until false succeeded"; fi
dt=$(( $(cf__now_ms) - t0 ))
[ "$dt" -ge 300 ] && [ "$dt" -lt 2000 ] || cf_fail "cf_wait_until 0.3 took $dt ms"
f=$CF_TMPDIR/later
( : >"$f.tmp" && mv "$f.tmp" "$f" ) &
cf_wait_until 5 test -e "$f" || cf_fail "cf_wait_until missed a file"
wait $!
ok "cf_wait_until: polls, times out after ${dt} ms for 0.3 s"

# ---------------------------------------------------------------------
# 5. Cleanup: child runs that pass, fail, and get killed.

child=$CF_TMPDIR/child.sh
cat >"$child" <<'EOF'
# A child run: builds a little cluster, records what it made in $1, then
# ends as $2 says: "ok" exits 0, "fail" calls cf_fail, "term" waits to be
# killed.
. "$CF_SRCDIR/tests/lib/harness.sh"
cf_init
state=$1 mode=$2
cf_ovs_start c1 || exit 3
cf_node_add c1 m1 && cf_node_add c1 m2 && cf_link m1 m2 || exit 3
cf_pod_add m1 q/a 10.12.0.1/24 && cf_pod_add m2 q/b 10.12.0.2/24 || exit 3
cf_serve q/b 80 || exit 3
# A process the harness doesn't know about: cleanup must still find it.
ip netns exec "$(cf_pod_netns q/a)" "$CF_NETPROBE" serve udp:9 \
    >/dev/null 2>&1 </dev/null &
stray=$!
cf_wait_until 5 eval "ip netns pids $(cf_pod_netns q/a) | grep -qx $stray" \
    || exit 3
# Another, outside the namespaces, naming a file of the run.
: >"$CF_TMPDIR/stray.log"
tail -f "$CF_TMPDIR/stray.log" >/dev/null 2>&1 </dev/null &
stray2=$!
cf_ofctl m1 add-flow priority=0,actions=NORMAL || exit 3
cf_ofctl m2 add-flow priority=0,actions=NORMAL || exit 3
cf_expect connected q/a tcp:q/b:80 sctp:q/b:80 || exit 3
{
    echo "id $CF_RUN_ID"
    echo "dir $CF_TMPDIR"
    for e in "${CF_PIDS[@]}"; do echo "pid ${e%% *} $(echo "$e" | cut -d' ' -f2)"; done
    echo "pid $stray $(cf__starttime $stray)"
    echo "pid $stray2 $(cf__starttime $stray2)"
    set -- ${CF_OVS_PIDS[c1]}
    echo "pid $1 $2"
    echo "pid $3 $4"
} >"$state.tmp"
mv "$state.tmp" "$state"
case $mode in
ok) exit 0 ;;
fail) false || cf_fail "deliberate failure" ;;
term) cf_wait_until 120 false ;;
esac
EOF

# leftovers STATE: prints what the child run described in STATE left.
leftovers() {
    local kind a b id
    while read -r kind a b; do
        case $kind in
        id) id=$a
            ip netns list | grep "^cf$id" | sed 's/^/netns /'
            ip -o link | grep -o "cf$id[^:@]*" | sed 's/^/device /' ;;
        dir) [ ! -e "$a" ] || echo "directory $a" ;;
        pid) ! cf__alive "$a" "$b" || echo "process $a ($(cat /proc/$a/comm))" ;;
        esac
    done <"$1"
}

for mode in ok fail term; do
    state=$CF_TMPDIR/state-$mode
    bash "$child" "$state" "$mode" >"$CF_TMPDIR/child-$mode.log" 2>&1 &
    cpid=$!
    if [ $mode = term ]; then
        cf_wait_until 20 test -e "$state" \
            || cf_fail "child ($mode) did not come up: $(cat "$CF_TMPDIR/child-$mode.log")"
        kill -TERM $cpid
    fi
    wait $cpid; status=$?
    case $mode in ok) want=0 ;; fail) want=1 ;; term) want=143 ;; esac
    [ "$status" = "$want" ] \
        || cf_fail "child ($mode) exited $status, expected $want: $(cat "$CF_TMPDIR/child-$mode.log")"
    [ -s "$state" ] || cf_fail "child ($mode) recorded nothing"
    [ "$(grep -c '^pid' "$state")" -ge 5 ] || cf_fail "child ($mode): too few pids"
    left=$(leftovers "$state")
    [ -z "$left" ] || cf_fail "child ($mode) left: $left"
    ok "cleanup after a run that ended with '$mode' (exit $status): nothing left"
done

echo "# $n_ok steps passed"
exit 0
