"""Column selection steps fitted inside the model pipeline (so within training folds only).

Each selector keeps a subset of its input columns, in input order, and stores
the kept and dropped columns as plain JSON (``_to_state`` / ``_set_state``).

- :class:`ICCFilter`: keep only the radiomics features that passed a
  reader-reliability (ICC) filter.
- :class:`CorrelationPruner`: drop a feature highly correlated with one kept
  before it.
- :class:`UnivariableScreen`: keep the features with the strongest
  univariable Cox score test (:func:`univariable_cox_score`) on the training fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._base import ModelError, check_choice, check_number, check_y
from ._frames import as_frame, check_str_list, require_columns

__all__ = ["ICCFilter", "CorrelationPruner", "UnivariableScreen", "univariable_cox_score"]


class _ColumnSelector(TransformerMixin, BaseEstimator):
    """Base of the selectors: keep ``kept_`` columns, in input order."""

    def _candidates(self, X: pd.DataFrame) -> list[str]:
        cols = check_str_list("columns", self.columns)
        if cols is None:
            return [str(c) for c in X.columns]
        present = set(map(str, X.columns))
        return [c for c in cols if c in present]

    def _finish(self, X: pd.DataFrame, dropped) -> None:
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        gone = set(dropped)
        self.dropped_ = [c for c in self.feature_names_in_ if c in gone]
        self.kept_ = [c for c in self.feature_names_in_ if c not in gone]

    def transform(self, X) -> pd.DataFrame:
        """The kept columns of ``X``."""
        check_is_fitted(self, "kept_")
        X = as_frame(X)
        require_columns(X, self.kept_, type(self).__name__ + ".transform")
        return X[self.kept_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "kept_")
        return np.asarray(self.kept_, dtype=object)

    def _to_state(self) -> dict:
        return {"feature_names_in_": [str(c) for c in self.feature_names_in_],
                "kept_": list(self.kept_), "dropped_": list(self.dropped_)}

    def _set_state(self, st: dict) -> None:
        self.feature_names_in_ = np.asarray(st["feature_names_in_"], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.kept_ = list(st["kept_"])
        self.dropped_ = list(st["dropped_"])


class ICCFilter(_ColumnSelector):
    """Keep only the radiomics features that passed a reader-reliability (ICC) filter.

    The ICC itself comes from a multi-reader reliability study
    (:func:`radiorisk.features.feature_icc` and
    :func:`radiorisk.features.robust_features`), not from the outcome data,
    so the list is fixed before model fitting.

    Parameters
    ----------
    keep : list of str
        The features that passed (names absent from ``X`` are ignored).
    columns : list of str, optional
        The columns the filter applies to (e.g. the radiomics block); other
        columns pass through.  None: every column is subject to the filter.

    Attributes
    ----------
    kept_, dropped_ : list of str

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"age": [60.0], "glcm_a": [1.0], "glcm_b": [2.0]})
    >>> ICCFilter(["glcm_a"], columns=["glcm_a", "glcm_b"]).fit(X).kept_
    ['age', 'glcm_a']
    """

    def __init__(self, keep=None, *, columns=None):
        self.keep = keep
        self.columns = columns

    def fit(self, X, y=None):
        """Record which candidate columns of ``X`` are not in ``keep``."""
        keep = check_str_list("keep", self.keep)
        if keep is None:
            raise ModelError("ICCFilter needs keep=[the features that passed the ICC filter]")
        X = as_frame(X)
        keep_set = set(keep)
        self._finish(X, [c for c in self._candidates(X) if c not in keep_set])
        return self


def _abs_corr(frame: pd.DataFrame, method: str) -> np.ndarray:
    arr = frame.to_numpy(dtype=np.float64)
    if method == "spearman":
        arr = frame.rank(method="average").to_numpy(dtype=np.float64)
    if not np.isnan(arr).any():
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = arr.std(axis=0)
            z = (arr - arr.mean(axis=0)) / np.where(sd > 0, sd, np.nan)
            r = (z.T @ z) / len(arr)
    else:  # pairwise complete observations
        r = pd.DataFrame(arr).corr(method="pearson", min_periods=3).to_numpy()
    return np.nan_to_num(np.abs(r), nan=0.0)


class CorrelationPruner(_ColumnSelector):
    """Drop each feature whose absolute correlation with a feature kept before it exceeds a threshold.

    Columns are visited in input order; a column is dropped when
    ``|r| > threshold`` with any column already kept, so the first of a
    correlated group survives.  NaN are handled pairwise (complete
    observations of each pair); constant columns count as uncorrelated.

    Parameters
    ----------
    threshold : float, default 0.9
        In (0, 1].
    columns : list of str, optional
        The columns subject to pruning (e.g. the radiomics block); others pass
        through untouched.  None: every column.
    method : {"pearson", "spearman"}, default "pearson"

    Attributes
    ----------
    kept_, dropped_ : list of str

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [2.0, 4, 6, 8.5], "c": [1.0, -1, 1, -1]})
    >>> CorrelationPruner(0.9).fit(X).dropped_
    ['b']
    """

    def __init__(self, threshold=0.9, *, columns=None, method="pearson"):
        self.threshold = threshold
        self.columns = columns
        self.method = method

    def fit(self, X, y=None):
        """Find the correlated columns to drop in the training rows."""
        check_number("threshold", self.threshold, low=0.0, high=1.0, low_open=True)
        check_choice("method", self.method, ("pearson", "spearman"))
        X = as_frame(X)
        cand = self._candidates(X)
        dropped = []
        if len(cand) > 1:
            r = _abs_corr(X[cand].astype(np.float64), self.method)
            kept_idx: list[int] = []
            for j in range(len(cand)):
                if kept_idx and (r[j, kept_idx] > self.threshold).any():
                    dropped.append(cand[j])
                else:
                    kept_idx.append(j)
        self._finish(X, dropped)
        return self


def univariable_cox_score(X, y) -> pd.DataFrame:
    r"""Univariable Cox score (log-rank type) test of every column of ``X``.

    For column :math:`x`, on the rows where it is observed, with Breslow ties:
    :math:`U = \sum_k \big(\sum_{i \in D_k} x_i - d_k \bar x_{R_k}\big)` and
    :math:`I = \sum_k d_k\, \mathrm{Var}_{R_k}(x)`; the statistic
    :math:`U^2 / I` is :math:`\chi^2_1` under no association.  This is the
    score test of ``survival::coxph(Surv(time, event) ~ x, ties = "breslow")``.

    Parameters
    ----------
    X : DataFrame of shape (n, p)
        Numeric columns; NaN allowed (each column uses its observed rows).
    y : structured array
        From :func:`~radiorisk.models.make_y`.

    Returns
    -------
    DataFrame
        Indexed by feature: ``score`` (U), ``information`` (I), ``chi2``, ``p``.
        A column without information (constant) has ``chi2 = 0`` and ``p = 1``.

    Examples
    --------
    >>> import pandas as pd
    >>> from radiorisk.models import make_y
    >>> y = make_y([1, 2, 3, 4, 5, 6], [1, 1, 0, 1, 0, 0])
    >>> X = pd.DataFrame({"x": [3.0, 2, 2, 1, 0, 0]})
    >>> round(float(univariable_cox_score(X, y).loc["x", "chi2"]), 4)
    4.9505
    """
    X = as_frame(X)
    t, e = check_y(y, len(X))
    order = np.argsort(t, kind="stable")
    ts = t[order]
    es = e[order]
    starts = np.flatnonzero(np.r_[True, ts[1:] != ts[:-1]])
    names = [str(c) for c in X.columns]
    U = np.zeros(len(names))
    info = np.zeros(len(names))
    full = X.to_numpy(dtype=np.float64)[order]
    step = max(1, 2_000_000 // max(1, len(ts)))
    for j0 in range(0, len(names), step):
        x = full[:, j0:j0 + step]
        o = ~np.isnan(x)
        x0 = np.where(o, x, 0.0)
        s0 = np.add.reduceat(o.astype(np.float64), starts, axis=0)
        s1 = np.add.reduceat(x0, starts, axis=0)
        s2 = np.add.reduceat(x0 * x0, starts, axis=0)
        d = np.add.reduceat(o * es[:, None], starts, axis=0)
        dx = np.add.reduceat(x0 * es[:, None], starts, axis=0)
        R0 = np.cumsum(s0[::-1], axis=0)[::-1]
        R1 = np.cumsum(s1[::-1], axis=0)[::-1]
        R2 = np.cumsum(s2[::-1], axis=0)[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(R0 > 0, R1 / R0, 0.0)
            var = np.where(R0 > 0, R2 / R0 - mean**2, 0.0)
        U[j0:j0 + step] = (dx - d * mean).sum(axis=0)
        info[j0:j0 + step] = (d * np.maximum(var, 0.0)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(info > 1e-12, U**2 / info, 0.0)
    return pd.DataFrame({"score": U, "information": info, "chi2": stat, "p": chi2.sf(stat, 1)},
                        index=pd.Index(names, name="feature"))


class UnivariableScreen(_ColumnSelector):
    """Keep the features most associated with the outcome in a univariable Cox score test.

    Fitted on the training fold only (inside the pipeline), so the screen
    cannot leak the validation outcomes.  At least one candidate is always kept.

    Parameters
    ----------
    k : int, optional
        Keep the ``k`` candidates with the largest statistic.
    p : float, optional
        Keep the candidates with a p-value below ``p`` (with ``k`` as well: at
        most ``k`` of them).  One of ``k`` and ``p`` is required.
    columns : list of str, optional
        The columns subject to screening (e.g. the radiomics block); others
        pass through.  None: every column.

    Attributes
    ----------
    statistics_ : DataFrame
        :func:`univariable_cox_score` of the candidates plus ``selected``.
    kept_, dropped_ : list of str

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    >>> y = make_y(rng.exponential(1 / np.exp(X["b"])) + 1e-3, np.ones(300))
    >>> UnivariableScreen(k=1).fit(X, y).kept_
    ['b']
    """

    def __init__(self, k=None, *, p=None, columns=None):
        self.k = k
        self.p = p
        self.columns = columns

    def fit(self, X, y):
        """Test every candidate column on the training rows and keep the strongest."""
        if self.k is None and self.p is None:
            raise ModelError("UnivariableScreen needs k (number to keep) or p (p-value threshold)")
        check_number("k", self.k, low=1, integer=True, allow_none=True)
        check_number("p", self.p, low=0.0, high=1.0, low_open=True, allow_none=True)
        X = as_frame(X)
        cand = self._candidates(X)
        stats = univariable_cox_score(X[cand], y) if cand else pd.DataFrame(
            columns=["score", "information", "chi2", "p"])
        order = np.argsort(-stats["chi2"].to_numpy(), kind="stable")
        ranked = [cand[i] for i in order]
        if self.p is not None:
            pv = stats["p"].to_dict()
            sel = [c for c in ranked if pv[c] < self.p]
        else:
            sel = ranked
        if self.k is not None:
            sel = sel[: int(self.k)]
        if not sel and ranked:
            sel = ranked[:1]
        stats = stats.assign(selected=[c in set(sel) for c in stats.index])
        self.statistics_ = stats
        chosen = set(sel)
        self._finish(X, [c for c in cand if c not in chosen])
        return self

    def _to_state(self) -> dict:
        st = super()._to_state()
        st["statistics_"] = {"feature": list(self.statistics_.index),
                             **{c: self.statistics_[c].tolist() for c in self.statistics_.columns}}
        return st

    def _set_state(self, st: dict) -> None:
        super()._set_state(st)
        s = dict(st["statistics_"])
        idx = pd.Index(s.pop("feature"), name="feature")
        self.statistics_ = pd.DataFrame(s, index=idx)
