"""No missingness indicator that copies a complete 0/1 input (``pet_available``): the unpenalised Cox fits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiorisk.models._preprocess import ModalityPreprocessor


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    pet = rng.random(n) < 0.3
    return pd.DataFrame({"age": rng.normal(60, 8, n), "pet_available": pet.astype(float),
                         "cma": np.where(pet, rng.gamma(2, 1, n), np.nan),
                         "tbr": np.where(pet, rng.normal(1.5, 0.3, n), np.nan),
                         "ldl": np.where(rng.random(n) < 0.1, np.nan, rng.normal(3, 1, n))})


def test_the_indicator_of_a_pattern_an_input_already_states_is_not_added():
    X = _frame()
    out = ModalityPreprocessor(impute="median", missing_indicator=True).fit_transform(X)
    assert "cma_missing" not in out.columns  # pet_available == 1 - (cma missing)
    assert "ldl_missing" in out.columns      # no input says where ldl is missing
    assert list(out.columns) == ["age", "pet_available", "cma", "tbr", "ldl", "ldl_missing"]
    # the complement too: a column that is 1 where PET is missing
    X2 = X.assign(pet_available=1.0 - X["pet_available"]).rename(columns={"pet_available": "no_pet"})
    assert "cma_missing" not in ModalityPreprocessor(impute="median", missing_indicator=True).fit_transform(X2)


def test_an_incomplete_or_different_binary_column_keeps_the_indicator():
    X = _frame()
    X.loc[X.index[0], "pet_available"] = np.nan  # no longer complete: it cannot stand for the pattern
    assert "cma_missing" in ModalityPreprocessor(impute="median", missing_indicator=True).fit_transform(X)
    X = _frame()
    X.loc[X.index[X["pet_available"] == 1][0], "cma"] = np.nan  # one PET patient without cma
    out = ModalityPreprocessor(impute="median", missing_indicator=True).fit_transform(X)
    assert "cma_missing" in out and "tbr_missing" not in out  # tbr's pattern is pet_available's


def test_unpenalised_cox_fits_on_a_partial_pet_cohort():
    from radiorisk.datasets import simulate_cohort
    from radiorisk.features import assemble_cohort
    from radiorisk.models import make_model, make_y

    data = assemble_cohort(simulate_cohort(1500, mode="chest-pain", seed=3))
    cols = ["age_years", "sex_male", "diabetes", *data.blocks["pet"]]  # PET in about 10 %: pet_available
    assert 0 < data.X["pet_available"].mean() < 0.3
    model = make_model("coxph", horizon=1826.0).fit(data.X[cols], make_y(data.time, data.event))
    assert np.isfinite(model.predict_risk(data.X[cols])).all()
