#!/usr/bin/python3
"""Train a BagNet-9 on Fashion-MNIST with the built-in recipe, then measure it.

    train_fashion_mnist.py [STEPS [OUT.safetensors [TEST_IMAGES]]]

Model.fit trains in place as `bagnet train --dataset fashion-mnist` does: SGD with Nesterov
momentum, a cosine learning rate after 200 warm-up steps, batch 128, label smoothing, flips. The
full recipe is 12 epochs; STEPS (default 100, about 10 s on 2 cores) makes the run that long (the
cosine spans STEPS; under 200 steps the learning rate is still warming up), so the accuracy is far
from the shipped model's (models/fashion_mnist_bagnet9.safetensors) but well above chance (0.1). The weights are saved to OUT.safetensors (default fashion9.safetensors) and the first
TEST_IMAGES test images (default 2000) evaluated.
"""
import sys

import bagnet

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 100
output = sys.argv[2] if len(sys.argv) > 2 else "fashion9.safetensors"
test_images = int(sys.argv[3]) if len(sys.argv) > 3 else 2000

x, y, names = bagnet.fashion_mnist("train")  # float32 60000 x 1 x 28 x 28, normalised
model = bagnet.Model("fashion9")  # random weights (seed 0), as bagnet train starts


def report(step):
    if step["step"] % 10 == 0 or step["step"] == step["steps"]:
        print(f"step {step['step']}/{step['steps']}: loss {step['loss']:.4f}, lr {step['lr']:.5f}")


result = model.fit(x, y, recipe="fashion-mnist", steps=steps, progress=report)
model.save(output)
print(f"{result['recipe']['schedule']}: {result['steps']} steps; wrote {output}")

test_x, test_y, _ = bagnet.fashion_mnist("test")
metrics = model.evaluate(test_x[:test_images], test_y[:test_images])  # first rows: still C-contiguous
print(f"test: loss {metrics['loss']:.4f}, top-1 {metrics['top1']:.4f}, top-5 {metrics['top5']:.4f} "
      f"on {metrics['images']} images")
