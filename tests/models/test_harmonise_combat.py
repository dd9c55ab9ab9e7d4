"""ComBatHarmoniser: batch differences removed, fitted inside the folds (no leak), unseen batch refused, bundles."""

from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kruskal

from radiorisk.features import CohortData
from radiorisk.models import (
    ComBatHarmoniser,
    ModelError,
    check_batches,
    cross_validate_risk,
    load,
    make_model,
    make_y,
)
from radiorisk.stats import combat_apply, combat_fit, harrell_c

_SHIFT = {"GE": (0.0, 1.0), "Siemens": (2.0, 2.0), "Canon": (-1.0, 0.5)}


def _features(seed=0, n=300, p=6):
    rng = np.random.default_rng(seed)
    vendor = rng.choice(list(_SHIFT), n, p=[0.4, 0.35, 0.25])
    loc = np.array([_SHIFT[v][0] for v in vendor])
    scale = np.array([_SHIFT[v][1] for v in vendor])
    age = rng.normal(62, 9, n)
    F = loc[:, None] + scale[:, None] * rng.normal(size=(n, p)) + 0.04 * (age[:, None] - 62)
    X = pd.DataFrame(F, columns=[f"rad_original_f{j}__max" for j in range(p)],
                     index=pd.Index([f"P{i:04d}" for i in range(n)], name="patient_id"))
    X.insert(0, "age_years", age)
    X["batch:vendor"] = pd.Series(vendor, index=X.index, dtype=object)
    return X


def _between_share(values: pd.Series, batch: pd.Series) -> float:
    """Between-batch share of the variance (eta squared)."""
    grand = values.mean()
    between = sum(len(g) * (g.mean() - grand) ** 2 for _, g in values.groupby(batch))
    return float(between / ((values - grand) ** 2).sum())


def test_batch_differences_before_and_not_after():
    X = _features()
    cols = [c for c in X if c.startswith("rad_")]
    h = ComBatHarmoniser(batch=["vendor"], covariates=["age_years"]).fit(X)
    Xt = h.transform(X)
    assert "batch:vendor" not in Xt.columns and h.columns_ == cols and h.batches_ == ["Canon", "GE", "Siemens"]
    b = X["batch:vendor"]
    for c in cols:
        groups_before = [X.loc[b == v, c] for v in _SHIFT]
        groups_after = [Xt.loc[b == v, c] for v in _SHIFT]
        assert kruskal(*groups_before).pvalue < 1e-20 and _between_share(X[c], b) > 0.25
        assert kruskal(*groups_after).pvalue > 0.05 and _between_share(Xt[c], b) < 0.01
        sd = [g.std() for g in groups_after]
        assert max(sd) / min(sd) < 1.3  # the scale differences (0.5 to 2) are gone too
    # the covariate effect is preserved: age still predicts the harmonised feature with the same slope
    slope = np.polyfit(X["age_years"], Xt[cols[0]], 1)[0]
    assert 0.02 < slope < 0.06
    assert Xt["age_years"].equals(X["age_years"])


def _null_cohort(seed, n=300, p=100):
    """Features carry nothing about the outcome; the outcome is associated with the batch (events only at the
    Canon site, whose scans are 8 times noisier)."""
    rng = np.random.default_rng(seed)
    lab = rng.choice(["GE", "Siemens", "Canon"], n, p=[0.3, 0.3, 0.4])
    event = (rng.random(n) < np.where(lab == "Canon", 0.5, 0.0)).astype(int)
    time = np.where(event == 1, rng.uniform(50, 1500, n), 1826.0)
    scale = np.where(lab == "Canon", 8.0, 1.0)
    ids = pd.Index([f"P{i:04d}" for i in range(n)], name="patient_id")
    cols = [f"rad_original_f{j}__max" for j in range(p)]
    X = pd.DataFrame(scale[:, None] * rng.normal(size=(n, p)), index=ids, columns=cols)
    return X, lab, event, time, ids, cols


def _data(X, lab, event, time, ids, cols, with_batch):
    X = X.copy()
    if with_batch:
        X["batch:vendor"] = pd.Series(lab, index=ids, dtype=object)
    return CohortData(X=X, time=pd.Series(time, index=ids), event=pd.Series(event, index=ids),
                      blocks=MappingProxyType({"clinical": (), "ccta": (), "radiomics": tuple(cols), "pet": ()}),
                      groups=pd.DataFrame({"sex": "f", "ethnicity": "x", "site": lab}, index=ids),
                      pet_available=pd.Series(False, index=ids),
                      batch_columns=("batch:vendor",) if with_batch else ())


@pytest.mark.parametrize("seed", [0, 3])
def test_combat_on_all_data_before_cv_leaks_and_in_fold_does_not(seed):
    X, lab, event, time, ids, cols = _null_cohort(seed)
    kw = {"blocks": "radiomics", "horizon": 1826, "repeats": 1, "folds": 5, "random_state": 0}
    # the common shortcut: ComBat once on every patient, preserving the outcome (event) as a covariate
    # (done to keep the batch-outcome association); the held-out outcomes then enter every feature
    glob = X.copy()
    glob[:] = combat_apply(combat_fit(X.to_numpy(), lab, event[:, None]), X.to_numpy(), lab, event[:, None])
    fixed = {"penalizer": 5.0}
    cv_glob = cross_validate_risk("coxph", _data(glob, lab, event, time, ids, cols, False), params=fixed, **kw)
    cv_fold = cross_validate_risk("coxph", _data(X, lab, event, time, ids, cols, True),
                                  params={**fixed, "harmonise": ["vendor"]}, **kw)
    c_glob = harrell_c(cv_glob.oof["time"], cv_glob.oof["event"], cv_glob.oof["risk"])
    c_fold = harrell_c(cv_fold.oof["time"], cv_fold.oof["event"], cv_fold.oof["risk"])
    print(f"seed {seed}: out-of-fold Harrell C, ComBat on all data {c_glob:.3f}, in-fold ComBat {c_fold:.3f}")
    assert c_glob > 0.7  # optimistic: the features hold no information
    assert abs(c_fold - 0.5) < 0.08
    assert c_glob - c_fold > 0.2


def test_unseen_batch_is_refused_and_bundle_round_trips(tmp_path):
    X = _features(seed=2)
    rng = np.random.default_rng(4)
    y = make_y(rng.exponential(2000, len(X)) + 1, rng.random(len(X)) < 0.4)
    est = make_model("coxph", horizon=1826.0, harmonise=["vendor"], harmonise_covariates=["age_years"],
                     penalizer=0.1).fit(X, y)
    assert [n for n, _ in est.steps][:2] == ["harmonise", "icc"]
    assert "batch:vendor" not in est.steps[2][1].feature_names_in_
    back = load(est.save(tmp_path / "b"))
    assert np.array_equal(back.predict_risk(X), est.predict_risk(X))
    assert back.steps[0][1].transform(X).equals(est.steps[0][1].transform(X))
    assert check_batches(back, X).startswith("ComBat harmonisation (empirical Bayes) of 6 column(s) by vendor")
    new = X.iloc[:5].copy()
    new["batch:vendor"] = ["GE", "Philips", "GE", "Philips", "Canon"]
    msg = r"batch vendor = 'Philips' \(first row 'P0001'; 2 row\(s\) in 1 unseen batch\(es\)\) was not seen " \
          r"in training; batches seen: 'Canon', 'GE', 'Siemens'"
    with pytest.raises(ModelError, match=msg):
        back.predict_risk(new)
    with pytest.raises(ModelError, match=msg):
        check_batches(back, new)
    with pytest.raises(ModelError, match="X has no batch column"):
        back.predict_risk(X.drop(columns="batch:vendor"))
