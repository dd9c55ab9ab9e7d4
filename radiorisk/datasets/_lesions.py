"""CCTA acquisition, lesions (true and measured) and scan-level summaries (DOMAIN.md 6.3).

True (noise-free) lesion values go to ``truth_lesions``; the ``lesions`` and
``scans`` tables hold what plaque software and a reader would report: true
values with measurement noise, acquisition effects (lumen contrast and image
noise shift the low-attenuation share), reader sensitivity/specificity for the
visual high-risk features, and any injected measurement bias.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import expit, logit

from ._sites import SCANNER_IDS, SCANNERS

__all__ = ["SEG_W", "SEG_REF_D", "SEG_VESSEL", "SEG_TERRITORY", "simulate_acquisition",
           "simulate_true_lesions", "measure_lesions", "patient_summaries"]

# SCCT 18-segment model: 1 pRCA 2 mRCA 3 dRCA 4 R-PDA 5 LM 6 pLAD 7 mLAD 8 dLAD 9 D1 10 D2
# 11 pLCx 12 OM1 13 LCx(distal) 14 OM2 15 L-PDA 16 R-PLB 17 Ramus 18 L-PLB
SEG_W = np.array([10, 7, 5, 2, 3, 14, 10, 3, 5, 2, 7, 5, 4, 2, 1, 2, 1, 1], float)
SEG_W /= SEG_W.sum()
SEG_REF_D = np.array([3.6, 3.3, 3.0, 2.1, 4.2, 3.5, 2.9, 2.1, 2.3, 1.9, 3.2, 2.3, 2.4, 1.9, 1.8,
                      2.0, 2.2, 1.9])
SEG_VESSEL = np.array(["RCA", "RCA", "RCA", "PDA", "LM", "LAD", "LAD", "LAD", "D1", "D2", "LCX",
                       "OM1", "LCX", "OM2", "PDA", "PLB", "RI", "PLB"])
#: PET / CAD-RADS territory per segment: 0 LAD (incl. LM, diagonals), 1 LCX (incl. OM, ramus,
#: left PDA/PLB), 2 RCA (incl. right PDA/PLB).
SEG_TERRITORY = np.array([2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 1, 1])

_VENDOR_NAMES = np.array(["Siemens", "GE", "Philips", "Canon"])
_SITE_VENDOR = np.array([0, 0, 1, 2, 3, 0, 1, 2])          # site01..site08
_VENDOR_SIGMA0 = np.array([22.0, 28.0, 30.0, 25.0])         # HU at 100 kVp, BMI 27
_VENDOR_SLICE = np.array([0.6, 0.625, 0.67, 0.5])           # mm
_VENDOR_KERNEL = np.array(["Bv40", "STANDARD", "XCB", "FC03"], dtype=object)


def simulate_acquisition(site: np.ndarray, bmi: np.ndarray, rng: np.random.Generator,
                         scanner: np.ndarray | None = None) -> dict:
    """Scanner, kVp, lumen contrast and image noise (sigma = sigma0 * BMI / 27).

    Without ``scanner`` the vendor follows the site (the historical one scanner
    per site).  With ``scanner`` (indices into
    :data:`~radiorisk.datasets._sites.SCANNERS`, a multi-site design) vendor,
    kernel, detector, sigma0 and slice thickness follow the scanner model, and
    the result also holds its measurement effects (``calc_logit``,
    ``ds_shift``, ``cac_factor``) and ``detector``.
    """
    n = len(site)
    u = rng.random((n, 3))
    kvp = np.where(bmi < 25, np.where(u[:, 0] < 0.3, 80, 100),
                   np.where(bmi < 30, np.where(u[:, 0] < 0.7, 100, 120),
                            np.where(u[:, 0] < 0.15, 100, 120)))
    if scanner is None:
        v = _SITE_VENDOR[site]
        vendor, base_sigma, slice_mm, kernel, lo = (_VENDOR_NAMES[v], _VENDOR_SIGMA0[v], _VENDOR_SLICE[v],
                                                    _VENDOR_KERNEL[v], 20.0)
    else:
        cat = [SCANNERS[k] for k in SCANNER_IDS]

        def col(key, dtype=float):
            return np.array([c[key] for c in cat], dtype=dtype)[scanner]
        vendor, base_sigma, slice_mm, kernel, lo = (col("vendor", object), col("sigma0"), col("slice"),
                                                    col("kernel", object), 15.0)
    sigma0 = np.clip(base_sigma + np.select([kvp == 80, kvp == 120], [5.0, -4.0], 0.0), lo, 35.0)
    noise_sd = np.clip(sigma0 * bmi / 27.0 * np.exp(rng.normal(0, 0.05, n)), 5.0, 80.0)
    lumen = np.clip(300.0 + 200.0 * u[:, 1] + 2.0 * (100 - kvp), 150.0, 700.0)
    out = dict(vendor=vendor, kvp=kvp, sigma0=sigma0, noise_sd=noise_sd, lumen_hu=lumen,
               pixel_spacing=0.4 + 0.1 * u[:, 2], slice_thickness=slice_mm, kernel=kernel)
    if scanner is not None:
        out.update(scanner=scanner, detector=col("detector", object), calc_logit=col("calc_logit"),
                   ds_shift=col("ds_shift"), cac_factor=col("cac_factor"))
    return out


def simulate_true_lesions(d: Mapping, V: np.ndarray, Z: np.ndarray, P: Mapping,
                          rng: np.random.Generator) -> dict:
    """True lesions: segments, geometry, composition and high-risk features."""
    A, male, age = d["A"], d["male"], d["age"]
    n = len(A)
    n_les = rng.poisson(np.exp(P["les_c"] + 0.55 * A))
    any_plaque = rng.random(n) < expit(P["plaque_c"] + 1.6 * A)
    n_les = np.minimum(np.where(any_plaque, np.maximum(n_les, 1), 0), 16)
    pid = np.repeat(np.arange(n), n_les)
    L = len(pid)
    # Gumbel top-k on log segment weights (one draw per patient) = distinct segments,
    # sampled without replacement with the SCAPIS-like weights
    g = -np.log(-np.log(rng.random((n, 18)))) + np.log(SEG_W)
    rank = np.arange(L) - np.repeat(np.cumsum(n_les) - n_les, n_les)
    seg = np.argsort(-g, axis=1, kind="stable")[pid, rank] + 1
    # lesion-level vulnerability / activity around the patient's (variance-preserving split)
    V_l = V[pid] + rng.normal(0, 0.5, L)
    Z_l = Z[pid] + rng.normal(0, 0.5, L)
    ref_d = np.clip(SEG_REF_D[seg - 1] * np.where(male[pid], 1.0, 0.9) * np.exp(rng.normal(0, 0.08, L)),
                    1.2, 5.8)
    length = np.clip(np.exp(rng.normal(np.log(12.0), 0.5, L)), 2.0, 80.0)
    pb = expit(rng.normal(P["pb_mu"] + 0.6 * A[pid], 1.0, L))
    lum_ref = np.pi * (ref_d / 2) ** 2
    eem_ref = lum_ref * 1.45
    ri = np.clip(P["ri0"] + 0.10 * V_l + 0.4 * (pb - 0.4) + rng.normal(0, 0.049, L), 0.7, 1.6)
    v_tot = pb * eem_ref * ri * length * 0.6
    f_calc = expit(-0.4 + 0.045 * (age[pid] - 58) + 0.4 * male[pid] - 0.6 * V_l + rng.normal(0, 0.954, L))
    f_lap = expit(P["lap_mu"] + 0.8 * V_l + rng.normal(0, 0.447, L))
    f_ff = expit(-0.3 + 0.5 * V_l + rng.normal(0, 0.5, L))  # fibro-fatty share of NCP - LAP
    v_cal = v_tot * f_calc
    v_nc = v_tot * (1 - f_calc)
    v_lap = v_nc * f_lap
    v_ff = v_nc * (1 - f_lap) * f_ff
    v_fib = v_nc * (1 - f_lap) * (1 - f_ff)
    ds = np.clip(1 - np.sqrt(np.clip(1.45 * ri * (1 - pb), 0, 1)), 0, 1)
    pr = ri >= P["pr_thr"]
    lapf = (v_lap >= 5.0) & (f_lap >= 0.30)
    spotty = (f_calc > 0.01) & (f_calc < 0.10)
    napkin = lapf & (rng.random(L) < expit(-2.5 + 0.8 * V_l))
    vessel_vol = eem_ref * ri * length * 0.9
    return dict(n_les=n_les, pid=pid, seg=seg, V_l=V_l, Z_l=Z_l, ref_d=ref_d, length=length, pb=pb,
                ri=ri, lum_ref=lum_ref, v_tot=v_tot, v_cal=v_cal, v_nc=v_nc, v_lap=v_lap, v_ff=v_ff,
                v_fib=v_fib, f_calc=f_calc, f_lap=f_lap, ds=ds, pr=pr, lapf=lapf, spotty=spotty,
                napkin=napkin, vessel_vol=vessel_vol, hrp_true=(pr.astype(int) + lapf + spotty + napkin) >= 2)


def _flip(x: np.ndarray, se: float, sp: float, u: np.ndarray) -> np.ndarray:
    return np.where(x, u < se, u > sp)


def _logit(p):
    return logit(np.clip(p, 1e-6, 1 - 1e-6))


def measure_lesions(les: Mapping, acq: Mapping, P: Mapping, rng: np.random.Generator,
                    meas_bias: Mapping) -> dict:
    """Lesion values as plaque software and a reader would report them.

    Volumes are returned in integer hundredths of mm3 so that the reported
    components add up exactly: calcified + non-calcified = total and
    fibrous + fibro-fatty + LAP = non-calcified.
    """
    pid = les["pid"]
    L = len(pid)
    n = len(acq["lumen_hu"])
    lumen = acq["lumen_hu"][pid]
    noise = acq["noise_sd"][pid]
    nm = meas_bias["noise_mult"][pid]
    s_tot = np.exp(rng.normal(0, 0.06, n))[pid]                       # scan-level calibration
    s_lap = (-0.003 * (lumen - 400) + 0.015 * (noise - 30)
             + rng.normal(0, 0.2, n)[pid])                            # contrast/noise shift of LAP
    e = rng.standard_normal((L, 8))
    v_tot = les["v_tot"] * s_tot * np.exp(0.10 * nm * e[:, 0])
    f_calc = expit(_logit(les["f_calc"]) + 0.25 * nm * e[:, 1])
    if "calc_logit" in acq:  # scanner model: less calcium blooming on photon-counting CT
        f_calc = expit(_logit(f_calc) + acq["calc_logit"][pid])
    f_lap = expit(_logit(les["f_lap"]) + s_lap + 0.35 * nm * e[:, 2])
    nc_tot = np.where(les["v_nc"] - les["v_lap"] > 0, les["v_ff"] / np.maximum(les["v_nc"] - les["v_lap"], 1e-12), 0.5)
    f_ff = expit(_logit(nc_tot) + 0.3 * nm * e[:, 3])
    plaque_f = meas_bias["plaque_factor"][pid]
    v_tot = v_tot * plaque_f
    v_cal = v_tot * f_calc
    v_nc = v_tot - v_cal
    v_lap = v_nc * f_lap
    lap_f = meas_bias["lap_factor"][pid]
    v_lap_b = v_lap * lap_f                                           # reclassified to fibro-fatty
    v_ff = (v_nc - v_lap) * f_ff + (v_lap - v_lap_b)
    c_cal = np.round(v_cal * 100).astype(np.int64)
    c_lap = np.round(v_lap_b * 100).astype(np.int64)
    c_ff = np.round(np.maximum(v_ff, 0) * 100).astype(np.int64)
    c_fib = np.maximum(np.round(v_nc * 100).astype(np.int64) - c_lap - c_ff, 0)
    c_nc = c_fib + c_ff + c_lap
    c_tot = c_cal + c_nc
    # geometry and stenosis (reader)
    ref_d = np.clip(les["ref_d"] * np.exp(0.05 * e[:, 4]), 1.0, 6.0)
    length = np.clip(les["length"] * np.exp(0.10 * e[:, 5]), 1.0, 100.0)
    ds = np.clip(les["ds"] + P["ds_read_sd"] * e[:, 6] + meas_bias["stenosis_shift"][pid] / 100.0, 0.01, 1.0)
    if "ds_shift" in acq:
        ds = np.clip(ds + acq["ds_shift"][pid] / 100.0, 0.01, 1.0)
    ds = np.where(ds >= 0.99, 1.0, ds)
    ri = np.clip(les["ri"] + 0.05 * e[:, 7], 0.5, 2.5)
    pb_m = expit(_logit(les["pb"]) + 0.2 * rng.standard_normal(L))
    # outer-wall volume of the analysed segment: never below the plaque volume inside it
    vessel_vol = np.maximum(les["vessel_vol"] * s_tot * np.exp(rng.normal(0, 0.05, L)), c_tot / 100.0 * 1.02)
    # visual high-risk features: reader sensitivity / specificity
    u = rng.random((L, 4))
    lap_share_m = np.where(c_nc > 0, c_lap / np.maximum(c_nc, 1), 0.0)
    lapf_m = _flip((c_lap >= 500) & (lap_share_m >= 0.30), 0.85, 0.98, u[:, 0])
    pr = _flip(les["pr"], 0.75, 0.96, u[:, 1])
    spotty = _flip(les["spotty"], 0.70, 0.97, u[:, 2])
    napkin = _flip(les["napkin"], 0.50, 0.995, u[:, 3])
    hrp_count = pr.astype(np.int64) + lapf_m + spotty + napkin
    # attenuation summaries (plaque HU shifts with lumen contrast)
    tot = np.maximum(c_tot, 1)
    hu_mean = (c_cal * 700 + c_fib * 190 + c_ff * 80 + c_lap * 0) / tot + 0.15 * (lumen - 400)
    hu_mean = np.clip(hu_mean + 10 * rng.standard_normal(L), -100, 1500)
    hu_sd = np.clip(30 + 300 * c_cal / tot + 5 * rng.standard_normal(L), 5, 600)
    hu_min = np.where(c_lap >= 50, -20.0, np.where(c_ff >= 50, 45.0, 140.0)) + 15 * rng.standard_normal(L)
    hu_min = np.minimum(hu_min, hu_mean)
    return dict(c_tot=c_tot, c_cal=c_cal, c_nc=c_nc, c_fib=c_fib, c_ff=c_ff, c_lap=c_lap,
                ref_d=ref_d, length=length, ds=ds, ri=ri, pb=pb_m, vessel_vol=vessel_vol,
                lapf=lapf_m, pr=pr, spotty=spotty, napkin=napkin, hrp_count=hrp_count,
                hu_mean=hu_mean, hu_sd=hu_sd, hu_min=hu_min,
                f_calc=np.where(c_tot > 0, c_cal / tot, 0.0))


def patient_summaries(n: int, les: Mapping, mes: Mapping) -> dict:
    """Patient-level sums and maxima: true (``t_*``) and measured (``m_*``)."""
    pid = les["pid"]

    def agg(x):
        return np.bincount(pid, weights=x, minlength=n)

    def aggi(x):
        return np.bincount(pid, weights=x, minlength=n).round().astype(np.int64)

    def mx(x):
        out = np.zeros(n)
        np.maximum.at(out, pid, x)
        return out

    def anyof(x):
        return np.bincount(pid, weights=x.astype(float), minlength=n) > 0

    t_vv = agg(les["vessel_vol"])
    t_tpv, t_lapv = agg(les["v_tot"]), agg(les["v_lap"])
    safe = np.maximum(t_vv, 1e-9)
    terr = SEG_TERRITORY[les["seg"] - 1]
    m_ds = mes["ds"]
    sev = np.select([m_ds >= 0.70, m_ds >= 0.50, m_ds > 0], [3, 2, 1], 0)
    n_terr70 = sum(anyof((terr == k) & (m_ds >= 0.70)).astype(int) for k in range(3))
    lm50 = anyof((les["seg"] == 5) & (m_ds >= 0.50))
    return dict(
        t_tpv=t_tpv, t_cpv=agg(les["v_cal"]), t_ncpv=agg(les["v_nc"]), t_lapv=t_lapv,
        t_vessel_vol=t_vv, t_tpb=np.where(t_vv > 0, 100 * t_tpv / safe, 0.0),
        t_lapb=np.where(t_vv > 0, 100 * t_lapv / safe, 0.0), t_max_ds=mx(les["ds"]),
        t_hrp=anyof(les["hrp_true"]),
        m_tot=aggi(mes["c_tot"]), m_cal=aggi(mes["c_cal"]), m_nc=aggi(mes["c_nc"]),
        m_lap=aggi(mes["c_lap"]), m_ff=aggi(mes["c_ff"]), m_fib=aggi(mes["c_fib"]),
        m_vessel_vol=agg(mes["vessel_vol"]), m_max_ds=mx(m_ds),
        m_hrp=anyof(mes["hrp_count"] >= 2), sis=np.bincount(pid, minlength=n),
        sss=np.bincount(pid, weights=sev, minlength=n).round().astype(np.int64),
        n_terr70=n_terr70, lm50=lm50,
        cal_by_terr=np.stack([agg(np.where(terr == k, les["v_cal"] + les["v_lap"] + 0.5, 0.0))
                              for k in range(3)], axis=1),
    )
