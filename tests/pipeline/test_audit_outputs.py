"""``radiorisk audit`` outputs: every file, a self-contained report, clear messages, nothing dropped."""

from __future__ import annotations

import argparse
import re
from html import unescape

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._audit import add_audit_parser
from radiorisk.exceptions import SchemaError
from radiorisk.pipeline import run_audit

FILES = ["metrics.csv", "calibration_tables.csv", "fairness.csv", "heterogeneity.csv", "differences.csv",
         "flags.csv", "decision_curves.csv", "report.html"]


def _parse(argv):
    p = argparse.ArgumentParser(prog="radiorisk")
    add_audit_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


def _csv(tmp_path, n=600, seed=0, missing_sex=5, dead_group=True):
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.05, 0.5, n)
    tt = rng.exponential(-5 / np.log1p(-risk))
    t = np.round(np.minimum(tt, 8.0), 3) + 0.001
    e = (tt <= 8.0).astype(int)
    sex = rng.choice(["F", "M"], n).astype(object)
    eth = rng.choice(["A", "B"], n).astype(object)
    sex[:missing_sex] = ""
    if dead_group:
        eth[-20:] = "Z"
        e[-20:] = 0
    f = tmp_path / "pred.csv"
    pd.DataFrame({"time": t, "event": e, "risk": risk, "sex": sex, "ethnicity": eth}).to_csv(f, index=False)
    return f


def test_cli_writes_every_output(tmp_path, capsys):
    f = _csv(tmp_path)
    args = _parse(["audit", "--predictions", str(f), "--time-col", "time", "--event-col", "event",
                   "--risk-col", "risk", "--horizon", "5", "--group", "sex", "--group", "ethnicity",
                   "--n-boot", "20", "--seed", "3", "--out", str(tmp_path / "out")])
    assert args.func(args) == 0
    cap = capsys.readouterr()
    out = tmp_path / "out"
    for name in FILES:
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == [
        "calibration_ethnicity.png", "calibration_overall.png", "calibration_sex.png", "decision_curve.png",
        "decision_curve_ethnicity.png", "decision_curve_sex.png", "forest_harrell_c.png", "forest_oe_ratio_t.png"]
    m = pd.read_csv(out / "metrics.csv", dtype={"group": str}, keep_default_na=False)
    assert list(m.columns) == ["attribute", "group", "metric", "estimate", "ci_low", "ci_high", "n", "events"]
    # the 5 rows without sex stay in overall and are reported as 'unknown'
    assert m.loc[m["attribute"] == "overall", "n"].iloc[0] == 600
    assert m[(m["attribute"] == "sex") & (m["group"] == "unknown")]["n"].iloc[0] == 5
    assert {"sex:ethnicity"} <= set(m["attribute"])
    # a group without events: empty estimates, a flag that says why and a message
    z = m[(m["group"] == "Z") & (m["metric"] == "uno_c")].iloc[0]
    assert z["estimate"] == "" and z["events"] == 0
    flags = pd.read_csv(out / "flags.csv", keep_default_na=False)
    assert flags[(flags["group"] == "Z") & (flags["metric"] == "uno_c")]["reason"].str.contains(
        "fewer than 10 events \\(0\\); metric undefined: no event").all()
    assert flags[(flags["attribute"] == "sex") & (flags["metric"] == "")]["reason"].str.startswith(
        "5 row(s) with a missing label").all()
    assert "ethnicity = Z: no event by the horizon among 20 rows" in cap.err
    assert "sex: 5 row(s) have no label" in cap.err
    fair = pd.read_csv(out / "fairness.csv")
    assert {"tpr", "fpr", "ppv", "equal_opportunity_difference", "equalized_odds_difference"} <= set(fair["metric"])
    cal = pd.read_csv(out / "calibration_tables.csv")
    assert cal.loc[cal["attribute"] == "overall", "n"].sum() == 600


def test_report_is_self_contained_and_readable(tmp_path):
    f = _csv(tmp_path, dead_group=False)
    run_audit(f, tmp_path / "o", risk_col="risk", time_col="time", event_col="event", horizon=5,
              groups=["sex", "ethnicity"], n_boot=20, seed=1)
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 8
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html)  # nothing fetched from the network
    assert "Key findings" in html and unescape(html).count("Overall, Harrell's C is") == 1
    assert "missing sex" in html


def test_binary_audit_without_bootstrap(tmp_path):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.6, 300)
    f = tmp_path / "b.csv"
    pd.DataFrame({"y": rng.binomial(1, p), "p": p, "g": rng.choice(["a", "b"], 300)}).to_csv(f, index=False)
    path = run_audit(f, tmp_path / "o", risk_col="p", outcome_col="y", groups=["g"], figures=False,
                     threshold=0.3)
    m = pd.read_csv(path)
    assert set(m["metric"]) >= {"auc", "oe_ratio", "ici"}
    het = pd.read_csv(tmp_path / "o" / "heterogeneity.csv")
    assert het["q"].isna().all()  # no bootstrap, no SE: stated, not invented
    assert not (tmp_path / "o" / "figures").exists()


@pytest.mark.parametrize("body, message", [
    ("time,event,risk,sex\n1,1,1.2,F\n2,0,0.1,M\n", "'risk': value '1.2' is outside [0, 1]"),
    ("time,event,risk,sex\n1,1,nan,F\n2,0,0.1,M\n", "'risk': value 'nan' is not a finite number"),
    ("time,event,risk,sex\n1,1,,F\n2,0,0.1,M\n", "'risk': value '' is not a finite number"),
    ("time,event,risk,sex\n0,1,0.2,F\n2,0,0.1,M\n", "'time': value '0' is not > 0"),
    ("time,event,risk\n1,1,0.2\n2,0,0.1\n", "missing column(s) 'sex'"),
])
def test_bad_input_messages(tmp_path, body, message):
    f = tmp_path / "bad.csv"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(SchemaError) as exc:
        run_audit(f, tmp_path / "o", risk_col="risk", time_col="time", event_col="event", horizon=5,
                  groups=["sex"])
    assert message in str(exc.value)
    assert not (tmp_path / "o" / "metrics.csv").exists()


def test_degenerate_equal_opportunity_interval_is_not_stated_as_a_ci():
    """A zero-width bootstrap interval of the equal-opportunity gap is called degenerate, not a CI."""
    from radiorisk.evaluation import SubgroupAudit, audit_tables
    from radiorisk.report import audit_findings

    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.6, 300)
    audit = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 300)}, n_boot=20,
                          random_state=1)
    tables = audit_tables(audit)
    fair = tables.fairness.copy()
    eo = fair["metric"] == "equal_opportunity_difference"
    fair.loc[eo, ["estimate", "ci_low", "ci_high"]] = 0.0
    degenerate = type(tables)(**{**tables.__dict__, "fairness": fair})
    said = [s for s in audit_findings(audit, degenerate) if "equal-opportunity" in s]
    assert said and all("(95% CI" not in s and "degenerate" in s for s in said)
    normal = [s for s in audit_findings(audit, tables) if "equal-opportunity" in s]
    assert normal and all("degenerate" not in s for s in normal)
