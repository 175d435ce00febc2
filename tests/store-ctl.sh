#! /bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# conjflowctl on a real store file: apply (created, configured, unchanged,
# dry run), get (tables, -o json/yaml), delete (by name, by file, namespace
# cascade), bad input that changes nothing (the file's whole content is
# compared), --db and $CONJFLOW_DB, a newer schema refused, and explain,
# matrix and compile on the store and on files.
#
# Needs CF_BUILDDIR (set by "make check") and python3 (its sqlite3 module
# reads the file independently of conjflow).

set -u
: "${CF_BUILDDIR:?run this through make check}"
CTL=$CF_BUILDDIR/utilities/conjflowctl
test -x "$CTL" || { echo "no $CTL"; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 is missing"; exit 77; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/store-ctl.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
export CONJFLOW_DB=$dir/store.db

passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# check NAME EXPECTED ACTUAL
check() {
    if test "$2" = "$3"; then pass; else
        fail "$1"; echo "--- expected"; echo "$2"; echo "--- got"; echo "$3"
    fi
}
# contains NAME NEEDLE HAYSTACK
contains() {
    case $3 in
    *"$2"*) pass ;;
    *) fail "$1: no \"$2\" in:"; echo "$3" ;;
    esac
}
# dump: every table of the store, for whole-content comparisons.
dump() {
    python3 - "$CONJFLOW_DB" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' "
                       "ORDER BY name"):
    print("==", t)
    for row in db.execute("SELECT * FROM %s ORDER BY 1, 2" % t):
        print(repr(row))
EOF
}

cat > cluster.yaml <<'EOF'
apiVersion: v1
kind: Namespace
metadata:
  name: x
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: x, labels: {app: web}}
spec:
  nodeName: n1
  containers:
  - name: c
    ports: [{name: http, containerPort: 80}]
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: x, labels: {app: client}}
spec: {nodeName: n1}
status: {podIP: 10.0.0.3}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: x, labels: {app: other}}
spec: {nodeName: n1}
status: {podIP: 10.0.0.4}
---
apiVersion: conjflow.io/v1alpha1
kind: Node
metadata: {name: n1}
spec:
  ovsdb: unix:/run/openvswitch/db.sock
  addresses: [192.168.1.1]
EOF
cat > policy.yaml <<'EOF'
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: x}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: client}}
    ports: [{port: 80}]
EOF

# --- apply: created, then unchanged, then configured.
out=$("$CTL" apply -f cluster.yaml -f policy.yaml 2>&1)
check "apply creates" "namespace x created
pod x/web created
pod x/client created
pod x/other created
node n1 created
networkpolicy x/allow-web created" "$out"
out=$("$CTL" apply -f policy.yaml -f cluster.yaml 2>&1)
check "apply again: unchanged" "networkpolicy x/allow-web unchanged
namespace x unchanged
pod x/web unchanged
pod x/client unchanged
pod x/other unchanged
node n1 unchanged" "$out"
sed 's/port: 80/port: 8080/' policy.yaml > policy2.yaml
out=$("$CTL" apply -f - < policy2.yaml 2>&1)
check "apply a change: configured" "networkpolicy x/allow-web configured" \
    "$out"
"$CTL" apply -f policy.yaml >/dev/null || fail "apply policy back"

# --- get.
out=$("$CTL" get pods -n x)
check "get pods -n x" "NAME     NODE   IP
client   n1     10.0.0.3
other    n1     10.0.0.4
web      n1     10.0.0.2" "$out"
out=$("$CTL" get netpol -A -o wide)
h="NAMESPACE   NAME        POD-SELECTOR   POLICY-TYPES   ID"
h="$h   INGRESS-RULES   EGRESS-RULES   REALIZED"
r="x           allow-web   app=web        Ingress        1    1"
r="$r               0              -"
check "get netpol -A -o wide" "$h
$r" "$out"
out=$("$CTL" get pods 2>&1)
check "get pods in an empty default namespace" \
    "No resources found in default namespace." "$out"
out=$("$CTL" get pods -A -o json | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(v["kind"], len(v["items"]), v["items"][0]["metadata"]["name"])')
check "get -o json is a List of the manifests" "List 3 client" "$out"
out=$("$CTL" get networkpolicy allow-web -n x -o yaml)
contains "get NAME -o yaml" "kind: NetworkPolicy" "$out"
out=$("$CTL" get nodes)
check "get nodes" "NAME   ID   BRIDGE   OVSDB
n1     1    br-int   unix:/run/openvswitch/db.sock" "$out"
"$CTL" get pod nope -n x 2>err.txt && fail "get of a missing pod succeeds"
contains "get of a missing pod" "pod x/nope not found" "$(cat err.txt)"

# --- Bad input changes nothing.
before=$(dump)
cat > bad.yaml <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: new, namespace: x}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: x}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: 80, endPort: 70}]
EOF
"$CTL" apply -f bad.yaml 2>err.txt && fail "invalid apply succeeds"
contains "invalid policy named" \
    "networkpolicy x/bad: spec.ingress[0].ports[0].endPort" "$(cat err.txt)"
check "invalid apply: store unchanged" "$before" "$(dump)"

cat > nons.yaml <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: missing}
EOF
"$CTL" apply -f nons.yaml 2>err.txt && fail "pod in a missing namespace"
check "missing namespace message" "conjflowctl: pod missing/b: \
metadata.namespace: namespace \"missing\" not found" "$(cat err.txt)"
check "missing namespace: store unchanged" "$before" "$(dump)"

"$CTL" apply -f nonexistent.yaml 2>err.txt && fail "missing file"
contains "missing file" "nonexistent.yaml" "$(cat err.txt)"
check "missing file: store unchanged" "$before" "$(dump)"

out=$("$CTL" apply -f - -f nons.yaml --dry-run <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: missing}
EOF
)
check "dry run" "pod x/a created (dry run)
pod missing/b created (dry run)" "$(echo "$out" | grep '^pod')"
contains "dry run namespace" "namespace missing created (dry run)" "$out"
check "dry run: store unchanged" "$before" "$(dump)"
"$CTL" delete namespace x --dry-run >/dev/null || fail "delete --dry-run"
check "delete --dry-run: store unchanged" "$before" "$(dump)"

# --- explain, matrix, compile on the store and on files.
"$CTL" explain x/client x/web 80/tcp > out.txt
check "explain allowed: exit 0" 0 $?
contains "explain names the rule" \
    "allowed by networkpolicy x/allow-web ingress rule 0" "$(cat out.txt)"
"$CTL" explain x/other x/web 80 > out.txt
check "explain denied: exit 1" 1 $?
"$CTL" explain x/other x/nope 80 2>/dev/null
check "explain error: exit 2" 2 $?
"$CTL" explain -f cluster.yaml -f policy.yaml x/other x/web 80 >/dev/null
check "explain on files: exit 1" 1 $?
"$CTL" explain -f cluster.yaml x/other x/web 80 >/dev/null
check "explain on files without the policy: exit 0" 0 $?
out=$("$CTL" matrix --port 80/TCP -o json | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(" ".join(v["pods"]), " ".join(v["matrix"]))')
check "matrix -o json" "x/client x/other x/web ... ..X ..X" "$out"
printf 'x/web 5\nx/client 6\nx/other 7\nuplink 1\n' > ports.map
"$CTL" compile --node n1 --port-map ports.map > store-flows.txt \
    || fail "compile on the store"
"$CTL" compile --node n1 --port-map ports.map -f cluster.yaml \
    -f policy.yaml > file-flows.txt || fail "compile on files"
check "compile: store and files agree" "$(cat file-flows.txt)" \
    "$(cat store-flows.txt)"
contains "compile: flows for the policy's port" "tp_dst=80" \
    "$(cat store-flows.txt)"
"$CTL" compile --node nope 2>err.txt && fail "compile of a missing node"
contains "compile of a missing node" "node nope not found" "$(cat err.txt)"

# --- delete.
out=$("$CTL" delete networkpolicy allow-web -n x)
check "delete by name" "networkpolicy x/allow-web deleted" "$out"
"$CTL" delete pod nope -n x 2>err.txt && fail "delete of a missing pod"
contains "delete of a missing pod" "pod x/nope not found" "$(cat err.txt)"
out=$("$CTL" delete -f cluster.yaml)
check "delete -f" "namespace x deleted
pod x/web deleted
pod x/client deleted
pod x/other deleted
node n1 deleted" "$out"
"$CTL" apply -f cluster.yaml >/dev/null
"$CTL" delete ns x >/dev/null || fail "delete ns"
out=$("$CTL" get pods -A 2>&1)
check "namespace delete cascades to its pods" "No resources found" "$out"

# --- --db beats $CONJFLOW_DB; a fresh store is created on apply.
"$CTL" --db "$dir/other.db" apply -f cluster.yaml >/dev/null \
    || fail "apply --db"
out=$("$CTL" get pods -A 2>&1)
check "--db leaves \$CONJFLOW_DB alone" "No resources found" "$out"
out=$(CONJFLOW_DB=$dir/other.db "$CTL" get pods -n x | wc -l)
check "CONJFLOW_DB" 4 "$out"
out=$("$CTL" --db "$dir/none.db" get pods -A 2>&1)
check "get on a missing store" "No resources found" "$out"
test ! -e "$dir/none.db" || fail "get created a store"

# --- A store with a newer schema is refused.
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute("PRAGMA user_version = 9")
db.commit()' "$dir/other.db"
"$CTL" --db "$dir/other.db" get pods -A 2>err.txt \
    && fail "newer schema accepted"
contains "newer schema message" "schema version 9, newer than" \
    "$(cat err.txt)"

# --- Usage errors.
"$CTL" frobnicate 2>/dev/null && fail "unknown command accepted"
"$CTL" get pods --node x 2>/dev/null && fail "option of another command"
"$CTL" get widgets 2>/dev/null && fail "unknown kind accepted"
"$CTL" --help | grep -q "conjflowctl apply\|apply -f" || fail "--help"
"$CTL" --version | grep -q conjflow || fail "--version"

echo "store-ctl: $passed passed, $failed failed"
test "$failed" = 0
