"""``fit --harmonise vendor,kernel``: the bundle keeps the harmoniser, predict applies it, an unseen scanner is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli import main
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import FitUsageError, ModelError
from radiorisk.models import load, load_requirements
from radiorisk.pipeline import predict_cohort, run_fit

KEY = "radiorisk-test-suite-key-0123456789"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("harmonise")
    write_synthetic_cohort(base / "D", n=300, mode="established-cad", seed=43, sites=4)
    les = pd.read_csv(base / "D" / "lesions.csv")
    scans = pd.read_csv(base / "D" / "scans.csv").set_index("scan_id")
    vendor = scans.loc[les["scan_id"], "vendor"].to_numpy()
    shift = pd.Series(vendor).map({"Siemens": 0.0, "GE": 8.0, "Philips": -6.0, "Canon": 4.0}).fillna(0).to_numpy()
    rng = np.random.default_rng(1)
    pd.DataFrame({"patient_id": les["patient_id"], "scan_id": les["scan_id"], "lesion_id": les["lesion_id"],
                  "reader": "reader1", "n_voxels": rng.integers(50, 500, len(les)),
                  "original_firstorder_Mean": les["hu_mean"] + shift + rng.normal(0, 5, len(les)),
                  "original_glcm_Contrast": rng.gamma(2.0, 1.0, len(les)) * (1 + shift / 20),
                  "original_ngtdm_Busyness": rng.gamma(1.0, 1.0, len(les))}).to_parquet(base / "f.parquet")
    return base


def _fit(base, out, **kw):
    return run_fit(base / "D", base / out, model="coxph", blocks="clinical,radiomics", features=base / "f.parquet",
                   repeats=1, folds=3, n_boot=0, params={"penalizer": 0.5}, id_key=KEY, **kw)


def test_fit_harmonise_bundle_predict_and_refusal(inputs):
    run = _fit(inputs, "RUN", harmonise="vendor,kernel", harmonise_covariates="age_years,sex_male")
    note = next(n for n in run.notes if n.startswith("ComBat harmonisation"))
    assert "radiomic feature columns by vendor/kernel" in note and "covariates preserved: age_years, sex_male" in note
    prov = json.loads((run.out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["configuration"]["harmonise"] == {"batch": ["vendor", "kernel"], "covariates": ["age_years", "sex_male"]}
    est = load(run.files["model"])
    h = est.named_steps["harmonise"]
    assert h.columns_ and all(c.startswith("rad_") and "__" in c for c in h.columns_)
    req = load_requirements(run.files["model"])
    assert req.blocks["batch"] == ("batch:vendor", "batch:kernel")
    assert req.distributions["batch:vendor"]["kind"] == "categorical"
    # a cohort from the scanners seen in training: predicted, and the harmonisation stated
    pred = predict_cohort(run.files["model"], inputs / "D", inputs / "p.csv", features=inputs / "f.parquet",
                          id_key=KEY)
    assert len(pred.predictions) == 300 and pred.predictions["risk"].between(0, 1).all()
    assert any(n.startswith("the model's harmonisation, applied to this cohort: ComBat harmonisation (empirical "
                            "Bayes) of ") for n in pred.notes)
    # the same patients from a scanner never seen: refused, naming the batch and those seen
    other = inputs / "D2"
    shutil.copytree(inputs / "D", other)
    scans = pd.read_csv(other / "scans.csv")
    scans.loc[0, ["vendor", "kernel"]] = ["United", "UB40"]
    scans.to_csv(other / "scans.csv", index=False)
    with pytest.raises(ModelError, match=r"batch vendor/kernel = 'United/UB40' .* was not seen in training; "
                                         r"batches seen: '"):
        predict_cohort(run.files["model"], other, inputs / "p2.csv", features=inputs / "f.parquet", id_key=KEY)


def test_harmonise_usage_errors(inputs):
    with pytest.raises(FitUsageError, match="the radiomics block is not among the blocks"):
        run_fit(inputs / "D", inputs / "R1", model="coxph", blocks="clinical", repeats=1, folds=3, n_boot=0,
                id_key=KEY, harmonise="vendor")
    with pytest.raises(FitUsageError, match="table 'scans' has no column 'scanner_room'"):
        _fit(inputs, "R2", harmonise="scanner_room")
    with pytest.raises(FitUsageError, match="harmonise_covariates needs harmonise"):
        _fit(inputs, "R3", harmonise_covariates="age_years")


def test_cli_flag(inputs, capsys):
    code = main(["fit", "--data", str(inputs / "D"), "--model", "coxph", "--blocks", "clinical,radiomics",
                 "--features", str(inputs / "f.parquet"), "--out", str(inputs / "RUNCLI"), "--repeats", "1",
                 "--folds", "3", "--n-boot", "0", "--param", "penalizer=0.5", "--harmonise", "vendor",
                 "--id-key-file", str(inputs / "key")])
    assert code == 0
    assert "ComBat harmonisation" in capsys.readouterr().out
    assert load(inputs / "RUNCLI" / "model").named_steps["harmonise"].batch == ["vendor"]
