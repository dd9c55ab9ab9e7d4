"""Multiple imputation inside the Cox model (radiorisk.models._impute, CoxPHRisk(n_imputations=M))."""

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t
from sklearn.base import clone

from radiorisk.exceptions import ModelError
from radiorisk.models import CoxPHRisk, load, make_y
from radiorisk.models._base import breslow_risk
from radiorisk.models._impute import ChainedImputation, _chain, _imputer, _state_of, nelson_aalen_at
from radiorisk.models._impute_model import MIModel, make_mi_model, parse_impute
from radiorisk.stats._rubin import rubin_pool

REF = Path(__file__).parents[1] / "reference" / "mice"


def _cohort(n=400, seed=0, miss=0.4):
    rng = np.random.default_rng(seed)
    age = rng.normal(0, 1, n)
    tbr = 0.6 * age + rng.normal(0, 0.8, n)
    t = rng.exponential(1000 / np.exp(0.4 * age + 0.8 * tbr)) + 1
    c = rng.exponential(1500, n) + 1
    X = pd.DataFrame({"age": age, "sex": (rng.random(n) < 0.5).astype(float), "tbr": tbr})
    X.loc[rng.random(n) < miss, "tbr"] = np.nan
    return X, make_y(np.minimum(t, c), t <= c), tbr


def test_nelson_aalen_equals_mice_nelsonaalen():
    r = pd.read_csv(REF / "nelsonaalen.csv")
    np.testing.assert_allclose(nelson_aalen_at(r["time"], r["event"]), r["H"], rtol=0, atol=1e-12)


def test_new_row_chain_is_sklearn_bayesian_ridge():
    """Our replay of the fitted imputer = sklearn's predictive mean (z = 0) and mean + SD (z = 1)."""
    X, _, _ = _cohort()
    Xa = X.to_numpy()
    imp = _imputer(3, 5, Xa.shape[1]).fit(Xa)
    st = _state_of(imp)
    miss = np.isnan(Xa)
    start = np.where(miss, st["means"][None, :], Xa)
    for zval in (0.0, 1.0):
        want = start.copy()
        for tr in imp.imputation_sequence_:
            need = miss[:, tr.feat_idx]
            mu, sd = tr.estimator.predict(want[need][:, tr.neighbor_feat_idx], return_std=True)
            want[need, tr.feat_idx] = mu + zval * sd
        got = _chain(start, miss, st["sequence"], np.full((len(Xa), len(st["sequence"])), zval))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_outcome_enters_the_training_imputations_only():
    X, y, _ = _cohort(n=800, seed=1)
    imp = ChainedImputation(5, random_state=2).fit(X.to_numpy(), y["time"], y["event"])
    rows = X["tbr"].isna().to_numpy()
    # within the missing rows, residual of the imputed tbr on age correlates with the hazard
    h = nelson_aalen_at(y["time"], y["event"])[rows]
    age = X["age"].to_numpy()[rows]

    def partial_corr(v):
        res = v - np.polyval(np.polyfit(age, v, 1), age)
        return np.corrcoef(res, h)[0, 1]

    train = np.mean([partial_corr(c[rows, 2]) for c in imp.completed_])
    new = np.mean([partial_corr(c[rows, 2]) for c in imp.transform(X.to_numpy())])
    assert abs(train) > 0.15  # (longer follow-up, larger H: lower tbr)
    assert abs(new) < 0.1


def test_new_row_imputations_do_not_depend_on_the_batch_or_the_call():
    X, y, _ = _cohort()
    imp = ChainedImputation(3, random_state=0).fit(X.to_numpy(), y["time"], y["event"])
    full = imp.transform(X.to_numpy())
    i = int(np.flatnonzero(X["tbr"].isna())[5])
    alone = imp.transform(X.to_numpy()[[i]])
    for m in range(3):
        np.testing.assert_array_equal(alone[m][0], full[m][i])
    assert len({round(full[m][i, 2], 12) for m in range(3)}) == 3  # the M draws differ
    np.testing.assert_array_equal(imp.transform(X.to_numpy())[1], full[1])


def test_imputations_are_proper_draws():
    """MCAR normal data: imputed values have the conditional mean and the conditional spread."""
    X, y, tbr = _cohort(n=3000, seed=4, miss=0.3)
    imp = ChainedImputation(5, random_state=1).fit(X.to_numpy(), y["time"], y["event"])
    rows = X["tbr"].isna().to_numpy()
    for Xc in imp.transform(X.to_numpy()):
        resid = Xc[rows, 2] - 0.6 * X["age"].to_numpy()[rows]  # true conditional mean 0.6 * age, SD 0.8
        assert abs(resid.mean()) < 0.08
        assert resid.std() == pytest.approx(0.8, rel=0.1)


def test_mi_cox_pools_by_rubin_and_averages_risks():
    X, y, _ = _cohort()
    est = make_mi_model(4, horizon=365.0, random_state=1).fit(X, y)
    cox = est.steps[-1][1]
    fits = cox.imputation_fits_
    want = rubin_pool(np.array([f["coef"] for f in fits]), np.array([f["se"] for f in fits]) ** 2,
                      dfcom=int(y["event"].sum()) - 3)
    np.testing.assert_allclose(cox.coef_, want["estimate"])
    np.testing.assert_allclose(cox.se_, want["se"])
    hr = cox.hazard_ratios()
    q = student_t.ppf(0.975, cox.pooled_["df"])
    np.testing.assert_allclose(hr["hr_ci_high"], np.exp(cox.coef_ + q * cox.se_))
    Xt = est.steps[1][1].transform(X)
    completed = cox.imputation_.transform(Xt.to_numpy())
    mean_risk = np.mean([breslow_risk(f["baseline_times"], f["baseline_cumhaz"], 365.0,
                                      np.exp((c - f["means"]) @ f["coef"]))
                         for f, c in zip(fits, completed, strict=True)], axis=0)
    np.testing.assert_allclose(est.predict_risk(X), mean_risk)
    assert (cox.pooled_["fmi"].iloc[2] > cox.pooled_["fmi"].iloc[1])  # tbr is the incomplete one


def test_bundle_round_trip_predicts_the_same():
    X, y, _ = _cohort()
    est = make_mi_model(3, horizon=365.0).fit(X, y)
    folder = est.save(Path(tempfile.mkdtemp()) / "mi")
    back = load(folder)
    np.testing.assert_array_equal(back.predict_risk(X), est.predict_risk(X))
    np.testing.assert_array_equal(back.predict_risk(X.iloc[:7], horizon=200.0),
                                  est.predict_risk(X.iloc[:7], horizon=200.0))
    pd.testing.assert_frame_equal(back.steps[-1][1].hazard_ratios(), est.steps[-1][1].hazard_ratios())


def test_single_fit_bundles_have_no_imputation_state():
    X, y, _ = _cohort()
    state = make_mi_model(2).fit(X, y).steps[-1][1]._to_state(None)
    assert "imputation_" in state
    plain = CoxPHRisk().fit(X.fillna(0.0), y)._to_state(None)
    assert "imputation_" not in plain and "imputation_fits_" not in plain


def test_mi_model_in_cross_validation_is_labelled_coxph():
    from radiorisk.datasets import simulate_cohort
    from radiorisk.features import assemble_cohort
    from radiorisk.models import cross_validate_risk

    data = assemble_cohort(simulate_cohort(300, mode="established-cad", seed=2, pet_rate=0.6))
    cv = cross_validate_risk(MIModel(2, horizon=1826.0), data, blocks="clinical,pet", horizon=1826,
                             repeats=1, folds=3, random_state=0)
    assert cv.model == "coxph"
    assert np.isfinite(cv.oof["risk"]).all()
    est = clone(MIModel(2)(random_state=0))
    assert est.steps[-1][1].n_imputations == 2


@pytest.mark.parametrize("kw, msg", [
    ({"n_imputations": 1}, "n_imputations must be >= 2"),
    ({"impute_delta": 0.5}, "need n_imputations"),
    ({"n_imputations": 2, "delta_columns": ["nope"]}, r"delta_columns \['nope'\]"),
])
def test_errors_name_the_parameter(kw, msg):
    X, y, _ = _cohort(n=100)
    with pytest.raises(ModelError, match=msg):
        CoxPHRisk(**kw).fit(X, y)


def test_nan_without_imputation_is_refused():
    X, y, _ = _cohort(n=100)
    with pytest.raises(ValueError, match="NaN"):
        CoxPHRisk().fit(X, y)


def test_parse_impute_errors():
    with pytest.raises(ModelError, match="not 'median' or 'mice:M'"):
        parse_impute("knn")


def test_mi_cox_pooling_path_equals_mice_pool_on_the_shared_completed_sets():
    """CoxPHRisk's own fits and pooling on the R fixture's completed sets = mice::pool to 1e-8."""
    terms = ["age_years", "sex_male", "diabetes", "ldl_mmol_l", "log1p_cma_patient", "tbr_max_patient"]
    sets = [pd.read_csv(REF / f"completed_{m}.csv") for m in range(1, 6)]
    cox = CoxPHRisk(n_imputations=5)
    cox.n_events_ = int(sets[0]["event"].sum())
    fits = [cox._fit_exact(d[terms].to_numpy(), d["time"].to_numpy(float), d["event"].to_numpy(float),
                           terms) for d in sets]
    cox._set_imputed(fits, terms)
    r = pd.read_csv(REF / "pooled.csv").set_index("term").loc[terms]
    got = cox.pooled_.set_index("term")
    for col in ("estimate", "ubar", "b", "t", "dfcom", "df", "riv", "lambda", "fmi"):
        np.testing.assert_allclose(got[col].to_numpy(float), r[col].to_numpy(float), rtol=0, atol=1e-8,
                                   err_msg=col)
    np.testing.assert_allclose(cox.se_, r["std.error"], rtol=0, atol=1e-8)


def test_contributions_sum_to_the_linear_predictor_and_are_finite_for_missing_pet():
    X, y, _ = _cohort()
    est = make_mi_model(3).fit(X, y)
    cox = est.steps[-1][1]
    Xt = est.steps[1][1].transform(X)
    contrib = cox.predict_contributions(Xt)
    assert contrib.shape == Xt.shape and np.isfinite(contrib).all()
    np.testing.assert_allclose(contrib.sum(axis=1), cox.predict_log_hazard(Xt), rtol=1e-12, atol=1e-12)


def test_too_many_incomplete_columns_are_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 60))
    X[rng.random(120) < 0.3, :55] = np.nan
    with pytest.raises(ModelError, match="55 incomplete columns is not supported"):
        ChainedImputation(2).fit(X, rng.exponential(100, 120) + 1, rng.random(120) < 0.5)
