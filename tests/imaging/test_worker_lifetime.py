"""Local worker processes never outlive ``radiorisk extract --jobs N`` (issue 15, section 1).

The parent is killed with SIGKILL at random points (what an out-of-memory kill or a
scheduler's hard stop does): every worker it spawned must be gone within seconds.  A
SIGTERM ends the parent promptly with no worker left, and a re-run resumes to the table of
an uninterrupted run.  Workers are found as the children of the parent in /proc (Linux).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.imaging._executors import run_local

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds workers in /proc (Linux)")

RADIORISK = [sys.executable, "-m", "radiorisk.cli"]
# the ccta-plaque set-up (B-spline resampling, LoG filters) with two feature classes
PARAMS = {"setting": {"binWidth": 25, "resampledPixelSpacing": [0.5, 0.5, 0.5], "interpolator": "sitkBSpline",
                      "padDistance": 10, "label": 1},
          "imageType": {"Original": {}, "LoG": {"sigma": [1.0, 3.0]}},
          "featureClass": {"firstorder": None, "glcm": None}}
GONE_WITHIN = 30.0  # seconds; a worker killed while it still imports pyradiomics ends after the import
JOBS = 3  # --jobs 3: the parent extracts beside two spawned workers
WORKERS = JOBS - 1


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Synthetic cohort with images, its parameters, and an uninterrupted ``--jobs 3`` run (two workers)."""
    root = tmp_path_factory.mktemp("lifetime")
    d = root / "D"
    write_synthetic_cohort(d, n=60, images=8, seed=5)
    params = root / "params.json"
    params.write_text(json.dumps(PARAMS))
    ref = root / "ref" / "f.parquet"
    t0 = time.monotonic()
    done = subprocess.run(_cmd(d, params, ref), capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    return {"dir": d, "params": params, "ref": ref, "seconds": time.monotonic() - t0}


def _cmd(d: Path, params: Path, out: Path, jobs: int = JOBS) -> list[str]:
    return [*RADIORISK, "extract", "--manifest", str(d / "manifest.csv"), "--params", str(params),
            "--out", str(out), "--jobs", str(jobs), "--quiet"]


# --------------------------------------------------------------------------- processes in /proc


def _start_time(pid: int) -> str | None:
    """The start time of a live process (None when gone or a zombie): tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return None if fields[0] in ("Z", "X") else fields[19]


def _children(pid: int) -> dict[int, str]:
    """Live children of ``pid``: pid -> start time."""
    kids = set()
    for f in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            kids.update(int(x) for x in f.read_text().split())
    return {k: s for k in kids if (s := _start_time(k)) is not None}


def _is_worker(pid: int) -> bool:
    try:
        return b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _survivors(procs: dict[int, str]) -> list[int]:
    return [p for p, start in procs.items() if _start_time(p) == start]


def _wait_until_gone(procs: dict[int, str], timeout: float) -> tuple[list[int], float]:
    """Poll until none of ``procs`` lives; the survivors at ``timeout`` and the seconds waited."""
    t0 = time.monotonic()
    while (left := _survivors(procs)) and time.monotonic() - t0 < timeout:
        time.sleep(0.05)
    return left, time.monotonic() - t0


def _kill_leftovers(procs: dict[int, str], proc: subprocess.Popen) -> None:
    """Never leak a process, whatever the test found."""
    for p in _survivors(procs):
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _start_with_workers(cmd: list[str], workers: int = WORKERS, timeout: float = 120.0):
    """Start ``cmd``; return it and its children seen until ``workers`` workers exist (or it ended)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    kids: dict[int, str] = {}
    while time.monotonic() < deadline and proc.poll() is None:
        kids |= _children(proc.pid)
        if sum(_is_worker(k) for k in kids) >= workers:
            break
        time.sleep(0.02)
    return proc, kids


# --------------------------------------------------------------------------- SIGKILL of the parent


def _kill_parent_repeatedly(cohort, tmp_path: Path, *, kills: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    log = []
    for i in range(kills):
        out = tmp_path / f"k{i}" / "f.parquet"
        proc, kids = _start_with_workers(_cmd(cohort["dir"], cohort["params"], out))
        try:
            assert sum(map(_is_worker, kids)) == WORKERS, "the extraction ended before its workers could be seen"
            time.sleep(float(rng.uniform(0.0, 0.5 * cohort["seconds"])))  # a random point of the run
            if proc.poll() is not None:  # finished before the kill point
                log.append(("finished", None))
                continue
            kids |= _children(proc.pid)  # the resource tracker and any late worker
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            left, waited = _wait_until_gone(kids, GONE_WITHIN)
            log.append(("killed", waited))
            assert not left, f"kill {i}: {len(left)} of {len(kids)} child process(es) survived the parent"
        finally:
            _kill_leftovers(kids, proc)
    killed = [w for k, w in log if k == "killed"]
    print(f"[lifetime] parent SIGKILLed {len(killed)} times of {kills} tries; no worker survived; "
          f"slowest worker exit {max(killed, default=0):.2f} s")
    assert len(killed) >= max(1, kills // 2), log
    return {"log": log}


def test_workers_end_when_the_parent_is_sigkilled(cohort, tmp_path):
    _kill_parent_repeatedly(cohort, tmp_path, kills=3, seed=20261203)


@pytest.mark.slow
def test_workers_end_when_the_parent_is_sigkilled_many_times(cohort, tmp_path):
    _kill_parent_repeatedly(cohort, tmp_path, kills=25, seed=15)


# --------------------------------------------------------------------------- SIGTERM of the parent


def test_sigterm_ends_parent_and_workers_promptly_and_the_rerun_resumes(cohort, tmp_path):
    out = tmp_path / "t" / "f.parquet"
    parts = out.with_name(out.name + ".parts")
    cmd = _cmd(cohort["dir"], cohort["params"], out)
    proc, kids = _start_with_workers(cmd)
    try:
        assert sum(map(_is_worker, kids)) == WORKERS, "the extraction ended before its workers could be seen"
        deadline = time.monotonic() + 120
        while proc.poll() is None and not list(parts.glob("part-*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the extraction finished before it could be terminated"
        kids |= _children(proc.pid)
        workers = {p: s for p, s in kids.items() if _is_worker(p)}
        os.kill(proc.pid, signal.SIGTERM)
        t0 = time.monotonic()
        proc.wait(timeout=20)
        print(f"[lifetime] SIGTERM: parent ended after {time.monotonic() - t0:.2f} s")
        assert proc.returncode == -signal.SIGTERM
        assert not _survivors(workers), "a worker outlived the SIGTERM of its parent"
        left, _ = _wait_until_gone(kids, 10.0)  # the resource tracker ends once its pipe is closed
        assert not left
    finally:
        _kill_leftovers(kids, proc)
    done = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    assert "already done" in done.stdout and "(0 already done)" not in done.stdout, done.stdout
    assert not [f.name for f in out.parent.rglob("*") if ".tmp-" in f.name]
    ref = cohort["ref"]
    for name in ("f.parquet", "f.wide.parquet"):
        got, want = pd.read_parquet(out.with_name(name)), pd.read_parquet(ref.with_name(name))
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert out.with_name(name).read_bytes() == ref.with_name(name).read_bytes(), name
    assert out.with_name("f.failures.csv").read_bytes() == ref.with_name("f.failures.csv").read_bytes()


# --------------------------------------------------------------------------- Ctrl-C in a Python session


def _sleep_task(task: dict) -> float:
    time.sleep(task["seconds"])
    return task["seconds"]


def test_keyboard_interrupt_terminates_the_workers_at_once():
    before = set(_children(os.getpid()))
    tasks = [{"seconds": 0.0}] + [{"seconds": 120.0}] * 3

    def on_done(result):
        raise KeyboardInterrupt

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_local(tasks, 2, _sleep_task, on_done)
    assert time.monotonic() - t0 < 60  # not the 120 s of the running tasks
    workers = {p: s for p, s in _children(os.getpid()).items() if p not in before and _is_worker(p)}
    assert not workers
