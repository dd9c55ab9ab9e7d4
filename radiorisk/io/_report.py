"""Violations, their collector and :class:`ValidationReport`.

Every rule has a short stable name (see :data:`RULES`) and a message template
(module-level ``MSG_*`` constants) so that tests and users can match them.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from .._html import repr_html
from ..schemas import TABLES

__all__ = ["ValidationReport", "RULES", "MAX_VIOLATIONS_PER_RULE", "validation_rules"]

#: At most this many violations are stored per (table, column, rule); the rest
#: are counted and summarised in one extra row (``row`` empty, message "... and N more").
MAX_VIOLATIONS_PER_RULE = 1000

#: Columns of :attr:`ValidationReport.violations`.
VIOLATION_COLUMNS = ("table", "file", "row", "column", "value", "rule", "message", "severity")

#: Rule name -> (default severity, what it checks). Rendered into docs/schemas.md.
RULES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        # folder and files
        "not_a_folder": ("error", "The cohort path does not exist or is not a folder."),
        "file_missing": ("error", "A required table (patients, scans, outcomes), or a manifest image or mask file, does not exist."),
        "ambiguous_file": ("error", "Both TABLE.csv and TABLE.parquet exist; the CSV is read."),
        "empty_file": ("error", "The file has 0 bytes (a header-only CSV is a valid empty table)."),
        "encoding": ("error", "The CSV is not UTF-8 (a UTF-8 byte-order mark is accepted) or holds NUL bytes; names the byte and line."),
        "delimiter": ("error", "The header is one column containing ';', tab or '|': the CSV is not comma-separated."),
        "malformed_csv": ("error", "A line has more or fewer fields than the header (stray or missing comma, unbalanced quote, truncated line)."),
        "file_unreadable": ("error", "The file cannot be read: corrupt Parquet; unreadable, truncated or empty image/mask; an image that is not 3-D with one real value per voxel, has zero/negative/non-finite spacing or a singular direction, or declares more than 2**31 voxels (refused from the header)."),
        "duplicate_column": ("error", "The same column name appears twice in the header."),
        # columns and cells
        "missing_column": ("error", "A required column is absent (with a 'did you mean' hint from the unknown columns)."),
        "unknown_column": ("error", "A column not in the schema (allowed with allow_extra_columns=True, or for truth)."),
        "type": ("error", "A cell cannot be parsed as the column's type (number, integer, boolean, ISO date)."),
        "minimum": ("error", "A value is below the minimum (or not above an exclusive minimum, e.g. times must be > 0)."),
        "maximum": ("error", "A value is above the maximum."),
        "enum": ("error", "A value outside the allowed categories; names them and flags case/whitespace mismatches."),
        "pattern": ("error", "A string does not match the column's pattern (identifiers, labels, ...)."),
        "required": ("error", "A required cell is empty or a missing-value marker (NA, NaN, null, ...)."),
        "unique": ("error", "A duplicated primary key (also composite: manifest lesion_id + reader) or unique column."),
        # cross-table
        "foreign_key": ("error", "A key that does not exist in the referenced table (lesion -> scan -> patient, manifest -> lesion, ...)."),
        "patient_mismatch": ("error", "A lesion's (or manifest row's) patient_id differs from its scan's (or lesion's) patient_id."),
        "scan_mismatch": ("error", "A manifest row's scan_id differs from its lesion's scan_id."),
        "missing_outcome": ("error", "A patient has no row in outcomes."),
        "event_time_missing": ("error", "An event flag is true but its X_time_days is empty."),
        "event_time_without_event": ("error", "X_time_days (or mi_type) is filled although the event flag is false."),
        "event_after_follow_up": ("error", "An event time (or mace_time_days) is later than fu_days."),
        "planned_revasc_late": ("error", "revasc_planned_early_time_days is later than 90 days."),
        "censor_reason_mismatch": ("error", "censor_reason death_cardiac/death_noncardiac disagrees with the death flags."),
        "death_time_mismatch": ("error", "A death time differs from fu_days (follow-up ends at death)."),
        "mace_inconsistent": ("error", "mace_event disagrees with the component flags named in mace_definition."),
        "mace_time_mismatch": ("error", "mace_time_days is not the first component time (MACE) or fu_days (no MACE)."),
        "component_sum": ("error", "Plaque components do not sum to their total (or vessel CMAs to cma_patient) within tolerance."),
        "volume_exceeds_vessel": ("error", "A plaque volume is larger than its vessel volume."),
        "pet_values_without_pet": ("error", "PET measurements are filled where pet_available is false (or the patient has no PET)."),
        "pet_value_missing": ("error", "pet_available is true but cma_patient is empty."),
        "missing_reason_required": ("error", "pet_available is false but missing_reason is empty."),
        "missing_reason_with_pet": ("warning", "missing_reason is filled although pet_available is true."),
        "cma_gt0_mismatch": ("error", "cma_gt0 differs from cma_patient > 0."),
        # images
        "geometry_mismatch": ("error", "Image and mask differ in size, spacing, origin or direction beyond tolerance."),
        "nonfinite_voxels": ("error", "An image or mask with floating-point voxels holds NaN or infinite values (such files are read in full)."),
        "mask_type": ("error", "The mask is not an integer label map (float or multi-component voxels)."),
        "empty_mask": ("error", "The mask has no non-zero voxel."),
        "label_missing": ("error", "The mask contains none of the manifest row's label values."),
        "path_outside_root": ("error", "A manifest image or mask path (relative, absolute or through a symbolic link) leads outside the manifest's folder; refused unless allow_outside_root=True (CLI --allow-outside-root)."),
        "path_outside_cohort": ("warning", "A manifest path leads outside the manifest's folder and allow_outside_root=True allowed it."),
    }
)

# -- message templates (``str.format`` fields in braces) -----------------------
MSG_NOT_A_FOLDER = "{path} is not a folder (a cohort folder holds patients.csv, scans.csv, outcomes.csv, ...)"
MSG_FILE_MISSING = "required table {table!r} not found: no {table}.csv or {table}.parquet in {folder}{hint}"
MSG_AMBIGUOUS = "both {table}.csv and {table}.parquet exist in {folder}; keep one (the CSV was read)"
MSG_EMPTY_FILE = "{file} is empty; a table needs at least a header line"
MSG_ENCODING = ("{file} is not UTF-8 text: byte 0x{byte:02x} on line {line} cannot be decoded "
                "(Latin-1/Windows-1252?); save the file as UTF-8 (Excel: 'CSV UTF-8')")
MSG_ENCODING_NUL = ("{file} holds a NUL byte (line {line}): not UTF-8 text (UTF-16 without a "
                    "byte-order mark, or a binary file?); save the file as UTF-8 CSV")
MSG_ENCODING_UTF16 = "{file} is UTF-16 encoded; save the file as UTF-8 (Excel: 'CSV UTF-8')"
MSG_DELIMITER = "{file} looks {delimiter!r}-delimited (header {header!r}); radiorisk reads comma-separated CSV"
MSG_MALFORMED = "{file} is not well-formed CSV: {detail}"
MSG_RAGGED_ROW = ("{file} is not well-formed CSV: line {line} has {n} fields but the header has "
                  "{expected} (data row {row}; {hint})")
MSG_UNREADABLE = "cannot read {file}: {detail}"
MSG_DUPLICATE_COLUMN = "column {column!r} appears {count} times in the header; the first is used"
MSG_MISSING_COLUMN = "required column {column!r} is missing{hint}"
MSG_UNKNOWN_COLUMN = "unknown column {column!r}{hint} (see docs/schemas.md for the allowed columns)"
MSG_TYPE = "{value!r} is not {expected}"
MSG_MINIMUM = "{value} is below the minimum {limit}{unit}"
MSG_EXCLUSIVE_MINIMUM = "{value} must be greater than {limit}{unit}"
MSG_MAXIMUM = "{value} is above the maximum {limit}{unit}"
MSG_ENUM = "{value!r} is not allowed{hint}; allowed: {allowed}"
MSG_PATTERN = "{value!r} does not match the pattern {pattern}"
MSG_REQUIRED = "missing value in required column {column!r}"
MSG_UNIQUE = "duplicate {column} {value}: already in row {first}"
MSG_FOREIGN_KEY = "{column} {value!r} not found in {ref_table}.{ref_column}"
MSG_TRUNCATED = "... and {n} more {rule!r} violations in this column (only the first {cap} are listed)"

EXPECTED_TYPE = {
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean (use true/false, yes/no or 1/0)",
    "date": "an ISO-8601 date (YYYY-MM-DD)",
    "string": "text",
}


def validation_rules() -> pd.DataFrame:
    """The validation rules: name, default severity and what each checks.

    Examples
    --------
    >>> from radiorisk.io import validation_rules
    >>> rules = validation_rules()
    >>> rules.loc[rules["rule"] == "enum", "severity"].item()
    'error'
    """
    return pd.DataFrame(
        [{"rule": r, "severity": s, "description": d} for r, (s, d) in RULES.items()]
    )


def fmt_value(v) -> str | None:
    """A cell value as text for messages and the ``value`` column (None when missing)."""
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if np.isfinite(f) and f == int(f) and abs(f) < 1e15:
            return str(int(f))
        return repr(f)
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d") if v == v.normalize() else v.isoformat()
    return str(v)


class Collector:
    """Accumulates violations with a cap per (table, column, rule).

    The checks of :func:`~radiorisk.io.validate` (and of other layers reading
    tables the same way) record into one collector; :meth:`report` makes the
    :class:`ValidationReport`.

    Examples
    --------
    >>> col = Collector(cap=1)
    >>> for row in (1, 2, 3):
    ...     col.add("patients", "required", "missing value in required column 'sex'", row=row, column="sex")
    >>> col.n_errors, col.frame()["message"].tolist()[-1]
    (3, "... and 2 more 'required' violations in this column (only the first 1 are listed)")
    """

    def __init__(self, cap: int = MAX_VIOLATIONS_PER_RULE):
        self.cap = cap
        self.records: list[tuple] = []
        self.stored: Counter = Counter()
        self.overflow: Counter = Counter()
        self.severity_counts: Counter = Counter()
        self.files: dict[str, str | None] = {}

    def add(self, table, rule, message, *, row=None, column=None, value=None,
            severity=None, file=None) -> None:
        """Record one violation (``row`` is the 1-based data row or None)."""
        severity = severity or RULES[rule][0]
        key = (table, column, rule, severity)
        self.severity_counts[severity] += 1
        if self.stored[key] >= self.cap:
            self.overflow[key] += 1
            return
        self.stored[key] += 1
        if file is None:
            file = self.files.get(table)
        self.records.append(
            (table, file, None if row is None else int(row), column, fmt_value(value), rule, message, severity)
        )

    def add_positions(self, table, column, rule, positions: Iterable[int] | np.ndarray,
                      message: Callable[[int], str], *, value: Callable[[int], object] | pd.Series | None = None,
                      severity=None) -> None:
        """Record one violation per 0-based row position; formats only the stored ones."""
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return
        severity = severity or RULES[rule][0]
        key = (table, column, rule, severity)
        room = max(self.cap - self.stored[key], 0)
        head, rest = positions[:room], positions.size - min(room, positions.size)
        for p in head:
            p = int(p)
            if value is None:
                v = None
            elif isinstance(value, pd.Series):
                v = value.iloc[p]
            else:
                v = value(p)
            self.add(table, rule, message(p), row=p + 1, column=column, value=v, severity=severity)
        if rest:
            self.overflow[key] += rest
            self.severity_counts[severity] += rest

    def add_mask(self, table, column, rule, mask, message, *, value=None, severity=None) -> None:
        """Like :meth:`add_positions` for a boolean mask over the table's rows."""
        self.add_positions(table, column, rule, np.flatnonzero(np.asarray(mask, dtype=bool)),
                           message, value=value, severity=severity)

    @property
    def n_errors(self) -> int:
        return self.severity_counts["error"]

    def frame(self) -> pd.DataFrame:
        records = list(self.records)
        for (table, column, rule, severity), n in self.overflow.items():
            records.append((table, self.files.get(table), None, column, None, rule,
                            MSG_TRUNCATED.format(n=n, rule=rule, cap=self.cap), severity))
        df = pd.DataFrame.from_records(records, columns=list(VIOLATION_COLUMNS))
        df["row"] = df["row"].astype("Int64")
        for c in ("table", "file", "column", "value", "rule", "message", "severity"):
            df[c] = df[c].astype(object)
        order = {t: i for i, t in enumerate(("cohort",) + TABLES)}
        df["_t"] = df["table"].map(lambda t: order.get(t, len(order)))
        df["_i"] = np.arange(len(df))
        df = df.sort_values(["_t", "_i"], kind="stable").drop(columns=["_t", "_i"])
        return df.reset_index(drop=True)

    def report(self, source, n_rows: Mapping[str, int | None], *, images_checked: bool) -> ValidationReport:
        return ValidationReport(
            source=str(source),
            violations=self.frame(),
            n_errors=self.severity_counts["error"],
            n_warnings=self.severity_counts["warning"],
            n_rows=MappingProxyType(dict(n_rows)),
            images_checked=images_checked,
        )


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """Every violation found in a cohort folder or table.

    Attributes
    ----------
    source : str
        The folder (or file) validated.
    violations : pandas.DataFrame
        One row per violation with columns ``table, file, row, column, value,
        rule, message, severity``.  ``row`` is the 1-based data row as counted
        in the file (header excluded), or missing for file- and column-level
        problems.  At most :data:`MAX_VIOLATIONS_PER_RULE` rows are kept per
        (table, column, rule); one further row says how many more there were.
    n_errors, n_warnings : int
        Counts of all violations, including those beyond the cap.
    n_rows : Mapping[str, int | None]
        Data rows per table (None: the table is absent or could not be read).
    images_checked : bool
        Whether image and mask files were opened.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radiorisk.io import validate
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "patients.csv").write_text("patient_id,sex\\nP1,Female\\n")
    >>> report = validate(d)
    >>> report.ok
    False
    >>> sorted(set(report.to_frame()["rule"]))
    ['enum', 'file_missing', 'missing_column']
    >>> print(report.format().splitlines()[-1])
    11 violations in 3 tables (11 errors, 0 warnings)
    """

    source: str
    violations: pd.DataFrame = field(repr=False)
    n_errors: int = 0
    n_warnings: int = 0
    n_rows: Mapping[str, int | None] = field(default_factory=dict)
    images_checked: bool = False

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings are allowed)."""
        return self.n_errors == 0

    def to_frame(self) -> pd.DataFrame:
        """The violations as a new DataFrame (see :attr:`violations`)."""
        return self.violations.copy()

    def _sizes(self) -> str:
        parts = []
        for t in TABLES:
            n = self.n_rows.get(t)
            if n is None:
                continue
            label = {"patients": "patient", "scans": "scan", "lesions": "lesion", "outcomes": "outcome"}.get(t)
            parts.append(_plural(n, label) if label else f"{_plural(n, t + ' row')}")
        if self.images_checked:
            parts.append("images checked")
        return ", ".join(parts)

    def format(self, max_lines: int = 200) -> str:
        """A human-readable listing, grouped by file, ending with a count line.

        Parameters
        ----------
        max_lines : int, default 200
            List at most this many violations (all are counted).
        """
        v = self.violations
        lines: list[str] = []
        if self.ok:
            lines.append(f"OK: {self.source} is valid ({self._sizes()})")
            if not len(v):
                return lines[0]
        else:
            lines.append(f"{self.source}: {_plural(self.n_errors, 'error')}, "
                         f"{_plural(self.n_warnings, 'warning')}")
        shown = 0
        for (table, file), grp in v.groupby(["table", "file"], sort=False, dropna=False):
            if shown >= max_lines:
                break
            name = file if isinstance(file, str) else table
            lines.append("")
            lines.append(f"{name}:")
            for r in grp.itertuples(index=False):
                if shown >= max_lines:
                    break
                loc = []
                if not pd.isna(r.row):
                    loc.append(f"row {r.row}")
                if isinstance(r.column, str):
                    loc.append(f"column {r.column!r}")
                where = ", ".join(loc) if loc else "file"
                sev = "warning: " if r.severity == "warning" else ""
                lines.append(f"  {where}: {sev}{r.message} [{r.rule}]")
                shown += 1
        if shown < len(v):
            lines.append("")
            lines.append(f"... {len(v) - shown} more not shown (raise --max-lines, or use "
                         "ValidationReport.to_frame())")
        n = self.n_errors + self.n_warnings
        n_tables = v["table"].nunique()
        lines.append("")
        lines.append(f"{_plural(n, 'violation')} in {_plural(n_tables, 'table')} "
                     f"({_plural(self.n_errors, 'error')}, {_plural(self.n_warnings, 'warning')})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()

    def _repr_html_(self) -> str:
        head = html.escape(self.format(max_lines=0).splitlines()[0])
        if not len(self.violations):
            return f"<p>{head}</p>"
        return repr_html(self.format(max_lines=0).splitlines()[0], self.violations, max_rows=200)
