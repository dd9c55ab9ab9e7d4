"""Bias mitigation: group weights, per-group recalibration, group thresholds, calibrated equalized odds.

Four tools, each checked by a fresh :class:`~radiorisk.evaluation.SubgroupAudit`
on held-out (or out-of-fold) data, never on the rows they were fitted on:

- :func:`group_balancing_weights` (pre-processing): case weights that give
  under-represented groups more weight in training, passed to any radiorisk
  model by ``est.fit(X, y, sample_weight=w)``;
- :class:`GroupRecalibrator` (post-processing): per-group recalibration of the
  risk, intercept or intercept and slope, on the complementary log-log scale
  for survival risks (a Cox model with the risk's cloglog as offset or
  covariate) or the logit scale for binary outcomes;
- :func:`group_thresholds` (decision rule): per-group thresholds with equal
  true-positive rates, censoring-aware (the Kaplan-Meier definitions of
  :meth:`SubgroupAudit.fairness`); :func:`fairlearn_threshold_optimizer` wraps
  :class:`fairlearn.postprocessing.ThresholdOptimizer` when binary labels exist;
- :class:`CalibratedEqualizedOdds` / :func:`calibrated_equalized_odds`
  (post-processing, binary outcomes): Pleiss et al. (2017).

This layer sits above :mod:`radiorisk.evaluation` (it uses the audit's
censoring-aware group rates) and below :mod:`radiorisk.explain`.
"""

from ._common import EQUALIZED_ODDS_COLUMNS, RECALIBRATION_COLUMNS, THRESHOLD_COLUMNS
from ._equalized_odds import CalibratedEqualizedOdds, EqualizedOddsResult, calibrated_equalized_odds
from ._recalibration import GroupRecalibrator
from ._thresholds import (
    GroupThresholds,
    RiskScoreEstimator,
    fairlearn_threshold_optimizer,
    group_thresholds,
)
from ._weights import group_balancing_weights

__all__ = [
    "group_balancing_weights",
    "GroupRecalibrator",
    "RECALIBRATION_COLUMNS",
    "group_thresholds",
    "GroupThresholds",
    "THRESHOLD_COLUMNS",
    "fairlearn_threshold_optimizer",
    "RiskScoreEstimator",
    "CalibratedEqualizedOdds",
    "calibrated_equalized_odds",
    "EqualizedOddsResult",
    "EQUALIZED_ODDS_COLUMNS",
]
