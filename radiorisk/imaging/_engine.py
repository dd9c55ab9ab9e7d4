"""Batch radiomics engine: one image load per image, crop per lesion, parallel, resumable.

Store layout for ``out = "features.parquet"``::

    features.parquet                 long table: patient_id, scan_id, lesion_id, reader, feature, value
    features.wide.parquet            wide view, one row per (lesion_id, reader)
    features.failures.csv            one row per failed lesion: lesion_id, reader, image_path, stage, reason
    features.provenance.json         engine and package versions, preset name, hash and settings
    features.parquet.parts/          the store: one Parquet part per finished image, and store.json
                                     (parameters hash; when complete, each part with its rows and SHA-256)

Each image is one unit of the store.  Its part (features and failures of all its
lesions) is written to a temporary file and renamed into place, so a crash,
SIGKILL or Ctrl-C leaves only whole parts; a re-run skips images whose part
exists and never duplicates rows.  With ``jobs > 1`` the local workers read and
cut an image (once) and extract single lesions from their crops, so the lesions
of an image run side by side (:mod:`radiorisk.imaging._split`); this process
writes the image's part when its last lesion is back; a kill loses only the
lesions of unfinished images.

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
- one run at a time writes a store (a lock on ``store.json.lock``, :mod:`filelock`);
- an output that cannot be written (permission, disk full) raises
  :class:`~radiorisk.exceptions.RadioriskError` naming the path and the OS
  error; the finished parts stay and a later run resumes from them.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import radiomics
import SimpleITK as sitk

from .. import __version__
from ..exceptions import RadioriskError
from ._exact import plan_crop
from ._executors import run_dask, run_local, run_local_cut
from ._manifest import read_manifest_for_extraction
from ._params import RadiomicsParams, load_params
from ._split import PartAssembler, WorkLog, assemble_part
from ._store import (
    STORE_VERSION,
    part_name,
    read_part,
    read_parts,
    read_store_meta,
    remove_orphans,
    split_rows,
    store_error,
    store_paths,
    task_fingerprint,
    to_long,
    verified_part,
    write_outputs,
    write_part,
    write_store_meta,
)
from ._store import drop_part as _drop_part
from ._store import store_lock as _store_lock
from ._worker import cut_image, extract_cut, extract_lesions, one_thread

__all__ = ["ExtractionResult", "run_extraction"]

#: version of the crop rules (radiorisk.imaging._exact); part of each unit of work's fingerprint,
#: so parts made by an older, inexact crop are redone rather than adopted
CROP_ENGINE = 2



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
    work : dict
        CPU seconds per worker process (:meth:`radiorisk.imaging._split.WorkLog.summary`):
        how the work was spread, a measure that other load on the machine does not
        distort as it distorts ``seconds``.  Not part of the outputs written.
    """

    features: pd.DataFrame = field(repr=False)
    failures: pd.DataFrame = field(repr=False)
    provenance: dict = field(repr=False)
    path: Path | None
    n_images: int
    n_images_skipped: int
    seconds: float
    work: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when no lesion failed."""
        return len(self.failures) == 0

    def work_summary(self) -> str:
        """One line on how the work was spread: CPU seconds per process and the busiest one's share."""
        w = self.work
        if not w.get("workers"):
            return "work: nothing extracted in this run (every image was already done)"
        cpu = ", ".join(f"{x['task_cpu']:.1f}" for x in w["workers"].values())
        return (f"work: {len(w['workers'])} process(es), one {w['unit']} per task; CPU seconds extracting "
                f"per process: {cpu}; the busiest did {w['largest_share']:.0%} of it")

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



def run_extraction(manifest, *, params, out, jobs: int, scheduler, client, crop: bool, progress,
                   worker_timeout: float, pool=None, t_start: float | None = None) -> ExtractionResult:
    """The body of :func:`~radiorisk.imaging.extract_radiomics` (which starts ``pool`` first)."""
    t_start = time.perf_counter() if t_start is None else t_start
    p = params if isinstance(params, RadiomicsParams) else load_params(params)
    man = _absolute_manifest(manifest)
    plan = plan_crop(p.params, crop)
    crop, new_spacing = plan.crop, p.settings.get("resampledPixelSpacing")
    tmpdir, out_path = _output_path(out)
    paths = _made_store(out_path)
    try:
        with _store_lock(paths["store"]):
            return _extract_into_store(
                man, p, out_path=out_path, paths=paths, keep=out is not None, jobs=jobs,
                scheduler=scheduler, client=client, crop=crop, new_spacing=new_spacing,
                progress=progress, worker_timeout=worker_timeout, t_start=t_start, notes=plan.notes(),
                pool=pool,
            )
    finally:
        if tmpdir is not None:
            tmpdir.cleanup()


def _made_store(out_path: Path) -> dict:
    """The store paths of ``out_path``, its store folder created (RadioriskError naming it if not)."""
    paths = store_paths(out_path)
    store = paths["store"]
    try:
        store.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise store_error(exc, store) from None
    return paths


def _absolute_manifest(manifest) -> pd.DataFrame:
    """The checked manifest with absolute paths (Dask workers may run in another working directory)."""
    man = read_manifest_for_extraction(manifest)
    man["image_path"] = man["image_path"].map(os.path.abspath)
    man["mask_path"] = man["mask_path"].map(os.path.abspath)
    return man


def _output_path(out) -> tuple[tempfile.TemporaryDirectory | None, Path]:
    """The features table to write, in a temporary folder (returned, to clean up) without ``out``."""
    if out is None:
        tmpdir = tempfile.TemporaryDirectory(prefix="radiorisk-extract-")
        return tmpdir, Path(tmpdir.name) / "features.parquet"
    return None, Path(out)


# --------------------------------------------------------------------------- the unit of work


def _write_parquet_file(table, path: Path) -> None:
    """Write an Arrow table to ``path`` (the single low-level writer of parts; tests replace it).

    No dictionary encoding and no column statistics: a part has a few rows and ~1,130 columns, is
    always read whole, and both cost more than its data (16 ms a part against 24 ms with them).
    """
    pq.write_table(table, path, use_dictionary=False, write_statistics=False)


def _write_image_part(task: dict, part: dict) -> dict:
    """Write one image's part atomically; its store entry."""
    return write_part(Path(task["part_path"]), part, write_table=_write_parquet_file,
                      fingerprint=task.get("fingerprint", ""), image_path=task["image_path"])


def _extract_one_image(task: dict) -> dict:
    """Extract every lesion of one image, write its part, return its store entry (and ``_work``; and
    ``_rows`` when run in this process: a worker's part is read back by the parent)."""
    out = extract_lesions(task)
    entry = _write_image_part(task, assemble_part(out["results"]))
    if task.get("single_thread"):  # in a worker: the rows would only be pickled back
        entry.pop("_rows")
    return {**entry, "_work": out["work"]}


# --------------------------------------------------------------------------- driver


def _versions() -> dict:
    return {
        "radiorisk": __version__,
        "pyradiomics": getattr(radiomics, "__version__", "unknown"),
        "SimpleITK": sitk.Version_VersionString(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


def _plan(man: pd.DataFrame, p: RadiomicsParams, store: Path, *, crop, new_spacing, old_parts: dict,
          parts_meta: dict) -> tuple[list[dict], int]:
    """One task per image whose part is missing or stale; verified parts go into ``parts_meta``."""
    run = uuid.uuid4().hex  # a worker keeps what it read for this run's tasks only
    tasks = []
    skipped = 0
    for image_path, grp in man.groupby("image_path", sort=False):
        part = store / part_name(image_path)
        task = {
            "image_path": image_path,
            "lesions": grp[["lesion_id", "reader", "mask_path", "labels"]].to_dict("records"),
            "params": p.params, "params_name": p.name, "params_sha256": p.sha256, "options": p.options,
            "crop": crop, "crop_engine": CROP_ENGINE, "new_spacing": new_spacing,
            "part_path": str(part.absolute()), "run": run,
        }
        task["fingerprint"] = task_fingerprint(task)
        if part.exists():
            entry = verified_part(part, task["fingerprint"], old_parts.get(image_path))
            if entry is not None:
                parts_meta[image_path] = entry
                skipped += 1
                continue
            _drop_part(part, store)  # stale (other lesions or masks) or damaged: redo it
        tasks.append(task)
    return tasks, skipped


def _old_parts(meta_file: Path, p: RadiomicsParams, store: Path) -> dict:
    """The parts the store lists; refuses a store made with other parameters."""
    old = read_store_meta(meta_file)
    if old is not None and old.get("params_sha256") not in (None, p.sha256):
        raise RadioriskError(
            f"the store {store} was made with other radiomics parameters ({old.get('params_name')}); "
            "use another --out or delete the store to start afresh"
        )
    return (old or {}).get("parts") or {}


def _lesion_level(tasks: list[dict], jobs, *, dask: bool) -> bool:
    """Whether the run's unit of work is one lesion: local workers and a crop (else one image)."""
    return not dask and int(jobs) > 1 and bool(tasks) and bool(tasks[0]["crop"])


def _run(tasks, *, jobs, scheduler, client, worker_timeout, progress, on_done, save_meta, log,
         pool=None) -> None:
    """Run the tasks with a progress bar (in lesions); on an error, record what finished before raising.

    Locally with ``jobs > 1`` the unit of work is one lesion, shared by this process and ``jobs - 1``
    workers (:mod:`radiorisk.imaging._split`);
    otherwise one image.  ``progress`` may be a callback ``(step, done, total)`` (in lesions) that
    renders elsewhere instead of the bar.
    """
    report = progress if callable(progress) else None
    n_lesions = sum(len(t["lesions"]) for t in tasks)
    bar = None
    if progress and not report and tasks:
        # imported here: 20 ms of start-up (tqdm looks up its version) when no bar is shown
        from tqdm.auto import tqdm

        bar = tqdm(total=n_lesions, unit="lesion", desc="radiomics")
    size = {part_name(t["image_path"]): len(t["lesions"]) for t in tasks}
    n_done = [0]
    if report is not None and tasks:
        report("radiomics extraction", 0, n_lesions)

    def advance(k: int) -> None:
        n_done[0] += k
        if bar is not None:
            bar.update(k)
        if report is not None:
            report("radiomics extraction", n_done[0], n_lesions)

    def done(entry: dict) -> None:  # an image's part is written
        log.add(entry.pop("_work"))
        on_done(entry)
        advance(size[entry["file"]])

    parts = PartAssembler(tasks, _write_image_part)

    def lesion_done(result: dict) -> None:  # an image's crops, or one of its lesions, is back
        log.add(result["work"])
        entry = parts.add(result)
        if entry is not None:
            on_done(entry)
        advance(len({r[0] for r in result["results"]}))

    ok = False
    try:
        if client is not None or scheduler:
            run_dask(tasks, client, scheduler, _extract_one_image, done, worker_timeout=worker_timeout)
        elif _lesion_level(tasks, jobs, dask=False):  # this process and jobs - 1 workers
            with one_thread():
                run_local_cut(tasks, int(jobs), cut_image, extract_cut, lesion_done, pool=pool)
        elif int(jobs) > 1:  # the whole image for each lesion: one task per image, read where it runs
            with one_thread():
                run_local(tasks, int(jobs), _extract_one_image, done, pool=pool, here=True)
        else:
            with one_thread():  # as in the workers: outputs must not depend on --jobs or the machine
                run_local(tasks, 1, _extract_one_image, done)
        ok = True
    finally:
        if bar is not None:
            bar.close()
        if not ok:  # record what finished; the error in flight matters more than a failed save
            with contextlib.suppress(Exception):
                save_meta()


def _extract_into_store(man, p, *, out_path, paths, keep, jobs, scheduler, client, crop, new_spacing,
                        progress, worker_timeout, t_start, notes, pool=None) -> ExtractionResult:
    store = paths["store"]
    remove_orphans(store, [paths[k] for k in ("features", "wide", "failures", "provenance")])
    meta_file = store / "store.json"
    old_parts = _old_parts(meta_file, p, store)
    store_meta = {"store_version": STORE_VERSION, "params_sha256": p.sha256, "params_name": p.name,
                  "complete": False, "parts": {}}
    parts_meta = store_meta["parts"]
    tasks, skipped = _plan(man, p, store, crop=crop, new_spacing=new_spacing, old_parts=old_parts,
                           parts_meta=parts_meta)
    n_images = man["image_path"].nunique()
    image_of = {part_name(t["image_path"]): t["image_path"] for t in tasks}

    def save_meta() -> None:
        # order the parts as the manifest does, whatever the completion order
        ordered = {ip: parts_meta[ip] for ip in man["image_path"].unique() if ip in parts_meta}
        store_meta["parts"] = ordered
        write_store_meta(meta_file, store_meta)

    save_meta()  # now lists exactly the verified parts
    last_save = [time.monotonic()]

    read_back: dict = {}  # the rows of each part written, as the consolidation reads them

    def on_done(entry: dict) -> None:
        rows = entry.pop("_rows", None)
        parts_meta[image_of[entry["file"]]] = entry
        if time.monotonic() - last_save[0] > 1.0:
            save_meta()
            last_save[0] = time.monotonic()
        # now rather than after the last image, while a worker may still be extracting
        read_back[entry["file"]] = rows if rows is not None else read_part(store, entry["file"])

    dask = client is not None or bool(scheduler)
    log = WorkLog(jobs=1 if not dask and int(jobs) <= 1 else int(jobs),
                  unit="lesion" if _lesion_level(tasks, jobs, dask=dask) else "image")
    _run(tasks, jobs=jobs, scheduler=scheduler, client=client, worker_timeout=worker_timeout,
         progress=progress, on_done=on_done, save_meta=save_meta, log=log, pool=pool)
    if pool is not None:  # nothing more for the workers: let them exit while the outputs are written
        pool.shutdown(wait=False)

    # consolidate in manifest order: deterministic whatever jobs or completion order
    images = list(man["image_path"].unique())
    missing = [ip for ip in images if ip not in parts_meta]
    if missing:  # pragma: no cover - every task either wrote its part or raised
        raise RadioriskError(f"no part was written for {len(missing)} image(s), e.g. {missing[0]}")
    allp = read_parts(store, [parts_meta[ip]["file"] for ip in images], read_back)
    store_meta["complete"] = True
    save_meta()
    remove_orphans(store, [])  # temporary files of workers that died during this run
    feats, fails = split_rows(allp, man)

    seconds = time.perf_counter() - t_start
    provenance = {
        "engine": "radiorisk.imaging.extract_radiomics",
        "versions": _versions(),
        "params_name": p.name,
        "params_sha256": p.sha256,
        "params": p.params,
        "crop": crop,
        "crop_engine": CROP_ENGINE,
        "notes": list(notes),
        "n_lesions": int(len(man)),
        "n_extracted": int(len(feats)),
        "n_failed": int(len(fails)),
        "n_images": int(n_images),
    }
    if keep:
        write_outputs(paths, feats, fails, json.dumps(provenance, indent=2, default=str) + "\n")
    return ExtractionResult(
        features=feats, failures=fails, provenance=provenance,
        path=out_path if keep else None, n_images=int(n_images),
        n_images_skipped=skipped, seconds=seconds, work=log.summary(),
    )
