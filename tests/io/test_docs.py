"""docs/schemas.md is generated from the JSON schemas; io docstring examples run."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from radiorisk.io import schema_docs

ROOT = Path(__file__).resolve().parents[2]


def test_docs_schemas_md_is_generated():
    text = (ROOT / "docs" / "schemas.md").read_text(encoding="utf-8")
    assert text == schema_docs(), "regenerate: python -m radiorisk.io > docs/schemas.md"


def test_docs_mention_every_column_and_rule():
    from radiorisk.io import RULES
    from radiorisk.schemas import TABLES, load_schema

    text = schema_docs()
    for t in TABLES:
        for name in load_schema(t).field_names:
            assert f"`{name}`" in text
    for rule in RULES:
        assert f"`{rule}`" in text


@pytest.mark.parametrize("module", [
    "radiorisk.schemas", "radiorisk.io", "radiorisk.io._report", "radiorisk.io._validate",
])
def test_docstring_examples(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
