"""Issue 13's false-flag check: a perfect model under competing mortality, audited both ways.

Every patient gets the true cumulative incidence of MACE (non-cardiac death competing). The censoring
audit compares it with the net risk (1 - KM, competing deaths censored), which is higher where
competing mortality is high, and flags those groups; the competing-risk audit does not. The full
study (5 cohorts) is benchmarks/competing_false_flags.py and docs/audit.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from radiorisk.datasets import simulate_cohort, true_mace_risk
from radiorisk.evaluation import SubgroupAudit
from radiorisk.features import assemble_cohort

T0 = 1826.0


def test_censoring_audit_flags_the_old_the_competing_risk_audit_does_not():
    c = simulate_cohort(20000, mode="established-cad", seed=2)
    d = assemble_cohort(c, competing="competing", horizon=T0)
    ids = d.X.index.astype(str)
    risk = true_mace_risk(c, T0).reindex(ids).to_numpy()
    t, status = d.time.to_numpy(float), d.event_type.to_numpy(int)
    age = c.patients.set_index(c.patients["patient_id"].astype(str))["age_years"].reindex(ids)
    groups = {"sex": d.groups["sex"].to_numpy(object), "ethnicity": d.groups["ethnicity"].to_numpy(object),
              "age": np.where(age >= 75, ">=75", "<75").astype(object)}
    kw = dict(horizon=T0, groups=groups, intersections=False, n_boot=0)
    cen = SubgroupAudit(risk, time=t, event=(status == 1).astype(int), metrics=["oe_ratio_t"], **kw).by_group
    cr = SubgroupAudit(risk, time=t, event=status, competing_risks=True, metrics=["oe_ratio_cr"], **kw).by_group

    def flagged(frame):
        return set(zip(frame.loc[(frame["ci_low"] > 1) | (frame["ci_high"] < 1), "attribute"],
                       frame.loc[(frame["ci_low"] > 1) | (frame["ci_high"] < 1), "group"], strict=True))

    assert ("age", ">=75") in flagged(cen)  # the oldest: most competing deaths, "under-predicted"
    assert len(flagged(cr)) <= 1 < len(flagged(cen))
    old_cen = cen.set_index(["attribute", "group"]).loc[("age", ">=75"), "estimate"]
    old_cr = cr.set_index(["attribute", "group"]).loc[("age", ">=75"), "estimate"]
    assert abs(old_cr - 1) < abs(old_cen - 1) and isinstance(cen, pd.DataFrame)
