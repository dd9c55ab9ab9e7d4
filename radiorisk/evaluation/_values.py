"""The metric values of one subset, the one definition the audit table and the bootstrap share."""

from __future__ import annotations

import numpy as np

from ..stats import _binary as B
from ..stats import _survival as S
from ..stats._common import NotEstimableError

BINARY_METRICS = ("auc", "brier", "cal_intercept", "cal_slope", "ici", "e50", "e90", "emax", "oe_ratio")
SURVIVAL_METRICS = ("harrell_c", "uno_c", "td_auc", "brier_t", "ipa", "oe_ratio_t",
                    "ici_t", "e50_t", "e90_t", "emax_t")

_NAN3 = (np.nan, np.nan, np.nan)


def _estimable(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NotEstimableError:
        return None


def _binary_values(y: np.ndarray, p: np.ndarray) -> dict[str, tuple[float, float, float]]:
    out: dict[str, tuple[float, float, float]] = {}
    for name, fn in (("auc", B.auc_delong), ("cal_intercept", B.calibration_intercept),
                     ("cal_slope", B.calibration_slope)):
        r = _estimable(fn, y, p)
        out[name] = _NAN3 if r is None else (r.estimate, r.ci_low, r.ci_high)
    out["brier"] = (B.brier_score(y, p), np.nan, np.nan)
    loess = _estimable(B.loess_calibration, y, p)
    for name in ("ici", "e50", "e90", "emax"):
        out[name] = _NAN3 if loess is None else (getattr(loess, name), np.nan, np.nan)
    oe = _estimable(B.oe_ratio, y, p)
    out["oe_ratio"] = (np.nan if oe is None else oe, np.nan, np.nan)
    return {m: out[m] for m in BINARY_METRICS}


def _survival_values(t: np.ndarray, e: np.ndarray, r: np.ndarray, t0: float):
    out: dict[str, tuple[float, float, float]] = {}
    for name, fn, kw in (("harrell_c", S.harrell_c, {}), ("uno_c", S.uno_c, {"horizon": t0}),
                         ("ipa", S.ipa, {"horizon": t0}), ("oe_ratio_t", S.oe_ratio_t, {"horizon": t0})):
        v = _estimable(fn, t, e, r, **kw)
        out[name] = (np.nan if v is None else v, np.nan, np.nan)
    for name, fn in (("td_auc", S.td_auc), ("brier_t", S.brier_t)):
        v = _estimable(fn, t, e, r, horizon=t0)
        out[name] = _NAN3 if v is None else (v.estimate, v.ci_low, v.ci_high)
    cal = _estimable(S.cox_calibration, t, e, r, horizon=t0)
    for name in ("ici", "e50", "e90", "emax"):
        out[f"{name}_t"] = _NAN3 if cal is None else (getattr(cal, name), np.nan, np.nan)
    return {m: out[m] for m in SURVIVAL_METRICS}
