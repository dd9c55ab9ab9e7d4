"""The audit report: plain-language findings, figures and the self-contained ``report.html``.

Formats only: the tables come from :func:`radiorisk.evaluation.audit_tables`, the figures
are the evaluation Display classes drawn on fresh (pyplot-free) figures, and the page is
the template ``templates/audit_report.html.j2`` (the reports' one stylesheet and one table
helper). :func:`radiorisk.pipeline.write_audit_outputs` writes the files.
"""

from __future__ import annotations

import base64
import datetime as _dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import __version__
from .._html import table_html
from ..evaluation import (
    UNKNOWN_GROUP,
    AuditTables,
    CalibrationDisplay,
    DecisionCurveDisplay,
    SubgroupAudit,
    SubgroupForestDisplay,
)
from ._audit_calibration import (
    ADJUST_WORDS,
    calibration_test_findings,
    calibration_tests_table,
    difference_findings,
    differences_table,
)
from ._audit_decision import (
    decision_findings,
    decision_note,
    decision_table,
    nri_findings,
    nri_note,
    nri_table,
)
from ._figures import png
from ._html import render
from ._vocab import _METRIC_WORDS

__all__ = ["AuditFigure", "audit_figures", "audit_findings", "audit_report_html"]

#: What the competing-risk mode estimates, as the report states it.
CR_ESTIMANDS = ("competing-risk estimands (Aalen–Johansen observed risk; competing events are not "
                "censored)")
#: Words for the competing-risk metrics (the report's vocabulary has the others).
_OE = ("oe_ratio_t", "oe_ratio", "oe_ratio_cr")


def _words(metric: str) -> str:
    return _METRIC_WORDS[metric]


def _headline_metrics(audit: SubgroupAudit) -> tuple[str, str]:
    """(O/E metric, discrimination metric) of the audit's kind."""
    if audit.competing_risks:
        return "oe_ratio_cr", "c_cr"
    return ("oe_ratio_t", "harrell_c") if audit.survival else ("oe_ratio", "auc")


@dataclass(frozen=True)
class AuditFigure:
    """One figure of the audit report.

    Attributes
    ----------
    title : str
    file_name : str
        Name in the audit folder's ``figures/``.
    png : bytes or None
        The PNG, or None when it could not be drawn.
    error : str
        Why it could not be drawn (empty when drawn).
    """

    title: str
    file_name: str
    png: bytes | None
    error: str = ""


def _fmt(v, digits=3) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def _ci(row) -> str:
    est, lo, hi = row["estimate"], row["ci_low"], row["ci_high"]
    if not np.isfinite(est):
        return "not estimable"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{_fmt(est)} (95% CI {_fmt(lo)} to {_fmt(hi)})"
    return _fmt(est)


def _calibration_findings(audit: SubgroupAudit, frame: pd.DataFrame) -> list[str]:
    out = []
    oe = _headline_metrics(audit)[0]
    ov = frame[frame["attribute"] == "overall"].set_index("metric")
    when = f" by t = {audit.horizon:g}" if audit.survival else ""
    if audit.competing_risks:
        when += " (Aalen–Johansen cumulative incidence; competing events are not censored)"
    if oe not in ov.index:
        return out
    r = ov.loc[oe]
    if np.isfinite(r["estimate"]):
        lean = "over-predicts" if r["estimate"] < 1 else "under-predicts"
        out.append(f"Overall, the observed risk{when} is {_ci(r)} times the mean predicted "
                   f"risk; the model {lean} risk by {abs(1 - r['estimate']) * 100:.0f} % on average.")
    bg = frame[(frame["metric"] == oe) & (frame["attribute"] != "overall") & (frame["group"] != UNKNOWN_GROUP)]
    # no finding from a small group (fewer than min_events events: shown in the tables with its
    # flag) nor from a degenerate interval (zero width)
    small = sorted({f"{a} = {g}" for a, g, e in zip(bg["attribute"], bg["group"], bg["events"], strict=True)
                    if e < audit.min_events})
    bg = bg[(bg["events"] >= audit.min_events) & (bg["ci_low"] < bg["ci_high"])]
    off = bg[(bg["ci_low"] > 1) | (bg["ci_high"] < 1)]
    for _, row in off.iterrows():
        lean = "under-predicts" if row["estimate"] > 1 else "over-predicts"
        out.append(f"In {row['attribute']} = {row['group']}, observed risk is {_ci(row)} times the "
                   f"predicted: the model {lean} risk in this group (the CI excludes 1).")
    if audit.replicates is not None and off.empty:
        out.append("No group has an observed/expected ratio whose 95 % CI excludes 1.")
    if small:
        out.append(f"{len(small)} group(s) with fewer than {audit.min_events} events are not assessed for "
                   "calibration here (their numbers are in the tables, flagged).")
    return out


def audit_findings(audit: SubgroupAudit, tables: AuditTables) -> list[str]:
    """The key findings of an audit in plain language (the report's first section).

    A group's O/E is stated as a finding only when the group has at least the audit's
    ``min_events`` events and a CI of non-zero width; the others stay in the tables
    with their flag.

    Parameters
    ----------
    audit : SubgroupAudit
    tables : AuditTables
        :func:`radiorisk.evaluation.audit_tables` of ``audit``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> from radiorisk.evaluation import audit_tables
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 300)
    >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 300)})
    >>> audit_findings(a, audit_tables(a))[0][:25]
    'Overall, AUC is 0.753 (95'
    """
    frame, het, fair = tables.metrics, tables.heterogeneity, tables.fairness
    disc = _headline_metrics(audit)[1]
    ov = frame[frame["attribute"] == "overall"].set_index("metric")
    out = []
    if audit.competing_risks:
        out.append(f"Every number uses {CR_ESTIMANDS}: the observed risk is the cumulative incidence "
                   "of the event of interest, not 1 − Kaplan–Meier.")
    if disc in ov.index:
        out.append(f"Overall, {_words(disc)} is {_ci(ov.loc[disc])}: 0.5 is chance, 1 is perfect ranking.")
    out += _calibration_findings(audit, frame)
    out += calibration_test_findings(audit, tables)
    for _, h in het.iterrows():
        if np.isfinite(h["p_value"]) and h["p_value"] < 0.05:
            what = "Calibration (O/E)" if h["metric"] in _OE else _words(h["metric"])
            p = "< 0.001" if h["p_value"] < 0.001 else f"= {h['p_value']:.3f}"
            out.append(f"{what} differs across {h['attribute']} groups (Cochran's Q = {h['q']:.1f}, "
                       f"df = {h['df']}, p {p}).")
    out += difference_findings(audit, tables)
    out += decision_findings(audit, tables)
    out += nri_findings(audit, tables)
    for _, row in fair[fair["metric"] == "equal_opportunity_difference"].iterrows():
        lo, hi = row["ci_low"], row["ci_high"]
        gap = (f"{_fmt(row['estimate'])} (its bootstrap interval is degenerate, {_fmt(lo)} to {_fmt(hi)}: "
               "too few events among the positives to say more)"
               if np.isfinite(lo) and np.isfinite(hi) and not lo < hi else _ci(row))
        out.append(f"With the rule '{row['threshold']}', the true-positive rate differs by up to {gap} "
                   f"between {row['attribute']} groups (equal-opportunity difference).")
    flagged = frame[frame["flag"]]
    if len(flagged):
        groups = sorted({f"{a} = {g}" for a, g in zip(flagged["attribute"], flagged["group"], strict=True)})
        out.append(f"{len(groups)} group(s) carry a flag (few events, undefined metric or unknown label): "
                   + ", ".join(groups[:12]) + (" ..." if len(groups) > 12 else "") + ". See flags.csv.")
    return out


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)


def audit_figures(audit: SubgroupAudit, tables: AuditTables | None = None) -> list[AuditFigure]:
    """The audit's figures as PNG: calibration overall and by attribute, forest plots, decision curves.

    A figure that cannot be drawn is returned with its error instead of its PNG (it must not
    lose the tables).

    Parameters
    ----------
    audit : SubgroupAudit
    tables : AuditTables, optional
        :func:`radiorisk.evaluation.audit_tables` of ``audit``: the decision curves (with their
        bootstrap CIs) are drawn from its ``decision`` table; without it they are computed.

    Returns
    -------
    list of AuditFigure

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 300)
    >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 300)})
    >>> [f.file_name for f in audit_figures(a)][:2]
    ['calibration_overall.png', 'calibration_sex.png']
    """
    if audit.competing_risks:
        return _draw(_competing_plots(audit) + _decision_plots(audit, tables))
    kw = ({"time": audit.time, "event": audit.event, "horizon": audit.horizon} if audit.survival
          else {"y": audit.y})
    plots = [("Calibration (all patients)", "calibration_overall.png",
              lambda ax: CalibrationDisplay.from_predictions(audit.risk, **kw).plot(ax=ax))]
    for attr in audit.attributes:
        lab = audit.group_labels(attr)
        plots.append((f"Calibration by {attr}", f"calibration_{_safe(attr)}.png",
                      lambda ax, lab=lab: CalibrationDisplay.from_predictions(
                          audit.risk, groups=lab, n_bins=5, **kw).plot(ax=ax)))
    plots += _forest_plots(audit)
    return _draw(plots + _decision_plots(audit, tables))


def _decision_plots(audit: SubgroupAudit, tables: AuditTables | None) -> list:
    """Decision curves overall and per attribute (net benefit with its bootstrap band)."""
    table = tables.decision if tables is not None and len(tables.decision) else audit.decision_curves()
    plots = [("Decision curve (all patients)", "decision_curve.png",
              lambda ax: DecisionCurveDisplay.from_audit(audit, table=table).plot(ax=ax))]
    for attr in audit.attributes:
        plots.append((f"Decision curves by {attr}", f"decision_curve_{_safe(attr)}.png",
                      lambda ax, attr=attr: DecisionCurveDisplay.from_audit(audit, attr, table=table).plot(ax=ax)))
    return plots


def _forest_plots(audit: SubgroupAudit) -> list:
    return [(f"{_words(m)} by group", f"forest_{m}.png",
             lambda ax, m=m: SubgroupForestDisplay.from_audit(audit, m).plot(ax=ax))
            for m in _headline_metrics(audit) if m in audit.metrics]


#: What the competing-risk figures show.
CR_FIGURE_NOTE = ("Competing-risk mode: the calibration figures show the Aalen–Johansen observed "
                  "cumulative incidence (with prodlim's 95 % CI) per risk band of calibration_tables.csv; "
                  "the decision curves use the Aalen–Johansen cumulative incidence among the treated.")


def _competing_plots(audit: SubgroupAudit) -> list:
    """Calibration by risk band (Aalen-Johansen points with CIs) and forest plots."""
    plots = [("Calibration (all patients; Aalen–Johansen)", "calibration_overall.png",
              lambda ax: CalibrationDisplay.from_audit(audit).plot(ax=ax))]
    for attr in audit.attributes:
        plots.append((f"Calibration by {attr} (Aalen–Johansen)", f"calibration_{_safe(attr)}.png",
                      lambda ax, attr=attr: CalibrationDisplay.from_audit(audit, attr).plot(ax=ax)))
    return plots + _forest_plots(audit)


def _draw(plots) -> list[AuditFigure]:
    out = []
    for title, name, draw in plots:
        try:
            out.append(AuditFigure(title, name, png(draw, size=(6.4, 4.4), dpi=110)))
        except Exception as exc:  # a figure that cannot be drawn must not lose the tables
            out.append(AuditFigure(title, name, None, str(exc)))
    return out


def _cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Booleans shown as ``yes`` or empty, as the audit tables always have."""
    return frame.apply(lambda col: col.map(
        lambda v: ("yes" if v else "") if isinstance(v, (bool, np.bool_)) else v))


def _table(frame: pd.DataFrame | None, flag_col: str | None = None):
    if frame is None or frame.empty:
        return table_html(frame, css_class=None)
    flagged = (lambda r: "flag" if bool(r.get(flag_col)) else None) if flag_col and flag_col in frame else None
    return table_html(_cells(frame), max_rows=400, row_class=flagged,
                      more_text="{n} more rows in the CSV.")


def _inputs(audit: SubgroupAudit, source: str, extra_inputs) -> list[tuple[str, str]]:
    counts = audit.group_counts
    ev = int(counts.loc[counts["attribute"] == "overall", "events"].iloc[0])
    inputs = [("predictions", source or "(in memory)"), ("rows", f"{len(audit.risk)}"),
              ("outcome", _outcome_text(audit)),
              ("events" + (" by the horizon" if audit.survival else ""), f"{ev}"),
              ("group attributes", ", ".join(audit.attributes) or "(none)"),
              ("intersections", "yes" if audit.intersections and len(audit.attributes) > 1 else "no"),
              ("bootstrap", f"{audit.n_boot} replicates, seed {audit.random_state}" if audit.n_boot
               else "none (analytic CIs where defined)"),
              ("flag rule", f"fewer than {audit.min_events} events, undefined metric, unknown label")]
    if audit.competing_risks:
        comp = int(np.sum((audit.event == 2) & (audit.time <= audit.horizon)))
        inputs.insert(4, ("competing events by the horizon", f"{comp}"))
        inputs.insert(5, ("estimands", CR_ESTIMANDS))
    for _, r in audit.exclusions.iterrows():
        inputs.append((f"missing {r['attribute']}", f"{r['n_missing']} row(s)"
                       + (f" — {r['handling']}" if r["n_missing"] else "")))
    return inputs + list(extra_inputs)


def _outcome_text(audit: SubgroupAudit) -> str:
    if audit.competing_risks:
        return (f"competing risks (status 0 = censored, 1 = event of interest, 2 = competing event), "
                f"horizon t = {audit.horizon:g}; {CR_ESTIMANDS}")
    return f"survival, horizon t = {audit.horizon:g}" if audit.survival else "binary"


def audit_report_html(audit: SubgroupAudit, tables: AuditTables, *, figures=(), source: str = "",
                      extra_inputs=(), horizons=None) -> str:
    """The self-contained ``report.html`` of an audit folder (no network; figures embedded).

    Parameters
    ----------
    audit : SubgroupAudit
    tables : AuditTables
        :func:`radiorisk.evaluation.audit_tables` of ``audit``.
    figures : sequence of AuditFigure
        :func:`audit_figures` (those that could not be drawn are left out).
    source : str
        Where the predictions came from.
    extra_inputs : sequence of (str, str)
        More lines for the input table.
    horizons : mapping of float to (SubgroupAudit, AuditTables), optional
        An audit at several horizons: each horizon's audit and tables (``audit`` is the
        first, ``tables`` :func:`radiorisk.evaluation.stack_audit_tables` of them); the key
        findings come per horizon and the tables carry the ``horizon`` column.

    Returns
    -------
    str

    Examples
    --------
    >>> from radiorisk.evaluation import audit_tables
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 300)
    >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 300)})
    >>> page = audit_report_html(a, audit_tables(a))
    >>> "<h2>Key findings</h2>" in page and "https://" not in page
    True
    """
    show = tables.metrics.copy()
    show["estimate (95% CI)"] = [_ci(r) for _, r in show.iterrows()]
    show = show[(["horizon"] if "horizon" in show.columns else [])
                + ["attribute", "group", "metric", "estimate (95% CI)", "n", "events", "flag", "flag_reason"]]
    if horizons is None:
        findings, items = audit_findings(audit, tables), _inputs(audit, source, extra_inputs)
    else:
        findings = [f"t = {h:g}: {s}" for h, (a, t) in horizons.items() for s in audit_findings(a, t)]
        items = _horizon_inputs(horizons, _inputs(audit, source, extra_inputs))
    inputs = pd.DataFrame(items, columns=["item", "value"])
    return render(
        "audit_report.html.j2", title="radiorisk audit", version=__version__,
        created=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        inputs_table=table_html(inputs, header=False, row_header=True),
        findings=findings,
        ci_note="percentile bootstrap" if audit.n_boot else "analytic where defined",
        metrics_table=_table(show, "flag"),
        figures=[(f.title, base64.b64encode(f.png).decode("ascii")) for f in figures if f.png],
        het_table=_table(tables.heterogeneity),
        fair_note=_fair_note(audit, tables) if horizons is None else
        "Rule per horizon: the threshold column (a top-k rule cuts each horizon's risk). " +
        _fair_note(audit, tables).split(". ", 1)[1],
        fig_note=CR_FIGURE_NOTE if audit.competing_risks else "",
        fair_table=_table(tables.fairness, "flag"), cal_table=_table(tables.calibration, "flag"),
        excl_table=_table(audit.exclusions), flags_table=_table(tables.flags),
        caltest_table=_table(calibration_tests_table(tables), "flag"),
        caltest_note=_caltest_note(audit),
        decision_note=decision_note(audit), decision_table=_table(decision_table(tables), "flag"),
        nri_note=nri_note(audit, tables) if len(tables.nri) else "", nri_table=_table(nri_table(tables), "flag"),
        diff_table=_table(differences_table(tables), "flag"),
        diff_note=(f"Group minus overall, paired percentile bootstrap CI; two-sided Wald p-value with the "
                   f"paired-bootstrap SE; "
                   f"p_holm and p_bh adjusted over all groups of each metric; 'significant' uses "
                   f"{ADJUST_WORDS.get(tables.adjust, tables.adjust)} at 0.05." if audit.n_boot else
                   "No bootstrap (n_boot = 0): no CIs or p-values for the differences.")) + "\n"


def _horizon_inputs(horizons, items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The input lines of an audit at several horizons: outcome and events per horizon."""
    first = next(iter(horizons.values()))[0]
    hs = ", ".join(f"{h:g}" for h in horizons)
    ev = "; ".join(f"t = {h:g}: {int(a.group_counts['events'].iloc[0])}" for h, (a, _) in horizons.items())
    out = []
    for k, v in items:
        if k == "outcome":
            v = v.replace(f"horizon t = {first.horizon:g}", f"horizons t = {hs}")
        elif k.startswith("events"):
            k, v = "events by each horizon", ev
        elif k == "competing events by the horizon":
            k, v = "competing events by each horizon", "; ".join(
                f"t = {h:g}: {int(np.sum((a.event == 2) & (a.time <= h)))}" for h, (a, _) in horizons.items())
        out.append((k, v))
    return out


def _caltest_note(audit: SubgroupAudit) -> str:
    if audit.competing_risks:
        return ("Calibration slope: Fine–Gray regression of the event of interest (censored at the horizon) on "
                "log(−log(1 − predicted incidence)), robust SE, Wald 95 % CI (1 is ideal). Calibration "
                "intercept: log of the baseline cumulative subdistribution hazard at the horizon with the slope "
                "fixed at 1 (0 is ideal), point estimate only. The GND test is not defined in competing-risk "
                "mode. Analytic, not bootstrapped.")
    if audit.survival:
        return ("Calibration slope: Cox model of the outcome censored at the horizon on log(−log(1 − risk)), "
                "Efron ties, Wald 95 % CI (1 is ideal). Calibration intercept: log of the baseline cumulative "
                "hazard at the horizon with the slope fixed at 1 (0 is ideal, above 0 under-prediction). "
                "GND: Greenwood–Nam–D'Agostino test on risk deciles merged to ≥ 5 events, chi-square "
                "(groups − 1). Analytic, not bootstrapped.")
    return ("Calibration slope and intercept: logistic recalibration (as in the metrics table), Wald 95 % CI. "
            "GND: the same test without censoring (observed share per risk decile, binomial variance).")


def _fair_note(audit: SubgroupAudit, tables: AuditTables) -> str:
    if audit.competing_risks:
        return (f"Rule: {tables.threshold}. Competing risks: rates from the Aalen–Johansen cumulative "
                "incidence of the event of interest among positives and negatives at the horizon (TPR: "
                "share of events of interest that are positive; FPR: share of those without an event of "
                "interest by the horizon, event-free or after a competing event, that are positive; PPV: "
                f"the incidence among positives). {CR_ESTIMANDS[0].upper() + CR_ESTIMANDS[1:]}.")
    return (f"Rule: {tables.threshold}. Survival data: censoring-aware rates from Kaplan-Meier "
            "risks among positives and negatives at the horizon.")

