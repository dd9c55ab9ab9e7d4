"""Model updating at external validation: recalibration in the large, or intercept and slope.

Steyerberg's updating ladder (Steyerberg et al. 2004; Vergouwe et al. 2017) carried to the
risk by the horizon on the complementary log-log scale, :math:`\\ell = \\log(-\\log(1 - r))`:

- **original**: the model unchanged;
- **recalibration in the large** (``"intercept"``): :math:`1 - \\exp(-e^{a + \\ell})`, a new
  baseline cumulative hazard at the horizon;
- **recalibration** (``"intercept_slope"``): :math:`1 - \\exp(-e^{a + b\\ell})`, which also shrinks
  (b < 1) or stretches the log hazard ratios.

Both maps are :class:`radiorisk.mitigation.GroupRecalibrator` with one group (a Cox model on the
follow-up censored at the horizon; :math:`a` the Breslow baseline, so the expected events equal the
observed ones). Refitting the model on the new cohort ("revision") is ``radiorisk fit`` on it.

**Choice of the method** (``method="closed-test"``). Vergouwe et al. (2017) choose the simplest
update that is not significantly worse than a full revision, by a closed testing procedure of
likelihood-ratio tests for logistic models. For survival risks at a horizon radiorisk tests the two
hypotheses that separate the ladder's steps — calibration-in-the-large :math:`H_a: a = 0` and the
calibration slope :math:`H_b: b = 1`, both Wald tests of
:func:`radiorisk.stats.cox_recalibration` (Efron ties) — with Holm's procedure (a closed
test with Bonferroni intersection tests; familywise error ``alpha``): :math:`H_b` rejected →
recalibration (intercept and slope); only :math:`H_a` rejected → recalibration in the large;
neither → the original model. The revision step is not tested.

The risks after updating are judged **out of fold** (5-fold cross-fitting stratified by the event
by the horizon, ``GroupRecalibrator(cross_fit=5)``), so that their O/E is not flattered by fitting
the map on the same patients; the map applied to new patients is fitted on all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..evaluation import SubgroupAudit
from ..mitigation import GroupRecalibrator
from ..stats import NotEstimableError, adjust_p_values, cox_recalibration

__all__ = ["ModelUpdate", "update_risks", "judge_risks", "UPDATE_METHODS", "UPDATE_COLUMNS"]

#: The methods of :func:`update_risks` (``closed-test`` chooses among the first three).
UPDATE_METHODS = ("original", "intercept", "intercept_slope", "closed-test")
#: Columns of :attr:`ModelUpdate.table`.
UPDATE_COLUMNS = ("method", "intercept", "slope", "oe", "oe_ci_low", "oe_ci_high", "cal_slope", "cal_slope_ci_low",
                  "cal_slope_ci_high", "selected")
_WORDS = {"original": "original model", "intercept": "recalibration in the large",
          "intercept_slope": "recalibration (intercept and slope)"}


@dataclass(frozen=True)
class ModelUpdate:
    """The updating of a model's risks on a validation cohort.

    Attributes
    ----------
    method : str
        The chosen method (``original``, ``intercept`` or ``intercept_slope``).
    table : DataFrame
        One row per method (:data:`UPDATE_COLUMNS`): the map's intercept and slope (fitted on all
        patients), the out-of-fold O/E and calibration slope after updating with their 95 % CIs.
    tests : DataFrame
        The closed test: ``hypothesis, estimate, p_value, p_holm, rejected`` (``p_holm``:
        :func:`radiorisk.stats.adjust_p_values`, Holm).
    risk : ndarray
        The chosen method's out-of-fold risks of the validation patients.
    recalibrator : GroupRecalibrator or None
        The chosen map fitted on all patients (None for the original model).
    reason : str
        Why this method.
    """

    method: str
    table: pd.DataFrame
    tests: pd.DataFrame
    risk: np.ndarray
    recalibrator: GroupRecalibrator | None
    reason: str

    def to_frame(self) -> pd.DataFrame:
        """:attr:`table` (a copy)."""
        return self.table.copy()


def _closed_test(cal, alpha: float) -> tuple[str, pd.DataFrame, str]:
    """Holm over H_a (intercept = 0) and H_b (slope = 1): the chosen method, the test table, the reason."""
    hyps = [("calibration-in-the-large = 0", cal.intercept.estimate, cal.intercept_p),
            ("calibration slope = 1", cal.slope.estimate, cal.slope_p)]
    p = np.array([h[2] for h in hyps], dtype=float)
    p_holm = adjust_p_values(np.where(np.isfinite(p), p, 1.0), "holm")  # an untestable hypothesis is kept
    rejected = [bool(x < alpha) for x in p_holm]
    tests = pd.DataFrame({"hypothesis": [h[0] for h in hyps], "estimate": [h[1] for h in hyps],
                          "p_value": p, "p_holm": p_holm, "rejected": rejected})
    if rejected[1]:
        return "intercept_slope", tests, (f"the calibration slope differs from 1 (p = {cal.slope_p:.3g}, Holm): "
                                          "recalibrate the intercept and the slope")
    if rejected[0]:
        return "intercept", tests, (f"calibration-in-the-large differs from 0 (p = {cal.intercept_p:.3g}) and the "
                                    "slope does not differ from 1: recalibrate in the large")
    return "original", tests, "neither calibration-in-the-large nor the slope differs significantly: keep the model"


def judge_risks(risk, time, event, horizon, n_boot, seed) -> tuple:
    """``(oe, oe_ci_low, oe_ci_high, cal_slope, cal_slope_ci_low, cal_slope_ci_high)`` of risks at the horizon."""
    a = SubgroupAudit(risk, time=time, event=event, horizon=horizon, n_boot=n_boot, random_state=seed,
                      metrics=["oe_ratio_t"])
    oe = a.overall.iloc[0]
    try:
        cal = cox_recalibration(time, event, risk, horizon=horizon).slope
        slope = (cal.estimate, cal.ci_low, cal.ci_high)
    except NotEstimableError:
        slope = (np.nan, np.nan, np.nan)
    return (float(oe["estimate"]), float(oe["ci_low"]), float(oe["ci_high"]), *slope)


def update_risks(risk, time, event, *, horizon: float, method: str = "closed-test", alpha: float = 0.05,
                 n_boot: int = 200, random_state: int = 0, folds: int = 5) -> ModelUpdate:
    """Update a model's risks on a validation cohort (recalibration), chosen by a closed test or given.

    Parameters
    ----------
    risk : array-like of shape (n,)
        The model's risk by ``horizon``.
    time, event : array-like of shape (n,)
        Follow-up (> 0) and MACE indicator (0/1).
    horizon : float
        Days.
    method : {"closed-test", "original", "intercept", "intercept_slope"}
        ``closed-test`` chooses (module notes); the others are the user's choice.
    alpha : float
        Familywise level of the closed test.
    n_boot : int
        Bootstrap replicates of the O/E CIs (0: analytic).
    random_state : int
        Seed of the cross-fitting folds and the bootstrap.
    folds : int
        Cross-fitting folds of the out-of-fold risks.

    Returns
    -------
    ModelUpdate

    Raises
    ------
    ValueError
        An unknown method.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> true = rng.uniform(0.05, 0.4, 2000)
    >>> t = rng.exponential(-1826 / np.log1p(-true))
    >>> time, event = np.minimum(t, 2500), (t <= 2500).astype(int)
    >>> up = update_risks(true / 2, time, event, horizon=1826, n_boot=0)   # risks halved
    >>> up.method
    'intercept'
    >>> bool(up.table.set_index("method").loc["intercept", "oe_ci_low"] < 1 <
    ...      up.table.set_index("method").loc["intercept", "oe_ci_high"])
    True
    """
    if method not in UPDATE_METHODS:
        raise ValueError(f"method must be one of {list(UPDATE_METHODS)}; got {method!r}")
    risk, time, event = (np.asarray(v, dtype=float) for v in (risk, time, event))
    cal = cox_recalibration(time, event, risk, horizon=horizon)
    chosen, tests, reason = _closed_test(cal, alpha)
    if method != "closed-test":
        chosen, reason = method, f"chosen by the user ({_WORDS[method]}); the closed test would choose {chosen}"
    rows, risks, maps = [], {}, {}
    for m in ("original", "intercept", "intercept_slope"):
        if m == "original":
            oof, a, b = risk, 0.0, 1.0
        else:
            rc = GroupRecalibrator(m, horizon=horizon, cross_fit=folds, min_events=1, random_state=random_state)
            oof = rc.fit_transform(risk, time, event)
            pooled = rc.params_.iloc[-1]
            a, b, maps[m] = float(pooled["intercept"]), float(pooled["slope"]), rc
        risks[m] = oof
        rows.append((m, a, b, *judge_risks(oof, time, event, horizon, n_boot, random_state), m == chosen))
    table = pd.DataFrame(rows, columns=list(UPDATE_COLUMNS))
    return ModelUpdate(method=chosen, table=table, tests=tests, risk=risks[chosen],
                       recalibrator=maps.get(chosen), reason=reason)
