#!/usr/bin/python3
"""Full-resolution heatmap speed: PyTorch's per-patch definition against bagnet, in one run.

PyTorch runs the tests' reference model once per patch (batch 1, no grad, as the reference
definition is usually computed) on a sample of pixels, extrapolated to the whole image; then
build/bin/heatmap_dense_vs_per_patch times bagnet's dense_heatmap (and its own per-patch
baseline) at the same size and thread count. Prints one markdown table.

usage: /usr/bin/python3 benchmarks/heatmap_vs_pytorch.py [--q 33] [--size 224] [--threads 2]
       [--sample 64] [--binary build/bin/heatmap_dense_vs_per_patch]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import bagnet_reference  # noqa: E402


def pytorch_seconds_per_image(q, size, sample):
    model = bagnet_reference.randomize(bagnet_reference.imagenet(q), 0).eval()
    image = torch.randn(1, 3, size, size)
    half = (q - 1) // 2
    padded = F.pad(image, (half, half, half, half))
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, size, (sample, 2), generator=generator)
    with torch.no_grad():
        model(padded[:, :, :q, :q])  # warm-up
        start = time.perf_counter()
        for y, x in pixels.tolist():
            model(padded[:, :, y:y + q, x:x + q])
        elapsed = time.perf_counter() - start
    return elapsed / sample * size * size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--q", type=int, default=33)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", type=int, default=64)
    parser.add_argument("--binary", default=os.path.join(ROOT, "build", "bin", "heatmap_dense_vs_per_patch"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch_seconds = pytorch_seconds_per_image(args.q, args.size, args.sample)
    result = subprocess.run([args.binary, "--q", str(args.q), "--size", str(args.size), "--threads",
                             str(args.threads), "--sample", str(args.sample)], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{args.binary} failed: {result.stderr.strip() or result.stdout.strip()}")
    dense_seconds = float(re.search(r"dense_heatmap \(a-trous evaluation\) \| ([0-9.]+)", result.stdout).group(1))
    print(result.stdout.strip())
    print(f"| PyTorch {torch.__version__} per-patch, batch 1 ({args.sample} sampled, extrapolated) "
          f"| {torch_seconds:.1f} | dense_heatmap is {torch_seconds / dense_seconds:.1f}x faster |")


if __name__ == "__main__":
    main()
