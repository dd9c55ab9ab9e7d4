"""SubgroupAudit.decision_curves and .reclassification: per group equal to R, bootstrap CIs paired."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.evaluation import DECISION_COLUMNS, NRI_COLUMNS, DecisionCurveDisplay, SubgroupAudit
from radiorisk.stats import (
    StratifiedBootstrap,
    net_benefit_curve,
    net_reclassification,
    percentile_interval,
)

REF = Path(__file__).resolve().parents[1] / "reference"
R = json.loads((REF / "decision" / "decision_reference.json").read_text(encoding="utf-8"))
KINDS = {"survival": ("survival_synth.csv", "event"), "competing": ("competing_synth.csv", "status")}


def _audit(kind, n_boot=0, **kw):
    f, ev = KINDS[kind]
    d = pd.read_csv(REF / "referee" / f)
    new = pd.read_csv(REF / "decision" / f"{kind}_new_risk.csv")["risk_new"].to_numpy()
    a = SubgroupAudit(new, time=d["time"], event=d[ev], horizon=R["t0"], groups=d[["sex", "ethnicity"]],
                      intersections=False, n_boot=n_boot, random_state=7, competing_risks=kind == "competing",
                      metrics=["oe_ratio_cr" if kind == "competing" else "oe_ratio_t"], **kw)
    return a, d, new


@pytest.mark.parametrize("kind", list(KINDS))
def test_decision_curves_per_group_equal_r(kind):
    a, d, _ = _audit(kind)
    dc = a.decision_curves(R["thresholds"])
    assert tuple(dc.columns) == DECISION_COLUMNS
    for (attr, grp), tab in dc.groupby(["attribute", "group"], sort=False):
        # the R reference uses the fixture's own risk; the audit's risk is the new one: compare to R's
        # new-vs-old NRI below, and here the net benefit of the fixture's risk through the stats kernel
        sub = d if attr == "overall" else d[d[attr] == grp]
        nb = net_benefit_curve(a.risk[sub.index.to_numpy()], thresholds=R["thresholds"],
                               time=sub["time"].to_numpy(float), event=sub[KINDS[kind][1]].to_numpy(float),
                               horizon=R["t0"], competing_risks=kind == "competing")
        np.testing.assert_allclose(tab["net_benefit"], nb.model, atol=1e-12)
        np.testing.assert_allclose(tab["treat_all"], R[kind][attr][grp]["decision"]["treat_all"], atol=1e-8)
    assert dc["nb_ci_low"].isna().all()  # n_boot = 0


@pytest.mark.parametrize("kind", list(KINDS))
def test_decision_curves_of_the_reference_risk_equal_r(kind):
    f, ev = KINDS[kind]
    d = pd.read_csv(REF / "referee" / f)
    a = SubgroupAudit(d["risk"], time=d["time"], event=d[ev], horizon=R["t0"], groups=d[["sex", "ethnicity"]],
                      intersections=False, n_boot=0, competing_risks=kind == "competing", metrics=[
                          "oe_ratio_cr" if kind == "competing" else "oe_ratio_t"])
    dc = a.decision_curves(R["thresholds"])
    for (attr, grp), tab in dc.groupby(["attribute", "group"], sort=False):
        np.testing.assert_allclose(tab["net_benefit"], R[kind][attr][grp]["decision"]["model"], atol=1e-8, rtol=0)
        np.testing.assert_allclose(tab["treated"], R[kind][attr][grp]["decision"]["treated"], atol=1e-8, rtol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_reclassification_per_group_equals_r(kind):
    a, d, _ = _audit(kind)
    nri = a.reclassification(d["risk"], cuts=R["cuts"])
    assert tuple(nri.columns) == NRI_COLUMNS
    names = {"nri_events": "events", "nri_nonevents": "nonevents", "nri": "nri", "p_up": "p_up", "p_down": "p_down"}
    for _, row in nri.iterrows():
        ref = R[kind][row["attribute"]][row["group"]][f"nri_{row['nri_type']}"]
        assert row["estimate"] == pytest.approx(ref[names[row["component"]]], abs=1e-8)
    assert set(nri["cuts"]) == {"0.1, 0.2", ""}


def test_bootstrap_cis_are_the_audit_replicates():
    """The CI is the percentile interval of the function on the audit's own resamples (same seed, strata)."""
    a, d, new = _audit("competing", n_boot=25)
    th = [0.1, 0.2]
    dc = a.decision_curves(th)
    nri = a.reclassification(d["risk"])
    bs = StratifiedBootstrap(a._strata, 25, 7)
    t, s, old = d["time"].to_numpy(float), d["status"].to_numpy(float), d["risk"].to_numpy()
    nb_rep, ev_rep = [], []
    for _, ii in bs.blocks(25):
        for i in ii:
            kw = dict(time=t[i], event=s[i], horizon=R["t0"], competing_risks=True)
            nb_rep.append(net_benefit_curve(new[i], thresholds=th, **kw).model)
            ev_rep.append(net_reclassification(old[i], new[i], **kw).events)
    lo, hi = percentile_interval(np.array(nb_rep))
    ov = dc[dc["attribute"] == "overall"]
    np.testing.assert_allclose(ov["nb_ci_low"], lo, atol=1e-12)
    np.testing.assert_allclose(ov["nb_ci_high"], hi, atol=1e-12)
    lo, hi = percentile_interval(np.array(ev_rep)[:, None])
    row = nri[(nri["attribute"] == "overall") & (nri["component"] == "nri_events")].iloc[0]
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(lo[0], abs=1e-12), pytest.approx(hi[0], abs=1e-12))
    assert (dc["nb_ci_low"] <= dc["nb_ci_high"]).all()


def test_binary_audit_decision_and_nri():
    rng = np.random.default_rng(0)
    old = rng.uniform(0.05, 0.5, 500)
    y = rng.binomial(1, old)
    new = np.clip(old + 0.15 * (y - 0.3), 0.01, 0.99)
    a = SubgroupAudit(new, y=y, groups={"sex": rng.choice(["F", "M"], 500)}, n_boot=10, random_state=1)
    dc = a.decision_curves([0.2])
    prev = y.mean()
    ov = dc.iloc[0]
    assert ov["treat_all"] == pytest.approx(prev - (1 - prev) * 0.25)
    treated = new >= 0.2
    assert ov["net_benefit"] == pytest.approx(((treated & (y == 1)).sum() - (treated & (y == 0)).sum() * 0.25) / 500)
    nri = a.reclassification(old)
    ev = nri[(nri["attribute"] == "overall") & (nri["component"] == "nri_events")]["estimate"].iloc[0]
    cases = y == 1
    assert ev == pytest.approx(np.mean(new[cases] > old[cases]) - np.mean(new[cases] < old[cases]))


def test_reclassification_refuses_bad_reference():
    a, _, _ = _audit("survival")
    with pytest.raises(ValueError, match="reference_risk has 3 values; the audit has 2000 rows"):
        a.reclassification([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"reference_risk must lie in \[0, 1\]; found 1.5 at position 0"):
        a.reclassification(np.r_[1.5, np.full(1999, 0.1)])


def test_flags_of_small_groups_in_decision_table():
    a, _, _ = _audit("survival", min_events=60)
    dc = a.decision_curves([0.1])
    small = dc[dc["events"] < 60]
    assert len(small) and small["flag"].all() and small["flag_reason"].str.contains("fewer than 60 events").all()


def test_display_from_audit_draws_bands():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    a, _, _ = _audit("competing", n_boot=10)
    ax = Figure().subplots()
    disp = DecisionCurveDisplay.from_audit(a, "sex", thresholds=[0.05, 0.1, 0.2]).plot(ax=ax)
    assert disp.kind == "competing" and sorted(disp.line_) == ["F", "M"]
    assert len(ax.collections) == 2  # one CI band per group
    assert "Aalen-Johansen" in ax.get_ylabel()


def test_display_from_predictions_competing_equals_the_audit():
    a, d, new = _audit("competing")
    disp = DecisionCurveDisplay.from_predictions(new, time=d["time"], event=d["status"], horizon=60,
                                                 thresholds=R["thresholds"], competing_risks=True)
    ov = a.decision_curves(R["thresholds"])
    ov = ov[ov["attribute"] == "overall"]
    assert disp.kind == "competing"
    np.testing.assert_allclose(disp.table_["model"], ov["net_benefit"], atol=1e-12)
