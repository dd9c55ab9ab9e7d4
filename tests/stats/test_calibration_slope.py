"""Survival calibration slope and calibration-in-the-large (Cox recalibration) against R coxph/survfit/crr."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.stats import NotEstimableError, cox_recalibration, fine_gray_recalibration

REF = Path(__file__).resolve().parents[1] / "reference"
R_OUT = pd.read_csv(REF / "calibration_tests" / "calibration_tests.csv", dtype={"group": str})
SETS = {"survival_synth": (60, ["sex", "ethnicity"]), "survival_whas500": (365, ["gender"])}


def _subsets(stem, attrs):
    d = pd.read_csv(REF / "referee" / f"{stem}.csv", dtype={a: str for a in attrs})
    yield "overall", "all", d
    for a in attrs:
        for g in sorted(d[a].unique()):
            yield a, g, d[d[a] == g]


def _r(stem, attr, group):
    r = R_OUT[(R_OUT["dataset"] == stem) & (R_OUT["attribute"] == attr) & (R_OUT["group"] == group)]
    return r.set_index("quantity")["value"]


@pytest.mark.parametrize("stem", sorted(SETS))
def test_cox_recalibration_equals_r_overall_and_per_group(stem):
    t0, attrs = SETS[stem]
    n = 0
    for attr, group, d in _subsets(stem, attrs):
        cal = cox_recalibration(d["time"], d["event"], d["risk"], horizon=t0)
        r = _r(stem, attr, group)
        for name, est in (("cal_slope_t", cal.slope), ("cal_intercept_t", cal.intercept)):
            got = [est.estimate, est.se, est.ci_low, est.ci_high]
            want = [r[name], r[f"{name}_se"], r[f"{name}_low"], r[f"{name}_high"]]
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=f"{stem} {attr}={group} {name}")
        n += 1
    assert n == len(R_OUT[(R_OUT["dataset"] == stem) & (R_OUT["quantity"] == "cal_slope_t")])


def test_fine_gray_slope_and_intercept_equal_crr_overall_and_per_group():
    d = pd.read_csv(REF / "referee" / "competing_synth.csv")
    subs = [("overall", "all", d)] + [(a, g, d[d[a] == g]) for a in ("sex", "ethnicity")
                                      for g in sorted(d[a].unique())]
    for attr, group, x in subs:
        cal = fine_gray_recalibration(x["time"], x["status"], x["risk"], horizon=60)
        est, p = cal.slope, cal.slope_p
        r = _r("competing_synth", attr, group)
        np.testing.assert_allclose([est.estimate, est.se, est.ci_low, est.ci_high],
                                   [r["cal_slope_cr"], r["cal_slope_cr_se"], r["cal_slope_cr_low"],
                                    r["cal_slope_cr_high"]], rtol=0, atol=1e-6, err_msg=f"{attr}={group}")
        assert 0 <= p <= 1
        assert cal.intercept.estimate == pytest.approx(r["cal_intercept_cr"], abs=1e-6)
        assert np.isnan(cal.intercept.se) and np.isnan(cal.intercept_p)


def test_slope_detects_overfitted_predictions_and_intercept_detects_underprediction():
    rng = np.random.default_rng(5)
    n = 4000
    true = rng.uniform(0.05, 0.4, n)
    t = rng.exponential(-5 / np.log1p(-true))
    c = rng.uniform(4, 10, n)
    time, event = np.minimum(t, c), (t <= c).astype(int)
    well = cox_recalibration(time, event, true, horizon=5)
    assert abs(well.slope.estimate - 1) < 0.1 and well.slope.ci_low < 1 < well.slope.ci_high
    assert well.intercept.ci_low < 0 < well.intercept.ci_high
    # too extreme: cll scaled by 2 around its mean -> slope about 1/2
    cll = np.log(-np.log1p(-true))
    extreme = -np.expm1(-np.exp(2 * (cll - cll.mean()) + cll.mean()))
    assert cox_recalibration(time, event, extreme, horizon=5).slope.ci_high < 0.75
    # predictions halved (cumulative hazard / 2): intercept about log 2
    low = -np.expm1(-0.5 * -np.log1p(-true))
    res = cox_recalibration(time, event, low, horizon=5)
    assert res.intercept.ci_low < np.log(2) < res.intercept.ci_high and res.intercept_p < 1e-6


def test_not_estimable_without_events_or_with_equal_risks():
    with pytest.raises(NotEstimableError, match="no event at or before the horizon"):
        cox_recalibration([1, 2, 9], [0, 0, 1], [0.1, 0.2, 0.3], horizon=5)
    with pytest.raises(NotEstimableError, match="every predicted risk is equal"):
        cox_recalibration([1, 2, 3], [1, 0, 1], [0.2, 0.2, 0.2], horizon=5)


def test_cox_calibration_with_two_distinct_risks_is_not_estimable():
    """Two risk values leave the 3-knot spline without a knot: a clear refusal, not an IndexError."""
    from radiorisk.stats import cox_calibration

    rng = np.random.default_rng(0)
    t = rng.exponential(1000, 200) + 1
    e = rng.integers(0, 2, 200).astype(float)
    r = np.where(rng.random(200) < 0.5, 0.1, 0.3)
    with pytest.raises(NotEstimableError, match="fewer than 3 distinct predicted risks"):
        cox_calibration(t, e, r, horizon=500)
