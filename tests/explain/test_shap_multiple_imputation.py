"""SHAP of a multiply imputed Cox model: exact, and adding up to its log hazard (missing PET included)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiorisk.explain import shap_values
from radiorisk.models import make_y
from radiorisk.models._impute_model import make_mi_model


def _fitted():
    rng = np.random.default_rng(0)
    n = 300
    X = pd.DataFrame({"age": rng.normal(60, 8, n), "tbr": rng.normal(1.5, 0.3, n)})
    y = make_y(rng.exponential(900 / np.exp(0.03 * (X["age"] - 60) + 0.8 * (X["tbr"] - 1.5))) + 1,
               rng.random(n) < 0.7)
    X.loc[rng.random(n) < 0.4, "tbr"] = np.nan
    return make_mi_model(3, horizon=365.0, random_state=1).fit(X, y), X


def test_values_add_up_to_the_log_hazard():
    est, X = _fitted()
    res = shap_values(est, X.iloc[:40])
    final = est.steps[-1][1]
    Z = est[:-1].transform(X.iloc[:40])
    margin = final.predict_log_hazard(Z)
    vals = np.asarray(res.values, dtype=float)
    assert np.allclose(res.base_value + vals.sum(axis=1), margin, atol=1e-10)
    assert np.isfinite(vals).all()  # patients without tbr get its imputed contribution


def test_against_a_background_the_values_are_centred_on_it():
    est, X = _fitted()
    res = shap_values(est, X.iloc[:20], background=X.iloc[100:200])
    Z = est[:-1].transform(X.iloc[:20])
    margin = est.steps[-1][1].predict_log_hazard(Z)
    assert np.allclose(res.base_value + np.asarray(res.values, dtype=float).sum(axis=1), margin, atol=1e-10)
