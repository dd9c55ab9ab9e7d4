"""Singular, indefinite and separated fits give NaN SEs with a reason or NotEstimableError,
never a RuntimeWarning (pytest runs with ``filterwarnings = error``)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.evaluation import compute_metrics
from radiorisk.exceptions import NotEstimableError
from radiorisk.stats import (
    calibration_intercept,
    calibration_slope,
    fit_cox,
    inverse_information,
    newton_step,
    sqrt_variance,
)
from radiorisk.stats._rcs import _fit_rcs_calibration


def test_indefinite_information_gives_nan_se_with_reason():
    r = inverse_information([[1.0, 2.0], [2.0, 1.0]], "Cox")  # eigenvalues 3, -1
    assert np.isnan(r.se).all() and np.isnan(r.cov).all()
    assert "not positive definite" in r.note and "Cox" in r.note


def test_singular_and_nonfinite_information():
    assert inverse_information([[1.0, 1.0], [1.0, 1.0 + 1e-15]]).note
    assert "non-finite" in inverse_information([[np.nan, 0.0], [0.0, 1.0]]).note
    assert inverse_information(np.zeros((1, 1))).note


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**32 - 1), st.floats(-6, 6))
def test_positive_definite_inverse_equals_numpy(p, seed, log_scale):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(p + 3, p))
    info = (A.T @ A + 0.1 * np.eye(p)) * 10.0**log_scale
    r = inverse_information(info)
    assert r.note == ""
    np.testing.assert_array_equal(r.cov, np.linalg.inv(info))
    np.testing.assert_array_equal(r.se, np.sqrt(np.diag(np.linalg.inv(info))))


def test_sqrt_variance_never_warns():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sqrt_variance(np.array([-1e-18, 0.0, 9.0, np.inf, np.nan, -np.inf]))
    assert np.isnan(out[[0, 4, 5]]).all() and out[1] == 0.0 and out[2] == 3.0 and out[3] == np.inf


def test_newton_step_singular_raises():
    with pytest.raises(NotEstimableError, match="singular"):
        newton_step(np.zeros((2, 2)), [1.0, 1.0], "Cox")
    with pytest.raises(NotEstimableError, match="non-finite"):
        newton_step([[1.0]], [np.inf])


def test_cox_with_duplicated_covariate_is_not_estimable():
    x = np.random.default_rng(0).normal(size=30)
    with pytest.raises(NotEstimableError, match="singular"):
        fit_cox(np.column_stack([x, x]), np.arange(1, 31.0), np.ones(30))


@pytest.mark.parametrize("extra", [0, 1])
def test_cox_monotone_likelihood_is_not_estimable(extra):
    """A covariate that orders the event times: the partial likelihood has no finite maximum."""
    t = np.arange(1, 31.0)
    X = -t[:, None] if not extra else np.column_stack([-t, np.random.default_rng(1).normal(size=30)])
    with pytest.raises(NotEstimableError):
        fit_cox(X, t, np.ones(30))


def test_near_monotone_rcs_calibration_no_warning():
    """The audit case of issue 12: an rcs calibration fit on nearly monotone data."""
    t = np.arange(1, 11.0)
    e = np.array([1, 0] * 5, float)
    r = np.linspace(0.05, 0.5, 20)[:10]
    try:
        m = _fit_rcs_calibration(t, e, r, 50.0)
    except NotEstimableError:
        return
    assert np.all(np.isfinite(m.fit.coef))
    assert np.all(np.isfinite(m.fit.se)) or m.fit.se_note  # NaN SEs always carry a reason
    assert np.all(np.isfinite(m.observed(r)))


@pytest.mark.parametrize("seed", range(20))
def test_audit_on_small_near_separated_groups_never_warns(seed):
    rng = np.random.default_rng(seed)
    n = 12
    risk = np.sort(rng.uniform(0.01, 0.6, n))
    time = np.arange(n, 0, -1.0) + rng.uniform(0, 0.5, n)  # higher risk, earlier time
    d = pd.DataFrame({"time": time, "event": rng.integers(0, 2, n), "risk": risk, "g": ["a", "b"] * (n // 2)})
    compute_metrics(d, risk_col="risk", time_col="time", event_col="event", horizon=float(n) / 2, groups=["g"])


def test_separated_logistic_calibration():
    y = (np.arange(20) >= 10).astype(float)
    p = np.linspace(0.01, 0.99, 20)
    with pytest.raises(NotEstimableError, match="separation"):
        calibration_slope(y, p)
    est = calibration_intercept(y, p)
    assert np.isfinite(est.se)
