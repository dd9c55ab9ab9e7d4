"""Crop an image around one lesion so that pyradiomics gives the same features as on the whole image.

With interpolation (the usual case) :func:`crop_and_resample` computes the
exact grid pyradiomics would resample the *whole* image onto and resamples the
crop onto it; the functions below handle the case without interpolation.

pyradiomics resamples on a grid aligned to the image origin.  A crop starting at
voxel index k moves the origin by k x spacing; the resampling grid is unchanged
only when k x spacing is a whole multiple of the new spacing (the grid *phase*).
Off-phase crops move features by 2-12 % (DESIGN.md, measured), so the start
index is moved down to the nearest in-phase index.  The margin (at least 10 mm
and 3 sigma of the largest LoG filter, plus pyradiomics' own padding) keeps the
filters' support inside the crop.
"""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

__all__ = ["crop_margin_mm", "phase_aligned_start", "crop_lesion", "crop_labels", "label_boxes"]

_PHASE_TOL = 1e-6
_MAX_PHASE_SEARCH = 4096


def crop_margin_mm(params: dict) -> float:
    """Margin (mm) kept around a lesion's bounding box for these pyradiomics parameters.

    max(10 mm, 3 x largest LoG sigma) + pyradiomics' padDistance on the
    resampled grid + 2 voxels of B-spline support.

    Examples
    --------
    >>> crop_margin_mm({"setting": {"resampledPixelSpacing": [0.5, 0.5, 0.5], "padDistance": 10},
    ...                 "imageType": {"LoG": {"sigma": [1.0, 3.0]}}})
    16.0
    """
    setting = params.get("setting") or {}
    image_types = params.get("imageType") or {}
    sigmas = (image_types.get("LoG") or {}).get("sigma") or setting.get("sigma") or [0.0]
    base = max(10.0, 3.0 * max(float(s) for s in sigmas))
    new_sp = setting.get("resampledPixelSpacing")
    step = max(float(s) for s in new_sp) if new_sp else 1.0
    pad = float(setting.get("padDistance", 5)) * step
    return base + pad + 2.0 * step


def phase_aligned_start(lower: int, spacing: float, new_spacing: float | None) -> int:
    """Largest index k <= lower with k x spacing a whole multiple of new_spacing (0 if none).

    Examples
    --------
    >>> phase_aligned_start(37, 0.45, 0.5)   # 30 x 0.45 = 13.5 = 27 x 0.5
    30
    >>> phase_aligned_start(37, 0.5, None)
    37
    """
    lower = max(int(lower), 0)
    if not new_spacing or new_spacing <= 0:
        return lower
    for k in range(lower, max(lower - _MAX_PHASE_SEARCH, -1), -1):
        r = (k * spacing) / new_spacing
        if abs(r - round(r)) < _PHASE_TOL:
            return k
    return 0


def crop_lesion(image: sitk.Image, roi: np.ndarray, *, margin_mm: float, new_spacing=None):
    """Crop ``image`` and the binary ``roi`` (z, y, x array) around the ROI, phase-aligned.

    Parameters
    ----------
    image : SimpleITK.Image
        The whole CT image.
    roi : ndarray of bool or uint8, shape (z, y, x)
        The lesion's ROI on the image grid.
    margin_mm : float
        Margin kept on every side (see :func:`crop_margin_mm`).
    new_spacing : sequence of 3 floats (x, y, z), optional
        pyradiomics' ``resampledPixelSpacing``; None when not resampling.

    Returns
    -------
    (SimpleITK.Image, SimpleITK.Image)
        The cropped image and a uint8 mask (ROI = 1) with the cropped geometry.

    Examples
    --------
    >>> import numpy as np, SimpleITK as sitk
    >>> img = sitk.Image(100, 100, 100, sitk.sitkInt16); img.SetSpacing((0.45, 0.45, 0.45))
    >>> roi = np.zeros((100, 100, 100), bool); roi[50:55, 50:55, 50:55] = True
    >>> ci, cm = crop_lesion(img, roi, margin_mm=10, new_spacing=(0.5, 0.5, 0.5))
    >>> ci.GetSize(), ci.GetOrigin()[0]
    ((58, 58, 58), 9.0)
    """
    if not roi.any():
        raise ValueError("the lesion's ROI is empty")
    zz, yy, xx = np.nonzero(roi)
    lo = np.array([xx.min(), yy.min(), zz.min()])
    hi = np.array([xx.max(), yy.max(), zz.max()])
    start, stop = _crop_box(image, lo, hi, margin_mm, new_spacing)
    sub = roi[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]]
    return _cut(image, start, stop, sub)


def _crop_box(image: sitk.Image, lo, hi, margin_mm: float, new_spacing):
    """Phase-aligned [start, stop) voxel box (x, y, z) around the bounding box lo..hi."""
    size = np.array(image.GetSize())
    spacing = np.array(image.GetSpacing())
    m = np.ceil(margin_mm / spacing).astype(int)
    start = np.empty(3, int)
    for ax in range(3):
        ns = None if new_spacing is None or not new_spacing[ax] else float(new_spacing[ax])
        start[ax] = phase_aligned_start(lo[ax] - m[ax], float(spacing[ax]), ns)
    stop = np.minimum(np.asarray(hi) + m + 1, size)
    return start, stop


def _cut(image: sitk.Image, start, stop, roi_sub: np.ndarray):
    cropped = image[int(start[0]):int(stop[0]), int(start[1]):int(stop[1]), int(start[2]):int(stop[2])]
    mask = sitk.GetImageFromArray(roi_sub.astype(np.uint8))
    mask.CopyInformation(cropped)
    return cropped, mask


def label_boxes(label_map: np.ndarray) -> list:
    """Bounding slices (z, y, x) of every label value, from one pass over the label map.

    ``boxes[k - 1]`` is the box of label k, or None when k is absent.

    Examples
    --------
    >>> m = np.zeros((4, 4, 4), np.uint8); m[1:3, 0, 2] = 2
    >>> label_boxes(m)[1]
    (slice(1, 3, None), slice(0, 1, None), slice(2, 3, None))
    """
    if label_map.size == 0 or label_map.max() <= 0:
        return []
    if label_map.dtype.kind == "u" and label_map.dtype.itemsize <= 4:
        return ndimage.find_objects(label_map)  # no copy: find_objects takes unsigned labels as they are
    if label_map.min() < 0:
        label_map = np.where(label_map < 0, 0, label_map)  # negative values are not labels
    return ndimage.find_objects(label_map.astype(np.int64, copy=False))


def _union_box(labels, boxes: list):
    """Lower and upper voxel index (x, y, z) of the union of the labels' boxes; ValueError if none is present."""
    present = [boxes[k - 1] for k in labels if 0 < k <= len(boxes) and boxes[k - 1] is not None]
    if not present:
        raise ValueError(f"label(s) {list(labels)} not present in the mask")
    lo = np.array([min(b[axis].start for b in present) for axis in (2, 1, 0)])
    hi = np.array([max(b[axis].stop for b in present) for axis in (2, 1, 0)]) - 1
    return lo, hi


def crop_labels(image: sitk.Image, label_map: np.ndarray, labels, boxes: list, *, margin_mm: float,
                new_spacing=None):
    """Like :func:`crop_lesion`, for the union of ``labels`` in a label map, touching only the crop.

    ``boxes`` comes from :func:`label_boxes` (computed once per mask), so a
    volume with many lesions is scanned once, not once per lesion.

    Raises
    ------
    ValueError
        When none of ``labels`` is present.
    """
    lo, hi = _union_box(labels, boxes)
    start, stop = _crop_box(image, lo, hi, margin_mm, new_spacing)
    sub = np.isin(label_map[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]], list(labels))
    return _cut(image, start, stop, sub)


def _resample_grid(image: sitk.Image, bb_lo, bb_size, new_spacing, pad_distance: float):
    """The output grid pyradiomics' ``resampleImage`` builds for a mask with bounding box bb on ``image``'s grid.

    Mirrors radiomics.imageoperations.resampleImage (pyradiomics 3.1): same
    formulas, same ITK index-to-physical transform, so the grid is identical
    to the one pyradiomics would use on the uncropped image.
    """
    mask_spacing = np.array(image.GetSpacing())
    mask_size = np.array(image.GetSize())
    new_sp = np.array(new_spacing, dtype=float)
    new_sp = np.where(new_sp == 0, mask_spacing, new_sp)
    bb_lo = np.asarray(bb_lo, float)
    bb_size = np.asarray(bb_size, float)
    new_sp = np.where(bb_size != 1, new_sp, mask_spacing)
    ratio = mask_spacing / new_sp
    lo = np.floor((bb_lo - 0.5) * ratio - pad_distance)
    hi = np.ceil((bb_lo + bb_size - 0.5) * ratio + pad_distance)
    max_hi = np.ceil(mask_size * ratio) - 1
    lo = np.where(lo < 0, 0, lo)
    hi = np.where(hi > max_hi, max_hi, hi)
    size = np.array(hi - lo + 1, dtype="int").tolist()
    origin_index = np.array(0.5 * (new_sp - mask_spacing) / mask_spacing) + lo / ratio
    ref = sitk.Image([1] * image.GetDimension(), sitk.sitkUInt8)
    ref.SetOrigin(image.GetOrigin())
    ref.SetSpacing(image.GetSpacing())
    ref.SetDirection(image.GetDirection())
    origin = ref.TransformContinuousIndexToPhysicalPoint(origin_index.tolist())
    return origin, size, new_sp.tolist(), image.GetDirection()


def needs_own_resampling(image: sitk.Image, new_spacing) -> bool:
    """True when pyradiomics would interpolate (a resampled spacing that differs from the image's)."""
    if not new_spacing:
        return False
    ns = np.array(new_spacing, dtype=float)
    ns = np.where(ns == 0, np.array(image.GetSpacing()), ns)
    return not np.allclose(np.array(image.GetSpacing()), ns)


def crop_and_resample(image: sitk.Image, label_map: np.ndarray, labels, boxes: list, *, margin_mm: float,
                      new_spacing, interpolator="sitkBSpline", pad_distance: float = 5):
    """Crop around a lesion and resample onto the exact grid pyradiomics would use on the whole image.

    pyradiomics places its resampling grid relative to the *uncropped* image's
    origin.  With real (float32) voxel spacings a crop can rarely start on that
    grid's phase, so instead of relying on the phase this function computes
    pyradiomics' own grid from the whole image's geometry and the lesion's
    bounding box, and resamples the small crop onto it (B-spline image,
    nearest-neighbour mask, as pyradiomics).  The crop margin keeps the
    B-spline prefilter's boundary effect below double precision.  The result is
    given to pyradiomics with resampling switched off.

    Returns
    -------
    (SimpleITK.Image, SimpleITK.Image)
        Resampled image and uint8 ROI mask (ROI = 1) on pyradiomics' grid.
    """
    lo, hi = _union_box(labels, boxes)
    # the ROI's exact bounding box (the union of label boxes can be larger than the ROI's)
    start, stop = _crop_box(image, lo, hi, 0.0, None)
    sub = np.isin(label_map[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]], list(labels))
    zz, yy, xx = np.nonzero(sub)
    roi_lo = np.array([xx.min(), yy.min(), zz.min()]) + start
    roi_hi = np.array([xx.max(), yy.max(), zz.max()]) + start
    origin, size, spacing, direction = _resample_grid(image, roi_lo, roi_hi - roi_lo + 1, new_spacing, pad_distance)
    c_start, c_stop = _crop_box(image, roi_lo, roi_hi, margin_mm, None)
    img_c, roi_c = _cut(image, c_start, c_stop,
                        np.isin(label_map[c_start[2]:c_stop[2], c_start[1]:c_stop[1], c_start[0]:c_stop[0]],
                                list(labels)))
    if isinstance(interpolator, str):
        interpolator = getattr(sitk, interpolator, sitk.sitkBSpline)
    rif = sitk.ResampleImageFilter()
    rif.SetOutputSpacing(spacing)
    rif.SetOutputDirection(direction)
    rif.SetSize(size)
    rif.SetOutputOrigin(origin)
    rif.SetOutputPixelType(img_c.GetPixelID())
    rif.SetInterpolator(interpolator)
    img_r = rif.Execute(img_c)
    rif.SetOutputPixelType(roi_c.GetPixelID())
    rif.SetInterpolator(sitk.sitkNearestNeighbor)
    roi_r = rif.Execute(roi_c)
    return img_r, roi_r
