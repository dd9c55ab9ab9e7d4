"""Evaluation: the metrics applied overall and per subgroup, with bootstrap CIs, tables and plots.

The metrics themselves live in :mod:`radiorisk.stats`; this package applies them overall
and per subgroup. The stats metrics stay importable from here for compatibility
(``from radiorisk.evaluation import harrell_c`` works) but are not part of this package's
``__all__``: import them from :mod:`radiorisk.stats`.

Public names
------------
SubgroupAudit, AUDIT_COLUMNS, UNKNOWN_GROUP, read_group_labels
    The one subgroup engine: every metric per group and intersection with paired
    bootstrap CIs, contrasts, heterogeneity, censoring-aware fairness and
    calibration within groups (fixed-shape DataFrames, explicit flags); how it reads
    group labels.
compute_metrics, write_metrics_csv, BINARY_METRICS, SURVIVAL_METRICS, COMPETING_METRICS, METRICS_COLUMNS
    The audit table in the ``metrics.csv`` shape (overall and per group): a view of
    :class:`SubgroupAudit` (``competing_risks=True``: the competing-risk metrics).
calibration_table, survival_calibration_table, calibration_curve, survival_calibration_curve,
net_benefit, survival_net_benefit
    Tables and curves as DataFrames (plotting lives in Display classes).
AuditTables, audit_tables, AUDIT_FILES, NRI_FILE, stack_audit_tables
    The tables of an audit folder (decision_curves.csv: DECISION_COLUMNS; nri.csv: NRI_COLUMNS).
    The tables of an audit folder, computed once (written by :mod:`radiorisk.pipeline`); those of
    several horizons stacked with a ``horizon`` column.
CALIBRATION_TEST_COLUMNS, CONTRAST_ADJUSTMENTS
    The columns of :meth:`SubgroupAudit.calibration_tests` (calibration slope and intercept with
    Wald CIs, GND test, per group) and the adjustments that decide ``significant`` in the
    contrasts (``holm``, ``bh``, ``none``).
StratifiedBootstrap, survival_replicates, binary_replicates, percentile_interval
    The vectorised, stratified bootstrap behind the CIs.
CalibrationDisplay, SubgroupForestDisplay, DecisionCurveDisplay, MetaForestDisplay
    Plots (``from_predictions`` / ``from_estimator`` / ``plot(ax=None)``).
transport_diagnostics, TransportDiagnostics, SMDDisplay
    Case mix of a validation cohort against the development cohort: standardised differences,
    membership model, training support, linear predictor and model-based C (external validation).

Auditing a predictions file and writing the audit folder (the body of ``radiorisk audit``)
is :func:`radiorisk.pipeline.run_audit`.

Bias mitigation (training weights, per-group recalibration, group thresholds,
calibrated equalized odds) is the layer above: :mod:`radiorisk.mitigation`.
"""

from .. import stats as _stats
from ._audit import AUDIT_COLUMNS, UNKNOWN_GROUP, SubgroupAudit, read_group_labels
from ._audit_calibration import CALIBRATION_TEST_COLUMNS
from ._audit_contrasts import CONTRAST_ADJUSTMENTS
from ._audit_decision import DECISION_COLUMNS, DEFAULT_DECISION_THRESHOLDS, NRI_COLUMNS
from ._audit_tables import AUDIT_FILES, NRI_FILE, AuditTables, audit_tables, stack_audit_tables
from ._bootstrap import (
    StratifiedBootstrap,
    binary_replicates,
    percentile_interval,
    survival_replicates,
)
from ._display import CalibrationDisplay, DecisionCurveDisplay, SubgroupForestDisplay
from ._meta_display import MetaForestDisplay
from ._metrics_frame import (
    BINARY_METRICS,
    COMPETING_METRICS,
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
from ._transport import SMDDisplay, TransportDiagnostics, transport_diagnostics

__all__ = [
    "AUDIT_COLUMNS",
    "AUDIT_FILES",
    "NRI_FILE",
    "DECISION_COLUMNS",
    "DEFAULT_DECISION_THRESHOLDS",
    "NRI_COLUMNS",
    "AuditTables",
    "CALIBRATION_TEST_COLUMNS",
    "CONTRAST_ADJUSTMENTS",
    "BINARY_METRICS",
    "COMPETING_METRICS",
    "CalibrationDisplay",
    "DecisionCurveDisplay",
    "METRICS_COLUMNS",
    "SURVIVAL_METRICS",
    "StratifiedBootstrap",
    "SubgroupAudit",
    "SubgroupForestDisplay",
    "MetaForestDisplay",
    "SMDDisplay",
    "TransportDiagnostics",
    "transport_diagnostics",
    "UNKNOWN_GROUP",
    "audit_tables",
    "binary_replicates",
    "calibration_curve",
    "calibration_table",
    "compute_metrics",
    "net_benefit",
    "percentile_interval",
    "read_group_labels",
    "survival_calibration_curve",
    "survival_calibration_table",
    "survival_net_benefit",
    "survival_replicates",
    "stack_audit_tables",
    "write_metrics_csv",
]

# Re-exported for compatibility (``from radiorisk.evaluation import harrell_c`` keeps working);
# their public home is radiorisk.stats, so they are not in __all__.
_FROM_STATS = frozenset({
    "CalibrationErrors",
    "CoxFit",
    "Estimate",
    "NotEstimableError",
    "StepFunction",
    "auc_delong",
    "brier_score",
    "brier_t",
    "calibration_intercept",
    "calibration_slope",
    "censoring_survival",
    "cox_calibration",
    "fit_cox",
    "harrell_c",
    "ipa",
    "kaplan_meier_risk",
    "loess_calibration",
    "oe_ratio",
    "oe_ratio_t",
    "rcs_basis",
    "rcs_knots",
    "td_auc",
    "uno_c",
})


def __getattr__(name: str):
    if name in _FROM_STATS:
        return getattr(_stats, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _FROM_STATS)
