"""``radiorisk fit`` end to end on a small synthesised cohort."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._fit import add_fit_parser
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import FitUsageError
from radiorisk.pipeline import run_fit


def _parser():
    p = argparse.ArgumentParser(prog="radiorisk")
    sub = p.add_subparsers(dest="command")
    add_fit_parser(sub)
    return p


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit") / "D"
    write_synthetic_cohort(d, n=400, mode="established-cad", seed=41)
    return d


@pytest.fixture(scope="module")
def features_file(cohort_dir, tmp_path_factory):
    les = pd.read_csv(cohort_dir / "lesions.csv")
    rng = np.random.default_rng(0)
    les = les[rng.random(len(les)) < 0.5]
    f = pd.DataFrame({
        "patient_id": les["patient_id"], "scan_id": les["scan_id"], "lesion_id": les["lesion_id"],
        "reader": "reader1", "n_voxels": rng.integers(50, 500, len(les)),
        "original_shape_VoxelVolume": les["v_total_mm3"],
        "original_firstorder_Mean": les["hu_mean"] + rng.normal(0, 5, len(les)),
        "original_glcm_Contrast": rng.gamma(2.0, 1.0, len(les)),
    })
    path = tmp_path_factory.mktemp("feat") / "features.parquet"
    f.to_parquet(path, index=False)
    return path


def test_fit_cli_writes_all_outputs(cohort_dir, features_file, tmp_path, capsys):
    run = tmp_path / "RUN"
    args = _parser().parse_args([
        "fit", "--censor-competing", "--data", str(cohort_dir), "--model", "xgb-cox", "--blocks", "clinical,ccta,radiomics",
        "--horizon", "1826", "--out", str(run), "--features", str(features_file), "--repeats", "2",
        "--folds", "3", "--seed", "5", "--search-iter", "1", "--n-boot", "20", "--n-jobs", "2",
        "--param", "nthread=1",
    ])
    assert args.func(args) == 0
    assert "Results are in" in capsys.readouterr().out
    oof = pd.read_csv(run / "oof_predictions.csv")
    assert list(oof.columns) == ["patient_id", "repeat", "fold", "risk", "time", "event", "sex",
                                 "ethnicity", "site"]
    assert len(oof) == 2 * 400 and oof["risk"].between(0, 1).all()
    assert oof[["sex", "ethnicity", "site"]].notna().all().all()
    lad = pd.read_csv(run / "ladder.csv", keep_default_na=False, na_values=[""])
    assert list(lad["rung"].drop_duplicates()) == ["clinical", "+ccta", "+radiomics"]
    assert {"harrell_c", "uno_c", "td_auc", "nri", "idi", "delta_harrell_c"} <= set(lad["metric"])
    # model bundle: loads without pickle and predicts
    from radiorisk.models import load

    assert (run / "model").is_dir()
    est = load(run / "model")
    prov = json.loads((run / "provenance.json").read_text())
    cols = prov["final_model"]["columns"]
    from radiorisk.features._assemble import assemble_cohort

    feats = pd.read_parquet(features_file)
    data = assemble_cohort(cohort_dir, radiomics=feats)
    r = est.predict_risk(data.X[cols], horizon=1826)
    assert r.shape == (400,) and np.all((r >= 0) & (r <= 1))
    # provenance
    assert prov["seed"] == 5 and prov["configuration"]["model"] == "xgb-cox"
    assert prov["configuration"]["params"] == {"nthread": 1}
    assert prov["configuration"]["blocks"] == ["clinical", "ccta", "radiomics"]
    assert {"patients", "scans", "outcomes", "features"} <= set(prov["inputs_sha256"])
    import hashlib

    h = hashlib.sha256((cohort_dir / "patients.csv").read_bytes()).hexdigest()
    assert prov["inputs_sha256"]["patients"]["sha256"] == h
    assert prov["versions"]["xgboost"] and prov["versions"]["radiorisk"]
    assert any("non-cardiac death is treated as censoring" in s for s in prov["statements"])
    assert len(prov["search_per_fold"]) == 2 * 3
    assert not list(run.glob(".*tmp*"))


def test_fit_same_seed_same_oof(cohort_dir, tmp_path):
    kw = dict(model="coxph", blocks="clinical,ccta,pet", repeats=1, folds=3, seed=2, n_boot=0,
              params={"penalizer": 0.5})
    a = run_fit(cohort_dir, tmp_path / "a", n_jobs=1, **kw)
    b = run_fit(cohort_dir, tmp_path / "b", n_jobs=2, **kw)
    pa = pd.read_csv(a.files["oof_predictions"])
    pb = pd.read_csv(b.files["oof_predictions"])
    pd.testing.assert_frame_equal(pa, pb)
    prov = json.loads(a.files["provenance"].read_text())
    assert "constant column(s) left out: pet_available" in prov["statements"]


def test_fit_errors(cohort_dir, tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    (out / "x.txt").write_text("x")
    with pytest.raises(FitUsageError, match="exists and is not empty"):
        run_fit(cohort_dir, out, competing_risks=False, model="coxph", blocks="clinical")
    with pytest.raises(FitUsageError, match="unknown block\\(s\\) \\['mri'\\]"):
        run_fit(cohort_dir, tmp_path / "r1", competing_risks=False, model="coxph", blocks="clinical,mri")
    with pytest.raises(FitUsageError, match="no features table and the cohort"):
        run_fit(cohort_dir, tmp_path / "r2", competing_risks=False, model="coxph", blocks="clinical,radiomics")
    from radiorisk.cli._fit import _parse_params

    assert _parse_params(["penalizer=0.1", "distribution=logistic"]) == {
        "penalizer": 0.1, "distribution": "logistic"}
    with pytest.raises(FitUsageError, match="expected KEY=VALUE"):
        _parse_params(["penalizer"])
    with pytest.raises(FitUsageError, match="unknown component 'stroke'"):
        run_fit(cohort_dir, tmp_path / "r3", competing_risks=False, model="coxph", blocks="clinical", mace=["stroke"])
    from radiorisk.exceptions import InputFileError, SchemaError

    with pytest.raises(InputFileError, match="no such file"):
        run_fit(cohort_dir, tmp_path / "r4", competing_risks=False, model="coxph", blocks="clinical",
                features=tmp_path / "nope.parquet")
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(SchemaError):
        run_fit(bad, tmp_path / "r5", competing_risks=False, model="coxph", blocks="clinical")


@pytest.mark.slow
def test_fit_extracts_radiomics_from_manifest(tmp_path):
    """The issue's command: no --features, radiomics extracted from the cohort's images."""
    d = tmp_path / "D"
    write_synthetic_cohort(d, n=200, mode="established-cad", images=4, seed=42)
    args = _parser().parse_args([
        "fit", "--censor-competing", "--data", str(d), "--model", "xgb-cox", "--blocks", "clinical,ccta,radiomics",
        "--horizon", "1826", "--out", str(tmp_path / "RUN"), "--repeats", "1", "--folds", "3",
        "--search-iter", "1", "--n-boot", "10", "--quiet",
    ])
    assert args.func(args) == 0
    for f in ("oof_predictions.csv", "ladder.csv", "model", "provenance.json"):
        assert (tmp_path / "RUN" / f).exists()
    assert (tmp_path / "RUN" / "radiomics" / "features.parquet").exists()


def test_fit_default_cv_unchanged_by_the_cv_by_path(cohort_dir, tmp_path):
    """cv_by=None is the K-fold run of before: same files, repeats/folds resolved to 5 x 5, no iecv."""
    kw = dict(model="coxph", blocks="clinical", seed=4, n_boot=0, params={"penalizer": 0.5})
    a = run_fit(cohort_dir, tmp_path / "a", **kw)
    b = run_fit(cohort_dir, tmp_path / "b", repeats=5, folds=5, cv_by=None, **kw)
    for f in ("oof_predictions", "ladder"):
        assert a.files[f].read_bytes() == b.files[f].read_bytes()
    assert "iecv" not in a.files and a.iecv is None and not (tmp_path / "a" / "iecv.csv").exists()
    prov = json.loads(a.files["provenance"].read_text())
    assert (prov["configuration"]["repeats"], prov["configuration"]["folds"]) == (5, 5)
    assert "cv_by" not in prov["configuration"]
    assert any(s.startswith("5 x 5-fold cross-validation stratified on the event and grouped by patient")
               for s in prov["statements"])
    args = _parser().parse_args(["fit", "--data", str(cohort_dir), "--model", "coxph", "--blocks", "clinical",
                                 "--out", str(tmp_path / "c"), "--seed", "4", "--n-boot", "0",
                                 "--param", "penalizer=0.5", "--quiet"])
    assert (args.repeats, args.folds, args.cv_by) == (None, None, None)
    assert args.func(args) == 0
    assert (tmp_path / "c" / "oof_predictions.csv").read_bytes() == a.files["oof_predictions"].read_bytes()
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "c" / "ladder.csv"), pd.read_csv(a.files["ladder"]))
