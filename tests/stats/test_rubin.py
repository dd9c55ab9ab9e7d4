"""Rubin's rules (radiorisk.stats._rubin) against R's mice::pool on shared completed data sets.

tests/reference/mice: five completed data sets written by radiorisk (make_completed.py), a
survival::coxph fit on each and mice::pool's pooled table computed in R (mice_reference.R).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.exceptions import RadioriskError
from radiorisk.models import CoxPHRisk, make_y
from radiorisk.stats import fit_cox
from radiorisk.stats._rubin import RUBIN_COLUMNS, barnard_rubin_df, rubin_pool

REF = Path(__file__).parents[1] / "reference" / "mice"
TERMS = ["age_years", "sex_male", "diabetes", "ldl_mmol_l", "log1p_cma_patient", "tbr_max_patient"]
R_COLUMNS = ["m", "estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi"]


@pytest.fixture(scope="module")
def r_pooled():
    return pd.read_csv(REF / "pooled.csv").set_index("term").loc[TERMS]


@pytest.fixture(scope="module")
def r_fits():
    return pd.read_csv(REF / "fits.csv")


def _wide(fits, col):
    return fits.pivot(index="imputation", columns="term", values=col)[TERMS]


def test_pooling_equals_mice_pool_on_r_fits(r_pooled, r_fits):
    dfcom = float(r_pooled["nevent"].iloc[0] - len(TERMS))
    got = rubin_pool(_wide(r_fits, "estimate"), _wide(r_fits, "std.error") ** 2, dfcom=dfcom)
    assert list(got.columns) == list(RUBIN_COLUMNS)
    assert got["term"].tolist() == TERMS
    got = got.set_index("term")
    for col in R_COLUMNS:
        np.testing.assert_allclose(got[col].to_numpy(float), r_pooled[col].to_numpy(float),
                                   rtol=0, atol=1e-8, err_msg=col)
    np.testing.assert_allclose(got["se"], r_pooled["std.error"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got["ci_low"], r_pooled["conf.low"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(got["ci_high"], r_pooled["conf.high"], rtol=0, atol=1e-8)


def _completed(m):
    return pd.read_csv(REF / f"completed_{m}.csv")


def test_python_cox_fits_on_the_same_completed_sets_pool_to_r():
    """Our Cox fitter on the shared completed sets, pooled by us, equals mice::pool to 1e-8."""
    fits = [fit_cox(d[TERMS], d["time"], d["event"], tol=1e-12) for d in map(_completed, range(1, 6))]
    q = np.array([f.coef for f in fits])
    u = np.array([f.se for f in fits]) ** 2
    got = rubin_pool(q, u, terms=TERMS, dfcom=fits[0].n_events - len(TERMS)).set_index("term")
    r = pd.read_csv(REF / "pooled.csv").set_index("term").loc[TERMS]
    for col in R_COLUMNS:
        np.testing.assert_allclose(got[col].to_numpy(float), r[col].to_numpy(float), rtol=0,
                                   atol=1e-8, err_msg=col)


def test_coxph_risk_on_completed_sets_matches_r_to_lifelines_precision():
    """CoxPHRisk (lifelines) on the shared completed sets: pooled estimates as R's to 1e-6."""
    q, u = [], []
    for d in map(_completed, range(1, 6)):
        cox = CoxPHRisk().fit(d[TERMS], make_y(d["time"], d["event"]))
        q.append(cox.coef_)
        u.append(cox.se_ ** 2)
    got = rubin_pool(np.array(q), np.array(u), terms=TERMS, dfcom=53).set_index("term")
    r = pd.read_csv(REF / "pooled.csv").set_index("term").loc[TERMS]
    np.testing.assert_allclose(got["estimate"], r["estimate"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(got["se"], r["std.error"], rtol=1e-5)


def test_barnard_rubin_limits():
    # infinite complete-data df: Rubin's (M - 1) / lambda^2; lambda floored at 1e-4
    b, t = np.array([0.01, 0.0]), np.array([0.05, 0.05])
    df = barnard_rubin_df(5, b, t)
    assert df[0] == pytest.approx(4 / (1.2 * 0.01 / 0.05) ** 2)
    assert df[1] == pytest.approx(4 / 1e-8)
    # with dfcom the df never exceeds the complete-data df's observed-data version
    assert barnard_rubin_df(5, b, t, 50.0)[1] < 50


def test_no_between_variance_gives_complete_data_inference():
    q = np.tile([0.3, -0.2], (4, 1))
    u = np.tile([0.01, 0.04], (4, 1))
    out = rubin_pool(q, u)
    np.testing.assert_allclose(out["b"], 0.0)
    np.testing.assert_allclose(out["se"], [0.1, 0.2])
    np.testing.assert_allclose(out["riv"], 0.0)


def test_a_variance_that_is_not_estimable_gives_nan_for_that_term_only():
    q = np.array([[0.3, -0.2], [0.4, -0.1], [0.35, -0.3]])
    u = np.array([[0.01, np.nan], [0.012, 0.04], [0.011, 0.05]])
    out = rubin_pool(q, u)
    assert np.isfinite(out.loc[0, ["ubar", "t", "df", "riv", "fmi", "se"]].astype(float)).all()
    assert out.loc[1, ["ubar", "t", "df", "riv", "lambda", "fmi", "se"]].isna().all()
    assert out.loc[1, "estimate"] == pytest.approx(-0.2)


@pytest.mark.parametrize("kw, msg", [
    ({"estimates": [[1.0, 2.0]], "variances": [[1.0, 1.0]]}, "at least 2 imputations"),
    ({"estimates": [[1.0], [2.0]], "variances": [[1.0, 1.0], [1.0, 1.0]]}, "shape"),
    ({"estimates": [[1.0], [np.nan]], "variances": [[1.0], [1.0]]}, "finite"),
    ({"estimates": [[1.0], [2.0]], "variances": [[1.0], [-1.0]]}, ">= 0"),
    ({"estimates": [[1.0], [2.0]], "variances": [[1.0], [1.0]], "dfcom": 0}, "dfcom"),
])
def test_errors_name_the_parameter(kw, msg):
    with pytest.raises(RadioriskError, match=msg):
        rubin_pool(**kw)
