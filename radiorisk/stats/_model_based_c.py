"""The model-based concordance: the C a model would reach in a cohort if its risks were right.

van Klaveren, Gönen, Steyerberg & Vergouwe (2016), *J Clin Epidemiol* 79:78 ("A new
concordance measure for risk prediction models in external validation settings"). For
predicted probabilities :math:`p_1, \\dots, p_n` of a binary outcome, every ordered pair
(i, j), i ≠ j, is a (case, control) pair with probability :math:`p_i (1 - p_j)` when
the outcomes are drawn from the model; it is concordant when :math:`p_i > p_j` and
counts ½ when tied. The model-based C is

.. math::

    \\mathrm{mbc} = \\frac{\\sum_{i \\ne j} p_i (1 - p_j) \\,[\\mathbb 1(p_i > p_j)
    + \\tfrac12 \\mathbb 1(p_i = p_j)]}{\\sum_{i \\ne j} p_i (1 - p_j)} .

It depends on the case mix only (the spread of the risks), not on the outcomes: the gap
between a validation cohort's mbc and the development cohort's tells how much of a
change in C to expect from the case mix alone; the gap between the observed C and the
validation mbc reflects the validity of the model's effects (Vergouwe et al. 2010's
separation of case mix and miscalibration). With survival data, :math:`p_i` is the
risk by the horizon and the matching observed statistic is the cumulative/dynamic
AUC at the horizon (``td_auc``: cases are events by the horizon, controls the
patients event-free beyond it).
"""

from __future__ import annotations

import numpy as np

from ._common import Estimate

__all__ = ["model_based_c"]


def model_based_c(risk) -> Estimate:
    r"""The model-based concordance of predicted probabilities (van Klaveren et al. 2016).

    Computed exactly in :math:`O(n \log n)` (sorting and prefix sums; ties in ``risk``
    count ½).

    Parameters
    ----------
    risk : array-like of shape (n,)
        Predicted probabilities in [0, 1] (n >= 2).

    Returns
    -------
    Estimate
        ``estimate`` = mbc; no SE or CI (the statistic has no sampling error given
        the risks); ``method`` names the definition.

    Raises
    ------
    ValueError
        Fewer than 2 values, a value outside [0, 1] or not finite (naming its
        position), or every risk 0 or every risk 1 (no case-control pair has a
        positive probability).

    Examples
    --------
    >>> round(model_based_c([0.1, 0.2, 0.7]).estimate, 4)
    0.8896
    >>> round(model_based_c([0.3, 0.3, 0.3]).estimate, 12)   # no spread: a coin toss
    0.5
    """
    p = np.asarray(risk, dtype=float).ravel()
    if p.size < 2:
        raise ValueError(f"risk: the model-based C needs at least 2 values; got {p.size}")
    bad = ~np.isfinite(p) | (p < 0) | (p > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"risk must be probabilities in [0, 1]; found {float(p[i])!r} at position {i}")
    q = 1.0 - p
    order = np.argsort(p, kind="mergesort")
    ps, qs = p[order], q[order]
    # per distinct value: the sum of (1 - p) over strictly smaller values and over the tie block
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
    ends = np.r_[starts[1:], ps.size]
    q_cum = np.r_[0.0, np.cumsum(qs)]
    below = q_cum[starts]                          # sum of q over smaller values
    tied = q_cum[ends] - q_cum[starts]             # sum of q over the tie block (incl. i itself)
    block = np.repeat(np.arange(starts.size), ends - starts)
    num = np.sum(ps * (below[block] + 0.5 * (tied[block] - qs)))
    den = np.sum(ps) * np.sum(qs) - np.sum(ps * qs)
    if den <= 0:
        raise ValueError("risk: every value is 0 or every value is 1; no pair can be a case and a control")
    return Estimate(float(num / den), method="model-based concordance (van Klaveren et al. 2016)")
