"""Radiomics of a fit run: read a features table, or extract it into a private store and copy it pseudonymised.

The engine's store records absolute image paths and raw ids, so a pseudonymised run
extracts into ``radiomics_cache`` (or a temporary store) and ``RUN/radiomics/`` receives
pseudonymised copies: ``features.parquet`` (long), ``features.failures.csv`` and
``features.provenance.json``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._files import atomic_write, atomic_write_csv
from ..exceptions import InputFileError
from ..imaging import extract_radiomics, read_manifest_for_extraction, to_long
from ..privacy import ID_COLUMNS, Pseudonymiser
from ._provenance import write_json

__all__ = ["read_features", "extract_run_radiomics", "write_radiomics"]


def read_features(path: Path) -> pd.DataFrame:
    """A radiomics table (``radiorisk extract`` output, long or wide, Parquet or CSV), checked."""
    if not path.is_file():
        raise InputFileError(f"features {path}: no such file")
    try:
        if path.suffix.lower() == ".csv":
            df = pd.read_csv(path)
        else:
            df = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types
        raise InputFileError(f"features {path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if "patient_id" not in df.columns and df.index.name != "patient_id":
        raise InputFileError(f"features {path}: no 'patient_id' column; expected the radiomics table "
                             "of `radiorisk extract` (long or wide) or one row per patient")
    return df


def extract_run_radiomics(cohort, out: Path, pz: Pseudonymiser, *, params: str, cache, jobs: int,
                          allow_outside_root: bool, progress=None):
    """Extract the cohort's radiomics for a run; ``out/radiomics/`` gets the (pseudonymised) tables.

    Returns
    -------
    ExtractionResult
        With raw ids (the computation runs on them in memory).
    """
    (out / "radiomics").mkdir(exist_ok=True)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        store = cache / "features.parquet"
    elif pz.raw:
        store = out / "radiomics" / "features.parquet"
    else:
        store = None  # a temporary store: the engine's store records raw ids and image paths
    manifest = cohort.files["manifest"]
    if allow_outside_root:  # checked and resolved here; extract_radiomics takes the frame as given
        manifest = read_manifest_for_extraction(manifest, allow_outside_root=True)
    res = extract_radiomics(manifest, params=params, out=store, jobs=jobs, progress=progress or False)
    if store is None or store.parent != out / "radiomics":
        write_radiomics(out / "radiomics", res, pz, cohort.files["manifest"],
                        allow_outside_root=allow_outside_root)
    return res


def _scrubbed_failures(res, pz: Pseudonymiser, man: pd.DataFrame, root: Path) -> pd.DataFrame:
    def rel(p: str) -> str:
        try:
            return Path(p).relative_to(root).as_posix()
        except ValueError:
            return str(p)

    paths = {p: pz([rel(p)])[0] for p in pd.unique(pd.concat([man["image_path"], man["mask_path"]]))}
    ids = [str(v) for c in ID_COLUMNS for v in man[c].dropna().unique() if str(v)]
    fails = pz.frame(res.failures)
    if len(fails):
        reasons = []
        for reason in fails["reason"].astype(str):
            for p in sorted(paths, key=len, reverse=True):
                reason = reason.replace(p, paths[p]).replace(rel(p), paths[p])
            reasons.append(pz.scrub_text(reason, ids))
        fails["reason"] = reasons
        fails["image_path"] = [paths.get(p, pz([rel(p)])[0]) for p in fails["image_path"].astype(str)]
    return fails


def write_radiomics(folder: Path, res, pz: Pseudonymiser, manifest, *, allow_outside_root: bool = False) -> None:
    """Pseudonymised copies of an extraction: ``features.parquet`` (long), failures and provenance.

    Image paths in the failures become pseudonyms of the path as written in the
    manifest (relative to its folder); paths and ids in the reasons are replaced too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    man = read_manifest_for_extraction(manifest, allow_outside_root=allow_outside_root)
    fails = _scrubbed_failures(res, pz, man, Path(manifest).parent)
    feats = pz.frame(res.features)
    atomic_write(folder / "features.parquet", lambda tmp: to_long(feats).to_parquet(tmp, index=False))
    atomic_write_csv(folder / "features.failures.csv", fails, float_format="%.10g")
    prov = {**res.provenance, "identifiers": pz.provenance(),
            "store": "a private store outside the run folder (raw ids and image paths are not copied)"}
    write_json(folder / "features.provenance.json", prov, default=str)
