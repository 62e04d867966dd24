# PumpkinLB - POSIX build (Linux, Cygwin). `make run`, `make test`.
# The Windows cross build has its own targets further down once it exists.

CC      ?= cc
BUILD   ?= build
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
CFLAGS_BASE += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS     += -fsanitize=address,undefined
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

.PHONY: all deps run test unit integration clean check-config

all: deps $(BIN)

# Installs the Debian packages the build needs when run as root; otherwise
# prints the command.
DEB_PKGS := gcc make pkg-config libinih-dev libcunit1-dev python3
deps:
	@if ! pkg-config --exists $(PKGS) 2>/dev/null || \
	    ! command -v python3 >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing build dependencies: $(DEB_PKGS)"; \
	    apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
	      install -y -qq --no-install-recommends $(DEB_PKGS) >/dev/null; \
	  else \
	    echo "Missing build dependencies. Install them with:"; \
	    echo "  sudo apt-get install $(DEB_PKGS)"; exit 1; \
	  fi; \
	fi

$(BUILD)/%.o: %.c $(wildcard include/*.h platform/posix/*.h platform/common/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(INIH_CFLAGS) $(CFLAGS) -c $< -o $@

$(BIN): $(BUILD)/src/main.o $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS)

$(UNIT): $(UNIT_OBJS) $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS) $(CUNIT_LIBS)

run: all
	$(BIN) pumpkinlb.cfg

unit: deps $(UNIT)
	$(UNIT)

integration: all
	python3 tests/integration/run.py $(BIN)

test: deps $(BIN) $(UNIT)
	$(UNIT)
	python3 tests/integration/run.py $(BIN)

clean:
	rm -rf $(BUILD)

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
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Windows build dependencies: $(WIN_DEB_PKGS)"; \
	    apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
	      install -y -qq --no-install-recommends $(WIN_DEB_PKGS) >/dev/null; \
	  else \
	    echo "Missing Windows build tools. Install them with:"; \
	    echo "  sudo apt-get install $(WIN_DEB_PKGS)"; exit 1; \
	  fi; \
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

test-windows: windows $(WIN_MSI) $(WIN_MSI_NEXT)
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
