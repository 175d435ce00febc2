#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# netprobe.sh: unit test of tests/cf-netprobe (part of "make check").
#
# It runs in a network namespace of its own (unshare -n as root, unshare -rn
# otherwise), on its loopback, so it needs neither OVS nor a fixed free
# port, and its SCTP (raw sockets) sees no other test's packets:
#   - the checksum self-test (RFC 3720 vectors, packets built by scapy);
#   - TCP, UDP and SCTP to a server: connected; to a port nobody serves:
#     blocked, within the timeout;
#   - 300 targets in one probe, all connected, in well under a second;
#   - two servers sharing the namespace's SCTP, each answering its port;
#   - the ready file names the server's PID; SIGTERM stops it (exit 0);
#   - bad usage exits 2.
# Exit status: 0 pass, 1 fail, 77 skip (no way to make a namespace).

set -u
srcdir=${CF_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
np=${CF_NETPROBE:-${CF_BUILDDIR:-.}/tests/cf-netprobe}
if [ ! -x "$np" ]; then
    echo "ERROR: $np not built (set CF_BUILDDIR)"
    exit 99
fi
np=$(cd "$(dirname "$np")" && pwd)/$(basename "$np")
export CF_NETPROBE=$np

if [ -z "${CF_NETPROBE_INNER:-}" ]; then
    "$np" selftest || { echo "FAIL: cf-netprobe selftest"; exit 1; }
    for u in "unshare -n" "unshare -rn"; do
        if $u true 2>/dev/null; then
            CF_NETPROBE_INNER=1 exec $u bash "$0" "$@"
        fi
    done
    echo "SKIP: cannot create a network namespace (unshare -n or -rn)"
    exit 77
fi

# From here on, in a private network namespace.
. "$srcdir/tests/lib/harness.sh"      # for cf_wait_until only
dir=$(mktemp -d "${TMPDIR:-/tmp}/cf-netprobe.XXXXXX") || exit 99
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p"; done
    rm -rf "$dir"
}
trap cleanup EXIT
ip link set lo up || { echo "FAIL: ip link set lo up"; exit 1; }

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { echo "FAIL: $*"; exit 1; }

# serve NAME SPEC...: starts a server; waits until it is ready.
serve() {
    local name=$1; shift
    "$np" serve --ready-file "$dir/$name.ready" "$@" >"$dir/$name.log" 2>&1 &
    pids+=($!)
    cf_wait_until 5 test -s "$dir/$name.ready" \
        || fail "server $name did not start: $(cat "$dir/$name.log")"
    [ "$(cat "$dir/$name.ready")" = $! ] || fail "ready file of $name: wrong pid"
}

serve s1 tcp:80 udp:80 sctp:80
out=$("$np" probe tcp:127.0.0.1:80 udp:127.0.0.1:80 sctp:127.0.0.1:80)
[ "$out" = "$(printf '%s connected\n' tcp:127.0.0.1:80 udp:127.0.0.1:80 sctp:127.0.0.1:80)" ] \
    || fail "served ports: $out"
ok "TCP, UDP and SCTP to a server: connected"

t0=$(cf__now_ms)
out=$("$np" probe --timeout-ms 300 -v tcp:127.0.0.1:81 udp:127.0.0.1:81 \
      sctp:127.0.0.1:81 tcp:127.0.0.1:80)
dt=$(( $(cf__now_ms) - t0 ))
expected="tcp:127.0.0.1:81 blocked refused
udp:127.0.0.1:81 blocked refused
sctp:127.0.0.1:81 blocked timeout
tcp:127.0.0.1:80 connected handshake"
[ "$out" = "$expected" ] || fail "unserved ports: $out"
[ $dt -ge 300 ] && [ $dt -lt 900 ] || fail "a 300 ms probe took $dt ms"
ok "unserved ports blocked (refused, or timeout for SCTP) in $dt ms for 300 ms"

targets=()
for i in $(seq 100); do
    targets+=(tcp:127.0.0.1:80 udp:127.0.0.1:80 sctp:127.0.0.1:80)
done
t0=$(cf__now_ms)
out=$("$np" probe "${targets[@]}")
dt=$(( $(cf__now_ms) - t0 ))
[ "$(echo "$out" | grep -c ' connected$')" = 300 ] \
    || fail "300 targets: $(echo "$out" | grep -v ' connected$' | head -3)"
[ $dt -lt 900 ] || fail "300 targets took $dt ms"
ok "300 targets in one probe, all connected, in $dt ms"

serve s2 sctp:81
out=$("$np" probe sctp:127.0.0.1:81 sctp:127.0.0.1:80 sctp:127.0.0.1:82 \
      --timeout-ms 300)
[ "$out" = "$(printf 'sctp:127.0.0.1:81 connected\nsctp:127.0.0.1:80 connected\nsctp:127.0.0.1:82 blocked')" ] \
    || fail "two SCTP servers: $out"
ok "two servers share the namespace's SCTP, each answers its own port"

pid=${pids[0]}
kill -TERM "$pid"
wait "$pid"; status=$?
[ $status = 0 ] || fail "server exited $status on SIGTERM"
pids=("${pids[@]:1}")
out=$("$np" probe --timeout-ms 200 tcp:127.0.0.1:80)
[ "$out" = "tcp:127.0.0.1:80 blocked" ] || fail "stopped server still answers: $out"
ok "SIGTERM stops the server (exit 0)"

for args in "probe" "probe tcp:127.0.0.1" "probe tcp:1.2.3:80" "probe icmp:1.2.3.4:80" \
            "probe tcp:1.2.3.4:0" "probe --timeout-ms 0 tcp:1.2.3.4:80" \
            "serve" "serve tcp:x" "frobnicate"; do
    # shellcheck disable=SC2086
    "$np" $args >/dev/null 2>&1
    status=$?
    [ $status = 2 ] || fail "'cf-netprobe $args' exited $status, expected 2"
done
ok "bad usage exits 2"

echo "# $n checks passed"
exit 0
