"""Benchmark: fit plus 5x5 cross-validation of xgb-cox on 100,000 patients x 150 features.

Usage::

    .venv/bin/python benchmarks/bench_cv.py [--n 100000] [--repeats 5] [--folds 5] [--n-jobs 2]

Measures, in one run, the real protocol of :func:`radiorisk.models.cross_validate_risk`
(repeated stratified K-fold, out-of-fold risk for every patient and repeat; no nested search)
plus the final fit on all rows, on the synthetic table of ``bench_models.py``. Prints the wall
time, the ratio to the 300 s target (issue 4) and the peak memory (VmHWM). Not a timed test.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import pandas as pd

from radiorisk.features import CohortData
from radiorisk.models import cross_validate_risk, make_model

TARGET_S = 300.0


def _bench_models():
    spec = importlib.util.spec_from_file_location("bench_models", Path(__file__).with_name("bench_models.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def vm_hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) / 1024 for line in fh if line.startswith("VmHWM"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--n-estimators", type=int, default=300)
    args = ap.parse_args()
    X, y = _bench_models().synthetic(args.n, 150, seed=1)
    idx = pd.Index([f"P{i:07d}" for i in range(args.n)], name="patient_id")
    X.index = idx
    cols = tuple(X.columns)
    data = CohortData(X=X, time=pd.Series(y["time"], index=idx), event=pd.Series(y["event"].astype(int), index=idx),
                      blocks={"all": cols}, groups=pd.DataFrame({"sex": X["sex"]}, index=idx),
                      pet_available=X["cma"].notna())
    params = {"n_estimators": args.n_estimators}
    t0 = time.perf_counter()
    cv = cross_validate_risk("xgb-cox", data, blocks=["all"], horizon=1826, random_state=0, repeats=args.repeats,
                             folds=args.folds, n_jobs=args.n_jobs, params=params)
    t_cv = time.perf_counter() - t0
    t0 = time.perf_counter()
    make_model("xgb-cox", horizon=1826, random_state=0, nthread=args.n_jobs, **params).fit(X, y)
    t_fit = time.perf_counter() - t0
    total = t_cv + t_fit
    print(f"xgb-cox {args.n:,} x 150, {args.repeats}x{args.folds} CV ({args.n_jobs} jobs, "
          f"{args.n_estimators} trees): CV {t_cv:.1f} s + final fit {t_fit:.1f} s = {total:.1f} s; "
          f"target {TARGET_S:.0f} s, ratio {total / TARGET_S:.2f}")
    print(f"out-of-fold rows: {len(cv.to_frame()) if hasattr(cv, 'to_frame') else '?'}; peak memory {vm_hwm_mb():.0f} MB")


if __name__ == "__main__":
    main()
