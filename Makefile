# PumpkinLB - POSIX build (Linux, Cygwin). `make run`, `make test`.
# The Windows cross build has its own targets further down once it exists.

CC      ?= cc
# SANITIZE=1 builds into its own directory: never mixed with the normal build.
BUILD   ?= $(if $(filter 1,$(SANITIZE)),build-asan,build)
PKGS    := inih cunit
WERROR  ?= 0
SANITIZE ?= 0

CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
               -Wall -Wextra -Wshadow -Wstrict-prototypes -O2 -g \
               -Iinclude -Iplatform/posix -Iplatform/common
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

CORE_SRCS  := $(filter-out src/main.c,$(wildcard src/*.c))
POSIX_SRCS := $(wildcard platform/posix/*.c platform/common/*.c)
UNIT_SRCS  := $(wildcard tests/unit/*.c)

CORE_OBJS  := $(CORE_SRCS:%.c=$(BUILD)/%.o)
POSIX_OBJS := $(POSIX_SRCS:%.c=$(BUILD)/%.o)
UNIT_OBJS  := $(UNIT_SRCS:%.c=$(BUILD)/%.o)

BIN  := $(BUILD)/pumpkinlb
UNIT := $(BUILD)/unit-tests
FUZZ_REPLAY := $(BUILD)/fuzz-replay

.PHONY: all deps test-deps run test unit integration clean check-config

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

# The Debian packages the build needs.
DEB_PKGS := gcc make pkg-config libinih-dev libcunit1-dev python3
deps:
	@if ! pkg-config --exists $(PKGS) 2>/dev/null || \
	    ! command -v python3 >/dev/null 2>&1; then \
	  $(call apt_install,build dependencies,$(DEB_PKGS),exit 1;); \
	fi

# What the statistics tests need (tests/integration/test_stats.py): the
# Prometheus client library's parser of the text format (Debian's package
# is found by any python3 3.11) and headless Chromium for the HTML page.
# Installed with apt-get as root; otherwise those tests fail and say so.
TEST_DEB_PKGS := chromium python3-prometheus-client
test-deps:
	@if ! command -v chromium >/dev/null 2>&1 || \
	    ! { python3 -c 'import prometheus_client' 2>/dev/null || \
	        [ -d /usr/lib/python3/dist-packages/prometheus_client ]; }; then \
	  $(call apt_install,statistics test tools,$(TEST_DEB_PKGS),); \
	fi

$(BUILD)/%.o: %.c $(wildcard include/*.h platform/posix/*.h platform/common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(INIH_CFLAGS) $(CFLAGS) -c $< -o $@

$(BIN): $(BUILD)/src/main.o $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS)

# The core over a scripted fake platform: sessions, retries, drain.
SESSION_SRCS := $(wildcard tests/session/*.c) platform/common/common_addr.c
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
POLL_TESTS := test_relay.py test_faults.py test_timeouts.py

test: deps test-deps $(BIN) $(UNIT) $(SESSION) $(FUZZ_REPLAY)
	$(SAN_ENV) $(UNIT)
	$(SAN_ENV) $(SESSION)
	$(SAN_ENV) $(FUZZ_REPLAY) tests/fuzz/corpus tests/fuzz/regressions
	$(SAN_ENV) python3 tests/integration/run.py $(BIN)
	$(SAN_ENV) PUMPKINLB_POLL=1 python3 tests/integration/run.py $(BIN) $(POLL_TESTS)
	$(if $(filter 1,$(SANITIZE)),,$(MAKE) --no-print-directory docs-test)

clean:
	rm -rf $(BUILD) build-asan $(FUZZ_BUILD)

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
# high-availability test (as root only). Installed with apt-get as root.
DOCS_DEB_PKGS := groff-base man-db iproute2 keepalived
docs-deps:
	@if ! command -v groff >/dev/null 2>&1 || ! command -v man >/dev/null 2>&1 || \
	    ! command -v ip >/dev/null 2>&1 || ! command -v keepalived >/dev/null 2>&1; then \
	  $(call apt_install,documentation test tools,$(DOCS_DEB_PKGS),); \
	fi

docs-test: deps docs-deps $(BIN)
	python3 tests/docs/run.py $(BIN)

# ---- robustness: libFuzzer on the config loader, valgrind ----
# The fuzz target and a replayer of its corpus and past crashes
# (tests/fuzz/regressions/), built with $(CC) for `make test`.
NO_DNS_LDFLAGS := -Wl,--wrap=getaddrinfo

$(FUZZ_REPLAY): $(BUILD)/tests/fuzz/fuzz_config.o $(BUILD)/tests/fuzz/replay_main.o \
                $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) $(NO_DNS_LDFLAGS) -o $@ $^ $(INIH_LIBS)

# `make fuzz`: clang's libFuzzer with ASan and UBSan, FUZZ_TIME seconds,
# starting from the seed corpus; new inputs go to $(FUZZ_BUILD)/corpus, a
# crash to $(FUZZ_BUILD)/artifacts/ (keep it in tests/fuzz/regressions/).
FUZZ_CC    ?= clang-14
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall \
               -Wextra -O1 -g -fno-omit-frame-pointer -Iinclude \
               -Iplatform/posix -Iplatform/common $(FUZZ_SAN)
FUZZ_OBJS  := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(CORE_SRCS) $(POSIX_SRCS) \
                tests/fuzz/fuzz_config.c)
FUZZ_BIN   := $(FUZZ_BUILD)/fuzz_config
FUZZ_DEB_PKGS := clang-14 libclang-rt-14-dev

.PHONY: fuzz fuzz-deps valgrind

fuzz-deps:
	@if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; then \
	  $(call apt_install,libFuzzer,$(FUZZ_DEB_PKGS),exit 1;); \
	fi

$(FUZZ_BUILD)/%.o: %.c $(wildcard include/*.h src/*.h platform/posix/*.h platform/common/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(INIH_CFLAGS) -c $< -o $@

$(FUZZ_BIN): $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(NO_DNS_LDFLAGS) -o $@ $^ $(INIH_LIBS)

fuzz: deps fuzz-deps
	$(MAKE) $(FUZZ_BIN)
	@mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/artifacts
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -max_len=4096 -timeout=10 \
	  -print_final_stats=1 -dict=tests/fuzz/config.dict \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts/ \
	  $(FUZZ_BUILD)/corpus tests/fuzz/corpus

# `make valgrind`: a short black-box scenario (relayed connections, a
# refused backend and a retry, a name resolved per connection, SIGTERM with
# a connection cut at the deadline) under valgrind, workers included; fails
# on any error or leak. Twice: with epoll (Linux's default), then poll.
valgrind: deps $(BIN)
	python3 tests/valgrind/run.py $(BIN)
	PUMPKINLB_POLL=1 python3 tests/valgrind/run.py $(BIN)

# ---- Windows: cross-built with mingw-w64, tested under Wine ----
WIN_CC    ?= x86_64-w64-mingw32-gcc
WIN_BUILD ?= build-win
WIN_DEPS  := $(WIN_BUILD)/deps
WIN_CFLAGS := -std=c11 -D_WIN32_WINNT=0x0600 -DWIN32_LEAN_AND_MEAN \
              -D__USE_MINGW_ANSI_STDIO=1 \
              -Wall -Wextra -Wshadow -Wstrict-prototypes -O2 -g \
              -Iinclude -Iplatform/win32 -Iplatform/common -I$(WIN_DEPS)/include
ifeq ($(WERROR),1)
WIN_CFLAGS += -Werror
endif
WIN_LIBS  := -L$(WIN_DEPS)/lib -linih -lws2_32 -lmswsock -ladvapi32 -lshell32 -static-libgcc
WIN_SRCS  := $(CORE_SRCS) $(wildcard platform/win32/*.c platform/common/*.c)
WIN_OBJS  := $(WIN_SRCS:%.c=$(WIN_BUILD)/%.o)
WIN_UNIT_OBJS := $(UNIT_SRCS:%.c=$(WIN_BUILD)/%.o)
WIN_BIN   := $(WIN_BUILD)/pumpkinlb.exe
WIN_UNIT  := $(WIN_BUILD)/unit-tests.exe
WIN_DEB_PKGS := gcc-mingw-w64-x86-64 mingw-w64-tools wine wine64 msitools \
                wixl dpkg-dev

VERSION   := $(shell sed -n 's/.*LB_VERSION "\(.*\)"/\1/p' include/lb_version.h)
WIN_MSI   := $(WIN_BUILD)/PumpkinLB-$(VERSION)-x64.msi

.PHONY: windows windows-deps test-windows msi

windows-deps:
	@if ! command -v $(WIN_CC) >/dev/null 2>&1 || ! command -v wine >/dev/null 2>&1 || \
	    ! command -v dpkg-source >/dev/null 2>&1; then \
	  $(call apt_install,Windows build tools,$(WIN_DEB_PKGS),exit 1;); \
	fi
	@sh platform/win32/deps.sh $(WIN_DEPS)

windows: windows-deps $(WIN_BIN) $(WIN_UNIT)

$(WIN_BUILD)/%.o: %.c $(wildcard include/*.h platform/win32/*.h platform/common/*.h)
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) -c $< -o $@

# The Event Log's message table: one message, "%1", so events read as sent.
$(WIN_BUILD)/messages.o: platform/win32/messages.mc
	@mkdir -p $(WIN_BUILD)/mc
	x86_64-w64-mingw32-windmc -h $(WIN_BUILD)/mc -r $(WIN_BUILD)/mc $<
	x86_64-w64-mingw32-windres -I$(WIN_BUILD)/mc $(WIN_BUILD)/mc/messages.rc -o $@

$(WIN_BIN): $(WIN_BUILD)/src/main.o $(WIN_OBJS) $(WIN_BUILD)/messages.o
	$(WIN_CC) -o $@ $^ $(WIN_LIBS)

$(WIN_UNIT): $(WIN_UNIT_OBJS) $(WIN_OBJS)
	$(WIN_CC) -o $@ $^ -L$(WIN_DEPS)/lib -lcunit $(WIN_LIBS)

# A newer version of the same MSI, for the upgrade scenario.
VERSION_NEXT := $(shell echo $(VERSION) | awk -F. '{print $$1"."$$2"."$$3+1}')
WIN_MSI_NEXT := $(WIN_BUILD)/upgrade-test/PumpkinLB-$(VERSION_NEXT)-x64.msi

$(WIN_MSI_NEXT): $(WIN_MSI)
	@mkdir -p $(dir $@)
	wixl -a x64 -D SourceDir=$(WIN_BUILD) -D DocDir=. -D Version=$(VERSION_NEXT) \
	  -o $@ installer/pumpkinlb.wxs

test-windows: windows test-deps $(WIN_MSI) $(WIN_MSI_NEXT)
	sh tests/wine/run.sh $(WIN_BUILD)

# The MSI, with wixl (msitools); any wixl warning fails the build.
msi: windows $(WIN_MSI)

$(WIN_MSI): installer/pumpkinlb.wxs installer/pumpkinlb-windows.cfg $(WIN_BIN) README.md LICENSE
	wixl -a x64 -D SourceDir=$(WIN_BUILD) -D DocDir=. -D Version=$(VERSION) \
	  -o $@ installer/pumpkinlb.wxs 2>$(WIN_BUILD)/wixl.log; \
	  rc=$$?; cat $(WIN_BUILD)/wixl.log >&2; \
	  if [ $$rc -ne 0 ] || grep -q WARNING $(WIN_BUILD)/wixl.log; then \
	    rm -f $@; echo "wixl failed or warned" >&2; exit 1; fi

# For tests/wine/check_build_files.py: the Windows sources make compiles.
print-win-srcs:
	@echo $(sort $(WIN_SRCS) src/main.c)

# ---- benchmarks (tests/bench, issue 7) ----
# `make bench`: PumpkinLB, HAProxy, nginx stream and a direct connection side
# by side on 127.0.0.1 (installs the peers as root). Quick look:
#   make bench BENCH_ROUNDS=1 BENCH_DURATION=2
# BENCH_ARGS passes more options, e.g. --peer before=/tmp/pumpkinlb-before.
BENCH_ROUNDS   ?= 3
BENCH_DURATION ?= 5
BENCH_ARGS     ?=

.PHONY: bench
bench: all
	python3 tests/bench/test_parsers.py
	python3 tests/bench/bench.py --bin $(BIN) --rounds $(BENCH_ROUNDS) \
	  --duration $(BENCH_DURATION) --out $(BUILD)/bench $(BENCH_ARGS)
