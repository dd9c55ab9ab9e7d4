"""Cohort assembly: one row per patient, blocks, PET missingness, outcome from components."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import simulate_cohort, write_synthetic_cohort
from radiorisk.features._assemble import (
    DEFAULT_MACE,
    MODALITY_BLOCKS,
    CohortData,
    assemble_cohort,
)


def test_one_row_per_patient_and_blocks(chest_cohort):
    data = assemble_cohort(chest_cohort, horizon=1826)
    assert isinstance(data, CohortData)
    assert data.X.index.is_unique and data.X.index.name == "patient_id"
    assert list(data.X.index) == list(chest_cohort.patients["patient_id"])
    assert tuple(data.blocks) == MODALITY_BLOCKS
    cols = [c for b in MODALITY_BLOCKS for c in data.blocks[b]]
    assert sorted(cols) == sorted(data.X.columns) and len(cols) == len(set(cols))
    assert {"age_years", "sex_male", "diabetes", "smoking_current", "hypertension", "ldl_mmol_l"} <= set(
        data.blocks["clinical"])
    assert {"log1p_cac_agatston", "cad_rads", "sis", "obstructive", "log1p_tpv_mm3", "lapb_pct",
            "hrp_modifier"} <= set(data.blocks["ccta"])
    assert data.blocks["radiomics"] == ()
    assert set(data.blocks["pet"]) == {"log1p_cma_patient", "cma_gt0", "tbr_max_patient", "pet_available"}
    assert list(data.groups.columns) == ["sex", "ethnicity", "site"]
    assert set(data.groups["ethnicity"]) <= {"white", "black", "south_asian", "east_asian", "other"}
    # no FAI unless asked
    assert not any(c.startswith("fai_") for c in data.X.columns)
    assert any(c.startswith("fai_") for c in assemble_cohort(chest_cohort, fai=True).X.columns)


def test_pet_nan_exactly_where_unavailable(chest_cohort):
    data = assemble_cohort(chest_cohort)
    avail = chest_cohort.pet.set_index("patient_id")["pet_available"].reindex(data.X.index)
    assert (data.pet_available == avail).all()
    assert 0 < data.pet_available.mean() < 0.3
    for c in ("log1p_cma_patient", "cma_gt0", "tbr_max_patient"):
        assert data.X.loc[~data.pet_available, c].isna().all()
        assert data.X.loc[data.pet_available, c].notna().all()
    assert (data.X["pet_available"] == data.pet_available.astype(float)).all()
    # the only NaN of the cohort are the PET values
    nan_cols = set(data.X.columns[data.X.isna().any()])
    assert nan_cols == {"log1p_cma_patient", "cma_gt0", "tbr_max_patient"}
    assert any("PET available for" in n for n in data.notes)


def test_outcome_default_matches_generator(chest_cohort):
    data = assemble_cohort(chest_cohort)
    o = chest_cohort.outcomes.set_index("patient_id").loc[data.X.index]
    assert o["mace_definition"].iloc[0] == "+".join(DEFAULT_MACE)
    np.testing.assert_array_equal(data.event.to_numpy(), o["mace_event"].astype(int).to_numpy())
    np.testing.assert_allclose(data.time.to_numpy(), o["mace_time_days"].to_numpy())
    assert data.event_type is None
    assert 'non-cardiac death is treated as censoring (competing="censor")' in data.notes


def test_outcome_recomputed_from_components(chest_cohort):
    o = chest_cohort.outcomes.set_index("patient_id")
    data = assemble_cohort(chest_cohort, mace=("mi", "ua_hosp"))
    o = o.loc[data.X.index]
    t_mi = o["mi_time_days"].where(o["mi"], np.inf)
    t_ua = o["ua_hosp_time_days"].where(o["ua_hosp"], np.inf)
    first = np.minimum(t_mi, t_ua)
    ev = np.isfinite(first)
    np.testing.assert_array_equal(data.event.to_numpy(), ev.astype(int))
    np.testing.assert_allclose(data.time.to_numpy(), np.where(ev, first, o["fu_days"]))
    assert data.event.sum() < assemble_cohort(chest_cohort).event.sum()


def test_competing_option(chest_cohort):
    data = assemble_cohort(chest_cohort, mace=("mi",), competing="competing")
    o = chest_cohort.outcomes.set_index("patient_id").loc[data.X.index]
    et = data.event_type
    assert set(et.unique()) <= {0, 1, 2}
    assert ((et == 1) == (data.event == 1)).all()
    dead = (o["noncardiac_death"] | o["cardiac_death"]) & ~o["mi"]
    np.testing.assert_array_equal((et == 2).to_numpy(), dead.to_numpy())
    assert (et == 2).sum() > 0
    assert any("competing event" in n for n in data.notes)
    # time/event identical to the censoring view
    cens = assemble_cohort(chest_cohort, mace=("mi",))
    assert cens.time.equals(data.time) and cens.event.equals(data.event)
    assert "event_type" in data.to_frame().columns


def test_errors_name_the_problem(chest_cohort):
    with pytest.raises(ValueError, match="unknown component 'stroke'"):
        assemble_cohort(chest_cohort, mace=("mi", "stroke"))
    with pytest.raises(ValueError, match="competing must be one of"):
        assemble_cohort(chest_cohort, competing="drop")

    class Broken:
        patients = chest_cohort.patients.drop(columns=["diabetes"])
        scans, lesions, pet, outcomes = (chest_cohort.scans, chest_cohort.lesions, chest_cohort.pet,
                                         chest_cohort.outcomes)

    with pytest.raises(ValueError, match="table 'patients': required column\\(s\\) 'diabetes' missing"):
        assemble_cohort(Broken())

    class NoOutcome(Broken):
        patients = chest_cohort.patients
        outcomes = chest_cohort.outcomes.iloc[1:]

    with pytest.raises(ValueError, match="table 'outcomes': no row for 1 patient"):
        assemble_cohort(NoOutcome())


def _fake_radiomics(cohort, frac=0.5, seed=0):
    rng = np.random.default_rng(seed)
    les = cohort.lesions
    les = les[rng.random(len(les)) < frac]
    return pd.DataFrame({
        "patient_id": les["patient_id"].to_numpy(), "scan_id": les["scan_id"].to_numpy(),
        "lesion_id": les["lesion_id"].to_numpy(), "reader": "reader1",
        "n_voxels": rng.integers(50, 500, len(les)),
        "original_shape_VoxelVolume": les["v_total_mm3"].to_numpy(),
        "original_firstorder_Mean": les["hu_mean"].to_numpy() + rng.normal(0, 5, len(les)),
    })


def test_radiomics_block_partial_coverage(cad_cohort):
    rad = _fake_radiomics(cad_cohort, frac=0.3)
    data = assemble_cohort(cad_cohort, radiomics=rad)
    cols = data.blocks["radiomics"]
    assert all(c.startswith("rad_") for c in cols) and "rad_available" in cols
    assert "rad_original_firstorder_Mean__wmean" in cols
    ids = data.X.index
    with_lesions = ids.isin(cad_cohort.lesions["patient_id"])
    extracted = ids.isin(rad["patient_id"])
    X = data.X
    # extracted patients: available and finite
    assert (X.loc[extracted, "rad_available"] == 1).all()
    assert X.loc[extracted, list(cols)].notna().all().all()
    # lesions but none extracted: NaN, flagged
    miss = with_lesions & ~extracted
    assert miss.sum() > 0
    assert (X.loc[miss, "rad_available"] == 0).all()
    assert X.loc[miss, "rad_original_firstorder_Mean__max"].isna().all()
    # no lesion at all: explicit no-plaque zeros
    none = ~with_lesions
    if none.any():
        assert (X.loc[none, "rad_n_lesions"] == 0).all() and (X.loc[none, "rad_available"] == 1).all()
    # long format gives the same block
    long = rad.drop(columns="n_voxels").melt(id_vars=["patient_id", "scan_id", "lesion_id", "reader"],
                                             var_name="feature", value_name="value")
    data2 = assemble_cohort(cad_cohort, radiomics=long)
    pd.testing.assert_frame_equal(data2.X[list(cols)], X[list(cols)])


def test_from_folder_and_subset(tmp_path):
    d = tmp_path / "c"
    write_synthetic_cohort(d, n=120, mode="established-cad", seed=5)
    data = assemble_cohort(d)
    assert data.n == 120 and data.pet_available.all()
    sub = data.subset(data.event == 1)
    assert sub.n == int(data.event.sum()) and (sub.event == 1).all()
    assert sub.groups.index.equals(sub.X.index)
    y = data.y
    assert y.dtype.names == ("event", "time") and y["event"].sum() == data.event.sum()
    assert "CohortData(n=120" in repr(data) and "<table" in data._repr_html_()


def test_plaque_measurements_joined(cad_cohort):
    les = cad_cohort.lesions.sample(frac=0.4, random_state=1)
    plaque = pd.DataFrame({
        "patient_id": les["patient_id"], "lesion_id": les["lesion_id"], "reader": "reader1",
        "v_total_mm3": les["v_total_mm3"], "v_calcified_mm3": les["v_calcified_mm3"],
        "v_noncalcified_mm3": les["v_noncalcified_mm3"], "v_lap_mm3": les["v_lap_mm3"],
        "v_fibrofatty_mm3": les["v_fibrofatty_mm3"], "v_fibrous_mm3": les["v_fibrous_mm3"],
        "vessel_volume_mm3": les["vessel_volume_mm3"], "high_risk": les["hrp_count"] >= 2,
    })
    data = assemble_cohort(cad_cohort, plaque=plaque)
    img = [c for c in data.blocks["ccta"] if c.startswith("img_")]
    assert "img_log1p_tpv_mm3" in img and "img_available" in img and "img_lap_burden_pct" in img
    pid = les["patient_id"].iloc[0]
    expect = np.log1p(les.loc[les["patient_id"] == pid, "v_total_mm3"].sum())
    assert data.X.loc[pid, "img_log1p_tpv_mm3"] == pytest.approx(expect)


def test_simulate_with_two_scans_uses_earliest():
    c = simulate_cohort(50, mode="established-cad", seed=9)
    s2 = c.scans.copy()
    s2["scan_id"] = s2["scan_id"] + "b"
    s2["scan_date"] = "2030-01-01"
    s2["cac_agatston"] = 9999.0

    class Two:
        patients, lesions, pet, outcomes = c.patients, c.lesions, c.pet, c.outcomes
        scans = pd.concat([s2, c.scans])

    data = assemble_cohort(Two())
    np.testing.assert_allclose(data.X["log1p_cac_agatston"], np.log1p(c.scans["cac_agatston"]).to_numpy())
