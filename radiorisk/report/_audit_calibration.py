"""The audit report's statements and tables on calibration slopes, GND tests and adjusted group differences.

Formats only: the numbers are :meth:`radiorisk.evaluation.SubgroupAudit.calibration_tests` and the
``p_value`` / ``p_holm`` / ``p_bh`` / ``significant`` columns of the differences table
(:func:`radiorisk.evaluation.audit_tables`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation import UNKNOWN_GROUP, AuditTables, SubgroupAudit
from ._vocab import _METRIC_WORDS

__all__: list[str] = []

#: How the report names each adjustment of ``significant``.
ADJUST_WORDS = {"holm": "Holm (family-wise error)", "bh": "Benjamini–Hochberg (false discovery rate)",
                "none": "no multiplicity adjustment"}
_P_COLUMN = {"holm": "p_holm", "bh": "p_bh", "none": "p_value"}


def _g(v) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.3g}"


def _p(v) -> str:
    return "< 0.001" if v < 0.001 else f"= {v:.3f}"


def _assessable(audit: SubgroupAudit, ct: pd.DataFrame) -> pd.DataFrame:
    """Groups a finding may be stated for: not overall, not unknown, at least ``min_events`` events."""
    return ct[(ct["attribute"] != "overall") & (ct["group"] != UNKNOWN_GROUP) & (ct["events"] >= audit.min_events)]


def calibration_test_findings(audit: SubgroupAudit, tables: AuditTables) -> list[str]:
    """Key findings on the calibration slope (CI excluding 1) and the GND test (p < 0.05) per group."""
    ct = tables.calibration_tests
    if ct is None or ct.empty:
        return []
    out = []
    ov = ct[ct["attribute"] == "overall"]
    if len(ov) and np.isfinite(ov["cal_slope"].iloc[0]):
        r = ov.iloc[0]
        kind = "Fine–Gray" if audit.competing_risks else ("Cox" if audit.survival else "logistic")
        out.append(f"Overall, the calibration slope ({kind} recalibration) is {_g(r['cal_slope'])} (95% CI "
                   f"{_g(r['cal_slope_ci_low'])} to {_g(r['cal_slope_ci_high'])}): 1 is ideal, below 1 the "
                   "predictions are too extreme, above 1 too moderate.")
    grp = _assessable(audit, ct)
    off = grp[(grp["cal_slope_ci_low"] > 1) | (grp["cal_slope_ci_high"] < 1)]
    for _, r in off.iterrows():
        how = "too extreme" if r["cal_slope"] < 1 else "too moderate"
        out.append(f"In {r['attribute']} = {r['group']}, the calibration slope is {_g(r['cal_slope'])} (95% CI "
                   f"{_g(r['cal_slope_ci_low'])} to {_g(r['cal_slope_ci_high'])}; it excludes 1): the "
                   f"predictions are {how} in this group.")
    col = {"holm": "gnd_p_holm", "bh": "gnd_p_bh"}.get(tables.adjust, "gnd_p")
    if col not in grp:  # tables written before the adjusted columns
        col = "gnd_p"
    bad = grp[grp[col] < 0.05]
    how = ("not adjusted" if col == "gnd_p" else
           f"{ADJUST_WORDS[tables.adjust]} adjustment over the {int(np.isfinite(ct[col]).sum())} groups tested")
    if len(bad):
        pw = "p" if col == "gnd_p" else "adjusted p"
        parts = ", ".join(f"{a} = {g} (χ² = {c:.1f}, df = {int(d)}, {pw} {_p(p)})" for a, g, c, d, p in
                          zip(bad["attribute"], bad["group"], bad["gnd_chi2"], bad["gnd_df"], bad[col],
                              strict=True))
        out.append(f"The Greenwood–Nam–D'Agostino test rejects calibration (p < 0.05, {how}) in {parts}.")
    return out


def difference_findings(audit: SubgroupAudit, tables: AuditTables) -> list[str]:
    """Key finding on the O/E and C differences that remain significant after the table's adjustment.

    The other metrics' adjusted p-values are in ``differences.csv`` and the report's table.
    """
    diff = tables.differences
    if audit.replicates is None or diff is None or "significant" not in diff:
        return []
    headline = (("oe_ratio_cr", "c_cr") if audit.competing_risks else
                ("oe_ratio_t", "harrell_c") if audit.survival else ("oe_ratio", "auc"))
    d = diff[(diff["contrast"] == "difference") & (diff["group"] != UNKNOWN_GROUP) & diff["metric"].isin(headline)]
    words = ADJUST_WORDS.get(tables.adjust, tables.adjust)
    col = _P_COLUMN.get(tables.adjust, "p_value")
    tested = d[np.isfinite(d[col])]
    if tested.empty:
        return []
    sig = tested[tested["significant"] & ~tested["flag"]]  # flagged groups stay in the tables only
    if sig.empty:
        return [f"No group's O/E or C differs from the overall value after {words} adjustment "
                f"({len(tested)} comparisons, one family per metric; Wald p-values with paired-bootstrap SEs; "
                "other metrics: differences table)."]
    parts = ", ".join(f"{_METRIC_WORDS.get(m, m)} in {a} = {g} (difference {_g(e)}, adjusted p {_p(p)})"
                      for a, g, m, e, p in zip(sig["attribute"], sig["group"], sig["metric"], sig["estimate"],
                                               sig[col], strict=True))
    return [f"{len(sig)} group-versus-overall O/E or C difference(s) remain significant after {words} adjustment over "
            f"{len(tested)} comparisons (one family per metric; Wald p-values with paired-bootstrap SEs; flagged groups are "
            f"not stated): {parts}."]


def calibration_tests_table(tables: AuditTables) -> pd.DataFrame | None:
    """The report's view of ``calibration_tests.csv`` (estimates with CIs, GND test)."""
    ct = tables.calibration_tests
    if ct is None or ct.empty:
        return None

    def ci(e, lo, hi):
        if not np.isfinite(e):
            return "—"
        return f"{_g(e)} ({_g(lo)} to {_g(hi)})" if np.isfinite(lo) and np.isfinite(hi) else _g(e)

    return pd.DataFrame({
        "attribute": ct["attribute"], "group": ct["group"], "n": ct["n"], "events": ct["events"],
        "calibration slope (95% CI)": [ci(*v) for v in zip(ct["cal_slope"], ct["cal_slope_ci_low"],
                                                             ct["cal_slope_ci_high"], strict=True)],
        "calibration intercept (95% CI)": [ci(*v) for v in zip(ct["cal_intercept"], ct["cal_intercept_ci_low"],
                                                                 ct["cal_intercept_ci_high"], strict=True)],
        "GND χ²": [_g(v) for v in ct["gnd_chi2"]],
        "GND df": ["—" if pd.isna(v) else str(int(v)) for v in ct["gnd_df"]],
        "GND p": [_g(v) for v in ct["gnd_p"]],
        "GND p (Holm)": [_g(v) for v in ct["gnd_p_holm"]], "GND p (BH)": [_g(v) for v in ct["gnd_p_bh"]],
        "flag": ct["flag"], "flag_reason": ct["flag_reason"]})


def differences_table(tables: AuditTables) -> pd.DataFrame | None:
    """The report's view of the group-minus-overall differences with raw and adjusted p-values."""
    diff = tables.differences
    if diff is None or diff.empty or "p_value" not in diff:
        return None
    d = diff[diff["contrast"] == "difference"]
    return d[["attribute", "group", "metric", "estimate", "ci_low", "ci_high", "p_value", "p_holm", "p_bh",
              "significant", "flag"]]
