"""The O(n log^2 n) concordance pair counts equal the all-pairs counts (used above 5e7 pairs)."""

import numpy as np
import pytest

from radiorisk.stats._concordance import _pair_counts, _pair_counts_sorted, harrell_c


@pytest.mark.parametrize("n", [1, 2, 7, 64, 333, 2000])
def test_sorted_pair_counts_equal_all_pairs(n):
    rng = np.random.default_rng(n)
    for _ in range(10):
        t = rng.integers(1, 6, n).astype(float)  # heavy ties in time, events and censorings together
        e = rng.integers(0, 2, n).astype(float)
        r = rng.integers(0, 5, n) / 4  # heavy ties in risk
        idx = np.flatnonzero(e == 1)
        exact = _pair_counts(t, e, r, idx, chunk=5)
        fast = _pair_counts_sorted(t, e, r, idx)
        for a, b in zip(exact, fast, strict=True):
            np.testing.assert_array_equal(a, b)


def test_large_input_takes_the_sorted_path_and_agrees():
    rng = np.random.default_rng(1)
    n = 12_000  # 12,000 x ~6,000 events > 5e7 pairs: harrell_c uses the sorted counts
    t = rng.exponential(5, n).round(1) + 0.1
    e = (rng.uniform(size=n) < 0.5).astype(float)
    r = rng.uniform(size=n).round(3)
    idx = np.flatnonzero(e == 1)
    comp, conc, tied = _pair_counts(t, e, r, idx, chunk=500)
    expected = (conc.sum() + 0.5 * tied.sum()) / comp.sum()
    assert harrell_c(t, e, r) == pytest.approx(expected, abs=1e-15)
