"""``fit --stable-features ICC --robustness DIR``: the model uses only the features that survive perturbation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import FitUsageError
from radiorisk.models import load
from radiorisk.pipeline import run_fit
from radiorisk.pipeline._stable_features import feature_of_column

KEY = "radiorisk-test-suite-key-0123456789"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("stable")
    write_synthetic_cohort(base / "D", n=300, mode="established-cad", seed=43)
    les = pd.read_csv(base / "D" / "lesions.csv")
    rng = np.random.default_rng(1)
    pd.DataFrame({"patient_id": les["patient_id"], "scan_id": les["scan_id"], "lesion_id": les["lesion_id"],
                  "reader": "reader1", "n_voxels": rng.integers(50, 500, len(les)),
                  "original_shape_VoxelVolume": les["v_total_mm3"],
                  "original_firstorder_Mean": les["hu_mean"] + rng.normal(0, 5, len(les)),
                  "original_glcm_Contrast": rng.gamma(2.0, 1.0, len(les)),
                  "original_ngtdm_Busyness": rng.gamma(1.0, 1.0, len(les))}).to_parquet(base / "f.parquet")
    (base / "ROB").mkdir()
    pd.DataFrame({"feature": ["original_shape_VoxelVolume", "original_firstorder_Mean", "original_glcm_Contrast",
                              "original_ngtdm_Busyness"],
                  "icc21": [0.99, 0.95, 0.60, 0.92], "reader_icc": [0.97, 0.90, 0.90, 0.50]}
                 ).to_csv(base / "ROB" / "robustness_icc.csv", index=False)
    return base


def _fit(base, out, **kw):
    return run_fit(base / "D", base / out, competing_risks=False, model="coxph", blocks="clinical,radiomics", features=base / "f.parquet",
                   repeats=1, folds=3, n_boot=0, params={"penalizer": 0.5}, id_key=KEY, **kw)


def test_only_stable_features_reach_the_model(inputs):
    run = _fit(inputs, "RUN", stable_features=0.75, robustness=inputs / "ROB")
    icc = load(inputs / "RUN" / "model").named_steps["icc"]
    kept = {feature_of_column(c) for c in icc.kept_ if feature_of_column(c)}
    assert kept == {"original_shape_VoxelVolume", "original_firstorder_Mean"}  # contrast: ICC; busyness: readers
    assert any(c.startswith("rad_original_glcm_Contrast") for c in icc.dropped_)
    note = next(n for n in run.notes if n.startswith("stable features"))
    assert "2 of 4 radiomic features kept" in note and "1 for ICC(2,1)" in note and "1 for the reader ICC" in note
    cfg = json.loads((inputs / "RUN" / "provenance.json").read_text(encoding="utf-8"))["configuration"]
    assert cfg["stable_features"]["threshold"] == 0.75 and "icc_keep" not in cfg["params"]
    plain = _fit(inputs, "PLAIN")
    assert load(inputs / "PLAIN" / "model").named_steps["icc"] == "passthrough"
    assert not any(n.startswith("stable features") for n in plain.notes)


def test_refusals(inputs):
    with pytest.raises(FitUsageError, match="go together"):
        _fit(inputs, "R1", stable_features=0.75)
    with pytest.raises(FitUsageError, match=r"ICC in \(0, 1\]"):
        _fit(inputs, "R2", stable_features=1.5, robustness=inputs / "ROB")
    with pytest.raises(FitUsageError, match="cannot read the ICC table"):
        _fit(inputs, "R3", stable_features=0.75, robustness=inputs / "nowhere")
