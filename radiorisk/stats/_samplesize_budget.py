"""How many candidate predictor parameters the data support (Riley criteria 1 and 2, inverted).

Criteria 1 (shrinkage) and 2 (optimism in Nagelkerke's R²) of
:mod:`radiorisk.stats._samplesize` grow with the number of candidate parameters P;
given the patients n and events E available, :func:`max_parameters` finds the
largest P meeting both, and :func:`parameter_budget_table` sets each rung of a
modality ladder (clinical ~10, +CCTA ~30, +radiomics 1,130+ parameters) against it.
``events / n`` is the outcome proportion (binary) or the events per person, rate x
mean follow-up (time to event), which is all max R²_CS needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ..exceptions import SampleSizeError
from ._samplesize import (
    CRITERIA,
    _check_targets,
    _n_for,
    _shrinkage_factor,
    expected_shrinkage,
)
from ._samplesize_r2 import _max_r2_from_phi, check_parameters, check_positive

__all__ = ["ParameterBudget", "max_parameters", "parameter_budget_table"]


@dataclass(frozen=True)
class ParameterBudget:
    """How many candidate parameters n patients with E events can support (criteria 1, 2).

    Attributes
    ----------
    outcome : str
        ``"binary"`` or ``"survival"``.
    n : int
        Patients available.
    events : float
        Events among them.
    max_parameters : int
        The largest P that meets both criteria (0 when not even one parameter does).
    by_shrinkage, by_r2_optimism : int
        The largest P for each criterion alone.
    binding : str
        The criterion that sets ``max_parameters`` (``"shrinkage"`` on a tie).
    r2_cs, max_r2_cs : float
        The anticipated Cox-Snell R² and its maximum given events / n.
    shrinkage_target, r2_difference : float
        S and delta.
    shrinkage_r2_optimism : float
        The shrinkage criterion 2 targets.
    """

    outcome: str
    n: int
    events: float
    max_parameters: int
    by_shrinkage: int
    by_r2_optimism: int
    binding: str
    r2_cs: float
    max_r2_cs: float
    shrinkage_target: float
    r2_difference: float
    shrinkage_r2_optimism: float

    def to_frame(self) -> pd.DataFrame:
        """One row per criterion: criterion, max_parameters, shrinkage, binding."""
        return pd.DataFrame({
            "criterion": list(CRITERIA[:2]),
            "max_parameters": [self.by_shrinkage, self.by_r2_optimism],
            "shrinkage": [self.shrinkage_target, self.shrinkage_r2_optimism],
            "binding": [self.binding == c for c in CRITERIA[:2]],
        })

    def __repr__(self) -> str:
        return (f"ParameterBudget({self.outcome}: max_parameters={self.max_parameters}, "
                f"binding={self.binding!r}; n={self.n}, events={self.events:.1f}, "
                f"R2_CS={self.r2_cs:.4g})")


def _largest_p(n: int, s: float, r2: float) -> int:
    p = math.floor(n * _shrinkage_factor(s, r2))
    while p >= 1 and _n_for(p, s, r2) > n:
        p -= 1
    while _n_for(p + 1, s, r2) <= n:
        p += 1
    return max(p, 0)


def _phi_from_counts(outcome: str, n, events) -> tuple[int, float, float]:
    n = check_parameters("n", n)
    events = check_positive("events", events)
    if outcome == "binary":
        if events >= n:
            raise SampleSizeError(f"events = {events!r} must be < n = {n} for a binary outcome")
        return n, events, events / n
    if outcome != "survival":
        raise SampleSizeError(f"outcome must be one of ('binary', 'survival'); got {outcome!r}")
    return n, events, events / n


def max_parameters(n, events, r2_cs, outcome: str = "survival", *, shrinkage=0.9,
                   r2_difference=0.05) -> ParameterBudget:
    """The most candidate parameters n patients with E events support (Riley criteria 1, 2).

    The inverse of :func:`riley_sample_size_binary` / :func:`riley_sample_size_survival`
    for the two criteria that depend on P: the largest P with
    :math:`\\lceil P / ((S-1)\\ln(1 - R^2_{CS}/S)) \\rceil \\le n` for S = ``shrinkage`` and
    for criterion 2's S.  ``events / n`` is the outcome proportion (binary) or the
    events per person, rate x mean follow-up (survival), which fixes max R²_CS.

    Parameters
    ----------
    n : int
        Patients available, >= 1.
    events : float
        Events among them, > 0 (and < n for a binary outcome).
    r2_cs : float
        The anticipated Cox-Snell R².
    outcome : {"survival", "binary"}, default "survival"
    shrinkage, r2_difference : float
        As in :func:`riley_sample_size_binary`.

    Returns
    -------
    ParameterBudget

    Examples
    --------
    >>> budget = max_parameters(5143, 692.0, 0.051, "survival")
    >>> budget.max_parameters, budget.binding
    (30, 'shrinkage')
    >>> max_parameters(662, 115.2, 0.288, "binary").max_parameters
    24
    """
    n, events, phi = _phi_from_counts(outcome, n, events)
    max_r2 = _max_r2_from_phi(outcome, phi)
    r2, s, delta, s2 = _check_targets(r2_cs, shrinkage, r2_difference, max_r2)
    p1, p2 = _largest_p(n, s, r2), _largest_p(n, s2, r2)
    return ParameterBudget(
        outcome=outcome, n=n, events=events, max_parameters=min(p1, p2), by_shrinkage=p1,
        by_r2_optimism=p2, binding=CRITERIA[0] if p1 <= p2 else CRITERIA[1], r2_cs=r2,
        max_r2_cs=max_r2, shrinkage_target=s, r2_difference=delta, shrinkage_r2_optimism=s2)


def parameter_budget_table(rungs, n, events, r2_cs, outcome: str = "survival", *,
                           shrinkage=0.9, r2_difference=0.05) -> pd.DataFrame:
    """Per rung of a modality ladder: its candidate parameters against what the data support.

    Parameters
    ----------
    rungs : mapping of str to int
        Rung name -> candidate predictor parameters of the model at that rung (for
        the ladder: clinical, +CCTA, +PET, +radiomics, cumulative).
    n, events, r2_cs, outcome, shrinkage, r2_difference
        As in :func:`max_parameters` (r2_cs: the anticipated R²_CS, e.g. from the
        clinical rung's C via :func:`cox_snell_from_c`).

    Returns
    -------
    DataFrame
        One row per rung: ``rung``, ``parameters``, ``max_parameters`` (what n and
        events support), ``supported`` (parameters <= max_parameters), ``n_required``
        and ``events_required`` (criteria 1 and 2 for this many parameters) and
        ``expected_shrinkage`` (of a model with this many parameters fitted on n).

    Examples
    --------
    >>> table = parameter_budget_table({"clinical": 10, "+ccta": 30, "+radiomics": 1160},
    ...                                n=3000, events=300, r2_cs=0.05)
    >>> table[["rung", "max_parameters", "supported", "n_required"]].to_numpy().tolist()
    [['clinical', 17, True, 1750], ['+ccta', 17, False, 5249], ['+radiomics', 17, False, 202945]]
    """
    budget = max_parameters(n, events, r2_cs, outcome, shrinkage=shrinkage,
                            r2_difference=r2_difference)
    rows = []
    for rung, parameters in rungs.items():
        p = check_parameters(f"rungs[{rung!r}]", parameters)
        need = max(_n_for(p, budget.shrinkage_target, budget.r2_cs),
                   _n_for(p, budget.shrinkage_r2_optimism, budget.r2_cs))
        rows.append({
            "rung": rung, "parameters": p, "max_parameters": budget.max_parameters,
            "supported": p <= budget.max_parameters, "n_required": need,
            "events_required": need * budget.events / budget.n,
            "expected_shrinkage": expected_shrinkage(budget.n, p, budget.r2_cs),
        })
    return pd.DataFrame(rows)
