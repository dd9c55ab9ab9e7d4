"""What a bundle records about its inputs: training summaries, the OOD score, storage and checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.exceptions import BundleError, BundleIntegrityError
from radiorisk.models import load, make_model
from radiorisk.models._persist import load_requirements
from radiorisk.models._requirements import QUANTILES, ModelRequirements, describe_training


@pytest.fixture(scope="module")
def fitted(cohort):
    X, y = cohort
    return make_model("coxph", horizon=1000.0).fit(X, y)


def test_summaries_numeric_binary_categorical(cohort):
    X, _ = cohort
    req = describe_training(X, blocks={"clinical": list(X.columns)[:3], "other": list(X.columns)[3:],
                                       "empty": ["nope"]}, horizon=1000.0, mace=("mi",), competing="censor")
    assert req.columns == tuple(X.columns) and req.n_train == len(X)
    assert set(req.blocks) == {"clinical", "other"}
    for c in X.columns:
        d, s = req.distributions[c], X[c]
        assert d["n"] == int(s.notna().sum())
        assert d["missing_share"] == pytest.approx(float(s.isna().mean()))
        if d["kind"] == "categorical":
            shares = s.dropna().astype(str).value_counts(normalize=True)
            assert d["levels"] == pytest.approx(shares.to_dict())
            continue
        v = s.dropna().to_numpy(float)
        assert d["mean"] == pytest.approx(v.mean()) and d["sd"] == pytest.approx(v.std(ddof=1))
        assert (d["min"], d["max"]) == (v.min(), v.max())
        for k, q in QUANTILES.items():
            assert d[k] == np.quantile(v, q)
        if d["kind"] == "binary":
            assert set(d["levels"]) <= {"0", "1"} and sum(d["levels"].values()) == pytest.approx(1)
    assert {d["kind"] for d in req.distributions.values()} >= {"numeric", "categorical"}
    frame = req.to_frame()
    assert list(frame["column"]) == list(X.columns) and "q99" in frame


def test_round_trip_through_json(cohort):
    X, _ = cohort
    req = describe_training(X, blocks={"all": list(X.columns)}, horizon=365.0, mace=("mi", "cardiac_death"),
                            competing="competing", radiomics_preset="ccta-plaque")
    back = ModelRequirements.from_dict(json.loads(json.dumps(req.to_dict(), allow_nan=False)))
    assert back == req
    with pytest.raises(BundleError, match="malformed requirements"):
        ModelRequirements.from_dict({"requirements_version": 1, "columns": ["a"], "distributions": {}},
                                    where="x.json")


def test_ood_score_zero_inside_and_positive_outside():
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=500), "b": rng.gamma(2.0, size=500),
                      "flag": (rng.random(500) < 0.3).astype(float),
                      "grp": rng.choice(["x", "y"], 500)})
    req = describe_training(X)
    s = req.ood_scores(X)
    inside = ((X["a"] >= req.distributions["a"]["q01"]) & (X["a"] <= req.distributions["a"]["q99"])
              & (X["b"] >= req.distributions["b"]["q01"]) & (X["b"] <= req.distributions["b"]["q99"]))
    assert (s.loc[inside, "ood_n_outside"] == 0).all() and (s.loc[~inside, "ood_n_outside"] > 0).all()
    pushed = X[inside].iloc[:4].copy()
    pushed.iloc[0, 0] = req.distributions["a"]["max"] + 10
    pushed.iloc[1, 2] = 2.0  # a level of a binary input never seen in training
    pushed.iloc[2, 3] = "z"  # an unseen category
    pushed.iloc[3, :] = [np.nan, np.nan, np.nan, None]
    got = req.ood_scores(pushed)
    assert got["ood_n_outside"].tolist() == [1, 1, 1, 0]
    assert got["ood_max_abs_z"].iloc[0] > 10 / req.distributions["a"]["sd"]
    assert got["ood_n_outside"].iloc[3] == 0 and np.isnan(got["ood_share_outside"].iloc[3])
    assert got["ood_share_outside"].iloc[2] == pytest.approx(got["ood_n_outside"].iloc[2] / 4)
    assert req.outside_counts(pushed)["grp"] == 1


def test_bundle_stores_and_checks_requirements(fitted, cohort, tmp_path):
    X, _ = cohort
    req = describe_training(X, horizon=1000.0)
    folder = fitted.save(tmp_path / "b", requirements=req)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["requirements"] == "requirements.json" and "requirements.json" in manifest["files"]
    assert load_requirements(folder) == req
    np.testing.assert_array_equal(load(folder).predict_risk(X), fitted.predict_risk(X))
    # without requirements: exactly the old layout, and None
    old = fitted.save(tmp_path / "old")
    assert "requirements" not in json.loads((old / "manifest.json").read_text())
    assert not (old / "requirements.json").exists() and load_requirements(old) is None
    # tampering with the requirements is detected like any other file
    p = folder / "requirements.json"
    p.write_text(p.read_text().replace('"n_train": 600', '"n_train": 601'))
    with pytest.raises(BundleIntegrityError, match="requirements.json"):
        load_requirements(folder)


def test_requirements_must_match_the_model_columns(fitted, cohort, tmp_path):
    X, _ = cohort
    with pytest.raises(BundleError, match="not the model's input columns"):
        fitted.save(tmp_path / "b", requirements=describe_training(X.iloc[:, ::-1]))
    with pytest.raises(BundleError, match="must be a ModelRequirements"):
        fitted.save(tmp_path / "c", requirements={"columns": list(X.columns)})
    assert not (tmp_path / "b").exists()
