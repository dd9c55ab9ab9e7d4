"""Batch radiomics engine: one image load per image, crop per lesion, parallel, resumable.

Store layout for ``out = "features.parquet"``::

    features.parquet                 long table: patient_id, scan_id, lesion_id, reader, feature, value
    features.wide.parquet            wide view, one row per (lesion_id, reader)
    features.failures.csv            one row per failed lesion: lesion_id, reader, image_path, stage, reason
    features.provenance.json         engine and package versions, preset name, hash and settings
    features.parquet.parts/          the store: one Parquet part per finished image, and store.json
                                     (parameters hash; when complete, each part with its rows and SHA-256)

Each image is one unit of work.  Its part (features and failures of all its
lesions) is written to a temporary file and renamed into place, so a crash,
SIGKILL or Ctrl-C leaves only whole parts; a re-run skips images whose part
exists and never duplicates rows.

Consistency rules of the store (checked by ``tests/test_faults.py``):

- a part is only ever visible whole: written to ``part-*.parquet.tmp-*``,
  fsynced, then renamed; orphaned temporary files of a killed run are removed
  when the next run starts;
- each part carries a fingerprint of its unit of work (parameters hash, image,
  its lesions, masks and labels, crop) in its Parquet metadata; a re-run adopts a
  part only when the fingerprint matches, and redoes it otherwise (a changed
  manifest therefore never leaves stale rows);
- ``store.json`` is replaced atomically; every part it lists exists with the
  listed SHA-256 (it is updated as parts finish, and ``complete`` is true once
  every image of the manifest has its part);
- one run at a time writes a store (an advisory lock on ``store.json.lock``);
- an output that cannot be written (permission, disk full) raises
  :class:`~radiorisk.exceptions.RadioriskError` naming the path and the OS
  error; the finished parts stay and a later run resumes from them.
"""

from __future__ import annotations

import contextlib
import copy
import glob
import hashlib
import json
import logging
import os
import platform
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..exceptions import ImageError, RadioriskError
from ._crop import crop_and_resample, crop_labels, crop_margin_mm, label_boxes, needs_own_resampling
from ._params import RadiomicsParams, load_params

__all__ = ["ExtractionResult", "extract_radiomics", "read_manifest_for_extraction"]

ID_COLUMNS = ["lesion_id", "reader"]
LONG_ID_COLUMNS = ["patient_id", "scan_id", "lesion_id", "reader"]
FAILURE_COLUMNS = ["lesion_id", "reader", "image_path", "stage", "reason"]
_STORE_VERSION = 2
_PART_META_KEY = b"radiorisk"


@dataclass(frozen=True)
class ExtractionResult:
    """Outcome of :func:`extract_radiomics`.

    Attributes
    ----------
    features : DataFrame
        The wide view: one row per successfully extracted (lesion_id, reader)
        with ``patient_id, scan_id, lesion_id, reader, n_voxels`` and feature
        columns named as pyradiomics names them (``original_firstorder_Mean``, ...).
        No NaN: a lesion with any non-finite feature is a failure instead.
        :meth:`to_long` gives the long format.
    failures : DataFrame
        ``lesion_id, reader, image_path, stage, reason`` for each failed lesion.
    provenance : dict
        Versions, preset, parameter hash, settings, timing.
    path : Path or None
        Where the features table was written.
    n_images, n_images_skipped : int
        Images in the manifest, and images whose part already existed (resume).
    seconds : float
        Wall time of this call.
    """

    features: pd.DataFrame = field(repr=False)
    failures: pd.DataFrame = field(repr=False)
    provenance: dict = field(repr=False)
    path: Path | None
    n_images: int
    n_images_skipped: int
    seconds: float

    @property
    def ok(self) -> bool:
        """True when no lesion failed."""
        return len(self.failures) == 0

    def to_long(self) -> pd.DataFrame:
        """Long format: ``patient_id, scan_id, lesion_id, reader, feature, value``."""
        return to_long(self.features)

    def summary(self) -> str:
        """One line for the command line."""
        return (
            f"radiomics: {len(self.features)} lesions extracted, {len(self.failures)} failed, "
            f"{self.n_images} images ({self.n_images_skipped} already done) in {self.seconds:.1f} s"
            + (f"; features in {self.path}" if self.path else "")
        )


# --------------------------------------------------------------------------- manifest


def read_manifest_for_extraction(manifest, *, allow_outside_root: bool = False, root=None) -> pd.DataFrame:
    """Manifest rows with absolute image and mask paths and a ``reader`` column.

    The manifest is checked like ``radiorisk validate`` checks it (file
    encoding and format, required columns and cells, label lists, reader
    names, duplicated ``(lesion_id, reader)``), and every problem is reported
    at once with its row, column, value and rule.  Image and mask paths must
    stay inside the data root, the manifest's folder: a path that leads outside
    it (``../``, an absolute path elsewhere, or a symbolic link to elsewhere)
    is refused unless ``allow_outside_root``.

    Parameters
    ----------
    manifest : str, Path or DataFrame
        A manifest CSV/Parquet (paths relative to its folder) or a DataFrame
        with absolute paths (or paths relative to ``root``, default the working
        directory).  A DataFrame returned by this function is accepted as is.
    allow_outside_root : bool, default False
        Accept image/mask paths that lead outside the data root.
    root : str or Path, optional
        The data root of a DataFrame manifest.  Without it an in-memory
        manifest's paths are taken as given (the caller built them) and not
        confined; with it they are confined to ``root`` like a file's.

    Returns
    -------
    DataFrame
        ``patient_id, scan_id, lesion_id, reader, image_path, mask_path, labels``
        (labels: tuple of int; empty ids when the manifest has none).

    Raises
    ------
    InputFileError
        The manifest file is missing, empty, has no rows, or is not UTF-8
        comma-separated CSV / valid Parquet.
    SchemaError
        Cells or paths break a rule; ``exc.report`` lists every violation
        (rules ``missing_column``, ``required``, ``pattern``, ``unique``,
        ``minimum``, ``path_outside_root``, ...).
    """
    import dataclasses

    from ..exceptions import InputFileError, SchemaError
    from ..io._columns import check_table
    from ..io._imagecheck import check_paths
    from ..io._read import RawTable, read_raw
    from ..io._report import Collector
    from ..schemas import load_schema

    base = load_schema("manifest")
    needed = ("lesion_id", "image_path", "mask_path", "label")
    schema = dataclasses.replace(base, fields=tuple(
        f if f.name in needed or not f.required else dataclasses.replace(f, required=False)
        for f in base.fields))
    col = Collector()
    if isinstance(manifest, pd.DataFrame):
        df = manifest.copy()
        if "labels" in df.columns and "label" not in df.columns:  # our own output, passed back in
            df["label"] = [",".join(str(int(x)) for x in v) if isinstance(v, (tuple, list)) else v
                           for v in df["labels"]]
            df = df.drop(columns=["labels"])
        for c in df.columns:  # in-memory values (Path, int, float labels) as the text a file would hold
            if df[c].dtype == object or not pd.api.types.is_string_dtype(df[c].dtype):
                df[c] = [v if isinstance(v, str) or v is None or (isinstance(v, float) and v != v)
                         else str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer()
                         else str(v) for v in df[c]]
        src = "manifest (DataFrame)"
        data_root = Path(root) if root is not None else None
        base_dir = data_root if data_root is not None else Path.cwd()
        col.files["manifest"] = src
        raw = RawTable("manifest", None, df.reset_index(drop=True))
    else:
        path = Path(manifest)
        if not path.is_file():
            raise InputFileError(f"manifest {path} does not exist" if not path.exists()
                                 else f"manifest {path} is not a file")
        src = str(path)
        data_root = base_dir = path.parent
        raw = read_raw(path, schema, col)
        if raw.frame is None:
            raise InputFileError(f"manifest {path} cannot be read: "
                                 + "; ".join(col.frame()["message"].astype(str)))
    typed, _, _ = check_table(raw, schema, col, allow_extra_columns=True)
    if "label" in typed:  # label 0 is the background: never a lesion
        for pos, v in enumerate(typed["label"].tolist()):
            if isinstance(v, str) and any(x.strip() and int(x) == 0 for x in v.split(",")
                                          if x.strip().isdigit()):
                col.add("manifest", "minimum", f"label {v!r} includes 0, the background; lesion "
                        "labels are 1 or more", row=pos + 1, column="label", value=v)
    if data_root is not None and len(typed):
        check_paths(typed, base=data_root, col=col, allow_outside_root=allow_outside_root)
    if col.n_errors:
        report = col.report(src, {"manifest": len(typed)}, images_checked=False)
        raise SchemaError(f"{src} is not a valid manifest:\n{report.format(max_lines=20)}", report)
    if len(typed) == 0:
        raise InputFileError(f"{src} has no rows: nothing to extract or measure")

    def absolute(p) -> str:
        q = Path(str(p).strip())
        return str(q if q.is_absolute() else (base_dir / q))

    def ids(c):
        return typed[c].fillna("").astype(str) if c in typed else ""

    out = pd.DataFrame(
        {
            "patient_id": ids("patient_id"),
            "scan_id": ids("scan_id"),
            "lesion_id": typed["lesion_id"].astype(str),
            "reader": typed["reader"].astype(str),
            "image_path": typed["image_path"].map(absolute),
            "mask_path": typed["mask_path"].map(absolute),
        }
    )
    out["labels"] = [tuple(int(x) for x in str(v).split(",")) for v in typed["label"]]
    return out.reset_index(drop=True)


def to_long(wide: pd.DataFrame) -> pd.DataFrame:
    """Wide feature table (one row per lesion and reader) to long format.

    Examples
    --------
    >>> w = pd.DataFrame({"patient_id": ["P1"], "scan_id": ["S1"], "lesion_id": ["L1"], "reader": ["r1"],
    ...                   "n_voxels": [10], "original_firstorder_Mean": [1.5]})
    >>> to_long(w).columns.tolist()
    ['patient_id', 'scan_id', 'lesion_id', 'reader', 'feature', 'value']
    """
    feature_cols = [c for c in wide.columns if c not in LONG_ID_COLUMNS and c != "n_voxels"]
    long = wide.melt(id_vars=LONG_ID_COLUMNS, value_vars=feature_cols, var_name="feature", value_name="value")
    return long.reset_index(drop=True)


# --------------------------------------------------------------------------- worker


@contextlib.contextmanager
def _quiet_radiomics():
    import radiomics  # noqa: F401  (its import sets the logger's level: import first, then quieten)

    logger = logging.getLogger("radiomics")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _part_name(image_path: str) -> str:
    return "part-" + hashlib.sha1(image_path.encode()).hexdigest()[:20] + ".parquet"


def _extract_one_image(task: dict) -> str:
    """Worker: extract every lesion of one image, write its part atomically, return the part path."""
    import SimpleITK as sitk

    from ._read import check_same_geometry, read_image

    if task.get("single_thread"):
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # worker process only
    params = RadiomicsParams(name=task["params_name"], params=task["params"], sha256=task["params_sha256"],
                             options=task.get("options") or {})
    rows, failures = [], []
    image_path = task["image_path"]

    def fail(lesion, stage, reason):
        failures.append({"lesion_id": lesion["lesion_id"], "reader": lesion["reader"],
                         "image_path": image_path, "stage": stage, "reason": reason})

    with _quiet_radiomics():
        try:
            image = read_image(image_path)
        except ImageError as exc:
            image = None
            for lesion in task["lesions"]:
                fail(lesion, "read_image", str(exc))
        if image is not None:
            extractor = params.extractor()
            settings = params.params.get("setting") or {}
            interpolator = settings.get("interpolator", "sitkBSpline")  # pyradiomics' default
            own_resampling = (task["crop"] and interpolator is not None
                              and needs_own_resampling(image, task["new_spacing"]))
            if own_resampling:  # radiorisk resamples onto pyradiomics' grid; pyradiomics must not again
                no_rs = copy.deepcopy(params.params)
                no_rs["setting"].pop("resampledPixelSpacing", None)
                extractor = RadiomicsParams(name=params.name, params=no_rs, sha256=params.sha256).extractor()
            masks: dict[str, object] = {}
            for lesion in task["lesions"]:
                try:
                    mp = lesion["mask_path"]
                    if mp not in masks:
                        try:
                            m = read_image(mp, what="mask")
                            check_same_geometry(image, m, image_path=image_path, mask_path=mp)
                            arr = sitk.GetArrayViewFromImage(m)
                            if not np.issubdtype(arr.dtype, np.integer):
                                raise ImageError(f"mask {mp} holds non-integer values ({arr.dtype}); "
                                                 "masks must be label maps")
                            arr = arr.copy()
                            del m  # keep one copy of the label map per worker
                            masks[mp] = (arr, label_boxes(arr))
                        except ImageError as exc:
                            masks[mp] = exc
                    entry = masks[mp]
                    if isinstance(entry, Exception):
                        fail(lesion, "read_mask", str(entry))
                        continue
                    arr, boxes = entry
                    try:
                        if own_resampling:
                            img_c, roi_c = crop_and_resample(
                                image, arr, lesion["labels"], boxes, margin_mm=task["margin_mm"],
                                new_spacing=task["new_spacing"], interpolator=interpolator,
                                pad_distance=float(settings.get("padDistance", 5)))
                        elif task["crop"]:
                            img_c, roi_c = crop_labels(image, arr, lesion["labels"], boxes,
                                                       margin_mm=task["margin_mm"],
                                                       new_spacing=task["new_spacing"])
                        else:
                            crop_labels(image, arr, lesion["labels"], boxes, margin_mm=0)  # presence check
                            img_c = image
                            roi_c = sitk.GetImageFromArray(np.isin(arr, lesion["labels"]).astype(np.uint8))
                            roi_c.CopyInformation(image)
                    except ValueError as exc:
                        fail(lesion, "mask", f"{exc} ({mp})")
                        continue
                    n_vox = int(sitk.GetArrayViewFromImage(roi_c).sum())
                    result = extractor.execute(img_c, roi_c, label=1)
                    feats = {k: v for k, v in result.items() if not k.startswith("diagnostics_")}
                    values = {k: float(np.asarray(v)) for k, v in feats.items()}
                    if params.options.get("ibsi_axis_correction"):
                        sp = task["new_spacing"] or img_c.GetSpacing()
                        values = ibsi_axis_correction(values, sp)
                    bad = [k for k, v in values.items() if not np.isfinite(v)]
                    if bad:
                        fail(lesion, "features", f"{len(bad)} feature(s) not finite, e.g. {bad[:3]}")
                        continue
                    rows.append({"lesion_id": lesion["lesion_id"], "reader": lesion["reader"],
                                 "n_voxels": n_vox, **values})
                except Exception as exc:  # one lesion must never stop the batch
                    reason = " ".join(str(exc).split())[:300] or type(exc).__name__
                    fail(lesion, "extract", f"{type(exc).__name__}: {reason}")

    feats = pd.DataFrame(rows)
    fails = pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    part = {"features": feats, "failures": fails}
    return _write_part(Path(task["part_path"]), part, fingerprint=task.get("fingerprint", ""),
                       image_path=image_path)


_AXES = ("MajorAxisLength", "MinorAxisLength", "LeastAxisLength")


def ibsi_axis_correction(features: dict, spacing) -> dict:
    """Rescale pyradiomics' axis lengths to IBSI's sample-covariance definition.

    pyradiomics takes the eigenvalues of the 1/N covariance of the ROI's voxel
    coordinates; IBSI uses 1/(N-1).  Each ``*_shape_{Major,Minor,Least}AxisLength``
    is multiplied by sqrt(N/(N-1)), with N = VoxelVolume / voxel volume (the
    shape features are computed on the resampled grid of ``spacing``).

    Examples
    --------
    >>> f = {"original_shape_VoxelVolume": 74 * 8.0, "original_shape_MinorAxisLength": 9.244904891192796}
    >>> round(float(ibsi_axis_correction(f, (2.0, 2.0, 2.0))["original_shape_MinorAxisLength"]), 3)
    9.308
    """
    out = dict(features)
    for key, vol in features.items():
        if not key.endswith("shape_VoxelVolume"):
            continue
        prefix = key[: -len("VoxelVolume")]
        n = round(float(vol) / float(np.prod(spacing)))
        if n > 1:
            f = np.sqrt(n / (n - 1.0))
            for ax in _AXES:
                if prefix + ax in out:
                    out[prefix + ax] = out[prefix + ax] * f
    return out


def _os_error(exc: OSError, path, action: str = "write to") -> RadioriskError:
    """A RadioriskError naming the path and the OS error, e.g. ``... Permission denied (errno 13)``."""
    code = exc.errno
    text = exc.strerror or (os.strerror(code) if code else str(exc)) or type(exc).__name__
    where = f" (errno {code})" if code else ""
    return RadioriskError(
        f"cannot {action} {path}: {text}{where}. Finished images are kept in the store; "
        "re-running the same command resumes once this is fixed"
    )


def _tmp_name(path: Path) -> Path:
    """A unique temporary name beside ``path`` (``NAME.tmp-PID-RANDOM``), renamed into place when whole."""
    return path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not possible on every platform / file system
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_parquet_file(table, path: Path) -> None:
    """Write an Arrow table to ``path`` (the single low-level writer of parts)."""
    import pyarrow.parquet as pq

    pq.write_table(table, path)


def _atomic_write(path: Path, write, *, where: Path | None = None) -> None:
    """Call ``write(tmp)`` then fsync and rename ``tmp`` onto ``path``; OSError -> RadioriskError.

    ``where`` is the path named in the error (default ``path``); the temporary
    file is removed when anything fails.
    """
    tmp = _tmp_name(path)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _os_error(exc, where or path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _write_part(path: Path, part: dict, *, fingerprint: str = "", image_path: str = "") -> dict:
    """Write features and failures of one image into one Parquet file, atomically.

    Returns the store entry of the part: ``file, rows, sha256, fingerprint``.
    """
    import pyarrow as pa

    feats, fails = part["features"], part["failures"]
    feats = feats.assign(_kind="features")
    fails = fails.assign(_kind="failure")
    table = pd.concat([feats, fails], ignore_index=True, sort=False)
    table = table.astype({"lesion_id": str, "reader": str})
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(arrow.schema.metadata or {})
    meta[_PART_META_KEY] = json.dumps({"fingerprint": fingerprint, "image_path": image_path,
                                       "store_version": _STORE_VERSION}).encode()
    arrow = arrow.replace_schema_metadata(meta)
    digest = {}

    def write(tmp: Path) -> None:
        _write_parquet_file(arrow, tmp)
        digest["sha256"] = hashlib.sha256(tmp.read_bytes()).hexdigest()

    _atomic_write(path, write, where=path.parent)
    return {"file": path.name, "rows": int(len(table)), "sha256": digest["sha256"],
            "fingerprint": fingerprint}


def _task_fingerprint(task: dict) -> str:
    """SHA-256 of everything that determines the content of an image's part."""
    doc = {
        "store_version": _STORE_VERSION,
        "params_sha256": task["params_sha256"],
        "image_path": task["image_path"],
        "crop": bool(task["crop"]),
        "lesions": [[str(les["lesion_id"]), str(les["reader"]), str(les["mask_path"]),
                     [int(x) for x in les["labels"]]] for les in task["lesions"]],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _verified_part(path: Path, fingerprint: str, listed: dict | None) -> dict | None:
    """The store entry of an existing part when it is whole and made for this unit of work, else None."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error(exc, path, "read") from None
    sha = hashlib.sha256(data).hexdigest()
    if listed and listed.get("sha256") == sha and listed.get("fingerprint") == fingerprint:
        return dict(listed)
    try:
        meta = pq.read_metadata(pa.BufferReader(data))
        doc = json.loads((meta.metadata or {}).get(_PART_META_KEY, b"{}"))
    except (pa.ArrowException, ValueError, OSError):
        return None  # truncated or not a part: redo it
    if not fingerprint or doc.get("fingerprint") != fingerprint:
        return None
    return {"file": path.name, "rows": int(meta.num_rows), "sha256": sha, "fingerprint": fingerprint}


# --------------------------------------------------------------------------- driver


def _store_paths(out: Path) -> dict[str, Path]:
    base = out.name[: -len(".parquet")] if out.name.endswith(".parquet") else out.name
    return {
        "features": out,
        "wide": out.with_name(base + ".wide.parquet"),
        "failures": out.with_name(base + ".failures.csv"),
        "provenance": out.with_name(base + ".provenance.json"),
        "store": out.with_name(out.name + ".parts"),
    }


def _versions() -> dict:
    import radiomics
    import SimpleITK as sitk

    return {
        "radiorisk": __version__,
        "pyradiomics": getattr(radiomics, "__version__", "unknown"),
        "SimpleITK": sitk.Version_VersionString(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def _atomic_write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def _store_lock(store: Path):
    """Hold an advisory lock on the store so that two runs never write it at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = store / "store.json.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise _os_error(exc, store) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RadioriskError(
                f"another radiorisk extraction is writing to the store {store}; wait for it to finish "
                "or use another --out"
            ) from None
        except OSError:  # a file system without locks: go on unlocked
            pass
        yield
    finally:
        os.close(fd)  # closing releases the lock (the kernel also releases it when a process dies)


def _remove_orphans(store: Path, outputs) -> int:
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


def _run_local(tasks: list[dict], jobs: int, on_done) -> None:
    if jobs <= 1:
        for t in tasks:
            on_done(_extract_one_image(t))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(_extract_one_image, {**t, "single_thread": True}) for t in tasks]
            try:
                for f in as_completed(futures):
                    on_done(f.result())
            except BaseException:
                for f in futures:  # stop at the first error: start nothing new, let running images finish
                    f.cancel()
                raise
    except BrokenProcessPool:
        raise RadioriskError(
            "a radiomics worker process died or could not start. In a Python script, call "
            "extract_radiomics(..., jobs>1) under `if __name__ == \"__main__\":` (worker processes "
            "are spawned and re-import the script), or use jobs=1. Finished images are kept in the "
            "store; re-running resumes."
        ) from None


def _run_dask(tasks: list[dict], client, scheduler, on_done, *, worker_timeout: float,
              retries: int = 3) -> None:
    """Run the tasks on a Dask cluster; tasks of a dead worker are rescheduled, errors retried.

    Raises RadioriskError when the scheduler cannot be reached, when the cluster
    has had no worker for ``worker_timeout`` seconds, or when an image kills its
    workers repeatedly; never waits forever.
    """
    try:
        from distributed import Client, KilledWorker, as_completed
    except ImportError:  # pragma: no cover - distributed is a dependency
        raise RadioriskError("a Dask scheduler needs dask[distributed]: pip install 'dask[distributed]'") from None

    own = client is None
    if own:
        try:
            client = Client(scheduler, set_as_default=False, timeout=max(5.0, min(60.0, worker_timeout)))
        except (OSError, TimeoutError) as exc:
            raise RadioriskError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") from None
    where = scheduler or getattr(client, "scheduler_address", None) or "the Dask client"
    run = uuid.uuid4().hex[:8]
    futures: list = []
    by_key: dict = {}
    try:
        for t in tasks:
            f = client.submit(_extract_one_image, {**t, "single_thread": True}, pure=False, retries=retries,
                              key=f"radiorisk-extract-{Path(t['part_path']).stem}-{run}")
            futures.append(f)
            by_key[f.key] = t["image_path"]
        from concurrent.futures import CancelledError

        # results are fetched by the client's event loop, never by a blocking f.result(): a result that
        # died with its worker is recomputed elsewhere, and without workers the timeout below applies
        ac = as_completed(futures, loop=client.loop, with_results=True)
        left = len(futures)
        no_workers_since = None
        last_check = time.monotonic()
        while left:
            done = ac.next_batch(block=False)
            for f, result in done:
                left -= 1
                exc = result[1] if isinstance(result, tuple) else result  # errors: (type, exc, tb)
                if isinstance(exc, KilledWorker):
                    raise RadioriskError(
                        f"the Dask workers extracting {by_key.get(f.key, f.key)} died repeatedly "
                        "(out of memory or a crash?); finished images are kept in the store"
                    ) from None
                if isinstance(exc, CancelledError):  # the scheduler restarted or forgot the task
                    raise RadioriskError(
                        f"the Dask scheduler at {where} cancelled the extraction ({exc}); re-run to resume"
                    ) from None
                if isinstance(exc, BaseException):
                    raise exc
                on_done(result)
            if done:
                no_workers_since = None
                continue
            time.sleep(0.05)
            if time.monotonic() - last_check < 1.0:
                continue
            last_check = time.monotonic()
            try:
                n_workers = len(client.nthreads())
            except (OSError, TimeoutError) as exc:
                raise RadioriskError(f"lost the connection to the Dask scheduler at {where}: {exc}") from None
            if n_workers:
                no_workers_since = None
            elif no_workers_since is None:
                no_workers_since = time.monotonic()
            elif time.monotonic() - no_workers_since > worker_timeout:
                raise RadioriskError(
                    f"the Dask cluster at {where} has had no worker for {worker_timeout:g} s "
                    f"({left} image(s) left); start workers and re-run to resume"
                )
    finally:
        if futures:
            with contextlib.suppress(Exception):
                client.cancel([f for f in futures if not f.done()])
        if own:
            with contextlib.suppress(Exception):
                client.close()


def extract_radiomics(
    manifest,
    *,
    params="ccta-plaque",
    out=None,
    jobs: int = 1,
    scheduler: str | None = None,
    client=None,
    crop: bool = True,
    progress: bool = False,
    worker_timeout: float = 300.0,
) -> ExtractionResult:
    """Extract pyradiomics features for every lesion of a manifest.

    Each image is read once and all its lesions are extracted from it; each
    lesion is first cropped with a phase-preserving margin so that features
    equal pyradiomics on the uncropped image (see :mod:`radiorisk.imaging._crop`).
    Work is spread over local processes (``jobs``) or a Dask cluster
    (``scheduler`` address or ``client``).  With ``out`` the results are kept in
    a resumable store: re-running after an interruption skips finished images.

    Parameters
    ----------
    manifest : str, Path or DataFrame
        Manifest with ``lesion_id, image_path, mask_path, label`` (and optional ``reader``).
    params : str, Path, dict or RadiomicsParams
        Preset name (``"ccta-plaque"``, ``"ibsi"``), YAML path or parameter mapping.
    out : str or Path, optional
        Features table to write (``.parquet``); its store sits beside it.
        Without ``out`` a temporary store is used and nothing is kept.
    jobs : int
        Local worker processes (1 = in this process).
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``).
    client : distributed.Client, optional
        An existing Dask client (takes precedence over ``scheduler``).
    crop : bool
        Crop per lesion (default).  Turned off automatically when the
        parameters normalise the image (normalisation uses whole-image statistics).
    progress : bool
        Show a progress bar with ETA (tqdm).
    worker_timeout : float
        With Dask: give up (RadioriskError) when the cluster has had no worker
        for this many seconds.  Tasks of a worker that dies are rerun elsewhere.

    Returns
    -------
    ExtractionResult

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radiorisk.datasets import write_synthetic_cohort
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "c"
    >>> _ = write_synthetic_cohort(d, n=60, images=2, seed=3)
    >>> res = extract_radiomics(d / "manifest.csv", params={"imageType": {"Original": {}},
    ...     "featureClass": {"firstorder": None}, "setting": {"binWidth": 25}})
    >>> len(res.features), res.ok
    (2, True)
    """
    import tempfile

    t_start = time.perf_counter()
    p = params if isinstance(params, RadiomicsParams) else load_params(params)
    man = read_manifest_for_extraction(manifest)
    settings = p.settings
    if settings.get("normalize"):
        crop = False
    new_spacing = settings.get("resampledPixelSpacing")
    if new_spacing is not None and settings.get("interpolator") is None:
        settings["interpolator"] = "sitkBSpline"

    # absolute paths: Dask workers may run in another working directory
    man["image_path"] = man["image_path"].map(os.path.abspath)
    man["mask_path"] = man["mask_path"].map(os.path.abspath)

    tmpdir = None
    if out is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="radiorisk-extract-")
        out_path = Path(tmpdir.name) / "features.parquet"
    else:
        out_path = Path(out)
    paths = _store_paths(out_path)
    store = paths["store"]
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(exc, store) from None
    try:
        with _store_lock(store):
            return _extract_into_store(
                man, p, out_path=out_path, paths=paths, keep=out is not None, jobs=jobs,
                scheduler=scheduler, client=client, crop=crop, new_spacing=new_spacing,
                progress=progress, worker_timeout=worker_timeout, t_start=t_start,
            )
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


def _read_store_meta(meta_file: Path) -> dict | None:
    try:
        text = meta_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error(exc, meta_file, "read") from None
    try:
        old = json.loads(text)
    except ValueError:
        return None  # unreadable: every part is checked by its own fingerprint instead
    return old if isinstance(old, dict) else None


def _extract_into_store(man, p, *, out_path, paths, keep, jobs, scheduler, client, crop, new_spacing,
                        progress, worker_timeout, t_start) -> ExtractionResult:
    store = paths["store"]
    outputs = [paths[k] for k in ("features", "wide", "failures", "provenance")]
    _remove_orphans(store, outputs)
    meta_file = store / "store.json"
    old = _read_store_meta(meta_file)
    if old is not None and old.get("params_sha256") not in (None, p.sha256):
        raise RadioriskError(
            f"the store {store} was made with other radiomics parameters ({old.get('params_name')}); "
            "use another --out or delete the store to start afresh"
        )
    old_parts = (old or {}).get("parts") or {}
    store_meta = {"store_version": _STORE_VERSION, "params_sha256": p.sha256, "params_name": p.name,
                  "complete": False, "parts": {}}
    parts_meta = store_meta["parts"]

    tasks = []
    skipped = 0
    for image_path, grp in man.groupby("image_path", sort=False):
        part = store / _part_name(image_path)
        task = {
            "image_path": image_path,
            "lesions": grp[["lesion_id", "reader", "mask_path", "labels"]].to_dict("records"),
            "params": p.params, "params_name": p.name, "params_sha256": p.sha256, "options": p.options,
            "crop": crop, "margin_mm": crop_margin_mm(p.params), "new_spacing": new_spacing,
            "part_path": str(part.absolute()),
        }
        task["fingerprint"] = _task_fingerprint(task)
        if part.exists():
            entry = _verified_part(part, task["fingerprint"], old_parts.get(image_path))
            if entry is not None:
                parts_meta[image_path] = entry
                skipped += 1
                continue
            try:  # stale (other lesions or masks) or damaged: redo it
                part.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise _os_error(exc, store) from None
        tasks.append(task)
    n_images = man["image_path"].nunique()
    image_of = {_part_name(t["image_path"]): t["image_path"] for t in tasks}

    def save_meta() -> None:
        # order the parts as the manifest does, whatever the completion order
        ordered = {ip: parts_meta[ip] for ip in man["image_path"].unique() if ip in parts_meta}
        store_meta["parts"] = ordered
        _atomic_write_text(meta_file, json.dumps(store_meta, indent=2) + "\n")

    save_meta()  # now lists exactly the verified parts

    bar = None
    if progress and tasks:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), unit="image", desc="radiomics")
    last_save = [time.monotonic()]

    def on_done(entry: dict) -> None:
        parts_meta[image_of[entry["file"]]] = entry
        if time.monotonic() - last_save[0] > 1.0:
            save_meta()
            last_save[0] = time.monotonic()
        if bar is not None:
            bar.update(1)

    ok = False
    try:
        if client is not None or scheduler:
            _run_dask(tasks, client, scheduler, on_done, worker_timeout=worker_timeout)
        else:
            _run_local(tasks, max(1, int(jobs)), on_done)
        ok = True
    finally:
        if bar is not None:
            bar.close()
        if not ok:  # record what finished; the error in flight matters more than a failed save
            with contextlib.suppress(Exception):
                save_meta()

    # consolidate in manifest order: deterministic whatever jobs or completion order
    images = list(man["image_path"].unique())
    missing = [ip for ip in images if ip not in parts_meta]
    if missing:  # pragma: no cover - every task either wrote its part or raised
        raise RadioriskError(f"no part was written for {len(missing)} image(s), e.g. {missing[0]}")
    parts = []
    for ip in images:
        f = store / parts_meta[ip]["file"]
        try:
            parts.append(pd.read_parquet(f))
        except OSError as exc:
            raise _os_error(exc, f, "read") from None
    store_meta["complete"] = True
    save_meta()
    _remove_orphans(store, [])  # temporary files of workers that died during this run
    allp = pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame(columns=["_kind"])
    order = {k: i for i, k in enumerate(zip(man["lesion_id"], man["reader"], strict=False))}
    feats = allp[allp["_kind"] == "features"].drop(columns=["_kind", "stage", "reason", "image_path"],
                                                   errors="ignore")
    fails = allp[allp["_kind"] == "failure"][FAILURE_COLUMNS] if len(allp) and "stage" in allp else \
        pd.DataFrame(columns=FAILURE_COLUMNS)
    # columns that no lesion has (e.g. every lesion failed) go; the id columns always stay
    keep = [c for c in feats.columns if c in ID_COLUMNS or feats[c].notna().any()]
    feats = feats[keep]
    for c in ID_COLUMNS:
        if c not in feats.columns:
            feats[c] = pd.Series(dtype=object)
    feats = feats.iloc[np.argsort([order[k] for k in zip(feats["lesion_id"], feats["reader"], strict=False)], kind="stable")] \
        if len(feats) else feats
    fails = fails.iloc[np.argsort([order[k] for k in zip(fails["lesion_id"], fails["reader"], strict=False)], kind="stable")] \
        if len(fails) else fails
    feats = feats.reset_index(drop=True)
    fails = fails.reset_index(drop=True)
    ids = man[["patient_id", "scan_id", "lesion_id", "reader"]]
    feats = ids.merge(feats, on=ID_COLUMNS, how="inner", validate="one_to_one")

    seconds = time.perf_counter() - t_start
    provenance = {
        "engine": "radiorisk.imaging.extract_radiomics",
        "versions": _versions(),
        "params_name": p.name,
        "params_sha256": p.sha256,
        "params": p.params,
        "crop": crop,
        "crop_margin_mm": crop_margin_mm(p.params),
        "n_lesions": int(len(man)),
        "n_extracted": int(len(feats)),
        "n_failed": int(len(fails)),
        "n_images": int(n_images),
    }
    if keep:
        _atomic_write(paths["wide"], lambda tmp: feats.to_parquet(tmp, index=False))
        _atomic_write(paths["features"], lambda tmp: to_long(feats).to_parquet(tmp, index=False))
        _atomic_write(paths["failures"], lambda tmp: fails.to_csv(tmp, index=False, lineterminator="\n"))
        _atomic_write_text(paths["provenance"], json.dumps(provenance, indent=2, default=str) + "\n")
    return ExtractionResult(
        features=feats, failures=fails, provenance=provenance,
        path=out_path if keep else None, n_images=int(n_images),
        n_images_skipped=skipped, seconds=seconds,
    )
