"""Cause-specific competing-risk models: equal to riskRegression::CSC + predictRisk, the combination, CV, bundles."""

from __future__ import annotations

import numpy as np
import pytest
from cr_testdata import competing_cohort, fixture_xy
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.datasets import simulate_cohort
from radiorisk.features import assemble_cohort
from radiorisk.models import (
    CauseSpecificCoxRisk,
    CauseSpecificXGBCoxRisk,
    CoxPHRisk,
    ModelError,
    XGBCoxRisk,
    cause_specific_cif,
    cross_validate_risk,
    estimand,
    is_competing,
    load,
    make_model,
    make_y,
)
from radiorisk.stats import fit_cox


@pytest.fixture(scope="module")
def fixture():
    return fixture_xy()


def _risks(model, X, horizons, **kw):
    return np.array([model.predict_risk(X, h, **kw) for h in horizons])


# -- riskRegression ------------------------------------------------------------------------
def test_equals_csc_predict_risk_on_the_fixture(fixture):
    X, y, ref = fixture
    cs = CauseSpecificCoxRisk().fit(X, y)
    np.testing.assert_allclose(cs.coef_, ref["csc"]["coef_cause1"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(cs.competing_.coef_, ref["csc"]["coef_cause2"], rtol=0, atol=1e-5)
    assert ref["csc"]["ties"] == "efron"
    H, Xp = ref["horizons"], X.iloc[:400]
    np.testing.assert_allclose(_risks(cs, Xp, H), ref["csc"]["risk_product_limit"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(_risks(cs, Xp, H, product_limit=False), ref["csc"]["risk_exp"], rtol=0, atol=1e-6)


def test_out_of_sample_equals_csc(fixture):
    X, y, ref = fixture
    s = ref["split"]
    cs = CauseSpecificCoxRisk().fit(X.iloc[:700], y[:700])
    np.testing.assert_allclose(cs.coef_, s["csc_coef_cause1"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(cs.competing_.coef_, s["csc_coef_cause2"], rtol=0, atol=1e-5)
    Xt = X.iloc[700:1100]
    np.testing.assert_allclose(_risks(cs, Xt, ref["horizons"]), s["csc_risk_product_limit"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(_risks(cs, Xt, ref["horizons"], product_limit=False), s["csc_risk_exp"],
                               rtol=0, atol=1e-6)


def test_pipeline_entry_point_equals_csc(fixture):
    X, y, ref = fixture
    pipe = make_model("coxph", competing_risks=True).fit(X, y)
    assert type(pipe[-1]) is CauseSpecificCoxRisk and is_competing(pipe)
    assert estimand(pipe).startswith("cumulative incidence of MACE (Aalen-Johansen-type")
    np.testing.assert_allclose(_risks(pipe, X.iloc[:400], ref["horizons"]), ref["csc"]["risk_product_limit"],
                               rtol=0, atol=1e-6)
    assert type(make_model("xgb-cox", competing_risks=True)[-1]) is CauseSpecificXGBCoxRisk
    assert not is_competing(make_model("coxph")) and estimand(make_model("coxph")).startswith("1 - survival")


# -- the combination -----------------------------------------------------------------------
def _loop_cif(hazards, horizon, product_limit):
    """F1 by an explicit loop over the union of event times (the definition)."""
    grid = sorted({float(t) for times, _, _ in hazards for t in times if t <= horizon})
    n = len(hazards[0][2])
    out = np.zeros(n)
    for i in range(n):
        surv, cum, f = 1.0, 0.0, 0.0
        for t in grid:
            d = [float(np.sum(inc[np.asarray(times) == t])) * rel[i] for times, inc, rel in hazards]
            f += (surv if product_limit else np.exp(-cum)) * d[0]
            surv *= 1.0 - sum(d)
            cum += sum(d)
        out[i] = f
    return out


_times = st.lists(st.integers(1, 30), min_size=1, max_size=12, unique=True)


@settings(max_examples=60, deadline=None)
@given(t1=_times, t2=_times, seed=st.integers(0, 10_000), horizon=st.integers(1, 35), pl=st.booleans())
def test_combination_is_the_aalen_johansen_sum(t1, t2, seed, horizon, pl):
    rng = np.random.default_rng(seed)
    hz = [(np.array(t1, float), rng.uniform(0, 0.05, len(t1)), rng.uniform(0.2, 3, 5)),
          (np.array(t2, float), rng.uniform(0, 0.05, len(t2)), rng.uniform(0.2, 3, 5))]
    np.testing.assert_allclose(cause_specific_cif(hz, float(horizon), product_limit=pl),
                               _loop_cif(hz, horizon, pl), rtol=0, atol=1e-13)
    # without the competing cause the product-limit form telescopes to 1 - prod(1 - dL1)
    one = cause_specific_cif(hz[:1], float(horizon), product_limit=True)
    keep = hz[0][0] <= horizon
    expect = 1 - np.prod(1 - hz[0][2][:, None] * hz[0][1][keep][None, :], axis=1)
    np.testing.assert_allclose(one, expect, rtol=0, atol=1e-13)


def test_no_competing_events_gives_the_ordinary_cox_model():
    X, y = competing_cohort(500, 7, comp_rate=0.0)
    assert not (y["event_type"] == 2).any()
    cs = CauseSpecificCoxRisk().fit(X, y)
    cox = CoxPHRisk().fit(X, y)
    assert cs.competing_ is None
    np.testing.assert_array_equal(cs.coef_, cox.coef_)
    # exactly 1 - exp(-H) with the Efron baseline (continuous times: Efron = Breslow), in the exp form
    f = fit_cox(X.to_numpy(), y["time"], y["event"].astype(float), ties="efron", tol=1e-12)
    for h in (200.0, 1000.0, 2500.0):
        keep = f.event_times <= h
        lp = X.to_numpy() @ f.coef - f.center @ f.coef
        exact_pl = 1 - np.prod(1 - np.exp(lp)[:, None] * f.hazard_efron[keep][None, :], axis=1)
        # (lifelines' and fit_cox's coefficients agree to ~1e-7, hence the tolerance)
        np.testing.assert_allclose(cs.predict_risk(X, h), exact_pl, rtol=0, atol=2e-6)
        # and the ordinary coxph risk 1 - exp(-H0 e^lp) differs only by the discrete product limit
        assert np.abs(cs.predict_risk(X, h) - cox.predict_risk(X, h)).max() < 5e-3


def test_competing_events_lower_the_risk_and_xgb_version_runs():
    X, y = competing_cohort(600, 8, comp_rate=1 / 600)
    cs = CauseSpecificCoxRisk().fit(X, y)
    censoring = CoxPHRisk().fit(X, y)
    np.testing.assert_array_equal(cs.coef_, censoring.coef_)  # MACE's cause-specific model is the same fit
    assert (cs.predict_risk(X) < censoring.predict_risk(X)).all()
    xg = CauseSpecificXGBCoxRisk(n_estimators=20, nthread=1).fit(X, y)
    r = xg.predict_risk(X)
    assert ((r > 0) & (r < 1)).all()
    plain = XGBCoxRisk(n_estimators=20, nthread=1).fit(X, y)
    np.testing.assert_array_equal(xg.predict_margin(X), plain.predict_margin(X))
    assert (r < plain.predict_risk(X)).all()


# -- bundles and CV ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["coxph", "xgb-cox"])
def test_bundle_round_trip(name, tmp_path):
    X, y = competing_cohort(300, 9, comp_rate=1 / 800)
    params = {"n_estimators": 15, "nthread": 1} if name == "xgb-cox" else {}
    est = make_model(name, competing_risks=True, horizon=730.0, **params).fit(X, y)
    folder = est.save(tmp_path / name)
    got = load(folder)
    assert type(got[-1]) is type(est[-1])
    for h in (100.0, 730.0, 2500.0):
        np.testing.assert_array_equal(got.predict_risk(X, h), est.predict_risk(X, h))
    if name == "xgb-cox":
        assert {"model_mace.json", "model_competing.json"} <= {p.name for p in folder.iterdir()}


def test_cv_passes_the_event_type_to_every_fold():
    data = assemble_cohort(simulate_cohort(500, seed=3), competing="competing")
    assert (data.event_type == 2).any()
    model = make_model("coxph", competing_risks=True, penalizer=0.05)  # few competing deaths per fold
    cv = cross_validate_risk(model, data, blocks="clinical", horizon=1826, repeats=1, folds=3, random_state=0)
    oof = cv.oof.set_index("patient_id")
    X = data.X[list(cv.columns)]
    y = make_y(data.time, data.event, event_type=data.event_type)
    k = 1
    test = (oof["fold"] == k).to_numpy()
    refit = make_model("coxph", competing_risks=True, penalizer=0.05).fit(X[~test], y[~test])
    np.testing.assert_allclose(oof["risk"].to_numpy()[test], refit.predict_risk(X[test], 1826.0), rtol=0,
                               atol=1e-12)
    censoring = cross_validate_risk(make_model("coxph", penalizer=0.05), data, blocks="clinical", horizon=1826, repeats=1, folds=3,
                                    random_state=0)
    assert cv.oof["risk"].mean() < censoring.oof["risk"].mean()


# -- outcome and errors --------------------------------------------------------------------
def test_competing_outcome_is_backward_compatible():
    X, y = competing_cohort(300, 10)
    y0 = make_y(y["time"], y["event"])
    np.testing.assert_array_equal(CoxPHRisk().fit(X, y).predict_risk(X), CoxPHRisk().fit(X, y0).predict_risk(X))
    assert y[:10].dtype.names == ("event", "time", "event_type")
    with pytest.raises(ModelError, match="event and event_type disagree at position 0"):
        make_y([1.0, 2.0], [0, 1], event_type=[1, 1])
    with pytest.raises(ModelError, match=r"event_type must be 0 \(censored\), 1 \(MACE\) or 2.*found 3"):
        make_y([1.0, 2.0], None, event_type=[3, 1])


def test_errors():
    X, y = competing_cohort(200, 11)
    with pytest.raises(ModelError, match="needs the event type"):
        CauseSpecificCoxRisk().fit(X, make_y(y["time"], y["event"]))
    with pytest.raises(ModelError, match="needs the event type"):  # multiple imputation is supported, with it
        CauseSpecificCoxRisk(n_imputations=3).fit(X, make_y(y["time"], y["event"]))
    with pytest.raises(ModelError, match="sample_weight"):
        CauseSpecificCoxRisk().fit(X, y, sample_weight=np.ones(200))
    with pytest.raises(ModelError, match="no survival function"):
        CauseSpecificCoxRisk().fit(X, y).predict_survival_function(X, times=[100.0])


def test_nested_search_fits_get_the_event_type():
    """The holdout search fits the competing-risk xgb-cox on inner rows (it needs event_type there)."""
    data = assemble_cohort(simulate_cohort(300, seed=4), competing="competing")
    assert (data.event_type == 2).any()
    model = make_model("xgb-cox", competing_risks=True, nthread=1)
    search = {"n_iter": 2, "inner_splits": 1, "max_rounds": 20, "early_stopping_rounds": 5}
    cv = cross_validate_risk(model, data, blocks="clinical", horizon=1826, repeats=1, folds=2, random_state=0,
                             search=search)
    assert cv.search is not None and len(cv.search) == 2 and np.isfinite(cv.oof["risk"]).all()
