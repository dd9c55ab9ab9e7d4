"""Ridge-penalised Cox fit with per-column penalty strengths (lifelines' penalised objective, ``l1_ratio = 0``)."""

from __future__ import annotations

import numpy as np

from ..exceptions import NotEstimableError
from ._cox import _accept_step, _CoxProblem, _relative_change
from ._linalg import newton_step

__all__ = ["fit_cox_ridge"]


def fit_cox_ridge(X, time, event, penalty, *, ties: str = "efron", tol: float = 1e-10,
                  max_iter: int = 50) -> np.ndarray:
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

    Returns
    -------
    ndarray of shape (p,)
        Coefficients on the scale of ``X``.

    Raises
    ------
    NotEstimableError
        When Newton–Raphson does not converge, or a column is constant.

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
    if (sd <= 0).any():
        raise NotEstimableError(f"column(s) {np.flatnonzero(sd <= 0).tolist()} are constant")
    Xc = X - X.mean(axis=0)
    prob = _CoxProblem(Xc, np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.float64), ties)
    w = n * lam * sd**2  # the penalty's Hessian diagonal on the scale of X

    def objective(beta, derivatives=True):
        ll, g, h = prob.evaluate(beta, derivatives=derivatives)
        pen = 0.5 * float(np.sum(w * beta**2))
        if not derivatives:
            return ll - pen, None, None
        return ll - pen, g - w * beta, h + np.diag(w)

    beta = np.zeros(p)
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
