"""logits, logit_map and top_predictions: bit-equal to the C++ library (through the `bagnet`
command line, which calls the same free functions) and equal to PyTorch within the C++ tests'
tolerance; inputs read in place, outputs owning the library's buffers."""
import numpy as np
import pytest
import torch

from conftest import images, relative_error, run_cli, save_npy, torch_of

# tests/test_pytorch_agreement.cpp's fp32 tolerance.
PYTORCH_TOLERANCE = 1e-3


@pytest.mark.parametrize("q", [9, 33])
def test_logits_and_logit_map_equal_pytorch(models, q):
    reference = models[q]
    x = images((2, 3, 41, 35), seed=q)
    with torch.no_grad():
        expected_logits = reference.torch(torch_of(x)).numpy()
        expected_map = reference.torch.logit_map(torch_of(x)).numpy()
    logits = reference.model.logits(x)
    logit_map = reference.model.logit_map(x)
    assert logits.dtype == np.float32 and logits.shape == (2, 10)
    assert logit_map.dtype == np.float32 and logit_map.shape == expected_map.shape
    assert relative_error(logits, expected_logits) < PYTORCH_TOLERANCE
    assert relative_error(logit_map, expected_map) < PYTORCH_TOLERANCE


@pytest.mark.parametrize("flag", [[], ["--map"]])
def test_results_equal_the_cpp_library_to_the_bit(q9, x, tmp_path, flag):
    output = tmp_path / "out.npy"
    code, _, err = run_cli("logits", *q9.cli_model(), "--input", save_npy(tmp_path, "x.npy", x), "--output", output, *flag)
    assert code == 0, err
    ours = q9.model.logit_map(x) if flag else q9.model.logits(x)
    np.testing.assert_array_equal(ours, np.load(output))


def test_outputs_own_the_library_buffer(q9, x):
    logits = q9.model.logits(x)
    # Not numpy's own allocation: a view of the library's tensor, kept alive by a capsule.
    assert not logits.flags.owndata and type(logits.base).__name__ == "PyCapsule"
    assert logits.flags.c_contiguous and logits.flags.writeable
    logits[0, 0] = 42.0  # the buffer is the array's alone
    assert q9.model.logits(x)[0, 0] != 42.0


def test_inputs_are_read_in_place_even_read_only_or_offset(q9, x):
    expected = q9.model.logits(x)
    frozen = x.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(q9.model.logits(frozen), expected)
    # A C-contiguous slice of a larger batch starts inside that batch's buffer.
    batch = np.concatenate([images((1, 3, 45, 38), seed=9), x])
    np.testing.assert_array_equal(q9.model.logits(batch[1:]), expected)
    assert np.shares_memory(batch[1:], batch)


def test_top_predictions_are_the_softmax_of_the_logits(q9, x):
    logits = q9.model.logits(x).astype(np.float64)
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    top = q9.model.top_predictions(x, k=3)
    assert len(top) == 2
    for n, row in enumerate(top):
        assert [c for c, _ in row] == list(np.argsort(-logits[n], kind="stable")[:3])
        np.testing.assert_allclose([p for _, p in row], probabilities[n, [c for c, _ in row]], rtol=1e-6)


def test_the_model_describes_itself(q9):
    assert (q9.model.arch, q9.model.patch_size, q9.model.classes, q9.model.in_channels) == ("bagnet9", 9, 10, 3)
    assert q9.model.precision == "fp32" and q9.model.threads == 2
    assert q9.model.class_name(3) == "class 3"
