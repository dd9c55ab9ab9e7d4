"""ComBat harmonisation as the first step of the model pipeline (so fitted inside each training fold).

:class:`ComBatHarmoniser` reads the scanner batch of every row from non-feature columns of ``X``
named ``batch:<name>`` (e.g. ``batch:vendor``, ``batch:kernel``: strings, added by
:func:`radiorisk.features.add_batch_columns` and carried by ``CohortData.batch_columns`` into every
model's input), harmonises the radiomic (and optionally other) columns by ComBat
(:func:`radiorisk.stats.combat_fit`, empirical Bayes, covariates preserved) and drops the batch
columns, so the steps after it never see them.  The batch of a row is the combination of its
labels (``"GE/soft"`` for vendor GE, kernel soft).  A batch not seen in training is refused, naming
the batch and the batches seen (:func:`check_batches` gives the same refusal before a prediction).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..exceptions import NotEstimableError
from ..features import BATCH_PREFIX, batch_column
from ..stats import ComBatFit, combat_apply, combat_fit
from ._base import ModelError
from ._frames import as_frame, check_str_list, require_columns

__all__ = ["ComBatHarmoniser", "BATCH_PREFIX", "batch_column", "check_batches", "default_harmonised"]

def default_harmonised(columns) -> list[str]:
    """The radiomic feature columns (``rad_<feature>__<aggregate>``) among ``columns``; indicators are not.

    Examples
    --------
    >>> default_harmonised(["age_years", "rad_available", "rad_original_glcm_Contrast__max"])
    ['rad_original_glcm_Contrast__max']
    """
    return [str(c) for c in columns if str(c).startswith("rad_") and "__" in str(c)]


def _names(batch) -> list[str]:
    if isinstance(batch, str):
        batch = [b.strip() for b in batch.split(",") if b.strip()]
    batch = check_str_list("batch", batch)
    if not batch:
        raise ModelError("ComBatHarmoniser needs batch=[the batch variables, e.g. 'vendor', 'kernel']")
    return batch


def _labels(X: pd.DataFrame, names: list[str], who: str) -> np.ndarray:
    """The batch of every row: its labels joined by ``/``; missing labels are refused."""
    cols = [batch_column(n) for n in names]
    if not len(X):
        return np.array([], dtype=str)
    missing = [c for c in cols if c not in X.columns]
    if missing:
        raise ModelError(f"{who}: X has no batch column(s) {missing} (add them with "
                         "radiorisk.features.add_batch_columns; they are not model features)")
    lab = X[cols]
    na = lab.isna().any(axis=1)
    if na.any():
        c = next(c for c in cols if lab[c].isna().any())
        raise ModelError(f"{who}: batch column {c!r} is missing for {int(na.sum())} row(s) (first: "
                         f"{X.index[na.to_numpy()][0]!r}); every row needs its batch to be harmonised")
    return lab.astype(str).agg("/".join, axis=1).to_numpy(dtype=str)


class ComBatHarmoniser(TransformerMixin, BaseEstimator):
    """ComBat-harmonise feature columns by scanner batch, learnt on the training rows only.

    Parameters
    ----------
    batch : sequence of str or str, default ("vendor", "kernel")
        The batch variables; ``X`` carries them as ``batch:<name>`` columns (dropped by
        ``transform``).  Several variables make one batch per combination.
    columns : list of str, optional
        The columns to harmonise (those absent from ``X`` are ignored).  Default: the
        radiomic feature columns (:func:`default_harmonised`).
    covariates : list of str, optional
        Numeric columns of ``X`` whose effects ComBat preserves (e.g. ``age_years``,
        ``sex``); they are not changed.  A missing covariate at ``transform`` takes its
        training mean.
    eb : bool, default True
        Empirical Bayes shrinkage of the batch effects (Johnson et al. 2007).
    rows : str or None, default "rad_has_plaque"
        A 0/1 column of ``X``: only its rows equal to 1 are fitted and harmonised (patients
        without plaque have the explicit no-plaque zeros of the radiomics block, which are no
        measurement and stay as they are).  Ignored when ``X`` has no such column; None: every row.

    Attributes
    ----------
    columns_ : list of str
        The columns harmonised (non-constant on the complete training rows).
    skipped_ : list of str
        Candidate columns left as they are (constant on the complete training rows).
    batches_ : list of str
        The batches seen in training.
    combat_ : ComBatFit or None
        The estimates (None when no candidate column is in ``X``: the step only drops the
        batch columns).
    n_fit_ : int
        Training rows used (complete in ``columns_`` and ``covariates``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"rad_f__max": np.r_[rng.normal(0, 1, 40), rng.normal(3, 1, 40)],
    ...                   "rad_g__max": np.r_[rng.normal(0, 1, 40), rng.normal(-2, 1, 40)],
    ...                   "batch:vendor": ["GE"] * 40 + ["Siemens"] * 40})
    >>> h = ComBatHarmoniser(batch=["vendor"]).fit(X)
    >>> Xt = h.transform(X)
    >>> list(Xt.columns), h.batches_
    (['rad_f__max', 'rad_g__max'], ['GE', 'Siemens'])
    >>> bool(abs(Xt["rad_f__max"][:40].mean() - Xt["rad_f__max"][40:].mean()) < 0.2)
    True
    """

    def __init__(self, batch=("vendor", "kernel"), *, columns=None, covariates=None, eb=True,
                 rows="rad_has_plaque"):
        self.batch = batch
        self.columns = columns
        self.covariates = covariates
        self.eb = eb
        self.rows = rows

    def _rows(self, X: pd.DataFrame) -> np.ndarray:
        """The rows to harmonise (``rows`` column equal to 1, or every row)."""
        if self.rows is None or self.rows not in X.columns:
            return np.ones(len(X), dtype=bool)
        return (pd.to_numeric(X[self.rows]) == 1).to_numpy(dtype=bool)

    def _batch_columns(self) -> list[str]:
        return [batch_column(n) for n in _names(self.batch)]

    def fit(self, X, y=None):
        """Learn the ComBat estimates on the rows of ``X`` complete in the harmonised columns and covariates."""
        X = as_frame(X)
        names = _names(self.batch)
        bcols = set(self._batch_columns())
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.dtypes_in_ = {str(c): str(X[c].dtype) for c in X.columns}
        cand = check_str_list("columns", self.columns)
        cand = default_harmonised(X.columns) if cand is None else [c for c in cand if c in X.columns]
        cand = [c for c in cand if c not in bcols]
        cov = check_str_list("covariates", self.covariates) or []
        require_columns(X, cov, "ComBatHarmoniser.fit (covariates)")
        self.covariate_means_ = {c: float(pd.to_numeric(X[c]).mean()) for c in cov}
        self.combat_, self.columns_, self.skipped_, self.n_fit_ = None, [], [], 0
        sel = self._rows(X)
        labels = np.full(len(X), "", dtype=object)
        labels[sel] = _labels(X[sel], names, "ComBatHarmoniser.fit")
        labels = labels.astype(str)
        self.batches_ = sorted(set(labels[sel].tolist()))
        if not cand:
            return self
        block = X[cand + cov].apply(pd.to_numeric).to_numpy(dtype=float)
        ok = np.isfinite(block).all(axis=1) & sel
        Y = block[ok, :len(cand)]
        varying = [j for j in range(len(cand)) if len(Y) and np.ptp(Y[:, j]) > 0]
        self.skipped_ = [c for j, c in enumerate(cand) if j not in varying]
        self.columns_ = [cand[j] for j in varying]
        if not self.columns_:
            return self
        try:
            self.combat_ = combat_fit(Y[:, varying], labels[ok], block[ok, len(cand):], eb=bool(self.eb))
        except NotEstimableError as exc:
            raise ModelError(f"ComBatHarmoniser.fit on {int(ok.sum())} complete training row(s): {exc}") from exc
        self.batches_ = list(self.combat_.batches)
        self.n_fit_ = int(ok.sum())
        return self

    def transform(self, X) -> pd.DataFrame:
        """``X`` with the harmonised columns replaced and the batch columns dropped (NaN stay NaN)."""
        check_is_fitted(self, "batches_")
        X = as_frame(X)
        out = X.drop(columns=[c for c in self._batch_columns() if c in X.columns])
        if self.combat_ is None:
            return out
        sel = self._rows(X)
        Xs = X[sel]
        labels = _labels(Xs, _names(self.batch), "ComBatHarmoniser.transform")
        check_labels(labels, self.batches_, _names(self.batch), Xs.index)
        require_columns(X, self.columns_ + list(self.covariate_means_), "ComBatHarmoniser.transform")
        Z = np.column_stack([pd.to_numeric(Xs[c]).fillna(m).to_numpy(dtype=float)
                             for c, m in self.covariate_means_.items()]) if self.covariate_means_ else None
        H = combat_apply(self.combat_, Xs[self.columns_].to_numpy(dtype=float), labels, Z)
        out = out.astype({c: float for c in self.columns_})
        out.loc[sel, self.columns_] = H
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "batches_")
        drop = set(self._batch_columns())
        return np.asarray([c for c in self.feature_names_in_ if c not in drop], dtype=object)

    def describe(self) -> str:
        """One sentence: what was harmonised, by which batches, with how many rows."""
        check_is_fitted(self, "batches_")
        names = "/".join(_names(self.batch))
        if self.combat_ is None:
            return f"ComBat harmonisation by {names}: no column to harmonise (batch columns dropped)"
        cov = ", ".join(self.covariate_means_) or "none"
        sizes = ", ".join(f"{b} ({k})" for b, k in zip(self.combat_.batches, self.combat_.n_per_batch, strict=True))
        rows = f" on the rows with {self.rows} = 1" if self.rows is not None and self.rows in self.feature_names_in_ else ""
        return (f"ComBat harmonisation ({'empirical Bayes' if self.combat_.eb else 'location/scale, no EB'}) "
                f"of {len(self.columns_)} column(s){rows} by {names}, {len(self.batches_)} batches: {sizes} "
                f"training rows; covariates preserved: {cov}; {len(self.skipped_)} constant column(s) left as is")

    def _to_state(self) -> dict:
        return {"feature_names_in_": [str(c) for c in self.feature_names_in_], "dtypes_in_": dict(self.dtypes_in_),
                "columns_": list(self.columns_), "skipped_": list(self.skipped_), "batches_": list(self.batches_),
                "covariate_means_": dict(self.covariate_means_), "n_fit_": int(self.n_fit_),
                "combat_": None if self.combat_ is None else self.combat_.to_dict()}

    def _set_state(self, st: dict) -> None:
        self.feature_names_in_ = np.asarray(st["feature_names_in_"], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.dtypes_in_ = dict(st["dtypes_in_"])
        self.columns_, self.skipped_ = list(st["columns_"]), list(st["skipped_"])
        self.batches_ = list(st["batches_"])
        self.covariate_means_ = {str(k): float(v) for k, v in st["covariate_means_"].items()}
        self.n_fit_ = int(st["n_fit_"])
        self.combat_ = None if st["combat_"] is None else ComBatFit.from_dict(st["combat_"])


def check_labels(labels, seen, names, index) -> None:
    """Refuse batches not among ``seen``, naming the batch, its rows and the batches seen."""
    unseen = [b for b in dict.fromkeys(np.asarray(labels).tolist()) if b not in set(seen)]
    if unseen:
        rows = int(np.isin(labels, unseen).sum())
        first = index[np.flatnonzero(np.asarray(labels) == unseen[0])[0]]
        raise ModelError(f"ComBat harmonisation: batch {'/'.join(names)} = {unseen[0]!r} (first row {first!r}; "
                         f"{rows} row(s) in {len(unseen)} unseen batch(es)) was not seen in training; batches "
                         f"seen: {', '.join(map(repr, seen))}. The harmoniser cannot correct a scanner it has not "
                         "learnt: refit with data from that scanner, or predict with a model fitted without "
                         "harmonisation")


def check_batches(est, X: pd.DataFrame) -> str | None:
    """Refuse rows of ``X`` whose batch the model's harmoniser has not seen; its description, else None.

    Examples
    --------
    >>> check_batches(None, pd.DataFrame()) is None
    True
    """
    steps = dict(getattr(est, "steps", ()) or ())
    h = steps.get("harmonise")
    if not isinstance(h, ComBatHarmoniser):
        return None
    if h.combat_ is not None:
        names = _names(h.batch)
        Xs = X[h._rows(X)]
        check_labels(_labels(Xs, names, "ComBat harmonisation"), h.batches_, names, Xs.index)
    return h.describe()
