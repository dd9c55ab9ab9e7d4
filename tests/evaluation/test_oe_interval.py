"""O/E with zero or very few events: analytic intervals and no findings from them (issue 13, 3)."""

import numpy as np
import pytest
from scipy.stats import gamma, poisson

from radiorisk.evaluation import SubgroupAudit, audit_tables
from radiorisk.evaluation._oe_interval import oe_interval
from radiorisk.report import audit_findings
from radiorisk.stats import aalen_johansen, kaplan_meier_risk, percentile_interval


def _binary_with_empty_group(n_small=12):
    rng = np.random.default_rng(3)
    n = 500
    p = rng.uniform(0.05, 0.5, n)
    y = rng.binomial(1, p)
    grp = np.array(["big"] * (n - n_small) + ["tiny"] * n_small)
    y[grp == "tiny"] = 0
    return p, y, grp


def _survival(n=400, seed=5):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.5, n)
    t = rng.exponential(-5 / np.log1p(-p))
    return p, np.minimum(t, 8), (t <= 8).astype(int), rng.choice(["F", "M"], n)


def _row(audit, group, metric):
    f = audit.to_frame()
    return f[(f["group"] == group) & (f["metric"] == metric)].iloc[0]


def test_zero_events_bootstrap_is_not_a_zero_width_ci():
    p, y, grp = _binary_with_empty_group()
    a = SubgroupAudit(p, y=y, groups={"grp": grp}, metrics=["oe_ratio"], n_boot=40, random_state=1)
    r = _row(a, "tiny", "oe_ratio")
    assert r["estimate"] == 0
    assert r["ci_low"] < r["ci_high"]  # the percentile bootstrap gives (0, 0)
    assert r["ci_low"] == 0 and r["ci_high"] == pytest.approx(gamma.ppf(0.975, 1) / p[grp == "tiny"].sum())
    assert r["flag"] and "bootstrap degenerate" in r["flag_reason"]
    assert "exact Poisson" in r["flag_reason"]


def test_no_key_finding_from_a_tiny_group():
    p, y, grp = _binary_with_empty_group()
    a = SubgroupAudit(p, y=y, groups={"grp": grp}, metrics=["oe_ratio", "auc"], n_boot=40, random_state=1)
    text = " ".join(audit_findings(a, audit_tables(a)))
    assert "grp = tiny" not in text.split("carry a flag")[0]  # only in the list of flagged groups
    assert "(the CI excludes 1)" not in text
    assert "1 group(s) with fewer than 10 events are not assessed for calibration" in text


def test_a_real_bootstrap_interval_of_a_small_group_is_kept():
    p, y, grp = _binary_with_empty_group(n_small=60)
    y[np.flatnonzero(grp == "tiny")[:12]] = 1
    a = SubgroupAudit(p, y=y, groups={"grp": grp}, metrics=["oe_ratio", "auc"], n_boot=40, random_state=1,
                      min_events=10)
    r = _row(a, "tiny", "oe_ratio")
    assert r["ci_low"] < r["ci_high"] and not r["flag"] and r["flag_reason"] == ""
    g = [s[1] for s in a._subsets].index("tiny")
    lo, hi = percentile_interval(a.replicates[g, :, a.metrics.index("oe_ratio")][:, None], 0.95)
    assert (r["ci_low"], r["ci_high"]) == (lo[0], hi[0])


def test_binary_poisson_limits_equal_scipy_exact_limits():
    p, y, grp = _binary_with_empty_group(n_small=40)
    idx = np.flatnonzero(grp == "tiny")
    y[idx[:3]] = 1
    a = SubgroupAudit(p, y=y, groups={"grp": grp}, metrics=["oe_ratio"], n_boot=0)
    r = _row(a, "tiny", "oe_ratio")
    k, expected = 3, p[idx].sum()
    assert r["ci_low"] * expected == pytest.approx(gamma.ppf(0.025, k), rel=1e-12)
    assert r["ci_high"] * expected == pytest.approx(gamma.ppf(0.975, k + 1), rel=1e-12)
    # the defining property of the exact (Garwood) limits
    assert poisson.sf(k - 1, r["ci_low"] * expected) == pytest.approx(0.025, rel=1e-9)
    assert poisson.cdf(k, r["ci_high"] * expected) == pytest.approx(0.025, rel=1e-9)
    assert not r["flag"] or "fewer than" in r["flag_reason"]
    assert "analytic CI: exact Poisson" in r["flag_reason"]


def test_survival_analytic_ci_is_the_km_ci_over_the_mean_risk():
    p, t, e, sex = _survival()
    a = SubgroupAudit(p, time=t, event=e, horizon=5, groups={"sex": sex}, metrics=["oe_ratio_t"], n_boot=0)
    for grp, sel in (("all", np.ones(len(p), bool)), ("F", sex == "F"), ("M", sex == "M")):
        r = _row(a, grp, "oe_ratio_t")
        km = kaplan_meier_risk(t[sel], e[sel], horizon=5, conf_type="log-log")
        assert r["ci_low"] == km.ci_low / np.mean(p[sel])
        assert r["ci_high"] == km.ci_high / np.mean(p[sel])
        assert r["ci_low"] < r["estimate"] < r["ci_high"]
        assert not r["flag"] and r["flag_reason"].startswith("analytic CI: Kaplan-Meier")


def test_competing_analytic_ci_is_the_aalen_johansen_ci_over_the_mean_risk():
    rng = np.random.default_rng(2)
    n = 300
    p = rng.uniform(0.05, 0.4, n)
    t = rng.exponential(4, n)
    status = rng.choice([0, 1, 2], n, p=[0.4, 0.35, 0.25])
    a = SubgroupAudit(p, time=t, event=status, horizon=3, metrics=["oe_ratio_cr"], n_boot=0,
                      competing_risks=True)
    r = _row(a, "all", "oe_ratio_cr")
    aj = aalen_johansen(t, status, horizon=3).at_horizon
    assert (r["ci_low"], r["ci_high"]) == (aj.ci_low / np.mean(p), aj.ci_high / np.mean(p))


def test_survival_without_events_has_no_interval():
    lo, hi, how = oe_interval("oe_ratio_t", [0.2] * 5, time=[1, 2, 3, 4, 6], event=[0] * 5, horizon=5)
    assert np.isnan(lo) and np.isnan(hi) and how.startswith("no analytic CI")
    with pytest.raises(ValueError, match="metric must be one of"):
        oe_interval("auc", [0.2], y=[0])


def test_bootstrap_rows_that_are_not_degenerate_are_unchanged():
    p, t, e, sex = _survival()
    a = SubgroupAudit(p, time=t, event=e, horizon=5, groups={"sex": sex}, metrics=["oe_ratio_t", "brier_t"],
                      n_boot=30, random_state=4)
    lo, hi = percentile_interval(a.replicates, 0.95)
    f = a.to_frame()
    assert np.array_equal(f["ci_low"].to_numpy(), lo.ravel())
    assert np.array_equal(f["ci_high"].to_numpy(), hi.ravel())
    assert not f["flag_reason"].str.contains("analytic").any()
