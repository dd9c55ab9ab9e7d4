"""Benchmark the vectorised bootstrap of every survival metric (issue 5, section 2).

Usage::

    .venv/bin/python benchmarks/bench_bootstrap.py [--n 100000] [--n-boot 1000] [--seed 1]
        [--block B] [--no-intersections] [--competing-risks [--repeats R]]

Simulates a chest-pain cohort of ``--n`` patients (``radiorisk.datasets.simulate_cohort``), takes a
risk by 5 years from the true linear predictors, and bootstraps all 10 survival metrics of
``SURVIVAL_METRICS`` (harrell_c, uno_c, td_auc, brier_t, ipa, oe_ratio_t, ici_t, e50_t, e90_t,
emax_t) with ``--n-boot`` replicates drawn within the sex x ethnicity cells, for:

* overall (1 group), sex (2), ethnicity (5: ``ethnicity_group5``) and the 10 sex x ethnicity
  intersections: 18 groups, 400,000 group-rows for n = 100,000 ("overall + sex x 5 ethnicities"
  read as overall, each attribute and their intersections).

Prints the wall time, the ratio to the 120 s target, the time per group, and the peak resident
memory of the process. Where ``Rscript`` with survival, rms and riskRegression is installed
(Debian: ``apt-get install r-base-core r-cran-riskregression r-cran-rms r-cran-proc``), it also
times the same computation in R (``benchmarks/bootstrap_r.R``: per replicate and group the R
functions of the referee README) on ``--r-boot`` replicates, extrapolates linearly to ``--n-boot``
(R's time per replicate does not depend on B) and prints the ratio.

``--competing-risks`` (issue 13) bootstraps the same simulated cohort twice in one run, with
non-cardiac death a competing event (``radiorisk.features.assemble_cohort(...,
competing="competing")``): the 10 survival metrics with competing deaths censored, and the 9
competing-risk metrics (``c_cr`` ... ``emax_cr``); same groups, strata, seed and replicates.
Both numba kernels are compiled first on a small warm-up run (not timed); then the two modes
alternate ``--repeats`` times (censored, competing, censored, ...: a load change on a shared
machine hits both) and the medians of wall and CPU time (``time.process_time``: all threads)
of each mode and their ratios are printed (target: competing within 1.5 times censored).
The full run of the issue (B = 1000, n = 100,000, 18 groups; the defaults spelt out)::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_bootstrap.py --competing-risks --n 100000 --n-boot 1000 --repeats 1

(about 135 + 145 s of CPU by the figures in docs/audit.md; ``--repeats 3`` for medians of three).

Smaller runs: ``--n 100000 --n-boot 20`` or ``--n 10000 --n-boot 50`` (add ``--n-jobs 1``
for one thread). Not a timed test.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from radiorisk.datasets import simulate_cohort
from radiorisk.evaluation import SURVIVAL_METRICS, survival_replicates

TARGET_S = 120.0
HORIZON = 1826.0


def cohort(n: int, seed: int):
    """time, event, risk, sex, ethnicity of a simulated cohort (risk from the true hazards)."""
    c = simulate_cohort(n, mode="chest-pain", seed=seed)
    o, tr, p = c.outcomes, c.truth, c.patients
    t = o["mace_time_days"].to_numpy(float)
    e = o["mace_event"].to_numpy(bool).astype(float)
    lp = tr["lp_mi"].to_numpy(float)
    # a monotone risk score scaled to the observed 5-year risk (calibration is not the point here)
    km = np.mean((e == 1) & (t <= HORIZON))
    z = (lp - lp.mean()) / lp.std()
    risk = 1.0 - np.exp(-km * np.exp(0.8 * z - 0.32))
    return np.maximum(t, 0.5), e, np.clip(risk, 1e-6, 1 - 1e-6), p["sex"].to_numpy(str), \
        p["ethnicity_group5"].to_numpy(str)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per mode (--competing-risks; medians)")
    ap.add_argument("--block", type=int, default=None)
    ap.add_argument("--no-intersections", action="store_true")
    ap.add_argument("--n-jobs", type=int, default=None, help="threads (default: usable cores)")
    ap.add_argument("--r-boot", type=int, default=2, metavar="K",
                    help="replicates timed in R (0: skip R)")
    ap.add_argument("--calibration-boot", type=int, default=None, metavar="BC",
                    help="bootstrap ici_t/e50_t/e90_t/emax_t on the first BC replicates only")
    ap.add_argument("--competing-risks", action="store_true",
                    help="also bootstrap the 9 competing-risk metrics (non-cardiac death a competing event) on "
                         "the same cohort, replicates and groups, and print the ratio to the censored mode "
                         "(issue 13: target 1.5)")
    args = ap.parse_args(argv)
    if args.competing_risks:
        return competing_mode(args)
    t, e, r, sex, eth = cohort(args.n, args.seed)
    groups = _groups(sex, eth, not args.no_intersections)
    strata = np.char.add(np.char.add(sex, ":"), eth)
    rows = sum(len(g[2]) for g in groups)
    print(f"n = {len(t)}, events by 5 y = {int(np.sum((e == 1) & (t <= HORIZON)))}, "
          f"groups = {len(groups)} ({rows} group-rows), B = {args.n_boot}, "
          f"metrics = {len(SURVIVAL_METRICS)}, rcs-Cox family on "
          f"{args.n_boot if args.calibration_boot is None else args.calibration_boot} replicates")
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    rep = survival_replicates(t, e, r, horizon=HORIZON, subsets=[g[2] for g in groups],
                              strata=strata, n_boot=args.n_boot, random_state=args.seed,
                              block=args.block, calibration_boot=args.calibration_boot, n_jobs=args.n_jobs)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak_boot = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    nan = np.isnan(rep).mean(axis=(0, 1))
    print(f"wall time: {wall:.1f} s; ratio to the {TARGET_S:.0f} s target: {wall / TARGET_S:.2f}")
    print(f"CPU time: {cpu:.1f} s (the machine is shared: wall time depends on its load)")
    print(f"per group-row and replicate: {wall / rows / args.n_boot * 1e9:.0f} ns")
    print(f"peak memory of the bootstrap (tracemalloc): {peak_boot:.0f} MB; peak resident memory of "
          f"the process: {peak:.0f} MB ({base:.0f} MB before the bootstrap: the simulated cohort)")
    print("share of replicates without an estimate: "
          + ", ".join(f"{m}={v:.3f}" for m, v in zip(SURVIVAL_METRICS, nan, strict=True)))
    if args.r_boot > 0:
        r_timing(t, e, r, strata, groups, args, wall)
    return 0


def _groups(sex, eth, intersections: bool):
    groups = [("overall", "all", np.arange(len(sex)))]
    for name, lab in (("sex", sex), ("ethnicity", eth)):
        for v in sorted(set(lab)):
            groups.append((name, v, np.flatnonzero(lab == v)))
    if intersections:
        inter = np.char.add(np.char.add(sex, ":"), eth)
        for v in sorted(set(inter)):
            groups.append(("sex:ethnicity", v, np.flatnonzero(inter == v)))
    return groups


def competing_mode(args) -> int:
    """Censored and competing-risk bootstraps of one cohort, timed in the same run (medians of repeats)."""
    from radiorisk.evaluation import COMPETING_METRICS
    from radiorisk.evaluation._audit_competing import competing_replicates
    from radiorisk.features import assemble_cohort

    c = simulate_cohort(args.n, mode="chest-pain", seed=args.seed)
    d = assemble_cohort(c, competing="competing", horizon=HORIZON)
    t = np.maximum(d.time.to_numpy(float), 0.5)
    status = d.event_type.to_numpy(float)
    lp = c.truth.set_index(c.patients["patient_id"].astype(str))["lp_mi"].reindex(d.X.index.astype(str)).to_numpy()
    km = np.mean((status == 1) & (t <= HORIZON))
    z = (lp - lp.mean()) / lp.std()
    r = np.clip(1.0 - np.exp(-km * np.exp(0.8 * z - 0.32)), 1e-6, 1 - 1e-6)
    sex = d.groups["sex"].to_numpy(str)
    eth = d.groups["ethnicity"].to_numpy(str)
    groups = _groups(sex, eth, not args.no_intersections)
    strata = np.char.add(np.char.add(sex, ":"), eth)
    subsets = [g[2] for g in groups]
    print(f"n = {len(t)}, MACE by 5 y = {int(np.sum((status == 1) & (t <= HORIZON)))}, competing deaths by 5 y = "
          f"{int(np.sum((status == 2) & (t <= HORIZON)))}, groups = {len(groups)}, B = {args.n_boot}, calibration "
          f"family on {args.n_boot if args.calibration_boot is None else args.calibration_boot} replicates")
    kw = {"horizon": HORIZON, "strata": strata, "random_state": args.seed, "calibration_boot": args.calibration_boot,
          "n_jobs": args.n_jobs}
    modes = {
        "censored": lambda n_boot, sub: survival_replicates(t, (status == 1).astype(float), r, subsets=sub,
                                                            n_boot=n_boot, **kw),
        "competing": lambda n_boot, sub: competing_replicates(t, status, r, subsets=sub, n_boot=n_boot, **kw),
    }
    warm = [g[:2000] for g in subsets[:2]]
    for run in modes.values():  # compile the numba kernels (not timed)
        run(2, warm)
    wall = {k: [] for k in modes}
    cpu = {k: [] for k in modes}
    for _ in range(args.repeats):
        for k, run in modes.items():
            s0, c0 = time.perf_counter(), time.process_time()
            run(args.n_boot, subsets)
            wall[k].append(time.perf_counter() - s0)
            cpu[k].append(time.process_time() - c0)
    med = {k: (float(np.median(wall[k])), float(np.median(cpu[k]))) for k in modes}
    n_metrics = {"censored": len(SURVIVAL_METRICS), "competing": len(COMPETING_METRICS)}
    for k, (w, c) in med.items():
        print(f"{k} mode ({n_metrics[k]} metrics): median {w:.2f} s wall, {c:.2f} s CPU over {args.repeats} "
              f"run(s); per replicate {w / args.n_boot * 1e3:.1f} ms wall, {c / args.n_boot * 1e3:.1f} ms CPU")
    (wall_cen, cpu_cen), (wall_com, cpu_com) = med["censored"], med["competing"]
    print(f"ratio competing / censored: {wall_com / wall_cen:.2f} wall, {cpu_com / cpu_cen:.2f} CPU (target 1.5; medians of "
          f"{args.repeats} alternating run(s); numba compiled beforehand; wall time depends on the machine's load)")
    return 0


def r_timing(t, e, r, strata, groups, args, wall) -> None:
    """Time ``--r-boot`` replicates in R and print the extrapolated ratio."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        print("R timing: not run (Rscript not found; apt-get install r-base-core r-cran-riskregression "
              "r-cran-rms r-cran-proc)")
        return
    import pandas as pd

    df = pd.DataFrame({"time": t, "event": e.astype(int), "risk": r, "stratum": strata})
    for k, (_, _, rows) in enumerate(groups):
        col = np.zeros(len(t), dtype=np.int8)
        col[rows] = 1
        df[f"g_{k}"] = col
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        df.to_csv(path, index=False)
        script = Path(__file__).with_name("bootstrap_r.R")
        res = subprocess.run([rscript, str(script), str(path), str(HORIZON), str(args.r_boot), str(args.seed)],
                             capture_output=True, text=True)
    if res.returncode != 0:
        print("R timing: failed: " + (res.stderr.strip().splitlines() or ["?"])[-1])
        return
    vals = dict(line.split("=", 1) for line in res.stdout.split() if "=" in line)
    per = float(vals["per_replicate"])
    r_total = per * args.n_boot
    print(f"R (survival::concordance, riskRegression::Score, survfit, rms::cph + survest, one replicate "
          f"at a time): {per:.1f} s per replicate over {len(groups)} groups, measured on {args.r_boot} "
          f"replicates; extrapolated to B = {args.n_boot}: {r_total:.0f} s ({r_total / 3600:.1f} h)")
    print(f"ratio R / radiorisk: {r_total / wall:.0f}x (same data, same groups, same metrics; "
          f"R on one core)")


if __name__ == "__main__":
    raise SystemExit(main())
