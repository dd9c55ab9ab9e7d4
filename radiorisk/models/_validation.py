"""Validation protocol: repeated, stratified, grouped K-fold with out-of-fold risks.

:func:`cross_validate_risk` gives an out-of-fold (OOF) predicted risk by the
horizon for every patient and repeat; :func:`fit_final_model` refits on all
patients.  The folds (:mod:`._folds`) are stratified on the event and grouped
(all rows of a group, by default a patient, share a fold), or, with
``clusters``, one fold per cluster (internal-external cross-validation: each
fold leaves one site, vendor, ... out).  For the xgboost
models an optional random search (:mod:`._search`) runs inside each outer
training fold (early-stopped fits ranked by the IPCW Brier score over inner
folds; docs/tuning.md): the candidate list is
fixed by the seed, candidates are tried in order, and an opt-in
``budget_seconds`` caps the time spent per outer fold (see
:func:`cross_validate_risk`, Notes).  Every (repeat, fold) task gets its own
seed derived from ``random_state`` and its own estimator from a factory
(:mod:`._factory`), so the results are identical for the same seed whatever
``n_jobs`` is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .._html import repr_html
from ..stats import NotEstimableError, check_horizon, harrell_c, td_auc, uno_c
from ._base import y_rows
from ._factory import model_label, task_factory
from ._folds import cluster_folds, make_folds, task_seed
from ._search import (
    DEFAULT_SEARCH_SPACE,
    SEARCHABLE_MODELS,
    describe_search,
    search_plan,
    timed_search,
)

__all__ = [
    "CVResult",
    "cross_validate_risk",
    "fit_final_model",
    "make_folds",
    "cluster_folds",
    "task_seed",
    "DEFAULT_SEARCH_SPACE",
    "SEARCHABLE_MODELS",
]

_MSG_FEW_EVENTS = ("{what}: {k} event(s) among {n} rows is fewer than folds={folds}; "
                   "use fewer folds or more data")
_MSG_EMPTY_BLOCKS = ("blocks {blocks}: no feature column in this cohort (block(s) {empty} are empty; "
                     "e.g. radiomics need assemble_cohort(..., radiomics=...))")


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
        Per (repeat, fold): chosen parameters (JSON), inner Harrell C (competing-risk
        criterion: ``inner_c_cr`` and ``inner_brier_cr``), candidates tried, whether the
        time budget stopped the search, seconds.
    notes : tuple of str
    cv_by : str or None
        Name of the clustering of a leave-one-cluster-out CV (e.g. ``"site"``);
        None for K-fold.
    clusters : tuple of str
        The cluster left out in each fold (``clusters[k]`` is fold ``k``); empty for K-fold.
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
    cv_by: str | None = field(default=None, repr=False)
    clusters: tuple[str, ...] = field(default=(), repr=False)

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
        design = (f"{self.repeats}x{self.folds}-fold" if self.cv_by is None else
                  f"leave-one-{self.cv_by}-out ({self.folds} folds)")
        return repr_html(f"CVResult {self.model} on {'+'.join(self.blocks)}: {design}, horizon {self.horizon:g} d",
                         self.scores(), self.notes)

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


def model_inputs(data, cols) -> list[str]:
    """The model's input columns: the feature columns ``cols`` and the cohort's batch columns.

    The batch columns (``CohortData.batch_columns``, ``batch:vendor`` ...) are no features: the
    harmonisation step consumes and drops them (:class:`~radiorisk.models.ComBatHarmoniser`).
    """
    return list(cols) + [c for c in getattr(data, "batch_columns", ()) if c not in cols]


def _arrays(data):
    t = data.time.to_numpy(float)
    e = data.event.to_numpy(float)
    return t, e


def _status(data):
    """The cohort's competing-risk status (0/1/2), or None: fits get it as ``y["event_type"]``."""
    et = getattr(data, "event_type", None)
    return None if et is None else et.to_numpy(int)


def _run_task(factory, X, t, e, groups, train, test, *, seed, horizon, search, candidates, status=None):
    """Search (optionally), fit on the ``train`` rows, predict the ``test`` rows: (risk, search info)."""
    Xtr, ttr, etr = X.iloc[train], t[train], e[train]
    info: dict = {}
    params: dict = {}
    if search is not None:
        gtr = None if groups is None else groups[train]
        params, info = timed_search(factory, Xtr, ttr, etr, gtr, candidates, search, seed=seed,
                                    horizon=horizon, status=None if status is None else status[train])
    est = factory(task_seed(seed, 2), params)
    est.fit(Xtr, y_rows(t, e, status, train))
    risk = np.asarray(est.predict_risk(X.iloc[test], horizon=horizon), dtype=float)
    return risk, info, fit_notes(est)


def fit_notes(est) -> list[str]:
    """The convergence notes of a fitted model (its final step's ``convergence_notes_``; [] without)."""
    steps = getattr(est, "steps", None)
    last = steps[-1][1] if steps else est
    return list(getattr(last, "convergence_notes_", None) or [])


def _fold_fit_note(tasks, results) -> list[str]:
    """``k of K fold fits reported ...``: lifelines' warnings of the outer folds' fits (kept off the console)."""
    noted = [(r, k, res[2]) for (r, k), res in zip(tasks, results, strict=True) if res[2]]
    if not noted:
        return []
    kinds = sorted({n for _, _, ns in noted for n in ns})
    where = ", ".join(f"r{r}f{k}" for r, k, _ in noted[:10]) + (" ..." if len(noted) > 10 else "")
    return [f"{len(noted)} of {len(tasks)} fold fits did not converge cleanly ({where}; not printed): "
            + "; ".join(kinds)]


def _gather(tasks, results, fold_ids: np.ndarray, n: int) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Place each task's risks by (repeat, fold); the search table (None without a search)."""
    risk = np.empty((fold_ids.shape[0], n))
    search_rows = []
    for (r, k), (rk, info, *_) in zip(tasks, results, strict=True):
        risk[r, fold_ids[r] == k] = rk
        if info:
            scores = ({"inner_c_cr": info["inner_c_cr"], "inner_brier_cr": info["inner_brier_cr"]}
                      if info.get("criterion") == "competing" else {"inner_harrell_c": info["inner_harrell_c"]})
            search_rows.append({"repeat": r, "fold": k, "params": json.dumps(info["params"], sort_keys=True),
                                **scores, "n_tried": info["n_tried"],
                                "truncated": info["truncated"], "seconds": info["seconds"],
                                "warnings": "; ".join(info.get("warnings", ()))})
    return risk, (pd.DataFrame(search_rows) if search_rows else None)


def _oof_frame(index: pd.Index, fold_ids: np.ndarray, risk: np.ndarray, t, e) -> pd.DataFrame:
    """The OOF table: one row per patient and repeat."""
    repeats = fold_ids.shape[0]
    ids = index.astype(str)
    return pd.DataFrame({
        "patient_id": np.tile(ids, repeats),
        "repeat": np.repeat(np.arange(repeats), len(t)),
        "fold": fold_ids.ravel(),
        "risk": risk.ravel(),
        "time": np.tile(t, repeats),
        "event": np.tile(e.astype(int), repeats),
    })


def _design_note(repeats, folds, plan: dict, random_state, horizon) -> str:
    """What the folds are: K-fold grouped by patient (or the given groups), or one per cluster."""
    if plan["cv_by"] is not None:
        name, labels = plan["cv_by"], plan["clusters"]
        return (f"leave-one-{name}-out (internal-external) cross-validation: {folds} folds, one per "
                f"{name} ({', '.join(labels)}); seed {random_state} (model fits); out-of-fold risk by "
                f"{horizon:g} days")
    return (f"{repeats} x {folds}-fold cross-validation stratified on the event and grouped by "
            f"{plan['grouped_by']}; seed {random_state}; out-of-fold risk by {horizon:g} days")


def _cv_notes(repeats, folds, random_state, horizon, search, search_df, plan) -> list[str]:
    notes = [_design_note(repeats, folds, plan, random_state, horizon), *plan["notes"]]
    if search_df is not None:
        notes.append(describe_search(search, "competing" if "inner_c_cr" in search_df.columns else "censoring"))
        warned = sorted({w for ws in search_df["warnings"] for w in ws.split("; ") if w})
        if warned:
            notes.append("warnings of the search fits (not printed): " + "; ".join(warned))
        k_trunc = int(search_df["truncated"].sum())
        if k_trunc:
            notes.append(f"the time budget stopped the search early in {k_trunc} outer fold(s): "
                         "results may depend on machine speed")
    return notes


def _cluster_labels(data, clusters) -> tuple[str, np.ndarray]:
    """``(name, label per row)`` of ``clusters``: a column of ``data.groups``, a Series or an array."""
    if isinstance(clusters, str):
        if clusters not in data.groups.columns:
            raise ValueError(f"clusters {clusters!r}: not a column of data.groups "
                             f"({', '.join(map(str, data.groups.columns))}); pass the labels as a "
                             "Series indexed by patient_id")
        return clusters, data.groups[clusters].reindex(data.X.index).to_numpy(dtype=object)
    if isinstance(clusters, pd.Series):
        name = "cluster" if clusters.name is None else str(clusters.name)
        ids = data.X.index.astype(str)
        lab = pd.Series(clusters.to_numpy(dtype=object), index=clusters.index.astype(str))
        if not lab.index.is_unique:
            raise ValueError(f"clusters {name!r}: the index (patient_id) has duplicates")
        return name, lab.reindex(ids).to_numpy(dtype=object)
    lab = np.asarray(clusters, dtype=object).ravel()
    if len(lab) != data.n:
        raise ValueError(f"clusters has {len(lab)} values but data has {data.n} rows")
    return "cluster", lab


def _fold_plan(data, e, groups, clusters, repeats, folds, random_state):
    """Fold ids ``(repeats, n)``, the resolved repeats and folds, and what the folds are."""
    if clusters is None:
        repeats, folds = (5 if repeats is None else repeats), (5 if folds is None else folds)
        n_ev = int(e.sum())
        if n_ev < folds:
            raise ValueError(_MSG_FEW_EVENTS.format(what="cross_validate_risk", k=n_ev, n=len(e),
                                                    folds=folds))
        by = "patient" if groups is None else (
            str(groups.name) if isinstance(groups, pd.Series) and groups.name is not None
            else "the given groups")
        fold_ids = make_folds(e, groups=data.X.index.to_numpy() if groups is None else np.asarray(groups),
                              folds=folds, repeats=repeats, random_state=random_state)
        return fold_ids, repeats, folds, {"cv_by": None, "clusters": (), "grouped_by": by, "notes": []}
    name, lab = _cluster_labels(data, clusters)
    try:
        fold_ids, labels = cluster_folds(lab)
    except ValueError as exc:
        raise ValueError(str(exc).replace("clusters:", f"clusters {name!r}:", 1)) from exc
    if repeats not in (None, 1):
        raise ValueError(f"repeats={repeats}: leave-one-{name}-out cross-validation is one pass "
                         "(one fold per cluster); leave repeats unset or set it to 1")
    if folds not in (None, len(labels)):
        raise ValueError(f"folds={folds}: leave-one-{name}-out cross-validation has one fold per "
                         f"{name} ({len(labels)}); leave folds unset")
    ev = np.bincount(fold_ids[0], weights=e, minlength=len(labels))
    alone = [labels[k] for k in range(len(labels)) if ev.sum() - ev[k] == 0]
    if alone:
        raise ValueError(f"clusters {name!r}: every event is in {name} {alone[0]}; leaving it out "
                         "leaves no event to train on")
    notes = [f"{name} {labels[k]}: no event; its patients are predicted but its discrimination "
             "cannot be estimated" for k in range(len(labels)) if ev[k] == 0]
    return fold_ids, 1, len(labels), {"cv_by": name, "clusters": labels, "grouped_by": name,
                                      "notes": notes}


def _collect(results, progress, step: str, total: int) -> list:
    """The task results in order, calling ``progress(step, done, total)`` as each arrives."""
    out = []
    if progress is not None:
        progress(step, 0, total)
    for res in results:
        out.append(res)
        if progress is not None:
            progress(step, len(out), total)
    return out


def cross_validate_risk(
    model,
    data,
    *,
    blocks,
    horizon: float,
    random_state: int,
    repeats: int | None = None,
    folds: int | None = None,
    n_jobs: int = 1,
    search=None,
    groups=None,
    params: Mapping | None = None,
    clusters=None,
    progress=None,
) -> CVResult:
    """Repeated stratified grouped K-fold (or leave-one-cluster-out) cross-validation with OOF risks.

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
    repeats, folds : int, optional
        Repeats of K-fold (default 5 x 5).  With ``clusters``: one pass with one
        fold per cluster (leave them unset; ``repeats=1`` and ``folds`` equal to
        the number of clusters are accepted, anything else is refused).
    n_jobs : int
        Parallel (repeat, fold) tasks (joblib).  Results do not depend on it.
    search : None, True or dict, optional
        Nested random search inside each outer training fold: ``True`` uses
        the defaults, or a dict of the keys of
        :func:`~radiorisk.models._search.search_plan` (``param_distributions``,
        ``n_iter`` (8), ``strategy``, ``inner_folds``, ``inner_splits``,
        ``max_rounds``, ``early_stopping_rounds``, ``budget_seconds`` (time cap
        per outer fold, default none)).  Default None: no search.
    groups : array-like, optional
        Grouping of the rows for the K-fold folds and the inner search folds
        (default: ``patient_id``, one row per patient); a named Series names the
        grouping in the notes.
    params : dict, optional
        Fixed model parameters (the search draws the rest).
    clusters : str, Series or array-like, optional
        Internal-external cross-validation: each fold leaves one cluster out
        (:func:`radiorisk.models.cluster_folds`, folds in sorted label order).
        A column name of ``data.groups`` (``"site"``), a Series indexed by
        ``patient_id`` (its name names the clustering, e.g. ``"vendor"``) or one
        label per row.  Every patient needs a label; a cluster without events is
        predicted and noted.  The inner search still uses ``groups`` (patients).
    progress : callable, optional
        ``progress(step, done, total)`` after each finished (repeat, fold) task
        (step ``"cross-validation <blocks>"``); results do not depend on it.

    Returns
    -------
    CVResult

    Raises
    ------
    ValueError
        Empty blocks, fewer events than folds, missing seed; with ``clusters``:
        an unknown column, a missing label, a single cluster, a cluster holding
        every event, ``repeats`` > 1 or ``folds`` not the number of clusters.

    Notes
    -----
    *Seeds.* Fold assignment of repeat ``r`` uses ``task_seed(random_state,
    7919, r)``; task ``(r, k)`` uses ``task_seed(random_state, r, k)`` for its
    inner folds and model fits; the search candidates are drawn once from
    ``task_seed(random_state, 104729)``.  Tasks run in any order or process
    and their results are placed by (r, k), so ``n_jobs`` does not change them.

    *Search.* The candidate list is the same in every outer fold; each is
    ranked by the IPCW Brier score at the horizon (Harrell's C breaks ties;
    ``strategy="inner-cv"``: Harrell's C of the inner-CV OOF risk).
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

    Leave one site out:

    >>> loso = cross_validate_risk("coxph", data, blocks="clinical", horizon=1826, random_state=0,
    ...                            clusters="site")
    >>> loso.repeats, loso.folds == len(loso.clusters), loso.notes[0][:40]
    (1, True, 'leave-one-site-out (internal-external) c')
    """
    horizon = check_horizon(horizon)
    if random_state is None:
        raise ValueError("random_state is required (an int): results must be reproducible")
    blocks, cols = _features(data, blocks)
    X = data.X[model_inputs(data, cols)]
    t, e = _arrays(data)
    fold_ids, repeats, folds, plan = _fold_plan(data, e, groups, clusters, repeats, folds, random_state)
    grp = data.X.index.to_numpy() if groups is None else np.asarray(groups)
    factory = task_factory(model, horizon, params)
    s, candidates = search_plan(search, random_state, model)
    tasks = [(r, k) for r in range(repeats) for k in range(folds)]
    results = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_run_task)(factory, X, t, e, grp, np.flatnonzero(fold_ids[r] != k),
                           np.flatnonzero(fold_ids[r] == k), seed=task_seed(random_state, r, k),
                           horizon=horizon, search=s, candidates=candidates, status=_status(data))
        for r, k in tasks)
    results = _collect(results, progress, f"cross-validation {'+'.join(blocks)}", len(tasks))
    risk, search_df = _gather(tasks, results, fold_ids, len(t))
    oof = _oof_frame(data.X.index, fold_ids, risk, t, e)
    notes = _cv_notes(repeats, folds, random_state, horizon, s, search_df, plan) + _fold_fit_note(tasks, results)
    if not np.all(np.isfinite(risk)):
        raise ValueError("the model returned non-finite risks")
    return CVResult(oof=oof, model=model_label(model), blocks=blocks, columns=tuple(cols),
                    horizon=horizon, repeats=repeats, folds=folds, random_state=int(random_state),
                    search=search_df, notes=tuple(notes), cv_by=plan["cv_by"], clusters=plan["clusters"])


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
        The fitted estimator and ``{"params", "criterion", "inner_harrell_c", "n_tried",
        "truncated", "seconds", "columns"}`` (search keys only with a search; under the
        competing-risk criterion ``inner_c_cr`` and ``inner_brier_cr`` replace ``inner_harrell_c``
        and ``inner_brier``, see :func:`~radiorisk.models._search.timed_search`).
    """

    horizon = check_horizon(horizon)
    blocks, cols = _features(data, blocks)
    X = data.X[model_inputs(data, cols)]
    t, e = _arrays(data)
    factory = task_factory(model, horizon, params)
    s, candidates = search_plan(search, random_state, model)
    all_rows = np.arange(len(t))
    info: dict = {}
    chosen: dict = {}
    if s is not None:
        chosen, info = timed_search(factory, X, t, e, data.X.index.to_numpy(), candidates, s,
                                    seed=random_state, horizon=horizon, status=_status(data))
    est = factory(task_seed(random_state, 2), chosen)
    est.fit(X.iloc[all_rows], y_rows(t, e, _status(data)))
    info["columns"] = list(cols)
    return est, info
