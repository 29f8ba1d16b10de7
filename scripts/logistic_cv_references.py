#!/usr/bin/env python3
"""Reference values for the logistic-regression cross-validation tests, from scikit-learn.

Writes tests/fixtures/logistic_cv_references.json. Run from the repository root:
    python3 scripts/logistic_cv_references.py
Versions are recorded in the file.

Preprocessing mirrors neurona's: Default.csv; the target `default` coded 1 for "Yes"; features
student_Yes (1.0 where student == "Yes"), balance, income, in that order, each z-scored with its
mean and population std (ddof=0) over all 10000 rows, before any fold split. Folds are
KFold(n_splits=5): contiguous, unshuffled. For each fold and each C on the grid an L2-penalised
LogisticRegression (newton-cholesky) is fitted on the other four folds and scored by the mean
log-loss on the held-out fold; the script checks these against LogisticRegressionCV's scores_
(scoring="neg_log_loss") and records LogisticRegressionCV's chosen C and refit on all rows.
scikit-learn >= 1.8 spells plain L2 as l1_ratio(s)=0 (`penalty` is deprecated there).
"""
import json
import sys

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import log_loss
from sklearn.model_selection import KFold

df = pd.read_csv("data/Default.csv")
y = (df["default"] == "Yes").astype(float).to_numpy()
X = np.column_stack([(df["student"] == "Yes").astype(float), df["balance"], df["income"]])
X = (X - X.mean(axis=0)) / X.std(axis=0)
Cs = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0, 10.0]
kfold = KFold(n_splits=5)
opts = dict(solver="newton-cholesky", tol=1e-12, max_iter=10000)

clf = LogisticRegressionCV(Cs=Cs, l1_ratios=(0.0,), cv=kfold, scoring="neg_log_loss", refit=True,
                           use_legacy_attributes=False, **opts).fit(X, y)
assert np.allclose(clf.Cs_, Cs, rtol=0, atol=0)

fold_ll, fold_sizes = [], []
for train, test in kfold.split(X):
    fold_sizes.append(int(len(test)))
    fold_ll.append([log_loss(y[test], LogisticRegression(C=C, l1_ratio=0.0, **opts)
                             .fit(X[train], y[train]).predict_proba(X[test])[:, 1]) for C in Cs])
cv_ll = -clf.scores_[:, 0, :]  # (folds, l1_ratios, Cs) without the legacy attributes
assert np.abs(np.array(fold_ll) - cv_ll).max() < 1e-8, np.abs(np.array(fold_ll) - cv_ll).max()
mean_ll = np.mean(fold_ll, axis=0)
assert clf.C_ == Cs[int(np.argmin(mean_ll))]

out = {"generator": f"scripts/logistic_cv_references.py; python {sys.version.split()[0]}, numpy {np.__version__}, "
                    f"pandas {pd.__version__}, scikit-learn {sklearn.__version__}",
       "n": int(len(y)), "features": ["student_Yes", "balance", "income"], "folds": kfold.get_n_splits(),
       "cs": Cs, "fold_log_loss": fold_ll, "mean_log_loss": list(map(float, mean_ll)), "chosen_c": float(clf.C_),
       "refit_intercept": float(clf.intercept_[0]), "refit_coef": list(map(float, clf.coef_[0])),
       "fold_sizes": fold_sizes}
with open("tests/fixtures/logistic_cv_references.json", "w") as f:
    json.dump(out, f, indent=1)
best, second = np.sort(mean_ll)[:2]
for C, m in zip(Cs, mean_ll):
    print(f"C={C:<8g} mean log-loss {m:.12f}")
print("chosen C", clf.C_, "margin", second - best, "relative", (second - best) / best)
print("refit", out["refit_intercept"], out["refit_coef"])
