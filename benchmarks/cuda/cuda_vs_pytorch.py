#!/usr/bin/env python3
"""BagNet-33 on one NVIDIA GPU: bagnet's `cuda` backend against PyTorch, same GPU, same run.

PyTorch runs the tests' reference model (tests/reference/bagnet_reference.py) with cudnn.benchmark
on, in fp32 (TF32 off), TF32 channels-last and bf16 channels-last, at batch 128 and batch 1, and the
reference per-patch heatmap (every 33 x 33 patch of the zero-padded image through the network, in
batches of patches). Each PyTorch time is given two ways: with the input already on the GPU, and
end to end from host memory (as bagnet's times always are: host in, host out). bagnet's numbers
come from build-cuda/bin/cuda_speed. Prints one markdown table.

usage: python3 benchmarks/cuda/cuda_vs_pytorch.py --cuda-speed BIN [--batch 128] [--repeat 10]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
import bagnet_reference  # noqa: E402

SETTINGS = {  # name: (dtype, channels_last, allow_tf32)
    "fp32": (torch.float32, False, False),
    "tf32": (torch.float32, True, True),
    "bf16": (torch.bfloat16, True, False),
}


def configure(name):
    dtype, channels_last, tf32 = SETTINGS[name]
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    model = bagnet_reference.randomize(bagnet_reference.imagenet(33), 0).eval().cuda().to(dtype)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, dtype, channels_last


def timed(function, repeat):
    with torch.no_grad():
        function()
        function()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        torch.cuda.synchronize()
        return (time.perf_counter() - start) / repeat


def pytorch_speeds(name, batch, repeat):
    model, dtype, channels_last = configure(name)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    results = {}
    for label, n, r in (("throughput", batch, repeat), ("latency", 1, 5 * repeat)):
        host = torch.randn(n, 3, 224, 224)
        device = host.cuda().to(dtype).contiguous(memory_format=memory_format)
        on_gpu = timed(lambda: model(device), r)
        end_to_end = timed(lambda: model(host.cuda().to(dtype).contiguous(memory_format=memory_format)).float().cpu(), r)
        results[label] = (on_gpu, end_to_end, n)
    return results


def pytorch_per_patch_heatmap(size=224, q=33, patches_per_batch=1024):
    """Seconds per image for the per-patch definition (the reference method), fp32, TF32 allowed."""
    model, _, _ = configure("tf32")
    model = model.to(memory_format=torch.contiguous_format)
    image = torch.randn(1, 3, size, size).cuda()
    half = (q - 1) // 2

    def heatmap():
        padded = F.pad(image, (half, half, half, half))
        patches = padded.unfold(2, q, 1).unfold(3, q, 1)  # 1 x 3 x H x W x q x q
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, q, q)
        out = torch.empty(patches.shape[0], device="cuda")
        for start in range(0, patches.shape[0], patches_per_batch):
            out[start:start + patches_per_batch] = model(patches[start:start + patches_per_batch])[:, 0]
        return out.reshape(size, size).cpu()

    return timed(heatmap, 2)


def pytorch_training_speed(batch=32, steps=3):
    """img/s of fp32 SGD steps (TF32 off, training-mode batch norm), as bagnet's are measured."""
    model, _, _ = configure("fp32")
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    host = torch.randn(batch, 3, 224, 224)
    labels = torch.arange(batch) % 1000

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(host.cuda()), labels.cuda()).backward()
        optimizer.step()
        torch.cuda.synchronize()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def bagnet_results(binary, batch, repeat):
    result = subprocess.run([binary, "--batch", str(batch), "--repeat", str(repeat)], capture_output=True, text=True)
    print(result.stdout, end="")
    if result.returncode != 0:
        sys.exit(f"{binary} failed: {result.stderr.strip()}")
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"result (\S+) ([0-9.]+)", result.stdout)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda-speed", default=os.path.join(ROOT, "build-cuda", "bin", "cuda_speed"))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    ours = bagnet_results(args.cuda_speed, args.batch, args.repeat)
    device = torch.cuda.get_device_name()
    print(f"\n{device}, PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, BagNet-33 224 x 224\n")
    print("| measurement | PyTorch, input on GPU | PyTorch, host to host | bagnet (host to host) | bagnet vs PyTorch host to host |")
    print("| --- | --- | --- | --- | --- |")
    for name in SETTINGS:
        speeds = pytorch_speeds(name, args.batch, args.repeat)
        on_gpu, end_to_end, n = speeds["throughput"]
        mine = ours[f"throughput_{name}"]
        print(f"| {name} batch {n} img/s | {n / on_gpu:.0f} | {n / end_to_end:.0f} | {mine:.0f} "
              f"| {mine * end_to_end / n:.2f}x |")
        on_gpu, end_to_end, _ = speeds["latency"]
        mine = ours[f"latency_{name}"]
        print(f"| {name} batch 1 latency ms | {1000 * on_gpu:.2f} | {1000 * end_to_end:.2f} | {mine:.2f} "
              f"| {1000 * end_to_end / mine:.2f}x |")
        sys.stdout.flush()
    training = pytorch_training_speed()
    print(f"| fp32 training batch 32 img/s (SGD step, host to host) | - | {training:.0f} | {ours['train_fp32']:.0f} "
          f"| {ours['train_fp32'] / training:.2f}x |")
    per_patch = pytorch_per_patch_heatmap()
    for name in SETTINGS:
        mine = ours[f"dense_heatmap_{name}"]
        print(f"| dense heatmap {name} s/image (PyTorch: per-patch reference, TF32) | {per_patch:.3f} | {per_patch:.3f} "
              f"| {mine:.4f} | {per_patch / mine:.1f}x |")


if __name__ == "__main__":
    main()
