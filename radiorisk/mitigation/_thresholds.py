"""Decision rule: per-group thresholds with equal true-positive rates (censoring-aware), fairlearn wrapper."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from ..evaluation import UNKNOWN_GROUP
from ..stats import (
    NotEstimableError,
    check_binary_inputs,
    check_horizon,
    check_survival_inputs,
    html_table,
    kaplan_meier_at,
)
from ._common import (
    THRESHOLD_COLUMNS,
    _frame,
    _group_cells,
)


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
        s_pos = kaplan_meier_at(t, e, t0, P)
        s_neg = kaplan_meier_at(t, e, t0, 1.0 - P)
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
        return f"<p>{self.rule}; target TPR {self.target_tpr:.4g}</p>" + html_table(self.table)


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
    data = _Outcome(risk, time, event, horizon, y)
    cells = _group_cells(groups, len(data.r))
    target, rule = _target_tpr(data, target_tpr, threshold, top_k)
    rows, thr = [], {}
    for g in sorted(set(cells)):
        row = _group_row(data, np.flatnonzero(cells == g), g, target, min_events, max_candidates)
        thr[g] = row[1]
        rows.append(row)
    return GroupThresholds(thresholds=thr, target_tpr=target, rule=rule, table=_frame(rows, THRESHOLD_COLUMNS))


class _Outcome:
    """The checked outcome (survival or binary) with its rates at cuts and its event count."""

    def __init__(self, risk, time, event, horizon, y):
        self.survival = y is None
        if self.survival:
            if time is None or event is None:
                raise ValueError("give y (binary) or both time and event (survival)")
            self.t0 = check_horizon(horizon)
            self.t, self.e, self.r = check_survival_inputs(time, event, risk)
        else:
            if time is not None or event is not None or horizon is not None:
                raise ValueError("give y or time/event/horizon, not both")
            self.yy, self.r = check_binary_inputs(y, risk)

    def rates(self, idx, cuts) -> np.ndarray:
        """TPR, FPR and positive rate (3 x len(cuts)) of the rows ``idx``."""
        cuts = np.asarray(cuts, dtype=float)
        if self.survival:
            return _survival_rates(self.t[idx], self.e[idx], self.r[idx], self.t0, cuts)
        return _binary_rates(self.yy[idx], self.r[idx], cuts)

    def events(self, idx) -> int:
        if self.survival:
            return int(np.sum((self.e[idx] == 1) & (self.t[idx] <= self.t0)))
        return int(self.yy[idx].sum())


def _target_tpr(data: _Outcome, target_tpr, threshold, top_k) -> tuple[float, str]:
    """The TPR every group is to reach, and the rule's description."""
    given = [v is not None for v in (target_tpr, threshold, top_k)]
    if sum(given) != 1:
        raise ValueError("give exactly one of target_tpr, threshold or top_k")
    if target_tpr is not None:
        target = float(target_tpr)
        if not 0 < target <= 1:
            raise ValueError(f"target_tpr must lie in (0, 1]; got {target_tpr}")
        return target, f"target TPR {target:g}"
    r = data.r
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
    target = float(data.rates(np.arange(len(r)), [c])[0, 0])
    if not np.isfinite(target):
        raise NotEstimableError(f"the overall TPR at {what} is undefined (no event?)")
    return target, f"equal TPR to the overall TPR {target:.4g} at {what}"


def _group_row(data: _Outcome, idx, g, target, min_events, max_candidates) -> tuple:
    """The largest candidate cut of group ``g`` reaching the target TPR: its table row."""
    r = data.r
    u = np.unique(r[idx])
    if len(u) > max_candidates:
        u = np.unique(np.quantile(r[idx], np.linspace(0, 1, max_candidates), method="inverted_cdf"))
    rt = data.rates(idx, u)
    ok = np.flatnonzero(rt[0] >= target - 1e-12)
    reasons = []
    if g == UNKNOWN_GROUP:
        reasons.append("unknown: rows with a missing label")
    ev = data.events(idx)
    if ev < min_events:
        reasons.append(f"fewer than {min_events} events ({ev})")
    if len(ok):
        j = ok[-1]
        cut, tpr, fpr, q = float(u[j]), *map(float, rt[:, j])
    else:
        cut, tpr, fpr, q = 0.0, np.nan, np.nan, 1.0
        reasons.append("TPR undefined (no event): threshold 0 (everybody positive)")
    why = "; ".join(reasons)
    return (g, cut, tpr, fpr, q, len(idx), ev, bool(why), why)


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
