"""The rcs-Cox calibration family (``ici_t, e50_t, e90_t, emax_t``) for a block of replicates.

Per replicate: Hmisc knots of the cloglog risk (order statistics of the expanded sample; the
rare tie rules fall back to the exact :func:`~radiorisk.stats.rcs_knots`), the batched Efron
fit :func:`~radiorisk.stats.fit_cox_batched` (the batched form of ``fit_cox``), the observed
risk at the horizon from the Efron baseline hazard and the error summaries. A mixin of
:class:`~radiorisk.evaluation._bootstrap.SurvivalReplicates`.
"""

from __future__ import annotations

import numpy as np

from ..stats import (
    CoxRiskSets,
    NotEstimableError,
    cloglog,
    efron_cumulative_hazard_batched,
    fit_cox_batched,
    rcs_basis,
    rcs_knots,
)
from ._weighted_sums import _csr, _lerp, _order_stats


def _cube_pos(a: np.ndarray) -> np.ndarray:
    """max(a, 0) ** 3 by multiplication (``**`` on arrays calls pow, ~10x slower)."""
    np.maximum(a, 0.0, out=a)
    out = a * a
    out *= a
    return out


class _CoxCalibrationMixin:
    """Structure and evaluation of the rcs-Cox calibration family (rows sorted by time)."""

    def _build_knots(self, rs):
        """The cloglog risks ``cll`` of the rows and their order (for :meth:`_knots`)."""
        n = len(rs)
        self.cll = cloglog(rs)
        self.cll_order = np.argsort(self.cll, kind="stable")
        self.cll_sorted = self.cll[self.cll_order]
        self.cll_has_ties = len(np.unique(self.cll)) < n
        if self.cll_has_ties:
            uq, inv = np.unique(self.cll, return_inverse=True)
            self.U = _csr(inv, np.arange(n), (len(uq), n))

    def _build_cox(self):
        ts, es = self.ts, self.es
        self._build_knots(self.rs)
        self.risk_sets = CoxRiskSets.from_sorted(ts, es)
        self.et = self.risk_sets.event_times
        self.et_le_t0 = self.et <= self.t0

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
                beta, ok = fit_cox_batched(self.risk_sets, self.cll, x2[:, None], W1)
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
        beta, ok = fit_cox_batched(self.risk_sets, x1, x2, Wg, start=self._cal_start())
        # observed risk at t0 and the error summaries
        eta = beta[0][None, :] * x1[:, None] + beta[1][None, :] * x2
        m = eta.max(axis=0)
        r = np.exp(eta - m)
        H0 = efron_cumulative_hazard_batched(self.risk_sets, Wg, r, self.et_le_t0)
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

