"""Preprocessing transformers fitted inside the model pipeline (so within training folds only).

Every transformer takes and returns a :class:`pandas.DataFrame` (column names
flow through to hazard-ratio tables and SHAP), learns its state in ``fit`` from
the training rows only, and can write that state as plain JSON
(``_to_state`` / ``_from_state``), which is how model bundles store it.

- :class:`ModalityPreprocessor`: one-hot encoding of categoricals, 0/1 for
  booleans, optional standard scaling, median imputation with availability
  (missingness) indicators, and removal of constant columns.
- :class:`ICCFilter`: keep only the radiomics features that passed a
  reader-reliability (ICC) filter.
- :class:`CorrelationPruner`: drop a feature highly correlated with one kept
  before it.
- :class:`UnivariableScreen`: keep the features with the strongest
  univariable Cox score test on the training fold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chi2
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._base import ModelError, check_choice, check_number, check_y

__all__ = [
    "ModalityPreprocessor",
    "ICCFilter",
    "CorrelationPruner",
    "UnivariableScreen",
    "univariable_cox_score",
    "make_preprocessor",
]

_MISSING_LEVEL = "__missing__"


def _as_frame(X) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ModelError(f"X must be a 2-D table (DataFrame); got an array of shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])


def _require_columns(X: pd.DataFrame, cols, who: str) -> None:
    missing = [c for c in cols if c not in X.columns]
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ModelError(f"{who}: X lacks {len(missing)} column(s) seen in fit: {shown}")


def _is_categorical_dtype(s: pd.Series) -> bool:
    return (s.dtype == object or isinstance(s.dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(s.dtype))


def _numeric_values(s: pd.Series, name: str) -> np.ndarray:
    """A column as float64 (booleans 0/1, pandas NA -> NaN); non-numbers are an error."""
    dt = s.dtype
    if isinstance(dt, np.dtype) and dt.kind in "fiub":
        return s.to_numpy(dtype=np.float64)
    if pd.api.types.is_bool_dtype(dt) or pd.api.types.is_numeric_dtype(dt):
        return s.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)
    vals = pd.to_numeric(s, errors="coerce")
    bad = vals.isna() & s.notna()
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise ModelError(f"column {name!r} is numeric but row {s.index[i]!r} holds {s.iloc[i]!r}")
    return vals.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan)


def _category_strings(s: pd.Series) -> np.ndarray:
    """Category labels as str (a numpy unicode array), missing as :data:`_MISSING_LEVEL`."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = np.array([str(c) for c in s.cat.categories] + [_MISSING_LEVEL], dtype=str)
        return cats[s.cat.codes.to_numpy()]  # code -1 (missing) picks the last entry
    arr = s.to_numpy(dtype=object)
    miss = pd.isna(arr)
    if miss.any():
        arr = arr.copy()
        arr[miss] = _MISSING_LEVEL
    return arr.astype(str)


def _check_str_list(name: str, value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(c, str) for c in value):
        raise ModelError(f"{name} must be a list of column names; got {value!r}")
    return list(value)


def _is_constant(v: np.ndarray) -> bool:
    """All observed values equal (an all-NaN column counts as constant)."""
    obs = v[~np.isnan(v)]
    return obs.size == 0 or bool(obs.min() == obs.max())


class ModalityPreprocessor(TransformerMixin, BaseEstimator):
    """Encode, scale and impute a mixed table for a risk model, learning everything in ``fit``.

    Parameters
    ----------
    categorical : list of str, optional
        Categorical columns, one-hot encoded.  Inferred when None: columns of
        dtype object, category or string not listed in ``numeric``.
    numeric : list of str, optional
        Numeric columns (booleans become 0/1).  Inferred when None: every
        other column not in ``categorical``.  When both lists are given,
        columns in neither are ignored.
    drop_first : bool, default False
        Drop each categorical's reference level (the most frequent in the
        training rows) so the dummies are not collinear — needed by Cox models.
    scale : bool, default False
        Standardise numeric columns with more than two distinct values
        (training mean and population SD); 0/1 columns stay 0/1.
    impute : {None, "median"}, default None
        ``None`` keeps NaN (xgboost learns a default direction for it);
        ``"median"`` fills with the training median.
    missing_indicator : bool, default False
        With imputation: add an availability (missingness) indicator, 1 when
        missing, for the columns that had NaN in the training rows.  Columns
        sharing the same missingness pattern (e.g. every PET measure, missing
        together when no PET was done) share one indicator named after the
        first of them, ``<column>_missing``, which avoids collinear copies.
    drop_constant : bool, default False
        Drop output columns that are constant in the training rows.
    max_categories : int, default 50
        A categorical column with more levels than this in the training rows
        is an error (it is probably an identifier).

    Attributes
    ----------
    feature_names_in_ : ndarray of str
    numeric_, categorical_ : list of str
        The columns used.
    levels_ : dict
        Levels of each categorical (``"__missing__"`` for NaN), sorted.
    reference_ : dict
        The dropped reference level of each categorical (``drop_first``).
    means_, scales_, medians_ : dict
        Training statistics of the numeric columns (on the original scale).
    indicator_groups_ : list of (str, list of str)
        Indicator name and the columns whose missingness it flags.
    constant_columns_ : list of str
        Output columns dropped as constant.
    feature_names_out_ : list of str

    Notes
    -----
    Unknown categories at prediction time get all-zero dummies; a column
    without NaN in the training rows is imputed (when ``impute``) but gets no
    indicator.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"age": [50.0, 60.0, 70.0, 65.0], "sex": ["f", "m", "m", "m"],
    ...                   "tbr": [1.2, None, 1.8, None]})
    >>> pre = ModalityPreprocessor(drop_first=True, impute="median", missing_indicator=True)
    >>> pre.fit_transform(X).columns.tolist()
    ['age', 'sex_f', 'tbr', 'tbr_missing']
    >>> pre.transform(X)["tbr"].tolist()
    [1.2, 1.5, 1.8, 1.5]
    """

    def __init__(self, *, categorical=None, numeric=None, drop_first=False, scale=False,
                 impute=None, missing_indicator=False, drop_constant=False, max_categories=50):
        self.categorical = categorical
        self.numeric = numeric
        self.drop_first = drop_first
        self.scale = scale
        self.impute = impute
        self.missing_indicator = missing_indicator
        self.drop_constant = drop_constant
        self.max_categories = max_categories

    def _check_params(self) -> None:
        check_choice("impute", self.impute, (None, "median"))
        check_number("max_categories", self.max_categories, low=1, integer=True)
        for name in ("drop_first", "scale", "missing_indicator", "drop_constant"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ModelError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if self.missing_indicator and self.impute is None:
            raise ModelError("missing_indicator=True needs impute='median'")

    def _split_columns(self, X: pd.DataFrame) -> tuple[list[str], list[str]]:
        cat = _check_str_list("categorical", self.categorical)
        num = _check_str_list("numeric", self.numeric)
        cols = [str(c) for c in X.columns]
        if cat is not None:
            _require_columns(X, cat, "ModalityPreprocessor.fit")
        if num is not None:
            _require_columns(X, num, "ModalityPreprocessor.fit")
        if cat is not None and num is not None:
            both = sorted(set(cat) & set(num))
            if both:
                raise ModelError(f"columns listed as both categorical and numeric: {both}")
            keep = set(cat) | set(num)
            return [c for c in cols if c in keep and c in num], [c for c in cols if c in keep and c in cat]
        if cat is None:
            given_num = set(num or [])
            cat = [c for c in cols if c not in given_num and _is_categorical_dtype(X[c])]
        num = [c for c in cols if c not in set(cat)] if num is None else num
        return [c for c in cols if c in set(num)], [c for c in cols if c in set(cat)]

    def fit(self, X, y=None):
        """Learn columns, levels, means, scales, medians and indicators from the training rows."""
        self._check_params()
        X = _as_frame(X)
        if len(X) == 0:
            raise ModelError("ModalityPreprocessor.fit: X has no rows")
        self.feature_names_in_ = np.asarray([str(c) for c in X.columns], dtype=object)
        self.n_features_in_ = X.shape[1]
        self.dtypes_in_ = {str(c): str(X[c].dtype) for c in X.columns}
        self.numeric_, self.categorical_ = self._split_columns(X)
        self.levels_, self.reference_ = {}, {}
        for c in self.categorical_:
            labels = _category_strings(X[c])
            uniq, counts = np.unique(labels, return_counts=True)
            if len(uniq) > self.max_categories:
                raise ModelError(
                    f"categorical column {c!r} has {len(uniq)} levels in the training rows "
                    f"(max_categories={self.max_categories}); is it an identifier?"
                )
            self.levels_[c] = [str(v) for v in uniq.tolist()]
            if self.drop_first:
                self.reference_[c] = str(uniq[int(np.argmax(counts))])
        self.means_, self.scales_, self.medians_, self.binary_ = {}, {}, {}, []
        masks = {}
        for c in self.numeric_:
            v = _numeric_values(X[c], c)
            obs = v[~np.isnan(v)]
            if self.impute is not None or self.scale:
                if obs.size == 0:
                    raise ModelError(f"numeric column {c!r} is missing in every training row")
            if obs.size and np.isin(obs, (0.0, 1.0)).all():
                self.binary_.append(c)
            if self.scale and c not in self.binary_:
                sd = float(np.std(obs))
                self.means_[c] = float(np.mean(obs))
                self.scales_[c] = sd if sd > 0 else 1.0
            if self.impute == "median":
                self.medians_[c] = float(np.median(obs))
            miss = np.isnan(v)
            if miss.any():
                masks[c] = miss
        self.indicator_groups_ = []
        if self.missing_indicator:
            groups: dict[bytes, list[str]] = {}
            for c, m in masks.items():
                groups.setdefault(np.packbits(m).tobytes(), []).append(c)
            self.indicator_groups_ = [(f"{cols[0]}_missing", cols) for cols in groups.values()]
        self.constant_columns_ = []
        out = self._transform(X)
        if self.drop_constant:
            self.constant_columns_ = [c for c in out.columns if _is_constant(out[c].to_numpy())]
        self.feature_names_out_ = [c for c in out.columns if c not in set(self.constant_columns_)]
        self._fit_output = out
        return self

    def fit_transform(self, X, y=None, **fit_params) -> pd.DataFrame:
        """``fit(X).transform(X)`` computed once."""
        self.fit(X, y)
        out = self._fit_output
        del self._fit_output
        return out[self.feature_names_out_]

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        cols: dict[str, np.ndarray] = {}
        numeric = set(self.numeric_)
        raw = {}
        for c in self.feature_names_in_:
            if c in numeric:
                v = _numeric_values(X[c], c)
                raw[c] = v
                if c in self.medians_:
                    v = np.where(np.isnan(v), self.medians_[c], v)
                if c in self.means_:
                    v = (v - self.means_[c]) / self.scales_[c]
                cols[c] = v
            elif c in self.levels_:
                labels = _category_strings(X[c])
                for lev in self.levels_[c]:
                    if self.reference_.get(c) == lev:
                        continue
                    cols[f"{c}_{lev}"] = (labels == lev).astype(np.float64)
        for name, members in self.indicator_groups_:
            cols[name] = np.isnan(raw[members[0]]).astype(np.float64)
        return pd.DataFrame(cols, index=X.index)

    def transform(self, X) -> pd.DataFrame:
        """Encode, impute and scale ``X`` with the training state; returns a float DataFrame."""
        check_is_fitted(self, "feature_names_out_")
        X = _as_frame(X)
        _require_columns(X, self.numeric_ + self.categorical_, "ModalityPreprocessor.transform")
        out = self._transform(X)
        return out[self.feature_names_out_]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    _STATE = ("numeric_", "categorical_", "levels_", "reference_", "means_", "scales_", "medians_",
              "binary_", "constant_columns_", "feature_names_out_", "dtypes_in_")

    def _to_state(self) -> dict:
        st = {k: getattr(self, k) for k in self._STATE}
        st["feature_names_in_"] = [str(c) for c in self.feature_names_in_]
        st["indicator_groups_"] = [[n, list(m)] for n, m in self.indicator_groups_]
        return st

    def _set_state(self, st: dict) -> None:
        for k in self._STATE:
            setattr(self, k, st[k])
        self.feature_names_in_ = np.asarray(st["feature_names_in_"], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.indicator_groups_ = [(n, list(m)) for n, m in st["indicator_groups_"]]


class _ColumnSelector(TransformerMixin, BaseEstimator):
    """Base of the selectors: keep ``kept_`` columns, in input order."""

    def _candidates(self, X: pd.DataFrame) -> list[str]:
        cols = _check_str_list("columns", self.columns)
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
        X = _as_frame(X)
        _require_columns(X, self.kept_, type(self).__name__ + ".transform")
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
        keep = _check_str_list("keep", self.keep)
        if keep is None:
            raise ModelError("ICCFilter needs keep=[the features that passed the ICC filter]")
        X = _as_frame(X)
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
        X = _as_frame(X)
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
    X = _as_frame(X)
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
        X = _as_frame(X)
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


def make_preprocessor(model: str, *, categorical=None, numeric=None) -> ModalityPreprocessor:
    """The default :class:`ModalityPreprocessor` of a model.

    xgboost models keep NaN (native missing-value handling) and need neither
    scaling nor reference levels; ``coxph`` gets reference-level dummies,
    standardised continuous columns, median imputation with availability
    indicators, and constant columns dropped.

    Examples
    --------
    >>> make_preprocessor("coxph").impute
    'median'
    >>> make_preprocessor("xgb-cox").impute is None
    True
    """
    if not isinstance(model, str):
        raise ModelError(f"model must be a model name; got {model!r}")
    if model == "coxph":
        return ModalityPreprocessor(categorical=categorical, numeric=numeric, drop_first=True,
                                    scale=True, impute="median", missing_indicator=True,
                                    drop_constant=True)
    return ModalityPreprocessor(categorical=categorical, numeric=numeric)


