"""Reclassification: the category-free NRI and the IDI at a horizon, for right-censored data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._common import NotEstimableError, check_horizon, check_survival_inputs
from ._decision import observed_risk_at
from ._nri import NRIResult, net_reclassification
from ._survival import _ipcw

__all__ = ["NRIResult", "IDIResult", "category_free_nri", "integrated_discrimination_improvement"]


@dataclass(frozen=True)
class IDIResult:
    """Integrated discrimination improvement at the horizon (IPCW).

    Attributes
    ----------
    idi : float
        ``slope_new - slope_old``.
    slope_old, slope_new : float
        Discrimination slopes: IPCW mean risk of cases minus mean risk of controls.
    """

    idi: float
    slope_old: float
    slope_new: float

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the fields."""
        return pd.DataFrame([self.__dict__])


def category_free_nri(time, event, risk_old, risk_new, *, horizon) -> NRIResult:
    r"""Category-free NRI at the horizon for right-censored data (Kaplan-Meier based).

    Parameters
    ----------
    time, event : array-like of shape (n,)
        Follow-up (> 0) and event indicator (0/1).
    risk_old, risk_new : array-like of shape (n,)
        Predicted risks by the horizon from the reference and the new model.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    NRIResult

    Notes
    -----
    Pencina, Steyerberg & D'Agostino (2011, Stat Med 30:11), survival form as in
    R ``nricens(..., cut = 0, updown = "diff")`` with KM: "up" is
    :math:`r_{new} > r_{old}`, "down" :math:`r_{new} < r_{old}` (ties move
    neither way).  With :math:`S` the Kaplan-Meier survival at :math:`t_0` of
    all patients, :math:`S_{up}`, :math:`S_{down}` those of the up and down
    groups and :math:`\pi_{up}`, :math:`\pi_{down}` the group shares,

    .. math::

        P(up \mid E) = \frac{(1 - S_{up})\pi_{up}}{1 - S}, \quad
        P(up \mid \bar E) = \frac{S_{up}\pi_{up}}{S},

    (likewise for down), NRI\ :sub:`e` = P(up | E) - P(down | E),
    NRI\ :sub:`ne` = P(down | Ē) - P(up | Ē), NRI = NRI\ :sub:`e` + NRI\ :sub:`ne`.
    Without censoring before :math:`t_0` this is the binary continuous NRI.

    Examples
    --------
    >>> r = category_free_nri([1, 2, 5, 6], [1, 1, 0, 0], [0.2, 0.5, 0.3, 0.4],
    ...                       [0.6, 0.4, 0.1, 0.5], horizon=3)
    >>> r.events, r.nonevents, r.nri
    (0.0, 0.0, 0.0)
    """

    t0 = check_horizon(horizon)
    t, e, ro = check_survival_inputs(time, event, risk_old)
    _, _, rn = check_survival_inputs(time, event, risk_new)

    S = 1.0 - float(observed_risk_at(t, e, t0))
    if S >= 1.0:
        raise NotEstimableError(f"no event at or before the horizon t0 = {t0:g}: the NRI is not defined")
    if S <= 0.0:
        raise NotEstimableError(f"no patient is event-free at the horizon t0 = {t0:g}: the NRI is not defined")
    return net_reclassification(ro, rn, time=t, event=e, horizon=t0)


def integrated_discrimination_improvement(time, event, risk_old, risk_new, *, horizon) -> IDIResult:
    r"""IDI at the horizon for right-censored data (inverse probability of censoring weights).

    Parameters
    ----------
    time, event : array-like of shape (n,)
    risk_old, risk_new : array-like of shape (n,)
        Predicted risks by the horizon.
    horizon : float

    Returns
    -------
    IDIResult

    Notes
    -----
    Cases are :math:`T_i \le t_0` with an event, weighted :math:`1/G(T_i-)`;
    controls are :math:`T_j > t_0`, weighted :math:`1/G(t_0)`; rows censored
    before :math:`t_0` get weight 0 (:math:`G` the Kaplan-Meier censoring
    survival of :func:`radiorisk.evaluation.censoring_survival`).  The
    discrimination slope of a model is the weighted mean risk of cases minus
    that of controls, and IDI = slope(new) - slope(old) (Pencina 2008's IDI
    with the IPCW case/control weights of Uno et al. 2013, Stat Med 32:2430).
    Without censoring before :math:`t_0` it is the binary IDI.

    Examples
    --------
    >>> r = integrated_discrimination_improvement([1, 2, 5, 6], [1, 1, 0, 0],
    ...     [0.2, 0.5, 0.3, 0.4], [0.6, 0.4, 0.1, 0.5], horizon=3)
    >>> round(r.slope_old, 4), round(r.slope_new, 4), round(r.idi, 4)
    (0.0, 0.2, 0.2)
    """

    t0 = check_horizon(horizon)
    t, e, ro = check_survival_inputs(time, event, risk_old)
    _, _, rn = check_survival_inputs(time, event, risk_new)
    case, ctrl, w = _ipcw(t, e, t0)
    if not case.any():
        raise NotEstimableError(f"no event at or before the horizon t0 = {t0:g}: the IDI is not defined")
    if not ctrl.any():
        raise NotEstimableError(f"no patient is event-free beyond the horizon t0 = {t0:g}: the IDI is not defined")

    def slope(r):
        return float(np.sum(w[case] * r[case]) / np.sum(w[case]) - np.mean(r[ctrl]))

    so, sn = slope(ro), slope(rn)
    return IDIResult(sn - so, so, sn)
