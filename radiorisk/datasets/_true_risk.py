"""The true risk of MACE of each simulated patient, from the generator's own hazards.

The generator draws each cause from a proportional-hazards model with the patient's linear predictor
(:mod:`radiorisk.datasets._outcomes`): Weibull MI, cardiac death and unstable-angina hospitalisation,
unplanned revascularisation from day 90 (hazard halved after a planned early procedure, which happens
with the recorded probability ``p_planned_revasc``), and non-cardiac death Gompertz in attained age.
So the true risk by a horizon is known, and a model or an audit can be judged against it:

- ``competing=True``: the **cumulative incidence** of MACE by :math:`t_0` with the deaths that are
  not MACE components as competing events,
  :math:`F_1(t_0) = \\int_0^{t_0} h_{MACE}(u)\\, e^{-H_{MACE}(u) - H_{D}(u)}\\, du`
  (what the Aalen–Johansen estimator estimates);
- ``competing=False``: the **net risk** :math:`1 - e^{-H_{MACE}(t_0)}`, the risk in a world without the
  competing deaths (what 1 − Kaplan–Meier estimates when those deaths are censored).

Both are mixtures over the planned-revascularisation indicator. The integral is computed on a grid
of ``steps`` intervals with the exact cause-specific cumulative hazards (the density of the mixture
weights is exact; the only approximation is the midpoint rule for :math:`e^{-H}`, whose error is below
1e-6 at the default grid). Ages are the recorded ones (0.1-year precision), which moves the
competing hazard by at most 0.45 %.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._outcomes import DAYS_PER_YEAR
from ._params import DEFAULT_MACE

__all__ = ["true_mace_risk"]

_RHO = {"mi": 1.0, "cardiac_death": 1.2, "ua_hosp": 0.9, "revasc_unplanned": 0.8}
_LAM = {"mi": "lam_mi", "cardiac_death": "lam_cd", "ua_hosp": "lam_ua", "revasc_unplanned": "lam_rv"}
_RV_START = 90.0 / DAYS_PER_YEAR


def _cause_H(k: str, t: np.ndarray, lam: float, lp: np.ndarray) -> np.ndarray:
    """Cumulative hazard of cause ``k`` at the times ``t`` (years), shape (n, len(t))."""
    if k == "revasc_unplanned":
        tt = np.maximum(t - _RV_START, 0.0)
    else:
        tt = t
    return lam * np.exp(lp)[:, None] * tt[None, :] ** _RHO[k]


def true_mace_risk(cohort, horizon: float = 1826.0, *, competing: bool = True, mace=DEFAULT_MACE,
                   steps: int = 4000) -> pd.Series:
    """True risk of MACE by ``horizon`` days of every patient of a simulated cohort.

    Parameters
    ----------
    cohort : SyntheticCohort
        From :func:`radiorisk.datasets.simulate_cohort` (its ``truth``, ``patients`` and ``params``).
    horizon : float
        Days.
    competing : bool
        True: cumulative incidence with the non-MACE deaths competing; False: the net risk (those
        deaths censored, as 1 − Kaplan–Meier estimates it).
    mace : str or sequence of str
        MACE components (``"mi+cardiac_death+..."`` or a list), among ``mi, cardiac_death, ua_hosp, revasc_unplanned``; cardiac death that is
        not a component competes.
    steps : int
        Grid intervals of the integral.

    Returns
    -------
    Series
        Indexed by ``patient_id``.

    Raises
    ------
    ValueError
        A MACE component the generator does not model with a hazard, or a horizon <= 0.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> c = simulate_cohort(2000, mode="established-cad", seed=1)
    >>> f1, net = true_mace_risk(c), true_mace_risk(c, competing=False)
    >>> bool((f1 <= net).all()), round(float(f1.mean()), 3) < round(float(net.mean()), 3)
    (True, True)
    """
    mace = tuple(mace.split("+")) if isinstance(mace, str) else tuple(mace)
    bad = [m for m in mace if m not in _RHO]
    if bad:
        raise ValueError(f"mace: {bad[0]!r} has no hazard in the generator; use {sorted(_RHO)}")
    if not horizon > 0:
        raise ValueError(f"horizon must be > 0 days; got {horizon!r}")
    n = len(cohort.patients)
    chunk = 2000  # bounded memory: (chunk, steps + 1) arrays
    out = np.concatenate([_risk_rows(cohort, slice(i, min(i + chunk, n)), float(horizon), competing, tuple(mace),
                                     int(steps)) for i in range(0, n, chunk)]) if n else np.zeros(0)
    return pd.Series(out, index=cohort.patients["patient_id"].astype(str).to_numpy(), name="true_risk")


def _risk_rows(cohort, rows: slice, horizon: float, competing: bool, mace: tuple, steps: int) -> np.ndarray:
    P, tr = cohort.params, cohort.truth.iloc[rows]
    grid = np.linspace(0.0, horizon / DAYS_PER_YEAR, steps + 1)
    lp = {k: tr[f"lp_{k}"].to_numpy(float) for k in _RHO}
    planned_p = tr["p_planned_revasc"].to_numpy(float)
    age = cohort.patients["age_years"].iloc[rows].to_numpy(float)
    a, b = P["gompertz_a"], P["gompertz_b"]
    scale = a * np.exp(b * (age - 58.0) + tr["lp_noncardiac_death"].to_numpy(float))
    H_death = (scale / b)[:, None] * np.expm1(b * grid)[None, :]
    if "cardiac_death" not in mace:
        H_death = H_death + _cause_H("cardiac_death", grid, P[_LAM["cardiac_death"]], lp["cardiac_death"])
    out = np.zeros(len(age))
    for planned, weight in ((True, planned_p), (False, 1.0 - planned_p)):
        H_m = np.zeros((len(age), grid.size))
        for k in mace:
            eta = lp[k] + (np.log(0.5) if (k == "revasc_unplanned" and planned) else 0.0)
            H_m = H_m + _cause_H(k, grid, P[_LAM[k]], eta)
        if competing:
            H_all = H_m + H_death
            surv_mid = np.exp(-0.5 * (H_all[:, 1:] + H_all[:, :-1]))
            risk = np.sum(np.diff(H_m, axis=1) * surv_mid, axis=1)
        else:
            risk = -np.expm1(-H_m[:, -1])
        out += weight * risk
    return out
