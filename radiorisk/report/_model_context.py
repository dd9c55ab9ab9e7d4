"""The inputs of the model report (one object the section builders read) and its group attributes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["ModelReportInputs", "report_attributes", "REPORT_GROUP_ATTRIBUTES"]

#: The group attributes the model report shows (when the predictions carry them).
REPORT_GROUP_ATTRIBUTES = ("sex", "ethnicity")


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
    avail: pd.DataFrame | None = None
    oof_ids: pd.Index | None = None  # the out-of-fold id of each row of data.X (pseudonyms), when known


def report_attributes(pred: pd.DataFrame) -> list[str]:
    """The group attributes of :data:`REPORT_GROUP_ATTRIBUTES` that ``pred`` carries (not all missing).

    Examples
    --------
    >>> report_attributes(pd.DataFrame({"sex": ["F", "M"], "ethnicity": [None, None]}))
    ['sex']
    """
    return [a for a in REPORT_GROUP_ATTRIBUTES if a in pred.columns and pred[a].notna().any()]
