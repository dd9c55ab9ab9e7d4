"""The competing-risk xgb-binary: competing-risk IPCW weights (exact identities), fit, bundles, errors."""

from __future__ import annotations

import numpy as np
import pytest
from cr_testdata import competing_cohort
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from radiorisk.models import (
    CompetingXGBBinaryRisk,
    ModelError,
    XGBBinaryRisk,
    competing_ipcw_weights,
    estimand,
    ipcw_weights,
    load,
    make_model,
    make_y,
)
from radiorisk.stats import aalen_johansen


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 80), horizon=st.integers(1, 40))
@example(seed=0, n=5, horizon=35)  # nobody followed to the horizon: the weights lose mass, F1 still equal
def test_weighted_label_mean_is_the_aalen_johansen_incidence(seed, n, horizon):
    """(1/n) sum w_i 1{MACE by t0} equals the Aalen-Johansen F1(t0) exactly (ties included); weights sum to n."""
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 40, n).astype(float)
    s = rng.choice([0, 1, 2], n)
    with np.errstate(divide="ignore"):
        label, w = competing_ipcw_weights(t, s, horizon=horizon)
    assume(np.isfinite(w).all())  # G(t0-) > 0: someone still followed just before the horizon
    aj = aalen_johansen(t, s, horizon=horizon).at_horizon.estimate
    np.testing.assert_allclose(np.sum(label * w) / n, aj, rtol=0, atol=1e-12)
    if (t >= horizon).any():  # someone followed to the horizon: no probability mass is lost
        np.testing.assert_allclose(w.sum(), n, rtol=0, atol=1e-9)


def test_without_competing_events_the_weights_are_ipcw_weights():
    X, y = competing_cohort(300, 1, comp_rate=0.0)
    a = competing_ipcw_weights(y["time"], y["event_type"], horizon=900.0)
    b = ipcw_weights(y["time"], y["event"], horizon=900.0)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=0, atol=1e-14)


def test_fit_predict_and_bundle(tmp_path):
    X, y = competing_cohort(500, 2, comp_rate=1 / 500)
    est = make_model("xgb-binary", competing_risks=True, horizon=900.0, n_estimators=20, nthread=1).fit(X, y)
    assert type(est[-1]) is CompetingXGBBinaryRisk and "cumulative incidence" in estimand(est)
    plain = make_model("xgb-binary", horizon=900.0, n_estimators=20, nthread=1).fit(X, y)
    assert type(plain[-1]) is XGBBinaryRisk
    r, r0 = est.predict_risk(X), plain.predict_risk(X)
    assert ((r > 0) & (r < 1)).all() and r.mean() < r0.mean()  # competing deaths are controls
    got = load(est.save(tmp_path / "b"))
    assert type(got[-1]) is CompetingXGBBinaryRisk
    np.testing.assert_array_equal(got.predict_risk(X), r)
    # early stopping works on the status-coded rows
    es = CompetingXGBBinaryRisk(horizon=900.0, n_estimators=50, early_stopping_rounds=5, nthread=1).fit(X, y)
    assert 1 <= es.n_estimators_ <= 50


def test_errors():
    X, y = competing_cohort(200, 3)
    with pytest.raises(ModelError, match="needs the event type"):
        CompetingXGBBinaryRisk(n_estimators=5, nthread=1).fit(X, make_y(y["time"], y["event"]))
    with pytest.raises(ModelError, match="no MACE by the horizon"):
        CompetingXGBBinaryRisk(horizon=0.001, n_estimators=5, nthread=1).fit(X, y)
