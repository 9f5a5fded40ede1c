# cairn — the two README commands are `make run` and `make test`.
# Deno comes from the npm registry (pinned) when none is on PATH; the tests
# install etcd-server/etcd-client from Debian when etcdctl or etcd is missing.

DENO_VERSION := 2.9.6
BUF_VERSION := 1.75.0
PROTOC_GEN_ES_VERSION := 2.17.0
TOOLS := $(CURDIR)/.tools
TOOLS_BIN := $(TOOLS)/node_modules/.bin
SYSTEM_DENO := $(shell command -v deno 2>/dev/null)
DENO := $(if $(SYSTEM_DENO),$(SYSTEM_DENO),$(TOOLS_BIN)/deno)
export PATH := $(TOOLS_BIN):$(PATH)

.PHONY: run test test-unit test-integration build dist dist-tarball gen gen-check fmt lint check bench bench-ops bench-scale fuzz jepsen sim deps etcd-tools prom-tools

# V8 flags of the cairn process (run here, baked into the executable by
# deno compile). --expose-gc: src/process/idle_gc.ts collects after bursts
# without turning the flag on at run time. The young generation is not
# capped: --max-semi-space-size=4 shortened scavenge pauses (put p99 at 100
# clients 1.44x -> 1.15x etcd's) but cost ~15% of put throughput (1.18x ->
# 0.99x etcd's), and no bench row may fall below etcd; watch peak RSS stays
# under etcd's without it (bench/NOTES.md: memory and put tail notes).
# --memory-reducer-delay-ms=1000: V8's own quiet-time collection
# (incremental and concurrent, so no seconds-long pause on a large heap,
# unlike idle_gc's, which stops above 96 MiB live) starts 1 s after a burst
# instead of 8 s; V8 ignores it when set at run time. With 300,000 keys
# loaded 132 MiB of the heap's 226 MiB was garbage until it ran.
# deno.json's start task and the bench (bench/lib/cairn_cmd.ts) use the
# same flags.
CAIRN_V8_FLAGS := --expose-gc,--memory-reducer-delay-ms=1000
# Deno's own flags for the cairn process, in the same three places and in
# deno compile. --no-code-cache: under deno run, V8's code cache is a
# SQLite file in DENO_DIR that deno maps into memory; every start reads
# each module's cached code from it, and those pages stay resident for the
# life of the process. Without it V8 compiles each function on its first
# call. An idle member went from 73.5 to 68.2 MiB resident (medians of 8
# alternating starts; 4.8 MiB of it the cache's mapped pages) and served
# its first Get 35 ms later (341 vs 306 ms; etcd takes ~660). Its effect on
# the compiled executable is not measured (no denort here; bench/NOTES.md,
# "Idle RSS and V8's code cache").
CAIRN_DENO_FLAGS := --no-code-cache

run: $(DENO)
	$(DENO) run -A $(CAIRN_DENO_FLAGS) --v8-flags=$(CAIRN_V8_FLAGS) main.ts $(ARGS)

test: $(DENO) etcd-tools prom-tools browser-tools gen-check ui-check
	$(DENO) fmt --check
	$(DENO) lint
	$(DENO) check main.ts src tests bench
	$(DENO) test -A --parallel src tests

test-unit: $(DENO)
	$(DENO) test -A src

# Single executable. `deno compile` downloads its base runtime (denort)
# unless DENORT_BIN names one; the development machines cannot download
# it. A deno CLI binary is no substitute: compiled onto it, the program is
# ignored and the result is plain deno, so the binary is run once and
# removed unless it answers --version as cairn. The commit is stamped in
# build/build_info.json (src/version.ts reads it there: the binary has no
# .git). The dashboard's bundle is a module (src/ui/*.gen.ts), in the
# binary like all code; asset files it may keep in src/ui/dist are
# embedded once that directory exists.
BUILD_DIR ?= build
CAIRN_BIN ?= cairn
CAIRN_RUN = $(if $(findstring /,$(CAIRN_BIN)),$(CAIRN_BIN),./$(CAIRN_BIN))
UI_ASSETS := $(wildcard src/ui/dist)
ifdef DENORT_BIN
export DENORT_BIN
endif
build: $(DENO)
	@mkdir -p build
	@printf '{"commit":"%s"}\n' "$$(git rev-parse HEAD 2>/dev/null)" > build/build_info.json
	$(DENO) compile -A $(CAIRN_DENO_FLAGS) --v8-flags=$(CAIRN_V8_FLAGS) --include src/auth/bcrypt_worker.ts --include src/storage/check_worker.ts --include build/build_info.json \
	  $(if $(UI_ASSETS),--include $(UI_ASSETS)) --output $(CAIRN_BIN) main.ts
	@if ! timeout 60 $(CAIRN_RUN) --version </dev/null 2>/dev/null | grep -q '^cairn Version: '; then \
	  echo "$(CAIRN_BIN) does not run the compiled program: DENORT_BIN ($${DENORT_BIN:-unset}) must be Deno $(DENO_VERSION)'s denort, not the deno CLI"; \
	  rm -f $(CAIRN_BIN); exit 1; \
	fi
	@$(CAIRN_RUN) --version

# Release tarball, named like etcd's (cairn-v<version>-linux-<arch>.tar.gz):
# the binary, the systemd unit, its example environment file, the sysusers
# entry and the README. dist-tarball packs whatever CAIRN_BIN is (the
# packaging test gives it a stand-in where no denort exists).
VERSION := $(shell sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' deno.json | head -n 1)
DIST_ARCH := $(subst x86_64,amd64,$(subst aarch64,arm64,$(shell uname -m)))
DIST_NAME := cairn-v$(VERSION)-linux-$(DIST_ARCH)
dist: build
	$(MAKE) --no-print-directory dist-tarball
dist-tarball:
	@test -x $(CAIRN_BIN) || { echo "no executable $(CAIRN_BIN): run make build"; exit 1; }
	@rm -rf $(BUILD_DIR)/$(DIST_NAME) && mkdir -p $(BUILD_DIR)/$(DIST_NAME)
	install -m 0755 $(CAIRN_BIN) $(BUILD_DIR)/$(DIST_NAME)/cairn
	install -m 0644 dist/cairn.service dist/cairn.env dist/cairn.sysusers.conf README.md \
	  $(BUILD_DIR)/$(DIST_NAME)/
	tar -C $(BUILD_DIR) --owner=0 --group=0 --numeric-owner -czf $(BUILD_DIR)/$(DIST_NAME).tar.gz $(DIST_NAME)
	cd $(BUILD_DIR) && sha256sum $(DIST_NAME).tar.gz > $(DIST_NAME).tar.gz.sha256
	@rm -rf $(BUILD_DIR)/$(DIST_NAME)
	@echo "wrote $(BUILD_DIR)/$(DIST_NAME).tar.gz"

gen: $(TOOLS_BIN)/buf
	$(TOOLS_BIN)/buf generate

# Fails when src/gen/ does not match what buf generates from proto/.
gen-check: $(TOOLS_BIN)/buf
	@rm -rf $(TOOLS)/gen-check && mkdir -p $(TOOLS)/gen-check
	@$(TOOLS_BIN)/buf generate -o $(TOOLS)/gen-check
	@diff -r src/gen $(TOOLS)/gen-check/src/gen >/dev/null || \
	  { echo "src/gen is stale: run 'make gen' and commit the result"; exit 1; }
	@echo "src/gen is up to date"

# The dashboard's script (src/ui/app) bundled into src/ui/dashboard_bundle.gen.ts.
ui: $(DENO)
	$(DENO) run -A src/ui/build.ts

# Fails when src/ui/dashboard_bundle.gen.ts does not match its sources.
ui-check: $(DENO)
	@$(DENO) run -A src/ui/build.ts --check

# Chromium for the dashboard's browser tests (tests/browser), from Debian.
browser-tools:
	@if ! command -v chromium >/dev/null 2>&1 && [ -z "$$CHROMIUM_BIN" ]; then \
	  echo "installing chromium from Debian"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

fmt: $(DENO)
	$(DENO) fmt

lint: $(DENO)
	$(DENO) lint

# Whole-member deterministic simulation (src/server/sim): MEMBER_SIM_SEEDS
# seeded runs of real members under crashes, torn writes, fsync errors,
# partitions, clock jumps and membership changes. A failure prints its seed:
# replay it with MEMBER_SIM_SEED=<n> deno test -A src/server/sim/sim_test.ts.
MEMBER_SIM_SEEDS ?= 5000
sim: $(DENO)
	MEMBER_SIM_SEEDS=$(MEMBER_SIM_SEEDS) $(DENO) test -A src/server/sim/sim_test.ts

# A long fuzzing campaign (tests/fuzz/plan.ts): FUZZ_CASES scales every
# fuzzer (the costly real-process one runs fewer), with no time budget. A
# failure prints its seed and case: replay it with FUZZ_SEED and FUZZ_CASE.
FUZZ_CASES ?= 20000
fuzz: $(DENO) etcd-tools
	FUZZ_CASES=$(FUZZ_CASES) $(DENO) test -A tests/fuzz

bench: $(DENO) etcd-tools
	$(DENO) run -A bench/run.ts
	$(MAKE) bench-ops
	$(MAKE) jepsen

# Put latency while a snapshot of 1,000,000 keys is written and while
# Defragment runs, cairn beside etcd, and the dashboard's first render of a
# prefix of 100,000 keys in headless Chromium; writes bench/OPS.md (about
# 10 minutes, mostly loading the keys). Quick: ARGS='--keys 100000'.
bench-ops: $(DENO) etcd-tools browser-tools
	$(DENO) run -A bench/ops.ts $(ARGS)

# Issue 15's scale rows beside etcd, under 15 minutes: put to the leader of 5
# members; 1,000,000 keys x 256 B loaded (memory, restart, ranges of 10,000
# keys, count_only); 64 KiB and 1 MiB values; 10,000 watchers on distinct
# keys at 1,000 puts/s. Writes its own section of bench/RESULTS.md.
# A quick check: make bench-scale ARGS='--keys 100000 --watchers 2000'.
bench-scale: $(DENO) etcd-tools
	$(DENO) run -A bench/scale.ts $(ARGS)

# Ten minutes of SIGKILL, SIGSTOP, partitions and membership changes against
# 3 members in network namespaces (needs root), then a linearizability check;
# writes bench/JEPSEN.md. Runs after bench/run.ts, outside its 10-minute bound.
jepsen: $(DENO) etcd-tools
	$(DENO) run -A bench/jepsen.ts $(ARGS)

$(TOOLS_BIN)/deno $(TOOLS_BIN)/buf:
	mkdir -p $(TOOLS)
	npm install --no-save --no-audit --no-fund --prefix $(TOOLS) \
	  deno@$(DENO_VERSION) @bufbuild/buf@$(BUF_VERSION) @bufbuild/protoc-gen-es@$(PROTOC_GEN_ES_VERSION)

etcd-tools:
	@if ! command -v etcdctl >/dev/null 2>&1 || ! command -v etcd >/dev/null 2>&1; then \
	  echo "installing etcd-server and etcd-client from Debian"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq etcd-server etcd-client >/dev/null; \
	fi
	@# The JSON gateway's client test (tests/etcd3gw_test.ts) runs Debian's etcd3gw.
	@if ! /usr/bin/python3 -c "import etcd3gw" >/dev/null 2>&1; then \
	  echo "installing python3-etcd3gw from Debian"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-etcd3gw >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-etcd3gw >/dev/null; }; \
	fi

# promtool (from Debian's prometheus package) checks the /metrics text in
# tests/metrics_test.ts. Only the package's files are unpacked into .tools:
# installing it would also start a Prometheus server.
prom-tools:
	@if ! command -v promtool >/dev/null 2>&1 && [ ! -x $(TOOLS)/prometheus/usr/bin/promtool ]; then \
	  echo "unpacking promtool from Debian's prometheus package"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && mkdir -p $(TOOLS)/deb && \
	  (cd $(TOOLS)/deb && timeout 600 apt-get download -qq prometheus) && \
	  dpkg-deb -x $(TOOLS)/deb/prometheus_*.deb $(TOOLS)/prometheus && rm -rf $(TOOLS)/deb; \
	fi
