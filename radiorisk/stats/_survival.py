"""Metrics of a right-censored outcome against a predicted risk by the horizon ``t0``.

``risk`` is the predicted probability of the event by ``t0``. Definitions follow
``../referee/README.md``: the censoring distribution :math:`G` is the
Kaplan-Meier estimate of the censoring times in which, at a time with both
events and censorings, the subjects with events leave the risk set first
(prodlim / ``survival::concordance``); :math:`S_{KM}` is the ordinary
Kaplan-Meier estimate of ``survfit(Surv(time, event) ~ 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._common import (
    Z_975,
    CalibrationErrors,
    Estimate,
    NotEstimableError,
    _summarise_errors,
    check_horizon,
    check_survival_inputs,
)
from ._cox import fit_cox
from ._linalg import sqrt_variance

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

_NO_EVENT_BY_T0 = "no event at or before the horizon t0 = {t0:g}: {what} is not defined"
_NO_CONTROL = "no subject is event-free beyond the horizon t0 = {t0:g}: {what} is not defined"


# ---------------------------------------------------------------------------
# Kaplan-Meier estimates
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StepFunction:
    """A right-continuous step function starting at 1 (a survival curve).

    Attributes
    ----------
    x : ndarray
        Jump times, increasing.
    y : ndarray
        Values from each jump time on (``y[k]`` on ``[x[k], x[k+1])``).
    """

    x: np.ndarray
    y: np.ndarray

    def at(self, t) -> np.ndarray:
        """Value at ``t`` (right-continuous: jumps at ``t`` included)."""
        vals = np.concatenate([[1.0], self.y])
        return vals[np.searchsorted(self.x, np.asarray(t, dtype=np.float64), side="right")]

    def before(self, t) -> np.ndarray:
        """Left limit at ``t`` (jumps at ``t`` excluded)."""
        vals = np.concatenate([[1.0], self.y])
        return vals[np.searchsorted(self.x, np.asarray(t, dtype=np.float64), side="left")]


def _counts(time, event):
    uniq, inv = np.unique(time, return_inverse=True)
    n_at = np.bincount(inv, minlength=len(uniq))
    d = np.bincount(inv, weights=event, minlength=len(uniq))
    c = n_at - d
    at_risk = np.cumsum(n_at[::-1])[::-1]
    return uniq, at_risk.astype(np.float64), d, c


def _km(time, event) -> tuple[StepFunction, np.ndarray, np.ndarray, np.ndarray]:
    uniq, Y, d, _ = _counts(time, event)
    keep = d > 0
    S = np.cumprod(1.0 - d[keep] / Y[keep])
    return StepFunction(uniq[keep], S), uniq[keep], Y[keep], d[keep]


def censoring_survival(time, event) -> StepFunction:
    r"""Kaplan-Meier estimate :math:`G` of the censoring distribution, events leaving first.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (> 0).
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.

    Returns
    -------
    StepFunction
        ``.at(t)`` is :math:`G(t)`, ``.before(t)`` is :math:`G(t-)`.

    Notes
    -----
    .. math::

        G(t) = \prod_{s \le t,\ c(s) > 0} \Big[ 1 - \frac{c(s)}{Y(s) - d(s)} \Big],

    with :math:`Y(s) = \#\{T \ge s\}` and :math:`d(s)`, :math:`c(s)` the events
    and censorings at :math:`s`: at a time shared by events and censorings the
    events leave the risk set first, as in ``prodlim`` (``riskRegression``)
    and ``survival::concordance``.

    Examples
    --------
    >>> G = censoring_survival([1, 2, 2, 3, 4], [1, 1, 0, 0, 1])
    >>> G.at([1, 2, 3]).round(4).tolist()
    [1.0, 0.6667, 0.3333]
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    uniq, Y, d, c = _counts(t, e)
    keep = c > 0
    G = np.cumprod(1.0 - c[keep] / (Y[keep] - d[keep]))
    return StepFunction(uniq[keep], G)


def kaplan_meier_risk(time, event, *, horizon, conf_type: str = "log") -> Estimate:
    r"""Kaplan-Meier risk :math:`1 - S_{KM}(t_0)` with a 95 % CI.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (> 0).
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.
    horizon : float
        :math:`t_0`; events at :math:`t_0` count (right-continuous estimate).
    conf_type : {"log", "log-log"}
        ``survfit``'s ``conf.type`` for the interval of :math:`S(t_0)`, turned
        into risks. "log": :math:`S\exp(\pm 1.96\,\sigma)` (R's default);
        "log-log": :math:`S^{\exp(\pm 1.96\,\sigma / \log S)}`, which stays
        inside (0, 1); as in R it is undefined (NaN) when :math:`S(t_0) = 1`,
        unless :math:`t_0` precedes every time (then [0, 0]). :math:`\sigma^2 = \sum_{t_k \le t_0} d_k / (Y_k (Y_k - d_k))`
        (Greenwood).

    Returns
    -------
    Estimate
        The risk :math:`1 - S_{KM}(t_0)`, its Greenwood SE and the 95 % CI.

    Examples
    --------
    >>> kaplan_meier_risk([1, 2, 3, 4], [1, 0, 1, 0], horizon=3).estimate
    0.625
    """
    t0 = check_horizon(horizon)
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    if len(t) == 0:
        raise NotEstimableError("no observations")
    S, times, Y, d = _km(t, e)
    s = float(S.at(t0))
    sel = times <= t0
    with np.errstate(divide="ignore"):
        var_log = float(np.sum(d[sel] / (Y[sel] * (Y[sel] - d[sel]))))
    if conf_type not in ("log", "log-log"):
        raise ValueError(f"conf_type must be 'log' or 'log-log'; got {conf_type!r}")
    # S = 0 with an infinite Greenwood term (everyone failed): R's std.err is NaN, not 0 x inf
    sd = float(sqrt_variance(var_log))
    se = s * sd if np.isfinite(var_log) else float("nan")
    ci = (float("nan"), float("nan"))
    if conf_type == "log" and s > 0 and np.isfinite(var_log):
        lo_s, hi_s = s * np.exp(-Z_975 * sd), min(1.0, s * np.exp(Z_975 * sd))
        ci = (1.0 - hi_s, 1.0 - lo_s)
    elif conf_type == "log-log" and s == 1.0 and not np.any(t <= t0):
        ci = (0.0, 0.0)  # t0 precedes every time: survfit reports the start values
    elif conf_type == "log-log" and 0 < s < 1 and np.isfinite(var_log):
        a = Z_975 * sd / np.log(s)
        ci = (1.0 - s ** np.exp(a), 1.0 - s ** np.exp(-a))
    return Estimate(1.0 - s, float(se), float(ci[0]), float(ci[1]),
                    f"1 - survfit(Surv(time, event) ~ 1) at t0; conf.type='{conf_type}'")


# ---------------------------------------------------------------------------
# concordance
# ---------------------------------------------------------------------------


def _pair_counts(t, e, r, idx_events, chunk=None):
    """Per event row: #comparable, #concordant, #tied-in-risk.

    j is comparable to event i when T_j > T_i, or T_j == T_i and j is censored.
    Exact integer counts: all pairs in blocks for small data, else
    :func:`_pair_counts_sorted` (O(n log^2 n)).
    """
    if chunk is None and len(t) * len(idx_events) > 50_000_000:
        return _pair_counts_sorted(t, e, r, idx_events)
    if chunk is None:  # keep each boolean block near 4 million cells
        chunk = max(1, 4_000_000 // max(1, len(t)))
    comp = np.empty(len(idx_events))
    conc = np.empty(len(idx_events))
    tied = np.empty(len(idx_events))
    for s in range(0, len(idx_events), chunk):
        ii = idx_events[s:s + chunk]
        ti, ri = t[ii][:, None], r[ii][:, None]
        ok = (t[None, :] > ti) | ((t[None, :] == ti) & (e[None, :] == 0))
        comp[s:s + chunk] = ok.sum(axis=1)
        conc[s:s + chunk] = (ok & (r[None, :] < ri)).sum(axis=1)
        tied[s:s + chunk] = (ok & (r[None, :] == ri)).sum(axis=1)
    return comp, conc, tied


def _pair_counts_sorted(t, e, r, idx_events):
    """:func:`_pair_counts` by dominance counting over dyadic blocks (same integers).

    Rows are ordered by time, events before censorings at a tie; event i's comparable
    rows are then the suffix starting after the events at T_i. The number of rows of
    the prefix [0, q) with risk rank below x is a sum over the set bits of q of counts
    in one dyadic block each, found by binary search in the block-sorted ranks.
    """
    n = len(t)
    order = np.lexsort((-e, t))
    ts, es = t[order], e[order]
    _, key = np.unique(r, return_inverse=True)
    key = key.astype(np.int64)
    ks = key[order]
    M = int(key.max()) + 2
    ti, xi = t[idx_events], key[idx_events]
    left = np.searchsorted(ts, ti, side="left")
    d_at = np.searchsorted(ts, ti, side="right") - left  # rows at T_i ...
    # ... of which censored: events come first within a tie, so count the events there
    ev_pos = np.flatnonzero(es == 1)
    n_ev_before = np.searchsorted(ev_pos, left, side="left")
    n_ev_upto = np.searchsorted(ev_pos, left + d_at, side="left")
    cens_at = d_at - (n_ev_upto - n_ev_before)
    q = left + d_at - cens_at  # first comparable position
    below = np.zeros(len(idx_events), dtype=np.int64)  # prefix [0, q): rank < x
    equal = np.zeros(len(idx_events), dtype=np.int64)  # prefix [0, q): rank == x
    level = 0
    while (1 << level) <= n:
        size = 1 << level
        blocks = np.arange(n, dtype=np.int64) >> level
        srt = np.sort(blocks * M + ks)
        has = ((q >> level) & 1) == 1
        b = (q[has] >> (level + 1)) << 1
        base = b * M
        lo = np.searchsorted(srt, base + xi[has], side="left")
        hi = np.searchsorted(srt, base + xi[has] + 1, side="left")
        below[has] += lo - b * size
        equal[has] += hi - lo
        level += 1
    key_sorted = np.sort(key)
    all_below = np.searchsorted(key_sorted, xi, side="left")
    all_equal = np.searchsorted(key_sorted, xi, side="right") - all_below
    comp = (n - q).astype(float)
    conc = (all_below - below).astype(float)
    tied = (all_equal - equal).astype(float)
    return comp, conc, tied


def harrell_c(time, event, risk) -> float:
    r"""Harrell's concordance index over all follow-up.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (> 0).
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.
    risk : array-like of shape (n,)
        Predicted risk, or any score where higher means an earlier event
        (e.g. a Cox linear predictor).

    Returns
    -------
    float

    Raises
    ------
    NotEstimableError
        Without any comparable pair.

    Notes
    -----
    A pair :math:`(i, j)` is comparable when :math:`i` has an event and
    :math:`T_j > T_i`, or :math:`T_j = T_i` and :math:`j` is censored; two events at
    the same time are not comparable. :math:`C = (\#\{r_i > r_j\} + \tfrac12
    \#\{r_i = r_j\}) / \#\text{comparable}`. This is
    ``survival::concordance(Surv(time, event) ~ risk, reverse = TRUE)``.

    Examples
    --------
    >>> harrell_c([1, 2, 3, 4], [1, 1, 0, 1], [0.9, 0.5, 0.7, 0.1])
    0.8
    """
    t, e, r = check_survival_inputs(time, event, risk, probability=False)
    idx = np.flatnonzero(e == 1)
    return _harrell_from_counts(*_pair_counts(t, e, r, idx))


def _harrell_from_counts(comp, conc, tied) -> float:
    n_comp = float(np.sum(comp))
    if n_comp == 0:
        raise NotEstimableError("no comparable pair: Harrell's C is not defined")
    return float((np.sum(conc) + 0.5 * np.sum(tied)) / n_comp)


def _uno_from_counts(t, e, t_events, comp, conc, tied, t0) -> float:
    """Uno's C from the pair counts of the events at ``t_events`` (all at or before ``t0``)."""
    if len(t_events) == 0:
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="Uno's C"))
    w = 1.0 / censoring_survival(t, e).before(t_events) ** 2
    den = float(np.sum(w * comp))
    if den == 0:
        raise NotEstimableError("no comparable pair: Uno's C is not defined")
    return float(np.sum(w * (conc + 0.5 * tied)) / den)


def uno_c(time, event, risk, *, horizon) -> float:
    r"""Uno's IPCW concordance index truncated at the horizon.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        As in :func:`harrell_c`.
    horizon : float
        :math:`t_0`; only events with :math:`T_i \le t_0` anchor pairs (events
        exactly at :math:`t_0` count).

    Returns
    -------
    float

    Notes
    -----
    Harrell's comparable pairs with :math:`T_i \le t_0`, each weighted by
    :math:`1/G(T_i-)^2` (see :func:`censoring_survival`):

    .. math::

        C_{Uno} = \frac{\sum_i \delta_i 1(T_i \le t_0) G(T_i-)^{-2}
        \sum_{j \in \mathcal{C}_i} [1(r_i > r_j) + \tfrac12 1(r_i = r_j)]}
        {\sum_i \delta_i 1(T_i \le t_0) G(T_i-)^{-2} |\mathcal{C}_i|}.

    This is ``survival::concordance(..., timewt = "n/G2", ymax = t0)``.

    Examples
    --------
    >>> round(uno_c([1, 2, 3, 4, 5], [1, 0, 1, 1, 0], [0.9, 0.5, 0.7, 0.1, 0.2], horizon=4), 4)
    0.8095
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    idx = np.flatnonzero((e == 1) & (t <= t0))
    counts = _pair_counts(t, e, r, idx) if len(idx) else ((), (), ())
    return _uno_from_counts(t, e, t[idx], *counts, t0)


def _harrell_and_uno(time, event, risk, *, horizon):
    """(harrell_c, uno_c) from one pass of pair counts; each a float or the NotEstimableError.

    The same numbers as :func:`harrell_c` and :func:`uno_c` (the audit's point estimates:
    on large groups the pair counts are the expensive part, and Uno's pairs are a
    weighted subset of Harrell's).
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    idx = np.flatnonzero(e == 1)
    comp, conc, tied = _pair_counts(t, e, r, idx)

    def attempt(fn, *args):
        try:
            return fn(*args)
        except NotEstimableError as exc:
            return exc

    sel = t[idx] <= t0
    return (attempt(_harrell_from_counts, comp, conc, tied),
            attempt(_uno_from_counts, t, e, t[idx[sel]], comp[sel], conc[sel], tied[sel], t0))


# ---------------------------------------------------------------------------
# time-dependent AUC, Brier score and IPA
# ---------------------------------------------------------------------------


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
    km = 1.0 - float(_km(t, e)[0].at(t0))
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
    return (1.0 - float(_km(t, e)[0].at(t0))) / m


# ---------------------------------------------------------------------------
# Cox calibration on restricted cubic splines of cloglog(risk)
# ---------------------------------------------------------------------------


def _quantile7(x: np.ndarray, q) -> np.ndarray:
    return np.quantile(x, q)


def rcs_knots(x, *, n_knots: int = 3, fractied: float = 0.05) -> np.ndarray:
    r"""Default knots of a restricted cubic spline, as ``Hmisc::rcspline.eval``.

    Parameters
    ----------
    x : array-like
        The values (duplicates count).
    n_knots : int
        Number of knots (3 to 7 supported through Hmisc's outer quantiles).
    fractied : float
        Hmisc's ``fractied``: when the smallest (largest) value holds at least
        this share of the rows and no interior value does, that end's knot is
        the second smallest (largest) distinct value.

    Returns
    -------
    ndarray
        Sorted distinct knots.

    Notes
    -----
    Type-7 quantiles at equally spaced probabilities from ``outer`` to
    ``1 - outer`` (0.1 for 3 knots, 0.05 for 4-6, 0.025 for 7). With fewer than
    100 values the outer knots become the 5th smallest and 5th largest value.
    With few distinct values (``nu - 2 <= n_knots``) the knots are the distinct
    values less the extremes.

    Examples
    --------
    >>> rcs_knots(np.arange(1.0, 201.0)).round(6).tolist()
    [20.9, 100.5, 180.1]
    """
    xx = np.sort(np.asarray(x, dtype=np.float64))
    n = len(xx)
    if n < 6:
        raise NotEstimableError("knots need at least 6 values")
    xu = np.unique(xx)
    if len(xu) - 2 <= n_knots:
        return xu[1:-1]
    outer = 0.1 if n_knots == 3 else 0.05
    if n_knots > 6:
        outer = 0.025
    nke = n_knots
    first, last = [], []
    over_first = over_last = False
    if 0 < fractied < 1:
        f = np.unique(xx, return_counts=True)[1] / n
        if np.max(f[1:-1]) < fractied:
            if f[0] >= fractied:
                fk = float(np.min(xx[xx > xx.min()]))
                first = [fk]
                xx = xx[xx > fk]
                nke -= 1
                over_first = True
            if f[-1] >= fractied:
                lk = float(np.max(xx[xx < xx.max()]))
                last = [lk]
                xx = xx[xx < lk]
                nke -= 1
                over_last = True
    if nke == 1:
        knots = np.array([np.median(xx)])
    else:
        if len(xu) <= nke:
            knots = xu.copy()
        else:
            probs = np.linspace(0.5, 1.0 - outer, nke) if nke == 2 else np.linspace(outer, 1.0 - outer, nke)
            knots = _quantile7(xx, probs)
            if len(np.unique(knots)) < min(nke, 3):
                knots = _quantile7(xx, np.linspace(outer, 1.0 - outer, 2 * nke))
                if first and len(np.unique(knots)) < 3:
                    mid = (first[0] + last[0]) / 2.0 if last else float(np.median(xx))
                    knots = np.sort(np.concatenate([first, [mid], last if last else
                                                    [_quantile7(xx, 1.0 - outer)]]))
                if len(np.unique(knots)) < 3:
                    raise NotEstimableError("fewer than 3 distinct knots")
        knots = np.array(knots, dtype=np.float64)
        if len(xx) < 100:
            xs = np.sort(xx)
            if not over_first:
                knots[0] = xs[4]
            if not over_last:
                knots[nke - 1] = xs[len(xs) - 5]
    return np.unique(np.concatenate([first, knots, last]))


def rcs_basis(x, knots) -> np.ndarray:
    r"""Restricted cubic spline basis (``x`` and the nonlinear terms), Hmisc ``norm = 2``.

    Parameters
    ----------
    x : array-like of shape (n,)
    knots : array-like of shape (k,)

    Returns
    -------
    ndarray of shape (n, k - 1)
        Column 0 is ``x``; column :math:`j` is
        :math:`[(x-k_j)_+^3 - (x-k_{k-1})_+^3 \frac{k_k - k_j}{k_k - k_{k-1}}
        + (x-k_k)_+^3 \frac{k_{k-1} - k_j}{k_k - k_{k-1}}] / (k_k - k_1)^2`.

    Examples
    --------
    >>> rcs_basis([0.0, 1.0, 2.0], [0.0, 1.0, 2.0]).round(3).tolist()
    [[0.0, 0.0], [1.0, 0.25], [2.0, 1.5]]
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(knots, dtype=np.float64)
    nk = len(k)
    scale = (k[-1] - k[0]) ** 2
    cols = [x]
    for j in range(nk - 2):
        term = (np.maximum(x - k[j], 0) ** 3
                - np.maximum(x - k[-2], 0) ** 3 * (k[-1] - k[j]) / (k[-1] - k[-2])
                + np.maximum(x - k[-1], 0) ** 3 * (k[-2] - k[j]) / (k[-1] - k[-2]))
        cols.append(term / scale)
    return np.column_stack(cols)


def _cloglog(risk):
    r = np.clip(risk, 1e-10, 1.0 - 1e-10)
    return np.log(-np.log1p(-r))


@dataclass(frozen=True)
class _RcsCalibrationModel:
    knots: np.ndarray
    fit: object  # CoxFit
    horizon: float

    def observed(self, risk) -> np.ndarray:
        X = rcs_basis(_cloglog(np.asarray(risk, dtype=np.float64)), self.knots)
        H0 = float(self.fit.cumulative_hazard(self.horizon, np.zeros(X.shape[1]), increments="efron"))
        return -np.expm1(-H0 * np.exp(X @ self.fit.coef))


def _fit_rcs_calibration(t, e, r, t0) -> _RcsCalibrationModel:
    cll = _cloglog(r)
    knots = rcs_knots(cll, n_knots=3)
    X = rcs_basis(cll, knots)
    fit = fit_cox(X, t, e, ties="efron", tol=1e-10, max_iter=100, names=["cll", "cll'"][: X.shape[1]])
    return _RcsCalibrationModel(knots, fit, t0)


def cox_calibration(time, event, risk, *, horizon) -> CalibrationErrors:
    r"""ICI, E50, E90 and Emax at the horizon from a Cox model on splines of cloglog(risk).

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        Follow-up, event indicator, predicted risk by ``horizon``.
    horizon : float
        :math:`t_0`.

    Returns
    -------
    CalibrationErrors
        The four summaries (``ici`` ... ``emax``), the observed risk at each
        row and, in ``model``, the knots and coefficients.

    Raises
    ------
    NotEstimableError
        Without an event by :math:`t_0`, or when the Cox model cannot be fitted.

    Notes
    -----
    Austin, Harrell & van Klaveren (2020), Stat Med 39:2714:

    1. :math:`c_i = \log(-\log(1 - r_i))` with :math:`r` clipped to
       :math:`[10^{-10}, 1 - 10^{-10}]`;
    2. knots of a 3-knot restricted cubic spline by :func:`rcs_knots`;
    3. a Cox model on :func:`rcs_basis` with Efron ties, fitted to convergence
       (relative log-likelihood change 1e-10);
    4. :math:`o_i = 1 - \exp(-\hat H_0(t_0) e^{\hat\eta_i})` with Efron baseline
       increments;
    5. :math:`d_i = |o_i - r_i|`: ICI = mean, E50 = median, E90 = type-7 0.9
       quantile, Emax = max.

    This is ``rms::cph(Surv(time, event) ~ rcs(cll, 3), x = TRUE, y = TRUE,
    surv = TRUE, eps = 1e-10)`` with ``1 - survest(fit, newdata, times = t0)$surv``.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> risk = rng.uniform(0.05, 0.5, 400)
    >>> t = rng.exponential(-5 / np.log1p(-risk))
    >>> res = cox_calibration(np.minimum(t, 8), (t <= 8).astype(int), risk, horizon=5)
    >>> bool(res.ici < 0.05)
    True
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    if not np.any((e == 1) & (t <= t0)):
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="survival calibration"))
    model = _fit_rcs_calibration(t, e, r, t0)
    obs = model.observed(r)
    res = _summarise_errors(obs, r, "rms::cph(Surv ~ rcs(cloglog(risk), 3)), Efron; 1 - survest at t0")
    return CalibrationErrors(res.ici, res.e50, res.e90, res.emax, obs, res.method,
                             {"knots": model.knots, "coef": model.fit.coef, "n_iter": model.fit.n_iter})
