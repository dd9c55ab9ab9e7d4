"""Transport diagnostics: SMDs by hand, the membership model's C, support, the linear predictor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from radiorisk.evaluation._transport import (
    SMD_COLUMNS,
    TRANSPORT_COLUMNS,
    SMDDisplay,
    transport_diagnostics,
)
from radiorisk.models._requirements import describe_training
from radiorisk.stats import cloglog
from radiorisk.stats._model_based_c import model_based_c


def _cohort(rng, n, age_mean=60.0, male=0.5):
    return pd.DataFrame({"age": rng.normal(age_mean, 8, n), "ldl": np.where(rng.random(n) < 0.1, np.nan,
                                                                            rng.normal(3, 1, n)),
                         "diabetes": (rng.random(n) < 0.2).astype(float),
                         "sex": np.where(rng.random(n) < male, "M", "F")})


def _risk(X):
    return 1 / (1 + np.exp(-(X["age"].to_numpy() - 70) / 8))


def test_smd_by_hand_and_the_columns():
    rng = np.random.default_rng(0)
    dev, val = _cohort(rng, 500), _cohort(rng, 400, age_mean=64, male=0.7)
    td = transport_diagnostics(val, _risk(val), X_dev=dev, risk_dev=_risk(dev))
    assert list(td.smd.columns) == list(SMD_COLUMNS) and list(td.statistics.columns) == list(TRANSPORT_COLUMNS)
    row = td.smd.set_index("column").loc["age"]
    a, b = dev["age"], val["age"]
    expected = (b.mean() - a.mean()) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    assert row["smd"] == pytest.approx(expected, rel=1e-12) and row["imbalanced"]
    ldl = td.smd.set_index("column").loc["ldl"]  # missing values are left out, as in the summaries
    a, b = dev["ldl"].dropna(), val["ldl"].dropna()
    assert ldl["smd"] == pytest.approx((b.mean() - a.mean()) / np.sqrt((a.var() + b.var()) / 2), rel=1e-12)
    assert ldl["missing_dev"] == pytest.approx(dev["ldl"].isna().mean())
    sex = td.smd.set_index("column").loc["sex"]  # categorical: the level with the largest |SMD| of shares
    p, q = (dev["sex"] == "F").mean(), (val["sex"] == "F").mean()
    assert abs(sex["smd"]) == pytest.approx(abs(q - p) / np.sqrt((p * (1 - p) + q * (1 - q)) / 2), rel=1e-12)
    assert sex["imbalanced"] and sex["level"] in ("F", "M")
    assert td.smd["abs_smd"].is_monotonic_decreasing
    blocks = td.blocks.set_index("block")
    assert blocks.loc["(block not recorded)", "n_imbalanced"] == int(td.smd["imbalanced"].sum())


def test_bundle_summaries_give_the_same_smds_as_the_development_rows():
    rng = np.random.default_rng(1)
    dev, val = _cohort(rng, 300), _cohort(rng, 300, age_mean=62)
    req = describe_training(dev, blocks={"clinical": ["age", "ldl", "diabetes", "sex"]})
    with_rows = transport_diagnostics(val, _risk(val), requirements=req, X_dev=dev, risk_dev=_risk(dev))
    summaries = transport_diagnostics(val, _risk(val), requirements=req)
    pd.testing.assert_frame_equal(with_rows.smd, summaries.smd, rtol=1e-12)
    assert set(summaries.smd["block"]) == {"clinical"}
    assert np.isnan(summaries.value("membership_c")) and summaries.notes
    assert np.isnan(summaries.value("lp_sd", "development"))


def test_membership_c_near_half_for_one_population_and_high_for_shifted():
    rng = np.random.default_rng(2)
    dev, same, shifted = _cohort(rng, 600), _cohort(rng, 600), _cohort(rng, 600, age_mean=70, male=0.8)
    c_same = transport_diagnostics(same, _risk(same), X_dev=dev).value("membership_c")
    c_shift = transport_diagnostics(shifted, _risk(shifted), X_dev=dev).value("membership_c")
    assert 0.4 < c_same < 0.57 and c_shift > 0.8
    # deterministic: the same seed gives the same C
    assert transport_diagnostics(same, _risk(same), X_dev=dev).value("membership_c") == c_same


def test_support_share_and_linear_predictor():
    rng = np.random.default_rng(4)
    dev, val = _cohort(rng, 400), _cohort(rng, 200)
    val.loc[:9, "age"] = 200.0  # ten patients far outside the training range
    req = describe_training(dev)
    td = transport_diagnostics(val, _risk(val), requirements=req, X_dev=dev, risk_dev=_risk(dev))
    expected = float((req.ood_scores(val)["ood_n_outside"] > 0).mean())
    assert td.value("share_outside_support") == expected and expected >= 10 / 200
    dev_share = float((req.ood_scores(dev)["ood_n_outside"] > 0).mean())
    assert td.value("share_outside_support", "development") == dev_share < expected
    lp = cloglog(_risk(val))
    assert td.value("lp_mean") == pytest.approx(lp.mean()) and td.value("lp_sd") == pytest.approx(lp.std(ddof=1))
    assert td.value("model_based_c", "development") == model_based_c(_risk(dev)).estimate
    assert td.smd.set_index("column").loc["age", "share_outside_support"] >= 10 / 200
    assert all(isinstance(s, str) and len(s) > 20 for s in td.statistics["meaning"])


def test_refusals():
    rng = np.random.default_rng(5)
    dev, val = _cohort(rng, 50), _cohort(rng, 50)
    with pytest.raises(ValueError, match="requirements .* or X_dev"):
        transport_diagnostics(val, _risk(val))
    with pytest.raises(ValueError, match="same columns"):
        transport_diagnostics(val, _risk(val), X_dev=dev[["sex", "age", "ldl", "diabetes"]])
    with pytest.raises(ValueError, match="risk_val has 3 values for 50 rows"):
        transport_diagnostics(val, [0.1, 0.2, 0.3], X_dev=dev)


def test_display_draws_one_point_per_input():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(6)
    dev, val = _cohort(rng, 200), _cohort(rng, 200, age_mean=65)
    d = SMDDisplay.from_transport(transport_diagnostics(val, _risk(val), X_dev=dev)).plot()
    assert len(d.ax_.get_yticks()) == len(d.table_) == 4
