"""The option checks of :func:`radiorisk.pipeline.run_fit`: model, blocks, horizon and the CV design."""

from __future__ import annotations

from ..exceptions import FitUsageError
from ..features import MODALITY_BLOCKS
from ..models import MODEL_NAMES
from ..stats import check_horizon

__all__ = ["check_options"]


def _parse_blocks(blocks) -> list[str]:
    if isinstance(blocks, str):
        blocks = [b.strip() for b in blocks.split(",") if b.strip()]
    unknown = [b for b in blocks if b not in MODALITY_BLOCKS]
    if unknown:
        raise FitUsageError(f"blocks: unknown block(s) {unknown}; choose from {list(MODALITY_BLOCKS)}")
    if not blocks:
        raise FitUsageError("blocks: give at least one block, e.g. clinical,ccta")
    return [b for b in MODALITY_BLOCKS if b in blocks]


def _cv_design(repeats, folds, cv_by) -> tuple[int | None, int | None]:
    """Repeats and folds: 5 x 5 by default; with ``cv_by`` one pass, one fold per cluster."""
    if cv_by is None:
        return (5 if repeats is None else repeats), (5 if folds is None else folds)
    if not isinstance(cv_by, str) or not cv_by.strip():
        raise FitUsageError(f"cv_by must be a column name such as site or vendor; got {cv_by!r}")
    if repeats not in (None, 1):
        raise FitUsageError(f"repeats must be 1 or unset with cv_by (leave-one-{cv_by}-out cross-"
                            f"validation is one pass); got {repeats}")
    if folds is not None:
        raise FitUsageError(f"folds must be unset with cv_by (one fold per {cv_by}); got {folds}")
    return 1, None


def check_options(model, blocks, horizon, *, repeats, folds, n_jobs, n_boot, search_budget, cv_by=None):
    """The checked ``(blocks, horizon, repeats, folds)`` of a fit; a :class:`FitUsageError` names the parameter.

    Examples
    --------
    >>> check_options("coxph", "ccta,clinical", 1826, repeats=None, folds=None, n_jobs=1, n_boot=0,
    ...               search_budget=None)
    (['clinical', 'ccta'], 1826.0, 5, 5)
    """
    if model not in MODEL_NAMES:
        raise FitUsageError(f"model {model!r}: choose from {list(MODEL_NAMES)}")
    blocks = _parse_blocks(blocks)
    horizon = check_horizon(horizon, name="horizon")
    repeats, folds = _cv_design(repeats, folds, cv_by)
    for name, value, low in (("repeats", repeats, 1), ("folds", folds, 2), ("n_jobs", n_jobs, 1),
                             ("n_boot", n_boot, 0)):
        if value is not None and value < low:
            raise FitUsageError(f"{name} must be >= {low}; got {value}")
    if search_budget is not None and not search_budget > 0:
        raise FitUsageError(f"search_budget must be > 0 seconds; got {search_budget}")
    return blocks, horizon, repeats, folds
