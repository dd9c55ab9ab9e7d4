"""Sections 1-2 of the model report (the TRIPOD+AI methods): participants and the model specification."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._html import fmt
from ._figures import availability_figure
from ._model_base import _TITLES, ReportSection, _competing, _pct, _who, _years, estimand_sentence
from ._model_context import ModelReportInputs as _Context
from ._vocab import _MODEL_WORDS

_BLOCK_ORDER = ("clinical", "ccta", "radiomics", "pet")


def _participants(ctx: _Context) -> ReportSection:
    pred, h = ctx.pred, ctx.horizon
    t, e = pred["time"].to_numpy(float), pred["event"].to_numpy(int)
    by_h = (e == 1) & (t <= h)
    cens = (e == 0) & (t < h)
    n = len(pred)
    rows = []
    if ctx.cohort is not None:
        rows.append(("patients in the cohort folder", len(ctx.cohort.patients)))
        rows.append(("patients with an assembled outcome and features", ctx.data.n))
    rows += [("patients analysed (out-of-fold predictions)", n),
             ("MACE during follow-up", int(e.sum())),
             (f"MACE by the horizon ({h:g} days)", int(by_h.sum())),
             ("censored before the horizon without MACE", int(cens.sum())),
             ("followed to the horizon without MACE", int(n - by_h.sum() - cens.sum()))]
    flow = pd.DataFrame(rows, columns=["step", "patients"])
    q1, med, q3 = np.percentile(t, [25, 50, 75])
    rkm = ctx.follow_up_median
    say = [f"{n} patients were analysed; {int(e.sum())} had a MACE during follow-up and "
           f"{int(by_h.sum())} ({_pct(by_h.mean())}) by the horizon of {h:g} days ({_years(h)}).",
           f"{int(cens.sum())} patients ({_pct(cens.mean())}) were censored before the horizon without an event.",
           f"Median observed follow-up was {med:.0f} days (IQR {q1:.0f} to {q3:.0f}); the median potential "
           f"follow-up (reverse Kaplan-Meier) was {fmt(rkm, 4)} days."]
    if ctx.cohort is not None and len(ctx.cohort.patients) != n:
        say.append(f"{len(ctx.cohort.patients) - n} patient(s) of the cohort folder have no out-of-fold "
                   "prediction (left out when the fit assembled the cohort).")
    groups = ctx.avail
    tables = [("Participant flow", flow),
              ("Patients, events, follow-up and modality availability by group", groups)]
    figures = []
    if ctx.data is not None:
        miss = _missing_table(ctx)
        tables.insert(1, ("Missing data by modality block", miss))
        say += _availability_sentences(ctx, miss, groups)
        figures = _availability_figures(groups)
    mi_say, mi_tables = _imputation_parts(ctx)
    say += mi_say
    tables += mi_tables
    notes = list(ctx.data_notes)
    notes.append("Follow-up is the time from the index CCTA to the first MACE component or the end of "
                 "follow-up; groups come from the out-of-fold predictions (missing labels: 'unknown').")
    return ReportSection(id="participants", title=_TITLES["participants"], sentences=tuple(say),
                         tables=tuple(tables), figures=tuple(figures), notes=tuple(notes))


def _imputation_parts(ctx: _Context) -> tuple[list[str], list[tuple[str, pd.DataFrame]]]:
    """Sentences and tables of a multiply imputed model: Rubin's pooled table and the MNAR deltas."""
    say, tables = [], []
    pooled = ctx.imputation
    if pooled is not None and len(pooled):
        m = int(pooled["m"].iloc[0])
        top = pooled.sort_values("fmi", ascending=False).iloc[0]
        say.append(f"Missing values were multiply imputed (M = {m}, chained equations with the outcome, inside "
                   "each training fold); the final model's coefficients are pooled by Rubin's rules. The "
                   f"largest fraction of missing information is {top['fmi']:.2f} ({top['term']}).")
        tables.append(("Multiple imputation: Rubin-pooled coefficients of the final model (fmi = fraction of "
                       "missing information, df = Barnard–Rubin)",
                       pooled[["term", "estimate", "se", "ci_low", "ci_high", "df", "riv", "fmi"]]))
    mnar = ctx.mnar_sensitivity
    if mnar is not None and len(mnar):
        c = mnar.set_index("delta")["harrell_c"]
        say.append(f"Sensitivity to data missing not at random: shifting the imputed PET values by "
                   f"{mnar['delta'].min():g} to {mnar['delta'].max():g} SD moves the out-of-fold C from "
                   f"{c.iloc[0]:.3f} to {c.iloc[-1]:.3f} (MAR, delta 0: {c.get(0.0, float('nan')):.3f}).")
        tables.append(("MNAR sensitivity (delta adjustment of imputed PET values, in SD of the observed values)",
                       mnar))
    return say, tables


def _missing_table(ctx: _Context) -> pd.DataFrame:
    """Columns, availability and missing cells of each modality block of the assembled cohort."""
    used = list(ctx.config.get("blocks") or [])
    miss_rows = []
    for b in _BLOCK_ORDER:
        cols = list(ctx.data.blocks.get(b, ()))
        if not cols and b not in used:
            continue
        X = ctx.data.X[cols] if cols else pd.DataFrame(index=ctx.data.X.index)
        av = ctx.data.block_available(b)
        miss_rows.append({
            "block": b, "in_model": "yes" if b in used else "no", "columns": len(cols),
            "patients_available": int(av.sum()), "available_pct": 100 * float(av.mean()),
            "patients_with_any_missing_pct": 100 * float(X.isna().any(axis=1).mean()) if cols else 100.0,
            "missing_cells_pct": 100 * float(X.isna().to_numpy().mean()) if cols else 100.0})
    return pd.DataFrame(miss_rows)


def _availability_sentences(ctx: _Context, miss: pd.DataFrame, groups: pd.DataFrame) -> list[str]:
    say = []
    for _, r in miss.iterrows():
        if r["available_pct"] < 100:
            say.append(f"The {r['block']} block was available for {r['patients_available']} of "
                       f"{ctx.data.n} "
                       f"patients ({r['available_pct']:.1f} %)"
                       + ("" if r["in_model"] == "yes" else "; it is not part of this model") + ".")
    pet = groups[groups["attribute"] == "sex"] if "pet_available_pct" in groups else pd.DataFrame()
    if len(pet) >= 2:
        say.append("PET availability: " + ", ".join(
            f"{r['pet_available_pct']:.1f} % of {_who('sex', r['group'])}" for _, r in pet.iterrows()) + ".")
    return say


def _availability_figures(groups: pd.DataFrame) -> list[tuple[str, bytes]]:
    show = groups[groups["attribute"].isin(["overall", "sex", "ethnicity"])]
    cols = [c for c in show.columns if c.endswith("_available_pct") and show[c].min() < 100]
    if not cols:
        return []
    return [("Modality availability by group (% of patients)",
             availability_figure(show[["attribute", "group", *cols]]))]


def _names(est) -> list[str]:
    names = getattr(est, "feature_names_in_", None)
    return [] if names is None else [str(c) for c in names]


def _params_text(params: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))


def _design(cfg: dict) -> str:
    """The cross-validation design: K-fold grouped by patient, or leave-one-{cv_by}-out (``fit --cv-by``)."""
    cv_by = cfg.get("cv_by")
    if cv_by:
        return (f"leave-one-{cv_by}-out (internal-external) cross-validation: {cfg.get('folds')} folds, "
                f"one per {cv_by}")
    return (f"{cfg.get('repeats')} x {cfg.get('folds')}-fold cross-validation, stratified on the event and "
            "grouped by patient")


def _validation_sentence(cfg: dict) -> str:
    cv_by = cfg.get("cv_by")
    if cv_by:
        return (f"Performance was estimated by {_design(cfg)}; every patient's risk comes from a model "
                f"that did not see that patient's {cv_by}.")
    return (f"Performance was estimated by {cfg.get('repeats')} x {cfg.get('folds')}-fold cross-validation; "
            "every patient's risk comes from a model that did not see that patient.")


def _iecv_tables(ctx: _Context) -> list[tuple[str, pd.DataFrame]]:
    """``RUN/iecv.csv`` as read by the pipeline (``ctx.iecv``), when the run has one."""
    iecv = ctx.iecv
    if iecv is None:
        return []
    cv_by = ctx.config.get("cv_by") or "cluster"
    return [(f"Internal-external cross-validation: performance in each left-out {cv_by}, pooled by "
             f"random effects with the prediction interval for a new {cv_by} (iecv.csv)",
             iecv.drop(columns=[c for c in ("cv_by", "method") if c in iecv.columns]))]


def _forest_table(rows: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of one metric of ``iecv.csv`` as :class:`~radiorisk.evaluation.MetaForestDisplay`'s table.

    Only a change of layout (the numbers are those of ``iecv.csv``): the pooled clusters become
    ``study`` rows, then the ``pooled`` and ``prediction`` rows.

    Examples
    --------
    >>> rows = pd.DataFrame({"row": ["cluster", "cluster", "pooled", "prediction"],
    ...                      "cluster": ["a", "b", "pooled", "prediction interval"],
    ...                      "estimate": [0.7, 0.6, 0.65, 0.65], "ci_low": [0.6, 0.5, 0.6, 0.5],
    ...                      "ci_high": [0.8, 0.7, 0.7, 0.8], "in_meta": [True, True, True, True],
    ...                      "weight": [50.0, 50.0, None, None], "k": [None, None, 2, 2],
    ...                      "tau2": [None, None, 0.0, 0.0], "i2": [None, None, 0.0, 0.0]})
    >>> table, summary = _forest_table(rows)
    >>> table["row"].tolist(), summary
    (['study', 'study', 'pooled', 'prediction'], 'k = 2, tau² = 0, I² = 0 %')
    """
    study = rows[(rows["row"] == "cluster") & rows["in_meta"].astype(bool)]
    pooled, pred = rows[rows["row"] == "pooled"].iloc[0], rows[rows["row"] == "prediction"].iloc[0]
    out = pd.DataFrame({
        "row": ["study"] * len(study) + ["pooled", "prediction"],
        "label": [*study["cluster"].astype(str), "pooled", "prediction interval"],
        "estimate_original": [*study["estimate"], pooled["estimate"], pred["estimate"]],
        "ci_low_original": [*study["ci_low"], pooled["ci_low"], pred["ci_low"]],
        "ci_high_original": [*study["ci_high"], pooled["ci_high"], pred["ci_high"]],
        "weight": [*study["weight"], np.nan, np.nan]})
    summary = f"k = {int(pooled['k'])}, tau² = {float(pooled['tau2']):.3g}, I² = {float(pooled['i2']):.0f} %"
    return out, summary


def _iecv_figures(ctx: _Context) -> list[tuple[str, bytes]]:
    """Forest plots of the IECV's C and O/E (clusters, pooled, prediction interval), when pooled."""
    from ..evaluation import MetaForestDisplay
    from ._figures import png

    iecv = ctx.iecv
    if iecv is None:
        return []
    cv_by = ctx.config.get("cv_by") or "cluster"
    figs = []
    for metric in ("harrell_c", "c_cr", "oe_ratio_t", "oe_ratio_cr"):
        rows = iecv[iecv["metric"] == metric]
        pooled = rows[rows["row"] == "pooled"]
        if pooled.empty or not np.isfinite(float(pooled["estimate"].iloc[0])):
            continue
        table, summary = _forest_table(rows)
        ref = 1.0 if metric.startswith("oe_ratio") else None
        try:
            figs.append((f"{metric} in each left-out {cv_by}, pooled, and the 95 % prediction interval for a new "
                         f"{cv_by}", png(lambda ax, t=table, m=metric, s=summary, r=ref: MetaForestDisplay(
                             t, metric=m, summary=s, reference=r).plot(ax=ax), size=(6.4, 4.4), dpi=110)))
        except Exception:  # noqa: BLE001 - a figure that cannot be drawn must not lose the tables
            continue
    return figs


def _cox_strategy(final) -> tuple[list[str], list[tuple[str, pd.DataFrame]]]:
    """The modelling strategy of a (penalised) Cox final estimator: sentence and inner-CV curve."""
    if not hasattr(final, "penalizer_"):
        return [], []
    free, lam, curve = list(getattr(final, "unpenalized_", None) or []), final.penalizer_, final.inner_cv_
    head = (f"{len(free)} clinical predictor column(s) pre-specified and unpenalised ({', '.join(free)}); "
            if free else "")
    if curve is not None:
        kind = "ridge" if float(final.l1_ratio) == 0 else f"elastic-net (l1_ratio {final.l1_ratio:g})"
        say = [f"Modelling strategy: {head}the other columns {kind}-penalised, the penalty chosen by "
               f"{final.inner_folds}-fold inner cross-validation (cross-validated partial likelihood, "
               f"Verweij & van Houwelingen 1993) on the training data of each fit: λ = {lam:g} for the "
               "final model; no univariable screening unless a screen step is listed."]
        return say, [("Inner cross-validation of the penalty (final model)", curve)]
    if lam > 0:
        return [f"Modelling strategy: {head}penalty fixed at {lam:g} (not chosen by inner CV)."], []
    return [f"Modelling strategy: {head}unpenalised maximum partial likelihood."], []


def _model_spec(ctx: _Context) -> ReportSection:
    cfg, prov, model = ctx.config, ctx.prov, ctx.model
    name = cfg.get("model", ctx.manifest.get("model", "?"))
    final = model.steps[-1][1]
    cols_by_block = (prov.get("cohort") or {}).get("columns") or {}
    used_cols = _names(final)
    search = cfg.get("search")
    spec = [
        ("model", f"{name}: {_MODEL_WORDS.get(name, name)}"),
        ("final estimator", type(final).__name__),
        ("modality blocks", ", ".join(cfg.get("blocks") or [])),
        ("input columns", "; ".join(f"{b}: {len(c)}" for b, c in cols_by_block.items())
         or str(len(ctx.manifest.get("feature_names_in") or []))),
        ("columns reaching the final estimator", str(len(used_cols))),
        ("outcome", "MACE = first of " + " + ".join(cfg.get("mace") or []) + "; time in days from the index CCTA"),
        ("prediction horizon", f"{ctx.horizon:g} days ({_years(ctx.horizon)})"),
        ("deaths outside MACE", "competing event (cumulative incidence of MACE)" if _competing(ctx)
         else "censored at death (1 - survival from MACE)"),
        ("validation", f"{_design(cfg)}; seed {prov.get('seed')}; out-of-fold risk by the horizon"),
        ("hyper-parameter search", "none (fixed parameters)" if not search else
         f"nested random search, {search.get('n_iter')} candidates, "
         + ("every candidate tried" if search.get("budget_seconds") is None
            else f"budget {search.get('budget_seconds')} s per fold")),
        ("fixed parameters", _params_text(cfg.get("params") or {}) or "(defaults)"),
        ("ladder bootstrap", f"{cfg.get('n_boot')} resamples, percentile 95 % CIs"),
        ("final model", "refitted on all patients with the same pipeline"),
    ]
    harmoniser = dict(model.steps).get("harmonise")
    if hasattr(harmoniser, "describe"):  # fit --harmonise: what ComBat harmonised, by which batches
        spec.append(("harmonisation", harmoniser.describe() + " (final model; refitted inside every "
                     "training fold in the cross-validation)"))
    spec_t = pd.DataFrame(spec, columns=["item", "value"])
    steps = []
    for sname, step in model.steps:
        if isinstance(step, str):
            steps.append({"step": sname, "class": step, "parameters": ""})
            continue
        try:
            params = step.get_params(deep=False)
        except Exception:  # noqa: BLE001 - a step without get_params is shown without them
            params = {}
        steps.append({"step": sname, "class": type(step).__name__, "parameters": _params_text(params)})
    steps_t = pd.DataFrame(steps)
    extra = {k: v for k, v in (prov.get("final_model") or {}).items() if k != "columns"}
    say = [f"The model is a {_MODEL_WORDS.get(name, name)} predicting the probability of MACE by "
           f"{ctx.horizon:g} days from the {', '.join(cfg.get('blocks') or [])} block(s).",
           estimand_sentence(ctx),
           _validation_sentence(cfg),
           f"Preprocessing (imputation, scaling, selection) was fitted inside each training fold; "
           f"{len(used_cols)} columns reach the final estimator."]
    if extra:
        say.append("Final model search result: " + _params_text(extra) + ".")
    strategy, curve = _cox_strategy(final)
    say += strategy
    tables = [("Specification", spec_t), ("Pipeline steps and their parameters", steps_t), *curve]
    if used_cols:
        blocks_of = {c: b for b, cs in cols_by_block.items() for c in cs}
        bl = pd.Series([blocks_of.get(c.removesuffix("_missing"), "other") for c in used_cols])
        tables.append(("Columns of the final estimator by block", pd.DataFrame(
            [{"block": b, "columns": int((bl == b).sum()),
              "names": ", ".join(c for c, x in zip(used_cols, bl, strict=True) if x == b)}
             for b in dict.fromkeys(bl)])))
    tables += _iecv_tables(ctx)
    if ctx.sample_size is not None:
        ss = ctx.sample_size
        over = [str(r) for r, ok in zip(ss["rung"], ss["supported"], strict=True) if not ok]
        say.append("Sample size: the data support about "
                   f"{int(ss['max_parameters'].iloc[0])} candidate parameters (Riley et al.); "
                   + (f"the rung(s) {', '.join(over)} exceed it, so their estimates are prone to "
                      "overfitting and need shrinkage or selection." if over else "every rung is within it."))
        tables.append(("Sample size: candidate parameters per rung against what the data support "
                       f"({ctx.sample_size_note})", ss))
    elif ctx.sample_size_note:
        say.append(f"Sample size (Riley et al.): {ctx.sample_size_note}.")
    notes = tuple(prov.get("statements") or ())
    return ReportSection(id="model", title=_TITLES["model"], sentences=tuple(say), tables=tuple(tables),
                         figures=tuple(_iecv_figures(ctx)), notes=notes)

