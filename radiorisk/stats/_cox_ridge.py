"""Ridge-penalised Cox fit with per-column penalty strengths (lifelines' penalised objective, ``l1_ratio = 0``)."""

from __future__ import annotations

import numpy as np

from ..exceptions import NotEstimableError
from ._cox import _accept_step, _relative_change, _risk_set_terms
from ._linalg import newton_step

__all__ = ["fit_cox_ridge"]


def fit_cox_ridge(X, time, event, penalty, *, ties: str = "efron", tol: float = 1e-10,
                  max_iter: int = 50, init=None) -> np.ndarray:
    r"""Coefficients maximising the ridge-penalised Cox partial likelihood.

    Maximises :math:`\ell(\beta) - \tfrac{n}{2} \sum_j \lambda_j (s_j \beta_j)^2`,
    with :math:`s_j` the standard deviation (ddof 1) of column j: the objective
    of ``lifelines.CoxPHFitter(penalizer=lambda, l1_ratio=0)``, which penalises
    the coefficients of standardised columns, so the result equals lifelines'
    ``params_`` (to its convergence tolerance).  Newton–Raphson from 0 with step
    halving (the objective is concave); :math:`\lambda_j = 0` leaves column j
    unpenalised.

    Parameters
    ----------
    X : array-like of shape (n, p)
    time, event : array-like of shape (n,)
    penalty : float or array-like of shape (p,)
        :math:`\lambda` (>= 0), one value or one per column.
    ties : {"efron", "breslow"}, default "efron"
    tol : float, default 1e-10
        Relative change of the penalised objective at which iteration stops.
    max_iter : int, default 50
    init : array-like of shape (p,), optional
        Starting coefficients (default 0), e.g. the fit of a neighbouring penalty.

    Returns
    -------
    ndarray of shape (p,)
        Coefficients on the scale of ``X``.

    Raises
    ------
    NotEstimableError
        When Newton–Raphson does not converge.  A constant column gets coefficient 0.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2))
    >>> t = rng.exponential(np.exp(-X[:, 0])); e = np.ones(200)
    >>> b0, b1 = fit_cox_ridge(X, t, e, 0.0), fit_cox_ridge(X, t, e, 0.5)
    >>> bool(abs(b1[0]) < abs(b0[0]))
    True
    """
    X = np.asarray(X, dtype=np.float64)
    n, p = X.shape
    lam = np.broadcast_to(np.asarray(penalty, dtype=np.float64), (p,))
    if (lam < 0).any() or not np.isfinite(lam).all():
        raise ValueError(f"penalty must be finite and >= 0; got {penalty!r}")
    sd = X.std(axis=0, ddof=1) if n > 1 else np.zeros(p)
    if (sd <= 0).any():  # a constant column (e.g. a rare category in an inner fold) carries no information: 0
        out = np.zeros(p)
        keep = sd > 0
        if keep.any():
            out[keep] = fit_cox_ridge(X[:, keep], time, event, lam[keep], ties=ties, tol=tol, max_iter=max_iter,
                                      init=None if init is None else np.asarray(init, dtype=np.float64)[keep])
        return out
    Xc = X - X.mean(axis=0)
    prob = _LowMemoryEfron(Xc, np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.float64), ties)
    w = n * lam * sd**2  # the penalty's Hessian diagonal on the scale of X

    def objective(beta, derivatives=True):
        ll, g, h = prob.evaluate(beta, derivatives=derivatives)
        pen = 0.5 * float(np.sum(w * beta**2))
        if not derivatives:
            return ll - pen, None, None
        return ll - pen, g - w * beta, h + np.diag(w)

    beta = np.zeros(p) if init is None else np.array(init, dtype=np.float64).reshape(p)
    obj, grad, info = objective(beta)
    for _ in range(max_iter):
        step = newton_step(info, grad, "Cox")
        new = beta + step
        obj_new, _, _ = objective(new, derivatives=False)
        halvings = 0
        while not _accept_step(obj_new, obj) and halvings < 40:
            step = step / 2.0
            new = beta + step
            obj_new, _, _ = objective(new, derivatives=False)
            halvings += 1
        beta = new
        rel = _relative_change(obj, obj_new)
        obj, grad, info = objective(beta)
        if rel <= tol and np.all(np.isfinite(beta)):
            return beta
    raise NotEstimableError(f"the ridge Cox model did not converge in {max_iter} iterations")


class _LowMemoryEfron:
    """Cox log-likelihood, score and information in O(n p) memory (many columns: no n x p x p array).

    The information's risk-set sums of :math:`r x x^T` are weighted sums over rows,
    :math:`X^T \\mathrm{diag}(w) X`, with each row's weight the sum of the Efron
    factors of the event times whose risk set holds it.
    """

    def __init__(self, X, time, event, ties):
        t, e, X, uniq, first, tid, d, has = _risk_set_terms(X, time, event)
        self.X, self.ev = X, e == 1
        self.first = first[has]
        dk = d[has].astype(np.int64)
        self.kd = (np.cumsum(has) - 1)[tid[self.ev]]
        self.nk = dk.size
        self.kk = np.repeat(np.arange(dk.size), dk)
        self.a = ((np.arange(self.kk.size) - np.repeat(np.cumsum(dk) - dk, dk)) / dk[self.kk]
                  if ties == "efron" else np.zeros(self.kk.size))
        self.row_k = np.searchsorted(uniq[has], t, side="right")  # event times with t_k <= t_i
        self.sum_x_events = X[self.ev].sum(axis=0)

    def evaluate(self, beta, *, derivatives=True):
        X, ev, kk, a = self.X, self.ev, self.kk, self.a
        eta = X @ beta
        m = float(np.max(eta))
        r = np.exp(eta - m)
        S0 = np.cumsum(r[::-1])[::-1][self.first]
        D0 = np.bincount(self.kd, weights=r[ev], minlength=self.nk)
        den = S0[kk] - a * D0[kk]
        with np.errstate(divide="ignore", invalid="ignore"):
            loglik = float(np.sum(eta[ev]) - np.sum(np.log(den) + m))
        if not np.isfinite(loglik):
            loglik = -np.inf
        if not derivatives:
            return loglik, None, None
        if loglik == -np.inf:
            raise NotEstimableError("the ridge Cox fit left the range where its likelihood is representable")
        rx = r[:, None] * X
        S1 = np.cumsum(rx[::-1], axis=0)[::-1][self.first]
        D1 = np.zeros((self.nk, X.shape[1]))
        np.add.at(D1, self.kd, rx[ev])
        mean1 = (S1[kk] - a[:, None] * D1[kk]) / den[:, None]
        grad = self.sum_x_events - mean1.sum(axis=0)
        alpha = np.bincount(kk, weights=1.0 / den, minlength=self.nk)
        beta_k = np.bincount(kk, weights=a / den, minlength=self.nk)
        cum = np.r_[0.0, np.cumsum(alpha)]
        w = r * cum[self.row_k]
        w[ev] -= r[ev] * beta_k[self.kd]
        info = (X * w[:, None]).T @ X - mean1.T @ mean1
        return loglik, grad, info
