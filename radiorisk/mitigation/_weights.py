"""Pre-processing: case weights that give under-represented groups more weight in training."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._common import (
    _group_cells,
)


# ---------------------------------------------------------------------------------------------
# (a) weights
# ---------------------------------------------------------------------------------------------
def group_balancing_weights(groups, *, method: str = "inverse_frequency", target=None) -> np.ndarray:
    r"""Case weights (mean 1) that give under-represented groups more weight in training.

    Parameters
    ----------
    groups : array-like of shape (n,), DataFrame or mapping of str to array-like
        Group labels; several attributes are combined into their cells
        (``"female:south_asian"``). A missing label forms the group ``"unknown"``.
    method : {"inverse_frequency", "upweight"}
        ``"inverse_frequency"``: every group gets the same total weight,
        :math:`w_i = n / (K n_{g(i)})` for :math:`K` groups.
        ``"upweight"``: only the groups below a minimum share are raised to it;
        the other groups keep their relative sizes and share the remaining
        weight (see ``target``).
    target : float or mapping, optional
        For ``"upweight"`` only. A float :math:`s \le 1/K` is the minimum
        share of the total weight of every group (default :math:`1/K`, which
        raises every group smaller than :math:`n/K` to :math:`n/K`); a mapping
        ``{group: multiplier}`` multiplies the weights of the named groups
        (the others 1) before normalising.

    Returns
    -------
    ndarray of shape (n,)
        Positive weights with mean exactly 1 (sum :math:`n`), so that
        penalties and ``min_child_weight`` keep their meaning.

    Notes
    -----
    Use with every radiorisk model: ``make_model(name).fit(X, y,
    sample_weight=w)``. ``coxph`` maximises the weighted partial likelihood
    (lifelines' ``weights_col``; use ``robust=True`` for standard errors);
    ``xgb-binary`` multiplies the IPCW weights by ``w``; ``xgb-cox`` weights
    each row's gradient (approximate, see ``docs/models.md``) and its Breslow
    baseline exactly; ``xgb-aft`` weights the likelihood. Reweighting changes
    what the model averages over (each group counts equally), not the
    outcome of any group: calibration-in-the-large of the *unweighted*
    population may shift, so audit the weighted model again.

    Examples
    --------
    >>> g = ["a"] * 6 + ["b"] * 2
    >>> group_balancing_weights(g).round(4).tolist()          # each group: total weight 4
    [0.6667, 0.6667, 0.6667, 0.6667, 0.6667, 0.6667, 2.0, 2.0]
    >>> w = group_balancing_weights(g, method="upweight", target={"b": 3.0})
    >>> round(float(w.mean()), 12), round(float(w[-1] / w[0]), 12)
    (1.0, 3.0)
    """
    cells = _group_cells(groups)
    n = len(cells)
    if n == 0:
        raise ValueError("groups is empty")
    levels, inv, counts = np.unique(cells.astype(str), return_inverse=True, return_counts=True)
    K = len(levels)
    if method == "inverse_frequency":
        if target is not None:
            raise ValueError("target applies to method='upweight' only")
        share = np.full(K, 1.0 / K)
    elif method == "upweight":
        if isinstance(target, Mapping):
            share = _multiplied_shares(levels, counts, target)
        else:
            share = _minimum_shares(counts, n, K, target)
    else:
        raise ValueError(f"method must be 'inverse_frequency' or 'upweight'; got {method!r}")
    w = (share * n / counts)[inv]
    return w / w.mean()


def _multiplied_shares(levels, counts, target) -> np.ndarray:
    """Shares of the total weight with the groups named in ``target`` multiplied."""
    unknown = set(map(str, target)) - set(levels)
    if unknown:
        raise ValueError(f"target names group(s) {sorted(unknown)} not in groups {list(levels)}")
    mult = np.array([float(target.get(g, 1.0)) for g in levels])
    if not np.all(np.isfinite(mult) & (mult > 0)):
        raise ValueError(f"target multipliers must be finite and > 0; got {dict(target)}")
    return counts * mult / np.sum(counts * mult)


def _minimum_shares(counts, n, K, target) -> np.ndarray:
    """Shares with every group at least ``target`` (default 1/K), the others rescaled."""
    s = 1.0 / K if target is None else float(target)
    if not 0 < s <= 1.0 / K + 1e-12:
        raise ValueError(f"target (a minimum share) must lie in (0, 1/K] = (0, {1.0 / K:.4g}]; "
                         f"got {target!r}")
    share = counts / n
    raised = np.zeros(K, dtype=bool)
    while True:  # water-filling: raise the small groups, rescale the others
        low = ~raised & (share < s - 1e-15)
        if not low.any():
            return share
        raised |= low
        rest = counts * ~raised
        share = np.where(raised, s, (1.0 - s * raised.sum()) * rest / max(rest.sum(), 1))
