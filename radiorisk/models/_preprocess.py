"""Preprocessing fitted inside the model pipeline (so within training folds only).

Every transformer takes and returns a :class:`pandas.DataFrame` (column names
flow through to hazard-ratio tables and SHAP), learns its state in ``fit`` from
the training rows only, and can write that state as plain JSON
(``_to_state`` / ``_set_state``), which is how model bundles store it.

- :class:`ModalityPreprocessor` (here): one-hot encoding of categoricals, 0/1
  for booleans, optional standard scaling, median imputation with
  availability (missingness) indicators, and removal of constant columns;
  :func:`make_preprocessor` gives each model's default.
- The column selectors :class:`ICCFilter`, :class:`CorrelationPruner`,
  :class:`UnivariableScreen` and the score test
  :func:`univariable_cox_score` live in :mod:`._select` and are re-exported here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._base import ModelError, check_choice, check_number
from ._frames import as_frame, check_str_list, require_columns
from ._select import CorrelationPruner, ICCFilter, UnivariableScreen, univariable_cox_score

__all__ = [
    "ModalityPreprocessor",
    "ICCFilter",
    "CorrelationPruner",
    "UnivariableScreen",
    "univariable_cox_score",
    "make_preprocessor",
]

_MISSING_LEVEL = "__missing__"


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
        first of them, ``<column>_missing``, which avoids collinear copies; no
        indicator is added when a complete 0/1 input column already equals the
        pattern or its complement (``pet_available``).
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
        cat = check_str_list("categorical", self.categorical)
        num = check_str_list("numeric", self.numeric)
        cols = [str(c) for c in X.columns]
        if cat is not None:
            require_columns(X, cat, "ModalityPreprocessor.fit")
        if num is not None:
            require_columns(X, num, "ModalityPreprocessor.fit")
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
        X = as_frame(X)
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
            self.indicator_groups_ = [(f"{cols[0]}_missing", cols) for cols in groups.values()
                                      if not self._duplicates_a_column(X, masks[cols[0]])]
        self.constant_columns_ = []
        out = self._transform(X)
        if self.drop_constant:
            self.constant_columns_ = [c for c in out.columns if _is_constant(out[c].to_numpy())]
        self.feature_names_out_ = [c for c in out.columns if c not in set(self.constant_columns_)]
        self._fit_output = out
        return self

    def _duplicates_a_column(self, X: pd.DataFrame, miss: np.ndarray) -> bool:
        """Whether a complete 0/1 input column already says it (equal to the mask or to its complement).

        E.g. ``pet_available`` is 0 exactly where every PET measure is missing: an indicator would be
        its collinear copy (an unpenalised Cox model then cannot be fitted).
        """
        for c in self.binary_:
            v = _numeric_values(X[c], c)
            if not np.isnan(v).any() and (np.array_equal(v == 1.0, miss) or np.array_equal(v == 0.0, miss)):
                return True
        return False

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
        X = as_frame(X)
        require_columns(X, self.numeric_ + self.categorical_, "ModalityPreprocessor.transform")
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


def make_preprocessor(model: str, *, categorical=None, numeric=None,
                      missing: str = "median") -> ModalityPreprocessor:
    """The default :class:`ModalityPreprocessor` of a model.

    xgboost models keep NaN (native missing-value handling) and need neither
    scaling nor reference levels; ``coxph`` gets reference-level dummies,
    standardised continuous columns, median imputation with availability
    indicators (``missing="median"``, the default), and constant columns
    dropped; the Fine-Gray model ``fg`` gets the preprocessing of ``coxph``.  With ``missing="mice"`` (``coxph`` only) numeric NaN are kept for
    the multiple imputation of ``CoxPHRisk(n_imputations=M)`` and no indicator
    is added (a missing categorical is still its own level).

    Examples
    --------
    >>> make_preprocessor("coxph").impute
    'median'
    >>> make_preprocessor("coxph", missing="mice").impute is None
    True
    >>> make_preprocessor("xgb-cox").impute is None
    True
    """
    if not isinstance(model, str):
        raise ModelError(f"model must be a model name; got {model!r}")
    check_choice("missing", missing, ("median", "mice"))
    if missing == "mice" and model != "coxph":
        raise ModelError(f"missing='mice' is for coxph; {model!r} handles missing values natively")
    if model in ("coxph", "fg"):
        mice = missing == "mice"
        return ModalityPreprocessor(categorical=categorical, numeric=numeric, drop_first=True,
                                    scale=True, impute=None if mice else "median",
                                    missing_indicator=not mice, drop_constant=True)
    return ModalityPreprocessor(categorical=categorical, numeric=numeric)
