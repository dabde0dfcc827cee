#!/usr/bin/env bash
# Installs what `make bench` / `make bench-check` need beyond the build: Debian's matplotlib for the plots
# of BENCHMARKS.md (bench/report.py) and pytest for the report's unit tests (bench/tests, run by ctest).
# Debian's packages rather than pip: bench/report.py runs under /usr/bin/python3, so the plots do not depend
# on whichever Python a developer has first on PATH. Idempotent; apt runs only for what is missing.
set -euo pipefail

# python3-munkres satisfies python3-fonttools' "python3-scipy | python3-munkres": without it apt picks scipy,
# whose python3-pythran pulls libboost-dev (1.74), which conflicts with the libboost1.81-dev the build uses.
packages=(python3 python3-matplotlib python3-munkres python3-pytest)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-bench-deps: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
