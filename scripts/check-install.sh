#!/usr/bin/env bash
# Installs ECSDb into build/install and builds examples/consumer against it with find_package(ECSDb CONFIG),
# proving the exported package works for a user project (the library, and the replication_server component).
# Then runs both consumers.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="$root/build/install"
cmake --install "$root/build" --prefix "$prefix" >/dev/null
cmake -S "$root/examples/consumer" -B "$root/build/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build/consumer" >/dev/null
"$root/build/consumer/consumer" "$root/examples/schemas/game.toml"
"$root/build/consumer/consumer_replication" "$root/examples/schemas/game.toml"
