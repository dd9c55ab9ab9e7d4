"""``fit --harmonise vendor,kernel``: ComBat harmonisation of the radiomic features inside the folds.

:func:`harmonise_setup` adds the batch columns to the assembled cohort
(:func:`radiorisk.features.add_batch_columns`) and the harmoniser to the model parameters
(``make_model(harmonise=..., harmonise_covariates=...)``), so every fold, rung and the final model
fit ComBat on their own training rows (:class:`radiorisk.models.ComBatHarmoniser`); the bundle
keeps the fitted harmoniser, and ``radiorisk predict`` refuses a scanner batch it has not seen.
"""

from __future__ import annotations

from ..exceptions import FitUsageError, ModelError
from ..features import BATCH_PREFIX, add_batch_columns, parse_batch
from ..models import MIModel, check_batches, default_harmonised

__all__ = ["harmonise_setup", "harmonise_configuration", "with_model_batches", "check_predict_batches"]


def harmonise_setup(cohort, data, blocks, harmonise, covariates, params, model):
    """``(data, params, note)`` with the batch columns and the harmoniser; unchanged without ``harmonise``.

    Examples
    --------
    >>> harmonise_setup(None, "data", ["clinical"], None, None, {"penalizer": 0.1}, "coxph")
    ('data', {'penalizer': 0.1}, None)
    """
    if harmonise is None:
        if covariates:
            raise FitUsageError("harmonise_covariates needs harmonise (the batch variables)")
        return data, params, None
    try:
        names = parse_batch(harmonise)
    except ValueError as exc:
        raise FitUsageError(f"harmonise: {exc}") from exc
    if "radiomics" not in blocks:
        raise FitUsageError("harmonise: the radiomics block is not among the blocks (ComBat harmonises the "
                            "radiomic features)")
    if isinstance(model, MIModel):
        raise FitUsageError("harmonise: not available with impute='mice:M' (use the default impute='median')")
    params = dict(params or {})
    clash = [k for k in ("harmonise", "harmonise_columns", "harmonise_covariates") if k in params]
    if clash:
        raise FitUsageError(f"harmonise: params already set {clash[0]!r}; give one or the other")
    cov = [] if covariates is None else list(parse_batch(covariates))
    unknown = [c for c in cov if c not in data.columns(blocks)]
    if unknown:
        raise FitUsageError(f"harmonise_covariates: {unknown} are not columns of the blocks {list(blocks)} "
                            "(the covariates must be model inputs, e.g. age_years, sex_male of the clinical block)")
    try:
        data = add_batch_columns(data, cohort, names)
    except ValueError as exc:
        raise FitUsageError(f"harmonise: {exc}") from exc
    labels = data.X[list(data.batch_columns)].astype(str).agg("/".join, axis=1)
    counts = labels.value_counts().sort_index()
    cols = default_harmonised(data.columns("radiomics"))
    params.update(harmonise=list(names), harmonise_covariates=cov or None)
    note = (f"ComBat harmonisation (empirical Bayes, Johnson et al. 2007) of the {len(cols)} radiomic feature "
            f"columns by {'/'.join(names)}: {len(counts)} batches in the cohort ("
            + ", ".join(f"{b} {k}" for b, k in counts.items())
            + f" patients); covariates preserved: {', '.join(cov) or 'none'}; fitted inside each training fold "
            "and applied to its held-out fold, refitted on all patients for the final model, applied to new "
            "cohorts by radiorisk predict (an unseen batch is refused)")
    return data, params, note


def harmonise_configuration(params) -> dict:
    """The provenance's ``configuration.harmonise`` (``{}`` without harmonisation: default runs unchanged).

    Examples
    --------
    >>> harmonise_configuration({"harmonise": ["vendor"], "harmonise_covariates": None})
    {'harmonise': {'batch': ['vendor'], 'covariates': []}}
    >>> harmonise_configuration(None)
    {}
    """
    if not params or "harmonise" not in params:
        return {}
    return {"harmonise": {"batch": list(params["harmonise"]), "covariates": list(params.get("harmonise_covariates") or [])}}


def with_model_batches(cohort, data, model_columns, data_dir):
    """``data`` with the batch columns a harmonised model reads (``batch:<name>`` among its inputs).

    Examples
    --------
    >>> with_model_batches(None, "data", ["age_years"], "cohort")
    'data'
    """
    names = [c[len(BATCH_PREFIX):] for c in model_columns if str(c).startswith(BATCH_PREFIX)]
    if not names:
        return data
    try:
        return add_batch_columns(data, cohort, names)
    except ValueError as exc:
        raise ModelError(f"data_dir {data_dir}: the model harmonises by {'/'.join(names)}: {exc}") from exc


def check_predict_batches(est, X, data_dir) -> str | None:
    """Refuse patients from a batch the model's harmoniser has not seen; the statement of the harmonisation.

    Examples
    --------
    >>> check_predict_batches(None, None, "cohort") is None
    True
    """
    try:
        what = check_batches(est, X)
    except ModelError as exc:
        raise ModelError(f"data_dir {data_dir}: {exc}") from exc
    return None if what is None else f"the model's harmonisation, applied to this cohort: {what}"
