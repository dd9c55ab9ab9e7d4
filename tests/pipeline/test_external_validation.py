"""``validate_model`` on synthetic cohorts: files, exact predictions, calibration found off, refusals."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.evaluation import SubgroupAudit
from radiorisk.exceptions import ModelError
from radiorisk.pipeline import run_fit
from radiorisk.pipeline._external import PERFORMANCE_COLUMNS, validate_model
from radiorisk.pipeline._predict import predict_cohort

KEY = "radiorisk-test-suite-key-0123456789"
HORIZON = 1826.0
#: every patient's baseline hazard doubled in the external cohort: the model must under-predict there
DOUBLED = {"baseline_hr": {"sex=female": 2.0, "sex=male": 2.0}}


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    base = tmp_path_factory.mktemp("external")
    write_synthetic_cohort(base / "D", n=400, mode="established-cad", seed=41, progress=False)
    write_synthetic_cohort(base / "E", n=500, mode="established-cad", seed=42, bias=DOUBLED, progress=False)
    run_fit(base / "D", base / "RUN", competing_risks=False, model="coxph", blocks=["clinical", "ccta"], horizon=HORIZON, repeats=1,
            folds=3, n_boot=5, params={"penalizer": 0.1}, id_key=KEY)
    return base


@pytest.fixture(scope="module")
def validation(cohorts):
    return validate_model(cohorts / "RUN" / "model", cohorts / "E", cohorts / "OUT", development=cohorts / "D",
                          n_boot=40, id_key=KEY, figures=False)


def test_outputs_and_exact_predictions(cohorts, validation, tmp_path):
    out = cohorts / "OUT"
    for name in ("predictions.csv", "development_predictions.csv", "performance.csv", "transport.csv",
                 "updating.csv", "updating_tests.csv",
                 "transport_smd.csv", "transport_blocks.csv", "report.html", "provenance.json",
                 "audit/metrics.csv", "audit/report.html"):
        assert (out / name).is_file(), name
    # the predictions are those of radiorisk predict, exactly
    alone = predict_cohort(cohorts / "RUN" / "model", cohorts / "E", tmp_path / "p.csv", id_key=KEY)
    got = pd.read_csv(out / "predictions.csv", float_precision="round_trip")
    np.testing.assert_array_equal(got["risk"].to_numpy(), alone.predictions["risk"].to_numpy())
    assert list(got["patient_id"]) == list(alone.predictions["patient_id"])
    perf = pd.read_csv(out / "performance.csv", keep_default_na=False, na_values=[""]).fillna({"flag_reason": ""})
    assert list(perf.columns) == list(PERFORMANCE_COLUMNS)
    pd.testing.assert_frame_equal(perf, validation.to_frame(), check_dtype=False, rtol=1e-9)
    # the validation column is the audit's overall row; the development column its own audit
    ov = validation.audit.overall.set_index("metric")
    assert perf.set_index("metric").loc["harrell_c", "validation"] == pytest.approx(ov.loc["harrell_c", "estimate"])
    dev = pd.read_csv(out / "development_predictions.csv", float_precision="round_trip")
    ref = SubgroupAudit(dev["risk"].to_numpy(), time=dev["time"].to_numpy(), event=dev["event"].to_numpy(),
                        horizon=HORIZON, n_boot=0).overall.set_index("metric")
    assert perf.set_index("metric").loc["oe_ratio_t", "development"] == pytest.approx(ref.loc["oe_ratio_t", "estimate"],
                                                                                      rel=1e-9)
    # groups audited: those the predictions have
    assert {"sex", "ethnicity", "site", "vendor", "sex:ethnicity"} <= set(validation.audit.by_group["attribute"])
    assert any("no audit by detector" in n for n in validation.notes)  # this cohort's scans record none
    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["command"] == "radiorisk validate-model" and prov["horizon_days"] == HORIZON
    assert "report.html" in prov["outputs"] and len(prov["outputs"]["report.html"]["sha256"]) == 64


def test_miscalibration_is_found_and_said(cohorts, validation):
    oe = validation.to_frame().set_index("metric").loc["oe_ratio_t"]
    assert oe["validation_ci_low"] > 1.0, oe  # baseline hazard doubled: under-prediction
    assert oe["development_ci_low"] < 1.0 < oe["development_ci_high"]
    page = (cohorts / "OUT" / "report.html").read_text(encoding="utf-8")
    assert "under-predicts" in page
    # updating: recalibration brings the out-of-fold O/E CI back around 1
    up = validation.update
    assert up.method in ("intercept", "intercept_slope")
    after = up.table.set_index("method").loc[up.method]
    assert after["oe_ci_low"] < 1 < after["oe_ci_high"]
    # the updated bundle: the original model followed by the chosen map, read by radiorisk predict
    from radiorisk.models import load

    updated = load(cohorts / "OUT" / "updated_model")
    original = validation.predictions["risk"].to_numpy()
    assert updated.recalibration_.method == up.method
    alone = predict_cohort(cohorts / "OUT" / "updated_model", cohorts / "E", cohorts / "p_updated.csv", id_key=KEY)
    np.testing.assert_allclose(alone.predictions["risk"].to_numpy(), up.recalibrator.transform(original),
                               rtol=0, atol=1e-12)
    oe = SubgroupAudit(alone.predictions["risk"].to_numpy(), time=alone.predictions["time"].to_numpy(),
                       event=alone.predictions["event"].to_numpy(), horizon=HORIZON, n_boot=0).overall
    oe = oe.set_index("metric").loc["oe_ratio_t"]
    assert oe["ci_low"] < 1 < oe["ci_high"]
    written = pd.read_csv(cohorts / "OUT" / "updating.csv").set_index("method")
    assert written.loc[up.method, "oe"] == pytest.approx(after["oe"], rel=1e-9) and written.loc[up.method, "selected"]


def test_report_sections_in_the_tripod_order(cohorts, validation):
    page = (cohorts / "OUT" / "report.html").read_text(encoding="utf-8")
    ids = ["objective", "data", "model", "analysis", "case-mix", "performance", "groups", "updating",
           "discussion", "other"]
    pos = [page.index(f'<section id="{i}">') for i in ids]
    assert pos == sorted(pos)
    assert "https://" not in page and "http://" not in page


def test_no_raw_identifier_in_any_output(cohorts, validation):
    raw = set(pd.read_csv(cohorts / "E" / "patients.csv")["patient_id"].astype(str))
    raw |= set(pd.read_csv(cohorts / "D" / "patients.csv")["patient_id"].astype(str))
    for f in (cohorts / "OUT").rglob("*"):
        if f.suffix in (".csv", ".html", ".json"):
            text = f.read_text(encoding="utf-8")
            hits = [r for r in list(raw)[:200] if f"{r}," in text or f'"{r}"' in text or f">{r}<" in text]
            assert not hits, (f, hits[:3])


def test_transport_from_summaries_only_equals_smds_with_the_development_rows(cohorts, validation, tmp_path):
    ev = validate_model(cohorts / "RUN" / "model", cohorts / "E", tmp_path / "o", n_boot=0, id_key=KEY,
                        figures=False)
    pd.testing.assert_frame_equal(ev.transport.smd, validation.transport.smd, rtol=1e-9)
    assert np.isnan(ev.transport.value("membership_c")) and np.isnan(ev.to_frame()["development"]).all()
    assert any("no development matrix" in n for n in ev.notes)


def test_refusals(cohorts, tmp_path):
    model = cohorts / "RUN" / "model"
    with pytest.raises(ModelError, match="not empty"):
        validate_model(model, cohorts / "E", cohorts / "OUT", id_key=KEY)
    with pytest.raises(ModelError, match="update must be one of"):
        validate_model(model, cohorts / "E", tmp_path / "o0", id_key=KEY, update="revise")
    bad = tmp_path / "E2"
    shutil.copytree(cohorts / "E", bad)
    p = pd.read_csv(bad / "patients.csv")
    p.drop(columns=["ldl_mmol_l"]).to_csv(bad / "patients.csv", index=False)
    with pytest.raises(ModelError, match="development .*lacks .*ldl_mmol_l"):
        validate_model(model, cohorts / "E", tmp_path / "o1", development=bad, id_key=KEY, n_boot=0)
    with pytest.raises(ModelError, match="ldl_mmol_l"):
        validate_model(model, bad, tmp_path / "o2", id_key=KEY, n_boot=0)


def test_refit_is_the_same_pipeline_on_the_new_cohort(cohorts, tmp_path):
    ev = validate_model(cohorts / "RUN" / "model", cohorts / "E", tmp_path / "o", update="refit", n_boot=20,
                        id_key=KEY, figures=False)
    t = ev.update.to_frame().set_index("method")
    assert ev.update.method == "refit" and bool(t.loc["refit", "selected"]) and t["selected"].sum() == 1
    assert t.loc["refit", "oe_ci_low"] < 1 < t.loc["refit", "oe_ci_high"]  # refitted: calibrated there
    assert "closed test would choose" in ev.update.reason
    refit = tmp_path / "o" / "refit"
    fit_cfg = json.loads((cohorts / "RUN" / "provenance.json").read_text(encoding="utf-8"))["configuration"]
    new_cfg = json.loads((refit / "provenance.json").read_text(encoding="utf-8"))["configuration"]
    assert (new_cfg["model"], new_cfg["blocks"], new_cfg["params"]) == (fit_cfg["model"], fit_cfg["blocks"],
                                                                         fit_cfg["params"])
    derived = json.loads((refit / "derived_from.json").read_text(encoding="utf-8"))
    assert len(derived["bundle_sha256"]) == 64 and (refit / "model" / "manifest.json").is_file()
    assert not (tmp_path / "o" / "updated_model").exists()
