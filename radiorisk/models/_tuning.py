"""Helpers of the boosted models' fitting and tuning: deterministic holdout, AFT intercept, warnings.

- :func:`holdout_rows`: the deterministic, event-stratified validation rows of
  early stopping (a function of the seed and the event indicator only);
- :func:`aft_intercept`: the location at which the intercept-only
  ``survival:aft`` model reproduces the Kaplan-Meier risk at the horizon (the
  ``base_score`` of :class:`~radiorisk.models.XGBAFTRisk`);
- :func:`captured_warnings`: runs third-party code with its warnings recorded
  instead of printed, so they can go into a result's notes.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
from scipy.special import logit, ndtr, ndtri  # noqa: F401  (ndtr: doctest)

from ..exceptions import ModelError
from ..stats import kaplan_meier_at
from ._base import check_number

__all__ = ["holdout_rows", "aft_intercept", "captured_warnings"]


def holdout_rows(event, fraction: float, random_state: int) -> np.ndarray:
    """Boolean mask of the validation rows: ``fraction`` of the events and of the non-events.

    Parameters
    ----------
    event : array-like of shape (n,)
        Event indicator (0/1): the split is stratified on it.
    fraction : float
        Share of each stratum held out, in (0, 1); rounded, at least one row
        of a stratum with two or more rows, never the whole stratum.
    random_state : int
        Seed of the permutation within each stratum.

    Returns
    -------
    ndarray of bool, shape (n,)

    Examples
    --------
    >>> m = holdout_rows([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], 0.2, 0)
    >>> int(m.sum()), int(m[[0, 4]].sum())
    (3, 1)
    >>> bool((holdout_rows([1, 0] * 50, 0.2, 3) == holdout_rows([1, 0] * 50, 0.2, 3)).all())
    True
    """
    check_number("validation_fraction", fraction, low=0.0, high=1.0, low_open=True)
    if not float(fraction) < 1.0:
        raise ModelError(f"validation_fraction must be < 1; got {fraction!r}")
    e = np.asarray(event, dtype=np.float64).ravel()
    rng = np.random.default_rng(int(random_state))
    mask = np.zeros(e.size, dtype=bool)
    for level in (0.0, 1.0):
        idx = np.flatnonzero(e == level)
        if idx.size < 2:
            continue
        k = min(max(int(round(float(fraction) * idx.size)), 1), idx.size - 1)
        mask[rng.permutation(idx)[:k]] = True
    return mask


def _aft_quantile(p: float, distribution: str) -> float:
    """Quantile of the standard error distribution of ``survival:aft``."""
    if distribution == "normal":
        return float(ndtri(p))
    if distribution == "logistic":
        return float(logit(p))
    return float(np.log(-np.log1p(-p)))  # minimum extreme value


def aft_intercept(time, event, *, distribution: str, sigma: float, horizon: float, weight=None) -> float:
    r"""Location :math:`\mu` at which the intercept-only AFT model reproduces the Kaplan-Meier risk.

    :math:`\log T = \mu + \sigma Z` with :math:`Z` standard normal, logistic
    or minimum extreme value and :math:`\sigma` fixed; :math:`\mu` solves
    :math:`F_Z((\log t_0 - \mu)/\sigma) = 1 - S_{KM}(t_0)`, i.e.
    :math:`\mu = \log t_0 - \sigma F_Z^{-1}(1 - S_{KM}(t_0))`.  As the starting
    margin (``base_score``) of ``survival:aft`` this makes the model
    calibrated in the large at the horizon before the first tree, whatever
    :math:`\sigma`; xgboost would otherwise start from 0.5 (a median
    survival of half a day, every risk near 1).

    Parameters
    ----------
    time, event : array-like of shape (n,)
        Follow-up (> 0) and event indicator.
    distribution : {"normal", "logistic", "extreme"}
    sigma : float
        The fixed scale.
    horizon : float
        :math:`t_0` in days.
    weight : array-like of shape (n,), optional
        Case weights of the Kaplan-Meier curve.

    Returns
    -------
    float

    Notes
    -----
    The Kaplan-Meier risk is clipped to [1e-6, 1 - 1e-6] (no event by
    :math:`t_0`, or no survivor).

    Examples
    --------
    >>> mu = aft_intercept([1.0, 2.0, 3.0, 4.0], [1, 1, 1, 1], distribution="normal", sigma=1.0,
    ...                    horizon=2.0)
    >>> round(float(ndtr(np.log(2.0) - mu)), 6)  # the KM risk by day 2
    0.5
    """
    t = np.asarray(time, dtype=np.float64).ravel()
    e = np.asarray(event, dtype=np.float64).ravel()
    w = np.ones(t.size) if weight is None else np.asarray(weight, dtype=np.float64).ravel()
    if t.size == 0:
        raise ModelError("aft_intercept: at least one row is needed")
    s_km = float(kaplan_meier_at(t, e, float(horizon), weights=w))
    p = min(max(1.0 - s_km, 1e-6), 1.0 - 1e-6)
    return float(np.log(float(horizon)) - float(sigma) * _aft_quantile(p, distribution))


@contextlib.contextmanager
def captured_warnings(into: list):
    """Record the warnings raised inside the block into ``into`` (as text) instead of printing them.

    Each entry is ``"<Category>: <message>"``; repeated messages are kept once.

    Examples
    --------
    >>> notes = []
    >>> with captured_warnings(notes):
    ...     warnings.warn("fold 2 did not converge", RuntimeWarning)
    >>> notes
    ['RuntimeWarning: fold 2 did not converge']
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield into
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in into:
            into.append(text)
