"""One Kaplan-Meier: the curve, the weighted/batched value at t0, G, the reverse-KM median.

The weighted form is the bootstrap's (counts as weights, one column per replicate) and the
fairness rates' (membership weights); with weights 1 it is the curve at t0, bit for bit, and
with integer weights it is the curve of the copied rows, bit for bit.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.stats import (
    at_risk_from_counts,
    censoring_km_factors,
    censoring_survival,
    kaplan_meier,
    kaplan_meier_at,
    km_factors,
    median_follow_up,
)


def _data(seed, n):
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 8, n).astype(float)  # few distinct times: many ties
    e = rng.binomial(1, 0.5, n).astype(float)
    return rng, t, e


def _reverse_km_median_loop(time, event):
    """The report's former loop (survfit of the censoring times), kept as the reference."""
    order = np.lexsort((event, time))
    t, c = time[order], 1 - event[order]
    s, n_at = 1.0, len(t)
    for u in np.unique(t):
        sel = t == u
        d = int(c[sel].sum())
        if n_at > 0 and d:
            s *= 1 - d / n_at
        if s <= 0.5:
            return float(u)
        n_at -= int(sel.sum())
    return float("nan")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(1, 9))
def test_weights_one_and_integer_weights_are_the_curve_bit_for_bit(seed, n, t0):
    rng, t, e = _data(seed, n)
    assert kaplan_meier_at(t, e, t0) == kaplan_meier(t, e).at(t0)
    W = rng.integers(0, 4, size=(n, 5)).astype(float)
    W[:, 0] = 1.0
    W[rng.integers(n), 1] = 0.0  # a zero weight
    got = kaplan_meier_at(t, e, t0, W)
    assert got[0] == kaplan_meier(t, e).at(t0)
    for b in range(W.shape[1]):
        k = W[:, b].astype(int)
        if k.sum() == 0:
            assert np.isnan(got[b])
        else:
            assert got[b] == kaplan_meier(np.repeat(t, k), np.repeat(e, k)).at(t0)
    one = kaplan_meier_at(t, e, t0, W[:, 2])  # 1-D weights: the 1-column case
    assert one == got[2] or (np.isnan(one) and np.isnan(got[2]))


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_median_follow_up_is_the_reverse_km_median(seed, n):
    _, t, e = _data(seed, n)
    a, b = median_follow_up(t, e), _reverse_km_median_loop(t, e)
    assert a == b or (np.isnan(a) and np.isnan(b))


def test_factors_and_risk_sets():
    N = np.array([2.0, 1.0, 3.0])
    D = np.array([1.0, 0.0, 1.0])
    Y = at_risk_from_counts(N, 7.0)
    assert Y.tolist() == [7.0, 5.0, 4.0]
    assert km_factors(D, Y).tolist() == [1 - 1 / 7, 1.0, 0.75]
    assert censoring_km_factors(N - D, D, Y).tolist() == [1 - 1 / 6, 0.8, 1 - 2 / 3]
    # an empty risk set without events or censorings contributes 1, not NaN
    assert km_factors(np.zeros(1), np.zeros(1)).tolist() == [1.0]
    assert censoring_km_factors(np.zeros(1), np.zeros(1), np.zeros(1)).tolist() == [1.0]


def test_censoring_survival_is_the_product_of_its_factors():
    t = np.array([1, 2, 2, 3, 4, 4, 5], float)
    e = np.array([1, 1, 0, 0, 1, 0, 0], float)
    u, inv = np.unique(t, return_inverse=True)
    N = np.bincount(inv).astype(float)
    D = np.bincount(inv, weights=e)
    G = np.cumprod(censoring_km_factors(N - D, D, at_risk_from_counts(N, len(t))))
    np.testing.assert_array_equal(censoring_survival(t, e).at(u), G)


def test_empty_and_before_every_time():
    assert np.isnan(kaplan_meier_at([], [], 3.0, np.ones((0, 2)))).all()
    assert kaplan_meier_at([5.0, 6.0], [1.0, 0.0], 3.0) == 1.0
    assert np.isnan(median_follow_up([1.0, 2.0], [1.0, 1.0]))
