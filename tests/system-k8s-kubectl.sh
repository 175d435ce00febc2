#!/bin/sh
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# Shows that tests/k8s-apiserver.py is faithful to the Kubernetes API: a
# real kubectl (Debian's kubernetes-client) discovers its resources, lists
# (also page by page), gets single objects, watches over a chunked stream,
# and is refused with a bad token.  Uses $KUBECTL, else kubectl in PATH;
# exits 77 (skip) only if there is no kubectl at all.

set -u
srcdir=${srcdir:-.}
KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
if test -z "$KUBECTL" || ! "$KUBECTL" version --client >/dev/null 2>&1; then
    echo "SKIP: no kubectl (apt-get install kubernetes-client, or set KUBECTL)"
    exit 77
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/cf-kubectl-XXXXXX")
server_pid=
watch_pid=
cleanup() {
    test -n "$watch_pid" && kill "$watch_pid" 2>/dev/null
    test -n "$server_pid" && kill "$server_pid" 2>/dev/null
    test -n "$server_pid" && wait "$server_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# Polls (no sleeping for a fixed time) until "$@" succeeds, 20 s at most.
wait_for() {
    i=0
    while ! "$@" >/dev/null 2>&1; do
        i=$((i + 1))
        test $i -ge 400 && return 1
        sleep 0.05
    done
    return 0
}

python3 "$srcdir/tests/k8s-apiserver.py" --dir "$dir" >"$dir/server.log" 2>&1 &
server_pid=$!
wait_for test -f "$dir/port" || { echo "FAIL: server did not start"; exit 1; }
port=$(cat "$dir/port")
base=https://127.0.0.1:$port

ctl() {
    curl -sf --cacert "$dir/ca.crt" -X POST --data-binary "$2" "$base/test/$1" \
        >/dev/null || fail "control $1"
}
kc() {
    "$KUBECTL" --kubeconfig "$dir/kubeconfig" --cache-dir "$dir/cache" "$@"
}

ctl apply '{"kind":"Namespace","metadata":{"name":"shop"}}'
ctl generate '{"namespace":"shop","count":7,"prefix":"web"}'
ctl apply '{"kind":"NetworkPolicy","metadata":{"name":"allow-web","namespace":"shop"},"spec":{"podSelector":{"matchLabels":{"app":"web"}},"ingress":[{"ports":[{"port":80}]}]}}'
ctl apply '{"kind":"Node","metadata":{"name":"node-1"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.0.1"}]}}'

# Discovery and lists.
out=$(kc api-resources 2>&1)
for r in namespaces pods nodes networkpolicies; do
    echo "$out" | grep -q "^$r " || fail "api-resources lacks $r: $out"
done
test "$(kc get namespaces -o name)" = "namespace/shop" || fail "get namespaces"
n=$(kc get pods -A -o name | wc -l)
test "$n" = 7 || fail "get pods -A: $n pods"
# Pagination: kubectl follows 'continue' tokens.
n=$(kc get pods -n shop --chunk-size=2 -o name | wc -l)
test "$n" = 7 || fail "get pods --chunk-size=2: $n pods"
out=$(kc get pods -A)
echo "$out" | grep -q "^shop  *web-6 " || fail "table output: $out"

# Single objects.
ip=$(kc get pod -n shop web-3 -o jsonpath='{.status.podIP}')
test "$ip" = "10.0.0.3" || fail "get pod web-3: podIP $ip"
port80=$(kc get networkpolicy -n shop allow-web -o jsonpath='{.spec.ingress[0].ports[0].port}')
test "$port80" = 80 || fail "get networkpolicy: $port80"
addr=$(kc get node node-1 -o jsonpath='{.status.addresses[0].address}')
test "$addr" = 192.168.0.1 || fail "get node: $addr"
kc get pod -n shop nosuch >"$dir/nf.out" 2>&1 && fail "get of a missing pod succeeded"
grep -q 'NotFound\|not found' "$dir/nf.out" || fail "missing pod: $(cat "$dir/nf.out")"

# Watch (a chunked stream): a pod created after the watch started shows up.
kc get pods -n shop --watch -o name >"$dir/watch.out" 2>&1 &
watch_pid=$!
wait_for grep -q "pod/web-6" "$dir/watch.out" || fail "watch: initial objects"
ctl apply '{"kind":"Pod","metadata":{"name":"late","namespace":"shop"},"spec":{"containers":[{"name":"c","image":"x"}]}}'
wait_for grep -q "pod/late" "$dir/watch.out" || fail "watch: $(cat "$dir/watch.out")"
kill "$watch_pid"
wait "$watch_pid" 2>/dev/null
watch_pid=

# A wrong token is refused.
sed 's/token: .*/token: wrong/' "$dir/kubeconfig" >"$dir/bad-kubeconfig"
"$KUBECTL" --kubeconfig "$dir/bad-kubeconfig" --cache-dir "$dir/cache2" \
    get pods -A >"$dir/bad.out" 2>&1 && fail "a wrong token was accepted"
grep -qi "unauthorized\|provide credentials" "$dir/bad.out" \
    || fail "wrong token: $(cat "$dir/bad.out")"

if test $failures = 0; then
    echo "PASS: kubectl ($("$KUBECTL" version --client -o yaml 2>/dev/null | grep gitVersion | head -1)) lists, gets and watches from the test API server"
    exit 0
fi
exit 1
