"""Image and contour perturbations for radiomic feature stability (MIRP-style).

Zwanenburg et al. (2019, Sci Rep 9:614) assess a feature's robustness by
extracting it again from perturbed copies of each lesion and computing an ICC
across the copies.  This module holds the perturbation operators (on SimpleITK
images and binary ROI masks) and the extraction of one lesion under each:

``noise``
    Gaussian noise added at the image's own noise level, estimated once per
    image by Chang et al.'s (2000) wavelet method: the median absolute finest
    diagonal (HH) Haar coefficient of each axial slice, divided by 0.6745
    (pooled over slices; 2x2 blocks lying wholly at the image minimum, i.e. padding
    outside the field of view, are left out).  Noise correlated between
    neighbouring voxels (smooth kernels) is underestimated by this estimator.
``rotation``
    Rotation by the given angles (degrees) about the slice axis (the third
    direction cosine) through the ROI's centroid; image by cubic B-spline, mask by
    linear interpolation of the binary mask kept where >= 0.5 (as MIRP does).
``translation``
    Sub-voxel shifts by the given fraction of the voxel size along both in-plane
    axes (same interpolation as rotation).
``volume``
    The ROI dilated (+1) or eroded (-1) by one voxel in-plane (slice by slice,
    4-connected cross element: one voxel of city-block distance; contours are
    drawn per slice, and thick slices would otherwise dominate).
``contour``
    Supervoxel-based contour randomisation: the ROI's bounding box (plus two
    voxels) is split into SLIC-like supervoxels (about :data:`SUPERVOXEL_VOXELS`
    voxels each, small because coronary plaques are thin; k-means on intensity clipped to the ROI's range +-10 % and
    Gaussian-smoothed by one voxel, and on position, 10 iterations, each voxel
    choosing among the 27 centres seeded in its grid cell and the cells around it); each
    supervoxel is then kept with probability equal to its overlap with the ROI
    (>= 0.9 kept, < 0.2 dropped, the most-overlapping always kept), and the union
    is closed morphologically.  scikit-image is not a dependency, so the SLIC
    step is implemented here with numpy.

Every random draw comes from a generator seeded by (seed, lesion key,
perturbation name) (:func:`perturbation_rng`), so results do not depend on the
order or the process in which lesions are done.  Features are computed with
pyradiomics on a lesion-centred crop (:func:`crop_margin_mm`) for every
perturbation, the unperturbed ``original`` included, so that all raters see the
same field of view; perturbed images keep the input's pixel type (an int16 CT is
rounded back to int16 after noise or interpolation, :func:`as_pixel_type`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..exceptions import ParameterError
from ._params import RadiomicsParams
from ._worker import feature_values, ibsi_axis_correction

__all__ = [
    "DEFAULT_PERTURBATIONS",
    "FAMILIES",
    "Perturbation",
    "add_noise",
    "apply_perturbation",
    "as_pixel_type",
    "crop_margin_mm",
    "estimate_noise_sd",
    "grow_roi",
    "parse_perturbations",
    "perturb_lesion",
    "perturbation_rng",
    "randomise_roi",
    "rigid_perturbation",
    "supervoxels",
]

#: perturbation families and the value they take (and their default values)
FAMILIES = {
    "noise": ("realisations", 2),
    "rotation": ("angles in degrees", (-10.0, -5.0, 5.0, 10.0)),
    "translation": ("fractions of a voxel", (0.25, 0.5)),
    "volume": ("voxels (+ dilate, - erode)", (-1, 1)),
    "contour": ("realisations", 3),
}
#: the default specification (every family with its default values)
DEFAULT_PERTURBATIONS = tuple(FAMILIES)
#: the target supervoxel size (voxels) of contour randomisation
SUPERVOXEL_VOXELS = 8


@dataclass(frozen=True)
class Perturbation:
    """One perturbation: ``family`` and its ``value`` (angle, fraction, voxels or realisation number).

    Examples
    --------
    >>> Perturbation("rotation", 5.0).name, Perturbation("original", 0).name
    ('rotation_+5', 'original')
    """

    family: str
    value: float

    @property
    def name(self) -> str:
        """The rater name in the tables: ``original``, ``noise_1``, ``rotation_-5``, ``volume_+1``, ..."""
        if self.family == "original":
            return "original"
        if self.family in ("noise", "contour"):
            return f"{self.family}_{int(self.value)}"
        return f"{self.family}_{self.value:+g}"


def parse_perturbations(spec=None) -> list[Perturbation]:
    """The perturbations of a specification, ``original`` first.

    Parameters
    ----------
    spec : iterable of str, optional
        Tokens ``FAMILY`` (its default values, see :data:`FAMILIES`) or
        ``FAMILY:V1,V2,...``; for ``noise`` and ``contour`` the one value is the
        number of realisations.  Default: every family with its defaults.

    Returns
    -------
    list of Perturbation

    Examples
    --------
    >>> [p.name for p in parse_perturbations(["noise:1", "rotation:-5,5", "volume"])]
    ['original', 'noise_1', 'rotation_-5', 'rotation_+5', 'volume_-1', 'volume_+1']
    """
    out = [Perturbation("original", 0)]
    for token in DEFAULT_PERTURBATIONS if spec is None else spec:
        family, _, values = str(token).strip().partition(":")
        if family not in FAMILIES:
            raise ParameterError(f"perturbations: unknown family {family!r} in {token!r}; "
                                 f"allowed: {', '.join(FAMILIES)}")
        what, default = FAMILIES[family]
        try:
            vals = [float(v) for v in values.split(",") if v.strip()] if values else None
        except ValueError:
            raise ParameterError(f"perturbations: {token!r}: {family} takes {what}, e.g. "
                                 f"{family}:{default if isinstance(default, int) else default[0]}") from None
        if family in ("noise", "contour"):
            reps = int(vals[0]) if vals else default
            if (vals and (len(vals) != 1 or vals[0] != reps)) or reps < 1:
                raise ParameterError(f"perturbations: {token!r}: {family} takes one whole number of "
                                     "realisations >= 1")
            out += [Perturbation(family, i) for i in range(1, reps + 1)]
            continue
        vals = list(default) if vals is None else vals
        if family == "volume" and any(v not in (-1, 1) for v in vals):
            raise ParameterError(f"perturbations: {token!r}: volume takes -1 (erode) and/or 1 (dilate)")
        if family == "translation" and any(not 0 < v < 1 for v in vals):
            raise ParameterError(f"perturbations: {token!r}: translation fractions must lie in (0, 1)")
        if family == "rotation" and any(v == 0 or abs(v) > 45 for v in vals):
            raise ParameterError(f"perturbations: {token!r}: rotation angles must be non-zero, within +-45 degrees")
        out += [Perturbation(family, float(v)) for v in vals]
    names = [p.name for p in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ParameterError(f"perturbations: {', '.join(dupes)} given twice")
    return out


def perturbation_rng(seed: int, key: str, perturbation: str) -> np.random.Generator:
    """A generator determined by ``(seed, key, perturbation)`` only (SHA-256 of the texts, not ``hash``).

    Examples
    --------
    >>> a = perturbation_rng(1, "L1", "noise_1").normal(); b = perturbation_rng(1, "L1", "noise_1").normal()
    >>> a == b, a == perturbation_rng(1, "L2", "noise_1").normal()
    (True, False)
    """
    digest = hashlib.sha256(f"{key}\x00{perturbation}".encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words]))


def estimate_noise_sd(image) -> float:
    """The image's noise SD by Chang et al.'s wavelet estimator (see the module text).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> z, y, x = np.mgrid[:8, :64, :64]
    >>> img = sitk.GetImageFromArray(100 * np.sin(x / 9.0) + 40 * (y > 30) + rng.normal(0, 12, x.shape))
    >>> round(estimate_noise_sd(img))
    12
    """
    a = sitk.GetArrayViewFromImage(image).astype(np.float64)
    if a.ndim == 2:
        a = a[None]
    a = a[:, : a.shape[1] // 2 * 2, : a.shape[2] // 2 * 2]
    if a.shape[1] < 2 or a.shape[2] < 2:
        raise ParameterError(f"noise estimate: the image's slices ({a.shape[1]} x {a.shape[2]}) are too small")
    p00, p01, p10, p11 = a[:, ::2, ::2], a[:, ::2, 1::2], a[:, 1::2, ::2], a[:, 1::2, 1::2]
    hh = (p00 - p01 - p10 + p11) / 2.0
    low = a.min()
    keep = ~((p00 == low) & (p01 == low) & (p10 == low) & (p11 == low))
    if not keep.any():
        return 0.0
    return float(np.median(np.abs(hh[keep])) / 0.6745)


def crop_margin_mm(params: RadiomicsParams, roi_extent_mm, max_angle: float = 10.0) -> float:
    """Margin (mm) kept around the ROI so that resampling, filters and the perturbations see the same neighbourhood.

    The sum of pyradiomics' resampling pad (``padDistance`` voxels of the new grid,
    default 5), four times the largest LoG sigma, four voxels for wavelets, and the
    largest displacement of a ROI point by ``max_angle`` degrees about its centre
    plus one voxel; at least 5 mm.

    Examples
    --------
    >>> from radiorisk.imaging import load_params
    >>> p = load_params({"imageType": {"Original": {}}, "featureClass": {"firstorder": None}})
    >>> round(crop_margin_mm(p, (4.0, 4.0, 2.0)), 2)
    5.0
    """
    s = params.settings
    spacing = s.get("resampledPixelSpacing")
    margin = float(s.get("padDistance", 5)) * max(spacing) if spacing else 0.0
    types = params.params.get("imageType") or {}
    sigmas = (types.get("LoG") or {}).get("sigma") or s.get("sigma") or []
    if "LoG" in types and sigmas:
        margin += 4.0 * max(float(v) for v in sigmas)
    ext = np.asarray(roi_extent_mm, float)
    if "Wavelet" in types:
        margin += 4.0 * float(max(spacing) if spacing else ext.max() / 8)
    radius = 0.5 * float(np.hypot(ext[0], ext[1]))
    margin += 2 * radius * math.sin(math.radians(min(abs(max_angle), 45.0)) / 2) + float(ext.max()) / 4
    return max(5.0, margin)


def _crop(image, roi, margin_mm: float):
    """Image and ROI cut to the ROI's bounding box plus ``margin_mm`` (within the image)."""
    arr = sitk.GetArrayViewFromImage(roi)
    idx = np.argwhere(arr > 0)
    lo_zyx, hi_zyx = idx.min(axis=0), idx.max(axis=0)
    size = np.array(image.GetSize())
    m = np.ceil(margin_mm / np.array(image.GetSpacing())).astype(int)
    lo = np.maximum(lo_zyx[::-1] - m, 0)
    hi = np.minimum(hi_zyx[::-1] + m, size - 1)
    index, extent = [int(v) for v in lo], [int(v) for v in hi - lo + 1]
    return sitk.RegionOfInterest(image, extent, index), sitk.RegionOfInterest(roi, extent, index)


def add_noise(image, sd: float, rng: np.random.Generator):
    """``image`` (as float64) plus Gaussian noise of SD ``sd``.

    Examples
    --------
    >>> img = sitk.GetImageFromArray(np.zeros((4, 50, 50)))
    >>> out = add_noise(img, 10.0, np.random.default_rng(0))
    >>> round(float(sitk.GetArrayViewFromImage(out).std()))
    10
    """
    a = sitk.GetArrayViewFromImage(image).astype(np.float64)
    out = sitk.GetImageFromArray(a + rng.normal(0.0, float(sd), a.shape))
    out.CopyInformation(image)
    return out


def rigid_perturbation(image, roi, *, angle: float = 0.0, shift: float = 0.0):
    """Rotate by ``angle`` degrees about the slice axis through the ROI centroid and shift by ``shift`` voxels in-plane.

    Returns the image (B-spline, float64) and the ROI (linear interpolation of the
    binary mask, kept where >= 0.5) on the input grid.

    Examples
    --------
    >>> a = np.zeros((5, 21, 21)); a[1:4, 6:15, 8:13] = 1
    >>> img = sitk.GetImageFromArray(100 * a); roi = sitk.GetImageFromArray(a.astype(np.uint8))
    >>> _, r = rigid_perturbation(img, roi, angle=90)
    >>> m = sitk.GetArrayViewFromImage(r)[2]
    >>> int(m.sum()), bool(m[10, 6]), bool(m[6, 10])
    (45, True, False)
    """
    d = np.array(image.GetDirection(), float).reshape(3, 3)
    spacing = np.array(image.GetSpacing(), float)
    idx = np.argwhere(sitk.GetArrayViewFromImage(roi) > 0)[:, ::-1].mean(axis=0)
    centre = image.TransformContinuousIndexToPhysicalPoint([float(v) for v in idx])
    t = math.radians(angle)
    rz = np.array([[math.cos(t), -math.sin(t), 0.0], [math.sin(t), math.cos(t), 0.0], [0.0, 0.0, 1.0]])
    rot = d @ rz @ d.T
    move = d @ (np.array([shift, shift, 0.0]) * spacing)
    inv = rot.T  # output point p samples the input at R^-1 (p - c - move) + c
    tr = sitk.AffineTransform(3)
    tr.SetMatrix([float(v) for v in inv.ravel()])
    tr.SetCenter([float(v) for v in centre])
    tr.SetTranslation([float(v) for v in -inv @ move])
    fill = float(sitk.GetArrayViewFromImage(image).min())
    img = sitk.Resample(sitk.Cast(image, sitk.sitkFloat64), image, tr, sitk.sitkBSpline, fill, sitk.sitkFloat64)
    frac = sitk.Resample(sitk.Cast(roi, sitk.sitkFloat32), roi, tr, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    return img, sitk.Cast(frac >= 0.5, sitk.sitkUInt8)


def grow_roi(roi, voxels: int):
    """The ROI dilated (``voxels`` = 1) or eroded (-1) by one voxel in-plane (a 4-connected cross per slice).

    Examples
    --------
    >>> a = np.zeros((3, 9, 9), np.uint8); a[:, 3:6, 3:6] = 1
    >>> [int(sitk.GetArrayFromImage(grow_roi(sitk.GetImageFromArray(a), v)).sum()) for v in (1, -1)]
    [63, 3]
    """
    if voxels not in (-1, 1):
        raise ParameterError(f"grow_roi: voxels must be -1 or 1, got {voxels!r}")
    op = sitk.BinaryDilate if voxels > 0 else sitk.BinaryErode
    return sitk.Cast(op(sitk.Cast(roi > 0, sitk.sitkUInt8), [1, 1, 0], sitk.sitkCross, 0, 1), sitk.sitkUInt8)


def supervoxels(values: np.ndarray, spacing, *, target_voxels: int = SUPERVOXEL_VOXELS,
                compactness: float = 0.05, iterations: int = 10) -> np.ndarray:
    """SLIC-like supervoxel labels (0..K-1) of a 3-D array (z, y, x) with voxel ``spacing`` (x, y, z).

    ``values`` should already be clipped and scaled to about [0, 1]; the distance is
    ``dI**2 + (compactness * ds / S)**2`` with grid step S (mm) chosen so that a
    supervoxel holds about ``target_voxels`` voxels.

    Examples
    --------
    >>> v = np.zeros((4, 12, 12)); v[:, :, 6:] = 1.0
    >>> lab = supervoxels(v, (1.0, 1.0, 1.0), target_voxels=36)
    >>> set(lab[..., :6].ravel()).isdisjoint(lab[..., 6:].ravel()), int(lab.max()) + 1
    (True, 16)
    """
    sp = np.asarray(spacing, float)[::-1]  # z, y, x
    shape = np.array(values.shape)
    step_mm = (target_voxels * float(np.prod(sp))) ** (1 / 3)
    step = np.maximum(step_mm / sp, 1.0)
    axes = [np.arange(step[i] / 2, shape[i], step[i]) if shape[i] > step[i] else np.array([(shape[i] - 1) / 2])
            for i in range(3)]
    n_grid = np.array([len(a) for a in axes])
    seeds = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    pos = np.argwhere(np.ones(values.shape, bool)).astype(float)  # z, y, x in C order
    val = values.ravel().astype(float)
    at = np.minimum(np.round(seeds).astype(int), shape - 1)
    centres = np.column_stack([seeds, val[np.ravel_multi_index(at.T, values.shape)]])
    # a voxel considers the 27 centres seeded in its grid cell and the cells around it (SLIC's 2S window)
    cell = np.minimum((pos / step).astype(int), n_grid - 1)
    offsets = np.stack(np.meshgrid(*[[-1, 0, 1]] * 3, indexing="ij"), -1).reshape(-1, 3)
    cand_cell = cell[:, None, :] + offsets[None, :, :]
    valid = ((cand_cell >= 0) & (cand_cell < n_grid)).all(-1)
    cand = np.ravel_multi_index(tuple(np.clip(cand_cell, 0, n_grid - 1).transpose(2, 0, 1)), tuple(n_grid))
    labels = np.zeros(len(val), int)
    for _ in range(iterations):
        dpos = (pos[:, None, :] - centres[cand, :3]) * sp
        dist = (val[:, None] - centres[cand, 3]) ** 2 + (compactness ** 2) * (dpos ** 2).sum(-1) / step_mm ** 2
        dist[~valid] = np.inf
        labels = cand[np.arange(len(val)), dist.argmin(1)]
        counts = np.bincount(labels, minlength=len(centres))
        used = counts > 0
        for j in range(3):
            centres[used, j] = np.bincount(labels, pos[:, j], len(centres))[used] / counts[used]
        centres[used, 3] = np.bincount(labels, val, len(centres))[used] / counts[used]
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(values.shape)


def randomise_roi(image, roi, rng: np.random.Generator, *, labels: np.ndarray | None = None):
    """A supervoxel-randomised ROI (see the module text); ``labels`` reuses supervoxels already computed.

    Examples
    --------
    >>> z, y, x = np.mgrid[:6, :20, :20]
    >>> a = ((x - 10) ** 2 + (y - 10) ** 2 < 20).astype(np.uint8)
    >>> img = sitk.GetImageFromArray(200.0 * a + np.random.default_rng(1).normal(0, 20, a.shape))
    >>> r = randomise_roi(img, sitk.GetImageFromArray(a), np.random.default_rng(2))
    >>> 0 < int(sitk.GetArrayViewFromImage(r).sum()) < 3 * int(a.sum())
    True
    """
    m = sitk.GetArrayViewFromImage(roi) > 0
    box, labels = _supervoxel_box(image, m) if labels is None else labels
    sub_m = m[box]
    n = labels.max() + 1
    frac = np.bincount(labels.ravel(), sub_m.ravel(), n) / np.bincount(labels.ravel(), minlength=n)
    p = np.where(frac >= 0.9, 1.0, np.where(frac < 0.2, 0.0, frac))
    p[np.argmax(frac)] = 1.0
    keep = rng.random(n) < p
    new = ndimage.binary_closing(keep[labels])
    out = np.zeros(m.shape, np.uint8)
    out[box] = new
    img = sitk.GetImageFromArray(out)
    img.CopyInformation(roi)
    return img


def _supervoxel_box(image, m: np.ndarray):
    """The ROI's bounding box plus two voxels, and its supervoxel labels."""
    idx = np.argwhere(m)
    lo = np.maximum(idx.min(0) - 2, 0)
    hi = np.minimum(idx.max(0) + 3, m.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    a = sitk.GetArrayViewFromImage(image)
    inside = a[m].astype(float)
    g_lo, g_hi = inside.min(), inside.max()
    pad = 0.1 * (g_hi - g_lo) if g_hi > g_lo else 1.0
    g_lo, g_hi = g_lo - pad, g_hi + pad
    sub = np.clip(a[box].astype(float), g_lo, g_hi)
    sp = np.array(image.GetSpacing(), float)
    sub = ndimage.gaussian_filter(sub, sigma=1.0, mode="nearest")
    return box, supervoxels((sub - g_lo) / (g_hi - g_lo), sp)


def as_pixel_type(image, like):
    """``image`` in the pixel type of ``like``: rounded and clipped to its range when that type is an integer.

    A CT stored as int16 stays int16 after noise or interpolation, as pyradiomics'
    own resampling keeps the input's type; the unperturbed ``original`` is then
    exactly the image ``extract`` sees.

    Examples
    --------
    >>> like = sitk.GetImageFromArray(np.zeros((1, 2, 2), np.int16))
    >>> sitk.GetArrayFromImage(as_pixel_type(sitk.GetImageFromArray(np.full((1, 2, 2), 40000.4)), like)).ravel()
    array([32767, 32767, 32767, 32767], dtype=int16)
    """
    dtype = sitk.GetArrayViewFromImage(like).dtype
    a = sitk.GetArrayViewFromImage(image)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        a = np.clip(np.rint(a), info.min, info.max)
    out = sitk.GetImageFromArray(a.astype(dtype))
    out.CopyInformation(image)
    return out


def apply_perturbation(image, roi, p: Perturbation, *, noise_sd: float, rng: np.random.Generator,
                       supervoxel_labels=None):
    """The (image, ROI) pair under perturbation ``p``, the image in the input's pixel type (:func:`as_pixel_type`).

    Examples
    --------
    >>> a = np.zeros((3, 9, 9), np.uint8); a[:, 3:6, 3:6] = 1
    >>> img, roi = sitk.GetImageFromArray(50.0 * a), sitk.GetImageFromArray(a)
    >>> _, r = apply_perturbation(img, roi, Perturbation("volume", 1), noise_sd=1.0, rng=None)
    >>> int(sitk.GetArrayFromImage(r).sum())
    63
    """
    if p.family in ("original", "volume", "contour"):
        img = image
        if p.family == "volume":
            roi = grow_roi(roi, int(p.value))
        elif p.family == "contour":
            roi = randomise_roi(image, roi, rng, labels=supervoxel_labels)
        return img, roi
    if p.family == "noise":
        return as_pixel_type(add_noise(image, noise_sd, rng), image), roi
    if p.family in ("rotation", "translation"):
        kw = {"angle": p.value} if p.family == "rotation" else {"shift": p.value}
        img, roi = rigid_perturbation(image, roi, **kw)
        return as_pixel_type(img, image), roi
    raise ParameterError(f"unknown perturbation family {p.family!r}; allowed: original, {', '.join(FAMILIES)}")


def perturb_lesion(image, roi, perturbations, params: RadiomicsParams, *, noise_sd: float, seed: int,
                   key: str) -> tuple[list[dict], list[dict]]:
    """pyradiomics features of one lesion under each perturbation.

    Parameters
    ----------
    image, roi : SimpleITK.Image
        The image and the lesion's binary ROI (same grid).
    perturbations : list of Perturbation
    params : RadiomicsParams
    noise_sd : float
        The image's noise SD (:func:`estimate_noise_sd`).
    seed : int
    key : str
        The lesion's key in the random streams (e.g. its id and reader).

    Returns
    -------
    rows, failures : list of dict
        One row per perturbation that gave finite features (``perturbation, family,
        n_voxels`` and the features), one failure (``perturbation, reason``) per
        perturbation that did not.

    Examples
    --------
    >>> from radiorisk.imaging import load_params
    >>> z, y, x = np.mgrid[:8, :24, :24]
    >>> a = ((x - 12) ** 2 + (y - 12) ** 2 < 30).astype(np.uint8)
    >>> img = sitk.GetImageFromArray(100.0 * a + np.random.default_rng(0).normal(0, 10, a.shape))
    >>> p = load_params({"imageType": {"Original": {}}, "featureClass": {"firstorder": ["Mean"]}})
    >>> rows, fails = perturb_lesion(img, sitk.GetImageFromArray(a), parse_perturbations(["noise:1"]), p,
    ...                              noise_sd=10.0, seed=0, key="L1")
    >>> [r["perturbation"] for r in rows], fails
    (['original', 'noise_1'], [])
    """
    sp = np.array(image.GetSpacing(), float)
    idx = np.argwhere(sitk.GetArrayViewFromImage(roi) > 0)
    if len(idx) == 0:
        return [], [{"perturbation": p.name, "reason": "empty ROI"} for p in perturbations]
    extent = (idx.max(0) - idx.min(0) + 1)[::-1] * sp
    # the crop is the same for every set of rotations up to 10 degrees (a perturbation's values do not
    # depend on which other perturbations are run)
    angles = [abs(p.value) for p in perturbations if p.family == "rotation"]
    img_c, roi_c = _crop(image, roi, crop_margin_mm(params, extent, max([10.0, *angles])))
    extractor = params.extractor()
    svx = _supervoxel_box(img_c, sitk.GetArrayViewFromImage(roi_c) > 0) if any(
        p.family == "contour" for p in perturbations) else None
    rows, failures = [], []
    logger = logging.getLogger("radiomics")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        for p in perturbations:
            rng = perturbation_rng(seed, key, p.name)
            try:
                img_p, roi_p = apply_perturbation(img_c, roi_c, p, noise_sd=noise_sd, rng=rng, supervoxel_labels=svx)
                n_vox = int(sitk.GetArrayViewFromImage(roi_p).sum())
                if n_vox == 0:
                    raise ValueError("the perturbed ROI is empty")
                res = extractor.execute(img_p, roi_p, label=1)
            except Exception as exc:  # one perturbation never stops the lesion
                failures.append({"perturbation": p.name, "reason": " ".join(str(exc).split())[:300]})
                continue
            values = feature_values(res)
            if params.options.get("ibsi_axis_correction"):
                values = ibsi_axis_correction(values, params.settings.get("resampledPixelSpacing") or sp)
            bad = [k for k, v in values.items() if not np.isfinite(v)]
            if bad:
                failures.append({"perturbation": p.name, "reason": f"{len(bad)} feature(s) not finite, e.g. {bad[:3]}"})
                continue
            rows.append({"perturbation": p.name, "family": p.family, "n_voxels": n_vox, **values})
    finally:
        logger.setLevel(level)
    return rows, failures
