"""MNAR delta adjustment of imputed PET (radiorisk.models._impute_sensitivity)."""

import numpy as np
import pytest

from radiorisk.datasets import simulate_cohort
from radiorisk.exceptions import ModelError
from radiorisk.features import assemble_cohort
from radiorisk.models import make_mi_model, make_y
from radiorisk.models._impute_sensitivity import DELTA_COLUMNS, delta_sensitivity

BLOCKS = ["clinical", "ccta", "pet"]


def _cohort(mech, n=1500, seed=11):
    c = simulate_cohort(n, mode="established-cad", seed=seed, pet_missing=mech, pet_rate=0.5)
    return c, assemble_cohort(c)


@pytest.fixture(scope="module")
def mnar():
    return _cohort("mnar")


@pytest.fixture(scope="module")
def mnar_table(mnar):
    return delta_sensitivity(mnar[1], blocks=BLOCKS, horizon=1826, random_state=0, n_imputations=3,
                             folds=3)


def test_table_moves_in_the_expected_direction_under_mnar(mnar_table):
    tab = mnar_table.table
    assert list(tab.columns) == list(DELTA_COLUMNS)
    assert mnar_table.columns == ("log1p_cma_patient", "tbr_max_patient")
    # PET's hazard ratio is > 1: higher imputed PET -> higher risk of the patients without PET ...
    assert np.all(np.diff(tab["mean_risk_missing"]) > 0)
    # ... so fewer observed than expected events among them and overall; C pooled the same way
    assert np.all(np.diff(tab["oe_ratio_missing"]) < 0)
    assert np.all(np.diff(tab["oe_ratio"]) < 0)
    assert np.all(np.diff(tab["oe_ratio_pooled"]) < 0)
    # the patients with PET are predicted by the same fits on their own values
    assert np.ptp(tab["mean_risk_observed"]) == 0
    # the missing PET values are lower than MAR imputes (next test): shifting them down discriminates
    # better, shifting them up worse
    c = tab.set_index("delta")["harrell_c"]
    assert c[-0.5] > c[0.0] > c[0.5] > c[1.0]
    assert c.idxmax() < 0
    assert 0.5 < tab["harrell_c_pooled"].min() and tab["harrell_c_pooled"].max() < 0.9
    assert tab["n_missing"].iloc[0] == tab["n_missing"].iloc[-1] > 300


def test_under_mar_the_unshifted_imputations_discriminate_best():
    tab = delta_sensitivity(_cohort("mar")[1], blocks=BLOCKS, horizon=1826, random_state=0,
                            n_imputations=3, folds=3).table
    c = tab.set_index("delta")["harrell_c"]
    assert c.idxmax() in (0.0, 0.5)
    assert c[-1.0] < c[-0.5] < c[0.0]
    assert np.all(np.diff(tab["oe_ratio_missing"]) < 0)


def _oracle_delta(cohort, data, column="log1p_cma_patient"):
    """(truth-implied mean - MAR-imputed mean) of the missing values, in SD of the observed ones."""
    truth = cohort.truth.set_index("patient_id").loc[data.X.index, "true_cma"]
    obs = data.X[column].notna().to_numpy()
    cols = list(data.varying_columns(data.columns(BLOCKS)))
    est = make_mi_model(3, horizon=1826.0).fit(data.X[cols], make_y(data.time, data.event))
    pre, cox = est.steps[1][1], est.steps[-1][1]
    j = list(pre.feature_names_out_).index(column)
    imputed = np.mean([x[~obs, j] for x in cox.imputation_.transform(pre.transform(data.X[cols]).to_numpy())])
    fit = np.polyfit(np.log1p(truth[obs]), data.X.loc[obs, column], 1)  # measured vs true, observed rows
    implied = np.polyval(fit, np.log1p(truth[~obs])).mean()
    return (implied - (imputed * pre.scales_[column] + pre.means_[column])) / pre.scales_[column]


def test_the_generator_mnar_needs_a_negative_delta(mnar):
    """PET is more often done with higher activity: the missing values are below their MAR imputations."""
    assert _oracle_delta(*mnar) < -0.4
    assert abs(_oracle_delta(*_cohort("mar"))) < 0.15


def test_errors_name_the_parameter(mnar):
    with pytest.raises(ModelError, match=r"columns \['nope'\]"):
        delta_sensitivity(mnar[1], blocks=BLOCKS, horizon=1826, random_state=0, columns=["nope"])
    with pytest.raises(ModelError, match="no continuous PET column"):
        delta_sensitivity(mnar[1], blocks="clinical", horizon=1826, random_state=0)
    with pytest.raises(ModelError, match="n_imputations"):
        delta_sensitivity(mnar[1], blocks=BLOCKS, horizon=1826, random_state=0, n_imputations=1)
