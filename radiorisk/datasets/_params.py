"""Parameters of the synthetic cohort's latent causal model, per mode (DOMAIN.md section 6).

Calibrated against the published targets; ``docs/synthetic_cohort.md`` lists
the equations the parameters enter and the achieved calibration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..exceptions import RadioriskError

__all__ = ["COMMON_PARAMS", "DEFAULT_MACE", "MODES", "MODE_PARAMS", "check_mace_definition",
           "check_mode", "model_parameters"]

MODES = ("chest-pain", "established-cad")
DEFAULT_MACE = "mi+cardiac_death+ua_hosp+revasc_unplanned"
_MACE_RE = re.compile(r"^(mi|cardiac_death|ua_hosp|revasc_unplanned)(\+(mi|cardiac_death|ua_hosp|revasc_unplanned))*$")

#: Parameters shared by both modes (DOMAIN.md 6; calibrated, see docs/synthetic_cohort.md).
COMMON_PARAMS: dict[str, Any] = dict(
    # latent model
    male_A=0.75, clin_scale=0.7, A_noise=1.3, zA=0.20, zV=0.35, zN=1.10,
    # lesions
    les_c=0.9, plaque_c=0.20, pb_mu=-0.2, lap_mu=-2.0, ri0=0.84, pr_thr=1.10, ds_read_sd=0.12,
    # calcium: CAC = calcified volume x lognormal(cac_mu, cac_sd), zero below 1
    cac_mu=0.3, cac_sd=1.75, cac_pow=1.07,
    # PET
    cma_mu=0.0,
    # MI hazard (eta) coefficients
    b_age=0.03, b_male=0.08, b_dm=0.35, b_smoke=0.30, b_htn=0.15, b_ldl=0.15,
    g_A=0.25, g_V=0.20, g_Z=1.20,
    # competing death (Gompertz in age, per year) and loss to follow-up (per year)
    gompertz_a=0.004, gompertz_b=0.09, lost_rate=0.02,
)
#: Mode-specific parameters.
MODE_PARAMS: dict[str, dict[str, Any]] = {
    "chest-pain": dict(
        p_male=0.56, age_mu=58.0, age_sd=10.0, statin=0.35, A_threshold=None,
        lam_mi=4.25e-4, lam_cd=1.5e-4, lam_ua=1.2e-3, lam_rv=1.5e-3, planned_c=-4.5,
        cma_thr=0.9, fu_years=(3.0, 7.0), start_date="2011-01-01", pet_rate=0.10,
        symptom_p=(0.35, 0.24, 0.41, 0.0), prior_logit=(-4.0, -4.0, -5.5), pet_sites=(0, 1),
    ),
    "established-cad": dict(
        p_male=0.84, age_mu=65.0, age_sd=9.0, statin=0.90, A_threshold=0.6,
        lam_mi=6.3e-4, lam_cd=1.5e-4, lam_ua=1.2e-3, lam_rv=1.5e-3, planned_c=-4.5,
        cma_thr=0.22, fu_years=(3.0, 5.5), start_date="2015-01-01", pet_rate=1.0,
        symptom_p=(0.30, 0.20, 0.20, 0.30), prior_logit=(-1.0, -0.2, -2.5), pet_sites=tuple(range(8)),
    ),
}


def model_parameters(mode: str = "chest-pain", overrides: Mapping | None = None) -> dict:
    """The full parameter set of a mode, with optional overrides (unknown keys are an error).

    Examples
    --------
    >>> model_parameters("established-cad")["lam_mi"]
    0.00063
    """
    mode = check_mode(mode)
    P = dict(COMMON_PARAMS)
    P.update(MODE_PARAMS[mode])
    for k, v in (overrides or {}).items():
        if k not in P:
            raise RadioriskError(f"unknown model parameter {k!r}; known: {', '.join(sorted(P))}")
        P[k] = v
    return P


def check_mode(mode: str) -> str:
    """The canonical spelling of a mode (``_`` accepted for ``-``); an unknown mode is an error.

    Examples
    --------
    >>> check_mode("established_cad")
    'established-cad'
    """
    m = str(mode).replace("_", "-")
    if m not in MODES:
        raise RadioriskError(f"mode={mode!r} is not one of {list(MODES)}")
    return m


def check_mace_definition(mace_definition: str) -> None:
    """Refuse a MACE definition that is not ``+``-joined components.

    Examples
    --------
    >>> check_mace_definition("mi+cardiac_death")
    """
    if not _MACE_RE.match(str(mace_definition)):
        raise RadioriskError(
            f"mace_definition={mace_definition!r}: use '+'-joined components of "
            "mi, cardiac_death, ua_hosp, revasc_unplanned"
        )
