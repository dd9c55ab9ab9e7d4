"""What the subgroup analyses of :mod:`radiorisk.explain` share.

Group labels aligned with a result's patients (:func:`group_labels`), the SHAP
matrices a slope needs (:class:`ShapArrays`), the weighted sums and
least-squares slopes of SHAP value on feature value (:func:`weighted_sums`,
:func:`slopes_from_sums`) and the multiple-testing adjustments
(:data:`ADJUSTMENTS`; the adjustment itself is :func:`radiorisk.stats.adjust_p_values`, re-exported).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..stats import adjust_p_values
from ._common import ExplainError

__all__ = ["ADJUSTMENTS", "ShapArrays", "adjust_p_values", "check_adjust", "group_labels",
           "numeric_or_nan", "shap_arrays", "slopes_from_sums", "weighted_sums"]

#: Multiple-testing adjustments of :func:`shap_by_subgroup`.
ADJUSTMENTS = ("fdr_bh", "holm")

_MSG_GROUPS_LEN = "groups: {name!r} has {k} values; the SHAP result has {n} patients"


def group_labels(groups, index: pd.Index) -> dict[str, np.ndarray]:
    """``{attribute: labels (object array, None = missing)}`` aligned with ``index``."""
    if isinstance(groups, pd.Series):
        groups = groups.to_frame(groups.name or "group")
    if isinstance(groups, pd.DataFrame):
        if groups.index.equals(index):
            g = groups
        elif index.isin(groups.index).all() and groups.index.is_unique:
            g = groups.reindex(index)
        elif len(groups) == len(index):
            g = groups
        else:
            raise ExplainError(f"groups: its index does not cover the {len(index)} patients of the result")
        items = {str(c): g[c].to_numpy(dtype=object) for c in g.columns}
    elif isinstance(groups, Mapping):
        items = {str(k): np.asarray(v, dtype=object) for k, v in groups.items()}
    else:
        raise ExplainError("groups must be a DataFrame (e.g. CohortData.groups), a Series or a mapping "
                           f"attribute -> labels; got {type(groups).__name__}")
    out = {}
    for k, v in items.items():
        if v.shape != (len(index),):
            raise ExplainError(_MSG_GROUPS_LEN.format(name=k, k=v.size, n=len(index)))
        out[k] = np.array([None if pd.isna(x) else str(x) for x in v], dtype=object)
    return out


def check_adjust(adjust: str) -> None:
    """Raise unless ``adjust`` is one of :data:`ADJUSTMENTS`."""
    if adjust not in ADJUSTMENTS:
        raise ExplainError(f"adjust must be one of {list(ADJUSTMENTS)}; got {adjust!r}")


def numeric_or_nan(s: pd.Series) -> pd.Series:
    """A numeric or boolean column as float; a categorical has no slope (all NaN)."""
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("Float64").astype(np.float64)
    return pd.Series(np.nan, index=s.index)


class ShapArrays(NamedTuple):
    """The (n, p) matrices of a SHAP result that importance and slopes are computed from.

    ``V`` the values, ``A = |V|``, ``W`` 1 where the feature value is numeric
    and present, ``X0`` the feature value (0 where ``W`` is 0), and the
    products ``WV = W V``, ``XX = X0 X0``, ``XV = X0 V``.
    """

    V: np.ndarray
    A: np.ndarray
    W: np.ndarray
    X0: np.ndarray
    WV: np.ndarray
    XX: np.ndarray
    XV: np.ndarray

    def rows(self, idx) -> ShapArrays:
        """The same matrices for the patients at positions ``idx``."""
        return ShapArrays(*(m[idx] for m in self))


def shap_arrays(result) -> ShapArrays:
    """:class:`ShapArrays` of a :class:`ShapResult`."""
    V = np.asarray(result.values, dtype=np.float64)
    X = result.data.apply(numeric_or_nan).to_numpy(dtype=np.float64)
    W = (~np.isnan(X)).astype(np.float64)
    X0 = np.where(W > 0, X, 0.0)
    return ShapArrays(V=V, A=np.abs(V), W=W, X0=X0, WV=W * V, XX=X0 * X0, XV=X0 * V)


def weighted_sums(M: np.ndarray, a: ShapArrays):
    """The sums of a slope for each row of the weights ``M`` (k, n): each (k, p)."""
    return M @ a.W, M @ a.X0, M @ a.WV, M @ a.XX, M @ a.XV


def slopes_from_sums(S1, Sx, Sy, Sxx, Sxy):
    """Least-squares slopes from sums (each (k, p)); NaN where x is constant."""
    with np.errstate(invalid="ignore", divide="ignore"):
        vx = Sxx - Sx * Sx / S1
        b = (Sxy - Sx * Sy / S1) / vx
    rel = np.abs(vx) <= 1e-12 * np.maximum(1.0, np.abs(Sxx))
    return np.where(rel | (S1 < 2), np.nan, b)
