"""Inverting an information matrix and taking square roots of variances, safely.

Every ``inv``/``solve`` of an information matrix and every ``sqrt`` of a
variance in radiorisk goes through this module, so that a singular or
indefinite information gives NaN standard errors with a stated reason (or a
:class:`~radiorisk.exceptions.NotEstimableError`), never a
``RuntimeWarning`` whose appearance depends on the CPU's rounding.

The positive-definiteness test follows R's ``survival::coxph``
(``toler.chol = .Machine$double.eps^0.75``): the information is treated as
singular when its smallest eigenvalue is below that tolerance times its
largest.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..exceptions import NotEstimableError

__all__ = ["InverseInformation", "inverse_information", "newton_step", "sqrt_variance"]

TOLERANCE = float(np.finfo(np.float64).eps ** 0.75)  # survival::coxph's toler.chol


class InverseInformation(NamedTuple):
    """The covariance of an estimate from its observed information.

    Attributes
    ----------
    cov : ndarray of shape (p, p)
        The inverse information; all NaN when the information is not
        positive definite.
    se : ndarray of shape (p,)
        ``sqrt(diag(cov))``; NaN where it is not estimable.
    note : str
        Empty when every SE is estimable, otherwise the reason they are not.
    """

    cov: np.ndarray
    se: np.ndarray
    note: str


def _as_square(info, what: str) -> np.ndarray:
    a = np.atleast_2d(np.asarray(info, dtype=np.float64))
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"the {what} information must be a square matrix; got shape {a.shape}")
    return a


def sqrt_variance(var) -> np.ndarray:
    """Square root of a variance, NaN where it is negative or not finite.

    Parameters
    ----------
    var : float or array-like
        Variance(s). Negative values arise only from rounding in a variance
        that should be non-negative; they are not estimable, not zero.

    Returns
    -------
    ndarray
        The standard deviations (a 0-d array for scalar input), with NaN
        wherever ``var`` is negative, NaN or infinite-negative; ``+inf`` stays
        ``+inf``.

    Examples
    --------
    >>> sqrt_variance([4.0, -1e-17, float("nan")]).tolist()
    [2.0, nan, nan]
    """
    v = np.asarray(var, dtype=np.float64)
    ok = v >= 0  # False for NaN
    return np.where(ok, np.sqrt(np.where(ok, v, 0.0)), np.nan)


def inverse_information(info, what: str = "model") -> InverseInformation:
    """Covariance and standard errors from an observed information matrix.

    Parameters
    ----------
    info : array-like of shape (p, p)
        The observed information (minus the Hessian of the log-likelihood)
        at the estimate.
    what : str
        Names the model in the reason text, e.g. ``"Cox"``.

    Returns
    -------
    InverseInformation
        ``cov``, ``se`` and ``note``. When the information is not finite or
        not positive definite (smallest eigenvalue below
        ``eps**0.75`` times the largest) ``cov`` and ``se`` are NaN and
        ``note`` says why.

    Examples
    --------
    >>> r = inverse_information([[4.0, 0.0], [0.0, 1.0]])
    >>> r.se.tolist(), r.note
    ([0.5, 1.0], '')
    >>> r = inverse_information([[1.0, 1.0], [1.0, 1.0]], "Cox")
    >>> bool(np.isnan(r.se).all()), r.note.startswith("the Cox information is singular")
    (True, True)
    """
    a = _as_square(info, what)
    p = a.shape[0]
    nan = InverseInformation(np.full((p, p), np.nan), np.full(p, np.nan), "")
    if not np.all(np.isfinite(a)):
        return nan._replace(note=f"the {what} information has non-finite entries: no standard errors")
    sym = (a + a.T) / 2.0
    ev = np.linalg.eigvalsh(sym)
    top = float(np.max(np.abs(ev))) if p else 0.0
    if p == 0 or top == 0.0 or ev[0] <= TOLERANCE * top:
        ratio = float(ev[0] / top) if top > 0 else float("nan")
        return nan._replace(note=(
            f"the {what} information is singular or not positive definite (smallest/largest "
            f"eigenvalue {ratio:.3g} <= {TOLERANCE:.3g}): no standard errors"))
    cov = np.linalg.inv(a)  # well conditioned here: cond(info) < 1 / TOLERANCE
    se = sqrt_variance(np.diag(cov))
    note = "" if np.all(np.isfinite(se)) else f"the {what} covariance has a non-positive diagonal"
    return InverseInformation(cov, se, note)


def newton_step(info, grad, what: str = "model") -> np.ndarray:
    """The Newton-Raphson step ``info^{-1} grad``.

    Parameters
    ----------
    info : array-like of shape (p, p)
        The observed information at the current estimate.
    grad : array-like of shape (p,)
        The score (gradient of the log-likelihood).
    what : str
        Names the model in the error text.

    Returns
    -------
    ndarray of shape (p,)

    Raises
    ------
    NotEstimableError
        When the information or score is not finite, or the information is
        exactly singular.

    Examples
    --------
    >>> newton_step([[2.0, 0.0], [0.0, 4.0]], [1.0, 1.0]).tolist()
    [0.5, 0.25]
    """
    a = _as_square(info, what)
    g = np.asarray(grad, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(g))):
        raise NotEstimableError(f"the {what} fit reached non-finite values (separation or overflow)")
    try:
        step = np.linalg.solve(a, g)
    except np.linalg.LinAlgError as exc:
        raise NotEstimableError(f"the {what} information matrix is singular") from exc
    if not np.all(np.isfinite(step)):
        raise NotEstimableError(f"the {what} information matrix is singular")
    return step
