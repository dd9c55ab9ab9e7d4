"""Benchmark single model fits: coxph on 100,000 x 30 and xgb-cox on 100,000 x 150.

Usage::

    .venv/bin/python benchmarks/bench_models.py [--n 100000] [--nthread 1 2] [--repeats 1]

Fits the full pipelines of :func:`radiorisk.models.make_model` (preprocessing
included) on synthetic patients: a mixed table with categorical clinical
columns, continuous features, and a PET block missing in 60 % of patients.
Prints, measured in this run: the wall time of each fit and of predicting
every row, the ratio to its target (coxph fit < 60 s; xgb-cox: fit plus 5x5
cross-validation < 300 s, projected here as 25 fits on 80 % of the rows plus
one on all, assuming time linear in rows — the CV module measures the real
thing), and the peak resident memory of the process.  Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np
import pandas as pd

from radiorisk.models import make_model, make_y

COX_TARGET_S = 60.0
CV_TARGET_S = 300.0


def synthetic(n: int, p: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """n patients x p columns: 3 categoricals, p - 5 continuous (correlated), 2 PET (NaN 60 %)."""
    rng = np.random.default_rng(seed)
    k = p - 5
    latent = rng.standard_normal((n, 5))
    load = rng.normal(0, 0.5, (5, k))
    cont = latent @ load + rng.standard_normal((n, k))
    X = pd.DataFrame(cont, columns=[f"f{j:03d}" for j in range(k)])
    X["sex"] = np.where(rng.random(n) < 0.56, "male", "female")
    X["smoking"] = rng.choice(["never", "former", "current"], n, p=[0.5, 0.3, 0.2])
    X["diabetes"] = rng.choice(["none", "type2", "type1"], n, p=[0.85, 0.13, 0.02])
    pet = rng.random(n) < 0.4
    X["tbr_max"] = np.where(pet, np.exp(0.3 * latent[:, 0] + 0.1 * rng.standard_normal(n)), np.nan)
    X["cma"] = np.where(pet, np.maximum(latent[:, 0] + rng.standard_normal(n), 0), np.nan)
    lp = 0.4 * latent[:, 0] + 0.3 * latent[:, 1] + 0.2 * (X["sex"] == "male") + 0.3 * (X["diabetes"] != "none")
    T = rng.exponential(6000 / np.exp(lp))
    C = rng.uniform(1000, 2600, n)
    return X, make_y(np.minimum(T, C) + 0.5, T <= C)


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0**2


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--nthread", type=int, nargs="+", default=[1, 2],
                    help="xgboost thread counts to time (default: 1 and 2)")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    n = args.n
    print(f"{'model':<10}{'n':>8}{'p':>5}{'fit s':>9}{'predict s':>11}{'target':>26}{'ratio':>7}"
          f"{'peak MB':>9}")

    X, y = synthetic(n, 30, seed=1)
    fit_s, est = timed(lambda: make_model("coxph").fit(X, y), args.repeats)
    pred_s, _ = timed(lambda: est.predict_risk(X), args.repeats)
    print(f"{'coxph':<10}{n:>8}{30:>5}{fit_s:>9.2f}{pred_s:>11.2f}{'fit < 60 s':>26}"
          f"{fit_s / COX_TARGET_S:>7.2f}{peak_rss_mb():>9.0f}")
    del X, y, est

    X, y = synthetic(n, 150, seed=2)
    for nthread in args.nthread:
        fit_s, est = timed(lambda nt=nthread: make_model("xgb-cox", nthread=nt, random_state=0).fit(X, y),
                           args.repeats)
        pred_s, _ = timed(lambda e=est: e.predict_risk(X), args.repeats)
        projected = fit_s * (1 + 25 * 0.8) + pred_s * 25 * 0.2
        label = f"xgb-cox/{nthread}t"
        print(f"{label:<10}{n:>8}{150:>5}{fit_s:>9.2f}{pred_s:>11.2f}{'fit + 5x5 CV < 300 s':>26}"
              f"{projected / CV_TARGET_S:>7.2f}{peak_rss_mb():>9.0f}")
    print("(xgb-cox: 300 trees, depth 3, hist; /Nt = nthread; ratio = (fit + 25 fits on 80 % of the "
          f"rows + 25 predictions on 20 %) / 300 s; median of {args.repeats} repeat(s); "
          "peak = process max RSS so far)")
    print(f"load average during the run: {' '.join(f'{v:.1f}' for v in os.getloadavg())} "
          f"on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
