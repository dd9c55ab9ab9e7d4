"""Cox calibration on restricted cubic splines of cloglog(risk): rcs knots and basis, ICI/E50/E90/Emax at t0."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import (
    _NO_EVENT_BY_T0,
    CalibrationErrors,
    NotEstimableError,
    _summarise_errors,
    check_horizon,
    check_survival_inputs,
)
from ._cox import fit_cox


def _quantile7(x: np.ndarray, q) -> np.ndarray:
    return np.quantile(x, q)


def rcs_knots(x, *, n_knots: int = 3, fractied: float = 0.05) -> np.ndarray:
    r"""Default knots of a restricted cubic spline, as ``Hmisc::rcspline.eval``.

    Parameters
    ----------
    x : array-like
        The values (duplicates count).
    n_knots : int
        Number of knots (3 to 7 supported through Hmisc's outer quantiles).
    fractied : float
        Hmisc's ``fractied``: when the smallest (largest) value holds at least
        this share of the rows and no interior value does, that end's knot is
        the second smallest (largest) distinct value.

    Returns
    -------
    ndarray
        Sorted distinct knots.

    Notes
    -----
    Type-7 quantiles at equally spaced probabilities from ``outer`` to
    ``1 - outer`` (0.1 for 3 knots, 0.05 for 4-6, 0.025 for 7). With fewer than
    100 values the outer knots become the 5th smallest and 5th largest value.
    With few distinct values (``nu - 2 <= n_knots``) the knots are the distinct
    values less the extremes.

    Examples
    --------
    >>> rcs_knots(np.arange(1.0, 201.0)).round(6).tolist()
    [20.9, 100.5, 180.1]
    """
    xx = np.sort(np.asarray(x, dtype=np.float64))
    n = len(xx)
    if n < 6:
        raise NotEstimableError("knots need at least 6 values")
    xu = np.unique(xx)
    if len(xu) - 2 <= n_knots:
        return xu[1:-1]
    outer = 0.1 if n_knots == 3 else 0.05
    if n_knots > 6:
        outer = 0.025
    xx, nke, first, last = _tied_end_knots(xx, n, n_knots, fractied)
    knots = _inner_knots(xx, xu, nke, outer, first, last)
    return np.unique(np.concatenate([first, knots, last]))


def _tied_end_knots(xx, n, n_knots, fractied):
    """Hmisc's ``fractied`` rule: an end value holding >= ``fractied`` of the rows (and no
    interior value doing so) moves that end's knot to the next distinct value.

    Returns the values left for the other knots, their number, and the end knots (lists).
    """
    nke = n_knots
    first, last = [], []
    if 0 < fractied < 1:
        f = np.unique(xx, return_counts=True)[1] / n
        if np.max(f[1:-1]) < fractied:
            if f[0] >= fractied:
                fk = float(np.min(xx[xx > xx.min()]))
                first = [fk]
                xx = xx[xx > fk]
                nke -= 1
            if f[-1] >= fractied:
                lk = float(np.max(xx[xx < xx.max()]))
                last = [lk]
                xx = xx[xx < lk]
                nke -= 1
    return xx, nke, first, last


def _inner_knots(xx, xu, nke, outer, first, last) -> np.ndarray:
    """The ``nke`` knots between the end knots ``first`` / ``last`` (type-7 quantiles of ``xx``)."""
    if nke == 1:
        return np.array([np.median(xx)])
    if len(xu) <= nke:
        knots = xu.copy()
    else:
        probs = np.linspace(0.5, 1.0 - outer, nke) if nke == 2 else np.linspace(outer, 1.0 - outer, nke)
        knots = _quantile7(xx, probs)
        if len(np.unique(knots)) < min(nke, 3):
            knots = _quantile7(xx, np.linspace(outer, 1.0 - outer, 2 * nke))
            if first and len(np.unique(knots)) < 3:
                mid = (first[0] + last[0]) / 2.0 if last else float(np.median(xx))
                knots = np.sort(np.concatenate([first, [mid], last if last else
                                                [_quantile7(xx, 1.0 - outer)]]))
            if len(np.unique(knots)) < 3:
                raise NotEstimableError("fewer than 3 distinct knots")
    knots = np.array(knots, dtype=np.float64)
    if len(xx) < 100:  # the outer knots become the 5th smallest and 5th largest value
        xs = np.sort(xx)
        if not first:
            knots[0] = xs[4]
        if not last:
            knots[nke - 1] = xs[len(xs) - 5]
    return knots


def rcs_basis(x, knots) -> np.ndarray:
    r"""Restricted cubic spline basis (``x`` and the nonlinear terms), Hmisc ``norm = 2``.

    Parameters
    ----------
    x : array-like of shape (n,)
    knots : array-like of shape (k,)

    Returns
    -------
    ndarray of shape (n, k - 1)
        Column 0 is ``x``; column :math:`j` is
        :math:`[(x-k_j)_+^3 - (x-k_{k-1})_+^3 \frac{k_k - k_j}{k_k - k_{k-1}}
        + (x-k_k)_+^3 \frac{k_{k-1} - k_j}{k_k - k_{k-1}}] / (k_k - k_1)^2`.

    Examples
    --------
    >>> rcs_basis([0.0, 1.0, 2.0], [0.0, 1.0, 2.0]).round(3).tolist()
    [[0.0, 0.0], [1.0, 0.25], [2.0, 1.5]]
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(knots, dtype=np.float64)
    nk = len(k)
    scale = (k[-1] - k[0]) ** 2
    cols = [x]
    for j in range(nk - 2):
        term = (np.maximum(x - k[j], 0) ** 3
                - np.maximum(x - k[-2], 0) ** 3 * (k[-1] - k[j]) / (k[-1] - k[-2])
                + np.maximum(x - k[-1], 0) ** 3 * (k[-2] - k[j]) / (k[-1] - k[-2]))
        cols.append(term / scale)
    return np.column_stack(cols)


def cloglog(risk):
    r"""Complementary log-log :math:`\log(-\log(1 - r))` of a risk clipped to :math:`[10^{-10}, 1 - 10^{-10}]`.

    Parameters
    ----------
    risk : array-like

    Returns
    -------
    ndarray

    Examples
    --------
    >>> cloglog(np.array([1 - np.exp(-1.0)])).round(12).tolist()
    [0.0]
    """
    r = np.clip(risk, 1e-10, 1.0 - 1e-10)
    return np.log(-np.log1p(-r))


_cloglog = cloglog


@dataclass(frozen=True)
class RcsCalibrationModel:
    """The calibration model of :func:`cox_calibration`: an Efron Cox fit on splines of cloglog(risk).

    Attributes
    ----------
    knots : ndarray
        The spline knots (:func:`rcs_knots` of the cloglog risks).
    fit : CoxFit
        The Cox fit on :func:`rcs_basis` of the cloglog risks.
    horizon : float
        :math:`t_0`.
    """

    knots: np.ndarray
    fit: object  # CoxFit
    horizon: float

    def observed(self, risk) -> np.ndarray:
        """The model's observed risk by the horizon at the predicted risks ``risk``."""
        X = rcs_basis(_cloglog(np.asarray(risk, dtype=np.float64)), self.knots)
        H0 = float(self.fit.cumulative_hazard(self.horizon, np.zeros(X.shape[1]), increments="efron"))
        return -np.expm1(-H0 * np.exp(X @ self.fit.coef))


_RcsCalibrationModel = RcsCalibrationModel


def fit_rcs_calibration(time, event, risk, *, horizon) -> RcsCalibrationModel:
    """Fit the calibration model of :func:`cox_calibration` (Hmisc knots, Efron ties).

    Parameters
    ----------
    time, event, risk : ndarray of shape (n,)
        Follow-up, event indicator and predicted risk by the horizon (already checked).
    horizon : float
        :math:`t_0`.

    Returns
    -------
    RcsCalibrationModel

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = rng.uniform(0.05, 0.5, 300)
    >>> t = rng.exponential(-5 / np.log1p(-r))
    >>> m = fit_rcs_calibration(np.minimum(t, 8), (t <= 8).astype(float), r, horizon=5.0)
    >>> m.observed([0.2]).shape
    (1,)
    """
    return _fit_rcs_calibration(np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.float64),
                                np.asarray(risk, dtype=np.float64), float(horizon))


def _fit_rcs_calibration(t, e, r, t0) -> RcsCalibrationModel:
    cll = _cloglog(r)
    knots = rcs_knots(cll, n_knots=3)
    if len(knots) == 0:  # two distinct risks: rcs_knots drops both as extremes
        raise NotEstimableError("fewer than 3 distinct predicted risks: the spline has no knot")
    X = rcs_basis(cll, knots)
    fit = fit_cox(X, t, e, ties="efron", tol=1e-10, max_iter=100,
                  names=["cll"] + [f"cll'{k}" for k in range(1, X.shape[1])])
    return RcsCalibrationModel(knots, fit, t0)


def cox_calibration(time, event, risk, *, horizon) -> CalibrationErrors:
    r"""ICI, E50, E90 and Emax at the horizon from a Cox model on splines of cloglog(risk).

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator, predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    CalibrationErrors
        The four summaries (``ici`` ... ``emax``), the observed risk at each
        row and, in ``model``, the knots and coefficients.

    Raises
    ------
    NotEstimableError
        Without an event by :math:`t_0`, with fewer than 3 distinct risks, or when the Cox
        model cannot be fitted.

    Notes
    -----
    Austin, Harrell & van Klaveren (2020), Stat Med 39:2714:

    1. :math:`c_i = \log(-\log(1 - r_i))` with :math:`r` clipped to
       :math:`[10^{-10}, 1 - 10^{-10}]`;
    2. knots of a 3-knot restricted cubic spline by :func:`rcs_knots`;
    3. a Cox model on :func:`rcs_basis` with Efron ties, fitted to convergence
       (relative log-likelihood change 1e-10);
    4. :math:`o_i = 1 - \exp(-\hat H_0(t_0) e^{\hat\eta_i})` with Efron baseline
       increments;
    5. :math:`d_i = |o_i - r_i|`: ICI = mean, E50 = median, E90 = type-7 0.9
       quantile, Emax = max.

    This is ``rms::cph(Surv(time, event) ~ rcs(cll, 3), x = TRUE, y = TRUE,
    surv = TRUE, eps = 1e-10)`` with ``1 - survest(fit, newdata, times = t0)$surv``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> risk = rng.uniform(0.05, 0.5, 400)
    >>> t = rng.exponential(-5 / np.log1p(-risk))
    >>> res = cox_calibration(np.minimum(t, 8), (t <= 8).astype(int), risk, horizon=5)
    >>> bool(res.ici < 0.05)
    True
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    if not np.any((e == 1) & (t <= t0)):
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="survival calibration"))
    model = _fit_rcs_calibration(t, e, r, t0)
    obs = model.observed(r)
    res = _summarise_errors(obs, r, "rms::cph(Surv ~ rcs(cloglog(risk), 3)), Efron; 1 - survest at t0")
    return CalibrationErrors(res.ici, res.e50, res.e90, res.emax, obs, res.method,
                             {"knots": model.knots, "coef": model.fit.coef, "n_iter": model.fit.n_iter})
