"""Per-patient uncertainty: a bootstrap interval for each predicted risk and a low-confidence flag."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.covariance import LedoitWolf
from sklearn.ensemble import IsolationForest

from ..stats import StratifiedBootstrap
from ._common import (
    ExplainError,
    check_blocks,
    check_fraction,
    check_int,
    check_seed,
    html_table,
    transform_head,
)

__all__ = ["RiskUncertainty", "risk_intervals", "UNCERTAINTY_COLUMNS", "OOD_METHODS"]

#: Columns of :attr:`RiskUncertainty.table`.
UNCERTAINTY_COLUMNS = ("risk", "ci_low", "ci_high", "width", "ood_score", "missing_blocks",
                       "low_confidence", "reason")
#: Out-of-distribution scores accepted by :func:`risk_intervals`.
OOD_METHODS = ("mahalanobis", "isolation", None)

_BLOCK_LABEL = {"pet": "PET", "ccta": "CCTA"}
_MSG_FAILED = ("risk_intervals: {k} of {b} bootstrap refits failed (first: {err}); the interval "
               "would rest on a biased subset of resamples")


@dataclass(frozen=True, eq=False)
class RiskUncertainty:
    """A 95 % interval for each patient's predicted risk, and why a prediction is low-confidence.

    Attributes
    ----------
    table : DataFrame
        Indexed by patient (:data:`UNCERTAINTY_COLUMNS`): the model's ``risk``,
        the percentile interval ``ci_low``/``ci_high`` of the ensemble's risks
        and its ``width``, the out-of-distribution score (higher = further from
        the training patients), the blocks with no value (``"pet"``...),
        ``low_confidence`` and ``reason`` (``"; "``-joined, empty when confident).
    horizon : float
    level : float
    n_models : int
        Models in the ensemble.
    source : str
        ``bootstrap`` (refits on resamples of the training data) or ``ensemble``
        (models given by the caller, e.g. the CV repeats' models).
    max_width : float
    ood : str or None
    ood_threshold : float
        Scores above it are flagged (the ``ood_quantile`` of the training patients' scores).
    notes : tuple of str
    """

    table: pd.DataFrame = field(repr=False)
    horizon: float
    level: float
    n_models: int
    source: str
    max_width: float
    ood: str | None
    ood_threshold: float
    notes: tuple[str, ...] = ()

    @property
    def flagged(self) -> pd.DataFrame:
        """Rows of :attr:`table` with ``low_confidence``."""
        return self.table[self.table["low_confidence"]]

    def to_frame(self) -> pd.DataFrame:
        """:attr:`table` with ``patient_id`` as a column."""
        return self.table.rename_axis("patient_id").reset_index()

    def _repr_html_(self) -> str:
        return html_table("Risk intervals", [
            f"{self.level:.0%} percentile interval over {self.n_models} models ({self.source}); "
            f"horizon {self.horizon:g} d",
            f"low confidence: width > {self.max_width:g}, a modality missing, or OOD score > "
            f"{self.ood_threshold:.3g} ({self.ood})",
            f"{int(self.table['low_confidence'].sum())} of {len(self.table)} flagged", *self.notes],
            self.to_frame())


def _fit_matrix(Z_train: pd.DataFrame):
    """Median imputation and non-constant columns of the preprocessed training matrix."""
    A = Z_train.to_numpy(dtype=np.float64)
    with np.errstate(all="ignore"):
        med = np.array([np.median(c[~np.isnan(c)]) if (~np.isnan(c)).any() else 0.0 for c in A.T])
    A = np.where(np.isnan(A), med, A)
    sd = A.std(axis=0)
    keep = sd > 0
    return med, keep, A[:, keep], A[:, keep].mean(axis=0), sd[keep]


def _ood_scores(method: str, Z_train: pd.DataFrame, Z: pd.DataFrame, *, random_state: int):
    """Out-of-distribution scores of the training patients and of ``Z`` (higher = further out)."""
    med, keep, A, mu, sd = _fit_matrix(Z_train)
    B = Z.to_numpy(dtype=np.float64)
    B = np.where(np.isnan(B), med, B)[:, keep]
    At, Bt = (A - mu) / sd, (B - mu) / sd
    if method == "mahalanobis":
        prec = LedoitWolf().fit(At).precision_
        return (np.einsum("ij,jk,ik->i", At, prec, At), np.einsum("ij,jk,ik->i", Bt, prec, Bt))
    iso = IsolationForest(n_estimators=200, random_state=int(random_state)).fit(At)
    return -iso.score_samples(At), -iso.score_samples(Bt)


def risk_intervals(model, X, *, X_train=None, y_train=None, ensemble=None, n_boot: int = 100,
                   horizon=None, level: float = 0.95, max_width: float = 0.10, blocks=None,
                   ood: str | None = "mahalanobis", ood_quantile: float = 0.99,
                   random_state: int = 0, progress=None, n_jobs: int = 1) -> RiskUncertainty:
    """Interval of each patient's predicted risk and a low-confidence flag with its reasons.

    Parameters
    ----------
    model : RiskPipeline
        The fitted model whose risks are reported.
    X : DataFrame
        The patients.
    X_train, y_train : DataFrame and structured array, optional
        The training data of ``model``: refitted on ``n_boot`` bootstrap
        resamples (``sklearn.base.clone`` + ``fit``) unless ``ensemble`` is
        given, and the reference of the out-of-distribution score.
    ensemble : list of fitted models, optional
        Use these models' risks instead of bootstrap refits (e.g. the models of
        the cross-validation repeats).
    n_boot : int, default 100
        Bootstrap refits.
    horizon : float, optional
        Days (default: the model's horizon).
    level : float, default 0.95
        Interval level (percentile interval of the ensemble's risks).
    max_width : float, default 0.10
        An interval wider than this (absolute risk, 0.10 = 10 percentage
        points) flags the patient.
    blocks : Mapping[str, list of str] or CohortData, optional
        Modality blocks (``CohortData.blocks``); a patient without any value in
        a block's missable columns (those with a missing value in the training
        data, or in ``X`` without training data) is flagged ``"<block> missing"``.
    ood : {"mahalanobis", "isolation", None}, default "mahalanobis"
        Out-of-distribution score on the preprocessed matrix (training medians
        imputed, standardised): the Mahalanobis distance squared with a
        Ledoit-Wolf covariance, or an isolation forest's anomaly score.
        Needs ``X_train``.
    ood_quantile : float, default 0.99
        A score above this quantile of the training patients' scores flags the
        patient (about 1 % of patients like the training ones are flagged).
    random_state : int, default 0
        Seed of the resamples (and of the isolation forest): refit ``b`` is
        fitted on replicate ``b`` of :class:`radiorisk.stats.StratifiedBootstrap`
        with one stratum (the seeding scheme of :mod:`radiorisk.stats._resample`).
    progress : callable, optional
        ``progress(step, done, total)`` after each bootstrap refit (step
        ``"bootstrap refits"``): the refits are most of the time of a patient report.
    n_jobs : int, default 1
        Processes for the bootstrap refits (joblib); the risks are the same for any
        ``n_jobs`` (each refit is one seeded fit wherever it runs).  Use it with a model of
        one thread per fit (``nthread=1``), or the processes compete for the cores.

    Returns
    -------
    RiskUncertainty

    Notes
    -----
    The interval reflects the model's estimation uncertainty (how much the
    fitted model would change with another sample of the same size), not the
    patient's outcome uncertainty.  The chi-square cut-off of the Mahalanobis
    distance assumes Gaussian features; binary flags, counts and skewed plaque
    volumes are far from it, so the cut-off is the empirical quantile of the
    training patients' own scores instead.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> from radiorisk.models import make_model
    >>> data = assemble_cohort(simulate_cohort(400, seed=2))
    >>> model = make_model("xgb-cox", n_estimators=20, nthread=1).fit(data.X, data.y)
    >>> u = risk_intervals(model, data.X.iloc[:5], X_train=data.X, y_train=data.y, n_boot=5,
    ...                    blocks=data.blocks)
    >>> bool((u.table["ci_low"] <= u.table["ci_high"]).all())
    True
    >>> "PET missing" in u.table["reason"].str.cat(sep=" ")
    True
    """
    level = check_fraction("level", level)
    ood_quantile = check_fraction("ood_quantile", ood_quantile)
    if isinstance(max_width, bool) or not isinstance(max_width, int | float) or not max_width > 0:
        raise ExplainError(f"max_width must be a number > 0; got {max_width!r}")
    if ood not in OOD_METHODS:
        raise ExplainError(f"ood must be one of {list(OOD_METHODS)}; got {ood!r}")
    seed = check_seed(random_state)
    if not isinstance(X, pd.DataFrame):
        raise ExplainError("risk_intervals: X must be a DataFrame with the model's input columns")
    h = float(horizon) if horizon is not None else float(model.horizon)
    risk = np.asarray(model.predict_risk(X, h), dtype=np.float64)
    notes = []
    if ensemble is not None:
        R, source = _ensemble_risks(ensemble, X, h), "ensemble"
    else:
        R, source = _bootstrap_risks(model, X, h, X_train, y_train, n_boot=n_boot, seed=seed, notes=notes,
                                     progress=progress, n_jobs=check_int("n_jobs", n_jobs, 1)), "bootstrap"
    q = (1.0 - level) / 2.0
    lo, hi = np.quantile(R, [q, 1.0 - q], axis=0)
    width = hi - lo
    missing = _missing_blocks(X, X_train, check_blocks(blocks))
    score, thr = np.full(len(X), np.nan), np.nan
    if ood is not None and X_train is None:
        notes.append("no out-of-distribution score: X_train not given")
        ood = None
    elif ood is not None:
        s_train, score = _ood_scores(ood, transform_head(model, X_train), transform_head(model, X),
                                     random_state=seed)
        thr = float(np.quantile(s_train, ood_quantile))
    reasons = [_reasons(width[i], lo[i], hi[i], missing[i], score[i], max_width=max_width, ood=ood,
                        thr=thr, ood_quantile=ood_quantile) for i in range(len(X))]
    table = pd.DataFrame({
        "risk": risk, "ci_low": lo, "ci_high": hi, "width": width, "ood_score": score,
        "missing_blocks": [",".join(m) for m in missing],
        "low_confidence": [bool(r) for r in reasons], "reason": reasons}, index=X.index)
    return RiskUncertainty(table=table, horizon=h, level=level, n_models=int(R.shape[0]), source=source,
                           max_width=float(max_width), ood=ood, ood_threshold=thr, notes=tuple(notes))


def _ensemble_risks(ensemble, X: pd.DataFrame, h: float) -> np.ndarray:
    """(m, n) risks of the given models."""
    models = list(ensemble)
    if not models:
        raise ExplainError("risk_intervals: ensemble is empty")
    return np.vstack([np.asarray(m.predict_risk(X, h), dtype=np.float64) for m in models])


def _refit_risk(model, X_b: pd.DataFrame, y_b, X: pd.DataFrame, h: float):
    """``(risks of X, None)`` of ``clone(model)`` fitted on one resample, or ``(None, error)``."""
    try:
        m = clone(model).fit(X_b, y_b)
    except ValueError as exc:  # e.g. no event by the horizon in a resample
        return None, str(exc)
    return np.asarray(m.predict_risk(X, h), dtype=np.float64), None


def _bootstrap_risks(model, X: pd.DataFrame, h: float, X_train, y_train, *, n_boot, seed: int,
                     notes: list[str], progress=None, n_jobs: int = 1) -> np.ndarray:
    """(m, n) risks of ``clone(model)`` refitted on bootstrap resamples; failed refits noted in ``notes``.

    Refit ``b`` uses replicate ``b`` of ``StratifiedBootstrap(one stratum, n_boot, seed)``.
    """
    if X_train is None or y_train is None:
        raise ExplainError("risk_intervals: pass X_train and y_train (bootstrap refits) or ensemble=")
    n_boot = check_int("n_boot", n_boot, 2)
    n = len(X_train)
    yt = np.asarray(y_train)
    if yt.shape[0] != n:
        raise ExplainError(f"risk_intervals: X_train has {n} rows but y_train has {yt.shape[0]}")
    bs = StratifiedBootstrap(np.zeros(n), n_boot, seed)  # training patients alike: one stratum
    R, errors = [], []
    if progress is not None:
        progress("bootstrap refits", 0, n_boot)

    def refit(b: int):  # the arguments of refit b
        idx = bs.replicate(b)
        return model, X_train.iloc[idx], yt[idx], X, h

    # in the order of b whatever n_jobs (joblib's generator yields results in submission order)
    results = (_refit_risk(*refit(b)) for b in range(n_boot)) if n_jobs == 1 else \
        Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_refit_risk)(*refit(b)) for b in range(n_boot))
    for b, (risk_b, error) in enumerate(results):
        if error is None:
            R.append(risk_b)
        else:
            errors.append(error)
        if progress is not None:
            progress("bootstrap refits", b + 1, n_boot)
    if len(errors) > 0.1 * n_boot:
        raise ExplainError(_MSG_FAILED.format(k=len(errors), b=n_boot, err=errors[0]))
    if errors:
        notes.append(f"{len(errors)} of {n_boot} bootstrap refits failed and were left out "
                     f"(first: {errors[0]})")
    return np.vstack(R)


def _missing_blocks(X: pd.DataFrame, X_train, colblock: dict[str, str]) -> list[list[str]]:
    """Per patient, the blocks without any value in their missable columns.

    A column is missable when it has a missing value in the training data (in ``X`` without it).
    """
    ref = X_train if X_train is not None else X
    missing = [[] for _ in range(len(X))]
    by_block: dict[str, list[str]] = {}
    for c, b in colblock.items():
        if c in X.columns and c in ref.columns and ref[c].isna().any():
            by_block.setdefault(b, []).append(c)
    for b, cols in by_block.items():
        gone = X[cols].isna().all(axis=1).to_numpy()
        for i in np.flatnonzero(gone):
            missing[i].append(b)
    return missing


def _reasons(width: float, lo: float, hi: float, missing: list[str], score: float, *, max_width: float,
             ood, thr: float, ood_quantile: float) -> str:
    """Why one patient's prediction is low-confidence (``"; "``-joined; empty when confident)."""
    r = []
    if width > max_width:
        r.append(f"interval wider than {max_width:g} ({lo:.3f}-{hi:.3f})")
    r.extend(f"{_BLOCK_LABEL.get(b, b)} missing" for b in missing)
    if ood is not None and score > thr:
        what = "Mahalanobis D2" if ood == "mahalanobis" else "isolation score"
        r.append(f"outside training distribution ({what} {score:.3g} > {thr:.3g}, the training "
                 f"{ood_quantile:.0%} quantile)")
    return "; ".join(r)
