"""``radiorisk fit --optimism-boot B``: RUN/optimism.csv, the printed summary, provenance, the report."""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from radiorisk.cli._fit import add_fit_parser
from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import FitUsageError
from radiorisk.models import OPTIMISM_COLUMNS, make_y, optimism_bootstrap, optimism_indexes
from radiorisk.pipeline import collect_model_report, run_fit
from radiorisk.report._model_optimism import INTERNAL_VALIDATION_TITLE, internal_validation


def _fit_args(argv):
    p = argparse.ArgumentParser(prog="radiorisk")
    add_fit_parser(p.add_subparsers(dest="command"))
    return p.parse_args(["fit", "--censor-competing", *argv])


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit_opt") / "D"
    write_synthetic_cohort(d, n=400, mode="established-cad", seed=43)
    return d


@pytest.fixture(scope="module")
def opt_run(cohort_dir, tmp_path_factory):
    import contextlib
    import io

    run = tmp_path_factory.mktemp("fit_opt_run") / "RUN"
    args = _fit_args(["--data", str(cohort_dir), "--model", "coxph", "--blocks", "clinical,ccta",
                      "--out", str(run), "--repeats", "1", "--folds", "3", "--seed", "4", "--n-boot", "10",
                      "--optimism-boot", "6", "--raw-ids", "--param", "penalizer=0.1"])
    so = io.StringIO()
    with contextlib.redirect_stdout(so):
        assert args.func(args) == 0
    return run, so.getvalue()


def test_optimism_csv_and_summary(opt_run, cohort_dir):
    run, printed = opt_run
    t = pd.read_csv(run / "optimism.csv")
    assert tuple(t.columns) == OPTIMISM_COLUMNS and (t["n_used"] == 6).all()
    assert "optimism-corrected bootstrap (B = 6, apparent -> corrected): C " in printed
    prov = json.loads((run / "provenance.json").read_text(encoding="utf-8"))
    assert prov["configuration"]["optimism_boot"] == 6
    assert "optimism_bootstrap" in prov["timings_seconds"]
    # the same numbers as the function called on the final model's columns and patients
    from radiorisk.features import assemble_cohort
    from radiorisk.io import read_cohort

    data = assemble_cohort(read_cohort(cohort_dir), horizon=1826)
    cols = json.loads((run / "model" / "requirements.json").read_text(encoding="utf-8"))
    names = [c["name"] if isinstance(c, dict) else c for c in cols["columns"]]
    direct = optimism_bootstrap("coxph", data.X[names], make_y(data.time, data.event), horizon=1826,
                                n_boot=6, random_state=4, params={"penalizer": 0.1})
    pd.testing.assert_frame_equal(t, direct.to_frame(), check_exact=False, rtol=1e-9)


def test_default_is_off_and_bad_value_names_the_flag(cohort_dir, tmp_path):
    run = run_fit(cohort_dir, tmp_path / "R0", competing_risks=False, model="coxph", blocks="clinical", repeats=1, folds=3,
                  n_boot=0, raw_ids=True)
    assert run.optimism is None and not (tmp_path / "R0" / "optimism.csv").exists()
    args = _fit_args(["--data", str(cohort_dir), "--model", "coxph", "--blocks", "clinical", "--out",
                      str(tmp_path / "R1"), "--repeats", "1", "--folds", "3", "--n-boot", "0",
                      "--optimism-boot", "-1", "--raw-ids"])
    with pytest.raises(FitUsageError, match=r"--optimism-boot must be an integer >= 0"):
        args.func(args)


def test_report_shows_cv_beside_bootstrap(opt_run):
    run, _ = opt_run
    rep = collect_model_report(run, n_boot=0, shap_sample=50)
    sec = next(s for s in rep.sections if s.id == "discrimination")
    table = dict(sec.tables)[INTERNAL_VALIDATION_TITLE]
    pred = pd.read_csv(run / "oof_predictions.csv").groupby("patient_id").agg(
        time=("time", "first"), event=("event", "first"), risk=("risk", "mean"))
    cv = optimism_indexes(pred["time"], pred["event"], pred["risk"], horizon=1826)
    row = table.set_index("index").loc["Harrell's C"]
    assert row["cross-validation (OOF)"] == f"{cv['harrell_c']:.3g}"
    assert any("Cross-validation scores the modelling procedure" in s for s in sec.sentences)


def test_internal_validation_formats_failures():
    opt = pd.DataFrame({"index": ["harrell_c", "calibration_slope"], "apparent": [0.8, 1.0],
                        "bootstrap_train": [0.82, 1.0], "bootstrap_test": [0.78, 0.9],
                        "optimism": [0.04, 0.1], "corrected": [0.76, 0.9], "n_used": [9, 9],
                        "n_failed": [1, 1], "cross_validation": [0.75, np.nan]})
    tables, say = internal_validation(SimpleNamespace(optimism=opt))
    assert tables[0][1]["failed"].tolist() == [1, 1]
    assert "10 bootstrap samples" in say[0] and "against 0.75 in cross-validation" in say[1]
    assert any("1 bootstrap resample(s) could not be fitted" in s for s in say)
    assert internal_validation(SimpleNamespace(optimism=None)) == ((), ())
