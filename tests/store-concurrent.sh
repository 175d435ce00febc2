#! /bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# Two conjflowctl writers and a reader on one store at once: every apply
# succeeds (writers wait for each other instead of failing), every read
# succeeds and sees a count of pods that only grows (whole batches, never a
# part of one), and in the end every pod is there and the file is intact.
#
# Needs CF_BUILDDIR (set by "make check") and python3.

set -u
: "${CF_BUILDDIR:?run this through make check}"
CTL=$CF_BUILDDIR/utilities/conjflowctl
test -x "$CTL" || { echo "no $CTL"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/store-concurrent.XXXXXX")
pids=
cleanup() {
    for p in $pids; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir" || exit 1
export CONJFLOW_DB=$dir/store.db

BATCHES=30
PER_BATCH=40
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# Batch files: writer W's batch B holds PER_BATCH pods wW-bB-i.
for w in 1 2; do
    for b in $(seq 1 $BATCHES); do
        for i in $(seq 1 $PER_BATCH); do
            printf -- '---\napiVersion: v1\nkind: Pod\n'
            printf 'metadata: {name: w%s-b%s-p%s, namespace: w}\n' \
                "$w" "$b" "$i"
        done > "w$w-b$b.yaml"
    done
done
printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: w}\n' > ns.yaml
"$CTL" apply -f ns.yaml >/dev/null \
    || { echo "namespace apply failed"; exit 1; }

# writer W: applies its batches in order; exits non-zero on any failure.
writer() {
    for b in $(seq 1 $BATCHES); do
        "$CTL" apply -f "w$1-b$b.yaml" >/dev/null || exit 1
    done
}
# reader: reads until both writers are done (the file "done" appears) or a
# deadline, checking each read.
reader() {
    local last=0 reads=0 deadline=$((SECONDS + 120))
    while test $SECONDS -lt $deadline; do
        local finished=no
        test -e done && finished=yes
        out=$("$CTL" get pods -n w 2>/dev/null) \
            || { echo "read failed"; exit 1; }
        n=$(printf '%s\n' "$out" | grep -c -- '-p')
        if test "$n" -lt "$last" || test $((n % PER_BATCH)) != 0; then
            echo "read $n pods after $last"
            exit 1
        fi
        last=$n
        reads=$((reads + 1))
        if test $finished = yes; then
            echo "$reads" > reads
            exit 0
        fi
    done
    echo "reader: deadline"
    exit 1
}

reader & rpid=$!
writer 1 & w1=$!
writer 2 & w2=$!
pids="$rpid $w1 $w2"
wait $w1; s1=$?
wait $w2; s2=$?
touch done
wait $rpid; sr=$?
pids=
test $s1 = 0 && pass || fail "writer 1 failed"
test $s2 = 0 && pass || fail "writer 2 failed"
test $sr = 0 && pass || fail "reader failed"

n=$("$CTL" get pods -n w | tail -n +2 | wc -l)
test "$n" = $((2 * BATCHES * PER_BATCH)) && pass \
    || fail "$n pods, not $((2 * BATCHES * PER_BATCH))"
out=$(python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("PRAGMA integrity_check").fetchone()[0],
      db.execute("SELECT value FROM meta WHERE key = ?",
                 ("seq",)).fetchone()[0])' \
      "$CONJFLOW_DB")
test "$out" = "ok $((1 + 2 * BATCHES))" && pass \
    || fail "integrity and seq: $out"

echo "store-concurrent: $(cat reads 2>/dev/null) reads during the writes"
echo "store-concurrent: $passed passed, $failed failed"
test "$failed" = 0
