"""Explanations: SHAP values per model kind, by modality block and by subgroup; risk intervals.

Public names
------------
shap_values, ShapResult, ModalityShap, RiskLink, METHODS, ADDITIVITY_ATOL
    SHAP values of every model kind on its margin scale (log-odds, log-hazard,
    log-time), mapped back to the input columns; ``ShapResult.by_block()`` sums
    them per modality block, ``ShapResult.risk_contributions()`` is the
    probability-at-horizon view.  Competing-risk models are explained on the
    cause-specific margin of their model of MACE, the risk view being the
    cumulative incidence (stated in the result's notes).
shap_by_subgroup, SubgroupShap, SUBGROUP_COLUMNS, SUBGROUP_TEST_COLUMNS, ADJUSTMENTS
    Mean |SHAP| and SHAP effect per feature per group with bootstrap CIs, and
    permutation tests of their differences between groups under the fitted model.
effect_modification_test, EffectModificationTest, EFFECT_TEST_COLUMNS
    Whether a feature's effect differs between groups beyond refitting noise
    (bootstrap refits of the model).
proxy_check, ProxyCheck
    How well the SHAP values predict a protected attribute.
risk_intervals, RiskUncertainty, UNCERTAINTY_COLUMNS, OOD_METHODS
    A bootstrap interval for each predicted risk and a low-confidence flag with its reasons.
ShapSummaryDisplay, ShapBarDisplay, ShapWaterfallDisplay, ShapDependenceDisplay, ModalityBarDisplay
    Plots (``from_shap`` / ``from_estimator`` / ``plot(ax=None)``).
ExplainError
    An explanation cannot be computed with these inputs.

See ``docs/explain.md``.
"""

from ._common import ExplainError, model_kind
from ._display import (
    ModalityBarDisplay,
    ShapBarDisplay,
    ShapDependenceDisplay,
    ShapSummaryDisplay,
    ShapWaterfallDisplay,
)
from ._shap import ADDITIVITY_ATOL, METHODS, ModalityShap, RiskLink, ShapResult, shap_values
from ._subgroup import (
    ADJUSTMENTS,
    EFFECT_TEST_COLUMNS,
    SUBGROUP_COLUMNS,
    SUBGROUP_TEST_COLUMNS,
    EffectModificationTest,
    ProxyCheck,
    SubgroupShap,
    effect_modification_test,
    proxy_check,
    shap_by_subgroup,
)
from ._uncertainty import OOD_METHODS, UNCERTAINTY_COLUMNS, RiskUncertainty, risk_intervals

__all__ = [
    "ADDITIVITY_ATOL",
    "ADJUSTMENTS",
    "EFFECT_TEST_COLUMNS",
    "EffectModificationTest",
    "effect_modification_test",
    "ExplainError",
    "model_kind",
    "METHODS",
    "ModalityBarDisplay",
    "ModalityShap",
    "OOD_METHODS",
    "ProxyCheck",
    "RiskLink",
    "RiskUncertainty",
    "SUBGROUP_COLUMNS",
    "SUBGROUP_TEST_COLUMNS",
    "ShapBarDisplay",
    "ShapDependenceDisplay",
    "ShapResult",
    "ShapSummaryDisplay",
    "ShapWaterfallDisplay",
    "SubgroupShap",
    "UNCERTAINTY_COLUMNS",
    "proxy_check",
    "risk_intervals",
    "shap_by_subgroup",
    "shap_values",
]
