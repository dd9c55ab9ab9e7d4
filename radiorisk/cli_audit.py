"""``radiorisk audit``: subgroup audit of predictions, written as ``DIR/metrics.csv``.

The lead wires :func:`add_audit_parser` into :mod:`radiorisk.cli`; the command is a
thin layer over :func:`read_predictions`, :func:`radiorisk.evaluation.compute_metrics`
and :func:`radiorisk.evaluation.write_metrics_csv`.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import InputFileError, RadioriskError, SchemaError

__all__ = ["AuditUsageError", "Predictions", "read_predictions", "run_audit", "audit_command",
           "add_audit_parser"]

DEFAULT_HORIZON_DAYS = 1826.0
_MAX_LISTED = 50


class AuditUsageError(RadioriskError):
    """The audit flags do not fit together (e.g. ``--time-col`` without ``--event-col``)."""


@dataclass(frozen=True)
class Predictions:
    """A validated predictions table.

    Attributes
    ----------
    data : DataFrame
        Numeric risk/outcome columns as float64; group columns as the strings
        written in the file.
    path : Path
        The file read.
    """

    data: pd.DataFrame
    path: Path


def _rule_violations(path, raw: pd.Series, col: str, rule: str, bad: pd.Series) -> list[str]:
    out = []
    for i in np.flatnonzero(bad.to_numpy()):
        out.append(f"{path}: row {i + 1} (line {i + 2}), column {col!r}: value {raw.iloc[i]!r} {rule}")
    return out


def read_predictions(
    path,
    *,
    risk_col: str,
    outcome_col: str | None = None,
    time_col: str | None = None,
    event_col: str | None = None,
    groups=(),
) -> Predictions:
    """Read and validate a predictions CSV; every violation is reported at once.

    Parameters
    ----------
    path : path-like
        Comma-separated file with a header row (UTF-8, optional BOM).
    risk_col : str
        Predicted probability, numeric in [0, 1].
    outcome_col : str, optional
        Binary outcome, 0 or 1 (binary audit).
    time_col, event_col : str, optional
        Follow-up time (> 0) and event indicator (0/1) (survival audit).
    groups : sequence of str
        Group columns; read as strings exactly as written. Empty and ``NA``
        values are allowed (those rows are left out of that attribute's groups).

    Returns
    -------
    Predictions

    Raises
    ------
    InputFileError
        The file is missing, empty, unreadable or not comma-separated.
    SchemaError
        Columns are missing, or values break a rule (non-numeric or missing
        risk/time/event/outcome, risk outside [0, 1], time <= 0, event or
        outcome not 0/1). The message names the file, row, column and value.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = Path(d) / "pred.csv"
    ...     _ = f.write_text("y,p,sex\\n1,0.2,F\\n0,0.1,M\\n")
    ...     pr = read_predictions(f, risk_col="p", outcome_col="y", groups=["sex"])
    >>> pr.data["sex"].tolist()
    ['F', 'M']
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{path}: the file is empty") from exc
    except (UnicodeDecodeError, pd.errors.ParserError, csv.Error) as exc:
        raise InputFileError(f"{path}: cannot be read as a UTF-8 comma-separated file: {exc}") from exc
    if raw.shape[1] == 1 and any(s in str(raw.columns[0]) for s in (";", "\t", "|")):
        raise InputFileError(f"{path}: expected comma-separated columns; the header is {raw.columns[0]!r}")
    if len(raw) == 0:
        raise InputFileError(f"{path}: no data rows")
    wanted = [risk_col] + ([outcome_col] if outcome_col else [time_col, event_col]) + list(groups)
    missing = [c for c in dict.fromkeys(wanted) if c not in raw.columns]
    if missing:
        raise SchemaError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; "
                          f"the file has {', '.join(map(repr, raw.columns))}")
    problems: list[str] = []
    data = pd.DataFrame(index=raw.index)

    def numeric(col: str) -> pd.Series:
        s = raw[col].str.strip()
        v = pd.to_numeric(s, errors="coerce")
        v = v.where(np.isfinite(v.astype(float)), np.nan)
        problems.extend(_rule_violations(path, raw[col], col, "is not a finite number", v.isna()))
        return v.astype(float)

    r = numeric(risk_col)
    problems.extend(_rule_violations(path, raw[risk_col], risk_col, "is outside [0, 1]",
                                     r.notna() & ((r < 0) | (r > 1))))
    data[risk_col] = r
    if outcome_col:
        y = numeric(outcome_col)
        problems.extend(_rule_violations(path, raw[outcome_col], outcome_col, "is not 0 or 1",
                                         y.notna() & ~y.isin([0.0, 1.0])))
        data[outcome_col] = y
    else:
        t = numeric(time_col)
        problems.extend(_rule_violations(path, raw[time_col], time_col, "is not > 0",
                                         t.notna() & (t <= 0)))
        e = numeric(event_col)
        problems.extend(_rule_violations(path, raw[event_col], event_col, "is not 0 or 1",
                                         e.notna() & ~e.isin([0.0, 1.0])))
        data[time_col] = t
        data[event_col] = e
    for g in dict.fromkeys(groups):
        data[g] = raw[g]
    if problems:
        shown = problems[:_MAX_LISTED]
        more = f"\n... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise SchemaError(f"{path}: {len(problems)} invalid value(s):\n" + "\n".join(shown) + more)
    return Predictions(data=data, path=path)


def run_audit(
    predictions,
    out,
    *,
    risk_col: str,
    outcome_col: str | None = None,
    time_col: str | None = None,
    event_col: str | None = None,
    horizon: float | None = None,
    groups=(),
    n_boot: int = 0,
    seed: int | None = None,
) -> Path:
    """Audit a predictions CSV and write ``out/metrics.csv``; returns its path.

    Parameters
    ----------
    predictions : path-like
        The predictions CSV (see :func:`read_predictions`).
    out : path-like
        Output folder (created if needed).
    risk_col, outcome_col, time_col, event_col, groups
        As in :func:`read_predictions`.
    horizon : float, optional
        :math:`t_0` in the unit of ``time_col`` (default 1826 days for survival data).
    n_boot : int
        Bootstrap samples for percentile CIs (0: analytic CIs where defined).
    seed : int, optional
        Bootstrap seed.

    Returns
    -------
    Path
    """
    from .evaluation import compute_metrics, write_metrics_csv

    survival = outcome_col is None
    if survival and (time_col is None or event_col is None):
        raise AuditUsageError("give --outcome-col Y (binary) or both --time-col T and --event-col E (survival)")
    if not survival and (time_col is not None or event_col is not None):
        raise AuditUsageError("--outcome-col cannot be combined with --time-col/--event-col")
    if not survival and horizon is not None:
        raise AuditUsageError("--horizon applies to survival data (--time-col/--event-col) only")
    if n_boot < 0:
        raise AuditUsageError(f"--n-boot must be >= 0; got {n_boot}")
    if survival:
        horizon = DEFAULT_HORIZON_DAYS if horizon is None else float(horizon)
        if not np.isfinite(horizon) or horizon <= 0:
            raise AuditUsageError(f"--horizon must be a positive number; got {horizon}")
    pred = read_predictions(predictions, risk_col=risk_col, outcome_col=outcome_col,
                            time_col=time_col, event_col=event_col, groups=groups)
    metrics = compute_metrics(pred.data, risk_col=risk_col, outcome_col=outcome_col, time_col=time_col,
                              event_col=event_col, horizon=horizon, groups=list(groups),
                              n_boot=n_boot, random_state=seed)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputFileError(f"{out}: cannot create the output folder: {exc}") from exc
    return write_metrics_csv(metrics, out / "metrics.csv")


def audit_command(args: argparse.Namespace) -> int:
    """Run ``radiorisk audit`` from parsed arguments; returns the exit code (0)."""
    path = run_audit(
        args.predictions, args.out, risk_col=args.risk_col, outcome_col=args.outcome_col,
        time_col=args.time_col, event_col=args.event_col, horizon=args.horizon,
        groups=args.group or [], n_boot=args.n_boot, seed=args.seed,
    )
    if not getattr(args, "quiet", False):
        print(f"wrote {path}")
    return 0


def add_audit_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``audit`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    a = subparsers.add_parser(
        "audit", help="discrimination and calibration overall and by group; writes DIR/metrics.csv",
        description="Compute the audit metrics (definitions: referee README) overall and within "
                    "each group, and write DIR/metrics.csv with columns attribute, group, metric, "
                    "estimate, ci_low, ci_high, n, events.",
    )
    a.add_argument("--predictions", type=Path, required=True, metavar="F.csv")
    a.add_argument("--risk-col", required=True, metavar="R", help="predicted risk column, in [0, 1]")
    a.add_argument("--outcome-col", default=None, metavar="Y", help="binary outcome column (0/1)")
    a.add_argument("--time-col", default=None, metavar="T", help="follow-up time column (> 0)")
    a.add_argument("--event-col", default=None, metavar="E", help="event indicator column (0/1)")
    a.add_argument("--horizon", type=float, default=None, metavar="DAYS",
                   help=f"prediction horizon in the time unit (survival; default {DEFAULT_HORIZON_DAYS:g})")
    a.add_argument("--group", action="append", default=None, metavar="COL",
                   help="group column (repeatable); labels are used as written")
    a.add_argument("--n-boot", type=int, default=0, metavar="B",
                   help="bootstrap samples for percentile CIs within each group (default 0: analytic CIs)")
    a.add_argument("--seed", type=int, default=None, metavar="S", help="bootstrap seed")
    a.add_argument("--out", type=Path, required=True, metavar="DIR")
    a.add_argument("--quiet", action="store_true")
    a.set_defaults(func=audit_command)
    return a
