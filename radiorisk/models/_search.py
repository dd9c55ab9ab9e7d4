"""The nested hyperparameter search of the validation protocol.

A fixed candidate list is drawn once from the seed (:func:`search_plan`); in
each outer training fold (and for the final model, on all patients) every
candidate is tried in list order (:func:`timed_search`).  The default
strategy, ``"holdout"``, is deterministic and fast:

- an event-stratified ``inner_folds``-fold split of the training rows
  (grouped by ``groups``); rung ``k`` of successive halving fits the
  surviving candidates outside inner fold ``k`` and predicts fold ``k``, and
  the better half survives each rung but the last (``inner_splits`` rungs);
- each fit boosts for at most ``max_rounds`` rounds with early stopping
  (``early_stopping_rounds``; the estimator holds out its own deterministic
  share of its rows for it, so the inner folds only score);
- candidates are ranked by the IPCW Brier score at the horizon pooled over
  the inner folds predicted (:func:`radiorisk.stats.brier_t`), which sees
  calibration as well as discrimination; Harrell's C breaks ties, then list
  order.  When the target has competing events (``status`` with a 2) and the
  model is a competing-risk model (:func:`~radiorisk.models.is_competing`),
  the criterion is the competing-risk Brier score of MACE at the horizon
  (:func:`radiorisk.stats.brier_cr`, ``riskRegression::Score(..., cause = 1)``:
  competing events by the horizon are controls, IPCW weights from the censoring
  of any event) with Wolbers' truncated C (:func:`radiorisk.stats.c_cr`)
  breaking ties, since the censoring-mode Brier score and C judge the risk of a
  world without competing deaths;
- the winner is refitted on the whole training fold with the mean number of
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

from ..stats import NotEstimableError, brier_cr, brier_t, c_cr, harrell_c
from ._base import y_rows
from ._folds import make_folds, task_seed
from ._registry import is_competing

__all__ = ["DEFAULT_SEARCH_SPACE", "AFT_SEARCH_SPACE", "INNER_CV_SEARCH_SPACE", "SEARCHABLE_MODELS",
           "SEARCH_STRATEGIES", "search_space", "search_plan", "describe_search", "timed_search",
           "search_criterion"]

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

#: ``xgb-aft`` also searches the log-time distribution and its scale (MACE times with a few
#: per cent risk a year are near-exponential: "extreme" with sigma about 1, or a wide normal).
AFT_SEARCH_SPACE: Mapping[str, Sequence] = {**DEFAULT_SEARCH_SPACE,
                                            "distribution": ["normal", "logistic", "extreme"],
                                            "sigma": [0.5, 0.75, 1.0, 1.5, 2.0, 3.0]}

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

_KEYS = ("param_distributions", "n_iter", "budget_seconds", "inner_folds", "inner_splits", "strategy",
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
        (``"holdout"``), ``inner_folds`` (3), ``inner_splits`` (rungs of
        successive halving over the inner folds, 3; 1 = a single holdout),
        ``max_rounds`` (1000) and ``early_stopping_rounds`` (50) of the
        holdout strategy, and ``budget_seconds`` (None: no time cap).
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
        "inner_folds": _int_key(search, "inner_folds", 3, 2),
        "inner_splits": _int_key(search, "inner_splits", 3 if strategy == "holdout" else 1, 1),
        "max_rounds": _int_key(search, "max_rounds", 1000, 1),
        "early_stopping_rounds": _int_key(search, "early_stopping_rounds", 50, 1),
    }
    if s["inner_splits"] > s["inner_folds"]:
        raise ValueError(f"search: inner_splits ({s['inner_splits']}) exceeds inner_folds ({s['inner_folds']})")
    if s["budget_seconds"] is not None and not float(s["budget_seconds"]) > 0:
        raise ValueError(f"search: budget_seconds must be > 0; got {s['budget_seconds']!r}")
    return s


def describe_search(s: dict, criterion: str = "censoring") -> str:
    """One sentence for a result's notes: how the search chose the parameters.

    Parameters
    ----------
    s : dict
        The checked settings (:func:`search_plan`).
    criterion : {"censoring", "competing"}
        What ranked the candidates (:func:`search_criterion`).

    Examples
    --------
    >>> describe_search(search_plan(True, 0)[0])[:60]
    'nested random search: 8 candidate(s), each boosted with earl'
    >>> "competing-risk Brier score" in describe_search(search_plan(True, 0)[0], "competing")
    True
    """
    cr = _check_criterion(criterion) == "competing"
    budget = "no time cap" if s["budget_seconds"] is None else \
        f"time cap {s['budget_seconds']} s per outer fold (results then depend on machine speed)"
    c_name = "Wolbers' competing-risk C of MACE (c_cr)" if cr else "Harrell's C"
    if s["strategy"] == "inner-cv":
        return (f"nested random search: {s['n_iter']} candidate(s), inner {s['inner_folds']}-fold CV "
                f"scored by {c_name}; {budget}")
    brier = ("competing-risk Brier score of MACE (brier_cr: competing events by the horizon as controls, "
             "Aalen-Johansen/IPCW)" if cr else "IPCW Brier score")
    return (f"nested random search: {s['n_iter']} candidate(s), each boosted with early stopping "
            f"({s['early_stopping_rounds']} rounds, at most {s['max_rounds']}) and ranked by the {brier} "
            f"at the horizon over {s['inner_splits']} of {s['inner_folds']} inner folds with "
            f"successive halving ({c_name} breaks ties); the winner is refitted on the training fold with its "
            f"early-stopped number of rounds; {budget}")


_CRITERIA = ("censoring", "competing")


def _check_criterion(criterion: str) -> str:
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {list(_CRITERIA)}; got {criterion!r}")
    return criterion


def search_criterion(estimator, status) -> str:
    """``"competing"`` when a competing-risk ``estimator`` meets a target with competing events, else ``"censoring"``.

    Parameters
    ----------
    estimator : estimator or pipeline
        An (unfitted) candidate of the search.
    status : array-like of shape (n,) or None
        The target's event type (0 censored, 1 MACE, 2 competing event).

    Returns
    -------
    str
        ``"competing"``: candidates are ranked by :func:`radiorisk.stats.brier_cr` with
        :func:`radiorisk.stats.c_cr` breaking ties (``inner-cv``: by ``c_cr``);
        ``"censoring"``: by :func:`radiorisk.stats.brier_t` and Harrell's C.  A
        censoring-mode model (competing events censored) keeps the censoring criterion:
        its estimand is the risk with competing events censored.

    Examples
    --------
    >>> from radiorisk.models import make_model
    >>> search_criterion(make_model("xgb-cox", competing_risks=True), [0, 1, 2])
    'competing'
    >>> search_criterion(make_model("xgb-cox"), [0, 1, 2]), search_criterion(make_model("fg"), [0, 1, 1])
    ('censoring', 'censoring')
    """
    if status is None or not np.any(np.asarray(status) == 2):
        return "censoring"
    return "competing" if is_competing(estimator) else "censoring"


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


def _c_score(crit, t, e, status, r, horizon) -> float:
    """The tie-break C: Harrell's C of MACE, or Wolbers' competing-risk C (``c_cr``)."""
    if crit == "censoring":
        return _harrell(t, e, r)
    try:
        return float(c_cr(t, status, r, horizon=horizon))
    except NotEstimableError:
        return float("nan")


def _brier_score(crit, t, e, status, r, horizon) -> float:
    """The ranking Brier score: censoring-mode IPCW (``brier_t``) or competing-risk (``brier_cr``)."""
    if crit == "censoring":
        return _brier(t, e, r, horizon)
    try:
        return float(brier_cr(t, status, r, horizon=horizon).estimate)
    except NotEstimableError:
        return float("nan")


def _info_keys(crit: str) -> tuple[str, str]:
    """The names of the (C, Brier) values in the search info."""
    return ("inner_harrell_c", "inner_brier") if crit == "censoring" else ("inner_c_cr", "inner_brier_cr")


def _final_step(est):
    steps = getattr(est, "steps", None)
    return steps[-1][1] if steps else est


def _warnings_of(est, into: list) -> None:
    for w in getattr(_final_step(est), "fit_warnings_", ()):
        if w not in into:
            into.append(w)


def _over_time(budget, start: float, i: int) -> bool:
    return budget is not None and i > 0 and _time.perf_counter() - start > float(budget)


def _search_inner_cv(factory, X, t, e, groups, candidates, s, *, seed, horizon, notes, status=None,
                     crit="censoring"):
    """Inner K-fold CV of every candidate, ranked by Harrell's C (or ``c_cr``) of the inner OOF risk."""
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
            est.fit(X.iloc[tr], y_rows(t, e, status, tr))
            _warnings_of(est, notes)
            risk[te] = est.predict_risk(X.iloc[te], horizon=horizon)
        score = _c_score(crit, t, e, status, risk, horizon)
        tried += 1
        if np.isfinite(score) and score > best_c:
            best, best_c = cand, score
    kc, kb = _info_keys(crit)
    return dict(best), {kc: float(best_c), kb: float("nan"), "n_tried": tried, "truncated": truncated}


def _rank_key(brier: float, c: float, i: int) -> tuple:
    """Lower Brier first, then higher C, then list order (NaN last)."""
    return (brier if np.isfinite(brier) else np.inf, -c if np.isfinite(c) else np.inf, i)


def _search_holdout(factory, X, t, e, groups, candidates, s, *, seed, horizon, notes, status=None,
                    crit="censoring"):
    """Early-stopped fits ranked on held-out inner folds, halving the field after each fold.

    Rung ``k`` fits every surviving candidate on the rows outside inner fold
    ``k`` and predicts fold ``k``; after each rung but the last, the better
    half (by the Brier score pooled over the folds seen so far) survives.
    With ``inner_splits=1`` this is a single holdout.  ``crit`` (:func:`search_criterion`)
    chooses the censoring-mode or the competing-risk Brier score and C.
    """
    fold_ids = make_folds(e, groups=groups, folds=s["inner_folds"], repeats=1, random_state=seed)[0]
    stop = {"n_estimators": s["max_rounds"], "early_stopping_rounds": s["early_stopping_rounds"]}
    start = _time.perf_counter()
    risk = {i: np.full(len(t), np.nan) for i in range(len(candidates))}
    rounds: dict[int, list] = {i: [] for i in risk}
    alive, truncated, keys = [], False, {}
    for k in range(s["inner_splits"]):
        tr, va = fold_ids != k, fold_ids == k
        ytr = y_rows(t, e, status, tr)
        todo = range(len(candidates)) if k == 0 else alive
        if k == 0:
            alive = []
        for i in todo:
            if k == 0 and _over_time(s["budget_seconds"], start, i):
                truncated = True
                break
            est = factory(task_seed(seed, i, k), {**candidates[i], **stop})
            est.fit(X.iloc[tr], ytr)
            _warnings_of(est, notes)
            risk[i][va] = np.asarray(est.predict_risk(X.iloc[va], horizon=horizon), dtype=float)
            rounds[i].append(getattr(_final_step(est), "n_estimators_", None))
            if k == 0:
                alive.append(i)
        seen = fold_ids <= k
        st_seen = None if status is None else status[seen]
        keys = {i: _rank_key(_brier_score(crit, t[seen], e[seen], st_seen, risk[i][seen], horizon),
                             _c_score(crit, t[seen], e[seen], st_seen, risk[i][seen], horizon), i)
                for i in alive}
        if k < s["inner_splits"] - 1:
            alive = sorted(alive, key=keys.get)[: max(1, (len(alive) + 1) // 2)]
    best_i = min(alive, key=keys.get)
    r = rounds[best_i]
    chosen = {**candidates[best_i], **stop} if None in r else \
        {**candidates[best_i], "n_estimators": int(round(float(np.mean(r))))}
    key = keys[best_i]
    kc, kb = _info_keys(crit)
    return chosen, {kc: -key[1] if np.isfinite(key[1]) else float("nan"),
                    kb: key[0] if np.isfinite(key[0]) else float("nan"),
                    "n_tried": len(rounds) - sum(1 for v in rounds.values() if not v),
                    "truncated": truncated}


def timed_search(factory, X, t, e, groups, candidates, search: dict, *, seed: int, horizon: float,
                 status=None):
    """Search with the inner seed ``task_seed(seed, 1)``; returns (chosen params, info).

    ``info`` holds ``params`` (with the number of rounds for the holdout
    strategy), ``criterion`` (:func:`search_criterion`), the winner's
    ``inner_harrell_c`` and ``inner_brier`` (holdout only) -- under the
    competing-risk criterion ``inner_c_cr`` and ``inner_brier_cr`` instead --,
    ``n_tried``, ``truncated``, ``seconds`` (recorded, never used) and
    ``warnings`` (third-party warnings of the candidate fits, as text).  ``status``
    (0/1/2, optional) reaches the fits as ``y["event_type"]`` (competing-risk models);
    with a competing event in it and a competing-risk model, candidates are ranked by
    ``brier_cr`` with ``c_cr`` breaking ties (:func:`search_criterion`).
    """
    s0 = _time.perf_counter()
    run = _search_holdout if search.get("strategy", "holdout") == "holdout" else _search_inner_cv
    notes: list[str] = []
    status = None if status is None else np.asarray(status).astype(np.int64)
    crit = search_criterion(factory(0, candidates[0]), status)
    params, info = run(factory, X, t, e, groups, candidates, search, seed=task_seed(seed, 1),
                       horizon=horizon, notes=notes, status=status, crit=crit)
    info = {"params": params, "criterion": crit, **info, "seconds": _time.perf_counter() - s0,
            "warnings": tuple(notes)}
    return params, info
