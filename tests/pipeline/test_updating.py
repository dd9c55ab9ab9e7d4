"""Model updating at external validation: the closed test's choice and out-of-fold O/E after updating."""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.pipeline._updating import UPDATE_COLUMNS, update_risks
from radiorisk.stats import cloglog

T0 = 1826.0


def _cohort(seed, n=3000):
    rng = np.random.default_rng(seed)
    true = rng.uniform(0.03, 0.45, n)
    t = rng.exponential(-T0 / np.log1p(-true))  # exponential: P(T <= T0) = true
    c = rng.uniform(1000, 3000, n)
    return true, np.minimum(t, c), (t <= c).astype(int)


def _from_cll(x):
    return 1 - np.exp(-np.exp(x))


def test_calibrated_risks_keep_the_model():
    true, time, event = _cohort(0)
    up = update_risks(true, time, event, horizon=T0, n_boot=0)
    assert up.method == "original" and up.recalibrator is None
    assert list(up.table.columns) == list(UPDATE_COLUMNS) and up.table["selected"].sum() == 1
    np.testing.assert_array_equal(up.risk, true)
    assert not up.tests["rejected"].any()


def test_halved_risks_are_recalibrated_in_the_large_and_the_oe_comes_back_to_one():
    true, time, event = _cohort(1)
    risk = true / 2
    up = update_risks(risk, time, event, horizon=T0, n_boot=0)
    t = up.table.set_index("method")
    assert up.method == "intercept"
    assert t.loc["original", "oe_ci_low"] > 1.5  # badly under-predicted before
    assert t.loc["intercept", "oe_ci_low"] < 1 < t.loc["intercept", "oe_ci_high"]
    # the map: cloglog shifted by a = log(observed / predicted cumulative hazard), about log 2.1 here
    assert t.loc["intercept", "slope"] == 1.0 and 0.5 < t.loc["intercept", "intercept"] < 1.0
    # out of fold: not the in-sample risks of the map fitted on all patients
    assert not np.allclose(up.risk, up.recalibrator.transform(risk))
    np.testing.assert_allclose(up.recalibrator.transform(risk), _from_cll(t.loc["intercept", "intercept"] + cloglog(risk)),
                               rtol=1e-6)


def test_too_extreme_risks_get_a_slope():
    true, time, event = _cohort(2)
    risk = _from_cll(2.0 * (cloglog(true) - cloglog(true).mean()) + cloglog(true).mean())  # slope 0.5
    up = update_risks(risk, time, event, horizon=T0, n_boot=0)
    t = up.table.set_index("method")
    assert up.method == "intercept_slope"
    assert t.loc["intercept_slope", "slope"] == pytest.approx(0.5, abs=0.08)
    assert t.loc["intercept_slope", "cal_slope_ci_low"] < 1 < t.loc["intercept_slope", "cal_slope_ci_high"]
    assert bool(up.tests.set_index("hypothesis").loc["calibration slope = 1", "rejected"])


def test_a_method_imposed_and_holm_p_values():
    true, time, event = _cohort(3, n=1500)
    up = update_risks(true / 2, time, event, horizon=T0, method="intercept_slope", n_boot=0)
    assert up.method == "intercept_slope" and "chosen by the user" in up.reason
    p = up.tests["p_value"].to_numpy()  # Holm with two hypotheses: min(1, 2 p) for the smaller, then the max
    lo, hi = np.argmin(p), np.argmax(p)
    assert up.tests["p_holm"].iloc[lo] == pytest.approx(min(1.0, 2 * p[lo]))
    assert up.tests["p_holm"].iloc[hi] == pytest.approx(max(min(1.0, 2 * p[lo]), p[hi]))
    with pytest.raises(ValueError, match="method must be one of"):
        update_risks(true, time, event, horizon=T0, method="refit")
