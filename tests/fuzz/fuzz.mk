# tests/fuzz/fuzz.mk - included by the Makefile: libFuzzer targets for
# what a config file or a network peer can say, and the replayers of their
# seed corpora and past crashes that `make test` runs (make fuzz-replay),
# built with $(CC):
#   config:  the config loader (fuzz_config.c), tests/fuzz/corpus and
#            tests/fuzz/regressions;
#   inspect: a client's first bytes: PROXY header, TLS ClientHello, RDP
#            Connection Request (fuzz_inspect.c), tests/fuzz/corpus-inspect
#            and regressions-inspect;
#   stats:   the statistics server's request parser (fuzz_stats.c),
#            tests/fuzz/corpus-stats and regressions-stats;
#   check:   a backend's reply to a health check, and the regular
#            expressions and escapes of the check keys (fuzz_check.c),
#            tests/fuzz/corpus-check and regressions-check;
#   admin:   an admin API request: headers, path and JSON body
#            (fuzz_admin.c), tests/fuzz/corpus-admin and regressions-admin.
# `make fuzz` runs each of FUZZ_TARGETS for FUZZ_TIME seconds.

FUZZ_REPLAY := $(BUILD)/fuzz-replay
FUZZ_REPLAY_INSPECT := $(BUILD)/fuzz-replay-inspect
FUZZ_REPLAY_STATS := $(BUILD)/fuzz-replay-stats
FUZZ_REPLAY_CHECK := $(BUILD)/fuzz-replay-check
FUZZ_REPLAY_ADMIN := $(BUILD)/fuzz-replay-admin
NO_DNS_LDFLAGS := -Wl,--wrap=getaddrinfo

# What the inspect target parses, the routes a TLS name is matched to,
# and the address helpers under them.
INSPECT_SRCS := $(wildcard src/inspect_*.c) src/proxy_proto.c src/route.c \
                $(COMMON_SRCS) $(wildcard platform/posix/posix_error.c)

$(FUZZ_REPLAY): $(BUILD)/tests/fuzz/fuzz_config.o $(BUILD)/tests/fuzz/replay_main.o \
                $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) $(NO_DNS_LDFLAGS) -o $@ $^ $(INIH_LIBS)

$(FUZZ_REPLAY_INSPECT): $(BUILD)/tests/fuzz/fuzz_inspect.o \
                        $(BUILD)/tests/fuzz/replay_main.o \
                        $(INSPECT_SRCS:%.c=$(BUILD)/%.o)
	$(CC) $(LDFLAGS) -o $@ $^

$(FUZZ_REPLAY_STATS): $(BUILD)/tests/fuzz/fuzz_stats.o \
                      $(BUILD)/tests/fuzz/replay_main.o $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS)

# What the check target parses: the reply judge and the regex engine.
CHECK_SRCS := src/check_reply.c src/regex.c

$(FUZZ_REPLAY_CHECK): $(BUILD)/tests/fuzz/fuzz_check.o \
                      $(BUILD)/tests/fuzz/replay_main.o \
                      $(CHECK_SRCS:%.c=$(BUILD)/%.o)
	$(CC) $(LDFLAGS) -o $@ $^

$(FUZZ_REPLAY_ADMIN): $(BUILD)/tests/fuzz/fuzz_admin.o \
                      $(BUILD)/tests/fuzz/replay_main.o $(CORE_OBJS) $(POSIX_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(INIH_LIBS)

# The replays `make test` runs.
.PHONY: fuzz-replay
fuzz-replay: $(FUZZ_REPLAY) $(FUZZ_REPLAY_INSPECT) $(FUZZ_REPLAY_STATS) \
             $(FUZZ_REPLAY_CHECK) $(FUZZ_REPLAY_ADMIN)
	$(SAN_ENV) $(FUZZ_REPLAY) tests/fuzz/corpus tests/fuzz/regressions
	$(SAN_ENV) $(FUZZ_REPLAY_INSPECT) tests/fuzz/corpus-inspect \
	  tests/fuzz/regressions-inspect
	$(SAN_ENV) $(FUZZ_REPLAY_STATS) tests/fuzz/corpus-stats \
	  tests/fuzz/regressions-stats
	$(SAN_ENV) $(FUZZ_REPLAY_CHECK) tests/fuzz/corpus-check \
	  tests/fuzz/regressions-check
	$(SAN_ENV) $(FUZZ_REPLAY_ADMIN) tests/fuzz/corpus-admin \
	  tests/fuzz/regressions-admin

# `make fuzz`: clang's libFuzzer with ASan and UBSan, FUZZ_TIME seconds a
# target, from its seed corpus; new inputs go to
# $(FUZZ_BUILD)/corpus-TARGET, a crash to $(FUZZ_BUILD)/artifacts/TARGET-*
# (keep it in the target's regressions folder with its fix).
FUZZ_CC    ?= clang-14
FUZZ_BUILD ?= build-fuzz
FUZZ_TIME  ?= 60
FUZZ_TARGETS ?= config inspect stats check admin
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall \
               -Wextra -O1 -g -fno-omit-frame-pointer -MMD -MP $(FUZZ_SAN)
FUZZ_LIB_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(CORE_SRCS) $(POSIX_SRCS))
FUZZ_INSPECT_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(INSPECT_SRCS))
FUZZ_CHECK_OBJS := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(CHECK_SRCS))
FUZZ_DEB_PKGS := clang-14 libclang-rt-14-dev
# Each target's seeds (and dictionary) and longest input.
FUZZ_SEEDS_config  := tests/fuzz/corpus -dict=tests/fuzz/config.dict
FUZZ_SEEDS_inspect := tests/fuzz/corpus-inspect
FUZZ_SEEDS_stats   := tests/fuzz/corpus-stats -dict=tests/fuzz/stats.dict
FUZZ_SEEDS_check   := tests/fuzz/corpus-check
FUZZ_SEEDS_admin   := tests/fuzz/corpus-admin -dict=tests/fuzz/admin.dict
FUZZ_MAX_LEN_config  := 4096
FUZZ_MAX_LEN_inspect := 20000
FUZZ_MAX_LEN_stats   := 4097
FUZZ_MAX_LEN_check   := 1100
FUZZ_MAX_LEN_admin   := 5200

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

# The config loader needs the whole core (and no DNS); the inspectors
# only themselves and the address helpers.
$(FUZZ_BUILD)/fuzz_config: $(FUZZ_LIB_OBJS) $(FUZZ_BUILD)/tests/fuzz/fuzz_config.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $(NO_DNS_LDFLAGS) -o $@ $^ $(INIH_LIBS)

$(FUZZ_BUILD)/fuzz_inspect: $(FUZZ_INSPECT_OBJS) $(FUZZ_BUILD)/tests/fuzz/fuzz_inspect.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^

$(FUZZ_BUILD)/fuzz_stats: $(FUZZ_LIB_OBJS) $(FUZZ_BUILD)/tests/fuzz/fuzz_stats.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(INIH_LIBS)

$(FUZZ_BUILD)/fuzz_check: $(FUZZ_CHECK_OBJS) $(FUZZ_BUILD)/tests/fuzz/fuzz_check.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^

$(FUZZ_BUILD)/fuzz_admin: $(FUZZ_LIB_OBJS) $(FUZZ_BUILD)/tests/fuzz/fuzz_admin.o
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(INIH_LIBS)

fuzz: deps fuzz-deps
	$(MAKE) $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@set -e; for t in $(FUZZ_TARGETS); do \
	  case $$t in \
	  config) seeds="$(FUZZ_SEEDS_config)"; max=$(FUZZ_MAX_LEN_config);; \
	  inspect) seeds="$(FUZZ_SEEDS_inspect)"; max=$(FUZZ_MAX_LEN_inspect);; \
	  stats) seeds="$(FUZZ_SEEDS_stats)"; max=$(FUZZ_MAX_LEN_stats);; \
	  check) seeds="$(FUZZ_SEEDS_check)"; max=$(FUZZ_MAX_LEN_check);; \
	  admin) seeds="$(FUZZ_SEEDS_admin)"; max=$(FUZZ_MAX_LEN_admin);; \
	  *) echo "unknown fuzz target $$t" >&2; exit 2;; \
	  esac; \
	  mkdir -p $(FUZZ_BUILD)/corpus-$$t; \
	  echo "== fuzz $$t, $(FUZZ_TIME) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -max_len=$$max \
	    -timeout=10 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- \
	    $(FUZZ_BUILD)/corpus-$$t $$seeds; \
	done
