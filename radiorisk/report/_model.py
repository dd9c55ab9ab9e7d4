"""The HTML model report of a ``radiorisk fit`` run, in the order of TRIPOD+AI.

:func:`render_model_report` turns the gathered inputs (:class:`ModelReportInputs`: the
RUN folder, its audit and the cohort, gathered by :func:`radiorisk.pipeline.collect_model_report`)
into a :class:`ModelReport`: ten :class:`ReportSection` objects (the last the TRIPOD+AI checklist,
:func:`radiorisk.report._tripod.tripod_checklist`) of plain-language
sentences, tables and PNG figures; :meth:`ModelReport.to_html` is the self-contained page.

The pieces: :mod:`._model_base` (the objects), :mod:`._model_context` (the inputs),
:mod:`._model_methods`, :mod:`._model_results` and :mod:`._model_discussion` (the
sections), and the templates in ``templates/``.
"""

from __future__ import annotations

import datetime as _dt

import pandas as pd

from .. import __version__
from ._model_base import (
    _TITLES,
    MODEL_REPORT_SECTIONS,
    ModelReport,
    ReportError,
    ReportSection,
    _ci,
)
from ._model_context import ModelReportInputs
from ._model_context import ModelReportInputs as _Context
from ._model_discussion import _explanations, _limitations, _provenance
from ._model_methods import _model_spec, _participants
from ._model_results import _calibration, _decision, _discrimination, _fairness
from ._tripod import tripod_checklist

__all__ = ["ReportError", "ReportSection", "ModelReport", "MODEL_REPORT_SECTIONS", "ModelReportInputs",
           "render_model_report"]


def render_model_report(inputs: ModelReportInputs, audit: dict) -> ModelReport:
    """The model report's sections, in TRIPOD+AI order, from its gathered inputs.

    Parameters
    ----------
    inputs : ModelReportInputs
        The RUN, its audit and the cohort (:func:`radiorisk.pipeline.collect_model_report`
        gathers them).
    audit : dict
        The audit folder's tables (``metrics.csv`` ... as DataFrames, ``figures``: name -> PNG).

    Returns
    -------
    ModelReport
    """
    ctx, aud = inputs, audit
    run, cfg, horizon, seed = ctx.run, ctx.config, ctx.horizon, ctx.seed
    source = ctx.audit_source
    sections = [_participants(ctx), _model_spec(ctx), _discrimination(ctx, aud), _calibration(ctx, aud),
                _fairness(ctx, aud), _decision(ctx, aud), _explanations(ctx)]
    sections.append(_limitations(ctx, aud))
    settings = {"RUN": run, "cohort folder": ctx.data_dir or "(not available)", "audit": source,
                "seed": seed, "SHAP sample": ctx.shap_sample,
                "created": _dt.datetime.now().strftime("%Y-%m-%d %H:%M")}
    sections.append(_provenance(ctx, settings))
    sections.append(_tripod_section(ctx))
    summary = _summary(ctx, aud, sections)
    return ModelReport(
        title=f"Model report: {cfg.get('model')} on {'+'.join(cfg.get('blocks') or [])}",
        subtitle=f"radiorisk {__version__} · RUN {run.name} · horizon {horizon:g} days · structured after "
                 "TRIPOD+AI · research use only, not a medical device.",
        summary=summary, sections=tuple(sections), run=run)


def _tripod_section(ctx: _Context) -> ReportSection:
    table = tripod_checklist(iecv=ctx.iecv is not None, sample_size=ctx.sample_size is not None)
    n_not = int(table["where"].str.startswith("not addressed").sum())
    say = (f"The {len(table)} items of the TRIPOD+AI checklist (Collins et al., BMJ 2024): {len(table) - n_not} "
           f"are addressed by this report (the section is named); {n_not} are not, each with the reason — most "
           "are the authors' to write (ethics, funding, registration, clinical context).",)
    return ReportSection(id="tripod", title=_TITLES["tripod"], sentences=say,
                         tables=(("TRIPOD+AI items and where this report addresses them", table),))


def _summary(ctx: _Context, aud: dict, sections) -> tuple[str, ...]:
    m = aud["metrics.csv"]
    ov = m[m["attribute"] == "overall"].set_index("metric") if len(m) else pd.DataFrame()
    ev = int(((ctx.pred["event"] == 1) & (ctx.pred["time"] <= ctx.horizon)).sum())
    out = [f"{len(ctx.pred)} patients, {ev} MACE by {ctx.horizon:g} days."]
    if "harrell_c" in ov.index:
        r = ov.loc["harrell_c"]
        out.append(f"Out-of-fold Harrell's C {_ci(r['estimate'], r['ci_low'], r['ci_high'])}.")
    if "oe_ratio_t" in ov.index:
        r = ov.loc["oe_ratio_t"]
        out.append(f"Observed/expected risk {_ci(r['estimate'], r['ci_low'], r['ci_high'])} (1 = calibrated).")
    lim = next(s for s in sections if s.id == "limitations")
    out.append(f"{len(lim.to_frame())} automatically detected limitation(s); see section 8.")
    return tuple(out)
