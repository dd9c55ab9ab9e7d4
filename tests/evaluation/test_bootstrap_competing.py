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


def _check_against_copied_rows(t, s, r, W, t0):
    got = CompetingReplicates(t, s, r, horizon=t0).evaluate(W)
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
    return got


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400),
       p_event=st.sampled_from([(0.3, 0.4, 0.3), (0.2, 0.8, 0.0), (0.3, 0.0, 0.7), (0.0, 0.5, 0.5),
                                (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.05, 0.05, 0.9)]),
       continuous=st.booleans(), tied_risk=st.booleans(), bootstrap=st.booleans())
def test_c_cr_prefix_sweep_equals_the_exact_metrics(seed, n, p_event, continuous, tied_risk, bootstrap):
    """The Fenwick sweep of ``c_cr`` (every group size): ties, all censored, no competing events,
    only competing events, bootstrap counts or arbitrary integer weights."""
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(4.0, n), 2) + 0.01 if continuous else rng.integers(1, 9, n).astype(float)
    s = rng.choice([0.0, 1.0, 2.0], n, p=p_event)
    r = np.round(rng.uniform(0.0, 0.8, n), 1 if tied_risk else 8)
    if bootstrap:
        W = rng.multinomial(n, np.full(n, 1.0 / n), size=4).T.astype(float)
    else:
        W = rng.integers(0, 4, size=(n, 4)).astype(float)
    W[:, 0] = 1.0
    _check_against_copied_rows(t, s, r, W, 5.0)
