"""radiorisk.stats.combat_fit / combat_apply against neuroCombat 0.2.12 (the reference implementation)."""

import contextlib
import io

import numpy as np
import pandas as pd
import pytest
from neuroCombat import neuroCombat

from radiorisk.exceptions import NotEstimableError
from radiorisk.stats import ComBatFit, combat_apply, combat_fit


def _matrix(seed=3, n=60, p=5):
    rng = np.random.default_rng(seed)
    batch = np.repeat(["A", "B", "C"], [25, 20, 15])
    code = np.unique(batch, return_inverse=True)[1]
    age = np.round(rng.normal(60, 10, n))  # float32-exact: neuroCombat casts continuous covariates to float32
    sex = rng.integers(0, 2, n)
    Y = rng.normal(size=(n, p)) + np.array([0, 1.0, -0.5])[code][:, None] + 0.05 * age[:, None] + 0.3 * sex[:, None]
    Y *= np.array([1, 2, 0.5])[code][:, None]
    return Y, batch, age, sex


def _reference(Y, batch, age, sex, **kw):
    cov = pd.DataFrame({"batch": batch, "age": age, "sex": sex})
    with contextlib.redirect_stdout(io.StringIO()):  # neuroCombat prints its progress
        return neuroCombat(Y.T.copy(), cov, "batch", categorical_cols=["sex"], continuous_cols=["age"], **kw)


@pytest.mark.parametrize("eb", [True, False])
def test_combat_equals_neurocombat_with_covariates(eb):
    Y, batch, age, sex = _matrix()
    ref = _reference(Y, batch, age, sex, eb=eb)
    fit = combat_fit(Y, batch, np.c_[sex, age], eb=eb)
    H = combat_apply(fit, Y, batch, np.c_[sex, age])
    assert np.abs(H - ref["data"].T).max() < 1e-10
    assert np.abs(fit.gamma_star - ref["estimates"]["gamma.star"]).max() < 1e-10
    assert np.abs(fit.delta_star - ref["estimates"]["delta.star"]).max() < 1e-10
    assert np.abs(fit.var_pooled - ref["estimates"]["var.pooled"].ravel()).max() < 1e-10
    assert fit.eb is eb and fit.batches == ("A", "B", "C")


def test_apply_to_training_rows_reproduces_their_harmonised_values():
    # (neuroCombatFromTraining cannot serve as the reference: it raises TypeError under numpy 2,
    # and it uses the training mean of the covariate term; docs/harmonisation.md)
    Y, batch, age, sex = _matrix(seed=5)
    ref = _reference(Y, batch, age, sex)["data"].T
    fit = combat_fit(Y, batch, np.c_[sex, age])
    rows = [3, 40, 59, 0]
    assert np.abs(combat_apply(fit, Y[rows], batch[rows], np.c_[sex, age][rows]) - ref[rows]).max() < 1e-10


def test_apply_keeps_nan_elementwise_and_round_trips_json():
    Y, batch, age, sex = _matrix()
    fit = combat_fit(Y, batch, np.c_[sex, age])
    Yn = Y.copy()
    Yn[0, 1] = np.nan
    H = combat_apply(ComBatFit.from_dict(fit.to_dict()), Yn, batch, np.c_[sex, age])
    H0 = combat_apply(fit, Y, batch, np.c_[sex, age])
    assert np.isnan(H[0, 1]) and np.isnan(H).sum() == 1
    assert np.array_equal(np.delete(H.ravel(), 1), np.delete(H0.ravel(), 1))


def test_refusals_name_the_rule():
    Y, batch, _, _ = _matrix()
    fit = combat_fit(Y, batch)
    with pytest.raises(NotEstimableError, match=r"batch 'D' was not seen in the fit \(batches seen: 'A', 'B', 'C'\)"):
        combat_apply(fit, Y[:2], ["A", "D"])
    with pytest.raises(NotEstimableError, match="at least two samples per batch"):
        combat_fit(Y[:26], batch[:26])
    with pytest.raises(NotEstimableError, match="at least two batches"):
        combat_fit(Y[:20], batch[:20])
