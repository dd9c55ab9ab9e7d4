"""Which crop of a lesion gives exactly pyradiomics' features on the whole image, for a parameter set.

pyradiomics 3.1 (``featureextractor.execute``) builds the image its filters and features see in
one of three ways; each has a crop that reproduces it:

``resample`` -- ``interpolator`` and ``resampledPixelSpacing`` are set and the new spacing differs
    from the image's: pyradiomics resamples the whole image onto a grid computed from the mask's
    bounding box plus ``padDistance`` new voxels, and every filter then runs on that grid.
    radiorisk builds the same grid and the same values (:func:`~radiorisk.imaging._crop.resample_lesion`)
    and gives them to pyradiomics with resampling (and ``preCrop``) switched off, so every image
    type is exact.
``pad`` -- resampling is asked but the new spacing equals the image's (``numpy.allclose``, decided
    per lesion as pyradiomics does), or ``preCrop`` is on: pyradiomics crops to the bounding box
    plus ``padDistance`` voxels before filtering.  A crop with that margin (one voxel more) gives
    pyradiomics the same image, which it crops the same way.
``filters`` -- otherwise the filters run on the whole image.  Each image type needs a margin
    (voxels, per axis): Original none; Gradient 2 (finite differences); LoG 30 sigma + 4 voxels
    (a recursive, IIR Gaussian whose boundary effect decays as exp(-1.7 d / sigma): below 1e-20 at
    30 sigma); Wavelet the filter length times the number of levels + 2, and the whole axis where
    that reaches the image's edge (pyradiomics pads periodically); LBP2D ``ceil(lbp2DRadius)`` + 1
    (scikit-image's ``local_binary_pattern``, slice by slice: each voxel's pattern compares it with
    ``lbp2DSamples`` points on a circle of radius ``lbp2DRadius`` read by bilinear interpolation from
    the 2 x 2 voxels around each point, which lie within ``ceil(R)`` voxels, and outside the image
    as 0: nothing global).  Square,
    SquareRoot, Logarithm and Exponential scale by the whole image's largest absolute value, and
    LBP3D is not shown exact (see :data:`_WHOLE_IMAGE_TYPES`): with
    any of them the lesion is extracted from the whole image, and the run's notes say so.

Normalisation (``normalize``: whole-image mean and SD, before resampling) is done once per image
with pyradiomics' own ``normalizeImage``, then cropped; pyradiomics gets ``normalize`` off.
Resegmentation, binning and shape use only the ROI's voxels, which the crops keep.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from ._crop import effective_spacing

__all__ = ["CropPlan", "plan_crop", "lesion_mode", "pad_margin", "filter_margins", "extractor_params"]

#: image types that use whole-image statistics, or are not shown exact with a crop: the lesion takes the whole image
_WHOLE_IMAGE_TYPES = {
    "Square": "scales by the whole image's largest absolute value",
    "SquareRoot": "scales by the whole image's largest absolute value",
    "Logarithm": "scales by the whole image's largest absolute value",
    "Exponential": "scales by the whole image's largest absolute value",
    # getLBP3DImage reads each ROI voxel's icosphere points with map_coordinates(order=3), whose spline
    # prefilter runs over the whole image (boundary effect |sqrt(3) - 2|^d), and thresholds the samples
    # against the centre voxel, so a crop must give bit-identical samples.  pyradiomics on a crop of
    # the same image with ceil(R) + 2 + 40 voxels was bit-identical (from 20 voxels on), but the
    # property test through the engine found a case that was not equal (relative 1.6 in
    # lbp-3D-m1_glcm_ClusterShade).  Cause not found: the whole image
    # until it is (docs/radiomics.md).  (pyradiomics 3.1.4 also needs trimesh and SciPy < 1.17's
    # scipy.special.sph_harm; without them it logs a warning and makes no LBP3D image.)
    "LBP3D": "thresholds cubic-spline samples whose prefilter spans the whole image; not shown exact "
             "with a crop (a property-test case differed)",
}
#: LoG margin in units of sigma (recursive Gaussian boundary effect exp(-1.7 d / sigma) < 1e-20)
_LOG_SIGMAS = 30
_LOG_EXTRA_VOXELS = 4


@dataclass(frozen=True)
class CropPlan:
    """How the lesions of a parameter set are given to pyradiomics.

    Attributes
    ----------
    crop : bool
        False: every lesion is extracted from the whole image (``reason`` says why).
    reason : str
        Why the whole image is used ('' when cropping).
    resampling : bool
        pyradiomics interpolates (``interpolator`` and ``resampledPixelSpacing`` set).
    pre_crop : bool
        pyradiomics' ``preCrop`` is on.
    normalize_first : bool
        radiorisk normalises the whole image once (pyradiomics' ``normalizeImage``) before cropping.
    """

    crop: bool
    reason: str = ""
    resampling: bool = False
    pre_crop: bool = False
    normalize_first: bool = False

    def notes(self) -> list[str]:
        """Lines for the run's notes (provenance)."""
        if not self.crop:
            return [f"lesions extracted from the whole image (no crop): {self.reason}"]
        out = ["each lesion is cropped so that pyradiomics gives its whole-image features ("
               + ("resampled onto pyradiomics' own grid" if self.resampling
                  else "bounding box + padDistance" if self.pre_crop else "filter margins") + ")"]
        if self.normalize_first:
            out.append("the whole image is normalised once (pyradiomics' normalizeImage) before cropping")
        return out


def _settings(params: dict) -> dict:
    return dict(params.get("setting") or {})


def plan_crop(params: dict, crop: bool = True) -> CropPlan:
    """The crop plan of a pyradiomics parameter mapping.

    Parameters
    ----------
    params : dict
        pyradiomics parameters (``setting``, ``imageType``, ``featureClass``).
    crop : bool
        False when the user asked for no crop (``--no-crop``).

    Examples
    --------
    >>> plan_crop({"setting": {"resampledPixelSpacing": [2, 2, 2]}, "imageType": {"Square": {}}}).crop
    True
    >>> p = plan_crop({"setting": {}, "imageType": {"Original": {}, "Square": {}}})
    >>> p.crop, p.reason
    (False, "image type Square scales by the whole image's largest absolute value (no resampling, no preCrop)")
    """
    s = _settings(params)
    resampling = s.get("interpolator", "sitkBSpline") is not None and s.get("resampledPixelSpacing") is not None
    pre_crop = bool(s.get("preCrop", False)) and not resampling
    normalize = bool(s.get("normalize", False))
    if not crop:
        return CropPlan(False, "cropping switched off (crop=False, --no-crop)")
    if not resampling and not pre_crop:
        for name in params.get("imageType") or {}:
            if name in _WHOLE_IMAGE_TYPES:
                return CropPlan(False, f"image type {name} {_WHOLE_IMAGE_TYPES[name]} (no resampling, no preCrop)")
    return CropPlan(True, "", resampling=resampling, pre_crop=pre_crop, normalize_first=normalize)


def lesion_mode(plan: CropPlan, settings: dict, image_spacing, mask_spacing, bb_size) -> str:
    """``"resample"``, ``"pad"`` or ``"filters"`` for one lesion (see the module's docstring).

    Examples
    --------
    >>> plan = plan_crop({"setting": {"resampledPixelSpacing": [0.5, 0.5, 0.5]}})
    >>> lesion_mode(plan, {"resampledPixelSpacing": [0.5, 0.5, 0.5]}, [0.5] * 3, [0.5] * 3, [4, 4, 4])
    'pad'
    >>> lesion_mode(plan, {"resampledPixelSpacing": [0.5, 0.5, 0.5]}, [0.4] * 3, [0.4] * 3, [4, 4, 4])
    'resample'
    """
    if plan.resampling:
        new_sp = effective_spacing(mask_spacing, settings["resampledPixelSpacing"], bb_size)
        return "pad" if np.allclose(np.asarray(image_spacing, float), new_sp) else "resample"
    return "pad" if plan.pre_crop else "filters"


def pad_margin(settings: dict) -> int:
    """Voxels kept around the bounding box in ``pad`` mode: pyradiomics' ``padDistance`` + 1.

    Examples
    --------
    >>> pad_margin({}), pad_margin({"padDistance": 10})
    (6, 11)
    """
    return int(math.ceil(float(settings.get("padDistance", 5)))) + 1


def filter_margins(params: dict, spacing) -> tuple[np.ndarray, bool]:
    """Margin (voxels, x y z) every enabled image type needs in ``filters`` mode, and whether an
    axis whose margin reaches the image's edge must be taken whole (periodic wavelet padding).

    Examples
    --------
    >>> m, periodic = filter_margins({"imageType": {"LoG": {"sigma": [1.0]}, "Wavelet": {}}}, [0.5, 0.5, 2.0])
    >>> m.tolist(), periodic
    ([64, 64, 19], True)
    >>> filter_margins({"imageType": {"LBP2D": {"lbp2DRadius": 2.5}}}, [1.0, 1.0, 1.0])[0].tolist()
    [4, 4, 4]
    """
    import pywt

    s = _settings(params)
    spacing = np.asarray(spacing, float)
    margin = np.ones(3, int)
    periodic = False
    for name, custom in (params.get("imageType") or {}).items():
        args = copy.deepcopy(s)
        args.update(custom or {})
        if name == "Gradient":
            margin = np.maximum(margin, 2)
        elif name == "LoG":
            for sigma in args.get("sigma") or []:
                vox = np.ceil(_LOG_SIGMAS * float(sigma) / spacing).astype(int) + _LOG_EXTRA_VOXELS
                margin = np.maximum(margin, vox)
        elif name == "LBP2D":
            margin = np.maximum(margin, int(math.ceil(float(args.get("lbp2DRadius", 1)))) + 1)
        elif name == "Wavelet":
            wavelet = pywt.Wavelet(args.get("wavelet", "coif1"))
            levels = int(args.get("start_level", 0)) + int(args.get("level", 1))
            margin = np.maximum(margin, wavelet.dec_len * levels + 2)
            periodic = True
        elif name != "Original":  # pragma: no cover - plan_crop sends these to the whole image
            raise ValueError(f"image type {name} has no crop margin")
    return margin, periodic


def extractor_params(params: dict, plan: CropPlan, mode: str) -> dict:
    """pyradiomics parameters for a crop made in ``mode``: normalisation off when radiorisk
    normalised the whole image; resampling and preCrop off when radiorisk resampled.

    Examples
    --------
    >>> p = {"setting": {"normalize": True, "resampledPixelSpacing": [1, 1, 1]}}
    >>> extractor_params(p, plan_crop(p), "resample")["setting"]
    {'normalize': False}
    """
    out = copy.deepcopy(params)
    setting = out.setdefault("setting", {})
    if plan.normalize_first:
        setting["normalize"] = False
    if mode == "resample":
        setting.pop("resampledPixelSpacing", None)
        setting.pop("preCrop", None)
    return out
