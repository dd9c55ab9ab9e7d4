"""Seeds and folds of the validation protocol: one seed per task, stratified grouped K-fold.

:func:`task_seed` derives every seed of a cross-validation from ``random_state``
and integer keys (so tasks can run in any order or process);
:func:`make_folds` deals event groups, then the other groups, to the folds;
:func:`cluster_folds` gives the folds of internal-external (leave-one-cluster-out)
cross-validation: one fold per cluster (site, vendor, ...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["task_seed", "make_folds", "cluster_folds"]


def task_seed(random_state: int, *keys: int) -> int:
    """A 32-bit seed for one task, derived from ``random_state`` and integer ``keys``.

    Examples
    --------
    >>> task_seed(0, 1, 2) == task_seed(0, 1, 2), task_seed(0, 1, 2) == task_seed(0, 2, 1)
    (True, False)
    """
    if random_state is None:
        raise ValueError("random_state is required (an int): results must be reproducible")
    return int(np.random.SeedSequence([int(random_state), *map(int, keys)]).generate_state(1)[0])


def make_folds(event, *, groups=None, folds: int = 5, repeats: int = 1, random_state: int) -> np.ndarray:
    """Fold ids for repeated K-fold, stratified on the event and grouped.

    Each group (default: each row) is one unit.  A group is an *event group*
    when any of its rows has an event.  Per repeat, the event groups are
    shuffled and dealt to the folds in turn, then the other groups continue
    the deal, so every fold gets ``floor`` or ``ceil`` of ``k/folds`` event
    groups and all rows of a group share a fold.

    Parameters
    ----------
    event : array-like of shape (n,)
        0/1 event indicator.
    groups : array-like of shape (n,), optional
        Group labels (e.g. ``patient_id``); default one group per row.
    folds, repeats : int
    random_state : int

    Returns
    -------
    ndarray of shape (repeats, n)
        Fold id (0 ... folds-1) of each row in each repeat.

    Examples
    --------
    >>> f = make_folds([1, 0, 0, 1, 0, 0], folds=2, repeats=1, random_state=0)
    >>> sorted(np.bincount(f[0]).tolist()), sorted(f[0][[0, 3]].tolist())
    ([3, 3], [0, 1])
    """
    e = np.asarray(event).astype(float).ravel()
    n = len(e)
    if groups is None:
        codes = np.arange(n)
    else:
        g = np.asarray(groups).ravel()
        if len(g) != n:
            raise ValueError(f"groups has {len(g)} values but event has {n}")
        codes = pd.factorize(pd.Series(g))[0]
    n_groups = int(codes.max()) + 1 if n else 0
    if folds < 2:
        raise ValueError(f"folds must be >= 2; got {folds}")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    if n_groups < folds:
        raise ValueError(f"{n_groups} group(s) is fewer than folds={folds}")
    g_event = np.zeros(n_groups, bool)
    np.logical_or.at(g_event, codes, e > 0)
    ev_groups = np.flatnonzero(g_event)
    other = np.flatnonzero(~g_event)
    out = np.empty((repeats, n), dtype=np.int64)
    for r in range(repeats):
        rng = np.random.default_rng(task_seed(random_state, 7919, r))
        order = np.concatenate([rng.permutation(ev_groups), rng.permutation(other)])
        start = int(rng.integers(folds))
        gfold = np.empty(n_groups, dtype=np.int64)
        gfold[order] = (start + np.arange(n_groups)) % folds
        out[r] = gfold[codes]
    return out


def cluster_folds(clusters) -> tuple[np.ndarray, tuple[str, ...]]:
    """Fold ids of leave-one-cluster-out (internal-external) cross-validation.

    Fold ``k`` holds the rows of the ``k``-th cluster in sorted order of the
    labels (read as strings), so the folds depend on the labels only, never on
    a seed or on the row order.

    Parameters
    ----------
    clusters : array-like of shape (n,)
        Cluster label of each row (e.g. the site); no missing values.

    Returns
    -------
    fold_ids : ndarray of shape (1, n)
        Fold id (0 ... k-1) of each row: one pass, as ``make_folds(..., repeats=1)``.
    labels : tuple of str
        The cluster of each fold (``labels[k]`` is left out in fold ``k``).

    Raises
    ------
    ValueError
        A missing label, or fewer than two clusters.

    Examples
    --------
    >>> f, labels = cluster_folds(["b", "a", "b", "c"])
    >>> f.tolist(), labels
    ([[1, 0, 1, 2]], ('a', 'b', 'c'))
    """
    s = pd.Series(np.asarray(clusters, dtype=object).ravel())
    missing = s.isna() | s.astype(str).str.strip().isin(["", "NA", "nan", "None"])
    if missing.any():
        raise ValueError(f"clusters: {int(missing.sum())} row(s) have no cluster label (first at "
                         f"row {int(np.flatnonzero(missing.to_numpy())[0])}); every row needs one")
    labels, codes = np.unique(s.astype(str).to_numpy(), return_inverse=True)
    if len(labels) < 2:
        found = f"one cluster only ({labels[0]!r})" if len(labels) else "no rows"
        raise ValueError(f"clusters: {found}; leave-one-cluster-out cross-validation needs at least "
                         "2 clusters")
    return codes.astype(np.int64).reshape(1, -1), tuple(str(v) for v in labels)
