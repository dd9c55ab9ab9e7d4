"""Fixtures for the ladder tests: synthetic cohorts and a small Cox test double.

``cox_double`` is a stand-in estimator with the radiorisk.models interface
(fit(X, y), predict_risk(X, horizon)), used until/unless radiorisk.models.make_model
is importable; it lives here, never in library code.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import simulate_cohort
from radiorisk.features._assemble import assemble_cohort


class CoxDouble:
    """Ridge-free Cox on median-imputed, standardised columns (exact fitter of radiorisk.evaluation)."""

    def __init__(self, *, random_state=0, horizon=1826.0, **params):
        self.random_state = random_state
        self.horizon = horizon
        self.params = params

    def fit(self, X, y):
        from radiorisk.evaluation import fit_cox

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
    return CoxDouble(random_state=random_state, **params)


def real_models_available() -> bool:
    try:
        from radiorisk.models import make_model  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def cad_cohort():
    return simulate_cohort(600, mode="established-cad", seed=11)


@pytest.fixture(scope="session")
def cad_data(cad_cohort):
    return assemble_cohort(cad_cohort, horizon=1826)


@pytest.fixture(scope="session")
def chest_cohort():
    return simulate_cohort(1500, mode="chest-pain", seed=12)
