# ofproto/: conjflowd's OpenFlow and OVSDB side (libopenvswitch).  Only this
# library and conjflowd see OVS headers; they build with OVS's config.h and
# OVS's (slightly relaxed) warning set.
noinst_LTLIBRARIES += ofproto/libcfofproto.la
ofproto_libcfofproto_la_SOURCES = \
	ofproto/ofconv.c \
	ofproto/ofconv.h \
	ofproto/switch.c \
	ofproto/switch.h
ofproto_libcfofproto_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) \
	$(OVS_CPPFLAGS)
ofproto_libcfofproto_la_CFLAGS = $(OVS_WARNING_FLAGS) -std=gnu11

# conjflowd, the daemon.  Its source lives in controller/ but its rule is
# here, with the rest of the libopenvswitch side (controller/automake.mk
# is the pure compiler's).  It links libopenvswitch, never jansson.
sbin_PROGRAMS += controller/conjflowd
controller_conjflowd_SOURCES = \
	controller/conjflowd.c \
	controller/conjflowd.h \
	controller/conjflowd-ctsweep.c \
	controller/conjflowd-metrics.c \
	controller/conjflowd-observe.c \
	controller/ctsweep.c \
	controller/ctsweep.h \
	controller/observe.c \
	controller/observe.h
controller_conjflowd_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) \
	$(OVS_CPPFLAGS)
controller_conjflowd_CFLAGS = $(OVS_WARNING_FLAGS) -std=gnu11
controller_conjflowd_LDADD = \
	ofproto/libcfofproto.la \
	controller/libcfcompiler.la \
	store/libcfstore.la \
	controller/libcfconfig.la \
	controller/libcfmodel.la \
	$(SQLITE_LIBS) $(OVS_LIBS)
man_MANS += controller/conjflowd.8
EXTRA_DIST += controller/conjflowd.8

# System test of conjflowd on real OVS (root; "make check-system").
SYSTEM_TESTS += tests/system-conjflowd.sh tests/system-conjflowd-ssl.sh

# System test of observability: audit log, statistics, trace, metrics,
# realization (root; "make check-system").
SYSTEM_TESTS += tests/system-observe.sh

# Unit tests of the compiler's audit-log flows (observability; pure C).
check_PROGRAMS += tests/check-observe
tests_check_observe_SOURCES = tests/check-observe.c
tests_check_observe_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_observe_LDADD = tests/libcfclusterbuilder.la \
	controller/libcfcompiler.la controller/libcfmodel.la $(CHECK_LIBS)
TESTS += tests/check-observe

# Benchmark of conjflowd on real OVS (root; "make bench").
BENCHES += tests/bench-conjflowd.sh
EXTRA_DIST += tests/bench-conjflowd.sh

# Unit tests of the conversion of compiled flows to OpenFlow (no switch).
check_PROGRAMS += tests/check-ofconv
tests_check_ofconv_SOURCES = \
	tests/check-ofconv.c \
	tests/cluster-builder.c \
	tests/cluster-builder.h
tests_check_ofconv_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) \
	-I$(top_srcdir)/tests $(OVS_CPPFLAGS)
tests_check_ofconv_CFLAGS = $(OVS_WARNING_FLAGS) -std=gnu11 $(CHECK_CFLAGS)
tests_check_ofconv_LDADD = \
	ofproto/libcfofproto.la \
	controller/libcfcompiler.la \
	controller/libcfmodel.la \
	$(CHECK_LIBS) $(OVS_LIBS)
TESTS += tests/check-ofconv

# Unit tests of the memory savings of the OpenFlow side: interned, shared
# actions, flow_mods from the kept bytes, the desired flow cache.
check_PROGRAMS += tests/check-ofmem
tests_check_ofmem_SOURCES = \
	tests/check-ofmem.c \
	tests/cluster-builder.c \
	tests/cluster-builder.h
tests_check_ofmem_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) \
	-I$(top_srcdir)/tests $(OVS_CPPFLAGS)
tests_check_ofmem_CFLAGS = $(OVS_WARNING_FLAGS) -std=gnu11 $(CHECK_CFLAGS)
tests_check_ofmem_LDADD = \
	ofproto/libcfofproto.la \
	controller/libcfcompiler.la \
	controller/libcfmodel.la \
	$(CHECK_LIBS) $(OVS_LIBS)
TESTS += tests/check-ofmem

# Unit tests of the Kubernetes watch health metrics (cf_metrics_put_k8s()
# in controller/observe.c, on a real store file).
check_PROGRAMS += tests/check-metrics-k8s
tests_check_metrics_k8s_SOURCES = \
	tests/check-metrics-k8s.c \
	controller/observe.c \
	controller/observe.h
tests_check_metrics_k8s_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) \
	$(OVS_CPPFLAGS)
tests_check_metrics_k8s_CFLAGS = $(OVS_WARNING_FLAGS) -std=gnu11 \
	$(CHECK_CFLAGS)
tests_check_metrics_k8s_LDADD = \
	ofproto/libcfofproto.la \
	controller/libcfcompiler.la \
	store/libcfstore.la \
	controller/libcfmodel.la \
	$(SQLITE_LIBS) $(CHECK_LIBS) $(OVS_LIBS)
TESTS += tests/check-metrics-k8s

# conjflowd's conntrack sweep: unit tests of its pure part (the dump parser
# and the verdict on entries, controller/ctsweep.c) and its system test on
# real OVS (root; "make check-system").
check_PROGRAMS += tests/check-ctsweep
tests_check_ctsweep_SOURCES = \
	tests/check-ctsweep.c \
	controller/ctsweep.c \
	controller/ctsweep.h
tests_check_ctsweep_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir) \
	-I$(top_srcdir)/tests
tests_check_ctsweep_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_ctsweep_LDADD = tests/libcfclusterbuilder.la \
	controller/libcfcompiler.la controller/libcfmodel.la $(CHECK_LIBS)
TESTS += tests/check-ctsweep
