# tests/fuzz/fuzz.mk - included by the Makefile: libFuzzer on the config
# loader and on the statistics server's request parser (`make fuzz`), and
# the replayers of their corpora and past crashes (tests/fuzz/regressions/,
# tests/fuzz/regressions_stats/) that `make test` runs, built with $(CC).

FUZZ_REPLAY := $(BUILD)/fuzz-replay
FUZZ_REPLAY_STATS := $(BUILD)/fuzz-replay-stats
NO_DNS_LDFLAGS := -Wl,--wrap=getaddrinfo

$(FUZZ_REPLAY): $(BUILD)/tests/fuzz/fuzz_config.o $(BUILD)/tests/fuzz/replay_main.o \
                $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) $(NO_DNS_LDFLAGS) -o $@ $^ $(INIH_LIBS)

$(FUZZ_REPLAY_STATS): $(BUILD)/tests/fuzz/fuzz_stats_request.o \
                      $(BUILD)/tests/fuzz/replay_main.o $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS)

# `make fuzz`: clang's libFuzzer with ASan and UBSan, FUZZ_TIME seconds for
# each target, starting from its seed corpus; new inputs go to
# $(FUZZ_BUILD)/corpus(_stats), a crash to $(FUZZ_BUILD)/artifacts/ (keep
# it in tests/fuzz/regressions/ or regressions_stats/).
FUZZ_CC    ?= clang-14
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall \
               -Wextra -O1 -g -fno-omit-frame-pointer -MMD -MP $(FUZZ_SAN)
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(CORE_SRCS) $(POSIX_SRCS))
FUZZ_BIN   := $(FUZZ_BUILD)/fuzz_config
FUZZ_STATS_BIN := $(FUZZ_BUILD)/fuzz_stats_request
FUZZ_DEB_PKGS := clang-14 libclang-rt-14-dev

.PHONY: fuzz fuzz-deps

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

$(FUZZ_BIN): $(FUZZ_LIB_OBJS) $(FUZZ_BUILD)/tests/fuzz/fuzz_config.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(NO_DNS_LDFLAGS) -o $@ $^ $(INIH_LIBS)

$(FUZZ_STATS_BIN): $(FUZZ_LIB_OBJS) $(FUZZ_BUILD)/tests/fuzz/fuzz_stats_request.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(INIH_LIBS)

fuzz: deps fuzz-deps
	$(MAKE) $(FUZZ_BIN) $(FUZZ_STATS_BIN)
	@mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/corpus_stats \
	  $(FUZZ_BUILD)/artifacts
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -max_len=4096 -timeout=10 \
	  -print_final_stats=1 -dict=tests/fuzz/config.dict \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts/ \
	  $(FUZZ_BUILD)/corpus tests/fuzz/corpus
	$(FUZZ_STATS_BIN) -max_total_time=$(FUZZ_TIME) -max_len=4097 \
	  -timeout=10 -print_final_stats=1 -dict=tests/fuzz/stats.dict \
	  -artifact_prefix=$(FUZZ_BUILD)/artifacts/stats- \
	  $(FUZZ_BUILD)/corpus_stats tests/fuzz/corpus_stats
