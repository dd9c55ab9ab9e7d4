"""Model factories of the validation protocol: ``factory(random_state, params) -> unfitted estimator``.

A cross-validation builds a fresh estimator for every (repeat, fold) task and
search candidate, with the task's seed.  :func:`task_factory` turns what the
caller gave (a model name, an unfitted estimator or a callable) into such a
factory; every factory is picklable, for joblib workers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sklearn.base import clone

from ._estimators import make_model
from ._registry import MODEL_NAMES

__all__ = ["model_label", "task_factory"]


def model_label(model) -> str:
    """The name of ``model`` in results: the model name, or the factory's or class's name."""
    if isinstance(model, str):
        return model
    return getattr(model, "name", None) or getattr(model, "__name__", None) or type(model).__name__


def _factory(model, horizon: float) -> Callable:
    """``factory(random_state, params) -> unfitted estimator``."""
    if isinstance(model, str):
        if model not in MODEL_NAMES:
            raise ValueError(f"model {model!r} is not one of {list(MODEL_NAMES)}")
        return _NamedFactory(model, float(horizon))
    if hasattr(model, "get_params") and hasattr(model, "fit"):
        return _EstimatorFactory(model)
    if callable(model):
        return _CallableFactory(model)
    raise TypeError(
        "model must be a model name, an unfitted estimator (e.g. make_model(...)) or a callable factory; "
        f"got {type(model).__name__}"
    )


class _NamedFactory:
    """Picklable ``make_model`` wrapper (for joblib workers)."""

    def __init__(self, name: str, horizon: float):
        self.name, self.horizon = name, horizon

    def __call__(self, random_state: int, params: Mapping) -> object:
        params = dict(params)
        if self.name.startswith("xgb") and "nthread" not in params:
            params["nthread"] = 1  # one thread per task: parallelism is over tasks (n_jobs)
        return make_model(self.name, horizon=self.horizon, random_state=random_state, **params)


class _EstimatorFactory:
    """Clones an estimator (e.g. ``make_model(...)``) for each task, with the task's seed and parameters."""

    def __init__(self, estimator):
        self.estimator = estimator

    def __call__(self, random_state: int, params: Mapping) -> object:
        est = clone(self.estimator)
        names = est.get_params(deep=True)
        update = {}
        for key in ("random_state", "model__random_state"):
            if key in names:
                update[key] = random_state
        for key, value in dict(params).items():
            if key in names:
                update[key] = value
            elif f"model__{key}" in names:
                update[f"model__{key}"] = value
            else:
                raise ValueError(f"parameter {key!r} is not a parameter of {type(est).__name__}")
        return est.set_params(**update)


class _CallableFactory:
    """Calls ``fn(random_state=..., **params)`` for each task."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, random_state: int, params: Mapping) -> object:
        return self.fn(random_state=random_state, **dict(params))


class _Fixed:
    """A factory with fixed parameters under the searched ones."""

    def __init__(self, factory, fixed):
        self.factory, self.fixed = factory, fixed

    def __call__(self, random_state, params):
        return self.factory(random_state, {**self.fixed, **dict(params)})


def task_factory(model, horizon: float, params: Mapping | None) -> Callable:
    """The factory of ``model`` (see :func:`_factory`), with the fixed ``params`` under the searched ones."""
    factory = _factory(model, horizon)
    if params:
        factory = _Fixed(factory, dict(params))
    return factory
