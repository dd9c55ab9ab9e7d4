"""Shared data of the competing-risk model tests: the referee fixture with R's model references."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from radiorisk.models import make_y

_REF = Path(__file__).resolve().parents[1] / "reference"
#: The R output of tests/reference/competing/models_reference.R.
MODELS_JSON = _REF / "competing" / "models_reference.json"
FIXTURE = _REF / "referee" / "competing_synth.csv"


def fixture_xy():
    """The covariates of models_reference.R (cll, male, black, southasian), y with event_type, and R's JSON."""
    d = pd.read_csv(FIXTURE)
    r = d["risk"].clip(1e-10, 1 - 1e-10)
    X = pd.DataFrame({"cll": np.log(-np.log(1 - r)), "male": (d["sex"] == "M").astype(float),
                      "black": (d["ethnicity"] == "Black").astype(float),
                      "southasian": (d["ethnicity"] == "SouthAsian").astype(float)})
    y = make_y(d["time"], None, event_type=d["status"])
    ref = json.loads(MODELS_JSON.read_text(encoding="utf-8"))
    assert ref["covariates"] == list(X.columns)
    return X, y, ref


def competing_cohort(n: int, seed: int, *, comp_rate: float = 1 / 1500.0):
    """Continuous-time synthetic data with MACE depending on ``a`` and ``b`` and a competing death on ``a``."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.binomial(1, 0.4, n).astype(float)})
    t1 = rng.exponential(1200.0 / np.exp(0.6 * X["a"] + 0.5 * X["b"]))
    t2 = rng.exponential(1.0 / comp_rate / np.exp(0.4 * X["a"])) if comp_rate > 0 else np.full(n, np.inf)
    c = rng.uniform(300, 3000, n)
    t = np.minimum.reduce([t1, t2, c])
    status = np.select([t == t1, t == t2], [1, 2], 0)
    return X, make_y(t, None, event_type=status)
