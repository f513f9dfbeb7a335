#!/usr/bin/python3
"""Memory and waiting of `bagnet train --data-dir` as the folder grows.

Usage: data_scale.py [--bin build/bin/bagnet] [--dir /tmp/bagnet-scale] [--counts 2000,20000]
                     [--wait-steps 10]

1. Peak RSS and wall time of `bagnet train --arch bagnet9 --data-dir D --steps 2 --batch-size 8`
   on folders of the same small JPEGs (160 x 120) in increasing numbers: the peak must not grow
   with the folder beyond its file list, nor the time to the first step.
2. The fraction of step time BagNet-9 training at 224 x 224 (batch 8, the default worker count)
   spends waiting for data, from the run's metrics (data_wait_fraction), on 500 x 375 JPEGs.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from generated_jpegs import make_folder


def run_child(command):
    """Wall seconds and peak RSS (MiB) of one child process, from its own rusage."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {child.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "bagnet"))
    parser.add_argument("--dir", default="/tmp/bagnet-scale")
    parser.add_argument("--counts", default="2000,20000")
    parser.add_argument("--wait-steps", type=int, default=10)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp()
    print("| JPEGs (160 x 120) | peak RSS MiB | wall s (2 steps, BagNet-9, batch 8, --size 224) | file list bytes |")
    print("| --- | --- | --- | --- |")
    for count in (int(c) for c in args.counts.split(",")):
        folder = os.path.join(args.dir, f"n{count}")
        make_folder(folder, count, 160, 120)
        listing = sum(len(os.path.join(root, f)) + 1 for root, _, files in os.walk(folder) for f in files)
        seconds, peak = run_child([args.bin, "train", "--arch", "bagnet9", "--classes", "10", "--data-dir", folder,
                                   "--steps", "2", "--batch-size", "8", "--save", os.path.join(scratch, "w.safetensors")])
        print(f"| {count} | {peak:.0f} | {seconds:.1f} | {listing} |")

    folder = os.path.join(args.dir, "photos")
    make_folder(folder, 400, 500, 375)
    metrics = os.path.join(scratch, "m.json")
    subprocess.run([args.bin, "train", "--arch", "bagnet9", "--classes", "10", "--data-dir", folder, "--steps",
                    str(args.wait_steps), "--batch-size", "8", "--save", os.path.join(scratch, "w.safetensors"),
                    "--metrics", metrics], check=True, stdout=subprocess.DEVNULL)
    m = json.load(open(metrics))
    print(f"BagNet-9 224 x 224 batch 8, {m['steps']} steps, {m['workers']} worker(s): "
          f"{m['images_per_second']:.2f} img/s trained, waiting for data {100 * m['data_wait_fraction']:.2f}% "
          f"of step time ({m['data_wait_seconds']:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
