"""Voxel-level building blocks of the synthetic images.

Exact-count voxel selection (error diffusion over slices, largest remainder
over components, the top ``n`` scores), the extent of connected components,
and Gaussian random fields for texture (the scanner's noise is in
:mod:`~radiorisk.datasets._scanner`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

__all__ = ["FWHM_PER_SIGMA", "components_extent_mm", "largest_remainder", "slice_counts", "smooth_field", "top"]

#: FWHM of a Gaussian in units of its sigma.
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def slice_counts(weights: np.ndarray, capacity: np.ndarray, total: int) -> np.ndarray:
    """Integer counts proportional to ``weights`` summing to ``total`` (error diffusion), within capacity.

    Examples
    --------
    >>> slice_counts(np.array([1.0, 2.0, 1.0]), np.array([9, 9, 9]), 10).tolist()
    [2, 6, 2]
    """
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


def largest_remainder(total: int, weights) -> np.ndarray:
    """Integer counts proportional to ``weights`` summing to ``total`` (largest remainder).

    Examples
    --------
    >>> largest_remainder(10, [0.5, 0.25, 0.25, 0.0]).tolist()
    [5, 3, 2, 0]
    """
    w = np.clip(np.asarray(weights, float), 0, None)
    if w.sum() <= 0:
        w = np.array([1.0, 0, 0, 0])
    q = w / w.sum() * total
    n = np.floor(q).astype(int)
    rest = total - n.sum()
    if rest > 0:
        n[np.argsort(-(q - n), kind="stable")[:rest]] += 1
    return n


def top(score: np.ndarray, eligible: np.ndarray, n: int) -> np.ndarray:
    """Boolean selection of the ``n`` highest scores among ``eligible`` (exact count).

    Examples
    --------
    >>> top(np.array([3.0, 1.0, 2.0, 5.0]), np.array([True, True, True, False]), 2).tolist()
    [True, False, True, False]
    """
    sel = np.zeros(score.size, bool)
    idx = np.flatnonzero(eligible)
    n = min(int(n), idx.size)
    if n == idx.size:
        sel[idx] = True
    elif n > 0:
        part = np.argpartition(-score.ravel()[idx], n - 1)[:n]
        sel[idx[part]] = True
    return sel.reshape(score.shape)


def components_extent_mm(coords: np.ndarray, spacing_zyx) -> np.ndarray:
    """Largest bounding-box extent (mm) of each 26-connected component of voxel ``coords``.

    Examples
    --------
    >>> components_extent_mm(np.array([[0, 0, 0], [0, 0, 1], [5, 5, 5]]), (0.5, 0.5, 0.5)).tolist()
    [1.0, 0.5]
    """
    if len(coords) == 0:
        return np.zeros(0)
    lo = coords.min(0)
    box = np.zeros(tuple(coords.max(0) - lo + 1), bool)
    box[tuple((coords - lo).T)] = True
    lab, n = ndi.label(box, structure=np.ones((3, 3, 3), bool))
    ext = [[(s.stop - s.start) for s in sl] for sl in ndi.find_objects(lab)]
    return (np.asarray(ext, float) * np.asarray(spacing_zyx)).max(axis=1)


def smooth_field(rng, shape, sigma_vox, truncate=2.5) -> np.ndarray:
    """Gaussian random field with unit SD (empirically normalised).

    Examples
    --------
    >>> f = smooth_field(np.random.default_rng(0), (8, 16, 16), (1.0, 1.5, 1.5))
    >>> f.dtype.name, round(float(f.std()), 3)
    ('float32', 1.0)
    """
    w = ndi.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_vox,
                            mode="wrap", truncate=truncate)
    sd = float(w.std())
    return w / sd if sd > 0 else w
