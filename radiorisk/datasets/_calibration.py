"""Calibration of the synthetic cohort against published targets (used by tests and benchmarks).

Everything here is computed from the *model-facing* tables (measured values),
as a user of the cohort would, never from ``truth``.  The Cox model is the project's
one fitter, :func:`radiorisk.stats.fit_cox` with Breslow ties (:func:`cox_fit` returns its
coefficients).  Until issue 12 this module had its own damped, ridged Newton fit; the two
agreed to about 1e-9 relative on the cohort's fits, so the adjusted hazard ratios moved in
their last digits only (metrics of subsets with fewer than 10 events, where a separated
fit is not estimable, are not computed).  The C-statistic is Harrell's; it gives the
same numbers as :func:`radiorisk.stats.harrell_c` on the cohort but also
accepts zero follow-up times.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import fit_cox

__all__ = ["TARGETS", "cox_fit", "harrell_c", "design_blocks", "calibration_metrics", "calibration_table"]

CAC_BINS = (-0.5, 0.5, 9.5, 99.5, 399.5, 999.5, np.inf)
CAC_LABELS = ("0", "1-9", "10-99", "100-399", "400-999", ">=1000")

#: Published targets (DOMAIN.md sections 1, 3 and 4); None where the mode has no target.
TARGETS = {
    "chest-pain": {
        "mi_per_100py": 0.5, "cac_bins_pct": (36, 9, 20, 17, 10, 8), "any_plaque_pct": 64,
        "obstructive_pct": 26, "adverse_plaque_pct": 34, "mi_ratio_women_men": 1.4 / 3.0,
        "lapb4_men_women_pct": (59, 41), "cma_gt0_pct": None,
        "c_clinical": None, "c_ccta": None, "c_pet": None, "c_cma_only": None,
    },
    "established-cad": {
        "mi_per_100py": 1.7, "cac_bins_pct": None, "any_plaque_pct": None, "obstructive_pct": None,
        "adverse_plaque_pct": None, "mi_ratio_women_men": None, "lapb4_men_women_pct": None,
        "cma_gt0_pct": 69, "c_clinical": 0.64, "c_ccta": 0.72, "c_pet": 0.85, "c_cma_only": 0.76,
    },
}


def cox_fit(X: np.ndarray, time: np.ndarray, event: np.ndarray, *, max_iter: int = 50,
            tol: float = 1e-9) -> np.ndarray:
    """Cox proportional-hazards coefficients (Breslow ties): :func:`radiorisk.stats.fit_cox`'s ``coef``.

    Parameters
    ----------
    X : (n, p) array
    time, event : (n,) arrays

    Returns
    -------
    beta : (p,) array, on the scale of ``X``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(4000, 1)); t = rng.exponential(1 / np.exp(0.7 * x[:, 0]))
    >>> round(float(cox_fit(x, t, np.ones(4000, bool))[0]), 1)
    0.7
    """
    fit = fit_cox(np.asarray(X, float), np.asarray(time, float), np.asarray(event, float), ties="breslow",
                  tol=tol, max_iter=max_iter)
    return np.asarray(fit.coef, dtype=float)


def harrell_c(risk: np.ndarray, time: np.ndarray, event: np.ndarray, *, chunk: int = 256) -> float:
    """Harrell's C: comparable pairs (i event, T_j > T_i, or T_j = T_i with j censored).

    Higher ``risk`` should mean earlier events; ties in risk count 1/2.

    Examples
    --------
    >>> harrell_c(np.array([3, 2, 1.]), np.array([1, 2, 3.]), np.array([1, 1, 0]))
    1.0
    """
    risk, time, event = np.asarray(risk, float), np.asarray(time, float), np.asarray(event, bool)
    conc = tied = comp = 0.0
    ev_idx = np.flatnonzero(event)
    for s in range(0, len(ev_idx), chunk):
        i = ev_idx[s:s + chunk]
        ti, ri = time[i][:, None], risk[i][:, None]
        c = (time[None, :] > ti) | ((time[None, :] == ti) & ~event[None, :])
        comp += c.sum()
        conc += (c & (ri > risk[None, :])).sum()
        tied += (c & (ri == risk[None, :])).sum()
    return float((conc + 0.5 * tied) / comp) if comp else float("nan")


def design_blocks(cohort) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Measured covariates of the Kwiecinski ladder, one row per patient.

    clinical = age, male, diabetes, current smoking, hypertension, LDL;
    CCTA = log1p TPV, log1p LAP burden, HRP, obstructive (>= 50 %), log1p CAC;
    PET = log1p CMA (NaN where PET is missing).  The ladder is fitted on the
    patients with PET (all of them in established-CAD mode, as in Kwiecinski);
    ``c_clinical_all`` / ``c_ccta_all`` use every patient.
    """
    p, s, pet = cohort.patients, cohort.scans, cohort.pet
    X = pd.DataFrame({
        "age": p["age_years"].to_numpy(float), "male": (p["sex"] == "male").to_numpy(float),
        "dm": (p["diabetes"] != "none").to_numpy(float), "smoke": (p["smoking"] == "current").to_numpy(float),
        "htn": p["hypertension"].to_numpy(float), "ldl": p["ldl_mmol_l"].to_numpy(float),
        "log_tpv": np.log1p(s["tpv_mm3"].to_numpy(float)), "log_lapb": np.log1p(s["lapb_pct"].to_numpy(float)),
        "hrp": s["hrp_modifier"].to_numpy(float), "obstructive": (s["max_stenosis_pct"] >= 50).to_numpy(float),
        "log_cac": np.log1p(s["cac_agatston"].to_numpy(float)),
        "log_cma": np.log1p(pet["cma_patient"].astype("float64").to_numpy()),
    })
    blocks = {"clinical": ["age", "male", "dm", "smoke", "htn", "ldl"],
              "ccta": ["log_tpv", "log_lapb", "hrp", "obstructive", "log_cac"], "pet": ["log_cma"]}
    return X, blocks


def _mi_time(o: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    ev = o["mi"].to_numpy(bool)
    t = np.where(ev, o["mi_time_days"].to_numpy(float), o["fu_days"].to_numpy(float))
    return t, ev


def calibration_metrics(cohort, *, ladder: bool = True, adjusted_hr: bool = True) -> dict:
    """Achieved values of the calibration targets, from the measured tables.

    Returns a flat dict (percentages in %, rates per 100 patient-years, with
    standard errors ``*_se`` where the test tolerances use them).
    """
    o, s, p, pet, les = cohort.outcomes, cohort.scans, cohort.patients, cohort.pet, cohort.lesions
    t, ev = _mi_time(o)
    py = t.sum() / 365.25
    out: dict = {"n": len(o), "mi_events": int(ev.sum()), "mi_per_100py": 100 * ev.sum() / py,
                 "mi_per_100py_se": 100 * np.sqrt(max(ev.sum(), 1)) / py}
    cac = s["cac_agatston"].to_numpy(float)
    out["cac_bins_pct"] = tuple(100 * np.histogram(cac, bins=CAC_BINS)[0] / len(cac))
    out["any_plaque_pct"] = 100 * (s["sis"].to_numpy(float) > 0).mean()
    out["obstructive_pct"] = 100 * (s["max_stenosis_pct"] >= 50).mean()
    li = pd.Index(p["patient_id"]).get_indexer(les["patient_id"])
    adv_l = (les["pos_remodelling"].to_numpy(bool) | les["lap_feature"].to_numpy(bool)).astype(float)
    out["adverse_plaque_pct"] = 100 * (np.bincount(li, weights=adv_l, minlength=len(p)) > 0).mean()
    out["hrp_pct"] = 100 * s["hrp_modifier"].mean()
    male = (p["sex"] == "male").to_numpy()
    lap4 = s["lapb_pct"].to_numpy(float) > 4
    out["lapb4_men_women_pct"] = (100 * lap4[male].mean(), 100 * lap4[~male].mean())
    out["mi_pct_women_men"] = (100 * ev[~male].mean(), 100 * ev[male].mean())
    rw = ev[~male].sum() / t[~male].sum()
    rm = ev[male].sum() / t[male].sum()
    out["mi_ratio_women_men"] = rw / rm
    out["mi_ratio_women_men_se_log"] = np.sqrt(1 / max(ev[~male].sum(), 1) + 1 / max(ev[male].sum(), 1))
    av = pet["pet_available"].to_numpy(bool)
    cma = pet["cma_patient"].astype("float64").to_numpy()
    out["pet_available_pct"] = 100 * av.mean()
    out["cma_gt0_pct"] = 100 * (cma[av] > 0).mean() if av.any() else float("nan")
    out["cma_gt0_se_pct"] = 100 * np.sqrt(max(out["cma_gt0_pct"] / 100 * (1 - out["cma_gt0_pct"] / 100), 1e-9) / max(av.sum(), 1))
    out["mi_share_cma0_pct"] = 100 * (ev[av] & (cma[av] == 0)).sum() / max(ev[av].sum(), 1) if av.any() else float("nan")
    X, blocks = design_blocks(cohort)
    if ladder and av.sum() > 50 and ev[av].sum() >= 10:
        Xa, ta, ea = X[av], t[av], ev[av]
        sets = {"c_clinical": blocks["clinical"], "c_ccta": blocks["clinical"] + blocks["ccta"],
                "c_pet": blocks["clinical"] + blocks["ccta"] + blocks["pet"], "c_cma_only": blocks["pet"]}
        for name, colset in sets.items():
            M = Xa[colset].to_numpy(float)
            b = cox_fit(M, ta, ea)
            out[name] = harrell_c(M @ b, ta, ea)
    if ladder and ev.sum() >= 10:
        for name, colset in (("c_clinical_all", blocks["clinical"]),
                             ("c_ccta_all", blocks["clinical"] + blocks["ccta"])):
            M = X[colset].to_numpy(float)
            out[name] = harrell_c(M @ cox_fit(M, t, ev), t, ev)
    if adjusted_hr:
        clin = X[blocks["clinical"]].to_numpy(float)
        obstr = X[["obstructive"]].to_numpy(float)
        hr = {}
        hr["lapb>4 | clin, CAC, obstructive"] = np.column_stack([lap4, clin, X["log_cac"], obstr])
        hr["tpv>=238.5 | clin, obstructive"] = np.column_stack([s["tpv_mm3"] >= 238.5, clin, obstr])
        hr["hrp | clin, obstructive"] = np.column_stack([X["hrp"], clin, obstr])
        res = {k: float(np.exp(cox_fit(M.astype(float), t, ev)[0])) for k, M in hr.items()}
        if av.sum() > 50 and ev[av].sum() >= 10:
            M = np.column_stack([cma > 1.56, X[blocks["clinical"] + blocks["ccta"]].to_numpy(float)])[av]
            res["cma>1.56 | clin, CCTA"] = float(np.exp(cox_fit(M.astype(float), t[av], ev[av])[0]))
        out["adjusted_hr"] = res
    return out


def _fmt(v, nd=2):
    if v is None:
        return "–"
    if isinstance(v, tuple):
        return "/".join(f"{x:.0f}" for x in v)
    return f"{v:.{nd}f}"


def calibration_table(results: dict[str, list[dict]]) -> str:
    """Markdown table of target vs achieved (mean and range over seeds) for each mode."""
    rows = [("MI per 100 patient-years", "mi_per_100py", 2),
            ("CAC 0/1-9/10-99/100-399/400-999/>=1000 (%)", "cac_bins_pct", 0),
            ("Any plaque (%)", "any_plaque_pct", 0), ("Obstructive >= 50 % (%)", "obstructive_pct", 0),
            ("Adverse plaque, PR or LAP (%)", "adverse_plaque_pct", 0),
            ("LAP burden > 4 %, men/women (%)", "lapb4_men_women_pct", 0),
            ("MI rate ratio women/men", "mi_ratio_women_men", 2),
            ("CMA > 0 (% of patients with PET)", "cma_gt0_pct", 0), ("C clinical", "c_clinical", 3),
            ("C clinical + CCTA", "c_ccta", 3), ("C clinical + CCTA + PET", "c_pet", 3),
            ("C CMA alone", "c_cma_only", 3),
            ("C clinical, all patients", "c_clinical_all", 3),
            ("C clinical + CCTA, all patients", "c_ccta_all", 3)]
    modes = list(results)
    head = "| Target | " + " | ".join(f"{m}: target | {m}: achieved" for m in modes) + " |"
    sep = "|---|" + "---|---|" * len(modes)
    lines = [head, sep]
    for label, key, nd in rows:
        cells = []
        for m in modes:
            tgt = TARGETS[m].get(key)
            vals = [r.get(key) for r in results[m] if r.get(key) is not None]
            if not vals or (not isinstance(vals[0], tuple) and not np.isfinite(vals[0])):
                ach = "–"
            elif isinstance(vals[0], tuple):
                ach = "/".join(f"{np.mean([v[i] for v in vals]):.0f}" for i in range(len(vals[0])))
            else:
                a = np.asarray(vals, float)
                ach = f"{a.mean():.{nd}f}" + (f" ({a.min():.{nd}f}–{a.max():.{nd}f})" if len(a) > 1 else "")
            cells += [_fmt(tgt, nd) if tgt is not None else "–", ach]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
