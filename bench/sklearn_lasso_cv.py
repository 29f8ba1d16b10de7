#!/usr/bin/env python3
"""scikit-learn side of the Lasso cross-validation benchmark (see BENCHMARKS.md).

Same preprocessing as neurona (Hitters, rows without Salary dropped, categorical columns one-hot
encoded in place with the first sorted level dropped, features z-scored with the population std),
then LassoCV(cv=KFold(5), alphas=50, eps=1e-3) timed in-process, fit only, median of --repeats.
`--tol` defaults to scikit-learn's 1e-4; neurona's default tolerance is far tighter (1e-12).
Prints one JSON object.
"""
import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LassoCV
from sklearn.model_selection import KFold

p = argparse.ArgumentParser()
p.add_argument("--repeats", type=int, default=20)
p.add_argument("--tol", type=float, default=1e-4)
args = p.parse_args()

df = pd.read_csv("data/Hitters.csv").dropna(subset=["Salary"])
y = df.pop("Salary").to_numpy(float)
cols = []
for name in df.columns:
    if not pd.api.types.is_numeric_dtype(df[name]):
        for level in sorted(df[name].unique())[1:]:
            cols.append((df[name] == level).astype(float).to_numpy())
    else:
        cols.append(df[name].to_numpy(float))
X = np.column_stack(cols)
X = (X - X.mean(axis=0)) / X.std(axis=0)

times = []
for _ in range(args.repeats):
    t0 = time.perf_counter()
    model = LassoCV(cv=KFold(5), alphas=50, eps=1e-3, tol=args.tol, max_iter=10**6).fit(X, y)
    times.append(time.perf_counter() - t0)
print(json.dumps({"framework": f"scikit-learn {sklearn.__version__}", "tol": args.tol, "repeats": args.repeats,
                  "median_seconds": statistics.median(times), "chosen_alpha": model.alpha_}))
