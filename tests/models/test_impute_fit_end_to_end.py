"""``run_fit(..., impute="mice:M")`` end to end, and ``predict_cohort`` on its bundle.

(A pipeline-level test kept with the imputation tests; it belongs in tests/pipeline/.)
"""

import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import FitUsageError
from radiorisk.models import DELTA_COLUMNS, load
from radiorisk.pipeline import predict_cohort, run_fit


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mi") / "D"
    write_synthetic_cohort(d, n=500, mode="established-cad", seed=43, pet_missing="mnar", pet_rate=0.6)
    return d


def test_fit_impute_mice_runs_and_the_bundle_predicts(cohort_dir, tmp_path):
    run = run_fit(cohort_dir, tmp_path / "RUN", competing_risks=False, model="coxph", blocks="clinical,pet", repeats=1, folds=3,
                  n_boot=10, impute="mice:3", raw_ids=True)
    prov = json.loads((tmp_path / "RUN" / "provenance.json").read_text())
    assert prov["configuration"]["impute"] == "mice:3"
    assert any(n.startswith("missing data (coxph): multiple imputation by chained equations, M = 3")
               for n in prov["statements"])
    cox = load(tmp_path / "RUN" / "model").steps[-1][1]
    assert cox.n_imputations == 3 and list(cox.pooled_["m"].unique()) == [3]
    mnar = pd.read_csv(tmp_path / "RUN" / "mnar_sensitivity.csv")
    assert list(mnar.columns) == list(DELTA_COLUMNS) and run.mnar is not None
    assert np.all(np.diff(mnar["mean_risk_missing"]) > 0)
    assert "MNAR sensitivity" in run.summary()
    predict_cohort(tmp_path / "RUN" / "model", cohort_dir, tmp_path / "pred.csv", raw_ids=True)
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert len(pred) == 500 and pred["risk"].between(0, 1).all()
    # the bundle's risks are the final model's: a patient without PET is imputed the same way alone
    est = load(tmp_path / "RUN" / "model")
    assert np.isfinite(pred["risk"]).all() and est.steps[-1][1].imputation_.n_imputations == 3


def test_default_is_median_and_stated(cohort_dir, tmp_path):
    run_fit(cohort_dir, tmp_path / "RUN", competing_risks=False, model="coxph", blocks="clinical", repeats=1, folds=3, n_boot=10,
            raw_ids=True)
    prov = json.loads((tmp_path / "RUN" / "provenance.json").read_text())
    assert prov["configuration"]["impute"] == "median"
    assert any("median imputation with an availability indicator" in n for n in prov["statements"])
    assert not (tmp_path / "RUN" / "mnar_sensitivity.csv").exists()


def test_mice_is_refused_for_xgboost(cohort_dir, tmp_path):
    with pytest.raises(FitUsageError, match="impute='mice:5' is for model coxph"):
        run_fit(cohort_dir, tmp_path / "RUN", competing_risks=False, model="xgb-cox", blocks="clinical", impute="mice:5")
