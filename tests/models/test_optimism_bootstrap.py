"""optimism_bootstrap: determinism, whole-pipeline refits (selection optimism), failures on record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models_testdata import FAST_XGB, CoxDouble

from radiorisk.models import (
    OPTIMISM_COLUMNS,
    OPTIMISM_INDEXES,
    make_model,
    make_y,
    optimism_bootstrap,
)
from radiorisk.stats import brier_t, cloglog, fit_cox, harrell_c, oe_ratio_t


@pytest.fixture(scope="module")
def small(cohort):
    X, y = cohort
    return X.iloc[:300], y[:300]


def test_table_shape_and_identities(small):
    X, y = small
    r = optimism_bootstrap("coxph", X, y, horizon=1826, n_boot=4, random_state=3)
    t = r.to_frame()
    assert tuple(t.columns) == OPTIMISM_COLUMNS and tuple(t["index"]) == OPTIMISM_INDEXES
    np.testing.assert_allclose(t["optimism"], t["bootstrap_train"] - t["bootstrap_test"])
    np.testing.assert_allclose(t["corrected"], t["apparent"] - t["optimism"])
    t = t.set_index("index")
    assert t.loc["dxy", "corrected"] == pytest.approx(2 * t.loc["harrell_c", "corrected"] - 1)
    assert r.indices.shape == (4, 300) and (t["n_used"] == 4).all() and (t["n_failed"] == 0).all()
    assert "B = 4" in r.summary() and "0 failed" in r.summary()


def test_per_resample_values_recomputed_by_hand(small):
    """Resample 1 refitted here from the recorded indices gives the recorded train/test values."""
    X, y = small
    r = optimism_bootstrap("coxph", X, y, horizon=1826, n_boot=2, random_state=5)
    rows = r.indices[1]
    est = make_model("coxph", horizon=1826).fit(X.iloc[rows], y[rows])
    risk = est.predict_risk(X, horizon=1826)
    t, e = y["time"], y["event"].astype(float)
    p = r.per_resample[r.per_resample["resample"] == 1].set_index("index")
    for sel, col in ((rows, "train"), (np.arange(len(t)), "test")):
        ts, es, rs = t[sel], e[sel], risk[sel]
        assert p.loc["harrell_c", col] == pytest.approx(harrell_c(ts, es, rs), abs=1e-12)
        assert p.loc["calibration_slope", col] == pytest.approx(
            fit_cox(cloglog(rs)[:, None], ts, es).coef[0], abs=1e-9)
        assert p.loc["oe_ratio", col] == pytest.approx(oe_ratio_t(ts, es, rs, horizon=1826), abs=1e-12)
        assert p.loc["brier", col] == pytest.approx(brier_t(ts, es, rs, horizon=1826).estimate, abs=1e-12)


def test_deterministic_and_independent_of_n_jobs(small):
    X, y = small
    kw = dict(horizon=1826, n_boot=3, random_state=11)
    a = optimism_bootstrap("coxph", X, y, **kw)
    b = optimism_bootstrap("coxph", X, y, **kw, n_jobs=2)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    np.testing.assert_array_equal(a.indices, b.indices)
    c = optimism_bootstrap("coxph", X, y, **{**kw, "random_state": 12})
    assert not np.array_equal(a.indices, c.indices)


def test_selection_optimism_is_captured():
    """Screening 5 of 60 noise columns inside the pipeline: apparent C is high, corrected C is not."""
    rng = np.random.default_rng(0)
    n = 200
    X = pd.DataFrame(rng.normal(size=(n, 60)), columns=[f"noise{j}" for j in range(60)])
    y = make_y(rng.exponential(1000.0, n) + 1.0, rng.random(n) < 0.6)
    r = optimism_bootstrap(make_model("coxph", screen_k=5), X, y, horizon=500, n_boot=10, random_state=0)
    t = r.to_frame().set_index("index")
    assert t.loc["harrell_c", "apparent"] > 0.58
    assert t.loc["harrell_c", "optimism"] > 0.08
    assert abs(t.loc["harrell_c", "corrected"] - 0.5) < 0.06
    assert t.loc["calibration_slope", "corrected"] < 0.6  # the noise model's test slope is far below 1


def test_xgb_pipeline_runs(small):
    X, y = small
    r = optimism_bootstrap("xgb-cox", X, y, horizon=1826, n_boot=2, random_state=0, params=FAST_XGB)
    t = r.to_frame().set_index("index")
    assert t.loc["harrell_c", "optimism"] > 0 and (t["n_used"] == 2).all()


class _NeedsFirstRow(CoxDouble):
    """Fails (ValueError) when the training rows leave out the row labelled 0."""

    def fit(self, X, y):
        if 0 not in set(pd.DataFrame(X).index):
            raise ValueError("row 0 is not in the training sample")
        return super().fit(X, y)


def test_failed_resamples_are_counted_with_reasons(small):
    X, y = small
    X = X[["age_years", "ldl_mmol_l"]].reset_index(drop=True)
    n = len(X)
    keep, drop = np.arange(n), np.r_[1, 1, np.arange(2, n)]  # resample 1 leaves row 0 out
    fac = lambda random_state=0, **p: _NeedsFirstRow(random_state=random_state, **p)  # noqa: E731
    r = optimism_bootstrap(fac, X, y, horizon=1826, indices=np.vstack([keep, drop, keep]))
    t = r.to_frame().set_index("index")
    assert (t["n_used"] == 2).all() and (t["n_failed"] == 1).all()
    assert r.failures.to_dict("records") == [
        {"resample": 1, "stage": "fit", "reason": "ValueError: row 0 is not in the training sample"}]
    assert any("1 of 3 resample(s) failed to fit" in n for n in r.notes)
    assert "1 failed to fit" in r.summary()


def test_bad_inputs(small):
    X, y = small
    with pytest.raises(ValueError, match="random_state is required"):
        optimism_bootstrap("coxph", X, y, horizon=1826, n_boot=2)
    with pytest.raises(ValueError, match="n_boot must be an integer >= 1"):
        optimism_bootstrap("coxph", X, y, horizon=1826, n_boot=0, random_state=0)
    with pytest.raises(ValueError, match=r"indices must have shape \(B, n\)"):
        optimism_bootstrap("coxph", X, y, horizon=1826, indices=np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="0-based"):
        optimism_bootstrap("coxph", X, y, horizon=1826, indices=np.full((1, len(X)), len(X)))
