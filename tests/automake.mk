# tests/: the test infrastructure shared by every module.
#
#  - tests/cf-netprobe: TCP/UDP/SCTP servers and parallel probes in network
#    namespaces (SCTP in userspace over a raw socket);
#  - tests/lib/harness.sh: the shell library that starts private OVS
#    instances, nodes, pods, links, servers and probes (see its top);
#  - tests/netprobe.sh: cf-netprobe's own test (a private namespace, no OVS);
#  - tests/check-link-rule.sh: no program may link both libopenvswitch and
#    jansson;
#  - tests/system-*.sh: root-only system tests on real OVS ("make
#    check-system"), tests/run-all: every suite with one final count;
#  - "make bench": runs every program of $(BENCHES).
#
# Modules add their unit tests to TESTS and their system tests to
# SYSTEM_TESTS in their own automake.mk (see HACKING.md).

noinst_PROGRAMS += tests/cf-netprobe
tests_cf_netprobe_SOURCES = tests/cf-netprobe.c

# Shell tests run under bash, each limited to CF_TEST_TIMEOUT seconds
# (then SIGTERM: the harness cleans up); programs (check suites) run as
# they are.
TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = timeout --foreground -k 10 $(CF_TEST_TIMEOUT) bash
CF_TEST_TIMEOUT = 900

# What every test (unit or system) finds in its environment.
#   CF_BUILDDIR, CF_SRCDIR   absolute build and source directories
#   CF_PROGRAMS              every program this Makefile builds
#   CF_CC, CF_OVS_LIBS, CF_JANSSON_LIBS   for check-link-rule.sh's control
AM_TESTS_ENVIRONMENT = \
	CF_BUILDDIR='$(abs_top_builddir)'; export CF_BUILDDIR; \
	CF_SRCDIR='$(abs_top_srcdir)'; export CF_SRCDIR; \
	CF_PROGRAMS='$(bin_PROGRAMS) $(sbin_PROGRAMS) $(noinst_PROGRAMS) $(check_PROGRAMS)'; \
	export CF_PROGRAMS; \
	CF_CC='$(CC)'; export CF_CC; \
	CF_OVS_LIBS='$(OVS_LIBS)'; export CF_OVS_LIBS; \
	CF_JANSSON_LIBS='$(JANSSON_LIBS)'; export CF_JANSSON_LIBS;

TESTS += tests/check-link-rule.sh tests/netprobe.sh

SYSTEM_TESTS += tests/system-harness.sh

# conjflowd's datapath flow cache purge, the workaround for OVS 3.1's stale
# megaflows (added by the "purge" task): its system test (root), and a
# benchmark of what "revalidator/purge" costs.
SYSTEM_TESTS += tests/system-datapath-purge.sh
BENCHES += tests/bench-purge.sh
EXTRA_DIST += tests/bench-purge.sh
# conjflowd with many nodes that all hold many policies: time and memory.
BENCHES += tests/bench-scale.sh
EXTRA_DIST += tests/bench-scale.sh

EXTRA_DIST += \
	tests/check-link-rule.sh \
	tests/netprobe.sh \
	tests/lib/harness.sh \
	tests/run-all \
	$(SYSTEM_TESTS)

CLEANFILES += tests/system-suite.log

# make check-system: the system tests (root only), through automake's
# parallel test driver, with their own summary log (tests/system-suite.log).
# Each test runs its own OVS in its own namespaces, so "make -j2
# check-system" runs them side by side safely.
.PHONY: check-system
check-system: all $(check_PROGRAMS)
	@if test "`id -u`" != 0; then \
	  echo "make check-system: the system tests need root" \
	       "(network namespaces, OVS); run it as root" >&2; \
	  exit 1; \
	fi
	@$(MAKE) $(AM_MAKEFLAGS) check-TESTS TESTS='$(SYSTEM_TESTS)' \
	  TEST_SUITE_LOG=tests/system-suite.log

# make bench: every benchmark in $(BENCHES) (programs, or .sh scripts run
# with bash), one after the other (they measure time: never in parallel),
# with CF_BUILDDIR and CF_SRCDIR set.  Each prints its own numbers.
.PHONY: bench
bench: all $(BENCHES)
	@failed=; \
	for b in $(BENCHES); do \
	  if test -f "./$$b"; then p="./$$b"; else p="$(srcdir)/$$b"; fi; \
	  echo "== $$b"; \
	  case $$b in *.sh) p="bash $$p" ;; esac; \
	  CF_BUILDDIR='$(abs_top_builddir)' CF_SRCDIR='$(abs_top_srcdir)' \
	    $$p || failed="$$failed $$b"; \
	done; \
	if test -n "$$failed"; then \
	  echo "bench: failed:$$failed" >&2; exit 1; \
	fi

# For tests/run-all: the tests of each suite, one per line.
.PHONY: cf-list-tests cf-list-system-tests
cf-list-tests:
	@for t in $(TESTS); do echo "$$t"; done
cf-list-system-tests:
	@for t in $(SYSTEM_TESTS); do echo "$$t"; done

# --- system-trace (added by the "trace" task; tell the lead before moving):
# compiled flows under ovs-appctl ofproto/trace agree with conjflowctl
# explain (needs utilities/conjflowctl and python3).
SYSTEM_TESTS += tests/system-trace.sh
EXTRA_DIST += tests/trace/trace.py

# --- conformance (added by the "conformance" task, issue 6; tell the lead
# before moving): the NetworkPolicy corpus on real traffic through conjflowd
# and OVS (root).  tests/run-all runs tests/conformance/suite as a runner
# (both corpora, --ignore-diagonal, one "N passed, N failed"), so it is not
# in SYSTEM_TESTS; "make check-conformance" runs the same by hand.
EXTRA_DIST += \
	tests/conformance/conformance.py \
	tests/conformance/extra-cases.json \
	tests/conformance/ipblock-templates.json \
	tests/conformance/run \
	tests/conformance/suite

.PHONY: check-conformance
check-conformance: all
	@if test "`id -u`" != 0; then \
	  echo "make check-conformance: needs root (network namespaces," \
	       "OVS); run it as root" >&2; \
	  exit 1; \
	fi
	CF_BUILDDIR='$(abs_top_builddir)' CF_SRCDIR='$(abs_top_srcdir)' \
	  $(SHELL) '$(abs_top_srcdir)/tests/conformance/suite'

# --- system-crossnode (added by the "crossnode" task; tell the lead before
# moving): conntrack state across nodes with real packets (root): a denied
# attempt opens no way back, a revoked connection's replies stop.
SYSTEM_TESTS += tests/system-crossnode.sh

# conjflowd's conntrack sweep (controller/conjflowd-ctsweep.c): a revoked
# connection's server-to-client UDP stream stops within 1 s of sync.
SYSTEM_TESTS += tests/system-ctsweep.sh
