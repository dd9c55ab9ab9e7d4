"""The external-validation report: one HTML page in the TRIPOD+AI order for validation studies.

:func:`render_external_validation` formats an :class:`ExternalValidationInputs` (computed
by :func:`radiorisk.pipeline.validate_model`); it computes nothing but the words.
Sections follow the TRIPOD+AI statement (Collins et al., BMJ 2024) for a study that
evaluates an existing model: title and summary; introduction (objective); methods
(data and participants, outcome, the model and its predictors, missing data,
statistical analysis); results (participants and case mix against the development
cohort, performance overall and by group, model updating); discussion (interpretation,
limitations); other information (software, provenance). The page uses the model
report's template and stylesheet (:func:`radiorisk.report._html.render_page`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..evaluation import (
    CalibrationDisplay,
    SMDDisplay,
    SubgroupAudit,
    SubgroupForestDisplay,
    TransportDiagnostics,
)
from ..stats import median_follow_up
from ._figures import png
from ._html import render_page
from ._model_base import ReportSection
from ._vocab import _METRIC_WORDS, DISCLAIMER

__all__ = ["ExternalValidationInputs", "render_external_validation", "external_validation_sections"]


@dataclass(frozen=True)
class ExternalValidationInputs:
    """Everything the external-validation report states (computed by the pipeline).

    Attributes
    ----------
    audit : SubgroupAudit
        The validation cohort's audit.
    development : SubgroupAudit or None
        The development cohort's overall audit (apparent performance), when given.
    transport : TransportDiagnostics
    performance : DataFrame
        :func:`radiorisk.pipeline._external.performance_table`.
    model, data : str
        The bundle and the validation cohort folder.
    development_data : str or None
    horizon : float
        Days.
    n_boot, seed : int
        The audit's bootstrap.
    requirements : ModelRequirements or None
        The bundle's training summaries (blocks, training size, outcome).
    notes : tuple of str
        The run's statements.
    figures : bool
        Draw the figures.
    update : ModelUpdate or None
        The model updating (:func:`radiorisk.pipeline._updating.update_risks`), when done.
    """

    audit: SubgroupAudit
    development: SubgroupAudit | None
    transport: TransportDiagnostics
    performance: pd.DataFrame
    model: str
    data: str
    development_data: str | None
    horizon: float
    n_boot: int
    seed: int
    requirements: object = None
    notes: tuple[str, ...] = ()
    figures: bool = True
    update: object = None


def _words(metric: str) -> str:
    return _METRIC_WORDS.get(metric, metric)


def _f(v, d=3) -> str:
    return "–" if v is None or not np.isfinite(float(v)) else f"{float(v):.{d}f}"


def _perf_row(perf: pd.DataFrame, metric: str):
    r = perf.loc[perf["metric"] == metric]
    return None if r.empty else r.iloc[0]


def _oe_metric(audit: SubgroupAudit) -> str:
    return "oe_ratio_cr" if audit.competing_risks else "oe_ratio_t"


def _c_metric(audit: SubgroupAudit) -> str:
    return "c_cr" if audit.competing_risks else "harrell_c"


def _summary(x: ExternalValidationInputs) -> list[str]:
    a, perf = x.audit, x.performance
    n, ev = int(a.group_counts["n"].iloc[0]), int(a.group_counts["events"].iloc[0])
    out = [f"The model {x.model} was applied, unchanged, to {n} patients of {x.data}; {ev} had MACE by "
           f"{x.horizon:g} days."]
    for m in (_c_metric(a), _oe_metric(a)):
        r = _perf_row(perf, m)
        if r is None:
            continue
        dev = (f" (development, apparent: {_f(r['development'])})" if np.isfinite(r["development"]) else "")
        out.append(f"{_words(m)}: {_f(r['validation'])} (95 % CI {_f(r['validation_ci_low'])} to "
                   f"{_f(r['validation_ci_high'])}){dev}.")
    out.append(_calibration_sentence(perf, a))
    t = x.transport
    out.append(f"Case mix: {int(t.value('n_imbalanced_inputs'))} of {len(t.smd)} inputs differ by |SMD| > "
               f"{t.threshold:g}; {100 * t.value('share_outside_support'):.1f} % of patients lie outside the "
               "training support.")
    return [s for s in out if s]


def _calibration_sentence(perf: pd.DataFrame, audit: SubgroupAudit) -> str:
    r = _perf_row(perf, _oe_metric(audit))
    if r is None or not np.isfinite(r["validation_ci_low"]):
        return ""
    lo, hi = r["validation_ci_low"], r["validation_ci_high"]
    if lo > 1:
        return ("The observed risk is higher than predicted (O/E CI above 1): the model under-predicts in "
                "this cohort; recalibration (Model updating) is indicated before use.")
    if hi < 1:
        return ("The observed risk is lower than predicted (O/E CI below 1): the model over-predicts in "
                "this cohort; recalibration (Model updating) is indicated before use.")
    return "The O/E CI contains 1: no evidence of miscalibration in the large."


def _methods(x: ExternalValidationInputs) -> list[ReportSection]:
    a = x.audit
    req = x.requirements
    outcome = ("MACE by the horizon, with competing non-cardiac deaths as a competing event "
               "(Aalen–Johansen observed risk; competing-risk metrics)" if a.competing_risks else
               "MACE by the horizon; deaths from other causes censored (1 − Kaplan–Meier observed risk)")
    fu = median_follow_up(a.time, (a.event > 0).astype(int))
    data = ReportSection(id="data", title="Methods: data and participants", sentences=(
        f"Validation cohort: {x.data}; {int(a.group_counts['n'].iloc[0])} patients, median follow-up "
        f"{_f(fu, 0)} days (reverse Kaplan–Meier).",
        f"Development cohort: {x.development_data}." if x.development_data else
        "The development cohort was not given: the case-mix comparison uses the training summaries stored "
        "in the model bundle (no patient rows).",
        f"Outcome: {outcome}; horizon {x.horizon:g} days."))
    blocks = []
    if req is not None and req.blocks:
        blocks = [f"{b}: {len(cols)} input(s)" for b, cols in req.blocks.items()]
    model = ReportSection(id="model", title="Methods: the model being validated", sentences=(
        f"Model bundle: {x.model} (its SHA-256 pins every file; see provenance.json).",
        (f"Fitted on {req.n_train} patients for a {req.horizon:g}-day horizon; inputs by block: "
         f"{'; '.join(blocks)}." if req is not None and req.horizon is not None else
         "The bundle records no training summaries."),
        "The model was applied unchanged: same inputs, same preprocessing (its own imputation of missing "
        "values), same horizon unless stated."))
    stats = ReportSection(id="analysis", title="Methods: statistical analysis", sentences=(
        "Discrimination (Harrell's C, time-dependent AUC), calibration (observed/expected ratio at the "
        "horizon, calibration curves by risk band, ICI/E50/E90/Emax) and overall accuracy (Brier score, "
        f"IPA), each overall and by {', '.join(a.attributes)}, as in radiorisk audit.",
        f"95 % CIs from {x.n_boot} stratified bootstrap replicates (seed {x.seed}) where stated, analytic "
        "otherwise.",
        "Case mix: standardised mean differences per input, a membership model (validation vs "
        "development; Debray et al. 2015), the share outside the training support, the linear predictor's "
        "distribution (Vergouwe et al. 2010) and the model-based C (van Klaveren et al. 2016)."),
        notes=tuple(n for n in x.notes if "imput" in n or "missing" in n))
    return [data, model, stats]


def _figure(draw) -> tuple[bytes, ...]:
    try:
        return (png(draw, size=(6.4, 4.4), dpi=110),)
    except Exception:  # a figure that cannot be drawn must not lose the tables
        return ()


def _transport_section(x: ExternalValidationInputs) -> ReportSection:
    t = x.transport
    stats = t.statistics[["statistic", "development", "validation", "ci_low", "ci_high"]]
    figs = ()
    if x.figures and len(t.smd):
        figs = tuple(("Standardised mean differences (validation − development)", b)
                     for b in _figure(lambda ax: SMDDisplay.from_transport(t).plot(ax=ax)))
    smd = t.smd[["column", "block", "level", "mean_dev", "mean_val", "smd", "share_outside_support"]].head(20)
    return ReportSection(id="case-mix", title="Results: participants and case mix",
                         sentences=tuple(t.statistics["meaning"]),
                         tables=(("Transport diagnostics", stats), ("By block", t.blocks),
                                 ("The 20 inputs with the largest |SMD|", smd)),
                         figures=figs, notes=t.notes)


def _performance_section(x: ExternalValidationInputs) -> ReportSection:
    a = x.audit
    figs = ()
    if x.figures:
        figs = tuple(("Calibration by risk band (all patients)", b)
                     for b in _figure(lambda ax: CalibrationDisplay.from_audit(a).plot(ax=ax)))
    sent = [_calibration_sentence(x.performance, a)]
    perf = x.performance.copy()
    perf.insert(1, "measure", [_words(m) for m in perf["metric"]])
    return ReportSection(id="performance", title="Results: model performance", sentences=tuple(s for s in sent if s),
                         tables=(("Overall performance (validation; development = apparent)", perf),),
                         figures=figs)


def _groups_section(x: ExternalValidationInputs) -> ReportSection:
    a = x.audit
    bg = a.by_group
    keep = [m for m in (_c_metric(a), _oe_metric(a)) if m in a.metrics]
    table = bg.loc[bg["metric"].isin(keep),
                   ["attribute", "group", "metric", "estimate", "ci_low", "ci_high", "n", "events", "flag_reason"]]
    figs = []
    if x.figures:
        for m in keep:
            figs += [(f"{_words(m)} by group", b)
                     for b in _figure(lambda ax, m=m: SubgroupForestDisplay.from_audit(a, m).plot(ax=ax))]
    oe = table.loc[table["metric"] == _oe_metric(a)]
    off = oe.loc[(oe["ci_low"] > 1) | (oe["ci_high"] < 1)]
    sent = ([f"O/E CI excludes 1 in: {', '.join(f'{r.attribute} {r.group} ({r.estimate:.2f})' for r in off.itertuples())}."]
            if len(off) else ["No group's O/E CI excludes 1."])
    return ReportSection(id="groups", title=f"Results: performance by group ({', '.join(a.attributes)})",
                         sentences=tuple(sent), tables=(("Discrimination and calibration by group", table),),
                         figures=tuple(figs),
                         notes=("Every metric and group is in audit/metrics.csv; the full audit report is "
                                "audit/report.html.",))


_UPDATE_WORDS = {"original": "original model", "intercept": "recalibration in the large",
                 "intercept_slope": "recalibration (intercept and slope)",
                 "refit": "revision (the same pipeline refitted on this cohort)"}


def _updating_section(x: ExternalValidationInputs) -> ReportSection:
    u = x.update
    if u is None:
        return ReportSection(id="updating", title="Results: model updating", sentences=(
            "Model updating was not run (update=None).",))
    t = u.table.set_index("method")
    chosen = t.loc[u.method]
    before = t.loc["original"]
    sent = [f"Chosen: {_UPDATE_WORDS[u.method]} — {u.reason}.",
            f"O/E before updating {_f(before['oe'])} (95 % CI {_f(before['oe_ci_low'])} to {_f(before['oe_ci_high'])}); "
            f"after, out of fold: {_f(chosen['oe'])} ({_f(chosen['oe_ci_low'])} to {_f(chosen['oe_ci_high'])}).",
            "The recalibrated risks are 1 − exp(−exp(a + b·log(−log(1 − risk)))) with a and b in the table; they "
            "are judged out of fold (5-fold cross-fitting), the map for new patients is fitted on all of them."
            + (" The revision is judged by its own 5-fold cross-validation on this cohort." if "refit" in t.index
               else "")]
    table = u.table.copy()
    table.insert(1, "update", [_UPDATE_WORDS[m] for m in table["method"]])
    return ReportSection(id="updating", title="Results: model updating", sentences=tuple(sent),
                         tables=(("Updating methods (after = out-of-fold)", table),
                                 ("Closed test (Holm over the two calibration hypotheses)", u.tests)),
                         notes=(("The updated model is the bundle updated_model/ (the original model followed by "
                                 "the map; radiorisk predict reads it)." if u.method in ("intercept", "intercept_slope")
                                 else "The revised model is the bundle refit/model (refit/derived_from.json names the "
                                 "original)." if u.method == "refit" else "The original model is kept."),))


def _discussion(x: ExternalValidationInputs) -> ReportSection:
    t, perf = x.transport, x.performance
    out = []
    td = _perf_row(perf, "td_auc")
    mbc = t.value("model_based_c")
    if td is not None and np.isfinite(td["validation"]) and np.isfinite(mbc):
        gap = td["validation"] - mbc
        out.append(f"The observed time-dependent AUC ({_f(td['validation'])}) is {abs(gap):.3f} "
                   f"{'below' if gap < 0 else 'above'} the model-based C of this case mix ({_f(mbc)}): "
                   + ("the predictor effects hold less well here than the model assumes."
                      if gap < -0.02 else "the model's discrimination is what its risks imply for this case mix."))
    mdev = t.value("model_based_c", "development")
    if np.isfinite(mdev) and np.isfinite(mbc):
        out.append(f"The model-based C is {_f(mdev)} in the development cohort and {_f(mbc)} here: "
                   + ("a narrower case mix alone lowers the C that can be reached."
                      if mbc < mdev - 0.01 else "the case mix alone does not lower the reachable C."))
    out.append("Limitations: one validation cohort; the development column is apparent performance "
               "(optimistic); the CIs do not include the uncertainty of the model's own coefficients.")
    out.append(DISCLAIMER)
    return ReportSection(id="discussion", title="Discussion", sentences=tuple(out))


def external_validation_sections(x: ExternalValidationInputs) -> list[ReportSection]:
    """The report's sections in the TRIPOD+AI order (for tests and other renderings).

    Parameters
    ----------
    x : ExternalValidationInputs

    Returns
    -------
    list of ReportSection
    """
    intro = ReportSection(id="objective", title="Introduction: objective", sentences=(
        "To evaluate, in a cohort not used to develop it, the discrimination and calibration of a saved MACE "
        "risk model overall and by sex, ethnicity, site and scanner, and to describe how this cohort's case "
        "mix differs from the development cohort's.",))
    updating = _updating_section(x)
    other = ReportSection(id="other", title="Other information", sentences=(
        f"Bootstrap: {x.n_boot} replicates, seed {x.seed}. Software versions, input digests and the command "
        "line are in provenance.json.",), notes=tuple(x.notes))
    return [intro, *_methods(x), _transport_section(x), _performance_section(x), _groups_section(x), updating,
            _discussion(x), other]


def render_external_validation(x: ExternalValidationInputs) -> str:
    """The external-validation report page (self-contained HTML).

    Parameters
    ----------
    x : ExternalValidationInputs

    Returns
    -------
    str
    """
    return render_page(title="External validation of a MACE risk model",
                       subtitle=f"{x.model} on {x.data} · horizon {x.horizon:g} days",
                       summary=_summary(x), sections=external_validation_sections(x))
