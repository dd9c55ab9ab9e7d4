"""The lesion patch renderer and the pieces the patch and full-size volume writers share.

A lesion is rendered as a short, straightened coronary segment whose centreline
is the patch z axis: lumen, a thin normal vessel wall (media/adventitia), an
eccentric crescent of plaque between them, and peri-coronary fat around it.
The plaque crescent is split into fibrous, fibro-fatty, low-attenuation
(necrotic core) and calcified components whose voxel counts reproduce the
truth volumes, HU values are assigned per tissue (DOMAIN.md section 6.6), and
the image is blurred with a Gaussian point-spread function (calcium blooming)
and degraded with correlated noise.  The label map returned with the image is
the pre-blur ground truth.  See ``docs/synthetic_images.md``.

Every lesion draws from its own random stream, derived only from
``(seed, lesion_id)``, so a lesion renders identically whatever other lesions
are rendered and in whatever order.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage as ndi
from tqdm.auto import tqdm

from .._files import atomic_write
from ..exceptions import SchemaError

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

_LESION_REQUIRED = (
    "lesion_id", "scan_id", "patient_id", "length_mm", "ref_diameter_mm", "remodelling_index",
    "plaque_burden", "v_total_mm3", "v_calcified_mm3", "v_fibrous_mm3", "v_fibrofatty_mm3",
    "v_lap_mm3", "spotty_calc", "napkin_ring",
)
_SCAN_REQUIRED = ("scan_id", "lumen_hu_mean", "noise_sd_hu", "pixel_spacing_mm")

# ---- geometry constants (mm) -------------------------------------------------------------
WALL_MM = 0.5            #: normal wall thickness (label 7), also outside the plaque
REF_SEGMENT_MM = 4.0     #: plaque-free vessel at each end (>= 2 mm reference + margin)
FAT_MARGIN_MM = 4.0      #: in-plane fat beyond the widest vessel radius (>= 3 mm required)
Z_SPACING_MM = 0.5       #: slice spacing of every patch (and of the full-size volumes)
MIN_XY_VOXELS = 40
MIN_LUMEN_RADIUS_MM = 0.35
MIN_PLAQUE_VOXELS = 4
_WALL_KEEP = 0.3         #: share of the normal-wall ring area left (thin side) at the plaque peak
_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


# ---------------------------------------------------------------------------------------
# random streams and scan-level parameters
# ---------------------------------------------------------------------------------------
def _hash_ints(*parts) -> list[int]:
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=16).digest()
    return [int.from_bytes(h[:8], "little"), int.from_bytes(h[8:], "little")]


def _unit_hash(*parts) -> float:
    """A deterministic number in [0, 1) from ``parts`` (stable across runs and platforms)."""
    return _hash_ints(*parts)[0] / 2.0**64


def lesion_rng(seed: int, lesion_id, stream: int = 0) -> np.random.Generator:
    """The random generator of one lesion, derived only from ``(seed, lesion_id, stream)``.

    Parameters
    ----------
    seed : int
        Cohort seed (non-negative).
    lesion_id : str
        Lesion identifier.
    stream : int
        0 renders the lesion, 1 perturbs the second reader's mask.

    Returns
    -------
    numpy.random.Generator

    Examples
    --------
    >>> a = lesion_rng(7, "L0000001").normal(); b = lesion_rng(7, "L0000001").normal()
    >>> a == b, a == lesion_rng(7, "L0000002").normal()
    (True, False)
    """
    return np.random.default_rng([int(seed), int(stream), *_hash_ints("lesion", lesion_id)])


def _scan_params(scan_row) -> dict:
    """Scanner-level rendering parameters, fixed per scan (same for all its lesions)."""
    sid = str(scan_row["scan_id"])
    spacing = float(np.clip(float(scan_row["pixel_spacing_mm"]), 0.4, 0.5))
    st = scan_row.get("slice_thickness_mm", np.nan) if hasattr(scan_row, "get") else np.nan
    st = float(st) if st is not None and np.isfinite(st) else 0.625
    fwhm_xy = 0.6 + 0.4 * _unit_hash("psf", sid)                      # 0.6-1.0 mm
    return {
        "spacing_xy": spacing,
        "fwhm_xy": fwhm_xy,
        "fwhm_z": float(np.clip(max(st, fwhm_xy), 0.6, 1.2)),
        "plaque_shift_k": 0.1 + 0.1 * _unit_hash("shift", sid),         # 0.1-0.2
        "lumen_hu_scan": float(scan_row["lumen_hu_mean"]),
        "noise_sd": float(scan_row["noise_sd_hu"]),
    }


# ---------------------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------------------
def _profile(x: np.ndarray, c: float) -> np.ndarray:
    """Plaque-area profile on x in [0, 1] with peak 1 and mean ``c`` (0.3 <= c <= 0.95)."""
    x = np.asarray(x, float)
    inside = (x > 0) & (x < 1)
    f = np.zeros_like(x)
    if c >= 0.5:  # Tukey window: cosine tapers around a plateau
        taper = 1.0 - c
        xi = x[inside]
        fi = np.ones_like(xi)
        lo, hi = xi < taper, xi > 1 - taper
        fi[lo] = 0.5 * (1 - np.cos(np.pi * xi[lo] / taper))
        fi[hi] = 0.5 * (1 - np.cos(np.pi * (1 - xi[hi]) / taper))
        f[inside] = fi
    else:  # sin^(2k): mean Gamma(k+1/2) / (sqrt(pi) Gamma(k+1))
        def mean_k(k):
            return math.exp(math.lgamma(k + 0.5) - math.lgamma(k + 1.0)) / math.sqrt(math.pi)
        lo, hi = 1.0, 20.0
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if mean_k(mid) > c else (lo, mid)
        f[inside] = np.sin(np.pi * x[inside]) ** (2 * 0.5 * (lo + hi))
    return f


def _plan(lesion, sp: dict, rng: np.random.Generator, spacing_xy: float, dz: float) -> dict:
    """Per-slice geometry of the straightened vessel (radii, lumen offset, plaque area).

    Cross-section at slice k: outer wall (EEM) circle of radius ``R`` around
    the centreline; lumen circle of radius ``r`` shifted by ``d`` towards the
    thin side (angle ``theta``); between them plaque (area ``a_max * f``, the
    thick-side sector, from lumen to outer wall) and residual normal wall (the
    thin-side sector; ``_WALL_KEEP`` of the normal ring area at the peak).  In
    the reference segments (f = 0) the lumen is concentric and the wall a ring
    of ``WALL_MM``.
    """
    L = float(np.clip(float(lesion["length_mm"]), 2.0, 80.0))
    r0 = float(np.clip(float(lesion["ref_diameter_mm"]), 1.0, 6.0)) / 2.0
    R0 = r0 + WALL_MM
    a_ref = math.pi * R0**2
    ri = float(np.clip(float(lesion["remodelling_index"]), 0.6, 2.0))
    pb = float(np.clip(float(lesion["plaque_burden"]), 0.05, 0.95))
    v_total = max(float(lesion["v_total_mm3"]), 0.0)

    nz = int(math.ceil((L + 2 * REF_SEGMENT_MM) / dz))
    z = (np.arange(nz) + 0.5) * dz
    z0 = 0.5 * (nz * dz - L)
    x = (z - z0) / L
    # fill factor of the area profile: volume = a_max * L * c, a_max = pb * EEM_ref * RI
    a_max = pb * a_ref * ri
    c = v_total / (a_max * L) if a_max > 0 else 0.6
    c = float(np.clip(c, 0.3, 0.95))
    f = _profile(x, c)
    a_max = v_total / (f.sum() * dz)                       # exact on the slice grid
    # outer wall profile: focal (like the plaque) for positive remodelling; for negative
    # remodelling a constricted segment covering the whole plaque, tapering 1.5 mm outside it
    xe = np.clip(np.maximum((z0 - z) / 1.5, (z - z0 - L) / 1.5), 0.0, 1.0)
    f_neg = 0.5 * (1.0 + np.cos(np.pi * xe))
    ri_eff = ri
    for _ in range(200):
        f_eem = f if ri_eff >= 1.0 else f_neg
        R = R0 * np.sqrt(np.maximum(1.0 + (ri_eff - 1.0) * f_eem, 0.05))
        a_eem = math.pi * R**2
        a_wall = (math.pi * (R**2 - (R - WALL_MM) ** 2)) * (1.0 - (1.0 - _WALL_KEEP) * f)
        lum2 = (a_eem - a_max * f - a_wall) / math.pi
        if np.all(lum2 >= MIN_LUMEN_RADIUS_MM**2):
            break
        ri_eff *= 1.03
    r = np.sqrt(np.maximum(lum2, MIN_LUMEN_RADIUS_MM**2))
    ecc = rng.uniform(0.8, 1.0)
    d = ecc * np.maximum(R - WALL_MM - r, 0.0)             # lumen centre offset (towards thin side)
    theta0 = rng.uniform(-np.pi, np.pi)
    theta = theta0 + rng.uniform(-0.8, 0.8) * (np.clip(x, 0, 1) - 0.5)
    # centreline: random sub-voxel offset plus a gentle wobble (avoids lattice-symmetric discs,
    # whose voxel counts jump with the radius)
    amp = rng.uniform(0.15, 0.3) * spacing_xy
    lam = rng.uniform(6.0, 14.0)
    ph = rng.uniform(0, 2 * np.pi, 2)
    off0 = rng.uniform(-0.5, 0.5, 2) * spacing_xy
    ox = off0[0] + amp * np.sin(2 * np.pi * z / lam + ph[0])
    oy = off0[1] + amp * np.cos(2 * np.pi * z / lam + ph[1])
    half = R.max() + FAT_MARGIN_MM + spacing_xy
    nxy = max(MIN_XY_VOXELS, 2 * int(math.ceil(half / spacing_xy)))
    return dict(L=L, r0=r0, R0=R0, a_ref=a_ref, ri=ri, ri_eff=ri_eff, pb=pb, c=c, a_max=a_max,
                nz=nz, nxy=nxy, z=z, z0=z0, x=x, f=f, R=R, r=r, d=d, theta=theta,
                ecc=ecc, v_total=v_total, ox=ox, oy=oy)


def _slice_counts(weights: np.ndarray, capacity: np.ndarray, total: int) -> np.ndarray:
    """Integer counts proportional to ``weights`` summing to ``total`` (error diffusion), within capacity."""
    w = np.asarray(weights, float)
    q = w / w.sum() * total
    cum = np.rint(np.cumsum(q)).astype(int)
    n = np.diff(np.concatenate([[0], cum]))
    n = np.minimum(n, capacity)
    deficit = total - int(n.sum())
    order = np.argsort(-w, kind="stable")
    while deficit > 0:
        spare = capacity[order] - n[order]
        if spare.sum() <= 0:
            break
        for i in order[spare > 0]:
            n[i] += 1
            deficit -= 1
            if deficit == 0:
                break
    return n


def _largest_remainder(total: int, weights) -> np.ndarray:
    w = np.clip(np.asarray(weights, float), 0, None)
    if w.sum() <= 0:
        w = np.array([1.0, 0, 0, 0])
    q = w / w.sum() * total
    n = np.floor(q).astype(int)
    rest = total - n.sum()
    if rest > 0:
        n[np.argsort(-(q - n), kind="stable")[:rest]] += 1
    return n


def _top(score: np.ndarray, eligible: np.ndarray, n: int) -> np.ndarray:
    """Boolean selection of the ``n`` highest scores among ``eligible`` (exact count)."""
    sel = np.zeros(score.size, bool)
    idx = np.flatnonzero(eligible)
    n = min(int(n), idx.size)
    if n == idx.size:
        sel[idx] = True
    elif n > 0:
        part = np.argpartition(-score.ravel()[idx], n - 1)[:n]
        sel[idx[part]] = True
    return sel.reshape(score.shape)


def _components_extent_mm(coords: np.ndarray, spacing_zyx) -> np.ndarray:
    """Largest bounding-box extent (mm) of each 26-connected component of voxel ``coords``."""
    if len(coords) == 0:
        return np.zeros(0)
    lo = coords.min(0)
    box = np.zeros(tuple(coords.max(0) - lo + 1), bool)
    box[tuple((coords - lo).T)] = True
    lab, n = ndi.label(box, structure=np.ones((3, 3, 3), bool))
    ext = [[(s.stop - s.start) for s in sl] for sl in ndi.find_objects(lab)]
    return (np.asarray(ext, float) * np.asarray(spacing_zyx)).max(axis=1)


def _smooth_field(rng, shape, sigma_vox, truncate=2.5) -> np.ndarray:
    """Gaussian random field with unit SD (empirically normalised)."""
    w = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_vox,
                            mode="wrap", truncate=truncate)
    sd = float(w.std())
    return w / sd if sd > 0 else w


def _kernel_sq_sum(sigma: float, truncate: float) -> float:
    if sigma <= 0:
        return 1.0
    rad = int(truncate * sigma + 0.5)
    k = np.exp(-0.5 * (np.arange(-rad, rad + 1) / sigma) ** 2)
    k /= k.sum()
    return float((k**2).sum())


# ---------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------
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
    sp = _scan_params(scan)
    s = sp["spacing_xy"]
    dz = Z_SPACING_MM
    vox = s * s * dz
    g = _plan(les, sp, rng, s, dz)
    nz, n = g["nz"], g["nxy"]
    napkin = _flag(les["napkin_ring"])
    spotty = _flag(les["spotty_calc"])
    latent_v = _finite(les, "latent_v")
    latent_z = _finite(les, "latent_z")

    # ---- in-plane coordinates and 3-D distances -------------------------------------
    ax = (np.arange(n) - (n - 1) / 2.0) * s
    X = ax[None, None, :].astype(np.float32) - g["ox"].astype(np.float32)[:, None, None]
    Y = ax[None, :, None].astype(np.float32) - g["oy"].astype(np.float32)[:, None, None]
    rho = np.sqrt(X**2 + Y**2)                              # (nz, n, n), from the centreline
    R = g["R"].astype(np.float32)[:, None, None]
    tex = _smooth_field(rng, (nz, n, n), (1.2, 1.6, 1.6))
    cxk = (g["d"] * np.cos(g["theta"])).astype(np.float32)[:, None, None]
    cyk = (g["d"] * np.sin(g["theta"])).astype(np.float32)[:, None, None]
    rho_l = np.sqrt((X - cxk) ** 2 + (Y - cyk) ** 2)        # distance to the lumen centre
    r_all = g["r"].astype(np.float32)[:, None, None]
    lab = np.full((nz, n, n), 6, np.uint8)
    vessel = rho <= R
    lab[vessel] = 7
    lumen = rho_l <= r_all
    lab[lumen] = 1

    # ---- plaque: thick-side sector between lumen and outer wall, exact voxel counts ---
    ks = np.flatnonzero(g["f"] > 0)
    k0, k1 = int(ks[0]), int(ks[-1]) + 1
    n_total = int(round(g["v_total"] / vox))
    floored = n_total < MIN_PLAQUE_VOXELS
    n_total = max(n_total, MIN_PLAQUE_VOXELS)
    wall_l = vessel[k0:k1] & ~lumen[k0:k1]
    n_k = _slice_counts(g["f"][k0:k1], wall_l.sum(axis=(1, 2)), n_total)
    thick = (g["theta"][k0:k1] + np.pi)[:, None, None]
    ang = np.arctan2(Y[k0:k1] - cyk[k0:k1], X[k0:k1] - cxk[k0:k1])
    sector = np.cos(ang - thick) + 0.08 * tex[k0:k1]
    plaque_l = np.zeros(wall_l.shape, bool)
    for i in range(k1 - k0):
        plaque_l[i] = _top(sector[i], wall_l[i], n_k[i])
    pz, py, px = np.nonzero(plaque_l)
    n_total = pz.size

    # local plaque coordinates
    kk = pz + k0
    xs, ys = X[kk, 0, px], Y[kk, py, 0]
    zs = g["z"][kk]
    a = rho_l[kk, py, px] - r_all[kk, 0, 0]                # distance from lumen boundary
    b = R[kk, 0, 0] - rho[kk, py, px]                       # distance to the outer wall (abluminal)
    s_depth = a / np.maximum(a + b, 1e-3)
    phi = np.angle(np.exp(1j * (np.arctan2(ys - cyk[kk, 0, 0], xs - cxk[kk, 0, 0]) - thick[pz, 0, 0])))

    tex_p = tex[kk, py, px]

    # component counts (exact) from the truth fractions
    w = [max(float(les[c]), 0.0) for c in ("v_calcified_mm3", "v_lap_mm3", "v_fibrofatty_mm3", "v_fibrous_mm3")]
    n_ca, n_lap, n_ff, _n_fib = _largest_remainder(n_total, w)

    # core centre (LAP / fibro-fatty organiser): under the cap on the thick side near the peak
    L, zc_frac = g["L"], rng.uniform(0.4, 0.6)
    kc = int(np.clip(np.searchsorted(g["z"], g["z0"] + zc_frac * L), k0, k1 - 1))
    cap_mm = rng.uniform(0.45, 0.6) if latent_v > 0.5 or napkin else rng.uniform(0.6, 0.9)
    bgap = 0.5 if napkin else 0.25
    T = g["R"][kc] + g["d"][kc] - g["r"][kc]               # max plaque thickness at the core slice
    free = T - cap_mm - bgap
    depth_c = cap_mm + 0.5 * free if free > 0 else 0.5 * T
    dir_c = g["theta"][kc] + np.pi + rng.uniform(-0.3, 0.3)
    rc = g["r"][kc] + depth_c
    xc = g["d"][kc] * math.cos(g["theta"][kc]) + rc * math.cos(dir_c)
    yc = g["d"][kc] * math.sin(g["theta"][kc]) + rc * math.sin(dir_c)
    zc = g["z"][kc]
    z_stretch = 2.5 if napkin else rng.uniform(1.8, 3.0)
    d_core = np.sqrt((xs - xc) ** 2 + (ys - yc) ** 2 + ((zs - zc) / z_stretch) ** 2)

    comp = np.full(n_total, 2, np.uint8)                    # fibrous by default
    # LAP core first (it needs the deepest plaque): under a fibrous cap, off the abluminal wall
    pen = 100.0 * (a < cap_mm) + 100.0 * (b < bgap)
    lap = _top(-(d_core + pen), comp == 2, n_lap)
    comp[lap] = 4
    d_lap = float(d_core[lap].max()) if lap.any() else 0.0
    # calcium: abluminal, on the flanks of the core (spotty nodules or a sheet/arc)
    spacing_zyx = (dz, s, s)
    coords = np.stack([kk, py, px], 1)
    n_nodules = 0
    ca_ext = np.zeros(0)
    if n_ca > 0:
        if spotty:
            ca, n_nodules, ca_ext = _spotty_calcium(rng, n_ca, coords, xs, ys, zs, s_depth, d_core - d_lap,
                                                    a + b, float(les["v_calcified_mm3"]), spacing_zyx,
                                                    eligible=comp == 2)
        else:
            # one compact deposit grown from an abluminal seed on a flank of the core
            phi_ca = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.8)
            z_ca = g["z0"] + L * rng.uniform(0.3, 0.7)
            wz = max(1.5, 0.35 * L)
            elig = comp == 2
            seed_score = (np.cos(phi - phi_ca) - ((zs - z_ca) / wz) ** 2 + 0.3 * (a + b)
                          + np.where(s_depth >= 0.6, 0.0, -5.0) + np.where(elig, 0.0, -50.0))
            i0 = int(np.argmax(seed_score))
            z_st = rng.uniform(1.5, 2.5)
            d_ca = np.sqrt((xs - xs[i0]) ** 2 + (ys - ys[i0]) ** 2 + ((zs - zs[i0]) / z_st) ** 2)
            score = -d_ca + 0.3 * s_depth
            ca = _top(score, comp == 2, n_ca)
            ca_ext = _components_extent_mm(coords[ca], spacing_zyx)
        comp[ca] = 5
    # fibro-fatty around the core; napkin ring keeps a fibrous shell (the bright rim)
    rim = np.zeros(n_total, bool)
    if napkin and lap.any():
        rim = (comp == 2) & (d_core <= d_lap + rng.uniform(0.55, 0.8))
    ff_score = -(d_core + 1.0 * (a < cap_mm) + 0.5 * tex_p + 100.0 * rim)
    ff = _top(ff_score, comp == 2, n_ff)
    comp[ff] = 3
    lab[kk, py, px] = comp

    # ---- HU model ---------------------------------------------------------------------
    lumen_hu = float(rng.normal(sp["lumen_hu_scan"], 15.0))
    shift = sp["plaque_shift_k"] * (sp["lumen_hu_scan"] - 400.0)
    zlat = float(np.clip(latent_z, -3.0, 3.0))
    fat_base = float(-90.0 + 4.0 * np.clip(zlat, -2.5, 2.5) + rng.normal(0.0, 3.0))
    fai = 13.0 / (1.0 + math.exp(-2.0 * (zlat - 1.0)))     # +0..13 HU near the vessel when Z is high
    hu = {
        1: (lumen_hu, 6.0),
        2: (rng.uniform(150.0, 220.0) + shift, 15.0),
        3: (rng.uniform(60.0, 100.0) + shift, 12.0),
        4: (float(np.clip(-8.0 - 7.0 * latent_v + rng.normal(0, 5), -30.0, 20.0)) + shift, 8.0),
        5: (rng.uniform(600.0, 1100.0), 70.0),
        6: (fat_base, 10.0),
        7: (rng.uniform(60.0, 100.0), 8.0),
    }
    mean_lut = np.zeros(256, np.float32)
    amp_lut = np.zeros(256, np.float32)
    for k, (m, sd) in hu.items():
        mean_lut[k], amp_lut[k] = m, sd
    H = mean_lut[lab] + amp_lut[lab] * tex
    fat = lab == 6
    dist_out = np.maximum(rho - R, 0.0)
    H[fat] += (fai * np.exp(-dist_out / 2.5))[fat] if fai > 0 else 0.0
    ca_vox = lab[kk, py, px] == 5
    if ca_vox.any():
        H[kk[ca_vox], py[ca_vox], px[ca_vox]] = np.clip(H[kk[ca_vox], py[ca_vox], px[ca_vox]], 450.0, 1400.0)
    rim_boost = 0.0
    if rim.any():
        rim_boost = rng.uniform(40.0, 70.0)
        H[kk[rim], py[rim], px[rim]] += rim_boost

    # ---- PSF blur (calcium blooming) and correlated noise ------------------------------
    sig_psf = (sp["fwhm_z"] / _FWHM / dz, sp["fwhm_xy"] / _FWHM / s, sp["fwhm_xy"] / _FWHM / s)
    img = ndi.gaussian_filter(H, sig_psf, mode="nearest", truncate=3.0)
    sig_n = (0.5, 0.7, 0.7)
    noise = ndi.gaussian_filter(rng.standard_normal((nz, n, n), dtype=np.float32), sig_n,
                                mode="wrap", truncate=3.0)
    norm = math.sqrt(np.prod([_kernel_sq_sum(sg, 3.0) for sg in sig_n]))
    img += noise * np.float32(sp["noise_sd"] / norm)
    img_i16 = np.clip(np.rint(img), -1024, 3071).astype(np.int16)

    # ---- outputs ------------------------------------------------------------------------
    image = sitk.GetImageFromArray(img_i16)
    image.SetSpacing((s, s, dz))
    mask = sitk.GetImageFromArray(lab)
    mask.CopyInformation(image)
    info = _rendered_truth(lab, (dz, s, s))
    info.update(
        lesion_id=str(les["lesion_id"]), scan_id=str(scan["scan_id"]),
        spacing_mm=(s, s, dz), size_xyz=(n, n, nz),
        lesion_slices=(k0, k1), reference_slices_proximal=(0, k0), reference_slices_distal=(k1, nz),
        ref_lumen_diameter_mm=2 * g["r0"], ref_vessel_diameter_mm=2 * g["R0"],
        remodelling_index_target=g["ri"], remodelling_index_rendered=g["ri_eff"],
        fill_factor=g["c"], eccentricity=g["ecc"], plaque_voxels_floored=floored,
        lumen_hu=lumen_hu, plaque_hu_shift=shift, fat_hu_base=fat_base, fai_shift_hu=fai,
        fibrous_hu=hu[2][0], fibrofatty_hu=hu[3][0], lap_hu=hu[4][0], calcium_hu=hu[5][0],
        wall_hu=hu[7][0], napkin_rim_boost_hu=rim_boost, cap_mm=cap_mm,
        psf_fwhm_xy_mm=sp["fwhm_xy"], psf_fwhm_z_mm=sp["fwhm_z"], noise_sd_hu=sp["noise_sd"],
        spotty_calc=spotty, napkin_ring=napkin, n_calcium_nodules=n_nodules,
        calcium_extents_mm=tuple(float(e) for e in ca_ext),
    )
    if return_arrays:
        info["image_array"], info["mask_array"] = img_i16, lab
    return image, mask, info


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


def _spotty_calcium(rng, n_ca, coords, xs, ys, zs, s_depth, d_core, thick, v_ca, spacing_zyx, *, eligible):
    """Calcium as separate nodules (largest extent < 3 mm when the plaque leaves room).

    Nodule centres sit in the abluminal half of the plaque away from the LAP
    core, at least ``2 r_cap + 1`` mm apart; each calcium voxel is within
    ``r_cap`` (1.1 mm) of its centre, so nodules never merge.  Centres are added
    until the calcium volume fits; only when the plaque has no room left does
    ``r_cap`` grow.  Returns ``(selection, n_nodules, extents_mm)``.
    """
    n_total = len(xs)
    pts = np.stack([xs, ys, zs], 1)
    pref = np.flatnonzero((s_depth >= 0.35) & (d_core >= 1.0) & eligible)
    rest = np.setdiff1d(np.flatnonzero(eligible), pref)
    # thicker plaque first (nodules keep their shape), randomised; preferred sites before the rest
    key = thick + rng.uniform(0, 0.6, n_total)
    order = np.concatenate([pref[np.argsort(-key[pref])], rest[np.argsort(-key[rest])]])
    r_cap = 1.1
    centres = np.empty((0, 3))
    dmin = np.full(n_total, np.inf)

    def add_centre():
        nonlocal centres, dmin
        sep = 2 * r_cap + 1.0
        ok = order[dmin[order] >= sep]
        if ok.size == 0:
            return False
        p = pts[ok[0]]
        centres = np.vstack([centres, p])
        dmin = np.minimum(dmin, np.sqrt(((pts - p) ** 2).sum(1)))
        return True

    n0 = max(1, int(math.ceil(v_ca / rng.uniform(1.2, 3.0))))
    for _ in range(n0):
        if not add_centre():
            break
    while ((dmin <= r_cap) & eligible).sum() < n_ca:
        if not add_centre():
            r_cap += 0.1
            if r_cap > 6.0:
                break
    sel = _top(-dmin, eligible, n_ca)
    return sel, len(centres), _components_extent_mm(coords[sel], spacing_zyx)


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



# ---------------------------------------------------------------------------------------
# tables, validation and writing
# ---------------------------------------------------------------------------------------
def _validate(truth_lesions: pd.DataFrame, scans: pd.DataFrame, lesion_ids) -> list:
    problems = []
    miss = [c for c in _LESION_REQUIRED if c not in truth_lesions.columns]
    if miss:
        problems.append(f"table truth_lesions lacks required column(s) {miss}")
    miss_s = [c for c in _SCAN_REQUIRED if c not in scans.columns]
    if miss_s:
        problems.append(f"table scans lacks required column(s) {miss_s}")
    if problems:
        raise SchemaError("; ".join(problems))
    if truth_lesions["lesion_id"].duplicated().any():
        dup = truth_lesions.loc[truth_lesions["lesion_id"].duplicated(), "lesion_id"].tolist()[:5]
        problems.append(f"table truth_lesions: column lesion_id must be unique, duplicated {dup}")
    ids = list(truth_lesions["lesion_id"]) if lesion_ids is None else [str(i) for i in lesion_ids]
    known = set(truth_lesions["lesion_id"].astype(str))
    unknown = [i for i in ids if i not in known]
    if unknown:
        problems.append(f"lesion_ids not in table truth_lesions: {unknown[:10]}")
    sub = truth_lesions[truth_lesions["lesion_id"].astype(str).isin(set(ids))]
    scan_ids = set(scans["scan_id"].astype(str))
    for _, row in sub.iterrows():
        where = f"table truth_lesions, row lesion_id={row['lesion_id']}"
        if str(row["scan_id"]) not in scan_ids:
            problems.append(f"{where}: scan_id {row['scan_id']!r} is not in table scans")
        for c in ("length_mm", "ref_diameter_mm", "remodelling_index", "plaque_burden", "v_total_mm3",
                  "v_calcified_mm3", "v_fibrous_mm3", "v_fibrofatty_mm3", "v_lap_mm3"):
            v = pd.to_numeric(pd.Series([row[c]]), errors="coerce").iloc[0]
            if not np.isfinite(v) or v < 0:
                problems.append(f"{where}, column {c}: value {row[c]!r} must be a finite number >= 0")
            elif c in ("length_mm", "ref_diameter_mm", "remodelling_index") and v <= 0:
                problems.append(f"{where}, column {c}: value {row[c]!r} must be > 0")
    used = scans[scans["scan_id"].astype(str).isin(set(sub["scan_id"].astype(str)))]
    for _, row in used.iterrows():
        for c in ("lumen_hu_mean", "noise_sd_hu", "pixel_spacing_mm"):
            v = pd.to_numeric(pd.Series([row[c]]), errors="coerce").iloc[0]
            if not np.isfinite(v) or (c != "lumen_hu_mean" and v <= 0):
                problems.append(f"table scans, row scan_id={row['scan_id']}, column {c}: value {row[c]!r} "
                                "must be a finite number" + (" > 0" if c != "lumen_hu_mean" else ""))
    if problems:
        raise SchemaError(f"cannot render lesion images ({len(problems)} problem(s)): " + "; ".join(problems))
    return ids


def _write_nifti_atomic(image: sitk.Image, path: Path) -> None:
    # SimpleITK picks the writer by extension: the temporary name keeps ".nii.gz"
    atomic_write(path, lambda tmp: sitk.WriteImage(image, str(tmp), True), suffix=".nii.gz")


def _iter(items, progress, desc):
    if progress:
        return tqdm(items, desc=desc)
    return items
