#!/usr/bin/env python3
"""PyTorch CPU reference for `neurona bench` on the CNN, LSTM and GRU configs, timed like torch_mlp.py.

Install: as in bench/torch_mlp.py's docstring (torch 2.15.0 from PyPI, CPython 3.11, x86_64).

Method (everything not named here is exactly as in bench/torch_mlp.py):
  * Data: the 60000 Fashion-MNIST training images (gzip IDX), as float32 x/255, held in memory in
    the model's input shape (or `--data synthetic`: random tensors of the same shapes).
  * `--model cnn`: input [b,1,28,28]; Conv2d(1,32,3,padding=1) -> ReLU -> MaxPool2d(2,2) ->
    Conv2d(32,64,3,padding=1) -> ReLU -> MaxPool2d(2,2) -> Dropout(0.2) -> Flatten (64*7*7 = 3136) ->
    Linear(3136,128) -> ReLU -> Dropout(0.3) -> Linear(128,10). The model is in train mode
    throughout, so dropout is active in every timed step.
  * `--model lstm`: the image read row by row, input [b, 28 steps, 28 features];
    nn.LSTM(28, 128, batch_first=True), one layer; the last step's hidden output [b,128] ->
    Linear(128,10).
  * `--model gru`: the same with nn.GRU(28, 128, batch_first=True) in place of the LSTM.
  * All: PyTorch default init; mean cross-entropy on logits; Adam(lr 1e-3, betas (0.9, 0.999),
    eps from `--eps`, default 1e-5 = Burn 0.22 AdamConfig's default epsilon).
  * Epoch: a seeded random permutation of all 60000 images split into 469 batches of 128 (the last
    has 96). The permutation is drawn before the clock starts; each timed step is exactly: index the
    batch from the in-memory tensors, forward, loss, backward, zero_grad(set_to_none) + Adam step.
  * Eager mode (no torch.compile); `--threads N` intra-op threads, 1 inter-op thread.
  * `--warmup-steps` untimed steps first, then `--epochs` epochs timed separately; the median is
    reported. final_train_loss is the loss of the very last step (a batch of 96).
Prints one JSON object on stdout (torch_mlp.py's keys plus "model").
"""
import argparse
import json
import os
import sys

import torch
from torch import nn

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing the sibling script
from torch_mlp import common_arguments, read_idx, setup, time_epochs  # noqa: E402

N_TRAIN, SIDE, N_OUT = 60000, 28, 10
LSTM_HIDDEN = 128


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Dropout(0.2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, N_OUT),
        )

    def forward(self, x):  # x: [b, 1, 28, 28]
        return self.head(self.features(x))


class Recurrent(nn.Module):
    """One recurrent layer (`nn.LSTM` or `nn.GRU`) over the rows, its last output classified."""

    def __init__(self, cell):
        super().__init__()
        self.recurrent = cell(SIDE, LSTM_HIDDEN, batch_first=True)
        self.out = nn.Linear(LSTM_HIDDEN, N_OUT)

    def forward(self, x):  # x: [b, 28 steps, 28 features]
        seq, _ = self.recurrent(x)
        return self.out(seq[:, -1])


def load_data(args, gen):
    """Images as float32 [N, 28, 28] in [0, 1], labels as int64 [N]."""
    if args.data == "synthetic":
        x = torch.rand(N_TRAIN, SIDE, SIDE, generator=gen)
        y = torch.randint(0, N_OUT, (N_TRAIN,), generator=gen)
        return x, y
    x = read_idx(os.path.join(args.data_dir, "train-images-idx3-ubyte.gz"))
    y = read_idx(os.path.join(args.data_dir, "train-labels-idx1-ubyte.gz"))
    return x.reshape(-1, SIDE, SIDE).float().div_(255.0), y.long()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", choices=["cnn", "lstm", "gru"], required=True)
    common_arguments(p)
    args = p.parse_args()
    gen = setup(args)
    x, y = load_data(args, gen)
    if args.model == "cnn":
        x = x.unsqueeze(1)  # [N, 1, 28, 28]; a recurrent net reads [N, 28 steps, 28 features]
    model = {"cnn": Cnn, "lstm": lambda: Recurrent(nn.LSTM), "gru": lambda: Recurrent(nn.GRU)}[
        args.model
    ]()
    report = time_epochs(args, model, x.contiguous(), y, gen)
    print(json.dumps({"model": args.model, **report}))


if __name__ == "__main__":
    main()
