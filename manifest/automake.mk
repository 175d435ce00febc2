# manifest/: Kubernetes manifests (YAML and JSON) in, validated model
# objects out, and back (jansson + libyaml).  Also holds the unit tests of
# the model (tests/check-model.c), owned by the same engineer.

check_PROGRAMS += tests/check-model
tests_check_model_SOURCES = tests/check-model.c
tests_check_model_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_model_LDADD = controller/libcfmodel.la $(CHECK_LIBS)
TESTS += tests/check-model

noinst_LTLIBRARIES += manifest/libcfmanifest.la
manifest_libcfmanifest_la_SOURCES = \
	manifest/convert.c \
	manifest/export.c \
	manifest/manifest-private.h \
	manifest/manifest.c \
	manifest/yaml.c
manifest_libcfmanifest_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) \
	$(YAML_CFLAGS)
manifest_libcfmanifest_la_LIBADD = $(JANSSON_LIBS) $(YAML_LIBS)

check_PROGRAMS += tests/check-manifest
tests_check_manifest_SOURCES = tests/check-manifest.c
tests_check_manifest_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(YAML_CFLAGS) \
	$(CHECK_CFLAGS)
tests_check_manifest_LDADD = manifest/libcfmanifest.la \
	controller/libcfmodel.la $(JANSSON_LIBS) $(YAML_LIBS) $(CHECK_LIBS)
TESTS += tests/check-manifest
EXTRA_DIST += \
	tests/data/conformance-cases.json \
	tests/data/manifests/dir/10-namespaces.yaml \
	tests/data/manifests/dir/20-pods.json \
	tests/data/manifests/dir/30-policy.yml \
	tests/data/manifests/dir/40-node.yaml \
	tests/data/manifests/dir/README.txt \
	tests/data/manifests/valid/api-list.json \
	tests/data/manifests/valid/conformance-model.yaml \
	tests/data/manifests/valid/policies.yaml \
	tests/data/manifests/invalid/alias.err \
	tests/data/manifests/invalid/alias.yaml \
	tests/data/manifests/invalid/bad-policy.err \
	tests/data/manifests/invalid/bad-policy.yaml \
	tests/data/manifests/invalid/ipblock-except-outside.err \
	tests/data/manifests/invalid/ipblock-except-outside.yaml \
	tests/data/manifests/invalid/labels.err \
	tests/data/manifests/invalid/labels.yaml \
	tests/data/manifests/invalid/list-item.err \
	tests/data/manifests/invalid/list-item.yaml \
	tests/data/manifests/invalid/node.err \
	tests/data/manifests/invalid/node.yaml \
	tests/data/manifests/invalid/peers.err \
	tests/data/manifests/invalid/peers.yaml \
	tests/data/manifests/invalid/ports.err \
	tests/data/manifests/invalid/ports.yaml \
	tests/data/manifests/invalid/selector-values.err \
	tests/data/manifests/invalid/selector-values.json \
	tests/data/manifests/invalid/unknown-fields.err \
	tests/data/manifests/invalid/unknown-fields.yaml
