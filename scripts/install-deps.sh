#!/usr/bin/env bash
# Installs the Debian 12 packages ECSDb needs to build, test and benchmark.
# Idempotent and fast when everything is already there: apt runs only for what is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config python3
  libtomlplusplus-dev      # TOML schema parser
  libcli11-dev             # CLI argument parsing
  nlohmann-json3-dev       # JSON output of the CLI
  libfmt-dev
  libxxhash-dev libzstd-dev                     # WAL checksums and compression
  libgtest-dev libgmock-dev librapidcheck-dev   # tests
  libbenchmark-dev libsqlite3-dev               # benchmarks and their SQLite peer
  liblmdb-dev librocksdb-dev                    # the durability suite's LMDB and RocksDB peers
  clang-14 libclang-rt-14-dev                   # libFuzzer targets and -Wthread-safety (scripts/run-fuzz.sh)
  clang-tidy-14                                 # make lint (.clang-tidy)
  libboost1.81-dev libboost-json1.81-dev libssl-dev   # ecsdb serve: Asio/Beast, Boost.JSON, TLS
  libspdlog-dev                                 # server logs
  prometheus                                    # promtool checks the /metrics output (tests)
  redis-server redis-tools                      # the server benchmark's peer (redis-benchmark)
  python3-venv                                  # API tests: schemathesis in a venv under build/
  python3-pytest                                # bench/tests (ctest BenchReportTest), under Debian's python3
  chromium                                      # dashboard browser tests (dashboard/test/e2e.test.ts, playwright-core)
)

# Node.js + npm (@redocly/cli lints docs/openapi.yaml): Debian's when the machine has none of its own.
if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi
source "$(dirname "$0")/apt-install-missing.sh"
apt_install_missing install-deps "${packages[@]}"
