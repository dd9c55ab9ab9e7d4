"""The competing-risk xgb-aft: cause-specific AFT boosters combined into the cumulative incidence.

The cumulative incidence is checked against an independent computation: scipy's adaptive
quadrature of f1(t) S2(t) with scipy.stats' own normal, logistic and left-Gumbel (minimum
extreme value) laws of log T.
"""

from __future__ import annotations

import numpy as np
import pytest
from cr_testdata import competing_cohort
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from radiorisk.models import (
    CR_ESTIMATORS,
    MODEL_NAMES,
    CauseSpecificXGBAFTRisk,
    XGBAFTRisk,
    aft_cause_specific_cif,
    estimand,
    is_competing,
    load,
    make_model,
    make_y,
)

_LAW = {"normal": stats.norm, "logistic": stats.logistic, "extreme": stats.gumbel_l}


def _quad_cif(m1, m2, h, dist, s1, s2=None):
    """F1(h) = int_0^h f1(t) S2(t) dt by scipy.integrate.quad on u = log t (f1(t) dt = f_Z(z1) du / s1)."""
    s2 = s1 if s2 is None else s2
    law = _LAW[dist]

    def g(u):
        return law.pdf((u - m1) / s1) / s1 * law.sf((u - m2) / s2)

    val, _ = integrate.quad(g, -np.inf, np.log(h), epsabs=1e-14, epsrel=1e-12, limit=500)
    return val


@pytest.fixture(scope="module")
def data():
    return competing_cohort(500, 31, comp_rate=1 / 800)


@pytest.mark.parametrize("dist", ["normal", "logistic", "extreme"])
def test_cif_equals_quadrature(dist):
    rng = np.random.default_rng(5)
    m1, m2 = rng.uniform(5.0, 10.0, 40), rng.uniform(5.0, 10.0, 40)
    m1[:3], m2[:3] = [2.0, 14.0, 7.0], [7.0, 3.0, 20.0]  # risk near 1, near 0, no competing risk
    for h, s1 in ((30.0, 0.5), (1826.0, 1.0), (9000.0, 2.5)):
        got = aft_cause_specific_cif(m1, m2, h, distribution=dist, sigma=s1)
        ref = np.array([_quad_cif(a, b, h, dist, s1) for a, b in zip(m1, m2, strict=True)])
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)
    got = aft_cause_specific_cif(m1, m2, 1000.0, distribution=dist, sigma=0.7, other_sigma=1.6)
    ref = np.array([_quad_cif(a, b, 1000.0, dist, 0.7, 1.6) for a, b in zip(m1, m2, strict=True)])
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(m1=st.floats(2.0, 12.0), m2=st.floats(2.0, 12.0), s=st.floats(0.2, 3.0), h=st.floats(1.0, 20000.0),
       dist=st.sampled_from(["normal", "logistic", "extreme"]))
def test_cif_equals_quadrature_hypothesis(m1, m2, s, h, dist):
    got = aft_cause_specific_cif([m1], [m2], h, distribution=dist, sigma=s)[0]
    assert abs(got - _quad_cif(m1, m2, h, dist, s)) < 1e-9


@pytest.mark.parametrize("dist", ["normal", "logistic", "extreme"])
def test_fitted_model_is_the_combination_of_two_cause_specific_boosters(dist, data):
    X, y = data
    kw = {"distribution": dist, "sigma": 0.9, "n_estimators": 20, "nthread": 1, "random_state": 3}
    cs = CauseSpecificXGBAFTRisk(**kw).fit(X, y)
    status = y["event_type"]
    mace = XGBAFTRisk(**kw).fit(X, make_y(y["time"], status == 1))
    comp = XGBAFTRisk(**kw).fit(X, make_y(y["time"], status == 2))
    np.testing.assert_array_equal(cs.predict_margin(X), mace.predict_margin(X))
    np.testing.assert_array_equal(cs.competing_.predict_margin(X), comp.predict_margin(X))
    m1, m2 = mace.predict_margin(X), comp.predict_margin(X)
    horizons = [30.0, 365.0, 1095.0, 1826.0, 3650.0]
    F = np.array([cs.predict_risk(X, h) for h in horizons])
    for k in (0, 7, 123):  # the independent integral for a few patients
        np.testing.assert_allclose(F[:, k], [_quad_cif(m1[k], m2[k], h, dist, 0.9) for h in horizons],
                                   rtol=0, atol=1e-6)
    assert ((F >= 0) & (F <= 1)).all() and (np.diff(F, axis=0) > 0).all()
    for h in horizons:
        f1, f2, s = (cs.predict_cumulative_incidence(X, h, cause=c) for c in (1, 2, 0))
        np.testing.assert_allclose(f1 + f2 + s, 1.0, rtol=0, atol=1e-10)
        # the competing event lowers the incidence below 1 - S1 of the MACE model alone
        assert (f1 < mace.predict_risk(X, h)).all()


def test_without_competing_events_it_is_the_aft_model(data):
    X, y = data
    y1 = make_y(y["time"], None, event_type=np.where(y["event_type"] == 2, 0, y["event_type"]))
    kw = {"distribution": "logistic", "n_estimators": 15, "nthread": 1}
    cs = CauseSpecificXGBAFTRisk(**kw).fit(X, y1)
    assert cs.competing_ is None and cs.n_competing_ == 0
    plain = XGBAFTRisk(**kw).fit(X, make_y(y["time"], y["event"]))
    np.testing.assert_array_equal(cs.predict_risk(X, 900.0), plain.predict_risk(X, 900.0))
    np.testing.assert_array_equal(cs.predict_cumulative_incidence(X, 900.0, cause=2), 0.0)


def test_make_model_search_space_and_bundle(data, tmp_path):
    X, y = data
    assert set(CR_ESTIMATORS) == set(MODEL_NAMES)  # every model kind has a competing-risk version
    est = make_model("xgb-aft", competing_risks=True, distribution="extreme", sigma=1.5, n_estimators=15,
                     nthread=1).fit(X, y)
    assert type(est[-1]) is CauseSpecificXGBAFTRisk and is_competing(est)
    assert estimand(est).startswith("cumulative incidence of MACE (cause-specific boosted AFT")
    folder = est.save(tmp_path / "aft_cr")
    assert {"model_mace.json", "model_competing.json"} <= {p.name for p in folder.iterdir()}
    got = load(folder)
    assert type(got[-1]) is CauseSpecificXGBAFTRisk and got[-1].sigma == 1.5
    for h in (100.0, 1826.0):
        np.testing.assert_array_equal(got.predict_risk(X, h), est.predict_risk(X, h))
    with pytest.raises(Exception, match="cause must be 1"):
        est[-1].predict_cumulative_incidence(X, cause=3)
    with pytest.raises(Exception, match="no survival function"):
        est[-1].predict_survival_function(X, times=[100.0])
