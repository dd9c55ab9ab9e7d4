"""Guideline context of the patient report: the attributed table, derived CAD-RADS categories, risk bands."""

from __future__ import annotations

import json

import pytest

from radiorisk.exceptions import PatientReportError
from radiorisk.report import (
    PatientReport,
    PatientReportResult,
    clinician_summary,
    complete_cad_rads,
    guideline_context,
    load_guideline,
)
from radiorisk.report._patient_guideline import derive_plaque_category, derive_stenosis_category


def _report(**kw):
    base = {"patient": "pz_1", "horizon_days": 1826.0, "outcome": "MACE", "risk": 0.14, "ci_low": 0.1,
            "ci_high": 0.2, "ci_level": 0.95, "low_confidence": False, "confidence_reason": "", "factors": ()}
    base.update(kw)
    return PatientReport(**base)


@pytest.mark.parametrize(("stenosis", "expected"), [(0, "0"), (1, "1"), (24.9, "1"), (25, "2"), (49.9, "2"),
                                                    (50, "3"), (69.9, "3"), (70, "4A"), (99, "4A"),
                                                    (100, "5"), (None, None)])
def test_stenosis_category_boundaries(stenosis, expected):
    assert derive_stenosis_category(stenosis) == expected


def test_4b_needs_left_main_or_three_territories():
    three = [{"vessel": "LAD", "diameter_stenosis_pct": 75}, {"vessel": "OM1", "diameter_stenosis_pct": 72},
             {"vessel": "RCA", "diameter_stenosis_pct": 90}]
    assert derive_stenosis_category(90, three) == "4B"
    assert derive_stenosis_category(90, three[:2]) == "4A"
    assert derive_stenosis_category(90, [*three[:2], {"vessel": "RCA", "diameter_stenosis_pct": 60}]) == "4A"
    assert derive_stenosis_category(72, [{"vessel": "LM", "diameter_stenosis_pct": 50}]) == "4B"
    assert derive_stenosis_category(60, [{"vessel": "LM", "diameter_stenosis_pct": 60}]) == "3"


@pytest.mark.parametrize(("sis", "cac", "expected"), [(0, None, "P0"), (2, None, "P1"), (3, None, "P2"),
                                                      (4, None, "P2"), (5, None, "P3"), (7, None, "P3"),
                                                      (8, 5000.0, "P4"), (None, 100.0, "P1"),
                                                      (None, 101.0, "P2"), (None, 300.0, "P2"),
                                                      (None, 999.0, "P3"), (None, 1000.0, "P4")])
def test_plaque_category_from_sis_then_cac(sis, cac, expected):
    assert derive_plaque_category(sis, cac) == expected


def test_recorded_categories_are_kept_and_missing_ones_marked_derived():
    r = _report(cad_rads={"stenosis": "2", "plaque": "P1", "hrp_modifier": False, "text": "CAD-RADS 2/P1"})
    assert complete_cad_rads(r) is r
    r = _report(cad_rads={"stenosis": "4A", "plaque": None, "hrp_modifier": True, "modifiers": ["HRP"],
                          "text": "CAD-RADS 4A/HRP"}, plaque={"segment_involvement_score": 9})
    c = complete_cad_rads(r).cad_rads
    assert c["text"] == "CAD-RADS 4A/P4/HRP" and c["derived"] == ["plaque"]
    s3 = clinician_summary(complete_cad_rads(r))[2]
    assert "CAD-RADS 4A/P4/HRP (derived from the measurements)" in s3


def test_context_is_attributed_and_never_radiorisks_advice():
    r = complete_cad_rads(_report(cad_rads={}, plaque={"max_stenosis_pct": 55.0, "segment_involvement_score": 3},
                                  low_confidence=True))
    g = guideline_context(r)
    assert g["table"] == {"name": "radiorisk-guideline-context", "version": "1.1.0"}
    assert g["cad_rads"]["category"] == "CAD-RADS 3/P2" and g["cad_rads"]["derived"] == ["stenosis", "plaque"]
    assert g["cad_rads"]["further_evaluation"] == "consider functional assessment"
    assert "doi:10.1016/j.jcct.2022.07.002" in g["cad_rads"]["source"]
    assert set(g["cad_rads"]["derivation"]) == {"stenosis", "plaque"}
    assert g["risk_band"]["source"] is None and "states none of its own" in g["risk_band"]["text"]
    assert g["low_confidence"]["applies"] is True and "not a guideline criterion" in g["low_confidence"]["text"]
    page = PatientReportResult(report=r, summary=clinician_summary(r), guideline=g).to_html()
    assert 'id="guideline-context"' in page and "not advice from radiorisk" in page
    assert "derived by radiorisk from the measurements: stenosis, plaque" in page
    assert page.index('id="pet"') < page.index('id="guideline-context"') < page.index('id="comment"')


def _bands(**kw):
    t = {"name": "Example bands 2025", "source": "Example et al. 2025", "horizon_days": 1826,
         "bands": [{"upper": 0.05, "label": "low", "meaning": "a"}, {"upper": 0.15, "label": "moderate",
                                                                    "meaning": "b"},
                   {"upper": 1.0, "label": "high", "meaning": "c"}]}
    t.update(kw)
    return {**load_guideline(), "risk_bands": t}


def test_users_risk_bands_apply_at_their_horizon_only(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_bands()), encoding="utf-8")
    g = guideline_context(_report(risk=0.14), load_guideline(path))
    assert g["risk_band"]["band"] == "moderate" and g["risk_band"]["source"] == "Example et al. 2025"
    assert guideline_context(_report(risk=0.15), _bands())["risk_band"]["band"] == "high"
    assert guideline_context(_report(risk=0.01), _bands())["risk_band"]["band"] == "low"
    other = guideline_context(_report(horizon_days=3652.5), _bands())["risk_band"]
    assert "band" not in other and "not applied" in other["text"]


def test_malformed_tables_are_refused(tmp_path):
    with pytest.raises(PatientReportError, match=r"missing key\(s\) \['cad_rads'\]"):
        load_guideline({"name": "x", "version": "1"})
    with pytest.raises(PatientReportError, match="increasing numeric 'upper'"):
        load_guideline(_bands(bands=[{"upper": 0.2}, {"upper": 0.1}, {"upper": 1.0}]))
    with pytest.raises(PatientReportError, match="ending at 1"):
        load_guideline(_bands(bands=[{"upper": 0.2}]))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(PatientReportError, match="bad.json: cannot be read"):
        load_guideline(bad)
