"""Assembling the simulated arrays into the schema tables and the truth tables.

Nothing here draws random numbers: :func:`~radiorisk.datasets._cohort.simulate_cohort`
simulates, and these functions round, derive (CAD-RADS, stenosis grades,
plaque burdens) and order the columns as ``data_schemas/*.schema.json`` does.
The simulated state ``w`` is the dict that ``simulate_cohort`` accumulates
(clinical ``d``, latent ``V``/``Z``, lesions ``les``/``mes``, summaries ``S``,
PET, outcomes ``oc``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..schemas import load_schema
from ._lesions import SEG_VESSEL
from ._outcomes import COMPONENTS
from ._sites import SCANNER_IDS

__all__ = ["culprit_lesions", "identifiers", "lesions_table", "outcomes_table", "patients_table",
           "pet_table", "scans_table", "truth_lesions_table", "truth_table"]

_SYMPTOMS = np.array(["typical_angina", "atypical_angina", "non_anginal", "asymptomatic"], dtype=object)


# ---------------------------------------------------------------------------- helpers
def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _frame(table: str, cols: dict) -> pd.DataFrame:
    """DataFrame in schema column order (columns not provided are omitted)."""
    order = [f.name for f in load_schema(table).fields]
    missing = [k for k in cols if k not in order]
    if missing:  # a programming error, not user input
        raise AssertionError(f"{table}: columns not in schema: {missing}")
    return pd.DataFrame({k: cols[k] for k in order if k in cols})


def _opt(values: np.ndarray, mask: np.ndarray, dtype: str = "float") -> pd.Series | np.ndarray:
    """Values where mask, missing elsewhere (Int64 / boolean / float / object)."""
    if dtype in ("Int64", "boolean"):
        arr = pd.array(np.asarray(values, np.int64 if dtype == "Int64" else bool), dtype=dtype)
        arr[~np.asarray(mask, bool)] = pd.NA
        return arr
    if dtype == "object":
        return np.where(mask, values, None).astype(object)
    return np.where(mask, values, np.nan)


def _r4(x):
    return np.round(x, 4)


def _cad_rads(max_ds: np.ndarray, sis: np.ndarray, n_terr70: np.ndarray, lm50: np.ndarray) -> np.ndarray:
    grade = np.select(
        [sis == 0, max_ds >= 0.995, lm50 | (n_terr70 >= 3), max_ds >= 0.70, max_ds >= 0.50, max_ds >= 0.25],
        ["0", "5", "4B", "4A", "3", "2"], "1")
    return grade.astype(object)


def _cad_rads_p(cac: np.ndarray, sis: np.ndarray) -> np.ndarray:
    c = np.select([cac > 1000, cac > 300, cac > 100, cac >= 1], [4, 3, 2, 1], 0)
    s = np.select([sis >= 8, sis >= 5, sis >= 3, sis >= 1], [4, 3, 2, 1], 0)
    return np.array(["P0", "P1", "P2", "P3", "P4"], dtype=object)[np.maximum(c, s)]


def culprit_lesions(pid: np.ndarray, key: np.ndarray, n: int, lesion_ids: np.ndarray) -> np.ndarray:
    """Per patient, the lesion with the largest key (None for patients without lesions).

    Examples
    --------
    >>> culprit_lesions(np.array([0, 0, 2]), np.array([1.0, 3.0, 0.5]), 3,
    ...                 np.array(["L1", "L2", "L3"], dtype=object)).tolist()
    ['L2', None, 'L3']
    """
    out = np.full(n, None, dtype=object)
    if len(pid) == 0:
        return out
    o = np.lexsort((key, pid))
    last = np.r_[pid[o][1:] != pid[o][:-1], True]
    out[pid[o][last]] = lesion_ids[o][last]
    return out


# ---------------------------------------------------------------------------- tables
def identifiers(n: int, L: int, accrual: np.ndarray, start_date: str) -> dict:
    """Patient, scan and lesion ids and the scan dates (``start_date`` + accrual).

    Examples
    --------
    >>> ids = identifiers(2, 1, np.array([0.0, 1.0]), "2011-01-01")
    >>> ids["pids"].tolist(), ids["sids"].tolist(), ids["lids"].tolist(), ids["scan_date"].tolist()
    (['P000001', 'P000002'], ['S000001', 'S000002'], ['L0000001'], ['2011-01-01', '2012-01-01'])
    """
    pids = _ids("P", n, 6)
    sids = np.array(["S" + p[1:] for p in pids], dtype=object)
    lids = _ids("L", L, 7)
    start = np.datetime64(start_date)
    scan_date = (start + np.round(accrual * 365.25).astype("timedelta64[D]")).astype(str).astype(object)
    return dict(pids=pids, sids=sids, lids=lids, scan_date=scan_date)


def patients_table(w: Mapping, ids: Mapping, n: int, mode: str) -> pd.DataFrame:
    """The ``patients`` table (measured LDL carries any measurement bias)."""
    d, mb, cols, hist = w["d"], w["mb"], w["cols"], w["hist"]
    ldl_meas = np.clip(np.round(d["ldl"] * mb["ldl_factor"] + mb["ldl_shift"], 2), 0.3, 15)
    diabetes = np.where(d["dm"], np.where(d["dm_type1"], "type1", "type2"), "none").astype(object)
    smoking = np.where(d["smoke"], "current", np.where(d["former"], "former", "never")).astype(object)
    return _frame("patients", dict(
        patient_id=ids["pids"], site_id=w["site_ids"][d["site"]].astype(object), cohort=np.full(n, mode, dtype=object),
        age_years=np.round(d["age"], 1), sex=w["sex"], ethnicity=cols["ethnicity"].astype(object),
        ethnicity_group5=cols["ethnicity_group5"].astype(object),
        ethnicity_scheme=np.full(n, "ons", dtype=object),
        height_cm=np.round(d["height"], 1), weight_kg=np.round(d["weight"], 1), bmi=np.round(d["bmi"], 1),
        sbp_mmhg=np.round(d["sbp"]), dbp_mmhg=np.round(d["dbp"]), hypertension=d["htn"],
        on_antihypertensive=d["on_antihtn"], diabetes=diabetes, smoking=smoking,
        cigs_per_day=pd.array(d["cigs"].astype(np.int64), dtype="Int64"),
        hyperlipidaemia=d["hyperlip"], on_statin=d["statin"],
        family_history_premature_chd=d["fh"], ldl_mmol_l=ldl_meas, hdl_mmol_l=np.round(d["hdl"], 2),
        total_chol_mmol_l=np.round(d["tchol"], 2), egfr_ml_min_1_73m2=np.round(d["egfr"], 1),
        prior_mi=hist["prior_mi"], prior_pci=hist["prior_pci"], prior_cabg=hist["prior_cabg"],
        symptom_class=_SYMPTOMS[d["symptom"]], deprivation_quintile=pd.array(d["deprivation"], dtype="Int64"),
    ))


def _burden_pct(cents: np.ndarray, vv: np.ndarray) -> np.ndarray:
    """Plaque burden (%) of a volume in 1/100 mm3 over the vessel volume ``vv`` (0 without vessel)."""
    has = vv > 0
    safe = np.where(has, vv, 1.0)
    return np.clip(np.round(np.where(has, cents / 100.0 / safe * 100, 0.0), 2), 0, 100)


def scans_table(w: Mapping, ids: Mapping, n: int) -> pd.DataFrame:
    """The ``scans`` table: acquisition, calcium, CAD-RADS, plaque volumes and burdens, FAI."""
    acq, S, cac, fai = w["acq"], w["S"], w["cac"], w["fai"]
    vv = S["m_vessel_vol"]
    extra = {"detector": acq["detector"]} if "detector" in acq else {}  # multi-site designs only
    return _frame("scans", extra | dict(
        scan_id=ids["sids"], patient_id=ids["pids"], scan_date=ids["scan_date"], vendor=acq["vendor"].astype(object),
        kvp=pd.array(acq["kvp"].astype(np.int64), dtype="Int64"),
        slice_thickness_mm=acq["slice_thickness"], pixel_spacing_mm=np.round(acq["pixel_spacing"], 3),
        kernel=acq["kernel"], lumen_hu_mean=np.round(acq["lumen_hu"], 1),
        noise_sd_hu=np.round(acq["noise_sd"], 1), quality=np.full(n, "diagnostic", dtype=object),
        cac_agatston=cac, cac_volume_mm3=w["cac_vol"],
        cad_rads=_cad_rads(S["m_max_ds"], S["sis"], S["n_terr70"], S["lm50"]),
        cad_rads_p=_cad_rads_p(cac, S["sis"]), hrp_modifier=S["m_hrp"],
        sis=pd.array(S["sis"].astype(np.int64), dtype="Int64"),
        sss=pd.array(S["sss"], dtype="Int64"), max_stenosis_pct=np.round(100 * S["m_max_ds"], 1),
        tpv_mm3=S["m_tot"] / 100.0, cpv_mm3=S["m_cal"] / 100.0, ncpv_mm3=S["m_nc"] / 100.0,
        lapv_mm3=S["m_lap"] / 100.0, fibrofatty_mm3=S["m_ff"] / 100.0, fibrous_mm3=S["m_fib"] / 100.0,
        vessel_volume_mm3=np.round(vv, 2), tpb_pct=_burden_pct(S["m_tot"], vv), cpb_pct=_burden_pct(S["m_cal"], vv),
        ncpb_pct=_burden_pct(S["m_nc"], vv), lapb_pct=_burden_pct(S["m_lap"], vv),
        fai_rca_hu=fai[:, 2], fai_lad_hu=fai[:, 0], fai_lcx_hu=fai[:, 1],
        software=np.full(n, "radiorisk-synthetic-autoplaque", dtype=object),
        software_version=np.full(n, "1.0", dtype=object), lap_threshold_hu=np.full(n, 30.0),
        calc_threshold_hu=np.full(n, "350", dtype=object),
    ))


def lesions_table(w: Mapping, ids: Mapping) -> pd.DataFrame:
    """The ``lesions`` table: measured geometry, composition and features; PET uptake where available."""
    les, mes = w["les"], w["mes"]
    lpid = les["pid"]
    ds = mes["ds"]
    grade = np.select([ds >= 0.995, ds >= 0.70, ds >= 0.50, ds >= 0.25, ds > 0], ["5", "4", "3", "2", "1"], "0")
    fcal = mes["f_calc"]
    ptype = np.select([mes["c_cal"] == 0, fcal >= 0.70], ["non_calcified", "calcified"], "partially_calcified")
    lum_ref_m = np.pi * (mes["ref_d"] / 2) ** 2
    lav = w["avail"][lpid]
    tbr_l = w["tbr_l"]
    return _frame("lesions", dict(
        lesion_id=ids["lids"], scan_id=ids["sids"][lpid], patient_id=ids["pids"][lpid],
        vessel=SEG_VESSEL[les["seg"] - 1].astype(object),
        segment_start=pd.array(les["seg"].astype(np.int64), dtype="Int64"),
        segment_end=pd.array(les["seg"].astype(np.int64), dtype="Int64"),
        length_mm=np.round(mes["length"], 1), ref_diameter_mm=np.round(mes["ref_d"], 2),
        mla_mm2=np.clip(np.round(lum_ref_m * (1 - ds) ** 2, 2), 0, 30),
        diameter_stenosis_pct=np.round(100 * ds, 1), area_stenosis_pct=np.round(100 * (1 - (1 - ds) ** 2), 1),
        stenosis_grade_visual=grade.astype(object), plaque_type=ptype.astype(object),
        v_total_mm3=mes["c_tot"] / 100.0, v_calcified_mm3=mes["c_cal"] / 100.0,
        v_noncalcified_mm3=mes["c_nc"] / 100.0, v_fibrous_mm3=mes["c_fib"] / 100.0,
        v_fibrofatty_mm3=mes["c_ff"] / 100.0, v_lap_mm3=mes["c_lap"] / 100.0,
        vessel_volume_mm3=np.clip(np.round(mes["vessel_vol"], 2), 0, 10000),
        max_plaque_burden_pct=np.round(100 * mes["pb"], 1), remodelling_index=np.round(mes["ri"], 3),
        pos_remodelling=mes["pr"], lap_feature=mes["lapf"], spotty_calc=mes["spotty"],
        napkin_ring=mes["napkin"], hrp_count=pd.array(mes["hrp_count"].astype(np.int64), dtype="Int64"),
        hu_mean=np.round(mes["hu_mean"], 1), hu_sd=np.round(mes["hu_sd"], 1), hu_min=np.round(mes["hu_min"], 1),
        tbr_max=_opt(tbr_l, lav), suv_max=_opt(np.clip(np.round(tbr_l * w["bp_l"], 3), 0, 10), lav),
    ))


def pet_table(w: Mapping, ids: Mapping, n: int) -> pd.DataFrame:
    """The ``pet`` table: availability, acquisition and CMA / TBR (missing without PET)."""
    avail, pacq, cma = w["avail"], w["pacq"], w["cma"]
    cv = cma["cma_vessel"]
    return _frame("pet", dict(
        patient_id=ids["pids"], pet_available=avail, missing_reason=w["av"]["reason"],
        tracer=_opt(np.full(n, "18F-NaF", dtype=object), avail, "object"),
        injected_mbq=_opt(pacq["injected_mbq"], avail), uptake_min=_opt(pacq["uptake_min"], avail),
        motion_corrected=_opt(np.ones(n, bool), avail, "boolean"),
        blood_pool_suv_mean=_opt(pacq["bp_mean"], avail), blood_pool_suv_sd=_opt(pacq["bp_sd"], avail),
        cma_patient=_opt(cma["cma"], avail), cma_gt0=_opt(cma["cma"] > 0, avail, "boolean"),
        cma_lad=_opt(cv[:, 0], avail), cma_lcx=_opt(cv[:, 1], avail), cma_rca=_opt(cv[:, 2], avail),
        tbr_max_patient=_opt(np.clip(w["tbr_pat"], 0, 10), avail),
    ))


def outcomes_table(oc: Mapping, pids: np.ndarray, n: int, mace_definition: str) -> pd.DataFrame:
    """The ``outcomes`` table: every component, its time, and MACE per ``mace_definition``."""
    mace_comps = str(mace_definition).split("+")
    mace_event = np.zeros(n, bool)
    mace_time = oc["fu_days"].copy()
    oc_cols: dict[str, Any] = dict(patient_id=pids, fu_days=oc["fu_days"], censor_reason=oc["censor_reason"])
    for k in COMPONENTS:
        oc_cols[k] = oc[k]
        oc_cols[f"{k}_time_days"] = oc[f"{k}_time"]
        if k in mace_comps:
            mace_event |= oc[k]
            mace_time = np.where(oc[k], np.minimum(mace_time, oc[f"{k}_time"]), mace_time)
        if k == "mi":
            oc_cols["mi_type"] = _opt(oc["mi_type"], oc["mi"], "Int64")
    oc_cols.update(mace_event=mace_event, mace_time_days=mace_time,
                   mace_definition=np.full(n, "+".join(mace_comps), dtype=object))
    return _frame("outcomes", oc_cols)


def truth_table(w: Mapping, ids: Mapping, P: Mapping, culprit: np.ndarray) -> pd.DataFrame:
    """One row per patient: latent values, linear predictors, noise-free measures, true events, biases."""
    d, S, lp, oc, mb, cma = w["d"], w["S"], w["lp"], w["oc"], w["mb"], w["cma"]
    r4 = _r4
    truth = {
        "patient_id": ids["pids"], "latent_a": r4(d["A"]), "latent_v": r4(w["V"]), "latent_z": r4(w["Z"]),
        "lp_mi": r4(lp["mi"]), "lp_cardiac_death": r4(lp["cardiac_death"]), "lp_ua_hosp": r4(lp["ua_hosp"]),
        "lp_revasc_unplanned": r4(lp["revasc_unplanned"]), "lp_noncardiac_death": r4(lp["noncardiac_death"]),
        "hazard_mi_per_year": np.round(P["lam_mi"] * np.exp(lp["mi"]), 8),
        "n_lesions": S["sis"], "true_tpv_mm3": r4(S["t_tpv"]), "true_cpv_mm3": r4(S["t_cpv"]),
        "true_ncpv_mm3": r4(S["t_ncpv"]), "true_lapv_mm3": r4(S["t_lapv"]),
        "true_vessel_volume_mm3": r4(S["t_vessel_vol"]), "true_tpb_pct": r4(S["t_tpb"]),
        "true_lapb_pct": r4(S["t_lapb"]), "true_max_stenosis_pct": np.round(100 * S["t_max_ds"], 2),
        "true_hrp": S["t_hrp"], "true_cac_agatston": np.round(w["cac_true"], 1),
        "true_cma": r4(cma["cma_true"]), "true_ldl_mmol_l": np.round(d["ldl"], 3),
        "pet_site": w["pet_site"], "p_pet_available": r4(w["av"]["p"]), "p_planned_revasc": r4(oc["p_planned"]),
    }
    for k in COMPONENTS:
        truth[f"{k}_true"] = oc[f"{k}_true"]
        truth[f"{k}_true_time_days"] = oc[f"{k}_time_true"]
    truth["mi_latent_time_days"] = oc["mi_latent_days"]
    truth["mi_culprit_lesion_id"] = np.where(oc["mi_true"], culprit, None).astype(object)
    truth.update(
        bias_baseline_hr=r4(w["base_hr"]), bias_measurement=mb["label"],
        bias_lap_factor=r4(mb["lap_factor"]), bias_effect_modifier=r4(np.exp(w["em_lp"])),
        bias_pet_access=r4(w["access_bias"] * w["group_access"]), bias_p_event_missed=r4(w["p_missed"]),
        bias_loss_to_followup_hr=r4(w["lost_mult"]),
        bias_noise_multiplier=r4(mb["noise_mult"]), bias_event_recorded=oc["event_recorded"],
    )
    if "site_log_hr" in w:  # multi-site designs only
        truth["site_log_hr"] = r4(w["site_log_hr"])
        truth["scanner_model"] = np.array(SCANNER_IDS, dtype=object)[w["acq"]["scanner"]]
    return pd.DataFrame(truth)


def truth_lesions_table(les: Mapping, ids: Mapping) -> pd.DataFrame:
    """One row per lesion: true, noise-free geometry and composition."""
    lpid = les["pid"]
    r4 = _r4
    return pd.DataFrame(dict(
        lesion_id=ids["lids"], scan_id=ids["sids"][lpid], patient_id=ids["pids"][lpid],
        vessel=SEG_VESSEL[les["seg"] - 1].astype(object),
        segment=les["seg"].astype(np.int64), length_mm=r4(les["length"]), ref_diameter_mm=r4(les["ref_d"]),
        remodelling_index=r4(les["ri"]), plaque_burden=r4(les["pb"]), v_total_mm3=r4(les["v_tot"]),
        v_calcified_mm3=r4(les["v_cal"]), v_fibrous_mm3=r4(les["v_fib"]),
        v_fibrofatty_mm3=r4(les["v_ff"]), v_lap_mm3=r4(les["v_lap"]), spotty_calc=les["spotty"],
        napkin_ring=les["napkin"], pos_remodelling=les["pr"], latent_v=r4(les["V_l"]), latent_z=r4(les["Z_l"]),
        v_noncalcified_mm3=r4(les["v_nc"]), lap_feature=les["lapf"], hrp=les["hrp_true"],
        diameter_stenosis=r4(les["ds"]),
    ))
