"""Synthetic MACE cohorts with plaque images (no real patient data ships with radiorisk).

Public names
------------
simulate_cohort, SyntheticCohort
    The latent causal model of DOMAIN.md section 6: patients, scans, lesions,
    PET, outcomes (MACE components, competing non-cardiac death) and truth.
BiasSpec, BIAS_PRESETS
    Bias injection (baseline hazard, measurement shift, effect modification,
    PET access, under-ascertainment, differential loss, representation).
write_synthetic_cohort, SynthResult
    Write a complete cohort folder (what ``radiorisk synth`` runs).
render_lesion_patch, write_lesion_images, write_fullsize_volumes, LABELS
    CT patches and plaque masks per lesion; full-size CCTA-like volumes.
"""

from ._bias import BIAS_PRESETS, BiasSpec
from ._cohort import SyntheticCohort, simulate_cohort
from ._images import LABELS, render_lesion_patch, write_fullsize_volumes, write_lesion_images
from ._write import SynthResult, write_synthetic_cohort

__all__ = [
    "BIAS_PRESETS",
    "BiasSpec",
    "LABELS",
    "SynthResult",
    "SyntheticCohort",
    "render_lesion_patch",
    "simulate_cohort",
    "write_fullsize_volumes",
    "write_lesion_images",
    "write_synthetic_cohort",
]
