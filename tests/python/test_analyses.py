"""The module's data-set analyses (evaluate, top_patches, certify) against computations from the
model's own logits and logit maps, and against the command line; the data sets as arrays against
Debian's files and imagenet_preprocess."""
import gzip
import json
import shutil

import numpy as np
import pytest

import bagnet
from conftest import CLASSES, images, run_cli, save_npy

FASHION = "/usr/share/datasets/fashion-mnist"
PHOTOS = "/usr/lib/python3/dist-packages/skimage/data"


def labelled(n=6, seed=4):
    """n images of an odd size and labels covering several classes."""
    return images((n, 3, 45, 38), seed), (np.arange(n, dtype=np.int64) * 3) % CLASSES


def test_evaluate_is_the_cross_entropy_and_accuracy_of_the_logits(q9):
    x, y = labelled()
    metrics = q9.model.evaluate(x, y, batch=4)  # a full batch and a partial one
    logits = q9.model.logits(x).astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    loss = -(shifted[np.arange(len(y)), y] - np.log(np.exp(shifted).sum(axis=1))).mean()
    ranks = np.argsort(-logits, axis=1)
    assert metrics["images"] == len(y)
    assert metrics["loss"] == pytest.approx(loss, rel=1e-5)
    assert metrics["top1"] == np.mean(ranks[:, 0] == y)
    assert metrics["top5"] == np.mean([y[n] in ranks[n, :5] for n in range(len(y))])


def test_top_patches_are_the_largest_entries_of_the_logit_maps(q9):
    x, y = labelled()
    maps = q9.model.logit_map(x)  # N x H' x W' x classes
    stride, q = q9.model.output_stride, q9.model.patch_size
    listings = q9.model.top_patches(x, [0, 3], k=4, labels=y, batch=4)
    assert [listing["class"] for listing in listings] == [0, 3]
    for listing in listings:
        c = listing["class"]
        entries = sorted(((maps[n, i, j, c], n, i, j) for n in range(len(y)) if y[n] == c
                          for i in range(maps.shape[1]) for j in range(maps.shape[2])), reverse=True)[:4]
        found = listing["of_class"]
        assert listing["images_scanned"] == len(y)
        assert [(p["image"], p["y"], p["x"]) for p in found] == [(n, i * stride, j * stride) for _, n, i, j in entries]
        np.testing.assert_allclose([p["score"] for p in found], [e[0] for e in entries], rtol=1e-5)
        for p in found + listing["of_other_classes"]:
            assert p["label"] == y[p["image"]]
            np.testing.assert_array_equal(p["pixels"], x[p["image"], :, p["y"]:p["y"] + q, p["x"]:p["x"] + q])
        assert all(y[p["image"]] != c for p in listing["of_other_classes"])


@pytest.mark.parametrize("defense", [{}, {"defense": "masking", "threshold": 0.2, "clip": 5.0},
                                     {"defense": "clipping", "clip": 3.0}])
def test_certify_equals_the_cli(q9, tmp_path, defense):
    x, y = labelled()
    report = q9.model.certify(x, y, patch=8, batch=4, **defense)
    flags = [f"--{name}={value}" for name, value in defense.items()]
    out = tmp_path / "report.json"
    code, _, err = run_cli("certify", *q9.cli_model(), "--input", save_npy(tmp_path, "x.npy", x),
                           "--labels", save_npy(tmp_path, "y.npy", y), "--patch", 8, "--batch", 4, *flags,
                           "--output", out)
    assert code == 0, err
    assert report == json.loads(out.read_text())
    assert report["summary"]["images"] == len(y)


def test_analyses_refuse_bad_arguments(q9):
    x, y = labelled()
    with pytest.raises(ValueError, match="certify needs labels"):
        q9.model.certify(x, None, patch=8)
    with pytest.raises(ValueError, match="defense must be 'masking' or 'clipping'"):
        q9.model.certify(x, y, patch=8, defense="median")
    with pytest.raises(ValueError, match="threshold applies to defense='masking' only"):
        q9.model.certify(x, y, patch=8, defense="clipping", threshold=0.1)
    with pytest.raises(ValueError, match="5 labels for 6 images"):
        q9.model.evaluate(x, y[:5])
    with pytest.raises(TypeError, match="integer class indices"):
        q9.model.evaluate(x, y.astype(np.float32))
    with pytest.raises(ValueError, match="a label for every image"):
        q9.model.evaluate(x, np.full(len(y), -1))
    with pytest.raises(bagnet.Error, match="out of range"):
        q9.model.certify(x, y + CLASSES, patch=8)


def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def test_fashion_mnist_is_debians_files_normalised():
    x, y, names = bagnet.fashion_mnist("test")
    raw = idx(f"{FASHION}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x, (raw.astype(np.float32) / 255 - 0.2860) / 0.3530, atol=1e-6)
    np.testing.assert_array_equal(y, idx(f"{FASHION}/t10k-labels-idx1-ubyte.gz", 8))
    assert len(names) == 10 and names[0] == "T-shirt/top"


def test_image_folder_is_imagenet_preprocess_of_each_class_folder(tmp_path):
    layout = {"cat": ["chelsea.png"], "rocket": ["rocket.jpg"], "space": ["hubble_deep_field.jpg", "astronaut.png"]}
    for folder, photos in layout.items():
        (tmp_path / folder).mkdir()
        for photo in photos:
            shutil.copy(f"{PHOTOS}/{photo}", tmp_path / folder / photo)
    x, y, names = bagnet.image_folder(tmp_path)
    files = [tmp_path / folder / photo for folder in sorted(layout) for photo in sorted(layout[folder])]
    assert names == sorted(layout)
    np.testing.assert_array_equal(y, [0, 1, 2, 2])
    np.testing.assert_array_equal(x, bagnet.imagenet_preprocess(files))


def test_fit_equals_bagnet_train_to_the_byte(tmp_path):
    x, y = images((12, 1, 28, 28), 7), np.arange(12, dtype=np.int64) % CLASSES
    model = bagnet.Model("fashion9", threads=2)  # random weights of seed 0, as `bagnet train --seed 0`
    reports = []
    result = model.fit(x, y, epochs=2, batch_size=4, lr=0.05, augment=False, progress=reports.append)
    assert result["steps"] == 6 and [r["step"] for r in reports] == list(range(1, 7))
    assert result["last_step_loss"] == reports[-1]["loss"] and result["recipe"]["batch_size"] == 4
    model.save(tmp_path / "python.safetensors")
    code, _, err = run_cli("train", "--arch", "fashion9", "--data-npy", save_npy(tmp_path, "x.npy", x),
                           "--labels-npy", save_npy(tmp_path, "y.npy", y), "--epochs", 2, "--batch-size", 4,
                           "--lr", 0.05, "--no-augment", "--threads", 2, "--save", tmp_path / "cli.safetensors")
    assert code == 0, err
    assert (tmp_path / "python.safetensors").read_bytes() == (tmp_path / "cli.safetensors").read_bytes()
    # The trained model is the one that runs.
    assert not np.array_equal(model.logits(x), bagnet.Model("fashion9").logits(x))


def test_fit_refuses_bad_arguments():
    model = bagnet.Model("fashion9")
    x, y = images((4, 1, 28, 28)), np.zeros(4, dtype=np.int64)
    with pytest.raises(ValueError, match="recipe must be"):
        model.fit(x, y, recipe="imagenet")
    with pytest.raises(bagnet.Error, match="batch size"):
        model.fit(x, y, batch_size=0)
    with pytest.raises(bagnet.Error, match="out of range"):
        model.fit(x, y + CLASSES)
    with pytest.raises(bagnet.Error):
        model.fit(x, y, fine_tune="everything")
