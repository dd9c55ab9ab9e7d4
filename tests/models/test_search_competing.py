"""The nested search under competing risks ranks candidates by brier_cr (c_cr breaks ties), not the censoring Brier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cr_testdata import competing_cohort

from radiorisk.datasets import simulate_cohort
from radiorisk.features import assemble_cohort
from radiorisk.models import (
    CauseSpecificCoxRisk,
    CoxPHRisk,
    cross_validate_risk,
    make_model,
    make_y,
)
from radiorisk.models._folds import make_folds, task_seed
from radiorisk.models._search import (
    _check_search,
    _search_holdout,
    describe_search,
    search_criterion,
    timed_search,
)
from radiorisk.stats import brier_cr, brier_t, c_cr

H = 1000.0


def _pick(random_state, params):
    """A search factory. Candidate ``cif``: cause-specific Cox (cumulative incidence); ``km``: Cox of MACE with
    competing events censored (1 - KM-type risk); the search's round settings are ignored."""
    return CauseSpecificCoxRisk(horizon=H) if params["which"] == "cif" else CoxPHRisk(horizon=H)


@pytest.fixture(scope="module")
def data():
    X, y = competing_cohort(900, 41, comp_rate=1 / 350)  # heavy competing mortality
    return X, y["time"], y["event"].astype(float), y["event_type"].astype(int)


def _holdout_scores(X, t, e, status, seed):
    """Both candidates fitted outside inner fold 0 and scored on it, independently of the search code."""
    fold = make_folds(e, groups=np.arange(len(t)), folds=3, repeats=1, random_state=task_seed(seed, 1))[0]
    tr, va = fold != 0, fold == 0
    out = {}
    for which in ("cif", "km"):
        r = _pick(0, {"which": which}).fit(X[tr], make_y(t[tr], None, event_type=status[tr])).predict_risk(X[va], H)
        out[which] = {"brier_cr": brier_cr(t[va], status[va], r, horizon=H).estimate,
                      "c_cr": c_cr(t[va], status[va], r, horizon=H),
                      "brier": brier_t(t[va], e[va], r, horizon=H).estimate}
    return out


def test_competing_search_picks_by_brier_cr(data):
    X, t, e, status = data
    s = _check_search({"n_iter": 2, "inner_folds": 3, "inner_splits": 1})
    cands = [{"which": "cif"}, {"which": "km"}]
    ref = _holdout_scores(X, t, e, status, seed=7)
    # the two criteria disagree on these candidates
    assert ref["km"]["brier"] < ref["cif"]["brier"] and ref["cif"]["brier_cr"] < ref["km"]["brier_cr"]
    params, info = timed_search(_pick, X, t, e, np.arange(len(t)), cands, s, seed=7, horizon=H, status=status)
    assert info["criterion"] == "competing" and params["which"] == "cif"
    assert info["inner_brier_cr"] == pytest.approx(ref["cif"]["brier_cr"], abs=1e-12)
    assert info["inner_c_cr"] == pytest.approx(ref["cif"]["c_cr"], abs=1e-12)
    assert "inner_harrell_c" not in info
    # the censoring criterion on the same fits picks the other one (what the search did before)
    params0, info0 = _search_holdout(_pick, X, t, e, np.arange(len(t)), cands, s, seed=task_seed(7, 1), horizon=H,
                                     notes=[], status=status, crit="censoring")
    assert params0["which"] == "km" and info0["inner_brier"] == pytest.approx(ref["km"]["brier"], abs=1e-12)


def test_inner_cv_strategy_ranks_by_c_cr(data):
    """The inner-cv strategy ranks by C: Harrell's for a censoring-mode probe, c_cr for a competing-risk one."""
    X, t, e, status = data
    s = {"strategy": "inner-cv", "n_iter": 2, "inner_folds": 3, "inner_splits": 1, "budget_seconds": None}
    cands = [{"which": "km"}, {"which": "cif"}]
    # km first: the probe is a censoring-mode model, so the censoring criterion applies (Harrell's C)
    _, info = timed_search(_pick, X, t, e, np.arange(len(t)), cands, s, seed=3, horizon=H, status=status)
    assert info["criterion"] == "censoring" and "inner_harrell_c" in info
    cands = [{"which": "cif"}, {"which": "km"}]
    _, info = timed_search(_pick, X, t, e, np.arange(len(t)), cands, s, seed=3, horizon=H, status=status)
    assert info["criterion"] == "competing" and np.isfinite(info["inner_c_cr"])


def test_search_criterion_rule():
    cs = make_model("coxph", competing_risks=True)
    assert search_criterion(cs, np.array([0, 1, 2])) == "competing"
    assert search_criterion(cs, np.array([0, 1, 1])) == "censoring"  # no competing event in the target
    assert search_criterion(cs, None) == "censoring"
    assert search_criterion(make_model("xgb-aft"), np.array([0, 1, 2])) == "censoring"
    assert search_criterion(make_model("xgb-aft", competing_risks=True), np.array([2, 1])) == "competing"
    with pytest.raises(ValueError, match="criterion must be one of"):
        describe_search({"strategy": "holdout"}, "cr")


def test_cross_validation_reports_the_competing_criterion():
    data = assemble_cohort(simulate_cohort(300, seed=4), competing="competing")
    assert (data.event_type == 2).any()
    model = make_model("xgb-cox", competing_risks=True, nthread=1)
    search = {"n_iter": 2, "inner_splits": 1, "max_rounds": 20, "early_stopping_rounds": 5}
    cv = cross_validate_risk(model, data, blocks="clinical", horizon=1826, repeats=1, folds=2, random_state=0,
                             search=search)
    assert isinstance(cv.search, pd.DataFrame)
    assert {"inner_c_cr", "inner_brier_cr"} <= set(cv.search.columns) and "inner_harrell_c" not in cv.search
    assert any("competing-risk Brier score of MACE (brier_cr" in n for n in cv.notes)
    plain = cross_validate_risk(make_model("xgb-cox", nthread=1), data, blocks="clinical", horizon=1826, repeats=1,
                                folds=2, random_state=0, search=search)
    assert "inner_harrell_c" in plain.search.columns and not any("brier_cr" in n for n in plain.notes)
