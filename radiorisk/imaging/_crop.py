"""Crop an image around one lesion so that pyradiomics gives the same features as on the whole image.

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
    from scipy import ndimage

    if label_map.size == 0 or label_map.max() <= 0:
        return []
    if label_map.dtype.kind == "u" and label_map.dtype.itemsize <= 4:
        return ndimage.find_objects(label_map)  # no copy: find_objects takes unsigned labels as they are
    if label_map.min() < 0:
        label_map = np.where(label_map < 0, 0, label_map)  # negative values are not labels
    return ndimage.find_objects(label_map.astype(np.int64, copy=False))


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
    present = [boxes[k - 1] for k in labels if 0 < k <= len(boxes) and boxes[k - 1] is not None]
    if not present:
        raise ValueError(f"label(s) {list(labels)} not present in the mask")
    lo = np.array([min(b[2].start for b in present), min(b[1].start for b in present),
                   min(b[0].start for b in present)])
    hi = np.array([max(b[2].stop for b in present), max(b[1].stop for b in present),
                   max(b[0].stop for b in present)]) - 1
    start, stop = _crop_box(image, lo, hi, margin_mm, new_spacing)
    sub = np.isin(label_map[start[2]:stop[2], start[1]:stop[1], start[0]:stop[0]], list(labels))
    return _cut(image, start, stop, sub)
