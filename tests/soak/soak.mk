# tests/soak/soak.mk - included by the Makefile. `make soak`: minutes of
# mixed traffic through the balancer while backends, a worker and reloads
# fail around it, every byte checked at both ends (tests/soak/soak.py,
# tests/soak/README.md). Not part of `make test`. Everything on 127.0.0.1.
#   make soak SOAK_DURATION=60            a shorter run (seconds)
#   make soak SOAK_ARGS='--clients 200'   any option of soak.py
SOAK_DURATION ?= 180
SOAK_ARGS     ?=

.PHONY: soak
soak: all
	python3 tests/soak/soak.py --bin $(BIN) --duration $(SOAK_DURATION) \
	  --out $(BUILD)/soak $(SOAK_ARGS)
