"""The competing-risk mode's building blocks: weighted Aalen-Johansen and the per-replicate bootstrap."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from radiorisk.evaluation import COMPETING_METRICS, SubgroupAudit
from radiorisk.evaluation._audit_competing import aalen_johansen_at, competing_replicates
from radiorisk.evaluation._values import _point_competing
from radiorisk.stats import StratifiedBootstrap, aalen_johansen


def _data(seed, n):
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 9, n).astype(float)  # tied times, rows at t0 exactly
    s = rng.choice([0.0, 1.0, 2.0], n, p=[0.3, 0.4, 0.3])
    r = np.round(rng.uniform(0.05, 0.8, n), 2)
    return rng, t, s, r


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_weighted_aalen_johansen_equals_the_estimate_on_copied_rows(seed, n):
    rng, t, s, _ = _data(seed, n)
    t0 = 5.0
    W = rng.integers(0, 3, size=(n, 5)).astype(float)  # zero counts: rows left out
    got = aalen_johansen_at(t, s, t0, W)
    for b in range(W.shape[1]):
        k = W[:, b].astype(int)
        if k.sum() == 0:
            assert np.isnan(got[b])
            continue
        exact = aalen_johansen(np.repeat(t, k), np.repeat(s, k), horizon=t0).at_horizon.estimate
        assert abs(got[b] - exact) <= 1e-12, (b, got[b], exact)
    assert aalen_johansen_at(t, s, t0) == pytest.approx(aalen_johansen(t, s, horizon=t0).at_horizon.estimate,
                                                        abs=1e-14)


def test_replicates_are_the_metrics_on_the_resampled_rows():
    _, t, s, r = _data(3, 300)
    grp = np.where(np.arange(300) % 3 == 0, "a", "b")
    subsets = [np.arange(300), np.flatnonzero(grp == "a"), np.flatnonzero(grp == "b")]
    rep = competing_replicates(t, s, r, horizon=5.0, subsets=subsets, strata=grp, n_boot=4, random_state=9)
    idx = StratifiedBootstrap(grp, 4, 9).indices(range(4))
    for b in range(4):
        for k, sub in enumerate(subsets):
            ii = idx[b, sub]
            v = _point_competing(t[ii], s[ii], r[ii], 5.0, COMPETING_METRICS)
            exact = [v[m][0] for m in COMPETING_METRICS]
            np.testing.assert_allclose(rep[k, b, :5], exact[:5], rtol=1e-12, atol=1e-12)  # vectorised
            np.testing.assert_allclose(rep[k, b, 5:], exact[5:], rtol=0, atol=1e-10)  # batched Fine-Gray


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(8, 160),
       p_event=st.sampled_from([(0.3, 0.4, 0.3), (0.3, 0.0, 0.7), (0.0, 0.0, 1.0), (0.1, 0.2, 0.7), (0.5, 0.5, 0.0)]),
       tied_risk=st.booleans())
@example(seed=5133087, n=52, p_event=(0.3, 0.4, 0.3), tied_risk=True)  # Hmisc's rule gives 5 knots: 4 columns
def test_fine_gray_replicates_equal_the_exact_function_on_resampled_rows(seed, n, p_event, tied_risk):
    """ici_cr ... emax_cr of every replicate and group (tiny groups, no events, all competing, ties)."""
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 9, n).astype(float)
    s = rng.choice([0.0, 1.0, 2.0], n, p=p_event)
    r = np.round(rng.uniform(0.05, 0.8, n), 1 if tied_risk else 6)
    grp = rng.choice(["a", "b", "c"], n, p=[0.6, 0.35, 0.05])  # "c": a tiny group (maybe empty)
    subsets = [np.arange(n)] + [np.flatnonzero(grp == g) for g in "abc"]
    rep = competing_replicates(t, s, r, horizon=5.0, subsets=subsets, strata=grp, n_boot=3, random_state=seed)
    idx = StratifiedBootstrap(grp, 3, seed).indices(range(3))
    for b in range(3):
        for k, sub in enumerate(subsets):
            if len(sub) == 0:
                continue
            ii = idx[b, sub]
            with np.errstate(all="ignore"):
                v = _point_competing(t[ii], s[ii], r[ii], 5.0, COMPETING_METRICS)
            exact = [v[m][0] for m in COMPETING_METRICS[5:]]
            np.testing.assert_allclose(rep[k, b, 5:], exact, rtol=0, atol=1e-10, err_msg=f"group {k}, rep {b}")


def test_audit_bootstrap_uses_the_shared_resamples():
    _, t, s, r = _data(4, 240)
    sex = np.where(np.arange(240) % 2 == 0, "F", "M")
    a = SubgroupAudit(r, time=t, event=s, horizon=5.0, groups={"sex": sex}, n_boot=5, random_state=1,
                      competing_risks=True)
    rep = competing_replicates(t, s, r, horizon=5.0, subsets=[x[2] for x in a._subsets], strata=a._strata,
                               n_boot=5, random_state=1)
    np.testing.assert_array_equal(a.replicates, rep)
    # calibration bands: the Aalen-Johansen estimate of the band's rows with prodlim's CI
    cal = a.calibration_within_groups([0, 0.3, 1])
    row = cal[(cal["group"] == "F") & (cal["upper"] == 0.3)].iloc[0]
    sel = (sex == "F") & (r <= 0.3)
    aj = aalen_johansen(t[sel], s[sel], horizon=5.0).at_horizon
    assert (row["observed"], row["ci_low"], row["ci_high"]) == (aj.estimate, aj.ci_low, aj.ci_high)
    assert row["events"] == int(((s[sel] == 1) & (t[sel] <= 5.0)).sum())


def test_a_group_without_event_of_interest_is_flagged_not_dropped():
    _, t, s, r = _data(5, 200)
    g = np.where(np.arange(200) < 30, "tiny", "big")
    s[:30] = np.where(s[:30] == 1, 2.0, s[:30])
    a = SubgroupAudit(r, time=t, event=s, horizon=5.0, groups={"g": g}, n_boot=0, competing_risks=True)
    tiny = a.by_group[a.by_group["group"] == "tiny"].set_index("metric")
    assert (tiny["n"] == 30).all() and (tiny["events"] == 0).all() and tiny["flag"].all()
    assert np.isnan(tiny.loc["c_cr", "estimate"]) and "metric undefined" in tiny.loc["c_cr", "flag_reason"]
    assert tiny.loc["brier_cr", "estimate"] > 0  # defined: every row counts


def test_the_pair_metrics_of_every_replicate_equal_the_resampled_rows():
    _, t, s, r = _data(6, 200)
    kw = {"horizon": 5.0, "subsets": [np.arange(200)], "strata": np.zeros(200), "n_boot": 3, "random_state": 2}
    got = competing_replicates(t, s, r, **kw)
    idx = StratifiedBootstrap(np.zeros(200), 3, 2).indices(range(3))
    for b in range(3):
        v = _point_competing(t[idx[b]], s[idx[b]], r[idx[b]], 5.0, ("c_cr", "auc_cr"))
        np.testing.assert_allclose(got[0, b, :2], [v["c_cr"][0], v["auc_cr"][0]], rtol=1e-12, atol=1e-12)


def test_threads_do_not_change_the_replicates():
    _, t, s, r = _data(6, 360)
    grp = np.where(np.arange(360) % 4 == 0, "a", np.where(np.arange(360) % 4 == 1, "b", "c"))
    subsets = [np.arange(360)] + [np.flatnonzero(grp == g) for g in "abc"]
    kw = dict(horizon=5.0, subsets=subsets, strata=grp, n_boot=6, random_state=2)
    np.testing.assert_array_equal(competing_replicates(t, s, r, n_jobs=1, **kw),
                                  competing_replicates(t, s, r, n_jobs=3, **kw))
