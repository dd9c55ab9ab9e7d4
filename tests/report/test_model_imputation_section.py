"""The model report's multiple-imputation statements: Rubin's pooled table and the MNAR delta table."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from radiorisk.report._model_methods import _imputation_parts


def test_pooled_table_and_mnar_deltas_are_reported():
    pooled = pd.DataFrame({"term": ["age", "tbr"], "m": [5, 5], "estimate": [0.1, 0.4], "se": [0.02, 0.2],
                           "ci_low": [0.06, 0.0], "ci_high": [0.14, 0.8], "df": [300.0, 40.0],
                           "riv": [0.01, 0.3], "fmi": [0.01, 0.25]})
    mnar = pd.DataFrame({"delta": [-1.0, 0.0, 1.0], "harrell_c": [0.71, 0.70, 0.68], "oe_ratio": [1.1, 1.0, 0.9]})
    say, tables = _imputation_parts(SimpleNamespace(imputation=pooled, mnar_sensitivity=mnar))
    assert "M = 5" in say[0] and "0.25 (tbr)" in say[0]
    assert "from 0.710 to 0.680" in say[1] and "delta 0: 0.700" in say[1]
    assert [t.columns.tolist() for _, t in tables][0] == ["term", "estimate", "se", "ci_low", "ci_high", "df",
                                                           "riv", "fmi"]
    assert tables[1][1] is mnar


def test_nothing_without_imputation():
    assert _imputation_parts(SimpleNamespace(imputation=None, mnar_sensitivity=None)) == ([], [])
