"""Validation protocol: repeated, stratified, grouped K-fold with a nested time-bounded search.

:func:`cross_validate_risk` gives an out-of-fold (OOF) predicted risk by the
horizon for every patient and repeat.  The folds are stratified on the event
and grouped (all rows of a group, by default a patient, share a fold).  For the
xgboost models an optional random search runs inside each outer training fold
(inner 3-fold CV, scored by Harrell's C): the candidate list is fixed by the seed,
candidates are tried in order, and ``budget_seconds`` caps the time spent per
outer fold (see :func:`cross_validate_risk`, Notes).  Every (repeat, fold) task
gets its own seed derived from ``random_state``, so the results are identical
for the same seed whatever ``n_jobs`` is.
"""

from __future__ import annotations

import html
import json
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..stats import NotEstimableError, check_horizon, harrell_c, td_auc, uno_c
from ._base import make_y
from ._estimators import make_model
from ._registry import MODEL_NAMES

__all__ = [
    "CVResult",
    "cross_validate_risk",
    "fit_final_model",
    "make_folds",
    "task_seed",
    "DEFAULT_SEARCH_SPACE",
    "SEARCHABLE_MODELS",
]

#: Models that get the nested hyperparameter search by default.
SEARCHABLE_MODELS = ("xgb-binary", "xgb-cox", "xgb-aft")

#: Default random-search space for the xgboost models (lists are sampled uniformly).
DEFAULT_SEARCH_SPACE: Mapping[str, Sequence] = {
    "n_estimators": [100, 200, 300, 500],
    "max_depth": [1, 2, 3, 4],
    "learning_rate": [0.01, 0.02, 0.05, 0.1],
    "min_child_weight": [1, 5, 10, 20],
    "subsample": [0.6, 0.8, 1.0],
    "colsample_bytree": [0.5, 0.8, 1.0],
    "reg_lambda": [0.1, 1.0, 10.0],
}

_MSG_FEW_EVENTS = ("{what}: {k} event(s) among {n} rows is fewer than folds={folds}; "
                   "use fewer folds or more data")
_MSG_EMPTY_BLOCKS = ("blocks {blocks}: no feature column in this cohort (block(s) {empty} are empty; "
                     "e.g. radiomics need assemble_cohort(..., radiomics=...))")


# ---------------------------------------------------------------------------
# seeds and folds
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# model factory
# ---------------------------------------------------------------------------


def _model_name(model) -> str:
    if isinstance(model, str):
        return model
    return getattr(model, "name", None) or getattr(model, "__name__", None) or type(model).__name__


def _factory(model, horizon: float) -> Callable:
    """``factory(random_state, params) -> unfitted estimator``."""
    if isinstance(model, str):
        if model not in MODEL_NAMES:
            raise ValueError(f"model {model!r} is not one of {list(MODEL_NAMES)}")
        return _NamedFactory(model, float(horizon))
    if hasattr(model, "get_params") and hasattr(model, "fit"):
        return _EstimatorFactory(model)
    if callable(model):
        return _CallableFactory(model)
    raise TypeError(
        "model must be a model name, an unfitted estimator (e.g. make_model(...)) or a callable factory; "
        f"got {type(model).__name__}"
    )


class _NamedFactory:
    """Picklable ``make_model`` wrapper (for joblib workers)."""

    def __init__(self, name: str, horizon: float):
        self.name, self.horizon = name, horizon

    def __call__(self, random_state: int, params: Mapping) -> object:

        params = dict(params)
        if self.name.startswith("xgb") and "nthread" not in params:
            params["nthread"] = 1  # one thread per task: parallelism is over tasks (n_jobs)
        return make_model(self.name, horizon=self.horizon, random_state=random_state, **params)


class _EstimatorFactory:
    """Clones an estimator (e.g. ``make_model(...)``) for each task, with the task's seed and parameters."""

    def __init__(self, estimator):
        self.estimator = estimator

    def __call__(self, random_state: int, params: Mapping) -> object:
        from sklearn.base import clone

        est = clone(self.estimator)
        names = est.get_params(deep=True)
        update = {}
        for key in ("random_state", "model__random_state"):
            if key in names:
                update[key] = random_state
        for key, value in dict(params).items():
            if key in names:
                update[key] = value
            elif f"model__{key}" in names:
                update[f"model__{key}"] = value
            else:
                raise ValueError(f"parameter {key!r} is not a parameter of {type(est).__name__}")
        return est.set_params(**update)


class _CallableFactory:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, random_state: int, params: Mapping) -> object:
        return self.fn(random_state=random_state, **dict(params))


def _check_search(search, model) -> dict | None:
    if search is None or search is False:
        return None
    if search is True:
        search = {}
    if not isinstance(search, Mapping):
        raise TypeError("search must be None, True or a dict with param_distributions, n_iter, "
                        "budget_seconds, inner_folds")
    unknown = set(search) - {"param_distributions", "n_iter", "budget_seconds", "inner_folds"}
    if unknown:
        raise ValueError(f"search: unknown key(s) {sorted(unknown)}")
    s = {
        "param_distributions": dict(search.get("param_distributions") or DEFAULT_SEARCH_SPACE),
        "n_iter": int(search.get("n_iter", 8)),
        "budget_seconds": search.get("budget_seconds"),
        "inner_folds": int(search.get("inner_folds", 3)),
    }
    if s["n_iter"] < 1:
        raise ValueError(f"search: n_iter must be >= 1; got {s['n_iter']}")
    if s["budget_seconds"] is not None and not float(s["budget_seconds"]) > 0:
        raise ValueError(f"search: budget_seconds must be > 0; got {s['budget_seconds']!r}")
    return s


def _candidates(space: Mapping, n_iter: int, seed: int) -> list[dict]:
    """The fixed candidate list: ``n_iter`` draws from ``space`` (lists: uniform; scipy: rvs)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_iter):
        cand = {}
        for k in sorted(space):
            v = space[k]
            if hasattr(v, "rvs"):
                x = v.rvs(random_state=rng)
                cand[k] = x.item() if hasattr(x, "item") else x
            else:
                vals = list(v)
                x = vals[int(rng.integers(len(vals)))]
                cand[k] = x.item() if hasattr(x, "item") else x
        out.append(cand)
    return out


def _harrell(t, e, r) -> float:

    try:
        return harrell_c(t, e, r)
    except NotEstimableError:
        return float("nan")


def _search(factory, X, t, e, groups, candidates, *, inner_folds, budget, seed, horizon):
    """Inner CV over ``candidates`` in order; returns (best params, best score, n tried, truncated)."""

    fold_ids = make_folds(e, groups=groups, folds=inner_folds, repeats=1, random_state=seed)[0]
    start = _time.perf_counter()
    best, best_score, tried, truncated = candidates[0], -np.inf, 0, False
    for i, cand in enumerate(candidates):
        if budget is not None and i > 0 and _time.perf_counter() - start > float(budget):
            truncated = True
            break
        risk = np.empty(len(t))
        for k in range(inner_folds):
            tr, te = fold_ids != k, fold_ids == k
            est = factory(task_seed(seed, i, k), cand)
            est.fit(X.iloc[tr], make_y(t[tr], e[tr]))
            risk[te] = est.predict_risk(X.iloc[te], horizon=horizon)
        score = _harrell(t, e, risk)
        tried += 1
        if np.isfinite(score) and score > best_score:
            best, best_score = cand, score
    return best, float(best_score), tried, truncated


def _run_task(factory, X, t, e, groups, train, test, *, seed, horizon, search, candidates):

    Xtr, ttr, etr = X.iloc[train], t[train], e[train]
    info = {}
    params: dict = {}
    if search is not None:
        s0 = _time.perf_counter()
        gtr = None if groups is None else groups[train]
        params, score, tried, truncated = _search(
            factory, Xtr, ttr, etr, gtr, candidates, inner_folds=search["inner_folds"],
            budget=search["budget_seconds"], seed=task_seed(seed, 1), horizon=horizon)
        info = {"params": params, "inner_harrell_c": score, "n_tried": tried,
                "truncated": truncated, "seconds": _time.perf_counter() - s0}
    est = factory(task_seed(seed, 2), params)
    est.fit(Xtr, make_y(ttr, etr))
    risk = np.asarray(est.predict_risk(X.iloc[test], horizon=horizon), dtype=float)
    return risk, info


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CVResult:
    """Out-of-fold risks of a repeated cross-validation.

    Attributes
    ----------
    oof : DataFrame
        One row per patient and repeat: ``patient_id, repeat, fold, risk,
        time, event`` (risk = predicted probability of MACE by ``horizon``).
    model : str
    blocks : tuple of str
    columns : tuple of str
        Feature columns used.
    horizon : float
    repeats, folds, random_state : int
    search : DataFrame or None
        Per (repeat, fold): chosen parameters (JSON), inner Harrell C,
        candidates tried, whether the time budget stopped the search, seconds.
    notes : tuple of str
    """

    oof: pd.DataFrame = field(repr=False)
    model: str
    blocks: tuple[str, ...]
    columns: tuple[str, ...] = field(repr=False)
    horizon: float
    repeats: int
    folds: int
    random_state: int
    search: pd.DataFrame | None = field(default=None, repr=False)
    notes: tuple[str, ...] = field(default=(), repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The OOF table (a copy)."""
        return self.oof.copy()

    def mean_risk(self) -> pd.Series:
        """OOF risk averaged over repeats, per patient (input order)."""
        ids = pd.unique(self.oof["patient_id"])
        return self.oof.groupby("patient_id", sort=False)["risk"].mean().reindex(ids)

    def outcome(self) -> pd.DataFrame:
        """``time, event`` per patient (input order)."""
        first = self.oof[self.oof["repeat"] == 0]
        return first.set_index("patient_id")[["time", "event"]]

    def scores(self) -> pd.DataFrame:
        """Harrell C, Uno C and time-dependent AUC at the horizon, per repeat and of the mean risk."""

        def row(label, t, e, r):
            out = {"repeat": label, "harrell_c": harrell_c(t, e, r)}
            for name, fn in (("uno_c", lambda: uno_c(t, e, r, horizon=self.horizon)),
                             ("td_auc", lambda: td_auc(t, e, r, horizon=self.horizon).estimate)):
                try:
                    out[name] = fn()
                except NotEstimableError:
                    out[name] = float("nan")
            return out

        rows = []
        for rep, d in self.oof.groupby("repeat", sort=True):
            rows.append(row(str(rep), d["time"].to_numpy(), d["event"].to_numpy(), d["risk"].to_numpy()))
        y = self.outcome()
        rows.append(row("mean_risk", y["time"].to_numpy(), y["event"].to_numpy(),
                        self.mean_risk().to_numpy()))
        return pd.DataFrame(rows)

    def _repr_html_(self) -> str:
        return (f"<p><b>CVResult</b> {html.escape(self.model)} on {html.escape('+'.join(self.blocks))}: "
                f"{self.repeats}x{self.folds}-fold, horizon {self.horizon:g} d</p>"
                + self.scores().to_html(index=False, float_format=lambda v: f"{v:.4f}"))


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------


def _features(data, blocks) -> tuple[tuple[str, ...], list[str]]:
    if isinstance(blocks, str):
        blocks = [b for b in blocks.split(",") if b]
    blocks = tuple(dict.fromkeys(blocks))
    if not blocks:
        raise ValueError("blocks: at least one block is required")
    cols = data.columns(blocks)
    if not cols:
        empty = [b for b in blocks if not data.blocks.get(b)]
        raise ValueError(_MSG_EMPTY_BLOCKS.format(blocks=list(blocks), empty=empty))
    return blocks, cols


def _arrays(data):
    t = data.time.to_numpy(float)
    e = data.event.to_numpy(float)
    return t, e


def cross_validate_risk(
    model,
    data,
    *,
    blocks,
    horizon: float,
    random_state: int,
    repeats: int = 5,
    folds: int = 5,
    n_jobs: int = 1,
    search=None,
    groups=None,
    params: Mapping | None = None,
) -> CVResult:
    """Repeated stratified grouped K-fold cross-validation with out-of-fold risks.

    Parameters
    ----------
    model : str or callable
        A name of :data:`radiorisk.models.MODEL_NAMES` (built with
        ``make_model(name, horizon=horizon, random_state=seed, **params)``), or a
        factory ``f(random_state=seed, **params)`` returning an unfitted
        estimator with ``fit(X, y)`` and ``predict_risk(X, horizon=)``.
    data : CohortData
        From :func:`radiorisk.features.assemble_cohort`.
    blocks : str or sequence of str
        Modality blocks to use (``"clinical,ccta"`` or ``["clinical", "ccta"]``).
    horizon : float
        Prediction horizon in days; the risk is the probability of MACE by it.
    random_state : int
        Seed of the folds, the search candidates and every model fit.
    repeats, folds : int
        Repeats of K-fold (default 5 x 5).
    n_jobs : int
        Parallel (repeat, fold) tasks (joblib).  Results do not depend on it.
    search : None, True or dict, optional
        Nested random search inside each outer training fold: ``True`` uses
        the defaults, or a dict with ``param_distributions`` (default
        :data:`DEFAULT_SEARCH_SPACE`), ``n_iter`` (default 8),
        ``budget_seconds`` (time cap per outer fold, default none) and
        ``inner_folds`` (default 3).  Default None: no search.
    groups : array-like, optional
        Grouping of the rows for the folds (default: ``patient_id``, one row per
        patient).
    params : dict, optional
        Fixed model parameters (the search draws the rest).

    Returns
    -------
    CVResult

    Raises
    ------
    ValueError
        Empty blocks, fewer events than folds, missing seed.

    Notes
    -----
    *Seeds.* Fold assignment of repeat ``r`` uses ``task_seed(random_state,
    7919, r)``; task ``(r, k)`` uses ``task_seed(random_state, r, k)`` for its
    inner folds and model fits; the search candidates are drawn once from
    ``task_seed(random_state, 104729)``.  Tasks run in any order or process
    and their results are placed by (r, k), so ``n_jobs`` does not change them.

    *Search.* The candidate list is the same in every outer fold; each is
    scored by Harrell's C of the inner-CV OOF risk and the first best wins.
    Candidates are tried in list order; with ``budget_seconds`` the search of
    an outer fold stops before a candidate once the time spent exceeds the
    budget (at least one candidate is always tried).  The number tried is
    recorded in ``CVResult.search``; only when a budget cuts a search short
    (``truncated``) can results depend on machine speed, and a note says so.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> data = assemble_cohort(simulate_cohort(400, mode="established-cad", seed=2))
    >>> cv = cross_validate_risk("coxph", data, blocks="clinical", horizon=1826,
    ...                          repeats=2, folds=3, random_state=0)
    >>> cv.oof.shape[0] == 2 * 400, list(cv.oof.columns)
    (True, ['patient_id', 'repeat', 'fold', 'risk', 'time', 'event'])
    """
    from joblib import Parallel, delayed

    horizon = check_horizon(horizon)
    if random_state is None:
        raise ValueError("random_state is required (an int): results must be reproducible")
    blocks, cols = _features(data, blocks)
    X = data.X[cols]
    t, e = _arrays(data)
    n_ev = int(e.sum())
    if n_ev < folds:
        raise ValueError(_MSG_FEW_EVENTS.format(what="cross_validate_risk", k=n_ev, n=len(e), folds=folds))
    grp = data.X.index.to_numpy() if groups is None else np.asarray(groups)
    fold_ids = make_folds(e, groups=grp, folds=folds, repeats=repeats, random_state=random_state)
    factory = _factory(model, horizon)
    if params:
        factory = _Fixed(factory, dict(params))
    s = _check_search(search, model)
    candidates = None
    if s is not None:
        candidates = _candidates(s["param_distributions"], s["n_iter"], task_seed(random_state, 104729))
    tasks = [(r, k) for r in range(repeats) for k in range(folds)]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_run_task)(factory, X, t, e, grp, np.flatnonzero(fold_ids[r] != k),
                           np.flatnonzero(fold_ids[r] == k), seed=task_seed(random_state, r, k),
                           horizon=horizon, search=s, candidates=candidates)
        for r, k in tasks)
    risk = np.empty((repeats, len(t)))
    search_rows = []
    for (r, k), (rk, info) in zip(tasks, results, strict=True):
        risk[r, fold_ids[r] == k] = rk
        if info:
            search_rows.append({"repeat": r, "fold": k, "params": json.dumps(info["params"], sort_keys=True),
                                "inner_harrell_c": info["inner_harrell_c"], "n_tried": info["n_tried"],
                                "truncated": info["truncated"], "seconds": info["seconds"]})
    ids = data.X.index.astype(str)
    oof = pd.DataFrame({
        "patient_id": np.tile(ids, repeats),
        "repeat": np.repeat(np.arange(repeats), len(t)),
        "fold": fold_ids.ravel(),
        "risk": risk.ravel(),
        "time": np.tile(t, repeats),
        "event": np.tile(e.astype(int), repeats),
    })
    notes = [f"{repeats} x {folds}-fold cross-validation stratified on the event and grouped by "
             f"patient; seed {random_state}; out-of-fold risk by {horizon:g} days"]
    search_df = None
    if search_rows:
        search_df = pd.DataFrame(search_rows)
        notes.append(f"nested random search: {s['n_iter']} candidate(s), inner {s['inner_folds']}-fold "
                     f"CV scored by Harrell's C, budget {s['budget_seconds']} s per outer fold")
        k_trunc = int(search_df["truncated"].sum())
        if k_trunc:
            notes.append(f"the time budget stopped the search early in {k_trunc} outer fold(s): "
                         "results may depend on machine speed")
    if not np.all(np.isfinite(risk)):
        raise ValueError("the model returned non-finite risks")
    return CVResult(oof=oof, model=_model_name(model), blocks=blocks, columns=tuple(cols),
                    horizon=horizon, repeats=repeats, folds=folds, random_state=int(random_state),
                    search=search_df, notes=tuple(notes))


class _Fixed:
    """A factory with fixed parameters under the searched ones."""

    def __init__(self, factory, fixed):
        self.factory, self.fixed = factory, fixed

    def __call__(self, random_state, params):
        return self.factory(random_state, {**self.fixed, **dict(params)})


def fit_final_model(
    model,
    data,
    *,
    blocks,
    horizon: float,
    random_state: int,
    search=None,
    params: Mapping | None = None,
):
    """Fit the model on all patients (after the same search as in the CV, on all data).

    Parameters
    ----------
    model, data, blocks, horizon, random_state, search, params
        As in :func:`cross_validate_risk`.

    Returns
    -------
    estimator, dict
        The fitted estimator and ``{"params", "inner_harrell_c", "n_tried",
        "truncated", "seconds", "columns"}`` (search keys only with a search).
    """

    horizon = check_horizon(horizon)
    blocks, cols = _features(data, blocks)
    X = data.X[cols]
    t, e = _arrays(data)
    factory = _factory(model, horizon)
    if params:
        factory = _Fixed(factory, dict(params))
    s = _check_search(search, model)
    candidates = None
    if s is not None:
        candidates = _candidates(s["param_distributions"], s["n_iter"], task_seed(random_state, 104729))
    all_rows = np.arange(len(t))

    info: dict = {}
    chosen: dict = {}
    if s is not None:
        s0 = _time.perf_counter()
        chosen, score, tried, truncated = _search(
            factory, X, t, e, data.X.index.to_numpy(), candidates, inner_folds=s["inner_folds"],
            budget=s["budget_seconds"], seed=task_seed(random_state, 1), horizon=horizon)
        info = {"params": chosen, "inner_harrell_c": score, "n_tried": tried, "truncated": truncated,
                "seconds": _time.perf_counter() - s0}
    est = factory(task_seed(random_state, 2), chosen)
    est.fit(X.iloc[all_rows], make_y(t, e))
    info["columns"] = list(cols)
    return est, info
