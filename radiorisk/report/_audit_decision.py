"""The audit report's decision curves and NRI: statements, tables and notes.

Formats only: the numbers are :meth:`radiorisk.evaluation.SubgroupAudit.decision_curves` and
:meth:`~radiorisk.evaluation.SubgroupAudit.reclassification` as
:func:`radiorisk.evaluation.audit_tables` holds them (``decision_curves.csv``, ``nri.csv``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation import AuditTables, SubgroupAudit

__all__: list[str] = []

#: Thresholds shown in the report's decision-curve table (all of them are in the CSV).
REPORT_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3)


def _g(v) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.3g}"


def _ci(e, lo, hi) -> str:
    if not np.isfinite(e):
        return "—"
    return f"{e:.4f} ({lo:.4f} to {hi:.4f})" if np.isfinite(lo) and np.isfinite(hi) else f"{e:.4f}"


def _observed(audit: SubgroupAudit) -> str:
    if audit.competing_risks:
        return ("the Aalen–Johansen cumulative incidence of the event of interest by the horizon among the treated "
                "(competing events are not censored)")
    if audit.survival:
        return "1 − Kaplan–Meier by the horizon among the treated"
    return "the share of events among the treated"


def decision_note(audit: SubgroupAudit) -> str:
    """How the net benefit is computed, as the report says it."""
    return ("Net benefit of treating everyone with predicted risk ≥ the threshold pt: "
            "P(treated)·F − P(treated)·(1 − F)·pt/(1 − pt), F being " + _observed(audit)
            + "; treat-all uses each group's own observed risk, treat-none is 0 (Vickers et al. 2008; R dcurves::dca). "
            "Each group from its own rows. "
            + ("95 % CIs: percentile bootstrap (the audit's replicates). " if audit.n_boot else "No bootstrap: no CIs. ")
            + "The table shows a few thresholds; decision_curves.csv has all.")


def nri_note(audit: SubgroupAudit, tables: AuditTables) -> str:
    """How the NRI is computed, as the report says it."""
    what = ("Aalen–Johansen cumulative incidence of the event of interest (an event is the event of interest by the "
            "horizon; a non-event everyone else, event-free or after a competing event)" if audit.competing_risks else
            "Kaplan–Meier risk by the horizon (Pencina, Steyerberg & D'Agostino 2011; R nricens with t0)"
            if audit.survival else "observed events (binary outcome)")
    return (f"Audited risk against the reference model ({tables.reference}). Up/down: a higher/lower risk category "
            "with the audited model (categorical, category = number of cut points at or below the risk) or a "
            "higher/lower risk (continuous, category-free). NRI for events = P(up | event) − P(down | event); NRI "
            "for non-events = P(down | non-event) − P(up | non-event); from the " + what + ". Read the two "
            "components: their sum weighs events and non-events alike whatever the event rate. "
            + ("95 % CIs: percentile bootstrap." if audit.n_boot else "No bootstrap: no CIs."))


def decision_table(tables: AuditTables) -> pd.DataFrame | None:
    """The report's view of ``decision_curves.csv`` at :data:`REPORT_THRESHOLDS` (or all thresholds)."""
    dc = tables.decision
    if dc is None or dc.empty:
        return None
    show = dc[np.isin(np.round(dc["threshold"], 10), REPORT_THRESHOLDS)]
    if show.empty:
        show = dc
    out = pd.DataFrame({
        **({"horizon": show["horizon"]} if "horizon" in show else {}),
        "attribute": show["attribute"], "group": show["group"], "threshold": show["threshold"],
        "treated": [f"{v:.3f}" for v in show["treated"]],
        "net benefit, model (95% CI)": [_ci(*v) for v in zip(show["net_benefit"], show["nb_ci_low"],
                                                              show["nb_ci_high"], strict=True)],
        "net benefit, treat all (95% CI)": [_ci(*v) for v in zip(show["treat_all"], show["treat_all_ci_low"],
                                                                  show["treat_all_ci_high"], strict=True)],
        "model − treat all": [_g(v) for v in show["nb_minus_treat_all"]],
        "flag": show["flag"], "flag_reason": show["flag_reason"]})
    return out.reset_index(drop=True)


def nri_table(tables: AuditTables) -> pd.DataFrame | None:
    """The report's view of ``nri.csv``: the event and non-event components side by side, per group."""
    nri = tables.nri
    if nri is None or nri.empty:
        return None
    keys = (["horizon"] if "horizon" in nri else []) + ["attribute", "group", "nri_type", "cuts"]
    rows = []
    for k, grp in nri.groupby(keys, sort=False):
        c = grp.set_index("component")
        cell = {comp: _ci(c.loc[comp, "estimate"], c.loc[comp, "ci_low"], c.loc[comp, "ci_high"])
                for comp in ("nri_events", "nri_nonevents", "nri")}
        rows.append((*k, int(c["n"].iloc[0]), int(c["events"].iloc[0]), cell["nri_events"], cell["nri_nonevents"],
                     cell["nri"], _g(c.loc["p_up", "estimate"]), _g(c.loc["p_down", "estimate"]),
                     bool(c["flag"].iloc[0]), c["flag_reason"].iloc[0]))
    return pd.DataFrame(rows, columns=keys + ["n", "events", "NRI events (95% CI)", "NRI non-events (95% CI)",
                                              "sum (not alone)", "share up", "share down", "flag", "flag_reason"])


def _useful(tab: pd.DataFrame) -> np.ndarray:
    """Thresholds where the model's net benefit exceeds both treat-all and treat-none."""
    nb = tab["net_benefit"].to_numpy(float)
    return tab["threshold"].to_numpy(float)[nb > np.fmax(tab["treat_all"].to_numpy(float), 0.0)]


def _ranges(x: np.ndarray, grid: np.ndarray) -> str:
    """Runs of consecutive grid thresholds, e.g. ``0.05–0.12, 0.2``."""
    pos = np.searchsorted(grid, x)
    runs, start = [], 0
    for k in range(1, len(pos) + 1):
        if k == len(pos) or pos[k] != pos[k - 1] + 1:
            a, b = x[start], x[k - 1]
            runs.append(f"{a:g}" if a == b else f"{a:g}–{b:g}")
            start = k
    return ", ".join(runs)


def decision_findings(audit: SubgroupAudit, tables: AuditTables) -> list[str]:
    """Key findings: where the model's net benefit beats treat-all and treat-none, overall and per group.

    Point estimates (the CIs are in the table); groups with fewer than ``min_events`` events or the
    unknown label are not stated.
    """
    dc = tables.decision
    if dc is None or dc.empty or "horizon" in dc:
        return []
    grid = np.sort(dc["threshold"].unique())
    span = f"{grid[0]:g} to {grid[-1]:g}"
    ov = dc[dc["attribute"] == "overall"]
    x = _useful(ov)
    out = [f"Overall, the model's net benefit exceeds treat-all and treat-none at the thresholds "
           f"{_ranges(x, grid) if len(x) else 'none'} (of {len(grid)} from {span}; point estimates, CIs in the "
           "decision-curve table)."]
    worse = []
    for (attr, grp), tab in dc[dc["attribute"] != "overall"].groupby(["attribute", "group"], sort=False):
        if tab["flag"].any():
            continue
        miss = np.setdiff1d(_useful(ov), _useful(tab))
        if len(miss):
            worse.append(f"{attr} = {grp} ({_ranges(miss, grid)})")
    if worse:
        out.append("Thresholds where the model beats both defaults overall but not within the group: "
                   + "; ".join(worse[:12]) + (" ..." if len(worse) > 12 else "") + ".")
    return out


def nri_findings(audit: SubgroupAudit, tables: AuditTables) -> list[str]:
    """Key finding: the overall NRI components (events and non-events stated separately)."""
    nri = tables.nri
    if nri is None or nri.empty:
        return []
    out = []
    ov = nri[(nri["attribute"] == "overall")]
    for kind, grp in ov.groupby("nri_type", sort=False):
        c = grp.set_index("component")
        ev, ne = c.loc["nri_events"], c.loc["nri_nonevents"]
        if not (np.isfinite(ev["estimate"]) and np.isfinite(ne["estimate"])):
            continue
        cut = f" at the cut point(s) {c['cuts'].iloc[0]}" if kind == "categorical" else " (category-free)"
        out.append(f"Against the reference model ({tables.reference}), the {kind} NRI{cut} is "
                   f"{_ci(ev['estimate'], ev['ci_low'], ev['ci_high'])} for events and "
                   f"{_ci(ne['estimate'], ne['ci_low'], ne['ci_high'])} for non-events (positive: better "
                   "reclassified; the two are reported separately, their sum is not a summary).")
    return out
