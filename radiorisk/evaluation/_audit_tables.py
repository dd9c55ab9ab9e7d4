"""The tables of an audit folder: one computation, written by the pipeline and shown by the report.

:func:`audit_tables` turns a :class:`~radiorisk.evaluation.SubgroupAudit` into the
tables of ``radiorisk audit`` (``metrics.csv``, ``calibration_tables.csv``,
``fairness.csv``, ``heterogeneity.csv``, ``differences.csv``, ``flags.csv``,
``calibration_tests.csv``, ``decision_curves.csv`` and, with a reference model, ``nri.csv``).
Writing
them is :func:`radiorisk.pipeline.write_audit_outputs`; the HTML page is
:func:`radiorisk.report.audit_report_html`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from ._audit import UNKNOWN_GROUP, SubgroupAudit
from ._metrics_frame import METRICS_COLUMNS

__all__ = ["AuditTables", "audit_tables", "AUDIT_FILES", "NRI_FILE", "stack_audit_tables"]

#: Files of an audit folder (figures go to ``figures/``).
AUDIT_FILES = ("metrics.csv", "calibration_tables.csv", "fairness.csv", "heterogeneity.csv",
               "differences.csv", "flags.csv", "calibration_tests.csv", "decision_curves.csv", "report.html")
#: The NRI table, written when a reference model's risk is given (``reference_risk``).
NRI_FILE = "nri.csv"


@dataclass(frozen=True)
class AuditTables:
    """The tables of an audit folder.

    Attributes
    ----------
    metrics : DataFrame
        :meth:`SubgroupAudit.to_frame` (``metrics.csv`` holds its :data:`METRICS_COLUMNS`).
    calibration, fairness, heterogeneity, differences, flags : DataFrame
        ``calibration_tables.csv``, ``fairness.csv``, ``heterogeneity.csv``,
        ``differences.csv`` (differences and ratios to overall) and ``flags.csv``
        (missing labels first, then every flagged estimate).
        ``differences`` also has each contrast's bootstrap ``p_value``, its Holm and
        Benjamini-Hochberg adjustments (``p_holm``, ``p_bh``; one family per contrast and
        metric) and ``significant`` (the ``adjust`` p-value < ``alpha``).
    calibration_tests : DataFrame
        ``calibration_tests.csv``: :meth:`SubgroupAudit.calibration_tests` (calibration slope
        and intercept with Wald CIs, GND test, per group).
    adjust : str
        Which p-value decides ``significant`` in ``differences`` (``holm``, ``bh`` or ``none``).
    decision : DataFrame
        ``decision_curves.csv``: :meth:`SubgroupAudit.decision_curves` (net benefit per group
        and threshold, with treat-all and treat-none).
    nri : DataFrame
        ``nri.csv``: :meth:`SubgroupAudit.reclassification` against the reference model
        (empty, and not written, without one).
    reference : str
        The reference model's risk column (empty without one).
    threshold : str
        The decision rule of ``fairness`` as written in its ``threshold`` column.
    """

    metrics: pd.DataFrame
    calibration: pd.DataFrame
    fairness: pd.DataFrame
    heterogeneity: pd.DataFrame
    differences: pd.DataFrame
    flags: pd.DataFrame
    calibration_tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    adjust: str = "holm"
    decision: pd.DataFrame = field(default_factory=pd.DataFrame)
    nri: pd.DataFrame = field(default_factory=pd.DataFrame)
    reference: str = ""

    @property
    def threshold(self) -> str:
        """The decision rule of the fairness table (empty when the table is empty)."""
        return str(self.fairness["threshold"].iloc[0]) if len(self.fairness) else ""

    def files(self) -> dict[str, pd.DataFrame]:
        """``{file name: table}`` as the audit folder holds them (CSV files only).

        Returns
        -------
        dict of str to DataFrame
        """
        keep = (["horizon"] if "horizon" in self.metrics.columns else []) + list(METRICS_COLUMNS)
        out = {"metrics.csv": self.metrics[keep],
                "calibration_tables.csv": self.calibration, "fairness.csv": self.fairness,
                "heterogeneity.csv": self.heterogeneity, "differences.csv": self.differences,
                "flags.csv": self.flags, "calibration_tests.csv": self.calibration_tests}
        if len(self.decision):
            out["decision_curves.csv"] = self.decision
        if len(self.nri):
            out[NRI_FILE] = self.nri
        return out


def _flags_table(audit: SubgroupAudit, frame: pd.DataFrame) -> pd.DataFrame:
    flags = frame.loc[frame["flag"], ["attribute", "group", "metric", "flag_reason"]]
    flags = flags.rename(columns={"flag_reason": "reason"})
    excl = audit.exclusions
    excl_rows = excl[excl["n_missing"] > 0]
    ex = pd.DataFrame({"attribute": excl_rows["attribute"], "group": UNKNOWN_GROUP, "metric": "",
                       "reason": [f"{k} row(s) with a missing label: {h}" for k, h in
                                  zip(excl_rows["n_missing"], excl_rows["handling"], strict=True)]})
    return pd.concat([ex, flags], ignore_index=True)


def audit_tables(audit: SubgroupAudit, *, threshold: float | None = None, top_k: float | None = None,
                 bands=5, adjust: str = "holm", alpha: float = 0.05, decision_thresholds=None,
                 reference_risk=None, reference: str = "", nri_cuts=None) -> AuditTables:
    """Every table of an audit folder, computed once.

    Parameters
    ----------
    audit : SubgroupAudit
    threshold, top_k : float, optional
        Decision rule of :meth:`SubgroupAudit.fairness` (default ``top_k=10``).
    bands : int or sequence
        Risk bands of :meth:`SubgroupAudit.calibration_within_groups`.
    adjust : {"holm", "bh", "none"}
        Which p-value of ``differences`` decides ``significant`` (and the report's key
        findings on group differences): Holm by default.
    alpha : float
        The level of ``significant``.
    decision_thresholds : sequence of float, optional
        Thresholds of :meth:`SubgroupAudit.decision_curves` (default 0.01 ... 0.50).
    reference_risk : array-like of shape (n,), optional
        A reference model's risk of the same rows: ``nri`` is
        :meth:`SubgroupAudit.reclassification` of the audited risk against it.
    reference : str
        The reference model's name (its risk column), shown in the report.
    nri_cuts : sequence of float, optional
        Cut points of the categorical NRI (default: ``threshold`` when given, else only the
        category-free NRI).

    Returns
    -------
    AuditTables

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.05, 0.6, 300)
    >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 300)})
    >>> t = audit_tables(a)
    >>> sorted(t.files())[:3], t.threshold
    (['calibration_tables.csv', 'calibration_tests.csv', 'decision_curves.csv'], 'top 10 % of risk (risk >= 0.56206)')
    """
    if threshold is None and top_k is None:
        top_k = 10.0
    frame = audit.to_frame()  # the order of the calls is the order of the files
    cal = audit.calibration_within_groups(bands)
    fair = audit.fairness(threshold=threshold, top_k=top_k)
    het = audit.heterogeneity()
    diff = audit.difference("overall", adjust=adjust, alpha=alpha).assign(contrast="difference")
    rat = audit.ratio("overall", adjust=adjust, alpha=alpha).assign(contrast="ratio")
    contrasts = pd.concat([diff, rat], ignore_index=True)
    contrasts = contrasts[["contrast"] + [c for c in contrasts.columns if c != "contrast"]]
    decision = audit.decision_curves(decision_thresholds)
    if nri_cuts is None and threshold is not None and 0 < threshold < 1:
        nri_cuts = [threshold]
    nri = pd.DataFrame() if reference_risk is None else audit.reclassification(reference_risk, cuts=nri_cuts)
    return AuditTables(metrics=frame, calibration=cal, fairness=fair, heterogeneity=het,
                       differences=contrasts, flags=_flags_table(audit, frame),
                       calibration_tests=audit.calibration_tests(), adjust=adjust, decision=decision, nri=nri,
                       reference=reference if reference_risk is not None else "")


def stack_audit_tables(by_horizon: Mapping[float, AuditTables]) -> AuditTables:
    """The tables of audits at several horizons as one: every table gets a first column ``horizon``.

    Parameters
    ----------
    by_horizon : mapping of float to AuditTables
        :func:`audit_tables` of one :class:`SubgroupAudit` per horizon (in the order to write).

    Returns
    -------
    AuditTables
        Each table the horizons' tables stacked, ``horizon`` first. The adjusted p-values of
        ``differences`` stay those of each horizon's audit (one family per horizon, contrast
        and metric).

    Raises
    ------
    ValueError
        Without tables, or when the tables use different adjustments.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> r = rng.uniform(0.05, 0.5, 400)
    >>> t = rng.exponential(-5 / np.log1p(-r))
    >>> kw = dict(time=np.minimum(t, 9), event=(t <= 9).astype(int), metrics=["harrell_c"], n_boot=0)
    >>> both = stack_audit_tables({h: audit_tables(SubgroupAudit(r, horizon=h, **kw)) for h in (3, 5)})
    >>> both.metrics[["horizon", "metric"]].values.tolist()
    [[3.0, 'harrell_c'], [5.0, 'harrell_c']]
    """
    if not by_horizon:
        raise ValueError("by_horizon is empty: give the tables of at least one horizon")
    adjust = {t.adjust for t in by_horizon.values()}
    if len(adjust) > 1:
        raise ValueError(f"the tables use different adjustments {sorted(adjust)}; use one")

    def stack(name):
        parts = [getattr(t, name).assign(horizon=float(h)) for h, t in by_horizon.items()]
        parts = [p for p in parts if len(p.columns) > 1]
        if not parts:
            return pd.DataFrame()
        f = pd.concat(parts, ignore_index=True)
        return f[["horizon"] + [c for c in f.columns if c != "horizon"]]

    names = ("metrics", "calibration", "fairness", "heterogeneity", "differences", "flags", "calibration_tests",
             "decision", "nri")
    ref = {t.reference for t in by_horizon.values()} - {""}
    return AuditTables(**{n: stack(n) for n in names}, adjust=adjust.pop(), reference=", ".join(sorted(ref)))
