# tests/bench/bench.mk - included by the Makefile. `make bench`: PumpkinLB,
# HAProxy, nginx stream and a direct connection side by side on 127.0.0.1
# (installs the peers as root; see tests/bench/README.md). Quick look:
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
