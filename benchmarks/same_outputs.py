"""Prove a rebuild changed no output: run the same commands on two revisions and compare.

Issue 12 is a rebuild "with the same outputs". This script checks out a baseline
revision (default ``9db30a1``, the HEAD the issue measured) into a temporary git
worktree, runs the same ``radiorisk demo --quick``, ``fit``, ``audit`` (on the demo
run and on the referee data) and ``report`` commands with the baseline's source and
with the working tree's source (same interpreter and packages: ``PYTHONPATH``), and
compares every table:

* images (``.nii.gz``) byte for byte;
* CSV files cell by cell (numbers exactly, or to ``--rtol``); Parquet likewise;
* JSON files key by key, ignoring run-specific keys (timestamps, durations, paths,
  versions, host);
* HTML reports by their visible text (tags, whitespace, embedded images and
  timestamps aside), so a template rebuild that keeps every word and number passes.

Usage::

    .venv/bin/python benchmarks/same_outputs.py [--baseline REV] [--new REV] [--rtol 0] [--keep DIR]

Prints one line per compared file and ends with ``same outputs: K of N files``;
exit 0 only when all agree. It takes about 4 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REFEREE = ROOT / "tests" / "reference" / "referee"
RUN_SPECIFIC = re.compile(
    r"(time|date|created|started|finished|duration|seconds|elapsed|host|platform|python|version|"
    r"path|dir|out|cwd|git|user|pid|command|argv|sha256|cache)", re.I)
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z| UTC)?")


_OUT_DIRS: list[str] = []  # the two output folders, replaced by "<out>" before comparing


def _norm(text: str) -> str:
    for d in _OUT_DIRS:
        text = text.replace(d, "<out>")
    return TIMESTAMP.sub("<time>", text)


def commands(out: Path) -> list[list[str]]:
    """The CLI runs whose outputs are compared (paths inside ``out``)."""
    d = out / "demo"
    run = out / "fit"
    return [
        ["demo", "--quick", "--out", str(d), "--seed", "1", "--quiet"],
        ["fit", "--data", str(d / "data"), "--model", "coxph", "--blocks", "clinical,ccta",
         "--out", str(run), "--repeats", "1", "--folds", "3", "--n-boot", "20", "--seed", "3", "--quiet"],
        ["audit", "--predictions", str(REFEREE / "survival_whas500.csv"), "--risk-col", "risk",
         "--time-col", "time", "--event-col", "event", "--horizon", "365", "--group", "gender",
         "--n-boot", "20", "--seed", "5", "--out", str(out / "audit_whas"), "--quiet"],
        ["audit", "--predictions", str(REFEREE / "binary_synth.csv"), "--risk-col", "p",
         "--outcome-col", "y", "--group", "sex", "--group", "ethnicity", "--out",
         str(out / "audit_binary"), "--quiet"],
        ["report", "--run", str(run), "--data", str(d / "data"), "--out", str(out / "report.html"),
         "--n-boot", "20", "--seed", "2", "--quiet"],
    ]


def run_all(src: Path, out: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(src), PYTHONHASHSEED="0")
    times = {}
    for cmd in commands(out):
        t0 = time.perf_counter()
        code = ("import sys; from radiorisk.cli import main; sys.exit(main(sys.argv[1:]))")
        res = subprocess.run([sys.executable, "-c", code, *cmd], env=env, cwd=out,
                             capture_output=True, text=True)
        times[cmd[0]] = times.get(cmd[0], 0.0) + time.perf_counter() - t0
        if res.returncode != 0:
            raise SystemExit(f"{src}: radiorisk {' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return times


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0
        self._timings = False

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script") and self._skip:
            self._skip -= 1
        if tag == "table":
            self._timings = False

    def handle_data(self, data):
        if self._skip or not data.strip():
            return
        if "Timings" in data:  # a table of run times: its numbers are run-specific
            self._timings = True
            self.parts.append(" ".join(data.split()))
        elif not self._timings:
            self.parts.append(" ".join(data.split()))


def html_text(path: Path) -> list[str]:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return [_norm(s) for s in p.parts]


def _json_diff(a, b, where="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if RUN_SPECIFIC.search(str(k)):
                continue
            if k not in a or k not in b:
                out.append(f"{where}/{k}: only in {'new' if k in b else 'baseline'}")
            else:
                out += _json_diff(a[k], b[k], f"{where}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _json_diff(x, y, f"{where}[{i}]")]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    if isinstance(a, str) and isinstance(b, str) and _norm(a) == _norm(b):
        return []
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def _frame_diff(a: pd.DataFrame, b: pd.DataFrame, rtol: float) -> list[str]:
    if list(a.columns) != list(b.columns) or a.shape != b.shape:
        return [f"shape/columns differ: {a.shape} {list(a.columns)[:8]} vs {b.shape} {list(b.columns)[:8]}"]
    out = []
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xa, ya = x.to_numpy(float), y.to_numpy(float)
            same = (xa == ya) | (np.isnan(xa) & np.isnan(ya)) | (np.abs(xa - ya) <= rtol * np.abs(ya))
            if not same.all():
                i = int(np.argmin(same))
                out.append(f"column {c}: {int((~same).sum())} cells differ (row {i}: {xa[i]!r} vs {ya[i]!r})")
        else:
            xs = x.astype(str).map(_norm)
            ys = y.astype(str).map(_norm)
            if not (xs == ys).all():
                i = int(np.argmin((xs == ys).to_numpy()))
                out.append(f"column {c}: {int((xs != ys).sum())} cells differ (row {i}: {xs.iloc[i]!r} vs {ys.iloc[i]!r})")
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV with each column numeric when every cell parses as a number, else text."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for c in frame.columns:
        num = pd.to_numeric(frame[c].where(frame[c] != ""), errors="coerce")
        if num.notna().sum() == (frame[c] != "").sum():
            frame[c] = num
    return frame


def compare(base: Path, new: Path, rtol: float) -> tuple[int, int]:
    _OUT_DIRS[:] = [str(base), str(new)]
    files = sorted({p.relative_to(base) for p in base.rglob("*") if p.is_file()}
                   | {p.relative_to(new) for p in new.rglob("*") if p.is_file()})
    ok = n = 0
    for rel in files:
        suffix = "".join(rel.suffixes[-2:]) if rel.suffix == ".gz" else rel.suffix
        if suffix not in (".csv", ".json", ".html", ".parquet", ".nii.gz"):
            continue
        n += 1
        a, b = base / rel, new / rel
        if not (a.exists() and b.exists()):
            print(f"DIFF {rel}: only in {'new' if b.exists() else 'baseline'}")
            continue
        if suffix == ".csv":
            diffs = _frame_diff(_read_csv(a), _read_csv(b), rtol)
        elif suffix == ".parquet":
            diffs = _frame_diff(pd.read_parquet(a), pd.read_parquet(b), rtol)
        elif suffix == ".nii.gz":  # images: byte for byte
            diffs = [] if a.read_bytes() == b.read_bytes() else ["the files differ"]
        elif suffix == ".json":
            diffs = _json_diff(json.loads(a.read_text()), json.loads(b.read_text()))
        else:
            ta, tb = html_text(a), html_text(b)
            diffs = [] if ta == tb else [next(f"text {i}: {x!r} vs {y!r}" for i, (x, y) in
                                              enumerate(zip(ta + [""], tb + [""], strict=False)) if x != y)]
        if diffs:
            print(f"DIFF {rel}: " + "; ".join(diffs[:3]) + (f" (+{len(diffs) - 3} more)" if len(diffs) > 3 else ""))
        else:
            ok += 1
            print(f"same {rel}")
    return ok, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default="9db30a1", help="git revision to compare against")
    ap.add_argument("--new", default=None,
                    help="git revision to test (default: the working tree, as it is now)")
    ap.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for numbers (default exact)")
    ap.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    ap.add_argument("--compare-only", action="store_true",
                    help="compare the outputs already in --keep (no runs)")
    args = ap.parse_args(argv)
    work = Path(args.keep or tempfile.mkdtemp(prefix="same-outputs-"))
    if args.compare_only:
        ok, n = compare(work / "baseline", work / "new", args.rtol)
        print(f"same outputs: {ok} of {n} files (outputs in {work})")
        return 0 if ok == n else 1
    trees = {"baseline": work / "baseline-src", "new": work / "new-src" if args.new else ROOT}
    for name, rev in (("baseline", args.baseline), ("new", args.new)):
        if rev is None:
            continue
        if trees[name].exists():
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(trees[name])], check=False)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(trees[name]), rev],
                       check=True, capture_output=True)
    try:
        for name in ("baseline", "new"):
            shutil.rmtree(work / name, ignore_errors=True)
            (work / name).mkdir(parents=True)
        t_base = run_all(trees["baseline"], work / "baseline")
        t_new = run_all(trees["new"], work / "new")
    finally:
        for tree in trees.values():
            if tree != ROOT:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    for k in t_base:  # informational: the machine may be shared
        print(f"time {k:7s}: baseline {t_base[k]:6.1f} s, new {t_new[k]:6.1f} s, ratio {t_new[k] / t_base[k]:.2f}")
    ok, n = compare(work / "baseline", work / "new", args.rtol)
    print(f"same outputs: {ok} of {n} files (baseline {args.baseline}, outputs in {work})")
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(main())
