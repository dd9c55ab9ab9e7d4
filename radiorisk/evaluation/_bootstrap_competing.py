"""Vectorised bootstrap of the competing-risk metrics ``c_cr, auc_cr, brier_cr, ipa_cr, oe_ratio_cr``.

A block of replicates is a matrix of counts ``W`` (rows x replicates), as in
:mod:`._bootstrap`. Per replicate: the weighted counts at the distinct times up to
:math:`t_0` give the all-cause Kaplan-Meier, the Aalen-Johansen :math:`F_1(t_0)` and the
censoring distribution :math:`G` (events of either cause leave the risk set first;
:func:`~radiorisk.stats.censoring_km_factors`); Brier, IPA and O/E are weighted sums; the
``auc_cr`` numerator is each case's control weight below its risk (control weights per
distinct risk, cumulated: no pairs); the pair sums of ``c_cr`` are prefix rank sums
(:class:`~radiorisk.stats.PrefixRankSums`: the orders and queries fixed per group, one
compiled Fenwick sweep per replicate). With integer counts each value equals the
``radiorisk.stats`` function on the copied rows (``tests/evaluation/test_bootstrap_competing.py``,
to 1e-12). The Fine-Gray calibration family (:class:`FineGrayReplicates`) is a weighted
Fine-Gray fit per replicate (:class:`~radiorisk.stats.FineGrayCalibrationBatch`: rows sorted
once, compiled Newton) with the Hmisc knots from the weighted order statistics of the rcs-Cox
family.
"""

from __future__ import annotations

import numpy as np

from ..stats import (
    FineGrayCalibrationBatch,
    PrefixRankSums,
    at_risk_from_counts,
    censoring_km_factors,
    km_factors,
)
from ._bootstrap_calibration import _CoxCalibrationMixin
from ._weighted_sums import _csr

__all__ = ["CompetingReplicates", "FineGrayReplicates"]

#: The metrics of :meth:`CompetingReplicates.evaluate`, in its order.
VECTORISED = ("c_cr", "auc_cr", "brier_cr", "ipa_cr", "oe_ratio_cr")


def _scaled(W, G):
    """``W / G`` where ``W > 0`` (rows absent from a replicate add nothing), else 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(W > 0, W / G, 0.0)


class CompetingReplicates:
    """Precomputed structure of one group; :meth:`evaluate` gives five metrics per replicate.

    Parameters
    ----------
    time, status, risk : ndarray of shape (n,)
        The group's rows (status 0 = censored, 1 = event of interest, 2 = competing).
    horizon : float
        :math:`t_0`.

    Examples
    --------
    >>> plan = CompetingReplicates([1, 2, 3, 4, 5], [1, 2, 1, 0, 2], [0.9, 0.3, 0.5, 0.4, 0.6], horizon=4)
    >>> plan.evaluate(np.ones((5, 1)))[0].round(4).tolist()  # c_cr of the rows as given
    [0.8571]
    """

    names = VECTORISED

    def __init__(self, time, status, risk, *, horizon: float):
        self.t = t = np.asarray(time, dtype=np.float64)
        self.s = s = np.asarray(status, dtype=np.float64)
        self.r = np.asarray(risk, dtype=np.float64)
        self.n = n = len(t)
        self.t0 = t0 = float(horizon)
        le0 = t <= t0
        u, tid = np.unique(t[le0], return_inverse=True)
        self.m0 = m0 = len(u)
        rows0 = np.flatnonzero(le0)
        self.A_N = _csr(tid, rows0, (m0, n))
        self.A_1 = _csr(tid[s[le0] == 1], rows0[s[le0] == 1], (m0, n))
        self.A_2 = _csr(tid[s[le0] == 2], rows0[s[le0] == 2], (m0, n))
        self.tid = np.full(n, -1, dtype=np.int64)
        self.tid[rows0] = tid
        self.case = np.flatnonzero(le0 & (s == 1))
        self.comp = np.flatnonzero(le0 & (s == 2))
        self.late = np.flatnonzero(~le0)
        self.ctrl = np.concatenate([self.comp, self.late])
        uq, rank = np.unique(self.r, return_inverse=True)
        self.R_ctrl = _csr(rank[self.ctrl], np.arange(len(self.ctrl)), (len(uq), len(self.ctrl)))
        self.case_rank = rank[self.case]
        r = self.r
        self.sq_case, self.sq_comp, self.sq_late = (1.0 - r[self.case]) ** 2, r[self.comp] ** 2, r[self.late] ** 2
        if len(self.case):
            self._build_ccr(rank)

    def _build_ccr(self, rank):
        """``c_cr``'s prefix rank sums (:class:`~radiorisk.stats.PrefixRankSums`).

        Type A: rows by time descending, censored rows first among tied times, so that a
        case's comparable rows (later, or censored at its time) are a prefix; type B: the
        competing rows by time, the prefix those at or before the case. Both read the
        weights through their row order (no reordered copies per replicate).
        """
        t, s, case = self.t, self.s, self.case
        ti = t[case]
        perm_a = np.lexsort((s != 0, -t))
        t_cens = np.sort(t[s == 0])
        q_a = (self.n - np.searchsorted(np.sort(t), ti, side="right")
               + np.searchsorted(t_cens, ti, side="right") - np.searchsorted(t_cens, ti, side="left"))
        self.plan_a = PrefixRankSums(rank[perm_a], q_a, rank[case], rows=perm_a)
        jc = np.flatnonzero((s != 0) & (s != 1) & (t <= self.t0))
        self.jc = jc[np.argsort(t[jc], kind="stable")]
        q_b = np.searchsorted(t[self.jc], ti, side="right")
        self.plan_b = PrefixRankSums(rank[self.jc], q_b, rank[case])

    def _ccr(self, W, Wc, wc, G_lag, G):
        """The c_cr numerator and denominator per replicate (a Fenwick sweep each).

        ``Wc`` are the cases' counts ``W[case]``, ``wc`` their weights :math:`W/G(T_i-)`.
        """
        case = self.case
        fa = _scaled(Wc, G_lag[self.tid[case]] * G[self.tid[case]])  # type A: 1/(G(T_i-) G(T_i))
        conc_a, pairs_a = self.plan_a(W, totals=True)
        num = np.sum(fa * conc_a, axis=0)
        den = np.sum(fa * pairs_a, axis=0)
        wj = _scaled(W[self.jc], G_lag[self.tid[self.jc]])  # type B: 1/(G(T_i-) G(T_j-))
        conc_b, pairs_b = self.plan_b(wj, totals=True)
        num += np.sum(wc * conc_b, axis=0)
        den += np.sum(wc * pairs_b, axis=0)
        return num, den

    def _distributions(self, W):
        """``F1(t0)``, G(t-) and G(t) at the distinct times <= t0 and G(t0), per replicate."""
        B = W.shape[1]
        tot = W.sum(axis=0)
        if self.m0 == 0:
            return np.zeros(B), np.ones((0, B)), np.ones((0, B)), np.ones(B)
        N, D1, D2 = self.A_N @ W, self.A_1 @ W, self.A_2 @ W
        Y = at_risk_from_counts(N, tot[None, :])
        D = D1 + D2
        S = np.cumprod(km_factors(D, Y), axis=0)
        S_lag = np.vstack([np.ones((1, B)), S[:-1]])
        with np.errstate(divide="ignore", invalid="ignore"):
            F1 = np.sum(np.where(D1 > 0, S_lag * D1 / Y, 0.0), axis=0)
        G = np.cumprod(censoring_km_factors(N - D, D, Y), axis=0)
        G_lag = np.vstack([np.ones((1, B)), G[:-1]])
        return F1, G_lag, G, G[-1]

    def evaluate(self, W: np.ndarray) -> np.ndarray:
        """The metrics :data:`VECTORISED` per replicate (5 x B) from counts ``W`` (n x B).

        NaN where the ``radiorisk.stats`` function would raise ``NotEstimableError``.
        """
        W = np.asarray(W, dtype=np.float64)
        B = W.shape[1]
        out = np.full((len(VECTORISED), B), np.nan)
        tot = W.sum(axis=0)
        F1, G_lag, G, G0 = self._distributions(W)
        case, comp, late = self.case, self.comp, self.late
        Wc, Wk, Wl = W[case], W[comp], W[late]  # each gathered once
        wc = _scaled(Wc, G_lag[self.tid[case]])  # 1/G(T_i-) per case copy
        wk = _scaled(Wk, G_lag[self.tid[comp]])
        wl = _scaled(Wl, G0[None, :])
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_r = (self.r @ W) / tot
            out[4] = np.where(mean_r > 0, F1 / mean_r, np.nan)
            brier = (self.sq_case @ wc + self.sq_comp @ wk + self.sq_late @ wl) / tot
            out[2] = brier
            a, b = wc.sum(axis=0), wk.sum(axis=0) + wl.sum(axis=0)
            null = ((1.0 - F1) ** 2 * a + F1**2 * b) / tot
            out[3] = np.where(null > 0, 1.0 - brier / null, np.nan)
            has_case = Wc.sum(axis=0) > 0
            if len(case):
                num_auc = self._auc_numerator(wc, np.vstack([wk, wl]))
                ok = has_case & (Wk.sum(axis=0) + Wl.sum(axis=0) > 0)  # counts: exact sums
                out[1] = np.where(ok, num_auc / (a * b), np.nan)
                num_c, den_c = self._ccr(W, Wc, wc, G_lag, G)
                out[0] = np.where(has_case & (den_c > 0), num_c / den_c, np.nan)
        return out

    def _auc_numerator(self, wc, w_ctrl):
        """:math:`\\sum_i w_i \\sum_j w_j [1(r_i > r_j) + \\frac12 1(r_i = r_j)]` per replicate.

        The control weights summed per distinct risk (in risk order) and cumulated: for each
        case the weight below its risk plus half the weight tied with it (``auc_cr``'s
        ``_weighted_below``), O(rows) per replicate.
        """
        at = np.ascontiguousarray((self.R_ctrl @ w_ctrl).T)  # B x distinct risks (cumsum along rows: fast)
        below = np.cumsum(at, axis=1) - at
        return np.sum(wc * (below[:, self.case_rank] + 0.5 * at[:, self.case_rank]).T, axis=0)


class FineGrayReplicates(_CoxCalibrationMixin):
    """``ici_cr, e50_cr, e90_cr, emax_cr`` of one group for a block of replicates.

    :class:`~radiorisk.stats.FineGrayCalibrationBatch` with each replicate's knots from the
    weighted order statistics of the rcs-Cox family (:meth:`_knots`; its rare tie rules use
    ``rcs_knots`` itself). Each value equals ``fine_gray_calibration`` on the copied rows to
    1e-10 (``tests/evaluation/test_audit_competing.py``).

    Parameters
    ----------
    time, status, risk : ndarray of shape (n,)
    horizon : float

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t, s = rng.integers(1, 9, 200).astype(float), rng.choice([0.0, 1.0, 2.0], 200)
    >>> FineGrayReplicates(t, s, rng.uniform(0.1, 0.6, 200), horizon=5).evaluate(np.ones((200, 2))).shape
    (4, 2)
    """

    def __init__(self, time, status, risk, *, horizon: float):
        r = np.asarray(risk, dtype=np.float64)
        self.n = len(r)
        self.batch = FineGrayCalibrationBatch(time, status, r, horizon=horizon)
        self._build_knots(r)

    def evaluate(self, W: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """The four metrics per replicate (4 x B) from counts ``W`` (n x B); NaN where not estimable.

        Every column must sum to n (the bootstrap's counts of a union of strata: the
        knots' order statistics assume it). ``rows`` (B x n, positions in this group) are
        the resampled rows in order, for the replicates computed on the copied rows
        (:meth:`~radiorisk.stats.FineGrayCalibrationBatch.evaluate`).
        """
        W = np.asarray(W, dtype=np.float64)
        return self.batch.evaluate(W, knots=self._knots(W), rows=rows)
