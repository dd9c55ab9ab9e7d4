"""Calibration tables, smooth curves and decision curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.evaluation import (
    calibration_curve,
    calibration_table,
    net_benefit,
    survival_calibration_curve,
    survival_calibration_table,
    survival_net_benefit,
)
from radiorisk.stats import NotEstimableError, loess_calibration


def test_survival_decile_table_matches_r(referee):
    for stem, t0 in (("survival_synth", 60), ("survival_whas500", 365)):
        for attr, level, d, r in referee.subsets(stem):
            tab = survival_calibration_table(d["time"], d["event"], d["risk"], horizon=t0)
            ref = pd.DataFrame(r["deciles"])
            where = (stem, attr, level)
            assert tab["n"].tolist() == ref["n"].tolist(), where
            assert tab["events"].tolist() == ref["events_by_t0"].tolist(), where
            np.testing.assert_allclose(tab["mean_predicted"], ref["mean_risk"], atol=1e-12)
            np.testing.assert_allclose(tab["observed"], ref["km_risk"], atol=1e-12)
            ci = np.array(ref["km_ci95"].tolist(), dtype=float)
            np.testing.assert_allclose(tab[["ci_low", "ci_high"]].to_numpy(), ci, atol=1e-10)


def test_survival_curve_matches_r_rcs_curve(referee):
    for stem, t0 in (("survival_synth", 60), ("survival_whas500", 365)):
        _, _, d, r = next(iter(referee.subsets(stem)))
        curve = r["calibration_rcs"]["curve"]
        got = survival_calibration_curve(d["time"], d["event"], d["risk"], horizon=t0,
                                         grid=curve["predicted"])
        np.testing.assert_allclose(got["observed"], curve["observed"], atol=1e-9)
        assert (got["ci_low"] < got["observed"]).all() and (got["observed"] < got["ci_high"]).all()


def test_binary_table_and_curve():
    rng = np.random.default_rng(5)
    p = rng.uniform(0.02, 0.7, 1000)
    y = rng.binomial(1, p)
    tab = calibration_table(y, p)
    assert len(tab) == 10 and tab["n"].sum() == 1000 and tab["events"].sum() == y.sum()
    assert (tab["ci_low"] <= tab["observed"]).all() and (tab["observed"] <= tab["ci_high"]).all()
    curve = calibration_curve(y, p, n_points=20)
    assert curve.shape == (20, 4)
    assert (curve["ci_low"] < curve["observed"]).all() and (curve["observed"] < curve["ci_high"]).all()
    # the curve is the loess fit used by the ICI
    at_obs = calibration_curve(y, p, grid=p[:5])
    np.testing.assert_allclose(at_obs["observed"], loess_calibration(y, p).observed[:5], atol=1e-12)


def test_wilson_interval_known_value():
    tab = calibration_table([1] * 3 + [0] * 7, np.linspace(0.1, 0.2, 10), n_bins=1)
    # Hmisc::binconf(3, 10, method = "wilson"): 0.1077913 0.6032219
    assert [tab["ci_low"][0], tab["ci_high"][0]] == pytest.approx([0.1077913, 0.6032219], abs=1e-7)


def test_net_benefit_binary_by_hand():
    y = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    p = np.array([0.9, 0.6, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05])
    nb = net_benefit(y, p, thresholds=[0.25, 0.5])
    # pt = 0.25: treated 0.9 0.6 0.4 0.3 -> TP 2, FP 2 -> 2/8 - 2/8 * 1/3
    assert nb["model"].tolist() == pytest.approx([2 / 8 - 2 / 8 / 3, 1 / 8 - 1 / 8])
    assert nb["treat_all"].tolist() == pytest.approx([3 / 8 - 5 / 8 / 3, 3 / 8 - 5 / 8])
    assert (nb["treat_none"] == 0).all()


def test_survival_net_benefit_without_censoring_equals_binary():
    rng = np.random.default_rng(2)
    r = rng.uniform(0.05, 0.6, 300)
    t = np.ceil(rng.exponential(-5 / np.log1p(-r)) * 10) / 10  # no censoring at all
    s = survival_net_benefit(t, np.ones(300), r, horizon=5)
    b = net_benefit((t <= 5).astype(int), r)
    np.testing.assert_allclose(s["model"], b["model"], atol=1e-12)
    np.testing.assert_allclose(s["treat_all"], b["treat_all"], atol=1e-12)


def test_curve_without_event_by_horizon():
    with pytest.raises(NotEstimableError, match="no event"):
        survival_calibration_curve([5, 6, 7, 8, 9, 10, 11], [1] * 7, [0.1] * 7, horizon=2)
