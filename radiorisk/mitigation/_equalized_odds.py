"""Post-processing for binary outcomes: calibrated equalized odds (Pleiss et al. 2017)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..evaluation import UNKNOWN_GROUP
from ..stats import (
    NotEstimableError,
    check_binary_inputs,
    html_table,
)
from ._common import (
    EQUALIZED_ODDS_COLUMNS,
    _frame,
    _group_cells,
)

# ---------------------------------------------------------------------------------------------
# (d) calibrated equalized odds (Pleiss et al. 2017)
# ---------------------------------------------------------------------------------------------
_COSTS = ("fnr", "fpr", "weighted")


class CalibratedEqualizedOdds:
    r"""Calibrated equalized odds (Pleiss et al., NeurIPS 2017) for binary outcomes.

    Parameters
    ----------
    cost : {"fnr", "fpr", "weighted"}
        The generalized rate to equalize across groups: the generalized false
        negative rate :math:`\mathrm{GFNR} = E[1 - r \mid y = 1]`, the
        generalized false positive rate :math:`\mathrm{GFPR} = E[r \mid y =
        0]`, or ``"weighted"``: :math:`c = w (1-\mu) \mathrm{GFPR} + (1-w) \mu
        \mathrm{GFNR}` with :math:`w` = ``fp_weight`` and :math:`\mu` the
        group's base rate (Pleiss et al.'s weighted cost).
    fp_weight : float, optional
        :math:`w \in [0, 1]` for ``"weighted"`` (default 0.5).
    random_state : int, optional
        Seed of the random choice of the rows whose risk is replaced.

    Attributes
    ----------
    table_ : DataFrame
        :data:`EQUALIZED_ODDS_COLUMNS`: per group n, base rate, GFPR, GFNR,
        cost before, mix rate :math:`\alpha_g`, expected cost after, flag.
    base_rates_, mix_rates_ : dict
    unseen_groups_ : tuple of str
        Groups met by the last :meth:`transform` that were not fitted (risks
        unchanged).

    Notes
    -----
    Each group's risk is replaced, for a random share :math:`\alpha_g` of its
    rows, by the group's base rate :math:`\mu_g` (the trivial classifier,
    which is perfectly calibrated). The cost is linear in the mixture, so
    :math:`\alpha_g = (c^* - c_g)/(c(\mu_g) - c_g)` brings every group to the
    largest cost :math:`c^*` (the worst group is left unchanged); with
    :math:`c(\mu_g)` the trivial cost (GFPR :math:`\mu_g`, GFNR
    :math:`1-\mu_g`).

    **Constraints.** Calibration within groups and equal FPR *and* FNR are
    incompatible (Kleinberg et al. 2016; Pleiss et al. 2017): only **one**
    generalized rate (or one weighted combination) can be equalized while
    keeping calibration, and it is done by *adding noise* to the better
    groups (their discrimination drops; nothing improves for the worst
    group). The input risks must already be calibrated within each group
    (e.g. :class:`GroupRecalibrator` on the logit scale, on other data);
    the result is calibrated within groups in expectation. When the trivial
    classifier cannot reach :math:`c^*` (:math:`c(\mu_g) < c^*`) the group
    is fully replaced (:math:`\alpha_g = 1`) and flagged. Binary outcomes only:
    with censoring before the horizon, generalized rates are not defined here.
    """

    def __init__(self, cost: str = "fnr", *, fp_weight: float | None = None, random_state=None):
        self.cost = cost
        self.fp_weight = fp_weight
        self.random_state = random_state

    def _weights(self):
        if self.cost not in _COSTS:
            raise ValueError(f"cost must be one of {list(_COSTS)}; got {self.cost!r}")
        if self.cost != "weighted":
            if self.fp_weight is not None:
                raise ValueError("fp_weight applies to cost='weighted' only")
            return None
        w = 0.5 if self.fp_weight is None else float(self.fp_weight)
        if not 0 <= w <= 1:
            raise ValueError(f"fp_weight must lie in [0, 1]; got {self.fp_weight}")
        return w

    def _cost(self, gfpr, gfnr, mu, w):
        if self.cost == "fnr":
            return gfnr
        if self.cost == "fpr":
            return gfpr
        return w * (1 - mu) * gfpr + (1 - w) * mu * gfnr

    def fit(self, risk, y, groups):
        """Estimate base rates, generalized rates and the mix rate of each group."""
        w = self._weights()
        yy, r = check_binary_inputs(y, risk)
        cells = _group_cells(groups, len(r))
        stats = {}
        for g in sorted(set(cells)):
            idx = cells == g
            yg, rg = yy[idx], r[idx]
            if yg.sum() == 0 or yg.sum() == len(yg):
                raise NotEstimableError(f"group {g!r} has no event or no non-event: rates undefined")
            mu = float(yg.mean())
            gfpr, gfnr = float(rg[yg == 0].mean()), float(1 - rg[yg == 1].mean())
            stats[g] = (int(idx.sum()), mu, gfpr, gfnr, self._cost(gfpr, gfnr, mu, w),
                        self._cost(mu, 1 - mu, mu, w))
        target = max(s[4] for s in stats.values())
        rows, self.base_rates_, self.mix_rates_ = [], {}, {}
        for g, (n, mu, gfpr, gfnr, c, c_triv) in stats.items():
            reason = ""
            if c >= target:
                a = 0.0
            elif c_triv > c:
                a = (target - c) / (c_triv - c)
                if a > 1:
                    a, reason = 1.0, f"trivial classifier's cost {c_triv:.4g} below the target {target:.4g}"
            else:
                a, reason = 1.0, "mixing with the base rate cannot raise this group's cost"
            if g == UNKNOWN_GROUP:
                reason = "; ".join(x for x in ("unknown: rows with a missing label", reason) if x)
            self.base_rates_[g], self.mix_rates_[g] = mu, a
            rows.append((g, n, mu, gfpr, gfnr, c, a, (1 - a) * c + a * c_triv, bool(reason), reason))
        self.target_cost_ = target
        self.table_ = _frame(rows, EQUALIZED_ODDS_COLUMNS)
        self.unseen_groups_ = ()
        return self

    def transform(self, risk, groups) -> np.ndarray:
        """Replace a random share ``mix_rate`` of each group's risks by its base rate."""
        if not hasattr(self, "mix_rates_"):
            raise ValueError("this CalibratedEqualizedOdds is not fitted yet: call fit first")
        r = np.asarray(risk, dtype=float).copy()
        cells = _group_cells(groups, len(r))
        rng = np.random.default_rng(self.random_state)
        unseen = []
        for g in sorted(set(cells)):
            idx = np.flatnonzero(cells == g)
            if g not in self.mix_rates_:
                unseen.append(g)
                continue
            k = int(round(self.mix_rates_[g] * len(idx)))
            r[rng.permutation(idx)[:k]] = self.base_rates_[g]
        self.unseen_groups_ = tuple(unseen)
        return r

    def fit_transform(self, risk, y, groups) -> np.ndarray:
        return self.fit(risk, y, groups).transform(risk, groups)


@dataclass(frozen=True)
class EqualizedOddsResult:
    """Risks after calibrated equalized odds, the per-group table and the fitted mitigator."""

    risk: np.ndarray = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    mitigator: CalibratedEqualizedOdds = field(repr=False)
    cost: str = "fnr"

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def _repr_html_(self) -> str:
        return f"<p>calibrated equalized odds, cost {self.cost}</p>" + html_table(self.table)


def calibrated_equalized_odds(risk, y, *, groups, cost: str = "fnr", fp_weight: float | None = None,
                              random_state=None) -> EqualizedOddsResult:
    """Fit :class:`CalibratedEqualizedOdds` and apply it to the same rows.

    Returns
    -------
    EqualizedOddsResult
        ``risk`` (post-processed), ``table`` (:data:`EQUALIZED_ODDS_COLUMNS`)
        and ``mitigator`` (for new data: ``mitigator.transform(risk, groups)``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(["a", "b"], 5000)
    >>> r = np.where(g == "a", rng.beta(3, 3, 10000), rng.beta(0.5, 0.5, 10000))  # b: sharper
    >>> y = rng.binomial(1, r)                                   # calibrated in both groups
    >>> res = calibrated_equalized_odds(r, y, groups=g, cost="fnr", random_state=0)
    >>> res.table[["group", "cost_before", "mix_rate", "cost_after"]].round(3).values.tolist()
    [['a', 0.422, 0.0, 0.422], ['b', 0.256, 0.707, 0.422]]
    """
    m = CalibratedEqualizedOdds(cost, fp_weight=fp_weight, random_state=random_state)
    out = m.fit_transform(risk, y, groups)
    return EqualizedOddsResult(risk=out, table=m.table_, mitigator=m, cost=cost)
