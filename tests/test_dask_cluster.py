"""``radiorisk extract --scheduler`` on a Dask cluster started separately (issue 8, section 1).

A ``dask scheduler`` and ``dask worker`` processes run on localhost as
subprocesses, as on a real cluster; the table must equal the local one, a
worker killed mid-run must not change it, and a cluster without workers must
end in a clear error instead of a hang.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import RadioriskError
from radiorisk.imaging import extract_radiomics

distributed = pytest.importorskip("distributed")

DASK = Path(sys.executable).with_name("dask")
RADIORISK = [sys.executable, "-m", "radiorisk.cli"]
FAST_YAML = (
    "setting: {binWidth: 25, resampledPixelSpacing: [0.5, 0.5, 0.5], interpolator: sitkBSpline,"
    " padDistance: 10, label: 1}\nimageType: {Original: {}, LoG: {sigma: [1.0, 3.0]}}\n"
    "featureClass: {firstorder: , glcm: }\n"
)
pytestmark = pytest.mark.skipif(not DASK.exists(), reason="the dask command line is not installed")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask") / "D"
    write_synthetic_cohort(d, n=80, images=16, seed=3)
    (d.parent / "fast.yaml").write_text(FAST_YAML)
    return d


@pytest.fixture(scope="module")
def local_table(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "f.parquet"
    done = subprocess.run([*RADIORISK, "extract", "--manifest", str(cohort / "manifest.csv"), "--params",
                           str(cohort.parent / "fast.yaml"), "--out", str(out), "--jobs", "1", "--quiet"],
                          capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    d = tmp_path_factory.mktemp("scheduler")
    sfile = d / "scheduler.json"
    with open(d / "scheduler.log", "wb") as log:
        # random ports for the scheduler and its HTTP server (it serves /metrics even without a dashboard);
        # --idle-timeout: a safety net should pytest itself be killed before the teardown
        proc = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                 "--dashboard-address", "127.0.0.1:0", "--idle-timeout", "600s",
                                 "--scheduler-file", str(sfile)], stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=d)
    try:
        deadline = time.time() + 90
        address = None
        while time.time() < deadline and proc.poll() is None:
            try:
                address = json.loads(sfile.read_text())["address"]
                break
            except (FileNotFoundError, ValueError, KeyError):
                time.sleep(0.1)
        assert address, (d / "scheduler.log").read_text()
        yield address
    finally:
        _stop(proc)


@pytest.fixture
def workers(scheduler, tmp_path):
    """start(n) -> worker processes (no nanny: a killed worker stays dead); all stopped at teardown."""
    procs: list[subprocess.Popen] = []

    def start(n: int) -> list[subprocess.Popen]:
        env = {**os.environ, "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "1", "OMP_NUM_THREADS": "1"}
        new = []
        for i in range(n):
            wd = tmp_path / f"worker{len(procs)}"
            wd.mkdir()
            with open(wd / "worker.log", "wb") as log:
                new.append(subprocess.Popen(
                    [str(DASK), "worker", scheduler, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                     "--local-directory", str(wd), "--name", f"w{len(procs)}-{i}", "--death-timeout", "60s"],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=wd, env=env))
            procs.append(new[-1])
        with distributed.Client(scheduler, set_as_default=False, timeout=60) as c:
            c.wait_for_workers(len([p for p in procs if p.poll() is None]), timeout=90)
        return new

    try:
        yield start
    finally:
        for p in procs:
            _stop(p)
        # the scheduler forgets the dead workers before the next test
        with distributed.Client(scheduler, set_as_default=False, timeout=60) as c:
            deadline = time.time() + 30
            while c.nthreads() and time.time() < deadline:
                time.sleep(0.1)


def _cmd(cohort: Path, out: Path, scheduler: str) -> list[str]:
    return [*RADIORISK, "extract", "--manifest", str(cohort / "manifest.csv"), "--params",
            str(cohort.parent / "fast.yaml"), "--out", str(out), "--scheduler", scheduler, "--quiet"]


def _assert_same_table(got: Path, ref: Path) -> None:
    for suffix in (".parquet", ".wide.parquet"):
        a = pd.read_parquet(got.with_name("f" + suffix))
        b = pd.read_parquet(ref.with_name("f" + suffix))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=0, atol=1e-12)
    wide = pd.read_parquet(got.with_name("f.wide.parquet"))
    assert not wide.duplicated(["lesion_id", "reader"]).any()


def _store_is_complete(out: Path) -> None:
    store = out.with_name(out.name + ".parts")
    meta = json.loads((store / "store.json").read_text())
    assert meta["complete"] is True
    assert {e["file"] for e in meta["parts"].values()} == {f.name for f in store.glob("part-*.parquet")}
    assert not [f for f in out.parent.rglob("*") if ".tmp-" in f.name]


def test_separately_started_cluster_gives_the_local_table(cohort, local_table, scheduler, workers, tmp_path):
    workers(2)
    out = tmp_path / "f.parquet"
    done = subprocess.run(_cmd(cohort, out, scheduler), capture_output=True, text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 0, done.stderr
    _assert_same_table(out, local_table)
    _store_is_complete(out)


def test_a_worker_killed_mid_run_changes_nothing(cohort, local_table, scheduler, workers, tmp_path):
    procs = workers(2)
    out = tmp_path / "f.parquet"
    parts = tmp_path / "f.parquet.parts"
    cli = subprocess.Popen(_cmd(cohort, out, scheduler), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, encoding="utf-8", start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and cli.poll() is None and not list(parts.glob("part-*.parquet")):
            time.sleep(0.01)
        assert cli.poll() is None, "the extraction ended before a worker could be killed"
        os.killpg(procs[0].pid, signal.SIGKILL)
        procs[0].wait()
        n_at_kill = len(list(parts.glob("part-*.parquet")))
        stdout, stderr = cli.communicate(timeout=300)
    finally:
        _stop(cli)
    assert cli.returncode == 0, stderr
    assert n_at_kill < 16
    _assert_same_table(out, local_table)
    _store_is_complete(out)


def test_a_cluster_that_loses_every_worker_is_a_clear_error(cohort, local_table, scheduler, workers,
                                                             tmp_path):
    procs = workers(1)
    out = tmp_path / "f.parquet"
    parts = tmp_path / "f.parquet.parts"
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        fut = ex.submit(extract_radiomics, cohort / "manifest.csv", params=cohort.parent / "fast.yaml",
                        out=out, scheduler=scheduler, worker_timeout=3)
        deadline = time.time() + 120
        while time.time() < deadline and not fut.done() and not list(parts.glob("part-*.parquet")):
            time.sleep(0.01)
        assert not fut.done()
        os.killpg(procs[0].pid, signal.SIGKILL)
        t_kill = time.time()
        with pytest.raises(RadioriskError, match=r"has had no worker for 3 s \(\d+ image\(s\) left\)"):
            fut.result(timeout=120)
        assert time.time() - t_kill < 60
    # what finished is kept (store.json lists a subset of the parts; a part whose result died with
    # its worker is on disk but unlisted, and is verified by its fingerprint): a later run resumes
    meta = json.loads((parts / "store.json").read_text())
    on_disk = {f.name for f in parts.glob("part-*.parquet")}
    assert not meta["complete"] and {e["file"] for e in meta["parts"].values()} <= on_disk
    assert 1 <= len(on_disk) < 16
    resumed = extract_radiomics(cohort / "manifest.csv", params=cohort.parent / "fast.yaml", out=out)
    assert resumed.n_images_skipped == len(on_disk)
    _assert_same_table(out, local_table)
    _store_is_complete(out)


@pytest.mark.slow  # waits for the 5 s connection timeout
def test_an_unreachable_scheduler_is_a_clear_error(cohort, tmp_path):
    t0 = time.time()
    with pytest.raises(RadioriskError, match="cannot connect to the Dask scheduler at tcp://127.0.0.1:9"):
        extract_radiomics(cohort / "manifest.csv", params=cohort.parent / "fast.yaml", out=tmp_path / "f.parquet",
                          scheduler="tcp://127.0.0.1:9", worker_timeout=1)
    assert time.time() - t0 < 60
