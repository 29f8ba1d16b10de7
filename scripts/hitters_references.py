#!/usr/bin/env python3
"""Reference values for the linear-regression tests, from scikit-learn and statsmodels.

Writes tests/fixtures/hitters_references.json. Run from the repository root:
    python3 scripts/hitters_references.py
Versions used for the committed file are recorded inside it.

Preprocessing (the same as neurona's): Hitters.csv, rows without Salary dropped (263 left),
categorical columns (League, Division, NewLeague) one-hot encoded in place with the first level
(in sorted order) dropped; for the penalised fits features are z-scored with the population std
(ddof=0, as StandardScaler) and y is centred. Solvers run at tight tolerance so that the
references are the exact optima to ~1e-10, not solver artefacts.
"""
import json
import sys

import numpy as np
import pandas as pd
import sklearn
import statsmodels
import statsmodels.api as sm
from sklearn.linear_model import ElasticNet, Lasso, LassoCV, Ridge
from sklearn.model_selection import KFold

df = pd.read_csv("data/Hitters.csv").dropna(subset=["Salary"])
y = df.pop("Salary").to_numpy(float)
columns = []
for name in df.columns:
    if df[name].dtype == object or str(df[name].dtype) in ("str", "string"):
        levels = sorted(df[name].unique())
        for level in levels[1:]:
            columns.append((f"{name}_{level}", (df[name] == level).astype(float).to_numpy()))
    else:
        columns.append((name, df[name].to_numpy(float)))
names = [n for n, _ in columns]
X = np.column_stack([c for _, c in columns])
mean, std = X.mean(axis=0), X.std(axis=0)
Xs = (X - mean) / std
yc = y - y.mean()

ols = sm.OLS(y, sm.add_constant(X)).fit()
out = {
    "generator": f"scripts/hitters_references.py; numpy {np.__version__}, scikit-learn {sklearn.__version__}, statsmodels {statsmodels.__version__}, python {sys.version.split()[0]}",
    "n": int(len(y)),
    "names": names,
    "ols": {
        "intercept": ols.params[0],
        "coef": list(ols.params[1:]),
        "se": list(ols.bse),
        "t": list(ols.tvalues),
        "p": list(ols.pvalues),
        "r2": ols.rsquared,
    },
    "ridge": [], "lasso": [], "elasticnet": [],
}
for alpha in [0.1, 1.0, 10.0, 100.0, 1000.0]:
    m = Ridge(alpha=alpha, solver="cholesky").fit(Xs, yc)
    out["ridge"].append({"alpha": alpha, "intercept": m.intercept_, "coef": list(m.coef_)})
for alpha in [0.5, 2.0, 10.0, 50.0, 150.0]:
    m = Lasso(alpha=alpha, tol=1e-14, max_iter=10**7).fit(Xs, yc)
    out["lasso"].append({"alpha": alpha, "intercept": m.intercept_, "coef": list(m.coef_)})
    m = ElasticNet(alpha=alpha, l1_ratio=0.5, tol=1e-14, max_iter=10**7).fit(Xs, yc)
    out["elasticnet"].append({"alpha": alpha, "l1_ratio": 0.5, "intercept": m.intercept_, "coef": list(m.coef_)})
cv = LassoCV(cv=KFold(5), alphas=50, eps=1e-3, tol=1e-12, max_iter=10**7).fit(Xs, yc)
out["lasso_cv"] = {
    "folds": 5, "n_alphas": 50, "eps": 1e-3,
    "alphas": list(cv.alphas_),
    "mse_mean": list(cv.mse_path_.mean(axis=1)),
    "alpha": cv.alpha_,
}
with open("tests/fixtures/hitters_references.json", "w") as f:
    json.dump(out, f, indent=1)
print("wrote tests/fixtures/hitters_references.json; LassoCV alpha", cv.alpha_)
