"""Sections 7-9 of the model report (the TRIPOD+AI discussion): explanations, limitations, provenance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ..explain import ModalityBarDisplay, ShapBarDisplay, ShapSummaryDisplay
from ._figures import png, shap_subgroup_figure
from ._model_base import _TITLES, ReportSection
from ._model_context import ModelReportInputs as _Context
from ._model_context import report_attributes as _attrs
from ._model_results import _flag_summary

_MIN_EVENTS = 10


def _explanations(ctx: _Context) -> ReportSection:
    sid, title = "explanations", _TITLES["explanations"]
    ex = ctx.explanations
    if ex is None or ex.status == "no_data":
        return ReportSection(id=sid, title=title, sentences=(
            "SHAP values were not computed: the cohort folder is not available (pass --data DIR).",))
    if ex.status == "missing_columns":
        missing = ex.missing_columns
        ctx.limitations.append(("explanations", f"SHAP not computed: {len(missing)} model input column(s) "
                                f"are absent from the cohort (e.g. {missing[0]})"))
        return ReportSection(id=sid, title=title, sentences=(
            f"SHAP values were not computed: {len(missing)} input column(s) of the model are not in the "
            f"assembled cohort (first: {missing[0]}).",))
    if ex.status == "error":
        return ReportSection(id=sid, title=title, sentences=(f"SHAP values could not be computed: {ex.error}",))
    res = ex.shap
    imp = res.importance()
    mod = res.by_block().to_frame()
    say = [f"SHAP values of the final model on {res.n} patients ({'a random sample' if ex.sampled else 'all'} "
           f"of the cohort), on the {res.scale} scale ({res.method} method).",
           "The most influential features were " + ", ".join(
               f"{r.feature} ({r.block})" for r in imp.head(3).itertuples()) + "."]
    if len(mod):
        say.append("Share of the summed mean |SHAP| by modality: " + ", ".join(
            f"{r.block} {100 * r.share:.0f} %" for r in mod.itertuples() if np.isfinite(r.share)) + ".")
    figs = [("Global importance: mean |SHAP| of the top features", png(
                lambda ax: ShapBarDisplay.from_shap(res).plot(ax=ax), size=(6.4, 4.8))),
            ("Beeswarm: SHAP value of each patient, coloured by the feature value", png(
                lambda ax: ShapSummaryDisplay.from_shap(res).plot(ax=ax), size=(6.8, 5.2))),
            ("Contribution by modality block (mean |sum of SHAP| per block)", png(
                lambda ax: ModalityBarDisplay.from_shap(res).plot(ax=ax), size=(6.4, 3.0)))]
    tables = [("Top features by mean |SHAP|", imp.head(15).round({"mean_abs": 4, "mean": 4})),
              ("SHAP by modality block", mod.round({"mean_abs": 4, "mean": 4, "share": 3}))]
    notes = list(res.notes)
    top = list(imp["feature"].head(8))
    for a, sub, err in ex.by_group:
        if sub is None:
            notes.append(f"SHAP by {a}: not computed ({err})")
            continue
        figs.append((f"Mean |SHAP| of the top features by {a} (95 % bootstrap CI)",
                     shap_subgroup_figure(sub.by_group, attribute=a, features=top, scale=res.scale)))
        fl = sub.flagged
        tables.append((f"Features whose importance or effect differs between {a} groups "
                       f"(permutation test, {sub.adjust} adjusted, alpha {sub.alpha:g})", fl))
        if len(fl):
            say.append(f"By {a}: " + ", ".join(f"{r.feature} ({r.statistic})" for r in fl.head(5).itertuples())
                       + " differ between groups beyond chance.")
        else:
            say.append(f"By {a}: no feature's SHAP importance or effect differs between groups beyond chance.")
        notes.extend(sub.notes)
    notes.append("SHAP explains the model, not causation; a feature can matter because it stands in for another.")
    return ReportSection(id=sid, title=title, sentences=tuple(say), tables=tuple(tables), figures=tuple(figs),
                         notes=tuple(dict.fromkeys(notes)))


def _limitations(ctx: _Context, audit: dict) -> ReportSection:
    items = list(ctx.limitations)
    m = audit["metrics.csv"]
    ev_h = int(((ctx.pred["event"] == 1) & (ctx.pred["time"] <= ctx.horizon)).sum())
    if ev_h < 100:
        items.append(("few events", f"only {ev_h} MACE by the horizon: performance estimates are imprecise "
                                    "(fewer than 100 events)"))
    if len(m):
        ev = m.drop_duplicates(["attribute", "group"])
        small = ev[(ev["attribute"] != "overall") & (ev["events"] < _MIN_EVENTS)]
        for _, r in small.iterrows():
            items.append(("small group", f"{r['attribute']} = {r['group']}: {int(r['events'])} MACE by the "
                                         f"horizon (< {_MIN_EVENTS}) among {int(r['n'])} patients; its "
                                         "estimates are unreliable"))
    av = ctx.avail
    if av is not None:
        for col in [c for c in av.columns if c.endswith("_available_pct")]:
            block = col[: -len("_available_pct")]
            for attr in ("sex", "ethnicity", "site"):
                p = ctx.availability_p.get((block, attr))
                if p is not None and p < 0.05:
                    t = av[av["attribute"] == attr]
                    lo, hi = t.loc[t[col].idxmin()], t.loc[t[col].idxmax()]
                    used = block in (ctx.config.get("blocks") or [])
                    items.append(("unequal availability",
                                  f"{block} availability differs across {attr} groups: {lo[col]:.1f} % "
                                  f"({lo['group']}) to {hi[col]:.1f} % ({hi['group']}), chi-square p = {p:.2g}"
                                  + ("" if used else f" ({block} is not in this model)")))
    ex = ctx.extrapolation
    ex_rows = []
    if ex is not None:
        share = float(ex["extrapolated"].mean())
        by = []
        for a in _attrs(ctx.pred):
            lab = ctx.pred[a].reindex(ex.index)
            for g, v in ex["extrapolated"].groupby(lab, sort=True):
                ex_rows.append({"attribute": a, "group": str(g), "n": len(v), "extrapolated_pct": 100 * v.mean()})
                by.append(f"{g} {100 * v.mean():.1f} %")
        ex_rows.insert(0, {"attribute": "overall", "group": "all", "n": len(ex), "extrapolated_pct": 100 * share})
        items.append(("extrapolation", f"{100 * share:.1f} % of patients had at least one model input outside "
                                       "the range of their training folds in cross-validation (their risks are "
                                       "extrapolations)" + (f"; by group: {', '.join(by)}" if by else "")))
    flags = _flag_summary(audit["flags.csv"], drop_few_events=True)
    for _, r in flags.iterrows():
        items.append(("audit flag", f"{r['attribute']} = {r['group']}: {r['reasons']}"))
    if ctx.hash_mismatch:
        items.append(("data changed", "the cohort folder differs from the one the model was fitted on "
                                      f"(SHA-256 mismatch: {', '.join(ctx.hash_mismatch)})"))
    for n in ctx.data_notes:
        items.append(("missing input", n))
    table = pd.DataFrame(items, columns=["kind", "detail"])
    kinds = table["kind"].value_counts()
    say = [f"{len(table)} limitation(s) were detected automatically: "
           + ", ".join(f"{v} x {k}" for k, v in kinds.items()) + "." if len(table)
           else "No limitation was detected automatically."]
    say += [f"{k}: {d}." for k, d in items[:12]]
    if len(items) > 12:
        say.append(f"... and {len(items) - 12} more in the table.")
    tables = [("Limitations detected automatically", table)]
    if ex_rows:
        tables.append(("Extrapolation in cross-validation by group", pd.DataFrame(ex_rows)))
    return ReportSection(id="limitations", title=_TITLES["limitations"], sentences=tuple(say),
                         tables=tuple(tables),
                         notes=("Automatic checks do not replace a statistician's review: they cover small "
                                f"groups (< {_MIN_EVENTS} events), unequal modality availability (chi-square, "
                                "range >= 5 points), extrapolation beyond the training range, audit flags, "
                                "miscalibrated groups and inputs that changed since the fit.",))


def _provenance(ctx: _Context, settings: dict) -> ReportSection:
    prov = ctx.prov
    vers = pd.DataFrame([(k, str(v)) for k, v in (prov.get("versions") or {}).items()],
                        columns=["package", "version"])
    cfg = pd.DataFrame([(k, json.dumps(v) if not isinstance(v, str) else v) for k, v in ctx.config.items()],
                       columns=["setting", "value"])
    inputs = pd.DataFrame([(k, v.get("path", ""), v.get("sha256", "")) for k, v in
                           (prov.get("inputs_sha256") or {}).items()], columns=["input", "path", "sha256"])
    tim = pd.DataFrame(list((prov.get("timings_seconds") or {}).items()), columns=["step", "seconds"])
    ident = prov.get("identifiers")
    if isinstance(ident, dict):
        settings = {**settings, "identifiers in RUN": f"{ident.get('identifiers')} ({ident.get('method', '')}; "
                                                      f"key fingerprint {ident.get('key_fingerprint')})"}
    rep = pd.DataFrame([(k, str(v)) for k, v in settings.items()], columns=["report setting", "value"])
    bundle = pd.DataFrame([(k, str(v)) for k, v in (ctx.manifest.get("versions") or {}).items()],
                          columns=["package", "version in the model bundle"])
    say = [f"Fitted with radiorisk {(prov.get('versions') or {}).get('radiorisk', '?')} on "
           f"{prov.get('created_utc', '?')} (UTC); seed {prov.get('seed')}.",
           f"Command: {' '.join(prov['argv']) if prov.get('argv') else prov.get('command', 'radiorisk fit')}.",
           f"{len(inputs)} input file(s) are identified by their SHA-256 below"
           + (f"; {len(ctx.hash_mismatch)} differ now." if ctx.hash_mismatch else "; all match the cohort read here."
              if ctx.data_dir is not None else ".")]
    return ReportSection(id="provenance", title=_TITLES["provenance"], sentences=tuple(say),
                         tables=(("Software versions at fit time", vers), ("Configuration of the fit", cfg),
                                 ("Input data (SHA-256)", inputs), ("Model bundle", bundle),
                                 ("Timings of the fit (seconds)", tim), ("This report", rep)))

