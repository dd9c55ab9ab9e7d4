"""Fixtures of the evaluation tests: the referee data sets (``referee_dir`` and ``compare_metrics`` are in tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

# The referee's inputs and R's outputs live in the repository (tests/reference/README.md).
REFEREE_DIR = Path(__file__).resolve().parents[1] / "reference" / "referee"

# (input stem, compute_metrics keyword arguments, group columns)
REFEREE_SETS = {
    "binary_synth": ({"outcome_col": "y", "risk_col": "p"}, ["sex", "ethnicity"]),
    "survival_synth": ({"time_col": "time", "event_col": "event", "risk_col": "risk", "horizon": 60},
                       ["sex", "ethnicity"]),
    "survival_whas500": ({"time_col": "time", "event_col": "event", "risk_col": "risk", "horizon": 365},
                         ["gender"]),
}


class Referee:
    """Access to the referee files (a fixture, so tests never import this module)."""

    sets = REFEREE_SETS

    def __init__(self, folder: Path):
        self.dir = folder

    def input(self, stem: str) -> pd.DataFrame:
        return read_referee_input(self.dir, stem)

    def r_json(self, stem: str) -> dict:
        return read_r_json(self.dir, stem)

    def subsets(self, stem: str):
        return r_subsets(self.dir, stem)


@pytest.fixture(scope="session")
def referee(referee_dir) -> Referee:
    return Referee(referee_dir)


def read_referee_input(referee_dir: Path, stem: str) -> pd.DataFrame:
    groups = REFEREE_SETS[stem][1]
    return pd.read_csv(referee_dir / f"{stem}.csv", dtype={g: str for g in groups}, keep_default_na=False)


def read_r_json(referee_dir: Path, stem: str) -> dict:
    with open(referee_dir / "r_json" / f"{stem}.json", encoding="utf-8") as fh:
        return json.load(fh)


def r_subsets(referee_dir: Path, stem: str):
    """Yield (attribute, group, rows of the input, R results) for overall and every group."""
    df = read_referee_input(referee_dir, stem)
    res = read_r_json(referee_dir, stem)["results"]
    for key, val in res.items():
        if key == "overall":
            yield "overall", "all", df, val
        else:
            attr = key.removeprefix("by_")
            for level, sub in val.items():
                yield attr, level, df[df[attr] == level].reset_index(drop=True), sub
