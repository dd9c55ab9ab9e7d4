"""breslow_increments is the one Breslow baseline hazard: the models' breslow_cumhaz is its
cumulative sum, bit for bit, and the per-group recalibration sums it at the horizon."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from radiorisk.models._base import breslow_cumhaz
from radiorisk.stats import breslow_increments


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 80), st.booleans())
def test_models_breslow_cumhaz_is_the_cumulative_sum(seed, n, weighted):
    rng = np.random.default_rng(seed)
    t = rng.integers(1, 10, n).astype(float)
    e = rng.binomial(1, 0.6, n).astype(float)
    m = rng.normal(size=n)
    w = rng.integers(0, 3, n).astype(float) if weighted else np.ones(n)
    times, inc = breslow_increments(t, e, m, w if weighted else None)
    ref_t, ref_H = breslow_cumhaz(t, e, m, w)
    np.testing.assert_array_equal(times, ref_t)
    np.testing.assert_array_equal(np.cumsum(inc), ref_H)
