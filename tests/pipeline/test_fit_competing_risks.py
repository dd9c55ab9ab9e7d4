"""``radiorisk fit`` with competing risks: the default when the cohort records non-cardiac death.

The flags (``--competing-risks`` / ``--censor-competing``), their conflict, the refusal of a model kind
without a competing-risk version, the competing-risk rows of the ladder (equal to the stats functions
on the written out-of-fold risks), and a cohort without competing deaths (nothing changes).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli import main
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import FitUsageError
from radiorisk.models import load
from radiorisk.pipeline import run_fit
from radiorisk.stats import auc_cr, brier_cr, c_cr

KEY = "radiorisk-test-suite-key-0123456789"
FAST = ["--blocks", "clinical,ccta", "--repeats", "1", "--folds", "3", "--raw-ids", "--quiet"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("crfit") / "D"
    write_synthetic_cohort(d, n=400, mode="established-cad", seed=2)
    return d


def _fit(cohort, out, *extra, model="coxph", n_boot="20"):
    return main(["fit", "--data", str(cohort), "--out", str(out), "--model", model, "--n-boot", n_boot,
                 *FAST, *extra])


def _statements(run) -> list[str]:
    return json.loads((run / "provenance.json").read_text(encoding="utf-8"))["statements"]


def test_cohort_records_competing_deaths(cohort):
    o = pd.read_csv(cohort / "outcomes.csv")
    assert o["noncardiac_death"].astype(str).str.lower().eq("true").sum() > 10


def test_default_is_competing_risks_and_ladder_equals_stats(cohort, tmp_path):
    assert _fit(cohort, tmp_path / "R") == 0
    run = tmp_path / "R"
    prov = json.loads((run / "provenance.json").read_text(encoding="utf-8"))
    assert prov["configuration"]["competing_risks"] is True
    assert prov["configuration"]["competing"] == "competing"
    said = [s for s in prov["statements"] if s.startswith("competing risks: non-cardiac death treated as a "
                                                          "competing event; the estimand is the cumulative "
                                                          "incidence of MACE")]
    assert len(said) == 1 and "the default, because the cohort records non-cardiac death" in said[0]
    oof = pd.read_csv(run / "oof_predictions.csv")
    assert list(oof.columns[:7]) == ["patient_id", "repeat", "fold", "risk", "time", "event", "event_type"]
    assert set(oof["event_type"]) == {0, 1, 2}
    assert ((oof["event_type"] == 1) == (oof["event"] == 1)).all()
    assert type(load(run / "model").steps[-1][1]).__name__ == "CauseSpecificCoxRisk"
    # the ladder's competing-risk rows of the last rung are the stats functions on the written OOF risks
    lad = pd.read_csv(run / "ladder.csv")
    assert {"c_cr", "auc_cr", "brier_cr", "delta_c_cr", "delta_auc_cr", "delta_brier_cr"} <= set(lad["metric"])
    assert not {"harrell_c", "uno_c", "td_auc", "nri", "idi"} & set(lad["metric"])
    last = lad[lad["rung"] == "+ccta"].set_index("metric")["estimate"]
    per = oof.groupby("patient_id", sort=False).agg(risk=("risk", "mean"), time=("time", "first"),
                                                   status=("event_type", "first"))
    t, s, r = per["time"].to_numpy(), per["status"].to_numpy(), per["risk"].to_numpy()
    assert last["c_cr"] == pytest.approx(c_cr(t, s, r, horizon=1826.0), abs=1e-9)
    assert last["auc_cr"] == pytest.approx(auc_cr(t, s, r, horizon=1826.0).estimate, abs=1e-9)
    assert last["brier_cr"] == pytest.approx(brier_cr(t, s, r, horizon=1826.0).estimate, abs=1e-9)
    first = lad[lad["rung"] == "clinical"].set_index("metric")["estimate"]
    assert last["delta_c_cr"] == pytest.approx(last["c_cr"] - first["c_cr"], abs=1e-9)
    row = lad[(lad["rung"] == "+ccta") & (lad["metric"] == "delta_c_cr")].iloc[0]
    assert row.ci_low <= row.estimate <= row.ci_high  # a bootstrap CI around it
    # a competing-risk C differs from Harrell's C on the same risks (competing deaths are not censored)
    from radiorisk.stats import harrell_c
    assert harrell_c(t, (s == 1).astype(float), r) != pytest.approx(last["c_cr"], abs=1e-6)


def test_censor_competing_keeps_the_censoring_fit(cohort, tmp_path):
    assert _fit(cohort, tmp_path / "C", "--censor-competing", n_boot="0") == 0
    run = tmp_path / "C"
    prov = json.loads((run / "provenance.json").read_text(encoding="utf-8"))
    assert prov["configuration"]["competing_risks"] is False
    assert any(s.startswith("non-cardiac death censored (--censor-competing)") or
               s.startswith("non-cardiac death censored (competing_risks=False)") for s in prov["statements"])
    assert "event_type" not in pd.read_csv(run / "oof_predictions.csv").columns
    assert {"harrell_c", "uno_c", "td_auc"} <= set(pd.read_csv(run / "ladder.csv")["metric"])
    assert type(load(run / "model").steps[-1][1]).__name__ == "CoxPHRisk"


def test_both_flags_are_a_usage_error(cohort, tmp_path, capsys):
    assert _fit(cohort, tmp_path / "X", "--competing-risks", "--censor-competing") == 2
    err = capsys.readouterr().err
    assert "--competing-risks and --censor-competing contradict each other" in err
    assert not (tmp_path / "X").exists()


@pytest.mark.parametrize("model", ["xgb-cox", "xgb-aft", "xgb-binary", "fg"])
def test_every_model_kind_fits_end_to_end_in_competing_risk_mode(model, cohort, tmp_path):
    assert _fit(cohort, tmp_path / model, "--no-search", model=model) == 0
    prov = json.loads((tmp_path / model / "provenance.json").read_text(encoding="utf-8"))
    assert prov["configuration"]["competing_risks"] is True
    oof = pd.read_csv(tmp_path / model / "oof_predictions.csv")
    assert "event_type" in oof and oof["risk"].between(0, 1).all()


def test_contradicting_spellings_are_refused(cohort, tmp_path):
    with pytest.raises(FitUsageError, match="contradict each other"):
        run_fit(cohort, tmp_path / "A3", model="coxph", blocks="clinical", competing_risks=True,
                competing="censor", id_key=KEY)


def test_optimism_bootstrap_is_refused_in_competing_risk_mode(cohort, tmp_path, capsys):
    assert _fit(cohort, tmp_path / "O", "--optimism-boot", "5", n_boot="0") == 2
    err = capsys.readouterr().err
    assert "--optimism-boot 5" in err and "--censor-competing" in err


def test_no_competing_deaths_changes_nothing(cohort, tmp_path):
    d = tmp_path / "D0"
    import shutil
    shutil.copytree(cohort, d)
    o = pd.read_csv(d / "outcomes.csv", dtype=str, keep_default_na=False)
    o["noncardiac_death"] = "false"
    o["noncardiac_death_time_days"] = ""
    o.loc[o["censor_reason"] == "death_noncardiac", "censor_reason"] = "lost"
    o.to_csv(d / "outcomes.csv", index=False, lineterminator="\n")
    kw = dict(model="coxph", blocks="clinical", repeats=1, folds=3, n_boot=0, raw_ids=True)
    default = run_fit(d, tmp_path / "R0", **kw)
    censored = run_fit(d, tmp_path / "R1", competing_risks=False, **kw)
    a = pd.read_csv(tmp_path / "R0" / "oof_predictions.csv")
    b = pd.read_csv(tmp_path / "R1" / "oof_predictions.csv")
    pd.testing.assert_frame_equal(a, b)
    assert "event_type" not in a.columns
    assert not [n for n in default.notes if "competing risks" in n or "non-cardiac death censored" in n]
    assert any("non-cardiac death censored (competing_risks=False)" in n for n in censored.notes)
    assert np.isfinite(a["risk"]).all()
