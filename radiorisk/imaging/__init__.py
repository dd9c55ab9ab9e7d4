"""Imaging: quantitative plaque metrics and radiomics (pyradiomics) with a fast batch engine.

Public names
------------
read_image, check_same_geometry
    Read NIfTI/NRRD/DICOM volumes with clear errors; compare geometry.
PlaqueThresholds, plaque_metrics, scan_specific_thresholds
    Plaque volumes by HU class, burden, HU statistics, spotty calcium, remodelling index.
RadiomicsParams, load_params, PRESETS
    Versioned pyradiomics presets (``ccta-plaque``, ``ibsi``) and safe user YAML.
measure_plaque, patient_plaque_summary, HighRiskRules
    Plaque metrics for every manifest lesion, high-risk features, patient-level summary.
ExtractionResult, extract_radiomics
    The batch engine: crop per lesion, parallel (processes or Dask), resumable store.
read_manifest_for_extraction, to_long
    The manifest as the engine reads it (paths checked and resolved); a wide feature table
    in the long format of the store.
Perturbation, parse_perturbations, perturb_lesion, estimate_noise_sd, FAMILIES
    MIRP-style image and contour perturbations of a lesion (noise at the image's own level,
    rotations, translations, one-voxel dilation/erosion, supervoxel contour randomisation), used by
    ``radiorisk robustness``.
VoxelFeatureMaps, voxel_feature_maps, radiomic_feature_of_column, VoxelMapError
    Voxel-based feature maps (pyradiomics) of a lesion and a margin: the heatmaps of the patient report.
"""

from ._engine import ExtractionResult, extract_radiomics
from ._manifest import read_manifest_for_extraction
from ._measure import HighRiskRules, measure_plaque, patient_plaque_summary
from ._params import PRESETS, RadiomicsParams, load_params
from ._perturb import FAMILIES, Perturbation, estimate_noise_sd, parse_perturbations, perturb_lesion
from ._quant import PlaqueThresholds, plaque_metrics, scan_specific_thresholds
from ._read import check_same_geometry, read_image
from ._store import to_long
from ._voxel_maps import (
    VoxelFeatureMaps,
    VoxelMapError,
    radiomic_feature_of_column,
    voxel_feature_maps,
)

__all__ = [
    "ExtractionResult",
    "extract_radiomics",
    "HighRiskRules",
    "measure_plaque",
    "patient_plaque_summary",
    "PRESETS",
    "RadiomicsParams",
    "load_params",
    "PlaqueThresholds",
    "plaque_metrics",
    "scan_specific_thresholds",
    "check_same_geometry",
    "read_image",
    "read_manifest_for_extraction",
    "to_long",
    "FAMILIES",
    "Perturbation",
    "estimate_noise_sd",
    "parse_perturbations",
    "perturb_lesion",
    "VoxelFeatureMaps",
    "VoxelMapError",
    "voxel_feature_maps",
    "radiomic_feature_of_column",
]
