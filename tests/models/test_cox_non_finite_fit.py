"""An unpenalised Cox fit without a finite maximum is refused at the fit, naming columns, cause and fix.

Before: ``radiorisk fit --model coxph --param penalizer=0`` on a small established-CAD cohort with
three blocks (21 events, 44 columns) fitted coefficients in the hundreds with NaN standard errors,
and only failed when saving, with "estimator.json: Out of range float values are not JSON compliant".
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from radiorisk.cli import main
from radiorisk.datasets import simulate_cohort
from radiorisk.features import assemble_cohort
from radiorisk.models import BundleError, ModelError, load, make_model, make_y, save_model

BLOCKS = ("clinical", "ccta", "pet")


@pytest.fixture(scope="module")
def separated():
    d = assemble_cohort(simulate_cohort(150, mode="established-cad", seed=3))
    cols = [c for b in BLOCKS for c in d.blocks[b]]
    return d.X[cols], d.time, d.event


def test_unpenalised_fit_without_a_finite_maximum_is_refused(separated):
    X, t, e = separated
    with pytest.raises(ModelError) as exc:
        make_model("coxph", horizon=1826.0, penalizer=0.0).fit(X, make_y(t, e))
    msg = str(exc.value)
    assert msg.startswith("the Cox model's fit is not finite: non-finite standard errors for 44 of 44 "
                          "columns (age_years, sex_male, ")
    assert f"{int(np.sum(e))} events for 44 parameters" in msg and "events per parameter" in msg
    assert "separates the events" in msg and "collinear" in msg
    assert "Fix: a penalty (penalizer=0 now" in msg and "fewer modality blocks" in msg


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R (survival)")
def test_survival_coxph_also_finds_no_finite_maximum(separated, tmp_path):
    """The independent check: survival::coxph on the same matrix reports infinite coefficients."""
    X, t, e = separated
    df = X.copy()
    df["time"], df["event"] = np.asarray(t), np.asarray(e).astype(int)
    df.to_csv(tmp_path / "d.csv", index=False)
    code = ('library(survival); d <- read.csv(commandArgs(TRUE)[1]);'
            'd <- d[, sapply(d, function(v) length(unique(v)) > 1)];'
            'f <- coxph(Surv(time, event) ~ ., data = d, ties = "efron")')
    r = subprocess.run(["Rscript", "-e", code, str(tmp_path / "d.csv")], capture_output=True,
                       text=True, encoding="utf-8", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "coefficients may be infinite" in r.stderr


def test_the_fix_a_penalty_gives_a_finite_model_that_saves(separated, tmp_path):
    X, t, e = separated
    m = make_model("coxph", horizon=1826.0, penalizer=0.1).fit(X, make_y(t, e))
    cox = m.steps[-1][1]
    assert np.isfinite(cox.coef_).all() and np.isfinite(cox.se_).all()
    back = load(save_model(m, tmp_path / "m"))
    np.testing.assert_array_equal(back.predict_risk(X), m.predict_risk(X))


def test_a_bundle_never_holds_a_non_finite_number_and_names_where_it_is(separated, tmp_path):
    X, t, e = separated
    m = make_model("coxph", horizon=1826.0, penalizer=0.1).fit(X[["age_years", "sex_male"]], make_y(t, e))
    m.steps[-1][1].se_[1] = np.nan
    with pytest.raises(BundleError, match=r"^estimator\.json: state\.se_\[1\] is nan, and a bundle stores "
                                          r"only finite numbers"):
        save_model(m, tmp_path / "m")
    assert list(tmp_path.iterdir()) == []  # no bundle and no temporary folder left


def test_cli_fit_fails_with_the_clear_message(tmp_path, capsys):
    assert main(["synth", "--n", "150", "--mode", "established-cad", "--seed", "3",
                 "--out", str(tmp_path / "c"), "--quiet"]) == 0
    code = main(["fit", "--data", str(tmp_path / "c"), "--model", "coxph", "--blocks", ",".join(BLOCKS),
                 "--param", "penalizer=0", "--repeats", "1", "--folds", "3", "--n-boot", "20",
                 "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert "the Cox model's fit is not finite: non-finite standard errors" in err
    assert "Fix: a penalty" in err and "Out of range float" not in err and "Traceback" not in err
