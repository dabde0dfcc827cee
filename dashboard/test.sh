#!/usr/bin/env bash
# Tests of the ECSDb dashboard: installs the pinned packages (npm ci) when node_modules is missing or older
# than package-lock.json, checks that src/api/schema.d.ts is what `npm run gen:api` makes from
# docs/openapi.yaml (an API change the dashboard has not followed fails here), type-checks (vue-tsc), lints
# (ESLint with eslint.config.js: any error or warning fails), then runs Vitest once (non-interactive).
# Extra arguments go to vitest (e.g. ./test.sh test/lib.test.ts).
# The live tests start `ecsdb serve` from $ECSDB_BIN, by default ../build/ecsdb (relative to this directory).
# The browser tests (test/e2e.test.ts: Debian's chromium driven by playwright-core) run the built app, so
# dist/ is built first when it is missing or older than the sources (scripts/build-dashboard.sh); without
# /usr/bin/chromium they are skipped, and this says so.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -n "${ECSDB_BIN:-}" && "${ECSDB_BIN}" != /* ]]; then
  ECSDB_BIN="$PWD/$ECSDB_BIN"   # relative to where the script was called from
fi
export ECSDB_BIN="${ECSDB_BIN:-$here/../build/ecsdb}"
cd "$here"

stamp=node_modules/.package-lock.json   # npm's record of what it installed
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" || package.json -nt "$stamp" ]]; then
  npm ci --no-audit --no-fund
fi

generated="$(mktemp --suffix=.d.ts)"
trap 'rm -f "$generated"' EXIT
npx --no-install openapi-typescript ../docs/openapi.yaml --output "$generated" --silent
if ! cmp -s "$generated" src/api/schema.d.ts; then
  echo "src/api/schema.d.ts is out of date with docs/openapi.yaml: run 'npm run gen:api' in dashboard/ and fix what vue-tsc reports" >&2
  diff -u src/api/schema.d.ts "$generated" | head -40 >&2 || true
  exit 1
fi

npx --no-install vue-tsc --noEmit
npm run --silent lint

# Does this run include the browser tests? Yes unless test files are named and none is e2e.
e2e=true
for arg in "$@"; do
  if [[ "$arg" == *.ts ]]; then e2e=false; fi
done
for arg in "$@"; do
  if [[ "$arg" == *e2e* ]]; then e2e=true; fi
done
if $e2e; then
  if [[ -x /usr/bin/chromium ]]; then
    ../scripts/build-dashboard.sh
  else
    echo "test.sh: /usr/bin/chromium is absent: the browser tests (test/e2e.test.ts) will be SKIPPED (scripts/install-deps.sh installs Debian's chromium)" >&2
  fi
fi

CI=true npx --no-install vitest run "$@"
