#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-crossnode.sh: conntrack state across nodes (root).
#
# Egress is enforced on the source pod's node and ingress on the destination
# pod's node, each with its own conntrack.  A connection that the source's
# node allows is committed there; if the destination's node then denies it,
# packets on its reverse 5-tuple would pass the source's node as replies,
# without the source pod's ingress policy.  conjflow closes this by
# remembering the deny where it happens (ct_mark "denied", see
# include/conjflow/cflow.h, "Cross-node state").  Two nodes, each on its own
# private OVS (own conntrack), linked by a veth; conjflowd programs them.
# Real packets:
#
#   1. UDP: x/a (n1) sends from a fixed port to z/b (n2), whose ingress
#      denies everything; z/b then sends from that port back to x/a's port:
#      x/a must not receive it (x/a's ingress allows namespace x only).  n2
#      holds the attempt in conntrack with the denied mark.
#   2. Controls: the same exchange with z/c (n2, not isolated) is a reply
#      and is received; z/c sending to x/a on a fresh port is blocked (x/a's
#      ingress); with the "reply of a denied connection" flow removed from
#      n2 behind conjflowd's back, case 1's packet is received (the gap this
#      closes), and conjflowd puts the flow back.
#   3. TCP revocation: x/a keeps a connection to z/d:80 (n2) that z/d's
#      ingress allows, sending a byte every 100 ms while z/d pushes a byte
#      every 50 ms.  A policy update revokes it: once n2 has marked the
#      connection denied (x/a's next packet), z/d's packets on it no longer
#      reach x/a.  Allowing it again lets it resume (x/a's next
#      retransmission clears the mark).
#
# Exit status: 0 pass, 1 fail, 77 skip (not root / OVS missing), 99 error.

. "${CF_SRCDIR:-$(dirname "$0")/..}/tests/lib/harness.sh" || exit 99
cf_init
[ -n "$CF_TMPDIR" ] && [ -d "$CF_TMPDIR" ] \
    || { echo "harness: no temporary directory" >&2; exit 99; }

cf_conjflow_init conjflowd conjflowctl
command -v python3 >/dev/null || cf_skip "python3 is not installed"

PY=$CF_TMPDIR/crossnode.py

# On failure: conjflowd's view, n2's flows and conntrack.
PASSED=
diagnose() {
    [ -z "$PASSED" ] || return 0
    cf_conjflowd_diagnose 20
    echo "=== n2 table 2 and 7 ===" >&2
    cf_ofctl n2 dump-flows table=2 >&2
    cf_ofctl n2 dump-flows table=7 >&2
    echo "=== ovs2 conntrack ===" >&2
    cf_appctl ovs2 dpctl/dump-conntrack >&2
}
cf_on_exit diagnose

# The packet tools (python3, run in the pods' namespaces).
cat >"$PY" <<'EOF'
import os, select, socket, sys, time

def put(path, text):
    """Appends a line to 'path' (flushed, so the test can poll it)."""
    with open(path, "a") as f:
        f.write(text + "\n")

def count(path, n):
    """Replaces 'path' with the number 'n' (atomically)."""
    with open(path + ".tmp", "w") as f:
        f.write("%d\n" % n)
    os.rename(path + ".tmp", path)

mode = sys.argv[1]
if mode == "udp-exchange":
    # udp-exchange LPORT DST DPORT LOG TIMEOUT: binds LPORT, sends one
    # datagram to DST:DPORT, logs "sent", then logs every datagram received
    # ("from IP:PORT PAYLOAD") until one says "marker" or TIMEOUT s pass;
    # logs "done".
    lport, dst, dport, log, timeout = (int(sys.argv[2]), sys.argv[3],
                                       int(sys.argv[4]), sys.argv[5],
                                       float(sys.argv[6]))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", lport))
    s.sendto(b"hello", (dst, dport))
    put(log, "sent")
    deadline = time.time() + timeout
    while time.time() < deadline:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            data, addr = s.recvfrom(100)
        except socket.timeout:
            break
        put(log, "from %s:%d %s" % (addr[0], addr[1], data.decode()))
        if data == b"marker":
            break
    put(log, "done")
elif mode == "udp-send":
    # udp-send LPORT DST DPORT PAYLOAD: one datagram from LPORT.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(sys.argv[2])))
    s.sendto(sys.argv[5].encode(), (sys.argv[3], int(sys.argv[4])))
elif mode == "tcp-push-server":
    # tcp-push-server PORT SENT: accepts one connection, then sends a byte
    # every 50 ms (SENT: bytes handed to the socket so far) and reads what
    # the client sends, until the client closes.
    port, sent_path = int(sys.argv[2]), sys.argv[3]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    count(sent_path, 0)
    c, _ = ls.accept()
    c.setblocking(False)
    n = 0
    while True:
        r, _, _ = select.select([c], [], [], 0.05)
        if r:
            try:
                if not c.recv(4096):
                    break
            except BlockingIOError:
                pass
        try:
            n += c.send(b"p")
        except BlockingIOError:
            pass
        count(sent_path, n)
elif mode == "tcp-client":
    # tcp-client DST PORT RECEIVED: connects, sends a byte every 100 ms and
    # counts the bytes it receives (RECEIVED), forever.
    dst, port, recv_path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.create_connection((dst, port), timeout=5)
    s.setblocking(False)
    n = 0
    count(recv_path, 0)
    last = 0
    while True:
        r, _, _ = select.select([s], [], [], 0.02)
        if r:
            data = s.recv(4096)
            if not data:
                break
            n += len(data)
            count(recv_path, n)
        if time.time() - last >= 0.1:
            last = time.time()
            try:
                s.send(b"h")
            except BlockingIOError:
                pass
EOF

# udp_exchange POD LPORT DST_POD DPORT LOG: starts the udp-exchange in POD
# (background, 5 s deadline) and waits until it has sent.
udp_exchange() {
    local ns
    ns=$(cf_pod_netns "$1") || return 1
    rm -f "$5"
    ip netns exec "$ns" python3 "$PY" udp-exchange "$2" "$(cf_pod_ip "$3")" \
        "$4" "$5" 5 </dev/null >/dev/null 2>&1 &
    cf_track_pid $! "udp-exchange in $1"
    cf_wait_until 5 log_has '^sent$' "$5"
}

# log_has PATTERN FILE: true if FILE exists and has a line matching
# PATTERN.
log_has() {
    grep -q "$1" "$2" 2>/dev/null
}

# udp_send POD LPORT DST_POD DPORT PAYLOAD: one datagram.
udp_send() {
    cf_pod_exec "$1" python3 "$PY" udp-send "$2" "$(cf_pod_ip "$3")" "$4" \
        "$5"
}

# n2_ct PATTERN: true if ovs2's conntrack has an entry matching PATTERN (an
# extended regular expression).
n2_ct() {
    cf_appctl ovs2 dpctl/dump-conntrack 2>/dev/null | grep -Eq "$1"
}

# exchange_done LOG: waits for the udp-exchange writing LOG to finish.
exchange_done() {
    cf_wait_until 10 log_has '^done$' "$1"
}

# ---------------------------------------------------------------------
# The cluster: x/a on n1; z/b, z/c, z/d and x/m (the marker sender) on n2.

cf_ovs_node_add ovs1 n1 br-int || cf_fail "cannot start node n1"
cf_ovs_node_add ovs2 n2 br-int || cf_fail "cannot start node n2"
cf_link n1 n2 || cf_fail
cf_pod_add n1 x/a 10.1.0.1/16 || cf_fail
cf_pod_add n2 z/b 10.1.0.2/16 || cf_fail
cf_pod_add n2 z/c 10.1.0.3/16 || cf_fail
cf_pod_add n2 z/d 10.1.0.4/16 || cf_fail
cf_pod_add n2 x/m 10.1.0.5/16 || cf_fail

M=$CF_TMPDIR/manifests
mkdir -p "$M"
{ cf_node_manifest n1 && cf_node_manifest n2 \
  && cf_namespace_manifest x team=x && cf_namespace_manifest z team=z \
  && cf_pod_manifest x/a app=a && cf_pod_manifest z/b app=b \
  && cf_pod_manifest z/c app=c && cf_pod_manifest z/d app=d \
  && cf_pod_manifest x/m app=m; } >"$M/cluster.yaml" || cf_fail
# x/a admits namespace x only; z/b admits nobody; z/d admits namespace x
# on TCP 80 (revoked and restored in 3).
cat >"$M/policies.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: a-from-x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from:
    - podSelector: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: z, name: b-deny}
spec:
  podSelector: {matchLabels: {app: b}}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: z, name: d-from-x}
spec:
  podSelector: {matchLabels: {app: d}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: x}}
    ports:
    - {protocol: TCP, port: 80}
EOF
cat >"$M/d-revoked.yaml" <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: z, name: d-from-x}
spec:
  podSelector: {matchLabels: {app: d}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: nobody}}
    ports:
    - {protocol: TCP, port: 80}
EOF

cf_conjflow_apply "$M/cluster.yaml" "$M/policies.yaml" \
    || cf_fail "conjflowctl apply failed"
cf_conjflowd_start || cf_fail "conjflowd did not start"
cf_conjflowd_wait_synced || cf_fail "conjflowd did not program the nodes"
# Permanent neighbours, so that no datagram waits for ARP: the packets of
# a case then arrive in the order they were sent (a marker last).
for p in z/b z/c z/d x/m; do
    cf_pod_exec x/a ip neigh replace "$(cf_pod_ip $p)" \
        lladdr "$(cf_pod_mac $p)" dev eth0 nud permanent || cf_fail
    cf_pod_exec "$p" ip neigh replace "$(cf_pod_ip x/a)" \
        lladdr "$(cf_pod_mac x/a)" dev eth0 nud permanent || cf_fail
done

# ---------------------------------------------------------------------
cf_log "1. a denied UDP attempt does not open a way back"
L=$CF_TMPDIR/udp-1
udp_exchange x/a 6001 z/b 80 "$L" || cf_fail "x/a did not send"
# n2 remembers the attempt, marked denied.
AB='src=10\.1\.0\.1,dst=10\.1\.0\.2'    # x/a -> z/b in conntrack
cf_wait_until 5 n2_ct "$AB,sport=6001,dport=80.*mark=1" \
    || cf_fail "n2 holds no denied conntrack entry for x/a:6001 -> z/b:80"
udp_send z/b 80 x/a 6001 gap || cf_fail
udp_send x/m 7000 x/a 6001 marker || cf_fail
exchange_done "$L" || cf_fail "udp exchange 1 did not finish"
grep -q '10\.1\.0\.5:7000 marker' "$L" \
    || cf_fail "x/a missed the marker: $(cat "$L")"
! grep -q 'gap' "$L" \
    || cf_fail "z/b reached x/a on the reverse 5-tuple of a denied attempt"

# ---------------------------------------------------------------------
cf_log "2. controls: an allowed exchange's reply passes;" \
       "the gap without the fix"
L=$CF_TMPDIR/udp-2
udp_exchange x/a 6002 z/c 80 "$L" || cf_fail "x/a did not send"
cf_wait_until 5 n2_ct 'src=10\.1\.0\.1,dst=10\.1\.0\.3,sport=6002,dport=80' \
    || cf_fail "n2 has no conntrack entry for x/a:6002 -> z/c:80"
n2_ct 'src=10\.1\.0\.1,dst=10\.1\.0\.3,sport=6002,dport=80.*mark=1' \
    && cf_fail "an allowed connection is marked denied"
udp_send z/c 80 x/a 6002 reply || cf_fail
udp_send x/m 7000 x/a 6002 marker || cf_fail
exchange_done "$L" || cf_fail "udp exchange 2 did not finish"
grep -q '10\.1\.0\.3:80 reply' "$L" \
    || cf_fail "x/a did not receive z/c's reply: $(cat "$L")"
# Not a reply: x/a's ingress blocks z/c.
L=$CF_TMPDIR/udp-3
udp_exchange x/a 6003 x/m 9 "$L" || cf_fail
udp_send z/c 80 x/a 6003 new || cf_fail
udp_send x/m 7000 x/a 6003 marker || cf_fail
exchange_done "$L" || cf_fail "udp exchange 3 did not finish"
grep -q 'marker' "$L" && ! grep -q ' new$' "$L" \
    || cf_fail "x/a's ingress did not block z/c: $(cat "$L")"
# Without the drop of replies of denied connections (removed behind
# conjflowd's back, and the datapath cache purged), case 1 is received:
# the gap this test is about.
L=$CF_TMPDIR/udp-4
udp_exchange x/a 6004 z/b 80 "$L" || cf_fail "x/a did not send"
cf_wait_until 5 n2_ct "$AB,sport=6004,dport=80.*mark=1" \
    || cf_fail "n2 holds no denied entry for x/a:6004 -> z/b:80"
cf_ofctl n2 del-flows 'table=2,ct_state=+est+rpl+trk,ct_mark=0x1/0x1' \
    || cf_fail "cannot delete n2's denied-reply flow"
cf_appctl ovs2 revalidator/purge >/dev/null || cf_fail
udp_send z/b 80 x/a 6004 gap || cf_fail
udp_send x/m 7000 x/a 6004 marker || cf_fail
exchange_done "$L" || cf_fail "udp exchange 4 did not finish"
grep -q '10\.1\.0\.2:80 gap' "$L" \
    || cf_fail "without the denied-reply flow, no gap: $(cat "$L")"
cf_log "without the flow, z/b reached x/a (the gap); restoring it"
cf_conjflowd_appctl recompute >/dev/null
# denied_reply_flow: n2 has the drop of replies of denied connections.
denied_reply_flow() {
    cf_ofctl n2 dump-flows table=2 \
        | grep -q 'priority=195,ct_state=+est+rpl+trk,ct_mark=0x1/0x1'
}
cf_wait_until 10 denied_reply_flow \
    || cf_fail "conjflowd did not restore the denied-reply flow"
cf_conjflowd_wait_synced || cf_fail

# ---------------------------------------------------------------------
cf_log "3. a revoked TCP connection: the server's packets stop" \
       "reaching the client"
SENT=$CF_TMPDIR/tcp-sent
RECV=$CF_TMPDIR/tcp-recv
ip netns exec "$(cf_pod_netns z/d)" python3 "$PY" tcp-push-server 80 \
    "$SENT" </dev/null >"$CF_TMPDIR/tcp-server.log" 2>&1 &
cf_track_pid $! "tcp-push-server in z/d"
cf_wait_until 5 test -s "$SENT" || cf_fail "the TCP server did not start"
ip netns exec "$(cf_pod_netns x/a)" python3 "$PY" tcp-client 10.1.0.4 80 \
    "$RECV" </dev/null >"$CF_TMPDIR/tcp-client.log" 2>&1 &
cf_track_pid $! "tcp-client in x/a"
# recv_at_least N: x/a has received at least N bytes.
recv_at_least() {
    [ "$(cat "$RECV" 2>/dev/null || echo 0)" -ge "$1" ]
}
# sent_at_least N: z/d has sent at least N bytes.
sent_at_least() {
    [ "$(cat "$SENT" 2>/dev/null || echo 0)" -ge "$1" ]
}
cf_wait_until 5 recv_at_least 10 \
    || cf_fail "x/a receives nothing from z/d:" \
               "$(cat "$CF_TMPDIR/tcp-client.log")"
cf_conjflow_apply "$M/d-revoked.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail
ct_d='tcp,orig=\(src=10\.1\.0\.1,dst=10\.1\.0\.4,sport=[0-9]+,dport=80\)'
cf_wait_until 5 n2_ct "$ct_d.*mark=1" \
    || cf_fail "n2 did not mark the revoked connection denied"
r1=$(cat "$RECV"); s1=$(cat "$SENT")
cf_wait_until 10 sent_at_least $((s1 + 20)) \
    || cf_fail "z/d stopped sending ($s1 -> $(cat "$SENT"))"
r2=$(cat "$RECV")
[ "$r2" = "$r1" ] \
    || cf_fail "z/d's packets on the revoked connection reached x/a" \
               "($r1 -> $r2 bytes)"
cf_log "revoked: z/d sent $(( $(cat "$SENT") - s1 )) more bytes," \
       "x/a received none"
cf_conjflow_apply "$M/policies.yaml" || cf_fail
cf_conjflowd_wait_synced || cf_fail
cf_wait_until 20 recv_at_least $((r2 + 10)) \
    || cf_fail "the connection did not resume when allowed again" \
               "($r2 -> $(cat "$RECV") bytes)"
n2_ct "$ct_d.*mark=1" && cf_fail "the connection allowed again is still marked"
cf_log "allowed again: x/a receives ($(cat "$RECV") bytes)"

PASSED=1
cf_log "PASS"
exit 0
