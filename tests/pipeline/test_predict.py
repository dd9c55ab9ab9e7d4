"""``radiorisk predict`` on small synthetic cohorts: exact risks, new cohorts, refusals, old bundles, OOD."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._predict import add_predict_parser
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import ModelError
from radiorisk.features import assemble_cohort
from radiorisk.models import load
from radiorisk.models._persist import load_requirements
from radiorisk.pipeline import run_fit
from radiorisk.pipeline._fit_radiomics import read_features
from radiorisk.pipeline._predict import predict_cohort

BLOCKS = ["clinical", "ccta"]
#: The suite's key (root conftest), given explicitly: module fixtures run before its autouse fixture.
KEY = "radiorisk-test-suite-key-0123456789"
HORIZON = 1826.0


def _read(path):
    return pd.read_csv(path, float_precision="round_trip")


def _ensure_requirements(run, cohort_dir, blocks=BLOCKS, *, radiomics=None, preset=None):
    """The bundle run_fit wrote records what the model needs, in the model's column order."""
    model = run / "model"
    req = load_requirements(model)
    assert req is not None, "run_fit wrote a bundle without requirements.json"
    assert list(req.columns) == json.loads((model / "manifest.json").read_text())["feature_names_in"]
    return model


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    base = tmp_path_factory.mktemp("predict")
    write_synthetic_cohort(base / "D", n=300, mode="established-cad", seed=41, progress=False)
    run_fit(base / "D", base / "RUN", competing_risks=False, model="coxph", blocks=BLOCKS, horizon=HORIZON, repeats=1, folds=3,
            n_boot=5, params={"penalizer": 0.1}, id_key=KEY)
    return base / "D", _ensure_requirements(base / "RUN", base / "D")


def test_same_cohort_gives_the_bundle_risks_exactly(dev, tmp_path):
    cohort_dir, model = dev
    res = predict_cohort(model, cohort_dir, tmp_path / "p.csv", id_key=KEY)
    est = load(model)
    data = assemble_cohort(cohort_dir, horizon=HORIZON)
    cols = list(load_requirements(model).columns)
    expected = est.predict_risk(data.X[cols], horizon=HORIZON)
    got = _read(tmp_path / "p.csv")
    assert list(got.columns) == ["patient_id", "risk", "time", "event", "sex", "ethnicity", "site", "vendor",
                                 "ood_n_outside", "ood_share_outside", "ood_max_abs_z"]
    np.testing.assert_array_equal(got["risk"].to_numpy(), expected)
    np.testing.assert_array_equal(res.predictions["risk"].to_numpy(), expected)
    # pseudonyms as in fit's oof_predictions.csv
    oof = pd.read_csv(model.parent / "oof_predictions.csv")
    assert set(got["patient_id"]) == set(oof["patient_id"]) and not got["patient_id"].str.startswith("P0").any()
    np.testing.assert_array_equal(got["time"], data.time.to_numpy())
    prov = json.loads((tmp_path / "p.provenance.json").read_text())
    assert prov["command"] == "radiorisk predict" and prov["horizon_days"] == HORIZON
    assert len(prov["model"]["bundle_sha256"]) == 64 and prov["model"]["requirements"] is True
    assert {"patients", "scans", "outcomes"} <= set(prov["inputs_sha256"])
    assert prov["identifiers"]["identifiers"] == "pseudonymised"
    assert not any("do not match those of the fit" in n for n in res.notes)
    # the OOD score of training rows: 0 exactly when every input is inside [q01, q99]
    req = load_requirements(model)
    X = data.X[cols]
    inside = pd.Series(True, index=X.index)
    for c in cols:
        d = req.distributions[c]
        if d.get("q01") is not None:
            inside &= X[c].isna() | X[c].between(d["q01"], d["q99"])
    n_out = got["ood_n_outside"].to_numpy()
    assert (n_out[inside.to_numpy()] == 0).all() and (n_out[~inside.to_numpy()] > 0).all()
    assert inside.any()


def test_another_cohort_and_a_row_pushed_outside(dev, tmp_path):
    _, model = dev
    other = tmp_path / "E"
    write_synthetic_cohort(other, n=120, mode="established-cad", seed=7, progress=False)
    first = predict_cohort(model, other, tmp_path / "e.csv", raw_ids=True)
    assert any("do not match those of the fit" in n for n in first.notes)  # the fit used a key
    base = first.predictions
    assert len(base) == 120 and base["risk"].between(0, 1).all()
    assert base["ood_n_outside"].notna().all()
    pts = pd.read_csv(other / "patients.csv")
    pid = base.loc[base["ood_n_outside"] == 0, "patient_id"].iloc[0]
    pts.loc[pts["patient_id"] == pid, "age_years"] = load_requirements(model).distributions["age_years"]["max"] + 1
    pts.to_csv(other / "patients.csv", index=False)
    pushed = predict_cohort(model, other, tmp_path / "e2.csv", raw_ids=True)
    row = pushed.predictions.set_index("patient_id").loc[pid]
    assert row["ood_n_outside"] == 1 and row["ood_share_outside"] > 0
    assert any("age_years (1)" in n for n in pushed.notes)
    prov = json.loads((tmp_path / "e2.provenance.json").read_text())
    assert prov["ood"]["columns_outside"]["age_years"] >= 1


def test_missing_columns_are_named_with_their_block(dev, tmp_path):
    cohort_dir, model = dev
    d = tmp_path / "D"
    shutil.copytree(cohort_dir, d)
    pd.read_csv(d / "patients.csv").drop(columns=["ldl_mmol_l"]).to_csv(d / "patients.csv", index=False)
    pd.read_csv(d / "scans.csv").drop(columns=["sss"]).to_csv(d / "scans.csv", index=False)
    with pytest.raises(ModelError, match=r"lacks 2 column\(s\).*block 'clinical': ldl_mmol_l; block 'ccta': sss"):
        predict_cohort(model, d, tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()


def test_old_bundle_without_requirements_still_predicts(dev, tmp_path):
    cohort_dir, model = dev
    old = load(model).save(tmp_path / "old_model")  # no requirements section
    assert load_requirements(old) is None
    res = predict_cohort(old, cohort_dir, tmp_path / "p.csv")
    assert any("records no requirements" in n for n in res.notes)
    assert res.predictions["ood_n_outside"].isna().all()
    ref = predict_cohort(model, cohort_dir, tmp_path / "q.csv").predictions
    np.testing.assert_array_equal(res.predictions["risk"].to_numpy(), ref["risk"].to_numpy())
    d = tmp_path / "D"
    shutil.copytree(cohort_dir, d)
    pd.read_csv(d / "scans.csv").drop(columns=["sss"]).to_csv(d / "scans.csv", index=False)
    with pytest.raises(ModelError, match="block not recorded.*sss"):
        predict_cohort(old, d, tmp_path / "r.csv")


def test_cli_names_flags(dev, tmp_path, capsys):
    cohort_dir, model = dev
    p = argparse.ArgumentParser(prog="radiorisk")
    add_predict_parser(p.add_subparsers(dest="command"))
    out = tmp_path / "p.csv"
    args = p.parse_args(["predict", "--model", str(model), "--data", str(cohort_dir), "--out", str(out)])
    assert args.func(args) == 0 and "radiorisk predict: 300 patient(s)" in capsys.readouterr().out
    with pytest.raises(ModelError, match=r"^--out .*exists \(use --overwrite\)"):
        args.func(args)
    args = p.parse_args(["predict", "--model", str(model), "--data", str(cohort_dir), "--out", str(out),
                         "--overwrite", "--horizon", "0"])
    with pytest.raises(Exception, match="^--horizon must be"):
        args.func(args)


def test_radiomics_extracted_with_the_model_preset(tmp_path):
    """Without a features table, predict extracts the radiomics with the preset the bundle records."""
    d, cache, preset = tmp_path / "D", tmp_path / "cache", tmp_path / "firstorder.yaml"
    preset.write_text("setting:\n  binWidth: 25\nimageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n  shape:\n")
    write_synthetic_cohort(d, n=120, mode="established-cad", images=4, seed=42, progress=False)
    blocks = ["clinical", "radiomics"]
    run_fit(d, tmp_path / "RUN", competing_risks=False, model="coxph", blocks=blocks, horizon=HORIZON, repeats=1, folds=3,
            n_boot=5, params={"penalizer": 0.5}, radiomics_params=str(preset), radiomics_cache=cache,
            id_key=KEY)
    feats = read_features(cache / "features.parquet")  # the fit's private store (raw ids)
    model = _ensure_requirements(tmp_path / "RUN", d, blocks, radiomics=feats, preset=str(preset))
    assert load_requirements(model).radiomics_preset == str(preset)
    out = tmp_path / "pred" / "p.csv"
    res = predict_cohort(model, d, out, id_key=KEY)
    assert (out.parent / "p_extraction" / "radiomics" / "features.parquet").exists()
    assert any(f"preset {str(preset)!r}" in n for n in res.notes)
    X = assemble_cohort(d, radiomics=feats).X[list(load_requirements(model).columns)]
    np.testing.assert_array_equal(_read(out)["risk"].to_numpy(), load(model).predict_risk(X))
    # a bundle that does not know its preset needs the features table
    bare = load(model).save(tmp_path / "bare")
    with pytest.raises(ModelError, match="^features: the model uses radiomics"):
        predict_cohort(bare, d, tmp_path / "q.csv", id_key=KEY)
    given = predict_cohort(bare, d, tmp_path / "q.csv", id_key=KEY, features=cache / "features.parquet")
    np.testing.assert_array_equal(given.predictions["risk"].to_numpy(), res.predictions["risk"].to_numpy())
