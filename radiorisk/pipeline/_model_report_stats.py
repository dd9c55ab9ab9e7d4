"""The statistics the model report shows, computed before it is formatted.

:func:`report_statistics` fills a :class:`radiorisk.report.ModelReportInputs` with the
numbers its sections state: patients, events, follow-up and modality availability by
group, the reverse Kaplan–Meier median follow-up, Kaplan–Meier observed risks per group,
chi-square tests of unequal availability, the extrapolation check of the cross-validation,
the net benefit at the report's thresholds, Riley's parameter budget per ladder rung and the
SHAP explanations (overall and by group). The report only formats them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from ..evaluation import survival_net_benefit
from ..exceptions import ExplainError, NotEstimableError, SampleSizeError
from ..explain import shap_by_subgroup, shap_values
from ..models import optimism_indexes
from ..report import (
    NET_BENEFIT_THRESHOLDS,
    REPORT_GROUP_ATTRIBUTES,
    ModelReportInputs,
    ReportExplanations,
    report_attributes,
)
from ..stats import (
    aalen_johansen,
    anticipated_cox_snell_r2,
    kaplan_meier_risk,
    median_follow_up,
    net_benefit_curve,
    parameter_budget_table,
)

__all__ = ["report_statistics", "optimism_beside_cv"]

_BLOCK_ORDER = ("clinical", "ccta", "radiomics", "pet")
_GROUP_TABLE_ATTRS = ("sex", "ethnicity", "site")


def _group_table(ctx: ModelReportInputs) -> pd.DataFrame:
    """Patients, MACE by the horizon, follow-up and modality availability by sex, ethnicity and site."""
    pred = ctx.pred
    t, e = pred["time"].to_numpy(float), pred["event"].to_numpy(int)
    by_h = (e == 1) & (t <= ctx.horizon)
    grp_rows = []
    attrs = [a for a in _GROUP_TABLE_ATTRS if a in pred.columns]
    blocks_shown, avail = [], None
    if ctx.data is not None:
        used = set(ctx.config.get("blocks") or [])
        blocks_shown = [b for b in _BLOCK_ORDER if b in used or b == "pet"]
        avail = pd.DataFrame({b: ctx.data.block_available(b) for b in blocks_shown})
        avail = avail.join(ctx.data.groups.reindex(avail.index))
    for attr in ["overall", *attrs]:
        labels = pd.Series("all", index=pred.index) if attr == "overall" else pred[attr].fillna("unknown")
        for g, idx in labels.groupby(labels, sort=True).groups.items():
            sel = pred.index.isin(idx)
            r = {"attribute": attr, "group": str(g), "n": int(sel.sum()),
                 "share_pct": 100 * sel.mean(), "mace_by_horizon": int(by_h[sel].sum()),
                 "median_followup_days": float(np.median(t[sel]))}
            if avail is not None:
                if attr == "overall":
                    a = avail
                elif attr in avail.columns:
                    a = avail[avail[attr].astype(object).where(avail[attr].notna(), "unknown") == g]
                else:
                    a = avail.iloc[:0]
                for b in blocks_shown:
                    r[f"{b}_available_pct"] = 100 * float(a[b].mean()) if len(a) else np.nan
            grp_rows.append(r)
    return pd.DataFrame(grp_rows)


def _availability_tests(av: pd.DataFrame) -> dict:
    """Chi-square p of unequal availability per (block, attribute) where groups differ by >= 5 points."""
    out = {}
    for col in [c for c in av.columns if c.endswith("_available_pct")]:
        block = col[: -len("_available_pct")]
        for attr in _GROUP_TABLE_ATTRS:
            t = av[av["attribute"] == attr]
            if len(t) < 2 or t[col].max() - t[col].min() < 5:
                continue
            k = np.round(t[col].to_numpy() * t["n"].to_numpy() / 100).astype(int)
            tab = np.vstack([k, t["n"].to_numpy() - k])
            if (tab.sum(axis=1) == 0).any():
                continue
            out[(block, attr)] = float(chi2_contingency(tab)[1])
    return out


def _observed(pred: pd.DataFrame, sel, h: float):
    """Kaplan-Meier risk by ``h`` (95 % CI), or the Aalen-Johansen cumulative incidence with ``event_type``."""
    try:
        with np.errstate(invalid="ignore", divide="ignore"):
            t = pred["time"].to_numpy(float)[sel]
            est = (aalen_johansen(t, pred["event_type"].to_numpy(int)[sel], horizon=h).at_horizon
                   if "event_type" in pred.columns else
                   kaplan_meier_risk(t, pred["event"].to_numpy(float)[sel], horizon=h))
        return est.estimate, est.ci_low, est.ci_high
    except NotEstimableError:
        return np.nan, np.nan, np.nan


def _observed_risks(ctx: ModelReportInputs) -> dict:
    """Kaplan–Meier risk by the horizon (95 % CI) overall and in every group the report shows."""
    pred, out = ctx.pred, {}
    for attr in ["overall", *report_attributes(pred)]:
        labels = pd.Series("all", index=pred.index) if attr == "overall" else pred[attr]
        for g in sorted(labels.dropna().unique()):
            out[(attr, str(g))] = _observed(pred, (labels == g).to_numpy(), ctx.horizon)
    return out


def _final_columns(est) -> list[str]:
    names = getattr(est, "feature_names_in_", None)
    return [str(c) for c in names] if names is not None else []


def _extrapolation(ctx: ModelReportInputs) -> pd.DataFrame | None:
    """Share of patients with an input outside the range of their training folds (first CV repeat)."""
    if ctx.data is None or ctx.oof_ids is None or "fold" not in ctx.oof.columns:
        return None
    cols = [c for c in _final_columns(ctx.model.steps[-1][1]) if c in ctx.data.X.columns]
    if not cols:
        cols = [c for c in (ctx.manifest.get("feature_names_in") or []) if c in ctx.data.X.columns]
    if not cols:
        return None
    rep = ctx.oof
    if "repeat" in rep.columns:
        rep = rep[rep["repeat"] == rep["repeat"].min()]
    Xall = ctx.data.X[cols].set_axis(ctx.oof_ids, axis=0)
    rep = rep[rep["patient_id"].isin(Xall.index)]
    X = Xall.loc[rep["patient_id"]].to_numpy(float)
    fold = rep["fold"].to_numpy()
    out = np.zeros(len(rep), dtype=bool)
    nan = np.isnan(X)
    for f in np.unique(fold):
        te = fold == f
        lo = np.where(nan[~te], np.inf, X[~te]).min(axis=0, initial=np.inf)  # NaN never counts
        hi = np.where(nan[~te], -np.inf, X[~te]).max(axis=0, initial=-np.inf)
        out[te] = ((X[te] < lo) | (X[te] > hi)).any(axis=1)
    return pd.DataFrame({"patient_id": rep["patient_id"].to_numpy(), "extrapolated": out}).set_index("patient_id")


def _explanations(ctx: ModelReportInputs) -> ReportExplanations:
    """SHAP values of the final model on (a sample of) the cohort, and by sex and ethnicity."""
    if ctx.data is None:
        return ReportExplanations(status="no_data")
    cols = list(ctx.manifest.get("feature_names_in") or [])
    missing = [c for c in cols if c not in ctx.data.X.columns]
    if missing:
        return ReportExplanations(status="missing_columns", missing_columns=tuple(missing))
    X = ctx.data.X[cols]
    rng = np.random.default_rng(ctx.seed)
    k = min(ctx.shap_sample, len(X))
    Xs = X.iloc[np.sort(rng.choice(len(X), size=k, replace=False))] if k < len(X) else X
    try:
        res = shap_values(ctx.model, Xs, blocks=ctx.data.blocks, random_state=ctx.seed)
    except ExplainError as exc:
        return ReportExplanations(status="error", error=str(exc))
    by_group = []
    for a in [a for a in REPORT_GROUP_ATTRIBUTES if a in ctx.data.groups.columns]:
        g = ctx.data.groups.loc[Xs.index, [a]]
        try:
            sub = shap_by_subgroup(res, g, n_boot=max(20, min(ctx.n_boot, 200)), n_perm=199,
                                   random_state=ctx.seed)
        except ExplainError as exc:
            by_group.append((a, None, str(exc)))
            continue
        by_group.append((a, sub, ""))
    return ReportExplanations(status="ok", shap=res, sampled=k < len(X), by_group=tuple(by_group))


def _rung_parameters(ctx: ModelReportInputs) -> dict[str, int]:
    """Candidate parameters of each ladder rung: the columns of its blocks (as the fit recorded them)."""
    cols = (ctx.prov.get("cohort") or {}).get("columns") or {}
    lad = ctx.ladder[ctx.ladder["population"] == "all"] if "population" in ctx.ladder else ctx.ladder
    out = {}
    for rung, blocks in lad[["rung", "blocks"]].drop_duplicates("rung").itertuples(index=False):
        out[str(rung)] = sum(len(cols.get(b, ())) for b in str(blocks).split(","))
    return out


def _sample_size(ctx: ModelReportInputs) -> tuple[pd.DataFrame | None, str]:
    """Riley's parameter budget per rung, R²_CS from the clinical rung's out-of-fold C."""
    lad = ctx.ladder
    first = lad[(lad["metric"] == "harrell_c") & (lad.get("population", "all") == "all")]
    rungs = _rung_parameters(ctx)
    if first.empty or not rungs or not all(rungs.values()):
        return None, "the ladder or the fit's column lists are not available"
    t, e = ctx.pred["time"].to_numpy(float), ctx.pred["event"].to_numpy(float)
    c = float(first["estimate"].iloc[0])
    try:
        r2, source = anticipated_cox_snell_r2("survival", c_statistic=c, rate=e.sum() / t.sum(),
                                              timepoint=ctx.horizon, mean_follow_up=float(t.mean()))
        table = parameter_budget_table(rungs, len(t), float(e.sum()), r2, "survival")
    except SampleSizeError as exc:
        return None, f"not computed: {exc}"
    return table, (f"anticipated Cox-Snell R² {r2:.3g} {source}; {len(t)} patients, {int(e.sum())} events "
                   f"(Riley et al. 2019/2020: expected shrinkage >= 0.9, optimism in R² <= 0.05)")


def report_statistics(ctx: ModelReportInputs) -> ModelReportInputs:
    """Compute every statistic the model report states into ``ctx`` (in place; returns it).

    Parameters
    ----------
    ctx : ModelReportInputs
        With the RUN, its predictions and (when available) the assembled cohort.

    Returns
    -------
    ModelReportInputs
    """
    pred = ctx.pred
    ctx.follow_up_median = median_follow_up(pred["time"].to_numpy(float), pred["event"].to_numpy(int))
    ctx.avail = _group_table(ctx)
    ctx.availability_p = _availability_tests(ctx.avail)
    ctx.observed = _observed_risks(ctx)
    ctx.explanations = _explanations(ctx)
    ctx.extrapolation = _extrapolation(ctx)
    ctx.sample_size, ctx.sample_size_note = _sample_size(ctx)
    ctx.net_benefit = _net_benefit(pred, ctx.horizon)
    return ctx


def _net_benefit(pred: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """The decision curve of the OOF risks at NET_BENEFIT_THRESHOLDS: observed risk by Kaplan-Meier, or
    (a competing-risk run, whose predictions carry ``event_type``) the Aalen-Johansen cumulative incidence."""
    risk, time = pred["risk"].to_numpy(float), pred["time"].to_numpy(float)
    if "event_type" in pred.columns:
        f = net_benefit_curve(risk, thresholds=list(NET_BENEFIT_THRESHOLDS), time=time,
                              event=pred["event_type"].to_numpy(int), horizon=horizon,
                              competing_risks=True).to_frame()
        return f.assign(n_treated=np.rint(f["treated"] * len(pred)).astype(int))
    with np.errstate(invalid="ignore", divide="ignore"):
        return survival_net_benefit(time, pred["event"].to_numpy(float), risk, horizon=horizon,
                                    thresholds=list(NET_BENEFIT_THRESHOLDS))


def optimism_beside_cv(optimism: pd.DataFrame, pred: pd.DataFrame, horizon: float) -> pd.DataFrame:
    """``RUN/optimism.csv`` with a ``cross_validation`` column: each index of the OOF risks.

    The out-of-fold risk of every patient (averaged over the repeats) is scored with the
    bootstrap's own definitions (:func:`radiorisk.models.optimism_indexes`), so the two
    columns the report sets side by side measure the same thing.
    """
    cv = optimism_indexes(pred["time"].to_numpy(float), pred["event"].to_numpy(float),
                          pred["risk"].to_numpy(float), horizon=horizon)
    out = optimism.copy()
    out["cross_validation"] = [cv.get(k, np.nan) for k in out["index"]]
    return out
