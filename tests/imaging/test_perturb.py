"""Perturbation operators: noise estimate, rigid moves on any direction cosines, grow/erode, contour randomisation."""

import numpy as np
import pytest
import SimpleITK as sitk

from radiorisk.exceptions import ParameterError
from radiorisk.imaging import load_params
from radiorisk.imaging._perturb import (
    Perturbation,
    add_noise,
    estimate_noise_sd,
    grow_roi,
    parse_perturbations,
    perturb_lesion,
    perturbation_rng,
    randomise_roi,
    rigid_perturbation,
    supervoxels,
)


def _image(arr, spacing=(0.4, 0.4, 0.6), direction=None):
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin((3.0, -7.0, 11.0))
    if direction is not None:
        img.SetDirection(direction)
    return img


def _blob(shape=(9, 40, 40), centre=(4, 20, 18), radii=(3, 8, 5)):
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    r2 = sum(((g - c) / r) ** 2 for g, c, r in zip((z, y, x), centre, radii, strict=True))
    return (r2 <= 1).astype(np.uint8)


def test_noise_estimate_recovers_the_added_sd_and_ignores_padding():
    rng = np.random.default_rng(5)
    z, y, x = np.mgrid[:12, :96, :96]
    smooth = 300 * np.exp(-((x - 40) ** 2 + (y - 50) ** 2) / 800.0) + 2 * x
    for sd in (5.0, 20.0):
        arr = smooth + rng.normal(0, sd, smooth.shape)
        assert estimate_noise_sd(_image(arr)) == pytest.approx(sd, rel=0.06)
    arr = smooth + rng.normal(0, 10.0, smooth.shape)
    padded = arr.copy()
    padded[:, :, :48] = -3024.0  # outside the field of view: constant at the image minimum
    assert estimate_noise_sd(_image(padded)) == pytest.approx(10.0, rel=0.08)


def test_added_noise_has_the_requested_sd_and_is_seeded():
    img = _image(np.zeros((6, 64, 64)))
    a = sitk.GetArrayFromImage(add_noise(img, 7.0, perturbation_rng(3, "L1", "noise_1")))
    b = sitk.GetArrayFromImage(add_noise(img, 7.0, perturbation_rng(3, "L1", "noise_1")))
    c = sitk.GetArrayFromImage(add_noise(img, 7.0, perturbation_rng(4, "L1", "noise_1")))
    assert a.std() == pytest.approx(7.0, rel=0.03)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("direction", [None, (-1, 0, 0, 0, 1, 0, 0, 0, -1), (0, 1, 0, 1, 0, 0, 0, 0, 1)])
def test_rotation_stays_in_its_slices_and_keeps_the_volume(direction):
    m = _blob()
    img = _image(200.0 * m, direction=direction)
    roi = _image(m, direction=direction)
    out_img, out_roi = rigid_perturbation(img, roi, angle=10)
    r = sitk.GetArrayFromImage(out_roi)
    per_slice = r.sum(axis=(1, 2))
    assert np.array_equal(per_slice > 0, m.sum(axis=(1, 2)) > 0)  # about the slice axis: no voxel changes slice
    assert abs(int(r.sum()) - int(m.sum())) <= 0.06 * m.sum()
    assert not np.array_equal(r, m)
    # the image turns with the mask
    inside = sitk.GetArrayFromImage(out_img)[r > 0]
    assert inside.mean() > 150


def test_rotation_by_90_degrees_swaps_the_in_plane_extents():
    m = _blob(radii=(2, 9, 4))
    img, roi = _image(100.0 * m, spacing=(0.5, 0.5, 1.0)), _image(m, spacing=(0.5, 0.5, 1.0))
    _, out = rigid_perturbation(img, roi, angle=90)
    r = sitk.GetArrayFromImage(out)[4]
    ys, xs = np.nonzero(r)
    assert np.ptp(ys) == pytest.approx(2 * 4, abs=1) and np.ptp(xs) == pytest.approx(2 * 9, abs=1)


@pytest.mark.parametrize("direction", [None, (-1, 0, 0, 0, -1, 0, 0, 0, 1)])
def test_translation_moves_the_content_by_the_fraction_of_a_voxel(direction):
    z, y, x = np.mgrid[:9, :40, :40]
    arr = 1000 * np.exp(-((x - 20.0) ** 2 + (y - 19.0) ** 2) / 30.0 - (z - 4.0) ** 2 / 8.0)
    img, roi = _image(arr, direction=direction), _image(_blob(), direction=direction)
    out, _ = rigid_perturbation(img, roi, shift=0.5)
    a = sitk.GetArrayFromImage(out)

    def centroid(v):
        return np.array([(v * g).sum() / v.sum() for g in (z, y, x)])

    assert centroid(a) - centroid(arr) == pytest.approx([0.0, 0.5, 0.5], abs=0.02)


def test_grow_and_erode_by_one_voxel_in_plane():
    m = _blob()
    roi = _image(m)
    big = sitk.GetArrayFromImage(grow_roi(roi, 1)).astype(bool)
    small = sitk.GetArrayFromImage(grow_roi(roi, -1)).astype(bool)
    assert (big >= m.astype(bool)).all() and (small <= m.astype(bool)).all()
    assert np.array_equal(big.sum(axis=(1, 2)) > 0, m.sum(axis=(1, 2)) > 0)  # in-plane: no new slices
    with pytest.raises(ParameterError, match="voxels must be -1 or 1"):
        grow_roi(roi, 2)


def test_supervoxels_cover_the_box_at_about_the_target_size():
    rng = np.random.default_rng(0)
    v = rng.random((6, 20, 20))
    lab = supervoxels(v, (1.0, 1.0, 1.0), target_voxels=24)
    counts = np.bincount(lab.ravel())
    assert (counts > 0).all()
    assert len(counts) == pytest.approx(v.size / 24, rel=0.35)


def test_contour_randomisation_is_seeded_and_stays_near_the_roi():
    m = _blob()
    rng = np.random.default_rng(2)
    arr = 150.0 * m + rng.normal(0, 15, m.shape)
    img, roi = _image(arr), _image(m)
    a = sitk.GetArrayFromImage(randomise_roi(img, roi, perturbation_rng(1, "L", "contour_1")))
    b = sitk.GetArrayFromImage(randomise_roi(img, roi, perturbation_rng(1, "L", "contour_1")))
    c = sitk.GetArrayFromImage(randomise_roi(img, roi, perturbation_rng(1, "L", "contour_2")))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    dice = 2 * (a.astype(bool) & m.astype(bool)).sum() / (a.sum() + m.sum())
    assert 0.7 < dice < 1.0


def test_parse_perturbations_defaults_and_errors():
    names = [p.name for p in parse_perturbations()]
    assert names[0] == "original" and len(names) == 14
    assert "rotation_-10" in names and "translation_+0.25" in names and "contour_3" in names
    for bad, rule in (("blur", "unknown family"), ("noise:0", "whole number"), ("volume:2", "volume takes"),
                      ("translation:1.5", "in \\(0, 1\\)"), ("rotation:0", "non-zero"), ("rotation:x", "angles")):
        with pytest.raises(ParameterError, match=rule):
            parse_perturbations([bad])
    with pytest.raises(ParameterError, match="given twice"):
        parse_perturbations(["rotation:5", "rotation:5"])
    assert Perturbation("volume", -1).name == "volume_-1"


def test_perturb_lesion_is_deterministic_and_shape_ignores_noise():
    m = _blob()
    rng = np.random.default_rng(9)
    img = _image(120.0 * m + rng.normal(0, 10, m.shape))
    p = load_params({"imageType": {"Original": {}}, "featureClass": {"shape": ["VoxelVolume"],
                     "firstorder": ["Mean"]}, "setting": {"binWidth": 25}})
    perts = parse_perturbations(["noise:1", "rotation:5", "volume:1", "contour:1"])
    one = perturb_lesion(img, _image(m), perts, p, noise_sd=10.0, seed=0, key="L")
    two = perturb_lesion(img, _image(m), perts, p, noise_sd=10.0, seed=0, key="L")
    assert one == two and one[1] == []
    rows = {r["perturbation"]: r for r in one[0]}
    vol = "original_shape_VoxelVolume"
    assert rows["noise_1"][vol] == rows["original"][vol]
    assert rows["noise_1"]["original_firstorder_Mean"] != rows["original"]["original_firstorder_Mean"]
    assert rows["volume_+1"][vol] > rows["original"][vol]
