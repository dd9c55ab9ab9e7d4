"""Read and check a predictions file for an audit (:func:`read_predictions`, :class:`Predictions`).

The input half of ``radiorisk audit`` (:mod:`radiorisk.pipeline._audit` runs the audit and
writes its folder). Every invalid value is named by file, row, column and rule; a stacked
out-of-fold file (one row per patient and repeat) is refused, or averaged per id with
``average_repeats=True``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..exceptions import AuditUsageError, InputFileError, SchemaError

__all__ = ["Predictions", "read_predictions"]

#: The column that numbers the repeats of a stacked out-of-fold file (``radiorisk fit``'s oof_predictions.csv).
REPEAT_COLUMN = "repeat"
_DEFAULT_ID = "patient_id"

_MAX_LISTED = 50
_STATUS_RULE = "is not 0 (censored), 1 (event of interest) or 2 (competing event)"
_NEEDS_COMPETING = ("\n{path}: column {col!r} has {n} value(s) 2, a competing event (0 = censored, "
                    "1 = event of interest, 2 = competing event): audit them with competing_risks=True "
                    "(competing-risk estimands: Aalen-Johansen observed risk; competing events are not "
                    "censored); to treat them as censoring, recode 2 as 0 in the file")


@dataclass(frozen=True)
class Predictions:
    """A validated predictions table.

    Attributes
    ----------
    data : DataFrame
        Numeric risk/outcome columns as float64; group columns as the strings
        written in the file.
    path : Path
        The file read.
    averaged : str
        How repeats were averaged per id (``average_repeats=True``), or "".
    """

    data: pd.DataFrame
    path: Path
    averaged: str = ""


def _rule_violations(path, raw: pd.Series, col: str, rule: str, bad: pd.Series) -> list[str]:
    out = []
    for i in np.flatnonzero(bad.to_numpy()):
        out.append(f"{path}: row {i + 1} (line {i + 2}), column {col!r}: value {raw.iloc[i]!r} {rule}")
    return out


def _check_status(path, raw: pd.Series, e: pd.Series, col: str, competing_risks: bool, problems: list) -> str:
    """Add the event column's rule violations to ``problems``; returns the competing-risk hint (or "")."""
    codes, rule = ([0.0, 1.0, 2.0], _STATUS_RULE) if competing_risks else ([0.0, 1.0], "is not 0 or 1")
    problems.extend(_rule_violations(path, raw, col, rule, e.notna() & ~e.isin(codes)))
    if not competing_risks and (e == 2).any():
        return _NEEDS_COMPETING.format(path=path, col=col, n=int((e == 2).sum()))
    return ""


def read_predictions(
    path,
    *,
    risk_col: str,
    outcome_col: str | None = None,
    time_col: str | None = None,
    event_col: str | None = None,
    groups=(),
    competing_risks: bool = False,
    id_col: str | None = None,
    average_repeats: bool = False,
) -> Predictions:
    """Read and validate a predictions CSV; every violation is reported at once.

    Parameters
    ----------
    path : path-like
        Comma-separated file with a header row (UTF-8, optional BOM).
    risk_col : str or sequence of str
        Predicted probability, numeric in [0, 1] (several columns: one per horizon of a
        survival audit at several horizons).
    outcome_col : str, optional
        Binary outcome, 0 or 1 (binary audit).
    time_col, event_col : str, optional
        Follow-up time (> 0) and event indicator (0/1) (survival audit).
    groups : sequence of str
        Group columns; read as strings exactly as written. Empty and ``NA``
        values are allowed (those rows are left out of that attribute's groups).
    competing_risks : bool
        ``event_col`` is a status: 0 = censored, 1 = the event of interest, 2 = a
        competing event. Without it a 2 is refused with a message that explains
        the option.
    id_col : str, optional
        The column that identifies the patient (default ``patient_id`` when the file
        has it). Duplicated ids, or a ``repeat`` column with more than one value (a
        stacked out-of-fold file), are refused unless ``average_repeats``.
    average_repeats : bool
        Average the rows of each id: risk = mean over its rows (each risk column); outcome,
        time, event and groups must be constant per id (else refused, naming the rows). The
        id column is not kept.

    Returns
    -------
    Predictions

    Raises
    ------
    InputFileError
        The file is missing, empty, unreadable or not comma-separated.
    SchemaError
        Columns are missing, or values break a rule (non-numeric or missing
        risk/time/event/outcome, risk outside [0, 1], time <= 0, event or
        outcome not 0/1, or with ``competing_risks`` an event not 0/1/2). The
        message names the file, row, column, value and rule. Also: a stacked file
        without ``average_repeats`` (the message says how to average), or with it,
        values that change between the rows of one id.
    AuditUsageError
        ``average_repeats`` without an id column.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     f = Path(d) / "pred.csv"
    ...     _ = f.write_text("y,p,sex\\n1,0.2,F\\n0,0.1,M\\n")
    ...     pr = read_predictions(f, risk_col="p", outcome_col="y", groups=["sex"])
    >>> pr.data["sex"].tolist()
    ['F', 'M']
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError as exc:
        raise InputFileError(f"{path}: the file is empty") from exc
    except (UnicodeDecodeError, pd.errors.ParserError, csv.Error) as exc:
        raise InputFileError(f"{path}: cannot be read as a UTF-8 comma-separated file: {exc}") from exc
    if raw.shape[1] == 1 and any(s in str(raw.columns[0]) for s in (";", "\t", "|")):
        raise InputFileError(f"{path}: expected comma-separated columns; the header is {raw.columns[0]!r}")
    if len(raw) == 0:
        raise InputFileError(f"{path}: no data rows")
    risk_cols = [risk_col] if isinstance(risk_col, str) else list(dict.fromkeys(risk_col))
    wanted = (risk_cols + ([outcome_col] if outcome_col else [time_col, event_col]) + list(groups)
              + ([id_col] if id_col is not None else []))
    missing = [c for c in dict.fromkeys(wanted) if c not in raw.columns]
    if missing:
        raise SchemaError(f"{path}: missing column(s) {', '.join(map(repr, missing))}; "
                          f"the file has {', '.join(map(repr, raw.columns))}")
    problems: list[str] = []
    hint = ""  # how to audit competing events, when a status 2 is refused
    data = pd.DataFrame(index=raw.index)

    def numeric(col: str) -> pd.Series:
        s = raw[col].str.strip()
        v = pd.to_numeric(s, errors="coerce")
        v = v.where(np.isfinite(v.astype(float)), np.nan)
        problems.extend(_rule_violations(path, raw[col], col, "is not a finite number", v.isna()))
        return v.astype(float)

    for rc in risk_cols:
        r = numeric(rc)
        problems.extend(_rule_violations(path, raw[rc], rc, "is outside [0, 1]", r.notna() & ((r < 0) | (r > 1))))
        data[rc] = r
    if outcome_col:
        y = numeric(outcome_col)
        problems.extend(_rule_violations(path, raw[outcome_col], outcome_col, "is not 0 or 1",
                                         y.notna() & ~y.isin([0.0, 1.0])))
        data[outcome_col] = y
    else:
        t = numeric(time_col)
        problems.extend(_rule_violations(path, raw[time_col], time_col, "is not > 0",
                                         t.notna() & (t <= 0)))
        e = numeric(event_col)
        hint = _check_status(path, raw[event_col], e, event_col, competing_risks, problems)
        data[time_col] = t
        data[event_col] = e
    for g in dict.fromkeys(groups):
        data[g] = raw[g]
    if problems:
        shown = problems[:_MAX_LISTED]
        more = f"\n... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise SchemaError(f"{path}: {len(problems)} invalid value(s):\n" + "\n".join(shown) + more + hint)
    data, averaged = _repeats(path, raw, data, id_col, average_repeats, risk_cols)
    return Predictions(data=data, path=path, averaged=averaged)


def _repeats(path, raw: pd.DataFrame, data: pd.DataFrame, id_col, average_repeats: bool,
             risk_cols: list[str]) -> tuple[pd.DataFrame, str]:
    """Refuse a stacked file (duplicated ids, a ``repeat`` column) or average its rows per id.

    Returns the data (one row per id when averaged; the id column is never kept) and a
    note saying how it was averaged ("" when not). No id value appears in a message.
    """
    col = id_col if id_col is not None else (_DEFAULT_ID if _DEFAULT_ID in raw.columns else None)
    n_rep = int(raw[REPEAT_COLUMN].nunique()) if REPEAT_COLUMN in raw.columns else 1
    stacked = ("the file looks like stacked out-of-fold predictions (one row per patient and repeat); "
               "audited as is, each patient counts once per repeat and the CIs are too narrow")
    if col is None:
        if average_repeats:
            raise AuditUsageError("average_repeats=True needs id_col (the column that identifies the patient; "
                                  f"{_DEFAULT_ID} is used when the file has it)")
        if n_rep > 1:
            raise SchemaError(f"{path}: column {REPEAT_COLUMN!r} has {n_rep} values: {stacked}. Average the "
                              "repeats per patient with id_col=COL, average_repeats=True (COL: the column "
                              "that identifies the patient)")
        return data, ""
    ids = raw[col]
    counts = ids.value_counts(sort=False)
    n_dup, most = int((counts > 1).sum()), int(counts.max())
    if not average_repeats:
        if n_dup or n_rep > 1:
            what = (f"{n_dup} id(s) in column {col!r} appear more than once (up to {most} rows each)"
                    if n_dup else f"column {REPEAT_COLUMN!r} has {n_rep} values")
            raise SchemaError(f"{path}: {what}, {max(n_rep, most)} repeats: {stacked}. Average the repeats "
                              f"per patient with id_col={col!r}, average_repeats=True (risk = mean over "
                              "repeats), or keep one row per patient")
        return data, ""
    if n_rep > 1 and not n_dup:
        raise SchemaError(f"{path}: column {REPEAT_COLUMN!r} has {n_rep} values but no id in column {col!r} "
                          "appears more than once: give as id_col the column that identifies the patient")
    problems = _rule_violations(path, ids, col, "is an empty id", ids.str.strip() == "")
    key = ids.to_numpy()
    for c in data.columns:
        if c not in risk_cols:
            first = data[c].groupby(key, sort=False).transform("first")
            problems.extend(_rule_violations(path, raw[c], c, "differs from the first row of its id (it must "
                                             "be constant over the repeats)", first != data[c]))
    if problems:
        shown = problems[:_MAX_LISTED]
        more = f"\n... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise SchemaError(f"{path}: average_repeats=True: {len(problems)} invalid value(s):\n"
                          + "\n".join(shown) + more)
    how = {c: ("mean" if c in risk_cols else "first") for c in data.columns}
    out = data.groupby(key, sort=False).agg(how).reset_index(drop=True)
    note = (f"averaged {len(data)} rows to {len(out)} ids (id column {col!r}, up to {most} repeats each): "
            "risk = mean over the repeats; outcome, time, event and groups are constant per id")
    return out, note
