"""The synthetic scanner model (issue 15 section 2): kernel, detector and slice thickness reach the texture.

Noise power spectrum (measured on flat regions), noise SD at equal dose, calcium blooming, determinism,
and radiomic features that differ by scanner before ComBat and not after (Kruskal-Wallis)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kruskal

from radiorisk.datasets import write_lesion_images
from radiorisk.datasets._images import make_example_tables, render_lesion_patch
from radiorisk.datasets._lesion_streams import lesion_rng
from radiorisk.datasets._scanner import apply_psf, ct_noise, noise_sd_at_dose, scanner_model
from radiorisk.exceptions import SchemaError
from radiorisk.imaging import extract_radiomics
from radiorisk.stats import combat_apply, combat_fit

SPACING = (0.5, 0.45, 0.45)


def _model(kernel, detector="energy_integrating", noise=25.0, slice_mm=0.6):
    return scanner_model({"scan_id": "S", "kernel": kernel, "detector": detector, "noise_sd_hu": noise,
                          "slice_thickness_mm": slice_mm}, jitter=False)


def _flat(model, seed=0, shape=(48, 128, 128)):
    """A uniform 40 HU phantom through the scanner model (PSF, then noise)."""
    H = np.full(shape, 40.0, np.float32)
    return apply_psf(H, model, SPACING) + ct_noise(np.random.default_rng(seed), shape, SPACING, model)


def _radial_nps(img, spacing_xy):
    """Radially averaged in-plane NPS (slice-mean removed, averaged over slices) in 0.02 cycles/mm bins."""
    n = img - img.mean(axis=(1, 2), keepdims=True)
    ps = (np.abs(np.fft.fft2(n)) ** 2).mean(axis=0) * spacing_xy**2 / (n.shape[1] * n.shape[2])
    fy, fx = np.meshgrid(np.fft.fftfreq(n.shape[1], spacing_xy), np.fft.fftfreq(n.shape[2], spacing_xy),
                         indexing="ij")
    f = np.hypot(fy, fx).ravel()
    edges = np.arange(0.0, 0.5 / spacing_xy + 1e-9, 0.02)
    k = np.digitize(f, edges) - 1
    keep = k < len(edges) - 1
    prof = np.bincount(k[keep], ps.ravel()[keep], len(edges) - 1) / np.bincount(k[keep], minlength=len(edges) - 1)
    centres = edges[:-1] + 0.01
    return centres, prof


def test_nps_of_a_flat_region_peaks_higher_for_sharp_kernels():
    peaks, means = {}, {}
    for kernel in ("Bv36", "Bv40", "Bv56", "Br64"):
        f, nps = _radial_nps(_flat(_model(kernel)), SPACING[1])
        peaks[kernel] = f[np.argmax(nps)]
        means[kernel] = float((f * nps).sum() / nps.sum())  # TG-233's average frequency
        # the measured peak is where the model puts it (a broad maximum: within 0.1 cycles/mm)
        assert abs(peaks[kernel] - _model(kernel).nps_peak_per_mm) < 0.1, (kernel, peaks[kernel])
    print("NPS peak (cycles/mm):", peaks, "average frequency:", means)
    assert peaks["Bv56"] > peaks["Bv40"] + 0.05 and peaks["Br64"] > peaks["Bv56"]
    assert means["Bv36"] < means["Bv40"] < means["Bv56"] < means["Br64"]
    # soft: a low-frequency (blotchy) texture, little power near Nyquist; sharp: the reverse
    f, soft = _radial_nps(_flat(_model("Bv36")), SPACING[1])
    _, sharp = _radial_nps(_flat(_model("Br64")), SPACING[1])
    hi = f > 0.7
    assert soft[hi].sum() / soft.sum() < 0.5 * sharp[hi].sum() / sharp.sum()


def test_rendered_noise_sd_and_photon_counting_at_equal_dose():
    # the rendered SD is the scan's noise_sd_hu, whatever the NPS shape
    for kernel, det in [("Bv40", "energy_integrating"), ("Qr56", "photon_counting")]:
        sd = float(_flat(_model(kernel, det, noise=30.0)).std())
        assert abs(sd - 30.0) < 0.6, (kernel, sd)
    # equal dose and kernel: photon counting is less noisy (measured on the rendered flat region)
    for kernel_e, kernel_p in [("Bv40", "Qr40"), ("Bv56", "Qr56")]:
        e = _flat(_model(kernel_e, noise=noise_sd_at_dose(25.0, kernel_e, "energy_integrating"))).std()
        p = _flat(_model(kernel_p, "photon_counting", noise=noise_sd_at_dose(25.0, kernel_p, "photon_counting"))).std()
        assert p < 0.9 * e, (kernel_e, e, p)
    # at equal dose the SD follows the integral of the NPS that the noise generator uses: the unit-amplitude
    # filter's variance on a 128 x 128 x 64 grid (kernel apodisation only) gives the same ratios within 3 %
    from radiorisk.datasets._scanner import _kernel_fwhm, _noise_filter, kernel_sharpness

    def raw_var(kernel, slice_mm):
        m = dataclasses.replace(_model(kernel, slice_mm=slice_mm), noise_fwhm_xy_mm=_kernel_fwhm(kernel_sharpness(kernel)))
        return _noise_filter((64, 128, 128), SPACING, m)[1]

    for kernel, slice_mm in [("Bv56", 0.6), ("Br64", 0.6), ("Bv40", 1.5), ("Bv36", 3.0)]:
        ratio_filter = np.sqrt(raw_var(kernel, slice_mm) / raw_var("Bv40", 0.6))
        ratio_dose = noise_sd_at_dose(1.0, kernel, "energy_integrating", slice_mm) / noise_sd_at_dose(
            1.0, "Bv40", "energy_integrating", 0.6)
        assert ratio_dose == pytest.approx(ratio_filter, rel=0.03), kernel
    # and roughly Brooks & Di Chiro's sd ~ h^-1/2 for the slice thickness h
    assert noise_sd_at_dose(1.0, "Bv40", slice_thickness_mm=2.4) == pytest.approx(0.5, rel=0.05)
    assert noise_sd_at_dose(20.0, "Bv40", "energy_integrating", 3.0) < noise_sd_at_dose(20.0, "Bv40")


def _calcium_volume(model, radius_mm=2.0, bloom=True):
    """Voxels above 350 HU (mm3) of a noise-free 800 HU sphere in 150 HU tissue."""
    shape = (40, 48, 48)
    z, y, x = np.indices(shape, dtype=float)
    c = (np.array(shape) - 1) / 2.0
    d = np.sqrt(((z - c[0]) * SPACING[0]) ** 2 + ((y - c[1]) * SPACING[1]) ** 2 + ((x - c[2]) * SPACING[2]) ** 2)
    ball = d <= radius_mm
    H = np.where(ball, 800.0, 150.0).astype(np.float32)
    img = apply_psf(H, model if bloom else dataclasses.replace(model, bloom_halo=0.0), SPACING, calcium=ball)
    return float((img > 350).sum() * np.prod(SPACING)), float(ball.sum() * np.prod(SPACING))


def test_calcium_blooms_more_with_a_wider_psf_and_less_on_photon_counting():
    soft_eid, true_v = _calcium_volume(_model("Bv36"))
    sharp_eid, _ = _calcium_volume(_model("Bv56"))
    soft_pcd, _ = _calcium_volume(_model("Qr36", "photon_counting"))
    sharp_pcd, _ = _calcium_volume(_model("Qr56", "photon_counting"))
    no_bloom, _ = _calcium_volume(_model("Bv36"), bloom=False)
    print(f"true {true_v:.1f} mm3; >350 HU: soft EID {soft_eid:.1f}, sharp EID {sharp_eid:.1f}, "
          f"soft PCD {soft_pcd:.1f}, sharp PCD {sharp_pcd:.1f}, soft EID without tail {no_bloom:.1f}")
    assert soft_eid > sharp_eid > sharp_pcd and soft_eid > soft_pcd > sharp_pcd
    assert soft_eid > 1.2 * true_v and soft_eid > no_bloom and sharp_pcd < 1.1 * true_v
    # a wider PSF alone (same detector, blooming tail off) enlarges the apparent volume monotonically
    vols = [_calcium_volume(dataclasses.replace(_model("Bv40"), fwhm_xy_mm=w, fwhm_z_mm=w), bloom=False)[0]
            for w in (0.5, 0.7, 0.9, 1.1)]
    assert vols == sorted(vols) and vols[-1] > vols[0]


def _calcified_lesion():
    truth, scans = make_example_tables(12, seed=2)
    les = truth.loc[truth["v_calcified_mm3"].idxmax()]
    return les, scans.set_index("scan_id").loc[les["scan_id"]].to_dict() | {"scan_id": les["scan_id"]}


def test_rendered_patch_calcium_and_determinism():
    les, scan = _calcified_lesion()
    scan = scan | {"lumen_hu_mean": 250.0}                      # lumen stays below 350 HU
    vols, arrays = {}, {}
    for name, kernel, det in [("soft_eid", "Bv36", "energy_integrating"), ("sharp_pcd", "Qr56", "photon_counting")]:
        row = scan | {"kernel": kernel, "detector": det, "noise_sd_hu": 5.0}
        _, _, info = render_lesion_patch(les, row, rng=lesion_rng(7, les["lesion_id"]), return_arrays=True)
        arrays[name] = info["image_array"]
        vols[name] = float((info["image_array"] > 350).sum() * np.prod(info["spacing_mm"]))
        assert info["detector"] == det and info["kernel"] == kernel
    assert vols["soft_eid"] > vols["sharp_pcd"] > 0.5 * les["v_calcified_mm3"], (vols, les["v_calcified_mm3"])
    # deterministic given the seed; another seed gives another image
    row = scan | {"kernel": "Qr56", "detector": "photon_counting", "noise_sd_hu": 5.0}
    again = render_lesion_patch(les, row, rng=lesion_rng(7, les["lesion_id"]), return_arrays=True)[2]["image_array"]
    other = render_lesion_patch(les, row, rng=lesion_rng(8, les["lesion_id"]), return_arrays=True)[2]["image_array"]
    np.testing.assert_array_equal(again, arrays["sharp_pcd"])
    assert not np.array_equal(other, again)


def test_unknown_detector_is_refused_with_its_row():
    truth, scans = make_example_tables(2, seed=0)
    scans["detector"] = ["flat_panel"]
    with pytest.raises(SchemaError, match=r"scan_id=S000000, column detector: value 'flat_panel'"):
        write_lesion_images(truth, scans, "/nonexistent-never-written", seed=0)


SETTINGS = {"soft_eid": ("Bv40", "energy_integrating"), "sharp_eid": ("Bv56", "energy_integrating"),
            "soft_pcd": ("Qr40", "photon_counting"), "sharp_pcd": ("Qr56", "photon_counting")}
TEXTURE = ("original_glcm_Contrast", "original_glcm_DifferenceVariance")


def test_features_differ_by_scanner_before_combat_and_not_after(tmp_path):
    """Done-when of issue 15: the same 20 lesions on four scanners; Kruskal-Wallis p < 1e-3 before ComBat
    (across the four settings and soft vs sharp), p > 0.05 after (batch = setting)."""
    truth, scans = make_example_tables(20, seed=1)
    params = {"imageType": {"Original": {}}, "featureClass": {"glcm": None},
              "setting": {"binWidth": 25, "minimumROISize": 8, "minimumROIDimensions": 2}}
    frames = []
    for name, (kernel, det) in SETTINGS.items():
        sc = scans.assign(kernel=kernel, detector=det, noise_sd_hu=[
            noise_sd_at_dose(sd, kernel, det, st) for sd, st in zip(scans.noise_sd_hu, scans.slice_thickness_mm,
                                                                    strict=True)])
        man = write_lesion_images(truth, sc, tmp_path / name, seed=1)
        for c in ("image_path", "mask_path"):
            man[c] = [str(tmp_path / name / p) for p in man[c]]
        res = extract_radiomics(man, params=params)
        assert res.ok and len(res.features) == 20
        frames.append(res.features.assign(setting=name))
    F = pd.concat(frames, ignore_index=True)
    Y = F[list(TEXTURE)].to_numpy(float)
    batch = F["setting"].to_numpy()
    Yh = combat_apply(combat_fit(Y, batch), Y, batch)
    sharp = np.isin(batch, ["sharp_eid", "sharp_pcd"])
    for j, feat in enumerate(TEXTURE):
        before = kruskal(*[Y[batch == b, j] for b in SETTINGS]).pvalue
        after = kruskal(*[Yh[batch == b, j] for b in SETTINGS]).pvalue
        kernel_before = kruskal(Y[sharp, j], Y[~sharp, j]).pvalue
        kernel_after = kruskal(Yh[sharp, j], Yh[~sharp, j]).pvalue
        print(f"{feat}: KW p across settings {before:.2g} -> {after:.2f}; soft vs sharp {kernel_before:.2g} -> "
              f"{kernel_after:.2f}")
        assert before < 1e-3 and kernel_before < 1e-3
        assert after > 0.05 and kernel_after > 0.05


def test_slice_thickness_sets_z_resolution_and_z_noise_correlation():
    thin, thick = _model("Bv40", slice_mm=0.5), _model("Bv40", slice_mm=1.0)
    assert thick.fwhm_z_mm > thin.fwhm_z_mm >= 0.5
    assert thick.fwhm_xy_mm == thin.fwhm_xy_mm

    def lag1_z(m):
        e = ct_noise(np.random.default_rng(3), (64, 64, 64), SPACING, m)
        return float((e[1:] * e[:-1]).mean() / e.var())

    r_thin, r_thick = lag1_z(thin), lag1_z(thick)
    # the z NPS is the squared Gaussian slice profile (FWHM h) on the 0.5 mm grid: lag-1 correlation
    # sum NPS(f) cos(2 pi f dz) / sum NPS(f) (Wiener-Khinchin); exp(-dz^2 / 4 s^2) without the Nyquist cut
    fz = np.fft.fftfreq(64, 0.5)
    for m, r in ((thin, r_thin), (thick, r_thick)):
        nps = np.exp(-4 * np.pi**2 * (m.noise_fwhm_z_mm / 2.3548) ** 2 * fz**2)
        assert r == pytest.approx(float((nps * np.cos(2 * np.pi * fz * 0.5)).sum() / nps.sum()), abs=0.03)
    assert r_thick > r_thin + 0.2
