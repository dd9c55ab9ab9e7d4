"""Preprocessing: encoding, scaling, PET missingness, radiomics selection, fitted within folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models_testdata import fast_params
from sklearn.base import clone
from sklearn.model_selection import KFold, cross_validate

from radiorisk.models import (
    CorrelationPruner,
    ICCFilter,
    ModalityPreprocessor,
    ModelError,
    UnivariableScreen,
    make_model,
    make_preprocessor,
    make_y,
    univariable_cox_score,
)

PET = ["cma_patient", "tbr_max_patient"]


def test_xgb_preprocessing_keeps_nan_and_all_levels(cohort):
    X, _ = cohort
    pre = make_preprocessor("xgb-cox").fit(X)
    out = pre.transform(X)
    assert out[PET].isna().to_numpy().any()
    np.testing.assert_array_equal(out[PET].isna(), X[PET].isna())
    assert {"sex_female", "sex_male", "diabetes_none", "smoking_current"} <= set(out.columns)
    assert out["hypertension"].isin([0.0, 1.0]).all()  # bool -> 0/1
    np.testing.assert_array_equal(out["age_years"], X["age_years"])  # no scaling for trees
    assert not any(c.endswith("_missing") for c in out.columns)


def test_cox_preprocessing_indicator_imputation_scaling(cohort):
    X, _ = cohort
    pre = make_preprocessor("coxph").fit(X)
    out = pre.transform(X)
    assert not out.isna().to_numpy().any()
    # both PET columns are missing together: one availability indicator
    assert pre.indicator_groups_ == [("cma_patient_missing", PET)]
    np.testing.assert_array_equal(out["cma_patient_missing"], X["cma_patient"].isna())
    # continuous columns standardised on the training rows; 0/1 columns left as is
    np.testing.assert_allclose(out["age_years"].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(out["age_years"].std(ddof=0), 1)
    assert out["hypertension"].isin([0.0, 1.0]).all()
    # imputed with the training median, on the original scale
    med = X["tbr_max_patient"].median()
    imputed = out.loc[X["tbr_max_patient"].isna(), "tbr_max_patient"]
    np.testing.assert_allclose(imputed, (med - pre.means_["tbr_max_patient"]) / pre.scales_["tbr_max_patient"])
    # reference level (most frequent) dropped
    assert pre.reference_["sex"] == X["sex"].mode()[0]
    assert f"sex_{pre.reference_['sex']}" not in out.columns


def test_unknown_category_and_missing_column(cohort):
    X, _ = cohort
    pre = make_preprocessor("xgb-cox").fit(X)
    row = X.iloc[:1].assign(smoking="vaping")
    assert pre.transform(row).filter(like="smoking_").sum(axis=1).iloc[0] == 0
    with pytest.raises(ModelError, match=r"lacks 1 column\(s\) seen in fit: 'sex'"):
        pre.transform(X.drop(columns="sex"))


def test_preprocessor_errors():
    X = pd.DataFrame({"a": [1.0, 2.0, None], "id": ["p1", "p2", "p3"]})
    with pytest.raises(ModelError, match="'id' has 3 levels .* identifier"):
        ModalityPreprocessor(max_categories=2).fit(X)
    with pytest.raises(ModelError, match="column 'a' is numeric but row 1 holds 'x'"):
        ModalityPreprocessor(numeric=["a"], categorical=[]).fit(X.assign(a=[1.0, "x", 2.0]))
    with pytest.raises(ModelError, match="'b' is missing in every training row"):
        ModalityPreprocessor(impute="median").fit(X.assign(b=np.nan))
    with pytest.raises(ModelError, match="missing_indicator=True needs impute='median'"):
        ModalityPreprocessor(missing_indicator=True).fit(X)
    with pytest.raises(ModelError, match="both categorical and numeric"):
        ModalityPreprocessor(numeric=["a"], categorical=["a"]).fit(X)
    # explicit lists: other columns are ignored
    pre = ModalityPreprocessor(numeric=["a"], categorical=[]).fit(X)
    assert pre.feature_names_out_ == ["a"]


def test_constant_columns_dropped_for_cox():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "k": [5.0] * 4, "g": ["u"] * 4})
    pre = make_preprocessor("coxph").fit(X)
    assert pre.feature_names_out_ == ["a"]
    assert pre.constant_columns_ == ["k"]  # "g" has one level: its dummy is the reference


def test_preprocessing_is_fitted_within_training_folds(cohort):
    X, y = cohort
    cv = KFold(3, shuffle=True, random_state=1)
    res = cross_validate(make_model("coxph"), X, y, cv=cv, return_estimator=True, return_indices=True)
    for est, train in zip(res["estimator"], res["indices"]["train"], strict=True):
        pre = est.named_steps["preprocess"]
        assert pre.medians_["cma_patient"] == pytest.approx(X["cma_patient"].iloc[train].median())
        assert pre.means_["age_years"] == pytest.approx(X["age_years"].iloc[train].mean())


def test_pet_missing_handled_by_both_model_kinds(cohort):
    X, y = cohort
    has_pet = X["cma_patient"].notna().to_numpy()
    xgb = make_model("xgb-cox", n_estimators=60, nthread=1).fit(X, y)
    r = xgb.predict_risk(X)
    assert np.isfinite(r[~has_pet]).all()
    # a patient without PET follows xgboost's default branch: blanking PET changes the risk
    blank = X.copy()
    blank.loc[:, PET] = np.nan
    assert not np.array_equal(xgb.predict_risk(blank)[has_pet], r[has_pet])
    cox = make_model("coxph").fit(X, y)
    names = cox[-1].hazard_ratios()["covariate"].tolist()
    assert "cma_patient_missing" in names and set(PET) <= set(names)
    assert np.isfinite(cox.predict_risk(blank)).all()


# -- radiomics selection ---------------------------------------------------------------------


def test_icc_filter():
    X = pd.DataFrame({"age": [1.0, 2], "r1": [1.0, 2], "r2": [3.0, 1], "r3": [0.0, 1]})
    f = ICCFilter(["r1", "r3", "not_there"], columns=["r1", "r2", "r3"]).fit(X)
    assert f.kept_ == ["age", "r1", "r3"] and f.dropped_ == ["r2"]
    assert f.transform(X).columns.tolist() == ["age", "r1", "r3"]
    assert ICCFilter(["r2"]).fit(X).kept_ == ["r2"]
    with pytest.raises(ModelError, match="ICCFilter needs keep"):
        ICCFilter().fit(X)


def test_correlation_pruner():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    X = pd.DataFrame({"a": a, "b": a * 2 + rng.normal(scale=0.01, size=200), "c": rng.normal(size=200),
                      "d": -a + rng.normal(scale=0.01, size=200), "e": np.exp(a)})
    assert CorrelationPruner(0.9).fit(X).dropped_ == ["b", "d"]
    assert CorrelationPruner(0.9, method="spearman").fit(X).dropped_ == ["b", "d", "e"]
    assert CorrelationPruner(0.9, columns=["c", "d", "e"]).fit(X).dropped_ == []
    # NaN: pairwise complete observations
    Xn = X.copy()
    Xn.loc[:50, "b"] = np.nan
    assert CorrelationPruner(0.9).fit(Xn).dropped_ == ["b", "d"]
    with pytest.raises(ModelError, match="threshold must be > 0.0"):
        CorrelationPruner(0).fit(X)


def _brute_score(x, t, e):
    """Univariable Cox score statistic (Breslow ties) by loops over event times."""
    ok = ~np.isnan(x)
    x, t, e = x[ok], t[ok], e[ok]
    U = info = 0.0
    for s in np.unique(t[e == 1]):
        risk = t >= s
        d = np.sum((t == s) & (e == 1))
        mean = x[risk].mean()
        U += x[(t == s) & (e == 1)].sum() - d * mean
        info += d * x[risk].var()
    return U, info


def test_univariable_score_test_against_loops():
    rng = np.random.default_rng(3)
    n = 150
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 2, n).astype(float),
                      "c": rng.normal(size=n)})
    X.loc[rng.random(n) < 0.3, "c"] = np.nan
    t = np.round(rng.exponential(20, n)) + 1  # ties
    e = (rng.random(n) < 0.7).astype(float)
    res = univariable_cox_score(X, make_y(t, e))
    for col in X.columns:
        U, info = _brute_score(X[col].to_numpy(), t, e)
        assert res.loc[col, "score"] == pytest.approx(U, rel=1e-10)
        assert res.loc[col, "information"] == pytest.approx(info, rel=1e-10)
        assert res.loc[col, "chi2"] == pytest.approx(U * U / info, rel=1e-10)


def test_univariable_screen_selection():
    rng = np.random.default_rng(0)
    n = 400
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["age", "r1", "r2", "r3"])
    y = make_y(rng.exponential(1 / np.exp(0.8 * X["r2"] + 0.4 * X["r3"])) + 1e-3, np.ones(n))
    s = UnivariableScreen(k=1, columns=["r1", "r2", "r3"]).fit(X, y)
    assert s.kept_ == ["age", "r2"]
    assert s.statistics_.index.tolist() == ["r1", "r2", "r3"]
    assert s.statistics_["selected"].tolist() == [False, True, False]
    assert UnivariableScreen(p=0.01).fit(X, y).kept_ == ["r2", "r3"]
    assert UnivariableScreen(p=1e-300).fit(X, y).kept_ == ["r2"]  # at least one kept
    with pytest.raises(ModelError, match="needs k"):
        UnivariableScreen().fit(X, y)


def test_make_model_with_radiomics_selection(cohort):
    X, y = cohort
    rng = np.random.default_rng(0)
    rad = pd.DataFrame(rng.normal(size=(len(X), 6)), columns=[f"rad_{j}" for j in range(6)],
                       index=X.index)
    rad["rad_5"] = rad["rad_0"] * 1.01
    Xr = X.join(rad)
    radiomics = list(rad.columns)
    for name in ("xgb-cox", "coxph"):
        est = make_model(name, radiomics=radiomics, icc_keep=radiomics[1:], correlation_threshold=0.9,
                         screen_k=2, **fast_params(name)).fit(Xr, y)
        assert est.named_steps["icc"].dropped_ == ["rad_0"]
        assert est.named_steps["prune"].dropped_ == []  # rad_0 already gone
        kept = [c for c in est.named_steps["screen"].kept_ if c.startswith("rad_")]
        assert len(kept) == 2
        assert np.isfinite(est.predict_risk(Xr)).all()
    # steps can be switched on by set_params too
    est = clone(make_model("coxph")).set_params(prune=CorrelationPruner(0.9, columns=radiomics))
    est.fit(Xr, y)
    assert est.named_steps["prune"].dropped_ == ["rad_5"]
