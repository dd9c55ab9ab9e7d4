"""The ladder's paired bootstrap draws from the one engine: replicate b is StratifiedBootstrap's replicate b."""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiorisk.datasets import simulate_cohort
from radiorisk.features import assemble_cohort
from radiorisk.models._ladder import _COMP, _DISC, _all_values, _bootstrap, modality_ladder
from radiorisk.stats import StratifiedBootstrap

H = 1826.0


def _toy(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.exponential(2000 * np.exp(-0.7 * x))
    c = rng.uniform(300, 4000, n)
    e = (t <= c).astype(float)
    r_old = 1 / (1 + np.exp(-(0.5 * x + rng.normal(0, 1, n))))
    r_new = 1 / (1 + np.exp(-(0.8 * x + rng.normal(0, 0.5, n))))
    return np.minimum(t, c), e, [r_old, r_new]


def test_replicate_b_is_the_engines_replicate_b():
    t, e, risks = _toy()
    bm, bc = _bootstrap(t, e, risks, H, 6, 11)
    bs = StratifiedBootstrap(np.zeros(len(t)), 6, 11)
    for b in (0, 3, 5):
        ii = bs.replicate(b)
        m, c = _all_values(t[ii], e[ii], [r[ii] for r in risks], H)
        np.testing.assert_array_equal(bm[b], [[d[k] for k in _DISC] for d in m])
        np.testing.assert_array_equal(bc[b], [[d[k] for k in _COMP] for d in c])


def test_replicates_do_not_depend_on_n_boot():
    t, e, risks = _toy(seed=1)
    bm3, bc3 = _bootstrap(t, e, risks, H, 3, 0)
    bm8, bc8 = _bootstrap(t, e, risks, H, 8, 0)
    np.testing.assert_array_equal(bm8[:3], bm3)
    np.testing.assert_array_equal(bc8[:3], bc3)


def test_ladder_cis_do_not_depend_on_n_jobs():
    data = assemble_cohort(simulate_cohort(400, mode="established-cad", seed=3))
    kw = dict(horizon=H, random_state=2, repeats=1, folds=3, rungs=("clinical", "ccta"), n_boot=15,
              params={"penalizer": 0.1})
    one = modality_ladder("coxph", data, n_jobs=1, **kw).to_frame()
    two = modality_ladder("coxph", data, n_jobs=2, **kw).to_frame()
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert one["ci_low"].notna().all()
