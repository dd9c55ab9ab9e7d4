"""No DICOM header field other than geometry reaches any radiorisk output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from radiorisk.cli import main
from radiorisk.imaging import extract_radiomics, measure_plaque, read_image
from radiorisk.io import validate

SECRETS = {
    "0010|0010": "SECRET-NAME-123",         # PatientName
    "0010|0020": "SECRET-PID-456",          # PatientID
    "0010|0030": "19010203",                # PatientBirthDate
    "0008|0080": "SECRET-HOSPITAL-789",     # InstitutionName
    "0008|0050": "SECRET-ACC-246",          # AccessionNumber
    "0008|0020": "19020304",                # StudyDate
    "0008|0090": "SECRET-REFERRER-135",     # ReferringPhysicianName
    "0020|0010": "SECRET-STUDYID-975",      # StudyID
    "0008|1030": "SECRET-STUDY-DESCR",      # StudyDescription
    "0008|103e": "SECRET-SERIES-DESCR",     # SeriesDescription
    "0010|1000": "SECRET-OTHER-IDS",        # OtherPatientIDs
}
NEEDLES = [v.encode() for v in SECRETS.values()] + [b"SECRET"]
SHAPE = (6, 12, 12)  # z, y, x
SPACING = (0.5, 0.5, 0.6)
ORIGIN = (10.0, -20.0, 30.0)


def _write_series(folder: Path) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    vol = rng.integers(-100, 700, size=SHAPE).astype(np.int16)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    uid = "1.2.826.0.1.3680043.2.1125.1.99"
    for z in range(SHAPE[0]):
        sl = sitk.GetImageFromArray(vol[z])
        sl.SetSpacing(SPACING[:2])
        for k, v in SECRETS.items():
            sl.SetMetaData(k, v)
        pos = (ORIGIN[0], ORIGIN[1], ORIGIN[2] + z * SPACING[2])
        for k, v in {
            "0008|0060": "CT", "0020|000d": uid + ".1", "0020|000e": uid + ".2", "0020|0052": uid + ".3",
            "0008|0018": f"{uid}.4.{z}", "0020|0013": str(z + 1),
            "0020|0032": "\\".join(f"{x:g}" for x in pos), "0020|0037": "1\\0\\0\\0\\1\\0",
            "0028|0030": f"{SPACING[1]:g}\\{SPACING[0]:g}", "0018|0050": f"{SPACING[2]:g}",
            "0028|1052": "0", "0028|1053": "1",
        }.items():
            sl.SetMetaData(k, v)
        writer.SetFileName(str(folder / f"slice{z:03d}.dcm"))
        writer.Execute(sl)


def _scan(folder: Path) -> list[str]:
    hits = []
    for p in folder.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            hits += [f"{p}: {n.decode()}" for n in NEEDLES if n in data]
    return hits


@pytest.fixture
def dicom_cohort(valid_cohort: Path) -> Path:
    series = valid_cohort / "dicom" / "S001"
    _write_series(series)
    assert any(b"SECRET-NAME-123" in p.read_bytes() for p in series.iterdir())  # the header is there
    img = read_image(series)
    mask = np.zeros(SHAPE, np.uint8)
    mask[:, 4:8, 4:8] = 7
    mask[:, 5:7, 5:7] = 1
    mask[1:5, 4:6, 4:5] = 2
    mask[2:4, 6:8, 7:8] = 3
    m = sitk.GetImageFromArray(mask)
    m.CopyInformation(img)
    sitk.WriteImage(m, str(valid_cohort / "dicom" / "S001_mask.nii.gz"))
    man = pd.DataFrame({
        "lesion_id": ["L001", "L002"], "scan_id": ["S001", "S001"], "patient_id": ["P001", "P001"],
        "image_path": ["dicom/S001", "dicom/S001"],
        "mask_path": ["dicom/S001_mask.nii.gz", "dicom/S001_mask.nii.gz"],
        "label": ["2,3", "5"],  # L002: label 5 is absent -> a failure row
        "reader": ["reader1", "reader1"]})
    man.to_csv(valid_cohort / "manifest.csv", index=False)
    return valid_cohort


def test_read_image_keeps_geometry_only(dicom_cohort: Path):
    img = read_image(dicom_cohort / "dicom" / "S001")
    assert img.GetMetaDataKeys() == ()
    assert img.GetSize() == SHAPE[::-1]
    np.testing.assert_allclose(img.GetSpacing(), SPACING, rtol=1e-6)
    np.testing.assert_allclose(img.GetOrigin(), ORIGIN, atol=1e-4)
    # a written copy carries nothing from the header either
    sitk.WriteImage(img, str(dicom_cohort / "copy.nrrd"))
    assert not _scan(dicom_cohort / "copy.nrrd")


def test_no_header_field_reaches_any_output(dicom_cohort: Path, tmp_path: Path, capsys):
    outdir = tmp_path / "out"
    outdir.mkdir()
    report = validate(dicom_cohort)
    assert set(report.to_frame()["rule"]) == {"label_missing"}, report.format()  # L002, on purpose
    (outdir / "report.txt").write_text(report.format() + report._repr_html_())

    les, fails = measure_plaque(dicom_cohort / "manifest.csv")
    assert len(les) == 1 and len(fails) == 1
    les.to_csv(outdir / "plaque.csv")
    les.to_parquet(outdir / "plaque.parquet")
    fails.to_csv(outdir / "plaque_failures.csv")

    res = extract_radiomics(dicom_cohort / "manifest.csv",
                            params={"imageType": {"Original": {}},
                                    "featureClass": {"firstorder": None, "shape": None},
                                    "setting": {"binWidth": 25}},
                            out=outdir / "features.parquet")
    assert len(res.features) == 1 and len(res.failures) == 1
    (outdir / "provenance_inmemory.json").write_text(json.dumps(res.provenance, default=str))
    res.features.to_csv(outdir / "features_inmemory.csv")
    assert not any(c.startswith("diagnostics_") for c in res.features.columns)

    # also with pyradiomics' diagnostics switched on (they hash images and list settings)
    res2 = extract_radiomics(dicom_cohort / "manifest.csv",
                             params={"imageType": {"Original": {}}, "featureClass": {"firstorder": None},
                                     "setting": {"binWidth": 25, "additionalInfo": True}},
                             out=outdir / "features_diag.parquet")
    assert len(res2.features) == 1

    # the CLI writes its own files
    assert main(["measure", "--manifest", str(dicom_cohort / "manifest.csv"), "--out", str(outdir / "cli")]) == 1
    assert main(["validate", str(dicom_cohort)]) == 2
    captured = capsys.readouterr()
    (outdir / "console.txt").write_text(captured.out + captured.err)

    written = [p for p in outdir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in written) and any(p.name.endswith(".json") for p in written)
    assert _scan(outdir) == []
