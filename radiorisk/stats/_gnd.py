"""The Greenwood-Nam-D'Agostino (GND) calibration test at a horizon (Demler, Paynter & Cook 2015)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ._common import (
    _NO_EVENT_BY_T0,
    NotEstimableError,
    check_horizon,
    check_survival_inputs,
    html_table,
)
from ._km import kaplan_meier_risk

__all__ = ["GNDTest", "gnd_test", "risk_groups"]

_METHOD = ("Greenwood-Nam-D'Agostino (Demler, Paynter & Cook 2015, GND.calib): Kaplan-Meier risk at t0 "
           "per risk group with its Greenwood variance; chi-square(groups - 1)")


@dataclass(frozen=True)
class GNDTest:
    """A Greenwood-Nam-D'Agostino test.

    Attributes
    ----------
    statistic : float
        :math:`\\chi^2_{GND}`.
    df : int
        Risk groups minus 1 (after collapsing).
    p_value : float
        Upper tail of :math:`\\chi^2_{df}`.
    n_groups : int
        Risk groups used.
    table : DataFrame
        Per risk group: ``group, n, events, risk_low, risk_high, mean_predicted, km_risk,
        km_variance, component``.
    horizon : float
    method : str
    """

    statistic: float
    df: int
    p_value: float
    n_groups: int
    table: pd.DataFrame
    horizon: float
    method: str = _METHOD

    def _repr_html_(self) -> str:
        return html_table(self.table)


def risk_groups(risk, events, *, n_groups: int = 10, min_events: int = 5) -> np.ndarray:
    """Quantile groups of the predicted risk, adjacent groups merged until each has ``min_events`` events.

    Parameters
    ----------
    risk : array-like of shape (n,)
    events : array-like of shape (n,)
        1 for a row with an event by the horizon.
    n_groups : int
        Groups before merging: ``cut(risk, unique(quantile(risk, 0:n_groups / n_groups)),
        include.lowest = TRUE)`` (type-7 quantiles, right-closed intervals).
    min_events : int
        While a group has fewer events, the lowest such group joins the next higher group (the
        highest group joins the one below).

    Returns
    -------
    ndarray of int
        Group numbers 1, 2, ... in order of risk.

    Examples
    --------
    >>> risk_groups([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 1], n_groups=4, min_events=1).tolist()
    [1, 2, 2, 3]
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be >= 1; got {n_groups}")
    r = np.asarray(risk, dtype=np.float64)
    ev = np.asarray(events, dtype=np.float64)
    br = np.unique(np.quantile(r, np.linspace(0.0, 1.0, n_groups + 1)))
    g = np.maximum(np.searchsorted(br, r, side="left"), 1) if len(br) >= 2 else np.ones(len(r), dtype=int)
    while True:
        lev = np.unique(g)
        if len(lev) < 2:
            break
        e = np.array([ev[g == k].sum() for k in lev])
        short = np.flatnonzero(e < min_events)
        if not len(short):
            break
        i = int(short[0])
        j = i + 1 if i < len(lev) - 1 else i - 1
        g = np.where(g == lev[i], lev[j], g)
    return np.searchsorted(np.unique(g), g) + 1


def gnd_test(time, event, risk, *, horizon, n_groups: int = 10, min_events: int = 5) -> GNDTest:
    r"""Greenwood-Nam-D'Agostino goodness-of-fit test of predicted risks by ``horizon``.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up (> 0), event indicator (0/1), predicted risk :math:`P(T \le t_0)`.
    horizon : float
        :math:`t_0`.
    n_groups : int
        Risk groups before collapsing (deciles by default).
    min_events : int
        Adjacent groups are merged until each has this many events by :math:`t_0`
        (:func:`risk_groups`; Demler et al. recommend at least 5).

    Returns
    -------
    GNDTest

    Raises
    ------
    NotEstimableError
        Without an event by :math:`t_0`, with fewer than two groups after collapsing, or with a
        group whose Greenwood variance is undefined (every row of it failed).

    Notes
    -----
    Demler, Paynter & Cook (2015), Stat Med 34:1659. The data are censored at :math:`t_0`; in
    group :math:`g` with Kaplan-Meier risk :math:`\hat F_g = 1 - S_g(t_0)`, Greenwood variance
    :math:`\hat V_g = S_g(t_0)^2 \sum_{t_k \le t_0} d_k / (Y_k (Y_k - d_k))` and mean predicted risk
    :math:`\bar r_g`,

    .. math::

        \chi^2_{GND} = \sum_g (\hat F_g - \bar r_g)^2 / \hat V_g \sim \chi^2_{G - 1},

    a group with :math:`\hat V_g = 0` contributing 0, as in the authors' R function ``GND.calib``
    (version 2, 2015), which this equals given the same groups. ``GND.calib`` stops when a group has
    fewer than 2 events and warns below 5, leaving the collapsing to the user; here it is
    :func:`risk_groups` (checked against the R reconstruction in ``tests/reference/calibration_tests``).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> r = rng.uniform(0.05, 0.5, 1000)
    >>> t = rng.exponential(-5 / np.log1p(-r))
    >>> res = gnd_test(np.minimum(t, 8), (t <= 8).astype(int), r, horizon=5)
    >>> res.df, bool(res.p_value > 0.01)
    (9, True)
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    ev = ((e == 1) & (t <= t0)).astype(np.float64)
    if not ev.any():
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="the GND test"))
    g = risk_groups(r, ev, n_groups=n_groups, min_events=min_events)
    G = int(g.max())
    if G < 2:
        raise NotEstimableError(f"fewer than 2 risk groups with at least {min_events} events by t0 = {t0:g}: "
                                "the GND test is not defined")
    rows = []
    for k in range(1, G + 1):
        sel = g == k
        km = kaplan_meier_risk(np.minimum(t[sel], t0), ev[sel], horizon=t0)
        var = km.se ** 2
        if not np.isfinite(var):
            raise NotEstimableError(f"risk group {k}: the Greenwood variance at t0 = {t0:g} is undefined "
                                    "(every row failed): the GND test is not defined")
        mean_r = float(r[sel].mean())
        comp = 0.0 if var == 0 else (km.estimate - mean_r) ** 2 / var
        rows.append((k, int(sel.sum()), int(ev[sel].sum()), float(r[sel].min()), float(r[sel].max()), mean_r,
                     km.estimate, var, comp))
    table = pd.DataFrame(rows, columns=["group", "n", "events", "risk_low", "risk_high", "mean_predicted",
                                        "km_risk", "km_variance", "component"])
    stat = float(table["component"].sum())
    return GNDTest(stat, G - 1, float(chi2.sf(stat, G - 1)), G, table, t0)
