"""Shared pieces of :mod:`radiorisk.explain`: the error class, message constants, model access."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from .._html import repr_html
from ..exceptions import ExplainError
from ..models._registry import CR_ESTIMATORS, ESTIMATORS

__all__ = ["ExplainError", "final_estimator", "model_kind", "transform_head", "check_blocks",
           "OTHER_BLOCK", "SCALES", "CR_SCALE_NOTES"]

#: Block of a feature that no ``blocks`` mapping names.
OTHER_BLOCK = "other"

#: The explained output (margin) scale of each model kind.  The ``-cr`` kinds are the competing-risk
#: versions (``make_model(..., competing_risks=True)``): their model scale is the margin of the
#: cause-specific model of MACE (competing events censored), stated in :data:`CR_SCALE_NOTES`.
SCALES = {
    "xgb-binary": "log-odds",
    "xgb-cox": "log-hazard",
    "xgb-aft": "log-time",
    "coxph": "log-hazard",
    "coxph-cr": "cause-specific log-hazard",
    "xgb-cox-cr": "cause-specific log-hazard",
    "xgb-aft-cr": "log-time",
    "xgb-binary-cr": "log-odds",
    "other": "risk",
}

_RISK_CR = ("the risk scale is the cumulative incidence of MACE by the horizon (the model's predict_risk), "
            "with the patient's own competing-event {what} held fixed")
#: What the model scale of a competing-risk kind is (a note of every such :class:`ShapResult`).
CR_SCALE_NOTES = {
    "coxph-cr": ("model scale: the cause-specific log-hazard of MACE (the linear predictor of the Cox model of "
                 "MACE with competing events censored); " + _RISK_CR.format(what="hazard")),
    "xgb-cox-cr": ("model scale: the cause-specific log-hazard of MACE (the margin of the boosted Cox model of "
                   "MACE with competing events censored); " + _RISK_CR.format(what="hazard")),
    "xgb-aft-cr": ("model scale: the cause-specific log-time of MACE (the margin of the boosted AFT model of "
                   "MACE with competing events censored); " + _RISK_CR.format(what="time model")),
    "xgb-binary-cr": ("model scale: the log-odds of the cumulative incidence of MACE by the training horizon "
                      "(competing events before it as controls)"),
}

_MSG_NOT_FITTED = "{who}: the model is not fitted (call fit first)"
_MSG_NO_RISK = "{who}: {cls} has no predict_risk(X, horizon); it is not a risk model"


def final_estimator(model):
    """The last step of a pipeline, or the estimator itself."""
    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def model_kind(model) -> str:
    """``xgb-binary``, ``xgb-cox``, ``xgb-aft``, ``coxph``, their competing-risk versions (``-cr``) or ``other``.

    ``other`` is any model with ``predict_risk`` but no engine here (e.g. ``fg``).

    Examples
    --------
    >>> from radiorisk.models import make_model
    >>> model_kind(make_model("coxph")), model_kind(make_model("coxph", competing_risks=True))
    ('coxph', 'coxph-cr')
    """

    final = final_estimator(model)
    for name, cls in ESTIMATORS.items():
        if type(final) is cls and name in SCALES:  # a kind without an engine here (fg) is "other"
            return name
    for name, cls in CR_ESTIMATORS.items():
        if type(final) is cls and f"{name}-cr" in SCALES:
            return f"{name}-cr"
    if not hasattr(model, "predict_risk"):
        raise ExplainError(_MSG_NO_RISK.format(who="shap_values", cls=type(model).__name__))
    return "other"


def transform_head(model, X) -> pd.DataFrame:
    """``X`` through every pipeline step but the last (a DataFrame with the model's columns)."""
    if not isinstance(model, Pipeline):
        return X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
    Xt = X
    for _, step in model.steps[:-1]:
        if step is None or (isinstance(step, str) and step == "passthrough"):
            continue
        Xt = step.transform(Xt)
    if not isinstance(Xt, pd.DataFrame):
        Xt = pd.DataFrame(np.asarray(Xt), index=getattr(X, "index", None))
    return Xt


def check_blocks(blocks) -> dict[str, str]:
    """``{column: block}`` from a ``{block: columns}`` mapping, a CohortData or None."""
    if blocks is None:
        return {}
    if hasattr(blocks, "blocks") and not isinstance(blocks, Mapping):
        blocks = blocks.blocks
    if not isinstance(blocks, Mapping):
        raise ExplainError(f"blocks must be a mapping block -> columns (CohortData.blocks); "
                           f"got {type(blocks).__name__}")
    out: dict[str, str] = {}
    for b, cols in blocks.items():
        if isinstance(cols, str):
            raise ExplainError(f"blocks[{b!r}] must be a list of column names; got the string {cols!r}")
        for c in cols:
            if str(c) in out and out[str(c)] != str(b):
                raise ExplainError(f"column {c!r} is in two blocks: {out[str(c)]!r} and {b!r}")
            out[str(c)] = str(b)
    return out


def check_seed(random_state) -> int:
    """``random_state`` as an int (the seed of :class:`radiorisk.stats.StratifiedBootstrap`); else ExplainError."""
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise ExplainError(f"random_state must be an integer seed; got {random_state!r}")
    return int(random_state)


def check_random_state(random_state) -> np.random.Generator:
    """A generator seeded with ``random_state`` (draws that are not resampling, e.g. a SHAP background)."""
    return np.random.default_rng(check_seed(random_state))


def check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ExplainError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def check_fraction(name: str, value, *, low=0.0, high=1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating) \
            or not np.isfinite(value) or not (low < value < high):
        raise ExplainError(f"{name} must be a number in ({low:g}, {high:g}); got {value!r}")
    return float(value)


def html_table(title: str, lines: list[str], frame: pd.DataFrame, max_rows: int = 20) -> str:
    """A small HTML block: a title, a few statements and a table (:func:`radiorisk._html.repr_html`)."""
    return repr_html(title, frame, lines, max_rows=max_rows)


def import_shap():
    """``import shap`` without its import-time warnings (matplotlib deprecations) leaking out."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import shap
    return shap
