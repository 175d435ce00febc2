#! /bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# kill -9 during a large "conjflowctl apply": the store must stay intact
# (PRAGMA integrity_check) and hold the state entirely before or entirely
# after the apply, never a part of it.
#
# Each round starts an apply of a file of many pods and kills it with
# SIGKILL as soon as it holds the store's write lock (that is, inside its
# transaction): a watcher polls for the lock with BEGIN IMMEDIATE and a
# zero timeout, with a deadline.  The last round lets the apply finish and
# checks the "after" state.
#
# Needs CF_BUILDDIR (set by "make check") and python3.

set -u
: "${CF_BUILDDIR:?run this through make check}"
CTL=$CF_BUILDDIR/utilities/conjflowctl
test -x "$CTL" || { echo "no $CTL"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/store-kill.XXXXXX")
apply_pid=
cleanup() {
    if test -n "$apply_pid"; then kill -9 "$apply_pid" 2>/dev/null; fi
    rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir" || exit 1
export CONJFLOW_DB=$dir/store.db

N=20000
ROUNDS=5
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# The big apply: N pods in namespace big, as one JSON List.
python3 - "$N" > big.json <<'EOF'
import json, sys
n = int(sys.argv[1])
items = [{"apiVersion": "v1", "kind": "Namespace",
          "metadata": {"name": "big"}}]
for i in range(n):
    items.append({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "pod%d" % i, "namespace": "big",
                               "labels": {"app": "a%d" % (i % 10)}},
                  "spec": {"nodeName": "n1"},
                  "status": {"podIP": "10.%d.%d.%d" % (i >> 16,
                                                      (i >> 8) & 255,
                                                      i & 255)}})
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)
EOF

cat > base.yaml <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: keep}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: keep}
EOF
"$CTL" apply -f base.yaml >/dev/null || { echo "base apply failed"; exit 1; }

# state: "INTEGRITY SEQ PODS" of the store, read without conjflow.
state() {
    python3 - "$CONJFLOW_DB" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ok = db.execute("PRAGMA integrity_check").fetchone()[0]
seq = db.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0]
pods = db.execute("SELECT count(*) FROM pods").fetchone()[0]
feed = db.execute("SELECT count(*) FROM changes WHERE seq = ?",
                  (seq,)).fetchone()[0]
print(ok, seq, pods, feed)
EOF
}

# wait_for_lock PID: exits 0 once some process holds the store's write lock
# (while PID still runs), 1 if PID exits first or after 60 s.
wait_for_lock() {
    python3 - "$CONJFLOW_DB" "$1" <<'EOF'
import os, sqlite3, sys, time
path, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
db = sqlite3.connect(path, timeout=0, isolation_level=None)
while time.monotonic() < deadline:
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.OperationalError:
        sys.exit(0)                 # Locked: the apply is in its transaction.
    try:
        os.kill(pid, 0)
        with open("/proc/%d/stat" % pid) as f:
            if f.read().split()[2] == "Z":
                sys.exit(1)
    except OSError:
        sys.exit(1)
sys.exit(1)
EOF
}

read -r ok seq0 pods0 _ <<< "$(state)"
test "$ok" = ok && test "$pods0" = 1 || { echo "bad base state"; exit 1; }

killed_inside=0
for round in $(seq 1 $ROUNDS); do
    "$CTL" apply -f big.json >/dev/null 2>&1 &
    apply_pid=$!
    if wait_for_lock "$apply_pid"; then
        kill -9 "$apply_pid" 2>/dev/null
    fi
    wait "$apply_pid" 2>/dev/null
    status=$?
    apply_pid=
    read -r ok seq pods feed <<< "$(state)"
    if test "$ok" != ok; then
        fail "round $round: integrity_check says $ok"
    elif test "$pods" = 1 && test "$seq" = "$seq0"; then
        pass        # Entirely before.
        if test "$status" = 137; then
            killed_inside=$((killed_inside + 1))
        fi
    elif test "$pods" = $((N + 1)) && test "$seq" = $((seq0 + 1)) \
         && test "$feed" = $((N + 1)); then
        pass        # Entirely after: undo it for the next round.
        "$CTL" delete namespace big >/dev/null || fail "undo round $round"
        read -r ok seq0 pods0 _ <<< "$(state)"
    else
        fail "round $round: mixed state: seq $seq (was $seq0), $pods pods"
    fi
done
if test "$killed_inside" -gt 0; then pass; else
    fail "no kill landed inside a transaction"
fi

# Undisturbed, the apply completes entirely.
"$CTL" apply -f big.json >/dev/null || fail "final apply"
read -r ok seq pods feed <<< "$(state)"
if test "$ok" = ok && test "$pods" = $((N + 1)) \
   && test "$seq" = $((seq0 + 1)); then pass; else
    fail "final state: $ok seq $seq, $pods pods"
fi

echo "store-kill: $killed_inside of $ROUNDS kills inside the transaction"
echo "store-kill: $passed passed, $failed failed"
test "$failed" = 0
