"""The random streams of the synthetic images and the scanner-level rendering parameters.

Every lesion draws from its own random stream, derived only from
``(seed, lesion_id)``, so a lesion renders identically whatever other lesions
are rendered and in whatever order; scanner-level parameters (PSF, plaque HU
shift) are fixed per scan by a hash of the scan id.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["hash_ints", "lesion_rng", "scan_params"]


def hash_ints(*parts) -> list[int]:
    """Two 64-bit integers from a BLAKE2b hash of ``parts`` (stable across runs and platforms).

    Examples
    --------
    >>> hash_ints("lesion", "L0000001") == hash_ints("lesion", "L0000001")
    True
    """
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=16).digest()
    return [int.from_bytes(h[:8], "little"), int.from_bytes(h[8:], "little")]


def _unit_hash(*parts) -> float:
    """A deterministic number in [0, 1) from ``parts`` (stable across runs and platforms)."""
    return hash_ints(*parts)[0] / 2.0**64


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
    return np.random.default_rng([int(seed), int(stream), *hash_ints("lesion", lesion_id)])


def scan_params(scan_row) -> dict:
    """Scanner-level rendering parameters, fixed per scan (same for all its lesions).

    Examples
    --------
    >>> sp = scan_params({"scan_id": "S1", "pixel_spacing_mm": 0.7, "lumen_hu_mean": 400, "noise_sd_hu": 25})
    >>> sp["spacing_xy"], bool(0.6 <= sp["fwhm_xy"] <= 1.0)
    (0.5, True)
    """
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

