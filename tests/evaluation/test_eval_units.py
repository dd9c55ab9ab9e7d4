"""Unit checks of the building blocks (knots, concordance, censoring KM, small groups)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.evaluation import SURVIVAL_METRICS, compute_metrics
from radiorisk.stats import auc_delong, censoring_survival, harrell_c, rcs_knots, td_auc


def test_rcs_knots_hmisc_rules():
    x = np.arange(1.0, 201.0)
    np.testing.assert_allclose(rcs_knots(x), np.quantile(x, [0.1, 0.5, 0.9]))
    small = np.arange(1.0, 51.0)  # n < 100: outer knots are the 5th smallest / largest values
    np.testing.assert_allclose(rcs_knots(small), [5.0, np.median(small), 46.0])
    # the smallest value holds >= 5 % of the rows, no interior value does: 2nd smallest distinct value
    tied = np.concatenate([np.zeros(20), np.arange(1.0, 181.0)])
    k = rcs_knots(tied)
    assert k[0] == 1.0
    np.testing.assert_allclose(k[1:], np.quantile(np.arange(2.0, 181.0), [0.5, 0.9]))
    # few distinct values: the distinct values less the extremes
    np.testing.assert_allclose(rcs_knots(np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 10)), [2.0, 3.0, 4.0])


def test_harrell_c_matches_lifelines():
    from lifelines.utils import concordance_index

    rng = np.random.default_rng(4)
    t = rng.integers(1, 30, 300).astype(float)  # many tied times
    e = rng.integers(0, 2, 300)
    r = np.round(rng.uniform(0, 1, 300), 1)  # many tied risks
    assert harrell_c(t, e, r) == pytest.approx(concordance_index(t, -r, e), abs=1e-12)


def test_auc_delong_brute_force():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 120)
    p = np.round(rng.uniform(0, 1, 120), 1)
    cases, ctrls = p[y == 1], p[y == 0]
    k = (cases[:, None] > ctrls[None, :]) + 0.5 * (cases[:, None] == ctrls[None, :])
    v10, v01 = k.mean(axis=1), k.mean(axis=0)
    se = np.sqrt(v10.var(ddof=1) / len(cases) + v01.var(ddof=1) / len(ctrls))
    res = auc_delong(y, p)
    assert [res.estimate, res.se] == pytest.approx([k.mean(), se], abs=1e-14)


def test_censoring_km_events_leave_first():
    # at t = 2 one event and one censoring share the time: the censoring sees 2 at risk, not 3
    G = censoring_survival([1, 2, 2, 3], [0, 1, 0, 1])
    assert G.at(2) == pytest.approx((1 - 1 / 4) * (1 - 1 / 2))
    assert G.before(2) == pytest.approx(0.75)


def test_td_auc_weights_by_hand():
    # censored at t0 gets weight 0; case weights 1/G(T-); controls 1/G(t0)
    t = np.array([1.0, 2.0, 3.0, 3.0, 4.0, 5.0])
    e = np.array([0, 1, 0, 1, 0, 0])
    r = np.array([0.5, 0.3, 0.9, 0.6, 0.4, 0.5])
    res = td_auc(t, e, r, horizon=3)
    # cases: T=2 (G(2-)=5/6), T=3 (G(3-)=5/6); controls T=4, T=5 share weight
    k = np.array([[0.0, 0.0], [1.0, 1.0]])  # case 0.3 vs (0.4, 0.5); case 0.6 vs (0.4, 0.5)
    assert res.estimate == pytest.approx(k.mean())


def test_small_groups_use_their_own_rows():
    rng = np.random.default_rng(8)
    n = 260
    r = rng.uniform(0.05, 0.6, n)
    t = np.ceil(rng.exponential(-5 / np.log1p(-r)) * 12)
    c = rng.integers(10, 120, n)
    d = pd.DataFrame({"time": np.minimum(t, c), "event": (t <= c).astype(int), "risk": r,
                      "g": np.where(np.arange(n) < 60, "small", "large")})
    m = compute_metrics(d, risk_col="risk", time_col="time", event_col="event", horizon=60, groups=["g"])
    small = m[m["group"] == "small"].set_index("metric")["estimate"]
    sub = d.iloc[:60]
    alone = compute_metrics(sub, risk_col="risk", time_col="time", event_col="event", horizon=60)
    np.testing.assert_allclose(small[list(SURVIVAL_METRICS)].to_numpy(),
                               alone.set_index("metric")["estimate"][list(SURVIVAL_METRICS)].to_numpy(),
                               rtol=0, atol=0)
    assert small.notna().all()
