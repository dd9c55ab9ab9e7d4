"""random_effects against R metafor::rma.uni 3.8-1 (tests/reference/meta), errors, notes, frames."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.exceptions import NotEstimableError
from radiorisk.stats._meta import MetaAnalysis, random_effects
from radiorisk.stats._meta_tau2 import pm_tau2, reml_tau2, zeroin

REF = json.loads((Path(__file__).parents[1] / "reference" / "meta" / "metafor_reference.json")
                 .read_text(encoding="utf-8"))
FITS = REF["fits"]
TOL = 1e-8  # the brief: tau2 and pooled to 1e-8 (they agree to ~1e-15)


def _fit(key: str) -> tuple[MetaAnalysis, dict]:
    f = FITS[key]
    s = REF["sets"][f["set"]]
    tr = None if s["transform"] == "none" else s["transform"]
    x = (s["estimate"], s["se"]) if tr else (s["yi"], s["sei"])
    ma = random_effects(*x, method=f["method"], transform=tr, knha=f["test"] == "knha",
                        tol=1e-12 if f["tight"] else None, labels=s["labels"])
    return ma, f


def _nan(v):
    return math.nan if v is None else v


@pytest.mark.parametrize("key", sorted(FITS))
def test_tau2_and_pooled_equal_metafor(key):
    ma, f = _fit(key)
    assert ma.tau2 == pytest.approx(f["tau2"], abs=TOL, rel=0)
    assert ma.pooled == pytest.approx(f["b"], abs=TOL, rel=0)
    assert ma.se == pytest.approx(f["se"], abs=TOL, rel=0)
    assert ma.ci == pytest.approx((f["ci_lb"], f["ci_ub"]), abs=TOL, rel=0)
    assert ma.k == f["k"] and ma.q_df == f["k"] - 1


@pytest.mark.parametrize("key", sorted(FITS))
def test_heterogeneity_equals_metafor(key):
    ma, f = _fit(key)
    assert ma.q == pytest.approx(f["QE"], rel=1e-10, abs=TOL)
    assert ma.q_p == pytest.approx(f["QEp"], abs=TOL, rel=0)
    assert ma.i2 == pytest.approx(f["I2"], rel=1e-10, abs=TOL)
    assert ma.h2 == pytest.approx(f["H2"], rel=1e-10, abs=TOL)
    assert ma.z == pytest.approx(f["zval"], rel=1e-10, abs=TOL)
    assert ma.p == pytest.approx(f["pval"], abs=TOL, rel=0)
    np.testing.assert_allclose(ma.weights, f["weights"], rtol=0, atol=TOL)
    # confint.rma.uni's Q-profile interval
    assert ma.tau2_ci == pytest.approx(tuple(f["tau2_ci"]), rel=1e-10, abs=TOL)


@pytest.mark.parametrize("key", sorted(FITS))
def test_prediction_interval_is_riley_and_back_transform_is_predict(key):
    ma, f = _fit(key)
    riley = tuple(_nan(v) for v in f["riley_pi"])
    assert ma.pi == pytest.approx(riley, abs=TOL, rel=0, nan_ok=True)
    assert ma.pi_original == pytest.approx(tuple(_nan(v) for v in f["riley_pi_back"]), abs=TOL,
                                           rel=0, nan_ok=True)
    bt = f["predict_back"]
    assert ma.pooled_original == pytest.approx(bt["pred"], abs=TOL, rel=0)
    assert ma.ci_original == pytest.approx((bt["ci_lb"], bt["ci_ub"]), abs=TOL, rel=0)


def test_bcg_is_the_published_reml_example():
    """Viechtbauer (2010, J Stat Softw 36(3)): mu = -0.7145, tau2 = 0.3132, I2 = 92.22 %, Q = 152.23."""
    ma, _ = _fit("bcg_REML_z_default")
    assert (round(ma.pooled, 4), round(ma.tau2, 4), round(ma.i2, 2), round(ma.q, 2)) == (
        -0.7145, 0.3132, 92.22, 152.23)
    assert ma.labels[0] == "Aronson 1948"


def test_default_tolerances_differ_from_tight_ones_as_in_metafor():
    """metafor's defaults (threshold 1e-5, uniroot tol eps^0.25) are reproduced, not only the optimum."""
    d, t = _fit("bcg_PM_z_default")[0], _fit("bcg_PM_z_tight")[0]
    assert abs(d.tau2 - t.tau2) > 1e-6
    assert d.tau2 == pytest.approx(FITS["bcg_PM_z_default"]["tau2"], abs=1e-12, rel=0)


def test_edge_cases_notes():
    k2, _ = _fit("k2_REML_z_default")
    assert np.isnan(k2.pi).all() and any("no prediction interval" in n for n in k2.notes)
    hom, _ = _fit("homogeneous_REML_z_default")
    assert hom.tau2 == 0.0 and hom.i2 == 0.0 and hom.h2 == 1.0
    assert any("boundary 0" in n for n in hom.notes)
    assert hom.tau2_ci == (0.0, 0.0)
    fe = 1.0 / hom.sei ** 2
    assert hom.pooled == pytest.approx(float(np.sum(fe * hom.yi) / np.sum(fe)), abs=1e-15)
    huge, _ = _fit("huge_se_REML_z_default")
    assert huge.weights[4] < 1e-4  # the SE = 100 study has (almost) no weight


def test_transforms_and_delta_method():
    c, se = [0.7, 0.75, 0.65], [0.02, 0.03, 0.025]
    ma = random_effects(c, se, transform="logit", method="DL")
    np.testing.assert_allclose(ma.yi, np.log(np.array(c) / (1 - np.array(c))), rtol=1e-15)
    np.testing.assert_allclose(ma.sei, np.array(se) / (np.array(c) * (1 - np.array(c))), rtol=1e-15)
    same = random_effects(c, ma.sei, transform="logit", method="DL", se_scale="transformed")
    assert same.tau2 == ma.tau2 and same.pooled == ma.pooled
    oe = random_effects([0.9, 1.2, 1.0], [0.1, 0.15, 0.1], transform="log")
    assert oe.pooled_original == pytest.approx(math.exp(oe.pooled), rel=1e-15)
    assert 0 < oe.ci_original[0] < oe.pooled_original < oe.ci_original[1]


def test_to_frame_is_forest_plot_rows():
    ma, _ = _fit("sites_oe_REML_z_default")
    fr = ma.to_frame()
    assert isinstance(fr, pd.DataFrame) and len(fr) == ma.k + 2
    assert fr["row"].tolist() == ["study"] * 8 + ["pooled", "prediction"]
    assert fr["label"].tolist()[:2] == ["site A", "site B"]
    assert fr["weight"].iloc[:8].sum() == pytest.approx(100.0)
    pooled, pred = fr.iloc[8], fr.iloc[9]
    assert (pooled["ci_low"], pooled["ci_high"]) == ma.ci
    assert (pred["ci_low"], pred["ci_high"]) == ma.pi
    np.testing.assert_allclose(fr["estimate_original"].iloc[:8], REF["sets"]["sites_oe"]["estimate"],
                               rtol=1e-14)
    study = fr.iloc[0]
    assert study["ci_low"] == pytest.approx(study["estimate"] - 1.959963984540054 * study["se"])


def test_repr_and_html_are_short():
    ma, _ = _fit("sites_c_REML_z_default")
    text = repr(ma)
    assert text.startswith("MetaAnalysis(REML, k=8") and "tau2=" in text and len(text) < 250
    html = ma._repr_html_()
    assert "<table" in html and html.count("<tr") <= 3


def test_results_are_frozen():
    ma, _ = _fit("k2_DL_z_default")
    with pytest.raises(AttributeError):
        ma.tau2 = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        ma.weights[0] = 1.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"estimates": [0.1, 0.2], "se": [0.1, 0.0]}, r"se must be > 0; found 0\.0 at position 1"),
    ({"estimates": [0.1, 0.2], "se": [0.1, -1]}, r"se must be > 0"),
    ({"estimates": [0.1, 0.2], "se": [0.1, np.inf]}, r"se must be finite; found inf at position 1"),
    ({"estimates": [0.1, np.nan], "se": [0.1, 0.1]}, r"estimates must be finite; found nan"),
    ({"estimates": [0.1, 0.2, 0.3], "se": [0.1, 0.1]}, r"same length; got 3 and 2"),
    ({"estimates": [0.7, 1.0], "se": [0.1, 0.1], "transform": "logit"}, r"\(0, 1\).*1\.0 at position 1"),
    ({"estimates": [0.7, 0.0], "se": [0.1, 0.1], "transform": "log"}, r"> 0 for transform='log'"),
    ({"estimates": [0.1, 0.2], "se": [0.1, 0.1], "method": "ML"}, r"method must be one of REML, PM, DL; got 'ML'"),
    ({"estimates": [0.1, 0.2], "se": [0.1, 0.1], "transform": "probit"}, r"transform must be"),
    ({"estimates": [0.1, 0.2], "se": [0.1, 0.1], "level": 95}, r"level must be a number in \(0, 1\)"),
    ({"estimates": [0.1, 0.2], "se": [0.1, 0.1], "labels": ["a"]}, r"labels must have one entry per study"),
    ({"estimates": [0.1, 0.2], "se": [0.1, 0.1], "se_scale": "log"}, r"se_scale must be"),
    ({"estimates": [0.1, 0.2], "se": [0.1, 0.1], "tol": 0}, r"tol must be"),
])
def test_errors_name_parameter_value_and_rule(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_effects(**kwargs)


def test_one_study_is_not_estimable():
    with pytest.raises(NotEstimableError, match=r"k >= 2 studies; got k = 1"):
        random_effects([0.3], [0.1])


def test_no_runtime_warning_on_extreme_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("REML", "PM", "DL"):
            ma = random_effects([0.2, 0.2, 0.2], [1e-8, 1e3, 1.0], method=method, knha=True)
            assert ma.tau2 == 0.0
            assert np.isfinite(ma.pooled)
        ma = random_effects([0.2, 0.2], [0.1, 0.1], knha=True)  # residual Q = 0: HKSJ CI of width 0
        assert ma.se == 0.0 and ma.ci[0] == ma.ci[1] == ma.pooled and any("HKSJ" in n for n in ma.notes)


def test_pm_without_root_and_reml_without_convergence_are_not_estimable():
    y, v = np.array([0.0, 1e3]), np.array([1e-6, 1e-6])
    assert pm_tau2(y, v).tau2 > 100  # the search interval is [0, max(100, 10 mad(y)^2)], as metafor
    with pytest.raises(NotEstimableError, match=r"Q\(tau2\) > k - 1 = 2 even at tau2 = 100"):
        random_effects([0.0, 0.0, 1e3], [1e-3, 1e-3, 1e-3], method="PM")  # mad(y) = 0


def test_reml_where_metafor_fisher_scoring_cycles_is_the_likelihood_maximum():
    ref = REF["reml_cycles"]
    assert "did not converge" in ref["rma_error"]
    ma = random_effects(ref["yi"], ref["sei"])
    assert ma.iterations == -1 and any("metafor stops here" in n for n in ma.notes)
    assert ma.tau2 == pytest.approx(ref["optimize"]["tau2"], abs=TOL, rel=0)
    assert ma.pooled == pytest.approx(ref["optimize"]["b"], abs=TOL, rel=0)
    assert ma.tau2 == pytest.approx(ref["rma_mv"]["tau2"], abs=1e-7, rel=0)  # nlminb's own tolerance


def test_reml_at_a_boundary_maximum_is_metafors_and_says_where_the_higher_one_is():
    ref = REF["reml_local_max"]
    ma = random_effects(ref["yi"], ref["sei"])
    assert ma.tau2 == ref["rma"]["tau2"] == 0.0
    assert ma.pooled == pytest.approx(ref["rma"]["b"], abs=TOL, rel=0)
    note = next(n for n in ma.notes if "higher maximum" in n)
    assert f"tau2 = {ref['optimize']['tau2']:.6g}" in note
    gain = ref["optimize"]["loglik"] - ref["rma"]["loglik"]
    assert f"+{gain:.3g}" in note


def test_reml_fallback_equals_converged_fisher_scoring():
    y, v = np.array([0.1, 0.9, 0.4, -0.2]), np.array([0.01, 0.02, 0.03, 0.05])
    full = reml_tau2(y, v, tol=1e-13)
    cut = reml_tau2(y, v, tol=1e-13, maxiter=1)
    assert full.iterations > 2 and cut.iterations == -1 and "Fisher scoring" in cut.note
    assert cut.tau2 == pytest.approx(full.tau2, abs=1e-10, rel=0)


def test_zeroin_endpoints_and_failure():
    assert zeroin(lambda x: x, 0.0, 1.0, 0.0, 1.0, tol=1e-8, maxiter=10) == (0.0, 0)
    assert zeroin(lambda x: x - 1.0, 0.0, 1.0, -1.0, 0.0, tol=1e-8, maxiter=10) == (1.0, 0)
    _, it = zeroin(lambda x: x ** 3 - 0.3, 0.0, 1.0, -0.3, 0.7, tol=1e-300, maxiter=2)
    assert it == -1


def test_series_index_gives_labels_and_repr_without_pi():
    ma = random_effects(pd.Series([0.1, 0.45], index=["north", "south"]), [0.1, 0.15])
    assert ma.labels == ("north", "south")
    assert "no PI (k < 3)" in repr(ma)
    assert "k = 2 &lt; 3" in ma._repr_html_()
    assert random_effects([0.1, 0.45], [0.1, 0.15], labels=["x", "y"]).labels == ("x", "y")
