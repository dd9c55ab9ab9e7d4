"""Models: risk estimators with one interface, their preprocessing, and safe persistence.

Every model predicts the probability of MACE by a horizon (days):
``make_model(name).fit(X, y).predict_risk(X, horizon)``; in competing-risk mode
(``make_model(name, competing_risks=True)``, ``y`` with ``event_type``) the
cumulative incidence of MACE with non-cardiac death as a competing event.

Public names
------------
make_model, MODEL_NAMES, RiskPipeline
    Build a scikit-learn pipeline (preprocessing + estimator) by model name:
    ``xgb-binary``, ``xgb-cox``, ``xgb-aft``, ``coxph``, ``fg`` (Fine-Gray).
make_y
    The survival outcome (structured array ``event``, ``time``, optionally ``event_type``
    0 censored / 1 MACE / 2 competing event).
XGBBinaryRisk, XGBCoxRisk, XGBAFTRisk, CoxPHRisk, FineGrayRisk
    The final estimators (scikit-learn compatible on their own).
CauseSpecificCoxRisk, CauseSpecificXGBCoxRisk, CauseSpecificXGBAFTRisk, cause_specific_cif, aft_cause_specific_cif,
CompetingXGBBinaryRisk, competing_ipcw_weights, CR_ESTIMATORS, estimand, is_competing
    Competing risks: cause-specific models of MACE and of the competing event combined
    into the cumulative incidence (as ``riskRegression::CSC`` + ``predictRisk``; the AFT
    models by integrating the MACE density times the competing-event survival), the
    competing-risk class of each model kind (``xgb-binary``: competing-risk IPCW weights), and
    what a model's ``predict_risk`` estimates.
ipcw_weights
    Labels and inverse-probability-of-censoring weights of "event by the horizon".
ModalityPreprocessor, ICCFilter, CorrelationPruner, UnivariableScreen, univariable_cox_score,
make_preprocessor
    Preprocessing fitted within training folds.
ComBatHarmoniser, check_batches, batch_column, BATCH_PREFIX, default_harmonised
    ComBat harmonisation by scanner batch (``batch:<name>`` columns of ``X``) as the first
    pipeline step (``make_model(harmonise=[...])``), fitted within training folds; an unseen
    batch is refused.
load, save_model, BundleError, BundleIntegrityError, BundleVersionError
    Model bundles: JSON files with a SHA-256 manifest, loaded without pickle.
load_requirements, ModelRequirements, describe_training, requirements_from_cohort
    What a bundle needs (blocks, columns with training summaries, horizon, outcome, preset):
    missing columns by block and out-of-distribution scores of a new cohort.
make_mi_model, MIModel, parse_impute, IMPUTE_DEFAULT
    The multiply imputed Cox model (``CoxPHRisk(n_imputations=M)``: chained equations inside
    each training fold, Rubin's rules, averaged risks) and the ``impute`` option
    (``"median"`` default, ``"mice:M"``).
delta_sensitivity, DeltaSensitivity, DELTA_COLUMNS, DEFAULT_DELTAS
    MNAR sensitivity analysis: C and O/E when the imputed PET values are shifted by delta SDs.
ModelError
    Invalid model inputs or parameters.
cross_validate_risk, CVResult, fit_final_model, make_folds, cluster_folds, DEFAULT_SEARCH_SPACE, SEARCHABLE_MODELS
    Repeated stratified K-fold (grouped by patient) or leave-one-cluster-out folds (internal-external
    validation), nested random search (a time budget only
    when asked for), out-of-fold risk.
modality_ladder, LadderResult, category_free_nri, integrated_discrimination_improvement,
NRIResult, IDIResult, LADDER_COLUMNS
    The modality ladder clinical -> +ccta -> +radiomics -> +pet with paired CIs, NRI and IDI.
optimism_bootstrap, optimism_indexes, OptimismResult, OPTIMISM_COLUMNS, OPTIMISM_INDEXES
    Optimism-corrected bootstrap validation (Efron-Gong, as ``rms::validate``) of a whole pipeline:
    Harrell's C, Dxy, calibration slope, O/E and Brier at the horizon.

See ``docs/models.md``.
"""

from ._base import DEFAULT_HORIZON, ModelError, make_y
from ._cause_specific import CauseSpecificCoxRisk, CauseSpecificXGBCoxRisk, cause_specific_cif
from ._cause_specific_aft import CauseSpecificXGBAFTRisk, aft_cause_specific_cif
from ._competing_xgb import CompetingXGBBinaryRisk, competing_ipcw_weights
from ._cox import HAZARD_RATIO_COLUMNS, CoxPHRisk
from ._cox_penalty import DEFAULT_PENALIZER_GRID, INNER_CV_COLUMNS, default_cox_params
from ._estimators import MODEL_NAMES, RiskPipeline, make_model
from ._finegray_model import FineGrayRisk
from ._folds import cluster_folds
from ._harmonise import (
    BATCH_PREFIX,
    ComBatHarmoniser,
    batch_column,
    check_batches,
    default_harmonised,
)
from ._impute_model import IMPUTE_DEFAULT, MIModel, make_mi_model, parse_impute
from ._impute_sensitivity import DEFAULT_DELTAS, DELTA_COLUMNS, DeltaSensitivity, delta_sensitivity
from ._ladder import (
    LADDER_COLUMNS,
    IDIResult,
    LadderResult,
    NRIResult,
    category_free_nri,
    integrated_discrimination_improvement,
    modality_ladder,
)
from ._optimism import (
    OPTIMISM_COLUMNS,
    OPTIMISM_INDEXES,
    OptimismResult,
    optimism_bootstrap,
    optimism_indexes,
)
from ._persist import (
    BundleError,
    BundleIntegrityError,
    BundleVersionError,
    load,
    load_requirements,
    save_model,
)
from ._preprocess import ModalityPreprocessor, make_preprocessor
from ._recalibrated import ModelRecalibration
from ._registry import CR_ESTIMATORS, estimand, is_competing
from ._requirements import ModelRequirements, describe_training, requirements_from_cohort
from ._select import CorrelationPruner, ICCFilter, UnivariableScreen, univariable_cox_score
from ._validation import (
    DEFAULT_SEARCH_SPACE,
    SEARCHABLE_MODELS,
    CVResult,
    cross_validate_risk,
    fit_final_model,
    make_folds,
)
from ._xgb import XGBBinaryRisk, XGBCoxRisk, ipcw_weights
from ._xgb_aft import AFT_DISTRIBUTIONS, XGBAFTRisk

__all__ = [
    "BATCH_PREFIX",
    "ComBatHarmoniser",
    "batch_column",
    "check_batches",
    "default_harmonised",
    "AFT_DISTRIBUTIONS",
    "DEFAULT_PENALIZER_GRID",
    "INNER_CV_COLUMNS",
    "default_cox_params",
    "CR_ESTIMATORS",
    "CauseSpecificCoxRisk",
    "CauseSpecificXGBCoxRisk",
    "CauseSpecificXGBAFTRisk",
    "aft_cause_specific_cif",
    "CompetingXGBBinaryRisk",
    "competing_ipcw_weights",
    "FineGrayRisk",
    "cause_specific_cif",
    "estimand",
    "is_competing",
    "IMPUTE_DEFAULT",
    "DEFAULT_DELTAS",
    "DELTA_COLUMNS",
    "DeltaSensitivity",
    "delta_sensitivity",
    "MIModel",
    "make_mi_model",
    "parse_impute",
    "CVResult",
    "DEFAULT_SEARCH_SPACE",
    "IDIResult",
    "LADDER_COLUMNS",
    "LadderResult",
    "NRIResult",
    "SEARCHABLE_MODELS",
    "category_free_nri",
    "cross_validate_risk",
    "fit_final_model",
    "integrated_discrimination_improvement",
    "make_folds",
    "cluster_folds",
    "modality_ladder",
    "OPTIMISM_COLUMNS",
    "OPTIMISM_INDEXES",
    "OptimismResult",
    "optimism_bootstrap",
    "optimism_indexes",
    "BundleError",
    "BundleIntegrityError",
    "BundleVersionError",
    "CorrelationPruner",
    "CoxPHRisk",
    "DEFAULT_HORIZON",
    "HAZARD_RATIO_COLUMNS",
    "ICCFilter",
    "MODEL_NAMES",
    "ModalityPreprocessor",
    "ModelError",
    "RiskPipeline",
    "UnivariableScreen",
    "XGBAFTRisk",
    "XGBBinaryRisk",
    "XGBCoxRisk",
    "ipcw_weights",
    "load",
    "ModelRecalibration",
    "load_requirements",
    "ModelRequirements",
    "describe_training",
    "requirements_from_cohort",
    "make_model",
    "make_preprocessor",
    "make_y",
    "save_model",
    "univariable_cox_score",
]
