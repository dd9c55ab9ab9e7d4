"""Statistics: the lowest layer. Metrics, survival building blocks, the Cox fitter.

Every metric follows the definitions of the referee README
(``tests/reference/referee/README.md``) and reproduces the R function it names
(pROC, glm, loess, survival, rms, riskRegression) to 1e-6 or better.
:mod:`radiorisk.stats` imports nothing from radiorisk but :mod:`radiorisk.exceptions`;
every layer above (models, evaluation, explain, report) computes with it.

Public names
------------
auc_delong, brier_score, calibration_intercept, calibration_slope, loess_calibration, oe_ratio
    Binary outcome.
harrell_c, uno_c, td_auc, brier_t, ipa, oe_ratio_t, cox_calibration
    Survival outcome with predicted risk by a horizon.
censoring_survival, StepFunction, kaplan_meier_risk, rcs_knots, rcs_basis
    Building blocks (censoring KM, KM risk with CI, Hmisc spline knots and basis).
kaplan_meier, kaplan_meier_at, median_follow_up
    The Kaplan-Meier curve, its value at t0 with case weights (one column per
    replicate), the median potential follow-up (reverse Kaplan-Meier).
at_risk_from_counts, km_factors, censoring_km_factors
    The one definition of the risk set and of the factors of S_KM and G, shared by
    the point estimates and the vectorised bootstrap.
category_free_nri, integrated_discrimination_improvement, NRIResult, IDIResult
    Reclassification at a horizon (KM-based NRI, IPCW IDI).
net_reclassification, risk_categories
    The one NRI kernel: categorical or category-free, binary, Kaplan-Meier or Aalen-Johansen,
    with case weights per bootstrap replicate (Pencina, Steyerberg & D'Agostino 2011; nricens).
net_benefit_curve, NetBenefit, observed_risk_at, check_thresholds, threshold_grid
    Decision curves (net benefit of treating risk >= pt and of treating all; dcurves::dca):
    binary, 1 - Kaplan-Meier or Aalen-Johansen observed risk, with case weights.
combat_fit, combat_apply, ComBatFit
    ComBat batch harmonisation (Johnson et al. 2007), fitted on one sample and applied to others.
fit_cox, CoxFit, cox_partial_loglik, fit_cox_ridge
    The one Cox fitter (Breslow or Efron ties), equal to ``survival::coxph``; its partial
    log-likelihood at a given linear predictor; the ridge fit with per-column penalties.
fit_cox_batched, CoxRiskSets, efron_cumulative_hazard_batched
    Its batched form: Efron fits of two covariates for a block of case weights (the
    bootstrap's calibration fits) and their baseline hazard.
breslow_increments, efron_increments
    The Breslow and Efron baseline hazard increments given log relative hazards.
harrell_and_uno_c, fit_rcs_calibration, RcsCalibrationModel, cox_cumulative_hazard_se, loess_fit
    The pieces the audit and the calibration curves share with the metrics (both C from
    one pass of pair counts, the rcs-Cox calibration model, the Cox hazard with its SE,
    R's loess).
cloglog, logit_clipped, Z_975, html_table
    Link functions, the 95 % multiplier, the notebook view of a result table.
aalen_johansen, CumulativeIncidence, check_competing_inputs
    Competing risks (``status`` 0 = censored, 1 = event of interest, 2 = competing event):
    the Aalen–Johansen cumulative incidence with prodlim's CI.
c_cr, auc_cr, brier_cr, ipa_cr, oe_ratio_cr, fine_gray_calibration
    Competing-risk metrics for cause 1 at t0 (Wolbers' concordance, riskRegression's
    ``Score(..., cause = 1)``, the Fine–Gray calibration of Austin et al. 2022), R-exact.
PrefixRankSums
    The weighted prefix rank sums behind ``c_cr`` with the weights as columns (a compiled
    Fenwick sweep per column: the bootstrap's ``c_cr`` of every group).
fit_fine_gray, FineGrayFit
    Fine–Gray subdistribution-hazard regression, equal to ``cmprsk::crr`` (coefficients,
    sandwich and naive SEs, baseline, predicted cumulative incidence).
FineGrayCalibrationBatch
    ``fine_gray_calibration`` of one set of rows for a block of case weights (the bootstrap's
    replicates: sorted once, weighted censoring KM, compiled Fine–Gray Newton).
random_effects, MetaAnalysis
    Random-effects meta-analysis (REML, Paule–Mandel, DerSimonian–Laird; Hartung–Knapp; the
    prediction interval of Riley et al. 2011; logit/log scales), equal to ``metafor::rma``:
    pooling per-site performance in internal–external cross-validation.
riley_sample_size, riley_sample_size_binary, riley_sample_size_survival, SampleSize, expected_shrinkage
    Riley et al.'s minimum sample size for a prediction model (binary and survival), equal to
    the published examples and R ``pmsampsize`` (differences documented in the tests).
anticipated_cox_snell_r2, cox_snell_from_c, cox_snell_from_nagelkerke, cox_snell_from_lr, max_cox_snell_r2
    The anticipated Cox–Snell R² from a reported C statistic, Nagelkerke R² or LR chi-square.
max_parameters, parameter_budget_table, ParameterBudget
    How many candidate parameters a data set supports (per rung of the modality ladder).
cox_recalibration, fine_gray_recalibration, Recalibration
    Survival calibration slope and calibration-in-the-large at t0 (Cox model of the outcome
    censored at t0 on cloglog(risk), Efron ties; equal to ``survival::coxph``/``survfit``), and the
    competing-risk slope and calibration-in-the-large (Fine–Gray on cloglog(cumulative incidence),
    equal to ``cmprsk::crr``).
rubin_pool, barnard_rubin_df, RUBIN_COLUMNS
    Rubin's rules for estimates from multiply imputed data (the pooled table of ``mice::pool``,
    Barnard–Rubin degrees of freedom), equal to R within 1e-8.
cloglog_recalibrated, RECALIBRATION_EPS
    The recalibration map of a risk by the horizon on the cloglog scale (per-group recalibration,
    recalibrated model bundles).
model_based_c
    The model-based concordance (van Klaveren et al. 2016): the C a model would reach in a cohort
    if its risks were right there (case mix only; external validation).
gnd_test, GNDTest, risk_groups
    The Greenwood–Nam–D'Agostino calibration test at t0 (Demler, Paynter & Cook 2015) on risk
    deciles collapsed to >= 5 events per group.
adjust_p_values, P_ADJUSTMENTS
    Holm and Benjamini–Hochberg adjusted p-values (R's ``p.adjust``).
Estimate, CalibrationErrors, NotEstimableError
    Result types and the "cannot be estimated" error.
DEFAULT_HORIZON_DAYS, check_horizon, check_binary_inputs, check_survival_inputs
    The one default horizon (1826 days), the one check of a horizon and of metric inputs.
StratifiedBootstrap, counts_from_indices, percentile_interval, replicate_seed, permutation_rng
    The one resampling engine (stratified; replicate b from ``SeedSequence(random_state,
    spawn_key=(b,))``, permutation p from its child ``(p, 0)``), used by the audit, the ladder,
    the explanations and the patient intervals.
inverse_information, newton_step, sqrt_variance, InverseInformation
    Safe linear algebra for information matrices and variances.
"""

from ..exceptions import NotEstimableError
from ..schemas import DEFAULT_HORIZON_DAYS
from ._aalen_johansen import (
    CumulativeIncidence,
    aalen_johansen,
    aalen_johansen_at,
    check_competing_inputs,
)
from ._binary import (
    auc_delong,
    brier_score,
    calibration_intercept,
    calibration_slope,
    loess_calibration,
    loess_fit,
    oe_ratio,
)
from ._calibration_slope import Recalibration, cox_recalibration, fine_gray_recalibration
from ._cloglog_map import RECALIBRATION_EPS, cloglog_recalibrated
from ._combat import ComBatFit, combat_apply, combat_fit
from ._common import (
    Z_975,
    CalibrationErrors,
    Estimate,
    check_binary_inputs,
    check_horizon,
    check_survival_inputs,
    html_table,
    logit_clipped,
)
from ._competing import (
    auc_cr,
    brier_cr,
    c_cr,
    fine_gray_calibration,
    ipa_cr,
    oe_ratio_cr,
)
from ._concordance import harrell_and_uno_c
from ._cox import (
    CoxFit,
    breslow_increments,
    cox_cumulative_hazard_se,
    cox_partial_loglik,
    efron_increments,
    fit_cox,
)
from ._cox_batched import CoxRiskSets, efron_cumulative_hazard_batched, fit_cox_batched
from ._cox_ridge import fit_cox_ridge
from ._decision import (
    NetBenefit,
    check_thresholds,
    net_benefit_curve,
    observed_risk_at,
    threshold_grid,
)
from ._finegray import FineGrayFit, fit_fine_gray
from ._finegray_batched import FineGrayCalibrationBatch
from ._gnd import GNDTest, gnd_test, risk_groups
from ._km import (
    at_risk_from_counts,
    censoring_km_factors,
    kaplan_meier,
    kaplan_meier_at,
    km_factors,
    median_follow_up,
)
from ._linalg import InverseInformation, inverse_information, newton_step, sqrt_variance
from ._meta import MetaAnalysis, random_effects
from ._model_based_c import model_based_c
from ._multitest import P_ADJUSTMENTS, adjust_p_values
from ._nri import net_reclassification, risk_categories
from ._prefix_rank import PrefixRankSums
from ._rcs import RcsCalibrationModel, cloglog, fit_rcs_calibration
from ._reclassification import (
    IDIResult,
    NRIResult,
    category_free_nri,
    integrated_discrimination_improvement,
)
from ._resample import (
    StratifiedBootstrap,
    counts_from_indices,
    percentile_interval,
    permutation_rng,
    replicate_seed,
)
from ._rubin import RUBIN_COLUMNS, barnard_rubin_df, rubin_pool
from ._samplesize import (
    SampleSize,
    SampleSizeCriterion,
    expected_shrinkage,
    riley_sample_size,
    riley_sample_size_binary,
    riley_sample_size_survival,
)
from ._samplesize_budget import ParameterBudget, max_parameters, parameter_budget_table
from ._samplesize_r2 import (
    anticipated_cox_snell_r2,
    cox_snell_from_c,
    cox_snell_from_lr,
    cox_snell_from_nagelkerke,
    max_cox_snell_r2,
)
from ._survival import (
    StepFunction,
    brier_t,
    censoring_survival,
    cox_calibration,
    harrell_c,
    ipa,
    kaplan_meier_risk,
    oe_ratio_t,
    rcs_basis,
    rcs_knots,
    td_auc,
    uno_c,
)

__all__ = [
    "ComBatFit", "combat_apply", "combat_fit",
    "DEFAULT_HORIZON_DAYS", "CalibrationErrors", "CoxFit", "Estimate", "IDIResult",
    "InverseInformation", "NRIResult", "NotEstimableError", "category_free_nri",
    "integrated_discrimination_improvement", "StratifiedBootstrap", "counts_from_indices",
    "percentile_interval",
    "StepFunction", "auc_delong", "brier_score", "brier_t", "calibration_intercept",
    "calibration_slope", "censoring_survival", "check_binary_inputs", "check_horizon",
    "check_survival_inputs", "cox_calibration", "cox_partial_loglik", "fit_cox", "fit_cox_ridge", "harrell_c", "inverse_information",
    "ipa", "kaplan_meier_risk", "loess_calibration", "newton_step", "oe_ratio", "oe_ratio_t",
    "rcs_basis", "rcs_knots", "sqrt_variance", "td_auc", "uno_c",
    "at_risk_from_counts", "censoring_km_factors", "kaplan_meier", "kaplan_meier_at", "km_factors",
    "median_follow_up", "CoxRiskSets", "efron_cumulative_hazard_batched", "fit_cox_batched",
    "breslow_increments", "efron_increments", "RcsCalibrationModel", "Z_975", "cloglog", "cox_cumulative_hazard_se",
    "fit_rcs_calibration", "harrell_and_uno_c", "html_table", "loess_fit", "logit_clipped",
    "CumulativeIncidence", "aalen_johansen", "check_competing_inputs", "FineGrayFit", "fit_fine_gray", "FineGrayCalibrationBatch",
    "PrefixRankSums", "c_cr", "auc_cr", "brier_cr", "ipa_cr", "oe_ratio_cr", "fine_gray_calibration",
    "MetaAnalysis", "random_effects", "replicate_seed", "permutation_rng",
    "SampleSize", "SampleSizeCriterion", "expected_shrinkage", "riley_sample_size",
    "riley_sample_size_binary", "riley_sample_size_survival", "ParameterBudget", "max_parameters",
    "parameter_budget_table", "anticipated_cox_snell_r2", "cox_snell_from_c", "cox_snell_from_lr",
    "cox_snell_from_nagelkerke", "max_cox_snell_r2",
    "Recalibration", "cox_recalibration", "fine_gray_recalibration", "GNDTest", "gnd_test",
    "risk_groups", "P_ADJUSTMENTS", "adjust_p_values", "model_based_c", "RUBIN_COLUMNS", "barnard_rubin_df",
    "rubin_pool", "cloglog_recalibrated", "RECALIBRATION_EPS", "aalen_johansen_at",
    "NetBenefit", "check_thresholds", "net_benefit_curve", "observed_risk_at", "threshold_grid",
    "net_reclassification", "risk_categories",
]
