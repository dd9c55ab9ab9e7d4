"""Crop (and where pyradiomics interpolates, resample) one lesion so that pyradiomics gives the
features it gives on the whole image.

Everything here works in voxel index space, so direction cosines (flipped, permuted, oblique),
spacing and origin never enter a margin.  Which crop a parameter set needs is decided in
:mod:`radiorisk.imaging._exact`; this module does the geometry:

- :func:`roi_box`, :func:`crop_box`, :func:`cut`: the ROI's bounding box, a box around it with a
  margin in voxels (clipped to the image, or the whole axis where asked), and the cut itself;
- :func:`resample_grid`: the grid pyradiomics' ``resampleImage`` builds for the ROI (its formulas,
  computed on the mask's geometry as pyradiomics does);
- :func:`resample_lesion`: the image and ROI on that grid, as pyradiomics makes them from the
  whole image.  Interpolators without a prefilter read the whole image directly (they only touch
  the voxels around the grid's points); a B-spline of order n >= 2 prefilters the image it is given
  with a recursive (IIR) filter, so the crop keeps the grid's support plus a margin over which the
  filter's boundary effect decays below 1e-16 (``|pole| ** margin``).  The mask is resampled from
  the whole label map with nearest neighbour, exactly as pyradiomics resamples its binary mask.
"""

from __future__ import annotations

import math

import numpy as np
import SimpleITK as sitk

__all__ = ["label_boxes", "roi_box", "crop_box", "cut", "effective_spacing", "resample_grid",
           "bspline_order", "bspline_margin", "resample_source_box", "resample_lesion"]

#: the largest pole of the B-spline prefilter of each order (Unser 1999); order <= 1 has none
_BSPLINE_POLE = {2: math.sqrt(8.0) - 3.0, 3: math.sqrt(3.0) - 2.0,
                 4: math.sqrt(664.0 - math.sqrt(438976.0)) + math.sqrt(304.0) - 19.0,
                 5: math.sqrt(135.0 / 2.0 - math.sqrt(17745.0 / 4.0)) + math.sqrt(105.0 / 4.0) - 6.5}
#: relative size of the prefilter's boundary effect left at the crop's edge
_DECAY_TO = 1e-16
#: pyradiomics' interpolator names (its default is B-spline of order 3)
_BSPLINE_NAMES = {"sitkBSpline": 3, "sitkBSpline1": 1, "sitkBSpline2": 2, "sitkBSpline3": 3,
                  "sitkBSpline4": 4, "sitkBSpline5": 5}


def label_boxes(label_map: np.ndarray) -> list:
    """Bounding slices (z, y, x) of every label value, from one pass over the label map.

    ``boxes[k - 1]`` is the box of label k, or None when k is absent.

    Examples
    --------
    >>> m = np.zeros((4, 4, 4), np.uint8); m[1:3, 0, 2] = 2
    >>> label_boxes(m)[1]
    (slice(1, 3, None), slice(0, 1, None), slice(2, 3, None))
    """
    # numpy alone (equal to scipy.ndimage.find_objects, tested): the worker processes that run this
    # then start without importing scipy, and only the labelled voxels (a few thousand) are sorted
    if label_map.size == 0:
        return []
    flat = label_map.reshape(-1)
    where = np.flatnonzero(flat > 0)  # values <= 0 are not labels
    if where.size == 0:
        return []
    labs = flat[where].astype(np.int64)
    order = np.argsort(labs, kind="stable")
    labs = labs[order]
    coords = np.unravel_index(where[order], label_map.shape)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(labs)) + 1])
    lows = [np.minimum.reduceat(c, starts) for c in coords]
    highs = [np.maximum.reduceat(c, starts) for c in coords]
    boxes: list = [None] * int(labs[-1])
    for j, k in enumerate(labs[starts]):
        boxes[int(k) - 1] = tuple(slice(int(lo[j]), int(hi[j]) + 1) for lo, hi in zip(lows, highs, strict=True))
    return boxes


def _union_box(labels, boxes: list):
    """Lower and upper voxel index (x, y, z) of the union of the labels' boxes; ValueError if none is present."""
    present = [boxes[k - 1] for k in labels if 0 < k <= len(boxes) and boxes[k - 1] is not None]
    if not present:
        raise ValueError(f"label(s) {list(labels)} not present in the mask")
    lo = np.array([min(b[axis].start for b in present) for axis in (2, 1, 0)])
    hi = np.array([max(b[axis].stop for b in present) for axis in (2, 1, 0)]) - 1
    return lo, hi


def roi_box(label_map: np.ndarray, labels, boxes: list):
    """The exact bounding box (lower, upper voxel index, x y z) of the union of ``labels``.

    ``boxes`` comes from :func:`label_boxes` (one pass per mask); only the union of the labels'
    boxes is scanned.  ValueError when none of the labels is present.

    Examples
    --------
    >>> m = np.zeros((5, 6, 7), np.uint8); m[1, 2, 3] = 1; m[3, 4, 5] = 2
    >>> [v.tolist() for v in roi_box(m, [1, 2], label_boxes(m))]
    [[3, 2, 1], [5, 4, 3]]
    """
    lo, hi = _union_box(labels, boxes)
    sub = np.isin(label_map[lo[2]:hi[2] + 1, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1], list(labels))
    zz, yy, xx = np.nonzero(sub)
    return np.array([xx.min(), yy.min(), zz.min()]) + lo, np.array([xx.max(), yy.max(), zz.max()]) + lo


def crop_box(lo, hi, margin, size, full_axes=None):
    """[start, stop) voxel box (x, y, z): lo..hi widened by ``margin`` voxels, clipped to ``size``.

    ``full_axes`` (sequence of 3 bools) takes the whole axis instead where the widened box
    would leave the image (filters with periodic boundaries).

    Examples
    --------
    >>> [v.tolist() for v in crop_box([5, 5, 5], [6, 6, 6], [2, 2, 9], [20, 20, 10])]
    [[3, 3, 0], [9, 9, 10]]
    >>> [v.tolist() for v in crop_box([1, 5, 5], [2, 6, 6], 2, [20, 20, 20], full_axes=[True] * 3)]
    [[0, 3, 3], [20, 9, 9]]
    """
    lo, hi = np.asarray(lo, int), np.asarray(hi, int)
    margin = np.broadcast_to(np.asarray(margin, int), (3,))
    size = np.asarray(size, int)
    start, stop = lo - margin, hi + margin + 1
    if full_axes is not None:
        leaves = (start < 0) | (stop > size)
        full = np.asarray(full_axes, bool) & leaves
        start, stop = np.where(full, 0, start), np.where(full, size, stop)
    return np.maximum(start, 0), np.minimum(stop, size)


def cut(image: sitk.Image, start, stop, label_map: np.ndarray, labels):
    """The image cut to [start, stop) and the ROI (``labels``, value 1, uint8) on the same grid.

    Examples
    --------
    >>> img = sitk.Image(6, 5, 4, sitk.sitkInt16); m = np.zeros((4, 5, 6), np.uint8); m[1, 2, 3] = 7
    >>> ci, cm = cut(img, [2, 1, 0], [5, 4, 3], m, [7])
    >>> ci.GetSize(), int(sitk.GetArrayViewFromImage(cm).sum())
    ((3, 3, 3), 1)
    """
    s, e = [int(v) for v in start], [int(v) for v in stop]
    if s == [0, 0, 0] and e == list(image.GetSize()):
        cropped = _whole(image)
    else:
        cropped = image[s[0]:e[0], s[1]:e[1], s[2]:e[2]]
    sub = np.isin(label_map[s[2]:e[2], s[1]:e[1], s[0]:e[0]], list(labels))
    mask = sitk.GetImageFromArray(sub.astype(np.uint8))
    mask.CopyInformation(cropped)
    return cropped, mask


def effective_spacing(mask_spacing, new_spacing, bb_size) -> np.ndarray:
    """The spacing pyradiomics resamples to: 0 means the mask's, and an axis the ROI spans in one
    voxel is not resampled (``radiomics.imageoperations.resampleImage``).

    Examples
    --------
    >>> effective_spacing([0.8, 0.8, 6.5], [2, 2, 0], [10, 1, 4]).tolist()
    [2.0, 0.8, 6.5]
    """
    mask_spacing = np.array(mask_spacing, dtype=float)
    new_sp = np.array(new_spacing)
    new_sp = np.where(new_sp == 0, mask_spacing, new_sp)
    return np.where(np.asarray(bb_size) != 1, new_sp, mask_spacing).astype(float)


def resample_grid(mask: sitk.Image, bb_lo, bb_size, new_spacing, pad_distance: float):
    """The output grid (origin, size, spacing, direction) of pyradiomics' ``resampleImage`` for a
    ROI with bounding box ``bb_lo``/``bb_size`` (voxels, x y z) on ``mask``'s grid.

    Mirrors radiomics.imageoperations.resampleImage (pyradiomics 3.1): same formulas on the same
    (mask) geometry, so the grid is the one pyradiomics uses on the uncropped image.  Only the
    mask's geometry is read (origin, spacing, direction, size).

    Examples
    --------
    >>> m = sitk.Image(40, 40, 10, sitk.sitkUInt8); m.SetSpacing((0.8, 0.8, 6.5))
    >>> origin, size, spacing, _ = resample_grid(m, [10, 10, 3], [5, 5, 2], [2, 2, 2], 5)
    >>> size, [round(v, 3) for v in origin]
    ([12, 12, 18], [0.6, 0.6, 3.75])
    """
    mask_spacing = np.array(mask.GetSpacing())
    mask_size = np.array(mask.GetSize())
    bb_lo = np.asarray(bb_lo)
    bb_size = np.asarray(bb_size)
    new_sp = effective_spacing(mask_spacing, new_spacing, bb_size)
    ratio = mask_spacing / new_sp
    lo = np.floor((bb_lo - 0.5) * ratio - pad_distance)
    hi = np.ceil((bb_lo + bb_size - 0.5) * ratio + pad_distance)
    max_hi = np.ceil(mask_size * ratio) - 1
    lo = np.where(lo < 0, 0, lo)
    hi = np.where(hi > max_hi, max_hi, hi)
    size = np.array(hi - lo + 1, dtype="int").tolist()
    origin_index = np.array(0.5 * (new_sp - mask_spacing) / mask_spacing) + lo / ratio
    ref = sitk.Image([1] * mask.GetDimension(), sitk.sitkUInt8)
    ref.SetOrigin(mask.GetOrigin())
    ref.SetSpacing(mask.GetSpacing())
    ref.SetDirection(mask.GetDirection())
    origin = ref.TransformContinuousIndexToPhysicalPoint(origin_index)
    return origin, size, new_sp.tolist(), mask.GetDirection()


def bspline_order(interpolator) -> int | None:
    """The order of a B-spline interpolator with a prefilter (>= 2), or None for any other.

    ``interpolator`` is a pyradiomics setting: a SimpleITK name or constant; an unknown name
    is B-spline, as in pyradiomics.

    Examples
    --------
    >>> bspline_order("sitkBSpline"), bspline_order("sitkLinear"), bspline_order("sitkBSpline5")
    (3, None, 5)
    """
    if isinstance(interpolator, str):
        if not hasattr(sitk, interpolator):
            return 3  # pyradiomics: 'interpolator "x" not recognized, using sitkBSpline'
        interpolator = getattr(sitk, interpolator)
    by_value = {getattr(sitk, name): order for name, order in _BSPLINE_NAMES.items() if hasattr(sitk, name)}
    order = by_value.get(interpolator)
    return order if order is not None and order >= 2 else None


def bspline_margin(order: int) -> int:
    """Voxels kept beyond the grid's extent for a B-spline of this order: its support plus the
    distance over which the prefilter's boundary effect falls below 1e-16.

    Examples
    --------
    >>> bspline_margin(3), bspline_margin(5)
    (31, 48)
    """
    support = order // 2 + 2
    decay = math.ceil(math.log(_DECAY_TO) / math.log(abs(_BSPLINE_POLE[order])))
    return support + decay


def _interpolator(interpolator):
    """The SimpleITK constant pyradiomics uses for this setting (unknown names: B-spline)."""
    if isinstance(interpolator, str):
        return getattr(sitk, interpolator, sitk.sitkBSpline)
    return interpolator


def _grid_index_box(image: sitk.Image, origin, size, spacing, direction):
    """The continuous-index bounding box (x y z) of a grid's corner points on ``image``."""
    d = np.array(direction, dtype=float).reshape(3, 3)
    corners = []
    for i in (0, size[0] - 1):
        for j in (0, size[1] - 1):
            for k in (0, size[2] - 1):
                p = np.asarray(origin) + d @ (np.array([i, j, k], float) * np.asarray(spacing))
                corners.append(image.TransformPhysicalPointToContinuousIndex(p.tolist()))
    corners = np.array(corners)
    return corners.min(axis=0), corners.max(axis=0)


def _whole(image):
    """The whole image as a SimpleITK image (an :class:`~radiorisk.imaging._read.ImageRegion` holding it gives it)."""
    return image if isinstance(image, sitk.Image) else image.whole_image()


def resample_source_box(image, label_image: sitk.Image, label_map: np.ndarray, labels, boxes: list, *,
                        new_spacing, interpolator="sitkBSpline", pad_distance: float = 5):
    """pyradiomics' resampling grid for a lesion, and the box of the image it is resampled from.

    ``image`` may be a header (:class:`~radiorisk.imaging._read.ImageHeader`): only its geometry is
    read.  Returns ``(grid, start, stop)``: ``grid`` is (origin, size, spacing, direction) as
    :func:`resample_grid` gives it; [start, stop) (voxels, x y z) is the crop a B-spline is
    prefiltered on (the grid's support and the prefilter's decay, :func:`bspline_margin`), or the
    whole image for an interpolator without a prefilter.  :func:`resample_lesion` resamples from it.

    Examples
    --------
    >>> img = sitk.Image(60, 60, 20, sitk.sitkInt16); img.SetSpacing((0.8, 0.8, 3.0))
    >>> lab = np.zeros((20, 60, 60), np.uint8); lab[8:12, 20:25, 22:28] = 1
    >>> lab_img = sitk.GetImageFromArray(lab); lab_img.CopyInformation(img)
    >>> _, start, stop = resample_source_box(img, lab_img, lab, [1], label_boxes(lab), new_spacing=[2, 2, 2])
    >>> start.tolist(), stop.tolist()
    ([0, 0, 0], [60, 60, 20])
    >>> _, start, stop = resample_source_box(img, lab_img, lab, [1], label_boxes(lab), new_spacing=[2, 2, 2],
    ...                                      interpolator="sitkLinear")
    >>> start.tolist(), stop.tolist()
    ([0, 0, 0], [60, 60, 20])
    """
    roi_lo, roi_hi = roi_box(label_map, labels, boxes)
    grid = resample_grid(label_image, roi_lo, roi_hi - roi_lo + 1, new_spacing, pad_distance)
    size = np.asarray(image.GetSize(), int)
    order = bspline_order(interpolator)
    if order is None:  # no prefilter: the whole image (the interpolator reads around each grid point)
        return grid, np.zeros(3, int), size
    cmin, cmax = _grid_index_box(image, *grid)
    start, stop = crop_box(np.floor(cmin), np.ceil(cmax), bspline_margin(order), size)
    return grid, start, stop


def resample_lesion(image: sitk.Image, label_image: sitk.Image, label_map: np.ndarray, labels, boxes: list, *,
                    new_spacing, interpolator="sitkBSpline", pad_distance: float = 5):
    """The image and ROI on pyradiomics' resampling grid, equal to what pyradiomics makes from the
    whole image and mask.

    Parameters
    ----------
    image : SimpleITK.Image or ImageRegion
        The whole image (normalised first when the parameters normalise), or a region of it
        holding the box :func:`resample_source_box` gives.
    label_image : SimpleITK.Image
        The whole label map as read (its geometry defines the grid, as the mask's does in pyradiomics).
    label_map : ndarray
        Its voxels (z, y, x); ``boxes`` from :func:`label_boxes`.
    labels : list of int
        The lesion's labels (their union is the ROI).
    new_spacing, interpolator, pad_distance
        pyradiomics' ``resampledPixelSpacing``, ``interpolator`` and ``padDistance``.

    Returns
    -------
    (SimpleITK.Image, SimpleITK.Image)
        Resampled image (the image's pixel type) and uint8 ROI (ROI = 1) on the grid; give them to
        pyradiomics with resampling switched off.

    Examples
    --------
    >>> img = sitk.GetImageFromArray(np.random.default_rng(0).normal(size=(20, 30, 30)))
    >>> img.SetSpacing((0.8, 0.8, 3.0)); img.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1))
    >>> lab = np.zeros((20, 30, 30), np.uint8); lab[8:12, 10:15, 12:18] = 1
    >>> lab_img = sitk.GetImageFromArray(lab); lab_img.CopyInformation(img)
    >>> ri, rm = resample_lesion(img, lab_img, lab, [1], label_boxes(lab), new_spacing=[2, 2, 2])
    >>> ri.GetSpacing(), rm.GetSize() == ri.GetSize()
    ((2.0, 2.0, 2.0), True)
    """
    (origin, size, spacing, direction), start, stop = resample_source_box(
        image, label_image, label_map, labels, boxes, new_spacing=new_spacing, interpolator=interpolator,
        pad_distance=pad_distance)
    if [int(v) for v in start] == [0, 0, 0] and [int(v) for v in stop] == list(image.GetSize()):
        source = _whole(image)
    else:  # the prefilter sees the crop: the grid's support and its decay
        source = image[int(start[0]):int(stop[0]), int(start[1]):int(stop[1]), int(start[2]):int(stop[2])]
    rif = sitk.ResampleImageFilter()
    rif.SetOutputSpacing(spacing)
    rif.SetOutputDirection(direction)
    rif.SetSize(size)
    rif.SetOutputOrigin(origin)
    rif.SetOutputPixelType(image.GetPixelID())
    rif.SetInterpolator(_interpolator(interpolator))
    img_r = rif.Execute(source)
    rif.SetOutputPixelType(label_image.GetPixelID())
    rif.SetInterpolator(sitk.sitkNearestNeighbor)
    lab_r = rif.Execute(label_image)  # kept alive while its voxels are viewed
    roi_r = sitk.GetImageFromArray(np.isin(sitk.GetArrayViewFromImage(lab_r), list(labels)).astype(np.uint8))
    roi_r.CopyInformation(img_r)
    return img_r, roi_r
