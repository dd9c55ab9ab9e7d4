"""Kaplan-Meier estimates: the survival of the times, the censoring survival G, the risk by t0.

At a time with both events and censorings, :math:`G` lets the subjects with events leave
the risk set first (prodlim / ``survival::concordance``); :math:`S_{KM}` is
``survfit(Surv(time, event) ~ 1)``.

One definition of each piece, shared by the point estimates and the bootstrap:

- :func:`at_risk_from_counts`: the risk set :math:`Y_k` from the rows leaving at each time;
- :func:`km_factors`: the Kaplan-Meier factors :math:`1 - d_k / Y_k` (1 where no event);
- :func:`censoring_km_factors`: the factors :math:`1 - c_k / (Y_k - d_k)` of :math:`G`.

Every array may carry replicates in extra columns (times x replicates); the
one-sample estimate is the 1-column case. :func:`kaplan_meier` (the curve),
:func:`kaplan_meier_at` (the value at :math:`t_0`, with case weights, per column),
:func:`censoring_survival`, :func:`kaplan_meier_risk` and :func:`median_follow_up`
are built from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import (
    Z_975,
    Estimate,
    NotEstimableError,
    check_horizon,
)
from ._linalg import sqrt_variance

__all__ = [
    "StepFunction",
    "at_risk_from_counts",
    "censoring_km_factors",
    "censoring_survival",
    "kaplan_meier",
    "kaplan_meier_at",
    "kaplan_meier_risk",
    "km_factors",
    "median_follow_up",
]


@dataclass(frozen=True)
class StepFunction:
    """A right-continuous step function starting at 1 (a survival curve).

    Attributes
    ----------
    x : ndarray
        Jump times, increasing.
    y : ndarray
        Values from each jump time on (``y[k]`` on ``[x[k], x[k+1])``).
    """

    x: np.ndarray
    y: np.ndarray

    def at(self, t) -> np.ndarray:
        """Value at ``t`` (right-continuous: jumps at ``t`` included)."""
        vals = np.concatenate([[1.0], self.y])
        return vals[np.searchsorted(self.x, np.asarray(t, dtype=np.float64), side="right")]

    def before(self, t) -> np.ndarray:
        """Left limit at ``t`` (jumps at ``t`` excluded)."""
        vals = np.concatenate([[1.0], self.y])
        return vals[np.searchsorted(self.x, np.asarray(t, dtype=np.float64), side="left")]


def at_risk_from_counts(counts, total) -> np.ndarray:
    r"""Risk-set sizes :math:`Y_k = n - \sum_{j<k} N_j` from the rows at each distinct time.

    Parameters
    ----------
    counts : ndarray of shape (m,) or (m, B)
        :math:`N_k`: the (weighted) rows whose time is the k-th distinct time, in time
        order; columns are replicates.
    total : float or ndarray of shape (B,)
        :math:`n`: the (weighted) number of rows, those after the last time included.

    Returns
    -------
    ndarray, the shape of ``counts``

    Examples
    --------
    >>> at_risk_from_counts(np.array([2.0, 1.0, 3.0]), 6.0).tolist()
    [6.0, 4.0, 3.0]
    """
    return total - (np.cumsum(counts, axis=0) - counts)


def km_factors(events, at_risk) -> np.ndarray:
    r"""Kaplan-Meier factors :math:`1 - d_k / Y_k` (exactly 1 where :math:`d_k = 0`).

    Parameters
    ----------
    events : ndarray of shape (m,) or (m, B)
        :math:`d_k`, the (weighted) events at each distinct time.
    at_risk : ndarray, the shape of ``events``
        :math:`Y_k` (:func:`at_risk_from_counts`).

    Returns
    -------
    ndarray
        Their cumulative product down the times is :math:`S_{KM}`; an empty risk set
        without events gives 1, not NaN.

    Examples
    --------
    >>> km_factors(np.array([1.0, 0.0, 1.0]), np.array([4.0, 3.0, 2.0])).tolist()
    [0.75, 1.0, 0.5]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(events > 0, 1.0 - events / at_risk, 1.0)


def censoring_km_factors(censored, events, at_risk) -> np.ndarray:
    r"""Factors :math:`1 - c_k / (Y_k - d_k)` of the censoring survival :math:`G` (events first).

    Parameters
    ----------
    censored, events, at_risk : ndarray of shape (m,) or (m, B)
        :math:`c_k`, :math:`d_k` and :math:`Y_k` at each distinct time.

    Returns
    -------
    ndarray
        Exactly 1 where :math:`c_k = 0`; their cumulative product is :math:`G`.

    Examples
    --------
    >>> censoring_km_factors(np.array([0.0, 1.0]), np.array([1.0, 1.0]), np.array([4.0, 3.0])).tolist()
    [1.0, 0.5]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(censored > 0, 1.0 - censored / (at_risk - events), 1.0)


def _counts(time, event):
    uniq, inv = np.unique(time, return_inverse=True)
    n_at = np.bincount(inv, minlength=len(uniq))
    d = np.bincount(inv, weights=event, minlength=len(uniq))
    c = n_at - d
    at_risk = at_risk_from_counts(n_at, len(time))
    return uniq, at_risk.astype(np.float64), d, c


def _km(time, event) -> tuple[StepFunction, np.ndarray, np.ndarray, np.ndarray]:
    uniq, Y, d, _ = _counts(time, event)
    keep = d > 0
    S = np.cumprod(km_factors(d, Y))[keep]
    return StepFunction(uniq[keep], S), uniq[keep], Y[keep], d[keep]


def kaplan_meier(time, event) -> StepFunction:
    r"""Kaplan-Meier survival curve :math:`S_{KM}` (``survfit(Surv(time, event) ~ 1)``).

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times.
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.

    Returns
    -------
    StepFunction
        Jumps at the event times; ``.at(t)`` is :math:`S_{KM}(t)`.

    Examples
    --------
    >>> kaplan_meier([1, 2, 3, 4], [1, 0, 1, 0]).at([1, 3]).tolist()
    [0.75, 0.375]
    """
    return _km(np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.float64))[0]


def kaplan_meier_at(time, event, horizon, weights=None):
    r"""Kaplan-Meier survival :math:`S_{KM}(t_0)` with case weights, per column of weights.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times.
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.
    horizon : float
        :math:`t_0`; events at :math:`t_0` count.
    weights : array-like of shape (n,) or (n, B), optional
        Case weights (e.g. bootstrap counts, one column per replicate, or
        membership probabilities); default 1.

    Returns
    -------
    float or ndarray of shape (B,)
        A float unless ``weights`` is 2-D; NaN for a column of total weight 0 (or no row).

    Notes
    -----
    :math:`\prod_{t_k \le t_0} (1 - d_k / Y_k)` with :math:`d_k` and :math:`Y_k` the
    weighted events and risk set (:func:`km_factors`, :func:`at_risk_from_counts`);
    with weights 1 it equals :func:`kaplan_meier` at :math:`t_0`.

    Examples
    --------
    >>> kaplan_meier_at([1, 2, 3, 4], [1, 0, 1, 0], 3)
    0.375
    >>> kaplan_meier_at([1, 2, 3, 4], [1, 0, 1, 0], 3, np.array([[1, 2], [1, 0], [1, 1], [1, 1]])).tolist()
    [0.375, 0.25]
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    t0 = float(horizon)
    W = np.ones((len(t), 1)) if weights is None else np.asarray(weights, dtype=np.float64)
    if W.ndim == 1:
        W = W[:, None]
    S = _km_at_columns(t, e, W, t0)
    return float(S[0]) if weights is None or np.ndim(weights) == 1 else S


def _km_at_columns(t, e, W, t0) -> np.ndarray:
    B = W.shape[1]
    if len(t) == 0:
        return np.full(B, np.nan)
    sel = t <= t0
    u, inv = np.unique(t[sel], return_inverse=True)
    if len(u) == 0:
        return np.where(W.sum(axis=0) > 0, 1.0, np.nan)
    Ws = W[sel]
    N = np.zeros((len(u), B))
    D = np.zeros((len(u), B))
    np.add.at(N, inv, Ws)
    np.add.at(D, inv, Ws * e[sel][:, None])
    tot = W.sum(axis=0)
    f = km_factors(D, at_risk_from_counts(N, tot[None, :]))
    return np.where(tot > 0, np.prod(f, axis=0), np.nan)


def median_follow_up(time, event) -> float:
    r"""Median potential follow-up: the median of the reverse Kaplan-Meier (events censor it).

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times.
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.

    Returns
    -------
    float
        The first time at which the Kaplan-Meier estimate of the censoring times
        (``survfit(Surv(time, 1 - event) ~ 1)``) is at or below 0.5; NaN if it never is.

    Examples
    --------
    >>> median_follow_up([1, 2, 3, 4, 5], [1, 0, 0, 1, 0])
    3.0
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    S = _km(t, 1 - e)[0]
    below = np.flatnonzero(S.y <= 0.5)
    return float(S.x[below[0]]) if len(below) else float("nan")


def censoring_survival(time, event) -> StepFunction:
    r"""Kaplan-Meier estimate :math:`G` of the censoring distribution, events leaving first.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (> 0).
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.

    Returns
    -------
    StepFunction
        ``.at(t)`` is :math:`G(t)`, ``.before(t)`` is :math:`G(t-)`.

    Notes
    -----
    .. math::

        G(t) = \prod_{s \le t,\ c(s) > 0} \Big[ 1 - \frac{c(s)}{Y(s) - d(s)} \Big],

    with :math:`Y(s) = \#\{T \ge s\}` and :math:`d(s)`, :math:`c(s)` the events
    and censorings at :math:`s`: at a time shared by events and censorings the
    events leave the risk set first, as in ``prodlim`` (``riskRegression``)
    and ``survival::concordance``.

    Examples
    --------
    >>> G = censoring_survival([1, 2, 2, 3, 4], [1, 1, 0, 0, 1])
    >>> G.at([1, 2, 3]).round(4).tolist()
    [1.0, 0.6667, 0.3333]
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    uniq, Y, d, c = _counts(t, e)
    keep = c > 0
    G = np.cumprod(censoring_km_factors(c, d, Y))[keep]
    return StepFunction(uniq[keep], G)


def kaplan_meier_risk(time, event, *, horizon, conf_type: str = "log") -> Estimate:
    r"""Kaplan-Meier risk :math:`1 - S_{KM}(t_0)` with a 95 % CI.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (> 0).
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.
    horizon : float
        :math:`t_0`; events at :math:`t_0` count (right-continuous estimate).
    conf_type : {"log", "log-log"}
        ``survfit``'s ``conf.type`` for the interval of :math:`S(t_0)`, turned
        into risks. "log": :math:`S\exp(\pm 1.96\,\sigma)` (R's default);
        "log-log": :math:`S^{\exp(\pm 1.96\,\sigma / \log S)}`, which stays
        inside (0, 1); as in R it is undefined (NaN) when :math:`S(t_0) = 1`,
        unless :math:`t_0` precedes every time (then [0, 0]). :math:`\sigma^2 = \sum_{t_k \le t_0} d_k / (Y_k (Y_k - d_k))`
        (Greenwood).

    Returns
    -------
    Estimate
        The risk :math:`1 - S_{KM}(t_0)`, its Greenwood SE and the 95 % CI.

    Examples
    --------
    >>> kaplan_meier_risk([1, 2, 3, 4], [1, 0, 1, 0], horizon=3).estimate
    0.625
    """
    t0 = check_horizon(horizon)
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    if len(t) == 0:
        raise NotEstimableError("no observations")
    S, times, Y, d = _km(t, e)
    s = float(S.at(t0))
    sel = times <= t0
    with np.errstate(divide="ignore"):
        var_log = float(np.sum(d[sel] / (Y[sel] * (Y[sel] - d[sel]))))
    if conf_type not in ("log", "log-log"):
        raise ValueError(f"conf_type must be 'log' or 'log-log'; got {conf_type!r}")
    # S = 0 with an infinite Greenwood term (everyone failed): R's std.err is NaN, not 0 x inf
    sd = float(sqrt_variance(var_log))
    se = s * sd if np.isfinite(var_log) else float("nan")
    ci = (float("nan"), float("nan"))
    if conf_type == "log" and s > 0 and np.isfinite(var_log):
        lo_s, hi_s = s * np.exp(-Z_975 * sd), min(1.0, s * np.exp(Z_975 * sd))
        ci = (1.0 - hi_s, 1.0 - lo_s)
    elif conf_type == "log-log" and s == 1.0 and not np.any(t <= t0):
        ci = (0.0, 0.0)  # t0 precedes every time: survfit reports the start values
    elif conf_type == "log-log" and 0 < s < 1 and np.isfinite(var_log):
        a = Z_975 * sd / np.log(s)
        ci = (1.0 - s ** np.exp(a), 1.0 - s ** np.exp(-a))
    return Estimate(1.0 - s, float(se), float(ci[0]), float(ci[1]),
                    f"1 - survfit(Surv(time, event) ~ 1) at t0; conf.type='{conf_type}'")
