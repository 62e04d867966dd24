# platform/win32/win32.mk - included by the Makefile: the Windows build,
# cross-compiled with mingw-w64 (`make windows`), and its tests under Wine
# (`make test-windows`). The MSI is installer/msi.mk's.

WIN_CC    ?= x86_64-w64-mingw32-gcc
WIN_BUILD ?= build-win
WIN_DEPS  := $(WIN_BUILD)/deps
WIN_CFLAGS := -std=c11 -D_WIN32_WINNT=0x0600 -DWIN32_LEAN_AND_MEAN \
              -D__USE_MINGW_ANSI_STDIO=1 \
              -Wall -Wextra -Wshadow -Wstrict-prototypes -O2 -g -MMD -MP
ifeq ($(WERROR),1)
WIN_CFLAGS += -Werror
endif
# The same layering as the POSIX build (see CORE_INC in the Makefile).
WIN32_INC := -Iinclude -Iplatform/win32 -Iplatform/common
WIN_TEST_INC := -Iinclude -Isrc -Iplatform/win32 -Iplatform/common
WIN_LIBS  := -L$(WIN_DEPS)/lib -linih -lws2_32 -lmswsock -ladvapi32 -lshell32 -static-libgcc
WIN_SRCS  := $(CORE_SRCS) $(wildcard platform/win32/*.c) $(COMMON_SRCS)
WIN_OBJS  := $(WIN_SRCS:%.c=$(WIN_BUILD)/%.o)
WIN_UNIT_OBJS := $(UNIT_SRCS:%.c=$(WIN_BUILD)/%.o)
WIN_BIN   := $(WIN_BUILD)/pumpkinlb.exe
WIN_UNIT  := $(WIN_BUILD)/unit-tests.exe
# The resources linked into pumpkinlb.exe: the Event Log's message table,
# and the version and manifest.
WIN_RES   := platform/win32/messages.mc platform/win32/pumpkinlb.rc
WIN_RC    := x86_64-w64-mingw32-windres
# cmake: tests/wine/check_build_files.py configures CMake's Windows build.
WIN_DEB_PKGS := gcc-mingw-w64-x86-64 mingw-w64-tools wine wine64 msitools \
                wixl dpkg-dev cmake

.PHONY: windows windows-deps test-windows print-win-srcs print-win-unit-srcs \
        print-win-res

windows-deps:
	@if ! command -v $(WIN_CC) >/dev/null 2>&1 || ! command -v wine >/dev/null 2>&1 || \
	    ! command -v dpkg-source >/dev/null 2>&1 || ! command -v cmake >/dev/null 2>&1; then \
	  $(call apt_install,Windows build tools,$(WIN_DEB_PKGS),exit 1;); \
	fi
	@sh platform/win32/deps.sh $(WIN_DEPS)

windows: windows-deps $(WIN_BIN) $(WIN_UNIT)

$(WIN_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) $(CORE_INC) -I$(WIN_DEPS)/include -c $< -o $@

$(WIN_BUILD)/platform/%.o: platform/%.c
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) $(WIN32_INC) -c $< -o $@

$(WIN_BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(WIN_CC) $(WIN_CFLAGS) $(WIN_TEST_INC) -I$(WIN_DEPS)/include -c $< -o $@

# The Event Log's message table: an ID per kind of event, "%1" the text.
$(WIN_BUILD)/messages.o: platform/win32/messages.mc
	@mkdir -p $(WIN_BUILD)/mc
	x86_64-w64-mingw32-windmc -h $(WIN_BUILD)/mc -r $(WIN_BUILD)/mc $<
	$(WIN_RC) -I$(WIN_BUILD)/mc $(WIN_BUILD)/mc/messages.rc -o $@

# VERSIONINFO (from include/lb_version.h) and the application manifest.
$(WIN_BUILD)/pumpkinlb_rc.o: platform/win32/pumpkinlb.rc                              platform/win32/pumpkinlb.manifest include/lb_version.h
	@mkdir -p $(WIN_BUILD)
	$(WIN_RC) -Iinclude -Iplatform/win32 $< -o $@

$(WIN_BIN): $(WIN_BUILD)/src/main.o $(WIN_OBJS) $(WIN_BUILD)/messages.o             $(WIN_BUILD)/pumpkinlb_rc.o
	$(WIN_CC) -o $@ $^ $(WIN_LIBS)

$(WIN_UNIT): $(WIN_UNIT_OBJS) $(WIN_OBJS)
	$(WIN_CC) -o $@ $^ -L$(WIN_DEPS)/lib -lcunit $(WIN_LIBS)

# installer/msi.mk adds the two MSIs the installer scenarios need.
test-windows: windows test-deps
	sh tests/wine/run.sh $(WIN_BUILD)

# For tests/wine/check_build_files.py: what make compiles for Windows.
print-win-srcs:
	@echo $(sort $(WIN_SRCS) src/main.c)
print-win-unit-srcs:
	@echo $(sort $(UNIT_SRCS) $(WIN_SRCS))
print-win-res:
	@echo $(WIN_RES)
