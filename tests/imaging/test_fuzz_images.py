"""Property tests: malformed images and masks end in clear errors or failure rows.

Images: 2-D, 4-D, vector and complex voxels, NaN/inf voxels, zero/negative
spacing, singular direction, headers declaring huge sizes (refused from the
header, before any voxel is read), truncated, corrupt, empty and missing files.
Masks: another size/spacing/origin/direction than the image, empty, one voxel,
only other labels, float (integer-valued or not), NaN, 2-D, corrupt, missing.

For each case :func:`radiorisk.imaging.read_image` returns a 3-D image or raises
:class:`ImageError`; ``validate(check_images=True)`` reports the problem on the
manifest row; :func:`measure_plaque` and :func:`extract_radiomics` return
exactly one row for the one-lesion manifest: metrics/features without NaN, or a
failure row with its reason.  Never another exception type, and never NaN.
"""

from __future__ import annotations

import gzip
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from fuzz_counter import count, counting_fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radiorisk.exceptions import ImageError
from radiorisk.imaging import extract_radiomics, measure_plaque, read_image
from radiorisk.io import validate

_counts = counting_fixture(__name__)

SHAPE = (6, 10, 10)  # z, y, x
SPACING = (0.5, 0.5, 0.6)
ORIGIN = (10.0, -20.0, 30.0)
PARAMS = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None, "shape": None},
          "setting": {"binWidth": 25}}
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _ct() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(-100, 700, size=SHAPE).astype(np.int16)


def _mask() -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    m[:, 3:7, 3:7] = 7          # wall
    m[:, 4:6, 4:6] = 1          # lumen
    m[1:5, 3:5, 3:4] = 2        # plaque components
    m[2:4, 5:7, 6:7] = 3
    m[3, 3, 5] = 5
    return m


def _img(arr, *, spacing=SPACING, origin=ORIGIN, direction=None) -> sitk.Image:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    if direction is not None:
        img.SetDirection(direction)
    return img


def _mha(path: Path, dims: str, *, spacing="0.6 0.5 0.5", matrix="1 0 0 0 1 0 0 0 1", n_bytes=None):
    ndim = len(dims.split())
    n = int(np.prod([int(x) for x in dims.split()])) * 2 if n_bytes is None else n_bytes
    path.write_bytes((f"ObjectType = Image\nNDims = {ndim}\nDimSize = {dims}\nElementSpacing = {spacing}\n"
                      + (f"TransformMatrix = {matrix}\n" if ndim == 3 else "")
                      + "ElementType = MET_SHORT\nElementDataFile = LOCAL\n").encode() + b"\0" * min(n, 4096))


def _truncate(path: Path, keep: float = 0.5) -> None:
    b = path.read_bytes()
    path.write_bytes(b[: max(1, int(len(b) * keep))])


# kind -> writer(path_stem) returning the written path
def _write_image(kind: str, folder: Path) -> Path:
    ct = _ct()
    if kind in ("ok", "ok_nrrd", "ok_mha", "float_ok"):
        ext = {"ok": ".nii.gz", "ok_nrrd": ".nrrd", "ok_mha": ".mha", "float_ok": ".nii.gz"}[kind]
        p = folder / f"ct{ext}"
        sitk.WriteImage(_img(ct.astype(np.float32) if kind == "float_ok" else ct), str(p))
        return p
    p = folder / "ct.nii.gz"
    if kind == "2d":
        sitk.WriteImage(_img(ct[0], spacing=SPACING[:2], origin=ORIGIN[:2]), str(p))
    elif kind == "4d":
        img = sitk.JoinSeries([_img(ct), _img(ct)])
        sitk.WriteImage(img, str(p))
    elif kind == "vector":
        img = sitk.Compose([_img(ct.astype(np.float32))] * 3)
        sitk.WriteImage(img, str(p))
    elif kind == "complex":
        p = folder / "ct.mha"
        img = sitk.RealAndImaginaryToComplex(_img(ct.astype(np.float32)), _img(ct.astype(np.float32)))
        sitk.WriteImage(img, str(p))
    elif kind in ("nan", "inf"):
        p = folder / "ct.mha"  # NIfTI I/O turns NaN into 0
        f = ct.astype(np.float32)
        f[2, 4, 3] = np.nan if kind == "nan" else np.inf
        sitk.WriteImage(_img(f), str(p))
    elif kind in ("zero_spacing", "neg_spacing", "nan_spacing", "singular_dir", "huge_dims", "trunc_mha"):
        p = folder / "ct.mha"
        dims = " ".join(str(x) for x in SHAPE[::-1])
        if kind == "zero_spacing":
            _mha(p, dims, spacing="0 0.5 0.5")
        elif kind == "neg_spacing":
            _mha(p, dims, spacing="-0.6 0.5 0.5")
        elif kind == "nan_spacing":
            _mha(p, dims, spacing="nan 0.5 0.5")
        elif kind == "singular_dir":
            _mha(p, dims, matrix="1 0 0 1 0 0 0 0 1")
        elif kind == "huge_dims":
            _mha(p, "200000 200000 100000", n_bytes=64)
        else:
            _mha(p, dims, n_bytes=100)
    elif kind in ("trunc_gz", "trunc_nii"):
        if kind == "trunc_nii":
            p = folder / "ct.nii"
        sitk.WriteImage(_img(ct), str(p))
        _truncate(p)
    elif kind == "gz_bad_crc":
        sitk.WriteImage(_img(ct), str(p))
        raw = gzip.decompress(p.read_bytes())
        p.write_bytes(gzip.compress(raw[:-50]))
    elif kind == "garbage":
        p.write_bytes(np.random.default_rng(0).bytes(500))
    elif kind == "text":
        p = folder / "ct.nrrd"
        p.write_text("this is not an image\n")
    elif kind == "empty_file":
        p.write_bytes(b"")
    elif kind == "missing":
        pass
    elif kind == "empty_dir":
        p = folder / "dicom_dir"
        p.mkdir()
    else:
        raise AssertionError(kind)
    return p


def _write_mask(kind: str, folder: Path) -> Path:
    m = _mask()
    p = folder / "mask.nii.gz"
    if kind == "ok":
        sitk.WriteImage(_img(m), str(p))
    elif kind == "int64":
        sitk.WriteImage(_img(m.astype(np.int64)), str(p))
    elif kind == "size_mismatch":
        sitk.WriteImage(_img(np.pad(m, ((0, 1), (0, 0), (0, 0)))), str(p))
    elif kind == "spacing_mismatch":
        sitk.WriteImage(_img(m, spacing=(0.5, 0.5, 0.7)), str(p))
    elif kind == "origin_mismatch":
        sitk.WriteImage(_img(m, origin=(10.0, -20.0, 31.0)), str(p))
    elif kind == "direction_mismatch":
        sitk.WriteImage(_img(m, direction=(0, 1, 0, 1, 0, 0, 0, 0, 1)), str(p))
    elif kind == "empty":
        sitk.WriteImage(_img(np.zeros_like(m)), str(p))
    elif kind == "one_voxel":
        one = np.zeros_like(m)
        one[3, 4, 4] = 2
        sitk.WriteImage(_img(one), str(p))
    elif kind == "wrong_label":
        sitk.WriteImage(_img(np.where(m > 0, 6, 0).astype(np.uint8)), str(p))
    elif kind == "float_nonint":
        sitk.WriteImage(_img(m.astype(np.float32) * 1.5), str(p))
    elif kind == "float_int":
        sitk.WriteImage(_img(m.astype(np.float32)), str(p))
    elif kind == "nan":
        p = folder / "mask.mha"
        f = m.astype(np.float32)
        f[0, 0, 0] = np.nan
        sitk.WriteImage(_img(f), str(p))
    elif kind == "2d":
        sitk.WriteImage(_img(m[0], spacing=SPACING[:2], origin=ORIGIN[:2]), str(p))
    elif kind == "trunc_gz":
        sitk.WriteImage(_img(m), str(p))
        _truncate(p, 0.6)
    elif kind == "garbage":
        p.write_bytes(np.random.default_rng(1).bytes(300))
    elif kind == "missing":
        pass
    elif kind == "huge_dims":
        p = folder / "mask.mha"
        _mha(p, "100000 100000 100000", n_bytes=64)
    else:
        raise AssertionError(kind)
    return p


IMAGE_OK = ("ok", "ok_nrrd", "ok_mha", "float_ok")
IMAGE_BAD = ("2d", "4d", "vector", "complex", "nan", "inf", "zero_spacing", "neg_spacing", "nan_spacing",
             "singular_dir", "huge_dims", "trunc_mha", "trunc_gz", "trunc_nii", "gz_bad_crc", "garbage",
             "text", "empty_file", "missing", "empty_dir")
MASK_OK = ("ok", "int64", "one_voxel")
MASK_BAD = ("size_mismatch", "spacing_mismatch", "origin_mismatch", "direction_mismatch", "empty",
            "wrong_label", "float_nonint", "float_int", "nan", "2d", "trunc_gz", "garbage", "missing",
            "huge_dims")
LABELS = ("2,3,4,5", "2", "3", "5", "9", "2, 9")


def _present(mask_kind: str) -> set[int]:
    if mask_kind == "one_voxel":
        return {2}
    return set(np.unique(_mask()).tolist()) - {0}


def _case(template: Path, folder: Path, image_kind: str, mask_kind: str, label: str, *,
          extract: bool, check_validate: bool = True) -> None:
    d = folder / "cohort"
    shutil.copytree(template, d)
    imgdir = d / "fz"
    imgdir.mkdir()
    ip = _write_image(image_kind, imgdir)
    mp = _write_mask(mask_kind, imgdir)
    rel = lambda p: p.relative_to(d).as_posix()  # noqa: E731
    # L001 is the fuzzed lesion; L002 (the cohort's own valid pair) must be unaffected by it
    man = pd.DataFrame([{"lesion_id": "L001", "scan_id": "S001", "patient_id": "P001",
                         "image_path": rel(ip), "mask_path": rel(mp), "label": label, "reader": "reader1"},
                        {"lesion_id": "L002", "scan_id": "S001", "patient_id": "P001",
                         "image_path": "images/S001_ct.nii.gz", "mask_path": "images/S001_mask.nii.gz",
                         "label": "2,3,4,5", "reader": "reader1"}])
    man.to_csv(d / "manifest.csv", index=False)
    image_bad = image_kind not in IMAGE_OK
    mask_bad = mask_kind not in MASK_OK
    wanted = {int(x) for x in label.split(",")}
    label_bad = not mask_bad and not (wanted & _present(mask_kind))
    bad = image_bad or mask_bad or label_bad

    # read_image: a 3-D image or ImageError, quickly
    t0 = time.perf_counter()
    try:
        img = read_image(ip)
    except ImageError as exc:
        assert image_bad, f"{image_kind}: {exc}"
        assert str(ip.name) in str(exc) or str(ip.parent.name) in str(exc)
    else:
        assert not image_bad, f"{image_kind} was read: {img}"
        assert img.GetDimension() == 3 and not img.GetMetaDataKeys()
    assert time.perf_counter() - t0 < 5

    # validate: the manifest row names the problem
    if check_validate:
        report = validate(d, check_images=True)
        v = report.to_frame()
        man_v = v[(v["table"] == "manifest") & (v["severity"] == "error")]
        if bad:
            assert not report.ok and len(man_v), (image_kind, mask_kind, label, report.format())
            assert set(man_v["column"]) <= {"image_path", "mask_path", "label"}
            assert (man_v["row"] == 1).all()  # never the valid row 2
        else:
            assert report.ok, report.format()

    # measure_plaque: one row per lesion, metrics without NaN or a failure with its reason
    les, fails = measure_plaque(d / "manifest.csv")
    assert len(les) + len(fails) == 2 and "L002" in set(les["lesion_id"]), (les, fails)
    if bad:
        assert fails["lesion_id"].tolist() == ["L001"] and fails["reason"].iloc[0], (image_kind, mask_kind, label)
        assert fails["stage"].iloc[0] in {"read_image", "read_mask", "measure"}
    else:
        assert fails.empty, f"valid case failed to measure: {fails.to_dict('records')}"
    vols = [c for c in les.columns if c.startswith(("v_", "hu_"))]
    assert np.isfinite(les[vols].to_numpy(float)).all()
    # NaN only where a flag says the value is not available (no silent NaN)
    assert les["plaque_burden_pct"].notna().eq(les["burden_available"]).all()
    assert les["remodelling_index"].notna().eq(les["remodelling_available"]).all()

    # extract_radiomics: one row per lesion, features without NaN or a failure row
    if extract:
        res = extract_radiomics(d / "manifest.csv", params=PARAMS, out=folder / "f.parquet")
        assert len(res.features) + len(res.failures) == 2 and "L002" in set(res.features["lesion_id"])
        if bad:
            assert res.failures["lesion_id"].tolist() == ["L001"] and res.failures["reason"].iloc[0]
        assert not res.features.isna().any().any()
        fail_file = pd.read_csv(folder / "f.failures.csv")
        assert len(fail_file) == len(res.failures)


@pytest.mark.parametrize("image_kind", IMAGE_OK + IMAGE_BAD)
def test_each_image_kind(image_kind, _io_valid_template, tmp_path):
    count("test_each_image_kind")
    _case(_io_valid_template, tmp_path, image_kind, "ok", "2,3,4,5", extract=False)


@pytest.mark.parametrize("mask_kind", MASK_OK + MASK_BAD)
def test_each_mask_kind(mask_kind, _io_valid_template, tmp_path):
    count("test_each_mask_kind")
    _case(_io_valid_template, tmp_path, "ok", mask_kind, "2,3,4,5", extract=False)


@settings(max_examples=12, deadline=None, suppress_health_check=HEALTH)
@given(image_kind=st.sampled_from(IMAGE_OK + IMAGE_BAD), mask_kind=st.sampled_from(MASK_OK + MASK_BAD),
       label=st.sampled_from(LABELS))
def test_random_cases_with_extraction(image_kind, mask_kind, label, _io_valid_template, tmp_path_factory):
    count("test_random_cases_with_extraction")
    _case(_io_valid_template, tmp_path_factory.mktemp("fzi"), image_kind, mask_kind, label, extract=True)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=HEALTH)
@given(image_kind=st.sampled_from(IMAGE_OK + IMAGE_BAD), mask_kind=st.sampled_from(MASK_OK + MASK_BAD),
       label=st.sampled_from(LABELS))
def test_random_cases_with_extraction_many(image_kind, mask_kind, label, _io_valid_template,
                                           tmp_path_factory):
    count("test_random_cases_with_extraction_many")
    _case(_io_valid_template, tmp_path_factory.mktemp("fzi"), image_kind, mask_kind, label, extract=True)


def test_huge_header_is_refused_before_reading(tmp_path):
    count("test_huge_header_is_refused_before_reading")
    p = tmp_path / "huge.mha"
    _mha(p, "2000 2000 2000", n_bytes=64)  # 16 GB of int16 declared, 64 bytes present
    t0 = time.perf_counter()
    with pytest.raises(ImageError, match="8000000000 voxels"):
        read_image(p)
    assert time.perf_counter() - t0 < 1


def test_extraction_where_every_lesion_fails_returns_failures(tmp_path):
    count("test_extraction_where_every_lesion_fails_returns_failures")
    ip = _write_image("garbage", tmp_path)
    mp = _write_mask("ok", tmp_path)
    man = pd.DataFrame([{"lesion_id": "L1", "image_path": str(ip), "mask_path": str(mp), "label": "2"}])
    res = extract_radiomics(man, params=PARAMS)
    assert res.features.empty and res.failures["lesion_id"].tolist() == ["L1"]
