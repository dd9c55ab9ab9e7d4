"""Bias mitigation: group weights, per-group recalibration, group thresholds, calibrated equalized odds.

Four tools, each checked by a fresh :class:`~radiorisk.evaluation.SubgroupAudit`
on held-out (or out-of-fold) data, never on the rows they were fitted on:

- :func:`group_balancing_weights` (pre-processing): case weights that give
  under-represented groups more weight in training, passed to any radiorisk
  model by ``est.fit(X, y, sample_weight=w)``;
- :class:`GroupRecalibrator` (post-processing): per-group recalibration of the
  risk, intercept or intercept and slope, on the complementary log-log scale
  for survival risks (a Cox model with the risk's cloglog as offset or
  covariate) or the logit scale for binary outcomes;
- :func:`group_thresholds` (decision rule): per-group thresholds with equal
  true-positive rates, censoring-aware (the Kaplan-Meier definitions of
  :meth:`SubgroupAudit.fairness`); :func:`fairlearn_threshold_optimizer` wraps
  :class:`fairlearn.postprocessing.ThresholdOptimizer` when binary labels exist;
- :class:`CalibratedEqualizedOdds` / :func:`calibrated_equalized_odds`
  (post-processing, binary outcomes): Pleiss et al. (2017).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator

from ..stats import newton_step
from ..stats._common import (
    NotEstimableError,
    _html_table,
    check_binary_inputs,
    check_horizon,
    check_survival_inputs,
)
from ..stats._cox import fit_cox
from ._audit import UNKNOWN_GROUP, _km_weighted, _labels

__all__ = [
    "group_balancing_weights",
    "GroupRecalibrator",
    "RECALIBRATION_COLUMNS",
    "group_thresholds",
    "GroupThresholds",
    "THRESHOLD_COLUMNS",
    "fairlearn_threshold_optimizer",
    "RiskScoreEstimator",
    "CalibratedEqualizedOdds",
    "calibrated_equalized_odds",
    "EqualizedOddsResult",
    "EQUALIZED_ODDS_COLUMNS",
]

#: Columns of :attr:`GroupRecalibrator.params_`.
RECALIBRATION_COLUMNS = ("group", "n", "events", "intercept", "slope", "source", "flag", "flag_reason")
#: Columns of :attr:`GroupThresholds.table`.
THRESHOLD_COLUMNS = ("group", "threshold", "tpr", "fpr", "positive_rate", "n", "events", "flag",
                     "flag_reason")
#: Columns of :attr:`EqualizedOddsResult.table` (and :attr:`CalibratedEqualizedOdds.table_`).
EQUALIZED_ODDS_COLUMNS = ("group", "n", "base_rate", "gen_fpr", "gen_fnr", "cost_before", "mix_rate",
                          "cost_after", "flag", "flag_reason")

_SEP = ":"
_EPS = 1e-12


# ---------------------------------------------------------------------------------------------
# group labels
# ---------------------------------------------------------------------------------------------
def _group_cells(groups, n: int | None = None) -> np.ndarray:
    """One label per row: a 1-D array of labels, or the cells of several attributes joined by ":".

    Missing labels (None, NaN, ``""``, ``"NA"``) become :data:`UNKNOWN_GROUP`
    (a cell with any missing part is unknown), as in the audit.
    """
    if isinstance(groups, pd.DataFrame):
        cols = [groups[c].to_numpy(dtype=object) for c in groups.columns]
    elif isinstance(groups, Mapping):
        cols = [np.asarray(v, dtype=object) for v in groups.values()]
    else:
        a = np.asarray(groups, dtype=object)
        if a.ndim != 1:
            raise ValueError(f"groups must be 1-D labels, a DataFrame or a mapping; got shape {a.shape}")
        cols = [a]
    if not cols:
        raise ValueError("groups has no column")
    for c in cols:
        if c.ndim != 1 or (n is not None and len(c) != n):
            raise ValueError(f"groups has {len(c)} values; risk has {n}")
    labs = [_labels(c) for c in cols]
    for lab in labs:
        if any(v == UNKNOWN_GROUP for v in lab):
            raise ValueError(f"a group is labelled {UNKNOWN_GROUP!r}, the label of missing values; rename it")
    out = np.empty(len(labs[0]), dtype=object)
    for i in range(len(out)):
        parts = [lab[i] for lab in labs]
        out[i] = UNKNOWN_GROUP if any(p is None for p in parts) else _SEP.join(parts)
    return out


def _frame(rows, columns) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=list(columns))
    for c in f.columns:
        if c in ("n", "events"):
            f[c] = f[c].astype(int)
        elif c == "flag":
            f[c] = f[c].astype(bool)
        elif c not in ("group", "source", "flag_reason"):
            f[c] = f[c].astype(float)
    return f


# ---------------------------------------------------------------------------------------------
# (a) weights
# ---------------------------------------------------------------------------------------------
def group_balancing_weights(groups, *, method: str = "inverse_frequency", target=None) -> np.ndarray:
    r"""Case weights (mean 1) that give under-represented groups more weight in training.

    Parameters
    ----------
    groups : array-like of shape (n,), DataFrame or mapping of str to array-like
        Group labels; several attributes are combined into their cells
        (``"female:south_asian"``). A missing label forms the group ``"unknown"``.
    method : {"inverse_frequency", "upweight"}
        ``"inverse_frequency"``: every group gets the same total weight,
        :math:`w_i = n / (K n_{g(i)})` for :math:`K` groups.
        ``"upweight"``: only the groups below a minimum share are raised to it;
        the other groups keep their relative sizes and share the remaining
        weight (see ``target``).
    target : float or mapping, optional
        For ``"upweight"`` only. A float :math:`s \le 1/K` is the minimum
        share of the total weight of every group (default :math:`1/K`, which
        raises every group smaller than :math:`n/K` to :math:`n/K`); a mapping
        ``{group: multiplier}`` multiplies the weights of the named groups
        (the others 1) before normalising.

    Returns
    -------
    ndarray of shape (n,)
        Positive weights with mean exactly 1 (sum :math:`n`), so that
        penalties and ``min_child_weight`` keep their meaning.

    Notes
    -----
    Use with every radiorisk model: ``make_model(name).fit(X, y,
    sample_weight=w)``. ``coxph`` maximises the weighted partial likelihood
    (lifelines' ``weights_col``; use ``robust=True`` for standard errors);
    ``xgb-binary`` multiplies the IPCW weights by ``w``; ``xgb-cox`` weights
    each row's gradient (approximate, see ``docs/models.md``) and its Breslow
    baseline exactly; ``xgb-aft`` weights the likelihood. Reweighting changes
    what the model averages over (each group counts equally), not the
    outcome of any group: calibration-in-the-large of the *unweighted*
    population may shift, so audit the weighted model again.

    Examples
    --------
    >>> g = ["a"] * 6 + ["b"] * 2
    >>> group_balancing_weights(g).round(4).tolist()          # each group: total weight 4
    [0.6667, 0.6667, 0.6667, 0.6667, 0.6667, 0.6667, 2.0, 2.0]
    >>> w = group_balancing_weights(g, method="upweight", target={"b": 3.0})
    >>> round(float(w.mean()), 12), round(float(w[-1] / w[0]), 12)
    (1.0, 3.0)
    """
    cells = _group_cells(groups)
    n = len(cells)
    if n == 0:
        raise ValueError("groups is empty")
    levels, inv, counts = np.unique(cells.astype(str), return_inverse=True, return_counts=True)
    K = len(levels)
    if method == "inverse_frequency":
        if target is not None:
            raise ValueError("target applies to method='upweight' only")
        share = np.full(K, 1.0 / K)
    elif method == "upweight":
        if isinstance(target, Mapping):
            unknown = set(map(str, target)) - set(levels)
            if unknown:
                raise ValueError(f"target names group(s) {sorted(unknown)} not in groups {list(levels)}")
            mult = np.array([float(target.get(g, 1.0)) for g in levels])
            if not np.all(np.isfinite(mult) & (mult > 0)):
                raise ValueError(f"target multipliers must be finite and > 0; got {dict(target)}")
            share = counts * mult / np.sum(counts * mult)
        else:
            s = 1.0 / K if target is None else float(target)
            if not 0 < s <= 1.0 / K + 1e-12:
                raise ValueError(f"target (a minimum share) must lie in (0, 1/K] = (0, {1.0 / K:.4g}]; "
                                 f"got {target!r}")
            share = counts / n
            raised = np.zeros(K, dtype=bool)
            while True:  # water-filling: raise the small groups, rescale the others
                low = ~raised & (share < s - 1e-15)
                if not low.any():
                    break
                raised |= low
                rest = counts * ~raised
                share = np.where(raised, s, (1.0 - s * raised.sum()) * rest / max(rest.sum(), 1))
    else:
        raise ValueError(f"method must be 'inverse_frequency' or 'upweight'; got {method!r}")
    w = (share * n / counts)[inv]
    return w / w.mean()


# ---------------------------------------------------------------------------------------------
# (b) per-group recalibration
# ---------------------------------------------------------------------------------------------
def _cloglog(r):
    r = np.clip(r, _EPS, 1.0 - _EPS)
    return np.log(-np.log1p(-r))


def _logit(r):
    r = np.clip(r, _EPS, 1.0 - _EPS)
    return np.log(r) - np.log1p(-r)


def _fit_survival_recal(t, e, lp, t0, slope: bool) -> tuple[float, float]:
    """Cox model with ``b * lp`` on the follow-up truncated at ``t0``; a = log Breslow H0(t0)."""
    tt = np.minimum(t, t0)
    ee = ((e == 1) & (t <= t0)).astype(float)
    if ee.sum() == 0:
        raise NotEstimableError("no event at or before the horizon")
    b = 1.0
    if slope:
        fit = fit_cox(lp[:, None], tt, ee, ties="breslow")
        b = float(fit.coef[0])
    eta = b * lp
    m = float(np.max(eta))
    r = np.exp(eta - m)
    uniq, inv = np.unique(tt, return_inverse=True)
    d = np.bincount(inv, weights=ee, minlength=len(uniq))
    at_risk = np.cumsum(np.bincount(inv, weights=r, minlength=len(uniq))[::-1])[::-1]
    h0 = float(np.sum(d[d > 0] / at_risk[d > 0]))
    return float(np.log(h0) - m), b


def _fit_logistic_recal(y, lp, slope: bool, max_iter: int = 100) -> tuple[float, float]:
    """Logistic regression of ``y`` on ``a + b * lp`` (b = 1 fixed: ``lp`` an offset), Newton."""
    if y.sum() == 0 or y.sum() == len(y):
        raise NotEstimableError("the outcome is constant")
    X = np.column_stack([np.ones_like(lp), lp]) if slope else np.ones((len(lp), 1))
    off = np.zeros_like(lp) if slope else lp
    beta = np.zeros(X.shape[1])
    if slope:
        beta[1] = 1.0

    def nll(bb):
        eta = off + X @ bb
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta))

    cur = nll(beta)
    for _ in range(max_iter):
        p = expit(off + X @ beta)
        grad = X.T @ (y - p)
        H = (X * (p * (1 - p))[:, None]).T @ X
        step = newton_step(H, grad, "logistic recalibration")
        s = 1.0
        while s > 1e-8:
            new = beta + s * step
            val = nll(new)
            if val <= cur + 1e-12:
                break
            s /= 2
        done = abs(cur - val) <= 1e-12 * max(1.0, abs(val))
        beta, cur = new, val
        if done:
            break
    if not np.all(np.isfinite(beta)):
        raise NotEstimableError("the logistic recalibration did not converge (separation?)")
    return float(beta[0]), float(beta[1]) if slope else 1.0


def _stratified_folds(strata: np.ndarray, k: int, random_state) -> np.ndarray:
    rng = np.random.default_rng(random_state)
    folds = np.empty(len(strata), dtype=int)
    start = 0
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        idx = idx[rng.permutation(len(idx))]
        folds[idx] = (start + np.arange(len(idx))) % k  # continue the rotation across strata
        start += len(idx)
    return folds


class GroupRecalibrator:
    r"""Per-group recalibration of predicted risks (intercept, or intercept and slope).

    Parameters
    ----------
    method : {"intercept", "intercept_slope"}
        ``"intercept"``: one shift per group on the link scale (slope fixed at
        1); ``"intercept_slope"``: a shift and a slope per group.
    horizon : float, optional
        :math:`t_0` (days): required for survival data, not allowed for binary.
    cross_fit : int, optional
        With ``K >= 2``, :meth:`fit_transform` returns out-of-fold recalibrated
        risks: the rows of each of ``K`` folds (stratified by group and event by
        :math:`t_0`) are recalibrated by the maps fitted on the other folds.
        :meth:`fit` always also fits the maps on all rows (for new data).
    min_events : int
        A group with fewer events by :math:`t_0` (binary: fewer events or
        non-events) gets the pooled recalibration of all rows instead of its
        own, flagged in :attr:`params_`.
    random_state : int, optional
        Seed of the cross-fitting folds.

    Attributes
    ----------
    params_ : DataFrame
        :data:`RECALIBRATION_COLUMNS` (``group, n, events, intercept, slope,
        source, flag, flag_reason``); ``source`` is ``"group"`` or
        ``"pooled"``; a last row ``group="(pooled)"`` holds the pooled map.
    survival_ : bool
        True for survival data (cloglog scale), False for binary (logit scale).
    unseen_groups_ : tuple of str
        Groups met by the last :meth:`transform` that were not in the fitting
        data; their risks are returned unchanged (identity), by design and
        without a warning: read this attribute.
    folds_ : ndarray or None
        The cross-fitting fold of each row (after :meth:`fit_transform` with
        ``cross_fit``).

    Notes
    -----
    **Survival (cloglog scale).** With :math:`\ell = \log\{-\log(1 - r)\}`
    the complementary log-log of the risk :math:`r` by :math:`t_0`, the
    recalibrated risk of a patient of group :math:`g` is

    .. math:: 1 - \exp\{-\exp(a_g + b_g \ell)\},

    i.e. a proportional-hazards model :math:`h_g(t) = h_{0g}(t)\, e^{b_g \ell}`
    fitted on the follow-up truncated at :math:`t_0` (censoring-aware; events
    after :math:`t_0` count as censored there). :math:`b_g` is the Cox
    partial-likelihood estimate with :math:`\ell` as the only covariate
    (Breslow ties; :math:`b_g = 1`, an offset, for ``"intercept"``) and
    :math:`a_g = \log \hat H_{0g}(t_0)` the Breslow baseline with offset
    :math:`b_g\ell`, :math:`\hat H_{0g}(t_0) = \sum_{t_k \le t_0} d_k /
    \sum_{j: T_j \ge t_k} e^{b_g \ell_j}`. This choice makes the expected
    number of events by :math:`t_0` equal the observed one in each group
    (:math:`\sum_i \hat\Lambda_i(\min(T_i, t_0)) = d`), so the group's O/E
    (Kaplan-Meier risk over mean predicted risk) becomes close to 1; it is
    the maximum likelihood estimate of the model above (not IPCW). If the
    input risk is a Cox model's risk, ``"intercept"`` replaces the group's
    baseline hazard at :math:`t_0` and ``"intercept_slope"`` also rescales
    its log hazard ratios.

    **Binary (logit scale).** Logistic recalibration:
    :math:`\operatorname{logit} r' = a_g + b_g \operatorname{logit} r`
    (maximum likelihood; for ``"intercept"`` with :math:`\operatorname{logit}
    r` as offset, which makes the mean predicted risk equal the observed rate
    of each group exactly).

    Risks are clipped to :math:`[10^{-12}, 1 - 10^{-12}]` before the link.
    Missing group labels form the group ``"unknown"``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 4000
    >>> g = rng.choice(["a", "b"], n)
    >>> true = rng.uniform(0.05, 0.4, n)
    >>> y = rng.binomial(1, true)
    >>> risk = np.where(g == "b", true / 2, true)          # group b under-predicted
    >>> rc = GroupRecalibrator(min_events=20).fit(risk, y=y, groups=g)
    >>> new = rc.transform(risk, g)
    >>> bool(abs(new[g == "b"].mean() - y[g == "b"].mean()) < 1e-9)
    True
    >>> rc.params_["group"].tolist()
    ['a', 'b', '(pooled)']
    """

    def __init__(self, method: str = "intercept", *, horizon=None, cross_fit: int | None = None,
                 min_events: int = 10, random_state=None):
        self.method = method
        self.horizon = horizon
        self.cross_fit = cross_fit
        self.min_events = min_events
        self.random_state = random_state

    # -- checks -------------------------------------------------------------------------------
    def _check(self, risk, time, event, groups, y):
        if self.method not in ("intercept", "intercept_slope"):
            raise ValueError(f"method must be 'intercept' or 'intercept_slope'; got {self.method!r}")
        if int(self.min_events) < 1:
            raise ValueError(f"min_events must be >= 1; got {self.min_events}")
        if self.cross_fit is not None and int(self.cross_fit) < 2:
            raise ValueError(f"cross_fit must be None or >= 2 folds; got {self.cross_fit}")
        survival = y is None
        if survival:
            if time is None or event is None:
                raise ValueError("give y (binary) or both time and event (survival)")
            t0 = check_horizon(self.horizon)
            t, e, r = check_survival_inputs(time, event, risk)
            out = (t, e, r, t0)
        else:
            if time is not None or event is not None:
                raise ValueError("give y or time/event, not both")
            if self.horizon is not None:
                raise ValueError("horizon applies to survival data only")
            yy, r = check_binary_inputs(y, risk)
            out = (yy, r)
        cells = _group_cells(groups, len(r)) if groups is not None else np.full(len(r), "all", dtype=object)
        return survival, out, cells

    # -- fitting ------------------------------------------------------------------------------
    def _fit_maps(self, survival, data, cells):
        slope = self.method == "intercept_slope"
        if survival:
            t, e, r, t0 = data
            lp = _cloglog(r)
            ev = (e == 1) & (t <= t0)

            def fit(idx):
                return _fit_survival_recal(t[idx], e[idx], lp[idx], t0, slope)

            def enough(idx):
                k = int(ev[idx].sum())
                return k, k >= self.min_events, f"fewer than {self.min_events} events ({k})"
        else:
            yy, r = data
            lp = _logit(r)

            def fit(idx):
                return _fit_logistic_recal(yy[idx], lp[idx], slope)

            def enough(idx):
                k = int(yy[idx].sum())
                m = min(k, len(idx) - k)
                return k, m >= self.min_events, f"fewer than {self.min_events} events or non-events ({m})"

        allidx = np.arange(len(r))
        n_ev_all, _, _ = enough(allidx)
        try:
            pooled = fit(allidx)
        except NotEstimableError as exc:
            raise NotEstimableError(f"pooled recalibration impossible: {exc}") from exc
        maps, rows = {}, []
        for g in sorted(set(cells)):
            idx = np.flatnonzero(cells == g)
            k, ok, why = enough(idx)
            src, reason = "group", ""
            if ok:
                try:
                    maps[g] = fit(idx)
                except NotEstimableError as exc:
                    ok, why = False, f"group fit failed: {exc}"
            if not ok:
                maps[g], src, reason = pooled, "pooled", f"{why}: pooled recalibration used"
            if g == UNKNOWN_GROUP:
                reason = "; ".join(x for x in ("unknown: rows with a missing label", reason) if x)
            rows.append((g, len(idx), k, maps[g][0], maps[g][1], src, bool(reason), reason))
        rows.append(("(pooled)", len(r), n_ev_all, pooled[0], pooled[1], "pooled", False, ""))
        return maps, pooled, _frame(rows, RECALIBRATION_COLUMNS)

    def fit(self, risk, time=None, event=None, groups=None, *, y=None):
        """Fit the per-group maps on all rows.

        Parameters
        ----------
        risk : array-like of shape (n,)
            Predicted risk in [0, 1] (by ``horizon`` for survival data).
        time, event : array-like of shape (n,), optional
            Follow-up and event indicator (survival data).
        groups : array-like, DataFrame or mapping, optional
            Group labels (several attributes: their cells). None: one group.
        y : array-like of shape (n,), optional
            Binary outcome instead of ``time``/``event``.

        Returns
        -------
        self
        """
        survival, data, cells = self._check(risk, time, event, groups, y)
        self.survival_ = survival
        self._maps, self._pooled, self.params_ = self._fit_maps(survival, data, cells)
        self.folds_ = None
        self.unseen_groups_ = ()
        return self

    def _apply(self, r, cells, maps):
        link = _cloglog(r) if self.survival_ else _logit(r)
        out = np.asarray(r, dtype=float).copy()
        unseen = []
        for g in np.unique(cells.astype(str)):
            idx = cells == g
            if g not in maps:
                unseen.append(g)
                continue
            a, b = maps[g]
            eta = a + b * link[idx]
            out[idx] = -np.expm1(-np.exp(eta)) if self.survival_ else expit(eta)
        return out, tuple(unseen)

    def transform(self, risk, groups=None) -> np.ndarray:
        """Recalibrated risks; rows of groups not seen in :meth:`fit` are returned unchanged.

        The unseen groups are listed in :attr:`unseen_groups_` (no warning).
        """
        if not hasattr(self, "_maps"):
            raise ValueError("this GroupRecalibrator is not fitted yet: call fit first")
        r = np.asarray(risk, dtype=float)
        if r.ndim != 1 or not np.all(np.isfinite(r)) or np.any((r < 0) | (r > 1)):
            raise ValueError("risk must be a 1-D array of finite values in [0, 1]")
        cells = _group_cells(groups, len(r)) if groups is not None else np.full(len(r), "all", dtype=object)
        out, self.unseen_groups_ = self._apply(r, cells, self._maps)
        return out

    def fit_transform(self, risk, time=None, event=None, groups=None, *, y=None) -> np.ndarray:
        """Fit, and return the recalibrated risks of the same rows.

        With ``cross_fit=K`` the returned risks are out-of-fold (each fold
        recalibrated by the maps fitted on the other folds), so that an audit of
        them is honest; otherwise they are in-sample. In both cases the maps
        fitted on all rows are kept for :meth:`transform`.
        """
        self.fit(risk, time, event, groups, y=y)
        survival, data, cells = self._check(risk, time, event, groups, y)
        r = data[2] if survival else data[1]
        if self.cross_fit is None:
            out, self.unseen_groups_ = self._apply(r, cells, self._maps)
            return out
        k = int(self.cross_fit)
        ev = ((data[1] == 1) & (data[0] <= data[3])) if survival else data[0] == 1
        strata = np.array([f"{c}\x00{int(v)}" for c, v in zip(cells, ev, strict=True)])
        folds = _stratified_folds(strata, k, self.random_state)
        out = np.empty(len(r))
        for f in range(k):
            tr, te = folds != f, folds == f
            sub = tuple(a[tr] for a in data[:-1]) + (data[-1],) if survival else tuple(a[tr] for a in data)
            maps, _, _ = self._fit_maps(survival, sub, cells[tr])
            out[te], _ = self._apply(r[te], cells[te], maps)
        self.folds_ = folds
        self.unseen_groups_ = ()
        return out


# ---------------------------------------------------------------------------------------------
# (c) group thresholds
# ---------------------------------------------------------------------------------------------
def _survival_rates(t, e, r, t0, cuts):
    """Censoring-aware TPR, FPR and positive rate at each cut (SubgroupAudit.fairness' formulas)."""
    out = np.empty((3, len(cuts)))
    chunk = int(max(1, 2_000_000 // max(len(r), 1)))
    for s in range(0, len(cuts), chunk):
        c = cuts[s:s + chunk]
        P = (r[:, None] >= c[None, :]).astype(float)
        q = P.mean(axis=0)
        s_pos = _km_weighted(t, e, P, t0)
        s_neg = _km_weighted(t, e, 1.0 - P, t0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ev_pos = np.where(q > 0, q * (1 - s_pos), 0.0)
            ne_pos = np.where(q > 0, q * s_pos, 0.0)
            ev_neg = np.where(q < 1, (1 - q) * (1 - s_neg), 0.0)
            ne_neg = np.where(q < 1, (1 - q) * s_neg, 0.0)
            out[0, s:s + chunk] = ev_pos / (ev_pos + ev_neg)
            out[1, s:s + chunk] = ne_pos / (ne_pos + ne_neg)
        out[2, s:s + chunk] = q
    return out


def _binary_rates(y, r, cuts):
    pos = np.sort(r[y == 1])
    neg = np.sort(r[y == 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = (len(pos) - np.searchsorted(pos, cuts, side="left")) / len(pos)
        fpr = (len(neg) - np.searchsorted(neg, cuts, side="left")) / len(neg)
    q = (len(r) - np.searchsorted(np.sort(r), cuts, side="left")) / len(r)
    return np.vstack([tpr, fpr, q])


@dataclass(frozen=True)
class GroupThresholds:
    """Per-group decision thresholds with (nearly) equal true-positive rates.

    Attributes
    ----------
    thresholds : dict
        ``{group: threshold}``; a patient is positive when ``risk >= threshold``.
    target_tpr : float
        The true-positive rate every group was brought to (at least).
    rule : str
        How the target was set.
    table : DataFrame
        :data:`THRESHOLD_COLUMNS`: per group the threshold and its TPR, FPR,
        positive rate (censoring-aware for survival data), n, events, flag.
    """

    thresholds: dict
    target_tpr: float
    rule: str
    table: pd.DataFrame = field(repr=False)

    def predict(self, risk, groups) -> np.ndarray:
        """Decisions ``risk >= thresholds[group]`` (a group without a threshold is an error)."""
        r = np.asarray(risk, dtype=float)
        cells = _group_cells(groups, len(r))
        missing = sorted(set(cells) - set(self.thresholds))
        if missing:
            raise ValueError(f"no threshold for group(s) {missing}; known: {sorted(self.thresholds)}")
        cut = np.array([self.thresholds[c] for c in cells], dtype=float)
        return r >= cut

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def _repr_html_(self) -> str:
        return f"<p>{self.rule}; target TPR {self.target_tpr:.4g}</p>" + _html_table(self.table)


def group_thresholds(risk, *, groups, time=None, event=None, horizon=None, y=None, target_tpr=None,
                     threshold=None, top_k=None, min_events: int = 10,
                     max_candidates: int = 2000) -> GroupThresholds:
    r"""Per-group thresholds giving every group the same true-positive rate (equal opportunity).

    Parameters
    ----------
    risk : array-like of shape (n,)
    groups : array-like, DataFrame or mapping
        Group labels (several attributes: their cells; missing: ``"unknown"``).
    time, event, horizon : optional
        Survival data: TPR and FPR are censoring-aware at :math:`t_0`.
    y : array-like, optional
        Binary outcome instead.
    target_tpr : float, optional
        The TPR to reach in every group. Or give ``threshold`` (a common risk
        cut) or ``top_k`` (%, the top k % of all risks): the target is then the
        overall TPR of that common rule, so the thresholds keep the overall
        sensitivity and equalize it across groups. Give exactly one.
    min_events : int
        Groups with fewer events are flagged (their TPR is noisy).
    max_candidates : int
        Per group, at most this many candidate cuts (quantiles of its risks;
        all distinct risks when fewer).

    Returns
    -------
    GroupThresholds

    Notes
    -----
    For each group the threshold is the **largest** candidate cut whose TPR
    is at least the target (the most specific rule reaching it), so the
    achieved TPRs are equal up to the granularity of the group's risks (and
    TPR need not be exactly monotone in the cut under censoring). Survival
    rates are :meth:`SubgroupAudit.fairness`' Kaplan-Meier definitions (the
    same code): with :math:`q` the share positive and :math:`S_\pm` the KM
    survival at :math:`t_0` among positives and negatives,
    :math:`\mathrm{TPR} = q(1-S_+)/[q(1-S_+)+(1-q)(1-S_-)]`. Deterministic
    thresholds equalize one rate (TPR); to equalize TPR and FPR together on
    binary labels use :func:`fairlearn_threshold_optimizer` (randomized).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r = rng.uniform(0, 1, 2000)
    >>> g = rng.choice(["a", "b"], 2000)
    >>> y = rng.binomial(1, np.where(g == "a", r, r ** 2))
    >>> gt = group_thresholds(r, groups=g, y=y, target_tpr=0.8)
    >>> bool((gt.table["tpr"] >= 0.8).all() and (gt.table["tpr"] < 0.81).all())
    True
    """
    survival = y is None
    if survival:
        if time is None or event is None:
            raise ValueError("give y (binary) or both time and event (survival)")
        t0 = check_horizon(horizon)
        t, e, r = check_survival_inputs(time, event, risk)
    else:
        if time is not None or event is not None or horizon is not None:
            raise ValueError("give y or time/event/horizon, not both")
        yy, r = check_binary_inputs(y, risk)
    cells = _group_cells(groups, len(r))

    def rates(idx, cuts):
        cuts = np.asarray(cuts, dtype=float)
        return _survival_rates(t[idx], e[idx], r[idx], t0, cuts) if survival else _binary_rates(yy[idx], r[idx], cuts)

    given = [v is not None for v in (target_tpr, threshold, top_k)]
    if sum(given) != 1:
        raise ValueError("give exactly one of target_tpr, threshold or top_k")
    allidx = np.arange(len(r))
    if target_tpr is not None:
        target = float(target_tpr)
        if not 0 < target <= 1:
            raise ValueError(f"target_tpr must lie in (0, 1]; got {target_tpr}")
        rule = f"target TPR {target:g}"
    else:
        if threshold is not None:
            c = float(threshold)
            if not 0 <= c <= 1:
                raise ValueError(f"threshold must lie in [0, 1]; got {threshold}")
            what = f"risk >= {c:g}"
        else:
            k = float(top_k)
            if not 0 < k < 100:
                raise ValueError(f"top_k is a percentage in (0, 100); got {top_k}")
            c = float(np.quantile(r, 1.0 - k / 100.0, method="higher"))
            what = f"top {k:g} % of risk (risk >= {c:.6g})"
        target = float(rates(allidx, [c])[0, 0])
        if not np.isfinite(target):
            raise NotEstimableError(f"the overall TPR at {what} is undefined (no event?)")
        rule = f"equal TPR to the overall TPR {target:.4g} at {what}"
    rows, thr = [], {}
    for g in sorted(set(cells)):
        idx = np.flatnonzero(cells == g)
        u = np.unique(r[idx])
        if len(u) > max_candidates:
            u = np.unique(np.quantile(r[idx], np.linspace(0, 1, max_candidates), method="inverted_cdf"))
        rt = rates(idx, u)
        ok = np.flatnonzero(rt[0] >= target - 1e-12)
        reasons = []
        if g == UNKNOWN_GROUP:
            reasons.append("unknown: rows with a missing label")
        ev = int(np.sum((e[idx] == 1) & (t[idx] <= t0))) if survival else int(yy[idx].sum())
        if ev < min_events:
            reasons.append(f"fewer than {min_events} events ({ev})")
        if len(ok):
            j = ok[-1]
            cut, tpr, fpr, q = float(u[j]), *map(float, rt[:, j])
        else:
            cut, tpr, fpr, q = 0.0, np.nan, np.nan, 1.0
            reasons.append("TPR undefined (no event): threshold 0 (everybody positive)")
        thr[g] = cut
        why = "; ".join(reasons)
        rows.append((g, cut, tpr, fpr, q, len(idx), ev, bool(why), why))
    return GroupThresholds(thresholds=thr, target_tpr=target, rule=rule, table=_frame(rows, THRESHOLD_COLUMNS))


class RiskScoreEstimator(BaseEstimator):
    """A prefit "estimator" whose input is the risk itself (column 0 of ``X``).

    Lets fairlearn's ``ThresholdOptimizer(prefit=True)`` post-process risks
    from any model: ``predict_proba(X)`` returns ``[1 - X[:, 0], X[:, 0]]``.
    """

    def __sklearn_is_fitted__(self):
        return True

    def fit(self, X, y=None, **kwargs):
        return self

    def predict_proba(self, X):
        r = np.asarray(X, dtype=float).reshape(len(X), -1)[:, 0]
        return np.column_stack([1.0 - r, r])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def fairlearn_threshold_optimizer(risk, y, *, groups, constraints: str = "equalized_odds",
                                  objective: str = "balanced_accuracy_score", grid_size: int = 1000):
    """fairlearn's ``ThresholdOptimizer`` on precomputed risks (binary outcomes only).

    Parameters
    ----------
    risk : array-like of shape (n,)
        Predicted risks of any model.
    y : array-like of shape (n,)
        Binary outcome (0/1). For survival data, only when everybody is
        followed to the horizon (no censoring before it); otherwise use the
        censoring-aware :func:`group_thresholds`.
    groups : array-like, DataFrame or mapping
        Sensitive features (several attributes: their cells).
    constraints, objective, grid_size
        As in :class:`fairlearn.postprocessing.ThresholdOptimizer`
        (e.g. ``"equalized_odds"``, ``"true_positive_rate_parity"``,
        ``"demographic_parity"``).

    Returns
    -------
    fairlearn.postprocessing.ThresholdOptimizer
        Fitted (``prefit=True`` on a :class:`RiskScoreEstimator`). Predict with
        ``opt.predict(np.asarray(risk)[:, None], sensitive_features=labels,
        random_state=seed)``; ``labels`` as built from ``groups`` (for a 1-D
        array, the labels themselves). Its decisions are **randomized** between
        two thresholds per group where needed (this is how equalized odds is
        reached exactly).
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    yy, r = check_binary_inputs(y, risk)
    cells = _group_cells(groups, len(r))
    opt = ThresholdOptimizer(estimator=RiskScoreEstimator(), constraints=constraints, objective=objective,
                             grid_size=grid_size, prefit=True, predict_method="predict_proba")
    opt.fit(r[:, None], yy.astype(int), sensitive_features=cells.astype(str))
    return opt


# ---------------------------------------------------------------------------------------------
# (d) calibrated equalized odds (Pleiss et al. 2017)
# ---------------------------------------------------------------------------------------------
_COSTS = ("fnr", "fpr", "weighted")


class CalibratedEqualizedOdds:
    r"""Calibrated equalized odds (Pleiss et al., NeurIPS 2017) for binary outcomes.

    Parameters
    ----------
    cost : {"fnr", "fpr", "weighted"}
        The generalized rate to equalize across groups: the generalized false
        negative rate :math:`\mathrm{GFNR} = E[1 - r \mid y = 1]`, the
        generalized false positive rate :math:`\mathrm{GFPR} = E[r \mid y =
        0]`, or ``"weighted"``: :math:`c = w (1-\mu) \mathrm{GFPR} + (1-w) \mu
        \mathrm{GFNR}` with :math:`w` = ``fp_weight`` and :math:`\mu` the
        group's base rate (Pleiss et al.'s weighted cost).
    fp_weight : float, optional
        :math:`w \in [0, 1]` for ``"weighted"`` (default 0.5).
    random_state : int, optional
        Seed of the random choice of the rows whose risk is replaced.

    Attributes
    ----------
    table_ : DataFrame
        :data:`EQUALIZED_ODDS_COLUMNS`: per group n, base rate, GFPR, GFNR,
        cost before, mix rate :math:`\alpha_g`, expected cost after, flag.
    base_rates_, mix_rates_ : dict
    unseen_groups_ : tuple of str
        Groups met by the last :meth:`transform` that were not fitted (risks
        unchanged).

    Notes
    -----
    Each group's risk is replaced, for a random share :math:`\alpha_g` of its
    rows, by the group's base rate :math:`\mu_g` (the trivial classifier,
    which is perfectly calibrated). The cost is linear in the mixture, so
    :math:`\alpha_g = (c^* - c_g)/(c(\mu_g) - c_g)` brings every group to the
    largest cost :math:`c^*` (the worst group is left unchanged); with
    :math:`c(\mu_g)` the trivial cost (GFPR :math:`\mu_g`, GFNR
    :math:`1-\mu_g`).

    **Constraints.** Calibration within groups and equal FPR *and* FNR are
    incompatible (Kleinberg et al. 2016; Pleiss et al. 2017): only **one**
    generalized rate (or one weighted combination) can be equalized while
    keeping calibration, and it is done by *adding noise* to the better
    groups (their discrimination drops; nothing improves for the worst
    group). The input risks must already be calibrated within each group
    (e.g. :class:`GroupRecalibrator` on the logit scale, on other data);
    the result is calibrated within groups in expectation. When the trivial
    classifier cannot reach :math:`c^*` (:math:`c(\mu_g) < c^*`) the group
    is fully replaced (:math:`\alpha_g = 1`) and flagged. Binary outcomes only:
    with censoring before the horizon, generalized rates are not defined here.
    """

    def __init__(self, cost: str = "fnr", *, fp_weight: float | None = None, random_state=None):
        self.cost = cost
        self.fp_weight = fp_weight
        self.random_state = random_state

    def _weights(self):
        if self.cost not in _COSTS:
            raise ValueError(f"cost must be one of {list(_COSTS)}; got {self.cost!r}")
        if self.cost != "weighted":
            if self.fp_weight is not None:
                raise ValueError("fp_weight applies to cost='weighted' only")
            return None
        w = 0.5 if self.fp_weight is None else float(self.fp_weight)
        if not 0 <= w <= 1:
            raise ValueError(f"fp_weight must lie in [0, 1]; got {self.fp_weight}")
        return w

    def _cost(self, gfpr, gfnr, mu, w):
        if self.cost == "fnr":
            return gfnr
        if self.cost == "fpr":
            return gfpr
        return w * (1 - mu) * gfpr + (1 - w) * mu * gfnr

    def fit(self, risk, y, groups):
        """Estimate base rates, generalized rates and the mix rate of each group."""
        w = self._weights()
        yy, r = check_binary_inputs(y, risk)
        cells = _group_cells(groups, len(r))
        stats = {}
        for g in sorted(set(cells)):
            idx = cells == g
            yg, rg = yy[idx], r[idx]
            if yg.sum() == 0 or yg.sum() == len(yg):
                raise NotEstimableError(f"group {g!r} has no event or no non-event: rates undefined")
            mu = float(yg.mean())
            gfpr, gfnr = float(rg[yg == 0].mean()), float(1 - rg[yg == 1].mean())
            stats[g] = (int(idx.sum()), mu, gfpr, gfnr, self._cost(gfpr, gfnr, mu, w),
                        self._cost(mu, 1 - mu, mu, w))
        target = max(s[4] for s in stats.values())
        rows, self.base_rates_, self.mix_rates_ = [], {}, {}
        for g, (n, mu, gfpr, gfnr, c, c_triv) in stats.items():
            reason = ""
            if c >= target:
                a = 0.0
            elif c_triv > c:
                a = (target - c) / (c_triv - c)
                if a > 1:
                    a, reason = 1.0, f"trivial classifier's cost {c_triv:.4g} below the target {target:.4g}"
            else:
                a, reason = 1.0, "mixing with the base rate cannot raise this group's cost"
            if g == UNKNOWN_GROUP:
                reason = "; ".join(x for x in ("unknown: rows with a missing label", reason) if x)
            self.base_rates_[g], self.mix_rates_[g] = mu, a
            rows.append((g, n, mu, gfpr, gfnr, c, a, (1 - a) * c + a * c_triv, bool(reason), reason))
        self.target_cost_ = target
        self.table_ = _frame(rows, EQUALIZED_ODDS_COLUMNS)
        self.unseen_groups_ = ()
        return self

    def transform(self, risk, groups) -> np.ndarray:
        """Replace a random share ``mix_rate`` of each group's risks by its base rate."""
        if not hasattr(self, "mix_rates_"):
            raise ValueError("this CalibratedEqualizedOdds is not fitted yet: call fit first")
        r = np.asarray(risk, dtype=float).copy()
        cells = _group_cells(groups, len(r))
        rng = np.random.default_rng(self.random_state)
        unseen = []
        for g in sorted(set(cells)):
            idx = np.flatnonzero(cells == g)
            if g not in self.mix_rates_:
                unseen.append(g)
                continue
            k = int(round(self.mix_rates_[g] * len(idx)))
            r[rng.permutation(idx)[:k]] = self.base_rates_[g]
        self.unseen_groups_ = tuple(unseen)
        return r

    def fit_transform(self, risk, y, groups) -> np.ndarray:
        return self.fit(risk, y, groups).transform(risk, groups)


@dataclass(frozen=True)
class EqualizedOddsResult:
    """Risks after calibrated equalized odds, the per-group table and the fitted mitigator."""

    risk: np.ndarray = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    mitigator: CalibratedEqualizedOdds = field(repr=False)
    cost: str = "fnr"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def _repr_html_(self) -> str:
        return f"<p>calibrated equalized odds, cost {self.cost}</p>" + _html_table(self.table)


def calibrated_equalized_odds(risk, y, *, groups, cost: str = "fnr", fp_weight: float | None = None,
                              random_state=None) -> EqualizedOddsResult:
    """Fit :class:`CalibratedEqualizedOdds` and apply it to the same rows.

    Returns
    -------
    EqualizedOddsResult
        ``risk`` (post-processed), ``table`` (:data:`EQUALIZED_ODDS_COLUMNS`)
        and ``mitigator`` (for new data: ``mitigator.transform(risk, groups)``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(["a", "b"], 5000)
    >>> r = np.where(g == "a", rng.beta(3, 3, 10000), rng.beta(0.5, 0.5, 10000))  # b: sharper
    >>> y = rng.binomial(1, r)                                   # calibrated in both groups
    >>> res = calibrated_equalized_odds(r, y, groups=g, cost="fnr", random_state=0)
    >>> res.table[["group", "cost_before", "mix_rate", "cost_after"]].round(3).values.tolist()
    [['a', 0.422, 0.0, 0.422], ['b', 0.256, 0.707, 0.422]]
    """
    m = CalibratedEqualizedOdds(cost, fp_weight=fp_weight, random_state=random_state)
    out = m.fit_transform(risk, y, groups)
    return EqualizedOddsResult(risk=out, table=m.table_, mitigator=m, cost=cost)
