"""Net reclassification improvement at a horizon: categorical and category-free, KM or Aalen-Johansen.

One kernel (:func:`net_reclassification`) for binary, right-censored and competing-risk
outcomes, with case weights per bootstrap replicate; :func:`radiorisk.stats.category_free_nri`
is its category-free survival form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._decision import observed_risk_at

__all__ = ["NRIResult", "net_reclassification", "risk_categories"]


@dataclass(frozen=True)
class NRIResult:
    """Net reclassification improvement at the horizon (categorical or category-free).

    Attributes
    ----------
    nri : float
        ``events + nonevents`` (range -2 ... 2; not to be read without its components).
    events, nonevents : float
        The event and non-event components.
    p_up, p_down : float
        Shares of patients whose risk went up / down with the new model.
    """

    nri: float
    events: float
    nonevents: float
    p_up: float
    p_down: float

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame of the fields."""
        return pd.DataFrame([self.__dict__])


def risk_categories(risk, cuts) -> np.ndarray:
    """Risk category of each row: the number of cut points at or below the risk (0 ... len(cuts)).

    A risk equal to a cut point falls in the upper category (R ``nricens``' ``categorize``;
    the audit's rule ``risk >= threshold``).

    Examples
    --------
    >>> risk_categories([0.05, 0.1, 0.15, 0.3], [0.1, 0.2]).tolist()
    [0, 1, 1, 2]
    """
    c = np.sort(np.asarray(cuts, dtype=np.float64).ravel())
    if c.size == 0 or not np.all(np.isfinite(c)) or np.any((c <= 0) | (c >= 1)):
        raise ValueError(f"cuts must be risks strictly between 0 and 1; got {list(c)}")
    return np.searchsorted(c, np.asarray(risk, dtype=np.float64), side="right")


def net_reclassification(risk_old, risk_new, *, y=None, time=None, event=None, horizon=None, cuts=None,
                         competing_risks: bool = False, weights=None) -> NRIResult:
    r"""NRI of ``risk_new`` over ``risk_old``: event and non-event components, at :math:`t_0`.

    Parameters
    ----------
    risk_old, risk_new : ndarray of shape (n,)
        Predicted risks of the reference and of the new model (by ``horizon``).
    y : ndarray of shape (n,), optional
        Binary outcome (give ``y`` or ``time`` and ``event``).
    time, event : ndarray of shape (n,), optional
        Follow-up and event (0/1; with ``competing_risks`` the status 0/1/2).
    horizon : float, optional
    cuts : sequence of float, optional
        Risk cut points of the categorical NRI (up = a higher category with the new model,
        :func:`risk_categories`). Default: the category-free NRI (up = ``risk_new > risk_old``).
    competing_risks : bool
        Observed risk = the Aalen-Johansen cumulative incidence of cause 1.
    weights : ndarray of shape (n,) or (n, B), optional
        Case weights (bootstrap counts).

    Returns
    -------
    NRIResult
        Floats, or arrays of shape (B,) with 2-D ``weights``; NaN where the NRI is not
        defined (no event, or no patient free of the event, by :math:`t_0`).

    Notes
    -----
    Pencina, Steyerberg & D'Agostino (2011, Stat Med 30:11) with Kaplan-Meier risks as
    R ``nricens(..., t0)`` computes them (``nricens.km.main``): with :math:`F` the observed
    risk by :math:`t_0` of all rows, :math:`F_{up}`, :math:`F_{down}` that of the rows
    moving up and down, :math:`\pi_{up}`, :math:`\pi_{down}` their shares,
    :math:`P(up \mid E) = F_{up}\pi_{up} / F`, :math:`P(up \mid \bar E) = (1 - F_{up})\pi_{up} / (1 - F)`
    (likewise down); NRI\ :sub:`e` = P(up | E) - P(down | E), NRI\ :sub:`ne` = P(down | Ē) -
    P(up | Ē). :math:`F = 1 - S_{KM}(t_0)` for right-censored data, the proportion of events for
    binary data and, with competing risks, the Aalen-Johansen cumulative incidence of cause 1:
    an "event" is the event of interest by :math:`t_0`, a "non-event" everyone else (event-free
    or after a competing event), the estimand of the audit's fairness rates.
    Report the two components: their sum weighs events and non-events equally whatever the
    event rate.

    Examples
    --------
    >>> r = net_reclassification(np.array([0.2, 0.5, 0.3, 0.4]), np.array([0.6, 0.4, 0.1, 0.5]),
    ...                          y=np.array([1., 1, 0, 0]))
    >>> r.events, r.nonevents
    (0.0, 0.0)
    """
    ro = np.asarray(risk_old, dtype=np.float64)
    rn = np.asarray(risk_new, dtype=np.float64)
    if ro.shape != rn.shape:
        raise ValueError(f"risk_old and risk_new differ in length ({len(ro)} and {len(rn)})")
    if cuts is None:
        up, down = rn > ro, rn < ro
    else:
        co, cn = risk_categories(ro, cuts), risk_categories(rn, cuts)
        up, down = cn > co, cn < co
    one = weights is None or np.ndim(weights) == 1
    W = np.ones((len(ro), 1)) if weights is None else np.asarray(weights, dtype=np.float64)
    if W.ndim == 1:
        W = W[:, None]
    tot = W.sum(axis=0)

    def risk_of(m):
        Wm = W * m[:, None]
        if y is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.asarray(y, dtype=np.float64) @ Wm) / Wm.sum(axis=0)
        return observed_risk_at(np.asarray(time, dtype=np.float64), np.asarray(event, dtype=np.float64),
                                horizon, Wm, competing_risks=competing_risks)

    with np.errstate(divide="ignore", invalid="ignore"):
        F = risk_of(np.ones(len(ro), dtype=bool))
        pu, pd_ = (up.astype(float) @ W) / tot, (down.astype(float) @ W) / tot
        fu = np.where(pu > 0, risk_of(up), 0.0)
        fd = np.where(pd_ > 0, risk_of(down), 0.0)
        ok = (F > 0) & (F < 1)
        up_e, down_e = fu * pu / F, fd * pd_ / F
        up_ne, down_ne = (1 - fu) * pu / (1 - F), (1 - fd) * pd_ / (1 - F)
        ev = np.where(ok, up_e - down_e, np.nan)
        ne = np.where(ok, down_ne - up_ne, np.nan)
    if one:
        return NRIResult(float(ev[0] + ne[0]), float(ev[0]), float(ne[0]), float(pu[0]), float(pd_[0]))
    return NRIResult(ev + ne, ev, ne, pu, pd_)
