"""Multiplicity: Holm and Benjamini-Hochberg adjusted p-values (R's ``p.adjust``)."""

from __future__ import annotations

import numpy as np

__all__ = ["P_ADJUSTMENTS", "adjust_p_values"]

#: Adjustments of :func:`adjust_p_values` (``fdr_bh`` is an alias of ``bh``).
P_ADJUSTMENTS = ("holm", "bh", "fdr_bh")


def adjust_p_values(p, method: str = "holm") -> np.ndarray:
    r"""Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values.

    Parameters
    ----------
    p : array-like of shape (m,)
        p-values in [0, 1]; NaN values are kept as NaN and left out of the family (as
        ``p.adjust`` does with ``NA``).
    method : {"holm", "bh", "fdr_bh"}

    Returns
    -------
    ndarray of shape (m,)

    Raises
    ------
    ValueError
        For an unknown ``method`` or a p-value outside [0, 1].

    Notes
    -----
    With the :math:`m` non-missing p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`:
    Holm :math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1) p_{(j)})`;
    Benjamini-Hochberg :math:`\tilde p_{(i)} = \min_{j \ge i} \min(1, m p_{(j)} / j)`.
    Equal to R's ``p.adjust(p, "holm")`` and ``p.adjust(p, "BH")``
    (``tests/reference/calibration_tests/p_adjust.csv``).

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03, float("nan")], "holm").round(4).tolist()
    [0.03, 0.06, 0.06, nan]
    >>> adjust_p_values([0.01, 0.04, 0.03], "bh").round(4).tolist()
    [0.03, 0.04, 0.04]
    """
    if method not in P_ADJUSTMENTS:
        raise ValueError(f"method must be one of {list(P_ADJUSTMENTS)}; got {method!r}")
    p = np.asarray(p, dtype=np.float64)
    bad = ~np.isnan(p) & ((p < 0) | (p > 1))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"p-values must lie in [0, 1]; got {float(p[i])!r} at position {i}")
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    o = ok[np.argsort(p[ok], kind="stable")]
    m = o.size
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[o]))
    else:
        adj = np.minimum(1.0, np.minimum.accumulate((p[o] * m / np.arange(1, m + 1))[::-1])[::-1])
    out[o] = adj
    return out
