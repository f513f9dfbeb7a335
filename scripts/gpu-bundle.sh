#!/usr/bin/env bash
# Builds the CUDA variant (build-cuda/, Release, -DBAGNET_WITH_CUDA=ON) and gathers what a GPU
# machine needs to run the GPU tests, the GPU benchmark and the command line into .device/
# (git-ignored): the binaries and the two libraries of this machine the GPU machine lacks
# (oneDNN for the command line, and GNU OpenMP). cuDNN and cuBLAS come from the GPU machine.
# Then scripts/gpu-check.sh runs there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cmake --preset cuda -DBAGNET_WERROR=ON >/dev/null
cmake --build --preset cuda --target bagnet_cuda_tests cuda_speed bagnet_cli
rm -rf .device && mkdir -p .device/lib
cp build-cuda/bin/bagnet_cuda_tests build-cuda/bin/cuda_speed build-cuda/bin/bagnet .device/
for lib in libdnnl.so.2 libgomp.so.1; do
    cp -L "$(ldd build-cuda/bin/bagnet | awk -v l="$lib" '$1 == l {print $3}')" .device/lib/
done
du -sh .device
