"""site_heterogeneity: per-site KM risk, O/E against a pooled case-mix Cox model, REML tau."""

from __future__ import annotations

import numpy as np
import pytest

from radiorisk.datasets import simulate_cohort, site_heterogeneity
from radiorisk.stats import kaplan_meier_risk


def test_per_site_table_and_breslow_identity():
    c = simulate_cohort(3000, seed=12, sites=5)
    h = site_heterogeneity(c, horizon_days=1000)
    assert h.per_site.index.tolist() == [f"site0{i}" for i in range(1, 6)]
    assert h.per_site["n"].sum() == 3000
    # Breslow: the expected events of all patients add up to the observed events, for any score
    assert h.per_site["expected"].sum() == pytest.approx(h.per_site["observed"].sum(), rel=1e-9)
    # the KM column is the KM of that site's patients
    s2 = (c.patients["site_id"] == "site02").to_numpy()
    o = c.outcomes[s2]
    km = kaplan_meier_risk(o["mace_time_days"], o["mace_event"].astype(float), horizon=1000).estimate
    assert h.per_site.loc["site02", "km_risk"] == pytest.approx(km, abs=1e-12)
    assert h.scanners["n"].sum() == 3000 and h.scanners["share"].sum() == pytest.approx(1.0)
    assert h.design_sd == pytest.approx(np.std(h.per_site["design_log_hr"]))


def test_estimated_site_effects_track_the_design():
    # seed 3, 8 sites, hazard_sd 0.5, n = 30000 (chest-pain): per-site log O/E against the design's
    # log baseline HR correlates above 0.8, and REML tau is within 0.5x-1.5x of the design SD
    h = site_heterogeneity(simulate_cohort(30000, seed=3, sites={"n_sites": 8, "hazard_sd": 0.5}))
    r = np.corrcoef(h.per_site["log_oe"], h.per_site["design_log_hr"])[0, 1]
    assert r > 0.8, r
    assert 0.5 * h.design_sd < h.tau < 1.5 * h.design_sd, (h.tau, h.design_sd)
    # no site effect on the hazard: tau is small (case-mix differences are adjusted for)
    flat = site_heterogeneity(simulate_cohort(30000, seed=3, sites={"n_sites": 8, "hazard_sd": 0.0}))
    assert flat.design_sd == 0.0 and flat.tau < 0.1, flat.tau


def test_default_cohort_is_summarised_too():
    h = site_heterogeneity(simulate_cohort(1500, seed=1))
    assert len(h.per_site) == 8 and np.isnan(h.design_sd)
    assert set(h.scanners["detector"]) == {"energy_integrating"}
