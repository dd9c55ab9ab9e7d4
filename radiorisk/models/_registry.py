"""The model registry: model names and their final estimator classes."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from ._base import ModelError
from ._cause_specific import CAUSE_SPECIFIC, ESTIMAND_CENSORING
from ._cause_specific_aft import CauseSpecificXGBAFTRisk
from ._competing_xgb import CompetingXGBBinaryRisk
from ._cox import CoxPHRisk
from ._finegray_model import FineGrayRisk
from ._xgb import XGBBinaryRisk, XGBCoxRisk
from ._xgb_aft import XGBAFTRisk

__all__ = ["MODEL_NAMES", "ESTIMATORS", "CR_ESTIMATORS", "model_name", "estimand", "is_competing"]

#: Names accepted by :func:`make_model` (and ``radiorisk fit --model``).
MODEL_NAMES = ("xgb-binary", "xgb-cox", "xgb-aft", "coxph", "fg")

#: Final estimator class of each model name.
ESTIMATORS = {
    "xgb-binary": XGBBinaryRisk,
    "xgb-cox": XGBCoxRisk,
    "xgb-aft": XGBAFTRisk,
    "coxph": CoxPHRisk,
    "fg": FineGrayRisk,
}

#: Final estimator class of each model name in competing-risk mode (``make_model(..., competing_risks=True)``):
#: cause-specific combinations, and the Fine-Gray model.
CR_ESTIMATORS = {**CAUSE_SPECIFIC, "xgb-aft": CauseSpecificXGBAFTRisk, "xgb-binary": CompetingXGBBinaryRisk,
                 "fg": FineGrayRisk}


def model_name(estimator) -> str:
    """The :data:`MODEL_NAMES` entry of a final estimator (or of a pipeline's last step)."""
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    for name, cls in (*ESTIMATORS.items(), *CR_ESTIMATORS.items()):
        if type(final) is cls:
            return name
    raise ModelError(f"{type(final).__name__} is not a radiorisk risk estimator")


def is_competing(estimator) -> bool:
    """Whether ``estimator`` (or a pipeline's last step) predicts the cumulative incidence under competing risks.

    Examples
    --------
    >>> from radiorisk.models import make_model
    >>> is_competing(make_model("xgb-cox")), is_competing(make_model("xgb-cox", competing_risks=True))
    (False, True)
    >>> is_competing(make_model("fg"))
    True
    """
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    return any(type(final) is cls for cls in CR_ESTIMATORS.values())


def estimand(estimator) -> str:
    """What ``predict_risk`` of a fitted model estimates, in words (for fit and model reports).

    Examples
    --------
    >>> from radiorisk.models import make_model
    >>> estimand(make_model("coxph"))[:40]
    '1 - survival from MACE with competing ev'
    >>> estimand(make_model("coxph", competing_risks=True))[:40]
    'cumulative incidence of MACE (Aalen-Joha'
    """
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    if type(final) is FineGrayRisk and not hasattr(final, "coef_"):
        return "cumulative incidence of MACE (Fine-Gray subdistribution hazard model, as cmprsk::crr)"
    return getattr(final, "estimand_", ESTIMAND_CENSORING)
