"""shap_values: additivity and TreeExplainer agreement for every model kind, mapping, scales, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from radiorisk.explain import ADDITIVITY_ATOL, ExplainError, ShapResult, shap_values
from radiorisk.models import MODEL_NAMES, make_model, make_y

XGB = ("xgb-binary", "xgb-cox", "xgb-aft")
#: The kinds with a SHAP engine of their own (the Fine-Gray model ``fg`` is explained as "other":
#: permutation SHAP of the risk, tested below).
KINDS = tuple(n for n in MODEL_NAMES if n != "fg")
SCALE = {"xgb-binary": "log-odds", "xgb-cox": "log-hazard", "xgb-aft": "log-time", "coxph": "log-hazard"}


def _margin(model, X):
    final = model[-1]
    Z = model[:-1].transform(X)
    return final.predict_log_hazard(Z) if hasattr(final, "predict_log_hazard") else final.predict_margin(Z)


@pytest.mark.parametrize("name", KINDS)
def test_additivity_default_method(fitted, explain_data, name):
    X = explain_data.X
    res = shap_values(fitted[name], X, blocks=explain_data.blocks)
    assert isinstance(res, ShapResult)
    assert res.scale == SCALE[name] and res.model_kind == name
    assert res.method == ("linear" if name == "coxph" else "tree")
    np.testing.assert_allclose(res.base_value + res.values.sum(axis=1), _margin(fitted[name], X),
                               atol=ADDITIVITY_ATOL, rtol=0)
    assert res.values.shape == (len(X), len(res.feature_names)) == res.data.shape
    assert res.data.index.equals(X.index)
    assert set(res.blocks) <= {"clinical", "ccta", "pet", "radiomics"}


@pytest.mark.parametrize("name", KINDS)
def test_additivity_permutation_fallback(fitted, explain_data, name):
    X = explain_data.X.iloc[:40]
    res = shap_values(fitted[name], X, method="permutation", background=explain_data.X, n_background=30,
                      random_state=1)
    assert res.method == "permutation" and "30 patients" in res.background
    np.testing.assert_allclose(res.base_value + res.values.sum(axis=1), _margin(fitted[name], X), atol=1e-6)


def test_fine_gray_is_explained_on_the_risk_scale(fitted, explain_data):
    X = explain_data.X.iloc[:20]
    res = shap_values(fitted["fg"], X, n_background=20, random_state=1)
    assert res.model_kind == "other" and res.method == "permutation" and res.scale == "risk"
    np.testing.assert_allclose(res.base_value + res.values.sum(axis=1), fitted["fg"].predict_risk(X), atol=1e-6)


def test_kernel_fallback_additive(fitted, explain_data):
    X = explain_data.X.iloc[:5]
    res = shap_values(fitted["coxph"], X, method="kernel", n_background=20, max_evals=200)
    np.testing.assert_allclose(res.margin, _margin(fitted["coxph"], X), atol=1e-3)


@pytest.mark.parametrize("name", XGB)
def test_native_tree_shap_equals_shap_tree_explainer(fitted, explain_data, name):
    from radiorisk.explain._common import import_shap

    shap = import_shap()

    X = explain_data.X
    model = fitted[name]
    res = shap_values(model, X, aggregate=False)
    Z = model[:-1].transform(X).to_numpy(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expl = shap.TreeExplainer(model[-1].booster_)
        ref = expl.shap_values(Z)
    assert res.feature_names == tuple(model[:-1].transform(X.iloc[:1]).columns)
    np.testing.assert_allclose(res.values, ref, atol=1e-5, rtol=0)
    assert abs(res.base_value - float(np.ravel(expl.expected_value)[0])) < 1e-5


def test_coxph_linear_is_exact(fitted, explain_data):
    model = fitted["coxph"]
    X = explain_data.X.iloc[:50]
    res = shap_values(model, X, aggregate=False)
    Z = model[:-1].transform(X)
    beta, mean = model[-1].coef_, model[-1].means_
    np.testing.assert_allclose(res.values, (Z.to_numpy() - mean) * beta, atol=1e-12)
    assert res.base_value == 0.0 and "training-cohort mean" in res.background
    # against a stated background: base = mean margin of that background
    bg = explain_data.X.iloc[100:300]
    res_bg = shap_values(model, X, background=bg)
    assert res_bg.base_value == pytest.approx(float(_margin(model, bg).mean()), abs=1e-10)
    np.testing.assert_allclose(res_bg.margin, _margin(model, X), atol=1e-10)


def test_missing_indicator_kept_in_pet_block(fitted, explain_data):
    res = shap_values(fitted["coxph"], explain_data.X, blocks=explain_data.blocks)
    # PET availability reaches the model once, as pet_available in the pet block: an indicator of the
    # same missingness pattern would be its collinear copy, so the preprocessor adds none
    assert res.blocks[res.feature_names.index("pet_available")] == "pet"
    pet_cols = set(explain_data.blocks["pet"])
    assert not [f for f in res.feature_names if f.endswith("_missing") and f.removesuffix("_missing") in pet_cols]


@pytest.mark.parametrize("name", ["xgb-cox", "coxph"])
def test_one_hot_columns_summed_into_their_categorical(name):
    from radiorisk.datasets import simulate_cohort

    c = simulate_cohort(400, seed=2, pet_rate=0.4)
    X = pd.concat([c.patients[["age_years", "sex", "smoking", "ldl_mmol_l"]],
                   c.scans[["cac_agatston", "tpv_mm3"]], c.pet[["tbr_max_patient"]]], axis=1)
    oc = c.outcomes
    y = make_y(np.where(oc["mace_event"], oc["mace_time_days"], oc["fu_days"]), oc["mace_event"])
    params = {"penalizer": 0.1} if name == "coxph" else {"n_estimators": 30, "nthread": 1}
    model = make_model(name, **params).fit(X, y)
    blocks = {"clinical": ["age_years", "sex", "smoking", "ldl_mmol_l"], "ccta": ["cac_agatston", "tpv_mm3"],
              "pet": ["tbr_max_patient"]}
    raw = shap_values(model, X, aggregate=False)
    agg = shap_values(model, X, blocks=blocks)
    dummies = [k for k in raw.feature_names if k.startswith("smoking_")]
    assert len(dummies) >= 2
    j = agg.feature_names.index("smoking")
    np.testing.assert_allclose(agg.values[:, j], raw.to_frame()[dummies].sum(axis=1), atol=1e-12)
    assert agg.blocks[j] == "clinical"
    assert agg.data["smoking"].equals(X["smoking"].reset_index(drop=True).set_axis(X.index))
    np.testing.assert_allclose(agg.margin, raw.margin, atol=1e-9)
    assert agg.columns[dummies[0]] == "smoking"


@pytest.mark.parametrize("name", KINDS)
def test_probability_view_matches_predict_risk(fitted, explain_data, name):
    X = explain_data.X.iloc[:30]
    model = fitted[name]
    res = shap_values(model, X)
    np.testing.assert_allclose(res.risk(), model.predict_risk(X), atol=1e-6)
    steps = res.risk_contributions([0, 1, 2])
    assert list(steps.columns) == ["patient_id", "step", "feature", "block", "shap", "margin", "risk",
                                   "risk_change"]
    for pid, g in steps.groupby("patient_id", sort=False):
        pos = X.index.get_loc(pid)
        assert g["risk"].iloc[-1] == pytest.approx(model.predict_risk(X)[pos], abs=1e-6)
        assert g["risk_change"].sum() == pytest.approx(g["risk"].iloc[-1] - g["risk"].iloc[0], abs=1e-12)
        assert g["feature"].iloc[0] == "base"
        assert (np.diff(np.abs(g["shap"].to_numpy()[1:])) <= 1e-15).all()  # magnitude order


def test_probability_view_other_horizon(fitted, explain_data):
    X = explain_data.X.iloc[:10]
    res = shap_values(fitted["xgb-cox"], X)
    np.testing.assert_allclose(res.risk(365.0), fitted["xgb-cox"].predict_risk(X, 365.0), atol=1e-6)
    with pytest.raises(ExplainError, match="training horizon"):
        shap_values(fitted["xgb-binary"], X).risk(365.0)


def test_by_block_sums_and_global_table(fitted, explain_data):
    res = shap_values(fitted["xgb-cox"], explain_data.X, blocks=explain_data.blocks)
    mod = res.by_block()
    np.testing.assert_allclose(mod.values.sum(axis=1), res.values.sum(axis=1), atol=1e-10)
    tab = mod.to_frame()
    assert list(tab.columns) == ["block", "n_features", "mean_abs", "mean", "share"]
    assert tab["share"].sum() == pytest.approx(1.0)
    assert set(tab["block"]) == {"clinical", "ccta", "pet"}
    assert "<table" in mod._repr_html_()


def test_result_views(fitted, explain_data):
    X = explain_data.X
    res = shap_values(fitted["xgb-aft"], X, blocks=explain_data.blocks)
    assert "log-time" in " ".join(res.notes)
    imp = res.importance()
    assert imp["mean_abs"].is_monotonic_decreasing and imp["rank"].iloc[0] == 1
    assert res.to_frame().shape == (len(X), len(res.feature_names))
    sub = res.subset(X.index[:3])
    assert sub.n == 3 and sub.index.equals(X.index[:3])
    assert res.subset(np.arange(len(X)) < 4).n == 4
    assert "<table" in res._repr_html_() and "ShapResult(" in repr(res)
    ex = res.to_explanation()
    assert ex.values.shape == res.values.shape


def test_unknown_blocks_are_other(fitted, explain_data):
    res = shap_values(fitted["xgb-cox"], explain_data.X.iloc[:5], blocks={"ccta": ["cad_rads"]})
    assert res.blocks[res.feature_names.index("cad_rads")] == "ccta"
    assert res.blocks[res.feature_names.index("age_years")] == "other"


def test_generic_risk_model_uses_permutation():
    class Linear:
        horizon = 100.0

        def predict_risk(self, X, horizon=None):
            return 0.1 + 0.05 * np.asarray(X)[:, 0] - 0.02 * np.asarray(X)[:, 1]

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)})
    res = shap_values(Linear(), X, n_background=30)
    assert res.scale == "risk" and res.method == "permutation"
    np.testing.assert_allclose(res.values[:, 0], 0.05 * (X["a"] - X["a"].mean()), atol=1e-10)


def test_errors(fitted, explain_data):
    X = explain_data.X.iloc[:5]
    with pytest.raises(ExplainError, match="not fitted"):
        shap_values(make_model("xgb-cox"), X)
    with pytest.raises(ExplainError, match="does not apply"):
        shap_values(fitted["coxph"], X, method="tree")
    with pytest.raises(ExplainError, match="does not apply"):
        shap_values(fitted["xgb-cox"], X, method="linear")
    with pytest.raises(ExplainError, match="method must be"):
        shap_values(fitted["xgb-cox"], X, method="exact")
    with pytest.raises(ExplainError, match="two blocks"):
        shap_values(fitted["xgb-cox"], X, blocks={"a": ["age_years"], "b": ["age_years"]})
    with pytest.raises(ExplainError, match="not a risk model"):
        shap_values(object(), X)
    with pytest.raises(ExplainError, match="no rows"):
        shap_values(fitted["xgb-cox"], X.iloc[:0])
    with pytest.raises(ExplainError, match="unknown patient"):
        shap_values(fitted["xgb-cox"], X).subset(["nobody"])
