"""The generator's true MACE risk against what it simulates (estimators on the simulated outcomes)."""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.datasets import simulate_cohort
from radiorisk.datasets._true_risk import true_mace_risk
from radiorisk.features import assemble_cohort
from radiorisk.stats import aalen_johansen, kaplan_meier_at

T0 = 1826.0


@pytest.fixture(scope="module")
def cohort():
    return simulate_cohort(30000, mode="established-cad", seed=9)


def test_mi_alone_matches_the_latent_mi_times(cohort):
    net = true_mace_risk(cohort, T0, mace=("mi",), competing=False)
    emp = float((cohort.truth["mi_latent_time_days"] <= T0).mean())
    se = np.sqrt(emp * (1 - emp) / len(net))
    assert abs(net.mean() - emp) < 3 * se


def test_cumulative_incidence_and_net_risk_match_their_estimators(cohort):
    f1 = true_mace_risk(cohort, T0, steps=1000)
    net = true_mace_risk(cohort, T0, competing=False, steps=1000)
    d = assemble_cohort(cohort, competing="competing", horizon=T0)
    t, s = d.time.to_numpy(float), d.event_type.to_numpy(int)
    aj = aalen_johansen(t, s)
    i = np.searchsorted(aj.times, T0, side="right") - 1
    assert abs(f1.mean() - aj.cif[i]) < 3 * aj.se[i]
    km = 1 - kaplan_meier_at(t, (s == 1).astype(float), T0)
    assert abs(net.mean() - km) < 3 * aj.se[i]  # the KM SE is of the same size
    assert (f1 <= net + 1e-12).all() and net.mean() - f1.mean() > 0.003  # competing deaths matter


def test_grid_convergence_and_refusals(cohort):
    small = simulate_cohort(300, mode="chest-pain", seed=2)
    coarse, fine = true_mace_risk(small, T0, steps=1000), true_mace_risk(small, T0, steps=8000)
    assert np.abs(coarse - fine).max() < 2e-4
    with pytest.raises(ValueError, match="no hazard"):
        true_mace_risk(small, T0, mace="mi+stroke")
    with pytest.raises(ValueError, match="horizon must be > 0"):
        true_mace_risk(small, 0.0)
