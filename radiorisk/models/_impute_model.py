"""The multiply imputed Cox model: its pipeline, its picklable factory and the ``impute`` option.

``make_mi_model(M)`` is ``make_model("coxph")`` with two changes: the
preprocessing keeps numeric NaN (``make_preprocessor(..., missing="mice")``:
reference-coded dummies, standardised continuous columns, no median and no
indicator) and the estimator is ``CoxPHRisk(n_imputations=M)``, which imputes
inside its own ``fit`` — hence inside each training fold of a
cross-validation — and averages the M fits' risks when predicting.
:class:`MIModel` builds such pipelines for the validation protocol
(``cross_validate_risk``, ``modality_ladder``, ``fit_final_model`` accept a
factory) under the model name ``coxph``.
"""

from __future__ import annotations

from ._base import DEFAULT_HORIZON, ModelError
from ._estimators import make_model
from ._persist import RiskPipeline
from ._preprocess import make_preprocessor

__all__ = ["make_mi_model", "MIModel", "parse_impute", "IMPUTE_DEFAULT"]

#: The default missing-data handling of ``coxph`` (``radiorisk fit --impute``).
IMPUTE_DEFAULT = "median"
_DEFAULT_M = 5


def parse_impute(spec) -> int | None:
    """The number of imputations of an ``impute`` option: ``"median"`` -> None, ``"mice:M"`` -> M.

    ``"mice"`` alone means 5 imputations.

    Examples
    --------
    >>> parse_impute("median") is None, parse_impute("mice:10"), parse_impute("mice")
    (True, 10, 5)
    >>> parse_impute("mice:1")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.ModelError: impute='mice:1': the number of imputations M must be an integer >= 2 (e.g. mice:5)
    """
    if spec is None or spec == IMPUTE_DEFAULT:
        return None
    if not isinstance(spec, str) or not (spec == "mice" or spec.startswith("mice:")):
        raise ModelError(f"impute={spec!r} is not 'median' or 'mice:M' (M imputations, e.g. mice:5)")
    if spec == "mice":
        return _DEFAULT_M
    text = spec.partition(":")[2]
    if not text.isdigit() or int(text) < 2:
        raise ModelError(f"impute={spec!r}: the number of imputations M must be an integer >= 2 "
                         "(e.g. mice:5)")
    return int(text)


def make_mi_model(n_imputations: int = _DEFAULT_M, *, horizon: float = DEFAULT_HORIZON,
                  random_state: int = 0, categorical=None, numeric=None, **params) -> RiskPipeline:
    """An unfitted multiply imputed Cox pipeline (``coxph`` with ``n_imputations`` imputations).

    Parameters
    ----------
    n_imputations : int, default 5
        M >= 2.
    horizon, random_state, categorical, numeric, **params
        As :func:`~radiorisk.models.make_model` (``impute_delta``,
        ``delta_columns``, ``impute_max_iter`` and ``penalizer`` reach
        :class:`~radiorisk.models.CoxPHRisk`).

    Returns
    -------
    RiskPipeline

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.models import make_y
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"age": rng.normal(60, 8, 300), "tbr": rng.normal(1.5, 0.3, 300)})
    >>> X.loc[rng.random(300) < 0.4, "tbr"] = np.nan
    >>> y = make_y(rng.exponential(900 / np.exp(0.03 * (X["age"] - 60))) + 1, rng.random(300) < 0.7)
    >>> est = make_mi_model(3, horizon=365.0).fit(X, y)
    >>> est.steps[-1][1].pooled_["m"].tolist()
    [3, 3]
    >>> bool(np.isfinite(est.predict_risk(X)).all())
    True
    """
    est = make_model("coxph", horizon=horizon, random_state=random_state, categorical=categorical,
                     numeric=numeric, n_imputations=n_imputations, **params)
    return est.set_params(preprocess=make_preprocessor("coxph", categorical=categorical,
                                                       numeric=numeric, missing="mice"))


class MIModel:
    """Picklable factory ``f(random_state=, **params)`` of :func:`make_mi_model` pipelines.

    Its ``name`` (and ``__name__``) is ``"coxph"``, the model label of the
    validation results.

    Examples
    --------
    >>> f = MIModel(5, horizon=1826.0)
    >>> f.name, f(random_state=3).steps[-1][1].n_imputations
    ('coxph', 5)
    """

    def __init__(self, n_imputations: int = _DEFAULT_M, *, horizon: float = DEFAULT_HORIZON, **fixed):
        self.n_imputations, self.horizon, self.fixed = n_imputations, float(horizon), dict(fixed)
        self.name = self.__name__ = "coxph"

    def __call__(self, random_state: int = 0, **params) -> RiskPipeline:
        return make_mi_model(self.n_imputations, horizon=self.horizon, random_state=random_state,
                             **{**self.fixed, **params})
