"""The unit of work of the batch engine: every lesion of one image.

:func:`extract_image` reads the image once, reads each mask once, crops (and
where needed resamples) per lesion, runs pyradiomics and returns the features
and failures of all the image's lesions.  One lesion never stops the batch: its
error becomes a failure row with the stage where it happened.
"""

from __future__ import annotations

import contextlib
import copy
import logging

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ..exceptions import ImageError
from ._crop import crop_and_resample, crop_labels, label_boxes, needs_own_resampling
from ._params import RadiomicsParams
from ._read import check_same_geometry, read_image
from ._store import FAILURE_COLUMNS

__all__ = ["extract_image", "ibsi_axis_correction"]

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
    """The state of one image's extraction: the image, its extractor, the masks read so far, the rows."""

    def __init__(self, task: dict):
        self.task = task
        self.image_path = task["image_path"]
        self.params = RadiomicsParams(name=task["params_name"], params=task["params"],
                                      sha256=task["params_sha256"], options=task.get("options") or {})
        self.rows: list[dict] = []
        self.failures: list[dict] = []
        self.masks: dict[str, object] = {}

    def fail(self, lesion: dict, stage: str, reason: str) -> None:
        self.failures.append({"lesion_id": lesion["lesion_id"], "reader": lesion["reader"],
                              "image_path": self.image_path, "stage": stage, "reason": reason})

    def prepare(self, image) -> None:
        """Set the image, its pyradiomics extractor and whether radiorisk resamples itself."""
        task, params = self.task, self.params
        self.image = image
        self.extractor = params.extractor()
        self.settings = params.params.get("setting") or {}
        self.interpolator = self.settings.get("interpolator", "sitkBSpline")  # pyradiomics' default
        self.own_resampling = (task["crop"] and self.interpolator is not None
                               and needs_own_resampling(image, task["new_spacing"]))
        if self.own_resampling:  # radiorisk resamples onto pyradiomics' grid; pyradiomics must not again
            no_rs = copy.deepcopy(params.params)
            no_rs["setting"].pop("resampledPixelSpacing", None)
            self.extractor = RadiomicsParams(name=params.name, params=no_rs, sha256=params.sha256).extractor()

    def mask(self, mp: str):
        """The label map of ``mp`` and its label boxes (read once), or the ImageError reading it."""
        if mp not in self.masks:
            try:
                m = read_image(mp, what="mask")
                check_same_geometry(self.image, m, image_path=self.image_path, mask_path=mp)
                arr = sitk.GetArrayViewFromImage(m)
                if not np.issubdtype(arr.dtype, np.integer):
                    raise ImageError(f"mask {mp} holds non-integer values ({arr.dtype}); "
                                     "masks must be label maps")
                arr = arr.copy()
                del m  # keep one copy of the label map per worker
                self.masks[mp] = (arr, label_boxes(arr))
            except ImageError as exc:
                self.masks[mp] = exc
        return self.masks[mp]

    def crop(self, lesion: dict, arr, boxes):
        """The image and ROI pyradiomics is given for one lesion (raises ValueError for a bad mask)."""
        task, image, labels = self.task, self.image, lesion["labels"]
        if self.own_resampling:
            return crop_and_resample(
                image, arr, labels, boxes, margin_mm=task["margin_mm"],
                new_spacing=task["new_spacing"], interpolator=self.interpolator,
                pad_distance=float(self.settings.get("padDistance", 5)))
        if task["crop"]:
            return crop_labels(image, arr, labels, boxes, margin_mm=task["margin_mm"],
                               new_spacing=task["new_spacing"])
        crop_labels(image, arr, labels, boxes, margin_mm=0)  # presence check
        roi = sitk.GetImageFromArray(np.isin(arr, labels).astype(np.uint8))
        roi.CopyInformation(image)
        return image, roi

    def lesion(self, lesion: dict) -> None:
        """Extract one lesion: a row of features, or a failure."""
        mp = lesion["mask_path"]
        entry = self.mask(mp)
        if isinstance(entry, Exception):
            self.fail(lesion, "read_mask", str(entry))
            return
        arr, boxes = entry
        try:
            img_c, roi_c = self.crop(lesion, arr, boxes)
        except ValueError as exc:
            self.fail(lesion, "mask", f"{exc} ({mp})")
            return
        n_vox = int(sitk.GetArrayViewFromImage(roi_c).sum())
        result = self.extractor.execute(img_c, roi_c, label=1)
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


def extract_image(task: dict) -> dict:
    """Extract every lesion of one image: ``{"features": DataFrame, "failures": DataFrame}``."""
    if task.get("single_thread"):
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # worker process only
    job = _ImageJob(task)
    with _quiet_radiomics():
        try:
            image = read_image(job.image_path)
        except ImageError as exc:
            image = None
            for lesion in task["lesions"]:
                job.fail(lesion, "read_image", str(exc))
        if image is not None:
            job.prepare(image)
            for lesion in task["lesions"]:
                try:
                    job.lesion(lesion)
                except Exception as exc:  # one lesion must never stop the batch
                    reason = " ".join(str(exc).split())[:300] or type(exc).__name__
                    job.fail(lesion, "extract", f"{type(exc).__name__}: {reason}")
    return {"features": pd.DataFrame(job.rows),
            "failures": pd.DataFrame(job.failures, columns=FAILURE_COLUMNS)}
