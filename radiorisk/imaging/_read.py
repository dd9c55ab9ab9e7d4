"""Read CT images and label maps (NIfTI, NRRD, DICOM series folders) with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..exceptions import ImageError
from ..io import (
    DIRECTION_TOL,
    MAX_VOXELS,
    ORIGIN_TOL_MM,
    SPACING_TOL_REL,
    header_problem,
    nifti_truncated,
    reader_header_problem,
    sitk_detail,
)

__all__ = ["read_image", "read_header", "read_region", "ImageHeader", "ImageRegion", "check_same_geometry",
           "MAX_VOXELS"]

#: Tolerances for "same geometry": the ones ``radiorisk.io.validate`` checks manifests with.
SPACING_RTOL = SPACING_TOL_REL
ORIGIN_ATOL_MM = ORIGIN_TOL_MM
DIRECTION_ATOL = DIRECTION_TOL


def _fail(what: str, path: Path, problem: str) -> ImageError:
    return ImageError(f"{what} file {path} {problem}")


def read_image(path, *, what: str = "image") -> sitk.Image:
    """Read a 3-D image: a NIfTI/NRRD/MHA file or a folder holding one DICOM series.

    Only voxels and geometry (size, spacing, origin, direction) are kept: the
    file's metadata (e.g. DICOM patient and study fields) is dropped, so no
    header field can reach an output.

    Parameters
    ----------
    path : str or Path
        File, or folder of DICOM files (the first series found is read).
    what : str
        Word used in error messages ("image", "mask").

    Returns
    -------
    SimpleITK.Image

    Raises
    ------
    ImageError
        Naming the file and the problem: missing, empty, not an image, corrupt
        or truncated, not 3-D, more than one value per voxel, zero/negative or
        non-finite spacing, more than ``MAX_VOXELS`` voxels (refused from the
        header, before reading), or NaN/infinite voxel values.

    Examples
    --------
    >>> import SimpleITK as sitk, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.nii.gz")
    >>> sitk.WriteImage(sitk.Image(4, 4, 4, sitk.sitkInt16), p)
    >>> read_image(p).GetSize()
    (4, 4, 4)
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{what} file {path} does not exist")
    try:
        img = _read_dicom_series(path, what) if path.is_dir() else _read_file(path, what)
    except ImageError:
        raise
    except (RuntimeError, OSError, MemoryError) as exc:
        raise ImageError(f"{what} file {path} cannot be read as an image ({sitk_detail(exc)})") from None
    _check_voxels(img, path, what)
    for key in img.GetMetaDataKeys():  # keep voxels and geometry only (no header field leaks)
        img.EraseMetaData(key)
    return img


def _read_dicom_series(path: Path, what: str) -> sitk.Image:
    """The first DICOM series of a folder, its header checked from the first file before reading."""
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(path))
    if not series:
        raise ImageError(f"{what} folder {path} holds no DICOM series")
    files = reader.GetGDCMSeriesFileNames(str(path), series[0])
    head = sitk.ImageFileReader()
    head.SetFileName(files[0])
    head.ReadImageInformation()
    problem = header_problem(
        dimension=3, size=tuple(head.GetSize()[:2]) + (len(files),), spacing=(1.0, 1.0, 1.0),
        origin=head.GetOrigin(), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1),
        components=int(head.GetNumberOfComponents()),
        pixel_type=sitk.GetPixelIDValueAsString(head.GetPixelID()))
    if problem:
        raise _fail(what, path, problem)
    reader.SetFileNames(files)
    reader.MetaDataDictionaryArrayUpdateOff()
    reader.LoadPrivateTagsOff()
    return reader.Execute()


def _checked_reader(path: Path, what: str) -> sitk.ImageFileReader:
    """A reader of one image file with its header read, refused when empty, truncated (NIfTI) or
    with an unusable header."""
    if path.stat().st_size == 0:
        raise ImageError(f"{what} file {path} is empty (0 bytes)")
    trunc = nifti_truncated(path)
    if trunc:
        raise ImageError(f"{what} file {path} cannot be read as an image ({trunc})")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    problem = reader_header_problem(reader)
    if problem:
        raise _fail(what, path, problem)
    return reader


def _read_file(path: Path, what: str) -> sitk.Image:
    """One image file, refused when empty, truncated (NIfTI) or with an unusable header."""
    return _checked_reader(path, what).Execute()


def _check_voxels(img: sitk.Image, path: Path, what: str, offset=(0, 0, 0)) -> None:
    """ImageError when the image read is unusable (header) or holds NaN/infinite voxels (reported at
    their index in the whole image: ``offset`` is where a region read starts)."""
    problem = header_problem(dimension=img.GetDimension(), size=img.GetSize(), spacing=img.GetSpacing(),
                             origin=img.GetOrigin(), direction=img.GetDirection(),
                             components=int(img.GetNumberOfComponentsPerPixel()),
                             pixel_type=img.GetPixelIDTypeAsString())
    if problem:
        raise _fail(what, path, problem)
    arr = sitk.GetArrayViewFromImage(img)
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            n_bad = int(arr.size - np.count_nonzero(finite))
            z, y, x = (int(i[0]) for i in np.nonzero(~finite))
            raise _fail(what, path, f"holds {n_bad} NaN or infinite voxel value(s), e.g. at voxel "
                        f"(x, y, z) = ({x + offset[0]}, {y + offset[1]}, {z + offset[2]}) = {arr[z, y, x]}")


class ImageHeader:
    """The geometry and pixel type of an image file, read from its header only (no voxels).

    It answers the geometry questions of a ``SimpleITK.Image`` (``GetSize``, ``GetSpacing``,
    ``GetOrigin``, ``GetDirection``, ``GetPixelID``, index <-> physical point), with the values the
    whole image read by SimpleITK has, so that crops can be planned before any voxel is read.
    """

    def __init__(self, path: Path, reader: sitk.ImageFileReader):
        self.path = path
        self.size = tuple(int(v) for v in reader.GetSize())
        self.pixel_id = reader.GetPixelID()
        # a one-voxel image with the file's geometry: SimpleITK's own index <-> point transforms
        self.ref = sitk.Image([1] * len(self.size), sitk.sitkUInt8)
        self.ref.SetSpacing(reader.GetSpacing())
        self.ref.SetOrigin(reader.GetOrigin())
        self.ref.SetDirection(reader.GetDirection())

    def GetSize(self):  # noqa: N802 - SimpleITK's names, so that geometry code takes either
        return self.size

    def GetSpacing(self):  # noqa: N802
        return self.ref.GetSpacing()

    def GetOrigin(self):  # noqa: N802
        return self.ref.GetOrigin()

    def GetDirection(self):  # noqa: N802
        return self.ref.GetDirection()

    def GetPixelID(self):  # noqa: N802
        return self.pixel_id

    def TransformIndexToPhysicalPoint(self, index):  # noqa: N802
        return self.ref.TransformIndexToPhysicalPoint([int(i) for i in index])

    def TransformPhysicalPointToContinuousIndex(self, point):  # noqa: N802
        return self.ref.TransformPhysicalPointToContinuousIndex(point)


def read_header(path, *, what: str = "image") -> ImageHeader:
    """The header of an image file (geometry and pixel type), checked as :func:`read_image` checks it.

    Raises :class:`ImageError` for a missing, empty, truncated (NIfTI) or unusable file.  A DICOM
    folder has no single header: ImageError too (read it whole with :func:`read_image`).

    Examples
    --------
    >>> import SimpleITK as sitk, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.nii.gz")
    >>> img = sitk.Image(4, 5, 6, sitk.sitkInt16); img.SetSpacing((0.5, 0.5, 2.0))
    >>> sitk.WriteImage(img, p)
    >>> h = read_header(p); h.GetSize(), h.GetSpacing()
    ((4, 5, 6), (0.5, 0.5, 2.0))
    """
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{what} file {path} does not exist")
    if path.is_dir():
        raise ImageError(f"{what} folder {path} is a DICOM series: it has no single header")
    try:
        return ImageHeader(path, _checked_reader(path, what))
    except ImageError:
        raise
    except (RuntimeError, OSError, MemoryError) as exc:
        raise ImageError(f"{what} file {path} cannot be read as an image ({sitk_detail(exc)})") from None


class ImageRegion:
    """The voxels of one box of an image, addressed by the whole image's voxel indices.

    Slicing it (``region[x0:x1, y0:y1, z0:z1]``, steps of 1, inside the box read) gives the image
    that slicing the whole image gives: the same voxels, spacing and direction, and the origin
    SimpleITK gives the slice (the whole image's index-to-point transform at the slice's start).
    Geometry questions are answered for the whole image (:class:`ImageHeader`).

    Attributes
    ----------
    image : SimpleITK.Image
        The voxels read: the box ``start`` .. ``start + image.GetSize()``.
    start : tuple of int
        Where the box starts (x, y, z) in the whole image.
    header : ImageHeader
        The whole image's geometry.
    """

    def __init__(self, image: sitk.Image, start, header: ImageHeader):
        self.image = image
        self.start = tuple(int(v) for v in start)
        self.header = header

    @property
    def whole(self) -> bool:
        """True when the box read is the whole image."""
        return self.start == (0,) * len(self.start) and tuple(self.image.GetSize()) == self.header.size

    def GetPixelID(self):  # noqa: N802 - the voxels' type, as read
        return self.image.GetPixelID()

    def __getattr__(self, name):  # geometry of the whole image (GetSize, GetSpacing, ...)
        if name.startswith(("Get", "Transform")):
            return getattr(self.header, name)
        raise AttributeError(name)

    def __getitem__(self, key) -> sitk.Image:
        lo = [0 if k.start is None else int(k.start) for k in key]
        hi = [n if k.stop is None else int(k.stop) for k, n in zip(key, self.header.size, strict=True)]
        if any(k.step not in (None, 1) for k in key):
            raise ValueError("an ImageRegion is sliced with steps of 1 only")
        if lo == [0] * len(lo) and hi == list(self.header.size):
            return self.whole_image()
        end = [s + n for s, n in zip(self.start, self.image.GetSize(), strict=True)]
        if any(a < s or b > e for a, b, s, e in zip(lo, hi, self.start, end, strict=True)):
            raise ValueError(f"box {lo}..{hi} is not inside the region read ({list(self.start)}..{end})")
        out = self.image[tuple(slice(a - s, b - s) for a, b, s in zip(lo, hi, self.start, strict=True))]
        out.SetOrigin(self.header.TransformIndexToPhysicalPoint(lo))
        return out

    def whole_image(self) -> sitk.Image:
        """The whole image (ValueError unless the box read is the whole image)."""
        if not self.whole:
            raise ValueError("only part of the image was read")
        return self.image


def read_region(header: ImageHeader, start, stop, *, what: str = "image") -> ImageRegion:
    """Read the box [start, stop) (voxel indices x, y, z) of the image whose header is ``header``.

    Only the box is kept in memory (SimpleITK's streamed read: a compressed file is still
    decompressed up to the box's last voxel).  The voxels are checked as :func:`read_image`
    checks them (NaN or infinite values), inside the box.  ImageError as in :func:`read_image`.

    Examples
    --------
    >>> import SimpleITK as sitk, numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.nii.gz")
    >>> img = sitk.GetImageFromArray(np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4))
    >>> sitk.WriteImage(img, p)
    >>> r = read_region(read_header(p), [1, 0, 2], [3, 5, 4])
    >>> r.image.GetSize(), r[1:3, 0:2, 2:3].GetOrigin() == img[1:3, 0:2, 2:3].GetOrigin()
    ((2, 5, 2), True)
    """
    path = header.path
    start = [int(v) for v in start]
    size = [int(b) - int(a) for a, b in zip(start, stop, strict=True)]
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    if start != [0] * len(start) or tuple(size) != header.size:
        reader.SetExtractIndex(start)
        reader.SetExtractSize(size)
    try:
        img = reader.Execute()
    except (RuntimeError, OSError, MemoryError) as exc:
        raise ImageError(f"{what} file {path} cannot be read as an image ({sitk_detail(exc)})") from None
    _check_voxels(img, path, what, offset=start)
    for key in img.GetMetaDataKeys():  # keep voxels and geometry only (no header field leaks)
        img.EraseMetaData(key)
    return ImageRegion(img, start, header)


def check_same_geometry(image: sitk.Image, mask: sitk.Image, *, image_path="image", mask_path="mask") -> None:
    """Raise :class:`ImageError` unless image and mask share size, spacing, origin and direction.

    Tolerances: spacing relative 1e-4, origin 1e-3 mm, direction cosines 1e-4.

    Examples
    --------
    >>> import SimpleITK as sitk
    >>> a = sitk.Image(4, 4, 4, sitk.sitkInt16); b = sitk.Image(4, 4, 4, sitk.sitkUInt8)
    >>> check_same_geometry(a, b)
    >>> b.SetSpacing((1.0, 1.0, 2.0))
    >>> check_same_geometry(a, b)
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.ImageError: mask spacing (1.0, 1.0, 2.0) differs from image spacing (1.0, 1.0, 1.0) (image vs mask)
    """
    problems = []
    if image.GetSize() != mask.GetSize():
        problems.append(f"mask size {mask.GetSize()} differs from image size {image.GetSize()}")
    if not np.allclose(image.GetSpacing(), mask.GetSpacing(), rtol=SPACING_RTOL, atol=0):
        problems.append(f"mask spacing {mask.GetSpacing()} differs from image spacing {image.GetSpacing()}")
    if not np.allclose(image.GetOrigin(), mask.GetOrigin(), rtol=0, atol=ORIGIN_ATOL_MM):
        problems.append(f"mask origin {mask.GetOrigin()} differs from image origin {image.GetOrigin()}")
    if not np.allclose(image.GetDirection(), mask.GetDirection(), rtol=0, atol=DIRECTION_ATOL):
        problems.append("mask direction differs from image direction")
    if problems:
        raise ImageError("; ".join(problems) + f" ({image_path} vs {mask_path})")
