"""Category-free NRI and IDI at the horizon on toy data with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.evaluation import NotEstimableError
from radiorisk.stats import category_free_nri, integrated_discrimination_improvement


def test_no_censoring_reduces_to_binary_definitions():
    # 4 events by t0=10 (times 1..4), 6 event-free beyond t0 (times 20..25)
    t = np.array([1, 2, 3, 4, 20, 21, 22, 23, 24, 25], float)
    e = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    old = np.array([.2, .3, .4, .5, .1, .2, .3, .4, .5, .6])
    new = np.array([.4, .5, .3, .5, .05, .1, .35, .4, .3, .2])
    # events: up 2, down 1, tie 1 -> 1/4; non-events: down 4, up 1, tie 1 -> 3/6
    r = category_free_nri(t, e, old, new, horizon=10)
    assert r.events == pytest.approx(0.25)
    assert r.nonevents == pytest.approx(0.5)
    assert r.nri == pytest.approx(0.75)
    assert r.p_up == pytest.approx(0.3) and r.p_down == pytest.approx(0.5)
    d = integrated_discrimination_improvement(t, e, old, new, horizon=10)
    slope_old = old[:4].mean() - old[4:].mean()
    slope_new = new[:4].mean() - new[4:].mean()
    assert d.slope_old == pytest.approx(slope_old)
    assert d.slope_new == pytest.approx(slope_new)
    assert d.idi == pytest.approx(slope_new - slope_old)


def test_censored_km_and_ipcw_by_hand():
    # times, events; t0 = 5. Censored at 2 and 4 (before t0).
    t = np.array([1, 2, 3, 4, 6, 7, 8, 3.5], float)
    e = np.array([1, 0, 1, 0, 0, 0, 0, 1])
    old = np.array([.5, .2, .3, .1, .2, .3, .4, .3])
    new = np.array([.6, .3, .2, .2, .1, .3, .5, .5])
    # up: idx 0,1,3,6,7 ; down: 2,4 ; tie: 5
    def km(tt, ee, t0):
        s = 1.0
        for u in np.unique(tt[(ee == 1) & (tt <= t0)]):
            s *= 1 - ((tt == u) & (ee == 1)).sum() / (tt >= u).sum()
        return s
    S, Su, Sd = km(t, e, 5), km(t[[0, 1, 3, 6, 7]], e[[0, 1, 3, 6, 7]], 5), km(t[[2, 4]], e[[2, 4]], 5)
    pu, pdn = 5 / 8, 2 / 8
    ev = ((1 - Su) * pu - (1 - Sd) * pdn) / (1 - S)
    ne = (Sd * pdn - Su * pu) / S
    r = category_free_nri(t, e, old, new, horizon=5)
    assert r.events == pytest.approx(ev) and r.nonevents == pytest.approx(ne)
    assert r.nri == pytest.approx(ev + ne)
    # IPCW: G = KM of censoring with events leaving first; cases at 1, 3, 3.5; controls 6, 7, 8
    # censoring at 2 (risk set 7 -> G=6/7), at 4 (risk set after the event at 3.5: 4 -> G=6/7*3/4)
    g_before = {1: 1.0, 3: 6 / 7, 3.5: 6 / 7}
    g_t0 = 6 / 7 * 3 / 4
    cases, ctrl = [0, 2, 7], [4, 5, 6]
    w = np.array([1 / g_before[t[i]] for i in cases])

    def slope(p):
        return np.sum(w * p[cases]) / w.sum() - p[ctrl].mean()

    d = integrated_discrimination_improvement(t, e, old, new, horizon=5)
    assert d.slope_old == pytest.approx(slope(old))
    assert d.idi == pytest.approx(slope(new) - slope(old))
    assert g_t0 > 0  # controls share 1/G(t0): it cancels in their mean


def test_symmetry_and_identity():
    rng = np.random.default_rng(0)
    t = rng.exponential(10, 300) + 0.1
    e = (rng.random(300) < 0.6).astype(int)
    a, b = rng.random(300), rng.random(300)
    assert category_free_nri(t, e, a, a, horizon=5).nri == 0
    assert integrated_discrimination_improvement(t, e, a, a, horizon=5).idi == 0
    assert category_free_nri(t, e, a, b, horizon=5).nri == pytest.approx(
        -category_free_nri(t, e, b, a, horizon=5).nri)
    assert integrated_discrimination_improvement(t, e, a, b, horizon=5).idi == pytest.approx(
        -integrated_discrimination_improvement(t, e, b, a, horizon=5).idi)


def test_not_estimable():
    with pytest.raises(NotEstimableError, match="no event at or before the horizon"):
        category_free_nri([5, 6], [0, 1], [.1, .2], [.2, .1], horizon=1)
    with pytest.raises(NotEstimableError, match="event-free beyond the horizon"):
        integrated_discrimination_improvement([1, 2], [1, 1], [.1, .2], [.2, .1], horizon=3)
