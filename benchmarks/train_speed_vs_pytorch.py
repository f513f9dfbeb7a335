#!/usr/bin/python3
"""Training throughput, bagnet against PyTorch in the same run, on the same work.

    train_speed_vs_pytorch.py --bench BUILD/bin/train_speed [--threads 2] [--rounds 3] [--case NAME]

Measures BagNet-33 at 224 x 224, batch 8 (ImageNet head) and the Fashion-MNIST BagNet (fashion9)
at 28 x 28, batch 128: full SGD steps (forward, cross-entropy, backward, update), training-mode
batch norm, one warm-up step, then timed steps. The two sides alternate for --rounds rounds, so
that load from other work on a shared machine falls on both alike; prints each round and the
best of each side with their ratio.
"""
import argparse
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from bagnet_reference import fashion, imagenet  # noqa: E402

CASES = [  # (bagnet name, PyTorch model factory, in channels, size, batch, steps)
    ("bagnet33", lambda: imagenet(33), 3, 224, 8, 3),
    ("fashion9", lambda: fashion(9), 1, 28, 128, 20),
]


def pytorch_speed(factory, channels, size, batch, steps):
    model = factory().train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, channels, size, size)
    y = torch.arange(batch) % model.fc.out_features

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", required=True, help="the train_speed executable")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="alternating measurements of each side")
    parser.add_argument("--case", choices=[case[0] for case in CASES], help="only this case")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name, factory, channels, size, batch, steps in CASES:
        if args.case and name != args.case:
            continue
        ours, theirs = [], []
        for round_ in range(args.rounds):
            output = subprocess.run([args.bench, "--arch", name, "--batch", str(batch), "--size", str(size),
                                     "--steps", str(steps), "--threads", str(args.threads)],
                                    check=True, stdout=subprocess.PIPE, text=True).stdout
            ours.append(float(output.split(":")[-1].split()[0]))
            theirs.append(pytorch_speed(factory, channels, size, batch, steps))
            print(f"  round {round_ + 1}: bagnet {ours[-1]:.2f} img/s, PyTorch {theirs[-1]:.2f} img/s, "
                  f"{ours[-1] / theirs[-1]:.2f}x", flush=True)
        print(f"{name} {size}px batch {batch}: bagnet {max(ours):.2f} img/s, PyTorch {max(theirs):.2f} img/s "
              f"(best of {args.rounds}), {max(ours) / max(theirs):.2f}x", flush=True)


if __name__ == "__main__":
    main()
