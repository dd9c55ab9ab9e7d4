"""SubgroupAudit: every metric overall and per group (and intersection) with paired bootstrap CIs.

Shaped like fairlearn's ``MetricFrame`` (``overall``, ``by_group``, ``difference``,
``ratio``), but every result is a DataFrame of one fixed shape, groups that
cannot be estimated carry an explicit flag with the reason, a missing group
label is reported as the group ``"unknown"``, and the fairness and calibration
summaries are censoring-aware.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._html import repr_html
from ..stats import (
    NotEstimableError,
    check_binary_inputs,
    check_horizon,
    check_survival_inputs,
)
from ._audit_calibration import _CalibrationTestsMixin
from ._audit_competing import check_status, competing_replicates, refuse_competing_without_flag
from ._audit_contrasts import _ContrastMixin
from ._audit_decision import _DecisionMixin
from ._audit_fairness import (
    UNKNOWN_GROUP,
    _FairnessMixin,
    _frame,
)
from ._bootstrap import (
    binary_replicates,
    percentile_interval,
    survival_replicates,
)
from ._oe_interval import OE_METRICS, oe_interval
from ._values import (
    BINARY_METRICS,
    COMPETING_METRICS,
    FINE_GRAY_METRICS,
    MISSING_GROUP_LABELS,
    SURVIVAL_METRICS,
    _point_binary,
    _point_competing,
    _point_survival,
)

__all__ = ["SubgroupAudit", "UNKNOWN_GROUP", "AUDIT_COLUMNS", "read_group_labels"]

#: Columns of :attr:`SubgroupAudit.by_group`, :attr:`~SubgroupAudit.overall` and ``to_frame()``.
AUDIT_COLUMNS = ("attribute", "group", "metric", "estimate", "ci_low", "ci_high", "n", "events",
                 "flag", "flag_reason")
_SEP = ":"
#: Metrics bootstrapped on ``calibration_boot`` replicates only (a model fit per replicate).
_CALIBRATION_FAMILY = ("ici_t", "e50_t", "e90_t", "emax_t") + FINE_GRAY_METRICS

_UNKNOWN_MATCH = "group contains the unknown label"
_BAD_GROUPS = "groups must be a DataFrame or a mapping of name -> array; got {type}"
_BAD_METRIC = "unknown metric(s) {bad}; available: {available}"


def read_group_labels(values) -> np.ndarray:
    """Group labels as the audit reads them: strings, with missing values (None, NaN, "", "NA") as None.

    Parameters
    ----------
    values : array-like of shape (n,)

    Returns
    -------
    ndarray of object

    Examples
    --------
    >>> read_group_labels(["F", None, "", 1, float("nan")]).tolist()
    ['F', None, None, '1', None]
    """
    s = pd.Series(np.asarray(values, dtype=object))
    lab = s.where(s.notna(), None).map(lambda v: None if v is None else str(v))
    lab = lab.where(~lab.isin(MISSING_GROUP_LABELS), None)
    return lab.to_numpy(dtype=object)


def _nan_if_failed(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except (NotEstimableError, ValueError):
        return np.nan


class SubgroupAudit(_ContrastMixin, _FairnessMixin, _CalibrationTestsMixin, _DecisionMixin):
    r"""Every audit metric overall, per group and per intersection, with paired bootstrap CIs.

    Parameters
    ----------
    risk : array-like of shape (n,)
        Predicted risk in [0, 1] (by ``horizon`` for survival data).
    time, event : array-like of shape (n,), optional
        Follow-up (> 0) and event indicator (0/1): a survival audit. With
        ``competing_risks=True``, ``event`` is the status: 0 = censored, 1 = the
        event of interest, 2 = a competing event (without the flag a 2 is refused).
    y : array-like of shape (n,), optional
        Binary outcome (0/1): a binary audit. Give ``y`` or ``time`` and ``event``.
    horizon : float, optional
        :math:`t_0`, required for survival data.
    groups : DataFrame or mapping of str to array-like, optional
        Categorical attributes (e.g. ``{"sex": ..., "ethnicity": ...}``), read as
        strings. Missing values (NaN, None, ``""``, ``"NA"``) form the group
        ``"unknown"``: reported and flagged, never dropped (the rows always
        count in ``overall``).
    intersections : bool
        Also audit every combination of two or more attributes (labels
        joined with ``":"``, e.g. ``"female:south_asian"``; a missing part makes
        the intersection ``"unknown"``).
    metrics : sequence of str, optional
        A subset of :data:`SURVIVAL_METRICS` / :data:`BINARY_METRICS` /
        ``COMPETING_METRICS`` (default all).
    n_boot : int
        Bootstrap replicates (0: analytic CIs where defined, no CIs for contrasts).
    random_state : int, optional
        Seed of the bootstrap.
    min_events : int
        Groups with fewer events (by :math:`t_0`, or :math:`\sum y`) are flagged.
    level : float
        Confidence level of the percentile intervals.
    calibration_boot : int, optional
        Bootstrap the rcs-Cox family (``ici_t`` ...) on the first
        ``calibration_boot`` replicates only (it costs ~80 % of the time).
    missing : {"report", "omit"}
        Rows with a missing label: ``"report"`` (default) audits them as the group
        ``"unknown"``; ``"omit"`` leaves them out of that attribute's groups (the
        ``metrics.csv`` convention of :func:`~radiorisk.evaluation.compute_metrics`;
        a group may then be labelled ``"unknown"``). Either way they count in ``overall``.
    competing_risks : bool
        Competing-risk audit of cause 1 at ``horizon``: the metrics ``c_cr, auc_cr,
        brier_cr, ipa_cr, oe_ratio_cr, ici_cr, e50_cr, e90_cr, emax_cr``
        (:mod:`radiorisk.stats`, equal to R; Aalen-Johansen observed risk, competing
        events are not censored), each subset with its own Aalen-Johansen estimate,
        censoring distribution and Fine-Gray calibration model. ``risk`` is the
        predicted cumulative incidence of cause 1 by ``horizon``; events are status 1
        by ``horizon``. ``calibration_boot`` then limits the Fine-Gray family.

    Attributes
    ----------
    overall, by_group : DataFrame
        Columns :data:`AUDIT_COLUMNS` (``attribute, group, metric, estimate,
        ci_low, ci_high, n, events, flag, flag_reason``), whatever the inputs.
    exclusions : DataFrame
        Per attribute, the rows with a missing label (``attribute, n_missing,
        handling``).
    replicates : ndarray or None
        Bootstrap values, shape (groups, n_boot, metrics), in the order of
        ``to_frame()``'s groups and ``metrics``.

    Notes
    -----
    **Bootstrap.** Rows are resampled within the finest cells of all attributes
    (:class:`~radiorisk.evaluation._bootstrap.StratifiedBootstrap`): every group
    is resampled within itself, and all groups share each replicate, so
    contrasts (``difference``, ``ratio``) and the fairness gaps get paired
    percentile intervals. Survival metrics are bootstrapped by the vectorised
    formulas of :mod:`radiorisk.evaluation._bootstrap` (equal to the exact
    metrics on the resampled rows); binary and competing-risk metrics one replicate
    at a time (the same resamples).

    **Flags.** ``flag`` is True and ``flag_reason`` says why when: the group is
    the ``unknown`` label; it has fewer than ``min_events`` events; the metric
    is undefined (``"metric undefined: <reason>"``, estimate NaN); some
    bootstrap replicates were undefined; or an O/E bootstrap is degenerate.

    **O/E intervals.** Where the O/E bootstrap is degenerate (fewer than two
    distinct replicate values, or ``ci_low == ci_high``, as in a group without
    events) and with ``n_boot=0``, ``oe_ratio``, ``oe_ratio_t`` and ``oe_ratio_cr``
    get an analytic CI (:func:`~radiorisk.evaluation._oe_interval.oe_interval`:
    exact Poisson, Kaplan-Meier or Aalen-Johansen), named in ``flag_reason``
    (``"analytic CI: ..."``; with ``n_boot=0`` that note alone does not set ``flag``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 600
    >>> risk = rng.uniform(0.05, 0.5, n)
    >>> t = rng.exponential(-5 / np.log1p(-risk))
    >>> sex = rng.choice(["F", "M"], n)
    >>> a = SubgroupAudit(risk, time=np.minimum(t, 8), event=(t <= 8).astype(int), horizon=5,
    ...                   groups={"sex": sex}, metrics=["harrell_c", "oe_ratio_t"], n_boot=50,
    ...                   random_state=1)
    >>> a.by_group[["attribute", "group", "metric"]].head(2).values.tolist()
    [['sex', 'F', 'harrell_c'], ['sex', 'F', 'oe_ratio_t']]
    >>> list(a.difference().columns)
    ['attribute', 'group', 'reference', 'metric', 'estimate', 'ci_low', 'ci_high', 'flag', 'flag_reason', 'p_value', 'p_holm', 'p_bh', 'significant']
    """

    def __init__(self, risk, *, time=None, event=None, y=None, horizon=None, groups=None,
                 intersections: bool = True, metrics: Sequence[str] | None = None, n_boot: int = 1000,
                 random_state=None, min_events: int = 10, level: float = 0.95,
                 calibration_boot: int | None = None, missing: str = "report",
                 competing_risks: bool = False):
        available = self._read_outcome(risk, time, event, y, horizon, bool(competing_risks))
        if metrics is None:
            metrics = available
        bad = [m for m in metrics if m not in available]
        if bad:
            raise ValueError(_BAD_METRIC.format(bad=bad, available=list(available)))
        self.metrics = tuple(m for m in available if m in set(metrics))
        if n_boot < 0:
            raise ValueError(f"n_boot must be >= 0; got {n_boot}")
        if not 0 < level < 1:
            raise ValueError(f"level must lie in (0, 1); got {level}")
        self.n_boot, self.random_state, self.level = int(n_boot), random_state, float(level)
        self.min_events = int(min_events)
        self.calibration_boot = calibration_boot
        if missing not in ("report", "omit"):
            raise ValueError(f"missing must be 'report' or 'omit'; got {missing!r}")
        self.missing = missing
        n = len(self.risk)
        self.attributes, self._labels = self._read_groups(groups, n)
        self.intersections = bool(intersections)
        self._subsets = self._build_subsets()
        self._strata = self._build_strata(n)
        self._compute()

    # ------------------------------------------------------------------ set-up
    def _read_outcome(self, risk, time, event, y, horizon, competing_risks) -> tuple[str, ...]:
        """Check and store the outcome; returns the metrics available for it."""
        self.survival = y is None
        self.competing_risks = competing_risks
        if self.survival and (time is None or event is None):
            raise ValueError("give y (binary) or both time and event (survival)")
        if not self.survival and (time is not None or event is not None):
            raise ValueError("give y or time/event, not both")
        if competing_risks and not self.survival:
            raise ValueError("competing_risks=True needs time and event (status 0/1/2), not y")
        if self.survival:
            self.horizon = check_horizon(horizon)
            if competing_risks:
                self.time, self.event, self.risk = check_status(time, event, risk)
            else:
                refuse_competing_without_flag(event)
                self.time, self.event, self.risk = check_survival_inputs(time, event, risk)
            self.y = None
            return COMPETING_METRICS if competing_risks else SURVIVAL_METRICS
        if horizon is not None:
            raise ValueError("horizon applies to survival data only")
        self.horizon = None
        self.y, self.risk = check_binary_inputs(y, risk)
        self.time = self.event = None
        return BINARY_METRICS

    @staticmethod
    def _read_groups(groups, n):
        if groups is None:
            return (), {}
        if isinstance(groups, pd.DataFrame):
            cols = {str(c): groups[c].to_numpy(dtype=object) for c in groups.columns}
        elif isinstance(groups, Mapping):
            cols = {str(k): np.asarray(v, dtype=object) for k, v in groups.items()}
        else:
            raise TypeError(_BAD_GROUPS.format(type=type(groups).__name__))
        for k, v in cols.items():
            if v.ndim != 1 or len(v) != n:
                raise ValueError(f"group {k!r} has {len(v)} values; risk has {n}")
        return tuple(cols), {k: read_group_labels(v) for k, v in cols.items()}

    def _build_subsets(self):
        n = len(self.risk)
        subsets = [("overall", "all", np.arange(n))]
        attrs = list(self.attributes)
        combos = [(a,) for a in attrs]
        if self.intersections and len(attrs) >= 2:
            for k in range(2, len(attrs) + 1):
                combos += list(itertools.combinations(attrs, k))
        self._combo_labels = {}
        for combo in combos:
            name = _SEP.join(combo)
            if len(combo) == 1:
                lab = self._labels[combo[0]]
            else:
                parts = [self._labels[a] for a in combo]
                lab = np.array([None if any(p[i] is None for p in parts) else
                                _SEP.join(p[i] for p in parts) for i in range(n)], dtype=object)
            self._combo_labels[name] = lab
            known = sorted({v for v in lab if v is not None})
            if UNKNOWN_GROUP in known and self.missing == "report":
                raise ValueError(f"attribute {name!r} has a group labelled {UNKNOWN_GROUP!r}, the "
                                 "label of missing values; rename it")
            for v in known:
                subsets.append((name, v, np.flatnonzero(lab == v)))
            miss = np.flatnonzero(np.array([v is None for v in lab], dtype=bool))
            if len(miss) and self.missing == "report":
                subsets.append((name, UNKNOWN_GROUP, miss))
        return subsets

    def _build_strata(self, n):
        """The finest cells of all attributes (a missing label is a cell of its own)."""
        if not self.attributes:
            return np.zeros(n, dtype=int)
        cells = zip(*(self._labels[a] for a in self.attributes), strict=True)
        return np.array(["\x01".join("\x00" if v is None else v for v in c) for c in cells])

    def _is_unknown(self, group: str) -> bool:
        """Whether ``group`` is the group of rows with a missing label."""
        return self.missing == "report" and group == UNKNOWN_GROUP

    # ------------------------------------------------------------------ computation
    def _events(self, idx):
        if self.survival:
            return int(np.sum((self.event[idx] == 1) & (self.time[idx] <= self.horizon)))
        return int(np.sum(self.y[idx]))

    def _point(self, idx) -> dict:
        """``{metric: (estimate, ci_low, ci_high, reason)}`` of the rows ``idx``."""
        with np.errstate(all="ignore"):  # degenerate small groups: reported through the flags
            if self.competing_risks:
                return _point_competing(self.time[idx], self.event[idx], self.risk[idx], self.horizon,
                                        self.metrics)
            if self.survival:
                return _point_survival(self.time[idx], self.event[idx], self.risk[idx], self.horizon,
                                       self.metrics)
            return _point_binary(self.y[idx], self.risk[idx], self.metrics)

    def _compute(self):
        M, G = len(self.metrics), len(self._subsets)
        est = np.full((G, M), np.nan)
        lo = np.full((G, M), np.nan)
        hi = np.full((G, M), np.nan)
        why = [[""] * M for _ in range(G)]
        for g, (_, _, idx) in enumerate(self._subsets):
            if len(idx) == 0:
                continue
            vals = self._point(idx)
            for k, m in enumerate(self.metrics):
                est[g, k], lo[g, k], hi[g, k], why[g][k] = vals[m]
        self.replicates = None
        if self.n_boot > 0:
            rep = self._bootstrap_replicates()
            if self.survival and self.calibration_boot is not None:
                cal = [k for k, m in enumerate(self.metrics) if m in _CALIBRATION_FAMILY]
                keep = np.arange(self.n_boot) < self.calibration_boot
                for k in cal:
                    rep[:, ~keep, k] = np.nan
                self._n_valid_target = np.where(
                    np.isin(np.arange(M), cal), min(self.calibration_boot, self.n_boot), self.n_boot)
            else:
                self._n_valid_target = np.full(M, self.n_boot)
            self.replicates = rep
            lo, hi = percentile_interval(rep, self.level)
        self._ci_notes = self._oe_fallback(est, lo, hi)
        self._est, self._lo, self._hi, self._why = est, lo, hi, why
        self._n = np.array([len(s[2]) for s in self._subsets])
        self._ev = np.array([self._events(s[2]) for s in self._subsets])

    def _oe_fallback(self, est, lo, hi) -> dict:
        """Analytic O/E CIs (in place) where the bootstrap is degenerate or absent.

        Returns ``{(group, metric): (why, method)}``: ``why`` the degenerate bootstrap
        (a flag; empty with ``n_boot=0``) and ``method`` the interval given instead.
        """
        notes = {}
        for k, m in enumerate(self.metrics):
            if m not in OE_METRICS:
                continue
            for g, (_, _, idx) in enumerate(self._subsets):
                if len(idx) == 0 or not np.isfinite(est[g, k]):
                    continue
                why = ""
                if self.replicates is not None:
                    target = int(self._n_valid_target[k])
                    reps = self.replicates[g, :target, k]
                    distinct = len(np.unique(reps[np.isfinite(reps)]))
                    if distinct >= 2 and lo[g, k] < hi[g, k]:
                        continue
                    why = (f"bootstrap degenerate ({distinct} distinct value(s) in {target} replicates, "
                           "percentile CI not used)")
                outcome = ({"y": self.y[idx]} if not self.survival else
                           {"time": self.time[idx], "event": self.event[idx], "horizon": self.horizon})
                lo[g, k], hi[g, k], how = oe_interval(m, self.risk[idx], level=self.level, **outcome)
                notes[(g, k)] = (why, how)
        return notes

    def _bootstrap_replicates(self) -> np.ndarray:
        """Replicates of the audited metrics, shape (groups, n_boot, metrics)."""
        subsets = [s[2] for s in self._subsets]
        common = {"subsets": subsets, "strata": self._strata, "n_boot": self.n_boot,
                  "random_state": self.random_state}
        if self.competing_risks:
            rep = competing_replicates(self.time, self.event, self.risk, horizon=self.horizon,
                                       calibration_boot=self.calibration_boot, **common)
            names = COMPETING_METRICS
        elif self.survival:
            rep = survival_replicates(self.time, self.event, self.risk, horizon=self.horizon,
                                      calibration_boot=self.calibration_boot, **common)
            names = SURVIVAL_METRICS
        else:
            rep = binary_replicates(self.y, self.risk, **common)
            names = BINARY_METRICS
        return rep[:, :, [names.index(m) for m in self.metrics]]

    # ------------------------------------------------------------------ flags
    def _flags(self, g, k):
        reasons = []
        attr, grp, _ = self._subsets[g]
        if self._is_unknown(grp):
            reasons.append("unknown: rows with a missing label (reported, not a group)")
        if self._ev[g] < self.min_events:
            reasons.append(f"fewer than {self.min_events} events ({self._ev[g]})")
        if not np.isfinite(self._est[g, k]):
            reasons.append(f"metric undefined: {self._why[g][k] or 'not estimable'}")
        elif self.replicates is not None:
            target = int(self._n_valid_target[k])
            bad = target - int(np.isfinite(self.replicates[g, :target, k]).sum())
            if bad:
                reasons.append(f"bootstrap: {bad} of {target} replicates undefined")
        degenerate = self._ci_notes.get((g, k), ("", ""))[0]
        if degenerate:
            reasons.append(degenerate)
        return "; ".join(reasons)

    def _rows(self, which):
        rows = []
        for g in which:
            attr, grp, _ = self._subsets[g]
            for k, m in enumerate(self.metrics):
                reason = self._flags(g, k)
                how = self._ci_notes.get((g, k), ("", ""))[1]  # which interval (not a flag by itself)
                text = "; ".join(x for x in (reason, how) if x)
                rows.append((attr, grp, m, self._est[g, k], self._lo[g, k], self._hi[g, k],
                             int(self._n[g]), int(self._ev[g]), bool(reason), text))
        return _frame(rows, AUDIT_COLUMNS)

    @property
    def overall(self) -> pd.DataFrame:
        """The whole data (``attribute="overall"``, ``group="all"``), columns :data:`AUDIT_COLUMNS`."""
        return self._rows([0])

    @property
    def by_group(self) -> pd.DataFrame:
        """Every group and intersection, columns :data:`AUDIT_COLUMNS`."""
        return self._rows(range(1, len(self._subsets)))

    def to_frame(self) -> pd.DataFrame:
        """``overall`` followed by ``by_group`` (the ``metrics.csv`` columns plus the flags)."""
        return self._rows(range(len(self._subsets)))

    @property
    def group_counts(self) -> pd.DataFrame:
        """Rows and events of ``overall``, every group and every intersection.

        Events are those by the horizon (survival) or with outcome 1 (binary),
        the ``n`` and ``events`` of ``metrics.csv``; columns ``attribute,
        group, n, events``.
        """
        return pd.DataFrame({"attribute": [s[0] for s in self._subsets],
                             "group": [s[1] for s in self._subsets],
                             "n": [len(s[2]) for s in self._subsets],
                             "events": [int(v) for v in self._ev]})

    def group_labels(self, attribute: str) -> np.ndarray:
        """The group label of every row for one attribute or intersection (``None`` where missing).

        Parameters
        ----------
        attribute : str
            A group attribute (e.g. ``"sex"``) or an intersection (``"sex:ethnicity"``).

        Returns
        -------
        ndarray of object

        Examples
        --------
        >>> rng = np.random.default_rng(0)
        >>> p = rng.uniform(0.05, 0.6, 60)
        >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": ["F", "M", None] * 20})
        >>> a.group_labels("sex")[:3].tolist()
        ['F', 'M', None]
        """
        if attribute not in self._combo_labels:
            raise KeyError(f"attribute {attribute!r}: not audited; choose from {list(self._combo_labels)}")
        return self._combo_labels[attribute].copy()

    @property
    def exclusions(self) -> pd.DataFrame:
        """Rows with a missing label, per attribute (kept in ``overall``, reported as ``unknown``)."""
        rows = []
        for name, lab in self._combo_labels.items():
            k = int(sum(v is None for v in lab))
            how = (f"kept in overall; reported as the group {UNKNOWN_GROUP!r}" if self.missing == "report"
                   else "kept in overall; left out of this attribute's groups")
            rows.append((name, k, how if k else ""))
        return pd.DataFrame(rows, columns=["attribute", "n_missing", "handling"])

    def _repr_html_(self) -> str:
        return repr_html("SubgroupAudit", self.to_frame(), max_rows=60)

    # ------------------------------------------------------------------ fairness
