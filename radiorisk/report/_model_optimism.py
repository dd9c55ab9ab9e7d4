"""The model report's internal validation: cross-validation and the optimism-corrected bootstrap side by side.

:func:`internal_validation` formats ``ModelReportInputs.optimism`` (``RUN/optimism.csv`` of
``radiorisk fit --optimism-boot B`` with the cross-validated value of each index, computed by
the pipeline) into a table and sentences of the discrimination section.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._model_base import _ci
from ._model_context import ModelReportInputs

__all__ = ["internal_validation", "INTERNAL_VALIDATION_TITLE"]

#: Title of the side-by-side table.
INTERNAL_VALIDATION_TITLE = "Internal validation: cross-validation and optimism-corrected bootstrap"

_LABELS = {"harrell_c": "Harrell's C", "dxy": "Somers' Dxy (2C - 1)",
           "calibration_slope": "calibration slope", "oe_ratio": "O/E at the horizon",
           "brier": "Brier score at the horizon (IPCW)"}

_EXPLAIN = ("Cross-validation scores the modelling procedure refitted on part of the patients "
            "and tested on the others, so it describes a model fitted on fewer patients than the final "
            "one; the optimism-corrected bootstrap (Efron-Gong, as rms::validate) scores the final model "
            "itself: its apparent performance on the patients it was fitted on, minus the optimism "
            "measured by refitting the whole pipeline on {B} bootstrap samples and comparing each refit "
            "on its own sample with the original patients. Both correct for overfitting; they usually "
            "agree within a few hundredths, the cross-validated figure tending to be slightly lower.")


def internal_validation(ctx: ModelReportInputs) -> tuple[tuple, tuple]:
    """``(tables, sentences)`` of the side-by-side comparison; empty without ``optimism.csv``."""
    opt = ctx.optimism
    if opt is None or not len(opt):
        return (), ()
    o = opt.set_index("index")
    B = int(o["n_used"].iloc[0] + o["n_failed"].iloc[0])  # n_used + n_failed = B for every index
    rows = []
    for k, row in o.iterrows():
        rows.append({"index": _LABELS.get(k, k), "cross-validation (OOF)": _ci(row.get("cross_validation"),
                                                                                None, None),
                     "apparent": _ci(row["apparent"], None, None), "optimism": _ci(row["optimism"], None, None),
                     "bootstrap corrected": _ci(row["corrected"], None, None),
                     "resamples used": int(row["n_used"]), "failed": int(row["n_failed"])})
    say = [_EXPLAIN.format(B=B)]
    if "harrell_c" in o.index:
        c = o.loc["harrell_c"]
        cv = c.get("cross_validation", np.nan)
        s = (f"Harrell's C of the final model was {_ci(c['apparent'], None, None)} on its own patients; "
             f"the bootstrap optimism was {c['optimism']:.3f}, giving {_ci(c['corrected'], None, None)}")
        say.append(s + (f", against {_ci(cv, None, None)} in cross-validation." if np.isfinite(cv) else "."))
    if "calibration_slope" in o.index:
        sl = o.loc["calibration_slope"]
        say.append(f"The optimism-corrected calibration slope is {_ci(sl['corrected'], None, None)} "
                   "(1 = no overfitting; below 1, predictions are too extreme and would benefit from "
                   "shrinkage).")
    failed = int(o["n_failed"].max())
    if failed:
        say.append(f"{failed} bootstrap resample(s) could not be fitted or scored for some index and were "
                   "left out of its mean (reasons in the run's notes).")
    return ((INTERNAL_VALIDATION_TITLE, pd.DataFrame(rows)),), tuple(say)
