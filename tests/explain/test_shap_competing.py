"""SHAP of the competing-risk models: on the cause-specific model of MACE, with the cumulative-incidence risk view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.explain import ExplainError, RiskLink, shap_values
from radiorisk.models import cause_specific_cif, make_model, make_y

FAST = {"n_estimators": 40, "nthread": 1}
PARAMS = {"coxph": {"penalizer": 0.1}, "xgb-cox": FAST, "xgb-aft": FAST, "xgb-binary": FAST}
KIND = {"coxph": ("coxph-cr", "cause-specific log-hazard", "linear"),
        "xgb-cox": ("xgb-cox-cr", "cause-specific log-hazard", "tree"),
        "xgb-aft": ("xgb-aft-cr", "log-time", "tree"),
        "xgb-binary": ("xgb-binary-cr", "log-odds", "tree")}


@pytest.fixture(scope="module")
def cr_data():
    from radiorisk.datasets import simulate_cohort
    from radiorisk.features import assemble_cohort

    data = assemble_cohort(simulate_cohort(600, seed=5, pet_rate=0.4), competing="competing")
    assert (data.event_type == 2).sum() >= 10
    return data


@pytest.fixture(scope="module")
def cr_fitted(cr_data):
    y = make_y(cr_data.time, cr_data.event, event_type=cr_data.event_type)
    return {n: make_model(n, competing_risks=True, random_state=0, **p).fit(cr_data.X, y) for n, p in PARAMS.items()}


def _margin(model, X):
    final, Z = model[-1], model[:-1].transform(X)
    return final.predict_log_hazard(Z) if hasattr(final, "predict_log_hazard") else final.predict_margin(Z)


@pytest.mark.parametrize("name", list(PARAMS))
def test_kind_scale_additivity_and_risk(cr_fitted, cr_data, name):
    model, X = cr_fitted[name], cr_data.X
    res = shap_values(model, X, blocks=cr_data.blocks)
    kind, scale, method = KIND[name]
    assert (res.model_kind, res.scale, res.method) == (kind, scale, method)
    assert res.notes[0].startswith("model scale: the " + ("log-odds" if name == "xgb-binary" else "cause-specific"))
    m = _margin(model, X)
    gap = np.abs(res.base_value + res.values.sum(axis=1) - m)
    if method == "linear":
        assert gap.max() < 1e-10
    else:  # xgboost computes contributions and margins in float32
        assert (gap <= 1e-6 * (1.0 + np.abs(m))).all()
    # the risk view is the model's cumulative incidence (its predict_risk)
    np.testing.assert_allclose(res.risk(), model.predict_risk(X), rtol=0, atol=1e-10 if method == "linear" else 2e-6)
    rc = res.risk_contributions(rows=[3, 10, 42])
    last = rc.groupby("patient_id", sort=False)["risk"].last().to_numpy()
    np.testing.assert_allclose(last, model.predict_risk(X.iloc[[3, 10, 42]]), rtol=0, atol=2e-6)
    sums = rc.groupby("patient_id", sort=False)["risk_change"].sum().to_numpy()
    base = rc[rc["step"] == 0]["risk"].to_numpy()
    np.testing.assert_allclose(base + sums, last, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["coxph", "xgb-cox", "xgb-aft"])
def test_equals_the_censoring_mode_path_for_the_model_of_mace(cr_fitted, cr_data, name):
    """The values are those of the non-competing model of the same kind fitted on MACE (competing events censored)."""
    X = cr_data.X
    y_mace = make_y(cr_data.time, (cr_data.event_type == 1).to_numpy())
    plain = make_model(name, random_state=0, **PARAMS[name]).fit(X, y_mace)
    a, b = shap_values(cr_fitted[name], X, blocks=cr_data.blocks), shap_values(plain, X, blocks=cr_data.blocks)
    assert a.feature_names == b.feature_names and a.blocks == b.blocks and a.method == b.method
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-12)
    assert a.base_value == pytest.approx(b.base_value, abs=1e-12)
    # the risk scales differ: on average the cumulative incidence is below 1 - S of the MACE model alone
    # (not row by row: the Cox kinds' product limit exceeds 1 - exp(-H) where the competing hazard is small)
    assert a.risk().mean() < b.risk().mean()


def test_linear_shap_of_the_cause_specific_cox_is_beta_times_centred_x(cr_fitted, cr_data):
    model, X = cr_fitted["coxph"], cr_data.X
    final, Z = model[-1], model[:-1].transform(X)
    res = shap_values(model, X, aggregate=False)
    expect = (Z.to_numpy(float) - final.means_) * final.coef_
    np.testing.assert_allclose(res.values, expect, rtol=0, atol=1e-12)
    assert res.base_value == 0.0


def test_subset_keeps_each_patients_competing_model(cr_fitted, cr_data):
    model, X = cr_fitted["coxph"], cr_data.X
    res = shap_values(model, X)
    one = res.subset([7])
    np.testing.assert_allclose(one.risk(), model.predict_risk(X.iloc[[7]]), rtol=0, atol=1e-10)
    # an independent cumulative incidence from the link's own pieces
    lk = res.link
    haz = [(lk.cause_times[0], lk.cause_increments[0], np.exp(res.margin[[7]])),
           (lk.cause_times[1], lk.cause_increments[1], lk.competing[[7]])]
    np.testing.assert_allclose(cause_specific_cif(haz, 1826.0), one.risk(), rtol=0, atol=1e-14)
    with pytest.raises(ExplainError, match="one margin row per explained patient"):
        res.link.risk(np.zeros(3))


def test_link_without_a_competing_model_is_one_minus_survival():
    lk = RiskLink("cause-specific-cox", horizon=10.0, cause_times=(np.array([1.0, 5.0]),),
                  cause_increments=(np.array([0.1, 0.2]),))
    m = np.array([[0.0, np.log(2.0)]])
    np.testing.assert_allclose(lk.risk(m), [[1 - 0.9 * 0.8, 1 - 0.8 * 0.6]], rtol=0, atol=1e-14)
    assert lk.subset([0]) is lk


def test_fine_gray_is_still_explained_on_the_risk_scale(cr_data):
    y = make_y(cr_data.time, cr_data.event, event_type=cr_data.event_type)
    fg = make_model("fg").fit(cr_data.X, y)
    res = shap_values(fg, cr_data.X.iloc[:10], n_background=10)
    assert res.model_kind == "other" and res.scale == "risk"
    assert isinstance(res.data, pd.DataFrame)
