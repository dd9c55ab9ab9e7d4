"""Weighted prefix rank sums: the pair sums of ``c_cr`` without enumerating pairs.

:class:`PrefixRankSums` answers, for fixed integer keys in a fixed order and fixed queries
``(q_i, x_i)``, :math:`\\sum_{j < q_i} w_j [1(key_j < x_i) + \\frac12 1(key_j = x_i)]` for one
weight vector or for many (one column per bootstrap replicate). The queries are sorted by
their prefix length once; per weight column one compiled sweep puts the rows before the
shortest prefix into a Fenwick (binary indexed) tree over the keys at once (weights per key,
the tree built in place in :math:`O(R)`), adds the later rows one by one and reads each
query's sums below and up to its key when the sweep reaches its prefix:
:math:`O(n + R + (n - q_{min} + m) \\log R)` per column for ``R`` distinct keys, :math:`O(R)`
memory, releasing the GIL (the bootstrap's group threads run it side by side). With integer
weights (the bootstrap's counts) every sum is exact; otherwise only the order of the
floating-point additions differs from the pairwise definition
(``tests/stats/test_prefix_rank.py``: equal to a brute-force pair sum to 1e-12).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["PrefixRankSums"]


@njit(cache=False, nogil=True, error_model="numpy")
def _sweep(key, rows, WT, q_sorted, x_sorted, pos_sorted, size, out, totals):  # pragma: no cover - compiled
    """Fill ``out[pos, b]`` and ``totals[pos, b]`` (m x B) for every weight column ``WT[b]``.

    Prefix position ``j`` holds the weight ``WT[b, rows[j]]``; ``totals`` are the plain prefix
    sums (added in prefix order, as ``numpy.cumsum``).
    """
    B = WT.shape[0]
    m = len(q_sorted)
    tree = np.zeros(size + 1)
    for b in range(B):
        w = WT[b]
        tree[:] = 0.0
        # the rows before the shortest prefix (every query's): weights per key, then the
        # tree built in place in O(size) instead of a log-time update per row
        q0 = q_sorted[0] if m else 0
        run = 0.0
        for j in range(q0):
            wj = w[rows[j]]
            run += wj
            tree[key[j] + 1] += wj
        for k in range(1, size + 1):
            p = k + (k & (-k))
            if p <= size:
                tree[p] += tree[k]
        j = q0
        for t in range(m):
            q = q_sorted[t]
            while j < q:
                wj = w[rows[j]]
                run += wj
                if wj != 0.0:
                    k = key[j] + 1
                    while k <= size:
                        tree[k] += wj
                        k += k & (-k)
                j += 1
            x = x_sorted[t]
            below = 0.0  # keys < x: tree positions 1..x
            k = x
            while k > 0:
                below += tree[k]
                k -= k & (-k)
            upto = 0.0  # keys <= x: positions 1..x+1
            k = x + 1  # <= size: the keys and queries are below size
            while k > 0:
                upto += tree[k]
                k -= k & (-k)
            out[pos_sorted[t], b] = below + 0.5 * (upto - below)
            totals[pos_sorted[t], b] = run


class PrefixRankSums:
    """:math:`\\sum_{j < q_i} w_j [1(key_j < x_i) + \\frac12 1(key_j = x_i)]` for fixed keys and queries.

    ``key`` are integer ranks in the order the prefixes refer to. The queries are sorted by
    prefix length once; :meth:`__call__` takes weights of shape (n,) or (n, B) (one column per
    replicate) and sweeps the rows once per column through a Fenwick tree over the keys
    (compiled; see the module).

    Parameters
    ----------
    key : ndarray of int64, shape (n,)
        Ranks (>= 0) of the rows, in prefix order.
    q : ndarray of int64, shape (m,)
        Prefix length of each query (0 to n).
    x : ndarray of int64, shape (m,)
        Rank of each query (>= 0).
    rows : ndarray of int64, shape (n,), optional
        The row of the weights at each prefix position (default: the weights are given in
        prefix order), so that one weight matrix serves several orders without copies.

    Examples
    --------
    >>> prs = PrefixRankSums(np.array([0, 2, 1, 1]), np.array([4, 2]), np.array([1, 2]))
    >>> prs(np.ones(4)).tolist()  # 1 + 0.5 + 0.5 below rank 1 in all 4; 1 + 0.5 in the first 2
    [2.0, 1.5]
    >>> prs(np.array([[1.0, 2.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])).tolist()
    [[2.0, 3.0], [1.5, 2.0]]
    >>> sums, totals = prs(np.ones(4), totals=True)  # and the prefix weights themselves
    >>> totals.tolist()
    [4.0, 2.0]
    """

    def __init__(self, key, q, x, rows=None):
        key = np.ascontiguousarray(key, dtype=np.int64)
        q = np.asarray(q, dtype=np.int64)
        x = np.asarray(x, dtype=np.int64)
        self.n = n = len(key)
        self.m = len(q)
        if n and (key.min() < 0):
            raise ValueError(f"key must be ranks >= 0, got {int(key.min())}")
        if self.m and (x.min() < 0 or q.min() < 0 or q.max() > n):
            raise ValueError(f"x must be >= 0 and q in [0, {n}], got x >= {int(x.min())}, "
                             f"q in [{int(q.min())}, {int(q.max())}]")
        # only the order of a key relative to the query ranks matters: key slots between and at
        # the distinct query ranks (2 u + 1 for the u-th, 2 u below it), a tree of 2 |x| + 1
        # cells instead of one per key value (it stays in cache)
        ux = np.unique(x)
        pos = np.searchsorted(ux, key, side="left")
        at = (pos < len(ux)) & (ux[np.minimum(pos, max(len(ux) - 1, 0))] == key) if len(ux) else np.zeros(n, bool)
        self.key = np.ascontiguousarray(2 * pos + at, dtype=np.int64)
        x = 2 * np.searchsorted(ux, x, side="left") + 1
        self.own_rows = rows is not None
        if rows is None:
            self.rows, self.n_w = np.arange(n, dtype=np.int64), n
        else:
            self.rows = np.ascontiguousarray(rows, dtype=np.int64)
            if self.rows.shape != (n,) or (n and self.rows.min() < 0):
                raise ValueError(f"rows must be {n} row positions >= 0, got shape {self.rows.shape}")
            self.n_w = int(self.rows.max()) + 1 if n else 0
        self.size = 2 * len(ux) + 1
        order = np.argsort(q, kind="stable")
        self.q_sorted = np.ascontiguousarray(q[order])
        self.x_sorted = np.ascontiguousarray(x[order])
        self.pos_sorted = np.ascontiguousarray(order.astype(np.int64))

    def __call__(self, w, *, totals: bool = False):
        """The sums (m,) or (m, B) for weights ``w`` of shape (N,) or (N, B).

        ``N`` is ``n``, or with ``rows`` any length above ``rows.max()``. With ``totals``
        also the prefix weights :math:`\\sum_{j < q_i} w_j` (same shape).
        """
        w = np.asarray(w, dtype=np.float64)
        short = w.ndim == 0 or w.shape[0] < self.n_w if self.own_rows else w.shape[0] != self.n
        if w.ndim not in (1, 2) or short:
            need = f"at least {self.n_w} rows (rows.max() + 1)" if self.own_rows else f"shape ({self.n},) or ({self.n}, B)"
            raise ValueError(f"weights must have {need}, got shape {w.shape}")
        B = w.shape[1] if w.ndim == 2 else 1
        WT = np.ascontiguousarray(w.reshape(w.shape[0], B).T)
        out = np.zeros((self.m, B))
        tot = np.zeros((self.m, B))
        if self.n and self.m:
            _sweep(self.key, self.rows, WT, self.q_sorted, self.x_sorted, self.pos_sorted, self.size, out, tot)
        shape = (self.m,) + w.shape[1:]
        return (out.reshape(shape), tot.reshape(shape)) if totals else out.reshape(shape)
