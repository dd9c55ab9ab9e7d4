"""The subgroup audit table: every metric, overall and per group, in the ``metrics.csv`` shape."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .._files import atomic_write_csv
from ..stats._common import (
    check_binary_inputs,
    check_horizon,
    check_survival_inputs,
)
from ._bootstrap import binary_replicates, percentile_interval, survival_replicates
from ._values import BINARY_METRICS, SURVIVAL_METRICS, _binary_values, _survival_values

__all__ = [
    "BINARY_METRICS",
    "SURVIVAL_METRICS",
    "METRICS_COLUMNS",
    "MISSING_GROUP_LABELS",
    "compute_metrics",
    "write_metrics_csv",
]

METRICS_COLUMNS = ("attribute", "group", "metric", "estimate", "ci_low", "ci_high", "n", "events")
#: Group values that mean "unknown": such rows are left out of that attribute's groups.
MISSING_GROUP_LABELS = frozenset({"", "NA"})

def _group_labels(col: pd.Series) -> pd.Series:
    """Labels as strings; missing (NaN, "", "NA") as None."""
    lab = col.astype(object).where(col.notna(), None)
    lab = lab.map(lambda v: None if v is None else str(v))
    return lab.where(~lab.isin(MISSING_GROUP_LABELS), None)


def _subsets(df: pd.DataFrame, groups: Sequence[str]):
    yield "overall", "all", np.arange(len(df))
    for g in groups:
        lab = _group_labels(df[g])
        for level in sorted({v for v in lab if v is not None}):
            yield g, level, np.flatnonzero((lab == level).to_numpy())


def _strata(df: pd.DataFrame, groups: Sequence[str]) -> np.ndarray:
    """Bootstrap strata: the cells of all group columns (a missing label is a cell of its own)."""
    if not groups:
        return np.zeros(len(df), dtype=int)
    labs = [_group_labels(df[g]).fillna("\x00").astype(str).to_numpy() for g in groups]
    return np.array(["\x01".join(c) for c in zip(*labs, strict=True)])


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

    Returns
    -------
    DataFrame
        Columns ``attribute, group, metric, estimate, ci_low, ci_high, n, events``,
        one row per (attribute, group, metric); ``attribute = "overall"`` and
        ``group = "all"`` for the whole data. ``estimate`` is NaN where the metric
        cannot be estimated. ``n`` counts the subset's rows; ``events`` is
        ``sum(y)`` (binary) or the number of events at or before :math:`t_0`.

    Notes
    -----
    Every number of a subset is computed from that subset's rows alone
    (censoring distribution, Kaplan-Meier, loess and calibration model
    included). Binary metrics: :data:`BINARY_METRICS`; survival metrics:
    :data:`SURVIVAL_METRICS`; definitions in the single-metric functions and
    in the referee README. Analytic CIs: ``auc`` (DeLong), ``cal_intercept``
    and ``cal_slope`` (Wald), ``td_auc`` and ``brier_t`` (``riskRegression::Score``'s
    influence function).

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
    r = np.asarray(df[risk_col], dtype=np.float64)
    if survival:
        t0 = check_horizon(horizon)
        t = np.asarray(df[time_col], dtype=np.float64)
        e = np.asarray(df[event_col], dtype=np.float64)
        check_survival_inputs(t, e, r)

        def values(idx):
            return _survival_values(t[idx], e[idx], r[idx], t0)

        def n_events(idx):
            return int(np.sum((e[idx] == 1) & (t[idx] <= t0)))

        names = SURVIVAL_METRICS
    else:
        y = np.asarray(df[outcome_col], dtype=np.float64)
        check_binary_inputs(y, r)

        def values(idx):
            return _binary_values(y[idx], r[idx])

        def n_events(idx):
            return int(np.sum(y[idx]))

        names = BINARY_METRICS

    subsets = list(_subsets(df, groups))
    if n_boot > 0:
        strata = _strata(df, groups)
        idxs = [s[2] for s in subsets]
        if survival:
            boot = survival_replicates(t, e, r, horizon=t0, subsets=idxs, strata=strata, n_boot=n_boot,
                                       random_state=random_state)
        else:
            boot = binary_replicates(y, r, subsets=idxs, strata=strata, n_boot=n_boot,
                                     random_state=random_state)
        ci_lo, ci_hi = percentile_interval(boot)
    rows = []
    for g, (attr, level, idx) in enumerate(subsets):
        vals = values(idx)
        if n_boot > 0:
            vals = {m: (vals[m][0], ci_lo[g, k], ci_hi[g, k]) for k, m in enumerate(names)}
        ev = n_events(idx)
        for m in names:
            est, cl, ch = vals[m]
            rows.append((attr, level, m, est, cl, ch, len(idx), ev))
    out = pd.DataFrame(rows, columns=list(METRICS_COLUMNS))
    return out.astype({"estimate": float, "ci_low": float, "ci_high": float, "n": int, "events": int})


def _fmt(v) -> str:
    if v is None or not np.isfinite(v):
        return ""
    return np.format_float_positional(float(v), unique=True, trim="-")


def write_metrics_csv(metrics: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a :func:`compute_metrics` table as ``metrics.csv``, atomically.

    Numbers are written as plain decimals at full (round-trip) precision; a
    metric that cannot be estimated gets an empty field.

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
    atomic_write_csv(path, out)
    return path
