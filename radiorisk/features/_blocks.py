"""Per-table feature builders of :func:`radiorisk.features.assemble_cohort`.

Each function turns one source table into columns indexed by ``patient_id``:
:func:`clinical_block` (patients), :func:`ccta_block` (scans and lesions), :func:`pet_block`,
:func:`mace_outcome` (time, event, event type from the MACE components) and
:func:`patient_level_block` (image-measured plaque or radiomics, lesion rows or a
patient table).  Errors name the table, column, patient and value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["as_float", "ccta_block", "clinical_block", "index_scans", "mace_outcome", "patient_level_block",
           "pet_block", "require_columns", "unique_by_patient"]

# CAD-RADS 2.0 stenosis categories as an ordinal score ("N", non-diagnostic, is missing).
_CAD_RADS = {"0": 0.0, "1": 1.0, "2": 2.0, "3": 3.0, "4A": 4.0, "4B": 5.0, "5": 6.0}
_CAD_RADS_P = {"P0": 0.0, "P1": 1.0, "P2": 2.0, "P3": 3.0, "P4": 4.0}

_MSG_MISSING_TABLE = "table {table!r}: required column(s) {cols} missing"
_MSG_BAD_TIME = ("table 'outcomes': the MACE time must be > 0 days; patient {pid!r} has {value!r} "
                 "(column {col!r})")
_MSG_DUPLICATE = "table {table!r}: patient_id {pid!r} appears {k} times (one row per patient expected)"


def require_columns(df: pd.DataFrame, table: str, cols) -> None:
    """Raise naming the table unless it has every column of ``cols``."""
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(_MSG_MISSING_TABLE.format(table=table, cols=", ".join(map(repr, missing))))


def unique_by_patient(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """The table indexed by ``patient_id``; a patient with two rows raises."""
    dup = df["patient_id"].duplicated(keep=False)
    if dup.any():
        pid = df.loc[dup, "patient_id"].iloc[0]
        raise ValueError(_MSG_DUPLICATE.format(table=table, pid=pid, k=int((df["patient_id"] == pid).sum())))
    return df.set_index("patient_id")


def as_float(s: pd.Series) -> pd.Series:
    """Numeric/boolean (nullable) column as float64 with NaN for missing."""
    if isinstance(s.dtype, pd.BooleanDtype) or s.dtype == bool:
        return s.astype("Float64").astype("float64")
    return pd.to_numeric(s, errors="raise").astype("float64")


def index_scans(scans: pd.DataFrame) -> pd.DataFrame:
    """One scan per patient: the earliest ``scan_date`` (ties by ``scan_id``), the ccta block's scan.

    Parameters
    ----------
    scans : DataFrame
        The ``scans`` table (``patient_id``, optionally ``scan_date`` and ``scan_id``).

    Returns
    -------
    DataFrame
        One row per patient, indexed by ``patient_id`` (in sorted order).

    Examples
    --------
    >>> scans = pd.DataFrame({"patient_id": ["P2", "P1", "P1"], "scan_id": ["S3", "S2", "S1"],
    ...                       "scan_date": ["2020-01-01", "2021-05-01", "2019-03-01"]})
    >>> index_scans(scans)["scan_id"].to_dict()
    {'P1': 'S1', 'P2': 'S3'}
    """
    s = scans
    keys = ["patient_id"] + [c for c in ("scan_date", "scan_id") if c in s.columns]
    s = s.sort_values(keys, kind="stable")
    return s.drop_duplicates("patient_id", keep="first").set_index("patient_id")


def clinical_block(p: pd.DataFrame) -> pd.DataFrame:
    """The ``clinical`` block from the patients table (indexed by ``patient_id``)."""
    require_columns(p.reset_index(), "patients", ["age_years", "sex", "diabetes", "smoking", "hypertension"])
    out = pd.DataFrame(index=p.index)
    out["age_years"] = as_float(p["age_years"])
    sex = p["sex"].astype(object)
    out["sex_male"] = np.where(sex.eq("male"), 1.0, np.where(sex.eq("female"), 0.0, np.nan))
    dm = p["diabetes"].astype(object)
    out["diabetes"] = np.where(dm.isin(["type1", "type2"]), 1.0, np.where(dm.eq("none"), 0.0, np.nan))
    sm = p["smoking"].astype(object)
    known = sm.isin(["never", "former", "current"])
    out["smoking_current"] = np.where(known, sm.eq("current").astype(float), np.nan)
    out["smoking_former"] = np.where(known, sm.eq("former").astype(float), np.nan)
    out["hypertension"] = as_float(p["hypertension"])
    optional = {
        "ldl_mmol_l": "ldl_mmol_l", "hdl_mmol_l": "hdl_mmol_l", "bmi": "bmi",
        "sbp_mmhg": "sbp_mmhg", "egfr_ml_min_1_73m2": "egfr_ml_min_1_73m2",
        "family_history_premature_chd": "family_history", "on_statin": "on_statin",
        "prior_mi": "prior_mi", "prior_pci": "prior_pci", "prior_cabg": "prior_cabg",
    }
    for src, dst in optional.items():
        if src in p.columns and p[src].notna().any():
            out[dst] = as_float(p[src])
    if "symptom_class" in p.columns and p["symptom_class"].notna().any():
        sc = p["symptom_class"].astype(object)
        out["symptom_typical"] = np.where(sc.notna(), sc.eq("typical_angina").astype(float), np.nan)
    return out


def ccta_block(s: pd.DataFrame, lesions: pd.DataFrame, ids: pd.Index, *, fai: bool) -> pd.DataFrame:
    """The ``ccta`` block from the index scans and their lesions (FAI only with ``fai``)."""
    require_columns(s.reset_index(), "scans", ["cac_agatston", "cad_rads"])
    out = pd.DataFrame(index=ids)
    s = s.reindex(ids)
    out["log1p_cac_agatston"] = np.log1p(as_float(s["cac_agatston"]))
    out["cad_rads"] = s["cad_rads"].astype(object).map(_CAD_RADS).astype(float)
    if "cad_rads_p" in s.columns:
        out["cad_rads_p"] = s["cad_rads_p"].astype(object).map(_CAD_RADS_P).astype(float)
    for c in ("hrp_modifier", "sis", "sss", "max_stenosis_pct"):
        if c in s.columns and s[c].notna().any():
            out[c] = as_float(s[c])
    if "max_stenosis_pct" in out:
        out["obstructive"] = np.where(out["max_stenosis_pct"].notna(),
                                      (out["max_stenosis_pct"] >= 50).astype(float), np.nan)
    for c in ("tpv_mm3", "cpv_mm3", "ncpv_mm3", "lapv_mm3", "fibrofatty_mm3", "fibrous_mm3"):
        if c in s.columns and s[c].notna().any():
            out[f"log1p_{c}"] = np.log1p(as_float(s[c]))
    # cpb = tpb - ncpb exactly, so it is left out (collinear for Cox models)
    for c in ("tpb_pct", "ncpb_pct", "lapb_pct"):
        if c in s.columns and s[c].notna().any():
            out[c] = as_float(s[c])
    if "lapb_pct" in out:
        out["lapb_gt_4"] = np.where(out["lapb_pct"].notna(), (out["lapb_pct"] > 4).astype(float), np.nan)
    if fai:
        for c in ("fai_rca_hu", "fai_lad_hu", "fai_lcx_hu"):
            if c in s.columns and s[c].notna().any():
                out[c] = as_float(s[c])
    if lesions is not None and len(lesions):
        _add_lesion_counts(out, lesions, ids)
    return out


def _add_lesion_counts(out: pd.DataFrame, lesions: pd.DataFrame, ids: pd.Index) -> None:
    """Lesion-level qualitative plaque summarised per patient into ``out`` (0 lesions -> 0)."""
    les = lesions[lesions["patient_id"].isin(ids)]
    g = les.groupby("patient_id", sort=False)
    if "sis" not in out:  # with one lesion per segment, SIS is the lesion count
        out["n_lesions"] = g.size().reindex(ids).fillna(0).astype(float)
    for c, name in (("pos_remodelling", "n_pos_remodelling"), ("lap_feature", "n_lap_feature"),
                    ("spotty_calc", "n_spotty_calc"), ("napkin_ring", "n_napkin_ring")):
        if c in les.columns:
            out[name] = g[c].sum().reindex(ids).fillna(0).astype(float)
    if "hrp_count" in les.columns:
        hrp = (les["hrp_count"].astype("Float64") >= 2).astype("float64")
        out["n_hrp_lesions"] = hrp.groupby(les["patient_id"]).sum().reindex(ids).fillna(0)
    if "remodelling_index" in les.columns:
        out["max_remodelling_index"] = g["remodelling_index"].max().reindex(ids)
        out["max_remodelling_index"] = out["max_remodelling_index"].fillna(1.0)


def pet_block(pet: pd.DataFrame, ids: pd.Index) -> tuple[pd.DataFrame, pd.Series]:
    """The ``pet`` block (NaN where PET is unavailable) and the availability of each patient."""
    out = pd.DataFrame(index=ids)
    if pet is None or len(pet) == 0:
        avail = pd.Series(False, index=ids, name="pet_available")
        return out, avail
    p = unique_by_patient(pet, "pet").reindex(ids)
    avail = p["pet_available"].astype("boolean").fillna(False).astype(bool).rename("pet_available")
    cma = as_float(p["cma_patient"]) if "cma_patient" in p.columns else pd.Series(np.nan, index=ids)
    out["log1p_cma_patient"] = np.log1p(cma).where(avail)
    if "cma_gt0" in p.columns:
        gt0 = as_float(p["cma_gt0"])
        gt0 = gt0.fillna((cma > 0).astype(float).where(cma.notna()))
        out["cma_gt0"] = gt0.where(avail)
    if "tbr_max_patient" in p.columns and p["tbr_max_patient"].notna().any():
        out["tbr_max_patient"] = as_float(p["tbr_max_patient"]).where(avail)
    out["pet_available"] = avail.astype(float)
    return out, avail


def mace_outcome(o: pd.DataFrame, ids: pd.Index, mace, competing: str):
    """``time, event, event_type`` from the MACE components (first component's time, else ``fu_days``)."""
    require_columns(o.reset_index(), "outcomes", ["fu_days"])
    o = o.reindex(ids)
    fu = as_float(o["fu_days"])
    t_first = pd.Series(np.inf, index=ids)
    for comp in mace:
        require_columns(o.reset_index(), "outcomes", [comp, f"{comp}_time_days"])
        flag = o[comp].astype("boolean").fillna(False).astype(bool)
        t = as_float(o[f"{comp}_time_days"])
        bad = flag & t.isna()
        if bad.any():
            pid = bad.index[bad.to_numpy()][0]
            raise ValueError(f"table 'outcomes': patient {pid!r} has {comp}=true but no "
                             f"{comp}_time_days")
        t_first = t_first.where(~flag | (t_first <= t), t)
    event = np.isfinite(t_first)
    time = t_first.where(event, fu)
    col = np.where(event, "first MACE component time", "fu_days")
    bad = ~(time > 0)
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        raise ValueError(_MSG_BAD_TIME.format(pid=ids[i], value=float(time.iloc[i]), col=col[i]))
    event_type = None
    if competing == "competing":
        deaths = [c for c in ("noncardiac_death", "cardiac_death") if c in o.columns and c not in mace]
        dead = pd.Series(False, index=ids)
        for c in deaths:
            dead |= o[c].astype("boolean").fillna(False).astype(bool)
        event_type = pd.Series(np.where(event, 1, np.where(dead, 2, 0)), index=ids, name="event_type")
    return time.astype(float).rename("time"), pd.Series(event.astype(int), index=ids, name="event"), event_type


def patient_level_block(table: pd.DataFrame, ids: pd.Index, lesion_patients: pd.Index, *, name: str,
                   prefix: str, summarise) -> pd.DataFrame:
    """A patient-level table from lesion rows, or as given; unavailable patients are NaN."""
    if "lesion_id" in table.columns:
        agg = summarise(table)
    else:
        agg = table.set_index("patient_id") if "patient_id" in table.columns else table
    agg = agg.loc[agg.index.isin(ids)]
    agg = agg.select_dtypes(include=["number", "bool", "boolean"])
    agg = agg.apply(as_float)
    measured = pd.Index(agg.index)
    if "n_lesions" in agg.columns:
        measured = agg.index[agg["n_lesions"] > 0]
    # available: measured lesions, or no lesion at all in the lesions table (true no-plaque)
    available = ids.isin(measured) | ~ids.isin(lesion_patients)
    agg = agg.reindex(ids)
    agg = agg.where(pd.Series(available, index=ids), axis=0)
    agg = agg.add_prefix(prefix)
    agg[f"{prefix}available"] = available.astype(float)
    if not len(agg.columns) > 1:
        raise ValueError(f"{name}: no numeric feature column")
    # patients without any lesion: zeros (no plaque), never NaN
    no_plaque = ~ids.isin(lesion_patients) & ~ids.isin(measured)
    agg.loc[no_plaque] = agg.loc[no_plaque].fillna(0.0)
    return agg


# ---------------------------------------------------------------------------
# public
# ---------------------------------------------------------------------------
