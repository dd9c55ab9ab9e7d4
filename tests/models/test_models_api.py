"""The common interface: make_y, make_model, sklearn compatibility, predict_risk contracts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models_testdata import fast_params
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import Pipeline

from radiorisk.exceptions import HorizonError
from radiorisk.models import (
    MODEL_NAMES,
    CoxPHRisk,
    FineGrayRisk,
    ModelError,
    RiskPipeline,
    XGBAFTRisk,
    XGBBinaryRisk,
    XGBCoxRisk,
    make_model,
    make_y,
)

# -- make_y ------------------------------------------------------------------------------


def test_make_y_structured():
    y = make_y(pd.Series([10.0, 20.5]), np.array([True, False]))
    assert y.dtype.names == ("event", "time")
    assert y.dtype == np.dtype([("event", np.bool_), ("time", np.float64)])
    assert y["event"].tolist() == [True, False]


@pytest.mark.parametrize(("time", "event", "match"), [
    ([1.0, -2.0], [1, 0], r"time must be a finite number > 0 \(days\); found -2.0 at position 1"),
    ([1.0, np.nan], [1, 0], "found nan at position 1"),
    ([1.0, "x"], [1, 0], "found 'x' at position 1"),
    ([1.0, 2.0], [1, 2], "event must be 0/1 or boolean; found 2 at position 1"),
    ([1.0, 2.0], ["yes", 0], "found 'yes' at position 0"),
    ([1.0, 2.0], [1], "different lengths"),
])
def test_make_y_errors(time, event, match):
    with pytest.raises(ModelError, match=match):
        make_y(time, event)


def test_y_must_be_structured(cohort):
    X, y = cohort
    with pytest.raises(ModelError, match="structured array"):
        make_model("coxph").fit(X, y["time"])


# -- make_model ----------------------------------------------------------------------------


def test_model_names_and_classes():
    assert MODEL_NAMES == ("xgb-binary", "xgb-cox", "xgb-aft", "coxph", "fg")
    classes = [XGBBinaryRisk, XGBCoxRisk, XGBAFTRisk, CoxPHRisk, FineGrayRisk]
    for name, cls in zip(MODEL_NAMES, classes, strict=True):
        est = make_model(name, horizon=365.0)
        assert isinstance(est, RiskPipeline) and isinstance(est, Pipeline)
        assert type(est[-1]) is cls and est[-1].horizon == 365.0 and est.horizon == 365.0


def test_make_model_routes_params_and_rejects_unknown():
    est = make_model("xgb-aft", random_state=7, n_estimators=12, distribution="logistic", sigma=0.5)
    p = est.get_params()
    assert (p["model__random_state"], p["model__n_estimators"]) == (7, 12)
    assert (p["model__distribution"], p["model__sigma"]) == ("logistic", 0.5)
    assert make_model("coxph", penalizer=0.1, l1_ratio=0.5)[-1].l1_ratio == 0.5
    with pytest.raises(ModelError, match=r"unknown parameter\(s\) \['penalizer'\] for 'xgb-cox'"):
        make_model("xgb-cox", penalizer=0.1)
    with pytest.raises(ModelError, match="unknown model 'rsf'"):
        make_model("rsf")
    with pytest.raises(ModelError, match="distribution='weibull' is not one of"):
        make_model("xgb-aft", distribution="weibull")
    with pytest.raises(HorizonError, match="horizon must be a number > 0"):
        make_model("coxph", horizon=-1)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_clone_get_set_params(name):
    est = make_model(name, horizon=730.0, **fast_params(name))
    c = clone(est)
    assert c is not est and c[-1] is not est[-1]
    assert c.get_params()["model__horizon"] == 730.0
    c.set_params(model__horizon=365.0)
    assert c[-1].horizon == 365.0 and est[-1].horizon == 730.0
    # the bare estimator is an sklearn estimator too
    fin = clone(est[-1])
    assert fin.get_params() == est[-1].get_params()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fit_predict_contract(name, cohort):
    X, y = cohort
    est = make_model(name, horizon=1826.0, **fast_params(name))
    assert est.fit(X, y) is est
    r = est.predict_risk(X)
    assert r.shape == (len(X),) and r.dtype == np.float64
    assert np.isfinite(r).all() and (r >= 0).all() and (r <= 1).all()
    np.testing.assert_array_equal(est.predict(X), r)
    np.testing.assert_array_equal(est.predict_risk(X, horizon=1826.0), r)
    c = est.score(X, y)
    assert 0.5 < c <= 1.0  # apparent discrimination on the training rows
    # predict needs the fitted columns; extra columns are ignored
    np.testing.assert_array_equal(est.predict_risk(X.assign(extra=1.0)), r)
    with pytest.raises(ModelError, match="lacks 1 column"):
        est.predict_risk(X.drop(columns="cac_agatston"))


@pytest.mark.parametrize("name", ["xgb-cox", "xgb-aft", "coxph"])
def test_risk_monotone_in_horizon(name, cohort):
    X, y = cohort
    est = make_model(name, **fast_params(name)).fit(X, y)
    horizons = [30.0, 365.0, 730.0, 1826.0, 3000.0]
    R = np.column_stack([est.predict_risk(X, h) for h in horizons])
    assert (np.diff(R, axis=1) >= 0).all()
    assert (R[:, -1] > R[:, 0]).any()
    S = est.predict_survival_function(X, times=horizons)
    np.testing.assert_allclose(1 - S, R, atol=1e-12)


def test_binary_predicts_only_at_its_horizon(cohort):
    X, y = cohort
    est = make_model("xgb-binary", horizon=1095.0, **fast_params("xgb-binary")).fit(X, y)
    est.predict_risk(X, 1095)
    with pytest.raises(ModelError, match="trained for horizon=1095 d and cannot predict at 365 d"):
        est.predict_risk(X, 365.0)
    with pytest.raises(ModelError, match="no survival function"):
        est.predict_survival_function(X, times=[365.0])


def test_sklearn_pipeline_and_cross_validation(cohort):
    """Works as a step of a plain sklearn Pipeline and in cross_val_score (score = Harrell's C)."""
    X, y = cohort
    pipe = make_model("xgb-cox", **fast_params("xgb-cox"))
    scores = cross_val_score(pipe, X, y, cv=KFold(3, shuffle=True, random_state=0))
    assert scores.shape == (3,) and (scores > 0.4).all()
    plain = Pipeline([("pre", clone(pipe.named_steps["preprocess"])),
                      ("model", XGBCoxRisk(**fast_params("xgb-cox")))]).fit(X, y)
    np.testing.assert_array_equal(plain.predict(X), clone(pipe).fit(X, y).predict(X))


@pytest.mark.parametrize("name", [n for n in MODEL_NAMES if n != "fg"])  # crr has no case weights
def test_sample_weight_has_effect_and_both_spellings_agree(name, cohort):
    X, y = cohort
    w = np.where(np.arange(len(X)) % 3 == 0, 3.0, 1.0)
    base = make_model(name, **fast_params(name)).fit(X, y).predict_risk(X)
    a = make_model(name, **fast_params(name)).fit(X, y, sample_weight=w).predict_risk(X)
    b = make_model(name, **fast_params(name)).fit(X, y, model__sample_weight=w).predict_risk(X)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - base).max() > 1e-4
    with pytest.raises(ModelError, match="not both"):
        make_model(name).fit(X, y, sample_weight=w, model__sample_weight=w)
    with pytest.raises(ModelError, match="sample_weight must be finite and >= 0; found -1.0"):
        make_model(name, **fast_params(name)).fit(X, y, sample_weight=np.r_[-1.0, w[1:]])


@pytest.mark.parametrize("name", ["xgb-binary", "xgb-cox", "xgb-aft"])
def test_deterministic_whatever_nthread(name, cohort):
    X, y = cohort
    params = dict(n_estimators=25, subsample=0.7, colsample_bytree=0.7, random_state=3)
    r1 = make_model(name, nthread=1, **params).fit(X, y).predict_risk(X)
    r2 = make_model(name, nthread=2, **params).fit(X, y).predict_risk(X)
    np.testing.assert_array_equal(r1, r2)
    r3 = make_model(name, nthread=1, **{**params, "random_state": 4}).fit(X, y).predict_risk(X)
    assert not np.array_equal(r1, r3)  # the seed matters when subsampling


def test_cox_rejects_nan_without_preprocessing(cohort):
    X, y = cohort
    num = X.select_dtypes("number")
    with pytest.raises(ValueError, match="NaN"):
        CoxPHRisk().fit(num, y)
    XGBCoxRisk(**fast_params("xgb-cox")).fit(num, y)  # xgboost takes NaN natively


def test_xgb_binary_needs_events_by_horizon(cohort):
    X, y = cohort
    with pytest.raises(ModelError, match="no event by the horizon 1 d"):
        make_model("xgb-binary", horizon=1.0, **fast_params("xgb-binary")).fit(X, y)


@pytest.mark.parametrize(("param", "value", "match"), [
    ("n_estimators", 0, "n_estimators must be >= 1"),
    ("learning_rate", 2.0, "learning_rate must be <= 1.0"),
    ("subsample", 0.0, "subsample must be > 0.0"),
    ("nthread", 0, "nthread must be >= 1"),
    ("random_state", None, "random_state must be an integer"),
])
def test_xgb_parameter_errors(param, value, match, cohort):
    X, y = cohort
    est = XGBCoxRisk(**{param: value})
    with pytest.raises(ModelError, match=match):
        est.fit(X.select_dtypes("number"), y)


def test_hazard_ratio_table(cohort):
    X, y = cohort
    est = make_model("coxph").fit(X, y)
    hr = est[-1].hazard_ratios()
    assert list(hr.columns) == ["covariate", "coef", "se", "hr", "hr_ci_low", "hr_ci_high", "p"]
    assert hr["covariate"].tolist() == est.named_steps["preprocess"].feature_names_out_
    assert {"sex_female", "cma_patient_missing"} <= set(hr["covariate"])  # reference: male (most frequent)
    np.testing.assert_allclose(hr["hr"], np.exp(hr["coef"]))
    assert ((hr["hr_ci_low"] < hr["hr"]) & (hr["hr"] < hr["hr_ci_high"])).all()
    assert hr["p"].between(0, 1).all()
