"""``radiorisk audit``: subgroup audit of any model's predictions.

Writes ``DIR/metrics.csv`` (the DESIGN.md contract) and, beside it,
``calibration_tables.csv``, ``fairness.csv``, ``heterogeneity.csv``,
``differences.csv``, ``flags.csv``, ``calibration_tests.csv``, ``decision_curves.csv``, with
``--reference-risk-col`` ``nri.csv``, ``figures/*.png`` and a self-contained
``report.html``. The command is a thin layer over :func:`radiorisk.pipeline.run_audit`
(argparse and messages only); the body is :func:`radiorisk.pipeline.run_audit`.

Identifiers never reach the outputs: only the risk, outcome and group columns
are audited, and an identifier column given as a group is refused (see
``docs/privacy.md``). The id column (``--id-col``, default ``patient_id`` when
present) only serves to refuse a stacked out-of-fold file (duplicated ids or a
``repeat`` column) or, with ``--average-repeats``, to average it per id.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ..exceptions import AuditUsageError, SchemaError
from ..schemas import DEFAULT_HORIZON_DAYS
from ._messages import FlagWords

__all__ = ["audit_command", "add_audit_parser"]


def audit_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk audit`` from parsed arguments; returns the exit code (0).

    Warnings about groups (no events, few events, missing labels) go to stderr.
    """
    msgs: list[str] = []
    try:
        path, seed = _run(args, msgs)
    except (SchemaError, AuditUsageError) as exc:
        msg = _as_flags(_ID_FLAGS.sub(r"--id-col \1 --average-repeats", str(exc)))
        if msg == str(exc):
            raise
        raise (SchemaError(msg, exc.report) if isinstance(exc, SchemaError) else AuditUsageError(msg)) from exc
    for m in msgs:
        print(f"warning: {m}", file=sys.stderr)
    if not getattr(args, "quiet", False):
        boot = f", bootstrap seed {seed}" if args.n_boot else ""
        print(f"wrote {path} and the other audit files in {path.parent} "
              f"(report: {path.parent / 'report.html'}{boot})")
    return 0


#: run_audit's wording -> the command's flags.
_as_flags = FlagWords({}, (("competing_risks=True", "--competing-risks"),
                          ("reference_risk_col", "--reference-risk-col"), ("not outcome_col", "not --outcome-col"),
                          ("needs time_col and event_col", "needs --time-col and --event-col"),
                          ("id_col=COL, average_repeats=True", "--id-col COL --average-repeats"),
                          ("average_repeats=True needs id_col", "--average-repeats needs --id-col"),
                          ("average_repeats=True:", "--average-repeats:"),
                          ("give as id_col", "give as --id-col")))
#: run_audit's ``id_col='COL', average_repeats=True`` -> ``--id-col COL --average-repeats``.
_ID_FLAGS = re.compile(r"id_col='([^']*)', average_repeats=True")


def _run(args: argparse.Namespace, msgs: list) -> tuple[Path, int]:
    """Run the audit; returns metrics.csv's path and the bootstrap seed used."""
    from ..pipeline import run_audit  # on demand: `radiorisk --help` stays fast
    from ..pipeline._audit import DEFAULT_AUDIT_SEED

    seed = DEFAULT_AUDIT_SEED if args.seed is None else args.seed
    risk = _split(args.risk_col)
    horizon = None if args.horizon is None else [_horizon(v) for v in _split(args.horizon)]
    path = run_audit(
        args.predictions, args.out, risk_col=risk[0] if len(risk) == 1 else risk, outcome_col=args.outcome_col,
        time_col=args.time_col, event_col=args.event_col,
        horizon=horizon[0] if horizon is not None and len(horizon) == 1 else horizon,
        groups=args.group or [], n_boot=args.n_boot, seed=seed,
        intersections=not getattr(args, "no_intersections", False),
        min_events=getattr(args, "min_events", 10), threshold=getattr(args, "threshold", None),
        top_k=getattr(args, "top_k", None), bands=getattr(args, "bands", 5),
        figures=not getattr(args, "no_figures", False),
        calibration_boot=getattr(args, "calibration_boot", None), messages=msgs,
        competing_risks=getattr(args, "competing_risks", False),
        id_col=getattr(args, "id_col", None), average_repeats=getattr(args, "average_repeats", False),
        adjust=getattr(args, "adjust", "holm"),
        reference_risk_col=_reference(getattr(args, "reference_risk_col", None)),
        decision_thresholds=_thresholds(getattr(args, "decision_thresholds", None)),
        nri_cuts=_cuts(getattr(args, "nri_cuts", None)),
    )
    return path, seed


def _split(values) -> list[str]:
    """Repeated flags and comma-separated lists as one list (``--horizon 365,1826 --horizon 3650``)."""
    values = [values] if isinstance(values, str) else list(values)
    return [p.strip() for v in values for p in str(v).split(",") if p.strip()]


def _reference(values):
    if values is None:
        return None
    refs = _split(values)
    return refs[0] if len(refs) == 1 else refs


def _thresholds(text):
    """``--decision-thresholds START:STOP:STEP`` (inclusive) or a comma-separated list."""
    from ..stats import check_thresholds, threshold_grid

    if text is None:
        return None
    try:
        if ":" in text:
            start, stop, step = (float(v) for v in text.split(":"))
            return threshold_grid(start, stop, step)
        return check_thresholds([float(v) for v in text.split(",") if v.strip()])
    except ValueError as exc:
        raise AuditUsageError(f"--decision-thresholds {text!r}: {exc} (give START:STOP:STEP, e.g. 0.05:0.30:0.01, "
                              "or a list, e.g. 0.1,0.2; thresholds strictly between 0 and 1)") from None


def _cuts(text):
    if text is None:
        return None
    try:
        cuts = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise AuditUsageError(f"--nri-cuts {text!r}: give risks, e.g. --nri-cuts 0.1,0.2") from None
    if not cuts or any(not 0 < c < 1 for c in cuts):
        raise AuditUsageError(f"--nri-cuts {text!r}: each cut point must lie strictly between 0 and 1")
    return cuts


def _horizon(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise AuditUsageError(f"--horizon: {text!r} is not a number (give days, e.g. --horizon 365,1826)") from None


def add_audit_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``audit`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    a = subparsers.add_parser(
        "audit", help="subgroup audit of predictions: metrics, calibration, fairness, report.html",
        description="Compute the audit metrics (definitions: referee README) overall, within each "
                    "group and intersection, and write DIR/metrics.csv (attribute, group, metric, "
                    "estimate, ci_low, ci_high, n, events), calibration_tables.csv, fairness.csv, "
                    "heterogeneity.csv, differences.csv, flags.csv, calibration_tests.csv, decision_curves.csv, "
                    "nri.csv (with --reference-risk-col), figures/ and report.html.",
    )
    a.add_argument("--predictions", type=Path, required=True, metavar="F.csv")
    a.add_argument("--risk-col", required=True, action="append", metavar="R",
                   help="predicted risk column, in [0, 1]; with several horizons one column per horizon, "
                        "in the same order (repeat the flag or give a comma-separated list)")
    a.add_argument("--outcome-col", default=None, metavar="Y", help="binary outcome column (0/1)")
    a.add_argument("--time-col", default=None, metavar="T", help="follow-up time column (> 0)")
    a.add_argument("--event-col", default=None, metavar="E",
                   help="event indicator column (0/1; with --competing-risks 0/1/2)")
    a.add_argument("--horizon", action="append", default=None, metavar="DAYS",
                   help=f"prediction horizon in the time unit (survival; default {DEFAULT_HORIZON_DAYS:g}); "
                        "several horizons (repeat the flag or give a comma-separated list) audit each with its "
                        "own --risk-col, and every CSV gets a horizon column")
    a.add_argument("--group", action="append", default=None, metavar="COL",
                   help="group column (repeatable); labels are used as written")
    a.add_argument("--n-boot", type=int, default=0, metavar="B",
                   help="bootstrap samples for percentile CIs within each group (default 0: analytic CIs)")
    a.add_argument("--seed", type=int, default=None, metavar="S",
                   help="bootstrap seed (default 0: the same file gives the same CIs; printed in the report)")
    a.add_argument("--id-col", default=None, metavar="COL",
                   help="the column that identifies the patient (default patient_id when present): duplicated "
                        "ids or a 'repeat' column (stacked out-of-fold predictions) are refused unless "
                        "--average-repeats; never written to the outputs")
    a.add_argument("--average-repeats", action="store_true",
                   help="average the rows of each id (risk: mean over repeats; outcome, time, event and "
                        "groups must be constant per id) before the audit")
    a.add_argument("--no-intersections", action="store_true",
                   help="do not audit the intersections of the group columns")
    a.add_argument("--min-events", type=int, default=10, metavar="K",
                   help="flag groups with fewer events (default 10)")
    rule = a.add_mutually_exclusive_group()
    rule.add_argument("--threshold", type=float, default=None, metavar="P",
                      help="fairness.csv: positive when risk >= P")
    rule.add_argument("--top-k", type=float, default=None, metavar="PCT",
                      help="fairness.csv: positive for the top PCT %% of risk (default 10)")
    a.add_argument("--bands", type=int, default=5, metavar="K",
                   help="calibration_tables.csv: K quantile bands of risk (default 5)")
    a.add_argument("--calibration-boot", type=int, default=None, metavar="BC",
                   help="bootstrap ici_t/e50_t/e90_t/emax_t (ici_cr ... emax_cr) on BC replicates only (speed)")
    a.add_argument("--competing-risks", action="store_true",
                   help="E is 0 = censored, 1 = event of interest, 2 = competing event, and R the predicted "
                        "cumulative incidence by the horizon: competing-risk metrics (c_cr ... emax_cr) and "
                        "Aalen-Johansen observed risk (competing events are not censored)")
    a.add_argument("--adjust", choices=("holm", "bh", "none"), default="holm",
                   help="differences.csv: which p-value decides 'significant' and the key findings on group "
                        "differences: Holm (family-wise error, default), bh (Benjamini-Hochberg, false "
                        "discovery rate) or none; p_holm and p_bh are always written")
    a.add_argument("--decision-thresholds", default=None, metavar="A:B:S",
                   help="decision_curves.csv: net benefit at thresholds A, A+S, ..., B (e.g. 0.05:0.30:0.01) or at "
                        "a comma-separated list (default 0.01:0.50:0.01); treated = risk >= threshold")
    a.add_argument("--reference-risk-col", action="append", default=None, metavar="R0",
                   help="a reference model's risk column (one per --risk-col, same order): nri.csv and the report "
                        "give the NRI of --risk-col over it per group, events and non-events separately")
    a.add_argument("--nri-cuts", default=None, metavar="P[,P...]",
                   help="risk cut points of the categorical NRI (default: --threshold when given; the "
                        "category-free NRI is always computed)")
    a.add_argument("--no-figures", action="store_true", help="skip figures/*.png")
    a.add_argument("--out", type=Path, required=True, metavar="DIR")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=audit_command)
    return a
