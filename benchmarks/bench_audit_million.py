"""Benchmark: `radiorisk audit` on 1,000,000 patients with B = 200 (issue 8, section 1).

Usage::

    .venv/bin/python benchmarks/bench_audit_million.py [--n 1000000] [--n-boot 200] [--seed 1]
        [--chunk 200000] [--keep DIR]

1. A child process writes a predictions CSV of ``--n`` synthetic chest-pain patients (no images):
   ``radiorisk.datasets.simulate_cohort`` in chunks of ``--chunk`` patients (seeds seed, seed+1, ...;
   the generator's memory stays that of one chunk), MACE time/event, the sex and 5-group ethnicity,
   and a risk by 5 years from the true linear predictor (a South Asian under-prediction is kept,
   as the generator's default cohort has none: the audit must still find nothing odd elsewhere).
2. A second child runs the command line exactly as a user would::

       radiorisk audit --predictions P.csv --time-col time --event-col event --risk-col risk
           --horizon 1826 --group sex --group ethnicity --n-boot 200 --seed 1 --out DIR

   i.e. every survival metric with percentile CIs for overall, sex, ethnicity and the sex x ethnicity
   intersections (18 groups), differences, heterogeneity tests, fairness, calibration tables,
   figures and report.html.

Prints the wall time of each child, the peak resident memory of the audit (``os.wait4``: this
parent stays small, so the child's figure is its own), and the ratios to the targets (5 minutes,
8 GB). Not a timed test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 300.0
TARGET_GB = 8.0
HORIZON = 1826.0

WRITER = r"""
import sys
import numpy as np
import pandas as pd
from radiorisk.datasets import simulate_cohort

out, n, chunk, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
first = True
done = 0
k = 0
while done < n:
    m = min(chunk, n - done)
    c = simulate_cohort(m, mode="chest-pain", seed=seed + k)
    o, tr, p = c.outcomes, c.truth, c.patients
    t = np.maximum(o["mace_time_days"].to_numpy(float), 0.5)
    e = o["mace_event"].to_numpy(int)
    lp = tr["lp_mi"].to_numpy(float)
    km = np.mean((e == 1) & (t <= 1826.0))
    z = (lp - lp.mean()) / lp.std()
    risk = np.clip(1.0 - np.exp(-km * np.exp(0.8 * z - 0.32)), 1e-6, 1 - 1e-6)
    df = pd.DataFrame({"patient_id": [f"Q{done + i + 1:07d}" for i in range(m)], "time": t, "event": e,
                       "risk": risk, "sex": p["sex"].to_numpy(str),
                       "ethnicity": p["ethnicity_group5"].to_numpy(str)})
    df.to_csv(out, mode="w" if first else "a", header=first, index=False, float_format="%.8g")
    first = False
    done += m
    k += 1
"""


def run_child(cmd: list[str]) -> tuple[float, float, int]:
    """Run ``cmd``; return (wall seconds, peak RSS in GB of that child, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024**2, proc.returncode


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=200_000)
    ap.add_argument("--keep", type=Path, default=None, help="keep the predictions and audit here")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="rr-million-")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        pred = tmp / "predictions.csv"
        w_wall, w_gb, rc = run_child([sys.executable, "-c", WRITER, str(pred), str(args.n), str(args.chunk),
                                      str(args.seed)])
        if rc != 0:
            print(f"writing the predictions failed (exit {rc})")
            return 1
        print(f"predictions: {args.n:,} patients written in {w_wall:.1f} s (peak {w_gb:.2f} GB, "
              f"chunks of {args.chunk:,}); {pred.stat().st_size / 2**20:.0f} MB")
        radiorisk = str(Path(sys.executable).with_name("radiorisk"))
        cmd = [radiorisk, "audit", "--predictions", str(pred), "--time-col", "time", "--event-col", "event",
               "--risk-col", "risk", "--horizon", str(HORIZON), "--group", "sex", "--group", "ethnicity",
               "--n-boot", str(args.n_boot), "--seed", str(args.seed), "--out", str(tmp / "audit")]
        print("running: " + " ".join(cmd[1:]))
        a_wall, a_gb, rc = run_child(cmd)
        if rc != 0:
            print(f"the audit failed (exit {rc})")
            return 1
        import pandas as pd

        m = pd.read_csv(tmp / "audit" / "metrics.csv", dtype={"group": str})
        groups = m[["attribute", "group"]].drop_duplicates()
        print(f"audit: {len(m)} metric rows, {len(groups)} groups, {m['metric'].nunique()} metrics, "
              f"B = {args.n_boot}")
        print(f"audit wall time: {a_wall:.1f} s; ratio to the {TARGET_S:.0f} s target: {a_wall / TARGET_S:.2f}")
        print(f"audit peak resident memory: {a_gb:.2f} GB; ratio to the {TARGET_GB:.0f} GB target: "
              f"{a_gb / TARGET_GB:.2f}")
        print(f"load average during the run (1/5/15 min): {os.getloadavg()}")
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
