"""Image reading (NIfTI, NRRD, DICOM series) and plaque metrics on hand-made volumes."""

import numpy as np
import pytest
import SimpleITK as sitk

from radiorisk.exceptions import ImageError
from radiorisk.imaging import (
    PlaqueThresholds,
    check_same_geometry,
    patient_plaque_summary,
    plaque_metrics,
    read_image,
)


def _vol(shape=(6, 8, 10), spacing=(0.45, 0.45, 0.5)):
    arr = (np.arange(np.prod(shape)).reshape(shape) % 200 - 50).astype(np.int16)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin((1.0, -2.0, 3.5))
    return img, arr


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha"])
def test_reads_common_formats(tmp_path, suffix):
    img, arr = _vol()
    p = tmp_path / f"ct{suffix}"
    sitk.WriteImage(img, str(p))
    back = read_image(p)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), arr)
    assert back.GetSpacing() == pytest.approx(img.GetSpacing())


def test_reads_a_dicom_series_folder(tmp_path):
    img, arr = _vol()
    folder = tmp_path / "dicom"
    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(img.GetDepth()):
        sl = img[:, :, z]
        sl.SetMetaData("0020|0032", "\\".join(map(str, img.TransformIndexToPhysicalPoint((0, 0, z)))))
        sl.SetMetaData("0020|0013", str(z + 1))
        sl.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1.1")  # series instance UID
        sl.SetMetaData("0008|0060", "CT")
        writer.SetFileName(str(folder / f"{z:03d}.dcm"))
        writer.Execute(sl)
    back = read_image(folder)
    assert back.GetSize() == img.GetSize()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(back), arr)
    assert back.GetSpacing()[2] == pytest.approx(0.5, abs=1e-3)


def test_clear_errors_for_bad_files(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_image(tmp_path / "nope.nii.gz")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        read_image(tmp_path / "empty.nii.gz")
    (tmp_path / "junk.nii.gz").write_bytes(b"this is not an image")
    with pytest.raises(ImageError, match="junk.nii.gz cannot be read"):
        read_image(tmp_path / "junk.nii.gz")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(ImageError, match="no DICOM series"):
        read_image(tmp_path / "emptydir")
    sitk.WriteImage(sitk.Image(5, 5, sitk.sitkInt16), str(tmp_path / "flat.nii.gz"))
    with pytest.raises(ImageError, match="2-D"):
        read_image(tmp_path / "flat.nii.gz")


def test_geometry_mismatch_names_what_differs():
    a, _ = _vol()
    b, _ = _vol()
    b.SetOrigin((1.0, -2.0, 3.6))
    with pytest.raises(ImageError, match="origin"):
        check_same_geometry(a, b, image_path="ct.nii.gz", mask_path="mask.nii.gz")
    c, _ = _vol(shape=(6, 8, 11))
    with pytest.raises(ImageError, match="size"):
        check_same_geometry(a, c)


def _straight_vessel(lap_core=True, spotty=True):
    """A straight vessel along z: lumen radius 4 vox, wall to radius 7, eccentric plaque in slices 10-29."""
    shape = (40, 32, 32)
    zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]]
    r = np.hypot(yy - 16, xx - 16)
    img = np.full(shape, -80.0)
    mask = np.full(shape, 6, np.uint8)  # fat
    mask[r < 7] = 7
    mask[r < 4] = 1
    img[mask == 7] = 60
    img[mask == 1] = 400
    plaque = (r >= 4) & (r < 9) & (xx > 16) & (zz >= 10) & (zz < 30)
    mask[plaque] = 2
    img[plaque] = 200
    if lap_core:
        core = plaque & (r >= 6) & (r < 8) & (zz >= 15) & (zz < 25)
        mask[core] = 4
        img[core] = 0
    if spotty:
        img[20, 16, 24] = img[20, 16, 25] = 900
        mask[20, 16, 24] = mask[20, 16, 25] = 5
    return img, mask


def test_plaque_metrics_on_a_straight_vessel():
    img, mask = _straight_vessel()
    sp = (0.5, 0.4, 0.4)
    m = plaque_metrics(img, mask, sp)
    vox = 0.5 * 0.4 * 0.4
    plaque = np.isin(mask, (2, 3, 4, 5))
    assert m["v_total_mm3"] == pytest.approx(plaque.sum() * vox)
    assert m["v_calcified_mm3"] == pytest.approx(2 * vox)
    assert m["v_lap_mm3"] == pytest.approx((mask == 4).sum() * vox)
    assert m["v_total_mm3"] == pytest.approx(m["v_calcified_mm3"] + m["v_noncalcified_mm3"])
    assert m["v_noncalcified_mm3"] == pytest.approx(m["v_lap_mm3"] + m["v_fibrofatty_mm3"] + m["v_fibrous_mm3"])
    assert m["spotty_calc"] and m["n_calcium_components"] == 1
    assert m["hu_min"] == 0.0
    assert m["remodelling_index"] > 1.1  # the plaque bulges outward beyond the reference wall (radius 7)
    assert 0 < m["plaque_burden_pct"] < m["max_plaque_burden_pct"] <= 100
    # a calcium sheet longer than 3 mm is not spotty
    img2, mask2 = _straight_vessel(spotty=False)
    img2[12:22, 16, 24] = 900
    mask2[12:22, 16, 24] = 5
    assert not plaque_metrics(img2, mask2, sp)["spotty_calc"]


def test_thresholds_move_voxels_between_classes():
    img, mask = _straight_vessel()
    sp = (0.5, 0.4, 0.4)
    base = plaque_metrics(img, mask, sp)
    shifted = plaque_metrics(img, mask, sp, thresholds=PlaqueThresholds(lap_hu=-10))
    assert shifted["v_lap_mm3"] < base["v_lap_mm3"]
    with pytest.raises(ValueError, match="lap_hu < fibrofatty_hu"):
        PlaqueThresholds(lap_hu=200)


def test_no_lumen_label_means_no_burden_but_volumes_still_measured():
    img, mask = _straight_vessel()
    mask[mask == 1] = 0
    mask[mask == 7] = 0
    m = plaque_metrics(img, mask, (0.5, 0.4, 0.4), lumen_labels=(1,))
    assert not m["burden_available"] and np.isnan(m["plaque_burden_pct"])
    assert m["v_total_mm3"] > 0


def test_empty_plaque_is_an_error():
    img, mask = _straight_vessel()
    mask[np.isin(mask, (2, 3, 4, 5))] = 0
    with pytest.raises(ValueError, match="no plaque voxel"):
        plaque_metrics(img, mask, (0.5, 0.4, 0.4))


def test_patient_summary_flags():
    import pandas as pd

    les = pd.DataFrame({"patient_id": ["P1", "P2"], "reader": "reader1", "v_total_mm3": [250.0, 10.0],
                        "v_calcified_mm3": [0.0, 0.0], "v_noncalcified_mm3": [250.0, 10.0],
                        "v_lap_mm3": [50.0, 0.1], "v_fibrofatty_mm3": [100.0, 5.0], "v_fibrous_mm3": [100.0, 4.9],
                        "vessel_volume_mm3": [600.0, 100.0], "high_risk": [True, False]})
    s = patient_plaque_summary(les, patient_ids=["P1", "P2", "P3"])
    assert s["tpv_ge_238"].tolist() == [True, False, False]
    assert s["lap_burden_gt_4"].tolist() == [True, False, False]
    assert s.loc["P3"].drop(["lap_burden_gt_4", "tpv_ge_238"]).astype(float).eq(0).all()
