"""``radiorisk audit --competing-risks``: R equality on competing_synth, usage errors, every file written.

The reference is tests/reference/referee/competing_synth.metrics.csv (R: riskRegression, pec,
prodlim, cmprsk), compared with the referee's own compare_metrics.py at its default tolerance
(1e-6 absolute, every metric; the README states no other tolerance for the _cr metrics), with
the counts (n, events) strict and the analytic CIs of auc_cr and brier_cr checked too.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._audit import add_audit_parser
from radiorisk.evaluation import (
    AUDIT_FILES,
    COMPETING_METRICS,
    SubgroupAudit,
    compute_metrics,
    write_metrics_csv,
)
from radiorisk.exceptions import AuditUsageError, SchemaError
from radiorisk.pipeline import read_predictions, run_audit
from radiorisk.stats import aalen_johansen, kaplan_meier_risk

STEM = "competing_synth"
KW = {"risk_col": "risk", "time_col": "time", "event_col": "status", "horizon": 60}
GROUPS = ["sex", "ethnicity"]
N_ROWS = 72  # 8 subsets (overall, 2 sexes, 5 ethnicities) x 9 metrics


def _parse(argv):
    p = argparse.ArgumentParser(prog="radiorisk")
    add_audit_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


@pytest.fixture(scope="module")
def data(referee_dir):
    return pd.read_csv(referee_dir / f"{STEM}.csv", dtype={g: str for g in GROUPS})


def _agree(compare_metrics, capsys, candidate, reference):
    code = compare_metrics.main([str(candidate), str(reference), "--strict-counts", "--check-ci"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert text.strip().splitlines()[-1] == f"metrics agree: {N_ROWS} of {N_ROWS}"


def test_compute_metrics_equals_r(data, referee_dir, compare_metrics, tmp_path, capsys):
    m = compute_metrics(data, groups=GROUPS, competing_risks=True, **KW)
    ref = pd.read_csv(referee_dir / f"{STEM}.metrics.csv", dtype={"group": str})
    # every (attribute, group, metric) of R, overall and every group, and nothing else
    assert set(zip(m["attribute"], m["group"], m["metric"], strict=True)) == \
        set(zip(ref["attribute"], ref["group"], ref["metric"], strict=True))
    assert set(m["metric"]) == set(COMPETING_METRICS)
    _agree(compare_metrics, capsys, write_metrics_csv(m, tmp_path / "metrics.csv"),
           referee_dir / f"{STEM}.metrics.csv")


def test_cli_writes_every_file_and_matches_r(referee_dir, compare_metrics, tmp_path, capsys):
    out = tmp_path / "out"
    args = _parse(["audit", "--predictions", str(referee_dir / f"{STEM}.csv"), "--time-col", "time",
                   "--event-col", "status", "--risk-col", "risk", "--horizon", "60", "--group", "sex",
                   "--group", "ethnicity", "--competing-risks", "--no-intersections", "--out", str(out),
                   "--quiet"])
    assert args.func(args) == 0
    for name in AUDIT_FILES:
        assert (out / name).is_file(), name
    figs = sorted(p.name for p in (out / "figures").iterdir())
    assert figs == ["calibration_ethnicity.png", "calibration_overall.png", "calibration_sex.png",
                    "decision_curve.png", "decision_curve_ethnicity.png", "decision_curve_sex.png",
                    "forest_c_cr.png", "forest_oe_ratio_cr.png"]
    page = (out / "report.html").read_text(encoding="utf-8")
    estimands = "competing-risk estimands (Aalen–Johansen observed risk; competing events are not censored)"
    assert page.count(estimands) >= 2  # the inputs table and the key findings
    assert "decision curves use the Aalen–Johansen cumulative incidence" in page
    het = pd.read_csv(out / "heterogeneity.csv")
    assert set(het["metric"]) == {"oe_ratio_cr", "c_cr"}
    diff = pd.read_csv(out / "differences.csv")
    assert set(diff["metric"]) == set(COMPETING_METRICS)
    capsys.readouterr()
    _agree(compare_metrics, capsys, out / "metrics.csv", referee_dir / f"{STEM}.metrics.csv")


def test_status_2_without_the_flag_is_a_usage_error(data, referee_dir, tmp_path):
    with pytest.raises(ValueError, match="competing_risks=True"):
        SubgroupAudit(data["risk"], time=data["time"], event=data["status"], horizon=60, n_boot=0)
    with pytest.raises(ValueError, match="competing_risks=True"):
        compute_metrics(data, groups=GROUPS, **KW)
    f = referee_dir / f"{STEM}.csv"
    with pytest.raises(SchemaError) as exc:
        read_predictions(f, risk_col="risk", time_col="time", event_col="status")
    msg = str(exc.value)
    assert str(f) in msg and "column 'status': value '2' is not 0 or 1" in msg
    assert "competing_risks=True" in msg and "455 value(s) 2" in msg
    args = _parse(["audit", "--predictions", str(f), "--time-col", "time", "--event-col", "status",
                   "--risk-col", "risk", "--horizon", "60", "--out", str(tmp_path / "o"), "--quiet"])
    with pytest.raises(SchemaError) as exc:
        args.func(args)
    assert "--competing-risks" in str(exc.value) and "competing_risks=True" not in str(exc.value)


def test_other_usage_errors(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("time,status,risk\n1,0,0.1\n2,3,0.2\n3,1,0.3\n", encoding="utf-8")
    with pytest.raises(SchemaError, match=r"row 2 \(line 3\), column 'status': value '3' is not 0 \(censored\), "
                                          r"1 \(event of interest\) or 2 \(competing event\)"):
        read_predictions(f, risk_col="risk", time_col="time", event_col="status", competing_risks=True)
    with pytest.raises(AuditUsageError, match="competing_risks=True needs time_col"):
        run_audit(f, tmp_path / "o", risk_col="risk", outcome_col="status", competing_risks=True)
    args = _parse(["audit", "--predictions", str(f), "--outcome-col", "status", "--risk-col", "risk",
                   "--competing-risks", "--out", str(tmp_path / "o"), "--quiet"])
    with pytest.raises(AuditUsageError, match="--competing-risks needs --time-col and --event-col"):
        args.func(args)
    with pytest.raises(ValueError, match="must be 0 .censored., 1 .event of interest. or 2"):
        SubgroupAudit([0.1, 0.2], time=[1, 2], event=[0, 3], horizon=2, competing_risks=True)
    with pytest.raises(ValueError, match="needs time and event"):
        SubgroupAudit([0.1, 0.2], y=[0, 1], competing_risks=True)


def test_bootstrap_cis_present_sane_and_reproducible(data):
    kw = {"groups": GROUPS, "competing_risks": True, "n_boot": 40, "random_state": 11, **KW}
    a = compute_metrics(data, **kw)
    pd.testing.assert_frame_equal(a, compute_metrics(data, **kw))
    plain = compute_metrics(data, groups=GROUPS, competing_risks=True, **KW)
    np.testing.assert_array_equal(a["estimate"], plain["estimate"])
    assert a["ci_low"].notna().all() and a["ci_high"].notna().all()
    assert (a["ci_low"] <= a["ci_high"]).all()
    # percentile intervals bracket the estimate; not required of ici/e50/e90/emax, whose
    # bootstrap distribution is biased upwards (an absolute error is larger on a resample)
    sel = ~a["metric"].isin(["ici_cr", "e50_cr", "e90_cr", "emax_cr"])
    inside = (a["ci_low"] <= a["estimate"]) & (a["estimate"] <= a["ci_high"])
    assert inside[sel].all(), a[sel & ~inside]
    # the auc_cr/brier_cr CIs are the bootstrap's, not the analytic ones
    assert not np.allclose(a["ci_low"][a["metric"] == "auc_cr"], plain["ci_low"][plain["metric"] == "auc_cr"])


def test_calibration_boot_limits_the_fine_gray_family(data):
    a = SubgroupAudit(data["risk"], time=data["time"], event=data["status"], horizon=60,
                      groups={"sex": data["sex"]}, n_boot=6, random_state=2, calibration_boot=2,
                      competing_risks=True)
    k = a.metrics.index("ici_cr")
    assert np.isfinite(a.replicates[:, :2, k]).all() and np.isnan(a.replicates[:, 2:, k]).all()
    assert np.isfinite(a.replicates[:, :, a.metrics.index("c_cr")]).all()
    assert not a.to_frame()["flag"].any()


def test_no_competing_event_is_dropped_or_censored(data):
    a = SubgroupAudit(data["risk"], time=data["time"], event=data["status"], horizon=60,
                      groups={"sex": data["sex"]}, n_boot=0, competing_risks=True)
    t, s = data["time"].to_numpy(float), data["status"].to_numpy(float)
    assert int((s == 2).sum()) == 455
    counts = a.group_counts.set_index(["attribute", "group"])
    assert counts.loc[("overall", "all"), "n"] == len(data) == 2000
    assert counts.loc[("overall", "all"), "events"] == int(((s == 1) & (t <= 60)).sum()) == 315
    ov = a.overall.set_index("metric")
    aj = aalen_johansen(t, s, horizon=60).at_horizon.estimate
    km = kaplan_meier_risk(t, (s == 1).astype(float), horizon=60).estimate
    assert aj == pytest.approx(0.1640, abs=5e-5) and km == pytest.approx(0.1785, abs=5e-5)  # README
    assert ov.loc["oe_ratio_cr", "estimate"] == pytest.approx(aj / data["risk"].mean(), rel=1e-12)
    cal = a.calibration_within_groups(5)
    for (attr, grp), tab in cal.groupby(["attribute", "group"]):
        assert tab["n"].sum() == counts.loc[(attr, grp), "n"]
        assert tab["events"].sum() == counts.loc[(attr, grp), "events"]
    fair = a.fairness(top_k=10).set_index(["attribute", "group", "metric"])
    pos = data["risk"].to_numpy() >= np.quantile(data["risk"], 0.9, method="higher")
    ppv = aalen_johansen(t[pos], s[pos], horizon=60).at_horizon.estimate
    assert fair.loc[("overall", "all", "ppv"), "estimate"] == pytest.approx(ppv, rel=1e-12)
