#!/usr/bin/python3
"""Reference full-resolution heatmaps by the per-patch definition, for the C++ dense_heatmap tests.

    make_heatmap_fixture.py --q 17 --height 25 --width 21 --batch 1 --seed 3 --classes 10 --out DIR

writes into DIR what make_fixture.py writes (weights.safetensors, input.npy, logits.npy,
logit_map.npy; not checkpoint.pth) plus
  dense_heatmap.npy    float32 N x classes x H x W: pixel (y, x) holds the logits of the network
                       applied to the q x q patch centred there, after zero padding by (q-1)/2
This is the definition itself, one forward pass per patch (patches are batched for speed, each
is still its own network input), in float32: float64 takes minutes for q = 33 on two cores, and
the tests' tolerance (1e-3 relative) is far above float32's error. Nothing is redone when the
outputs are newer than the scripts that make them.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_fixture  # noqa: E402

PROG = "make_heatmap_fixture"
PATCHES_PER_PASS = 256


def per_patch_heatmap(model, images, q):
    """N x C x H x W -> N x classes x H x W, one network input per q x q patch."""
    n, _, height, width = images.shape
    half = (q - 1) // 2
    padded = F.pad(images, (half, half, half, half))
    # N x (C q q) x (H W): every patch of the padded image, in row-major pixel order.
    patches = F.unfold(padded, q).transpose(1, 2).reshape(n * height * width, -1, q, q)
    logits = []
    with torch.no_grad():
        for start in range(0, patches.shape[0], PATCHES_PER_PASS):
            batch = patches[start:start + PATCHES_PER_PASS]
            logit_map = model.logit_map(batch)  # batch x 1 x 1 x classes
            assert logit_map.shape[1:3] == (1, 1), "a q x q patch must give a 1 x 1 logit map"
            logits.append(logit_map[:, 0, 0, :])
    return torch.cat(logits).reshape(n, height, width, -1).permute(0, 3, 1, 2)


def up_to_date(out):
    target = os.path.join(out, "dense_heatmap.npy")
    if not os.path.exists(target):
        return False
    sources = [os.path.abspath(__file__), make_fixture.__file__,
               os.path.join(HERE, "bagnet_reference.py")]
    return os.path.getmtime(target) > max(os.path.getmtime(s) for s in sources)


def main(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--q", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", choices=sorted(make_fixture.CONFIGS), default="imagenet")
    parser.add_argument("--classes", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if up_to_date(args.out):
        return 0
    torch.set_num_threads(min(2, torch.get_num_threads()))
    fixture_args = argparse.Namespace(q=args.q, height=args.height, width=args.width, batch=args.batch,
                                      seed=args.seed, format="zip", wrap=False, prefix=False,
                                      config=args.config, classes=args.classes, out=args.out)
    try:
        make_fixture.make_fixture(fixture_args)
        # The same seed rebuilds the same model; the input is the one make_fixture saved.
        model = make_fixture.build_model(args.config, args.q, args.classes, args.seed)
        images = torch.from_numpy(np.load(os.path.join(args.out, "input.npy")))
        dense = per_patch_heatmap(model, images, args.q)
        make_fixture.save_npy(os.path.join(args.out, "dense_heatmap.npy"), dense.numpy())
        os.remove(os.path.join(args.out, "checkpoint.pth"))  # the tests read the converted weights
    except (make_fixture.FixtureError, OSError) as error:
        print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
