#!/bin/bash
# Copyright (c) 2026 The conjflow authors.
# Licensed under the Apache License, Version 2.0 (see LICENSE).
#
# check-link-rule.sh: no program may link both libopenvswitch and jansson.
#
# Both libraries export functions of the same names (json_object,
# json_string, ...) with different signatures; a program linking the static
# libopenvswitch and -ljansson links silently and then calls the wrong one.
# So every conjflow program stays on one side: conjflowd on libopenvswitch's,
# conjflowctl and conjflow-k8s on jansson's.
#
# A program is on libopenvswitch's side if it defines one of OVS's
# well-known functions (nm), or needs a shared libopenvswitch (readelf);
# on jansson's side if it needs libjansson.so, references a versioned
# jansson symbol, or defines jansson-only functions (a static jansson).
#
# Run by "make check" with CF_BUILDDIR and CF_PROGRAMS (every program the
# Makefile builds: all must exist) set; standalone, it checks the programs
# named on its command line.  With CF_CC, CF_OVS_LIBS and CF_JANSSON_LIBS
# set (make sets them) it first links three small control programs (OVS
# only, jansson only, both) and checks that they are classified right, so
# the test can't pass because the detection broke.
#
# Exit status: 0 pass, 1 fail, 99 error.

set -u

# Defined by libopenvswitch (any program using it pulls in some of these).
ovs_marks='ovs_fatal|ovs_strerror|ovs_assert_failure|ofpbuf_init|ofpbuf_new|vlog_insert_module|ofputil_encode_flow_mod|ovsdb_idl_create|xmalloc'
# Defined by jansson only.
jansson_marks='json_loads|json_loadb|json_dumps|json_dumpb|json_delete|json_object_set_new_nocheck|json_vpack_ex|jansson_version_str'

fails=0
checked=0

# side PROGRAM: prints "ovs", "jansson", "both" or "neither".
side() {
    local prog=$1 ovs=no jansson=no needed
    needed=$(readelf -d "$prog" 2>/dev/null | grep NEEDED)
    if nm --defined-only "$prog" 2>/dev/null \
            | grep -qE " [TtDdBbRrWw] ($ovs_marks)\$" \
       || echo "$needed" | grep -q 'libopenvswitch'; then
        ovs=yes
    fi
    if echo "$needed" | grep -q 'libjansson' \
       || nm -D "$prog" 2>/dev/null | grep -q '@libjansson' \
       || nm --defined-only "$prog" 2>/dev/null \
            | grep -qE " [TtDdBbRrWw] ($jansson_marks)\$"; then
        jansson=yes
    fi
    case $ovs$jansson in
    yesyes) echo both ;;
    yesno) echo ovs ;;
    noyes) echo jansson ;;
    *) echo neither ;;
    esac
}

# real_binary PROGRAM: prints the ELF file behind PROGRAM (a libtool
# wrapper script points into .libs/).
real_binary() {
    local prog=$1 d b
    if head -c4 "$prog" 2>/dev/null | grep -q 'ELF'; then
        echo "$prog"
        return
    fi
    d=$(dirname "$prog"); b=$(basename "$prog")
    for cand in "$d/.libs/lt-$b" "$d/.libs/$b"; do
        if [ -f "$cand" ]; then echo "$cand"; return; fi
    done
    echo "$prog"
}

# check PROGRAM: fails the test if PROGRAM links both libraries, or is one
# of conjflow's daemons on the wrong side.
check() {
    local prog=$1 name s bin
    name=$(basename "$prog")
    bin=$(real_binary "$prog")
    if ! head -c4 "$bin" 2>/dev/null | grep -q 'ELF'; then
        echo "FAIL: $prog: not an ELF program"
        fails=$((fails + 1))
        return
    fi
    s=$(side "$bin")
    checked=$((checked + 1))
    case $name:$s in
    *:both)
        echo "FAIL: $prog links both libopenvswitch and jansson" ;;
    conjflowd:jansson)
        echo "FAIL: $prog (libopenvswitch side) links jansson" ;;
    conjflowctl:ovs|conjflow-k8s:ovs)
        echo "FAIL: $prog (jansson side) links libopenvswitch" ;;
    *)
        echo "ok: $prog: $s"
        return ;;
    esac
    fails=$((fails + 1))
}

# control: links the control programs and checks their classification.
control() {
    local dir src rc=0
    dir=$(mktemp -d "${TMPDIR:-/tmp}/cf-linkrule.XXXXXX") || exit 99
    src=$dir/ctl.c
    cat >"$src" <<'EOF'
/* Control programs of check-link-rule.sh. */
#include <stddef.h>
#ifdef USE_OVS
extern const char *ovs_strerror(int);
#endif
#ifdef USE_JANSSON
extern void *json_loads(const char *, size_t, void *);
#endif
int main(void);
int
main(void)
{
    int r = 0;
#ifdef USE_OVS
    r += ovs_strerror(0) != NULL;
#endif
#ifdef USE_JANSSON
    r += json_loads("{}", 0, NULL) != NULL;
#endif
    return r;
}
EOF
    # shellcheck disable=SC2086
    if ! $CF_CC -DUSE_OVS -o "$dir/ovs" "$src" $CF_OVS_LIBS \
         || ! $CF_CC -DUSE_JANSSON -o "$dir/jansson" "$src" $CF_JANSSON_LIBS \
         || ! $CF_CC -DUSE_OVS -DUSE_JANSSON -o "$dir/both" "$src" \
              $CF_OVS_LIBS $CF_JANSSON_LIBS; then
        echo "ERROR: could not link the control programs"
        rm -rf "$dir"
        exit 99
    fi
    for want in ovs jansson both; do
        got=$(side "$dir/$want")
        if [ "$got" != "$want" ]; then
            echo "FAIL: control program ($want) classified as $got:" \
                 "the detection is broken"
            rc=1
        else
            echo "ok: control program ($want) classified as $got"
        fi
    done
    rm -rf "$dir"
    [ $rc = 0 ] || fails=$((fails + 1))
}

for tool in nm readelf; do
    command -v $tool >/dev/null || { echo "ERROR: $tool missing (binutils)"; exit 99; }
done

if [ -n "${CF_CC:-}" ] && [ -n "${CF_OVS_LIBS:-}" ] \
   && [ -n "${CF_JANSSON_LIBS:-}" ]; then
    control
else
    echo "note: CF_CC/CF_OVS_LIBS/CF_JANSSON_LIBS unset: no control programs"
fi

if [ $# -gt 0 ]; then
    programs=("$@")
elif [ -n "${CF_BUILDDIR:-}" ]; then
    programs=()
    for p in ${CF_PROGRAMS:-}; do
        programs+=("$CF_BUILDDIR/$p")
    done
else
    echo "usage: $0 PROGRAM... (or run it from make check)"
    exit 99
fi

daemons=0
for prog in "${programs[@]}"; do
    if [ ! -e "$prog" ]; then
        echo "FAIL: $prog is listed in the Makefile but was not built"
        fails=$((fails + 1))
        continue
    fi
    case $(basename "$prog") in
    conjflowd|conjflowctl|conjflow-k8s) daemons=$((daemons + 1)) ;;
    esac
    check "$prog"
done

if [ $daemons = 0 ]; then
    echo "note: none of conjflowd, conjflowctl, conjflow-k8s is built yet"
fi
if [ $checked = 0 ]; then
    echo "FAIL: no program to check"
    exit 1
fi
echo "$checked programs checked, $fails failures"
[ $fails = 0 ]
