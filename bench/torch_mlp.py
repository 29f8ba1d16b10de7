#!/usr/bin/env python3
"""PyTorch CPU reference for `neurona bench`: same MLP training workload, timed the same way.

Install (PyPI only; torch 2.15.0, tested with CPython 3.11 on x86_64). PyPI's x86_64 torch wheel is
a CUDA build, and libtorch links the CUDA libraries even on CPU, so these nvidia-* wheels are needed
for `import torch`. Leaving out triton, cusolver, nvtx, cccl and cuda-bindings saves ~1.3 GB
(about 2.5 GB download / 3.9 GB installed, against 5.2 GB for a plain `pip install torch`):

  pip install --no-deps torch==2.15.0 nvidia-cuda-runtime==13.2.86 nvidia-cuda-cupti==13.2.86 \
    nvidia-cuda-nvrtc==13.2.86 nvidia-cublas==13.4.1.3 nvidia-cudnn-cu13==9.26.0.51 \
    nvidia-cufft==12.2.0.57 nvidia-cufile==1.17.1.22 nvidia-cusparse==12.7.10.12 \
    nvidia-cusparselt-cu13==0.8.1 nvidia-nccl-cu13==2.30.7 nvidia-nvjitlink==13.5.37 \
    nvidia-nvshmem-cu13==3.7.2
  pip install filelock typing-extensions sympy networkx jinja2 fsspec

Method:
  * Data: the 60000 Fashion-MNIST training images (gzip IDX), as float32 x/255 flattened to 784,
    held in memory (or `--data synthetic`: random tensors of the same shapes).
  * Model: Linear(784,512) -> ReLU -> Linear(512,10), PyTorch default init; mean cross-entropy on
    logits; Adam(lr 1e-3, betas (0.9, 0.999), eps 1e-5 = Burn 0.22 AdamConfig's default epsilon).
  * Epoch: a seeded random permutation of all 60000 images split into 469 batches of 128 (the last
    has 96). The permutation is drawn before the clock starts; each timed step is exactly: index the
    batch from the in-memory tensors, forward, loss, backward, zero_grad(set_to_none) + Adam step.
  * Eager mode (no torch.compile); `--threads N` intra-op threads, 1 inter-op thread.
  * `--warmup-steps` untimed steps first, then `--epochs` epochs timed separately; the median is
    reported. final_train_loss is the loss of the very last step (a batch of 96).
Prints one JSON object on stdout.
"""
import argparse
import gzip
import json
import os
import resource
import statistics
import struct
import time

import torch
import torch.nn.functional as F
from torch import nn

N_TRAIN, N_IN, N_HIDDEN, N_OUT = 60000, 784, 512, 10


def read_idx(path):
    """Read a gzip IDX file of unsigned bytes into a uint8 tensor of its stated shape."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(raw[4 + 4 * ndim :]), dtype=torch.uint8).reshape(dims)


def load_data(args, gen):
    if args.data == "synthetic":
        x = torch.rand(N_TRAIN, N_IN, generator=gen)
        y = torch.randint(0, N_OUT, (N_TRAIN,), generator=gen)
        return x, y
    x = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte.gz"))
    return x.reshape(-1, N_IN).float().div_(255.0).contiguous(), y.long()


def common_arguments(p):
    """The flags every PyTorch reference takes (torch_layers.py adds --model)."""
    p.add_argument("--data", choices=["fashion-mnist", "synthetic"], default="fashion-mnist")
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--warmup-steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eps", type=float, default=1e-5, help="Adam epsilon (Burn default 1e-5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda (data and model live there; timings synchronise)")


def setup(args):
    """Threads and seeds, before any data is made; returns the permutation generator."""
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)
    return torch.Generator().manual_seed(args.seed)


def time_epochs(args, model, x, y, gen):
    """Warm-up steps, then `args.epochs` timed epochs of Adam steps; the report as a dict."""
    dev = torch.device(args.device)
    x, y = x.to(dev), y.to(dev)
    model = model.to(dev)
    model.train()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=args.eps)

    def step(idx):
        xb, yb = x[idx], y[idx]
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def epoch_batches():
        return [b.to(dev) for b in torch.randperm(len(x), generator=gen).split(args.batch_size)]

    for idx in epoch_batches()[: args.warmup_steps]:
        step(idx)
    sync()

    epoch_seconds, loss = [], None
    for _ in range(args.epochs):
        batches = epoch_batches()
        t0 = time.perf_counter()
        for idx in batches:
            loss = step(idx)
        sync()
        epoch_seconds.append(time.perf_counter() - t0)

    median = statistics.median(epoch_seconds)
    return {
        "framework": "pytorch",
        "device": str(dev),
        "version": torch.__version__,
        "threads": args.threads,
        "data": args.data,
        "steps_per_epoch": len(batches),
        "batch_size": args.batch_size,
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
        "median_epoch_seconds": round(median, 4),
        "steps_per_s": round(len(batches) / median, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "final_train_loss": loss.item(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_arguments(p)
    args = p.parse_args()
    gen = setup(args)
    x, y = load_data(args, gen)
    model = nn.Sequential(nn.Linear(N_IN, N_HIDDEN), nn.ReLU(), nn.Linear(N_HIDDEN, N_OUT))
    print(json.dumps(time_epochs(args, model, x, y, gen)))


if __name__ == "__main__":
    main()
