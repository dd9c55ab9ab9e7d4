"""Validation protocol: folds, determinism across n_jobs, nested search, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from models_testdata import cox_double

from radiorisk.models._validation import (
    CVResult,
    cross_validate_risk,
    fit_final_model,
    make_folds,
    task_seed,
)


def test_folds_stratified_and_balanced():
    rng = np.random.default_rng(0)
    e = (rng.random(1003) < 0.07).astype(int)
    f = make_folds(e, folds=5, repeats=3, random_state=4)
    assert f.shape == (3, 1003)
    for r in range(3):
        sizes = np.bincount(f[r], minlength=5)
        ev = np.bincount(f[r], weights=e, minlength=5)
        assert sizes.max() - sizes.min() <= 1
        assert ev.max() - ev.min() <= 1
    assert not np.array_equal(f[0], f[1])
    np.testing.assert_array_equal(f, make_folds(e, folds=5, repeats=3, random_state=4))
    assert not np.array_equal(f, make_folds(e, folds=5, repeats=3, random_state=5))


def test_folds_grouped():
    rng = np.random.default_rng(1)
    groups = np.repeat([f"P{i}" for i in range(200)], rng.integers(1, 4, 200))
    e = np.zeros(len(groups), int)
    e[rng.random(len(groups)) < 0.1] = 1
    f = make_folds(e, groups=groups, folds=4, repeats=2, random_state=0)
    for r in range(2):
        per_group = pd.Series(f[r]).groupby(groups).nunique()
        assert (per_group == 1).all()
        g_event = pd.Series(e).groupby(groups).max()
        g_fold = pd.Series(f[r]).groupby(groups).first()
        ev_per_fold = g_event.groupby(g_fold).sum()
        assert ev_per_fold.max() - ev_per_fold.min() <= 1


def test_folds_errors():
    with pytest.raises(ValueError, match="folds must be >= 2"):
        make_folds([1, 0, 0], folds=1, random_state=0)
    with pytest.raises(ValueError, match="random_state is required"):
        task_seed(None, 1)


def test_cv_shapes_and_oof(cad_data):
    cv = cross_validate_risk(cox_double, cad_data, blocks="clinical,ccta", horizon=1826,
                             repeats=2, folds=4, random_state=0)
    assert isinstance(cv, CVResult)
    oof = cv.to_frame()
    assert list(oof.columns) == ["patient_id", "repeat", "fold", "risk", "time", "event"]
    assert len(oof) == 2 * cad_data.n
    assert oof.groupby("repeat")["patient_id"].apply(lambda s: s.is_unique).all()
    assert oof["risk"].between(0, 1).all()
    assert set(oof["fold"]) == {0, 1, 2, 3}
    assert cv.columns == tuple(cad_data.columns(["clinical", "ccta"]))
    s = cv.scores()
    assert list(s["repeat"]) == ["0", "1", "mean_risk"]
    assert (s["harrell_c"] > 0.6).all()
    assert cv.mean_risk().index.equals(cad_data.X.index)


def test_cv_out_of_fold_really(cad_data):
    """A model that memorises training rows cannot score test rows: risks come from other folds."""

    class Memo:
        def __init__(self, **kw):
            pass

        def fit(self, X, y):
            self.ids_ = set(X.index)
            return self

        def predict_risk(self, X, horizon=None):
            assert not (set(X.index) & self.ids_), "test rows were in the training fold"
            return np.full(len(X), 0.1)

    cv = cross_validate_risk(lambda **kw: Memo(**kw), cad_data, blocks="clinical", horizon=1826,
                             repeats=2, folds=3, random_state=1)
    assert (cv.oof["risk"] == 0.1).all()


def test_identical_for_any_n_jobs(cad_data):
    kw = dict(blocks="clinical,ccta", horizon=1826, repeats=2, folds=3, random_state=7,
              params={"penalizer": 0.1})
    a = cross_validate_risk("coxph", cad_data, n_jobs=1, **kw)
    b = cross_validate_risk("coxph", cad_data, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a.oof, b.oof)
    c = cross_validate_risk("coxph", cad_data, n_jobs=1, **{**kw, "random_state": 8})
    assert not c.oof["fold"].equals(a.oof["fold"])


def test_nested_search_deterministic_across_n_jobs(cad_data):
    search = {"param_distributions": {"n_estimators": [20, 40], "max_depth": [1, 2],
                                      "learning_rate": [0.1, 0.3]},
              "n_iter": 2, "inner_folds": 3}
    kw = dict(blocks="clinical,ccta,pet", horizon=1826, repeats=1, folds=3, random_state=3,
              search=search)
    a = cross_validate_risk("xgb-cox", cad_data, n_jobs=1, **kw)
    b = cross_validate_risk("xgb-cox", cad_data, n_jobs=2, **kw)
    pd.testing.assert_frame_equal(a.oof, b.oof)
    pd.testing.assert_frame_equal(a.search.drop(columns="seconds"), b.search.drop(columns="seconds"))
    assert (a.search["n_tried"] == 2).all() and not a.search["truncated"].any()
    p = json.loads(a.search["params"].iloc[0])
    assert set(p) == {"n_estimators", "max_depth", "learning_rate"}
    assert any("nested random search" in n for n in a.notes)


def test_search_budget_caps_candidates(cad_data):
    search = {"param_distributions": {"n_estimators": [30], "max_depth": [1, 2, 3]},
              "n_iter": 50, "budget_seconds": 1e-6}
    cv = cross_validate_risk("xgb-cox", cad_data, blocks="clinical", horizon=1826, repeats=1, folds=2,
                             random_state=0, search=search)
    assert (cv.search["n_tried"] == 1).all() and cv.search["truncated"].all()
    assert any("machine speed" in n for n in cv.notes)


def test_cv_errors(cad_data):
    with pytest.raises(ValueError, match="no feature column"):
        cross_validate_risk(cox_double, cad_data, blocks="radiomics", horizon=1826, random_state=0)
    with pytest.raises(ValueError, match="unknown block 'mri'"):
        cross_validate_risk(cox_double, cad_data, blocks="mri", horizon=1826, random_state=0)
    with pytest.raises(ValueError, match="random_state is required"):
        cross_validate_risk(cox_double, cad_data, blocks="clinical", horizon=1826, random_state=None)
    tiny = cad_data.subset(cad_data.X.index[:40])
    k = int(tiny.event.sum())
    with pytest.raises(ValueError, match=f"{k} event\\(s\\) among 40 rows is fewer than folds=50"):
        cross_validate_risk(cox_double, tiny, blocks="clinical", horizon=1826, random_state=0, folds=50)
    with pytest.raises(ValueError, match="search: unknown key"):
        cross_validate_risk("xgb-cox", cad_data, blocks="clinical", horizon=1826, random_state=0,
                            search={"n_iters": 3})


def test_fit_final_model(cad_data):
    est, info = fit_final_model("coxph", cad_data, blocks=["clinical"], horizon=1826, random_state=0,
                                params={"penalizer": 0.1})
    r = est.predict_risk(cad_data.X[info["columns"]], horizon=1826)
    assert r.shape == (cad_data.n,) and np.all((r >= 0) & (r <= 1))
