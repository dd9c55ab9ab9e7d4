"""The vectorised competing-risk replicates equal the ``radiorisk.stats`` metrics on the copied rows.

Random data with tied times, events of both causes and censorings at the horizon, tied risks,
rows absent from a replicate (count 0) and replicates without any event of interest.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.evaluation._bootstrap_competing import VECTORISED, CompetingReplicates
from radiorisk.evaluation._values import _point_competing


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 70), st.floats(0.0, 0.6))
def test_replicates_equal_the_exact_metrics_on_copied_rows(seed, n, p_cens):
    rng = np.random.default_rng(seed)
    t0 = 5.0
    t = rng.integers(1, 9, n).astype(float)  # ties, rows at t0 exactly
    p1 = (1 - p_cens) / 2
    s = rng.choice([0.0, 1.0, 2.0], n, p=[p_cens, p1, 1 - p_cens - p1])
    r = np.round(rng.uniform(0.0, 0.8, n), 1)  # many tied risks, zeros
    W = rng.integers(0, 3, size=(n, 6)).astype(float)
    W[:, 0] = 1.0
    plan = CompetingReplicates(t, s, r, horizon=t0)
    got = plan.evaluate(W)
    plan.chunk = 3  # the pair sums over chunks of cases
    np.testing.assert_allclose(plan.evaluate(W), got, rtol=1e-13, atol=1e-15)
    for b in range(W.shape[1]):
        k = W[:, b].astype(int)
        if k.sum() == 0:
            assert np.isnan(got[:, b]).all()
            continue
        with np.errstate(all="ignore"):
            v = _point_competing(np.repeat(t, k), np.repeat(s, k), np.repeat(r, k), t0, VECTORISED)
        exact = np.array([v[m][0] for m in VECTORISED])
        both_nan = np.isnan(exact) & np.isnan(got[:, b])
        close = np.abs(exact - got[:, b]) <= 1e-12 * np.maximum(1.0, np.abs(exact))
        assert np.all(both_nan | close), (b, exact, got[:, b])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 70), st.floats(0.0, 0.6))
def test_groups_too_large_for_pair_matrices_use_prefix_rank_sums(seed, n, p_cens):
    """Large groups: c_cr from PrefixRankSums with the replicates as columns, auc_cr without pairs."""
    import radiorisk.evaluation._bootstrap_competing as bc

    rng = np.random.default_rng(seed)
    t = rng.integers(1, 9, n).astype(float)  # ties, censorings tied with cases
    p1 = (1 - p_cens) / 2
    s = rng.choice([0.0, 1.0, 2.0], n, p=[p_cens, p1, 1 - p_cens - p1])
    r = np.round(rng.uniform(0.0, 0.8, n), 1)
    W = rng.integers(0, 3, size=(n, 5)).astype(float)
    W[:, 0] = 1.0
    old = bc.DENSE_PAIRS_MAX
    bc.DENSE_PAIRS_MAX = -1
    try:
        plan = CompetingReplicates(t, s, r, horizon=5.0)
    finally:
        bc.DENSE_PAIRS_MAX = old
    assert not plan.dense
    got = plan.evaluate(W)
    for b in range(W.shape[1]):
        k = W[:, b].astype(int)
        if k.sum() == 0:
            assert np.isnan(got[:, b]).all()
            continue
        with np.errstate(all="ignore"):
            v = _point_competing(np.repeat(t, k), np.repeat(s, k), np.repeat(r, k), 5.0, VECTORISED)
        exact = np.array([v[m][0] for m in VECTORISED])
        both_nan = np.isnan(exact) & np.isnan(got[:, b])
        close = np.abs(exact - got[:, b]) <= 1e-12 * np.maximum(1.0, np.abs(exact))
        assert np.all(both_nan | close), (b, exact, got[:, b])
