"""The scanner model of the synthetic CT images: resolution (PSF), noise texture (NPS), calcium blooming.

A scan's reconstruction kernel, detector type and slice thickness decide how
the noise-free HU image becomes a CT image (see ``docs/synthetic_images.md``):

- **Resolution.** The system point-spread function is a 3-D Gaussian.  In
  plane its FWHM combines the kernel's apodisation and the detector aperture in
  quadrature, ``sqrt(kernel^2 + aperture^2)``: sharp kernels and the smaller
  photon-counting pixels give a narrower PSF.  Along z it combines the slice
  thickness (slice sensitivity profile) with half the aperture.
- **Noise texture.** Filtered back-projection shapes quantum noise by the ramp
  filter times the squared apodisation, ``NPS(f) ~ (|f| + f0) MTF_kernel(f)^2``
  in plane (Riederer, Pelc & Chesler 1978; Samei et al. 2019, AAPM TG-233),
  and by the slice profile along z.  Noise is white at the detector, so the
  aperture does not filter it, but the light crosstalk of an energy-integrating
  scintillator correlates it a little.  Soft kernels therefore have their NPS
  peak at low frequency and sharp kernels at high frequency.  The rendered noise
  SD is the scan's ``noise_sd_hu`` (the cohort's acquisition model sets it from
  vendor, kernel, detector, kVp and BMI); :func:`noise_sd_at_dose` gives the SD
  a kernel, detector and slice thickness have at a fixed dose (the NPS
  integral; Brooks & Di Chiro 1976: variance ~ 1 / (dose x resolution^3 x slice
  thickness); photon counting 15 % lower, Willemink et al. 2018).
- **Calcium blooming.** A linear Gaussian PSF alone moves a 350 HU contour
  by only half a PSF sigma (sub-voxel).  Real calcium blooms more (motion,
  beam hardening, detector afterglow and crosstalk scale with the signal), so a
  halo is added around calcium: 0.2 times its excess over 200 HU blurred by a
  Gaussian 2.5 times wider than the PSF.  Calcium therefore looks larger than it
  is, the more so the wider the PSF; photon-counting detectors bloom less
  (halo 0.12, 2 times the PSF, on a narrower PSF).

Scanner-level parameters are fixed per scan: a +-10 % jitter of the PSF and
NPS widths (tube, focal spot, reconstruction settings) comes from a hash of the
scan id, so every lesion of a scan shares them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.fft as sfft
from scipy import ndimage as ndi

from ..exceptions import SchemaError
from ._lesion_streams import hash_ints
from ._voxels import FWHM_PER_SIGMA as _FWHM_PER_SIGMA

__all__ = ["DETECTORS", "KERNEL_SHARPNESS", "ScannerModel", "apply_psf", "ct_noise", "kernel_sharpness",
           "noise_sd_at_dose", "scan_params", "scanner_model"]

#: Kernel sharpness (0 softest, 1 sharpest) of named kernels; Siemens-style names (``Bv40``, ``Qr56``,
#: ``Br64``) are read from their number, ``(n - 32) / 32``; any other name counts as ``standard``.
KERNEL_SHARPNESS: dict[str, float] = {
    "soft": 0.1, "smooth": 0.1, "standard": 0.25, "medium": 0.45, "sharp": 0.75, "very_sharp": 1.0,
    "STANDARD": 0.25, "SOFT": 0.1, "DETAIL": 0.6, "BONE": 0.9, "LUNG": 0.95,       # GE
    "XCA": 0.15, "XCB": 0.25, "XCC": 0.4, "XCD": 0.6, "YC": 0.75,                    # Philips cardiac
    "FC03": 0.2, "FC04": 0.3, "FC05": 0.4, "FC08": 0.55, "FC18": 0.75,               # Canon
}
_SIEMENS = re.compile(r"^[A-Za-z]{1,2}(\d{2})[a-z]?$")
#: Detector physics: aperture FWHM at the isocentre (mm), crosstalk FWHM correlating the noise (mm),
#: noise at equal dose and resolution relative to energy-integrating,
#: and the calcium blooming halo (amplitude relative to the calcium excess, width relative to the PSF).
#: A dual-layer spectral detector is an energy-integrating one (its conventional images).
_DETECTOR = {
    "energy_integrating": dict(aperture=0.5, crosstalk=0.3, noise=1.0, halo=0.2, halo_width=2.5),
    "dual_layer": dict(aperture=0.5, crosstalk=0.3, noise=1.0, halo=0.2, halo_width=2.5),
    "photon_counting": dict(aperture=0.3, crosstalk=0.0, noise=0.85, halo=0.12, halo_width=2.0),
}
#: Detector types of the scans table's ``detector`` column (as its schema; missing = energy-integrating).
DETECTORS = tuple(_DETECTOR)
_NPS_FLOOR = 0.03        # cycles/mm added to the ramp (non-zero NPS at DC, as in helical cone-beam CT)
_CALCIUM_BASE_HU = 200.0  # calcium HU above this is the excess that blooms
_REF = dict(kernel="standard", detector="energy_integrating", slice=0.6)


def kernel_sharpness(kernel) -> float:
    """Sharpness (0 soft .. 1 sharp) of a reconstruction kernel name.

    Parameters
    ----------
    kernel : str or None
        A name of :data:`KERNEL_SHARPNESS` (case-insensitive), a Siemens-style name
        (letters and two digits), or anything else (``standard``, 0.25).

    Returns
    -------
    float

    Examples
    --------
    >>> kernel_sharpness("Bv40"), kernel_sharpness("Qr56"), kernel_sharpness("FC03"), kernel_sharpness(None)
    (0.25, 0.75, 0.2, 0.25)
    """
    if kernel is None or (not isinstance(kernel, str) and bool(pd.isna(kernel))):
        return KERNEL_SHARPNESS["standard"]
    k = str(kernel).strip()
    if k in KERNEL_SHARPNESS:
        return KERNEL_SHARPNESS[k]
    low = {n.lower(): v for n, v in KERNEL_SHARPNESS.items()}
    if k.lower() in low:
        return low[k.lower()]
    m = _SIEMENS.match(k)
    if m:
        return float(np.clip((int(m.group(1)) - 32) / 32.0, 0.0, 1.0))
    return KERNEL_SHARPNESS["standard"]


def _detector(value, where: str = "") -> str:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return DETECTORS[0]
    v = str(value).strip()
    if v not in _DETECTOR:
        raise SchemaError(f"{where or 'scan'}, column detector: value {value!r} must be one of {list(DETECTORS)}")
    return v


def _kernel_fwhm(sharpness: float) -> float:
    """FWHM (mm) of the kernel's apodisation: 0.8 mm soft .. 0.25 mm sharpest."""
    return 0.8 - 0.55 * sharpness


@dataclass(frozen=True)
class ScannerModel:
    """How one scan renders: PSF, noise power spectrum and calcium blooming (widths in mm).

    Attributes
    ----------
    kernel, detector : str
        Reconstruction kernel name and detector type (:data:`DETECTORS`).
    sharpness : float
        Kernel sharpness 0-1 (:func:`kernel_sharpness`).
    slice_thickness_mm : float
    fwhm_xy_mm, fwhm_z_mm : float
        FWHM of the Gaussian system PSF in plane and along z.
    noise_fwhm_xy_mm, noise_fwhm_z_mm : float
        FWHM of the Gaussian apodisation that shapes the noise (with the ramp in plane).
    noise_sd_hu : float
        Noise SD of the rendered image.
    bloom_halo, bloom_width : float
        Calcium blooming: a halo of ``bloom_halo`` times the calcium's excess over 200 HU,
        blurred by a Gaussian ``bloom_width`` times wider than the PSF, is added around calcium.
    """

    kernel: str
    detector: str
    sharpness: float
    slice_thickness_mm: float
    fwhm_xy_mm: float
    fwhm_z_mm: float
    noise_fwhm_xy_mm: float
    noise_fwhm_z_mm: float
    noise_sd_hu: float
    bloom_halo: float
    bloom_width: float

    @property
    def nps_peak_per_mm(self) -> float:
        """In-plane NPS peak frequency (cycles/mm) of the continuous spectrum ``(f + f0) |A(f)|^2``.

        With ``A`` Gaussian of SD ``s`` mm the peak solves ``8 pi^2 s^2 f (f + f0) = 1``.

        Examples
        --------
        >>> m = scanner_model({"scan_id": "S1", "kernel": "Bv40", "noise_sd_hu": 20})
        >>> bool(0.3 < m.nps_peak_per_mm < 0.45)
        True
        """
        s = self.noise_fwhm_xy_mm / _FWHM_PER_SIGMA
        c = 1.0 / (8.0 * math.pi**2 * s**2)
        return 0.5 * (-_NPS_FLOOR + math.sqrt(_NPS_FLOOR**2 + 4.0 * c))


def _get(row, key, default=None):
    v = row.get(key, default) if hasattr(row, "get") else default
    return default if v is None else v


def scanner_model(scan_row, *, jitter: bool = True) -> ScannerModel:
    """The scanner model of one scan row (``kernel``, ``detector``, ``slice_thickness_mm``, ``noise_sd_hu``).

    Missing ``kernel`` counts as ``standard``, missing ``detector`` as energy-integrating,
    missing slice thickness as 0.625 mm and missing noise as 0 HU.

    Parameters
    ----------
    scan_row : mapping or pandas.Series
    jitter : bool
        Apply the per-scan +-10 % jitter of the PSF and NPS widths (hash of ``scan_id``).

    Returns
    -------
    ScannerModel

    Raises
    ------
    SchemaError
        A detector outside :data:`DETECTORS`.

    Examples
    --------
    >>> soft = scanner_model({"scan_id": "S1", "kernel": "Bv40", "detector": "energy_integrating"})
    >>> sharp = scanner_model({"scan_id": "S1", "kernel": "Qr56", "detector": "photon_counting"})
    >>> sharp.fwhm_xy_mm < soft.fwhm_xy_mm, sharp.nps_peak_per_mm > soft.nps_peak_per_mm
    (True, True)
    """
    sid = str(_get(scan_row, "scan_id", ""))
    det = _detector(_get(scan_row, "detector"), f"table scans, row scan_id={sid}")
    kernel = _get(scan_row, "kernel", "standard")
    kernel = "standard" if not isinstance(kernel, str) and bool(pd.isna(kernel)) else kernel
    sharp = kernel_sharpness(kernel)
    st = _get(scan_row, "slice_thickness_mm", np.nan)
    st = float(st) if not pd.isna(st) else np.nan
    st = st if np.isfinite(st) and st > 0 else 0.625
    noise = float(_get(scan_row, "noise_sd_hu", 0.0))
    d = _DETECTOR[det]
    j = 0.9 + 0.2 * (hash_ints("psf", sid)[0] / 2.0**64) if jitter else 1.0
    fk = _kernel_fwhm(sharp)
    return ScannerModel(
        kernel=str(kernel), detector=det, sharpness=sharp, slice_thickness_mm=st,
        fwhm_xy_mm=math.hypot(fk, d["aperture"]) * j, fwhm_z_mm=math.hypot(st, 0.5 * d["aperture"]),
        noise_fwhm_xy_mm=math.hypot(fk, d["crosstalk"]) * j, noise_fwhm_z_mm=st,
        noise_sd_hu=noise, bloom_halo=d["halo"], bloom_width=d["halo_width"])


def noise_sd_at_dose(reference_sd: float, kernel, detector="energy_integrating", slice_thickness_mm=0.6) -> float:
    """Noise SD of a kernel, detector and slice thickness at the dose where the reference has ``reference_sd``.

    The reference is a ``standard`` kernel, energy-integrating detector and 0.6 mm slices.
    The variance is the integral of the noise power spectrum (the ramp times the
    kernel's squared apodisation in plane, the squared slice profile along z) over a
    0.45 x 0.45 x 0.5 mm grid: about ``1 / (w^3 h)`` with ``w`` the kernel's FWHM and ``h``
    the slice thickness (Brooks & Di Chiro 1976), less for sharp kernels whose spectrum
    the grid cuts off.  The detector's crosstalk redistributes noise between frequencies
    and is left out; photon counting has 15 % less noise at equal dose and kernel (no
    electronic noise, flatter energy weighting; Willemink et al. 2018).

    Parameters
    ----------
    reference_sd : float
        Noise SD (HU) of the reference reconstruction at the dose in question.
    kernel : str
        Kernel name (:func:`kernel_sharpness`).
    detector : str
        One of :data:`DETECTORS`.
    slice_thickness_mm : float

    Returns
    -------
    float
        Noise SD (HU).

    Examples
    --------
    >>> noise_sd_at_dose(20.0, "standard")
    20.0
    >>> round(noise_sd_at_dose(20.0, "Bv40", "photon_counting"), 2) < 20.0 < noise_sd_at_dose(20.0, "sharp")
    True
    """
    det = _detector(detector)
    f = np.fft.fftfreq(256, 0.45)          # the NPS integrated over a 0.45 mm x 0.5 mm reconstruction grid
    fr2 = f[:, None] ** 2 + f[None, :] ** 2
    fz = np.fft.fftfreq(256, 0.5)

    def var(k, st):
        return float(_nps_xy(fr2, _kernel_fwhm(kernel_sharpness(k))).sum() * _nps_z(fz, st).sum())
    ratio = math.sqrt(var(kernel, float(slice_thickness_mm)) / var(_REF["kernel"], _REF["slice"]))
    return float(reference_sd) * ratio * _DETECTOR[det]["noise"]


def _sigmas_vox(fwhm_z: float, fwhm_xy: float, spacing_zyx) -> tuple[float, float, float]:
    dz, dy, dx = (float(v) for v in spacing_zyx)
    return (fwhm_z / _FWHM_PER_SIGMA / dz, fwhm_xy / _FWHM_PER_SIGMA / dy, fwhm_xy / _FWHM_PER_SIGMA / dx)


def apply_psf(H: np.ndarray, model: ScannerModel, spacing_zyx, calcium: np.ndarray | None = None) -> np.ndarray:
    """Blur a noise-free HU image with the scanner's PSF and bloom its calcium.

    Parameters
    ----------
    H : ndarray (z, y, x)
        Noise-free HU.
    model : ScannerModel
    spacing_zyx : sequence of 3 float
        Voxel spacing (mm).
    calcium : ndarray of bool, optional
        Calcium voxels; ``model.bloom_halo`` times their HU above 200, blurred by a
        Gaussian ``model.bloom_width`` times wider than the PSF, is added (blooming).

    Returns
    -------
    ndarray of float32

    Examples
    --------
    >>> H = np.full((24, 24, 24), 150.0, np.float32); H[10:14, 10:14, 10:14] = 900.0
    >>> m = scanner_model({"scan_id": "S", "kernel": "Bv40"})
    >>> plain = apply_psf(H, m, (0.5, 0.45, 0.45))
    >>> bloom = apply_psf(H, m, (0.5, 0.45, 0.45), calcium=H > 500)
    >>> bool(plain.max() < 900), int((plain > 350).sum()) < int((bloom > 350).sum())
    (True, True)
    """
    H = np.asarray(H, np.float32)
    sig = _sigmas_vox(model.fwhm_z_mm, model.fwhm_xy_mm, spacing_zyx)
    img = ndi.gaussian_filter(H, sig, mode="nearest", truncate=3.0)
    if calcium is None or model.bloom_halo <= 0 or not np.any(calcium):
        return img
    tail = tuple(model.bloom_width * s for s in sig)
    idx = np.argwhere(calcium)
    margin = np.array([int(3.0 * t + 0.5) + 2 for t in tail])
    lo = np.maximum(idx.min(0) - margin, 0)
    hi = np.minimum(idx.max(0) + margin + 1, H.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    E = np.where(calcium[box], np.maximum(H[box] - _CALCIUM_BASE_HU, 0.0), 0.0).astype(np.float32)
    E *= np.float32(model.bloom_halo)
    img[box] += ndi.gaussian_filter(E, tail, mode="nearest", truncate=3.0)
    return img


def _nps_xy(fr2: np.ndarray, fwhm_mm: float) -> np.ndarray:
    """In-plane NPS shape at squared radial frequency ``fr2``: ``(|f| + f0) exp(-4 pi^2 s^2 f^2)``."""
    s = fwhm_mm / _FWHM_PER_SIGMA
    return (np.sqrt(fr2) + _NPS_FLOOR) * np.exp(-4.0 * math.pi**2 * s**2 * fr2)


def _nps_z(fz: np.ndarray, fwhm_mm: float) -> np.ndarray:
    """NPS shape along z (the slice profile squared)."""
    s = fwhm_mm / _FWHM_PER_SIGMA
    return np.exp(-4.0 * math.pi**2 * s**2 * fz**2)


def _noise_filter(shape_zyx, spacing_zyx, model: ScannerModel) -> tuple[np.ndarray, float]:
    """The amplitude filter sqrt(NPS) on the rfft grid, and the variance it gives unit white noise."""
    nz, ny, nx = (int(v) for v in shape_zyx)
    dz, dy, dx = (float(v) for v in spacing_zyx)
    fz = np.fft.fftfreq(nz, dz)
    fy = np.fft.fftfreq(ny, dy)
    fx = np.fft.rfftfreq(nx, dx)
    a_xy = np.sqrt(_nps_xy(fy[:, None] ** 2 + fx[None, :] ** 2, model.noise_fwhm_xy_mm))
    a_z = np.sqrt(_nps_z(fz, model.noise_fwhm_z_mm))
    wx = np.full(fx.size, 2.0)
    wx[0] = 1.0
    if nx % 2 == 0:
        wx[-1] = 1.0
    var = float((a_z**2).sum() * ((a_xy**2) * wx[None, :]).sum()) / (nz * ny * nx)
    return (a_z[:, None, None] * a_xy[None, :, :]).astype(np.float32), var


def ct_noise(rng: np.random.Generator, shape_zyx, spacing_zyx, model: ScannerModel) -> np.ndarray:
    """CT noise with the scanner's noise power spectrum and SD ``model.noise_sd_hu`` (periodic, float32).

    White Gaussian noise is filtered in frequency space by ``sqrt(NPS)``; the
    scale is set analytically (the filter's mean square), so the expected SD
    is exactly ``noise_sd_hu``.  Consumes ``rng.standard_normal(shape, float32)``.

    Examples
    --------
    >>> m = scanner_model({"scan_id": "S", "kernel": "Bv40", "noise_sd_hu": 20.0})
    >>> e = ct_noise(np.random.default_rng(0), (40, 48, 48), (0.5, 0.45, 0.45), m)
    >>> e.dtype.name, bool(19 < e.std() < 21)
    ('float32', True)
    """
    shape = tuple(int(v) for v in shape_zyx)
    w = rng.standard_normal(shape, dtype=np.float32)
    if model.noise_sd_hu <= 0:
        return np.zeros(shape, np.float32)
    filt, var = _noise_filter(shape, spacing_zyx, model)
    spec = sfft.rfftn(w, workers=1)
    spec *= filt
    out = sfft.irfftn(spec, s=shape, workers=1).astype(np.float32, copy=False)
    out *= np.float32(model.noise_sd_hu / math.sqrt(var))
    return out


def scan_params(scan_row: Mapping) -> dict:
    """Scanner-level rendering parameters, fixed per scan (same for all its lesions).

    ``scanner`` is the :class:`ScannerModel`; ``fwhm_xy`` / ``fwhm_z`` its PSF,
    ``plaque_shift_k`` the plaque HU shift per HU of lumen contrast.

    Examples
    --------
    >>> sp = scan_params({"scan_id": "S1", "pixel_spacing_mm": 0.7, "lumen_hu_mean": 400, "noise_sd_hu": 25})
    >>> sp["spacing_xy"], bool(0.6 <= sp["fwhm_xy"] <= 1.0), sp["scanner"].detector
    (0.5, True, 'energy_integrating')
    """
    sid = str(scan_row["scan_id"])
    model = scanner_model(scan_row)
    return {
        "spacing_xy": float(np.clip(float(scan_row["pixel_spacing_mm"]), 0.4, 0.5)),
        "scanner": model,
        "fwhm_xy": model.fwhm_xy_mm,
        "fwhm_z": model.fwhm_z_mm,
        "plaque_shift_k": 0.1 + 0.1 * (hash_ints("shift", sid)[0] / 2.0**64),   # 0.1-0.2
        "lumen_hu_scan": float(scan_row["lumen_hu_mean"]),
        "noise_sd": model.noise_sd_hu,
    }
