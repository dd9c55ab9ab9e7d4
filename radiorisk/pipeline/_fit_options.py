"""The option checks of :func:`radiorisk.pipeline.run_fit`: model, blocks, horizon, the CV design and competing risks."""

from __future__ import annotations

from ..exceptions import FitUsageError
from ..features import MODALITY_BLOCKS
from ..models import CR_ESTIMATORS, MODEL_NAMES
from ..stats import check_horizon

__all__ = ["check_options", "competing_request", "competing_statement"]


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


def competing_request(competing_risks, competing, model: str) -> bool | None:
    """The requested handling of non-cardiac death: True (competing event), False (censored) or None (default).

    ``competing_risks`` is :func:`~radiorisk.pipeline.run_fit`'s option (``fit --competing-risks`` /
    ``--censor-competing``); ``competing`` (``"competing"`` / ``"censor"``) its older spelling.  An
    explicit request for competing risks with a model kind that has no competing-risk version is a
    :class:`FitUsageError` that names the way out.

    Examples
    --------
    >>> competing_request(None, None, "coxph") is None, competing_request(None, "censor", "coxph")
    (True, False)
    >>> competing_request(True, "censor", "coxph")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.FitUsageError: competing_risks=True and competing='censor' contradict each other; give one of them
    """
    if competing_risks is not None and not isinstance(competing_risks, bool):
        raise FitUsageError(f"competing_risks must be True, False or None (the default); got {competing_risks!r}")
    if competing is not None and competing not in ("censor", "competing"):
        raise FitUsageError(f"competing must be 'censor' or 'competing'; got {competing!r}")
    old = None if competing is None else competing == "competing"
    if competing_risks is not None and old is not None and competing_risks != old:
        raise FitUsageError(f"competing_risks={competing_risks} and competing={competing!r} contradict each "
                            "other; give one of them")
    request = competing_risks if competing_risks is not None else old
    if request:
        check_competing_model(model, explicit=True)
    return request


def check_competing_model(model: str, *, explicit: bool, n_competing: int = 0) -> None:
    """Refuse a model kind without a competing-risk version in competing-risk mode (naming the way out).

    Every kind of :data:`radiorisk.models.MODEL_NAMES` has one today; a kind added without one is
    refused here rather than fitted with competing deaths censored.

    Examples
    --------
    >>> check_competing_model("xgb-aft", explicit=True)
    >>> check_competing_model("svm", explicit=False, n_competing=3)
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.FitUsageError: model 'svm' has no competing-risk version, and competing risks are the default because the cohort records 3 non-cardiac death(s) (competing events); fit it with non-cardiac death censored (competing_risks=False: the cause-specific estimand, 1 - survival from MACE), or choose one of ['coxph', 'xgb-cox', 'xgb-aft', 'xgb-binary', 'fg']
    """
    if model in CR_ESTIMATORS:
        return
    why = ("competing risks were requested" if explicit else
           "competing risks are the default because the cohort records "
           f"{n_competing} non-cardiac death(s) (competing events)")
    raise FitUsageError(f"model {model!r} has no competing-risk version, and {why}; fit it with non-cardiac "
                        "death censored (competing_risks=False: the cause-specific estimand, 1 - survival "
                        f"from MACE), or choose one of {list(CR_ESTIMATORS)}")


def competing_statement(mode: bool, *, requested, n_competing: int, horizon: float, estimand: str) -> str:
    """The run's statement of how non-cardiac death was handled and what the risks estimate.

    ``mode``: competing-risk mode; ``requested``: the option as given (None: the default);
    ``n_competing``: patients whose first event is a competing death; ``estimand``: the model's own
    words (:func:`radiorisk.models.estimand`).

    Examples
    --------
    >>> competing_statement(True, requested=None, n_competing=12, horizon=1826,
    ...                     estimand="cumulative incidence of MACE")[:77]
    'competing risks: non-cardiac death treated as a competing event; the estimand'
    """
    if mode:
        why = ("the default, because the cohort records non-cardiac death" if requested is None
               else "as requested")
        words = estimand if estimand.startswith("cumulative incidence of MACE") else \
            f"cumulative incidence of MACE ({estimand})"
        return (f"competing risks: non-cardiac death treated as a competing event; the estimand is the "
                f"{words}, by {horizon:g} days; {n_competing} patient(s) "
                f"had a competing death first ({why}; competing_risks=False censors them instead). The "
                "out-of-fold metrics are the competing-risk ones: c_cr (Wolbers' truncated C), auc_cr, "
                "brier_cr, oe_ratio_cr and calibration against the Aalen-Johansen observed risk")
    if requested:
        return ("competing risks were requested, but the cohort records no competing death: the "
                "cumulative incidence of MACE equals 1 - survival from MACE, and the fit is the usual one")
    if n_competing:
        return (f"non-cardiac death censored (competing_risks=False): {n_competing} patient(s) with a "
                "competing death first are censored at it; the estimand is 1 - survival from MACE "
                "(cause-specific; the risk in a world without competing death, which exceeds the "
                "cumulative incidence) and the metrics censor competing deaths too")
    return ("non-cardiac death censored (competing_risks=False): the estimand is 1 - survival from MACE "
            "(cause-specific), and the metrics censor competing deaths too")
