# packaging.mk - included by the top-level Makefile: what an installed system
# needs besides the binaries (docs/packaging.md).
#   make progs      the installed programs, man pages and units (no tests)
#   make man        man pages (scdoc) into $(BUILD)/man, options from the tables
#   make units      systemd units, udev rule, sysusers into $(BUILD)/packaging
#   make install    programs, man pages, units, udev rule, sysusers, tmpfiles, docs
#   make deb        Debian packages (dpkg-buildpackage) into $(PKGOUT)
#   make rpm        RPM packages (rpmbuild) into $(PKGOUT)
#   make pkgtest    the .debs installed into a throw-away Debian 12 root
# Unit, udev and sysusers locations follow PREFIX unless given (the Debian
# build passes the bookworm paths: /lib/systemd/system, /lib/udev/rules.d).

BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/remoteped
UNITDIR ?= $(PREFIX)/lib/systemd/system
UDEVDIR ?= $(PREFIX)/lib/udev/rules.d
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
PKGOUT ?= $(BUILD)/pkg

PKG := $(BUILD)/packaging
MANGEN := $(PKG)/mangen
MAN_SRC := $(sort $(wildcard packaging/man/*.scd))
MAN_OUT := $(MAN_SRC:packaging/man/%.scd=$(BUILD)/man/%)
UNITS_OUT := $(PKG)/pedserver.service $(PKG)/pedclient.service $(PKG)/60-pedserver.rules \
	$(PKG)/org.remoteped.pedserver.metainfo.xml
METAINFODIR ?= $(PREFIX)/share/metainfo
PEDLINK_BIN := $(BUILD)/tests/tools/pedlink

.PHONY: progs man units deb rpm pkgtest FORCE

# What install lays down: no test program (the packages build this only).
progs: $(PEDEMU_BIN) $(PEDSERVER_BIN) $(PEDCLIENT_BIN) $(PEDHSM_BIN) $(PEDLINK_BIN) man units

$(BUILD)/obj/packaging/mangen.o: packaging/mangen.c
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(MANGEN): $(BUILD)/obj/packaging/mangen.o $(BUILD)/obj/pedserver/opts.o \
		$(BUILD)/obj/pedserver/conf.o $(BUILD)/obj/pedserver/allow_cmd.o \
		$(BUILD)/obj/pedserver/allow.o $(LIB_PEDCLIENT) $(LIBS)
	$(call msg,LD,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS_ALL)

# A page's @NAME@ lines are replaced by "mangen NAME prog" (modes, opts,
# keys) or, for USAGE, by the program's own usage text.
man: $(MAN_OUT)
$(BUILD)/man/%: packaging/man/%.scd packaging/manpage.sh $(MANGEN) $(PEDEMU_BIN) $(PEDHSM_BIN) \
		$(PEDLINK_BIN)
	$(call msg,SCDOC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)BUILD=$(BUILD) sh packaging/manpage.sh $< | scdoc > $@.tmp && mv $@.tmp $@

# Regenerated every time: they carry PREFIX, which may differ between runs.
units: $(UNITS_OUT)
$(PKG)/%.service: packaging/%.service.in FORCE
	$(Q)mkdir -p $(@D)
	$(Q)sed 's|@BINDIR@|$(BINDIR)|g' $< > $@.tmp && mv $@.tmp $@
$(PKG)/60-pedserver.rules: packaging/pedserver.rules.in $(MANGEN)
	$(Q)set -e; ids=$$($(MANGEN) usbids); \
		sed -e "s|@VID@|$${ids% *}|g" -e "s|@PID@|$${ids#* }|g" $< > $@.tmp; mv $@.tmp $@
# AppStream: the same ids in the modalias form (upper-case hex)
$(PKG)/org.remoteped.pedserver.metainfo.xml: packaging/pedserver.metainfo.xml.in $(MANGEN)
	$(Q)set -e; ids=$$($(MANGEN) usbids | tr a-f A-F); \
		sed -e "s|@VID@|$${ids% *}|g" -e "s|@PID@|$${ids#* }|g" $< > $@.tmp; mv $@.tmp $@
FORCE:

install: progs
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(UDEVDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(METAINFODIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(Q)install -m 0755 $(PEDEMU_BIN) $(PEDSERVER_BIN) $(PEDCLIENT_BIN) $(PEDHSM_BIN) \
		$(PEDLINK_BIN) $(DESTDIR)$(BINDIR)/
	$(Q)install -m 0644 README.md docs/*.md conf/*.conf $(DESTDIR)$(DOCDIR)/
	$(Q)install -m 0644 $(PKG)/pedserver.service $(PKG)/pedclient.service $(DESTDIR)$(UNITDIR)/
	$(Q)install -m 0644 $(PKG)/60-pedserver.rules $(DESTDIR)$(UDEVDIR)/
	$(Q)install -m 0644 $(PKG)/org.remoteped.pedserver.metainfo.xml $(DESTDIR)$(METAINFODIR)/
	$(Q)install -m 0644 packaging/pedserver.sysusers $(DESTDIR)$(SYSUSERSDIR)/pedserver.conf
	$(Q)install -m 0644 packaging/pedclient.sysusers $(DESTDIR)$(SYSUSERSDIR)/pedclient.conf
	$(Q)install -m 0644 packaging/pedserver.tmpfiles $(DESTDIR)$(TMPFILESDIR)/pedserver.conf
	$(Q)install -m 0644 packaging/pedclient.tmpfiles $(DESTDIR)$(TMPFILESDIR)/pedclient.conf
	$(Q)for m in $(MAN_OUT); do install -m 0644 $$m \
		$(DESTDIR)$(MANDIR)/man$${m##*.}/; done

# Packages: built from a clean copy of the committed tree (scripts/pkgbuild.sh
# refuses a dirty tree and a debian/changelog or spec whose version is not the
# code's), output in $(PKGOUT).
deb:
	$(Q)scripts/deps.sh deb
	$(Q)PKGOUT=$(PKGOUT) scripts/pkgbuild.sh deb
rpm:
	$(Q)scripts/deps.sh rpm
	$(Q)PKGOUT=$(PKGOUT) scripts/pkgbuild.sh rpm
pkgtest: deb rpm
	$(Q)scripts/deps.sh pkgtest
	$(Q)BUILD=$(BUILD) bash tests/pkg/pkgbuild_refuse.sh
	$(Q)PKGOUT=$(PKGOUT) BUILD=$(BUILD) bash tests/pkg/pkgtest.sh

# The man pages are part of every build (tests check them against the tables).
all: man
