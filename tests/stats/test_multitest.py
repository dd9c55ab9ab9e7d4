"""Holm and Benjamini-Hochberg adjusted p-values against R's p.adjust."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radiorisk.stats import adjust_p_values

REF = Path(__file__).resolve().parents[1] / "reference" / "calibration_tests" / "p_adjust.csv"


@pytest.mark.parametrize(("method", "col"), [("holm", "holm"), ("bh", "bh"), ("fdr_bh", "bh")])
def test_equals_r_p_adjust(method, col):
    ref = pd.read_csv(REF)
    got = adjust_p_values(ref["p"].to_numpy(), method)
    np.testing.assert_allclose(got, ref[col].to_numpy(), rtol=0, atol=1e-12)  # NaN where R has NA


def test_refuses_unknown_method_and_out_of_range_p():
    with pytest.raises(ValueError, match="method must be one of"):
        adjust_p_values([0.1], "bonferroni")
    with pytest.raises(ValueError, match=r"p-values must lie in \[0, 1\]; got 1.5 at position 1"):
        adjust_p_values([0.1, 1.5], "holm")
