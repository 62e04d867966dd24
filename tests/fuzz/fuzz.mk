# tests/fuzz/fuzz.mk - included by the Makefile: libFuzzer on the config
# loader and on the parsers of what a client sends first (`make fuzz`,
# FUZZ_TARGET=config or inspect), and the replayers of their corpora and
# past crashes that `make test` runs, built with $(CC):
#   config:  tests/fuzz/corpus, tests/fuzz/regressions
#   inspect: tests/fuzz/corpus-inspect, tests/fuzz/regressions-inspect

FUZZ_REPLAY := $(BUILD)/fuzz-replay
FUZZ_REPLAY_INSPECT := $(BUILD)/fuzz-replay-inspect
NO_DNS_LDFLAGS := -Wl,--wrap=getaddrinfo

$(FUZZ_REPLAY): $(BUILD)/tests/fuzz/fuzz_config.o $(BUILD)/tests/fuzz/replay_main.o \
                $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) $(NO_DNS_LDFLAGS) -o $@ $^ $(INIH_LIBS)

# What the inspect target parses, the routes a TLS name is matched to,
# and the address helpers under them.
INSPECT_SRCS := $(wildcard src/inspect_*.c) src/proxy_proto.c src/route.c \
                $(COMMON_SRCS) $(wildcard platform/posix/posix_error.c)

$(FUZZ_REPLAY_INSPECT): $(BUILD)/tests/fuzz/fuzz_inspect.o \
                        $(BUILD)/tests/fuzz/replay_main.o \
                        $(INSPECT_SRCS:%.c=$(BUILD)/%.o)
	$(CC) $(LDFLAGS) -o $@ $^

# The replays `make test` runs.
fuzz-replay: $(FUZZ_REPLAY) $(FUZZ_REPLAY_INSPECT)
	$(SAN_ENV) $(FUZZ_REPLAY) tests/fuzz/corpus tests/fuzz/regressions
	$(SAN_ENV) $(FUZZ_REPLAY_INSPECT) tests/fuzz/corpus-inspect \
	  tests/fuzz/regressions-inspect

# `make fuzz`: clang's libFuzzer with ASan and UBSan, FUZZ_TIME seconds,
# starting from the seed corpus; new inputs go to
# $(FUZZ_BUILD)/corpus-$(FUZZ_TARGET), a crash to $(FUZZ_BUILD)/artifacts/
# (keep it in the target's regressions folder).
FUZZ_CC    ?= clang-14
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ_TARGET ?= config
FUZZ_MAX_LEN := $(if $(filter config,$(FUZZ_TARGET)),4096,20000)
FUZZ_SEEDS := $(if $(filter config,$(FUZZ_TARGET)),tests/fuzz/corpus \
                -dict=tests/fuzz/config.dict,tests/fuzz/corpus-$(FUZZ_TARGET))
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall \
               -Wextra -O1 -g -fno-omit-frame-pointer -MMD -MP $(FUZZ_SAN)
# The config loader needs the whole core (and no DNS); the inspectors
# only themselves and the address helpers.
FUZZ_SRCS  := $(if $(filter config,$(FUZZ_TARGET)),$(CORE_SRCS) $(POSIX_SRCS),\
                $(INSPECT_SRCS))
FUZZ_OBJS  := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(FUZZ_SRCS) \
                tests/fuzz/fuzz_$(FUZZ_TARGET).c)
FUZZ_LDFLAGS := $(if $(filter config,$(FUZZ_TARGET)),$(NO_DNS_LDFLAGS) $(INIH_LIBS))
FUZZ_BIN   := $(FUZZ_BUILD)/fuzz_$(FUZZ_TARGET)
FUZZ_DEB_PKGS := clang-14 libclang-rt-14-dev

.PHONY: fuzz fuzz-deps fuzz-replay

fuzz-deps:
	@if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' | \
	    $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; then \
	  $(call apt_install,libFuzzer,$(FUZZ_DEB_PKGS),exit 1;); \
	fi

# The same layers, with the same include paths, as the Makefile's build.
$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(CORE_INC) -fsanitize=fuzzer-no-link $(INIH_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/platform/%.o: platform/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(POSIX_INC) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(TEST_INC) -fsanitize=fuzzer-no-link $(INIH_CFLAGS) -c $< -o $@

$(FUZZ_BIN): $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LDFLAGS)

fuzz: deps fuzz-deps
	$(MAKE) $(FUZZ_BIN)
	@mkdir -p $(FUZZ_BUILD)/corpus-$(FUZZ_TARGET) $(FUZZ_BUILD)/artifacts
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -max_len=$(FUZZ_MAX_LEN) -timeout=10 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/ \
	  $(FUZZ_BUILD)/corpus-$(FUZZ_TARGET) $(FUZZ_SEEDS)
