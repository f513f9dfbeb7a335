#!/usr/bin/python3
"""Which patches of a folder of images speak most for what a BagNet sees in them?

    mine_patches.py [DIR [OUT_DIR [WEIGHTS.safetensors [ARCH]]]]

Every entry of a BagNet's logit map is the evidence of one q x q patch, so the patches with the
most evidence for a class are found exactly by scanning every patch of every image (top_patches).
DIR holds DIR/<class>/<image>.png|jpg (default: a folder made of python3-skimage's photos). For each
class the model predicts for some image, the 3 strongest patches of the images it predicts so are
printed and written enlarged as OUT_DIR/class<C>_<rank>.png (default OUT_DIR: patches). ARCH
defaults to bagnet33; without weights the model is random (the patches show the mechanics only).
"""
import atexit
import os
import shutil
import sys
import tempfile

import numpy as np
from PIL import Image

import bagnet

PHOTOS = "/usr/lib/python3/dist-packages/skimage/data"
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])  # imagenet_preprocess's


def photo_folder():
    """A small DIR/<class>/<image> folder of skimage's photos."""
    folder = tempfile.mkdtemp(prefix="mine_patches_")
    atexit.register(shutil.rmtree, folder)
    for name, photo in (("cat", "chelsea.png"), ("coffee", "coffee.png"), ("rocket", "rocket.jpg")):
        os.mkdir(os.path.join(folder, name))
        shutil.copy(os.path.join(PHOTOS, photo), os.path.join(folder, name, photo))
    return folder


arguments = sys.argv[1:] + [""] * 4
folder = arguments[0] or photo_folder()
out_dir = arguments[1] or "patches"
model = bagnet.Model(arguments[3] or "bagnet33", weights=arguments[2] or None)

# Every image, 3 x 224 x 224 as ImageNet's evaluation transform makes it, and its folder's class.
x, folders, folder_names = bagnet.image_folder(folder)
# Label each image with the class the model predicts for it: "of_class" then lists the patches
# of the images predicted as that class.
predicted = np.array([row[0][0] for row in model.top_predictions(x, k=1)], dtype=np.int64)
classes = sorted(set(predicted.tolist()))

os.makedirs(out_dir, exist_ok=True)
for listing in model.top_patches(x, classes, k=3, labels=predicted):
    c = listing["class"]
    print(f"class {c} ({listing['class_name']}):")
    for rank, patch in enumerate(listing["of_class"]):
        n = patch["image"]
        print(f"  evidence {patch['score']:.4f}: image {n} ({folder_names[folders[n]]}), "
              f"patch at pixel ({patch['y']}, {patch['x']})")
        # The patch's pixels (float32 3 x q x q, normalised) back to 8-bit RGB, enlarged 4 x.
        rgb = np.clip(patch["pixels"].transpose(1, 2, 0) * STD + MEAN, 0, 1)
        picture = Image.fromarray((rgb * 255).round().astype(np.uint8))
        picture.resize((picture.width * 4, picture.height * 4), Image.NEAREST).save(
            os.path.join(out_dir, f"class{c}_{rank}.png"))
print(f"wrote the patches to {out_dir}/")
