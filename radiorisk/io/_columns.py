"""Per-table checks: columns, cell types, ranges, categories, patterns, keys."""

from __future__ import annotations

import difflib
import re

import numpy as np
import pandas as pd

from ..schemas import FieldSpec, TableSchema
from ._read import RawTable, coerce, empty_typed
from ._report import (
    EXPECTED_TYPE,
    MSG_ENUM,
    MSG_EXCLUSIVE_MINIMUM,
    MSG_MAXIMUM,
    MSG_MINIMUM,
    MSG_MISSING_COLUMN,
    MSG_PATTERN,
    MSG_REQUIRED,
    MSG_TYPE,
    MSG_UNIQUE,
    MSG_UNKNOWN_COLUMN,
    Collector,
    fmt_value,
)

#: The manifest's ``reader`` defaults to this when the column or a cell is empty.
DEFAULT_READER = "reader1"


def _unit(spec: FieldSpec) -> str:
    if not spec.unit:
        return ""
    return spec.unit if spec.unit == "%" else f" {spec.unit}"


def enum_hint(value, allowed) -> str:
    """"; did you mean 'female'?" for case/whitespace or near misses, else ""."""
    text = str(value)
    folded = {str(a).strip().lower(): a for a in allowed}
    key = text.strip().lower()
    if key in folded:
        return f"; did you mean {str(folded[key])!r}? (categories are case-sensitive)"
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return f"; did you mean {str(folded[close[0]])!r}?" if close else ""


def column_hint(name: str, candidates) -> str:
    low = {c.lower(): c for c in candidates}
    if name.strip().lower() in low:
        return f"; did you mean {low[name.strip().lower()]!r}?"
    close = difflib.get_close_matches(name.strip().lower(), list(low), n=1, cutoff=0.6)
    return f"; did you mean {low[close[0]]!r}?" if close else ""


def check_table(raw: RawTable, schema: TableSchema, col: Collector, *,
                allow_extra_columns: bool = False) -> tuple[pd.DataFrame, set[str], dict]:
    """Type ``raw`` per ``schema``, recording every cell problem.

    Returns the typed frame (all schema columns in schema order, absent ones
    all-missing, extra columns appended when allowed), the set of columns
    that were present in the file, and column -> mask of cells that parsed but
    broke a range, category or pattern rule (cross-table checks skip them).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from radiorisk.io import Collector, read_raw
    >>> from radiorisk.schemas import load_schema
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pet.csv"
    >>> _ = p.write_text("patient_id,pet_available,missing_reason\\nP1,maybe,\\n")
    >>> col = Collector()
    >>> typed, present, invalid = check_table(read_raw(p, load_schema("pet"), col), load_schema("pet"), col)
    >>> sorted(present), col.frame()[["row", "column", "rule"]].values.tolist()
    (['missing_reason', 'patient_id', 'pet_available'], [[1, 'pet_available', 'type']])
    """
    df, table = raw.frame, schema.name
    names = [str(c) for c in df.columns]
    schema_names = schema.field_names
    known = set(schema_names)
    unknown = [c for c in names if c not in known]
    absent = [f for f in schema_names if f not in names]
    extra_ok = allow_extra_columns or schema.additional_fields
    if not extra_ok:
        for c in unknown:
            col.add(table, "unknown_column",
                    MSG_UNKNOWN_COLUMN.format(column=c, hint=column_hint(c, absent or schema_names)),
                    column=c)
    for f in schema.fields:
        if f.required and f.name not in names:
            hint = column_hint(f.name, unknown)
            if hint:
                found = hint.split("'")[1]
                hint = f" (found {found!r}: rename it to {f.name!r})"
            col.add(table, "missing_column", MSG_MISSING_COLUMN.format(column=f.name, hint=hint),
                    column=f.name)

    n = len(df)
    index = pd.RangeIndex(n)
    df = df.set_axis(index, axis=0)
    typed: dict[str, pd.Series] = {}
    invalid: dict[str, np.ndarray] = {}
    for spec in schema.fields:
        if spec.name not in names:
            typed[spec.name] = empty_typed(spec, n, index)
            continue
        raw_col = df[spec.name]
        s, miss, bad = coerce(raw_col, spec, schema.missing_values)
        typed[spec.name] = s
        inv = _check_cells(table, spec, raw_col, s, miss, bad, col)
        if inv is not None and inv.any():
            invalid[spec.name] = inv
    if extra_ok:
        for c in unknown:
            typed[c] = df[c]
    out = pd.DataFrame(typed, index=index)
    if table == "manifest" and "reader" in out:
        out["reader"] = out["reader"].fillna(DEFAULT_READER)
    present = set(names)
    if table == "manifest":
        present.add("reader")
    check_keys(table, schema, out, present, col)
    return out, present, invalid


def mask_invalid(frame: pd.DataFrame, invalid: dict) -> pd.DataFrame:
    """``frame`` with the cells in ``invalid`` set missing (for cross-table checks)."""
    if not invalid:
        return frame
    out = frame.copy()
    for c, m in invalid.items():
        out[c] = out[c].mask(m)
    return out


def _check_cells(table, spec: FieldSpec, raw: pd.Series, s: pd.Series, miss, bad, col: Collector):
    name = spec.name
    if bad.any():
        msg = MSG_TYPE
        col.add_mask(table, name, "type", bad,
                     lambda p: msg.format(value=fmt_value(raw.iloc[p]), expected=EXPECTED_TYPE[spec.type]),
                     value=raw)
    if spec.required and miss.any():
        col.add_mask(table, name, "required", miss, lambda p: MSG_REQUIRED.format(column=name), value=raw)
    ok = ~(miss | bad)
    inv = np.zeros(len(s), bool)
    if not ok.any():
        return inv
    unit = _unit(spec)
    if spec.type in ("number", "integer"):
        x = s.to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            if spec.exclusive_minimum is not None:
                m = ok & (x <= spec.exclusive_minimum)
                inv |= m
                col.add_mask(table, name, "minimum", m, lambda p: MSG_EXCLUSIVE_MINIMUM.format(
                    value=fmt_value(x[p]), limit=fmt_value(spec.exclusive_minimum), unit=unit), value=s)
            if spec.minimum is not None:
                m = ok & (x < spec.minimum)
                inv |= m
                col.add_mask(table, name, "minimum", m, lambda p: MSG_MINIMUM.format(
                    value=fmt_value(x[p]), limit=fmt_value(spec.minimum), unit=unit), value=s)
            if spec.maximum is not None:
                m = ok & (x > spec.maximum)
                inv |= m
                col.add_mask(table, name, "maximum", m, lambda p: MSG_MAXIMUM.format(
                    value=fmt_value(x[p]), limit=fmt_value(spec.maximum), unit=unit), value=s)
    if spec.enum is not None:
        allowed = list(spec.enum)
        if spec.type == "string":
            m = ok & ~s.isin([str(a) for a in allowed]).to_numpy()
        else:
            m = ok & ~s.isin(allowed).to_numpy(dtype=bool, na_value=False)
        allowed_txt = ", ".join(str(a) for a in allowed)
        inv |= m
        col.add_mask(table, name, "enum", m, lambda p: MSG_ENUM.format(
            value=fmt_value(s.iloc[p]) if spec.type != "string" else s.iloc[p],
            hint=enum_hint(s.iloc[p], allowed), allowed=allowed_txt), value=s)
    if spec.pattern is not None and spec.type == "string":
        rx = re.compile(spec.pattern)
        v = s[ok]
        matched = v.map(lambda t: rx.search(t) is not None).to_numpy(dtype=bool) if len(v) else np.zeros(0, bool)
        m = np.zeros(len(s), bool)
        m[np.flatnonzero(ok)[~matched]] = True
        inv |= m
        col.add_mask(table, name, "pattern", m,
                     lambda p: MSG_PATTERN.format(value=s.iloc[p], pattern=spec.pattern), value=s)
    return inv


def _duplicates(table, column_label, frame: pd.DataFrame, col: Collector):
    sub = frame.dropna()
    if sub.empty:
        return
    dup = sub.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    first_pos = {}
    keys = list(sub.itertuples(index=False, name=None)) if sub.shape[1] > 1 else sub.iloc[:, 0].tolist()
    dup_keys = set()
    for k, d in zip(keys, dup, strict=True):
        if d:
            dup_keys.add(k)
    for k, pos in zip(keys, sub.index, strict=True):
        if k in dup_keys and k not in first_pos:
            first_pos[k] = pos
    positions = sub.index.to_numpy()[dup]
    key_at = dict(zip(sub.index, keys, strict=True))

    def show(k):
        if isinstance(k, tuple):
            return "(" + ", ".join(repr(fmt_value(x)) for x in k) + ")"
        return repr(fmt_value(k))

    col.add_positions(table, column_label, "unique", positions,
                      lambda p: MSG_UNIQUE.format(column=column_label, value=show(key_at[p]),
                                                  first=first_pos[key_at[p]] + 1),
                      value=lambda p: ", ".join(str(fmt_value(x)) for x in (
                          key_at[p] if isinstance(key_at[p], tuple) else (key_at[p],))))


def check_keys(table, schema: TableSchema, typed: pd.DataFrame, present: set[str], col: Collector):
    """Duplicate primary keys (also composite) and duplicates in ``unique`` columns."""
    pk = list(schema.primary_key)
    if pk and all(k in present for k in pk):
        _duplicates(table, ",".join(pk), typed[pk], col)
    for spec in schema.fields:
        if spec.unique and pk != [spec.name] and spec.name in present:
            _duplicates(table, spec.name, typed[[spec.name]], col)
