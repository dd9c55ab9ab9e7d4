"""Quantitative plaque metrics from a CT image and a plaque label map.

Definitions (DOMAIN.md section 2; thresholds are parameters):

* plaque voxels: mask voxels whose label is one of ``plaque_labels``;
* calcified: plaque voxels above ``calcified_hu`` (default > 350 HU);
* non-calcified: the other plaque voxels (<= 350 HU), split into low-attenuation
  (< ``lap_hu``, default 30 HU), fibro-fatty (``lap_hu`` to ``fibrofatty_hu``,
  default 30-130 HU) and fibrous (above that up to 350 HU).  So
  total = calcified + non-calcified and non-calcified = LAP + fibro-fatty + fibrous,
  as the lesions schema requires;
* vessel voxels: lumen + plaque + normal wall labels; plaque burden % =
  plaque volume / vessel volume x 100 over the slices (third image axis) that
  contain plaque, and the maximum cross-sectional burden over those slices;
* spotty calcification: a 26-connected calcified component whose largest
  extent is below ``spotty_max_mm`` (default 3 mm);
* remodelling index: maximum vessel cross-sectional area in the plaque slices
  divided by the mean reference vessel area, from given reference diameters or,
  when absent, from plaque-free vessel slices at both ends of the lesion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

__all__ = ["PlaqueThresholds", "plaque_metrics", "scan_specific_thresholds"]


@dataclass(frozen=True)
class PlaqueThresholds:
    """HU thresholds for plaque components (DOMAIN.md defaults).

    Parameters
    ----------
    lap_hu : float
        Upper bound (exclusive) of low-attenuation plaque.
    fibrofatty_hu : float
        Upper bound (inclusive) of fibro-fatty plaque.
    calcified_hu : float
        Lower bound (exclusive) of calcified plaque.
    spotty_max_mm : float
        Largest extent of a calcium component counted as spotty.
    """

    lap_hu: float = 30.0
    fibrofatty_hu: float = 130.0
    calcified_hu: float = 350.0
    spotty_max_mm: float = 3.0

    def __post_init__(self):
        if not (self.lap_hu < self.fibrofatty_hu < self.calcified_hu):
            raise ValueError(
                "thresholds must satisfy lap_hu < fibrofatty_hu < calcified_hu, got "
                f"{self.lap_hu}, {self.fibrofatty_hu}, {self.calcified_hu}"
            )


def scan_specific_thresholds(lumen_hu_mean: float, *, base: PlaqueThresholds | None = None) -> PlaqueThresholds:
    """Thresholds scaled to the scan's luminal contrast density.

    Measured plaque attenuation rises with luminal contrast density (Maffei
    2012), so fixed thresholds misclassify plaque in bright or dim scans.  In the
    spirit of Autoplaque's scan-specific limits, every threshold moves by
    ``0.15 x (lumen mean - 400)`` HU, the contrast-induced plaque shift the
    synthetic generator assumes (DOMAIN.md section 6.6).  This rule is a project
    proposal, not a published standard; pass explicit thresholds to override it.

    Examples
    --------
    >>> scan_specific_thresholds(500).calcified_hu
    365.0
    >>> scan_specific_thresholds(400) == PlaqueThresholds()
    True
    """
    base = base or PlaqueThresholds()
    shift = 0.15 * (float(lumen_hu_mean) - 400.0)
    return PlaqueThresholds(
        lap_hu=base.lap_hu + shift,
        fibrofatty_hu=base.fibrofatty_hu + shift,
        calcified_hu=base.calcified_hu + shift,
        spotty_max_mm=base.spotty_max_mm,
    )


def _component_extents_mm(binary: np.ndarray, spacing_zyx: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(binary, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return np.zeros(0)
    slices = ndimage.find_objects(lab)
    ext = np.array([[(s.stop - s.start) for s in sl] for sl in slices], float) * spacing_zyx
    return ext.max(axis=1)


def plaque_metrics(
    image_hu: np.ndarray,
    mask: np.ndarray,
    spacing_zyx,
    *,
    plaque_labels=(2, 3, 4, 5),
    lumen_labels=(1,),
    wall_labels=(7,),
    thresholds: PlaqueThresholds | None = None,
    reference_diameter_mm: float | None = None,
) -> dict:
    """Quantitative plaque metrics of one lesion.

    Parameters
    ----------
    image_hu : ndarray (z, y, x)
        CT values in HU (``SimpleITK.GetArrayFromImage`` order).
    mask : ndarray (z, y, x) of int
        Label map on the same grid.
    spacing_zyx : sequence of 3 floats
        Voxel spacing in mm, in array order (z, y, x).
    plaque_labels, lumen_labels, wall_labels : sequence of int
        Which labels are plaque, lumen and normal vessel wall.  Burden and the
        remodelling index need lumen labels present; otherwise they are NaN
        with ``burden_available = False``.
    thresholds : PlaqueThresholds, optional
        HU thresholds (DOMAIN.md defaults when omitted).
    reference_diameter_mm : float, optional
        Reference *vessel* (outer-wall) diameter for the remodelling index.

    Returns
    -------
    dict
        ``v_total_mm3, v_calcified_mm3, v_noncalcified_mm3, v_lap_mm3,
        v_fibrofatty_mm3, v_fibrous_mm3, hu_mean, hu_sd, hu_min,
        n_calcium_components, spotty_calc, vessel_volume_mm3, plaque_burden_pct,
        max_plaque_burden_pct, remodelling_index, burden_available,
        remodelling_available`` and the thresholds used.  The burden values are
        NaN exactly when ``burden_available`` is False (no lumen label in the
        mask); the remodelling index is NaN exactly when
        ``remodelling_available`` is False (also when no plaque-free vessel
        slice exists on both sides of the lesion and no reference diameter is given).

    Raises
    ------
    ValueError
        If shapes differ or the mask holds no plaque voxel.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.full((4, 5, 5), 100.0); img[1, 2, 2] = 600.0
    >>> msk = np.zeros((4, 5, 5), np.uint8); msk[1:3, 1:4, 1:4] = 2
    >>> m = plaque_metrics(img, msk, (0.5, 0.5, 0.5))
    >>> round(m["v_total_mm3"], 3), round(m["v_calcified_mm3"], 3), m["spotty_calc"]
    (2.25, 0.125, True)
    """
    thresholds = thresholds or PlaqueThresholds()
    image_hu, mask, sp = _checked_arrays(image_hu, mask, spacing_zyx)
    plaque, hu = _plaque_voxels(image_hu, mask, plaque_labels)
    out = _composition(plaque, hu, sp, thresholds)
    if np.isin(mask, lumen_labels).any():
        vessel = np.isin(mask, tuple(plaque_labels) + tuple(lumen_labels) + tuple(wall_labels))
        out.update(_burden(vessel, plaque, sp, out["v_total_mm3"], reference_diameter_mm))
    else:
        out.update(vessel_volume_mm3=np.nan, plaque_burden_pct=np.nan, max_plaque_burden_pct=np.nan,
                   remodelling_index=np.nan, burden_available=False, remodelling_available=False)
    out.update({f"threshold_{k}": v for k, v in asdict(thresholds).items()})
    return out


def _checked_arrays(image_hu, mask, spacing_zyx) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image, mask and spacing as arrays; ValueError unless 3-D, same shape, positive finite spacing."""
    image_hu = np.asarray(image_hu)
    mask = np.asarray(mask)
    if image_hu.shape != mask.shape:
        raise ValueError(f"image shape {image_hu.shape} and mask shape {mask.shape} differ")
    if image_hu.ndim != 3:
        raise ValueError(f"image and mask must be 3-D arrays, got shape {image_hu.shape}")
    sp = np.asarray(spacing_zyx, float)
    if sp.shape != (3,) or not (np.all(np.isfinite(sp)) and np.all(sp > 0)):
        raise ValueError(f"spacing must be 3 finite positive values (mm), got {tuple(np.ravel(sp))}")
    return image_hu, mask, sp


def _plaque_voxels(image_hu: np.ndarray, mask: np.ndarray, plaque_labels) -> tuple[np.ndarray, np.ndarray]:
    """The plaque voxel map and the plaque HU values (float64); ValueError if none or not finite."""
    plaque = np.isin(mask, plaque_labels)
    if int(plaque.sum()) == 0:
        raise ValueError(f"the mask holds no plaque voxel (labels {tuple(plaque_labels)})")
    hu = image_hu[plaque].astype(np.float64)
    if not np.all(np.isfinite(hu)):
        raise ValueError(f"{int((~np.isfinite(hu)).sum())} plaque voxel(s) hold NaN or infinite HU values")
    return plaque, hu


def _composition(plaque: np.ndarray, hu: np.ndarray, sp: np.ndarray, thresholds: PlaqueThresholds) -> dict:
    """Volumes by HU class, HU statistics and the calcium components of the plaque voxels."""
    vox = float(np.prod(sp))
    n_plaque = int(plaque.sum())
    calc = hu > thresholds.calcified_hu
    lap = hu < thresholds.lap_hu
    ff = (hu >= thresholds.lap_hu) & (hu <= thresholds.fibrofatty_hu)
    fib = (hu > thresholds.fibrofatty_hu) & ~calc
    calc_map = np.zeros_like(plaque)
    calc_map[plaque] = calc
    extents = _component_extents_mm(calc_map, sp)
    return {
        "v_total_mm3": n_plaque * vox,
        "v_calcified_mm3": int(calc.sum()) * vox,
        "v_noncalcified_mm3": int((~calc).sum()) * vox,
        "v_lap_mm3": int(lap.sum()) * vox,
        "v_fibrofatty_mm3": int(ff.sum()) * vox,
        "v_fibrous_mm3": int(fib.sum()) * vox,
        "hu_mean": float(hu.mean()),
        "hu_sd": float(hu.std(ddof=1)) if n_plaque > 1 else 0.0,
        "hu_min": float(hu.min()),
        "n_calcium_components": int(len(extents)),
        "spotty_calc": bool((extents < thresholds.spotty_max_mm).any()),
    }


def _burden(vessel: np.ndarray, plaque: np.ndarray, sp: np.ndarray, v_total_mm3: float,
            reference_diameter_mm: float | None) -> dict:
    """Vessel volume, plaque burden and remodelling index over the slices that contain plaque."""
    area_px = sp[1] * sp[2]
    vessel_area = vessel.sum(axis=(1, 2)) * area_px
    plaque_area = plaque.sum(axis=(1, 2)) * area_px
    sel = np.flatnonzero(plaque.any(axis=(1, 2)))
    vv = float(vessel_area[sel].sum() * sp[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        per_slice = np.where(vessel_area[sel] > 0, plaque_area[sel] / vessel_area[sel], 0.0)
    lesion_vessel_area = float(vessel_area[sel].max())
    ref_area = _reference_area(vessel, plaque, vessel_area, sel, reference_diameter_mm)
    ok_ref = bool(ref_area and np.isfinite(ref_area))
    return {
        "vessel_volume_mm3": vv,
        "plaque_burden_pct": 100.0 * v_total_mm3 / vv if vv > 0 else np.nan,
        "max_plaque_burden_pct": float(100.0 * per_slice.max()),
        "remodelling_index": lesion_vessel_area / ref_area if ok_ref else np.nan,
        "burden_available": True,
        "remodelling_available": ok_ref,
    }


def _reference_area(vessel: np.ndarray, plaque: np.ndarray, vessel_area: np.ndarray, sel: np.ndarray,
                    reference_diameter_mm: float | None):
    """Reference vessel area: from the given diameter, else the mean of the plaque-free slices
    on both sides of the lesion (NaN when one side has none)."""
    if reference_diameter_mm is not None and np.isfinite(reference_diameter_mm):
        return np.pi * (float(reference_diameter_mm) / 2.0) ** 2
    ref = [
        i for i in np.flatnonzero(vessel.any(axis=(1, 2)))
        if not plaque[i].any() and (i < sel.min() or i > sel.max())
    ]
    prox = [i for i in ref if i < sel.min()]
    dist = [i for i in ref if i > sel.max()]
    return 0.5 * (vessel_area[prox].mean() + vessel_area[dist].mean()) if prox and dist else np.nan
