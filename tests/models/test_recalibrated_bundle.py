"""A recalibrated model bundle: the cloglog map after the model, saved, hashed, loaded, one horizon only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.exceptions import BundleError, BundleIntegrityError, ModelError
from radiorisk.models import ModelRecalibration, load, make_model, make_y
from radiorisk.stats import cloglog_recalibrated


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"age": rng.normal(60, 8, 300), "ldl": rng.normal(3, 1, 300)})
    y = make_y(rng.exponential(2000 / np.exp(0.04 * (X["age"] - 60))) + 1, rng.random(300) < 0.7)
    return make_model("coxph", horizon=1826.0).fit(X, y), X


def test_round_trip_and_the_map(fitted, tmp_path):
    est, X = fitted
    base = est.predict_risk(X)
    est.recalibration_ = ModelRecalibration(0.4, 0.8, 1826.0, "intercept_slope", {"bundle_sha256": "0" * 64})
    try:
        folder = est.save(tmp_path / "b")
    finally:
        del est.recalibration_
    assert "recalibration.json" in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]
    got = load(folder)
    np.testing.assert_array_equal(got.predict_risk(X), cloglog_recalibrated(base, 0.4, 0.8))
    np.testing.assert_array_equal(got.predict(X), got.predict_risk(X))
    assert got.horizon == 1826.0 and got.recalibration_.derived_from["bundle_sha256"] == "0" * 64
    with pytest.raises(ModelError, match="recalibrated for 1826 days"):
        got.predict_risk(X, horizon=365.0)
    with pytest.raises(ModelError, match="no survival function"):
        got.predict_survival_function(X, times=[365.0])
    # the original pipeline is untouched and a plain bundle has no recalibration
    np.testing.assert_array_equal(est.predict_risk(X), base)
    assert getattr(load(est.save(tmp_path / "plain")), "recalibration_", None) is None


def test_a_changed_map_is_refused(fitted, tmp_path):
    est, X = fitted
    est.recalibration_ = ModelRecalibration(0.4, 1.0, 1826.0, "intercept")
    try:
        folder = est.save(tmp_path / "b")
    finally:
        del est.recalibration_
    f = folder / "recalibration.json"
    f.write_text(f.read_text(encoding="utf-8").replace("0.4", "0.9"), encoding="utf-8")
    with pytest.raises(BundleIntegrityError, match="recalibration.json"):
        load(folder)


def test_malformed_maps():
    with pytest.raises(BundleError, match="method must be one of"):
        ModelRecalibration(0.0, 1.0, 1826.0, "refit")
    with pytest.raises(BundleError, match="slope must be a finite number"):
        ModelRecalibration(0.0, float("nan"), 1826.0, "intercept")
    with pytest.raises(BundleError, match="not a radiorisk recalibration"):
        ModelRecalibration.from_dict({"intercept": 0})
