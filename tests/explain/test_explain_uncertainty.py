"""risk_intervals: bootstrap or ensemble intervals, and low-confidence flags with their reasons."""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.explain import UNCERTAINTY_COLUMNS, ExplainError, RiskUncertainty, risk_intervals
from radiorisk.models import make_model


@pytest.fixture(scope="module")
def small_model(explain_data):
    return make_model("xgb-cox", n_estimators=15, nthread=1).fit(explain_data.X, explain_data.y)


def test_bootstrap_intervals_and_reasons(small_model, explain_data):
    X = explain_data.X
    Xq = X.iloc[:40].copy()
    Xq.iloc[0, Xq.columns.get_loc("age_years")] = 140.0  # far outside the training ages
    Xq.iloc[0, Xq.columns.get_loc("bmi")] = 90.0
    calls = []
    u = risk_intervals(small_model, Xq, X_train=X, y_train=explain_data.y, n_boot=8,
                       blocks=explain_data.blocks, random_state=0, progress=lambda *a: calls.append(a))
    assert isinstance(u, RiskUncertainty) and u.source == "bootstrap" and u.n_models == 8
    assert calls == [("bootstrap refits", k, 8) for k in range(9)]  # before the first refit, then after each
    quiet = risk_intervals(small_model, Xq, X_train=X, y_train=explain_data.y, n_boot=8,
                           blocks=explain_data.blocks, random_state=0)
    assert quiet.table.equals(u.table)  # reporting progress changes nothing
    two = risk_intervals(small_model, Xq, X_train=X, y_train=explain_data.y, n_boot=8,
                         blocks=explain_data.blocks, random_state=0, n_jobs=2)
    assert two.table.equals(u.table)  # the same refits in two processes
    t = u.table
    assert tuple(t.columns) == UNCERTAINTY_COLUMNS and t.index.equals(Xq.index)
    np.testing.assert_allclose(t["risk"], small_model.predict_risk(Xq))
    assert (t["ci_low"] <= t["ci_high"]).all() and (t["width"] >= 0).all()
    assert "outside training distribution" in t["reason"].iloc[0]
    assert t["ood_score"].iloc[0] > u.ood_threshold
    no_pet = explain_data.pet_available.reindex(Xq.index).to_numpy() == 0
    assert no_pet.any() and (~no_pet).any()
    assert t["reason"][no_pet].str.contains("PET missing").all()
    assert not t["reason"][~no_pet].str.contains("PET missing").any()
    assert (t["low_confidence"] == (t["reason"] != "")).all()
    assert set(u.flagged.index) == set(t.index[t["low_confidence"]])
    assert "patient_id" in u.to_frame().columns and "<table" in u._repr_html_()


def test_in_distribution_patients_rarely_ood(small_model, explain_data):
    X = explain_data.X
    u = risk_intervals(small_model, X, ensemble=[small_model, small_model], X_train=X, ood="mahalanobis",
                       ood_quantile=0.95)
    assert u.source == "ensemble"
    share = u.table["reason"].str.contains("outside training").mean()
    assert 0.02 < share < 0.08  # the 95 % quantile of the training scores


def test_wide_interval_flag_and_isolation(small_model, explain_data):
    X = explain_data.X
    u = risk_intervals(small_model, X.iloc[:10], X_train=X, y_train=explain_data.y, n_boot=4, max_width=1e-9,
                       ood="isolation", random_state=3)
    assert u.table["reason"].str.contains("interval wider than 1e-09").all()
    assert np.isfinite(u.table["ood_score"]).all()


def test_ensemble_from_cv_like_models(explain_data):
    X, y = explain_data.X, explain_data.y
    models = [make_model("coxph", penalizer=0.1).fit(X.iloc[idx], y[idx])
              for idx in (np.arange(0, 400), np.arange(200, 600))]
    u = risk_intervals(models[0], X.iloc[:20], ensemble=models, ood=None)
    both = np.vstack([m.predict_risk(X.iloc[:20]) for m in models])
    np.testing.assert_allclose(u.table["ci_low"], np.quantile(both, 0.025, axis=0))
    assert u.table["ood_score"].isna().all() and u.ood is None


def test_errors(small_model, explain_data):
    X = explain_data.X
    with pytest.raises(ExplainError, match="X_train and y_train"):
        risk_intervals(small_model, X)
    with pytest.raises(ExplainError, match="ood must be"):
        risk_intervals(small_model, X, ensemble=[small_model], ood="lof")
    with pytest.raises(ExplainError, match="max_width"):
        risk_intervals(small_model, X, ensemble=[small_model], max_width=0)
    with pytest.raises(ExplainError, match="y_train has"):
        risk_intervals(small_model, X, X_train=X, y_train=explain_data.y[:10])
