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
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import platform
import time
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
_STORE_VERSION = 1


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


def read_manifest_for_extraction(manifest) -> pd.DataFrame:
    """Manifest rows with absolute image and mask paths and a ``reader`` column.

    Parameters
    ----------
    manifest : str, Path or DataFrame
        A manifest CSV/Parquet (paths relative to its folder) or a DataFrame with
        absolute paths (or paths relative to the working directory).

    Returns
    -------
    DataFrame
        ``patient_id, scan_id, lesion_id, reader, image_path, mask_path, labels``
        (labels: tuple of int; empty ids when the manifest has none).
    """
    if isinstance(manifest, pd.DataFrame):
        df, root = manifest.copy(), Path.cwd()
    else:
        path = Path(manifest)
        if not path.exists():
            raise RadioriskError(f"manifest {path} does not exist")
        root = path.parent
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str)
    missing = [c for c in ("lesion_id", "image_path", "mask_path", "label") if c not in df.columns]
    if missing:
        raise RadioriskError(f"manifest lacks required column(s) {missing}")
    if "reader" not in df.columns:
        df["reader"] = "reader1"
    df["reader"] = df["reader"].fillna("reader1").astype(str)

    def absolute(p) -> str:
        q = Path(str(p))
        return str(q if q.is_absolute() else (root / q))

    out = pd.DataFrame(
        {
            "patient_id": df["patient_id"].astype(str) if "patient_id" in df else "",
            "scan_id": df["scan_id"].astype(str) if "scan_id" in df else "",
            "lesion_id": df["lesion_id"].astype(str),
            "reader": df["reader"],
            "image_path": df["image_path"].map(absolute),
            "mask_path": df["mask_path"].map(absolute),
        }
    )
    labels = []
    for i, v in enumerate(df["label"].astype(str)):
        try:
            labels.append(tuple(int(x) for x in v.split(",")))
        except ValueError:
            raise RadioriskError(
                f"manifest row {i + 1}, column label: {v!r} is not an integer or a comma-separated list"
            ) from None
    out["labels"] = labels
    dup = out.duplicated(ID_COLUMNS, keep=False)
    if dup.any():
        first = out.loc[dup, ID_COLUMNS].iloc[0].tolist()
        raise RadioriskError(f"manifest has duplicated (lesion_id, reader) rows, e.g. {first}")
    return out


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
    return _write_part(Path(task["part_path"]), part)


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


def _write_part(path: Path, part: dict) -> str:
    """Write features and failures of one image into one Parquet file, atomically."""
    feats, fails = part["features"], part["failures"]
    feats = feats.assign(_kind="features")
    fails = fails.assign(_kind="failure")
    table = pd.concat([feats, fails], ignore_index=True, sort=False)
    table = table.astype({"lesion_id": str, "reader": str})
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    table.to_parquet(tmp, index=False)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return str(path)


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
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _run_local(tasks: list[dict], jobs: int, progress_cb) -> None:
    if jobs <= 1:
        for t in tasks:
            _extract_one_image(t)
            progress_cb()
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
            futures = [pool.submit(_extract_one_image, {**t, "single_thread": True}) for t in tasks]
            for f in as_completed(futures):
                f.result()
                progress_cb()
    except BrokenProcessPool:
        raise RadioriskError(
            "a radiomics worker process died or could not start. In a Python script, call "
            "extract_radiomics(..., jobs>1) under `if __name__ == \"__main__\":` (worker processes "
            "are spawned and re-import the script), or use jobs=1. Finished images are kept in the "
            "store; re-running resumes."
        ) from None


def _run_dask(tasks: list[dict], client, scheduler, progress_cb) -> None:
    from distributed import Client, as_completed

    own = client is None
    client = client or Client(scheduler, set_as_default=False)
    try:
        futures = [client.submit(_extract_one_image, {**t, "single_thread": True}, pure=False,
                                 retries=2, key=f"radiorisk-extract-{Path(t['part_path']).stem}")
                   for t in tasks]
        for f in as_completed(futures):
            f.result()
            progress_cb()
    finally:
        if own:
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

    tmpdir = None
    if out is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="radiorisk-extract-")
        out_path = Path(tmpdir.name) / "features.parquet"
    else:
        out_path = Path(out)
    paths = _store_paths(out_path)
    store = paths["store"]
    store.mkdir(parents=True, exist_ok=True)
    store_meta = {"store_version": _STORE_VERSION, "params_sha256": p.sha256, "params_name": p.name}
    meta_file = store / "store.json"
    if meta_file.exists():
        old = json.loads(meta_file.read_text())
        if old.get("params_sha256") != p.sha256:
            raise RadioriskError(
                f"the store {store} was made with other radiomics parameters ({old.get('params_name')}); "
                "use another --out or delete the store to start afresh"
            )
    else:
        _atomic_write_text(meta_file, json.dumps(store_meta, indent=2))

    tasks = []
    skipped = 0
    for image_path, grp in man.groupby("image_path", sort=False):
        part = store / _part_name(image_path)
        if part.exists():
            skipped += 1
            continue
        tasks.append({
            "image_path": image_path,
            "lesions": grp[["lesion_id", "reader", "mask_path", "labels"]].to_dict("records"),
            "params": p.params, "params_name": p.name, "params_sha256": p.sha256, "options": p.options,
            "crop": crop, "margin_mm": crop_margin_mm(p.params), "new_spacing": new_spacing,
            "part_path": str(part),
        })
    n_images = man["image_path"].nunique()

    bar = None
    if progress and tasks:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tasks), unit="image", desc="radiomics")

    def tick():
        if bar is not None:
            bar.update(1)

    try:
        if client is not None or scheduler:
            _run_dask(tasks, client, scheduler, tick)
        else:
            _run_local(tasks, max(1, int(jobs)), tick)
    finally:
        if bar is not None:
            bar.close()

    # consolidate in manifest order: deterministic whatever jobs or completion order
    images = list(man["image_path"].unique())
    parts = [pd.read_parquet(store / _part_name(ip)) for ip in images]
    store_meta["parts"] = {
        ip: {"file": _part_name(ip), "rows": int(len(pt)),
             "sha256": hashlib.sha256((store / _part_name(ip)).read_bytes()).hexdigest()}
        for ip, pt in zip(images, parts, strict=True)
    }
    _atomic_write_text(meta_file, json.dumps(store_meta, indent=2))
    allp = pd.concat(parts, ignore_index=True, sort=False) if parts else pd.DataFrame(columns=["_kind"])
    order = {k: i for i, k in enumerate(zip(man["lesion_id"], man["reader"], strict=False))}
    feats = allp[allp["_kind"] == "features"].drop(columns=["_kind", "stage", "reason", "image_path"],
                                                   errors="ignore")
    fails = allp[allp["_kind"] == "failure"][FAILURE_COLUMNS] if len(allp) and "stage" in allp else \
        pd.DataFrame(columns=FAILURE_COLUMNS)
    feats = feats.dropna(axis=1, how="all")
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
    if out is not None:
        wtmp = paths["wide"].with_name(paths["wide"].name + f".tmp-{os.getpid()}")
        feats.to_parquet(wtmp, index=False)
        os.replace(wtmp, paths["wide"])
        tmp = out_path.with_name(out_path.name + f".tmp-{os.getpid()}")
        to_long(feats).to_parquet(tmp, index=False)
        os.replace(tmp, out_path)
        ftmp = paths["failures"].with_name(paths["failures"].name + f".tmp-{os.getpid()}")
        fails.to_csv(ftmp, index=False, lineterminator="\n")
        os.replace(ftmp, paths["failures"])
        _atomic_write_text(paths["provenance"], json.dumps(provenance, indent=2, default=str) + "\n")
    if tmpdir is not None:
        tmpdir.cleanup()
    return ExtractionResult(
        features=feats, failures=fails, provenance=provenance,
        path=out_path if out is not None else None, n_images=int(n_images),
        n_images_skipped=skipped, seconds=seconds,
    )


