#!/usr/bin/env python3
"""Reference values for the logistic-regression tests, from statsmodels and scikit-learn.

Writes tests/fixtures/logistic_references.json. Run from the repository root:
    python3 scripts/logistic_references.py
Versions are recorded in the file.

Preprocessing mirrors neurona's: Default.csv; the target `default` coded 1 for its second sorted
level ("Yes"); `student` one-hot encoded in place with the first sorted level dropped
(student_Yes); for the penalised fits the features are z-scored with the population std.
"""
import json
import sys

import numpy as np
import pandas as pd
import sklearn
import statsmodels
import statsmodels.api as sm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

df = pd.read_csv("data/Default.csv")
y = (df["default"] == "Yes").astype(float).to_numpy()
X3 = np.column_stack([(df["student"] == "Yes").astype(float), df["balance"], df["income"]])
names3 = ["student_Yes", "balance", "income"]
out = {"generator": f"scripts/logistic_references.py; numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
                    f"statsmodels {statsmodels.__version__}, python {sys.version.split()[0]}",
       "n": int(len(y))}


def logit(X, names):
    m = sm.Logit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-14, maxiter=100)
    predicted = (m.predict() >= 0.5).astype(int)
    cm = [[int(((y == t) & (predicted == p)).sum()) for p in (0, 1)] for t in (0, 1)]
    ci = m.conf_int()
    return {"names": ["(intercept)"] + names, "coef": list(m.params), "se": list(m.bse), "z": list(m.tvalues),
            "p": list(m.pvalues), "ci_low": list(ci[:, 0]), "ci_high": list(ci[:, 1]), "llf": m.llf,
            "llnull": m.llnull, "aic": m.aic, "deviance": -2 * m.llf, "confusion": cm}


out["balance"] = logit(df[["balance"]].to_numpy(float), ["balance"])
out["three"] = logit(X3, names3)

Xs = (X3 - X3.mean(axis=0)) / X3.std(axis=0)
out["l2"] = []
for C in [0.001, 0.01, 0.1, 1.0, 10.0]:
    m = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(Xs, y)
    out["l2"].append({"C": C, "intercept": m.intercept_[0], "coef": list(m.coef_[0])})
out["l1"] = []
for C in [0.0005, 0.001, 0.01, 1.0]:
    m = LogisticRegression(C=C, l1_ratio=1.0, solver="saga", tol=1e-12, max_iter=10**6).fit(Xs, y)
    out["l1"].append({"C": C, "intercept": m.intercept_[0], "coef": list(m.coef_[0])})

iris = pd.read_csv("data/iris.csv")
Xi = iris.drop(columns="species").to_numpy(float)
Xi = (Xi - Xi.mean(axis=0)) / Xi.std(axis=0)
yi = iris["species"].to_numpy()
m = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10**5).fit(Xi, yi)
out["iris_softmax"] = {"classes": list(m.classes_), "train_accuracy": float((m.predict(Xi) == yi).mean()),
                       "cross_entropy": log_loss(yi, m.predict_proba(Xi))}
with open("tests/fixtures/logistic_references.json", "w") as f:
    json.dump(out, f, indent=1)
print(json.dumps({k: out[k] for k in ("n",)}), out["three"]["coef"], out["three"]["confusion"], out["iris_softmax"])
print([sum(c != 0 for c in r["coef"]) for r in out["l1"]])
