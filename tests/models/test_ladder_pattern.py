"""The modality ladder: structure, PET populations, and the published pattern in established CAD.

Kwiecinski 2022 (J Nucl Med): clinical 0.64 -> plaque 0.72 -> all inputs 0.85 for
myocardial infarction in established CAD; the synthetic cohort was tuned to it
(docs/synthetic_cohort.md).  We check the cross-validated Harrell C of coxph on
the default blocks with MI as the outcome, each within +-0.05 (slow, n = 6000)
or +-0.08 (fast, n = 1500).
"""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.datasets import simulate_cohort
from radiorisk.features._assemble import assemble_cohort
from radiorisk.models._ladder import LADDER_COLUMNS, LadderResult, modality_ladder

PUBLISHED = {"clinical": 0.64, "+ccta": 0.72, "+pet": 0.85}
COX = {"penalizer": 0.01}  # PET near-separates MI (no MI with CMA = 0), as published


def _check_pattern(lad, tol):
    c = lad.estimates("harrell_c")
    assert list(c.index) == ["clinical", "+ccta", "+pet"]
    for rung, target in PUBLISHED.items():
        assert abs(c[rung] - target) <= tol, (rung, c[rung], target)
    assert c.is_monotonic_increasing


@pytest.fixture(scope="module")
def cad_mi():
    return assemble_cohort(simulate_cohort(1500, mode="established-cad", seed=31), mace=("mi",))


@pytest.fixture(scope="module")
def ladder_fast(cad_mi):
    return modality_ladder("coxph", cad_mi, horizon=1826, random_state=0, repeats=1, folds=5,
                           n_boot=100, params=COX)


def test_ladder_table(ladder_fast, cad_mi):
    lad = ladder_fast
    assert isinstance(lad, LadderResult)
    t = lad.to_frame()
    assert tuple(t.columns) == LADDER_COLUMNS
    assert set(t["population"]) == {"all"}  # every patient has PET in established CAD
    disc = t[t["reference"] == ""]
    assert len(disc) == 3 * 3 and set(disc["metric"]) == {"harrell_c", "uno_c", "td_auc"}
    comp = t[t["reference"] != ""]
    assert set(comp["metric"]) == {"delta_harrell_c", "delta_uno_c", "delta_td_auc", "nri",
                                   "nri_events", "nri_nonevents", "idi"}
    assert list(comp.drop_duplicates("rung")["reference"]) == ["clinical", "+ccta"]
    assert (t["ci_low"] <= t["estimate"]).all() and (t["estimate"] <= t["ci_high"]).all()
    assert (t["n"] == cad_mi.n).all() and (t["events"] == cad_mi.event.sum()).all()
    # paired difference = difference of the estimates
    d = comp[(comp["rung"] == "+pet") & (comp["metric"] == "delta_harrell_c")]["estimate"].iloc[0]
    c = lad.estimates("harrell_c")
    assert d == pytest.approx(c["+pet"] - c["+ccta"])
    for m in ("delta_harrell_c", "nri", "idi"):
        row = comp[(comp["rung"] == "+pet") & (comp["metric"] == m)].iloc[0]
        assert row["estimate"] > 0 and row["ci_low"] > 0 and row["p_value"] < 0.05
    assert any("radiomics have no columns" in n for n in lad.notes)
    assert lad.summary().shape[0] == 3


def test_published_pattern_fast(ladder_fast):
    _check_pattern(ladder_fast, tol=0.08)


@pytest.mark.slow
def test_published_pattern_cv():
    data = assemble_cohort(simulate_cohort(6000, mode="established-cad", seed=32), mace=("mi",))
    lad = modality_ladder("coxph", data, horizon=1826, random_state=0, repeats=2, folds=5,
                          n_boot=200, params=COX, n_jobs=2)
    _check_pattern(lad, tol=0.05)


def test_pet_population_in_chest_pain(chest_cohort):
    data = assemble_cohort(chest_cohort, mace=("mi", "cardiac_death", "ua_hosp", "revasc_unplanned"))
    lad = modality_ladder("coxph", data, horizon=1826, random_state=1, repeats=1, folds=3,
                          rungs=("clinical", "pet"), n_boot=30, params={"penalizer": 0.5})
    t = lad.to_frame()
    n_pet = int(data.pet_available.sum())
    all_rows = t[t["population"] == "all"]
    pet_rows = t[t["population"] == "pet_available"]
    assert set(all_rows["rung"]) == {"clinical"} and (all_rows["n"] == data.n).all()
    assert set(pet_rows["rung"]) == {"clinical", "+pet"} and (pet_rows["n"] == n_pet).all()
    assert any("PET-available patients only" in n for n in lad.notes)
    cv = lad.cv[("pet_available", "+pet")]
    assert "pet_available" not in cv.columns  # constant among patients with PET
    assert cv.oof["patient_id"].isin(data.X.index[data.pet_available]).all()


def test_reuse_and_unknown_rung(cad_mi, ladder_fast):
    cv = ladder_fast.cv[("all", "+ccta")]
    lad = modality_ladder("coxph", cad_mi, horizon=1826, random_state=0, repeats=1, folds=5,
                          rungs=("clinical", "ccta"), n_boot=0, params=COX, reuse=[cv])
    assert lad.cv[("all", "+ccta")] is cv
    assert np.isnan(lad.to_frame()["ci_low"]).all()
    with pytest.raises(ValueError, match="unknown block"):
        modality_ladder("coxph", cad_mi, horizon=1826, random_state=0, rungs=("clinical", "mri"))
