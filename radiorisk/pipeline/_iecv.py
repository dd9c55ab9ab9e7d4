"""Internal-external cross-validation (IECV): the clusters of ``fit --cv-by`` and their meta-analysis.

:func:`cluster_labels` reads the clustering of a cohort (``site``, ``vendor``,
any patient-level column; the ladder takes the same labels,
``modality_ladder(clusters=)``); :func:`iecv_summary`
measures the out-of-fold performance in each left-out cluster
(:class:`radiorisk.evaluation.SubgroupAudit` with the cluster as the group) and
pools it with :func:`radiorisk.stats.random_effects` (Debray et al. 2017, *BMJ*
356:i6460: C on the logit scale, O/E on the log scale; Riley et al. 2011
prediction interval for a new cluster).  The calibration slope of each cluster
(:meth:`radiorisk.evaluation.SubgroupAudit.calibration_tests`: Cox recalibration on
cloglog(risk), Wald SE) is pooled on its own scale.  With the competing-event status
(``status``), every metric is its competing-risk version (Aalen-Johansen observed risk;
Fine-Gray slope).  ``RUN/iecv.csv`` is :meth:`IECVSummary.to_frame`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from .._html import repr_html
from ..evaluation import COMPETING_METRICS, SURVIVAL_METRICS, SubgroupAudit
from ..exceptions import FitUsageError, NotEstimableError
from ..features import index_scans
from ..stats import MetaAnalysis, random_effects, sqrt_variance

__all__ = ["IECVSummary", "iecv_summary", "IECV_COLUMNS", "IECV_METRICS", "IECV_COMPETING_METRICS",
           "cluster_labels"]

#: Columns of ``iecv.csv`` (:meth:`IECVSummary.to_frame`).
IECV_COLUMNS = ("cv_by", "metric", "row", "cluster", "estimate", "ci_low", "ci_high", "se", "n", "events",
                "in_meta", "weight", "k", "tau2", "i2", "q_p", "method", "flag", "flag_reason")
#: Metrics of the summary by default: Harrell C, td-AUC, O/E, IPA and the calibration slope at the horizon.
IECV_METRICS = ("harrell_c", "td_auc", "oe_ratio_t", "ipa", "cal_slope_t")
#: The competing-risk metrics of the summary by default (``status`` given).
IECV_COMPETING_METRICS = ("c_cr", "auc_cr", "oe_ratio_cr", "ipa_cr", "cal_slope_cr")
#: Per-cluster calibration slopes (not SubgroupAudit metrics: from its ``calibration_tests``).
_SLOPES = {False: "cal_slope_t", True: "cal_slope_cr"}
#: Scale of the meta-analysis per metric (Debray 2017): logit for C and AUC, log for O/E; the others
#: (IPA, Brier, calibration slope) on their own scale.
_TRANSFORM = {"harrell_c": "logit", "uno_c": "logit", "td_auc": "logit", "oe_ratio_t": "log",
              "c_cr": "logit", "auc_cr": "logit", "oe_ratio_cr": "log"}
_ID_COLUMNS = ("patient_id", "scan_id", "lesion_id")


# ---------------------------------------------------------------------------
# the clusters
# ---------------------------------------------------------------------------


def cluster_labels(cohort, data, column: str) -> tuple[pd.Series, str]:
    """The cluster of every patient for ``fit --cv-by``: labels by ``patient_id`` and where they come from.

    Looked up in the assembled cohort's ``groups`` (``sex, ethnicity, site``),
    then the ``patients`` table, then the ``scans`` table; a scan-level column
    (``vendor``, ``kernel``, ...) is mapped to patients by each patient's first
    scan (earliest ``scan_date``), the scan the ccta block describes.

    Parameters
    ----------
    cohort : radiorisk.io.Cohort
        The cohort read by :func:`radiorisk.io.read_cohort` (or a synthetic cohort).
    data : CohortData
        Its assembled rows (:func:`radiorisk.features.assemble_cohort`).
    column : str

    Returns
    -------
    Series, str
        The labels (strings, named ``column``, indexed like ``data.X``) and a
        sentence on their source.

    Raises
    ------
    FitUsageError
        An identifier, an unknown column or a patient without a value.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> c = simulate_cohort(200, mode="established-cad", seed=1)
    >>> vendor, note = cluster_labels(c, assemble_cohort(c), "vendor")
    >>> vendor.name, len(vendor), note.split(":")[0]
    ('vendor', 200, 'cv_by vendor is a scan-level column')
    """
    if column in _ID_COLUMNS:
        raise FitUsageError(f"cv_by {column!r}: an identifier, not a cluster; give a column such as "
                            "site or vendor")
    ids = data.X.index.astype(str)
    if column in data.groups.columns:
        s, note = data.groups[column], f"cv_by {column}: the assembled cohort's audit group {column}"
    elif column in cohort.patients.columns:
        p = cohort.patients.drop_duplicates("patient_id")
        s = p.set_index(p["patient_id"].astype(str))[column]
        note = f"cv_by {column}: column {column} of table patients"
    elif column in cohort.scans.columns:
        s = index_scans(cohort.scans)[column]
        s = s.set_axis(s.index.astype(str))
        note = (f"cv_by {column} is a scan-level column: each patient is assigned the {column} of "
                "their first scan (earliest scan_date), the scan of the ccta block")
    else:
        raise FitUsageError(f"cv_by {column!r}: not a column of the cohort's groups "
                            f"({', '.join(map(str, data.groups.columns))}), patients or scans table")
    s = s.reindex(ids)
    missing = s.isna() | s.astype(str).str.strip().isin(["", "NA"])
    if missing.any():
        raise FitUsageError(f"cv_by {column!r}: {int(missing.sum())} patient(s) have no value; "
                            "leave-one-cluster-out cross-validation needs a cluster for every patient")
    s = s.astype(str).rename(column)
    if s.nunique() < 2:
        raise FitUsageError(f"cv_by {column!r}: one cluster only ({s.iloc[0]!r}); leave-one-cluster-out "
                            "cross-validation needs at least 2")
    return s, note


# ---------------------------------------------------------------------------
# the summary
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IECVSummary:
    """Per-cluster performance of an internal-external cross-validation and its random-effects pooling.

    Attributes
    ----------
    cv_by : str
        The clustering (``"site"``, ``"vendor"``, ...).
    clusters : tuple of str
    metrics : tuple of str
    per_cluster : DataFrame
        One row per cluster and metric (the ``row == "cluster"`` rows of :meth:`to_frame`).
    meta : Mapping[str, MetaAnalysis or None]
        The meta-analysis of each metric (None when fewer than 2 clusters can be pooled).
    horizon : float
    n_boot, random_state : int
    method : str
        Estimator of tau² (``"REML"``).
    level : float
    notes : tuple of str
    """

    cv_by: str
    clusters: tuple[str, ...]
    metrics: tuple[str, ...]
    per_cluster: pd.DataFrame = field(repr=False)
    meta: Mapping[str, MetaAnalysis | None] = field(repr=False)
    horizon: float
    n_boot: int
    random_state: int
    method: str
    level: float
    notes: tuple[str, ...] = field(default=(), repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Per metric: the cluster rows, the pooled row and the prediction-interval row (``iecv.csv``).

        Columns :data:`IECV_COLUMNS`; estimates and intervals on the metric's own
        scale (pooled results back-transformed); ``k, tau2, i2, q_p`` on the
        pooled and prediction rows (tau² on the analysis scale).
        """
        parts = []
        for m in self.metrics:
            rows = self.per_cluster[self.per_cluster["metric"] == m]
            parts += [rows, _pooled_rows(self.cv_by, m, self.meta.get(m), rows, self.method, self.level)]
        return pd.concat(parts, ignore_index=True)[list(IECV_COLUMNS)]

    def _repr_html_(self) -> str:
        return repr_html(f"Internal-external cross-validation: leave-one-{self.cv_by}-out, "
                         f"{len(self.clusters)} clusters, horizon {self.horizon:g} d",
                         self.to_frame().drop(columns=["cv_by", "method"]), self.notes, max_rows=200)


def _pooled_rows(cv_by, metric, ma, rows, method, level) -> pd.DataFrame:
    scale = _TRANSFORM.get(metric) or "identity"
    base = dict(cv_by=cv_by, metric=metric, se=np.nan, in_meta=True, weight=np.nan,
                n=int(rows.loc[rows["in_meta"], "n"].sum()), events=int(rows.loc[rows["in_meta"], "events"].sum()))
    if ma is None:
        why = "not estimable: fewer than 2 clusters with an estimate and a standard error"
        return pd.DataFrame([{**base, "row": r, "cluster": c, "estimate": np.nan, "ci_low": np.nan,
                              "ci_high": np.nan, "k": int(rows["in_meta"].sum()), "tau2": np.nan,
                              "i2": np.nan, "q_p": np.nan, "method": "", "flag": True, "flag_reason": why}
                             for r, c in (("pooled", "pooled"), ("prediction", "prediction interval"))])
    het = dict(k=ma.k, tau2=ma.tau2, i2=ma.i2, q_p=ma.q_p)
    no_pi = "k < 3: no prediction interval" if not np.isfinite(ma.pi[0]) else ""
    return pd.DataFrame([
        {**base, **het, "row": "pooled", "cluster": "pooled", "estimate": ma.pooled_original,
         "ci_low": ma.ci_original[0], "ci_high": ma.ci_original[1], "weight": 100.0,
         "method": f"{method} random effects on the {scale} scale (Debray 2017), back-transformed",
         "flag": False, "flag_reason": ""},
        {**base, **het, "row": "prediction", "cluster": "prediction interval", "estimate": ma.pooled_original,
         "ci_low": ma.pi_original[0], "ci_high": ma.pi_original[1],
         "method": f"{100 * level:g} % prediction interval for a new {cv_by} (Riley 2011, t with k - 2 df)",
         "flag": bool(no_pi), "flag_reason": no_pi},
    ])


def _exclusion(metric: str, est: float, se: float) -> str:
    """Why a cluster's estimate cannot enter the meta-analysis ('' when it can)."""
    if not np.isfinite(est):
        return "estimate undefined"
    if not (np.isfinite(se) and se > 0):
        return "no bootstrap standard error"
    tr = _TRANSFORM.get(metric)
    if tr == "logit" and not 0 < est < 1:
        return f"{est:g} has no logit"
    if tr == "log" and not est > 0:
        return f"{est:g} has no log"
    return ""


def _meta(cv_by, metric, rows: pd.DataFrame, method, level, notes: list) -> tuple[MetaAnalysis | None, np.ndarray]:
    """The meta-analysis of one metric over the clusters that can enter it, and which entered."""
    why = [_exclusion(metric, e, s) for e, s in zip(rows["estimate"], rows["se"], strict=True)]
    ok = np.array([not w for w in why])
    for lab, w in zip(rows["cluster"], why, strict=True):
        if w:
            notes.append(f"{metric}: {cv_by} {lab} left out of the meta-analysis ({w})")
    if ok.sum() < 2:
        notes.append(f"{metric}: {int(ok.sum())} {cv_by}(s) can be pooled; no meta-analysis (needs 2)")
        return None, ok
    try:
        ma = random_effects(rows["estimate"].to_numpy()[ok], rows["se"].to_numpy()[ok], method=method,
                            transform=_TRANSFORM.get(metric), level=level,
                            labels=rows["cluster"].to_numpy()[ok])
    except NotEstimableError as exc:
        notes.append(f"{metric}: the meta-analysis is not estimable ({exc})")
        return None, ok
    notes += [f"{metric}: {n}" for n in ma.notes]
    return ma, ok


def _cluster_rows(cv, audit: SubgroupAudit, n_boot: int) -> pd.DataFrame:
    """The audit's per-cluster rows with the bootstrap SE (SD of the replicates)."""
    rows = audit.by_group.rename(columns={"group": "cluster"})
    se = np.full(len(rows), np.nan)
    if audit.replicates is not None:
        rep = audit.replicates[1:]  # row 0 is overall; then the clusters, in by_group's order
        fin = np.isfinite(rep)
        n_ok = fin.sum(axis=1)
        x = np.where(fin, rep, 0.0)
        mean = x.sum(axis=1) / np.maximum(n_ok, 1)
        ss = (np.where(fin, x - mean[:, None, :], 0.0) ** 2).sum(axis=1)
        sd = np.where(n_ok >= 2, sqrt_variance(ss / np.maximum(n_ok - 1, 1)), np.nan)
        se = sd.ravel()
    ci = (f"percentile bootstrap CI ({n_boot} resamples within the {cv.cv_by}); se: bootstrap SD"
          if n_boot else "no bootstrap (n_boot = 0): no CI or SE")
    return rows.assign(cv_by=cv.cv_by, row="cluster", se=se, in_meta=False, weight=np.nan, k=np.nan,
                       tau2=np.nan, i2=np.nan, q_p=np.nan, method=ci)


def _slope_rows(cv, audit: SubgroupAudit) -> pd.DataFrame:
    """Per-cluster calibration slopes (Wald CI and SE) in the rows of ``iecv.csv``."""
    ct = audit.calibration_tests()
    ct = ct[ct["attribute"] == cv.cv_by]
    own = [[r for r in str(why).split("; ") if r and not r.startswith(("calibration-in-the-large", "GND"))]
           for why in ct["flag_reason"]]
    how = ("Fine-Gray regression of the event of interest (censored at the horizon) on cloglog(risk), "
           "robust SE, Wald CI" if audit.competing_risks else
           "Cox model of the outcome censored at the horizon on cloglog(risk), Efron ties, Wald CI and SE")
    return pd.DataFrame({
        "cv_by": cv.cv_by, "metric": _SLOPES[audit.competing_risks], "row": "cluster",
        "cluster": ct["group"].to_numpy(), "estimate": ct["cal_slope"].to_numpy(),
        "ci_low": ct["cal_slope_ci_low"].to_numpy(), "ci_high": ct["cal_slope_ci_high"].to_numpy(),
        "se": ct["cal_slope_se"].to_numpy(), "n": ct["n"].to_numpy(), "events": ct["events"].to_numpy(),
        "in_meta": False, "weight": np.nan, "k": np.nan, "tau2": np.nan, "i2": np.nan, "q_p": np.nan,
        "method": how, "flag": [bool(r) for r in own], "flag_reason": ["; ".join(r) for r in own]})


def _oof_status(oof: pd.DataFrame, status) -> np.ndarray:
    """The competing-event status (0/1/2) of the OOF rows; checked against their MACE event."""
    if isinstance(status, pd.Series):
        st = status.set_axis(status.index.astype(str)).reindex(oof["patient_id"].astype(str))
        if st.isna().any():
            raise ValueError(f"status: no value for {int(st.isna().sum())} patient(s) of the cross-validation")
        st = st.to_numpy(dtype=np.float64)
    else:
        st = np.asarray(status, dtype=np.float64)
        if st.shape != (len(oof),):
            raise ValueError(f"status has {st.size} values; the cross-validation has {len(oof)} patients")
    if not np.isin(st, (0.0, 1.0, 2.0)).all():
        raise ValueError("status must be 0 (censored), 1 (MACE) or 2 (competing event)")
    if not np.array_equal(st == 1, oof["event"].to_numpy() == 1):
        raise ValueError("status must be 1 exactly where the cross-validation's event is 1 (MACE); "
                         "give the cohort's event_type (fit with competing='competing')")
    return st


def iecv_summary(cv, *, metrics: Sequence[str] | None = None, n_boot: int = 500, random_state: int = 0,
                 method: str = "REML", level: float = 0.95, min_events: int = 10,
                 status=None) -> IECVSummary:
    """Per-cluster performance of a leave-one-cluster-out CV and its random-effects meta-analysis.

    Parameters
    ----------
    cv : CVResult
        From ``cross_validate_risk(..., clusters=...)`` (one fold per cluster).
    metrics : sequence of str, optional
        Survival metrics of :class:`radiorisk.evaluation.SubgroupAudit` and ``cal_slope_t``
        (default :data:`IECV_METRICS`: Harrell C, td-AUC, O/E, IPA and the calibration slope at
        the horizon); with ``status``, competing-risk metrics and ``cal_slope_cr`` (default
        :data:`IECV_COMPETING_METRICS`).
    n_boot : int
        Bootstrap resamples within each cluster: percentile CIs and the SEs
        (SD of the replicates) that weight the meta-analysis (0: none, no pooling).
        The calibration slope has Wald CIs and SEs whatever ``n_boot``.
    random_state : int
        Seed of the bootstrap.
    method : {"REML", "PM", "DL"}
        Estimator of tau² (:func:`radiorisk.stats.random_effects`).
    level : float
        Level of the CIs and of the prediction interval.
    min_events : int
        Clusters with fewer events by the horizon are flagged (kept in the pooling).
    status : Series or array-like, optional
        The competing-event status of the patients (0 = censored, 1 = MACE, 2 = a competing
        event: the cohort's ``event_type`` when fitted with ``competing="competing"``), by
        ``patient_id`` or in the order of the OOF rows. Then every per-cluster metric is its
        competing-risk version (:class:`~radiorisk.evaluation.SubgroupAudit` with
        ``competing_risks=True``: Aalen-Johansen observed risk, competing deaths not censored;
        the Fine-Gray calibration slope), and the risk is read as the predicted cumulative
        incidence of MACE by the horizon.

    Returns
    -------
    IECVSummary

    Notes
    -----
    Each cluster's out-of-fold risks come from the model fitted without that
    cluster.  C-statistics and the td-AUC (``c_cr``, ``auc_cr``) are pooled on the
    logit scale, O/E on the log scale (delta-method SEs, Debray 2017), IPA and the
    calibration slope on their own scale; the prediction interval is that of a new
    cluster (Riley et al. 2011), and needs k >= 3.  A cluster whose estimate or SE is
    undefined (e.g. no event: no C) is left out of that metric's pooling, with a note.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> from radiorisk.models import cross_validate_risk
    >>> data = assemble_cohort(simulate_cohort(600, mode="established-cad", seed=1))
    >>> cv = cross_validate_risk("coxph", data, blocks="clinical", horizon=1826, random_state=0,
    ...                          clusters="site", params={"penalizer": 0.1})
    >>> s = iecv_summary(cv, metrics=["harrell_c", "oe_ratio_t"], n_boot=50)
    >>> f = s.to_frame()
    >>> f["row"].value_counts().to_dict()
    {'cluster': 16, 'pooled': 2, 'prediction': 2}
    >>> bool(abs(f.iloc[8]["estimate"] - s.meta["harrell_c"].pooled_original) < 1e-12)
    True
    """
    if getattr(cv, "cv_by", None) is None:
        raise ValueError("iecv_summary needs a leave-one-cluster-out CVResult (cross_validate_risk(..., "
                         "clusters=...)); this one is K-fold")
    competing = status is not None
    slope = _SLOPES[competing]
    available = (COMPETING_METRICS if competing else SURVIVAL_METRICS) + (slope,)
    metrics = tuple((IECV_COMPETING_METRICS if competing else IECV_METRICS) if metrics is None else metrics)
    bad = [m for m in metrics if m not in available]
    if bad:
        raise ValueError(f"metrics: unknown {bad}; choose from {list(available)}"
                         + ("" if competing else " (competing-risk metrics need status)"))
    oof = cv.oof[cv.oof["repeat"] == 0]
    event = _oof_status(oof, status) if competing else oof["event"].to_numpy()
    labels = np.asarray(cv.clusters, dtype=object)[oof["fold"].to_numpy()]
    in_audit = [m for m in metrics if m != slope]
    audit = SubgroupAudit(oof["risk"].to_numpy(), time=oof["time"].to_numpy(), event=event,
                          horizon=cv.horizon, groups={cv.cv_by: labels}, intersections=False,
                          metrics=in_audit or available[:1], n_boot=n_boot if in_audit else 0,
                          random_state=random_state, min_events=min_events, level=level,
                          missing="omit", competing_risks=competing)  # no label is missing
    parts = ([_cluster_rows(cv, audit, n_boot)] if in_audit else []) + \
        ([_slope_rows(cv, audit)[list(IECV_COLUMNS)]] if slope in metrics else [])
    rows = pd.concat([p[list(IECV_COLUMNS)] for p in parts], ignore_index=True)
    metrics = tuple(m for m in available if m in metrics)
    notes: list[str] = []
    meta: dict[str, MetaAnalysis | None] = {}
    for m in metrics:
        sel = (rows["metric"] == m).to_numpy()
        meta[m], ok = _meta(cv.cv_by, m, rows[sel], method, level, notes)
        rows.loc[sel, "in_meta"] = ok
        if meta[m] is not None:
            rows.loc[np.flatnonzero(sel)[ok], "weight"] = meta[m].weights
    notes.append(f"internal-external cross-validation: performance of each left-out {cv.cv_by} from the "
                 f"model fitted on the others; pooled by {method} random effects (C and td-AUC on the "
                 "logit scale, O/E on the log scale; Debray 2017) with the prediction interval for a "
                 f"new {cv.cv_by} (Riley 2011)")
    if slope in metrics:
        notes.append(f"{slope}: calibration slope of each {cv.cv_by} (1 = ideal), Wald SE, pooled on its own scale")
    if competing:
        notes.append("competing risks: every per-cluster metric uses competing-risk estimands (Aalen-Johansen "
                     "observed risk; competing deaths are not censored; Fine-Gray calibration slope); the risk "
                     "is read as the predicted cumulative incidence of MACE by the horizon")
    return IECVSummary(cv_by=cv.cv_by, clusters=tuple(cv.clusters), metrics=metrics,
                       per_cluster=rows[list(IECV_COLUMNS)].reset_index(drop=True),
                       meta=MappingProxyType(meta), horizon=cv.horizon, n_boot=int(n_boot),
                       random_state=int(random_state), method=method, level=float(level),
                       notes=tuple(notes))
