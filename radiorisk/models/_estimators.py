"""The model registry, :func:`make_model` and :class:`RiskPipeline`."""

from __future__ import annotations

import inspect

import numpy as np
from sklearn.pipeline import Pipeline

from ._base import DEFAULT_HORIZON, ModelError
from ._cox import CoxPHRisk
from ._preprocess import CorrelationPruner, ICCFilter, UnivariableScreen, make_preprocessor
from ._xgb import XGBAFTRisk, XGBBinaryRisk, XGBCoxRisk

__all__ = ["MODEL_NAMES", "ESTIMATORS", "make_model", "RiskPipeline", "model_name"]

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


class RiskPipeline(Pipeline):
    """A scikit-learn :class:`~sklearn.pipeline.Pipeline` ending in a risk estimator.

    Adds :meth:`predict_risk`, :meth:`predict_survival_function` and
    :meth:`save` to the standard pipeline (``get_params``/``set_params``,
    :func:`sklearn.base.clone`, ``predict`` = risk at the default horizon,
    ``score`` = Harrell's C all work as usual).  Built by :func:`make_model`.

    Sample weights: ``fit(X, y, sample_weight=w)`` is accepted and is the
    same as ``fit(X, y, model__sample_weight=w)``; the weights reach the
    final estimator only (preprocessing statistics are unweighted).

    Examples
    --------
    >>> from radiorisk.models import make_model
    >>> est = make_model("coxph", horizon=365.0)
    >>> [name for name, _ in est.steps]
    ['icc', 'preprocess', 'prune', 'screen', 'model']
    """

    def fit(self, X, y=None, sample_weight=None, **params):
        """Fit every step on ``X``, then the final estimator (see the class notes on weights)."""
        if sample_weight is not None:
            key = f"{self.steps[-1][0]}__sample_weight"
            if key in params:
                raise ModelError(f"pass sample_weight or {key}, not both")
            params[key] = sample_weight
        return super().fit(X, y, **params)

    def _transform_head(self, X):
        Xt = X
        for _, step in self.steps[:-1]:
            if step is None or (isinstance(step, str) and step == "passthrough"):
                continue
            Xt = step.transform(Xt)
        return Xt

    def predict_risk(self, X, horizon=None) -> np.ndarray:
        """Probability of MACE by ``horizon`` (days; default: the horizon given to ``make_model``).

        Parameters
        ----------
        X : DataFrame
            The columns seen in ``fit`` (extra columns are ignored).
        horizon : float, optional

        Returns
        -------
        ndarray of shape (n,)
            Risks in [0, 1].
        """
        return self.steps[-1][1].predict_risk(self._transform_head(X), horizon=horizon)

    def predict_survival_function(self, X, *, times) -> np.ndarray:
        """Survival probabilities, shape (n_samples, n_times) (not for ``xgb-binary``)."""
        final = self.steps[-1][1]
        if not hasattr(final, "predict_survival_function"):
            raise ModelError(f"{model_name(final)} has no survival function (it predicts only at "
                             "its training horizon)")
        return final.predict_survival_function(self._transform_head(X), times=times)

    @property
    def horizon(self) -> float:
        """The default prediction horizon (days) of the final estimator."""
        return float(self.steps[-1][1].horizon)

    def save(self, path, *, overwrite: bool = False):
        """Write the fitted pipeline as a bundle folder (no pickle); see :func:`save_model`."""
        from ._persist import save_model

        return save_model(self, path, overwrite=overwrite)


_PIPELINE_KEYS = ("categorical", "numeric", "radiomics", "icc_keep", "correlation_threshold",
                  "screen_k", "screen_p")


def make_model(name: str, *, horizon: float = DEFAULT_HORIZON, random_state: int = 0,
               categorical=None, numeric=None, radiomics=None, icc_keep=None,
               correlation_threshold=None, screen_k=None, screen_p=None, **params) -> RiskPipeline:
    """Build an unfitted risk model: preprocessing steps and the estimator in one pipeline.

    Parameters
    ----------
    name : {"xgb-binary", "xgb-cox", "xgb-aft", "coxph"}
        The model (see :data:`MODEL_NAMES`).
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
    """
    if name not in ESTIMATORS:
        raise ModelError(f"unknown model {name!r}; choose one of {list(MODEL_NAMES)}")
    cls = ESTIMATORS[name]
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
    return RiskPipeline(steps)
