"""Minimum sample size for developing a prediction model (Riley et al.).

Riley et al., *BMJ* 2020;368:m441 and *Stat Med* 2019;38:1276 (binary and
time-to-event outcomes) ask, before a model is fitted, for the smallest number of
patients :math:`n` that meets three criteria given the number of candidate
predictor parameters :math:`P` and the anticipated Cox-Snell :math:`R^2_{CS}`:

1. ``shrinkage`` -- expected uniform shrinkage of the predictor effects >= S
   (default 0.9): :math:`n = P / ((S - 1) \\ln(1 - R^2_{CS}/S))`;
2. ``r2_optimism`` -- apparent and adjusted Nagelkerke R² differ by <= delta
   (default 0.05): the same formula with
   :math:`S = R^2_{CS} / (R^2_{CS} + \\delta \\max R^2_{CS})`;
3. ``overall_risk`` -- precise overall risk.  Binary: the outcome proportion within
   +/- margin (0.05), :math:`n = (1.96/\\text{margin})^2 \\phi(1-\\phi)`.  Time to event:
   the cumulative incidence :math:`F(t) = 1 - e^{-\\lambda t}` at the time point
   within +/- margin, with the exponential approximation
   :math:`1 - \\exp(-(\\lambda \\pm 1.96 \\sqrt{\\lambda / T}) t)` for the 95 % limits
   and :math:`T = n \\times` mean follow-up person-time (as ``pmsampsize`` reports it).

Each criterion is rounded up to a whole patient; the final :math:`n` is their
maximum, with its events, events per candidate parameter (EPP) and the criterion
that binds.  :mod:`radiorisk.stats._samplesize_budget` inverts criteria 1 and 2: how
many parameters the available patients and events can support.

Agreement with R ``pmsampsize`` 1.1.3 (``tests/reference/samplesize/README.md``):
criteria 1 and 2 and the binary criterion 3 are the same formulas (z = 1.96 as
published).  Two documented differences: (a) for time to event ``pmsampsize`` does
not size on criterion 3 -- it sets it to max(n1, n2) and reports the interval --
whereas :func:`riley_sample_size_survival` solves for the smallest n whose interval
lies within +/- margin, so the final n differs only when that criterion binds;
(b) ``pmsampsize``'s survival max R² counts the events of 10,000 people rounded up,
this module uses rate x mean follow-up exactly (the n2 differs by at most one patient).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import pandas as pd
from scipy.optimize import brentq

from .._html import repr_html
from ..exceptions import SampleSizeError
from ._samplesize_r2 import (
    _events_per_person,
    _max_r2_from_phi,
    anticipated_cox_snell_r2,
    check_fraction,
    check_parameters,
    check_positive,
)

__all__ = [
    "riley_sample_size",
    "SampleSizeCriterion",
    "SampleSize",
    "riley_sample_size_binary",
    "riley_sample_size_survival",
    "expected_shrinkage",
]

Z_PUBLISHED = 1.96  # the papers' and pmsampsize's z for a 95 % interval
CRITERIA = ("shrinkage", "r2_optimism", "overall_risk")


@dataclass(frozen=True)
class SampleSizeCriterion:
    """One of Riley's criteria: the patients it needs and what that means.

    Attributes
    ----------
    criterion : str
        ``"shrinkage"``, ``"r2_optimism"`` or ``"overall_risk"``.
    n : int
        The minimum number of patients for this criterion alone.
    shrinkage : float
        Criteria 1 and 2: the shrinkage they target; criterion 3: the expected
        shrinkage with its ``n`` patients (:func:`expected_shrinkage`).
    events : float
        Expected events with ``n`` patients (n x proportion, or n x rate x mean follow-up).
    epp : float
        ``events / parameters``.
    binding : bool
        True for the criterion that sets the final n (the first one, in the order
        above, when two need the same n).
    """

    criterion: str
    n: int
    shrinkage: float
    events: float
    epp: float
    binding: bool


@dataclass(frozen=True)
class SampleSize:
    """The minimum development sample size by Riley's criteria (one row per criterion).

    Attributes
    ----------
    outcome : str
        ``"binary"`` or ``"survival"``.
    n : int
        The minimum number of patients: the largest of the criteria.
    events : float
        The expected number of events among them.
    epp : float
        Events per candidate predictor parameter at ``n``.
    binding : str
        The criterion that sets ``n``.
    parameters : int
        Candidate predictor parameters P.
    r2_cs, max_r2_cs, nagelkerke_r2 : float
        The anticipated Cox-Snell R², its maximum for this outcome and their ratio.
    shrinkage_target, r2_difference, margin : float
        The targets: S, delta in Nagelkerke's R², the margin of the overall risk.
    events_per_person : float
        Binary: the outcome proportion; survival: rate x mean follow-up.
    expected_shrinkage : float
        The expected uniform shrinkage with ``n`` patients.
    criteria : tuple of SampleSizeCriterion
        The three criteria in order.
    risk, risk_low, risk_high : float
        Survival: the overall risk by the time point and its 95 % limits with ``n``
        patients (exponential approximation); binary: the proportion and its Wald
        limits.  Both at the final ``n``.
    r2_source : str
        Where ``r2_cs`` came from (``"given"``, or the conversion used by
        :func:`riley_sample_size`).
    """

    outcome: str
    n: int
    events: float
    epp: float
    binding: str
    parameters: int
    r2_cs: float
    max_r2_cs: float
    nagelkerke_r2: float
    shrinkage_target: float
    r2_difference: float
    margin: float
    events_per_person: float
    expected_shrinkage: float
    criteria: tuple
    risk: float
    risk_low: float
    risk_high: float
    r2_source: str = "given"

    def to_frame(self) -> pd.DataFrame:
        """One row per criterion: criterion, n, shrinkage, events, epp, binding."""
        return pd.DataFrame([asdict(c) for c in self.criteria],
                            columns=["criterion", "n", "shrinkage", "events", "epp", "binding"])

    def __repr__(self) -> str:
        return (f"SampleSize({self.outcome}: n={self.n}, events={self.events:.1f}, "
                f"EPP={self.epp:.2f}, binding={self.binding!r}; P={self.parameters}, "
                f"R2_CS={self.r2_cs:.4g}, shrinkage={self.expected_shrinkage:.3f})")

    def _repr_html_(self) -> str:
        return repr_html(repr(self), self.to_frame())


def _shrinkage_factor(s: float, r2: float) -> float:
    """(S - 1) ln(1 - R²/S): patients needed per parameter is its reciprocal."""
    return (s - 1.0) * math.log1p(-r2 / s)


def _n_for(parameters: int, s: float, r2: float) -> int:
    return math.ceil(parameters / _shrinkage_factor(s, r2))


def _check_targets(r2_cs, shrinkage, r2_difference, max_r2):
    r2 = check_fraction("r2_cs", r2_cs)
    s = check_fraction("shrinkage", shrinkage)
    delta = check_fraction("r2_difference", r2_difference)
    if r2 >= max_r2:
        raise SampleSizeError(f"r2_cs = {r2!r} must be < the maximum Cox-Snell R² {max_r2:.6g} "
                         "this outcome allows (Riley et al. 2019, eq. 23)")
    if r2 >= s:
        raise SampleSizeError(f"r2_cs = {r2!r} must be < shrinkage = {s!r}: ln(1 - r2_cs/shrinkage) "
                         "is not defined otherwise")
    s2 = r2 / (r2 + delta * max_r2)
    if r2 >= s2:
        raise SampleSizeError(f"r2_cs = {r2!r} with r2_difference = {delta!r} leaves no shrinkage "
                         f"above r2_cs (criterion 2 targets {s2:.6g})")
    return r2, s, delta, s2


def expected_shrinkage(n, parameters, r2_cs) -> float:
    """The expected uniform shrinkage of a model with P parameters fitted on n patients.

    Solves Riley's criterion-1 equation :math:`n (S - 1) \\ln(1 - R^2_{CS}/S) = P` for
    S in (R²_CS, 1): the inverse of the sample-size formula.

    Parameters
    ----------
    n : int
        Patients (>= 1).
    parameters : int
        Candidate predictor parameters (>= 1).
    r2_cs : float
        The anticipated Cox-Snell R², in (0, 1).

    Returns
    -------
    float

    Examples
    --------
    >>> round(expected_shrinkage(623, 24, 0.288), 4)
    0.9001
    >>> round(expected_shrinkage(3000, 1130, 0.05), 3)
    0.141
    """
    n = check_parameters("n", n)
    p = check_parameters("parameters", parameters)
    r2 = check_fraction("r2_cs", r2_cs)
    low, high = math.nextafter(r2, 1.0), math.nextafter(1.0, 0.0)
    target = p / n
    if _shrinkage_factor(low, r2) <= target:
        return low
    if _shrinkage_factor(high, r2) >= target:
        return high
    return brentq(lambda s: _shrinkage_factor(s, r2) - target, low, high, xtol=1e-14, rtol=1e-14)


def _build(outcome, p, r2, max_r2, s, delta, margin, phi, ns, shrinkages, risk):
    n = max(ns)
    binding = CRITERIA[ns.index(n)]
    rows = tuple(SampleSizeCriterion(name, k, sh, k * phi, k * phi / p, name == binding)
                 for name, k, sh in zip(CRITERIA, ns, shrinkages, strict=True))
    return SampleSize(
        outcome=outcome, n=n, events=n * phi, epp=n * phi / p, binding=binding,
        parameters=p, r2_cs=r2, max_r2_cs=max_r2, nagelkerke_r2=r2 / max_r2,
        shrinkage_target=s, r2_difference=delta, margin=margin, events_per_person=phi,
        expected_shrinkage=expected_shrinkage(n, p, r2), criteria=rows,
        risk=risk[0], risk_low=risk[1], risk_high=risk[2])


def riley_sample_size_binary(parameters, prevalence, r2_cs, *, shrinkage=0.9,
                             r2_difference=0.05, margin=0.05) -> SampleSize:
    """Minimum sample size for a binary-outcome model (Riley et al. 2019/2020).

    Parameters
    ----------
    parameters : int
        Candidate predictor parameters P (every dummy, spline term and interaction
        counts), >= 1.
    prevalence : float
        The anticipated outcome proportion, in (0, 1).
    r2_cs : float
        The anticipated (optimism-adjusted) Cox-Snell R²; see
        :func:`cox_snell_from_c`, :func:`cox_snell_from_nagelkerke`,
        :func:`cox_snell_from_lr`.
    shrinkage : float, default 0.9
        Criterion 1's target expected shrinkage S.
    r2_difference : float, default 0.05
        Criterion 2's largest difference between apparent and adjusted Nagelkerke R².
    margin : float, default 0.05
        Criterion 3's margin of error for the outcome proportion.

    Returns
    -------
    SampleSize

    Raises
    ------
    SampleSizeError
        A parameter is out of range, or r2_cs >= max R²_CS or >= shrinkage.

    Examples
    --------
    Riley et al. 2019 (Part II), the Chagas diagnostic model, also R pmsampsize's
    example: 24 parameters, R²_CS 0.288, prevalence 0.174.

    >>> ss = riley_sample_size_binary(24, 0.174, 0.288)
    >>> ss.n, ss.binding, round(ss.epp, 2)
    (662, 'r2_optimism', 4.8)
    >>> ss.to_frame()[["criterion", "n"]].to_numpy().tolist()
    [['shrinkage', 623], ['r2_optimism', 662], ['overall_risk', 221]]
    """
    p = check_parameters("parameters", parameters)
    phi = _events_per_person("binary", prevalence, None, None)
    margin = check_fraction("margin", margin)
    max_r2 = _max_r2_from_phi("binary", phi)
    r2, s, delta, s2 = _check_targets(r2_cs, shrinkage, r2_difference, max_r2)
    n3 = math.ceil((Z_PUBLISHED / margin) ** 2 * phi * (1.0 - phi))
    ns = [_n_for(p, s, r2), _n_for(p, s2, r2), n3]
    half = Z_PUBLISHED * math.sqrt(phi * (1.0 - phi) / max(ns))
    return _build("binary", p, r2, max_r2, s, delta, margin, phi, ns,
                  [s, s2, expected_shrinkage(n3, p, r2)], (phi, phi - half, phi + half))


def _risk_interval(rate: float, timepoint: float, person_time: float):
    """Cumulative incidence by the time point and its 95 % limits (exponential model)."""
    half = Z_PUBLISHED * math.sqrt(rate / person_time)
    return (-math.expm1(-rate * timepoint), -math.expm1(-(rate - half) * timepoint),
            -math.expm1(-(rate + half) * timepoint))


def _overall_risk_n(rate: float, timepoint: float, mean_follow_up: float, margin: float) -> int:
    """The smallest n whose 95 % limits of F(t) lie within +/- margin of F(t)."""
    survival = math.exp(-rate * timepoint)
    # lower limit: (rate - h) t >= -ln(S + margin); upper: (rate + h) t <= -ln(S - margin)
    half_widths = [rate + math.log(survival + margin) / timepoint]
    if survival > margin:
        half_widths.append(-math.log(survival - margin) / timepoint - rate)
    h = min(half_widths)
    person_time = rate * (Z_PUBLISHED / h) ** 2
    n = max(1, math.ceil(person_time / mean_follow_up))
    while n > 1 and _within(rate, timepoint, (n - 1) * mean_follow_up, margin):
        n -= 1  # guard the closed form against rounding at the boundary
    while not _within(rate, timepoint, n * mean_follow_up, margin):
        n += 1
    return n


def _within(rate, timepoint, person_time, margin) -> bool:
    risk, low, high = _risk_interval(rate, timepoint, person_time)
    return risk - low <= margin and high - risk <= margin


def riley_sample_size_survival(parameters, rate, timepoint, mean_follow_up, r2_cs, *,
                               shrinkage=0.9, r2_difference=0.05,
                               margin=0.05) -> SampleSize:
    """Minimum sample size for a time-to-event model (Riley et al. 2019/2020).

    Parameters
    ----------
    parameters : int
        Candidate predictor parameters P, >= 1.
    rate : float
        The anticipated overall event rate per unit of time (e.g. per person-year), > 0.
    timepoint : float
        The prediction horizon, in the same unit, > 0.
    mean_follow_up : float
        The anticipated mean follow-up, in the same unit, > 0.
    r2_cs : float
        The anticipated (optimism-adjusted) Cox-Snell R².
    shrinkage, r2_difference : float
        As in :func:`riley_sample_size_binary`.
    margin : float, default 0.05
        Criterion 3: both 95 % limits of the overall risk by ``timepoint`` within
        +/- margin of it.

    Returns
    -------
    SampleSize
        ``risk``, ``risk_low``, ``risk_high`` are the overall risk by the time point
        and its limits with the final n (``pmsampsize``'s reported interval).

    Raises
    ------
    SampleSizeError
        A parameter is out of range, or r2_cs >= max R²_CS or >= shrinkage.

    Examples
    --------
    Riley et al., BMJ 2020 (and R pmsampsize's example): recurrent venous
    thromboembolism, 30 parameters, R²_CS 0.051, 0.065 events per person-year,
    2-year horizon, mean follow-up 2.07 years.

    >>> ss = riley_sample_size_survival(30, 0.065, 2, 2.07, 0.051)
    >>> ss.n, round(ss.events), round(ss.epp, 2), ss.binding
    (5143, 692, 23.07, 'shrinkage')
    >>> round(ss.risk, 3), round(ss.risk_low, 3), round(ss.risk_high, 3)
    (0.122, 0.113, 0.13)
    """
    p = check_parameters("parameters", parameters)
    phi = _events_per_person("survival", None, rate, mean_follow_up)
    rate = float(rate)
    mean_follow_up = float(mean_follow_up)
    timepoint = check_positive("timepoint", timepoint)
    margin = check_fraction("margin", margin)
    max_r2 = _max_r2_from_phi("survival", phi)
    r2, s, delta, s2 = _check_targets(r2_cs, shrinkage, r2_difference, max_r2)
    n3 = _overall_risk_n(rate, timepoint, mean_follow_up, margin)
    ns = [_n_for(p, s, r2), _n_for(p, s2, r2), n3]
    risk = _risk_interval(rate, timepoint, max(ns) * mean_follow_up)
    return _build("survival", p, r2, max_r2, s, delta, margin, phi, ns,
                  [s, s2, expected_shrinkage(n3, p, r2)], risk)


def riley_sample_size(outcome: str, parameters, *, prevalence=None, rate=None, timepoint=None,
                      mean_follow_up=None, r2_cs=None, c_statistic=None, nagelkerke_r2=None,
                      lr_chi2=None, lr_n=None, lr_parameters=None, shrinkage=0.9,
                      r2_difference=0.05, margin=0.05) -> SampleSize:
    """Riley's minimum sample size from whatever the literature reports about R².

    Obtains the anticipated Cox-Snell R² from exactly one of ``r2_cs``,
    ``c_statistic``, ``nagelkerke_r2`` or ``lr_chi2`` (with ``lr_n``) by
    :func:`anticipated_cox_snell_r2`, then calls :func:`riley_sample_size_binary` or
    :func:`riley_sample_size_survival`; the result's ``r2_source`` says how R² was got.

    Parameters
    ----------
    outcome : {"binary", "survival"}
    parameters : int
        Candidate predictor parameters.
    prevalence : float, optional
        Binary: the outcome proportion.
    rate, timepoint, mean_follow_up : float, optional
        Survival: events per unit of time, the horizon and the mean follow-up (one unit).
    r2_cs, c_statistic, nagelkerke_r2, lr_chi2, lr_n, lr_parameters
        The anticipated performance; see :func:`anticipated_cox_snell_r2`.
    shrinkage, r2_difference, margin : float
        The criteria's targets (defaults 0.9, 0.05, 0.05).

    Returns
    -------
    SampleSize

    Examples
    --------
    >>> ss = riley_sample_size("binary", 24, prevalence=0.174, c_statistic=0.89)
    >>> ss.n, ss.binding
    (660, 'r2_optimism')
    >>> riley_sample_size("survival", 30, rate=0.065, timepoint=2, mean_follow_up=2.07,
    ...                   r2_cs=0.051).n
    5143
    """
    if outcome not in ("binary", "survival"):
        raise SampleSizeError(f"outcome must be one of ('binary', 'survival'); got {outcome!r}")
    r2, source = anticipated_cox_snell_r2(
        outcome, r2_cs=r2_cs, c_statistic=c_statistic, nagelkerke_r2=nagelkerke_r2,
        lr_chi2=lr_chi2, lr_n=lr_n, lr_parameters=lr_parameters, prevalence=prevalence,
        rate=rate, timepoint=timepoint, mean_follow_up=mean_follow_up)
    targets = {"shrinkage": shrinkage, "r2_difference": r2_difference, "margin": margin}
    if outcome == "binary":
        if timepoint is not None:
            raise SampleSizeError("timepoint is for outcome='survival'")
        result = riley_sample_size_binary(parameters, prevalence, r2, **targets)
    else:
        if prevalence is not None:
            raise SampleSizeError("prevalence is for outcome='binary'; give rate and mean_follow_up")
        if timepoint is None:
            raise SampleSizeError("outcome='survival' needs timepoint (the prediction horizon)")
        result = riley_sample_size_survival(parameters, rate, timepoint, mean_follow_up, r2,
                                            **targets)
    return replace(result, r2_source=source)
