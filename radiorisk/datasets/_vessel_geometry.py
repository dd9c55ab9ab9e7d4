"""Geometry of a lesion's straightened coronary segment: per-slice radii, lumen offset, plaque area.

The patch z axis is the vessel centreline.  :func:`plan` turns one lesion's
truth (length, reference diameter, remodelling index, plaque burden and
volume) into the per-slice outer wall radius, lumen radius and offset and the
plaque-area profile that the renderer (:mod:`radiorisk.datasets._shapes`) fills
with voxels.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FAT_MARGIN_MM", "MIN_LUMEN_RADIUS_MM", "MIN_XY_VOXELS", "REF_SEGMENT_MM", "WALL_MM",
           "Z_SPACING_MM", "plan"]

# ---- geometry constants (mm) -------------------------------------------------------------
WALL_MM = 0.5            #: normal wall thickness (label 7), also outside the plaque
REF_SEGMENT_MM = 4.0     #: plaque-free vessel at each end (>= 2 mm reference + margin)
FAT_MARGIN_MM = 4.0      #: in-plane fat beyond the widest vessel radius (>= 3 mm required)
Z_SPACING_MM = 0.5       #: slice spacing of every patch (and of the full-size volumes)
MIN_XY_VOXELS = 40
MIN_LUMEN_RADIUS_MM = 0.35
_WALL_KEEP = 0.3         #: share of the normal-wall ring area left (thin side) at the plaque peak


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


def plan(lesion, sp: dict, rng: np.random.Generator, spacing_xy: float, dz: float) -> dict:
    """Per-slice geometry of the straightened vessel (radii, lumen offset, plaque area).

    Cross-section at slice k: outer wall (EEM) circle of radius ``R`` around
    the centreline; lumen circle of radius ``r`` shifted by ``d`` towards the
    thin side (angle ``theta``); between them plaque (area ``a_max * f``, the
    thick-side sector, from lumen to outer wall) and residual normal wall (the
    thin-side sector; ``_WALL_KEEP`` of the normal ring area at the peak).  In
    the reference segments (f = 0) the lumen is concentric and the wall a ring
    of ``WALL_MM``.

    Examples
    --------
    >>> les = {"length_mm": 10.0, "ref_diameter_mm": 3.0, "remodelling_index": 1.1,
    ...        "plaque_burden": 0.5, "v_total_mm3": 40.0}
    >>> g = plan(les, {}, np.random.default_rng(0), 0.45, Z_SPACING_MM)
    >>> g["nz"], bool(abs(g["a_max"] * g["f"].sum() * Z_SPACING_MM - 40.0) < 1e-9)
    (36, True)
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

