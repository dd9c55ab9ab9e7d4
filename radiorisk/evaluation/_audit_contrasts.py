"""Contrasts (differences, ratios with paired bootstrap CIs) and Cochran's Q (methods of SubgroupAudit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2

from ._audit_fairness import _frame
from ._bootstrap import percentile_interval

__all__: list[str] = []

_CONTRAST_COLUMNS = ("attribute", "group", "reference", "metric", "estimate", "ci_low", "ci_high",
                     "flag", "flag_reason")
_HETEROGENEITY_COLUMNS = ("attribute", "metric", "scale", "q", "df", "p_value", "i2", "n_groups",
                          "groups_excluded", "test")
#: O/E ratios: heterogeneity on the log scale.
_LOG_SCALE = ("oe_ratio", "oe_ratio_t", "oe_ratio_cr")


class _ContrastMixin:
    """``difference``, ``ratio`` and ``heterogeneity`` of :class:`SubgroupAudit`."""

    def _index(self):
        return {(a, g): i for i, (a, g, _) in enumerate(self._subsets)}

    def _reference_of(self, attr, reference):
        if reference is not None and attr in reference:
            ref = str(reference[attr])
            if (attr, ref) not in self._index():
                raise ValueError(f"reference group {ref!r} is not a group of {attr!r}")
            return ref
        cands = [(len(s[2]), s[1]) for s in self._subsets if s[0] == attr and not self._is_unknown(s[1])]
        return max(cands)[1] if cands else None

    def _contrast(self, op, to, reference, metrics):
        if to not in ("overall", "reference"):
            raise ValueError(f"to must be 'overall' or 'reference'; got {to!r}")
        ks = [self.metrics.index(m) for m in (metrics or self.metrics)]
        idx = self._index()
        rows = []
        for g, (attr, grp, _) in enumerate(self._subsets):
            if attr == "overall":
                continue
            if to == "overall":
                r, ref_label = 0, "overall"
            else:
                ref = self._reference_of(attr, reference)
                if ref is None or ref == grp:
                    continue
                r, ref_label = idx[(attr, ref)], ref
            for k in ks:
                with np.errstate(divide="ignore", invalid="ignore"):
                    est = op(self._est[g, k], self._est[r, k])
                    lo = hi = np.nan
                    if self.replicates is not None:
                        d = op(self.replicates[g, :, k], self.replicates[r, :, k])
                        d = np.where(np.isfinite(d), d, np.nan)
                        lo, hi = percentile_interval(d[:, None], self.level)
                        lo, hi = float(lo[0]), float(hi[0])
                reasons = [x for x in (self._flags(g, k), self._flags(r, k)) if x]
                if not np.isfinite(est):
                    reasons.append("contrast undefined")
                if self.replicates is None:
                    reasons.append("no bootstrap (n_boot=0): no CI")
                reason = "; ".join(reasons)
                rows.append((attr, grp, ref_label, self.metrics[k], float(est), lo, hi, bool(reason), reason))
        return _frame(rows, _CONTRAST_COLUMNS)

    def difference(self, to: str = "overall", *, reference: Mapping[str, str] | None = None,
                   metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Group minus overall (``to="overall"``) or minus a reference group, with paired CIs.

        Parameters
        ----------
        to : {"overall", "reference"}
        reference : mapping of attribute to group, optional
            Reference group per attribute (default: its largest known group).
        metrics : sequence of str, optional

        Returns
        -------
        DataFrame
            ``attribute, group, reference, metric, estimate, ci_low, ci_high,
            flag, flag_reason``; the CI is the percentile interval of the
            replicate-wise differences (both terms come from the same resample).
        """
        return self._contrast(np.subtract, to, reference, metrics)

    def ratio(self, to: str = "overall", *, reference: Mapping[str, str] | None = None,
              metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """Group divided by overall or by a reference group, with paired CIs (see :meth:`difference`)."""
        return self._contrast(np.divide, to, reference, metrics)

    # ------------------------------------------------------------------ heterogeneity
    def heterogeneity(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        r"""Cochran's Q test of heterogeneity across the groups of each attribute.

        Parameters
        ----------
        metrics : sequence of str, optional
            Default: calibration (``oe_ratio_t`` / ``oe_ratio`` / ``oe_ratio_cr``) and
            discrimination (``harrell_c`` / ``auc`` / ``c_cr``), where audited.

        Returns
        -------
        DataFrame
            ``attribute, metric, scale, q, df, p_value, i2, n_groups,
            groups_excluded, test``.

        Notes
        -----
        With :math:`\hat\theta_g` the group estimate (log scale for O/E) and
        :math:`s_g` its bootstrap standard deviation, :math:`w_g = 1/s_g^2`,
        :math:`\bar\theta = \sum w_g\hat\theta_g / \sum w_g`,
        :math:`Q = \sum w_g(\hat\theta_g - \bar\theta)^2 \sim \chi^2_{k-1}` under
        homogeneity (:math:`k` groups; the groups of an attribute are disjoint,
        hence independent), :math:`I^2 = \max(0, (Q - (k-1))/Q)`. Groups
        ``unknown``, with fewer than ``min_events`` events, an undefined
        estimate or no bootstrap SE are left out and listed.
        """
        if metrics is None:
            default = (("oe_ratio_cr", "c_cr") if self.competing_risks else
                       ("oe_ratio_t", "harrell_c") if self.survival else ("oe_ratio", "auc"))
            metrics = [m for m in default if m in self.metrics]
        rows = []
        for attr in self._combo_labels:
            for m in metrics:
                k = self.metrics.index(m)
                log = m in _LOG_SCALE
                th, se, excl = [], [], []
                for g, (a, grp, _) in enumerate(self._subsets):
                    if a != attr:
                        continue
                    est = self._est[g, k]
                    why = ""
                    if self._is_unknown(grp):
                        why = "unknown label"
                    elif self._ev[g] < self.min_events:
                        why = f"fewer than {self.min_events} events"
                    elif not np.isfinite(est) or (log and est <= 0):
                        why = "estimate undefined"
                    elif self.replicates is None:
                        why = "no bootstrap"
                    if not why:
                        b = self.replicates[g, :, k]
                        b = b[np.isfinite(b)]
                        if log:
                            b = np.log(b[b > 0])
                        s = float(np.std(b, ddof=1)) if len(b) >= 2 else np.nan
                        if not np.isfinite(s) or s <= 0:
                            why = "no bootstrap SE"
                        else:
                            th.append(np.log(est) if log else est)
                            se.append(s)
                    if why:
                        excl.append(f"{grp} ({why})")
                kk = len(th)
                q = p = i2 = np.nan
                if kk >= 2:
                    th, w = np.asarray(th), 1.0 / np.asarray(se) ** 2
                    mean = np.sum(w * th) / np.sum(w)
                    q = float(np.sum(w * (th - mean) ** 2))
                    p = float(chi2.sf(q, kk - 1))
                    i2 = float(max(0.0, (q - (kk - 1)) / q)) if q > 0 else 0.0
                rows.append((attr, m, "log" if log else "identity", q, max(kk - 1, 0), p, i2, kk,
                             "; ".join(excl), "Cochran's Q with bootstrap SEs, chi-square(k - 1)"))
        return _frame(rows, _HETEROGENEITY_COLUMNS)
