"""The one resampling engine: replicate b is fixed by (random_state, b) and the strata alone."""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.stats import StratifiedBootstrap
from radiorisk.stats._resample import permutation_rng, replicate_seed

STRATA = np.random.default_rng(0).integers(0, 4, 257)


def _spawned(strata, n_boot, random_state, b):
    """Replicate b written out from the documented scheme (SeedSequence(random_state).spawn(n_boot)[b])."""
    codes = np.unique(np.asarray(strata).astype(str), return_inverse=True)[1]
    rng = np.random.default_rng(np.random.SeedSequence(random_state).spawn(n_boot)[b])
    members = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return members[starts[codes] + rng.integers(0, sizes[codes])]


@pytest.mark.parametrize("random_state", [0, 7, 2**40 + 3, [1, 2]])
def test_replicate_is_the_spawned_child(random_state):
    bs = StratifiedBootstrap(STRATA, 12, random_state)
    for b in (0, 5, 11):
        np.testing.assert_array_equal(bs.replicate(b), _spawned(STRATA, 12, random_state, b))
        s = replicate_seed(random_state, b)
        assert s.spawn_key == (b,)
        np.testing.assert_array_equal(s.generate_state(4),
                                      np.random.SeedSequence(random_state).spawn(b + 1)[b].generate_state(4))


def test_replicate_does_not_depend_on_n_boot_or_blocks():
    big = StratifiedBootstrap(STRATA, 40, 3)
    small = StratifiedBootstrap(STRATA, 7, 3)
    all_at_once = big.indices(range(40))
    np.testing.assert_array_equal(small.indices(range(7)), all_at_once[:7])
    for block in (1, 3, 16, 64):
        chunks = np.vstack([idx for _, idx in big.blocks(block)])
        np.testing.assert_array_equal(chunks, all_at_once)
    np.testing.assert_array_equal(big.indices([9, 2]), all_at_once[[9, 2]])
    assert not np.array_equal(all_at_once[0], StratifiedBootstrap(STRATA, 40, 4).replicate(0))


def test_rows_stay_in_their_stratum_and_rng_is_fresh():
    bs = StratifiedBootstrap(STRATA, 5, 1)
    for b in range(5):
        assert (STRATA[bs.replicate(b)] == STRATA).all()
    assert bs.rng(2).random() == bs.rng(2).random()
    with pytest.raises(IndexError, match="out of range"):
        bs.rng(5)
    with pytest.raises(IndexError, match="out of range"):
        bs.replicate(-1)
    one = StratifiedBootstrap(np.zeros(50), 3, 0)  # one stratum: a plain bootstrap of all rows
    assert one.replicate(0).min() >= 0 and one.replicate(0).max() < 50


def test_permutation_stream():
    codes = np.repeat([0, 1, 2], 30)
    a = permutation_rng(5, 3).permutation(codes)
    np.testing.assert_array_equal(a, StratifiedBootstrap.permutation_rng(5, 3).permutation(codes))
    np.testing.assert_array_equal(
        a, np.random.default_rng(np.random.SeedSequence(5, spawn_key=(3, 0))).permutation(codes))
    assert sorted(a) == sorted(codes)
    # independent of bootstrap replicate 3 with the same seed, and of the other permutations
    assert permutation_rng(5, 3).random() != StratifiedBootstrap(codes, 4, 5).rng(3).random()
    assert not np.array_equal(a, permutation_rng(5, 4).permutation(codes))
