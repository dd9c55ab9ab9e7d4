"""Issue 14's "done when" for IECV on the generator's own multi-site cohorts (not a hand-built model).

8 sites, no random between-site hazard (``hazard_sd=0``), seed 14, established CAD, 4000 patients:
with the ``site03_baseline_hr`` preset (site03's baseline hazard x 1.8) that site's O/E CI lies above 1
and I² for O/E is above 0; without it, the 95 % prediction interval for a new site covers every
site's O/E.
"""

from __future__ import annotations

import pytest

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.pipeline import run_fit

KEY = "radiorisk-test-suite-key-0123456789"
SITES = {"n_sites": 8, "hazard_sd": 0.0}


def _oe_rows(base, name, bias):
    write_synthetic_cohort(base / name, n=4000, mode="established-cad", sites=SITES, seed=14, bias=bias)
    run = run_fit(base / name, base / f"{name}_RUN", competing_risks=False, model="coxph", blocks="clinical,ccta", cv_by="site",
                  params={"penalizer": 0.1}, n_boot=100, id_key=KEY)
    f = run.iecv.to_frame()
    assert (base / f"{name}_RUN" / "iecv.csv").is_file()
    return f[f["metric"] == "oe_ratio_t"].set_index("cluster")


def test_an_injected_site_is_found_and_heterogeneity_reported(tmp_path):
    oe = _oe_rows(tmp_path, "INJ", "site03_baseline_hr")
    assert len(oe.loc[oe["row"] == "cluster"]) == 8
    assert oe.loc["site03", "ci_low"] > 1.0
    assert oe.loc["pooled", "i2"] > 0.0 and oe.loc["pooled", "k"] == 8


def test_without_an_injected_site_the_prediction_interval_covers_every_site(tmp_path):
    oe = _oe_rows(tmp_path, "NULL", None)
    sites = oe.loc[oe["row"] == "cluster", "estimate"]
    pi = oe.loc["prediction interval"]
    assert pi["ci_low"] < sites.min() and sites.max() < pi["ci_high"], (sites.to_dict(), pi[["ci_low", "ci_high"]])
    assert not oe.loc["site03", "ci_low"] > 1.0  # site03 is not found above 1 without the preset


@pytest.mark.parametrize("preset", ["site03_baseline_hr"])
def test_the_preset_is_the_one_documented(preset):
    from radiorisk.datasets import BIAS_PRESETS

    assert BIAS_PRESETS[preset] == {"baseline_hr": {"site_id=site03": 1.8}}
