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

__all__ = ["read_image", "check_same_geometry", "MAX_VOXELS"]

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


def _read_file(path: Path, what: str) -> sitk.Image:
    """One image file, refused when empty, truncated (NIfTI) or with an unusable header."""
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
    return reader.Execute()


def _check_voxels(img: sitk.Image, path: Path, what: str) -> None:
    """ImageError when the image read is unusable (header) or holds NaN/infinite voxels."""
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
                        f"(x, y, z) = ({x}, {y}, {z}) = {arr[z, y, x]}")


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
