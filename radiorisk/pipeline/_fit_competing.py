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

from ..exceptions import FitUsageError
from ..models import estimand, make_model
from ._fit_options import check_competing_model, competing_statement

__all__ = ["outcome_mode", "competing_params", "statement", "oof_columns", "MI_STATEMENT"]


def outcome_mode(assemble, request, model: str, optimism_boot: int = 0) -> tuple[object, bool, int]:
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
    optimism_boot : int
        The optimism-corrected bootstrap (censoring estimands only: refused in that mode).

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
        if optimism_boot:
            raise FitUsageError(
                f"optimism_boot {optimism_boot}: the optimism-corrected bootstrap has no competing-risk "
                f"version yet, and this fit treats the {n_competing} non-cardiac death(s) as competing events"
                f"{' (the default)' if request is None else ''}; use competing_risks=False (non-cardiac "
                "death censored) or leave optimism_boot at 0")
        return data, True, n_competing
    return assemble("censor"), False, n_competing


#: The statement of a multiply imputed fit in competing-risk mode (``impute="mice:M"``, cause-specific Cox).
MI_STATEMENT = ("multiple imputation under competing risks: the imputation model's outcome terms are the MACE "
                "indicator and the Nelson-Aalen cumulative hazard of MACE (competing deaths censored there); each "
                "completed data set gets its cause-specific Cox pair, the cumulative incidences are averaged "
                "over the M fits (pooled CIF) and the MACE model's coefficients pooled by Rubin's rules")


def competing_params(params: dict | None, mode: bool, model: str = "") -> tuple[dict, str | None]:
    """The model parameters of the fit in competing-risk mode (``competing_risks=True``), and a statement.

    With the default ``coxph`` strategy (clinical columns unpenalised, ridge by inner CV) the
    competing-event model, a nuisance model often with few events, has every column penalised
    (``competing_unpenalized=[]``): unpenalised binary predictors would separate among a few deaths.

    Examples
    --------
    >>> competing_params({"penalizer": 0.1}, True)
    ({'penalizer': 0.1, 'competing_risks': True}, None)
    >>> competing_params({"penalizer": "cv", "unpenalized": ["age_years"]}, True, "coxph")[0]["competing_unpenalized"]
    []
    >>> competing_params(None, False)
    ({}, None)
    """
    out = dict(params or {})
    if not mode:
        return out, None
    out["competing_risks"] = True
    if model == "coxph" and out.get("penalizer") == "cv" and out.get("unpenalized"):
        out.setdefault("competing_unpenalized", [])
        return out, ("coxph under competing risks: the competing-event model (cause-specific Cox of the "
                     "competing death, a nuisance model) has every column ridge-penalised, the strength "
                     "chosen by inner cross-validation; the MACE model keeps the clinical predictors "
                     "unpenalised")
    return out, None


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
