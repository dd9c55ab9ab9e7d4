"""Values of the patient report: JSON-safe cleaning and the plain-language text of numbers."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._vocab import _CAD_RADS_LEVELS, _HRF_TEXT, CAC_CATEGORIES


def _clean(v):
    """A JSON-safe Python value: NaN/NA/inf -> None, numpy scalars -> Python, containers recursed."""
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, Mapping):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, str):
        return v
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _num(v) -> float | None:
    """A finite float or None."""
    if v is None or v is pd.NA or isinstance(v, str):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _bool(v) -> bool | None:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, str):
        s = v.strip().lower()
        return {"true": True, "false": False, "1": True, "0": False}.get(s)
    f = _num(v)
    return None if f is None else bool(f)


def _fmt(v: float | None) -> str:
    if v is None:
        return "not available"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _pct(p: float | None) -> str:
    if p is None:
        return "not available"
    x = 100.0 * p
    return f"{x:.1f} %" if x >= 1 or x == 0 else f"{x:.2f} %"


def _value_text(kind: str, value: float | None, unit: str | None) -> str:
    if value is None:
        return "not available"
    if kind == "sex":
        return "male" if value >= 0.5 else "female"
    if kind == "bool":
        return "yes" if value >= 0.5 else "no"
    if kind == "cad_rads":
        i = int(round(value))
        return _CAD_RADS_LEVELS[i] if 0 <= i < len(_CAD_RADS_LEVELS) else _fmt(value)
    if kind == "cad_rads_p":
        i = int(round(value))
        return f"P{i}" if 0 <= i <= 4 else _fmt(value)
    if kind == "count":
        return f"{value:g}" if float(value).is_integer() else _fmt(value)
    text = _fmt(value)
    if unit == "%":
        return f"{text} %"
    return f"{text} {unit}" if unit else text


def _horizon_text(days: float) -> str:
    y = days / 365.25
    if abs(y - round(y)) < 0.01 and round(y) >= 1:
        n = int(round(y))
        return f"{n} year{'s' if n != 1 else ''} ({days:g} days)"
    return f"{days:g} days ({y:.1f} years)"


def _cac_category(score: float | None) -> str | None:
    if score is None:
        return None
    if score <= 0:
        return CAC_CATEGORIES[0]
    if score < 100:
        return CAC_CATEGORIES[1]
    if score < 400:
        return CAC_CATEGORIES[2]
    return CAC_CATEGORIES[3]


def _signed_pp(x: float | None) -> str:
    if x is None:
        return ""
    return f"{100.0 * x:+.2f} points"


def _direction_word(v: float, scale: str) -> str:
    up = v < 0 if scale == "log-time" else v > 0
    return "raises risk" if up else ("lowers risk" if v != 0 else "no effect")


def _join_desc(code, desc) -> str:
    if code is None:
        return "not available"
    return f"{code}: {desc}" if desc else str(code)


def _lesion_cell(le: Mapping, key: str) -> str:
    v = le.get(key)
    if key == "high_risk_features":
        return ", ".join(_HRF_TEXT.get(a, a) for a in v) if v else "none"
    if v is None:
        return "–"
    if isinstance(v, float):
        return _fmt(v)
    return str(v).replace("_", "-")

