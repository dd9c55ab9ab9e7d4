"""The units of work of the batch engine: the lesions of one image.

:func:`extract_lesions` extracts some lesions of one image: it reads the image
(and each mask) once per worker process, keeps them for the next call on the
same image (the last image only, keyed by path, size, modification time and
parameters), crops (and where needed resamples) per lesion, runs pyradiomics
and returns one row or one failure per lesion with the worker's CPU time.
:func:`extract_image` does every lesion of an image and assembles the image's
part with :func:`assemble_part`, which the engine also uses for lesions that
came back from several workers; the part therefore never depends on how the
image's lesions were spread.  One lesion never stops the batch: its error
becomes a failure row with the stage where it happened.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time

import numpy as np
import pandas as pd
import SimpleITK as sitk
from radiomics import imageoperations

from ..exceptions import ImageError
from ._crop import crop_box, cut, label_boxes, resample_lesion, roi_box
from ._exact import extractor_params, filter_margins, lesion_mode, pad_margin, plan_crop
from ._params import RadiomicsParams
from ._read import check_same_geometry, read_image
from ._store import FAILURE_COLUMNS

__all__ = ["assemble_part", "extract_image", "extract_lesions", "forget_image", "ibsi_axis_correction"]

_AXES = ("MajorAxisLength", "MinorAxisLength", "LeastAxisLength")


@contextlib.contextmanager
def _quiet_radiomics():
    # pyradiomics' logger is set up by its import (at the top of _params, so before this runs)
    logger = logging.getLogger("radiomics")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


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


class _ImageJob:
    """The state of one image's extraction: the image, its extractors, the masks read so far, the rows."""

    def __init__(self, task: dict):
        self.task = task
        self.image_path = task["image_path"]
        self.params = RadiomicsParams(name=task["params_name"], params=task["params"],
                                      sha256=task["params_sha256"], options=task.get("options") or {})
        self.rows: list[dict] = []
        self.failures: list[dict] = []
        self.masks: dict[str, object] = {}
        self.extractors: dict[str, object] = {}

    def fail(self, lesion: dict, stage: str, reason: str) -> None:
        self.failures.append(_failure(self.image_path, lesion, stage, reason))

    def prepare(self, image) -> None:
        """Set the image (normalised once when the crop plan says so) and the crop plan."""
        self.settings = self.params.settings
        self.plan = plan_crop(self.params.params, bool(self.task["crop"]))
        self.image = image
        if self.plan.normalize_first:  # pyradiomics' own function, on the whole image, once
            self.image = imageoperations.normalizeImage(image, **self.settings)

    def extractor(self, mode: str):
        """The pyradiomics extractor for crops made in ``mode`` (``"whole"``: the parameters as given)."""
        if mode not in self.extractors:
            params = self.params.params if mode == "whole" else extractor_params(self.params.params, self.plan, mode)
            self.extractors[mode] = RadiomicsParams(name=self.params.name, params=params,
                                                    sha256=self.params.sha256).extractor()
        return self.extractors[mode]

    def mask(self, mp: str):
        """The label map of ``mp`` (image and voxels) and its label boxes (read once), or the ImageError."""
        if mp not in self.masks:
            try:
                m = read_image(mp, what="mask")
                check_same_geometry(self.image, m, image_path=self.image_path, mask_path=mp)
                arr = sitk.GetArrayViewFromImage(m)
                if not np.issubdtype(arr.dtype, np.integer):
                    raise ImageError(f"mask {mp} holds non-integer values ({arr.dtype}); "
                                     "masks must be label maps")
                self.masks[mp] = (m, arr, label_boxes(arr))  # arr is a view of m: one copy per worker
            except ImageError as exc:
                self.masks[mp] = exc
        return self.masks[mp]

    def crop(self, lesion: dict, label_image, arr, boxes):
        """The mode, image and ROI pyradiomics is given for one lesion (ValueError for a bad mask)."""
        image, labels, settings = self.image, lesion["labels"], self.settings
        if not self.plan.crop:
            roi_box(arr, labels, boxes)  # presence check
            roi = sitk.GetImageFromArray(np.isin(arr, labels).astype(np.uint8))
            roi.CopyInformation(self.image)
            return "whole", self.image, roi
        lo, hi = roi_box(arr, labels, boxes)
        mode = lesion_mode(self.plan, settings, image.GetSpacing(), label_image.GetSpacing(), hi - lo + 1)
        if mode == "resample":
            img_r, roi_r = resample_lesion(
                image, label_image, arr, labels, boxes, new_spacing=settings["resampledPixelSpacing"],
                interpolator=settings.get("interpolator", "sitkBSpline"),
                pad_distance=float(settings.get("padDistance", 5)))
            return mode, img_r, roi_r
        if mode == "pad":
            start, stop = crop_box(lo, hi, pad_margin(settings), image.GetSize())
        else:
            margin, periodic = filter_margins(self.params.params, image.GetSpacing())
            start, stop = crop_box(lo, hi, margin, image.GetSize(), full_axes=[periodic] * 3)
        img_c, roi_c = cut(image, start, stop, arr, labels)
        return mode, img_c, roi_c

    def lesion(self, lesion: dict) -> None:
        """Extract one lesion: a row of features, or a failure."""
        mp = lesion["mask_path"]
        entry = self.mask(mp)
        if isinstance(entry, Exception):
            self.fail(lesion, "read_mask", str(entry))
            return
        label_image, arr, boxes = entry
        try:
            mode, img_c, roi_c = self.crop(lesion, label_image, arr, boxes)
        except ValueError as exc:
            self.fail(lesion, "mask", f"{exc} ({mp})")
            return
        n_vox = int(sitk.GetArrayViewFromImage(roi_c).sum())
        result = self.extractor(mode).execute(img_c, roi_c, label=1)
        feats = {k: v for k, v in result.items() if not k.startswith("diagnostics_")}
        values = {k: float(np.asarray(v)) for k, v in feats.items()}
        if self.params.options.get("ibsi_axis_correction"):
            sp = self.task["new_spacing"] or img_c.GetSpacing()
            values = ibsi_axis_correction(values, sp)
        bad = [k for k, v in values.items() if not np.isfinite(v)]
        if bad:
            self.fail(lesion, "features", f"{len(bad)} feature(s) not finite, e.g. {bad[:3]}")
            return
        self.rows.append({"lesion_id": lesion["lesion_id"], "reader": lesion["reader"],
                          "n_voxels": n_vox, **values})


#: the image a worker process read last: (key, _ImageJob or the ImageError of reading it)
_LAST: list = [None, None]


def forget_image() -> None:
    """Let go of the image this process keeps (the end of a run, or of a whole-image task)."""
    _LAST[0] = _LAST[1] = None


def _image_key(task: dict) -> tuple:
    """What identifies an image read for a task: run, path, size, modification time, parameters, crop.

    The run (``task["run"]``) is part of it, so a later run never uses what an earlier one read.
    """
    try:
        st = os.stat(task["image_path"])
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None  # unreadable: read_image reports it (and nothing is kept)
    return (task.get("run"), task["image_path"], stamp, task["params_sha256"], bool(task["crop"]),
            task.get("crop_engine"))


def _image_job(task: dict) -> tuple[object, float]:
    """The _ImageJob of the task's image (read now, or kept from the last call), and the CPU seconds read."""
    key = _image_key(task)
    if _LAST[0] == key and key[0] is not None and key[2] is not None:
        return _LAST[1], 0.0
    forget_image()  # the last image goes before the next is read: one image per process
    t0 = time.process_time()
    job = _ImageJob(task)
    try:
        job.prepare(read_image(job.image_path))
        kept = job
    except ImageError as exc:
        kept = exc
    _LAST[0], _LAST[1] = key, kept
    return kept, time.process_time() - t0


def extract_lesions(task: dict) -> dict:
    """Extract the task's lesions of one image (all or some): rows, failures and the work done.

    ``task["lesions"]`` holds manifest rows of one image, each with its position
    ``index`` in the image's list when the image is split across workers.
    Returns ``{"image_path", "results", "work"}``: ``results`` one
    ``(index, "row" | "failure", dict)`` per lesion, ``work`` the process id, the
    CPU seconds of this call, of reading the image (0 when it was kept from the
    last call) and the process's CPU seconds so far.
    """
    if task.get("single_thread"):
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # worker process only
    t0 = time.process_time()
    results = []
    with _quiet_radiomics():
        job, read_cpu = _image_job(task)
        for pos, lesion in enumerate(task["lesions"]):
            index = lesion.get("index", pos)
            if isinstance(job, ImageError):
                results.append((index, "failure", _failure(task["image_path"], lesion, "read_image", str(job))))
                continue
            job.rows, job.failures = [], []
            try:
                job.lesion(lesion)
            except Exception as exc:  # one lesion must never stop the batch
                reason = " ".join(str(exc).split())[:300] or type(exc).__name__
                job.fail(lesion, "extract", f"{type(exc).__name__}: {reason}")
            results += [(index, "row", r) for r in job.rows] + [(index, "failure", f) for f in job.failures]
    now = time.process_time()
    return {"image_path": task["image_path"], "results": results,
            "work": {"pid": os.getpid(), "cpu": now - t0, "read_cpu": read_cpu, "process_cpu": now,
                     "lesions": len(task["lesions"]), "reads": int(read_cpu > 0)}}


def _failure(image_path: str, lesion: dict, stage: str, reason: str) -> dict:
    return {"lesion_id": lesion["lesion_id"], "reader": lesion["reader"], "image_path": image_path,
            "stage": stage, "reason": reason}


def assemble_part(results) -> dict:
    """The part of one image from the ``results`` of :func:`extract_lesions` (any split, any order).

    Rows and failures are put in the image's lesion order, so the part is the
    same whichever worker extracted which lesion.
    """
    ordered = sorted(results, key=lambda r: r[0])  # stable: a lesion's own order is kept
    rows = [d for _, kind, d in ordered if kind == "row"]
    failures = [d for _, kind, d in ordered if kind == "failure"]
    return {"features": pd.DataFrame(rows), "failures": pd.DataFrame(failures, columns=FAILURE_COLUMNS)}


def extract_image(task: dict) -> dict:
    """Extract every lesion of one image: ``{"features": DataFrame, "failures": DataFrame}``."""
    try:
        return assemble_part(extract_lesions(task)["results"])
    finally:
        forget_image()  # nothing of a whole-image task is needed again
