#!/usr/bin/python3
"""Average pooling against PyTorch's AvgPool2d, for tests/test_average_pool.cpp.

    make_pooling_fixture.py --height 15 --width 12 --batch 2 --seed 61 --out DIR

The network (the C++ test builds the same graph; the keys are its layers' names):
  c: conv 3 -> 6, 3x3, padding 1 -> bn -> ReLU -> AvgPool2d(3, stride 2, padding 1)
  d: conv 6 -> 8, 1x1, bias -> ReLU -> AvgPool2d(2, stride 2) -> spatial mean -> fc: 8 -> 5
(padding counted in the divisor, AvgPool2d's default). Writes, computed in float64:
  weights.safetensors, input.npy (float32 N x 3 x H x W), labels.npy (int64)
  logits.npy           eval-mode logits, N x 5
  input_gradient.npy   eval mode: d sum_i logit[i, labels[i]] / d input
  gradients.safetensors  training mode (batch statistics): d mean cross-entropy / d every parameter
  tolerance.json       the same computed in float32 against float64 (max |difference| / max |value|)
"""
import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)
from convert_checkpoint import write_safetensors  # noqa: E402
from make_train_fixture import relative, save_json, save_npy  # noqa: E402


class Pooling(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(6)
        self.d = nn.Conv2d(6, 8, 1, bias=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.avg_pool2d(F.relu(self.bn(self.c(x))), 3, stride=2, padding=1)
        x = F.avg_pool2d(F.relu(self.d(x)), 2, stride=2)
        return self.fc(x.mean((2, 3)))


def randomized(seed):
    model = Pooling()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            if name.endswith("running_var") or name == "bn.weight":
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.dim() > 1:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * math.sqrt(2.0 / fan_in))
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1)
    return model


def compute(model, images, labels, dtype):
    model = model.to(dtype).eval()
    x = images.to(dtype, copy=True).requires_grad_(True)
    logits = model(x)
    logits.gather(1, labels[:, None]).sum().backward()
    model.train()
    model.zero_grad()
    F.cross_entropy(model(images.to(dtype)), labels).backward()
    gradients = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    return logits.detach(), x.grad.detach(), gradients


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if os.path.exists(os.path.join(args.out, "tolerance.json")):
        return 0  # made before: the inputs are this script and its arguments, both fixed
    os.makedirs(args.out, exist_ok=True)
    model = randomized(args.seed)
    generator = torch.Generator().manual_seed(args.seed + 1)
    images = torch.randn(args.batch, 3, args.height, args.width, generator=generator)
    labels = torch.randint(0, 5, (args.batch,), generator=generator)
    write_safetensors(model.state_dict(), os.path.join(args.out, "weights.safetensors"))
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    exact = compute(model, images, labels, torch.float64)
    model.load_state_dict(initial)
    single = compute(model.float(), images, labels, torch.float32)
    tolerance = {"logits": relative(single[0].double(), exact[0]),
                 "input_gradient": relative(single[1].double(), exact[1])}
    for name, value in exact[2].items():
        tolerance[name] = relative(single[2][name].double(), value)
    save_npy(os.path.join(args.out, "input.npy"), images.numpy(), np.float32)
    save_npy(os.path.join(args.out, "labels.npy"), labels.numpy(), np.int64)
    save_npy(os.path.join(args.out, "logits.npy"), exact[0].numpy(), np.float32)
    save_npy(os.path.join(args.out, "input_gradient.npy"), exact[1].numpy(), np.float32)
    write_safetensors({k: v.float() for k, v in exact[2].items()}, os.path.join(args.out, "gradients.safetensors"))
    save_json(os.path.join(args.out, "tolerance.json"), tolerance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
