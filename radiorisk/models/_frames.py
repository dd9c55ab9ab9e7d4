"""Table checks shared by the preprocessing steps (:mod:`._preprocess`, :mod:`._select`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import ModelError

__all__ = ["as_frame", "require_columns", "check_str_list"]


def as_frame(X) -> pd.DataFrame:
    """``X`` as a DataFrame (a 2-D array gets columns ``x0, x1, ...``)."""
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ModelError(f"X must be a 2-D table (DataFrame); got an array of shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])


def require_columns(X: pd.DataFrame, cols, who: str) -> None:
    """Raise :class:`ModelError` naming up to ten of ``cols`` that ``X`` lacks."""
    missing = [c for c in cols if c not in X.columns]
    if missing:
        shown = ", ".join(map(repr, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise ModelError(f"{who}: X lacks {len(missing)} column(s) seen in fit: {shown}")


def check_str_list(name: str, value) -> list[str] | None:
    """``value`` as a list of column names (None stays None); anything else is a :class:`ModelError`."""
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(c, str) for c in value):
        raise ModelError(f"{name} must be a list of column names; got {value!r}")
    return list(value)
