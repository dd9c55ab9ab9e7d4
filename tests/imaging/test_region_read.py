"""Reading only the box the lesions need: voxels and geometry equal the whole image's, bit for bit.

The engine reads the union of the crops' boxes of an image (radiorisk.imaging._read.read_region)
instead of the whole volume; every crop cut from that region must be the crop of the whole image.
Also: the fast long table equals DataFrame.melt, a cached pyradiomics extractor gives what a new
one gives, and the extraction runs on one ITK and one BLAS thread.
"""

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from radiorisk.exceptions import ImageError
from radiorisk.imaging import load_params, one_thread, read_image, to_long
from radiorisk.imaging._read import ImageRegion, read_header, read_region
from radiorisk.imaging._worker import _EXTRACTORS, _ImageJob, feature_values

_PIXELS = {"int16": np.int16, "float32": np.float32, "uint8": np.uint8, "float64": np.float64}


def _direction(kind: str, rng) -> list:
    if kind == "identity":
        return np.eye(3).ravel().tolist()
    if kind == "flipped":
        return np.diag(rng.choice([-1.0, 1.0], 3)).ravel().tolist()
    if kind == "permuted":
        return np.eye(3)[rng.permutation(3)].ravel().tolist()
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))  # oblique
    return q.ravel().tolist()


@st.composite
def _cases(draw):
    shape = [draw(st.integers(3, 24)) for _ in range(3)]  # x, y, z
    lo = [draw(st.integers(0, n - 1)) for n in shape]
    hi = [draw(st.integers(a + 1, n)) for a, n in zip(lo, shape, strict=True)]
    a = [draw(st.integers(x, y - 1)) for x, y in zip(lo, hi, strict=True)]
    b = [draw(st.integers(x + 1, y)) for x, y in zip(a, hi, strict=True)]
    return {"shape": shape, "lo": lo, "hi": hi, "a": a, "b": b,
            "pixel": draw(st.sampled_from(sorted(_PIXELS))),
            "suffix": draw(st.sampled_from([".nii.gz", ".nii", ".nrrd", ".mha"])),
            "direction": draw(st.sampled_from(["identity", "flipped", "permuted", "oblique"])),
            "seed": draw(st.integers(0, 2**31 - 1))}


def _write(tmp_path, case) -> tuple:
    rng = np.random.default_rng(case["seed"])
    x, y, z = case["shape"]
    arr = (rng.normal(40, 30, (z, y, x))).astype(_PIXELS[case["pixel"]])
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing(rng.uniform(0.2, 4.0, 3).tolist())
    img.SetOrigin(rng.normal(0, 150, 3).tolist())
    img.SetDirection(_direction(case["direction"], rng))
    path = tmp_path / f"img-{case['seed']}{case['suffix']}"
    sitk.WriteImage(img, str(path))
    return path


def _same(p: sitk.Image, q: sitk.Image) -> None:
    assert p.GetSize() == q.GetSize()
    assert p.GetOrigin() == q.GetOrigin()  # bit for bit, not approximately
    assert p.GetSpacing() == q.GetSpacing()
    assert p.GetDirection() == q.GetDirection()
    assert p.GetPixelID() == q.GetPixelID()
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(p), sitk.GetArrayViewFromImage(q))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_cases())
def test_a_slice_of_the_region_read_is_the_slice_of_the_whole_image(tmp_path, case):
    path = _write(tmp_path, case)
    whole = read_image(path)
    header = read_header(path)
    assert header.GetSize() == whole.GetSize()
    assert header.GetOrigin() == whole.GetOrigin() and header.GetSpacing() == whole.GetSpacing()
    assert header.GetDirection() == whole.GetDirection() and header.GetPixelID() == whole.GetPixelID()
    region = read_region(header, case["lo"], case["hi"])
    assert region.image.GetSize() == tuple(h - lo for lo, h in zip(case["lo"], case["hi"], strict=True))
    a, b = case["a"], case["b"]
    _same(region[a[0]:b[0], a[1]:b[1], a[2]:b[2]], whole[a[0]:b[0], a[1]:b[1], a[2]:b[2]])
    point = header.TransformIndexToPhysicalPoint(a)
    assert region.TransformPhysicalPointToContinuousIndex(point) == whole.TransformPhysicalPointToContinuousIndex(point)


def test_a_region_refuses_a_box_it_does_not_hold_and_gives_the_whole_image_only_when_read_whole(tmp_path):
    img = sitk.GetImageFromArray(np.zeros((6, 7, 8), np.int16))
    path = tmp_path / "x.nii.gz"
    sitk.WriteImage(img, str(path))
    region = read_region(read_header(path), [1, 1, 1], [5, 5, 5])
    assert isinstance(region, ImageRegion) and not region.whole
    with pytest.raises(ValueError, match="not inside the region read"):
        region[0:3, 1:3, 1:3]
    with pytest.raises(ValueError, match="only part of the image was read"):
        region.whole_image()
    full = read_region(read_header(path), [0, 0, 0], [8, 7, 6])
    assert full.whole
    _same(full[0:8, 0:7, 0:6], img)


def test_nan_inside_the_region_is_refused_at_its_index_in_the_whole_image(tmp_path):
    arr = np.zeros((10, 10, 10), np.float32)
    arr[7, 6, 5] = np.nan  # z, y, x
    path = tmp_path / "nan.mha"
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(path))
    with pytest.raises(ImageError, match=r"\(x, y, z\) = \(5, 6, 7\)"):
        read_region(read_header(path), [4, 4, 4], [8, 8, 8])
    read_region(read_header(path), [0, 0, 0], [4, 4, 4])  # outside the box read: never seen, no error


def test_read_header_names_the_problem(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        read_header(tmp_path / "missing.nii.gz")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(ImageError, match="is empty"):
        read_header(tmp_path / "empty.nii.gz")
    (tmp_path / "dicom").mkdir()
    with pytest.raises(ImageError, match="DICOM series"):
        read_header(tmp_path / "dicom")


def _task(tmp_path, params, lesion_box=(slice(2, 5), slice(3, 7), slice(30, 34))):
    rng = np.random.default_rng(0)
    arr = rng.normal(40, 30, (40, 40, 40)).astype(np.int16)
    lab = np.zeros(arr.shape, np.uint8)
    lab[lesion_box] = 1
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 0.5, 0.5))
    m = sitk.GetImageFromArray(lab)
    m.CopyInformation(img)
    sitk.WriteImage(img, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(m, str(tmp_path / "m.nii.gz"))
    p = load_params(params)
    return {"image_path": str(tmp_path / "ct.nii.gz"), "params": p.params, "params_name": p.name,
            "params_sha256": p.sha256, "options": p.options, "crop": True,
            "lesions": [{"lesion_id": "L1", "reader": "r1", "mask_path": str(tmp_path / "m.nii.gz"),
                         "labels": [1]}]}


_FIRSTORDER = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None}, "setting": {"binWidth": 25}}


def test_the_engine_reads_only_the_box_its_lesions_need(tmp_path):
    job = _ImageJob(_task(tmp_path, _FIRSTORDER))
    job.load()
    assert isinstance(job.image, ImageRegion)
    # the lesion is x 30..33, y 3..6, z 2..4, plus the one-voxel margin of the Original image
    assert job.image.start == (29, 2, 1) and job.image.image.GetSize() == (6, 6, 5)


def test_whole_image_normalisation_reads_the_whole_image(tmp_path):
    params = {**_FIRSTORDER, "setting": {"binWidth": 0.5, "normalize": True}}
    job = _ImageJob(_task(tmp_path, params))
    job.load()
    assert isinstance(job.image, sitk.Image) and job.image.GetSize() == (40, 40, 40)


def test_a_lesion_from_the_region_equals_the_lesion_from_the_whole_image(tmp_path):
    task = _task(tmp_path, "ccta-plaque")
    region_job = _ImageJob(task)
    region_job.load()
    assert isinstance(region_job.image, ImageRegion) and not region_job.image.whole
    whole_job = _ImageJob(task)
    whole_job.set_plan()
    whole_job.image = read_image(task["image_path"])
    for job in (region_job, whole_job):
        job.lesion(task["lesions"][0])
    assert not region_job.failures and region_job.rows == whole_job.rows


def test_a_cached_extractor_gives_what_a_new_one_gives(tmp_path):
    p = load_params(_FIRSTORDER)
    rng = np.random.default_rng(1)
    images = []
    for k in range(2):
        img = sitk.GetImageFromArray(rng.normal(40 + 20 * k, 30, (8, 9, 10)))
        roi = sitk.GetImageFromArray((rng.random((8, 9, 10)) > 0.4).astype(np.uint8))
        roi.CopyInformation(img)
        images.append((img, roi))
    cached = _EXTRACTORS.get(p.params)
    assert _EXTRACTORS.get(p.params) is cached
    for img, roi in images + images[::-1]:  # one extractor, several lesions in turn
        fresh = p.extractor().execute(img, roi, label=1)
        assert feature_values(cached.execute(img, roi, label=1)) == feature_values(fresh)


def test_one_thread_sets_itk_and_blas_to_one_thread_and_restores_them():
    before_itk = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    before_blas = [i["num_threads"] for i in threadpool_info()]
    with one_thread():
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 1
        assert all(i["num_threads"] == 1 for i in threadpool_info() if i["user_api"] == "blas")
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == before_itk
    assert [i["num_threads"] for i in threadpool_info()] == before_blas


@st.composite
def _wide(draw):
    n = draw(st.integers(0, 6))
    k = draw(st.integers(0, 5))
    ids = {c: [f"{c[0]}{i}" for i in range(n)] for c in ("patient_id", "scan_id", "lesion_id", "reader")}
    values = draw(st.lists(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=False, width=64)),
                                    min_size=k, max_size=k), min_size=n, max_size=n))
    frame = pd.DataFrame(ids)
    frame["n_voxels"] = list(range(n))
    for j in range(k):
        frame[f"original_f{j}"] = pd.Series([row[j] for row in values], dtype=float)
    if draw(st.booleans()) and k:  # a column that is not float: melt's own rules apply
        frame["original_int"] = list(range(n))
    return frame


@settings(max_examples=80, deadline=None)
@given(wide=_wide())
def test_the_long_table_equals_melt(wide):
    cols = [c for c in wide.columns if c not in ("patient_id", "scan_id", "lesion_id", "reader", "n_voxels")]
    ref = wide.melt(id_vars=["patient_id", "scan_id", "lesion_id", "reader"], value_vars=cols,
                    var_name="feature", value_name="value").reset_index(drop=True)
    pd.testing.assert_frame_equal(to_long(wide), ref)
