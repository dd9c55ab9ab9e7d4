"""The nested search is deterministic: a slow machine (a patched clock) computes the same thing.

Also the holdout of early stopping and the xgb-binary fix for follow-up capped at the horizon
(issue 16).
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from radiorisk.models import cross_validate_risk, make_model, make_y
from radiorisk.models._search import search_plan
from radiorisk.models._tuning import holdout_rows
from radiorisk.models._xgb import ipcw_weights

SEARCH = {"n_iter": 3, "max_rounds": 200, "early_stopping_rounds": 10}


def _cv(data, search):
    return cross_validate_risk("xgb-cox", data, blocks="clinical,ccta", horizon=1826, random_state=4,
                               repeats=1, folds=3, n_jobs=1, search=search)


def _slow_clock(monkeypatch):
    """Every call of time.perf_counter advances by 1000 s: a very slow machine."""
    state = {"t": 0.0}

    def fake():
        state["t"] += 1000.0
        return state["t"]

    monkeypatch.setattr(time, "perf_counter", fake)


def test_search_identical_on_a_slow_machine(cad_data, monkeypatch):
    fast = _cv(cad_data, SEARCH)
    _slow_clock(monkeypatch)
    slow = _cv(cad_data, SEARCH)
    np.testing.assert_array_equal(fast.oof["risk"].to_numpy(), slow.oof["risk"].to_numpy())
    assert fast.search["params"].tolist() == slow.search["params"].tolist()
    assert (slow.search["n_tried"] == 3).all() and not slow.search["truncated"].any()
    # the chosen parameters carry the early-stopped number of rounds
    chosen = [json.loads(s) for s in fast.search["params"]]
    assert all(1 <= p["n_estimators"] <= 200 for p in chosen)


def test_opt_in_budget_does_see_the_clock(cad_data, monkeypatch):
    # the patched clock is effective: with an opt-in budget the slow machine stops after 1 candidate
    _slow_clock(monkeypatch)
    capped = _cv(cad_data, {**SEARCH, "budget_seconds": 1.0})
    assert (capped.search["n_tried"] == 1).all() and capped.search["truncated"].all()
    assert any("time budget" in n for n in capped.notes)


def test_holdout_rows_stratified_and_seeded():
    e = np.r_[np.ones(30), np.zeros(70)]
    m = holdout_rows(e, 0.2, 7)
    assert int(m[e == 1].sum()) == 6 and int(m[e == 0].sum()) == 14
    np.testing.assert_array_equal(m, holdout_rows(e, 0.2, 7))
    assert not np.array_equal(m, holdout_rows(e, 0.2, 8))


def test_aft_search_space_has_sigma():
    _, cands = search_plan({"n_iter": 20}, 0, "xgb-aft")
    assert len({c["sigma"] for c in cands}) > 1 and all(c["sigma"] > 0 for c in cands)
    _, cands = search_plan({"n_iter": 5}, 0, "xgb-cox")
    assert all("sigma" not in c and "n_estimators" not in c for c in cands)


def test_search_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        search_plan({"strategy": "wall-clock"}, 0)


def test_binary_with_follow_up_capped_at_the_horizon(cohort):
    X, y = cohort
    h = 730.0
    t = np.minimum(y["time"], h)
    e = (y["event"] == 1) & (y["time"] <= h)
    capped = int(((y["time"] >= h) & ~((y["time"] == h) & (y["event"] == 1))).sum())
    assert capped > 50
    label, w = ipcw_weights(t, e, horizon=h)
    # every patient censored at the horizon is a control with a positive weight
    assert (w[(t == h) & ~e] > 0).all() and label[(t == h) & ~e].sum() == 0
    assert w.sum() == pytest.approx(len(t))
    m = make_model("xgb-binary", horizon=h, n_estimators=30, nthread=1).fit(X, make_y(t, e))
    r = m.predict_risk(X)
    assert np.isfinite(r).all() and ((r > 0) & (r < 1)).all()
    assert int((m.steps[-1][1].ipcw_weight_ > 0).sum()) == int(e.sum()) + capped
