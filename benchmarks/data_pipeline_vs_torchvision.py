#!/usr/bin/python3
"""Decode + transform throughput of bagnet's input pipeline against torchvision's,
both sides in the same run, on the same folder of generated 500 x 375 JPEGs (the
typical ImageNet photo size).

Usage: data_pipeline_vs_torchvision.py [--images N] [--workers 1,2] [--dir DIR]
                                       [--bin build/bin/data_pipeline]

bagnet: benchmarks/data_pipeline.cpp (BatchStream over ImageFolderDataset,
RandomResizedCrop(224) + flip + normalise, batches of 32). torchvision:
ImageFolder + DataLoader(num_workers=W, batch_size=32) with RandomResizedCrop(224),
RandomHorizontalFlip, ToTensor, Normalize (PIL decoding). Each side runs one
epoch per worker count, alternating, best of two rounds; reported as images/s,
images/s per worker and the ratio.
"""
import argparse
import os
import subprocess
import sys
import time

from generated_jpegs import make_folder


def torchvision_epoch(directory, workers):
    import torch
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(),
                                    transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(directory, transform), batch_size=32, shuffle=True,
                                         num_workers=workers)
    start = time.perf_counter()
    images = sum(len(labels) for _, labels in loader)
    return images / (time.perf_counter() - start)


def bagnet_epoch(binary, directory, workers):
    out = subprocess.run([binary, directory, "--workers", str(workers), "--batch", "32"], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[out.index("images_per_second") + 1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--dir", default="/tmp/bagnet-bench-jpegs")
    parser.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "build", "bin", "data_pipeline"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    make_folder(args.dir, args.images, 500, 375)
    print(f"{args.images} JPEGs of 500 x 375 in {args.dir}; RandomResizedCrop(224) + flip + normalise, batch 32")
    print("| workers | torchvision img/s | bagnet img/s | bagnet img/s per worker | bagnet / torchvision |")
    print("| --- | --- | --- | --- | --- |")
    for workers in (int(w) for w in args.workers.split(",")):
        theirs, ours = 0.0, 0.0
        for _ in range(2):
            theirs = max(theirs, torchvision_epoch(args.dir, workers))
            ours = max(ours, bagnet_epoch(args.bin, args.dir, workers))
        print(f"| {workers} | {theirs:.1f} | {ours:.1f} | {ours / workers:.1f} | {ours / theirs:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
