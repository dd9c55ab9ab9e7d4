"""Fixtures of the radiorisk.explain tests: one small assembled cohort and a fitted model of each kind."""

from __future__ import annotations

import pytest

#: Small, fast xgboost settings.
FAST = {"n_estimators": 40, "nthread": 1}


@pytest.fixture(scope="session")
def explain_data():
    """An assembled chest-pain cohort of 600 patients with PET in about 40 % (CohortData)."""
    from radiorisk.datasets import simulate_cohort
    from radiorisk.features import assemble_cohort

    return assemble_cohort(simulate_cohort(600, seed=5, pet_rate=0.4))


@pytest.fixture(scope="session")
def fitted(explain_data):
    """``{model name: fitted RiskPipeline}`` for the four model kinds."""
    from radiorisk.models import MODEL_NAMES, make_model

    out = {}
    for name in MODEL_NAMES:
        params = {"penalizer": 0.1} if name == "coxph" else {} if name == "fg" else dict(FAST)
        out[name] = make_model(name, horizon=1826.0, random_state=0, **params).fit(explain_data.X,
                                                                                  explain_data.y)
    return out
