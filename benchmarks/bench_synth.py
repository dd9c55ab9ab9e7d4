"""Benchmark the tabular synthetic cohort: simulate_cohort + write_tables.

Usage::

    .venv/bin/python benchmarks/bench_synth.py [--sizes 10000 100000] [--repeats 3]
        [--mode chest-pain --mode established-cad]

Prints the median wall time (seconds) of simulation and CSV writing for each
size and mode, and the ratio of the total to the 30 s target of
``radiorisk synth --n 100000 --images 0``.  Not a timed test.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from radiorisk.datasets._cohort import MODES, simulate_cohort

TARGET_S = 30.0


def bench(n: int, mode: str, repeats: int) -> tuple[float, float, int]:
    sim, wr = [], []
    n_les = 0
    for r in range(repeats):
        t0 = time.perf_counter()
        c = simulate_cohort(n, mode=mode, seed=r)
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            c.write_tables(d)
            t2 = time.perf_counter()
        sim.append(t1 - t0)
        wr.append(t2 - t1)
        n_les = len(c.lesions)
    return statistics.median(sim), statistics.median(wr), n_les


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mode", choices=MODES, action="append")
    args = ap.parse_args(argv)
    print(f"{'mode':<16}{'n':>8}{'lesions':>10}{'simulate s':>12}{'write s':>10}{'total s':>10}"
          f"{'/ 30 s':>9}")
    for mode in args.mode or list(MODES):
        for n in args.sizes:
            s, w, nl = bench(n, mode, args.repeats)
            print(f"{mode:<16}{n:>8}{nl:>10}{s:>12.2f}{w:>10.2f}{s + w:>10.2f}{(s + w) / TARGET_S:>9.2f}")
    print(f"(median of {args.repeats} repeats; target: n=100000 under {TARGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
