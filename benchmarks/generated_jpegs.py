"""Folders of generated JPEGs for the input-pipeline benchmarks: DIR/class<k>/<i>.jpg,
ten classes, smooth colour waves with photo-like noise (so the files have
realistic sizes), written once and reused while DIR/.complete-N exists."""
import os


def make_folder(directory, images, width, height, quality=90):
    import numpy as np
    from PIL import Image

    marker = os.path.join(directory, f".complete-{images}")
    if os.path.exists(marker):
        return
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(images):
        folder = os.path.join(directory, f"class{i % 10}")
        os.makedirs(folder, exist_ok=True)
        phase = rng.uniform(0, 6.28, 3)
        picture = np.stack([127 + 120 * np.sin(xx / (17 + 5 * c) + yy / (23 + 3 * c) + phase[c]) for c in range(3)], -1)
        picture += rng.normal(0, 12, picture.shape)
        Image.fromarray(picture.clip(0, 255).astype(np.uint8)).save(os.path.join(folder, f"{i}.jpg"), quality=quality)
    open(marker, "w").close()
