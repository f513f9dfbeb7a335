#!/usr/bin/python3
"""Data-parallel training throughput: bagnet on MPI processes against bagnet on one process and
against PyTorch DistributedDataParallel, same run, same work.

    distributed_train_vs_ddp.py --bench BUILD/bin/train_speed [--processes 2] [--rounds 3] [--case NAME]

For each case (BagNet-33 at 224 x 224, global batch 8; the Fashion-MNIST BagNet fashion9 at 28 x 28,
global batch 128), full SGD steps (forward, cross-entropy, backward, gradient exchange, update):
- bagnet, one process x --processes threads (train_speed);
- bagnet, --processes processes x 1 thread (mpirun train_speed), each on its share of the global
  batch, gradients summed in buckets by MPI_Allreduce; it also reports what that exchange costs alone;
- PyTorch 1.13 DDP (gloo), --processes processes x 1 thread, the same split;
- PyTorch on one process x --processes threads, for scale.
The sides alternate for --rounds rounds and each keeps its best (the machine's speed drifts).
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from bagnet_reference import fashion, imagenet  # noqa: E402

CASES = [  # (bagnet name, PyTorch model factory, in channels, size, global batch, steps)
    ("bagnet33", lambda: imagenet(33), 3, 224, 8, 3),
    ("fashion9", lambda: fashion(9), 1, 28, 128, 20),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytorch_steps(model, share, channels, size, steps):
    """Images per second of this process's share (after one warm-up step)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(share, channels, size, size)
    y = torch.arange(share) % 10

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    step()
    if dist.is_initialized():
        dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dist.is_initialized():
        dist.barrier()
    return time.perf_counter() - start


def ddp_worker(rank, processes, port, case, result):
    name, factory, channels, size, batch, steps = CASES[case]
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=processes)
    model = torch.nn.parallel.DistributedDataParallel(factory().train())
    seconds = pytorch_steps(model, batch // processes, channels, size, steps)
    if rank == 0:
        with open(result, "w") as out:
            out.write(str(batch * steps / seconds))
    dist.destroy_process_group()


def ddp_speed(case, processes):
    with tempfile.TemporaryDirectory() as scratch:
        result = os.path.join(scratch, "speed")
        mp.start_processes(ddp_worker, args=(processes, free_port(), case, result), nprocs=processes,
                           start_method="spawn")
        with open(result) as f:
            return float(f.read())


def bagnet_speed(bench, name, size, batch, steps, threads, processes):
    command = [bench, "--arch", name, "--batch", str(batch), "--size", str(size), "--steps", str(steps),
               "--threads", str(threads)]
    if processes > 1:
        command = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-q", "-np", str(processes)] + command
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    speed = float(re.search(r"([0-9.]+) img/s", output).group(1))
    exchange = re.search(r"gradient all-reduce.*", output)
    return speed, exchange.group(0) if exchange else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", required=True, help="the train_speed executable, built with MPI")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--case", choices=[case[0] for case in CASES], help="only this case")
    args = parser.parse_args()
    n = args.processes
    for case, (name, factory, channels, size, batch, steps) in enumerate(CASES):
        if args.case and name != args.case:
            continue
        best = {}
        exchange = ""
        for round_ in range(args.rounds):
            speeds = {}
            speeds[f"bagnet 1 process x {n} threads"], _ = bagnet_speed(args.bench, name, size, batch, steps, n, 1)
            speeds[f"bagnet {n} processes x 1 thread"], exchange = bagnet_speed(args.bench, name, size, batch, steps,
                                                                               1, n)
            speeds[f"PyTorch DDP (gloo) {n} processes x 1 thread"] = ddp_speed(case, n)
            torch.set_num_threads(n)
            seconds = pytorch_steps(factory().train(), batch, channels, size, steps)
            speeds[f"PyTorch 1 process x {n} threads"] = batch * steps / seconds
            print(f"  round {round_ + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in speeds.items()), flush=True)
            for k, v in speeds.items():
                best[k] = max(best.get(k, 0.0), v)
        print(f"{name} {size}px global batch {batch}, img/s (best of {args.rounds}):")
        for k, v in best.items():
            print(f"  {k}: {v:.2f}")
        many, one = best[f"bagnet {n} processes x 1 thread"], best[f"bagnet 1 process x {n} threads"]
        ddp = best[f"PyTorch DDP (gloo) {n} processes x 1 thread"]
        print(f"  bagnet {n} processes / 1 process: {many / one:.2f}; bagnet / PyTorch DDP: {many / ddp:.2f}x")
        print(f"  {exchange}", flush=True)


if __name__ == "__main__":
    main()
