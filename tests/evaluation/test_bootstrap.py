"""The vectorised, stratified bootstrap equals the exact metrics on the same resampled rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.evaluation import (
    BINARY_METRICS,
    SURVIVAL_METRICS,
    StratifiedBootstrap,
    binary_replicates,
    compute_metrics,
    percentile_interval,
    survival_replicates,
)
from radiorisk.evaluation._bootstrap import SurvivalReplicates
from radiorisk.evaluation._values import _binary_values, _survival_values
from radiorisk.stats import counts_from_indices, fit_cox_batched


def _survival_data(seed, n, time_decimals=1, n_groups=3):
    rng = np.random.default_rng(seed)
    r = rng.uniform(0.02, 0.6, n)
    r[: n // 10] = np.maximum(np.round(r[: n // 10], 1), 0.1)  # tied risks
    tt = rng.exponential(-5 / np.log1p(-r))
    c = rng.uniform(1, 9, n)
    t = np.round(np.minimum(tt, c), time_decimals) + 1  # tied times, events and censorings at one time
    e = (tt <= c).astype(float)
    g = rng.choice(list("abcdefg"[:n_groups]), n)
    g[:3] = "z"  # a tiny group
    return t, e, r, g


@pytest.mark.parametrize("seed, n, decimals, horizon", [(1, 300, 0, 4.0), (3, 150, 1, 3.0), (4, 700, 1, 4.0)])
def test_vectorised_survival_replicates_equal_exact_metrics(seed, n, decimals, horizon):
    t, e, r, g = _survival_data(seed, n, decimals)
    subsets = [np.arange(n)] + [np.flatnonzero(g == x) for x in sorted(set(g))]
    B = 5
    rep = survival_replicates(t, e, r, horizon=horizon, subsets=subsets, strata=g, n_boot=B,
                              random_state=seed, block=2)
    idx = StratifiedBootstrap(g, B, seed).indices(range(B))
    n_cmp = 0
    for k, s in enumerate(subsets):
        for b in range(B):
            ii = idx[b, s]
            with np.errstate(all="ignore"):
                v = _survival_values(t[ii], e[ii], r[ii], horizon)
            exact = np.array([v[m][0] for m in SURVIVAL_METRICS])
            both_nan = np.isnan(exact) & np.isnan(rep[k, b])
            # the rcs-Cox family (last 4) starts each replicate's Newton iterations at the group's
            # own fit, not at 0: both stop by the same rule at the same maximum, ~1e-10 apart
            tol = np.r_[np.full(6, 1e-10), np.full(4, 1e-8)]
            assert np.all(both_nan | (np.abs(exact - rep[k, b]) <= tol)), (k, b, exact, rep[k, b])
            n_cmp += int(np.sum(~both_nan))
    assert n_cmp > 0.8 * len(subsets) * B * len(SURVIVAL_METRICS) * 0.8


def test_resamples_stay_within_strata_and_are_reproducible():
    g = np.array(["a"] * 5 + ["b"] * 7 + ["c"] * 3)
    bs = StratifiedBootstrap(g, 20, random_state=5)
    idx = bs.indices(range(20))
    assert np.all(g[idx] == g[None, :])  # every slot is refilled from its own stratum
    # a replicate does not depend on how replicates are blocked
    again = np.vstack([i for _, i in StratifiedBootstrap(g, 20, random_state=5).blocks(3)])
    np.testing.assert_array_equal(idx, again)
    assert not np.array_equal(idx, StratifiedBootstrap(g, 20, random_state=6).indices(range(20)))


def test_block_size_does_not_change_results():
    t, e, r, g = _survival_data(7, 200)
    kw = dict(horizon=4.0, subsets=[np.arange(200)], strata=g, n_boot=6, random_state=2)
    a = survival_replicates(t, e, r, block=1, **kw)
    b = survival_replicates(t, e, r, block=6, **kw)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-13, equal_nan=True)


def test_calibration_boot_limits_the_cox_family():
    t, e, r, g = _survival_data(2, 200)
    rep = survival_replicates(t, e, r, horizon=4.0, subsets=[np.arange(200)], strata=g, n_boot=6,
                              random_state=1, calibration_boot=2)
    cal = [SURVIVAL_METRICS.index(m) for m in ("ici_t", "e50_t", "e90_t", "emax_t")]
    assert np.isfinite(rep[0, :2][:, cal]).all() and np.isnan(rep[0, 2:][:, cal]).all()
    assert np.isfinite(rep[0, :, 0]).all()


def test_binary_replicates_equal_exact_metrics():
    rng = np.random.default_rng(0)
    n = 300
    p = rng.uniform(0.05, 0.6, n)
    y = rng.binomial(1, p).astype(float)
    g = rng.choice(["F", "M"], n)
    subsets = [np.arange(n), np.flatnonzero(g == "F")]
    rep = binary_replicates(y, p, subsets=subsets, strata=g, n_boot=3, random_state=4)
    idx = StratifiedBootstrap(g, 3, 4).indices(range(3))
    for k, s in enumerate(subsets):
        for b in range(3):
            v = _binary_values(y[idx[b, s]], p[idx[b, s]])
            np.testing.assert_allclose(rep[k, b], [v[m][0] for m in BINARY_METRICS], rtol=0, atol=1e-12)


def test_percentile_interval_ignores_undefined_replicates():
    boot = np.column_stack([np.arange(101.0), np.r_[np.arange(100.0), np.nan], np.r_[1.0, [np.nan] * 100]])
    lo, hi = percentile_interval(boot)
    assert lo[0] == pytest.approx(2.5) and hi[0] == pytest.approx(97.5)
    assert np.isfinite(lo[1]) and np.isnan(lo[2]) and np.isnan(hi[2])


def test_compute_metrics_uses_the_stratified_bootstrap():
    t, e, r, g = _survival_data(9, 240, n_groups=2)
    d = pd.DataFrame({"time": t, "event": e, "risk": r, "g": g})
    m = compute_metrics(d, risk_col="risk", time_col="time", event_col="event", horizon=4.0, groups=["g"],
                        n_boot=8, random_state=3)
    subsets = [np.arange(240)] + [np.flatnonzero(g == x) for x in sorted(set(g))]
    rep = survival_replicates(t, e, r, horizon=4.0, subsets=subsets, strata=g, n_boot=8, random_state=3)
    lo, _ = percentile_interval(rep)
    got = m[m["attribute"] == "overall"]["ci_low"].to_numpy()
    np.testing.assert_allclose(got, lo[0], equal_nan=True)


def test_compiled_cox_kernel_equals_the_numpy_evaluation():
    """The numba kernel and the NumPy evaluation of the batched Efron Cox fits agree (tied times)."""
    t, e, r, g = _survival_data(5, 600, time_decimals=0)
    plan = SurvivalReplicates(t, e, r, horizon=4.0)
    W = counts_from_indices(StratifiedBootstrap(g, 6, 5).indices(range(6)), len(t))[plan.order]
    x1 = plan.cll
    x2 = np.stack([np.maximum(x1 - q, 0) ** 2 for q in np.linspace(-3, -1, 6)], axis=1)
    b_np, ok_np = fit_cox_batched(plan.risk_sets, x1, x2, W, compiled=False)
    b_nb, ok_nb = fit_cox_batched(plan.risk_sets, x1, x2, W, compiled=True)
    assert ok_np.all() and np.array_equal(ok_np, ok_nb)
    np.testing.assert_allclose(b_nb, b_np, rtol=0, atol=1e-9)
    assert not np.allclose(b_np[:, 0], b_np[:, 1])  # replicates differ: the comparison has content
