"""The resumable feature store of :func:`~radiorisk.imaging.extract_radiomics`.

One Parquet part per image (features and failures of all its lesions), each
written atomically with the fingerprint of its unit of work in its metadata;
``store.json`` lists the parts with their rows and SHA-256; ``store.json.lock``
keeps a second run out.  The consistency rules are listed in
:mod:`radiorisk.imaging._engine`.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
from pathlib import Path

import filelock
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._files import atomic_write, atomic_write_text, os_error, sha256_file
from ..exceptions import RadioriskError

ID_COLUMNS = ["lesion_id", "reader"]
LONG_ID_COLUMNS = ["patient_id", "scan_id", "lesion_id", "reader"]
FAILURE_COLUMNS = ["lesion_id", "reader", "image_path", "stage", "reason"]
STORE_VERSION = 2
_PART_META_KEY = b"radiorisk"
#: appended to every error of the store: what is kept and how to go on
RESUME_HINT = ("Finished images are kept in the store; re-running the same command resumes "
               "once this is fixed")


def store_error(exc: OSError, path, action: str = "write to") -> RadioriskError:
    """:func:`radiorisk._files.os_error` with the store's resume hint."""
    return os_error(exc, path, action, hint=RESUME_HINT)


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """Wide feature table (one row per lesion and reader) to long format.

    Examples
    --------
    >>> w = pd.DataFrame({"patient_id": ["P1"], "scan_id": ["S1"], "lesion_id": ["L1"], "reader": ["r1"],
    ...                   "n_voxels": [10], "original_firstorder_Mean": [1.5]})
    >>> to_long(w).columns.tolist()
    ['patient_id', 'scan_id', 'lesion_id', 'reader', 'feature', 'value']
    """
    # DataFrame.melt's rows (feature by feature, lesions in order within each), built from arrays:
    # melt takes each column apart (1,000+ columns: most of the time of writing the outputs)
    feature_cols = [c for c in wide.columns if c not in LONG_ID_COLUMNS and c != "n_voxels"]
    kind = dict(zip(wide.columns, (dt.kind for dt in wide.dtypes), strict=True))  # not wide[c]: 50 ms
    if not wide.columns.is_unique or not all(kind[c] == "f" for c in feature_cols):
        long = wide.melt(id_vars=LONG_ID_COLUMNS, value_vars=feature_cols, var_name="feature", value_name="value")
        return long.reset_index(drop=True)  # not a table of float features: melt's own dtypes
    n, k = len(wide), len(feature_cols)
    out = {c: np.tile(wide[c].to_numpy(), k) for c in LONG_ID_COLUMNS}
    out["feature"] = np.repeat(np.array(feature_cols, dtype=object), n)
    values = wide[feature_cols].to_numpy(dtype=float) if k else np.empty((n, 0))
    out["value"] = values.T.reshape(-1)
    return pd.DataFrame(out, columns=[*LONG_ID_COLUMNS, "feature", "value"])


def store_paths(out: Path) -> dict[str, Path]:
    """The outputs beside ``out`` and the store folder.

    Examples
    --------
    >>> {k: v.name for k, v in store_paths(Path("f.parquet")).items()}["store"]
    'f.parquet.parts'
    """
    base = out.name[: -len(".parquet")] if out.name.endswith(".parquet") else out.name
    return {
        "features": out,
        "wide": out.with_name(base + ".wide.parquet"),
        "failures": out.with_name(base + ".failures.csv"),
        "provenance": out.with_name(base + ".provenance.json"),
        "store": out.with_name(out.name + ".parts"),
    }


def part_name(image_path: str) -> str:
    """The part file of an image: ``part-`` and 20 hex digits of the SHA-1 of its path."""
    return "part-" + hashlib.sha1(image_path.encode()).hexdigest()[:20] + ".parquet"


# --------------------------------------------------------------------------- parts


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """A part's frame as an Arrow table, one array per column (NaN and None as nulls), no pandas metadata.

    ``pa.Table.from_pandas`` spends about 25 µs per column on dtype checks and on the pandas
    metadata (a 200 kB JSON for a part's ~1,130 columns, parsed again by every read), and taking
    the columns one by one from a new frame ~17 µs each: the float64 columns are taken as one 2-D
    block instead, 5 ms a part against 30 ms.  Reading the part back gives the frame that a
    ``from_pandas`` part gives, dtypes included (float64, int64, object strings and all-null
    object columns; a hypothesis test, ``tests/imaging/test_store_parts.py``), and parts written
    either way are read alike.

    Examples
    --------
    >>> t = arrow_table(pd.DataFrame({"lesion_id": ["L1", "L2"], "x": [1.5, np.nan], "n": [3, 4]}))
    >>> [str(f.type) for f in t.schema], t.column("x").null_count
    (['string', 'double', 'int64'], 1)
    """
    arrays: list = [None] * frame.shape[1]
    is_float = np.array([dt == np.float64 for dt in frame.dtypes.to_numpy()], dtype=bool)
    floats = np.flatnonzero(is_float)
    if floats.size:  # the features: one block, one contiguous row per column
        block = np.ascontiguousarray(frame.iloc[:, floats].to_numpy(dtype=np.float64).T)
        for j, values in zip(floats, block, strict=True):
            arrays[j] = pa.array(values, from_pandas=True)
    for j in np.flatnonzero(~is_float):  # identifiers, voxel counts, failure reasons
        arrays[j] = pa.array(frame.iloc[:, j].to_numpy(), from_pandas=True)
    return pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])


def write_part(path: Path, part: dict, *, write_table, fingerprint: str = "", image_path: str = "") -> dict:
    """Write features and failures of one image into one Parquet file, atomically.

    ``write_table(arrow_table, tmp_path)`` does the low-level write.  Returns
    the store entry of the part: ``file, rows, sha256, fingerprint``, and under ``_rows`` the
    part's rows as :func:`read_part` reads them from the file (converted from the table just
    written: 3 ms against 25 ms for reading ~1,130 Parquet columns back; equal, tested); the
    caller takes ``_rows`` out before the entry goes into ``store.json``.
    """
    feats, fails = part["features"], part["failures"]
    feats = feats.assign(_kind="features")
    fails = fails.assign(_kind="failure")
    table = pd.concat([feats, fails], ignore_index=True, sort=False)
    for col in ("lesion_id", "reader"):  # column by column: a frame-wide astype walks all ~1,100 columns
        table[col] = table[col].astype(str)
    arrow = arrow_table(table).replace_schema_metadata({_PART_META_KEY: json.dumps(
        {"fingerprint": fingerprint, "image_path": image_path, "store_version": STORE_VERSION}).encode()})
    digest = {}

    def write(tmp: Path) -> None:
        write_table(arrow, tmp)
        digest["sha256"] = sha256_file(tmp)

    atomic_write(path, write, where=path.parent, hint=RESUME_HINT)
    return {"file": path.name, "rows": int(len(table)), "sha256": digest["sha256"],
            "fingerprint": fingerprint, "_rows": arrow.to_pandas()}


def task_fingerprint(task: dict) -> str:
    """SHA-256 of everything that determines the content of an image's part."""
    doc = {
        "store_version": STORE_VERSION,
        "params_sha256": task["params_sha256"],
        "image_path": task["image_path"],
        "crop": bool(task["crop"]),
        "crop_engine": task.get("crop_engine", 1),
        "lesions": [[str(les["lesion_id"]), str(les["reader"]), str(les["mask_path"]),
                     [int(x) for x in les["labels"]]] for les in task["lesions"]],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def verified_part(path: Path, fingerprint: str, listed: dict | None) -> dict | None:
    """The store entry of an existing part when it is whole and made for this unit of work, else None."""
    try:
        sha = sha256_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise store_error(exc, path, "read") from None
    if listed and listed.get("sha256") == sha and listed.get("fingerprint") == fingerprint:
        return dict(listed)
    try:
        meta = pq.read_metadata(path)
        doc = json.loads((meta.metadata or {}).get(_PART_META_KEY, b"{}"))
    except (pa.ArrowException, ValueError, OSError):
        return None  # truncated or not a part: redo it
    if not fingerprint or doc.get("fingerprint") != fingerprint:
        return None
    return {"file": path.name, "rows": int(meta.num_rows), "sha256": sha, "fingerprint": fingerprint}


def drop_part(part: Path, store: Path) -> None:
    """Remove a stale or damaged part so that its image is redone."""
    try:
        part.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise store_error(exc, store) from None


# --------------------------------------------------------------------------- store.json, lock, orphans


def read_store_meta(meta_file: Path) -> dict | None:
    """The parsed ``store.json``, or None when it is missing or unreadable."""
    try:
        text = meta_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise store_error(exc, meta_file, "read") from None
    try:
        old = json.loads(text)
    except ValueError:
        return None  # unreadable: every part is checked by its own fingerprint instead
    return old if isinstance(old, dict) else None


def write_store_meta(meta_file: Path, store_meta: dict) -> None:
    """Replace ``store.json`` atomically."""
    atomic_write_text(meta_file, json.dumps(store_meta, indent=2) + "\n", hint=RESUME_HINT)


@contextlib.contextmanager
def store_lock(store: Path):
    """Hold a lock on the store (``store.json.lock``) so that two runs never write it at once.

    The lock is released when the block ends or the process dies.
    """
    lock = filelock.FileLock(store / "store.json.lock", timeout=0, mode=0o644)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise RadioriskError(
            f"another radiorisk extraction is writing to the store {store}; wait for it to finish "
            "or use another --out"
        ) from None
    except OSError as exc:
        raise store_error(exc, store) from None
    try:
        yield
    finally:
        lock.release()


def remove_orphans(store: Path, outputs) -> int:
    """Remove temporary files left by a killed run (never whole parts); returns how many."""
    patterns = [(store, "part-*.parquet.tmp-*"), (store, "store.json.tmp-*")]
    patterns += [(o.parent, glob.escape(o.name) + ".tmp-*") for o in outputs]
    n = 0
    for folder, pattern in patterns:
        for f in folder.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
                n += 1
    return n


# --------------------------------------------------------------------------- consolidation


def read_part(store: Path, name: str) -> pd.DataFrame:
    """The rows of one part (RadioriskError naming the file if it cannot be read)."""
    f = store / name
    try:
        return pd.read_parquet(f)
    except OSError as exc:
        raise store_error(exc, f, "read") from None


def read_parts(store: Path, files: list[str], read: dict | None = None) -> pd.DataFrame:
    """All rows of the given parts, in the given order.

    ``read`` maps part files to their rows as :func:`read_part` reads them, known already (the
    ``_rows`` of the parts this run wrote); the others are read now.
    """
    read = read or {}
    parts = [read[name] if name in read else read_part(store, name) for name in files]
    return pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame(columns=["_kind"])


def _in_manifest_order(frame: pd.DataFrame, order: dict) -> pd.DataFrame:
    if len(frame):
        keys = zip(frame["lesion_id"], frame["reader"], strict=False)
        frame = frame.iloc[np.argsort([order[k] for k in keys], kind="stable")]
    return frame.reset_index(drop=True)


def split_rows(allp: pd.DataFrame, man: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The wide feature table and the failures of the parts' rows, both in manifest order."""
    order = {k: i for i, k in enumerate(zip(man["lesion_id"], man["reader"], strict=False))}
    feats = allp[allp["_kind"] == "features"].drop(columns=["_kind", "stage", "reason", "image_path"],
                                                   errors="ignore")
    fails = allp[allp["_kind"] == "failure"][FAILURE_COLUMNS] if len(allp) and "stage" in allp else \
        pd.DataFrame(columns=FAILURE_COLUMNS)
    # columns that no lesion has (e.g. every lesion failed) go; the id columns always stay
    present = feats.notna().any(axis=0)
    keep = [c for c in feats.columns if c in ID_COLUMNS or present[c]]
    feats = feats[keep]
    for c in ID_COLUMNS:
        if c not in feats.columns:
            feats[c] = pd.Series(dtype=object)
    feats = _in_manifest_order(feats, order)
    fails = _in_manifest_order(fails, order)
    ids = man[["patient_id", "scan_id", "lesion_id", "reader"]]
    feats = ids.merge(feats, on=ID_COLUMNS, how="inner", validate="one_to_one")
    return feats, fails


def _write_frame(frame: pd.DataFrame, path) -> None:
    """``frame.to_parquet(path, index=False)``, byte for byte, converted in this thread.

    pandas lets pyarrow convert a long frame (rows > 100 x columns) in a new pool of threads, one
    per core, that is started and joined for each call (25 ms of the outputs of a 3-second
    ``extract``) and saves nothing on a table of six columns; the file is the same.
    """
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False, nthreads=1), path, compression="snappy")


def write_outputs(paths: dict[str, Path], feats: pd.DataFrame, fails: pd.DataFrame, provenance_text: str) -> None:
    """Write the long and wide tables, the failures and the provenance, each atomically."""
    # the wide table converted as the parts are (arrow_table: ~1,130 columns, 30 ms less than
    # pandas' conversion), written with Parquet's defaults (statistics and dictionaries, for readers)
    atomic_write(paths["wide"], lambda tmp: pq.write_table(arrow_table(feats), tmp), hint=RESUME_HINT)
    atomic_write(paths["features"], lambda tmp: _write_frame(to_long(feats), tmp), hint=RESUME_HINT)
    atomic_write(paths["failures"], lambda tmp: fails.to_csv(tmp, index=False, lineterminator="\n"),
                 hint=RESUME_HINT)
    atomic_write_text(paths["provenance"], provenance_text, hint=RESUME_HINT)
