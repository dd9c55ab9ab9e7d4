"""The modality ladder: clinical -> +ccta -> +radiomics -> +pet, with paired comparisons.

Each rung adds one modality block to the previous rung's blocks and is
cross-validated with :func:`radiorisk.models.cross_validate_risk` (same folds,
same seeds).  Every patient's out-of-fold (OOF) risk is averaged over the
repeats; discrimination (Harrell C, Uno C, time-dependent AUC at the horizon),
the paired differences between consecutive rungs and the category-free NRI
and IDI at the horizon are computed on that averaged risk, each with a
percentile bootstrap CI over patients.  Formulas: ``docs/ladder.md`` and the
Notes of :func:`radiorisk.stats.category_free_nri` and
:func:`radiorisk.stats.integrated_discrimination_improvement` (they live in :mod:`radiorisk.stats`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from .._html import repr_html
from ..stats import (
    IDIResult,
    NotEstimableError,
    NRIResult,
    StratifiedBootstrap,
    auc_cr,
    brier_cr,
    c_cr,
    category_free_nri,
    check_horizon,
    harrell_c,
    integrated_discrimination_improvement,
    td_auc,
    uno_c,
)
from ._validation import CVResult, _cluster_labels, cross_validate_risk

__all__ = [
    "LadderResult",
    "NRIResult",
    "IDIResult",
    "modality_ladder",
    "category_free_nri",
    "integrated_discrimination_improvement",
    "LADDER_COLUMNS",
]

#: Columns of ``ladder.csv`` (:meth:`LadderResult.to_frame`).
LADDER_COLUMNS = ("population", "rung", "blocks", "reference", "metric", "estimate", "ci_low",
                  "ci_high", "p_value", "n", "events", "events_by_horizon", "method")

_LADDER_ORDER = ("clinical", "ccta", "radiomics", "pet")
_DISC = ("harrell_c", "uno_c", "td_auc")
_COMP = ("delta_harrell_c", "delta_uno_c", "delta_td_auc", "nri", "nri_events", "nri_nonevents", "idi")
#: The competing-risk rows (a cohort with competing deaths, ``event_type`` 2): Wolbers' truncated C,
#: the cause-1 AUC and Brier score at the horizon (riskRegression::Score(..., cause = 1)) and their differences.
_DISC_CR = ("c_cr", "auc_cr", "brier_cr")
_COMP_CR = ("delta_c_cr", "delta_auc_cr", "delta_brier_cr")


# ---------------------------------------------------------------------------
# ladder
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LadderResult:
    """The modality ladder: discrimination per rung and paired comparisons.

    Attributes
    ----------
    table : DataFrame
        Long format, columns :data:`LADDER_COLUMNS`: per (population, rung) the
        rows ``harrell_c, uno_c, td_auc`` (``reference`` empty) and, against the
        previous rung (``reference``), ``delta_harrell_c, delta_uno_c,
        delta_td_auc, nri, nri_events, nri_nonevents, idi``.
    cv : Mapping[(population, rung), CVResult]
        The cross-validation behind each rung.
    model : str
    horizon : float
    rungs : tuple of str
        Rung names in order (``"clinical"``, ``"+ccta"``, ...).
    n_boot : int
    random_state : int
    notes : tuple of str
        Statements that go with the table (populations, CI method, censoring).
    """

    table: pd.DataFrame = field(repr=False)
    cv: Mapping[tuple[str, str], CVResult] = field(repr=False)
    model: str
    horizon: float
    rungs: tuple[str, ...]
    n_boot: int
    random_state: int
    notes: tuple[str, ...] = field(default=(), repr=False)

    def to_frame(self) -> pd.DataFrame:
        """The ladder table (``ladder.csv``)."""
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """Wide view: one row per (population, rung), ``estimate (ci_low-ci_high)`` per metric."""
        t = self.table
        txt = t.apply(lambda r: f"{r.estimate:.3f} ({r.ci_low:.3f}-{r.ci_high:.3f})", axis=1)
        w = t.assign(text=txt).pivot_table(index=["population", "rung"], columns="metric",
                                           values="text", aggfunc="first", sort=False)
        cols = [c for c in (*_DISC, *_DISC_CR, "delta_harrell_c", "delta_c_cr", "nri", "idi") if c in w.columns]
        return w[cols]

    def estimates(self, metric: str = "harrell_c", population: str | None = None) -> pd.Series:
        """Point estimates of ``metric`` by rung (first population by default)."""
        t = self.table[self.table["metric"] == metric]
        pop = population or t["population"].iloc[0]
        return t[t["population"] == pop].set_index("rung")["estimate"]

    def _repr_html_(self) -> str:
        return repr_html(f"Modality ladder {self.model}, horizon {self.horizon:g} d", self.summary(),
                         self.notes, index=True)


def _metric_values(t, e, r, horizon, status=None) -> dict:
    """The rung's metrics: censoring ones (``status`` None) or competing-risk ones (status 0/1/2)."""
    out = {}
    fns = (("harrell_c", lambda: harrell_c(t, e, r)),
           ("uno_c", lambda: uno_c(t, e, r, horizon=horizon)),
           ("td_auc", lambda: td_auc(t, e, r, horizon=horizon).estimate)) if status is None else (
           ("c_cr", lambda: c_cr(t, status, r, horizon=horizon)),
           ("auc_cr", lambda: auc_cr(t, status, r, horizon=horizon).estimate),
           ("brier_cr", lambda: brier_cr(t, status, r, horizon=horizon).estimate))
    for name, fn in fns:
        try:
            out[name] = fn()
        except NotEstimableError:
            out[name] = np.nan
    return out


def _comparison_values(t, e, r_old, r_new, horizon, m_old, m_new, status=None) -> dict:
    """Paired differences; NRI and IDI (censoring estimands only) with ``status`` None."""
    if status is not None:
        return {f"delta_{k}": m_new[k] - m_old[k] for k in _DISC_CR}
    out = {f"delta_{k}": m_new[k] - m_old[k] for k in _DISC}
    try:
        nri = category_free_nri(t, e, r_old, r_new, horizon=horizon)
        out.update(nri=nri.nri, nri_events=nri.events, nri_nonevents=nri.nonevents)
    except NotEstimableError:
        out.update(nri=np.nan, nri_events=np.nan, nri_nonevents=np.nan)
    try:
        out["idi"] = integrated_discrimination_improvement(t, e, r_old, r_new, horizon=horizon).idi
    except NotEstimableError:
        out["idi"] = np.nan
    return out


def _all_values(t, e, risks: list[np.ndarray], horizon, status=None) -> tuple[list[dict], list[dict]]:
    m = [_metric_values(t, e, r, horizon, status) for r in risks]
    c = [_comparison_values(t, e, risks[i - 1], risks[i], horizon, m[i - 1], m[i], status)
         for i in range(1, len(risks))]
    return m, c


def _keys(status) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The metric and comparison rows of a ladder: censoring or competing-risk."""
    return (_DISC, _COMP) if status is None else (_DISC_CR, _COMP_CR)


def _ladder_status(data):
    """``data.event_type`` (patient_id-indexed) when the cohort has competing events, else None."""
    et = getattr(data, "event_type", None)
    return et if et is not None and bool((et == 2).any()) else None


def _rung_names(rungs) -> list[str]:
    return [rungs[0]] + [f"+{b}" for b in rungs[1:]]


def _same_design(cv, data, cv_by, clusters, repeats, folds) -> bool:
    """Whether ``cv`` has this ladder's fold design: K-fold repeats x folds, or the same clusters."""
    if getattr(cv, "cv_by", None) != cv_by:
        return False
    if clusters is None:
        return cv.repeats == repeats and cv.folds == folds
    first = cv.oof[cv.oof["repeat"] == 0]
    theirs = np.asarray(cv.clusters, dtype=object)[first["fold"].to_numpy()].astype(str)
    ours = np.asarray(_cluster_labels(data, clusters)[1], dtype=object).astype(str)
    return len(theirs) == len(ours) and bool(np.all(theirs == ours))


def _reusable(reuse, data, blocks, cols, model_name, cv_kw, cv_by):
    ids = list(data.X.index.astype(str))
    for cv in reuse:
        if (tuple(cv.blocks) == tuple(blocks) and tuple(cv.columns) == tuple(cols)
                and cv.model == model_name and cv.horizon == cv_kw["horizon"]
                and cv.random_state == cv_kw["random_state"]
                and list(cv.oof.loc[cv.oof["repeat"] == 0, "patient_id"]) == ids
                and _same_design(cv, data, cv_by, cv_kw.get("clusters"), cv_kw["repeats"], cv_kw["folds"])):
            return cv
    return None


def _cluster_series(data, clusters):
    """``clusters`` as labels by ``patient_id`` (a column name stays a name), so subsets align; and its name."""
    if clusters is None:
        return None, None
    name, lab = _cluster_labels(data, clusters)
    if isinstance(clusters, str | pd.Series):
        return clusters, name
    return pd.Series(lab, index=data.X.index.astype(str), name=name), name


def _usable_rungs(data, rungs) -> tuple[list[str], list[str]]:
    """The rungs that have columns in ``data`` (unknown blocks are an error) and the notes on the others."""
    if isinstance(rungs, str):
        rungs = [b for b in rungs.split(",") if b]
    rungs = list(dict.fromkeys(rungs))
    unknown = [b for b in rungs if b not in data.blocks]
    if unknown:
        raise ValueError(f"rungs: unknown block(s) {unknown}; known blocks are {list(data.blocks)}")
    notes = []
    skipped = [b for b in rungs if not data.blocks[b]]
    if skipped:
        notes.append(f"block(s) {', '.join(skipped)} have no columns in this cohort and were skipped")
    rungs = [b for b in rungs if data.blocks[b]]
    if "pet" in rungs and not data.pet_available.any():
        notes.append("no patient has PET: the pet rung was skipped")
        rungs.remove("pet")
    if not rungs:
        raise ValueError("modality_ladder: no rung has feature columns")
    return rungs, notes


def _populations(data, rungs: list[str], notes: list[str]) -> list[tuple[str, object, list[int]]]:
    """``(population, data, rung indices)``: all patients, and the PET-available ones when PET is partial."""
    populations: list[tuple[str, object, list[int]]] = []
    pet_idx = rungs.index("pet") if "pet" in rungs else None
    if pet_idx is None or data.pet_available.all():
        populations.append(("all", data, list(range(len(rungs)))))
        if pet_idx is not None:
            notes.append("every patient has PET: all rungs are on all patients")
    else:
        sub = data.subset(data.pet_available.to_numpy(bool))
        populations.append(("all", data, list(range(pet_idx))))
        populations.append(("pet_available", sub, list(range(len(rungs)))))
        notes.append(f"PET rungs are fitted and evaluated on the {sub.n} PET-available patients only "
                     f"(of {data.n}); the earlier rungs are shown on all patients and refitted on "
                     "the PET-available patients for paired comparisons")
    return populations


def _rung_data(pdata, blocks):
    """``pdata`` restricted to the varying columns of ``blocks``: (data, columns, constant columns left out)."""
    cols = pdata.varying_columns(pdata.columns(blocks))
    dropped = [c for c in pdata.columns(blocks) if c not in cols]
    bdata = replace(pdata, blocks=MappingProxyType({
        b: tuple(c for c in pdata.blocks[b] if c in cols) for b in pdata.blocks}))
    return bdata, cols, dropped


def _population_cvs(model, label, pop, pdata, idx, rungs, names, *, reuse, cv_kw, cv_by, notes):
    """Cross-validate (or reuse) every rung of one population: (cvs, mean OOF risks, time, event, status)."""
    cvs: dict[tuple[str, str], CVResult] = {}
    risks, t, e = [], None, None
    if cv_kw.get("progress") is not None:
        cv_kw["progress"](f"ladder rungs ({pop} patients)", 0, len(idx))
    for i in idx:
        blocks = rungs[: i + 1]
        bdata, cols, dropped = _rung_data(pdata, blocks)
        if dropped and i == idx[-1]:
            notes.append(f"population {pop}: constant column(s) left out: {', '.join(dropped)}")
        cv = _reusable(reuse, bdata, blocks, cols, label, cv_kw, cv_by)
        if cv is None:
            cv = cross_validate_risk(model, bdata, blocks=blocks, **cv_kw)
            notes.extend(f"rung {names[i]} ({pop}): {n}" for n in cv.notes if "fold fits did not converge" in n)
        cvs[(pop, names[i])] = cv
        if cv_kw.get("progress") is not None:
            cv_kw["progress"](f"ladder rungs ({pop} patients)", len(cvs), len(idx))
        risks.append(cv.mean_risk().to_numpy())
        if t is None:
            y = cv.outcome()
            t, e = y["time"].to_numpy(float), y["event"].to_numpy(float)
    st = _ladder_status(pdata)  # competing-risk status of the population's patients (outcome order)
    status = None if st is None or t is None else st.reindex(y.index).to_numpy(int)
    return cvs, risks, t, e, status


def _bootstrap(t, e, risks: list[np.ndarray], horizon, n_boot: int,
               random_state: int, progress=None, step: str = "bootstrap", status=None) -> tuple[np.ndarray, np.ndarray]:
    """Metrics (B, rungs, _DISC) and comparisons (B, rungs - 1, _COMP) over resamples of patients.

    Replicate ``b`` is replicate ``b`` of ``StratifiedBootstrap(one stratum, n_boot, random_state)``.
    """
    bs = StratifiedBootstrap(np.zeros(len(t)), n_boot, random_state)  # patients alike: one stratum
    disc, comp = _keys(status)
    bm = np.full((n_boot, len(risks), len(disc)), np.nan)
    bc = np.full((n_boot, max(len(risks) - 1, 0), len(comp)), np.nan)
    for b in range(n_boot):
        ii = bs.replicate(b)
        mb, cb = _all_values(t[ii], e[ii], [r[ii] for r in risks], horizon,
                             None if status is None else status[ii])
        bm[b] = [[d[k] for k in disc] for d in mb]
        if cb:
            bc[b] = [[d[k] for k in comp] for d in cb]
        if progress is not None and ((b + 1) % max(1, n_boot // 50) == 0 or b + 1 == n_boot):
            progress(step, b + 1, n_boot)
    return bm, bc


def _p_value(k: str, vals: np.ndarray, n_boot: int) -> float:
    """Two-sided bootstrap p-value ``2 min(P(d <= 0), P(d >= 0))`` of a difference (NaN otherwise)."""
    p = np.nan
    if n_boot and k.startswith(("delta", "nri", "idi")):
        v = vals[np.isfinite(vals)]
        if len(v):
            p = float(min(1.0, 2 * min(np.mean(v <= 0), np.mean(v >= 0))))
    return p


def _population_rows(pop, idx, rungs, names, t, e, risks, horizon, n_boot: int,
                     random_state: int, progress=None, status=None) -> list[dict]:
    """The table rows of one population: estimates, bootstrap CIs and p-values per rung."""
    m, c = _all_values(t, e, risks, horizon, status)
    n = len(t)
    B = n_boot
    bm, bc = _bootstrap(t, e, risks, horizon, B, random_state, progress, f"ladder bootstrap ({pop} patients)",
                        status)
    disc, comp = _keys(status)
    ev = int(e.sum())
    ev_h = int(((e == 1) & (t <= horizon)).sum())
    rows = []
    for j, i in enumerate(idx):
        for q, k in enumerate(disc):
            lo, hi = _pct(bm[:, j, q]) if B else (np.nan, np.nan)
            rows.append(dict(population=pop, rung=names[i], blocks=",".join(rungs[: i + 1]),
                             reference="", metric=k, estimate=m[j][k], ci_low=lo, ci_high=hi,
                             p_value=np.nan, n=n, events=ev, events_by_horizon=ev_h,
                             method=_METHOD[k]))
        if j == 0:
            continue
        for q, k in enumerate(comp):
            vals = bc[:, j - 1, q]
            lo, hi = _pct(vals) if B else (np.nan, np.nan)
            rows.append(dict(population=pop, rung=names[i], blocks=",".join(rungs[: i + 1]),
                             reference=names[idx[j - 1]], metric=k, estimate=c[j - 1][k],
                             ci_low=lo, ci_high=hi, p_value=_p_value(k, vals, B), n=n, events=ev,
                             events_by_horizon=ev_h, method=_METHOD[k]))
    return rows


def modality_ladder(
    model,
    data,
    *,
    horizon: float,
    random_state: int,
    rungs: Sequence[str] = _LADDER_ORDER,
    repeats: int = 5,
    folds: int = 5,
    n_jobs: int = 1,
    search=None,
    params: Mapping | None = None,
    n_boot: int = 500,
    reuse: Sequence[CVResult] = (),
    clusters=None,
    progress=None,
) -> LadderResult:
    """Cross-validate the modality ladder and compare consecutive rungs.

    Parameters
    ----------
    model : str or callable
        As in :func:`radiorisk.models.cross_validate_risk`.
    data : CohortData
        From :func:`radiorisk.features.assemble_cohort`.
    horizon : float
        Horizon in days of the risks, Uno's C, the time-dependent AUC, NRI and IDI.
    random_state : int
        Seed of the folds, models and bootstrap.
    rungs : sequence of str
        Blocks in the order they are added (default clinical, ccta, radiomics,
        pet).  A block without columns in ``data`` is skipped (stated in ``notes``).
    repeats, folds, n_jobs, search, params
        Passed to :func:`~radiorisk.models.cross_validate_risk` for every rung.
    n_boot : int
        Bootstrap resamples of patients for the CIs (0: no CIs).
    reuse : sequence of CVResult
        Cross-validations already run with the same model, seed, fold design
        (repeats and folds, or the same clusters), horizon and patients; a rung
        with the same blocks reuses them.
    clusters : str, Series or array-like, optional
        Internal-external cross-validation of every rung: one fold per cluster
        (as in :func:`~radiorisk.models.cross_validate_risk`; ``repeats`` and
        ``folds`` are then not used).  Labels are matched by ``patient_id``, so
        the PET-available population gets the same clusters.
    progress : callable, optional
        ``progress(step, done, total)``: the folds of each rung's cross-validation,
        the rungs of each population and the bootstrap resamples (for a progress
        bar; results do not depend on it).

    Returns
    -------
    LadderResult

    Notes
    -----
    *Populations.* When the ladder has a PET rung and not every patient has
    PET, the PET rungs are fitted and evaluated on the PET-available patients
    only (population ``pet_available``); the earlier rungs are reported both on
    all patients (population ``all``) and refitted on the PET-available
    patients, so every comparison is paired on the same patients.  Columns
    that are constant in a population (e.g. ``pet_available`` among patients
    with PET) are left out there.

    *Estimates and CIs.* Each patient's OOF risk is averaged over the repeats;
    the metrics are computed on that mean risk.  The 95 % CIs are percentile
    intervals over ``n_boot`` resamples of patients of the mean OOF risks
    (the same resamples for every rung, so differences are paired); they do not
    include the variability of refitting the models.  Resample ``b`` of a
    population is replicate ``b`` of :class:`radiorisk.stats.StratifiedBootstrap`
    with one stratum and ``random_state`` (the seeding scheme of
    :mod:`radiorisk.stats._resample`), whatever ``n_boot`` and ``n_jobs``.  ``p_value`` (differences
    only) is the two-sided bootstrap p-value ``2 min(P(d <= 0), P(d >= 0))``.
    Competing deaths are censored (cause-specific view) unless ``data`` records them
    (``event_type`` 2, ``assemble_cohort(..., competing="competing")``): the rows are then
    ``c_cr, auc_cr, brier_cr`` and ``delta_c_cr, delta_auc_cr, delta_brier_cr`` (no NRI, IDI),
    for the model's cumulative incidence of MACE.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> data = assemble_cohort(simulate_cohort(600, mode="established-cad", seed=3))
    >>> lad = modality_ladder("coxph", data, horizon=1826, random_state=0, repeats=1, folds=3,
    ...                       rungs=("clinical", "ccta"), n_boot=50, params={"penalizer": 0.1})
    >>> list(lad.estimates("harrell_c").index)
    ['clinical', '+ccta']
    >>> lad.to_frame().columns[:5].tolist()
    ['population', 'rung', 'blocks', 'reference', 'metric']

    Every rung leave-one-site-out:

    >>> loso = modality_ladder("coxph", data, horizon=1826, random_state=0, clusters="site",
    ...                        rungs=("clinical", "ccta"), n_boot=0, params={"penalizer": 0.1})
    >>> {cv.cv_by for cv in loso.cv.values()}, loso.notes[-2][:49]
    ({'site'}, "estimates on each patient's leave-one-site-out OO")
    """

    horizon = check_horizon(horizon)
    if random_state is None:
        raise ValueError("random_state is required (an int): results must be reproducible")
    rungs, notes = _usable_rungs(data, rungs)
    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")
    names = _rung_names(rungs)
    label = (model if isinstance(model, str) else None) or getattr(model, "__name__", type(model).__name__)
    clusters, cv_by = _cluster_series(data, clusters)
    design = dict(repeats=repeats, folds=folds) if clusters is None else \
        dict(clusters=clusters, repeats=None, folds=None)
    cv_kw = dict(horizon=horizon, random_state=random_state, **design, n_jobs=n_jobs, search=search,
                 params=params, progress=progress)
    cvs: dict[tuple[str, str], CVResult] = {}
    rows = []
    for pop, pdata, idx in _populations(data, rungs, notes):
        if not idx:
            continue
        pop_cvs, risks, t, e, status = _population_cvs(model, label, pop, pdata, idx, rungs, names,
                                                       reuse=reuse, cv_kw=cv_kw, cv_by=cv_by, notes=notes)
        cvs.update(pop_cvs)
        rows += _population_rows(pop, idx, rungs, names, t, e, risks, horizon, int(n_boot),
                                 int(random_state), progress, status)
    oof = (f"OOF risk averaged over {repeats} repeat(s)" if cv_by is None
           else f"leave-one-{cv_by}-out OOF risk")
    notes.append(f"estimates on each patient's {oof}; 95 % CIs: "
                 f"percentile bootstrap over patients ({n_boot} resamples), paired across rungs")
    notes.append("metrics treat deaths outside the MACE definition as censoring" if _ladder_status(data) is None
                 else "competing-risk metrics: deaths outside the MACE definition are competing events "
                      "(event_type 2), not censored: c_cr (Wolbers' truncated C), auc_cr and brier_cr at the "
                      "horizon (riskRegression::Score(..., cause = 1)) and their paired differences; NRI and "
                      "IDI (censoring estimands) are left out")
    table = pd.DataFrame(rows, columns=list(LADDER_COLUMNS))
    return LadderResult(table=table, cv=MappingProxyType(cvs), model=label, horizon=horizon,
                        rungs=tuple(names), n_boot=int(n_boot), random_state=int(random_state),
                        notes=tuple(notes))


def _pct(v) -> tuple[float, float]:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("nan")
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)


_METHOD = {
    "harrell_c": "Harrell C (survival::concordance); percentile bootstrap CI",
    "uno_c": "Uno C truncated at the horizon (timewt='n/G2'); percentile bootstrap CI",
    "td_auc": "cumulative/dynamic AUC at the horizon, IPCW (riskRegression::Score); percentile bootstrap CI",
    "delta_harrell_c": "paired difference vs reference rung; percentile bootstrap CI",
    "delta_uno_c": "paired difference vs reference rung; percentile bootstrap CI",
    "delta_td_auc": "paired difference vs reference rung; percentile bootstrap CI",
    "nri": "category-free NRI at the horizon, KM-based (Pencina 2011); percentile bootstrap CI",
    "nri_events": "NRI event component (KM-based)",
    "nri_nonevents": "NRI non-event component (KM-based)",
    "idi": "IDI at the horizon, IPCW case/control weights (Uno 2013); percentile bootstrap CI",
    "c_cr": "truncated C for competing risks at the horizon (Wolbers 2014); percentile bootstrap CI",
    "auc_cr": "cause-1 cumulative/dynamic AUC at the horizon, IPCW, competing events as controls "
              "(riskRegression::Score(..., cause = 1)); percentile bootstrap CI",
    "brier_cr": "cause-1 Brier score at the horizon, IPCW (riskRegression::Score(..., cause = 1)); "
                "percentile bootstrap CI",
    "delta_c_cr": "paired difference vs reference rung; percentile bootstrap CI",
    "delta_auc_cr": "paired difference vs reference rung; percentile bootstrap CI",
    "delta_brier_cr": "paired difference vs reference rung (negative: the rung predicts better); "
                      "percentile bootstrap CI",
}
