"""The Greenwood-Nam-D'Agostino test against the R reconstruction of GND.calib (Demler et al. 2015)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.stats import NotEstimableError, gnd_test, risk_groups

REF = Path(__file__).resolve().parents[1] / "reference"
R_OUT = pd.read_csv(REF / "calibration_tests" / "calibration_tests.csv", dtype={"group": str})
SETS = {"survival_synth": (60, ["sex", "ethnicity"]), "survival_whas500": (365, ["gender"])}


@pytest.mark.parametrize("stem", sorted(SETS))
def test_gnd_equals_r_overall_and_per_group(stem):
    t0, attrs = SETS[stem]
    d = pd.read_csv(REF / "referee" / f"{stem}.csv", dtype={a: str for a in attrs})
    subs = [("overall", "all", d)] + [(a, g, d[d[a] == g]) for a in attrs for g in sorted(d[a].unique())]
    for attr, group, x in subs:
        res = gnd_test(x["time"], x["event"], x["risk"], horizon=t0)
        r = R_OUT[(R_OUT["dataset"] == stem) & (R_OUT["attribute"] == attr) & (R_OUT["group"] == group)]
        r = r.set_index("quantity")["value"]
        assert (res.df, res.n_groups) == (int(r["gnd_df"]), int(r["gnd_groups"])), (attr, group)
        np.testing.assert_allclose([res.statistic, res.p_value], [r["gnd_chi2"], r["gnd_p"]], rtol=0, atol=1e-6)
        assert (res.table["events"] >= 5).all() and res.table["n"].sum() == len(x)


def test_risk_groups_merge_adjacent_groups_until_each_has_enough_events():
    risk = np.arange(1, 21) / 40
    ev = np.zeros(20)
    ev[[0, 9, 10, 19]] = 1
    g = risk_groups(risk, ev, n_groups=4, min_events=2)
    assert g.tolist() == [1] * 10 + [2] * 10  # groups 1+2 and 3+4, in risk order
    assert risk_groups(risk, ev, n_groups=4, min_events=5).tolist() == [1] * 20


def test_gnd_rejects_a_miscalibrated_model_and_not_a_calibrated_one():
    rng = np.random.default_rng(2)
    r = rng.uniform(0.05, 0.5, 3000)
    t = rng.exponential(-5 / np.log1p(-r))
    time, event = np.minimum(t, 8), (t <= 8).astype(int)
    assert gnd_test(time, event, r, horizon=5).p_value > 0.001
    assert gnd_test(time, event, r * 0.6, horizon=5).p_value < 1e-6


def test_gnd_needs_two_groups():
    with pytest.raises(NotEstimableError, match="fewer than 2 risk groups"):
        gnd_test([1, 2, 3, 4, 9, 9], [1, 1, 0, 0, 0, 0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], horizon=5)
