#!/usr/bin/python3
"""Training fixtures for the C++ tests, computed by the PyTorch reference BagNet in float64.

    make_train_fixture.py gradient --q 9 --height 25 --width 30 --batch 2 --seed 1 --out DIR
    make_train_fixture.py sgd --q 17 --height 49 --width 41 --batch 2 --seed 2 --lr 0.01 --steps 1 --out DIR

`gradient` writes, for the eval-mode model (random weights, randomised batch-norm statistics):
  weights.safetensors, input.npy (float32 N x 3 x H x W), classes.npy (int64, one class per image),
  input_gradient.npy   d sum_i logit[i, classes[i]] / d input, float64 rounded to float32
  tolerance.json       {"input_gradient": r}: the same computed in float32 against float64
                       (max |difference| / max |value|), to calibrate the C++ test's tolerance
`sgd` runs --steps steps of torch.optim.SGD (momentum 0.9, --weight-decay, training-mode batch
norm, no shuffling: the same batch every step, cross-entropy) and writes
  weights.safetensors, input.npy, labels.npy (int64), after.safetensors (every state_dict tensor
  after the steps), tolerance.json {key: r} with r for each tensor's change (after - before)
  of the float32 run against the float64 one.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)
from bagnet_reference import imagenet, randomize  # noqa: E402
from convert_checkpoint import atomic_output, write_safetensors  # noqa: E402


def relative(actual, expected):
    """max |difference| / max |expected|."""
    scale = expected.abs().max().item()
    return (actual - expected).abs().max().item() / max(scale, 1e-30)


def relative_norm(actual, expected):
    """||difference|| / ||expected||: robust to the few elements whose ReLU mask flips."""
    return (actual - expected).norm().item() / max(expected.norm().item(), 1e-30)


def save_npy(path, array, dtype):
    with atomic_output(path) as temporary, open(temporary, "wb") as out:
        np.save(out, np.ascontiguousarray(array, dtype=dtype))


def save_json(path, value):
    with atomic_output(path) as temporary, open(temporary, "w") as out:
        json.dump(value, out, indent=1, sort_keys=True)


def setup(args):
    model = randomize(imagenet(args.q, classes=args.classes), args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch, 3, args.height, args.width, generator=generator)
    labels = torch.randint(0, args.classes, (args.batch,), generator=generator)
    os.makedirs(args.out, exist_ok=True)
    write_safetensors(model.state_dict(), os.path.join(args.out, "weights.safetensors"))
    save_npy(os.path.join(args.out, "input.npy"), images.numpy(), np.float32)
    return model, images, labels


def input_gradient(model, images, classes, dtype):
    model = model.to(dtype).eval()
    x = images.to(dtype).requires_grad_(True)
    model(x).gather(1, classes[:, None]).sum().backward()
    return x.grad


def make_gradient(args):
    model, images, classes = setup(args)
    exact = input_gradient(model, images, classes, torch.float64)
    single = input_gradient(model, images, classes, torch.float32)
    save_npy(os.path.join(args.out, "classes.npy"), classes.numpy(), np.int64)
    save_npy(os.path.join(args.out, "input_gradient.npy"), exact.numpy(), np.float32)
    save_json(os.path.join(args.out, "tolerance.json"), {"input_gradient": relative(single.double(), exact)})


def train(model, images, labels, dtype, args):
    model = model.to(dtype).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    for _ in range(args.steps):
        optimizer.zero_grad()
        F.cross_entropy(model(images.to(dtype)), labels).backward()
        optimizer.step()
    return before, {k: v.clone() for k, v in model.state_dict().items()}


def make_sgd(args):
    model, images, labels = setup(args)
    save_npy(os.path.join(args.out, "labels.npy"), labels.numpy(), np.int64)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    before, exact = train(model, images, labels, torch.float64, args)
    model.load_state_dict(initial)
    _, single = train(model.float(), images, labels, torch.float32, args)
    tolerance = {}
    for key, value in exact.items():
        if value.is_floating_point():
            tolerance[key] = relative_norm(single[key].double() - before[key].double(), value - before[key])
    write_safetensors(exact, os.path.join(args.out, "after.safetensors"))
    save_json(os.path.join(args.out, "tolerance.json"), tolerance)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=("gradient", "sgd"))
    parser.add_argument("--q", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if os.path.exists(os.path.join(args.out, "tolerance.json")):
        return 0  # made before: the inputs are this script and its arguments, both fixed
    (make_gradient if args.kind == "gradient" else make_sgd)(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
