"""The nested hyperparameter search of the validation protocol.

A fixed candidate list is drawn once from the seed (:func:`search_plan`); in
each outer training fold (and for the final model, on all patients) the
candidates are tried in list order, each scored by Harrell's C of its inner-CV
out-of-fold risk, and the first best wins (:func:`timed_search`).  The
wall-clock budget (``budget_seconds``) is opt-in: by default every candidate is
tried, so results never depend on machine speed unless a budget is asked for.
"""

from __future__ import annotations

import time as _time
from collections.abc import Mapping, Sequence

import numpy as np

from ..stats import NotEstimableError, harrell_c
from ._base import make_y
from ._folds import make_folds, task_seed

__all__ = ["DEFAULT_SEARCH_SPACE", "SEARCHABLE_MODELS", "search_plan", "timed_search"]

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


def search_plan(search, random_state: int) -> tuple[dict | None, list[dict] | None]:
    """The checked search settings and the candidate list (``(None, None)`` without a search).

    The candidates are drawn once from ``task_seed(random_state, 104729)``.
    """
    s = _check_search(search)
    if s is None:
        return None, None
    return s, _candidates(s["param_distributions"], s["n_iter"], task_seed(random_state, 104729))


def _check_search(search) -> dict | None:
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



def timed_search(factory, X, t, e, groups, candidates, search: dict, *, seed: int, horizon: float):
    """Run :func:`_search` with the inner seed ``task_seed(seed, 1)``; returns (chosen params, info).

    ``info`` holds ``params, inner_harrell_c, n_tried, truncated, seconds``.
    """
    s0 = _time.perf_counter()
    params, score, tried, truncated = _search(
        factory, X, t, e, groups, candidates, inner_folds=search["inner_folds"],
        budget=search["budget_seconds"], seed=task_seed(seed, 1), horizon=horizon)
    info = {"params": params, "inner_harrell_c": score, "n_tried": tried,
            "truncated": truncated, "seconds": _time.perf_counter() - s0}
    return params, info
