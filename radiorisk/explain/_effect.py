"""Effect modification beyond refitting noise: SHAP slopes per group under bootstrap refits."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.base import clone

from ..stats import StratifiedBootstrap
from ._common import ExplainError, check_fraction, check_int, check_seed, html_table
from ._groups import (
    adjust_p_values,
    check_adjust,
    group_labels,
    shap_arrays,
    slopes_from_sums,
    weighted_sums,
)
from ._shap import shap_values
from ._shap_result import ShapResult

__all__ = ["EFFECT_TEST_COLUMNS", "EffectModificationTest", "effect_modification_test"]

#: Columns of :attr:`EffectModificationTest.table`.
EFFECT_TEST_COLUMNS = ("attribute", "group", "reference", "feature", "block", "effect", "effect_reference",
                       "difference", "se", "ci_low", "ci_high", "z", "p_value", "p_adjusted", "flagged")


@dataclass(frozen=True, eq=False)
class EffectModificationTest:
    """Does the model's per-unit effect of a feature differ between groups beyond refitting noise?

    Attributes
    ----------
    table : DataFrame
        One row per non-reference group and feature (:data:`EFFECT_TEST_COLUMNS`):
        the SHAP effect (slope of the feature's SHAP value on its value) in the
        group and in the reference group from the fitted model, their
        ``difference``, its bootstrap standard error over ``n_boot`` refits,
        the percentile CI, the Wald ``z`` and p-value, the adjusted p-value and
        ``flagged`` (``p_adjusted < alpha``).
    attribute : str
    reference : str
    n_boot : int
    n_failed : int
        Refits that failed (left out).
    level, alpha : float
    adjust : str
    scale : str
    random_state : int
    """

    table: pd.DataFrame = field(repr=False)
    attribute: str
    reference: str
    n_boot: int
    n_failed: int
    level: float
    alpha: float
    adjust: str
    scale: str
    random_state: int

    @property
    def flagged(self) -> pd.DataFrame:
        """Rows of :attr:`table` with ``flagged``."""
        return self.table[self.table["flagged"]].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """:attr:`table`."""
        return self.table

    def _repr_html_(self) -> str:
        return html_table(f"Effect modification by {self.attribute}", [
            f"reference group {self.reference!r}; {self.n_boot} bootstrap refits ({self.n_failed} failed); "
            f"{self.adjust}, alpha = {self.alpha:g}", f"scale: {self.scale}"], self.flagged)


def effect_modification_test(model, X, y, groups, *, attribute: str, reference=None, features=None,
                             n_boot: int = 50, level: float = 0.95, alpha: float = 0.05,
                             adjust: str = "fdr_bh", blocks=None, random_state: int = 0
                             ) -> EffectModificationTest:
    """Test whether a model's effect of each feature differs between groups, refitting on resamples.

    :func:`shap_by_subgroup` compares groups under one fitted model: with
    thousands of patients nearly every difference in the model's explanations
    is "beyond chance", including those a refit on another sample would not
    reproduce.  This test asks the sampling question: the effect of a feature
    in a group is the slope of its SHAP value on its value there (the model's
    per-unit effect, whatever the feature's distribution); the difference to
    the reference group is computed for the fitted model and for ``n_boot``
    refits of ``clone(model)`` on bootstrap resamples of ``(X, y)`` (SHAP
    evaluated on ``X``), whose spread gives the standard error.

    Parameters
    ----------
    model : RiskPipeline
        The fitted model (its parameters are reused in every refit).
    X : DataFrame
    y : structured array
        The training data of ``model`` (``CohortData.y``).
    groups : DataFrame, Series or mapping
        Containing ``attribute``, aligned with ``X``.
    attribute : str
    reference : str, optional
        Reference group (default: the largest).
    features : list of str, optional
        Features to test (default: all with a defined effect).
    n_boot : int, default 50
    level : float, default 0.95
        Level of the percentile CI of the difference.
    alpha : float, default 0.05
    adjust : {"fdr_bh", "holm"}
        Over the tested features (and groups).
    blocks : Mapping or CohortData, optional
        Passed to :func:`shap_values`.
    random_state : int, default 0
        Refit ``b`` is fitted on replicate ``b`` of
        :class:`radiorisk.stats.StratifiedBootstrap` with one stratum (patients
        resampled alike; the seeding scheme of :mod:`radiorisk.stats._resample`).

    Returns
    -------
    EffectModificationTest

    Notes
    -----
    The p-value is the Wald test ``z = difference / se`` with the bootstrap
    standard error (continuous p-values, so an adjustment over many features
    is possible with few refits); the percentile CI is reported beside it.

    Examples
    --------
    >>> from radiorisk.datasets import simulate_cohort
    >>> from radiorisk.features import assemble_cohort
    >>> from radiorisk.models import make_model
    >>> data = assemble_cohort(simulate_cohort(400, seed=3))
    >>> cols = ["age_years", "sex_male", "diabetes", "log1p_cac_agatston"]
    >>> model = make_model("coxph", penalizer=0.1).fit(data.X[cols], data.y)
    >>> t = effect_modification_test(model, data.X[cols], data.y, data.groups, attribute="sex", n_boot=5)
    >>> t.reference, t.n_boot, t.table["feature"].tolist()
    ('male', 5, ['age_years', 'sex_male', 'diabetes', 'log1p_cac_agatston'])
    >>> tuple(t.table.columns) == EFFECT_TEST_COLUMNS
    True
    """
    n_boot = check_int("n_boot", n_boot, 2)
    level = check_fraction("level", level)
    alpha = check_fraction("alpha", alpha)
    check_adjust(adjust)
    seed = check_seed(random_state)
    if not isinstance(X, pd.DataFrame):
        raise ExplainError("effect_modification_test: X must be a DataFrame")
    lab_s, ref, order = _groups_in_order(groups, X.index, attribute, reference)
    yy = np.asarray(y)
    res = shap_values(model, X, blocks=blocks, check_additivity=False)
    eff = _group_effects(res, lab_s, order)
    obs = eff[1:] - eff[0]
    boots, failed = _refit_differences(model, X, yy, res.feature_names, lab_s, order, n_boot=n_boot,
                                       blocks=blocks, seed=seed)
    se, lo, hi = _bootstrap_spread(np.stack(boots), level)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = obs / se
    pv = 2 * norm.sf(np.abs(z))
    names = list(res.feature_names)
    keep = _tested_features(names, features)
    rows = []
    for gi, g in enumerate(order[1:]):
        rows.append(pd.DataFrame({
            "attribute": attribute, "group": g, "reference": ref, "feature": names, "block": list(res.blocks),
            "effect": eff[gi + 1], "effect_reference": eff[0], "difference": obs[gi], "se": se[gi],
            "ci_low": lo[gi], "ci_high": hi[gi], "z": z[gi], "p_value": pv[gi]})[keep])
    t = pd.concat(rows, ignore_index=True)
    t["p_adjusted"] = adjust_p_values(t["p_value"].to_numpy(dtype=np.float64), adjust)
    t["flagged"] = np.nan_to_num(t["p_adjusted"].to_numpy(), nan=1.0) < alpha
    return EffectModificationTest(table=t[list(EFFECT_TEST_COLUMNS)], attribute=attribute, reference=ref,
                                  n_boot=len(boots), n_failed=failed, level=level, alpha=alpha, adjust=adjust,
                                  scale=res.scale, random_state=seed)


def _groups_in_order(groups, index: pd.Index, attribute: str, reference):
    """Labels ("" = missing), the reference group (default: the largest) and the groups, reference first."""
    table = group_labels(groups, index)
    if attribute not in table:
        raise ExplainError(f"effect_modification_test: attribute {attribute!r} is not in groups ({list(table)})")
    lab = table[attribute]
    levels, counts = np.unique(lab[np.array([v is not None for v in lab])].astype(str), return_counts=True)
    if len(levels) < 2:
        raise ExplainError(f"effect_modification_test: {attribute!r} has fewer than two groups")
    ref = str(levels[np.argmax(counts)]) if reference is None else str(reference)
    if ref not in levels:
        raise ExplainError(f"reference {reference!r} is not a group of {attribute!r} ({levels.tolist()})")
    order = [ref] + [g for g in levels if g != ref]
    lab_s = np.array(["" if v is None else v for v in lab], dtype=object)
    return lab_s, ref, order


def _group_effects(res: ShapResult, lab: np.ndarray, levels) -> np.ndarray:
    """(k, p) SHAP slopes per group."""
    G = np.vstack([(lab == g).astype(np.float64) for g in levels])
    return slopes_from_sums(*weighted_sums(G, shap_arrays(res)))


def _refit_differences(model, X: pd.DataFrame, yy: np.ndarray, feature_names, lab_s, order, *,
                       n_boot: int, blocks, seed: int) -> tuple[list[np.ndarray], int]:
    """Differences of the group effects to the reference's under ``n_boot`` bootstrap refits.

    Refit ``b`` uses replicate ``b`` of ``StratifiedBootstrap(one stratum, n_boot, seed)``.
    """
    bs = StratifiedBootstrap(np.zeros(len(X)), n_boot, seed)  # patients alike: one stratum
    boots, failed = [], 0
    for b in range(n_boot):
        idx = bs.replicate(b)
        try:
            mb = clone(model).fit(X.iloc[idx], yy[idx])
        except ValueError:
            failed += 1
            continue
        rb = shap_values(mb, X, blocks=blocks, check_additivity=False)
        if rb.feature_names != feature_names:
            failed += 1
            continue
        e = _group_effects(rb, lab_s, order)
        boots.append(e[1:] - e[0])
    if len(boots) < 2:
        raise ExplainError(f"effect_modification_test: only {len(boots)} of {n_boot} refits succeeded")
    return boots, failed


def _bootstrap_spread(B: np.ndarray, level: float):
    """Standard error and percentile CI of the differences over the refits."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.nanstd(B, axis=0, ddof=1)
        q = (1 - level) / 2
        lo, hi = np.nanquantile(B, [q, 1 - q], axis=0)
    return se, lo, hi


def _tested_features(names: list[str], features) -> np.ndarray:
    """Mask of the tested features (all by default); unknown names raise."""
    keep = np.ones(len(names), bool) if features is None else np.isin(names, list(features))
    if features is not None:
        unknown = sorted(set(features) - set(names))
        if unknown:
            raise ExplainError(f"effect_modification_test: unknown features {unknown}")
    return keep
