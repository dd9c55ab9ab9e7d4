"""Reading table files into raw frames, and typing columns per schema.

:func:`_read_raw` reads a CSV or Parquet file without judging its content:
string and date columns are kept as the exact text in the file; numeric and
boolean columns are left to pandas' fast C parser, and where a column does not
parse cleanly it stays as text (so every bad cell can be reported).  File-level
problems (missing, empty, encoding, delimiter, malformed, corrupt) are recorded
in the collector instead of raised.  :func:`_coerce` then types one column.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..schemas import FieldSpec, TableSchema
from ._report import (
    MSG_AMBIGUOUS,
    MSG_DELIMITER,
    MSG_DUPLICATE_COLUMN,
    MSG_EMPTY_FILE,
    MSG_ENCODING,
    MSG_ENCODING_NUL,
    MSG_ENCODING_UTF16,
    MSG_FILE_MISSING,
    MSG_MALFORMED,
    MSG_RAGGED_ROW,
    MSG_UNREADABLE,
    Collector,
)

SUFFIXES = (".csv", ".parquet")
_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0"})


@dataclass
class RawTable:
    """A table as read from its file (``frame`` None when unreadable), before typing.

    Made by :func:`read_raw`, or directly from an in-memory frame of text cells
    (``path`` None) to check it like a file with :func:`~radiorisk.io.check_table`.
    """

    table: str
    path: Path | None
    frame: pd.DataFrame | None

    @property
    def file(self) -> str:
        return self.path.name if self.path is not None else f"{self.table}.csv"


def find_table_file(root: Path, table: str, col: Collector, *, required: bool) -> Path | None:
    """The file of ``table`` in ``root`` (CSV or Parquet), recording problems."""
    found = [root / f"{table}{s}" for s in SUFFIXES if (root / f"{table}{s}").is_file()]
    if len(found) == 2:
        col.add(table, "ambiguous_file", MSG_AMBIGUOUS.format(table=table, folder=root),
                file=found[0].name)
    if found:
        return found[0]
    if required:
        names = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        close = [n for n in names if n.split(".")[0].lower() == table]
        close = close or difflib.get_close_matches(f"{table}.csv", names, n=1, cutoff=0.75)
        hint = ""
        if close:
            hint = (f" (found {close[0]!r}: file names are case-sensitive and must end in "
                    ".csv or .parquet)")
        col.add(table, "file_missing",
                MSG_FILE_MISSING.format(table=table, folder=root, hint=hint), file=f"{table}.csv")
    return None


def _malformed_detail(exc: Exception) -> str:
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if m:
        exp, line, saw = m.groups()
        return (f"line {line} has {saw} fields but the header has {exp} "
                "(a stray comma, or text with commas that is not quoted?)")
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def _ragged_rows(text: str, n_header: int, table: str, file: str, col: Collector) -> bool:
    """Record data rows with more or fewer fields than the header; True when one has more.

    pandas pads short rows with missing values and, when the first data row has
    one field too many, silently turns the first column into an index: both
    would shift or lose values, so they are reported here instead.
    """
    if '"' in text:
        try:
            reader = csv.reader(io.StringIO(text))
            counts = [(reader.line_num, len(f)) for f in reader if f and any(x.strip() for x in f)]
        except csv.Error:
            return False  # pandas reports it
    else:
        counts = [(i, ln.count(",") + 1) for i, ln in enumerate(re.split(r"\r\n|\r|\n", text), start=1)
                  if ln.strip()]
    long = False
    for data_row, (line, n) in enumerate(counts[1:], start=1):
        if n == n_header:
            continue
        long |= n > n_header
        col.add(table, "malformed_csv",
                MSG_RAGGED_ROW.format(file=file, row=data_row, line=line, n=n, expected=n_header,
                                      hint=("a stray comma, or text with commas that is not quoted?"
                                            if n > n_header else "a missing comma, or a truncated line?")),
                row=data_row)
    return long


def _read_csv(path: Path, schema: TableSchema, col: Collector) -> pd.DataFrame | None:
    table, file = schema.name, path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        col.add(table, "file_unreadable", MSG_UNREADABLE.format(file=file, detail=exc.strerror or exc))
        return None
    if not data.strip():
        col.add(table, "empty_file", MSG_EMPTY_FILE.format(file=file))
        return None
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        col.add(table, "encoding", MSG_ENCODING_UTF16.format(file=file))
        return None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if b"\x00" in data:
        nul = data.index(b"\x00")
        line = data.count(b"\n", 0, nul) + 1
        col.add(table, "encoding", MSG_ENCODING_NUL.format(file=file, line=line), row=line - 1 or None)
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col.add(table, "encoding",
                MSG_ENCODING.format(file=file, byte=data[exc.start], line=line), row=line - 1 or None)
        return None
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    try:
        header = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        header = [first]
    if len(header) == 1:
        for delim in (";", "\t", "|"):
            if delim in first:
                col.add(table, "delimiter",
                        MSG_DELIMITER.format(file=file, delimiter=delim, header=first[:60]))
                return None
    counts: dict[str, int] = {}
    for h in header:
        counts[h] = counts.get(h, 0) + 1
    for h, n in counts.items():
        if n > 1:
            col.add(table, "duplicate_column", MSG_DUPLICATE_COLUMN.format(column=h, count=n), column=h)
    if _ragged_rows(text, len(header), table, file, col):
        return None
    known = {f.name: f for f in schema.fields}
    dtype = {h: str for h in header if h in known and known[h].type in ("string", "date")}
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=dtype or None,
            na_values=list(schema.missing_values),
            keep_default_na=False,
            low_memory=False,
            skip_blank_lines=True,
            index_col=False,
        )
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        col.add(table, "malformed_csv", MSG_MALFORMED.format(file=file, detail=_malformed_detail(exc)))
        return None
    if any(n > 1 for n in counts.values()):
        keep, seen = [], set()
        for i, h in enumerate(header):
            if h not in seen:
                keep.append(i)
                seen.add(h)
        df = df.iloc[:, keep]
        df.columns = [header[i] for i in keep]
    return df


def _read_parquet(path: Path, schema: TableSchema, col: Collector) -> pd.DataFrame | None:
    table, file = schema.name, path.name
    try:
        if path.stat().st_size == 0:
            col.add(table, "empty_file", MSG_EMPTY_FILE.format(file=file))
            return None
        df = pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises many types (ArrowInvalid, OSError, ...)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        col.add(table, "file_unreadable",
                MSG_UNREADABLE.format(file=file, detail=f"not a valid Parquet file ({detail})"))
        return None
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            df[c] = df[c].astype(object)
    df.columns = [str(c) for c in df.columns]
    return df


def read_raw(path: Path, schema: TableSchema, col: Collector) -> RawTable:
    """Read ``path`` (``.csv`` or ``.parquet``) for ``schema``; problems go to ``col``.

    Nothing is raised for a bad file: its problems are recorded in ``col`` and
    ``frame`` is None.  String and date columns keep the file's exact text.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from radiorisk.io import Collector
    >>> from radiorisk.schemas import load_schema
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pet.csv"
    >>> _ = p.write_text("patient_id;pet_available\\nP1;true\\n")
    >>> col = Collector()
    >>> read_raw(p, load_schema("pet"), col).frame is None, col.frame()["rule"].tolist()
    (True, ['delimiter'])
    """
    col.files[schema.name] = path.name
    if path.suffix.lower() == ".parquet":
        frame = _read_parquet(path, schema, col)
    else:
        frame = _read_csv(path, schema, col)
    if frame is not None:
        frame = frame.reset_index(drop=True)
    return RawTable(schema.name, path, frame)


# -- typing ------------------------------------------------------------------

def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or pd.api.types.is_string_dtype(s.dtype)


def _per_unique(v: pd.Series, fn) -> np.ndarray:
    """``fn`` (Series of distinct values -> array) applied per distinct value, mapped back."""
    codes, uniques = pd.factorize(v, use_na_sentinel=True)
    res = np.asarray(fn(pd.Series(uniques, dtype=object)))
    return res[codes]


def missing_mask(s: pd.Series, missing_values) -> np.ndarray:
    """Cells that are empty, NaN or a missing-value marker (after stripping blanks)."""
    miss = s.isna().to_numpy()
    if _is_text(s) and len(s):
        present = ~miss
        if present.any():
            markers = list(missing_values)

            def is_missing(u: pd.Series) -> np.ndarray:
                t = u.astype(str).str.strip()
                return (t.eq("") | t.isin(markers)).to_numpy()

            miss[present] = _per_unique(s[present], is_missing)
    return miss


def empty_typed(spec: FieldSpec, n: int, index=None) -> pd.Series:
    """An all-missing column of ``spec``'s dtype."""
    return _typed_from(spec, np.full(n, np.nan), np.ones(n, bool), index)


def _typed_from(spec: FieldSpec, values, miss: np.ndarray, index) -> pd.Series:
    t = spec.type
    if t in ("number",):
        return pd.Series(np.asarray(values, dtype="float64"), index=index, name=spec.name)
    if t == "integer":
        x = np.asarray(values, dtype="float64")
        return pd.Series(pd.array(np.where(miss, np.nan, np.round(x)), dtype="Float64"),
                         index=index, name=spec.name).astype("Int64")
    if t == "boolean":
        arr = pd.array(np.where(miss, None, values).tolist() if len(miss) else [], dtype="boolean")
        s = pd.Series(arr, index=index, name=spec.name)
        return s.astype(bool) if len(s) and not miss.any() else s
    if t == "date":
        return pd.Series(pd.to_datetime(pd.Series(values, index=index).where(~miss)),
                         index=index, name=spec.name)
    out = pd.Series(values, index=index, name=spec.name, dtype=object)
    return out.where(~pd.Series(miss, index=index), np.nan)


def coerce(s: pd.Series, spec: FieldSpec, missing_values) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Type one column per ``spec``.

    Returns ``(typed, missing, bad)``: the typed column (bad cells missing), the
    mask of empty cells and the mask of present cells that do not parse.
    """
    n, index, t = len(s), s.index, spec.type
    miss = missing_mask(s, missing_values)
    bad = np.zeros(n, bool)
    present = ~miss
    if t in ("number", "integer"):
        if pd.api.types.is_bool_dtype(s.dtype):
            x = np.full(n, np.nan)
            bad = present.copy()
        elif pd.api.types.is_numeric_dtype(s.dtype):
            x = s.to_numpy(dtype="float64", na_value=np.nan)
        else:
            x = np.full(n, np.nan)
            if present.any():
                v = s[present]
                v = v.where(v.map(type).ne(bool), None)
                x[present] = pd.to_numeric(v.astype(str).str.strip(), errors="coerce").to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            bad = bad | (present & ~np.isfinite(x))
            if t == "integer":
                bad |= present & np.isfinite(x) & (x != np.round(x))
        x = np.where(bad | miss, np.nan, x)
        return _typed_from(spec, x, miss | bad, index), miss, bad
    if t == "boolean":
        vals = np.zeros(n, bool)
        if pd.api.types.is_bool_dtype(s.dtype) and not isinstance(s.dtype, pd.BooleanDtype):
            vals = s.to_numpy(dtype=bool)
        elif present.any():
            v = s[present]
            if isinstance(s.dtype, pd.BooleanDtype):
                key = v.astype(bool).map({True: "true", False: "false"})
            elif pd.api.types.is_numeric_dtype(s.dtype):
                key = v.astype(float).map(lambda x: "1" if x == 1 else "0" if x == 0 else "?")
            else:
                key = None
            if key is None:
                is_t = _per_unique(v, lambda u: u.astype(str).str.strip().str.lower().isin(_TRUE))
                is_f = _per_unique(v, lambda u: u.astype(str).str.strip().str.lower().isin(_FALSE))
            else:
                is_t, is_f = key.isin(_TRUE).to_numpy(), key.isin(_FALSE).to_numpy()
            vals[present] = is_t
            bad[present] = ~(is_t | is_f)
        return _typed_from(spec, vals, miss | bad, index), miss, bad
    if t == "date":
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            return s.rename(spec.name), miss, bad
        x = pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
        if present.any():
            v = s[present]
            parsed = pd.to_datetime(v.astype(str).str.strip(), format="ISO8601", errors="coerce")
            x[present] = parsed
            bad[present] = parsed.isna().to_numpy()
        return x.where(~pd.Series(bad, index=index)).rename(spec.name), miss, bad
    # string
    if _is_text(s):
        vals = s
    else:  # e.g. integers in a Parquet string column
        def _txt(v):
            if isinstance(v, (float, np.floating)) and np.isfinite(v) and v == int(v):
                return str(int(v))
            return str(v)
        vals = s.map(_txt, na_action="ignore")
    return _typed_from(spec, vals.to_numpy(dtype=object), miss, index), miss, bad
