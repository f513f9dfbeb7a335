"""Heatmaps (coarse and dense), their PNG pictures and saliency: bit-equal to the command line
of the same build, and tied to the logit map and to PyTorch's gradient."""
import numpy as np
import pytest

import bagnet
from conftest import images, relative_error, run_cli, save_npy, torch_of

# tests/test_train_pytorch.cpp's tolerance for input gradients against float64.
GRADIENT_TOLERANCE = 3e-3


def test_coarse_heatmap_is_the_logit_map_of_the_chosen_classes(q9, x):
    logit_map = q9.model.logit_map(x)
    evidence, classes = q9.model.coarse_heatmap(x, classes=[4, 2])
    assert classes == [[4, 2], [4, 2]] and evidence.dtype == np.float32
    np.testing.assert_array_equal(evidence, logit_map[..., [4, 2]].transpose(0, 3, 1, 2))
    evidence, classes = q9.model.coarse_heatmap(x, top=1)
    assert classes == [[int(np.argmax(row))] for row in q9.model.logits(x)]


@pytest.mark.parametrize("dense", [False, True])
def test_heatmaps_equal_the_cli_to_the_bit(q9, x, tmp_path, dense):
    flag = ["--dense"] if dense else []
    output = tmp_path / "map.npy"
    code, _, err = run_cli("heatmap", *q9.cli_model(), "--input", save_npy(tmp_path, "x.npy", x), "--class", 3,
                           "--output", output, *flag)
    assert code == 0, err
    evidence, _ = (q9.model.dense_heatmap if dense else q9.model.coarse_heatmap)(x, classes=3)
    assert evidence.shape[2:] == ((45, 38) if dense else (5, 4))
    np.testing.assert_array_equal(evidence[0, 0], np.load(output))


def test_dense_heatmap_agrees_with_the_coarse_map_where_patches_coincide(q9, x):
    # The coarse entry (i, j) is the patch with top-left pixel (8i, 8j): the dense map's
    # entry at that patch's centre, (8i + 4, 8j + 4).
    dense, _ = q9.model.dense_heatmap(x, classes=[1, 7])
    coarse, _ = q9.model.coarse_heatmap(x, classes=[1, 7])
    np.testing.assert_allclose(dense[:, :, 4::8, 4::8][:, :, :5, :4], coarse, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dense", [False, True])
def test_heatmap_png_equals_the_cli_picture(q9, x, tmp_path, dense):
    flag = ["--dense"] if dense else []
    input_path = save_npy(tmp_path, "x.npy", x)
    picture = tmp_path / "cli.png"
    code, _, err = run_cli("heatmap", *q9.cli_model(), "--input", input_path, "--top", 2, "--output", picture, *flag)
    assert code == 0, err
    names = [f"{input_path} {n}" for n in range(2)]  # the command line's names of npy images
    png = q9.model.heatmap_png(x, top=2, dense=dense, names=names)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == picture.read_bytes()
    written = tmp_path / "module.png"
    assert q9.model.heatmap_png(x, top=2, dense=dense, names=names, path=written) is None
    assert written.read_bytes() == png


def test_saliency_equals_the_cli_and_pytorch(q9, x, tmp_path):
    gradient = q9.model.saliency(x, 6)
    assert gradient.shape == x.shape and gradient.dtype == np.float32
    output = tmp_path / "g.npy"
    code, _, err = run_cli("saliency", *q9.cli_model(), "--input", save_npy(tmp_path, "x.npy", x), "--class", 6,
                           "--output", output)
    assert code == 0, err
    np.testing.assert_array_equal(gradient, np.load(output))
    images_ = torch_of(x).requires_grad_()
    q9.torch(images_)[:, 6].sum().backward()
    assert relative_error(gradient, images_.grad.numpy()) < GRADIENT_TOLERANCE


def test_heatmaps_and_saliency_read_their_input_in_place(q9, x):
    # As logits do (test_inference.py): a read-only array and a C-contiguous slice inside a
    # larger batch's buffer are read where they lie, with the results of a fresh copy.
    frozen = x.copy()
    frozen.flags.writeable = False
    batch = np.concatenate([images((1, 3, 45, 38), seed=9), x])
    assert np.shares_memory(batch[1:], batch)
    calls = [lambda a: q9.model.coarse_heatmap(a, classes=[2, 5])[0],
             lambda a: q9.model.dense_heatmap(a, top=1)[0],
             lambda a: q9.model.heatmap_png(a, classes=2, dense=True),
             lambda a: q9.model.saliency(a, 4)]
    for call in calls:
        expected = call(x.copy())
        for same in (frozen, batch[1:]):
            result = call(same)
            if isinstance(expected, bytes):
                assert result == expected
            else:
                np.testing.assert_array_equal(result, expected)


def test_imagenet_preprocess_equals_torchvision():
    # tests/reference/make_image_fixture.py's pipeline: PIL resize 256, centre crop 224, normalise.
    from PIL import Image
    from torchvision import transforms
    path = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
    transform = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                                    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    expected = transform(Image.open(path).convert("RGB")).numpy()
    batch = bagnet.imagenet_preprocess([path, path])
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0], batch[1])
    assert np.abs(batch[0] - expected).max() <= 1e-6  # tests/test_image.cpp's bound: PIL's own arithmetic
