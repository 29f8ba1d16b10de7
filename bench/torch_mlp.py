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
    logits; Adam(lr 1e-3, betas (0.9, 0.999), eps from `--eps`, default 1e-5 = Burn 0.22
    AdamConfig's default epsilon; configs/fashion-mnist.toml uses 1e-8).
  * Epoch: a seeded random permutation of all 60000 images split into 469 batches of 128 (the last
    has 96). The permutation is drawn before the clock starts; each timed step is exactly: index the
    batch from the in-memory tensors, forward, loss, backward, zero_grad(set_to_none) + Adam step.
  * Eager mode (no torch.compile); `--threads N` intra-op threads, 1 inter-op thread.
  * `--warmup-steps` untimed steps first, then `--epochs` epochs timed separately; the median is
    reported. final_train_loss is the loss of the very last step (a batch of 96).
  * `--full-epoch`: one epoch of `neurona train configs/fashion-mnist.toml` instead, training and
    validation together, to set against the per-epoch `seconds` in that run's metrics.json. The
    x/255 images are split by a seeded permutation into `--validation-fraction` (default 0.1: 6000)
    held-out rows and 54000 training rows (the same sizes as neurona's split, not the same rows:
    the permutation differs), then standardised as (x - mean) / std with one mean and population
    std over all pixels of the training rows (neurona's `standardize = true`). Model, init, loss
    and Adam are as above, with a constant learning rate (not the config's He init or cosine
    schedule; neither changes the work per step). Each timed epoch is one wall-clock interval,
    which this time includes drawing the epoch's permutation: a seeded permutation of the training
    rows into 422 batches of 128 (the last has 112); per batch: index from the device-resident
    tensors, forward, mean cross-entropy, backward, zero_grad(set_to_none) + Adam step, and
    loss x batch size and the correct-prediction count added to accumulators on the device (no
    host read per batch); then, under model.eval() and torch.no_grad(), the 6000 held-out rows in
    consecutive batches of 128 (47 batches), accumulated the same way; then one host read of the
    four sums (train/valid loss and accuracy) and, on CUDA, torch.cuda.synchronize() before the
    clock stops. The training figures come from each batch's forward pass before its step, as a
    training loop reports them. The warm-up steps are training steps (with accumulation) on the
    training rows, without a validation pass. JSON: the keys above except final_train_loss, plus
    "mode": "full_epoch", train_items, valid_items, train_loss, train_accuracy, valid_loss and
    valid_accuracy (of the last timed epoch).
Prints one JSON object on stdout.
"""
import argparse
import gzip
import json
import math
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


def split_standardize(x, y, fraction, gen):
    """Seeded split into training and held-out rows, standardised with the training rows' pixels.

    Returns (x_train, y_train, x_valid, y_valid); one mean and one population std over every pixel
    of the training rows (in float64), applied to both parts, as neurona's `standardize = true`.
    """
    n = len(x)
    n_valid = min(max(math.floor(n * fraction + 0.5), 1 if fraction > 0 else 0), n - 1)
    perm = torch.randperm(n, generator=gen)
    train, valid = perm[: n - n_valid], perm[n - n_valid :]
    x_train, x_valid = x[train], x[valid]
    total = total_sq = 0.0
    for rows in x_train.split(4096):  # float64 sums, a block at a time (no float64 copy of it all)
        rows = rows.double()
        total += rows.sum().item()
        total_sq += rows.square().sum().item()
    mean = total / x_train.numel()
    std = math.sqrt(max(total_sq / x_train.numel() - mean * mean, 0.0)) or 1.0
    x_train.sub_(mean).div_(std)
    x_valid.sub_(mean).div_(std)
    return x_train, y[train], x_valid, y[valid]


def on_device(args, model):
    """The device, the model moved there in train mode, its synchronise function and Adam."""
    dev = torch.device(args.device)
    model = model.to(dev)
    model.train()
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=args.eps)
    return dev, model, sync, opt


def report(args, dev, steps, epoch_seconds):
    """The keys both modes share."""
    median = statistics.median(epoch_seconds)
    return {
        "framework": "pytorch",
        "device": str(dev),
        "version": torch.__version__,
        "threads": args.threads,
        "data": args.data,
        "steps_per_epoch": steps,
        "batch_size": args.batch_size,
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
        "median_epoch_seconds": round(median, 4),
        "steps_per_s": round(steps / median, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def time_epochs(args, model, x, y, gen):
    """Warm-up steps, then `args.epochs` timed epochs of Adam steps; the report as a dict."""
    dev, model, sync, opt = on_device(args, model)
    x, y = x.to(dev), y.to(dev)

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

    return {**report(args, dev, len(batches), epoch_seconds), "final_train_loss": loss.item()}


def time_full_epochs(args, model, x, y, gen):
    """`args.epochs` timed epochs of training plus validation (`--full-epoch`); the report."""
    dev, model, sync, opt = on_device(args, model)
    x_train, y_train, x_valid, y_valid = (
        t.to(dev) for t in split_standardize(x, y, args.validation_fraction, gen)
    )

    def sums():  # loss x items and correct predictions, accumulated on the device
        return torch.zeros((), device=dev), torch.zeros((), dtype=torch.long, device=dev)

    def step(idx, loss_sum, correct):
        xb, yb = x_train[idx], y_train[idx]
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum.add_(loss.detach(), alpha=len(yb))
        correct.add_((logits.detach().argmax(1) == yb).sum())

    def validate(loss_sum, correct):
        model.eval()
        with torch.no_grad():
            for xb, yb in zip(x_valid.split(args.batch_size), y_valid.split(args.batch_size)):
                logits = model(xb)
                loss_sum.add_(F.cross_entropy(logits, yb, reduction="sum"))
                correct.add_((logits.argmax(1) == yb).sum())
        model.train()

    def epoch_batches():
        return torch.randperm(len(x_train), generator=gen).to(dev).split(args.batch_size)

    warm = sums()
    for idx in epoch_batches()[: args.warmup_steps]:
        step(idx, *warm)
    sync()

    epoch_seconds = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        batches = epoch_batches()
        train_sums, valid_sums = sums(), sums()
        for idx in batches:
            step(idx, *train_sums)
        validate(*valid_sums)
        train_loss, train_correct, valid_loss, valid_correct = (
            torch.stack([train_sums[0].double(), train_sums[1].double(), valid_sums[0].double(),
                         valid_sums[1].double()]).tolist()
        )
        sync()
        epoch_seconds.append(time.perf_counter() - t0)

    n_train, n_valid = len(x_train), len(x_valid)
    return {
        "mode": "full_epoch",
        **report(args, dev, len(batches), epoch_seconds),
        "train_items": n_train,
        "valid_items": n_valid,
        "train_loss": train_loss / n_train,
        "train_accuracy": train_correct / n_train,
        "valid_loss": valid_loss / n_valid,
        "valid_accuracy": valid_correct / n_valid,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common_arguments(p)
    p.add_argument("--full-epoch", action="store_true",
                   help="time training + validation per epoch, like `neurona train` (see Method)")
    p.add_argument("--validation-fraction", type=float, default=0.1,
                   help="share of the 60000 images held out for validation (--full-epoch only)")
    args = p.parse_args()
    gen = setup(args)
    x, y = load_data(args, gen)
    model = nn.Sequential(nn.Linear(N_IN, N_HIDDEN), nn.ReLU(), nn.Linear(N_HIDDEN, N_OUT))
    timer = time_full_epochs if args.full_epoch else time_epochs
    print(json.dumps(timer(args, model, x, y, gen)))


if __name__ == "__main__":
    main()
