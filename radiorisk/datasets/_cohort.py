"""Tabular synthetic cohort generator (DOMAIN.md section 6).

A latent causal model: clinical variables -> latent plaque burden ``A``; burden
-> vulnerability ``V`` and activity ``Z``; these drive both the measurements
(CCTA plaque, calcium, 18F-NaF PET) and the cause-specific hazards of the
outcomes.  ``truth`` / ``truth_lesions`` hold the latent and noise-free values
and every injected bias; they are never model inputs.  See
``docs/synthetic_cohort.md`` for the equations, parameters and the achieved
calibration.

Each sub-model draws from its own random stream (``SeedSequence(seed).spawn``):
stream 0 clinical, 1 V/Z and history, 2 acquisition, 3 true lesions, 4 measured
lesions, 5 calcium and FAI, 6 CMA, 7 PET availability and acquisition, 8 TBR,
9 outcomes, 10 MI culprit lesions.  The model parameters live in
:mod:`~radiorisk.datasets._params`, the bias arrays in
:mod:`~radiorisk.datasets._bias` and the table assembly in
:mod:`~radiorisk.datasets._cohort_tables`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import RadioriskError
from ._bias import BiasSpec, effect_modification, measurement_bias, multiplier_by_group
from ._clinical import (
    FINE,
    FINE_GROUP5,
    SITES,
    ethnicity_probabilities,
    prior_history,
    simulate_clinical,
    simulate_latent_vz,
)
from ._cohort_tables import (
    culprit_lesions,
    identifiers,
    lesions_table,
    outcomes_table,
    patients_table,
    pet_table,
    scans_table,
    truth_lesions_table,
    truth_table,
)
from ._csv import write_csv as _write_csv
from ._lesions import (
    measure_lesions,
    patient_summaries,
    simulate_acquisition,
    simulate_true_lesions,
)
from ._outcomes import linear_predictors, simulate_outcomes
from ._params import (
    COMMON_PARAMS,
    DEFAULT_MACE,
    MODE_PARAMS,
    MODES,
    check_mace_definition,
    model_parameters,
)
from ._params import check_mode as _check_mode
from ._pet import DEFAULT_GROUP_ACCESS, pet_acquisition, pet_availability, simulate_cma
from ._sites import SiteSpec, draw_site_design

__all__ = ["simulate_cohort", "SyntheticCohort", "BiasSpec", "MODES", "DEFAULT_MACE",
           "model_parameters", "COMMON_PARAMS", "MODE_PARAMS"]

_N_STREAMS = 12  # one independent random stream per sub-model (append, never reorder)


@dataclass(frozen=True)
class SyntheticCohort:
    """A simulated cohort: the five schema tables plus the ground truth.

    Attributes
    ----------
    patients, scans, lesions, pet, outcomes : pandas.DataFrame
        Tables in the column order of ``data_schemas/*.schema.json``.
    truth : pandas.DataFrame
        One row per patient: latent A/V/Z, linear predictors, noise-free
        measurements, true events and every applied bias (``bias_*``).
    truth_lesions : pandas.DataFrame
        One row per lesion: true, noise-free geometry and composition.
    mode : str
    seed : int
    bias : dict
        The :class:`BiasSpec` as a dict.
    params : dict
        The model parameters used.
    sites : dict
        The multi-site design (``spec`` and one record per site) when ``sites`` was
        given, else empty.

    Examples
    --------
    >>> c = simulate_cohort(200, seed=1)
    >>> sorted(c.tables)[:3]
    ['lesions', 'outcomes', 'patients']
    >>> len(c.patients)
    200
    """

    patients: pd.DataFrame
    scans: pd.DataFrame
    lesions: pd.DataFrame
    pet: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.DataFrame
    truth_lesions: pd.DataFrame
    mode: str
    seed: int
    bias: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict, repr=False)
    sites: dict = field(default_factory=dict, repr=False)

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by name (``patients, scans, lesions, pet, outcomes, truth, truth_lesions``)."""
        return {"patients": self.patients, "scans": self.scans, "lesions": self.lesions,
                "pet": self.pet, "outcomes": self.outcomes, "truth": self.truth,
                "truth_lesions": self.truth_lesions}

    def summary(self) -> str:
        """One-paragraph description: size, events and rates per 100 patient-years.

        Examples
        --------
        >>> print(simulate_cohort(300, seed=2).summary().splitlines()[0])  # doctest: +ELLIPSIS
        Synthetic cohort (chest-pain, seed 2): 300 patients, ... lesions
        """
        o = self.outcomes
        n = len(self.patients)
        fu_y = o["fu_days"].to_numpy() / 365.25
        mi_t = np.where(o["mi"], o["mi_time_days"], o["fu_days"]) / 365.25
        mace_t = o["mace_time_days"].to_numpy() / 365.25
        lines = [
            f"Synthetic cohort ({self.mode}, seed {self.seed}): {n} patients, {len(self.lesions)} lesions",
            f"  follow-up {fu_y.sum():.0f} patient-years (median {np.median(fu_y):.1f} y); "
            f"PET available {self.pet['pet_available'].mean():.1%}",
            f"  MI {int(o['mi'].sum())} ({100 * o['mi'].sum() / max(mi_t.sum(), 1e-9):.2f}/100 py); "
            f"cardiac death {int(o['cardiac_death'].sum())}; UA {int(o['ua_hosp'].sum())}; "
            f"unplanned revasc {int(o['revasc_unplanned'].sum())}; "
            f"non-cardiac death {int(o['noncardiac_death'].sum())}",
            f"  MACE ({o['mace_definition'].iloc[0] if n else DEFAULT_MACE}) {int(o['mace_event'].sum())} "
            f"({100 * o['mace_event'].sum() / max(mace_t.sum(), 1e-9):.2f}/100 py)",
            f"  bias: {'none' if BiasSpec.coerce(self.bias).is_null() else self.bias}",
        ]
        return "\n".join(lines)

    def write_tables(self, out_dir: str | Path, *, tables: tuple[str, ...] | None = None) -> list[Path]:
        """Write the tables as CSV (``<name>.csv``) into ``out_dir``; returns the paths.

        The output is byte-identical for the same seed and arguments: floats
        are rounded at simulation time, lines end with ``\\n``, missing values
        are empty.

        Examples
        --------
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     [p.name for p in simulate_cohort(50, seed=0).write_tables(d)][:2]
        ['patients.csv', 'scans.csv']
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        names = tables or tuple(self.tables)
        unknown = [t for t in names if t not in self.tables]
        if unknown:
            raise RadioriskError(f"write_tables: unknown table(s) {unknown}; known: {list(self.tables)}")
        paths = []
        for name in names:
            path = out / f"{name}.csv"
            tmp = out / f".{name}.csv.tmp"
            _write_csv(self.tables[name], tmp)
            tmp.replace(path)
            paths.append(path)
        return paths


def _check_arguments(n, seed, mode: str, mace_definition: str) -> tuple[int, int, str]:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise RadioriskError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RadioriskError(f"seed must be a non-negative integer, got {seed!r}")
    mode = _check_mode(mode)
    check_mace_definition(mace_definition)
    return int(n), int(seed), mode


def _group_cols(sex: np.ndarray, fine: np.ndarray) -> dict:
    return {"sex": sex, "ethnicity": FINE[fine], "ethnicity_group5": FINE_GROUP5[fine]}


def _simulate_population(n: int, P: Mapping, bias: BiasSpec, ethnicity_mix, rs, design) -> dict:
    """Clinical variables and latent burden (stream 0), V/Z and history (stream 1), group columns."""
    fine_p = ethnicity_probabilities(ethnicity_mix, bias.representation)
    d = simulate_clinical(n, P, rs[0], fine_p, bias.representation, design)
    V, Z = simulate_latent_vz(d, P, rs[1])
    hist = prior_history(d["A"], P, rs[1])
    sex = np.where(d["male"], "male", "female").astype(object)
    site_ids = SITES if design is None else design.site_ids
    cols = _group_cols(sex, d["fine"]) | {"site_id": site_ids[d["site"]].astype(object)}
    return dict(d=d, V=V, Z=Z, hist=hist, sex=sex, cols=cols, site_ids=site_ids)


def _simulate_plaque(w: Mapping, n: int, P: Mapping, bias: BiasSpec, rs, design) -> dict:
    """Acquisition (stream 2; scanners from stream 11), true lesions (3), measured lesions (4), summaries.

    The measurement bias is resolved here, once the scanner of every patient is known
    (a bias may target a vendor or detector).
    """
    d = w["d"]
    scanner = None if design is None else design.scanners(d["site"])
    acq = simulate_acquisition(d["site"], d["bmi"], rs[2], scanner)
    cols = w["cols"] | {"vendor": np.asarray(acq["vendor"], dtype=object),
                        "detector": acq.get("detector", np.full(n, "energy_integrating", dtype=object))}
    mb = measurement_bias(bias, cols, n)
    les = simulate_true_lesions(d, w["V"], w["Z"], P, rs[3])
    mes = measure_lesions(les, acq, P, rs[4], mb)
    return dict(acq=acq, cols=cols, mb=mb, les=les, mes=mes, S=patient_summaries(n, les, mes),
                L=len(les["pid"]))


def _simulate_calcium_fai(w: Mapping, n: int, P: Mapping, r5: np.random.Generator) -> dict:
    """Agatston calcium (true and measured), calcium volume and FAI per vessel (stream 5)."""
    S, mb, Z = w["S"], w["mb"], w["Z"]
    cac_true = S["t_cpv"] ** P["cac_pow"] * np.exp(r5.normal(P["cac_mu"], P["cac_sd"], n))
    cac_true = np.clip(np.where(cac_true < 1.0, 0.0, cac_true), 0, 10000)
    cac_factor = mb["cac_factor"] * w["acq"]["cac_factor"] if "cac_factor" in w["acq"] else mb["cac_factor"]
    cac = np.clip(np.round(cac_true * cac_factor, 1), 0, 10000)
    cac = np.where(cac < 1.0, 0.0, cac)
    cac_vol = np.clip(np.round(cac / np.exp(r5.normal(0.15, 0.10, n)), 1), 0, 10000)
    fai = np.clip(np.round(-85.0 + 5.0 * Z[:, None] + 4.0 * r5.standard_normal((n, 3))
                           + np.array([1.0, 0.0, -1.0]) + mb["fai_shift"][:, None], 1), -190, -30)
    return dict(cac_true=cac_true, cac=cac, cac_vol=cac_vol, fai=fai)


def _simulate_pet(w: Mapping, n: int, P: Mapping, bias: BiasSpec, rs, *, mode: str, pet_missing: str,
                  pet_rate: float) -> dict:
    """CMA (stream 6), PET availability and acquisition (stream 7), lesion and patient TBR (stream 8)."""
    d, cols, les = w["d"], w["cols"], w["les"]
    cma = simulate_cma(w["Z"], w["S"]["cal_by_terr"], P, rs[6], w["mb"]["cma_factor"])
    group_access = multiplier_by_group(DEFAULT_GROUP_ACCESS, cols) if pet_missing == "group" else np.ones(n)
    access_bias = multiplier_by_group(bias.pet_access, cols)
    pet_site = np.isin(d["site"], P["pet_sites"])
    av = pet_availability(mode=mode, mechanism=pet_missing, rate=float(pet_rate), pet_site=pet_site,
                          age=d["age"], cac=w["cac"], Z=w["Z"], group_factor=group_access * access_bias,
                          rng=rs[7])
    pacq = pet_acquisition(n, rs[7])
    r8 = rs[8]
    tbr_l = np.clip(np.round(np.exp(0.12 + 0.2 * les["Z_l"] + 0.1 * r8.standard_normal(w["L"])), 3), 0.5, 10)
    bp_l = pacq["bp_mean"][les["pid"]]
    tbr_bg = np.exp(0.05 + 0.05 * r8.standard_normal(n))
    tbr_pat = np.maximum(np.round(tbr_bg, 3), 0)
    np.maximum.at(tbr_pat, les["pid"], tbr_l)
    return dict(cma=cma, group_access=group_access, access_bias=access_bias, pet_site=pet_site, av=av,
                pacq=pacq, avail=av["available"], tbr_l=tbr_l, bp_l=bp_l, tbr_pat=tbr_pat)


def _simulate_events(w: Mapping, n: int, P: Mapping, bias: BiasSpec, r9: np.random.Generator) -> dict:
    """Linear predictors (with the bias on the hazards), accrual and outcomes (stream 9)."""
    d, S, cols, V, Z = w["d"], w["S"], w["cols"], w["V"], w["Z"]
    true_lapb4 = S["t_lapb"] > 4.0
    feats = dict(hrp=S["t_hrp"], lap_burden=true_lapb4, obstructive=S["t_max_ds"] >= 0.5,
                 diabetes=d["dm"], smoking=d["smoke"], cma_gt0=w["cma"]["cma_true"] > 0,
                 latent_v=V, latent_z=Z)
    em_lp = effect_modification(bias, cols, feats, n)
    base_hr = multiplier_by_group(bias.baseline_hr, cols)
    c = dict(age=d["age"], male=d["male"].astype(float), dm=d["dm"].astype(float),
             smoke=d["smoke"].astype(float), htn=d["htn"].astype(float), ldl=d["ldl"], A=d["A"],
             V=V, Z=Z, obstructive=(S["t_max_ds"] >= 0.5).astype(float),
             severe=(S["t_max_ds"] >= 0.7).astype(float))
    site_lhr = w.get("site_log_hr")
    lp = linear_predictors(c, P, np.log(base_hr) if site_lhr is None else np.log(base_hr) + site_lhr, em_lp)
    fu0, fu1 = P["fu_years"]
    accrual = r9.uniform(0.0, fu1 - fu0, n)
    p_missed = 1.0 - multiplier_by_group({g: 1.0 - p for g, p in bias.under_ascertainment.items()}, cols)
    lost_mult = multiplier_by_group(bias.loss_to_followup, cols)
    oc = simulate_outcomes(c, lp, P, r9, accrual_years=accrual, max_ds_read=S["m_max_ds"],
                           lost_mult=lost_mult, p_missed=p_missed,
                           missed_components=bias.under_ascertainment_components)
    return dict(em_lp=em_lp, base_hr=base_hr, lp=lp, accrual=accrual, p_missed=p_missed,
                lost_mult=lost_mult, oc=oc)


def _culprits(w: Mapping, lids: np.ndarray, n: int, r10: np.random.Generator) -> np.ndarray:
    """The lesion that causes each patient's MI: highest activity/vulnerability/LAP + Gumbel noise (stream 10)."""
    les = w["les"]
    culprit_key = les["Z_l"] + 0.5 * les["V_l"] + 0.5 * np.log1p(les["v_lap"]) + r10.gumbel(size=w["L"])
    return culprit_lesions(les["pid"], culprit_key, n, lids)


def simulate_cohort(
    n: int = 2000,
    *,
    mode: str = "chest-pain",
    seed: int = 0,
    bias: BiasSpec | Mapping | str | None = None,
    ethnicity_mix: Mapping | str | None = None,
    pet_missing: str = "mar",
    pet_rate: float | None = None,
    mace_definition: str = DEFAULT_MACE,
    params: Mapping | None = None,
    sites: SiteSpec | Mapping | int | None = None,
) -> SyntheticCohort:
    """Simulate a synthetic CCTA / PET / outcome cohort from the latent causal model.

    Parameters
    ----------
    n : int
        Number of patients (one CCTA scan each).
    mode : {"chest-pain", "established-cad"}
        ``chest-pain``: SCOT-HEART-like (56 % men, 58 +- 10 y, PET in ~10 %).
        ``established-cad``: Kwiecinski-like (84 % men, 65 +- 9 y, selected on
        latent burden ``A > 0.6``, PET in everyone).
    seed : int
        Seed of :class:`numpy.random.SeedSequence`; each sub-model has its own
        spawned stream.  The same arguments give byte-identical tables.
    bias : BiasSpec, dict, str or None
        Bias injection (see :class:`BiasSpec`; a preset name or JSON string is
        accepted).  Recorded in ``truth`` (``bias_*`` columns).
    ethnicity_mix : dict or str, optional
        Coarse groups (``white, south_asian, black, east_asian, other``, or the
        audit spellings ``White, SouthAsian, ...``) and/or fine ethnicities
        mapped to weights, or a named mix (``"audit"`` default: 55/15/15/10/5 %;
        ``"uk"``; ``"mesa"``).
    pet_missing : {"mar", "mnar", "group"}
        Mechanism of PET availability: MAR (PET site, age, CAC), MNAR (also the
        unobserved activity Z), or group-dependent (MAR x
        :data:`~radiorisk.datasets._pet.DEFAULT_GROUP_ACCESS`).
    pet_rate : float, optional
        Target share with PET (default 0.10 chest-pain, 1.0 established-cad).
    mace_definition : str
        ``+``-joined MACE components (default ``mi+cardiac_death+ua_hosp+revasc_unplanned``).
    params : dict, optional
        Overrides of :func:`model_parameters` (for calibration studies).
    sites : int, dict or SiteSpec, optional
        A multi-site design (:class:`~radiorisk.datasets.SiteSpec`): the number of sites or
        its fields.  Sites then differ in case mix, baseline hazard and scanner fleet
        (vendor, kernel, energy-integrating or photon-counting detector); ``scans`` gains
        the ``detector`` column and ``truth`` the columns ``site_log_hr`` and
        ``scanner_model``.  None (default): the historical eight sites, one scanner each.

    Returns
    -------
    SyntheticCohort

    Examples
    --------
    >>> c = simulate_cohort(500, mode="established-cad", seed=3)
    >>> bool(c.pet["pet_available"].all())
    True
    >>> list(c.truth.columns[:5])
    ['patient_id', 'latent_a', 'latent_v', 'latent_z', 'lp_mi']
    >>> b = simulate_cohort(500, seed=3, bias={"baseline_hr": {"south_asian": 1.8}})
    >>> sorted(set(b.truth["bias_baseline_hr"].round(2)))
    [1.0, 1.8]
    >>> m = simulate_cohort(400, seed=3, sites={"n_sites": 4, "scanner_mix": "external"})
    >>> sorted(m.patients["site_id"].unique()), sorted(m.scans["detector"].unique())
    (['site01', 'site02', 'site03', 'site04'], ['energy_integrating', 'photon_counting'])
    """
    n, seed, mode = _check_arguments(n, seed, mode, mace_definition)
    bias = BiasSpec.coerce(bias)
    P = model_parameters(mode, params)
    if pet_rate is None:
        pet_rate = P["pet_rate"]
    streams = np.random.SeedSequence(seed).spawn(_N_STREAMS)
    rs = [np.random.default_rng(s) for s in streams]
    design = None
    if sites is not None:
        design = draw_site_design(SiteSpec.coerce(sites), streams[11])
        if mode == "established-cad":  # PET in everyone, at every site
            P = dict(P, pet_sites=tuple(range(design.spec.n_sites)))
    w = _simulate_population(n, P, bias, ethnicity_mix, rs, design)
    if design is not None:
        w["site_log_hr"] = design.log_hr[w["d"]["site"]]
    w |= _simulate_plaque(w, n, P, bias, rs, design)
    w |= _simulate_calcium_fai(w, n, P, rs[5])
    w |= _simulate_pet(w, n, P, bias, rs, mode=mode, pet_missing=pet_missing, pet_rate=pet_rate)
    w |= _simulate_events(w, n, P, bias, rs[9])
    ids = identifiers(n, w["L"], w["accrual"], P["start_date"])
    culprit = _culprits(w, ids["lids"], n, rs[10])
    return SyntheticCohort(
        patients=patients_table(w, ids, n, mode), scans=scans_table(w, ids, n),
        lesions=lesions_table(w, ids), pet=pet_table(w, ids, n),
        outcomes=outcomes_table(w["oc"], ids["pids"], n, mace_definition),
        truth=truth_table(w, ids, P, culprit), truth_lesions=truth_lesions_table(w["les"], ids),
        mode=mode, seed=seed, bias=bias.to_dict(), params=P,
        sites={} if design is None else {"spec": design.spec.to_dict(), "sites": design.records()})
