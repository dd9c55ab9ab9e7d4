"""Manifest image and mask checks: existence, readability, geometry, labels.

Images are opened header-only (``ImageFileReader.ReadImageInformation``),
except floating-point ones, read in full to check for NaN/inf voxels; masks are
read in full (their labels must be counted).  Headers are checked before any
voxel is read (3-D, one real value per voxel, positive finite spacing,
non-singular direction, at most :data:`MAX_VOXELS` voxels).  Each file is opened at
most once per validation (many lesions share an image).  For ``.nii``/``.nii.gz``
files the data size is checked against the header, because ITK reads a
truncated gzip stream without complaint.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk

if TYPE_CHECKING:  # annotations only: reading an image header needs neither (a worker imports this)
    import pandas as pd

    from ._report import Collector

#: Geometry tolerances between an image and its mask.
SPACING_TOL_REL = 1e-4
ORIGIN_TOL_MM = 1e-3
DIRECTION_TOL = 1e-4
#: Images declaring more voxels than this are refused from their header, before any voxel is
#: read (a 1024 x 1024 x 2048 volume has 2**31; a corrupt header must not exhaust memory).
MAX_VOXELS = 2**31


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


def sitk_detail(exc: Exception) -> str:
    """The useful part of a SimpleITK/ITK exception text (no source locations or addresses).

    Examples
    --------
    >>> sitk_detail(RuntimeError("Exception thrown in SimpleITK ReadImage: /src/x.cxx:12:\\n"
    ...                          "sitk::ERROR: The file is not an image"))
    'The file is not an image'
    """
    lines = []
    for ln in str(exc).splitlines():
        ln = ln.strip()
        if not ln or ln.startswith("Exception thrown in SimpleITK") or ln.startswith("[nrrd] nrrd"):
            continue
        ln = re.sub(r"^(sitk::ERROR|itk::ERROR|ITK ERROR):\s*", "", ln)
        ln = re.sub(r"^\w+\(0x[0-9a-f]+\):\s*", "", ln)
        ln = re.sub(r"^\[nrrd\] _?\w+:\s*", "", ln)
        lines.append(ln)
    text = " ".join(" ".join(lines).split())
    if "Unable to determine ImageIO reader" in text:
        return "not a readable image (unknown format or corrupt file)"
    return (text or type(exc).__name__)[:240]



def header_problem(*, dimension: int, size, spacing, origin, direction, components: int,
                   pixel_type: str) -> str | None:
    """Why an image header is unusable for radiorisk (None when it is fine).

    Checks: 3-D, one scalar (non-complex) component per voxel, at most
    :data:`MAX_VOXELS` voxels (refused before any voxel is read), and finite
    positive spacing, finite origin and a finite, non-singular direction.

    Examples
    --------
    >>> geometry = dict(spacing=(0.5, 0.5, 0.6), origin=(0, 0, 0), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
    ...                 components=1, pixel_type="16-bit signed integer")
    >>> header_problem(dimension=3, size=(512, 512, 300), **geometry) is None
    True
    >>> header_problem(dimension=2, size=(512, 512), **geometry)
    'is 2-D; radiorisk needs 3-D volumes'
    """
    if dimension != 3:
        return f"is {dimension}-D; radiorisk needs 3-D volumes"
    if components != 1:
        return f"has {components} components per voxel ({pixel_type}); radiorisk needs one value per voxel"
    if "complex" in pixel_type.lower():
        return f"has {pixel_type} voxels; radiorisk needs real-valued voxels"
    n = int(np.prod([int(x) for x in size], dtype=object))
    if n > MAX_VOXELS:
        return (f"declares {' x '.join(str(int(x)) for x in size)} = {n} voxels, more than the "
                f"{MAX_VOXELS} radiorisk reads (corrupt header?)")
    if n == 0:
        return "has no voxels (a zero dimension)"
    sp = np.asarray(spacing, float)
    if not (np.all(np.isfinite(sp)) and np.all(sp > 0)):
        return f"has spacing {_vec(sp)}; spacing must be finite and positive"
    if not np.all(np.isfinite(np.asarray(origin, float))):
        return f"has a non-finite origin {_vec(origin)}"
    d = np.asarray(direction, float)
    if d.size != 9 or not np.all(np.isfinite(d)) or abs(np.linalg.det(d.reshape(3, 3))) < 1e-6:
        return "has a singular or non-finite direction matrix"
    return None


def reader_header_problem(reader) -> str | None:
    """:func:`header_problem` for a ``SimpleITK.ImageFileReader`` after ``ReadImageInformation``.

    Examples
    --------
    >>> import SimpleITK as sitk, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.nrrd")
    >>> sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkVectorFloat32, 2), p)
    >>> reader = sitk.ImageFileReader()
    >>> reader.SetFileName(p)
    >>> reader.ReadImageInformation()
    >>> reader_header_problem(reader)
    'has 2 components per voxel (vector of 32-bit float); radiorisk needs one value per voxel'
    """
    return header_problem(dimension=reader.GetDimension(), size=reader.GetSize(),
                          spacing=reader.GetSpacing(), origin=reader.GetOrigin(),
                          direction=reader.GetDirection(),
                          components=int(reader.GetNumberOfComponents()),
                          pixel_type=sitk.GetPixelIDValueAsString(reader.GetPixelID()))


def nifti_truncated(path: Path) -> str | None:
    """A message when a NIfTI file holds fewer data bytes than its header promises.

    None for a whole file, and for files that are not NIfTI (ITK judges those).

    Examples
    --------
    >>> import SimpleITK as sitk, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.nii"
    >>> sitk.WriteImage(sitk.Image(4, 4, 4, sitk.sitkInt16), str(p))
    >>> nifti_truncated(p) is None
    True
    >>> _ = p.write_bytes(p.read_bytes()[:-10])
    >>> nifti_truncated(p)
    'the file is truncated or corrupt (expected 480 bytes of header and voxel data)'
    """
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
    if not path.exists():
        return _Info(error=("file_missing", "file not found"))
    img = None
    try:
        if path.is_dir():
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(path))
            if not files:
                return _Info(error=("file_unreadable", "the folder holds no DICOM series"))
            r = sitk.ImageFileReader()
            r.SetFileName(files[0])
            r.ReadImageInformation()
            size = tuple(r.GetSize()[:2]) + (len(files),)
            problem = header_problem(dimension=3, size=size, spacing=(1.0, 1.0, 1.0),
                                     origin=r.GetOrigin(), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
                                     components=int(r.GetNumberOfComponents()),
                                     pixel_type=sitk.GetPixelIDValueAsString(r.GetPixelID()))
            if problem:
                return _Info(error=("file_unreadable", problem))
            img = sitk.ReadImage(files)
            info = _from_image(img)
        else:
            if path.stat().st_size == 0:
                return _Info(error=("file_unreadable", "the file is empty (0 bytes)"))
            trunc = nifti_truncated(path)
            if trunc:
                return _Info(error=("file_unreadable", trunc))
            r = sitk.ImageFileReader()
            r.SetFileName(str(path))
            r.ReadImageInformation()
            problem = reader_header_problem(r)
            if problem:
                return _Info(error=("file_unreadable", problem))
            floating = sitk.GetPixelIDValueAsString(r.GetPixelID()).endswith("float")
            if read_labels or floating:  # float images are read in full for the NaN/inf check
                img = r.Execute()
                info = _from_image(img)
            else:
                info = _Info(size=tuple(r.GetSize()), spacing=tuple(r.GetSpacing()),
                             origin=tuple(r.GetOrigin()), direction=tuple(r.GetDirection()),
                             pixel_type=sitk.GetPixelIDValueAsString(r.GetPixelID()),
                             components=int(r.GetNumberOfComponents()),
                             integer=_is_int(r.GetPixelID()))
    except (RuntimeError, OSError, MemoryError) as exc:
        return _Info(error=("file_unreadable", sitk_detail(exc)))
    if img is not None:
        problem = header_problem(dimension=img.GetDimension(), size=img.GetSize(),
                                 spacing=img.GetSpacing(), origin=img.GetOrigin(),
                                 direction=img.GetDirection(),
                                 components=int(img.GetNumberOfComponentsPerPixel()),
                                 pixel_type=img.GetPixelIDTypeAsString())
        if problem:
            return _Info(error=("file_unreadable", problem))
        arr = sitk.GetArrayViewFromImage(img)
        if arr.dtype.kind == "f":
            n_bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
            if n_bad:
                return _Info(error=("nonfinite_voxels",
                                    f"holds {n_bad} NaN or infinite voxel value(s)"))
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


def outside_root(value: str, base: Path) -> str | None:
    """Where ``value`` (a manifest path, relative to ``base``) really leads, when outside ``base``.

    Relative and absolute paths are resolved with every symbolic link followed;
    the result must lie inside ``base`` (the manifest's folder, itself resolved).
    Returns the resolved path when it is outside, else None.
    """
    q = Path(value)
    if not q.is_absolute():
        q = Path(base) / q
    root = os.path.realpath(base)
    real = os.path.realpath(q)
    try:
        inside = os.path.commonpath([real, root]) == root
    except ValueError:  # different drives (Windows)
        inside = False
    return None if inside else real


def check_paths(manifest: pd.DataFrame, *, base: Path, col: Collector,
                allow_outside_root: bool = False) -> None:
    """Manifest image/mask paths that lead outside ``base`` (``path_outside_root``).

    With ``allow_outside_root`` they are reported as ``path_outside_cohort`` warnings instead.

    Examples
    --------
    >>> import pandas as pd, pathlib, tempfile
    >>> from radiorisk.io import Collector
    >>> col = Collector()
    >>> manifest = pd.DataFrame({"image_path": ["ct.nii.gz", "../elsewhere/ct.nii.gz"]})
    >>> check_paths(manifest, base=pathlib.Path(tempfile.mkdtemp()), col=col)
    >>> col.frame()[["row", "column", "rule"]].values.tolist()
    [[2, 'image_path', 'path_outside_root']]
    """
    for c, what in (("image_path", "image"), ("mask_path", "mask")):
        if c not in manifest:
            continue
        seen: dict[str, str | None] = {}
        for pos, value in enumerate(manifest[c].tolist()):
            if not isinstance(value, str) or not value.strip():
                continue
            if value not in seen:
                seen[value] = outside_root(value, base)
            real = seen[value]
            if real is None:
                continue
            if allow_outside_root:
                col.add("manifest", "path_outside_cohort",
                        f"{what} path {value!r} leads outside the data folder {base} (to {real}); "
                        "allowed by allow_outside_root", row=pos + 1, column=c, value=value)
            else:
                col.add("manifest", "path_outside_root",
                        f"{what} path {value!r} leads outside the data folder {base} (to {real}); "
                        "move the file into the folder, or allow it explicitly "
                        "(allow_outside_root=True, --allow-outside-root)",
                        row=pos + 1, column=c, value=value)


def check_images(manifest: pd.DataFrame, *, root: Path, base: Path, col: Collector) -> None:
    """Check every manifest row's image and mask (paths relative to ``base``)."""
    t = "manifest"
    cache: dict[tuple[str, bool], _Info] = {}

    def resolve(p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else base / q

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
            path = resolve(value)
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
