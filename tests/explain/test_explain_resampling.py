"""Explanations and patient intervals resample with the one engine (radiorisk.stats.StratifiedBootstrap).

Replicate b of every bootstrap (risk_intervals refits, effect_modification_test refits,
shap_by_subgroup CIs) is StratifiedBootstrap's replicate b, so it does not depend on n_boot
or on how replicates are blocked; permutation b of shap_by_subgroup's tests draws from
StratifiedBootstrap.permutation_rng(random_state, b), so the tests do not depend on n_boot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone

from radiorisk.explain import ShapResult, shap_by_subgroup, shap_values
from radiorisk.explain._effect import _group_effects, _groups_in_order, _refit_differences
from radiorisk.explain._groups import shap_arrays
from radiorisk.explain._subgroup import _group_replicates, _permutation
from radiorisk.explain._uncertainty import _bootstrap_risks
from radiorisk.models import make_model
from radiorisk.stats import StratifiedBootstrap

COLS = ["age_years", "sex_male", "diabetes", "log1p_cac_agatston"]


def _cox(data):
    return make_model("coxph", penalizer=0.1).fit(data.X[COLS], data.y)


def test_risk_interval_refit_b_is_the_engines_replicate_b(explain_data):
    X, y = explain_data.X[COLS], explain_data.y
    model = _cox(explain_data)
    R5 = _bootstrap_risks(model, X.iloc[:30], 1826.0, X, y, n_boot=5, seed=4, notes=[])
    R3 = _bootstrap_risks(model, X.iloc[:30], 1826.0, X, y, n_boot=3, seed=4, notes=[])
    np.testing.assert_array_equal(R5[:3], R3)  # refit b does not depend on n_boot
    idx = StratifiedBootstrap(np.zeros(len(X)), 5, 4).replicate(4)
    ref = clone(model).fit(X.iloc[idx], np.asarray(y)[idx]).predict_risk(X.iloc[:30], 1826.0)
    np.testing.assert_array_equal(R5[4], ref)


def test_effect_refit_b_is_the_engines_replicate_b(explain_data):
    X, y = explain_data.X[COLS], np.asarray(explain_data.y)
    model = _cox(explain_data)
    lab, _, order = _groups_in_order(explain_data.groups, X.index, "sex", None)
    names = tuple(COLS)
    kw = dict(n_boot=4, blocks=None, seed=9)
    boots, failed = _refit_differences(model, X, y, names, lab, order, **kw)
    assert failed == 0
    short, _ = _refit_differences(model, X, y, names, lab, order, **{**kw, "n_boot": 2})
    np.testing.assert_array_equal(np.stack(boots[:2]), np.stack(short))
    idx = StratifiedBootstrap(np.zeros(len(X)), 4, 9).replicate(3)
    rb = shap_values(clone(model).fit(X.iloc[idx], y[idx]), X, check_additivity=False)
    e = _group_effects(rb, lab, order)
    np.testing.assert_array_equal(boots[3], e[1:] - e[0])


def _toy_result(n=400, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n).astype(object)
    sex[:7] = None  # missing labels: a stratum of their own, never reported
    x = rng.integers(0, 2, n).astype(float)
    v = np.column_stack([x * np.where(sex == "female", 1.0, 0.4), rng.normal(0, 0.1, n)])
    res = ShapResult(values=v, base_value=0.0, data=pd.DataFrame({"hrp": x, "age": rng.normal(size=n)}),
                     feature_names=("hrp", "age"), blocks=("ccta", "clinical"), scale="log-hazard",
                     model_kind="other", method="given", background="-")
    return res, sex


def test_subgroup_replicate_b_is_the_engines_replicate_b():
    res, sex = _toy_result()
    arr = shap_arrays(res)
    labels = ["female", "male"]
    boot = _group_replicates(arr, sex, labels, n_boot=300, seed=5)  # 300 > one block of 256
    strata = np.array([0 if s is None else 1 + labels.index(s) for s in sex])
    bs = StratifiedBootstrap(strata, 300, 5)
    for b in (0, 100, 299):
        idx = bs.replicate(b)
        for g in labels:
            rows = np.flatnonzero(sex == g)
            assert set(idx[rows]) <= set(rows)  # resampled within the group
            np.testing.assert_allclose(boot[g][0][b], np.abs(arr.V[idx[rows]]).mean(axis=0), rtol=1e-13)
    small = _group_replicates(arr, sex, labels, n_boot=10, seed=5)
    for g in labels:
        np.testing.assert_array_equal(small[g][0], boot[g][0][:10])
        np.testing.assert_array_equal(small[g][1], boot[g][1][:10])


def test_permutation_b_and_tests_independent_of_n_boot():
    res, sex = _toy_result(seed=1)
    keep = np.flatnonzero(np.array([s is not None for s in sex]))
    codes = (sex[keep] == "male").astype(int)
    arr = shap_arrays(res).rows(keep)
    _, _, ni, _ = _permutation(codes, 2, arr, 20, 3)
    perm = StratifiedBootstrap.permutation_rng(3, 17).permutation(codes)
    m = np.array([arr.A[perm == k].mean(axis=0) for k in (0, 1)])
    np.testing.assert_allclose(ni[17], np.ptp(m, axis=0), rtol=1e-13)
    a = shap_by_subgroup(res, {"sex": sex}, n_boot=20, n_perm=49, random_state=3)
    b = shap_by_subgroup(res, {"sex": sex}, n_boot=60, n_perm=49, random_state=3)
    pd.testing.assert_frame_equal(a.tests, b.tests, check_exact=True)
