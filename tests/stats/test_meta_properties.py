"""random_effects: invariances and bounds on random inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from radiorisk.stats._meta import random_effects
from radiorisk.stats._meta_tau2 import _reml_loglik

METHODS = ("REML", "PM", "DL")
TIGHT = 1e-12  # iterations to the optimum, so that rounding cannot move the answer


@st.composite
def studies(draw, min_k=2, max_k=12):
    k = draw(st.integers(min_k, max_k))
    y = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    se = draw(st.lists(st.floats(0.01, 2.0, allow_nan=False), min_size=k, max_size=k))
    return np.array(y), np.array(se)


def _close(a, b, tol=1e-9):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(studies(), st.sampled_from(METHODS), st.booleans(), st.randoms(use_true_random=False))
def test_permuting_studies_changes_nothing(data, method, knha, rnd):
    y, se = data
    perm = np.array(rnd.sample(range(len(y)), len(y)))
    a = random_effects(y, se, method=method, knha=knha, tol=TIGHT)
    b = random_effects(y[perm], se[perm], method=method, knha=knha, tol=TIGHT)
    for name in ("pooled", "se", "ci", "pi", "tau2", "tau2_ci", "i2", "h2", "q", "q_p", "p"):
        _close(getattr(a, name), getattr(b, name))
    _close(a.weights[perm], b.weights)


@settings(max_examples=40, deadline=None)
@given(studies(), st.floats(0.01, 2.0), st.sampled_from(METHODS))
def test_equal_ses_give_the_mean(data, s, method):
    y, _ = data
    ma = random_effects(y, np.full(len(y), s), method=method, tol=TIGHT)
    assert ma.pooled == pytest.approx(float(np.mean(y)), abs=1e-12)
    _close(ma.weights, np.full(len(y), 100.0 / len(y)), 1e-12)


@settings(max_examples=30, deadline=None)
@given(studies(), st.floats(-3, 3), st.sampled_from(METHODS))
def test_identical_estimates_give_tau2_zero_and_that_value(data, value, method):
    _, se = data
    ma = random_effects(np.full(len(se), value), se, method=method)
    assert ma.tau2 == 0.0 and ma.i2 == 0.0 and ma.q == pytest.approx(0.0, abs=1e-20)
    assert ma.pooled == pytest.approx(value, abs=1e-12)
    assert any("boundary 0" in n for n in ma.notes)


@settings(max_examples=60, deadline=None)
@given(studies(), st.sampled_from(METHODS), st.booleans())
def test_bounds(data, method, knha):
    y, se = data
    ma = random_effects(y, se, method=method, knha=knha)
    assert ma.tau2 >= 0.0 and 0.0 <= ma.i2 < 100.0 and ma.h2 >= 1.0
    assert ma.tau2_ci[0] <= ma.tau2_ci[1]
    assert ma.ci[0] <= ma.pooled <= ma.ci[1]
    assert 0.0 <= ma.q_p <= 1.0 and ma.q >= 0.0
    assert float(np.sum(ma.weights)) == pytest.approx(100.0)
    if ma.k >= 3:  # t(k-2) > t(k-1) > z and tau2 >= 0: the PI contains the CI
        assert ma.pi[0] <= ma.ci[0] and ma.ci[1] <= ma.pi[1]
    else:
        assert np.isnan(ma.pi).all()


@settings(max_examples=40, deadline=None)
@given(studies(), st.floats(-5, 5), st.sampled_from(METHODS))
def test_shifting_every_estimate_shifts_the_pooled_one(data, c, method):
    y, se = data
    a = random_effects(y, se, method=method, tol=TIGHT)
    b = random_effects(y + c, se, method=method, tol=TIGHT)
    assert b.pooled == pytest.approx(a.pooled + c, abs=1e-9)
    _close(b.tau2, a.tau2)


@settings(max_examples=40, deadline=None)
@given(studies(min_k=3))
@example((np.array([3.0, 1.0, 3.0]), np.array([0.015625, 1.0, 0.015625])))  # maximum at the boundary 0
def test_reml_is_the_maximum_of_the_restricted_likelihood(data):
    y, se = data
    v = se ** 2
    ma = random_effects(y, se, method="REML", tol=TIGHT)
    t = ma.tau2
    ll = _reml_loglik(t, y, v)
    for other in (t * 0.999, t * 1.001 + 1e-9):  # a local maximum (0 may be a boundary one)
        assert _reml_loglik(other, y, v) <= ll + 1e-10
    if not any("higher maximum" in n for n in ma.notes):  # then it is the global one
        for other in (0.0, t * 0.5, t * 2 + 1e-3, t + 0.1, t + 10.0):
            assert _reml_loglik(other, y, v) <= ll + 1e-8  # the estimator's 1e-8 rule for calling another maximum higher


@settings(max_examples=40, deadline=None)
@given(studies())
def test_dl_is_its_closed_form(data):
    y, se = data
    w = 1.0 / se ** 2
    mu = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu) ** 2)
    dl = max(0.0, (q - (len(y) - 1)) / (np.sum(w) - np.sum(w ** 2) / np.sum(w)))
    assert random_effects(y, se, method="DL").tau2 == pytest.approx(dl, rel=1e-9, abs=1e-12)
