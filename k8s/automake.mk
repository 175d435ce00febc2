# k8s/: conjflow-k8s, which follows a Kubernetes API server (list/watch
# over libcurl, jansson) into the store.  Never links libopenvswitch.

noinst_LTLIBRARIES += k8s/libcfk8s.la
k8s_libcfk8s_la_SOURCES = \
	k8s/cfdaemon.c \
	k8s/cfdaemon.h \
	k8s/cflog.c \
	k8s/cflog.h \
	k8s/cfunixctl.c \
	k8s/cfunixctl.h \
	k8s/convert.c \
	k8s/jsonsplit.c \
	k8s/kubeconfig.c \
	k8s/watch.c
k8s_libcfk8s_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) \
	$(YAML_CFLAGS)
k8s_libcfk8s_la_LIBADD = $(CURL_LIBS) $(JANSSON_LIBS) $(YAML_LIBS)
noinst_HEADERS += include/conjflow/k8s.h

CF_K8S_LIBS = k8s/libcfk8s.la manifest/libcfmanifest.la store/libcfstore.la \
	controller/libcfmodel.la $(CURL_LIBS) $(JANSSON_LIBS) $(YAML_LIBS) \
	$(SQLITE_LIBS)

sbin_PROGRAMS += k8s/conjflow-k8s
k8s_conjflow_k8s_SOURCES = k8s/conjflow-k8s.c
k8s_conjflow_k8s_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS)
k8s_conjflow_k8s_LDADD = controller/libcfconfig.la $(CF_K8S_LIBS)

# Tests: unit tests and system tests against tests/k8s-apiserver.py.
check_PROGRAMS += tests/check-k8s
tests_check_k8s_SOURCES = tests/check-k8s.c tests/k8s-harness.c \
	tests/k8s-harness.h
tests_check_k8s_CPPFLAGS = $(AM_CPPFLAGS) -DCF_TEST_SRCDIR='"$(srcdir)"'
tests_check_k8s_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(CURL_CFLAGS) \
	$(JANSSON_CFLAGS)
tests_check_k8s_LDADD = $(CF_K8S_LIBS) $(CHECK_LIBS)
TESTS += tests/check-k8s
EXTRA_DIST += tests/k8s-apiserver.py
# kubectl against the test API server (skips without kubectl).
TESTS += tests/system-k8s-kubectl.sh
EXTRA_DIST += tests/system-k8s-kubectl.sh

# make bench: initial sync rate, relist, event-to-store latency.
check_PROGRAMS += tests/bench-k8s
tests_bench_k8s_SOURCES = tests/bench-k8s.c tests/k8s-harness.c \
	tests/k8s-harness.h
tests_bench_k8s_CPPFLAGS = $(AM_CPPFLAGS) -DCF_TEST_SRCDIR='"$(srcdir)"'
tests_bench_k8s_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS)
tests_bench_k8s_LDADD = $(CF_K8S_LIBS)
BENCHES += tests/bench-k8s

man_MANS += k8s/conjflow-k8s.8
EXTRA_DIST += k8s/conjflow-k8s.8

# End to end (root, real OVS): test API server -> conjflow-k8s -> store ->
# conjflowd -> traffic ("make check-system").
SYSTEM_TESTS += tests/system-k8s.sh
