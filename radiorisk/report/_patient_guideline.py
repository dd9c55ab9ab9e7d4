"""Guideline context of the patient report: CAD-RADS 2.0 suggestions, risk bands, the low-confidence flag.

Every statement comes from a versioned table (``templates/patient_guidelines.json``,
or the user's own with the same keys) and carries its source: the report says what
the cited document suggests, never what radiorisk advises.  When the scans table does
not record the CAD-RADS stenosis or plaque-burden category, :func:`complete_cad_rads`
derives it from the measured stenosis, segment involvement or calcium score (CAD-RADS
2.0 definitions, stated in the table) and says that it was derived.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources

from ..exceptions import PatientReportError
from ._patient_findings import _cad_rads
from ._patient_report import PatientReport

__all__ = ["load_guideline", "guideline_context", "complete_cad_rads", "derive_stenosis_category",
           "derive_plaque_category"]

_TERRITORY = {"LAD": "LAD", "D1": "LAD", "D2": "LAD", "LCX": "LCx", "LCx": "LCx", "OM1": "LCx", "OM2": "LCx",
              "RCA": "RCA", "PDA": "RCA", "PLB": "RCA", "PLV": "RCA"}


def load_guideline(source=None) -> dict:
    """The guideline table: radiorisk's (default), a JSON file, or a mapping with the same keys.

    Parameters
    ----------
    source : path-like or Mapping, optional

    Returns
    -------
    dict

    Raises
    ------
    PatientReportError
        Unreadable file, or a table without ``name``, ``version``, ``cad_rads`` or with
        malformed ``risk_bands``.

    Examples
    --------
    >>> t = load_guideline()
    >>> t["name"], t["version"], t["cad_rads"]["stenosis"]["3"]["further_evaluation"]
    ('radiorisk-guideline-context', '1.1.0', 'consider functional assessment')
    """
    if source is None:
        text = (resources.files("radiorisk.report") / "templates" / "patient_guidelines.json").read_text("utf-8")
        table = json.loads(text)
    elif isinstance(source, Mapping):
        table = dict(source)
    elif isinstance(source, str | os.PathLike):
        try:
            with open(source, encoding="utf-8") as fh:
                table = json.load(fh)
        except (OSError, ValueError) as exc:
            raise PatientReportError(f"guideline {source}: cannot be read as a JSON table ({exc})") from exc
    else:
        raise PatientReportError(f"guideline must be a path or a mapping; got {type(source).__name__}")
    _check_table(table, source)
    return table


def _check_table(table, source) -> None:
    where = "guideline" if source is None or isinstance(source, Mapping) else f"guideline {source}"
    miss = [k for k in ("name", "version", "cad_rads") if k not in table]
    if miss:
        raise PatientReportError(f"{where}: missing key(s) {miss}")
    cad = table["cad_rads"]
    if not isinstance(cad, Mapping) or "source" not in cad or not isinstance(cad.get("stenosis"), Mapping):
        raise PatientReportError(f"{where}: cad_rads needs 'source' and a 'stenosis' mapping")
    bands = table.get("risk_bands")
    if bands is None:
        return
    need = ("name", "source", "horizon_days", "bands")
    if not isinstance(bands, Mapping) or any(k not in bands for k in need):
        raise PatientReportError(f"{where}: risk_bands needs keys {list(need)}")
    uppers = [b.get("upper") for b in bands["bands"]]
    if (not uppers or any(not isinstance(u, int | float) for u in uppers)
            or uppers != sorted(uppers) or uppers[-1] < 1):
        raise PatientReportError(f"{where}: risk_bands.bands need increasing numeric 'upper' bounds ending at 1")


def derive_stenosis_category(max_stenosis_pct, lesions=None) -> str | None:
    """The CAD-RADS 2.0 stenosis category from the maximum diameter stenosis (and the lesions, for 4B).

    Examples
    --------
    >>> [derive_stenosis_category(s) for s in (0, 10, 30, 55, 80, 100)]
    ['0', '1', '2', '3', '4A', '5']
    >>> derive_stenosis_category(75, [{"vessel": "LM", "diameter_stenosis_pct": 55}])
    '4B'
    """
    if max_stenosis_pct is None:
        return None
    s = float(max_stenosis_pct)
    if s >= 100:
        return "5"
    if s >= 70:
        worst = {}
        for le in lesions or ():
            v, d = str(le.get("vessel")), le.get("diameter_stenosis_pct")
            if d is None:
                continue
            if v in ("LM", "LMS") and d >= 50:
                return "4B"
            t = _TERRITORY.get(v)
            if t:
                worst[t] = max(worst.get(t, 0.0), float(d))
        return "4B" if len(worst) == 3 and min(worst.values()) >= 70 else "4A"
    for cut, cat in ((50, "3"), (25, "2"), (1, "1")):
        if s >= cut:
            return cat
    return "0"


def derive_plaque_category(sis=None, cac=None) -> str | None:
    """The CAD-RADS 2.0 plaque-burden category from the segment involvement score, else the Agatston score.

    Examples
    --------
    >>> derive_plaque_category(sis=4), derive_plaque_category(cac=450.0), derive_plaque_category()
    ('P2', 'P3', None)
    """
    if sis is not None:
        s = float(sis)
        return "P0" if s <= 0 else "P1" if s <= 2 else "P2" if s <= 4 else "P3" if s <= 7 else "P4"
    if cac is not None:
        c = float(cac)
        return "P0" if c <= 0 else "P1" if c <= 100 else "P2" if c <= 300 else "P3" if c < 1000 else "P4"
    return None


def complete_cad_rads(report: PatientReport) -> PatientReport:
    """The report with its CAD-RADS stenosis and plaque categories derived where not recorded, marked as derived.

    Examples
    --------
    >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05, ci_low=None,
    ...                   ci_high=None, ci_level=None, low_confidence=None, confidence_reason="", factors=(),
    ...                   plaque={"max_stenosis_pct": 62.0, "segment_involvement_score": 6,
    ...                           "n_high_risk_lesions": 1}, cad_rads={}, cac={"agatston": 40.0})
    >>> c = complete_cad_rads(r).cad_rads
    >>> c["text"], c["derived"]
    ('CAD-RADS 3/P3/HRP', ['stenosis', 'plaque', 'hrp'])
    """
    c, p = dict(report.cad_rads), report.plaque
    derived = []
    sten, pcat, hrp = c.get("stenosis"), c.get("plaque"), c.get("hrp_modifier")
    if sten is None:
        sten = derive_stenosis_category(p.get("max_stenosis_pct"), p.get("lesions"))
        derived += ["stenosis"] if sten is not None else []
    if pcat is None:
        pcat = derive_plaque_category(p.get("segment_involvement_score"), report.cac.get("agatston"))
        derived += ["plaque"] if pcat is not None else []
    if hrp is None and p.get("n_high_risk_lesions") is not None:
        hrp = p["n_high_risk_lesions"] >= 1
        derived.append("hrp")
    if not derived:
        return report
    new = _cad_rads(sten, pcat, hrp)
    new["derived"] = derived
    return replace(report, cad_rads=new)


def _risk_band(risk: float, horizon: float, bands) -> dict:
    if bands is None:
        return {"text": "No guideline table of risk bands was given for this outcome and horizon; radiorisk "
                        "states none of its own.", "source": None}
    if abs(float(bands["horizon_days"]) - horizon) > 0.5:
        return {"text": f"The risk-band table {bands['name']!r} is for {bands['horizon_days']:g} days, not "
                        f"{horizon:g}; it is not applied.", "source": bands["source"]}
    band = next(b for b in bands["bands"] if risk < b["upper"] or b["upper"] >= 1)
    return {"band": band.get("label"), "source": bands["source"],
            "text": f"According to {bands['name']}, a risk in this band ({band.get('label')}) means: "
                    f"{band.get('meaning')}"}


def guideline_context(report: PatientReport, table: Mapping | None = None) -> dict:
    """What the cited guidelines say about this report's findings, each statement with its source.

    Parameters
    ----------
    report : PatientReport
        Preferably after :func:`complete_cad_rads`.
    table : Mapping, optional
        :func:`load_guideline` output (default: radiorisk's table).

    Returns
    -------
    dict
        ``table`` (name and version), ``cad_rads`` (category, whether derived, meaning,
        suggested further evaluation and management, plaque burden, source),
        ``risk_band`` and ``low_confidence`` (each with ``text`` and ``source``).

    Examples
    --------
    >>> r = PatientReport(patient="P1", horizon_days=1826.0, outcome="MACE", risk=0.05, ci_low=None,
    ...                   ci_high=None, ci_level=None, low_confidence=True, confidence_reason="",
    ...                   factors=(), cad_rads={"stenosis": "4A", "plaque": "P2", "text": "CAD-RADS 4A/P2"})
    >>> g = guideline_context(r)
    >>> g["cad_rads"]["further_evaluation"], g["low_confidence"]["applies"]
    ('consider invasive coronary angiography or functional assessment', True)
    """
    table = load_guideline(table)
    cad = table["cad_rads"]
    c = report.cad_rads
    row = cad["stenosis"].get(str(c.get("stenosis"))) if c.get("stenosis") is not None else None
    pb = cad.get("plaque_burden", {})
    out_cad = {"category": c.get("text"), "derived": list(c.get("derived", [])), "source": cad["source"],
               "meaning": None, "further_evaluation": None, "management": None,
               "plaque_burden": pb.get(c.get("plaque")) if c.get("plaque") else None,
               "plaque_burden_note": pb.get("note"),
               "derivation": {k: v for k, v in cad.get("derivation", {}).items()
                              if k in c.get("derived", [])}}
    if row is not None:
        out_cad.update({k: row.get(k) for k in ("meaning", "further_evaluation", "management")})
    low = table.get("low_confidence") or {}
    return {"table": {"name": table["name"], "version": table["version"]}, "cad_rads": out_cad,
            "risk_band": _risk_band(report.risk, report.horizon_days, table.get("risk_bands")),
            "low_confidence": {"applies": bool(report.low_confidence), "text": low.get("text"),
                               "source": low.get("source")}}
