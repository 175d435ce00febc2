#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-mininet.sh: conjflow-mininet on a two-switch topology, with real
# traffic (root, mininet).
#
# The cluster is examples/two-nodes: nodes node-1 and node-2 joined by a
# trunk, pods blue/server, red/client on node-1 and blue/client,
# red/server on node-2.
#
#   1. --test without policies: every pod reaches every served port, and
#      every verdict equals "conjflowctl matrix";
#   2. --test with examples/two-nodes/policy.yaml (namespace isolation):
#      the probes equal the evaluator, and the cross-namespace pairs across
#      the trunk are blocked while same-namespace ones connect;
#   3. --run: what the topology is made of (netdev bridges in
#      fail_mode=secure managed by conjflowd, iface-id and attached-mac on
#      pod ports, uplink marks on the trunk, TX checksum offload off in the
#      pods), then a policy applied while it runs: conjflowd enforces it
#      within seconds (TCP probes across the trunk) and the command's exit
#      status comes back;
#   4. the CLI: mininet's pingall over conjflowd's flows (no policy);
#   5. every run, also one killed by SIGTERM, leaves nothing behind: no
#      namespace, directory or process.
#
# Exit status: 0 pass, 1 fail, 77 skip (not root, mininet or OVS missing),
# 99 error (conjflow not built).

srcdir=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
export CF_BUILDDIR=${CF_BUILDDIR:-$srcdir}
MN=$srcdir/utilities/conjflow-mininet
EX=$srcdir/examples/two-nodes

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
/usr/bin/python3 -c 'import mininet.net' 2>/dev/null \
    || { echo "SKIP: mininet is not installed (Debian: mininet)"; exit 77; }
for t in ovs-vswitchd ovsdb-server ovs-vsctl mnexec ethtool nsenter; do
    PATH=$PATH:/usr/sbin:/sbin command -v $t >/dev/null \
        || { echo "SKIP: $t is not installed"; exit 77; }
done
for p in controller/conjflowd utilities/conjflowctl tests/cf-netprobe; do
    [ -x "$CF_BUILDDIR/$p" ] || { echo "$p is not built" >&2; exit 99; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/cf-sysmn.XXXXXX") || exit 99
trap 'rm -rf "$T"' EXIT
n_ok=0
ok() { n_ok=$((n_ok + 1)); echo "ok $n_ok - $*"; }
fail() { echo "FAIL: $*"; exit 1; }

# mn ARGS...: runs conjflow-mininet, output in $T/out (stdout+stderr).
mn() {
    timeout 120 "$MN" "$@" >"$T/out" 2>&1
}

# leftovers BEFORE: prints namespaces, directories and vswitchd or
# conjflowd processes of conjflow-mininet that were not in BEFORE (a
# snapshot from snapshot()).
snapshot() {
    { ip netns list | grep -o '^cfmn[^ ]*'
      ls -d "${TMPDIR:-/tmp}"/conjflow-mininet.* 2>/dev/null
      pgrep -f 'conjflow-mininet\.' ; } | sort
}
check_clean() {
    local new
    new=$(comm -13 <(echo "$1") <(snapshot))
    [ -z "$new" ] || fail "$2 left: $new"
}

# 1. No policies.
before=$(snapshot)
mn -f "$EX/cluster.yaml" --test || { cat "$T/out"; fail "--test without policies"; }
grep -q '^9 probes, 0 differ' "$T/out" || { cat "$T/out"; fail "expected 9 agreeing probes"; }
[ "$(grep -c '^ok .* connected (conjflowctl: allowed)' "$T/out")" = 9 ] \
    || { cat "$T/out"; fail "not every probe connected without policies"; }
check_clean "$before" "--test"
ok "--test without policies: 9 probes connected, as conjflowctl says"

# 2. Namespace isolation.
mn -f "$EX/cluster.yaml" -f "$EX/policy.yaml" --test \
    || { cat "$T/out"; fail "--test with the policy"; }
grep -q '^9 probes, 0 differ' "$T/out" || { cat "$T/out"; fail "9 agreeing probes"; }
for line in \
    'blue/client +-> blue/server +80/TCP  connected' \
    'blue/client +-> blue/server +53/UDP  connected' \
    'blue/client +-> red/server +80/TCP  blocked' \
    'red/client +-> red/server +80/TCP  connected' \
    'red/client +-> blue/server +80/TCP  blocked' \
    'red/server +-> blue/server +53/UDP  blocked'; do
    grep -Eq "^ok +$line" "$T/out" || { cat "$T/out"; fail "expected: $line"; }
done
check_clean "$before" "--test with a policy"
ok "--test with namespace isolation: cross-namespace pairs over the trunk blocked, same-namespace connected"

# 3. Inside a run.
cat >"$T/inside.sh" <<'EOF'
set -e
exec 2>&1
echo "dir $CF_MN_DIR"
for p in $(pgrep -f "$CF_MN_DIR"); do
    echo "pid $p $(cut -d' ' -f22 /proc/$p/stat) $(cat /proc/$p/comm)"
done
# host:pid:ns/pod:ip words -> "POD PID IP" lines
hosts=$(for w in $CF_MN_HOSTS; do IFS=: read -r h p k i <<<"$w"; echo "$k $p $i"; done)
pid_of() { echo "$hosts" | awk -v k="$1" '$1 == k { print $2 }'; }
ip_of() { echo "$hosts" | awk -v k="$1" '$1 == k { print $3 }'; }
in_pod() { local p; p=$(pid_of "$1"); shift; nsenter -t "$p" -n "$@"; }
probe() { in_pod "$1" cf-netprobe probe --timeout-ms 2000 "tcp:$(ip_of "$2"):80" | awk '{ print $2 }'; }

for br in br-node-1 br-node-2; do
    [ "$(ovs-vsctl get Bridge $br datapath_type fail_mode | tr '\n' ' ')" = "netdev secure " ] \
        || { echo "bad bridge $br"; exit 10; }
    ovs-vsctl get-controller $br | grep -q "punix:.*$br.conjflow" \
        || { echo "$br: no conjflowd listener"; exit 10; }
done
for pod in blue/server blue/client red/server red/client; do
    port=$(ovs-vsctl --bare --columns=name find Interface "external_ids:iface-id=\"$pod\"")
    [ -n "$port" ] || { echo "no port with iface-id $pod"; exit 11; }
    mac=$(ovs-vsctl get Interface "$port" external_ids:attached-mac | tr -d '"')
    [ "$mac" = "$(in_pod $pod ip -br link show eth0 | awk '{ print $3 }')" ] \
        || { echo "$pod: attached-mac $mac is not eth0's"; exit 11; }
    in_pod $pod ethtool -k eth0 | grep -q '^tx-checksumming: off' \
        || { echo "$pod: TX checksum offload on"; exit 11; }
done
[ "$(ovs-vsctl --bare --columns=name find Interface external_ids:conjflow-uplink=true | grep -c .)" = 2 ] \
    || { echo "trunk ends not marked"; exit 12; }
echo "topology ok"

[ "$(probe red/client blue/server)" = connected ] || { echo "open before"; exit 13; }
conjflowctl apply -f "$POLICY" >/dev/null
t0=$(date +%s%N)
for i in $(seq 200); do
    ovs-appctl -t "$CONJFLOWD_CTL" sync | grep -q synced=yes && break
    sleep 0.05
done
t1=$(date +%s%N)
[ "$(probe red/client blue/server)" = blocked ] || { echo "policy not enforced"; exit 14; }
[ "$(probe blue/client blue/server)" = connected ] || { echo "same namespace cut"; exit 14; }
echo "policy enforced, conjflowd in sync $(( (t1 - t0) / 1000000 )) ms after the apply"
exit 42
EOF
POLICY=$EX/policy.yaml mn -f "$EX/cluster.yaml" --run "POLICY=$EX/policy.yaml bash $T/inside.sh"
status=$?
[ "$status" = 42 ] || { cat "$T/out"; fail "--run: exit status $status, expected 42"; }
grep -q '^topology ok' "$T/out" || { cat "$T/out"; fail "--run: topology checks"; }
grep -q '^policy enforced' "$T/out" || { cat "$T/out"; fail "--run: policy"; }
ok "--run: netdev secure bridges, iface-ids, MACs, trunk marks, TX offload off; $(grep -o 'policy enforced.*' "$T/out"), checked across the trunk; exit status passed on"
dir=$(sed -n 's/^dir //p' "$T/out")
[ -n "$dir" ] && [ ! -e "$dir" ] || fail "--run: $dir left behind"
while read -r _ pid st comm; do
    # Gone, or a zombie (dead, not yet reaped by init).
    [ "$(cut -d' ' -f22 /proc/$pid/stat 2>/dev/null)" != "$st" ] \
        || grep -q '^State:.*Z' /proc/$pid/status 2>/dev/null \
        || fail "--run: process $pid ($comm) left running"
done < <(grep '^pid ' "$T/out")
check_clean "$before" "--run"
ok "--run: its directory and its $(grep -c '^pid ' "$T/out") processes are gone"

# 4. The CLI, fed on stdin.
printf 'pingall\n' | mn -f "$EX/cluster.yaml"
grep -q 'Results: 0% dropped (12/12 received)' "$T/out" \
    || { cat "$T/out"; fail "CLI pingall"; }
check_clean "$before" "the CLI"
ok "CLI: pingall 12/12 over conjflowd's flows"

# 5. Killed in the middle of a command: SIGTERM tears everything down too.
timeout 120 "$MN" -f "$EX/cluster.yaml" \
    --run "echo \$CF_MN_DIR >$T/ready.tmp; mv $T/ready.tmp $T/ready; sleep 100.$$" \
    >"$T/out" 2>&1 &
mnpid=$!
for i in $(seq 600); do
    [ -s "$T/ready" ] && break
    kill -0 $mnpid 2>/dev/null || break
    sleep 0.05
done
[ -s "$T/ready" ] || { cat "$T/out"; fail "the run to be killed did not start"; }
kill -TERM $mnpid
wait $mnpid
status=$?
[ "$status" = 143 ] || { cat "$T/out"; fail "killed run exited $status, expected 143"; }
[ ! -e "$(cat "$T/ready")" ] || fail "killed run left $(cat "$T/ready")"
check_clean "$before" "a killed run"
! pgrep -fx "sleep 100.$$" >/dev/null || fail "the killed run's command left its sleep"
ok "SIGTERM during --run: exit 143, nothing left"

echo "# $n_ok steps passed"
exit 0
