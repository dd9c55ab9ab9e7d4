"""The stratified bootstrap: replicate ``b`` draws from ``SeedSequence(random_state).spawn(n_boot)[b]``.

Rows are resampled within strata; a replicate does not depend on how replicates
are chunked. The percentile interval is R's ``quantile(type = 7)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["StratifiedBootstrap", "counts_from_indices", "percentile_interval"]


class StratifiedBootstrap:
    """Bootstrap replicates drawn within strata, reproducible replicate by replicate.

    Parameters
    ----------
    strata : array-like of shape (n,)
        Stratum code of every row (any hashable values).
    n_boot : int
        Number of replicates.
    random_state : int, optional
        Seed; replicate ``b`` uses ``SeedSequence(random_state).spawn(n_boot)[b]``.

    Examples
    --------
    >>> bs = StratifiedBootstrap(["a", "a", "b", "b", "b"], 3, random_state=0)
    >>> idx = bs.indices(range(3))
    >>> idx.shape
    (3, 5)
    >>> bool(np.all(idx[:, :2] < 2) and np.all(idx[:, 2:] >= 2))
    True
    """

    def __init__(self, strata, n_boot: int, random_state=None):
        codes = np.unique(np.asarray(strata, dtype=object).astype(str), return_inverse=True)[1]
        self.n = len(codes)
        self.n_boot = int(n_boot)
        order = np.argsort(codes, kind="stable")
        sizes = np.bincount(codes)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self._members = order  # rows sorted by stratum
        self._size = sizes[codes]  # size of each row's stratum
        self._start = starts[codes]
        self._seeds = np.random.SeedSequence(random_state).spawn(self.n_boot)

    def indices(self, replicates) -> np.ndarray:
        """Resampled row indices, shape (len(replicates), n): row ``j`` is replaced by ``idx[b, j]``."""
        reps = list(replicates)
        out = np.empty((len(reps), self.n), dtype=np.int64)
        for k, b in enumerate(reps):
            rng = np.random.default_rng(self._seeds[b])
            out[k] = self._members[self._start + rng.integers(0, self._size)]
        return out

    def blocks(self, block: int):
        """Yield ``(replicate range, indices)`` in blocks of ``block`` replicates."""
        for s in range(0, self.n_boot, block):
            reps = range(s, min(self.n_boot, s + block))
            yield reps, self.indices(reps)


def counts_from_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """Multinomial counts, shape (n, n_rep), from resampled indices of shape (n_rep, m)."""
    nb = idx.shape[0]
    flat = (idx + (np.arange(nb, dtype=np.int64) * n)[:, None]).ravel()
    c = np.bincount(flat, minlength=nb * n).reshape(nb, n)
    return np.ascontiguousarray(c.T, dtype=np.float64)


def percentile_interval(boot: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis ``-2`` (replicates), ignoring NaN; NaN with < 2 finite values.

    Examples
    --------
    >>> lo, hi = percentile_interval(np.arange(101.0)[:, None])
    >>> round(float(lo[0]), 6), round(float(hi[0]), 6)
    (2.5, 97.5)
    """
    b = np.moveaxis(np.asarray(boot, dtype=np.float64), -2, 0)
    a = (1.0 - level) / 2.0
    lo = np.full(b.shape[1:], np.nan)
    hi = np.full(b.shape[1:], np.nan)
    flat = b.reshape(b.shape[0], -1)
    lo_f, hi_f = lo.reshape(-1), hi.reshape(-1)
    ok = np.isfinite(flat)
    full = ok.all(axis=0)
    if full.any() and flat.shape[0] >= 2:
        q = np.quantile(flat[:, full], [a, 1.0 - a], axis=0)
        lo_f[full], hi_f[full] = q[0], q[1]
    for k in np.flatnonzero(~full):
        v = flat[ok[:, k], k]
        if len(v) >= 2:
            lo_f[k], hi_f[k] = np.quantile(v, [a, 1.0 - a])
    return lo_f.reshape(lo.shape), hi_f.reshape(hi.shape)
