"""Multi-site design of the synthetic cohort: sites, their case mix, baseline hazard and scanners.

Only used when :func:`~radiorisk.datasets.simulate_cohort` is given ``sites``;
without it the cohort keeps its historical eight sites with one scanner each
(and its tables stay byte-identical).  A design draws, per site, a share of
the patients, case-mix shifts (age, latent burden, diabetes and smoking,
ethnicity mix), a log baseline-hazard multiplier and a scanner fleet (a
primary and a secondary scanner model from :data:`SCANNERS`).  All draws come
from the spare random stream 11 of the cohort (``SeedSequence(seed).spawn(12)[11]``,
itself spawned into site design / patient sites / patient scanners), so the
other streams are untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from ..exceptions import RadioriskError

__all__ = ["SCANNERS", "SCANNER_MIXES", "SiteSpec", "SiteDesign", "draw_site_design", "site_number"]

#: Scanner models: vendor, reconstruction kernel, detector, noise sigma0 (HU at 100 kVp, BMI 27),
#: slice thickness (mm) and measurement effects: logit shift of the measured calcified share
#: (less calcium blooming), shift of reader stenosis (percentage points), Agatston factor.
#: The first four are the historical one-scanner-per-site models.
SCANNERS: dict[str, dict] = {
    "siemens_eid_bv40": dict(vendor="Siemens", kernel="Bv40", detector="energy_integrating", sigma0=22.0,
                             slice=0.6, calc_logit=0.0, ds_shift=0.0, cac_factor=1.0),
    "ge_eid_standard": dict(vendor="GE", kernel="STANDARD", detector="energy_integrating", sigma0=28.0,
                            slice=0.625, calc_logit=0.0, ds_shift=0.0, cac_factor=1.0),
    "philips_eid_xcb": dict(vendor="Philips", kernel="XCB", detector="energy_integrating", sigma0=30.0,
                            slice=0.67, calc_logit=0.0, ds_shift=0.0, cac_factor=1.0),
    "canon_eid_fc03": dict(vendor="Canon", kernel="FC03", detector="energy_integrating", sigma0=25.0,
                           slice=0.5, calc_logit=0.0, ds_shift=0.0, cac_factor=1.0),
    "siemens_eid_bv49": dict(vendor="Siemens", kernel="Bv49", detector="energy_integrating", sigma0=26.0,
                             slice=0.6, calc_logit=0.0, ds_shift=0.0, cac_factor=1.0),
    "siemens_pcd_qr40": dict(vendor="Siemens", kernel="Qr40", detector="photon_counting", sigma0=18.0,
                             slice=0.6, calc_logit=-0.3, ds_shift=-3.0, cac_factor=0.9),
    "siemens_pcd_qr56": dict(vendor="Siemens", kernel="Qr56", detector="photon_counting", sigma0=21.0,
                             slice=0.6, calc_logit=-0.4, ds_shift=-4.0, cac_factor=0.9),
}
SCANNER_IDS = tuple(SCANNERS)
#: Named scanner mixes (weights of the scanner models from which each site's fleet is drawn).
SCANNER_MIXES: dict[str, dict[str, float]] = {
    "development": {"siemens_eid_bv40": 0.25, "ge_eid_standard": 0.25, "philips_eid_xcb": 0.20,
                    "canon_eid_fc03": 0.20, "siemens_eid_bv49": 0.05, "siemens_pcd_qr40": 0.05},
    "external": {"siemens_pcd_qr40": 0.35, "siemens_pcd_qr56": 0.15, "canon_eid_fc03": 0.20,
                 "ge_eid_standard": 0.10, "philips_eid_xcb": 0.10, "siemens_eid_bv40": 0.10},
}
_SITE_RE = re.compile(r"^site(\d+)$")


def site_number(site_id: str) -> int | None:
    """The number of a ``siteNN`` id, None for other spellings.

    Examples
    --------
    >>> site_number("site09"), site_number("clinic-a")
    (9, None)
    """
    m = _SITE_RE.match(str(site_id))
    return int(m.group(1)) if m else None


def _mix_weights(mix) -> np.ndarray:
    if isinstance(mix, str):
        if mix not in SCANNER_MIXES:
            raise RadioriskError(f"scanner_mix {mix!r} is not one of {sorted(SCANNER_MIXES)} (or a mapping "
                                 f"scanner model -> weight over {list(SCANNER_IDS)})")
        mix = SCANNER_MIXES[mix]
    if not isinstance(mix, Mapping) or not mix:
        raise RadioriskError(f"scanner_mix must be a name or a non-empty mapping, got {mix!r}")
    w = np.zeros(len(SCANNER_IDS))
    for k, v in mix.items():
        if k not in SCANNERS:
            raise RadioriskError(f"scanner_mix: unknown scanner model {k!r}; known: {list(SCANNER_IDS)}")
        if not np.isfinite(float(v)) or float(v) < 0:
            raise RadioriskError(f"scanner_mix[{k!r}] = {v} must be a non-negative number")
        w[SCANNER_IDS.index(k)] = float(v)
    if w.sum() <= 0:
        raise RadioriskError("scanner_mix has no positive weight")
    return w / w.sum()


@dataclass(frozen=True)
class SiteSpec:
    """How many sites, how they are numbered and how much they differ.

    Parameters
    ----------
    n_sites : int
        Number of sites (ids ``site{first_site:02d}`` onwards).
    first_site : int
        Number of the first site (an external cohort continues after the development sites).
    hazard_sd : float
        Between-site SD of the log baseline-hazard multiplier (every cardiac cause).
    age_sd, burden_sd, risk_factor_sd, ethnicity_sd, size_sd : float
        Between-site SDs of the case mix: mean age (years), latent burden A, the logits of
        diabetes and current smoking, the log weights of the coarse ethnicity groups, and
        the log share of patients per site.
    scanner_mix : str or dict
        ``"development"`` (energy-integrating, 5 % photon-counting), ``"external"``
        (50 % photon-counting) or a mapping scanner model -> weight (:data:`SCANNERS`).
    primary_share : tuple of float
        Range of the share of a site's scans on its primary scanner (the rest on a second model).

    Examples
    --------
    >>> SiteSpec.coerce(4).site_ids()
    ['site01', 'site02', 'site03', 'site04']
    >>> SiteSpec.coerce({"n_sites": 2, "first_site": 9}).site_ids()
    ['site09', 'site10']
    """

    n_sites: int
    first_site: int = 1
    hazard_sd: float = 0.25
    age_sd: float = 3.0
    burden_sd: float = 0.2
    risk_factor_sd: float = 0.3
    ethnicity_sd: float = 0.7
    size_sd: float = 0.4
    scanner_mix: str | dict = "development"
    primary_share: tuple = (0.6, 0.95)

    def __post_init__(self):
        for name in ("n_sites", "first_site"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise RadioriskError(f"sites: {name} must be a positive integer, got {v!r}")
        for name in ("hazard_sd", "age_sd", "burden_sd", "risk_factor_sd", "ethnicity_sd", "size_sd"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating)) or not np.isfinite(v) or v < 0:
                raise RadioriskError(f"sites: {name} must be a number >= 0, got {v!r}")
        lo, hi = (float(x) for x in self.primary_share)
        if not 0 < lo <= hi <= 1:
            raise RadioriskError(f"sites: primary_share {self.primary_share!r} must satisfy 0 < low <= high <= 1")
        object.__setattr__(self, "primary_share", (lo, hi))
        _mix_weights(self.scanner_mix)

    def site_ids(self) -> list[str]:
        """The site ids, ``site01``-style (at least two digits)."""
        return [f"site{self.first_site + i:02d}" for i in range(self.n_sites)]

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (inverse of :meth:`coerce`)."""
        d = asdict(self)
        d["primary_share"] = list(self.primary_share)
        return d

    @classmethod
    def coerce(cls, sites) -> SiteSpec:
        """Accept a SiteSpec, a number of sites, a mapping of the fields or a JSON object string."""
        if isinstance(sites, SiteSpec):
            return sites
        if isinstance(sites, str) and sites.strip().startswith("{"):
            try:
                sites = json.loads(sites)
            except json.JSONDecodeError as exc:
                raise RadioriskError(f"sites: invalid JSON ({exc})") from exc
        if isinstance(sites, Mapping):
            unknown = set(sites) - set(cls.__dataclass_fields__)
            if unknown:
                raise RadioriskError(f"sites: unknown option(s) {sorted(unknown)}; allowed: "
                                     f"{sorted(cls.__dataclass_fields__)}")
            return cls(**dict(sites))
        if isinstance(sites, (int, np.integer)) and not isinstance(sites, bool):
            return cls(n_sites=int(sites))
        raise RadioriskError(f"sites must be a number of sites, a mapping or a SiteSpec, got {sites!r}")


@dataclass(frozen=True)
class SiteDesign:
    """The drawn site-level parameters (one entry per site, in site order).

    Attributes
    ----------
    spec : SiteSpec
    site_ids : numpy.ndarray of str
    weight : numpy.ndarray
        Share of the patients drawn from each site (before any selection on disease).
    age_shift, burden_shift, dm_logit, smoke_logit, log_hr : numpy.ndarray
        Case-mix shifts and the log baseline-hazard multiplier (centred to mean 0 over sites).
    ethnicity_log_weight : numpy.ndarray of shape (n_sites, 5)
        Log weight of each coarse ethnicity group (white, south_asian, black, east_asian, other).
    primary, secondary : numpy.ndarray of int
        Scanner models (indices into :data:`SCANNERS`); ``primary_share`` of a site's scans
        are on the primary one.  The primary models are a systematic sample of the scanner
        mix (in random site order), the secondary ones a random draw of another model.
    """

    spec: SiteSpec
    site_ids: np.ndarray
    weight: np.ndarray
    age_shift: np.ndarray
    burden_shift: np.ndarray
    dm_logit: np.ndarray
    smoke_logit: np.ndarray
    ethnicity_log_weight: np.ndarray
    log_hr: np.ndarray
    primary: np.ndarray
    secondary: np.ndarray
    primary_share: np.ndarray
    rng_sites: np.random.Generator = field(repr=False, compare=False)
    rng_scanners: np.random.Generator = field(repr=False, compare=False)

    def assign(self, m: int) -> np.ndarray:
        """Site index of ``m`` new patients (draws from the design's patient-site stream)."""
        cdf = np.cumsum(self.weight)
        return np.minimum(np.searchsorted(cdf / cdf[-1], self.rng_sites.random(m), side="right"),
                          len(self.weight) - 1)

    def scanners(self, site: np.ndarray) -> np.ndarray:
        """Scanner model index of each patient's scan (primary with the site's primary share)."""
        u = self.rng_scanners.random(len(site))
        return np.where(u < self.primary_share[site], self.primary[site], self.secondary[site])

    def records(self) -> list[dict]:
        """One JSON-serialisable dict per site (what ``provenance.json`` records)."""
        g5 = ("white", "south_asian", "black", "east_asian", "other")
        return [dict(site_id=str(s), weight=round(float(self.weight[i]), 4),
                     age_shift_years=round(float(self.age_shift[i]), 3),
                     burden_shift=round(float(self.burden_shift[i]), 4),
                     diabetes_logit_shift=round(float(self.dm_logit[i]), 4),
                     smoking_logit_shift=round(float(self.smoke_logit[i]), 4),
                     ethnicity_log_weight={g: round(float(v), 4) for g, v in zip(g5, self.ethnicity_log_weight[i], strict=True)},
                     log_baseline_hr=round(float(self.log_hr[i]), 4),
                     primary_scanner=SCANNER_IDS[self.primary[i]], secondary_scanner=SCANNER_IDS[self.secondary[i]],
                     primary_share=round(float(self.primary_share[i]), 4))
                for i, s in enumerate(self.site_ids)]


def _centred(x: np.ndarray) -> np.ndarray:
    return x - x.mean(axis=0)


def draw_site_design(spec: SiteSpec, seed_sequence: np.random.SeedSequence) -> SiteDesign:
    """Draw the site-level parameters of ``spec`` from ``seed_sequence`` (the cohort's stream 11).

    Parameters
    ----------
    spec : SiteSpec
    seed_sequence : numpy.random.SeedSequence
        Spawned into three generators: the site design, the patients' sites and their scanners.

    Returns
    -------
    SiteDesign

    Examples
    --------
    >>> d = draw_site_design(SiteSpec(n_sites=3, hazard_sd=0.3), np.random.SeedSequence(0))
    >>> d.site_ids.tolist(), round(float(d.log_hr.mean()), 12), round(float(d.weight.sum()), 6)
    (['site01', 'site02', 'site03'], 0.0, 1.0)
    """
    g_design, g_sites, g_scan = (np.random.default_rng(s) for s in seed_sequence.spawn(3))
    k = spec.n_sites
    w = np.exp(g_design.normal(0.0, spec.size_sd, k))
    age = _centred(g_design.normal(0.0, spec.age_sd, k))
    burden = _centred(g_design.normal(0.0, spec.burden_sd, k))
    dm = _centred(g_design.normal(0.0, spec.risk_factor_sd, k))
    smoke = _centred(g_design.normal(0.0, spec.risk_factor_sd, k))
    eth = _centred(g_design.normal(0.0, spec.ethnicity_sd, (k, 5)))
    log_hr = _centred(g_design.normal(0.0, spec.hazard_sd, k))
    p = _mix_weights(spec.scanner_mix)
    # primary scanners by systematic sampling of the mix (so that the sites' fleets follow it
    # closely even with few sites), in random site order
    cdf = np.cumsum(p)
    primary = g_design.permutation(np.minimum(np.searchsorted(cdf / cdf[-1], (np.arange(k) + g_design.random()) / k,
                                                              side="right"), len(p) - 1))
    secondary = np.empty(k, np.int64)
    for i in range(k):
        q = p.copy()
        q[primary[i]] = 0.0
        secondary[i] = g_design.choice(len(q), p=q / q.sum()) if q.sum() > 0 else primary[i]
    share = g_design.uniform(*spec.primary_share, k)
    return SiteDesign(spec=spec, site_ids=np.array(spec.site_ids(), dtype=object), weight=w / w.sum(),
                      age_shift=age, burden_shift=burden, dm_logit=dm, smoke_logit=smoke,
                      ethnicity_log_weight=eth, log_hr=log_hr, primary=primary, secondary=secondary,
                      primary_share=share, rng_sites=g_sites, rng_scanners=g_scan)
