"""The Cox fitter against survival::coxph (cox_whas500.json)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from radiorisk.stats import NotEstimableError, fit_cox, harrell_c


@pytest.fixture(scope="module")
def whas(referee_dir):
    with open(referee_dir / "cox_whas500.json", encoding="utf-8") as fh:
        ref = json.load(fh)
    return pd.read_csv(referee_dir / "cox_whas500.csv"), ref


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_cox_matches_coxph(whas, ties):
    d, ref = whas
    cov = ref["covariates"]
    r = ref[ties]
    fit = fit_cox(d[cov], d["time"], d["event"], ties=ties)
    tab = fit.to_frame()
    for col in ("coef", "se", "hr", "z"):
        np.testing.assert_allclose(tab[col].to_numpy(), [r[col][c] for c in cov], rtol=0, atol=1e-6)
    np.testing.assert_allclose(tab["p"].to_numpy(), [r["p"][c] for c in cov], rtol=1e-6, atol=1e-12)
    assert fit.loglik == pytest.approx(r["loglik"]["fitted"], abs=1e-6)
    assert fit.loglik_null == pytest.approx(r["loglik"]["null"], abs=1e-6)
    assert (fit.n, fit.n_events) == (r["n"], r["nevent"])
    np.testing.assert_allclose(fit.means, [r["ref_values"][c] for c in cov], atol=1e-12)
    np.testing.assert_allclose(fit.col_means, [r["col_means"][c] for c in cov], atol=1e-12)
    b = r["baseline"]
    times = b["times"]
    np.testing.assert_allclose(fit.survival(times), b["S0_zero"], atol=1e-6)
    np.testing.assert_allclose(fit.survival(times, fit.col_means), b["S0_colmeans"], atol=1e-6)
    np.testing.assert_allclose(fit.survival(times, fit.means), b["S0_ref"], atol=1e-6)
    np.testing.assert_allclose(fit.survival(times, increments="breslow"), b["S0_zero_ctype1"], atol=1e-6)
    np.testing.assert_allclose(fit.survival(times, fit.col_means, increments="breslow"),
                               b["S0_colmeans_ctype1"], atol=1e-6)
    # fit$concordance is Harrell's C of the linear predictor
    lp = fit.linear_predictor(d[cov].to_numpy(float))
    assert harrell_c(d["time"], d["event"], lp) == pytest.approx(r["concordance"]["est"], abs=1e-9)


def test_efron_increments_differ_from_breslow(whas):
    d, ref = whas
    fit = fit_cox(d[ref["covariates"]], d["time"], d["event"], ties="efron")
    assert abs(fit.survival([1825])[0] - fit.survival([1825], increments="breslow")[0]) > 1e-7


def test_cox_without_events_is_not_estimable():
    with pytest.raises(NotEstimableError, match="at least one event"):
        fit_cox(np.arange(5.0), [1, 2, 3, 4, 5], [0, 0, 0, 0, 0])


def test_cox_no_ties_breslow_equals_efron():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 2))
    t = rng.permutation(80) + 1.0
    e = rng.integers(0, 2, 80)
    a, b = fit_cox(x, t, e, ties="breslow"), fit_cox(x, t, e, ties="efron")
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-12)
    np.testing.assert_allclose(a.hazard_breslow, b.hazard_efron, rtol=1e-12)
