# packaging/: Debian and RPM packages, systemd units, the default
# configuration files under /etc/conjflow/, and the configuration-file
# reader every program uses (controller/cfconfig.c, built here so that
# controller/automake.mk stays the controller's).
#
#   make deb     builds the .deb from the dist tarball (dpkg-buildpackage)
#   make rpm     builds the .rpm from the dist tarball (rpmbuild -bb)
#   tests/packaging-test.sh   builds, installs and purges the .deb, checks
#                the units and builds the RPM (see the script)

# Configuration files: "option = value" lines turned into arguments.
noinst_LTLIBRARIES += controller/libcfconfig.la
controller_libcfconfig_la_SOURCES = controller/cfconfig.c
controller_libcfconfig_la_CPPFLAGS = $(AM_CPPFLAGS) \
	-DCF_SYSCONFDIR='"$(sysconfdir)"'
noinst_HEADERS += include/conjflow/cfconfig.h

check_PROGRAMS += tests/check-cfconfig
tests_check_cfconfig_SOURCES = tests/check-cfconfig.c
tests_check_cfconfig_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_check_cfconfig_LDADD = controller/libcfconfig.la \
	controller/libcfmodel.la $(CHECK_LIBS)
TESTS += tests/check-cfconfig

# Default configuration, installed to $(sysconfdir)/conjflow/.
conjflowconfdir = $(sysconfdir)/conjflow
dist_conjflowconf_DATA = \
	packaging/conf/conjflowd.conf \
	packaging/conf/conjflow-k8s.conf

# systemd units, generated from their .in files with the installation
# paths.  The unit directory can be overridden on the make command line
# (the packages install to the distribution's directory).
systemdunitdir = $(prefix)/lib/systemd/system
systemdunit_DATA = \
	packaging/systemd/conjflowd.service \
	packaging/systemd/conjflow-k8s.service
CLEANFILES += $(systemdunit_DATA)
EXTRA_DIST += \
	packaging/systemd/conjflowd.service.in \
	packaging/systemd/conjflow-k8s.service.in

packaging/systemd/%.service: packaging/systemd/%.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) packaging/systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    < $(srcdir)/packaging/systemd/$*.service.in > $@.tmp && \
	mv $@.tmp $@

# /run/conjflow at boot (systemd-tmpfiles), for daemons started by hand.
tmpfilesdir = $(prefix)/lib/tmpfiles.d
dist_tmpfiles_DATA = packaging/tmpfiles/conjflow.conf

# Package definitions, shipped in the dist tarball so that the packages
# build from it.
EXTRA_DIST += \
	packaging/README.md \
	packaging/debian/changelog \
	packaging/debian/conjflow.dirs \
	packaging/debian/conjflow.install \
	packaging/debian/conjflow.lintian-overrides \
	packaging/debian/conjflow.postinst \
	packaging/debian/conjflow.postrm \
	packaging/debian/control \
	packaging/debian/copyright \
	packaging/debian/rules \
	packaging/debian/source/format \
	packaging/rpm/conjflow.spec \
	tests/packaging-test.sh

# distcheck reuses the libopenvswitch tree this build was configured with
# (built from the cache by build-aux/ovs-build), instead of building it
# again.
DISTCHECK_CONFIGURE_FLAGS = \
	--with-ovs-source='$(OVS_SRCDIR)' --with-ovs-build='$(OVS_BUILDDIR)'

# "make deb": the .deb and its .changes land in packaging-out/.
PKG_OUT = packaging-out
deb: dist
	rm -rf $(PKG_OUT)/deb && $(MKDIR_P) $(PKG_OUT)/deb
	tar xzf $(distdir).tar.gz -C $(PKG_OUT)/deb
	cp -R $(PKG_OUT)/deb/$(distdir)/packaging/debian \
	      $(PKG_OUT)/deb/$(distdir)/debian
	cd $(PKG_OUT)/deb/$(distdir) && dpkg-buildpackage -us -uc -b
	@ls -l $(PKG_OUT)/deb/*.deb

# "make rpm": rpmbuild in packaging-out/rpm, with the dist tarball and the
# Open vSwitch source tarball ($(OVS_TARBALL_FOR_RPM)) as sources.
OVS_TARBALL_FOR_RPM = /usr/src/openvswitch/openvswitch.tar.gz
RPMBUILD_FLAGS =
rpm: dist
	rm -rf $(PKG_OUT)/rpm
	$(MKDIR_P) $(PKG_OUT)/rpm/SOURCES
	cp $(distdir).tar.gz $(PKG_OUT)/rpm/SOURCES/
	cp $(OVS_TARBALL_FOR_RPM) \
	   $(PKG_OUT)/rpm/SOURCES/openvswitch-$(OVS_PINNED_VERSION).tar.gz
	rpmbuild -bb $(RPMBUILD_FLAGS) \
	    --define "_topdir $(abs_builddir)/$(PKG_OUT)/rpm" \
	    $(srcdir)/packaging/rpm/conjflow.spec
	@find $(PKG_OUT)/rpm/RPMS -name '*.rpm' | xargs ls -l
.PHONY: deb rpm
