#!/bin/sh
# Packaging test: builds the conjflow .deb from the dist tarball, checks it
# with lintian, installs it on this machine with dpkg -i, runs the
# installed programs, verifies the systemd units, removes and purges the
# package (checking that the state survives a remove and not a purge), and
# builds the RPM from the same tarball with rpmbuild.
#
# usage: tests/packaging-test.sh [DIST_TARBALL]
#   Without DIST_TARBALL, runs "make dist" in $BUILDDIR (default:
#   $CF_BUILDDIR, else the current directory: a configured build tree).
#   CONJFLOW_CACHE, if set, is the libopenvswitch cache the package builds
#   use; by default a fresh one in the test's own temporary directory.
#
# Needs root and the packages debhelper, lintian, rpm, systemd (plus the
# build dependencies in packaging/debian/control).  Exit status: 0 pass,
# 1 fail, 77 skip (not root, a tool missing, or conjflow already installed
# here: the test never touches an installation it did not make).
# Everything it installs or creates is removed at the end.

set -u

log() { printf '%s\n' "packaging-test: $*"; }
skip() { log "SKIP: $*"; exit 77; }

failures=0
fail() { log "FAIL: $*"; failures=$((failures + 1)); }
pass() { log "ok: $*"; }

# --- preconditions --------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (dpkg -i)"
for tool in dpkg-buildpackage dh lintian rpmbuild systemd-analyze; do
    command -v "$tool" >/dev/null 2>&1 \
        || skip "$tool not found (apt-get install debhelper lintian rpm systemd)"
done
if dpkg-query -W -f='${Status}' conjflow 2>/dev/null \
        | grep -qv 'not-installed'; then
    skip "a conjflow package is already installed here; not touching it"
fi
if getent passwd conjflow >/dev/null || [ -e /var/lib/conjflow ] \
        || [ -e /etc/conjflow ] || [ -e /run/conjflow ]; then
    skip "user conjflow, /var/lib/conjflow, /etc/conjflow or /run/conjflow exists already"
fi

tarball=${1:-}
if [ -z "$tarball" ]; then
    builddir=${BUILDDIR:-${CF_BUILDDIR:-.}}
    [ -f "$builddir/Makefile" ] \
        || { log "FAIL: no tarball given and no Makefile in $builddir"; exit 1; }
    log "making the dist tarball in $builddir"
    make -C "$builddir" dist >/dev/null 2>"${TMPDIR:-/tmp}/packaging-dist.$$" \
        || { cat "${TMPDIR:-/tmp}/packaging-dist.$$"; rm -f "${TMPDIR:-/tmp}/packaging-dist.$$"; \
             log "FAIL: make dist"; exit 1; }
    rm -f "${TMPDIR:-/tmp}/packaging-dist.$$"
    version=$(sed -n 's/^PACKAGE_VERSION = //p' "$builddir/Makefile")
    tarball=$builddir/conjflow-$version.tar.gz
fi
[ -f "$tarball" ] || { log "FAIL: $tarball not found"; exit 1; }
tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
distdir=$(basename "$tarball" .tar.gz)
version=${distdir#conjflow-}

work=$(mktemp -d "${TMPDIR:-/tmp}/conjflow-packaging.XXXXXX")
installed=false
cleanup() {
    if $installed; then
        dpkg -P conjflow >/dev/null 2>&1 \
            || log "cleanup: dpkg -P conjflow failed"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
CONJFLOW_CACHE="${CONJFLOW_CACHE:-$work/ovs-cache}"
export CONJFLOW_CACHE
start=$(date +%s)

# --- the .deb ---------------------------------------------------------------
mkdir "$work/deb"
tar xzf "$tarball" -C "$work/deb"
cp -R "$work/deb/$distdir/packaging/debian" "$work/deb/$distdir/debian"
log "dpkg-buildpackage -us -uc -b (log: build-deb.log)"
if (cd "$work/deb/$distdir" \
        && DEB_BUILD_OPTIONS="nocheck parallel=2" \
           dpkg-buildpackage -us -uc -b) >"$work/build-deb.log" 2>&1; then
    pass "the .deb builds ($(($(date +%s) - start)) s)"
else
    tail -40 "$work/build-deb.log"
    fail "dpkg-buildpackage"
    exit 1
fi
deb=$(ls "$work"/deb/conjflow_"$version"-*_*.deb 2>/dev/null | head -1)
changes=$(ls "$work"/deb/conjflow_"$version"-*_*.changes 2>/dev/null | head -1)
[ -n "$deb" ] || { fail "no .deb produced"; exit 1; }

for f in usr/sbin/conjflowd usr/sbin/conjflow-k8s usr/bin/conjflowctl \
         etc/conjflow/conjflowd.conf etc/conjflow/conjflow-k8s.conf \
         lib/systemd/system/conjflowd.service \
         lib/systemd/system/conjflow-k8s.service var/lib/conjflow/ \
         usr/lib/tmpfiles.d/conjflow.conf; do
    if dpkg-deb -c "$deb" | awk '{print $6}' | grep -qx "\./$f"; then
        :
    else
        fail "$f is not in the .deb"
    fi
done
dpkg-deb -c "$deb" | grep -q '/usr/share/man/man./.*\.gz$' \
    || fail "no man page in the .deb"

lintian --fail-on error --no-tag-display-limit "$changes" \
    >"$work/lintian.log" 2>&1
lintian_rc=$?
n_errors=$(grep -c '^E: ' "$work/lintian.log")
n_warnings=$(grep -c '^W: ' "$work/lintian.log")
if [ $lintian_rc = 0 ] && [ "$n_errors" = 0 ]; then
    pass "lintian: 0 errors, $n_warnings warnings"
else
    cat "$work/lintian.log"
    fail "lintian: $n_errors errors (exit $lintian_rc)"
fi

# --- install ----------------------------------------------------------------
installed=true
if dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1; then
    pass "dpkg -i"
else
    cat "$work/dpkg-i.log"
    fail "dpkg -i"
    exit 1
fi

if out=$(/usr/sbin/conjflowd --version 2>&1) \
        && printf '%s' "$out" | grep -q "$version"; then
    pass "/usr/sbin/conjflowd --version: $(printf '%s\n' "$out" \
                                           | grep "$version" | head -1)"
else
    fail "/usr/sbin/conjflowd --version: $out"
fi
for prog in /usr/bin/conjflowctl /usr/sbin/conjflow-k8s; do
    out=$("$prog" --version 2>&1) && printf '%s' "$out" | grep -q "$version" \
        || fail "$prog --version: $out"
done

# The shipped configuration must be accepted by the programs, as the
# service user (--help exits after the options are parsed).
for prog in /usr/sbin/conjflowd /usr/sbin/conjflow-k8s; do
    name=$(basename "$prog")
    if out=$(setpriv --reuid=conjflow --regid=conjflow --clear-groups \
             "$prog" --config "/etc/conjflow/$name.conf" --help 2>&1); then
        pass "$name accepts /etc/conjflow/$name.conf"
    else
        printf '%s\n' "$out" | tail -5
        fail "$name rejects /etc/conjflow/$name.conf"
    fi
done

getent passwd conjflow >/dev/null || fail "no user conjflow after install"
owner=$(stat -c %U:%G:%a /var/lib/conjflow 2>/dev/null)
[ "$owner" = conjflow:conjflow:750 ] \
    || fail "/var/lib/conjflow is '$owner', not conjflow:conjflow:750"
man -w conjflowd >/dev/null 2>&1 || fail "man -w conjflowd finds no page"
if command -v systemd-tmpfiles >/dev/null; then
    owner=$(stat -c %U:%G:%a /run/conjflow 2>/dev/null)
    [ "$owner" = conjflow:conjflow:750 ] \
        || fail "/run/conjflow (tmpfiles.d) is '$owner', not conjflow:conjflow:750"
fi

# --- systemd units ----------------------------------------------------------
units="/lib/systemd/system/conjflowd.service /lib/systemd/system/conjflow-k8s.service"
# shellcheck disable=SC2086
if systemd-analyze verify $units >"$work/verify.log" 2>&1 \
        && ! grep -q 'conjflow' "$work/verify.log"; then
    pass "systemd-analyze verify (both units)"
else
    cat "$work/verify.log"
    fail "systemd-analyze verify"
fi
# shellcheck disable=SC2086
systemd-analyze security --offline=yes $units >"$work/security.log" 2>&1 \
    && log "systemd-analyze security: $(grep -o 'exposure level.*' \
                                        "$work/security.log" | tr '\n' ' ')"

# --- remove keeps the state, purge deletes it --------------------------------
echo test >/var/lib/conjflow/packaging-test.db
chown conjflow:conjflow /var/lib/conjflow/packaging-test.db
if dpkg -r conjflow >"$work/dpkg-r.log" 2>&1; then
    [ -e /usr/sbin/conjflowd ] && fail "/usr/sbin/conjflowd left after remove"
    [ -f /var/lib/conjflow/packaging-test.db ] \
        && pass "dpkg -r keeps /var/lib/conjflow" \
        || fail "dpkg -r deleted the state in /var/lib/conjflow"
else
    cat "$work/dpkg-r.log"
    fail "dpkg -r"
fi
if dpkg -P conjflow >"$work/dpkg-p.log" 2>&1; then
    installed=false
    left=
    for p in /var/lib/conjflow /var/log/conjflow /etc/conjflow \
             /run/conjflow /lib/systemd/system/conjflowd.service; do
        [ -e "$p" ] && left="$left $p"
    done
    getent passwd conjflow >/dev/null && left="$left user:conjflow"
    getent group conjflow >/dev/null && left="$left group:conjflow"
    [ -z "$left" ] && pass "dpkg -P leaves nothing" \
        || fail "dpkg -P left:$left"
else
    cat "$work/dpkg-p.log"
    fail "dpkg -P"
fi

# --- the RPM ------------------------------------------------------------------
# Debian's rpm has no RPM build dependencies installed, hence --nodeps; the
# unit tests already ran in the normal build, hence --nocheck.
mkdir -p "$work/rpm/SOURCES"
cp "$tarball" "$work/rpm/SOURCES/"
ovs_tarball=/usr/src/openvswitch/openvswitch.tar.gz
ovs_version=$(sed -n 's/^%global ovs_version //p' \
              "$work/deb/$distdir/packaging/rpm/conjflow.spec")
cp "$ovs_tarball" "$work/rpm/SOURCES/openvswitch-$ovs_version.tar.gz"
log "rpmbuild -bb --nodeps (log: build-rpm.log)"
if rpmbuild -bb --nodeps --nocheck \
        --define "_topdir $work/rpm" \
        --define "conjflow_cache $CONJFLOW_CACHE" \
        --define "_smp_mflags -j2" \
        "$work/deb/$distdir/packaging/rpm/conjflow.spec" \
        >"$work/build-rpm.log" 2>&1; then
    rpm=$(find "$work/rpm/RPMS" -name "conjflow-$version-*.rpm" | head -1)
    if [ -n "$rpm" ] && rpm -qlp "$rpm" 2>/dev/null \
            | grep -qx /usr/sbin/conjflowd; then
        pass "the RPM builds: $(basename "$rpm")"
    else
        fail "rpmbuild made no conjflow RPM with /usr/sbin/conjflowd"
    fi
else
    tail -40 "$work/build-rpm.log"
    fail "rpmbuild"
fi

log "$(($(date +%s) - start)) s in all"
if [ $failures = 0 ]; then
    log "PASS"
    exit 0
fi
log "$failures failures"
exit 1
