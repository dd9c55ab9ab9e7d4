"""SubgroupAudit.calibration_tests (slope, intercept, GND per group) and the adjusted p-values of contrasts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from radiorisk.evaluation import SubgroupAudit, audit_tables
from radiorisk.evaluation._audit_contrasts import bootstrap_wald_p

REF = Path(__file__).resolve().parents[1] / "reference"
R_OUT = pd.read_csv(REF / "calibration_tests" / "calibration_tests.csv", dtype={"group": str})


def _r(stem):
    r = R_OUT[R_OUT["dataset"] == stem]
    return r.pivot_table(index=["attribute", "group"], columns="quantity", values="value")


def test_calibration_tests_equal_r_per_group_of_the_audit():
    d = pd.read_csv(REF / "referee" / "survival_synth.csv")
    a = SubgroupAudit(d["risk"], time=d["time"], event=d["event"], horizon=60,
                      groups={"sex": d["sex"], "ethnicity": d["ethnicity"]}, intersections=False, n_boot=0)
    ct = a.calibration_tests().set_index(["attribute", "group"])
    r = _r("survival_synth")
    assert set(ct.index) == set(r.index)
    for col, rc in (("cal_slope", "cal_slope_t"), ("cal_slope_ci_low", "cal_slope_t_low"),
                    ("cal_slope_ci_high", "cal_slope_t_high"), ("cal_intercept", "cal_intercept_t"),
                    ("cal_intercept_ci_low", "cal_intercept_t_low"), ("gnd_chi2", "gnd_chi2"), ("gnd_p", "gnd_p"),
                    ("gnd_df", "gnd_df")):
        np.testing.assert_allclose(ct.loc[r.index, col].astype(float), r[rc], rtol=0, atol=1e-6, err_msg=col)
    # the deliberately under-predicted group: intercept CI above 0
    assert ct.loc[("ethnicity", "Black"), "cal_intercept_ci_low"] > 0
    assert not ct["flag"].any() and (ct["flag_reason"] == "").all()
    # GND p-values adjusted over the 7 groups (not overall), as R's p.adjust
    grp = ct.drop(index=("overall", "all"))
    p = grp["gnd_p"].to_numpy()
    order = np.argsort(p)
    holm = np.maximum.accumulate(np.minimum(1, (7 - np.arange(7)) * p[order]))
    np.testing.assert_allclose(grp["gnd_p_holm"].to_numpy()[order], holm, rtol=1e-12)
    assert np.isnan(ct.loc[("overall", "all"), "gnd_p_holm"]) and (grp["gnd_p_bh"] >= grp["gnd_p"] - 1e-15).all()


def test_competing_mode_has_the_fine_gray_slope_and_intercept_and_says_what_is_not_defined():
    d = pd.read_csv(REF / "referee" / "competing_synth.csv")
    a = SubgroupAudit(d["risk"], time=d["time"], event=d["status"], horizon=60, groups={"sex": d["sex"]},
                      n_boot=0, competing_risks=True)
    ct = a.calibration_tests().set_index(["attribute", "group"])
    r = _r("competing_synth")
    np.testing.assert_allclose(ct.loc[[("overall", "all"), ("sex", "F"), ("sex", "M")], "cal_slope"],
                               r.loc[[("overall", "all"), ("sex", "F"), ("sex", "M")], "cal_slope_cr"], atol=1e-6)
    np.testing.assert_allclose(ct.loc[[("overall", "all"), ("sex", "F")], "cal_intercept"],
                               r.loc[[("overall", "all"), ("sex", "F")], "cal_intercept_cr"], atol=1e-6)
    assert ct["cal_intercept_ci_low"].isna().all() and ct["gnd_chi2"].isna().all()
    assert ct["flag_reason"].str.contains("not defined in competing-risk mode").all()
    assert ct["flag_reason"].str.contains("point estimate only in competing-risk mode").all()
    assert not ct["flag"].any()  # a quantity the mode does not define is not a flag


def test_binary_mode_reuses_the_logistic_slope_of_metrics_csv_and_flags_small_groups():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.6, 800)
    y = rng.binomial(1, p)
    grp = np.where(np.arange(800) < 790, "big", "tiny").astype(object)
    a = SubgroupAudit(p, y=y, groups={"g": grp}, n_boot=0)
    ct = a.calibration_tests().set_index(["attribute", "group"])
    m = a.to_frame().set_index(["attribute", "group", "metric"])
    assert ct.loc[("overall", "all"), "cal_slope"] == pytest.approx(m.loc[("overall", "all", "cal_slope"), "estimate"])
    assert ct.loc[("g", "tiny"), "flag"] and "fewer than 10 events" in ct.loc[("g", "tiny"), "flag_reason"]
    assert np.isfinite(ct.loc[("overall", "all"), "gnd_p"])


def test_bootstrap_wald_p_uses_the_replicate_sd_and_the_log_scale_for_ratios():
    d = np.array([0.1, 0.3, 0.2, 0.4, 0.0])
    sd = np.std(d, ddof=1)
    assert bootstrap_wald_p(d, 0.25, 0.0, min_replicates=5) == pytest.approx(2 * norm.sf(0.25 / sd))
    assert np.isnan(bootstrap_wald_p(d, 0.25, 0.0))  # fewer than 50 replicates
    r = np.array([1.1, 1.5, 1.3, 0.9, 1.2])
    assert bootstrap_wald_p(r, 1.25, 1.0, log=True, min_replicates=5) == pytest.approx(
        2 * norm.sf(np.log(1.25) / np.std(np.log(r), ddof=1)))
    # not bounded by the number of replicates (a percentile inversion gives >= 2 / (B + 1))
    assert bootstrap_wald_p(np.random.default_rng(0).normal(1.0, 0.1, 50), 1.0, 0.0) < 1e-10
    assert np.isnan(bootstrap_wald_p(np.full(5, np.nan), 0.1, 0.0))
    assert np.isnan(bootstrap_wald_p(np.full(60, 2.0), 2.0, 1.0))  # zero SD


def test_differences_carry_holm_and_bh_over_each_metric_and_significant_follows_adjust():
    rng = np.random.default_rng(7)
    n = 3000
    r = rng.uniform(0.05, 0.4, n)
    eth = rng.choice(["A", "B", "C", "D"], n)
    true = np.where(eth == "D", 1 - (1 - r) ** 2.2, r)  # group D is under-predicted
    t = rng.exponential(-5 / np.log1p(-true))
    a = SubgroupAudit(r, time=np.minimum(t, 8), event=(t <= 8).astype(int), horizon=5, groups={"eth": eth},
                      metrics=["harrell_c", "oe_ratio_t"], n_boot=200, random_state=0)
    tabs = audit_tables(a)
    diff = tabs.differences
    assert {"p_value", "p_holm", "p_bh", "significant"} <= set(diff.columns)
    for _, f in diff.groupby(["contrast", "metric"]):
        p = f["p_value"].to_numpy()
        m = np.isfinite(p).sum()
        order = np.argsort(p)
        holm = np.maximum.accumulate(np.minimum(1, (m - np.arange(m)) * p[order]))
        np.testing.assert_allclose(f["p_holm"].to_numpy()[order], holm)
        assert (f["p_bh"] <= f["p_holm"] + 1e-15).all() and (f["p_bh"] >= f["p_value"] - 1e-15).all()
    oe = diff[(diff["contrast"] == "difference") & (diff["metric"] == "oe_ratio_t")].set_index("group")
    assert oe.loc["D", "significant"] and oe.loc["D", "p_holm"] < 0.05
    assert (diff["significant"] == (diff["p_holm"] < 0.05)).all()
    bh = a.difference("overall", adjust="none", alpha=0.5)
    assert (bh["significant"] == (bh["p_value"] < 0.5)).all()
    with pytest.raises(ValueError, match="adjust must be one of"):
        a.difference(adjust="bonferroni")
    no_boot = SubgroupAudit(r, time=np.minimum(t, 8), event=(t <= 8).astype(int), horizon=5,
                            groups={"eth": eth}, metrics=["harrell_c"], n_boot=0).difference()
    assert no_boot["p_value"].isna().all() and not no_boot["significant"].any()
