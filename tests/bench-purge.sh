#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# bench-purge.sh: what conjflowd's datapath flow cache purge costs ("make
# bench"; root).  conjflowd sends "revalidator/purge" to a node's
# ovs-vswitchd after every committed bundle (the workaround for OVS 3.1's
# stale megaflows, ofproto/switch.c "Datapath cache purge") and counts the
# node in sync only once vswitchd answered.  Prints:
#
#   (a) the time of one "revalidator/purge" call on a userspace vswitchd
#       as a function of the number of datapath flows (0, 100, 1,000,
#       10,000 megaflows, counted with dpctl/dump-flows before each call,
#       and none left after it), median, min and max of several rounds;
#       and the price traffic pays afterwards: the time to inject one
#       packet per flow when no flow is cached (each packet an upcall, its
#       flow translated again), against the same packets with every flow
#       cached;
#   (b) conjflowd's apply-to-in-sync latency for a one-policy change, with
#       the purge and with --no-datapath-purge, with 0 and with 10,000
#       datapath flows cached on that vswitchd (median of several rounds),
#       and the difference: what the purge adds.  (Without the purge the
#       revalidators still revalidate every cached flow after a change, in
#       the background: that is not on the way to "in sync" either way.)
#
# One private OVS (tests/lib/harness.sh) whose vswitchd runs with dummy
# ports (--enable-dummy=override): megaflows are made by injecting packets
# into bridge br0 with netdev-dummy/receive (one megaflow per source MAC:
# a flow on dl_src makes every megaflow match the whole source MAC); the
# conjflow node's bridge br-int, with 20 pods on internal ports, is on the
# same vswitchd, so the purge conjflowd asks for deletes br0's megaflows
# too, as it would any other traffic's.  Every call (purge, packets, sync)
# goes over one unixctl connection from a Python helper, so no time is
# spent starting ovs-appctl processes.  The datapath's revalidators run as
# usual (every 500 ms they dump every flow), so the numbers include that
# competition, as a real node would.
#
# Environment: CF_BUILDDIR, CF_SRCDIR (default: the current directory and
# this script's parent), BENCH_SCALE=small for a quick run (fewer rounds,
# 1,000 flows at most).

CF_BUILDDIR=${CF_BUILDDIR:-$PWD}
CF_SRCDIR=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
export CF_BUILDDIR CF_SRCDIR
. "$CF_SRCDIR/tests/lib/harness.sh" || exit 99
cf_init
cf_conjflow_init conjflowd conjflowctl
command -v python3 >/dev/null || cf_skip "python3 is not installed"

SIZES="0 100 1000 10000" A_ROUNDS=5 B_FLOWS=10000 B_ROUNDS=9 PODS=20
if [ "${BENCH_SCALE:-}" = small ]; then
    SIZES="0 100 1000" A_ROUNDS=3 B_FLOWS=1000 B_ROUNDS=3
fi

M=$CF_TMPDIR/manifests
PY=$CF_TMPDIR/bench-purge.py
mkdir -p "$M"
CF_CONJFLOWD_TIMEOUT=30        # a large change may keep conjflowd busy

# The helper: "purge-cost VSWITCHD_CTL ROUNDS SIZE..." prints one line per
# SIZE: "SIZE FLOWS_BEFORE MEDIAN_MS MIN_MS MAX_MS FLOWS_AFTER MISS_MS
# HIT_MS", the last two being the time to inject SIZE packets whose flows
# are not cached (each an upcall: what traffic pays after a purge), then
# the same packets again (cached); "latency
# VSWITCHD_CTL CONJFLOWD_CTL ROUNDS FLOWS FIRST CONJFLOWCTL ARGS..." makes
# FLOWS datapath flows, then applies a policy (ARGS, with "%d" replaced by
# the parity of FIRST + the round, so that every round changes it) and polls
# conjflowd's "sync" until in sync (and one more bundle committed), ROUNDS
# times; prints "MEDIAN_MS CONJFLOWD_MEDIAN_MS FLOWS_BEFORE_LAST_CHANGE".
cat >"$PY" <<'EOF'
import json, socket, statistics, subprocess, sys, time

class Unixctl:
    """A JSON-RPC client of an OVS unixctl socket (one connection)."""
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.dec = json.JSONDecoder()
        self.buf = ""
        self.n = 0

    def call(self, method, *params):
        self.n += 1
        self.sock.sendall(json.dumps({"method": method,
                                      "params": list(params),
                                      "id": self.n}).encode())
        while True:
            try:
                obj, end = self.dec.raw_decode(self.buf)
            except ValueError:
                data = self.sock.recv(1 << 20)
                if not data:
                    sys.exit("%s: connection closed" % method)
                self.buf += data.decode()
                continue
            self.buf = self.buf[end:].lstrip()
            if obj.get("id") == self.n:
                if obj.get("error"):
                    sys.exit("%s: %s" % (method, obj["error"]))
                return obj["result"]

def dp_stats(vs):
    """(packets looked up, datapath flows) summed over every datapath."""
    pkts = flows = 0
    for line in vs.call("dpctl/show").splitlines():
        words = line.split()
        if words[:1] == ["lookups:"]:
            pkts += sum(int(w.split(":")[1]) for w in words[1:])
        elif words[:1] == ["flows:"]:
            flows += int(words[1])
    return pkts, flows

def dump_count(vs):
    """Datapath flows as dpctl/dump-flows lists them."""
    return sum(1 for l in vs.call("dpctl/dump-flows").splitlines()
               if "actions:" in l)

def wait_for(what, cond, timeout=30):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.001)

def ip_header():
    h = bytearray.fromhex("4500001c000000004011" "0000" "0a090001" "0a090002")
    s = sum(h[j] << 8 | h[j + 1] for j in range(0, 20, 2))
    s = (s & 0xffff) + (s >> 16)
    s = ~((s & 0xffff) + (s >> 16)) & 0xffff
    h[10:12] = s.to_bytes(2, "big")
    return h.hex()

TAIL = "0800" + ip_header() + "0001000200080000"

def pkt(i):
    """Packet i, in hex: UDP 10.9.0.1:1 -> 10.9.0.2:2 from MAC
    02:00:<i>."""
    return "02ff00000001" + "0200%08x" % i + TAIL

def fill(vs, n):
    """Injects n packets with n source MACs into p1 (at most 100 at a time:
    netdev-dummy queues no more) and waits until the datapath has seen
    them; returns the number of datapath flows."""
    sent = 0
    base, _ = dp_stats(vs)
    while sent < n:
        k = min(100, n - sent)
        vs.call("netdev-dummy/receive", "p1",
                *[pkt(sent + i) for i in range(k)])
        sent += k
        wait_for("%d packets" % sent, lambda: dp_stats(vs)[0] >= base + sent)
    return dp_stats(vs)[1]

def ms(t):
    return round(t * 1000, 1)

def purge_cost(vs, rounds, sizes):
    for n in sizes:
        times, before, after, miss, hit = [], 0, 0, [], []
        for _ in range(rounds):
            vs.call("revalidator/purge")
            t0 = time.monotonic()
            fill(vs, n)
            miss.append(time.monotonic() - t0)
            t0 = time.monotonic()
            fill(vs, n)
            hit.append(time.monotonic() - t0)
            before = dump_count(vs)
            t0 = time.monotonic()
            vs.call("revalidator/purge")
            times.append(time.monotonic() - t0)
            after = dump_count(vs)
        print(n, before, ms(statistics.median(times)), ms(min(times)),
              ms(max(times)), after, ms(statistics.median(miss)),
              ms(statistics.median(hit)), flush=True)

def field(reply, name):
    return int(reply.split(" %s=" % name)[1].split()[0])

def latency(vs, cfd_path, rounds, n, first, cmd):
    cfd = Unixctl(cfd_path)
    times, own, before = [], [], 0
    for r in range(rounds):
        bundles = field(cfd.call("sync"), "bundles")
        fill(vs, n)
        before = dp_stats(vs)[1]
        t0 = time.monotonic()
        subprocess.run([a.replace("%d", str((first + r) % 2)) for a in cmd],
                       check=True, stdout=subprocess.DEVNULL)
        deadline = t0 + 30
        while True:
            reply = cfd.call("sync")
            if "synced=yes" in reply:
                break
            if time.monotonic() > deadline:
                sys.exit("not in sync after 30 s: " + reply)
        times.append(time.monotonic() - t0)
        own.append(field(reply, "ms"))
        if field(reply, "bundles") <= bundles:
            sys.exit("round %d: the change made no bundle: %s" % (r, reply))
    print(ms(statistics.median(times)), statistics.median(own), before)

vs = Unixctl(sys.argv[2])
if sys.argv[1] == "purge-cost":
    purge_cost(vs, int(sys.argv[3]), [int(a) for a in sys.argv[4:]])
else:
    latency(vs, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
            int(sys.argv[6]), sys.argv[7:])
EOF

# One OVS with dummy ports and datapaths; flows idle for 60 s stay cached,
# and the datapath may hold more than the 10,000 flows it starts with.
cf_ovs_start ovs1 || cf_fail "cannot start OVS"
cf_vswitchd_restart ovs1 --enable-dummy=override \
    || cf_fail "cannot restart vswitchd with dummy ports"
VS_CTL=$(cf_ovs_dir ovs1)/ovs-vswitchd.ctl
cf_vsctl ovs1 set Open_vSwitch . other_config:max-idle=60000 \
    -- add-br br0 \
    -- set Bridge br0 datapath_type=dummy fail_mode=secure \
    -- add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1 \
    -- add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2 \
    || cf_fail "cannot make bridge br0"
ovs-ofctl --timeout=10 add-flows "unix:$(cf_ovs_dir ovs1)/br0.mgmt" - <<'EOF' \
    || cf_fail "cannot add br0's flows"
priority=10,dl_src=02:00:00:00:00:00,actions=drop
priority=0,actions=output:2
EOF
cf_appctl ovs1 upcall/set-flow-limit 100000 >/dev/null || cf_fail

echo "(a) revalidator/purge on a userspace vswitchd (one unixctl call;" \
     "median of $A_ROUNDS, min-max):"
# shellcheck disable=SC2086
python3 "$PY" purge-cost "$VS_CTL" "$A_ROUNDS" $SIZES >"$CF_TMPDIR/a.out" \
    || cf_fail "purge-cost failed"
while read -r n before med min max after miss hit; do
    printf '    %6d megaflows (dpctl/dump-flows: %d): %7.1f ms (%.1f-%.1f),' \
        "$n" "$before" "$med" "$min" "$max"
    echo " $after left after it"
    [ "$after" = 0 ] || cf_fail "revalidator/purge left $after flows"
    [ "$before" -ge "$n" ] || cf_fail "only $before of $n megaflows made"
    echo "$n $miss $hit" >>"$CF_TMPDIR/a.upcalls"
done <"$CF_TMPDIR/a.out"
echo "    the price paid by traffic after a purge: N packets of N flows," \
     "injected with netdev-dummy/receive (100 per call), flows not cached" \
     "(an upcall each) / cached (median):"
while read -r n miss hit; do
    [ "$n" != 0 ] || continue
    printf '    %6d flows: %7.1f ms not cached, %7.1f ms cached:' \
        "$n" "$miss" "$hit"
    awk -v n="$n" -v m="$miss" -v h="$hit" \
        'BEGIN { printf " about %.1f us per flow translated again\n", (m - h) * 1000 / n }'
done <"$CF_TMPDIR/a.upcalls"

# (b): a node with PODS pods and two versions of one policy.
args=()
for ((i = 0; i < PODS; i++)); do
    args+=(-- add-port br-int "pod$i" -- set Interface "pod$i" type=internal
           "external_ids:iface-id=ns0/p$i")
done
cf_node_add ovs1 n1 br-int || cf_fail
cf_vsctl ovs1 "${args[@]}" || cf_fail "cannot add $PODS ports"
cf_node_manifest n1 >"$M/node.yaml" || cf_fail
python3 - "$M" "$PODS" <<'EOF'
import sys
out, pods = sys.argv[1], int(sys.argv[2])
with open(out + "/cluster.yaml", "w") as f:
    f.write("apiVersion: v1\nkind: Namespace\n"
            "metadata: {name: ns0}\n")
    for i in range(pods):
        f.write("---\napiVersion: v1\nkind: Pod\n"
                "metadata: {namespace: ns0, name: p%d, labels: {app: a%d}}\n"
                "spec: {nodeName: n1}\nstatus: {podIP: 10.100.0.%d}\n"
                % (i, i % 2, i + 1))
for v in range(2):
    with open(out + "/policy%d.yaml" % v, "w") as f:
        f.write("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                "metadata: {namespace: ns0, name: web}\nspec:\n"
                "  podSelector: {matchLabels: {app: a0}}\n"
                "  policyTypes: [Ingress]\n  ingress:\n"
                "  - from: [{podSelector: {matchLabels: {app: a1}}}]\n"
                "    ports: [{protocol: TCP, port: %d}]\n" % (8000 + v))
EOF
cf_conjflow_apply "$M/node.yaml" "$M/cluster.yaml" || cf_fail

# latency_run FLOWS: prints "MEDIAN_MS CONJFLOWD_MS FLOWS" for B_ROUNDS
# changes with FLOWS datapath flows cached before each.
N_CHANGES=0
latency_run() {
    python3 "$PY" latency "$VS_CTL" "$CF_CONJFLOWD_CTL" "$B_ROUNDS" "$1" \
        "$N_CHANGES" "$CONJFLOWCTL" --db "$CF_CONJFLOW_DB" apply \
        -f "$M/policy%d.yaml"
}

declare -A lat own flows
for mode in on off; do
    opt=()
    [ "$mode" = on ] || opt=(--no-datapath-purge)
    cf_conjflowd_start --poll-interval=1 "${opt[@]}" \
        || cf_fail "conjflowd did not start"
    cf_conjflowd_wait_synced 30 || cf_fail "conjflowd not in sync"
    for n in 0 "$B_FLOWS"; do
        read -r "lat[$mode,$n]" "own[$mode,$n]" "flows[$mode,$n]" \
            <<<"$(latency_run "$n")"
        [ -n "${flows[$mode,$n]}" ] || cf_fail "latency run failed"
        N_CHANGES=$((N_CHANGES + B_ROUNDS))
    done
    pl=$(cf_conjflowd_node_status n1 | sed -n 's/^  datapath purges: //p')
    cf_log "purge $mode: datapath purges: $pl"
    read -r n_done _ errors _ <<<"$pl"
    if [ "$mode" = on ]; then
        [ "$n_done" -gt "$B_ROUNDS" ] && [ "$errors" = 0 ] \
            || cf_fail "with the purge: datapath purges: $pl"
    else
        [ "$n_done" = 0 ] || cf_fail "with --no-datapath-purge: datapath purges: $pl"
    fi
    cf_conjflowd_stop -t 10
    cf_appctl ovs1 revalidator/purge >/dev/null
done

echo "(b) conjflowd, one-policy change on a $PODS-pod node: apply to in sync" \
     "(median of $B_ROUNDS; conjflowd's own change-to-sync in brackets):"
for n in 0 "$B_FLOWS"; do
    printf '    %5d datapath flows cached: purge %6.1f ms [%s], no purge' \
        "$n" "${lat[on,$n]}" "${own[on,$n]}"
    printf ' %6.1f ms [%s]: the purge adds %.1f ms\n' "${lat[off,$n]}" \
        "${own[off,$n]}" "$(awk -v a="${lat[on,$n]}" -v b="${lat[off,$n]}" \
                             'BEGIN { print a - b }')"
done
echo "    (datapath flows just before the last change: purge" \
     "${flows[on,$B_FLOWS]}, no purge ${flows[off,$B_FLOWS]})"
