"""Metrics of a competing-risk outcome against a predicted cumulative incidence by ``t0``.

``status`` is 0 = censored, ``cause`` (default 1) = the event of interest, any other
positive code = a competing event; ``risk`` is the predicted cumulative incidence of
``cause`` by ``t0``, :math:`P(T \\le t_0, \\text{cause})`. Definitions follow the section
"Competing-risk metrics" of ``tests/reference/referee/README.md``: the observed risk is
the Aalen-Johansen :math:`F_1(t_0)` (not 1 - Kaplan-Meier); the censoring distribution
:math:`G` of the IPCW metrics is :func:`~radiorisk.stats.censoring_survival` with the
events of every cause leaving the risk set first (riskRegression, pec); the Fine-Gray
calibration model uses crr's own textbook censoring KM (:func:`fit_fine_gray`).
"""

from __future__ import annotations

import numpy as np

from ._aalen_johansen import _aj_risk, _check_cause, check_competing_inputs
from ._common import (
    Z_975,
    CalibrationErrors,
    Estimate,
    NotEstimableError,
    _summarise_errors,
    check_horizon,
)
from ._concordance import _pair_counts
from ._finegray import fit_fine_gray
from ._km import censoring_survival
from ._prefix_rank import PrefixRankSums
from ._rcs import cloglog, rcs_basis, rcs_knots
from ._survival import _censoring_if_term

__all__ = ["auc_cr", "brier_cr", "c_cr", "fine_gray_calibration", "ipa_cr", "oe_ratio_cr"]

_NO_CAUSE_BY_T0 = "no event of cause {cause} at or before the horizon t0 = {t0:g}: {what} is not defined"
#: crr may stop at the double-precision floor above its gtol; such a fit is accepted below this.
FLOOR_CRITERION = 1e-8


def _inputs(time, status, risk, horizon, cause, what, probability=True):
    cause = _check_cause(cause)
    t0 = check_horizon(horizon)
    t, s, r = check_competing_inputs(time, status, risk, cause=cause, probability=probability)
    if not np.any((s == cause) & (t <= t0)):
        raise NotEstimableError(_NO_CAUSE_BY_T0.format(cause=cause, t0=t0, what=what))
    return t, s, r, t0, cause


def _prefix_rank_sums(key, w, q, x) -> np.ndarray:
    """:class:`PrefixRankSums` for one weight vector."""
    return PrefixRankSums(key, q, x)(w)


def _ccr_parts(t, s, r, t0, cause) -> dict:
    """Weighted and unweighted type-A and type-B pair sums of :func:`c_cr`."""
    any_event = (s != 0).astype(np.float64)
    G = censoring_survival(t, any_event)
    idx = np.flatnonzero((s == cause) & (t <= t0))
    comp, conc, tied = _pair_counts(t, any_event, r, idx)  # type A: Harrell's comparability
    ti = t[idx]
    g_minus = G.before(ti)
    den = g_minus * G.at(ti)
    if np.any((den <= 0) & (comp > 0)):
        raise NotEstimableError("c_cr: the censoring survival G is 0 at an event time with later comparable "
                                "patients (infinite inverse-probability weight)")
    # G(T_i) = 0 leaves nobody after T_i: such events have no type-A pairs, and their weight does not matter
    wa = np.divide(1.0, den, out=np.zeros_like(den), where=den > 0)
    out = {"pairs_A": float(np.sum(comp)), "concordant_A": float(np.sum(conc + 0.5 * tied)),
           "num_A": float(np.sum(wa * (conc + 0.5 * tied))), "den_A": float(np.sum(wa * comp))}
    jc = np.flatnonzero((s != 0) & (s != cause))
    jc = jc[np.argsort(t[jc], kind="stable")]
    wj = 1.0 / G.before(t[jc])
    n_before = np.searchsorted(t[jc], ti, side="right")  # competing events with T_j <= T_i
    _, key = np.unique(np.concatenate([r[jc], r[idx]]), return_inverse=True)
    num_b = _prefix_rank_sums(key[: len(jc)], wj, n_before, key[len(jc):])
    cnt_b = _prefix_rank_sums(key[: len(jc)], np.ones(len(jc)), n_before, key[len(jc):])
    cum_w = np.concatenate([[0.0], np.cumsum(wj)])
    out.update(pairs_B=float(np.sum(n_before)), concordant_B=float(np.sum(cnt_b)),
               num_B=float(np.sum(num_b / g_minus)), den_B=float(np.sum(cum_w[n_before] / g_minus)))
    return out


def c_cr(time, status, risk, *, horizon, cause: int = 1) -> float:
    r"""Truncated concordance for competing risks (Wolbers et al. 2014) at the horizon.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (> 0).
    status : array-like of shape (n,)
        0 = censored, ``cause`` = the event of interest, other codes = competing events.
    risk : array-like of shape (n,)
        Predicted cumulative incidence of ``cause`` by ``horizon``, or any finite score
        where higher means an earlier event of ``cause`` (used as given, no clipping).
    horizon : float
        :math:`t_0`; events of ``cause`` at :math:`t_0` anchor pairs.
    cause : int
        The status code of the event of interest.

    Returns
    -------
    float

    Raises
    ------
    NotEstimableError
        Without an event of ``cause`` by :math:`t_0` or without any pair; or when the censoring
        survival :math:`G(T_i)` is 0 at an event with a type-A partner (a row censored at the
        same time when every remaining row has an event or is censored there): that pair's weight
        :math:`1/(G(T_i-)G(T_i))` is infinite.

    Notes
    -----
    Each row :math:`i` with an event of ``cause`` and :math:`T_i \le t_0` is paired
    with every row :math:`j` of type **A** (:math:`T_j > T_i`, or :math:`T_j = T_i`
    and :math:`j` censored), weight :math:`1/(G(T_i-) G(T_i))`, and of type **B**
    (:math:`j` had a competing event at :math:`T_j \le T_i`), weight
    :math:`1/(G(T_i-) G(T_j-))`. :math:`C = \sum w [1(r_i > r_j) + \frac12 1(r_i = r_j)]
    / \sum w`. Without competing events only type A remains (Uno's pairs with
    Wolbers' weights). This is ``pec::cindex(list(m = matrix(risk)),
    Hist(time, status) ~ 1, eval.times = t0, cause = 1, cens.model = "marginal")``.
    Pairs are counted by sorting, not enumerated: :math:`O(n \log^2 n)` time and
    :math:`O(n)` memory.

    Examples
    --------
    >>> round(c_cr([1, 2, 3, 4, 5], [1, 2, 1, 0, 2], [0.9, 0.3, 0.5, 0.4, 0.6], horizon=4), 4)
    0.8571
    """
    t, s, r, t0, cause = _inputs(time, status, risk, horizon, cause, "c_cr", probability=False)
    parts = _ccr_parts(t, s, r, t0, cause)
    den = parts["den_A"] + parts["den_B"]
    if den <= 0:
        raise NotEstimableError("no comparable pair: c_cr is not defined")
    return (parts["num_A"] + parts["num_B"]) / den


def _cr_weights(t, s, t0, cause):
    """Masks and IPCW weights: cases, competing controls by t0, controls past t0."""
    G = censoring_survival(t, (s != 0).astype(np.float64))
    case = (s == cause) & (t <= t0)
    comp = (s != 0) & (s != cause) & (t <= t0)
    late = t > t0
    w = np.zeros(len(t))
    early = case | comp
    w[early] = 1.0 / G.before(t[early])
    if late.any():
        w[late] = 1.0 / float(G.at(t0))
    return case, comp, late, w


def _weighted_below(ref_r, ref_w, at):
    """For each value in ``at``: weight of ``ref`` below it plus half the weight tied with it."""
    order = np.argsort(ref_r, kind="stable")
    rs = ref_r[order]
    cw = np.concatenate([[0.0], np.cumsum(ref_w[order])])
    lo = np.searchsorted(rs, at, side="left")
    hi = np.searchsorted(rs, at, side="right")
    return cw[lo] + 0.5 * (cw[hi] - cw[lo]), cw[-1] - cw[hi] + 0.5 * (cw[hi] - cw[lo])


def auc_cr(time, status, risk, *, horizon, cause: int = 1) -> Estimate:
    r"""Cumulative/dynamic AUC at the horizon for one cause of a competing-risk outcome.

    Parameters
    ----------
    time, status, risk : array-like of shape (n,)
        As in :func:`c_cr`; ``risk`` must lie in [0, 1].
    horizon : float
        :math:`t_0`.
    cause : int
        The status code of the event of interest.

    Returns
    -------
    Estimate
        The AUC with ``Score``'s influence-function SE and Wald CI.

    Raises
    ------
    NotEstimableError
        Without an event of ``cause`` by :math:`t_0`, or without a control.

    Notes
    -----
    Cases: events of ``cause`` with :math:`T_i \le t_0`, weight :math:`1/G(T_i-)`.
    Controls: :math:`T_j > t_0`, weight :math:`1/G(t_0)`, **and competing events
    with** :math:`T_j \le t_0`, weight :math:`1/G(T_j-)`. Rows censored by
    :math:`t_0` get weight 0. AUC :math:`= \sum_i \sum_j w_i w_j [1(r_i > r_j) +
    \frac12 1(r_i = r_j)] / (\sum_i w_i \sum_j w_j)`. The SE is the sample SD of
    the influence function over :math:`\sqrt n`, including the part from
    estimating :math:`G` by Kaplan-Meier, as ``riskRegression::Score(...,
    Hist(time, status) ~ 1, times = t0, cause = 1, metrics = "auc",
    cens.model = "km")`` computes it.

    Examples
    --------
    >>> r = auc_cr([1, 2, 3, 4, 5, 6], [1, 2, 1, 0, 2, 0], [0.9, 0.3, 0.5, 0.4, 0.2, 0.1], horizon=4)
    >>> round(r.estimate, 4)
    1.0
    """
    t, s, r, t0, cause = _inputs(time, status, risk, horizon, cause, "auc_cr")
    case, comp, late, w = _cr_weights(t, s, t0, cause)
    ctrl = comp | late
    if not ctrl.any():
        raise NotEstimableError(f"no control (competing event by t0 = {t0:g} or T > t0): "
                                "auc_cr is not defined")
    n = len(t)
    k_case, _ = _weighted_below(r[ctrl], w[ctrl], r[case])
    _, above = _weighted_below(r[case], w[case], r[ctrl])
    A, B = float(np.sum(w[case])), float(np.sum(w[ctrl]))
    num = float(np.sum(w[case] * k_case))
    auc = num / (A * B)
    h = np.zeros(n)
    h[case] = w[case] * k_case
    h[ctrl] = w[ctrl] * above
    early = case | comp
    e_any = (s != 0).astype(np.float64)
    a, b = np.where(case, w, 0.0), np.where(ctrl, w, 0.0)
    Nm, Am, Bm = num / n**2, A / n, B / n
    if_n = h / n - 2.0 * Nm + _censoring_if_term(t, e_any, t0, h / n, early, late)
    if_a = a - Am + _censoring_if_term(t, e_any, t0, a, early, late)
    if_b = b - Bm + _censoring_if_term(t, e_any, t0, b, early, late)
    inf = if_n / (Am * Bm) - auc * (if_a / Am + if_b / Bm)
    se = float(np.std(inf, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return Estimate(auc, se, auc - Z_975 * se, auc + Z_975 * se,
                    "riskRegression::Score(Hist ~ 1, cause, metrics='auc', cens.model='km'); "
                    "influence-function SE")


def _brier_cr_terms(t, s, r, t0, cause):
    case, comp, late, w = _cr_weights(t, s, t0, cause)
    terms = np.where(case, (1.0 - r) ** 2, r**2) * w  # w is 0 for rows censored by t0
    return terms, case | comp, late


def brier_cr(time, status, risk, *, horizon, cause: int = 1) -> Estimate:
    r"""IPCW Brier score at the horizon for one cause of a competing-risk outcome.

    Parameters
    ----------
    time, status, risk : array-like of shape (n,)
        As in :func:`auc_cr`.
    horizon : float
        :math:`t_0`.
    cause : int
        The status code of the event of interest.

    Returns
    -------
    Estimate
        The Brier score with ``Score``'s influence-function SE and Wald CI.

    Notes
    -----
    .. math::

        BS = \frac1n \sum_i \Big[ \frac{1(T_i \le t_0, \text{cause})(1 - r_i)^2}{G(T_i-)}
        + \frac{1(T_i \le t_0, \text{competing})\, r_i^2}{G(T_i-)}
        + \frac{1(T_i > t_0)\, r_i^2}{G(t_0)} \Big],

    :math:`n` counting every row (rows censored by :math:`t_0` add 0). This is
    ``riskRegression::Score(..., cause = 1, metrics = "brier", cens.model = "km")``.

    Examples
    --------
    >>> r = brier_cr([1, 2, 3, 4], [1, 2, 0, 0], [0.6, 0.2, 0.3, 0.1], horizon=2.5)
    >>> round(r.estimate, 4)
    0.075
    """
    t, s, r = check_competing_inputs(time, status, risk, cause=_check_cause(cause))
    t0 = check_horizon(horizon)
    terms, early, late = _brier_cr_terms(t, s, r, t0, cause)
    bs = float(np.mean(terms))
    n = len(t)
    inf = terms - bs + _censoring_if_term(t, (s != 0).astype(np.float64), t0, terms, early, late)
    se = float(np.std(inf, ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return Estimate(bs, se, bs - Z_975 * se, bs + Z_975 * se,
                    "riskRegression::Score(Hist ~ 1, cause, metrics='brier', cens.model='km'); "
                    "influence-function SE")


def ipa_cr(time, status, risk, *, horizon, cause: int = 1) -> float:
    r"""Index of prediction accuracy :math:`1 - BS / BS_{null}` for one cause.

    Parameters
    ----------
    time, status, risk : array-like of shape (n,)
        As in :func:`auc_cr`.
    horizon : float
        :math:`t_0`.
    cause : int
        The status code of the event of interest.

    Returns
    -------
    float

    Raises
    ------
    NotEstimableError
        When the null model's Brier score is 0 (no event of ``cause`` by :math:`t_0`).

    Notes
    -----
    :math:`BS_{null}` is :func:`brier_cr` with every risk set to the data's own
    Aalen-Johansen :math:`F_1(t_0)` (not 1 - Kaplan-Meier), as
    ``Score(..., summary = "ipa")``.

    Examples
    --------
    >>> round(ipa_cr([1, 2, 3, 4, 5], [1, 2, 1, 0, 0], [0.6, 0.2, 0.5, 0.1, 0.1], horizon=3.5), 4)
    0.6083
    """
    t, s, r = check_competing_inputs(time, status, risk, cause=_check_cause(cause))
    t0 = check_horizon(horizon)
    f1 = _aj_risk(t, s, t0, cause)
    null = float(np.mean(_brier_cr_terms(t, s, np.full(len(t), f1), t0, cause)[0]))
    if null <= 0:
        raise NotEstimableError(_NO_CAUSE_BY_T0.format(cause=cause, t0=t0, what="ipa_cr"))
    return 1.0 - float(np.mean(_brier_cr_terms(t, s, r, t0, cause)[0])) / null


def oe_ratio_cr(time, status, risk, *, horizon, cause: int = 1) -> float:
    r"""Observed-to-expected ratio :math:`F_1(t_0) / \bar r` with the Aalen-Johansen :math:`F_1`.

    Parameters
    ----------
    time, status, risk : array-like of shape (n,)
        As in :func:`auc_cr`.
    horizon : float
        :math:`t_0`.
    cause : int
        The status code of the event of interest.

    Returns
    -------
    float

    Notes
    -----
    :math:`F_1(t_0)` is :func:`aalen_johansen` (``prodlim``); 1 - Kaplan-Meier with
    competing events censored would overstate the observed risk.

    Examples
    --------
    >>> oe_ratio_cr([1, 2, 3, 4], [1, 2, 1, 0], [0.5, 0.5, 0.5, 0.5], horizon=3)
    1.0
    """
    t, s, r = check_competing_inputs(time, status, risk, cause=_check_cause(cause))
    t0 = check_horizon(horizon)
    m = float(np.mean(r))
    if m <= 0:
        raise NotEstimableError("the mean predicted risk is 0: O/E is not defined")
    return _aj_risk(t, s, t0, cause) / m


def fine_gray_calibration(time, status, risk, *, horizon, cause: int = 1) -> CalibrationErrors:
    r"""ICI, E50, E90 and Emax at the horizon from a Fine-Gray model on splines of cloglog(risk).

    Parameters
    ----------
    time, status, risk : array-like of shape (n,)
        As in :func:`auc_cr`.
    horizon : float
        :math:`t_0`.
    cause : int
        The status code of the event of interest.

    Returns
    -------
    CalibrationErrors
        ``ici`` ... ``emax`` (the metrics ``ici_cr`` ... ``emax_cr``), the observed
        risk of each row and, in ``model``, the knots, coefficients,
        log-likelihood, :math:`\Lambda_0(t_0)` and convergence of the fit.

    Raises
    ------
    NotEstimableError
        Without an event of ``cause`` by :math:`t_0`, with fewer than 3 distinct
        risks, or when the Fine-Gray fit has no finite maximum or stops with crr's
        criterion above 1e-8.

    Notes
    -----
    Austin, Putter, Giardiello & van Klaveren (2022), Diagn Progn Res 6:2:

    1. :math:`c_i = \log(-\log(1 - r_i))`, :math:`r` clipped to :math:`[10^{-10}, 1 - 10^{-10}]`;
    2. 3-knot restricted cubic spline knots (:func:`rcs_knots`) and basis (:func:`rcs_basis`);
    3. a Fine-Gray model of ``cause`` on the basis over the whole follow-up
       (:func:`fit_fine_gray`: crr's censoring weights, Breslow ties), iterated to
       crr's criterion 1e-12 (a fit stopped between 1e-12 and 1e-8 is accepted);
    4. :math:`o_i = 1 - \exp(-\hat\Lambda_0(t_0) e^{\hat\eta_i})`, the Breslow-type
       baseline at the last event time :math:`\le t_0`;
    5. :math:`d_i = |o_i - r_i|`: ICI = mean, E50 = median, E90 = type-7 0.9
       quantile, Emax = max.

    This is ``cmprsk::crr(time, status, cov1 = Hmisc::rcspline.eval(cll, nk = 3,
    inclx = TRUE), failcode = 1, cencode = 0, gtol = 1e-12, maxiter = 200)`` and
    ``predict.crr`` at :math:`t_0`.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> risk = rng.uniform(0.05, 0.4, 500)
    >>> t1, t2 = rng.exponential(-5 / np.log1p(-risk)), rng.exponential(10.0, 500)
    >>> time = np.minimum.reduce([t1, t2, np.full(500, 8.0)])
    >>> status = np.select([time == t1, time == t2], [1, 2], 0)
    >>> res = fine_gray_calibration(time, status, risk, horizon=5)
    >>> bool(res.ici < 0.1), res.model["converged"]
    (True, True)
    """
    t, s, r, t0, cause = _inputs(time, status, risk, horizon, cause, "Fine-Gray calibration")
    cll = cloglog(r)
    knots = rcs_knots(cll, n_knots=3)
    if len(knots) == 0:  # two distinct risks: rcs_knots drops both as extremes
        raise NotEstimableError("fewer than 3 distinct predicted risks: the spline has no knot")
    X = rcs_basis(cll, knots)
    fit = fit_fine_gray(X, t, s, cause=cause, gtol=1e-12, max_iter=200, variance=False,
                        names=["cll"] + [f"cll'{k}" for k in range(1, X.shape[1])])
    if fit.criterion >= FLOOR_CRITERION:
        raise NotEstimableError(f"the Fine-Gray calibration model did not converge (crr criterion "
                                f"{fit.criterion:.3g} >= {FLOOR_CRITERION:g} after {fit.n_iter} iterations)")
    lam0 = float(fit.cumulative_baseline_hazard(t0))
    obs = -np.expm1(-lam0 * np.exp(X @ fit.coef))
    res = _summarise_errors(obs, np.clip(r, 1e-10, 1.0 - 1e-10),
                            "cmprsk::crr(cov1 = rcspline.eval(cloglog(risk), nk = 3)); predict.crr at t0")
    model = {"knots": knots, "coef": fit.coef, "loglik": fit.loglik, "loglik_null": fit.loglik_null,
             "Lambda0_t0": lam0, "criterion": fit.criterion, "converged": fit.converged,
             "n_iter": fit.n_iter}
    return CalibrationErrors(res.ici, res.e50, res.e90, res.emax, obs, res.method, model)
