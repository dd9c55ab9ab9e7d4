"""The body of the patient structured reports: predict, resample, explain, then format and write.

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

:class:`radiorisk.report.PatientReport` is a frozen dataclass with
``to_dict``/``to_json`` (strict JSON: missing values are ``null``, never NaN) and
``to_html`` (one self-contained page: inline style, no script, no external resource,
every user string escaped).  :func:`patient_reports` computes what the reports show
(the risk with :mod:`radiorisk.models`, the intervals and SHAP values with
:mod:`radiorisk.explain`) and :func:`radiorisk.report.render_patient_reports` formats
them; :func:`write_patient_reports` writes ``<patient>.html`` and ``<patient>.json``
atomically.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from .._files import atomic_write_text
from ..exceptions import PatientReportError
from ..explain import model_kind, risk_intervals, shap_values
from ..features import CohortData, assemble_cohort
from ..io import read_cohort
from ..models import estimand
from ..report import PatientReport, PatientReportInputs, render_patient_reports

__all__ = ["patient_reports", "write_patient_reports"]

_MSG_UNKNOWN_IDS = "patient_reports: {k} patient id(s) not in the data (first: {first!r})"
_MSG_MISSING_COLS = ("patient_reports: the data lack {k} column(s) the model was fitted on (first: "
                     "{first!r}); pass the CohortData the model was trained on (e.g. assemble_cohort("
                     "..., radiomics=...)) and the raw tables with tables=")
_MSG_MISMATCH = ("patient_reports: {what} give risk {a:.6g} for patient {pid!r} but the model gives "
                 "{b:.6g}; they were computed with another model, data or horizon")


def _check_top_k(top_k) -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, int | np.integer) or top_k < 1:
        raise PatientReportError(f"top_k must be an integer >= 1; got {top_k!r}")
    return int(top_k)



# ------------------------------------------------------------------------------------ build
def _resolve_data(data, tables, blocks):
    """``(X, blocks, raw tables or None, mace or None)`` from the ``data`` argument."""
    mace = None
    if isinstance(data, str | os.PathLike):
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
    top_k = _check_top_k(top_k)
    X, blocks, tables, mace = _resolve_data(data, tables, blocks)
    cols = _model_columns(model)
    if cols is not None:
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise PatientReportError(_MSG_MISSING_COLS.format(k=len(missing), first=missing[0]))
    ids = _check_ids(ids, X)
    texts = _per_patient_text(free_text, ids, X, "free_text")
    labels = _labels(pseudonyms, ids)
    if horizon is None:
        horizon = getattr(intervals, "horizon", None)
    h = float(horizon) if horizon is not None else float(model.horizon)
    if not (math.isfinite(h) and h > 0):
        raise PatientReportError(f"horizon must be a number of days > 0; got {horizon!r}")
    Xs = X.loc[ids]
    risk = np.asarray(model.predict_risk(Xs, h), dtype=np.float64)
    if intervals is None and X_train is not None:
        if y_train is None:
            raise PatientReportError("patient_reports: X_train needs y_train")
        intervals = risk_intervals(model, Xs, X_train=X_train, y_train=y_train, n_boot=n_boot,
                                   horizon=h, blocks=blocks, random_state=random_state)
    itab, level, iinfo = _checked_intervals(intervals, ids, h, risk)
    res = _checked_shap(shap, model, Xs, ids, h, risk, blocks=blocks, random_state=random_state)
    inputs = PatientReportInputs(
        ids=tuple(ids), labels=labels, X=Xs, risk=risk, horizon=h, intervals=itab, level=level,
        interval_info=iinfo, shap=res, risk_changes=_risk_changes(res, h), tables=tables, mace=mace,
        free_text=texts, top_k=top_k, pseudonymised=pseudonyms is not None,
        model_info=_model_info(model, res, h, iinfo, provenance),
        report_date=str(report_date or _dt.datetime.now(_dt.UTC).date().isoformat()))
    return render_patient_reports(inputs)


def _labels(pseudonyms, ids: list[str]) -> dict[str, str]:
    """The identifier printed for each reported patient (its id, or its pseudonym)."""
    labels = {i: i for i in ids}
    if pseudonyms is None:
        return labels
    if not isinstance(pseudonyms, Mapping):
        raise PatientReportError("pseudonyms must be a mapping patient id -> pseudonym")
    absent = [i for i in ids if i not in {str(k) for k in pseudonyms}]
    if absent:
        raise PatientReportError(f"pseudonyms: no pseudonym for patient {absent[0]!r}")
    labels = {i: str(v) for k, v in pseudonyms.items() for i in [str(k)] if i in labels}
    if len(set(labels.values())) != len(labels):
        raise PatientReportError("pseudonyms: two reported patients share a pseudonym")
    return labels


def _checked_intervals(intervals, ids: list[str], h: float, risk: np.ndarray):
    """``(table, level, info)`` of the intervals (all None without), checked against the model's risk."""
    if intervals is None:
        return None, None, None
    itab, level, iinfo = _interval_table(intervals, ids, h)
    given = itab.loc[ids, "risk"].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isclose(given, risk, rtol=0, atol=1e-6))
    if len(bad):
        k = bad[0]
        raise PatientReportError(_MSG_MISMATCH.format(what="intervals", a=given[k], b=risk[k], pid=ids[k]))
    return itab, level, iinfo


def _checked_shap(shap, model, Xs: pd.DataFrame, ids: list[str], h: float, risk: np.ndarray, *,
                  blocks, random_state):
    """The SHAP values of the reported patients: computed, or the given ones checked against the risk."""
    if shap is None:
        return shap_values(model, Xs, blocks=blocks, random_state=random_state)
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
    return res


def _risk_changes(res, h: float) -> pd.DataFrame:
    try:
        rc_all = res.risk_contributions(horizon=h)
    except ValueError:  # e.g. a risk-scale fallback at another horizon
        rc_all = pd.DataFrame({"patient_id": [], "feature": [], "risk_change": []})
    return rc_all.assign(patient_id=rc_all["patient_id"].astype(str))


def _model_info(model, res, h: float, iinfo, provenance) -> dict:
    info = {
        "model": model_kind(model), "estimand": estimand(model), "horizon_days": h,
        "n_features": len(res.feature_names),
        "shap": f"{res.method} SHAP on the {res.scale} scale; background: {res.background}",
        "interval": (None if iinfo is None else
                     ", ".join(f"{k}={v}" for k, v in iinfo.items() if v is not None)),
        "radiorisk_version": __version__,
    }
    if provenance:
        for k, v in provenance.items():
            info[str(k)] = v  # made JSON-safe with the rest when the report is formatted
    return info


# ------------------------------------------------------------------------------------ write
_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def _file_stem(patient: str) -> str:
    stem = _SAFE.sub("_", patient)
    if not stem or stem.startswith(".") or set(stem) <= {"_", "."}:
        raise PatientReportError(f"write_patient_reports: patient {patient!r} gives no usable file name")
    return stem


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
            atomic_write_text(path, r.to_html() if f == "html" else r.to_json() + "\n")
            rows.append({"patient": r.patient, "format": f, "path": str(path)})
    return pd.DataFrame(rows, columns=["patient", "format", "path"])
