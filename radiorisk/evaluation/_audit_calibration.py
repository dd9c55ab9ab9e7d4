"""Calibration slope, calibration-in-the-large and the GND test per group (a method of SubgroupAudit).

Analytic inference (Wald intervals, chi-square tests), not bootstrapped: one recalibration model
and one Greenwood-Nam-D'Agostino test per group, every group from its own rows
(:func:`radiorisk.stats.cox_recalibration`, :func:`radiorisk.stats.fine_gray_recalibration`,
:func:`radiorisk.stats.gnd_test`; binary audits: the logistic slope and intercept of
:func:`radiorisk.stats.calibration_slope` / :func:`~radiorisk.stats.calibration_intercept`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..stats import (
    NotEstimableError,
    adjust_p_values,
    calibration_intercept,
    calibration_slope,
    cox_recalibration,
    fine_gray_recalibration,
    gnd_test,
)

__all__ = ["CALIBRATION_TEST_COLUMNS"]

#: Columns of :meth:`SubgroupAudit.calibration_tests` (``calibration_tests.csv``).
CALIBRATION_TEST_COLUMNS = (
    "attribute", "group", "n", "events", "cal_slope", "cal_slope_se", "cal_slope_ci_low", "cal_slope_ci_high",
    "cal_slope_p", "cal_intercept", "cal_intercept_se", "cal_intercept_ci_low", "cal_intercept_ci_high",
    "cal_intercept_p", "gnd_chi2", "gnd_df", "gnd_p", "gnd_groups", "flag", "flag_reason", "gnd_p_holm",
    "gnd_p_bh")
_NAN4 = (np.nan, np.nan, np.nan, np.nan)
_NAN5 = _NAN4 + (np.nan,)
_CR_NO_INTERCEPT = ("calibration-in-the-large: point estimate only in competing-risk mode (crr gives no variance "
                    "for the baseline)")
_CR_NO_GND = "GND test: not defined in competing-risk mode (it uses the Kaplan-Meier risk)"


def _wald_p(est, null: float) -> float:
    if not (np.isfinite(est.estimate) and np.isfinite(est.se) and est.se > 0):
        return np.nan
    return float(2.0 * norm.sf(abs(est.estimate - null) / est.se))


def _ests(est, p) -> tuple:
    return (est.estimate, est.se, est.ci_low, est.ci_high, p)


class _CalibrationTestsMixin:
    """``calibration_tests`` of :class:`SubgroupAudit`."""

    def _recalibration(self, idx) -> tuple[tuple, tuple, list[str]]:
        """(slope cells, intercept cells, reasons) of the rows ``idx``."""
        why: list[str] = []
        slope = intercept = _NAN5
        try:
            if self.competing_risks:
                cal = fine_gray_recalibration(self.time[idx], self.event[idx], self.risk[idx], horizon=self.horizon)
                slope, intercept = _ests(cal.slope, cal.slope_p), _ests(cal.intercept, cal.intercept_p)
                why.append(_CR_NO_INTERCEPT)
            elif self.survival:
                cal = cox_recalibration(self.time[idx], self.event[idx], self.risk[idx], horizon=self.horizon)
                slope, intercept = _ests(cal.slope, cal.slope_p), _ests(cal.intercept, cal.intercept_p)
            else:
                s = calibration_slope(self.y[idx], self.risk[idx])
                a = calibration_intercept(self.y[idx], self.risk[idx])
                slope, intercept = _ests(s, _wald_p(s, 1.0)), _ests(a, _wald_p(a, 0.0))
        except (NotEstimableError, ValueError) as exc:
            why.append(f"calibration slope undefined: {exc}")
        return slope, intercept, why

    def _gnd(self, idx, n_groups, min_group_events) -> tuple[tuple, list[str]]:
        if self.competing_risks:
            return _NAN4, [_CR_NO_GND]
        if self.survival:
            t, e, t0 = self.time[idx], self.event[idx], self.horizon
        else:  # no censoring: the Kaplan-Meier risk is the event share, Greenwood the binomial variance
            t, e, t0 = np.ones(len(idx)), self.y[idx], 1.0
        try:
            g = gnd_test(t, e, self.risk[idx], horizon=t0, n_groups=n_groups, min_events=min_group_events)
        except (NotEstimableError, ValueError) as exc:
            return _NAN4, [f"GND test undefined: {exc}"]
        return (g.statistic, g.df, g.p_value, g.n_groups), []

    def calibration_tests(self, *, n_groups: int = 10, min_group_events: int = 5) -> pd.DataFrame:
        r"""Calibration slope and calibration-in-the-large with Wald CIs, and the GND test, per group.

        Parameters
        ----------
        n_groups : int
            Risk groups of the GND test before collapsing (deciles).
        min_group_events : int
            Adjacent risk groups are merged until each has this many events
            (:func:`radiorisk.stats.risk_groups`).

        Returns
        -------
        DataFrame
            Columns :data:`CALIBRATION_TEST_COLUMNS`, one row for ``overall`` and per group and
            intersection (the order of :meth:`to_frame`); ``*_se`` the Wald standard errors.
            ``gnd_p_holm`` / ``gnd_p_bh``: the GND p-values adjusted over all groups and
            intersections (not ``overall``). ``cal_slope_p`` tests slope = 1,
            ``cal_intercept_p`` intercept = 0 (two-sided Wald); ``gnd_p`` the GND chi-square.

        Notes
        -----
        Survival: :func:`radiorisk.stats.cox_recalibration` (Cox model of the outcome censored at
        :math:`t_0` on :math:`\log(-\log(1 - r))`; intercept = :math:`\log\hat H_0(t_0)` with the
        slope fixed at 1) and :func:`radiorisk.stats.gnd_test`. Competing risks: the Fine-Gray
        slope and intercept (:func:`radiorisk.stats.fine_gray_recalibration`; the intercept without
        CI) and no GND test (both named in ``flag_reason``). Binary: the logistic ``cal_slope`` and ``cal_intercept``
        of ``metrics.csv`` and the GND test without censoring (Kaplan-Meier risk = event share).
        ``flag`` is set as in :meth:`to_frame` (unknown label, fewer than ``min_events`` events) and
        when a quantity is undefined.

        Examples
        --------
        >>> from radiorisk.evaluation import SubgroupAudit
        >>> rng = np.random.default_rng(0)
        >>> r = rng.uniform(0.05, 0.5, 900)
        >>> t = rng.exponential(-5 / np.log1p(-r))
        >>> a = SubgroupAudit(r, time=np.minimum(t, 8), event=(t <= 8).astype(int), horizon=5,
        ...                   groups={"sex": rng.choice(["F", "M"], 900)}, n_boot=0)
        >>> ct = a.calibration_tests()
        >>> ct[["attribute", "group", "gnd_df"]].values.tolist()
        [['overall', 'all', 9], ['sex', 'F', 7], ['sex', 'M', 9]]
        """
        rows = []
        for g, (attr, grp, idx) in enumerate(self._subsets):
            reasons = []
            if self._is_unknown(grp):
                reasons.append("unknown: rows with a missing label (reported, not a group)")
            if self._ev[g] < self.min_events:
                reasons.append(f"fewer than {self.min_events} events ({self._ev[g]})")
            if len(idx):
                with np.errstate(all="ignore"):
                    slope, intercept, why = self._recalibration(idx)
                    gnd, why_gnd = self._gnd(idx, n_groups, min_group_events)
            else:
                slope, intercept, gnd = _NAN5, _NAN5, _NAN4
                why, why_gnd = ["no rows"], []
            reasons += why + why_gnd
            flagged = any(not r.startswith(("calibration-in-the-large: point estimate only", "GND test: not defined"))
                          for r in reasons)
            rows.append((attr, grp, int(self._n[g]), int(self._ev[g]), *slope, *intercept, *gnd,
                         flagged, "; ".join(reasons)))
        f = pd.DataFrame(rows, columns=list(CALIBRATION_TEST_COLUMNS[:-2]))
        for c in CALIBRATION_TEST_COLUMNS[4:18]:
            f[c] = f[c].astype(float)
        f["gnd_df"] = f["gnd_df"].astype("Int64")
        f["gnd_groups"] = f["gnd_groups"].astype("Int64")
        f["flag"] = f["flag"].astype(bool)
        groups = (f["attribute"] != "overall").to_numpy()
        f["gnd_p_holm"] = f["gnd_p_bh"] = np.nan
        f.loc[groups, "gnd_p_holm"] = adjust_p_values(f.loc[groups, "gnd_p"].to_numpy(), "holm")
        f.loc[groups, "gnd_p_bh"] = adjust_p_values(f.loc[groups, "gnd_p"].to_numpy(), "bh")
        return f
