"""The module's data-set analyses (evaluate, top_patches, certify, attack_patch, correlate) against
computations from the models' own logits and logit maps, and against the command line; the data sets
as arrays against Debian's files and imagenet_preprocess."""
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


@pytest.mark.parametrize("options, flags", [
    ({"stride": 16}, ["--stride", 16]),
    ({"at": (8, 4), "defense": "clipping", "clip": 3.0, "seed": 5}, ["--at", "8,4", "--defense", "clipping",
                                                                    "--clip", 3.0, "--seed", 5]),
    ({"stride": 20, "defense": "masking", "threshold": 0.2, "normalization": "imagenet", "step_size": 0.1},
     ["--stride", 20, "--defense", "masking", "--threshold", 0.2, "--normalization", "imagenet",
      "--step-size", 0.1]),
])
def test_attack_patch_equals_the_cli(q9, tmp_path, options, flags):
    x, _ = labelled(4)
    y = np.argmax(q9.model.logits(x), axis=1).astype(np.int64)  # labelled as the model sees them
    report = q9.model.attack_patch(x, y, patch=8, steps=3, batch=4, **options)
    out = tmp_path / "report.json"
    code, _, err = run_cli("attack-patch", *q9.cli_model(), "--input", save_npy(tmp_path, "x.npy", x),
                           "--labels", save_npy(tmp_path, "y.npy", y), "--patch", 8, "--steps", 3, "--batch", 4,
                           *flags, "--output", out)
    assert code == 0, err
    assert report == json.loads(out.read_text())
    assert report["summary"]["images"] == len(y) and report["summary"]["certified_flipped"] == 0
    # The clean predictions are the model's own, and the attack changes some.
    assert [i["clean_prediction"] for i in report["images"]] == list(y)
    assert report["summary"]["clean_accuracy"] == 1 and report["summary"]["attacked_accuracy"] < 1


def one_line(error):
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_analyses_refuse_bad_arguments(q9):
    x, y = labelled()
    with pytest.raises(ValueError, match="certify needs labels"):
        q9.model.certify(x, None, patch=8)
    with pytest.raises(bagnet.Error, match="unknown defense 'median' \\(expected masking or clipping\\)"):
        q9.model.certify(x, y, patch=8, defense="median")
    with pytest.raises(bagnet.Error, match="a threshold applies to the masking defense only"):
        q9.model.certify(x, y, patch=8, defense="clipping", threshold=0.1)
    with pytest.raises(ValueError, match="5 labels for 6 images"):
        q9.model.evaluate(x, y[:5])
    with pytest.raises(TypeError, match="integer class indices"):
        q9.model.evaluate(x, y.astype(np.float32))
    with pytest.raises(ValueError, match="a label for every image"):
        q9.model.evaluate(x, np.full(len(y), -1))
    with pytest.raises(bagnet.Error, match="out of range"):
        q9.model.certify(x, y + CLASSES, patch=8)


def test_defense_errors_are_the_cli_messages(q9, tmp_path):
    # One mapping from names to defenses (bagnet::defense_by_name) behind both front ends.
    x, y = labelled(2)
    with pytest.raises(bagnet.Error) as error:
        q9.model.certify(x, y, patch=8, defense="clipping", threshold=0.1)
    code, _, err = run_cli("certify", *q9.cli_model(), "--input", save_npy(tmp_path, "x.npy", x),
                           "--labels", save_npy(tmp_path, "y.npy", y), "--patch", 8, "--defense", "clipping",
                           "--threshold", 0.1, "--output", tmp_path / "r.json")
    assert code == 2 and err.strip() == "bagnet certify: error: " + one_line(error)


def test_attack_patch_refuses_bad_arguments(q9):
    x, y = labelled(2)
    cases = [
        (dict(labels=None), ValueError, "attack_patch needs labels"),
        (dict(at=(1, 2), stride=3), ValueError, "either at=(y, x) or stride=S"),
        (dict(at=(-1, 2)), ValueError, "at must be (y, x), the patch's top-left pixel, got (-1, 2)"),
        (dict(at=(40, 0)), bagnet.Error, "a 8 x 8 patch at (40, 0) does not fit in 45 x 38 images"),
        (dict(step_size=0.0), bagnet.Error, "step size must be in (0, 1]"),
        (dict(steps=-1), bagnet.Error, "at least 0 steps"),
        (dict(stride=0), bagnet.Error, "stride must be at least 1"),
        (dict(normalization="cifar"), bagnet.Error, "unknown normalization 'cifar' (expected fashion-mnist or"),
        (dict(normalization="fashion-mnist"), bagnet.Error, "the pixel range has 1 channels, bagnet9 takes 3"),
        (dict(defense="median"), bagnet.Error, "unknown defense 'median'"),
        (dict(clip=0.0), bagnet.Error, "clip value must be positive, got 0"),
        (dict(labels=y + CLASSES), bagnet.Error, "out of range"),
        (dict(patch=46), bagnet.Error, "does not fit"),
    ]
    for changes, kind, message in cases:
        arguments = dict(labels=y, patch=8, steps=1) | changes
        with pytest.raises(kind) as error:
            q9.model.attack_patch(x, **arguments)
        assert message in one_line(error), changes
    bf16 = bagnet.Model(q9.arch, weights=q9.weights, classes=CLASSES, precision="bf16")
    with pytest.raises(bagnet.Error, match="fp32 only"):
        bf16.attack_patch(x, y, patch=8)


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    """A random ResNet-50 with CLASSES classes (seed 0) and its weights file."""
    model = bagnet.Model("resnet50", classes=CLASSES, threads=2)
    path = tmp_path_factory.mktemp("resnet") / "resnet50.safetensors"
    model.save(path)
    return model, path


def test_correlate_equals_the_cli_and_numpy(q9, resnet, tmp_path):
    model, weights = resnet
    x = images((5, 3, 64, 64), seed=6)
    result = bagnet.correlate(q9.model, model, x, batch=2)  # two full batches and a partial one
    assert (result["arch"], result["against_arch"], result["images"]) == ("bagnet9", "resnet50", 5)
    r = result["r"]
    assert r.shape == (5,) and r.dtype == np.float64
    # numpy's Pearson correlation of each image's two logit vectors.
    a, b = q9.model.logits(x).astype(np.float64), model.logits(x).astype(np.float64)
    np.testing.assert_allclose(r, [np.corrcoef(a[n], b[n])[0, 1] for n in range(5)], atol=1e-5)
    assert result["mean"] == pytest.approx(r.mean()) and result["median"] == np.median(r)  # odd count
    out = tmp_path / "r.npy"
    code, printed, err = run_cli("correlate", *q9.cli_model(), "--against-arch", "resnet50", "--against-weights",
                                 weights, "--input", save_npy(tmp_path, "x.npy", x), "--labels",
                                 save_npy(tmp_path, "y.npy", np.zeros(5, dtype=np.int64)), "--batch-size", 2,
                                 "--output", out)
    assert code == 0, err
    np.testing.assert_array_equal(np.load(out), r.astype(np.float32))
    assert (f"logit correlation of bagnet9 and resnet50: mean {result['mean']:.4f}  "
            f"median {result['median']:.4f}  (5 images)") in printed


def test_correlate_of_a_model_with_itself_is_one_and_mismatches_are_refused(q9):
    x = images((4, 3, 20, 20), seed=2)
    result = bagnet.correlate(q9.model, q9.model, x)  # one model, locked once
    np.testing.assert_allclose(result["r"], 1.0, atol=1e-6)
    assert result["median"] == np.sort(result["r"])[2]  # even count: the upper middle value, as the CLI
    with pytest.raises(bagnet.Error) as error:
        bagnet.correlate(q9.model, bagnet.Model("bagnet9"), x)
    assert one_line(error) == "cannot correlate bagnet9 (10 classes) with bagnet9 (1000 classes)"
    with pytest.raises(ValueError, match="batch must be at least 1"):
        bagnet.correlate(q9.model, q9.model, x, batch=0)
    with pytest.raises(TypeError, match="C-contiguous float32"):
        bagnet.correlate(q9.model, q9.model, x.astype(np.float64))


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
    code, _, err = run_cli("train", "--arch", "fashion9", "--input", save_npy(tmp_path, "x.npy", x),
                           "--labels", save_npy(tmp_path, "y.npy", y), "--epochs", 2, "--batch-size", 4,
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
