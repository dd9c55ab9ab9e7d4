"""Competing risks in :func:`radiorisk.pipeline.run_fit`: which outcome a fit targets, and its statement.

Non-cardiac death (and cardiac death when it is not a MACE component) is a
competing event by default whenever the cohort records one: the cohort is
assembled with ``event_type`` (0 censored, 1 MACE, 2 competing death), the model
kind's competing-risk version is fitted (``make_model(..., competing_risks=True)``:
cause-specific Cox / xgb-cox, the competing-risk xgb-binary, Fine-Gray) and every
out-of-fold metric is a competing-risk one.  ``competing_risks=False``
(``fit --censor-competing``) keeps the censoring of those deaths; a cohort without
competing deaths is fitted as before, whatever the option.
"""

from __future__ import annotations

from ..models import estimand, make_model
from ._fit_options import check_competing_model, competing_statement

__all__ = ["outcome_mode", "competing_params", "statement", "oof_columns"]


def outcome_mode(assemble, request, model: str) -> tuple[object, bool, int]:
    """The assembled cohort, whether the fit is in competing-risk mode, and the competing deaths counted.

    Parameters
    ----------
    assemble : callable
        ``assemble(competing)`` -> :class:`~radiorisk.features.CohortData` (``competing`` is
        ``"competing"`` or ``"censor"``, as :func:`radiorisk.features.assemble_cohort`).
    request : bool or None
        :func:`~radiorisk.pipeline._fit_options.competing_request`: True, False or None (the default).
    model : str
        The model kind (a kind without a competing-risk version is refused in that mode).

    Returns
    -------
    data, mode, n_competing

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> c = simulate_cohort(300, mode="established-cad", seed=1)
    >>> data, mode, k = outcome_mode(lambda comp: assemble_cohort(c, competing=comp), None, "coxph")
    >>> mode, k > 0, data.competing
    (True, True, 'competing')
    >>> data, mode, _ = outcome_mode(lambda comp: assemble_cohort(c, competing=comp), False, "coxph")
    >>> mode, data.event_type is None
    (False, True)
    """
    data = assemble("competing")
    n_competing = int((data.event_type == 2).sum())
    mode = bool(n_competing) and request is not False
    if mode:
        if request is None:
            check_competing_model(model, explicit=False, n_competing=n_competing)
        return data, True, n_competing
    return assemble("censor"), False, n_competing


def competing_params(params: dict | None, mode: bool) -> dict:
    """The model parameters of the fit: ``competing_risks=True`` added in competing-risk mode.

    Examples
    --------
    >>> competing_params({"penalizer": 0.1}, True)
    {'penalizer': 0.1, 'competing_risks': True}
    >>> competing_params(None, False)
    {}
    """
    out = dict(params or {})
    if mode:
        out["competing_risks"] = True
    return out


def statement(model: str, mode: bool, *, request, n_competing: int, horizon: float) -> str:
    """The run's sentence on competing risks (see :func:`competing_statement`), with the model's estimand.

    Examples
    --------
    >>> statement("coxph", True, request=None, n_competing=4, horizon=1826.0)[:40]
    'competing risks: non-cardiac death treat'
    """
    words = estimand(make_model(model, competing_risks=mode)) if mode else ""
    return competing_statement(mode, requested=request, n_competing=n_competing, horizon=horizon,
                               estimand=words)


def oof_columns(columns: list[str], mode: bool) -> list[str]:
    """The columns of ``oof_predictions.csv``: ``event_type`` (0/1/2) after ``event`` in competing-risk mode.

    Examples
    --------
    >>> oof_columns(["patient_id", "risk", "time", "event", "sex"], True)
    ['patient_id', 'risk', 'time', 'event', 'event_type', 'sex']
    """
    if not mode:
        return list(columns)
    i = columns.index("event") + 1
    return [*columns[:i], "event_type", *columns[i:]]
