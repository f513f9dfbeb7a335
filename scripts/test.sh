#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UBSan and warnings as errors (build-asan/), then runs all
# tests: the Catch tests, the Python reference self-checks and the installed-package consumer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cmake --preset sanitize -DBAGNET_WERROR=ON
cmake --build --preset sanitize
ctest --preset sanitize
