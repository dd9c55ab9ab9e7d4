"""Clinical variables and latent disease (DOMAIN.md section 6.1-6.2).

All functions are vectorised over patients and draw from the generator they are
given, so that each sub-model owns one random stream.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import expit

from ..exceptions import RadioriskError
from ._bias import AUDIT_NAMES, GROUP5, SEXES

__all__ = ["FINE", "FINE_GROUP5", "ethnicity_probabilities", "simulate_clinical", "simulate_latent_vz"]

#: Fine ethnicity categories (schema enum without 'unknown') and their coarse group.
FINE = np.array([
    "white", "south_asian_indian", "south_asian_pakistani", "south_asian_bangladeshi",
    "black_african", "black_caribbean", "black_other", "east_asian_chinese", "other_asian",
    "hispanic_latino", "mixed", "other",
])
FINE_GROUP5 = np.array([
    "white", "south_asian", "south_asian", "south_asian", "black", "black", "black",
    "east_asian", "east_asian", "other", "other", "other",
])
#: Split of each coarse group into fine categories (UK-like proportions, proposal).
_WITHIN = {
    "white": {"white": 1.0},
    "south_asian": {"south_asian_indian": 0.50, "south_asian_pakistani": 0.35,
                    "south_asian_bangladeshi": 0.15},
    "black": {"black_african": 0.55, "black_caribbean": 0.40, "black_other": 0.05},
    "east_asian": {"east_asian_chinese": 0.60, "other_asian": 0.40},
    "other": {"mixed": 0.40, "other": 0.35, "hispanic_latino": 0.25},
}
#: Named ethnicity mixes over the coarse groups (DOMAIN.md 6.1; MESA from section 3).
ETHNICITY_MIXES = {
    "audit": {"white": 0.55, "south_asian": 0.15, "black": 0.15, "east_asian": 0.10, "other": 0.05},
    "uk": {"white": 0.86, "south_asian": 0.07, "black": 0.03, "east_asian": 0.02, "other": 0.02},
    "mesa": {"white": 0.386, "black": 0.276, "east_asian": 0.119, "hispanic_latino": 0.219},
}
_G5_INDEX = {g: i for i, g in enumerate(GROUP5)}  # white, south_asian, black, east_asian, other
ETH_A = np.array([0.0, 0.15, -0.25, -0.20, -0.10])  # latent-burden offset by coarse group
SITES = np.array([f"site{i:02d}" for i in range(1, 9)])
SITE_W = np.array([0.22, 0.18, 0.14, 0.12, 0.10, 0.09, 0.08, 0.07])


def ethnicity_probabilities(mix: Mapping | str | None, representation: Mapping | None = None) -> np.ndarray:
    """Probabilities over :data:`FINE` from a coarse/fine mix and representation shares.

    Examples
    --------
    >>> p = ethnicity_probabilities("audit", {"black": 0.02})
    >>> round(float(p[FINE_GROUP5 == "black"].sum()), 3)
    0.02
    """
    if mix is None:
        mix = "audit"
    if isinstance(mix, str):
        if mix not in ETHNICITY_MIXES:
            raise RadioriskError(f"ethnicity_mix {mix!r} is not one of {sorted(ETHNICITY_MIXES)}")
        mix = ETHNICITY_MIXES[mix]
    p = np.zeros(len(FINE))
    for key, w in mix.items():
        key = AUDIT_NAMES.get(key, key)
        w = float(w)
        if w < 0:
            raise RadioriskError(f"ethnicity_mix[{key!r}] = {w} is negative")
        if key in _WITHIN:
            for fine, s in _WITHIN[key].items():
                p[FINE == fine] += w * s
        elif key in FINE:
            p[FINE == key] += w
        else:
            raise RadioriskError(
                f"ethnicity_mix key {key!r} is neither a coarse group {list(GROUP5)} nor an ethnicity"
            )
    if p.sum() <= 0:
        raise RadioriskError("ethnicity_mix has no positive weight")
    p /= p.sum()
    rep = {AUDIT_NAMES.get(k, k): float(v) for k, v in (representation or {}).items() if k not in SEXES
           and AUDIT_NAMES.get(k, k) not in SEXES}
    if rep:
        for g in rep:
            if g not in _WITHIN:
                raise RadioriskError(
                    f"representation group {g!r} must be a sex or a coarse ethnicity group {list(GROUP5)}"
                )
        fixed = np.isin(FINE_GROUP5, list(rep))
        rest = p[~fixed].sum()
        q = np.zeros_like(p)
        for g, s in rep.items():
            m = FINE_GROUP5 == g
            tot = p[m].sum()
            q[m] = s * (p[m] / tot if tot > 0 else np.array(list(_WITHIN[g].values())) / 1.0)
        left = 1.0 - sum(rep.values())
        if rest > 0:
            q[~fixed] = p[~fixed] / rest * left
        p = q / q.sum()
    return p


def _p_male(p_male: float, representation: Mapping | None) -> float:
    rep = representation or {}
    if "female" in rep:
        return 1.0 - float(rep["female"])
    if "male" in rep:
        return float(rep["male"])
    return p_male


def _site_case_mix(m: int, fine_p: np.ndarray, design) -> dict:
    """Per-patient site index and case-mix shifts (all zero without a site design)."""
    if design is None:
        return dict(site=None, age=0.0, A=0.0, dm=0.0, smoke=0.0, cdf=None)
    site = design.assign(m)
    g5_of_fine = np.array([_G5_INDEX[g] for g in FINE_GROUP5])
    p = fine_p[None, :] * np.exp(design.ethnicity_log_weight[:, g5_of_fine])
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    return dict(site=site, age=design.age_shift[site], A=design.burden_shift[site],
                dm=design.dm_logit[site], smoke=design.smoke_logit[site], cdf=cdf[site])


def _draw_clinical(m: int, P: Mapping, rng: np.random.Generator, fine_p: np.ndarray,
                   p_male: float, design=None) -> dict:
    """One batch of clinical variables and latent burden A (before any selection).

    With a site design (:class:`~radiorisk.datasets._sites.SiteDesign`) each patient's site
    is drawn first and shifts the mean age, the ethnicity mix, the diabetes and smoking
    logits and the latent burden; without one the draws are the historical ones.
    """
    cm = _site_case_mix(m, fine_p, design)
    male = rng.random(m) < p_male
    age = np.clip(rng.normal(P["age_mu"], P["age_sd"], m) + cm["age"], 30.0, 85.0)
    if cm["cdf"] is None:
        fine = rng.choice(len(FINE), m, p=fine_p)
    else:
        fine = np.minimum((rng.random(m)[:, None] >= cm["cdf"]).sum(axis=1), len(FINE) - 1)
    g5 = np.array([_G5_INDEX[g] for g in FINE_GROUP5])[fine]
    sa, bl, ea = (g5 == 1), (g5 == 2), (g5 == 3)
    smoke = rng.random(m) < expit(-1.5 - 0.02 * (age - 58) + 0.2 * male + cm["smoke"])
    former = ~smoke & (rng.random(m) < expit(-0.8 + 0.02 * (age - 58) + 0.3 * male))
    htn = rng.random(m) < expit(-0.75 + 0.05 * (age - 58) + 0.6 * bl + 0.2 * sa)
    dm = rng.random(m) < expit(-2.3 + 0.03 * (age - 58) + 1.0 * sa + 0.5 * bl + 0.3 * ea + cm["dm"])
    fh = rng.random(m) < 0.35
    statin = rng.random(m) < P["statin"]
    ldl_untreated = rng.normal(3.4, 0.9, m)
    ldl = np.clip(ldl_untreated - 1.1 * statin, 0.8, 7.0)
    bmi_med = np.array([29.0, 27.0, 30.0, 25.5, 28.5])[g5]
    bmi = np.clip(np.exp(rng.normal(np.log(bmi_med), 0.17, m)), 16.0, 60.0)
    u = rng.random((m, 12))  # spare uniforms for the descriptive clinical columns
    A = (P["male_A"] * male
         + P["clin_scale"] * (0.045 * (age - 58) + 0.35 * smoke + 0.3 * htn + 0.35 * dm
                              + 0.15 * (ldl + 1.1 * statin - 3.4) + 0.2 * fh)
         + ETH_A[g5] + rng.normal(0.0, P["A_noise"], m) + cm["A"])
    out = dict(male=male, age=age, fine=fine, g5=g5, smoke=smoke, former=former, htn=htn, dm=dm,
               fh=fh, statin=statin, ldl=ldl, ldl_untreated=ldl_untreated, bmi=bmi, A=A, u=u,
               n_norm=rng.standard_normal((m, 8)))
    if cm["site"] is not None:
        out["design_site"] = cm["site"]
    return out


def simulate_clinical(n: int, P: Mapping, rng: np.random.Generator, fine_p: np.ndarray,
                      representation: Mapping | None = None, design=None) -> dict:
    """Patients' clinical variables and latent burden A.

    In established-CAD mode (``P["A_threshold"]`` set) patients are drawn in
    batches and kept while ``A > A_threshold`` (selection on disease).  With a
    site ``design`` the sites and their case mix come from it (``site`` then
    indexes ``design.site_ids``).
    """
    p_male = _p_male(P["p_male"], representation)
    thr = P.get("A_threshold")
    if thr is None:
        d = _draw_clinical(n, P, rng, fine_p, p_male, design)
    else:
        parts, have = [], 0
        while have < n:
            b = _draw_clinical(max(int(2.0 * (n - have)), 1000), P, rng, fine_p, p_male, design)
            keep = np.flatnonzero(b["A"] > thr)
            parts.append({k: v[keep] for k, v in b.items()})
            have += len(keep)
        d = {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}
    d.update(_descriptive(d, P))
    if "design_site" in d:
        d["site"] = d.pop("design_site")
    return d


def _descriptive(d: Mapping, P: Mapping) -> dict:
    """Descriptive clinical columns (not in the latent model) from the batch's spare draws."""
    u, z = d["u"], d["n_norm"]
    male, age, g5 = d["male"], d["age"], d["g5"]
    asian = (g5 == 1) | (g5 == 3)
    height = np.where(male, 176.0 + 7.0 * z[:, 0], 162.0 + 6.5 * z[:, 0]) - 4.0 * asian
    height = np.clip(height, 140.0, 205.0)
    weight = np.clip(d["bmi"] * (height / 100) ** 2, 35.0, 240.0)
    bmi = weight / (height / 100) ** 2
    htn = d["htn"]
    sbp = np.clip(128 + 14 * htn + 0.4 * (age - 58) + 15 * z[:, 1], 90, 230)
    dbp = np.clip(78 + 6 * htn + 9 * z[:, 2], 45, 130)
    dbp = np.minimum(dbp, sbp - 20)
    hdl = np.clip(1.5 - 0.25 * male - 0.02 * (bmi - 27) + 0.35 * z[:, 3], 0.4, 3.5)
    tg = np.exp(np.log(1.5) + 0.45 * z[:, 4])
    tchol = np.clip(d["ldl"] + hdl + tg / 2.2, 1.5, 15.0)
    egfr = np.clip(88 - 0.9 * (age - 58) + 15 * z[:, 5], 15, 130)
    cigs = np.where(d["smoke"], np.clip(np.round(np.exp(np.log(12) + 0.5 * z[:, 6])), 1, 60), 0)
    dm_type1 = d["dm"] & (u[:, 0] < 0.08)
    on_antihtn = htn & (u[:, 1] < 0.75)
    hyperlip = d["statin"] | (d["ldl_untreated"] > 4.1)
    # symptom class (SCOT-HEART: 35% typical, 24% atypical, 41% non-anginal)
    sp = np.array(P["symptom_p"])
    sym = np.searchsorted(np.cumsum(sp) / sp.sum(), u[:, 2], side="right")
    sym = np.minimum(sym, len(sp) - 1)
    # deprivation: minority groups skew towards more deprived quintiles
    shift = np.where(g5 == 0, 0.0, 0.12)
    # quintile 5 = most deprived; u**(1-shift) > u pushes minorities up
    dep = np.clip(np.floor((u[:, 3] ** (1.0 - shift)) * 5).astype(int) + 1, 1, 5)
    site = np.searchsorted(np.cumsum(SITE_W) / SITE_W.sum(), u[:, 4], side="right")
    site = np.minimum(site, len(SITES) - 1)
    return dict(height=height, weight=weight, bmi=bmi, sbp=sbp, dbp=dbp, hdl=hdl, tchol=tchol,
                egfr=egfr, cigs=cigs, dm_type1=dm_type1, on_antihtn=on_antihtn, hyperlip=hyperlip,
                symptom=sym, deprivation=dep, site=site)


def simulate_latent_vz(d: Mapping, P: Mapping, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Vulnerability V and activity Z given burden A (DOMAIN.md 6.2)."""
    n = len(d["A"])
    V = 0.5 * d["A"] + 0.3 * d["male"] + 0.3 * d["smoke"] + 0.2 * d["dm"] + rng.normal(0, 0.85, n)
    Z = P["zA"] * d["A"] + P["zV"] * V + rng.normal(0, P["zN"], n)
    return V, Z


def prior_history(A: np.ndarray, P: Mapping, rng: np.random.Generator) -> dict:
    """Prior MI / PCI / CABG, rare in chest-pain mode, common (and burden-driven) in established CAD."""
    n = len(A)
    u = rng.random((n, 3))
    a = A - 1.5
    pm, pp, pc = P["prior_logit"]
    return dict(prior_mi=u[:, 0] < expit(pm + 0.4 * a), prior_pci=u[:, 1] < expit(pp + 0.4 * a),
                prior_cabg=u[:, 2] < expit(pc + 0.4 * a))
