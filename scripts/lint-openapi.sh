#!/usr/bin/env bash
# Lints the HTTP API contract docs/openapi.yaml with Redocly CLI, pinned in tools/openapi-lint/package-lock.json
# (needs Node.js >= 20.19 and npm; the first run installs the linter into tools/openapi-lint/node_modules).
# The ruleset (tools/openapi-lint/redocly.yaml) is Redocly's recommended-strict: any warning fails the lint.
# Usage: scripts/lint-openapi.sh
set -euo pipefail

cd "$(dirname "$0")/.."
dir=tools/openapi-lint

command -v npm >/dev/null || { echo "lint-openapi: npm not found (install Node.js >= 20.19)" >&2; exit 1; }

# Install exactly the locked versions when node_modules is missing or older than the lockfile.
# npm ci writes node_modules/.package-lock.json, whose mtime marks the last install.
stamp="$dir/node_modules/.package-lock.json"
if [[ ! -d "$dir/node_modules" || ! -f "$stamp" || "$dir/package-lock.json" -nt "$stamp" ]]; then
  npm ci --prefix "$dir" --no-audit --no-fund
fi

# --no: never download anything here; the linter comes from the lockfile install above.
npx --no --prefix "$dir" redocly lint docs/openapi.yaml --config "$dir/redocly.yaml"
