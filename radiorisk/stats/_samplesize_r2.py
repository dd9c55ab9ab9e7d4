"""The anticipated Cox-Snell R² of a prediction model, from what a paper reports.

Riley et al.'s sample-size criteria (:mod:`radiorisk.stats._samplesize`) need the
anticipated Cox-Snell :math:`R^2_{CS}` of the new model.  Papers rarely report it;
these functions obtain it from what they do report:

- :func:`max_cox_snell_r2` -- the largest :math:`R^2_{CS}` an outcome allows
  (binary: :math:`1 - (\\phi^\\phi (1-\\phi)^{1-\\phi})^2`; time to event: from the
  events per person over the mean follow-up, Riley et al., *Stat Med* 2019;38:1276,
  with time in units of the mean follow-up as ``pmsampsize`` >= 1.0.2 does);
- :func:`cox_snell_from_nagelkerke` -- :math:`R^2_{CS} = R^2_{Nag} \\max R^2_{CS}`;
- :func:`cox_snell_from_lr` -- :math:`R^2_{CS} = 1 - \\exp(-LR/n)` from a likelihood-ratio
  chi-square, optionally shrunk by the van Houwelingen heuristic factor
  :math:`S_{VH} = 1 + P/(n \\ln(1 - R^2_{CS,app}))` (Riley et al. 2019, section 4.1);
- :func:`cox_snell_from_c` -- from a reported C statistic (AUROC) and the outcome
  proportion (Riley, Van Calster & Collins, *Stat Med* 2021;40:859).

The C-statistic conversion
--------------------------
Riley, Van Calster & Collins assume the linear predictor is normal with unit
variance in non-events and in events, with means :math:`\\mu = \\sqrt{2}\\,
\\Phi^{-1}(C)` apart (which gives the AUROC :math:`C`), simulate one million
patients, fit the logistic calibration model and take
:math:`R^2_{CS} = 1 - \\exp(-LR/n)`; R ``pmsampsize`` (>= 1.1.0) does this with
``set.seed(123456)`` and rounds to 4 decimals.  Under that model the logistic
calibration model is exactly right, so :math:`LR/n` converges to twice the mutual
information :math:`I` between outcome and linear predictor.  :func:`cox_snell_from_c`
computes that limit, :math:`R^2_{CS} = 1 - \\exp(-2I)`, by Gauss-Hermite quadrature:
deterministic, no seed, no rounding; it is the value the simulation estimates, and
it agrees with ``pmsampsize``'s seeded simulation to its Monte-Carlo error (about
1e-3, ``tests/reference/samplesize/``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import ndtri

from ..exceptions import SampleSizeError

__all__ = [
    "max_cox_snell_r2",
    "cox_snell_from_nagelkerke",
    "cox_snell_from_lr",
    "cox_snell_from_c",
    "anticipated_cox_snell_r2",
    "check_fraction",
    "check_positive",
    "check_parameters",
]

_OUTCOMES = ("binary", "survival")
# 200 probabilists' Gauss-Hermite nodes integrate the smooth log-mixture terms to
# ~1e-12 for C <= 0.99 (checked against adaptive quadrature in the tests).
_NODES, _WEIGHTS = hermegauss(200)
_WEIGHTS = _WEIGHTS / math.sqrt(2.0 * math.pi)


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SampleSizeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise SampleSizeError(f"{name} must be finite; got {value!r}")
    return value


def check_fraction(name: str, value, *, closed_low: bool = False) -> float:
    """``value`` as a float in (0, 1) (or [0, 1) with ``closed_low``); else SampleSizeError.

    Examples
    --------
    >>> check_fraction("prevalence", 0.174)
    0.174
    """
    value = _number(name, value)
    low_ok = value >= 0.0 if closed_low else value > 0.0
    if not (low_ok and value < 1.0):
        interval = "[0, 1)" if closed_low else "(0, 1)"
        raise SampleSizeError(f"{name} must lie in {interval}; got {value!r}")
    return value


def check_positive(name: str, value) -> float:
    """``value`` as a finite float > 0; else SampleSizeError.

    Examples
    --------
    >>> check_positive("mean_follow_up", 2.07)
    2.07
    """
    value = _number(name, value)
    if value <= 0.0:
        raise SampleSizeError(f"{name} must be > 0; got {value!r}")
    return value


def check_parameters(name: str, value) -> int:
    """``value`` as an int >= 1 (a count of candidate predictor parameters); else SampleSizeError.

    Examples
    --------
    >>> check_parameters("parameters", 24)
    24
    """
    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        if float(value).is_integer():
            value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SampleSizeError(f"{name} must be a whole number >= 1; got {value!r}")
    return int(value)


def _events_per_person(outcome: str, prevalence, rate, mean_follow_up) -> float:
    """Binary: the outcome proportion; survival: rate x mean follow-up (events per person)."""
    if outcome not in _OUTCOMES:
        raise SampleSizeError(f"outcome must be one of {_OUTCOMES}; got {outcome!r}")
    if outcome == "binary":
        if rate is not None or mean_follow_up is not None:
            raise SampleSizeError("rate and mean_follow_up are for outcome='survival'; give prevalence")
        if prevalence is None:
            raise SampleSizeError("outcome='binary' needs prevalence (the outcome proportion)")
        return check_fraction("prevalence", prevalence)
    if prevalence is not None:
        raise SampleSizeError("prevalence is for outcome='binary'; give rate and mean_follow_up")
    if rate is None or mean_follow_up is None:
        raise SampleSizeError("outcome='survival' needs rate and mean_follow_up")
    return check_positive("rate", rate) * check_positive("mean_follow_up", mean_follow_up)


def _max_r2_from_phi(outcome: str, phi: float) -> float:
    if outcome == "binary":
        log_null = phi * math.log(phi) + (1.0 - phi) * math.log1p(-phi)
    else:  # exponential null model, time in units of the mean follow-up
        log_null = phi * math.log(phi) - phi
    return -math.expm1(2.0 * log_null)


def max_cox_snell_r2(outcome: str = "binary", *, prevalence=None, rate=None,
                     mean_follow_up=None) -> float:
    """The largest Cox-Snell R² an outcome allows: :math:`1 - \\exp(2 \\ln L_{null} / n)`.

    Parameters
    ----------
    outcome : {"binary", "survival"}
        The outcome type.
    prevalence : float, optional
        Binary: the outcome proportion :math:`\\phi` in (0, 1); then
        :math:`\\ln L_{null}/n = \\phi\\ln\\phi + (1-\\phi)\\ln(1-\\phi)`.
    rate, mean_follow_up : float, optional
        Survival: the overall event rate per unit of time and the mean follow-up in
        the same unit.  With :math:`\\lambda = ` rate x mean follow-up (events per
        person), :math:`\\ln L_{null}/n = \\lambda\\ln\\lambda - \\lambda` (the
        exponential null model with time in units of the mean follow-up, Riley et al.
        2019 Part II; ``pmsampsize`` computes the same with the events of 10,000
        people rounded up, which changes the value by < 1e-4).

    Returns
    -------
    float

    Examples
    --------
    >>> round(max_cox_snell_r2("binary", prevalence=0.174), 4)
    0.6032
    >>> round(max_cox_snell_r2("survival", rate=0.065, mean_follow_up=2.07), 4)
    0.5546
    """
    phi = _events_per_person(outcome, prevalence, rate, mean_follow_up)
    return _max_r2_from_phi(outcome, phi)


def cox_snell_from_nagelkerke(nagelkerke_r2, outcome: str = "binary", *, prevalence=None,
                              rate=None, mean_follow_up=None) -> float:
    """Cox-Snell R² from a reported Nagelkerke R²: :math:`R^2_{Nag} \\max R^2_{CS}`.

    Parameters
    ----------
    nagelkerke_r2 : float
        The reported Nagelkerke R², in (0, 1).
    outcome, prevalence, rate, mean_follow_up
        As in :func:`max_cox_snell_r2`.  Unlike ``pmsampsize``, the result is not
        rounded (``pmsampsize`` rounds it to 3 decimals).

    Returns
    -------
    float

    Examples
    --------
    >>> round(cox_snell_from_nagelkerke(0.15, "binary", prevalence=0.174), 5)
    0.09048
    """
    nag = check_fraction("nagelkerke_r2", nagelkerke_r2)
    return nag * max_cox_snell_r2(outcome, prevalence=prevalence, rate=rate,
                                  mean_follow_up=mean_follow_up)


def cox_snell_from_lr(lr_chi2, n, parameters=None) -> float:
    """Cox-Snell R² from a likelihood-ratio chi-square: :math:`1 - \\exp(-LR/n)`.

    Parameters
    ----------
    lr_chi2 : float
        The model's likelihood-ratio chi-square (null deviance minus deviance), >= 0.
    n : int
        The number of patients the model was fitted on (>= 1).
    parameters : int, optional
        When given, the apparent value is shrunk by the van Houwelingen heuristic
        factor :math:`S_{VH} = 1 + P / (n \\ln(1 - R^2_{CS,app}))` to the anticipated
        (optimism-adjusted) value :math:`S_{VH} R^2_{CS,app}` (Riley et al. 2019,
        section 4.1); SampleSizeError if :math:`S_{VH} \\le 0` (LR <= P: the fit is
        all optimism).

    Returns
    -------
    float

    Examples
    --------
    >>> round(cox_snell_from_lr(120.0, 1000), 4)
    0.1131
    >>> round(cox_snell_from_lr(120.0, 1000, parameters=10), 4)
    0.1037
    """
    lr = _number("lr_chi2", lr_chi2)
    if lr < 0.0:
        raise SampleSizeError(f"lr_chi2 must be >= 0; got {lr!r}")
    n = check_parameters("n", n)
    apparent = -math.expm1(-lr / n)
    if parameters is None:
        return apparent
    p = check_parameters("parameters", parameters)
    if apparent == 0.0 or lr <= p:
        raise SampleSizeError(f"lr_chi2 = {lr!r} must exceed parameters = {p} for the heuristic "
                         "shrinkage 1 - parameters/lr_chi2 to be > 0")
    s_vh = 1.0 + p / (n * math.log1p(-apparent))
    return s_vh * apparent


def cox_snell_from_c(c_statistic, prevalence) -> float:
    """Cox-Snell R² implied by a C statistic (AUROC) and an outcome proportion.

    The population value of Riley, Van Calster & Collins' (2021) simulation: the
    linear predictor is N(0, 1) in non-events and N(mu, 1) in events with
    :math:`\\mu = \\sqrt 2\\,\\Phi^{-1}(C)`; :math:`R^2_{CS} = 1 - \\exp(-2I)` where
    :math:`I` is the mutual information of outcome and linear predictor, computed by
    200-node Gauss-Hermite quadrature (see the module docstring).  Deterministic;
    R ``pmsampsize`` estimates the same value by a seeded simulation of 1e6 patients.

    Parameters
    ----------
    c_statistic : float
        The anticipated C statistic, in [0.5, 1).  (C < 0.5 is a model with the sign
        reversed: give 1 - C.)
    prevalence : float
        The outcome proportion, in (0, 1).  For a time-to-event outcome use the
        cumulative incidence at the horizon as an approximation, and say so.

    Returns
    -------
    float

    Examples
    --------
    >>> round(cox_snell_from_c(0.89, 0.174), 4)
    0.291
    >>> cox_snell_from_c(0.5, 0.2)
    0.0
    """
    c = _number("c_statistic", c_statistic)
    if not 0.5 <= c < 1.0:
        raise SampleSizeError(f"c_statistic must lie in [0.5, 1); got {c!r} "
                         "(for C < 0.5 reverse the model and give 1 - C)")
    p = check_fraction("prevalence", prevalence)
    mu = math.sqrt(2.0) * float(ndtri(c))
    if mu == 0.0:
        return 0.0
    z = _NODES
    shift = -mu * z - 0.5 * mu * mu  # log density ratio of the other class, both classes
    info_events = -np.dot(_WEIGHTS, np.logaddexp(math.log(p), math.log1p(-p) + shift))
    info_non = -np.dot(_WEIGHTS, np.logaddexp(math.log1p(-p), math.log(p) + shift))
    mutual_information = p * info_events + (1.0 - p) * info_non
    return float(-math.expm1(-2.0 * mutual_information))


def anticipated_cox_snell_r2(outcome: str = "binary", *, r2_cs=None, c_statistic=None,
                             nagelkerke_r2=None, lr_chi2=None, lr_n=None, lr_parameters=None,
                             prevalence=None, rate=None, timepoint=None,
                             mean_follow_up=None) -> tuple[float, str]:
    """The anticipated Cox-Snell R² from exactly one reported quantity, and how it was got.

    Parameters
    ----------
    outcome : {"binary", "survival"}
    r2_cs : float, optional
        Given directly.
    c_statistic : float, optional
        Via :func:`cox_snell_from_c` with the outcome proportion (binary) or, for a
        time-to-event outcome, the cumulative incidence :math:`1 - e^{-rate \\cdot
        timepoint}` as the proportion -- an approximation (the conversion is derived
        for a binary outcome), stated in the returned text.
    nagelkerke_r2 : float, optional
        Via :func:`cox_snell_from_nagelkerke`.
    lr_chi2, lr_n, lr_parameters : optional
        Via :func:`cox_snell_from_lr` (``lr_n`` required; ``lr_parameters``, the
        reported model's parameters, applies the heuristic shrinkage).
    prevalence, rate, timepoint, mean_follow_up : float, optional
        The outcome's anticipated proportion (binary) or rate, horizon and mean
        follow-up (survival), as the conversions need them.

    Returns
    -------
    (float, str)
        R²_CS and a sentence saying where it came from (for reports).

    Examples
    --------
    >>> r2, how = anticipated_cox_snell_r2("binary", c_statistic=0.89, prevalence=0.174)
    >>> round(r2, 4), how
    (0.291, 'from C = 0.89 and outcome proportion 0.174 (Riley, Van Calster & Collins 2021; population value by quadrature)')
    """
    given = {k: v for k, v in [("r2_cs", r2_cs), ("c_statistic", c_statistic),
                               ("nagelkerke_r2", nagelkerke_r2), ("lr_chi2", lr_chi2)]
             if v is not None}
    if len(given) != 1:
        raise SampleSizeError("give exactly one of r2_cs, c_statistic, nagelkerke_r2, lr_chi2; "
                         f"got {sorted(given) or 'none'}")
    if (lr_n is not None or lr_parameters is not None) and lr_chi2 is None:
        raise SampleSizeError("lr_n and lr_parameters go with lr_chi2")
    if r2_cs is not None:
        return check_fraction("r2_cs", r2_cs), "given"
    if nagelkerke_r2 is not None:
        max_r2 = max_cox_snell_r2(outcome, prevalence=prevalence, rate=rate,
                                  mean_follow_up=mean_follow_up)
        value = cox_snell_from_nagelkerke(nagelkerke_r2, outcome, prevalence=prevalence,
                                          rate=rate, mean_follow_up=mean_follow_up)
        return value, f"from Nagelkerke R² = {nagelkerke_r2:g} x max R²_CS {max_r2:.4g}"
    if lr_chi2 is not None:
        if lr_n is None:
            raise SampleSizeError("lr_chi2 needs lr_n, the patients the reported model was fitted on")
        value = cox_snell_from_lr(lr_chi2, lr_n, lr_parameters)
        shrunk = "" if lr_parameters is None else (
            f", shrunk by the heuristic factor for {lr_parameters} parameters")
        return value, f"from LR chi-square {lr_chi2:g} on n = {lr_n} (1 - exp(-LR/n)){shrunk}"
    return _r2_from_c(outcome, c_statistic, prevalence, rate, timepoint, mean_follow_up)


def _r2_from_c(outcome, c_statistic, prevalence, rate, timepoint, mean_follow_up):
    source = "Riley, Van Calster & Collins 2021; population value by quadrature"
    if outcome == "binary":
        _events_per_person("binary", prevalence, rate, mean_follow_up)
        return (cox_snell_from_c(c_statistic, prevalence),
                f"from C = {c_statistic:g} and outcome proportion {prevalence:g} ({source})")
    _events_per_person(outcome, prevalence, rate, mean_follow_up)
    if timepoint is None:
        raise SampleSizeError("c_statistic for outcome='survival' needs timepoint (the risk by it "
                         "stands in for the outcome proportion)")
    risk = -math.expm1(-check_positive("rate", rate) * check_positive("timepoint", timepoint))
    return (cox_snell_from_c(c_statistic, risk),
            f"from C = {c_statistic:g} with the risk {risk:.4g} by the time point as the outcome "
            f"proportion ({source}; an approximation for a time-to-event outcome)")
