"""What the module's tests share: the module from the build tree, the `bagnet` command line
beside it, and small random BagNets made by the PyTorch reference (tests/reference) in this
process, with their weights written as safetensors by tools/convert_checkpoint.py's writer.

ctest runs these with PYTHONPATH=<build>/python and BAGNET_BIN=<build>/bin; by hand:
    PYTHONPATH=build/python BAGNET_BIN=build/bin /usr/bin/python3 -m pytest tests/python
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "reference"))
sys.path.insert(0, os.path.join(SOURCE, "tools"))
import bagnet  # noqa: E402
from bagnet_reference import CONFIGS, randomize  # noqa: E402
from convert_checkpoint import write_safetensors  # noqa: E402

CLASSES = 10


def cli_path():
    """The `bagnet` program of the same build as the module."""
    directory = os.environ.get("BAGNET_BIN") or os.path.join(os.path.dirname(os.path.dirname(bagnet.__file__)), "bin")
    return os.path.join(directory, "bagnet")


def run_cli(*args):
    """Runs `bagnet ARGS...`; returns (exit code, stdout, stderr)."""
    done = subprocess.run([cli_path(), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return done.returncode, done.stdout, done.stderr


def relative_error(actual, expected):
    """The C++ tests' measure (tests/test_pytorch_agreement.cpp): max |a - e| / max |e|."""
    assert actual.shape == expected.shape
    return float(np.abs(actual.astype(np.float64) - expected).max() / np.abs(expected).max())


class Reference:
    """A random ImageNet BagNet-q with CLASSES classes: the PyTorch model, its weights file
    and the bagnet.Model loaded from it (2 threads, as the command line is run)."""

    def __init__(self, q, directory, seed):
        self.q = q
        self.arch = f"bagnet{q}"
        self.torch = randomize(CONFIGS["imagenet"](q, classes=CLASSES), seed).eval().double()
        self.weights = os.path.join(directory, f"bagnet{q}.safetensors")
        write_safetensors(self.torch.state_dict(), self.weights)
        self.model = bagnet.Model(self.arch, weights=self.weights, classes=CLASSES, threads=2)

    def cli_model(self):
        """The command line's options for the same model."""
        return ["--arch", self.arch, "--weights", self.weights, "--classes", CLASSES, "--threads", 2]


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("weights")
    return {q: Reference(q, directory, seed) for q, seed in ((9, 1), (33, 3))}


@pytest.fixture(scope="session")
def q9(models):
    return models[9]


def images(shape, seed=0):
    """Standard normal float32 images, C-contiguous."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


@pytest.fixture
def x():
    """Two images of an odd, non-square size."""
    return images((2, 3, 45, 38))


def save_npy(directory, name, array):
    path = os.path.join(directory, name)
    np.save(path, array)
    return path


def torch_of(array):
    return torch.from_numpy(np.asarray(array, dtype=np.float64))
