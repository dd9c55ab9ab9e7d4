"""The bootstrap's vectorised Kaplan-Meier / G metrics equal the exact metrics on the copied rows.

The replicates' KM and censoring KM come from the stats building blocks (km_factors,
censoring_km_factors, at_risk_from_counts) applied to weighted counts; the metrics built on
them (C indices, td AUC, Brier, IPA, O/E) sum in another order than the scalar functions, so
they agree to ~1e-12, checked on random data with tied times, censoring at the horizon and
zero counts (rows absent from a replicate).
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.evaluation import SURVIVAL_METRICS
from radiorisk.evaluation._bootstrap import SurvivalReplicates
from radiorisk.evaluation._values import _survival_values


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 80))
def test_replicates_equal_the_exact_metrics_on_copied_rows(seed, n):
    rng = np.random.default_rng(seed)
    t0 = 4.0
    t = rng.integers(1, 8, n).astype(float)  # ties, and rows at t0 exactly
    e = rng.binomial(1, 0.5, n).astype(float)
    t[: max(1, n // 8)] = t0
    e[: max(1, n // 16)] = 0.0  # censored at the horizon
    r = np.round(rng.uniform(0.05, 0.9, n), 2)  # tied risks
    W = rng.integers(0, 3, size=(n, 6)).astype(float)  # zero counts: rows left out
    W[:, 0] = 1.0
    got = SurvivalReplicates(t, e, r, horizon=t0).evaluate(W, calibration=False)
    for b in range(W.shape[1]):
        k = W[:, b].astype(int)
        with np.errstate(all="ignore"):
            v = _survival_values(np.repeat(t, k), np.repeat(e, k), np.repeat(r, k), t0)
        exact = np.array([v[m][0] for m in SURVIVAL_METRICS[:6]])
        both_nan = np.isnan(exact) & np.isnan(got[:6, b])
        close = np.abs(exact - got[:6, b]) <= 1e-12 * np.maximum(1.0, np.abs(exact))
        assert np.all(both_nan | close), (b, exact, got[:6, b])
