"""The nested hyperparameter search of the validation protocol.

A fixed candidate list is drawn once from the seed (:func:`search_plan`); in
each outer training fold (and for the final model, on all patients) every
candidate is tried in list order (:func:`timed_search`).  The default
strategy, ``"holdout"``, is deterministic and fast:

- one inner split: fold 0 of an event-stratified ``inner_folds``-fold split
  of the training rows (grouped by ``groups``) is the validation set;
- each candidate is boosted on the other rows for at most ``max_rounds``
  rounds with early stopping (``early_stopping_rounds``; the estimator holds
  out its own deterministic share of those rows for it, so the validation
  set only scores);
- candidates are ranked by the IPCW Brier score at the horizon on the
  validation set (:func:`radiorisk.stats.brier_t`), which sees calibration
  as well as discrimination; Harrell's C breaks ties, then list order;
- the winner is refitted on the whole training fold with the number of
  rounds early stopping chose for it.

``"inner-cv"`` is the earlier protocol (inner K-fold CV of every candidate,
the number of rounds drawn from the space, ranked by Harrell's C), kept for
comparisons (``benchmarks/bench_tuning.py``).  The wall-clock budget
(``budget_seconds``) is opt-in: without it nothing computed depends on machine
speed.  See ``docs/tuning.md``.
"""

from __future__ import annotations

import time as _time
from collections.abc import Mapping, Sequence

import numpy as np

from ..stats import NotEstimableError, brier_t, harrell_c
from ._base import make_y
from ._folds import make_folds, task_seed

__all__ = ["DEFAULT_SEARCH_SPACE", "AFT_SEARCH_SPACE", "INNER_CV_SEARCH_SPACE", "SEARCHABLE_MODELS",
           "SEARCH_STRATEGIES", "search_space", "search_plan", "describe_search", "timed_search"]

#: Models that get the nested hyperparameter search by default.
SEARCHABLE_MODELS = ("xgb-binary", "xgb-cox", "xgb-aft")

#: Search strategies (see the module notes).
SEARCH_STRATEGIES = ("holdout", "inner-cv")

#: Default random-search space of the xgboost models (lists are sampled uniformly); the number
#: of rounds is set by early stopping.
DEFAULT_SEARCH_SPACE: Mapping[str, Sequence] = {
    "max_depth": [1, 2, 3, 4],
    "learning_rate": [0.03, 0.05, 0.1],
    "min_child_weight": [1, 5, 10, 20],
    "subsample": [0.6, 0.8, 1.0],
    "colsample_bytree": [0.5, 0.8, 1.0],
    "reg_lambda": [0.1, 1.0, 10.0],
}

#: ``xgb-aft`` also searches the scale of its log-time distribution.
AFT_SEARCH_SPACE: Mapping[str, Sequence] = {**DEFAULT_SEARCH_SPACE,
                                            "sigma": [0.5, 0.75, 1.0, 1.25, 1.5, 2.0]}

#: The space of the ``"inner-cv"`` strategy (the pre-issue-16 default).
INNER_CV_SEARCH_SPACE: Mapping[str, Sequence] = {
    "n_estimators": [100, 200, 300, 500],
    "max_depth": [1, 2, 3, 4],
    "learning_rate": [0.01, 0.02, 0.05, 0.1],
    "min_child_weight": [1, 5, 10, 20],
    "subsample": [0.6, 0.8, 1.0],
    "colsample_bytree": [0.5, 0.8, 1.0],
    "reg_lambda": [0.1, 1.0, 10.0],
}

_KEYS = ("param_distributions", "n_iter", "budget_seconds", "inner_folds", "strategy",
         "max_rounds", "early_stopping_rounds")


def _is_aft(model) -> bool:
    if isinstance(model, str):
        return model == "xgb-aft"
    get = getattr(model, "get_params", None)
    if get is None:
        return False
    names = get(deep=True)
    return "sigma" in names or "model__sigma" in names


def search_space(model=None, strategy: str = "holdout") -> dict:
    """The default search space of ``model`` (a name or an estimator) under ``strategy``.

    Examples
    --------
    >>> sorted(search_space("xgb-aft"))[-1], "sigma" in search_space("xgb-cox")
    ('subsample', False)
    >>> "sigma" in search_space("xgb-aft"), "n_estimators" in search_space("xgb-cox", "inner-cv")
    (True, True)
    """
    if strategy == "inner-cv":
        return dict(INNER_CV_SEARCH_SPACE)
    return dict(AFT_SEARCH_SPACE if _is_aft(model) else DEFAULT_SEARCH_SPACE)


def search_plan(search, random_state: int, model=None) -> tuple[dict | None, list[dict] | None]:
    """The checked search settings and the candidate list (``(None, None)`` without a search).

    Parameters
    ----------
    search : None, False, True or dict
        Keys (all optional): ``param_distributions`` (default
        :func:`search_space` of ``model``), ``n_iter`` (8), ``strategy``
        (``"holdout"``), ``inner_folds`` (4 for ``"holdout"``: a quarter of the
        rows validates; 3 for ``"inner-cv"``), ``max_rounds`` (1000) and
        ``early_stopping_rounds`` (25) of the holdout strategy, and
        ``budget_seconds`` (None: no time cap).
    random_state : int
        The candidates are drawn once from ``task_seed(random_state, 104729)``.
    model : str or estimator, optional
        Selects the default space (``xgb-aft`` adds ``sigma``).

    Returns
    -------
    (dict, list of dict) or (None, None)

    Examples
    --------
    >>> s, cands = search_plan({"n_iter": 3}, 0, "xgb-aft")
    >>> s["strategy"], len(cands), sorted(cands[0])[-1], "sigma" in cands[0]
    ('holdout', 3, 'subsample', True)
    >>> search_plan(None, 0)
    (None, None)
    """
    s = _check_search(search, model)
    if s is None:
        return None, None
    return s, _candidates(s["param_distributions"], s["n_iter"], task_seed(random_state, 104729))


def _int_key(search: Mapping, key: str, default: int, low: int) -> int:
    v = search.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < low:
        raise ValueError(f"search: {key} must be an integer >= {low}; got {v!r}")
    return int(v)


def _check_search(search, model=None) -> dict | None:
    if search is None or search is False:
        return None
    if search is True:
        search = {}
    if not isinstance(search, Mapping):
        raise TypeError(f"search must be None, True or a dict with keys {list(_KEYS)}")
    unknown = set(search) - set(_KEYS)
    if unknown:
        raise ValueError(f"search: unknown key(s) {sorted(unknown)}; valid: {list(_KEYS)}")
    strategy = search.get("strategy", "holdout")
    if strategy not in SEARCH_STRATEGIES:
        raise ValueError(f"search: strategy must be one of {list(SEARCH_STRATEGIES)}; got {strategy!r}")
    s = {
        "strategy": strategy,
        "param_distributions": dict(search.get("param_distributions") or search_space(model, strategy)),
        "n_iter": _int_key(search, "n_iter", 8, 1),
        "budget_seconds": search.get("budget_seconds"),
        "inner_folds": _int_key(search, "inner_folds", 4 if strategy == "holdout" else 3, 2),
        "max_rounds": _int_key(search, "max_rounds", 1000, 1),
        "early_stopping_rounds": _int_key(search, "early_stopping_rounds", 25, 1),
    }
    if s["budget_seconds"] is not None and not float(s["budget_seconds"]) > 0:
        raise ValueError(f"search: budget_seconds must be > 0; got {s['budget_seconds']!r}")
    return s


def describe_search(s: dict) -> str:
    """One sentence for a result's notes: how the search chose the parameters.

    Examples
    --------
    >>> describe_search(search_plan(True, 0)[0])[:60]
    'nested random search: 8 candidate(s), each boosted with earl'
    """
    budget = "no time cap" if s["budget_seconds"] is None else \
        f"time cap {s['budget_seconds']} s per outer fold (results then depend on machine speed)"
    if s["strategy"] == "inner-cv":
        return (f"nested random search: {s['n_iter']} candidate(s), inner {s['inner_folds']}-fold CV "
                f"scored by Harrell's C; {budget}")
    return (f"nested random search: {s['n_iter']} candidate(s), each boosted with early stopping "
            f"({s['early_stopping_rounds']} rounds, at most {s['max_rounds']}) and ranked by the IPCW "
            f"Brier score at the horizon on a held-out 1/{s['inner_folds']} of the training fold "
            f"(Harrell's C breaks ties); the winner is refitted on the training fold with its "
            f"early-stopped number of rounds; {budget}")


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


def _brier(t, e, r, horizon) -> float:
    try:
        return float(brier_t(t, e, r, horizon=horizon).estimate)
    except NotEstimableError:
        return float("nan")


def _final_step(est):
    steps = getattr(est, "steps", None)
    return steps[-1][1] if steps else est


def _warnings_of(est, into: list) -> None:
    for w in getattr(_final_step(est), "fit_warnings_", ()):
        if w not in into:
            into.append(w)


def _over_time(budget, start: float, i: int) -> bool:
    return budget is not None and i > 0 and _time.perf_counter() - start > float(budget)


def _search_inner_cv(factory, X, t, e, groups, candidates, s, *, seed, horizon, notes):
    """Inner K-fold CV of every candidate, ranked by Harrell's C of the inner OOF risk."""
    k_folds = s["inner_folds"]
    fold_ids = make_folds(e, groups=groups, folds=k_folds, repeats=1, random_state=seed)[0]
    start = _time.perf_counter()
    best, best_c, tried, truncated = candidates[0], -np.inf, 0, False
    for i, cand in enumerate(candidates):
        if _over_time(s["budget_seconds"], start, i):
            truncated = True
            break
        risk = np.empty(len(t))
        for k in range(k_folds):
            tr, te = fold_ids != k, fold_ids == k
            est = factory(task_seed(seed, i, k), cand)
            est.fit(X.iloc[tr], make_y(t[tr], e[tr]))
            _warnings_of(est, notes)
            risk[te] = est.predict_risk(X.iloc[te], horizon=horizon)
        score = _harrell(t, e, risk)
        tried += 1
        if np.isfinite(score) and score > best_c:
            best, best_c = cand, score
    return dict(best), {"inner_harrell_c": float(best_c), "inner_brier": float("nan"),
                        "n_tried": tried, "truncated": truncated}


def _rank_key(brier: float, c: float, i: int) -> tuple:
    """Lower Brier first, then higher C, then list order (NaN last)."""
    return (brier if np.isfinite(brier) else np.inf, -c if np.isfinite(c) else np.inf, i)


def _search_holdout(factory, X, t, e, groups, candidates, s, *, seed, horizon, notes):
    """Early-stopped fits on the inner training rows, ranked on the held-out rows."""
    fold_ids = make_folds(e, groups=groups, folds=s["inner_folds"], repeats=1, random_state=seed)[0]
    tr, va = fold_ids != 0, fold_ids == 0
    ytr = make_y(t[tr], e[tr])
    start = _time.perf_counter()
    scored, truncated = [], False
    for i, cand in enumerate(candidates):
        if _over_time(s["budget_seconds"], start, i):
            truncated = True
            break
        stop = {"n_estimators": s["max_rounds"], "early_stopping_rounds": s["early_stopping_rounds"]}
        est = factory(task_seed(seed, i), {**cand, **stop})
        est.fit(X.iloc[tr], ytr)
        _warnings_of(est, notes)
        risk = np.asarray(est.predict_risk(X.iloc[va], horizon=horizon), dtype=float)
        rounds = getattr(_final_step(est), "n_estimators_", None)
        chosen = {**cand, "n_estimators": int(rounds)} if rounds is not None else {**cand, **stop}
        scored.append((_rank_key(_brier(t[va], e[va], risk, horizon), _harrell(t[va], e[va], risk), i),
                       chosen))
    key, best = min(scored, key=lambda kv: kv[0])
    brier = key[0] if np.isfinite(key[0]) else float("nan")
    c = -key[1] if np.isfinite(key[1]) else float("nan")
    return best, {"inner_harrell_c": float(c), "inner_brier": float(brier), "n_tried": len(scored),
                  "truncated": truncated}


def timed_search(factory, X, t, e, groups, candidates, search: dict, *, seed: int, horizon: float):
    """Search with the inner seed ``task_seed(seed, 1)``; returns (chosen params, info).

    ``info`` holds ``params`` (with the number of rounds for the holdout
    strategy), ``inner_harrell_c``, ``inner_brier`` (holdout only),
    ``n_tried``, ``truncated``, ``seconds`` (recorded, never used) and
    ``warnings`` (third-party warnings of the candidate fits, as text).
    """
    s0 = _time.perf_counter()
    run = _search_holdout if search.get("strategy", "holdout") == "holdout" else _search_inner_cv
    notes: list[str] = []
    params, info = run(factory, X, t, e, groups, candidates, search, seed=task_seed(seed, 1),
                       horizon=horizon, notes=notes)
    info = {"params": params, **info, "seconds": _time.perf_counter() - s0, "warnings": tuple(notes)}
    return params, info
