"""Every competing-risk metric against R on a second fixture made independently of the referee's:
tests/reference/competing/competing_edge.csv (groups under 100 rows, a group without competing
events, risks of exactly 0 on a coarse grid), R output in competing_edge.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.stats._aalen_johansen import aalen_johansen
from radiorisk.stats._competing import (
    auc_cr,
    brier_cr,
    c_cr,
    fine_gray_calibration,
    ipa_cr,
    oe_ratio_cr,
)

HERE = Path(__file__).resolve().parents[1] / "reference" / "competing"
T0 = 5.0


def _subsets():
    d = pd.read_csv(HERE / "competing_edge.csv", dtype={"site": str})
    with open(HERE / "competing_edge.json", encoding="utf-8") as fh:
        res = json.load(fh)["results"]
    yield "overall", d, res["overall"]
    for site in sorted(d["site"].unique()):
        yield site, d[d["site"] == site], res[f"site_{site}"]


@pytest.mark.parametrize(("name", "d", "r"), list(_subsets()), ids=lambda v: v if isinstance(v, str) else "")
def test_equals_r(name, d, r):
    t, s, risk = d["time"].to_numpy(float), d["status"].to_numpy(float), d["risk"].to_numpy(float)
    assert r["n"] == len(t) and r["events"] == int(np.sum((s == 1) & (t <= T0)))
    aj = aalen_johansen(t, s, horizon=T0).at_horizon
    assert [aj.estimate, aj.se, aj.ci_low, aj.ci_high] == pytest.approx(
        [r["aj"]["est"], r["aj"]["se"], *r["aj"]["ci95"]], abs=1e-12)
    for fn, key in ((auc_cr, "auc_cr"), (brier_cr, "brier_cr")):
        e = fn(t, s, risk, horizon=T0)
        assert [e.estimate, e.se, e.ci_low, e.ci_high] == pytest.approx(
            [r[key]["est"], r[key]["se"], *r[key]["ci95"]], abs=1e-12), key
    assert ipa_cr(t, s, risk, horizon=T0) == pytest.approx(r["ipa_cr"], abs=1e-12)
    assert oe_ratio_cr(t, s, risk, horizon=T0) == pytest.approx(r["oe_ratio_cr"], abs=1e-12)
    c = c_cr(t, s, risk, horizon=T0)
    assert c == pytest.approx(r["c_cr"]["direct"], abs=1e-12)
    if "pec" in r["c_cr"]:  # pec::cindex where the group has competing events
        assert c == pytest.approx(r["c_cr"]["pec"], abs=1e-11)
    else:
        assert r["competing_total"] == 0
    cal = fine_gray_calibration(t, s, risk, horizon=T0)
    fg = r["calibration_fg"]
    np.testing.assert_allclose(cal.model["knots"], fg["knots"], atol=1e-12)
    np.testing.assert_allclose(cal.model["coef"], fg["coef"], atol=1e-9)
    assert cal.model["Lambda0_t0"] == pytest.approx(fg["Lambda0_t0"], rel=1e-9)
    assert [cal.ici, cal.e50, cal.e90, cal.emax] == pytest.approx(
        [fg["ici"], fg["e50"], fg["e90"], fg["emax"]], abs=1e-10)
