"""Fine-Gray regression against ``cmprsk::crr`` (tests/reference/competing) and its reduction to
the Cox model with Breslow ties when there is no competing event."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.exceptions import NotEstimableError
from radiorisk.stats import fit_cox
from radiorisk.stats._finegray import fit_fine_gray

REF = Path(__file__).resolve().parents[1] / "reference"


@pytest.fixture(scope="module")
def crr() -> dict:
    with open(REF / "competing" / "crr_reference.json", encoding="utf-8") as fh:
        return json.load(fh)["fits"]


@pytest.fixture(scope="module")
def design():
    d = pd.read_csv(REF / "referee" / "competing_synth.csv", dtype={"sex": str, "ethnicity": str},
                    keep_default_na=False)
    r = np.clip(d["risk"].to_numpy(float), 1e-10, 1 - 1e-10)
    X = pd.DataFrame({"cll": np.log(-np.log1p(-r)), "male": (d["sex"] == "M").astype(float)})
    for e in ("Black", "EastAsian", "Other", "SouthAsian"):
        X[e.lower()] = (d["ethnicity"] == e).astype(float)
    return d, X


def _cases(d, X):
    t, s = d["time"].to_numpy(float), d["status"].to_numpy(float)
    ea = (d["ethnicity"] == "EastAsian").to_numpy()
    return {
        "cause1_all": (X, t, s, 1, {}),
        "cause2_all": (X, t, s, 2, {}),
        "cause1_cll": (X[["cll"]], t, s, 1, {}),
        "cause1_defaults": (X, t, s, 1, {"gtol": 1e-6, "max_iter": 10}),
        "cause1_eastasian": (X.loc[ea, ["cll", "male"]], t[ea], s[ea], 1, {}),
        "no_competing": (X, t, np.where(s == 2, 0.0, s), 1, {}),
    }


@pytest.mark.parametrize("key", ["cause1_all", "cause2_all", "cause1_cll", "cause1_defaults",
                                 "cause1_eastasian", "no_competing"])
def test_fit_equals_crr(key, crr, design):
    X, t, s, cause, kw = _cases(*design)[key]
    R = crr[key]
    fit = fit_fine_gray(X, t, s, cause=cause, **kw)
    assert fit.converged == R["converged"]
    assert fit.names == tuple(X.columns)
    np.testing.assert_allclose(fit.coef, np.atleast_1d(R["coef"]), atol=1e-10, rtol=0)
    np.testing.assert_allclose(fit.cov, np.atleast_2d(R["var"]), atol=1e-12, rtol=0)  # sandwich
    np.testing.assert_allclose(fit.se, np.atleast_1d(R["se"]), atol=1e-12, rtol=0)
    np.testing.assert_allclose(fit.se_naive, np.atleast_1d(R["se_naive"]), atol=1e-12, rtol=0)
    assert fit.loglik == pytest.approx(R["loglik"], abs=1e-8)
    np.testing.assert_allclose(fit.event_times, np.atleast_1d(R["uftime"]))
    np.testing.assert_allclose(fit.baseline_hazard, np.atleast_1d(R["bfitj"]), atol=1e-12, rtol=1e-10)
    rows = np.atleast_1d(R["predict_rows"]) - 1
    cif = fit.predict_cif(np.asarray(X)[rows], np.atleast_1d(R["predict_times"]))
    np.testing.assert_allclose(cif, np.atleast_2d(R["predict_cif"]), atol=1e-12, rtol=0)
    assert fit.se_note == "" and fit.n == len(t) and fit.n_events == R["n_events"]


def test_no_competing_equals_coxph_breslow(crr, design):
    X, t, s, _, _ = _cases(*design)["no_competing"]
    ref = crr["no_competing"]["coxph_breslow"]
    fit = fit_fine_gray(X, t, s)
    np.testing.assert_allclose(fit.coef, ref["coef"], atol=1e-9)
    np.testing.assert_allclose(fit.se_naive, ref["se"], atol=1e-9)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-8)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 60), st.integers(1, 3), st.booleans())
def test_without_competing_events_fine_gray_is_breslow_cox(seed, n, p, ties):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    t = rng.exponential(np.exp(-0.5 * X[:, 0]))
    if ties:
        t = np.ceil(t * 4.0) / 4.0
    e = (rng.uniform(size=n) < 0.7).astype(float)
    if e.sum() < 2:
        e[:2] = 1.0
    try:
        cox = fit_cox(X, t, e, ties="breslow", tol=1e-13, max_iter=100)
    except NotEstimableError:
        return  # a monotone likelihood: no finite Cox estimate to compare with
    if np.max(np.abs(cox.coef)) > 15:
        return  # nearly monotone: both fits stop somewhere on a flat ridge
    fg = fit_fine_gray(X, t, e)
    if not fg.converged:
        return
    np.testing.assert_allclose(fg.coef, cox.coef, atol=1e-6 * max(1.0, np.max(np.abs(cox.coef))))
    assert fg.loglik == pytest.approx(cox.loglik, abs=1e-8 * max(1.0, abs(cox.loglik)))
    assert fg.loglik_null == pytest.approx(cox.loglik_null, abs=1e-9 * max(1.0, abs(cox.loglik_null)))
    H_cox = cox.cumulative_hazard(fg.event_times, np.zeros(p), increments="breslow")
    np.testing.assert_allclose(np.cumsum(fg.baseline_hazard), H_cox, rtol=1e-5)


def test_predict_cif_shapes_and_bounds(design):
    X, t, s, _, _ = _cases(*design)["cause1_cll"]
    fit = fit_fine_gray(X, t, s)
    one = fit.predict_cif([[-2.0], [-1.0]], 60.0)
    many = fit.predict_cif([[-2.0], [-1.0]], [0.5, 60.0, 1e6])
    assert one.shape == (2,) and many.shape == (2, 3)
    np.testing.assert_array_equal(many[:, 1], one)
    assert np.all(many[:, 0] == 0.0) and np.all(np.diff(many, axis=1) >= 0) and np.all(many < 1)
    assert one[1] > one[0]  # coef of cll > 0
    assert fit.to_frame().loc["cll", "se"] == fit.se[0]


def test_errors_name_the_parameter():
    X = np.ones((4, 1))
    with pytest.raises(NotEstimableError, match="no event of cause 1"):
        fit_fine_gray(X[:, 0] + [0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 0, 2])
    with pytest.raises(ValueError, match="status must be 0"):
        fit_fine_gray(X, [1, 2, 3, 4], [0, 1, -1, 2])
    with pytest.raises(ValueError, match="status must be 0"):
        fit_fine_gray(X, [1, 2, 3, 4], [0, 1, 1.5, 2])
    with pytest.raises(ValueError, match="time must be > 0"):
        fit_fine_gray(X, [0, 2, 3, 4], [0, 1, 1, 2])
    with pytest.raises(ValueError, match="X has 1 non-finite"):
        fit_fine_gray([[1.0], [np.nan], [0.0], [2.0]], [1, 2, 3, 4], [0, 1, 1, 2])
    with pytest.raises(ValueError, match="different lengths"):
        fit_fine_gray(np.ones((3, 1)), [1, 2, 3, 4], [0, 1, 1, 2])
    with pytest.raises(ValueError, match="cause must be a positive integer"):
        fit_fine_gray(X, [1, 2, 3, 4], [0, 1, 1, 2], cause=0)
    with pytest.raises(ValueError, match="names has 2 entries"):
        fit_fine_gray(X, [1, 2, 3, 4], [0, 1, 1, 2], names=["a", "b"])


def test_singular_design_gives_nan_se_with_reason():
    rng = np.random.default_rng(4)
    x = rng.normal(size=40)
    t = rng.exponential(1.0, 40)
    s = rng.integers(0, 3, 40)
    with pytest.raises(NotEstimableError, match="singular"):
        fit_fine_gray(np.column_stack([x, 2 * x]), t, s)


def test_variance_false_skips_the_sandwich(design):
    X, t, s, _, _ = _cases(*design)["cause1_cll"]
    full, lean = fit_fine_gray(X, t, s), fit_fine_gray(X, t, s, variance=False)
    np.testing.assert_array_equal(lean.coef, full.coef)
    np.testing.assert_array_equal(lean.se_naive, full.se_naive)
    assert np.isnan(lean.se).all() and "variance=False" in lean.se_note
