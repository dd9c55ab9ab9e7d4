"""Competing-risk metrics: reductions to the survival metrics, brute-force definitions, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.exceptions import HorizonError, NotEstimableError
from radiorisk.stats import brier_t, ipa, kaplan_meier_risk, oe_ratio_t, td_auc, uno_c
from radiorisk.stats._aalen_johansen import aalen_johansen, check_competing_inputs
from radiorisk.stats._competing import (
    auc_cr,
    brier_cr,
    c_cr,
    fine_gray_calibration,
    ipa_cr,
    oe_ratio_cr,
)
from radiorisk.stats._km import censoring_survival

T0 = 6.0


def _data(seed, n=200, p_comp=0.3, tie_scale=1.0):
    rng = np.random.default_rng(seed)
    t = np.ceil(rng.exponential(5.0, n) * tie_scale) / tie_scale
    u = rng.uniform(size=n)
    s = np.select([u < 0.35, u < 0.35 + p_comp], [1.0, 2.0], 0.0)
    r = rng.uniform(0.01, 0.6, n).round(2)  # ties in risk
    return t, s, r


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(20, 120))
def test_without_competing_events_the_metrics_are_the_survival_ones(seed, n):
    t, s, r = _data(seed, n, p_comp=0.0)
    if not np.any((s == 1) & (t <= T0)) or not np.any(t > T0):
        return
    for cr, surv in ((auc_cr, td_auc), (brier_cr, brier_t)):
        a, b = cr(t, s, r, horizon=T0), surv(t, s, r, horizon=T0)
        assert [a.estimate, a.se] == pytest.approx([b.estimate, b.se], abs=1e-12)
    assert ipa_cr(t, s, r, horizon=T0) == pytest.approx(ipa(t, s, r, horizon=T0), abs=1e-12)
    assert oe_ratio_cr(t, s, r, horizon=T0) == pytest.approx(oe_ratio_t(t, s, r, horizon=T0), abs=1e-12)
    km, aj = kaplan_meier_risk(t, s, horizon=T0), aalen_johansen(t, s, horizon=T0).at_horizon
    assert [aj.estimate, aj.se] == pytest.approx([km.estimate, km.se], abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(5, 80), st.floats(0.0, 0.6))
def test_aalen_johansen_is_one_minus_km_without_competing_and_sums_to_one(seed, n, p_comp):
    t, s, _ = _data(seed, n, p_comp=p_comp)
    f1 = aalen_johansen(t, s, cause=1)
    f2 = aalen_johansen(t, s, cause=2)
    grid = np.unique(np.concatenate([t, t - 0.5, [0.1, 1e6]]))
    # all-cause KM: S + F1 + F2 = 1 at every time
    km_all = 1.0 - np.array([kaplan_meier_risk(t, (s > 0).astype(float), horizon=g).estimate for g in grid])
    np.testing.assert_allclose(f1.at(grid) + f2.at(grid) + km_all, 1.0, atol=1e-12)
    s1 = np.where(s == 2, 0.0, s)  # no competing events
    km1 = np.array([kaplan_meier_risk(t, s1, horizon=g).estimate for g in grid])
    np.testing.assert_allclose(aalen_johansen(t, s1).at(grid), km1, atol=1e-12)


def _c_cr_brute(t, s, r, t0):
    G = censoring_survival(t, (s != 0).astype(float))
    num = den = 0.0
    for i in range(len(t)):
        if s[i] != 1 or t[i] > t0:
            continue
        for j in range(len(t)):
            if j == i:
                continue
            if t[j] > t[i] or (t[j] == t[i] and s[j] == 0):
                w = 1.0 / (G.before(t[i]) * G.at(t[i]))
            elif s[j] == 2 and t[j] <= t[i]:
                w = 1.0 / (G.before(t[i]) * G.before(t[j]))
            else:
                continue
            num += w * ((r[i] > r[j]) + 0.5 * (r[i] == r[j]))
            den += w
    return num / den


def _auc_cr_brute(t, s, r, t0):
    G = censoring_survival(t, (s != 0).astype(float))
    wi = [(1.0 / G.before(t[i]), r[i]) for i in range(len(t)) if s[i] == 1 and t[i] <= t0]
    wj = [(1.0 / (G.before(t[j]) if t[j] <= t0 else G.at(t0)), r[j]) for j in range(len(t))
          if t[j] > t0 or (s[j] == 2 and t[j] <= t0)]
    num = sum(a * b * ((x > y) + 0.5 * (x == y)) for a, x in wi for b, y in wj)
    return num / (sum(a for a, _ in wi) * sum(b for b, _ in wj))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(6, 40), st.sampled_from([1.0, 0.5]))
def test_c_cr_and_auc_cr_equal_their_definitions(seed, n, tie_scale):
    t, s, r = _data(seed, n, tie_scale=tie_scale)
    if not np.any((s == 1) & (t <= T0)):
        with pytest.raises(NotEstimableError, match="no event of cause 1"):
            c_cr(t, s, r, horizon=T0)
        return
    G = censoring_survival(t, (s != 0).astype(float))
    infinite = any(G.at(t[i]) == 0 and np.any((t > t[i]) | ((t == t[i]) & (s == 0)))
                   for i in np.flatnonzero((s == 1) & (t <= T0)))
    if infinite:  # a type-A pair with G(T_i) = 0: an infinite weight, not a number
        with pytest.raises(NotEstimableError, match="censoring survival G is 0"):
            c_cr(t, s, r, horizon=T0)
    else:
        assert c_cr(t, s, r, horizon=T0) == pytest.approx(_c_cr_brute(t, s, r, T0), abs=1e-12)
    if np.any((t > T0) | ((s == 2) & (t <= T0))):
        assert auc_cr(t, s, r, horizon=T0).estimate == pytest.approx(_auc_cr_brute(t, s, r, T0), abs=1e-12)


def test_c_cr_without_censoring_or_competing_is_uno():
    t, s, r = _data(3, 150, p_comp=0.0)
    ones = np.ones_like(s)
    assert c_cr(t, ones, r, horizon=T0) == pytest.approx(uno_c(t, ones, r, horizon=T0), abs=1e-14)


def test_competing_events_change_the_metrics():
    t, s, r = _data(5, 300)
    naive = np.where(s == 2, 0.0, s)  # pitfall 2: competing events treated as censored
    assert abs(auc_cr(t, s, r, horizon=T0).estimate - td_auc(t, naive, r, horizon=T0).estimate) > 1e-4
    assert oe_ratio_cr(t, s, r, horizon=T0) < oe_ratio_t(t, naive, r, horizon=T0)


def test_no_event_of_the_cause_by_t0_is_not_estimable():
    t, s, r = _data(7, 100)
    s = np.where((s == 1) & (t <= T0), 2.0, s)
    for f in (c_cr, auc_cr, ipa_cr, fine_gray_calibration):
        with pytest.raises(NotEstimableError, match=r"no event of cause 1 at or before the horizon t0 = 6"):
            f(t, s, r, horizon=T0)
    assert aalen_johansen(t, s, horizon=T0).at_horizon.estimate == 0.0
    assert oe_ratio_cr(t, s, r, horizon=T0) == 0.0
    assert np.isfinite(brier_cr(t, s, r, horizon=T0).estimate)  # still defined


def test_all_censored():
    t = np.arange(1.0, 11.0)
    s = np.zeros(10)
    r = np.linspace(0.1, 0.5, 10)
    for f in (c_cr, auc_cr, ipa_cr, fine_gray_calibration):
        with pytest.raises(NotEstimableError):
            f(t, s, r, horizon=5)
    aj = aalen_johansen(t, s, horizon=5)
    assert aj.at_horizon.estimate == 0.0 and np.all(aj.cif == 0.0)
    assert brier_cr(t, s, r, horizon=5).estimate == pytest.approx(np.sum(r[5:] ** 2) / 0.5 / 10)


def test_horizon_before_every_time_and_other_causes():
    aj = aalen_johansen([2, 3, 4], [1, 2, 0], horizon=1)
    assert (aj.at_horizon.estimate, aj.at_horizon.ci_low, aj.at_horizon.ci_high) == (0.0, 0.0, 0.0)
    f3 = aalen_johansen([1, 2, 3, 4], [3, 1, 3, 0], cause=3)  # any positive code can be the cause
    assert f3.at(4).item() == pytest.approx(0.25 + 0.5 * 0.5)
    assert aalen_johansen([1, 2, 3, 4], [3, 1, 3, 0], horizon=4, cause=3).to_frame().shape == (4, 4)


def test_fine_gray_calibration_of_a_calibrated_model_is_small():
    rng = np.random.default_rng(11)
    n = 3000
    risk = rng.uniform(0.05, 0.5, n)  # true CIF of cause 1 by t0 = 5 under a Fine-Gray model
    u = rng.uniform(size=n)
    t1 = 5.0 * np.log1p(-u) / np.log1p(-risk)  # P(T1 <= 5) = risk, improper beyond
    cause1 = u < 1.0  # every row could have cause 1; competing events by a second clock
    t2 = rng.exponential(8.0, n)
    t = np.minimum(t1, t2)
    s = np.where(cause1 & (t1 <= t2), 1.0, 2.0)
    c = rng.uniform(0, 12, n)
    s = np.where(c < t, 0.0, s)
    t = np.minimum(t, c)
    res = fine_gray_calibration(t, s, risk, horizon=5)
    assert res.model["converged"] and res.observed.shape == (n,)
    assert 0.0 <= res.e50 <= res.e90 <= res.emax and res.ici < 0.2


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"status": [0, 1, 3.5]}, ValueError, r"status must be 0 .* found 3.5 at position 2"),
    ({"status": [0, -1, 1]}, ValueError, r"found -1.0 at position 1"),
    ({"risk": [0.1, 1.2, 0.3]}, ValueError, r"risk must lie in \[0, 1\]; found .*1.2.* at position 1"),
    ({"time": [1, 0, 2]}, ValueError, r"time must be > 0; found 0.0 at position 1"),
    ({"time": [1, np.nan, 2]}, ValueError, r"time has 1 non-finite"),
    ({"risk": [0.1, 0.2]}, ValueError, r"different lengths"),
    ({"horizon": -1}, HorizonError, r"horizon must be a number > 0"),
    ({"cause": 0}, ValueError, r"cause must be a positive integer"),
])
def test_input_errors_name_parameter_value_and_rule(kwargs, exc, match):
    args = {"time": [1, 2, 3], "status": [0, 1, 2], "risk": [0.1, 0.2, 0.3], "horizon": 2, "cause": 1}
    args.update(kwargs)
    scores = (c_cr,) if "risk" not in kwargs or len(kwargs["risk"]) != 3 else ()  # c_cr takes any score
    for f in (*scores, auc_cr, brier_cr, ipa_cr, oe_ratio_cr, fine_gray_calibration):
        with pytest.raises(exc, match=match):
            f(args["time"], args["status"], args["risk"], horizon=args["horizon"], cause=args["cause"])


def test_c_cr_takes_any_score():
    t, s, r = _data(9, 120)
    assert c_cr(t, s, 3.0 * r - 1.0, horizon=T0) == c_cr(t, s, r, horizon=T0)


def test_check_competing_inputs_without_risk():
    t, s = check_competing_inputs([1, 2], [2, 0])
    assert t.dtype == np.float64 and s.tolist() == [2.0, 0.0]
    with pytest.raises(NotEstimableError, match="no observations"):
        check_competing_inputs([], [])


def test_c_cr_by_sorting_equals_all_pairs_on_a_larger_sample():
    t, s, r = _data(21, 700, tie_scale=0.5)
    G = censoring_survival(t, (s != 0).astype(float))
    i = (s == 1) & (t <= T0)
    ti, ri = t[i][:, None], r[i][:, None]
    a = (t[None, :] > ti) | ((t[None, :] == ti) & (s[None, :] == 0))
    b = (s[None, :] == 2) & (t[None, :] <= ti)
    w = np.where(a, 1.0 / (G.before(ti) * G.at(ti)), 0.0) + np.where(b, 1.0 / (G.before(ti) * G.before(t)[None, :]), 0.0)
    k = (r[None, :] < ri) + 0.5 * (r[None, :] == ri)
    assert c_cr(t, s, r, horizon=T0) == pytest.approx(np.sum(w * k) / np.sum(w), abs=1e-13)


def test_aalen_johansen_se_is_nan_where_everyone_left_fails_as_prodlim():
    # prodlim: se.cuminc 0.217 at times 2 and 3, NaN at 4 (the last row at risk fails)
    cif = aalen_johansen([1, 2, 3, 4], [2, 1, 0, 1], horizon=4)
    assert cif.cif.tolist() == [0.0, 0.25, 0.25, 0.75]
    np.testing.assert_allclose(cif.se[:3], [0.0, np.sqrt(3) / 8, np.sqrt(3) / 8], atol=1e-15)
    assert np.isnan(cif.se[3]) and np.isnan(cif.at_horizon.ci_low) and cif.at_horizon.estimate == 0.75
