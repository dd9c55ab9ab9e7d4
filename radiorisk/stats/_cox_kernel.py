"""Compiled Efron log-likelihood, score and information of the bootstrap's rcs-Cox fits.

One pass over the rows per replicate (rows sorted by time), instead of about thirty
array passes in NumPy: the bootstrap of the calibration family is dominated by these
evaluations. The kernel releases the GIL, so the bootstrap's group threads run it side
by side. It computes exactly what the NumPy evaluation of :mod:`._cox_batched` computes (same
formulas, same shift of the linear predictor by its maximum); only the order of the
floating-point sums differs.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=False, nogil=True, error_model="numpy")
def _efron_terms(seg_start, dr_start, death_rows, x1, X2T, WT, b0, b1, derivs, out):  # pragma: no cover
    nb, n = WT.shape
    K = len(seg_start) - 1
    for j in range(nb):
        w = WT[j]
        x2 = X2T[j]
        bb0 = b0[j]
        bb1 = b1[j]
        m = -np.inf
        for i in range(n):
            v = bb0 * x1[i] + bb1 * x2[i]
            if v > m:
                m = v
        ll = 0.0
        g0 = 0.0
        g1 = 0.0
        i00 = 0.0
        i01 = 0.0
        i11 = 0.0
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        s4 = 0.0
        s5 = 0.0
        for k in range(K - 1, -1, -1):
            # no branch on w == 0 here: exp(eta - m) <= 1, so zero weights add exact zeros
            if derivs:
                for i in range(seg_start[k], seg_start[k + 1]):
                    a1 = x1[i]
                    a2 = x2[i]
                    wr = w[i] * np.exp(bb0 * a1 + bb1 * a2 - m)
                    s0 += wr
                    wa1 = wr * a1
                    wa2 = wr * a2
                    s1 += wa1
                    s2 += wa2
                    s3 += wa1 * a1
                    s4 += wa1 * a2
                    s5 += wa2 * a2
            else:
                for i in range(seg_start[k], seg_start[k + 1]):
                    s0 += w[i] * np.exp(bb0 * x1[i] + bb1 * x2[i] - m)
            d = 0.0
            d0 = 0.0
            d1 = 0.0
            d2 = 0.0
            d3 = 0.0
            d4 = 0.0
            d5 = 0.0
            for q in range(dr_start[k], dr_start[k + 1]):
                i = death_rows[q]
                wi = w[i]
                if wi == 0.0:
                    continue
                a1 = x1[i]
                a2 = x2[i]
                eta = bb0 * a1 + bb1 * a2
                wr = wi * np.exp(eta - m)
                d += wi
                ll += wi * eta
                d0 += wr
                if derivs:
                    g0 += wi * a1
                    g1 += wi * a2
                    d1 += wr * a1
                    d2 += wr * a2
                    d3 += wr * a1 * a1
                    d4 += wr * a1 * a2
                    d5 += wr * a2 * a2
            if d == 0.0:
                continue
            ll -= d * m
            nd = int(d + 0.5)
            for tie in range(nd):
                a = tie / d
                den = s0 - a * d0
                ll -= np.log(den)
                if derivs:
                    u1 = (s1 - a * d1) / den
                    u2 = (s2 - a * d2) / den
                    g0 -= u1
                    g1 -= u2
                    i00 += (s3 - a * d3) / den - u1 * u1
                    i01 += (s4 - a * d4) / den - u1 * u2
                    i11 += (s5 - a * d5) / den - u2 * u2
        out[0, j] = ll
        out[1, j] = g0
        out[2, j] = g1
        out[3, j] = i00
        out[4, j] = i01
        out[5, j] = i11


class EfronKernel:
    """The compiled evaluation for one group's Cox structure and one block of replicates.

    Parameters
    ----------
    seg_start : ndarray of shape (K + 1,)
        Row position where the rows whose last event time at or before their time is
        event time k begin (rows before ``seg_start[0]`` precede every event); the last
        entry is n.
    dr_start : ndarray of shape (K + 1,)
        Position in ``death_rows`` where the deaths at event time k begin.
    death_rows : ndarray of int64
        Rows with an event, in time order.
    x1 : ndarray of shape (n,)
    X2 : ndarray of shape (n, B)
    W : ndarray of shape (n, B)
        Resampling counts.
    """

    def __init__(self, seg_start, dr_start, death_rows, x1, X2, W):
        self.seg_start = np.ascontiguousarray(seg_start, dtype=np.int64)
        self.dr_start = np.ascontiguousarray(dr_start, dtype=np.int64)
        self.death_rows = np.ascontiguousarray(death_rows, dtype=np.int64)
        self.x1 = np.ascontiguousarray(x1, dtype=np.float64)
        self.X2T = np.ascontiguousarray(X2.T, dtype=np.float64)
        self.WT = np.ascontiguousarray(W.T, dtype=np.float64)

    def __call__(self, cols, beta, derivs: bool):
        """(ll, grad (2 x b), info (3 x b)) at ``beta`` (2 x b) for replicates ``cols``."""
        full = len(cols) == self.WT.shape[0]
        X2T = self.X2T if full else self.X2T[cols]
        WT = self.WT if full else self.WT[cols]
        out = np.empty((6, len(cols)))
        _efron_terms(self.seg_start, self.dr_start, self.death_rows, self.x1, X2T, WT,
                     np.ascontiguousarray(beta[0], dtype=np.float64),
                     np.ascontiguousarray(beta[1], dtype=np.float64), bool(derivs), out)
        if not derivs:
            return out[0], None, None
        return out[0], out[1:3].copy(), out[3:6].copy()
