"""The random streams of the synthetic images and the scanner-level rendering parameters.

Every lesion draws from its own random stream, derived only from
``(seed, lesion_id)``, so a lesion renders identically whatever other lesions
are rendered and in whatever order; scanner-level parameters (PSF jitter, plaque HU
shift; :func:`~radiorisk.datasets._scanner.scan_params`) are fixed per scan by a
hash of the scan id.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["hash_ints", "lesion_rng"]


def hash_ints(*parts) -> list[int]:
    """Two 64-bit integers from a BLAKE2b hash of ``parts`` (stable across runs and platforms).

    Examples
    --------
    >>> hash_ints("lesion", "L0000001") == hash_ints("lesion", "L0000001")
    True
    """
    h = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=16).digest()
    return [int.from_bytes(h[:8], "little"), int.from_bytes(h[8:], "little")]


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
