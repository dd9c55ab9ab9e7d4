"""Imaging findings of the patient report: plaque, CAD-RADS, CAC and PET, from the tables or the features."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..features import index_scans
from ._patient_values import _bool, _cac_category, _clean, _fmt, _num
from ._vocab import (
    _CAD_RADS_LEVELS,
    _CAD_RADS_P_TEXT,
    _CAD_RADS_TEXT,
    _CMA_HIGH,
    _HRF_COLS,
    _PET_REASON,
    _SCAN_PLAQUE,
    CAC_CATEGORIES,
)


def _index_scans(scans: pd.DataFrame) -> pd.DataFrame:
    """:func:`radiorisk.features.index_scans` with the patient ids as strings (as the reports print them)."""
    return index_scans(scans.assign(patient_id=scans["patient_id"].astype(str)))


def _get(row, col):
    if row is None or col not in row.index:
        return None
    return row[col]


def _lesion_dicts(les: pd.DataFrame) -> list[dict]:
    out = []
    for _, r in les.iterrows():
        seg_a, seg_b = _num(_get(r, "segment_start")), _num(_get(r, "segment_end"))
        seg = None
        if seg_a is not None:
            seg = f"{int(seg_a)}" if seg_b is None or seg_b == seg_a else f"{int(seg_a)}-{int(seg_b)}"
        hrf = [name for col, name in _HRF_COLS if _bool(_get(r, col))]
        out.append(_clean({
            "lesion_id": _get(r, "lesion_id"), "vessel": _get(r, "vessel"), "segment": seg,
            "diameter_stenosis_pct": _num(_get(r, "diameter_stenosis_pct")),
            "plaque_type": _get(r, "plaque_type"), "v_total_mm3": _num(_get(r, "v_total_mm3")),
            "v_lap_mm3": _num(_get(r, "v_lap_mm3")), "high_risk_features": hrf,
            "hrp_count": _num(_get(r, "hrp_count")),
        }))
    return out


def _findings_from_tables(pid: str, scans: pd.DataFrame | None, lesions: pd.DataFrame | None,
                          pet: pd.DataFrame | None):
    """plaque, cad_rads, cac and pet dicts from the raw cohort tables (None where not known)."""
    row = scans.loc[pid] if scans is not None and pid in scans.index else None
    plaque: dict = {"source": "cohort tables (scans, lesions)"}
    for src, key in _SCAN_PLAQUE:
        plaque[key] = _num(_get(row, src))
    lapb = plaque["low_attenuation_plaque_burden_pct"]
    plaque["lap_burden_gt_4"] = None if lapb is None else lapb > 4
    plaque["max_stenosis_pct"] = _num(_get(row, "max_stenosis_pct"))
    plaque["segment_involvement_score"] = _num(_get(row, "sis"))
    if lesions is not None:
        les = lesions[lesions["patient_id"].astype(str) == pid]
        if row is not None and "scan_id" in les.columns and "scan_id" in row.index:
            les = les[les["scan_id"].astype(str) == str(row["scan_id"])]
        plaque["n_lesions"] = len(les)
        plaque["high_risk_features"] = {name: int(les[col].astype("boolean").fillna(False).sum())
                                        for col, name in _HRF_COLS if col in les.columns}
        if "hrp_count" in les.columns:
            plaque["n_high_risk_lesions"] = int((les["hrp_count"].astype("Float64") >= 2).fillna(False).sum())
        if "plaque_type" in les.columns:
            plaque["plaque_types"] = {str(k): int(v) for k, v in
                                      les["plaque_type"].dropna().astype(str).value_counts().sort_index().items()}
        if plaque["max_stenosis_pct"] is None and "diameter_stenosis_pct" in les.columns and len(les):
            plaque["max_stenosis_pct"] = _num(les["diameter_stenosis_pct"].max())
        plaque["lesions"] = _lesion_dicts(les)
    else:
        plaque["lesions"] = None
    stenosis = _get(row, "cad_rads")
    stenosis = None if stenosis is None or pd.isna(stenosis) else str(stenosis)
    pcat = _get(row, "cad_rads_p")
    pcat = None if pcat is None or pd.isna(pcat) else str(pcat)
    cad = _cad_rads(stenosis, pcat, _bool(_get(row, "hrp_modifier")))
    cac = _cac(_num(_get(row, "cac_agatston")))
    prow = None
    if pet is not None and len(pet):
        p = pet[pet["patient_id"].astype(str) == pid]
        prow = p.iloc[0] if len(p) else None
    if prow is None or not _bool(_get(prow, "pet_available")):
        reason = _get(prow, "missing_reason")
        reason = None if reason is None or pd.isna(reason) else _PET_REASON.get(str(reason), str(reason))
        pet_d = _pet(False, reason=reason if prow is not None else "no PET record")
    else:
        vessels = {v: _num(_get(prow, f"cma_{c}")) for c, v in (("lad", "LAD"), ("lcx", "LCx"), ("rca", "RCA"))
                   if f"cma_{c}" in prow.index}
        pet_d = _pet(True, cma=_num(_get(prow, "cma_patient")), tbr=_num(_get(prow, "tbr_max_patient")),
                     vessels=vessels or None, uptake_min=_num(_get(prow, "uptake_min")))
    return plaque, cad, cac, pet_d


def _findings_from_x(x: pd.Series):
    """The same dicts from the model features (back-transformed), when no raw tables are given."""
    def g(c):
        return _num(x.get(c)) if c in x.index else None

    def ex(c):
        v = g(c)
        return None if v is None else round(float(np.expm1(v)), 6)

    plaque: dict = {"source": "model features (cohort tables not given)"}
    for src, key in _SCAN_PLAQUE:
        plaque[key] = ex(f"log1p_{src}") if src.endswith("_mm3") else g(src)
    lg = g("lapb_gt_4")
    lapb = plaque["low_attenuation_plaque_burden_pct"]
    plaque["lap_burden_gt_4"] = (lg >= 0.5) if lg is not None else (None if lapb is None else lapb > 4)
    plaque["max_stenosis_pct"] = g("max_stenosis_pct")
    plaque["segment_involvement_score"] = g("sis")
    if "n_lesions" in x.index:
        plaque["n_lesions"] = g("n_lesions")
    hrf = {name: g(f"n_{col}") for col, name in _HRF_COLS if f"n_{col}" in x.index}
    if hrf:
        plaque["high_risk_features"] = hrf
    if "n_hrp_lesions" in x.index:
        plaque["n_high_risk_lesions"] = g("n_hrp_lesions")
    plaque["lesions"] = None
    sv, pv = g("cad_rads"), g("cad_rads_p")
    stenosis = _CAD_RADS_LEVELS[int(round(sv))] if sv is not None and 0 <= round(sv) < 7 else None
    pcat = f"P{int(round(pv))}" if pv is not None and 0 <= round(pv) <= 4 else None
    hrp = g("hrp_modifier")
    cad = _cad_rads(stenosis, pcat, None if hrp is None else hrp >= 0.5)
    cac = _cac(ex("log1p_cac_agatston"))
    avail = g("pet_available")
    if avail is None:
        avail = 0.0 if g("log1p_cma_patient") is None else 1.0
    if avail < 0.5:
        pet_d = _pet(False, reason=None)
    else:
        pet_d = _pet(True, cma=ex("log1p_cma_patient"), tbr=g("tbr_max_patient"), vessels=None)
    return plaque, cad, cac, pet_d


def _cad_rads(stenosis: str | None, plaque: str | None, hrp: bool | None) -> dict:
    mods = ["HRP"] if hrp else []
    text = None
    if stenosis is not None:
        text = "CAD-RADS " + "/".join([stenosis] + ([plaque] if plaque else []) + mods)
    return {"stenosis": stenosis, "stenosis_description": _CAD_RADS_TEXT.get(stenosis),
            "plaque": plaque, "plaque_description": _CAD_RADS_P_TEXT.get(plaque),
            "modifiers": mods, "hrp_modifier": hrp, "text": text}


def _cac(score: float | None) -> dict:
    return {"agatston": score, "category": _cac_category(score),
            "categories": " / ".join(CAC_CATEGORIES)}


def _pet(available: bool, *, reason=None, cma=None, tbr=None, vessels=None, uptake_min=None) -> dict:
    if not available:
        return {"available": False, "missing_reason": reason, "tracer": "18F-NaF", "cma_patient": None,
                "cma_by_vessel": None, "tbr_max": None, "uptake_min": None,
                "interpretation": "not available" + (f" ({reason})" if reason else "")}
    if cma is None:
        interp = "PET performed; coronary microcalcification activity (CMA) not available"
    elif cma <= 0:
        interp = "no coronary 18F-NaF uptake (CMA 0)"
    elif cma > _CMA_HIGH:
        interp = (f"high coronary microcalcification activity (CMA {_fmt(cma)}, above {_CMA_HIGH}, the "
                  "threshold associated with myocardial infarction in Kwiecinski et al., JACC 2020)")
    else:
        interp = f"coronary 18F-NaF uptake present (CMA {_fmt(cma)})"
    return {"available": True, "missing_reason": None, "tracer": "18F-NaF", "cma_patient": cma,
            "cma_by_vessel": vessels, "tbr_max": tbr, "uptake_min": uptake_min, "interpretation": interp}

