"""Benchmark SHAP values: 100,000 patients x 150 features on a 500-tree xgb-cox pipeline.

Usage::

    .venv/bin/python benchmarks/bench_shap.py [--n 100000] [--p 150] [--trees 500] [--max-depth 3]
                                              [--nthread 2] [--fit-rows 20000] [--shap-rows N]

Fits :func:`radiorisk.models.make_model` ("xgb-cox", preprocessing included)
on ``--fit-rows`` synthetic patients (the model's size, not the fit, is what
SHAP costs), then times on all ``--n`` patients, in this run:

- ``radiorisk.explain.shap_values`` (xgboost's native TreeSHAP, with the
  preprocessing, the mapping back to the input columns and the additivity
  check) against the 60 s target;
- ``shap.TreeExplainer(booster).shap_values`` on the same preprocessed matrix
  (the same exact path-dependent TreeSHAP), and the ratio of the two times
  (wall and process CPU; on a loaded machine the CPU ratio is the fairer one);
- the largest difference between the two sets of values.

``--shap-rows N`` times shap.TreeExplainer on the first N rows only and
scales its time linearly to ``--n`` (marked "projected"); by default it runs
on every row.  Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings

import numpy as np
import pandas as pd

from radiorisk.explain import shap_values
from radiorisk.models import make_model, make_y

TARGET_S = 60.0


def synthetic(n: int, p: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """n patients x p columns in four blocks: 2 categoricals + continuous, PET (NaN in 60 %)."""
    rng = np.random.default_rng(seed)
    k = p - 4
    latent = rng.standard_normal((n, 5))
    cont = latent @ rng.normal(0, 0.5, (5, k)) + rng.standard_normal((n, k))
    X = pd.DataFrame(cont.astype(np.float64), columns=[f"f{j:03d}" for j in range(k)])
    X["sex"] = np.where(rng.random(n) < 0.56, "male", "female")
    X["smoking"] = rng.choice(["never", "former", "current"], n, p=[0.5, 0.3, 0.2])
    pet = rng.random(n) < 0.4
    X["tbr_max"] = np.where(pet, np.exp(0.3 * latent[:, 0] + 0.1 * rng.standard_normal(n)), np.nan)
    X["cma"] = np.where(pet, np.maximum(latent[:, 0] + rng.standard_normal(n), 0), np.nan)
    lp = 0.4 * latent[:, 0] + 0.3 * latent[:, 1] + 0.2 * (X["sex"] == "male")
    T = rng.exponential(6000 / np.exp(lp))
    C = rng.uniform(1000, 2600, n)
    cols = [f"f{j:03d}" for j in range(k)]
    blocks = {"clinical": ["sex", "smoking"] + cols[:20], "ccta": cols[20:60], "radiomics": cols[60:],
              "pet": ["tbr_max", "cma"]}
    return X, make_y(np.minimum(T, C) + 0.5, T <= C), blocks


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0**2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--p", type=int, default=150)
    ap.add_argument("--trees", type=int, default=500)
    ap.add_argument("--max-depth", type=int, default=3)
    ap.add_argument("--nthread", type=int, default=2)
    ap.add_argument("--fit-rows", type=int, default=20_000)
    ap.add_argument("--shap-rows", type=int, default=None,
                    help="rows for shap.TreeExplainer (default: all; fewer = projected linearly)")
    args = ap.parse_args(argv)

    X, y, blocks = synthetic(args.n, args.p, seed=1)
    t0 = time.perf_counter()
    fit_rows = min(args.fit_rows, args.n)
    model = make_model("xgb-cox", n_estimators=args.trees, max_depth=args.max_depth, nthread=args.nthread,
                       random_state=0).fit(X.iloc[:fit_rows], y[:fit_rows])
    fit_s = time.perf_counter() - t0
    p_model = model[:-1].transform(X.iloc[:1]).shape[1]
    print(f"model: xgb-cox, {args.trees} trees, depth {args.max_depth}, fitted on {fit_rows} rows in "
          f"{fit_s:.1f} s; {args.p} input columns -> {p_model} model columns; nthread {args.nthread}")

    t0, c0 = time.perf_counter(), time.process_time()
    res = shap_values(model, X, blocks=blocks)
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"radiorisk.explain.shap_values  n={args.n:>7}  {ours_s:8.2f} s wall  {ours_cpu:8.2f} s CPU   "
          f"target {TARGET_S:.0f} s wall, ratio to target {ours_s / TARGET_S:.2f}   ({res.notes[0]})")

    from radiorisk.explain._common import import_shap

    shap = import_shap()
    Z = model[:-1].transform(X).to_numpy(np.float64)
    m = args.n if args.shap_rows is None else min(args.shap_rows, args.n)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = shap.TreeExplainer(model[-1].booster_).shap_values(Z[:m])
    ref_s, ref_cpu = time.perf_counter() - t0, time.process_time() - c0
    full_s, full_cpu = ref_s * args.n / m, ref_cpu * args.n / m
    tag = "" if m == args.n else f" (projected from {m} rows: {ref_s:.2f} s)"
    print(f"shap.TreeExplainer             n={args.n:>7}  {full_s:8.2f} s wall  {full_cpu:8.2f} s CPU{tag}")
    raw = shap_values(model, X.iloc[:m], aggregate=False, check_additivity=False)
    diff = float(np.max(np.abs(raw.values - ref)))
    print(f"speed-up of radiorisk over shap.TreeExplainer: {full_s / ours_s:.2f}x wall, "
          f"{full_cpu / ours_cpu:.2f}x CPU   "
          f"max |difference| of the values: {diff:.2e}")
    print(f"peak RSS {peak_rss_mb():.0f} MB; load average {' '.join(f'{v:.1f}' for v in os.getloadavg())} "
          f"on {os.cpu_count()} cores; shap {shap.__version__}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
