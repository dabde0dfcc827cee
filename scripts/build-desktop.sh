#!/usr/bin/env bash
# Builds ECSDb Desktop (desktop/, Tauri 2; docs/desktop.md) on Debian 12:
#   1. the system packages (scripts/install-desktop-deps.sh) and the dashboard's dist/ (build-dashboard.sh);
#   2. the app's pages in build/desktop/frontend: the dashboard build plus the launcher (desktop/ui);
#   3. the sidecar: build/ecsdb, stripped, as desktop/src-tauri/binaries/ecsdb-<target triple>;
#   4. `tauri build` (cargo, release) and the bundles: a .deb, then an AppImage.
# --app-only stops after the release binary (no bundles): what `make desktop-test` needs.
# The AppImage step downloads its tools (linuxdeploy, AppRun) from GitHub on first use; when that fails the
# .deb is still built, the reason is printed, and the script exits 0 unless DESKTOP_REQUIRE_APPIMAGE=1.
# Output: desktop/src-tauri/target/release/ecsdb-desktop and target/release/bundle/{deb,appimage}/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
app_only=0
[[ "${1:-}" == "--app-only" ]] && app_only=1
jobs="${DESKTOP_JOBS:-$(nproc)}"
export PATH="$HOME/.cargo/bin:$PATH"

scripts/install-desktop-deps.sh
for tool in cargo npm; do
  command -v "$tool" >/dev/null || { echo "build-desktop: '$tool' not found (Rust via rustup, Node 20 + npm: docs/desktop.md)"; exit 1; }
done
if [[ ! -x build/ecsdb ]]; then
  echo "build-desktop: build/ecsdb is missing (the app bundles it as its local server): run 'make build' first"
  exit 1
fi
scripts/build-dashboard.sh

# The launcher and the dashboard side by side: tauri.conf.json's frontendDist.
front=build/desktop/frontend
rm -rf "$front.new" && mkdir -p "$front.new"
cp -R dashboard/dist/. "$front.new/"
cp desktop/ui/desktop.html desktop/ui/desktop.js desktop/ui/desktop.css "$front.new/"
# Swapped in only when something changed: tauri-build embeds this folder and recompiles the app when its
# files' times change, which takes minutes on 2 cores.
if [[ -d "$front" ]] && diff -rq "$front" "$front.new" >/dev/null; then
  rm -rf "$front.new"
else
  rm -rf "$front" && mv "$front.new" "$front"
fi

# The sidecar, named the way Tauri's externalBin wants it. Stripped: the debug info is most of its size.
triple="$(rustc -vV | sed -n 's/^host: //p')"
sidecar="desktop/src-tauri/binaries/ecsdb-$triple"
mkdir -p "$(dirname "$sidecar")"
if [[ ! -f "$sidecar" || build/ecsdb -nt "$sidecar" ]]; then
  strip -o "$sidecar" build/ecsdb
fi

cd desktop
stamp=node_modules/.package-lock.json   # npm's record of what it installed
if [[ ! -f "$stamp" || package-lock.json -nt "$stamp" || package.json -nt "$stamp" ]]; then
  npm ci --no-audit --no-fund
fi
export CARGO_BUILD_JOBS="$jobs"
# The C++ build may share the machine: the app's build yields to it.
tauri=(nice -n 19 npx --no-install tauri build --ci)
if ((app_only)); then
  "${tauri[@]}" --no-bundle
  exit 0
fi
"${tauri[@]}" --bundles deb
if ! "${tauri[@]}" --bundles appimage 2>&1 | tee ../build/desktop/appimage.log; then
  echo "build-desktop: the AppImage was NOT built; the .deb was. Last lines of build/desktop/appimage.log:"
  tail -n 5 ../build/desktop/appimage.log | sed 's/^/  /'
  if [[ "${DESKTOP_REQUIRE_APPIMAGE:-0}" == 1 ]]; then exit 1; fi
fi
echo "build-desktop: bundles:"
find "${CARGO_TARGET_DIR:-src-tauri/target}/release/bundle" -maxdepth 2 \( -name '*.deb' -o -name '*.AppImage' \) -printf '  %p (%s bytes)\n'
