#!/usr/bin/python3
"""Classify a photo with an ImageNet BagNet, and see which patch decided it.

    classify_image.py [IMAGE [WEIGHTS.safetensors [ARCH]]]

IMAGE defaults to python3-skimage's cat (chelsea.png). WEIGHTS are the published checkpoints
converted by tools/convert_checkpoint.py; without them the model is random (the mechanics
still run end to end). ARCH: bagnet9, bagnet17 or bagnet33 (default).
"""
import sys

import numpy as np

import bagnet

image = sys.argv[1] if len(sys.argv) > 1 else "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
weights = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
model = bagnet.Model(sys.argv[3] if len(sys.argv) > 3 else "bagnet33", weights=weights)
if weights is None:
    print("no weights given: using random weights")

# torchvision's evaluation pipeline: shorter side 256, centre crop 224, normalised: 1 x 3 x 224 x 224.
x = bagnet.imagenet_preprocess(image)
for index, probability in model.top_predictions(x, k=5)[0]:
    print(f"{100 * probability:6.2f}%  {index:4d}  {model.class_name(index)}")

# Every q x q patch's logit for the best class (one pass); the image's logit is their mean.
evidence, classes = model.coarse_heatmap(x, top=1)
best = evidence[0, 0]
i, j = np.unravel_index(np.argmax(best), best.shape)
s, q = model.output_stride, model.patch_size
print(f"the most evidence for {model.class_name(classes[0][0])}: logit {best[i, j]:.3f} from the "
      f"{q} x {q} patch at pixel ({s * i}, {s * j}); the image's logit is the mean, {best.mean():.3f}")
