#!/usr/bin/python3
"""Self-check of the PyTorch reference BagNet and of tools/convert_checkpoint.py.

Run as a script; prints one line per failure and an 'N passed, M failed' summary, and exits
non-zero if anything failed.
"""
import contextlib
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import traceback

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "..", "tools", "convert_checkpoint.py")
MAKE_FIXTURE = os.path.join(HERE, "make_fixture.py")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(CONVERTER))
import convert_checkpoint  # noqa: E402
import make_fixture  # noqa: E402
from bagnet_reference import Bottleneck, imagenet, randomize, small  # noqa: E402

PUBLISHED_PARAMETERS = {9: 15_688_744, 17: 16_213_032, 33: 18_310_184}
MAP_SIZE_AT_224 = {9: 27, 17: 26, 33: 24}
CHECKS = []


def check(function):
    CHECKS.append(function)
    return function


def published_keys():
    """The published checkpoints' state_dict keys, spelled out from the architecture notes."""
    def batch_norm(name):
        return [f"{name}.{field}" for field in
                ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    keys = ["conv1.weight", "conv2.weight"] + batch_norm("bn1")
    for stage, blocks in enumerate((3, 4, 6, 3), start=1):
        for block in range(blocks):
            prefix = f"layer{stage}.{block}"
            for i in (1, 2, 3):
                keys += [f"{prefix}.conv{i}.weight"] + batch_norm(f"{prefix}.bn{i}")
            if block == 0:
                keys += [f"{prefix}.downsample.0.weight"] + batch_norm(f"{prefix}.downsample.1")
    return sorted(keys + ["fc.weight", "fc.bias"])


@check
def state_dict_keys_are_the_published_ones():
    expected = published_keys()
    assert len(expected) == 321
    for q in PUBLISHED_PARAMETERS:
        keys = sorted(imagenet(q).state_dict())
        assert keys == expected, f"q={q}: keys differ: {sorted(set(keys) ^ set(expected))[:5]}"


@check
def parameter_counts_are_the_published_ones():
    for q, count in PUBLISHED_PARAMETERS.items():
        actual = sum(p.numel() for p in imagenet(q).parameters())
        assert actual == count, f"q={q}: {actual} parameters, published {count}"


@check
def batch_norm_momentum_and_eps():
    model = imagenet(33)
    assert model.bn1.momentum == 0.001
    others = [m for name, m in model.named_modules()
              if isinstance(m, torch.nn.BatchNorm2d) and name != "bn1"]
    assert len(others) == 52 and all(m.momentum == 0.1 for m in others)
    assert all(m.eps == 1e-5 for m in others + [model.bn1])


@check
def only_leading_stages_open_with_3x3():
    for q, stages in ((9, 2), (17, 3), (33, 4)):
        model = imagenet(q)
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d) and name != "conv2":
                stage_opens = name.endswith(".0.conv2") and int(name[5]) <= stages
                assert module.kernel_size == ((3, 3) if stage_opens else (1, 1)), f"q={q} {name}"
                assert module.padding == (0, 0), f"q={q} {name} pads"


@check
def impossible_patch_size_is_refused():
    for q in (8, 11, 65):
        try:
            imagenet(q)
        except ValueError as error:
            assert "impossible" in str(error)
        else:
            raise AssertionError(f"q={q} was accepted")


def map_shape(model, *input_shape):
    """Output shape of logit_map, computed on the meta device (shapes only, no arithmetic)."""
    return tuple(model.eval().to("meta").logit_map(torch.empty(input_shape, device="meta")).shape)


@check
def logit_map_sizes_at_224():
    for q, size in MAP_SIZE_AT_224.items():
        shape = map_shape(imagenet(q, classes=3), 1, 3, 224, 224)
        assert shape == (1, size, size, 3), f"q={q}: logit map {shape}, expected {size} x {size}"


@check
def smallest_input_gives_one_location_and_inputs_need_not_be_square():
    for model, channels in ((imagenet(33, classes=4), 3), (small(9), 1)):
        q, stride = model.q, model.output_stride
        assert map_shape(model, 1, channels, q, q)[1:3] == (1, 1)
        shape = map_shape(model, 1, channels, q + 3 * stride, q + stride - 1)
        assert shape[1:3] == (4, 1), f"q={q}: {shape}"
        for too_small in ((q - 1, q), (q, q - 1)):
            try:
                with torch.no_grad():
                    model.to("cpu").logit_map(torch.randn(1, channels, *too_small))
            except RuntimeError:
                continue
            raise AssertionError(f"q={q}: a {too_small} input was accepted")


@check
def small_configuration_map_at_28():
    for q, size in ((3, 7), (5, 6), (9, 5), (17, 3), (25, 1)):
        shape = map_shape(small(q), 2, 1, 28, 28)
        assert shape == (2, size, size, 10), f"small q={q}: {shape}"


@check
def shortcut_is_cropped_to_the_top_left():
    """With the main branch silenced and an identity projection, a block returns the strided
    input's top-left part. (Patch-locality alone would not tell: any crop offset within the
    k x k window also keeps the network patch-local.)"""
    for stride, height, width in ((2, 13, 10), (1, 7, 8)):
        block = Bottleneck(8, 2, stride, kernel=3, project=True).eval().double()
        with torch.no_grad():
            block.conv3.weight.zero_()
            block.downsample[0].weight.copy_(torch.eye(8).reshape(8, 8, 1, 1))
            images = torch.rand(1, 8, height, width, dtype=torch.float64)
            output = block(images)
        rows, cols = output.shape[2:]
        assert (rows, cols) == ((height - 3) // stride + 1, (width - 3) // stride + 1)
        expected = images[:, :, ::stride, ::stride][:, :, :rows, :cols]
        # The projection's batch norm divides by sqrt(1 + eps), hence not torch.equal.
        assert torch.allclose(output, expected, rtol=1e-4, atol=0), \
            f"stride {stride}: shortcut is not top-left"


@check
def logits_are_the_mean_of_the_logit_map():
    for model, channels in ((imagenet(17, classes=6), 3), (small(9), 1)):
        model = randomize(model, seed=4).eval().double()
        images = torch.randn(2, channels, 45, 38, dtype=torch.float64)
        with torch.no_grad():
            logits, logit_map = model(images), model.logit_map(images)
        assert torch.allclose(logits, logit_map.mean(dim=(1, 2)), rtol=1e-12, atol=1e-12)
        spread = (logit_map - logit_map.mean(dim=(1, 2), keepdim=True)).std()
        assert spread > 0.1, f"logit map barely varies over space ({spread:.3g})"


@check
def batch_norm_is_randomised_and_matters():
    model = randomize(imagenet(9, classes=5), seed=5).eval()
    bn = model.layer2[0].bn2
    assert bn.running_var.min() >= 0.5 and bn.running_var.max() <= 2.0
    assert bn.running_mean.abs().max() > 0 and (bn.weight - 1).abs().max() > 0.1
    images = torch.randn(1, 3, 41, 41)
    with torch.no_grad():
        before = model(images)
        bn.running_var.fill_(1.0)
        after = model(images)
    assert not torch.allclose(before, after, atol=1e-3)
    again = randomize(imagenet(9, classes=5), seed=5).state_dict()
    assert all(torch.equal(value, again[key]) for key, value in
               randomize(imagenet(9, classes=5), seed=5).state_dict().items())


@check
def logit_map_entry_is_the_network_on_its_patch():
    """Exact patch-locality: entry (i, j) depends on the q x q crop at (s i, s j) only."""
    cases = ((imagenet(9, classes=8), 3, 33, 44), (imagenet(17, classes=8), 3, 30, 25),
             (imagenet(33, classes=8), 3, 41, 46), (small(9), 1, 28, 28))
    for model, channels, height, width in cases:
        model = randomize(model, seed=6).eval().double()
        q, stride = model.q, model.output_stride
        images = torch.randn(2, channels, height, width, dtype=torch.float64)
        with torch.no_grad():
            logit_map = model.logit_map(images)
            rows, cols = logit_map.shape[1:3]
            assert (rows, cols) == ((height - q) // stride + 1, (width - q) // stride + 1)
            for i in range(rows):
                for j in range(cols):
                    patch = images[:, :, stride * i:stride * i + q, stride * j:stride * j + q]
                    expected = model(patch)
                    assert torch.allclose(logit_map[:, i, j], expected, rtol=1e-10, atol=1e-10), \
                        f"q={q} entry ({i}, {j}) differs from its patch by " \
                        f"{(logit_map[:, i, j] - expected).abs().max():.3g}"


def run_script(path, *args):
    return subprocess.run([sys.executable, path, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def call_main(main, *args):
    """(exit code, stdout, stderr) of a tool's main() run in this process (no torch start-up)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(list(args))
        except SystemExit as exit:
            code = exit.code
    return code, stdout.getvalue(), stderr.getvalue()


def run_converter(*args):
    code, stdout, stderr = call_main(convert_checkpoint.main, *args)
    assert code == 0, f"converter {args} failed: {stderr.strip()}"
    assert stdout == "" and stderr == ""


def parse_safetensors(path):
    """A deliberately separate reader of the format: checks layout, returns {key: array}."""
    with open(path, "rb") as file:
        blob = file.read()
    (length,) = struct.unpack("<Q", blob[:8])
    assert (8 + length) % 8 == 0, "data does not start 8-byte aligned"
    header = json.loads(blob[8:8 + length].decode("utf-8"))
    header.pop("__metadata__", None)
    keys = list(header)
    assert keys == sorted(keys), "header keys are not sorted"
    dtypes = {"F32": np.float32, "I64": np.int64}
    position, tensors = 0, {}
    for key in keys:
        entry = header[key]
        begin, end = entry["data_offsets"]
        assert begin == position, f"{key}: data not laid out in key order"
        dtype = np.dtype(dtypes[entry["dtype"]]).newbyteorder("<")
        tensors[key] = np.frombuffer(blob[8 + length + begin:8 + length + end],
                                     dtype=dtype).reshape(entry["shape"])
        position = end
    assert 8 + length + position == len(blob), "trailing bytes after the data"
    return header, tensors


@check
def converter_round_trip_all_checkpoint_forms():
    state_dict = randomize(small(9), seed=7).state_dict()
    forms = (("legacy", False, False), ("zip", False, False), ("legacy", True, True),
             ("zip", True, False), ("zip", False, True))
    with tempfile.TemporaryDirectory() as directory:
        for file_format, wrap, prefix in forms:
            saved = {("module." if prefix else "") + k: v for k, v in state_dict.items()}
            checkpoint = os.path.join(directory, f"{file_format}{wrap}{prefix}.pth")
            torch.save({"state_dict": saved, "epoch": 3} if wrap else saved, checkpoint,
                       _use_new_zipfile_serialization=file_format == "zip")
            converted = checkpoint + ".safetensors"
            run_converter(checkpoint, converted)
            header, tensors = parse_safetensors(converted)
            form = f"{file_format} wrap={wrap} prefix={prefix}"
            assert sorted(tensors) == sorted(state_dict), f"{form}: keys differ"
            for key, value in state_dict.items():
                assert header[key]["dtype"] == ("F32" if value.is_floating_point() else "I64")
                assert list(header[key]["shape"]) == list(value.shape), f"{form}: {key} shape"
                assert np.array_equal(tensors[key], value.numpy()), f"{form}: {key} values"
            back = os.path.join(directory, "back.pth")
            run_converter("--to-pytorch", converted, back)
            loaded = torch.load(back)
            assert all(loaded[k].dtype == v.dtype and torch.equal(loaded[k], v)
                       for k, v in state_dict.items()), f"{form}: --to-pytorch changed tensors"
            small(9).load_state_dict(loaded, strict=True)
        assert sorted(os.listdir(directory)) == sorted(
            [f"{a}{b}{c}.pth{ext}" for a, b, c in forms for ext in ("", ".safetensors")]
            + ["back.pth"]), "temporary files left behind"


@check
def converter_narrows_other_dtypes():
    tensors = {"double": torch.randn(3, 2, dtype=torch.float64),
               "half": torch.randn(4, dtype=torch.float16),
               "int32": torch.arange(5, dtype=torch.int32), "scalar": torch.tensor(7)}
    with tempfile.TemporaryDirectory() as directory:
        checkpoint, converted = (os.path.join(directory, n) for n in ("c.pth", "c.safetensors"))
        torch.save(tensors, checkpoint)
        run_converter(checkpoint, converted)
        header, arrays = parse_safetensors(converted)
        assert [header[k]["dtype"] for k in sorted(header)] == ["F32", "F32", "I64", "I64"]
        assert header["scalar"]["shape"] == [] and arrays["scalar"] == 7
        for key, value in tensors.items():
            assert np.array_equal(arrays[key], value.double().numpy().astype(arrays[key].dtype))


@check
def converter_reports_bad_input_in_one_line():
    with tempfile.TemporaryDirectory() as directory:
        def path(name):
            return os.path.join(directory, name)
        with open(path("junk.pth"), "wb") as file:
            file.write(b"this is not a checkpoint at all")
        torch.save({}, path("empty.pth"))
        torch.save({"state_dict": {"a": 1}}, path("no_tensor.pth"))
        torch.save([torch.zeros(1)], path("list.pth"))
        cases = ((["missing.pth"], "no such file"), (["junk.pth"], "not a PyTorch checkpoint"),
                 (["empty.pth"], "no tensors"), (["no_tensor.pth"], "'a'"),
                 (["list.pth"], "not a state_dict"),
                 (["--to-pytorch", "junk.pth"], "safetensors"))
        for arguments, phrase in cases:
            *flags, name = arguments
            code, _, stderr = call_main(convert_checkpoint.main, *flags, path(name), path("out"))
            lines = stderr.splitlines()
            assert code == 1, f"{arguments}: exit code {code}"
            assert len(lines) == 1 and lines[0].startswith("convert_checkpoint: error: ") \
                and phrase in lines[0] and name in lines[0], f"{arguments}: {stderr!r}"
        leftovers = set(os.listdir(directory)) - {"junk.pth", "empty.pth", "no_tensor.pth",
                                                  "list.pth"}
        assert not leftovers, f"left behind after errors: {sorted(leftovers)}"
    result = run_script(CONVERTER, "--help")
    assert result.returncode == 0 and "--to-pytorch" in result.stdout
    result = run_script(CONVERTER, os.path.join(HERE, "missing.pth"), "out.safetensors")
    assert result.returncode == 1 and result.stderr.startswith("convert_checkpoint: error: ")


@check
def fixture_matches_the_model_loaded_from_its_safetensors():
    with tempfile.TemporaryDirectory() as directory:
        arguments = ["--q", "17", "--height", "37", "--width", "30", "--batch", "2", "--seed", "3",
                     "--format", "legacy", "--wrap", "--prefix", "--classes", "5",
                     "--out", directory]
        result = run_script(MAKE_FIXTURE, *arguments)
        assert result.returncode == 0 and result.stdout == "" and result.stderr == "", \
            f"make_fixture failed: {result.stderr.strip()}"
        back = os.path.join(directory, "back.pth")
        run_converter("--to-pytorch", os.path.join(directory, "weights.safetensors"), back)
        model = imagenet(17, classes=5)
        model.load_state_dict(torch.load(back), strict=True)
        model = model.eval().double()

        def load(name):
            array = np.load(os.path.join(directory, name))
            assert array.dtype == np.float32, f"{name} is {array.dtype}"
            return torch.from_numpy(array)
        images, logits, logit_map = load("input.npy"), load("logits.npy"), load("logit_map.npy")
        assert tuple(images.shape) == (2, 3, 37, 30) and tuple(logit_map.shape) == (2, 3, 2, 5)
        with torch.no_grad():
            assert torch.allclose(model(images.double()).float(), logits, rtol=0, atol=1e-6)
            assert torch.allclose(model.logit_map(images.double()).float(), logit_map,
                                  rtol=0, atol=1e-6)

        def modified(name):
            return os.stat(os.path.join(directory, name)).st_mtime_ns
        made = modified("input.npy")
        assert call_main(make_fixture.main, *arguments) == (0, "", "")
        assert modified("input.npy") == made, "an up-to-date fixture was made again"
        assert call_main(make_fixture.main, *arguments, "--batch", "1") == (0, "", "")
        assert np.load(os.path.join(directory, "input.npy")).shape[0] == 1, \
            "a fixture with other arguments was not made again"

        code, _, stderr = call_main(make_fixture.main, "--q", "33", "--height", "32",
                                    "--width", "40", "--out", directory)
        assert code == 1 and "too small" in stderr, stderr


def main():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    torch.manual_seed(0)
    failed = 0
    for function in CHECKS:
        try:
            function()
        except Exception as error:  # report every failing check, not just the first
            failed += 1
            where = traceback.extract_tb(error.__traceback__)[-1]
            location = f"{os.path.basename(where.filename)}:{where.lineno}"
            print(f"FAILED {function.__name__} ({location}): "
                  f"{type(error).__name__}: {' '.join(str(error).split())[:400]}")
    print(f"{len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
