#!/usr/bin/env bash
# Installs what `make bench` / `make bench-check` need beyond the build: Debian's matplotlib for the plots
# of BENCHMARKS.md (bench/report.py) and pytest for the report's unit tests (bench/tests, run by ctest).
# Debian's packages rather than pip: bench/report.py runs under /usr/bin/python3, so the plots do not depend
# on whichever Python a developer has first on PATH. Idempotent; apt runs only for what is missing.
set -euo pipefail

# python3-munkres satisfies python3-fonttools' "python3-scipy | python3-munkres": without it apt picks scipy,
# whose python3-pythran pulls libboost-dev (1.74), which conflicts with the libboost1.81-dev the build uses.
packages=(python3 python3-matplotlib python3-munkres python3-pytest)

source "$(dirname "$0")/apt-install-missing.sh"
apt_install_missing install-bench-deps "${packages[@]}"
