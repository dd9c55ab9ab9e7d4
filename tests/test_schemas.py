"""The table schemas: well-formed, self-consistent, shipped with the package."""

import json
import re

import pytest

from radiorisk.schemas import TABLES, load_schema, schema_dir

TYPES = {"string", "number", "integer", "boolean", "date"}


@pytest.mark.parametrize("table", TABLES)
def test_schema_is_well_formed(table):
    s = load_schema(table)
    assert s.name == table
    names = s.field_names
    assert len(names) == len(set(names)), "duplicate column names"
    for f in s.fields:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", f.name), f.name
        assert f.type in TYPES, (f.name, f.type)
        assert f.description and len(f.description.splitlines()) == 1, f.name
        if f.minimum is not None and f.maximum is not None:
            assert f.minimum < f.maximum, f.name
        if f.pattern:
            re.compile(f.pattern)
        if f.enum:
            assert len(set(f.enum)) == len(f.enum)
    for key in s.primary_key:
        assert key in names
    for fk in s.foreign_keys:
        assert all(c in names for c in fk["fields"])
        ref = load_schema(fk["reference"]["resource"])
        assert all(c in ref.field_names for c in fk["reference"]["fields"])


def test_units_are_declared_for_physical_quantities():
    for table in TABLES:
        for f in load_schema(table).fields:
            if re.search(r"_(mm3|mm2|mm|hu|days|pct|kg|cm|mmhg|mbq|min|years)$", f.name):
                assert f.unit, f"{table}.{f.name} has no unit"


def test_schema_files_are_valid_json_and_found():
    for table in TABLES:
        raw = json.loads((schema_dir() / f"{table}.schema.json").read_text())
        assert raw["fields"]


def test_unknown_table_is_a_clear_error():
    with pytest.raises(KeyError, match="known tables"):
        load_schema("patient")


def test_to_frame_lists_every_field():
    df = load_schema("lesions").to_frame()
    assert list(df["name"]) == load_schema("lesions").field_names
    assert df.loc[df["name"] == "v_total_mm3", "unit"].item() == "mm3"
