"""Quantitative plaque metrics for every lesion of a manifest, and their patient-level summary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import SimpleITK as sitk

from ..exceptions import ImageError
from ._manifest import read_manifest_for_extraction
from ._quant import PlaqueThresholds, plaque_metrics, scan_specific_thresholds
from ._read import check_same_geometry, read_image

__all__ = ["measure_plaque", "patient_plaque_summary", "HighRiskRules"]


@dataclass(frozen=True)
class HighRiskRules:
    """Rules turning measured metrics into high-risk plaque (HRP) features.

    Parameters
    ----------
    pr_min_ri : float
        Positive remodelling: remodelling index at least this (DOMAIN.md: 1.1).
    lap_min_mm3 : float
        Low-attenuation feature: LAP volume at least this many mm³.
    lap_min_share : float
        ... and at least this share of the non-calcified volume.
    hrp_min_features : int
        A lesion is high-risk with at least this many features (CAD-RADS 2.0: 2).

    Notes
    -----
    Features measured: positive remodelling, low attenuation, spotty
    calcification.  The napkin-ring sign is not measured from images here.
    """

    pr_min_ri: float = 1.1
    lap_min_mm3: float = 5.0
    lap_min_share: float = 0.3
    hrp_min_features: int = 2


def measure_plaque(
    manifest,
    *,
    thresholds: PlaqueThresholds | None = None,
    lumen_hu: pd.Series | dict | None = None,
    lumen_labels=(1,),
    wall_labels=(7,),
    rules: HighRiskRules | None = None,
    allow_outside_root: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure plaque volumes, burden and HU statistics for every manifest row.

    Parameters
    ----------
    manifest : str, Path or DataFrame
        Manifest (see :func:`radiorisk.imaging.extract_radiomics`).  The row's
        ``label`` list defines the plaque; ``lumen_labels`` and ``wall_labels``
        (DOMAIN.md coding: 1 lumen, 7 normal wall) give the vessel for burden
        and remodelling.
    thresholds : PlaqueThresholds, optional
        Fixed HU thresholds (DOMAIN.md defaults).
    lumen_hu : mapping scan_id -> lumen HU, optional
        When given, scan-specific thresholds (:func:`scan_specific_thresholds`)
        replace the fixed ones for those scans.
    lumen_labels, wall_labels : sequence of int
        Labels of lumen and normal vessel wall in the masks.
    rules : HighRiskRules, optional
        Rules for the high-risk features.
    allow_outside_root : bool, default False
        Accept manifest paths leading outside the manifest's folder (see
        :func:`radiorisk.imaging.read_manifest_for_extraction`).

    Returns
    -------
    (DataFrame, DataFrame)
        Per-lesion metrics (``patient_id, scan_id, lesion_id, reader`` + metrics
        + ``pos_remodelling, lap_feature, spotty_calc, hrp_count, high_risk``)
        and failures (``lesion_id, reader, image_path, stage, reason``): a lesion
        whose image or mask cannot be read (missing, corrupt, not 3-D, NaN
        voxels, float mask, other grid) or whose mask has none of its labels is
        a failure row, never a crash or a row of NaN.

    Raises
    ------
    RadioriskError
        When the manifest itself is unusable (see ``read_manifest_for_extraction``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radiorisk.datasets import write_synthetic_cohort
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "c"
    >>> _ = write_synthetic_cohort(d, n=60, images=2, seed=3)
    >>> lesions, failures = measure_plaque(d / "manifest.csv")
    >>> len(lesions), len(failures), bool((lesions["v_total_mm3"] > 0).all())
    (2, 0, True)
    """
    thresholds = thresholds or PlaqueThresholds()
    rules = rules or HighRiskRules()
    man = read_manifest_for_extraction(manifest, allow_outside_root=allow_outside_root)
    lumen_hu = dict(lumen_hu) if lumen_hu is not None else {}
    rows, fails = [], []
    for image_path, grp in man.groupby("image_path", sort=False):
        _measure_image(image_path, grp, rows, fails, thresholds=thresholds, lumen_hu=lumen_hu,
                       lumen_labels=lumen_labels, wall_labels=wall_labels)
    les = pd.DataFrame(rows)
    if len(les):
        _add_high_risk_features(les, rules)
    failures = pd.DataFrame(fails, columns=["lesion_id", "reader", "image_path", "stage", "reason"])
    return les, failures


def _measure_image(image_path: str, grp: pd.DataFrame, rows: list, fails: list, *, thresholds,
                   lumen_hu: dict, lumen_labels, wall_labels) -> None:
    """Measure every lesion of one image (read once); append metric rows and failure tuples."""
    try:
        image = read_image(image_path)
        arr = sitk.GetArrayViewFromImage(image)
    except ImageError as exc:
        for r in grp.itertuples():
            fails.append((r.lesion_id, r.reader, image_path, "read_image", str(exc)))
        return
    spacing_zyx = image.GetSpacing()[::-1]
    masks: dict[str, object] = {}
    for r in grp.itertuples():
        stage = "read_mask"
        try:
            entry = _label_map(masks, image, image_path, r.mask_path)
            if isinstance(entry, Exception):
                fails.append((r.lesion_id, r.reader, image_path, stage, str(entry)))
                continue
            stage = "measure"
            th = scan_specific_thresholds(lumen_hu[r.scan_id], base=thresholds) \
                if r.scan_id in lumen_hu else thresholds
            met = plaque_metrics(arr, entry, spacing_zyx, plaque_labels=r.labels,
                                 lumen_labels=lumen_labels, wall_labels=wall_labels, thresholds=th)
        except (ImageError, ValueError) as exc:
            fails.append((r.lesion_id, r.reader, image_path, stage, f"{exc} ({r.mask_path})"))
            continue
        except Exception as exc:  # one lesion must never stop the batch
            reason = " ".join(str(exc).split())[:300] or type(exc).__name__
            fails.append((r.lesion_id, r.reader, image_path, stage, f"{type(exc).__name__}: {reason}"))
            continue
        rows.append({"patient_id": r.patient_id, "scan_id": r.scan_id, "lesion_id": r.lesion_id,
                     "reader": r.reader, **met})


def _label_map(masks: dict, image: sitk.Image, image_path: str, mask_path: str):
    """The integer label map of ``mask_path`` on the image's grid, or the ImageError reading it.

    Each mask is read once per image: the result (array or error) is kept in ``masks``.
    """
    if mask_path not in masks:
        try:
            m = read_image(mask_path, what="mask")
            check_same_geometry(image, m, image_path=image_path, mask_path=mask_path)
            marr = sitk.GetArrayViewFromImage(m)
            if not np.issubdtype(marr.dtype, np.integer):
                raise ImageError(f"mask {mask_path} holds non-integer values ({marr.dtype}); "
                                 "masks must be integer label maps")
            masks[mask_path] = marr.copy()
        except ImageError as exc:
            masks[mask_path] = exc
    return masks[mask_path]


def _add_high_risk_features(les: pd.DataFrame, rules: HighRiskRules) -> None:
    """Add ``pos_remodelling, lap_feature, hrp_count, high_risk`` to the lesion table (in place)."""
    pr = les["remodelling_index"].fillna(0) >= rules.pr_min_ri
    lap = (les["v_lap_mm3"] >= rules.lap_min_mm3) & (
        les["v_lap_mm3"] >= rules.lap_min_share * les["v_noncalcified_mm3"].clip(lower=1e-9))
    les["pos_remodelling"] = pr
    les["lap_feature"] = lap
    les["hrp_count"] = pr.astype(int) + lap.astype(int) + les["spotty_calc"].astype(int)
    les["high_risk"] = les["hrp_count"] >= rules.hrp_min_features


def patient_plaque_summary(lesion_metrics: pd.DataFrame, *, patient_ids=None, reader: str = "reader1",
                           lap_burden_cut_pct: float = 4.0, tpv_cut_mm3: float = 238.0) -> pd.DataFrame:
    """Patient-level plaque summary from per-lesion metrics.

    Total plaque volume, component volumes, LAP burden % (LAP volume / vessel
    volume x 100 over the measured lesions), the flags LAP burden > 4 % (Williams
    2020) and TPV >= 238 mm³ (Lin 2022), and the number of high-risk lesions.
    Patients without a measured lesion get zeros and False flags (no plaque
    measured), never NaN; LAP burden is 0 for them.

    Parameters
    ----------
    lesion_metrics : DataFrame
        First output of :func:`measure_plaque`.
    patient_ids : sequence of str, optional
        All patients to report (default: those in ``lesion_metrics``).
    reader : str
        Reader whose masks count.
    lap_burden_cut_pct, tpv_cut_mm3 : float
        Cut-offs of the two flags.

    Returns
    -------
    DataFrame indexed by patient_id.

    Examples
    --------
    >>> les = pd.DataFrame({"patient_id": ["P1", "P1"], "reader": "reader1", "v_total_mm3": [200.0, 60.0],
    ...     "v_calcified_mm3": [50.0, 0.0], "v_noncalcified_mm3": [150.0, 60.0], "v_lap_mm3": [30.0, 5.0],
    ...     "v_fibrofatty_mm3": [60.0, 30.0], "v_fibrous_mm3": [60.0, 25.0],
    ...     "vessel_volume_mm3": [500.0, 300.0], "high_risk": [True, False]})
    >>> s = patient_plaque_summary(les, patient_ids=["P1", "P2"])
    >>> [float(v) for v in s.loc["P1", ["tpv_mm3", "lap_burden_pct"]]], bool(s.loc["P1", "tpv_ge_238"])
    ([260.0, 4.375], True)
    >>> int(s.loc["P2", "n_lesions"]), bool(s.loc["P2", "lap_burden_gt_4"])
    (0, False)
    """
    df = lesion_metrics
    if "reader" in df.columns:
        df = df[df["reader"] == reader]
    cols = {"v_total_mm3": "tpv_mm3", "v_calcified_mm3": "cpv_mm3", "v_noncalcified_mm3": "ncpv_mm3",
            "v_lap_mm3": "lapv_mm3", "v_fibrofatty_mm3": "fibrofatty_mm3", "v_fibrous_mm3": "fibrous_mm3",
            "vessel_volume_mm3": "vessel_volume_mm3"}
    g = df.groupby("patient_id", sort=False)
    out = g[list(cols)].sum(min_count=1).rename(columns=cols)
    out.insert(0, "n_lesions", g.size())
    out["n_high_risk_lesions"] = g["high_risk"].sum() if "high_risk" in df else 0
    if patient_ids is None:
        patient_ids = out.index
    out = out.reindex(pd.Index(list(patient_ids), name="patient_id"))
    out = out.fillna(0)
    out["n_lesions"] = out["n_lesions"].astype(int)
    out["n_high_risk_lesions"] = out["n_high_risk_lesions"].astype(int)
    vv = out["vessel_volume_mm3"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["lap_burden_pct"] = np.where(vv > 0, 100.0 * out["lapv_mm3"] / vv, 0.0)
        out["total_burden_pct"] = np.where(vv > 0, 100.0 * out["tpv_mm3"] / vv, 0.0)
    out["lap_burden_gt_4"] = out["lap_burden_pct"] > lap_burden_cut_pct
    out["tpv_ge_238"] = out["tpv_mm3"] >= tpv_cut_mm3
    return out
