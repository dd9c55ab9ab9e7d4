"""The model factory :func:`make_model` (the registry is ``_registry``, the pipeline ``_persist``)."""

from __future__ import annotations

import inspect

from ._base import DEFAULT_HORIZON, ModelError
from ._harmonise import ComBatHarmoniser
from ._persist import RiskPipeline
from ._preprocess import make_preprocessor
from ._registry import CR_ESTIMATORS, ESTIMATORS, MODEL_NAMES, model_name
from ._select import CorrelationPruner, ICCFilter, UnivariableScreen

__all__ = ["MODEL_NAMES", "ESTIMATORS", "make_model", "RiskPipeline", "model_name"]

_PIPELINE_KEYS = ("categorical", "numeric", "radiomics", "icc_keep", "correlation_threshold",
                  "screen_k", "screen_p", "harmonise", "harmonise_columns", "harmonise_covariates")


def make_model(name: str, *, horizon: float = DEFAULT_HORIZON, random_state: int = 0,
               categorical=None, numeric=None, radiomics=None, icc_keep=None,
               correlation_threshold=None, screen_k=None, screen_p=None, harmonise=None,
               harmonise_columns=None, harmonise_covariates=None,
               competing_risks: bool = False, **params) -> RiskPipeline:
    """Build an unfitted risk model: preprocessing steps and the estimator in one pipeline.

    Parameters
    ----------
    name : {"xgb-binary", "xgb-cox", "xgb-aft", "coxph", "fg"}
        The model (see :data:`MODEL_NAMES`); ``fg`` is the Fine-Gray model
        (:class:`FineGrayRisk`, a competing-risk model in either mode).
    horizon : float, default 1826.0
        Default prediction horizon in days (the training horizon of ``xgb-binary``).
    random_state : int, default 0
        Seed of the xgboost models (``coxph`` is deterministic and ignores it).
    categorical, numeric : list of str, optional
        Column roles for :class:`ModalityPreprocessor` (inferred from dtypes when None).
    radiomics : list of str, optional
        The columns the radiomics selection steps act on (default: every column).
    icc_keep : list of str, optional
        Features that passed the ICC filter: adds :class:`ICCFilter` (step ``icc``).
    correlation_threshold : float, optional
        Adds :class:`CorrelationPruner` (step ``prune``).
    screen_k, screen_p : int or float, optional
        Adds :class:`UnivariableScreen` (step ``screen``).
    harmonise : sequence of str, optional
        Batch variables (``["vendor", "kernel"]``): adds :class:`ComBatHarmoniser` as the
        first step (``harmonise``), which reads the ``batch:<name>`` columns of ``X``,
        harmonises ``harmonise_columns`` (default: the radiomic feature columns) with
        ``harmonise_covariates`` preserved, and drops the batch columns.
    harmonise_columns, harmonise_covariates : list of str, optional
        See :class:`ComBatHarmoniser` (``columns``, ``covariates``).
    competing_risks : bool, default False
        The competing-risk version of the model kind, whose ``predict_risk`` is
        the cumulative incidence of MACE: ``coxph`` ->
        :class:`CauseSpecificCoxRisk`, ``xgb-cox`` -> :class:`CauseSpecificXGBCoxRisk`
        (a cause-specific model per cause, combined), ``xgb-aft`` ->
        :class:`CauseSpecificXGBAFTRisk` (a cause-specific AFT booster per cause, the
        cumulative incidence by numerical integration), ``xgb-binary`` ->
        :class:`CompetingXGBBinaryRisk` (competing events before the horizon are controls,
        competing-risk IPCW weights), ``fg`` -> :class:`FineGrayRisk`.
        Such a model needs ``y`` with ``event_type`` (:func:`make_y`);
        :func:`estimand` says what it predicts.
    **params
        Parameters of the final estimator, e.g. ``n_estimators``,
        ``max_depth``, ``learning_rate``, ``nthread`` (xgboost models),
        ``distribution``, ``sigma`` (``xgb-aft``), ``penalizer``, ``l1_ratio``
        (``coxph``).

    Returns
    -------
    RiskPipeline
        Steps ``icc``, ``preprocess``, ``prune``, ``screen`` (``"passthrough"``
        when not requested; ``set_params`` can switch them on) and ``model``.
        Preprocessing is fitted in ``fit``, hence within training folds only.
        xgboost models keep NaN (native missing values); ``coxph`` gets
        reference-coded dummies, standardised continuous columns, median
        imputation and an availability indicator per missingness pattern.

    Raises
    ------
    ModelError
        For an unknown model name or parameter (listing the valid ones).

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.models import make_model, make_y
    >>> c = simulate_cohort(400, seed=1)
    >>> X = c.patients[["age_years", "sex", "diabetes", "smoking"]].join(c.scans[["cac_agatston"]])
    >>> y = make_y(c.outcomes["fu_days"], c.outcomes["mi"])
    >>> est = make_model("xgb-cox", horizon=1826.0, n_estimators=30, nthread=1).fit(X, y)
    >>> risk = est.predict_risk(X)
    >>> bool((risk >= 0).all() and (risk <= 1).all())
    True

    Competing risks (non-cardiac death as ``event_type`` 2): the cumulative incidence.

    >>> import numpy as np
    >>> status = np.where(c.outcomes["mi"] == 1, 1, np.where(np.arange(400) % 7 == 0, 2, 0))
    >>> ycr = make_y(c.outcomes["fu_days"], None, event_type=status)
    >>> cs = make_model("coxph", competing_risks=True).fit(X, ycr)
    >>> type(cs.steps[-1][1]).__name__, cs.steps[-1][1].estimand_[:28]
    ('CauseSpecificCoxRisk', 'cumulative incidence of MACE')
    """
    if name not in ESTIMATORS:
        raise ModelError(f"unknown model {name!r}; choose one of {list(MODEL_NAMES)}")
    cls = CR_ESTIMATORS[name] if competing_risks else ESTIMATORS[name]
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ModelError(f"unknown parameter(s) {unknown} for {name!r}; valid: {valid} and "
                         f"{list(_PIPELINE_KEYS)}")
    if "random_state" in valid:
        params["random_state"] = random_state
    est = cls(horizon=horizon, **params)
    est._check_params()
    steps = [
        ("icc", ICCFilter(icc_keep, columns=radiomics) if icc_keep is not None else "passthrough"),
        ("preprocess", make_preprocessor(name, categorical=categorical, numeric=numeric)),
        ("prune", CorrelationPruner(correlation_threshold, columns=radiomics)
         if correlation_threshold is not None else "passthrough"),
        ("screen", UnivariableScreen(screen_k, p=screen_p, columns=radiomics)
         if screen_k is not None or screen_p is not None else "passthrough"),
        ("model", est),
    ]
    if harmonise is not None:  # only when asked: the default pipeline's steps stay as they were
        steps.insert(0, ("harmonise", ComBatHarmoniser(harmonise, columns=harmonise_columns,
                                                       covariates=harmonise_covariates)))
    return RiskPipeline(steps)
