"""Shared data, settings and test doubles of the radiorisk.models tests (a uniquely named helper module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from radiorisk.datasets import simulate_cohort
from radiorisk.models import make_y
from radiorisk.stats import fit_cox

#: The R reference files, kept in the repository (tests/reference/README.md).
REFEREE_DIR = Path(__file__).resolve().parents[1] / "reference" / "referee"

#: Small, fast settings of the xgboost models in tests.
FAST_XGB = {"n_estimators": 25, "nthread": 1}


def fast_params(name: str) -> dict:
    """Parameters keeping each model fast in tests."""
    return {} if name in ("coxph", "fg") else dict(FAST_XGB)


def cohort_xy(n: int, seed: int, *, pet_rate: float = 0.4):
    """X (clinical, CCTA and PET columns; NaN where no PET) and y (MACE) of a synthetic cohort."""
    c = simulate_cohort(n, seed=seed, pet_rate=pet_rate)
    X = pd.concat([
        c.patients[["age_years", "sex", "diabetes", "smoking", "hypertension", "ldl_mmol_l"]],
        c.scans[["cac_agatston", "tpv_mm3", "lapv_mm3", "max_stenosis_pct"]],
        c.pet[["cma_patient", "tbr_max_patient"]],
    ], axis=1)
    oc = c.outcomes
    time = np.where(oc["mace_event"], oc["mace_time_days"], oc["fu_days"])
    return X, make_y(time, oc["mace_event"])


class CoxDouble:
    """Ridge-free Cox on median-imputed, standardised columns (the exact fitter of radiorisk.stats).

    A stand-in estimator with the radiorisk.models interface (``fit(X, y)``,
    ``predict_risk(X, horizon)``) for the cross-validation tests; it lives
    here, never in library code.
    """

    def __init__(self, *, random_state=0, horizon=1826.0, **params):
        self.random_state = random_state
        self.horizon = horizon
        self.params = params

    def fit(self, X, y):
        X = pd.DataFrame(X)
        self.med_ = X.median()
        Z = X.fillna(self.med_)
        self.mu_, self.sd_ = Z.mean(), Z.std().replace(0, 1.0)
        Z = ((Z - self.mu_) / self.sd_).to_numpy(float)
        self.fit_ = fit_cox(Z, y["time"], y["event"].astype(float), ties="breslow", tol=1e-8)
        return self

    def _z(self, X):
        return ((pd.DataFrame(X).fillna(self.med_) - self.mu_) / self.sd_).to_numpy(float)

    def predict_risk(self, X, horizon=None):
        h = self.horizon if horizon is None else horizon
        s = self.fit_.survival([h], self._z(X))
        return np.clip(1.0 - np.asarray(s, float).reshape(-1), 0.0, 1.0)


def cox_double(*, random_state=0, **params):
    """A factory of :class:`CoxDouble` (the ``model`` argument of cross_validate_risk)."""
    return CoxDouble(random_state=random_state, **params)
