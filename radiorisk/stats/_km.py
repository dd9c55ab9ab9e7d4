"""Kaplan-Meier estimates: the survival of the times, the censoring survival G, the risk by t0.

At a time with both events and censorings, :math:`G` lets the subjects with events leave
the risk set first (prodlim / ``survival::concordance``); :math:`S_{KM}` is
``survfit(Surv(time, event) ~ 1)``.
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


def _counts(time, event):
    uniq, inv = np.unique(time, return_inverse=True)
    n_at = np.bincount(inv, minlength=len(uniq))
    d = np.bincount(inv, weights=event, minlength=len(uniq))
    c = n_at - d
    at_risk = np.cumsum(n_at[::-1])[::-1]
    return uniq, at_risk.astype(np.float64), d, c


def _km(time, event) -> tuple[StepFunction, np.ndarray, np.ndarray, np.ndarray]:
    uniq, Y, d, _ = _counts(time, event)
    keep = d > 0
    S = np.cumprod(1.0 - d[keep] / Y[keep])
    return StepFunction(uniq[keep], S), uniq[keep], Y[keep], d[keep]


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
    G = np.cumprod(1.0 - c[keep] / (Y[keep] - d[keep]))
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
