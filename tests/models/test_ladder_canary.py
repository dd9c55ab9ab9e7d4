"""Leakage canary: with the outcome permuted, the whole protocol gives C = 0.50 +- 0.03.

Under the null the C of n_e events against n_c non-events has an SE of about
sqrt((n_e + n_c + 1) / (12 n_e n_c)); the cohorts below have several hundred
events so that +-0.03 is about 2 SE (fast) and more than 3 SE (slow).  Any
leakage of the outcome into the features, the preprocessing, the search or
the folds raises C above that band.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import simulate_cohort
from radiorisk.features._assemble import assemble_cohort
from radiorisk.models._validation import cross_validate_risk


def _permuted(data, seed):
    rng = np.random.default_rng(seed)
    p = rng.permutation(data.n)
    return replace(data, time=pd.Series(data.time.to_numpy()[p], index=data.X.index, name="time"),
                   event=pd.Series(data.event.to_numpy()[p], index=data.X.index, name="event"))


def _null_se(data):
    ne = int(data.event.sum())
    nc = data.n - ne
    return np.sqrt((data.n + 1) / (12 * ne * nc))


@pytest.fixture(scope="module")
def null_data():
    data = assemble_cohort(simulate_cohort(4000, mode="established-cad", seed=21))
    return _permuted(data, 0)


def test_canary_coxph(null_data):
    assert 2 * _null_se(null_data) <= 0.03
    cv = cross_validate_risk("coxph", null_data, blocks="clinical,ccta,pet", horizon=1826,
                             repeats=2, folds=5, random_state=0, params={"penalizer": 0.1})
    s = cv.scores()
    assert abs(s["harrell_c"].iloc[-1] - 0.5) <= 0.03
    assert (abs(s["harrell_c"].iloc[:-1] - 0.5) <= 0.03).all()


def test_canary_xgb_with_search(null_data):
    search = {"param_distributions": {"n_estimators": [30, 60], "max_depth": [2, 3],
                                      "learning_rate": [0.1, 0.3]}, "n_iter": 2}
    cv = cross_validate_risk("xgb-cox", null_data, blocks="clinical,ccta,pet", horizon=1826,
                             repeats=1, folds=5, random_state=1, search=search, n_jobs=2)
    assert abs(cv.scores()["harrell_c"].iloc[-1] - 0.5) <= 0.03


@pytest.mark.slow
def test_canary_full_protocol_large():
    data = _permuted(assemble_cohort(simulate_cohort(10000, mode="established-cad", seed=22)), 1)
    assert 3 * _null_se(data) <= 0.03
    for model, kw in (("coxph", {"params": {"penalizer": 0.1}}),
                      ("xgb-cox", {"search": {"n_iter": 4}}),
                      ("xgb-binary", {"search": {"n_iter": 4}})):
        cv = cross_validate_risk(model, data, blocks="clinical,ccta,pet", horizon=1826, repeats=2,
                                 folds=5, random_state=2, n_jobs=2, **kw)
        s = cv.scores()
        assert abs(s["harrell_c"].iloc[-1] - 0.5) <= 0.03, (model, s)
        assert abs(s["uno_c"].iloc[-1] - 0.5) <= 0.04, (model, s)
