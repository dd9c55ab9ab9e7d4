"""Features: robustness across readers, lesion-to-patient aggregation, cohort assembly.

Public names
------------
icc, feature_icc, robust_features
    ICC(2,1) with 95 % CI per feature across readers, and the ICC filter.
aggregate_lesions
    Lesion-to-patient radiomics (max, volume-weighted mean, sums; explicit no-plaque rows).
assemble_cohort, CohortData, MODALITY_BLOCKS, MACE_COMPONENTS, DEFAULT_MACE
    One row per patient with the MACE outcome and the modality blocks clinical | ccta | radiomics | pet.
add_batch_columns, batch_column, parse_batch, BATCH_PREFIX
    Scanner batch labels (``batch:vendor`` ...) carried next to the features for ComBat harmonisation.
index_scans
    Each patient's first scan (earliest ``scan_date``), the scan the ccta block describes.
"""

from ._aggregate import aggregate_lesions
from ._assemble import DEFAULT_MACE, MACE_COMPONENTS, MODALITY_BLOCKS, CohortData, assemble_cohort
from ._batch import BATCH_PREFIX, add_batch_columns, batch_column, parse_batch
from ._blocks import index_scans
from ._robustness import feature_icc, icc, robust_features

__all__ = [
    "BATCH_PREFIX",
    "add_batch_columns",
    "batch_column",
    "parse_batch",
    "CohortData",
    "DEFAULT_MACE",
    "MACE_COMPONENTS",
    "MODALITY_BLOCKS",
    "aggregate_lesions",
    "assemble_cohort",
    "feature_icc",
    "icc",
    "index_scans",
    "robust_features",
]
