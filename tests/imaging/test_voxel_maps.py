"""Voxel-based feature maps reproduce pyradiomics' own voxel-based extraction on the image files."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import featureextractor

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.imaging import (
    load_params,
    read_image,
    read_manifest_for_extraction,
    voxel_feature_maps,
)
from radiorisk.imaging._voxel_maps import VoxelMapError

FEATURES = ["original_glcm_Contrast", "original_firstorder_Mean", "log-sigma-1-0-mm-3D_firstorder_Median",
            "wavelet-LLH_gldm_DependenceVariance"]


@pytest.fixture(scope="module")
def lesion(tmp_path_factory):
    d = tmp_path_factory.mktemp("vox") / "cohort"
    write_synthetic_cohort(d, n=40, images=1, seed=7, progress=False)
    man = read_manifest_for_extraction(d / "manifest.csv")
    row = man.iloc[0]
    return row, read_image(row["image_path"]), read_image(row["mask_path"], what="mask")


def _reference_roi(mask_path, labels, margin: int, tmp_path):
    """The lesion grown by ``margin`` 6-connected steps, by SimpleITK's own dilation (independent of scipy)."""
    m = sitk.ReadImage(str(mask_path))
    arr = np.isin(sitk.GetArrayFromImage(m), list(labels)).astype(np.uint8)
    roi = sitk.GetImageFromArray(arr)
    roi.CopyInformation(m)
    for _ in range(margin):
        roi = sitk.BinaryDilate(roi, [1, 1, 1], sitk.sitkCross, 0, 1)
    path = tmp_path / "roi.nii.gz"
    sitk.WriteImage(roi, str(path))
    return path


def test_maps_equal_pyradiomics_voxel_based_on_the_files(lesion, tmp_path):
    row, image, mask = lesion
    labels = tuple(int(v) for v in row["labels"])
    maps = voxel_feature_maps(image, mask, FEATURES, "ccta-plaque", labels=labels, kernel_radius=1,
                              margin_voxels=2)
    # pyradiomics by its own API on the files: the preset, then only these image types and features
    ext = featureextractor.RadiomicsFeatureExtractor(load_params("ccta-plaque").params)
    ext.settings.update({"kernelRadius": 1, "maskedKernel": True, "additionalInfo": False})
    ext.disableAllImageTypes()
    ext.enableImageTypeByName("Original")
    ext.enableImageTypeByName("LoG", customArgs={"sigma": [1.0]})
    ext.enableImageTypeByName("Wavelet")
    ext.disableAllFeatures()
    ext.enableFeaturesByName(glcm=["Contrast"], firstorder=["Mean", "Median"], gldm=["DependenceVariance"])
    ref = ext.execute(str(row["image_path"]), str(_reference_roi(row["mask_path"], labels, 2, tmp_path)),
                      label=1, voxelBased=True)
    written = maps.write(tmp_path / "maps", "lesion1")
    for f in FEATURES:
        got, want = maps.maps[f], ref[f]
        assert got.GetSize() == want.GetSize()
        np.testing.assert_allclose(got.GetOrigin(), want.GetOrigin(), atol=1e-9)
        np.testing.assert_allclose(got.GetSpacing(), want.GetSpacing(), atol=1e-12)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(want))
        back = sitk.ReadImage(str(written.paths[f]))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(back), sitk.GetArrayFromImage(want))
    frame = written.to_frame()
    assert list(frame["feature"]) == FEATURES and (frame["n_voxels"] > 0).all()
    assert frame["path"].map(lambda p: p.endswith(".nii.gz")).all()


def test_map_on_the_ct_grid_is_nan_outside_the_region(lesion):
    row, image, mask = lesion
    labels = tuple(int(v) for v in row["labels"])
    maps = voxel_feature_maps(image, mask, ["rad_original_firstorder_Mean__max"], "ccta-plaque", labels=labels,
                              margin_voxels=1)
    assert maps.features == ("original_firstorder_Mean",)
    grid = maps.on_grid_of(image, "original_firstorder_Mean")
    roi = sitk.GetArrayViewFromImage(maps.roi) > 0
    assert grid.shape == roi.shape
    assert np.isnan(grid[~roi]).all()
    inside = grid[roi]
    assert np.isfinite(inside).mean() > 0.9
    # a local mean of HU lies within the HU range of the region's neighbourhood
    hu = sitk.GetArrayViewFromImage(image)
    assert np.nanmin(inside) >= hu.min() - 1e-6 and np.nanmax(inside) <= hu.max() + 1e-6


@pytest.mark.parametrize("name, words", [
    ("original_shape_Sphericity", "shape features"),
    ("lbp-3D-m1_glcm_Contrast", "not supported"),
    ("glcm_Contrast", "not a pyradiomics feature name"),
    ("original_texture_Contrast", "unknown feature class"),
])
def test_features_without_a_map_are_refused_by_name(lesion, name, words):
    row, image, mask = lesion
    with pytest.raises(VoxelMapError, match=words):
        voxel_feature_maps(image, mask, [name], "ccta-plaque", labels=tuple(int(v) for v in row["labels"]))


def test_empty_lesion_and_bad_options_are_refused(lesion):
    _, image, mask = lesion
    with pytest.raises(VoxelMapError, match="no voxel with label"):
        voxel_feature_maps(image, mask, ["original_firstorder_Mean"], labels=(99,))
    with pytest.raises(VoxelMapError, match="kernel_radius must be an integer >= 1"):
        voxel_feature_maps(image, mask, ["original_firstorder_Mean"], kernel_radius=0)
