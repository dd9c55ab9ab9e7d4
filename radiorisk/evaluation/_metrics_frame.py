"""The ``metrics.csv`` table: every metric, overall and per group, as a view of :class:`SubgroupAudit`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_write_csv
from ._audit import SubgroupAudit
from ._values import BINARY_METRICS, COMPETING_METRICS, MISSING_GROUP_LABELS, SURVIVAL_METRICS

__all__ = [
    "BINARY_METRICS",
    "COMPETING_METRICS",
    "SURVIVAL_METRICS",
    "METRICS_COLUMNS",
    "MISSING_GROUP_LABELS",
    "compute_metrics",
    "metrics_view",
    "write_metrics_csv",
]

METRICS_COLUMNS = ("attribute", "group", "metric", "estimate", "ci_low", "ci_high", "n", "events")


def compute_metrics(
    df: pd.DataFrame,
    *,
    risk_col: str,
    outcome_col: str | None = None,
    time_col: str | None = None,
    event_col: str | None = None,
    horizon: float | None = None,
    groups: Sequence[str] = (),
    n_boot: int = 0,
    random_state: int | None = None,
    competing_risks: bool = False,
) -> pd.DataFrame:
    """Every audit metric, overall and within each group, in the ``metrics.csv`` shape.

    Parameters
    ----------
    df : DataFrame
        One row per subject.
    risk_col : str
        Predicted probability of the outcome (by ``horizon`` for survival data).
    outcome_col : str, optional
        Binary outcome (0/1). Give either this or ``time_col`` and ``event_col``.
    time_col, event_col : str, optional
        Follow-up time (> 0) and event indicator (0/1) for survival data.
    horizon : float, optional
        :math:`t_0`, required with survival data (same unit as ``time_col``).
    groups : sequence of str
        Group columns (e.g. ``["sex", "ethnicity"]``). Labels are used exactly as
        written (read group columns from CSV as strings); values that are
        missing, ``""`` or ``"NA"`` leave the row out of that attribute only.
    n_boot : int
        With ``n_boot > 0``, ``ci_low``/``ci_high`` of every metric are 2.5 and
        97.5 percentiles over ``n_boot`` bootstrap samples, replacing the
        analytic intervals. Rows are resampled within the cells of all group
        columns (a missing label is a cell), so every (attribute, group) subset
        is resampled within itself and all subsets share each replicate
        (:mod:`radiorisk.evaluation._bootstrap`; survival metrics are computed
        for all replicates at once by exact weighted formulas).
    random_state : int, optional
        Seed of the bootstrap.
    competing_risks : bool
        ``event_col`` is a status (0 = censored, 1 = the event of interest, 2 = a
        competing event) and ``risk_col`` the predicted cumulative incidence of
        cause 1 by ``horizon``: the metrics :data:`COMPETING_METRICS` (``c_cr`` ...
        ``emax_cr``, Aalen-Johansen observed risk). Without it a status 2 is refused.

    Returns
    -------
    DataFrame
        Columns ``attribute, group, metric, estimate, ci_low, ci_high, n, events``,
        one row per (attribute, group, metric); ``attribute = "overall"`` and
        ``group = "all"`` for the whole data. ``estimate`` is NaN where the metric
        cannot be estimated. ``n`` counts the subset's rows; ``events`` is
        ``sum(y)`` (binary) or the number of events (status 1) at or before :math:`t_0`.

    Notes
    -----
    A view of the one subgroup engine: :class:`SubgroupAudit` with
    ``intersections=False, missing="omit"`` (:func:`metrics_view`), so both give the
    same numbers. Every number of a subset is computed from that subset's rows alone
    (censoring distribution, Kaplan-Meier, loess and calibration model
    included). Binary metrics: :data:`BINARY_METRICS`; survival metrics:
    :data:`SURVIVAL_METRICS`; competing-risk metrics: :data:`COMPETING_METRICS`; definitions in the single-metric functions and
    in the referee README. Analytic CIs: ``auc`` (DeLong), ``cal_intercept``
    and ``cal_slope`` (Wald), ``td_auc`` and ``brier_t`` (``riskRegression::Score``'s
    influence function), ``auc_cr`` and ``brier_cr`` (the same, for competing risks).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 400)
    >>> d = pd.DataFrame({"y": rng.binomial(1, p), "p": p, "sex": rng.choice(["F", "M"], 400)})
    >>> m = compute_metrics(d, risk_col="p", outcome_col="y", groups=["sex"])
    >>> sorted(set(m["group"]))
    ['F', 'M', 'all']
    >>> m.columns.tolist()
    ['attribute', 'group', 'metric', 'estimate', 'ci_low', 'ci_high', 'n', 'events']
    """
    survival = _check_request(df, risk_col, outcome_col, time_col, event_col, groups, n_boot)
    if competing_risks and not survival:
        raise ValueError("competing_risks=True needs time_col and event_col (status 0/1/2), not outcome_col")
    outcome = ({"time": np.asarray(df[time_col], dtype=np.float64),
                "event": np.asarray(df[event_col], dtype=np.float64), "horizon": horizon} if survival
               else {"y": np.asarray(df[outcome_col], dtype=np.float64)})
    audit = SubgroupAudit(np.asarray(df[risk_col], dtype=np.float64), **outcome,
                          groups=df[list(groups)] if groups else None, intersections=False,
                          n_boot=n_boot, random_state=random_state, missing="omit",
                          competing_risks=competing_risks)
    return metrics_view(audit)


def _check_request(df, risk_col, outcome_col, time_col, event_col, groups, n_boot) -> bool:
    """Check the column arguments of :func:`compute_metrics`; True for survival data."""
    survival = outcome_col is None
    if survival and (time_col is None or event_col is None):
        raise ValueError("give outcome_col (binary) or both time_col and event_col (survival)")
    if not survival and (time_col is not None or event_col is not None):
        raise ValueError("give outcome_col or time_col/event_col, not both")
    needed = [risk_col] + ([time_col, event_col] if survival else [outcome_col]) + list(groups)
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise KeyError(f"column(s) not in the data: {missing}; available: {list(df.columns)}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")
    return survival


def metrics_view(audit: SubgroupAudit) -> pd.DataFrame:
    """A :class:`SubgroupAudit` in the ``metrics.csv`` shape (:data:`METRICS_COLUMNS`, no flags).

    Parameters
    ----------
    audit : SubgroupAudit

    Returns
    -------
    DataFrame
        ``audit.to_frame()``'s columns :data:`METRICS_COLUMNS`, every row, in its order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 200)
    >>> a = SubgroupAudit(p, y=rng.binomial(1, p), metrics=["auc", "brier"], n_boot=0)
    >>> metrics_view(a)[["attribute", "group", "metric"]].values.tolist()
    [['overall', 'all', 'auc'], ['overall', 'all', 'brier']]
    """
    out = audit.to_frame().loc[:, list(METRICS_COLUMNS)].reset_index(drop=True)
    return out.astype({"estimate": float, "ci_low": float, "ci_high": float, "n": int, "events": int})


def _fmt(v) -> str:
    if v is None or not np.isfinite(v):
        return ""
    return np.format_float_positional(float(v), unique=True, trim="-")


def write_metrics_csv(metrics: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a :func:`compute_metrics` table as ``metrics.csv``, atomically.

    Numbers are written as plain decimals at full (round-trip) precision; a
    metric that cannot be estimated gets an empty field. A ``horizon`` column (an
    audit at several horizons, :func:`~radiorisk.evaluation.stack_audit_tables`) is
    written first.

    Parameters
    ----------
    metrics : DataFrame
        The output of :func:`compute_metrics`.
    path : path-like
        The file to write (its folder must exist).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> m = pd.DataFrame([("overall", "all", "brier", 0.1, np.nan, np.nan, 10, 3)],
    ...                  columns=list(METRICS_COLUMNS))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     print(write_metrics_csv(m, Path(d) / "metrics.csv").read_text().splitlines()[1])
    overall,all,brier,0.1,,,10,3
    """
    missing = [c for c in METRICS_COLUMNS if c not in metrics.columns]
    if missing:
        raise ValueError(f"metrics lacks column(s) {missing}")
    path = Path(path)
    out = pd.DataFrame({
        "attribute": metrics["attribute"].astype(str),
        "group": metrics["group"].astype(str),
        "metric": metrics["metric"].astype(str),
        "estimate": [_fmt(v) for v in metrics["estimate"]],
        "ci_low": [_fmt(v) for v in metrics["ci_low"]],
        "ci_high": [_fmt(v) for v in metrics["ci_high"]],
        "n": metrics["n"].astype(int).astype(str),
        "events": metrics["events"].astype(int).astype(str),
    })
    if "horizon" in metrics.columns:
        out.insert(0, "horizon", [_fmt(v) for v in metrics["horizon"]])
    atomic_write_csv(path, out)
    return path
