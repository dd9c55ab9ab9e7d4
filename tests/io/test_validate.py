"""radiorisk.io: reading, typing, the report, and validation of a valid cohort."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.exceptions import RadioriskError, SchemaError
from radiorisk.io import (
    MAX_VIOLATIONS_PER_RULE,
    RULES,
    Cohort,
    ValidationReport,
    read_cohort,
    read_table,
    validate,
    validation_rules,
)
from radiorisk.io._report import VIOLATION_COLUMNS
from radiorisk.schemas import TABLES, load_schema

# -- the valid fixture ----------------------------------------------------------

def test_valid_cohort_is_clean(valid_cohort: Path):
    report = validate(valid_cohort)
    assert report.ok, report.format()
    assert report.n_errors == report.n_warnings == 0
    assert len(report.violations) == 0
    assert list(report.violations.columns) == list(VIOLATION_COLUMNS)
    text = report.format()
    assert text.startswith(f"OK: {valid_cohort} is valid (6 patients, 6 scans, 5 lesions")
    assert "images checked" in text


def test_cli_valid_exits_0(valid_cohort: Path, capsys):
    from radiorisk.cli import main

    assert main(["validate", str(valid_cohort)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


def test_optional_tables_may_be_absent(valid_cohort: Path):
    for t in ("lesions", "pet", "manifest", "truth"):
        (valid_cohort / f"{t}.csv").unlink()
    report = validate(valid_cohort)
    assert report.ok, report.format()
    assert report.n_rows["lesions"] is None
    cohort = read_cohort(valid_cohort)
    assert len(cohort.lesions) == 0
    assert list(cohort.lesions.columns) == load_schema("lesions").field_names
    assert str(cohort.lesions["segment_start"].dtype) == "Int64"


def test_parquet_tables_validate(valid_cohort: Path):
    for t in ("patients", "scans", "lesions", "pet", "outcomes", "manifest"):
        csv = valid_cohort / f"{t}.csv"
        df = read_table(csv, table=t)
        df.to_parquet(valid_cohort / f"{t}.parquet", index=False)
        csv.unlink()
    report = validate(valid_cohort)
    assert report.ok, report.format()
    cohort = read_cohort(valid_cohort)
    assert cohort.files["patients"].name == "patients.parquet"
    assert cohort.patients["hypertension"].dtype == bool
    assert str(cohort.scans["scan_date"].dtype).startswith("datetime64")


def test_parquet_values_are_checked(valid_cohort: Path):
    df = read_table(valid_cohort / "patients.csv", table="patients")
    df.loc[0, "sex"] = "Male"
    df.loc[1, "age_years"] = 7.0
    df.to_parquet(valid_cohort / "patients.parquet", index=False)
    (valid_cohort / "patients.csv").unlink()
    v = validate(valid_cohort).to_frame()
    got = set(zip(v["row"], v["column"], v["rule"], strict=True))
    assert got == {(1, "sex", "enum"), (2, "age_years", "minimum")}


# -- read_table ---------------------------------------------------------------------

def test_read_table_types(valid_cohort: Path):
    df = read_table(valid_cohort / "patients.csv", table="patients")
    assert list(df.columns) == load_schema("patients").field_names
    assert df["patient_id"].dtype == object
    assert df["age_years"].dtype == np.float64
    assert str(df["cigs_per_day"].dtype) == "Int64"
    assert df["cigs_per_day"].tolist()[:2] == [pd.NA, 20]
    # hypertension: true/TRUE/false/no/False -> bool
    assert df["hypertension"].dtype == bool
    assert df["hypertension"].tolist() == [True, True, True, False, False, False]
    # on_antihypertensive has an empty cell -> nullable boolean
    assert str(df["on_antihypertensive"].dtype) == "boolean"
    assert df["on_antihypertensive"].isna().tolist() == [False] * 4 + [True, False]
    assert df["symptom_class"].isna().tolist()[-1]
    scans = read_table(valid_cohort / "scans.csv", table="scans")
    assert str(scans["scan_date"].dtype) == "datetime64[ns]"
    assert scans["scan_date"].iloc[0] == pd.Timestamp("2021-03-01")
    assert pd.isna(scans["scan_date"].iloc[5])
    assert scans["cad_rads"].tolist()[:5] == ["3", "2", "1", "0", "4A"]  # not numbers
    assert str(scans["kvp"].dtype) == "Int64"


def test_read_table_keeps_category_text_and_ids_as_given(tmp_path: Path):
    p = tmp_path / "lesions.csv"
    p.write_text(
        "lesion_id,scan_id,patient_id,vessel,segment_start,v_total_mm3,stenosis_grade_visual\n"
        "007,0042,0001,LAD,6,10.5,3\n", encoding="utf-8")
    df = read_table(p, table="lesions")
    assert df.loc[0, ["lesion_id", "scan_id", "patient_id"]].tolist() == ["007", "0042", "0001"]
    assert df.loc[0, "stenosis_grade_visual"] == "3"


@pytest.mark.parametrize("text,expected", [
    ("true", True), ("TRUE", True), ("True", True), ("yes", True), ("1", True), ("Y", True),
    ("false", False), ("False", False), ("no", False), ("0", False), ("N", False),
])
def test_boolean_spellings(tmp_path: Path, text, expected):
    p = tmp_path / "pet.csv"
    p.write_text(f"patient_id,pet_available,missing_reason,cma_patient\nP1,{text},other,\n",
                 encoding="utf-8")
    if expected:
        p.write_text(f"patient_id,pet_available,cma_patient\nP1,{text},1\n", encoding="utf-8")
    df = read_table(p, table="pet")
    assert df["pet_available"].tolist() == [expected]


def test_missing_value_markers(tmp_path: Path):
    p = tmp_path / "pet.csv"
    p.write_text("patient_id,pet_available,missing_reason,cma_patient\n"
                 "P1,true,NA,1\nP2,false,other,null\nP3,false,other,NaN\nP4,false,other, \n",
                 encoding="utf-8")
    df = read_table(p, table="pet")
    assert df["missing_reason"].isna().tolist() == [True, False, False, False]
    assert df["cma_patient"].isna().tolist() == [False, True, True, True]


def test_read_table_raises_with_full_report(tmp_path: Path):
    p = tmp_path / "patients.csv"
    p.write_text("patient_id,sex,age_years,colour\nP1,Female,17,red\nP1,male,abc,blue\n",
                 encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        read_table(p, table="patients")
    exc = info.value
    assert isinstance(exc, RadioriskError)
    v = exc.report.to_frame()
    rules = set(zip(v["column"], v["rule"], strict=True))
    assert ("colour", "unknown_column") in rules
    assert ("sex", "enum") in rules
    assert ("age_years", "minimum") in rules
    assert ("age_years", "type") in rules
    assert ("patient_id", "unique") in rules
    assert ("ethnicity", "missing_column") in rules
    assert "'Female' is not allowed; did you mean 'female'?" in str(exc)


def test_read_table_extra_columns(tmp_path: Path):
    p = tmp_path / "truth.csv"
    p.write_text("patient_id,latent_a,latent_v,latent_z,lp_mi,bias_flag,note\n"
                 "P1,0.1,0.2,0.3,-4,1.5,x\n", encoding="utf-8")
    df = read_table(p, table="truth")  # additionalFields: true
    assert df["bias_flag"].tolist() == [1.5]
    assert df["note"].tolist() == ["x"]
    p2 = tmp_path / "pet.csv"
    p2.write_text("patient_id,pet_available,missing_reason,site_note\nP1,false,other,abc\n",
                  encoding="utf-8")
    with pytest.raises(SchemaError, match="unknown column 'site_note'"):
        read_table(p2, table="pet")
    assert read_table(p2, table="pet", allow_extra_columns=True)["site_note"].tolist() == ["abc"]


def test_read_table_missing_and_empty_files(tmp_path: Path):
    with pytest.raises(SchemaError, match="not found"):
        read_table(tmp_path / "nope.csv", table="patients")
    (tmp_path / "e.csv").write_bytes(b"")
    with pytest.raises(SchemaError, match="is empty"):
        read_table(tmp_path / "e.csv", table="patients")
    (tmp_path / "h.csv").write_text("patient_id,pet_available\n", encoding="utf-8")
    df = read_table(tmp_path / "h.csv", table="pet")
    assert len(df) == 0 and list(df.columns) == load_schema("pet").field_names


def test_manifest_reader_defaults(valid_cohort: Path):
    df = read_table(valid_cohort / "manifest.csv", table="manifest")
    assert df["reader"].tolist() == ["reader1", "reader1", "reader1", "reader2"]


# -- read_cohort ---------------------------------------------------------------------

def test_read_cohort(valid_cohort: Path):
    cohort = read_cohort(valid_cohort)
    assert isinstance(cohort, Cohort)
    assert list(cohort.tables) == list(TABLES)
    assert len(cohort.patients) == 6 and len(cohort.lesions) == 5
    assert "hazard_extra" in cohort.truth.columns
    assert cohort.report is not None and cohort.report.ok
    assert repr(cohort).startswith("Cohort(root=")
    assert "<td>patients.csv</td>" in cohort._repr_html_()
    assert cohort.resolve("images/S001_ct.nii.gz") == valid_cohort / "images" / "S001_ct.nii.gz"
    with pytest.raises(AttributeError):
        cohort.patients = None  # frozen
    # a Cohort validates too
    assert validate(cohort).ok


def test_read_cohort_raises_schema_error(valid_cohort: Path):
    p = valid_cohort / "outcomes.csv"
    p.write_text(p.read_text(encoding="utf-8").replace("1826.0", "-1826.0"), encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        read_cohort(valid_cohort)
    assert "must be greater than 0 day" in str(info.value)
    assert not info.value.report.ok
    cohort = read_cohort(valid_cohort, validate=False)  # values are kept as read
    assert cohort.outcomes["fu_days"].iloc[1] == -1826.0


def test_validate_a_modified_cohort_object(valid_cohort: Path):
    cohort = read_cohort(valid_cohort)
    bad = cohort.patients.copy()
    bad.loc[2, "sex"] = "Male"
    from dataclasses import replace

    report = validate(replace(cohort, patients=bad), check_images=False)
    v = report.to_frame()
    assert v[["table", "row", "column", "rule"]].values.tolist() == [["patients", 3, "sex", "enum"]]


# -- the report -----------------------------------------------------------------------

def test_report_api(valid_cohort: Path):
    p = valid_cohort / "patients.csv"
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df.loc[:, "sex"] = "Female"
    df.to_csv(p, index=False)
    report = validate(valid_cohort, check_images=False)
    assert isinstance(report, ValidationReport)
    assert report.n_errors == 6 and not report.ok
    frame = report.to_frame()
    assert frame["row"].tolist() == [1, 2, 3, 4, 5, 6]
    assert frame["value"].tolist() == ["Female"] * 6
    assert frame["file"].unique().tolist() == ["patients.csv"]
    frame.loc[0, "rule"] = "changed"
    assert report.violations.loc[0, "rule"] == "enum"  # to_frame is a copy
    text = report.format(max_lines=2)
    assert "4 more not shown" in text
    assert text.splitlines()[-1] == "6 violations in 1 table (6 errors, 0 warnings)"
    assert str(report) == report.format()
    html = report._repr_html_()
    assert "<table" in html and "Female" in html
    with pytest.raises(AttributeError):
        report.n_errors = 0


def test_cap_per_rule(tmp_path: Path):
    n = MAX_VIOLATIONS_PER_RULE + 250
    p = tmp_path / "patients.csv"
    pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "age_years": 5.0}).to_csv(p, index=False)
    with pytest.raises(SchemaError) as info:
        read_table(p, table="patients")
    report = info.value.report
    v = report.to_frame()
    mins = v[v["rule"] == "minimum"]
    assert len(mins) == MAX_VIOLATIONS_PER_RULE + 1
    assert mins["row"].isna().sum() == 1
    assert "and 250 more 'minimum' violations" in mins["message"].iloc[-1]
    assert report.n_errors >= n


def test_rules_catalogue():
    rules = validation_rules()
    assert set(rules["severity"]) <= {"error", "warning"}
    assert rules["rule"].is_unique and set(rules["rule"]) == set(RULES)


# -- scale ------------------------------------------------------------------------------

def _big_cohort(root: Path, n_patients: int, lesions_per_patient: int = 2) -> None:
    rng = np.random.default_rng(0)
    n, m = n_patients, n_patients * lesions_per_patient
    pid = np.array([f"P{i:06d}" for i in range(n)], dtype=object)
    pd.DataFrame({
        "patient_id": pid, "site_id": "S1", "cohort": "chest-pain",
        "age_years": rng.uniform(30, 80, n).round(1), "sex": rng.choice(["female", "male"], n),
        "ethnicity": "white", "ethnicity_group5": "white", "hypertension": rng.choice(["true", "false"], n),
        "diabetes": "none", "smoking": "never", "ldl_mmol_l": rng.uniform(1, 6, n).round(2),
    }).to_csv(root / "patients.csv", index=False)
    sid = np.array([f"S{i:06d}" for i in range(n)], dtype=object)
    pd.DataFrame({"scan_id": sid, "patient_id": pid, "cac_agatston": rng.uniform(0, 400, n).round(1),
                  "cad_rads": "2", "tpv_mm3": 30.0, "cpv_mm3": 10.0, "ncpv_mm3": 20.0}).to_csv(
        root / "scans.csv", index=False)
    calc = rng.uniform(0, 20, m).round(2)
    nc = rng.uniform(0, 20, m).round(2)
    owner = np.repeat(np.arange(n), lesions_per_patient)
    pd.DataFrame({"lesion_id": [f"L{i:07d}" for i in range(m)], "scan_id": sid[owner],
                  "patient_id": pid[owner], "vessel": rng.choice(["LAD", "RCA", "LCX"], m),
                  "segment_start": rng.integers(1, 19, m), "v_total_mm3": calc + nc,
                  "v_calcified_mm3": calc, "v_noncalcified_mm3": nc,
                  "pos_remodelling": rng.choice(["true", "false"], m)}).to_csv(
        root / "lesions.csv", index=False)
    fu = rng.uniform(100, 2000, n).round(1)
    out = {"patient_id": pid, "fu_days": fu, "censor_reason": "administrative"}
    for c in ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned", "revasc_planned_early",
              "noncardiac_death"):
        out[c] = "false"
    out.update({"mace_event": "false", "mace_time_days": fu,
                "mace_definition": "mi+cardiac_death+ua_hosp+revasc_unplanned"})
    pd.DataFrame(out).to_csv(root / "outcomes.csv", index=False)


def test_validate_scales(tmp_path: Path):
    # 20,000 patients / 40,000 lesions here; 100,000 / 250,000 takes ~5 s (see report)
    _big_cohort(tmp_path, 20_000)
    t0 = time.perf_counter()
    report = validate(tmp_path)
    elapsed = time.perf_counter() - t0
    assert report.ok, report.format(max_lines=10)
    assert elapsed < 5, elapsed
    lesions = pd.read_csv(tmp_path / "lesions.csv", dtype=str, keep_default_na=False)
    lesions.loc[::2, "v_total_mm3"] = "999"
    lesions.to_csv(tmp_path / "lesions.csv", index=False)
    report = validate(tmp_path)
    assert report.n_errors == 20_000
    assert len(report.violations) == MAX_VIOLATIONS_PER_RULE + 1
