# utilities/: conjflowctl, the command line (store, manifests, compiler,
# evaluator; jansson side: never libopenvswitch), and its man page.

bin_PROGRAMS += utilities/conjflowctl
utilities_conjflowctl_SOURCES = \
	utilities/conjflowctl.c \
	utilities/ctl-observe.c \
	utilities/ctl-observe.h \
	utilities/ctl-table.c \
	utilities/ctl-table.h
utilities_conjflowctl_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
utilities_conjflowctl_LDADD = \
	store/libcfstore.la \
	manifest/libcfmanifest.la \
	controller/libcfcompiler.la \
	controller/libcfmodel.la \
	$(SQLITE_LIBS) $(JANSSON_LIBS) $(YAML_LIBS)

man_MANS += utilities/conjflowctl.8
EXTRA_DIST += utilities/conjflowctl.8

# Shell tests of conjflowctl on real store files.
TESTS += \
	tests/store-ctl.sh \
	tests/store-kill.sh \
	tests/store-concurrent.sh
EXTRA_DIST += \
	tests/store-ctl.sh \
	tests/store-kill.sh \
	tests/store-concurrent.sh
