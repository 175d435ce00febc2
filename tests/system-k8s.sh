#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-k8s.sh: the Kubernetes path end to end on real Open vSwitch (root):
# test API server (tests/k8s-apiserver.py, TLS + token) -> conjflow-k8s ->
# store -> conjflowd -> one node's bridge, checked with real TCP traffic
# between pods in network namespaces (tests/lib/harness.sh):
#
#   1. Namespace, Node (OVSDB remote and bridge from its annotations) and
#      Pods created on the API server: every pod reaches x/a:80;
#   2. a NetworkPolicy created on the API server: only app=client pods reach
#      x/a:80;
#   3. a pod relabeled on the API server gains access;
#   4. the API server drops every watch and compacts its history while
#      conjflow-k8s is blind (410, relist): the policy deleted meanwhile is
#      gone and the pods are open again.
#
# Along the way, the watch health that conjflow-k8s keeps in the store
# (meta rows k8s/watch/RESOURCE, shown by "conjflowctl status"): synced
# after the initial LIST, event counts that grow, the 410 relist.

. "${CF_SRCDIR:-$(dirname "$0")/..}/tests/lib/harness.sh"
cf_init
cf_conjflow_init conjflowd conjflow-k8s conjflowctl
command -v python3 >/dev/null || cf_skip "python3 is not installed"
command -v openssl >/dev/null || cf_skip "openssl is not installed"
command -v curl >/dev/null || cf_skip "curl is not installed"

API=$CF_TMPDIR/apiserver
mkdir -p "$API"

# ---------------------------------------------------------------------
# Processes, each stopped by PID at exit (conjflowd by the harness).

API_PID=
K8S_PID=
stop_all() {
    local p
    cf_conjflowd_stop
    for p in "$K8S_PID" "$API_PID"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null
    done
    for p in "$K8S_PID" "$API_PID"; do
        [ -n "$p" ] && cf_wait_until 5 eval "! kill -0 $p 2>/dev/null"
    done
    return 0
}
cf_on_exit stop_all

PASSED=
diagnose() {
    [ -z "$PASSED" ] || return 0
    echo "=== conjflow-k8s status ===" >&2
    ovs-appctl -t "$CF_TMPDIR/conjflow-k8s.ctl" status >&2 2>/dev/null
    echo "=== conjflow-k8s.log (last lines) ===" >&2
    tail -30 "$CF_TMPDIR/conjflow-k8s.log" >&2 2>/dev/null
    echo "=== conjflowctl status ===" >&2
    cf_conjflowctl status >&2 2>/dev/null
    cf_conjflowd_diagnose 20
}
cf_on_exit diagnose

# api PATH JSON: a control request to the test API server.
api() {
    curl -sf --cacert "$API/ca.crt" -X POST --data-binary "$2" \
        "https://127.0.0.1:$(cat "$API/port")/test/$1" >/dev/null
}

# health RESOURCE FIELD: FIELD of the watch health row conjflow-k8s keeps
# in the store for RESOURCE (see conjflow/k8s.h), as "conjflowctl status"
# shows it (FIELD is a column name: SYNCED, STATE, EVENTS, RELISTS...).
health() {
    cf_conjflowctl status 2>/dev/null | awk -v r="$1" -v f="$2" '
        $1 == "RESOURCE" { for (i = 1; i <= NF; i++) col[$i] = i; next }
        $1 == r && col[f] { print $col[f]; exit }'
}
# health_ge RESOURCE FIELD N: true if that field is a number >= N.
health_ge() {
    local v
    v=$(health "$1" "$2")
    [ -n "$v" ] && [ "$v" -ge "$3" ] 2>/dev/null
}

# ---------------------------------------------------------------------

cf_ovs_node_add ovs1 n1 br-int || cf_fail "cannot start node n1"
cf_pod_add n1 x/a 10.1.0.1/16 || cf_fail
cf_pod_add n1 x/b 10.1.0.2/16 || cf_fail
cf_pod_add n1 x/c 10.1.0.3/16 || cf_fail
cf_serve x/a 80 || cf_fail

python3 "$CF_SRCDIR/tests/k8s-apiserver.py" --dir "$API" \
    --bookmark-interval 1 >"$API/log" 2>&1 &
API_PID=$!
cf_wait_until 20 test -f "$API/port" || cf_fail "the API server did not start"

pod() {     # pod NAME APP IP
    echo "{\"kind\":\"Pod\",\"metadata\":{\"namespace\":\"x\",\"name\":\"$1\",\"labels\":{\"app\":\"$2\"}},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]},\"status\":{\"podIP\":\"$3\",\"podIPs\":[{\"ip\":\"$3\"}]}}"
}
api apply '{"kind":"Namespace","metadata":{"name":"x"}}' || cf_fail
api apply "{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"annotations\":{\"conjflow.io/ovsdb\":\"$(cf_ovs_db ovs1)\",\"conjflow.io/bridge\":\"br-int\"}},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.50.1\"}]}}" || cf_fail
api apply "$(pod a web 10.1.0.1)" || cf_fail
api apply "$(pod b client 10.1.0.2)" || cf_fail
api apply "$(pod c other 10.1.0.3)" || cf_fail

"$CONJFLOW_K8S" --no-config --kubeconfig="$API/kubeconfig" \
    --db="$CF_CONJFLOW_DB" \
    --unixctl="$CF_TMPDIR/conjflow-k8s.ctl" \
    --pidfile="$CF_TMPDIR/conjflow-k8s.pid" \
    --log-file="$CF_TMPDIR/conjflow-k8s.log" --detach --no-chdir \
    --backoff-min=50 --backoff-max=500 -vwarn \
    || cf_fail "conjflow-k8s did not start"
K8S_PID=$(cat "$CF_TMPDIR/conjflow-k8s.pid")

cf_conjflowd_start || cf_fail "conjflowd did not start"
cf_conjflowd_wait_synced 20 || cf_fail "conjflowd did not program n1"

# 1. No policy: open.
cf_wait_until 10 cf_expect connected x/b tcp:x/a:80 \
    || cf_fail "1: b cannot reach a without policies"
cf_expect connected x/c tcp:x/a:80 || cf_fail "1: c cannot reach a"
cf_log "1. objects from the API server: pods reach each other"

# Watch health: synced and watching after the initial LIST, for all four.
for r in namespaces nodes pods networkpolicies; do
    cf_wait_until 10 eval '[ "$(health $r SYNCED)" = yes ] && [ "$(health $r STATE)" = watching ]' \
        || cf_fail "1: no synced, watching health row for $r"
done
POLICY_EVENTS=$(health networkpolicies EVENTS)
[ -n "$POLICY_EVENTS" ] || cf_fail "1: no event count for networkpolicies"

# 2. A policy from the API server.
api apply '{"kind":"NetworkPolicy","metadata":{"namespace":"x","name":"web"},"spec":{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"client"}}}],"ports":[{"protocol":"TCP","port":80}]}]}}' || cf_fail
cf_wait_until 10 cf_expect blocked x/c tcp:x/a:80 \
    || cf_fail "2: the policy did not block c"
cf_expect connected x/b tcp:x/a:80 || cf_fail "2: the policy blocked b"
cf_log "2. a NetworkPolicy created on the API server is enforced"
cf_wait_until 5 health_ge networkpolicies EVENTS $((POLICY_EVENTS + 1)) \
    || cf_fail "2: the networkpolicies event count did not grow"

# 3. A relabeled pod.
api apply "$(pod c client 10.1.0.3)" || cf_fail
cf_wait_until 10 cf_expect connected x/c tcp:x/a:80 \
    || cf_fail "3: relabeled c is still blocked"
cf_log "3. a pod relabeled on the API server gains access"

# 4. Blind spot + compaction: 410, relist.
api apply "$(pod c other 10.1.0.3)" || cf_fail
cf_wait_until 10 cf_expect blocked x/c tcp:x/a:80 || cf_fail "4: c not blocked"
api stall '{"stall":true}' || cf_fail
api delete '{"resource":"networkpolicies","namespace":"x","name":"web"}' \
    || cf_fail
api compact '{}' || cf_fail
api drop '{}' || cf_fail
api stall '{"stall":false}' || cf_fail
cf_wait_until 15 cf_expect connected x/c tcp:x/a:80 \
    || cf_fail "4: the policy deleted during the blind spot still applies"
ovs-appctl -t "$CF_TMPDIR/conjflow-k8s.ctl" status \
    | grep -q 'networkpolicies: synced.*410 relists [1-9]' \
    || cf_fail "4: no 410 relist recorded"
cf_wait_until 5 health_ge networkpolicies RELISTS 1 \
    || cf_fail "4: the health row records no 410 relist"
cf_conjflowctl status | grep -q 'networkpolicies: last error: .*410' \
    || cf_fail "4: conjflowctl status shows no 410 error"
cf_log "4. after a 410 relist the store, and the bridge, follow the server"

PASSED=yes
echo "PASS: system-k8s"
