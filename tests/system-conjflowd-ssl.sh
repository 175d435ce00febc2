#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# system-conjflowd-ssl.sh: conjflowd over TLS (root).  A node whose OVSDB
# remote is "ssl:127.0.0.1:PORT": conjflowd talks OVSDB over TLS, configures
# the bridge's OpenFlow listener as "pssl:6653:127.0.0.1" and programs the
# bridge over TLS, with keys made by ovs-pki.  Checked: the bridge gets the
# pssl listener, the flows conjflowd wants are installed, a conjflowd
# without keys cannot connect (and so installs nothing), and a restart with
# keys sends nothing.
#
# ovsdb-server, ovs-vswitchd and conjflowd all run in one network namespace
# of this test (TCP over its loopback), so this file starts its own
# ovsdb-server and ovs-vswitchd (helper ssl_ovs_start below) instead of the
# harness's cf_ovs_start, whose ovsdb-server listens only on a unix socket.
# The harness still provides the set-up, conjflowd (cf_conjflowd_*), the
# waiting and the cleanup.

. "${CF_SRCDIR:-$(dirname "$0")/..}/tests/lib/harness.sh" || exit 99
cf_init
cf_conjflow_init conjflowd conjflowctl
command -v ovs-pki >/dev/null || cf_skip "ovs-pki is not installed"

D=$CF_TMPDIR/ssl
NS=cf$CF_RUN_ID-ssl
PKI=$D/pki
mkdir -p "$D" "$PKI"

# in_ns CMD...: runs CMD in the test's namespace with OVS's directories in
# $D.
in_ns() {
    OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D OVS_SYSCONFDIR=$D \
        ip netns exec "$NS" "$@"
}

# vsctl ARGS...: ovs-vsctl on the test's database (unix socket).
vsctl() {
    OVS_RUNDIR=$D ovs-vsctl --timeout=10 --db="unix:$D/db.sock" "$@"
}

# ssl_ovs_start: ovsdb-server (unix socket and pssl:6640 on the namespace's
# loopback, switch certificate) and ovs-vswitchd (its SSL table set, so its
# pssl controller listeners work) in the namespace.
ssl_ovs_start() {
    local pid
    cf__netns_add "$NS" || return 1
    ovsdb-tool create "$D/conf.db" "$CF_OVS_SCHEMA" || return 1
    in_ns ovsdb-server "$D/conf.db" --remote="punix:$D/db.sock" \
        --remote=pssl:6640:127.0.0.1 \
        --private-key="$PKI/sw-privkey.pem" \
        --certificate="$PKI/sw-cert.pem" \
        --ca-cert="$PKI/ca/controllerca/cacert.pem" \
        --pidfile="$D/ovsdb-server.pid" --unixctl="$D/ovsdb-server.ctl" \
        --log-file="$D/ovsdb-server.log" --no-chdir --detach \
        -vconsole:off || return 1
    pid=$(cat "$D/ovsdb-server.pid")
    cf__track_pid "$pid" "ovsdb-server (ssl)"
    vsctl --no-wait init || return 1
    vsctl --no-wait set-ssl "$PKI/sw-privkey.pem" "$PKI/sw-cert.pem" \
        "$PKI/ca/controllerca/cacert.pem" || return 1
    in_ns ovs-vswitchd "unix:$D/db.sock" --pidfile="$D/ovs-vswitchd.pid" \
        --unixctl="$D/ovs-vswitchd.ctl" --log-file="$D/ovs-vswitchd.log" \
        --no-chdir --detach --disable-system -vconsole:off || return 1
    pid=$(cat "$D/ovs-vswitchd.pid")
    # Tracked after ovsdb-server, so it is stopped first.
    cf__track_pid "$pid" "ovs-vswitchd (ssl)"
}

# cfd_start [KEYS]: starts conjflowd in the namespace (as in_ns does),
# with the controller keys if KEYS is "keys".
cfd_start() {
    local keys=()
    if [ "${1:-}" = keys ]; then
        keys=(--private-key="$PKI/ctl-privkey.pem"
              --certificate="$PKI/ctl-cert.pem"
              --ca-cert="$PKI/ca/switchca/cacert.pem")
    fi
    OVS_RUNDIR=$D OVS_LOGDIR=$D OVS_DBDIR=$D OVS_SYSCONFDIR=$D \
        cf_conjflowd_start --netns "$NS" "${keys[@]}"
}
ofctl() {
    ovs-ofctl -O OpenFlow15 --timeout=10 "$@"
}
n_flows() {
    ofctl dump-flows "unix:$D/br-int.mgmt" | grep -c 'cookie=0xcf'
}

(cd "$PKI" && ovs-pki --dir="$PKI/ca" -l "$PKI/log" init --force \
     && ovs-pki --dir="$PKI/ca" -l "$PKI/log" req+sign ctl controller \
     && ovs-pki --dir="$PKI/ca" -l "$PKI/log" req+sign sw switch) \
    >/dev/null 2>&1 || cf_fail "ovs-pki failed (see $PKI/log)"
ssl_ovs_start || cf_fail "cannot start OVS with SSL"
vsctl add-br br-int -- set Bridge br-int datapath_type=netdev || cf_fail
vsctl add-port br-int p1 -- set Interface p1 type=internal \
    external_ids:iface-id=x/a external_ids:attached-mac=0a:58:0a:01:00:01 \
    || cf_fail

{ cf_node_manifest n1 ssl:127.0.0.1:6640 br-int && cf_namespace_manifest x \
  && cf_pod_manifest --node n1 --ip 10.1.0.1 x/a app=web && cat <<'EOF'
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: x, name: web}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{protocol: TCP, port: 80}]
EOF
} >"$D/objects.yaml" || cf_fail
cf_conjflow_apply "$D/objects.yaml" || cf_fail

cf_log "without keys: no connection, nothing installed"
cfd_start || cf_fail "conjflowd did not start"
cf_wait_until 10 eval 'cf_conjflowd_appctl status \
                       | grep -q "ssl:127.0.0.1:6640 (not connected: "' \
    || { cf_conjflowd_appctl status >&2; cf_fail "no connection error shown"; }
cf_conjflowd_synced && cf_fail "conjflowd in sync without TLS keys"
[ "$(n_flows)" = 0 ] || cf_fail "flows installed without TLS keys"
cf_conjflowd_stop || cf_fail

cf_log "with keys: OVSDB and OpenFlow over TLS"
cfd_start keys || cf_fail "conjflowd did not start"
cf_conjflowd_wait_synced 15 || cf_fail "not in sync over TLS"
status=$(cf_conjflowd_appctl status) || cf_fail
echo "$status" | grep -q 'ssl:127.0.0.1:6640 (connected)' \
    || { echo "$status" >&2; cf_fail "OVSDB not connected over ssl:"; }
echo "$status" | grep -q 'openflow: ssl:127.0.0.1:6653 (connected' \
    || { echo "$status" >&2; cf_fail "OpenFlow not connected over ssl:"; }
[ "$(vsctl get-controller br-int)" = "pssl:6653:127.0.0.1" ] \
    || cf_fail "bridge controller is $(vsctl get-controller br-int)"
n=$(n_flows)
[ "$n" -gt 10 ] || cf_fail "only $n flows installed over TLS"
cf_conjflowd_converged n1 \
    || cf_fail "installed flows differ from the desired ones"
ofctl dump-flows "unix:$D/br-int.mgmt" table=6 | grep -q 'nw_dst=10.1.0.1' \
    || cf_fail "no isolation flow for x/a"

cf_log "restart with keys: nothing sent"
cf_conjflowd_stop || cf_fail
cfd_start keys || cf_fail
cf_conjflowd_wait_synced 15 || cf_fail "not in sync after the restart"
[ "$(cf_conjflowd_sync_field flow_mods)" = 0 ] \
    || cf_fail "restart sent flow_mods"
[ "$(n_flows)" = "$n" ] || cf_fail "flow count changed across the restart"
cf_log "PASS"
