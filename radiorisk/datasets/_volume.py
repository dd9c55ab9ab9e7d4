"""Full-size CCTA-like volumes with the lesion patches embedded (for engine benchmarks).

One volume per scan, at least 256 x 256 x 200 voxels: air outside an elliptic
body (soft tissue ~40 HU), two lungs (-850 HU), a vertebra, and a heart
(blood pool at the scan's lumen HU, enhanced myocardium, epicardial fat).  The
scan's lesion patches (exactly as :func:`~radiorisk.datasets._shapes.render_lesion_patch`
renders them, same random streams) are pasted as whole blocks at distinct
positions, vessel axis along z.  The mask holds one label per lesion
(1..n, the whole plaque of that lesion), so an engine can load the volume once
and crop each lesion.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ._image_files import iter_progress, validate_tables, write_nifti_atomic
from ._lesion_streams import hash_ints, lesion_rng
from ._scanner import ScannerModel, apply_psf, ct_noise, scan_params
from ._shapes import PLAQUE_LABELS, render_lesion_patch
from ._vessel_geometry import Z_SPACING_MM

__all__ = ["write_fullsize_volumes"]

_GAP = 2  # voxels between pasted patches


def _pack(shapes_zyx, nxy_vol: int, nz_min: int):
    """Place patch blocks in an in-plane grid of cells, stacking along z within a cell.

    Returns (positions (z, y, x) per patch, volume nz)."""
    cell = max(s[1] for s in shapes_zyx) + _GAP
    ncol = max(1, (nxy_vol - 2 * _GAP) // cell)
    off = (nxy_vol - ncol * cell) // 2
    centre = (ncol - 1) / 2.0
    cells = sorted(((i, j) for i in range(ncol) for j in range(ncol)),
                   key=lambda ij: ((ij[0] - centre) ** 2 + (ij[1] - centre) ** 2, ij))
    cursor = {c: _GAP for c in cells}
    nz = nz_min
    pos = []
    for shp in shapes_zyx:
        fits = [c for c in cells if cursor[c] + shp[0] + _GAP <= nz]
        if fits:
            c = min(fits, key=lambda c: (cursor[c], cells.index(c)))
        else:
            c = min(cells, key=lambda c: (cursor[c], cells.index(c)))
            nz = cursor[c] + shp[0] + _GAP
        y0 = off + c[0] * cell + (cell - shp[1]) // 2
        x0 = off + c[1] * cell + (cell - shp[2]) // 2
        pos.append((cursor[c], y0, x0))
        cursor[c] += shp[0] + _GAP
    return pos, nz


def _background(shape_zyx, spacing_xy: float, lumen_hu: float, model: ScannerModel,
                rng: np.random.Generator) -> np.ndarray:
    """Cartoon thorax through the scan's scanner model: PSF blur and noise with its NPS (float32, HU)."""
    nz, ny, nx = shape_zyx
    u = (np.arange(nx) - (nx - 1) / 2.0) / (nx / 2.0)
    v = (np.arange(ny) - (ny - 1) / 2.0) / (ny / 2.0)
    U, V = np.meshgrid(u, v)
    sl = np.full((ny, nx), -1000.0, np.float32)
    sl[(U / 0.97) ** 2 + (V / 0.82) ** 2 <= 1] = 40.0                       # body
    lungs = (((np.abs(U) - 0.5) / 0.36) ** 2 + ((V + 0.05) / 0.6) ** 2) <= 1
    sl[lungs] = -850.0
    sl[(U / 0.1) ** 2 + ((V - 0.66) / 0.1) ** 2 <= 1] = 450.0              # vertebra
    vol = np.empty(shape_zyx, np.float32)
    zz = (np.arange(nz) - (nz - 1) / 2.0) / (nz / 2.0)
    for k in range(nz):
        scale = math.sqrt(max(1.0 - 0.6 * zz[k] ** 2, 0.05))
        E = ((U - 0.08) / (0.46 * scale)) ** 2 + ((V + 0.02) / (0.40 * scale)) ** 2
        s = sl.copy()
        s[E <= 1.0] = -85.0            # epicardial fat
        s[E <= 0.82] = 100.0           # enhanced myocardium
        s[E <= 0.55] = lumen_hu        # blood pool
        vol[k] = s
    spacing = (Z_SPACING_MM, spacing_xy, spacing_xy)
    vol = apply_psf(vol, model, spacing)
    vol += ct_noise(rng, shape_zyx, spacing, model)
    return vol


def write_fullsize_volumes(truth_lesions: pd.DataFrame, scans: pd.DataFrame, out_dir, *, lesion_ids=None,
                           seed: int, progress: bool = False, min_shape=(256, 256, 200)) -> pd.DataFrame:
    """Embed each scan's lesions into one CCTA-like volume and write it with a per-lesion mask.

    Parameters
    ----------
    truth_lesions, scans : pandas.DataFrame
        As for :func:`~radiorisk.datasets._images.write_lesion_images`.
    out_dir : str or Path
        Cohort folder; writes ``images/<scan_id>_ccta.nii.gz`` and
        ``images/<scan_id>_ccta_mask.nii.gz``.
    lesion_ids : sequence of str, optional
        Lesions to embed (default all); they are grouped by scan.
    seed : int
        Cohort seed.  Each lesion block is rendered with the same stream as
        its patch, so it is identical to ``images/<lesion_id>_ct.nii.gz``
        (same spacing too); the background uses a stream derived from
        ``(seed, scan_id)``.
    progress : bool
        Show a tqdm progress bar over scans.
    min_shape : tuple of 3 int
        Minimum volume size (x, y, z); z grows when the lesions need more room.

    Returns
    -------
    pandas.DataFrame
        Manifest rows ``lesion_id, scan_id, patient_id, image_path, mask_path,
        label, reader`` in ``lesion_ids`` order, ``label`` = the lesion's value
        ``k`` (1..n within its scan), ``reader`` = ``"reader1"``.

    Examples
    --------
    >>> import tempfile, SimpleITK as sitk
    >>> from radiorisk.datasets._images import make_example_tables
    >>> truth, scans = make_example_tables(2, seed=0)
    >>> out = tempfile.mkdtemp()
    >>> man = write_fullsize_volumes(truth, scans, out, seed=0)
    >>> man[["lesion_id", "image_path", "label"]].values.tolist()
    [['L0000000', 'images/S000000_ccta.nii.gz', '1'], ['L0000001', 'images/S000000_ccta.nii.gz', '2']]
    >>> m = sitk.GetArrayFromImage(sitk.ReadImage(f"{out}/{man.mask_path[0]}"))
    >>> sorted(set(m.ravel().tolist()))
    [0, 1, 2]
    """
    ids = validate_tables(truth_lesions, scans, lesion_ids)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    tl = truth_lesions.assign(lesion_id=truth_lesions["lesion_id"].astype(str)).set_index("lesion_id", drop=False)
    sc = scans.assign(scan_id=scans["scan_id"].astype(str)).set_index("scan_id", drop=False)
    by_scan: dict[str, list[str]] = {}
    for lid in ids:
        by_scan.setdefault(str(tl.loc[lid, "scan_id"]), []).append(lid)
    row_of: dict[str, dict] = {}
    for sid in iter_progress(list(by_scan), progress, "full-size volumes"):
        image, mask = _scan_volume(sc.loc[sid], [tl.loc[lid] for lid in by_scan[sid]], seed=seed,
                                   min_shape=min_shape)
        ct_rel, m_rel = f"images/{sid}_ccta.nii.gz", f"images/{sid}_ccta_mask.nii.gz"
        write_nifti_atomic(image, out_dir / ct_rel)
        write_nifti_atomic(mask, out_dir / m_rel)
        for k, lid in enumerate(by_scan[sid], start=1):
            row_of[lid] = {"lesion_id": lid, "scan_id": sid, "patient_id": str(tl.loc[lid, "patient_id"]),
                           "image_path": ct_rel, "mask_path": m_rel, "label": str(k), "reader": "reader1"}
    cols = ["lesion_id", "scan_id", "patient_id", "image_path", "mask_path", "label", "reader"]
    return pd.DataFrame([row_of[lid] for lid in ids], columns=cols)


def _scan_volume(scan: pd.Series, lesion_rows: list, *, seed: int, min_shape) -> tuple[sitk.Image, sitk.Image]:
    """One scan's volume: its lesion blocks (rendered as their patches) pasted into the background.

    The mask holds ``k`` (1..n, in ``lesion_rows`` order) on the plaque of the k-th lesion.
    """
    sid = str(scan["scan_id"])
    sp = scan_params(dict(scan))
    s = sp["spacing_xy"]
    blocks = []
    for les in lesion_rows:
        _, _, info = render_lesion_patch(les, scan, rng=lesion_rng(seed, les["lesion_id"]), return_arrays=True)
        blocks.append((info["image_array"], info["mask_array"]))
    nx_min, ny_min, nz_min = (int(v) for v in min_shape)
    nxy = max(nx_min, ny_min)
    pos, nz = _pack([b[0].shape for b in blocks], nxy, nz_min)
    rng = np.random.default_rng([int(seed), 2, *_hash_scan(sid)])
    vol = _background((nz, nxy, nxy), s, sp["lumen_hu_scan"], sp["scanner"], rng)
    img = np.clip(np.rint(vol), -1024, 3071).astype(np.int16)
    dtype = np.uint8 if len(blocks) <= 255 else np.uint16
    msk = np.zeros(img.shape, dtype)
    plaque_lut = np.zeros(256, bool)
    plaque_lut[list(PLAQUE_LABELS)] = True
    for k, ((bi, bm), (z0, y0, x0)) in enumerate(zip(blocks, pos, strict=True), start=1):
        region = (slice(z0, z0 + bi.shape[0]), slice(y0, y0 + bi.shape[1]), slice(x0, x0 + bi.shape[2]))
        img[region] = bi
        msk[region][plaque_lut[bm]] = k
    image = sitk.GetImageFromArray(img)
    image.SetSpacing((s, s, Z_SPACING_MM))
    mask = sitk.GetImageFromArray(msk)
    mask.CopyInformation(image)
    return image, mask


def _hash_scan(scan_id: str) -> list[int]:
    return hash_ints("scan-volume", scan_id)
