"""The model report of a competing-risk fit: the estimand sentence, the competing-risk audit and ladder."""

from __future__ import annotations

import html
import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli import main
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.models import make_model
from radiorisk.pipeline import collect_model_report, run_fit
from radiorisk.pipeline._patient_run import run_patient_report
from radiorisk.report import NET_BENEFIT_THRESHOLDS
from radiorisk.report._model_base import estimand_sentence
from radiorisk.stats import net_benefit_curve


def _ctx(columns, competing):
    return SimpleNamespace(pred=pd.DataFrame(columns=columns), horizon=1826.0,
                           model=make_model("coxph", competing_risks=competing))


def test_estimand_sentence_in_either_mode():
    cr = estimand_sentence(_ctx(["risk", "time", "event", "event_type"], True))
    assert cr.startswith("Competing risks: non-cardiac death treated as a competing event; the estimand is the "
                         "cumulative incidence of MACE (Aalen-Johansen-type product of cause-specific Cox")
    assert "by 1826 days" in cr and "Aalen-Johansen observed risk" in cr
    cens = estimand_sentence(_ctx(["risk", "time", "event"], False))
    assert cens.startswith("Non-cardiac death censored: the estimand is 1 - survival from MACE")


def test_report_of_a_competing_risk_run(tmp_path):
    write_synthetic_cohort(tmp_path / "D", n=300, mode="established-cad", seed=5)
    run_fit(tmp_path / "D", tmp_path / "R", model="coxph", blocks="clinical,ccta", repeats=1, folds=3,
            n_boot=10, raw_ids=True, params={"penalizer": 0.1})
    report = collect_model_report(tmp_path / "R", n_boot=0, shap_sample=20)
    page = report.to_html()
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert "Competing risks: non-cardiac death treated as a competing event; the estimand is the cumulative " \
           "incidence of MACE" in text
    assert "truncated C for competing risks (Wolbers)" in text  # the ladder sentences use c_cr
    assert "observed_aj (95 % CI)" in text and "Aalen-Johansen cumulative incidence of MACE" in text
    assert "oe_ratio_cr" in text and "Harrell's C was" not in text
    # the decision curve uses the Aalen-Johansen cumulative incidence, computed on the OOF risks
    assert "Aalen-Johansen cumulative incidence of MACE among the treated" in text
    oof = pd.read_csv(tmp_path / "R" / "oof_predictions.csv").groupby("patient_id", sort=False).agg(
        risk=("risk", "mean"), time=("time", "first"), event_type=("event_type", "first"))
    section = next(sec for sec in report.sections if sec.id == "decision-curve")
    nb = section.tables[0][1]  # one row per NET_BENEFIT_THRESHOLDS
    th = np.asarray(NET_BENEFIT_THRESHOLDS, float)
    want = net_benefit_curve(oof["risk"].to_numpy(float), thresholds=th,
                             time=oof["time"].to_numpy(float), event=oof["event_type"].to_numpy(int),
                             horizon=1826.0, competing_risks=True)
    np.testing.assert_allclose(nb["net_benefit_model"].to_numpy(float), want.model, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(nb["net_benefit_treat_all"].to_numpy(float), want.treat_all, rtol=1e-12, atol=1e-15)
    censored = net_benefit_curve(oof["risk"].to_numpy(float), thresholds=th,
                                 time=oof["time"].to_numpy(float),
                                 event=(oof["event_type"] == 1).to_numpy(int), horizon=1826.0)
    assert not np.allclose(censored.treat_all, want.treat_all)  # the two estimands differ on this cohort


def test_patient_report_of_a_competing_risk_bundle(tmp_path):
    """The bootstrap refits of the interval get each patient's event type (they failed without it), the
    report states the estimand and explains the cause-specific model of MACE."""
    write_synthetic_cohort(tmp_path / "D", n=300, images=2, mode="established-cad", seed=41, progress=False)
    run_fit(tmp_path / "D", tmp_path / "R", model="coxph", blocks="clinical,ccta", repeats=1, folds=3, n_boot=5,
            raw_ids=True, params={"penalizer": 0.1})
    ids = list(pd.read_csv(tmp_path / "D" / "patients.csv", dtype=str)["patient_id"][:2])
    run_patient_report(tmp_path / "R" / "model", tmp_path / "D", ids, tmp_path / "OUT", n_boot=5, raw_ids=True,
                       formats=("html", "json"))
    doc = json.loads((tmp_path / "OUT" / f"{ids[0]}.json").read_text(encoding="utf-8"))
    assert doc["model"]["model"] == "coxph-cr"
    assert doc["model"]["estimand"].startswith("cumulative incidence of MACE")
    assert "n_models=5" in doc["model"]["interval"]  # every refit fitted
    assert doc["ci_low"] <= doc["ci_high"] and 0 < doc["risk"] < 1
    assert {f["scale"] for f in doc["factors"]} == {"cause-specific log-hazard"}
    text = html.unescape(re.sub(r"<[^>]+>", " ", (tmp_path / "OUT" / f"{ids[0]}.html").read_text(encoding="utf-8")))
    assert "cumulative incidence of MACE" in text


def test_validate_model_follows_a_competing_risk_bundle(tmp_path, capsys):
    write_synthetic_cohort(tmp_path / "D", n=300, mode="established-cad", seed=43, progress=False)
    run_fit(tmp_path / "D", tmp_path / "R", model="coxph", blocks="clinical", repeats=1, folds=3, n_boot=0,
            raw_ids=True, params={"penalizer": 0.1})
    common = ["--model", str(tmp_path / "R" / "model"), "--data", str(tmp_path / "D"), "--raw-ids", "--n-boot", "0",
              "--no-figures", "--quiet"]
    modes = {}
    for name, extra in (("default", []), ("censor", ["--censor-competing"])):
        assert main(["validate-model", *common, "--out", str(tmp_path / name), *extra]) == 0
        prov = json.loads((tmp_path / name / "provenance.json").read_text(encoding="utf-8"))
        modes[name] = prov
    assert modes["default"]["competing_risks"] is True
    assert modes["censor"]["competing_risks"] is False
    with pytest.raises(SystemExit) as exc:  # the two flags exclude each other (argparse's usage error)
        main(["validate-model", *common, "--out", str(tmp_path / "x"), "--competing-risks", "--censor-competing"])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err
