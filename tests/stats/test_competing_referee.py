"""Competing-risk metrics against R (prodlim, riskRegression::Score, pec, cmprsk::crr) on the
referee fixture ``competing_synth`` (tests/reference/referee/README.md, "Competing-risk metrics")."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.stats import kaplan_meier_risk
from radiorisk.stats._aalen_johansen import aalen_johansen
from radiorisk.stats._competing import (
    _ccr_parts,
    auc_cr,
    brier_cr,
    c_cr,
    fine_gray_calibration,
    ipa_cr,
    oe_ratio_cr,
)

REFEREE = Path(__file__).resolve().parents[1] / "reference" / "referee"
T0 = 60.0
GROUPS = ["sex", "ethnicity"]
# The README's tolerance is 1e-6; an independent implementation reaches <= 3.1e-11 here.
TOL = 1e-9


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return pd.read_csv(REFEREE / "competing_synth.csv", dtype={g: str for g in GROUPS},
                       keep_default_na=False)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return pd.read_csv(REFEREE / "competing_synth.metrics.csv", dtype={"group": str, "attribute": str})


@pytest.fixture(scope="module")
def r_json() -> dict:
    with open(REFEREE / "r_json" / "competing_synth.json", encoding="utf-8") as fh:
        return json.load(fh)["results"]


def _subsets(data, r_json):
    yield "overall", "all", data, r_json["overall"]
    for g in GROUPS:
        for level, res in r_json[f"by_{g}"].items():
            yield g, level, data[data[g] == level], res


def _arrays(d):
    return d["time"].to_numpy(float), d["status"].to_numpy(float), d["risk"].to_numpy(float)


def _metrics(t, s, r):
    a, b = auc_cr(t, s, r, horizon=T0), brier_cr(t, s, r, horizon=T0)
    cal = fine_gray_calibration(t, s, r, horizon=T0)
    return {"c_cr": (c_cr(t, s, r, horizon=T0), None), "auc_cr": (a.estimate, a),
            "brier_cr": (b.estimate, b), "ipa_cr": (ipa_cr(t, s, r, horizon=T0), None),
            "oe_ratio_cr": (oe_ratio_cr(t, s, r, horizon=T0), None), "ici_cr": (cal.ici, None),
            "e50_cr": (cal.e50, None), "e90_cr": (cal.e90, None), "emax_cr": (cal.emax, None)}


def test_every_metric_of_every_group_equals_r(data, reference, r_json):
    seen = 0
    for attr, level, d, _ in _subsets(data, r_json):
        t, s, r = _arrays(d)
        ref = reference[(reference["attribute"] == attr) & (reference["group"] == level)]
        assert len(ref) == 9, (attr, level)
        assert set(ref["n"]) == {len(d)} and set(ref["events"]) == {int(np.sum((s == 1) & (t <= T0)))}
        mine = _metrics(t, s, r)
        for row in ref.itertuples():
            est, full = mine[row.metric]
            assert est == pytest.approx(row.estimate, abs=TOL), (attr, level, row.metric)
            if not np.isnan(row.ci_low):  # auc_cr and brier_cr carry Score's CI
                assert [full.ci_low, full.ci_high] == pytest.approx([row.ci_low, row.ci_high],
                                                                    abs=1e-12), (attr, level, row.metric)
            seen += 1
    assert seen == len(reference) == 72


def test_details_equal_r_json(data, r_json):
    for attr, level, d, res in _subsets(data, r_json):
        t, s, r = _arrays(d)
        where = (attr, level)
        aj = aalen_johansen(t, s, horizon=T0).at_horizon
        assert [aj.estimate, aj.ci_low, aj.ci_high] == pytest.approx(
            [res["aj_cif_t0"]["est"], *res["aj_cif_t0"]["ci95"]], abs=1e-12), where
        a, b = auc_cr(t, s, r, horizon=T0), brier_cr(t, s, r, horizon=T0)
        assert a.se == pytest.approx(res["auc_cr"]["se"], abs=1e-12), where
        assert b.se == pytest.approx(res["brier_cr"]["se"], abs=1e-12), where
        parts = _ccr_parts(t, s, r, T0, 1)
        cc = res["c_cr"]
        assert [parts["pairs_A"], parts["pairs_B"]] == [cc["pairs"]["A"], cc["pairs"]["B"]], where
        assert [parts["concordant_A"], parts["concordant_B"]] == [cc["concordant"]["A"],
                                                                  cc["concordant"]["B"]], where
        cal = fine_gray_calibration(t, s, r, horizon=T0)
        fg = res["calibration_fg"]
        np.testing.assert_allclose(cal.model["knots"], fg["knots"], atol=1e-12)
        # Black: crr stopped at the double-precision floor (criterion 3.1e-11), ~1e-9 from the MLE
        np.testing.assert_allclose(cal.model["coef"], fg["coef"], atol=1e-8)
        assert cal.model["loglik"] == pytest.approx(fg["loglik"], abs=1e-9), where
        assert cal.model["loglik_null"] == pytest.approx(fg["loglik_null"], abs=1e-9), where
        assert cal.model["Lambda0_t0"] == pytest.approx(fg["Lambda0_t0"], rel=1e-8), where
        assert cal.model["converged"] and cal.model["criterion"] < 1e-12, where


def test_aalen_johansen_is_not_one_minus_km(data, r_json):
    # pitfall 1: the naive 1 - KM (competing events censored) overstates the risk
    t, s, _ = _arrays(data)
    km = kaplan_meier_risk(t, (s == 1).astype(float), horizon=T0).estimate
    assert km == pytest.approx(r_json["overall"]["km_naive_risk_t0"], abs=1e-12)
    assert aalen_johansen(t, s, horizon=T0).at_horizon.estimate < km - 0.01


def test_events_at_t0_count(data):
    t, s, r = _arrays(data)
    assert np.sum((t == T0) & (s == 1)) == 7
    for f in (c_cr, lambda *a, **k: auc_cr(*a, **k).estimate, lambda *a, **k: brier_cr(*a, **k).estimate):
        assert abs(f(t, s, r, horizon=T0) - f(t, s, r, horizon=T0 - 0.5)) > 1e-6


def test_compare_metrics_tool_agrees(data, reference, r_json, tmp_path, capsys):
    """The referee's own checker, at 1e-9 and with the CIs and counts."""
    rows = []
    for attr, level, d, _ in _subsets(data, r_json):
        t, s, r = _arrays(d)
        events = int(np.sum((s == 1) & (t <= T0)))
        for metric, (est, full) in _metrics(t, s, r).items():
            lo, hi = (full.ci_low, full.ci_high) if full is not None else (np.nan, np.nan)
            rows.append({"attribute": attr, "group": level, "metric": metric, "estimate": repr(float(est)),
                         "ci_low": repr(float(lo)), "ci_high": repr(float(hi)), "n": len(d), "events": events})
    path = tmp_path / "metrics.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    spec = importlib.util.spec_from_file_location("referee_compare_metrics", REFEREE / "compare_metrics.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    code = mod.main([str(path), str(REFEREE / "competing_synth.metrics.csv"), "--tol", "1e-9",
                     "--check-ci", "--strict-counts"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "metrics agree: 72 of 72"
