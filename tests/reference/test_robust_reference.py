#!/usr/bin/python3
"""`bagnet certify` against an independent implementation of the two patch defenses and their
certificates, written from their definitions (README, "Certified patch robustness") with plain
loops in exact rational arithmetic, over the logit maps `bagnet logits --map` writes.

Maps: random BagNets from the PyTorch reference (q = 9 on 28 x 28: a 10 x 10 map; q = 3 on
20 x 31: a non-square 9 x 15 map), and the shipped Fashion-MNIST model on test images. Patches
from 1 pixel to the whole image (a window that covers the whole map), masking with T = 0 and
T > 0, with and without a clip value, clipping with tanh and with a clip value. Every image's
prediction, robust prediction and certificate must agree, and so must the summary.
Needs BAGNET_BIN (the directory of the `bagnet` executable), as ctest sets it.
"""
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
from fractions import Fraction

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
BAGNET = os.path.join(os.environ.get("BAGNET_BIN", os.path.join(ROOT, "build", "bin")), "bagnet")
SHIPPED = os.path.join(ROOT, "models", "fashion_mnist_fine9.safetensors")
FASHION = "/usr/share/datasets/fashion-mnist"
INF = math.inf


def run(*args):
    result = subprocess.run([BAGNET, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise AssertionError(f"bagnet {' '.join(map(str, args))} failed: {result.stderr}")
    return result


# ---- The definitions, independently: Fractions, cell by cell -------------------------------

def window_positions(height, width, wy, wx):
    return [(i, j) for i in range(height - wy + 1) for j in range(width - wx + 1)]


def cells_of(i, j, wy, wx):
    return {(a, b) for a in range(i, i + wy) for b in range(j, j + wx)}


def total(plane, cells=None):
    return sum(plane.values() if cells is None else (plane[cell] for cell in cells))


def argmax_lowest(values):
    return max(range(len(values)), key=lambda c: (values[c], -c))


def evidence(logit_map, transform):
    """One plane per class: {(i, j): exact evidence}."""
    height, width, classes = logit_map.shape
    return [{(i, j): transform(float(logit_map[i, j, c])) for i in range(height) for j in range(width)}
            for c in range(classes)]


def clip_to(ceiling):
    return lambda v: min(max(Fraction(v), Fraction(0)), Fraction(ceiling)) if ceiling != INF else max(Fraction(v), Fraction(0))


def masking(planes, windows, threshold):
    out = []
    for u in planes:
        t = total(u)
        m = max(total(u, w) for w in windows)
        out.append(t - m if t > 0 and m / t > threshold else t)
    return argmax_lowest(out)


def masking_certified(planes, y, windows, threshold, ceiling):
    totals = [total(u) for u in planes]
    if argmax_lowest(totals) != y:
        return False
    for patch in windows:
        # The true class: zero it inside the patch; the patch can then make the defense remove any
        # window R it can push over the threshold: one overlapping the patch (with no ceiling, any
        # such R; with ceiling C, when S'(R) + (1 - T) C |R n P| > T t'), or one already over it.
        masked = {cell: (0 if cell in patch else v) for cell, v in planes[y].items()}
        rest = total(masked)
        removable = 0
        for r in windows:
            s = total(masked, r)
            overlap = len(r & patch)
            if ceiling == INF:
                qualifies = overlap > 0 or s > threshold * rest
            else:
                qualifies = s + (1 - threshold) * Fraction(ceiling) * overlap > threshold * rest
            if qualifies:
                removable = max(removable, s)
        lower = rest - removable
        for c, u in enumerate(planes):
            if c == y:
                continue
            upper = (totals[c] - total(u, patch)) / (1 - threshold)
            if not (lower > upper or (lower == upper and y < c)):
                return False
    return True


def clipping_certified(planes, y, windows, value_range):
    for patch in windows:
        for c, u in enumerate(planes):
            if c == y:
                continue
            outside = sum(v - u[cell] for cell, v in planes[y].items() if cell not in patch)
            if not outside > len(patch) * value_range:
                return False
    return True


def reference(logit_map, labels, window, defense, threshold, ceiling):
    """What `bagnet certify` must report, image by image."""
    n, height, width, _ = logit_map.shape
    windows = [cells_of(i, j, *window) for i, j in window_positions(height, width, *window)]
    threshold = Fraction(threshold)
    images = []
    for k in range(n):
        exact_logits = [sum(Fraction(float(v)) for v in logit_map[k, :, :, c].ravel()) for c in range(logit_map.shape[3])]
        y = int(labels[k])
        if defense == "masking":
            planes = evidence(logit_map[k], clip_to(ceiling))
            robust = masking(planes, windows, threshold)
            certified = masking_certified(planes, y, windows, threshold, ceiling)
        else:
            tanh = ceiling == INF
            planes = evidence(logit_map[k], (lambda v: Fraction(math.tanh(0.05 * v - 1.0))) if tanh else clip_to(ceiling))
            robust = argmax_lowest([total(u) for u in planes])
            certified = clipping_certified(planes, y, windows, 2 if tanh else Fraction(ceiling))
        images.append({"index": k, "label": y, "prediction": argmax_lowest(exact_logits),
                       "robust_prediction": robust, "certified": certified})
    return images


def window_of(patch, q, stride, height, width):
    """ceil((p + q - 1) / s) cells per axis, at most the map."""
    return (min(height, -(-(patch + q - 1) // stride)), min(width, -(-(patch + q - 1) // stride)))


# ---- The comparison --------------------------------------------------------------------------

def compare(tmp, name, arch, weights, images, labels, q, settings, patches):
    logit_map_path = os.path.join(tmp, f"{name}_map.npy")
    run("logits", "--arch", arch, "--weights", weights, "--input", images, "--output", logit_map_path, "--map")
    logit_map = np.load(logit_map_path)
    stride = 2  # fashionfine: output stride 2
    counts = {"certified": 0, "uncertified": 0}
    for patch in patches:
        window = window_of(patch, q, stride, logit_map.shape[1], logit_map.shape[2])
        for defense, threshold, ceiling in settings:
            report_path = os.path.join(tmp, f"{name}_report.json")
            args = ["certify", "--arch", arch, "--weights", weights, "--input", images, "--labels", labels,
                    "--patch", patch, "--defense", defense, "--output", report_path]
            if defense == "masking":
                args += ["--threshold", threshold]
            if ceiling != INF:
                args += ["--clip", ceiling]
            run(*args)
            with open(report_path) as file:
                report = json.load(file)
            where = f"{name}: {defense} T {threshold} C {ceiling} patch {patch}"
            assert report["defense"] == defense and report["patch"] == patch, where
            assert tuple(report["window"]) == window, f"{where}: window {report['window']}, expected {window}"
            expected = reference(logit_map, np.load(labels), window, defense, threshold, ceiling)
            for got, want in zip(report["images"], expected):
                assert got == want, f"{where}: bagnet says {got}, the reference {want}"
            assert len(report["images"]) == len(expected), where
            n = len(expected)
            for key, field in (("clean_accuracy", "prediction"), ("robust_accuracy", "robust_prediction")):
                share = sum(e[field] == e["label"] for e in expected) / n
                assert abs(report["summary"][key] - share) < 1e-9, f"{where}: {key}"
            certified = sum(e["certified"] for e in expected)
            assert abs(report["summary"]["certified_accuracy"] - certified / n) < 1e-9, where
            counts["certified"] += certified
            counts["uncertified"] += n - certified
    # Both answers occur, or the comparison says little.
    assert counts["certified"] > 0 and counts["uncertified"] > 0, f"{name}: {counts}"
    print(f"{name}: {counts['certified']} certified and {counts['uncertified']} uncertified decisions agree")


def random_model(tmp, name, q, height, width, batch, seed, bias_spread):
    """A randomised reference BagNet (fashion_fine configuration) whose head's biases are spread
    by `bias_spread`, so that some classes lead in most cells and some images can be certified."""
    import torch
    from bagnet_reference import fashion_fine, randomize
    model = randomize(fashion_fine(q, classes=10), seed).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.fc.bias += bias_spread * torch.randn(10, generator=generator)
    checkpoint, weights = os.path.join(tmp, f"{name}.pth"), os.path.join(tmp, f"{name}.safetensors")
    torch.save(model.state_dict(), checkpoint)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "convert_checkpoint.py"), checkpoint, weights],
                   check=True, stdout=subprocess.DEVNULL)
    images = os.path.join(tmp, f"{name}_x.npy")
    np.save(images, torch.randn(batch, 1, height, width, generator=generator).numpy())
    # Labels: the clean prediction for most images (so that some can be certified), others off by one.
    logits = os.path.join(tmp, f"{name}_logits.npy")
    run("logits", "--arch", f"fashionfine{q}", "--weights", weights, "--input", images, "--output", logits)
    predicted = np.load(logits).argmax(axis=1)
    labels = np.where(np.arange(batch) % 4 == 3, (predicted + 1) % 10, predicted).astype(np.int64)
    labels_path = os.path.join(tmp, f"{name}_y.npy")
    np.save(labels_path, labels)
    return weights, images, labels_path


def fashion_test_images(tmp, count):
    with gzip.open(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")) as file:
        pixels = np.frombuffer(file.read(), np.uint8, offset=16)[:count * 784].reshape(count, 1, 28, 28)
    with gzip.open(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")) as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8)[:count].astype(np.int64)
    images = ((pixels.astype(np.float32) / 255.0 - np.float32(0.2860)) / np.float32(0.3530)).astype(np.float32)
    images_path, labels_path = os.path.join(tmp, "fashion_x.npy"), os.path.join(tmp, "fashion_y.npy")
    np.save(images_path, images)
    np.save(labels_path, labels)
    return images_path, labels_path


SPREAD = 0.5  # head biases: some images certified, some not
MASKING = [("masking", 0, INF), ("masking", 0.25, INF), ("masking", 0.5, 2.5)]
CLIPPING = [("clipping", 0, INF), ("clipping", 0, 1.5)]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        weights, images, labels = random_model(tmp, "random_q9", 9, 28, 28, 12, 31, SPREAD)
        compare(tmp, "random fashionfine9, 10 x 10 map", "fashionfine9", weights, images, labels, 9,
                MASKING + CLIPPING, [1, 4, 28])
        weights, images, labels = random_model(tmp, "random_q3", 3, 20, 31, 8, 32, SPREAD)
        compare(tmp, "random fashionfine3, 9 x 15 map", "fashionfine3", weights, images, labels, 3,
                MASKING + CLIPPING, [1, 3, 20])
        images, labels = fashion_test_images(tmp, 16)
        compare(tmp, "shipped fashionfine9 on Fashion-MNIST", "fashionfine9", SHIPPED, images, labels, 9,
                MASKING + CLIPPING, [2, 6, 28])
    print("test_robust_reference: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
