"""Analytic confidence intervals of the observed-to-expected ratio (the audit's fallback CI).

A percentile bootstrap of O/E is degenerate in a group with no or very few events (every
replicate is 0, the interval is "0 to 0" and seems to exclude 1). :func:`oe_interval`
gives the interval the audit uses then, and when there is no bootstrap (``n_boot = 0``):

* binary ``oe_ratio``: the exact (Garwood) Poisson limits of the observed number of
  events, :math:`\\chi^2_{\\alpha/2, 2k}/2` and :math:`\\chi^2_{1-\\alpha/2, 2k+2}/2`, over
  the expected number :math:`\\sum_i p_i`;
* survival ``oe_ratio_t``: the Kaplan-Meier risk's CI
  (:func:`~radiorisk.stats.kaplan_meier_risk`, ``conf_type="log-log"``) over the mean
  predicted risk;
* competing-risk ``oe_ratio_cr``: the Aalen-Johansen CI at the horizon
  (:func:`~radiorisk.stats.aalen_johansen`) over the mean predicted risk.

An interval of zero width (no events by the horizon) is no interval: NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from ..stats import NotEstimableError, aalen_johansen, kaplan_meier_risk

__all__ = ["OE_METRICS", "oe_interval"]

#: The O/E metrics that get the analytic fallback interval.
OE_METRICS = ("oe_ratio", "oe_ratio_t", "oe_ratio_cr")
_METHOD = {
    "oe_ratio": "exact Poisson (Garwood) CI of the events / expected events",
    "oe_ratio_t": "Kaplan-Meier log-log CI of the observed risk / mean predicted risk",
    "oe_ratio_cr": "Aalen-Johansen CI of the observed risk / mean predicted risk",
}


def oe_interval(metric: str, risk, *, y=None, time=None, event=None, horizon=None,
                level: float = 0.95) -> tuple[float, float, str]:
    """Analytic CI of an O/E ratio: ``(ci_low, ci_high, method)``.

    Parameters
    ----------
    metric : {"oe_ratio", "oe_ratio_t", "oe_ratio_cr"}
    risk : array-like of shape (n,)
        Predicted risk (by ``horizon`` for survival data).
    y : array-like of shape (n,), optional
        Binary outcome (``oe_ratio``).
    time, event : array-like of shape (n,), optional
        Follow-up and event indicator (``oe_ratio_t``) or status 0/1/2 (``oe_ratio_cr``).
    horizon : float, optional
        :math:`t_0` (survival and competing risks).
    level : float
        Confidence level. The Kaplan-Meier and Aalen-Johansen intervals are 95 %
        intervals: at another level they are NaN.

    Returns
    -------
    tuple of (float, float, str)
        The limits (NaN when there is no interval, e.g. no events by :math:`t_0` in
        survival data) and a sentence naming the interval (and why it is missing).

    Examples
    --------
    >>> lo, hi, how = oe_interval("oe_ratio", [0.1] * 20, y=[0] * 20)
    >>> round(lo, 3), round(hi, 3), how
    (0.0, 1.844, 'analytic CI: exact Poisson (Garwood) CI of the events / expected events')
    """
    if metric not in _METHOD:
        raise ValueError(f"metric must be one of {OE_METRICS}; got {metric!r}")
    r = np.asarray(risk, dtype=np.float64)
    how = f"analytic CI: {_METHOD[metric]}"
    if metric == "oe_ratio":
        k, expected = float(np.sum(y)), float(np.sum(r))
        a = 1.0 - level
        lo = chi2.ppf(a / 2, 2 * k) / 2 if k > 0 else 0.0
        hi = chi2.ppf(1 - a / 2, 2 * k + 2) / 2
        return _ratio(float(lo), float(hi), expected, how)
    if not np.isclose(level, 0.95, rtol=0, atol=1e-12):
        return np.nan, np.nan, f"no analytic CI at level {level:g} ({_METHOD[metric]} is a 95 % interval)"
    try:
        est = (kaplan_meier_risk(time, event, horizon=horizon, conf_type="log-log")
               if metric == "oe_ratio_t" else aalen_johansen(time, event, horizon=horizon).at_horizon)
    except (NotEstimableError, ValueError) as exc:
        return np.nan, np.nan, f"no analytic CI: {exc}"
    return _ratio(est.ci_low, est.ci_high, float(np.mean(r)), how)


def _ratio(lo: float, hi: float, denominator: float, how: str) -> tuple[float, float, str]:
    if not (denominator > 0 and np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
        return np.nan, np.nan, "no analytic CI (no events by the horizon, or no expected events)"
    return lo / denominator, hi / denominator, how
