#!/usr/bin/env python3
"""Writes data/circle.csv: 400 points uniform in [-2, 2]², labelled 1 outside the unit circle
(the course's boundary f(-1 + x1² + x2²)), with 5 % of the labels flipped so that the classes
overlap and the maximum-likelihood estimate exists. Seeded; run from the repository root."""
import numpy as np

rng = np.random.default_rng(20261127)
x = rng.uniform(-2.0, 2.0, size=(400, 2))
y = (x[:, 0] ** 2 + x[:, 1] ** 2 > 1.0).astype(int)
flip = rng.random(400) < 0.05
y[flip] = 1 - y[flip]
with open("data/circle.csv", "w") as f:
    f.write("x1,x2,y\n")
    for (a, b), label in zip(x, y):
        f.write(f"{a:.6f},{b:.6f},{label}\n")
print("outside:", y.sum(), "flipped:", flip.sum())
