"""Feature robustness across readers or perturbations: ICC(2,1) and ICC(3,1) with 95 % CIs, and a filter.

ICC(2,1) is the two-way random-effects, absolute-agreement, single-measurement
intraclass correlation (Shrout & Fleiss 1979; McGraw & Wong 1996, case 2A):

    ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)

with n lesions (rows) and k raters (columns: readers, or image perturbations).
Its 95 % CI is McGraw & Wong's F-based interval with Satterthwaite degrees of
freedom (as in pingouin and R's ``irr::icc(model="twoway", type="agreement",
unit="single")`` and ``psych::ICC``'s ``ICC2``).

ICC(3,1) is the two-way mixed-effects, consistency, single-measurement ICC
(Shrout & Fleiss case 3, McGraw & Wong case 3A): a systematic shift of one rater
does not lower it,

    ICC(3,1) = (MSR - MSE) / (MSR + (k - 1) MSE),

with the exact F interval: F = MSR / MSE, F_L = F / F(1 - a/2; n - 1, (n - 1)(k - 1)),
F_U = F * F(1 - a/2; (n - 1)(k - 1), n - 1), bounds (F_X - 1) / (F_X + k - 1)
(``psych::ICC``'s ``ICC3``).  Only subjects rated by every rater enter; all
features are computed at once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["ICC_KINDS", "icc", "feature_icc", "robust_features"]


#: the ICC forms :func:`icc` computes (Shrout & Fleiss notation)
ICC_KINDS = ("2,1", "3,1")


def icc(ratings: np.ndarray, *, confidence: float = 0.95, kind: str = "2,1") -> dict:
    """ICC(2,1) or ICC(3,1) and its CI for one n-by-k table, or for many tables stacked (n, k, F).

    Parameters
    ----------
    ratings : ndarray, shape (n, k) or (n, k, F)
        n subjects rated by k raters (for F features at once).
    confidence : float
        Confidence level of the interval.
    kind : {"2,1", "3,1"}
        ``"2,1"``: two-way random, absolute agreement (default); ``"3,1"``: two-way
        mixed, consistency.  Both single-measurement.

    Returns
    -------
    dict of ndarray
        ``icc, ci_low, ci_high, msr, msc, mse`` (scalars for a 2-D input).

    Examples
    --------
    Shrout & Fleiss (1979), Table 2: ICC(2,1) = 0.29.

    >>> x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    >>> r = icc(x)
    >>> round(float(r["icc"]), 2), round(float(r["ci_low"]), 2), round(float(r["ci_high"]), 2)
    (0.29, 0.02, 0.76)

    ICC(3,1) = 0.71 on the same table:

    >>> r3 = icc(x, kind="3,1")
    >>> round(float(r3["icc"]), 2), round(float(r3["ci_low"]), 2), round(float(r3["ci_high"]), 2)
    (0.71, 0.34, 0.95)
    """
    if kind not in ICC_KINDS:
        raise ValueError(f"kind must be one of {ICC_KINDS}, got {kind!r}")
    x = np.asarray(ratings, dtype=float)
    squeeze = x.ndim == 2
    if squeeze:
        x = x[:, :, None]
    n, k, _ = x.shape
    if n < 2 or k < 2:
        raise ValueError(f"ICC needs at least 2 subjects and 2 raters, got {n} and {k}")
    grand = x.mean(axis=(0, 1))
    row_m = x.mean(axis=1)
    col_m = x.mean(axis=0)
    ss_r = k * ((row_m - grand) ** 2).sum(axis=0)
    ss_c = n * ((col_m - grand) ** 2).sum(axis=0)
    ss_t = ((x - grand) ** 2).sum(axis=(0, 1))
    ss_e = ss_t - ss_r - ss_c
    msr = ss_r / (n - 1)
    msc = ss_c / (k - 1)
    mse = ss_e / ((n - 1) * (k - 1))
    if kind == "3,1":
        value, low, high = _icc31(msr, mse, n, k, confidence)
    else:
        value, low, high = _icc21(msr, msc, mse, n, k, confidence)
    exact = (mse <= 1e-12 * np.maximum(msr, 1e-300)) & (msr > 0)  # raters agree exactly: ICC 1, CI [1, 1]
    value, low, high = (np.where(exact, 1.0, v) for v in (value, low, high))
    out = {"icc": value, "ci_low": low, "ci_high": high, "msr": msr, "msc": msc, "mse": mse}
    if squeeze:
        out = {key: val[0] for key, val in out.items()}
    return out


def _icc21(msr, msc, mse, n: int, k: int, confidence: float):
    """ICC(2,1) and McGraw & Wong's Satterthwaite interval from the mean squares."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
        alpha = 1 - confidence
        a = k * value / (n * (1 - value))
        b = 1 + k * value * (n - 1) / (n * (1 - value))
        v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
        f_u = stats.f.ppf(1 - alpha / 2, n - 1, v)
        f_l = stats.f.ppf(1 - alpha / 2, v, n - 1)
        low = n * (msr - f_u * mse) / (f_u * (k * msc + (k * n - k - n) * mse) + n * msr)
        high = n * (f_l * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_l * msr)
    return value, low, high


def _icc31(msr, mse, n: int, k: int, confidence: float):
    """ICC(3,1) and its exact F interval from the mean squares."""
    alpha = 1 - confidence
    df1, df2 = n - 1, (n - 1) * (k - 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        value = (msr - mse) / (msr + (k - 1) * mse)
        f_obs = msr / mse
        f_low = f_obs / stats.f.ppf(1 - alpha / 2, df1, df2)
        f_high = f_obs * stats.f.ppf(1 - alpha / 2, df2, df1)
        low = (f_low - 1) / (f_low + k - 1)
        high = (f_high - 1) / (f_high + k - 1)
    return value, low, high


def feature_icc(
    features: pd.DataFrame,
    *,
    subject: str = "lesion_id",
    rater: str = "reader",
    feature_columns=None,
    confidence: float = 0.95,
    kind: str = "2,1",
) -> pd.DataFrame:
    """ICC(2,1) (or ICC(3,1)) with CI for every feature of a wide table holding several raters per lesion.

    Parameters
    ----------
    features : DataFrame
        One row per (subject, rater), e.g. :attr:`ExtractionResult.features`.
    subject, rater : str
        Column names of the lesion and the reader.
    feature_columns : list of str, optional
        Default: every numeric column except ids and ``n_voxels``.
    confidence : float
        Confidence level.
    kind : {"2,1", "3,1"}
        The ICC form (see :func:`icc`).

    Returns
    -------
    DataFrame
        ``feature, icc, ci_low, ci_high, n_lesions, n_readers`` (one row per
        feature).  A constant feature (no between-lesion variance) has ICC NaN
        and ``note`` = "constant".

    Examples
    --------
    >>> df = pd.DataFrame({"lesion_id": ["a", "a", "b", "b", "c", "c"], "reader": ["r1", "r2"] * 3,
    ...                    "f": [1.0, 1.1, 2.0, 2.1, 3.0, 2.9]})
    >>> round(float(feature_icc(df)["icc"].iloc[0]), 3)
    0.994
    """
    if feature_columns is None:
        feature_columns = [
            c for c in features.columns
            if c not in (subject, rater, "patient_id", "scan_id", "n_voxels")
            and pd.api.types.is_numeric_dtype(features[c])
        ]
    raters = sorted(features[rater].unique())
    counts = features.groupby(subject)[rater].nunique()
    complete = counts.index[counts == len(raters)]
    sub = features[features[subject].isin(complete)].sort_values([subject, rater])
    n = len(complete)
    if n < 2 or len(raters) < 2:
        raise ValueError(
            f"ICC needs at least 2 lesions read by each of at least 2 readers; found {n} lesions, "
            f"{len(raters)} reader(s)"
        )
    cube = sub[list(feature_columns)].to_numpy(float).reshape(n, len(raters), len(feature_columns))
    r = icc(cube, confidence=confidence, kind=kind)
    out = pd.DataFrame({"feature": list(feature_columns), "icc": r["icc"], "ci_low": r["ci_low"],
                        "ci_high": r["ci_high"], "n_lesions": n, "n_readers": len(raters)})
    out["note"] = np.where(r["msr"] <= 0, "constant", "")
    return out


def robust_features(icc_table: pd.DataFrame, *, threshold: float = 0.75, use: str = "icc") -> list[str]:
    """Features whose ICC (or its lower CI bound, ``use="ci_low"``) reaches ``threshold``.

    Examples
    --------
    >>> t = pd.DataFrame({"feature": ["a", "b"], "icc": [0.9, 0.5], "ci_low": [0.8, 0.2]})
    >>> robust_features(t)
    ['a']
    """
    if use not in ("icc", "ci_low"):
        raise ValueError(f"use must be 'icc' or 'ci_low', got {use!r}")
    keep = icc_table[use].to_numpy(float) >= threshold
    return icc_table.loc[keep, "feature"].tolist()
