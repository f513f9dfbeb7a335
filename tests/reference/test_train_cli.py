#!/usr/bin/python3
"""`bagnet train`, `evaluate` and `saliency` end to end, and their files in PyTorch.

- weights saved by `bagnet train` go back to PyTorch through tools/convert_checkpoint.py
  --to-pytorch, load strictly into the reference model and give the logits `bagnet logits` gives;
- the shipped Fashion-MNIST weights do the same, and `saliency` equals PyTorch's input gradient;
- bad input (unknown dataset, labels out of range, mismatched npy lengths, a resume checkpoint of
  another architecture) gives one line on stderr, a non-zero exit, and overwrites nothing.
Needs BAGNET_BIN (the directory of the `bagnet` executable), as ctest sets it.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, HERE)
from bagnet_reference import fashion  # noqa: E402

BAGNET = os.path.join(os.environ.get("BAGNET_BIN", os.path.join(ROOT, "build", "bin")), "bagnet")
CONVERTER = os.path.join(ROOT, "tools", "convert_checkpoint.py")
SHIPPED = os.path.join(ROOT, "models", "fashion_mnist_bagnet9.safetensors")


def run(*args, expect_ok=True):
    result = subprocess.run([BAGNET, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if expect_ok and result.returncode != 0:
        raise AssertionError(f"bagnet {' '.join(args)} failed: {result.stderr}")
    return result


def to_pytorch(weights, tmp, q):
    pth = os.path.join(tmp, "exported.pth")
    subprocess.run([sys.executable, CONVERTER, "--to-pytorch", weights, pth], check=True)
    model = fashion(q)
    model.load_state_dict(torch.load(pth), strict=True)
    return model.double().eval()


def check_logits(weights, tmp, q, images):
    model = to_pytorch(weights, tmp, q)
    out = os.path.join(tmp, "logits.npy")
    run("logits", "--arch", f"fashion{q}", "--weights", weights, "--input", images, "--output", out)
    with torch.no_grad():
        expected = model(torch.from_numpy(np.load(images)).double()).numpy()
    error = np.abs(np.load(out) - expected).max() / np.abs(expected).max()
    assert error < 1e-4, f"{weights}: bagnet and PyTorch logits differ by {error}"
    return model


def test_train_and_export(tmp):
    rng = np.random.default_rng(0)
    images = os.path.join(tmp, "x.npy")
    labels = os.path.join(tmp, "y.npy")
    np.save(images, rng.standard_normal((16, 1, 28, 28)).astype(np.float32))
    np.save(labels, (np.arange(16) % 10).astype(np.int64))
    weights = os.path.join(tmp, "w.safetensors")
    metrics = os.path.join(tmp, "m.json")
    run("train", "--arch", "fashion9", "--input", images, "--labels", labels, "--steps", "3",
        "--batch-size", "8", "--save", weights, "--metrics", metrics)
    assert os.path.getsize(metrics) > 0
    check_logits(weights, tmp, 9, images)
    return images, labels, weights


def test_shipped_weights_and_saliency(tmp, images):
    model = check_logits(SHIPPED, tmp, 9, images)
    gradient = os.path.join(tmp, "g.npy")
    run("saliency", "--arch", "fashion9", "--weights", SHIPPED, "--input", images, "--class", "3",
        "--output", gradient)
    x = torch.from_numpy(np.load(images)).double().requires_grad_(True)
    model(x)[:, 3].sum().backward()
    error = np.abs(np.load(gradient) - x.grad.numpy()).max() / np.abs(x.grad.numpy()).max()
    assert error < 3e-3, f"saliency differs from PyTorch's input gradient by {error}"


def test_bad_input(tmp, images, labels, weights):
    before = open(weights, "rb").read()
    bad_labels = os.path.join(tmp, "bad_labels.npy")
    np.save(bad_labels, (np.arange(16) % 11).astype(np.int64))
    short_labels = os.path.join(tmp, "short_labels.npy")
    np.save(short_labels, np.zeros(15, np.int64))
    checkpoint = os.path.join(tmp, "q17.ckpt")
    run("train", "--arch", "fashion17", "--input", images, "--labels", labels, "--steps", "1",
        "--batch-size", "8", "--save", os.path.join(tmp, "q17.safetensors"), "--checkpoint", checkpoint)
    common = ["--input", images, "--steps", "1", "--batch-size", "8", "--save", weights]
    cases = {
        "unknown dataset": (["train", "--arch", "fashion9", "--dataset", "cifar", "--save", weights, "--steps", "1"],
                            "unknown dataset 'cifar'"),
        "label out of range": (["train", "--arch", "fashion9", "--labels", bad_labels, *common],
                               "label 10 of image 10 is out of range for 10 classes"),
        "mismatched npy": (["train", "--arch", "fashion9", "--labels", short_labels, *common],
                           "holds 15 labels but"),
        "foreign checkpoint": (["train", "--arch", "fashion9", "--labels", labels, "--resume", checkpoint,
                                *common], "checkpoint of fashion17"),
        "unknown architecture": (["evaluate", "--arch", "fashion8", "--weights", weights, "--input", images,
                                  "--labels", labels], "unknown architecture 'fashion8'"),
    }
    for name, (args, message) in cases.items():
        result = run(*args, expect_ok=False)
        lines = result.stderr.strip().splitlines()
        assert result.returncode != 0, f"{name}: exit code 0"
        assert len(lines) == 1 and message in lines[0], f"{name}: stderr was {result.stderr!r}"
    assert open(weights, "rb").read() == before, "a failed run overwrote the weights"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        images, labels, weights = test_train_and_export(tmp)
        test_shipped_weights_and_saliency(tmp, images)
        test_bad_input(tmp, images, labels, weights)
    print("test_train_cli: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
