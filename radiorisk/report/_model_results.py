"""Sections 3-6 of the model report (the TRIPOD+AI results): discrimination, calibration, fairness, decision curve."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..evaluation import (
    CalibrationDisplay,
    DecisionCurveDisplay,
)
from ._figures import ladder_figure, png
from ._model_base import _TITLES, ReportSection, _ci, _ci_pct, _competing, _pct, _who, _years
from ._model_context import ModelReportInputs as _Context
from ._model_context import report_attributes as _attrs
from ._model_optimism import internal_validation
from ._vocab import _DISC

_BOOT_UNDEF = re.compile(r"bootstrap: \d+ of \d+ replicates undefined")
#: The C statistic of the sentences: censoring mode, competing-risk mode (metric, words).
_C_WORDS = {False: ("harrell_c", "Harrell's C"), True: ("c_cr", "the truncated C for competing risks (Wolbers)")}
#: Calibration metrics of the audit (metric, column label) in either mode.
_CAL = {False: (("oe_ratio_t", "O/E"), ("ici_t", "ICI"), ("e50_t", "E50"), ("e90_t", "E90")),
        True: (("oe_ratio_cr", "O/E"), ("ici_cr", "ICI"), ("e50_cr", "E50"), ("e90_cr", "E90"))}


def _discrimination(ctx: _Context, audit: dict) -> ReportSection:
    lad = ctx.ladder.copy()
    lad["population"] = lad["population"].astype(str) if "population" in lad else "all"
    rows, say = [], []
    cmetric, cwords = _C_WORDS[_competing(ctx)]
    for popn, pl in lad.groupby("population", sort=False):
        rungs = list(dict.fromkeys(pl["rung"]))
        where = "" if popn == "all" else f" (population {popn})"
        for r in rungs:
            t = pl[pl["rung"] == r].set_index("metric")
            row = {"population": popn, "rung": r, "blocks": str(t["blocks"].iloc[0]) if "blocks" in t else r}
            for m, label in _DISC.items():
                if m in t.index:
                    row[label + " (95 % CI)"] = _ci(t.loc[m, "estimate"], t.loc[m, "ci_low"], t.loc[m, "ci_high"])
            for c in ("n", "events_by_horizon"):
                if c in t:
                    row[c] = int(t[c].iloc[0])
            rows.append(row)
        first = pl[(pl["rung"] == rungs[0]) & (pl["metric"] == cmetric)]
        if len(first):
            f = first.iloc[0]
            say.append(f"With {rungs[0]} data alone{where}, {cwords} was "
                       f"{_ci(f['estimate'], f['ci_low'], f['ci_high'])} (0.5 is chance, 1 perfect ranking).")
        for r in rungs[1:]:
            d = pl[(pl["rung"] == r) & (pl["metric"] == f"delta_{cmetric}")]
            if len(d):
                d = d.iloc[0]
                excl = bool(np.isfinite(d["ci_low"]) and (d["ci_low"] > 0 or d["ci_high"] < 0))
                say.append(f"Adding {r.lstrip('+')}{where} changed {cwords} by {d['estimate']:+.3f} (95 % CI "
                           f"{d['ci_low']:+.3f} to {d['ci_high']:+.3f}): "
                           + ("a difference beyond chance." if excl else "the CI includes 0, no clear gain."))
    rung_t = pd.DataFrame(rows)
    inc = lad[~lad["metric"].isin(list(_DISC))].copy()
    inc_t = pd.DataFrame({
        "population": inc["population"], "rung": inc["rung"], "reference": inc.get("reference", ""),
        "metric": inc["metric"],
        "estimate (95 % CI)": [_ci(a, b, c) for a, b, c in zip(inc["estimate"], inc["ci_low"], inc["ci_high"],
                                                                strict=True)],
        "p_value": inc.get("p_value", np.nan)})
    m = audit["metrics.csv"]
    ov = m[m["attribute"] == "overall"] if len(m) else m
    if len(ov):
        ov_t = pd.DataFrame({"metric": ov["metric"], "estimate (95 % CI)": [
            _ci(a, b, c) for a, b, c in zip(ov["estimate"], ov["ci_low"], ov["ci_high"], strict=True)],
            "n": ov["n"], "events": ov["events"]})
        hc = ov[ov["metric"] == cmetric]
        if len(hc):
            say.append(f"The final model's out-of-fold risks (averaged over repeats) reach {cwords} "
                       f"{_ci(*hc[['estimate', 'ci_low', 'ci_high']].iloc[0])} in the audit.")
    else:
        ov_t = pd.DataFrame()
    tables = [("Modality ladder: discrimination of each rung", rung_t),
              ("Modality ladder: increments over the previous rung (paired bootstrap)", inc_t),
              ("All metrics of the out-of-fold risks (audit, overall)", ov_t)]
    figs = [("Discrimination of each rung of the modality ladder (95 % CI)", ladder_figure(ctx.ladder))]
    methods = sorted(set(lad.get("method", pd.Series(dtype=str)).dropna()))
    iv_tables, iv_say = internal_validation(ctx)  # fit --optimism-boot: CV and bootstrap side by side
    return ReportSection(id="discrimination", title=_TITLES["discrimination"], sentences=(*say, *iv_say),
                         tables=(*tables, *iv_tables), figures=tuple(figs), notes=tuple(methods))


def _calibration(ctx: _Context, audit: dict) -> ReportSection:
    pred, h = ctx.pred, ctx.horizon
    m = audit["metrics.csv"]
    attrs = ["overall", *_attrs(pred)]
    rows, say = [], []
    cr = _competing(ctx)
    obs_col, oe_key = ("observed_aj" if cr else "observed_km") + " (95 % CI)", _CAL[cr][0][0]
    for attr in attrs:
        labels = pd.Series("all", index=pred.index) if attr == "overall" else pred[attr]
        for g in sorted(labels.dropna().unique()):
            sel = (labels == g).to_numpy()
            mm = m[(m["attribute"] == attr) & (m["group"].astype(str) == str(g))].set_index("metric")
            obs, lo, hi = ctx.observed[(attr, str(g))]
            mp = float(pred["risk"].to_numpy()[sel].mean())
            row = {"attribute": attr, "group": str(g), "n": int(sel.sum()),
                   "events_by_horizon": int(((pred["event"] == 1) & (pred["time"] <= h)).to_numpy()[sel].sum()),
                   "mean_predicted": _pct(mp), obs_col: _ci_pct(obs, lo, hi)}
            for k, lab in _CAL[cr]:
                if k in mm.index:
                    r = mm.loc[k]
                    row[f"{lab} (95 % CI)"] = _ci(r["estimate"], r["ci_low"], r["ci_high"])
            rows.append(row)
            oe = mm.loc[oe_key] if oe_key in mm.index else None
            s = (f"Among {_who(attr, str(g))} ({row['n']} patients, {row['events_by_horizon']} MACE by the "
                 f"horizon) the model predicted {_pct(mp)} on average and {_ci_pct(obs, lo, hi)} was observed "
                 f"by {_years(h)}")
            if oe is not None and np.isfinite(oe["estimate"]):
                s += f"; O/E {_ci(oe['estimate'], oe['ci_low'], oe['ci_high'])}"
                if np.isfinite(oe["ci_low"]) and (oe["ci_low"] > 1 or oe["ci_high"] < 1):
                    lean = "under-predicts" if oe["estimate"] > 1 else "over-predicts"
                    s += f": the model {lean} risk here (the CI excludes 1)"
                    ctx.limitations.append(("miscalibration", f"{_who(attr, str(g))}: O/E "
                                            f"{_ci(oe['estimate'], oe['ci_low'], oe['ci_high'])} excludes 1"))
            say.append(s + ".")
    table = pd.DataFrame(rows)
    figs = []
    f = audit["figures"]
    for name, cap in [("calibration_overall.png", "Calibration at the horizon, all patients"),
                      *[(f"calibration_{a}.png", f"Calibration by {a}") for a in _attrs(pred)],
                      (f"forest_{oe_key}.png", "Observed/expected ratio by group (95 % CI)")]:
        if name in f:
            figs.append((cap, f[name]))
    if not figs:
        figs.append(("Calibration at the horizon, all patients", _draw_calibration(pred, h)))
    notes = (("Observed risk: Aalen-Johansen cumulative incidence of MACE at the horizon (non-cardiac death a "
              "competing event). O/E: observed over mean predicted risk. ICI, E50, E90: mean, median and 90th "
              "percentile of |observed - predicted| along a Fine-Gray calibration curve (Austin et al. 2022). "
              if cr else
              "Observed risk: Kaplan-Meier 1 - S(t) at the horizon. O/E: observed over mean predicted risk. "
              "ICI, E50, E90: mean, median and 90th percentile of |observed - predicted| along a flexible "
              "(restricted cubic spline, Cox) calibration curve. ") + "CIs: " + ctx.audit_source + ".",)
    return ReportSection(id="calibration", title=_TITLES["calibration"], sentences=tuple(say),
                         tables=(("Calibration overall and by group", table),), figures=tuple(figs), notes=notes)


def _draw_calibration(pred, h) -> bytes:
    return png(lambda ax: CalibrationDisplay.from_predictions(
        pred["risk"].to_numpy(float), time=pred["time"].to_numpy(float),
        event=pred["event"].to_numpy(float), horizon=h).plot(ax=ax))


def _fairness(ctx: _Context, audit: dict) -> ReportSection:
    fair, het, diff, flags = (audit["fairness.csv"], audit["heterogeneity.csv"], audit["differences.csv"],
                              audit["flags.csv"])
    say, tables = [], []
    if len(fair):
        rule = str(fair["threshold"].iloc[0])
        per = fair[fair["metric"].isin(["positive_rate", "tpr", "fpr", "ppv"])].copy()
        per["value"] = [_ci(a, b, c) for a, b, c in zip(per["estimate"], per["ci_low"], per["ci_high"], strict=True)]
        wide = per.pivot_table(index=["attribute", "group"], columns="metric", values="value",
                               aggfunc="first", sort=False).reset_index()
        wide.columns.name = None
        tables.append((f"Decision rule '{rule}': rates by group (estimate, 95 % CI)", wide))
        gaps = fair[~fair["metric"].isin(["positive_rate", "tpr", "fpr", "ppv"])].copy()
        if len(gaps):
            gaps_t = pd.DataFrame({"attribute": gaps["attribute"], "metric": gaps["metric"],
                                   "gap (95 % CI)": [_ci(a, b, c) for a, b, c in
                                                     zip(gaps["estimate"], gaps["ci_low"], gaps["ci_high"],
                                                         strict=True)],
                                   "flag": gaps.get("flag", False)})
            tables.append(("Fairness gaps between groups (max - min)", gaps_t))
            for _, g in gaps[gaps["metric"] == "equal_opportunity_difference"].iterrows():
                say.append(f"With the rule '{rule}', the share of future MACE patients flagged (true-positive "
                           f"rate) differs by up to {_ci(g['estimate'], g['ci_low'], g['ci_high'])} between "
                           f"{g['attribute']} groups.")
        tpr = per[(per["metric"] == "tpr") & (per["attribute"].isin(_attrs(ctx.pred)))]
        for attr, t in tpr.groupby("attribute", sort=False):
            parts = ", ".join(f"{_pct(v)} of {_who(attr, str(g))}" for g, v in zip(t["group"], t["estimate"],
                                                                                    strict=True))
            say.append(f"Among patients who had a MACE by the horizon, the rule flagged {parts}.")
    if len(diff):
        d = diff[(diff["contrast"] == "difference") & ((diff["ci_low"] > 0) | (diff["ci_high"] < 0))]
        d = d[d["metric"].isin(["harrell_c", "oe_ratio_t", "ici_t", "td_auc", "c_cr", "oe_ratio_cr", "ici_cr",
                                "auc_cr"])]
        tables.append(("Groups whose metric differs from the overall value (95 % CI excludes 0)",
                       pd.DataFrame({"attribute": d["attribute"], "group": d["group"], "metric": d["metric"],
                                     "difference (95 % CI)": [_ci(a, b, c) for a, b, c in
                                                              zip(d["estimate"], d["ci_low"], d["ci_high"],
                                                                  strict=True)]})))
        if len(d):
            say.append(f"{len(d)} group metric(s) differ from the overall value beyond chance (table below).")
        else:
            say.append("No group's discrimination or calibration differs from the overall value beyond chance.")
    if len(het):
        tables.append(("Heterogeneity across groups (Cochran's Q)", het))
        for _, r in het.iterrows():
            if np.isfinite(r["p_value"]) and r["p_value"] < 0.05:
                say.append(f"{r['metric']} differs across {r['attribute']} groups (Cochran's Q = {r['q']:.1f}, "
                           f"p = {r['p_value']:.3g}).")
    summ = _flag_summary(flags)
    tables.append(("Groups flagged by the audit", summ))
    say.append(f"{len(summ)} group(s) carry an audit flag (few events, undefined metric, unknown label or "
               "unstable bootstrap); see the table.")
    figs = [(cap, audit["figures"][n]) for n, cap in
            [("forest_harrell_c.png", "Harrell's C by group (95 % CI)"),
             ("forest_c_cr.png", "Truncated C for competing risks by group (95 % CI)")] if n in audit["figures"]]
    return ReportSection(id="fairness", title=_TITLES["fairness"], sentences=tuple(say), tables=tuple(tables),
                         figures=tuple(figs),
                         notes=("Rates at the rule are censoring-aware (Kaplan-Meier among flagged and "
                                "unflagged patients); gaps are max - min across groups with paired bootstrap CIs.",))


def _flag_summary(flags: pd.DataFrame, *, drop_few_events: bool = False) -> pd.DataFrame:
    if flags is None or len(flags) == 0:
        return pd.DataFrame(columns=["attribute", "group", "metrics_flagged", "reasons"])
    out = []
    for (a, g), t in flags.groupby(["attribute", "group"], sort=False):
        reasons = list(dict.fromkeys(_BOOT_UNDEF.sub("some bootstrap replicates undefined", p.strip())
                                     for r in t["reason"].fillna("") for p in str(r).split(";") if p.strip()))
        if drop_few_events:  # listed as "small group" already
            reasons = [r for r in reasons if not r.startswith("fewer than")]
            if not reasons:
                continue
        out.append({"attribute": a, "group": str(g), "metrics_flagged": len(t),
                    "reasons": "; ".join(reasons[:3]) + (" ..." if len(reasons) > 3 else "")})
    return pd.DataFrame(out)


def _decision(ctx: _Context, audit: dict) -> ReportSection:
    pred, h = ctx.pred, ctx.horizon
    nb = ctx.net_benefit
    n = len(pred)
    t = pd.DataFrame({"threshold": [_pct(x) for x in nb["threshold"]],
                      "net_benefit_model": nb["model"], "net_benefit_treat_all": nb["treat_all"],
                      "treated_pct": 100 * nb["n_treated"] / n,
                      "net_true_positives_per_100": 100 * nb["model"]})
    say = []
    for _, r in nb.iterrows():
        if r["threshold"] not in (0.05, 0.10, 0.20):
            continue
        s = (f"At a {_pct(r['threshold'], 0)} risk threshold the model would treat {100 * r['n_treated'] / n:.0f} % "
             f"of patients; its net benefit of {r['model']:.4f} equals {100 * r['model']:.1f} patients with MACE "
             f"per 100 correctly treated with no unnecessary treatment (treating everyone: "
             f"{100 * r['treat_all']:.1f})")
        if r["model"] <= max(r["treat_all"], 0):
            s += "; the model adds nothing over the simpler strategy here"
        say.append(s + ".")
    cr = "event_type" in pred.columns  # a competing-risk run
    f = audit["figures"].get("decision_curve.png")
    if f is None:
        f = png(lambda ax: DecisionCurveDisplay.from_predictions(
            pred["risk"].to_numpy(float), time=pred["time"].to_numpy(float),
            event=pred["event_type" if cr else "event"].to_numpy(float), horizon=h,
            competing_risks=cr).plot(ax=ax))
    observed = ("the Aalen-Johansen cumulative incidence of MACE among the treated (competing deaths are "
                "not MACE and not censored)" if cr else "Kaplan-Meier risks among the treated")
    return ReportSection(id="decision-curve", title=_TITLES["decision-curve"], sentences=tuple(say),
                         tables=(("Net benefit at selected thresholds (out-of-fold risks)", t),),
                         figures=(("Decision curve at the horizon: model, treat all, treat none", f),),
                         notes=("Net benefit = true positives/n - false positives/n x pt/(1 - pt), with "
                                f"{observed} (Vickers et al. 2008).",))


