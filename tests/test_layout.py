"""The test tree mirrors the package and every test file can be collected in one session."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_test_file_names_are_unique():
    # pytest's default import mode puts each test folder without __init__.py on sys.path, so two
    # test files with one name in two folders cannot both be collected in one run
    names = Counter(p.name for p in TESTS.rglob("test_*.py") if "reference" not in p.parts)
    assert [n for n, k in names.items() if k > 1] == []


def test_reference_scripts_are_not_collected(pytestconfig):
    assert "reference" in pytestconfig.getini("norecursedirs")
