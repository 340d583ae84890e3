# Remote PED - top-level Makefile.
#   make            build libraries, tools and test programs
#   make test       install missing deps (as root), build, run every test
#   make vectors    run the public test vectors
#   make demo       the main job (see README)
#   make bench      benchmarks (never part of test)
#   make fuzz       libFuzzer targets (clang-14) into $(BUILD)/fuzz
#   make asan       every test under AddressSanitizer + UBSan (build-asan/)
#   make valgrind   unit tests under valgrind (0 errors, 0 leaks)
#   make install, man, units, deb, rpm, pkgtest: packaging/packaging.mk
#   make windows    static x86_64 Windows build in build-win/ (docs/windows.md)
#   make msi        the Windows installer build-win/remoteped-VERSION-x64.msi (wixl)
#   make wintest    the Windows unit tests under wine
# Quiet unless V=1. Honours PREFIX DESTDIR CFLAGS LDFLAGS.

BUILD ?= build
PREFIX ?= /usr/local
CC ?= cc
CLANG ?= clang-14
CFLAGS ?= -O2 -g
VECTORS ?= $(abspath ../shared/vectors)

WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wvla -Wformat=2
CPPFLAGS += -I. -D_GNU_SOURCE -MMD -MP
ALL_CFLAGS = $(WARN) $(CPPFLAGS) $(CFLAGS)
LDLIBS_CRYPTO := -lssl -lcrypto
EXE :=

# Windows (make windows): mingw-w64, static, the libraries scripts/windeps.sh
# cross-built into its cache. Sources not ported yet are listed in WIN_TODO
# and left out of that build (docs/windows.md says what works).
ifdef WINDOWS
EXE := .exe
WINDEPS ?= $(shell scripts/windeps.sh -p)
CPPFLAGS += -I$(WINDEPS)/include -D__USE_MINGW_ANSI_STDIO=1 -D_WIN32_WINNT=0x0A00 \
	-D_POSIX_THREAD_SAFE_FUNCTIONS
LDFLAGS += -static -L$(WINDEPS)/lib
WIN_SYSLIBS := -lws2_32 -liphlpapi -luserenv -lpsapi -ldbghelp -lole32 -lshell32 -luuid -luser32 \
	-ladvapi32 -lcrypt32 -lbcrypt -lpthread
# Not on Windows: the tty and libusb transports (usbped_win.c refuses them
# by name), and the unit tests that need what Windows lacks: admin_test (the
# Unix admin socket, SO_PEERCRED, fork), atomic_test and cfg_test (fork: the
# crash and concurrency cases), audit_test (edits the trail with sed through
# system()), log_test (setenv, JOURNAL_STREAM, fd 2 swapped), prog_test
# (setenv, geteuid, open_memstream), pedhost_kex_test, pedhost_test and
# usbped_test (ptys).
WIN_TODO := usbped/usbped_tty.c usbped/usbped_libusb.c \
	$(addprefix tests/unit/,admin_test.c atomic_test.c audit_test.c cfg_test.c log_test.c \
	pedhost_kex_test.c pedhost_test.c prog_test.c usbped_test.c)
WIN_TODO += tests/unit/allow_test.c tests/unit/synfilter_test.c
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

# The system layer (common/sys.h): one implementation per platform.
SYS_OTHER := $(if $(WINDOWS),common/sys_posix.c usbped/emu/port_pty.c usbped/emu/usbdev.c,\
	common/sys_win.c common/sys_win_service.c usbped/usbped_win.c usbped/emu/port_pty_win.c \
	usbped/emu/usbdev_win.c)
COMMON_SRC := $(filter-out $(SYS_OTHER) $(WIN_TODO),$(sort $(wildcard common/*.c)))
CRYPTO_SRC := $(sort $(wildcard crypto/*.c))
USBPED_SRC := $(filter-out $(SYS_OTHER) $(WIN_TODO),$(sort $(wildcard usbped/*.c)))
SESSION_SRC := $(sort $(wildcard session/*.c))
EMU_SRC := $(filter-out $(SYS_OTHER),$(sort $(wildcard usbped/emu/*.c)))
LIB_COMMON := $(BUILD)/libpedcommon.a
LIB_CRYPTO := $(BUILD)/libpedcrypto.a
LIB_USBPED := $(BUILD)/libpedusb.a
LIB_SESSION := $(BUILD)/libpedsession.a
# Layers, highest first: the session protocol (session/) on the PED link
# (usbped/) and the channel crypto (crypto/), all on common/.
LIBS := $(LIB_SESSION) $(LIB_USBPED) $(LIB_CRYPTO) $(LIB_COMMON)
LDLIBS_ALL := -luv -lusb-1.0 -linih $(LDLIBS_CRYPTO) $(WIN_SYSLIBS)

UNIT_SRC := $(filter-out $(WIN_TODO),$(sort $(wildcard tests/unit/*_test.c)))
UNIT_BIN := $(UNIT_SRC:%.c=$(BUILD)/%$(EXE))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/*_fuzz.c))
FUZZ_NAMES := $(notdir $(FUZZ_SRC:_fuzz.c=))
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/%_replay)
LIBFUZZ_BIN := $(FUZZ_NAMES:%=$(BUILD)/fuzz/%_fuzz)
VECTORS_BIN := $(BUILD)/tests/vectors/vectors
BENCH_BIN := $(BUILD)/tests/bench/bench
DEMO_BIN := $(BUILD)/tests/demo/chandemo
PEDEMU_BIN := $(if $(EMU_SRC),$(BUILD)/pedemu$(EXE))
PEDSERVER_SRC := $(sort $(wildcard pedserver/*.c))
PEDSERVER_BIN := $(if $(PEDSERVER_SRC),$(BUILD)/pedserver$(EXE))
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))
TOOL_BIN := $(TOOL_SRC:%.c=$(BUILD)/%)
SCENARIOS := $(sort $(filter-out tests/scenario/lib%,$(wildcard tests/scenario/*.sh)))

PROGS := $(VECTORS_BIN) $(BENCH_BIN) $(DEMO_BIN) $(PEDEMU_BIN) $(TOOL_BIN)
PROGS += $(PEDSERVER_BIN)
# pedclient: the daemon; its modules (all but main.c) also in an archive for
# the pedclient_*_test unit tests. Objects under obj/, as for pedserver.
# pedhsm (pedclient/pedhsm.c) is the software HSM's console, a second binary.
PEDCLIENT_SRC := $(sort $(wildcard pedclient/*.c))
PEDCLIENT_MAINS := pedclient/main.c pedclient/pedhsm.c
PEDCLIENT_LIB_SRC := $(filter-out $(PEDCLIENT_MAINS) $(WIN_TODO),$(PEDCLIENT_SRC))
PEDCLIENT_BIN := $(if $(wildcard pedclient/main.c),$(BUILD)/pedclient$(EXE))
PEDHSM_BIN := $(if $(wildcard pedclient/pedhsm.c),$(BUILD)/pedhsm$(EXE))
LIB_PEDCLIENT := $(BUILD)/libpedclient.a
# Test programs may use pedclient's modules (software HSM, mappings).
TEST_LIBS := $(LIB_PEDCLIENT) $(LIBS)
PROGS += $(PEDCLIENT_BIN) $(PEDHSM_BIN)

.PHONY: all test unit vectors replay scenario demo bench fuzz asan valgrind install clean deps
all: $(LIBS) $(UNIT_BIN) $(REPLAY_BIN) $(PROGS)

deps:
	$(Q)scripts/deps.sh test

$(BUILD)/%.o: %.c
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_COMMON): $(COMMON_SRC:%.c=$(BUILD)/%.o)
$(LIB_CRYPTO): $(CRYPTO_SRC:%.c=$(BUILD)/%.o)
$(LIB_USBPED): $(USBPED_SRC:%.c=$(BUILD)/%.o)
$(LIB_SESSION): $(SESSION_SRC:%.c=$(BUILD)/%.o)
$(LIBS):
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D) && rm -f $@ && $(if $^,$(AR) rcs $@ $^,printf '!<arch>\n' > $@)

$(BUILD)/tests/unit/%_test$(EXE): $(BUILD)/tests/unit/%_test.o $(TEST_LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(TEST_LIBS) $(LIBS) -lcmocka $(LDLIBS_ALL)
# unit tests of pedserver modules link the module's object
$(BUILD)/tests/unit/admit_test$(EXE): $(BUILD)/obj/pedserver/admit.o
$(BUILD)/tests/unit/penalty_test$(EXE): $(BUILD)/obj/pedserver/penalty.o $(BUILD)/obj/pedserver/admit.o
$(BUILD)/tests/unit/prog_test: $(BUILD)/obj/pedserver/allow_cmd.o $(BUILD)/obj/pedserver/allow.o
$(BUILD)/tests/unit/allow_test: $(BUILD)/obj/pedserver/allow.o

$(BUILD)/tests/fuzz/%_replay: $(BUILD)/tests/fuzz/%_fuzz.o $(BUILD)/tests/fuzz/replay.o $(TEST_LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS_ALL)

# pedemu's USB personality (usbped/emu/usbdev.c) presents the PED in a
# umockdev testbed (docs/usb.md); only that file sees GLib and umockdev.
# On Windows usbdev_win.c refuses the USB personality: no umockdev there.
UMOCKDEV_CFLAGS = $(if $(WINDOWS),,$(shell pkg-config --cflags umockdev-1.0))
UMOCKDEV_LIBS = $(if $(WINDOWS),,$(shell pkg-config --libs umockdev-1.0) -lpthread)
$(BUILD)/usbped/emu/usbdev.o: CPPFLAGS += $(UMOCKDEV_CFLAGS)
$(BUILD)/pedemu$(EXE): $(EMU_SRC:%.c=$(BUILD)/%.o) $(LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS_ALL) $(UMOCKDEV_LIBS)

# pedserver's objects live under obj/: $(BUILD)/pedserver is the binary
$(BUILD)/obj/pedserver/%.o: pedserver/%.c
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(BUILD)/pedserver$(EXE): $(PEDSERVER_SRC:%.c=$(BUILD)/obj/%.o) $(LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS_ALL)

# pedclient (block of its own)
$(BUILD)/obj/pedclient/%.o: pedclient/%.c
	$(call msg,CC,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<
$(LIB_PEDCLIENT): $(PEDCLIENT_LIB_SRC:%.c=$(BUILD)/obj/%.o)
	$(call msg,AR,$@)
	$(Q)mkdir -p $(@D) && rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/pedclient$(EXE): $(BUILD)/obj/pedclient/main.o $(LIB_PEDCLIENT) $(LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS_ALL)
$(BUILD)/pedhsm$(EXE): $(BUILD)/obj/pedclient/pedhsm.o $(LIB_PEDCLIENT) $(LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS_ALL)

$(BUILD)/tests/tools/%$(EXE): $(BUILD)/tests/tools/%.o $(TEST_LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS_ALL)

$(VECTORS_BIN): $(BUILD)/tests/vectors/vectors.o $(LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -ljson-c $(LDLIBS_ALL)

# One bench program: crypto (bench.c) and the session over loopback TCP
# (bench_session.c: software HSM, a server thread, libssl for TLS 1.3).
BENCH_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard tests/bench/*.c)))
$(BENCH_BIN): $(BENCH_OBJ) $(TEST_LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -pthread -o $@ $^ $(LIBS) -lssl $(LDLIBS_ALL)

$(BUILD)/tests/demo/%: $(BUILD)/tests/demo/%.o $(LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(LDLIBS_ALL)

unit: $(UNIT_BIN)
	$(Q)scripts/run-tests.sh $(UNIT_BIN)

vectors: $(VECTORS_BIN)
	$(Q)$(VECTORS_BIN) $(VECTORS)

replay: $(REPLAY_BIN)
	$(Q)set -e; for n in $(FUZZ_NAMES); do \
		$(BUILD)/tests/fuzz/$${n}_replay tests/fuzz/corpus/$$n; done

# Unit tests run again under valgrind in make test (not under make asan).
VALGRIND ?= 1
VG := valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible
VG_UNIT := $(if $(filter 1,$(VALGRIND)),$(foreach t,$(UNIT_BIN),"$(VG) $(t)"))

# Scenario scripts find the binaries through BUILD (exported).
export BUILD
test: deps all
	$(Q)scripts/run-tests.sh $(UNIT_BIN) $(VG_UNIT) "$(VECTORS_BIN) $(VECTORS)" \
		$(foreach n,$(FUZZ_NAMES),"$(BUILD)/tests/fuzz/$(n)_replay tests/fuzz/corpus/$(n)") \
		$(foreach s,$(SCENARIOS),"bash $(s)")

scenario: all
	$(Q)scripts/run-tests.sh $(foreach s,$(SCENARIOS),"bash $(s)")

# The whole ceremony with real processes (scripts/demo.sh); the in-process
# channel demo is $(DEMO_BIN).
demo:
	$(Q)scripts/deps.sh test
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=$(BUILD) bash scripts/demo.sh

bench: all
	$(Q)$(BENCH_BIN)
	$(Q)BUILD=$(BUILD) bash tests/bench/flood.sh
	$(Q)BUILD=$(BUILD) bash tests/bench/tls_link.sh
	$(Q)BUILD=$(BUILD) bash tests/bench/slownet.sh

# libFuzzer builds: every library source compiled with clang's coverage
# instrumentation into one archive; each target pulls what it needs from it.
FUZZ_SAN := -fsanitize=address,undefined
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer-no-link $(FUZZ_SAN) $(WARN) $(CPPFLAGS)
FUZZ_LIB_SRC := $(COMMON_SRC) $(CRYPTO_SRC) $(USBPED_SRC) $(SESSION_SRC) $(PEDCLIENT_LIB_SRC)
FUZZ_LIB := $(BUILD)/fuzz/libpedfuzz.a
$(BUILD)/fuzz/obj/%.o: %.c
	$(call msg,CLANG,$<)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ_LIB): $(FUZZ_LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/fuzz/%_fuzz: $(BUILD)/fuzz/obj/tests/fuzz/%_fuzz.o $(FUZZ_LIB)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LDLIBS_ALL)
fuzz:
	$(Q)scripts/deps.sh fuzz
	$(Q)$(MAKE) --no-print-directory $(LIBFUZZ_BIN)
	@echo "run e.g.: $(BUILD)/fuzz/rec_open_fuzz -max_total_time=60 tests/fuzz/corpus/rec_open"

# Background daemons keep their stderr in build-asan/stderr (see daemon.c),
# so a sanitizer report of a daemon fails the run too.
ASAN_STDERR := $(abspath build-asan/stderr)
asan:
	$(Q)rm -rf $(ASAN_STDERR) && mkdir -p $(ASAN_STDERR)
	$(Q)PED_DEBUG_STDERR_DIR=$(ASAN_STDERR) $(MAKE) --no-print-directory BUILD=build-asan VALGRIND=0 \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" test
	$(Q)if grep -l -E 'runtime error|AddressSanitizer|LeakSanitizer' $(ASAN_STDERR)/* 2>/dev/null; then \
		echo "sanitizer reports from daemons (files above)"; exit 1; \
	else echo "sanitizer reports from daemons: none ($$(ls $(ASAN_STDERR) | wc -l) daemon stderr files)"; fi

valgrind: $(UNIT_BIN)
	$(Q)scripts/run-tests.sh -w "$(VG)" $(UNIT_BIN)

# ---- Windows -----------------------------------------------------------
WIN_BUILD ?= build-win
WIN_HOST := x86_64-w64-mingw32
WIN_MAKE = $(MAKE) --no-print-directory WINDOWS=1 BUILD=$(WIN_BUILD) CC=$(WIN_HOST)-gcc \
	AR=$(WIN_HOST)-ar WINDEPS=$$(scripts/windeps.sh)
.PHONY: windows wintest win-all
windows:
	$(Q)scripts/deps.sh windows
	+$(Q)$(WIN_MAKE) win-all
WIN_PROGS := $(PEDSERVER_BIN) $(PEDCLIENT_BIN) $(PEDHSM_BIN) $(PEDEMU_BIN) \
	$(BUILD)/tests/tools/sysprivate$(EXE)
win-all: $(LIBS) $(UNIT_BIN) $(WIN_PROGS)

# Wine runs headless in its own prefix, made once and kept in the cache
# (scripts/wine-run.sh; WINEPREFIX overrides).
# The unit tests under wine, then tests/windows/*.sh: the services, the MSI
# and the ceremonies across the two worlds (Linux programs from $(BUILD),
# .exe from $(WIN_BUILD)).
wintest: windows msi all
	$(Q)scripts/wine-run.sh $(sort $(wildcard $(WIN_BUILD)/tests/unit/*_test.exe))
	$(Q)WIN_BUILD=$(WIN_BUILD) WIN_MSI=$(WIN_MSI) scripts/wine-run.sh -s \
		$(sort $(filter-out tests/windows/lib%,$(wildcard tests/windows/*.sh)))

# The installer (packaging/windows/remoteped.wxs, wixl from msitools): the
# programs of make windows under Program Files, both services registered.
WIN_VERSION := $(shell sed -n 's/^\#define PEDSERVER_VERSION "\(.*\)"$$/\1/p' pedserver/pedserver.h)
WIN_MSI := $(WIN_BUILD)/remoteped-$(WIN_VERSION)-x64.msi
.PHONY: msi
msi: windows
	$(call msg,WIXL,$(WIN_MSI))
	$(Q)wixl -a x64 -D Version=$(WIN_VERSION) -D BinDir=$(WIN_BUILD) -o $(WIN_MSI) \
		packaging/windows/remoteped.wxs

clean:
	rm -rf $(BUILD) build-asan $(WIN_BUILD)

include packaging/packaging.mk

# Keep the objects of single-file programs (pattern-chain intermediates);
# everything else stays an ordinary target, so a new source is always built.
.SECONDARY: $(UNIT_SRC:%.c=$(BUILD)/%.o) $(TOOL_BIN:%=%.o) $(BENCH_BIN).o $(DEMO_BIN).o \
	$(VECTORS_BIN).o $(FUZZ_NAMES:%=$(BUILD)/tests/fuzz/%_fuzz.o) $(BUILD)/tests/fuzz/replay.o \
	$(FUZZ_NAMES:%=$(BUILD)/fuzz/obj/tests/fuzz/%_fuzz.o)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
