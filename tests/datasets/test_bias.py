"""Bias injection into the synthetic cohort (radiorisk.datasets._bias, applied by simulate_cohort)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets._bias import BIAS_PRESETS, BiasSpec, group_mask
from radiorisk.datasets._calibration import cox_fit
from radiorisk.datasets._cohort import simulate_cohort
from radiorisk.exceptions import RadioriskError


# ----------------------------------------------------------------------------- bias injection
@pytest.fixture(scope="module")
def ec_pair():
    kw = dict(n=30000, mode="established-cad", seed=77)
    return kw, simulate_cohort(**kw)


def _mi_rate(c, mask):
    o = c.outcomes
    t = np.where(o["mi"], o["mi_time_days"], o["fu_days"])
    return o["mi"][mask].sum() / t[mask].sum()


def test_bias_baseline_hazard(ec_pair):
    kw, base = ec_pair
    b = simulate_cohort(**kw, bias={"baseline_hr": {"south_asian": 1.8}})
    sa = (b.patients["ethnicity_group5"] == "south_asian").to_numpy()
    ratio = _mi_rate(b, sa) / _mi_rate(base, sa)
    assert 1.5 < ratio < 2.1, ratio
    assert abs(_mi_rate(b, ~sa) / _mi_rate(base, ~sa) - 1) < 0.08
    assert set(b.truth.loc[sa, "bias_baseline_hr"]) == {1.8}
    assert set(b.truth.loc[~sa, "bias_baseline_hr"]) == {1.0}


def test_bias_measurement_shift(ec_pair):
    kw, base = ec_pair
    b = simulate_cohort(**kw, bias={"measurement": [{"group": "Black", "variable": "lap", "factor": 0.6}]})
    bl = (b.patients["ethnicity_group5"] == "black").to_numpy()
    r = b.scans["lapv_mm3"][bl].sum() / base.scans["lapv_mm3"][bl].sum()
    assert abs(r - 0.6) < 0.01, r
    pd.testing.assert_series_equal(b.scans["lapv_mm3"][~bl], base.scans["lapv_mm3"][~bl])
    np.testing.assert_allclose(b.scans["tpv_mm3"], base.scans["tpv_mm3"])  # reclassified, not removed
    assert (b.truth.loc[bl, "bias_lap_factor"] == 0.6).all()
    assert (b.truth.loc[bl, "bias_measurement"] == "lap*0.6").all()
    # true values untouched
    pd.testing.assert_series_equal(b.truth["true_lapv_mm3"], base.truth["true_lapv_mm3"])


def test_bias_effect_modification(ec_pair):
    kw, base = ec_pair
    b = simulate_cohort(**kw, bias={"effect_modification": [{"group": "female", "feature": "hrp", "hr": 2.5}]})
    f = (b.patients["sex"] == "female").to_numpy()

    def log_hr(c, m):
        o, t = c.outcomes, c.truth
        time = np.where(o["mi"], o["mi_time_days"], o["fu_days"])[m]
        return cox_fit(t["true_hrp"].to_numpy(float)[m, None], time, o["mi"].to_numpy()[m])[0]

    diff = log_hr(b, f) - log_hr(base, f)
    assert abs(diff - np.log(2.5)) < 0.45, np.exp(diff)
    assert log_hr(b, ~f) == pytest.approx(log_hr(base, ~f))
    em = b.truth["bias_effect_modifier"]
    assert set(em[f & b.truth["true_hrp"].to_numpy()]) == {2.5} and set(em[~f]) == {1.0}


def test_bias_pet_access(ec_pair):
    kw, base = ec_pair
    b = simulate_cohort(**kw, bias={"pet_access": {"black": 0.4}})
    bl = (b.patients["ethnicity_group5"] == "black").to_numpy()
    assert abs(b.pet["pet_available"][bl].mean() - 0.4) < 0.05
    assert b.pet["pet_available"][~bl].all()
    assert b.pet.loc[~b.pet["pet_available"], "missing_reason"].notna().all()


def test_bias_under_ascertainment(ec_pair):
    kw, base = ec_pair
    b = simulate_cohort(**kw, bias={"under_ascertainment": {"south_asian": 0.4}})
    sa = (b.patients["ethnicity_group5"] == "south_asian").to_numpy()
    true_mi = b.truth["mi_true"].to_numpy()
    rec = b.outcomes["mi"].to_numpy()
    assert (true_mi == base.outcomes["mi"].to_numpy()).all()
    assert abs(rec[sa].sum() / true_mi[sa].sum() - 0.6) < 0.08
    assert (rec[~sa] == true_mi[~sa]).all()
    assert (~b.truth["bias_event_recorded"][sa]).sum() > 0 and b.truth["bias_event_recorded"][~sa].all()
    assert b.outcomes["mace_event"][sa].sum() < base.outcomes["mace_event"][sa].sum()


def test_bias_representation():
    c = simulate_cohort(20000, seed=41, bias={"representation": {"black": 0.02}})
    share = (c.patients["ethnicity_group5"] == "black").mean()
    assert abs(share - 0.02) < 3 * np.sqrt(0.02 * 0.98 / 20000) + 1e-3
    w = simulate_cohort(5000, seed=41, bias={"representation": {"female": 0.7}})
    assert abs((w.patients["sex"] == "female").mean() - 0.7) < 0.03


def test_bias_loss_to_followup_and_noise():
    kw = dict(n=10000, seed=43)
    base = simulate_cohort(**kw)
    b = simulate_cohort(**kw, bias={"loss_to_followup": {"black": 5.0}, "measurement_noise": {"black": 3.0}})
    bl = (b.patients["ethnicity_group5"] == "black").to_numpy()
    lost = (b.outcomes["censor_reason"] == "lost").to_numpy()
    lost0 = (base.outcomes["censor_reason"] == "lost").to_numpy()
    assert lost[bl].mean() > 2.5 * lost0[bl].mean()
    err = np.log1p(b.scans["tpv_mm3"]) - np.log1p(b.truth["true_tpv_mm3"])
    has = b.truth["n_lesions"].to_numpy() > 0
    assert err[bl & has].std() > 1.5 * err[~bl & has].std()


def test_bias_spec_api():
    for name, d in BIAS_PRESETS.items():
        assert BiasSpec.coerce(name).to_dict() == BiasSpec.from_dict(d).to_dict()
    b = BiasSpec.coerce('{"baseline_hr": {"SouthAsian": 1.5}}')
    assert b.baseline_hr == {"SouthAsian": 1.5}
    assert BiasSpec.coerce(b.to_dict()) == b
    assert BiasSpec().is_null() and not b.is_null()
    with pytest.raises(RadioriskError, match="unknown bias option"):
        BiasSpec.coerce({"baseline": {}})
    with pytest.raises(RadioriskError, match="variable"):
        BiasSpec(measurement=[{"group": "black", "variable": "weight", "factor": 2}])
    with pytest.raises(RadioriskError, match="outside"):
        BiasSpec(pet_access={"black": 1.5})
    with pytest.raises(RadioriskError, match="preset"):
        BiasSpec.coerce("no_such_preset")
    cols = {"sex": np.array(["female"]), "ethnicity": np.array(["white"]), "ethnicity_group5": np.array(["white"])}
    with pytest.raises(RadioriskError, match="not a sex"):
        group_mask("martian", cols)
