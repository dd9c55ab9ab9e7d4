"""Contrasts (differences, ratios with paired bootstrap CIs) and Cochran's Q (methods of SubgroupAudit)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2, norm

from ..stats import adjust_p_values
from ._audit_fairness import _frame
from ._bootstrap import percentile_interval

__all__ = ["CONTRAST_ADJUSTMENTS", "bootstrap_wald_p"]

_CONTRAST_COLUMNS = ("attribute", "group", "reference", "metric", "estimate", "ci_low", "ci_high",
                     "flag", "flag_reason", "p_value", "p_holm", "p_bh", "significant")
#: How ``significant`` of a contrast is decided: on the Holm, Benjamini-Hochberg or unadjusted p.
CONTRAST_ADJUSTMENTS = ("holm", "bh", "none")
_HETEROGENEITY_COLUMNS = ("attribute", "metric", "scale", "q", "df", "p_value", "i2", "n_groups",
                          "groups_excluded", "test")
#: O/E ratios: heterogeneity on the log scale.
_LOG_SCALE = ("oe_ratio", "oe_ratio_t", "oe_ratio_cr")


#: Finite replicates a contrast's p-value needs (an SD from fewer is too noisy to adjust).
MIN_REPLICATES_FOR_P = 50


def bootstrap_wald_p(replicates, estimate: float, null: float, *, log: bool = False,
                     min_replicates: int = MIN_REPLICATES_FOR_P) -> float:
    r"""Two-sided Wald p-value of ``null`` for a contrast, with the SD of its paired replicates as SE.

    Parameters
    ----------
    replicates : array-like of shape (B,)
        Replicate values of the contrast (non-finite values ignored).
    estimate : float
        The contrast on the data.
    null : float
        Its value under no difference (0 for a difference, 1 for a ratio).
    log : bool
        Test on the log scale (ratios): :math:`\log\hat\theta` against :math:`\log` ``null``,
        SE the SD of the log replicates (positive ones).
    min_replicates : int
        Fewer usable replicates give NaN (e.g. the rcs-Cox family bootstrapped on
        ``calibration_boot`` replicates only).

    Returns
    -------
    float
        :math:`2\Phi(-|\hat\theta - \theta_0| / s_B)`, :math:`s_B` the SD (ddof 1) of the
        replicates; NaN with fewer than ``min_replicates`` usable replicates, a zero SD or an
        undefined estimate.

    Notes
    -----
    The normal approximation with a bootstrap SE (as the heterogeneity test's weights), not
    the percentile-interval inversion: that p-value cannot fall below :math:`2/(B+1)`, so with
    a few hundred replicates no Holm-adjusted difference could ever be significant.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(bootstrap_wald_p(rng.normal(0.1, 0.05, 2000), 0.1, 0.0), 3)
    0.046
    """
    d = np.asarray(replicates, dtype=np.float64)
    d = d[np.isfinite(d)]
    est = float(estimate)
    if log:
        d, null = np.log(d[d > 0]), np.log(null)
        est = np.log(est) if est > 0 else np.nan
    if len(d) < max(int(min_replicates), 2) or not np.isfinite(est):
        return np.nan
    sd = float(np.std(d, ddof=1))
    if not sd > 0:
        return np.nan
    return float(2.0 * norm.sf(abs(est - null) / sd))


def _adjusted(rows, adjust: str, alpha: float) -> list[tuple]:
    """Rows with Holm and BH p over each metric's rows (one family per metric) and ``significant``."""
    metric = np.array([r[3] for r in rows], dtype=object)
    p = np.array([r[9] for r in rows], dtype=np.float64)
    holm, bh = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    for m in dict.fromkeys(metric):
        sel = metric == m
        holm[sel], bh[sel] = adjust_p_values(p[sel], "holm"), adjust_p_values(p[sel], "bh")
    use = {"holm": holm, "bh": bh, "none": p}[adjust]
    return [r + (holm[i], bh[i], bool(use[i] < alpha)) for i, r in enumerate(rows)]


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

    def _contrast(self, op, to, reference, metrics, adjust="holm", alpha=0.05):
        if to not in ("overall", "reference"):
            raise ValueError(f"to must be 'overall' or 'reference'; got {to!r}")
        if adjust not in CONTRAST_ADJUSTMENTS:
            raise ValueError(f"adjust must be one of {list(CONTRAST_ADJUSTMENTS)}; got {adjust!r}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
        null = 0.0 if op is np.subtract else 1.0
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
                    lo = hi = pv = np.nan
                    if self.replicates is not None:
                        d = op(self.replicates[g, :, k], self.replicates[r, :, k])
                        d = np.where(np.isfinite(d), d, np.nan)
                        lo, hi = percentile_interval(d[:, None], self.level)
                        lo, hi = float(lo[0]), float(hi[0])
                        pv = bootstrap_wald_p(d, est, null, log=op is np.divide)
                reasons = [x for x in (self._flags(g, k), self._flags(r, k)) if x]
                if not np.isfinite(est):
                    reasons.append("contrast undefined")
                if self.replicates is None:
                    reasons.append("no bootstrap (n_boot=0): no CI")
                reason = "; ".join(reasons)
                rows.append((attr, grp, ref_label, self.metrics[k], float(est), lo, hi, bool(reason), reason, pv))
        frame = _frame(_adjusted(rows, adjust, alpha), _CONTRAST_COLUMNS)
        frame["significant"] = frame["significant"].astype(bool)
        return frame

    def difference(self, to: str = "overall", *, reference: Mapping[str, str] | None = None,
                   metrics: Sequence[str] | None = None, adjust: str = "holm",
                   alpha: float = 0.05) -> pd.DataFrame:
        """Group minus overall (``to="overall"``) or minus a reference group, with paired CIs and p-values.

        Parameters
        ----------
        to : {"overall", "reference"}
        reference : mapping of attribute to group, optional
            Reference group per attribute (default: its largest known group).
        metrics : sequence of str, optional
        adjust : {"holm", "bh", "none"}
            Which p-value decides ``significant``: Holm (family-wise error, the default),
            Benjamini-Hochberg (false discovery rate) or unadjusted.
        alpha : float
            ``significant`` is that p-value < ``alpha``.

        Returns
        -------
        DataFrame
            ``attribute, group, reference, metric, estimate, ci_low, ci_high,
            flag, flag_reason, p_value, p_holm, p_bh, significant``; the CI is the
            percentile interval of the replicate-wise differences (both terms come
            from the same resample), ``p_value`` the two-sided Wald p of no difference
            with the paired-bootstrap SE (:func:`bootstrap_wald_p`; ratios on the log
            scale), ``p_holm`` / ``p_bh`` adjusted over
            all rows of the same metric (one family per metric: every group and
            intersection of every attribute). NaN p-values without a bootstrap.
        """
        return self._contrast(np.subtract, to, reference, metrics, adjust, alpha)

    def ratio(self, to: str = "overall", *, reference: Mapping[str, str] | None = None,
              metrics: Sequence[str] | None = None, adjust: str = "holm",
              alpha: float = 0.05) -> pd.DataFrame:
        """Group divided by overall or by a reference group, with paired CIs (see :meth:`difference`; null 1)."""
        return self._contrast(np.divide, to, reference, metrics, adjust, alpha)

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
