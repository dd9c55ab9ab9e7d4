"""SubgroupAudit: fixed shapes, explicit flags, paired contrasts, heterogeneity, fairness, bias check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.evaluation import (
    AUDIT_COLUMNS,
    METRICS_COLUMNS,
    SURVIVAL_METRICS,
    SubgroupAudit,
    compute_metrics,
)
from radiorisk.evaluation._metrics_frame import metrics_view
from radiorisk.stats import fit_cox, kaplan_meier_risk


def _cohort(seed=0, n=800):
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.05, 0.5, n)
    tt = rng.exponential(-5 / np.log1p(-risk))
    t = np.round(np.minimum(tt, 8.0), 2) + 0.01
    e = (tt <= 8.0).astype(float)
    sex = rng.choice(["F", "M"], n).astype(object)
    eth = rng.choice(["A", "B", "C"], n, p=[0.6, 0.3, 0.1]).astype(object)
    return t, e, risk, sex, eth


@pytest.fixture(scope="module")
def audit():
    t, e, r, sex, eth = _cohort()
    sex[:7] = None  # unknown labels
    eth[7:9] = ""
    return SubgroupAudit(r, time=t, event=e, horizon=5.0, groups={"sex": sex, "ethnicity": eth},
                         metrics=["harrell_c", "oe_ratio_t", "brier_t", "ici_t"], n_boot=40,
                         random_state=0)


def test_fixed_shapes(audit):
    for f in (audit.overall, audit.by_group, audit.to_frame()):
        assert tuple(f.columns) == AUDIT_COLUMNS
    assert len(audit.overall) == 4
    groups = set(zip(audit.by_group["attribute"], audit.by_group["group"], strict=True))
    assert ("sex", "unknown") in groups and ("ethnicity", "unknown") in groups
    assert ("sex:ethnicity", "F:A") in groups and ("sex:ethnicity", "unknown") in groups
    assert audit.to_frame()["flag"].dtype == bool


def test_point_estimates_are_the_exact_metrics(audit):
    t, e, r, sex, eth = _cohort()
    d = pd.DataFrame({"time": t, "event": e, "risk": r})
    m = compute_metrics(d, risk_col="risk", time_col="time", event_col="event", horizon=5.0)
    ov = audit.overall.set_index("metric")
    for k in ("harrell_c", "oe_ratio_t", "brier_t", "ici_t"):
        assert ov.loc[k, "estimate"] == m.set_index("metric").loc[k, "estimate"]


@pytest.mark.parametrize("n_boot", [0, 20])
def test_compute_metrics_is_a_view_of_the_audit(n_boot):
    """compute_metrics is SubgroupAudit(intersections=False, missing="omit") in the metrics.csv shape."""
    t, e, r, sex, eth = _cohort(2, 300)
    sex[:7] = None
    eth[7:12] = "unknown"  # allowed as a label when missing labels are omitted
    d = pd.DataFrame({"time": t, "event": e, "risk": r, "sex": sex, "eth": eth})
    m = compute_metrics(d, risk_col="risk", time_col="time", event_col="event", horizon=5.0,
                        groups=["sex", "eth"], n_boot=n_boot, random_state=4)
    a = SubgroupAudit(r, time=t, event=e, horizon=5.0, groups=d[["sex", "eth"]], intersections=False,
                      missing="omit", n_boot=n_boot, random_state=4)
    pd.testing.assert_frame_equal(m, metrics_view(a), check_exact=True)
    pd.testing.assert_frame_equal(m, a.to_frame()[list(METRICS_COLUMNS)], check_exact=True)
    assert ("sex", "unknown") not in set(zip(m["attribute"], m["group"], strict=True))
    assert m[m["attribute"] == "sex"]["n"].iloc[0] + m[m["attribute"] == "sex"]["n"].iloc[-1] == 293
    assert a.exclusions.set_index("attribute").loc["sex", "n_missing"] == 7
    with pytest.raises(ValueError, match="labelled 'unknown'"):
        SubgroupAudit(r, time=t, event=e, horizon=5.0, groups={"eth": eth}, n_boot=0)
    with pytest.raises(ValueError, match="missing must be"):
        SubgroupAudit(r, time=t, event=e, horizon=5.0, missing="drop", n_boot=0)


def test_unknown_is_reported_and_flagged(audit):
    bg = audit.by_group
    unk = bg[(bg["attribute"] == "sex") & (bg["group"] == "unknown")]
    assert (unk["n"] == 7).all() and unk["flag"].all()
    assert unk["flag_reason"].str.contains("missing label").all()
    ex = audit.exclusions.set_index("attribute")
    assert ex.loc["sex", "n_missing"] == 7 and ex.loc["ethnicity", "n_missing"] == 2
    assert ex.loc["sex:ethnicity", "n_missing"] == 9
    assert audit.overall["n"].iloc[0] == 800  # unknown rows stay in overall


def test_few_events_and_undefined_metrics_are_flagged():
    t, e, r, sex, _ = _cohort(1, 400)
    g = np.where(np.arange(400) < 30, "tiny", "big")
    e[:30] = 0  # no event at all in "tiny"
    a = SubgroupAudit(r, time=t, event=e, horizon=5.0, groups={"g": g}, metrics=["harrell_c", "uno_c"],
                      n_boot=10, random_state=1)
    tiny = a.by_group[a.by_group["group"] == "tiny"].set_index("metric")
    assert tiny["flag"].all()
    assert tiny.loc["uno_c", "flag_reason"].startswith("fewer than 10 events (0); metric undefined: no event")
    assert np.isnan(tiny.loc["uno_c", "estimate"])
    big = a.by_group[a.by_group["group"] == "big"]
    assert not big["flag"].any()


def test_difference_and_ratio_are_paired(audit):
    d = audit.difference("overall")
    assert list(d.columns) == ["attribute", "group", "reference", "metric", "estimate", "ci_low", "ci_high",
                               "flag", "flag_reason", "p_value", "p_holm", "p_bh", "significant"]
    row = d[(d["group"] == "F") & (d["metric"] == "harrell_c")].iloc[0]
    k = audit.metrics.index("harrell_c")
    g = [i for i, s in enumerate(audit._subsets) if s[:2] == ("sex", "F")][0]
    diff = audit.replicates[g, :, k] - audit.replicates[0, :, k]
    assert row["ci_low"] == pytest.approx(np.quantile(diff, 0.025))
    assert row["estimate"] == pytest.approx(audit._est[g, k] - audit._est[0, k])
    ref = audit.ratio("reference", reference={"sex": "M"})
    assert set(ref.loc[ref["attribute"] == "sex", "group"]) == {"F", "unknown"}
    assert (ref.loc[ref["attribute"] == "sex", "reference"] == "M").all()
    with pytest.raises(ValueError, match="not a group"):
        audit.ratio("reference", reference={"sex": "X"})


def test_heterogeneity_shape_and_df(audit):
    h = audit.heterogeneity()
    assert list(h.columns) == ["attribute", "metric", "scale", "q", "df", "p_value", "i2", "n_groups",
                               "groups_excluded", "test"]
    sexrow = h[(h["attribute"] == "sex") & (h["metric"] == "oe_ratio_t")].iloc[0]
    assert sexrow["n_groups"] == 2 and sexrow["df"] == 1 and sexrow["scale"] == "log"
    assert "unknown" in sexrow["groups_excluded"]
    assert 0 <= sexrow["p_value"] <= 1


def test_fairness_matches_kaplan_meier_formulas(audit):
    f = audit.fairness(threshold=0.3)
    assert {"positive_rate", "tpr", "fpr", "ppv", "equal_opportunity_difference",
            "equalized_odds_difference"} <= set(f["metric"])
    t, e, r = audit.time, audit.event, audit.risk
    pos = r >= 0.3
    s_pos = 1 - kaplan_meier_risk(t[pos], e[pos], horizon=5.0).estimate
    s_neg = 1 - kaplan_meier_risk(t[~pos], e[~pos], horizon=5.0).estimate
    q = pos.mean()
    ov = f[f["attribute"] == "overall"].set_index("metric")
    assert ov.loc["tpr", "estimate"] == pytest.approx(q * (1 - s_pos) / (q * (1 - s_pos) + (1 - q) * (1 - s_neg)))
    assert ov.loc["fpr", "estimate"] == pytest.approx(q * s_pos / (q * s_pos + (1 - q) * s_neg))
    assert ov.loc["ppv", "estimate"] == pytest.approx(1 - s_pos)
    eo = f[(f["attribute"] == "sex") & (f["metric"] == "equal_opportunity_difference")].iloc[0]
    tprs = f[(f["attribute"] == "sex") & (f["metric"] == "tpr") & f["group"].isin(["F", "M"])]["estimate"]
    assert eo["estimate"] == pytest.approx(tprs.max() - tprs.min())
    assert eo["ci_low"] <= eo["ci_high"]
    top = audit.fairness(top_k=20)
    assert top[(top["attribute"] == "overall") & (top["metric"] == "positive_rate")]["estimate"].iloc[0] \
        == pytest.approx(0.2, abs=0.01)
    with pytest.raises(ValueError, match="exactly one"):
        audit.fairness()


def test_binary_fairness_counts():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.05, 0.6, 300)
    y = rng.binomial(1, p)
    a = SubgroupAudit(p, y=y, groups={"g": rng.choice(["a", "b"], 300)}, metrics=["auc"], n_boot=0)
    f = a.fairness(threshold=0.3)
    ov = f[f["attribute"] == "overall"].set_index("metric")["estimate"]
    pos = p >= 0.3
    assert ov["tpr"] == pytest.approx(np.sum(pos & (y == 1)) / y.sum())
    assert ov["fpr"] == pytest.approx(np.sum(pos & (y == 0)) / np.sum(y == 0))
    assert ov["ppv"] == pytest.approx(np.sum(pos & (y == 1)) / pos.sum())


def test_calibration_within_groups(audit):
    c = audit.calibration_within_groups(bands=4)
    assert list(c.columns)[:4] == ["attribute", "group", "band", "lower"]
    ov = c[c["attribute"] == "overall"]
    assert len(ov) == 4 and ov["n"].sum() == 800
    band = ov.iloc[0]
    sel = audit.risk <= band["upper"]
    km = kaplan_meier_risk(audit.time[sel], audit.event[sel], horizon=5.0, conf_type="log-log")
    assert band["observed"] == pytest.approx(km.estimate) and band["ci_low"] == pytest.approx(km.ci_low)
    unk = c[(c["attribute"] == "sex") & (c["group"] == "unknown")]
    assert unk["flag"].all()


def test_input_errors():
    t, e, r, sex, _ = _cohort(0, 50)
    with pytest.raises(ValueError, match="both time and event"):
        SubgroupAudit(r, time=t)
    with pytest.raises(ValueError, match="unknown metric"):
        SubgroupAudit(r, time=t, event=e, horizon=5, metrics=["auc"], n_boot=0)
    with pytest.raises(ValueError, match="risk must lie in"):
        SubgroupAudit(np.r_[r[:-1], 1.5], time=t, event=e, horizon=5, n_boot=0)
    with pytest.raises(ValueError, match="has 3 values"):
        SubgroupAudit(r, time=t, event=e, horizon=5, groups={"g": ["a", "b", "c"]}, n_boot=0)
    with pytest.raises(ValueError, match="labelled 'unknown'"):
        SubgroupAudit(r, time=t, event=e, horizon=5, groups={"g": ["unknown"] * 50}, n_boot=0)


def test_html_and_frame(audit):
    assert "<table" in audit._repr_html_()
    assert len(audit.to_frame()) == len(audit.overall) + len(audit.by_group)


def _bias_data(n, seed, bias):
    from radiorisk.datasets import simulate_cohort

    c = simulate_cohort(n, mode="chest-pain", seed=seed, bias=bias)
    o, tr, p = c.outcomes, c.truth, c.patients
    t = np.maximum(o["mace_time_days"].to_numpy(float), 0.5)
    e = o["mace_event"].to_numpy(bool).astype(float)
    b = np.log(tr["bias_baseline_hr"].to_numpy(float))
    X = tr[["lp_mi", "lp_cardiac_death", "lp_ua_hosp", "lp_revasc_unplanned"]].to_numpy(float) - b[:, None]
    return t, e, X, p["sex"].to_numpy(str), p["ethnicity_group5"].to_numpy(str)


def test_bias_check_flags_south_asian_calibration():
    # the model: a Cox fit on the true, bias-free linear predictors of an unbiased cohort
    t, e, X, _, _ = _bias_data(8000, 11, None)
    fit = fit_cox(X, t, e, ties="breslow")
    out = {}
    for bias in ("south_asian_baseline_hr", None):
        t, e, X, sex, eth = _bias_data(8000, 12, bias)
        risk = 1 - fit.survival(1826.0, X, increments="breslow")
        a = SubgroupAudit(risk, time=t, event=e, horizon=1826, groups={"ethnicity": eth},
                          metrics=["oe_ratio_t", "harrell_c"], n_boot=150, random_state=3)
        out[bias] = a
    bg = out["south_asian_baseline_hr"].by_group.set_index(["group", "metric"]).sort_index()
    sa = bg.loc[("south_asian", "oe_ratio_t")]
    assert sa["ci_low"] > 1.2  # observed well above predicted: the under-prediction is detected
    h = out["south_asian_baseline_hr"].heterogeneity().set_index(["attribute", "metric"]).sort_index()
    assert h.loc[("ethnicity", "oe_ratio_t"), "p_value"] < 1e-4
    # without the bias: O/E heterogeneity not significant, South Asian O/E near 1
    h0 = out[None].heterogeneity().set_index(["attribute", "metric"]).sort_index()
    assert h0.loc[("ethnicity", "oe_ratio_t"), "p_value"] > 0.01
    sa0 = out[None].by_group.set_index(["group", "metric"]).sort_index().loc[("south_asian", "oe_ratio_t")]
    assert sa0["ci_low"] < 1.3 and sa0["estimate"] < sa["estimate"]


def test_all_survival_metrics_default():
    t, e, r, sex, _ = _cohort(4, 300)
    a = SubgroupAudit(r, time=t, event=e, horizon=5.0, groups={"sex": sex}, n_boot=5, random_state=0)
    assert tuple(a.overall["metric"]) == SURVIVAL_METRICS


def test_group_counts_match_the_audit_table(referee_dir):
    d = pd.read_csv(referee_dir / "survival_whas500.csv", dtype={"gender": str})
    audit = SubgroupAudit(d["risk"], time=d["time"], event=d["event"], horizon=365, groups=d[["gender"]])
    counts = audit.group_counts
    table = audit.to_frame().drop_duplicates(["attribute", "group"])[["attribute", "group", "n", "events"]]
    pd.testing.assert_frame_equal(counts.reset_index(drop=True), table.reset_index(drop=True), check_dtype=False)
    assert counts.iloc[0].tolist()[:2] == ["overall", "all"] and counts["n"].iloc[0] == 500
