"""Shared pieces of :mod:`radiorisk.mitigation`: result columns and group labels."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..evaluation import UNKNOWN_GROUP, read_group_labels

#: Columns of :attr:`GroupRecalibrator.params_`.
RECALIBRATION_COLUMNS = ("group", "n", "events", "intercept", "slope", "source", "flag", "flag_reason")
#: Columns of :attr:`GroupThresholds.table`.
THRESHOLD_COLUMNS = ("group", "threshold", "tpr", "fpr", "positive_rate", "n", "events", "flag",
                     "flag_reason")
#: Columns of :attr:`EqualizedOddsResult.table` (and :attr:`CalibratedEqualizedOdds.table_`).
EQUALIZED_ODDS_COLUMNS = ("group", "n", "base_rate", "gen_fpr", "gen_fnr", "cost_before", "mix_rate",
                          "cost_after", "flag", "flag_reason")

_SEP = ":"
_EPS = 1e-12


# ---------------------------------------------------------------------------------------------
# group labels
# ---------------------------------------------------------------------------------------------
def _group_cells(groups, n: int | None = None) -> np.ndarray:
    """One label per row: a 1-D array of labels, or the cells of several attributes joined by ":".

    Missing labels (None, NaN, ``""``, ``"NA"``) become :data:`UNKNOWN_GROUP`
    (a cell with any missing part is unknown), as in the audit.
    """
    if isinstance(groups, pd.DataFrame):
        cols = [groups[c].to_numpy(dtype=object) for c in groups.columns]
    elif isinstance(groups, Mapping):
        cols = [np.asarray(v, dtype=object) for v in groups.values()]
    else:
        a = np.asarray(groups, dtype=object)
        if a.ndim != 1:
            raise ValueError(f"groups must be 1-D labels, a DataFrame or a mapping; got shape {a.shape}")
        cols = [a]
    if not cols:
        raise ValueError("groups has no column")
    for c in cols:
        if c.ndim != 1 or (n is not None and len(c) != n):
            raise ValueError(f"groups has {len(c)} values; risk has {n}")
    labs = [read_group_labels(c) for c in cols]
    for lab in labs:
        if any(v == UNKNOWN_GROUP for v in lab):
            raise ValueError(f"a group is labelled {UNKNOWN_GROUP!r}, the label of missing values; rename it")
    out = np.empty(len(labs[0]), dtype=object)
    for i in range(len(out)):
        parts = [lab[i] for lab in labs]
        out[i] = UNKNOWN_GROUP if any(p is None for p in parts) else _SEP.join(parts)
    return out


def _frame(rows, columns) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=list(columns))
    for c in f.columns:
        if c in ("n", "events"):
            f[c] = f[c].astype(int)
        elif c == "flag":
            f[c] = f[c].astype(bool)
        elif c not in ("group", "source", "flag_reason"):
            f[c] = f[c].astype(float)
    return f
