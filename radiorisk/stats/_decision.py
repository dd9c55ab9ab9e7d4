"""Decision curves: net benefit at threshold probabilities (binary, survival, competing risks).

The formulas of Vickers & Elkin (2006) and, for outcomes observed over time, of Vickers et al.
(2008, BMC Med Inform Decis Mak 8:53) as R ``dcurves::dca`` computes them for ``Surv`` outcomes:
treated is ``risk >= pt`` (dcurves' rule, and the audit's ``--threshold`` rule), the observed
risk by :math:`t_0` is :math:`1 - S_{KM}` or, with competing risks, the Aalen-Johansen cumulative
incidence of cause 1. Every function takes case weights with one column per bootstrap replicate,
so the audit's bootstrap evaluates a block of replicates at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._aalen_johansen import aalen_johansen_at
from ._km import at_risk_from_counts, kaplan_meier_at, km_factors

__all__ = ["NetBenefit", "check_thresholds", "net_benefit_curve", "observed_risk_at", "threshold_grid"]


def check_thresholds(thresholds) -> np.ndarray:
    """Threshold probabilities as a 1-D float array, each strictly between 0 and 1.

    Parameters
    ----------
    thresholds : array-like

    Returns
    -------
    ndarray

    Raises
    ------
    ValueError
        Empty, not 1-D, not finite or outside (0, 1) (naming the value).

    Examples
    --------
    >>> check_thresholds([0.1, 0.2]).tolist()
    [0.1, 0.2]
    """
    th = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if th.ndim != 1 or th.size == 0:
        raise ValueError("thresholds must be a non-empty 1-D sequence of probabilities")
    bad = ~np.isfinite(th) | (th <= 0) | (th >= 1)
    if bad.any():
        raise ValueError(f"thresholds must lie strictly between 0 and 1; got {float(th[np.argmax(bad)])!r}")
    return th


def threshold_grid(start: float, stop: float, step: float) -> np.ndarray:
    """The thresholds ``start, start + step, ..., stop`` (inclusive), rounded to 10 decimals.

    Rounding makes ``0.05 + 2 * 0.01`` the number ``0.07`` (a risk of exactly 0.07 is then
    treated at the threshold 0.07, as with R's ``round(seq(...), 10)``).

    Examples
    --------
    >>> threshold_grid(0.05, 0.3, 0.05).tolist()
    [0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    """
    if not step > 0:
        raise ValueError(f"step must be > 0; got {step}")
    if stop < start:
        raise ValueError(f"stop ({stop}) must be >= start ({start})")
    k = int(np.floor((stop - start) / step + 1e-9))
    return check_thresholds(np.round(start + step * np.arange(k + 1), 10))


def observed_risk_at(time, event, horizon, weights=None, *, competing_risks: bool = False):
    """Observed risk by :math:`t_0`: :math:`1 - S_{KM}(t_0)` or the Aalen-Johansen incidence of cause 1.

    Parameters
    ----------
    time, event : ndarray of shape (n,)
        ``event`` 0/1, or with ``competing_risks`` the status 0/1/2.
    horizon : float
    weights : ndarray of shape (n,) or (n, B), optional
        Case weights (one column per bootstrap replicate).
    competing_risks : bool

    Returns
    -------
    float or ndarray of shape (B,)
        NaN for a column of total weight 0.

    Examples
    --------
    >>> observed_risk_at(np.array([1., 2, 3, 4]), np.array([1., 0, 1, 0]), 3)
    0.625
    """
    if competing_risks:
        return aalen_johansen_at(time, event, horizon, weights)
    return 1.0 - kaplan_meier_at(time, np.asarray(event) == 1, horizon, weights)


def _observed_among_treated(t, e, r, th, t0, W, competing_risks) -> np.ndarray:
    """Observed risk by ``t0`` among ``risk >= pt`` for every threshold at once, shape (T, B).

    One pass of weighted counts per (distinct time, risk category) and a cumulative sum over the
    categories from the top: the same risk sets and factors as :func:`observed_risk_at` on each
    treated subset (:func:`~radiorisk.stats.at_risk_from_counts`, :func:`~radiorisk.stats.km_factors`).
    """
    order = np.argsort(th, kind="stable")
    ths = th[order]
    T, B = len(th), W.shape[1]
    cat = np.searchsorted(ths, r, side="right")  # thresholds <= risk: treated at sorted j iff cat > j
    tot = np.zeros((T + 1, B))
    np.add.at(tot, cat, W)
    tot_t = np.cumsum(tot[::-1], axis=0)[::-1][1:]  # T x B: weight treated at each threshold
    sel = t <= t0
    u, inv = np.unique(t[sel], return_inverse=True)
    out = np.full((T, B), np.nan)
    if len(u) == 0:
        out[tot_t > 0] = 0.0
        return out[np.argsort(order)]
    K = len(u)
    Ws, cs, es = W[sel], cat[sel], e[sel]
    cells = {}
    for name, w in (("N", Ws), ("D1", Ws * (es == 1)[:, None]), ("D2", Ws * (es == 2)[:, None])):
        a = np.zeros((K, T + 1, B))
        np.add.at(a, (inv, cs), w)
        cells[name] = np.cumsum(a[:, ::-1], axis=1)[:, ::-1][:, 1:]  # K x T x B, treated rows only
    Y = at_risk_from_counts(cells["N"], tot_t[None])
    with np.errstate(divide="ignore", invalid="ignore"):
        if competing_risks:
            S = np.cumprod(km_factors(cells["D1"] + cells["D2"], Y), axis=0)
            S_lag = np.concatenate([np.ones((1, T, B)), S[:-1]], axis=0)
            F = np.sum(np.where(cells["D1"] > 0, S_lag * cells["D1"] / Y, 0.0), axis=0)
        else:
            F = 1.0 - np.prod(km_factors(cells["D1"], Y), axis=0)
    out = np.where(tot_t > 0, F, np.nan)
    return out[np.argsort(order)]


@dataclass(frozen=True)
class NetBenefit:
    """Net benefit of a model, of treat-all and the share treated, per threshold.

    Attributes
    ----------
    threshold : ndarray of shape (T,)
    model, treat_all, treated : ndarray of shape (T,) or (T, B)
        Net benefit of treating ``risk >= threshold``, of treating everyone, and the
        share treated (one column per weight column when weights were given). Treat-none
        is 0.
    """

    threshold: np.ndarray
    model: np.ndarray
    treat_all: np.ndarray
    treated: np.ndarray

    def to_frame(self) -> pd.DataFrame:
        """``threshold, model, treat_all, treat_none, treated`` (one-column results only)."""
        cols = [np.asarray(v).reshape(len(self.threshold), -1)[:, 0]
                for v in (self.model, self.treat_all, self.treated)]
        return pd.DataFrame({"threshold": self.threshold, "model": cols[0], "treat_all": cols[1],
                             "treat_none": np.zeros(len(self.threshold)), "treated": cols[2]})


def net_benefit_curve(risk, *, thresholds, y=None, time=None, event=None, horizon=None,
                      competing_risks: bool = False, weights=None) -> NetBenefit:
    r"""Decision curve: net benefit of treating ``risk >= pt``, of treating all, at each threshold.

    Parameters
    ----------
    risk : ndarray of shape (n,)
        Predicted risk (by ``horizon`` for survival data; the cumulative incidence of cause 1
        with ``competing_risks``).
    thresholds : array-like of shape (T,)
        Threshold probabilities :math:`p_t` in (0, 1).
    y : ndarray of shape (n,), optional
        Binary outcome 0/1 (give ``y`` or ``time`` and ``event``).
    time, event : ndarray of shape (n,), optional
        Follow-up and event indicator (0/1; with ``competing_risks`` the status 0/1/2).
    horizon : float, optional
        :math:`t_0` (survival data).
    competing_risks : bool
        Observed risk = the Aalen-Johansen cumulative incidence of cause 1 (competing events
        are not censored).
    weights : ndarray of shape (n,) or (n, B), optional
        Case weights (bootstrap counts, one column per replicate).

    Returns
    -------
    NetBenefit
        1-D arrays without ``weights`` or with 1-D weights, else shape (T, B).

    Notes
    -----
    With :math:`q = P(r \ge p_t)` and :math:`F_+` the observed risk by :math:`t_0` among
    those treated (:math:`1 - S_{KM}`, or the Aalen-Johansen :math:`F_1`; the proportion
    with :math:`y = 1` for binary data),

    .. math::

        NB(p_t) = q F_+ - q (1 - F_+) \frac{p_t}{1 - p_t},

    0 when nobody is treated; treat-all uses the whole sample's observed risk :math:`F`:
    :math:`F - (1 - F) p_t / (1 - p_t)`. This is ``dcurves::dca`` (binary and ``Surv``
    outcomes; multi-state ``Surv`` for competing risks) and Vickers et al. (2008).

    Examples
    --------
    >>> nb = net_benefit_curve(np.array([0.6, 0.2, 0.5, 0.1]), thresholds=[0.3],
    ...                        time=np.array([1., 2, 3, 4]), event=np.array([1., 0, 1, 0]), horizon=3.5)
    >>> round(float(nb.model[0]), 4), round(float(nb.treat_all[0]), 4)
    (0.5, 0.4643)
    """
    r = np.asarray(risk, dtype=np.float64)
    th = check_thresholds(thresholds)
    one = weights is None or np.ndim(weights) == 1
    W = np.ones((len(r), 1)) if weights is None else np.asarray(weights, dtype=np.float64)
    if W.ndim == 1:
        W = W[:, None]
    tot = W.sum(axis=0)
    odds = (th / (1.0 - th))[:, None]
    treat = r[None, :] >= th[:, None]  # T x n
    with np.errstate(divide="ignore", invalid="ignore"):
        q = (treat.astype(float) @ W) / tot  # T x B
        if y is not None:
            yy = np.asarray(y, dtype=np.float64)
            f_all = (yy @ W) / tot
            tp = (treat.astype(float) @ (W * yy[:, None])) / tot
            fp = q - tp
            model = tp - fp * odds
        else:
            t, e = np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.float64)
            f_all = observed_risk_at(t, e, horizon, W, competing_risks=competing_risks)
            f_pos = _observed_among_treated(t, e, r, th, float(horizon), W, competing_risks)
            model = np.where(q > 0, q * f_pos - q * (1.0 - f_pos) * odds, 0.0)
        model = np.where(tot > 0, model, np.nan)
        treat_all = f_all[None, :] - (1.0 - f_all[None, :]) * odds
    if one:
        return NetBenefit(th, model[:, 0], treat_all[:, 0], q[:, 0])
    return NetBenefit(th, model, treat_all, q)
