"""PrefixRankSums (the compiled Fenwick sweep) equals the pair sum it stands for."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.stats import PrefixRankSums


def _brute(key, w, q, x):
    """sum_{j < q_i} w_j [1(key_j < x_i) + 1/2 1(key_j = x_i)], pair by pair."""
    out = np.zeros((len(q),) + w.shape[1:])
    for i in range(len(q)):
        k = key[: q[i]]
        out[i] = ((k < x[i]).astype(float) + 0.5 * (k == x[i])) @ w[: q[i]]
    return out


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 120), m=st.integers(0, 60),
       n_keys=st.integers(1, 200), cols=st.integers(0, 4), integer=st.booleans(), through_rows=st.booleans(),
       long_common_prefix=st.booleans())
def test_equals_the_pairwise_definition(seed, n, m, n_keys, cols, integer, through_rows, long_common_prefix):
    rng = np.random.default_rng(seed)
    key = rng.integers(0, n_keys, n)  # ties when n_keys < n
    lo = n // 2 if long_common_prefix else 0  # the rows every query shares go in at once
    q = rng.integers(lo, n + 1, m)  # includes empty and full prefixes
    x = rng.integers(0, n_keys + 3, m)  # query ranks above every key, and absent ones
    extra = 5 if through_rows else 0
    shape = (n + extra,) if cols == 0 else (n + extra, cols)
    w = rng.integers(0, 3, shape).astype(float) if integer else rng.exponential(1.0, shape) * (rng.random(shape) < 0.7)
    if through_rows:  # the weights of prefix position j are row rows[j] of a larger matrix
        rows = rng.permutation(n + extra)[:n]
        got, tot = PrefixRankSums(key, q, x, rows=rows)(w, totals=True)
        w = w[rows]
    else:
        got, tot = PrefixRankSums(key, q, x)(w, totals=True)
    ref = _brute(key, w, q, x)
    ref_tot = np.array([w[:k].sum(axis=0) for k in q]).reshape(ref.shape)
    assert got.shape == ref.shape == tot.shape
    if integer:
        np.testing.assert_array_equal(got, ref)  # integer counts: every sum exact
        np.testing.assert_array_equal(tot, ref_tot)
    else:
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(tot, ref_tot, rtol=1e-12, atol=1e-12)


def test_columns_are_independent_replicates():
    rng = np.random.default_rng(3)
    key, q, x = rng.integers(0, 30, 80), rng.integers(0, 81, 25), rng.integers(0, 30, 25)
    W = rng.integers(0, 4, (80, 5)).astype(float)
    prs = PrefixRankSums(key, q, x)
    both = prs(W)
    for b in range(5):
        np.testing.assert_array_equal(both[:, b], prs(W[:, b]))


def test_bad_inputs_are_refused_with_the_rule():
    with pytest.raises(ValueError, match="ranks >= 0"):
        PrefixRankSums(np.array([0, -1]), np.array([1]), np.array([0]))
    with pytest.raises(ValueError, match=r"q in \[0, 2\]"):
        PrefixRankSums(np.array([0, 1]), np.array([3]), np.array([0]))
    with pytest.raises(ValueError, match="weights must have shape"):
        PrefixRankSums(np.array([0, 1]), np.array([1]), np.array([0]))(np.ones(3))
    with pytest.raises(ValueError, match="at least 6 rows"):
        PrefixRankSums(np.array([0, 1]), np.array([1]), np.array([0]), rows=np.array([5, 0]))(np.ones(3))
