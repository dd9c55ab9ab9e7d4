"""Voxel-based radiomic feature maps of a lesion: the heatmaps a reader sees next to the numbers.

pyradiomics computes a feature voxel by voxel (``execute(..., voxelBased=True)``): each voxel of
the region gets the feature's value in a small neighbourhood (``kernelRadius`` voxels, restricted
to the region when ``maskedKernel``).  :func:`voxel_feature_maps` runs exactly that, with the
parameter set the model's features were extracted with (its settings, and only the image types
and features asked for), on the lesion's plaque labels grown by a margin of ``margin_voxels`` --
so the map shows the lesion and its immediate surroundings, not the whole heart.  Shape features
have no voxel-based form in pyradiomics and are refused by name.

The maps are SimpleITK images on the grid pyradiomics computed them on (the resampled grid when
the parameter set resamples); :meth:`VoxelFeatureMaps.write` writes each as NIfTI (atomically),
:meth:`VoxelFeatureMaps.on_grid_of` samples one onto the CT grid for overlays.  Values outside the
region are NaN there (pyradiomics fills them with ``initValue``, 0).

Why not a crop, as the batch engine does: the cost of a voxel-based map is the per-voxel feature
computation, which a crop does not reduce, and the whole image keeps the result pyradiomics' own
(the test compares the written files with pyradiomics run on the image files).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage

from .._files import atomic_write
from ..exceptions import RadioriskError
from ._params import RadiomicsParams, load_params
from ._read import check_same_geometry

__all__ = ["VoxelFeatureMaps", "voxel_feature_maps", "radiomic_feature_of_column", "VOXEL_MAP_COLUMNS"]

#: pyradiomics' feature-name prefixes -> image type (the key of the ``imageType`` section).
_IMAGE_TYPES = {"original": "Original", "wavelet": "Wavelet", "log": "LoG", "square": "Square",
                "squareroot": "SquareRoot", "logarithm": "Logarithm", "exponential": "Exponential",
                "gradient": "Gradient", "lbp": None}
_CLASSES = ("firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm", "shape", "shape2D")
_NAME = re.compile(r"^(?P<image>[A-Za-z0-9.\-]+)_(?P<cls>[A-Za-z0-9]+)_(?P<feature>[A-Za-z0-9]+)$")
_SIGMA = re.compile(r"^log-sigma-(?P<int>\d+)-(?P<frac>\d+)-mm(?:-3D|-2D)?$")

#: Columns of :meth:`VoxelFeatureMaps.to_frame`.
VOXEL_MAP_COLUMNS = ["feature", "n_voxels", "min", "median", "max", "path"]


class VoxelMapError(RadioriskError, ValueError):
    """A feature that has no voxel-based map, or a lesion whose map cannot be computed."""


def radiomic_feature_of_column(column: str) -> str:
    """The pyradiomics feature name of a model column (``rad_<feature>__<aggregate>`` or the name itself).

    Examples
    --------
    >>> radiomic_feature_of_column("rad_original_glcm_Contrast__max")
    'original_glcm_Contrast'
    >>> radiomic_feature_of_column("log-sigma-1-0-mm-3D_firstorder_Mean")
    'log-sigma-1-0-mm-3D_firstorder_Mean'
    """
    name = column[4:] if column.startswith("rad_") else column
    return name.split("__", 1)[0]


def _parse(feature: str) -> tuple[str, str, str, str | None]:
    """(image type, its prefix, feature class, feature) of a pyradiomics feature name; refused by name."""
    m = _NAME.match(feature)
    if m is None:
        raise VoxelMapError(f"feature {feature!r}: not a pyradiomics feature name "
                            "('<image type>_<class>_<feature>', e.g. 'original_glcm_Contrast')")
    image, cls, feat = m["image"], m["cls"], m["feature"]
    if cls not in _CLASSES:
        raise VoxelMapError(f"feature {feature!r}: unknown feature class {cls!r}; choose from {list(_CLASSES)}")
    if cls.startswith("shape"):
        raise VoxelMapError(f"feature {feature!r}: shape features describe the whole region and have no "
                            "voxel-based map in pyradiomics")
    head = image.split("-", 1)[0].lower()
    if head not in _IMAGE_TYPES or _IMAGE_TYPES[head] is None:
        raise VoxelMapError(f"feature {feature!r}: image type {image!r} is not supported for voxel-based maps "
                            f"(supported: {sorted(k for k, v in _IMAGE_TYPES.items() if v)})")
    sigma = None
    if head == "log":
        s = _SIGMA.match(image)
        if s is None:
            raise VoxelMapError(f"feature {feature!r}: cannot read the LoG sigma from {image!r}")
        sigma = f"{s['int']}.{s['frac']}"
    return _IMAGE_TYPES[head], image, cls, feat if sigma is None else (feat, sigma)


def _extractor_params(params: RadiomicsParams, features) -> dict:
    """The parameter set restricted to the image types and features of ``features``."""
    image_types: dict = {}
    classes: dict = {}
    for f in features:
        itype, _, cls, feat = _parse(f)
        if isinstance(feat, tuple):
            feat, sigma = feat
            image_types.setdefault(itype, {}).setdefault("sigma", set()).add(float(sigma))
        else:
            given = (params.params.get("imageType") or {}).get(itype) or {}
            image_types.setdefault(itype, {k: v for k, v in given.items()})
        classes.setdefault(cls, set()).add(feat)
    out = copy.deepcopy(params.params)
    setting = dict(out.get("setting") or {})
    setting.update({"label": 1, "additionalInfo": False})
    out["setting"] = setting
    out["imageType"] = {k: ({**v, "sigma": sorted(v["sigma"])} if "sigma" in v and isinstance(v["sigma"], set)
                            else v) for k, v in image_types.items()}
    out["featureClass"] = {c: sorted(v) for c, v in classes.items()}
    return out


@dataclass(frozen=True, eq=False)
class VoxelFeatureMaps:
    """Voxel-based maps of some radiomic features on one lesion.

    Attributes
    ----------
    features : tuple of str
        pyradiomics feature names, in the order asked.
    maps : dict
        Feature -> SimpleITK image of its voxel-based values (pyradiomics' grid).
    roi : SimpleITK.Image
        The region the maps cover: the lesion's labels grown by ``margin_voxels`` (label 1), on the
        CT grid.
    kernel_radius, margin_voxels : int
    masked_kernel : bool
    params_sha256 : str
        Hash of the parameter set the maps were computed with.
    paths : dict
        Feature -> written NIfTI file (after :meth:`write`).
    """

    features: tuple
    maps: dict = field(repr=False)
    roi: sitk.Image = field(repr=False)
    kernel_radius: int
    margin_voxels: int
    masked_kernel: bool
    params_sha256: str
    paths: dict = field(default_factory=dict)

    def values(self, feature: str) -> np.ndarray:
        """The map's values inside the region (NaN-free), in array order."""
        arr, inside = self._array(feature)
        return arr[inside]

    def _array(self, feature: str) -> tuple[np.ndarray, np.ndarray]:
        img = self.maps[feature]
        arr = sitk.GetArrayFromImage(img).astype(np.float64)
        roi = sitk.Resample(self.roi, img, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        return arr, sitk.GetArrayViewFromImage(roi) > 0

    def on_grid_of(self, image: sitk.Image, feature: str) -> np.ndarray:
        """The map of ``feature`` sampled (linearly) onto ``image``'s grid; NaN outside the region.

        Returns
        -------
        ndarray
            Array order (z, y, x) of ``image``.
        """
        img = sitk.Cast(self.maps[feature], sitk.sitkFloat64)
        vals = sitk.GetArrayFromImage(sitk.Resample(img, image, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                    sitk.sitkFloat64))
        roi = sitk.Resample(self.roi, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        vals[sitk.GetArrayViewFromImage(roi) == 0] = np.nan
        return vals

    def write(self, folder, stem: str) -> VoxelFeatureMaps:
        """Write each map as ``folder/<stem>.<feature>.nii.gz`` (atomic); returns a copy with :attr:`paths`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {}
        for f in self.features:
            path = folder / f"{stem}.{f}.nii.gz"
            atomic_write(path, lambda tmp, img=self.maps[f]: sitk.WriteImage(img, str(tmp), True),
                         suffix=".nii.gz")
            paths[f] = path
        return VoxelFeatureMaps(self.features, self.maps, self.roi, self.kernel_radius, self.margin_voxels,
                                self.masked_kernel, self.params_sha256, paths)

    def to_frame(self) -> pd.DataFrame:
        """One row per feature: voxels of the region, min, median, max, and the file (when written)."""
        rows = []
        for f in self.features:
            v = self.values(f)
            v = v[np.isfinite(v)]
            rows.append({"feature": f, "n_voxels": int(v.size),
                         "min": float(v.min()) if v.size else np.nan,
                         "median": float(np.median(v)) if v.size else np.nan,
                         "max": float(v.max()) if v.size else np.nan,
                         "path": str(self.paths[f]) if f in self.paths else None})
        return pd.DataFrame(rows, columns=VOXEL_MAP_COLUMNS)


def _region(mask: sitk.Image, labels, margin_voxels: int) -> sitk.Image:
    lab = sitk.GetArrayViewFromImage(mask)
    roi = np.isin(lab, list(labels))
    if not roi.any():
        raise VoxelMapError(f"the mask has no voxel with label(s) {list(labels)}")
    if margin_voxels:
        roi = ndimage.binary_dilation(roi, ndimage.generate_binary_structure(3, 1), iterations=margin_voxels)
    out = sitk.GetImageFromArray(roi.astype(np.uint8))
    out.CopyInformation(mask)
    return out


def voxel_feature_maps(image, mask, features, params="ccta-plaque", *, labels=(1,), kernel_radius: int = 1,
                       margin_voxels: int = 2, masked_kernel: bool = True) -> VoxelFeatureMaps:
    """Voxel-based maps of radiomic features on a lesion and a margin around it (pyradiomics).

    Parameters
    ----------
    image, mask : SimpleITK.Image
        The CT volume and its label map (same geometry; see :func:`radiorisk.imaging.read_image`).
    features : sequence of str
        pyradiomics feature names (``original_glcm_Contrast``; a model column
        ``rad_<feature>__max`` is accepted, see :func:`radiomic_feature_of_column`).
        Shape features are refused.
    params : str, path-like or RadiomicsParams
        The parameter set (preset or YAML; :func:`radiorisk.imaging.load_params`), the one the
        features were extracted with.  Its settings apply (resampling, bin width, resegmentation);
        only the image types and features asked for are computed.
    labels : sequence of int, default (1,)
        The lesion's labels in ``mask`` (its plaque labels).
    kernel_radius : int, default 1
        pyradiomics' ``kernelRadius``: the neighbourhood of each voxel, in voxels of the grid the
        features are computed on.
    margin_voxels : int, default 2
        The region is the lesion grown by this many voxels (6-connected dilation on the CT grid).
    masked_kernel : bool, default True
        pyradiomics' ``maskedKernel``: only region voxels count in each neighbourhood.

    Returns
    -------
    VoxelFeatureMaps

    Raises
    ------
    VoxelMapError
        A feature without a voxel-based map (shape), an unknown name or image type, an empty lesion,
        or pyradiomics' own refusal (named with the feature).

    Examples
    --------
    >>> import SimpleITK as sitk, numpy as np
    >>> rng = np.random.default_rng(0)
    >>> img = sitk.GetImageFromArray(rng.normal(100, 30, (12, 12, 12)))
    >>> lab = np.zeros((12, 12, 12), np.uint8); lab[4:8, 4:8, 4:8] = 1
    >>> mask = sitk.GetImageFromArray(lab)
    >>> maps = voxel_feature_maps(img, mask, ["original_firstorder_Mean"], "ibsi", margin_voxels=1)
    >>> frame = maps.to_frame()
    >>> frame[["feature", "n_voxels"]].values.tolist()
    [['original_firstorder_Mean', 160]]
    """
    from ._worker import _quiet_radiomics  # pyradiomics' logger, silenced as the engine does

    try:
        p = params if isinstance(params, RadiomicsParams) else load_params(params)
    except RadioriskError as exc:  # e.g. a bundle's YAML that is not on this machine
        raise VoxelMapError(f"params: {exc}") from exc
    feats = tuple(dict.fromkeys(radiomic_feature_of_column(str(f)) for f in features))
    if not feats:
        raise VoxelMapError("features: give at least one radiomic feature name")
    for name, v, low in (("kernel_radius", kernel_radius, 1), ("margin_voxels", margin_voxels, 0)):
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < low:
            raise VoxelMapError(f"{name} must be an integer >= {low}; got {v!r}")
    check_same_geometry(image, mask)
    ext_params = _extractor_params(p, feats)
    roi = _region(mask, labels, margin_voxels)
    from radiomics import featureextractor

    with _quiet_radiomics():
        ext = featureextractor.RadiomicsFeatureExtractor(ext_params)
        # voxel-based settings are not part of pyradiomics' parameter-file schema: set them directly
        ext.settings.update({"kernelRadius": int(kernel_radius), "maskedKernel": bool(masked_kernel)})
        try:
            out = ext.execute(image, roi, label=1, voxelBased=True)
        except (ValueError, RuntimeError) as exc:
            raise VoxelMapError(f"pyradiomics could not compute the voxel-based map(s) {list(feats)}: {exc}") \
                from exc
    missing = [f for f in feats if not isinstance(out.get(f), sitk.Image)]
    if missing:
        raise VoxelMapError(f"pyradiomics returned no voxel-based map for {missing} (check the names against the "
                            f"parameter set {p.name!r})")
    return VoxelFeatureMaps(features=feats, maps={f: out[f] for f in feats}, roi=roi,
                            kernel_radius=int(kernel_radius), margin_voxels=int(margin_voxels),
                            masked_kernel=bool(masked_kernel), params_sha256=p.sha256)
