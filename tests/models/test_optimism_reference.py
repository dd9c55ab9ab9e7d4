"""The optimism bootstrap against R (tests/reference/optimism/optimism_reference.R).

R's hand-written Efron-Gong loop reproduces ``rms::validate`` exactly on R's own resamples
(checked in the R script and recorded in the JSON); the same loop, fully converged, on the index
matrix radiorisk draws gives the reference values asserted here for an unpenalised Cox pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.models import make_y, optimism_bootstrap
from radiorisk.stats import StratifiedBootstrap

REF = Path(__file__).resolve().parents[1] / "reference" / "optimism"
WHAS = Path(__file__).resolve().parents[1] / "reference" / "referee" / "cox_whas500.csv"
STATS = ("apparent", "bootstrap_train", "bootstrap_test", "optimism", "corrected")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "optimism_whas500.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def result():
    d = pd.read_csv(WHAS)
    X, y = d.drop(columns=["time", "event"]).astype(float), make_y(d["time"], d["event"])
    idx = np.loadtxt(REF / "indices_whas500.csv", delimiter=",", dtype=np.int64)
    return optimism_bootstrap("coxph", X, y, horizon=365.0, indices=idx)


def test_r_loop_reproduces_rms_validate(ref):
    # the R script stops unless its loop equals rms::validate; the recorded difference says so too
    rv = ref["rms_validate"]
    assert rv["manual_loop_max_abs_diff"] < 1e-12
    assert rv["table"]["Slope"]["index.orig"] == 1.0 and rv["table"]["Dxy"]["n"] == rv["B"]
    # Hmisc's dxy.cens equals 2 C - 1 of survival::concordance on this fixture (ties included)
    assert ref["max_abs_dxy_hmisc_minus_2c_1"] < 1e-12


def test_index_matrix_is_radiorisks_draw(result):
    n = result.indices.shape[1]
    drawn = StratifiedBootstrap(np.zeros(n), 25, random_state=20261204).indices(range(25))
    np.testing.assert_array_equal(result.indices, drawn)


@pytest.mark.parametrize("index", ["harrell_c", "dxy", "calibration_slope"])
def test_optimism_equals_r(result, ref, index):
    t = result.to_frame().set_index("index")
    for col in STATS:
        assert t.loc[index, col] == pytest.approx(ref[index][col], abs=1e-6), (index, col)
    assert t.loc[index, "n_used"] == ref["B"] and t.loc[index, "n_failed"] == 0


@pytest.mark.parametrize("index", ["harrell_c", "calibration_slope"])
def test_per_resample_values_equal_r(result, ref, index):
    p = result.per_resample[result.per_resample["index"] == index].sort_values("resample")
    np.testing.assert_allclose(p["train"], ref[index]["train"], atol=1e-6)
    np.testing.assert_allclose(p["test"], ref[index]["test"], atol=1e-6)


def test_dxy_matches_hmisc_definition(result, ref):
    t = result.to_frame().set_index("index")
    assert t.loc["dxy", "corrected"] == pytest.approx(ref["dxy_hmisc"]["corrected"], abs=1e-6)
