#!/usr/bin/python3
"""How robust is a BagNet to an adversarial sticker? Exact certificates on Fashion-MNIST.

    certify_fashion_mnist.py [IMAGES [PATCH]]

Loads the shipped Fashion-MNIST BagNet-9 (models/), takes the first IMAGES test images (default
200) and certifies each against any PATCH x PATCH square (default 3) placed anywhere: an image is
certified when no pixel values inside the square can change the defended prediction. Robust masking
(PatchGuard) drops each class's strongest window of evidence; the certificate is exact, not a bound.
"""
import os
import sys

import numpy as np

import bagnet

count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
patch = int(sys.argv[2]) if len(sys.argv) > 2 else 3
models = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models")
model = bagnet.Model("fashion9", weights=os.path.join(models, "fashion_mnist_bagnet9.safetensors"))

x, y, names = bagnet.fashion_mnist("test")
x, y = np.ascontiguousarray(x[:count]), y[:count]  # the first images, still C-contiguous

metrics = model.evaluate(x, y)
print(f"undefended: top-1 {metrics['top1']:.3f} on {metrics['images']} images")
for defense in ("masking", "clipping"):
    report = model.certify(x, y, patch=patch, defense=defense)
    s = report["summary"]
    print(f"{defense:>8}: clean {s['clean_accuracy']:.3f}, certified against a {patch} x {patch} patch "
          f"{s['certified_accuracy']:.3f}")

# Which patches of the test images speak most for "sneaker"?
best = model.top_patches(x, [names.index("sneaker")], k=3, labels=y)[0]
for p in best["of_class"]:
    print(f"sneaker evidence {p['score']:.2f}: image {p['image']}, patch at pixel ({p['y']}, {p['x']})")
