"""Decision curves and the NRI per group, with bootstrap CIs (methods of SubgroupAudit).

The formulas are :func:`radiorisk.stats.net_benefit_curve` and
:func:`radiorisk.stats.net_reclassification` (R-exact, every group from its own rows: its own
Kaplan-Meier or Aalen-Johansen estimate). CIs are percentiles over the audit's stratified
bootstrap (:class:`~radiorisk.stats.StratifiedBootstrap`, the same replicates as the metrics
and the fairness rates: a block of replicates at once through the weights).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats import (
    StratifiedBootstrap,
    check_thresholds,
    counts_from_indices,
    net_benefit_curve,
    net_reclassification,
    percentile_interval,
    risk_categories,
)

__all__ = ["DECISION_COLUMNS", "NRI_COLUMNS", "DEFAULT_DECISION_THRESHOLDS"]

#: Columns of :meth:`SubgroupAudit.decision_curves` (``decision_curves.csv``).
DECISION_COLUMNS = ("attribute", "group", "threshold", "n", "events", "treated", "net_benefit", "nb_ci_low",
                    "nb_ci_high", "treat_all", "treat_all_ci_low", "treat_all_ci_high", "treat_none",
                    "nb_minus_treat_all", "flag", "flag_reason")
#: Columns of :meth:`SubgroupAudit.reclassification` (``nri.csv``).
NRI_COLUMNS = ("attribute", "group", "nri_type", "cuts", "component", "estimate", "ci_low", "ci_high", "n",
               "events", "flag", "flag_reason")
#: Thresholds of the audit's decision curves by default: 0.01, 0.02, ..., 0.50.
DEFAULT_DECISION_THRESHOLDS = tuple(np.round(np.arange(1, 51) / 100.0, 10))
_COMPONENTS = ("nri_events", "nri_nonevents", "nri", "p_up", "p_down")


class _DecisionMixin:
    """``decision_curves`` and ``reclassification`` of :class:`SubgroupAudit`."""

    def _outcome_kw(self, idx) -> dict:
        if self.survival:
            return {"time": self.time[idx], "event": self.event[idx], "horizon": self.horizon,
                    "competing_risks": self.competing_risks}
        return {"y": self.y[idx]}

    def _boot_blocks(self):
        """(replicate slice, counts n x b) for the audit's bootstrap, a block at a time."""
        bs = StratifiedBootstrap(self._strata, self.n_boot, self.random_state)
        block = int(np.clip(2_000_000 // max(len(self.risk), 1), 4, 256))
        for reps, ii in bs.blocks(block):
            yield reps, counts_from_indices(ii, len(self.risk))

    def _group_reasons(self, g, grp) -> list[str]:
        reasons = []
        if self._is_unknown(grp):
            reasons.append("unknown: rows with a missing label (reported, not a group)")
        if self._ev[g] < self.min_events:
            reasons.append(f"fewer than {self.min_events} events ({self._ev[g]})")
        return reasons

    def decision_curves(self, thresholds=None) -> pd.DataFrame:
        r"""Net benefit of the model, of treat-all and treat-none per group and threshold, with CIs.

        Parameters
        ----------
        thresholds : sequence of float, optional
            Threshold probabilities in (0, 1) (default :data:`DEFAULT_DECISION_THRESHOLDS`).

        Returns
        -------
        DataFrame
            Columns :data:`DECISION_COLUMNS`, one row per group (``overall`` first, the order
            of :meth:`to_frame`) and threshold. ``treated`` is the share with ``risk >=
            threshold``; ``nb_minus_treat_all`` the model's net benefit minus treat-all's;
            ``*_ci_low`` / ``*_ci_high`` percentile intervals over the audit's bootstrap
            (empty with ``n_boot=0``).

        Notes
        -----
        :func:`radiorisk.stats.net_benefit_curve` on each group's rows: binary outcomes the
        standard net benefit; survival outcomes the observed risk by :math:`t_0` among the
        treated as :math:`1 - S_{KM}` (Vickers et al. 2008, ``dcurves::dca``); competing risks
        the Aalen-Johansen cumulative incidence of the event of interest (competing events not
        censored). Treat-all is each group's own observed risk.

        Examples
        --------
        >>> from radiorisk.evaluation import SubgroupAudit
        >>> rng = np.random.default_rng(0)
        >>> p = rng.uniform(0.05, 0.5, 400)
        >>> a = SubgroupAudit(p, y=rng.binomial(1, p), groups={"sex": rng.choice(["F", "M"], 400)}, n_boot=20)
        >>> dc = a.decision_curves([0.1, 0.2])
        >>> dc[["attribute", "group", "threshold"]].values.tolist()[:3]
        [['overall', 'all', 0.1], ['overall', 'all', 0.2], ['sex', 'F', 0.1]]
        """
        th = check_thresholds(DEFAULT_DECISION_THRESHOLDS if thresholds is None else thresholds)
        G, T = len(self._subsets), len(th)
        est = np.full((G, 3, T), np.nan)  # model, treat_all, treated
        for g, (_, _, idx) in enumerate(self._subsets):
            if len(idx):
                nb = net_benefit_curve(self.risk[idx], thresholds=th, **self._outcome_kw(idx))
                est[g] = nb.model, nb.treat_all, nb.treated
        ci = np.full((G, 2, 2, T), np.nan)  # (model, treat_all) x (low, high)
        if self.n_boot > 0:
            rep = np.full((G, 2, self.n_boot, T), np.nan)
            for reps, W in self._boot_blocks():
                for g, (_, _, idx) in enumerate(self._subsets):
                    if len(idx):
                        nb = net_benefit_curve(self.risk[idx], thresholds=th, weights=W[idx],
                                               **self._outcome_kw(idx))
                        rep[g, 0, reps] = nb.model.T
                        rep[g, 1, reps] = nb.treat_all.T
            for g in range(G):
                for k in range(2):
                    lo, hi = percentile_interval(rep[g, k], self.level)
                    ci[g, k] = lo, hi
        rows = []
        for g, (attr, grp, _idx) in enumerate(self._subsets):
            base = self._group_reasons(g, grp)
            for j, pt in enumerate(th):
                reasons = list(base)
                if not np.isfinite(est[g, 0, j]) or not np.isfinite(est[g, 1, j]):
                    reasons.append("net benefit undefined: no row, or no observed risk at the horizon")
                r = "; ".join(reasons)
                rows.append((attr, grp, float(pt), int(self._n[g]), int(self._ev[g]), est[g, 2, j], est[g, 0, j],
                             ci[g, 0, 0, j], ci[g, 0, 1, j], est[g, 1, j], ci[g, 1, 0, j], ci[g, 1, 1, j], 0.0,
                             est[g, 0, j] - est[g, 1, j], bool(r), r))
        f = pd.DataFrame(rows, columns=list(DECISION_COLUMNS))
        f["flag"] = f["flag"].astype(bool)
        return f

    def reclassification(self, reference_risk, *, cuts=None) -> pd.DataFrame:
        r"""NRI of the audited risk over a reference model's risk, per group, with bootstrap CIs.

        Parameters
        ----------
        reference_risk : array-like of shape (n,)
            The reference ("old") model's predicted risk of the same rows (by the horizon).
        cuts : sequence of float, optional
            Risk cut points of the categorical NRI (e.g. the audit's ``--threshold``); without
            them only the category-free NRI is computed.

        Returns
        -------
        DataFrame
            Columns :data:`NRI_COLUMNS`: per group, ``nri_type`` ``"categorical"`` (with
            ``cuts``) and ``"continuous"`` (category-free), and ``component`` ``nri_events``
            (P(up | event) - P(down | event)), ``nri_nonevents`` (P(down | non-event) -
            P(up | non-event)), ``nri`` (their sum: not to be read alone), ``p_up``,
            ``p_down`` (shares moving up and down); percentile bootstrap CIs (paired with the
            metrics' replicates; empty with ``n_boot=0``).

        Notes
        -----
        :func:`radiorisk.stats.net_reclassification` on each group's rows: Kaplan-Meier based
        for survival data (Pencina, Steyerberg & D'Agostino 2011; R ``nricens(..., t0)``), the
        event share for binary data and, with competing risks, the Aalen-Johansen cumulative
        incidence of the event of interest: an event is the event of interest by :math:`t_0`,
        a non-event everyone else (event-free, or after a competing event).

        Examples
        --------
        >>> from radiorisk.evaluation import SubgroupAudit
        >>> rng = np.random.default_rng(0)
        >>> old = rng.uniform(0.05, 0.5, 400)
        >>> y = rng.binomial(1, old)
        >>> new = np.clip(old + 0.1 * (y - 0.3), 0.01, 0.99)
        >>> a = SubgroupAudit(new, y=y, n_boot=0)
        >>> nri = a.reclassification(old, cuts=[0.2])
        >>> nri[nri["nri_type"] == "continuous"]["component"].tolist()
        ['nri_events', 'nri_nonevents', 'nri', 'p_up', 'p_down']
        """
        ref = np.asarray(reference_risk, dtype=np.float64)
        if ref.shape != self.risk.shape:
            raise ValueError(f"reference_risk has {ref.size} values; the audit has {self.risk.size} rows")
        if not np.all(np.isfinite(ref)) or np.any((ref < 0) | (ref > 1)):
            bad = int(np.argmax(~np.isfinite(ref) | (ref < 0) | (ref > 1)))
            raise ValueError(f"reference_risk must lie in [0, 1]; found {float(ref[bad])!r} at position {bad}")
        kinds = [("continuous", None, "")]
        if cuts is not None and len(cuts):
            c = sorted(float(x) for x in np.atleast_1d(cuts))
            risk_categories([0.5], c)  # checks the cut points
            kinds.insert(0, ("categorical", c, ", ".join(f"{x:g}" for x in c)))
        G = len(self._subsets)
        est = np.full((len(kinds), G, 5), np.nan)
        for k, (_, c, _) in enumerate(kinds):
            for g, (_, _, idx) in enumerate(self._subsets):
                if len(idx):
                    r = net_reclassification(ref[idx], self.risk[idx], cuts=c, **self._outcome_kw(idx))
                    est[k, g] = r.events, r.nonevents, r.nri, r.p_up, r.p_down
        ci = np.full((len(kinds), G, 2, 5), np.nan)
        if self.n_boot > 0:
            rep = np.full((len(kinds), G, self.n_boot, 5), np.nan)
            for reps, W in self._boot_blocks():
                for k, (_, c, _) in enumerate(kinds):
                    for g, (_, _, idx) in enumerate(self._subsets):
                        if len(idx):
                            r = net_reclassification(ref[idx], self.risk[idx], cuts=c, weights=W[idx],
                                                     **self._outcome_kw(idx))
                            rep[k, g, reps] = np.stack([r.events, r.nonevents, r.nri, r.p_up, r.p_down], axis=1)
            for k in range(len(kinds)):
                for g in range(G):
                    ci[k, g] = percentile_interval(rep[k, g], self.level)
        rows = []
        for g, (attr, grp, _idx) in enumerate(self._subsets):
            base = self._group_reasons(g, grp)
            for k, (kind, _, cut_text) in enumerate(kinds):
                for j, comp in enumerate(_COMPONENTS):
                    reasons = list(base)
                    if not np.isfinite(est[k, g, j]):
                        reasons.append("NRI undefined: no event, or no patient free of the event, by the horizon")
                    r = "; ".join(reasons)
                    rows.append((attr, grp, kind, cut_text, comp, est[k, g, j], ci[k, g, 0, j], ci[k, g, 1, j],
                                 int(self._n[g]), int(self._ev[g]), bool(r), r))
        f = pd.DataFrame(rows, columns=list(NRI_COLUMNS))
        f["flag"] = f["flag"].astype(bool)
        return f
