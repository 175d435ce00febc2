# tests/demo/: the quick-start demo ("./quickstart demo", tests/demo/run)
# and its test; with it the example clusters (examples/), conjflow-mininet
# (utilities/conjflow-mininet, not installed: it needs the test tree's
# cf-netprobe; nor is its man page, utilities/conjflow-mininet.1, which is
# only distributed) and its system test.

# Root-only tests on real OVS ("make check-system"):
#  - check-demo.sh asserts the demo's probed matrices (before and after
#    the policies) against tests/demo/three-tier.{before,after} and the
#    evaluator;
#  - system-mininet.sh runs conjflow-mininet on a two-switch topology with
#    real traffic (skips without mininet).
SYSTEM_TESTS += \
	tests/demo/check-demo.sh \
	tests/system-mininet.sh

EXTRA_DIST += \
	tests/demo/run \
	tests/demo/three-tier.before \
	tests/demo/three-tier.after \
	utilities/conjflow-mininet \
	utilities/conjflow-mininet.1 \
	examples/README.md \
	examples/one-node/cluster.yaml \
	examples/one-node/policy.yaml \
	examples/two-nodes/cluster.yaml \
	examples/two-nodes/policy.yaml \
	examples/three-tier/cluster.yaml \
	examples/three-tier/policies/10-default-deny.yaml \
	examples/three-tier/policies/20-web-from-anywhere.yaml \
	examples/three-tier/policies/30-frontend-to-backend.yaml \
	examples/three-tier/policies/40-namespace-isolation.yaml \
	examples/three-tier/policies/50-egress-dns-https.yaml
