"""Survival metrics against R (survival, riskRegression, rms) on the referee data sets."""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.evaluation import SURVIVAL_METRICS, compute_metrics, write_metrics_csv
from radiorisk.stats import brier_t, cox_calibration, harrell_c, kaplan_meier_risk, td_auc, uno_c

EXPECTED = {"survival_synth": 80, "survival_whas500": 30}


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_metrics_csv_matches_r(stem, referee, compare_metrics, tmp_path, capsys):
    kw, groups = referee.sets[stem]
    m = compute_metrics(referee.input(stem), groups=groups, **kw)
    assert set(m["metric"]) == set(SURVIVAL_METRICS)
    path = write_metrics_csv(m, tmp_path / "metrics.csv")
    code = compare_metrics.main([str(path), str(referee.dir / f"{stem}.metrics.csv"),
                                 "--check-ci", "--strict-counts"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out.strip().splitlines()[-1] == f"metrics agree: {EXPECTED[stem]} of {EXPECTED[stem]}"


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_details_match_r_json(stem, referee):
    t0 = referee.sets[stem][0]["horizon"]
    for attr, level, d, r in referee.subsets(stem):
        t, e, risk = d["time"], d["event"], d["risk"]
        where = (stem, attr, level)
        assert harrell_c(t, e, risk) == pytest.approx(r["harrell_c"]["est"], abs=1e-12), where
        assert uno_c(t, e, risk, horizon=t0) == pytest.approx(r["uno_c"]["est"], abs=1e-12), where
        a = td_auc(t, e, risk, horizon=t0)
        assert [a.estimate, a.se] == pytest.approx([r["td_auc"]["est"], r["td_auc"]["se"]], abs=1e-12), where
        b = brier_t(t, e, risk, horizon=t0)
        assert [b.estimate, b.se] == pytest.approx([r["brier_t0"]["est"], r["brier_t0"]["se"]], abs=1e-12)
        km = kaplan_meier_risk(t, e, horizon=t0)
        assert [km.estimate, km.ci_low, km.ci_high] == pytest.approx(
            [r["km_risk_t0"]["est"], *r["km_risk_t0"]["ci95"]], abs=1e-12), where
        cal = cox_calibration(t, e, risk, horizon=t0)
        rc = r["calibration_rcs"]
        np.testing.assert_allclose(cal.model["knots"], rc["knots"], atol=1e-12)
        np.testing.assert_allclose(cal.model["coef"], rc["coef"], atol=1e-9)
        assert [cal.ici, cal.e50, cal.e90, cal.emax] == pytest.approx(
            [rc["ICI"], rc["E50"], rc["E90"], rc["Emax"]], abs=1e-10), where


def test_uno_counts_events_at_t0_and_g_convention(referee):
    d = referee.input("survival_synth")
    t, e, r = d["time"].to_numpy(float), d["event"].to_numpy(float), d["risk"].to_numpy(float)
    full = uno_c(t, e, r, horizon=60)
    # dropping the one event at t0 (scikit-survival's tau convention) moves Uno's C (pitfall 2)
    assert abs(uno_c(t, e, r, horizon=59.5) - full) > 1e-5


def test_missing_group_values_stay_in_overall(referee):
    kw, _ = referee.sets["survival_whas500"]
    d = referee.input("survival_whas500").copy()
    d.loc[:9, "gender"] = ""
    d.loc[10:14, "gender"] = "NA"
    m = compute_metrics(d, groups=["gender"], **kw)
    assert sorted(set(m.loc[m["attribute"] == "gender", "group"])) == ["0", "1"]
    n = m.drop_duplicates(["attribute", "group"]).set_index("group")["n"]
    assert n["all"] == 500 and n["0"] + n["1"] == 485
