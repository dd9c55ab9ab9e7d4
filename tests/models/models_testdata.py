"""Shared data and settings of the radiorisk.models tests (a uniquely named helper module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: The R reference files, kept in the repository (tests/reference/README.md).
REFEREE_DIR = Path(__file__).resolve().parents[1] / "reference" / "referee"

#: Small, fast settings of the xgboost models in tests.
FAST_XGB = {"n_estimators": 25, "nthread": 1}


def fast_params(name: str) -> dict:
    """Parameters keeping each model fast in tests."""
    return {} if name == "coxph" else dict(FAST_XGB)


def cohort_xy(n: int, seed: int, *, pet_rate: float = 0.4):
    """X (clinical, CCTA and PET columns; NaN where no PET) and y (MACE) of a synthetic cohort."""
    from radiorisk.datasets import simulate_cohort
    from radiorisk.models import make_y

    c = simulate_cohort(n, seed=seed, pet_rate=pet_rate)
    X = pd.concat([
        c.patients[["age_years", "sex", "diabetes", "smoking", "hypertension", "ldl_mmol_l"]],
        c.scans[["cac_agatston", "tpv_mm3", "lapv_mm3", "max_stenosis_pct"]],
        c.pet[["cma_patient", "tbr_max_patient"]],
    ], axis=1)
    oc = c.outcomes
    time = np.where(oc["mace_event"], oc["mace_time_days"], oc["fu_days"])
    return X, make_y(time, oc["mace_event"])
