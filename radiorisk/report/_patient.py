"""The patient structured report: one patient's risk, its confidence, its reasons and the imaging findings.

Following the consensus recommendations on structured reporting, each report
carries, for one patient:

- the predicted probability of MACE by the horizon with its 95 % interval;
- the confidence flag and its reason (:func:`radiorisk.explain.risk_intervals`);
- the top contributing factors in plain words (SHAP values,
  :func:`radiorisk.explain.shap_values`), each with the patient's value and unit;
- the plaque findings (volumes and burdens by component, high-risk features,
  lesions), the CAD-RADS 2.0 category with its modifiers and the CAC score with
  its category;
- the coronary 18F-NaF PET activity, or why it is not available;
- a free-text comment by the user, and what model produced the report.

:class:`PatientReport` is a frozen dataclass with ``to_dict``/``to_json``
(strict JSON: missing values are ``null``, never NaN) and ``to_html`` (one
self-contained page: inline style, no script, no external resource, every
user string escaped).  :func:`patient_reports` builds them;
:func:`write_patient_reports` writes ``<patient>.html`` and
``<patient>.json`` atomically.  This module formats results only: the risks,
intervals and SHAP values come from :mod:`radiorisk.models` and
:mod:`radiorisk.explain`.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import RadioriskError

__all__ = [
    "PatientReport",
    "ReportFactor",
    "PatientReportError",
    "patient_reports",
    "write_patient_reports",
    "feature_label",
    "DISCLAIMER",
    "REPORT_FORMAT",
    "CAC_CATEGORIES",
]

#: Format name and version written into every JSON report.
REPORT_FORMAT = ("radiorisk-patient-report", 1)
#: The statement every report carries.
DISCLAIMER = ("For research use only. radiorisk is not a medical device; this report must not be "
              "used on its own for diagnosis or treatment decisions.")
#: CAC (Agatston) categories of the report.
CAC_CATEGORIES = ("0", "1-99", "100-399", ">=400")
#: CMA above which coronary 18F-NaF activity is reported as high (Kwiecinski et al., JACC 2020).
_CMA_HIGH = 1.56

_SECTIONS = ("Risk", "Confidence", "Contributing factors", "Plaque findings", "PET", "Comment",
             "About this report")

_MSG_UNKNOWN_IDS = "patient_reports: {k} patient id(s) not in the data (first: {first!r})"
_MSG_MISSING_COLS = ("patient_reports: the data lack {k} column(s) the model was fitted on (first: "
                     "{first!r}); pass the CohortData the model was trained on (e.g. assemble_cohort("
                     "..., radiomics=...)) and the raw tables with tables=")
_MSG_MISMATCH = ("patient_reports: {what} give risk {a:.6g} for patient {pid!r} but the model gives "
                 "{b:.6g}; they were computed with another model, data or horizon")


class PatientReportError(RadioriskError, ValueError):
    """A patient report cannot be built or written with these inputs (the message says why)."""


# ---------------------------------------------------------------------------------- labels
# feature -> (plain-language label, kind, (schema table, column) for the unit)
# kinds: num, count, bool, log1p (value = expm1), sex, cad_rads, cad_rads_p
_FEATURES: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "age_years": ("age", "num", ("patients", "age_years")),
    "sex_male": ("sex", "sex", None),
    "diabetes": ("diabetes", "bool", None),
    "smoking_current": ("current smoking", "bool", None),
    "smoking_former": ("former smoking", "bool", None),
    "hypertension": ("high blood pressure (hypertension)", "bool", None),
    "ldl_mmol_l": ("LDL cholesterol", "num", ("patients", "ldl_mmol_l")),
    "hdl_mmol_l": ("HDL cholesterol", "num", ("patients", "hdl_mmol_l")),
    "bmi": ("body-mass index", "num", ("patients", "bmi")),
    "sbp_mmhg": ("systolic blood pressure", "num", ("patients", "sbp_mmhg")),
    "egfr_ml_min_1_73m2": ("kidney function (eGFR)", "num", ("patients", "egfr_ml_min_1_73m2")),
    "family_history": ("family history of premature coronary heart disease", "bool", None),
    "on_statin": ("statin treatment", "bool", None),
    "prior_mi": ("previous heart attack", "bool", None),
    "prior_pci": ("previous coronary stent (PCI)", "bool", None),
    "prior_cabg": ("previous bypass surgery (CABG)", "bool", None),
    "symptom_typical": ("typical angina symptoms", "bool", None),
    "log1p_cac_agatston": ("coronary calcium score (CAC)", "log1p", ("scans", "cac_agatston")),
    "cad_rads": ("CAD-RADS stenosis category", "cad_rads", None),
    "cad_rads_p": ("CAD-RADS plaque burden category", "cad_rads_p", None),
    "hrp_modifier": ("high-risk plaque (CAD-RADS HRP modifier)", "bool", None),
    "sis": ("coronary segments with plaque (segment involvement score)", "count", None),
    "sss": ("segment stenosis score", "count", None),
    "max_stenosis_pct": ("largest narrowing (maximum stenosis)", "num", ("scans", "max_stenosis_pct")),
    "obstructive": ("obstructive narrowing (stenosis of 50 % or more)", "bool", None),
    "log1p_tpv_mm3": ("total plaque volume", "log1p", ("scans", "tpv_mm3")),
    "log1p_cpv_mm3": ("calcified plaque volume", "log1p", ("scans", "cpv_mm3")),
    "log1p_ncpv_mm3": ("non-calcified plaque volume", "log1p", ("scans", "ncpv_mm3")),
    "log1p_lapv_mm3": ("low-attenuation plaque volume", "log1p", ("scans", "lapv_mm3")),
    "log1p_fibrofatty_mm3": ("fibro-fatty plaque volume", "log1p", ("scans", "fibrofatty_mm3")),
    "log1p_fibrous_mm3": ("fibrous plaque volume", "log1p", ("scans", "fibrous_mm3")),
    "tpb_pct": ("total plaque burden", "num", ("scans", "tpb_pct")),
    "ncpb_pct": ("non-calcified plaque burden", "num", ("scans", "ncpb_pct")),
    "lapb_pct": ("low-attenuation plaque burden", "num", ("scans", "lapb_pct")),
    "lapb_gt_4": ("low-attenuation plaque burden above 4 %", "bool", None),
    "n_lesions": ("plaque lesions", "count", None),
    "n_pos_remodelling": ("lesions with positive remodelling", "count", None),
    "n_lap_feature": ("lesions with low-attenuation plaque", "count", None),
    "n_spotty_calc": ("lesions with spotty calcification", "count", None),
    "n_napkin_ring": ("lesions with a napkin-ring sign", "count", None),
    "n_hrp_lesions": ("high-risk plaques (2 or more high-risk features)", "count", None),
    "max_remodelling_index": ("largest remodelling index", "num", ("lesions", "remodelling_index")),
    "fai_rca_hu": ("fat inflammation around the RCA (FAI)", "num", ("scans", "fai_rca_hu")),
    "fai_lad_hu": ("fat inflammation around the LAD (FAI)", "num", ("scans", "fai_lad_hu")),
    "fai_lcx_hu": ("fat inflammation around the LCx (FAI)", "num", ("scans", "fai_lcx_hu")),
    "log1p_cma_patient": ("coronary 18F-NaF activity (CMA)", "log1p", ("pet", "cma_patient")),
    "cma_gt0": ("any coronary 18F-NaF uptake (CMA above 0)", "bool", None),
    "tbr_max_patient": ("highest 18F-NaF target-to-background ratio (TBRmax)", "num",
                        ("pet", "tbr_max_patient")),
    "pet_available": ("18F-NaF PET performed", "bool", None),
}
# image-measured plaque (prefix img_, radiorisk.imaging.patient_plaque_summary)
_IMG_FEATURES: dict[str, tuple[str, str, tuple[str, str] | None]] = {
    "available": ("plaque measured on the images", "bool", None),
    "n_lesions": ("measured plaque lesions", "count", None),
    "n_high_risk_lesions": ("high-risk plaque lesions", "count", None),
    "log1p_tpv_mm3": ("total plaque volume", "log1p", ("scans", "tpv_mm3")),
    "log1p_cpv_mm3": ("calcified plaque volume", "log1p", ("scans", "cpv_mm3")),
    "log1p_ncpv_mm3": ("non-calcified plaque volume", "log1p", ("scans", "ncpv_mm3")),
    "log1p_lapv_mm3": ("low-attenuation plaque volume", "log1p", ("scans", "lapv_mm3")),
    "log1p_fibrofatty_mm3": ("fibro-fatty plaque volume", "log1p", ("scans", "fibrofatty_mm3")),
    "log1p_fibrous_mm3": ("fibrous plaque volume", "log1p", ("scans", "fibrous_mm3")),
    "log1p_vessel_volume_mm3": ("vessel volume", "log1p", ("scans", "vessel_volume_mm3")),
    "lap_burden_pct": ("low-attenuation plaque burden", "num", ("scans", "lapb_pct")),
    "total_burden_pct": ("total plaque burden", "num", ("scans", "tpb_pct")),
}
_RADIOMICS_CLASS = {"shape": "plaque shape", "firstorder": "plaque attenuation"}
_RADIOMICS_STAT = {"max": "largest over lesions", "wmean": "volume-weighted mean over lesions",
                   "sum": "sum over lesions"}
_UNIT_TEXT = {"year": "years", "mm3": "mm³", "mm2": "mm²", "kg/m2": "kg/m²",
              "mL/min/1.73m2": "mL/min/1.73 m²", "1/day": "per day"}
_CAD_RADS_LEVELS = ("0", "1", "2", "3", "4A", "4B", "5")  # ordinal 0..6 in the features
_CAD_RADS_TEXT = {
    "0": "no stenosis (0 %)", "1": "minimal stenosis (1-24 %)", "2": "mild stenosis (25-49 %)",
    "3": "moderate stenosis (50-69 %)", "4A": "severe stenosis (70-99 %)",
    "4B": "left main stenosis above 50 % or three-vessel obstructive disease (70 % or more)",
    "5": "total occlusion (100 %)", "N": "non-diagnostic study",
}
_CAD_RADS_P_TEXT = {"P0": "no plaque", "P1": "mild plaque burden", "P2": "moderate plaque burden",
                    "P3": "severe plaque burden", "P4": "extensive plaque burden"}
_BLOCK_TEXT = {"clinical": "clinical factors", "ccta": "CT angiography (plaque)",
               "radiomics": "radiomics (plaque texture)", "pet": "18F-NaF PET", "other": "other"}
_MACE_TEXT = {"mi": "myocardial infarction", "cardiac_death": "cardiac death",
              "ua_hosp": "hospitalisation for unstable angina",
              "revasc_unplanned": "unplanned revascularisation",
              "revasc_planned_early": "planned early revascularisation"}
_PET_REASON = {"not_offered": "not offered", "declined": "declined by the patient",
               "contraindicated": "contraindicated", "non_diagnostic": "non-diagnostic scan",
               "not_available_at_site": "not provided at the site", "other": "other reason"}


def _unit(src: tuple[str, str] | None) -> str | None:
    if src is None:
        return None
    from ..schemas import load_schema

    try:
        u = load_schema(src[0]).field(src[1]).unit
    except KeyError:
        return None
    return _UNIT_TEXT.get(u, u) if u else None


def _spec(feature: str) -> tuple[str, str, str | None]:
    """``(label, kind, unit)`` of a model feature."""
    if feature in _FEATURES:
        label, kind, src = _FEATURES[feature]
        return label, kind, _unit(src)
    if feature.endswith("_missing") and len(feature) > 8:
        return f"{_spec(feature[:-8])[0]} not available", "bool", None
    if feature.startswith("img_"):
        rest = feature[4:]
        if rest in _IMG_FEATURES:
            label, kind, src = _IMG_FEATURES[rest]
        elif rest in _FEATURES:
            label, kind, src = _FEATURES[rest]
        else:
            label, kind, src = rest.replace("_", " "), "num", None
        return f"image-measured {label}", kind, _unit(src)
    if feature.startswith("rad_"):
        rest = feature[4:]
        if rest == "available":
            return "radiomics extracted", "bool", None
        if rest == "has_plaque":
            return "plaque present (radiomics)", "bool", None
        if rest == "n_lesions":
            return "plaque lesions (radiomics)", "count", None
        name, _, stat = rest.rpartition("__")
        if not name:
            name, stat = rest, ""
        parts = name.split("_")
        cls = parts[1] if len(parts) >= 3 else ""
        what = _RADIOMICS_CLASS.get(cls, "plaque texture")
        extra = f", {_RADIOMICS_STAT[stat]}" if stat in _RADIOMICS_STAT else ""
        return f"{what} (radiomics: {name}{extra})", "num", None
    if feature.startswith("log1p_"):
        return feature[6:].replace("_", " "), "log1p", None
    return feature.replace("_", " "), "num", None


def feature_label(feature: str) -> str:
    """The plain-language label of a model feature, as written in patient reports.

    Parameters
    ----------
    feature : str
        A column of ``CohortData.X`` (clinical, ``ccta``, ``img_*``, ``rad_*``,
        ``pet``) or a missing-value indicator ``<column>_missing``.

    Returns
    -------
    str

    Examples
    --------
    >>> feature_label("log1p_lapv_mm3")
    'low-attenuation plaque volume'
    >>> feature_label("rad_original_glcm_Contrast__max")
    'plaque texture (radiomics: original_glcm_Contrast, largest over lesions)'
    >>> feature_label("log1p_cma_patient_missing")
    'coronary 18F-NaF activity (CMA) not available'
    """
    return _spec(str(feature))[0]


# --------------------------------------------------------------------------------- helpers
def _clean(v):
    """A JSON-safe Python value: NaN/NA/inf -> None, numpy scalars -> Python, containers recursed."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, Mapping):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _num(v) -> float | None:
    """A finite float or None."""
    if v is None or v is pd.NA or isinstance(v, str):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _bool(v) -> bool | None:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, str):
        s = v.strip().lower()
        return {"true": True, "false": False, "1": True, "0": False}.get(s)
    f = _num(v)
    return None if f is None else bool(f)


def _fmt(v: float | None) -> str:
    if v is None:
        return "not available"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _pct(p: float | None) -> str:
    if p is None:
        return "not available"
    x = 100.0 * p
    return f"{x:.1f} %" if x >= 1 or x == 0 else f"{x:.2f} %"


def _value_text(kind: str, value: float | None, unit: str | None) -> str:
    if value is None:
        return "not available"
    if kind == "sex":
        return "male" if value >= 0.5 else "female"
    if kind == "bool":
        return "yes" if value >= 0.5 else "no"
    if kind == "cad_rads":
        i = int(round(value))
        return _CAD_RADS_LEVELS[i] if 0 <= i < len(_CAD_RADS_LEVELS) else _fmt(value)
    if kind == "cad_rads_p":
        i = int(round(value))
        return f"P{i}" if 0 <= i <= 4 else _fmt(value)
    if kind == "count":
        return f"{value:g}" if float(value).is_integer() else _fmt(value)
    text = _fmt(value)
    if unit == "%":
        return f"{text} %"
    return f"{text} {unit}" if unit else text


def _horizon_text(days: float) -> str:
    y = days / 365.25
    if abs(y - round(y)) < 0.01 and round(y) >= 1:
        n = int(round(y))
        return f"{n} year{'s' if n != 1 else ''} ({days:g} days)"
    return f"{days:g} days ({y:.1f} years)"


def _cac_category(score: float | None) -> str | None:
    if score is None:
        return None
    if score <= 0:
        return CAC_CATEGORIES[0]
    if score < 100:
        return CAC_CATEGORIES[1]
    if score < 400:
        return CAC_CATEGORIES[2]
    return CAC_CATEGORIES[3]


def _check_top_k(top_k) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise PatientReportError(f"top_k must be an integer >= 1; got {top_k!r}")
    return int(top_k)


# ---------------------------------------------------------------------------------- result
@dataclass(frozen=True)
class ReportFactor:
    """One contributing factor of a patient's predicted risk, in plain words.

    Attributes
    ----------
    feature : str
        The model feature (a column of ``X``).
    label : str
        Its plain-language name (:func:`feature_label`).
    block : str
        Modality block (``clinical``, ``ccta``, ``radiomics``, ``pet``, ``other``).
    value : float or None
        The patient's value on the natural scale (log1p features are shown
        back-transformed); None when not available.
    value_text : str
        The value with its unit (``"17.6 mm³"``, ``"yes"``, ``"not available"``).
    direction : {"raises risk", "lowers risk"}
    contribution : float
        The SHAP value on the model's margin scale (:attr:`scale`).
    scale : str
        ``log-hazard``, ``log-odds``, ``log-time`` (a positive value lowers
        risk) or ``risk``.
    risk_change : float
        The change in the probability of MACE by the horizon when this factor
        is added (factors added in order of decreasing \\|SHAP\\|; see
        :meth:`radiorisk.explain.ShapResult.risk_contributions`).
    phrase : str
        One sentence, e.g. ``"Low-attenuation plaque volume (17.6 mm³) raises risk"``.
    """

    feature: str
    label: str
    block: str
    value: float | None
    value_text: str
    direction: str
    contribution: float
    scale: str
    risk_change: float
    phrase: str

    def to_dict(self) -> dict:
        """The factor as a JSON-safe dict."""
        return {f.name: _clean(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class PatientReport:
    """The structured report of one patient: risk, confidence, reasons, imaging findings, comment.

    Attributes
    ----------
    patient : str
        The patient identifier as given (or its pseudonym, ``pseudonyms=``).
    horizon_days : float
    outcome : str
        What the risk is the probability of (the MACE definition).
    risk : float
        Predicted probability of MACE by the horizon.
    ci_low, ci_high : float or None
        The interval of the risk (None when no interval was computed).
    ci_level : float or None
        Its level (0.95).
    low_confidence : bool or None
        The low-confidence flag (None: not assessed).
    confidence_reason : str
        Why the prediction is low-confidence, or what was checked.
    factors : tuple of ReportFactor
        The top contributing factors, by decreasing \\|SHAP\\|.
    modality_contributions : dict
        Block -> sum of its features' SHAP values (margin scale).
    plaque : dict
        Plaque findings: ``source``, volumes (mm³) and burdens (%) by component,
        ``lap_burden_gt_4``, ``segment_involvement_score``, ``max_stenosis_pct``,
        ``n_lesions``, ``high_risk_features`` (lesions with each feature),
        ``n_high_risk_lesions`` (2 or more features), ``plaque_types`` and
        ``lesions`` (one dict per lesion; None when the lesion table was not given).
    cad_rads : dict
        ``stenosis`` (0-5, N), ``plaque`` (P0-P4), ``modifiers`` (``["HRP"]``),
        ``text`` (``"CAD-RADS 4A/P2/HRP"``) and their descriptions.
    cac : dict
        ``agatston`` score and ``category`` (:data:`CAC_CATEGORIES`).
    pet : dict
        ``available``, ``missing_reason``, ``cma_patient``, ``cma_by_vessel``,
        ``tbr_max``, ``interpretation``.
    free_text : str
        The user's comment (shown escaped).
    model : dict
        What produced the report: model kind, horizon, SHAP method and scale,
        interval source, radiorisk version and any provenance given.
    report_date : str
        ISO date.
    disclaimer : str
    """

    patient: str
    horizon_days: float
    outcome: str
    risk: float
    ci_low: float | None
    ci_high: float | None
    ci_level: float | None
    low_confidence: bool | None
    confidence_reason: str
    factors: tuple[ReportFactor, ...]
    modality_contributions: dict = field(default_factory=dict)
    plaque: dict = field(default_factory=dict)
    cad_rads: dict = field(default_factory=dict)
    cac: dict = field(default_factory=dict)
    pet: dict = field(default_factory=dict)
    free_text: str = ""
    model: dict = field(default_factory=dict)
    report_date: str = ""
    disclaimer: str = DISCLAIMER

    __hash__ = None  # holds dicts

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The report as a JSON-safe dict (``format``, ``format_version`` first; NaN is None).

        Examples
        --------
        >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05,
        ...                   ci_low=0.03, ci_high=0.08, ci_level=0.95, low_confidence=False,
        ...                   confidence_reason="", factors=())
        >>> d = r.to_dict()
        >>> d["format"], d["risk"], d["pet"]
        ('radiorisk-patient-report', 0.05, {})
        """
        out = {"format": REPORT_FORMAT[0], "format_version": REPORT_FORMAT[1]}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = [x.to_dict() for x in v] if f.name == "factors" else _clean(v)
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as strict JSON (no NaN: missing values are ``null``).

        Examples
        --------
        >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05,
        ...                   ci_low=None, ci_high=None, ci_level=None, low_confidence=None,
        ...                   confidence_reason="not assessed", factors=())
        >>> PatientReport.from_json(r.to_json()) == r
        True
        """
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_dict(cls, d: Mapping) -> PatientReport:
        """Rebuild a report from :meth:`to_dict` output (checks ``format`` and ``format_version``)."""
        if not isinstance(d, Mapping) or d.get("format") != REPORT_FORMAT[0]:
            raise PatientReportError(f"not a {REPORT_FORMAT[0]!r} document")
        if d.get("format_version") != REPORT_FORMAT[1]:
            raise PatientReportError(f"{REPORT_FORMAT[0]}: format_version {d.get('format_version')!r} "
                                     f"is not supported (this radiorisk reads {REPORT_FORMAT[1]})")
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in d and n not in ("disclaimer",)]
        if missing:
            raise PatientReportError(f"{REPORT_FORMAT[0]}: missing field(s) {missing}")
        kw = {n: d[n] for n in names if n in d}
        kw["factors"] = tuple(ReportFactor(**f) for f in d["factors"])
        return cls(**kw)

    @classmethod
    def from_json(cls, text: str) -> PatientReport:
        """Rebuild a report from :meth:`to_json` output."""
        return cls.from_dict(json.loads(text))

    def to_frame(self) -> pd.DataFrame:
        """One row: patient, horizon, risk, interval, confidence, CAD-RADS, CAC, PET."""
        def f(v):
            return pd.Series([np.nan if v is None else float(v)], dtype="float64")

        def b(v):
            return pd.Series([pd.NA if v is None else bool(v)], dtype="boolean")

        def s(v):
            return pd.Series([v], dtype=object)

        return pd.DataFrame({
            "patient": s(self.patient), "horizon_days": f(self.horizon_days), "risk": f(self.risk),
            "ci_low": f(self.ci_low), "ci_high": f(self.ci_high),
            "low_confidence": b(self.low_confidence), "confidence_reason": s(self.confidence_reason),
            "cad_rads": s(self.cad_rads.get("text")), "cac_agatston": f(self.cac.get("agatston")),
            "cac_category": s(self.cac.get("category")), "pet_available": b(self.pet.get("available")),
            "cma_patient": f(self.pet.get("cma_patient")),
            "top_factor": s(self.factors[0].label if self.factors else None),
        })

    # -- HTML ------------------------------------------------------------------------------
    def to_html(self) -> str:
        """One self-contained HTML page (inline style, no script or external resource).

        Every string is escaped; the page's content security policy forbids
        scripts as a second line of defence.

        Examples
        --------
        >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05,
        ...                   ci_low=0.03, ci_high=0.08, ci_level=0.95, low_confidence=False,
        ...                   confidence_reason="", factors=(), free_text="<b>check</b>")
        >>> page = r.to_html()
        >>> "&lt;b&gt;check&lt;/b&gt;" in page, "<b>check</b>" in page
        (True, False)
        """
        title = f"Patient risk report: {self.patient}"
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            f"{self._body()}\n</body>\n</html>\n"
        )

    def _repr_html_(self) -> str:
        return f"<div class=\"radiorisk-patient-report\"><style>{_CSS}</style>{self._body()}</div>"

    def _body(self) -> str:
        parts = [
            "<header>",
            f"<h1>Patient risk report</h1><p class=\"meta\">Patient <b>{_e(self.patient)}</b> · "
            f"report date {_e(self.report_date or 'not stated')}</p>",
            f"<p class=\"disclaimer\">{_e(self.disclaimer)}</p>",
            "</header>",
            _section("Risk", self._risk_html()),
            _section("Confidence", self._confidence_html()),
            _section("Contributing factors", self._factors_html()),
            _section("Plaque findings", self._plaque_html()),
            _section("PET", self._pet_html()),
            _section("Comment", f"<p class=\"comment\">{_e(self.free_text)}</p>" if self.free_text
                     else "<p class=\"muted\">No comment.</p>"),
            _section("About this report", self._about_html()),
        ]
        return "\n".join(parts)

    def _risk_html(self) -> str:
        ci = ""
        if self.ci_low is not None and self.ci_high is not None:
            lvl = f"{100 * self.ci_level:g} %" if self.ci_level is not None else ""
            ci = (f" <span class=\"ci\">({_e(lvl)} interval {_e(_pct(self.ci_low))} to "
                  f"{_e(_pct(self.ci_high))})</span>")
        return (f"<p class=\"risk\"><span class=\"big\">{_e(_pct(self.risk))}</span>{ci}</p>"
                f"<p>Estimated probability of a {_e(self.outcome)} within "
                f"{_e(_horizon_text(self.horizon_days))}.</p>")

    def _confidence_html(self) -> str:
        if self.low_confidence is None:
            flag, cls = "Not assessed", "muted"
        elif self.low_confidence:
            flag, cls = "Low confidence", "flag"
        else:
            flag, cls = "No reason for low confidence found", "ok"
        why = self.confidence_reason
        reason = f"<p>{_e(why[:1].upper() + why[1:])}</p>" if why else ""
        return f"<p class=\"{cls}\"><b>{_e(flag)}</b></p>{reason}"

    def _factors_html(self) -> str:
        if not self.factors:
            return "<p class=\"muted\">No contributing factors available.</p>"
        rows = "".join(
            f"<tr><td>{_e(f.label[:1].upper() + f.label[1:])}</td><td>{_e(f.value_text)}</td>"
            f"<td class=\"{'up' if f.direction == 'raises risk' else 'down'}\">{_e(f.direction)}</td>"
            f"<td class=\"num\">{_e(_signed_pp(f.risk_change))}</td></tr>"
            for f in self.factors)
        blocks = ""
        if self.modality_contributions:
            scale = self.factors[0].scale
            items = "".join(
                f"<li>{_e(_BLOCK_TEXT.get(b, b))}: {_e(_direction_word(v, scale))} "
                f"({_e(f'{v:+.3f}')} {_e(scale)})</li>"
                for b, v in self.modality_contributions.items() if v is not None)
            blocks = f"<p>By data source:</p><ul>{items}</ul>"
        return ("<table><thead><tr><th>Factor</th><th>Patient's value</th><th>Effect</th>"
                "<th>Change in risk</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>{blocks}"
                "<p class=\"note\">Change in risk: percentage points added when the factors are "
                "added one at a time, largest first; the split depends on that order.</p>")

    def _plaque_html(self) -> str:
        p, c, k = self.plaque, self.cad_rads, self.cac
        rows = [("CAD-RADS 2.0", c.get("text") or "not available"),
                ("Stenosis category", _join_desc(c.get("stenosis"), c.get("stenosis_description"))),
                ("Plaque burden category", _join_desc(c.get("plaque"), c.get("plaque_description"))),
                ("Modifiers", ", ".join(c.get("modifiers") or []) or "none"),
                ("Coronary calcium score (Agatston)", _fmt(_num(k.get("agatston")))),
                ("CAC category", (k.get("category") or "not available").replace(">=", "≥"))]
        for key, label, unit in _PLAQUE_ROWS:
            if key in p:
                v = p.get(key)
                if isinstance(v, bool):
                    rows.append((label, "yes" if v else "no"))
                else:
                    rows.append((label, _value_text("count" if unit is None else "num", _num(v), unit)))
        hrf = p.get("high_risk_features")
        if isinstance(hrf, Mapping):
            rows.append(("Lesions with high-risk features",
                         "; ".join(f"{_HRF_TEXT.get(a, a)}: {_fmt(_num(n)) if _num(n) else '0'}"
                                   for a, n in hrf.items()) or "none"))
        types = p.get("plaque_types")
        if isinstance(types, Mapping) and types:
            rows.append(("Plaque types", "; ".join(f"{t.replace('_', '-')}: {n}" for t, n in types.items())))
        table = "".join(f"<tr><th>{_e(a)}</th><td>{_e(b)}</td></tr>" for a, b in rows)
        out = f"<table class=\"kv\">{table}</table>"
        les = p.get("lesions")
        if les:
            head = "".join(f"<th>{_e(h)}</th>" for _, h in _LESION_COLS)
            body = "".join("<tr>" + "".join(f"<td>{_e(_lesion_cell(le, k_))}</td>" for k_, _ in _LESION_COLS)
                           + "</tr>" for le in les)
            out += f"<h3>Lesions</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        elif les is not None:
            out += "<p>No coronary plaque lesion recorded.</p>"
        src = p.get("source")
        if src:
            out += f"<p class=\"note\">Source: {_e(src)}.</p>"
        return out

    def _pet_html(self) -> str:
        q = self.pet
        if not q.get("available"):
            reason = q.get("missing_reason")
            return ("<p><b>Not available</b>" + (f" ({_e(reason)})" if reason else "") + ".</p>")
        rows = [("CMA (patient)", _fmt(_num(q.get("cma_patient")))),
                ("TBRmax (highest lesion)", _fmt(_num(q.get("tbr_max"))))]
        vessels = q.get("cma_by_vessel")
        if isinstance(vessels, Mapping):
            rows += [(f"CMA {v}", _fmt(_num(x))) for v, x in vessels.items()]
        table = "".join(f"<tr><th>{_e(a)}</th><td>{_e(b)}</td></tr>" for a, b in rows)
        return (f"<p><b>{_e(q.get('interpretation') or '')}</b></p><table class=\"kv\">{table}</table>")

    def _about_html(self) -> str:
        m = self.model
        rows = [(k.replace("_", " "), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                for k, v in m.items() if v is not None]
        table = "".join(f"<tr><th>{_e(a)}</th><td>{_e(b)}</td></tr>" for a, b in rows)
        return (f"<table class=\"kv\">{table}</table>"
                "<p class=\"note\">The interval reflects how much the fitted model would change with "
                "another sample of the same size, not the uncertainty of the patient's outcome. "
                "Contributing factors are SHAP values of the model: they explain the model's "
                "prediction, not the causes of disease.</p>"
                f"<p class=\"disclaimer\">{_e(self.disclaimer)}</p>")


_PLAQUE_ROWS = (
    ("total_plaque_volume_mm3", "Total plaque volume", "mm³"),
    ("calcified_plaque_volume_mm3", "Calcified plaque volume", "mm³"),
    ("non_calcified_plaque_volume_mm3", "Non-calcified plaque volume", "mm³"),
    ("low_attenuation_plaque_volume_mm3", "Low-attenuation plaque volume (<30 HU)", "mm³"),
    ("fibro_fatty_plaque_volume_mm3", "Fibro-fatty plaque volume (30-130 HU)", "mm³"),
    ("fibrous_plaque_volume_mm3", "Fibrous plaque volume (131-350 HU)", "mm³"),
    ("total_plaque_burden_pct", "Total plaque burden", "%"),
    ("non_calcified_plaque_burden_pct", "Non-calcified plaque burden", "%"),
    ("low_attenuation_plaque_burden_pct", "Low-attenuation plaque burden", "%"),
    ("lap_burden_gt_4", "Low-attenuation plaque burden above 4 %", None),
    ("max_stenosis_pct", "Largest stenosis", "%"),
    ("segment_involvement_score", "Segment involvement score", None),
    ("n_lesions", "Plaque lesions", None),
    ("n_high_risk_lesions", "High-risk plaques (2 or more features)", None),
)
_HRF_TEXT = {"positive_remodelling": "positive remodelling", "low_attenuation": "low-attenuation plaque",
             "spotty_calcification": "spotty calcification", "napkin_ring": "napkin-ring sign"}
_LESION_COLS = (("vessel", "Vessel"), ("segment", "Segment"), ("diameter_stenosis_pct", "Stenosis %"),
                ("plaque_type", "Type"), ("v_total_mm3", "Volume mm³"), ("v_lap_mm3", "LAP mm³"),
                ("high_risk_features", "High-risk features"))

_CSS = ("body{font-family:system-ui,-apple-system,'Segoe UI',Arial,sans-serif;max-width:56rem;"
        "margin:1.5rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}"
        "h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;border-bottom:2px solid #d0d7de;"
        "padding-bottom:.2rem;margin-top:1.6rem}h3{font-size:1rem}"
        "table{border-collapse:collapse;margin:.5rem 0;font-size:.92rem}"
        "th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}"
        "table.kv th{background:#f6f8fa;font-weight:600;width:18rem}"
        "thead th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}"
        ".big{font-size:2rem;font-weight:700}.ci{color:#444}.meta{color:#555;margin-top:0}"
        ".disclaimer{background:#fff8c5;border:1px solid #d4a72c;padding:.4rem .6rem;font-size:.9rem}"
        ".flag{color:#a40e26}.ok{color:#116329}.muted{color:#666}.up{color:#a40e26}.down{color:#116329}"
        ".note{color:#555;font-size:.85rem}.comment{white-space:pre-wrap;border-left:3px solid #d0d7de;"
        "padding-left:.6rem}")


def _e(s) -> str:
    return html.escape(str(s), quote=True)


def _section(title: str, body: str) -> str:
    sid = title.lower().replace(" ", "-")
    return f"<section id=\"{sid}\"><h2>{_e(title)}</h2>\n{body}\n</section>"


def _signed_pp(x: float | None) -> str:
    if x is None:
        return ""
    return f"{100.0 * x:+.2f} points"


def _direction_word(v: float, scale: str) -> str:
    up = v < 0 if scale == "log-time" else v > 0
    return "raises risk" if up else ("lowers risk" if v != 0 else "no effect")


def _join_desc(code, desc) -> str:
    if code is None:
        return "not available"
    return f"{code}: {desc}" if desc else str(code)


def _lesion_cell(le: Mapping, key: str) -> str:
    v = le.get(key)
    if key == "high_risk_features":
        return ", ".join(_HRF_TEXT.get(a, a) for a in v) if v else "none"
    if v is None:
        return "–"
    if isinstance(v, float):
        return _fmt(v)
    return str(v).replace("_", "-")


# --------------------------------------------------------------------------------- findings
def _index_scans(scans: pd.DataFrame) -> pd.DataFrame:
    keys = ["patient_id"] + [c for c in ("scan_date", "scan_id") if c in scans.columns]
    s = scans.assign(patient_id=scans["patient_id"].astype(str)).sort_values(keys, kind="stable")
    return s.drop_duplicates("patient_id", keep="first").set_index("patient_id")


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


_HRF_COLS = (("pos_remodelling", "positive_remodelling"), ("lap_feature", "low_attenuation"),
             ("spotty_calc", "spotty_calcification"), ("napkin_ring", "napkin_ring"))
_SCAN_PLAQUE = (("tpv_mm3", "total_plaque_volume_mm3"), ("cpv_mm3", "calcified_plaque_volume_mm3"),
                ("ncpv_mm3", "non_calcified_plaque_volume_mm3"),
                ("lapv_mm3", "low_attenuation_plaque_volume_mm3"),
                ("fibrofatty_mm3", "fibro_fatty_plaque_volume_mm3"),
                ("fibrous_mm3", "fibrous_plaque_volume_mm3"), ("tpb_pct", "total_plaque_burden_pct"),
                ("ncpb_pct", "non_calcified_plaque_burden_pct"),
                ("lapb_pct", "low_attenuation_plaque_burden_pct"))


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


# ------------------------------------------------------------------------------------ build
def _resolve_data(data, tables, blocks):
    """``(X, blocks, raw tables or None, mace or None)`` from the ``data`` argument."""
    from ..features import CohortData, assemble_cohort

    mace = None
    if isinstance(data, str | os.PathLike):
        from ..io import read_cohort

        data = read_cohort(data)
    if isinstance(data, CohortData):
        X, mace = data.X, data.mace
        blocks = data.blocks if blocks is None else blocks
    elif isinstance(data, pd.DataFrame):
        X = data
    elif all(hasattr(data, t) for t in ("patients", "scans", "outcomes")):
        cd = assemble_cohort(data)
        X, mace = cd.X, cd.mace
        blocks = cd.blocks if blocks is None else blocks
        tables = data if tables is None else tables
    else:
        raise PatientReportError(
            "patient_reports: data must be a CohortData, a feature DataFrame X indexed by patient_id, "
            f"a cohort (radiorisk.io.Cohort, SyntheticCohort) or a cohort folder; got {type(data).__name__}")
    if isinstance(tables, str | os.PathLike):
        from ..io import read_cohort

        tables = read_cohort(tables)
    if tables is not None and not hasattr(tables, "scans"):
        raise PatientReportError("tables must be a cohort (radiorisk.io.Cohort, SyntheticCohort) or a "
                                 f"cohort folder; got {type(tables).__name__}")
    X = X.copy()
    X.index = X.index.astype(str)
    return X, blocks, tables, mace


def _model_columns(model) -> list[str] | None:
    for _, step in getattr(model, "steps", [("", model)]):
        cols = getattr(step, "feature_names_in_", None)
        if cols is not None:
            return [str(c) for c in cols]
    return None


def _check_ids(ids, X: pd.DataFrame) -> list[str]:
    if ids is None:
        return list(X.index)
    if isinstance(ids, str):
        ids = [ids]
    ids = [str(i) for i in ids]
    if not ids:
        raise PatientReportError("patient_reports: ids is empty")
    unknown = [i for i in ids if i not in X.index]
    if unknown:
        raise PatientReportError(_MSG_UNKNOWN_IDS.format(k=len(unknown), first=unknown[0]))
    dup = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(dup):
        raise PatientReportError(f"patient_reports: patient id {dup[0]!r} is repeated in ids")
    return ids


def _per_patient_text(free_text, ids: list[str], X: pd.DataFrame, name: str) -> dict[str, str]:
    if free_text is None:
        return dict.fromkeys(ids, "")
    if isinstance(free_text, str):
        return dict.fromkeys(ids, free_text)
    if not isinstance(free_text, Mapping):
        raise PatientReportError(f"{name} must be a string or a mapping patient id -> string; "
                                 f"got {type(free_text).__name__}")
    out = {}
    unknown = [k for k in free_text if str(k) not in X.index]
    if unknown:
        raise PatientReportError(f"{name}: patient id {unknown[0]!r} is not in the data")
    for k, v in free_text.items():
        if v is not None and not isinstance(v, str):
            raise PatientReportError(f"{name}[{k!r}] must be a string; got {type(v).__name__}")
        out[str(k)] = v or ""
    return {i: out.get(i, "") for i in ids}


def _interval_table(intervals, ids, h):
    """``(table indexed by id, level, info dict)`` from a RiskUncertainty or a DataFrame."""
    need = ("risk", "ci_low", "ci_high", "low_confidence", "reason")
    if hasattr(intervals, "table") and hasattr(intervals, "horizon"):
        if abs(float(intervals.horizon) - h) > 1e-9:
            raise PatientReportError(f"patient_reports: intervals are at horizon {intervals.horizon:g} d "
                                     f"but the report's horizon is {h:g} d")
        tab, level = intervals.table, float(intervals.level)
        info = {"source": intervals.source, "n_models": intervals.n_models, "level": level,
                "max_width": intervals.max_width, "ood": intervals.ood}
    elif isinstance(intervals, pd.DataFrame):
        tab, level = intervals, 0.95
        if "patient_id" in tab.columns:
            tab = tab.set_index("patient_id")
        info = {"source": "table given by the caller", "level": level}
    else:
        raise PatientReportError("intervals must be a RiskUncertainty (radiorisk.explain.risk_intervals) "
                                 f"or a DataFrame with columns {list(need)}; got {type(intervals).__name__}")
    miss = [c for c in need if c not in tab.columns]
    if miss:
        raise PatientReportError(f"intervals: column(s) {miss} missing")
    tab = tab.copy()
    tab.index = tab.index.astype(str)
    absent = [i for i in ids if i not in tab.index]
    if absent:
        raise PatientReportError(f"intervals: no row for {len(absent)} reported patient(s) "
                                 f"(first: {absent[0]!r})")
    return tab, level, info


def _factors(res, pos: int, top_k: int, rc: pd.DataFrame) -> tuple[list[ReportFactor], dict]:
    vals = res.values[pos]
    order = np.argsort(-np.abs(vals), kind="stable")
    rc_map = dict(zip(rc["feature"], rc["risk_change"], strict=False))
    out = []
    for j in order:
        v = float(vals[j])
        if v == 0.0 or len(out) >= top_k:
            break
        feat = res.feature_names[j]
        label, kind, unit = _spec(feat)
        raw = _num(res.data.iloc[pos][feat]) if feat in res.data.columns else None
        value = None if raw is None else (round(float(np.expm1(raw)), 6) if kind == "log1p" else raw)
        vtext = _value_text(kind, value, unit)
        change = float(rc_map.get(feat, 0.0))
        if change != 0.0:
            direction = "raises risk" if change > 0 else "lowers risk"
        else:
            direction = _direction_word(v, res.scale)
        phrase = f"{label[:1].upper()}{label[1:]} ({vtext}) {direction}"
        out.append(ReportFactor(feature=feat, label=label, block=res.blocks[j], value=value,
                                value_text=vtext, direction=direction, contribution=v,
                                scale=res.scale, risk_change=change, phrase=phrase))
    mod = {}
    for b in dict.fromkeys(res.blocks):
        mask = np.asarray(res.blocks) == b
        mod[b] = float(vals[mask].sum())
    return out, mod


def _confidence(row, info) -> tuple[bool | None, str]:
    if row is None:
        return None, ("not assessed: no risk interval was computed (pass intervals= from "
                      "radiorisk.explain.risk_intervals, or X_train= and y_train=)")
    low = _bool(row["low_confidence"])
    reason = row["reason"]
    reason = "" if reason is None or (isinstance(reason, float) and math.isnan(reason)) else str(reason)
    if low:
        return True, reason or "flagged as low-confidence"
    checks = []
    if info.get("max_width") is not None:
        checks.append(f"interval width at most {100 * info['max_width']:g} percentage points")
    checks.append("no modality missing")
    if info.get("ood"):
        checks.append("within the training distribution")
    return False, "Checked: " + "; ".join(checks) + "."


def patient_reports(model, data, ids=None, *, horizon=None, intervals=None, shap=None,
                    free_text=None, top_k: int = 5, tables=None, blocks=None, X_train=None,
                    y_train=None, n_boot: int = 100, pseudonyms: Mapping | None = None,
                    provenance: Mapping | None = None, report_date: str | None = None,
                    random_state: int = 0) -> list[PatientReport]:
    """Structured reports of patients: risk with its interval, confidence, reasons and findings.

    Parameters
    ----------
    model : RiskPipeline
        A fitted :func:`radiorisk.models.make_model` pipeline (or a loaded bundle).
    data : CohortData, DataFrame, Cohort, SyntheticCohort or path
        The patients: a :class:`radiorisk.features.CohortData` (its ``X``,
        blocks and MACE definition), a feature matrix ``X`` indexed by
        ``patient_id``, or a cohort / cohort folder (assembled with
        :func:`radiorisk.features.assemble_cohort` and also used as ``tables``).
    ids : str or sequence of str, optional
        Patients to report (default: every row of the data).
    horizon : float, optional
        Days (default: the horizon of ``intervals``, else the model's).
    intervals : RiskUncertainty or DataFrame, optional
        Risk intervals and confidence flags
        (:func:`radiorisk.explain.risk_intervals`); a DataFrame needs the
        columns ``risk, ci_low, ci_high, low_confidence, reason`` indexed by
        patient.  Without them (and without ``X_train``), the report says the
        confidence was not assessed.
    shap : ShapResult, optional
        SHAP values of ``model`` holding these patients (default: computed
        with :func:`radiorisk.explain.shap_values`).
    free_text : str or Mapping[str, str], optional
        A comment for every report, or per patient id.
    top_k : int, default 5
        Contributing factors per report.
    tables : Cohort, SyntheticCohort or path, optional
        The raw cohort tables (scans, lesions, pet) for the plaque, CAD-RADS,
        CAC and PET findings.  Without them the findings are read back from
        the model features (fewer details, no lesion list).
    blocks : Mapping[str, list of str], optional
        Modality blocks (default: those of a CohortData).
    X_train, y_train : DataFrame and structured array, optional
        With ``intervals=None``: compute the intervals by ``n_boot`` bootstrap
        refits (:func:`radiorisk.explain.risk_intervals`).
    n_boot : int, default 100
    pseudonyms : Mapping[str, str], optional
        Patient id -> the identifier printed in the report and used as file
        name; lesions are then numbered ("lesion 1", ...) instead of carrying
        their ids.  Without it the report carries the ids as given.
    provenance : Mapping, optional
        Extra statements for *About this report* (e.g. the bundle's SHA-256
        or the run folder).
    report_date : str, optional
        ISO date printed on the report (default: today, UTC).
    random_state : int, default 0
        Seed of the bootstrap refits and SHAP sampling.

    Returns
    -------
    list of PatientReport
        In the order of ``ids``.

    Raises
    ------
    PatientReportError
        Unknown patient ids, data without the model's columns, intervals or
        SHAP values from another model, data or horizon, or invalid arguments.

    Notes
    -----
    The risk is ``model.predict_risk`` at the horizon; ``intervals`` and
    ``shap`` must reproduce it (within 1e-6) or an error is raised.  Factors
    are ranked by \\|SHAP\\| on the model's margin scale; the change in risk of
    each is the probability-at-horizon view
    (:meth:`radiorisk.explain.ShapResult.risk_contributions`, order
    ``magnitude``).  CAC categories are 0, 1-99, 100-399 and >=400 Agatston
    units; CAD-RADS 2.0 categories and the HRP modifier are those recorded in
    the scans table (or the model features); the other CAD-RADS modifiers
    (I, S, G, E) are not part of the cohort schema and are not reported.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> from radiorisk.models import make_model
    >>> cohort = simulate_cohort(200, seed=1, pet_rate=0.5)
    >>> data = assemble_cohort(cohort)
    >>> model = make_model("coxph", penalizer=0.1).fit(data.X, data.y)
    >>> reps = patient_reports(model, data, ["P000002"], tables=cohort, top_k=3,
    ...                        free_text="Discussed at MDT", report_date="2025-01-31")
    >>> r = reps[0]
    >>> r.patient, len(r.factors), r.cad_rads["text"] is not None
    ('P000002', 3, True)
    >>> r.low_confidence is None and r.confidence_reason.startswith("not assessed")
    True
    """
    from ..explain import risk_intervals, shap_values
    from ..explain._common import model_kind

    top_k = _check_top_k(top_k)
    X, blocks, tables, mace = _resolve_data(data, tables, blocks)
    cols = _model_columns(model)
    if cols is not None:
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise PatientReportError(_MSG_MISSING_COLS.format(k=len(missing), first=missing[0]))
    ids = _check_ids(ids, X)
    texts = _per_patient_text(free_text, ids, X, "free_text")
    labels = {i: i for i in ids}
    if pseudonyms is not None:
        if not isinstance(pseudonyms, Mapping):
            raise PatientReportError("pseudonyms must be a mapping patient id -> pseudonym")
        absent = [i for i in ids if i not in {str(k) for k in pseudonyms}]
        if absent:
            raise PatientReportError(f"pseudonyms: no pseudonym for patient {absent[0]!r}")
        labels = {i: str(v) for k, v in pseudonyms.items() for i in [str(k)] if i in labels}
        if len(set(labels.values())) != len(labels):
            raise PatientReportError("pseudonyms: two reported patients share a pseudonym")
    if horizon is None:
        horizon = getattr(intervals, "horizon", None)
    h = float(horizon) if horizon is not None else float(model.horizon)
    if not (math.isfinite(h) and h > 0):
        raise PatientReportError(f"horizon must be a number of days > 0; got {horizon!r}")
    Xs = X.loc[ids]
    risk = np.asarray(model.predict_risk(Xs, h), dtype=np.float64)

    # intervals
    if intervals is None and X_train is not None:
        if y_train is None:
            raise PatientReportError("patient_reports: X_train needs y_train")
        intervals = risk_intervals(model, Xs, X_train=X_train, y_train=y_train, n_boot=n_boot,
                                   horizon=h, blocks=blocks, random_state=random_state)
    itab, level, iinfo = (None, None, None)
    if intervals is not None:
        itab, level, iinfo = _interval_table(intervals, ids, h)
        given = itab.loc[ids, "risk"].to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isclose(given, risk, rtol=0, atol=1e-6))
        if len(bad):
            k = bad[0]
            raise PatientReportError(_MSG_MISMATCH.format(what="intervals", a=given[k], b=risk[k],
                                                          pid=ids[k]))

    # SHAP
    if shap is None:
        res = shap_values(model, Xs, blocks=blocks, random_state=random_state)
    else:
        idx = pd.Index(shap.index.astype(str))
        absent = [i for i in ids if i not in idx]
        if absent:
            raise PatientReportError(f"shap: no SHAP values for {len(absent)} reported patient(s) "
                                     f"(first: {absent[0]!r})")
        res = shap.subset(np.asarray([idx.get_loc(i) for i in ids]))
        if res.link is not None and res.link.kind != "identity":
            got = np.asarray(res.risk(h), dtype=np.float64)
            bad = np.flatnonzero(~np.isclose(got, risk, rtol=0, atol=1e-6))
            if len(bad):
                k = bad[0]
                raise PatientReportError(_MSG_MISMATCH.format(what="SHAP values", a=got[k], b=risk[k],
                                                              pid=ids[k]))
    try:
        rc_all = res.risk_contributions(horizon=h)
    except ValueError:  # e.g. a risk-scale fallback at another horizon
        rc_all = pd.DataFrame({"patient_id": [], "feature": [], "risk_change": []})
    rc_all = rc_all.assign(patient_id=rc_all["patient_id"].astype(str))

    # findings
    scans = lesions = pet = None
    if tables is not None:
        scans = _index_scans(tables.scans) if len(tables.scans) else None
        lesions = getattr(tables, "lesions", None)
        pet = getattr(tables, "pet", None)

    outcome = "major adverse cardiovascular event (MACE)"
    if mace:
        comps = [_MACE_TEXT.get(m, m) for m in mace]
        comps = ", ".join(comps[:-1]) + " or " + comps[-1] if len(comps) > 1 else comps[0]
        outcome = f"major adverse cardiovascular event (MACE: {comps})"
    from .. import __version__

    kind = model_kind(model)
    model_info = {
        "model": kind, "horizon_days": h, "n_features": len(res.feature_names),
        "shap": f"{res.method} SHAP on the {res.scale} scale; background: {res.background}",
        "interval": (None if iinfo is None else
                     ", ".join(f"{k}={v}" for k, v in iinfo.items() if v is not None)),
        "radiorisk_version": __version__,
    }
    if provenance:
        for k, v in provenance.items():
            model_info[str(k)] = _clean(v)
    date = report_date or _dt.datetime.now(_dt.UTC).date().isoformat()

    reports = []
    for pos, pid in enumerate(ids):
        rc = rc_all[rc_all["patient_id"] == pid]
        facs, mod = _factors(res, pos, top_k, rc)
        if tables is not None:
            plaque, cad, cac, pet_d = _findings_from_tables(pid, scans, lesions, pet)
            if pseudonyms is not None and plaque.get("lesions"):
                # a pseudonymised report carries no raw lesion id: lesions are numbered instead
                plaque["lesions"] = [{**d, "lesion_id": f"lesion {k + 1}"} for k, d in enumerate(plaque["lesions"])]
        else:
            plaque, cad, cac, pet_d = _findings_from_x(Xs.loc[pid])
        row = itab.loc[pid] if itab is not None else None
        low, why = _confidence(row, iinfo or {})
        reports.append(PatientReport(
            patient=labels[pid], horizon_days=h, outcome=outcome, risk=float(risk[pos]),
            ci_low=None if row is None else _num(row["ci_low"]),
            ci_high=None if row is None else _num(row["ci_high"]),
            ci_level=level, low_confidence=low, confidence_reason=why, factors=tuple(facs),
            modality_contributions=_clean(mod), plaque=_clean(plaque), cad_rads=_clean(cad),
            cac=_clean(cac), pet=_clean(pet_d), free_text=texts[pid], model=_clean(model_info),
            report_date=str(date)))
    return reports


# ------------------------------------------------------------------------------------ write
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _file_stem(patient: str) -> str:
    stem = _SAFE.sub("_", patient)
    if not stem or stem.startswith(".") or set(stem) <= {"_", "."}:
        raise PatientReportError(f"write_patient_reports: patient {patient!r} gives no usable file name")
    return stem


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_patient_reports(reports: Sequence[PatientReport], out_dir, *,
                          formats: Sequence[str] = ("html", "json")) -> pd.DataFrame:
    """Write each report as ``<patient>.html`` and ``<patient>.json``, atomically.

    Each file is written to a temporary file in ``out_dir`` and renamed into
    place, so a reader never sees a half-written report and an interrupted run
    leaves only complete files.  Characters other than letters, digits,
    ``.``, ``_`` and ``-`` in the patient identifier become ``_``.

    Parameters
    ----------
    reports : sequence of PatientReport
    out_dir : str or Path
        Created if needed.
    formats : sequence of {"html", "json"}

    Returns
    -------
    DataFrame
        ``patient, format, path`` (one row per file written).

    Raises
    ------
    PatientReportError
        An unknown format, or two reports with the same file name.

    Examples
    --------
    >>> import tempfile
    >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05,
    ...                   ci_low=0.03, ci_high=0.08, ci_level=0.95, low_confidence=False,
    ...                   confidence_reason="", factors=())
    >>> with tempfile.TemporaryDirectory() as d:
    ...     files = write_patient_reports([r], d)
    ...     sorted(p.rsplit("/", 1)[-1] for p in files["path"])
    ['P1.html', 'P1.json']
    """
    formats = tuple(formats)
    bad = [f for f in formats if f not in ("html", "json")]
    if bad or not formats:
        raise PatientReportError(f"formats must be a non-empty subset of ('html', 'json'); got {formats!r}")
    reports = list(reports)
    for r in reports:
        if not isinstance(r, PatientReport):
            raise PatientReportError(f"write_patient_reports: expected PatientReport objects; got "
                                     f"{type(r).__name__}")
    stems = [_file_stem(r.patient) for r in reports]
    seen: dict[str, str] = {}
    for r, s in zip(reports, stems, strict=True):
        if s.lower() in seen:
            raise PatientReportError(f"write_patient_reports: patients {seen[s.lower()]!r} and "
                                     f"{r.patient!r} would share the file name {s!r}")
        seen[s.lower()] = r.patient
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for r, s in zip(reports, stems, strict=True):
        for f in formats:
            path = out / f"{s}.{f}"
            _atomic_write(path, r.to_html() if f == "html" else r.to_json() + "\n")
            rows.append({"patient": r.patient, "format": f, "path": str(path)})
    return pd.DataFrame(rows, columns=["patient", "format", "path"])
