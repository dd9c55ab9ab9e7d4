"""Optimism-corrected bootstrap validation (Efron–Gong; Harrell's ``rms::validate``).

For resample ``b = 1..B`` a bootstrap sample of the rows is drawn (plain
bootstrap, :class:`radiorisk.stats.StratifiedBootstrap` with one stratum, so
replicate ``b`` is fixed by ``(random_state, b)``), the **whole** pipeline
(preprocessing, selection steps, estimator) is refitted on it, and every index
is computed on the bootstrap sample (``train_b``, the apparent performance of
that refit) and on the original sample (``test_b``).  The optimism of an index
is ``mean_b(train_b - test_b)`` over the resamples in which both are finite;
the corrected index is the apparent index of the pipeline fitted on all rows
minus the optimism (Harrell, *Regression Modeling Strategies*, 2nd ed., §5.3.5).

Indexes (all computed from the predicted risk by the horizon, so every model
kind is covered):

- ``harrell_c`` (:func:`radiorisk.stats.harrell_c`, all follow-up) and
  ``dxy`` = 2 C - 1 (Somers' D, what ``rms::validate`` prints);
- ``calibration_slope``: the coefficient of a Cox model (Efron ties,
  :func:`radiorisk.stats.fit_cox`) of the outcome, all follow-up, on
  cloglog(risk).  For a proportional-hazards model cloglog(risk) is the
  linear predictor plus a constant, so this is ``rms``'s ``Slope`` (1 on the
  training sample of an unpenalised Cox fit);
- ``oe_ratio`` at the horizon (:func:`radiorisk.stats.oe_ratio_t`) and
  ``brier`` at the horizon (IPCW, :func:`radiorisk.stats.brier_t`).

Checked against R (``rms::validate`` and a hand-written loop over the same
index matrix): ``tests/reference/optimism/``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .._html import repr_html
from ..exceptions import RadioriskError
from ..stats import (
    NotEstimableError,
    StratifiedBootstrap,
    brier_t,
    check_horizon,
    cloglog,
    fit_cox,
    harrell_c,
    oe_ratio_t,
)
from ._base import check_y, make_y
from ._factory import model_label, task_factory
from ._folds import task_seed

__all__ = ["OptimismResult", "optimism_bootstrap", "optimism_indexes", "OPTIMISM_COLUMNS", "OPTIMISM_INDEXES"]

#: Indexes of the optimism bootstrap, in table order.
OPTIMISM_INDEXES = ("harrell_c", "dxy", "calibration_slope", "oe_ratio", "brier")

#: Columns of :meth:`OptimismResult.to_frame` (``optimism.csv`` of ``radiorisk fit``).
OPTIMISM_COLUMNS = ("index", "apparent", "bootstrap_train", "bootstrap_test", "optimism", "corrected",
                    "n_used", "n_failed")

#: Errors of a resample's fit or prediction that count as a failed resample (recorded with the reason).
_FIT_ERRORS = (RadioriskError, ValueError, ArithmeticError, np.linalg.LinAlgError)


@dataclass(frozen=True)
class OptimismResult:
    """Optimism-corrected bootstrap validation of one pipeline.

    Attributes
    ----------
    table : DataFrame
        One row per index (:data:`OPTIMISM_INDEXES`), columns
        :data:`OPTIMISM_COLUMNS`: ``apparent`` (the pipeline fitted on all rows,
        evaluated on them), ``bootstrap_train`` and ``bootstrap_test`` (means
        over the resamples used), ``optimism`` = their difference,
        ``corrected`` = apparent - optimism, ``n_used`` (resamples in which the
        index was finite on both samples) and ``n_failed`` (resamples whose fit
        or prediction failed, or whose index could not be estimated).
    per_resample : DataFrame
        ``resample, index, train, test`` for every resample that was fitted.
    failures : DataFrame
        ``resample, stage, reason``: every failed fit or prediction
        (``stage="fit"``) and every index that could not be estimated
        (``stage=<index>``); nothing is dropped silently.
    indices : ndarray of shape (n_boot, n)
        The bootstrap row indices (0-based), row ``b`` = resample ``b``.
    model : str
    horizon : float
    n_boot, random_state : int
    notes : tuple of str
    """

    table: pd.DataFrame = field(repr=False)
    per_resample: pd.DataFrame = field(repr=False)
    failures: pd.DataFrame = field(repr=False)
    indices: np.ndarray = field(repr=False)
    model: str
    horizon: float
    n_boot: int
    random_state: int | None
    notes: tuple[str, ...] = field(default=(), repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The index table (a copy), columns :data:`OPTIMISM_COLUMNS`."""
        return self.table.copy()

    def corrected(self, index: str) -> float:
        """The optimism-corrected value of ``index`` (one of :data:`OPTIMISM_INDEXES`)."""
        if index not in OPTIMISM_INDEXES:
            raise ValueError(f"index {index!r}: choose from {list(OPTIMISM_INDEXES)}")
        return float(self.table.set_index("index").loc[index, "corrected"])

    def summary(self) -> str:
        """One line: apparent -> corrected C, calibration slope and O/E, resamples used and failed."""
        t = self.table.set_index("index")
        used = int(t["n_used"].min())
        parts = [f"{lab} {t.loc[k, 'apparent']:.3f} -> {t.loc[k, 'corrected']:.3f}"
                 for k, lab in (("harrell_c", "C"), ("calibration_slope", "slope"), ("oe_ratio", "O/E"))]
        failed = int(self.failures["resample"][self.failures["stage"] == "fit"].nunique())
        return (f"optimism-corrected bootstrap (B = {self.n_boot}, apparent -> corrected): "
                f"{', '.join(parts)}; {used} resample(s) used, {failed} failed to fit")

    def _repr_html_(self) -> str:
        return repr_html(f"OptimismResult {self.model}: B = {self.n_boot}, horizon {self.horizon:g} d",
                         self.table, self.notes)


def optimism_indexes(time, event, risk, *, horizon: float) -> dict:
    """The indexes of the optimism bootstrap for one risk vector (NaN where not estimable).

    The same definitions the bootstrap uses, e.g. for the out-of-fold risks of a
    cross-validation shown beside the bootstrap's corrected values.

    Parameters
    ----------
    time, event : array-like of shape (n,)
    risk : array-like of shape (n,)
        Predicted risk by ``horizon``.
    horizon : float

    Returns
    -------
    dict
        ``{index: value}`` for :data:`OPTIMISM_INDEXES`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> risk = rng.uniform(0.05, 0.5, 300)
    >>> t = rng.exponential(1000 / risk)
    >>> v = optimism_indexes(np.minimum(t, 2000), t < 2000, risk, horizon=1000)
    >>> sorted(v) == sorted(OPTIMISM_INDEXES), bool(v["harrell_c"] > 0.5), v["dxy"] == 2 * v["harrell_c"] - 1
    (True, True, True)
    """
    t = np.asarray(time, dtype=float)
    return _index_values(t, np.asarray(event, dtype=float), np.asarray(risk, dtype=float),
                         check_horizon(horizon))[0]


def _index_values(t, e, risk, horizon) -> tuple[dict, dict]:
    """``({index: value}, {index: reason})`` of one risk vector; an index that cannot be estimated is NaN."""
    vals: dict = {}
    why: dict = {}

    def slope():
        return float(fit_cox(cloglog(risk)[:, None], t, e, ties="efron").coef[0])

    for name, fn in (("harrell_c", lambda: harrell_c(t, e, risk)),
                     ("calibration_slope", slope),
                     ("oe_ratio", lambda: oe_ratio_t(t, e, risk, horizon=horizon)),
                     ("brier", lambda: brier_t(t, e, risk, horizon=horizon).estimate)):
        try:
            v = float(fn())
        except (NotEstimableError, ZeroDivisionError, np.linalg.LinAlgError) as exc:
            v, why[name] = float("nan"), f"{type(exc).__name__}: {exc}"
        if not np.isfinite(v) and name not in why:
            why[name] = f"not finite ({v})"
        vals[name] = v
    vals["dxy"] = 2.0 * vals["harrell_c"] - 1.0
    if "harrell_c" in why:
        why["dxy"] = why["harrell_c"]
    return vals, why


def _fit_predict(factory, seed, X, t, e, rows, horizon):
    """Fit a fresh pipeline on ``rows`` and predict every row of ``X``; warnings are returned, not printed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = factory(seed, {})
        est.fit(X.iloc[rows], make_y(t[rows], e[rows]))
        risk = np.asarray(est.predict_risk(X, horizon=horizon), dtype=float)
    if risk.shape != (len(t),) or not np.all(np.isfinite(risk)):
        raise ValueError("the refitted model returned non-finite risks")
    notes = list(getattr(est.steps[-1][1] if hasattr(est, "steps") else est, "convergence_notes_", None) or [])
    return risk, notes + [f"{w.category.__name__}: {w.message}" for w in caught]


def _resample(factory, X, t, e, idx, b, *, random_state, horizon):
    """``(b, {index: (train, test)}, failures, warnings)`` of resample ``b`` (rows ``idx``)."""
    try:
        risk, warned = _fit_predict(factory, task_seed(random_state, 3, b), X, t, e, idx, horizon)
    except _FIT_ERRORS as exc:
        return b, {}, [(b, "fit", f"{type(exc).__name__}: {exc}")], []
    train, why_tr = _index_values(t[idx], e[idx], risk[idx], horizon)
    test, why_te = _index_values(t, e, risk, horizon)
    fails = [(b, k, f"bootstrap sample: {why_tr[k]}" if k in why_tr else f"original sample: {why_te[k]}")
             for k in OPTIMISM_INDEXES if k in why_tr or k in why_te]
    return b, {k: (train[k], test[k]) for k in OPTIMISM_INDEXES}, fails, warned


def _check_indices(indices, n) -> np.ndarray:
    idx = np.asarray(indices)
    if idx.ndim != 2 or idx.shape[1] != n or idx.shape[0] < 1:
        raise ValueError(f"indices must have shape (B, n) with n = {n} rows; got {idx.shape}")
    if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"indices must be integer row positions in [0, {n - 1}] (0-based)")
    return idx.astype(np.int64)


def optimism_bootstrap(
    model,
    X,
    y,
    *,
    horizon: float,
    n_boot: int = 200,
    random_state: int | None = None,
    params: Mapping | None = None,
    n_jobs: int = 1,
    indices=None,
) -> OptimismResult:
    """Optimism-corrected bootstrap validation of a whole pipeline (Efron–Gong, as ``rms::validate``).

    Parameters
    ----------
    model : str, estimator or callable
        What :func:`cross_validate_risk` accepts: a model name (built with
        ``make_model(name, horizon=horizon, ...)``), an unfitted estimator such
        as ``make_model(...)`` (cloned for every resample) or a factory
        ``f(random_state=seed, **params)``.  Every preprocessing and selection
        step inside it is refitted in each resample, so selection optimism is
        counted.  A hyper-parameter search outside the pipeline is not repeated:
        pass its chosen values in ``params``.
    X : DataFrame of shape (n, p)
    y : structured array
        From :func:`make_y`.
    horizon : float
        Days; the risk is the probability of an event by it (O/E, Brier, cloglog).
    n_boot : int, default 200
        Resamples (ignored when ``indices`` is given).
    random_state : int
        Seed of the resamples (replicate ``b`` from ``SeedSequence(random_state,
        spawn_key=(b,))``) and of the model fits (``task_seed(random_state, 3, b)``;
        the apparent fit uses ``task_seed(random_state, 2)`` as :func:`fit_final_model`).
    params : dict, optional
        Fixed model parameters.
    n_jobs : int, default 1
        Parallel resamples (joblib); the results do not depend on it.
    indices : array-like of shape (B, n), optional
        Given bootstrap row indices (0-based) instead of drawn ones, e.g. to
        reproduce another program's resamples.

    Returns
    -------
    OptimismResult

    Raises
    ------
    ValueError
        No seed (without ``indices``), ``n_boot`` < 1, malformed ``indices``,
        or a failure of the fit on all rows.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> data = assemble_cohort(simulate_cohort(300, mode="established-cad", seed=2))
    >>> X = data.X[data.columns(["clinical"])]
    >>> y = make_y(data.time, data.event)
    >>> res = optimism_bootstrap("coxph", X, y, horizon=1826, n_boot=5, random_state=0)
    >>> list(res.to_frame()["index"])
    ['harrell_c', 'dxy', 'calibration_slope', 'oe_ratio', 'brier']
    >>> t = res.to_frame().set_index("index")
    >>> bool(t.loc["harrell_c", "optimism"] > 0), int(t.loc["harrell_c", "n_used"])
    (True, 5)
    """
    horizon = check_horizon(horizon)
    t, e = check_y(y, n=len(X))
    n = len(t)
    if indices is None:
        if random_state is None:
            raise ValueError("random_state is required (an int): results must be reproducible")
        if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
            raise ValueError(f"n_boot must be an integer >= 1; got {n_boot!r}")
        idx = StratifiedBootstrap(np.zeros(n), int(n_boot), random_state=random_state).indices(range(n_boot))
    else:
        idx = _check_indices(indices, n)
    seed = 0 if random_state is None else int(random_state)
    factory = task_factory(model, horizon, params)
    risk0, warned0 = _fit_predict(factory, task_seed(seed, 2), X, t, e, np.arange(n), horizon)
    apparent, why0 = _index_values(t, e, risk0, horizon)
    results = Parallel(n_jobs=n_jobs)(
        delayed(_resample)(factory, X, t, e, idx[b], b, random_state=seed, horizon=horizon)
        for b in range(idx.shape[0]))
    rows, fails, warned = [], [], []
    for b, vals, f, w in sorted(results, key=lambda r: r[0]):
        rows += [{"resample": b, "index": k, "train": tr, "test": te} for k, (tr, te) in vals.items()]
        fails += f
        warned += w
    per = pd.DataFrame(rows, columns=["resample", "index", "train", "test"])
    failures = pd.DataFrame(fails, columns=["resample", "stage", "reason"])
    table = _table(apparent, per, failures)
    notes = _notes(idx.shape[0], random_state, indices is not None, horizon, failures, warned0 + warned, why0)
    return OptimismResult(table=table, per_resample=per, failures=failures, indices=idx,
                          model=model_label(model), horizon=horizon, n_boot=int(idx.shape[0]),
                          random_state=random_state, notes=tuple(notes))


def _table(apparent: dict, per: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    n_fit_failed = int(failures.loc[failures["stage"] == "fit", "resample"].nunique())
    out = []
    for k in OPTIMISM_INDEXES:
        d = per[per["index"] == k]
        ok = np.isfinite(d["train"].to_numpy(float)) & np.isfinite(d["test"].to_numpy(float))
        tr = float(d["train"][ok].mean()) if ok.any() else float("nan")
        te = float(d["test"][ok].mean()) if ok.any() else float("nan")
        opt = tr - te
        out.append({"index": k, "apparent": apparent[k], "bootstrap_train": tr, "bootstrap_test": te,
                    "optimism": opt, "corrected": apparent[k] - opt, "n_used": int(ok.sum()),
                    "n_failed": n_fit_failed + int((~ok).sum())})
    return pd.DataFrame(out, columns=list(OPTIMISM_COLUMNS))


def _notes(B, random_state, given, horizon, failures, warned, why0) -> list[str]:
    src = "given bootstrap indices" if given else f"seed {random_state}"
    notes = [f"optimism-corrected bootstrap validation (Efron-Gong, as rms::validate): {B} resample(s) "
             f"({src}), the whole pipeline refitted in each and evaluated on its bootstrap sample and on "
             f"the original sample; O/E and Brier at {horizon:g} days; calibration slope = Cox slope of "
             "the outcome on cloglog(risk)"]
    n_fit = int(failures.loc[failures["stage"] == "fit", "resample"].nunique())
    if n_fit:
        reasons = sorted(set(failures.loc[failures["stage"] == "fit", "reason"]))
        notes.append(f"optimism bootstrap: {n_fit} of {B} resample(s) failed to fit and were left out: "
                     + "; ".join(reasons[:5]) + (" ..." if len(reasons) > 5 else ""))
    other = failures[failures["stage"] != "fit"]
    for k, d in other.groupby("stage", sort=False):
        notes.append(f"optimism bootstrap: {k} not estimable in {len(d)} resample(s) (left out of its "
                     f"mean): {d['reason'].iloc[0]}")
    for k, why in why0.items():
        notes.append(f"optimism bootstrap: apparent {k} not estimable: {why}")
    if warned:
        notes.append(f"optimism bootstrap: the fits reported {len(warned)} warning(s) (not printed): "
                     + "; ".join(sorted(set(warned))[:3]))
    return notes
