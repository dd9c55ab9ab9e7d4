"""ICC(2,1) and its CI; the ICC filter; lesion-to-patient aggregation."""

import numpy as np
import pandas as pd
import pytest

from radiorisk.features import aggregate_lesions, feature_icc, icc, robust_features

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
SF = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)


def test_icc21_matches_shrout_fleiss_and_mcgraw_wong_ci():
    r = icc(SF)
    # ICC(2,1) = 0.290 (Shrout & Fleiss 1979); CI [0.019, 0.761] (McGraw & Wong case 2A, as pingouin/irr)
    assert float(r["icc"]) == pytest.approx(0.2898, abs=5e-4)
    assert float(r["ci_low"]) == pytest.approx(0.019, abs=2e-3)
    assert float(r["ci_high"]) == pytest.approx(0.761, abs=2e-3)


def test_icc_is_vectorised_over_features():
    rng = np.random.default_rng(0)
    cube = np.stack([SF, SF * 2 + 1, rng.normal(size=SF.shape)], axis=2)
    r = icc(cube)
    assert r["icc"][0] == pytest.approx(r["icc"][1])  # ICC is invariant to a linear rescaling
    assert r["icc"][0] == pytest.approx(float(icc(SF)["icc"]))


def test_icc_tracks_reader_noise():
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(200, 1))
    low_noise = truth + rng.normal(scale=0.1, size=(200, 2))
    high_noise = truth + rng.normal(scale=1.0, size=(200, 2))
    assert float(icc(low_noise)["icc"]) == pytest.approx(1 / 1.01, abs=0.03)
    assert float(icc(high_noise)["icc"]) == pytest.approx(0.5, abs=0.1)


def test_feature_icc_and_filter_on_a_wide_table():
    rng = np.random.default_rng(2)
    n = 40
    base = rng.normal(size=n)
    rows = []
    for r, noise in (("reader1", 0.0), ("reader2", 1.0)):
        for i in range(n):
            rows.append({"lesion_id": f"L{i}", "reader": r, "stable": base[i] + rng.normal(scale=0.05),
                         "fragile": base[i] + rng.normal(scale=2.0) * noise})
    rows.append({"lesion_id": "Lonly1", "reader": "reader1", "stable": 0.0, "fragile": 0.0})
    t = feature_icc(pd.DataFrame(rows))
    assert set(t["n_lesions"]) == {n}  # the lesion read once is left out
    assert robust_features(t, threshold=0.75) == ["stable"]
    assert (t["ci_low"] <= t["icc"]).all() and (t["icc"] <= t["ci_high"]).all()


def test_feature_icc_needs_two_readers():
    df = pd.DataFrame({"lesion_id": ["a", "b"], "reader": ["r1", "r1"], "f": [1.0, 2.0]})
    with pytest.raises(ValueError, match="at least 2 lesions read by each of at least 2 readers"):
        feature_icc(df)


def test_aggregation_defines_patients_without_plaque():
    f = pd.DataFrame({
        "patient_id": ["P1", "P1", "P2", "P2"], "lesion_id": ["a", "b", "c", "c"],
        "reader": ["reader1", "reader1", "reader1", "reader2"],
        "original_shape_VoxelVolume": [10.0, 30.0, 5.0, 6.0],
        "original_firstorder_Mean": [100.0, 20.0, 50.0, 60.0],
    })
    agg = aggregate_lesions(f, patient_ids=["P1", "P2", "P3"])
    assert list(agg.index) == ["P1", "P2", "P3"]
    assert not agg.isna().any().any()
    assert agg.loc["P1", "original_firstorder_Mean__max"] == 100.0
    assert agg.loc["P1", "original_firstorder_Mean__wmean"] == pytest.approx((10 * 100 + 30 * 20) / 40)
    assert agg.loc["P2", "n_lesions"] == 1  # reader2's row is not a second lesion
    assert agg.loc["P3", ["n_lesions", "has_plaque", "original_shape_VoxelVolume__sum"]].tolist() == [0, 0, 0.0]
    assert "original_firstorder_Mean__sum" not in agg.columns  # a mean does not add up
