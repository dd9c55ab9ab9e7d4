"""Post-processing: per-group recalibration of the risk (cloglog for survival, logit for binary)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from ..evaluation import UNKNOWN_GROUP
from ..stats import (
    NotEstimableError,
    breslow_increments,
    check_binary_inputs,
    check_horizon,
    check_survival_inputs,
    cloglog_recalibrated,
    fit_cox,
    logit_clipped,
    newton_step,
)
from ._common import (
    _EPS,
    RECALIBRATION_COLUMNS,
    _frame,
    _group_cells,
)


# ---------------------------------------------------------------------------------------------
# (b) per-group recalibration
# ---------------------------------------------------------------------------------------------
def _cloglog(r):
    # clips at 1e-12 (stats._rcs._cloglog, used by the calibration curves, clips at 1e-10)
    r = np.clip(r, _EPS, 1.0 - _EPS)
    return np.log(-np.log1p(-r))




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
    h0 = float(np.sum(breslow_increments(tt, ee, eta - m)[1]))  # H0(t0): every time is <= t0
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
            lp = logit_clipped(r)

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
        link = None if self.survival_ else logit_clipped(r)
        out = np.asarray(r, dtype=float).copy()
        unseen = []
        for g in np.unique(cells.astype(str)):
            idx = cells == g
            if g not in maps:
                unseen.append(g)
                continue
            a, b = maps[g]
            out[idx] = cloglog_recalibrated(r[idx], a, b) if self.survival_ else expit(a + b * link[idx])
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
