#!/usr/bin/python3
"""Writes torchvision's ImageNet preprocessing of IMAGE to OUT.npy.

Usage: make_image_fixture.py IMAGE OUT.npy

The reference for tests/test_image.cpp: PIL decoding, convert("RGB"),
Resize(256) (PIL's antialiased bilinear), CenterCrop(224), ToTensor and
Normalize with the ImageNet statistics, saved as a 1x3x224x224 float32 array.
Needs torchvision (Debian's /usr/bin/python3). The file appears whole or not
at all; an OUT newer than IMAGE and this script is left as it is, since the
test setup runs this on every ctest invocation.
"""
import os
import sys
import tempfile

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def is_up_to_date(out_path, image_path):
    if not os.path.exists(out_path):
        return False
    newest_input = max(os.path.getmtime(image_path), os.path.getmtime(__file__))
    return os.path.getmtime(out_path) >= newest_input


def preprocess(image_path):
    # Imported here so that an up-to-date fixture costs no torch start-up.
    from PIL import Image
    from torchvision import transforms

    with Image.open(image_path) as image:
        rgb = image.convert("RGB")
    pipeline = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    return pipeline(rgb).unsqueeze(0).numpy()


def save_atomically(array, out_path):
    import numpy as np

    directory = os.path.dirname(os.path.abspath(out_path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".npy")
    try:
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a fixture is not secret
        with os.fdopen(handle, "wb") as out:
            np.save(out, array)
        os.replace(temporary, out_path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv):
    if len(argv) != 3:
        print("usage: make_image_fixture.py IMAGE OUT.npy", file=sys.stderr)
        return 2
    image_path, out_path = argv[1], argv[2]
    try:
        if is_up_to_date(out_path, image_path):
            return 0
        save_atomically(preprocess(image_path), out_path)
    except (OSError, ValueError) as error:
        print(f"make_image_fixture.py: {image_path}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
