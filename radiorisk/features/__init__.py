"""Features: robustness across readers, lesion-to-patient aggregation, cohort assembly.

Public names
------------
icc, feature_icc, robust_features
    ICC(2,1) with 95 % CI per feature across readers, and the ICC filter.
aggregate_lesions
    Lesion-to-patient radiomics (max, volume-weighted mean, sums; explicit no-plaque rows).
"""

from ._aggregate import aggregate_lesions
from ._robustness import feature_icc, icc, robust_features

__all__ = ["aggregate_lesions", "feature_icc", "icc", "robust_features"]
