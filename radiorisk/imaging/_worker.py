"""The unit of work of the batch engine: every lesion of one image.

:func:`extract_image` reads the image once, reads each mask once, crops (and
where needed resamples) per lesion, runs pyradiomics and returns the features
and failures of all the image's lesions.  One lesion never stops the batch: its
error becomes a failure row with the stage where it happened.
"""

from __future__ import annotations

import contextlib
import logging

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
        self.failures.append({"lesion_id": lesion["lesion_id"], "reader": lesion["reader"],
                              "image_path": self.image_path, "stage": stage, "reason": reason})

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
