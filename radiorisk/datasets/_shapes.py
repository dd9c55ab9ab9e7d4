"""The lesion patch renderer: one lesion as a straightened CCTA patch with its label map.

A lesion is rendered as a short, straightened coronary segment whose centreline
is the patch z axis: lumen, a thin normal vessel wall (media/adventitia), an
eccentric crescent of plaque between them, and peri-coronary fat around it.
The plaque crescent is split into fibrous, fibro-fatty, low-attenuation
(necrotic core) and calcified components whose voxel counts reproduce the
truth volumes, HU values are assigned per tissue (DOMAIN.md section 6.6), and
the image goes through the scan's scanner model (Gaussian point-spread function
by kernel, detector and slice thickness, calcium blooming, noise with the
kernel's noise power spectrum; :mod:`~radiorisk.datasets._scanner`).  The label map returned with the image is
the pre-blur ground truth.  See ``docs/synthetic_images.md``.

The pieces: random streams in :mod:`~radiorisk.datasets._lesion_streams`, the
scanner model and scan parameters in :mod:`~radiorisk.datasets._scanner`, the vessel geometry in
:mod:`~radiorisk.datasets._vessel_geometry`, the plaque components in
:mod:`~radiorisk.datasets._plaque_components`, voxel selection and noise in
:mod:`~radiorisk.datasets._voxels`, table checks and NIfTI writing in
:mod:`~radiorisk.datasets._image_files`.

Every lesion draws from its own random stream, derived only from
``(seed, lesion_id)``, so a lesion renders identically whatever other lesions
are rendered and in whatever order.  The renderer consumes that stream in a
fixed order: geometry, texture, core, calcium, napkin rim, tissue HU, rim
boost, noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import SimpleITK as sitk

from ._lesion_streams import lesion_rng
from ._plaque_components import CALCIUM, assign_components, core_distance
from ._scanner import apply_psf, ct_noise, scan_params
from ._vessel_geometry import Z_SPACING_MM, plan
from ._voxels import (
    largest_remainder,
    slice_counts,
    smooth_field,
    top,
)

__all__ = ["LABELS", "PLAQUE_LABELS", "Z_SPACING_MM", "lesion_rng", "render_lesion_patch"]

#: Label values of the lesion masks.  7 is normal vessel wall outside the plaque.
LABELS = {
    1: "lumen",
    2: "fibrous",
    3: "fibro_fatty",
    4: "lap",
    5: "calcium",
    6: "pericoronary_fat",
    7: "vessel_wall",
}
#: The plaque components (manifest ``label`` of a lesion patch).
PLAQUE_LABELS = (2, 3, 4, 5)
_PLAQUE_LABEL_STR = ",".join(str(k) for k in PLAQUE_LABELS)
MIN_PLAQUE_VOXELS = 4


def render_lesion_patch(lesion_row, scan_row, *, rng: np.random.Generator, return_arrays: bool = False):
    """Render one lesion as a straightened CCTA patch with its plaque label map.

    Parameters
    ----------
    lesion_row : Mapping or pandas.Series
        One row of ``truth_lesions`` (noise-free truth): ``lesion_id, scan_id,
        length_mm, ref_diameter_mm`` (lumen), ``remodelling_index,
        plaque_burden`` (fraction), ``v_total_mm3, v_calcified_mm3,
        v_fibrous_mm3, v_fibrofatty_mm3, v_lap_mm3, spotty_calc, napkin_ring``
        and optionally ``latent_v, latent_z`` (0 when absent).
    scan_row : Mapping or pandas.Series
        The lesion's scan: ``scan_id, lumen_hu_mean, noise_sd_hu,
        pixel_spacing_mm`` and optionally ``slice_thickness_mm``.
    rng : numpy.random.Generator
        The lesion's random stream (see :func:`lesion_rng`).
    return_arrays : bool
        Also return the raw ``(image, mask)`` numpy arrays (z, y, x) in ``info``
        under ``"image_array"`` and ``"mask_array"``.

    Returns
    -------
    image : SimpleITK.Image
        CT patch in HU (int16), spacing ``(s, s, 0.5)`` mm with ``s`` the scan's
        pixel spacing clipped to 0.4-0.5 mm; the vessel centreline is the z axis.
    mask : SimpleITK.Image
        uint8 label map on the same grid (:data:`LABELS`): the pre-blur truth.
    info : dict
        Rendered truth: volume per label (``volume_mm3``), plaque component
        volumes (``v_total_mm3`` ...), ``max_plaque_burden``,
        ``remodelling_index`` (both from the mask, imaging definitions),
        rendering parameters (HU means, PSF FWHM, noise SD), the lesion's slice
        range and calcium component extents.  Voxel counts are exact: plaque =
        ``round(v_total / voxel volume)`` voxels (at least 4, flagged by
        ``plaque_voxels_floored``), components split by largest remainder.

    Examples
    --------
    >>> from radiorisk.datasets._images import make_example_tables
    >>> truth, scans = make_example_tables(3, seed=1)
    >>> les = truth.iloc[0]
    >>> scan = scans.set_index("scan_id").loc[les["scan_id"]]
    >>> img, msk, info = render_lesion_patch(les, scan, rng=lesion_rng(1, les["lesion_id"]))
    >>> img.GetPixelIDTypeAsString(), msk.GetPixelIDTypeAsString(), img.GetSize() == msk.GetSize()
    ('16-bit signed integer', '8-bit unsigned integer', True)
    >>> bool(abs(info["v_total_mm3"] - les["v_total_mm3"]) < 0.1)
    True
    """
    les = lesion_row
    scan = dict(scan_row) if not isinstance(scan_row, dict) else scan_row
    if "scan_id" not in scan:
        scan["scan_id"] = getattr(scan_row, "name", "")
    sp = scan_params(scan)
    s = sp["spacing_xy"]
    dz = Z_SPACING_MM
    g = plan(les, sp, rng, s, dz)
    napkin = _flag(les["napkin_ring"])
    spotty = _flag(les["spotty_calc"])
    latent_v = _finite(les, "latent_v")
    x = _cross_sections(g, s, rng)
    pv = _plaque_voxels(g, x, s * s * dz)
    w = [max(float(les[c]), 0.0) for c in ("v_calcified_mm3", "v_lap_mm3", "v_fibrofatty_mm3", "v_fibrous_mm3")]
    counts = largest_remainder(pv["n_total"], w)      # component counts (exact) from the truth fractions
    core = core_distance(g, pv, latent_v, napkin, rng)
    parts = assign_components(pv, core, counts, g, spotty=spotty, napkin=napkin,
                              v_calcified=float(les["v_calcified_mm3"]), spacing_zyx=(dz, s, s), rng=rng)
    lab = x["lab"]
    lab[pv["kk"], pv["py"], pv["px"]] = parts["comp"]
    hu = _tissue_hu(sp, latent_v, _finite(les, "latent_z"), rng)
    H = _hu_image(lab, x, pv, parts["rim"], hu, rng)
    img_i16 = _blur_and_noise(H, lab == CALCIUM, sp, s, dz, rng)
    image = sitk.GetImageFromArray(img_i16)
    image.SetSpacing((s, s, dz))
    mask = sitk.GetImageFromArray(lab)
    mask.CopyInformation(image)
    info = _rendered_truth(lab, (dz, s, s))
    info.update(_render_info(les, scan, sp, g, pv, core, parts, hu, spotty=spotty, napkin=napkin))
    if return_arrays:
        info["image_array"], info["mask_array"] = img_i16, lab
    return image, mask, info


def _cross_sections(g: Mapping, s: float, rng: np.random.Generator) -> dict:
    """In-plane coordinates, 3-D distances, the texture field and the lumen / wall / fat labels."""
    nz, n = g["nz"], g["nxy"]
    ax = (np.arange(n) - (n - 1) / 2.0) * s
    X = ax[None, None, :].astype(np.float32) - g["ox"].astype(np.float32)[:, None, None]
    Y = ax[None, :, None].astype(np.float32) - g["oy"].astype(np.float32)[:, None, None]
    rho = np.sqrt(X**2 + Y**2)                              # (nz, n, n), from the centreline
    R = g["R"].astype(np.float32)[:, None, None]
    tex = smooth_field(rng, (nz, n, n), (1.2, 1.6, 1.6))
    cxk = (g["d"] * np.cos(g["theta"])).astype(np.float32)[:, None, None]
    cyk = (g["d"] * np.sin(g["theta"])).astype(np.float32)[:, None, None]
    rho_l = np.sqrt((X - cxk) ** 2 + (Y - cyk) ** 2)        # distance to the lumen centre
    r_all = g["r"].astype(np.float32)[:, None, None]
    lab = np.full((nz, n, n), 6, np.uint8)
    vessel = rho <= R
    lab[vessel] = 7
    lumen = rho_l <= r_all
    lab[lumen] = 1
    return dict(X=X, Y=Y, rho=rho, R=R, tex=tex, cxk=cxk, cyk=cyk, rho_l=rho_l, r_all=r_all, lab=lab,
                vessel=vessel, lumen=lumen)


def _plaque_voxels(g: Mapping, x: Mapping, vox: float) -> dict:
    """The plaque: thick-side sector between lumen and outer wall, exact voxel counts per slice.

    Returns the lesion slices ``k0, k1``, the voxel indices ``kk, py, px`` and
    their local coordinates (``xs, ys, zs``, depth ``a`` from the lumen, ``b``
    to the outer wall, relative depth ``s_depth``, angle ``phi`` from the thick
    side, texture ``tex_p``).
    """
    X, Y, cxk, cyk, tex = x["X"], x["Y"], x["cxk"], x["cyk"], x["tex"]
    ks = np.flatnonzero(g["f"] > 0)
    k0, k1 = int(ks[0]), int(ks[-1]) + 1
    n_total = int(round(g["v_total"] / vox))
    floored = n_total < MIN_PLAQUE_VOXELS
    n_total = max(n_total, MIN_PLAQUE_VOXELS)
    wall_l = x["vessel"][k0:k1] & ~x["lumen"][k0:k1]
    n_k = slice_counts(g["f"][k0:k1], wall_l.sum(axis=(1, 2)), n_total)
    thick = (g["theta"][k0:k1] + np.pi)[:, None, None]
    ang = np.arctan2(Y[k0:k1] - cyk[k0:k1], X[k0:k1] - cxk[k0:k1])
    sector = np.cos(ang - thick) + 0.08 * tex[k0:k1]
    plaque_l = np.zeros(wall_l.shape, bool)
    for i in range(k1 - k0):
        plaque_l[i] = top(sector[i], wall_l[i], n_k[i])
    pz, py, px = np.nonzero(plaque_l)
    # local plaque coordinates
    kk = pz + k0
    xs, ys = X[kk, 0, px], Y[kk, py, 0]
    zs = g["z"][kk]
    a = x["rho_l"][kk, py, px] - x["r_all"][kk, 0, 0]      # distance from lumen boundary
    b = x["R"][kk, 0, 0] - x["rho"][kk, py, px]             # distance to the outer wall (abluminal)
    s_depth = a / np.maximum(a + b, 1e-3)
    phi = np.angle(np.exp(1j * (np.arctan2(ys - cyk[kk, 0, 0], xs - cxk[kk, 0, 0]) - thick[pz, 0, 0])))
    return dict(k0=k0, k1=k1, n_total=pz.size, floored=floored, kk=kk, py=py, px=px, xs=xs, ys=ys, zs=zs,
                a=a, b=b, s_depth=s_depth, phi=phi, tex_p=tex[kk, py, px])


def _tissue_hu(sp: Mapping, latent_v: float, latent_z: float, rng: np.random.Generator) -> dict:
    """Mean and texture amplitude of each label's HU, the plaque HU shift and the FAI offset."""
    lumen_hu = float(rng.normal(sp["lumen_hu_scan"], 15.0))
    shift = sp["plaque_shift_k"] * (sp["lumen_hu_scan"] - 400.0)
    zlat = float(np.clip(latent_z, -3.0, 3.0))
    fat_base = float(-90.0 + 4.0 * np.clip(zlat, -2.5, 2.5) + rng.normal(0.0, 3.0))
    fai = 13.0 / (1.0 + math.exp(-2.0 * (zlat - 1.0)))     # +0..13 HU near the vessel when Z is high
    labels = {
        1: (lumen_hu, 6.0),
        2: (rng.uniform(150.0, 220.0) + shift, 15.0),
        3: (rng.uniform(60.0, 100.0) + shift, 12.0),
        4: (float(np.clip(-8.0 - 7.0 * latent_v + rng.normal(0, 5), -30.0, 20.0)) + shift, 8.0),
        5: (rng.uniform(600.0, 1100.0), 70.0),
        6: (fat_base, 10.0),
        7: (rng.uniform(60.0, 100.0), 8.0),
    }
    return dict(labels=labels, lumen_hu=lumen_hu, shift=shift, fat_base=fat_base, fai=fai)


def _hu_image(lab: np.ndarray, x: Mapping, pv: Mapping, rim: np.ndarray, hu: dict,
              rng: np.random.Generator) -> np.ndarray:
    """The noise-free HU image: per-label means plus texture, FAI near the vessel, calcium and rim.

    Records the napkin rim's HU boost in ``hu["rim_boost"]`` (a draw only when there is a rim).
    """
    kk, py, px = pv["kk"], pv["py"], pv["px"]
    fai = hu["fai"]
    mean_lut = np.zeros(256, np.float32)
    amp_lut = np.zeros(256, np.float32)
    for k, (m, sd) in hu["labels"].items():
        mean_lut[k], amp_lut[k] = m, sd
    H = mean_lut[lab] + amp_lut[lab] * x["tex"]
    fat = lab == 6
    dist_out = np.maximum(x["rho"] - x["R"], 0.0)
    H[fat] += (fai * np.exp(-dist_out / 2.5))[fat] if fai > 0 else 0.0
    ca_vox = lab[kk, py, px] == 5
    if ca_vox.any():
        H[kk[ca_vox], py[ca_vox], px[ca_vox]] = np.clip(H[kk[ca_vox], py[ca_vox], px[ca_vox]], 450.0, 1400.0)
    hu["rim_boost"] = 0.0
    if rim.any():
        hu["rim_boost"] = rng.uniform(40.0, 70.0)
        H[kk[rim], py[rim], px[rim]] += hu["rim_boost"]
    return H


def _blur_and_noise(H: np.ndarray, calcium: np.ndarray, sp: Mapping, s: float, dz: float,
                    rng: np.random.Generator) -> np.ndarray:
    """The scanner model: PSF blur with calcium blooming, noise with the kernel's NPS, rounding to int16 HU."""
    model = sp["scanner"]
    img = apply_psf(H, model, (dz, s, s), calcium=calcium)
    img += ct_noise(rng, H.shape, (dz, s, s), model)
    return np.clip(np.rint(img), -1024, 3071).astype(np.int16)


def _render_info(les, scan: Mapping, sp: Mapping, g: Mapping, pv: Mapping, core: Mapping, parts: Mapping,
                 hu: Mapping, *, spotty: bool, napkin: bool) -> dict:
    """The rendering parameters that ``info`` reports besides the rendered truth."""
    s, dz = sp["spacing_xy"], Z_SPACING_MM
    nz, n, k0, k1 = g["nz"], g["nxy"], pv["k0"], pv["k1"]
    labels = hu["labels"]
    return dict(
        lesion_id=str(les["lesion_id"]), scan_id=str(scan["scan_id"]),
        spacing_mm=(s, s, dz), size_xyz=(n, n, nz),
        lesion_slices=(k0, k1), reference_slices_proximal=(0, k0), reference_slices_distal=(k1, nz),
        ref_lumen_diameter_mm=2 * g["r0"], ref_vessel_diameter_mm=2 * g["R0"],
        remodelling_index_target=g["ri"], remodelling_index_rendered=g["ri_eff"],
        fill_factor=g["c"], eccentricity=g["ecc"], plaque_voxels_floored=pv["floored"],
        lumen_hu=hu["lumen_hu"], plaque_hu_shift=hu["shift"], fat_hu_base=hu["fat_base"], fai_shift_hu=hu["fai"],
        fibrous_hu=labels[2][0], fibrofatty_hu=labels[3][0], lap_hu=labels[4][0], calcium_hu=labels[5][0],
        wall_hu=labels[7][0], napkin_rim_boost_hu=hu["rim_boost"], cap_mm=core["cap_mm"],
        psf_fwhm_xy_mm=sp["fwhm_xy"], psf_fwhm_z_mm=sp["fwhm_z"], noise_sd_hu=sp["noise_sd"],
        kernel=sp["scanner"].kernel, kernel_sharpness=sp["scanner"].sharpness, detector=sp["scanner"].detector,
        noise_fwhm_xy_mm=sp["scanner"].noise_fwhm_xy_mm, nps_peak_per_mm=sp["scanner"].nps_peak_per_mm,
        bloom_halo=sp["scanner"].bloom_halo,
        spotty_calc=spotty, napkin_ring=napkin, n_calcium_nodules=parts["n_nodules"],
        calcium_extents_mm=tuple(float(e) for e in parts["ca_extents"]),
    )


def _flag(v) -> bool:
    """Truthiness of a boolean cell (bool, 0/1 or 'true'/'false' strings from CSV; missing = False)."""
    if isinstance(v, str):
        return v.strip().lower() in ("true", "t", "yes", "y", "1")
    try:
        return bool(v) and not (isinstance(v, float) and math.isnan(v))
    except (TypeError, ValueError):
        return False


def _finite(row, key) -> float:
    try:
        v = float(row[key])
    except (KeyError, TypeError, ValueError):
        return 0.0
    return v if np.isfinite(v) else 0.0


def _rendered_truth(lab, spacing_zyx) -> dict:
    vox = float(np.prod(spacing_zyx))
    counts = np.bincount(lab.ravel(), minlength=8)
    vol = {LABELS[k]: float(counts[k] * vox) for k in LABELS}
    plaque = (lab >= 2) & (lab <= 5)
    vessel = plaque | (lab == 1) | (lab == 7)
    pa = plaque.sum(axis=(1, 2)).astype(float)
    va = vessel.sum(axis=(1, 2)).astype(float)
    burden = np.where(va > 0, pa / np.maximum(va, 1), 0.0)
    ksl = np.flatnonzero(pa > 0)
    # imaging definition: max vessel area over the plaque slices / mean of the proximal and
    # distal plaque-free reference means
    ref = 0.5 * (va[: ksl[0]].mean() + va[ksl[-1] + 1:].mean()) if ksl.size else float("nan")
    return {
        "volume_mm3": vol,
        "v_total_mm3": float(pa.sum() * vox),
        "v_calcified_mm3": vol["calcium"],
        "v_fibrous_mm3": vol["fibrous"],
        "v_fibrofatty_mm3": vol["fibro_fatty"],
        "v_lap_mm3": vol["lap"],
        "max_plaque_burden": float(burden.max()),
        "remodelling_index": float(va[ksl].max() / ref) if ksl.size else float("nan"),
    }


