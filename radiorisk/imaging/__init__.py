"""Imaging: quantitative plaque metrics and radiomics (pyradiomics) with a fast batch engine.

Public names
------------
read_image, check_same_geometry
    Read NIfTI/NRRD/DICOM volumes with clear errors; compare geometry.
one_thread
    One ITK and one BLAS thread while extracting (results independent of the machine's cores).
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

from .._lazy import lazy_exports

# each name is imported from its submodule when first used (radiorisk._lazy): a spawned radiomics
# worker imports _worker alone, and `extract` starts its workers before the engine is imported
_NAMES = {
    "ExtractionResult": "_engine",
    "extract_radiomics": "_extract",
    "read_manifest_for_extraction": "_manifest",
    "HighRiskRules": "_measure",
    "measure_plaque": "_measure",
    "patient_plaque_summary": "_measure",
    "PRESETS": "_params",
    "RadiomicsParams": "_params",
    "load_params": "_params",
    "FAMILIES": "_perturb",
    "Perturbation": "_perturb",
    "estimate_noise_sd": "_perturb",
    "parse_perturbations": "_perturb",
    "perturb_lesion": "_perturb",
    "PlaqueThresholds": "_quant",
    "plaque_metrics": "_quant",
    "scan_specific_thresholds": "_quant",
    "check_same_geometry": "_read",
    "read_image": "_read",
    "one_thread": "_worker",
    "to_long": "_store",
    "VoxelFeatureMaps": "_voxel_maps",
    "VoxelMapError": "_voxel_maps",
    "radiomic_feature_of_column": "_voxel_maps",
    "voxel_feature_maps": "_voxel_maps",
}

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
    "one_thread",
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

__getattr__, __dir__ = lazy_exports(__name__, _NAMES, globals())
