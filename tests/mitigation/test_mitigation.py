"""Mitigation (issue 5 section 5): weights, per-group recalibration, group thresholds, Pleiss et al."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.evaluation import SubgroupAudit
from radiorisk.mitigation import (
    RECALIBRATION_COLUMNS,
    THRESHOLD_COLUMNS,
    CalibratedEqualizedOdds,
    GroupRecalibrator,
    calibrated_equalized_odds,
    fairlearn_threshold_optimizer,
    group_balancing_weights,
    group_thresholds,
)
from radiorisk.stats import fit_cox, kaplan_meier_risk, oe_ratio_t

H = 1826.0


# ------------------------------------------------------------------------------ (a) weights
def test_inverse_frequency_weights_balance_groups():
    g = np.array(["a"] * 70 + ["b"] * 20 + ["c"] * 10, dtype=object)
    w = group_balancing_weights(g)
    assert w.mean() == pytest.approx(1.0, abs=1e-12)
    totals = pd.Series(w).groupby(g).sum()
    assert np.allclose(totals, 100 / 3)
    # several attributes: their cells; a missing label is the cell "unknown"
    sex = np.array(["F", "M"] * 50, dtype=object)
    sex[:4] = None
    w2 = group_balancing_weights(pd.DataFrame({"eth": g, "sex": sex}))
    cell = np.where(pd.isna(sex), "unknown", g.astype(str) + ":" + sex.astype(str))
    tot = pd.Series(w2).groupby(cell).sum()
    assert len(tot) == 7 and np.allclose(tot, 100 / 7)  # 6 cells + unknown, equal totals


def test_upweight_raises_only_small_groups():
    g = np.array(["a"] * 70 + ["b"] * 25 + ["c"] * 5, dtype=object)
    w = group_balancing_weights(g, method="upweight", target=0.2)
    share = pd.Series(w).groupby(g).sum() / len(g)
    assert share["c"] == pytest.approx(0.2)
    assert share["a"] / share["b"] == pytest.approx(70 / 25)  # the others keep their proportions
    assert w.mean() == pytest.approx(1.0)
    # default target 1/K: every group below n/K raised to n/K
    share = pd.Series(group_balancing_weights(g, method="upweight")).groupby(g).sum() / len(g)
    assert share["b"] == pytest.approx(1 / 3) and share["c"] == pytest.approx(1 / 3)
    wm = group_balancing_weights(g, method="upweight", target={"c": 4.0})
    assert wm[-1] / wm[0] == pytest.approx(4.0) and wm.mean() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="minimum share"):
        group_balancing_weights(g, method="upweight", target=0.5)
    with pytest.raises(ValueError, match="not in groups"):
        group_balancing_weights(g, method="upweight", target={"z": 2.0})
    with pytest.raises(ValueError, match="method"):
        group_balancing_weights(g, method="smote")
    with pytest.raises(ValueError, match="upweight' only"):
        group_balancing_weights(g, target=0.1)


@pytest.mark.parametrize("name", ["coxph", "xgb-cox", "xgb-binary", "xgb-aft"])
def test_weights_reach_every_model(name):
    from radiorisk.models import make_model, make_y

    rng = np.random.default_rng(5)
    n = 600
    grp = rng.choice(["major", "minor"], n, p=[0.85, 0.15])
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    lp = np.where(grp == "minor", 1.2 * x1, 0.3 * x1) + 0.4 * x2  # the effect differs in the minority
    tt = rng.exponential(3000 * np.exp(-lp))
    c = rng.uniform(500, 4000, n)
    y = make_y(np.minimum(tt, c) + 1, tt <= c)
    X = pd.DataFrame({"x1": x1, "x2": x2})
    w = group_balancing_weights(grp)
    extra = {} if name == "coxph" else {"n_estimators": 40, "nthread": 1}
    plain = make_model(name, horizon=H, **extra).fit(X, y)
    weighted = make_model(name, horizon=H, **extra).fit(X, y, sample_weight=w)
    r0, r1 = plain.predict_risk(X), weighted.predict_risk(X)
    assert np.all(np.isfinite(r1)) and np.all((r1 >= 0) & (r1 <= 1))
    assert np.max(np.abs(r1 - r0)) > 1e-3  # the weights changed the fit
    if name == "coxph":  # the minority's steeper x1 effect pulls the weighted coefficient up
        b0 = plain.named_steps["model"].coef_[0]
        b1 = weighted.named_steps["model"].coef_[0]
        assert b1 > b0


# ------------------------------------------------------------------------------ (b) recalibration
def _bias_data(n, seed, bias):
    """The audit tests' pattern: outcomes, bias-free true linear predictors, labels."""
    from radiorisk.datasets import simulate_cohort

    c = simulate_cohort(n, mode="chest-pain", seed=seed, bias=bias)
    o, tr, p = c.outcomes, c.truth, c.patients
    t = np.maximum(o["mace_time_days"].to_numpy(float), 0.5)
    e = o["mace_event"].to_numpy(bool).astype(float)
    b = np.log(tr["bias_baseline_hr"].to_numpy(float))
    X = tr[["lp_mi", "lp_cardiac_death", "lp_ua_hosp", "lp_revasc_unplanned"]].to_numpy(float) - b[:, None]
    return t, e, X, p["sex"].to_numpy(str), p["ethnicity_group5"].to_numpy(str)


@pytest.fixture(scope="module")
def biased():
    """A model that ignores the bias (Cox on the true bias-free predictors of an unbiased cohort),
    applied to a cohort with South Asian baseline hazard x 1.8; a calibration and a test half."""
    t, e, X, _, _ = _bias_data(8000, 11, None)
    fit = fit_cox(X, t, e, ties="breslow")
    t, e, X, sex, eth = _bias_data(16000, 12, "south_asian_baseline_hr")
    risk = 1 - fit.survival(H, X, increments="breslow")
    cal = np.random.default_rng(0).random(len(t)) < 0.5
    return {"t": t, "e": e, "risk": risk, "eth": eth, "cal": cal}


def _sa_oe(risk, t, e, eth):
    a = SubgroupAudit(risk, time=t, event=e, horizon=H, groups={"ethnicity": eth},
                      metrics=["oe_ratio_t"], n_boot=200, random_state=3, calibration_boot=0)
    return a.by_group.set_index("group").loc["south_asian"]


@pytest.mark.parametrize("method", ["intercept", "intercept_slope"])
def test_recalibration_on_a_split_removes_the_injected_bias(biased, method):
    d = biased
    cal, te = d["cal"], ~d["cal"]
    before = _sa_oe(d["risk"][te], d["t"][te], d["e"][te], d["eth"][te])
    assert before["ci_low"] > 1.1  # measured 1.49 (1.25-1.71): the under-prediction is flagged
    rc = GroupRecalibrator(method, horizon=H).fit(d["risk"][cal], d["t"][cal], d["e"][cal], d["eth"][cal])
    assert tuple(rc.params_.columns) == RECALIBRATION_COLUMNS
    p = rc.params_.set_index("group")
    assert np.exp(p.loc["south_asian", "intercept"] - p.loc["white", "intercept"]) > 1.4  # ~ HR 1.8
    after = _sa_oe(rc.transform(d["risk"][te], d["eth"][te]), d["t"][te], d["e"][te], d["eth"][te])
    assert after["ci_low"] < 1 < after["ci_high"]  # measured 0.96 (0.80-1.10) with "intercept"


def test_cross_fitted_recalibration_removes_the_injected_bias(biased):
    d = biased
    rc = GroupRecalibrator("intercept", horizon=H, cross_fit=5, random_state=0)
    oof = rc.fit_transform(d["risk"], d["t"], d["e"], d["eth"])
    assert rc.folds_ is not None and set(np.unique(rc.folds_)) == set(range(5))
    before = _sa_oe(d["risk"], d["t"], d["e"], d["eth"])
    after = _sa_oe(oof, d["t"], d["e"], d["eth"])
    assert before["ci_low"] > 1.2 and after["ci_low"] < 1 < after["ci_high"]
    # out-of-fold differs from in-sample; the maps for new data are fitted on all rows
    assert not np.allclose(oof, rc.transform(d["risk"], d["eth"]))


def test_survival_intercept_matches_expected_events():
    # the Breslow intercept makes expected = observed events by t0 (martingale residuals sum to 0)
    rng = np.random.default_rng(1)
    n = 3000
    r = rng.uniform(0.05, 0.4, n)
    tt = rng.exponential(-5 / np.log1p(-r)) / 1.6  # true hazard 1.6 x the predicted one
    c = rng.uniform(2, 9, n)
    t, e = np.minimum(tt, c), (tt <= c).astype(float)
    rc = GroupRecalibrator(horizon=5.0, min_events=5).fit(r, t, e)
    a = rc.params_.set_index("group").loc["all", "intercept"]
    # naive Breslow with offset cloglog(r), follow-up truncated at t0
    off = np.log(-np.log1p(-r))
    ev_times = np.unique(t[(e == 1) & (t <= 5)])
    jumps = np.array([np.sum((t == u) & (e == 1)) / np.sum(np.exp(off[t >= u])) for u in ev_times])
    assert a == pytest.approx(np.log(jumps.sum()), abs=1e-10)
    # expected events by t0 = observed (the martingale residuals sum to 0)
    H_exit = np.array([jumps[ev_times <= min(ti, 5)].sum() for ti in t])
    assert np.sum(H_exit * np.exp(off)) == pytest.approx(np.sum((e == 1) & (t <= 5)), rel=1e-9)
    assert np.exp(a) == pytest.approx(1.6, rel=0.1)  # the hazard is 1.6 x the predicted one
    assert oe_ratio_t(t, e, rc.transform(r), horizon=5.0) == pytest.approx(1.0, abs=0.05)


def test_binary_logistic_recalibration():
    rng = np.random.default_rng(2)
    n = 6000
    g = rng.choice(["a", "b", "c"], n)
    lp = rng.normal(-1.5, 1.0, n)
    true = 1 / (1 + np.exp(-np.where(g == "b", 0.8 + 0.6 * lp, lp)))
    y = rng.binomial(1, true)
    r = 1 / (1 + np.exp(-lp))
    rc = GroupRecalibrator("intercept", min_events=20).fit(r, y=y, groups=g)
    out = rc.transform(r, g)
    for k in "abc":  # intercept with offset: mean predicted = observed rate, exactly
        assert out[g == k].mean() == pytest.approx(y[g == k].mean(), abs=1e-8)
    rs = GroupRecalibrator("intercept_slope", min_events=20).fit(r, y=y, groups=g).params_.set_index("group")
    assert rs.loc["b", "slope"] == pytest.approx(0.6, abs=0.15)
    assert rs.loc["b", "intercept"] == pytest.approx(0.8, abs=0.3)
    assert rs.loc["a", "slope"] == pytest.approx(1.0, abs=0.15)


def test_unseen_groups_identity_and_small_groups_pooled():
    rng = np.random.default_rng(3)
    n = 2000
    g = np.full(n, "big", dtype=object)
    g[5:20] = "tiny"  # 15 patients: fewer than 10 events
    g[:5] = None  # missing labels: the group "unknown"
    r = rng.uniform(0.05, 0.5, n)
    tt = rng.exponential(-5 / np.log1p(-r))
    t, e = np.minimum(tt, 8.0), (tt <= 8.0).astype(float)
    rc = GroupRecalibrator(horizon=5.0, min_events=10).fit(r, t, e, g)
    p = rc.params_.set_index("group")
    assert p.loc["tiny", "source"] == "pooled" and p.loc["tiny", "flag"]
    assert "fewer than 10 events" in p.loc["tiny", "flag_reason"]
    assert p.loc["tiny", "intercept"] == p.loc["(pooled)", "intercept"]
    assert p.loc["big", "source"] == "group" and not p.loc["big", "flag"]
    assert "missing label" in p.loc["unknown", "flag_reason"]
    new = np.array(["big", "martian", "martian"], dtype=object)
    out = rc.transform([0.1, 0.2, 0.3], new)
    assert out[1:].tolist() == [0.2, 0.3]  # identity for a group not seen in fit
    assert rc.unseen_groups_ == ("martian",)
    rc.transform([0.1], ["big"])
    assert rc.unseen_groups_ == ()


def test_recalibrator_input_errors():
    r, t, e = [0.1, 0.2, 0.3], [1.0, 2.0, 3.0], [1, 0, 1]
    with pytest.raises(ValueError, match="horizon"):
        GroupRecalibrator().fit(r, t, e)
    with pytest.raises(ValueError, match="method"):
        GroupRecalibrator("platt", horizon=2).fit(r, t, e)
    with pytest.raises(ValueError, match="not both"):
        GroupRecalibrator().fit(r, t, e, y=[0, 1, 0])
    with pytest.raises(ValueError, match="survival data only"):
        GroupRecalibrator(horizon=3).fit(r, y=[0, 1, 0])
    with pytest.raises(ValueError, match="cross_fit"):
        GroupRecalibrator(horizon=3, cross_fit=1).fit(r, t, e)
    with pytest.raises(ValueError, match="not fitted"):
        GroupRecalibrator(horizon=3).transform(r)


# ------------------------------------------------------------------------------ (c) thresholds
def _surv_groups(seed=4, n=3000):
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b"], n)
    r = rng.uniform(0.02, 0.6, n)
    true = np.where(g == "b", np.clip(r * 1.5, 0, 0.95), r)  # b: same risks, more events
    tt = rng.exponential(-5 / np.log1p(-true))
    c = rng.uniform(3, 9, n)
    return np.minimum(tt, c), (tt <= c).astype(float), r, g


def test_group_thresholds_equalize_censoring_aware_tpr():
    t, e, r, g = _surv_groups()
    gt = group_thresholds(r, groups=g, time=t, event=e, horizon=5.0, top_k=20)
    assert tuple(gt.table.columns) == THRESHOLD_COLUMNS
    tab = gt.table.set_index("group")
    assert (tab["tpr"] >= gt.target_tpr - 1e-12).all()
    assert tab["tpr"].max() - tab["tpr"].min() < 0.01
    # the rates are SubgroupAudit.fairness' Kaplan-Meier definitions, at each group's threshold
    for k in ("a", "b"):
        s = g == k
        a = SubgroupAudit(r[s], time=t[s], event=e[s], horizon=5.0, metrics=["oe_ratio_t"], n_boot=0)
        f = a.fairness(threshold=tab.loc[k, "threshold"]).set_index("metric")
        assert f.loc["tpr", "estimate"] == pytest.approx(tab.loc[k, "tpr"], abs=1e-12)
        assert f.loc["fpr", "estimate"] == pytest.approx(tab.loc[k, "fpr"], abs=1e-12)
        assert f.loc["positive_rate", "estimate"] == pytest.approx(tab.loc[k, "positive_rate"], abs=1e-12)
    # the target is the overall TPR of the common top-20 % rule
    cut = np.quantile(r, 0.8, method="higher")
    pos = r >= cut
    sp = 1 - kaplan_meier_risk(t[pos], e[pos], horizon=5.0).estimate
    sn = 1 - kaplan_meier_risk(t[~pos], e[~pos], horizon=5.0).estimate
    q = pos.mean()
    assert gt.target_tpr == pytest.approx(q * (1 - sp) / (q * (1 - sp) + (1 - q) * (1 - sn)))
    dec = gt.predict(r, g)
    assert dec.dtype == bool and dec[g == "a"].mean() == pytest.approx(tab.loc["a", "positive_rate"])
    with pytest.raises(ValueError, match="no threshold"):
        gt.predict([0.1], ["zzz"])
    with pytest.raises(ValueError, match="exactly one"):
        group_thresholds(r, groups=g, time=t, event=e, horizon=5.0)


def test_group_thresholds_binary_counts():
    rng = np.random.default_rng(6)
    r = rng.uniform(0, 1, 4000)
    g = rng.choice(["a", "b"], 4000)
    y = rng.binomial(1, np.where(g == "a", r, r**2))
    gt = group_thresholds(r, groups=g, y=y, threshold=0.5)
    for k, thr in gt.thresholds.items():
        s = g == k
        tpr = np.sum((r >= thr) & s & (y == 1)) / np.sum(s & (y == 1))
        assert tpr == pytest.approx(gt.table.set_index("group").loc[k, "tpr"])
        assert tpr >= gt.target_tpr
    assert np.ptp(gt.table["tpr"]) < 0.01
    assert "<table" in gt._repr_html_()


def test_fairlearn_threshold_optimizer_equalized_odds():
    rng = np.random.default_rng(7)
    n = 6000
    g = rng.choice(["a", "b"], n)
    r = np.clip(rng.beta(2, 5, n) + np.where(g == "b", 0.15, 0.0), 0, 1)
    y = rng.binomial(1, np.where(g == "b", r - 0.1, r).clip(0, 1))
    opt = fairlearn_threshold_optimizer(r, y, groups=g, constraints="equalized_odds")
    pred = opt.predict(r[:, None], sensitive_features=g, random_state=0)
    rates = {}
    for k in ("a", "b"):
        s = g == k
        rates[k] = (pred[s & (y == 1)].mean(), pred[s & (y == 0)].mean())
    assert abs(rates["a"][0] - rates["b"][0]) < 0.05 and abs(rates["a"][1] - rates["b"][1]) < 0.05


# ------------------------------------------------------------------------------ (d) Pleiss et al.
def _toy(seed, n=20000):
    rng = np.random.default_rng(seed)
    g = np.repeat(["a", "b"], n // 2)
    r = np.where(g == "a", rng.beta(1.5, 1.5, n), rng.beta(0.4, 0.5, n))  # b: sharper, lower base rate
    return r, rng.binomial(1, r), g  # calibrated within each group by construction


@pytest.mark.parametrize("cost", ["fnr", "fpr", "weighted"])
def test_calibrated_equalized_odds_equalizes_the_cost_and_keeps_calibration(cost):
    r, y, g = _toy(8)
    res = calibrated_equalized_odds(r, y, groups=g, cost=cost, random_state=0)
    tab = res.table.set_index("group")
    assert np.ptp(tab["cost_after"]) < 1e-12  # expected costs equal exactly
    assert (tab["mix_rate"] == 0).sum() == 1 and not tab["flag"].any()
    # on fresh data from the same groups: realized costs equal, calibration within groups kept
    r2, y2, g2 = _toy(9)
    out = res.mitigator.transform(r2, g2)
    m = CalibratedEqualizedOdds(cost).fit(out, y2, g2)  # the rates of the post-processed risks
    assert np.ptp(m.table_["cost_before"]) < 0.015  # measured < 0.005
    for k in ("a", "b"):
        s = g2 == k
        assert out[s].mean() == pytest.approx(y2[s].mean(), abs=0.01)
        bins = np.digitize(out[s], [0.2, 0.4, 0.6, 0.8])
        for b in np.unique(bins):
            sel = bins == b
            if sel.sum() >= 300:
                assert abs(out[s][sel].mean() - y2[s][sel].mean()) < 0.03  # measured <= 0.017
    if cost == "fnr":  # only one generalized rate can be equalized: the FPRs stay apart
        assert np.ptp(m.table_["gen_fpr"]) > 0.05


def test_calibrated_equalized_odds_flags_and_errors():
    rng = np.random.default_rng(10)
    g = np.repeat(["a", "b"], 5000)
    r = np.where(g == "a", rng.beta(2, 5, 10000), rng.beta(1, 1, 10000))
    y = rng.binomial(1, r)
    res = calibrated_equalized_odds(r, y, groups=g, cost="fnr", random_state=0)
    b = res.table.set_index("group").loc["b"]
    assert b["flag"] and b["mix_rate"] == 1.0 and "below the target" in b["flag_reason"]
    assert np.all(res.risk[g == "b"] == b["base_rate"])
    out = res.mitigator.transform([0.3], ["c"])
    assert out.tolist() == [0.3] and res.mitigator.unseen_groups_ == ("c",)
    with pytest.raises(ValueError, match="cost"):
        CalibratedEqualizedOdds("tpr").fit(r, y, g)
    with pytest.raises(ValueError, match="weighted.* only"):
        CalibratedEqualizedOdds("fnr", fp_weight=0.3).fit(r, y, g)
