"""Shared pieces of the risk estimators: the survival outcome ``y``, errors, the mixin.

The outcome is a numpy structured array with fields ``event`` (bool) and
``time`` (float, days > 0), the scikit-survival convention, built by
:func:`make_y`.  Every final estimator derives from :class:`RiskEstimatorMixin`
and :class:`sklearn.base.BaseEstimator`: ``predict(X)`` is the risk at the
default horizon and ``score(X, y)`` is Harrell's C of that risk.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from ..exceptions import ModelError
from ..stats import DEFAULT_HORIZON_DAYS, breslow_increments, check_horizon, harrell_c

__all__ = ["ModelError", "make_y", "check_y", "check_y_cr", "RiskEstimatorMixin", "DEFAULT_HORIZON"]

#: Default prediction horizon in days (5 years).
DEFAULT_HORIZON = DEFAULT_HORIZON_DAYS

_Y_DTYPE = np.dtype([("event", bool), ("time", np.float64)])
_Y_CR_DTYPE = np.dtype([("event", bool), ("time", np.float64), ("event_type", np.int8)])


def make_y(time, event, event_type=None) -> np.ndarray:
    """Build the survival outcome of the models from follow-up times and event indicators.

    Parameters
    ----------
    time : array-like of shape (n,)
        Follow-up in days since the index CCTA: the time of the event, or of
        censoring.  Every value must be finite and > 0.
    event : array-like of shape (n,) or None
        1/True for an event (MACE), 0/False for censoring (or for a competing
        event).  With ``event_type`` it may be None (then ``event_type == 1``).
    event_type : array-like of shape (n,), optional
        The competing-risk status: 0 = censored, 1 = MACE, 2 = competing event
        (e.g. non-cardiac death).  Adds the field ``event_type`` (int8); when
        ``event`` is given too it must equal ``event_type == 1``.

    Returns
    -------
    numpy.ndarray
        Structured array of shape (n,) with fields ``event`` (bool) and
        ``time`` (float64), as :func:`sksurv.util.Surv.from_arrays` builds it,
        and ``event_type`` (int8) when given.  Estimators of the censoring mode
        read ``event`` only (a competing event is then a censoring); the
        competing-risk models (``make_model(..., competing_risks=True)``) need
        ``event_type``.  Row selection (``y[train]``) keeps every field.

    Raises
    ------
    ModelError
        Naming the first offending position and value (non-positive or
        missing time, an event value other than 0/1, an event type other than
        0/1/2, an event that contradicts the event type, different lengths).

    Examples
    --------
    >>> y = make_y([120.0, 400.5, 1800.0], [1, 0, 0])
    >>> y["event"].tolist(), y["time"].tolist()
    ([True, False, False], [120.0, 400.5, 1800.0])
    >>> y = make_y([120.0, 400.5, 1800.0], None, event_type=[1, 2, 0])
    >>> y.dtype.names, y["event"].tolist(), y["event_type"].tolist()
    (('event', 'time', 'event_type'), [True, False, False], [1, 2, 0])
    >>> make_y([0.0], [1])
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.ModelError: time must be a finite number > 0 (days); found 0.0 at position 0
    """
    t_raw = np.asarray(time).ravel()
    t = _to_float(t_raw)
    status = None if event_type is None else _check_event_type(event_type, t.size)
    if event is None:
        if status is None:
            raise ModelError("event is required (or give event_type: 0 censored, 1 MACE, 2 competing)")
        event = status == 1
    ev_raw = np.asarray(event).ravel()
    if t.shape != ev_raw.shape:
        raise ModelError(f"time and event have different lengths: {t.size} and {ev_raw.size}")
    bad = ~np.isfinite(t) | (t <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ModelError(f"time must be a finite number > 0 (days); found {_show(t_raw[i])!r} at position {i}")
    if ev_raw.dtype == bool:
        e = ev_raw
    else:
        ef = _to_float(ev_raw)
        ok = (ef == 0) | (ef == 1)
        if not ok.all():
            i = int(np.argmin(ok))
            raise ModelError(f"event must be 0/1 or boolean; found {_show(ev_raw[i])!r} at position {i}")
        e = ef == 1
    if status is not None and not np.array_equal(e, status == 1):
        i = int(np.argmax(e != (status == 1)))
        raise ModelError(f"event and event_type disagree at position {i}: event {bool(e[i])}, event_type "
                         f"{int(status[i])} (event must be event_type == 1)")
    y = np.empty(t.size, dtype=_Y_DTYPE if status is None else _Y_CR_DTYPE)
    y["event"] = e
    y["time"] = t
    if status is not None:
        y["event_type"] = status
    return y


def y_rows(time, event, status, rows=None) -> np.ndarray:
    """:func:`make_y` of the ``rows`` (all when None) of arrays, with ``event_type`` when ``status`` is not None."""
    sel = slice(None) if rows is None else rows
    return make_y(np.asarray(time)[sel], np.asarray(event)[sel],
                  event_type=None if status is None else np.asarray(status)[sel])


def _check_event_type(event_type, n: int) -> np.ndarray:
    """``event_type`` as int8 codes 0/1/2 (a :class:`ModelError` naming the first bad value)."""
    raw = np.asarray(event_type).ravel()
    if raw.size != n:
        raise ModelError(f"time and event_type have different lengths: {n} and {raw.size}")
    f = _to_float(raw)
    ok = (f == 0) | (f == 1) | (f == 2)
    if not ok.all():
        i = int(np.argmin(ok))
        raise ModelError(f"event_type must be 0 (censored), 1 (MACE) or 2 (competing event); found "
                         f"{_show(raw[i])!r} at position {i}")
    return f.astype(np.int8)


def _show(v):
    """A numpy scalar as the Python value (for messages)."""
    return v.item() if isinstance(v, np.generic) else v


def _to_float(a: np.ndarray) -> np.ndarray:
    """Float64 copy of ``a``; values that are not numbers become NaN (reported by the caller)."""
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(a, dtype=object), errors="coerce").to_numpy(np.float64)


def check_y(y, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a survival outcome; returns ``(time, event)`` as float64 arrays.

    Accepts the structured array of :func:`make_y` (or any two-field
    structured array with the event indicator first, as scikit-survival's
    ``Surv``), and checks its length against ``n`` rows of ``X``.  A
    competing-risk outcome (field ``event_type``) gives ``event = event_type == 1``:
    competing events are censorings for the estimators of the censoring mode.
    """
    yy = _checked_y(y, n)
    return yy["time"].astype(np.float64), yy["event"].astype(np.float64)


def check_y_cr(y, n: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(time, status)`` of an outcome: status 0/1/2 from ``event_type``, or None without that field."""
    yy = _checked_y(y, n)
    st = None if "event_type" not in yy.dtype.names else yy["event_type"].astype(np.int64)
    return yy["time"].astype(np.float64), st


def _checked_y(y, n):
    if y is None:
        raise ModelError("y is required: build it with radiorisk.models.make_y(time, event)")
    arr = np.asarray(y)
    names = arr.dtype.names
    if names is not None and len(names) == 3 and set(names) == {"event", "time", "event_type"}:
        yy = make_y(arr["time"], arr["event"], event_type=arr["event_type"])
    elif names is None or len(names) != 2:
        raise ModelError(
            "y must be a structured array with fields ('event', 'time') (and optionally 'event_type'); "
            f"build it with radiorisk.models.make_y(time, event) (got dtype {arr.dtype})"
        )
    else:
        ev_name, t_name = ("event", "time") if {"event", "time"} <= set(names) else names
        yy = make_y(arr[t_name], arr[ev_name])
    if n is not None and yy.size != n:
        raise ModelError(f"X has {n} rows but y has {yy.size}")
    return yy


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """Non-negative finite weights of length ``n`` (``None`` -> ones)."""
    if sample_weight is None:
        return np.ones(n)
    w = np.asarray(sample_weight, dtype=np.float64).ravel()
    if w.size != n:
        raise ModelError(f"sample_weight has {w.size} values but X has {n} rows")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise ModelError(f"sample_weight must be finite and >= 0; found {_show(w[i])!r} at position {i}")
    if not (w > 0).any():
        raise ModelError("sample_weight is zero for every row")
    return w


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ModelError(f"{name}={value!r} is not one of {list(choices)}")


def check_number(name: str, value, *, low=None, high=None, low_open=False, integer=False,
                 allow_none=False) -> None:
    """Raise :class:`ModelError` unless ``value`` is a number in the given range."""
    if value is None and allow_none:
        return
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) or not np.isfinite(value):
        raise ModelError(f"{name} must be {'an integer' if integer else 'a number'}; got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ModelError(f"{name} must be {'>' if low_open else '>='} {low}; got {value!r}")
    if high is not None and value > high:
        raise ModelError(f"{name} must be <= {high}; got {value!r}")


def breslow_cumhaz(time, event, margin, weight) -> tuple[np.ndarray, np.ndarray]:
    r"""Breslow estimate of the baseline cumulative hazard given log relative hazards.

    .. math::

        H_0(t) = \sum_{t_k \le t} \frac{\sum_{i: T_i = t_k, \delta_i = 1} w_i}
                                       {\sum_{j: T_j \ge t_k} w_j e^{m_j}}

    Returns the distinct event times and :math:`H_0` just after each of them
    (a right-continuous step function starting at 0): the cumulative sum of
    :func:`radiorisk.stats.breslow_increments`.
    """
    times, increments = breslow_increments(time, event, margin, weight)
    return times, np.cumsum(increments)


def step_at(x: np.ndarray, y: np.ndarray, t) -> np.ndarray:
    """Value at ``t`` of the right-continuous step function equal to 0 before ``x[0]``."""
    vals = np.concatenate([[0.0], np.asarray(y, dtype=np.float64)])
    return vals[np.searchsorted(x, np.asarray(t, dtype=np.float64), side="right")]


class RiskEstimatorMixin:
    """``predict`` and ``score`` for estimators exposing ``predict_risk(X, horizon)``."""

    def _names(self) -> list[str]:
        """The fitted columns' names (``x0, x1, ...`` for an array without names)."""
        names = getattr(self, "feature_names_in_", None)
        return [str(c) for c in names] if names is not None else [f"x{j}" for j in range(self.n_features_in_)]

    def predict(self, X) -> np.ndarray:
        """Predicted risk (probability of MACE) by the default horizon: ``predict_risk(X)``."""
        return self.predict_risk(X)

    def score(self, X, y, sample_weight=None) -> float:
        """Harrell's C of the risk by the default horizon against the outcome ``y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n, p)
        y : structured array
            From :func:`make_y`.
        sample_weight : None
            Not supported (Harrell's C is unweighted); must be None.

        Returns
        -------
        float
            ``radiorisk.stats.harrell_c(time, event, risk)``.
        """

        if sample_weight is not None:
            raise ModelError("score does not support sample_weight (Harrell's C is unweighted)")
        t, e = check_y(y)
        return harrell_c(t, e, self.predict_risk(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = bool(getattr(self, "_allow_nan", False))
        return tags


def breslow_risk(baseline_times, baseline_cumhaz, horizon: float, relative_hazard) -> np.ndarray:
    """P(event by ``horizon``) = 1 - exp(-H0(horizon) * relative hazard), for PH models with a Breslow H0."""
    H = float(step_at(baseline_times, baseline_cumhaz, horizon))
    return -np.expm1(-H * relative_hazard)


def breslow_survival(baseline_times, baseline_cumhaz, times, relative_hazard) -> np.ndarray:
    """S(t | x) = exp(-H0(t) * relative hazard) at each of ``times``; shape (n_samples, n_times)."""
    tt = np.atleast_1d(np.asarray(times, dtype=np.float64))
    for t in tt:
        check_horizon(float(t))
    H = step_at(baseline_times, baseline_cumhaz, tt)
    return np.exp(-np.asarray(relative_hazard)[:, None] * H[None, :])
