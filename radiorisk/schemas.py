"""Machine-readable table schemas (``data_schemas/*.schema.json``).

The JSON files follow the Frictionless Table Schema layout (``fields``,
``primaryKey``, ``foreignKeys``, ``missingValues``) with one extension: a
``unit`` per field.  They are the single source of truth for column names,
types, units, ranges, enums and keys; :mod:`radiorisk.io` validates against
them at run time.  In an installed wheel they live in
``radiorisk/data_schemas``; in a source checkout they are read from the
repository's top-level ``data_schemas/`` folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_HORIZON_DAYS", "FieldSpec", "TableSchema", "TABLES", "load_schema", "schema_dir", "schema_markdown"]

#: Tables of a cohort folder, in the order they are read and validated.
#: The default prediction horizon: 5 years in days (DOMAIN.md), the one place it is set
#: (here, in a light module, so that the command line can read it without importing the statistics).
DEFAULT_HORIZON_DAYS = 1826.0

TABLES = ("patients", "scans", "lesions", "pet", "outcomes", "manifest", "truth")


@dataclass(frozen=True)
class FieldSpec:
    """One column of a table schema."""

    name: str
    type: str
    description: str
    unit: str | None = None
    required: bool = False
    unique: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    enum: tuple | None = None
    pattern: str | None = None

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FieldSpec:
        c = d.get("constraints", {})
        enum = c.get("enum")
        return cls(
            name=d["name"],
            type=d["type"],
            description=d["description"],
            unit=d.get("unit"),
            required=bool(c.get("required", False)),
            unique=bool(c.get("unique", False)),
            minimum=c.get("minimum"),
            maximum=c.get("maximum"),
            exclusive_minimum=c.get("exclusiveMinimum"),
            enum=tuple(enum) if enum is not None else None,
            pattern=c.get("pattern"),
        )


@dataclass(frozen=True)
class TableSchema:
    """A table's schema: its fields, keys and missing-value markers."""

    name: str
    description: str
    version: str
    fields: tuple[FieldSpec, ...]
    primary_key: tuple[str, ...]
    foreign_keys: tuple[dict, ...] = ()
    missing_values: tuple[str, ...] = ("",)
    additional_fields: bool = False
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def field_names(self) -> list[str]:
        """Column names in schema order."""
        return [f.name for f in self.fields]

    @property
    def required(self) -> list[str]:
        """Names of the required columns."""
        return [f.name for f in self.fields if f.required]

    def field(self, name: str) -> FieldSpec:
        """Return the :class:`FieldSpec` called ``name`` (KeyError if unknown)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    def to_frame(self):
        """The schema as a DataFrame, one row per column (for docs and notebooks).

        Examples
        --------
        >>> from radiorisk.schemas import load_schema
        >>> load_schema("patients").to_frame().loc[0, "name"]
        'patient_id'
        """
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "name": f.name,
                    "type": f.type,
                    "unit": f.unit,
                    "required": f.required,
                    "minimum": f.minimum if f.exclusive_minimum is None else f"> {f.exclusive_minimum}",
                    "maximum": f.maximum,
                    "allowed": ", ".join(map(str, f.enum)) if f.enum else None,
                    "description": f.description,
                }
                for f in self.fields
            ]
        )


def schema_dir() -> Path:
    """Folder holding the ``*.schema.json`` files (installed copy first, then the checkout).

    Examples
    --------
    >>> (schema_dir() / "patients.schema.json").exists()
    True
    """
    installed = resources.files("radiorisk") / "data_schemas"
    if installed.is_dir():
        return Path(str(installed))
    checkout = Path(__file__).resolve().parent.parent / "data_schemas"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "radiorisk's data_schemas folder is missing from the installation "
        f"(looked in {installed} and {checkout}); reinstall radiorisk"
    )


@cache
def load_schema(table: str) -> TableSchema:
    """Load the schema of ``table`` (one of :data:`TABLES`).

    Parameters
    ----------
    table : str
        Table name, e.g. ``"patients"``.

    Returns
    -------
    TableSchema

    Examples
    --------
    >>> s = load_schema("outcomes")
    >>> s.primary_key
    ('patient_id',)
    >>> s.field("fu_days").unit
    'day'
    """
    if table not in TABLES:
        raise KeyError(f"unknown table {table!r}; known tables: {', '.join(TABLES)}")
    path = schema_dir() / f"{table}.schema.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    return TableSchema(
        name=raw["name"],
        description=raw["description"],
        version=raw.get("version", "1"),
        fields=tuple(FieldSpec.from_json(f) for f in raw["fields"]),
        primary_key=tuple(raw.get("primaryKey", ())),
        foreign_keys=tuple(raw.get("foreignKeys", ())),
        missing_values=tuple(raw.get("missingValues", [""])),
        additional_fields=bool(raw.get("additionalFields", False)),
        raw=raw,
    )


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def schema_markdown(tables=TABLES) -> str:
    """Human-readable Markdown tables of the schemas (the body of ``docs/schemas.md``).

    Generated from the JSON files so the documentation cannot drift from them.

    Parameters
    ----------
    tables : sequence of str, default :data:`TABLES`

    Examples
    --------
    >>> text = schema_markdown(["outcomes"])
    >>> "| `fu_days` | number | day | yes | > 0 | 36500 |" in text
    True
    """
    out = [
        "# Table schemas",
        "",
        "<!-- Generated from data_schemas/*.schema.json by `python -m radiorisk.io > docs/schemas.md`;"
        " do not edit by hand (tests/io/test_docs.py checks it). -->",
        "",
        "A cohort folder holds one file per table, `TABLE.csv` (UTF-8, comma-separated, one header"
        " line) or `TABLE.parquet`. `patients`, `scans` and `outcomes` are required; `lesions`,"
        " `pet`, `manifest` and `truth` are optional (absent = no rows). Empty cells and the"
        " markers below count as missing. Booleans are written true/false (yes/no, 1/0 and any"
        " case are accepted); dates as ISO-8601 `YYYY-MM-DD`; times in days since the index CCTA.",
    ]
    for name in tables:
        s = load_schema(name)
        out += ["", f"## {s.name}", "", s.description, ""]
        keys = [f"primary key: `{', '.join(s.primary_key)}`"] if s.primary_key else []
        for fk in s.foreign_keys:
            ref = fk["reference"]
            keys.append(f"`{', '.join(fk['fields'])}` -> `{ref['resource']}.{', '.join(ref['fields'])}`")
        keys.append("missing values: " + ", ".join(f"`{m}`" if m else "empty" for m in s.missing_values))
        if s.additional_fields:
            keys.append("extra columns allowed")
        out += ["; ".join(keys) + ".", ""]
        out += ["| Column | Type | Unit | Required | Min | Max | Allowed / pattern | Description |",
                "|---|---|---|---|---|---|---|---|"]
        for f in s.fields:
            mn = "" if f.minimum is None else f"{f.minimum:g}"
            if f.exclusive_minimum is not None:
                mn = f"> {f.exclusive_minimum:g}"
            mx = "" if f.maximum is None else f"{f.maximum:g}"
            allowed = ", ".join(map(str, f.enum)) if f.enum else (f"`{f.pattern}`" if f.pattern else "")
            req = "yes" if f.required else ""
            if f.unique:
                req = (req + ", unique").lstrip(", ")
            out.append("| " + " | ".join(_md_cell(x) for x in (
                f"`{f.name}`", f.type, f.unit or "", req, mn, mx, allowed, f.description)) + " |")
    return "\n".join(out) + "\n"
