# PumpkinLB - POSIX build (Linux, Cygwin): `make run`, `make test`.
# Beside what they build: the Windows cross build and its tests
# (platform/win32/win32.mk), the MSI (installer/msi.mk), fuzzing
# (tests/fuzz/fuzz.mk), the benchmarks (tests/bench/bench.mk) and the soak
# (tests/soak/soak.mk).

CC      ?= cc
# SANITIZE=1 builds into its own directory: never mixed with the normal build.
BUILD   ?= $(if $(filter 1,$(SANITIZE)),build-asan,build)
PKGS    := inih cunit
WERROR  ?= 0
SANITIZE ?= 0

# Each layer sees only what it may use: the core its own headers and the
# seam, a platform the seam, itself and the shared mechanism under it.
# Tests reach into every layer.
CORE_INC  := -Iinclude -Isrc
POSIX_INC := -Iinclude -Iplatform/posix -Iplatform/common
TEST_INC  := -Iinclude -Isrc -Iplatform/posix -Iplatform/common

# -MMD -MP: the compiler lists every header an object used, so touching
# any header rebuilds its users.
CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
               -Wall -Wextra -Wshadow -Wstrict-prototypes -O2 -g -MMD -MP
ifeq ($(WERROR),1)
CFLAGS_BASE += -Werror
endif
ifeq ($(SANITIZE),1)
# Any UBSan finding aborts like an ASan one. Workers leave with _exit(), so
# LeakSanitizer checks only the parent (valgrind covers the workers); any
# report anywhere fails the run: run.py collects them per scenario.
CFLAGS_BASE += -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer -O1
LDFLAGS     += -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_ENV     := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:$(ASAN_OPTIONS) \
               UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:$(UBSAN_OPTIONS) \
               LBTEST_SANITIZE=1
endif
INIH_CFLAGS  = $(shell pkg-config --cflags inih 2>/dev/null)
INIH_LIBS    = $(shell pkg-config --libs inih 2>/dev/null || echo -linih)
CUNIT_LIBS   = $(shell pkg-config --libs cunit 2>/dev/null || echo -lcunit)

CORE_SRCS   := $(filter-out src/main.c,$(wildcard src/*.c))
COMMON_SRCS := $(wildcard platform/common/*.c)
POSIX_SRCS  := $(wildcard platform/posix/*.c) $(COMMON_SRCS)
UNIT_SRCS   := $(wildcard tests/unit/*.c)

CORE_OBJS  := $(CORE_SRCS:%.c=$(BUILD)/%.o)
POSIX_OBJS := $(POSIX_SRCS:%.c=$(BUILD)/%.o)
UNIT_OBJS  := $(UNIT_SRCS:%.c=$(BUILD)/%.o)

BIN  := $(BUILD)/pumpkinlb
UNIT := $(BUILD)/unit-tests

.PHONY: all deps test-deps ci-deps run test unit integration clean test-portable
.DEFAULT_GOAL := all

all: deps $(BIN)

# $(call apt_install,WHAT,PACKAGES,ON_MISSING): installs the Debian
# PACKAGES with apt-get when run as root; otherwise prints the command and
# runs ON_MISSING ("exit 1", or nothing for optional tools).
apt_install = if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing $(1): $(2)"; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
	    install -y -qq --no-install-recommends $(2) >/dev/null; \
	else \
	  echo "Missing $(1). Install them with:"; \
	  echo "  sudo apt-get install $(2)"; $(3) \
	fi

# The parts beside what they build (their variables are used below).
include tests/fuzz/fuzz.mk
include platform/win32/win32.mk
include installer/msi.mk
include tests/bench/bench.mk
include tests/soak/soak.mk

# The Debian packages each part needs, listed once each; `make ci-deps`
# installs all of them in one go (.ci/run).
DEB_PKGS := gcc make pkg-config libinih-dev libcunit1-dev python3
deps:
	@if ! pkg-config --exists $(PKGS) 2>/dev/null || \
	    ! command -v python3 >/dev/null 2>&1; then \
	  $(call apt_install,build dependencies,$(DEB_PKGS),exit 1;); \
	fi

# What the statistics tests need (tests/integration/test_stats.py): the
# Prometheus client library's parser of the text format (Debian's package
# is found by any python3 3.11) and headless Chromium for the HTML page;
# the routing tests (test_routing.py) openssl, for a certificate made at
# test time, and curl, a TLS client. Installed with apt-get as root;
# otherwise those tests fail and say so.
TEST_DEB_PKGS := chromium python3-prometheus-client openssl curl
test-deps:
	@if ! command -v chromium >/dev/null 2>&1 || \
	    ! command -v openssl >/dev/null 2>&1 || \
	    ! command -v curl >/dev/null 2>&1 || \
	    ! { python3 -c 'import prometheus_client' 2>/dev/null || \
	        [ -d /usr/lib/python3/dist-packages/prometheus_client ]; }; then \
	  $(call apt_install,statistics and routing test tools,$(TEST_DEB_PKGS),); \
	fi

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CORE_INC) $(INIH_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/platform/%.o: platform/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(POSIX_INC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(TEST_INC) $(INIH_CFLAGS) $(CFLAGS) -c $< -o $@

$(BIN): $(BUILD)/src/main.o $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS)

# The core over a scripted fake platform: sessions, retries, drain. It
# takes the shared mechanism (timers, addresses, error texts) as it is.
SESSION_SRCS := $(wildcard tests/session/*.c) $(COMMON_SRCS)
SESSION_SRCS := $(filter-out platform/common/common_loop.c \
                  platform/common/common_stream.c,$(SESSION_SRCS))
SESSION_OBJS := $(SESSION_SRCS:%.c=$(BUILD)/%.o)
SESSION := $(BUILD)/session-tests

$(SESSION): $(SESSION_OBJS) $(CORE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS) $(CUNIT_LIBS)

$(UNIT): $(UNIT_OBJS) $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS) $(CUNIT_LIBS)

run: all
	$(BIN) pumpkinlb.cfg

unit: deps $(UNIT)
	$(UNIT)

integration: all test-deps
	python3 tests/integration/run.py $(BIN)

# Linux workers wait with epoll; PUMPKINLB_POLL=1 gives them the portable
# poll() backend, which these scenarios run with again so it stays tested.
POLL_TESTS := test_relay.py test_faults.py test_timeouts.py test_cut_transfers.py

test: deps test-deps $(BIN) $(UNIT) $(SESSION) $(FUZZ_REPLAY) \
      $(FUZZ_REPLAY_INSPECT) $(FUZZ_REPLAY_STATS) \
      $(FUZZ_REPLAY_CHECK) $(FUZZ_REPLAY_ADMIN)
	$(SAN_ENV) $(UNIT)
	$(SAN_ENV) $(SESSION)
	$(MAKE) --no-print-directory fuzz-replay
	python3 tests/wine/check_build_files.py --no-cmake
	$(SAN_ENV) python3 tests/integration/run.py $(BIN)
	$(SAN_ENV) PUMPKINLB_POLL=1 python3 tests/integration/run.py $(BIN) $(POLL_TESTS)
	$(if $(filter 1,$(SANITIZE)),,$(MAKE) --no-print-directory docs-test)

# Cygwin cannot run here, so its path is kept working by construction: a
# build with __linux__ undefined (poll, no splice, SIOCOUTQ, ...) passes
# the black-box suite but for the scenarios marked lbtest.linux_only.
test-portable: deps test-deps
	$(MAKE) --no-print-directory BUILD=build-portable CFLAGS=-U__linux__ \
	    build-portable/pumpkinlb
	LBTEST_PORTABLE=1 python3 tests/integration/run.py build-portable/pumpkinlb

clean:
	rm -rf $(BUILD) build-asan build-portable $(FUZZ_BUILD)

# ---- install, and the documentation tests (tests/docs) ----
PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/pumpkinlb
UNITDIR ?= $(PREFIX)/lib/systemd/system

.PHONY: install uninstall docs-deps docs-test

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR)
	install -m 755 $(BIN) $(DESTDIR)$(SBINDIR)/pumpkinlb
	install -m 644 installer/man/pumpkinlb.8 $(DESTDIR)$(MANDIR)/man8/pumpkinlb.8
	install -m 644 installer/man/pumpkinlb.cfg.5 $(DESTDIR)$(MANDIR)/man5/pumpkinlb.cfg.5
	install -m 644 pumpkinlb.cfg README.md LICENSE $(DESTDIR)$(DOCDIR)/
	sed 's|/usr/local/sbin/|$(SBINDIR)/|g' installer/pumpkinlb.service \
	  > $(DESTDIR)$(UNITDIR)/pumpkinlb.service
	chmod 644 $(DESTDIR)$(UNITDIR)/pumpkinlb.service

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/pumpkinlb $(DESTDIR)$(MANDIR)/man8/pumpkinlb.8 \
	  $(DESTDIR)$(MANDIR)/man5/pumpkinlb.cfg.5 $(DESTDIR)$(UNITDIR)/pumpkinlb.service
	rm -rf $(DESTDIR)$(DOCDIR)

# groff/man check the manual pages; ip and keepalived run the
# high-availability test (as root only); systemd-analyze (package systemd:
# its tools, no running systemd needed) verifies the unit and rates its
# sandbox. Installed with apt-get as root.
DOCS_DEB_PKGS := groff-base man-db iproute2 keepalived systemd
docs-deps:
	@if ! command -v groff >/dev/null 2>&1 || ! command -v man >/dev/null 2>&1 || \
	    ! command -v ip >/dev/null 2>&1 || ! command -v keepalived >/dev/null 2>&1 || \
	    ! command -v systemd-analyze >/dev/null 2>&1; then \
	  $(call apt_install,documentation test tools,$(DOCS_DEB_PKGS),); \
	fi

docs-test: deps docs-deps $(BIN)
	python3 tests/docs/run.py $(BIN)

# ---- valgrind ----
# `make valgrind`: a short black-box scenario (relayed connections, a
# refused backend and a retry, a name resolved per connection, SIGTERM with
# a connection cut at the deadline) under valgrind, workers included; fails
# on any error or leak. Twice: with epoll (Linux's default), then poll.
VALGRIND_DEB_PKGS := valgrind
.PHONY: valgrind valgrind-deps
valgrind-deps:
	@if ! command -v valgrind >/dev/null 2>&1; then \
	  $(call apt_install,valgrind,$(VALGRIND_DEB_PKGS),exit 1;); \
	fi

valgrind: deps valgrind-deps $(BIN)
	python3 tests/valgrind/run.py $(BIN)
	PUMPKINLB_POLL=1 python3 tests/valgrind/run.py $(BIN)

# Every part's packages at once, with one apt-get run (CI on a fresh
# machine); the parts' own deps targets then find them there.
ALL_DEB_PKGS := $(sort $(DEB_PKGS) $(TEST_DEB_PKGS) $(DOCS_DEB_PKGS) \
                  $(VALGRIND_DEB_PKGS) $(WIN_DEB_PKGS))
ci-deps:
	@$(call apt_install,every build and test dependency,$(ALL_DEB_PKGS),exit 1;)

# The header lists -MMD wrote, for every build directory.
-include $(wildcard $(foreach b,$(BUILD) $(WIN_BUILD) $(FUZZ_BUILD), \
           $(b)/src/*.d $(b)/platform/*/*.d $(b)/tests/*/*.d))
