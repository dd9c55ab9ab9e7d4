"""Censoring-aware fairness rates and calibration within groups (methods of SubgroupAudit)."""


from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import aalen_johansen, kaplan_meier_at, kaplan_meier_risk
from ._audit_competing import aalen_johansen_at
from ._bootstrap import (
    StratifiedBootstrap,
    counts_from_indices,
    percentile_interval,
)
from ._tables import _wilson

__all__: list[str] = []

#: Label of the rows whose group value is missing (empty, ``NA`` or NaN).
UNKNOWN_GROUP = "unknown"

_FAIRNESS_COLUMNS = ("attribute", "group", "metric", "threshold", "estimate", "ci_low", "ci_high",
                     "n", "events", "flag", "flag_reason")
_CALIBRATION_COLUMNS = ("attribute", "group", "band", "lower", "upper", "n", "events",
                        "mean_predicted", "observed", "ci_low", "ci_high", "flag", "flag_reason")


class _FairnessMixin:
    """Fairness and calibration-within-groups summaries of :class:`SubgroupAudit`."""

    def _cut(self, threshold, top_k):
        if (threshold is None) == (top_k is None):
            raise ValueError("give exactly one of threshold (a risk) or top_k (a percentage)")
        if threshold is not None:
            c = float(threshold)
            if not 0 <= c <= 1:
                raise ValueError(f"threshold must lie in [0, 1]; got {threshold}")
            return c, f"risk >= {c:g}"
        k = float(top_k)
        if not 0 < k < 100:
            raise ValueError(f"top_k is a percentage in (0, 100); got {top_k}")
        c = float(np.quantile(self.risk, 1.0 - k / 100.0, method="higher"))
        return c, f"top {k:g} % of risk (risk >= {c:.6g})"

    def _rates(self, idx, pos, W=None):
        """TPR, FPR, PPV, positive rate for the rows ``idx`` (optionally weighted, n x B)."""
        if self.survival:
            t, e = self.time[idx], self.event[idx]
            p = pos[idx]
            if W is None:
                W = np.ones((len(idx), 1))
            q = (W * p[:, None]).sum(axis=0) / W.sum(axis=0)
            if self.competing_risks:  # "event-free" = no event of interest by t0 (a competing one may have occurred)
                s_pos = 1.0 - aalen_johansen_at(t[p], e[p], self.horizon, W[p])
                s_neg = 1.0 - aalen_johansen_at(t[~p], e[~p], self.horizon, W[~p])
            else:
                s_pos = kaplan_meier_at(t[p], e[p], self.horizon, W[p])
                s_neg = kaplan_meier_at(t[~p], e[~p], self.horizon, W[~p])
            with np.errstate(divide="ignore", invalid="ignore"):
                ev_pos, ev_neg = q * (1 - s_pos), (1 - q) * (1 - s_neg)
                ne_pos, ne_neg = q * s_pos, (1 - q) * s_neg
                ev_pos = np.where(q > 0, ev_pos, 0.0)
                ne_pos = np.where(q > 0, ne_pos, 0.0)
                ev_neg = np.where(q < 1, ev_neg, 0.0)
                ne_neg = np.where(q < 1, ne_neg, 0.0)
                tpr = ev_pos / (ev_pos + ev_neg)
                fpr = ne_pos / (ne_pos + ne_neg)
                ppv = np.where(q > 0, 1 - s_pos, np.nan)
            return np.vstack([q, tpr, fpr, ppv])
        y, p = self.y[idx], pos[idx].astype(float)
        if W is None:
            W = np.ones((len(idx), 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            tp = (W * (p * y)[:, None]).sum(axis=0)
            fp = (W * (p * (1 - y))[:, None]).sum(axis=0)
            P = (W * y[:, None]).sum(axis=0)
            N = (W * (1 - y)[:, None]).sum(axis=0)
            q = (W * p[:, None]).sum(axis=0) / W.sum(axis=0)
            return np.vstack([q, tp / P, fp / N, tp / (tp + fp)])

    def fairness(self, threshold: float | None = None, top_k: float | None = None) -> pd.DataFrame:
        r"""Error rates at a decision rule per group, and the equal-opportunity / equalized-odds gaps.

        Parameters
        ----------
        threshold : float, optional
            Positive when ``risk >= threshold``.
        top_k : float, optional
            Positive for the ``top_k`` % highest risks of the whole data (one
            cut for every group; ties at the cut are positive).

        Returns
        -------
        DataFrame
            ``attribute, group, metric, threshold, estimate, ci_low, ci_high, n,
            events, flag, flag_reason`` with metrics ``positive_rate, tpr, fpr,
            ppv`` per group and, per attribute (``group = "max-min"``),
            ``equal_opportunity_difference`` (max - min TPR over the known
            groups) and ``equalized_odds_difference`` (the larger of the TPR and
            FPR gaps), as in fairlearn.

        Notes
        -----
        Survival data (censoring-aware, at :math:`t_0`): with :math:`q` the
        share positive and :math:`S_+`, :math:`S_-` the Kaplan-Meier survival at
        :math:`t_0` among positives and negatives of the group,

        .. math::

            \mathrm{TPR} = \frac{q(1-S_+)}{q(1-S_+) + (1-q)(1-S_-)},\quad
            \mathrm{FPR} = \frac{qS_+}{qS_+ + (1-q)S_-},\quad
            \mathrm{PPV} = 1 - S_+ .

        Competing risks (``competing_risks=True``): the same formulas with
        :math:`1 - S_\pm` replaced by the Aalen-Johansen cumulative incidence
        :math:`F_{1,\pm}(t_0)` of the event of interest among positives and
        negatives. The estimands: TPR is the share of the events of interest by
        :math:`t_0` that are positive, FPR the share of those *without* an event of
        interest by :math:`t_0` (event-free, or with a competing event first) that
        are positive, PPV :math:`= F_{1,+}(t_0)`; competing events are not censored.

        Binary data: the usual counts. CIs: percentiles over the same bootstrap
        replicates as the metrics (paired across groups).
        """
        c, rule = self._cut(threshold, top_k)
        pos = self.risk >= c
        G = len(self._subsets)
        est = np.full((G, 4), np.nan)
        for g, (_, _, idx) in enumerate(self._subsets):
            if len(idx):
                est[g] = self._rates(idx, pos)[:, 0]
        rep = self._rate_replicates(pos) if self.n_boot > 0 else None
        rows = self._group_rate_rows(est, rep, rule) + self._gap_rows(est, rep, rule)
        return _frame(rows, _FAIRNESS_COLUMNS)

    def _rate_replicates(self, pos) -> np.ndarray:
        """The rates of every group in every bootstrap replicate (groups x n_boot x 4)."""
        rep = np.full((len(self._subsets), self.n_boot, 4), np.nan)
        bs = StratifiedBootstrap(self._strata, self.n_boot, self.random_state)
        block = int(np.clip(2_000_000 // max(len(self.risk), 1), 4, 256))
        for reps, ii in bs.blocks(block):
            W = counts_from_indices(ii, len(self.risk))
            for g, (_, _, idx) in enumerate(self._subsets):
                if len(idx):
                    rep[g, reps.start:reps.stop] = self._rates(idx, pos, W[idx]).T
        return rep

    def _group_rate_rows(self, est, rep, rule) -> list:
        names = ("positive_rate", "tpr", "fpr", "ppv")
        rows = []
        for g, (attr, grp, _idx) in enumerate(self._subsets):
            for k, m in enumerate(names):
                lo = hi = np.nan
                if rep is not None:
                    lo, hi = (float(v[0]) for v in percentile_interval(rep[g, :, k][:, None], self.level))
                reasons = []
                if self._is_unknown(grp):
                    reasons.append("unknown: rows with a missing label (reported, not a group)")
                if self._ev[g] < self.min_events:
                    reasons.append(f"fewer than {self.min_events} events ({self._ev[g]})")
                if not np.isfinite(est[g, k]):
                    reasons.append("metric undefined: no positive, no event or no event-free row")
                r = "; ".join(reasons)
                rows.append((attr, grp, m, rule, est[g, k], lo, hi, int(self._n[g]), int(self._ev[g]),
                             bool(r), r))
        return rows

    def _gap_rows(self, est, rep, rule) -> list:
        """Per attribute, the max - min gaps over its known groups (equal opportunity, odds)."""
        rows = []
        for attr in self._combo_labels:
            gs = [g for g, s in enumerate(self._subsets) if s[0] == attr and not self._is_unknown(s[1])]
            if len(gs) < 2:
                continue
            for m, fn in (("equal_opportunity_difference", _eo), ("equalized_odds_difference", _eodds)):
                e_ = fn(est[gs])
                lo = hi = np.nan
                if rep is not None:
                    b = fn(np.moveaxis(rep[gs], 1, 0))  # B x groups x 4 -> B
                    lo, hi = (float(v[0]) for v in percentile_interval(b[:, None], self.level))
                few = [self._subsets[g][1] for g in gs if self._ev[g] < self.min_events]
                r = f"groups with fewer than {self.min_events} events: {', '.join(few)}" if few else ""
                rows.append((attr, "max-min", m, rule, float(e_), lo, hi,
                             int(sum(self._n[g] for g in gs)), int(sum(self._ev[g] for g in gs)),
                             bool(r), r))
        return rows

    # ------------------------------------------------------------------ calibration in groups
    def calibration_within_groups(self, bands=5) -> pd.DataFrame:
        """Observed (Kaplan-Meier) against mean predicted risk per group and risk band, with CIs.

        Parameters
        ----------
        bands : int or sequence of float
            Number of quantile bands of the whole data's risk (the same cut
            points for every group), or the band edges (intervals ``(a, b]``,
            the lowest edge included).

        Returns
        -------
        DataFrame
            ``attribute, group, band, lower, upper, n, events, mean_predicted,
            observed, ci_low, ci_high, flag, flag_reason``. Survival data:
            observed = :math:`1 - S_{KM}(t_0)` within the band, with
            ``survfit``'s log-log 95 % CI; competing risks: the Aalen-Johansen
            cumulative incidence of the event of interest by :math:`t_0` within the
            band (competing events not censored) with ``prodlim``'s 95 % CI
            (:func:`~radiorisk.stats.aalen_johansen`); binary: the proportion with a
            Wilson interval. A band with no row or fewer than ``min_events`` events is
            flagged.
        """
        if np.ndim(bands) == 0:
            nb = int(bands)
            if nb < 1:
                raise ValueError(f"bands must be >= 1; got {bands}")
            edges = np.unique(np.quantile(self.risk, np.linspace(0, 1, nb + 1)))
        else:
            edges = np.unique(np.asarray(bands, dtype=float))
        if len(edges) < 2:
            edges = np.array([edges[0], edges[0]])
        band = np.clip(np.searchsorted(edges[1:-1], self.risk, side="left"), 0, len(edges) - 2)
        outside = (self.risk < edges[0]) | (self.risk > edges[-1])
        rows = []
        for attr, grp, idx in self._subsets:
            for b in range(len(edges) - 1):
                sel = idx[(band[idx] == b) & ~outside[idx]]
                label = f"{'[' if b == 0 else '('}{edges[b]:.4g},{edges[b + 1]:.4g}]"
                n = len(sel)
                ev = self._events(sel) if n else 0
                mp = obs = lo = hi = np.nan
                reasons = []
                if self._is_unknown(grp):
                    reasons.append("unknown: rows with a missing label (reported, not a group)")
                if n == 0:
                    reasons.append("no row in this band")
                else:
                    mp = float(self.risk[sel].mean())
                    if self.competing_risks:
                        aj = aalen_johansen(self.time[sel], self.event[sel], horizon=self.horizon).at_horizon
                        obs, lo, hi = aj.estimate, aj.ci_low, aj.ci_high
                    elif self.survival:
                        km = kaplan_meier_risk(self.time[sel], self.event[sel], horizon=self.horizon,
                                                  conf_type="log-log")
                        obs, lo, hi = km.estimate, km.ci_low, km.ci_high
                    else:
                        obs = ev / n
                        lo, hi = _wilson(ev, n)
                    if ev < self.min_events:
                        reasons.append(f"fewer than {self.min_events} events ({ev})")
                r = "; ".join(reasons)
                rows.append((attr, grp, label, edges[b], edges[b + 1], n, ev, mp, obs, lo, hi, bool(r), r))
        return _frame(rows, _CALIBRATION_COLUMNS)


def _eo(x):
    tpr = x[..., 1]
    return np.nanmax(tpr, axis=-1) - np.nanmin(tpr, axis=-1) if np.isfinite(tpr).any() else np.nan


def _eodds(x):
    with np.errstate(invalid="ignore"):
        tpr, fpr = x[..., 1], x[..., 2]
        a = np.nanmax(tpr, axis=-1) - np.nanmin(tpr, axis=-1)
        b = np.nanmax(fpr, axis=-1) - np.nanmin(fpr, axis=-1)
        return np.fmax(a, b)


def _frame(rows, columns) -> pd.DataFrame:
    f = pd.DataFrame(rows, columns=list(columns))
    for c in ("estimate", "ci_low", "ci_high", "q", "p_value", "i2", "lower", "upper",
              "mean_predicted", "observed"):
        if c in f:
            f[c] = f[c].astype(float)
    for c in ("n", "events", "df", "n_groups"):
        if c in f:
            f[c] = f[c].astype(int)
    if "flag" in f:
        f["flag"] = f["flag"].astype(bool)
    return f
