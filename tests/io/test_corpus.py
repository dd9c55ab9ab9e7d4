"""Bad-input corpus for radiorisk.io: each case mutates the valid cohort once.

Every case asserts that ``validate`` reports the expected (table, column, rule)
with a message naming the problem, and that ``radiorisk validate DIR`` exits 2
and prints it (never a traceback).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiorisk.cli import main
from radiorisk.io import validate

BAD = Path(__file__).resolve().parents[1] / "bad_inputs"


# -- mutation helpers ----------------------------------------------------------

def _load(d: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(d / f"{table}.csv", dtype=str, keep_default_na=False)


def _save(d: Path, table: str, df: pd.DataFrame) -> None:
    df.to_csv(d / f"{table}.csv", index=False)


def set_cell(table: str, row: int, column: str, value: str) -> Callable[[Path], None]:
    """Set data row ``row`` (1-based, as in the report) of ``column``."""
    def mutate(d: Path) -> None:
        df = _load(d, table)
        df.loc[row - 1, column] = value
        _save(d, table, df)
    return mutate


def set_cells(table: str, changes: dict[tuple[int, str], str]) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        df = _load(d, table)
        for (row, column), value in changes.items():
            df.loc[row - 1, column] = value
        _save(d, table, df)
    return mutate


def drop_column(table: str, column: str) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        _save(d, table, _load(d, table).drop(columns=[column]))
    return mutate


def rename_column(table: str, old: str, new: str) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        _save(d, table, _load(d, table).rename(columns={old: new}))
    return mutate


def duplicate_row(table: str, row: int) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        df = _load(d, table)
        _save(d, table, pd.concat([df, df.iloc[[row - 1]]], ignore_index=True))
    return mutate


def drop_row(table: str, row: int) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        df = _load(d, table)
        _save(d, table, df.drop(index=row - 1))
    return mutate


def replace_file(name: str, static: str, *, remove: tuple[str, ...] = ()) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        for r in remove:
            (d / r).unlink()
        shutil.copyfile(BAD / static, d / name)
    return mutate


def write_bytes(name: str, data: bytes) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        (d / name).write_bytes(data)
    return mutate


def edit_text(name: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        p = d / name
        p.write_text(fn(p.read_text(encoding="utf-8")), encoding="utf-8")
    return mutate


def rename_file(old: str, new: str) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        (d / old).rename(d / new)
    return mutate


def rewrite_mask(stem: str, fn: Callable[[sitk.Image], sitk.Image]) -> Callable[[Path], None]:
    def mutate(d: Path) -> None:
        p = d / "images" / f"{stem}_mask.nii.gz"
        sitk.WriteImage(fn(sitk.ReadImage(str(p))), str(p), True)
    return mutate


def _spacing(img):
    img.SetSpacing((0.5, 0.5, 0.7))
    return img


def _origin(img):
    img.SetOrigin((10.0, -20.0, 31.0))
    return img


def _zeros(img):
    out = sitk.Image(img.GetSize(), sitk.sitkUInt8)
    out.CopyInformation(img)
    return out


def _float(img):
    return sitk.Cast(img, sitk.sitkFloat32)


def _only_lumen(img):
    arr = sitk.GetArrayFromImage(img)
    arr[arr > 1] = 0
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(img)
    return out


def _resized(img):
    arr = np.zeros((9, 16, 16), np.uint8)
    arr[2, 2:5, 2:5] = 2
    out = sitk.GetImageFromArray(arr)
    out.SetSpacing(img.GetSpacing())
    out.SetOrigin(img.GetOrigin())
    return out


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[Path], None]
    table: str
    column: str | None
    rule: str
    text: str  # the message must contain this


CASES = [
    # --- the four of the issue's "done when" -----------------------------------
    Case("drop_required_column", drop_column("patients", "sex"), "patients", "sex",
         "missing_column", "required column 'sex' is missing"),
    Case("negative_time", set_cell("outcomes", 2, "fu_days", "-5"), "outcomes", "fu_days",
         "minimum", "-5 must be greater than 0 day"),
    Case("mask_spacing", rewrite_mask("S001", _spacing), "manifest", "mask_path",
         "geometry_mismatch", "spacing (0.5, 0.5, 0.7) mm vs image (0.5, 0.5, 0.6) mm"),
    Case("duplicate_patient_id", duplicate_row("patients", 2), "patients", "patient_id",
         "unique", "duplicate patient_id 'P002': already in row 2"),
    # --- files ---------------------------------------------------------------------
    Case("file_missing", lambda d: (d / "scans.csv").unlink(), "scans", None, "file_missing",
         "required table 'scans' not found"),
    Case("file_name_case", rename_file("outcomes.csv", "Outcomes.csv"), "outcomes", None,
         "file_missing", "found 'Outcomes.csv'"),
    Case("empty_file", write_bytes("patients.csv", b""), "patients", None, "empty_file",
         "patients.csv is empty; a table needs at least a header line"),
    Case("latin1", replace_file("patients.csv", "patients_latin1.csv"), "patients", None,
         "encoding", "byte 0xe9 on line 4"),
    Case("utf16", replace_file("patients.csv", "patients_utf16.csv"), "patients", None,
         "encoding", "UTF-16"),
    Case("semicolon", replace_file("patients.csv", "patients_semicolon.csv"), "patients", None,
         "delimiter", "looks ';'-delimited"),
    Case("tab", replace_file("patients.csv", "patients_tab.csv"), "patients", None,
         "delimiter", "looks '\\t'-delimited"),
    Case("ragged_row", edit_text("lesions.csv", lambda t: t.replace("\nL003,", "\nL003,extra,", 1)),
         "lesions", None, "malformed_csv", "line 4 has 33 fields but the header has 32"),
    Case("corrupt_parquet", replace_file("patients.parquet", "patients_corrupt.parquet",
                                         remove=("patients.csv",)),
         "patients", None, "file_unreadable", "not a valid Parquet file"),
    Case("csv_and_parquet", replace_file("pet.parquet", "patients_corrupt.parquet"), "pet", None,
         "ambiguous_file", "both pet.csv and pet.parquet exist"),
    Case("duplicate_header", edit_text("pet.csv", lambda t: t.replace("tracer,", "cma_rca,", 1)),
         "pet", "cma_rca", "duplicate_column", "column 'cma_rca' appears 2 times"),
    # --- columns and cells -----------------------------------------------------------
    Case("unknown_column", rename_column("patients", "age_years", "age_yrs"), "patients",
         "age_yrs", "unknown_column", "did you mean 'age_years'?"),
    Case("missing_with_hint", rename_column("patients", "age_years", "Age_Years"), "patients",
         "age_years", "missing_column", "found 'Age_Years'"),
    Case("not_a_number", set_cell("patients", 3, "age_years", "sixty"), "patients", "age_years",
         "type", "'sixty' is not a number"),
    Case("not_an_integer", set_cell("lesions", 2, "segment_start", "6.5"), "lesions",
         "segment_start", "type", "'6.5' is not an integer"),
    Case("not_a_boolean", set_cell("patients", 1, "hypertension", "maybe"), "patients",
         "hypertension", "type", "'maybe' is not a boolean"),
    Case("not_a_date", set_cell("scans", 1, "scan_date", "2021-13-45"), "scans", "scan_date",
         "type", "'2021-13-45' is not an ISO-8601 date"),
    Case("above_maximum", set_cell("patients", 4, "age_years", "150"), "patients", "age_years",
         "maximum", "150 is above the maximum 100 year"),
    Case("below_minimum", set_cell("lesions", 1, "v_lap_mm3", "-1"), "lesions", "v_lap_mm3",
         "minimum", "-1 is below the minimum 0 mm3"),
    Case("zero_time", set_cells("outcomes", {(1, "mi_time_days"): "0", (1, "mace_time_days"): "0"}),
         "outcomes", "mi_time_days", "minimum", "0 must be greater than 0 day"),
    Case("enum_case", set_cell("patients", 1, "sex", "Female"), "patients", "sex", "enum",
         "'Female' is not allowed; did you mean 'female'? (categories are case-sensitive); "
         "allowed: female, male, unknown"),
    Case("enum_unknown", set_cell("lesions", 1, "vessel", "LADX"), "lesions", "vessel", "enum",
         "allowed: LM, LAD, LCX"),
    Case("enum_integer", set_cell("outcomes", 1, "mi_type", "3"), "outcomes", "mi_type", "enum",
         "'3' is not allowed; allowed: 1, 2, 4, 5"),
    Case("required_empty", set_cell("patients", 2, "age_years", ""), "patients", "age_years",
         "required", "missing value in required column 'age_years'"),
    Case("required_nan", set_cell("scans", 2, "cac_agatston", "NaN"), "scans", "cac_agatston",
         "required", "missing value in required column 'cac_agatston'"),
    Case("pattern", set_cell("scans", 1, "calc_threshold_hu", "approx 350"), "scans",
         "calc_threshold_hu", "pattern", "'approx 350' does not match"),
    Case("label_pattern", set_cell("manifest", 1, "label", "2;3"), "manifest", "label",
         "pattern", "'2;3' does not match"),
    Case("duplicate_lesion", duplicate_row("lesions", 3), "lesions", "lesion_id", "unique",
         "duplicate lesion_id 'L003': already in row 3"),
    Case("duplicate_composite_key", set_cell("manifest", 4, "reader", "reader1"), "manifest",
         "lesion_id,reader", "unique", "duplicate lesion_id,reader ('L001', 'reader1')"),
    # --- cross-table ---------------------------------------------------------------------
    Case("fk_lesion_scan", set_cell("lesions", 4, "scan_id", "S999"), "lesions", "scan_id",
         "foreign_key", "scan_id 'S999' not found in scans.scan_id"),
    Case("fk_scan_patient", set_cell("scans", 6, "patient_id", "P999"), "scans", "patient_id",
         "foreign_key", "patient_id 'P999' not found in patients.patient_id"),
    Case("fk_manifest_lesion", set_cell("manifest", 3, "lesion_id", "L999"), "manifest",
         "lesion_id", "foreign_key", "lesion_id 'L999' not found in lesions.lesion_id"),
    Case("lesion_patient_mismatch", set_cell("lesions", 3, "patient_id", "P003"), "lesions",
         "patient_id", "patient_mismatch", "differs from its scan 'S002'"),
    Case("manifest_scan_mismatch", set_cell("manifest", 3, "scan_id", "S001"), "manifest",
         "scan_id", "scan_mismatch", "differs from its lesion 'L003'"),
    Case("missing_outcome", drop_row("outcomes", 6), "patients", "patient_id", "missing_outcome",
         "patient 'P006' has no row in outcomes"),
    Case("event_after_fu", set_cells("outcomes", {(1, "mi_time_days"): "1600",
                                                  (1, "mace_time_days"): "1600"}),
         "outcomes", "mi_time_days", "event_after_follow_up",
         "mi_time_days 1600 is after the end of follow-up (fu_days 1500)"),
    Case("event_without_time", set_cell("outcomes", 6, "revasc_unplanned_time_days", ""),
         "outcomes", "revasc_unplanned_time_days", "event_time_missing",
         "revasc_unplanned is true but revasc_unplanned_time_days is empty"),
    Case("time_without_event", set_cell("outcomes", 2, "ua_hosp_time_days", "100"), "outcomes",
         "ua_hosp_time_days", "event_time_without_event", "ua_hosp_time_days is 100 but ua_hosp is false"),
    Case("planned_revasc_late", set_cell("outcomes", 5, "revasc_planned_early_time_days", "120"),
         "outcomes", "revasc_planned_early_time_days", "planned_revasc_late", "later than 90 days"),
    Case("censor_reason", set_cell("outcomes", 3, "censor_reason", "administrative"), "outcomes",
         "censor_reason", "censor_reason_mismatch", "noncardiac_death is true"),
    Case("death_time", set_cell("outcomes", 4, "cardiac_death_time_days", "800"), "outcomes",
         "cardiac_death_time_days", "death_time_mismatch", "differs from fu_days 900"),
    Case("mace_flag", set_cell("outcomes", 6, "mace_event", "false"), "outcomes", "mace_event",
         "mace_inconsistent", "mace_event is false but one of"),
    Case("mace_time_no_event", set_cell("outcomes", 2, "mace_time_days", "1000"), "outcomes",
         "mace_time_days", "mace_time_mismatch", "should equal fu_days (1826)"),
    Case("mace_time_first", set_cell("outcomes", 4, "mace_time_days", "900"), "outcomes",
         "mace_time_days", "mace_time_mismatch", "is not the first MACE component time (200)"),
    Case("lesion_component_sum", set_cell("lesions", 2, "v_total_mm3", "40"), "lesions",
         "v_total_mm3", "component_sum", "v_calcified_mm3 + v_noncalcified_mm3 = 24 but v_total_mm3 = 40"),
    Case("lesion_noncalcified_sum", set_cell("lesions", 1, "v_lap_mm3", "4"), "lesions",
         "v_noncalcified_mm3", "component_sum", "tolerance 0.5 mm3 or 1%"),
    Case("scan_component_sum", set_cell("scans", 1, "cpv_mm3", "25"), "scans", "tpv_mm3",
         "component_sum", "cpv_mm3 + ncpv_mm3 = 65 but tpv_mm3 = 60"),
    Case("volume_over_vessel", set_cell("lesions", 1, "vessel_volume_mm3", "20"), "lesions",
         "v_total_mm3", "volume_exceeds_vessel", "larger than vessel_volume_mm3 20"),
    Case("pet_without_pet", set_cell("pet", 2, "cma_patient", "0.5"), "pet", "cma_patient",
         "pet_values_without_pet", "cma_patient is filled but pet_available is false"),
    Case("lesion_pet_without_pet", set_cell("lesions", 3, "tbr_max", "1.4"), "lesions", "tbr_max",
         "pet_values_without_pet", "patient 'P002' has no PET"),
    Case("pet_missing_reason", set_cell("pet", 3, "missing_reason", ""), "pet", "missing_reason",
         "missing_reason_required", "missing_reason is required"),
    Case("pet_cma_missing", set_cells("pet", {(1, "cma_patient"): "", (1, "cma_gt0"): ""}), "pet",
         "cma_patient", "pet_value_missing", "pet_available is true but cma_patient is empty"),
    Case("cma_gt0", set_cell("pet", 1, "cma_gt0", "false"), "pet", "cma_gt0", "cma_gt0_mismatch",
         "cma_gt0 is false but cma_patient is 1.5"),
    Case("cma_sum", set_cell("pet", 1, "cma_lad", "2.0"), "pet", "cma_patient", "component_sum",
         "cma_lad + cma_lcx + cma_rca = 2.5 but cma_patient = 1.5"),
    # --- images ----------------------------------------------------------------------------
    Case("image_missing", lambda d: (d / "images" / "S002_ct.nii.gz").unlink(), "manifest",
         "image_path", "file_missing", "image 'images/S002_ct.nii.gz': file not found"),
    Case("mask_missing", lambda d: (d / "images" / "S002_mask.nii.gz").unlink(), "manifest",
         "mask_path", "file_missing", "mask 'images/S002_mask.nii.gz': file not found"),
    Case("image_corrupt", replace_file("images/S002_ct.nii.gz", "image_garbage.nii.gz"),
         "manifest", "image_path", "file_unreadable", "not a readable image"),
    Case("mask_truncated", replace_file("images/S002_mask.nii.gz", "mask_truncated.nii.gz"),
         "manifest", "mask_path", "file_unreadable", "truncated or corrupt"),
    Case("mask_origin", rewrite_mask("S002", _origin), "manifest", "mask_path",
         "geometry_mismatch", "origin (10, -20, 31) mm vs image (10, -20, 30) mm"),
    Case("mask_size", rewrite_mask("S002", _resized), "manifest", "mask_path",
         "geometry_mismatch", "size (16, 16, 9) vs image (16, 16, 8)"),
    Case("empty_mask", rewrite_mask("S002", _zeros), "manifest", "mask_path", "empty_mask",
         "is empty (no non-zero voxel)"),
    Case("float_mask", rewrite_mask("S002", _float), "manifest", "mask_path", "mask_type",
         "32-bit float"),
    Case("label_missing", rewrite_mask("S002", _only_lumen), "manifest", "label", "label_missing",
         "has no voxel with label 2, 3, 4, 5 (labels present: 1)"),
    Case("label_not_in_mask", set_cell("manifest", 1, "label", "9"), "manifest", "label",
         "label_missing", "has no voxel with label 9"),
]


def _match(report, case: Case) -> pd.DataFrame:
    v = report.to_frame()
    sel = (v["table"] == case.table) & (v["rule"] == case.rule)
    sel &= v["column"].isna() if case.column is None else (v["column"] == case.column)
    return v[sel]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_reported(case: Case, valid_cohort: Path, capsys):
    case.mutate(valid_cohort)
    report = validate(valid_cohort)
    assert not report.ok
    hits = _match(report, case)
    assert len(hits), f"expected {case.table}/{case.column}/{case.rule}; got:\n{report.format()}"
    messages = hits["message"].tolist()
    assert any(case.text in m for m in messages), messages

    code = main(["validate", str(valid_cohort)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out + err
    assert case.text in out
    assert f"[{case.rule}]" in out


def test_corpus_covers_the_issue_list():
    rules = {c.rule for c in CASES}
    for rule in ["encoding", "delimiter", "empty_file", "missing_column", "unknown_column", "type",
                 "minimum", "maximum", "enum", "required", "unique", "foreign_key",
                 "event_after_follow_up", "component_sum", "pet_values_without_pet", "file_missing",
                 "file_unreadable", "geometry_mismatch", "label_missing", "empty_mask"]:
        assert rule in rules


def test_done_when_all_four_problems_at_once(valid_cohort: Path, capsys):
    for cid in ("drop_required_column", "negative_time", "mask_spacing", "duplicate_patient_id"):
        next(c for c in CASES if c.id == cid).mutate(valid_cohort)
    assert main(["validate", str(valid_cohort)]) == 2
    out = capsys.readouterr().out
    for text in ("required column 'sex' is missing", "must be greater than 0 day",
                 "spacing (0.5, 0.5, 0.7)", "duplicate patient_id 'P002'"):
        assert text in out


def test_bom_is_accepted(valid_cohort: Path):
    replace_file("patients.csv", "patients_bom.csv")(valid_cohort)
    report = validate(valid_cohort)
    assert report.ok, report.format()


def test_header_only_table_is_an_empty_table(valid_cohort: Path):
    for t in ("lesions", "manifest"):
        p = valid_cohort / f"{t}.csv"
        p.write_text(p.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    report = validate(valid_cohort)
    assert report.ok, report.format()
    assert report.n_rows["lesions"] == 0
    # P001's lesion PET values are gone with the lesions; nothing else depends on them


def test_path_outside_cohort_is_a_warning(valid_cohort: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copyfile(valid_cohort / "images" / "S002_ct.nii.gz", outside / "S002_ct.nii.gz")
    set_cell("manifest", 3, "image_path", "../elsewhere/S002_ct.nii.gz")(valid_cohort)
    report = validate(valid_cohort, allow_outside_root=True)
    assert report.ok
    v = report.to_frame()
    assert v["rule"].tolist() == ["path_outside_cohort"]
    assert v["severity"].tolist() == ["warning"]
    assert "warning:" in report.format()


def test_not_a_folder(tmp_path: Path, capsys):
    assert main(["validate", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().out


def test_no_images_flag_skips_image_checks(valid_cohort: Path, capsys):
    rewrite_mask("S001", _spacing)(valid_cohort)
    assert main(["validate", "--no-images", str(valid_cohort)]) == 0
    assert main(["validate", str(valid_cohort)]) == 2
