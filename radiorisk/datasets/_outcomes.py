"""Outcomes: cause-specific hazards, competing death, censoring (DOMAIN.md 6.5).

Time runs in years inside this module and is converted to days (1 decimal) at
the end.  Cause-specific hazards are Weibull proportional hazards
``h_k(t) = lambda_k rho_k t^(rho_k - 1) exp(eta_k)``; non-cardiac death is
Gompertz in attained age.  Cardiac and non-cardiac death, administrative
censoring and loss to follow-up end follow-up; MI, unstable-angina
hospitalisation and revascularisation record their first occurrence before it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import expit

__all__ = ["COMPONENTS", "linear_predictors", "simulate_outcomes"]

DAYS_PER_YEAR = 365.25
COMPONENTS = ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned", "revasc_planned_early",
              "noncardiac_death")


def linear_predictors(c: Mapping, P: Mapping, bias_lp: np.ndarray, em_lp: np.ndarray) -> dict:
    """Linear predictors of each cause (log relative hazards).

    ``c`` holds age, male, dm, smoke, htn, ldl, A, V, Z, obstructive (true
    stenosis >= 50 %) and severe (true >= 70 %).  ``bias_lp`` (log baseline-HR
    multiplier) enters every cardiac cause; ``em_lp`` (effect modification)
    enters MI and, scaled 0.8, cardiac death.
    """
    age = c["age"] - 58.0
    core = (P["b_age"] * age + P["b_male"] * c["male"] + P["b_dm"] * c["dm"]
            + P["b_smoke"] * c["smoke"] + P["b_htn"] * c["htn"] + P["b_ldl"] * (c["ldl"] - 3.0)
            + P["g_A"] * c["A"] + P["g_V"] * c["V"] + P["g_Z"] * c["Z"])
    mi = core + em_lp + bias_lp
    cd = 0.8 * (core + em_lp) + 0.05 * age + bias_lp
    ua = (0.01 * age + 0.10 * c["male"] + 0.30 * c["dm"] + 0.25 * c["smoke"] + 0.45 * c["A"]
          + 0.10 * c["V"] + 0.30 * c["Z"] + 0.80 * c["obstructive"] + bias_lp)
    rv = (0.30 * c["A"] + 0.15 * c["Z"] + 1.00 * c["obstructive"] + 0.60 * c["severe"]
          + 0.20 * c["dm"] + bias_lp)
    ncd = 0.30 * c["smoke"] + 0.30 * c["dm"]
    return dict(mi=mi, cardiac_death=cd, ua_hosp=ua, revasc_unplanned=rv, noncardiac_death=ncd)


def _weibull(E, lam, rho, eta):
    return (E / (lam * np.exp(eta))) ** (1.0 / rho)


def simulate_outcomes(c: Mapping, lp: Mapping, P: Mapping, rng: np.random.Generator, *,
                      accrual_years: np.ndarray, max_ds_read: np.ndarray, lost_mult: np.ndarray,
                      p_missed: np.ndarray, missed_components: tuple) -> dict:
    """Event times, follow-up and the recorded (possibly under-ascertained) events."""
    n = len(c["age"])
    E = rng.exponential(1.0, (n, 6))
    u = rng.random((n, 10))
    t = {}
    t["mi"] = _weibull(E[:, 0], P["lam_mi"], 1.0, lp["mi"])
    t["cardiac_death"] = _weibull(E[:, 1], P["lam_cd"], 1.2, lp["cardiac_death"])
    t["ua_hosp"] = _weibull(E[:, 2], P["lam_ua"], 0.9, lp["ua_hosp"])
    # planned early revascularisation (<= 90 d), driven by the reported stenosis
    p_planned = expit(P["planned_c"] + 3.0 * (max_ds_read >= 0.70) + 1.5 * (max_ds_read >= 0.50))
    planned = u[:, 0] < p_planned
    t["revasc_planned_early"] = np.where(planned, (7.0 + 83.0 * u[:, 1]) / DAYS_PER_YEAR, np.inf)
    # unplanned revascularisation: hazard from day 90, halved after a planned procedure
    rv_eta = lp["revasc_unplanned"] + np.log(np.where(planned, 0.5, 1.0))
    t["revasc_unplanned"] = 90.0 / DAYS_PER_YEAR + _weibull(E[:, 3], P["lam_rv"], 0.8, rv_eta)
    # non-cardiac death: Gompertz in attained age, h = a exp(b (age - 58 + t) + eta)
    a, b = P["gompertz_a"], P["gompertz_b"]
    scale = a * np.exp(b * (c["age"] - 58.0) + lp["noncardiac_death"])
    t["noncardiac_death"] = np.log1p(b * E[:, 4] / scale) / b
    t_admin = P["fu_years"][1] - accrual_years
    t_lost = E[:, 5] / (P["lost_rate"] * lost_mult)
    terminal = np.column_stack([t["cardiac_death"], t["noncardiac_death"], t_admin, t_lost])
    which = np.argmin(terminal, axis=1)
    end = terminal[np.arange(n), which]
    reason = np.array(["death_cardiac", "death_noncardiac", "administrative", "lost"], dtype=object)[which]

    def days(x):
        return np.maximum(np.round(x * DAYS_PER_YEAR, 1), 0.1)

    out = dict(fu_days=days(end), censor_reason=reason, p_planned=p_planned)
    for k in COMPONENTS:
        if k == "cardiac_death":
            ev = which == 0
        elif k == "noncardiac_death":
            ev = which == 1
        else:
            ev = t[k] <= end
        out[f"{k}_true"] = ev
        out[f"{k}_time_true"] = np.where(ev, np.minimum(days(t[k]), out["fu_days"]), np.nan)
        out[f"{k}_latent_days"] = days(np.minimum(t[k], 1e4))
    # under-ascertainment: an event in the listed components goes unrecorded with p_missed
    recorded_all = np.ones(n, bool)
    for j, k in enumerate(COMPONENTS):
        ev = out[f"{k}_true"]
        if k in missed_components:
            miss = ev & (u[:, 3 + j] < p_missed)
            recorded_all &= ~miss
            ev = ev & ~miss
        out[k] = ev
        out[f"{k}_time"] = np.where(ev, out[f"{k}_time_true"], np.nan)
    out["event_recorded"] = recorded_all
    mi_type = np.searchsorted(np.cumsum([0.75, 0.18, 0.04, 0.03]), u[:, 2], side="right")
    out["mi_type"] = np.array([1, 2, 4, 5])[np.minimum(mi_type, 3)]
    return out
