"""Read CT images and label maps (NIfTI, NRRD, DICOM series folders) with clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..exceptions import ImageError

__all__ = ["read_image", "check_same_geometry"]

#: Tolerances for "same geometry" (documented in README and used by io.validate).
SPACING_RTOL = 1e-4
ORIGIN_ATOL_MM = 1e-3
DIRECTION_ATOL = 1e-4


def read_image(path, *, what: str = "image") -> sitk.Image:
    """Read a 3-D image: a NIfTI/NRRD/MHA file or a folder holding one DICOM series.

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
        Naming the file and the problem (missing, not an image, corrupt, not 3-D).

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
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            series = reader.GetGDCMSeriesIDs(str(path))
            if not series:
                raise ImageError(f"{what} folder {path} holds no DICOM series")
            files = reader.GetGDCMSeriesFileNames(str(path), series[0])
            reader.SetFileNames(files)
            img = reader.Execute()
        else:
            if path.stat().st_size == 0:
                raise ImageError(f"{what} file {path} is empty (0 bytes)")
            img = sitk.ReadImage(str(path))
    except ImageError:
        raise
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = next((ln for ln in first if "rror" in ln or "annot" in ln), first[0] if first else "")
        raise ImageError(f"{what} file {path} cannot be read as an image ({detail.strip()[:200]})") from None
    if img.GetDimension() != 3:
        raise ImageError(f"{what} file {path} is {img.GetDimension()}-D; radiorisk needs 3-D volumes")
    return img


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
