"""Manifest image and mask checks: existence, readability, geometry, labels.

Images are opened header-only (``ImageFileReader.ReadImageInformation``);
masks are read in full (their labels must be counted).  Each file is opened at
most once per validation (many lesions share an image).  For ``.nii``/``.nii.gz``
files the data size is checked against the header, because ITK reads a
truncated gzip stream without complaint.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._report import Collector

#: Geometry tolerances between an image and its mask.
SPACING_TOL_REL = 1e-4
ORIGIN_TOL_MM = 1e-3
DIRECTION_TOL = 1e-4


@dataclass
class _Info:
    size: tuple = ()
    spacing: tuple = ()
    origin: tuple = ()
    direction: tuple = ()
    pixel_type: str = ""
    integer: bool = True
    components: int = 1
    error: tuple[str, str] | None = None  # (rule, message)
    labels: frozenset | None = None


def _sitk_detail(exc: Exception) -> str:
    text = str(exc)
    if "sitk::ERROR:" in text:
        text = text.split("sitk::ERROR:", 1)[1]
    text = " ".join(text.split())
    if "Unable to determine ImageIO reader" in text:
        return "not a readable image (unknown format or corrupt file)"
    return text[:200]


def _nifti_truncated(path: Path) -> str | None:
    """A message when a NIfTI file holds fewer data bytes than its header promises."""
    name = path.name.lower()
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        return None
    try:
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            hdr = fh.read(540)
        for endian in ("<", ">"):
            (sizeof_hdr,) = struct.unpack(endian + "i", hdr[:4])
            if sizeof_hdr == 348:
                dims = struct.unpack(endian + "8h", hdr[40:56])
                (bitpix,) = struct.unpack(endian + "h", hdr[72:74])
                (vox_offset,) = struct.unpack(endian + "f", hdr[108:112])
                break
            if sizeof_hdr == 540:
                (bitpix,) = struct.unpack(endian + "h", hdr[14:16])
                dims = struct.unpack(endian + "8q", hdr[16:80])
                (vox_offset,) = struct.unpack(endian + "q", hdr[168:176])
                break
        else:
            return None
        nd = int(dims[0])
        if not 1 <= nd <= 7:
            return None
        expected = int(vox_offset) + int(np.prod([max(int(d), 1) for d in dims[1:nd + 1]])) * int(bitpix) // 8
        if name.endswith(".gz"):
            with open(path, "rb") as fh:
                fh.seek(-4, os.SEEK_END)
                (isize,) = struct.unpack("<I", fh.read(4))
            actual_ok = isize == expected % 2**32
        else:
            actual_ok = path.stat().st_size >= expected
        if not actual_ok:
            return f"the file is truncated or corrupt (expected {expected} bytes of header and voxel data)"
    except gzip.BadGzipFile:
        return None  # not gzip at all: let ITK say what it is
    except (OSError, EOFError, struct.error, ValueError) as exc:
        return f"the file is truncated or corrupt ({exc})"
    return None


def _info(path: Path, *, read_labels: bool) -> _Info:
    import SimpleITK as sitk

    if not path.exists():
        return _Info(error=("file_missing", "file not found"))
    try:
        if path.is_dir():
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path))
            if not files:
                return _Info(error=("file_unreadable", "the folder holds no DICOM series"))
            img = sitk.ReadImage(files)
            info = _from_image(img)
        else:
            trunc = _nifti_truncated(path)
            if trunc:
                return _Info(error=("file_unreadable", trunc))
            if read_labels:
                img = sitk.ReadImage(str(path))
                info = _from_image(img)
            else:
                r = sitk.ImageFileReader()
                r.SetFileName(str(path))
                r.ReadImageInformation()
                info = _Info(size=tuple(r.GetSize()), spacing=tuple(r.GetSpacing()),
                             origin=tuple(r.GetOrigin()), direction=tuple(r.GetDirection()),
                             pixel_type=sitk.GetPixelIDValueAsString(r.GetPixelID()),
                             components=int(r.GetNumberOfComponents()),
                             integer=_is_int(r.GetPixelID()))
                img = None
    except (RuntimeError, OSError) as exc:
        return _Info(error=("file_unreadable", _sitk_detail(exc)))
    if read_labels and img is not None and info.integer and info.components == 1:
        arr = sitk.GetArrayViewFromImage(img)
        if arr.dtype.kind == "u" and arr.dtype.itemsize <= 4 and arr.size and int(arr.max()) < 65536:
            counts = np.bincount(arr.ravel())
            labels = np.flatnonzero(counts)
        else:
            labels = np.unique(arr)
        info.labels = frozenset(int(v) for v in labels)
    return info


def _is_int(pixel_id) -> bool:
    import SimpleITK as sitk

    ints = {sitk.sitkUInt8, sitk.sitkInt8, sitk.sitkUInt16, sitk.sitkInt16, sitk.sitkUInt32,
            sitk.sitkInt32, sitk.sitkUInt64, sitk.sitkInt64}
    return pixel_id in ints


def _from_image(img) -> _Info:

    return _Info(size=tuple(img.GetSize()), spacing=tuple(img.GetSpacing()),
                 origin=tuple(img.GetOrigin()), direction=tuple(img.GetDirection()),
                 pixel_type=img.GetPixelIDTypeAsString(),
                 components=int(img.GetNumberOfComponentsPerPixel()),
                 integer=_is_int(img.GetPixelID()) and img.GetNumberOfComponentsPerPixel() == 1)


def _vec(v) -> str:
    return "(" + ", ".join(f"{x:.6g}" for x in v) + ")"


def geometry_differences(image: _Info, mask: _Info) -> list[str]:
    """Human-readable differences between two geometries (empty when they match)."""
    out = []
    if image.size != mask.size:
        out.append(f"size {_vec(mask.size)} vs image {_vec(image.size)}")
        return out
    sp_i, sp_m = np.asarray(image.spacing), np.asarray(mask.spacing)
    if not np.allclose(sp_m, sp_i, rtol=SPACING_TOL_REL, atol=0):
        out.append(f"spacing {_vec(sp_m)} mm vs image {_vec(sp_i)} mm")
    if not np.allclose(mask.origin, image.origin, rtol=0, atol=ORIGIN_TOL_MM):
        out.append(f"origin {_vec(mask.origin)} mm vs image {_vec(image.origin)} mm")
    if not np.allclose(mask.direction, image.direction, rtol=0, atol=DIRECTION_TOL):
        out.append(f"direction {_vec(mask.direction)} vs image {_vec(image.direction)}")
    return out


def _parse_labels(text) -> frozenset[int] | None:
    try:
        return frozenset(int(x) for x in str(text).split(",") if x.strip())
    except ValueError:
        return None


def check_images(manifest: pd.DataFrame, *, root: Path, base: Path, col: Collector) -> None:
    """Check every manifest row's image and mask (paths relative to ``base``)."""
    t = "manifest"
    cache: dict[tuple[str, bool], _Info] = {}
    root_n = os.path.normpath(os.path.abspath(root))

    def resolve(p: str) -> tuple[Path, bool]:
        q = Path(p)
        outside = False
        if not q.is_absolute():
            q = base / q
            qn = os.path.normpath(os.path.abspath(q))
            outside = os.path.commonpath([qn, root_n]) != root_n
        return q, outside

    def info(path: Path, read_labels: bool) -> _Info:
        key = (str(path), read_labels)
        if key not in cache:
            cache[key] = _info(path, read_labels=read_labels)
        return cache[key]

    cols = [c for c in ("image_path", "mask_path", "label") if c in manifest]
    sub = manifest[cols]
    for pos, row in enumerate(sub.itertuples(index=False)):
        r = pos + 1
        infos = {}
        for c, what, labels in (("image_path", "image", False), ("mask_path", "mask", True)):
            value = getattr(row, c, None)
            if not isinstance(value, str) or not value.strip():
                continue
            path, outside = resolve(value)
            if outside:
                col.add(t, "path_outside_cohort",
                        f"{what} path {value!r} points outside the cohort folder", row=r,
                        column=c, value=value)
            inf = info(path, labels)
            if inf.error:
                rule, detail = inf.error
                col.add(t, rule, f"{what} {value!r}: {detail} ({path})", row=r, column=c, value=value)
                continue
            infos[what] = (inf, value)
        if "mask" not in infos:
            continue
        mask, mvalue = infos["mask"]
        if "image" in infos:
            diffs = geometry_differences(infos["image"][0], mask)
            if diffs:
                col.add(t, "geometry_mismatch",
                        f"mask {mvalue!r} is not on the image's grid: " + "; ".join(diffs),
                        row=r, column="mask_path", value=mvalue)
        if not mask.integer or mask.components != 1:
            col.add(t, "mask_type", f"mask {mvalue!r} has {mask.pixel_type} voxels"
                    f"{'' if mask.components == 1 else f' with {mask.components} components'}; "
                    "save it as an integer label map", row=r, column="mask_path", value=mvalue)
            continue
        present = mask.labels or frozenset()
        if not (present - {0}):
            col.add(t, "empty_mask", f"mask {mvalue!r} is empty (no non-zero voxel)",
                    row=r, column="mask_path", value=mvalue)
            continue
        want = _parse_labels(getattr(row, "label", None))
        if want and not (want & present):
            col.add(t, "label_missing",
                    f"mask {mvalue!r} has no voxel with label {', '.join(map(str, sorted(want)))} "
                    f"(labels present: {', '.join(map(str, sorted(present - {0})))})",
                    row=r, column="label", value=getattr(row, "label", None))
