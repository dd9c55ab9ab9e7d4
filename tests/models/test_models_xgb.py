"""xgboost models: IPCW weights, the Breslow baseline and the AFT risk formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from scipy import stats

from radiorisk.evaluation import kaplan_meier_risk
from radiorisk.models import XGBAFTRisk, XGBBinaryRisk, XGBCoxRisk, ipcw_weights, make_y
from radiorisk.models._base import breslow_cumhaz, step_at


def test_ipcw_weights_toy():
    # censoring KM (events leave first at tied times): G = 1 until 200, 0.75 from 200, 0.5 from 300
    t = [100, 200, 200, 300, 400, 500]
    e = [1, 0, 1, 0, 1, 0]
    label, w = ipcw_weights(t, e, horizon=350)
    assert label.tolist() == [1, 0, 1, 0, 0, 0]
    # events by 350: 1/G(T-) = 1; censored by 350: 0; followed beyond 350: 1/G(350) = 2
    np.testing.assert_allclose(w, [1.0, 0.0, 1.0, 0.0, 2.0, 2.0])
    assert w.sum() == pytest.approx(len(t))  # IPCW weights of a full data set sum to n
    # an event exactly at the horizon is a case; censoring exactly at it: known event-free there,
    # a control (issue 16); every control gets 1/G(350-) = 1/0.75 and the weights still sum to n
    label, w = ipcw_weights([100, 350, 350, 500], [0, 1, 0, 0], horizon=350)
    assert label.tolist() == [0, 1, 0, 0]
    np.testing.assert_allclose(w, [0.0, 1 / 0.75, 1 / 0.75, 1 / 0.75])


def test_ipcw_weights_reach_the_booster():
    t = np.array([100, 200, 200, 300, 400, 500, 600, 700.0])
    e = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    X = pd.DataFrame({"a": np.arange(8.0)})
    m = XGBBinaryRisk(horizon=350.0, n_estimators=2, nthread=1).fit(X, make_y(t, e))
    lab, w = ipcw_weights(t, e, horizon=350.0)
    np.testing.assert_array_equal(m.ipcw_label_, lab)
    np.testing.assert_array_equal(m.ipcw_weight_, w)


def test_binary_without_information_predicts_the_kaplan_meier_risk():
    """IPCW makes the weighted event share equal 1 - KM(h): censored patients are handled right."""
    rng = np.random.default_rng(5)
    n = 3000
    T = rng.exponential(1500, n)
    C = rng.uniform(100, 2500, n)  # heavy censoring before the horizon
    t, e = np.round(np.minimum(T, C), 1) + 0.1, (T <= C).astype(float)
    X = pd.DataFrame({"constant": np.zeros(n)})
    m = XGBBinaryRisk(horizon=1000.0, n_estimators=60, learning_rate=1.0, reg_lambda=0.0,
                      subsample=1.0, colsample_bytree=1.0, nthread=1).fit(X, make_y(t, e))
    km = kaplan_meier_risk(t, e, horizon=1000.0).estimate
    assert m.predict_risk(X[:1])[0] == pytest.approx(km, abs=1e-5)
    naive = e[(t > 1000) | (e == 1)].astype(bool) & (t[(t > 1000) | (e == 1)] <= 1000)
    assert abs(naive.mean() - km) > 0.02  # dropping the censored would be visibly wrong


def _naive_breslow(t, e, m, w):
    times = np.unique(t[e == 1])
    H, out = 0.0, []
    for s in times:
        d = np.sum(w[(t == s) & (e == 1)])
        H += d / np.sum((w * np.exp(m))[t >= s])
        out.append(H)
    return times, np.array(out)


def test_breslow_matches_lifelines_on_same_margins():
    """Given lifelines' fitted log partial hazards, our Breslow H0 is lifelines' baseline."""
    rng = np.random.default_rng(1)
    n = 40
    x = rng.normal(size=(n, 2))
    t = np.round(rng.exponential(10 / np.exp(x[:, 0]), n)) + 1  # many ties
    e = (rng.random(n) < 0.7).astype(float)
    df = pd.DataFrame(x, columns=["a", "b"]).assign(t=t, e=e)
    cph = CoxPHFitter().fit(df, "t", "e")
    lp = cph.predict_log_partial_hazard(df).to_numpy()
    times, H = breslow_cumhaz(t, e, lp, np.ones(n))
    base = cph.baseline_cumulative_hazard_
    np.testing.assert_allclose(step_at(times, H, base.index.to_numpy()), base.iloc[:, 0], rtol=1e-12)


def test_xgb_cox_baseline_is_breslow_of_training_margins():
    rng = np.random.default_rng(2)
    n = 300
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    t = np.round(rng.exponential(500 / np.exp(X["a"]))) + 1
    e = (rng.random(n) < 0.6).astype(float)
    w = rng.uniform(0.5, 2.0, n)
    m = XGBCoxRisk(n_estimators=30, nthread=1).fit(X, make_y(t, e), sample_weight=w)
    margin = m.predict_margin(X) - m.margin_offset_
    times, H = _naive_breslow(t, e, margin, w)
    np.testing.assert_array_equal(m.baseline_times_, times)
    np.testing.assert_allclose(m.baseline_cumhaz_, H, rtol=1e-10)
    h = float(np.median(t))
    H_h = H[times <= h][-1]
    np.testing.assert_allclose(m.predict_risk(X, h), 1 - np.exp(-H_h * np.exp(margin)), rtol=1e-12)
    assert m.margin_offset_ == pytest.approx(np.average(m.predict_margin(X), weights=w))


AFT_CDF = {"normal": stats.norm.cdf, "logistic": stats.logistic.cdf, "extreme": stats.gumbel_l.cdf}


@pytest.mark.parametrize("dist", ["normal", "logistic", "extreme"])
def test_aft_risk_is_the_distribution_cdf(dist):
    rng = np.random.default_rng(3)
    n = 300
    X = pd.DataFrame({"a": rng.normal(size=n)})
    t = rng.exponential(800 / np.exp(X["a"])) + 1
    e = rng.random(n) < 0.7
    m = XGBAFTRisk(distribution=dist, sigma=0.8, n_estimators=20, nthread=1).fit(X, make_y(t, e))
    mu = m.predict_margin(X)
    for h in (100.0, 1826.0):
        np.testing.assert_allclose(m.predict_risk(X, h), AFT_CDF[dist]((np.log(h) - mu) / 0.8),
                                   rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize(("dist", "sigma", "draw", "cdf"), [
    # Weibull times = minimum extreme value on the log scale; here exponential (shape 1)
    ("extreme", 1.0, lambda rng, n: 900 * rng.exponential(1.0, n), lambda h: 1 - np.exp(-h / 900)),
    ("normal", 0.6, lambda rng, n: np.exp(np.log(900) + 0.6 * rng.standard_normal(n)),
     lambda h: stats.norm.cdf((np.log(h) - np.log(900)) / 0.6)),
])
def test_aft_recovers_the_true_distribution(dist, sigma, draw, cdf):
    """With the true sigma and no covariate effect, the AFT risk is the true CDF (right censored)."""
    rng = np.random.default_rng(4)
    n = 4000
    T = draw(rng, n) + 1e-3
    C = rng.uniform(200, 3000, n)
    X = pd.DataFrame({"noise": rng.normal(size=n)})
    m = XGBAFTRisk(distribution=dist, sigma=sigma, n_estimators=150, learning_rate=0.3,
                   max_depth=1, nthread=1).fit(X, make_y(np.minimum(T, C), T <= C))
    for h in (300.0, 900.0, 1826.0):
        assert np.mean(m.predict_risk(X, h)) == pytest.approx(cdf(h), abs=0.03)
