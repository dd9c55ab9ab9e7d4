"""Patient reports of a radiomics model overlay the voxel-based map of the patient's most influential feature."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.imaging import read_image, read_manifest_for_extraction, voxel_feature_maps
from radiorisk.pipeline import run_fit
from radiorisk.pipeline._patient_run import run_patient_report

KEY = "radiorisk-test-suite-key-heatmaps-0123"
HORIZON = 1826.0
#: A small parameter set (the preset's bin width, no resampling, two classes) to keep the test quick.
PARAMS = """setting:
  binWidth: 25
  label: 1
  additionalInfo: false
imageType:
  Original: {}
featureClass:
  firstorder: [Mean, Median, Skewness, Kurtosis]
  glcm: [Contrast, Idm, JointEntropy]
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("patient_heatmaps")
    write_synthetic_cohort(base / "D", n=120, images=4, mode="established-cad", seed=43, progress=False)
    (base / "params.yaml").write_text(PARAMS, encoding="utf-8")
    run_fit(base / "D", base / "RUN", competing_risks=False, model="coxph", blocks=["clinical", "radiomics"], horizon=HORIZON,
            repeats=1, folds=3, n_boot=5, params={"penalizer": 0.5}, id_key=KEY,
            radiomics_params=str(base / "params.yaml"))
    man = pd.read_csv(base / "D" / "manifest.csv", dtype=str)
    pid = man["patient_id"].iloc[0]
    res = run_patient_report(base / "RUN" / "model", base / "D", [pid], base / "OUT", id_key=KEY, n_boot=5,
                             formats=("html", "json"), report_date="2025-01-31")
    return base, pid, res, str(base / "params.yaml")


def test_the_map_is_the_most_influential_mappable_feature(run):
    _, _, res, _ = run
    r = res.results[0]
    s = r.shap
    cand = [k for k, (n, b) in enumerate(zip(s.feature_names, s.blocks, strict=True))
            if b == "radiomics" and n.startswith("rad_") and "_shape_" not in n and n.count("_") >= 3]
    best = max(cand, key=lambda k: abs(s.values[0, k]))
    want = s.feature_names[best][4:].split("__")[0]
    assert r.lesion_images and all(li.heatmap_feature == want for li in r.lesion_images)
    assert any(want in n for n in res.notes)


def test_nifti_maps_are_pyradiomics_voxel_maps_of_the_lesion(run):
    base, pid, res, params = run
    r = res.results[0]
    files = res.files[res.files["kind"] == "heatmap"]
    assert len(files) == len(r.lesion_images) > 0
    man = read_manifest_for_extraction(base / "D" / "manifest.csv")
    row = man[(man["patient_id"] == pid)].sort_values("reader", kind="stable").iloc[0]
    feature = r.lesion_images[0].heatmap_feature
    direct = voxel_feature_maps(read_image(row["image_path"]), read_image(row["mask_path"], what="mask"),
                                [feature], params, labels=tuple(int(v) for v in row["labels"]))
    written = [sitk.GetArrayFromImage(sitk.ReadImage(p)) for p in files["path"]]
    want = sitk.GetArrayFromImage(direct.maps[feature])
    assert any(w.shape == want.shape and np.array_equal(w, want) for w in written)
    assert all(pid not in p for p in files["path"])  # pseudonymised file names


def test_panels_json_and_html_carry_the_heatmap(run):
    base, _, res, _ = run
    r = res.results[0]
    for li in r.lesion_images:
        assert [m.shape for m in li.heatmap] == [h.shape for h in li.hu]
        finite = np.concatenate([np.ravel(m) for m in li.heatmap])
        assert np.isfinite(finite).any() and np.isnan(finite).any()  # the lesion and a margin, not the window
    doc = json.loads((base / "OUT" / f"{r.patient}.json").read_text(encoding="utf-8"))
    assert all(d["heatmap"]["feature"] == r.lesion_images[0].heatmap_feature for d in doc["lesion_images"])
    html = (base / "OUT" / f"{r.patient}.html").read_text(encoding="utf-8")
    assert "voxel-based map of " + r.lesion_images[0].heatmap_feature in html


def test_no_heatmaps_when_asked(run, tmp_path):
    base, pid, _, _ = run
    res = run_patient_report(base / "RUN" / "model", base / "D", [pid], tmp_path / "OUT", id_key=KEY, n_boot=2,
                             formats=("json",), heatmaps=False, report_date="2025-01-31")
    assert all(li.heatmap is None for li in res.results[0].lesion_images)
    assert not (tmp_path / "OUT" / "heatmaps").exists()
