"""Vectorised, stratified bootstrap of the audit metrics (all replicates at once).

Design
------
* **Resampling.** Rows are resampled *within strata* (the finest cells of the
  group attributes, e.g. sex x ethnicity, with a missing label as its own
  cell). Replicate ``b`` replaces every row by a uniformly drawn row of its own
  stratum, from the generator ``SeedSequence(random_state).spawn(n_boot)[b]``,
  so a replicate does not depend on how replicates are chunked. Every group
  (a union of strata, including the whole data) is then resampled within
  itself with its own size, and all groups share the same replicates: group
  and overall estimates are *paired*, which the differences and ratios of
  :class:`SubgroupAudit` need.
* **Weights, not copies.** A replicate is held as multinomial counts
  :math:`w_{ib}` (rows x replicates). Every survival metric is computed for
  a block of replicates at once from weighted sums: Kaplan-Meier and the
  censoring distribution from per-time weighted counts (sparse products and
  cumulative products over the unique times), Brier/IPA/O:E from weighted
  sums, the time-dependent AUC from weighted rank counts, Harrell's and Uno's
  C from a static merge-sort tree (one sparse product per tree level:
  :math:`O(n \\log n)` per replicate), and the rcs-Cox calibration family
  (``ici_t`` ...) from a batched Efron Newton-Raphson over replicates that
  repeats the steps of :func:`~radiorisk.evaluation.fit_cox` (start at 0,
  step-halving, relative log-likelihood change 1e-10), with knots recomputed
  in every replicate (Hmisc rules; the rare tie rules fall back to the exact
  :func:`~radiorisk.evaluation.rcs_knots` for that replicate).
* **Exactness.** With integer weights each formula equals the metric computed
  on the copied rows; ``tests/evaluation/test_bootstrap.py`` checks this to
  1e-10 against :func:`~radiorisk.evaluation.compute_metrics` on the same
  resample indices.
* Binary metrics are bootstrapped exactly, one replicate at a time (R's loess
  is not a weighted-count formula: its span counts rows).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from ..stats import at_risk_from_counts, censoring_km_factors, km_factors
from ..stats._common import NotEstimableError
from ..stats._rcs import _cloglog, rcs_basis, rcs_knots
from ..stats._resample import StratifiedBootstrap, counts_from_indices, percentile_interval
from ._batched_cox import _batched_cox, _cube_pos, _efron_hazard, _risk_sums0
from ._values import BINARY_METRICS, _binary_values

__all__ = [
    "StratifiedBootstrap",
    "SurvivalReplicates",
    "survival_replicates",
    "binary_replicates",
    "percentile_interval",
]

_SURV_NAMES = ("harrell_c", "uno_c", "td_auc", "brier_t", "ipa", "oe_ratio_t",
               "ici_t", "e50_t", "e90_t", "emax_t")
_TARGET_CELLS = 3_000_000  # rows x replicates per block (memory: ~25 MB per float array)


# ---------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------


def _csr(rows, cols, shape, vals=None) -> sp.csr_matrix:
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    v = np.ones(len(rows)) if vals is None else np.asarray(vals, dtype=np.float64)
    return sp.csr_matrix((v, (rows, cols)), shape=shape)


class _PrefixQueries:
    """``sum_k coef_k * prefix(seq, pos_k)`` per query, for many sequences at once.

    ``prefix(seq, p)`` is the sum of the weights of the first ``p`` rows of the
    sequence ``seq`` (an ordering of row indices). All sequences are stacked;
    one sparse product gives the sums between consecutive breakpoints, a
    cumulative sum gives the prefixes at the breakpoints, a second sparse
    product combines them per query.
    """

    def __init__(self, n_rows: int, sequences, terms, n_queries: int):
        # terms: list of (query index array, sequence number array, position array, coef array)
        q_all = np.concatenate([t[0] for t in terms]) if terms else np.zeros(0, np.int64)
        s_all = np.concatenate([t[1] for t in terms]) if terms else np.zeros(0, np.int64)
        p_all = np.concatenate([t[2] for t in terms]) if terms else np.zeros(0, np.int64)
        c_all = np.concatenate([t[3] for t in terms]) if terms else np.zeros(0)
        keep = p_all > 0  # prefix(0) = 0
        q_all, s_all, p_all, c_all = q_all[keep], s_all[keep], p_all[keep], c_all[keep]
        L = max(len(sequences), 1)
        stride = n_rows + 1
        key = s_all * stride + p_all
        bp, inv = np.unique(key, return_inverse=True)  # breakpoints, sorted (seq, pos)
        rows, cols = [], []
        for s, seq in enumerate(sequences):
            sel = (bp // stride) == s
            if not sel.any():
                continue
            pos_bp = bp[sel] % stride
            first = np.flatnonzero(sel)[0]
            # row at position p (0-based) belongs to the first breakpoint > p
            p = np.arange(int(pos_bp[-1]))
            seg = np.searchsorted(pos_bp, p, side="right") + first
            rows.append(seg)
            cols.append(np.asarray(seq)[: len(p)])
        rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        cols = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        # segment sums per breakpoint; cumsum restarts per sequence via differences below
        self.P = _csr(rows, cols, (len(bp), n_rows))
        self.seq_of_bp = bp // stride
        self.Q = _csr(q_all, inv, (n_queries, len(bp)), c_all)
        self.n_bp = len(bp)
        self._L = L

    def __call__(self, W: np.ndarray) -> np.ndarray:
        if self.n_bp == 0:
            return np.zeros((self.Q.shape[0], W.shape[1]))
        seg = self.P @ W
        cum = np.cumsum(seg, axis=0)
        # restart per sequence: subtract the running total at each sequence's start
        starts = np.flatnonzero(np.r_[True, self.seq_of_bp[1:] != self.seq_of_bp[:-1]])
        if len(starts) > 1:
            offs = np.zeros_like(cum[starts])
            offs[1:] = cum[starts[1:] - 1]
            cum -= np.repeat(offs, np.diff(np.r_[starts, self.n_bp]), axis=0)
        return self.Q @ cum


def _lerp(a, b, t):
    """numpy's quantile interpolation (``numpy.lib._function_base_impl._lerp``)."""
    diff = b - a
    out = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), out)


def _order_stats(Wsorted: np.ndarray, values_sorted: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """k-th smallest (0-based) of each replicate's expanded sample.

    ``Wsorted`` (n x B) are counts of rows already sorted by ``values_sorted``;
    ``ks`` (m x B) the wanted ranks. Returns values (m x B).
    """
    n, B = Wsorted.shape
    blk = 256
    nb = -(-n // blk)
    pad = np.zeros((nb * blk, B))
    pad[:n] = Wsorted
    W3 = pad.reshape(nb, blk, B)
    bsum = W3.sum(axis=1)  # nb x B
    bcum = np.cumsum(bsum, axis=0)
    out = np.empty(ks.shape)
    cols = np.arange(B)
    for i in range(ks.shape[0]):
        k = ks[i]
        bi = np.argmax(bcum > k[None, :], axis=0)  # first block whose cumulative count exceeds k
        before = np.where(bi > 0, bcum[np.maximum(bi - 1, 0), cols], 0.0)
        inner = np.cumsum(W3[bi, :, cols], axis=1) + before[:, None]  # B x blk
        j = np.argmax(inner > k[:, None], axis=1)
        out[i] = values_sorted[np.minimum(bi * blk + j, n - 1)]
    return out


# ---------------------------------------------------------------------------
# survival metrics for a block of replicates
# ---------------------------------------------------------------------------


class SurvivalReplicates:
    """Precomputed structure of one group; :meth:`evaluate` gives the metrics per replicate.

    Parameters
    ----------
    time, event, risk : ndarray of shape (n,)
        The group's rows.
    horizon : float
        :math:`t_0`.

    Notes
    -----
    ``evaluate(W, idx)`` takes counts ``W`` (n x B, rows in the group's input
    order) and, for the e50/e90 quantiles, the expanded resample ``idx``
    (B x n, positions in the group) and returns an array (10 x B) in the order
    of :data:`~radiorisk.evaluation.SURVIVAL_METRICS` (NaN where a replicate
    cannot be estimated).
    """

    names = _SURV_NAMES

    def __init__(self, time, event, risk, *, horizon: float):
        t = np.asarray(time, dtype=np.float64)
        e = np.asarray(event, dtype=np.float64)
        r = np.asarray(risk, dtype=np.float64)
        self.n = n = len(t)
        self.t0 = t0 = float(horizon)
        order = np.lexsort((-e, t))  # time ascending, events first at a tied time
        self.order = order
        self.inv_order = np.empty(n, dtype=np.int64)
        self.inv_order[order] = np.arange(n)
        ts, es, rs = t[order], e[order], r[order]
        self.ts, self.es, self.rs = ts, es, rs
        # ---- per-time counts up to t0 (Kaplan-Meier, censoring KM)
        le0 = ts <= t0
        u, tid = np.unique(ts[le0], return_inverse=True)
        self.m0 = len(u)
        rows0 = np.flatnonzero(le0)
        self.A_N = _csr(tid, rows0, (self.m0, n))
        ev0 = es[le0] == 1
        self.A_D = _csr(tid[ev0], rows0[ev0], (self.m0, n))
        self.case = np.flatnonzero(le0 & (es == 1))
        self.case_tid = tid[es[le0] == 1]
        self.ctrl = np.flatnonzero(ts > t0)
        self.r_case_sq = (1.0 - rs[self.case]) ** 2
        self.r_ctrl_sq = rs[self.ctrl] ** 2
        # ---- td_auc: controls below each case risk
        self._build_auc()
        # ---- concordance tree
        self._build_concordance()
        # ---- calibration model structure
        self._build_cox()

    # .................................................................. AUC
    def _build_auc(self):
        rs, ctrl, case = self.rs, self.ctrl, self.case
        if len(ctrl) == 0 or len(case) == 0:
            self.auc_q = None
            return
        co = ctrl[np.argsort(rs[ctrl], kind="stable")]
        rsorted = rs[co]
        lt = np.searchsorted(rsorted, rs[case], side="left")
        le = np.searchsorted(rsorted, rs[case], side="right")
        q = np.arange(len(case))
        self.auc_q = _PrefixQueries(self.n, [co], [(q, np.zeros_like(q), lt, np.full(len(q), 0.5)),
                                                   (q, np.zeros_like(q), le, np.full(len(q), 0.5))],
                                    len(case))

    # .................................................................. concordance
    def _build_concordance(self):
        n, ts, es, rs = self.n, self.ts, self.es, self.rs
        ev = np.flatnonzero(es == 1)
        self.ev = ev
        self.ev_is_case = ts[ev] <= self.t0
        if len(ev) == 0:
            self.conc_q = None
            return
        # first comparable position: first row after the events at the same time
        uniq, first = np.unique(ts, return_index=True)
        n_ev_at = np.bincount(np.searchsorted(uniq, ts), weights=es, minlength=len(uniq))
        p = (first + n_ev_at)[np.searchsorted(uniq, ts[ev])].astype(np.int64)
        M = n - p  # comparable rows = the first M rows in reversed time order
        rank = np.unique(rs, return_inverse=True)[1].astype(np.int64)
        R = int(rank.max()) + 2
        u = (n - 1 - np.arange(n)).astype(np.int64)  # reversed position of each sorted row
        seqs, terms = [], []
        qi = np.arange(len(ev))
        # comparable count: prefix of the time sequence (sequence 0) at p, subtracted from the total
        seqs.append(np.arange(n))
        terms.append((qi, np.zeros(len(ev), np.int64), p, np.ones(len(ev))))
        L = max(1, int(M.max()).bit_length())
        for lev in range(L):
            has = ((M >> lev) & 1) == 1
            if not has.any():
                continue
            blockid = u >> lev
            key = blockid * R + rank
            perm = np.argsort(key, kind="stable")
            keys = key[perm]
            k = (M[has] >> lev) - 1
            bs = k << lev
            qk = k * R + rank[ev[has]]
            lt = np.searchsorted(keys, qk, side="left")
            le = np.searchsorted(keys, qk, side="right")
            s = len(seqs)
            seqs.append(perm)
            qh = qi[has]
            sn = np.full(len(qh), s, np.int64)
            terms += [(qh + len(ev), sn, lt, np.ones(len(qh))), (qh + len(ev), sn, le, np.ones(len(qh))),
                      (qh + len(ev), sn, bs, np.full(len(qh), -2.0))]
        # queries 0..n_ev-1: prefix at p (for the comparable count); n_ev..2n_ev-1: 2*concordant + ties
        self.conc_q = _PrefixQueries(n, seqs, terms, 2 * len(ev))

    # .................................................................. Cox calibration
    def _build_cox(self):
        ts, es, rs, n = self.ts, self.es, self.rs, self.n
        self.cll = _cloglog(rs)
        self.cll_order = np.argsort(self.cll, kind="stable")
        self.cll_sorted = self.cll[self.cll_order]
        self.cll_has_ties = len(np.unique(self.cll)) < n
        if self.cll_has_ties:
            uq, inv = np.unique(self.cll, return_inverse=True)
            self.U = _csr(inv, np.arange(n), (len(uq), n))
        ev = es == 1
        et = np.unique(ts[ev])
        self.et = et
        K = len(et)
        if K == 0:
            return
        seg = np.searchsorted(et, ts, side="right") - 1  # -1: before the first event time
        keep = seg >= 0
        self.P_seg = _csr(seg[keep], np.flatnonzero(keep), (K, n))
        evr = np.flatnonzero(ev)
        self.death_rows = evr
        self.P_death = _csr(np.searchsorted(et, ts[evr]), np.arange(len(evr)), (K, len(evr)))
        self.et_le_t0 = et <= self.t0
        # the compiled kernel's view: contiguous row ranges per event time
        self.seg_start = np.searchsorted(seg, np.arange(K + 1), side="left")
        self.dr_start = np.searchsorted(np.searchsorted(et, ts[evr]), np.arange(K + 1), side="left")

    # .................................................................. evaluate
    def evaluate(self, W: np.ndarray, idx: np.ndarray | None = None, *,
                 calibration: bool = True) -> np.ndarray:
        """Metrics per replicate (10 x B) from counts ``W`` (n x B, input order).

        With ``calibration=False`` the rcs-Cox family (``ici_t`` ...) is left NaN.
        """
        Ws = W[self.order]
        B = Ws.shape[1]
        out = np.full((len(_SURV_NAMES), B), np.nan)
        ntot = Ws.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # ---------------- Kaplan-Meier and censoring KM up to t0
            N = self.A_N @ Ws
            D = self.A_D @ Ws
            Y = at_risk_from_counts(N, ntot[None, :])
            C = N - D
            S = np.prod(km_factors(D, Y), axis=0) if self.m0 else np.ones(B)
            Gc = np.cumprod(censoring_km_factors(C, D, Y), axis=0) if self.m0 else np.ones((0, B))
            G0 = Gc[-1] if self.m0 else np.ones(B)
            Gex = np.vstack([np.ones((1, B)), Gc[:-1]]) if self.m0 else np.ones((0, B))
            Gm = Gex[self.case_tid]  # G(T_i-) per case
            Wc = Ws[self.case]
            Wk = Ws[self.ctrl]
            nctrl = Wk.sum(axis=0)
            ncase = Wc.sum(axis=0)
            km = 1.0 - S
            mean_r = (self.rs @ Ws) / ntot
            # ---------------- O/E, Brier, IPA
            out[5] = np.where(mean_r > 0, km / mean_r, np.nan)
            inv_gm = np.where(Wc > 0, Wc / Gm, 0.0)
            bc = (self.r_case_sq @ inv_gm)
            bt = np.where(nctrl > 0, (self.r_ctrl_sq @ Wk) / G0, 0.0)
            brier = (bc + bt) / ntot
            out[3] = brier
            A1 = inv_gm.sum(axis=0) / ntot
            A2 = np.where(nctrl > 0, nctrl / G0, 0.0) / ntot
            null = (1.0 - km) ** 2 * A1 + km ** 2 * A2
            out[4] = np.where(null > 0, 1.0 - brier / null, np.nan)
            # ---------------- td AUC
            if self.auc_q is not None:
                K = self.auc_q(Ws)  # case x B
                A = inv_gm.sum(axis=0)
                auc = (inv_gm * K).sum(axis=0) / (A * nctrl)
                out[2] = np.where((ncase > 0) & (nctrl > 0), auc, np.nan)
            # ---------------- concordance
            if self.conc_q is not None:
                res = self.conc_q(Ws)
                ne = len(self.ev)
                comp = ntot[None, :] - res[:ne]
                V = res[ne:]  # lt + le counts
                We = Ws[self.ev]
                den = (We * comp).sum(axis=0)
                out[0] = np.where(den > 0, 0.5 * (We * V).sum(axis=0) / den, np.nan)
                wu = np.where(We[self.ev_is_case] > 0, We[self.ev_is_case] / Gm ** 2, 0.0)
                den_u = (wu * comp[self.ev_is_case]).sum(axis=0)
                ok = (ncase > 0) & (den_u > 0)
                out[1] = np.where(ok, 0.5 * (wu * V[self.ev_is_case]).sum(axis=0) / den_u, np.nan)
        # ---------------- calibration (rcs Cox)
        cal_ok = (ncase > 0) & calibration
        if cal_ok.any() and len(self.et):
            out[6:10, cal_ok] = self._calibration(Ws[:, cal_ok], None if idx is None else idx[cal_ok])
        return out

    def _cal_start(self):
        """Start of every replicate's rcs-Cox fit: the group's own (full-sample) fit.

        Replicates are near the full sample, so Newton needs about half the iterations
        it needs from 0; the fits converge to the same maximum (to the stopping rule).
        """
        if not hasattr(self, "_start"):
            self._start = None
            W1 = np.ones((self.n, 1))
            knots = self._knots(W1)
            if np.all(np.isfinite(knots)):
                x2 = rcs_basis(self.cll, knots[:, 0])[:, 1]
                beta, ok = _batched_cox(self, self.cll, x2[:, None], W1)
                if ok[0] and np.all(np.abs(beta[:, 0]) < 50):
                    self._start = beta[:, 0].copy()
        return self._start

    # ------------------------------------------------------------------ knots
    def _knots(self, Ws: np.ndarray) -> np.ndarray:
        """Knots (3 x B) per replicate (NaN where rcs_knots raises)."""
        B = Ws.shape[1]
        Wsorted = Ws[self.cll_order]
        N = self.n  # every replicate has the group's size
        f5 = int(np.ceil(0.05 * N - 1e-12))
        if N < 6:
            return np.full((3, B), np.nan)
        if N >= 100:
            probs = np.array([0.1, 0.5, 0.9])
            h = (N - 1) * probs
            lo = np.floor(h)
            ranks = np.concatenate([lo, np.minimum(lo + 1, N - 1)])
        else:
            ranks = np.array([4.0, (N - 1) // 2, N // 2, N - 5])
        extra = np.array([0.0, f5 - 1.0, N - f5, N - 1.0])
        ks = np.repeat(np.concatenate([ranks, extra])[:, None], B, axis=1)
        v = _order_stats(Wsorted, self.cll_sorted, ks)
        if N >= 100:
            frac = (h - lo)[:, None]
            knots = _lerp(v[0:3], v[3:6], np.broadcast_to(frac, (3, B)))
            ex = v[6:10]
        else:
            h = (N - 1) * 0.5  # type-7 median for the middle knot
            mid = _lerp(v[1], v[2], np.full(B, h - np.floor(h)))
            knots = np.vstack([v[0], mid, v[3]])
            ex = v[4:8]
        # replicates needing the exact rules: an end value holding >= 5 % of the rows,
        # few distinct values, or knots that are not strictly increasing
        slow = (ex[1] == ex[0]) | (ex[2] == ex[3]) | ~((knots[0] < knots[1]) & (knots[1] < knots[2]))
        present = (self.U @ Ws > 0).sum(axis=0) if self.cll_has_ties else (Ws > 0).sum(axis=0)
        slow |= present <= 5
        for b in np.flatnonzero(slow):
            x = np.repeat(self.cll, Ws[:, b].astype(np.int64))
            try:
                k = rcs_knots(x, n_knots=3)
            except NotEstimableError:
                knots[:, b] = np.nan
                continue
            knots[:, b] = k if len(k) == 3 else np.nan
        return knots

    def _calibration(self, Ws: np.ndarray, idx) -> np.ndarray:
        B = Ws.shape[1]
        res = np.full((4, B), np.nan)
        knots = self._knots(Ws)
        good = np.all(np.isfinite(knots), axis=0)
        if not good.any():
            return res
        Wg = Ws[:, good]
        k = knots[:, good]
        c = self.cll[:, None]
        k1, k2, k3 = k[0][None, :], k[1][None, :], k[2][None, :]
        x2 = _cube_pos(c - k1)
        x2 -= _cube_pos(c - k2) * ((k3 - k1) / (k3 - k2))
        x2 += _cube_pos(c - k3) * ((k2 - k1) / (k3 - k2))
        x2 /= (k3 - k1) ** 2
        x1 = self.cll
        beta, ok = _batched_cox(self, x1, x2, Wg, start=self._cal_start())
        # observed risk at t0 and the error summaries
        eta = beta[0][None, :] * x1[:, None] + beta[1][None, :] * x2
        m = eta.max(axis=0)
        r = np.exp(eta - m)
        S0, D0, d = _risk_sums0(self, Wg * r, Wg)
        H0 = _efron_hazard(S0, D0, d, self.et_le_t0)
        with np.errstate(invalid="ignore"):  # inf x 0 in a diverged replicate: handled below via rel0
            obs = -np.expm1(-H0[None, :] * r)
        ntot = Wg.sum(axis=0)
        # fit_cox evaluates the hazard at x = 0 through exp(-centre . beta): a diverging fit
        # (monotone likelihood) overflows there and gives no estimate, or underflows to an
        # observed risk of 0; repeat both
        centre = np.vstack([(Wg * x1[:, None]).sum(axis=0), (Wg * x2).sum(axis=0)]) / ntot
        with np.errstate(over="ignore", under="ignore"):
            rel0 = np.exp(-(centre * beta).sum(axis=0))
        obs[:, rel0 == 0.0] = 0.0
        dd = np.abs(obs - self.rs[:, None])
        sub = np.full((4, Wg.shape[1]), np.nan)
        sub[0] = (Wg * dd).sum(axis=0) / ntot
        sub[3] = np.where(Wg > 0, dd, -np.inf).max(axis=0)
        # quantiles of the expanded sample
        nn = self.n
        h9 = (nn - 1) * 0.9
        lo9 = int(np.floor(h9))
        kth = sorted({(nn - 1) // 2, nn // 2, lo9, min(lo9 + 1, nn - 1)})
        if idx is not None:
            loc = self.inv_order[idx[good]]  # B' x n, positions in the sorted rows
            Dexp = np.take_along_axis(dd.T, loc, axis=1)
        else:
            Dexp = np.stack([np.repeat(dd[:, b], Wg[:, b].astype(np.int64)) for b in range(Wg.shape[1])])
        part = np.partition(Dexp, kth, axis=1)
        if nn % 2 == 1:
            sub[1] = part[:, nn // 2]
        else:
            sub[1] = (part[:, nn // 2 - 1] + part[:, nn // 2]) / 2.0
        sub[2] = _lerp(part[:, lo9], part[:, min(lo9 + 1, nn - 1)], np.full(Wg.shape[1], h9 - lo9))
        sub[:, ~ok | ~np.isfinite(rel0)] = np.nan  # no estimate where fit_cox gives none (above)
        res[:, good] = sub
        return res


def survival_replicates(time, event, risk, *, horizon, subsets, strata, n_boot: int,
                        random_state=None, block: int | None = None,
                        calibration_boot: int | None = None, n_jobs: int | None = None) -> np.ndarray:
    """Survival metrics of every subset in every replicate (vectorised).

    Parameters
    ----------
    time, event, risk : ndarray of shape (n,)
    horizon : float
    subsets : sequence of ndarray
        Row positions of each group (each a union of strata).
    strata : array-like of shape (n,)
        Resampling strata (see :class:`StratifiedBootstrap`).
    n_boot : int
    random_state : int, optional
    block : int, optional
        Replicates per block (default: about 3 million row-replicates per block).
    calibration_boot : int, optional
        Bootstrap the rcs-Cox family (``ici_t, e50_t, e90_t, emax_t``, a Cox fit per
        replicate: about 80 % of the time) on the first ``calibration_boot`` replicates
        only (the others get NaN there). Default: all replicates.
    n_jobs : int, optional
        Threads evaluating groups side by side (default: the usable cores, at most 8).
        Results do not depend on it.

    Returns
    -------
    ndarray of shape (len(subsets), n_boot, 10)
        In the order of :data:`~radiorisk.evaluation.SURVIVAL_METRICS`.
    """
    t = np.asarray(time, dtype=np.float64)
    e = np.asarray(event, dtype=np.float64)
    r = np.asarray(risk, dtype=np.float64)
    n = len(t)
    bs = StratifiedBootstrap(strata, n_boot, random_state)
    plans = [SurvivalReplicates(t[s], e[s], r[s], horizon=horizon) for s in subsets]
    local = []
    for s in subsets:
        m = np.full(n, -1, dtype=np.int64)
        m[s] = np.arange(len(s))
        local.append(m)
    out = np.full((len(subsets), n_boot, len(_SURV_NAMES)), np.nan)
    # resamples are drawn for ``block`` replicates at a time (about 8 x _TARGET_CELLS
    # row-replicates); each group then evaluates them in chunks of about _TARGET_CELLS
    # group-row-replicates, so small groups get long chunks (less per-call overhead)
    if block is None:
        block = int(np.clip(8 * _TARGET_CELLS // max(n, 1), 4, 256))
        inner = [int(np.clip(_TARGET_CELLS // max(len(s), 1), 4, block)) for s in subsets]
    else:
        inner = [int(block)] * len(subsets)
    n_cal = n_boot if calibration_boot is None else int(calibration_boot)
    n_jobs = _n_threads(n_jobs)

    def one_group(k, reps, idx, W, cal):
        s = subsets[k]
        reps = np.asarray(reps)
        Wk_all = W[s]
        for a in range(0, len(reps), inner[k]):
            c = slice(a, a + inner[k])
            li = local[k][idx[c][:, s]]
            Wk = Wk_all[:, c]
            for part, with_cal in ((cal[c], True), (~cal[c], False)):
                if part.any():
                    out[k, reps[c][part]] = plans[k].evaluate(Wk[:, part], li[part], calibration=with_cal).T

    # groups are independent: numpy and scipy release the GIL in the array work, so threads
    # share the cores (each group writes its own slice of ``out``; results do not depend on
    # n_jobs)
    todo = [k for k, s in enumerate(subsets) if len(s)]
    todo.sort(key=lambda k: -len(subsets[k]))  # largest first: better balance
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        for reps, idx in bs.blocks(block):
            W = counts_from_indices(idx, n)
            cal = np.asarray(reps) < n_cal
            if n_jobs == 1:
                for k in todo:
                    one_group(k, reps, idx, W, cal)
            else:
                for f in [pool.submit(one_group, k, reps, idx, W, cal) for k in todo]:
                    f.result()
    return out


def _n_threads(n_jobs) -> int:
    """Threads for ``n_jobs`` (None: the cores this process may use, at most 8)."""
    if n_jobs is None:
        try:
            n_jobs = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            n_jobs = os.cpu_count() or 1
        return max(1, min(8, n_jobs))
    n_jobs = int(n_jobs)
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    return n_jobs


def binary_replicates(y, p, *, subsets, strata, n_boot: int, random_state=None) -> np.ndarray:
    """Binary metrics of every subset in every replicate (exact, one replicate at a time).

    Returns
    -------
    ndarray of shape (len(subsets), n_boot, 9)
        In the order of :data:`~radiorisk.evaluation.BINARY_METRICS`.
    """
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    bs = StratifiedBootstrap(strata, n_boot, random_state)
    out = np.full((len(subsets), n_boot, len(BINARY_METRICS)), np.nan)
    for reps, idx in bs.blocks(64):
        for j, b in enumerate(reps):
            for k, s in enumerate(subsets):
                if len(s) == 0:
                    continue
                ii = idx[j, s]
                v = _binary_values(y[ii], p[ii])
                out[k, b] = [v[m][0] for m in BINARY_METRICS]
    return out

