#!/usr/bin/python3
"""Writes torchvision's RandomResizedCrop.get_params draws to OUT.npy.

Usage: make_crop_fixture.py OUT.npy

The reference for the crop-geometry statistics in tests/test_data.cpp: for each
image size (height, width) of SIZES, DRAWS boxes from RandomResizedCrop's
defaults (scale (0.08, 1), ratio (3/4, 4/3)), saved as float32
len(SIZES) x DRAWS x 4 of (top, left, height, width). An OUT newer than this
script is left as it is.
"""
import os
import sys

# A landscape photo, a portrait strip narrower than the ratio range (the
# centre-crop fallback happens often) and a square.
SIZES = [(375, 500), (1000, 150), (224, 224)]
DRAWS = 20000


def main(argv):
    if len(argv) != 2:
        print("usage: make_crop_fixture.py OUT.npy", file=sys.stderr)
        return 2
    out = argv[1]
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(__file__):
        return 0
    import numpy as np
    import torch
    from PIL import Image
    from torchvision import transforms

    torch.manual_seed(0)
    boxes = np.zeros((len(SIZES), DRAWS, 4), dtype=np.float32)
    for s, (height, width) in enumerate(SIZES):
        image = Image.new("RGB", (width, height))
        for d in range(DRAWS):
            boxes[s, d] = transforms.RandomResizedCrop.get_params(image, [0.08, 1.0], [3.0 / 4.0, 4.0 / 3.0])
    temporary = out + ".tmp.npy"
    np.save(temporary, boxes)
    os.replace(temporary, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
