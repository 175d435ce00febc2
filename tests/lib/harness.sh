# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# harness.sh: conjflow's system test harness, a bash library.
#
# It builds small clusters on real Open vSwitch on one machine: private OVS
# instances (ovsdb-server + ovs-vswitchd, the userspace datapath), nodes (one
# netdev bridge each), pods (network namespaces with a veth into a node's
# bridge), links between nodes, servers in pods and probes between them over
# TCP, UDP and SCTP (tests/cf-netprobe).  Everything it makes is removed when
# the script exits, even after a failure: processes (by PID, including
# untracked ones still running in the run's namespaces or naming its
# temporary directory on their command line), network
# namespaces (and with them every veth and bridge device), the OVS
# databases and the temporary directory.  It never touches the system's OVS
# (nothing under /run/openvswitch or /etc/openvswitch), and every name it
# makes carries a random run id, so any number of scripts can run side by
# side ("make -j2 check-system").
#
# Usage (bash, as root):
#
#   . "$CF_SRCDIR/tests/lib/harness.sh"
#   cf_init                              # exits 77 if the machine can't
#   cf_ovs_start ovs1
#   cf_node_add ovs1 n1
#   cf_pod_add n1 x/a 10.1.0.1/24
#   cf_pod_add n1 x/b 10.1.0.2/24
#   cf_serve x/b 80                      # tcp, udp and sctp on port 80
#   cf_ofctl n1 add-flow 'priority=0,actions=NORMAL'
#   cf_expect connected x/a tcp:x/b:80 udp:x/b:80 sctp:x/b:80 || cf_fail
#
# A pod is named "NAMESPACE/NAME" (a name without "/" means
# "default/NAME").  A probe target is "PROTO:POD:PORT" or "PROTO:IPV4:PORT"
# with PROTO tcp, udp or sctp.  Functions return 0 on success and non-zero
# (after a message on stderr) on failure; none of them exits, except
# cf_init, cf_fail and cf_skip.  Functions that start or record something
# (cf_ovs_start, cf_node_add, cf_pod_add, cf_link, cf_serve, ...) must run in
# the script's own shell, not in a $(...) or a pipeline.
#
# Traffic from a pod to its own IP never leaves the pod's namespace (the
# kernel delivers it over loopback), so it never reaches OVS or its flows,
# unless cf_pod_hairpin (or CF_POD_HAIRPIN=1) sends it through the bridge.
#
# Environment (all optional):
#   CF_BUILDDIR    build directory (set by make); cf-netprobe is looked for
#                  in $CF_BUILDDIR/tests, then in $PATH
#   CF_NETPROBE    path of cf-netprobe
#   CF_PROBE_TIMEOUT_MS   probe timeout, default 1000
#   CF_OVS_SCHEMA  vswitch.ovsschema (default: Debian's)
#   CF_POD_HAIRPIN=1   cf_pod_add makes every pod's traffic to itself go
#                  through OVS (see cf_pod_hairpin)
#   CF_KEEP=1      keep the temporary directory (logs, databases) at exit
#   CF_VERBOSE=1   log every step to stderr
#
# Functions (details above each one):
#   set-up      cf_init, cf_on_exit, cf_track_pid PID WHAT, cf_cleanup
#   messages    cf_log, cf_fail, cf_skip
#   waiting     cf_wait_until TIMEOUT CMD...
#   OVS         cf_ovs_start NAME [OVSDB_OPTION...], cf_ovs_stop NAME,
#               cf_ovs_db NAME, cf_ovs_dir NAME, cf_ovs_netns NAME,
#               cf_vsctl NAME ARGS..., cf_appctl NAME ARGS...
#   nodes       cf_node_add OVS NODE [BRIDGE], cf_node_bridge NODE,
#               cf_node_ovs NODE, cf_ofctl NODE CMD ARGS..., cf_link A B,
#               cf_ovs_node_add OVS NODE [BRIDGE]
#   pods        cf_pod_add NODE POD IP[/PREFIX] [MAC], cf_pod_del POD,
#               cf_pod_exec POD CMD..., cf_pod_ip POD, cf_pod_mac POD,
#               cf_pod_netns POD, cf_pod_port POD, cf_pod_node POD,
#               cf_pods, cf_neigh_flush [POD...], cf_pod_hairpin POD
#   traffic     cf_serve POD SPEC..., cf_probe [-t MS] SRC TARGET...,
#               cf_probe_parallel [-t MS] < "SRC TARGET" lines,
#               cf_matrix [-t MS] "PROTO:PORT..." POD...,
#               cf_expect VERDICT SRC TARGET...,
#               cf_check_probes [-t MS] < "SRC TARGET VERDICT" lines
#   debugging   cf_dump
#   conjflow    cf_conjflow_init PROGRAM..., cf_conjflowctl ARGS...,
#               cf_conjflow_apply FILE..., cf_conjflow_delete FILE...,
#               cf_node_manifest NODE [OVSDB [BRIDGE]],
#               cf_namespace_manifest NAME [LABEL=VALUE...],
#               cf_pod_manifest [--node NODE] [--ip IP] POD [LABEL=VALUE...]
#   conjflowd   cf_conjflowd_start [--netns NS] [OPTION...],
#               cf_conjflowd_stop [-t SECS] [SIGNAL], cf_conjflowd_running,
#               cf_conjflowd_appctl CMD..., cf_conjflowd_synced,
#               cf_conjflowd_wait_synced [SECS],
#               cf_conjflowd_sync_field NAME, cf_conjflowd_node_status NODE,
#               cf_conjflowd_converged NODE,
#               cf_conjflowd_check_log [IGNORE], cf_conjflowd_diagnose [LINES]
#
# State (read-only for callers): CF_RUN_ID (random, 6 hex digits),
# CF_TMPDIR (the run's temporary directory), CF_NETPROBE, and the
# associative arrays below, keyed by OVS instance, node or pod name.

if [ -z "${BASH_VERSION:-}" ] || [ "${BASH_VERSINFO[0]}" -lt 4 ]; then
    echo "harness.sh: needs bash 4 or later" >&2
    return 1 2>/dev/null || exit 1
fi

declare -gA CF_OVS_DIR=()      # OVS instance -> its directory
declare -gA CF_OVS_NETNS=()    # OVS instance -> its daemons' namespace
declare -gA CF_OVS_PIDS=()     # OVS instance -> "vswitchd-pid starttime
                               #   ovsdb-server-pid starttime"
declare -gA CF_NODE_OVS=()     # node -> OVS instance
declare -gA CF_NODE_BR=()      # node -> bridge
declare -gA CF_POD_NODE=()     # pod -> node
declare -gA CF_POD_NETNS=()    # pod -> network namespace
declare -gA CF_POD_IP=()       # pod -> IPv4 address (no prefix)
declare -gA CF_POD_MAC=()      # pod -> MAC
declare -gA CF_POD_PORT=()     # pod -> OVS port (veth) name
declare -ga CF_PIDS=()         # children to stop: "pid starttime what"
declare -ga CF_NETNS=()        # namespaces to delete, in creation order
declare -ga CF_EXIT_HOOKS=()   # commands for cf_cleanup, run last first
CF_RUN_ID=
CF_TMPDIR=
CF_SEQ=0                       # counter for unique names within the run
CF_CLEANED=

# ---------------------------------------------------------------------
# Messages

# cf_log MSG...: prints MSG to stderr, prefixed with the time.
cf_log() {
    printf '%s harness: %s\n' "$(date +%H:%M:%S.%N | cut -c1-12)" "$*" >&2
}

# cf__debug MSG...: cf_log if CF_VERBOSE is set.
cf__debug() {
    [ -z "${CF_VERBOSE:-}" ] || cf_log "$@"
}

# cf_fail [MSG...]: prints "FAIL: MSG" and exits 1 (cleanup runs).
cf_fail() {
    echo "FAIL: ${*:-test failed}" >&2
    exit 1
}

# cf_skip MSG...: says which capability the machine lacks and exits 77.
cf_skip() {
    echo "SKIP: $*" >&2
    exit 77
}

# ---------------------------------------------------------------------
# Waiting

# cf__nap: the poll interval of cf_wait_until, 50 ms.  (An external sleep:
# bash's "read -t" aborts when a trap interrupts it and reads again.)
cf__nap() {
    sleep 0.05
}

# cf__now_ms: prints the time in milliseconds.
cf__now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}

# cf_wait_until TIMEOUT CMD...: runs CMD every 50 ms until it succeeds
# (returns 0) or TIMEOUT seconds (an integer or decimal, e.g. 2.5) have
# passed (returns 1 with a message naming CMD).  CMD's output goes where the
# caller's goes; it should be quiet when it fails.
cf_wait_until() {
    local timeout=$1; shift
    local ms deadline
    ms=$(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000 }')
    deadline=$(( $(cf__now_ms) + ms ))
    while :; do
        if "$@"; then
            return 0
        fi
        if [ "$(cf__now_ms)" -ge "$deadline" ]; then
            cf_log "timed out after ${timeout}s waiting for: $*"
            return 1
        fi
        cf__nap
    done
}

# ---------------------------------------------------------------------
# Set-up and cleanup

# cf_init: checks that the machine can run system tests (root, ip, ethtool,
# OVS programs; exits 77 naming what is missing), finds cf-netprobe (exits
# 99 if it isn't built), picks the run id, makes the temporary directory and
# installs the exit trap that calls cf_cleanup.
cf_init() {
    local tool
    PATH=$PATH:/usr/sbin:/sbin
    if [ "$(id -u)" != 0 ]; then
        cf_skip "system tests need root (network namespaces, OVS)"
    fi
    for tool in ip ethtool ovsdb-tool ovs-vsctl ovs-ofctl ovs-appctl; do
        command -v "$tool" >/dev/null \
            || cf_skip "$tool is not installed"
    done
    for tool in ovsdb-server ovs-vswitchd; do
        command -v "$tool" >/dev/null \
            || cf_skip "$tool is not installed (openvswitch-switch)"
    done
    CF_OVS_SCHEMA=${CF_OVS_SCHEMA:-/usr/share/openvswitch/vswitch.ovsschema}
    [ -r "$CF_OVS_SCHEMA" ] \
        || cf_skip "$CF_OVS_SCHEMA missing (openvswitch-common)"
    if ! ip netns list >/dev/null 2>&1; then
        cf_skip "network namespaces are not available"
    fi

    if [ -z "${CF_NETPROBE:-}" ]; then
        if [ -n "${CF_BUILDDIR:-}" ] && [ -x "$CF_BUILDDIR/tests/cf-netprobe" ]
        then
            CF_NETPROBE=$CF_BUILDDIR/tests/cf-netprobe
        else
            CF_NETPROBE=$(command -v cf-netprobe || :)
        fi
    fi
    if [ -z "$CF_NETPROBE" ] || [ ! -x "$CF_NETPROBE" ]; then
        echo "harness: cf-netprobe not found: build it (make" \
             "tests/cf-netprobe) and set CF_BUILDDIR or CF_NETPROBE" >&2
        exit 99
    fi
    CF_NETPROBE=$(cd "$(dirname "$CF_NETPROBE")" && pwd)/$(basename "$CF_NETPROBE")

    # A run id no namespace on the machine uses yet.
    while :; do
        CF_RUN_ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
        ip netns list | grep -q "^cf$CF_RUN_ID" || break
    done
    CF_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/cf-$CF_RUN_ID.XXXXXX") || exit 99
    trap 'cf__exit_trap' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    cf__debug "run $CF_RUN_ID in $CF_TMPDIR"
}

# cf_on_exit CMD...: runs CMD at cleanup, before the harness removes its
# own things (the last registered runs first).
cf_on_exit() {
    local q
    printf -v q '%q ' "$@"
    CF_EXIT_HOOKS+=("$q")
}

# cf__exit_trap: the EXIT trap: dumps diagnostics after a failure, then
# cleans up, keeping the exit status.
cf__exit_trap() {
    local status=$?
    set +eu
    trap - EXIT
    if [ "$status" != 0 ] && [ "$status" != 77 ] && [ -z "$CF_CLEANED" ]
    then
        cf_dump >&2 || :
    fi
    cf_cleanup
    exit "$status"
}

# cf__starttime PID: prints the start time of process PID (field 22 of
# /proc/PID/stat), or nothing if it doesn't exist.  PID + start time name a
# process unambiguously, even if the PID is later reused.
cf__starttime() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    set -- $stat
    echo "${20}"
}

# cf__alive PID STARTTIME: true if that very process still runs (a zombie
# counts as gone).
cf__alive() {
    local st
    [ -e "/proc/$1" ] || return 1
    st=$(cf__starttime "$1")
    [ -n "$st" ] && [ "$st" = "$2" ] || return 1
    ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# cf_track_pid PID WHAT: records process PID (described as WHAT, e.g. a
# daemon a test started itself) to be stopped by cf_cleanup (SIGTERM, then
# SIGKILL after 5 s).  Processes are stopped last recorded first.
cf_track_pid() {
    CF_PIDS+=("$1 $(cf__starttime "$1") $2")
}
cf__track_pid() { cf_track_pid "$@"; }

# cf__stop_pid PID STARTTIME WHAT: stops that process: SIGTERM, then
# SIGKILL if it is still there after 5 s; reaps it if it is our child.
cf__stop_pid() {
    local pid=$1 st=$2 what=$3
    cf__alive "$pid" "$st" || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    if ! cf_wait_until 5 eval "! cf__alive $pid $st" 2>/dev/null; then
        cf_log "$what (pid $pid) ignored SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null
        cf_wait_until 5 eval "! cf__alive $pid $st" 2>/dev/null || :
    fi
    wait "$pid" 2>/dev/null || :
}

# cf_cleanup: removes everything the run made: runs the cf_on_exit hooks,
# stops tracked processes, stops every OVS instance (by PID), deletes every
# namespace (with their veths and bridge devices) and the temporary
# directory (kept if CF_KEEP=1).  Idempotent; runs from the exit trap.
cf_cleanup() {
    local i entry name ns
    [ -z "$CF_CLEANED" ] || return 0
    CF_CLEANED=1
    for ((i = ${#CF_EXIT_HOOKS[@]} - 1; i >= 0; i--)); do
        eval "${CF_EXIT_HOOKS[i]}" || cf_log "exit hook failed: ${CF_EXIT_HOOKS[i]}"
    done
    for ((i = ${#CF_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${CF_PIDS[i]}
        cf__stop_pid ${entry%% *} $(echo "$entry" | cut -d' ' -f2) \
                     "$(echo "$entry" | cut -d' ' -f3-)"
    done
    CF_PIDS=()
    for name in "${!CF_OVS_DIR[@]}"; do
        cf_ovs_stop "$name"
    done
    cf__stop_tmpdir_pids
    for ((i = ${#CF_NETNS[@]} - 1; i >= 0; i--)); do
        ns=${CF_NETNS[i]}
        if [ -e "/run/netns/$ns" ]; then
            cf__netns_stop_pids "$ns"
            ip netns delete "$ns" 2>/dev/null \
                || cf_log "could not delete namespace $ns"
        fi
    done
    CF_NETNS=()
    if [ -n "$CF_TMPDIR" ] && [ -d "$CF_TMPDIR" ]; then
        if [ -n "${CF_KEEP:-}" ]; then
            cf_log "kept $CF_TMPDIR"
        else
            rm -rf "$CF_TMPDIR"
        fi
    fi
}

# cf__stop_tmpdir_pids: stops, by PID, untracked processes whose command
# line names a file in $CF_TMPDIR (e.g. a daemon a test started with
# --db=$CF_TMPDIR/x.db and forgot): the directory is the run's own (its name
# carries a random part), so they are the run's processes, and they would
# keep writing into it while it is removed.
cf__stop_tmpdir_pids() {
    local f pid args
    [ -n "$CF_TMPDIR" ] || return 0
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}; pid=${pid%/cmdline}
        [ "$pid" != $$ ] && [ "$pid" != "$BASHPID" ] || continue
        { mapfile -d "" -t args <"$f"; } 2>/dev/null || continue
        case " ${args[*]} " in
        *"$CF_TMPDIR/"*)
            cf_log "stopping untracked process $pid (${args[0]}) of this run"
            cf__stop_pid "$pid" "$(cf__starttime "$pid")" "${args[0]}" ;;
        esac
    done
}

# cf__netns_stop_pids NS: stops, by PID, the processes still running in
# the run's namespace NS that nobody tracked (e.g. a test's background
# "cf_pod_exec POD cmd &"): a namespace lives on while a process is in it.
cf__netns_stop_pids() {
    local pid
    for pid in $(ip netns pids "$1" 2>/dev/null); do
        [ "$pid" != $$ ] || continue
        cf_log "stopping untracked process $pid ($(cat /proc/$pid/comm 2>/dev/null)) in $1"
        cf__stop_pid "$pid" "$(cf__starttime "$pid")" "process in $1"
    done
}

# cf__netns_add NAME: creates namespace NAME (loopback up, IPv6 off) and
# records it for cleanup.
cf__netns_add() {
    ip netns add "$1" || return 1
    CF_NETNS+=("$1")
    ip -n "$1" link set lo up || return 1
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
        net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1 || :
}

# ---------------------------------------------------------------------
# OVS instances

# cf_ovs_start NAME [OVSDB_SERVER_OPTION...]: starts a private OVS named
# NAME: a database in $CF_TMPDIR/ovs-NAME, and ovsdb-server (listening on
# the unix socket db.sock there) and ovs-vswitchd in a network namespace of
# their own ("cf<run id>-NAME"), with OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR and
# OVS_SYSCONFDIR all pointing into that directory.  Extra options go to
# ovsdb-server, e.g. "--remote=pssl:6640:127.0.0.1 --private-key=...
# --certificate=... --ca-cert=..." (a TCP/SSL remote is then on that
# namespace's loopback).  Both daemons are stopped by PID at cleanup.
cf_ovs_start() {
    local name=$1 dir ns pid_v pid_db
    shift
    if [ -n "${CF_OVS_DIR[$name]:-}" ]; then
        cf_log "cf_ovs_start: $name already exists"; return 1
    fi
    dir=$CF_TMPDIR/ovs-$name
    ns=cf$CF_RUN_ID-$name
    mkdir -p "$dir" || return 1
    cf__netns_add "$ns" || return 1
    CF_OVS_DIR[$name]=$dir
    CF_OVS_NETNS[$name]=$ns
    CF_OVS_PIDS[$name]=
    ovsdb-tool create "$dir/conf.db" "$CF_OVS_SCHEMA" || return 1
    cf__ovs_env "$name" ip netns exec "$ns" ovsdb-server "$dir/conf.db" \
        --remote="punix:$dir/db.sock" --pidfile="$dir/ovsdb-server.pid" \
        --unixctl="$dir/ovsdb-server.ctl" \
        --log-file="$dir/ovsdb-server.log" --no-chdir --detach \
        -vconsole:off "$@" >>"$dir/ovsdb-server.out" 2>&1 </dev/null || {
        cf_log "ovsdb-server $name did not start: $(cat "$dir/ovsdb-server.out")"
        return 1
    }
    pid_db=$(cat "$dir/ovsdb-server.pid")
    CF_OVS_PIDS[$name]="- $pid_db $(cf__starttime "$pid_db")"
    cf_vsctl "$name" --no-wait init || return 1
    cf__ovs_env "$name" ip netns exec "$ns" ovs-vswitchd "unix:$dir/db.sock" \
        --pidfile="$dir/ovs-vswitchd.pid" --unixctl="$dir/ovs-vswitchd.ctl" \
        --log-file="$dir/ovs-vswitchd.log" --no-chdir --detach \
        --disable-system -vconsole:off \
        >>"$dir/ovs-vswitchd.out" 2>&1 </dev/null || {
        cf_log "ovs-vswitchd $name did not start: $(cat "$dir/ovs-vswitchd.out")"
        return 1
    }
    pid_v=$(cat "$dir/ovs-vswitchd.pid")
    CF_OVS_PIDS[$name]="$pid_v $(cf__starttime "$pid_v") $pid_db $(cf__starttime "$pid_db")"
    cf__debug "OVS $name: vswitchd $pid_v in $ns, ovsdb-server $pid_db"
}

# cf__ovs_env NAME CMD...: runs CMD with OVS's directories pointing into
# instance NAME's directory.
cf__ovs_env() {
    local dir=${CF_OVS_DIR[$1]}; shift
    OVS_RUNDIR=$dir OVS_LOGDIR=$dir OVS_DBDIR=$dir OVS_SYSCONFDIR=$dir \
        OVS_PKGDATADIR=${OVS_PKGDATADIR:-/usr/share/openvswitch} "$@"
}

# cf_ovs_stop NAME: stops OVS instance NAME by PID (vswitchd first), waits
# until both daemons are gone and forgets the instance.
cf_ovs_stop() {
    local name=$1 p
    [ -n "${CF_OVS_DIR[$name]:-}" ] || return 0
    read -r -a p <<<"${CF_OVS_PIDS[$name]}"
    if [ "${p[0]:--}" != - ]; then
        cf__stop_pid "${p[0]}" "${p[1]}" "ovs-vswitchd $name"
        cf__stop_pid "${p[2]}" "${p[3]}" "ovsdb-server $name"
    elif [ -n "${p[1]:-}" ]; then
        cf__stop_pid "${p[1]}" "${p[2]}" "ovsdb-server $name"
    fi
    unset "CF_OVS_PIDS[$name]" "CF_OVS_DIR[$name]"
}

# cf_ovs_db NAME: prints the OVSDB remote of instance NAME
# ("unix:/tmp/.../db.sock"), e.g. for a conjflow Node's spec.ovsdb.
cf_ovs_db() {
    echo "unix:${CF_OVS_DIR[$1]}/db.sock"
}

# cf_ovs_dir NAME: prints the directory of instance NAME (logs, database,
# sockets).
cf_ovs_dir() {
    echo "${CF_OVS_DIR[$1]}"
}

# cf_ovs_netns NAME: prints the namespace the daemons of NAME run in (a TCP
# or SSL remote of its ovsdb-server, or a TCP controller address for its
# bridges, is on that namespace's loopback).
cf_ovs_netns() {
    echo "${CF_OVS_NETNS[$1]}"
}

# cf_vsctl NAME ARGS...: ovs-vsctl on instance NAME (10 s timeout).
cf_vsctl() {
    local name=$1; shift
    cf__ovs_env "$name" ovs-vsctl --timeout=10 \
        --db="unix:${CF_OVS_DIR[$name]}/db.sock" "$@"
}

# cf_appctl NAME ARGS...: ovs-appctl on instance NAME's vswitchd.
cf_appctl() {
    local name=$1; shift
    cf__ovs_env "$name" ovs-appctl --timeout=10 \
        -t "${CF_OVS_DIR[$name]}/ovs-vswitchd.ctl" "$@"
}

# ---------------------------------------------------------------------
# Nodes and links

# cf_node_add OVS NODE [BRIDGE]: creates node NODE: bridge BRIDGE (default
# NODE) on instance OVS, datapath_type=netdev, fail_mode=secure, OpenFlow
# 1.3 to 1.5, external_ids:conjflow-node=NODE.  With fail_mode=secure and
# no flows, the bridge forwards nothing.
cf_node_add() {
    local ovs=$1 node=$2 br=${3:-$2}
    if [ -z "${CF_OVS_DIR[$ovs]:-}" ]; then
        cf_log "cf_node_add: no OVS instance $ovs"; return 1
    fi
    if [ -n "${CF_NODE_BR[$node]:-}" ]; then
        cf_log "cf_node_add: node $node exists"; return 1
    fi
    cf_vsctl "$ovs" -- add-br "$br" \
        -- set Bridge "$br" datapath_type=netdev fail_mode=secure \
           protocols=OpenFlow13,OpenFlow14,OpenFlow15 \
           "external_ids:conjflow-node=$node" || return 1
    CF_NODE_OVS[$node]=$ovs
    CF_NODE_BR[$node]=$br
}

# cf_node_bridge NODE: prints NODE's bridge name.
cf_node_bridge() {
    echo "${CF_NODE_BR[$1]}"
}

# cf_node_ovs NODE: prints the OVS instance NODE's bridge is on.
cf_node_ovs() {
    echo "${CF_NODE_OVS[$1]}"
}

# cf_ofctl NODE CMD [ARGS...]: ovs-ofctl -O OpenFlow15 CMD on NODE's bridge
# (through its management socket), e.g. cf_ofctl n1 dump-flows.
cf_ofctl() {
    local node=$1 cmd=$2; shift 2
    local ovs=${CF_NODE_OVS[$node]:-}
    if [ -z "$ovs" ]; then
        cf_log "cf_ofctl: no node $node"; return 1
    fi
    ovs-ofctl -O OpenFlow15 --timeout=10 "$cmd" \
        "unix:${CF_OVS_DIR[$ovs]}/${CF_NODE_BR[$node]}.mgmt" "$@"
}

# cf_link A B: links node A's bridge to node B's: patch ports
# (patch-A-to-B and patch-B-to-A) when both are on one OVS instance,
# otherwise a veth pair between the two vswitchd namespaces.  Both ports
# carry external_ids:conjflow-uplink=true (the mark conjflow uses for
# node-to-node links).
cf_link() {
    local a=$1 b=$2 pa pb oa ob
    oa=${CF_NODE_OVS[$a]:-}; ob=${CF_NODE_OVS[$b]:-}
    if [ -z "$oa" ] || [ -z "$ob" ]; then
        cf_log "cf_link: unknown node $a or $b"; return 1
    fi
    if [ "$oa" = "$ob" ]; then
        pa=patch-$a-to-$b; pb=patch-$b-to-$a
        cf_vsctl "$oa" \
            -- add-port "${CF_NODE_BR[$a]}" "$pa" \
            -- set Interface "$pa" type=patch "options:peer=$pb" \
               external_ids:conjflow-uplink=true \
            -- add-port "${CF_NODE_BR[$b]}" "$pb" \
            -- set Interface "$pb" type=patch "options:peer=$pa" \
               external_ids:conjflow-uplink=true
    else
        CF_SEQ=$((CF_SEQ + 1))
        pa=cf${CF_RUN_ID}u$CF_SEQ; pb=$pa
        ip -n "${CF_OVS_NETNS[$oa]}" link add "$pa" type veth \
            peer name "$pb" netns "${CF_OVS_NETNS[$ob]}" || return 1
        cf__veth_up "${CF_OVS_NETNS[$oa]}" "$pa" || return 1
        cf__veth_up "${CF_OVS_NETNS[$ob]}" "$pb" || return 1
        cf_vsctl "$oa" add-port "${CF_NODE_BR[$a]}" "$pa" \
            -- set Interface "$pa" external_ids:conjflow-uplink=true \
            || return 1
        cf_vsctl "$ob" add-port "${CF_NODE_BR[$b]}" "$pb" \
            -- set Interface "$pb" external_ids:conjflow-uplink=true
    fi
}

# cf__veth_up NETNS DEV: brings DEV in NETNS up with TX checksum offload
# off (a netdev bridge drops TCP from a veth that offloads checksums).
cf__veth_up() {
    ip netns exec "$1" ethtool -K "$2" tx off >/dev/null 2>&1 \
        || { cf_log "ethtool -K $2 tx off failed in $1"; return 1; }
    ip -n "$1" link set "$2" up
}

# ---------------------------------------------------------------------
# Pods

# cf__pod_key POD: prints POD as "namespace/name" ("default/" added).
cf__pod_key() {
    case $1 in
    */*) echo "$1" ;;
    *) echo "default/$1" ;;
    esac
}

# cf_pod_add NODE POD IP[/PREFIX] [MAC]: creates pod POD on NODE: a network
# namespace "cf<run id>-<namespace>-<name>" whose eth0 (IP, default prefix
# /16, default route through eth0, MAC default 0a:58:<IP in hex>, TX
# checksum offload off) is a veth whose other end is a port of NODE's
# bridge with external_ids:iface-id="<namespace>/<name>" and
# external_ids:attached-mac.
cf_pod_add() {
    local node=$1 pod ipp=$3 mac=${4:-} ip prefix ns port ovs ovsns br
    pod=$(cf__pod_key "$2")
    ovs=${CF_NODE_OVS[$node]:-}
    if [ -z "$ovs" ]; then
        cf_log "cf_pod_add: no node $node"; return 1
    fi
    if [ -n "${CF_POD_NETNS[$pod]:-}" ]; then
        cf_log "cf_pod_add: pod $pod exists"; return 1
    fi
    ip=${ipp%/*}
    prefix=16
    [ "$ip" = "$ipp" ] || prefix=${ipp#*/}
    if [ -z "$mac" ]; then
        local IFS=.
        # shellcheck disable=SC2086
        set -- $ip
        mac=$(printf '0a:58:%02x:%02x:%02x:%02x' "$1" "$2" "$3" "$4")
        unset IFS
    fi
    ns=cf$CF_RUN_ID-$(echo "$pod" | tr -c 'A-Za-z0-9.\n-' '-')
    CF_SEQ=$((CF_SEQ + 1))
    port=cf${CF_RUN_ID}p$CF_SEQ
    ovsns=${CF_OVS_NETNS[$ovs]}
    br=${CF_NODE_BR[$node]}

    cf__netns_add "$ns" || return 1
    ip -n "$ovsns" link add "$port" type veth peer name eth0 netns "$ns" \
        || return 1
    ip -n "$ns" link set eth0 address "$mac" || return 1
    ip -n "$ns" addr add "$ip/$prefix" dev eth0 || return 1
    cf__veth_up "$ns" eth0 || return 1
    ip -n "$ns" route add default dev eth0 || return 1
    cf__veth_up "$ovsns" "$port" || return 1
    cf_vsctl "$ovs" add-port "$br" "$port" \
        -- set Interface "$port" "external_ids:iface-id=$pod" \
           "external_ids:attached-mac=$mac" || return 1
    CF_POD_NODE[$pod]=$node
    CF_POD_NETNS[$pod]=$ns
    CF_POD_IP[$pod]=$ip
    CF_POD_MAC[$pod]=$mac
    CF_POD_PORT[$pod]=$port
    cf__debug "pod $pod: $ip $mac on $node port $port, netns $ns"
    if [ -n "${CF_POD_HAIRPIN:-}" ]; then
        cf_pod_hairpin "$pod" || return 1
    fi
}

# cf_pod_hairpin POD: sends POD's traffic to its own IP out through eth0
# and back in through its node's bridge, instead of over the kernel's
# loopback, so that the bridge's flows see it (as they see a Service
# hairpin in a real cluster).  Policy routing: a rule sends locally
# generated packets to the pod's IP to a table that routes it out of eth0
# (the local table moves behind it), a permanent neighbour entry gives the
# pod's own MAC, and eth0 accepts packets from its own address.  The bridge
# must send such frames back out of their in_port: NORMAL doesn't (a flow
# "in_port=PORT,dl_dst=MAC actions=in_port" does).  cf_pod_add does this for
# every pod when CF_POD_HAIRPIN=1.
cf_pod_hairpin() {
    local ns ip mac
    ns=$(cf_pod_netns "$1") && ip=$(cf_pod_ip "$1") && mac=$(cf_pod_mac "$1") \
        || return 1
    ip -n "$ns" rule add pref 100 lookup local \
        && ip -n "$ns" rule del pref 0 lookup local \
        && ip -n "$ns" rule add pref 10 iif lo to "$ip/32" lookup 100 \
        && ip -n "$ns" route add "$ip/32" dev eth0 src "$ip" table 100 \
        && ip -n "$ns" neigh replace "$ip" lladdr "$mac" dev eth0 \
               nud permanent \
        && ip netns exec "$ns" sysctl -qw net.ipv4.conf.eth0.accept_local=1 \
               net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.all.rp_filter=0 \
               >/dev/null \
        || { cf_log "cf_pod_hairpin $1 failed"; return 1; }
}

# cf_pod_del POD: removes POD: its port, its namespace (its servers are
# stopped at cleanup, or fail once the namespace is gone).
cf_pod_del() {
    local pod ovs
    pod=$(cf__pod_key "$1")
    [ -n "${CF_POD_NETNS[$pod]:-}" ] || { cf_log "no pod $pod"; return 1; }
    ovs=${CF_NODE_OVS[${CF_POD_NODE[$pod]}]}
    cf_vsctl "$ovs" --if-exists del-port "${CF_POD_PORT[$pod]}" || return 1
    ip netns delete "${CF_POD_NETNS[$pod]}" || return 1
    unset "CF_POD_NODE[$pod]" "CF_POD_NETNS[$pod]" "CF_POD_IP[$pod]" \
          "CF_POD_MAC[$pod]" "CF_POD_PORT[$pod]"
}

# cf_pods: prints every pod, one per line, sorted.
cf_pods() {
    [ ${#CF_POD_NETNS[@]} = 0 ] || printf '%s\n' "${!CF_POD_NETNS[@]}" | sort
}

# cf__pod_get ARRAY POD: prints ARRAY[POD], failing for an unknown pod.
cf__pod_get() {
    local -n arr=$1
    local pod
    pod=$(cf__pod_key "$2")
    if [ -z "${arr[$pod]:-}" ]; then
        cf_log "no pod $pod"; return 1
    fi
    echo "${arr[$pod]}"
}

# cf_pod_ip POD, cf_pod_mac POD, cf_pod_netns POD, cf_pod_port POD,
# cf_pod_node POD: print POD's IPv4 address, MAC, namespace, OVS port name
# and node.
cf_pod_ip() { cf__pod_get CF_POD_IP "$1"; }
cf_pod_mac() { cf__pod_get CF_POD_MAC "$1"; }
cf_pod_netns() { cf__pod_get CF_POD_NETNS "$1"; }
cf_pod_port() { cf__pod_get CF_POD_PORT "$1"; }
cf_pod_node() { cf__pod_get CF_POD_NODE "$1"; }

# cf_neigh_flush [POD...]: forgets the ARP entries of each POD (every pod
# if none is named).  After a change that lets ARP through again, a pod
# would otherwise wait for its failed ARP resolution to time out.
cf_neigh_flush() {
    local pod
    [ $# != 0 ] || set -- "${!CF_POD_NETNS[@]}"
    for pod in "$@"; do
        ip -n "$(cf_pod_netns "$pod")" neigh flush all 2>/dev/null || return 1
    done
}

# cf_pod_exec POD CMD...: runs CMD in POD's namespace.
cf_pod_exec() {
    local ns
    ns=$(cf_pod_netns "$1") || return 1
    shift
    ip netns exec "$ns" "$@"
}

# ---------------------------------------------------------------------
# Servers and probes

# cf_serve POD SPEC...: starts a cf-netprobe server in POD and waits until
# it listens.  A SPEC is tcp:PORT, udp:PORT, sctp:PORT, or PORT for all
# three.  The server runs until cleanup (it is stopped by PID).
cf_serve() {
    local ns spec specs=() ready log pid
    ns=$(cf_pod_netns "$1") || return 1
    shift
    for spec in "$@"; do
        case $spec in
        *:*) specs+=("$spec") ;;
        *) specs+=("tcp:$spec" "udp:$spec" "sctp:$spec") ;;
        esac
    done
    CF_SEQ=$((CF_SEQ + 1))
    ready=$CF_TMPDIR/serve-$CF_SEQ.ready
    log=$CF_TMPDIR/serve-$CF_SEQ.log
    ip netns exec "$ns" "$CF_NETPROBE" serve --ready-file "$ready" \
        "${specs[@]}" >"$log" 2>&1 </dev/null &
    pid=$!
    cf__track_pid "$pid" "cf-netprobe serve in $ns"
    if ! cf_wait_until 5 test -s "$ready"; then
        cf_log "server in $ns did not start: $(cat "$log")"
        return 1
    fi
    if [ "$(cat "$ready")" != "$pid" ]; then
        cf_log "server in $ns: ready file names pid $(cat "$ready"), not $pid"
        return 1
    fi
}

# cf__target TARGET: sets CF__TARGET to TARGET ("PROTO:POD:PORT" or
# "PROTO:IP:PORT") as "PROTO:IP:PORT" (no subshell: matrices resolve many).
cf__target() {
    local proto=${1%%:*} rest=${1#*:} host port pod
    host=${rest%:*}; port=${rest##*:}
    case $proto in
    tcp|udp|sctp) ;;
    *) cf_log "bad probe target $1 (expected tcp|udp|sctp:POD|IP:PORT)"
       return 1 ;;
    esac
    if [[ $host =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
        CF__TARGET=$proto:$host:$port
        return 0
    fi
    case $host in
    */*) pod=$host ;;
    *) pod=default/$host ;;
    esac
    if [ -z "${CF_POD_IP[$pod]:-}" ]; then
        cf_log "bad probe target $1: no pod $pod"
        return 1
    fi
    CF__TARGET=$proto:${CF_POD_IP[$pod]}:$port
}

# cf_probe [-t MS] SRC TARGET...: probes every TARGET from pod SRC at once
# (one cf-netprobe process) and prints "TARGET VERDICT" per target, in
# order, VERDICT being "connected" or "blocked".  Timeout MS (default
# $CF_PROBE_TIMEOUT_MS or 1000) for all of them together.
cf_probe() {
    local t=${CF_PROBE_TIMEOUT_MS:-1000} ns tgt out i=0
    local -a resolved=() lines=()
    if [ "$1" = -t ]; then t=$2; shift 2; fi
    ns=$(cf_pod_netns "$1") || return 1
    shift
    for tgt in "$@"; do
        cf__target "$tgt" || return 1
        resolved+=("$CF__TARGET")
    done
    out=$(ip netns exec "$ns" "$CF_NETPROBE" probe --timeout-ms "$t" \
          "${resolved[@]}") \
        || { cf_log "cf-netprobe probe failed in $ns"; return 1; }
    mapfile -t lines <<<"$out"
    if [ ${#lines[@]} != $# ]; then
        cf_log "cf-netprobe gave ${#lines[@]} lines for $# targets"
        return 1
    fi
    for tgt in "$@"; do
        echo "$tgt ${lines[i]##* }"
        i=$((i + 1))
    done
}

# cf_probe_parallel [-t MS]: reads lines "SRC TARGET" on stdin and probes
# them all at once: one cf-netprobe per source pod, every source at the
# same time.  Prints "SRC TARGET VERDICT" per input line, in input order.
# Returns non-zero if a probe could not run.
cf_probe_parallel() {
    local t=${CF_PROBE_TIMEOUT_MS:-1000} src tgt verdict dir n=0 status=0
    local -A targets=() files=() pids=() result=()
    local -a order=()
    if [ "${1:-}" = -t ]; then t=$2; shift 2; fi
    while read -r src tgt _; do
        [ -n "$src" ] || continue
        case $src in */*) ;; *) src=default/$src ;; esac
        order+=("$src $tgt")
        targets[$src]+="$tgt "
    done
    [ ${#order[@]} != 0 ] || return 0
    CF_SEQ=$((CF_SEQ + 1))
    dir=$CF_TMPDIR/probe-$CF_SEQ
    mkdir -p "$dir" || return 1
    for src in "${!targets[@]}"; do
        n=$((n + 1))
        files[$src]=$dir/$n
        # shellcheck disable=SC2086
        cf_probe -t "$t" "$src" ${targets[$src]} >"$dir/$n" &
        pids[$src]=$!
    done
    for src in "${!pids[@]}"; do
        wait "${pids[$src]}" || { cf_log "probes from $src failed"; status=1; }
    done
    if [ "$status" = 0 ]; then
        for src in "${!files[@]}"; do
            while read -r tgt verdict; do
                result["$src $tgt"]=$verdict
            done <"${files[$src]}"
        done
        for tgt in "${order[@]}"; do
            echo "$tgt ${result[$tgt]}"
        done
    fi
    rm -rf "$dir"
    return $status
}

# cf_matrix [-t MS] "PROTO:PORT ..." POD...: probes every PROTO:PORT from
# every POD to every POD (itself included), all at once.  Prints
# "SRC PROTO:DST:PORT VERDICT" lines, sorted by source, destination, then
# the order of the PROTO:PORT list.
cf_matrix() {
    local topt=() ports src dst pp
    if [ "$1" = -t ]; then topt=(-t "$2"); shift 2; fi
    ports=$1; shift
    for src in "$@"; do
        for dst in "$@"; do
            for pp in $ports; do
                echo "$src ${pp%%:*}:$dst:${pp##*:}"
            done
        done
    done | cf_probe_parallel "${topt[@]}"
}

# cf_expect VERDICT SRC TARGET...: probes TARGETs from SRC (at once) and
# returns 0 if every verdict is VERDICT ("connected" or "blocked");
# otherwise prints each mismatch and returns 1.
cf_expect() {
    local want=$1 src=$2 out line bad=0
    shift 2
    out=$(cf_probe "$src" "$@") || return 1
    while read -r tgt got; do
        if [ "$got" != "$want" ]; then
            echo "  $src -> $tgt: expected $want, got $got" >&2
            bad=1
        fi
    done <<<"$out"
    return $bad
}

# cf_check_probes [-t MS]: reads lines "SRC TARGET VERDICT" (the expected
# verdict) on stdin, probes them all in parallel, and returns 0 if every
# verdict matches; otherwise prints each mismatch and returns 1.
cf_check_probes() {
    local topt=() lines=() l src tgt want got out bad=0 i=0
    if [ "${1:-}" = -t ]; then topt=(-t "$2"); shift 2; fi
    mapfile -t lines
    out=$(for l in "${lines[@]}"; do echo "${l% *}"; done \
          | cf_probe_parallel "${topt[@]}") || return 1
    while read -r src tgt got; do
        want=${lines[i]##* }
        i=$((i + 1))
        if [ "$got" != "$want" ]; then
            echo "  $src -> $tgt: expected $want, got $got" >&2
            bad=1
        fi
    done <<<"$out"
    return $bad
}

# ---------------------------------------------------------------------
# Debugging

# cf_dump: prints what helps to debug a failure: each node's flows and
# ports, and the last lines of each vswitchd log.  Called by the exit trap
# when a script fails.
cf_dump() {
    local node ovs
    echo "=== harness run $CF_RUN_ID ($CF_TMPDIR) ==="
    for node in "${!CF_NODE_BR[@]}"; do
        ovs=${CF_NODE_OVS[$node]}
        [ -n "${CF_OVS_DIR[$ovs]:-}" ] || continue
        echo "--- node $node (bridge ${CF_NODE_BR[$node]} on $ovs): ports"
        cf_ofctl "$node" show 2>&1 | grep -E '^ [0-9A-Z]' || :
        echo "--- node $node: flows"
        cf_ofctl "$node" dump-flows --no-stats 2>&1 | head -50 || :
    done
    for ovs in "${!CF_OVS_DIR[@]}"; do
        echo "--- $ovs: ovs-vswitchd.log (last lines)"
        tail -n 15 "${CF_OVS_DIR[$ovs]}/ovs-vswitchd.log" 2>/dev/null || :
    done
}

# ---------------------------------------------------------------------
# Restarting a vswitchd with other options (added for
# tests/system-datapath-purge.sh and tests/bench-purge.sh)

# cf_vswitchd_restart NAME [VSWITCHD_OPTION...]: stops instance NAME's
# ovs-vswitchd (by PID, waiting until it is gone) and starts it again as
# cf_ovs_start does, in the same namespace, with the same database, control
# socket and log, plus VSWITCHD_OPTIONs: e.g. "--enable-dummy=override" for
# dummy ports and datapaths (netdev-dummy/receive injects packets), or
# "-vfile:dpif_netdev:dbg".  The bridges stay (they are in the database);
# their flows, like any vswitchd restart, are lost.
cf_vswitchd_restart() {
    local name=$1 dir ns p pid
    shift
    if [ -z "${CF_OVS_DIR[$name]:-}" ]; then
        cf_log "cf_vswitchd_restart: no OVS instance $name"; return 1
    fi
    dir=${CF_OVS_DIR[$name]}; ns=${CF_OVS_NETNS[$name]}
    read -r -a p <<<"${CF_OVS_PIDS[$name]}"
    if [ "${p[0]:--}" != - ]; then
        cf__stop_pid "${p[0]}" "${p[1]}" "ovs-vswitchd $name"
        CF_OVS_PIDS[$name]="- ${p[2]} ${p[3]}"
    else
        p=(- - "${p[1]}" "${p[2]}")
    fi
    rm -f "$dir/ovs-vswitchd.pid"
    cf__ovs_env "$name" ip netns exec "$ns" ovs-vswitchd "unix:$dir/db.sock" \
        --pidfile="$dir/ovs-vswitchd.pid" --unixctl="$dir/ovs-vswitchd.ctl" \
        --log-file="$dir/ovs-vswitchd.log" --no-chdir --detach \
        --disable-system -vconsole:off "$@" \
        >>"$dir/ovs-vswitchd.out" 2>&1 </dev/null || {
        cf_log "ovs-vswitchd $name did not restart: $(tail -5 "$dir/ovs-vswitchd.out")"
        return 1
    }
    pid=$(cat "$dir/ovs-vswitchd.pid")
    CF_OVS_PIDS[$name]="$pid $(cf__starttime "$pid") ${p[2]} ${p[3]}"
    cf__debug "OVS $name: vswitchd restarted as $pid with: $*"
}

# ---------------------------------------------------------------------
# A node on an OVS of its own (added with the conjflowd functions below)

# cf_ovs_node_add OVS NODE [BRIDGE]: a node on a private OVS of its own:
# starts OVS instance OVS (cf_ovs_start) and adds node NODE on it
# (cf_node_add OVS NODE [BRIDGE]).
cf_ovs_node_add() {
    cf_ovs_start "$1" \
        || { cf_log "cannot start OVS $1 for node $2"; return 1; }
    cf_node_add "$@"
}

# ---------------------------------------------------------------------
# conjflow's programs: the store, conjflowd (added for the system tests
# and benchmarks that run conjflowd: one copy of what each carried)
#
# After cf_init, "cf_conjflow_init conjflowd conjflowctl" finds the
# programs, and then:
#
#   cf_node_manifest n1 >"$CF_TMPDIR/nodes.yaml"     # Node objects
#   cf_conjflow_apply "$CF_TMPDIR/nodes.yaml" cluster.yaml
#   cf_conjflowd_start --check-incremental || cf_fail
#   cf_conjflowd_wait_synced || cf_fail
#   cf_conjflowd_appctl flows/desired n1
#   cf_conjflowd_stop || cf_fail "conjflowd did not stop"
#
# conjflowd is stopped at cleanup (by PID) if the script has not; a
# script's own cf_on_exit hooks run before that, so they may still ask it
# (cf_conjflowd_diagnose).  State (read-only for callers):
#   CONJFLOWD, CONJFLOWCTL, CONJFLOW_K8S   the programs cf_conjflow_init
#                  found (taken from the environment when set there)
#   CF_CONJFLOW_DB     the store, $CF_TMPDIR/conjflow.db
#   CF_CONJFLOWD_CTL   conjflowd's control socket, $CF_TMPDIR/conjflowd.ctl
#   CF_CONJFLOWD_LOG   its log file, $CF_TMPDIR/conjflowd.log
#   CF_CONJFLOWD_PID   its PID while it runs (cf_conjflowd_start), else empty
# Settable: CF_CONJFLOWD_TIMEOUT, the seconds cf_conjflowd_appctl waits for
# an answer (default 10).

CF_CONJFLOW_DB=
CF_CONJFLOWD_CTL=
CF_CONJFLOWD_LOG=
CF_CONJFLOWD_PID=
CF_CONJFLOWD_START=            # CF_CONJFLOWD_PID's start time (cf__alive)
CF_CONJFLOWD_TIMEOUT=${CF_CONJFLOWD_TIMEOUT:-10}

# cf_conjflow_init PROGRAM...: for each PROGRAM (conjflowd, conjflowctl,
# conjflow-k8s) sets CONJFLOWD, CONJFLOWCTL or CONJFLOW_K8S, unless the
# environment sets it already, to the program in $CF_BUILDDIR
# (controller/conjflowd, utilities/conjflowctl, k8s/conjflow-k8s), or
# without CF_BUILDDIR to the one in $PATH; exits 99 naming the first that
# is not built.  Then sets the paths of the store, conjflowd's socket and
# log in $CF_TMPDIR (see above).  Call it after cf_init.
cf_conjflow_init() {
    local prog var path
    for prog in "$@"; do
        case $prog in
        conjflowd) var=CONJFLOWD path=controller/conjflowd ;;
        conjflowctl) var=CONJFLOWCTL path=utilities/conjflowctl ;;
        conjflow-k8s) var=CONJFLOW_K8S path=k8s/conjflow-k8s ;;
        *) echo "cf_conjflow_init: unknown program $prog" >&2; exit 99 ;;
        esac
        if [ -z "${!var:-}" ]; then
            if [ -n "${CF_BUILDDIR:-}" ]; then
                printf -v "$var" '%s' "$CF_BUILDDIR/$path"
            else
                printf -v "$var" '%s' "$(command -v "$prog" || echo "$prog")"
            fi
        fi
        if [ ! -x "${!var}" ]; then
            echo "$prog not built: ${!var} (make $path, and set" \
                 "CF_BUILDDIR or $var)" >&2
            exit 99
        fi
    done
    if [ -z "$CF_TMPDIR" ] || [ ! -d "$CF_TMPDIR" ]; then
        echo "cf_conjflow_init: no temporary directory (cf_init first)" >&2
        exit 99
    fi
    CF_CONJFLOW_DB=$CF_TMPDIR/conjflow.db
    CF_CONJFLOWD_CTL=$CF_TMPDIR/conjflowd.ctl
    CF_CONJFLOWD_LOG=$CF_TMPDIR/conjflowd.log
}

# cf_conjflowctl ARGS...: conjflowctl ARGS on the run's store.
cf_conjflowctl() {
    "$CONJFLOWCTL" --db "$CF_CONJFLOW_DB" "$@"
}

# cf_conjflow_apply FILE..., cf_conjflow_delete FILE...: writes the
# objects of each FILE (a manifest or a directory of them) into the store,
# or deletes them from it, with conjflowctl, quietly (errors on stderr);
# stops at the first that fails (returns 1).
cf_conjflow_apply() {
    local f
    for f in "$@"; do
        cf_conjflowctl apply -f "$f" >/dev/null || return 1
    done
}
cf_conjflow_delete() {
    local f
    for f in "$@"; do
        cf_conjflowctl delete -f "$f" >/dev/null || return 1
    done
}

# cf_node_manifest NODE [OVSDB [BRIDGE]]: prints a conjflow Node object
# (a YAML document, starting with "---") named NODE whose spec.ovsdb is
# OVSDB and spec.bridge BRIDGE; by default those of harness node NODE
# (cf_ovs_db of its OVS instance, cf_node_bridge), so that conjflowd
# programs it.  E.g. OVSDB "unix:$CF_TMPDIR/nowhere/db.sock" for a node
# that cannot be reached.
cf_node_manifest() {
    local node=$1 ovsdb=${2:-} br=${3:-}
    if [ -z "$ovsdb" ] || [ -z "$br" ]; then
        if [ -z "${CF_NODE_OVS[$node]:-}" ]; then
            cf_log "cf_node_manifest: no node $node"; return 1
        fi
        ovsdb=${ovsdb:-$(cf_ovs_db "${CF_NODE_OVS[$node]}")}
        br=${br:-${CF_NODE_BR[$node]}}
    fi
    cat <<EOF
---
apiVersion: conjflow.io/v1alpha1
kind: Node
metadata: {name: $node}
spec: {ovsdb: "$ovsdb", bridge: $br}
EOF
}

# cf__labels LABEL=VALUE...: prints ", labels: {K: V, ...}" for the
# metadata of cf_namespace_manifest and cf_pod_manifest (nothing without
# LABELs).
cf__labels() {
    local kv sep= out=
    [ $# != 0 ] || return 0
    for kv in "$@"; do
        out+="$sep${kv%%=*}: ${kv#*=}"
        sep=", "
    done
    echo ", labels: {$out}"
}

# cf_namespace_manifest NAME [LABEL=VALUE...]: prints a Namespace object
# (a YAML document, starting with "---") named NAME with LABELs.
cf_namespace_manifest() {
    local name=$1
    shift
    cat <<EOF
---
apiVersion: v1
kind: Namespace
metadata: {name: $name$(cf__labels "$@")}
EOF
}

# cf_pod_manifest [--node NODE] [--ip IP] POD [LABEL=VALUE...]: prints a
# Pod object (a YAML document, starting with "---") for POD
# ("namespace/name") with LABELs, its spec.nodeName and status.podIP those
# of the harness's pod POD (cf_pod_node, cf_pod_ip), or NODE and IP (for a
# pod the harness did not make).
cf_pod_manifest() {
    local node= ip= pod
    while :; do
        case ${1:-} in
        --node) node=$2; shift 2 ;;
        --ip) ip=$2; shift 2 ;;
        *) break ;;
        esac
    done
    pod=$(cf__pod_key "$1")
    shift
    if [ -z "$node" ]; then node=$(cf_pod_node "$pod") || return 1; fi
    if [ -z "$ip" ]; then ip=$(cf_pod_ip "$pod") || return 1; fi
    cat <<EOF
---
apiVersion: v1
kind: Pod
metadata: {namespace: ${pod%%/*}, name: ${pod#*/}$(cf__labels "$@")}
spec: {nodeName: $node}
status: {podIP: $ip}
EOF
}

# cf_conjflowd_start [--netns NS] [OPTION...]: starts $CONJFLOWD on the
# run's store, detached, with its control socket, pidfile and log in
# $CF_TMPDIR, no configuration file (--no-config: the machine's
# /etc/conjflow does not count), nothing on the console, and OPTIONs
# (e.g. --check-incremental, -vfile:cf_switch:dbg, --no-datapath-purge);
# with --netns, in network namespace NS.  The caller's environment passes
# through (e.g. OVS_RUNDIR=DIR cf_conjflowd_start ...).  Records its PID
# (CF_CONJFLOWD_PID) to stop it at cleanup.  Returns 1, with its output in
# a message, if it did not start, or if one started earlier still runs.
cf_conjflowd_start() {
    local wrap=() pid out=$CF_TMPDIR/conjflowd.out
    if [ "${1:-}" = --netns ]; then
        wrap=(ip netns exec "$2"); shift 2
    fi
    if cf_conjflowd_running; then
        cf_log "cf_conjflowd_start: conjflowd runs (pid $CF_CONJFLOWD_PID)"
        return 1
    fi
    rm -f "$CF_TMPDIR/conjflowd.pid"
    "${wrap[@]}" "$CONJFLOWD" --db="$CF_CONJFLOW_DB" \
        --unixctl="$CF_CONJFLOWD_CTL" --pidfile="$CF_TMPDIR/conjflowd.pid" \
        --log-file="$CF_CONJFLOWD_LOG" --detach --no-chdir --no-config \
        -vconsole:off "$@" >>"$out" 2>&1 </dev/null || {
        cf_log "conjflowd did not start: $(tail -5 "$out")"
        return 1
    }
    pid=$(cat "$CF_TMPDIR/conjflowd.pid") || return 1
    CF_CONJFLOWD_PID=$pid
    CF_CONJFLOWD_START=$(cf__starttime "$pid")
    cf_track_pid "$pid" conjflowd
    cf__debug "conjflowd $pid started with: $*"
}

# cf_conjflowd_running: true if the conjflowd cf_conjflowd_start started
# still runs.
cf_conjflowd_running() {
    [ -n "$CF_CONJFLOWD_PID" ] \
        && cf__alive "$CF_CONJFLOWD_PID" "$CF_CONJFLOWD_START"
}

# cf_conjflowd_stop [-t SECS] [SIGNAL]: stops conjflowd by PID: sends
# SIGNAL (default TERM) and waits until it is gone.  Returns 0 if it was
# gone within SECS seconds (default 5), or was not running; otherwise kills
# it (SIGKILL) and returns 1.  Either way CF_CONJFLOWD_PID is then empty.
cf_conjflowd_stop() {
    local t=5 pid=$CF_CONJFLOWD_PID st=$CF_CONJFLOWD_START
    if [ "${1:-}" = -t ]; then t=$2; shift 2; fi
    local sig=${1:-TERM}
    CF_CONJFLOWD_PID= CF_CONJFLOWD_START=
    [ -n "$pid" ] && cf__alive "$pid" "$st" || return 0
    kill "-$sig" "$pid" 2>/dev/null
    if cf_wait_until "$t" eval "! cf__alive $pid $st" 2>/dev/null; then
        return 0
    fi
    cf_log "conjflowd (pid $pid) still runs ${t}s after SIG$sig; killing it"
    kill -KILL "$pid" 2>/dev/null
    cf_wait_until 5 eval "! cf__alive $pid $st" 2>/dev/null || :
    return 1
}

# cf_conjflowd_appctl CMD [ARG...]: ovs-appctl CMD to conjflowd (waiting
# CF_CONJFLOWD_TIMEOUT seconds at most), e.g. "status", "sync",
# "flows/desired n1", "recompute".
cf_conjflowd_appctl() {
    ovs-appctl --timeout="$CF_CONJFLOWD_TIMEOUT" -t "$CF_CONJFLOWD_CTL" "$@"
}

# cf_conjflowd_synced: true if conjflowd answers "sync" with synced=yes:
# every node in sync with everything committed to the store before.
cf_conjflowd_synced() {
    cf_conjflowd_appctl sync 2>/dev/null | grep -q 'synced=yes'
}

# cf_conjflowd_wait_synced [SECS]: waits (polling, SECS seconds, default
# 10) until cf_conjflowd_synced; if it does not come, prints conjflowd's
# status on stderr and returns 1.
cf_conjflowd_wait_synced() {
    cf_wait_until "${1:-10}" cf_conjflowd_synced \
        || { cf_conjflowd_appctl status >&2; return 1; }
}

# cf_conjflowd_sync_field NAME: prints field NAME (seq, synced, ms,
# flow_mods, bundles) of conjflowd's answer to "sync".
cf_conjflowd_sync_field() {
    cf_conjflowd_appctl sync | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# cf_conjflowd_node_status NODE: prints NODE's part of conjflowd's
# "status": its line "node NODE: STATE" and the indented lines after it.
cf_conjflowd_node_status() {
    cf_conjflowd_appctl status | awk -v h="node $1:" '
        index($0, h) == 1 { on = 1; print; next }
        on && /^ / { print; next }
        { on = 0 }'
}

# cf_conjflowd_converged NODE: true if the flows conjflowd installed on
# NODE are those it wants there ("flows/installed NODE" and "flows/desired
# NODE" answer the same).
cf_conjflowd_converged() {
    local installed
    installed=$(cf_conjflowd_appctl flows/installed "$1") || return 1
    [ "$installed" = "$(cf_conjflowd_appctl flows/desired "$1")" ]
}

# cf_conjflowd_check_log [IGNORE]: returns 0 if conjflowd's log has no
# WARN, ERR or EMER line, apart from those matching the basic regular
# expression IGNORE (e.g. 'terminating with signal 15\|No such file');
# otherwise prints those lines and returns 1.
cf_conjflowd_check_log() {
    ! grep -E '\|(WARN|ERR|EMER)\|' "$CF_CONJFLOWD_LOG" \
        | grep -v -- "${1:-^$}"
}

# cf_conjflowd_diagnose [LINES]: prints on stderr what helps to debug a
# failure: conjflowd's status (if it runs) and the last LINES (default 30)
# lines of its log.  For a script's cf_on_exit hook after a failure.
cf_conjflowd_diagnose() {
    echo "=== conjflowd status ===" >&2
    if cf_conjflowd_running; then
        cf_conjflowd_appctl status >&2 2>&1 || :
    else
        echo "(not running)" >&2
    fi
    echo "=== conjflowd.log (last lines) ===" >&2
    tail -n "${1:-30}" "$CF_CONJFLOWD_LOG" >&2 2>/dev/null || :
}
