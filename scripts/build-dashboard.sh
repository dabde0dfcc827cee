#!/usr/bin/env bash
# Builds the dashboard (dashboard/ → dashboard/dist/, served by `ecsdb serve`): `npm ci` from the committed
# lockfile when node_modules is missing or older than it, then `npm run build` (vue-tsc, vite) when any
# source is newer than the last build. Fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../dashboard"

stamp=node_modules/.package-lock.json   # npm's record of what it installed
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" || package.json -nt "$stamp" ]]; then
  npm ci --no-audit --no-fund
fi
built=dist/index.html
if [[ ! -f "$built" ]] || [[ -n "$(find src index.html package-lock.json vite.config.ts tsconfig.json -newer "$built" -print -quit)" ]]; then
  npm run build --silent
fi
