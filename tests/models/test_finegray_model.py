"""The Fine-Gray model kind ``fg`` (FineGrayRisk): equal to cmprsk::crr + predict.crr, bundles, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cr_testdata import competing_cohort, fixture_xy

from radiorisk.models import (
    FineGrayRisk,
    ModelError,
    estimand,
    is_competing,
    load,
    make_model,
    make_y,
)
from radiorisk.stats import fit_cox


@pytest.fixture(scope="module")
def fixture():
    return fixture_xy()


def _cif(model, X, horizons):
    return np.array([model.predict_risk(X, h) for h in horizons])


def test_equals_crr_on_the_fixture(fixture):
    X, y, ref = fixture
    fg = FineGrayRisk(gtol=1e-12, max_iter=200).fit(X, y)
    np.testing.assert_allclose(fg.coef_, ref["fine_gray"]["coef"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(fg.se_, ref["fine_gray"]["se"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(_cif(fg, X.iloc[:400], ref["horizons"]), ref["fine_gray"]["cif"], rtol=0, atol=1e-6)
    assert fg.converged_ and fg.has_event_type_ and fg.n_competing_ == int(np.sum(y["event_type"] == 2))


def test_out_of_sample_equals_crr(fixture):
    X, y, ref = fixture
    s = ref["split"]
    fg = FineGrayRisk(gtol=1e-12, max_iter=200).fit(X.iloc[:700], y[:700])
    np.testing.assert_allclose(fg.coef_, s["fine_gray_coef"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(_cif(fg, X.iloc[700:1100], ref["horizons"]), s["fine_gray_cif"], rtol=0, atol=1e-6)


def test_pipeline_with_coxph_preprocessing_predicts_as_crr(fixture):
    """Standardising the columns (the coxph preprocessing) reparametrises the model: same risks."""
    X, y, ref = fixture
    pipe = make_model("fg", gtol=1e-12, max_iter=200).fit(X, y)
    assert pipe.named_steps["preprocess"].scale is True
    np.testing.assert_allclose(_cif(pipe, X.iloc[:400], ref["horizons"]), ref["fine_gray"]["cif"], rtol=0, atol=1e-6)
    assert is_competing(pipe) and "Fine-Gray" in estimand(pipe)
    assert make_model("fg", competing_risks=True).steps[-1][1].__class__ is FineGrayRisk


def test_without_event_type_it_is_the_breslow_cox_model():
    X, y = competing_cohort(400, 1)
    y0 = make_y(y["time"], y["event"])  # competing events become censorings, unknown to the model
    fg = FineGrayRisk(gtol=1e-12).fit(X, y0)
    cox = fit_cox(X.to_numpy(), y["time"], y["event"].astype(float), ties="breslow", tol=1e-12)
    np.testing.assert_allclose(fg.coef_, cox.coef, rtol=0, atol=1e-7)
    assert not fg.has_event_type_ and "without recorded competing events" in fg.estimand_
    # with event types the subdistribution hazard keeps competing deaths at risk: a smaller cumulative incidence
    fg_cr = FineGrayRisk().fit(X, y)
    assert fg_cr.predict_risk(X, 1826.0).mean() < fg.predict_risk(X, 1826.0).mean()


def test_hazard_ratios_and_linear_contributions():
    X, y = competing_cohort(500, 2)
    fg = FineGrayRisk().fit(X, y)
    hr = fg.hazard_ratios()
    assert list(hr["covariate"]) == ["a", "b"] and (hr["hr_ci_low"] < hr["hr"]).all()
    np.testing.assert_allclose(fg.predict_contributions(X).sum(axis=1), fg.predict_log_hazard(X), atol=1e-12)
    r = np.column_stack([fg.predict_risk(X, h) for h in (100.0, 500.0, 2000.0)])
    assert (np.diff(r, axis=1) >= 0).all()


def test_bundle_round_trip(tmp_path):
    X, y = competing_cohort(300, 3)
    est = make_model("fg", horizon=730.0).fit(X, y)
    got = load(est.save(tmp_path / "fg"))
    assert type(got[-1]) is FineGrayRisk
    for h in (100.0, 730.0, 2500.0):
        np.testing.assert_array_equal(got.predict_risk(X, h), est.predict_risk(X, h))
    assert got[-1].hazard_ratios().equals(est[-1].hazard_ratios())
    assert got[-1].estimand_ == est[-1].estimand_
    manifest = json.loads((tmp_path / "fg" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == "fg"


def test_variance_off_keeps_nan_se_through_a_bundle(tmp_path):
    X, y = competing_cohort(200, 4)
    est = make_model("fg", variance=False).fit(X, y)
    assert np.isnan(est[-1].se_).all()
    got = load(est.save(tmp_path / "b"))
    assert np.isnan(got[-1].se_).all()
    np.testing.assert_array_equal(got.predict_risk(X), est.predict_risk(X))


def test_errors():
    X, y = competing_cohort(100, 5)
    with pytest.raises(ModelError, match="sample_weight"):
        FineGrayRisk().fit(X, y, sample_weight=np.ones(100))
    with pytest.raises(ModelError, match="no MACE"):
        FineGrayRisk().fit(X, make_y(y["time"], None, event_type=np.where(y["event_type"] == 1, 0, y["event_type"])))
    with pytest.raises(ModelError, match="max_iter"):
        FineGrayRisk(max_iter=0).fit(X, y)
    with pytest.raises(ModelError, match="unknown parameter"):
        make_model("fg", n_estimators=10)
