"""Weighted sums for a block of bootstrap replicates: sparse indicator matrices, prefix sums,
order statistics (the building blocks of the vectorised survival metrics)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


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

