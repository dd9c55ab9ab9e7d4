"""Tabular synthetic cohort generator (DOMAIN.md section 6).

A latent causal model: clinical variables -> latent plaque burden ``A``; burden
-> vulnerability ``V`` and activity ``Z``; these drive both the measurements
(CCTA plaque, calcium, 18F-NaF PET) and the cause-specific hazards of the
outcomes.  ``truth`` / ``truth_lesions`` hold the latent and noise-free values
and every injected bias; they are never model inputs.  See
``docs/synthetic_cohort.md`` for the equations, parameters and the achieved
calibration.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import RadioriskError
from ..schemas import load_schema
from ._bias import BiasSpec, group_mask, multiplier_by_group
from ._clinical import (
    FINE,
    FINE_GROUP5,
    SITES,
    ethnicity_probabilities,
    prior_history,
    simulate_clinical,
    simulate_latent_vz,
)
from ._lesions import (
    SEG_VESSEL,
    measure_lesions,
    patient_summaries,
    simulate_acquisition,
    simulate_true_lesions,
)
from ._outcomes import COMPONENTS, linear_predictors, simulate_outcomes
from ._pet import DEFAULT_GROUP_ACCESS, pet_acquisition, pet_availability, simulate_cma

__all__ = ["simulate_cohort", "SyntheticCohort", "BiasSpec", "MODES", "DEFAULT_MACE",
           "model_parameters"]

MODES = ("chest-pain", "established-cad")
DEFAULT_MACE = "mi+cardiac_death+ua_hosp+revasc_unplanned"
_MACE_RE = re.compile(r"^(mi|cardiac_death|ua_hosp|revasc_unplanned)(\+(mi|cardiac_death|ua_hosp|revasc_unplanned))*$")

#: Parameters shared by both modes (DOMAIN.md 6; calibrated, see docs/synthetic_cohort.md).
COMMON_PARAMS: dict[str, Any] = dict(
    # latent model
    male_A=0.75, clin_scale=0.7, A_noise=1.3, zA=0.20, zV=0.35, zN=1.10,
    # lesions
    les_c=0.9, plaque_c=0.20, pb_mu=-0.2, lap_mu=-2.0, ri0=0.84, pr_thr=1.10, ds_read_sd=0.12,
    # calcium: CAC = calcified volume x lognormal(cac_mu, cac_sd), zero below 1
    cac_mu=0.3, cac_sd=1.75, cac_pow=1.07,
    # PET
    cma_mu=0.0,
    # MI hazard (eta) coefficients
    b_age=0.03, b_male=0.08, b_dm=0.35, b_smoke=0.30, b_htn=0.15, b_ldl=0.15,
    g_A=0.25, g_V=0.20, g_Z=1.20,
    # competing death (Gompertz in age, per year) and loss to follow-up (per year)
    gompertz_a=0.004, gompertz_b=0.09, lost_rate=0.02,
)
#: Mode-specific parameters.
MODE_PARAMS: dict[str, dict[str, Any]] = {
    "chest-pain": dict(
        p_male=0.56, age_mu=58.0, age_sd=10.0, statin=0.35, A_threshold=None,
        lam_mi=4.25e-4, lam_cd=1.5e-4, lam_ua=1.2e-3, lam_rv=1.5e-3, planned_c=-4.5,
        cma_thr=0.9, fu_years=(3.0, 7.0), start_date="2011-01-01", pet_rate=0.10,
        symptom_p=(0.35, 0.24, 0.41, 0.0), prior_logit=(-4.0, -4.0, -5.5), pet_sites=(0, 1),
    ),
    "established-cad": dict(
        p_male=0.84, age_mu=65.0, age_sd=9.0, statin=0.90, A_threshold=0.6,
        lam_mi=6.3e-4, lam_cd=1.5e-4, lam_ua=1.2e-3, lam_rv=1.5e-3, planned_c=-4.5,
        cma_thr=0.22, fu_years=(3.0, 5.5), start_date="2015-01-01", pet_rate=1.0,
        symptom_p=(0.30, 0.20, 0.20, 0.30), prior_logit=(-1.0, -0.2, -2.5), pet_sites=tuple(range(8)),
    ),
}
_SYMPTOMS = np.array(["typical_angina", "atypical_angina", "non_anginal", "asymptomatic"], dtype=object)
_N_STREAMS = 12  # one independent random stream per sub-model (append, never reorder)


def model_parameters(mode: str = "chest-pain", overrides: Mapping | None = None) -> dict:
    """The full parameter set of a mode, with optional overrides (unknown keys are an error).

    Examples
    --------
    >>> model_parameters("established-cad")["lam_mi"]
    0.00063
    """
    mode = _check_mode(mode)
    P = dict(COMMON_PARAMS)
    P.update(MODE_PARAMS[mode])
    for k, v in (overrides or {}).items():
        if k not in P:
            raise RadioriskError(f"unknown model parameter {k!r}; known: {', '.join(sorted(P))}")
        P[k] = v
    return P


def _check_mode(mode: str) -> str:
    m = str(mode).replace("_", "-")
    if m not in MODES:
        raise RadioriskError(f"mode={mode!r} is not one of {list(MODES)}")
    return m


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


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    """Deterministic CSV: header unquoted, ``\n`` line ends, empty missing values,
    booleans ``true``/``false``, floats in shortest round-trip form (no ``-0``).

    Uses pyarrow's writer (about 10x faster than pandas); falls back to pandas
    when a string value would need quoting.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    clean = {}
    for col in df.columns:
        s = df[col]
        if s.dtype.kind == "f":
            v = s.to_numpy()
            s = pd.Series(np.where(v == 0, 0.0, v), index=s.index)
        clean[col] = s
    clean = pd.DataFrame(clean)
    try:
        table = pa.Table.from_pandas(clean, preserve_index=False)
        with open(path, "wb") as fh:
            fh.write((",".join(map(str, df.columns)) + "\n").encode())
            pacsv.write_csv(table, fh, write_options=pacsv.WriteOptions(
                include_header=False, quoting_style="none"))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        out = clean.copy()
        for col in out.columns:
            if out[col].dtype == bool or str(out[col].dtype) == "boolean":
                out[col] = out[col].map({True: "true", False: "false"}).astype(object)
        out.to_csv(path, index=False, lineterminator="\n", na_rep="")


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


def _cad_rads(max_ds: np.ndarray, sis: np.ndarray, n_terr70: np.ndarray, lm50: np.ndarray) -> np.ndarray:
    grade = np.select(
        [sis == 0, max_ds >= 0.995, lm50 | (n_terr70 >= 3), max_ds >= 0.70, max_ds >= 0.50, max_ds >= 0.25],
        ["0", "5", "4B", "4A", "3", "2"], "1")
    return grade.astype(object)


def _cad_rads_p(cac: np.ndarray, sis: np.ndarray) -> np.ndarray:
    c = np.select([cac > 1000, cac > 300, cac > 100, cac >= 1], [4, 3, 2, 1], 0)
    s = np.select([sis >= 8, sis >= 5, sis >= 3, sis >= 1], [4, 3, 2, 1], 0)
    return np.array(["P0", "P1", "P2", "P3", "P4"], dtype=object)[np.maximum(c, s)]


def _group_cols(sex: np.ndarray, fine: np.ndarray) -> dict:
    return {"sex": sex, "ethnicity": FINE[fine], "ethnicity_group5": FINE_GROUP5[fine]}


def _measurement_bias(bias: BiasSpec, cols: Mapping, n: int) -> dict:
    out = {k: np.ones(n) for k in ("lap_factor", "plaque_factor", "cac_factor", "cma_factor", "ldl_factor")}
    out.update({k: np.zeros(n) for k in ("ldl_shift", "stenosis_shift", "fai_shift")})
    label = np.full(n, "", dtype=object)
    for m in bias.measurement:
        g = group_mask(m["group"], cols)
        var, f, s = m["variable"], m["factor"], m["shift"]
        if var in ("lap", "plaque", "cac", "cma", "ldl"):
            out[f"{var}_factor"] = np.where(g, out[f"{var}_factor"] * f, out[f"{var}_factor"])
        if var in ("ldl", "stenosis", "fai"):
            out[f"{var}_shift"] = np.where(g, out[f"{var}_shift"] + s, out[f"{var}_shift"])
        txt = var + (f"*{f:g}" if f != 1.0 else "") + (f"{s:+g}" if s != 0.0 else "")
        label = np.where(g, np.where(label == "", txt, label + ";" + txt), label)
    out["label"] = label
    out["noise_mult"] = multiplier_by_group(bias.measurement_noise, cols)
    return out


def _effect_modification(bias: BiasSpec, cols: Mapping, feats: Mapping, n: int) -> np.ndarray:
    em = np.zeros(n)
    for m in bias.effect_modification:
        g = group_mask(m["group"], cols)
        em = em + np.where(g, np.log(m["hr"]) * np.asarray(feats[m["feature"]], float), 0.0)
    return em


def _culprit(pid: np.ndarray, key: np.ndarray, n: int, lesion_ids: np.ndarray) -> np.ndarray:
    """Per patient, the lesion with the largest key (None for patients without lesions)."""
    out = np.full(n, None, dtype=object)
    if len(pid) == 0:
        return out
    o = np.lexsort((key, pid))
    last = np.r_[pid[o][1:] != pid[o][:-1], True]
    out[pid[o][last]] = lesion_ids[o][last]
    return out


# ---------------------------------------------------------------------------- main entry
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
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise RadioriskError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RadioriskError(f"seed must be a non-negative integer, got {seed!r}")
    n, seed = int(n), int(seed)
    mode = _check_mode(mode)
    if not _MACE_RE.match(str(mace_definition)):
        raise RadioriskError(
            f"mace_definition={mace_definition!r}: use '+'-joined components of "
            "mi, cardiac_death, ua_hosp, revasc_unplanned"
        )
    bias = BiasSpec.coerce(bias)
    P = model_parameters(mode, params)
    if pet_rate is None:
        pet_rate = P["pet_rate"]
    rs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(_N_STREAMS)]

    # ---- 1. clinical + latent burden (stream 0), V/Z and history (stream 1)
    fine_p = ethnicity_probabilities(ethnicity_mix, bias.representation)
    d = simulate_clinical(n, P, rs[0], fine_p, bias.representation)
    V, Z = simulate_latent_vz(d, P, rs[1])
    hist = prior_history(d["A"], P, rs[1])
    male = d["male"]
    sex = np.where(male, "male", "female").astype(object)
    cols = _group_cols(sex, d["fine"])
    mb = _measurement_bias(bias, cols, n)

    # ---- 2. acquisition (stream 2), lesions true (3) and measured (4)
    acq = simulate_acquisition(d["site"], d["bmi"], rs[2])
    les = simulate_true_lesions(d, V, Z, P, rs[3])
    mes = measure_lesions(les, acq, P, rs[4], mb)
    S = patient_summaries(n, les, mes)
    L = len(les["pid"])

    # ---- 3. calcium, FAI (stream 5)
    r5 = rs[5]
    cac_true = S["t_cpv"] ** P["cac_pow"] * np.exp(r5.normal(P["cac_mu"], P["cac_sd"], n))
    cac_true = np.clip(np.where(cac_true < 1.0, 0.0, cac_true), 0, 10000)
    cac = np.clip(np.round(cac_true * mb["cac_factor"], 1), 0, 10000)
    cac = np.where(cac < 1.0, 0.0, cac)
    cac_vol = np.clip(np.round(cac / np.exp(r5.normal(0.15, 0.10, n)), 1), 0, 10000)
    fai = np.clip(np.round(-85.0 + 5.0 * Z[:, None] + 4.0 * r5.standard_normal((n, 3))
                           + np.array([1.0, 0.0, -1.0]) + mb["fai_shift"][:, None], 1), -190, -30)

    # ---- 4. PET (streams 6, 7)
    cma = simulate_cma(Z, S["cal_by_terr"], P, rs[6], mb["cma_factor"])
    group_access = multiplier_by_group(DEFAULT_GROUP_ACCESS, cols) if pet_missing == "group" else np.ones(n)
    access_bias = multiplier_by_group(bias.pet_access, cols)
    pet_site = np.isin(d["site"], P["pet_sites"])
    av = pet_availability(mode=mode, mechanism=pet_missing, rate=float(pet_rate), pet_site=pet_site,
                          age=d["age"], cac=cac, Z=Z, group_factor=group_access * access_bias, rng=rs[7])
    pacq = pet_acquisition(n, rs[7])
    avail = av["available"]
    r8 = rs[8]
    tbr_l = np.clip(np.round(np.exp(0.12 + 0.2 * les["Z_l"] + 0.1 * r8.standard_normal(L)), 3), 0.5, 10)
    bp_l = pacq["bp_mean"][les["pid"]]
    tbr_bg = np.exp(0.05 + 0.05 * r8.standard_normal(n))
    tbr_pat = np.maximum(np.round(tbr_bg, 3), 0)
    np.maximum.at(tbr_pat, les["pid"], tbr_l)

    # ---- 5. outcomes (stream 9)
    true_lapb4 = S["t_lapb"] > 4.0
    feats = dict(hrp=S["t_hrp"], lap_burden=true_lapb4, obstructive=S["t_max_ds"] >= 0.5,
                 diabetes=d["dm"], smoking=d["smoke"], cma_gt0=cma["cma_true"] > 0,
                 latent_v=V, latent_z=Z)
    em_lp = _effect_modification(bias, cols, feats, n)
    base_hr = multiplier_by_group(bias.baseline_hr, cols)
    c = dict(age=d["age"], male=male.astype(float), dm=d["dm"].astype(float),
             smoke=d["smoke"].astype(float), htn=d["htn"].astype(float), ldl=d["ldl"], A=d["A"],
             V=V, Z=Z, obstructive=(S["t_max_ds"] >= 0.5).astype(float),
             severe=(S["t_max_ds"] >= 0.7).astype(float))
    lp = linear_predictors(c, P, np.log(base_hr), em_lp)
    fu0, fu1 = P["fu_years"]
    accrual = rs[9].uniform(0.0, fu1 - fu0, n)
    p_missed = 1.0 - multiplier_by_group({g: 1.0 - p for g, p in bias.under_ascertainment.items()}, cols)
    oc = simulate_outcomes(c, lp, P, rs[9], accrual_years=accrual, max_ds_read=S["m_max_ds"],
                           lost_mult=multiplier_by_group(bias.loss_to_followup, cols),
                           p_missed=p_missed, missed_components=bias.under_ascertainment_components)

    # ---- 6. tables
    pids = _ids("P", n, 6)
    sids = np.array(["S" + p[1:] for p in pids], dtype=object)
    lids = _ids("L", L, 7)
    lpid = les["pid"]
    start = np.datetime64(P["start_date"])
    scan_date = (start + np.round(accrual * 365.25).astype("timedelta64[D]")).astype(str).astype(object)

    ldl_meas = np.clip(np.round(d["ldl"] * mb["ldl_factor"] + mb["ldl_shift"], 2), 0.3, 15)
    diabetes = np.where(d["dm"], np.where(d["dm_type1"], "type1", "type2"), "none").astype(object)
    smoking = np.where(d["smoke"], "current", np.where(d["former"], "former", "never")).astype(object)
    patients = _frame("patients", dict(
        patient_id=pids, site_id=SITES[d["site"]].astype(object), cohort=np.full(n, mode, dtype=object),
        age_years=np.round(d["age"], 1), sex=sex, ethnicity=cols["ethnicity"].astype(object),
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

    vv = S["m_vessel_vol"]
    has = vv > 0
    safe = np.where(has, vv, 1.0)

    def pct(cents):
        return np.clip(np.round(np.where(has, cents / 100.0 / safe * 100, 0.0), 2), 0, 100)

    scans = _frame("scans", dict(
        scan_id=sids, patient_id=pids, scan_date=scan_date, vendor=acq["vendor"].astype(object),
        kvp=pd.array(acq["kvp"].astype(np.int64), dtype="Int64"),
        slice_thickness_mm=acq["slice_thickness"], pixel_spacing_mm=np.round(acq["pixel_spacing"], 3),
        kernel=acq["kernel"], lumen_hu_mean=np.round(acq["lumen_hu"], 1),
        noise_sd_hu=np.round(acq["noise_sd"], 1), quality=np.full(n, "diagnostic", dtype=object),
        cac_agatston=cac, cac_volume_mm3=cac_vol,
        cad_rads=_cad_rads(S["m_max_ds"], S["sis"], S["n_terr70"], S["lm50"]),
        cad_rads_p=_cad_rads_p(cac, S["sis"]), hrp_modifier=S["m_hrp"],
        sis=pd.array(S["sis"].astype(np.int64), dtype="Int64"),
        sss=pd.array(S["sss"], dtype="Int64"), max_stenosis_pct=np.round(100 * S["m_max_ds"], 1),
        tpv_mm3=S["m_tot"] / 100.0, cpv_mm3=S["m_cal"] / 100.0, ncpv_mm3=S["m_nc"] / 100.0,
        lapv_mm3=S["m_lap"] / 100.0, fibrofatty_mm3=S["m_ff"] / 100.0, fibrous_mm3=S["m_fib"] / 100.0,
        vessel_volume_mm3=np.round(vv, 2), tpb_pct=pct(S["m_tot"]), cpb_pct=pct(S["m_cal"]),
        ncpb_pct=pct(S["m_nc"]), lapb_pct=pct(S["m_lap"]),
        fai_rca_hu=fai[:, 2], fai_lad_hu=fai[:, 0], fai_lcx_hu=fai[:, 1],
        software=np.full(n, "radiorisk-synthetic-autoplaque", dtype=object),
        software_version=np.full(n, "1.0", dtype=object), lap_threshold_hu=np.full(n, 30.0),
        calc_threshold_hu=np.full(n, "350", dtype=object),
    ))

    ds = mes["ds"]
    grade = np.select([ds >= 0.995, ds >= 0.70, ds >= 0.50, ds >= 0.25, ds > 0], ["5", "4", "3", "2", "1"], "0")
    fcal = mes["f_calc"]
    ptype = np.select([mes["c_cal"] == 0, fcal >= 0.70], ["non_calcified", "calcified"], "partially_calcified")
    lum_ref_m = np.pi * (mes["ref_d"] / 2) ** 2
    lav = avail[lpid]
    lesions = _frame("lesions", dict(
        lesion_id=lids, scan_id=sids[lpid], patient_id=pids[lpid], vessel=SEG_VESSEL[les["seg"] - 1].astype(object),
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
        tbr_max=_opt(tbr_l, lav), suv_max=_opt(np.clip(np.round(tbr_l * bp_l, 3), 0, 10), lav),
    ))

    cv = cma["cma_vessel"]
    pet = _frame("pet", dict(
        patient_id=pids, pet_available=avail, missing_reason=av["reason"],
        tracer=_opt(np.full(n, "18F-NaF", dtype=object), avail, "object"),
        injected_mbq=_opt(pacq["injected_mbq"], avail), uptake_min=_opt(pacq["uptake_min"], avail),
        motion_corrected=_opt(np.ones(n, bool), avail, "boolean"),
        blood_pool_suv_mean=_opt(pacq["bp_mean"], avail), blood_pool_suv_sd=_opt(pacq["bp_sd"], avail),
        cma_patient=_opt(cma["cma"], avail), cma_gt0=_opt(cma["cma"] > 0, avail, "boolean"),
        cma_lad=_opt(cv[:, 0], avail), cma_lcx=_opt(cv[:, 1], avail), cma_rca=_opt(cv[:, 2], avail),
        tbr_max_patient=_opt(np.clip(tbr_pat, 0, 10), avail),
    ))

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
    outcomes = _frame("outcomes", oc_cols)

    # ---- 7. truth
    culprit_key = les["Z_l"] + 0.5 * les["V_l"] + 0.5 * np.log1p(les["v_lap"]) + rs[10].gumbel(size=L)
    culprit = _culprit(lpid, culprit_key, n, lids)
    r4 = lambda x: np.round(x, 4)  # noqa: E731
    truth = {
        "patient_id": pids, "latent_a": r4(d["A"]), "latent_v": r4(V), "latent_z": r4(Z),
        "lp_mi": r4(lp["mi"]), "lp_cardiac_death": r4(lp["cardiac_death"]), "lp_ua_hosp": r4(lp["ua_hosp"]),
        "lp_revasc_unplanned": r4(lp["revasc_unplanned"]), "lp_noncardiac_death": r4(lp["noncardiac_death"]),
        "hazard_mi_per_year": np.round(P["lam_mi"] * np.exp(lp["mi"]), 8),
        "n_lesions": S["sis"], "true_tpv_mm3": r4(S["t_tpv"]), "true_cpv_mm3": r4(S["t_cpv"]),
        "true_ncpv_mm3": r4(S["t_ncpv"]), "true_lapv_mm3": r4(S["t_lapv"]),
        "true_vessel_volume_mm3": r4(S["t_vessel_vol"]), "true_tpb_pct": r4(S["t_tpb"]),
        "true_lapb_pct": r4(S["t_lapb"]), "true_max_stenosis_pct": np.round(100 * S["t_max_ds"], 2),
        "true_hrp": S["t_hrp"], "true_cac_agatston": np.round(cac_true, 1),
        "true_cma": r4(cma["cma_true"]), "true_ldl_mmol_l": np.round(d["ldl"], 3),
        "pet_site": pet_site, "p_pet_available": r4(av["p"]), "p_planned_revasc": r4(oc["p_planned"]),
    }
    for k in COMPONENTS:
        truth[f"{k}_true"] = oc[f"{k}_true"]
        truth[f"{k}_true_time_days"] = oc[f"{k}_time_true"]
    truth["mi_latent_time_days"] = oc["mi_latent_days"]
    truth["mi_culprit_lesion_id"] = np.where(oc["mi_true"], culprit, None).astype(object)
    truth.update(
        bias_baseline_hr=r4(base_hr), bias_measurement=mb["label"],
        bias_lap_factor=r4(mb["lap_factor"]), bias_effect_modifier=r4(np.exp(em_lp)),
        bias_pet_access=r4(access_bias * group_access), bias_p_event_missed=r4(p_missed),
        bias_loss_to_followup_hr=r4(multiplier_by_group(bias.loss_to_followup, cols)),
        bias_noise_multiplier=r4(mb["noise_mult"]), bias_event_recorded=oc["event_recorded"],
    )
    truth = pd.DataFrame(truth)

    truth_lesions = pd.DataFrame(dict(
        lesion_id=lids, scan_id=sids[lpid], patient_id=pids[lpid], vessel=SEG_VESSEL[les["seg"] - 1].astype(object),
        segment=les["seg"].astype(np.int64), length_mm=r4(les["length"]), ref_diameter_mm=r4(les["ref_d"]),
        remodelling_index=r4(les["ri"]), plaque_burden=r4(les["pb"]), v_total_mm3=r4(les["v_tot"]),
        v_calcified_mm3=r4(les["v_cal"]), v_fibrous_mm3=r4(les["v_fib"]),
        v_fibrofatty_mm3=r4(les["v_ff"]), v_lap_mm3=r4(les["v_lap"]), spotty_calc=les["spotty"],
        napkin_ring=les["napkin"], pos_remodelling=les["pr"], latent_v=r4(les["V_l"]), latent_z=r4(les["Z_l"]),
        v_noncalcified_mm3=r4(les["v_nc"]), lap_feature=les["lapf"], hrp=les["hrp_true"],
        diameter_stenosis=r4(les["ds"]),
    ))
    return SyntheticCohort(patients=patients, scans=scans, lesions=lesions, pet=pet, outcomes=outcomes,
                           truth=truth, truth_lesions=truth_lesions, mode=mode, seed=seed,
                           bias=bias.to_dict(), params=P)
