"""Calibration tables, smooth calibration curves and decision curves (computation only).

Every function returns a DataFrame; plotting belongs to the ``*Display`` classes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..stats import (
    Z_975,
    NotEstimableError,
    check_binary_inputs,
    check_horizon,
    check_survival_inputs,
    check_thresholds,
    cloglog,
    cox_cumulative_hazard_se,
    fit_rcs_calibration,
    kaplan_meier_risk,
    loess_fit,
    net_benefit_curve,
    rcs_basis,
)

__all__ = [
    "calibration_table",
    "survival_calibration_table",
    "calibration_curve",
    "survival_calibration_curve",
    "net_benefit",
    "survival_net_benefit",
]


def _risk_bins(p: np.ndarray, n_bins: int, min_per_bin: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index per row and the edges: type-7 quantiles, ``(a, b]``, lowest included."""
    if n_bins < 1 or min_per_bin < 1:
        raise ValueError(f"n_bins and min_per_bin must be >= 1; got {n_bins}, {min_per_bin}")
    g = min(n_bins, max(1, len(p) // min_per_bin))
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, g + 1)))
    if len(edges) == 1:
        return np.zeros(len(p), dtype=int), np.array([edges[0], edges[0]])
    idx = np.clip(np.searchsorted(edges[1:-1], p, side="left"), 0, len(edges) - 2)
    return idx, edges


def _bin_label(lo: float, hi: float, first: bool) -> str:
    return f"{'[' if first else '('}{lo:.4g},{hi:.4g}]"


def _wilson(k: float, n: int, z: float = Z_975) -> tuple[float, float]:
    p = k / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, mid - half)), float(min(1.0, mid + half))


def calibration_table(y_true, y_prob, *, n_bins: int = 10, min_per_bin: int = 20) -> pd.DataFrame:
    r"""Observed against predicted risk by group of predicted risk (deciles by default).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability.
    n_bins : int
        Number of quantile groups. Edges are the type-7 quantiles of ``y_prob``
        (duplicates merged); intervals are ``(a, b]`` with the lowest value
        included, as R's ``cut(p, quantile(p, 0:g/g), include.lowest = TRUE)``.
    min_per_bin : int
        Small data get fewer groups: :math:`g = \min(n\_bins, \lfloor n / min\_per\_bin \rfloor)`
        (at least 1), as the referee's R script does.

    Returns
    -------
    DataFrame
        One row per bin: ``bin, lower, upper, n, events, mean_predicted,
        observed, ci_low, ci_high`` (Wilson score 95 % interval of the observed
        proportion, as ``Hmisc::binconf``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.5, 500)
    >>> tab = calibration_table(rng.binomial(1, p), p)
    >>> len(tab), int(tab["n"].sum())
    (10, 500)
    """
    y, p = check_binary_inputs(y_true, y_prob)
    idx, edges = _risk_bins(p, n_bins, min_per_bin)
    rows = []
    for k in range(len(edges) - 1):
        m = idx == k
        n = int(m.sum())
        ev = float(y[m].sum())
        lo, hi = _wilson(ev, n) if n else (np.nan, np.nan)
        rows.append({
            "bin": _bin_label(edges[k], edges[k + 1], k == 0), "lower": edges[k], "upper": edges[k + 1],
            "n": n, "events": int(ev), "mean_predicted": float(p[m].mean()) if n else np.nan,
            "observed": ev / n if n else np.nan, "ci_low": lo, "ci_high": hi,
        })
    return pd.DataFrame(rows)


def survival_calibration_table(time, event, risk, *, horizon, n_bins: int = 10,
                               min_per_bin: int = 20) -> pd.DataFrame:
    """Kaplan-Meier observed risk against mean predicted risk by risk group.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator and predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.
    n_bins, min_per_bin : int
        Number of quantile groups and minimum group size (binning as
        :func:`calibration_table`).

    Returns
    -------
    DataFrame
        ``bin, lower, upper, n, events`` (events by :math:`t_0`),
        ``mean_predicted``, ``observed`` (:math:`1 - S_{KM}(t_0)` within the bin)
        and its 95 % ``ci_low, ci_high`` (``survfit`` ``conf.type = "log-log"``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = rng.uniform(0.05, 0.5, 500)
    >>> t = rng.exponential(-5 / np.log1p(-r))
    >>> tab = survival_calibration_table(np.minimum(t, 8), (t <= 8).astype(int), r, horizon=5)
    >>> list(tab.columns[:5])
    ['bin', 'lower', 'upper', 'n', 'events']
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    idx, edges = _risk_bins(r, n_bins, min_per_bin)
    rows = []
    for k in range(len(edges) - 1):
        m = idx == k
        km = kaplan_meier_risk(t[m], e[m], horizon=t0, conf_type="log-log")
        rows.append({
            "bin": _bin_label(edges[k], edges[k + 1], k == 0), "lower": edges[k], "upper": edges[k + 1],
            "n": int(m.sum()), "events": int(np.sum((e[m] == 1) & (t[m] <= t0))),
            "mean_predicted": float(r[m].mean()), "observed": km.estimate,
            "ci_low": km.ci_low, "ci_high": km.ci_high,
        })
    return pd.DataFrame(rows)


def _default_grid(p: np.ndarray, n_points: int) -> np.ndarray:
    lo, hi = np.quantile(p, [0.01, 0.99])
    return np.linspace(lo, hi, n_points)


def calibration_curve(y_true, y_prob, *, grid=None, n_points: int = 50,
                      level: float = 0.95) -> pd.DataFrame:
    """Smooth calibration curve (R's default loess) with a pointwise confidence band.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability.
    grid : array-like, optional
        Predicted probabilities at which to evaluate the curve; by default
        ``n_points`` equally spaced values from the 1st to the 99th percentile
        of ``y_prob`` (loess with ``surface = "interpolate"`` does not extrapolate).
    n_points : int
        Size of the default grid.
    level : float
        Confidence level of the band.

    Returns
    -------
    DataFrame
        ``predicted, observed, ci_low, ci_high``: the loess fit of ``loess(y ~ p)``
        (span 0.75, degree 2) and ``predict(..., se = TRUE)``'s t-based band.
        Values are not clipped to [0, 1].

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.5, 400)
    >>> curve = calibration_curve(rng.binomial(1, p), p, n_points=5)
    >>> curve.shape
    (5, 4)
    """
    y, p = check_binary_inputs(y_true, y_prob)
    g = _default_grid(p, n_points) if grid is None else np.asarray(grid, dtype=np.float64)
    fit = loess_fit(p, y)
    pred = fit.predict(g, stderror=True)
    ci = pred.confidence(alpha=1.0 - level)
    return pd.DataFrame({"predicted": g, "observed": np.asarray(pred.values, float),
                         "ci_low": np.asarray(ci.lower, float), "ci_high": np.asarray(ci.upper, float)})


def survival_calibration_curve(time, event, risk, *, horizon, grid=None, n_points: int = 50,
                               level: float = 0.95) -> pd.DataFrame:
    """Smooth calibration curve at the horizon from the rcs-cloglog Cox model, with a band.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator and predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.
    grid : array-like, optional
        Predicted risks at which to evaluate the curve (default: ``n_points``
        equally spaced from the 1st to the 99th percentile of ``risk``).
    n_points : int
        Size of the default grid.
    level : float
        Confidence level of the band.

    Returns
    -------
    DataFrame
        ``predicted, observed, ci_low, ci_high``. ``observed`` is the model of
        :func:`cox_calibration` (Austin, Harrell & van Klaveren 2020). The band
        is a Wald interval for :math:`\\log H(t_0 \\mid x)` with the
        Tsiatis/Andersen variance (Breslow-type terms, as ``survfit.coxph``),
        mapped to the risk scale.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = rng.uniform(0.05, 0.5, 500)
    >>> t = rng.exponential(-5 / np.log1p(-r))
    >>> c = survival_calibration_curve(np.minimum(t, 8), (t <= 8).astype(int), r, horizon=5, n_points=3)
    >>> bool((c["ci_low"] <= c["observed"]).all() and (c["observed"] <= c["ci_high"]).all())
    True
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    if not np.any((e == 1) & (t <= t0)):
        raise NotEstimableError(f"no event at or before the horizon t0 = {t0:g}")
    model = fit_rcs_calibration(t, e, r, horizon=t0)
    g = _default_grid(r, n_points) if grid is None else np.asarray(grid, dtype=np.float64)
    Xg = rcs_basis(cloglog(g), model.knots)
    X = rcs_basis(cloglog(r), model.knots)
    H, se = cox_cumulative_hazard_se(model.fit, X, t, e, t0, Xg)
    z = norm.ppf(0.5 + level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = z * se / H
    return pd.DataFrame({
        "predicted": g, "observed": -np.expm1(-H),
        "ci_low": -np.expm1(-H * np.exp(-half)), "ci_high": -np.expm1(-H * np.exp(half)),
    })


def _default_thresholds(thresholds) -> np.ndarray:
    return check_thresholds(np.round(np.arange(1, 51) / 100.0, 10) if thresholds is None else thresholds)


def net_benefit(y_true, y_prob, *, thresholds=None) -> pd.DataFrame:
    r"""Decision curve: net benefit of the model against treat-all and treat-none.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Observed outcome, 0/1.
    y_prob : array-like of shape (n,)
        Predicted probability.
    thresholds : array-like, optional
        Threshold probabilities :math:`p_t` (default 0.01, 0.02, ..., 0.50).

    Returns
    -------
    DataFrame
        ``threshold, model, treat_all, treat_none, n_treated``.

    Notes
    -----
    Treating everyone with :math:`p \ge p_t`,
    :math:`NB = TP/n - FP/n \cdot p_t/(1 - p_t)` (Vickers & Elkin 2006);
    treat-all uses the prevalence :math:`\pi`:
    :math:`\pi - (1 - \pi)\, p_t/(1 - p_t)`; treat-none is 0.

    Examples
    --------
    >>> nb = net_benefit([0, 1, 1, 0], [0.1, 0.8, 0.4, 0.3], thresholds=[0.2])
    >>> round(float(nb["model"].iloc[0]), 4)
    0.4375
    """
    y, p = check_binary_inputs(y_true, y_prob)
    th = _default_thresholds(thresholds)
    return _nb_frame(net_benefit_curve(p, thresholds=th, y=y), p)


def _nb_frame(nb, risk) -> pd.DataFrame:
    f = nb.to_frame().drop(columns="treated")
    f["n_treated"] = (risk[None, :] >= nb.threshold[:, None]).sum(axis=1)
    return f


def survival_net_benefit(time, event, risk, *, horizon, thresholds=None) -> pd.DataFrame:
    r"""Decision curve at the horizon with Kaplan-Meier risks (Vickers et al. 2008).

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator and predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.
    thresholds : array-like, optional
        Threshold probabilities (default 0.01, ..., 0.50).

    Returns
    -------
    DataFrame
        ``threshold, model, treat_all, treat_none, n_treated``.

    Notes
    -----
    With :math:`q = P(r \ge p_t)` and :math:`S_+` the Kaplan-Meier survival at
    :math:`t_0` among those with :math:`r \ge p_t`:
    :math:`NB = (1 - S_+) q - S_+ q \, p_t/(1 - p_t)` (0 when nobody is treated);
    treat-all uses the whole sample's :math:`S_{KM}(t_0)`:
    :math:`(1 - S) - S\, p_t/(1 - p_t)`.

    Examples
    --------
    >>> nb = survival_net_benefit([1, 2, 3, 4], [1, 0, 1, 0], [0.6, 0.2, 0.5, 0.1],
    ...                           horizon=3.5, thresholds=[0.3])
    >>> round(float(nb["model"].iloc[0]), 4)
    0.5
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    return _nb_frame(net_benefit_curve(r, thresholds=_default_thresholds(thresholds), time=t, event=e,
                                       horizon=t0), r)
