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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from .._html import repr_html
from ..imaging import patient_plaque_summary
from ..io import read_cohort
from ._aggregate import aggregate_lesions
from ._blocks import (
    ccta_block,
    clinical_block,
    index_scans,
    mace_outcome,
    patient_level_block,
    pet_block,
    require_columns,
    unique_by_patient,
)

__all__ = ["CohortData", "MODALITY_BLOCKS", "MACE_COMPONENTS", "DEFAULT_MACE", "assemble_cohort"]

#: The modality blocks, in ladder order.
MODALITY_BLOCKS = ("clinical", "ccta", "radiomics", "pet")
#: Outcome components a MACE definition may combine (columns of ``outcomes``).
MACE_COMPONENTS = ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned", "revasc_planned_early")
#: The default MACE definition (planned early revascularisation excluded).
DEFAULT_MACE = ("mi", "cardiac_death", "ua_hosp", "revasc_unplanned")
_COMPETING = ("censor", "competing")

_MSG_UNKNOWN_COMPONENT = ("mace: unknown component {value!r}; allowed components are {allowed} "
                          "(columns of the outcomes table)")
_MSG_NO_OUTCOME = ("table 'outcomes': no row for {k} patient(s) of table 'patients' "
                   "(first: {first!r})")
_MSG_NO_SCAN = "table 'scans': no scan for {k} patient(s) of table 'patients' (first: {first!r})"
_MSG_PET = ("PET available for {k} of {n} patients; PET features are NaN otherwise "
            "(xgboost: native missing values; Cox: pet_available indicator and imputation "
            "inside each training fold)")


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
    batch_columns : tuple of str
        Scanner batch label columns of ``X`` (``batch:vendor`` ...; strings, in no block) added by
        :func:`radiorisk.features.add_batch_columns` for ComBat harmonisation; empty by default.
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
    batch_columns: tuple[str, ...] = ()

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

    def varying_columns(self, cols) -> list[str]:
        """The columns of ``cols`` that carry information: not all missing, not constant when complete.

        The one rule by which the fit and the modality ladder leave columns out.

        Parameters
        ----------
        cols : sequence of str
            Columns of ``X``.

        Returns
        -------
        list of str
            In the order of ``cols``.

        Examples
        --------
        >>> from radiorisk.datasets import simulate_cohort
        >>> d = assemble_cohort(simulate_cohort(200, seed=1))
        >>> d.X["constant"] = 1.0
        >>> d.varying_columns(["age_years", "constant"])
        ['age_years']
        """
        keep = []
        for c in cols:
            v = self.X[c]
            n_missing = int(v.isna().sum())
            if n_missing == len(v) or (n_missing == 0 and v.nunique() <= 1):
                continue
            keep.append(c)
        return keep

    def block_available(self, block: str) -> pd.Series:
        """Whether each patient has the block: PET as recorded, other blocks any non-missing column.

        Parameters
        ----------
        block : str
            A block name (``clinical``, ``ccta``, ``radiomics``, ``pet``).

        Returns
        -------
        Series of bool
            Indexed like ``X``; all False for a block without columns.

        Examples
        --------
        >>> from radiorisk.datasets import simulate_cohort
        >>> d = assemble_cohort(simulate_cohort(60, seed=1))
        >>> bool(d.block_available("clinical").all())
        True
        """
        if block == "pet":
            return self.pet_available.astype(bool)
        cols = list(self.blocks.get(block, ()))
        if not cols:
            return pd.Series(False, index=self.X.index)
        return self.X[cols].notna().any(axis=1)

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
        return repr_html(repr(self), self.summary(), self.notes)


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
    mace = _check_definition(mace, competing)
    c = _tables(cohort_or_dir)
    p, ids = _patients(c.patients)
    outcomes, scans, lesions, lesion_patients = _linked_tables(c, ids)
    notes = _definition_notes(mace, competing)

    X_clin = clinical_block(p)
    X_ccta = ccta_block(scans, lesions, ids, fai=fai)
    if plaque is not None:
        img, note = _plaque_columns(plaque, ids, lesion_patients)
        X_ccta = X_ccta.join(img)
        notes.append(note)
    X_rad = pd.DataFrame(index=ids)
    if radiomics is not None:
        X_rad, note = _radiomics_columns(radiomics, ids, lesion_patients, reader=radiomics_reader)
        notes.append(note)
    X_pet, pet_available = pet_block(getattr(c, "pet", None), ids)
    notes.append(_MSG_PET.format(k=int(pet_available.sum()), n=len(ids)))

    time, event, event_type = mace_outcome(outcomes, ids, mace, competing)
    if horizon is not None:
        notes.append(_horizon_note(time, event, float(horizon)))

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


# ---------------------------------------------------------------------------
# the steps of assemble_cohort
# ---------------------------------------------------------------------------


def _check_definition(mace, competing: str) -> tuple[str, ...]:
    """The MACE components without duplicates, checked with the competing-risk option."""
    if competing not in _COMPETING:
        raise ValueError(f"competing must be one of {_COMPETING}; got {competing!r}")
    mace = tuple(dict.fromkeys(mace))
    if not mace:
        raise ValueError("mace: at least one component is required")
    for m in mace:
        if m not in MACE_COMPONENTS:
            raise ValueError(_MSG_UNKNOWN_COMPONENT.format(value=m, allowed=list(MACE_COMPONENTS)))
    return mace


def _tables(cohort_or_dir):
    """The cohort's tables: read from a folder, or an object holding them."""
    if isinstance(cohort_or_dir, (str, Path)):
        return read_cohort(cohort_or_dir)
    for t in ("patients", "scans", "outcomes"):
        if not hasattr(cohort_or_dir, t):
            raise TypeError("cohort_or_dir must be a cohort folder, a radiorisk.io.Cohort or a "
                            f"SyntheticCohort; got {type(cohort_or_dir).__name__} without {t!r}")
    return cohort_or_dir


def _patients(patients: pd.DataFrame) -> tuple[pd.DataFrame, pd.Index]:
    """The patients table indexed by ``patient_id`` (as str), and that index."""
    require_columns(patients, "patients", ["patient_id", "sex", "ethnicity_group5", "site_id"])
    p = unique_by_patient(patients, "patients")
    ids = pd.Index(p.index.astype(str), name="patient_id")
    p.index = ids
    return p, ids


def _linked_tables(c, ids: pd.Index):
    """Outcomes and the index scan of every patient, the lesions of those scans and their patients."""
    outcomes = unique_by_patient(c.outcomes, "outcomes")
    no_out = ids.difference(outcomes.index)
    if len(no_out):
        raise ValueError(_MSG_NO_OUTCOME.format(k=len(no_out), first=no_out[0]))
    scans = index_scans(c.scans)
    no_scan = ids.difference(scans.index)
    if len(no_scan):
        raise ValueError(_MSG_NO_SCAN.format(k=len(no_scan), first=no_scan[0]))
    lesions = getattr(c, "lesions", None)
    if lesions is not None and len(lesions):
        lesions = lesions[lesions["scan_id"].isin(scans["scan_id"])] if "scan_id" in lesions else lesions
    lesion_patients = pd.Index([]) if lesions is None or not len(lesions) else pd.Index(
        pd.unique(lesions["patient_id"].astype(str)))
    return outcomes, scans, lesions, lesion_patients


def _definition_notes(mace: tuple[str, ...], competing: str) -> list[str]:
    """The statements on the MACE definition and on deaths outside it."""
    notes = [f"MACE = first of {' + '.join(mace)}; patients without a MACE component are censored "
             "at the end of follow-up (fu_days)"]
    if competing == "censor":
        notes.append('non-cardiac death is treated as censoring (competing="censor")')
    else:
        notes.append('non-cardiac death (and cardiac death when not a MACE component) is a '
                     'competing event: event_type = 2 (competing="competing"); the competing-risk models '
                     'use event_type, and the 0/1 event column (MACE or not) censors it, as each '
                     'cause-specific model of MACE does')
    if "cardiac_death" not in mace and competing == "censor":
        notes.append("cardiac death is not a MACE component here and is treated as censoring")
    return notes


def _plaque_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Patient plaque summary without its two dichotomised columns."""
    s = patient_plaque_summary(table)
    return s.drop(columns=[c for c in ("lap_burden_gt_4", "tpv_ge_238") if c in s])


def _plaque_columns(plaque: pd.DataFrame, ids: pd.Index, lesion_patients: pd.Index):
    """The ``img_`` columns of the ccta block (volumes on the log1p scale) and their note."""
    img = patient_level_block(plaque, ids, lesion_patients, name="plaque", prefix="img_",
                              summarise=_plaque_summary)
    for col in [c for c in img.columns if c.endswith("_mm3")]:
        img[col.replace("img_", "img_log1p_", 1)] = np.log1p(img.pop(col))
    k = int((img["img_available"] == 0).sum())
    return img, (f"image-measured plaque (img_*) added to the ccta block; {k} patient(s) with "
                 "lesions but no measured lesion have NaN there (img_available = 0)")


def _radiomics_columns(radiomics: pd.DataFrame, ids: pd.Index, lesion_patients: pd.Index, *,
                       reader: str | None):
    """The ``rad_`` block from wide or long lesion radiomics (or a patient table), and its note."""
    rad_tab = radiomics
    if {"feature", "value"} <= set(rad_tab.columns) and "lesion_id" in rad_tab.columns:
        keys = [k for k in ("patient_id", "scan_id", "lesion_id", "reader") if k in rad_tab]
        rad_tab = rad_tab.pivot_table(index=keys, columns="feature", values="value",
                                      aggfunc="first").reset_index()
        rad_tab.columns.name = None

    def _agg(t):
        return aggregate_lesions(t, patient_ids=list(ids), reader=reader)

    X_rad = patient_level_block(rad_tab, ids, lesion_patients, name="radiomics", prefix="rad_",
                                summarise=_agg)
    k = int((X_rad["rad_available"] == 0).sum())
    return X_rad, (f"radiomics (rad_*): {X_rad.shape[1] - 1} aggregated features; {k} patient(s) "
                   "with lesions but no extracted lesion have NaN there (rad_available = 0)")


def _horizon_note(time: pd.Series, event: pd.Series, h: float) -> str:
    """Events by the horizon and patients censored before it."""
    k_ev = int(((event == 1) & (time <= h)).sum())
    k_cens = int(((event == 0) & (time < h)).sum())
    return f"horizon {h:g} days: {k_ev} MACE events by the horizon; {k_cens} patients censored before it"
