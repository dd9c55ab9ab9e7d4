"""The competing-risk mode of the audit: status codes, bootstrap replicates and weighted Aalen-Johansen.

``status`` is 0 = censored, 1 = the event of interest, 2 = a competing event that prevents it.
The metrics of a subset are :func:`radiorisk.evaluation._values._point_competing` (the
``radiorisk.stats`` functions, R-exact, every subset with its own Aalen-Johansen estimate,
censoring distribution and Fine-Gray calibration model). Their bootstrap replicates are
those of the resampled rows (:func:`competing_replicates`: vectorised weighted formulas
for ``c_cr`` ... ``oe_ratio_cr``, a weighted Fine-Gray fit per replicate for ``ici_cr`` ...
``emax_cr``); the fairness rates use the weighted Aalen-Johansen
cumulative incidence :func:`aalen_johansen_at` (all replicates at once).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..stats import (
    StratifiedBootstrap,
    aalen_johansen_at,
    check_competing_inputs,
    counts_from_indices,
)
from ._bootstrap import _n_threads
from ._bootstrap_competing import VECTORISED, CompetingReplicates, FineGrayReplicates
from ._values import COMPETING_METRICS, FINE_GRAY_METRICS

__all__ = ["aalen_johansen_at", "check_status", "competing_replicates", "refuse_competing_without_flag"]

#: Accepted status codes of the competing-risk mode.
STATUS_CODES = (0.0, 1.0, 2.0)
_NEEDS_FLAG = ("event has the value 2 at position {i}: a competing event (status 0 = censored, 1 = event, "
               "2 = competing event) needs competing_risks=True, which audits the cumulative incidence "
               "with competing-risk estimands (Aalen-Johansen; competing events are not censored)")
_NOT_STATUS = ("event (the status) must be 0 (censored), 1 (event of interest) or 2 (competing event) "
               "with competing_risks=True; found {value!r} at position {i}")


def refuse_competing_without_flag(event) -> None:
    """Raise the usage error of a status 2 in a survival audit (``competing_risks`` not set).

    Parameters
    ----------
    event : array-like
        The event indicator given to a survival audit.

    Raises
    ------
    ValueError
        When a value equals 2, naming ``competing_risks``.

    Examples
    --------
    >>> refuse_competing_without_flag([0, 1, 1])
    >>> refuse_competing_without_flag([0, 2])
    Traceback (most recent call last):
    ...
    ValueError: event has the value 2 at position 1: a competing event ...
    """
    try:
        e = np.asarray(event, dtype=np.float64)
    except (TypeError, ValueError):
        return  # the survival input check names the bad value
    hit = e == 2
    if e.ndim == 1 and hit.any():
        raise ValueError(_NEEDS_FLAG.format(i=int(np.argmax(hit))))


def check_status(time, status, risk):
    """Validate the inputs of a competing-risk audit: time > 0, status in {0, 1, 2}, risk in [0, 1].

    Parameters
    ----------
    time, status, risk : array-like of shape (n,)

    Returns
    -------
    tuple of ndarray
        ``(time, status, risk)`` as float64.

    Raises
    ------
    ValueError
        Naming the parameter, the value, its position and the rule.

    Examples
    --------
    >>> check_status([1, 2, 3], [0, 1, 2], [0.1, 0.2, 0.3])[1].tolist()
    [0.0, 1.0, 2.0]
    """
    t, s, r = check_competing_inputs(time, status, risk, cause=1)
    bad = ~np.isin(s, STATUS_CODES)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(_NOT_STATUS.format(value=float(s[i]), i=i))
    return t, s, r


def competing_replicates(time, status, risk, *, horizon, subsets, strata, n_boot: int,
                         random_state=None, calibration_boot: int | None = None,
                         n_jobs: int | None = None) -> np.ndarray:
    """Competing-risk metrics of every subset in every replicate.

    Parameters
    ----------
    time, status, risk : ndarray of shape (n,)
    horizon : float
    subsets : sequence of ndarray
        Row positions of each group (each a union of strata).
    strata : array-like of shape (n,)
        Resampling strata (:class:`~radiorisk.stats.StratifiedBootstrap`).
    n_boot : int
    random_state : int, optional
    calibration_boot : int, optional
        Fit the Fine-Gray calibration model (``ici_cr`` ... ``emax_cr``) on the first
        ``calibration_boot`` replicates only (NaN in the others). Default: all.
    n_jobs : int, optional
        Threads evaluating groups side by side (default: the usable cores, at most 8;
        the compiled Fine-Gray Newton and NumPy release the GIL). Results do not depend on it.

    Returns
    -------
    ndarray of shape (len(subsets), n_boot, 9)
        In the order of :data:`~radiorisk.evaluation._values.COMPETING_METRICS`; NaN
        where a replicate cannot be estimated.

    Notes
    -----
    Replicate ``b`` is the same resample as in the survival and binary bootstraps
    (:class:`~radiorisk.stats.StratifiedBootstrap` with the same seed and strata), and
    each value equals the ``radiorisk.stats`` function on the resampled rows of the
    subset: ``c_cr, auc_cr, brier_cr, ipa_cr, oe_ratio_cr`` from the counts of a block
    of replicates at once (:class:`~._bootstrap_competing.CompetingReplicates`, equal to
    the exact functions to 1e-12), the Fine-Gray family from the counts by
    :class:`~._bootstrap_competing.FineGrayReplicates` (the rows sorted once, a compiled
    Newton per replicate; equal to :func:`~radiorisk.stats.fine_gray_calibration` on the
    copied rows to 1e-10).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t, s = rng.integers(1, 9, 80).astype(float), rng.choice([0.0, 1.0, 2.0], 80)
    >>> rep = competing_replicates(t, s, rng.uniform(0.1, 0.6, 80), horizon=5, subsets=[np.arange(80)],
    ...                            strata=np.zeros(80), n_boot=3, random_state=1)
    >>> rep.shape
    (1, 3, 9)
    """
    t = np.asarray(time, dtype=np.float64)
    s = np.asarray(status, dtype=np.float64)
    r = np.asarray(risk, dtype=np.float64)
    n_cal = n_boot if calibration_boot is None else int(calibration_boot)
    bs = StratifiedBootstrap(strata, n_boot, random_state)
    out = np.full((len(subsets), n_boot, len(COMPETING_METRICS)), np.nan)
    plans = [CompetingReplicates(t[sub], s[sub], r[sub], horizon=horizon) for sub in subsets]
    fg = [FineGrayReplicates(t[sub], s[sub], r[sub], horizon=horizon) for sub in subsets]
    vec = [COMPETING_METRICS.index(m) for m in VECTORISED]
    cal_cols = [COMPETING_METRICS.index(m) for m in FINE_GRAY_METRICS]
    block = int(np.clip(2_000_000 // max(len(t), 1), 4, 64))
    todo = sorted((k for k, sub in enumerate(subsets) if len(sub)), key=lambda k: -len(subsets[k]))
    local = []  # row -> position in the group (-1 outside)
    for sub in subsets:
        local.append(np.full(len(t), -1, dtype=np.int64))
        local[-1][sub] = np.arange(len(sub))

    def group(k, reps, idx, W, cal):  # fills out[k] for one block (each group its own slice)
        sub = subsets[k]
        Wk = W[sub]
        out[k, reps[:, None], vec] = plans[k].evaluate(Wk).T
        if cal.any():  # the resampled rows in order: for the replicates fitted on copied rows
            out[k, reps[cal][:, None], cal_cols] = fg[k].evaluate(Wk[:, cal], local[k][idx[cal][:, sub]]).T

    n_jobs = _n_threads(n_jobs)
    with ThreadPoolExecutor(max_workers=n_jobs) as pool:
        for reps, idx in bs.blocks(block):
            W = counts_from_indices(idx, len(t))
            reps = np.asarray(reps)
            cal = reps < n_cal
            if n_jobs == 1:
                for k in todo:
                    group(k, reps, idx, W, cal)
            else:
                for f in [pool.submit(group, k, reps, idx, W, cal) for k in todo]:
                    f.result()
    return out
