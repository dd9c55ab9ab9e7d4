"""The body of ``radiorisk report``: gather a RUN's inputs (computing its audit when needed) and write the page.

:func:`collect_model_report` reads a RUN folder (``oof_predictions.csv``,
``ladder.csv``, ``model/``, ``provenance.json``), the cohort folder it was
fitted on and the subgroup audit of its out-of-fold predictions (computed here
when the run has none), and returns the :class:`radiorisk.report.ModelReport`
that :func:`radiorisk.report.render_model_report` builds from them;
:func:`build_model_report` writes it as one self-contained HTML file (atomically).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_write_text
from ..exceptions import RadioriskError, ReportError
from ..models import load
from ..report import ModelReport, ModelReportInputs, render_model_report
from ._model_inputs import audit_oof, load_cohort, per_patient, read_audit, read_run
from ._model_report_stats import optimism_beside_cv, report_statistics

__all__ = ["collect_model_report", "build_model_report"]


def collect_model_report(run, *, data=None, audit=None, n_boot: int = 200, seed: int | None = None,
                         shap_sample: int = 500) -> ModelReport:
    """Gather everything the model report shows (computes the audit and SHAP when needed).

    Parameters
    ----------
    run : path-like
        A RUN folder of ``radiorisk fit``.
    data : path-like, optional
        The cohort folder (default: the one recorded in ``provenance.json``).
    audit : path-like, optional
        A ``radiorisk audit`` folder of the run's out-of-fold predictions
        (default: ``RUN/audit`` when present, else the audit is computed here,
        by sex and ethnicity, with ``n_boot`` resamples, into a temporary folder).
    n_boot : int, default 200
        Bootstrap resamples of that audit and of the SHAP-by-subgroup CIs.
    seed : int, optional
        Seed of the audit bootstrap and the SHAP sample (default: the fit's seed).
    shap_sample : int, default 500
        SHAP values are computed on at most this many patients (a random sample).

    Returns
    -------
    ModelReport

    Raises
    ------
    ReportError
        The RUN (or ``audit``, ``data``) folder is missing or incomplete; the message names the file.

    Examples
    --------
    >>> collect_model_report("no/such/run")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.ReportError: run no/such/run: no such folder (expected a RUN folder written by `radiorisk fit`)
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ReportError(f"n_boot must be an integer >= 0; got {n_boot!r}")
    if isinstance(shap_sample, bool) or not isinstance(shap_sample, int | np.integer) or shap_sample < 1:
        raise ReportError(f"shap_sample must be an integer >= 1; got {shap_sample!r}")
    run = Path(run)
    prov, oof, ladder = read_run(run)
    if data is not None and not Path(data).is_dir():
        raise ReportError(f"data {data}: no such folder")
    if audit is not None and not Path(audit).is_dir():
        raise ReportError(f"audit {audit}: no such folder")
    cfg = prov["configuration"]
    horizon = float(cfg.get("horizon_days", 1826.0))
    seed = int(prov.get("seed", 0) if seed is None else seed)
    model = load(run / "model")
    manifest = json.loads((run / "model" / "manifest.json").read_text(encoding="utf-8"))
    pred = per_patient(oof)
    with tempfile.TemporaryDirectory(prefix="radiorisk-report-") as tmp:
        if audit is not None:
            audit_dir = Path(audit)
            if not audit_dir.is_dir():
                raise ReportError(f"audit {audit_dir}: no such folder")
            source = f"the audit in {audit_dir}"
        elif (run / "audit" / "metrics.csv").is_file():
            audit_dir, source = run / "audit", f"the audit in {run / 'audit'}"
        else:
            audit_dir = Path(tmp)
            audit_oof(pred, audit_dir, horizon=horizon, n_boot=int(n_boot), seed=seed)
            source = (f"audit computed for this report ({n_boot} percentile bootstrap resamples, seed {seed})"
                      if n_boot else "audit computed for this report (analytic CIs where defined)")
        aud = read_audit(audit_dir)
    ctx = ModelReportInputs(run=run, prov=prov, config=cfg, horizon=horizon, oof=oof, pred=pred, ladder=ladder,
                   model=model, manifest=manifest, audit_dir=audit_dir, audit_source=source, seed=seed,
                   n_boot=int(n_boot), shap_sample=int(shap_sample))
    load_cohort(ctx, data if data is not None else cfg.get("data"), explicit=data is not None)
    ctx.iecv = pd.read_csv(run / "iecv.csv", dtype={"cluster": str}) if (run / "iecv.csv").is_file() else None
    final = model.steps[-1][1]
    if getattr(final, "n_imputations", None):
        ctx.imputation = final.pooled_.copy()
    if (run / "mnar_sensitivity.csv").is_file():
        ctx.mnar_sensitivity = pd.read_csv(run / "mnar_sensitivity.csv")
    if (run / "optimism.csv").is_file():
        ctx.optimism = optimism_beside_cv(pd.read_csv(run / "optimism.csv"), pred, horizon)
    return render_model_report(report_statistics(ctx), aud)


def build_model_report(run, out, *, data=None, audit=None, n_boot: int = 200, seed: int | None = None,
                       shap_sample: int = 500) -> Path:
    """Write the self-contained HTML model report of a RUN folder (atomically); returns its path.

    Sections, in TRIPOD+AI order, each with a stable ``id``: ``participants``,
    ``model``, ``discrimination``, ``calibration``, ``fairness``,
    ``decision-curve``, ``explanations``, ``limitations``, ``provenance``
    (:data:`MODEL_REPORT_SECTIONS`).  Figures are embedded PNGs; the page
    loads nothing from the network.

    Parameters
    ----------
    run : path-like
        A RUN folder of ``radiorisk fit``.
    out : path-like
        The HTML file to write (its folder is created if needed).
    data, audit, n_boot, seed, shap_sample
        See :func:`collect_model_report`.

    Returns
    -------
    Path

    Raises
    ------
    ReportError
        Missing or incomplete inputs (the message names the file), or ``out`` is a folder.

    Examples
    --------
    >>> build_model_report("no/such/run", "report.html")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.ReportError: run no/such/run: no such folder (expected a RUN folder written by `radiorisk fit`)
    >>> build_model_report("demo_output/runs/xgb-cox", "model_report.html")  # doctest: +SKIP
    PosixPath('model_report.html')
    """
    out = Path(out)
    if out.is_dir():
        raise ReportError(f"out {out}: is a folder; give the HTML file to write, e.g. {out / 'report.html'}")
    report = collect_model_report(run, data=data, audit=audit, n_boot=n_boot, seed=seed,
                                  shap_sample=shap_sample)
    page = report.to_html()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, page)
    except (OSError, RadioriskError) as exc:
        raise ReportError(f"out {out}: cannot write the report ({exc})") from exc
    return out
