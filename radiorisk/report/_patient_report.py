"""The patient report object: :class:`PatientReport`, its factors, JSON and HTML (jinja2 templates)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from .._html import table_html
from ..exceptions import PatientReportError
from ._html import render
from ._patient_values import (
    _clean,
    _direction_word,
    _fmt,
    _horizon_text,
    _join_desc,
    _lesion_cell,
    _num,
    _pct,
    _signed_pp,
    _value_text,
)
from ._vocab import _BLOCK_TEXT, _HRF_TEXT, _LESION_COLS, _PLAQUE_ROWS, DISCLAIMER

__all__ = ["PatientReport", "ReportFactor", "PatientReportError", "REPORT_FORMAT"]

#: Format name and version written into every JSON report.
REPORT_FORMAT = ("radiorisk-patient-report", 1)


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
        """Rebuild a report from :meth:`to_dict` output (checks ``format`` and ``format_version``).

        A version 2 document (``radiorisk patient-report``) holds every field of version 1;
        its structured report is read and the added sections are left aside.
        """
        if not isinstance(d, Mapping) or d.get("format") != REPORT_FORMAT[0]:
            raise PatientReportError(f"not a {REPORT_FORMAT[0]!r} document")
        if d.get("format_version") not in (REPORT_FORMAT[1], 2):
            raise PatientReportError(f"{REPORT_FORMAT[0]}: format_version {d.get('format_version')!r} "
                                     f"is not supported (this radiorisk reads {REPORT_FORMAT[1]} and 2)")
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
        return render("patient_report.html.j2", title=f"Patient risk report: {self.patient}",
                      v=_view(self)) + "\n"

    def _repr_html_(self) -> str:
        return render("patient_repr.html.j2", v=_view(self))


# ------------------------------------------------------------------------------------ HTML view
def _kv(rows) -> str:
    """A key-value table (first column as row headers, no header row)."""
    return table_html(pd.DataFrame(rows, columns=["item", "value"], dtype=object), header=False,
                      row_header=True, css_class="kv", align=False,
                      empty=None)


def _view(r: PatientReport) -> dict:
    """What ``patient_body.html.j2`` shows: the report's texts and tables, formatted."""
    ci = None
    if r.ci_low is not None and r.ci_high is not None:
        ci = {"level": f"{100 * r.ci_level:g} %" if r.ci_level is not None else "",
              "low": _pct(r.ci_low), "high": _pct(r.ci_high)}
    plaque, lesions = _plaque_view(r)
    les = r.plaque.get("lesions")
    return {"patient": r.patient, "report_date": r.report_date or "not stated", "disclaimer": r.disclaimer,
            "risk": _pct(r.risk), "ci": ci, "outcome": r.outcome, "horizon": _horizon_text(r.horizon_days),
            "confidence": _confidence_view(r), "factors": _factors_table(r), "blocks": _blocks_view(r),
            "plaque": plaque, "lesions": lesions, "no_lesions": les is not None and not les,
            "plaque_source": r.plaque.get("source"), "pet": _pet_view(r), "free_text": r.free_text,
            "about": _kv([(k.replace("_", " "), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
                          for k, v in r.model.items() if v is not None])}


def _confidence_view(r: PatientReport) -> dict:
    if r.low_confidence is None:
        flag, cls = "Not assessed", "muted"
    elif r.low_confidence:
        flag, cls = "Low confidence", "flag"
    else:
        flag, cls = "No reason for low confidence found", "ok"
    why = r.confidence_reason
    return {"flag": flag, "cls": cls, "reason": why[:1].upper() + why[1:] if why else ""}


def _factors_table(r: PatientReport) -> str | None:
    if not r.factors:
        return None
    rows = [(f.label[:1].upper() + f.label[1:], f.value_text, f.direction, _signed_pp(f.risk_change))
            for f in r.factors]
    frame = pd.DataFrame(rows, columns=["Factor", "Patient's value", "Effect", "Change in risk"], dtype=object)

    def cls(column, value):
        if column == "Effect":
            return "up" if value == "raises risk" else "down"
        return "num" if column == "Change in risk" else None

    return table_html(frame, align=False, cell_class=cls)


def _blocks_view(r: PatientReport) -> list[str]:
    if not r.factors or not r.modality_contributions:
        return []
    scale = r.factors[0].scale
    return [f"{_BLOCK_TEXT.get(b, b)}: {_direction_word(v, scale)} ({v:+.3f} {scale})"
            for b, v in r.modality_contributions.items() if v is not None]


def _plaque_view(r: PatientReport) -> tuple[str, str | None]:
    """The plaque key-value table and the lesion table (None without lesions)."""
    p, c, k = r.plaque, r.cad_rads, r.cac
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
    les = p.get("lesions")
    lesions = None
    if les:
        frame = pd.DataFrame([[_lesion_cell(le, key) for key, _ in _LESION_COLS] for le in les],
                             columns=[h for _, h in _LESION_COLS], dtype=object)
        lesions = table_html(frame, align=False)
    return _kv(rows), lesions


def _pet_view(r: PatientReport) -> dict:
    q = r.pet
    if not q.get("available"):
        return {"table": None, "reason": q.get("missing_reason")}
    rows = [("CMA (patient)", _fmt(_num(q.get("cma_patient")))),
            ("TBRmax (highest lesion)", _fmt(_num(q.get("tbr_max"))))]
    vessels = q.get("cma_by_vessel")
    if isinstance(vessels, Mapping):
        rows += [(f"CMA {v}", _fmt(_num(x))) for v, x in vessels.items()]
    return {"table": _kv(rows), "interpretation": q.get("interpretation") or ""}
