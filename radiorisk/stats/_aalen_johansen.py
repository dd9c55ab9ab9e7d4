"""Competing risks: the input check and the Aalen-Johansen cumulative incidence.

``status`` codes the outcome of each row: 0 = censored, ``cause`` (default 1) = the
event of interest, any other positive integer = a competing event that prevents it.
Definitions follow the section "Competing-risk metrics" of
``tests/reference/referee/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._common import (
    _NOT_POSITIVE,
    Z_975,
    Estimate,
    _as_float,
    _check_lengths,
    _check_prob,
    check_horizon,
    html_table,
)
from ._km import at_risk_from_counts, km_factors
from ._linalg import sqrt_variance

__all__ = ["CumulativeIncidence", "aalen_johansen", "aalen_johansen_at", "check_competing_inputs"]

_NOT_STATUS = ("status must be 0 (censored) or a positive integer event code (cause {cause} = the "
               "event of interest, others = competing events); found {value!r} at position {i}")


def _check_cause(cause) -> int:
    if isinstance(cause, bool) or not isinstance(cause, (int, np.integer)) or cause <= 0:
        raise ValueError(f"cause must be a positive integer status code; got {cause!r}")
    return int(cause)


def check_competing_inputs(time, status, risk=None, *, cause: int = 1, probability: bool = True):
    """Validate follow-up times, competing-risk status codes and (optionally) predicted risks.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (finite, > 0).
    status : array-like of shape (n,)
        0 = censored, ``cause`` = the event of interest, any other positive
        integer = a competing event.
    risk : array-like of shape (n,), optional
        Predicted cumulative incidence of ``cause``; must lie in [0, 1] unless
        ``probability=False``.
    cause : int
        The status code of the event of interest.
    probability : bool
        Whether ``risk`` must be a probability.

    Returns
    -------
    tuple of ndarray
        ``(time, status)`` or ``(time, status, risk)`` as float64 arrays.

    Raises
    ------
    ValueError
        Naming the parameter, the offending value, its position and the rule.
    NotEstimableError
        Without any row.

    Examples
    --------
    >>> t, s = check_competing_inputs([1, 2, 3], [0, 1, 2])
    >>> s.tolist()
    [0.0, 1.0, 2.0]
    """
    cause = _check_cause(cause)
    t = _as_float(time, "time")
    bad = t <= 0
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(_NOT_POSITIVE.format(name="time", value=float(t[i]), i=i))
    s = _as_float(status, "status")
    bad = (s < 0) | (s != np.round(s))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(_NOT_STATUS.format(cause=cause, value=float(s[i]), i=i))
    if risk is None:
        _check_lengths(t, s)
        return t, s
    r = _check_prob(risk, "risk") if probability else _as_float(risk, "risk")
    _check_lengths(t, s, r)
    return t, s, r


def _cause_counts(t: np.ndarray, s: np.ndarray, cause: int):
    """Distinct times with at-risk numbers and cause-1, competing and censoring counts."""
    uniq, inv = np.unique(t, return_inverse=True)
    nt = len(uniq)
    n_at = np.bincount(inv, minlength=nt).astype(np.float64)
    d1 = np.bincount(inv, weights=(s == cause).astype(np.float64), minlength=nt)
    c = np.bincount(inv, weights=(s == 0).astype(np.float64), minlength=nt)
    d2 = n_at - d1 - c
    Y = np.cumsum(n_at[::-1])[::-1]
    return uniq, Y, d1, d2, c


@dataclass(frozen=True)
class CumulativeIncidence:
    """An Aalen-Johansen cumulative incidence curve of one cause.

    Attributes
    ----------
    times : ndarray
        The distinct observed times (events of any cause and censorings), increasing.
    cif : ndarray
        :math:`F(t)` from each time on (right-continuous; 0 before ``times[0]``).
    se : ndarray
        Its standard error at each time (the Aalen/delta-method variance of
        ``prodlim``; NaN where not estimable).
    n_risk : ndarray
        :math:`Y(t) = \\#\\{T \\ge t\\}` at each time.
    cause : int
        The status code whose incidence this is.
    horizon : float or None
        The horizon of :attr:`at_horizon`.
    at_horizon : Estimate or None
        :math:`F(t_0)` with its SE and 95 % CI (None without a horizon).
    """

    times: np.ndarray
    cif: np.ndarray
    se: np.ndarray
    n_risk: np.ndarray
    cause: int
    horizon: float | None = None
    at_horizon: Estimate | None = None

    def at(self, t) -> np.ndarray:
        """:math:`F(t)` at ``t`` (events at ``t`` included; 0 before the first time)."""
        vals = np.concatenate([[0.0], self.cif])
        return vals[np.searchsorted(self.times, np.asarray(t, dtype=np.float64), side="right")]

    def to_frame(self) -> pd.DataFrame:
        """The curve as a DataFrame with columns ``time, n_risk, cif, se``."""
        return pd.DataFrame({"time": self.times, "n_risk": self.n_risk, "cif": self.cif, "se": self.se})

    def _repr_html_(self) -> str:
        return html_table(self.to_frame())


def _aj_curve(t: np.ndarray, s: np.ndarray, cause: int):
    """F(t), its prodlim variance and Y(t) at the distinct times."""
    uniq, Y, d1, d2, _ = _cause_counts(t, s, cause)
    d = d1 + d2
    S = np.cumprod(km_factors(d, Y))
    S_lag = np.concatenate([[1.0], S[:-1]])
    F = np.cumsum(S_lag * d1 / Y)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(d > 0, d / (Y * (Y - d)), 0.0)  # Greenwood term; inf when all at risk fail
        varH = np.cumsum(g)
        v1 = np.cumsum(np.where(d > 0, F * g, 0.0) + S_lag * d1 / Y**2)
        v2 = np.cumsum(np.where(d > 0, F**2 * g, 0.0) + S_lag**2 * (Y - d1) * d1 / Y**3
                       + 2.0 * F * S_lag * d1 / Y**2)
        var = F**2 * varH - 2.0 * F * v1 + v2
    var = np.where(np.isfinite(var), var, np.nan)
    return uniq, F, sqrt_variance(var), Y


def aalen_johansen(time, status, *, horizon=None, cause: int = 1) -> CumulativeIncidence:
    r"""Aalen-Johansen cumulative incidence of one cause, with a 95 % CI at the horizon.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (> 0).
    status : array-like of shape (n,)
        0 = censored, ``cause`` = the event of interest, other positive codes =
        competing events.
    horizon : float, optional
        :math:`t_0`; when given, :attr:`CumulativeIncidence.at_horizon` holds
        :math:`F(t_0)` (events at :math:`t_0` count) with its SE and CI.
    cause : int
        The status code of the event of interest.

    Returns
    -------
    CumulativeIncidence

    Notes
    -----
    With :math:`Y(s) = \#\{T \ge s\}`, :math:`d_1(s)` the events of ``cause`` and
    :math:`d(s)` the events of any cause at :math:`s`, and the all-cause
    Kaplan-Meier :math:`S(s) = \prod_{u \le s} [1 - d(u)/Y(u)]` (rows censored at
    :math:`s` still at risk at :math:`s`):

    .. math::

        F(t) = \sum_{s \le t} S(s-)\, d_1(s) / Y(s).

    The variance is ``prodlim``'s (Marubini & Valsecchi 1995, p. 341; a delta
    method): with :math:`g(s) = d(s)/(Y(s)(Y(s) - d(s)))`,

    .. math::

        \widehat{\mathrm{Var}}\,F(t) = \sum_{s \le t} \Big\{ [F(t) - F(s)]^2 g(s)
        + S(s-)^2 \frac{d_1(s)(Y(s) - d_1(s))}{Y(s)^3}
        - 2 [F(t) - F(s)] S(s-) \frac{d_1(s)}{Y(s)^2} \Big\},

    and the CI is ``prodlim``'s plain Wald interval :math:`F \pm 1.96\,SE`
    clipped to [0, 1]. This reproduces
    ``summary(prodlim(Hist(time, status) ~ 1), times = t0, cause = 1)`` (estimate
    and limits to 1e-12 on the referee fixture). ``survfit``'s multi-state
    standard error (the infinitesimal jackknife) is a different estimator and is
    not the one computed here. Without competing events :math:`F = 1 - S_{KM}`.

    Examples
    --------
    >>> cif = aalen_johansen([1, 2, 2, 3, 4], [1, 2, 0, 1, 0], horizon=3)
    >>> cif.at([1, 3]).round(4).tolist()
    [0.2, 0.5]
    >>> round(cif.at_horizon.estimate, 4), round(cif.at_horizon.ci_high, 4)
    (0.5, 0.9997)
    """
    cause = _check_cause(cause)
    t, s = check_competing_inputs(time, status, cause=cause)
    times, F, se, Y = _aj_curve(t, s, cause)
    if horizon is None:
        return CumulativeIncidence(times, F, se, Y, cause)
    t0 = check_horizon(horizon)
    k = int(np.searchsorted(times, t0, side="right"))
    if k == 0:  # t0 precedes every time
        est = Estimate(0.0, 0.0, 0.0, 0.0, _AJ_METHOD)
    else:
        f, sd = float(F[k - 1]), float(se[k - 1])
        lo, hi = (max(0.0, f - Z_975 * sd), min(1.0, f + Z_975 * sd)) if np.isfinite(sd) else (np.nan,) * 2
        est = Estimate(f, sd, float(lo), float(hi), _AJ_METHOD)
    return CumulativeIncidence(times, F, se, Y, cause, t0, est)


_AJ_METHOD = ("Aalen-Johansen: prodlim(Hist(time, status) ~ 1) at t0; Marubini-Valsecchi "
              "(delta-method) SE, plain Wald CI clipped to [0, 1]")


def _aj_risk(t: np.ndarray, s: np.ndarray, t0: float, cause: int) -> float:
    """:math:`F(t_0)` of validated float arrays (no SE), for the metrics."""
    uniq, Y, d1, d2, _ = _cause_counts(t, s, cause)
    S_lag = np.concatenate([[1.0], np.cumprod(km_factors(d1 + d2, Y))[:-1]])
    sel = uniq <= t0
    return float(np.sum((S_lag * d1 / Y)[sel]))


def aalen_johansen_at(time, status, horizon, weights=None):
    r"""Aalen-Johansen cumulative incidence of cause 1 at :math:`t_0`, with case weights per column.

    Parameters
    ----------
    time : array-like of shape (n,)
    status : array-like of shape (n,)
        0 = censored, 1 = the event of interest, 2 = a competing event.
    horizon : float
        :math:`t_0`; events at :math:`t_0` count.
    weights : array-like of shape (n,) or (n, B), optional
        Case weights (bootstrap counts, one column per replicate); default 1.

    Returns
    -------
    float or ndarray of shape (B,)
        A float unless ``weights`` is 2-D; NaN for a column of total weight 0.

    Notes
    -----
    :math:`F_1(t_0) = \sum_{s \le t_0} S(s-)\, d_1(s) / Y(s)` with the weighted
    all-cause Kaplan-Meier :math:`S` (:func:`km_factors`); with
    weights 1 it equals :func:`aalen_johansen` at :math:`t_0`.

    Examples
    --------
    >>> aalen_johansen_at([1, 2, 2, 3, 4], [1, 2, 0, 1, 0], 3)
    0.5
    """
    t = np.asarray(time, dtype=np.float64)
    s = np.asarray(status, dtype=np.float64)
    W = np.ones((len(t), 1)) if weights is None else np.asarray(weights, dtype=np.float64)
    if W.ndim == 1:
        W = W[:, None]
    tot = W.sum(axis=0)
    sel = t <= float(horizon)
    u, inv = np.unique(t[sel], return_inverse=True)
    F = np.zeros(W.shape[1])
    if len(u):
        Ws = W[sel]
        N, D1, D2 = (np.zeros((len(u), W.shape[1])) for _ in range(3))
        np.add.at(N, inv, Ws)
        np.add.at(D1, inv, Ws * (s[sel] == 1)[:, None])
        np.add.at(D2, inv, Ws * (s[sel] == 2)[:, None])
        Y = at_risk_from_counts(N, tot[None, :])
        S = np.cumprod(km_factors(D1 + D2, Y), axis=0)
        S_lag = np.vstack([np.ones((1, W.shape[1])), S[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            F = np.sum(np.where(D1 > 0, S_lag * D1 / Y, 0.0), axis=0)
    F = np.where(tot > 0, F, np.nan)
    return float(F[0]) if weights is None or np.ndim(weights) == 1 else F
