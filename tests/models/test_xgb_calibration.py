"""Cross-validated calibration in the large of every model kind on a calibrated synthetic cohort.

The established-CAD generator is calibrated to published event rates
(``benchmarks/calibrate_synth.py``); a model that is calibrated in the large
has a CV observed/expected ratio (Kaplan-Meier risk over mean predicted risk
by 5 years) near 1.  Before issue 16 xgb-aft started boosting from xgboost's
``base_score`` 0.5 (every risk near 1 in short runs) with a fixed sigma and a
search blind to calibration.
"""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.datasets import simulate_cohort
from radiorisk.features._assemble import assemble_cohort
from radiorisk.models import cross_validate_risk
from radiorisk.stats import oe_ratio_t

H = 1826.0


@pytest.fixture(scope="module")
def cad3000():
    return assemble_cohort(simulate_cohort(3000, mode="established-cad", seed=5), horizon=H)


@pytest.mark.parametrize("model", ["coxph", "xgb-cox", "xgb-aft", "xgb-binary"])
def test_cv_observed_over_expected_near_one(cad3000, model):
    search = None if model == "coxph" else True
    cv = cross_validate_risk(model, cad3000, blocks="clinical,ccta", horizon=H, random_state=0,
                             repeats=1, folds=5, n_jobs=2, search=search)
    oof = cv.oof
    oe = oe_ratio_t(oof["time"], oof["event"], oof["risk"], horizon=H)
    assert 0.9 <= oe <= 1.1, f"{model}: CV O/E {oe:.3f}"
    assert np.all((oof["risk"] > 0) & (oof["risk"] < 1))
