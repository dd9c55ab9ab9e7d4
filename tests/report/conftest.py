"""Fixtures of the report tests: a small fitted RUN and its model report (built once per session).

Names start with ``model_report_`` so they do not collide with the patient-report fixtures.
"""

from __future__ import annotations

import pytest

MODEL_REPORT_N_BOOT = 30


@pytest.fixture(scope="session")
def model_report_run(tmp_path_factory):
    """A 400-patient synthetic cohort and a coxph RUN on clinical+ccta+pet (1 x 3-fold CV): (data, run)."""
    from radiorisk.datasets import write_synthetic_cohort
    from radiorisk.pipeline import run_fit

    root = tmp_path_factory.mktemp("model_report")
    data = root / "data"
    write_synthetic_cohort(data, n=400, seed=3)
    run = root / "run"
    run_fit(data, run, competing_risks=False, model="coxph", blocks=["clinical", "ccta", "pet"], repeats=1, folds=3, seed=0,
            n_boot=20, params={"penalizer": 0.1})
    return data, run


@pytest.fixture(scope="session")
def model_report_html(model_report_cli):
    """The text of the report written by ``radiorisk report`` on :func:`model_report_run`."""
    return model_report_cli["out"].read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def model_report_cli(model_report_run, tmp_path_factory):
    """Run ``radiorisk report --run RUN --out REPORT.html --n-boot 30`` once; exit code, paths, output."""
    import contextlib
    import io

    from radiorisk.cli import main

    data, run = model_report_run
    out = tmp_path_factory.mktemp("model_report_out") / "sub" / "report.html"
    so, se = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        code = main(["report", "--run", str(run), "--out", str(out), "--n-boot", str(MODEL_REPORT_N_BOOT)])
    return {"code": code, "out": out, "stdout": so.getvalue(), "stderr": se.getvalue(), "run": run,
            "data": data}
