"""run_robustness on a tiny synthetic cohort with images and a second reader."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.exceptions import ParameterError, RadioriskError
from radiorisk.pipeline._robustness import complete_block, run_robustness

PERTS = ["noise:1", "rotation:10", "translation:0.5", "volume", "contour:1"]
PARAMS_YAML = """\
setting:
  binWidth: 25
imageType:
  Original: {}
featureClass:
  firstorder:
  shape:
  glcm:
"""


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    d = tmp_path_factory.mktemp("robustness") / "cohort"
    write_synthetic_cohort(d, n=60, images=4, second_reader=True, mode="established-cad", seed=11)
    params = d.parent / "small.yaml"
    params.write_text(PARAMS_YAML)
    return d, params


@pytest.fixture(scope="module")
def first_run(cohort):
    d, params = cohort
    out = d.parent / "run1"
    return run_robustness(d / "manifest.csv", params=params, out=out, perturbations=PERTS, seed=7), out


def test_icc_table_has_one_row_per_feature_with_cis(first_run):
    res, out = first_run
    t = res.to_frame()
    features = res.perturbed["feature"].unique()
    assert len(t) == len(features) == t["feature"].nunique()
    assert set(t["feature_class"]) == {"firstorder", "shape", "glcm"} and set(t["image_type"]) == {"original"}
    block = res.provenance["icc_blocks"]["all"]  # incomplete lesions or perturbations are left out, and listed
    assert (t["n_lesions"] == 4 - len(block["lesions_dropped"])).all()
    assert (t["n_perturbations"] == 7 - len(block["perturbations_dropped"])).all()
    assert t["n_lesions"].iloc[0] >= 3 and t["n_perturbations"].iloc[0] >= 6
    failed = set(zip(res.failures["lesion_id"], res.failures["perturbation"], strict=True))
    assert {p for _, p in failed} <= {"volume_-1"}  # only an erosion can empty a thin plaque
    finite = t.dropna(subset=["icc21"])
    for tag in ("icc21", "icc31"):
        assert (finite[f"{tag}_low"] <= finite[tag] + 1e-12).all()
        assert (finite[tag] <= finite[f"{tag}_high"] + 1e-12).all()
    assert t["reader_icc"].notna().all() and (t["n_reader_lesions"] == 4).all()
    assert {f"icc21_{f}" for f in ("noise", "rotation", "translation", "volume", "contour")} <= set(t.columns)
    on_disk = pd.read_csv(out / "robustness_icc.csv")
    assert list(on_disk.columns) == list(t.columns) and len(on_disk) == len(t)
    long = pd.read_parquet(out / "perturbed_features.parquet")
    # the primary reader under 7 perturbations, reader2 original only; failed cells have no rows
    assert len(long) == (4 * 7 + 4 - len(res.failures)) * len(features)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["seed"] == 7 and prov["perturbations"][0] == "original" and prov["primary_reader"] == "reader1"


def test_icc_matches_an_independent_anova(first_run):
    res, _ = first_run
    t = res.icc.set_index("feature")
    long = res.perturbed[res.perturbed["reader"] == "reader1"]
    feat = "original_firstorder_Mean"
    block = res.provenance["icc_blocks"]["all"]
    x = long[long["feature"] == feat].pivot(index="lesion_id", columns="perturbation", values="value")
    x = x.drop(index=block["lesions_dropped"], columns=block["perturbations_dropped"]).to_numpy()
    assert not np.isnan(x).any()
    n, k = x.shape
    # two-way ANOVA via a linear model with subject and rater dummies (numpy least squares)
    rows = np.repeat(np.arange(n), k)
    cols = np.tile(np.arange(k), n)
    design = np.column_stack([np.ones(n * k)] + [(rows == i) * 1.0 for i in range(1, n)]
                             + [(cols == j) * 1.0 for j in range(1, k)])
    y = x.ravel()
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    mse = (resid ** 2).sum() / ((n - 1) * (k - 1))
    msr = k * ((x.mean(1) - y.mean()) ** 2).sum() / (n - 1)
    msc = n * ((x.mean(0) - y.mean()) ** 2).sum() / (k - 1)
    assert t.loc[feat, "icc31"] == pytest.approx((msr - mse) / (msr + (k - 1) * mse), rel=1e-9)
    assert t.loc[feat, "icc21"] == pytest.approx((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n),
                                                 rel=1e-9)
    f_obs = msr / mse
    f_low = f_obs / stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1))
    assert t.loc[feat, "icc31_low"] == pytest.approx((f_low - 1) / (f_low + k - 1), rel=1e-9)


def test_shape_ignores_noise_texture_does_not_and_a_voxel_of_contour_matters_more(first_run):
    t = first_run[0].icc
    shape = t[t["feature_class"] == "shape"]
    assert (shape["icc21_noise"] == 1.0).all()  # noise leaves the mask, hence shape, unchanged
    glcm = t[t["feature_class"] == "glcm"]
    assert (glcm["icc21_noise"] < 1.0).all()
    assert (t.loc[t["feature_class"] == "firstorder", "icc21_noise"] < 1.0).all()
    # a one-voxel change of a thin plaque contour moves the features far more than noise does
    assert t["icc21_volume"].median() < t["icc21_noise"].median()
    assert t["stable"].equals((t["icc21"] >= 0.75) & (t["reader_icc"] >= 0.75))


def test_same_seed_same_numbers_in_parallel_other_seed_other_noise(cohort, first_run):
    d, params = cohort
    res1 = first_run[0]

    def values(res, pert):
        v = res.perturbed
        return v[(v["perturbation"] == pert) & (v["reader"] == "reader1")].set_index(["lesion_id", "feature"])["value"]

    # a perturbation's values depend on (seed, lesion, reader, perturbation) only: not on jobs, nor on the others run
    again = run_robustness(d / "manifest.csv", params=params, perturbations=["noise:1"], seed=7, jobs=2)
    for pert in ("original", "noise_1"):
        pd.testing.assert_series_equal(values(res1, pert), values(again, pert))
    other = run_robustness(d / "manifest.csv", params=params, perturbations=["noise:1"], seed=8)
    assert not np.allclose(values(res1, "noise_1"), values(other, "noise_1"))
    pd.testing.assert_series_equal(values(res1, "original"), values(other, "original"))


def test_rerun_skips_done_lesions_and_redoes_a_removed_one(cohort, first_run):
    d, params = cohort
    res1, out = first_run
    files = sorted((out / "lesions").glob("*.parquet"))
    assert len(files) == 8
    again = run_robustness(d / "manifest.csv", params=params, out=out, perturbations=PERTS, seed=7)
    assert again.n_lesions_skipped == 8
    pd.testing.assert_frame_equal(res1.icc, again.icc)
    files[0].unlink()
    (out / "lesions" / "x.parquet.tmp-1-abc").write_text("orphan of a killed run")
    third = run_robustness(d / "manifest.csv", params=params, out=out, perturbations=PERTS, seed=7)
    assert third.n_lesions_skipped == 7 and files[0].exists()
    assert not list((out / "lesions").glob("*.tmp-*"))
    pd.testing.assert_frame_equal(res1.icc, third.icc)
    files[1].write_bytes(files[1].read_bytes()[:100])  # a damaged file (not written by atomic_write) is redone
    fourth = run_robustness(d / "manifest.csv", params=params, out=out, perturbations=PERTS, seed=7)
    assert fourth.n_lesions_skipped == 7
    pd.testing.assert_frame_equal(res1.perturbed, fourth.perturbed)


def test_failed_perturbations_are_dropped_from_the_icc_and_recorded(cohort, tmp_path):
    d, _ = cohort
    params = {"imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean", "Median"]},
              "setting": {"binWidth": 25, "minimumROISize": 120}}
    res = run_robustness(d / "manifest.csv", params=params, out=tmp_path / "f", perturbations=["volume", "noise:1"])
    eroded = res.failures[res.failures["perturbation"] == "volume_-1"]
    assert len(eroded) > 0  # thin plaques eroded below pyradiomics' minimum ROI size
    prov = res.provenance["icc_blocks"]
    assert "volume_-1" in prov["all"]["perturbations_dropped"] + prov["volume"]["perturbations_dropped"] or \
        prov["all"]["lesions_dropped"]
    assert (res.icc["n_perturbations"] <= 3).all()
    assert len(pd.read_csv(tmp_path / "f" / "robustness_failures.csv")) == len(res.failures)


def test_complete_block_prefers_the_sparser_line():
    a = pd.DataFrame(True, index=list("abcd"), columns=["original", "p1", "p2"])
    a.loc["a", "p1"] = False
    block, rows, cols = complete_block(a)
    assert rows == ["a"] and cols == [] and block.shape == (3, 3)
    a.loc[["b", "c"], "p1"] = False
    block, rows, cols = complete_block(a)
    assert cols == ["p1"] and rows == []


def test_clear_errors(cohort):
    d, params = cohort
    with pytest.raises(RadioriskError, match="reader='nobody' is not in the manifest"):
        run_robustness(d / "manifest.csv", params=params, reader="nobody", perturbations=["noise:1"])
    with pytest.raises(RadioriskError, match="threshold must lie in"):
        run_robustness(d / "manifest.csv", params=params, threshold=1.5)
    with pytest.raises(ParameterError, match="unknown family 'blur'"):
        run_robustness(d / "manifest.csv", params=params, perturbations=["blur"])


def test_the_unperturbed_rater_is_what_extract_gives(cohort, first_run):
    from radiorisk.imaging import extract_radiomics

    d, params = cohort
    res = first_run[0]
    wide = extract_radiomics(d / "manifest.csv", params=params).features.set_index(["lesion_id", "reader"])
    orig = res.perturbed[res.perturbed["perturbation"] == "original"]
    mine = orig.pivot_table(index=["lesion_id", "reader"], columns="feature", values="value")
    pd.testing.assert_frame_equal(mine, wide.loc[mine.index, mine.columns], check_names=False, rtol=1e-12)
