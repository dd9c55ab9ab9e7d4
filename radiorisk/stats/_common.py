"""Shared pieces of :mod:`radiorisk.stats`: result types, input checks, error texts."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .._html import table_html
from ..exceptions import HorizonError, NotEstimableError

__all__ = ["Estimate", "CalibrationErrors", "NotEstimableError"]

#: ``qnorm(0.975)``, as R uses it: the 95 % interval multiplier.
Z_975 = 1.959963984540054

# Error texts (module constants so tests can ``match=`` them).
_LENGTH_MISMATCH = "inputs have different lengths: {lengths}"
_EMPTY = "no observations"
_NOT_FINITE = "{name} has {k} non-finite value(s) (first at position {i})"
_NOT_BINARY = "{name} must be 0/1; found {value!r} at position {i}"
_OUT_OF_RANGE = "{name} must lie in [0, 1]; found {value!r} at position {i}"
_NOT_POSITIVE = "{name} must be > 0; found {value!r} at position {i}"
_NO_EVENT_BY_T0 = "no event at or before the horizon t0 = {t0:g}: {what} is not defined"
_NO_CONTROL = "no subject is event-free beyond the horizon t0 = {t0:g}: {what} is not defined"


def html_table(frame: pd.DataFrame) -> str:
    """The notebook view (``_repr_html_``) of a result table: :func:`radiorisk._html.table_html` with its index.

    Parameters
    ----------
    frame : DataFrame

    Returns
    -------
    str
        An HTML ``<table>`` (6 significant digits; missing values as ``—``).

    Examples
    --------
    >>> "<table" in html_table(pd.DataFrame({"x": [1 / 3, np.nan]}))
    True
    """
    return str(table_html(frame, digits=6, index=True, max_rows=200))


_html_table = html_table


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and 95 % confidence interval.

    Attributes
    ----------
    estimate : float
        The point estimate.
    se : float
        Its standard error (NaN when the method gives none).
    ci_low, ci_high : float
        The 95 % confidence limits (NaN when the method gives none).
    method : str
        How the estimate and its interval were computed (names the R function
        the definition follows).
    """

    estimate: float
    se: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    method: str = ""

    def __float__(self) -> float:
        return float(self.estimate)

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame with the fields as columns."""
        return pd.DataFrame([asdict(self)])

    def _repr_html_(self) -> str:
        return _html_table(self.to_frame())


@dataclass(frozen=True)
class CalibrationErrors:
    """Summaries of the absolute distance between smoothed observed and predicted risk.

    With :math:`d_i = |\\hat o_i - p_i|` over the rows of the data set:
    ``ici`` is the mean, ``e50`` the median, ``e90`` the 0.9 quantile (type 7)
    and ``emax`` the maximum of :math:`d`.

    Attributes
    ----------
    ici, e50, e90, emax : float
        The four summaries.
    observed : ndarray
        :math:`\\hat o_i`, the smoothed observed risk at every row (input order).
    method : str
        The smoother.
    model : dict
        Details of the smoother (e.g. knots and coefficients); may be empty.
    """

    ici: float
    e50: float
    e90: float
    emax: float
    observed: np.ndarray
    method: str = ""
    model: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame with ``ici, e50, e90, emax``."""
        return pd.DataFrame([{"ici": self.ici, "e50": self.e50, "e90": self.e90, "emax": self.emax}])

    def _repr_html_(self) -> str:
        return _html_table(self.to_frame())


def _summarise_errors(observed: np.ndarray, predicted: np.ndarray, method: str) -> CalibrationErrors:
    d = np.abs(observed - predicted)
    return CalibrationErrors(
        ici=float(np.mean(d)),
        e50=float(np.median(d)),
        e90=float(np.quantile(d, 0.9)),  # type 7
        emax=float(np.max(d)),
        observed=observed,
        method=method,
    )


def _wald(est: float, se: float, method: str) -> Estimate:
    return Estimate(float(est), float(se), float(est - Z_975 * se), float(est + Z_975 * se), method)


# ---------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------


def _as_float(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(_NOT_FINITE.format(name=name, k=int(bad.sum()), i=int(np.argmax(bad))))
    return a


def _check_lengths(*arrays: np.ndarray) -> None:
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        raise ValueError(_LENGTH_MISMATCH.format(lengths=[len(a) for a in arrays]))
    if lengths == {0}:
        raise NotEstimableError(_EMPTY)


def _check_binary(y, name: str = "y_true") -> np.ndarray:
    a = _as_float(y, name)
    bad = (a != 0) & (a != 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(_NOT_BINARY.format(name=name, value=a[i], i=i))
    return a


def _check_prob(p, name: str) -> np.ndarray:
    a = _as_float(p, name)
    bad = (a < 0) | (a > 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(_OUT_OF_RANGE.format(name=name, value=a[i], i=i))
    return a


def check_binary_inputs(y_true, y_prob) -> tuple[np.ndarray, np.ndarray]:
    """Validate a binary outcome and predicted probabilities; returns float64 arrays."""
    y = _check_binary(y_true, "y_true")
    p = _check_prob(y_prob, "y_prob")
    _check_lengths(y, p)
    return y, p


def check_survival_inputs(time, event, risk, *, probability: bool = True
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate follow-up times, event indicators and predicted risks; returns float64 arrays.

    With ``probability=False`` the risk may be any finite score (e.g. a linear predictor).
    """
    t = _as_float(time, "time")
    bad = t <= 0
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(_NOT_POSITIVE.format(name="time", value=t[i], i=i))
    e = _check_binary(event, "event")
    r = _check_prob(risk, "risk") if probability else _as_float(risk, "risk")
    _check_lengths(t, e, r)
    return t, e, r




def check_horizon(horizon, default: float | None = None, *, name: str = "horizon") -> float:
    """The one check of a prediction horizon ``t0``: a finite number > 0.

    Parameters
    ----------
    horizon : float or None
        The horizon, in the unit of the follow-up times (days in radiorisk's cohorts).
    default : float, optional
        Used when ``horizon`` is None; without it, None is an error.
    name : str
        How the error names the value (the CLI passes ``"--horizon"``).

    Returns
    -------
    float

    Raises
    ------
    HorizonError
        When the horizon is missing, not a real number, not finite or not > 0.

    Examples
    --------
    >>> from radiorisk.schemas import DEFAULT_HORIZON_DAYS
    >>> check_horizon(365), check_horizon(None, default=DEFAULT_HORIZON_DAYS)
    (365.0, 1826.0)
    """
    if horizon is None:
        horizon = default
    if horizon is None:
        raise HorizonError(f"{name} is required for survival metrics and predictions")
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Real):
        raise HorizonError(f"{name} must be a number > 0 (a time in the follow-up's unit, days); "
                           f"got {horizon!r}")
    h = float(horizon)
    if not np.isfinite(h) or h <= 0:
        raise HorizonError(f"{name} must be a number > 0 (a time in the follow-up's unit, days); "
                           f"got {horizon!r}")
    return h


def logit_clipped(p: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``qlogis(p)`` on ``p`` clipped to ``[eps, 1 - eps]``.

    Parameters
    ----------
    p : ndarray
        Probabilities.
    eps : float
        The clip.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> logit_clipped(np.array([0.5, 0.0])).round(3).tolist()
    [0.0, -27.631]
    """
    q = np.clip(p, eps, 1.0 - eps)
    return np.log(q) - np.log1p(-q)
