"""How much the sites of a (synthetic) cohort differ: event risk, case mix, scanners, baseline hazard.

:func:`site_heterogeneity` measures what a multi-site design achieved, for
docs/synthetic_cohort.md and the tests: per site the Kaplan–Meier MACE risk by
a horizon, the case mix and the scanner mix, the observed/expected MACE ratio
against a pooled Cox model of the case mix (so a site's O/E is its baseline
hazard relative to the others), and the REML between-site SD of log O/E.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..exceptions import RadioriskError
from ..stats import (
    DEFAULT_HORIZON_DAYS,
    breslow_increments,
    fit_cox,
    kaplan_meier_risk,
    random_effects,
)

__all__ = ["SiteHeterogeneity", "site_heterogeneity"]


@dataclass(frozen=True)
class SiteHeterogeneity:
    """Per-site summaries of a cohort and the between-site spread of its baseline hazard.

    Attributes
    ----------
    per_site : pandas.DataFrame
        One row per site: ``n``, ``events`` (MACE), ``km_risk`` with ``km_lower``/``km_upper``
        (MACE by ``horizon_days``), ``mean_age``, ``diabetes_pct``, ``photon_counting_pct``,
        ``vendors`` (vendor: % of the site's scans), ``observed``, ``expected``, ``log_oe``
        (NaN without events) and, for a simulated multi-site design, ``design_log_hr``.
    scanners : pandas.DataFrame
        Scans per (``vendor``, ``kernel``, ``detector``) with their share.
    horizon_days : float
    tau : float
        REML between-site SD of log O/E (sites with events; NaN with fewer than 2 such sites).
    i2 : float
        I² (%) of that meta-analysis.
    design_sd : float
        SD over sites (ddof 0) of the design's log baseline-hazard multipliers (NaN without them).
    """

    per_site: pd.DataFrame
    scanners: pd.DataFrame
    horizon_days: float
    tau: float
    i2: float
    design_sd: float

    def summary(self) -> str:
        """One line: sites, range of the KM risk, tau, I² and the design SD.

        Examples
        --------
        >>> from radiorisk.datasets import simulate_cohort
        >>> print(site_heterogeneity(simulate_cohort(600, seed=1, sites=3)).summary())  # doctest: +ELLIPSIS
        3 sites; MACE risk by day 1826 ...; between-site SD of log O/E (REML) ...; design SD ...
        """
        r = self.per_site["km_risk"]
        return (f"{len(self.per_site)} sites; MACE risk by day {self.horizon_days:g} {100 * r.min():.1f}-"
                f"{100 * r.max():.1f} %; between-site SD of log O/E (REML) {self.tau:.3f}, I2 {self.i2:.0f} %; "
                f"design SD {self.design_sd:.3f}")


def _expected(time: np.ndarray, event: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Expected events per patient under a pooled Cox model of ``score`` (Breslow cumulative hazard)."""
    fit = fit_cox(score[:, None], time, event, names=["case_mix"])
    m = fit.coef[0] * (score - score.mean())
    t_k, inc = breslow_increments(time, event, m)
    H0 = np.concatenate([[0.0], np.cumsum(inc)])[np.searchsorted(t_k, time, side="right")]
    return H0 * np.exp(m)


def _vendor_text(v: pd.Series) -> str:
    share = v.value_counts(normalize=True).sort_index()
    return ", ".join(f"{k} {100 * s:.0f}" for k, s in share.items())


def site_heterogeneity(cohort, *, horizon_days: float = DEFAULT_HORIZON_DAYS) -> SiteHeterogeneity:
    """Measure the between-site differences of a cohort (synthetic, or any with a ``truth`` table).

    Parameters
    ----------
    cohort : SyntheticCohort or object with ``patients``, ``scans``, ``outcomes`` and ``truth``
        ``truth`` supplies the case-mix score: the true MI linear predictor without the site
        effect (``lp_mi - site_log_hr``).
    horizon_days : float
        Horizon of the Kaplan–Meier risk (default 1826 days).

    Returns
    -------
    SiteHeterogeneity

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> h = site_heterogeneity(simulate_cohort(800, seed=2, sites=4))
    >>> h.per_site.index.tolist(), round(float(h.per_site["expected"].sum() / h.per_site["observed"].sum()), 6)
    (['site01', 'site02', 'site03', 'site04'], 1.0)
    """
    p = cohort.patients[["patient_id", "site_id", "age_years", "diabetes"]]
    s = cohort.scans.drop_duplicates("patient_id")[["patient_id", *(c for c in ("vendor", "kernel", "detector")
                                                                    if c in cohort.scans)]]
    o = cohort.outcomes[["patient_id", "mace_time_days", "mace_event"]]
    tr = cohort.truth[["patient_id", "lp_mi", *(["site_log_hr"] if "site_log_hr" in cohort.truth else [])]]
    d = p.merge(s, on="patient_id", how="left").merge(o, on="patient_id").merge(tr, on="patient_id")
    if d.empty:
        raise RadioriskError("site_heterogeneity: the cohort has no patients with outcomes and truth")
    if "detector" not in d:
        d["detector"] = "energy_integrating"
    time, event = d["mace_time_days"].to_numpy(float), d["mace_event"].to_numpy(bool).astype(float)
    score = d["lp_mi"].to_numpy(float) - (d["site_log_hr"].to_numpy(float) if "site_log_hr" in d else 0.0)
    d["expected"] = _expected(time, event, score)
    rows = {}
    for site, g in d.groupby("site_id", sort=True):
        km = kaplan_meier_risk(g["mace_time_days"], g["mace_event"].astype(float), horizon=horizon_days)
        obs, exp_ = float(g["mace_event"].sum()), float(g["expected"].sum())
        rows[site] = dict(n=len(g), events=int(obs), km_risk=km.estimate, km_lower=km.ci_low, km_upper=km.ci_high,
                          mean_age=g["age_years"].mean(), diabetes_pct=100 * (g["diabetes"] != "none").mean(),
                          photon_counting_pct=100 * (g["detector"] == "photon_counting").mean(),
                          vendors=_vendor_text(g["vendor"]), observed=obs, expected=exp_,
                          log_oe=np.log(obs / exp_) if obs > 0 else np.nan)
        if "site_log_hr" in g:
            rows[site]["design_log_hr"] = float(g["site_log_hr"].iloc[0])
    per_site = pd.DataFrame.from_dict(rows, orient="index")
    per_site.index.name = "site_id"
    ok = per_site["observed"] > 0
    tau = i2 = np.nan
    if ok.sum() >= 2:
        ma = random_effects(per_site.loc[ok, "log_oe"].to_numpy(), 1 / np.sqrt(per_site.loc[ok, "observed"].to_numpy()),
                            method="REML")
        tau, i2 = float(ma.tau), float(ma.i2)
    design_sd = float(np.std(per_site["design_log_hr"])) if "design_log_hr" in per_site else np.nan
    scanners = (d.groupby(["vendor", "kernel", "detector"], dropna=False).size().rename("n").reset_index()
                if {"vendor", "kernel"} <= set(d) else pd.DataFrame(columns=["vendor", "kernel", "detector", "n"]))
    scanners["share"] = scanners["n"] / scanners["n"].sum() if len(scanners) else []
    return SiteHeterogeneity(per_site=per_site, scanners=scanners, horizon_days=float(horizon_days), tau=tau,
                             i2=i2, design_sd=design_sd)
