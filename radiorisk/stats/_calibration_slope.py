"""Survival calibration slope and calibration-in-the-large at a horizon: Cox (and Fine-Gray) recalibration.

The external-validation definition (Cox 1958's recalibration framework carried to survival by
van Houwelingen 2000 and Royston & Altman 2013): the outcome, administratively censored at the
horizon :math:`t_0`, is regressed on the complementary log-log of the predicted risk,
:math:`c_i = \\log(-\\log(1 - r_i))` (the predicted log cumulative hazard by :math:`t_0`). A perfectly
calibrated model has slope 1 and, with the slope held at 1, a baseline cumulative hazard of 1 at
:math:`t_0` (intercept :math:`\\log\\hat H_0(t_0) = 0`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from ._common import (
    _NO_EVENT_BY_T0,
    Z_975,
    Estimate,
    NotEstimableError,
    check_horizon,
    check_survival_inputs,
    html_table,
)
from ._cox import fit_cox
from ._finegray import _FineGrayProblem, fit_fine_gray
from ._linalg import sqrt_variance
from ._rcs import cloglog

__all__ = ["Recalibration", "cox_recalibration", "fine_gray_recalibration"]

_SLOPE_METHOD = ("coxph(Surv(pmin(time, t0), event & time <= t0) ~ cloglog(risk), ties = 'efron'); "
                 "Wald 95 % CI")
_INTERCEPT_METHOD = ("log H0(t0) of coxph(Surv(pmin(time, t0), event & time <= t0) ~ offset(cloglog(risk))), "
                     "Efron increments (survfit); Wald 95 % CI on the log scale (delta method)")
_FG_METHOD = ("crr(pmin(time, t0), status if time <= t0 else 0, cov1 = cloglog(risk)); robust (sandwich) SE, "
              "Wald 95 % CI")
_FG_INTERCEPT_METHOD = ("log Lambda0(t0) of the Fine-Gray model with offset cloglog(risk) (crr's censoring weights); "
                        "point estimate only (crr gives no variance for the baseline)")


@dataclass(frozen=True)
class Recalibration:
    """Calibration slope and calibration-in-the-large of predicted risks at a horizon.

    From :func:`cox_recalibration` (Cox model) or :func:`fine_gray_recalibration` (Fine-Gray
    model of cause 1: the intercept then has no SE or CI).

    Attributes
    ----------
    slope : Estimate
        The coefficient of :math:`\\mathrm{cloglog}(r)` in a Cox model of the outcome censored at
        :math:`t_0` (1 = perfect; below 1: predictions too extreme; above 1: too moderate).
    intercept : Estimate
        :math:`\\log \\hat H_0(t_0)` with the slope fixed at 1 (0 = perfect; above 0: the model
        under-predicts, below 0: over-predicts, on the log cumulative-hazard scale).
    slope_p : float
        Two-sided Wald p-value of slope = 1.
    intercept_p : float
        Two-sided Wald p-value of intercept = 0.
    n, n_events : int
        Rows and events by :math:`t_0`.
    horizon : float
        :math:`t_0`.
    """

    slope: Estimate
    intercept: Estimate
    slope_p: float
    intercept_p: float
    n: int
    n_events: int
    horizon: float

    def to_frame(self) -> pd.DataFrame:
        """Two rows (``cal_slope_t``, ``cal_intercept_t``): estimate, se, ci_low, ci_high, p_value, method."""
        rows = [dict(asdict(self.slope), quantity="cal_slope_t", p_value=self.slope_p),
                dict(asdict(self.intercept), quantity="cal_intercept_t", p_value=self.intercept_p)]
        return pd.DataFrame(rows)[["quantity", "estimate", "se", "ci_low", "ci_high", "p_value", "method"]]

    def _repr_html_(self) -> str:
        return html_table(self.to_frame())


def _wald(est: float, se: float, null: float, method: str) -> tuple[Estimate, float]:
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return Estimate(est, se, np.nan, np.nan, method), np.nan
    p = float(2.0 * norm.sf(abs(est - null) / se))
    return Estimate(est, se, est - Z_975 * se, est + Z_975 * se, method), p


def _censored_at(t, e, t0):
    """The outcome administratively censored at ``t0``: (min(t, t0), event and t <= t0)."""
    return np.minimum(t, t0), ((e == 1) & (t <= t0)).astype(np.float64)


def _efron_log_baseline(t, e, offset) -> tuple[float, float]:
    r""":math:`\log\hat H_0` at the last time and its SE, offset-only Cox model, Efron increments.

    With :math:`S_k = \sum_{T_j \ge t_k} e^{o_j}` and :math:`S^D_k` the sum over the :math:`d_k`
    events at :math:`t_k`: :math:`\hat H_0 = \sum_k \sum_{l<d_k} 1/(S_k - \tfrac{l}{d_k} S^D_k)`,
    :math:`\widehat{\mathrm{Var}} = \sum_k \sum_{l<d_k} 1/(S_k - \tfrac{l}{d_k} S^D_k)^2`
    (``survfit.coxph``'s ``cumhaz`` and ``std.chaz`` for a model without coefficients).
    """
    w = np.exp(offset)
    uniq, inv = np.unique(t, return_inverse=True)
    at_risk = np.cumsum(np.bincount(inv, weights=w, minlength=len(uniq))[::-1])[::-1]
    d = np.bincount(inv, weights=e, minlength=len(uniq)).astype(np.int64)
    sd = np.bincount(inv, weights=w * e, minlength=len(uniq))
    H = V = 0.0
    for k in np.flatnonzero(d > 0):
        denom = at_risk[k] - np.arange(d[k]) / d[k] * sd[k]
        H += float(np.sum(1.0 / denom))
        V += float(np.sum(1.0 / denom ** 2))
    return float(np.log(H)), float(sqrt_variance(V)) / H


def cox_recalibration(time, event, risk, *, horizon) -> Recalibration:
    r"""Survival calibration slope and calibration-in-the-large of predicted risks by ``horizon``.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up (> 0), event indicator (0/1) and predicted risk :math:`P(T \le t_0)`.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    Recalibration

    Raises
    ------
    NotEstimableError
        Without an event by :math:`t_0`, or when the Cox model cannot be fitted (e.g. all risks
        equal, or a monotone likelihood).

    Notes
    -----
    1. :math:`c_i = \log(-\log(1 - r_i))` with :math:`r` clipped to :math:`[10^{-10}, 1 - 10^{-10}]`;
    2. the outcome is censored at :math:`t_0`: time :math:`\min(T_i, t_0)`, event
       :math:`\delta_i 1(T_i \le t_0)` (events at :math:`t_0` count);
    3. **slope** :math:`\hat\beta` of the Cox model :math:`h_0(t) e^{\beta c_i}` (Efron ties,
       relative log-likelihood change 1e-10), SE from the observed information, Wald CI;
    4. **calibration-in-the-large** :math:`\hat a = \log \hat H_0(t_0)` of the Cox model with
       offset :math:`c_i` (slope fixed at 1; Efron increments as ``survfit.coxph``): the recalibrated
       risk is :math:`1 - \exp(-e^{\hat a + c_i})`, so :math:`\hat a` is the log ratio of the
       observed to the predicted cumulative hazard by :math:`t_0`. SE by the delta method from
       ``survfit``'s ``std.chaz``; Wald CI on the log scale.

    Equal to ``survival::coxph(Surv(pmin(time, t0), event & time <= t0) ~ cll, ties = "efron")``
    and ``log(summary(survfit(coxph(... ~ offset(cll)), newdata = data.frame(cll = 0)),
    times = t0)$cumhaz)`` (``tests/reference/calibration_tests``).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> r = rng.uniform(0.05, 0.5, 800)
    >>> t = rng.exponential(-5 / np.log1p(-r))
    >>> cal = cox_recalibration(np.minimum(t, 8), (t <= 8).astype(int), r, horizon=5)
    >>> bool(0.7 < cal.slope.estimate < 1.3), bool(abs(cal.intercept.estimate) < 0.2)
    (True, True)
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    tt, ee = _censored_at(t, e, t0)
    n_events = int(ee.sum())
    if n_events == 0:
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="the calibration slope"))
    cll = cloglog(r)
    if np.ptp(cll) == 0:
        raise NotEstimableError("every predicted risk is equal: the calibration slope is not defined")
    fit = fit_cox(cll[:, None], tt, ee, ties="efron", tol=1e-10, max_iter=100, names=["cll"])
    slope, slope_p = _wald(float(fit.coef[0]), float(fit.se[0]), 1.0, _SLOPE_METHOD)
    a, se_a = _efron_log_baseline(tt, ee, cll)
    intercept, intercept_p = _wald(a, se_a, 0.0, _INTERCEPT_METHOD)
    return Recalibration(slope, intercept, slope_p, intercept_p, len(t), n_events, t0)


def fine_gray_recalibration(time, status, risk, *, horizon) -> Recalibration:
    r"""Competing-risk calibration slope and calibration-in-the-large: Fine-Gray recalibration of cause 1.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up (> 0).
    status : array-like of shape (n,)
        0 = censored, 1 = the event of interest, 2 = a competing event.
    risk : array-like of shape (n,)
        Predicted cumulative incidence of cause 1 by ``horizon``.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    Recalibration
        ``slope`` with its robust SE and Wald CI; ``intercept`` a point estimate only (its SE
        and CI are NaN: ``crr`` gives no variance for the baseline).

    Raises
    ------
    NotEstimableError
        Without a cause-1 event by :math:`t_0`, with equal risks, or when the fit does not converge.

    Notes
    -----
    The outcome is censored at :math:`t_0` (status 0 after it) and
    :func:`~radiorisk.stats.fit_fine_gray` (``cmprsk::crr``) is fitted on
    :math:`c_i = \log(-\log(1 - r_i))`: the subdistribution analogue of :func:`cox_recalibration`.
    **Slope** = the coefficient (1 = perfect), crr's robust SE. **Calibration-in-the-large** =
    :math:`\log \hat\Lambda_0(t_0)` of the subdistribution hazard with the slope fixed at 1,
    :math:`\hat\Lambda_0(t_0) = \sum_{t_k \le t_0} d_k / \sum_j w_j(t_k) e^{c_j}` with crr's
    censoring weights (0 = perfect); equal to ``log(sum(crr(..., cov1 = cll, init = 1,
    maxiter = 0)$bfitj[uftime <= t0]))``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = rng.uniform(0.05, 0.4, 600)
    >>> t = rng.exponential(-5 / np.log1p(-r)); c = rng.exponential(20, 600)
    >>> s = np.where(t < c, 1.0, 2.0); tt = np.minimum(t, c)
    >>> cal = fine_gray_recalibration(np.minimum(tt, 9), np.where(tt <= 9, s, 0.0), r, horizon=5)
    >>> bool(0.5 < cal.slope.estimate < 1.5), bool(np.isnan(cal.intercept.se))
    (True, True)
    """
    t0 = check_horizon(horizon)
    t = np.asarray(time, dtype=np.float64)
    s = np.asarray(status, dtype=np.float64)
    r = np.asarray(risk, dtype=np.float64)
    st = np.where(t <= t0, s, 0.0)
    n_events = int(np.sum(st == 1))
    if n_events == 0:
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="the calibration slope"))
    cll = cloglog(r)
    if np.ptp(cll) == 0:
        raise NotEstimableError("every predicted risk is equal: the calibration slope is not defined")
    tt = np.minimum(t, t0)
    fit = fit_fine_gray(cll[:, None], tt, st, cause=1, names=["cll"])
    if not fit.converged:
        raise NotEstimableError("the Fine-Gray recalibration model did not converge")
    slope, slope_p = _wald(float(fit.coef[0]), float(fit.se[0]), 1.0, _FG_METHOD)
    jumps = _FineGrayProblem(cll[:, None], tt, st, 1).baseline(np.array([1.0]))  # slope fixed at 1
    intercept = Estimate(float(np.log(jumps.sum())), method=_FG_INTERCEPT_METHOD)
    return Recalibration(slope, intercept, slope_p, np.nan, len(t), n_events, t0)
