"""The patient structured report: fields, JSON round-trip, HTML sections and escaping, atomic writes."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from radiorisk.pipeline import patient_reports, write_patient_reports
from radiorisk.report import (
    CAC_CATEGORIES,
    DISCLAIMER,
    PatientReport,
    PatientReportError,
    ReportFactor,
    feature_label,
)

SECTIONS = ("Risk", "Confidence", "Contributing factors", "Plaque findings", "PET", "Comment",
            "About this report")
EVIL = "<script>alert('x')</script> & <img src=x onerror=alert(1)>"


def _fit_quietly(make, X, y):
    """Fit a coxph on a resample; lifelines may warn about convergence on small resamples."""
    from lifelines.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return make().fit(X, y)


@pytest.fixture(scope="module")
def setup():
    from radiorisk.datasets import simulate_cohort
    from radiorisk.explain import risk_intervals
    from radiorisk.features import assemble_cohort
    from radiorisk.models import make_model

    cohort = simulate_cohort(300, seed=3, pet_rate=0.5)
    data = assemble_cohort(cohort, horizon=1826)
    model = make_model("coxph", penalizer=0.1, horizon=1826.0).fit(data.X, data.y)
    n_les = cohort.lesions.groupby("patient_id").size()
    with_les = data.X.index[data.X.index.isin(n_les.index)]
    pet = [i for i in with_les if data.pet_available[i]][:2]
    no_pet = [i for i in with_les if not data.pet_available[i]][:1]
    ids = pet + no_pet
    rng = np.random.default_rng(0)
    ensemble = [_fit_quietly(lambda: make_model("coxph", penalizer=0.1, horizon=1826.0),
                             data.X.iloc[idx], data.y[idx])
                for idx in (rng.integers(0, data.n, data.n) for _ in range(4))]
    u = risk_intervals(model, data.X.loc[ids], ensemble=[model, *ensemble], X_train=data.X,
                       blocks=data.blocks)
    reports = patient_reports(model, data, ids, intervals=u, tables=cohort,
                              free_text={ids[0]: EVIL}, report_date="2025-01-31",
                              provenance={"run": "tests"})
    return {"cohort": cohort, "data": data, "model": model, "ids": ids, "u": u,
            "reports": reports, "ensemble": ensemble}


def test_fields(setup):
    reps, ids, data, cohort = setup["reports"], setup["ids"], setup["data"], setup["cohort"]
    assert [r.patient for r in reps] == ids
    risk = setup["model"].predict_risk(data.X.loc[ids], 1826.0)
    scans = cohort.scans.set_index("patient_id")
    for r, pid, p in zip(reps, ids, risk, strict=True):
        assert isinstance(r, PatientReport)
        assert r.horizon_days == 1826.0 and r.report_date == "2025-01-31"
        assert r.risk == pytest.approx(float(p), abs=1e-12)
        assert r.ci_level == 0.95 and r.ci_low <= r.risk <= r.ci_high
        row = setup["u"].table.loc[pid]
        assert r.low_confidence is bool(row["low_confidence"])
        if r.low_confidence:
            assert r.confidence_reason == row["reason"]
        assert "myocardial infarction" in r.outcome
        # factors: top 5 by |SHAP|, direction consistent with the log-hazard sign
        assert len(r.factors) == 5 and all(isinstance(f, ReportFactor) for f in r.factors)
        mags = [abs(f.contribution) for f in r.factors]
        assert mags == sorted(mags, reverse=True)
        for f in r.factors:
            assert f.scale == "log-hazard"
            assert f.direction == ("raises risk" if f.contribution > 0 else "lowers risk")
            assert np.sign(f.risk_change) == np.sign(f.contribution)
            assert f.label in f.phrase.lower() or f.label[1:] in f.phrase
            assert f.value_text in f.phrase and f.direction in f.phrase
        # imaging findings follow the cohort tables
        s = scans.loc[pid]
        assert r.cad_rads["stenosis"] == s["cad_rads"]
        assert r.cad_rads["text"].startswith(f"CAD-RADS {s['cad_rads']}/{s['cad_rads_p']}")
        assert ("HRP" in r.cad_rads["modifiers"]) is bool(s["hrp_modifier"])
        assert r.cac["agatston"] == pytest.approx(s["cac_agatston"])
        assert r.cac["category"] in CAC_CATEGORIES
        les = cohort.lesions[cohort.lesions["patient_id"] == pid]
        assert r.plaque["n_lesions"] == len(les) == len(r.plaque["lesions"]) > 0
        assert r.plaque["total_plaque_volume_mm3"] == pytest.approx(s["tpv_mm3"])
        assert set(r.plaque["high_risk_features"]) == {"positive_remodelling", "low_attenuation",
                                                       "spotty_calcification", "napkin_ring"}
        assert r.disclaimer == DISCLAIMER and r.model["model"] == "coxph" and r.model["run"] == "tests"
    assert reps[0].free_text == EVIL and reps[1].free_text == ""
    frame = pd.concat([r.to_frame() for r in reps], ignore_index=True)
    assert frame["patient"].tolist() == ids


@pytest.mark.parametrize(("score", "category"), [(0.0, "0"), (12.0, "1-99"), (150.0, "100-399"),
                                                 (400.0, ">=400")])
def test_cac_categories(score, category):
    from radiorisk.report._patient_findings import _cac

    assert _cac(score)["category"] == category


def test_json_round_trip_without_nan(setup):
    for r in setup["reports"]:
        text = r.to_json()
        assert not re.search(r"\bNaN\b|\bInfinity\b", text)

        def _reject(c):
            raise AssertionError(f"non-standard JSON constant {c}")

        d = json.loads(text, parse_constant=_reject)
        assert d == r.to_dict()
        assert d["format"] == "radiorisk-patient-report" and d["format_version"] == 1
        back = PatientReport.from_json(text)
        assert back == r
    with pytest.raises(PatientReportError, match="not a 'radiorisk-patient-report'"):
        PatientReport.from_dict({"patient": "x"})


def test_missing_pet_reported_as_not_available(setup):
    r = setup["reports"][2]
    assert r.pet["available"] is False
    assert r.pet["interpretation"].startswith("not available")
    assert r.pet["cma_patient"] is None and r.pet["tbr_max"] is None
    reason = setup["cohort"].pet.set_index("patient_id").loc[r.patient, "missing_reason"]
    assert r.pet["missing_reason"] is not None and r.pet["missing_reason"].split()[0] in reason
    assert '"cma_patient": null' in r.to_json()
    assert r.low_confidence and "PET missing" in r.confidence_reason
    page = r.to_html()
    pet_section = page.split('<section id="pet">')[1].split("</section>")[0]
    assert "Not available" in pet_section
    assert not re.search(r"\bnan\b", page, flags=re.IGNORECASE)
    # the PET patients have numbers
    for q in setup["reports"][:2]:
        assert q.pet["available"] is True and q.pet["cma_patient"] is not None
        assert "CMA" in q.pet["interpretation"]


def test_html_sections_self_contained_and_escaped(setup):
    for r in setup["reports"]:
        page = r.to_html()
        assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
        for title in SECTIONS:
            assert f"<h2>{title}</h2>" in page
        assert "<script" not in page.lower()
        assert not re.search(r"<[^>]*\b(src|href)\s*=", page)  # no external resource
        assert "http://" not in page and "https://" not in page
        assert not re.search(r"\bnan\b", page, flags=re.IGNORECASE)
        assert r.patient in page and DISCLAIMER in page
        assert r._repr_html_().count("<h2>") == len(SECTIONS)
    page = setup["reports"][0].to_html()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;img src=x" in page


def test_without_tables_or_intervals(setup):
    data, model, pid = setup["data"], setup["model"], setup["ids"][0]
    r = patient_reports(model, data.X, pid, top_k=3, report_date="2025-01-31")[0]
    assert r.low_confidence is None and r.confidence_reason.startswith("not assessed")
    assert r.ci_low is None and r.ci_high is None and len(r.factors) == 3
    assert r.plaque["source"].startswith("model features") and r.plaque["lesions"] is None
    full = setup["reports"][0]
    assert r.cac["agatston"] == pytest.approx(full.cac["agatston"], abs=1e-6)
    assert r.cad_rads["stenosis"] == full.cad_rads["stenosis"]
    assert r.pet["available"] is True and r.pet["cma_patient"] == pytest.approx(full.pet["cma_patient"])
    assert r.risk == pytest.approx(full.risk)
    assert "Not assessed" in r.to_html() and "null" in r.to_json()
    # a raw cohort as data: assembled, and its tables used for the findings
    r2 = patient_reports(model, setup["cohort"], [pid], report_date="2025-01-31")[0]
    assert r2.plaque["source"].startswith("cohort tables") and r2.risk == pytest.approx(full.risk)


def test_given_shap_and_consistency_checks(setup):
    from radiorisk.explain import risk_intervals, shap_values

    data, model, ids = setup["data"], setup["model"], setup["ids"]
    res = shap_values(model, data.X.iloc[:60].combine_first(data.X.loc[ids]), blocks=data.blocks)
    reps = patient_reports(model, data, ids, shap=res, intervals=setup["u"], tables=setup["cohort"],
                           report_date="2025-01-31", free_text={ids[0]: EVIL})
    assert [f.feature for f in reps[1].factors] == [f.feature for f in setup["reports"][1].factors]
    other = setup["ensemble"][0]
    u_other = risk_intervals(other, data.X.loc[ids], ensemble=[other], ood=None)
    with pytest.raises(PatientReportError, match="another model"):
        patient_reports(model, data, ids, intervals=u_other)
    with pytest.raises(PatientReportError, match="another model"):
        patient_reports(model, data, ids, shap=shap_values(other, data.X.loc[ids]))
    with pytest.raises(PatientReportError, match="horizon"):
        patient_reports(model, data, ids, intervals=setup["u"], horizon=365)


def test_bootstrap_intervals_from_training_data(setup):
    from lifelines.exceptions import ConvergenceWarning

    data, model, ids = setup["data"], setup["model"], setup["ids"][:1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = patient_reports(model, data, ids, X_train=data.X, y_train=data.y, n_boot=3)[0]
    assert r.low_confidence is not None and r.ci_low <= r.risk <= r.ci_high
    assert "bootstrap" in r.model["interval"]


def test_write_atomic(setup, tmp_path):
    reps = setup["reports"]
    files = write_patient_reports(reps, tmp_path / "out")
    assert list(files.columns) == ["patient", "format", "path"] and len(files) == 2 * len(reps)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(f"{r.patient}.{ext}" for r in reps for ext in ("html", "json"))
    for r in reps:
        text = (tmp_path / "out" / f"{r.patient}.json").read_text(encoding="utf-8")
        assert PatientReport.from_json(text) == r
    write_patient_reports(reps[:1], tmp_path / "out", formats=["json"])  # overwrite in place
    assert len(list((tmp_path / "out").iterdir())) == 2 * len(reps)  # no temporary file left
    twins = [PatientReport.from_dict({**reps[0].to_dict(), "patient": p}) for p in ("a/b", "a_b")]
    with pytest.raises(PatientReportError, match="share the file name"):
        write_patient_reports(twins, tmp_path / "twins")
    with pytest.raises(PatientReportError, match="formats"):
        write_patient_reports(reps, tmp_path, formats=["pdf"])


def test_pseudonyms(setup):
    data, model, ids = setup["data"], setup["model"], setup["ids"][:2]
    reps = patient_reports(model, data, ids, pseudonyms={ids[0]: "R-001", ids[1]: "R-002"}, top_k=1)
    assert [r.patient for r in reps] == ["R-001", "R-002"]
    assert ids[0] not in reps[0].to_html() and ids[0] not in reps[0].to_json()
    with pytest.raises(PatientReportError, match="no pseudonym"):
        patient_reports(model, data, ids, pseudonyms={ids[0]: "R-001"})


def test_errors(setup):
    data, model, ids = setup["data"], setup["model"], setup["ids"]
    with pytest.raises(PatientReportError, match="not in the data"):
        patient_reports(model, data, ["nobody"])
    with pytest.raises(PatientReportError, match="top_k"):
        patient_reports(model, data, ids, top_k=0)
    with pytest.raises(PatientReportError, match="must be a string"):
        patient_reports(model, data, ids, free_text={ids[0]: 3})
    with pytest.raises(PatientReportError, match="not in the data"):
        patient_reports(model, data, ids, free_text={"nobody": "x"})
    with pytest.raises(PatientReportError, match="lack 1 column"):
        patient_reports(model, data.X.drop(columns="age_years"), ids)
    with pytest.raises(PatientReportError, match="data must be"):
        patient_reports(model, [1, 2], ids)


@pytest.mark.parametrize(("feature", "label"), [
    ("age_years", "age"),
    ("log1p_lapv_mm3", "low-attenuation plaque volume"),
    ("rad_original_glcm_Contrast__max", "plaque texture (radiomics: original_glcm_Contrast, largest over lesions)"),
    ("rad_original_shape_VoxelVolume__sum", "plaque shape (radiomics: original_shape_VoxelVolume, sum over lesions)"),
    ("img_lap_burden_pct", "image-measured low-attenuation plaque burden"),
    ("log1p_cma_patient_missing", "coronary 18F-NaF activity (CMA) not available"),
    ("some_new_column", "some new column"),
])
def test_feature_labels(feature, label):
    assert feature_label(feature) == label


def test_factor_values_carry_units(setup):
    from radiorisk.report._patient_values import _value_text
    from radiorisk.report._vocab import _spec

    assert _value_text(*_spec("age_years")[1:2], 61.0, _spec("age_years")[2]) == "61.0 years"
    label, kind, unit = _spec("log1p_lapv_mm3")
    assert (kind, unit) == ("log1p", "mm³") and _value_text(kind, 17.6, unit) == "17.6 mm³"
    assert _value_text("bool", 1.0, None) == "yes" and _value_text("sex", 0.0, None) == "female"
    assert _value_text("num", None, "mmol/L") == "not available"
    assert _value_text("cad_rads", 4.0, None) == "4A"
