#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# check-demo.sh: runs the quick-start demo (tests/demo/run) on the
# three-tier example and asserts its connectivity matrices, before and after
# the policies, as probed with real traffic:
#
#   - each equals the expected matrix written by hand in
#     tests/demo/three-tier.before and tests/demo/three-tier.after (rows:
#     source pods; columns: backend/api 443/TCP, db/postgres 5432/TCP,
#     frontend/web 80/TCP, kube-system/dns 53/UDP, 53/TCP and 9153/TCP;
#     "." connected, "X" blocked, "-" the pod itself);
#   - each equals what "conjflowctl matrix" (the reference evaluator) says;
#   - the demo tears down what it built: no namespace, process or
#     directory of its run is left.
#
# Exit status: 0 pass, 1 fail, 77 skip (not root, OVS missing), 99 error.

srcdir=${CF_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
out=$(mktemp -d "${TMPDIR:-/tmp}/cf-demo-check.XXXXXX") || exit 99
trap 'rm -rf "$out"' EXIT

"$srcdir/tests/demo/run" --quiet --save "$out/m" >"$out/log" 2>&1
status=$?
case $status in
0|1) ;;
77) cat "$out/log"; exit 77 ;;
*) cat "$out/log"; echo "FAIL: the demo exited $status"; exit 1 ;;
esac

fail=0
# compare WHAT FILE EXPECTED: FILE must equal EXPECTED.
compare() {
    if [ ! -s "$2" ]; then
        echo "FAIL: $1: the demo wrote no $(basename "$2")"
        fail=1
    elif ! diff -u "$3" "$2" >"$out/diff"; then
        echo "FAIL: $1 differs from the expected matrix:"
        cat "$out/diff"
        fail=1
    else
        echo "ok - $1"
    fi
}
compare "probed matrix without policies" "$out/m/before.probed" \
    "$srcdir/tests/demo/three-tier.before"
compare "probed matrix with the policies" "$out/m/after.probed" \
    "$srcdir/tests/demo/three-tier.after"
compare "evaluator matrix without policies" "$out/m/before.evaluator" \
    "$srcdir/tests/demo/three-tier.before"
compare "evaluator matrix with the policies" "$out/m/after.evaluator" \
    "$srcdir/tests/demo/three-tier.after"
[ "$status" = 0 ] || { echo "FAIL: the demo reported a mismatch"; fail=1; }

# Nothing of the run is left: no namespace, no temporary directory.
read -r run_id run_dir <"$out/m/run" 2>/dev/null
if [ -z "$run_id" ]; then
    echo "FAIL: the demo did not record its run"
    fail=1
else
    left=$(ip netns list | grep "^cf$run_id" || :)
    [ ! -e "$run_dir" ] || left="$left $run_dir"
    if [ -n "$left" ]; then
        echo "FAIL: the demo left: $left"
        fail=1
    else
        echo "ok - nothing of run $run_id left"
    fi
fi

if [ "$fail" != 0 ]; then
    echo "--- demo output"
    cat "$out/log"
    exit 1
fi
echo "PASS: demo matrices as expected ($(tail -1 "$out/log"))"
exit 0
