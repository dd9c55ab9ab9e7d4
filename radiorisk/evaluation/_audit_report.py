"""Files of ``radiorisk audit``: tables (CSV), figures (PNG) and a self-contained report.html.

Figures are drawn with the Display classes on ``matplotlib.figure.Figure``
objects (no pyplot, no backend switch: nothing global changes); the report
embeds them as base64 PNG and needs no network.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from .._files import atomic_write, atomic_write_csv, atomic_write_text
from ._audit import UNKNOWN_GROUP, SubgroupAudit
from ._display import CalibrationDisplay, DecisionCurveDisplay, SubgroupForestDisplay
from ._metrics_frame import METRICS_COLUMNS, write_metrics_csv

__all__ = ["write_audit_outputs", "AUDIT_FILES"]

#: Files written by :func:`write_audit_outputs` (figures go to ``figures/``).
AUDIT_FILES = ("metrics.csv", "calibration_tables.csv", "fairness.csv", "heterogeneity.csv",
               "differences.csv", "flags.csv", "report.html")

_METRIC_WORDS = {
    "harrell_c": "Harrell's C", "uno_c": "Uno's C", "td_auc": "time-dependent AUC",
    "brier_t": "Brier score", "ipa": "IPA", "oe_ratio_t": "observed/expected ratio",
    "ici_t": "ICI", "e50_t": "E50", "e90_t": "E90", "emax_t": "Emax", "auc": "AUC",
    "brier": "Brier score", "cal_intercept": "calibration intercept", "cal_slope": "calibration slope",
    "ici": "ICI", "e50": "E50", "e90": "E90", "emax": "Emax", "oe_ratio": "observed/expected ratio",
}


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    atomic_write_csv(path, frame, float_format="%.10g")
    return path


def _fig_png(draw, *, size=(6.4, 4.4), dpi: int = 110) -> bytes:
    """Run ``draw(ax)`` on a fresh (pyplot-free) figure and return the PNG bytes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    draw(ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _fmt(v, digits=3) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def _ci(row) -> str:
    est, lo, hi = row["estimate"], row["ci_low"], row["ci_high"]
    if not np.isfinite(est):
        return "not estimable"
    if np.isfinite(lo) and np.isfinite(hi):
        return f"{_fmt(est)} (95% CI {_fmt(lo)} to {_fmt(hi)})"
    return _fmt(est)


def _sentences(audit: SubgroupAudit, frame: pd.DataFrame, het: pd.DataFrame, fair: pd.DataFrame) -> list[str]:
    out = []
    disc = "harrell_c" if audit.survival else "auc"
    oe = "oe_ratio_t" if audit.survival else "oe_ratio"
    ov = frame[frame["attribute"] == "overall"].set_index("metric")
    when = f" by t = {audit.horizon:g}" if audit.survival else ""
    if disc in ov.index:
        out.append(f"Overall, {_METRIC_WORDS[disc]} is {_ci(ov.loc[disc])}: 0.5 is chance, 1 is perfect ranking.")
    if oe in ov.index:
        r = ov.loc[oe]
        if np.isfinite(r["estimate"]):
            lean = "over-predicts" if r["estimate"] < 1 else "under-predicts"
            out.append(f"Overall, the observed risk{when} is {_ci(r)} times the mean predicted "
                       f"risk; the model {lean} risk by "
                       f"{abs(1 - r['estimate']) * 100:.0f} % on average.")
        bg = frame[(frame["metric"] == oe) & (frame["attribute"] != "overall")
                   & (frame["group"] != UNKNOWN_GROUP)]
        off = bg[(bg["ci_low"] > 1) | (bg["ci_high"] < 1)]
        for _, row in off.iterrows():
            lean = "under-predicts" if row["estimate"] > 1 else "over-predicts"
            out.append(f"In {row['attribute']} = {row['group']}, observed risk is {_ci(row)} times the "
                       f"predicted: the model {lean} risk in this group (the CI excludes 1).")
        if audit.replicates is not None and off.empty:
            out.append("No group has an observed/expected ratio whose 95 % CI excludes 1.")
    for _, h in het.iterrows():
        if np.isfinite(h["p_value"]) and h["p_value"] < 0.05:
            what = "Calibration (O/E)" if h["metric"] in ("oe_ratio_t", "oe_ratio") else _METRIC_WORDS[h["metric"]]
            p = "< 0.001" if h["p_value"] < 0.001 else f"= {h['p_value']:.3f}"
            out.append(f"{what} differs across {h['attribute']} groups (Cochran's Q = {h['q']:.1f}, "
                       f"df = {h['df']}, p {p}).")
    eo = fair[fair["metric"] == "equal_opportunity_difference"]
    for _, row in eo.iterrows():
        rule = row["threshold"]
        out.append(f"With the rule '{rule}', the true-positive rate differs by up to {_ci(row)} between "
                   f"{row['attribute']} groups (equal-opportunity difference).")
    flagged = frame[frame["flag"]]
    if len(flagged):
        groups = sorted({f"{a} = {g}" for a, g in zip(flagged["attribute"], flagged["group"], strict=True)})
        out.append(f"{len(groups)} group(s) carry a flag (few events, undefined metric or unknown label): "
                   + ", ".join(groups[:12]) + (" ..." if len(groups) > 12 else "") + ". See flags.csv.")
    return out


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>radiorisk audit</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .5em;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}.flag{background:#fff3cd}
.note{color:#555;font-size:.9em}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
ul.find li{margin:.3em 0}
</style></head><body>
<h1>Subgroup audit of predicted risks</h1>
<p class="note">radiorisk {{ version }} · {{ created }} · research use only, not a medical device.</p>
<h2>Inputs</h2>
<table>
{% for k, v in inputs %}<tr><th class="l">{{ k }}</th><td class="l">{{ v }}</td></tr>{% endfor %}
</table>
<h2>Key findings</h2>
<ul class="find">{% for s in findings %}<li>{{ s }}</li>{% endfor %}</ul>
<h2>Metrics overall and by group</h2>
<p class="note">Estimate and 95 % CI ({{ ci_note }}). Highlighted rows carry a flag (reason in the last column).</p>
{{ metrics_table }}
{% if figures %}<h2>Figures</h2>
{% for title, b64 in figures %}<h3>{{ title }}</h3><img alt="{{ title }}" src="data:image/png;base64,{{ b64 }}">{% endfor %}
{% endif %}
<h2>Heterogeneity across groups</h2>
<p class="note">Cochran's Q on the group estimates (log scale for O/E) with bootstrap standard errors;
chi-square with (groups − 1) degrees of freedom.</p>
{{ het_table }}
<h2>Fairness at the decision rule</h2>
<p class="note">{{ fair_note }}</p>
{{ fair_table }}
<h2>Calibration within groups and risk bands</h2>
{{ cal_table }}
<h2>Exclusions and flags</h2>
{{ excl_table }}
{{ flags_table }}
<h2>Definitions</h2>
<p class="note">Metric definitions follow the referee README (R-exact: survival, rms, riskRegression, pROC).
Bootstrap: rows resampled within the cells of all group attributes, all groups sharing each replicate
(paired contrasts); percentile intervals.</p>
</body></html>
"""


def _table_html(frame: pd.DataFrame, flag_col: str | None = "flag", max_rows: int = 400) -> str:
    if frame is None or frame.empty:
        return "<p class='note'>(none)</p>"
    f = frame.head(max_rows)
    cols = list(f.columns)
    head = "".join(f"<th class='l'>{html.escape(str(c))}</th>" if f[c].dtype == object else
                   f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for _, row in f.iterrows():
        cls = " class='flag'" if flag_col and flag_col in f and bool(row[flag_col]) else ""
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, (float, np.floating)):
                cells.append(f"<td>{_fmt(float(v), 4)}</td>")
            elif isinstance(v, (bool, np.bool_)):
                cells.append(f"<td>{'yes' if v else ''}</td>")
            elif isinstance(v, (int, np.integer)):
                cells.append(f"<td>{int(v)}</td>")
            else:
                cells.append(f"<td class='l'>{html.escape(str(v))}</td>")
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    more = f"<p class='note'>{len(frame) - max_rows} more rows in the CSV.</p>" if len(frame) > max_rows else ""
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def write_audit_outputs(audit: SubgroupAudit, out, *, source: str = "", threshold=None, top_k=None,
                        bands=5, figures: bool = True, extra_inputs=()) -> dict[str, Path]:
    """Write every audit file into the folder ``out``; returns {name: path}.

    Parameters
    ----------
    audit : SubgroupAudit
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

    Returns
    -------
    dict of str to Path
    """

    out = Path(out)
    if threshold is None and top_k is None:
        top_k = 10.0
    paths: dict[str, Path] = {}
    frame = audit.to_frame()
    paths["metrics.csv"] = write_metrics_csv(frame[list(METRICS_COLUMNS)], out / "metrics.csv")
    cal = audit.calibration_within_groups(bands)
    paths["calibration_tables.csv"] = _write_csv(cal, out / "calibration_tables.csv")
    fair = audit.fairness(threshold=threshold, top_k=top_k)
    paths["fairness.csv"] = _write_csv(fair, out / "fairness.csv")
    het = audit.heterogeneity()
    paths["heterogeneity.csv"] = _write_csv(het, out / "heterogeneity.csv")
    diff = audit.difference("overall").assign(contrast="difference")
    rat = audit.ratio("overall").assign(contrast="ratio")
    contrasts = pd.concat([diff, rat], ignore_index=True)
    contrasts = contrasts[["contrast"] + [c for c in contrasts.columns if c != "contrast"]]
    paths["differences.csv"] = _write_csv(contrasts, out / "differences.csv")
    flags = frame.loc[frame["flag"], ["attribute", "group", "metric", "flag_reason"]]
    flags = flags.rename(columns={"flag_reason": "reason"})
    excl = audit.exclusions
    excl_rows = excl[excl["n_missing"] > 0]
    ex = pd.DataFrame({"attribute": excl_rows["attribute"], "group": UNKNOWN_GROUP, "metric": "",
                       "reason": [f"{k} row(s) with a missing label: {h}" for k, h in
                                  zip(excl_rows["n_missing"], excl_rows["handling"], strict=True)]})
    flags = pd.concat([ex, flags], ignore_index=True)
    paths["flags.csv"] = _write_csv(flags, out / "flags.csv")

    figs: list[tuple[str, str]] = []
    if figures:
        fig_dir = out / "figures"
        fig_dir.mkdir(exist_ok=True)
        kw = ({"time": audit.time, "event": audit.event, "horizon": audit.horizon} if audit.survival
              else {"y": audit.y})
        plots = [("Calibration (all patients)", "calibration_overall.png",
                  lambda ax: CalibrationDisplay.from_predictions(audit.risk, **kw).plot(ax=ax))]
        for attr in audit.attributes:
            lab = audit._combo_labels[attr]
            plots.append((f"Calibration by {attr}", f"calibration_{_safe(attr)}.png",
                          lambda ax, lab=lab: CalibrationDisplay.from_predictions(
                              audit.risk, groups=lab, n_bins=5, **kw).plot(ax=ax)))
        for m in (("oe_ratio_t", "harrell_c") if audit.survival else ("oe_ratio", "auc")):
            if m in audit.metrics:
                plots.append((f"{_METRIC_WORDS[m]} by group", f"forest_{m}.png",
                              lambda ax, m=m: SubgroupForestDisplay.from_audit(audit, m).plot(ax=ax)))
        plots.append(("Decision curve (all patients)", "decision_curve.png",
                      lambda ax: DecisionCurveDisplay.from_predictions(audit.risk, **kw).plot(ax=ax)))
        for title, name, draw in plots:
            try:
                png = _fig_png(draw)
            except Exception as exc:  # a figure that cannot be drawn must not lose the tables
                figs.append((f"{title} (not drawn: {exc})", ""))
                continue
            p = fig_dir / name
            atomic_write(p, lambda tmp, png=png: tmp.write_bytes(png))
            paths[f"figures/{name}"] = p
            figs.append((title, base64.b64encode(png).decode("ascii")))

    import jinja2
    from markupsafe import Markup

    n = len(audit.risk)
    ev = int(audit._ev[0])
    inputs = [("predictions", source or "(in memory)"), ("rows", f"{n}"),
              ("outcome", f"survival, horizon t = {audit.horizon:g}" if audit.survival else "binary"),
              ("events" + (" by the horizon" if audit.survival else ""), f"{ev}"),
              ("group attributes", ", ".join(audit.attributes) or "(none)"),
              ("intersections", "yes" if audit.intersections and len(audit.attributes) > 1 else "no"),
              ("bootstrap", f"{audit.n_boot} replicates, seed {audit.random_state}" if audit.n_boot
               else "none (analytic CIs where defined)"),
              ("flag rule", f"fewer than {audit.min_events} events, undefined metric, unknown label")]
    for _, r in excl.iterrows():
        inputs.append((f"missing {r['attribute']}", f"{r['n_missing']} row(s)"
                       + (f" — {r['handling']}" if r["n_missing"] else "")))
    inputs += list(extra_inputs)
    show = frame.copy()
    show["estimate (95% CI)"] = [_ci(r) for _, r in show.iterrows()]
    show = show[["attribute", "group", "metric", "estimate (95% CI)", "n", "events", "flag", "flag_reason"]]
    env = jinja2.Environment(autoescape=True)
    page = env.from_string(_TEMPLATE).render(
        version=__version__, created=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        inputs=inputs, findings=_sentences(audit, frame, het, fair),
        ci_note="percentile bootstrap" if audit.n_boot else "analytic where defined",
        metrics_table=Markup(_table_html(show)),
        figures=[f for f in figs if f[1]],
        het_table=Markup(_table_html(het, None)),
        fair_note=f"Rule: {fair['threshold'].iloc[0] if len(fair) else ''}. Survival data: "
                  "censoring-aware rates from Kaplan-Meier risks among positives and negatives at the horizon.",
        fair_table=Markup(_table_html(fair)),
        cal_table=Markup(_table_html(cal)),
        excl_table=Markup(_table_html(excl, None)),
        flags_table=Markup(_table_html(flags, None)),
    )
    rp = out / "report.html"
    atomic_write_text(rp, page)
    paths["report.html"] = rp
    return paths


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
