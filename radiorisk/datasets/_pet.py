"""18F-NaF PET: coronary microcalcification activity (CMA) and availability (DOMAIN.md 6.4)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import expit

from ..exceptions import RadioriskError

__all__ = ["PET_MISSING", "DEFAULT_GROUP_ACCESS", "simulate_cma", "pet_availability", "pet_acquisition"]

PET_MISSING = ("mar", "mnar", "group")
#: Probability multipliers used by ``pet_missing="group"`` (proposal: lower access outside the
#: majority group); a BiasSpec's ``pet_access`` multiplies on top.
DEFAULT_GROUP_ACCESS = {"south_asian": 0.5, "black": 0.5, "east_asian": 0.7, "other": 0.7}


def simulate_cma(Z: np.ndarray, weights: np.ndarray, P: Mapping, rng: np.random.Generator,
                 factor: np.ndarray) -> dict:
    """True and measured CMA, per patient and per vessel territory (LAD, LCX, RCA).

    ``weights`` (n x 3) are the territories' calcified + LAP volumes; the split
    is noisy around them.  Measurement noise is 8 % per vessel (repeatability
    <= 10 %), and CMA = 0 stays 0 (100 % agreement on CMA > 0).
    """
    n = len(Z)
    zc = Z + rng.normal(0, 0.35, n)
    thr = P["cma_thr"]
    cma = np.where(zc > thr, np.exp(P["cma_mu"] + 0.9 * (zc - thr) + rng.normal(0, 0.35, n)) - 0.5, 0.0)
    cma = np.clip(cma, 0.0, 60.0)
    w = (weights + 1.0) * np.exp(rng.normal(0, 0.5, (n, 3)))
    share = w / w.sum(axis=1, keepdims=True)
    true_v = cma[:, None] * share
    meas_v = np.round(true_v * np.exp(rng.normal(0, 0.08, (n, 3))) * factor[:, None], 3)
    meas_v = np.clip(meas_v, 0.0, 33.0)
    meas = np.round(meas_v.sum(axis=1), 3)
    return dict(cma_true=cma, cma_vessel=meas_v, cma=meas)


def _solve_intercept(lin: np.ndarray, target: float) -> float:
    """Intercept c with mean(expit(c + lin)) = target (bisection; deterministic)."""
    if len(lin) == 0:
        return 0.0
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if expit(mid + lin).mean() < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def pet_availability(*, mode: str, mechanism: str, rate: float, pet_site: np.ndarray, age: np.ndarray,
                     cac: np.ndarray, Z: np.ndarray, group_factor: np.ndarray,
                     rng: np.random.Generator) -> dict:
    """Who had PET, with the probability used and the reason for the others.

    MAR: more likely at PET sites, in younger patients and with higher CAC.
    MNAR: additionally more likely with higher (unobserved) activity Z.
    The group factor (``pet_missing="group"`` and/or ``BiasSpec.pet_access``)
    multiplies the probability.
    """
    if mechanism not in PET_MISSING:
        raise RadioriskError(f"pet_missing={mechanism!r} is not one of {list(PET_MISSING)}")
    if not 0.0 < rate <= 1.0:
        raise RadioriskError(f"pet_rate={rate} must be in (0, 1]")
    n = len(age)
    if mode == "established-cad" and rate >= 1.0 and mechanism != "mnar":
        p = np.ones(n)
    else:
        if mode == "established-cad":
            lin = -0.02 * (age - 65)
            target = min(rate, 0.9)
        else:
            lin = 2.5 * pet_site - 0.03 * (age - 58) + 0.3 * np.log1p(cac)
            target = rate
        if mechanism == "mnar":
            lin = lin + 1.0 * Z
        p = expit(_solve_intercept(lin, target) + lin)
    p = np.clip(p * group_factor, 0.0, 1.0)
    u = rng.random((n, 2))
    available = u[:, 0] < p
    reason = np.where(u[:, 1] < 0.70, "not_offered", np.where(u[:, 1] < 0.95, "declined", "contraindicated"))
    if mode == "chest-pain":
        reason = np.where(pet_site, reason, "not_available_at_site")
    reason = np.where(available, None, reason).astype(object)
    return dict(available=available, p=p, reason=reason)


def pet_acquisition(n: int, rng: np.random.Generator) -> dict:
    """Protocol columns (1-h uptake, Kwiecinski-like)."""
    z = rng.standard_normal((n, 3))
    return dict(injected_mbq=np.clip(np.round(250 + 15 * z[:, 0], 1), 150, 350),
                uptake_min=np.full(n, 60.0),
                bp_mean=np.clip(np.round(1.24 + 0.15 * z[:, 1], 3), 0.5, 3.0),
                bp_sd=np.clip(np.round(0.18 + 0.03 * z[:, 2], 3), 0.05, 1.0))
