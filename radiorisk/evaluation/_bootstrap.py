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
  (``ici_t`` ...) from :func:`~radiorisk.stats.fit_cox_batched`, the batched
  form of :func:`~radiorisk.stats.fit_cox` (same steps, step-halving and
  stopping rule), with knots recomputed in every replicate (Hmisc rules; the
  rare tie rules fall back to the exact :func:`~radiorisk.stats.rcs_knots`
  for that replicate): :mod:`._bootstrap_calibration`. The weighted-sum
  building blocks are in :mod:`._weighted_sums`.
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

from ..stats import (
    StratifiedBootstrap,
    at_risk_from_counts,
    censoring_km_factors,
    counts_from_indices,
    km_factors,
    percentile_interval,
)
from ._bootstrap_calibration import _CoxCalibrationMixin
from ._values import BINARY_METRICS, _binary_values
from ._weighted_sums import _csr, _PrefixQueries

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
# survival metrics for a block of replicates
# ---------------------------------------------------------------------------


class SurvivalReplicates(_CoxCalibrationMixin):
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
    groups = _GroupEvaluation(t, e, r, horizon, subsets, n_boot, block)
    n_cal = n_boot if calibration_boot is None else int(calibration_boot)
    n_jobs = _n_threads(n_jobs)
    # groups are independent: numpy and scipy release the GIL in the array work, so threads
    # share the cores (each group writes its own slice of ``out``; results do not depend on
    # n_jobs)
    todo = [k for k, s in enumerate(subsets) if len(s)]
    todo.sort(key=lambda k: -len(subsets[k]))  # largest first: better balance
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        for reps, idx in bs.blocks(groups.block):
            W = counts_from_indices(idx, n)
            cal = np.asarray(reps) < n_cal
            if n_jobs == 1:
                for k in todo:
                    groups(k, reps, idx, W, cal)
            else:
                for f in [pool.submit(groups, k, reps, idx, W, cal) for k in todo]:
                    f.result()
    return groups.out


class _GroupEvaluation:
    """Every group's plan and its chunk length; ``self(k, reps, idx, W, cal)`` fills ``out[k]``."""

    def __init__(self, t, e, r, horizon, subsets, n_boot, block):
        n = len(t)
        self.subsets = subsets
        self.plans = [SurvivalReplicates(t[s], e[s], r[s], horizon=horizon) for s in subsets]
        self.local = []  # row -> position in the group (-1 outside)
        for s in subsets:
            m = np.full(n, -1, dtype=np.int64)
            m[s] = np.arange(len(s))
            self.local.append(m)
        self.out = np.full((len(subsets), n_boot, len(_SURV_NAMES)), np.nan)
        # resamples are drawn for ``block`` replicates at a time (about 8 x _TARGET_CELLS
        # row-replicates); each group then evaluates them in chunks of about _TARGET_CELLS
        # group-row-replicates, so small groups get long chunks (less per-call overhead)
        if block is None:
            self.block = int(np.clip(8 * _TARGET_CELLS // max(n, 1), 4, 256))
            self.inner = [int(np.clip(_TARGET_CELLS // max(len(s), 1), 4, self.block)) for s in subsets]
        else:
            self.block = block
            self.inner = [int(block)] * len(subsets)

    def __call__(self, k, reps, idx, W, cal):
        s = self.subsets[k]
        reps = np.asarray(reps)
        Wk_all = W[s]
        step = self.inner[k]
        for a in range(0, len(reps), step):
            c = slice(a, a + step)
            li = self.local[k][idx[c][:, s]]
            Wk = Wk_all[:, c]
            for part, with_cal in ((cal[c], True), (~cal[c], False)):
                if part.any():
                    self.out[k, reps[c][part]] = self.plans[k].evaluate(Wk[:, part], li[part],
                                                                        calibration=with_cal).T


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

