"""Binary metrics against R (pROC, glm, loess) on the referee data sets."""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.evaluation import BINARY_METRICS, compute_metrics, write_metrics_csv
from radiorisk.stats import auc_delong, calibration_intercept, calibration_slope, loess_calibration

STEM = "binary_synth"


def _compare(compare_metrics, capsys, cand, ref):
    code = compare_metrics.main([str(cand), str(ref), "--check-ci", "--strict-counts"])
    out = capsys.readouterr().out
    assert code == 0, out
    return out.strip().splitlines()[-1]


def test_metrics_csv_matches_r(referee, compare_metrics, tmp_path, capsys):
    kw, groups = referee.sets[STEM]
    m = compute_metrics(referee.input(STEM), groups=groups, **kw)
    assert set(m["metric"]) == set(BINARY_METRICS)
    path = write_metrics_csv(m, tmp_path / "metrics.csv")
    last = _compare(compare_metrics, capsys, path, referee.dir / f"{STEM}.metrics.csv")
    assert last == "metrics agree: 72 of 72"


def test_auc_delong_and_wald_cis_match_r(referee):
    for attr, level, d, r in referee.subsets(STEM):
        a = auc_delong(d["y"], d["p"])
        assert a.estimate == pytest.approx(r["auc"]["est"], abs=1e-12), (attr, level)
        assert a.se == pytest.approx(r["auc"]["se_delong"], abs=1e-12), (attr, level)
        assert [a.ci_low, a.ci_high] == pytest.approx(r["auc"]["ci95_delong"], abs=1e-12)
        ci = calibration_intercept(d["y"], d["p"])
        assert ci.estimate == pytest.approx(r["cal_intercept"]["est"], abs=1e-10)
        assert ci.se == pytest.approx(r["cal_intercept"]["se"], abs=1e-8)
        cs = calibration_slope(d["y"], d["p"])
        assert cs.estimate == pytest.approx(r["cal_slope"]["est"], abs=1e-10)
        assert [cs.ci_low, cs.ci_high] == pytest.approx(r["cal_slope"]["ci95"], abs=1e-7)


def test_loess_family_matches_r_interpolate(referee):
    for attr, level, d, r in referee.subsets(STEM):
        res = loess_calibration(d["y"], d["p"])
        ref = r["ici_loess"]
        got = [res.ici, res.e50, res.e90, res.emax]
        assert got == pytest.approx([ref["ICI"], ref["E50"], ref["E90"], ref["Emax"]], abs=1e-10), (attr, level)
        # the direct (exact local quadratic) surface differs by more than the tolerance (pitfall 4)
        assert abs(res.emax - r["ici_loess_direct"]["Emax"]) > 1e-6 or attr != "overall"


def test_val_prob_intercept_is_not_calibration_in_the_large(referee):
    d = referee.input(STEM)
    _, _, _, r = next(iter(referee.subsets(STEM)))
    assert calibration_intercept(d["y"], d["p"]).estimate == pytest.approx(0.131593552480622, abs=1e-9)
    assert abs(calibration_intercept(d["y"], d["p"]).estimate - r["val_prob"]["Intercept"]) > 0.05


def test_group_rows_only_and_n_events(referee):
    kw, groups = referee.sets[STEM]
    d = referee.input(STEM)
    m = compute_metrics(d, groups=groups, **kw)
    sub = d[d["ethnicity"] == "SouthAsian"]
    row = m[(m["group"] == "SouthAsian") & (m["metric"] == "brier")].iloc[0]
    assert row["n"] == len(sub) and row["events"] == int(sub["y"].astype(int).sum())
    assert row["estimate"] == pytest.approx(np.mean((sub["p"] - sub["y"]) ** 2), abs=1e-15)
