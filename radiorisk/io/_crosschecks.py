"""Checks across rows and tables: keys, follow-up, plaque volumes, PET.

Tolerances (see :data:`VOLUME_TOL_ABS_MM3`, ...) are module constants and are
listed in docs/schemas.md.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..schemas import load_schema
from ._report import MSG_FOREIGN_KEY, Collector, fmt_value

#: Plaque components must sum to their total within max(abs, rel * total).
VOLUME_TOL_ABS_MM3 = 0.5
VOLUME_TOL_REL = 0.01
#: Vessel CMAs must sum to ``cma_patient`` within max(abs, rel * cma_patient).
CMA_TOL_ABS = 0.05
CMA_TOL_REL = 0.01
#: Times are compared with this slack (day counts may be rounded independently).
TIME_TOL_DAYS = 0.5
#: Planned early revascularisation happens within this many days of the CCTA.
PLANNED_REVASC_MAX_DAYS = 90

#: Outcome components with a flag column and a ``<name>_time_days`` column.
EVENT_COMPONENTS = ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned",
                    "revasc_planned_early", "noncardiac_death")

#: PET columns that are measurements (must be empty when pet_available is false).
PET_KEEP = ("patient_id", "pet_available", "missing_reason")

Frames = Mapping[str, pd.DataFrame | None]


def _num(df: pd.DataFrame, c: str) -> np.ndarray:
    return df[c].to_numpy(dtype="float64", na_value=np.nan)


def _flag(df: pd.DataFrame, c: str) -> tuple[np.ndarray, np.ndarray]:
    """(values with NA as False, known mask)."""
    s = df[c]
    known = s.notna().to_numpy()
    return s.fillna(False).to_numpy(dtype=bool), known


def _has(present: Mapping[str, set], table: str, *cols: str) -> bool:
    return table in present and all(c in present[table] for c in cols)


def check_foreign_keys(frames: Frames, present: Mapping[str, set], col: Collector) -> None:
    for table, df in frames.items():
        if df is None or table not in present:
            continue
        for fk in load_schema(table).foreign_keys:
            (c,) = fk["fields"]
            ref_table = fk["reference"]["resource"]
            (ref_c,) = fk["reference"]["fields"]
            ref = frames.get(ref_table)
            if c not in present[table]:
                continue
            if ref is None or not _has(present, ref_table, ref_c):
                continue  # missing or unreadable, or key column absent: reported already
            ref_values = ref[ref_c].dropna().unique()
            s = df[c]
            m = s.notna().to_numpy() & ~s.isin(ref_values).to_numpy()
            col.add_mask(table, c, "foreign_key", m, lambda p, s=s, c=c, rt=ref_table, rc=ref_c:
                         MSG_FOREIGN_KEY.format(column=c, value=s.iloc[p], ref_table=rt, ref_column=rc),
                         value=s)


def _mismatch(col, table, df, key, column, ref_df, what, rule):
    """``df[column]`` must equal ``ref_df[column]`` of the row with the same ``key``."""
    ref = ref_df[[key, column]].dropna().drop_duplicates(subset=[key]).set_index(key)[column]
    expected = df[key].map(ref)
    m = (df[column].notna() & expected.notna() & df[column].ne(expected)).to_numpy()
    col.add_mask(table, column, rule, m, lambda p: (
        f"{column} {df[column].iloc[p]!r} differs from its {what} {df[key].iloc[p]!r} "
        f"({column} {expected.iloc[p]!r})"), value=df[column])


def check_consistency(frames: Frames, present, col: Collector) -> None:
    scans, lesions, manifest = frames.get("scans"), frames.get("lesions"), frames.get("manifest")
    if lesions is not None and scans is not None and _has(present, "lesions", "scan_id", "patient_id") \
            and _has(present, "scans", "scan_id", "patient_id"):
        _mismatch(col, "lesions", lesions, "scan_id", "patient_id", scans, "scan", "patient_mismatch")
    if manifest is not None and lesions is not None and _has(present, "lesions", "lesion_id"):
        for c, rule in (("scan_id", "scan_mismatch"), ("patient_id", "patient_mismatch")):
            if _has(present, "manifest", "lesion_id", c) and _has(present, "lesions", c):
                _mismatch(col, "manifest", manifest, "lesion_id", c, lesions, "lesion", rule)
    patients, outcomes = frames.get("patients"), frames.get("outcomes")
    if patients is not None and outcomes is not None and _has(present, "patients", "patient_id") \
            and _has(present, "outcomes", "patient_id"):
        s = patients["patient_id"]
        m = s.notna().to_numpy() & ~s.isin(outcomes["patient_id"].dropna().unique()).to_numpy()
        col.add_mask("patients", "patient_id", "missing_outcome", m,
                     lambda p: f"patient {s.iloc[p]!r} has no row in outcomes", value=s)


def check_outcomes(df: pd.DataFrame | None, present, col: Collector) -> None:
    """Event flags against their times and follow-up, deaths against ``censor_reason``, MACE."""
    if df is None or "outcomes" not in present:
        return
    fu = _num(df, "fu_days")
    times, flags = _check_event_times(df, fu, col)
    _check_mi_type_and_planned_revasc(df, times, flags, col)
    _check_deaths(df, fu, times, flags, col)
    if _has(present, "outcomes", "mace_event", "mace_time_days"):
        _check_mace(df, fu, times, flags, col)


def _check_event_times(df: pd.DataFrame, fu: np.ndarray, col: Collector) -> tuple[dict, dict]:
    """Each component's time is filled exactly when its flag is true, and not after follow-up.

    Returns the component times and (flag, known) masks by component.
    """
    t, tol = "outcomes", TIME_TOL_DAYS
    times, flags = {}, {}
    for c in EVENT_COMPONENTS:
        tc = f"{c}_time_days"
        flag, known = _flag(df, c)
        x = _num(df, tc)
        times[c], flags[c] = x, (flag, known)
        has_t = ~np.isnan(x)
        col.add_mask(t, tc, "event_time_missing", known & flag & ~has_t,
                     lambda p, c=c, tc=tc: f"{c} is true but {tc} is empty")
        col.add_mask(t, tc, "event_time_without_event", known & ~flag & has_t,
                     lambda p, c=c, tc=tc, x=x: f"{tc} is {fmt_value(x[p])} but {c} is false", value=df[tc])
        with np.errstate(invalid="ignore"):
            late = has_t & (x > fu + tol)
        col.add_mask(t, tc, "event_after_follow_up", late, lambda p, tc=tc, x=x: (
            f"{tc} {fmt_value(x[p])} is after the end of follow-up (fu_days {fmt_value(fu[p])})"),
            value=df[tc])
    return times, flags


def _check_mi_type_and_planned_revasc(df: pd.DataFrame, times: dict, flags: dict, col: Collector) -> None:
    """``mi_type`` only with an MI; planned early revascularisation within 90 days."""
    t = "outcomes"
    mi, mi_known = flags["mi"]
    m = mi_known & ~mi & df["mi_type"].notna().to_numpy()
    col.add_mask(t, "mi_type", "event_time_without_event", m,
                 lambda p: "mi_type is filled but mi is false", value=df["mi_type"])
    x = times["revasc_planned_early"]
    with np.errstate(invalid="ignore"):
        m = x > PLANNED_REVASC_MAX_DAYS
    col.add_mask(t, "revasc_planned_early_time_days", "planned_revasc_late", m, lambda p: (
        f"planned early revascularisation at day {fmt_value(x[p])} is later than "
        f"{PLANNED_REVASC_MAX_DAYS} days (record it as revasc_unplanned?)"),
        value=df["revasc_planned_early_time_days"])


def _check_deaths(df: pd.DataFrame, fu: np.ndarray, times: dict, flags: dict, col: Collector) -> None:
    """Deaths agree with ``censor_reason`` and end follow-up."""
    t, tol = "outcomes", TIME_TOL_DAYS
    reason = df["censor_reason"]
    for c, r in (("cardiac_death", "death_cardiac"), ("noncardiac_death", "death_noncardiac")):
        flag, known = flags[c]
        is_r = reason.eq(r).to_numpy()
        rk = reason.notna().to_numpy()
        m = known & rk & (flag != is_r)
        col.add_mask(t, "censor_reason", "censor_reason_mismatch", m, lambda p, c=c, r=r, flag=flag: (
            f"censor_reason is {reason.iloc[p]!r} but {c} is {'true' if flag[p] else 'false'}"
            + (f" (expected {r!r})" if flag[p] else f" (expected {c}=true with {r!r})")), value=reason)
        x = times[c]
        with np.errstate(invalid="ignore"):
            m = known & flag & (np.abs(x - fu) > tol)
        col.add_mask(t, f"{c}_time_days", "death_time_mismatch", m, lambda p, c=c, x=x: (
            f"{c}_time_days {fmt_value(x[p])} differs from fu_days {fmt_value(fu[p])} "
            "(follow-up ends at death)"), value=df[f"{c}_time_days"])


def _check_mace(df: pd.DataFrame, fu: np.ndarray, times: dict, flags: dict, col: Collector) -> None:
    """MACE time against follow-up; MACE flag and time against the components of its definition."""
    t, tol = "outcomes", TIME_TOL_DAYS
    mace, mace_known = _flag(df, "mace_event")
    mt = _num(df, "mace_time_days")
    with np.errstate(invalid="ignore"):
        m = mt > fu + tol
    col.add_mask(t, "mace_time_days", "event_after_follow_up", m, lambda p: (
        f"mace_time_days {fmt_value(mt[p])} is after the end of follow-up (fu_days {fmt_value(fu[p])})"),
        value=df["mace_time_days"])
    with np.errstate(invalid="ignore"):
        m = mace_known & ~mace & (np.abs(mt - fu) > tol)
    col.add_mask(t, "mace_time_days", "mace_time_mismatch", m, lambda p: (
        f"mace_event is false, so mace_time_days ({fmt_value(mt[p])}) should equal fu_days "
        f"({fmt_value(fu[p])})"), value=df["mace_time_days"])
    defs = df["mace_definition"]
    for d in defs.dropna().unique():
        comps = [c for c in str(d).split("+") if c in flags]
        if comps:
            _check_mace_definition(df, defs.eq(d).to_numpy(), comps, mace, mace_known, mt, times, flags, col)


def _check_mace_definition(df, rows, comps, mace, mace_known, mt, times, flags, col: Collector) -> None:
    """On the ``rows`` with one ``mace_definition``: MACE is any of ``comps``, at the first one's time."""
    t, tol = "outcomes", TIME_TOL_DAYS
    any_flag = np.zeros(len(df), bool)
    all_known = np.ones(len(df), bool)
    first = np.full(len(df), np.inf)
    for c in comps:
        f, k = flags[c]
        any_flag |= f & k
        all_known &= k
        first = np.where(f & k & ~np.isnan(times[c]), np.minimum(first, times[c]), first)
    m = rows & mace_known & all_known & (mace != any_flag)
    col.add_mask(t, "mace_event", "mace_inconsistent", m, lambda p: (
        f"mace_event is {'true' if mace[p] else 'false'} but "
        + ("one of " if any_flag[p] else "none of ") + " / ".join(comps)
        + (" is true" if any_flag[p] else " is true (mace_definition)")), value=df["mace_event"])
    with np.errstate(invalid="ignore"):
        m = rows & mace & any_flag & np.isfinite(first) & (np.abs(mt - first) > tol)
    col.add_mask(t, "mace_time_days", "mace_time_mismatch", m, lambda p: (
        f"mace_time_days {fmt_value(mt[p])} is not the first MACE component time "
        f"({fmt_value(first[p])})"), value=df["mace_time_days"])


def _component_sum(col, table, df, present, total, parts, tol_abs, tol_rel, unit):
    if not _has(present, table, total, *parts):
        return
    tot = _num(df, total)
    s = np.zeros(len(df))
    for c in parts:
        s = s + _num(df, c)
    with np.errstate(invalid="ignore"):
        m = np.abs(s - tot) > np.maximum(tol_abs, tol_rel * np.abs(tot))
    label = " + ".join(parts)
    col.add_mask(table, total, "component_sum", m, lambda p: (
        f"{label} = {s[p]:.4g} but {total} = {tot[p]:.4g} "
        f"(tolerance {tol_abs:g}{unit} or {tol_rel:.0%})"), value=df[total])


def _not_above(col, table, df, present, volume, vessel):
    if not _has(present, table, volume, vessel):
        return
    v, vv = _num(df, volume), _num(df, vessel)
    with np.errstate(invalid="ignore"):
        m = v > vv + np.maximum(VOLUME_TOL_ABS_MM3, VOLUME_TOL_REL * vv)
    col.add_mask(table, volume, "volume_exceeds_vessel", m, lambda p: (
        f"{volume} {v[p]:.4g} mm3 is larger than {vessel} {vv[p]:.4g} mm3"), value=df[volume])


def check_volumes(frames: Frames, present, col: Collector) -> None:
    a, r = VOLUME_TOL_ABS_MM3, VOLUME_TOL_REL
    les = frames.get("lesions")
    if les is not None and "lesions" in present:
        _component_sum(col, "lesions", les, present, "v_total_mm3",
                       ["v_calcified_mm3", "v_noncalcified_mm3"], a, r, " mm3")
        _component_sum(col, "lesions", les, present, "v_noncalcified_mm3",
                       ["v_fibrous_mm3", "v_fibrofatty_mm3", "v_lap_mm3"], a, r, " mm3")
        _not_above(col, "lesions", les, present, "v_total_mm3", "vessel_volume_mm3")
    sc = frames.get("scans")
    if sc is not None and "scans" in present:
        _component_sum(col, "scans", sc, present, "tpv_mm3", ["cpv_mm3", "ncpv_mm3"], a, r, " mm3")
        _component_sum(col, "scans", sc, present, "ncpv_mm3",
                       ["lapv_mm3", "fibrofatty_mm3", "fibrous_mm3"], a, r, " mm3")
        _not_above(col, "scans", sc, present, "tpv_mm3", "vessel_volume_mm3")


def check_pet(frames: Frames, present, col: Collector) -> None:
    pet = frames.get("pet")
    t = "pet"
    if pet is not None and _has(present, t, "pet_available"):
        avail, known = _flag(pet, "pet_available")
        no = known & ~avail
        yes = known & avail
        for c in pet.columns:
            if c in PET_KEEP or c not in present[t]:
                continue
            m = no & pet[c].notna().to_numpy()
            col.add_mask(t, c, "pet_values_without_pet", m, lambda p, c=c: (
                f"{c} is filled but pet_available is false"), value=pet[c])
        if "missing_reason" in present[t]:
            mr = pet["missing_reason"].notna().to_numpy()
            col.add_mask(t, "missing_reason", "missing_reason_required", no & ~mr,
                         lambda p: "pet_available is false, so missing_reason is required")
            col.add_mask(t, "missing_reason", "missing_reason_with_pet", yes & mr,
                         lambda p: "missing_reason is filled although pet_available is true",
                         value=pet["missing_reason"])
        else:
            col.add_mask(t, "missing_reason", "missing_reason_required", no,
                         lambda p: "pet_available is false, so missing_reason is required")
        cma = _num(pet, "cma_patient")
        col.add_mask(t, "cma_patient", "pet_value_missing", yes & np.isnan(cma),
                     lambda p: "pet_available is true but cma_patient is empty")
        gt0, gk = _flag(pet, "cma_gt0")
        m = gk & ~np.isnan(cma) & (gt0 != (cma > 0))
        col.add_mask(t, "cma_gt0", "cma_gt0_mismatch", m, lambda p: (
            f"cma_gt0 is {'true' if gt0[p] else 'false'} but cma_patient is {fmt_value(cma[p])}"),
            value=pet["cma_gt0"])
        _component_sum(col, t, pet, present, "cma_patient", ["cma_lad", "cma_lcx", "cma_rca"],
                       CMA_TOL_ABS, CMA_TOL_REL, "")
    les = frames.get("lesions")
    if les is not None and _has(present, "lesions", "patient_id") \
            and _has(present, t, "patient_id", "pet_available"):
        with_pet = pet.loc[pet["pet_available"].fillna(False).to_numpy(dtype=bool),
                               "patient_id"].dropna().unique()
        no_pet = ~les["patient_id"].isin(with_pet).to_numpy() & les["patient_id"].notna().to_numpy()
        for c in ("tbr_max", "suv_max"):
            if c not in present["lesions"]:
                continue
            m = no_pet & les[c].notna().to_numpy()
            col.add_mask("lesions", c, "pet_values_without_pet", m, lambda p, c=c: (
                f"{c} is filled but patient {les['patient_id'].iloc[p]!r} has no PET "
                "(pet_available is not true)"), value=les[c])


def run_all(frames: Frames, present, col: Collector) -> None:
    """All cross-row and cross-table checks."""
    check_foreign_keys(frames, present, col)
    check_consistency(frames, present, col)
    check_outcomes(frames.get("outcomes"), present, col)
    check_volumes(frames, present, col)
    check_pet(frames, present, col)
