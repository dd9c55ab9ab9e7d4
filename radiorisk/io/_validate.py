"""Public entry points: :func:`validate`, :func:`read_table`, :func:`read_cohort`."""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from ..exceptions import SchemaError
from ..schemas import TABLES, load_schema
from . import _crosschecks
from ._columns import check_table, mask_invalid
from ._imagecheck import check_images, check_paths
from ._read import RawTable, empty_typed, find_table_file, read_raw
from ._report import MSG_NOT_A_FOLDER, Collector, ValidationReport

#: Tables a cohort folder must have; the others are optional (absent = no rows).
REQUIRED_TABLES = ("patients", "scans", "outcomes")


def _empty_frame(table: str) -> pd.DataFrame:
    schema = load_schema(table)
    idx = pd.RangeIndex(0)
    return pd.DataFrame({f.name: empty_typed(f, 0, idx) for f in schema.fields}, index=idx)


@dataclass(frozen=True, eq=False)
class Cohort:
    """The typed tables of a cohort folder.

    Absent optional tables (lesions, pet, manifest, truth) are empty frames
    with the schema's columns and dtypes.

    Attributes
    ----------
    root : pathlib.Path
        The cohort folder (manifest paths are relative to the manifest's folder, i.e. ``root``).
    patients, scans, lesions, pet, outcomes, manifest, truth : pandas.DataFrame
    files : Mapping[str, pathlib.Path | None]
        The file each table was read from (None when absent).
    report : ValidationReport or None
        The validation report (warnings only, since errors raise), when validated.
    """

    root: Path
    patients: pd.DataFrame = field(repr=False)
    scans: pd.DataFrame = field(repr=False)
    lesions: pd.DataFrame = field(repr=False)
    pet: pd.DataFrame = field(repr=False)
    outcomes: pd.DataFrame = field(repr=False)
    manifest: pd.DataFrame = field(repr=False)
    truth: pd.DataFrame = field(repr=False)
    files: Mapping[str, Path | None] = field(default_factory=dict, repr=False)
    report: ValidationReport | None = field(default=None, repr=False)

    @property
    def tables(self) -> Mapping[str, pd.DataFrame]:
        """Table name -> DataFrame, in :data:`radiorisk.schemas.TABLES` order."""
        return MappingProxyType({t: getattr(self, t) for t in TABLES})

    def resolve(self, path: str | PathLike) -> Path:
        """A manifest ``image_path``/``mask_path`` as a path (relative ones from the manifest's folder)."""
        p = Path(path)
        if p.is_absolute():
            return p
        base = self.files.get("manifest")
        return (base.parent if base is not None else self.root) / p

    def __repr__(self) -> str:
        sizes = ", ".join(f"{t}={len(df)}" for t, df in self.tables.items())
        return f"Cohort(root={str(self.root)!r}, {sizes})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{t}</td><td>{len(df)}</td><td>{df.shape[1]}</td>"
            f"<td>{html.escape(str(self.files.get(t).name) if self.files.get(t) else '')}</td></tr>"
            for t, df in self.tables.items())
        return (f"<p><b>Cohort</b> {html.escape(str(self.root))}</p><table><tr><th>table</th>"
                f"<th>rows</th><th>columns</th><th>file</th></tr>{rows}</table>")


def _load(root: Path, col: Collector, *, allow_extra_columns: bool):
    """Read and type every table.

    Returns (typed frames, frames for cross-checks with invalid cells masked,
    present columns, files, n_rows).
    """
    frames: dict[str, pd.DataFrame | None] = {}
    present: dict[str, set] = {}
    files: dict[str, Path | None] = {}
    n_rows: dict[str, int | None] = {}
    checked: dict[str, pd.DataFrame | None] = {}
    for table in TABLES:
        schema = load_schema(table)
        path = find_table_file(root, table, col, required=table in REQUIRED_TABLES)
        files[table] = path
        if path is None:
            if table in REQUIRED_TABLES:
                frames[table] = None
                n_rows[table] = None
            else:
                frames[table] = _empty_frame(table)
                present[table] = set(schema.field_names)
                n_rows[table] = None
            checked[table] = frames[table]
            continue
        raw = read_raw(path, schema, col)
        if raw.frame is None:
            frames[table] = checked[table] = n_rows[table] = None
            continue
        typed, cols, invalid = check_table(raw, schema, col, allow_extra_columns=allow_extra_columns)
        frames[table], present[table], n_rows[table] = typed, cols, len(typed)
        checked[table] = mask_invalid(typed, invalid)
    return frames, checked, present, files, n_rows


def _check_frames(frames, present, col, *, check_images_: bool, root: Path, files,
                  allow_outside_root: bool = False) -> None:
    _crosschecks.run_all(frames, present, col)
    manifest = frames.get("manifest")
    if manifest is not None and len(manifest):
        mpath = files.get("manifest")
        base = mpath.parent if mpath is not None else root
        check_paths(manifest, base=base, col=col, allow_outside_root=allow_outside_root)
        if check_images_:
            check_images(manifest, root=root, base=base, col=col)


def validate(source, *, check_images: bool = True, allow_extra_columns: bool = False,
             allow_outside_root: bool = False) -> ValidationReport:
    """Check a cohort folder (or a :class:`Cohort`) and report every violation.

    Reads ``patients``, ``scans``, ``outcomes`` (required) and ``lesions``,
    ``pet``, ``manifest``, ``truth`` (optional) from ``TABLE.csv`` or
    ``TABLE.parquet`` and checks files, columns, cell types, ranges,
    categories, patterns, keys, cross-table consistency and (optionally) the
    manifest's images and masks.  Nothing is raised for bad input: every
    problem becomes a row of the report.  The rules are listed by
    :func:`validation_rules` and in ``docs/schemas.md``.

    Parameters
    ----------
    source : str, path-like or Cohort
        The cohort folder, or an already-read :class:`Cohort` (file-level and
        text-parsing checks then do not apply).
    check_images : bool, default True
        Open each manifest image (header only) and mask (in full) and compare
        their geometry and labels.
    allow_extra_columns : bool, default False
        Accept columns that are not in the schema (``truth`` always accepts them).
    allow_outside_root : bool, default False
        Accept manifest image/mask paths that lead outside the manifest's folder
        (``../``, absolute paths, symbolic links): a ``path_outside_cohort``
        warning instead of a ``path_outside_root`` error.

    Returns
    -------
    ValidationReport
        ``report.ok`` is True when there is no error.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> report = validate(d)
    >>> report.ok
    False
    >>> report.to_frame()[["table", "rule"]].values.tolist()
    [['patients', 'file_missing'], ['scans', 'file_missing'], ['outcomes', 'file_missing']]
    """
    col = Collector()
    if isinstance(source, Cohort):
        root = Path(source.root)
        frames, present, n_rows = {}, {}, {}
        files = dict(source.files)
        for table in TABLES:
            schema = load_schema(table)
            df = source.tables[table]
            f = files.get(table)
            col.files[table] = f.name if f is not None else f"{table} (DataFrame)"
            typed, cols, invalid = check_table(RawTable(table, f, df.reset_index(drop=True)), schema,
                                               col, allow_extra_columns=allow_extra_columns)
            frames[table], present[table] = mask_invalid(typed, invalid), cols
            n_rows[table] = len(typed) if (f is not None or len(df)) else None
        _check_frames(frames, present, col, check_images_=check_images, root=root, files=files,
                      allow_outside_root=allow_outside_root)
        return col.report(root, n_rows, images_checked=check_images)
    root = Path(source)
    if not root.is_dir():
        col.add("cohort", "not_a_folder", MSG_NOT_A_FOLDER.format(path=root), file=str(root))
        return col.report(root, {}, images_checked=False)
    _, checked, present, files, n_rows = _load(root, col, allow_extra_columns=allow_extra_columns)
    _check_frames(checked, present, col, check_images_=check_images, root=root, files=files,
                  allow_outside_root=allow_outside_root)
    return col.report(root, n_rows, images_checked=check_images)


def _raise(report: ValidationReport, what: str) -> None:
    head = report.format(max_lines=20)
    raise SchemaError(f"{what} is not valid:\n{head}", report)


def read_table(path, *, table: str, allow_extra_columns: bool = False) -> pd.DataFrame:
    """Read one table file (CSV or Parquet) into a DataFrame typed per its schema.

    Columns come in schema order (absent optional columns all-missing), then
    any extra columns (only when allowed, or for ``truth``).  Types: strings
    as ``object`` (category values kept exactly as written), numbers
    ``float64``, integers ``Int64``, booleans ``bool`` (nullable ``boolean``
    when a value is missing; true/false, yes/no, 1/0 in any case), dates
    ``datetime64[ns]``.  The manifest's empty ``reader`` becomes ``'reader1'``.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` (UTF-8, comma-separated, header line) or ``.parquet`` file.
    table : str
        Which schema applies: one of :data:`radiorisk.schemas.TABLES`.
    allow_extra_columns : bool, default False
        Keep columns that are not in the schema instead of reporting them.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    SchemaError
        When the file is missing or unreadable or breaks the schema;
        ``exc.report`` lists every violation (cross-table checks excluded).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pet.csv"
    >>> _ = p.write_text("patient_id,pet_available,missing_reason,cma_patient\\n"
    ...                  "P1,TRUE,,0.8\\nP2,no,declined,\\n")
    >>> df = read_table(p, table="pet")
    >>> df["pet_available"].tolist(), str(df["pet_available"].dtype), str(df["cma_patient"].dtype)
    ([True, False], 'bool', 'float64')
    >>> _ = p.write_text("patient_id,pet_available\\nP1,maybe\\n")
    >>> read_table(p, table="pet")
    Traceback (most recent call last):
    ...
    radiorisk.exceptions.SchemaError: ...pet.csv is not valid:
    ...
      row 1, column 'pet_available': 'maybe' is not a boolean (use true/false, yes/no or 1/0) [type]
    ...
    """
    schema = load_schema(table)
    path = Path(path)
    col = Collector()
    if not path.is_file():
        col.add(table, "file_missing", f"{path} not found", file=path.name)
        _raise(col.report(path, {}, images_checked=False), str(path))
    raw = read_raw(path, schema, col)
    typed = None
    if raw.frame is not None:
        typed, _, _ = check_table(raw, schema, col, allow_extra_columns=allow_extra_columns)
    if col.n_errors or typed is None:
        _raise(col.report(path, {table: None if typed is None else len(typed)}, images_checked=False),
               str(path))
    return typed


def read_cohort(directory, *, validate: bool = True, check_images: bool = False,
                allow_extra_columns: bool = False, allow_outside_root: bool = False) -> Cohort:
    """Read a cohort folder into a :class:`Cohort` of typed DataFrames.

    Parameters
    ----------
    directory : str or path-like
        Folder with ``patients``, ``scans``, ``outcomes`` and optionally
        ``lesions``, ``pet``, ``manifest``, ``truth`` (``.csv`` or ``.parquet``).
    validate : bool, default True
        Run every check of :func:`validate` and raise on any error.  When
        False only unreadable files raise; unparsable cells become missing.
    check_images : bool, default False
        Also open the manifest's images and masks (slower).
    allow_extra_columns : bool, default False
        Keep columns that are not in the schema.
    allow_outside_root : bool, default False
        Accept manifest paths leading outside the manifest's folder (see :func:`validate`).

    Returns
    -------
    Cohort

    Raises
    ------
    SchemaError
        With ``.report`` holding every violation.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     read_cohort(d)
    ... except SchemaError as exc:
    ...     print(sorted(set(exc.report.to_frame()["rule"])))
    ['file_missing']
    """
    root = Path(directory)
    col = Collector()
    if not root.is_dir():
        col.add("cohort", "not_a_folder", MSG_NOT_A_FOLDER.format(path=root), file=str(root))
        _raise(col.report(root, {}, images_checked=False), str(root))
    frames, checked, present, files, n_rows = _load(root, col, allow_extra_columns=allow_extra_columns)
    if validate:
        _check_frames(checked, present, col, check_images_=check_images, root=root, files=files,
                      allow_outside_root=allow_outside_root)
    fatal = [t for t in TABLES if frames[t] is None]
    if fatal or (validate and col.n_errors):
        _raise(col.report(root, n_rows, images_checked=check_images), str(root))
    report = col.report(root, n_rows, images_checked=check_images) if validate else None
    return Cohort(root=root, files=MappingProxyType(files), report=report,
                  **{t: frames[t] for t in TABLES})
