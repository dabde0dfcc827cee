#!/usr/bin/env bash
# Tests of @ecsdb/client: installs the pinned packages (npm ci) when node_modules is missing or older than
# package-lock.json, type-checks, then runs Vitest once (non-interactive). Extra arguments go to vitest
# (e.g. ./test.sh test/codec.test.ts). The live tests start `ecsdb serve` from $ECSDB_BIN, by default
# ../../build/ecsdb (relative to this directory).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${ECSDB_BIN:-}" && "${ECSDB_BIN}" != /* ]]; then
  ECSDB_BIN="$PWD/$ECSDB_BIN"   # relative to where the script was called from
fi
export ECSDB_BIN="${ECSDB_BIN:-$here/../../build/ecsdb}"
cd "$here"

stamp=node_modules/.package-lock.json   # npm's record of what it installed
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" || package.json -nt "$stamp" ]]; then
  npm ci --no-audit --no-fund
fi

npx --no-install tsc --noEmit
CI=true npx --no-install vitest run "$@"
