"""Weighted prefix rank sums: the pair sums of ``c_cr`` without enumerating pairs.

:class:`PrefixRankSums` answers, for fixed integer keys in a fixed order and fixed queries
``(q_i, x_i)``, :math:`\\sum_{j < q_i} w_j [1(key_j < x_i) + \\frac12 1(key_j = x_i)]` for one
weight vector or for many (one column per bootstrap replicate). The queries are sorted by
their prefix length once; per weight column one compiled sweep adds the rows in order to a
Fenwick (binary indexed) tree over the keys and reads each query's sums below and up to its
key when the sweep reaches its prefix: :math:`O((n + m) \\log R)` per column, :math:`O(R)`
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
def _sweep(key, WT, q_sorted, x_sorted, pos_sorted, size, out):  # pragma: no cover - compiled
    """Fill ``out[pos, b]`` (m x B) for every weight column ``WT[b]`` (B x n, rows in prefix order)."""
    B, n = WT.shape
    m = len(q_sorted)
    tree = np.zeros(size + 1)
    for b in range(B):
        w = WT[b]
        tree[:] = 0.0
        j = 0
        for t in range(m):
            q = q_sorted[t]
            while j < q:
                wj = w[j]
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


class PrefixRankSums:
    """:math:`\\sum_{j < q_i} w_j [1(key_j < x_i) + \\frac12 1(key_j = x_i)]` for fixed keys and queries.

    ``key`` are integer ranks in the order the prefixes refer to. The queries are sorted by
    prefix length once; :meth:`__call__` takes weights of shape (n,) or (n, B) (one column per
    replicate) and sweeps the rows once per column through a Fenwick tree over the keys
    (compiled, :math:`O((n + m) \\log R)` per column for ``R`` distinct keys).

    Parameters
    ----------
    key : ndarray of int64, shape (n,)
        Ranks (>= 0) of the rows, in prefix order.
    q : ndarray of int64, shape (m,)
        Prefix length of each query (0 to n).
    x : ndarray of int64, shape (m,)
        Rank of each query (>= 0).

    Examples
    --------
    >>> prs = PrefixRankSums(np.array([0, 2, 1, 1]), np.array([4, 2]), np.array([1, 2]))
    >>> prs(np.ones(4)).tolist()  # 1 + 0.5 + 0.5 below rank 1 in all 4; 1 + 0.5 in the first 2
    [2.0, 1.5]
    >>> prs(np.array([[1.0, 2.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]])).tolist()
    [[2.0, 3.0], [1.5, 2.0]]
    """

    def __init__(self, key, q, x):
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
        self.key = key
        self.size = int(max(key.max() if n else 0, x.max() if self.m else 0)) + 1
        order = np.argsort(q, kind="stable")
        self.q_sorted = np.ascontiguousarray(q[order])
        self.x_sorted = np.ascontiguousarray(x[order])
        self.pos_sorted = np.ascontiguousarray(order.astype(np.int64))

    def __call__(self, w) -> np.ndarray:
        w = np.asarray(w, dtype=np.float64)
        if w.shape[:1] != (self.n,) or w.ndim > 2:
            raise ValueError(f"weights must have shape ({self.n},) or ({self.n}, B), got {w.shape}")
        B = w.shape[1] if w.ndim == 2 else 1
        WT = np.ascontiguousarray(w.reshape(self.n, B).T)
        out = np.zeros((self.m, B))
        if self.n and self.m:
            _sweep(self.key, WT, self.q_sorted, self.x_sorted, self.pos_sorted, self.size, out)
        return out.reshape((self.m,) + w.shape[1:])
