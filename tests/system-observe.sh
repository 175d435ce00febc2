#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-observe.sh: conjflow's observability end to end on real Open
# vSwitch (root): two nodes, each on a private OVS (tests/lib/harness.sh),
# linked; four pods; conjflowd with --audit-log, --log-all-denies and
# --metrics-address.
# Checked with real packets:
#
#   1. per-rule statistics: "ovs-appctl -t conjflowd stats" and
#      "conjflowctl stats" show the allowing rule's and the isolation
#      drop's counters, and they move with traffic; N new TCP connections
#      move the rule's connection count by exactly N (packets by more);
#   2. audit log: one denied UDP datagram gives exactly one "deny" line
#      naming the isolating policy and both pods; one allowed UDP datagram
#      of a policy with conjflow.io/log: "true" gives exactly one "allow"
#      line naming the policy and rule; replies log nothing; a policy
#      without the annotation logs no allow.  "Exactly one" is checked
#      without sleeping: a later marker datagram's line must come after it
#      with nothing in between (packet-ins arrive in order);
#   3. conjflowctl trace agrees with conjflowctl explain for allowed and
#      denied packets, on one node and across nodes (each node's side),
#      names the flow's policy and rule, and reports a disagreement (an
#      isolation flow removed behind conjflowd's back) as a bug, exit 1;
#   4. the metrics endpoint answers HTTP with valid Prometheus text
#      (a small parser in Python: TYPE before samples, valid names, labels
#      and values, histogram buckets cumulative and ending at +Inf =
#      _count);
#   5. "conjflowctl get networkpolicies -o wide" shows on how many of the
#      nodes where it applies each policy is realized (x/web 1/1, y/db 2/2;
#      then x/web 1/2 once a node that cannot be reached gets a pod it
#      selects).

. "${CF_SRCDIR:-$(dirname "$0")/..}/tests/lib/harness.sh" || exit 99
cf_init
cf_conjflow_init conjflowd conjflowctl
command -v python3 >/dev/null || cf_skip "python3 is not installed"

AUDIT=$CF_TMPDIR/audit.log

# On failure: the audit log, conjflowd's view and log.
PASSED=
diagnose() {
    [ -z "$PASSED" ] || return 0
    echo "=== audit log ===" >&2
    cat "$AUDIT" >&2 2>/dev/null
    cf_conjflowd_diagnose 30
}
cf_on_exit diagnose

# free_port: prints a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# send_udp POD IP PORT [SPORT]: sends exactly one UDP datagram from POD.
send_udp() {
    cf_pod_exec "$1" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[3])))
s.sendto(b"observe", (sys.argv[1], int(sys.argv[2])))
' "$2" "$3" "${4:-0}"
}

# audit_count PATTERN: number of audit lines matching the extended regex.
audit_count() {
    grep -cE -- "$1" "$AUDIT" 2>/dev/null || true
}

# wait_audit PATTERN: waits (5 s) for an audit line matching PATTERN.
wait_audit() {
    cf_wait_until 5 eval "[ \"\$(audit_count '$1')\" -ge 1 ]" \
        || { echo "no audit line matches: $1" >&2; return 1; }
}

# audit_restart: empties the audit log once every line of packets sent so
# far is in: a fence datagram (denied, from y/c) is sent and its line
# awaited first (a node's packet-ins arrive in order, so whatever was sent
# before it, a TCP SYN retransmitted by an earlier probe included, is
# logged before it).
FENCE=7000
audit_restart() {
    FENCE=$((FENCE + 1))
    send_udp y/c 10.1.0.2 81 $FENCE || return 1
    wait_audit "src=10.1.0.3:$FENCE " || return 1
    : >"$AUDIT"
}

# stat_field NODE KEY FIELD: from conjflowd's "stats NODE", prints FIELD
# (packets or bytes) of the line starting with KEY.
stat_field() {
    cf_conjflowd_appctl stats "$1" | grep -F -- "$2" | tr ' ' '\n' \
        | sed -n "s/^$3=//p" | head -1
}

cf_ovs_node_add ovs1 n1 br-int || cf_fail "cannot start node n1"
cf_ovs_node_add ovs2 n2 br-int || cf_fail "cannot start node n2"
cf_link n1 n2 || cf_fail
cf_pod_add n1 x/a 10.1.0.1/16 || cf_fail
cf_pod_add n1 x/b 10.1.0.2/16 || cf_fail
cf_pod_add n1 y/c 10.1.0.3/16 || cf_fail
cf_pod_add n2 y/d 10.1.0.4/16 || cf_fail
cf_serve x/b 80 || cf_fail
cf_serve y/c 80 || cf_fail
cf_serve y/d 80 || cf_fail

M=$CF_TMPDIR/manifests
mkdir -p "$M"
{ cf_node_manifest n1 && cf_node_manifest n2; } >"$M/nodes.yaml" || cf_fail
{ cf_namespace_manifest x && cf_namespace_manifest y \
  && cf_pod_manifest x/a app=client && cf_pod_manifest x/b app=web \
  && cf_pod_manifest y/c app=db && cf_pod_manifest y/d app=client; } \
    >"$M/pods.yaml" || cf_fail
cat >"$M/policies.yaml" <<EOF
---
# x/b accepts x/a on TCP and UDP 80 (logged); everything else to x/b is
# denied by isolation.
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: x
  name: web
  annotations: {conjflow.io/log: "true"}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports:
    - {protocol: TCP, port: 80}
    - {protocol: UDP, port: 80}
---
# y's pods accept clients of any namespace (not logged).
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: y, name: db}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector: {matchLabels: {app: client}}
EOF
cf_conjflow_apply "$M/nodes.yaml" "$M/pods.yaml" "$M/policies.yaml" \
    || cf_fail "conjflowctl apply failed"

METRICS_PORT=$(free_port) || cf_fail
cf_conjflowd_start --audit-log="$AUDIT" --log-all-denies \
    --stats-interval=500 --metrics-address="127.0.0.1:$METRICS_PORT" \
    || cf_fail "conjflowd did not start"
cf_conjflowd_wait_synced || cf_fail "conjflowd did not program the nodes"

# The audit flows are there: the meter, the commit flow, the isolation
# drop with controller().
cf_ofctl n1 dump-meters | grep -q 'meter=207 pktps burst' \
    || cf_fail "no audit meter on n1"
cf_ofctl n1 dump-flows table=6 | grep -q 'controller(userdata=cf.00.00.02' \
    || cf_fail "the isolation drop does not log"

# ---------------------------------------------------------------------
cf_log "2. audit log"
cf_expect connected x/a tcp:x/b:80 || cf_fail "x/a cannot reach x/b"
cf_expect blocked y/c tcp:x/b:80 || cf_fail "y/c reaches x/b"
audit_restart || cf_fail

# One denied datagram, then a marker (another denied port).
send_udp y/c 10.1.0.2 80 5001 || cf_fail
send_udp y/c 10.1.0.2 81 5002 || cf_fail
wait_audit 'verdict=deny .*src=10.1.0.3:5002 dst=10.1.0.2:81' || cf_fail
deny_re='node=n1 verdict=deny direction=ingress proto=udp src=10.1.0.3:5001 dst=10.1.0.2:80 from=y/c to=x/b policy=x/web rule=isolation$'
n=$(audit_count "$deny_re")
[ "$n" = 1 ] || cf_fail "one denied datagram gave $n matching lines"
n=$(grep -c . "$AUDIT")
[ "$n" = 2 ] || cf_fail "two denied datagrams gave $n lines"
head -1 "$AUDIT" | grep -qE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z node=' \
    || cf_fail "bad time stamp: $(head -1 "$AUDIT")"

# One allowed datagram of the logged policy (the server's echo is a reply:
# not logged), then a denied marker.
audit_restart || cf_fail
send_udp x/a 10.1.0.2 80 5003 || cf_fail
send_udp y/c 10.1.0.2 81 5004 || cf_fail
wait_audit 'src=10.1.0.3:5004' || cf_fail
allow_re='node=n1 verdict=allow direction=ingress proto=udp src=10.1.0.1:5003 dst=10.1.0.2:80 from=x/a to=x/b policy=x/web rule=ingress\[0\]$'
n=$(audit_count "$allow_re")
[ "$n" = 1 ] || cf_fail "one allowed datagram gave $n matching lines"
n=$(grep -c . "$AUDIT")
[ "$n" = 2 ] || cf_fail "one allowed datagram and a marker gave $n lines"

# The unlogged policy y/db: an allowed datagram logs nothing.
audit_restart || cf_fail
send_udp x/a 10.1.0.3 80 5005 || cf_fail
send_udp y/c 10.1.0.2 81 5006 || cf_fail
wait_audit 'src=10.1.0.3:5006' || cf_fail
[ "$(audit_count 'src=10.1.0.1:5005')" = 0 ] \
    || cf_fail "a policy without conjflow.io/log logged an allow"
# Log rotation: move the file away, reopen, the next line goes to a new
# file.
mv "$AUDIT" "$AUDIT.1" || cf_fail
cf_conjflowd_appctl audit/reopen || cf_fail "audit/reopen failed"
send_udp y/c 10.1.0.2 81 5007 || cf_fail
wait_audit 'src=10.1.0.3:5007' || cf_fail "no line after audit/reopen"
[ "$(grep -c 5007 "$AUDIT.1")" = 0 ] || cf_fail "line went to the old file"
cf_log "audit log: one line per denied or allowed datagram"

# ---------------------------------------------------------------------
cf_log "1. per-rule statistics"
allow_key='allow policy=x/web id='
deny_key='deny direction=ingress pod=x/b ip=10.1.0.2'
cf_wait_until 5 eval '[ -n "$(stat_field n1 "$allow_key" packets)" ]' \
    || { cf_conjflowd_appctl stats n1 >&2; cf_fail "no statistics for x/web"; }
a1=$(stat_field n1 "$allow_key" packets)
d1=$(stat_field n1 "$deny_key" packets)
b1=$(stat_field n1 "$allow_key" bytes)
[ "${a1:-0}" -gt 0 ] && [ "${d1:-0}" -gt 0 ] && [ "${b1:-0}" -gt 0 ] \
    || { cf_conjflowd_appctl stats n1 >&2; cf_fail "counters did not count: allow=$a1 deny=$d1"; }
for port in 6001 6002 6003; do
    send_udp x/a 10.1.0.2 80 $port || cf_fail
    send_udp y/c 10.1.0.2 80 $port || cf_fail
done
# OVS moves datapath counters to its flows every few hundred ms: poll.
moved() {
    a2=$(stat_field n1 "$allow_key" packets)
    d2=$(stat_field n1 "$deny_key" packets)
    [ "$a2" -ge $((a1 + 3)) ] && [ "$d2" -ge $((d1 + 3)) ]
}
cf_wait_until 5 moved \
    || { cf_conjflowd_appctl stats n1 >&2; cf_fail "counters did not move: allow $a1->$a2, deny $d1->$d2"; }
cf_log "stats: x/web ingress[0] $a1 -> $a2 packets, x/b isolation $d1 -> $d2"
# conjflowctl reads what conjflowd stored (every --stats-interval).
cf_wait_until 5 eval "cf_conjflowctl stats | grep -q 'x/web'" \
    || { cf_conjflowctl stats >&2; cf_fail "conjflowctl stats shows no x/web"; }
cf_conjflowctl stats | grep -E '^n1 +x/web +ingress\[0\] +[0-9]+ +[0-9]+ +[0-9]+$' >/dev/null \
    || { cf_conjflowctl stats >&2; cf_fail "conjflowctl stats: bad x/web row"; }
cf_conjflowctl stats | grep -E '^NODE +POLICY +RULE +PACKETS +BYTES +CONNECTIONS$' \
    >/dev/null || { cf_conjflowctl stats >&2; cf_fail "conjflowctl stats: no CONNECTIONS column"; }

# Connections (conn_count, see cflow.h): N new TCP connections move the
# rule's connection counter by exactly N and its packet counter by more
# (the handshake's last ACK and the close are packets of the same
# connections).  Through the logged commit flow (x/web) and the unlogged
# one (y/db).
conns_moved() {
    c2=$(stat_field n1 "$1" connections)
    p2=$(stat_field n1 "$1" packets)
    [ "${c2:-0}" -ge $((c1 + $2)) ] && [ "${p2:-0}" -ge $((p1 + 2 * $2)) ]
}
# check_conns KEY SRC TARGET N
check_conns() {
    local key=$1 from=$2 to=$3 n=$4 i   # (cf_expect sets src, tgt.)
    c1=$(stat_field n1 "$key" connections)
    p1=$(stat_field n1 "$key" packets)
    [ -n "$c1" ] && [ -n "$p1" ] \
        || { cf_conjflowd_appctl stats n1 >&2; cf_fail "no connection count for $key"; }
    for i in $(seq "$n"); do
        cf_expect connected "$from" "$to" || cf_fail "$from cannot reach $to"
    done
    cf_wait_until 5 conns_moved "$key" "$n" \
        || { cf_conjflowd_appctl stats n1 >&2; cf_fail "$key: connections $c1->$c2, packets $p1->$p2 after $n connections"; }
    c2=$(stat_field n1 "$key" connections)
    p2=$(stat_field n1 "$key" packets)
    [ "$c2" = $((c1 + n)) ] \
        || { cf_conjflowd_appctl stats n1 >&2; cf_fail "$key: $n connections counted $((c2 - c1))"; }
    [ $((p2 - p1)) -gt "$n" ] \
        || cf_fail "$key: packets moved $((p2 - p1)), not more than $n"
    cf_log "stats: $key $n connections: connections $c1 -> $c2, packets $p1 -> $p2"
}
check_conns 'allow policy=x/web id=' x/a tcp:x/b:80 3
check_conns 'allow policy=y/db id=' x/a tcp:y/c:80 2
cf_wait_until 5 eval "cf_conjflowctl stats | grep -qE '^n1 +y/db +ingress\[0\] +[0-9]+ +[0-9]+ +$c2\$'" \
    || { cf_conjflowctl stats >&2; cf_fail "conjflowctl stats: y/db does not show $c2 connections"; }

# The controller() actions survive a dump and diff unchanged: recompute
# (dump again, compare) sends nothing.
mods=$(cf_conjflowd_sync_field flow_mods)
cf_conjflowd_appctl recompute >/dev/null || cf_fail "recompute failed"
cf_conjflowd_wait_synced || cf_fail
mods2=$(cf_conjflowd_sync_field flow_mods)
[ "$mods" = "$mods2" ] \
    || cf_fail "recompute sent flow_mods ($mods -> $mods2): audit flows do not round-trip"

# ---------------------------------------------------------------------
cf_log "3. trace agrees with explain"
for t in "x/a x/b 80/TCP 0 allowed" "x/a x/b 80/UDP 0 allowed" \
         "y/c x/b 80/TCP 0 denied" "x/a y/c 80/TCP 0 allowed" \
         "y/c x/b 81/UDP 0 denied"; do
    set -- $t
    out=$(cf_conjflowctl trace n1 "$1" "$2" "$3"); rc=$?
    [ "$rc" = "$4" ] || { echo "$out" >&2; cf_fail "trace n1 $1 $2 $3: exit $rc"; }
    echo "$out" | grep -q "^trace:   $5" \
        || { echo "$out" >&2; cf_fail "trace n1 $1 $2 $3: not $5"; }
    echo "$out" | grep -q "^explain: $5" \
        || { echo "$out" >&2; cf_fail "explain n1 $1 $2 $3: not $5"; }
    echo "$out" | grep -qx agree || { echo "$out" >&2; cf_fail "no agree"; }
done
# Across nodes each node enforces its side: the source's node egress (the
# packet leaves by the uplink), the destination's node ingress (it arrives
# on the uplink).
cf_expect connected x/a tcp:y/d:80 || cf_fail "x/a cannot reach y/d"
cf_expect blocked y/d tcp:x/b:80 || cf_fail "y/d reaches x/b"
for t in "n2 y/d x/b egress allowed" "n1 y/d x/b ingress denied" \
         "n1 x/a y/d egress allowed" "n2 x/a y/d ingress allowed"; do
    set -- $t
    out=$(cf_conjflowctl trace "$1" "$2" "$3" 80/TCP) \
        || { echo "$out" >&2; cf_fail "trace $t: exit $?"; }
    echo "$out" | grep -q "^trace:   $5" && echo "$out" | grep -q "^explain: $5 ($4 only" \
        || { echo "$out" >&2; cf_fail "trace $t"; }
done
cf_conjflowctl trace n1 x/a x/b 80/TCP | grep -q 'allowed by networkpolicy x/web ingress\[0\]' \
    || cf_fail "trace does not name the allowing rule"
cf_conjflowctl trace n1 y/c x/b 80/TCP | grep -q 'ingress_isolation: dropped' \
    || cf_fail "trace does not name the isolation drop"
# The vswitchd control socket can be given explicitly, and a wrong one is
# an error (2), not a verdict.
cf_conjflowctl trace --vswitchd-ctl "$(cf_ovs_dir ovs1)/ovs-vswitchd.ctl" n1 x/a x/b 80/TCP \
    >/dev/null || cf_fail "trace --vswitchd-ctl failed"
cf_conjflowctl trace --vswitchd-ctl "$CF_TMPDIR/nonexistent.ctl" n1 x/a x/b 80/TCP \
    >/dev/null 2>&1
[ $? = 2 ] || cf_fail "trace with a bad control socket did not exit 2"
# A disagreement is reported as a bug: remove the isolation drop behind
# conjflowd's back (it restores it at the next reconcile).
cf_ofctl n1 del-flows 'table=6,ip,nw_dst=10.1.0.2' || cf_fail
out=$(cf_conjflowctl trace n1 y/c x/b 80/TCP); rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q '^BUG:' \
    || { echo "$out" >&2; cf_fail "a disagreement was not reported (exit $rc)"; }
cf_conjflowd_appctl recompute >/dev/null
cf_wait_until 10 eval "cf_conjflowctl trace n1 y/c x/b 80/TCP >/dev/null" \
    || cf_fail "conjflowd did not restore the isolation drop"

# ---------------------------------------------------------------------
cf_log "4. Prometheus metrics"
python3 - "127.0.0.1" "$METRICS_PORT" <<'PY' || cf_fail "bad metrics"
import re, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=5)
s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
lines = head.decode().split("\r\n")
assert lines[0] == "HTTP/1.1 200 OK", lines[0]
hdrs = dict(l.split(": ", 1) for l in lines[1:])
assert hdrs["Content-Type"].startswith("text/plain; version=0.0.4"), hdrs
assert int(hdrs["Content-Length"]) == len(body), "length"
text = body.decode()
assert text.endswith("\n")
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(r"^(%s)(\{(%s(,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
types, samples = {}, []
for line in text.splitlines():
    if line.startswith("# HELP "):
        assert re.match(r"^# HELP %s .*$" % NAME, line), line
    elif line.startswith("# TYPE "):
        _, _, name, typ = line.split(" ")
        assert typ in ("counter", "gauge", "histogram", "summary", "untyped")
        assert name not in types, "TYPE twice: " + name
        types[name] = typ
    else:
        m = SAMPLE.match(line)
        assert m, "bad sample line: " + line
        name, value = m.group(1), m.group(5)
        float(value)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or base in types, "no TYPE before " + name
        samples.append((name, m.group(3) or "", float(value)))
get = lambda n, l="": [v for (k, lab, v) in samples if k == n and l in lab]
assert get("conjflow_node_synced", 'node="n1"') == [1.0]
assert get("conjflow_node_connected", 'node="n1"') == [1.0]
assert get("conjflow_node_flows_installed", 'node="n1"')[0] > 10
assert get("conjflow_store_seq")[0] > 0
assert get("conjflow_change_feed_lag") == [0.0]
assert get("conjflow_audit_lines_total")[0] >= 8
assert types["conjflow_realization_seconds"] == "histogram"
buckets = [(lab, v) for (k, lab, v) in samples
           if k == "conjflow_realization_seconds_bucket"]
vals = [v for _, v in buckets]
assert vals == sorted(vals), "buckets not cumulative"
assert buckets[-1][0] == 'le="+Inf"', buckets[-1]
assert buckets[-1][1] == get("conjflow_realization_seconds_count")[0]
assert buckets[-1][1] >= 1, "no realization observed"
print("metrics: %d samples, %d families" % (len(samples), len(types)))
PY
curl_404=$(python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /nope HTTP/1.1\r\n\r\n")
print(s.recv(100).decode().split("\r\n")[0])' "$METRICS_PORT")
[ "$curl_404" = "HTTP/1.1 404 Not Found" ] || cf_fail "unknown path: $curl_404"

# ---------------------------------------------------------------------
cf_log "5. realization status"
cf_wait_until 5 eval "cf_conjflowctl get networkpolicies -A -o wide | grep -Eq '^x +web .* 1/1\$'" \
    || { cf_conjflowctl get networkpolicies -A -o wide >&2; cf_fail "x/web not shown realized on 1/1"; }
cf_conjflowctl get networkpolicies -A -o wide | head -1 | grep -q 'REALIZED$' \
    || cf_fail "no REALIZED column"

# y/db applies on both nodes.
cf_wait_until 5 eval "cf_conjflowctl get networkpolicies -A -o wide | grep -Eq '^y +db .* 2/2\$'" \
    || { cf_conjflowctl get networkpolicies -A -o wide >&2; cf_fail "y/db not realized on 2/2"; }
# A third node that cannot be reached, with a pod x/web selects: x/web
# is realized on 1 of 2 nodes, y/db still on 2 of 2.
{ cf_node_manifest n3 "unix:$CF_TMPDIR/nowhere/db.sock" br-int \
  && cf_pod_manifest --node n3 --ip 10.1.0.9 x/z app=web; } >"$M/n3.yaml" \
    || cf_fail
cf_conjflow_apply "$M/n3.yaml" || cf_fail "cannot add n3"
cf_wait_until 5 eval "cf_conjflowctl get networkpolicies -A -o wide | grep -Eq '^x +web .* 1/2\$'" \
    || { cf_conjflowctl get networkpolicies -A -o wide >&2; cf_fail "x/web not shown realized on 1/2"; }
cf_conjflowctl get networkpolicies -A -o wide | grep -Eq '^y +db .* 2/2$' \
    || { cf_conjflowctl get networkpolicies -A -o wide >&2; cf_fail "y/db not 2/2"; }
python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
d = b""
while True:
    c = s.recv(65536)
    if not c: break
    d += c
t = d.decode()
assert "conjflow_node_connected{node=\"n3\"} 0\n" in t, "n3 shown connected"
assert "conjflow_node_connected{node=\"n2\"} 1\n" in t, "n2 not connected"
assert "conjflow_node_synced{node=\"n1\"} 1\n" in t, "n1 not synced"
' "$METRICS_PORT" || cf_fail "metrics do not show n3 down"

# For the log: what an operator sees.
{ echo "--- ovs-appctl -t conjflowd stats n1"; cf_conjflowd_appctl stats n1
  echo "--- conjflowctl stats"; cf_conjflowctl stats
  echo "--- conjflowctl trace n1 y/c x/b 80/TCP"; cf_conjflowctl trace n1 y/c x/b 80/TCP
  echo "--- conjflowctl get networkpolicies -A -o wide"
  cf_conjflowctl get networkpolicies -A -o wide
  echo "--- audit log (last 3 lines)"; tail -3 "$AUDIT"; } >&2

PASSED=1
echo "system-observe: PASS"
