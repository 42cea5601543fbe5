#!/usr/bin/env python3
"""optbinning peer of `credo bench fit`.

Repeated k-fold cross-validation of an optbinning Scorecard (BinningProcess
over every feature column + sklearn LogisticRegression) on exactly the splits
`credo bench fit --splits FILE` wrote: one line per repeat, the fold (0..k-1)
of each data row in file order.

    target/release/credo bench fit --splits /tmp/splits.txt
    python3 bench/fit-peer.py --splits /tmp/splits.txt

Setup follows optbinning's documented scorecard example with its defaults:
BinningProcess(feature names, categorical_variables=<non-numeric columns>,
selection_criteria={"iv": {"min": 0.02}}) -- the same minimum information
value as credo's default --min-iv; the tutorial's extra
"quality_score" criterion is left out to keep the selection rule alike --
LogisticRegression() with sklearn defaults, scaling_method="min_max"
(300..850; scaling does not change the AUC).

Per split only `Scorecard.fit()` is timed (time.perf_counter).  The AUC is
that of the test fold: roc_auc_score(bad, predict_proba(X)[:, 1]), bad = 1.
It is cross-checked against the scaled score (higher = better, i.e.
P(score_good > score_bad)), so a sign slip shows up as an error, not 1 - AUC.

Output: one JSON line on stdout; progress on stderr.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import optbinning
from optbinning import BinningProcess, Scorecard

# optbinning 1.0.0 under pandas 3 emits Pandas4Warning deprecations (reset_index
# inplace=, incompatible-dtype setitem) on every fit; they do not change results.
warnings.simplefilter("ignore")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="data/germancredit.csv",
                   help="CSV with a header (relative paths: to the repo root)")
    p.add_argument("--splits", required=True,
                   help="written by `credo bench fit --splits FILE`")
    p.add_argument("--target", default="creditability")
    p.add_argument("--good", default="good")
    a = p.parse_args()

    data = a.data if os.path.isabs(a.data) else os.path.join(REPO, a.data)
    df = pd.read_csv(data)
    if a.target not in df.columns:
        sys.exit(f"no column {a.target!r} in {data}")
    y = (df[a.target].astype(str) != a.good).astype(int).to_numpy()  # bad = event = 1
    X = df.drop(columns=[a.target])
    features = list(X.columns)
    categorical = [c for c in features if not pd.api.types.is_numeric_dtype(X[c])]
    n = len(df)

    with open(a.splits) as f:
        splits = [np.array([int(v) for v in line.split(",")])
                  for line in f if line.strip()]
    for r, fold in enumerate(splits):
        if len(fold) != n:
            sys.exit(f"splits line {r + 1}: {len(fold)} folds for {n} rows")
    k = int(max(fold.max() for fold in splits)) + 1

    print(f"optbinning {optbinning.__version__}, scikit-learn {sklearn.__version__}, "
          f"{n} rows, {len(features)} features ({len(categorical)} categorical), "
          f"{len(splits)}x{k}-fold", file=sys.stderr)

    aucs, times = [], []
    for r, fold in enumerate(splits):
        for f in range(k):
            tr, te = fold != f, fold == f
            bp = BinningProcess(features, categorical_variables=categorical,
                                selection_criteria={"iv": {"min": 0.02}})
            sc = Scorecard(binning_process=bp, estimator=LogisticRegression(),
                           scaling_method="min_max",
                           scaling_method_params={"min": 300, "max": 850})
            Xtr, ytr = X[tr], y[tr]
            t0 = time.perf_counter()
            sc.fit(Xtr, ytr)
            times.append(time.perf_counter() - t0)
            Xte, yte = X[te], y[te]
            auc = roc_auc_score(yte, sc.predict_proba(Xte)[:, 1])
            # Cross-check with the scaled score: with reverse_scorecard=False
            # (the default) a higher score is better (fewer bads), so
            # P(score_good > score_bad) = 1 - AUC(bad, score) must equal the
            # probability AUC.
            auc_s = 1 - roc_auc_score(yte, sc.score(Xte))
            if abs(auc - auc_s) > 1e-9:
                sys.exit(f"repeat {r} fold {f}: probability AUC {auc} vs score AUC {auc_s}")
            aucs.append(float(auc))
            selected = len(sc.binning_process_.get_support(names=True))
            print(f"repeat {r} fold {f}: AUC {auc:.4f}, fit {times[-1] * 1e3:.1f} ms, "
                  f"{selected}/{len(features)} selected", file=sys.stderr)

    print(json.dumps({
        "peer": "optbinning",
        "optbinning_version": optbinning.__version__,
        "sklearn_version": sklearn.__version__,
        "folds": k,
        "repeats": len(splits),
        "mean_auc": sum(aucs) / len(aucs),
        "aucs": aucs,
        "median_fit_s": statistics.median(times),
        "total_fit_s": sum(times),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
