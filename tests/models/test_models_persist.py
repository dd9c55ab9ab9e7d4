"""Model bundles: identical predictions after loading, no pickle, tamper detection."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
from models_testdata import fast_params
from sklearn.base import clone

from radiorisk.exceptions import RadioriskError
from radiorisk.models import (
    MODEL_NAMES,
    BundleError,
    BundleIntegrityError,
    BundleVersionError,
    load,
    make_model,
    save_model,
)


def _fitted(name, cohort, **extra):
    X, y = cohort
    return make_model(name, horizon=1000.0, **fast_params(name), **extra).fit(X, y)


@pytest.fixture(scope="module")
def cox_bundle(cohort, tmp_path_factory):
    est = _fitted("xgb-cox", cohort)
    return est, est.save(tmp_path_factory.mktemp("b") / "xgb-cox")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_round_trip_predicts_identically(name, cohort, tmp_path, monkeypatch):
    X, _ = cohort
    radiomics = ["cac_agatston", "tpv_mm3", "lapv_mm3", "max_stenosis_pct"]
    est = _fitted(name, cohort, radiomics=radiomics, icc_keep=radiomics[:3],
                  correlation_threshold=0.95, screen_k=2)
    folder = est.save(tmp_path / "bundle")

    def no_pickle(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    monkeypatch.setattr(pickle, "load", no_pickle)
    monkeypatch.setattr(pickle, "loads", no_pickle)
    got = load(folder)
    monkeypatch.undo()
    assert type(got) is type(est) and [n for n, _ in got.steps] == [n for n, _ in est.steps]
    np.testing.assert_array_equal(got.predict_risk(X), est.predict_risk(X))
    if name != "xgb-binary":
        for h in (90.0, 730.0, 2000.0):
            np.testing.assert_array_equal(got.predict_risk(X, h), est.predict_risk(X, h))
    if name == "coxph":
        assert got[-1].hazard_ratios().equals(est[-1].hazard_ratios())
    assert got[-1].get_params() == est[-1].get_params()
    assert got.named_steps["screen"].statistics_.equals(est.named_steps["screen"].statistics_)
    # every file is JSON; the manifest describes the model
    for p in folder.iterdir():
        json.loads(p.read_text(encoding="utf-8"))
    man = json.loads((folder / "manifest.json").read_text())
    assert man["model"] == name and man["horizon"] == 1000.0 and man["format_version"] == 1
    assert man["feature_names_in"] == list(X.columns)
    assert man["feature_dtypes"]["sex"] == "object"
    assert set(man["files"]) == {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert ("model.json" in man["files"]) == name.startswith("xgb")
    # a loaded model can be cloned and refitted like any other
    clone(got).fit(*cohort)


def test_tampered_file_is_refused(cox_bundle, tmp_path):
    for fname in ("model.json", "estimator.json", "step_1_preprocess.json"):
        folder = tmp_path / fname
        shutil.copytree(cox_bundle[1], folder)
        text = (folder / fname).read_text()
        (folder / fname).write_text(text.replace("1", "2", 1))
        with pytest.raises(BundleIntegrityError, match=f"{fname}: SHA-256 differs from the manifest"):
            load(folder)


def _copy(src, dst, edit=None):
    shutil.copytree(src, dst)
    if edit is not None:
        man = json.loads((dst / "manifest.json").read_text())
        edit(man)
        (dst / "manifest.json").write_text(json.dumps(man))
    return dst


def test_missing_extra_and_version(cox_bundle, tmp_path):
    src = cox_bundle[1]
    f = _copy(src, tmp_path / "missing")
    (f / "model.json").unlink()
    with pytest.raises(BundleIntegrityError, match="model.json: listed in the manifest but missing"):
        load(f)
    f = _copy(src, tmp_path / "extra")
    (f / "evil.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(BundleIntegrityError, match=r"not listed in the manifest: \['evil.pkl'\]"):
        load(f)
    f = _copy(src, tmp_path / "v99", lambda m: m.update(format_version=99))
    with pytest.raises(BundleVersionError, match="format_version 99 is not supported"):
        load(f)
    f = _copy(src, tmp_path / "fmt", lambda m: m.update(format="pickle"))
    with pytest.raises(BundleVersionError, match="format 'pickle'"):
        load(f)
    f = _copy(src, tmp_path / "traversal", lambda m: m["files"].update({"../x": "0" * 64}))
    with pytest.raises(BundleError, match=r"invalid file name '../x'"):
        load(f)
    with pytest.raises(BundleError, match="manifest.json is missing"):
        load(tmp_path)


def test_mismatched_bundle_is_refused(cox_bundle, tmp_path):
    src = cox_bundle[1]

    def other_model(m):
        m["model"] = "coxph"

    with pytest.raises(BundleError, match="holds 'XGBCoxRisk'.*manifest says 'coxph'"):
        load(_copy(src, tmp_path / "a", other_model))

    def bad_step(m):
        m["steps"][1]["class"] = "os.system"

    with pytest.raises(BundleError, match="unknown step class 'os.system'"):
        load(_copy(src, tmp_path / "b", bad_step))

    def other_features(m):
        m["feature_names_in"] = ["age_years"]

    with pytest.raises(BundleError, match="feature_names_in does not match"):
        load(_copy(src, tmp_path / "c", other_features))

    def other_horizon(m):
        m["horizon"] = 365.0

    with pytest.raises(BundleError, match="horizon 1000.0 differs"):
        load(_copy(src, tmp_path / "d", other_horizon))
    assert issubclass(BundleError, RadioriskError)


def test_save_errors_and_overwrite(cox_bundle, cohort, tmp_path):
    est, _ = cox_bundle
    with pytest.raises(BundleError, match="not fitted"):
        make_model("coxph").save(tmp_path / "x")
    with pytest.raises(BundleError, match="needs a RiskPipeline"):
        save_model(est[-1], tmp_path / "y")
    folder = est.save(tmp_path / "z")
    with pytest.raises(BundleError, match="exists; pass overwrite=True"):
        est.save(folder)
    other = _fitted("coxph", cohort)
    other.save(folder, overwrite=True)
    X, _ = cohort
    np.testing.assert_array_equal(load(folder).predict_risk(X), other.predict_risk(X))
    assert [p.name for p in tmp_path.iterdir()] == ["z"]  # no temporary folders left
