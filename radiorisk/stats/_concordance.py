"""Concordance: Harrell's C (all follow-up) and Uno's C (truncated at t0, IPCW)."""

from __future__ import annotations

import numpy as np

from ._common import (
    _NO_EVENT_BY_T0,
    NotEstimableError,
    check_horizon,
    check_survival_inputs,
)
from ._km import censoring_survival


def _pair_counts(t, e, r, idx_events, chunk=None):
    """Per event row: #comparable, #concordant, #tied-in-risk.

    j is comparable to event i when T_j > T_i, or T_j == T_i and j is censored.
    Exact integer counts: all pairs in blocks for small data, else
    :func:`_pair_counts_sorted` (O(n log^2 n)).
    """
    if chunk is None and len(t) * len(idx_events) > 50_000_000:
        return _pair_counts_sorted(t, e, r, idx_events)
    if chunk is None:  # keep each boolean block near 4 million cells
        chunk = max(1, 4_000_000 // max(1, len(t)))
    comp = np.empty(len(idx_events))
    conc = np.empty(len(idx_events))
    tied = np.empty(len(idx_events))
    for s in range(0, len(idx_events), chunk):
        ii = idx_events[s:s + chunk]
        ti, ri = t[ii][:, None], r[ii][:, None]
        ok = (t[None, :] > ti) | ((t[None, :] == ti) & (e[None, :] == 0))
        comp[s:s + chunk] = ok.sum(axis=1)
        conc[s:s + chunk] = (ok & (r[None, :] < ri)).sum(axis=1)
        tied[s:s + chunk] = (ok & (r[None, :] == ri)).sum(axis=1)
    return comp, conc, tied


def _pair_counts_sorted(t, e, r, idx_events):
    """:func:`_pair_counts` by dominance counting over dyadic blocks (same integers).

    Rows are ordered by time, events before censorings at a tie; event i's comparable
    rows are then the suffix starting after the events at T_i. The number of rows of
    the prefix [0, q) with risk rank below x is a sum over the set bits of q of counts
    in one dyadic block each, found by binary search in the block-sorted ranks.
    """
    n = len(t)
    order = np.lexsort((-e, t))
    ts, es = t[order], e[order]
    _, key = np.unique(r, return_inverse=True)
    key = key.astype(np.int64)
    ks = key[order]
    M = int(key.max()) + 2
    ti, xi = t[idx_events], key[idx_events]
    left = np.searchsorted(ts, ti, side="left")
    d_at = np.searchsorted(ts, ti, side="right") - left  # rows at T_i ...
    # ... of which censored: events come first within a tie, so count the events there
    ev_pos = np.flatnonzero(es == 1)
    n_ev_before = np.searchsorted(ev_pos, left, side="left")
    n_ev_upto = np.searchsorted(ev_pos, left + d_at, side="left")
    cens_at = d_at - (n_ev_upto - n_ev_before)
    q = left + d_at - cens_at  # first comparable position
    below = np.zeros(len(idx_events), dtype=np.int64)  # prefix [0, q): rank < x
    equal = np.zeros(len(idx_events), dtype=np.int64)  # prefix [0, q): rank == x
    level = 0
    while (1 << level) <= n:
        size = 1 << level
        blocks = np.arange(n, dtype=np.int64) >> level
        srt = np.sort(blocks * M + ks)
        has = ((q >> level) & 1) == 1
        b = (q[has] >> (level + 1)) << 1
        base = b * M
        lo = np.searchsorted(srt, base + xi[has], side="left")
        hi = np.searchsorted(srt, base + xi[has] + 1, side="left")
        below[has] += lo - b * size
        equal[has] += hi - lo
        level += 1
    key_sorted = np.sort(key)
    all_below = np.searchsorted(key_sorted, xi, side="left")
    all_equal = np.searchsorted(key_sorted, xi, side="right") - all_below
    comp = (n - q).astype(float)
    conc = (all_below - below).astype(float)
    tied = (all_equal - equal).astype(float)
    return comp, conc, tied


def harrell_c(time, event, risk) -> float:
    r"""Harrell's concordance index over all follow-up.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up times (> 0).
    event : array-like of shape (n,)
        1 for an event, 0 for censoring.
    risk : array-like of shape (n,)
        Predicted risk, or any score where higher means an earlier event
        (e.g. a Cox linear predictor).

    Returns
    -------
    float

    Raises
    ------
    NotEstimableError
        Without any comparable pair.

    Notes
    -----
    A pair :math:`(i, j)` is comparable when :math:`i` has an event and
    :math:`T_j > T_i`, or :math:`T_j = T_i` and :math:`j` is censored; two events at
    the same time are not comparable. :math:`C = (\#\{r_i > r_j\} + \tfrac12
    \#\{r_i = r_j\}) / \#\text{comparable}`. This is
    ``survival::concordance(Surv(time, event) ~ risk, reverse = TRUE)``.

    Examples
    --------
    >>> harrell_c([1, 2, 3, 4], [1, 1, 0, 1], [0.9, 0.5, 0.7, 0.1])
    0.8
    """
    t, e, r = check_survival_inputs(time, event, risk, probability=False)
    idx = np.flatnonzero(e == 1)
    return _harrell_from_counts(*_pair_counts(t, e, r, idx))


def _harrell_from_counts(comp, conc, tied) -> float:
    n_comp = float(np.sum(comp))
    if n_comp == 0:
        raise NotEstimableError("no comparable pair: Harrell's C is not defined")
    return float((np.sum(conc) + 0.5 * np.sum(tied)) / n_comp)


def _uno_from_counts(t, e, t_events, comp, conc, tied, t0) -> float:
    """Uno's C from the pair counts of the events at ``t_events`` (all at or before ``t0``)."""
    if len(t_events) == 0:
        raise NotEstimableError(_NO_EVENT_BY_T0.format(t0=t0, what="Uno's C"))
    w = 1.0 / censoring_survival(t, e).before(t_events) ** 2
    den = float(np.sum(w * comp))
    if den == 0:
        raise NotEstimableError("no comparable pair: Uno's C is not defined")
    return float(np.sum(w * (conc + 0.5 * tied)) / den)


def uno_c(time, event, risk, *, horizon) -> float:
    r"""Uno's IPCW concordance index truncated at the horizon.

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        As in :func:`harrell_c`.
    horizon : float
        :math:`t_0`; only events with :math:`T_i \le t_0` anchor pairs (events
        exactly at :math:`t_0` count).

    Returns
    -------
    float

    Notes
    -----
    Harrell's comparable pairs with :math:`T_i \le t_0`, each weighted by
    :math:`1/G(T_i-)^2` (see :func:`censoring_survival`):

    .. math::

        C_{Uno} = \frac{\sum_i \delta_i 1(T_i \le t_0) G(T_i-)^{-2}
        \sum_{j \in \mathcal{C}_i} [1(r_i > r_j) + \tfrac12 1(r_i = r_j)]}
        {\sum_i \delta_i 1(T_i \le t_0) G(T_i-)^{-2} |\mathcal{C}_i|}.

    This is ``survival::concordance(..., timewt = "n/G2", ymax = t0)``.

    Examples
    --------
    >>> round(uno_c([1, 2, 3, 4, 5], [1, 0, 1, 1, 0], [0.9, 0.5, 0.7, 0.1, 0.2], horizon=4), 4)
    0.8095
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    idx = np.flatnonzero((e == 1) & (t <= t0))
    counts = _pair_counts(t, e, r, idx) if len(idx) else ((), (), ())
    return _uno_from_counts(t, e, t[idx], *counts, t0)


def harrell_and_uno_c(time, event, risk, *, horizon):
    """Harrell's and Uno's C from one pass of pair counts; each a float or the NotEstimableError.

    The same numbers as :func:`harrell_c` and :func:`uno_c` (the audit's point estimates:
    on large groups the pair counts are the expensive part, and Uno's pairs are a
    weighted subset of Harrell's).

    Parameters
    ----------
    time, event, risk : array-like of shape (n,)
        As in :func:`harrell_c` (``risk`` a probability).
    horizon : float
        :math:`t_0` of Uno's C.

    Returns
    -------
    tuple
        ``(harrell, uno)``: each a float, or the :class:`NotEstimableError` that
        :func:`harrell_c` / :func:`uno_c` would raise (returned, not raised).

    Examples
    --------
    >>> h, u = harrell_and_uno_c([1, 2, 3, 4, 5], [1, 0, 1, 1, 0], [0.9, 0.5, 0.7, 0.1, 0.2], horizon=4)
    >>> round(h, 4), round(u, 4)
    (0.8571, 0.8095)
    """
    t0 = check_horizon(horizon)
    t, e, r = check_survival_inputs(time, event, risk)
    idx = np.flatnonzero(e == 1)
    comp, conc, tied = _pair_counts(t, e, r, idx)

    def attempt(fn, *args):
        try:
            return fn(*args)
        except NotEstimableError as exc:
            return exc

    sel = t[idx] <= t0
    return (attempt(_harrell_from_counts, comp, conc, tied),
            attempt(_uno_from_counts, t, e, t[idx[sel]], comp[sel], conc[sel], tied[sel], t0))


_harrell_and_uno = harrell_and_uno_c
