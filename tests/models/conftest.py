"""Fixtures of the radiorisk.models tests: small synthetic cohorts.

``cohort`` is a mixed-type (X, y) with missing PET for the estimators;
``cad_cohort``/``cad_data`` (established CAD, every patient with PET) and
``chest_cohort`` (chest pain, PET in a few) feed cohort assembly, the
cross-validation and the ladder tests.
"""

from __future__ import annotations

import pytest
from models_testdata import REFEREE_DIR, cohort_xy

from radiorisk.datasets import simulate_cohort
from radiorisk.features._assemble import assemble_cohort


@pytest.fixture(scope="session")
def cohort():
    """600 patients, PET in about 40 %; (X, y)."""
    return cohort_xy(600, seed=11)


@pytest.fixture(scope="session")
def referee_dir():
    assert (REFEREE_DIR / "cox_whas500.json").is_file(), f"R reference files missing from {REFEREE_DIR}"
    return REFEREE_DIR


@pytest.fixture(scope="session")
def cad_cohort():
    return simulate_cohort(600, mode="established-cad", seed=11)


@pytest.fixture(scope="session")
def cad_data(cad_cohort):
    return assemble_cohort(cad_cohort, horizon=1826)


@pytest.fixture(scope="session")
def chest_cohort():
    return simulate_cohort(1500, mode="chest-pain", seed=12)
