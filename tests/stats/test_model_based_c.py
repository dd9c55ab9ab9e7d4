"""The model-based C (van Klaveren et al. 2016): the O(n log n) form against the pair definition."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.stats._model_based_c import model_based_c


def _pairs(p):
    """The definition: every ordered pair i != j, weight p_i (1 - p_j), concordant when p_i > p_j."""
    num = den = 0.0
    for i, j in itertools.permutations(range(len(p)), 2):
        w = p[i] * (1 - p[j])
        den += w
        num += w * ((p[i] > p[j]) + 0.5 * (p[i] == p[j]))
    return num / den


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.05, 0.1, 0.3, 0.5, 0.9, 1.0]) | st.floats(0, 1), min_size=2, max_size=25))
def test_fast_form_equals_the_pair_definition(values):
    p = np.asarray(values, float)
    if p.sum() * (1 - p).sum() - np.sum(p * (1 - p)) <= 0:
        with pytest.raises(ValueError, match="no pair"):
            model_based_c(p)
        return
    assert model_based_c(p).estimate == pytest.approx(_pairs(p), rel=1e-12, abs=1e-12)


def test_it_is_the_expected_auc_when_outcomes_follow_the_risks():
    # independent check of what it means: draw outcomes from the risks, the mean AUC approaches mbc
    rng = np.random.default_rng(3)
    p = rng.beta(1.2, 6, 300)
    from radiorisk.stats import auc_delong

    aucs = [auc_delong(rng.binomial(1, p), p).estimate for _ in range(400)]
    assert np.mean(aucs) == pytest.approx(model_based_c(p).estimate, abs=0.004)


def test_refusals_name_the_value():
    with pytest.raises(ValueError, match="at least 2"):
        model_based_c([0.5])
    with pytest.raises(ValueError, match=r"found 1\.5 at position 1"):
        model_based_c([0.2, 1.5])
    with pytest.raises(ValueError, match="position 0"):
        model_based_c([np.nan, 0.2])
