"""Wrong arrays are refused with one line naming the expected dtype, layout and shape (TypeError
for the type, ValueError for the layout or rank); every bagnet::Error is bagnet.Error with the
message the command line prints."""
import numpy as np
import pytest

import bagnet
from conftest import images, run_cli, save_npy

EXPECTED = "x must be a C-contiguous float32 numpy array N x C x H x W"


@pytest.mark.parametrize("wrong, kind, detail", [
    (images((1, 3, 20, 20)).astype(np.float64), TypeError, "got a float64 array of shape (1, 3, 20, 20)"),
    (np.zeros((1, 3, 20, 20), dtype=np.int64), TypeError, "got a int64 array"),
    (images((1, 3, 20, 20)).astype(">f4"), TypeError, "got a >f4 array"),
    (images((1, 3, 20, 20)).tolist(), TypeError, "got list"),
    (images((3, 20, 20)), ValueError, "got a float32 array of shape (3, 20, 20)"),
    (images((1, 3, 20, 40))[..., ::2], ValueError, "got a non-contiguous or unaligned float32 array"),
    (np.asfortranarray(images((2, 3, 20, 20))), ValueError, "non-contiguous"),
])
def test_wrong_arrays_are_refused_with_one_line(q9, wrong, kind, detail):
    for call in (q9.model.logits, q9.model.logit_map, lambda a: q9.model.coarse_heatmap(a, classes=1),
                 lambda a: q9.model.saliency(a, 1)):
        with pytest.raises(kind) as error:
            call(wrong)
        message = str(error.value)
        assert message.startswith(EXPECTED) and detail in message and "\n" not in message


def test_unaligned_float32_is_refused(q9):
    raw = np.zeros(1 * 3 * 20 * 20 * 4 + 1, dtype=np.uint8)
    unaligned = raw[1:].view(np.float32).reshape(1, 3, 20, 20)
    with pytest.raises(ValueError, match="unaligned"):
        q9.model.logits(unaligned)


def test_library_errors_are_bagnet_error_with_the_cli_message(q9, tmp_path):
    small = images((1, 3, 5, 5))
    with pytest.raises(bagnet.Error) as error:
        q9.model.logits(small)
    code, _, err = run_cli("logits", *q9.cli_model(), "--input", save_npy(tmp_path, "small.npy", small),
                           "--output", tmp_path / "out.npy")
    assert code == 1 and err.strip() == "bagnet logits: error: " + str(error.value)
    assert str(error.value) == "bagnet9 needs inputs of at least 9 x 9 pixels, got 5 x 5"
    assert issubclass(bagnet.Error, RuntimeError)


def test_non_finite_inputs_and_wrong_channels_are_bagnet_errors(q9):
    x = images((1, 3, 20, 20))
    x[0, 1, 2, 3] = np.nan
    with pytest.raises(bagnet.Error, match="non-finite"):
        q9.model.logits(x)
    with pytest.raises(bagnet.Error, match="expects 3 input channels, got 1"):
        q9.model.logits(images((1, 1, 20, 20)))


def test_bad_weights_files_and_names_are_bagnet_errors(q9, tmp_path):
    with pytest.raises(bagnet.Error, match="no-such.safetensors"):
        bagnet.Model("bagnet9", weights=tmp_path / "no-such.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(bagnet.Error) as error:
        bagnet.Model("bagnet9", weights=garbage)
    assert "garbage.safetensors" in str(error.value) and "\n" not in str(error.value)
    # The right file for another architecture names the first tensor that does not fit.
    with pytest.raises(bagnet.Error, match=r"layer3\.0\.conv2\.weight"):
        bagnet.Model("bagnet33", weights=q9.weights, classes=10)
    with pytest.raises(bagnet.Error, match="bagnet12"):
        bagnet.Model("bagnet12")
    with pytest.raises(bagnet.Error, match="thread count"):
        bagnet.Model("bagnet9", threads=0)
    with pytest.raises(bagnet.Error, match="precision"):
        bagnet.Model("bagnet9", precision="fp16")


def test_devices_the_module_lacks_are_named_before_the_weights_are_read(tmp_path):
    # The weights file does not exist: the device is refused first.
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(bagnet.Error) as error:
        bagnet.Model("bagnet9", weights=missing, device="cuda")
    message = str(error.value)
    assert message == ("device 'cuda': this bagnet module was built without the cuda backend (BAGNET_WITH_CUDA off); "
                       "its only device is 'cpu'")
    with pytest.raises(bagnet.Error) as error:
        bagnet.Model("bagnet9", weights=missing, device="gpu")
    assert str(error.value) == "unknown device 'gpu': this bagnet module's only device is 'cpu'"
    assert bagnet.Model("bagnet9", device="cpu").logits(images((1, 3, 9, 9))).shape == (1, 1000)


def test_argument_mistakes(q9):
    x = images((1, 3, 20, 20))
    with pytest.raises(ValueError, match="either classes"):
        q9.model.coarse_heatmap(x)
    with pytest.raises(ValueError, match="either classes"):
        q9.model.coarse_heatmap(x, classes=1, top=2)
    with pytest.raises(bagnet.Error, match="out of range"):
        q9.model.coarse_heatmap(x, classes=10)
    with pytest.raises(bagnet.Error, match="top 11"):
        q9.model.top_predictions(x, k=11)
    with pytest.raises(bagnet.Error, match="out of range"):
        q9.model.saliency(x, 10)
    with pytest.raises(bagnet.Error, match="no such file|cannot open"):
        bagnet.imagenet_preprocess(["/nonexistent.png"])
