#!/usr/bin/env bash
# Installs the Debian 12 packages the Tauri 2 desktop app (desktop/) needs to build, bundle and test:
# WebKitGTK 4.1 and the other Tauri prerequisites, Xvfb for `make desktop-test`, and ImageMagick's `import`
# for its screenshot. Idempotent and fast when everything is there: apt runs only for what is missing.
# Rust (cargo) and Node/npm are not installed here: see docs/desktop.md.
set -euo pipefail

packages=(
  libwebkit2gtk-4.1-dev build-essential curl wget file   # Tauri 2 on Linux (WebKitGTK 4.1)
  libxdo-dev libssl-dev libayatana-appindicator3-dev librsvg2-dev
  pkg-config patchelf                                   # bundling (the AppImage step patches rpaths)
  xvfb xauth                                            # make desktop-test: a headless X server
  imagemagick                                           # make desktop-test: `import -window root` screenshot
)

source "$(dirname "$0")/apt-install-missing.sh"
apt_install_missing install-desktop-deps "${packages[@]}"
