"""The radiomics batch engine: crop equality, resume, failures, parallel determinism."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiorisk.imaging import extract_radiomics
from radiorisk.imaging._params import load_params

# a reduced ccta-plaque: same resampling, filters and padding, fewer feature classes (fast)
PARAMS = load_params("ccta-plaque").params | {"featureClass": {"firstorder": None, "glszm": None}}


def _volume(path: Path, seed: int, n_lesions: int = 3, spacing=(0.43, 0.43, 0.5)):
    rng = np.random.default_rng(seed)
    shape = (70, 110, 110)  # z, y, x
    arr = rng.normal(40, 25, shape)
    mask = np.zeros(shape, np.uint8)
    zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]]
    centres = [(20, 30, 30), (45, 70, 40), (35, 40, 80)][:n_lesions]
    for k, (cz, cy, cx) in enumerate(centres, start=1):
        blob = ((zz - cz) ** 2 / 40 + (yy - cy) ** 2 / 16 + (xx - cx) ** 2 / 20) < 1
        arr[blob] += 120 + 40 * k
        arr[(zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx - 1) ** 2 < 3] = 700
        mask[blob] = k
    img = sitk.GetImageFromArray(arr.astype(np.int16))
    img.SetSpacing(spacing)
    img.SetOrigin((-12.0, 30.5, 101.25))
    m = sitk.GetImageFromArray(mask)
    m.CopyInformation(img)
    sitk.WriteImage(img, str(path / f"vol{seed}_ct.nii.gz"))
    sitk.WriteImage(m, str(path / f"vol{seed}_mask.nii.gz"))
    return img, m


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("engine")
    rows = []
    for seed in (1, 2):
        _volume(d, seed)
        for k in (1, 2, 3):
            rows.append({"lesion_id": f"L{seed}{k}", "scan_id": f"S{seed}", "patient_id": f"P{seed}",
                         "image_path": f"vol{seed}_ct.nii.gz", "mask_path": f"vol{seed}_mask.nii.gz",
                         "label": str(k), "reader": "reader1"})
    pd.DataFrame(rows).to_csv(d / "manifest.csv", index=False)
    return d


def _reference(d: Path, lesion: dict) -> dict:
    """pyradiomics on the uncropped image, as its own command line would run it."""
    import radiomics
    from radiomics import featureextractor

    radiomics.logger.setLevel(logging.ERROR)
    img = sitk.ReadImage(str(d / lesion["image_path"]))
    mask = sitk.ReadImage(str(d / lesion["mask_path"]))
    res = featureextractor.RadiomicsFeatureExtractor(PARAMS).execute(img, mask, label=int(lesion["label"]))
    return {k: float(v) for k, v in res.items() if not k.startswith("diagnostics_")}


def test_cropped_features_equal_pyradiomics_on_the_whole_image(cohort, tmp_path):
    res = extract_radiomics(cohort / "manifest.csv", params=PARAMS, out=tmp_path / "f.parquet")
    assert res.ok and len(res.features) == 6
    man = pd.read_csv(cohort / "manifest.csv", dtype=str)
    for lesion in man.iloc[[0, 4]].to_dict("records"):
        ref = _reference(cohort, lesion)
        got = res.features.set_index("lesion_id").loc[lesion["lesion_id"]]
        assert set(ref) <= set(got.index)
        for k, v in ref.items():
            assert got[k] == pytest.approx(v, rel=1e-9, abs=1e-9), k
    # provenance and the side files
    prov = json.loads((tmp_path / "f.provenance.json").read_text())
    assert prov["params_sha256"] == load_params(PARAMS).sha256 and prov["versions"]["pyradiomics"]
    assert pd.read_csv(tmp_path / "f.failures.csv").empty
    assert not res.features.isna().any().any()


def test_resume_skips_finished_images_and_never_duplicates(cohort, tmp_path):
    out = tmp_path / "f.parquet"
    first = extract_radiomics(cohort / "manifest.csv", params=PARAMS, out=out)
    parts = sorted((tmp_path / "f.parquet.parts").glob("part-*.parquet"))
    assert len(parts) == 2
    parts[1].unlink()  # as if the run had died before the second image
    second = extract_radiomics(cohort / "manifest.csv", params=PARAMS, out=out)
    assert second.n_images_skipped == 1
    pd.testing.assert_frame_equal(first.features, second.features)
    assert not second.features.duplicated(["lesion_id", "reader"]).any()


def test_changed_parameters_refuse_an_old_store(cohort, tmp_path):
    out = tmp_path / "f.parquet"
    extract_radiomics(cohort / "manifest.csv", params=PARAMS, out=out)
    other = PARAMS | {"setting": PARAMS["setting"] | {"binWidth": 10}}
    with pytest.raises(Exception, match="other radiomics parameters"):
        extract_radiomics(cohort / "manifest.csv", params=other, out=out)


def test_failures_are_recorded_and_do_not_stop_the_batch(cohort, tmp_path):
    (tmp_path / "corrupt_ct.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    man = pd.read_csv(cohort / "manifest.csv", dtype=str)
    man["image_path"] = man["image_path"].map(lambda p: str(cohort / p))
    man["mask_path"] = man["mask_path"].map(lambda p: str(cohort / p))
    extra = [
        {**man.iloc[0].to_dict(), "lesion_id": "Lmissinglabel", "label": "9"},
        {**man.iloc[0].to_dict(), "lesion_id": "Lnofile", "image_path": str(tmp_path / "nope.nii.gz")},
        {**man.iloc[0].to_dict(), "lesion_id": "Lcorrupt", "image_path": str(tmp_path / "corrupt_ct.nii.gz")},
    ]
    man = pd.concat([man, pd.DataFrame(extra)], ignore_index=True)
    res = extract_radiomics(man, params=PARAMS)
    assert len(res.features) == 6 and not res.ok
    reasons = res.failures.set_index("lesion_id")["reason"]
    assert "not present" in reasons["Lmissinglabel"]
    assert "does not exist" in reasons["Lnofile"]
    assert "cannot be read" in reasons["Lcorrupt"]
    assert not res.features.isna().any().any()


def test_two_jobs_give_the_same_table_as_one(cohort, tmp_path):
    one = extract_radiomics(cohort / "manifest.csv", params=PARAMS, out=tmp_path / "a.parquet", jobs=1)
    two = extract_radiomics(cohort / "manifest.csv", params=PARAMS, out=tmp_path / "b.parquet", jobs=2)
    pd.testing.assert_frame_equal(one.features, two.features)


def test_cli_extract_survives_sigkill_and_resumes(cohort, tmp_path):
    params = tmp_path / "p.json"
    params.write_text(json.dumps(PARAMS))
    out = tmp_path / "k.parquet"
    cmd = [sys.executable, "-m", "radiorisk.cli", "extract", "--manifest", str(cohort / "manifest.csv"),
           "--params", str(params), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    parts = tmp_path / "k.parquet.parts"
    deadline = time.time() + 120
    while time.time() < deadline and not list(parts.glob("part-*.parquet")) and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    got = pd.read_parquet(tmp_path / "k.wide.parquet")
    ref = extract_radiomics(cohort / "manifest.csv", params=PARAMS).features
    pd.testing.assert_frame_equal(got, ref)
    assert not got.duplicated(["lesion_id", "reader"]).any()


def test_long_and_wide_outputs_agree(cohort, tmp_path):
    res = extract_radiomics(cohort / "manifest.csv", params=PARAMS, out=tmp_path / "f.parquet")
    long = pd.read_parquet(tmp_path / "f.parquet")
    assert long.columns.tolist() == ["patient_id", "scan_id", "lesion_id", "reader", "feature", "value"]
    wide = pd.read_parquet(tmp_path / "f.wide.parquet")
    n_feat = wide.shape[1] - 5  # ids + n_voxels
    assert len(long) == len(wide) * n_feat
    v = long.set_index(["lesion_id", "feature"])["value"]
    assert v[("L12", "original_firstorder_Mean")] == wide.set_index("lesion_id").loc["L12", "original_firstorder_Mean"]
    assert set(wide["patient_id"]) == {"P1", "P2"}
    assert res.to_long().shape == long.shape


def test_dask_local_cluster_gives_the_same_table(cohort, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        via_dask = extract_radiomics(cohort / "manifest.csv", params=PARAMS, client=client)
        via_address = extract_radiomics(cohort / "manifest.csv", params=PARAMS, scheduler=cluster.scheduler_address,
                                        out=tmp_path / "d.parquet")
    local = extract_radiomics(cohort / "manifest.csv", params=PARAMS)
    pd.testing.assert_frame_equal(via_dask.features, local.features)
    pd.testing.assert_frame_equal(via_address.features, local.features)


def test_float32_spacing_without_an_in_phase_crop_still_matches(tmp_path):
    """NIfTI stores float32 spacings (0.476 -> 0.47600001...): no crop start is exactly in phase."""
    spacing = (float(np.float32(0.476)), float(np.float32(0.476)), 0.5)
    _volume(tmp_path, 7, n_lesions=2, spacing=spacing)
    man = pd.DataFrame([{"lesion_id": f"L{k}", "image_path": str(tmp_path / "vol7_ct.nii.gz"),
                         "mask_path": str(tmp_path / "vol7_mask.nii.gz"), "label": str(k)} for k in (1, 2)])
    res = extract_radiomics(man, params=PARAMS)
    for k in (1, 2):
        ref = _reference(tmp_path, {"image_path": "vol7_ct.nii.gz", "mask_path": "vol7_mask.nii.gz", "label": k})
        got = res.features.set_index("lesion_id").loc[f"L{k}"]
        for name, v in ref.items():
            assert got[name] == pytest.approx(v, rel=1e-9, abs=1e-9), name
