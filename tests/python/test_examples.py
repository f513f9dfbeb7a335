"""The teaching scripts in examples/python run and say what they computed (random weights:
no ImageNet checkpoint is installed, so the checks are about the mechanics)."""
import os
import re
import subprocess
import sys

import bagnet
from conftest import SOURCE

EXAMPLES = os.path.join(SOURCE, "examples", "python")
CAT = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"


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
