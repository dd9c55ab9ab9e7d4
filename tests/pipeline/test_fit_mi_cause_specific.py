"""Multiple imputation with the cause-specific Cox model: the model, its persistence and ``fit --impute mice:M``.

The pooled prediction is checked against M cause-specific Cox fits built here from the
imputation model's completed data sets (the MACE indicator and the Nelson-Aalen hazard of MACE
in the imputation model), and complete data give exactly the single fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.models import CauseSpecificCoxRisk, cause_specific_cif, load, make_mi_model, make_y
from radiorisk.models._impute import ChainedImputation
from radiorisk.pipeline import run_fit
from radiorisk.pipeline._fit_competing import MI_STATEMENT


def _data(n=300, seed=0, missing=0.3):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    X["b"] += 0.5 * X["a"]
    t1 = rng.exponential(900 / np.exp(0.7 * X["a"] + 0.4 * X["b"]))
    t2 = rng.exponential(1500 / np.exp(0.3 * X["b"]))
    c = rng.uniform(200, 3000, n)
    t = np.minimum.reduce([t1, t2, c]).round() + 1
    status = np.select([t1 <= np.minimum(t2, c), t2 <= c], [1, 2], 0)
    Xm = X.copy()
    Xm.loc[rng.random(n) < missing, "b"] = np.nan
    return X, Xm, make_y(t, None, event_type=status), t, status


def test_complete_data_equal_the_single_fit():
    X, _, y, _, _ = _data()
    one = CauseSpecificCoxRisk(horizon=1000.0).fit(X, y).predict_risk(X)
    mi = CauseSpecificCoxRisk(horizon=1000.0, n_imputations=3).fit(X, y)
    np.testing.assert_allclose(mi.predict_risk(X), one, rtol=0, atol=1e-12)


def test_pooled_cif_is_the_mean_of_the_per_imputation_fits():
    _, Xm, y, t, status = _data()
    mi = CauseSpecificCoxRisk(horizon=1000.0, n_imputations=3, random_state=5).fit(Xm, y)
    imp = ChainedImputation(3, random_state=5).fit(Xm.to_numpy(), t, status == 1)  # outcome terms of MACE
    new = imp.transform(Xm.to_numpy()[:50])
    per = []
    for Xc, Xn in zip(imp.completed_, new, strict=True):
        fit = CauseSpecificCoxRisk(horizon=1000.0).fit(pd.DataFrame(Xc, columns=["a", "b"]), y)
        per.append(fit.predict_risk(pd.DataFrame(Xn, columns=["a", "b"])))
    np.testing.assert_allclose(mi.predict_risk_per_imputation(Xm.iloc[:50]), np.array(per), atol=1e-10)
    np.testing.assert_allclose(mi.predict_risk(Xm.iloc[:50]), np.mean(per, axis=0), atol=1e-10)
    assert mi.pooled_["m"].tolist() == [3, 3]
    # the imputations differ, so the pooled risk is not any single one
    assert np.abs(np.array(per)[0] - np.array(per)[1]).max() > 1e-6


def test_persisted_and_reloaded(tmp_path):
    _, Xm, y, _, _ = _data(seed=1)
    est = make_mi_model(2, horizon=1000.0, competing_risks=True).fit(Xm, y)
    assert type(est.steps[-1][1]).__name__ == "CauseSpecificCoxRisk"
    est.save(tmp_path / "m")
    again = load(tmp_path / "m")
    np.testing.assert_allclose(again.predict_risk(Xm), est.predict_risk(Xm), atol=1e-12)


def test_huge_relative_hazard_gives_a_probability():
    # cause 1 jumps 0.1 at t = 1 for a relative hazard of 1; a row with an overflowing exp(lp) has
    # an all-cause increment above 1 at t = 1: everyone left has an event there, shared 1e300 : 0.2
    h1 = (np.array([1.0, 3.0]), np.array([0.1, 0.1]), np.array([1.0, np.inf]))
    h2 = (np.array([1.0]), np.array([0.2]), np.array([1.0, 1.0]))
    out = cause_specific_cif([h1, h2], 3.0)
    assert out[0] == pytest.approx(0.1 + (1 - 0.3) * 0.1, abs=1e-12)  # unchanged below 1 (docstring case)
    assert out[1] == pytest.approx(1.0, abs=1e-12)


def test_fit_impute_mice_with_competing_risks_end_to_end(tmp_path):
    write_synthetic_cohort(tmp_path / "D", n=400, mode="chest-pain", seed=4)
    run = run_fit(tmp_path / "D", tmp_path / "R", model="coxph", blocks="clinical,pet", repeats=1, folds=3,
                  n_boot=0, impute="mice:2", raw_ids=True, params={"penalizer": 0.1})  # 37 PET patients: no inner CV
    assert MI_STATEMENT in run.notes
    assert any(n.startswith("competing risks: non-cardiac death treated as a competing event") for n in run.notes)
    final = load(tmp_path / "R" / "model").steps[-1][1]
    assert type(final).__name__ == "CauseSpecificCoxRisk" and final.n_imputations == 2
    assert len(final.imputation_models_) == 2
    oof = pd.read_csv(tmp_path / "R" / "oof_predictions.csv")
    assert oof["risk"].between(0, 1).all() and "event_type" in oof.columns
    assert "c_cr" in set(pd.read_csv(tmp_path / "R" / "ladder.csv")["metric"])


def test_competing_model_with_too_few_events_for_inner_cv_uses_the_mace_strength():
    X, _, y, t, status = _data(seed=2)
    status = np.where(status == 2, 0, status)
    status[np.flatnonzero(status == 0)[:1]] = 2  # one competing event: no 5-fold inner CV of its penalty
    est = CauseSpecificCoxRisk(horizon=1000.0, penalizer="cv").fit(X, make_y(t, None, event_type=status))
    assert est.competing_.penalizer_ == est.penalizer_
    assert any(n.startswith("competing-event model: too few competing events (1)") for n in est.convergence_notes_)
    assert np.isfinite(est.predict_risk(X)).all()
