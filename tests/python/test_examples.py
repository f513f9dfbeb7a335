"""The teaching scripts in examples/python run and say what they computed (random weights:
no ImageNet checkpoint is installed, so the checks are about the mechanics)."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

import bagnet
from conftest import SOURCE

EXAMPLES = os.path.join(SOURCE, "examples", "python")
PHOTOS = "/usr/lib/python3/dist-packages/skimage/data"
CAT = os.path.join(PHOTOS, "chelsea.png")


def run_example(name, *args, cwd=None):
    # The module under test, wherever the script runs.
    environment = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.abspath(bagnet.__file__)))
    done = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *map(str, args)], cwd=cwd, env=environment,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_classify_image_prints_the_model_top_five():
    out = run_example("classify_image.py", CAT, "", "bagnet9")
    model = bagnet.Model("bagnet9")  # the same random weights (seed 0)
    expected = model.top_predictions(bagnet.imagenet_preprocess(CAT), k=5)[0]
    rows = re.findall(r"^\s*([\d.]+)%\s+(\d+)\s+(.+)$", out, re.MULTILINE)
    assert [int(index) for _, index, _ in rows] == [c for c, _ in expected]
    assert rows[0][2] == model.class_name(expected[0][0])
    assert "no weights given" in out and "patch at pixel" in out


def test_draw_heatmap_writes_a_png(tmp_path):
    out = run_example("draw_heatmap.py", CAT, tmp_path / "cat.png", cwd=tmp_path)
    picture = (tmp_path / "cat.png").read_bytes()
    assert picture[:8] == b"\x89PNG\r\n\x1a\n" and len(picture) > 10000
    assert "wrote" in out and "pass 1/1" in out


def test_certify_fashion_mnist_reports_what_the_module_computes():
    out = run_example("certify_fashion_mnist.py", 40, 3)
    model = bagnet.Model("fashion9", weights=os.path.join(SOURCE, "models", "fashion_mnist_bagnet9.safetensors"))
    x, y, _ = bagnet.fashion_mnist("test")
    report = model.certify(x[:40].copy(), y[:40], patch=3)
    expected = f"{report['summary']['certified_accuracy']:.3f}"
    assert re.search(rf"masking: clean [\d.]+, certified against a 3 x 3 patch {expected}", out), out
    assert out.count("sneaker evidence") == 3


def test_mine_patches_writes_the_model_top_patches(tmp_path):
    folder = tmp_path / "images"
    for name, photo in (("cat", "chelsea.png"), ("rocket", "rocket.jpg")):
        (folder / name).mkdir(parents=True)
        shutil.copy(os.path.join(PHOTOS, photo), folder / name / photo)
    out = run_example("mine_patches.py", folder, tmp_path / "patches", "", "bagnet9")
    # The same random weights (seed 0), labelled with their own predictions as the script does.
    model = bagnet.Model("bagnet9")
    x, _, _ = bagnet.image_folder(folder)
    predicted = np.array([row[0][0] for row in model.top_predictions(x, k=1)])
    listings = model.top_patches(x, sorted(set(predicted.tolist())), k=3, labels=predicted)
    printed = re.findall(r"evidence ([-\d.]+): image (\d+) \(\w+\), patch at pixel \((\d+), (\d+)\)", out)
    expected = [(f"{p['score']:.4f}", str(p["image"]), str(p["y"]), str(p["x"]))
                for listing in listings for p in listing["of_class"]]
    assert printed == expected and expected
    # Each PNG is the patch's pixels, un-normalised and enlarged 4 x.
    first = listings[0]["of_class"][0]
    picture = np.asarray(Image.open(tmp_path / "patches" / f"class{listings[0]['class']}_0.png"))
    assert picture.shape == (4 * 9, 4 * 9, 3)
    rgb = first["pixels"].transpose(1, 2, 0) * [0.229, 0.224, 0.225] + [0.485, 0.456, 0.406]
    np.testing.assert_allclose(picture[::4, ::4] / 255, np.clip(rgb, 0, 1), atol=0.5 / 255 + 1e-6)


def test_train_fashion_mnist_reports_the_trained_model(tmp_path):
    weights = tmp_path / "fashion9.safetensors"
    out = run_example("train_fashion_mnist.py", 20, weights, 500)
    assert "step 20/20" in out and f"wrote {weights}" in out
    trained = bagnet.Model("fashion9", weights=weights)
    x, y, _ = bagnet.fashion_mnist("test")
    metrics = trained.evaluate(x[:500], y[:500])
    assert f"top-1 {metrics['top1']:.4f}, top-5 {metrics['top5']:.4f} on 500 images" in out
    assert not np.array_equal(trained.logits(x[:4]), bagnet.Model("fashion9").logits(x[:4]))
