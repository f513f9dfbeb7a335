#!/usr/bin/env bash
# Builds everything with AddressSanitizer + UBSan and warnings as errors (build-asan/), then runs all
# tests: the Catch tests, the Python reference self-checks and the installed-package consumer.
# Where the CUDA toolkit is installed, the cuda backend is built too (build-asan-cuda/) and its tests
# run: on a machine without a GPU they check the error a user gets and report the rest as skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cmake --preset sanitize -DBAGNET_WERROR=ON
cmake --build --preset sanitize
ctest --preset sanitize

if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; then
    cmake --preset sanitize-cuda -DBAGNET_WERROR=ON
    cmake --build --preset sanitize-cuda --target bagnet_cuda_tests cuda_speed bagnet_cli
    ctest --preset sanitize-cuda -L cuda
else
    echo "test.sh: no CUDA toolkit here, so the cuda backend was not built"
fi
