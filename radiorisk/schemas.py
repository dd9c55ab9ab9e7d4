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
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["FieldSpec", "TableSchema", "TABLES", "load_schema", "schema_dir"]

#: Tables of a cohort folder, in the order they are read and validated.
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


@lru_cache(maxsize=None)
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
