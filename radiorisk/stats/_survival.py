"""Metrics of a right-censored outcome against a predicted risk by the horizon ``t0``.

``risk`` is the predicted probability of the event by ``t0``. This module holds the
IPCW metrics (time-dependent AUC, Brier score, IPA, O/E) and gathers the survival
metrics of :mod:`._km`, :mod:`._concordance` and :mod:`._rcs` under one name. Definitions follow
``../referee/README.md``: the censoring distribution :math:`G` is the
Kaplan-Meier estimate of the censoring times in which, at a time with both
events and censorings, the subjects with events leave the risk set first
(prodlim / ``survival::concordance``); :math:`S_{KM}` is the ordinary
Kaplan-Meier estimate of ``survfit(Surv(time, event) ~ 1)``.
"""

from __future__ import annotations

import numpy as np

from ._common import (
    _NO_CONTROL,
    _NO_EVENT_BY_T0,
    Z_975,
    Estimate,
    NotEstimableError,
    check_horizon,
    check_survival_inputs,
)
from ._concordance import harrell_c, uno_c
from ._km import StepFunction, _counts, censoring_survival, kaplan_meier, kaplan_meier_risk
from ._rcs import cox_calibration, rcs_basis, rcs_knots

__all__ = [
    "censoring_survival",
    "kaplan_meier_risk",
    "harrell_c",
    "uno_c",
    "td_auc",
    "brier_t",
    "ipa",
    "oe_ratio_t",
    "cox_calibration",
    "rcs_knots",
    "rcs_basis",
    "StepFunction",
]


def _censoring_if_term(t, e, t0, v, case, ctrl):
    r"""Part of the influence function that comes from estimating G by Kaplan-Meier.

    For an IPCW mean :math:`\theta = n^{-1}\sum_j v_j` whose row :math:`j` is
    weighted by :math:`1/G(T_j-)` (cases) or :math:`1/G(t_0)` (controls), the
    term for row :math:`i` is
    :math:`\sum_s h(s)\, dM^C_i(s) / (Y(s)/n)` with
    :math:`h(s) = n^{-1}\sum_j v_j 1(s \text{ inside } j\text{'s weight})`,
    :math:`dM^C_i(s) = dN^C_i(s) - 1(T_i \ge s)\, c(s)/Y(s)` and
    :math:`Y(s) = \#\{T \ge s\}`: the Nelson-Aalen-type linearisation used
    by ``riskRegression`` (``getInfluenceFunctionBrierKMCensoringUseSquared``).
    """
    n = len(t)
    uniq, Y, _, c = _counts(t, e)
    keep = c > 0
    s, R, ck = uniq[keep], Y[keep], c[keep]
    if len(s) == 0:
        return np.zeros(n)
    tc = t[case]
    order = np.argsort(tc, kind="stable")
    tc, vc = tc[order], v[case][order]
    suffix = np.concatenate([np.cumsum(vc[::-1])[::-1], [0.0]])
    h = suffix[np.searchsorted(tc, s, side="right")] + np.where(s <= t0, np.sum(v[ctrl]), 0.0)
    q = h / R  # h(s) / (Y(s)/n) with h = (1/n) * sum
    term = np.zeros(n)
    cens = e == 0
    term[cens] += q[np.searchsorted(s, t[cens])]
    cum = np.concatenate([[0.0], np.cumsum(q * ck / R)])
    term -= cum[np.searchsorted(s, t, side="right")]
    return term


def _ipcw(t, e, t0):
    """Case indicator, control indicator and IPCW weights (0 when censored by t0)."""
    G = censoring_survival(t, e)
    case = (t <= t0) & (e == 1)
    ctrl = t > t0
    w = np.zeros(len(t))
    w[case] = 1.0 / G.before(t[case])
    g0 = float(G.at(t0))
    if ctrl.any():
        w[ctrl] = 1.0 / g0
    return case, ctrl, w


def td_auc(time, event, risk, *, horizon) -> Estimate:
    r"""Cumulative/dynamic time-dependent AUC at the horizon, IPCW-weighted.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator, predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    Estimate
        The AUC with an influence-function SE and Wald CI (see Notes).

    Notes
    -----
    Cases are :math:`T_i \le t_0` with an event, weighted :math:`w_i = 1/G(T_i-)`;
    controls are :math:`T_j > t_0`, weighted :math:`1/G(t_0)`; rows censored
    at or before :math:`t_0` get weight 0.

    .. math::

        \mathrm{AUC}(t_0) = \frac{\sum_i \sum_j w_i w_j [1(r_i > r_j) + \tfrac12 1(r_i = r_j)]}
        {\sum_i w_i \sum_j w_j}.

    This is ``riskRegression::Score(..., metrics = "auc", cens.model = "km")``.
    The SE is the sample SD of the influence function over :math:`\sqrt n`: the
    projection of the ratio of IPCW U-statistics plus the part that comes from
    estimating :math:`G` by Kaplan-Meier (Nelson-Aalen-type linearisation with
    :math:`Y(s) = \#\{T \ge s\}`); it reproduces ``Score``'s
    ``conservative = FALSE`` SE (Blanche et al. 2013).

    Examples
    --------
    >>> r = td_auc([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 0, 0], [0.9, 0.3, 0.5, 0.1, 0.2, 0.4], horizon=2.5)
    >>> round(r.estimate, 4)
    0.75
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    case, ctrl, w = _ipcw(t, e, t0)
    if not case.any():
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="the time-dependent AUC"))
    if not ctrl.any():
        raise NotEstimableError(_NO_CONTROL.format(t0=t0, what="the time-dependent AUC"))
    n = len(t)
    rc = np.sort(r[ctrl])
    wc = w[ctrl][0]  # all controls share 1/G(t0)
    rcase = np.sort(r[case])
    # per case: controls below + 1/2 ties; per control: cases above + 1/2 ties (case-weighted)
    below = np.searchsorted(rc, r[case], side="left")
    eq = np.searchsorted(rc, r[case], side="right") - below
    k_case = below + 0.5 * eq  # count of controls (unweighted; control weights are equal)
    wcase = w[case]
    order = np.argsort(r[case], kind="stable")
    cw = np.concatenate([[0.0], np.cumsum(wcase[order])])
    lo = np.searchsorted(rcase, r[ctrl], side="left")
    hi = np.searchsorted(rcase, r[ctrl], side="right")
    above_w = (cw[-1] - cw[hi]) + 0.5 * (cw[hi] - cw[lo])  # weighted cases above control j
    A = float(np.sum(wcase))
    B = wc * ctrl.sum()
    num = float(np.sum(wcase * k_case)) * wc
    auc = float(num / (A * B))
    # influence function of N/(A B) with N, A, B sample means over all n rows
    h = np.zeros(n)
    h[case] = wcase * k_case * wc
    h[ctrl] += wc * above_w
    Nm, Am, Bm = num / n**2, A / n, B / n
    a = np.where(case, w, 0.0)
    b = np.where(ctrl, w, 0.0)
    # first-order projections of N (a V-statistic), A and B, each with the part
    # that comes from estimating G
    if_n = h / n - 2.0 * Nm + _censoring_if_term(t, e, t0, h / n, case, ctrl)
    if_a = a - Am + _censoring_if_term(t, e, t0, a, case, ctrl)
    if_b = b - Bm + _censoring_if_term(t, e, t0, b, case, ctrl)
    inf = if_n / (Am * Bm) - auc * (if_a / Am + if_b / Bm)
    se = float(np.std(inf, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")  # one row: no SE
    return Estimate(auc, se, auc - Z_975 * se, auc + Z_975 * se,
                    "riskRegression::Score(metrics='auc', cens.model='km'); influence-function SE")


def _brier_terms(t, e, r, t0):
    case, ctrl, w = _ipcw(t, e, t0)
    terms = np.zeros(len(t))
    terms[case] = (1.0 - r[case]) ** 2 * w[case]
    terms[ctrl] = r[ctrl] ** 2 * w[ctrl]
    return terms


def brier_t(time, event, risk, *, horizon) -> Estimate:
    r"""IPCW Brier score at the horizon.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator, predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    Estimate
        The Brier score with SE and Wald CI (see Notes).

    Notes
    -----
    .. math::

        BS(t_0) = \frac1n \sum_i \Big[ \frac{1(T_i \le t_0, \delta_i = 1)(1 - r_i)^2}{G(T_i-)}
        + \frac{1(T_i > t_0)\, r_i^2}{G(t_0)} \Big],

    :math:`n` counting every row. This is ``riskRegression::Score(...,
    metrics = "brier", cens.model = "km")``. The SE is the sample SD of the
    influence function over :math:`\sqrt n`, including the part that comes from
    estimating :math:`G`, as ``Score`` computes it (``conservative = FALSE``).

    Examples
    --------
    >>> round(brier_t([1, 2, 3, 4], [1, 0, 1, 0], [0.6, 0.2, 0.3, 0.1], horizon=2.5).estimate, 4)
    0.0775
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    terms = _brier_terms(t, e, r, t0)
    bs = float(np.mean(terms))
    case, ctrl, _ = _ipcw(t, e, t0)
    inf = terms - bs + _censoring_if_term(t, e, t0, terms, case, ctrl)
    se = float(np.std(inf, ddof=1) / np.sqrt(len(t))) if len(t) > 1 else float("nan")  # one row: no SE
    return Estimate(bs, se, bs - Z_975 * se, bs + Z_975 * se,
                    "riskRegression::Score(metrics='brier', cens.model='km'); influence-function SE")


def ipa(time, event, risk, *, horizon) -> float:
    r"""Index of prediction accuracy :math:`1 - BS(t_0) / BS_{null}(t_0)`.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator, predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    float

    Notes
    -----
    :math:`BS_{null}` is :func:`brier_t` with every risk set to the data's own
    Kaplan-Meier risk :math:`1 - S_{KM}(t_0)` (``Score(..., summary = "ipa")``).

    Examples
    --------
    >>> round(ipa([1, 2, 3, 4], [1, 0, 1, 0], [0.6, 0.2, 0.3, 0.1], horizon=2.5), 4)
    0.5867
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    km = 1.0 - float(kaplan_meier(t, e).at(t0))
    null = float(np.mean(_brier_terms(t, e, np.full(len(t), km), t0)))
    if null <= 0:
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="IPA"))
    return 1.0 - float(np.mean(_brier_terms(t, e, r, t0))) / null


def oe_ratio_t(time, event, risk, *, horizon) -> float:
    r"""Observed-to-expected ratio :math:`(1 - S_{KM}(t_0)) / \bar r`.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator, predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    float

    Examples
    --------
    >>> oe_ratio_t([1, 2, 3, 4], [1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5], horizon=3)
    1.25
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    m = float(np.mean(r))
    if m <= 0:
        raise NotEstimableError("the mean predicted risk is 0: O/E is not defined")
    return (1.0 - float(kaplan_meier(t, e).at(t0))) / m
