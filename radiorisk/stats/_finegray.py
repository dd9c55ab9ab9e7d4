"""Fine-Gray regression of the subdistribution hazard, as ``cmprsk::crr`` fits it.

The estimating equations are crr's: the censoring distribution is the ordinary
(textbook) Kaplan-Meier of the censoring times, :math:`G_c`, in which rows with
an event at :math:`s` are still at risk for censoring at :math:`s`; at each
distinct event time :math:`t_k` of the cause, a row with a competing event
before :math:`t_k` stays in the risk set with weight
:math:`G_c(t_k-)/G_c(T_j-)`; rows with :math:`T_j \\ge t_k` count fully; tied
event times use one denominator (Breslow). Every risk-set sum is a cumulative
sum, so a fit costs :math:`O(n \\log n + n p^2)` per iteration (memory
:math:`n p^2`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from ._aalen_johansen import _check_cause, check_competing_inputs
from ._common import NotEstimableError, html_table
from ._km import km_factors
from ._linalg import inverse_information, newton_step, sqrt_variance

__all__ = ["FineGrayFit", "fit_fine_gray"]

_WHAT = "Fine-Gray"


@dataclass(frozen=True)
class FineGrayFit:
    """A fitted Fine-Gray model (``cmprsk::crr``).

    Attributes
    ----------
    names : tuple of str
        Covariate names.
    coef : ndarray of shape (p,)
        Log subdistribution hazard ratios.
    se, cov : ndarray
        crr's robust (sandwich) standard errors and covariance, ``crr$var``:
        :math:`I^{-1} \\big(\\sum_i (\\eta_i + \\psi_i)(\\eta_i + \\psi_i)^\\top\\big) I^{-1}`
        with :math:`\\eta_i` the score residuals and :math:`\\psi_i` the part that
        comes from estimating :math:`G_c` (Fine & Gray 1999, section 3).
    se_naive, cov_naive : ndarray
        The model-based inverse information :math:`I^{-1}`.
    loglik_null, loglik : float
        The weighted partial log-likelihood at 0 and at ``coef`` (``crr$loglik``).
    score : ndarray of shape (p,)
        :math:`U(\\hat\\beta)`.
    criterion : float
        crr's convergence measure :math:`\\max_j |U_j| \\max(|\\beta_j|, 1) / \\max(|\\ell|, 1)`.
    converged : bool
        Whether ``criterion < gtol`` was reached within ``max_iter`` iterations.
    n_iter : int
        Newton iterations used.
    n, n_events, n_competing : int
        Rows, events of the cause and competing events.
    cause : int
        The status code modelled.
    event_times : ndarray
        The distinct event times of the cause (``crr$uftime``).
    baseline_hazard : ndarray
        Jumps :math:`d\\Lambda_0(t_k) = d_k / S^{(0)}_k(\\hat\\beta)` of the baseline
        cumulative subdistribution hazard at ``event_times`` (``crr$bfitj``), for
        all covariates 0 (no centring).
    se_note : str
        Empty when both variances are estimable, otherwise why they are NaN (a
        singular information, or ``variance=False``).
    """

    names: tuple
    coef: np.ndarray
    se: np.ndarray
    cov: np.ndarray
    se_naive: np.ndarray
    cov_naive: np.ndarray
    loglik_null: float
    loglik: float
    score: np.ndarray
    criterion: float
    converged: bool
    n_iter: int
    n: int
    n_events: int
    n_competing: int
    cause: int
    event_times: np.ndarray
    baseline_hazard: np.ndarray
    se_note: str = ""

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table ``coef, se, shr, z, p, se_naive`` indexed by covariate (robust SEs)."""
        z = np.divide(self.coef, self.se, out=np.full(len(self.coef), np.nan), where=self.se > 0)
        return pd.DataFrame(
            {"coef": self.coef, "se": self.se, "shr": np.exp(self.coef), "z": z,
             "p": 2.0 * norm.sf(np.abs(z)), "se_naive": self.se_naive},
            index=pd.Index(list(self.names), name="covariate"),
        )

    def _repr_html_(self) -> str:
        return html_table(self.to_frame())

    def linear_predictor(self, X) -> np.ndarray:
        """:math:`x^\\top \\beta` for the rows of ``X`` (uncentred)."""
        return _design(X, len(self.coef)) @ self.coef

    def cumulative_baseline_hazard(self, times) -> np.ndarray:
        """:math:`\\Lambda_0(t)` at ``times`` (right-continuous step function, 0 before the first event)."""
        H = np.concatenate([[0.0], np.cumsum(self.baseline_hazard)])
        return H[np.searchsorted(self.event_times, np.asarray(times, dtype=np.float64), side="right")]

    def predict_cif(self, X, times) -> np.ndarray:
        """Predicted cumulative incidence :math:`1 - \\exp(-\\Lambda_0(t) e^{x^\\top\\beta})`.

        Parameters
        ----------
        X : array-like of shape (m, p)
            Covariates (the columns of the fit).
        times : float or array-like of shape (k,)
            Times; between event times the value of the last event time at or
            before ``t`` (``predict.crr``), 0 before the first.

        Returns
        -------
        ndarray of shape (m, k), or (m,) for a scalar ``times``
        """
        rel = np.exp(self.linear_predictor(X))
        H = self.cumulative_baseline_hazard(np.atleast_1d(times))
        out = -np.expm1(-np.multiply.outer(rel, H))
        return out[:, 0] if np.ndim(times) == 0 else out


def _design(X, p: int | None = None) -> np.ndarray:
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim == 1:
        Xa = Xa[:, None] if p is None or p == 1 else Xa[None, :]
    if Xa.ndim != 2 or Xa.shape[1] == 0 or (p is not None and Xa.shape[1] != p):
        want = "at least one column" if p is None else f"{p} column(s)"
        raise ValueError(f"X must be a 2-d array with {want}; got shape {np.shape(X)}")
    bad = ~np.isfinite(Xa)
    if bad.any():
        i, j = (int(v) for v in np.argwhere(bad)[0])
        raise ValueError(f"X has {int(bad.sum())} non-finite value(s) (first at row {i}, column {j})")
    return Xa


def _gc_left(t_sorted: np.ndarray, cens_sorted: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Textbook censoring KM :math:`G_c(a-)` (events stay at risk at their own time)."""
    uniq, inv = np.unique(t_sorted, return_inverse=True)
    n_at = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
    c = np.bincount(inv, weights=cens_sorted, minlength=len(uniq))
    Y = np.cumsum(n_at[::-1])[::-1]
    G = np.concatenate([[1.0], np.cumprod(km_factors(c, Y))])  # the textbook KM of the censoring times
    return G[np.searchsorted(uniq, at, side="left")]


class _FineGrayProblem:
    """Sorted data, weights and index arrays of one Fine-Gray fit."""

    def __init__(self, X, t, s, cause):
        order = np.argsort(t, kind="stable")
        self.t, self.X = t[order], X[order]
        s = s[order]
        self.order = order
        self.ev = s == cause
        self.comp = (s != cause) & (s != 0)
        self.cens = s == 0
        self.uft, self.d = np.unique(self.t[self.ev], return_counts=True)
        self.d = self.d.astype(np.float64)
        self.start = np.searchsorted(self.t, self.uft, side="left")  # first row with T >= t_k
        self.g_row = _gc_left(self.t, self.cens.astype(np.float64), self.t)  # Gc(T_j-)
        self.g_k = _gc_left(self.t, self.cens.astype(np.float64), self.uft)  # Gc(t_k-)
        self.t_comp = self.t[self.comp]
        self.n_comp_before = np.searchsorted(self.t_comp, self.uft, side="left")  # T_j < t_k
        self.sum_x_events = self.X[self.ev].sum(axis=0)

    def sums(self, beta, *, second=True):
        """Shifted risk-set sums S0, S1, S2 at every event time (shift m = max eta)."""
        X = self.X
        eta = X @ beta
        m = float(np.max(eta))
        r = np.exp(eta - m)
        rc = r[self.comp] / self.g_row[self.comp]
        gk, idx = self.g_k, self.n_comp_before

        def risk_sum(v, vc):
            rev = np.cumsum(v[::-1], axis=0)[::-1][self.start]
            pre = np.concatenate([np.zeros((1,) + v.shape[1:]), np.cumsum(vc, axis=0)])[idx]
            return rev + gk.reshape((-1,) + (1,) * (v.ndim - 1)) * pre

        S0 = risk_sum(r, rc)
        rx = r[:, None] * X
        S1 = risk_sum(rx, rc[:, None] * X[self.comp])
        S2 = None
        if second:
            p = X.shape[1]
            rxx = (rx[:, :, None] * X[:, None, :]).reshape(len(r), p * p)
            Xc = X[self.comp]
            rcxx = (rc[:, None, None] * Xc[:, :, None] * Xc[:, None, :]).reshape(len(rc), p * p)
            S2 = risk_sum(rxx, rcxx).reshape(-1, p, p)
        return eta, m, r, S0, S1, S2

    def loglik(self, beta) -> float:
        eta, m, _, S0, _, _ = self.sums(beta, second=False)
        with np.errstate(divide="ignore"):
            ll = float(np.sum(eta[self.ev]) - np.sum(self.d * (np.log(S0) + m)))
        return ll if np.isfinite(ll) else -np.inf

    def evaluate(self, beta):
        """Log-likelihood, score and information at ``beta``."""
        eta, m, _, S0, S1, S2 = self.sums(beta)
        with np.errstate(divide="ignore"):
            ll = float(np.sum(eta[self.ev]) - np.sum(self.d * (np.log(S0) + m)))
        if not np.isfinite(ll):
            raise NotEstimableError(
                "the Fine-Gray fit left the range where its likelihood is representable (no finite "
                "maximum: a covariate nearly orders the event times)")
        xbar = S1 / S0[:, None]
        U = self.sum_x_events - self.d @ xbar
        info = np.einsum("k,kij->ij", self.d, S2 / S0[:, None, None] - xbar[:, :, None] * xbar[:, None, :])
        return ll, U, info

    def baseline(self, beta) -> np.ndarray:
        _, m, _, S0, _, _ = self.sums(beta, second=False)
        return self.d / (S0 * np.exp(m))


def _criterion(ll, U, beta) -> float:
    return float(np.max(np.abs(U) * np.maximum(np.abs(beta), 1.0)) / max(abs(ll), 1.0))


def _newton(prob: _FineGrayProblem, p: int, gtol: float, max_iter: int):
    """Newton-Raphson from 0 with step-halving, stopped by crr's criterion."""
    beta = np.zeros(p)
    ll, U, info = prob.evaluate(beta)
    ll_null = ll
    n_iter = 0
    while _criterion(ll, U, beta) >= gtol and n_iter < max_iter:
        step = newton_step(info, U, _WHAT)
        floor = 8.0 * np.finfo(np.float64).eps * max(abs(ll), 1.0)
        for _ in range(30):  # halve while the likelihood drops by more than rounding
            ll_new = prob.loglik(beta + step)
            if ll_new >= ll - floor:
                break
            step = step / 2.0
        else:
            break
        if np.array_equal(beta + step, beta):  # the double-precision floor: no further progress
            break
        n_iter += 1
        beta = beta + step
        ll, U, info = prob.evaluate(beta)
    if not np.all(np.isfinite(beta)):
        raise NotEstimableError("the Fine-Gray fit reached non-finite coefficients")
    return beta, ll_null, ll, U, info, n_iter


def _score_residuals(prob: _FineGrayProblem, beta) -> np.ndarray:
    r"""Per row (sorted order): :math:`\eta_i + \psi_i` of ``crrvv``.

    :math:`\eta_i = \int (x_i - \bar x(t)) w_i(t)\, dM_i(t)` is the score residual and
    :math:`\psi_i = \int q(u)/Y(u)\, dM^c_i(u)` the part from estimating :math:`G_c`, with
    :math:`q(u) = \sum_{t_k \ge u} \frac{d_k}{S^{(0)}_k} \sum_{j\ \mathrm{competing},\ T_j < u}
    w_j(t_k) e^{\eta_j} (x_j - \bar x_k)` and :math:`dM^c_i(u) = dN^c_i(u) - 1(T_i \ge u)\, c(u)/Y(u)`.
    """
    X, t = prob.X, prob.t
    _, _, r, S0, S1, _ = prob.sums(beta, second=False)
    xbar = S1 / S0[:, None]
    a = prob.d / S0
    b = a[:, None] * xbar
    ag, bg = a * prob.g_k, b * prob.g_k[:, None]
    kk = np.searchsorted(prob.uft, t, side="right")  # event times <= T_i
    A = np.concatenate([[0.0], np.cumsum(a)])
    B = np.vstack([np.zeros(X.shape[1]), np.cumsum(b, axis=0)])
    AG = np.concatenate([[0.0], np.cumsum(ag)])
    BG = np.vstack([np.zeros(X.shape[1]), np.cumsum(bg, axis=0)])
    eta = -r[:, None] * (X * A[kk][:, None] - B[kk])
    c = prob.comp
    fac = (r[c] / prob.g_row[c])[:, None]
    eta[c] -= fac * (X[c] * (AG[-1] - AG[kk[c]])[:, None] - (BG[-1] - BG[kk[c]]))
    ev = prob.ev
    eta[ev] += X[ev] - xbar[kk[ev] - 1]
    # the censoring part psi
    uniq, inv = np.unique(t, return_inverse=True)
    n_at = np.bincount(inv, minlength=len(uniq)).astype(np.float64)
    cu = np.bincount(inv, weights=prob.cens.astype(np.float64), minlength=len(uniq))
    Y = np.cumsum(n_at[::-1])[::-1]
    ncb = np.searchsorted(prob.t_comp, uniq, side="left")  # competing rows with T_j < u
    rc = r[c] / prob.g_row[c]
    C0 = np.concatenate([[0.0], np.cumsum(rc)])[ncb]
    C1 = np.vstack([np.zeros(X.shape[1]), np.cumsum(rc[:, None] * X[c], axis=0)])[ncb]
    ks = np.searchsorted(prob.uft, uniq, side="left")  # first event time >= u
    AGs, BGs = AG[-1] - AG[ks], BG[-1] - BG[ks]
    q = C1 * AGs[:, None] - C0[:, None] * BGs
    comp_cum = np.vstack([np.zeros(X.shape[1]), np.cumsum(q * (cu / Y**2)[:, None], axis=0)])
    psi = -comp_cum[inv + 1]
    psi[prob.cens] += (q / Y[:, None])[inv[prob.cens]]
    return eta + psi


def _variances(prob, beta, info, robust: bool):
    naive = inverse_information(info, _WHAT)
    if not robust:
        p = len(beta)
        return naive, np.full((p, p), np.nan), "robust variance not computed (variance=False)"
    if naive.note:
        p = len(beta)
        return naive, np.full((p, p), np.nan), naive.note
    res = _score_residuals(prob, beta)
    meat = res.T @ res
    cov = naive.cov @ meat @ naive.cov.T
    return naive, cov, ""


def fit_fine_gray(X, time, status, *, cause: int = 1, gtol: float = 1e-12, max_iter: int = 200,
                  variance: bool = True, names=None) -> FineGrayFit:
    r"""Fit a Fine-Gray model of the subdistribution hazard of one cause (``cmprsk::crr``).

    Parameters
    ----------
    X : array-like or DataFrame of shape (n, p)
        Covariates (fixed in time; column names are kept from a DataFrame).
    time : array-like of shape (n,)
        Follow-up times (> 0).
    status : array-like of shape (n,)
        0 = censored, ``cause`` = the event of interest, other positive codes =
        competing events.
    cause : int
        The status code modelled (crr's ``failcode``; crr's ``cencode`` is 0).
    gtol : float
        Convergence when :math:`\max_j |U_j| \max(|\beta_j|, 1) < \max(|\ell|, 1)`
        ``gtol`` (crr's criterion; crr's default is 1e-6).
    max_iter : int
        Maximum Newton-Raphson iterations (crr's default is 10).
    variance : bool
        Whether to compute the robust (sandwich) variance (crr's ``variance``);
        without it ``se``/``cov`` are NaN and ``se_note`` says so.
    names : sequence of str, optional
        Covariate names (default the DataFrame's columns or ``x0, x1, ...``).

    Returns
    -------
    FineGrayFit
        ``converged`` says whether the criterion was met; an unconverged fit is
        returned, not raised, so that the caller can judge ``criterion``.

    Raises
    ------
    NotEstimableError
        Without an event of ``cause``, or when the likelihood has no finite
        maximum (separation) or the information is singular during the fit.
    ValueError
        On invalid inputs (the message names the parameter, value and rule).

    Notes
    -----
    With :math:`D_k` the :math:`d_k` events of the cause at the distinct time
    :math:`t_k` (over the whole follow-up) and the weights
    :math:`w_j(t_k) = 1` if :math:`T_j \ge t_k`,
    :math:`G_c(t_k-)/G_c(T_j-)` if :math:`j` had a competing event before
    :math:`t_k`, and 0 otherwise, crr maximises (Breslow ties, no centring)

    .. math::

        \ell(\beta) = \sum_k \Big[ \sum_{i \in D_k} \eta_i - d_k \log \sum_j w_j(t_k) e^{\eta_j} \Big],

    by Newton-Raphson from 0 (step-halving only when a step lowers
    :math:`\ell` by more than rounding; crr's Armijo backtracking can stall at
    the double-precision floor, this does not). :math:`G_c` is
    ``survfit(Surv(time, status == 0) ~ 1)``, events staying at risk for
    censoring at their own time. ``se`` is crr's sandwich ``var`` and
    ``se_naive`` the inverse information; the baseline jumps are
    :math:`d_k / \sum_j w_j(t_k) e^{\hat\eta_j}`. Without competing events this
    is the Cox model with Breslow ties. Time-varying effects (crr's ``cov2``,
    ``tf``) and censoring groups (``cengroup``) are not supported.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(300, 1))
    >>> t1, t2 = rng.exponential(np.exp(-0.5 * x[:, 0])), rng.exponential(1.0, 300)
    >>> c = rng.exponential(2.0, 300)
    >>> time = np.minimum.reduce([t1, t2, c])
    >>> status = np.select([time == t1, time == t2], [1, 2], 0)
    >>> fit = fit_fine_gray(x, time, status, names=["x"])
    >>> fit.converged, bool(0.1 < fit.coef[0] < 0.9)
    (True, True)
    >>> fit.predict_cif([[0.0], [1.0]], 1.0).round(3).tolist()
    [0.417, 0.574]
    """
    cause = _check_cause(cause)
    if names is None and isinstance(X, pd.DataFrame):
        names = tuple(str(col) for col in X.columns)
    Xa = _design(X)
    t, s = check_competing_inputs(time, status, cause=cause)
    if len(t) != len(Xa):
        raise ValueError(f"inputs have different lengths: {[len(Xa), len(t), len(s)]}")
    n_events = int(np.sum(s == cause))
    if n_events == 0:
        raise NotEstimableError(f"no event of cause {cause}: the Fine-Gray model is not defined")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValueError(f"max_iter must be an integer >= 0; got {max_iter!r}")
    if not (isinstance(gtol, (int, float)) and gtol > 0):
        raise ValueError(f"gtol must be a number > 0; got {gtol!r}")
    p = Xa.shape[1]
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(p))
    if len(names) != p:
        raise ValueError(f"names has {len(names)} entries for {p} column(s) of X")
    prob = _FineGrayProblem(Xa, t, s, cause)
    beta, ll_null, ll, U, info, n_iter = _newton(prob, p, float(gtol), int(max_iter))
    crit = _criterion(ll, U, beta)
    naive, cov, note = _variances(prob, beta, info, bool(variance))
    return FineGrayFit(
        names=names, coef=beta, se=sqrt_variance(np.diag(cov)), cov=cov, se_naive=naive.se,
        cov_naive=naive.cov, loglik_null=ll_null, loglik=ll, score=U, criterion=crit,
        converged=bool(crit < gtol), n_iter=n_iter, n=len(t), n_events=n_events,
        n_competing=int(np.sum((s != cause) & (s != 0))), cause=cause, event_times=prob.uft,
        baseline_hazard=prob.baseline(beta), se_note=note,
    )
