"""Evaluation: discrimination, calibration, decision curves and the subgroup audit table.

The metrics themselves live in :mod:`radiorisk.stats` (re-exported here, so that
``from radiorisk.evaluation import harrell_c`` keeps working); this package applies
them overall and per subgroup, with bootstrap CIs, tables, plots and mitigation.

Public names
------------
compute_metrics, write_metrics_csv, BINARY_METRICS, SURVIVAL_METRICS, METRICS_COLUMNS
    The audit table in the ``metrics.csv`` shape (overall and per group).
auc_delong, brier_score, calibration_intercept, calibration_slope, loess_calibration, oe_ratio
    Binary outcome.
harrell_c, uno_c, td_auc, brier_t, ipa, oe_ratio_t, cox_calibration
    Survival outcome with predicted risk by a horizon.
censoring_survival, StepFunction, kaplan_meier_risk, rcs_knots, rcs_basis
    Building blocks (censoring KM, KM risk with CI, Hmisc spline knots and basis).
fit_cox, CoxFit
    A small exact Cox fitter (Breslow or Efron ties).
calibration_table, survival_calibration_table, calibration_curve, survival_calibration_curve,
net_benefit, survival_net_benefit
    Tables and curves as DataFrames (plotting lives in Display classes).
Estimate, CalibrationErrors, NotEstimableError
    Result types and the "cannot be estimated" error.
AuditTables, audit_tables, AUDIT_FILES
    The tables of an audit folder, computed once (written by :mod:`radiorisk.pipeline`).
SubgroupAudit, AUDIT_COLUMNS, UNKNOWN_GROUP
    The subgroup audit: every metric per group and intersection with paired
    bootstrap CIs, contrasts, heterogeneity, censoring-aware fairness and
    calibration within groups (fixed-shape DataFrames, explicit flags).
StratifiedBootstrap, survival_replicates, binary_replicates, percentile_interval
    The vectorised, stratified bootstrap behind the CIs.
CalibrationDisplay, SubgroupForestDisplay, DecisionCurveDisplay
    Plots (``from_predictions`` / ``from_estimator`` / ``plot(ax=None)``).

Auditing a predictions file and writing the audit folder (the body of ``radiorisk audit``)
is :func:`radiorisk.pipeline.run_audit`.

Bias mitigation (training weights, per-group recalibration, group thresholds,
calibrated equalized odds) is the layer above: :mod:`radiorisk.mitigation`.
"""

from ..stats import (
    CalibrationErrors,
    CoxFit,
    Estimate,
    NotEstimableError,
    StepFunction,
    auc_delong,
    brier_score,
    brier_t,
    calibration_intercept,
    calibration_slope,
    censoring_survival,
    cox_calibration,
    fit_cox,
    harrell_c,
    ipa,
    kaplan_meier_risk,
    loess_calibration,
    oe_ratio,
    oe_ratio_t,
    rcs_basis,
    rcs_knots,
    td_auc,
    uno_c,
)
from ._audit import AUDIT_COLUMNS, UNKNOWN_GROUP, SubgroupAudit
from ._audit_tables import AUDIT_FILES, AuditTables, audit_tables
from ._bootstrap import (
    StratifiedBootstrap,
    binary_replicates,
    percentile_interval,
    survival_replicates,
)
from ._display import CalibrationDisplay, DecisionCurveDisplay, SubgroupForestDisplay
from ._metrics_frame import (
    BINARY_METRICS,
    METRICS_COLUMNS,
    SURVIVAL_METRICS,
    compute_metrics,
    write_metrics_csv,
)
from ._tables import (
    calibration_curve,
    calibration_table,
    net_benefit,
    survival_calibration_curve,
    survival_calibration_table,
    survival_net_benefit,
)

__all__ = [
    "AUDIT_COLUMNS",
    "AUDIT_FILES",
    "AuditTables",
    "audit_tables",
    "BINARY_METRICS",
    "CalibrationDisplay",
    "DecisionCurveDisplay",
    "StratifiedBootstrap",
    "SubgroupAudit",
    "SubgroupForestDisplay",
    "UNKNOWN_GROUP",
    "METRICS_COLUMNS",
    "SURVIVAL_METRICS",
    "CalibrationErrors",
    "StepFunction",
    "CoxFit",
    "Estimate",
    "NotEstimableError",
    "auc_delong",
    "binary_replicates",
    "brier_score",
    "brier_t",
    "calibration_curve",
    "calibration_intercept",
    "calibration_slope",
    "calibration_table",
    "censoring_survival",
    "compute_metrics",
    "cox_calibration",
    "fit_cox",
    "harrell_c",
    "ipa",
    "kaplan_meier_risk",
    "loess_calibration",
    "net_benefit",
    "oe_ratio",
    "oe_ratio_t",
    "percentile_interval",
    "rcs_basis",
    "rcs_knots",
    "survival_calibration_curve",
    "survival_calibration_table",
    "survival_net_benefit",
    "survival_replicates",
    "td_auc",
    "uno_c",
    "write_metrics_csv",
]
