"""A small, exact Cox proportional-hazards fitter (Breslow and Efron ties).

It exists so that the survival calibration metrics reproduce
``survival::coxph`` / ``rms::cph`` to 1e-6 without a numerical black box:
Newton-Raphson with step-halving to a relative log-likelihood change of 1e-10,
exact risk-set sums, and baseline hazards with Breslow or Efron increments.
The model-building estimators of radiorisk live in :mod:`radiorisk.models`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from ._common import NotEstimableError, _as_float, _html_table
from ._linalg import inverse_information, newton_step, sqrt_variance

__all__ = ["CoxFit", "breslow_increments", "cox_cumulative_hazard_se", "cox_partial_loglik", "efron_increments",
           "fit_cox"]

_TIES = ("breslow", "efron")


@dataclass(frozen=True)
class CoxFit:
    """A fitted Cox model.

    Attributes
    ----------
    names : tuple of str
        Covariate names.
    coef, se : ndarray of shape (p,)
        Log hazard ratios and their standard errors (inverse observed information).
    cov : ndarray of shape (p, p)
        Covariance matrix of ``coef``.
    loglik_null, loglik : float
        Partial log-likelihood at ``coef = 0`` and at the estimate.
    n_iter : int
        Newton-Raphson iterations used.
    ties : {"breslow", "efron"}
        The tie handling of the partial likelihood.
    n, n_events : int
        Rows and events.
    means : ndarray of shape (p,)
        ``survival::coxph``'s ``fit$means``: the column means, but 0 for 0/1
        columns (survival >= 3.0).
    col_means : ndarray of shape (p,)
        The plain column means.
    event_times : ndarray
        The distinct event times.
    hazard_breslow, hazard_efron : ndarray
        Baseline hazard increments at ``event_times`` for a subject with all
        covariates equal to ``center`` (Breslow: :math:`d_k / \\sum_{R_k} e^{\\eta}`;
        Efron: :math:`\\sum_{l<d_k} 1/(\\sum_{R_k} e^{\\eta} - \\frac{l}{d_k}\\sum_{D_k} e^{\\eta})`).
    center : ndarray of shape (p,)
        The covariate values the increments refer to (the column means).
    se_note : str
        Empty when ``se`` and ``cov`` are estimable; otherwise why they are NaN
        (a singular or indefinite information at the estimate).
    """

    names: tuple
    coef: np.ndarray
    se: np.ndarray
    cov: np.ndarray
    loglik_null: float
    loglik: float
    n_iter: int
    ties: str
    n: int
    n_events: int
    means: np.ndarray
    col_means: np.ndarray
    event_times: np.ndarray
    hazard_breslow: np.ndarray
    hazard_efron: np.ndarray
    center: np.ndarray
    se_note: str = ""

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table: ``coef, se, hr, z, p`` indexed by covariate."""
        z = self.coef / self.se
        return pd.DataFrame(
            {"coef": self.coef, "se": self.se, "hr": np.exp(self.coef), "z": z,
             "p": 2.0 * norm.sf(np.abs(z))},
            index=pd.Index(list(self.names), name="covariate"),
        )

    def _repr_html_(self) -> str:
        return _html_table(self.to_frame())

    def linear_predictor(self, X) -> np.ndarray:
        """:math:`x^\\top \\beta` (uncentred) for the rows of ``X``."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        return X @ self.coef

    def cumulative_hazard(self, times, x=None, *, increments: str | None = None) -> np.ndarray:
        """Cumulative hazard :math:`H(t \\mid x)` at ``times``.

        Parameters
        ----------
        times : array-like
            Times at which to evaluate the (right-continuous) step function.
        x : array-like of shape (p,) or (m, p), optional
            Covariate values; default all zero (``S0_zero`` in R terms).
        increments : {"breslow", "efron"}, optional
            Hazard increments; default the fit's ``ties`` (as ``survfit.coxph``).

        Returns
        -------
        ndarray of shape (len(times),) or (m, len(times))
        """
        inc = self.ties if increments is None else increments
        if inc not in _TIES:
            raise ValueError(f"increments must be one of {_TIES}; got {inc!r}")
        h = self.hazard_efron if inc == "efron" else self.hazard_breslow
        H = np.concatenate([[0.0], np.cumsum(h)])
        t = np.asarray(times, dtype=np.float64)
        H_center = H[np.searchsorted(self.event_times, t, side="right")]
        x0 = np.zeros(len(self.coef)) if x is None else np.asarray(x, dtype=np.float64)
        rel = np.exp((x0 - self.center) @ self.coef)
        return np.multiply.outer(rel, H_center) if np.ndim(rel) else rel * H_center

    def survival(self, times, x=None, *, increments: str | None = None) -> np.ndarray:
        """Survival :math:`\\exp(-H(t \\mid x))`; arguments as :meth:`cumulative_hazard`."""
        return np.exp(-self.cumulative_hazard(times, x, increments=increments))


def _risk_set_terms(X, time, event):
    """Sort and index the data by distinct event time."""
    order = np.argsort(time, kind="stable")
    t, e, X = time[order], event[order], X[order]
    uniq, first = np.unique(t, return_index=True)  # first row of each distinct time
    tid = np.searchsorted(uniq, t)
    d = np.bincount(tid, weights=e, minlength=len(uniq))
    has = d > 0
    return t, e, X, uniq, first, tid, d, has


class _CoxProblem:
    def __init__(self, X, time, event, ties):
        self.ties = ties
        t, e, X, uniq, first, tid, d, has = _risk_set_terms(X, time, event)
        self.X, self.e, self.tid = X, e, tid
        self.first = first[has]
        self.times = uniq[has]
        self.d = d[has].astype(np.int64)
        self.k_of_time = np.cumsum(has) - 1  # index among event times, for each distinct time
        self.uniq_has = has
        self.nt = len(uniq)
        # (k, l) expansion for the Efron sums
        self.kk = np.repeat(np.arange(len(self.d)), self.d)
        start = np.cumsum(self.d) - self.d
        ll = np.arange(self.kk.size) - np.repeat(start, self.d)
        self.frac = ll / self.d[self.kk] if ties == "efron" else np.zeros(self.kk.size)
        self.sum_x_events = X[e == 1].sum(axis=0)

    def sums(self, beta):
        X, e = self.X, self.e
        eta = X @ beta
        m = float(np.max(eta))
        r = np.exp(eta - m)
        p = X.shape[1]
        # risk-set sums: reverse cumulative sums evaluated at the first row of each time
        S0 = np.cumsum(r[::-1])[::-1][self.first]
        rx = r[:, None] * X
        S1 = np.cumsum(rx[::-1], axis=0)[::-1][self.first]
        rxx = (rx[:, :, None] * X[:, None, :]).reshape(len(r), p * p)
        S2 = np.cumsum(rxx[::-1], axis=0)[::-1][self.first].reshape(-1, p, p)
        # sums over the deaths at each event time
        ev = e == 1
        kd = self.k_of_time[self.tid[ev]]
        nk = len(self.times)
        D0 = np.bincount(kd, weights=r[ev], minlength=nk)
        D1 = np.zeros((nk, p))
        np.add.at(D1, kd, rx[ev])
        D2 = np.zeros((nk, p * p))
        np.add.at(D2, kd, rxx[ev])
        D2 = D2.reshape(-1, p, p)
        return eta, m, S0, S1, S2, D0, D1, D2

    def evaluate(self, beta, *, derivatives=True):
        eta, m, S0, S1, S2, D0, D1, D2 = self.sums(beta)
        kk, a = self.kk, self.frac
        den = S0[kk] - a * D0[kk]
        with np.errstate(divide="ignore", invalid="ignore"):
            loglik = float(np.sum(eta[self.e == 1]) - np.sum(np.log(den) + m))
        if not np.isfinite(loglik):  # a risk-set sum underflowed: reject the step
            loglik = -np.inf
        if not derivatives:
            return loglik, None, None
        if loglik == -np.inf:
            raise NotEstimableError(
                "the Cox fit left the range where its likelihood is representable (no finite "
                "maximum: a covariate nearly orders the event times)")
        num1 = S1[kk] - a[:, None] * D1[kk]
        num2 = S2[kk] - a[:, None, None] * D2[kk]
        mean1 = num1 / den[:, None]
        grad = self.sum_x_events - mean1.sum(axis=0)
        info = (num2 / den[:, None, None]).sum(axis=0) - np.einsum("ki,kj->ij", mean1, mean1)
        return loglik, grad, info

    def hazard_increments(self, beta):
        eta, m, S0, S1, S2, D0, D1, D2 = self.sums(beta)
        # increments for a subject with linear predictor 0 (i.e. at the centring point)
        kk = self.kk
        frac = np.arange(self.kk.size) - np.repeat(np.cumsum(self.d) - self.d, self.d)
        frac = frac / self.d[kk]
        # a risk-set sum that under/overflows means the likelihood has no finite
        # maximum (a covariate orders the events): checked below, not warned about
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            scale = np.exp(-m)
            bres = self.d / S0 * scale
            efr = np.bincount(kk, weights=1.0 / (S0[kk] - frac * D0[kk]), minlength=len(self.d)) * scale
        if not (np.all(np.isfinite(bres)) and np.all(np.isfinite(efr))):
            raise NotEstimableError(
                "the Cox model has no finite maximum (monotone likelihood: a covariate orders "
                "the event times); its baseline hazard is not estimable")
        return bres, efr


def _r_means(X: np.ndarray) -> np.ndarray:
    means = X.mean(axis=0)
    binary = np.all((X == 0) | (X == 1), axis=0)
    return np.where(binary, 0.0, means)


def fit_cox(X, time, event, *, ties: str = "efron", tol: float = 1e-10, max_iter: int = 50,
            names=None) -> CoxFit:
    r"""Fit a Cox proportional-hazards model by Newton-Raphson.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n, p)
        Covariates (column names are kept from a DataFrame).
    time : array-like of shape (n,)
        Follow-up times.
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.
    ties : {"efron", "breslow"}
        Handling of tied event times in the partial likelihood.
    tol : float
        Convergence when :math:`|1 - \ell_{k-1}/\ell_k| \le` ``tol`` (as
        ``coxph.control(eps=)``; R's default is 1e-9).
    max_iter : int
        Maximum Newton-Raphson iterations.
    names : sequence of str, optional
        Covariate names (default the DataFrame's columns or ``x0, x1, ...``).

    Returns
    -------
    CoxFit

    Raises
    ------
    NotEstimableError
        Without events, with a singular information matrix, or without
        convergence (e.g. a monotone likelihood).

    Notes
    -----
    With :math:`R_k` the risk set and :math:`D_k` the :math:`d_k` deaths at the
    :math:`k`-th event time and :math:`a_{kl} = l/d_k` (Efron) or 0 (Breslow),

    .. math::

        \ell(\beta) = \sum_k \Big[ \sum_{i \in D_k} \eta_i - \sum_{l=0}^{d_k-1}
        \log\Big( \sum_{j \in R_k} e^{\eta_j} - a_{kl} \sum_{j \in D_k} e^{\eta_j} \Big) \Big].

    The covariance is the inverse of the observed information at the estimate.
    Reproduces ``survival::coxph(..., ties = "efron" | "breslow")``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(200, 1))
    >>> t = rng.exponential(np.exp(-0.7 * x[:, 0]))
    >>> fit = fit_cox(x, t, np.ones(200), names=["x"])
    >>> bool(0.4 < fit.coef[0] < 1.0)
    True
    """
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}; got {ties!r}")
    Xa, t, e, names = _cox_inputs(X, time, event, names)
    n_events = int(e.sum())
    center = Xa.mean(axis=0)
    prob = _CoxProblem(Xa - center, t, e, ties)
    beta, ll_null, ll, info, n_iter = _newton_raphson(prob, Xa.shape[1], tol, max_iter)
    inv = inverse_information(info, "Cox")
    bres, efr = prob.hazard_increments(beta)
    return CoxFit(
        names=names, coef=beta, se=inv.se, cov=inv.cov, loglik_null=ll_null,
        loglik=ll, n_iter=n_iter, ties=ties, n=len(t), n_events=n_events, means=_r_means(Xa),
        col_means=center, event_times=prob.times, hazard_breslow=bres, hazard_efron=efr,
        center=center, se_note=inv.note,
    )


def _cox_inputs(X, time, event, names):
    """Checked covariates (n x p), times, events and covariate names of a Cox fit."""
    if names is None and isinstance(X, pd.DataFrame):
        names = tuple(str(c) for c in X.columns)
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa[:, None]
    if not np.all(np.isfinite(Xa)):
        raise ValueError("X has non-finite values")
    t = _as_float(time, "time")
    e = _as_float(event, "event")
    if len(t) != len(Xa) or len(e) != len(Xa):
        raise ValueError(f"inputs have different lengths: {[len(Xa), len(t), len(e)]}")
    if not np.all((e == 0) | (e == 1)):
        raise ValueError("event must be 0/1")
    if int(e.sum()) == 0:
        raise NotEstimableError("the Cox model needs at least one event")
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(Xa.shape[1]))
    return Xa, t, e, names


def _accept_step(ll_new, ll_old):
    """A Newton step is kept when the log-likelihood did not fall (beyond rounding)."""
    return ll_new >= ll_old - 1e-12 * np.abs(ll_old)


def _relative_change(ll_old, ll_new):
    """The stopping rule's :math:`|1 - \\ell_{k-1}/\\ell_k|` (absolute change when :math:`\\ell_k = 0`)."""
    ll_old, ll_new = np.asarray(ll_old, dtype=np.float64), np.asarray(ll_new, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ll_new != 0, np.abs(1.0 - ll_old / ll_new), np.abs(ll_old - ll_new))


def _newton_raphson(prob: _CoxProblem, p: int, tol: float, max_iter: int):
    """Newton-Raphson from 0 with step halving; (beta, ll_null, ll, info, n_iter)."""
    beta = np.zeros(p)
    ll_null, grad, info = prob.evaluate(beta)
    ll = ll_null
    n_iter = 0
    converged = False
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        step = newton_step(info, grad, "Cox")
        new = beta + step
        ll_new, _, _ = prob.evaluate(new, derivatives=False)
        halvings = 0
        while not _accept_step(ll_new, ll) and halvings < 40:  # step-halving
            step = step / 2.0
            new = beta + step
            ll_new, _, _ = prob.evaluate(new, derivatives=False)
            halvings += 1
        beta = new
        rel = _relative_change(ll, ll_new)
        ll, grad, info = prob.evaluate(beta)
        if rel <= tol:
            converged = True
            break
    if not converged or not np.all(np.isfinite(beta)):
        raise NotEstimableError(f"the Cox model did not converge in {max_iter} iterations")
    return beta, ll_null, ll, info, n_iter


def cox_cumulative_hazard_se(fit: CoxFit, X, time, event, horizon: float, x_new):
    r"""Cumulative hazard of a Cox fit at ``horizon`` for the rows of ``x_new``, with its SE.

    Parameters
    ----------
    fit : CoxFit
        A fit of ``X`` on ``(time, event)``.
    X, time, event : array-like
        The data of the fit.
    horizon : float
    x_new : array-like of shape (m, p)

    Returns
    -------
    H, se : ndarray of shape (m,)
        The hazard uses the fit's increments (Efron or Breslow); the variance is the
        Tsiatis/Andersen formula of ``survfit.coxph`` with Breslow-type terms.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(200, 1))
    >>> t = rng.exponential(np.exp(-0.7 * x[:, 0]))
    >>> fit = fit_cox(x, t, np.ones(200))
    >>> H, se = cox_cumulative_hazard_se(fit, x, t, np.ones(200), 1.0, [[0.0], [1.0]])
    >>> bool(H[1] > H[0] > 0 and (se > 0).all())
    True
    """
    return _cumhaz_se(fit, X, time, event, horizon, x_new)


def _cumhaz_se(fit: CoxFit, X, time, event, horizon: float, x_new) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative hazard at ``horizon`` for the rows of ``x_new`` and its SE.

    The hazard uses the fit's increments (Efron or Breslow); the variance is the
    Tsiatis/Andersen formula of ``survfit.coxph`` with Breslow-type terms:
    :math:`\\sum_k d_k e^{2\\eta_x}/S_{0k}^2 + q^\\top V q`,
    :math:`q = \\sum_k e^{\\eta_x} d_k (x - \\bar x_k) / S_{0k}`.
    """
    Xa = np.asarray(X, dtype=np.float64)
    Xa = Xa[:, None] if Xa.ndim == 1 else Xa
    prob = _CoxProblem(Xa - fit.center, np.asarray(time, float), np.asarray(event, float), fit.ties)
    _, m, S0, S1, _, _, _, _ = prob.sums(fit.coef)
    sel = prob.times <= horizon
    S0s = S0[sel] * np.exp(m)  # true risk-set sums (centred covariates)
    xbar = S1[sel] / S0[sel][:, None]
    d = prob.d[sel]
    xn = np.atleast_2d(np.asarray(x_new, dtype=np.float64)) - fit.center
    rel = np.exp(xn @ fit.coef)
    H = fit.cumulative_hazard(horizon, xn + fit.center)
    v1 = np.sum(d / S0s**2) * rel**2
    base = d / S0s  # Breslow increments at the centre
    q = rel[:, None] * (xn * np.sum(base) - (base[:, None] * xbar).sum(axis=0)[None, :])
    v2 = np.einsum("ij,jk,ik->i", q, fit.cov, q)
    return np.asarray(H, dtype=np.float64), sqrt_variance(v1 + v2)


def breslow_increments(time, event, log_relative_hazard, weight=None) -> tuple[np.ndarray, np.ndarray]:
    r"""Breslow baseline hazard increments given log relative hazards (the Cox model held fixed).

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times.
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.
    log_relative_hazard : array-like of shape (n,)
        :math:`m_i` (e.g. :math:`x_i^\top\beta` minus a constant; the increments refer to
        :math:`m = 0`).
    weight : array-like of shape (n,), optional
        Case weights :math:`w_i` (default 1).

    Returns
    -------
    event_times : ndarray
        The distinct event times (times with positive weighted events).
    increments : ndarray
        :math:`\sum_{i: T_i = t_k, \delta_i = 1} w_i \,/\, \sum_{j: T_j \ge t_k} w_j e^{m_j}`;
        their cumulative sum is the Breslow :math:`H_0` just after each event time.

    Examples
    --------
    >>> breslow_increments([1, 2, 2, 3], [1, 1, 0, 1], np.zeros(4))[1].tolist()
    [0.25, 0.3333333333333333, 1.0]
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    m = np.asarray(log_relative_hazard, dtype=np.float64)
    if weight is None:
        r, we = np.exp(m), e
    else:
        w = np.asarray(weight, dtype=np.float64)
        r, we = w * np.exp(m), w * e
    uniq, inv = np.unique(t, return_inverse=True)
    d = np.bincount(inv, weights=we, minlength=len(uniq))
    at_risk = np.cumsum(np.bincount(inv, weights=r, minlength=len(uniq))[::-1])[::-1]
    keep = d > 0
    return uniq[keep], d[keep] / at_risk[keep]


def cox_partial_loglik(eta, time, event, *, ties: str = "efron") -> float:
    r"""Cox partial log-likelihood of the linear predictor ``eta`` (Breslow or Efron ties).

    :math:`\ell = \sum_k \big[\sum_{i \in D_k} \eta_i - \sum_{l=0}^{d_k-1}
    \log(S_k - \tfrac{l}{d_k} D_k)\big]`, with :math:`S_k` the sum of
    :math:`e^{\eta}` over the risk set of the k-th event time and :math:`D_k` over its
    events (Breslow: :math:`l/d_k` replaced by 0).  It is ``survival::coxph``'s
    ``loglik`` at a fixed coefficient vector (``init = beta, iter.max = 0``); it
    needs only :math:`X\beta`, so it is cheap with many columns (used for the
    cross-validated partial likelihood of Verweij & van Houwelingen, 1993).

    Parameters
    ----------
    eta : array-like of shape (n,)
        Linear predictor :math:`X\beta` (any centring: :math:`\ell` is shift-invariant).
    time, event : array-like of shape (n,)
        Follow-up and event indicator (0/1).
    ties : {"efron", "breslow"}, default "efron"

    Returns
    -------
    float
        ``-inf`` when a risk-set sum underflows.

    Examples
    --------
    >>> round(cox_partial_loglik([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [1, 1, 0]), 6)  # -log 3 - log 2
    -1.791759
    """
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}; got {ties!r}")
    eta = np.asarray(eta, dtype=np.float64).ravel()
    t = np.asarray(time, dtype=np.float64).ravel()
    e = np.asarray(event, dtype=np.float64).ravel()
    if not (eta.shape == t.shape == e.shape):
        raise ValueError(f"eta, time and event differ in length ({eta.size}, {t.size}, {e.size})")
    t, e, eta_s, uniq, first, tid, d, has = _risk_set_terms(eta[:, None], t, e)
    eta_s = eta_s[:, 0]
    m = float(np.max(eta_s)) if eta_s.size else 0.0
    r = np.exp(eta_s - m)
    S0 = np.cumsum(r[::-1])[::-1][first[has]]
    ev = e == 1
    k_of_time = np.cumsum(has) - 1
    D0 = np.bincount(k_of_time[tid[ev]], weights=r[ev], minlength=int(has.sum()))
    dk = d[has].astype(np.int64)
    kk = np.repeat(np.arange(dk.size), dk)
    frac = (np.arange(kk.size) - np.repeat(np.cumsum(dk) - dk, dk)) / dk[kk] if ties == "efron" \
        else np.zeros(kk.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = float(np.sum(eta_s[ev]) - np.sum(np.log(S0[kk] - frac * D0[kk]) + m))
    return ll if np.isfinite(ll) else -np.inf


def efron_increments(time, event, log_relative_hazard) -> tuple[np.ndarray, np.ndarray]:
    r"""Efron baseline hazard increments given log relative hazards (the Cox model held fixed).

    The hazard ``survival::survfit`` (and ``riskRegression::predictCox``) uses after
    ``coxph(..., ties = "efron")``: at an event time :math:`t_k` with :math:`d_k` events
    :math:`D_k`, :math:`\sum_{l < d_k} 1 / (\sum_{j: T_j \ge t_k} e^{m_j} - \frac{l}{d_k}
    \sum_{i \in D_k} e^{m_i})`; without ties it equals :func:`breslow_increments`.

    Parameters
    ----------
    time, event : array-like of shape (n,)
        Follow-up times and event indicators (0/1).
    log_relative_hazard : array-like of shape (n,)
        :math:`m_i` (the increments refer to :math:`m = 0`).

    Returns
    -------
    event_times, increments : ndarray

    Examples
    --------
    >>> efron_increments([1, 2, 2, 3], [1, 1, 1, 1], np.zeros(4))[1].round(4).tolist()
    [0.25, 0.8333, 1.0]
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    m = np.asarray(log_relative_hazard, dtype=np.float64)
    if not (t.shape == e.shape == m.shape) or t.ndim != 1:
        raise ValueError(f"time, event and log_relative_hazard must be 1-d of one length; got shapes "
                         f"{[t.shape, e.shape, m.shape]}")
    prob = _CoxProblem(m[:, None], t, e, "efron")
    _, efr = prob.hazard_increments(np.ones(1))
    return prob.times, efr
