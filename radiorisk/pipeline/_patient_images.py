"""The lesion images of the patient report: slices through each imaged lesion, its components and volumes.

For every manifest row (reader ``reader1`` first) of a reported patient,
:func:`lesion_images` reads the CT image and the lesion mask
(:func:`radiorisk.imaging.read_image`, the same geometry check as
:func:`radiorisk.imaging.measure_plaque`), measures the lesion with
:func:`radiorisk.imaging.plaque_metrics` (the thresholds of
:class:`radiorisk.imaging.PlaqueThresholds`, as ``radiorisk measure`` does), and
cuts the three array planes through the plaque centroid, cropped to a window
around it. Each plaque voxel is coloured by the HU class of those same thresholds.
A lesion whose image cannot be read is a note, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ..exceptions import RadioriskError
from ..features import index_scans
from ..imaging import (
    PlaqueThresholds,
    VoxelMapError,
    check_same_geometry,
    plaque_metrics,
    radiomic_feature_of_column,
    read_image,
    read_manifest_for_extraction,
    voxel_feature_maps,
)
from ..report import LesionImage

__all__ = ["lesion_images", "component_map", "dicom_evidence", "Heatmaps", "heatmap_features"]

#: Mask labels of lumen and normal wall (DOMAIN.md coding, the defaults of measure_plaque).
_LUMEN, _WALL = (1,), (7,)


def component_map(hu: np.ndarray, plaque: np.ndarray, thresholds: PlaqueThresholds) -> np.ndarray:
    """The plaque component of each voxel by HU class: 0 not plaque, 1 LAP, 2 fibro-fatty, 3 fibrous, 4 calcified.

    The classes are those :func:`radiorisk.imaging.plaque_metrics` sums into
    ``v_lap_mm3, v_fibrofatty_mm3, v_fibrous_mm3, v_calcified_mm3``: below
    ``lap_hu``; ``lap_hu`` to ``fibrofatty_hu`` inclusive; above that up to
    ``calcified_hu`` inclusive; above ``calcified_hu``.

    Examples
    --------
    >>> hu = np.array([[10.0, 30.0, 130.0, 131.0, 350.0, 351.0]])
    >>> component_map(hu, np.ones_like(hu, bool), PlaqueThresholds()).tolist()
    [[1, 2, 2, 3, 3, 4]]
    """
    th = thresholds
    out = np.zeros(hu.shape, np.int8)
    out[plaque & (hu < th.lap_hu)] = 1
    out[plaque & (hu >= th.lap_hu) & (hu <= th.fibrofatty_hu)] = 2
    out[plaque & (hu > th.fibrofatty_hu) & (hu <= th.calcified_hu)] = 3
    out[plaque & (hu > th.calcified_hu)] = 4
    return out


def _window(c: int, n: int, half: int) -> slice:
    return slice(max(c - half, 0), min(c + half + 1, n))


def _planes(shape, spacing_zyx, centre, window_mm: float):
    """Axial (z), coronal (y) and sagittal (x) planes through ``centre``, cropped to ``window_mm`` each side:
    ``((index, (row mm, column mm)), ...)``."""
    sz, sy, sx = spacing_zyx
    z, y, x = centre
    nz, ny, nx = shape
    wz, wy, wx = (_window(c, n, max(int(round(window_mm / s)), 1))
                  for c, n, s in ((z, nz, sz), (y, ny, sy), (x, nx, sx)))
    return ((np.s_[z, wy, wx], (sy, sx)), (np.s_[wz, y, wx], (sz, sx)), (np.s_[wz, wy, x], (sz, sy)))


def _slices(arr, plaque, spacing_zyx, centre, window_mm: float, thresholds: PlaqueThresholds):
    """The planes of :func:`_planes` with their components (classified on the planes only: a CT volume is
    never copied whole)."""
    planes = _planes(arr.shape, spacing_zyx, centre, window_mm)
    hu = tuple(np.asarray(arr[p], np.float64) for p, _ in planes)
    pl = tuple(np.asarray(plaque[p], bool) for p, _ in planes)
    cm = tuple(component_map(h, m, thresholds) for h, m in zip(hu, pl, strict=True))
    return tuple(h.astype(np.float32) for h in hu), pl, cm, tuple(px for _, px in planes)


def _lesion_numbers(cohort, pid: str) -> dict:
    """Lesion id -> its number in the report's lesion list (the patient's lesions of its indexed scan)."""
    les = cohort.lesions[cohort.lesions["patient_id"].astype(str) == pid]
    if len(cohort.scans) and "scan_id" in les.columns:
        scans = index_scans(cohort.scans.assign(patient_id=cohort.scans["patient_id"].astype(str)))
        if pid in scans.index and "scan_id" in scans.columns:
            les = les[les["scan_id"].astype(str) == str(scans.loc[pid, "scan_id"])]
    return {str(lid): k + 1 for k, lid in enumerate(les["lesion_id"])}


@dataclass(frozen=True)
class Heatmaps:
    """What to map on each patient's lesions: the feature per patient, the parameter set, where to write.

    Attributes
    ----------
    features : dict
        Raw patient id -> pyradiomics feature name (patients absent: no map).
    params : str or RadiomicsParams
        The parameter set the model's radiomics were extracted with.
    folder : Path or None
        Where the NIfTI maps are written (``<stem>.<lesion>.<feature>.nii.gz``); None: not written.
    stems : dict
        Raw patient id -> file stem (its printed identifier).
    """

    features: dict
    params: object
    folder: Path | None = None
    stems: dict = field(default_factory=dict)


def heatmap_features(shap, ids) -> dict:
    """Per patient, the radiomic feature that moved its prediction most and has a voxel-based map.

    The feature (``rad_`` column of the radiomics block, aggregated over lesions) with the largest
    absolute SHAP value of the patient, shape features excepted (they have no voxel-based form);
    patients whose model uses no such feature are absent.

    Parameters
    ----------
    shap : ShapResult
        The patients' SHAP values (rows in the order of ``ids``).
    ids : sequence of str

    Returns
    -------
    dict
        Patient id -> pyradiomics feature name.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> s = SimpleNamespace(values=np.array([[0.1, -0.5, 0.3], [0.0, 0.0, 0.0]]),
    ...                     feature_names=("age", "rad_original_shape_Sphericity__max",
    ...                                    "rad_original_glcm_Contrast__wmean"),
    ...                     blocks=("clinical", "radiomics", "radiomics"))
    >>> heatmap_features(s, ["a", "b"])
    {'a': 'original_glcm_Contrast'}
    """
    cols = [k for k, (name, block) in enumerate(zip(shap.feature_names, shap.blocks, strict=True))
            if block == "radiomics" and name.startswith("rad_") and "_shape" not in name
            and radiomic_feature_of_column(name).count("_") >= 2]
    out = {}
    if not cols:
        return out
    vals = np.abs(np.asarray(shap.values, float)[:, cols])
    for i, pid in enumerate(ids):
        if np.isfinite(vals[i]).any() and np.nanmax(vals[i]) > 0:
            out[str(pid)] = radiomic_feature_of_column(shap.feature_names[cols[int(np.nanargmax(vals[i]))]])
    return out


def _heatmap(image, mask, row, pid: str, name: str, hm: Heatmaps, centre, spacing, window_mm: float):
    """The map of the patient's feature on the panel's three planes (written as NIfTI when asked)."""
    feature = hm.features[pid]
    maps = voxel_feature_maps(image, mask, [feature], hm.params, labels=row.labels)
    if hm.folder is not None:
        stem = hm.stems.get(pid, pid) + "." + name.replace(" ", "")
        maps.write(hm.folder, stem)
    vol = maps.on_grid_of(image, maps.features[0])
    planes = _planes(vol.shape, spacing, centre, window_mm)
    return tuple(np.asarray(vol[p], np.float32) for p, _ in planes), maps.features[0]


def _one(row, thresholds: PlaqueThresholds, window_mm: float, name: str, vessel, pid: str = "",
         heatmaps: Heatmaps | None = None):
    image = read_image(row.image_path)
    mask = read_image(row.mask_path, what="mask")
    check_same_geometry(image, mask, image_path=row.image_path, mask_path=row.mask_path)
    arr = sitk.GetArrayViewFromImage(image)
    lab = sitk.GetArrayViewFromImage(mask)
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"the mask holds non-integer values ({lab.dtype})")
    spacing = tuple(float(s) for s in image.GetSpacing()[::-1])
    met = plaque_metrics(arr, lab, spacing, plaque_labels=row.labels, lumen_labels=_LUMEN, wall_labels=_WALL,
                         thresholds=thresholds)
    plaque = np.isin(lab, row.labels)
    centre = tuple(int(round(c)) for c in np.argwhere(plaque).mean(axis=0))
    hu, pl, cm, px = _slices(arr, plaque, spacing, centre, window_mm, thresholds)
    keep = {k: v for k, v in met.items() if not k.startswith("threshold_")}
    th = {"lap_hu": thresholds.lap_hu, "fibrofatty_hu": thresholds.fibrofatty_hu,
          "calcified_hu": thresholds.calcified_hu}
    heat, feature = (None, None)
    if heatmaps is not None and pid in heatmaps.features:
        heat, feature = _heatmap(image, mask, row, pid, name, heatmaps, centre, spacing, window_mm)
    return LesionImage(lesion=name, vessel=vessel, hu=hu, plaque=pl, components=cm, pixel_mm=px,
                       centre_voxel=centre, measurements=keep, thresholds=th, heatmap=heat,
                       heatmap_feature=feature)


def lesion_images(cohort, ids, *, pseudonymised: bool, thresholds: PlaqueThresholds | None = None,
                  window_mm: float = 8.0, allow_outside_root: bool = False,
                  heatmaps: Heatmaps | None = None) -> tuple[dict, dict]:
    """The lesion panels of each reported patient, and the notes on lesions that could not be shown.

    Parameters
    ----------
    cohort : Cohort
        A cohort read by :func:`radiorisk.io.read_cohort` (its manifest file).
    ids : sequence of str
        Raw patient ids.
    pseudonymised : bool
        Name lesions by their number in the report ("lesion 2") instead of their id.
    thresholds : PlaqueThresholds, optional
        Default: the fixed thresholds ``radiorisk measure`` uses.
    window_mm : float, default 8
        Half-width of the crop around the lesion centre.
    allow_outside_root : bool
    heatmaps : Heatmaps, optional
        Voxel-based maps (:func:`radiorisk.imaging.voxel_feature_maps`) of a feature per patient on
        its lesions, overlaid on the panels (a lesion whose map fails keeps its panel, with a note).

    Returns
    -------
    (dict, dict)
        Patient id -> tuple of :class:`radiorisk.report.LesionImage`; patient id -> tuple of notes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radiorisk.datasets import write_synthetic_cohort
    >>> from radiorisk.io import read_cohort
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "c"
    >>> _ = write_synthetic_cohort(d, n=60, images=2, seed=3, progress=False)
    >>> cohort = read_cohort(d)
    >>> pid = str(cohort.manifest["patient_id"].iloc[0])
    >>> images, notes = lesion_images(cohort, [pid], pseudonymised=True)
    >>> li = images[pid][0]
    >>> li.lesion.startswith("lesion "), [h.ndim for h in li.hu], li.measurements["v_total_mm3"] > 0
    (True, [2, 2, 2], True)
    """
    thresholds = thresholds or PlaqueThresholds()
    ids = [str(i) for i in ids]
    images: dict = {i: () for i in ids}
    notes: dict = {i: () for i in ids}
    if cohort.files.get("manifest") is None or len(cohort.manifest) == 0:
        return images, notes
    man = read_manifest_for_extraction(cohort.files["manifest"], allow_outside_root=allow_outside_root)
    man = man[man["patient_id"].astype(str).isin(ids)]
    man = man.sort_values("reader", kind="stable").drop_duplicates("lesion_id")
    vessels = {}
    if "vessel" in cohort.lesions.columns:
        vessels = dict(zip(cohort.lesions["lesion_id"].astype(str), cohort.lesions["vessel"], strict=True))
    for pid in ids:
        numbers = _lesion_numbers(cohort, pid)
        rows = man[man["patient_id"].astype(str) == pid]
        rows = rows.assign(_n=[numbers.get(str(x), 10**6) for x in rows["lesion_id"]]).sort_values("_n")
        got, bad = [], []
        for row in rows.itertuples():
            lid = str(row.lesion_id)
            name = (f"lesion {numbers[lid]}" if lid in numbers else "a lesion not in the lesions table") \
                if pseudonymised else lid
            vessel = vessels.get(lid)
            vessel = None if vessel is None or pd.isna(vessel) else str(vessel)
            try:
                got.append(_one(row, thresholds, window_mm, name, vessel, pid, heatmaps))
            except VoxelMapError as exc:  # the panel stays; the map is a note
                got.append(_one(row, thresholds, window_mm, name, vessel))
                bad.append(f"{name}: no voxel-based map ({exc})")
            except (RadioriskError, ValueError, RuntimeError) as exc:
                why = type(exc).__name__ if pseudonymised else f"{type(exc).__name__}: {exc}"
                bad.append(f"{name}: the image could not be shown ({why})")
        images[pid], notes[pid] = tuple(got), tuple(bad)
    return images, notes


def dicom_evidence(cohort, ids, *, allow_outside_root: bool = False) -> dict:
    """The DICOM headers (no pixels) of the CT series behind each patient's lesion images.

    Only manifest images that are DICOM series folders count (the series
    :func:`radiorisk.imaging.read_image` reads: the first one of the folder); NIfTI
    or NRRD images have no DICOM identity to reference.  The headers carry the
    patient's and the study's identity: use them only for outputs with raw ids.

    Parameters
    ----------
    cohort : Cohort
    ids : sequence of str
        Raw patient ids.
    allow_outside_root : bool

    Returns
    -------
    dict
        Patient id -> tuple of :class:`pydicom.Dataset` (empty without DICOM input).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radiorisk.datasets import write_synthetic_cohort
    >>> from radiorisk.io import read_cohort
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "c"
    >>> _ = write_synthetic_cohort(d, n=60, images=1, seed=3, progress=False)
    >>> cohort = read_cohort(d)
    >>> pid = str(cohort.manifest["patient_id"].iloc[0])
    >>> dicom_evidence(cohort, [pid])[pid]  # NIfTI images: nothing to reference
    ()
    """
    ids = [str(i) for i in ids]
    out: dict = {i: () for i in ids}
    if cohort.files.get("manifest") is None or len(cohort.manifest) == 0:
        return out
    import pydicom  # lazy: only DICOM input needs it

    man = read_manifest_for_extraction(cohort.files["manifest"], allow_outside_root=allow_outside_root)
    man = man[man["patient_id"].astype(str).isin(ids)]
    for pid, grp in man.groupby(man["patient_id"].astype(str), sort=False):
        heads, seen = [], set()
        for folder in dict.fromkeys(grp["image_path"]):
            if not Path(folder).is_dir() or folder in seen:
                continue
            seen.add(folder)
            series = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
            if not series:
                continue
            files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), series[0])
            heads += [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
        out[pid] = tuple(heads)
    return out
