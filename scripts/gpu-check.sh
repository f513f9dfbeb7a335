#!/usr/bin/env bash
# Runs on a GPU machine, from the repository root, after scripts/gpu-bundle.sh filled .device/ here:
# the cuda backend's tests, the command line on the GPU against the CPU, and the GPU benchmark
# against PyTorch on the same GPU. Logs go to $OUT (or out/) as tests.log, cli.log and bench.log
# (and profile.log with PROFILE=1).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-out}
mkdir -p "$out"
python=$(command -v python3)

# cuDNN and cuBLAS as PyTorch ships them (site-packages/nvidia/*/lib), then the CUDA toolkit's.
libs=$("$python" - <<'PY'
import glob, os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
wanted = ("libcudnn.so.9", "libcublas.so.13", "libcublasLt.so.13")
print(":".join(sorted({os.path.dirname(p) for w in wanted
                       for p in glob.glob(os.path.join(site, "nvidia", "**", w), recursive=True)})))
PY
)
export LD_LIBRARY_PATH="$PWD/.device/lib:$libs:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/tests.log"

echo "== GPU tests" | tee -a "$out/tests.log"
.device/bagnet_cuda_tests --durations yes 2>&1 | tee -a "$out/tests.log"
tests_status=${PIPESTATUS[0]}

# The same command with --device cpu and --device cuda; their npy outputs must agree to 1e-3.
same_on_both_devices() {
    local name=$1
    shift
    for device in cpu cuda; do
        .device/bagnet "$@" --output "$out/${name}_$device.npy" --device "$device" || return 1
    done
    "$python" -c "
import numpy as np
a, b = np.load('$out/${name}_cuda.npy'), np.load('$out/${name}_cpu.npy')
error = np.abs(a - b).max() / np.abs(b).max()
print('$name', a.shape, 'max relative difference cuda vs cpu', error)
raise SystemExit(0 if error < 1e-3 else 1)"
}

{
    echo "== command line on cuda against cpu (shipped Fashion-MNIST weights, random inputs)"
    "$python" -c "import numpy as np; np.save('$out/x.npy', np.random.default_rng(0).standard_normal((16, 1, 28, 28), dtype=np.float32))"
    weights=(--arch fashion9 --weights models/fashion_mnist_bagnet9.safetensors --input "$out/x.npy")
    same_on_both_devices logit_map logits "${weights[@]}" --map; echo "logit map agreement status $?"
    same_on_both_devices saliency saliency "${weights[@]}" --class 3; echo "saliency agreement status $?"
    same_on_both_devices heatmap heatmap "${weights[@]}" --top 1 --dense; echo "dense heatmap agreement status $?"
    .device/bagnet bench --arch bagnet33 --device cuda --batch 64 --repeat 5
    .device/bagnet bench --arch bagnet33 --device cuda --batch 64 --repeat 5 --precision bf16
} 2>&1 | tee "$out/cli.log"

if [ -n "${PROFILE:-}" ]; then  # PROFILE=1: also where the time goes, per convolution step
    echo "== per convolution step, batch 128" | tee "$out/profile.log"
    .device/cuda_speed --profile 1 --heatmaps 1 --repeat 3 >>"$out/profile.log" 2>&1
fi

echo "== benchmark" | tee "$out/bench.log"
PYTHONUNBUFFERED=1 "$python" benchmarks/cuda/cuda_vs_pytorch.py --cuda-speed .device/cuda_speed 2>&1 | tee -a "$out/bench.log"
rm -f "$out"/*.npy
exit "$tests_status"
