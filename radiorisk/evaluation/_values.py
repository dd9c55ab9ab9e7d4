"""The metric values of one subset: the one definition the audit, the metrics table and the
bootstrap share.

:func:`_point_survival` / :func:`_point_binary` / :func:`_point_competing` give ``(estimate, ci_low, ci_high, reason)``
per metric (``reason`` says why a metric is NaN); :func:`_survival_values` /
:func:`_binary_values` are the same numbers without the reason, for every metric.
"""

from __future__ import annotations

import numpy as np

from ..stats import (
    NotEstimableError,
    auc_cr,
    auc_delong,
    brier_cr,
    brier_score,
    brier_t,
    c_cr,
    calibration_intercept,
    calibration_slope,
    cox_calibration,
    fine_gray_calibration,
    harrell_and_uno_c,
    ipa,
    ipa_cr,
    loess_calibration,
    oe_ratio,
    oe_ratio_cr,
    oe_ratio_t,
    td_auc,
)

BINARY_METRICS = ("auc", "brier", "cal_intercept", "cal_slope", "ici", "e50", "e90", "emax", "oe_ratio")
SURVIVAL_METRICS = ("harrell_c", "uno_c", "td_auc", "brier_t", "ipa", "oe_ratio_t",
                    "ici_t", "e50_t", "e90_t", "emax_t")
#: Competing-risk metrics (``status`` 0 = censored, 1 = event of interest, 2 = competing event).
COMPETING_METRICS = ("c_cr", "auc_cr", "brier_cr", "ipa_cr", "oe_ratio_cr", "ici_cr", "e50_cr", "e90_cr",
                     "emax_cr")
#: The Fine-Gray calibration family (one Fine-Gray fit per subset and replicate).
FINE_GRAY_METRICS = ("ici_cr", "e50_cr", "e90_cr", "emax_cr")
#: Group values that mean "unknown" (besides None and NaN).
MISSING_GROUP_LABELS = frozenset({"", "NA"})


def _reason(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs), ""
    except NotEstimableError as exc:
        return None, str(exc)


def _point_survival(t, e, r, t0, names):
    out = {}
    if "harrell_c" in names or "uno_c" in names:  # one pass of pair counts for both
        try:
            both = harrell_and_uno_c(t, e, r, horizon=t0)
        except NotEstimableError as exc:
            both = (exc, exc)
        for name, v in zip(("harrell_c", "uno_c"), both, strict=True):
            if name in names:
                out[name] = (np.nan, np.nan, np.nan, str(v)) if isinstance(v, Exception) else \
                    (v, np.nan, np.nan, "")
    for name, fn, kw in (("ipa", ipa, {"horizon": t0}), ("oe_ratio_t", oe_ratio_t, {"horizon": t0})):
        if name in names:
            v, why = _reason(fn, t, e, r, **kw)
            out[name] = (np.nan if v is None else v, np.nan, np.nan, why)
    for name, fn in (("td_auc", td_auc), ("brier_t", brier_t)):
        if name in names:
            v, why = _reason(fn, t, e, r, horizon=t0)
            out[name] = (np.nan, np.nan, np.nan, why) if v is None else (v.estimate, v.ci_low, v.ci_high, "")
    cal_names = [m for m in ("ici_t", "e50_t", "e90_t", "emax_t") if m in names]
    if cal_names:
        v, why = _reason(cox_calibration, t, e, r, horizon=t0)
        for m in cal_names:
            out[m] = (np.nan, np.nan, np.nan, why) if v is None else \
                (getattr(v, m[:-2]), np.nan, np.nan, "")
    return out


def _point_binary(y, p, names):
    out = {}
    for name, fn in (("auc", auc_delong), ("cal_intercept", calibration_intercept),
                     ("cal_slope", calibration_slope)):
        if name in names:
            v, why = _reason(fn, y, p)
            out[name] = (np.nan, np.nan, np.nan, why) if v is None else (v.estimate, v.ci_low, v.ci_high, "")
    if "brier" in names:
        out["brier"] = (brier_score(y, p), np.nan, np.nan, "")
    lo_names = [m for m in ("ici", "e50", "e90", "emax") if m in names]
    if lo_names:
        v, why = _reason(loess_calibration, y, p)
        for m in lo_names:
            out[m] = (np.nan, np.nan, np.nan, why) if v is None else (getattr(v, m), np.nan, np.nan, "")
    if "oe_ratio" in names:
        v, why = _reason(oe_ratio, y, p)
        out["oe_ratio"] = (np.nan if v is None else v, np.nan, np.nan, why)
    return out


def _binary_values(y: np.ndarray, p: np.ndarray) -> dict[str, tuple[float, float, float]]:
    v = _point_binary(y, p, BINARY_METRICS)
    return {m: v[m][:3] for m in BINARY_METRICS}


def _survival_values(t: np.ndarray, e: np.ndarray, r: np.ndarray, t0: float):
    v = _point_survival(t, e, r, t0, SURVIVAL_METRICS)
    return {m: v[m][:3] for m in SURVIVAL_METRICS}


def _point_competing(t, s, r, t0, names):
    """Competing-risk metrics of one subset (cause 1 at ``t0``); ``names`` a subset of COMPETING_METRICS."""
    out = {}
    for name, fn in (("c_cr", c_cr), ("ipa_cr", ipa_cr), ("oe_ratio_cr", oe_ratio_cr)):
        if name in names:
            v, why = _reason(fn, t, s, r, horizon=t0)
            out[name] = (np.nan if v is None else v, np.nan, np.nan, why)
    for name, fn in (("auc_cr", auc_cr), ("brier_cr", brier_cr)):
        if name in names:
            v, why = _reason(fn, t, s, r, horizon=t0)
            out[name] = (np.nan, np.nan, np.nan, why) if v is None else (v.estimate, v.ci_low, v.ci_high, "")
    cal_names = [m for m in FINE_GRAY_METRICS if m in names]
    if cal_names:
        v, why = _reason(fine_gray_calibration, t, s, r, horizon=t0)
        for m in cal_names:
            out[m] = (np.nan, np.nan, np.nan, why) if v is None else \
                (getattr(v, m[:-3]), np.nan, np.nan, "")
    return {m: out[m] for m in COMPETING_METRICS if m in out}
