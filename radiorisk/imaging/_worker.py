"""The units of work of the batch engine: the lesions of one image.

:func:`extract_lesions` reads one image (and each mask once), crops (and where
needed resamples) each lesion, runs pyradiomics and returns one row or one
failure per lesion with the CPU time spent.  With several local workers the same
two steps run apart: :func:`cut_image` reads an image once and returns every
lesion's crop, and :func:`extract_cut` extracts one lesion from its crop in any
process, so an image's lesions are extracted side by side without a second read
of the image.  Both paths call the same methods of one class (the crop, then the
features), so a lesion's row is the same whichever path or process made it.  One
lesion never stops the batch: its error becomes a failure row with the stage
where it happened.  This module imports only what a worker process needs
(SimpleITK, pyradiomics, numpy), so that a spawned worker starts quickly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time

import numpy as np
import SimpleITK as sitk
from radiomics import imageoperations
from threadpoolctl import threadpool_limits

from ..exceptions import ImageError
from ._crop import crop_box, cut, label_boxes, resample_lesion, resample_source_box, roi_box
from ._exact import extractor_params, filter_margins, lesion_mode, pad_margin, plan_crop
from ._params import RadiomicsParams
from ._read import check_same_geometry, read_header, read_image, read_region

__all__ = ["cut_image", "extract_cut", "extract_lesions", "feature_values", "ibsi_axis_correction", "one_thread"]

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


def feature_values(result: dict) -> dict:
    """The features of a pyradiomics result as floats (its ``diagnostics_`` entries left out).

    pyradiomics' shape features come from an eigen-decomposition that can return a complex number
    whose imaginary part is round-off (1e-17 on an oblique lesion at the image's edge; pyradiomics'
    own output keeps the real part): such a value is its real part.  A complex value with a larger
    imaginary part (more than 1e-9 of its size) is NaN, reported as a feature that is not finite.

    Examples
    --------
    >>> feature_values({"diagnostics_x": "v3", "a": np.float64(2.0), "b": np.complex128(0.5 + 1e-17j),
    ...                 "c": np.complex128(0.5 + 0.2j)})
    {'a': 2.0, 'b': 0.5, 'c': nan}
    """
    out = {}
    for k, v in result.items():
        if k.startswith("diagnostics_"):
            continue
        x = np.asarray(v)
        if np.iscomplexobj(x):
            z = complex(x)
            out[k] = z.real if abs(z.imag) <= 1e-9 * max(1.0, abs(z)) else float("nan")
        else:
            out[k] = float(x)
    return out


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


class _ExtractorCache:
    """pyradiomics extractors by parameters, built once per process.

    Building one validates the parameters against pyradiomics' schema (pykwalify), about 50 ms,
    as long as a small lesion's extraction; a worker extracting single lesions would otherwise
    pay it per lesion.  ``RadiomicsFeatureExtractor.execute`` does not change the extractor (it
    copies its settings per call; pyradiomics' own batch command line uses one extractor for
    every case), so a cached extractor gives what a new one gives.  Keyed by the parameters'
    canonical JSON; at most ``size`` are kept (a run uses one to three).
    """

    def __init__(self, size: int = 8):
        self.size = size
        self.by_key: dict[str, object] = {}

    def get(self, params: dict):
        key = json.dumps(params, sort_keys=True, default=repr)
        if key not in self.by_key:
            if len(self.by_key) >= self.size:
                self.by_key.pop(next(iter(self.by_key)))
            self.by_key[key] = RadiomicsParams(name="", params=params, sha256="").extractor()
        return self.by_key[key]


#: this process's extractors (a cache: what it holds never changes a result)
_EXTRACTORS = _ExtractorCache()


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

    def fail(self, lesion: dict, stage: str, reason: str) -> None:
        self.failures.append(_failure(self.image_path, lesion, stage, reason))

    def set_plan(self) -> None:
        """The settings and the crop plan of the task's parameters."""
        self.settings = self.params.settings
        self.plan = plan_crop(self.params.params, bool(self.task["crop"]))

    def load(self) -> None:
        """Read the image: the part the lesions' crops need, or the whole image (ImageError if it cannot).

        Cropped lesions need only the union of their boxes (:meth:`box`), so only that box is read
        (:func:`~radiorisk.imaging._read.read_region`; each crop then equals the same crop of the
        whole image, voxel for voxel and in geometry).  The whole image is read when the crop plan
        normalises the whole image or does not crop, for a DICOM folder, and when no lesion's box
        is known (e.g. no mask could be read: the lesions fail as they would with the whole image).
        """
        self.set_plan()
        path = self.image_path
        if not self.plan.crop or self.plan.normalize_first or os.path.isdir(path):
            image = read_image(path)
            if self.plan.normalize_first:  # pyradiomics' own function, on the whole image, once
                image = imageoperations.normalizeImage(image, **self.settings)
            self.image = image
            return
        self.image = read_header(path)  # the geometry, to plan the crops
        lo, hi = None, None
        for lesion in self.task["lesions"]:
            box = self.box(lesion)
            if box is not None:
                lo = box[0] if lo is None else np.minimum(lo, box[0])
                hi = box[1] if hi is None else np.maximum(hi, box[1])
        if lo is None:
            self.image = read_image(path)
            return
        self.image = read_region(self.image, lo, hi)

    def box(self, lesion: dict):
        """The box [start, stop) (voxels, x y z) of the image the lesion's crop is cut from, or None when
        it cannot be known (its mask or labels are bad: the lesion fails when it is cut)."""
        entry = self.mask(lesion["mask_path"])
        if isinstance(entry, Exception):
            return None
        try:
            _, start, stop, _ = self.crop_plan(lesion, *entry)
        except ValueError:
            return None
        return np.asarray(start, int), np.asarray(stop, int)

    def extractor(self, mode: str):
        """The pyradiomics extractor for crops made in ``mode`` (``"whole"``: the parameters as given)."""
        params = self.params.params if mode == "whole" else extractor_params(self.params.params, self.plan, mode)
        return _EXTRACTORS.get(params)

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

    def _resample_args(self) -> dict:
        s = self.settings
        return {"new_spacing": s["resampledPixelSpacing"], "interpolator": s.get("interpolator", "sitkBSpline"),
                "pad_distance": float(s.get("padDistance", 5))}

    def crop_plan(self, lesion: dict, label_image, arr, boxes):
        """The mode of a cropped lesion and the box [start, stop) of the image (voxels, x y z) its crop
        is cut from, and for ``resample`` the grid; only the image's geometry is used (ValueError
        for a bad mask)."""
        image, labels, settings = self.image, lesion["labels"], self.settings
        lo, hi = roi_box(arr, labels, boxes)
        mode = lesion_mode(self.plan, settings, image.GetSpacing(), label_image.GetSpacing(), hi - lo + 1)
        if mode == "resample":
            grid, start, stop = resample_source_box(image, label_image, arr, labels, boxes, **self._resample_args())
            return mode, start, stop, grid
        if mode == "pad":
            start, stop = crop_box(lo, hi, pad_margin(settings), image.GetSize())
        else:
            margin, periodic = filter_margins(self.params.params, image.GetSpacing())
            start, stop = crop_box(lo, hi, margin, image.GetSize(), full_axes=[periodic] * 3)
        return mode, start, stop, None

    def crop(self, lesion: dict, label_image, arr, boxes):
        """The mode, image and ROI pyradiomics is given for one lesion (ValueError for a bad mask)."""
        image, labels = self.image, lesion["labels"]
        if not self.plan.crop:
            roi_box(arr, labels, boxes)  # presence check
            roi = sitk.GetImageFromArray(np.isin(arr, labels).astype(np.uint8))
            roi.CopyInformation(self.image)
            return "whole", self.image, roi
        mode, start, stop, _ = self.crop_plan(lesion, label_image, arr, boxes)
        if mode == "resample":
            img_r, roi_r = resample_lesion(image, label_image, arr, labels, boxes, **self._resample_args())
            return mode, img_r, roi_r
        img_c, roi_c = cut(image, start, stop, arr, labels)
        return mode, img_c, roi_c

    def cut_lesion(self, lesion: dict) -> dict | None:
        """The crop of one lesion (``mode``, ``image``, ``roi``, ``n_voxels``), or None after a failure."""
        mp = lesion["mask_path"]
        entry = self.mask(mp)
        if isinstance(entry, Exception):
            self.fail(lesion, "read_mask", str(entry))
            return None
        label_image, arr, boxes = entry
        try:
            mode, img_c, roi_c = self.crop(lesion, label_image, arr, boxes)
        except ValueError as exc:
            self.fail(lesion, "mask", f"{exc} ({mp})")
            return None
        return {"mode": mode, "image": img_c, "roi": roi_c,
                "n_voxels": int(sitk.GetArrayViewFromImage(roi_c).sum())}

    def features(self, lesion: dict, cut: dict) -> None:
        """Extract one lesion from its crop: a row of features, or a failure."""
        result = self.extractor(cut["mode"]).execute(cut["image"], cut["roi"], label=1)
        values = feature_values(result)
        if self.params.options.get("ibsi_axis_correction"):
            sp = self.task["new_spacing"] or cut["image"].GetSpacing()
            values = ibsi_axis_correction(values, sp)
        bad = [k for k, v in values.items() if not np.isfinite(v)]
        if bad:
            self.fail(lesion, "features", f"{len(bad)} feature(s) not finite, e.g. {bad[:3]}")
            return
        self.rows.append({"lesion_id": lesion["lesion_id"], "reader": lesion["reader"],
                          "n_voxels": cut["n_voxels"], **values})

    def lesion(self, lesion: dict) -> None:
        """Cut and extract one lesion: a row of features, or a failure."""
        cut = self.cut_lesion(lesion)
        if cut is not None:
            self.features(lesion, cut)

    def guarded(self, lesion: dict, step, *args):
        """``step(lesion, *args)`` with any error turned into the lesion's failure (one lesion never
        stops the batch); returns what ``step`` returned, or None."""
        try:
            return step(lesion, *args)
        except Exception as exc:
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            self.fail(lesion, "extract", f"{type(exc).__name__}: {reason}")
            return None

    def results(self, index: int) -> list:
        """The rows and failures made since the last call, as ``(index, kind, dict)``; then cleared."""
        out = [(index, "row", r) for r in self.rows] + [(index, "failure", f) for f in self.failures]
        self.rows, self.failures = [], []
        return out


def _single_thread(task: dict) -> None:
    """In a worker process: one ITK thread and one BLAS thread, for good (the parent's extraction
    does the same for the run's duration, :func:`one_thread`)."""
    if task.get("single_thread"):
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        threadpool_limits(1)


@contextlib.contextmanager
def one_thread():
    """One ITK thread and one BLAS thread while extracting in this process (restored afterwards).

    ITK's multi-threaded filters (statistics, resampling) may sum in another order, and a
    multi-threaded BLAS (pyradiomics' GLCM MCC takes eigenvalues of many small matrices) both
    depends on the number of cores and, with OpenBLAS busy-waiting, made two workers on two
    cores three times slower each.  Outputs must not depend on ``--jobs`` or the machine.

    Examples
    --------
    >>> with one_thread():
    ...     sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    1
    """
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def _read_job(task: dict) -> tuple[object, float]:
    """The task's image read into an _ImageJob (or the ImageError of reading it), and the CPU seconds
    (of reading the image and the masks)."""
    t0 = time.process_time()
    job = _ImageJob(task)
    try:
        job.load()
    except ImageError as exc:
        return exc, time.process_time() - t0
    return job, time.process_time() - t0


def _work(t0: float, read_cpu: float, lesions: int, reads: int) -> dict:
    now = time.process_time()
    return {"pid": os.getpid(), "cpu": now - t0, "read_cpu": read_cpu, "process_cpu": now,
            "lesions": lesions, "reads": reads}


def _each_lesion(task: dict, step: str) -> tuple[list, list, float]:
    """Read the task's image once and run the _ImageJob method ``step`` on each lesion.

    Returns the ``(index, kind, dict)`` rows and failures, the ``(index, value)`` of each
    lesion where ``step`` returned something, and the CPU seconds spent reading.
    """
    results, outputs = [], []
    with _quiet_radiomics():
        job, read_cpu = _read_job(task)
        for index, lesion in enumerate(task["lesions"]):
            if isinstance(job, ImageError):
                results.append((index, "failure", _failure(task["image_path"], lesion, "read_image", str(job))))
                continue
            out = job.guarded(lesion, getattr(job, step))
            if out is not None:
                outputs.append((index, out))
            results += job.results(index)
    return results, outputs, read_cpu


def extract_lesions(task: dict) -> dict:
    """Read the task's image and extract its lesions: rows, failures and the work done.

    Returns ``{"image_path", "results", "work"}``: ``results`` one
    ``(index, "row" | "failure", dict)`` per lesion (``index`` its position in
    ``task["lesions"]``), ``work`` the process id, the CPU seconds of this call,
    of reading the image, and the process's CPU seconds so far.
    """
    _single_thread(task)
    t0 = time.process_time()
    results, _, read_cpu = _each_lesion(task, "lesion")
    return {"image_path": task["image_path"], "results": results,
            "work": _work(t0, read_cpu, len(task["lesions"]), 1)}


def cut_image(task: dict) -> dict:
    """Read the task's image once and cut every lesion's crop, to be extracted by :func:`extract_cut`.

    Returns ``{"image_path", "cuts", "results", "work"}``: ``cuts`` one
    ``(index, crop)`` per lesion that could be cut (the crop holds SimpleITK
    images, which pickle whole: pixels, spacing, origin, direction), ``results``
    the failures of the others as in :func:`extract_lesions`.  Each image is read
    by one process only, and only its lesions' crops travel to the others.
    """
    _single_thread(task)
    t0 = time.process_time()
    results, cuts, read_cpu = _each_lesion(task, "cut_lesion")
    return {"image_path": task["image_path"], "cuts": cuts, "results": results,
            "work": _work(t0, read_cpu, 0, 1)}


def extract_cut(task: dict) -> dict:
    """Extract one lesion from the crop :func:`cut_image` made (``task["cut"]``, ``task["index"]``).

    ``task`` is the image's task with ``lesions`` holding that one lesion.  The
    extractor is built as the image's own would be (same parameters and crop plan),
    so the row equals the one :func:`extract_lesions` gives.
    """
    _single_thread(task)
    t0 = time.process_time()
    lesion, index = task["lesions"][0], task["index"]
    with _quiet_radiomics():
        job = _ImageJob(task)
        job.set_plan()
        job.guarded(lesion, job.features, task["cut"])
        results = job.results(index)
    return {"image_path": task["image_path"], "results": results, "work": _work(t0, 0.0, 1, 0)}


def _failure(image_path: str, lesion: dict, stage: str, reason: str) -> dict:
    return {"lesion_id": lesion["lesion_id"], "reader": lesion["reader"], "image_path": image_path,
            "stage": stage, "reason": reason}
