"""Synthetic CCTA plaque images: one straightened CT patch per lesion.

Writes the patches that :func:`~radiorisk.datasets._shapes.render_lesion_patch`
renders (that module describes how a lesion is drawn) as NIfTI with their
manifest rows, perturbs the second reader's mask, and makes small example
tables; the full-size volumes come from :mod:`radiorisk.datasets._volume`.
See ``docs/synthetic_images.md``.

Every lesion draws from its own random stream, derived only from
``(seed, lesion_id)``, so a lesion renders identically whatever other lesions
are rendered and in whatever order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import ndimage as ndi

from ._image_files import iter_progress, validate_tables, write_nifti_atomic
from ._lesion_streams import lesion_rng
from ._shapes import (  # LABELS, PLAQUE_LABELS, Z_SPACING_MM, render_lesion_patch: re-exported
    _PLAQUE_LABEL_STR,
    LABELS,
    PLAQUE_LABELS,
    Z_SPACING_MM,  # noqa: F401  (tests and benchmarks import it from here)
    render_lesion_patch,
)
from ._vessel_geometry import WALL_MM
from ._volume import write_fullsize_volumes as _write_fullsize_volumes
from ._voxels import smooth_field, top

__all__ = [
    "LABELS",
    "PLAQUE_LABELS",
    "lesion_rng",
    "make_example_tables",
    "perturb_plaque_mask",
    "render_lesion_patch",
    "write_fullsize_volumes",
    "write_lesion_images",
]


# ---------------------------------------------------------------------------------------
# second reader
# ---------------------------------------------------------------------------------------
def perturb_plaque_mask(mask: np.ndarray, *, rng: np.random.Generator, spacing_zyx=(0.5, 0.45, 0.45),
                        fraction: float = 0.35) -> np.ndarray:
    """A second reader's label map: the plaque boundary moved by one voxel in places.

    A smooth random field (correlation ~2 mm) decides where the reader draws the
    plaque one voxel wider (into lumen, wall or fat) and where one voxel
    tighter.  The number of voxels added and removed each equal
    ``fraction / 2`` of the plaque's boundary voxels, so the volume is about
    unchanged and the Dice coefficient with reader 1 is roughly
    ``1 - fraction/2 x boundary share`` (0.8-0.95 for coronary plaques at 0.45 mm).

    Parameters
    ----------
    mask : ndarray (z, y, x) of uint8
        Reader 1's label map (:data:`LABELS`).
    rng : numpy.random.Generator
    spacing_zyx : sequence of 3 floats
        Voxel spacing (mm) used to size the field's correlation length.
    fraction : float
        Share of the boundary that moves (0-1).

    Returns
    -------
    ndarray
        The perturbed label map (same labels, same shape).

    Examples
    --------
    >>> import numpy as np
    >>> m = np.full((12, 12, 12), 1, np.uint8); m[3:9, 3:9, 3:9] = 2
    >>> p = perturb_plaque_mask(m, rng=np.random.default_rng(0))
    >>> p.shape == m.shape and set(np.unique(p).tolist()) <= {1, 2}
    True
    >>> a, b = m == 2, p == 2
    >>> bool(0.8 < 2 * (a & b).sum() / (a.sum() + b.sum()) < 0.95)
    True
    """
    mask = np.asarray(mask)
    plaque = (mask >= 2) & (mask <= 5)
    out = mask.copy()
    if not plaque.any() or fraction <= 0:
        return out
    idx = np.argwhere(plaque)
    lo = np.maximum(idx.min(0) - 3, 0)
    hi = np.minimum(idx.max(0) + 4, mask.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    m = mask[box]
    p = plaque[box]
    sig = tuple(2.0 / float(sp) for sp in spacing_zyx)
    field = smooth_field(rng, m.shape, sig, truncate=2.0)
    st = ndi.generate_binary_structure(3, 1)
    grow_c = ndi.binary_dilation(p, st) & ~p & ((m == 1) | (m == 6) | (m == 7))
    shrink_c = p & ndi.binary_dilation(~p, st)
    n_move = int(round(0.5 * min(fraction, 1.0) * shrink_c.sum()))
    grow = top(field, grow_c, n_move)
    shrink = top(-field, shrink_c, n_move)
    # grown voxels take the neighbouring component (fibrous preferred, then fibro-fatty, LAP, calcium)
    prio = np.zeros(256, np.uint8)
    prio[[2, 3, 4, 5]] = [4, 3, 2, 1]
    back = np.array([0, 5, 4, 3, 2], np.uint8)
    neigh = back[ndi.grey_dilation(prio[m], footprint=st)]
    mb = out[box]
    mb[grow] = neigh[grow]
    near_lumen = ndi.binary_dilation(m == 1, st)
    near_fat = ndi.binary_dilation(m == 6, st)
    mb[shrink & near_lumen] = 1
    mb[shrink & ~near_lumen & near_fat] = 6
    mb[shrink & ~near_lumen & ~near_fat] = 7
    return out


def write_lesion_images(truth_lesions: pd.DataFrame, scans: pd.DataFrame, out_dir, *, lesion_ids=None,
                        seed: int, second_reader: bool = False, progress: bool = False) -> pd.DataFrame:
    """Render lesion patches and write them as NIfTI, with their manifest rows.

    Parameters
    ----------
    truth_lesions : pandas.DataFrame
        Noise-free lesion truth, one row per lesion (see :func:`render_lesion_patch`)
        plus ``patient_id``.
    scans : pandas.DataFrame
        Scan table with ``scan_id, lumen_hu_mean, noise_sd_hu,
        pixel_spacing_mm`` (``slice_thickness_mm`` optional).
    out_dir : str or Path
        Cohort folder; files go to ``out_dir/images/``.
    lesion_ids : sequence of str, optional
        Lesions to render, in manifest order (default: all rows).
    seed : int
        Cohort seed; lesion ``i`` uses :func:`lesion_rng` ``(seed, lesion_id)``.
    second_reader : bool
        Also write ``<lesion_id>_mask_reader2.nii.gz`` (boundary perturbed).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    pandas.DataFrame
        ``lesion_id, scan_id, patient_id, image_path, mask_path, label, reader``
        with paths relative to ``out_dir`` (POSIX), label ``"2,3,4,5"``.

    Raises
    ------
    SchemaError
        Naming every missing column, unknown id or invalid value at once.

    Examples
    --------
    >>> import tempfile
    >>> truth, scans = make_example_tables(2, seed=0)
    >>> out = tempfile.mkdtemp()
    >>> man = write_lesion_images(truth, scans, out, seed=0, second_reader=True)
    >>> man[["lesion_id", "image_path", "label", "reader"]].values.tolist()[:2]
    [['L0000000', 'images/L0000000_ct.nii.gz', '2,3,4,5', 'reader1'], ['L0000000', 'images/L0000000_ct.nii.gz', '2,3,4,5', 'reader2']]
    """
    ids = validate_tables(truth_lesions, scans, lesion_ids)
    out_dir = Path(out_dir)
    img_dir = out_dir / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    tl = truth_lesions.assign(lesion_id=truth_lesions["lesion_id"].astype(str)).set_index("lesion_id", drop=False)
    sc = scans.assign(scan_id=scans["scan_id"].astype(str)).set_index("scan_id", drop=False)
    rows = []
    for lid in iter_progress(ids, progress, "lesion images"):
        les = tl.loc[lid]
        scan = sc.loc[str(les["scan_id"])]
        image, mask, info = render_lesion_patch(les, scan, rng=lesion_rng(seed, lid), return_arrays=second_reader)
        ct_rel, m_rel = f"images/{lid}_ct.nii.gz", f"images/{lid}_mask.nii.gz"
        write_nifti_atomic(image, out_dir / ct_rel)
        write_nifti_atomic(mask, out_dir / m_rel)
        base = {"lesion_id": lid, "scan_id": str(les["scan_id"]), "patient_id": str(les["patient_id"]),
                "image_path": ct_rel, "label": _PLAQUE_LABEL_STR}
        rows.append({**base, "mask_path": m_rel, "reader": "reader1"})
        if second_reader:
            m2 = perturb_plaque_mask(info["mask_array"], rng=lesion_rng(seed, lid, stream=1),
                                     spacing_zyx=info["spacing_mm"][::-1])
            mask2 = sitk.GetImageFromArray(m2)
            mask2.CopyInformation(image)
            m2_rel = f"images/{lid}_mask_reader2.nii.gz"
            write_nifti_atomic(mask2, out_dir / m2_rel)
            rows.append({**base, "mask_path": m2_rel, "reader": "reader2"})
    cols = ["lesion_id", "scan_id", "patient_id", "image_path", "mask_path", "label", "reader"]
    return pd.DataFrame(rows, columns=cols)


def write_fullsize_volumes(truth_lesions: pd.DataFrame, scans: pd.DataFrame, out_dir, *, lesion_ids=None,
                           seed: int, progress: bool = False, min_shape=(256, 256, 200)) -> pd.DataFrame:
    """Embed each scan's lesions in one full-size CCTA-like volume (engine benchmarks).

    See :func:`radiorisk.datasets._volume.write_fullsize_volumes` for details.

    Examples
    --------
    >>> import tempfile, SimpleITK as sitk
    >>> truth, scans = make_example_tables(2, seed=0)
    >>> out = tempfile.mkdtemp()
    >>> man = write_fullsize_volumes(truth, scans, out, seed=0)
    >>> sitk.ReadImage(f"{out}/{man.image_path[0]}").GetSize()[:2]
    (256, 256)
    """
    return _write_fullsize_volumes(truth_lesions, scans, out_dir, lesion_ids=lesion_ids, seed=seed, progress=progress,
                 min_shape=min_shape)


# ---------------------------------------------------------------------------------------
# example tables (docs, tests, benchmarks)
# ---------------------------------------------------------------------------------------
def make_example_tables(n: int = 20, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Small ``truth_lesions`` and ``scans`` tables following the image generator's contract.

    Lesions follow DOMAIN.md section 6 loosely (burden, remodelling, volume
    ``pb x EEM x RI x length x 0.6``, calcified share falling and LAP share rising
    with V); two lesions share each scan.

    Parameters
    ----------
    n : int
        Number of lesions.
    seed : int

    Returns
    -------
    (truth_lesions, scans) : tuple of pandas.DataFrame

    Examples
    --------
    >>> truth, scans = make_example_tables(4, seed=0)
    >>> len(truth), len(scans), bool(truth.lesion_id.is_unique)
    (4, 2, True)
    """
    rng = np.random.default_rng(seed)
    a = rng.normal(0.5, 1.2, n)
    v = 0.5 * a + rng.normal(0, 0.85, n)
    zl = 0.3 * a + 0.35 * v + rng.normal(0, 0.9, n)
    pb = 1 / (1 + np.exp(-rng.normal(-0.2 + 0.6 * a, 1.0)))
    pb = np.clip(pb, 0.15, 0.85)
    ri = np.clip(0.84 + 0.10 * v + 0.4 * (pb - 0.4) + rng.normal(0, 0.08, n), 0.75, 1.6)
    ref_d = np.clip(rng.normal(3.2, 0.6, n), 1.8, 4.5)
    length = np.clip(np.exp(rng.normal(np.log(12), 0.45, n)), 4, 40)
    eem = np.pi * (ref_d / 2 + WALL_MM) ** 2
    vt = pb * eem * ri * length * 0.6
    fca = 1 / (1 + np.exp(-(-0.4 - 0.6 * v + rng.normal(0, 1.0, n))))
    flap = 1 / (1 + np.exp(-(-2.0 + 0.8 * v + rng.normal(0, 0.5, n))))
    vca = vt * fca
    ncp = vt - vca
    vlap = ncp * flap
    fib_share = rng.uniform(0.35, 0.65, n)
    vfib = (ncp - vlap) * fib_share
    vff = ncp - vlap - vfib
    spotty = (vca > 0.5) & (vca < 25) & (rng.uniform(size=n) < 0.5 + 0.1 * v)
    napkin = (v > 1.0) & (flap > 0.25) & (vlap >= 15)
    n_scans = max(1, (n + 1) // 2)
    scan_idx = np.arange(n) // 2
    lesions = pd.DataFrame({
        "lesion_id": [f"L{i:07d}" for i in range(n)],
        "scan_id": [f"S{j:06d}" for j in scan_idx],
        "patient_id": [f"P{j:06d}" for j in scan_idx],
        "vessel": rng.choice(["LAD", "RCA", "LCX"], n),
        "segment": rng.choice([1, 2, 6, 7, 11], n),
        "length_mm": length,
        "ref_diameter_mm": ref_d,
        "remodelling_index": ri,
        "plaque_burden": pb,
        "v_total_mm3": vt,
        "v_calcified_mm3": vca,
        "v_fibrous_mm3": vfib,
        "v_fibrofatty_mm3": vff,
        "v_lap_mm3": vlap,
        "spotty_calc": spotty,
        "napkin_ring": napkin,
        "pos_remodelling": ri >= 1.1,
        "latent_v": v,
        "latent_z": zl,
    })
    scans = pd.DataFrame({
        "scan_id": [f"S{j:06d}" for j in range(n_scans)],
        "patient_id": [f"P{j:06d}" for j in range(n_scans)],
        "lumen_hu_mean": rng.uniform(320, 480, n_scans),
        "noise_sd_hu": rng.uniform(18, 40, n_scans),
        "pixel_spacing_mm": rng.uniform(0.4, 0.5, n_scans),
        "slice_thickness_mm": rng.choice([0.5, 0.625, 0.75], n_scans),
    })
    return lesions, scans
