"""Audit a predictions file: read and check it, run :class:`SubgroupAudit`, write the audit folder.

The file is read and checked by :mod:`radiorisk.pipeline._audit_inputs` (:func:`read_predictions`,
re-exported here).

This is the body of ``radiorisk audit`` as a library function (the CLI module only parses
arguments). Identifiers never reach the outputs: only the risk, outcome and group columns
are audited, and an identifier column given as a group is refused (see ``docs/privacy.md``).
The id column (``id_col``, default ``patient_id`` when present) and a ``repeat`` column are
read only to refuse stacked out-of-fold files (one row per patient and repeat) or, with
``average_repeats=True``, to average them per id; neither is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._files import atomic_write, atomic_write_csv, atomic_write_text
from ..evaluation import (
    CONTRAST_ADJUSTMENTS,
    SubgroupAudit,
    audit_tables,
    stack_audit_tables,
    write_metrics_csv,
)
from ..exceptions import AuditUsageError, InputFileError
from ..privacy import ID_COLUMNS
from ..report import audit_figures, audit_report_html
from ..stats import DEFAULT_HORIZON_DAYS, check_horizon
from ._audit_inputs import Predictions, read_predictions

__all__ = ["DEFAULT_AUDIT_SEED", "Predictions", "read_predictions", "run_audit", "write_audit_outputs"]

#: Bootstrap seed of :func:`run_audit` when none is given (printed in the report and by the command).
DEFAULT_AUDIT_SEED = 0
def run_audit(
    predictions,
    out,
    *,
    risk_col: str | Sequence[str],
    outcome_col: str | None = None,
    time_col: str | None = None,
    event_col: str | None = None,
    horizon: float | Sequence[float] | None = None,
    groups=(),
    n_boot: int = 0,
    seed: int | None = None,
    intersections: bool = True,
    min_events: int = 10,
    threshold: float | None = None,
    top_k: float | None = None,
    bands=5,
    figures: bool = True,
    calibration_boot: int | None = None,
    messages: list | None = None,
    competing_risks: bool = False,
    id_col: str | None = None,
    average_repeats: bool = False,
    adjust: str = "holm",
    reference_risk_col: str | Sequence[str] | None = None,
    decision_thresholds=None,
    nri_cuts=None,
) -> Path:
    """Audit a predictions CSV and write ``out/metrics.csv`` and the other files; returns metrics.csv's path.

    Parameters
    ----------
    predictions : path-like
        The predictions CSV (see :func:`read_predictions`).
    out : path-like
        Output folder (created if needed).
    risk_col, outcome_col, time_col, event_col, groups
        As in :func:`read_predictions`.
    horizon : float or sequence of float, optional
        :math:`t_0` in the unit of ``time_col`` (default 1826 days for survival data).
        Several horizons (survival only) need one risk column per horizon in ``risk_col``
        (the predicted risk by that horizon, same order): one audit per horizon, and every
        CSV gets a first column ``horizon`` (:func:`radiorisk.evaluation.stack_audit_tables`),
        the figures a prefix ``t<horizon>_`` and the report's findings one block per horizon.
    n_boot : int
        Bootstrap samples for percentile CIs (0: analytic CIs where defined).
    seed : int, optional
        Bootstrap seed (default :data:`DEFAULT_AUDIT_SEED`, 0: the same file audited
        twice gives the same CIs); printed in the report.
    intersections : bool
        Also audit the intersections of the group columns (e.g. ``sex:ethnicity``).
    min_events : int
        Groups with fewer events are flagged.
    threshold, top_k : float, optional
        Decision rule of ``fairness.csv`` (default: the top 10 % of risk).
    bands : int or sequence
        Risk bands of ``calibration_tables.csv``.
    figures : bool
        Write ``figures/*.png`` and embed them in ``report.html``.
    calibration_boot : int, optional
        Bootstrap ``ici_t``/``e50_t``/``e90_t``/``emax_t`` (``ici_cr`` ... ``emax_cr``
        with ``competing_risks``) on this many replicates only.
    messages : list, optional
        Receives plain-language warnings (groups without events, few events,
        missing labels) for the command to print.
    competing_risks : bool
        ``event_col`` is a status (0 = censored, 1 = the event of interest, 2 = a
        competing event) and ``risk_col`` the predicted cumulative incidence by the
        horizon: every output uses the competing-risk estimands (Aalen-Johansen
        observed risk; competing events are not censored) and says so
        (:class:`~radiorisk.evaluation.SubgroupAudit` with ``competing_risks=True``).
        Without it a status 2 is refused.
    id_col, average_repeats
        As in :func:`read_predictions`: a stacked out-of-fold file is refused, or
        averaged per id with ``average_repeats=True`` (said in the report's inputs
        and in ``messages``).
    adjust : {"holm", "bh", "none"}
        Which p-value of ``differences.csv`` decides its ``significant`` column and the
        report's key findings on group differences: Holm (family-wise error, default),
        Benjamini-Hochberg (false discovery rate) or unadjusted. Both adjusted p-values
        are always written (``p_holm``, ``p_bh``).
    reference_risk_col : str or sequence of str, optional
        A reference model's predicted risk (one column per horizon, in the order of
        ``risk_col``): ``nri.csv`` and the report's NRI section give the NRI of ``risk_col``
        over it, per group (:meth:`~radiorisk.evaluation.SubgroupAudit.reclassification`).
    decision_thresholds : sequence of float, optional
        Thresholds of ``decision_curves.csv`` (default 0.01 ... 0.50).
    nri_cuts : sequence of float, optional
        Cut points of the categorical NRI (default ``threshold`` when given; else only the
        category-free NRI).

    Returns
    -------
    Path

    Notes
    -----
    No row is dropped: invalid values stop the audit with a message naming
    every one; a missing group label keeps the row in ``overall`` and reports
    it in the group ``unknown`` (counted in ``flags.csv`` and the report).

    No identifier is written: other columns of the file are ignored (the id
    column only serves to find and average repeats), and ``groups`` may not name
    an identifier column (``patient_id``, ``scan_id``, ``lesion_id``).

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 200)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = Path(d) / "pred.csv"
    ...     pd.DataFrame({"y": rng.binomial(1, p), "p": p}).to_csv(f, index=False)
    ...     m = pd.read_csv(run_audit(f, Path(d) / "audit", risk_col="p", outcome_col="y", figures=False))
    >>> int(m["n"].iloc[0])
    200
    """
    survival = outcome_col is None
    hs, rcs = _horizons_and_risks(survival, horizon, risk_col)
    hs = [_check_audit_options(survival, time_col=time_col, event_col=event_col, horizon=h, n_boot=n_boot,
                               groups=groups, threshold=threshold, top_k=top_k, adjust=adjust) for h in hs]
    if len(set(hs)) < len(hs):
        raise AuditUsageError(f"horizon: {hs} repeats a horizon; give each horizon once")
    if competing_risks and not survival:
        raise AuditUsageError("competing_risks=True needs time_col and event_col (status 0 = censored, "
                              "1 = event of interest, 2 = competing event), not outcome_col")
    refs = _reference_columns(reference_risk_col, rcs)
    pred = read_predictions(predictions, risk_col=rcs + [c for c in refs if c not in rcs], outcome_col=outcome_col,
                            time_col=time_col, event_col=event_col, groups=groups,
                            competing_risks=competing_risks, id_col=id_col, average_repeats=average_repeats)
    seed = DEFAULT_AUDIT_SEED if seed is None else seed
    d = pred.data
    audits = {h: SubgroupAudit(
        d[r].to_numpy(), time=None if not survival else d[time_col].to_numpy(),
        event=None if not survival else d[event_col].to_numpy(),
        y=None if survival else d[outcome_col].to_numpy(), horizon=h,
        groups={g: d[g] for g in dict.fromkeys(groups)}, intersections=intersections,
        n_boot=n_boot, random_state=seed, min_events=min_events, calibration_boot=calibration_boot,
        competing_risks=competing_risks) for h, r in zip(hs, rcs, strict=True)}
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"{out}: cannot create the output folder: {exc}") from exc
    extra = [("repeats", pred.averaged)] if pred.averaged else []
    ref_risk = {h: d[c].to_numpy() for h, c in zip(hs, refs, strict=True)} if refs else None
    if refs:
        extra.append(("reference model (NRI)", ", ".join(refs)))
    if len(audits) > 1:
        extra.insert(0, ("risk column per horizon", ", ".join(f"t = {h:g}: {r}" for h, r in zip(hs, rcs,
                                                                                                strict=True))))
    paths = write_audit_outputs(audits if len(audits) > 1 else audits[hs[0]], out, source=str(pred.path),
                                threshold=threshold, top_k=top_k, bands=bands, figures=figures,
                                adjust=adjust, extra_inputs=extra, decision_thresholds=decision_thresholds,
                                reference_risk=ref_risk if ref_risk is None or len(hs) > 1 else ref_risk[hs[0]],
                                reference=", ".join(refs), nri_cuts=nri_cuts)
    if messages is not None:
        messages.extend([pred.averaged] if pred.averaged else [])
        for h, a in audits.items():
            messages.extend(_audit_messages(a) if len(audits) == 1 else
                            [f"t = {h:g}: {m}" for m in _audit_messages(a)])
    return paths["metrics.csv"]


def _reference_columns(reference_risk_col, rcs: list[str]) -> list[str]:
    """The reference model's risk columns, one per horizon (empty without a reference)."""
    if reference_risk_col is None:
        return []
    refs = [reference_risk_col] if isinstance(reference_risk_col, str) else list(reference_risk_col)
    if len(refs) != len(rcs):
        raise AuditUsageError(f"{len(refs)} reference risk column(s) ({', '.join(refs)}) and {len(rcs)} risk "
                              "column(s): give one reference column per risk column (per horizon), in the same order")
    same = [r for r, c in zip(refs, rcs, strict=True) if r == c]
    if same:
        raise AuditUsageError(f"reference_risk_col {same[0]!r} is the audited risk column itself; give the "
                              "reference model's column")
    return refs


def _horizons_and_risks(survival: bool, horizon, risk_col) -> tuple[list, list[str]]:
    """The horizons (``[None]`` for the default or a binary audit) and their risk columns, one per horizon."""
    hs = [horizon] if horizon is None or np.ndim(horizon) == 0 else list(horizon)
    rcs = [risk_col] if isinstance(risk_col, str) else list(risk_col)
    if not hs or not rcs:
        raise AuditUsageError("give at least one horizon and one risk column")
    if len(hs) == 1 and len(rcs) == 1:
        return hs, rcs
    if not survival:
        raise AuditUsageError("several horizons or risk columns apply to survival data (time_col/event_col) only")
    if len(hs) != len(rcs):
        raise AuditUsageError(f"{len(hs)} horizon(s) and {len(rcs)} risk column(s) ({', '.join(rcs)}): give one "
                              "risk column per horizon, in the same order (the predicted risk depends on the "
                              "horizon)")
    return hs, rcs


def _check_audit_options(survival: bool, *, time_col, event_col, horizon, n_boot, groups, threshold,
                         top_k, adjust="holm") -> float | None:
    """Refuse inconsistent options of :func:`run_audit`; returns the checked horizon."""
    if survival and (time_col is None or event_col is None):
        raise AuditUsageError("give outcome_col (binary) or both time_col and event_col (survival)")
    if not survival and (time_col is not None or event_col is not None):
        raise AuditUsageError("outcome_col cannot be combined with time_col/event_col")
    if not survival and horizon is not None:
        raise AuditUsageError("horizon applies to survival data (time_col/event_col) only")
    if n_boot < 0:
        raise AuditUsageError(f"n_boot must be >= 0; got {n_boot}")
    ids = [g for g in groups if g in ID_COLUMNS]
    if ids:
        raise AuditUsageError(f"groups: {ids[0]} is an identifier; an identifier is not a group; audit outputs never carry "
                              "identifiers (group by sex, ethnicity, site, ...)")
    if threshold is not None and top_k is not None:
        raise AuditUsageError("give threshold or top_k, not both")
    if threshold is not None and not 0 <= threshold <= 1:
        raise AuditUsageError(f"threshold must lie in [0, 1]; got {threshold}")
    if top_k is not None and not 0 < top_k < 100:
        raise AuditUsageError(f"top_k is a percentage in (0, 100); got {top_k}")
    if adjust not in CONTRAST_ADJUSTMENTS:
        raise AuditUsageError(f"adjust must be one of {', '.join(CONTRAST_ADJUSTMENTS)}; got {adjust!r}")
    return check_horizon(horizon, DEFAULT_HORIZON_DAYS, name="horizon") if survival else horizon


def write_audit_outputs(audit: SubgroupAudit | Mapping[float, SubgroupAudit], out, *, source: str = "",
                        threshold=None, top_k=None, bands=5, figures: bool = True, extra_inputs=(),
                        adjust: str = "holm", decision_thresholds=None, reference_risk=None, reference: str = "",
                        nri_cuts=None) -> dict[str, Path]:
    """Write every audit file into the folder ``out`` (each atomically); returns {name: path}.

    The tables are :func:`radiorisk.evaluation.audit_tables`, the figures
    :func:`radiorisk.report.audit_figures` and the page :func:`radiorisk.report.audit_report_html`.

    Parameters
    ----------
    audit : SubgroupAudit or mapping of float to SubgroupAudit
        One audit, or one per horizon (the tables stacked with a ``horizon`` column, the
        figures named ``t<horizon>_...``, the report's findings per horizon).
    out : path-like
        Existing folder.
    source : str
        Where the predictions came from (shown in the report).
    threshold, top_k
        Decision rule of :meth:`SubgroupAudit.fairness` (default ``top_k=10``).
    bands : int or sequence
        Risk bands of :meth:`SubgroupAudit.calibration_within_groups`.
    figures : bool
        Draw the PNG figures (``figures/``) and embed them in the report.
    extra_inputs : sequence of (str, str)
        More lines for the report's input table (e.g. exclusions).
    adjust : {"holm", "bh", "none"}
        Which p-value decides ``significant`` in ``differences.csv`` (see :func:`run_audit`).
    decision_thresholds, nri_cuts
        As in :func:`radiorisk.evaluation.audit_tables`.
    reference_risk : array-like or mapping of float to array-like, optional
        The reference model's risk (one array per horizon with several audits): ``nri.csv``.
    reference : str
        Its name (the column), shown in the report.

    Returns
    -------
    dict of str to Path

    Examples
    --------
    >>> import tempfile
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 300)
    >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 300)})
    >>> with tempfile.TemporaryDirectory() as d:
    ...     sorted(write_audit_outputs(a, d, figures=False))
    ['calibration_tables.csv', 'calibration_tests.csv', 'decision_curves.csv', 'differences.csv', 'fairness.csv', 'flags.csv', 'heterogeneity.csv', 'metrics.csv', 'report.html']
    """
    out = Path(out)
    by_h = dict(audit) if isinstance(audit, Mapping) else None
    kw = dict(threshold=threshold, top_k=top_k, bands=bands, adjust=adjust, decision_thresholds=decision_thresholds,
              reference=reference, nri_cuts=nri_cuts)
    if by_h is None:
        tables = audit_tables(audit, reference_risk=reference_risk, **kw)
    else:
        per = {h: audit_tables(a, reference_risk=None if reference_risk is None else reference_risk[h], **kw)
               for h, a in by_h.items()}
        tables, audit = stack_audit_tables(per), next(iter(by_h.values()))
    paths: dict[str, Path] = {}
    for name, frame in tables.files().items():
        if name == "metrics.csv":
            paths[name] = write_metrics_csv(frame, out / name)
        else:
            atomic_write_csv(out / name, frame, float_format="%.10g")
            paths[name] = out / name
    if not figures:
        figs = []
    elif by_h is None:
        figs = audit_figures(audit, tables)
    else:
        figs = [replace(f, title=f"t = {h:g}: {f.title}", file_name=f"t{h:g}_{f.file_name}")
                for h, a in by_h.items() for f in audit_figures(a, per[h])]
    if figures:
        (out / "figures").mkdir(exist_ok=True)
    for f in figs:
        if f.png is not None:
            p = out / "figures" / f.file_name
            atomic_write(p, lambda tmp, png=f.png: tmp.write_bytes(png))
            paths[f"figures/{f.file_name}"] = p
    page = audit_report_html(audit, tables, figures=figs, source=source, extra_inputs=extra_inputs,
                             horizons=None if by_h is None else {h: (a, per[h]) for h, a in by_h.items()})
    atomic_write_text(out / "report.html", page)
    paths["report.html"] = out / "report.html"
    return paths


def _audit_messages(audit) -> list[str]:
    """Plain-language warnings: groups without events or with few, missing labels."""
    msgs = []
    what = "by the horizon" if audit.survival else "(outcome = 1)"
    for attr, grp, n, ev in audit.group_counts.itertuples(index=False):
        if attr == "overall":
            if ev == 0:
                msgs.append(f"no event {what} in the whole data: time-dependent metrics are undefined")
            continue
        if ev == 0:
            msgs.append(f"{attr} = {grp}: no event {what} among {n} rows; its metrics are "
                        "undefined (empty in metrics.csv, reason in flags.csv)")
        elif ev < audit.min_events:
            msgs.append(f"{attr} = {grp}: only {ev} event(s) {what}; its estimates are flagged (flags.csv)")
    for _, r in audit.exclusions.iterrows():
        if r["n_missing"]:
            msgs.append(f"{r['attribute']}: {r['n_missing']} row(s) have no label; they stay in overall "
                        f"and are reported as the group 'unknown'")
    return msgs
