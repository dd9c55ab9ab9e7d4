"""``radiorisk audit``: decision_curves.csv, nri.csv (--reference-risk-col) and their report sections."""

from __future__ import annotations

import argparse
import json
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._audit import add_audit_parser
from radiorisk.evaluation import DECISION_COLUMNS, NRI_COLUMNS
from radiorisk.exceptions import AuditUsageError
from radiorisk.pipeline import run_audit

REF = Path(__file__).resolve().parents[1] / "reference"
R = json.loads((REF / "decision" / "decision_reference.json").read_text(encoding="utf-8"))


def _parse(argv):
    p = argparse.ArgumentParser(prog="radiorisk")
    add_audit_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


@pytest.fixture(scope="module")
def competing_csv(tmp_path_factory):
    d = pd.read_csv(REF / "referee" / "competing_synth.csv", dtype={"sex": str, "ethnicity": str})
    d["risk_new"] = pd.read_csv(REF / "decision" / "competing_new_risk.csv")["risk_new"]
    f = tmp_path_factory.mktemp("dec") / "pred.csv"
    d.to_csv(f, index=False)
    return f


def test_cli_writes_decision_curves_and_nri_equal_to_r(competing_csv, tmp_path):
    out = tmp_path / "out"
    args = _parse(["audit", "--predictions", str(competing_csv), "--time-col", "time", "--event-col", "status",
                   "--competing-risks", "--risk-col", "risk", "--reference-risk-col", "risk_new", "--horizon", "60",
                   "--group", "sex", "--group", "ethnicity", "--no-intersections", "--decision-thresholds",
                   "0.05:0.30:0.01", "--nri-cuts", "0.1,0.2", "--no-figures", "--out", str(out), "--quiet"])
    assert args.func(args) == 0
    dc = pd.read_csv(out / "decision_curves.csv", dtype={"group": str})
    assert tuple(dc.columns) == DECISION_COLUMNS
    assert np.allclose(sorted(dc["threshold"].unique()), R["thresholds"])
    for (attr, grp), tab in dc.groupby(["attribute", "group"], sort=False):
        np.testing.assert_allclose(tab["net_benefit"], R["competing"][attr][grp]["decision"]["model"], atol=1e-8)
    nri = pd.read_csv(out / "nri.csv", dtype={"group": str}, keep_default_na=False)
    assert tuple(nri.columns) == NRI_COLUMNS
    # the audited risk is the fixture's, the reference the new one: the NRI of old over new is minus R's
    ev = nri[(nri["attribute"] == "ethnicity") & (nri["group"] == "SouthAsian") & (nri["nri_type"] == "categorical")
             & (nri["component"] == "nri_events")]["estimate"].astype(float).iloc[0]
    assert ev == pytest.approx(-R["competing"]["ethnicity"]["SouthAsian"]["nri_categorical"]["events"], abs=1e-8)
    page = unescape((out / "report.html").read_text(encoding="utf-8"))
    assert "Decision curves by group" in page and "Net reclassification improvement by group" in page
    assert "Aalen–Johansen cumulative incidence of the event of interest" in page
    assert "for events and" in page and "for non-events" in page  # the two components stated separately
    assert "reference model (NRI)" in page
    assert "Overall, the model's net benefit exceeds treat-all and treat-none at the thresholds" in page


def test_without_reference_no_nri_file(competing_csv, tmp_path):
    run_audit(competing_csv, tmp_path / "o", risk_col="risk", time_col="time", event_col="status", horizon=60,
              competing_risks=True, groups=["sex"], figures=False, decision_thresholds=[0.1, 0.2])
    assert not (tmp_path / "o" / "nri.csv").exists()
    dc = pd.read_csv(tmp_path / "o" / "decision_curves.csv")
    assert dc["threshold"].tolist() == [0.1, 0.2] * 3
    assert "Net reclassification" not in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")


def test_threshold_is_the_default_nri_cut(competing_csv, tmp_path):
    run_audit(competing_csv, tmp_path / "o", risk_col="risk_new", reference_risk_col="risk", time_col="time",
              event_col="status", horizon=60, competing_risks=True, figures=False, threshold=0.15,
              decision_thresholds=[0.15])
    nri = pd.read_csv(tmp_path / "o" / "nri.csv", keep_default_na=False)
    assert set(nri["nri_type"]) == {"categorical", "continuous"}
    assert set(nri.loc[nri["nri_type"] == "categorical", "cuts"].astype(str)) == {"0.15"}


def test_several_horizons_one_reference_per_horizon(tmp_path):
    rng = np.random.default_rng(1)
    n = 600
    lam = rng.uniform(0.02, 0.2, n)
    t = rng.exponential(1 / lam)
    f = tmp_path / "p.csv"
    pd.DataFrame({"time": np.minimum(t, 8) + 0.01, "event": (t <= 8).astype(int), "r3": -np.expm1(-3 * lam),
                  "r5": -np.expm1(-5 * lam), "o3": -np.expm1(-3 * lam.mean()) * np.ones(n),
                  "o5": -np.expm1(-5 * lam.mean()) * np.ones(n), "sex": rng.choice(["F", "M"], n)}).to_csv(f, index=False)
    run_audit(f, tmp_path / "o", risk_col=["r3", "r5"], reference_risk_col=["o3", "o5"], horizon=[3, 5],
              time_col="time", event_col="event", groups=["sex"], figures=False, decision_thresholds=[0.1])
    nri = pd.read_csv(tmp_path / "o" / "nri.csv")
    assert nri["horizon"].unique().tolist() == [3.0, 5.0]
    dc = pd.read_csv(tmp_path / "o" / "decision_curves.csv")
    assert dc.columns[0] == "horizon" and len(dc) == 2 * 3
    with pytest.raises(AuditUsageError, match="give one reference column per risk column"):
        run_audit(f, tmp_path / "x", risk_col=["r3", "r5"], reference_risk_col="o3", horizon=[3, 5],
                  time_col="time", event_col="event", figures=False)


def test_usage_errors_name_the_flags(competing_csv, tmp_path):
    base = ["audit", "--predictions", str(competing_csv), "--time-col", "time", "--event-col", "status",
            "--competing-risks", "--risk-col", "risk", "--horizon", "60", "--out", str(tmp_path / "o"), "--quiet"]
    with pytest.raises(AuditUsageError, match=r"--decision-thresholds '0.05:1.2:0.1'.*START:STOP:STEP"):
        args = _parse(base + ["--decision-thresholds", "0.05:1.2:0.1"])
        args.func(args)
    with pytest.raises(AuditUsageError, match=r"--nri-cuts 'a': give risks"):
        args = _parse(base + ["--nri-cuts", "a"])
        args.func(args)
    with pytest.raises(AuditUsageError, match="--reference-risk-col 'risk' is the audited risk column itself"):
        args = _parse(base + ["--reference-risk-col", "risk"])
        args.func(args)
