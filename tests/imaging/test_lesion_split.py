"""Work below the image (issue 15): the lesions of one image spread over `--jobs 2` workers.

The outputs must be the bytes of a `--jobs 1` run (features, wide view, failures, provenance
and every part of the store), whichever worker extracted which lesion; each image is read
once (by one worker, which cuts the crops of its lesions; any worker extracts a crop).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine import PARAMS, _volume  # the engine tests' volumes (3 lesions each)
from test_exact_crop import HOW, _pick, _write_case, geometries, lesions, parameter_files

from radiorisk.exceptions import RadioriskError
from radiorisk.imaging import extract_radiomics
from radiorisk.imaging._executors import _CutQueue, run_local, worker_pool
from radiorisk.imaging._split import PartAssembler
from radiorisk.imaging._store import store_paths


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _output_bytes(out: Path) -> dict:
    """SHA-256 of every output and of every part of the store (store.json without its paths)."""
    paths = store_paths(out)
    digests = {k: _sha(paths[k]) for k in ("features", "wide", "failures", "provenance")}
    for part in sorted(paths["store"].glob("part-*.parquet")):
        digests[part.name] = _sha(part)
    digests["store.json"] = json.loads((paths["store"] / "store.json").read_text(encoding="utf-8"))
    return digests


# --------------------------------------------------------------------------- the scheduler


def _crop(name: str, n_voxels: int) -> dict:
    return {"name": name, "n_voxels": n_voxels}


def test_cut_queue_cuts_while_few_crops_wait_then_extracts_largest_first():
    img = {f"i{k}": {"image_path": f"i{k}", "lesions": [{"lesion_id": f"i{k}L{j}"} for j in range(3)]}
           for k in range(3)}
    q = _CutQueue(list(img.values()), ready_target=4)
    assert [q.take()[1]["image_path"], q.take()[1]["image_path"]] == ["i0", "i1"]  # nothing ready: cut
    cut_i1 = {"image_path": "i1", "cuts": [(0, _crop("c10", 5)), (2, _crop("c12", 50))], "results": []}
    q.absorb(cut_i1)  # i1's lesion 1 failed at the cut
    assert "cuts" not in cut_i1  # the crops left the result for the queue
    kind, t = q.take()  # 2 crops wait (< 4): cut the next image
    assert (kind, t["image_path"]) == ("cut", "i2")
    q.absorb({"image_path": "i0", "cuts": [(0, _crop("c00", 7)), (1, _crop("c01", 70)), (2, _crop("c02", 7))]})
    q.absorb({"image_path": "i2", "results": []})  # every lesion of i2 failed at the cut
    got = [q.take() for _ in range(5)]  # no image left: the largest crop first (ties: in queue order)
    assert [(k, t["index"], t["cut"]["name"], t["lesions"][0]["lesion_id"]) for k, t in got] == [
        ("extract", 1, "c01", "i0L1"), ("extract", 2, "c12", "i1L2"), ("extract", 0, "c00", "i0L0"),
        ("extract", 2, "c02", "i0L2"), ("extract", 0, "c10", "i1L0")]
    assert q.take() is None and not q.has_work()


def test_cut_queue_extracts_in_cut_order_while_images_are_left():
    img = [{"image_path": f"i{k}", "lesions": [{"lesion_id": f"L{j}"} for j in range(5)]} for k in range(2)]
    q = _CutQueue(img, ready_target=4)
    q.take()
    q.absorb({"image_path": "i0", "cuts": [(j, _crop(f"c{j}", 10 * j)) for j in range(5)]})
    assert q.depth(workers=1) == 2  # 10 lesions left: a worker may hold a second task
    kind, t = q.take()
    assert (kind, t["index"]) == ("extract", 0)  # 5 crops wait (>= 4): keep the workers on them, in order
    assert [q.take()[0] for _ in range(2)] == ["extract", "cut"]  # 3 left (< 4): read the next image
    assert q.depth(workers=1) == 1 and q.depth(workers=3) == 1  # 3 crops and no image: one task each


def _timed_task(task: dict) -> dict:
    time.sleep(task["seconds"])
    if task.get("fail"):
        raise ValueError(f"task {task['k']} failed")
    return {"k": task["k"], "pid": os.getpid()}


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([0.0, 0.002, 0.02, 0.08]), min_size=1, max_size=14))
def test_this_process_and_the_workers_share_the_tasks_each_run_once(seconds):
    """run_local(here=True): each task runs once (here or in the worker), on_done once per task, here."""
    tasks = [{"k": k, "seconds": s} for k, s in enumerate(seconds)]
    seen, threads = [], set()

    def on_done(result):
        seen.append(result)
        threads.add(threading.get_ident())

    with worker_pool(1) as pool:
        run_local(tasks, 2, _timed_task, on_done, pool=pool, here=True)
    assert sorted(r["k"] for r in seen) == list(range(len(tasks)))
    assert threads == {threading.get_ident()}  # results are handled in the caller's thread only


def _blas_threads(_task) -> dict:
    from threadpoolctl import threadpool_info

    return {"env": os.environ.get("OPENBLAS_NUM_THREADS"),
            "threads": sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})}


def test_a_worker_starts_its_blas_with_one_thread(monkeypatch):
    """Set before the worker imports numpy: OpenBLAS starts no spinning thread per core (no limit
    in force here: the startup value); a value set by the user is left as it is."""
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with worker_pool(1) as pool:
        got = pool.submit(_blas_threads, None).result()
    assert got == {"env": "1", "threads": [1]}
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    with worker_pool(1) as pool:
        assert pool.submit(_blas_threads, None).result()["env"] == "2"


def test_this_process_takes_tasks_while_the_worker_has_its_own():
    tasks = [{"k": k, "seconds": 0.05} for k in range(6)]
    seen = []
    run_local(tasks, 2, _timed_task, seen.append, here=True)
    pids = [r["pid"] for r in seen]
    assert sorted(r["k"] for r in seen) == list(range(6))
    assert os.getpid() in pids and len(set(pids)) == 2  # this process and the one worker


def test_an_error_in_a_shared_task_stops_the_run_and_is_raised():
    tasks = [{"k": k, "seconds": 0.01, "fail": k == 3} for k in range(8)]
    with pytest.raises(ValueError, match="task 3 failed"):
        run_local(tasks, 2, _timed_task, lambda r: None, here=True)


def _dies_in_a_worker(task: dict) -> dict:
    if task["k"] == 0 and os.getpid() != task["parent"]:
        os.kill(os.getpid(), signal.SIGKILL)  # what an out-of-memory kill does to a worker
    time.sleep(task["seconds"])
    return {"k": task["k"], "pid": os.getpid()}


def test_a_worker_killed_mid_run_is_a_clear_error_not_a_hang():
    tasks = [{"k": k, "seconds": 0.05, "parent": os.getpid()} for k in range(8)]
    t0 = time.monotonic()
    with pytest.raises(RadioriskError, match="a radiomics worker process died"):
        run_local(tasks, 2, _dies_in_a_worker, lambda r: None, here=True)
    assert time.monotonic() - t0 < 60


def test_parts_are_assembled_in_lesion_order_whatever_the_arrival_order():
    task = {"image_path": "img", "lesions": [{"lesion_id": f"L{i}", "reader": "r"} for i in range(3)]}
    written = []
    pa = PartAssembler([task], lambda t, part: written.append(part) or {"file": "p"})
    fail = {"lesion_id": "L1", "reader": "r", "image_path": "img", "stage": "mask", "reason": "x"}
    assert pa.add({"image_path": "img", "results": [(2, "row", {"lesion_id": "L2", "reader": "r", "f": 2.0})]}) is None
    assert pa.add({"image_path": "img", "results": [(1, "failure", fail)]}) is None
    assert pa.add({"image_path": "img", "results": [(0, "row", {"lesion_id": "L0", "reader": "r", "f": 0.0})]}) == {"file": "p"}
    assert written[0]["features"]["lesion_id"].tolist() == ["L0", "L2"]
    assert written[0]["failures"]["lesion_id"].tolist() == ["L1"]


# --------------------------------------------------------------------------- the engine


@pytest.fixture(scope="module")
def one_image(tmp_path_factory):
    """One volume with three lesions, a label that is absent, and an unreadable image of two lesions."""
    d = tmp_path_factory.mktemp("split")
    _volume(d, 5)
    (d / "broken_ct.nii.gz").write_bytes(b"not an image")
    rows = [{"lesion_id": f"L{k}", "image_path": "vol5_ct.nii.gz", "mask_path": "vol5_mask.nii.gz",
             "label": lab, "reader": "reader1"} for k, lab in enumerate(["1", "2", "9", "3", "1,2"])]
    rows += [{"lesion_id": f"B{k}", "image_path": "broken_ct.nii.gz", "mask_path": "vol5_mask.nii.gz",
              "label": "1", "reader": "reader1"} for k in range(2)]
    pd.DataFrame(rows).to_csv(d / "manifest.csv", index=False)
    return d


def test_lesions_of_one_image_split_over_two_workers_give_the_bytes_of_one_job(one_image, tmp_path, capsys):
    one = extract_radiomics(one_image / "manifest.csv", params=PARAMS, out=tmp_path / "j1" / "f.parquet", jobs=1)
    two = extract_radiomics(one_image / "manifest.csv", params=PARAMS, out=tmp_path / "j2" / "f.parquet", jobs=2,
                            progress=True)
    pd.testing.assert_frame_equal(one.features, two.features, check_exact=True)
    pd.testing.assert_frame_equal(one.failures, two.failures, check_exact=True)
    assert one.features["lesion_id"].tolist() == ["L0", "L1", "L3", "L4"]
    assert sorted(one.failures["lesion_id"]) == ["B0", "B1", "L2"]
    assert _output_bytes(tmp_path / "j1" / "f.parquet") == _output_bytes(tmp_path / "j2" / "f.parquet")
    # the work: one task per lesion, both workers had lesions, each image read once in all
    w = two.work
    assert w["unit"] == "lesion" and w["jobs"] == 2
    assert sum(x["lesions"] for x in w["workers"].values()) == 4  # 7 lesions, 3 failed at the cut
    assert len(w["workers"]) == 2 and all(x["lesions"] >= 1 for x in w["workers"].values())
    assert sum(x["reads"] for x in w["workers"].values()) == 2  # two images, each read once
    assert 0.5 <= w["largest_share"] <= 1.0 and w["balance_bound"] == pytest.approx(1 / w["largest_share"], rel=1e-2)
    assert one.work["unit"] == "image" and sum(x["reads"] for x in one.work["workers"].values()) == 2
    assert "lesion" in capsys.readouterr().err  # the progress bar counts lesions
    assert "2 process(es), one lesion per task" in two.work_summary()


def test_whole_image_tasks_shared_by_this_process_and_a_worker_give_the_bytes_of_one_job(one_image, tmp_path):
    """Without the crop (one task per image, run_local(here=True)): the same outputs, both processes used."""
    one = extract_radiomics(one_image / "manifest.csv", params=PARAMS, out=tmp_path / "j1" / "f.parquet", jobs=1,
                            crop=False)
    two = extract_radiomics(one_image / "manifest.csv", params=PARAMS, out=tmp_path / "j2" / "f.parquet", jobs=2,
                            crop=False)
    pd.testing.assert_frame_equal(one.features, two.features, check_exact=True)
    assert _output_bytes(tmp_path / "j1" / "f.parquet") == _output_bytes(tmp_path / "j2" / "f.parquet")
    assert two.work["unit"] == "image" and sum(x["reads"] for x in two.work["workers"].values()) == 2
    assert len(two.work["workers"]) == 2  # the two images went to the two processes
    assert one.provenance["crop"] is False and two.provenance["crop"] is False


def test_resume_after_a_partial_two_job_run_adopts_whole_images_only(one_image, tmp_path):
    out = tmp_path / "f.parquet"
    first = extract_radiomics(one_image / "manifest.csv", params=PARAMS, out=out, jobs=2)
    again = extract_radiomics(one_image / "manifest.csv", params=PARAMS, out=out, jobs=2)
    assert again.n_images_skipped == again.n_images == 2
    assert "nothing extracted" in again.work_summary()
    pd.testing.assert_frame_equal(first.features, again.features, check_exact=True)


# --------------------------------------------------------------------------- random geometries


def test_jobs_1_and_2_agree_to_the_bit_where_multithreaded_itk_did_not(tmp_path):
    """The slow property test's case: Lanczos resampling of a normalised image differed in the 15th
    digit while --jobs 1 ran ITK with all cores' threads and the workers with one."""
    geom = {"shape": (22, 98, 118), "spacing": [0.6754354238510132, 0.6754354238510132, 5.943099021911621],
            "origin": [185.5537538789569, -8.199845163072458e-41, 188.59403915095385],
            "direction": [-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0], "float": True, "seed": 659591927}
    params = {"setting": {"binWidth": 10, "additionalInfo": False, "resampledPixelSpacing": [0.75, 0.75, 0],
                          "interpolator": "sitkLanczosWindowedSinc", "padDistance": 2, "normalize": True,
                          "normalizeScale": 100, "resegmentRange": [-150, 300]},
              "imageType": {"Original": {}, "Gradient": {}},
              "featureClass": {"firstorder": None, "glcm": None, "glszm": None, "shape": None}}
    ip, mp = _write_case(tmp_path, geom, {"radii": (1.2, 2.0, 2.0), "centre": (0.0, 0.0, 0.0)})
    man = pd.DataFrame([{"lesion_id": f"L{k}", "image_path": str(ip), "mask_path": str(mp), "label": lab}
                        for k, lab in enumerate(["1", "2", "1,2"])])
    res = {j: extract_radiomics(man, params=params, out=tmp_path / f"j{j}" / "f.parquet", jobs=j) for j in (1, 2)}
    pd.testing.assert_frame_equal(res[1].features, res[2].features, check_exact=True)
    assert _output_bytes(tmp_path / "j1" / "f.parquet") == _output_bytes(tmp_path / "j2" / "f.parquet")


def _run_random(n_examples: int) -> int:
    cases = []

    @settings(max_examples=n_examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def check(data):
        geom = data.draw(geometries(), label="geometry")
        les = data.draw(lesions(geom["shape"]), label="lesion")
        how = _pick(data.draw, HOW)
        params = data.draw(parameter_files(how), label="params")
        if params["setting"].get("resampledPixelSpacing") == "image":
            params["setting"]["resampledPixelSpacing"] = list(geom["spacing"])
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            ip, mp = _write_case(tmp, geom, les)
            man = pd.DataFrame([{"lesion_id": f"L{k}", "image_path": str(ip), "mask_path": str(mp), "label": lab}
                                for k, lab in enumerate(["1", "2", "1,2"])])
            outs = {}
            for jobs in (1, 2):
                res = extract_radiomics(man, params=params, out=tmp / f"j{jobs}" / "f.parquet", jobs=jobs)
                outs[jobs] = (res, _output_bytes(tmp / f"j{jobs}" / "f.parquet"))
            pd.testing.assert_frame_equal(outs[1][0].features, outs[2][0].features, check_exact=True)
            assert outs[1][1] == outs[2][1], (geom, les, params)
        cases.append(1)

    check()
    return len(cases)


def test_two_jobs_equal_one_job_on_random_geometries():
    n = _run_random(3)
    print(f"\nlesion-split property test: {n} random geometries, --jobs 2 outputs byte-identical to --jobs 1")
    assert n == 3


@pytest.mark.slow
def test_two_jobs_equal_one_job_on_random_geometries_many():
    n = _run_random(30)
    print(f"\nlesion-split property test, slow: {n} random geometries, --jobs 2 byte-identical to --jobs 1")
    assert n == 30
