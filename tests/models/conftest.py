"""Fixtures of the radiorisk.models tests: a small mixed-type cohort with missing PET."""

from __future__ import annotations

import pytest
from models_testdata import REFEREE_DIR, cohort_xy


@pytest.fixture(scope="session")
def cohort():
    """600 patients, PET in about 40 %; (X, y)."""
    return cohort_xy(600, seed=11)


@pytest.fixture(scope="session")
def referee_dir():
    assert (REFEREE_DIR / "cox_whas500.json").is_file(), f"R reference files missing from {REFEREE_DIR}"
    return REFEREE_DIR
