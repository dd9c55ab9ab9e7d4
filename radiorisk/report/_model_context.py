"""The inputs of the model report (one object the section builders read) and its group attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["ModelReportInputs", "ReportExplanations", "report_attributes", "REPORT_GROUP_ATTRIBUTES",
           "NET_BENEFIT_THRESHOLDS"]

#: Risk thresholds of the model report's net-benefit table.
NET_BENEFIT_THRESHOLDS = (0.025, 0.05, 0.075, 0.10, 0.15, 0.20)
#: The group attributes the model report shows (when the predictions carry them).
REPORT_GROUP_ATTRIBUTES = ("sex", "ethnicity")


@dataclass(frozen=True)
class ReportExplanations:
    """The SHAP explanations the model report shows, computed by the pipeline.

    Attributes
    ----------
    status : {"ok", "no_data", "missing_columns", "error"}
    shap : ShapResult or None
    sampled : bool
        SHAP was computed on a random sample of the cohort.
    by_group : tuple of (str, SubgroupShap or None, str)
        Per group attribute: the result, or None and why it was not computed.
    missing_columns : tuple of str
        Model inputs absent from the cohort (``status == "missing_columns"``).
    error : str
        Why SHAP could not be computed (``status == "error"``).
    """

    status: str
    shap: object = None
    sampled: bool = False
    by_group: tuple = ()
    missing_columns: tuple = ()
    error: str = ""


@dataclass
class ModelReportInputs:
    """Everything the model report's sections read: the RUN, its audit and the cohort (filled by the pipeline).

    Section builders may add ``limitations`` and ``avail`` while they format.
    """

    run: Path
    prov: dict
    config: dict
    horizon: float
    oof: pd.DataFrame
    pred: pd.DataFrame
    ladder: pd.DataFrame
    model: object
    manifest: dict
    audit_dir: Path
    audit_source: str
    data_dir: Path | None = None
    cohort: object = None
    data: object = None
    data_notes: list = field(default_factory=list)
    hash_mismatch: list = field(default_factory=list)
    limitations: list = field(default_factory=list)
    seed: int = 0
    n_boot: int = 200
    shap_sample: int = 500
    avail: pd.DataFrame | None = None  # patients, events, follow-up and block availability by group
    oof_ids: pd.Index | None = None  # the out-of-fold id of each row of data.X (pseudonyms), when known
    # statistics computed by the pipeline before the report formats them
    follow_up_median: float = float("nan")  # reverse Kaplan-Meier median potential follow-up
    observed: dict = field(default_factory=dict)  # (attribute, group) -> KM risk (estimate, lo, hi)
    availability_p: dict = field(default_factory=dict)  # (block, attribute) -> chi-square p
    extrapolation: pd.DataFrame | None = None  # patient_id -> extrapolated (first CV repeat)
    explanations: ReportExplanations | None = None
    iecv: pd.DataFrame | None = None  # RUN/iecv.csv (fit --cv-by)
    sample_size: pd.DataFrame | None = None  # parameters the data support per ladder rung (Riley)
    sample_size_note: str = ""  # where the anticipated R² came from, or why there is no table
    net_benefit: pd.DataFrame | None = None  # survival_net_benefit at NET_BENEFIT_THRESHOLDS
    imputation: pd.DataFrame | None = None  # Rubin-pooled coefficients of a multiply imputed Cox model
    mnar_sensitivity: pd.DataFrame | None = None  # RUN/mnar_sensitivity.csv (fit --impute mice:M)
    optimism: pd.DataFrame | None = None  # RUN/optimism.csv with the CV value of each index (fit --optimism-boot)


def report_attributes(pred: pd.DataFrame) -> list[str]:
    """The group attributes of :data:`REPORT_GROUP_ATTRIBUTES` that ``pred`` carries (not all missing).

    Examples
    --------
    >>> report_attributes(pd.DataFrame({"sex": ["F", "M"], "ethnicity": [None, None]}))
    ['sex']
    """
    return [a for a in REPORT_GROUP_ATTRIBUTES if a in pred.columns and pred[a].notna().any()]
