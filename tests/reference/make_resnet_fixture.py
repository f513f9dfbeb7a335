#!/usr/bin/python3
"""torchvision's resnet50 as the yardstick for bagnet's ResNet-50 (tests/test_resnet.cpp).

    make_resnet_fixture.py --height 67 --width 59 --batch 2 --seed 41 --out DIR

torchvision's own model (random weights, randomised batch-norm statistics, --classes outputs),
state_dict keys as torchvision names them. Writes
  weights.safetensors, input.npy (float32 N x 3 x H x W), labels.npy (int64)
  logits.npy       eval-mode logits, float64 rounded to float32
  logit_map.npy    the fc layer at every location of layer4's output (N x H' x W' x classes)
  inference.json   {"logits": r, "logit_map": r}: the same in float32 against float64
                   (max |difference| / max |value|)
  after.safetensors, tolerance.json   one SGD step (momentum 0.9, weight decay 1e-4, lr 0.01,
                   training-mode batch norm, cross-entropy) in float64, and per tensor the
                   float32 run's update against it (||difference|| / ||update||)
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
from bagnet_reference import randomize  # noqa: E402
from convert_checkpoint import write_safetensors  # noqa: E402
from make_train_fixture import relative, relative_norm, save_json, save_npy  # noqa: E402


def logit_map(model, x):
    """fc at every location of the final features: what the spatial mean of the head averages."""
    features = model.layer4(model.layer3(model.layer2(model.layer1(
        model.maxpool(model.relu(model.bn1(model.conv1(x))))))))
    return model.fc(features.permute(0, 2, 3, 1))


def evaluate(model, images, dtype):
    model = model.to(dtype).eval()
    with torch.no_grad():
        x = images.to(dtype)
        return model(x), logit_map(model, x)


def sgd_step(model, images, labels, dtype):
    model = model.to(dtype).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    optimizer.zero_grad()
    F.cross_entropy(model(images.to(dtype)), labels).backward()
    optimizer.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if os.path.exists(os.path.join(args.out, "tolerance.json")):
        return 0  # made before: the inputs are this script and its arguments, both fixed
    os.makedirs(args.out, exist_ok=True)
    model = randomize(torchvision.models.resnet50(num_classes=args.classes), args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch, 3, args.height, args.width, generator=generator)
    labels = torch.randint(0, args.classes, (args.batch,), generator=generator)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    write_safetensors(initial, os.path.join(args.out, "weights.safetensors"))
    save_npy(os.path.join(args.out, "input.npy"), images.numpy(), np.float32)
    save_npy(os.path.join(args.out, "labels.npy"), labels.numpy(), np.int64)

    exact_logits, exact_map = evaluate(model, images, torch.float64)
    single_logits, single_map = evaluate(model, images, torch.float32)
    save_npy(os.path.join(args.out, "logits.npy"), exact_logits.numpy(), np.float32)
    save_npy(os.path.join(args.out, "logit_map.npy"), exact_map.numpy(), np.float32)
    save_json(os.path.join(args.out, "inference.json"),
              {"logits": relative(single_logits.double(), exact_logits),
               "logit_map": relative(single_map.double(), exact_map)})

    model.load_state_dict(initial)
    exact = sgd_step(model, images, labels, torch.float64)
    model.load_state_dict(initial)
    single = sgd_step(model.float(), images, labels, torch.float32)
    tolerance = {key: relative_norm(single[key].double() - initial[key].double(), value - initial[key].double())
                 for key, value in exact.items() if value.is_floating_point()}
    write_safetensors(exact, os.path.join(args.out, "after.safetensors"))
    save_json(os.path.join(args.out, "tolerance.json"), tolerance)
    return 0


if __name__ == "__main__":
    sys.exit(main())
