#!/usr/bin/env python3
"""statsmodels side of the logistic-regression benchmark (see BENCHMARKS.md).

Default.csv, default ~ student_Yes + balance + income (+ intercept), Logit fitted by Newton with
the same work neurona's timing includes: the fit, standard errors, z, p-values, confidence
intervals, log-likelihood, null log-likelihood and the 0.5-threshold predictions. Data loading is
not timed. Median of --repeats; prints one JSON object.
"""
import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.api as sm

p = argparse.ArgumentParser()
p.add_argument("--repeats", type=int, default=20)
args = p.parse_args()

df = pd.read_csv("data/Default.csv")
y = (df["default"] == "Yes").astype(float).to_numpy()
X = sm.add_constant(np.column_stack([(df["student"] == "Yes").astype(float), df["balance"], df["income"]]))

times = []
for _ in range(args.repeats):
    t0 = time.perf_counter()
    m = sm.Logit(y, X).fit(disp=0, method="newton", tol=1e-10)
    _ = (m.bse, m.tvalues, m.pvalues, m.conf_int(), m.llf, m.llnull, m.aic, m.predict() >= 0.5)
    times.append(time.perf_counter() - t0)
print(json.dumps({"framework": f"statsmodels {statsmodels.__version__}", "rows": len(y), "repeats": args.repeats,
                  "median_seconds": statistics.median(times), "log_likelihood": m.llf}))
