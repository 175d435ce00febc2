# controller/: the cluster model, the NetworkPolicy compiler, the reference
# evaluator and the flow interpreter (pure C), and conjflowd's main().

# The model and small utilities: used by every program.
noinst_LTLIBRARIES += controller/libcfmodel.la
controller_libcfmodel_la_SOURCES = \
	controller/cfutil.c \
	controller/model.c

# The compiler, the reference evaluator and the flow interpreter (pure C):
# used by conjflowd, conjflowctl and the tests.
noinst_LTLIBRARIES += controller/libcfcompiler.la
controller_libcfcompiler_la_SOURCES = \
	controller/cflow.c \
	controller/compiler-private.h \
	controller/compiler-cache.c \
	controller/compiler-index.c \
	controller/compiler.c \
	controller/evaluator.c \
	controller/interp.c
noinst_HEADERS += include/conjflow/interp.h

# Tests of the compiler library (sources in tests/).
noinst_LTLIBRARIES += tests/libcfclusterbuilder.la
tests_libcfclusterbuilder_la_SOURCES = \
	tests/cluster-builder.c \
	tests/cluster-builder.h

check_PROGRAMS += tests/check-differential
tests_check_differential_SOURCES = tests/check-differential.c
tests_check_differential_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) \
	$(JANSSON_CFLAGS)
tests_check_differential_LDADD = tests/libcfclusterbuilder.la \
	manifest/libcfmanifest.la controller/libcfcompiler.la \
	controller/libcfmodel.la $(JANSSON_LIBS) $(CHECK_LIBS)
TESTS += tests/check-differential

# make bench: the compiler's numbers (tests/automake.mk runs $(BENCHES)).
check_PROGRAMS += tests/bench-compiler
tests_bench_compiler_SOURCES = tests/bench-compiler.c
tests_bench_compiler_LDADD = tests/libcfclusterbuilder.la \
	controller/libcfcompiler.la controller/libcfmodel.la
BENCHES += tests/bench-compiler

# Golden tests: clusters in, sorted flow text out (tests/golden/*.flows).
check_PROGRAMS += tests/golden/check-golden
tests_golden_check_golden_SOURCES = tests/golden/check-golden.c
tests_golden_check_golden_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_golden_check_golden_LDADD = tests/libcfclusterbuilder.la \
	controller/libcfcompiler.la controller/libcfmodel.la $(CHECK_LIBS)
TESTS += tests/golden/check-golden
EXTRA_DIST += \
	tests/golden/conjunctions.flows \
	tests/golden/default-deny.flows \
	tests/golden/plain.flows \
	tests/golden/shared-clauses.flows

check_PROGRAMS += tests/check-compiler
tests_check_compiler_SOURCES = tests/check-compiler.c
tests_check_compiler_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_compiler_LDADD = tests/libcfclusterbuilder.la \
	controller/libcfcompiler.la controller/libcfmodel.la $(CHECK_LIBS)
TESTS += tests/check-compiler

check_PROGRAMS += tests/check-evaluator
tests_check_evaluator_SOURCES = tests/check-evaluator.c
tests_check_evaluator_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_evaluator_LDADD = tests/libcfclusterbuilder.la \
	controller/libcfcompiler.la controller/libcfmodel.la $(CHECK_LIBS)
TESTS += tests/check-evaluator

check_PROGRAMS += tests/check-cflow
tests_check_cflow_SOURCES = tests/check-cflow.c
tests_check_cflow_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_cflow_LDADD = controller/libcfcompiler.la \
	controller/libcfmodel.la $(CHECK_LIBS)
TESTS += tests/check-cflow
