#!/usr/bin/python3
"""The default Fashion-MNIST recipe of `bagnet train`, run by PyTorch on the same small BagNet.

    train_fashion_mnist_pytorch.py [--epochs 12] [--batch-size 128] [--lr 0.1] [--label-smoothing 0.1]
                                   [--threads 2] [--q 9] [--steps N] [--bagnet BIN]

Prints the test top-1 and the training throughput of PyTorch, and, with --bagnet, runs
`BIN train --dataset fashion-mnist` with the same recipe and prints its figures beside them.
"""
import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from bagnet_reference import fashion  # noqa: E402

DATA = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def load_idx(images, labels):
    with gzip.open(os.path.join(DATA, images)) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(DATA, labels)) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)
    x = (torch.from_numpy(x.astype(np.float32)) / 255 - MEAN) / STD
    return x, torch.from_numpy(y.astype(np.int64))


def augment(x, generator):
    """Random horizontal flips, as `bagnet train --dataset fashion-mnist` does by default."""
    flip = torch.rand(len(x), generator=generator) < 0.5
    out = x.clone()
    out[flip] = x[flip].flip(-1)
    return out


def learning_rate(step, total, base, warmup):
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * base * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def train_pytorch(args):
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    train_x, train_y = load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    test_x, test_y = load_idx("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    model = fashion(args.q)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                                weight_decay=args.weight_decay)
    steps_per_epoch = len(train_x) // args.batch_size
    total = args.steps or steps_per_epoch * args.epochs
    warmup = min(200, total // 10) if args.warmup is None else min(args.warmup, total)
    step, images, seconds = 0, 0, 0.0
    while step < total:
        order = torch.randperm(len(train_x), generator=generator)
        model.train()
        for b in range(steps_per_epoch):
            if step == total:
                break
            index = order[b * args.batch_size:(b + 1) * args.batch_size]
            x = augment(train_x[index], generator)
            start = time.perf_counter()
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, total, args.lr, warmup)
            loss = F.cross_entropy(model(x), train_y[index], label_smoothing=args.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seconds += time.perf_counter() - start
            images += len(index)
            step += 1
            if step % 100 == 0:
                print(f"pytorch step {step}/{total} loss {loss.item():.4f} "
                      f"{images / seconds:.1f} img/s", flush=True)
    return {"test_top1": evaluate(model, test_x, test_y), "images_per_second": images / seconds}


def train_bagnet(args):
    with tempfile.TemporaryDirectory() as tmp:
        metrics = os.path.join(tmp, "metrics.json")
        command = [args.bagnet, "train", "--arch", f"fashion{args.q}", "--dataset", "fashion-mnist",
                   "--lr", str(args.lr), "--batch-size", str(args.batch_size),
                   "--weight-decay", str(args.weight_decay), "--label-smoothing", str(args.label_smoothing),
                   "--seed", str(args.seed),
                   "--threads", str(args.threads), "--save", os.path.join(tmp, "w.safetensors"),
                   "--metrics", metrics]
        command += ["--steps", str(args.steps)] if args.steps else ["--epochs", str(args.epochs)]
        command += ["--warmup", str(args.warmup)] if args.warmup is not None else []
        subprocess.run(command, check=True)
        with open(metrics) as f:
            return json.load(f)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=0, help="stop after N steps instead")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--warmup", type=int, help="default: min(200, steps / 10), as bagnet")
    parser.add_argument("--q", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bagnet", help="path of the bagnet executable, to compare with")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ours = train_bagnet(args) if args.bagnet else None
    theirs = train_pytorch(args)
    print(f"pytorch: test top-1 {theirs['test_top1']:.4f}, {theirs['images_per_second']:.1f} img/s")
    if ours:
        print(f"bagnet:  test top-1 {ours['test_top1']:.4f}, {ours['images_per_second']:.1f} img/s")
        print(f"speed-up {ours['images_per_second'] / theirs['images_per_second']:.2f}x, "
              f"accuracy difference {100 * (ours['test_top1'] - theirs['test_top1']):+.2f} points")


if __name__ == "__main__":
    main()
