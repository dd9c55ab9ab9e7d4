"""Measured effect of the synthetic scanner model on radiomic features, before and after ComBat.

The same lesions (same geometry, same random streams, same dose per scan) are
rendered under four scanner settings, soft/sharp kernel x energy-integrating /
photon-counting detector (Siemens-style kernels Bv40/Bv56 and Qr40/Qr56; the
noise SD of each setting is ``noise_sd_at_dose`` of the scan's reference
noise).  A few radiomic features are extracted with
``radiorisk.imaging.extract_radiomics`` (original image, bin width 25 HU) and
reported per setting (medians), with the Kruskal-Wallis test across the
settings before and after ComBat (batch = setting, empirical Bayes, no
covariates; ``radiorisk.stats.combat_fit`` / ``combat_apply``).  The measured
NPS peak and flat-region noise SD of each setting are reported too.

    PYTHONPATH=. .venv/bin/python benchmarks/scanner_texture.py [--lesions 40] [--seed 0] [--out DIR]

Prints a markdown table (what ``docs/synthetic_images.md`` shows).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kruskal

from radiorisk.datasets._images import make_example_tables, write_lesion_images
from radiorisk.datasets._scanner import ct_noise, noise_sd_at_dose, scanner_model
from radiorisk.imaging import extract_radiomics
from radiorisk.stats import combat_apply, combat_fit

SETTINGS = {  # name: (kernel, detector)
    "soft EID (Bv40)": ("Bv40", "energy_integrating"),
    "sharp EID (Bv56)": ("Bv56", "energy_integrating"),
    "soft PCD (Qr40)": ("Qr40", "photon_counting"),
    "sharp PCD (Qr56)": ("Qr56", "photon_counting"),
}
FEATURES = ("original_firstorder_Entropy", "original_firstorder_Kurtosis", "original_firstorder_90Percentile",
            "original_glcm_Contrast", "original_glcm_Idm", "original_glcm_DifferenceVariance",
            "original_glrlm_RunLengthNonUniformity", "original_glrlm_ShortRunEmphasis")
PARAMS = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None, "glcm": None, "glrlm": None},
          "setting": {"binWidth": 25, "minimumROISize": 8, "minimumROIDimensions": 2}}


def radial_nps_peak(noise: np.ndarray, spacing_xy: float) -> float:
    """Frequency (cycles/mm) of the peak of the radially averaged in-plane NPS of a noise-only volume."""
    n = noise - noise.mean(axis=(1, 2), keepdims=True)
    ps = (np.abs(np.fft.fft2(n)) ** 2).mean(axis=0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(n.shape[1], spacing_xy), np.fft.fftfreq(n.shape[2], spacing_xy),
                              indexing="ij"))
    edges = np.arange(0.0, 1.0 / (2 * spacing_xy), 0.025)
    k = np.digitize(f.ravel(), edges)
    prof = np.bincount(k, ps.ravel(), len(edges) + 1)[1:len(edges)] / np.maximum(
        np.bincount(k, minlength=len(edges) + 1)[1:len(edges)], 1)
    return float(edges[np.argmax(prof)] + 0.0125)


def scans_for(scans: pd.DataFrame, kernel: str, detector: str) -> pd.DataFrame:
    """The scans of one setting: the same patients and dose, another kernel and detector."""
    out = scans.copy()
    out["kernel"] = kernel
    out["detector"] = detector
    out["noise_sd_hu"] = [noise_sd_at_dose(sd, kernel, detector, st)
                          for sd, st in zip(scans["noise_sd_hu"], scans["slice_thickness_mm"], strict=True)]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lesions", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="keep the images here (default: a temporary folder)")
    a = ap.parse_args(argv)
    out = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="scanner_texture_"))
    truth, scans = make_example_tables(a.lesions, seed=a.seed)
    t0 = time.perf_counter()
    frames, phys = [], []
    for name, (kernel, det) in SETTINGS.items():
        sc = scans_for(scans, kernel, det)
        d = out / name.split(" (")[0].replace(" ", "_")
        man = write_lesion_images(truth, sc, d, seed=a.seed)
        man["image_path"] = [str(d / p) for p in man["image_path"]]
        man["mask_path"] = [str(d / p) for p in man["mask_path"]]
        res = extract_radiomics(man, params=PARAMS)
        if not res.ok:
            raise SystemExit(f"{name}: extraction failed for {len(res.failures)} lesion(s):\n{res.failures}")
        frames.append(res.features.assign(setting=name))
        m = scanner_model({"scan_id": "flat", "kernel": kernel, "detector": det, "noise_sd_hu":
                           noise_sd_at_dose(25.0, kernel, det, 0.6), "slice_thickness_mm": 0.6}, jitter=False)
        flat = ct_noise(np.random.default_rng(a.seed), (32, 128, 128), (0.5, 0.45, 0.45), m)
        phys.append(dict(setting=name, psf_fwhm_xy_mm=m.fwhm_xy_mm, nps_peak_model=m.nps_peak_per_mm,
                         nps_peak_measured=radial_nps_peak(flat, 0.45), noise_sd_flat=float(flat.std()),
                         bloom_halo=m.bloom_halo))
    F = pd.concat(frames, ignore_index=True).sort_values(["setting", "lesion_id"], kind="stable")
    secs = time.perf_counter() - t0
    Y = F[list(FEATURES)].to_numpy(float)
    fit = combat_fit(Y, F["setting"].to_numpy())
    H = combat_apply(fit, Y, F["setting"].to_numpy())
    names = list(SETTINGS)
    print(f"{a.lesions} lesions x {len(names)} settings, seed {a.seed}, {secs:.1f} s (render + extract)\n")
    P = pd.DataFrame(phys).set_index("setting")
    print("| setting | PSF FWHM xy (mm) | NPS peak model / measured (cycles/mm) | noise SD at 25 HU reference dose "
          "(flat, HU) | blooming halo |")
    print("|---|---|---|---|---|")
    for nm in names:
        r = P.loc[nm]
        print(f"| {nm} | {r.psf_fwhm_xy_mm:.2f} | {r.nps_peak_model:.2f} / {r.nps_peak_measured:.2f} | "
              f"{r.noise_sd_flat:.1f} | {r.bloom_halo:.2f} |")
    print()
    print("| feature | " + " | ".join(names) + " | KW H (p) before | KW H (p) after ComBat |")
    print("|---|" + "---|" * (len(names) + 2))
    for j, feat in enumerate(FEATURES):
        med = [float(np.median(Y[F["setting"].to_numpy() == nm, j])) for nm in names]
        kb = kruskal(*[Y[F["setting"].to_numpy() == nm, j] for nm in names])
        ka = kruskal(*[H[F["setting"].to_numpy() == nm, j] for nm in names])
        print(f"| {feat.removeprefix('original_')} | " + " | ".join(f"{m:.4g}" for m in med)
              + f" | {kb.statistic:.1f} ({kb.pvalue:.1g}) | {ka.statistic:.2f} ({ka.pvalue:.2f}) |")
    if not a.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
