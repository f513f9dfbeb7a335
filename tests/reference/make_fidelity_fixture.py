#!/usr/bin/python3
"""How close bagnet's float32 gradients come to float64, next to PyTorch's own float32 (tests/test_fidelity.cpp).

    make_fidelity_fixture.py --arch resnet50 --height 64 --width 64 --batch 2 --seed 51 --out DIR
    make_fidelity_fixture.py --arch bagnet17 --height 41 --width 37 --batch 2 --seed 52 --out DIR

The model (torchvision's resnet50 or the reference BagNet-q, --classes outputs) has random weights
and randomised batch-norm statistics (bagnet_reference.randomize). Writes
  weights.safetensors, input.npy (float32 N x 3 x H x W), labels.npy (int64)
  input_gradient.npy   eval mode: d sum_i logit[i, labels[i]] / d input, float64 rounded to float32
  update.safetensors   one SGD step (lr 1, momentum 0.9, weight decay 1e-4, cross-entropy) with batch
                       norm in evaluation mode (running statistics, as fine-tuning runs it) in float64:
                       after - before for every state_dict tensor, rounded to float32. A step this
                       large keeps the rounding of the stepped weights into float32 (which both float32
                       runs share) below the gradient's own rounding.
  fidelity.json        PyTorch's float32 runs against the float64 one, ||difference|| / ||float64||,
                       the larger of its contiguous and channels-last runs: "input_gradient";
                       "update", all trainable tensors' updates as one vector; and per state_dict key,
                       that tensor's update
Two layouts, because PyTorch's own float32 distance depends on its summation order by up to 2x.
Batch norm in training mode is left out: over the few values per channel of a small batch it
amplifies forward rounding several hundredfold, ReLUs flip by chance, and PyTorch's two layouts
then land up to 5x apart (tests/test_fidelity.cpp).
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)
from bagnet_reference import imagenet, randomize  # noqa: E402
from convert_checkpoint import write_safetensors  # noqa: E402
from make_train_fixture import relative_norm, save_json, save_npy  # noqa: E402


def make_model(arch, classes):
    if arch == "resnet50":
        return torchvision.models.resnet50(num_classes=classes)
    if arch.startswith("bagnet"):
        return imagenet(int(arch[len("bagnet"):]), classes=classes)
    raise ValueError(f"unknown architecture {arch!r}")


def in_layout(model, images, dtype, channels_last):
    """The model and images in dtype, in PyTorch's contiguous or channels-last memory layout."""
    layout = torch.channels_last if channels_last else torch.contiguous_format
    return model.to(dtype).to(memory_format=layout), images.to(dtype).contiguous(memory_format=layout)


def input_gradient(model, images, labels, dtype, channels_last=False):
    model, x = in_layout(model.eval(), images, dtype, channels_last)
    x = x.detach().requires_grad_(True)  # a leaf of its own, whatever layout it came in
    model(x).gather(1, labels[:, None]).sum().backward()
    return x.grad.double()


def sgd_update(model, images, labels, dtype, channels_last=False):
    """after - before, for every state_dict tensor, of one SGD step from the model's state."""
    model, x = in_layout(model.eval(), images, dtype, channels_last)
    before = {k: v.double().clone() if v.is_floating_point() else v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9, weight_decay=1e-4)
    optimizer.zero_grad()
    F.cross_entropy(model(x), labels).backward()
    optimizer.step()
    return {k: (v.double() if v.is_floating_point() else v) - before[k] for k, v in model.state_dict().items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if os.path.exists(os.path.join(args.out, "fidelity.json")):
        return 0  # made before: the inputs are this script and its arguments, both fixed
    os.makedirs(args.out, exist_ok=True)
    model = randomize(make_model(args.arch, args.classes), args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch, 3, args.height, args.width, generator=generator)
    labels = torch.randint(0, args.classes, (args.batch,), generator=generator)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    write_safetensors(initial, os.path.join(args.out, "weights.safetensors"))
    save_npy(os.path.join(args.out, "input.npy"), images.numpy(), np.float32)
    save_npy(os.path.join(args.out, "labels.npy"), labels.numpy(), np.int64)

    exact = input_gradient(model, images, labels, torch.float64)
    save_npy(os.path.join(args.out, "input_gradient.npy"), exact.numpy(), np.float32)
    fidelity = {"input_gradient": max(relative_norm(input_gradient(model, images, labels, torch.float32, layout), exact)
                                      for layout in (False, True))}
    trainable = sorted(name for name, _ in model.named_parameters())
    model.load_state_dict(initial)
    exact = sgd_update(model, images, labels, torch.float64)
    write_safetensors(exact, os.path.join(args.out, "update.safetensors"))
    whole = torch.cat([exact[k].flatten() for k in trainable])
    for layout in (False, True):
        model.load_state_dict(initial)
        single = sgd_update(model, images, labels, torch.float32, layout)
        distances = {k: relative_norm(single[k], v) for k, v in exact.items() if v.is_floating_point()}
        distances["update"] = relative_norm(torch.cat([single[k].flatten() for k in trainable]), whole)
        for key, distance in distances.items():
            fidelity[key] = max(fidelity.get(key, 0.0), distance)
    save_json(os.path.join(args.out, "fidelity.json"), fidelity)
    return 0


if __name__ == "__main__":
    sys.exit(main())
