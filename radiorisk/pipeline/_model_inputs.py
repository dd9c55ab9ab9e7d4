"""Inputs of the model report: the RUN folder, its audit and the cohort it was fitted on.

:func:`read_run` checks and reads the RUN folder of ``radiorisk fit``; the
audit of its out-of-fold predictions is read (:func:`read_audit`) or computed
(:func:`audit_oof`); :func:`load_cohort` assembles the cohort as the fit did
and links the run's (possibly pseudonymised) ids back to it.  Everything lands
in one :class:`radiorisk.report.ModelReportInputs` the section builders read.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import sha256_file
from ..exceptions import RadioriskError, ReportError
from ..features import DEFAULT_MACE, add_batch_columns, assemble_cohort
from ..imaging import measure_plaque
from ..io import read_cohort
from ..privacy import Pseudonymiser, cohort_ids
from ..report import ModelReportInputs, report_attributes
from ._audit import run_audit

__all__ = ["read_run", "per_patient", "audit_oof", "read_audit", "load_cohort"]

_RUN_FILES = ("provenance.json", "oof_predictions.csv", "ladder.csv", "model/manifest.json")
_OOF_NEEDED = ("patient_id", "risk", "time", "event")
_AUDIT_NEEDED = ("metrics.csv", "fairness.csv", "flags.csv", "heterogeneity.csv", "differences.csv")


def read_run(run: Path):
    if not run.is_dir():
        raise ReportError(f"run {run}: no such folder (expected a RUN folder written by `radiorisk fit`)")
    missing = [f for f in _RUN_FILES if not (run / f).is_file()]
    if missing:
        raise ReportError(
            f"run {run}: incomplete RUN folder; missing {', '.join(missing)} (written by `radiorisk fit`; "
            "provenance.json is written last, so without it the fit did not finish)")
    try:
        prov = json.loads((run / "provenance.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{run / 'provenance.json'}: not valid JSON ({exc})") from exc
    if not isinstance(prov, dict) or not isinstance(prov.get("configuration"), dict):
        raise ReportError(f"{run / 'provenance.json'}: no 'configuration' object; is this a "
                          "`radiorisk fit` RUN folder?")
    try:
        oof = pd.read_csv(run / "oof_predictions.csv",
                          dtype={"patient_id": str, "sex": str, "ethnicity": str, "site": str})
        ladder = pd.read_csv(run / "ladder.csv")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReportError(f"run {run}: cannot read oof_predictions.csv or ladder.csv ({exc})") from exc
    miss = [c for c in _OOF_NEEDED if c not in oof.columns]
    if miss:
        raise ReportError(f"{run / 'oof_predictions.csv'}: missing column(s) {miss}")
    for c in ("rung", "metric", "estimate", "ci_low", "ci_high"):
        if c not in ladder.columns:
            raise ReportError(f"{run / 'ladder.csv'}: missing column {c!r}")
    return prov, oof, ladder


def per_patient(oof: pd.DataFrame) -> pd.DataFrame:
    """One row per patient of an out-of-fold table: risk averaged over the repeats, the rest as recorded.

    Parameters
    ----------
    oof : DataFrame
        ``oof_predictions.csv`` of ``radiorisk fit`` (``patient_id, repeat, risk, time, event`` and
        the group columns).

    Returns
    -------
    DataFrame
        Indexed by ``patient_id`` (first-appearance order): ``risk, time, event`` (and
        ``event_type`` of a competing-risk run), the group columns present and ``n_repeats``.

    Examples
    --------
    >>> oof = pd.DataFrame({"patient_id": ["a", "b", "a"], "risk": [0.1, 0.2, 0.3],
    ...                     "time": [5.0, 6.0, 5.0], "event": [1, 0, 1]})
    >>> per_patient(oof)["risk"].round(3).to_dict()
    {'a': 0.2, 'b': 0.2}
    """
    agg = {"risk": ("risk", "mean"), "time": ("time", "first"), "event": ("event", "first")}
    for g in ("event_type", "sex", "ethnicity", "site"):
        if g in oof.columns:
            agg[g] = (g, "first")
    pred = oof.groupby("patient_id", sort=False).agg(**agg)
    pred["n_repeats"] = oof.groupby("patient_id", sort=False).size()
    return pred


def audit_oof(ctx_pred: pd.DataFrame, out: Path, *, horizon: float, n_boot: int, seed: int) -> None:
    attrs = report_attributes(ctx_pred)
    cr = "event_type" in ctx_pred.columns  # a competing-risk run: the audit's competing-risk estimands
    f = out / "predictions.csv"
    ctx_pred[["risk", "time", "event_type" if cr else "event", *attrs]].to_csv(
        f, index=False, lineterminator="\n", float_format="%.10g")
    # A risk band whose Kaplan-Meier survival reaches 0 makes kaplan_meier_risk multiply 0 by
    # inf (a numpy RuntimeWarning; the SE is reported as NaN).  Silence only that, locally.
    with np.errstate(invalid="ignore"):
        run_audit(f, out, risk_col="risk", time_col="time", event_col="event_type" if cr else "event",
                  horizon=horizon, groups=attrs, n_boot=n_boot, seed=seed, top_k=10, competing_risks=cr)


def read_audit(audit: Path) -> dict:
    miss = [f for f in _AUDIT_NEEDED if not (audit / f).is_file()]
    if miss:
        raise ReportError(f"audit {audit}: missing {', '.join(miss)} (write it with `radiorisk audit`)")
    out = {}
    for f in _AUDIT_NEEDED + ("calibration_tables.csv",):
        p = audit / f
        out[f] = pd.read_csv(p, dtype={"group": str, "attribute": str}) if p.is_file() else pd.DataFrame()
    figs = {}
    if (audit / "figures").is_dir():
        for p in sorted((audit / "figures").glob("*.png")):
            figs[p.name] = p.read_bytes()
    out["figures"] = figs
    return out


def load_cohort(ctx: ModelReportInputs, data, explicit: bool) -> None:
    """Read and assemble the cohort as ``radiorisk fit`` did (radiomics and plaque included)."""
    if data is None:
        if explicit:
            return
        ctx.data_notes.append("no cohort folder is recorded in provenance.json; participant details come "
                              "from the out-of-fold predictions only (pass --data DIR)")
        return
    d = Path(data)
    if not d.is_dir():
        if explicit:
            raise ReportError(f"data {d}: no such folder")
        ctx.data_notes.append(f"the cohort folder recorded in provenance.json ({d}) is not available; "
                              "missingness and SHAP are left out (pass --data DIR)")
        return
    ctx.data_dir = d
    cohort = read_cohort(d)
    cfg = ctx.config
    recorded = ctx.prov.get("inputs_sha256") or {}
    for name, p in cohort.files.items():
        if p is None or name not in recorded:
            continue
        if sha256_file(p) != recorded[name].get("sha256"):
            ctx.hash_mismatch.append(Path(p).name)
    radiomics = None
    blocks = list(cfg.get("blocks") or [])
    if "radiomics" in blocks:
        cand = [Path(cfg["features"])] if cfg.get("features") else []
        cand.append(ctx.run / "radiomics" / "features.parquet")
        for p in cand:
            if p.is_file():
                radiomics = pd.read_csv(p) if p.suffix.lower() == ".csv" else pd.read_parquet(p)
                radiomics = _link_back_radiomics(ctx, cohort, radiomics)
                break
        else:
            ctx.data_notes.append("the radiomics table of the fit is not available "
                                  f"({', '.join(map(str, cand))}); radiomics columns are missing here")
    plaque = None
    if cfg.get("measure_plaque") and len(cohort.manifest):
        plaque, _ = measure_plaque(cohort.files["manifest"])
    ctx.cohort = cohort
    ctx.data = assemble_cohort(cohort, plaque=plaque, radiomics=radiomics,
                               mace=tuple(cfg.get("mace") or DEFAULT_MACE),
                               competing=cfg.get("competing", "censor"), horizon=ctx.horizon)
    if (cfg.get("harmonise") or {}).get("batch"):  # the harmonised model reads the batch columns
        ctx.data = add_batch_columns(ctx.data, cohort, cfg["harmonise"]["batch"])
    ctx.oof_ids = _oof_ids(ctx)


def _link_back_radiomics(ctx: ModelReportInputs, cohort, radiomics: pd.DataFrame) -> pd.DataFrame | None:
    """The run's radiomics table with the cohort's ids (a pseudonymised run stores pseudonyms)."""
    if "patient_id" not in radiomics.columns:
        return radiomics
    raw = cohort.patients["patient_id"].astype(str)
    if radiomics["patient_id"].astype(str).isin(set(raw)).mean() > 0.5:
        return radiomics
    pz = Pseudonymiser.matching(ctx.prov.get("identifiers"))
    if pz is None:
        ctx.data_notes.append("the run's radiomics table carries pseudonymised ids and no id key matching "
                              "the run's fingerprint is available (RADIORISK_ID_KEY or the user's key file); "
                              "radiomics columns are missing here")
        return None
    return pz.link_back(radiomics, cohort_ids(cohort))


def _oof_ids(ctx: ModelReportInputs) -> pd.Index | None:
    """The ids of ``oof_predictions.csv`` for the cohort's patients: raw, or the fit's pseudonyms.

    Pseudonyms are recomputed with the user's id key (``$RADIORISK_ID_KEY`` or the user's key
    file; never created here) when its fingerprint matches the one in ``provenance.json``.
    """
    raw = ctx.data.X.index
    ours = set(ctx.pred.index)
    if raw.isin(list(ours)).mean() > 0.5:
        return raw
    ident = ctx.prov.get("identifiers") or {}
    if not isinstance(ident, dict) or ident.get("identifiers") != "pseudonymised":
        ctx.data_notes.append("the ids of oof_predictions.csv do not match the cohort's; per-patient "
                              "checks (extrapolation) are left out")
        return None
    try:  # the user's key when its fingerprint matches; never created here
        pz = Pseudonymiser.matching(ident)
    except RadioriskError:  # an unreadable key file: the check is left out, with the note below
        pz = None
    if pz is not None:
        ids = pd.Index(pz(raw.to_numpy(dtype=object)))
        if ids.isin(list(ours)).mean() > 0.5:
            return ids
    ctx.data_notes.append("patient ids in the RUN are pseudonymised and the id key of the fit (fingerprint "
                          f"{ident.get('key_fingerprint')}) is not available here; per-patient checks "
                          "(extrapolation) are left out")
    return None


