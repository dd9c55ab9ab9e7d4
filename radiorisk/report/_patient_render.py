"""The patient structured report from its computed inputs: factors, confidence and findings in words.

:func:`render_patient_reports` turns a :class:`PatientReportInputs` (the risks, intervals
and SHAP values computed by :func:`radiorisk.pipeline.patient_reports`, and the cohort's
tables) into :class:`PatientReport` objects. It formats only: nothing here predicts,
resamples or explains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._patient_findings import _findings_from_tables, _findings_from_x, _index_scans
from ._patient_report import PatientReport, ReportFactor
from ._patient_values import _bool, _clean, _direction_word, _num, _value_text
from ._vocab import _MACE_TEXT, _spec

__all__ = ["PatientReportInputs", "render_patient_reports"]


@dataclass(frozen=True)
class PatientReportInputs:
    """What the patient reports show, computed by the pipeline.

    Attributes
    ----------
    ids : tuple of str
        The reported patients (ids of ``X``), in report order.
    labels : dict
        Patient id -> the identifier printed (its id or its pseudonym).
    X : DataFrame
        The reported patients' model inputs.
    risk : ndarray
        The model's risk by the horizon, in ``ids`` order.
    horizon : float
        Days.
    intervals : DataFrame or None
        ``risk, ci_low, ci_high, low_confidence, reason`` indexed by patient id.
    level : float or None
        Level of the intervals.
    interval_info : dict or None
        How the intervals were computed (source, n_models, max_width, ood, ...).
    shap : ShapResult
        SHAP values of the reported patients, in ``ids`` order.
    risk_changes : DataFrame
        ``patient_id, feature, risk_change`` (the probability-at-horizon view of SHAP).
    tables : Cohort or None
        The raw cohort tables for the plaque, CAD-RADS, CAC and PET findings.
    mace : tuple of str or None
        The MACE components of the outcome.
    free_text : dict
        Patient id -> the user's comment.
    top_k : int
        Contributing factors per report.
    pseudonymised : bool
        Lesions are numbered instead of carrying their ids.
    model_info : dict
        *About this report*: model, horizon, SHAP method, interval, version, provenance.
    report_date : str
        ISO date printed on the report.
    """

    ids: tuple
    labels: dict
    X: pd.DataFrame
    risk: np.ndarray
    horizon: float
    intervals: pd.DataFrame | None
    level: float | None
    interval_info: dict | None
    shap: object
    risk_changes: pd.DataFrame
    tables: object
    mace: tuple | None
    free_text: dict
    top_k: int
    pseudonymised: bool
    model_info: dict
    report_date: str


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


def _outcome(mace) -> str:
    if not mace:
        return "major adverse cardiovascular event (MACE)"
    comps = [_MACE_TEXT.get(m, m) for m in mace]
    comps = ", ".join(comps[:-1]) + " or " + comps[-1] if len(comps) > 1 else comps[0]
    return f"major adverse cardiovascular event (MACE: {comps})"


def render_patient_reports(inputs: PatientReportInputs) -> list[PatientReport]:
    """One :class:`PatientReport` per patient of ``inputs``, in its order.

    Parameters
    ----------
    inputs : PatientReportInputs

    Returns
    -------
    list of PatientReport
    """
    inp = inputs
    tables, res, Xs, itab, risk = inp.tables, inp.shap, inp.X, inp.intervals, inp.risk
    rc_all = inp.risk_changes
    scans = lesions = pet = None
    if tables is not None:
        scans = _index_scans(tables.scans) if len(tables.scans) else None
        lesions = getattr(tables, "lesions", None)
        pet = getattr(tables, "pet", None)
    common = {"horizon_days": inp.horizon, "outcome": _outcome(inp.mace), "ci_level": inp.level,
              "model": _clean(inp.model_info), "report_date": inp.report_date}
    reports = []
    for pos, pid in enumerate(inp.ids):
        facs, mod = _factors(res, pos, inp.top_k, rc_all[rc_all["patient_id"] == pid])
        if tables is not None:
            plaque, cad, cac, pet_d = _findings_from_tables(pid, scans, lesions, pet)
            if inp.pseudonymised and plaque.get("lesions"):
                # a pseudonymised report carries no raw lesion id: lesions are numbered instead
                plaque["lesions"] = [{**d, "lesion_id": f"lesion {k + 1}"} for k, d in enumerate(plaque["lesions"])]
        else:
            plaque, cad, cac, pet_d = _findings_from_x(Xs.loc[pid])
        row = itab.loc[pid] if itab is not None else None
        low, why = _confidence(row, inp.interval_info or {})
        reports.append(PatientReport(
            patient=inp.labels[pid], risk=float(risk[pos]),
            ci_low=None if row is None else _num(row["ci_low"]),
            ci_high=None if row is None else _num(row["ci_high"]),
            low_confidence=low, confidence_reason=why, factors=tuple(facs),
            modality_contributions=_clean(mod), plaque=_clean(plaque), cad_rads=_clean(cad),
            cac=_clean(cac), pet=_clean(pet_d), free_text=inp.free_text[pid], **common))
    return reports
