"""The one resampling engine of radiorisk and its seeding scheme.

Seeding scheme
--------------
Every bootstrap in radiorisk (the subgroup audit, the modality ladder's paired
CIs, :func:`~radiorisk.explain.risk_intervals`,
:func:`~radiorisk.explain.shap_by_subgroup`,
:func:`~radiorisk.explain.effect_modification_test`) draws its replicates from
:class:`StratifiedBootstrap`, and every permutation test from
:func:`permutation_rng`:

* bootstrap replicate ``b`` uses the generator
  ``default_rng(SeedSequence(random_state, spawn_key=(b,)))``, which is
  ``SeedSequence(random_state).spawn(n_boot)[b]`` (:func:`replicate_seed`);
* label permutation ``p`` uses ``default_rng(SeedSequence(random_state,
  spawn_key=(p, 0)))``: the first child of replicate ``p``'s seed, so it is
  independent of bootstrap replicate ``p`` (:func:`permutation_rng`).

Replicate ``b`` (permutation ``p``) is therefore determined by ``(random_state,
b)`` and the strata alone: not by ``n_boot``, by the order or blocks in which
replicates are drawn, by ``n_jobs``, or by what else the caller draws. A caller
passes its own ``random_state`` unchanged (no derived seed), so two analyses of
the same rows with the same seed and strata resample the same patients in
replicate ``b``. Within a replicate, every row is replaced by a uniformly drawn
row of its own stratum; a caller that resamples all rows alike passes a single
stratum. The percentile interval is R's ``quantile(type = 7)``.

The seeds of cross-validation (``radiorisk.models._folds.task_seed``, ``SeedSequence([random_state,
*keys])``) never meet these: a spawn key makes a different entropy array.
"""

from __future__ import annotations

import numpy as np

__all__ = ["StratifiedBootstrap", "counts_from_indices", "percentile_interval", "permutation_rng",
           "replicate_seed"]


def replicate_seed(random_state, b: int) -> np.random.SeedSequence:
    """The seed of bootstrap replicate ``b``: ``SeedSequence(random_state).spawn(b + 1)[b]``.

    Parameters
    ----------
    random_state : int or SeedSequence
        The caller's seed (a ``SeedSequence`` is used as the root itself).
    b : int
        Replicate number (``>= 0``).

    Returns
    -------
    numpy.random.SeedSequence

    Examples
    --------
    >>> s = replicate_seed(7, 2)
    >>> s.spawn_key, bool(s.generate_state(1)[0] == np.random.SeedSequence(7).spawn(3)[2].generate_state(1)[0])
    ((2,), True)
    """
    root = random_state if isinstance(random_state, np.random.SeedSequence) \
        else np.random.SeedSequence(random_state)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, int(b)),
                                  pool_size=root.pool_size)


def permutation_rng(random_state, p: int) -> np.random.Generator:
    """The generator of label permutation ``p`` of a permutation test.

    It draws from the first child of replicate ``p``'s seed (spawn key
    ``(p, 0)``), so permutation ``p`` is fixed by ``(random_state, p)`` and is
    independent of bootstrap replicate ``p`` drawn with the same seed.

    Parameters
    ----------
    random_state : int or SeedSequence
    p : int
        Permutation number (``>= 0``).

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> a = permutation_rng(0, 3).permutation(5)
    >>> b = permutation_rng(0, 3).permutation(5)
    >>> bool((a == b).all()), sorted(a.tolist())
    (True, [0, 1, 2, 3, 4])
    """
    return np.random.default_rng(replicate_seed(random_state, p).spawn(1)[0])


class StratifiedBootstrap:
    """Bootstrap replicates drawn within strata, reproducible replicate by replicate.

    Replicate ``b`` replaces row ``j`` by a row drawn uniformly from row ``j``'s
    stratum with the generator ``default_rng(replicate_seed(random_state, b))``
    (the seeding scheme of the module docstring): it does not depend on
    ``n_boot`` or on which replicates are drawn together.

    Parameters
    ----------
    strata : array-like of shape (n,)
        Stratum code of every row (any hashable values; a single value for a
        plain bootstrap of all rows).
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
    >>> bool((bs.replicate(1) == idx[1]).all())
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
        self._root = np.random.SeedSequence(random_state)

    #: :func:`permutation_rng`, reachable from the public class (``StratifiedBootstrap.permutation_rng(seed, p)``).
    permutation_rng = staticmethod(permutation_rng)

    def rng(self, b: int) -> np.random.Generator:
        """The generator of replicate ``b`` (fresh at every call): ``default_rng(replicate_seed(random_state, b))``."""
        b = int(b)
        if not 0 <= b < self.n_boot:
            raise IndexError(f"replicate {b} is out of range for n_boot = {self.n_boot}")
        return np.random.default_rng(replicate_seed(self._root, b))

    def replicate(self, b: int) -> np.ndarray:
        """Resampled row indices of replicate ``b``, shape (n,): row ``j`` is replaced by row ``idx[j]``."""
        return self._members[self._start + self.rng(b).integers(0, self._size)]

    def indices(self, replicates) -> np.ndarray:
        """Resampled row indices, shape (len(replicates), n): row ``j`` is replaced by ``idx[b, j]``."""
        reps = list(replicates)
        out = np.empty((len(reps), self.n), dtype=np.int64)
        for k, b in enumerate(reps):
            out[k] = self.replicate(b)
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
