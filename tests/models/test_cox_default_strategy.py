"""The default Cox strategy of ``radiorisk fit`` (issue 16 §3): clinical predictors unpenalised, the penalty by inner CV.

The brute force below is independent of radiorisk's code: lifelines' own penalised fits,
a loop-based Efron partial likelihood, and the fold rule written out from its documentation.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter

from radiorisk.datasets import simulate_cohort
from radiorisk.features import assemble_cohort
from radiorisk.models import (
    CoxPHRisk,
    cross_validate_risk,
    default_cox_params,
    load,
    make_model,
    make_y,
)
from radiorisk.stats import cox_partial_loglik, fit_cox, fit_cox_ridge


def _efron_loglik(eta, t, e):
    """Efron partial log-likelihood by explicit loops (independent of radiorisk.stats)."""
    ll = 0.0
    for s in np.unique(t[e == 1]):
        dead = (t == s) & (e == 1)
        risk = t >= s
        d = int(dead.sum())
        s_all, s_dead = np.exp(eta[risk]).sum(), np.exp(eta[dead]).sum()
        ll += eta[dead].sum() - sum(np.log(s_all - j / d * s_dead) for j in range(d))
    return ll


def _folds(e, k, seed):
    """Documented rule: events, then non-events, shuffled by default_rng(seed) and dealt round-robin."""
    rng = np.random.default_rng(seed)
    lab = np.empty(len(e), dtype=int)
    for rows in (np.flatnonzero(e == 1), np.flatnonzero(e != 1)):
        perm = rows[rng.permutation(len(rows))]
        lab[perm] = np.arange(len(perm)) % k
    return lab


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(7)
    n = 160
    X = pd.DataFrame(rng.normal(size=(n, 6)) * [1, 1, 2, 1, 3, 1],
                     columns=["age", "sex", "r0", "r1", "r2", "r3"])
    lp = 0.6 * X["age"] + 0.4 * X["sex"] + 0.15 * X["r0"]
    t = np.ceil(rng.exponential(800 / np.exp(lp)))
    e = (rng.uniform(size=n) < 0.7).astype(float)
    return X, t, e


def test_chosen_penalty_equals_an_independent_brute_force(small):
    X, t, e = small
    grid = (1.0, 0.1, 0.01)
    m = CoxPHRisk(penalizer="cv", unpenalized=["age", "sex"], penalizer_grid=grid, random_state=3).fit(
        X, make_y(t, e))
    lab = _folds(e, 5, 3)
    factors = np.array([0.0, 0.0, 1, 1, 1, 1])
    cvpl = {}
    for lam in grid:
        total = 0.0
        for k in range(5):
            tr = lab != k
            df = X[tr].assign(T=t[tr], E=e[tr])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                b = CoxPHFitter(penalizer=lam * factors).fit(
                    df, "T", "E", fit_options={"precision": 1e-10}).params_[X.columns].to_numpy()
            xa = X.to_numpy()
            total += _efron_loglik(xa @ b, t, e) - _efron_loglik(xa[tr] @ b, t[tr], e[tr])
        cvpl[lam] = total
    best = max(grid, key=lambda g: (cvpl[g], g))
    assert m.penalizer_ == best
    curve = m.inner_cv_.set_index("penalizer")
    np.testing.assert_allclose(curve["cvpl"].to_numpy(), [cvpl[g] for g in curve.index], atol=1e-5)
    assert curve["chosen"].sum() == 1 and curve.loc[best, "chosen"]
    assert m.unpenalized_ == ["age", "sex"]
    # the final fit is lifelines' with penalty factor 0 on the pre-specified columns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = CoxPHFitter(penalizer=best * factors).fit(X.assign(T=t, E=e), "T", "E",
                                                        fit_options={"precision": 1e-10})
    np.testing.assert_allclose(m.coef_, ref.params_[X.columns].to_numpy(), atol=1e-6)


def test_ridge_fit_and_loglik_match_lifelines_and_fit_cox(small):
    X, t, e = small
    pen = np.array([0.0, 0.0, 0.3, 0.3, 0.3, 0.3])
    ref = CoxPHFitter(penalizer=pen).fit(X.assign(T=t, E=e), "T", "E",
                                         fit_options={"precision": 1e-10, "r_precision": 1e-14})
    np.testing.assert_allclose(fit_cox_ridge(X.to_numpy(), t, e, pen), ref.params_[X.columns], atol=1e-6)
    f = fit_cox(X.to_numpy(), t, e, ties="efron")
    assert cox_partial_loglik(X.to_numpy() @ f.coef, t, e) == pytest.approx(float(f.loglik), abs=1e-8)
    assert cox_partial_loglik(X.to_numpy() @ f.coef, t, e) == pytest.approx(
        _efron_loglik(X.to_numpy() @ f.coef, t, e), abs=1e-8)


@pytest.fixture(scope="module")
def cohort():
    return assemble_cohort(simulate_cohort(500, mode="established-cad", seed=11))


def test_default_fit_keeps_every_clinical_predictor(cohort):
    blocks = ["clinical", "ccta", "pet"]
    params, note = default_cox_params(cohort, blocks, None)
    assert params["penalizer"] == "cv" and "unpenalised" in note
    cols = cohort.columns(blocks)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches the console
        est = make_model("coxph", horizon=1826.0, **params).fit(cohort.X[cols], make_y(cohort.time, cohort.event))
    cox = est.steps[-1][1]
    names = list(cox.feature_names_in_)
    for c in ("age_years", "sex_male"):
        assert c in names and c in cox.unpenalized_
    assert cox.penalizer_ > 0 and cox.inner_cv_ is not None
    # the former default (screen_k=20) dropped clinical predictors; it stays reachable
    old = make_model("coxph", horizon=1826.0, penalizer=0.1, screen_k=20).fit(
        cohort.X[cols], make_y(cohort.time, cohort.event))
    assert len(old.steps[-1][1].feature_names_in_) == 20
    given, note = default_cox_params(cohort, blocks, {"penalizer": 0.1, "screen_k": 20})
    assert given == {"penalizer": 0.1, "screen_k": 20} and "as given" in note


def test_penalty_and_curve_survive_save_and_load(cohort, tmp_path):
    cols = cohort.columns(["clinical", "ccta"])
    params, _ = default_cox_params(cohort, ["clinical", "ccta"], None)
    est = make_model("coxph", horizon=1826.0, **params).fit(cohort.X[cols], make_y(cohort.time, cohort.event))
    est.save(tmp_path / "m")
    back = load(tmp_path / "m").steps[-1][1]
    cox = est.steps[-1][1]
    assert back.penalizer_ == cox.penalizer_ and back.unpenalized_ == cox.unpenalized_
    pd.testing.assert_frame_equal(back.inner_cv_, cox.inner_cv_)
    np.testing.assert_allclose(load(tmp_path / "m").predict_risk(cohort.X[cols]),
                               est.predict_risk(cohort.X[cols]), rtol=1e-12)


def test_fold_fits_convergence_notes_reach_the_cv_notes():
    d = assemble_cohort(simulate_cohort(600, mode="chest-pain", seed=3))  # prior_cabg: a rare column
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cv = cross_validate_risk("coxph", d, blocks=["clinical"], horizon=1826.0, random_state=0,
                                 repeats=1, folds=3)
    fold = [n for n in cv.notes if "fold fits did not converge" in n]
    assert len(fold) == 1 and " of 3 fold fits" in fold[0] and "\n" not in fold[0]


def test_report_states_the_strategy_and_the_chosen_penalty(small):
    from radiorisk.report._model_methods import _cox_strategy

    X, t, e = small
    m = CoxPHRisk(penalizer="cv", unpenalized=["age", "sex"], penalizer_grid=(1.0, 0.1)).fit(X, make_y(t, e))
    say, tables = _cox_strategy(m)
    assert "pre-specified and unpenalised (age, sex)" in say[0]
    assert "5-fold inner cross-validation" in say[0] and f"λ = {m.penalizer_:g}" in say[0]
    assert tables[0][1].equals(m.inner_cv_)
    fixed, _ = _cox_strategy(CoxPHRisk(penalizer=0.1).fit(X, make_y(t, e)))
    assert "penalty fixed at 0.1" in fixed[0]


def test_unfittable_imputed_set_and_non_finite_risks_name_cause_and_fix(small):
    from radiorisk.models import ModelError

    X, t, e = small
    Xa = X.to_numpy().copy()
    Xa[:, 2] = 0.0  # a column with no variation (as a completed set can have)
    with pytest.raises(ModelError, match=r"without variation among the events in this data set: r0.*Fix: a penalty"):
        CoxPHRisk()._fit_exact(Xa, t, e, list(X.columns))
    m = CoxPHRisk().fit(X, make_y(t, e))
    m.coef_ = np.array([900.0, 0, 0, 0, 0, 0])  # a diverged (separated) estimate
    with pytest.raises(ModelError, match=r"non-finite risks: the fit: largest coefficients age \(coefficient 900\).*"
                                         r"separates the events.*Fix: a penalty"):
        m.predict_risk(X, horizon=0.5)  # before the first event: 0 x inf


def test_ridge_gives_a_constant_column_coefficient_zero(small):
    X, t, e = small
    Xa = np.column_stack([X.to_numpy(), np.ones(len(t))])
    b = fit_cox_ridge(Xa, t, e, 0.1)
    assert b[-1] == 0.0
    np.testing.assert_allclose(b[:-1], fit_cox_ridge(X.to_numpy(), t, e, 0.1), atol=1e-12)


def test_a_failed_strength_survives_save_and_load(small, tmp_path):
    X, t, e = small
    est = make_model("coxph", horizon=1826.0, penalizer="cv", unpenalized=["age"], penalizer_grid=(1.0, 0.1))
    est.fit(X, make_y(t, e))
    cox = est.steps[-1][1]
    cox.inner_cv_.loc[1, ["cvpl", "cvpl_per_event"]] = -np.inf  # as when every fit of a strength failed
    est.save(tmp_path / "m")
    back = load(tmp_path / "m").steps[-1][1]
    pd.testing.assert_frame_equal(back.inner_cv_, cox.inner_cv_)
