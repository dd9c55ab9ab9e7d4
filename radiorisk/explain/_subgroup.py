"""SHAP across subgroups under one fitted model: importance and effect per group with bootstrap
CIs, and permutation tests of their differences between groups.

The proxy check is in :mod:`._proxy`, the refitting test of effect modification in :mod:`._effect`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..stats import StratifiedBootstrap, counts_from_indices
from ._common import check_fraction, check_int, check_seed, html_table
from ._effect import EFFECT_TEST_COLUMNS, EffectModificationTest, effect_modification_test
from ._groups import (
    ADJUSTMENTS,
    ShapArrays,
    adjust_p_values,
    check_adjust,
    group_labels,
    shap_arrays,
    slopes_from_sums,
    weighted_sums,
)
from ._proxy import ProxyCheck, proxy_check
from ._shap_result import ShapResult

# ProxyCheck, EffectModificationTest and their functions stay importable from here.
__all__ = ["SubgroupShap", "ProxyCheck", "EffectModificationTest", "shap_by_subgroup", "proxy_check",
           "effect_modification_test", "EFFECT_TEST_COLUMNS", "SUBGROUP_COLUMNS",
           "SUBGROUP_TEST_COLUMNS", "ADJUSTMENTS"]

#: Columns of :attr:`SubgroupShap.by_group`.
SUBGROUP_COLUMNS = ("attribute", "group", "feature", "block", "n", "mean_abs", "mean_abs_ci_low",
                    "mean_abs_ci_high", "effect", "effect_ci_low", "effect_ci_high")
#: Columns of :attr:`SubgroupShap.tests`.
SUBGROUP_TEST_COLUMNS = ("attribute", "feature", "block", "statistic", "observed", "p_value", "p_adjusted",
                         "flagged", "note")

_MSG_ONE_GROUP = ("groups: attribute {name!r} has fewer than two groups with at least {m} patients "
                  "(sizes {sizes}); nothing to compare")


@dataclass(frozen=True, eq=False)
class SubgroupShap:
    """SHAP importance and effect per subgroup, and tests of their differences between groups.

    Attributes
    ----------
    by_group : DataFrame
        One row per attribute, group and feature (:data:`SUBGROUP_COLUMNS`):
        ``mean_abs`` is the mean \\|SHAP\\| in the group and ``effect`` the
        least-squares slope of the feature's SHAP value on its value (for a
        0/1 feature: the mean SHAP of the 1s minus that of the 0s), each with
        a percentile bootstrap CI (patients resampled within the group).
    tests : DataFrame
        One row per attribute, feature and statistic (``importance`` or
        ``effect``; :data:`SUBGROUP_TEST_COLUMNS`): the range of the
        statistic across groups (max - min; the absolute difference for two
        groups), its permutation p-value (group labels shuffled), the
        p-value adjusted (``adjust``) over the features within attribute and
        statistic, and ``flagged`` (``p_adjusted < alpha``).
    n_boot, n_perm : int
    level, alpha : float
    adjust : str
    scale : str
    random_state : int
    notes : tuple of str
    """

    by_group: pd.DataFrame = field(repr=False)
    tests: pd.DataFrame = field(repr=False)
    n_boot: int
    n_perm: int
    level: float
    alpha: float
    adjust: str
    scale: str
    random_state: int
    notes: tuple[str, ...] = ()

    @property
    def flagged(self) -> pd.DataFrame:
        """The rows of :attr:`tests` whose difference between groups is beyond chance."""
        return self.tests[self.tests["flagged"]].reset_index(drop=True)

    def to_frame(self) -> pd.DataFrame:
        """:attr:`by_group` (the long per-group table)."""
        return self.by_group

    def _repr_html_(self) -> str:
        return html_table("SHAP by subgroup", [
            f"{self.n_boot} bootstrap replicates ({self.level:.0%} percentile CIs); "
            f"{self.n_perm} label permutations; {self.adjust} within attribute, alpha = {self.alpha:g}",
            f"scale: {self.scale}", *self.notes], self.flagged)


def shap_by_subgroup(result: ShapResult, groups, *, n_boot: int = 200, n_perm: int = 999,
                     level: float = 0.95, alpha: float = 0.05, adjust: str = "fdr_bh",
                     min_group_size: int = 20, random_state: int = 0) -> SubgroupShap:
    """Mean \\|SHAP\\| and SHAP effect of every feature per group, and which differ between groups.

    Parameters
    ----------
    result : ShapResult
        From :func:`shap_values`.
    groups : DataFrame, Series or mapping
        Protected attributes (e.g. ``CohortData.groups[["sex", "ethnicity"]]``),
        aligned with the result's patients (by index, else by position).
        Missing labels leave the patient out of that attribute.
    n_boot : int, default 200
        Bootstrap replicates for the per-group CIs.
    n_perm : int, default 999
        Label permutations of the difference tests.
    level : float, default 0.95
        CI level.
    alpha : float, default 0.05
        Level of the adjusted p-values.
    adjust : {"fdr_bh", "holm"}, default "fdr_bh"
        Over the features, per attribute and statistic: Benjamini-Hochberg
        (false discovery rate, a screening view) or Holm (family-wise error).
        With ``n_perm`` permutations no p-value is below ``1 / (n_perm + 1)``,
        so Holm over ``p`` features needs ``n_perm > p / alpha``.
    min_group_size : int, default 20
        Groups smaller than this are reported but left out of the tests.
    random_state : int, default 0
        Seed of the bootstrap and the permutations (the seeding scheme of
        :mod:`radiorisk.stats._resample`): for each attribute, replicate ``b``
        is replicate ``b`` of :class:`radiorisk.stats.StratifiedBootstrap` with
        the attribute's groups as strata, and permutation ``b`` draws from
        ``StratifiedBootstrap.permutation_rng(random_state, b)``.

    Returns
    -------
    SubgroupShap

    Notes
    -----
    Two statistics are tested for every feature, each by permuting the group
    labels among the patients of the tested groups (``n_perm`` times; p =
    (1 + #{perm >= observed}) / (1 + n_perm)):

    - *importance*: mean \\|SHAP\\| per group.  It differs when the feature
      matters more in one group, but also when its values are distributed
      differently (a group with less plaque has smaller plaque SHAP values).
    - *effect*: the slope of the SHAP value on the feature value within the
      group - the model's per-unit effect, which does not depend on how common
      the feature is.  A difference is effect modification as learned by the
      model (e.g. high-risk plaque weighing more in women).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from radiorisk.explain import ShapResult
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.choice(["female", "male"], 400)
    >>> x = rng.integers(0, 2, 400).astype(float)
    >>> v = np.column_stack([x * np.where(sex == "female", 1.0, 0.3), rng.normal(0, 0.1, 400)])
    >>> res = ShapResult(values=v, base_value=0.0, data=pd.DataFrame({"hrp": x, "age": rng.normal(size=400)}),
    ...                  feature_names=("hrp", "age"), blocks=("ccta", "clinical"), scale="log-hazard",
    ...                  model_kind="other", method="given", background="-")
    >>> sub = shap_by_subgroup(res, {"sex": sex}, n_boot=50, n_perm=99)
    >>> sub.flagged[["feature", "statistic"]].values.tolist()
    [['hrp', 'importance'], ['hrp', 'effect']]
    """
    n_boot = check_int("n_boot", n_boot, 1)
    n_perm = check_int("n_perm", n_perm, 1)
    min_group_size = check_int("min_group_size", min_group_size, 2)
    level = check_fraction("level", level)
    alpha = check_fraction("alpha", alpha)
    check_adjust(adjust)
    seed = check_seed(random_state)
    table = group_labels(groups, result.index)
    arr = shap_arrays(result)
    q = (1 - level) / 2
    rows, tests, notes = [], [], []
    for attr, lab in table.items():
        labels = sorted({x for x in lab if x is not None})
        sizes = {g: int(np.sum(lab == g)) for g in labels}
        tested = [g for g in labels if sizes[g] >= min_group_size]
        small = [g for g in labels if sizes[g] < min_group_size]
        if small:
            notes.append(f"{attr}: group(s) {small} have fewer than {min_group_size} patients; "
                         "reported, not tested")
        boot = _group_replicates(arr, lab, labels, n_boot=n_boot, seed=seed)
        for g in labels:
            rows.append(_group_rows(result, arr.rows(np.flatnonzero(lab == g)), attr, g, *boot[g], q=q))
        if len(tested) < 2:
            notes.append(_MSG_ONE_GROUP.format(name=attr, m=min_group_size, sizes=sizes))
            continue
        tests.extend(_difference_tests(result, arr, attr, lab, tested, n_perm=n_perm, adjust=adjust,
                                       alpha=alpha, seed=seed))
    by_group = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=SUBGROUP_COLUMNS)
    tst = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame(columns=SUBGROUP_TEST_COLUMNS)
    return SubgroupShap(by_group=by_group[list(SUBGROUP_COLUMNS)], tests=tst[list(SUBGROUP_TEST_COLUMNS)],
                        n_boot=n_boot, n_perm=n_perm, level=level, alpha=alpha, adjust=adjust,
                        scale=result.scale,
                        random_state=seed, notes=tuple(notes))


_NOTE_NOT_ESTIMABLE = "not estimable: feature constant, missing or categorical within a group"


def _group_replicates(arr: ShapArrays, lab: np.ndarray, labels: list[str], *, n_boot: int,
                      seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Bootstrap mean |SHAP| and SHAP slopes of every group: ``{group: ((n_boot, p), (n_boot, p))}``.

    Replicate ``b`` is replicate ``b`` of ``StratifiedBootstrap(lab, n_boot, seed)`` (patients
    resampled within their group; a missing label is a stratum of its own, never reported).
    """
    n, p = arr.A.shape
    code = {g: k + 1 for k, g in enumerate(labels)}
    strata = np.array([0 if x is None else code[x] for x in lab], dtype=np.int64)
    rows = {g: np.flatnonzero(strata == code[g]) for g in labels}
    sub = {g: arr.rows(rows[g]) for g in labels}
    out = {g: (np.empty((n_boot, p)), np.empty((n_boot, p))) for g in labels}
    block = int(np.clip(2_000_000 // max(n, 1), 4, 256))
    for reps, idx in StratifiedBootstrap(strata, n_boot, seed).blocks(block):
        W = counts_from_indices(idx, n)
        for g in labels:
            a, Wg = sub[g], W[rows[g]].T
            out[g][0][reps.start:reps.stop] = Wg @ a.A / len(rows[g])
            out[g][1][reps.start:reps.stop] = slopes_from_sums(*weighted_sums(Wg, a))
    return out


def _group_rows(result: ShapResult, a: ShapArrays, attr: str, g: str, bmabs: np.ndarray,
                beff: np.ndarray, *, q: float) -> pd.DataFrame:
    """Mean |SHAP| and SHAP effect of every feature in one group, with percentile CIs over the
    bootstrap replicates ``bmabs`` and ``beff`` (each (n_boot, p))."""
    ng = a.V.shape[0]
    p = a.V.shape[1]
    mabs = a.A.mean(axis=0)
    eff = slopes_from_sums(*weighted_sums(np.ones((1, ng)), a))[0]
    elo, ehi = np.full(p, np.nan), np.full(p, np.nan)
    good = ~np.isnan(eff)
    if good.any():
        with warnings.catch_warnings():  # a replicate may hold a constant feature
            warnings.simplefilter("ignore", RuntimeWarning)
            elo[good], ehi[good] = np.nanquantile(beff[:, good], [q, 1 - q], axis=0)
    lo, hi = np.quantile(bmabs, [q, 1 - q], axis=0)
    return pd.DataFrame({
        "attribute": attr, "group": g, "feature": list(result.feature_names), "block": list(result.blocks),
        "n": ng, "mean_abs": mabs, "mean_abs_ci_low": lo, "mean_abs_ci_high": hi,
        "effect": eff, "effect_ci_low": np.where(np.isnan(eff), np.nan, elo),
        "effect_ci_high": np.where(np.isnan(eff), np.nan, ehi)})


def _difference_tests(result: ShapResult, arr: ShapArrays, attr: str, lab: np.ndarray, tested: list[str],
                      *, n_perm: int, adjust: str, alpha: float, seed: int) -> list[pd.DataFrame]:
    """Permutation tests of the importance and effect ranges across the ``tested`` groups."""
    keep = np.flatnonzero(np.isin(lab, tested) & np.array([x is not None for x in lab]))
    codes = np.searchsorted(np.asarray(tested, dtype=object), lab[keep].astype(str))
    obs_i, obs_e, null_i, null_e = _permutation(codes, len(tested), arr.rows(keep), n_perm, seed)
    out = []
    for stat, obs, null in (("importance", obs_i, null_i), ("effect", obs_e, null_e)):
        with np.errstate(invalid="ignore"):
            pv = (1.0 + np.sum(null >= obs[None, :] - 1e-12, axis=0)) / (1.0 + n_perm)
        pv = np.where(np.isnan(obs), np.nan, pv)
        ph = adjust_p_values(pv, adjust)
        note = np.where(np.isnan(obs), _NOTE_NOT_ESTIMABLE, "")
        out.append(pd.DataFrame({
            "attribute": attr, "feature": list(result.feature_names), "block": list(result.blocks),
            "statistic": stat, "observed": obs, "p_value": pv, "p_adjusted": ph,
            "flagged": np.nan_to_num(ph, nan=1.0) < alpha, "note": note}))
    return out


def _permutation(codes, k, a: ShapArrays, n_perm, seed: int):
    """Observed and permuted ranges across groups of mean |SHAP| and of the SHAP slopes.

    Permutation ``b`` shuffles the labels with ``StratifiedBootstrap.permutation_rng(seed, b)``.
    """

    def stats(c):
        G = np.zeros((k, c.size))
        G[c, np.arange(c.size)] = 1.0
        cnt = G.sum(axis=1)[:, None]
        m = (G @ a.A) / cnt
        s = slopes_from_sums(*weighted_sums(G, a))
        with np.errstate(invalid="ignore"):
            rs = np.max(s, axis=0) - np.min(s, axis=0)
        return np.ptp(m, axis=0), rs

    oi, oe = stats(codes)
    ni = np.empty((n_perm, a.A.shape[1]))
    ne = np.empty((n_perm, a.A.shape[1]))
    for b in range(n_perm):
        ni[b], ne[b] = stats(StratifiedBootstrap.permutation_rng(seed, b).permutation(codes))
    return oi, oe, ni, ne
