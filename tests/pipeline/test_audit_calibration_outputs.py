"""``radiorisk audit`` writes calibration_tests.csv, adjusted p-values in differences.csv, and shows both."""

from __future__ import annotations

import argparse
from html import unescape

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._audit import add_audit_parser
from radiorisk.evaluation import CALIBRATION_TEST_COLUMNS
from radiorisk.exceptions import AuditUsageError
from radiorisk.pipeline import run_audit


def _csv(tmp_path, n=2400, seed=1):
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.05, 0.4, n)
    eth = rng.choice(["A", "B", "C"], n)
    true = np.where(eth == "C", 1 - (1 - risk) ** 2.5, risk)  # C under-predicted
    tt = rng.exponential(-5 / np.log1p(-true))
    f = tmp_path / "pred.csv"
    pd.DataFrame({"time": np.round(np.minimum(tt, 8.0), 3) + 0.001, "event": (tt <= 8.0).astype(int),
                  "risk": risk, "ethnicity": eth}).to_csv(f, index=False)
    return f


def _parse(argv):
    p = argparse.ArgumentParser(prog="radiorisk")
    add_audit_parser(p.add_subparsers(dest="command", required=True))
    return p.parse_args(argv)


def test_cli_writes_calibration_tests_and_adjusted_differences(tmp_path):
    f = _csv(tmp_path)
    out = tmp_path / "out"
    args = _parse(["audit", "--predictions", str(f), "--time-col", "time", "--event-col", "event",
                   "--risk-col", "risk", "--horizon", "5", "--group", "ethnicity", "--n-boot", "100",
                   "--calibration-boot", "5", "--no-figures", "--adjust", "bh", "--quiet", "--out", str(out)])
    assert args.func(args) == 0
    ct = pd.read_csv(out / "calibration_tests.csv", keep_default_na=False, na_values=[""])
    assert list(ct.columns) == list(CALIBRATION_TEST_COLUMNS)
    c = ct.set_index("group").loc["C"]
    assert c["cal_intercept_ci_low"] > 0 and c["gnd_p"] < 0.05
    diff = pd.read_csv(out / "differences.csv")
    assert list(diff.columns)[-4:] == ["p_value", "p_holm", "p_bh", "significant"]
    assert (diff["significant"] == (diff["p_bh"] < 0.05)).all()
    oe = diff[(diff["contrast"] == "difference") & (diff["metric"] == "oe_ratio_t")].set_index("group")
    assert oe.loc["C", "significant"]
    page = unescape((out / "report.html").read_text(encoding="utf-8"))
    assert "Calibration slope, calibration-in-the-large and GND test by group" in page
    assert "after Benjamini–Hochberg (false discovery rate) adjustment" in page
    assert "In ethnicity = C" in page and "Greenwood–Nam–D'Agostino test rejects calibration" in page


def test_default_adjustment_is_holm_and_a_bad_one_is_refused(tmp_path):
    f = _csv(tmp_path, n=900)
    kw = dict(risk_col="risk", time_col="time", event_col="event", horizon=5, groups=["ethnicity"], n_boot=30,
              calibration_boot=2, figures=False)
    run_audit(f, tmp_path / "a", **kw)
    diff = pd.read_csv(tmp_path / "a" / "differences.csv")
    assert (diff["significant"] == (diff["p_holm"] < 0.05)).all()
    assert "Holm (family-wise error)" in (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    with pytest.raises(AuditUsageError, match="adjust must be one of holm, bh, none; got 'bonferroni'"):
        run_audit(f, tmp_path / "b", adjust="bonferroni", **kw)
