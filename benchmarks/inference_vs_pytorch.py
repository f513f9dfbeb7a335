#!/usr/bin/env python3
"""BagNet inference speed: bagnet's `cpu` backend against PyTorch, same machine, same run.

PyTorch runs the tests' reference model of the architecture (tests/reference/bagnet_reference.py),
TorchScript-traced, frozen and optimised for inference (its fastest CPU path), at the same thread
count. bagnet runs `build/bin/bagnet bench`. Prints a markdown table of ms/img and speed-ups, and
bagnet's peak memory at batch 1.

usage: /usr/bin/python3 benchmarks/inference_vs_pytorch.py [--bagnet build/bin/bagnet] [--arch bagnet33]
       [--threads 2] [--size 224] [--repeat 5]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import bagnet_reference  # noqa: E402


def torch_ms_per_image(model, batch, size, repeat):
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        for _ in range(2):
            model(x)
        start = time.perf_counter()
        for _ in range(repeat):
            model(x)
        return 1000 * (time.perf_counter() - start) / repeat / batch


def bagnet_run(binary, arch, threads, batch, size, repeat, precision):
    command = ["/usr/bin/time", "-f", "maxrss_kb=%M", binary, "bench", "--arch", arch, "--threads", str(threads),
               "--batch", str(batch), "--size", str(size), "--repeat", str(repeat), "--precision", precision]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bagnet bench failed: {result.stderr.strip()}")
    ms = float(re.search(r"([0-9.]+) ms/img", result.stdout).group(1))
    rss_mb = int(re.search(r"maxrss_kb=(\d+)", result.stderr).group(1)) / 1024
    return ms, rss_mb


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bagnet", default=os.path.join(ROOT, "build", "bin", "bagnet"))
    parser.add_argument("--arch", default="bagnet33", choices=["bagnet9", "bagnet17", "bagnet33"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not os.path.exists(args.bagnet):
        sys.exit(f"{args.bagnet} not found: build first (cmake --preset release && cmake --build build)")

    torch.set_num_threads(args.threads)
    q = int(args.arch[len("bagnet"):])
    model = bagnet_reference.imagenet(q).eval()
    with torch.no_grad():
        example = torch.randn(1, 3, args.size, args.size)
        scripted = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))

    rows = []
    torch_b1 = torch_ms_per_image(scripted, 1, args.size, args.repeat)
    torch_b8 = torch_ms_per_image(scripted, 8, args.size, max(1, args.repeat // 2))
    ours = {}
    for precision, batch in (("fp32", 1), ("bf16", 1), ("fp32", 8), ("bf16", 8)):
        ours[(precision, batch)] = bagnet_run(args.bagnet, args.arch, args.threads, batch, args.size,
                                              args.repeat if batch == 1 else max(1, args.repeat // 2), precision)
    rows.append(("PyTorch 1.13 jit-optimized fp32", 1, torch_b1, None))
    rows.append(("PyTorch 1.13 jit-optimized fp32", 8, torch_b8, None))
    for (precision, batch), (ms, _) in ours.items():
        rows.append((f"bagnet cpu {precision}", batch, ms, torch_b1 / ms))

    print(f"{args.arch}, {args.size}x{args.size}, {args.threads} threads, {os.cpu_count()} CPUs visible")
    print("| engine | batch | ms/img | img/s | speed-up vs PyTorch batch 1 |")
    print("| --- | --- | --- | --- | --- |")
    for name, batch, ms, ratio in rows:
        print(f"| {name} | {batch} | {ms:.1f} | {1000 / ms:.2f} | {'' if ratio is None else f'{ratio:.2f}x'} |")
    print(f"bagnet peak memory, fp32 batch 1: {ours[('fp32', 1)][1]:.0f} MB")


if __name__ == "__main__":
    main()
