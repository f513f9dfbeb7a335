#!/usr/bin/python3
"""Data-parallel training by PyTorch DistributedDataParallel (gloo, 2 processes), the reference for
`mpirun -np 2 bagnet train` with per-process batch norm.

    make_ddp_fixture.py --steps 2 --batch 16 --seed 31 --lr 0.01 --out DIR

The small BagNet-9 (tests/reference/bagnet_reference.py `small`, 28 x 28 grey, 10 classes, random
weights and batch-norm statistics) trains for --steps steps of torch.optim.SGD (momentum 0.9,
weight decay 1e-4, cross-entropy) on the same global batch every step: process r takes images
[r * B/2, (r + 1) * B/2). DDP averages the gradients and, before every forward pass, broadcasts
process 0's batch-norm running statistics (broadcast_buffers). Written to DIR:
  weights.safetensors, input.npy (float32 B x 1 x 28 x 28), labels.npy (int64 B),
  after.safetensors  process 0's state_dict after the steps, in float64 rounded to float32
  tolerance.json     {key: r}, r the relative norm of a float32 run's change against float64's, the
                     largest over PyTorch's float32 run and PERTURBED_RUNS runs on inputs moved by
                     one rounding unit (float32's spread, ReLU masks that rounding flips included)
"""
import argparse
import json
import os
import socket
import sys
import tempfile

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)
from bagnet_reference import randomize, small  # noqa: E402
from convert_checkpoint import atomic_output, write_safetensors  # noqa: E402

PROCESSES = 2
PERTURBED_RUNS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank, port, runs, labels, args, result_path):
    """Trains every run (initial state, images, dtype) in turn in one process group: starting the
    processes, each importing torch, is what costs, not the steps."""
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=PROCESSES)
    results = []
    for state, images, dtype in runs:
        model = small(9).to(dtype)
        model.load_state_dict(state)
        model.train()
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=args.lr, momentum=0.9, weight_decay=1e-4)
        share = args.batch // PROCESSES
        x = images[rank * share:(rank + 1) * share].to(dtype)
        y = labels[rank * share:(rank + 1) * share]
        for _ in range(args.steps):
            optimizer.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            optimizer.step()
        results.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    if rank == 0:
        torch.save(results, result_path)
    dist.barrier()
    dist.destroy_process_group()


def train(runs, labels, args):
    """The state after DDP training, for each (initial state, images, dtype) of `runs`."""
    with tempfile.TemporaryDirectory() as scratch:
        result_path = os.path.join(scratch, "states.pt")
        mp.start_processes(worker, args=(free_port(), runs, labels, args, result_path),
                           nprocs=PROCESSES, start_method="spawn")
        return torch.load(result_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if os.path.exists(os.path.join(args.out, "tolerance.json")):
        return 0  # made before: the inputs are this script and its arguments, both fixed
    os.makedirs(args.out, exist_ok=True)
    model = randomize(small(9), args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.batch, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (args.batch,), generator=generator)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # float32's spread: PyTorch's own float32 run, and runs on inputs moved by one rounding
    # unit. A ReLU input within rounding of zero flips its mask in some float32 runs and not in
    # others, and one flip moves every update upstream of it by ~1e-3 (the batch norms spread
    # it over whole channels): a single float32 run would time that luck into the tolerance.
    runs = [({k: v.double() if v.is_floating_point() else v for k, v in before.items()}, images, torch.float64)]
    for run in range(PERTURBED_RUNS + 1):
        noise = torch.rand(images.shape, generator=torch.Generator().manual_seed(1000 + run)) * 2 - 1
        moved = images if run == 0 else images * (1 + noise * 2.0 ** -24)
        runs.append((before, moved, torch.float32))
    exact, *singles = train(runs, labels, args)
    tolerance = {}
    for single in singles:
        for key, value in exact.items():
            if value.is_floating_point():
                change = value - before[key].double()
                spread = (single[key].double() - before[key].double() - change).norm().item() / max(
                    change.norm().item(), 1e-30)
                tolerance[key] = max(tolerance.get(key, 0.0), spread)
    write_safetensors(before, os.path.join(args.out, "weights.safetensors"))
    write_safetensors(exact, os.path.join(args.out, "after.safetensors"))
    for name, array, dtype in (("input.npy", images.numpy(), np.float32), ("labels.npy", labels.numpy(), np.int64)):
        with atomic_output(os.path.join(args.out, name)) as temporary, open(temporary, "wb") as out:
            np.save(out, np.ascontiguousarray(array, dtype=dtype))
    with atomic_output(os.path.join(args.out, "tolerance.json")) as temporary, open(temporary, "w") as out:
        json.dump(tolerance, out, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
