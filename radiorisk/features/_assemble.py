"""Cohort assembly: one row per patient, modality blocks and a MACE outcome.

:func:`assemble_cohort` joins the patients, scans, lesions, PET and outcomes
tables of a cohort (and, when given, image-measured plaque and aggregated
radiomics) into a :class:`CohortData`: the feature matrix ``X`` (indexed by
``patient_id``), the outcome ``(time, event)`` recomputed from the MACE
components, the modality blocks (:data:`MODALITY_BLOCKS`), the audit groups
(sex, ethnicity, site) and the statements a report must carry (for example
how non-cardiac death was handled).

Missing PET is normal (chest-pain cohorts image about 10 % of patients): the
``pet`` block holds NaN where PET is unavailable, together with the
``pet_available`` indicator.  Gradient-boosted models use the NaN natively;
Cox pipelines impute inside each training fold (see ``docs/ladder.md``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from ..imaging import patient_plaque_summary
from ..io import read_cohort
from ._aggregate import aggregate_lesions

__all__ = ["CohortData", "MODALITY_BLOCKS", "MACE_COMPONENTS", "DEFAULT_MACE", "assemble_cohort"]

#: The modality blocks, in ladder order.
MODALITY_BLOCKS = ("clinical", "ccta", "radiomics", "pet")
#: Outcome components a MACE definition may combine (columns of ``outcomes``).
MACE_COMPONENTS = ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned", "revasc_planned_early")
#: The default MACE definition (planned early revascularisation excluded).
DEFAULT_MACE = ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned")
_COMPETING = ("censor", "competing")

# CAD-RADS 2.0 stenosis categories as an ordinal score ("N", non-diagnostic, is missing).
_CAD_RADS = {"0": 0.0, "1": 1.0, "2": 2.0, "3": 3.0, "4A": 4.0, "4B": 5.0, "5": 6.0}
_CAD_RADS_P = {"P0": 0.0, "P1": 1.0, "P2": 2.0, "P3": 3.0, "P4": 4.0}

_MSG_MISSING_TABLE = "table {table!r}: required column(s) {cols} missing"
_MSG_UNKNOWN_COMPONENT = ("mace: unknown component {value!r}; allowed components are {allowed} "
                          "(columns of the outcomes table)")
_MSG_BAD_TIME = ("table 'outcomes': the MACE time must be > 0 days; patient {pid!r} has {value!r} "
                 "(column {col!r})")
_MSG_NO_OUTCOME = ("table 'outcomes': no row for {k} patient(s) of table 'patients' "
                   "(first: {first!r})")
_MSG_NO_SCAN = "table 'scans': no scan for {k} patient(s) of table 'patients' (first: {first!r})"
_MSG_DUPLICATE = "table {table!r}: patient_id {pid!r} appears {k} times (one row per patient expected)"


@dataclass(frozen=True)
class CohortData:
    """One row per patient: features by modality block, outcome and audit groups.

    Attributes
    ----------
    X : DataFrame
        Numeric features indexed by ``patient_id`` (float; NaN only where a
        value is not available, e.g. PET for patients without PET).
    time : Series
        Days from the index CCTA to the first MACE component, else to the end of
        follow-up (float, > 0).
    event : Series
        1 when a MACE component occurred, else 0 (int).
    event_type : Series or None
        With ``competing="competing"``: 0 censored, 1 MACE, 2 competing death
        (a death that is not part of the MACE definition). None otherwise.
    blocks : Mapping[str, tuple of str]
        Block name -> columns of ``X`` (every block of :data:`MODALITY_BLOCKS`
        is present; an absent modality has no columns).
    groups : DataFrame
        Audit attributes ``sex, ethnicity, site`` (ethnicity is the coarse
        ``ethnicity_group5``; site is ``site_id``), indexed by ``patient_id``.
    pet_available : Series
        Boolean, whether the patient has PET values.
    notes : tuple of str
        Statements the outputs must carry (MACE definition, censoring rule,
        missing-data handling).
    mace : tuple of str
        The MACE components.
    competing : str
        ``"censor"`` or ``"competing"``.
    horizon : float or None
        The prediction horizon (days) the cohort was assembled for.
    """

    X: pd.DataFrame = field(repr=False)
    time: pd.Series = field(repr=False)
    event: pd.Series = field(repr=False)
    blocks: Mapping[str, tuple[str, ...]] = field(repr=False)
    groups: pd.DataFrame = field(repr=False)
    pet_available: pd.Series = field(repr=False)
    notes: tuple[str, ...] = ()
    event_type: pd.Series | None = field(default=None, repr=False)
    mace: tuple[str, ...] = DEFAULT_MACE
    competing: str = "censor"
    horizon: float | None = None

    # -- views -------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of patients."""
        return len(self.X)

    @property
    def y(self) -> np.ndarray:
        """Structured outcome array ``[("event", bool), ("time", float)]`` (scikit-survival style)."""
        y = np.empty(self.n, dtype=[("event", bool), ("time", float)])
        y["event"] = self.event.to_numpy(bool)
        y["time"] = self.time.to_numpy(float)
        return y

    def columns(self, blocks) -> list[str]:
        """The columns of ``X`` that make up ``blocks`` (a block name or a sequence of names).

        Raises
        ------
        ValueError
            For an unknown block name.
        """
        if isinstance(blocks, str):
            blocks = [b for b in blocks.split(",") if b]
        cols: list[str] = []
        for b in blocks:
            if b not in self.blocks:
                raise ValueError(f"blocks: unknown block {b!r}; known blocks are {list(self.blocks)}")
            cols.extend(c for c in self.blocks[b] if c not in cols)
        return cols

    def subset(self, rows) -> CohortData:
        """The same cohort restricted to ``rows`` (boolean mask or patient ids), order kept."""
        if isinstance(rows, pd.Series) and rows.dtype == bool:
            idx = self.X.index[rows.reindex(self.X.index).fillna(False).to_numpy(bool)]
        elif isinstance(rows, np.ndarray) and rows.dtype == bool:
            idx = self.X.index[rows]
        else:
            idx = pd.Index(list(rows))
            unknown = idx.difference(self.X.index)
            if len(unknown):
                raise ValueError(f"subset: {len(unknown)} unknown patient_id(s), e.g. {unknown[0]!r}")
        return replace(
            self,
            X=self.X.loc[idx], time=self.time.loc[idx], event=self.event.loc[idx],
            groups=self.groups.loc[idx], pet_available=self.pet_available.loc[idx],
            event_type=None if self.event_type is None else self.event_type.loc[idx],
        )

    def to_frame(self) -> pd.DataFrame:
        """``X`` joined with ``time, event`` (and ``event_type``) and the audit groups."""
        out = self.X.copy()
        out.insert(0, "event", self.event)
        out.insert(0, "time", self.time)
        if self.event_type is not None:
            out.insert(2, "event_type", self.event_type)
        return out.join(self.groups)

    def summary(self) -> pd.DataFrame:
        """Columns per block, patients, events and PET availability as a small DataFrame."""
        rows = [{"block": b, "n_columns": len(c)} for b, c in self.blocks.items()]
        df = pd.DataFrame(rows)
        df["n_patients"] = self.n
        df["n_events"] = int(self.event.sum())
        df["pet_available"] = int(self.pet_available.sum())
        return df

    def __repr__(self) -> str:
        b = ", ".join(f"{k}={len(v)}" for k, v in self.blocks.items())
        return (f"CohortData(n={self.n}, events={int(self.event.sum())}, "
                f"pet_available={int(self.pet_available.sum())}, blocks: {b})")

    def _repr_html_(self) -> str:
        notes = "".join(f"<li>{html.escape(s)}</li>" for s in self.notes)
        return (f"<p><b>{html.escape(repr(self))}</b></p>"
                + self.summary().to_html(index=False) + f"<ul>{notes}</ul>")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _require(df: pd.DataFrame, table: str, cols) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(_MSG_MISSING_TABLE.format(table=table, cols=", ".join(map(repr, missing))))


def _unique_by_patient(df: pd.DataFrame, table: str) -> pd.DataFrame:
    dup = df["patient_id"].duplicated(keep=False)
    if dup.any():
        pid = df.loc[dup, "patient_id"].iloc[0]
        raise ValueError(_MSG_DUPLICATE.format(table=table, pid=pid, k=int((df["patient_id"] == pid).sum())))
    return df.set_index("patient_id")


def _num(s: pd.Series) -> pd.Series:
    """Numeric/boolean (nullable) column as float64 with NaN for missing."""
    if isinstance(s.dtype, pd.BooleanDtype) or s.dtype == bool:
        return s.astype("Float64").astype("float64")
    return pd.to_numeric(s, errors="raise").astype("float64")


def _flag(s: pd.Series) -> pd.Series:
    return _num(s)


def _tables(cohort_or_dir):
    if isinstance(cohort_or_dir, (str, Path)):

        return read_cohort(cohort_or_dir)
    for t in ("patients", "scans", "outcomes"):
        if not hasattr(cohort_or_dir, t):
            raise TypeError("cohort_or_dir must be a cohort folder, a radiorisk.io.Cohort or a "
                            f"SyntheticCohort; got {type(cohort_or_dir).__name__} without {t!r}")
    return cohort_or_dir


def _index_scans(scans: pd.DataFrame) -> pd.DataFrame:
    """One scan per patient: the earliest ``scan_date`` (ties by ``scan_id``)."""
    s = scans
    keys = ["patient_id"] + [c for c in ("scan_date", "scan_id") if c in s.columns]
    s = s.sort_values(keys, kind="stable")
    return s.drop_duplicates("patient_id", keep="first").set_index("patient_id")


def _clinical(p: pd.DataFrame) -> pd.DataFrame:
    _require(p.reset_index(), "patients", ["age_years", "sex", "diabetes", "smoking", "hypertension"])
    out = pd.DataFrame(index=p.index)
    out["age_years"] = _num(p["age_years"])
    sex = p["sex"].astype(object)
    out["sex_male"] = np.where(sex.eq("male"), 1.0, np.where(sex.eq("female"), 0.0, np.nan))
    dm = p["diabetes"].astype(object)
    out["diabetes"] = np.where(dm.isin(["type1", "type2"]), 1.0, np.where(dm.eq("none"), 0.0, np.nan))
    sm = p["smoking"].astype(object)
    known = sm.isin(["never", "former", "current"])
    out["smoking_current"] = np.where(known, sm.eq("current").astype(float), np.nan)
    out["smoking_former"] = np.where(known, sm.eq("former").astype(float), np.nan)
    out["hypertension"] = _flag(p["hypertension"])
    optional = {
        "ldl_mmol_l": "ldl_mmol_l", "hdl_mmol_l": "hdl_mmol_l", "bmi": "bmi",
        "sbp_mmhg": "sbp_mmhg", "egfr_ml_min_1_73m2": "egfr_ml_min_1_73m2",
        "family_history_premature_chd": "family_history", "on_statin": "on_statin",
        "prior_mi": "prior_mi", "prior_pci": "prior_pci", "prior_cabg": "prior_cabg",
    }
    for src, dst in optional.items():
        if src in p.columns and p[src].notna().any():
            out[dst] = _num(p[src])
    if "symptom_class" in p.columns and p["symptom_class"].notna().any():
        sc = p["symptom_class"].astype(object)
        out["symptom_typical"] = np.where(sc.notna(), sc.eq("typical_angina").astype(float), np.nan)
    return out


def _ccta(s: pd.DataFrame, lesions: pd.DataFrame, ids: pd.Index, *, fai: bool) -> pd.DataFrame:
    _require(s.reset_index(), "scans", ["cac_agatston", "cad_rads"])
    out = pd.DataFrame(index=ids)
    s = s.reindex(ids)
    out["log1p_cac_agatston"] = np.log1p(_num(s["cac_agatston"]))
    out["cad_rads"] = s["cad_rads"].astype(object).map(_CAD_RADS).astype(float)
    if "cad_rads_p" in s.columns:
        out["cad_rads_p"] = s["cad_rads_p"].astype(object).map(_CAD_RADS_P).astype(float)
    for c in ("hrp_modifier", "sis", "sss", "max_stenosis_pct"):
        if c in s.columns and s[c].notna().any():
            out[c] = _num(s[c])
    if "max_stenosis_pct" in out:
        out["obstructive"] = np.where(out["max_stenosis_pct"].notna(),
                                      (out["max_stenosis_pct"] >= 50).astype(float), np.nan)
    for c in ("tpv_mm3", "cpv_mm3", "ncpv_mm3", "lapv_mm3", "fibrofatty_mm3", "fibrous_mm3"):
        if c in s.columns and s[c].notna().any():
            out[f"log1p_{c}"] = np.log1p(_num(s[c]))
    # cpb = tpb - ncpb exactly, so it is left out (collinear for Cox models)
    for c in ("tpb_pct", "ncpb_pct", "lapb_pct"):
        if c in s.columns and s[c].notna().any():
            out[c] = _num(s[c])
    if "lapb_pct" in out:
        out["lapb_gt_4"] = np.where(out["lapb_pct"].notna(), (out["lapb_pct"] > 4).astype(float), np.nan)
    if fai:
        for c in ("fai_rca_hu", "fai_lad_hu", "fai_lcx_hu"):
            if c in s.columns and s[c].notna().any():
                out[c] = _num(s[c])
    # lesion-level qualitative plaque, summarised per patient (0 lesions -> 0)
    if lesions is not None and len(lesions):
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
    return out


def _pet(pet: pd.DataFrame, ids: pd.Index) -> tuple[pd.DataFrame, pd.Series]:
    out = pd.DataFrame(index=ids)
    if pet is None or len(pet) == 0:
        avail = pd.Series(False, index=ids, name="pet_available")
        return out, avail
    p = _unique_by_patient(pet, "pet").reindex(ids)
    avail = p["pet_available"].astype("boolean").fillna(False).astype(bool).rename("pet_available")
    cma = _num(p["cma_patient"]) if "cma_patient" in p.columns else pd.Series(np.nan, index=ids)
    out["log1p_cma_patient"] = np.log1p(cma).where(avail)
    if "cma_gt0" in p.columns:
        gt0 = _num(p["cma_gt0"])
        gt0 = gt0.fillna((cma > 0).astype(float).where(cma.notna()))
        out["cma_gt0"] = gt0.where(avail)
    if "tbr_max_patient" in p.columns and p["tbr_max_patient"].notna().any():
        out["tbr_max_patient"] = _num(p["tbr_max_patient"]).where(avail)
    out["pet_available"] = avail.astype(float)
    return out, avail


def _outcome(o: pd.DataFrame, ids: pd.Index, mace, competing: str):
    _require(o.reset_index(), "outcomes", ["fu_days"])
    o = o.reindex(ids)
    fu = _num(o["fu_days"])
    t_first = pd.Series(np.inf, index=ids)
    for comp in mace:
        _require(o.reset_index(), "outcomes", [comp, f"{comp}_time_days"])
        flag = o[comp].astype("boolean").fillna(False).astype(bool)
        t = _num(o[f"{comp}_time_days"])
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


def _patient_level(table: pd.DataFrame, ids: pd.Index, lesion_patients: pd.Index, *, name: str,
                   prefix: str, summarise) -> pd.DataFrame:
    """A patient-level table from lesion rows, or as given; unavailable patients are NaN."""
    if "lesion_id" in table.columns:
        agg = summarise(table)
    else:
        agg = table.set_index("patient_id") if "patient_id" in table.columns else table
    agg = agg.loc[agg.index.isin(ids)]
    agg = agg.select_dtypes(include=["number", "bool", "boolean"])
    agg = agg.apply(_num)
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


def assemble_cohort(
    cohort_or_dir,
    *,
    plaque: pd.DataFrame | None = None,
    radiomics: pd.DataFrame | None = None,
    mace: Sequence[str] = DEFAULT_MACE,
    competing: str = "censor",
    horizon: float | None = None,
    fai: bool = False,
    radiomics_reader: str | None = "reader1",
) -> CohortData:
    """Join a cohort's tables into one row per patient with a MACE outcome and modality blocks.

    Parameters
    ----------
    cohort_or_dir : str, Path, radiorisk.io.Cohort or SyntheticCohort
        A cohort folder (read and validated with :func:`radiorisk.io.read_cohort`)
        or an object with ``patients, scans, lesions, pet, outcomes`` tables.
    plaque : DataFrame, optional
        Image-measured plaque: the lesion table of
        :func:`radiorisk.imaging.measure_plaque` or the patient table of
        :func:`radiorisk.imaging.patient_plaque_summary`.  Added to the ``ccta``
        block with the prefix ``img_``.
    radiomics : DataFrame, optional
        Radiomics per lesion, wide (``patient_id, lesion_id, reader, n_voxels,
        <features>``, e.g. ``ExtractionResult.features``) or long (``patient_id,
        lesion_id, reader, feature, value``), or already aggregated per patient
        (index or column ``patient_id``).  Lesion tables are aggregated with
        :func:`radiorisk.features.aggregate_lesions`.  The ``radiomics`` block
        gets the prefix ``rad_``.
    mace : sequence of str
        MACE components (from :data:`MACE_COMPONENTS`); the outcome is the first
        component's time, else the end of follow-up.
    competing : {"censor", "competing"}
        How deaths outside the MACE definition (non-cardiac death, and cardiac
        death when it is not a component) are handled: ``"censor"`` ends
        follow-up at the death (the default; stated in ``notes``);
        ``"competing"`` also records them as ``event_type = 2``.
    horizon : float, optional
        Prediction horizon in days; adds the events by the horizon to ``notes``.
    fai : bool
        Add peri-coronary fat attenuation (``fai_*_hu``) to the ``ccta`` block.
        Off by default: FAI is not a plaque measurement and the published
        ladder's plaque model had none.
    radiomics_reader : str or None
        Reader whose lesion radiomics are aggregated (None: all rows).

    Returns
    -------
    CohortData

    Raises
    ------
    ValueError
        A required column is missing, a patient has no scan or outcome, a MACE
        component is unknown, or a MACE time is not positive (the message
        names the table, column, patient and value).

    Notes
    -----
    Blocks (columns present only when the source column is):

    - ``clinical``: age, sex (male 1), diabetes, current/former smoking,
      hypertension, LDL, HDL, BMI, systolic BP, eGFR, family history, statin,
      prior MI/PCI/CABG, typical angina.
    - ``ccta``: log1p CAC, CAD-RADS (ordinal 0-6, 4A = 4, 4B = 5, 5 = 6; N is
      missing), CAD-RADS P (0-4), HRP modifier, SIS, SSS, maximum stenosis,
      obstructive (>= 50 %), log1p plaque volumes by component, burdens, LAP
      burden > 4 %, counts of lesions and of lesions with each high-risk feature,
      maximum remodelling index; with ``plaque``, the ``img_`` columns.
    - ``radiomics``: the ``rad_`` columns.
    - ``pet``: log1p CMA, CMA > 0, patient TBRmax (NaN where PET is
      unavailable) and ``pet_available`` (0/1).

    Patients with lesions but no measured/extracted lesion get NaN in the
    ``img_``/``rad_`` columns and ``img_available``/``rad_available`` = 0;
    patients without any lesion get the explicit no-plaque values (zeros).

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> c = simulate_cohort(300, mode="chest-pain", seed=1)
    >>> data = assemble_cohort(c, horizon=1826)
    >>> data.X.index.is_unique, len(data.X) == 300
    (True, True)
    >>> bool(data.X.loc[~data.pet_available, "log1p_cma_patient"].isna().all())
    True
    >>> data.notes[1]
    'non-cardiac death is treated as censoring (competing="censor")'
    """
    if competing not in _COMPETING:
        raise ValueError(f"competing must be one of {_COMPETING}; got {competing!r}")
    mace = tuple(dict.fromkeys(mace))
    if not mace:
        raise ValueError("mace: at least one component is required")
    for m in mace:
        if m not in MACE_COMPONENTS:
            raise ValueError(_MSG_UNKNOWN_COMPONENT.format(value=m, allowed=list(MACE_COMPONENTS)))
    c = _tables(cohort_or_dir)
    patients = c.patients
    _require(patients, "patients", ["patient_id", "sex", "ethnicity_group5", "site_id"])
    p = _unique_by_patient(patients, "patients")
    ids = pd.Index(p.index.astype(str), name="patient_id")
    p.index = ids

    outcomes = _unique_by_patient(c.outcomes, "outcomes")
    no_out = ids.difference(outcomes.index)
    if len(no_out):
        raise ValueError(_MSG_NO_OUTCOME.format(k=len(no_out), first=no_out[0]))
    scans = _index_scans(c.scans)
    no_scan = ids.difference(scans.index)
    if len(no_scan):
        raise ValueError(_MSG_NO_SCAN.format(k=len(no_scan), first=no_scan[0]))
    lesions = getattr(c, "lesions", None)
    if lesions is not None and len(lesions):
        lesions = lesions[lesions["scan_id"].isin(scans["scan_id"])] if "scan_id" in lesions else lesions
    lesion_patients = pd.Index([]) if lesions is None or not len(lesions) else pd.Index(
        pd.unique(lesions["patient_id"].astype(str)))

    notes = [f"MACE = first of {' + '.join(mace)}; patients without a MACE component are censored "
             "at the end of follow-up (fu_days)"]
    if competing == "censor":
        notes.append('non-cardiac death is treated as censoring (competing="censor")')
    else:
        notes.append('non-cardiac death (and cardiac death when not a MACE component) is a '
                     'competing event: event_type = 2 (competing="competing"); time and event '
                     'still treat it as censoring for cause-specific models')
    if "cardiac_death" not in mace and competing == "censor":
        notes.append("cardiac death is not a MACE component here and is treated as censoring")

    X_clin = _clinical(p)
    X_ccta = _ccta(scans, lesions, ids, fai=fai)
    if plaque is not None:

        def _plaque_summary(t):
            s = patient_plaque_summary(t)
            return s.drop(columns=[c_ for c_ in ("lap_burden_gt_4", "tpv_ge_238") if c_ in s])

        img = _patient_level(plaque, ids, lesion_patients, name="plaque", prefix="img_",
                             summarise=_plaque_summary)
        for col in [c_ for c_ in img.columns if c_.endswith("_mm3")]:
            img[col.replace("img_", "img_log1p_", 1)] = np.log1p(img.pop(col))
        X_ccta = X_ccta.join(img)
        k = int((img["img_available"] == 0).sum())
        notes.append(f"image-measured plaque (img_*) added to the ccta block; {k} patient(s) with "
                     "lesions but no measured lesion have NaN there (img_available = 0)")
    X_rad = pd.DataFrame(index=ids)
    if radiomics is not None:

        rad_tab = radiomics
        if {"feature", "value"} <= set(rad_tab.columns) and "lesion_id" in rad_tab.columns:
            keys = [k_ for k_ in ("patient_id", "scan_id", "lesion_id", "reader") if k_ in rad_tab]
            rad_tab = rad_tab.pivot_table(index=keys, columns="feature", values="value",
                                          aggfunc="first").reset_index()
            rad_tab.columns.name = None

        def _agg(t):
            return aggregate_lesions(t, patient_ids=list(ids), reader=radiomics_reader)

        X_rad = _patient_level(rad_tab, ids, lesion_patients, name="radiomics", prefix="rad_",
                               summarise=_agg)
        k = int((X_rad["rad_available"] == 0).sum())
        notes.append(f"radiomics (rad_*): {X_rad.shape[1] - 1} aggregated features; {k} patient(s) "
                     "with lesions but no extracted lesion have NaN there (rad_available = 0)")
    X_pet, pet_available = _pet(getattr(c, "pet", None), ids)
    n_pet = int(pet_available.sum())
    notes.append(f"PET available for {n_pet} of {len(ids)} patients; PET features are NaN otherwise "
                 "(xgboost: native missing values; Cox: pet_available indicator and imputation "
                 "inside each training fold)")

    time, event, event_type = _outcome(outcomes, ids, mace, competing)
    if horizon is not None:
        h = float(horizon)
        k_ev = int(((event == 1) & (time <= h)).sum())
        k_cens = int(((event == 0) & (time < h)).sum())
        notes.append(f"horizon {h:g} days: {k_ev} MACE events by the horizon; {k_cens} patients "
                     "censored before it")

    X = pd.concat([X_clin, X_ccta, X_rad, X_pet], axis=1).astype(float)
    X.index.name = "patient_id"
    blocks = MappingProxyType({
        "clinical": tuple(X_clin.columns), "ccta": tuple(X_ccta.columns),
        "radiomics": tuple(X_rad.columns), "pet": tuple(X_pet.columns),
    })
    groups = pd.DataFrame({
        "sex": p["sex"].astype(str), "ethnicity": p["ethnicity_group5"].astype(str),
        "site": p["site_id"].astype(str),
    }, index=ids)
    return CohortData(X=X, time=time, event=event, blocks=blocks, groups=groups,
                      pet_available=pet_available, notes=tuple(notes), event_type=event_type,
                      mace=mace, competing=competing,
                      horizon=None if horizon is None else float(horizon))
