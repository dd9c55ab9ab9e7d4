"""Faults of the radiomics store: SIGKILL at random points, disk full, permission denied.

The store must only ever hold whole parts, ``store.json`` must list only parts
that exist (with their SHA-256), and a later run must resume to exactly the
table of an uninterrupted run (issue 8, sections 2 and 3).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from radiorisk.cli import main
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import RadioriskError
from radiorisk.imaging import _engine, extract_radiomics

RADIORISK = [sys.executable, "-m", "radiorisk.cli"]

# the ccta-plaque set-up (B-spline resampling, LoG filters) with two feature classes
FAST_YAML = (
    "setting: {binWidth: 25, resampledPixelSpacing: [0.5, 0.5, 0.5], interpolator: sitkBSpline,"
    " padDistance: 10, label: 1}\nimageType: {Original: {}, LoG: {sigma: [1.0, 3.0]}}\n"
    "featureClass: {firstorder: , glcm: }\n"
)
# even smaller, for the in-process fault tests
TINY = {"setting": {"binWidth": 25, "resampledPixelSpacing": [0.5, 0.5, 0.5], "interpolator": "sitkBSpline",
                    "padDistance": 10, "label": 1},
        "imageType": {"Original": {}}, "featureClass": {"firstorder": None}}


def _cohort(d: Path, images: int, seed: int = 1) -> Path:
    write_synthetic_cohort(d, n=max(60, 4 * images), images=images, seed=seed)
    return d


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = _cohort(tmp_path_factory.mktemp("faults") / "D", images=12)
    (d.parent / "fast.yaml").write_text(FAST_YAML)
    return d


@pytest.fixture(scope="module")
def tiny_reference(small, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.parquet"
    return extract_radiomics(small / "manifest.csv", params=TINY, out=out)


def check_store(out: Path, manifest: Path, *, complete: bool) -> dict:
    """The store invariants; returns store.json."""
    store = out.with_name(out.name + ".parts")
    meta = json.loads((store / "store.json").read_text())
    parts_on_disk = {f.name for f in store.glob("part-*.parquet")}
    listed = {e["file"]: e for e in meta["parts"].values()}
    # every listed part exists, whole, with its SHA-256 and row count
    for name, e in listed.items():
        data = (store / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"], name
        assert len(pd.read_parquet(store / name)) == e["rows"], name
    # no temporary file of any kind is left, in the store or beside the outputs
    leftovers = [f.name for f in out.parent.rglob("*") if ".tmp-" in f.name]
    assert not leftovers, leftovers
    if complete:
        man = pd.read_csv(manifest, dtype=str)
        assert meta["complete"] is True
        assert set(listed) == parts_on_disk
        assert len(listed) == man["image_path"].nunique()
    return meta


def _outputs(out: Path) -> dict:
    base = out.name[: -len(".parquet")]
    return {"long": out, "wide": out.with_name(base + ".wide.parquet"),
            "failures": out.with_name(base + ".failures.csv")}


def assert_same_outputs(got: Path, ref: Path) -> None:
    g, r = _outputs(got), _outputs(ref)
    for k in ("long", "wide"):
        a, b = pd.read_parquet(g[k]), pd.read_parquet(r[k])
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert g[k].read_bytes() == r[k].read_bytes(), k
    assert g["failures"].read_bytes() == r["failures"].read_bytes()
    wide = pd.read_parquet(g["wide"])
    assert not wide.duplicated(["lesion_id", "reader"]).any()
    assert not wide.isna().any().any()


# --------------------------------------------------------------------------- SIGKILL at random points


def _check_store_after_kill(parts: Path) -> None:
    """After a kill the store is consistent: listed parts exist, and every part is whole."""
    if (parts / "store.json").exists():
        meta = json.loads((parts / "store.json").read_text())
        for e in meta["parts"].values():
            assert (parts / e["file"]).exists()
        for f in parts.glob("part-*.parquet"):
            pd.read_parquet(f)  # whole


def _run_until(cmd: list[str], at: float) -> tuple[bool, float]:
    """Run ``cmd`` and SIGKILL its process group at ``at`` seconds; (killed, seconds it ran)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=at)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return True, time.monotonic() - t0
    assert proc.returncode == 0  # a run that was not killed succeeds
    return False, time.monotonic() - t0


#: fresh runs tried, after the kill loop, when it killed no run that had work left
RETRIES = 6


def _kill_loop(d: Path, params: Path, tmp_path: Path, *, kills: int, seed: int, jobs: int) -> dict:
    """SIGKILL ``kills`` runs at random points, resume, and compare with an uninterrupted run.

    Kill times are fractions of run durations measured here (the machine's load decides how long a
    run takes, so a kill time can come too late: that run finishes, and is not counted). Only runs
    that were killed count; at least one must have been killed with work left. When the loop had
    none, fresh runs (own output folders) are killed at a fraction of the last measured duration of
    an unkilled full run, at most ``RETRIES`` times; each is then resumed and compared too.
    """
    manifest = d / "manifest.csv"

    def cmd(out):
        return [*RADIORISK, "extract", "--manifest", str(manifest), "--params", str(params), "--out", str(out),
                "--jobs", str(jobs), "--quiet"]

    def resume_and_compare(out):
        final = subprocess.run(cmd(out), capture_output=True, text=True, encoding="utf-8")
        assert final.returncode == 0, final.stderr
        check_store(out, manifest, complete=True)
        assert_same_outputs(out, ref)

    ref = tmp_path / "ref" / "f.parquet"
    t0 = time.monotonic()
    done = subprocess.run(cmd(ref), capture_output=True, text=True, encoding="utf-8")
    t_full = time.monotonic() - t0
    assert done.returncode == 0, done.stderr
    t0 = time.monotonic()
    again = subprocess.run(cmd(ref), capture_output=True, text=True, encoding="utf-8")  # nothing left to do: start-up + writing
    t_fixed = time.monotonic() - t0
    assert again.returncode == 0, again.stderr
    check_store(ref, manifest, complete=True)
    n_images = pd.read_csv(manifest)["image_path"].nunique()

    out = tmp_path / "k" / "f.parquet"
    parts = out.with_name(out.name + ".parts")
    rng = np.random.default_rng(seed)
    log = []
    for _ in range(kills):
        n_done = len(list(parts.glob("part-*.parquet"))) if parts.exists() else 0
        expected = t_fixed + max(0.0, t_full - t_fixed) * (n_images - n_done) / n_images
        at = float(rng.uniform(0.0, 1.1 * expected))
        killed, ran = _run_until(cmd(out), at)
        log.append(("killed" if killed else "finished", at, n_done, ran))
        if killed:
            _check_store_after_kill(parts)
    resume_and_compare(out)

    def killed_with_work_left(entries):
        return [e for e in entries if e[0] == "killed" and e[2] < n_images]

    retries = []
    while not killed_with_work_left(log + retries) and len(retries) < RETRIES:
        fresh = tmp_path / f"retry{len(retries)}" / "f.parquet"
        at = float(rng.uniform(0.1, 0.9)) * t_full
        killed, ran = _run_until(cmd(fresh), at)
        retries.append(("killed" if killed else "finished", at, 0, ran))
        if killed:
            _check_store_after_kill(fresh.with_name(fresh.name + ".parts"))
        else:
            t_full = ran  # the machine is faster now: the next kill time comes from this run
        resume_and_compare(fresh)
    assert killed_with_work_left(log + retries), (log, retries)
    return {"log": log, "retries": retries, "t_full": t_full}


def test_sigkill_at_ten_random_points_then_resume_gives_the_uninterrupted_table(small, tmp_path):
    _kill_loop(small, small.parent / "fast.yaml", tmp_path, kills=10, seed=20260808, jobs=1)


@pytest.mark.slow
def test_sigkill_at_random_points_with_two_jobs_on_a_bigger_cohort(tmp_path):
    d = _cohort(tmp_path / "D", images=48, seed=4)
    params = tmp_path / "fast.yaml"
    params.write_text(FAST_YAML)
    _kill_loop(d, params, tmp_path, kills=20, seed=7, jobs=2)


# --------------------------------------------------------------------------- orphans, stale and damaged parts


def test_orphan_temporaries_are_removed_and_unlisted_parts_adopted(small, tiny_reference, tmp_path):
    out = tmp_path / "f.parquet"
    extract_radiomics(small / "manifest.csv", params=TINY, out=out)
    store = tmp_path / "f.parquet.parts"
    meta = json.loads((store / "store.json").read_text())
    # as if killed between a part's rename and the store.json update, and in the middle of writes
    first = next(iter(meta["parts"]))
    del meta["parts"][first]
    meta["complete"] = False
    (store / "store.json").write_text(json.dumps(meta))
    (store / "part-0123.parquet.tmp-999-abcd").write_bytes(b"PAR1 half a part")
    (store / "store.json.tmp-999-abcd").write_text("{")
    (tmp_path / "f.wide.parquet.tmp-999-abcd").write_bytes(b"PAR1")
    again = extract_radiomics(small / "manifest.csv", params=TINY, out=out)
    assert again.n_images_skipped == again.n_images  # the unlisted part was verified and adopted
    check_store(out, small / "manifest.csv", complete=True)
    pd.testing.assert_frame_equal(again.features, tiny_reference.features, check_exact=True)


def test_damaged_and_stale_parts_are_redone(small, tiny_reference, tmp_path):
    out = tmp_path / "f.parquet"
    extract_radiomics(small / "manifest.csv", params=TINY, out=out)
    store = tmp_path / "f.parquet.parts"
    parts = sorted(store.glob("part-*.parquet"))
    data = parts[0].read_bytes()
    parts[0].write_bytes(data[: len(data) // 2])  # truncated (e.g. a copy interrupted by hand)
    again = extract_radiomics(small / "manifest.csv", params=TINY, out=out)
    assert again.n_images_skipped == again.n_images - 1
    pd.testing.assert_frame_equal(again.features, tiny_reference.features, check_exact=True)
    # a changed manifest (another label for one lesion) redoes that image only: no stale rows
    man = pd.read_csv(small / "manifest.csv", dtype=str)
    man["image_path"] = man["image_path"].map(lambda p: str(small / p))
    man["mask_path"] = man["mask_path"].map(lambda p: str(small / p))
    man.loc[0, "label"] = "5"
    changed = extract_radiomics(man, params=TINY, out=out)
    assert changed.n_images_skipped == changed.n_images - 1
    fresh = extract_radiomics(man, params=TINY)
    pd.testing.assert_frame_equal(changed.features, fresh.features, check_exact=True)
    assert not changed.features.iloc[0].equals(tiny_reference.features.iloc[0])


# --------------------------------------------------------------------------- disk full, permission denied


def _failing_writer(monkeypatch, code: int, after: int):
    real = _engine._write_parquet_file
    calls = {"n": 0}

    def writer(table, path):
        calls["n"] += 1
        if calls["n"] > after:
            path.write_bytes(b"PAR1 partly written")  # what a full disk leaves behind
            raise OSError(code, os.strerror(code))
        real(table, path)

    monkeypatch.setattr(_engine, "_write_parquet_file", writer)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_disk_full_or_permission_denied_midway_is_a_clear_error_and_resumes(
        small, tiny_reference, tmp_path, monkeypatch, capsys, code):
    params = tmp_path / "tiny.json"
    params.write_text(json.dumps(TINY))
    out = tmp_path / "f.parquet"
    argv = ["extract", "--manifest", str(small / "manifest.csv"), "--params", str(params), "--out", str(out),
            "--quiet"]
    _failing_writer(monkeypatch, code, after=3)
    assert main(argv) == 2
    err = capsys.readouterr().err
    store = out.with_name(out.name + ".parts")
    assert f"cannot write to {store.absolute()}: {os.strerror(code)} (errno {code})" in err
    assert "Traceback" not in err and err.count("\n") == 1
    meta = check_store(out, small / "manifest.csv", complete=False)
    assert len(meta["parts"]) == 3 and not meta["complete"]
    assert len(list(store.glob("part-*.parquet"))) == 3
    assert not out.exists()
    monkeypatch.undo()  # space freed / permission restored
    assert main(argv) == 0
    check_store(out, small / "manifest.csv", complete=True)
    pd.testing.assert_frame_equal(pd.read_parquet(out.with_name("f.wide.parquet")), tiny_reference.features,
                                  check_exact=True)
    assert "(3 already done)" in capsys.readouterr().out


def test_unwritable_final_output_names_the_file(small, tmp_path, monkeypatch):
    out = tmp_path / "f.parquet"

    real_write_table = pq.write_table

    def deny(table, where, *a, **k):  # the outputs beside the store, whatever writes them; parts go through
        if ".parts" not in str(where):
            raise PermissionError(errno.EACCES, "Permission denied", str(where))
        return real_write_table(table, where, *a, **k)

    monkeypatch.setattr(pq, "write_table", deny)  # pandas' to_parquet writes with it too
    with pytest.raises(RadioriskError, match=r"cannot write to .*f\.wide\.parquet: Permission denied \(errno 13\)"):
        extract_radiomics(small / "manifest.csv", params=TINY, out=out)
    monkeypatch.undo()
    check_store(out, small / "manifest.csv", complete=True)  # the parts are all there
    res = extract_radiomics(small / "manifest.csv", params=TINY, out=out)
    assert res.n_images_skipped == res.n_images and out.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_read_only_output_folder(small, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code = main(["extract", "--manifest", str(small / "manifest.csv"), "--params", "ibsi",
                     "--out", str(ro / "f.parquet"), "--quiet"])
        err = capsys.readouterr().err
    finally:
        ro.chmod(0o755)
    assert code == 2
    assert "Permission denied (errno 13)" in err and str(ro / "f.parquet.parts") in err


def test_a_second_run_on_the_same_store_is_refused(small, tmp_path):
    out = tmp_path / "f.parquet"
    store = tmp_path / "f.parquet.parts"
    store.mkdir()
    with _engine._store_lock(store), pytest.raises(RadioriskError, match="another radiorisk extraction"):
        extract_radiomics(small / "manifest.csv", params=TINY, out=out)
