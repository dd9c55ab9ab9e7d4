"""ICC(2,1) and ICC(3,1) with CIs against R's psych::ICC and a hand computation from the ANOVA table."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from radiorisk.features import feature_icc, icc

REF = Path(__file__).resolve().parents[1] / "reference" / "icc"


def _tables():
    long = pd.read_csv(REF / "icc_tables.csv")
    for t, grp in long.groupby("table"):
        yield t, grp.pivot(index="subject", columns="rater", values="value").to_numpy(float)


@pytest.mark.parametrize("kind", ["2,1", "3,1"])
def test_icc_matches_psych(kind):
    ref = pd.read_csv(REF / "icc_psych.csv", dtype={"kind": str})
    for t, x in _tables():
        row = ref[(ref["table"] == t) & (ref["kind"] == kind)].iloc[0]
        r = icc(x, kind=kind)
        assert float(r["icc"]) == pytest.approx(row["icc"], abs=1e-10)
        assert float(r["ci_low"]) == pytest.approx(row["ci_low"], abs=1e-8)
        assert float(r["ci_high"]) == pytest.approx(row["ci_high"], abs=1e-8)


def test_icc31_by_hand_from_the_anova_table():
    # Shrout & Fleiss (1979) Table 2; mean squares from a two-way ANOVA written out loop by loop
    x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
    n, k = x.shape
    g = sum(sum(r) for r in x) / (n * k)
    ss_rows = sum(k * (sum(r) / k - g) ** 2 for r in x)
    ss_cols = sum(n * (sum(x[i][j] for i in range(n)) / n - g) ** 2 for j in range(k))
    ss_tot = sum((v - g) ** 2 for r in x for v in r)
    msr, mse = ss_rows / (n - 1), (ss_tot - ss_rows - ss_cols) / ((n - 1) * (k - 1))
    expected = (msr - mse) / (msr + (k - 1) * mse)
    assert expected == pytest.approx(0.7148, abs=1e-4)  # Shrout & Fleiss report .71
    f_l = (msr / mse) / stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1))
    r = icc(x, kind="3,1")
    assert float(r["icc"]) == pytest.approx(expected, rel=1e-12)
    assert float(r["ci_low"]) == pytest.approx((f_l - 1) / (f_l + k - 1), rel=1e-12)


def test_icc31_ignores_a_systematic_rater_shift_icc21_does_not():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(50, 1))
    x = np.hstack([base, base + 3.0]) + rng.normal(scale=0.05, size=(50, 2))
    assert float(icc(x, kind="3,1")["icc"]) > 0.99
    assert float(icc(x, kind="2,1")["icc"]) < 0.2


def test_unknown_kind_and_feature_icc_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        icc(np.ones((3, 2)), kind="1,1")
    df = pd.DataFrame({"lesion_id": list("aabbcc"), "reader": ["r1", "r2"] * 3,
                       "f": [1.0, 2.1, 2.0, 3.0, 3.0, 3.9]})
    t2, t3 = feature_icc(df), feature_icc(df, kind="3,1")
    assert float(t3["icc"].iloc[0]) > float(t2["icc"].iloc[0])
