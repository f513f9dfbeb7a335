#!/usr/bin/env python3
"""BagNet inference speed: bagnet's `cpu` backend against PyTorch and ONNX Runtime, same machine, same run.

Peers, each in its best CPU configuration at the same thread count:
- PyTorch (Debian's 1.13) on the tests' reference model of the architecture
  (tests/reference/bagnet_reference.py; for resnet50 torchvision's own), TorchScript-traced, frozen and optimised for inference,
  with channels-last weights and input (its fastest CPU path here) and, for reference, NCHW;
- ONNX Runtime's CPU provider (npm onnxruntime-node, graph optimisation 'all') on the same model
  exported by torch.onnx.export (opset 13).
bagnet runs `build/bin/bagnet bench`. The sides alternate over --rounds rounds and each keeps its
best, since this machine's speed drifts from minute to minute. Also measured: the start-up of a
one-image `bagnet logits` call (load the weights, build the plan, one forward pass), and bagnet's
peak memory at batch 1.

usage: /usr/bin/python3 benchmarks/inference_vs_peers.py [--bagnet build/bin/bagnet] [--arch bagnet33|resnet50]
       [--threads N] [--size 224] [--repeat 5] [--rounds 3]
ONNX Runtime comes from npm (`npm install onnxruntime-node --ignore-scripts` in benchmarks/node/;
the script does it when the package is missing and npm can reach its registry).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import bagnet_reference  # noqa: E402
from convert_checkpoint import write_safetensors  # noqa: E402

NODE_DIR = os.path.join(ROOT, "benchmarks", "node")


def torch_ms_per_image(model, batch, size, repeat, channels_last):
    x = torch.randn(batch, 3, size, size)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(2):
            model(x)
        start = time.perf_counter()
        for _ in range(repeat):
            model(x)
        return 1000 * (time.perf_counter() - start) / repeat / batch


def optimised(model, size, channels_last):
    model = model.eval()
    example = torch.randn(1, 3, size, size)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        example = example.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))


def reference_model(arch):
    """The architecture in PyTorch, random weights (seed 1): the tests' BagNet, or torchvision's resnet50."""
    model = torchvision.models.resnet50() if arch == "resnet50" else bagnet_reference.imagenet(int(arch[len("bagnet"):]))
    return bagnet_reference.randomize(model, seed=1)


def ensure_onnxruntime():
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "onnxruntime-node")):
        os.makedirs(NODE_DIR, exist_ok=True)
        print("installing onnxruntime-node (npm, --ignore-scripts: its CPU provider needs no download)",
              file=sys.stderr)
        subprocess.run(["npm", "install", "--prefix", NODE_DIR, "--ignore-scripts", "--no-audit", "--no-fund",
                        "onnxruntime-node"], check=True, stdout=subprocess.DEVNULL)


def onnxruntime_ms_per_image(model_path, batch, size, threads, repeat):
    env = dict(os.environ, NODE_PATH=os.path.join(NODE_DIR, "node_modules"))
    result = subprocess.run(["node", os.path.join(ROOT, "benchmarks", "onnxruntime_speed.js"), model_path,
                             str(batch), str(size), str(threads), str(repeat)],
                            capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"onnxruntime failed: {result.stderr.strip()}")
    return float(re.search(r"ms_per_image=([0-9.]+)", result.stdout).group(1))


def bagnet_bench(binary, arch, threads, batch, size, repeat, precision):
    command = ["/usr/bin/time", "-f", "maxrss_kb=%M", binary, "bench", "--arch", arch, "--threads", str(threads),
               "--batch", str(batch), "--size", str(size), "--repeat", str(repeat), "--precision", precision]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return None, None, result.stderr.strip().splitlines()[-1]
    ms = float(re.search(r"([0-9.]+) ms/img", result.stdout).group(1))
    rss_mb = int(re.search(r"maxrss_kb=(\d+)", result.stderr).group(1)) / 1024
    return ms, rss_mb, None


def bagnet_logits_seconds(binary, arch, threads, weights, image):
    output = image + ".logits.npy"
    start = time.perf_counter()
    subprocess.run([binary, "logits", "--arch", arch, "--threads", str(threads), "--weights", weights,
                    "--input", image, "--output", output], check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bagnet", default=os.path.join(ROOT, "build", "bin", "bagnet"))
    parser.add_argument("--arch", default="bagnet33", choices=["bagnet9", "bagnet17", "bagnet33", "resnet50"])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(args.bagnet):
        sys.exit(f"{args.bagnet} not found: build first (cmake --preset release && cmake --build build)")
    ensure_onnxruntime()

    torch.set_num_threads(args.threads)
    model = reference_model(args.arch).eval()
    work = tempfile.mkdtemp(prefix="bagnet-bench-")
    onnx_path = os.path.join(work, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(model, torch.randn(1, 3, args.size, args.size), onnx_path, opset_version=13,
                          input_names=["x"], output_names=["logits"], dynamic_axes={"x": {0: "batch"}})
    weights = os.path.join(work, "model.safetensors")
    write_safetensors(model.state_dict(), weights)
    image = os.path.join(work, "one.npy")
    np.save(image, np.random.default_rng(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32))
    nchw = optimised(reference_model(args.arch), args.size, False)
    channels_last = optimised(reference_model(args.arch), args.size, True)

    batches = (1, 8)
    repeat = {1: args.repeat, 8: max(1, args.repeat // 2)}
    best = {}
    failures = {}
    memory = None

    def keep(name, batch, ms):
        best[(name, batch)] = min(ms, best.get((name, batch), float("inf")))

    for _ in range(args.rounds):
        for batch in batches:
            keep("PyTorch 1.13 jit, channels-last", batch,
                 torch_ms_per_image(channels_last, batch, args.size, repeat[batch], True))
            keep("PyTorch 1.13 jit, NCHW", batch, torch_ms_per_image(nchw, batch, args.size, repeat[batch], False))
            keep("ONNX Runtime CPU", batch,
                 onnxruntime_ms_per_image(onnx_path, batch, args.size, args.threads, repeat[batch]))
            for precision in ("fp32", "bf16"):
                ms, rss, failure = bagnet_bench(args.bagnet, args.arch, args.threads, batch, args.size,
                                                repeat[batch], precision)
                if failure:
                    failures[precision] = failure
                    continue
                keep(f"bagnet cpu {precision}", batch, ms)
                if precision == "fp32" and batch == 1:
                    memory = rss if memory is None else min(memory, rss)
        keep("bagnet logits, one image: load + plan + forward (s)", 1,
             bagnet_logits_seconds(args.bagnet, args.arch, args.threads, weights, image))

    peers = ("PyTorch 1.13 jit, channels-last", "PyTorch 1.13 jit, NCHW", "ONNX Runtime CPU")
    print(f"{args.arch}, {args.size}x{args.size}, {args.threads} threads, {os.cpu_count()} CPUs visible, "
          f"best of {args.rounds} alternating rounds")
    print("| engine | batch | ms/img | img/s | time vs the best peer at this batch |")
    print("| --- | --- | --- | --- | --- |")
    for batch in batches:
        best_peer = min(best[(p, batch)] for p in peers)
        for name in peers + ("bagnet cpu fp32", "bagnet cpu bf16"):
            if (name, batch) not in best:
                continue
            ms = best[(name, batch)]
            print(f"| {name} | {batch} | {ms:.1f} | {1000 / ms:.2f} | {ms / best_peer:.2f}x |")
    for precision, failure in failures.items():
        print(f"bagnet cpu {precision}: not run here ({failure})")
    print(f"bagnet logits on one image (load + plan + forward): "
          f"{best[('bagnet logits, one image: load + plan + forward (s)', 1)]:.3f} s")
    if memory is not None:
        print(f"bagnet peak memory, fp32 batch 1: {memory:.0f} MB")


if __name__ == "__main__":
    main()
