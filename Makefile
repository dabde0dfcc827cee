# ECSDb — top-level entry points. `make demo` and `make test` do the whole set-up on a fresh Debian 12
# machine: install missing packages, configure, build, run.
JOBS ?= $(shell nproc)
CMAKE_BUILD = cmake --build --preset

.PHONY: all deps build dashboard desktop desktop-test test lint test-asan test-tsan crash-long demo bench clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@test -f build/build.ninja || cmake --preset release
	$(CMAKE_BUILD) release -j $(JOBS)
	@scripts/build-dashboard.sh

# The web dashboard alone (dashboard/dist, served by `ecsdb serve`; docs/dashboard.md).
dashboard: deps
	@scripts/build-dashboard.sh

# The desktop app (desktop/, Tauri 2; docs/desktop.md): a .deb and an AppImage under
# desktop/src-tauri/target/release/bundle/. It bundles build/ecsdb as its local server: `make build` first
# refreshes that (only a missing one is built here). Not part of `make test`: see docs/desktop.md.
DESKTOP_JOBS ?= $(JOBS)
desktop:
	@test -x build/ecsdb || $(MAKE) build
	@DESKTOP_JOBS=$(DESKTOP_JOBS) scripts/build-desktop.sh

# The desktop app's Rust unit tests, then the app under Xvfb against a live `ecsdb serve --simulate 200`
# until its dashboard shows live numbers; screenshot in build/desktop-test/.
desktop-test:
	@test -x build/ecsdb || $(MAKE) build
	@DESKTOP_JOBS=$(DESKTOP_JOBS) scripts/build-desktop.sh --app-only
	@DESKTOP_JOBS=$(DESKTOP_JOBS) scripts/desktop-test.sh

# Release tests (unit, integration, kill -9 crash and power-loss tests), the installed-package consumer, a
# short fuzz run of every decoder (clang libFuzzer), the whole suite under ASan+UBSan, and the concurrency
# suites under TSan.
# Each phase prints the time it starts, so a slow CI run shows where its minutes went.
PHASE = @echo "make test: $(1) at $$(date -u +%T)"
test: build
	$(call PHASE,release tests)
	ctest --preset release -j $(JOBS)
	$(call PHASE,lint)
	$(MAKE) lint
	$(call PHASE,install check)
	@scripts/check-install.sh
	$(call PHASE,fuzz)
	scripts/run-fuzz.sh $(FUZZ_SECONDS)
	$(call PHASE,ASan+UBSan)
	$(MAKE) test-asan
	$(call PHASE,TSan)
	$(MAKE) test-tsan
	$(call PHASE,done)

FUZZ_SECONDS ?= 5

# clang-tidy with the committed .clang-tidy over the library and CLI sources (and the headers they include);
# any finding fails.
lint: build
	@run-clang-tidy-14 -p build -j $(JOBS) -quiet "$(CURDIR)/src/" > build/clang-tidy.log 2>&1; \
	  sed 's/\x1b\[[0-9;]*m//g' build/clang-tidy.log | grep -E "^$(CURDIR)/(src|include)/[^ ]*: (warning|error):" \
	    | sort -u > build/clang-tidy.findings || true; \
	  if [ -s build/clang-tidy.findings ]; then cat build/clang-tidy.findings; \
	    echo "lint: $$(wc -l < build/clang-tidy.findings) clang-tidy findings (build/clang-tidy.log)"; exit 1; fi
	@echo "lint: clang-tidy clean"

test-asan: deps
	@test -f build-asan/build.ninja || cmake --preset asan
	$(CMAKE_BUILD) asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

test-tsan: deps
	@test -f build-tsan/build.ninja || cmake --preset tsan
	$(CMAKE_BUILD) tsan -j $(JOBS) --target ecsdb_concurrency_test ecsdb_replication_test
	ctest --preset tsan -R 'ConcurrencyTest|QueueTest|OptimisticTest|DurableQueueTest|ReplicationTest|CApiTest'

# The crash tests for longer than `make test` runs them: CRASH_CYCLES kill -9 cycles on a real disk and
# POWER_LOSS_ROUNDS power-loss rounds on the fault-injection file system (each prints its ledger).
CRASH_CYCLES ?= 600
POWER_LOSS_ROUNDS ?= 100000
crash-long: build
	./build/tests/crash/ecsdb_crash_test --cycles $(CRASH_CYCLES)
	ECSDB_POWER_LOSS_ROUNDS=$(POWER_LOSS_ROUNDS) ./build/tests/crash/ecsdb_power_loss_test

# A simulated game world (spawning, moving, fighting, dying) under `ecsdb serve`, with the dashboard at the
# printed URL; Ctrl-C stops it (the world is kept in build/demo-data and recovered next time).
DEMO_ENTITIES ?= 5000
demo: build
	@echo "ECSDb demo: open the dashboard URL printed below; Ctrl-C stops the server"
	./build/ecsdb serve --schema examples/schemas/game.toml --data build/demo-data --http 127.0.0.1:8080 \
	  --simulate $(DEMO_ENTITIES) --repl 127.0.0.1:7070

# The dashboard's performance in Debian's chromium against `ecsdb serve` on loopback (dashboard/perf/measure.ts):
# first load, the first page of a 1M-row table, scrolling while rows change, bundle size. Prints the numbers
# and writes build/dashboard-perf.json (docs/benchmarks.md, "Dashboard"). Not part of `make test`.
.PHONY: dashboard-perf
dashboard-perf: dashboard
	@test -x build/ecsdb || $(MAKE) build
	cd dashboard && npm run --silent perf

# Benchmarks (docs/benchmarks.md); not part of `make test`: they take minutes and measure the machine as
# much as the code.
# `make bench`: BENCH_RUNS repetitions of `ecsdb bench all`, recorded with the machine's load average into
#   bench/results/<date>-<host>.json; BENCHMARKS.md and its plots (docs/img/bench/) regenerated from it.
# `make bench-check`: the same runs, compared with the newest committed results by each figure's ratio to
#   its in-run baseline; exits 1 on a regression beyond bench/thresholds.json (bench/check.py says how those
#   were measured). The defaults are the settings the thresholds were calibrated with: runs with another
#   entity count are not comparable, and fewer runs are noisier than the thresholds allow for.
# `make bench-micro`: the Google Benchmark micro-benchmarks (bench/micro/), printed only.
BENCH_ENTITIES ?= 200000
BENCH_SECONDS ?= 3
BENCH_RUNS ?= 3
BENCH_NOTE ?=
BENCH_ARGS ?=
# Debian's python3: scripts/install-bench-deps.sh installs matplotlib for it, whatever is first on PATH.
BENCH_PYTHON ?= /usr/bin/python3
BENCH_RUN = $(BENCH_PYTHON) bench/report.py run --ecsdb build/ecsdb --entities $(BENCH_ENTITIES) \
  --seconds $(BENCH_SECONDS) --repetitions $(BENCH_RUNS) --note "$(BENCH_NOTE)"
.PHONY: bench-check bench-micro

bench: build
	@scripts/install-bench-deps.sh
	$(BENCH_RUN) --out build/bench/all.json $(if $(BENCH_ARGS),-- $(BENCH_ARGS))
	$(BENCH_PYTHON) bench/report.py render build/bench/all.json --save

bench-check: build
	$(BENCH_RUN) --out build/bench/check.json $(if $(BENCH_ARGS),-- $(BENCH_ARGS))
	$(BENCH_PYTHON) bench/check.py build/bench/check.json

bench-micro: build
	./build/bench/micro/ecsdb_micro_bench --benchmark_min_time=0.2 --benchmark_repetitions=3 \
	  --benchmark_report_aggregates_only=true

clean:
	rm -rf build build-asan build-tsan build-debug build-coverage build-fuzz install
