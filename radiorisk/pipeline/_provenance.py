"""Provenance and identifiers of a pipeline run: versions, digests, the id key, JSON writing."""

from __future__ import annotations

import importlib.metadata as md
import json
import platform
import time
from pathlib import Path

import numpy as np

from .. import __version__
from .._files import atomic_write_text, sha256_file
from ..exceptions import FitUsageError
from ..privacy import IdKeyError, Pseudonymiser
from ..privacy import cohort_ids as _cohort_ids

__all__ = ["versions", "write_json", "fit_provenance", "pseudonymiser", "inside", "cohort_ids"]

_PACKAGES = ("numpy", "pandas", "scipy", "scikit-learn", "scikit-survival", "xgboost", "lifelines",
             "joblib", "pyradiomics-bhklab")
#: Every table whose ids a run's statements could mention.
_ID_TABLES = ("patients", "scans", "lesions", "pet", "outcomes", "manifest")


def versions() -> dict:
    """radiorisk, Python and the versions of the packages a result depends on (None: not installed).

    Examples
    --------
    >>> versions()["radiorisk"] == __version__
    True
    """
    out = {"radiorisk": __version__, "python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_json(path: Path, obj, *, default=_json_default) -> None:
    """Write ``obj`` as indented JSON (numpy scalars and paths allowed), atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, default=default) + "\n")


def cohort_ids(cohort) -> list[str]:
    """Every id of every table of a cohort (what a pseudonymised run's statements must not carry)."""
    return _cohort_ids(cohort, tables=_ID_TABLES)


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` lies inside ``folder`` (both resolved)."""
    try:
        Path(path).expanduser().resolve().relative_to(Path(folder).resolve())
    except ValueError:
        return False
    return True


def pseudonymiser(id_key, id_key_file, raw_ids: bool, out: Path) -> Pseudonymiser:
    """Resolve the id key (or the ``raw_ids`` opt-out); the key file must lie outside ``out``."""
    if isinstance(id_key, Pseudonymiser):
        if id_key_file is not None or raw_ids:
            raise FitUsageError("give a Pseudonymiser, or id_key_file/raw_ids, not both")
        return id_key
    if id_key_file is not None and inside(Path(id_key_file), out):
        raise FitUsageError(f"id_key_file {id_key_file}: the key must stay outside the outputs "
                            f"(out {out})")
    try:
        pz = Pseudonymiser.from_options(key=id_key, key_file=id_key_file, raw_ids=raw_ids)
    except IdKeyError as exc:
        raise FitUsageError(str(exc)) from exc
    if pz.key_path is not None and inside(pz.key_path, out):
        raise FitUsageError(f"the id key file {pz.key_path} lies inside out {out}; the key must stay "
                            "outside the outputs (set RADIORISK_ID_KEY or id_key_file)")
    return pz


def fit_provenance(*, argv, seed, configuration, inputs, data, blocks, final_info, cv, pz, notes, files,
                   timings) -> dict:
    """The ``provenance.json`` of a ``radiorisk fit`` run (everything but patient data)."""
    return {
        "command": "radiorisk fit",
        "argv": list(argv) if argv is not None else None,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": versions(),
        "seed": int(seed),
        "configuration": configuration,
        "inputs_sha256": {name: {"path": str(p), "sha256": sha256_file(p)}
                          for name, p in sorted(inputs.items())},
        "cohort": {"n_patients": data.n, "n_events": int(data.event.sum()),
                   "pet_available": int(data.pet_available.sum()),
                   "columns": {b: list(data.blocks[b]) for b in blocks}},
        "final_model": dict(final_info.items()),
        "search_per_fold": None if cv.search is None else cv.search.to_dict(orient="records"),
        "identifiers": pz.provenance(),
        "statements": list(notes),
        "outputs": {k: str(v.name) for k, v in files.items()},
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
    }
