"""The result object of ``radiorisk patient-report`` and its two views: summary, panels, escaping, readability."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

import numpy as np
import pandas as pd
import pytest

from radiorisk.exceptions import PatientReportError
from radiorisk.explain import ShapResult
from radiorisk.report import (
    LesionImage,
    PatientReport,
    PatientReportResult,
    ReportFactor,
    clinician_summary,
)
from radiorisk.report._figures_patient import lesion_panel_png, waterfall_png

EVIL = "<script>alert(1)</script>"


def _factor(label, value_text, direction, change):
    return ReportFactor(feature="age_years", label=label, block="clinical", value=1.0, value_text=value_text,
                        direction=direction, contribution=0.1, scale="log-hazard", risk_change=change,
                        phrase=f"{label} {direction}")


def _report(**kw):
    base = {"patient": "pz_0123", "horizon_days": 1826.0, "outcome": "MACE", "risk": 0.114, "ci_low": 0.07,
            "ci_high": 0.19, "ci_level": 0.95, "low_confidence": True,
            "confidence_reason": "interval wider than 0.1 (0.07-0.19)",
            "factors": (_factor("age", "71 years", "raises risk", 0.031),
                        _factor("low-attenuation plaque volume", "17.6 mm³", "raises risk", 0.012),
                        _factor("statin treatment", "yes", "lowers risk", -0.008),
                        _factor("diabetes", "no", "lowers risk", -0.002)),
            "plaque": {"low_attenuation_plaque_burden_pct": 5.2, "n_high_risk_lesions": 2},
            "cad_rads": {"text": "CAD-RADS 3/P2/HRP", "hrp_modifier": True},
            "pet": {"available": True, "interpretation": "coronary 18F-NaF uptake present (CMA 1.2)"},
            "free_text": EVIL, "report_date": "2025-01-31"}
    base.update(kw)
    return PatientReport(**base)


def _lesion(name="lesion 2"):
    hu = np.full((16, 16), 40.0)
    hu[5:9, 5:9] = 600.0
    hu[9:11, 5:11] = 10.0
    pl = np.zeros((16, 16), bool)
    pl[4:12, 4:12] = True
    comp = np.where(pl, np.select([hu < 30, hu <= 130, hu <= 350], [1, 2, 3], 4), 0).astype(np.int8)
    return LesionImage(lesion=name, vessel="LAD", hu=(hu,) * 3, plaque=(pl,) * 3, components=(comp,) * 3,
                       pixel_mm=((0.4, 0.4), (0.5, 0.4), (0.5, 0.4)), centre_voxel=(8, 8, 8),
                       measurements={"v_total_mm3": 12.5, "v_lap_mm3": 1.75, "v_calcified_mm3": 2.5},
                       thresholds={"lap_hu": 30.0, "fibrofatty_hu": 130.0, "calcified_hu": 350.0})


def _shap(label="pz_0123"):
    from radiorisk.explain._shap_result import RiskLink

    x = pd.DataFrame({"age_years": [71.0], "log1p_lapv_mm3": [2.9]}, index=[label])
    link = RiskLink(kind="cox", horizon=1826.0, baseline_times=np.array([0.0, 1826.0]),
                    baseline_cumhaz=np.array([0.0, 0.1]), offset=0.0)
    return ShapResult(values=np.array([[0.4, 0.2]]), base_value=0.1, data=x,
                      feature_names=("age_years", "log1p_lapv_mm3"), blocks=("clinical", "ccta"),
                      scale="log-hazard", model_kind="coxph", method="linear", background="training cohort",
                      link=link)


def _result(**kw):
    r = _report(**kw)
    return PatientReportResult(report=r, summary=clinician_summary(r), lesion_images=(_lesion(),),
                               shap=_shap(), horizon_days=1826.0,
                               provenance={"author": "Dr C", "created_utc": "2025-01-31T10:00:00Z"})


def test_summary_has_three_sentences_with_the_findings_that_matter():
    s1, s2, s3 = clinician_summary(_report())
    assert s1 == ("Estimated risk of MACE within 5 years (1826 days): 11.4 % (95 % interval 7.0 % to 19.0 %); "
                  "low confidence: interval wider than 0.1 (0.07-0.19).")
    assert s2 == ("Main drivers: age (71 years) raises risk (+3.10 points); low-attenuation plaque volume "
                  "(17.6 mm³) raises risk (+1.20 points); statin treatment (yes) lowers risk (-0.80 points).")
    assert s3 == ("Plaque findings: CAD-RADS 3/P2/HRP; high-risk plaque in 2 lesion(s); low-attenuation plaque "
                  "burden 5.2 % (above 4 %); PET: coronary 18F-NaF uptake present (CMA 1.2).")


def test_summary_says_what_is_not_available():
    r = _report(low_confidence=None, ci_low=None, ci_high=None, factors=(), plaque={}, cad_rads={}, pet={})
    s1, s2, s3 = clinician_summary(r)
    assert s1.endswith("11.4 %; confidence not assessed.")
    assert s2 == "No contributing factor is available for this prediction."
    assert "CAD-RADS not available" in s3 and "burden not available" in s3 and "PET: not available" in s3
    lapb = clinician_summary(_report(plaque={"low_attenuation_plaque_burden_pct": 3.0}))[2]
    assert "3 % (not above 4 %)" in lapb


def test_clinician_view_embeds_every_figure_and_escapes_the_comment():
    page = _result().to_html("clinician")
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == 3  # one lesion panel, two waterfalls
    assert all(base64.b64decode(b)[:4] == b"\x89PNG" for b in imgs)
    assert EVIL not in page and "&lt;script&gt;" in page
    assert "img-src data:" in page and "<script" not in page.replace("&lt;script", "")
    text = unescape(page)
    assert text.index("Summary") < text.index("Contributing factors") < text.index("Lesion images")
    assert "12.5 mm³" in text and "1.75 mm³" in text and "lesion 2, LAD" in text
    assert "The base value is the model's average log-hazard over training cohort" in text


def test_json_version_2_holds_the_explanation_and_no_pixels():
    d = json.loads(_result().to_json())
    assert d["format"] == "radiorisk-patient-report" and d["format_version"] == 2
    ex = d["explanation"]
    assert ex["base_value"] == 0.1 and ex["margin"] == pytest.approx(0.7)
    # the Cox link: risk = 1 - exp(-H0 exp(margin)) with H0 = 0.1 at the horizon
    assert ex["base_risk"] == pytest.approx(1 - np.exp(-0.1 * np.exp(0.1)))
    assert sum(c["risk_change"] for c in ex["contributions"]) == pytest.approx(
        (1 - np.exp(-0.1 * np.exp(0.7))) - ex["base_risk"])
    li = d["lesion_images"][0]
    assert li["component_pixels"]["axial"] == {"low_attenuation": 12, "fibrofatty": 64 - 16 - 12, "fibrous": 0,
                                              "calcified": 16}
    assert li["slice_shape"] == [[16, 16]] * 3 and "hu" not in li


def test_lesion_image_refuses_inconsistent_views():
    li = _lesion()
    with pytest.raises(PatientReportError, match="coronal slice"):
        LesionImage(lesion="x", vessel=None, hu=li.hu, plaque=(li.plaque[0], li.plaque[0][:3], li.plaque[0]),
                    components=li.components, pixel_mm=li.pixel_mm, centre_voxel=(1, 1, 1), measurements={},
                    thresholds=li.thresholds)
    with pytest.raises(PatientReportError, match="3 views"):
        LesionImage(lesion="x", vessel=None, hu=li.hu[:2], plaque=li.plaque, components=li.components,
                    pixel_mm=li.pixel_mm, centre_voxel=(1, 1, 1), measurements={}, thresholds=li.thresholds)
    with pytest.raises(PatientReportError, match="view must be one of"):
        _result().to_html("nurse")


def test_figures_are_pngs_of_the_stated_size():
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(lesion_panel_png(_lesion(), dpi=50)))
    assert im.size == (420, 165)  # 8.4 x 3.3 inches
    im = Image.open(io.BytesIO(waterfall_png(_shap(), scale="risk", horizon=1826.0, title="t", dpi=50)))
    assert im.size[0] == 360


# ------------------------------------------------------------------------------ the patient view
def _syllables(word: str) -> int:
    w = word.lower()
    groups = re.findall(r"[aeiouy]+", w)
    n = len(groups) - (1 if w.endswith("e") and not w.endswith("le") and len(groups) > 1 else 0)
    return max(n, 1)


def _flesch_kincaid_grade(text: str) -> float:
    sentences = [s for s in re.split(r"[.!?]+\s", text) if s.strip()]
    words = re.findall(r"[A-Za-z]+", text)
    syl = sum(_syllables(w) for w in words)
    return 0.39 * len(words) / len(sentences) + 11.8 * syl / len(words) - 15.59


def _visible_text(page: str) -> str:
    body = page.split("<body", 1)[1]
    body = re.sub(r"<style.*?</style>", " ", body, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", body))


def test_patient_view_uses_natural_frequencies_and_an_icon_array():
    page = _result().to_html("patient")
    text = " ".join(_visible_text(page).split())
    assert "About 11 in 100" in text and "about 11 of them" in text and "The other 89" in text
    assert "between 7 and 19 in 100" in text and "less certain than usual" in text
    icons = page.split('<div class="icons"', 1)[1].split("</div>", 1)[0]
    assert icons.count('<span class="event">') == 11 and icons.count('<span class="maybe">') == 8
    assert icons.count("<span class=") == 100
    assert "Research use only" in text and "not a medical device" in text
    assert "What we do not know" in text


def test_patient_view_reads_at_about_age_12():
    """Flesch-Kincaid grade of the fixed text at most 7 (reading age about 12), factor names aside."""
    r = _report(factors=(), free_text="")
    page = PatientReportResult(report=r, summary=clinician_summary(r)).to_html("patient")
    text = " ".join(_visible_text(page).split())
    text = text.split("Your heart scan result", 1)[1].replace("pz_0123", "you").replace("18F-NaF", "")
    grade = _flesch_kincaid_grade(text)
    assert 2.0 < grade  # the measure reads the page (not an empty string)
    assert grade <= 7.0, f"Flesch-Kincaid grade {grade:.1f}"


def test_the_structured_report_reads_back_from_version_2():
    res = _result()
    assert PatientReport.from_json(res.to_json()) == res.report
    doc = json.loads(res.to_json())
    doc["format_version"] = 3
    with pytest.raises(PatientReportError, match="format_version 3 is not supported"):
        PatientReport.from_dict(doc)
