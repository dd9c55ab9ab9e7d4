"""``run_patient_report`` on a synthetic cohort with lesion images: files, summary, lesion panels, privacy."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

import jsonschema
import numpy as np
import pandas as pd
import pydicom
import pypdf
import pytest
import SimpleITK as sitk

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import PatientReportError
from radiorisk.features import assemble_cohort
from radiorisk.imaging import (
    PlaqueThresholds,
    measure_plaque,
    plaque_metrics,
    read_manifest_for_extraction,
)
from radiorisk.models import load
from radiorisk.pipeline import run_fit
from radiorisk.pipeline._patient_images import component_map
from radiorisk.pipeline._patient_run import PATIENT_REPORT_PROVENANCE, run_patient_report
from radiorisk.privacy import Pseudonymiser
from radiorisk.schemas import schema_dir

KEY = "radiorisk-test-suite-key-0123456789"
HORIZON = 1826.0
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def progress_calls():
    return []


@pytest.fixture(scope="module")
def run(tmp_path_factory, progress_calls):
    base = tmp_path_factory.mktemp("patient_run")
    write_synthetic_cohort(base / "D", n=300, images=6, mode="established-cad", seed=41, progress=False)
    run_fit(base / "D", base / "RUN", competing_risks=False, model="coxph", blocks=["clinical", "ccta"], horizon=HORIZON, repeats=1,
            folds=3, n_boot=5, params={"penalizer": 0.1}, id_key=KEY)
    man = pd.read_csv(base / "D" / "manifest.csv", dtype=str)
    imaged = list(dict.fromkeys(man["patient_id"]))[:2]
    pats = pd.read_csv(base / "D" / "patients.csv", dtype=str)["patient_id"]
    plain = next(p for p in pats if p not in set(man["patient_id"]))
    ids = [*imaged, plain]
    res = run_patient_report(base / "RUN" / "model", base / "D", ids, base / "OUT", id_key=KEY, n_boot=10,
                             comment=f"Discussed at MDT ({imaged[0]}).", author="Dr A. Reader",
                             argv=["radiorisk", "patient-report", "--patient", imaged[0]],
                             report_date="2025-01-31", progress=lambda *a: progress_calls.append(a))
    return base, ids, man, res


def test_progress_counts_the_refits_then_the_patients(run, progress_calls):
    assert progress_calls == [("bootstrap refits", k, 10) for k in range(11)] + [("patient reports", k, 3) for k in range(4)]


def test_files_and_pseudonymised_names(run):
    base, ids, _, res = run
    pz = Pseudonymiser(key=KEY)
    labels = list(pz(ids))
    names = sorted(p.name for p in (base / "OUT").iterdir())
    suffixes = (".html", ".patient.html", ".pdf", ".patient.pdf", ".json", ".sr.dcm")
    expected = sorted([PATIENT_REPORT_PROVENANCE] + [f"{lab}{s}" for lab in labels for s in suffixes])
    assert names == expected
    assert [r.patient for r in res.results] == labels
    assert set(res.files["kind"]) == {"clinician", "patient", "clinician-pdf", "patient-pdf", "json", "sr"}
    assert len(res.files) == 6 * len(ids)


def _text_of(path):
    """The readable text of an output: HTML/JSON as is (embedded PNGs dropped), PDF text, SR string elements."""
    if path.suffix == ".pdf":
        return "\n".join(pg.extract_text() for pg in pypdf.PdfReader(path).pages)
    if path.suffix == ".dcm":
        ds = pydicom.dcmread(path)
        out = []
        ds.walk(lambda _ds, el: out.append(str(el.value)) if el.VR not in ("SQ", "OB", "OW") else None)
        return "\n".join(out)
    text = path.read_text(encoding="utf-8")
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)


def test_no_raw_identifier_in_any_output(run):
    base, ids, man, res = run
    cohort_ids = set(ids) | set(man["lesion_id"]) | set(man["scan_id"])
    for p in (base / "OUT").iterdir():
        text = _text_of(p)
        assert len(text) > 100
        found = [i for i in cohort_ids if re.search(rf"(?<![\w.-]){re.escape(i)}(?![\w.-])", text)]
        assert not found, f"{p.name} carries raw id(s) {found[:3]}"
    prov = json.loads((base / "OUT" / PATIENT_REPORT_PROVENANCE).read_text(encoding="utf-8"))
    assert prov["argv"][-1] == Pseudonymiser(key=KEY)([ids[0]])[0]
    assert prov["identifiers"]["identifiers"] == "pseudonymised"
    assert res.results[0].report.free_text == f"Discussed at MDT ({prov['argv'][-1]})."


def test_risk_is_the_bundle_risk_and_the_summary_states_it(run):
    base, ids, _, res = run
    est = load(base / "RUN" / "model")
    X = assemble_cohort(base / "D", horizon=HORIZON).X
    cols = json.loads((base / "RUN" / "model" / "manifest.json").read_text(encoding="utf-8"))["feature_names_in"]
    expected = est.predict_risk(X.loc[ids, cols], horizon=HORIZON)
    got = np.array([r.report.risk for r in res.results])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    scans = pd.read_csv(base / "D" / "scans.csv", dtype={"patient_id": str}).set_index("patient_id")
    for pid, r in zip(ids, res.results, strict=True):
        s1, s2, s3 = r.summary
        assert f"{100 * r.report.risk:.1f} %" in s1 and "95 % interval" in s1
        assert r.report.ci_low <= r.report.risk <= r.report.ci_high
        assert s2.startswith("Main drivers: ") and r.report.factors[0].label in s2
        if pd.notna(scans.loc[pid, "cad_rads"]):
            assert f"CAD-RADS {scans.loc[pid, 'cad_rads']}" in s3
        lapb = float(scans.loc[pid, "lapb_pct"]) if "lapb_pct" in scans.columns else None
        if lapb is not None:
            assert ("above 4 %" in s3) == (lapb > 4) and ("not above 4 %" in s3) == (lapb <= 4)
        assert "PET: " in s3
        html = (base / "OUT" / f"{r.patient}.html").read_text(encoding="utf-8")
        assert all(s in unescape(html) for s in (s1, s2, s3))
        assert html.index('id="summary"') < html.index('id="risk"')
        assert "Dr A. Reader" in html and "created utc" in html


def test_lesion_panels_for_every_imaged_lesion(run):
    base, ids, man, res = run
    measured, fails = measure_plaque(base / "D" / "manifest.csv")
    assert fails.empty
    for pid, r in zip(ids, res.results, strict=True):
        rows = man[man["patient_id"] == pid]
        assert len(r.lesion_images) == len(rows)
        html = (base / "OUT" / f"{r.patient}.html").read_text(encoding="utf-8")
        assert html.count('<div class="lesion-panel"') == len(rows)
        if not len(rows):
            assert "No lesion image in the cohort's manifest" in unescape(html)
        imgs = re.findall(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
        assert len(imgs) == len(rows) + 2  # panels + the waterfalls on the risk and the model's scale
        assert all(base64.b64decode(b).startswith(PNG) for b in imgs)
        assert "src=\"http" not in html and "Content-Security-Policy" in html
        v = set(measured.loc[measured["patient_id"] == pid, "v_total_mm3"].round(9))
        assert {round(li.measurements["v_total_mm3"], 9) for li in r.lesion_images} == v
        for li in r.lesion_images:
            assert li.lesion.startswith("lesion ") and all(p.any() for p in li.plaque)
            for h, pl, comp in zip(li.hu, li.plaque, li.components, strict=True):
                assert np.array_equal(comp, component_map(h.astype(float), pl, PlaqueThresholds()))
                assert ((comp > 0) == pl).all()
            assert f"{li.measurements['v_total_mm3']:.1f}" in html or f"{li.measurements['v_total_mm3']:,.0f}" in html


def test_components_use_the_measurement_thresholds(run):
    """The colours of a lesion panel are the classes plaque_metrics sums into its volumes."""
    base, *_ = run
    row = read_manifest_for_extraction(base / "D" / "manifest.csv").iloc[0]
    img, msk = sitk.ReadImage(row["image_path"]), sitk.ReadImage(row["mask_path"])
    hu, lab = sitk.GetArrayFromImage(img).astype(float), sitk.GetArrayFromImage(msk)
    sp = img.GetSpacing()[::-1]
    th = PlaqueThresholds()
    comp = component_map(hu, np.isin(lab, row["labels"]), th)
    met = plaque_metrics(hu, lab, sp, plaque_labels=row["labels"], thresholds=th)
    vox = float(np.prod(sp))
    for code, key in ((1, "v_lap_mm3"), (2, "v_fibrofatty_mm3"), (3, "v_fibrous_mm3"), (4, "v_calcified_mm3")):
        assert (comp == code).sum() * vox == pytest.approx(met[key], abs=1e-9)
    assert met["v_lap_mm3"] > 0 and met["v_calcified_mm3"] > 0


def test_json_follows_the_versioned_schema(run):
    base, _, _, res = run
    schema = json.loads((schema_dir() / "patient_report.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    for r in res.results:
        doc = json.loads((base / "OUT" / f"{r.patient}.json").read_text(encoding="utf-8"))
        assert not list(v.iter_errors(doc))
        assert doc["format_version"] == 2 and doc["summary"] == list(r.summary)
        ex = doc["explanation"]
        assert ex["base_value"] + sum(c["shap"] for c in ex["contributions"]) == pytest.approx(ex["margin"])
        assert ex["base_risk"] + sum(c["risk_change"] for c in ex["contributions"]) == pytest.approx(doc["risk"])
    bad = {**doc, "format_version": 2}
    del bad["summary"]
    assert list(v.iter_errors(bad))


def test_unknown_patient_is_refused_by_name(run, tmp_path):
    base, ids, *_ = run
    with pytest.raises(PatientReportError, match=r"not in the cohort .*'NOPE-1'"):
        run_patient_report(base / "RUN" / "model", base / "D", [ids[0], "NOPE-1"], tmp_path / "o", id_key=KEY)
    assert not any((tmp_path / "o").glob("*.html"))
    with pytest.raises(PatientReportError, match="given twice"):
        run_patient_report(base / "RUN" / "model", base / "D", [ids[0], ids[0]], tmp_path / "o", id_key=KEY)


def test_existing_reports_are_not_replaced_without_overwrite(run):
    base, ids, *_ = run
    with pytest.raises(PatientReportError, match="exists"):
        run_patient_report(base / "RUN" / "model", base / "D", [ids[0]], base / "OUT", id_key=KEY, n_boot=2)


def test_raw_ids_name_files_and_lesions_by_their_ids(run, tmp_path):
    base, ids, man, _ = run
    res = run_patient_report(base / "RUN" / "model", base / "D", [ids[0]], tmp_path, raw_ids=True, n_boot=2)
    assert (tmp_path / f"{ids[0]}.html").exists() and res.results[0].patient == ids[0]
    assert {li.lesion for li in res.results[0].lesion_images} == set(man.loc[man["patient_id"] == ids[0],
                                                                           "lesion_id"])


def test_unrecorded_plaque_category_is_derived_and_the_guideline_context_shown(run, tmp_path):
    base, ids, *_ = run
    import shutil

    shutil.copytree(base / "D", tmp_path / "D")
    scans = pd.read_csv(tmp_path / "D" / "scans.csv", dtype=str, keep_default_na=False)
    scans["cad_rads_p"] = ""
    scans.to_csv(tmp_path / "D" / "scans.csv", index=False)
    res = run_patient_report(base / "RUN" / "model", tmp_path / "D", [ids[0]], tmp_path / "o", raw_ids=True,
                             n_boot=2, train_data=base / "D")
    r = res.results[0]
    row = scans.set_index("patient_id").loc[ids[0]]
    sis = float(row["sis"])
    expected = "P0" if sis == 0 else "P1" if sis <= 2 else "P2" if sis <= 4 else "P3" if sis <= 7 else "P4"
    assert r.report.cad_rads["derived"] == ["plaque"] and r.report.cad_rads["plaque"] == expected
    assert r.report.cad_rads["stenosis"] == row["cad_rads"]
    assert "(derived from the measurements)" in r.summary[2]
    g = json.loads((tmp_path / "o" / f"{ids[0]}.json").read_text(encoding="utf-8"))["guideline_context"]
    assert g["cad_rads"]["derived"] == ["plaque"] and "Cury" in g["cad_rads"]["source"]
    html = unescape((tmp_path / "o" / f"{ids[0]}.html").read_text(encoding="utf-8"))
    assert "Guideline context" in html and "derived by radiorisk from the measurements: plaque" in html


def _norm(text: str) -> str:
    """Whitespace collapsed and line-break hyphens joined (as PDF text extraction gives them)."""
    return " ".join(text.split()).replace("- ", "-")


def test_pdf_pages_hold_the_summary_waterfalls_lesion_panels_and_guideline_context(run):
    base, ids, man, res = run
    for r in res.results:
        reader = pypdf.PdfReader(base / "OUT" / f"{r.patient}.pdf")
        pages = [pg.extract_text() for pg in reader.pages]
        text = _norm(" ".join(pages))
        for s in r.summary:
            assert _norm(s) in text
        for heading in ("Summary", "How the model arrived at this risk", "Lesion images", "Guideline context",
                        "Risk scale:", "Model scale (log-hazard)"):
            assert heading in text, heading
        drawn = []
        for pg in reader.pages:
            xobj = pg["/Resources"].get("/XObject", {})
            content = pg.get_contents().get_data().decode("latin-1")
            drawn += [n for n in xobj if re.search(re.escape(n) + r"\s+Do", content)]
        assert len(set(drawn)) == len(r.lesion_images) + 2  # the panels and the two waterfalls
        assert len(reader.pages) >= 2
        plain = pypdf.PdfReader(base / "OUT" / f"{r.patient}.patient.pdf")
        assert "in 100" in plain.pages[0].extract_text()


def _sr_measurements(ds):
    """(group identifier, concept meaning, value, unit) of every numeric item of an SR, read back with pydicom."""
    out = []

    def walk(items, group):
        for it in items:
            name = it.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in it else ""
            if it.ValueType == "TEXT" and name == "Tracking Identifier":
                group = it.TextValue
            if it.ValueType == "NUM":
                mv = it.MeasuredValueSequence[0]
                out.append((group, name, float(mv.NumericValue), mv.MeasurementUnitsCodeSequence[0].CodeValue))
            if "ContentSequence" in it:
                walk(it.ContentSequence, group)

    walk(ds.ContentSequence, None)
    return out


def test_dicom_sr_reads_back_with_every_measurement(run):
    import highdicom as hd

    base, _, _, res = run
    for r in res.results:
        path = base / "OUT" / f"{r.patient}.sr.dcm"
        sr = hd.sr.srread(path)
        assert sr.PatientID == r.patient and sr.Modality == "SR"
        assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
        got = _sr_measurements(pydicom.dcmread(path))
        for li in r.lesion_images:
            ident = li.lesion + (f" ({li.vessel})" if li.vessel else "")
            mine = {name: (v, unit) for g, name, v, unit in got if g == ident}
            assert mine["Volume"] == (pytest.approx(li.measurements["v_total_mm3"]), "mm3")
            assert mine["Low-attenuation plaque volume"][0] == pytest.approx(li.measurements["v_lap_mm3"])
            assert mine["Calcified plaque volume"][0] == pytest.approx(li.measurements["v_calcified_mm3"])
            assert mine["Plaque burden"] == (pytest.approx(li.measurements["plaque_burden_pct"]), "%")
            assert len(mine) == sum(li.measurements.get(k) is not None for k in (
                "v_total_mm3", "v_calcified_mm3", "v_noncalcified_mm3", "v_lap_mm3", "v_fibrofatty_mm3",
                "v_fibrous_mm3", "plaque_burden_pct", "max_plaque_burden_pct", "remodelling_index", "hu_mean"))
        risk = {name: v for g, name, v, _ in got if g == "risk estimate"}
        assert risk["Risk of MACE by 1826 days"] == pytest.approx(100 * r.report.risk)
        assert risk["Risk of MACE, 95 % interval lower limit"] == pytest.approx(100 * r.report.ci_low)
        assert risk["Risk of MACE, 95 % interval upper limit"] == pytest.approx(100 * r.report.ci_high)
        groups = {g for g, *_ in got}
        assert groups == {"risk estimate"} | {li.lesion + f" ({li.vessel})" for li in r.lesion_images}


def _to_dicom_series(nifti, folder, *, patient_id: str, study: str, series: str) -> None:
    """Write a NIfTI CT as a DICOM series (one file per slice) with the given patient and UIDs."""
    img = sitk.ReadImage(str(nifti))
    vol, sp, org = sitk.GetArrayFromImage(img), img.GetSpacing(), img.GetOrigin()
    folder.mkdir(parents=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(vol.shape[0]):
        sl = sitk.GetImageFromArray(vol[z])
        sl.SetSpacing(sp[:2])
        pos = (org[0], org[1], org[2] + z * sp[2])
        for k, v in {"0010|0020": patient_id, "0010|0010": "Test^Patient", "0010|0030": "19600101",
                     "0010|0040": "O", "0008|0020": "20240102", "0008|0030": "101500", "0008|0090": "",
                     "0020|0010": "1", "0008|0050": "ACC1", "0008|0060": "CT", "0020|000d": study,
                     "0020|000e": series, "0020|0052": study + ".9", "0008|0016": "1.2.840.10008.5.1.4.1.1.2",
                     "0008|0018": f"{series}.{z + 1}", "0020|0013": str(z + 1),
                     "0020|0032": "\\".join(f"{x:.10g}" for x in pos), "0020|0037": "1\\0\\0\\0\\1\\0",
                     "0028|0030": f"{sp[1]:.10g}\\{sp[0]:.10g}", "0018|0050": f"{sp[2]:.10g}",
                     "0028|1052": "0", "0028|1053": "1"}.items():
            sl.SetMetaData(k, v)
        writer.SetFileName(str(folder / f"slice{z:03d}.dcm"))
        writer.Execute(sl)


def test_dicom_input_is_referenced_by_the_sr_with_raw_ids_only(run, tmp_path):
    import shutil

    import highdicom as hd

    base, ids, man, _ = run
    shutil.copytree(base / "D", tmp_path / "D")
    pid = ids[0]
    row = man[man["patient_id"] == pid].iloc[0]
    study, series = "1.2.826.0.1.3680043.2.1125.77.1", "1.2.826.0.1.3680043.2.1125.77.2"
    _to_dicom_series(tmp_path / "D" / row["image_path"], tmp_path / "D" / "dicom" / pid, patient_id=pid,
                     study=study, series=series)
    m = pd.read_csv(tmp_path / "D" / "manifest.csv", dtype=str)
    m.loc[m["lesion_id"] == row["lesion_id"], "image_path"] = f"dicom/{pid}"
    m.to_csv(tmp_path / "D" / "manifest.csv", index=False)
    model = base / "RUN" / "model"
    raw = run_patient_report(model, tmp_path / "D", [pid], tmp_path / "raw", raw_ids=True, n_boot=2,
                             train_data=base / "D", formats=("sr",))
    sr = hd.sr.srread(tmp_path / "raw" / f"{pid}.sr.dcm")
    assert sr.PatientID == pid and sr.StudyInstanceUID == study
    refs = {s.SeriesInstanceUID for st in sr.CurrentRequestedProcedureEvidenceSequence
            for s in st.ReferencedSeriesSequence}
    assert refs == {series}
    n_slices = len(list((tmp_path / "D" / "dicom" / pid).iterdir()))
    assert len(raw.results[0].dicom_evidence) == n_slices
    # the measurements on the DICOM series are those on the NIfTI image
    got = {name: v for g, name, v, _ in _sr_measurements(pydicom.dcmread(tmp_path / "raw" / f"{pid}.sr.dcm"))
           if g and g.startswith(row["lesion_id"])}
    assert got["Volume"] == pytest.approx(raw.results[0].lesion_images[0].measurements["v_total_mm3"])
    pz = run_patient_report(model, tmp_path / "D", [pid], tmp_path / "pz", id_key=KEY, n_boot=2,
                            train_data=base / "D", formats=("sr",))
    label = pz.results[0].patient
    data = (tmp_path / "pz" / f"{label}.sr.dcm").read_bytes()
    ds = pydicom.dcmread(tmp_path / "pz" / f"{label}.sr.dcm")
    assert ds.PatientID == label and "CurrentRequestedProcedureEvidenceSequence" not in ds
    assert study.encode() not in data and series.encode() not in data and pid.encode() not in data
