"""``fit --cv-by site --competing competing``: iecv.csv holds the competing-risk metrics per site."""

from __future__ import annotations

import pandas as pd

from radiorisk.datasets import write_synthetic_cohort
from radiorisk.pipeline import run_fit
from radiorisk.pipeline._iecv import IECV_COMPETING_METRICS, IECV_METRICS

KEY = "radiorisk-test-suite-key-0123456789"


def test_competing_deaths_give_competing_risk_metrics_per_cluster(tmp_path):
    write_synthetic_cohort(tmp_path / "D", n=900, mode="established-cad", seed=2)
    run = run_fit(tmp_path / "D", tmp_path / "RUN", model="coxph", blocks="clinical", cv_by="site",
                  competing="competing", params={"penalizer": 0.1}, n_boot=20, id_key=KEY)
    f = pd.read_csv(tmp_path / "RUN" / "iecv.csv")
    assert set(f["metric"]) == set(IECV_COMPETING_METRICS)
    assert not set(f["metric"]) & (set(IECV_METRICS) - set(IECV_COMPETING_METRICS))
    assert run.iecv.meta["oe_ratio_cr"].k >= 3
