"""The penalty of :class:`~radiorisk.models.CoxPHRisk`: unpenalised columns and the inner-CV choice of its strength.

- :func:`penalty_factors`: 0 for the pre-specified (unpenalised) columns, 1 for the others;
- :func:`inner_cv_folds`: deterministic, event-stratified fold labels from a seed;
- :func:`choose_penalizer`: the penalty strength maximising the cross-validated partial
  likelihood of Verweij & van Houwelingen (1993) over a grid, and the curve.

The criterion is :math:`\\mathrm{CVPL}(\\lambda) = \\sum_k [\\ell(\\hat\\beta_{-k}(\\lambda)) -
\\ell_{-k}(\\hat\\beta_{-k}(\\lambda))]`: each inner fold's contribution is the partial
likelihood of the whole training set minus that of the rows the fit used, at the
coefficients fitted without the fold, so the held-out patients are judged inside the full
risk sets (stable with few events per fold, unlike a fold's own partial likelihood or C).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..stats import cox_partial_loglik
from ._base import ModelError

__all__ = ["DEFAULT_PENALIZER_GRID", "INNER_CV_COLUMNS", "choose_penalizer", "default_cox_params", "inner_cv_folds",
           "penalty_factors"]

#: Penalty strengths tried by ``penalizer="cv"`` (lifelines' scale: ``n * penalizer *
#: (1 - l1_ratio) / 2 * ||beta||^2`` on standardised columns), strongest first.
DEFAULT_PENALIZER_GRID = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001)
#: Columns of ``CoxPHRisk.inner_cv_``.
INNER_CV_COLUMNS = ("penalizer", "cvpl", "cvpl_per_event", "n_failed", "chosen")


def penalty_factors(names, unpenalized) -> tuple[np.ndarray, list[str]]:
    """Penalty factor of each column: 0 for the unpenalised ones, 1 otherwise.

    A column is unpenalised when its name is in ``unpenalized`` or derives from
    one (a dummy ``<name>_<level>`` or an indicator ``<name>_missing`` of the
    preprocessing step).

    Examples
    --------
    >>> penalty_factors(["age_years", "sex_male", "cac", "glcm_a"], ["age_years", "sex"])
    (array([0., 0., 1., 1.]), ['age_years', 'sex_male'])
    """
    if unpenalized is None:
        return np.ones(len(names)), []
    if isinstance(unpenalized, str):
        raise ModelError(f"unpenalized must be a list of column names; got the string {unpenalized!r}")
    base = [str(c) for c in unpenalized]
    free = [n for n in names if any(n == b or n.startswith(b + "_") for b in base)]
    s = set(free)
    return np.array([0.0 if n in s else 1.0 for n in names]), free


def inner_cv_folds(event, k: int, seed: int) -> np.ndarray:
    """Fold label (0..k-1) of each row: events and non-events dealt round-robin after a seeded shuffle.

    Depends only on ``event``, ``k`` and ``seed`` (numpy's PCG64 stream), hence
    the same on every machine.

    Examples
    --------
    >>> inner_cv_folds([1, 0, 1, 0, 1, 0], 3, seed=0).tolist()
    [1, 2, 2, 1, 0, 0]
    """
    e = np.asarray(event).astype(bool)
    rng = np.random.default_rng(seed)
    out = np.empty(e.size, dtype=np.int64)
    for rows in (np.flatnonzero(e), np.flatnonzero(~e)):
        perm = rows[rng.permutation(rows.size)]
        out[perm] = np.arange(perm.size) % k
    return out


def choose_penalizer(fit, X, t, e, *, grid, folds: int, seed: int) -> tuple[float, pd.DataFrame, int]:
    """The penalty strength of the grid with the largest cross-validated partial likelihood.

    Parameters
    ----------
    fit : callable
        ``fit(X, t, e, penalizer, start) -> coef`` (one penalised Cox fit from the
        coefficients ``start``, None: from 0; raises :class:`ModelError` when it fails).
        Each inner fold runs the grid strongest first, warm-started from the previous
        strength's fit (the optimum does not depend on the start: the objective is concave).
    X, t, e : ndarray
        Training rows (the inner folds split them).
    grid : sequence of float
        Candidate strengths (> 0).
    folds, seed : int
        Inner folds, from :func:`inner_cv_folds`.

    Returns
    -------
    penalizer : float
        The best candidate; ties go to the stronger penalty (the earlier in a
        grid sorted strongest first).
    curve : DataFrame
        :data:`INNER_CV_COLUMNS`, one row per candidate, strongest first.
    n_unconverged : int
        Inner fits whose lifelines run warned of non-convergence.
    """
    grid = sorted({float(g) for g in grid}, reverse=True)
    if not grid or min(grid) <= 0:
        raise ModelError(f"penalizer_grid must hold values > 0; got {grid}")
    lab = inner_cv_folds(e, folds, seed)
    if any(e[lab != k].sum() == 0 for k in range(folds)):
        raise ModelError(f"too few events ({int(e.sum())}) for {folds} inner folds")
    totals, failed, unconverged = np.zeros(len(grid)), np.zeros(len(grid), dtype=np.int64), 0
    for k in range(folds):
        tr = lab != k
        start = None  # warm start along the path, strongest penalty first
        for j, lam in enumerate(grid):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    b = fit(X[tr], t[tr], e[tr], lam, start)
                except ModelError:
                    b = None
            unconverged += any("converge" in str(c.message) for c in caught)
            if b is None:
                failed[j] += 1
                continue
            start = b
            totals[j] += cox_partial_loglik(X @ b, t, e) - cox_partial_loglik(X[tr] @ b, t[tr], e[tr])
    values = np.where(failed == 0, totals, -np.inf)
    if not np.isfinite(values).any():
        raise ModelError("every inner cross-validation fit of the penalised Cox model failed; "
                         "set penalizer to a number (e.g. penalizer=0.1)")
    best = int(np.argmax(values))  # first maximum: the strongest penalty among ties
    curve = pd.DataFrame({"penalizer": grid, "cvpl": values, "cvpl_per_event": values / float(e.sum()),
                          "n_failed": failed.tolist(), "chosen": [i == best for i in range(len(grid))]})
    return grid[best], curve, int(unconverged)


#: The correlation threshold of the default strategy's outcome-free pruning of the radiomics block.
DEFAULT_CORRELATION_THRESHOLD = 0.9


def default_cox_params(data, blocks, params) -> tuple[dict, str]:
    """The parameters of ``coxph`` in ``radiorisk fit`` (the default modelling strategy), and its statement.

    Unless ``params`` sets ``penalizer`` (then they are used as given, e.g. the
    former default ``{"penalizer": 0.1, "screen_k": 20}``): the clinical block's
    columns are pre-specified and unpenalised (``unpenalized``), the other
    blocks' columns get a ridge penalty whose strength is chosen by 5-fold inner
    cross-validation on each training fold (``penalizer="cv"``), and with the
    radiomics block the non-clinical columns are first pruned of correlated
    duplicates (:class:`CorrelationPruner`, ``|r| > 0.9``, outcome-free).  A
    univariable screen only on request (``screen_k`` / ``screen_p``), then
    acting on the non-clinical columns only.

    Parameters
    ----------
    data : CohortData
    blocks : sequence of str
    params : dict or None

    Returns
    -------
    dict, str

    Examples
    --------
    >>> default_cox_params(None, ["clinical"], {"penalizer": 0.1})
    ({'penalizer': 0.1}, 'coxph: model parameters as given (penalizer 0.1)')
    """
    params = dict(params or {})
    if "penalizer" in params:
        return params, f"coxph: model parameters as given (penalizer {params['penalizer']})"
    clinical = list(data.columns(["clinical"])) if "clinical" in blocks else []
    others = [c for c in data.columns(list(blocks)) if c not in set(clinical)]
    params["penalizer"] = "cv"
    params.setdefault("unpenalized", clinical)
    screen = "screen_k" in params or "screen_p" in params
    if "radiomics" in blocks:
        params.setdefault("correlation_threshold", DEFAULT_CORRELATION_THRESHOLD)
    if ("radiomics" in blocks or screen) and "radiomics" not in params:
        params["radiomics"] = others
    note = (f"coxph: {len(params['unpenalized'])} clinical predictor(s) pre-specified and unpenalised; "
            "the other columns ridge-penalised, the penalty chosen by "
            f"{params.get('inner_folds', 5)}-fold inner cross-validation (cross-validated partial "
            "likelihood) on each training fold")
    if "correlation_threshold" in params:
        note += f"; columns with |r| > {params['correlation_threshold']:g} to an earlier one pruned first"
    if screen:
        note += "; univariable screening of the non-clinical columns on request (screen_k / screen_p)"
    return params, note
