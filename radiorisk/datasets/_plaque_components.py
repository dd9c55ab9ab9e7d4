"""The plaque's components: where the LAP core, calcium and fibro-fatty tissue sit in the crescent.

The renderer (:mod:`radiorisk.datasets._shapes`) selects the plaque voxels;
here they are split into components with exact voxel counts: a low-attenuation
(necrotic) core under a fibrous cap near the thick side of the peak, calcium
on its abluminal flanks (separate spotty nodules or one compact deposit), and
fibro-fatty tissue around the core (a napkin ring keeps a fibrous shell, the
bright rim).  Everything else stays fibrous.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ._voxels import components_extent_mm, top

__all__ = ["FIBROUS", "FIBRO_FATTY", "LAP", "CALCIUM", "assign_components", "core_distance"]

#: Label values of the plaque components (see ``radiorisk.datasets._shapes.LABELS``).
FIBROUS, FIBRO_FATTY, LAP, CALCIUM = 2, 3, 4, 5


def core_distance(g: Mapping, pv: Mapping, latent_v: float, napkin: bool, rng: np.random.Generator) -> dict:
    """Distance of each plaque voxel to the core centre, the cap thickness and the abluminal gap.

    The core (organiser of the LAP and fibro-fatty tissue) sits under the cap on
    the thick side, at a random slice around the middle of the lesion; four draws
    from ``rng`` (core slice, cap, direction, z stretch unless napkin ring).

    Parameters
    ----------
    g : mapping
        The geometry plan (:func:`radiorisk.datasets._vessel_geometry.plan`).
    pv : mapping
        Plaque voxels: ``k0, k1`` (lesion slices), coordinates ``xs, ys, zs`` (mm).
    latent_v : float
        The lesion's vulnerability (a thinner cap above 0.5).
    napkin : bool
        Napkin-ring sign (thin cap, wider abluminal gap, fixed z stretch).
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``d_core`` (mm, z scaled by the stretch), ``cap_mm``, ``bgap``.

    Examples
    --------
    >>> g = {"L": 10.0, "z": np.arange(20) * 0.5 + 0.25, "z0": 0.0, "R": np.full(20, 2.0),
    ...      "d": np.full(20, 0.3), "r": np.full(20, 1.2), "theta": np.zeros(20)}
    >>> pv = {"k0": 0, "k1": 20, "xs": np.array([-2.0, 2.0]), "ys": np.zeros(2), "zs": np.full(2, 5.0)}
    >>> c = core_distance(g, pv, 0.0, False, np.random.default_rng(0))
    >>> bool(c["d_core"][0] < c["d_core"][1]), c["bgap"]
    (True, 0.25)
    """
    k0, k1, xs, ys, zs = pv["k0"], pv["k1"], pv["xs"], pv["ys"], pv["zs"]
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
    return {"d_core": d_core, "cap_mm": cap_mm, "bgap": bgap}


def assign_components(pv: Mapping, core: Mapping, counts, g: Mapping, *, spotty: bool, napkin: bool,
                      v_calcified: float, spacing_zyx, rng: np.random.Generator) -> dict:
    """Component label per plaque voxel with exact counts: LAP, then calcium, then fibro-fatty.

    Parameters
    ----------
    pv : mapping
        Plaque voxels: ``kk, py, px`` (indices), ``xs, ys, zs`` (mm), ``a`` / ``b``
        (distance from the lumen / to the outer wall), ``s_depth`` (relative
        depth), ``phi`` (angle from the thick side), ``tex_p`` (texture).
    core : mapping
        From :func:`core_distance`.
    counts : sequence of 4 int
        Voxels of calcium, LAP, fibro-fatty and fibrous tissue.
    g : mapping
        The geometry plan (``z0``, ``L``).
    spotty, napkin : bool
        Spotty calcification; napkin-ring sign.
    v_calcified : float
        True calcified volume (mm3; sets the number of spotty nodules).
    spacing_zyx : tuple of 3 float
    rng : numpy.random.Generator

    Returns
    -------
    dict
        ``comp`` (uint8 label per voxel), ``rim`` (the napkin ring's fibrous
        shell), ``n_nodules`` and ``ca_extents`` (mm per calcium component).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> m = 200
    >>> pv = {"kk": np.arange(m) // 20, "py": np.arange(m) % 20, "px": np.zeros(m, int),
    ...       "xs": rng.normal(size=m), "ys": rng.normal(size=m), "zs": rng.uniform(0, 5, m),
    ...       "a": rng.uniform(0, 1.5, m), "b": rng.uniform(0, 1.5, m), "s_depth": rng.uniform(size=m),
    ...       "phi": rng.uniform(-3, 3, m), "tex_p": rng.normal(size=m)}
    >>> core = {"d_core": rng.uniform(0, 3, m), "cap_mm": 0.6, "bgap": 0.25}
    >>> out = assign_components(pv, core, (20, 30, 50, 100), {"z0": 0.0, "L": 5.0}, spotty=False,
    ...                         napkin=False, v_calcified=2.0, spacing_zyx=(0.5, 0.45, 0.45), rng=rng)
    >>> np.bincount(out["comp"], minlength=6)[2:].tolist()
    [100, 50, 30, 20]
    """
    n_ca, n_lap, n_ff, _n_fib = counts
    d_core, cap_mm, bgap = core["d_core"], core["cap_mm"], core["bgap"]
    a, b = pv["a"], pv["b"]
    comp = np.full(len(pv["xs"]), FIBROUS, np.uint8)        # fibrous by default
    # LAP core first (it needs the deepest plaque): under a fibrous cap, off the abluminal wall
    pen = 100.0 * (a < cap_mm) + 100.0 * (b < bgap)
    lap = top(-(d_core + pen), comp == FIBROUS, n_lap)
    comp[lap] = LAP
    d_lap = float(d_core[lap].max()) if lap.any() else 0.0
    # calcium: abluminal, on the flanks of the core (spotty nodules or a sheet/arc)
    coords = np.stack([pv["kk"], pv["py"], pv["px"]], 1)
    n_nodules = 0
    ca_ext = np.zeros(0)
    if n_ca > 0:
        if spotty:
            ca, n_nodules, ca_ext = _spotty_calcium(rng, n_ca, coords, pv["xs"], pv["ys"], pv["zs"],
                                                    pv["s_depth"], d_core - d_lap, a + b, v_calcified,
                                                    spacing_zyx, eligible=comp == FIBROUS)
        else:
            ca = _compact_calcium(rng, n_ca, pv, g, eligible=comp == FIBROUS)
            ca_ext = components_extent_mm(coords[ca], spacing_zyx)
        comp[ca] = CALCIUM
    # fibro-fatty around the core; napkin ring keeps a fibrous shell (the bright rim)
    rim = np.zeros(len(comp), bool)
    if napkin and lap.any():
        rim = (comp == FIBROUS) & (d_core <= d_lap + rng.uniform(0.55, 0.8))
    ff_score = -(d_core + 1.0 * (a < cap_mm) + 0.5 * pv["tex_p"] + 100.0 * rim)
    ff = top(ff_score, comp == FIBROUS, n_ff)
    comp[ff] = FIBRO_FATTY
    return {"comp": comp, "rim": rim, "n_nodules": n_nodules, "ca_extents": ca_ext}


def _compact_calcium(rng, n_ca: int, pv: Mapping, g: Mapping, *, eligible: np.ndarray) -> np.ndarray:
    """One compact deposit grown from an abluminal seed on a flank of the core."""
    xs, ys, zs, s_depth, a, b = pv["xs"], pv["ys"], pv["zs"], pv["s_depth"], pv["a"], pv["b"]
    L = g["L"]
    phi_ca = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.8)
    z_ca = g["z0"] + L * rng.uniform(0.3, 0.7)
    wz = max(1.5, 0.35 * L)
    seed_score = (np.cos(pv["phi"] - phi_ca) - ((zs - z_ca) / wz) ** 2 + 0.3 * (a + b)
                  + np.where(s_depth >= 0.6, 0.0, -5.0) + np.where(eligible, 0.0, -50.0))
    i0 = int(np.argmax(seed_score))
    z_st = rng.uniform(1.5, 2.5)
    d_ca = np.sqrt((xs - xs[i0]) ** 2 + (ys - ys[i0]) ** 2 + ((zs - zs[i0]) / z_st) ** 2)
    score = -d_ca + 0.3 * s_depth
    return top(score, eligible, n_ca)


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
    sel = top(-dmin, eligible, n_ca)
    return sel, len(centres), components_extent_mm(coords[sel], spacing_zyx)

