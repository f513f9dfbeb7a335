#!/usr/bin/python3
"""Create a test fixture for the C++ tests from the randomised PyTorch reference BagNet.

    make_fixture.py --q 33 --height 45 --width 38 --batch 2 --seed 1 --format legacy|zip
                    [--wrap] [--prefix] [--config imagenet|small] [--classes K] --out DIR

writes into DIR:
  checkpoint.pth         the model's state_dict as torch.save wrote it (--format; --wrap puts it
                         under 'state_dict', --prefix adds 'module.' to every key)
  weights.safetensors    checkpoint.pth converted by tools/convert_checkpoint.py (its main(argv))
  input.npy              float32 N x C x H x W, standard normal
  logits.npy             float32 N x classes
  logit_map.npy          float32 N x H' x W' x classes
  fixture.json           the arguments, written last: when it matches and is newer than the
                         scripts that make the fixture, nothing is redone
The outputs are computed in float64 by the eval-mode model and then rounded to float32.
"""
import argparse
import contextlib
import io
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERTER = os.path.join(HERE, "..", "..", "tools", "convert_checkpoint.py")
sys.path.insert(0, os.path.dirname(CONVERTER))
import convert_checkpoint  # noqa: E402
from convert_checkpoint import ConversionError, atomic_output  # noqa: E402
from bagnet_reference import CONFIGS, randomize  # noqa: E402

PROG = "make_fixture"
OUTPUTS = ("checkpoint.pth", "weights.safetensors", "input.npy", "logits.npy", "logit_map.npy")
STAMP = "fixture.json"
SOURCES = (os.path.abspath(__file__), CONVERTER, os.path.join(HERE, "bagnet_reference.py"))


class FixtureError(Exception):
    pass


def build_model(config, q, classes, seed):
    factory = CONFIGS[config]
    try:
        model = factory(q) if classes is None else factory(q, classes=classes)
    except ValueError as error:
        raise FixtureError(f"--config {config} --q {q}: {error}") from None
    return randomize(model, seed).eval()


def save_checkpoint(state_dict, path, file_format, wrap, prefix):
    if prefix:
        state_dict = {"module." + key: value for key, value in state_dict.items()}
    checkpoint = {"state_dict": state_dict} if wrap else state_dict
    with atomic_output(path) as temporary:
        torch.save(checkpoint, temporary, _use_new_zipfile_serialization=file_format == "zip")


def save_npy(path, array):
    with atomic_output(path) as temporary, open(temporary, "wb") as out:
        np.save(out, np.ascontiguousarray(array, dtype=np.float32))


def make_fixture(args):
    model = build_model(args.config, args.q, args.classes, args.seed)
    in_channels = model.conv1.in_channels
    if min(args.height, args.width) < args.q or args.batch < 1:
        raise FixtureError(f"input {args.batch} x {in_channels} x {args.height} x {args.width} "
                           f"is too small for q={args.q} (needs batch >= 1 and H, W >= q)")
    os.makedirs(args.out, exist_ok=True)
    checkpoint = os.path.join(args.out, "checkpoint.pth")
    save_checkpoint(model.state_dict(), checkpoint, args.format, args.wrap, args.prefix)
    # The converter's command line, called in this process (a new one would import torch again).
    messages = io.StringIO()
    with contextlib.redirect_stderr(messages):
        status = convert_checkpoint.main([checkpoint, os.path.join(args.out, "weights.safetensors")])
    if status != 0:
        raise FixtureError(f"the converter failed: {' '.join(messages.getvalue().split())}")

    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch, in_channels, args.height, args.width, generator=generator)
    reference = model.double()
    with torch.no_grad():
        logits = reference(images.double())
        logit_map = reference.logit_map(images.double())
    save_npy(os.path.join(args.out, "input.npy"), images.numpy())
    save_npy(os.path.join(args.out, "logits.npy"), logits.numpy())
    save_npy(os.path.join(args.out, "logit_map.npy"), logit_map.numpy())


def up_to_date(args, stamp):
    """Whether DIR already holds this fixture, made by the current scripts."""
    if not all(os.path.exists(os.path.join(args.out, name)) for name in OUTPUTS + (STAMP,)):
        return False
    with open(stamp) as file:
        if file.read() != json.dumps(vars(args), sort_keys=True):
            return False
    return os.path.getmtime(stamp) > max(os.path.getmtime(source) for source in SOURCES)


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--q", type=int, required=True, help="patch size (9, 17, 33, ...)")
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="weights and input")
    parser.add_argument("--format", choices=("legacy", "zip"), default="zip",
                        help="torch.save format of checkpoint.pth")
    parser.add_argument("--wrap", action="store_true", help="save {'state_dict': ...}")
    parser.add_argument("--prefix", action="store_true", help="add 'module.' to every key")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="imagenet")
    parser.add_argument("--classes", type=int, help="override the configuration's class count")
    parser.add_argument("--out", required=True, help="directory to write (created if needed)")
    args = parser.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    stamp = os.path.join(args.out, STAMP)
    try:
        if up_to_date(args, stamp):
            return 0
        make_fixture(args)
        with atomic_output(stamp) as temporary, open(temporary, "w") as file:
            file.write(json.dumps(vars(args), sort_keys=True))
    except (FixtureError, ConversionError, OSError) as error:
        print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
