"""Tests of the tabular synthetic cohort generator (radiorisk.datasets._cohort and its tables).

Calibration against the published targets is in ``test_calibration.py``, bias
injection in ``test_bias.py``.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets._cohort import SyntheticCohort, model_parameters, simulate_cohort
from radiorisk.exceptions import RadioriskError
from radiorisk.schemas import load_schema

SCHEMA_TABLES = ("patients", "scans", "lesions", "pet", "outcomes", "truth")
TRUTH_LESION_COLS = ["lesion_id", "scan_id", "patient_id", "vessel", "segment", "length_mm",
                     "ref_diameter_mm", "remodelling_index", "plaque_burden", "v_total_mm3",
                     "v_calcified_mm3", "v_fibrous_mm3", "v_fibrofatty_mm3", "v_lap_mm3", "spotty_calc",
                     "napkin_ring", "pos_remodelling", "latent_v", "latent_z"]


# ----------------------------------------------------------------------------- schema checker
def schema_violations(table: str, df: pd.DataFrame) -> list[str]:
    """Column names/order, required non-null, types, enums, ranges, patterns, uniqueness."""
    sch = load_schema(table)
    errs = []
    names = sch.field_names
    extra = [c for c in df.columns if c not in names]
    if extra and not sch.additional_fields:
        errs.append(f"{table}: columns not in schema {extra}")
    known = [c for c in df.columns if c in names]
    if known != [c for c in names if c in known]:
        errs.append(f"{table}: columns not in schema order")
    for f in sch.fields:
        if f.name not in df.columns:
            if f.required:
                errs.append(f"{table}.{f.name}: required column missing")
            continue
        s = df[f.name]
        nn = s.dropna()
        if f.required and s.isna().any():
            errs.append(f"{table}.{f.name}: {int(s.isna().sum())} missing values in a required column")
        if len(nn) == 0:
            continue
        if f.type == "boolean" and not (s.dtype == bool or str(s.dtype) == "boolean"):
            errs.append(f"{table}.{f.name}: dtype {s.dtype} is not boolean")
        if f.type == "integer" and not (pd.api.types.is_integer_dtype(s.dtype)):
            errs.append(f"{table}.{f.name}: dtype {s.dtype} is not integer")
        if f.type == "number" and not pd.api.types.is_numeric_dtype(s.dtype):
            errs.append(f"{table}.{f.name}: dtype {s.dtype} is not numeric")
        if f.type in ("string", "date") and s.dtype != object:
            errs.append(f"{table}.{f.name}: dtype {s.dtype} is not str/object")
        if f.enum is not None:
            bad = set(nn.unique()) - set(f.enum)
            if bad:
                errs.append(f"{table}.{f.name}: values {sorted(map(str, bad))[:5]} not in enum")
        if f.type in ("number", "integer"):
            v = nn.to_numpy(float)
            if not np.isfinite(v).all():
                errs.append(f"{table}.{f.name}: non-finite values")
            if f.minimum is not None and (v < f.minimum).any():
                errs.append(f"{table}.{f.name}: {int((v < f.minimum).sum())} values < {f.minimum}")
            if f.maximum is not None and (v > f.maximum).any():
                errs.append(f"{table}.{f.name}: {int((v > f.maximum).sum())} values > {f.maximum}")
            if f.exclusive_minimum is not None and (v <= f.exclusive_minimum).any():
                errs.append(f"{table}.{f.name}: values <= {f.exclusive_minimum}")
        if f.pattern is not None:
            rx = re.compile(f.pattern)
            bad = [x for x in nn.astype(str).unique() if not rx.fullmatch(x)]
            if bad:
                errs.append(f"{table}.{f.name}: {bad[:3]} do not match {f.pattern}")
        if f.unique and s.duplicated().any():
            errs.append(f"{table}.{f.name}: duplicated values")
    for fk in sch.foreign_keys:
        col, ref = fk["fields"][0], fk["reference"]
        errs.append(("fk", table, col, ref["resource"], ref["fields"][0]))
    return errs


def check_cohort(c: SyntheticCohort) -> list[str]:
    errs, fks = [], []
    for t in SCHEMA_TABLES:
        for e in schema_violations(t, c.tables[t]):
            (fks if isinstance(e, tuple) else errs).append(e)
    for _, table, col, ref_t, ref_c in fks:
        bad = ~c.tables[table][col].isin(c.tables[ref_t][ref_c])
        if bad.any():
            errs.append(f"{table}.{col}: {int(bad.sum())} values not in {ref_t}.{ref_c}")
    return errs


@pytest.fixture(scope="module")
def cp_small():
    return simulate_cohort(3000, mode="chest-pain", seed=11)


@pytest.fixture(scope="module")
def ec_small():
    return simulate_cohort(3000, mode="established-cad", seed=12)


# ----------------------------------------------------------------------------- structure
@pytest.mark.parametrize("mode", ["chest-pain", "established-cad"])
@pytest.mark.parametrize("pet_missing", ["mar", "mnar", "group"])
def test_tables_conform_to_schemas(mode, pet_missing):
    c = simulate_cohort(1500, mode=mode, seed=21, pet_missing=pet_missing, bias="audit_demo")
    assert check_cohort(c) == []


def test_schema_conformance_survives_csv_round_trip(cp_small, tmp_path):
    paths = cp_small.write_tables(tmp_path)
    assert [p.name for p in paths] == ["patients.csv", "scans.csv", "lesions.csv", "pet.csv",
                                       "outcomes.csv", "truth.csv", "truth_lesions.csv"]
    for t in SCHEMA_TABLES:
        df = pd.read_csv(tmp_path / f"{t}.csv", keep_default_na=True, dtype_backend="numpy_nullable")
        sch = load_schema(t)
        assert list(df.columns) == list(cp_small.tables[t].columns)
        for f in sch.fields:
            if f.required and f.name in df:
                assert not df[f.name].isna().any(), (t, f.name)
        assert len(df) == len(cp_small.tables[t])


def test_identifiers_and_keys(cp_small):
    p, s, les = cp_small.patients, cp_small.scans, cp_small.lesions
    assert p["patient_id"].str.fullmatch(r"P\d{6}").all()
    assert s["scan_id"].str.fullmatch(r"S\d{6}").all()
    assert les["lesion_id"].str.fullmatch(r"L\d{7}").all()
    assert s["patient_id"].is_unique and len(s) == len(p)  # one scan per patient
    assert (p["cohort"] == "chest-pain").all()
    assert set(p["site_id"]) <= {f"site{i:02d}" for i in range(1, 9)}
    for t in ("pet", "outcomes", "truth"):
        assert cp_small.tables[t]["patient_id"].tolist() == p["patient_id"].tolist()
    # lesion segments are distinct within a scan
    assert not les.duplicated(["scan_id", "segment_start"]).any()


def test_ethnicity_fine_and_coarse_groups_agree(cp_small):
    p = cp_small.patients
    coarse = {"white": "white", "south_asian_indian": "south_asian", "south_asian_pakistani": "south_asian",
              "south_asian_bangladeshi": "south_asian", "black_african": "black", "black_caribbean": "black",
              "black_other": "black", "east_asian_chinese": "east_asian", "other_asian": "east_asian",
              "hispanic_latino": "other", "mixed": "other", "other": "other"}
    assert (p["ethnicity"].map(coarse) == p["ethnicity_group5"]).all()
    share = p["ethnicity_group5"].value_counts(normalize=True)
    assert abs(share["white"] - 0.55) < 0.04 and abs(share["south_asian"] - 0.15) < 0.03


def test_plaque_volumes_add_up(ec_small):
    les, s = ec_small.lesions, ec_small.scans
    np.testing.assert_allclose(les["v_calcified_mm3"] + les["v_noncalcified_mm3"], les["v_total_mm3"], atol=1e-6)
    np.testing.assert_allclose(les["v_fibrous_mm3"] + les["v_fibrofatty_mm3"] + les["v_lap_mm3"],
                               les["v_noncalcified_mm3"], atol=1e-6)
    np.testing.assert_allclose(s["cpv_mm3"] + s["ncpv_mm3"], s["tpv_mm3"], atol=1e-6)
    np.testing.assert_allclose(s["fibrous_mm3"] + s["fibrofatty_mm3"] + s["lapv_mm3"], s["ncpv_mm3"], atol=1e-6)
    sums = les.groupby("scan_id")[["v_total_mm3", "v_lap_mm3"]].sum().reindex(s["scan_id"]).fillna(0.0)
    np.testing.assert_allclose(sums["v_total_mm3"].to_numpy(), s["tpv_mm3"].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(sums["v_lap_mm3"].to_numpy(), s["lapv_mm3"].to_numpy(), atol=1e-6)
    n_les = les.groupby("scan_id").size().reindex(s["scan_id"]).fillna(0).to_numpy()
    assert (s["sis"].to_numpy() == n_les).all()
    assert ((s["cad_rads"] == "0") == (s["sis"] == 0)).all()
    assert (les["hrp_count"] == les[["pos_remodelling", "lap_feature", "spotty_calc", "napkin_ring"]].sum(axis=1)).all()


def test_lesion_volumes_realistic(cp_small):
    v = cp_small.truth_lesions["v_total_mm3"]
    assert 10 < v.median() < 100  # tens of mm3 per lesion
    tl = cp_small.truth_lesions
    np.testing.assert_allclose(tl["v_fibrous_mm3"] + tl["v_fibrofatty_mm3"] + tl["v_lap_mm3"] + tl["v_calcified_mm3"],
                               tl["v_total_mm3"], atol=5e-4)


def test_truth_tables(cp_small):
    tl = cp_small.truth_lesions
    assert list(tl.columns[:len(TRUTH_LESION_COLS)]) == TRUTH_LESION_COLS
    assert tl["lesion_id"].tolist() == cp_small.lesions["lesion_id"].tolist()
    assert tl["plaque_burden"].between(0, 1).all()
    t = cp_small.truth
    assert list(t.columns[:5]) == ["patient_id", "latent_a", "latent_v", "latent_z", "lp_mi"]
    assert {"bias_baseline_hr", "bias_measurement", "bias_effect_modifier", "bias_pet_access",
            "bias_event_recorded"} <= set(t.columns)
    # truth is never in model-facing tables
    for name in ("patients", "scans", "lesions", "pet", "outcomes"):
        assert not any(c.startswith(("latent", "lp_", "bias_")) for c in cp_small.tables[name].columns)


def test_scan_acquisition_ranges(cp_small):
    s, p = cp_small.scans, cp_small.patients
    assert s["lumen_hu_mean"].between(150, 700).all()
    assert s["pixel_spacing_mm"].between(0.4, 0.5).all()
    sigma0 = s["noise_sd_hu"] / (p["bmi"] / 27)
    assert sigma0.between(15, 42).all()  # sigma0 in 20-35 HU (x 5 % noise and rounding)
    assert abs(s["fai_lad_hu"].mean() + 83) < 5
    z = cp_small.truth["latent_z"]
    assert s["fai_lad_hu"][z > 2].mean() - s["fai_lad_hu"][z < 0].mean() > 8


def test_outcome_consistency(ec_small):
    o = ec_small.outcomes
    fu = o["fu_days"]
    assert (fu > 0).all()
    for k in ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned", "revasc_planned_early", "noncardiac_death"):
        t = o[f"{k}_time_days"]
        assert (t.notna() == o[k]).all(), k
        assert ((t[o[k]] > 0) & (t[o[k]] <= fu[o[k]])).all(), k
    assert (o.loc[o["revasc_planned_early"], "revasc_planned_early_time_days"] <= 90).all()
    assert (o.loc[o["revasc_unplanned"], "revasc_unplanned_time_days"] > 90).all()
    assert ((o["censor_reason"] == "death_cardiac") == o["cardiac_death"]).all()
    assert ((o["censor_reason"] == "death_noncardiac") == o["noncardiac_death"]).all()
    assert (o.loc[o["cardiac_death"], "cardiac_death_time_days"] == fu[o["cardiac_death"]]).all()
    assert o["mi_type"].notna().eq(o["mi"]).all()
    comps = ["mi", "cardiac_death", "ua_hosp", "revasc_unplanned"]
    assert (o["mace_event"] == o[comps].any(axis=1)).all()
    first = o[[f"{k}_time_days" for k in comps]].min(axis=1)
    np.testing.assert_allclose(o["mace_time_days"], np.where(o["mace_event"], first, fu))
    assert fu.max() <= 5.5 * 365.25 + 1
    assert {"administrative", "lost"} <= set(o["censor_reason"])


def test_custom_mace_definition():
    c = simulate_cohort(800, seed=3, mace_definition="mi+cardiac_death")
    o = c.outcomes
    assert (o["mace_event"] == (o["mi"] | o["cardiac_death"])).all()
    assert (o["mace_definition"] == "mi+cardiac_death").all()


def test_pet_table(cp_small, ec_small):
    pet = cp_small.pet
    av = pet["pet_available"]
    assert 0.05 <= av.mean() <= 0.15
    assert pet.loc[~av, "missing_reason"].notna().all() and pet.loc[av, "missing_reason"].isna().all()
    for col in ("cma_patient", "cma_gt0", "tracer", "blood_pool_suv_mean", "cma_lad"):
        assert pet.loc[~av, col].isna().all() and pet.loc[av, col].notna().all(), col
    e = ec_small.pet
    assert e["pet_available"].all()
    np.testing.assert_allclose(e[["cma_lad", "cma_lcx", "cma_rca"]].sum(axis=1), e["cma_patient"], atol=2e-3)
    assert (e["cma_gt0"] == (e["cma_patient"] > 0)).all()
    les = cp_small.lesions.merge(pet[["patient_id", "pet_available"]], on="patient_id")
    assert (les["tbr_max"].notna() == les["pet_available"]).all()


def test_pet_missingness_mechanisms():
    kw = dict(n=20000, mode="chest-pain", seed=31)
    mar, mnar, grp = (simulate_cohort(**kw, pet_missing=m) for m in ("mar", "mnar", "group"))
    p, s = mar.patients, mar.scans
    av = mar.pet["pet_available"].to_numpy()
    assert p["age_years"][av].mean() < p["age_years"][~av].mean()
    assert s["cac_agatston"][av].median() > s["cac_agatston"][~av].median()
    assert set(mar.pet.loc[~av & ~p["site_id"].isin(["site01", "site02"]).to_numpy(), "missing_reason"]) == {
        "not_available_at_site"}
    z = mar.truth["latent_z"].to_numpy()
    zn = mnar.truth["latent_z"].to_numpy()
    avn = mnar.pet["pet_available"].to_numpy()
    assert zn[avn].mean() - zn[~avn].mean() > z[av].mean() - z[~av].mean() + 0.2
    g = grp.patients["ethnicity_group5"].to_numpy()
    avg = grp.pet["pet_available"].to_numpy()
    assert avg[g == "black"].mean() < 0.75 * avg[g == "white"].mean()


# ----------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_bytes(tmp_path):
    kw = dict(n=1500, mode="established-cad", seed=5, bias="audit_demo")
    a = simulate_cohort(**kw).write_tables(tmp_path / "a")
    b = simulate_cohort(**kw).write_tables(tmp_path / "b")
    for pa_, pb_ in zip(a, b, strict=True):
        assert pa_.read_bytes() == pb_.read_bytes(), pa_.name
        assert b"\r" not in pa_.read_bytes()
    c = simulate_cohort(**{**kw, "seed": 6}).write_tables(tmp_path / "c")
    assert a[0].read_bytes() != c[0].read_bytes()


def test_sub_models_have_independent_streams():
    a = simulate_cohort(1000, seed=9)
    b = simulate_cohort(1000, seed=9, bias={"baseline_hr": {"black": 2.0}})
    for t in ("patients", "scans", "lesions", "pet"):
        pd.testing.assert_frame_equal(a.tables[t], b.tables[t])
    assert not a.truth["lp_mi"].equals(b.truth["lp_mi"])


# ----------------------------------------------------------------------------- API and errors
def test_cohort_api(cp_small):
    assert cp_small.mode == "chest-pain" and cp_small.seed == 11
    assert isinstance(cp_small.bias, dict)
    assert set(cp_small.tables) == {"patients", "scans", "lesions", "pet", "outcomes", "truth", "truth_lesions"}
    s = cp_small.summary()
    assert "3000 patients" in s and "MI" in s and "/100 py" in s
    with pytest.raises(dataclasses.FrozenInstanceError):
        cp_small.mode = "x"
    assert model_parameters("chest-pain", {"lam_mi": 1e-3})["lam_mi"] == 1e-3


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=0), "n must be"), (dict(n=10, mode="acute"), "mode"), (dict(n=10, seed=-1), "seed"),
    (dict(n=10, pet_missing="random"), "pet_missing"), (dict(n=10, mace_definition="mi+death"), "mace_definition"),
    (dict(n=10, params={"nope": 1}), "unknown model parameter"), (dict(n=10, ethnicity_mix={"martian": 1}), "ethnicity_mix"),
])
def test_input_errors(kwargs, match):
    with pytest.raises(RadioriskError, match=match):
        simulate_cohort(**kwargs)


def test_ethnicity_mix_and_mode_alias():
    c = simulate_cohort(3000, mode="established_cad", seed=1, ethnicity_mix="mesa")
    assert c.mode == "established-cad"
    g = c.patients["ethnicity_group5"].value_counts(normalize=True)
    assert "south_asian" not in g.index and g["black"] > 0.15
    assert (c.patients.loc[c.patients["ethnicity_group5"] == "other", "ethnicity"] == "hispanic_latino").all()
