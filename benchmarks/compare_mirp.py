"""Compare ``radiorisk robustness`` with MIRP's own image and mask perturbations (docs/radiomics.md).

Usage (needs ``mirp`` 2.5.0 in its own venv, not in the lock: docs/radiomics.md, Comparison with MIRP):
    .venv/bin/python benchmarks/compare_mirp.py [--lesions 12] [--seed 3] [--params PARAMS] [--out DIR]

A synthetic cohort (``radiorisk.datasets.write_synthetic_cohort``, one image per lesion) is
perturbed twice: by radiorisk (``run_robustness``) and by MIRP (``mirp.extract_images``, one call per
perturbation family, with the settings of :data:`MIRP_SETTINGS`).  Every perturbed image/mask pair,
from either tool, goes through the same pyradiomics extractor, so the comparison isolates the
perturbations from the feature definitions (MIRP's own features follow IBSI and are named
differently).  For each family and for all perturbations together it prints ICC(2,1) per feature
from both tools (``radiorisk.features.icc``, lesions = subjects, perturbations = raters), the
Spearman correlation of the ICCs across features, and agreement (and Cohen's kappa) on which
features are stable at ICC >= 0.75 and >= 0.9.

The default parameters are ``ccta-plaque``'s settings (bin width 25 HU) on the Original image
without resampling, so that pyradiomics sees exactly the grid each tool perturbed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
from scipy import stats

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.features import icc
from radiorisk.imaging import (
    estimate_noise_sd,
    load_params,
    parse_perturbations,
    perturb_lesion,
    read_manifest_for_extraction,
)
from radiorisk.pipeline import run_robustness
from radiorisk.pipeline._robustness import complete_block

#: radiorisk's perturbation tokens (its defaults) and MIRP's closest settings, family by family
RADIORISK_PERTURBATIONS = ["noise:2", "rotation:-10,-5,5,10", "translation:0.25,0.5", "volume:-1,1", "contour:3"]
MIRP_SETTINGS = {
    "noise": {"perturbation_noise_repetitions": 2},
    "rotation": {"perturbation_rotation_angles": [-10.0, -5.0, 5.0, 10.0]},
    "translation": {"perturbation_translation_fraction": [0.25, 0.5]},
    # one voxel at ~0.5 mm; max_erosion 0 lets MIRP erode (its default 0.8 skips any erosion that
    # removes more than 20 % of the volume, which is every erosion of a thin plaque)
    "volume": {"perturbation_roi_adapt_type": "distance", "perturbation_roi_adapt_size": [-0.5, 0.5],
               "perturbation_roi_adapt_max_erosion": 0.0},
    "contour": {"perturbation_randomise_roi_repetitions": 3},
}
FAMILIES = tuple(MIRP_SETTINGS)
#: the ICCs compared: over all perturbations, all but contour randomisation, and each family
_ICC_COLUMNS = {"icc21": FAMILIES, "icc21_no_contour": tuple(f for f in FAMILIES if f != "contour"),
                **{f"icc21_{f}": (f,) for f in FAMILIES}}
#: the default parameters: ccta-plaque's settings, Original image only, no resampling
DEFAULT_PARAMS = {
    "setting": {"binWidth": 25, "label": 1, "normalize": False, "additionalInfo": False,
                "minimumROIDimensions": 2, "minimumROISize": 8, "correctMask": False,
                "geometryTolerance": 1e-4, "force2D": False},
    "imageType": {"Original": {}},
    "featureClass": {c: None for c in ("shape", "firstorder", "glcm", "glrlm", "glszm", "gldm", "ngtdm")},
}


def _to_sitk(d: dict, key: str):
    """A MIRP ``image_export_format="dict"`` image or mask as a SimpleITK image (MIRP keeps z, y, x)."""
    a = np.asarray(d[key])
    img = sitk.GetImageFromArray(a.astype(np.uint8) if key == "mask" else a.astype(np.float64))
    img.SetSpacing([float(v) for v in np.asarray(d["image_spacing"], float)[::-1]])
    img.SetOrigin([float(v) for v in np.asarray(d["image_origin"], float)[::-1]])
    # MIRP's orientation matrix is in (z, y, x); its own NIfTI writer converts it this way
    img.SetDirection([float(v) for v in np.ravel(np.asarray(d["image_orientation"]), order="F")[::-1]])
    return img


def mirp_perturbations(image_path, roi_path, families=FAMILIES) -> list[tuple[str, str, object, object, float]]:
    """MIRP's perturbed (image, ROI) pairs of one lesion: ``(name, family, image, roi, noise_sd)``, ``original`` first.

    Each family is one ``mirp.extract_images`` call with only that family's settings
    (:data:`MIRP_SETTINGS`); MIRP's noise level is its own estimate (Chang et al., coif1).
    """
    from mirp import extract_images

    out = []
    for family in ("original", *families):
        kw = {} if family == "original" else MIRP_SETTINGS[family]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MIRP warns about non-isotropic voxels and SWIG types
            res = extract_images(image=str(image_path), mask=str(roi_path), image_modality="CT",
                                 image_export_format="dict", export_images=True, **kw)
        i = 0
        for images, masks in res:
            for m in masks:
                i += 1
                name = "original" if family == "original" else f"{family}_{i}"
                noise = images[0].get("noise_level")
                out.append((name, family, _to_sitk(images[0], "image"), _to_sitk(m, "mask"),
                            float(noise) if noise is not None else np.nan))
    return out


def mirp_rows(image_path, roi_path, params, lesion_id) -> list[dict]:
    """pyradiomics features of every MIRP perturbation of one lesion (one row each)."""
    extractor = load_params(params).extractor()
    rows = []
    logger = logging.getLogger("radiomics")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        for name, family, img, roi, noise in mirp_perturbations(image_path, roi_path):
            n_vox = int(sitk.GetArrayViewFromImage(roi).sum())
            try:
                res = extractor.execute(img, roi, label=1)
            except Exception as exc:  # an empty or too-small ROI: a missing cell
                rows.append({"lesion_id": lesion_id, "perturbation": name, "family": family,
                             "n_voxels": n_vox, "noise_sd": noise, "reason": str(exc)[:200]})
                continue
            feats = {k: float(np.asarray(v)) for k, v in res.items() if not k.startswith("diagnostics_")}
            bad = [k for k, v in feats.items() if not np.isfinite(v)]  # a failure, as radiorisk counts it
            rows.append({"lesion_id": lesion_id, "perturbation": name, "family": family, "n_voxels": n_vox,
                         "noise_sd": noise, "reason": f"not finite: {bad[:3]}" if bad else None, **feats})
    finally:
        logger.setLevel(level)
    return rows


def icc_by_family(wide: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """ICC(2,1) per feature, over all perturbations (``icc21``) and per family (``icc21_<family>``).

    ``wide`` has ``lesion_id, perturbation, family, reason`` and the features; missing cells are
    handled as ``radiorisk robustness`` does (``complete_block``: the lesion or perturbation with the
    largest share of missing cells is dropped until none is missing).
    """
    ok = wide[wide["reason"].isna()]
    out = pd.DataFrame({"feature": features})
    for col, fams in _ICC_COLUMNS.items():
        sub = ok[ok["family"].isin(("original", *fams))]
        avail = pd.crosstab(sub["lesion_id"], sub["perturbation"]) > 0
        block, _, _ = complete_block(avail)  # radiorisk's rule for missing cells
        if len(block) < 2 or block.shape[1] < 2:
            out[col] = np.nan
            continue
        sub = sub[sub["lesion_id"].isin(block.index) & sub["perturbation"].isin(block.columns)]
        sub = sub.sort_values(["lesion_id", "perturbation"])
        cube = sub[features].to_numpy(float).reshape(len(block), block.shape[1], len(features))
        with np.errstate(all="ignore"):
            out[col] = icc(cube, kind="2,1")["icc"]
    return out


def agreement(a: pd.Series, b: pd.Series, threshold: float) -> dict:
    """Counts, percent agreement and Cohen's kappa of ``a >= threshold`` vs ``b >= threshold``.

    Examples
    --------
    >>> agreement(pd.Series([0.8, 0.9, 0.1, 0.2]), pd.Series([0.7, 0.95, 0.1, 0.3]), 0.75)["kappa"]
    0.5
    """
    x, y = a.to_numpy(float) >= threshold, b.to_numpy(float) >= threshold
    po = float(np.mean(x == y))
    pe = float(np.mean(x) * np.mean(y) + np.mean(~x) * np.mean(~y))
    return {"stable_radiorisk": int(x.sum()), "stable_mirp": int(y.sum()), "both": int((x & y).sum()),
            "agreement": po, "kappa": (po - pe) / (1 - pe) if pe < 1 else 1.0}


def compare(icc_rr: pd.DataFrame, icc_mirp: pd.DataFrame) -> pd.DataFrame:
    """One row per ICC (all, each family): Spearman of the ICCs across features and stable-set agreement."""
    m = icc_rr.merge(icc_mirp, on="feature", suffixes=("_rr", "_mirp"))
    rows = []
    for col in _ICC_COLUMNS:
        if f"{col}_rr" not in m:
            continue
        a, b = m[f"{col}_rr"], m[f"{col}_mirp"]
        keep = a.notna() & b.notna()
        a, b = a[keep], b[keep]
        row = {"icc": col, "n_features": int(keep.sum()),
               "spearman": float(stats.spearmanr(a, b).statistic) if keep.sum() > 2 else np.nan,
               "median_radiorisk": float(a.median()), "median_mirp": float(b.median())}
        for t in (0.75, 0.9):
            row.update({f"{k}@{t:g}": v for k, v in agreement(a, b, t).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def one_lesion(image_path, roi_path, params=None, seed: int = 3) -> dict:
    """Both tools' perturbations of one lesion (no ICC: that needs several lesions).

    Returns ``original_rel_diff`` (largest relative difference between the two unperturbed
    extractions), ``noise_sd`` (radiorisk's, MIRP's), ``voxels`` (median ROI voxels per tool and
    family), ``distinct_contours`` (distinct contour realisations per tool) and ``spread``: per family, the Spearman correlation across features of the two tools'
    relative spreads (root mean square deviation of the family's perturbations from the unperturbed
    value / |unperturbed value|) and their medians.  Failed perturbations (an erosion that empties
    the ROI) are left out.
    """
    params = DEFAULT_PARAMS if params is None else params
    p = load_params(params)
    image, roi = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(roi_path))
    noise_rr = estimate_noise_sd(image)
    rr_rows, _ = perturb_lesion(image, roi, parse_perturbations(RADIORISK_PERTURBATIONS), p, noise_sd=noise_rr,
                                seed=seed, key="L1")
    rr = pd.DataFrame(rr_rows)
    mi = pd.DataFrame(mirp_rows(image_path, roi_path, params, "L1"))
    mi = mi[mi["reason"].isna()]
    feats = [c for c in rr.columns if c not in ("perturbation", "family", "n_voxels")]
    o_rr, o_mi = rr.loc[rr["family"] == "original", feats].iloc[0], mi.loc[mi["family"] == "original", feats].iloc[0]
    rel = (o_rr - o_mi).abs() / o_rr.abs().clip(lower=1e-12)
    rows = []
    for fam in FAMILIES:
        s_rr = ((rr.loc[rr["family"] == fam, feats] - o_rr) ** 2).mean() ** 0.5 / o_rr.abs().clip(lower=1e-12)
        s_mi = ((mi.loc[mi["family"] == fam, feats] - o_mi) ** 2).mean() ** 0.5 / o_mi.abs().clip(lower=1e-12)
        keep = (s_rr > 0) | (s_mi > 0)
        rows.append({"family": fam, "n_features": int(keep.sum()),
                     "spearman": float(stats.spearmanr(s_rr[keep], s_mi[keep]).statistic) if keep.sum() > 2 else np.nan,
                     "median_spread_radiorisk": float(s_rr[keep].median()), "median_spread_mirp": float(s_mi[keep].median())})
    voxels = pd.DataFrame({"radiorisk": rr.groupby("family")["n_voxels"].median(),
                           "mirp": mi.groupby("family")["n_voxels"].median()})
    distinct = {name: len(t.loc[t["family"] == "contour", feats].round(10).drop_duplicates())
                for name, t in (("radiorisk", rr), ("mirp", mi))}
    return {"original_rel_diff": float(rel.max()), "noise_sd": (noise_rr, float(np.nanmax(mi["noise_sd"]))),
            "voxels": voxels, "spread": pd.DataFrame(rows), "distinct_contours": distinct}


def run(n_lesions: int = 12, seed: int = 3, params=None, workdir=None) -> dict:
    """The whole comparison on ``n_lesions`` synthetic lesions; see the module's docstring."""
    params = DEFAULT_PARAMS if params is None else params
    work = Path(workdir or tempfile.mkdtemp(prefix="compare_mirp_"))
    t0 = time.perf_counter()
    write_synthetic_cohort(work / "cohort", n=max(60, 4 * n_lesions), images=n_lesions, seed=seed)
    man = read_manifest_for_extraction(work / "cohort" / "manifest.csv")
    t_rr = time.perf_counter()
    rr = run_robustness(man, params=params, perturbations=RADIORISK_PERTURBATIONS, seed=seed)
    no_contour = run_robustness(man, params=params, perturbations=RADIORISK_PERTURBATIONS[:-1], seed=seed)
    icc_rr = rr.icc.assign(icc21_no_contour=no_contour.icc["icc21"].to_numpy())
    t_rr = time.perf_counter() - t_rr
    rows, noise = [], []
    t_m = time.perf_counter()
    for rec in man.to_dict("records"):
        img = sitk.ReadImage(rec["image_path"])
        m = sitk.GetArrayFromImage(sitk.ReadImage(rec["mask_path"]))
        roi = sitk.GetImageFromArray(np.isin(m, rec["labels"]).astype(np.uint8))
        roi.CopyInformation(img)
        roi_path = work / f"{rec['lesion_id']}_roi.nii.gz"
        sitk.WriteImage(roi, str(roi_path))
        mine = mirp_rows(rec["image_path"], roi_path, params, rec["lesion_id"])
        rows += mine
        noise.append({"lesion_id": rec["lesion_id"], "radiorisk": estimate_noise_sd(img),
                      "mirp": float(np.nanmax([r["noise_sd"] for r in mine]))})
    t_m = time.perf_counter() - t_m
    wide = pd.DataFrame(rows)
    features = list(rr.icc["feature"])
    icc_mirp = icc_by_family(wide, features)
    return {"icc_radiorisk": icc_rr, "icc_mirp": icc_mirp, "comparison": compare(icc_rr, icc_mirp),
            "mirp_rows": wide, "radiorisk_failures": rr.failures, "noise": pd.DataFrame(noise),
            "seconds": {"radiorisk": t_rr, "mirp": t_m, "total": time.perf_counter() - t0}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lesions", type=int, default=12)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--params", default=None, help="preset name or YAML (default: Original, no resampling)")
    ap.add_argument("--out", default=None, help="folder for the ICC tables (CSV)")
    a = ap.parse_args(argv)
    from importlib.metadata import version

    res = run(a.lesions, a.seed, a.params)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print(f"mirp {version('mirp')}, pyradiomics {version('pyradiomics-bhklab')}; {a.lesions} lesions; "
          f"seconds {({k: round(v, 1) for k, v in res['seconds'].items()})}")
    print("noise SD (radiorisk Haar vs MIRP coif1):")
    print(res["noise"].round(2).to_string(index=False))
    print(f"radiorisk failures: {len(res['radiorisk_failures'])}; MIRP failures: "
          f"{int(res['mirp_rows']['reason'].notna().sum())}")
    vox = res["mirp_rows"].groupby("family")["n_voxels"].median()
    print("MIRP median ROI voxels by family:", vox.to_dict())
    print(res["comparison"].round(3).to_string(index=False))
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        res["icc_radiorisk"].to_csv(out / "icc_radiorisk.csv", index=False)
        res["icc_mirp"].to_csv(out / "icc_mirp.csv", index=False)
        res["comparison"].to_csv(out / "comparison.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
