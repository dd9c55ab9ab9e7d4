"""The model registry: model names and their final estimator classes."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from ._base import ModelError
from ._cox import CoxPHRisk
from ._xgb import XGBAFTRisk, XGBBinaryRisk, XGBCoxRisk

__all__ = ["MODEL_NAMES", "ESTIMATORS", "model_name"]

#: Names accepted by :func:`make_model` (and ``radiorisk fit --model``).
MODEL_NAMES = ("xgb-binary", "xgb-cox", "xgb-aft", "coxph")

#: Final estimator class of each model name.
ESTIMATORS = {
    "xgb-binary": XGBBinaryRisk,
    "xgb-cox": XGBCoxRisk,
    "xgb-aft": XGBAFTRisk,
    "coxph": CoxPHRisk,
}


def model_name(estimator) -> str:
    """The :data:`MODEL_NAMES` entry of a final estimator (or of a pipeline's last step)."""
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    for name, cls in ESTIMATORS.items():
        if type(final) is cls:
            return name
    raise ModelError(f"{type(final).__name__} is not a radiorisk risk estimator")
