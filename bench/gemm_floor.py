#!/usr/bin/env python3
"""The gemm floor of each benchmarked network: its multiply-adds per training epoch over this
machine's measured sgemm rate, so BENCHMARKS.md can show how far an epoch is from the hardware.

Method:
  * sgemm rate: torch.mm on float32 matrices, `--threads` intra-op threads (default nproc), square
    sizes 256..2048 and the shapes the networks really multiply (batch 128); the best rate over
    `--repeats` timed calls after one untimed call per shape. PyTorch's mm is MKL/oneDNN-class
    sgemm, so this is a generous (low) floor for any Rust gemm.
  * Multiply-adds of one example's forward pass, counted from the layer shapes (2 FLOPs each):
      MLP 784-512-10: 784·512 + 512·10
      CNN: conv 3×3 1→32 on 28×28 (784·32·9) + conv 3×3 32→64 on 14×14 (196·64·288)
           + dense 3136→128 + 128→10
      LSTM 128 over 28 steps of 28: 28 · 4·128·(28 + 128) + 128·10
      GRU: 28 · 3·128·(28 + 128) + 128·10
    A training step costs three forward passes' products (forward, the gradient with respect to
    the inputs, the gradient with respect to the weights); the first layer needs no input
    gradient, so its products count twice. Element-wise work (activations, pooling, the loss,
    Adam) is left out: the floor is products only.
  * One epoch: 60,000 examples.
Prints one JSON object per network on stdout.
"""
import argparse
import json
import os
import time

import torch

EPOCH = 60_000
SIDE, HIDDEN, CLASSES = 28, 128, 10


def networks():
    """(name, first layer's multiply-adds, the rest's) for one example's forward pass."""
    cnn_first = 784 * 32 * 9
    cnn_rest = 196 * 64 * 288 + 3136 * 128 + 128 * CLASSES
    return [
        ("mlp", 784 * 512, 512 * CLASSES),
        ("cnn", cnn_first, cnn_rest),
        # The input projections are the first layer's; the recurrent products need their gradient.
        ("lstm", SIDE * 4 * HIDDEN * SIDE, SIDE * 4 * HIDDEN * HIDDEN + HIDDEN * CLASSES),
        ("gru", SIDE * 3 * HIDDEN * SIDE, SIDE * 3 * HIDDEN * HIDDEN + HIDDEN * CLASSES),
    ]


def sgemm_rate(repeats):
    """The best float32 mm rate in FLOP/s over square and the networks' own shapes."""
    shapes = [(n, n, n) for n in (256, 512, 1024, 2048)]
    shapes += [(128, 784, 512), (128 * 196, 288, 64), (128, 3136, 128), (128, 128, 512)]
    best = 0.0
    for m, k, n in shapes:
        a, b = torch.rand(m, k), torch.rand(k, n)
        torch.mm(a, b)
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * m * k * n / (time.perf_counter() - start))
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rate = sgemm_rate(args.repeats)
    for name, first, rest in networks():
        flops = 2 * EPOCH * (2 * first + 3 * rest)
        print(json.dumps({
            "network": name,
            "threads": args.threads,
            "sgemm_gflops": round(rate / 1e9, 1),
            "epoch_gflop": round(flops / 1e9, 1),
            "floor_seconds": round(flops / rate, 2),
        }))


if __name__ == "__main__":
    main()
