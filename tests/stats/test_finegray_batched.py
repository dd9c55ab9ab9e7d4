"""The batched Fine-Gray calibration equals ``fine_gray_calibration`` on the copied rows."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.stats import FineGrayCalibrationBatch, NotEstimableError, fine_gray_calibration


def _exact(t, s, r, w, t0):
    k = w.astype(int)
    try:
        res = fine_gray_calibration(np.repeat(t, k), np.repeat(s, k), np.repeat(r, k), horizon=t0)
    except NotEstimableError:
        return np.full(4, np.nan)
    return np.array([res.ici, res.e50, res.e90, res.emax])


def _check(t, s, r, W, t0, knots=None):
    batch = FineGrayCalibrationBatch(t, s, r, horizon=t0)
    with np.errstate(all="ignore"):
        got = batch.evaluate(W) if knots is None else batch.evaluate(W, knots=knots)
        for b in range(W.shape[1]):
            exact = _exact(t, s, r, W[:, b], t0)
            np.testing.assert_allclose(got[:, b], exact, rtol=0, atol=1e-10, err_msg=f"replicate {b}")
    return got


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 70),
       p_event=st.sampled_from([(0.3, 0.4, 0.3), (0.2, 0.8, 0.0), (0.3, 0.0, 0.7), (0.0, 0.5, 0.5),
                                (0.1, 0.1, 0.8), (0.0, 0.0, 1.0)]),
       tied_risk=st.booleans(), continuous_time=st.booleans())
def test_random_inputs_with_ties_zero_weights_and_degenerate_codes(seed, n, p_event, tied_risk, continuous_time):
    rng = np.random.default_rng(seed)
    t = rng.exponential(4.0, n) + 0.01 if continuous_time else rng.integers(1, 9, n).astype(float)
    s = rng.choice([0.0, 1.0, 2.0], n, p=p_event)
    r = np.round(rng.uniform(0.05, 0.8, n), 1 if tied_risk else 6)
    W = rng.integers(0, 3, size=(n, 4)).astype(float)  # zero counts: rows left out
    W[:, 0] = 1.0  # the rows as given
    _check(t, s, r, W, 5.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(20, 400))
def test_bootstrap_counts(seed, n):
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.02, 0.5, n)
    t1, t2 = rng.exponential(-5 / np.log1p(-risk)), rng.exponential(8.0, n)
    time = np.round(np.minimum.reduce([t1, t2, rng.uniform(2, 12, n)]), 1) + 0.1  # some ties
    status = np.select([time - 0.1 == np.round(t1, 1), time - 0.1 == np.round(t2, 1)], [1, 2], 0).astype(float)
    W = rng.multinomial(n, np.full(n, 1.0 / n), size=5).T.astype(float)
    got = _check(time, status, risk, W, 5.0)
    if n >= 100:
        assert np.isfinite(got).all()


def test_no_event_by_the_horizon_and_empty_rows_give_nan():
    t = np.array([6.0, 7.0, 8.0, 2.0, 3.0, 4.0, 9.0])
    s = np.array([1.0, 1.0, 1.0, 2.0, 0.0, 2.0, 0.0])
    r = np.linspace(0.1, 0.7, 7)
    out = FineGrayCalibrationBatch(t, s, r, horizon=5.0).evaluate(np.ones((7, 2)))
    assert np.isnan(out).all()
    assert FineGrayCalibrationBatch(t[:0], s[:0], r[:0], horizon=5.0).evaluate(np.ones((0, 3))).shape == (4, 3)


def test_given_knots_are_used_and_nan_knots_take_the_exact_path():
    rng = np.random.default_rng(1)
    n = 150
    t = rng.integers(1, 12, n).astype(float)
    s = rng.choice([0.0, 1.0, 2.0], n, p=[0.3, 0.4, 0.3])
    r = rng.uniform(0.05, 0.6, n)
    W = rng.multinomial(n, np.full(n, 1.0 / n), size=3).T.astype(float)
    batch = FineGrayCalibrationBatch(t, s, r, horizon=6.0)
    own = batch.evaluate(W)
    knots = batch.knots(W)
    knots[:, 1] = np.nan
    np.testing.assert_array_equal(batch.evaluate(W, knots=knots), own)


def test_two_distinct_risks_are_not_estimable_not_a_crash():
    """rcs_knots leaves no knot for two distinct values (a bootstrap replicate of a tiny group)."""
    t = np.arange(1.0, 13.0)
    s = np.array([1.0, 2.0, 0.0] * 4)
    r = np.array([0.2, 0.4] * 6)
    with pytest.raises(NotEstimableError, match="fewer than 3 distinct"):
        fine_gray_calibration(t, s, r, horizon=10.0)
    assert np.isnan(FineGrayCalibrationBatch(t, s, r, horizon=10.0).evaluate(np.ones((12, 1)))).all()


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 120),
       p_event=st.sampled_from([(0.3, 0.4, 0.3), (0.2, 0.8, 0.0), (0.0, 0.5, 0.5), (0.1, 0.1, 0.8),
                                (1.0, 0.0, 0.0)]),
       p_zero=st.sampled_from([0.0, 0.37, 0.9, 1.0]), b=st.tuples(st.floats(-3, 3), st.floats(-3, 3)))
def test_the_passes_over_the_positive_rows_are_bit_identical(seed, n, p_event, p_zero, b):
    """``_fg_newton`` runs on ``_positive_rows``: the same sums as ``_fg_terms`` skipping zero weights."""
    from radiorisk.stats._finegray_batched import _basis_nonlinear, _fg_terms, _positive_rows

    rng = np.random.default_rng(seed)
    t = rng.integers(1, 9, n).astype(float)  # ties
    s = rng.choice([0.0, 1.0, 2.0], n, p=p_event)
    r = np.round(rng.uniform(0.05, 0.8, n), 2)
    w = rng.integers(1, 4, n) * (rng.random(n) >= p_zero).astype(float)
    batch = FineGrayCalibrationBatch(t, s, r, horizon=5.0)
    if len(batch.start) == 0:
        return
    ws = w[batch.order]
    G = batch._censoring(ws[:, None])[:, 0]
    x2 = np.ascontiguousarray(_basis_nonlinear(batch.x1, np.array([[-2.5], [-1.5], [-0.5]]))[:, 0])
    g_comp = np.ascontiguousarray(G[batch.inv[batch.comp_rows]])
    g_k = np.ascontiguousarray(G[batch.u_of_uft])
    d = (batch.P_d @ ws[:, None])[:, 0]
    K = len(batch.start)
    full = _fg_terms(batch.x1, x2, ws, batch.start, batch.comp_rows, batch.ncb, g_comp, g_k, d, batch.ev_rows,
                     batch.le_t0, b[0], b[1], True, np.empty((K, 6)))
    x1c, x2c, wc, startc, compc, ncbc, gc, evc = _positive_rows(batch.x1, x2, ws, batch.start, batch.comp_rows,
                                                                batch.ncb, g_comp, batch.ev_rows)
    assert np.all(wc != 0) and len(wc) == np.count_nonzero(ws)
    part = _fg_terms(x1c, x2c, wc, startc, compc, ncbc, gc, g_k, d, evc, batch.le_t0, b[0], b[1], True,
                     np.empty((K, 6)))
    np.testing.assert_array_equal(np.array(part), np.array(full))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), F=st.integers(0, 4), m=st.integers(1, 60), ties=st.booleans(),
       with_nan=st.booleans())
def test_one_partition_gives_numpys_mean_median_quantile_and_max(seed, F, m, ties, with_nan):
    from radiorisk.stats._finegray_batched import _row_summaries

    rng = np.random.default_rng(seed)
    D = rng.exponential(0.05, (F, m))
    if ties:
        D = np.round(D, 2)
    if with_nan and F:
        D[0, rng.integers(0, m)] = np.nan
    with np.errstate(invalid="ignore"):
        ref = np.vstack([np.mean(D, axis=1), np.median(D, axis=1), np.quantile(D, 0.9, axis=1), np.max(D, axis=1)])
    np.testing.assert_array_equal(_row_summaries(D), ref.reshape(4, F))  # bit for bit
