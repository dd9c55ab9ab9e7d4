"""``radiorisk audit`` at several horizons: one audit per horizon and risk column, a horizon column everywhere."""

from __future__ import annotations

import argparse
from html import unescape

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._audit import add_audit_parser
from radiorisk.evaluation import SubgroupAudit
from radiorisk.exceptions import AuditUsageError
from radiorisk.pipeline import run_audit

CSVS = ["metrics.csv", "calibration_tables.csv", "fairness.csv", "heterogeneity.csv", "differences.csv",
        "flags.csv", "calibration_tests.csv"]


def _csv(tmp_path, n=900, seed=3):
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.02, 0.12, n)  # yearly hazard
    t = rng.exponential(1 / lam) * 365.25
    c = rng.uniform(3, 12, n) * 365.25
    f = tmp_path / "pred.csv"
    pd.DataFrame({"time": np.round(np.minimum(t, c), 1) + 0.5, "event": (t <= c).astype(int),
                  "risk_1y": -np.expm1(-lam), "risk_5y": -np.expm1(-5 * lam),
                  "sex": rng.choice(["F", "M"], n)}).to_csv(f, index=False)
    return f


def _parse(argv):
    p = argparse.ArgumentParser(prog="radiorisk")
    add_audit_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


def test_two_horizons_stack_the_single_horizon_audits(tmp_path):
    f = _csv(tmp_path)
    args = _parse(["audit", "--predictions", str(f), "--time-col", "time", "--event-col", "event",
                   "--risk-col", "risk_1y,risk_5y", "--horizon", "365", "--horizon", "1826", "--group", "sex",
                   "--n-boot", "20", "--calibration-boot", "2", "--quiet", "--out", str(tmp_path / "both")])
    assert args.func(args) == 0
    out = tmp_path / "both"
    kw = dict(risk_col="risk_5y", time_col="time", event_col="event", groups=["sex"], n_boot=20,
              calibration_boot=2, figures=False)
    run_audit(f, tmp_path / "five", horizon=1826, **kw)
    for name in CSVS:
        both = pd.read_csv(out / name, keep_default_na=False, na_values=[""])
        assert list(both.columns)[0] == "horizon", name
        assert set(both["horizon"]) == {365.0, 1826.0} or (name == "flags.csv" and both.empty), name
        one = pd.read_csv(tmp_path / "five" / name, keep_default_na=False, na_values=[""])
        five = both[both["horizon"] == 1826.0].drop(columns="horizon").reset_index(drop=True)
        pd.testing.assert_frame_equal(five, one, check_dtype=False, obj=name)
    m = pd.read_csv(out / "metrics.csv")
    d = pd.read_csv(f)
    direct = SubgroupAudit(d["risk_1y"], time=d["time"], event=d["event"], horizon=365, metrics=["oe_ratio_t"],
                           n_boot=0).overall["estimate"].iloc[0]
    got = m[(m["horizon"] == 365) & (m["metric"] == "oe_ratio_t") & (m["attribute"] == "overall")]["estimate"]
    assert got.iloc[0] == pytest.approx(direct, rel=1e-12)
    assert sorted(p.name for p in (out / "figures").glob("t365_*.png"))[:1] == ["t365_calibration_overall.png"]
    page = unescape((out / "report.html").read_text(encoding="utf-8"))
    assert "t = 365: Overall" in page and "t = 1826: Overall" in page and "horizons t = 365, 1826" in page
    assert "t = 365: risk_1y, t = 1826: risk_5y" in page


def test_one_horizon_keeps_the_old_columns_and_mismatches_are_refused(tmp_path):
    f = _csv(tmp_path, n=400)
    kw = dict(time_col="time", event_col="event", n_boot=0, figures=False)
    m = pd.read_csv(run_audit(f, tmp_path / "a", risk_col="risk_5y", horizon=1826, **kw))
    assert "horizon" not in m.columns
    with pytest.raises(AuditUsageError, match=r"2 horizon\(s\) and 1 risk column\(s\) \(risk_5y\): give one "
                                              "risk column per horizon"):
        run_audit(f, tmp_path / "b", risk_col="risk_5y", horizon=[365, 1826], **kw)
    with pytest.raises(AuditUsageError, match="repeats a horizon"):
        run_audit(f, tmp_path / "c", risk_col=["risk_1y", "risk_5y"], horizon=[365, 365], **kw)
    with pytest.raises(AuditUsageError, match="--horizon: 'five' is not a number"):
        args = _parse(["audit", "--predictions", str(f), "--time-col", "time", "--event-col", "event",
                       "--risk-col", "risk_5y", "--horizon", "five", "--out", str(tmp_path / "d")])
        args.func(args)
