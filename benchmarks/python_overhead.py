#!/usr/bin/env python3
"""What the Python module costs over the C++ call, and how it compares with PyTorch in the same process.

Times `bagnet.Model(arch).logits(x)` (the module: numpy in place, GIL released, result handed
over without a copy) against `bagnet bench` (the same library call in a C++ loop) and against
PyTorch 1.13 in this process (the tests' reference model, TorchScript-traced, frozen and optimised,
channels-last: inference_vs_peers.py's best configuration). Random weights, random input,
BagNet-33 at 224 x 224 and batch 1 by default. The sides alternate over --rounds rounds and each
keeps its best, since this machine's speed drifts.

usage: PYTHONPATH=build/python /usr/bin/python3 benchmarks/python_overhead.py [--bagnet build/bin/bagnet]
       [--arch bagnet33] [--threads 2] [--batch 1] [--size 224] [--repeat 10] [--rounds 3]
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

import bagnet

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import inference_vs_peers as peers  # noqa: E402


def module_ms_per_image(model, x, repeat):
    model.logits(x)  # builds the plan
    start = time.perf_counter()
    for _ in range(repeat):
        model.logits(x)
    return 1000 * (time.perf_counter() - start) / repeat / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bagnet", default=os.path.join(os.path.dirname(HERE), "build", "bin", "bagnet"))
    parser.add_argument("--arch", default="bagnet33")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = bagnet.Model(args.arch, threads=args.threads)
    x = np.random.default_rng(0).standard_normal((args.batch, 3, args.size, args.size), dtype=np.float32)
    traced = peers.optimised(peers.reference_model(args.arch), args.size, True)
    def cpp_ms_per_image():
        ms, _, error = peers.bagnet_bench(args.bagnet, args.arch, args.threads, args.batch, args.size, args.repeat,
                                          "fp32")
        if error:
            sys.exit(f"python_overhead: {args.bagnet} bench failed: {error}")
        return ms

    best = {}
    for _ in range(args.rounds):
        for name, ms in (("bagnet C++ (bagnet bench)", cpp_ms_per_image()),
                         ("bagnet Python module", module_ms_per_image(model, x, args.repeat)),
                         ("PyTorch 1.13 jit, channels-last",
                          peers.torch_ms_per_image(traced, args.batch, args.size, args.repeat, True))):
            best[name] = min(best.get(name, float("inf")), ms)

    cpp = best["bagnet C++ (bagnet bench)"]
    print(f"# {args.arch}, {args.size} x {args.size}, batch {args.batch}, {args.threads} threads, best of "
          f"{args.rounds} rounds of {args.repeat}")
    print("| side | ms/img | vs the C++ call |")
    print("| --- | --- | --- |")
    for name, ms in best.items():
        print(f"| {name} | {ms:.1f} | {ms / cpp:.3f}x |")
    print(f"module overhead over the C++ call: {100 * (best['bagnet Python module'] / cpp - 1):+.2f}%")


if __name__ == "__main__":
    main()
