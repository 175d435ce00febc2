# store/: conjflow's cluster state and change feed in SQLite (see
# store/store.c), with its own compact record codec (no jansson: conjflowd
# links this library).

noinst_LTLIBRARIES += store/libcfstore.la
store_libcfstore_la_SOURCES = \
	store/codec.c \
	store/codec.h \
	store/schema.c \
	store/schema.h \
	store/store.c \
	store/store-private.h \
	store/validate.c \
	store/validate.h
store_libcfstore_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
store_libcfstore_la_LIBADD = $(SQLITE_LIBS)

# Unit tests (check), including several processes on one real file.
check_PROGRAMS += tests/check-store
tests_check_store_SOURCES = tests/check-store.c
tests_check_store_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/store \
	-DCF_TEST_SRCDIR='"$(srcdir)"'
tests_check_store_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SQLITE_CFLAGS)
tests_check_store_LDADD = store/libcfstore.la controller/libcfmodel.la \
	$(SQLITE_LIBS) $(CHECK_LIBS)
TESTS += tests/check-store
EXTRA_DIST += tests/data/store-v1.sql

# make bench: the store's numbers (tests/automake.mk runs $(BENCHES)).
check_PROGRAMS += tests/bench-store
tests_bench_store_SOURCES = tests/bench-store.c
tests_bench_store_LDADD = store/libcfstore.la controller/libcfmodel.la \
	$(SQLITE_LIBS)
BENCHES += tests/bench-store
