"""Benchmark: 5 x 5 CV of xgb-cox on clinical + CCTA with the nested search, new vs old tuning.

Usage::

    .venv/bin/python benchmarks/bench_tuning.py [--n 3000] [--repeats-timing 1] [--n-jobs 2]

Runs, in one process and on the same synthetic established-CAD cohort, the
cross-validation that ``radiorisk fit --model xgb-cox --blocks clinical,ccta``
performs (5 x 5 folds, nested search of 8 candidates in every outer training
fold) with the default ``"holdout"`` search (early stopping, IPCW Brier) and
with the pre-issue-16 ``"inner-cv"`` search (inner 3-fold CV, Harrell's C),
and prints the median wall time of each, the OOF Harrell C of each (mean over
the 5 repeats) and the ratios. Target: the new search <= 60 s on 2 cores with
an OOF C at least the old one. Not a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from radiorisk.datasets import simulate_cohort
from radiorisk.features._assemble import assemble_cohort
from radiorisk.models import cross_validate_risk
from radiorisk.stats import harrell_c, oe_ratio_t

TARGET_S = 60.0


def _run(data, strategy: str, n_jobs: int, timing_repeats: int):
    times, cv = [], None
    for _ in range(timing_repeats):
        t0 = time.perf_counter()
        cv = cross_validate_risk("xgb-cox", data, blocks="clinical,ccta", horizon=1826, random_state=0,
                                 repeats=5, folds=5, n_jobs=n_jobs, search={"strategy": strategy})
        times.append(time.perf_counter() - t0)
    by_rep = list(cv.oof.groupby("repeat"))
    c = float(np.mean([harrell_c(g.time, g.event, g.risk) for _, g in by_rep]))
    oe = float(np.mean([oe_ratio_t(g.time, g.event, g.risk, horizon=1826) for _, g in by_rep]))
    return statistics.median(times), c, oe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--repeats-timing", type=int, default=1, help="timed runs of each setting (median)")
    ap.add_argument("--n-jobs", type=int, default=2)
    args = ap.parse_args()
    data = assemble_cohort(simulate_cohort(args.n, mode="established-cad", seed=args.seed), horizon=1826)
    print(f"n={args.n}, events={int(data.event.sum())}, columns={len(data.columns(('clinical', 'ccta')))}, "
          f"n_jobs={args.n_jobs}, timed runs={args.repeats_timing}")
    t_new, c_new, oe_new = _run(data, "holdout", args.n_jobs, args.repeats_timing)
    print(f"new (holdout, early stopping, IPCW Brier): {t_new:7.1f} s  OOF C {c_new:.4f}  O/E {oe_new:.3f}")
    t_old, c_old, oe_old = _run(data, "inner-cv", args.n_jobs, args.repeats_timing)
    print(f"old (inner 3-fold CV, Harrell's C):        {t_old:7.1f} s  OOF C {c_old:.4f}  O/E {oe_old:.3f}")
    print(f"time ratio new/old {t_new / t_old:.3f}; OOF C ratio new/old {c_new / c_old:.4f} "
          f"(difference {c_new - c_old:+.4f}); target <= {TARGET_S:g} s: "
          f"{'met' if t_new <= TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
