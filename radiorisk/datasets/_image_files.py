"""Input checks and file writing shared by the lesion-patch and full-size volume writers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from tqdm.auto import tqdm

from .._files import atomic_write
from ..exceptions import SchemaError
from ._scanner import DETECTORS as _DETECTORS

__all__ = ["iter_progress", "validate_tables", "write_nifti_atomic"]

_LESION_REQUIRED = (
    "lesion_id", "scan_id", "patient_id", "length_mm", "ref_diameter_mm", "remodelling_index",
    "plaque_burden", "v_total_mm3", "v_calcified_mm3", "v_fibrous_mm3", "v_fibrofatty_mm3",
    "v_lap_mm3", "spotty_calc", "napkin_ring",
)
_SCAN_REQUIRED = ("scan_id", "lumen_hu_mean", "noise_sd_hu", "pixel_spacing_mm")


def validate_tables(truth_lesions: pd.DataFrame, scans: pd.DataFrame, lesion_ids) -> list:
    """Check the tables the image writers render from; return the lesion ids to render.

    Raises
    ------
    SchemaError
        Naming every missing column, unknown id and invalid value at once.

    Examples
    --------
    >>> from radiorisk.datasets._images import make_example_tables
    >>> truth, scans = make_example_tables(3, seed=0)
    >>> validate_tables(truth, scans, None)
    ['L0000000', 'L0000001', 'L0000002']
    """
    problems = []
    miss = [c for c in _LESION_REQUIRED if c not in truth_lesions.columns]
    if miss:
        problems.append(f"table truth_lesions lacks required column(s) {miss}")
    miss_s = [c for c in _SCAN_REQUIRED if c not in scans.columns]
    if miss_s:
        problems.append(f"table scans lacks required column(s) {miss_s}")
    if problems:
        raise SchemaError("; ".join(problems))
    if truth_lesions["lesion_id"].duplicated().any():
        dup = truth_lesions.loc[truth_lesions["lesion_id"].duplicated(), "lesion_id"].tolist()[:5]
        problems.append(f"table truth_lesions: column lesion_id must be unique, duplicated {dup}")
    ids = list(truth_lesions["lesion_id"]) if lesion_ids is None else [str(i) for i in lesion_ids]
    known = set(truth_lesions["lesion_id"].astype(str))
    unknown = [i for i in ids if i not in known]
    if unknown:
        problems.append(f"lesion_ids not in table truth_lesions: {unknown[:10]}")
    sub = truth_lesions[truth_lesions["lesion_id"].astype(str).isin(set(ids))]
    scan_ids = set(scans["scan_id"].astype(str))
    for _, row in sub.iterrows():
        where = f"table truth_lesions, row lesion_id={row['lesion_id']}"
        if str(row["scan_id"]) not in scan_ids:
            problems.append(f"{where}: scan_id {row['scan_id']!r} is not in table scans")
        for c in ("length_mm", "ref_diameter_mm", "remodelling_index", "plaque_burden", "v_total_mm3",
                  "v_calcified_mm3", "v_fibrous_mm3", "v_fibrofatty_mm3", "v_lap_mm3"):
            v = pd.to_numeric(pd.Series([row[c]]), errors="coerce").iloc[0]
            if not np.isfinite(v) or v < 0:
                problems.append(f"{where}, column {c}: value {row[c]!r} must be a finite number >= 0")
            elif c in ("length_mm", "ref_diameter_mm", "remodelling_index") and v <= 0:
                problems.append(f"{where}, column {c}: value {row[c]!r} must be > 0")
    used = scans[scans["scan_id"].astype(str).isin(set(sub["scan_id"].astype(str)))]
    for _, row in used.iterrows():
        for c in ("lumen_hu_mean", "noise_sd_hu", "pixel_spacing_mm"):
            v = pd.to_numeric(pd.Series([row[c]]), errors="coerce").iloc[0]
            if not np.isfinite(v) or (c != "lumen_hu_mean" and v <= 0):
                problems.append(f"table scans, row scan_id={row['scan_id']}, column {c}: value {row[c]!r} "
                                "must be a finite number" + (" > 0" if c != "lumen_hu_mean" else ""))
        det = row.get("detector")
        if det is not None and (isinstance(det, str) or not pd.isna(det)) and str(det) not in _DETECTORS:
            problems.append(f"table scans, row scan_id={row['scan_id']}, column detector: value {det!r} "
                            f"must be one of {list(_DETECTORS)} (or missing: energy-integrating)")
        st = row.get("slice_thickness_mm")
        if st is not None and not pd.isna(st) and not (np.isfinite(float(st)) and float(st) > 0):
            problems.append(f"table scans, row scan_id={row['scan_id']}, column slice_thickness_mm: "
                            f"value {st!r} must be a finite number > 0 (or missing: 0.625 mm)")
    if problems:
        raise SchemaError(f"cannot render lesion images ({len(problems)} problem(s)): " + "; ".join(problems))
    return ids


def write_nifti_atomic(image: sitk.Image, path: Path) -> None:
    """Write ``image`` as compressed NIfTI with the one atomic writer.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.nii.gz"
    >>> write_nifti_atomic(sitk.Image(4, 4, 4, sitk.sitkUInt8), p)
    >>> sitk.ReadImage(str(p)).GetSize()
    (4, 4, 4)
    """
    # SimpleITK picks the writer by extension: the temporary name keeps ".nii.gz"
    atomic_write(path, lambda tmp: sitk.WriteImage(image, str(tmp), True), suffix=".nii.gz")


def iter_progress(items, progress, desc: str):
    """``items``, wrapped in a tqdm progress bar when ``progress`` is True.

    ``progress`` may instead be a callback ``progress(desc, done, total)``, called
    before the first item and after each one (the caller renders it).

    Examples
    --------
    >>> list(iter_progress([1, 2], False, "x"))
    [1, 2]
    >>> seen = []
    >>> list(iter_progress([1, 2], lambda *a: seen.append(a), "x")), seen[-1]
    ([1, 2], ('x', 2, 2))
    """
    if callable(progress):
        return _reporting(list(items), progress, desc)
    if progress:
        return tqdm(items, desc=desc)
    return items


def _reporting(items: list, progress, desc: str):
    if items:
        progress(desc, 0, len(items))
    for i, item in enumerate(items, 1):
        yield item
        progress(desc, i, len(items))
