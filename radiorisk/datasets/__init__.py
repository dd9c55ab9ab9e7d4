"""Synthetic MACE cohorts with plaque images (no real patient data ships with radiorisk).

Public names
------------
simulate_cohort, SyntheticCohort
    The latent causal model of DOMAIN.md section 6: patients, scans, lesions,
    PET, outcomes (MACE components, competing non-cardiac death) and truth.
BiasSpec, BIAS_PRESETS
    Bias injection (baseline hazard, measurement shift, effect modification,
    PET access, under-ascertainment, differential loss, representation), in
    groups of patients, sites, vendors or detectors.
SiteSpec, SCANNERS, SCANNER_MIXES
    A multi-site design: sites differing in case mix, baseline hazard and scanner
    fleet (vendor, kernel, energy-integrating or photon-counting detector).
site_heterogeneity, SiteHeterogeneity
    What a design achieved: per-site MACE risk, case and scanner mix, O/E and the
    between-site SD of the baseline log-hazard.
write_synthetic_cohort, SynthResult
    Write a complete cohort folder (what ``radiorisk synth`` runs), also the
    external cohort of another one (``external_of``).
true_mace_risk
    The true risk of MACE by a horizon of each simulated patient from the generator's hazards:
    the cumulative incidence with competing deaths, or the net risk.
render_lesion_patch, write_lesion_images, write_fullsize_volumes, LABELS
    CT patches and plaque masks per lesion; full-size CCTA-like volumes.
"""

from ._bias import BIAS_PRESETS, BiasSpec
from ._cohort import SyntheticCohort, simulate_cohort
from ._images import LABELS, render_lesion_patch, write_fullsize_volumes, write_lesion_images
from ._site_summary import SiteHeterogeneity, site_heterogeneity
from ._sites import SCANNER_MIXES, SCANNERS, SiteSpec
from ._true_risk import true_mace_risk
from ._write import SynthResult, write_synthetic_cohort

__all__ = [
    "BIAS_PRESETS",
    "BiasSpec",
    "LABELS",
    "SCANNERS",
    "SCANNER_MIXES",
    "SiteHeterogeneity",
    "SiteSpec",
    "SynthResult",
    "SyntheticCohort",
    "render_lesion_patch",
    "simulate_cohort",
    "site_heterogeneity",
    "write_fullsize_volumes",
    "write_lesion_images",
    "write_synthetic_cohort",
    "true_mace_risk",
]
